/*
 * libmeter — reliable mode: a durable spool, a background sender, hourly
 * aggregation and crash recovery.
 *
 * meter_send() is synchronous: if the process dies or the marketplace is down
 * for an hour, the caller must keep the records and resend them itself. A
 * spool does that for you:
 *
 *   meter_spool_options so = METER_SPOOL_OPTIONS_INIT;
 *   so.path = "/var/lib/myapp/usage.spool";
 *   meter_spool *sp; meter_error e;
 *   if (meter_spool_open(&sp, client, &so, &e) != METER_OK) { ... e.message ... }
 *   ...
 *   if (meter_submit(sp, record, &e) != METER_OK) { ... e.message ... }
 *   ...
 *   meter_close(sp, 10000, 0);   // sends what it can in 10 s; the rest stays spooled
 *
 * meter_submit() returns once the record is durably stored (a SQLite file in
 * WAL mode, see docs/reliable-delivery.md for what "durable" means) and never
 * waits for the network. A background thread sorts stored records (a record
 * whose idempotency key the spool already holds is dropped), batches them to the
 * marketplace's limits, sums them per customer, dimension and hour where the
 * marketplace takes one report per hour (AWS, Tackle PUT), sends hours once
 * they have closed, retries with backoff, and records each outcome. After a
 * crash, opening the same spool again resumes where the last process stopped:
 * records are resent with the same idempotency keys (and, for AppDirect, in
 * the same requests), so each unit of usage reaches the marketplace once.
 * Records the marketplace refuses, or that can no longer be sent, become dead
 * letters with the reason: never dropped silently.
 *
 * Threads: every function may be called from any thread concurrently, except
 * meter_close (no other call on that spool may be running or start).
 * Processes: several processes may open one spool file; one of them at a
 * time runs the sender, the others submit (and take over if it exits).
 * fork(): a spool is not inherited. In the child every call on a spool opened
 * by the parent fails with METER_ECLOSED, except meter_close, which only
 * releases the child's memory; the child may open the spool file itself.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef METER_RELIABLE_H
#define METER_RELIABLE_H

#include "common.h"
#include "client.h"
#include "errors.h"
#include "record.h"

METER_BEGIN_DECL

typedef struct meter_spool meter_spool;

/* One entry of a spool: a record, or an hourly aggregate of records. Only
 * ever borrowed: valid during the callback that receives it. */
typedef struct meter_spool_item meter_spool_item;

/* ---- states and kinds ---------------------------------------------------- */

/* Where an entry is in its life. Values are part of the ABI. */
typedef enum meter_spool_state {
  METER_SPOOL_RECEIVED = 6,   /* stored by meter_submit, not yet sorted into a
                                 request or an hour by the sender (duplicates
                                 and late records are found then) */
  METER_SPOOL_OPEN = 1,       /* an aggregate still collecting: its hour (plus
                                 the grace) has not closed yet */
  METER_SPOOL_PENDING = 2,    /* waiting to be sent, possibly after a backoff */
  METER_SPOOL_SENDING = 3,    /* claimed by a sender; in flight */
  METER_SPOOL_DELIVERED = 4,  /* the marketplace has it (accepted or duplicate) */
  METER_SPOOL_DEAD = 5        /* a dead letter: refused, past the marketplace's
                                 window, or late for an hour already reported */
} meter_spool_state;

/* A mask of states for meter_spool_list / meter_spool_export; 0 means all. */
#define METER_SPOOL_STATE_MASK(state) (1u << (unsigned)(state))

typedef enum meter_spool_kind {
  METER_SPOOL_RECORD = 1,     /* one submitted record, sent as is */
  METER_SPOOL_AGGREGATE = 2,  /* the sum of the records of one key and hour */
  METER_SPOOL_LATE = 3        /* a record that arrived for an hour already
                                 reported (a dead letter; see late_policy) */
} meter_spool_kind;

/* ---- policies ------------------------------------------------------------ */

/* What meter_submit does when the spool is full (max_records / max_bytes). */
typedef enum meter_spool_full_policy {
  METER_SPOOL_FULL_FAIL = 0,  /* default: return METER_EFULL at once */
  METER_SPOOL_FULL_WAIT = 1   /* wait up to full_wait_ms for the sender to make
                                 room, then METER_EFULL */
} meter_spool_full_policy;

/* What "durably stored" means when meter_submit returns. */
typedef enum meter_spool_durability {
  METER_SPOOL_SYNC_FULL = 0,    /* default: fsync'ed (SQLite WAL, synchronous=FULL):
                                   survives a power loss or a kernel crash */
  METER_SPOOL_SYNC_PROCESS = 1  /* written to the operating system, not fsync'ed
                                   (synchronous=NORMAL): survives the death of the
                                   process (kill -9, a crash), not a power loss;
                                   an order of magnitude faster */
} meter_spool_durability;

/* A record that arrives for an hour whose aggregate was already reported
 * (sealed when its hour closed, or early by METER_FLUSH_OPEN_HOURS). */
typedef enum meter_spool_late_policy {
  METER_SPOOL_LATE_AUTO = 0,        /* default: where the marketplace lets a report
                                       be replaced before it processes it (Tackle
                                       PUT), send the new total; elsewhere (AWS)
                                       keep it as a dead letter */
  METER_SPOOL_LATE_DEAD_LETTER = 1, /* always a dead letter */
  METER_SPOOL_LATE_NEXT_HOUR = 2    /* add it to the next hour still open for the
                                       same key: every unit is billed, in a later
                                       hour than it was used */
} meter_spool_late_policy;

/* ---- callbacks ----------------------------------------------------------- */

/*
 * Told about each send outcome, after it is durably recorded, on the sender's
 * thread (keep it short; do not call meter_close from it); also about records
 * that became dead letters when sorted (late for their hour), on the thread
 * that sorted them (the sender's, or one listing the spool). `state` is what
 * happens next: METER_SPOOL_DELIVERED, METER_SPOOL_DEAD, or
 * METER_SPOOL_PENDING (a transient failure: it will be resent with the same
 * idempotency key). `outcome` is the marketplace's answer. Notifications are
 * best effort: a crash between recording and calling loses the call, never
 * the outcome (see meter_spool_list).
 */
typedef void METER_CALLBACK(meter_spool_outcome_fn)(const meter_spool_item *item,
                                                    meter_spool_state state,
                                                    meter_outcome outcome, void *payload);

/* Receives entries from meter_spool_list; return non-zero to stop early. */
typedef int METER_CALLBACK(meter_spool_item_fn)(const meter_spool_item *item, void *payload);

/* Receives meter_spool_export output: one JSON line ending with '\n' per call.
 * Return non-zero to stop early. */
typedef int METER_CALLBACK(meter_spool_write_fn)(const char *data, size_t length,
                                                 void *payload);

/* ---- options ------------------------------------------------------------- */

/* Version 2 added fallback_path and lease_ms; a caller built against
 * version 1 (without them) keeps working. */
#define METER_SPOOL_OPTIONS_VERSION 2

/*
 * How to open a spool. Start from METER_SPOOL_OPTIONS_INIT (or
 * meter_spool_options_init): zero always means "the default". Strings are
 * copied; the struct may be freed after meter_spool_open returns.
 */
typedef struct meter_spool_options {
  unsigned int version;        /* METER_SPOOL_OPTIONS_VERSION */

  const char *path;            /* the spool file (required); created if absent,
                                  with PATH-wal, PATH-shm and PATH-sender next to it.
                                  Or a PostgreSQL URL (postgresql://... or
                                  postgres://..., "?spool=NAME" for a named spool):
                                  the fleet store shared by many replicas, see
                                  docs/fleet.md */
  int no_sender;               /* 1: do not start the background sender (a
                                  submit-only process); meter_flush still sends,
                                  on the caller's thread */
  int durability;              /* meter_spool_durability; default SYNC_FULL */

  /* Bounds on what is not yet delivered (dead letters included). */
  uint64_t max_records;        /* default 10,000,000 records */
  uint64_t max_bytes;          /* default 2 GiB (approximate stored size) */
  int full_policy;             /* meter_spool_full_policy; default FULL_FAIL */
  long full_wait_ms;           /* FULL_WAIT: longest wait; default 5000 */

  /* Hourly aggregation (where the back end asks for it). */
  long aggregation_grace_ms;   /* an hour is sent this long after it closes, for
                                  records that arrive a little late; default
                                  300,000 (5 min); < 0: no grace */
  int late_policy;             /* meter_spool_late_policy; default LATE_AUTO */

  /* The sender. */
  long backoff_base_ms;        /* wait after a failed request, doubled per
                                  consecutive failure, with jitter; default 1000 */
  long backoff_max_ms;         /* cap of that wait; default 300,000 (5 min) */
  long poll_interval_ms;       /* how often an idle sender looks for records
                                  submitted by other processes; default 1000 */
  long dead_after_ms;          /* entries not delivered after this long become
                                  dead letters; default 0: never (only the
                                  marketplace's own window applies) */
  long keep_delivered_ms;      /* delivered entries are kept this long (so a
                                  resubmitted idempotency key is recognised, and
                                  for inspection); default 86,400,000 (24 h) */

  meter_spool_outcome_fn on_outcome;   /* optional */
  void *on_outcome_payload;

  /* Version 2. Fleet (PostgreSQL) spools only. */
  const char *fallback_path;   /* a local SQLite file where records wait when the
                                  database cannot be reached at submit time (then
                                  meter_submit still returns METER_OK); the sender
                                  forwards them once it is back. NULL (default):
                                  meter_submit fails with METER_ESTORE instead */
  long lease_ms;               /* how long a sender's claim on a batch lasts: a
                                  replica that dies mid-send leaves its batch to
                                  the others after this; default twice the client's
                                  deadline plus a minute; never less than the
                                  client's deadline plus a second */
} meter_spool_options;

#define METER_SPOOL_OPTIONS_INIT { METER_SPOOL_OPTIONS_VERSION, NULL, 0, 0, 0, 0, 0, 0, 0, 0, \
                                   0, 0, 0, 0, 0, NULL, NULL, NULL, 0 }

/* Fills `opts` with defaults for callers that cannot use the macro (FFI);
 * `version` is the caller's METER_SPOOL_OPTIONS_VERSION (1 or 2): only the
 * fields of that version are written. */
METER_EXTERN(int) meter_spool_options_init(meter_spool_options *opts, unsigned int version);

/* ---- open, submit, flush, close ------------------------------------------ */

/*
 * Opens (creating if needed) the spool at opts->path for `client`, recovers
 * what an earlier process left in flight, and starts the background sender
 * unless opts->no_sender. The client must outlive the spool; it may be used
 * for other calls meanwhile. A spool belongs to one back end: opening it with
 * a client of another back end fails with METER_ECONFIG.
 *
 * `client` may be NULL to inspect a spool without credentials (stats, list,
 * export, retry_dead): then nothing is sent and meter_submit fails.
 *
 * On failure *out is NULL and `err` (optional) says why.
 */
METER_EXTERN(int) meter_spool_open(meter_spool **out, meter_client *client,
                                   const meter_spool_options *opts, meter_error *err);

/*
 * Validates `record` with the back end's rules and stores a copy durably.
 * Returns once it is stored; never waits for the network. Concurrent callers
 * share one transaction and one fsync (group commit).
 *
 * Submitting a record again with the same idempotency key (say, after a
 * crash, when you cannot tell whether the first call returned) is safe: the
 * sender keeps one. Records that cannot join their hour (late for an hour
 * already reported, see late_policy) become dead letters when the sender
 * sorts them: on_outcome and meter_spool_list report them, with the reason.
 *
 * METER_OK         stored
 * METER_EINVAL     the record is invalid; `err` names the field and the rule
 * METER_EFULL      the spool is full (after full_wait_ms with FULL_WAIT)
 * METER_ESTORE     the spool file could not be written (disk full, I/O error),
 *                  or a fleet spool's PostgreSQL server could not be reached
 *                  (the message names it) and no fallback_path is set
 * METER_ECLOSED    the spool is closing, or was opened by a parent process
 *
 * `err` (optional) receives the detail. The record stays the caller's.
 */
METER_EXTERN(int) meter_submit(meter_spool *spool, const meter_record *record, meter_error *err);

/*
 * As meter_submit for `count` records, all or nothing: if one is invalid (or
 * the batch does not fit) none is stored and `err` names the record by index
 * ("record 3: customer: required"). One transaction, one fsync: the fastest
 * way to spool many records from one thread.
 */
METER_EXTERN(int) meter_submit_batch(meter_spool *spool, meter_record *const *records,
                                     size_t count, meter_error *err);

/* meter_flush / meter_close flags. */
#define METER_FLUSH_OPEN_HOURS 1u  /* also report hours that have not closed yet:
                                      their aggregates are sealed now, and records
                                      that arrive later for those hours are late
                                      (see late_policy). For a process that stops;
                                      not for periodic use. */

/*
 * Sends everything that is due now and waits until nothing sendable is left
 * (every entry delivered, dead, or an aggregate whose hour is still open), or
 * until `deadline_ms` has passed (< 0: no limit; 0: do not wait). Entries in
 * backoff are made due at once. With the background sender running, this
 * waits for it; without one (no_sender), the caller's thread sends. If another
 * process holds the sender role, this waits for that process's progress.
 *
 * METER_OK when nothing sendable is left; METER_ETIMEOUT if the deadline
 * passed first (the rest stays spooled; meter_spool_last_error and
 * meter_spool_stats say why, e.g. the marketplace is down); METER_ECLOSED,
 * METER_ESTORE; METER_EINVAL for a spool opened without a client.
 */
METER_EXTERN(int) meter_flush(meter_spool *spool, long deadline_ms, unsigned int flags);

/*
 * Stops accepting records, flushes as meter_flush does within `deadline_ms`
 * (0: stop at once), stops the sender and frees the spool. A request in
 * flight when the deadline passes is abandoned (its records are resent later
 * with the same keys); one HTTP request may overrun the deadline by up to the
 * client's request timeout. Whatever was not sent stays in the spool file for
 * the next process. Returns what the flush returned; the spool is freed in
 * every case. NULL is ignored.
 */
METER_EXTERN(int) meter_close(meter_spool *spool, long deadline_ms, unsigned int flags);

/* ---- status -------------------------------------------------------------- */

#define METER_SPOOL_STATS_VERSION 1

/* A snapshot of a spool. The caller sets `version`; the library fills the
 * fields that version defines. Counts come from the spool file, so they
 * include the work of other processes; "this process" counters do not.
 * Cheap enough to poll: nothing is sorted or sent by it. */
typedef struct meter_spool_stats {
  unsigned int version;              /* METER_SPOOL_STATS_VERSION */

  uint64_t records_waiting;          /* submitted records not yet delivered
                                        (dead letters included) */
  uint64_t bytes_waiting;            /* their approximate stored size */
  uint64_t received;                 /* records stored, not yet sorted */
  uint64_t open;                     /* aggregates whose hour is still open */
  uint64_t pending;                  /* entries waiting to be sent */
  uint64_t sending;                  /* entries in flight */
  uint64_t dead;                     /* dead letters */
  uint64_t records_dead;             /* records in them */
  uint64_t delivered;                /* delivered entries still kept */
  int64_t oldest_waiting_us;         /* submission time of the oldest entry not
                                        yet delivered (Unix µs; 0 if none) */

  /* This process. */
  uint64_t submitted;                /* records stored by meter_submit* */
  uint64_t requests;                 /* requests sent by this process's sender */
  uint64_t requests_failed;          /* of which failed (transient or fatal) */
  int sender;                        /* 1 if this process is the spool's sender */
  int last_status;                   /* status of the last failed request, or 0 */
  char last_message[METER_ERROR_MESSAGE_SIZE]; /* its reason (never a secret) */
} meter_spool_stats;

#define METER_SPOOL_STATS_INIT { METER_SPOOL_STATS_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, \
                                 0, 0, 0, 0, 0, { 0 } }

/* Fills `stats` (whose version the caller set). */
METER_EXTERN(int) meter_spool_stats_get(meter_spool *spool, meter_spool_stats *stats);

/* Copies the detail of the spool's most recent error (any thread) into buf,
 * truncated to size; returns its status (METER_OK if none). */
METER_EXTERN(int) meter_spool_last_error(meter_spool *spool, char *buf, size_t size);

/* ---- inspection ---------------------------------------------------------- */

/*
 * Calls `fn` for each entry whose state is in `state_mask` (0: all): records
 * still RECEIVED first (their ids are negative), then the others, oldest
 * first. Reads a snapshot: submits and sends continue meanwhile.
 */
METER_EXTERN(int) meter_spool_list(meter_spool *spool, unsigned int state_mask,
                                   meter_spool_item_fn fn, void *payload);

/*
 * Writes each entry whose state is in `state_mask` (0: all) as one JSON line:
 * {"id":..,"kind":"aggregate","state":"dead","idempotency_key":"..",
 *  "records":3,"attempts":2,"error_code":"..","message":"..","record":{...}}
 * where "record" holds the fields as sent (the names of meter_field_name).
 */
METER_EXTERN(int) meter_spool_export(meter_spool *spool, unsigned int state_mask,
                                     meter_spool_write_fn fn, void *payload);

/*
 * Requeues dead letters: the one whose idempotency key is `idempotency_key`,
 * or all of them if it is NULL. A requeued late record goes through
 * aggregation again (so with METER_SPOOL_LATE_NEXT_HOUR set now, it joins the
 * next open hour). `requeued` (optional) receives how many were requeued.
 * METER_ENOTFOUND if a given key is not a dead letter.
 */
METER_EXTERN(int) meter_spool_retry_dead(meter_spool *spool, const char *idempotency_key,
                                         size_t *requeued);

/* ---- entries ------------------------------------------------------------- */

METER_EXTERN(int64_t) meter_spool_item_id(const meter_spool_item *item);
METER_EXTERN(meter_spool_kind) meter_spool_item_kind(const meter_spool_item *item);
METER_EXTERN(meter_spool_state) meter_spool_item_state(const meter_spool_item *item);
/* The idempotency key it is sent with (an aggregate's is derived from its key
 * and hour, so every resend carries the same one). */
METER_EXTERN(const char *) meter_spool_item_idempotency_key(const meter_spool_item *item);
/* How many submitted records it holds (1 unless an aggregate). */
METER_EXTERN(uint64_t) meter_spool_item_records(const meter_spool_item *item);
/* The usage time (an aggregate's: the start of its hour), Unix µs. */
METER_EXTERN(int64_t) meter_spool_item_time_us(const meter_spool_item *item);
/* When its first record was submitted, Unix µs. */
METER_EXTERN(int64_t) meter_spool_item_submitted_us(const meter_spool_item *item);
METER_EXTERN(unsigned int) meter_spool_item_attempts(const meter_spool_item *item);
/* The last outcome (METER_OUTCOME_PENDING if never sent). */
METER_EXTERN(meter_outcome) meter_spool_item_outcome(const meter_spool_item *item);
/* The marketplace's error code, or NULL. */
METER_EXTERN(const char *) meter_spool_item_error_code(const meter_spool_item *item);
/* Why it is dead, or why the last attempt failed; NULL if nothing to say. */
METER_EXTERN(const char *) meter_spool_item_message(const meter_spool_item *item);
/* The marketplace's record id once delivered, or NULL. */
METER_EXTERN(const char *) meter_spool_item_record_id(const meter_spool_item *item);
/* Its export line (see meter_spool_export), without the newline. */
METER_EXTERN(const char *) meter_spool_item_json(const meter_spool_item *item);
/* A new record holding what is (or would be) sent: for an aggregate, the
 * summed quantity, the start of the hour and the merged allocations. The
 * caller frees it with meter_record_free. */
METER_EXTERN(int) meter_spool_item_record(const meter_spool_item *item, meter_record **out);

METER_END_DECL

#endif /* METER_RELIABLE_H */
