/* The spool's storage, behind a table of functions so that another store (a
 * shared PostgreSQL database serving a fleet of replicas) can replace SQLite
 * without touching the submit path or the sender.
 *
 * Two stages. Submitting appends to an inbox: append-only, no index, so a
 * commit writes a few sequential pages and group commit reaches hundreds of
 * thousands of records per second. The sender then ingests the inbox in
 * large transactions into "units", the things it sends: it drops records
 * whose idempotency key the spool already holds, sums aggregated records
 * into their hour, and sorts out the late ones. (Doing that on the submit
 * path costs a random B-tree page per record — the unique index on random
 * keys — and caps a spool at ~30,000 records/s on a common disk.)
 *
 * A unit is either one submitted record (kind RECORD), or the running sum of
 * the records of one aggregation key and hour (kind AGGREGATE; the records
 * themselves are kept as "contributions": idempotency key, quantity, time),
 * or a record that could not join its hour, kept as a dead letter (LATE).
 *
 * Every operation is one transaction: it happens entirely or not at all, and
 * once it returns METER_OK it survives a crash (to the durability the store
 * was opened with).
 *
 * Claims and leases. A sender claims a batch: the store picks the units,
 * persists the batch (its id, members and their order) and marks it leased
 * to the sender's owner id until a time. The batch keeps its membership until
 * every member has a final outcome, so a resend after a crash or a transient
 * failure sends the same request (AppDirect derives its request key from the
 * composition). A batch whose lease has expired is an orphan: the next claim
 * by any sender recovers it first. A store that guarantees a single sender
 * (acquire_sender: SQLite holds a lock file, released by the kernel when the
 * process dies) treats every batch not leased by the caller as orphaned, so
 * recovery after kill -9 is immediate. A shared store (PostgreSQL) lets
 * several senders claim concurrently (SELECT ... FOR UPDATE SKIP LOCKED) and
 * relies on the lease alone; senders renew nothing, so the lease must exceed
 * one send (the client's deadline). Ingest there is one sender's job at a
 * time (an advisory lock), like the SQLite sender lock.
 */
#ifndef MTR_STORE_H
#define MTR_STORE_H

#include "meter/client.h"
#include "meter/errors.h"
#include "meter/reliable.h"

#include <stddef.h>
#include <stdint.h>

typedef struct mtr_store mtr_store;
typedef struct mtr_unit mtr_unit;

/* What one aggregated record costs against max_bytes once sorted (its
 * contribution row), roughly. */
#define MTR_CONTRIBUTION_BYTES 64

/* Unit flags, from the back end's aggregation rule. */
#define MTR_UNIT_AGGREGATE 1u     /* summed per key and hour */
#define MTR_UNIT_REPLACES 2u      /* a later report of the same key and hour
                                     replaces the earlier (Tackle PUT): late
                                     records make a revision with the new total */
#define MTR_UNIT_RESEND_UNSAFE 4u /* a request that may have been applied must
                                     not be resent (Tackle POST): dead letter */

/* How the store was opened; strings are borrowed for the call. */
typedef struct mtr_store_config {
  const char *path;
  const char *backend;      /* name of the back end; a spool serves one */
  int durability;           /* meter_spool_durability */
  int64_t grace_us;         /* an aggregate is due at hour end + grace */
  int late_policy;          /* meter_spool_late_policy */
  int read_only_ok;         /* inspection without a back end (backend NULL) */
  const char *fallback_path; /* PostgreSQL: local SQLite file for submits while
                               the database is unreachable (NULL: none) */
  struct mtr_logger *log;   /* the client's (NULL when inspecting) */
} mtr_store_config;

/* One record to append (see append and ingest). */
typedef struct mtr_store_input {
  const char *ikey;         /* idempotency key */
  const char *body;         /* the record as JSON (record_codec.h); for an
                               aggregate the first record's is its template */
  const char *batch_key;    /* units with equal keys may share a request */
  uint32_t batch_limit;     /* ... at most this many */
  int64_t time_us;          /* usage time */
  int64_t window_us;        /* the marketplace refuses usage older (0: none) */
  unsigned flags;           /* MTR_UNIT_* */
  const char *agg_key;      /* AGGREGATE: the key within the hour */
  int64_t quantity;         /* AGGREGATE: whole units */
  const char *allocs;       /* AGGREGATE: canonical allocations (aggregate.h)
                               or NULL */
  uint64_t bytes;           /* what it costs against max_bytes while waiting */
  int64_t submitted_us;     /* set by append */
} mtr_store_input;

/* What one ingest did. */
typedef struct mtr_ingest_result {
  size_t moved;             /* inbox records handled */
  size_t duplicates;        /* of which dropped: their key was already held */
  uint64_t freed_bytes;     /* inbox bytes released minus unit bytes added */
  mtr_unit *dead;           /* new dead letters (late, inconsistent), to
                               report; free with mtr_units_free */
  size_t ndead;
} mtr_ingest_result;

/* A unit as a sender (or an inspection) sees it. Strings owned by the store's
 * result; freed with mtr_store_units_free / mtr_claim_dispose. */
struct mtr_unit {
  int64_t id;
  int kind;                 /* meter_spool_kind */
  int state;                /* meter_spool_state */
  unsigned flags;
  char *ikey;               /* as stored; aggregates send mtr_agg_ikey(.., revision) */
  char *body;
  char *agg_key;
  int64_t time_us;
  int64_t window_us;
  int64_t quantity;         /* AGGREGATE: current total */
  int64_t sent_quantity;    /* AGGREGATE with REPLACES: total already delivered */
  char *allocs;
  int revision;
  uint64_t nrecords;
  uint64_t bytes;
  int64_t submitted_us;
  int64_t ready_us;
  unsigned attempts;
  int outcome;              /* meter_outcome of the last attempt */
  char *error_code;
  char *message;
  char *record_id;
};

/* A claimed batch. */
typedef struct mtr_claim {
  int64_t batch_id;         /* 0: nothing to send */
  int recovered;            /* 1: it was in flight in an earlier claim */
  mtr_unit *units;          /* in the batch's order */
  size_t count;
} mtr_claim;

typedef struct mtr_claim_params {
  const char *owner;        /* the sender's id */
  int64_t now_us;
  int64_t lease_us;
  size_t max_units;         /* upper bound on any batch limit */
} mtr_claim_params;

/* What became of one unit of a claimed batch (same order as the claim). */
typedef enum mtr_unit_verdict {
  MTR_UNIT_DELIVERED,       /* accepted or duplicate */
  MTR_UNIT_RETRY,           /* transient: pending again from retry_at_us */
  MTR_UNIT_DEAD,            /* final: refused, past the window, ... */
  MTR_UNIT_CONFLICT         /* REPLACES aggregate refused because the marketplace
                               already processed the hour: what was delivered
                               stands, the rest becomes a LATE dead letter */
} mtr_unit_verdict;

typedef struct mtr_unit_result {
  mtr_unit_verdict verdict;
  int outcome;              /* meter_outcome */
  int64_t retry_at_us;      /* RETRY */
  const char *error_code;   /* may be NULL */
  const char *message;      /* may be NULL */
  const char *record_id;    /* may be NULL */
} mtr_unit_result;

/* Totals over the units of the store (meter_spool_stats's shared part). */
typedef struct mtr_store_counts {
  uint64_t records_waiting, bytes_waiting;
  uint64_t received, open, pending, sending, dead, records_dead, delivered;
  int64_t oldest_waiting_us;
} mtr_store_counts;

/* Receives units one by one (inspection); non-zero stops. */
typedef int (*mtr_unit_fn)(const mtr_unit *unit, void *payload);

typedef struct mtr_store_ops {
  const char *name;

  int (*open)(mtr_store **out, const mtr_store_config *cfg, meter_error *err);
  void (*close)(mtr_store *st);
  /* In a forked child: free the memory, touch no file or lock of the parent. */
  void (*abandon)(mtr_store *st);

  /* The back end the spool belongs to (recorded when it was created); NULL
   * for a spool that never held a record. */
  const char *(*backend)(mtr_store *st);

  /* Tries to become the spool's sender (non-blocking). *acquired = 1 if this
   * store handle is (or already was) the sender. Shared stores always say 1. */
  int (*acquire_sender)(mtr_store *st, int *acquired, meter_error *err);
  void (*release_sender)(mtr_store *st);

  /* Appends n inputs to the inbox in one transaction (all or none). */
  int (*append)(mtr_store *st, mtr_store_input *const *in, size_t n, int64_t now_us,
                meter_error *err);

  /*
   * Moves up to `max` inbox records submitted at or before `before_us`,
   * oldest first, into units, in one transaction. (The sender ingests what
   * was submitted before it seals hours, so nothing submitted in time is
   * taken for late.)
   *  - a key already held (as a record, a contribution or a late record):
   *    dropped (a resubmission);
   *  - RECORD: a new PENDING unit, due now;
   *  - AGGREGATE: added to the OPEN unit of (agg_key, hour of time_us), or a
   *    new OPEN one due at hour end + grace; the contribution is kept. If
   *    the hour's unit is no longer OPEN the record is late: REPLACES units
   *    take it into their total (a revision: PENDING again when delivered),
   *    unless the policy is DEAD_LETTER; otherwise the late policy decides:
   *    a LATE dead letter or the next hour still open for that key. A record
   *    that disagrees with its hour on having allocations, or would overflow
   *    its total, is also kept as a LATE dead letter.
   * Only the caller that holds the sender role ingests.
   */
  int (*ingest)(mtr_store *st, size_t max, int64_t before_us, int64_t now_us,
                mtr_ingest_result *out, meter_error *err);

  /* Seals OPEN aggregates that are due (ready <= now) or, with
   * include_started, whose hour has begun: they become PENDING. */
  int (*seal)(mtr_store *st, int64_t now_us, int include_started, meter_error *err);

  /* Claims a batch: first an orphaned batch (see the top of this file), then
   * a parked batch that is due again, then a new batch of PENDING units due
   * now, sharing the batch key of the oldest, up to its limit. */
  int (*claim)(mtr_store *st, const mtr_claim_params *p, mtr_claim *out, meter_error *err);

  /* Records the results of a claimed batch (one per unit, in order). Units
   * with a final verdict leave the batch; the batch is deleted when empty,
   * else parked until the earliest retry. `delivered_records/bytes` receive
   * what left the waiting totals. */
  int (*complete)(mtr_store *st, const mtr_claim *batch, const mtr_unit_result *res,
                  int64_t now_us, uint64_t *delivered_records, uint64_t *delivered_bytes,
                  meter_error *err);

  /* Makes every PENDING unit and parked batch due now (meter_flush). */
  int (*make_due)(mtr_store *st, int64_t now_us, meter_error *err);

  /* Whether anything is still to send now (what meter_flush waits for):
   * records received, units PENDING or SENDING, OPEN aggregates that are
   * due (or, with include_started, whose hour has begun). */
  int (*sendable)(mtr_store *st, int64_t now_us, int include_started, int *any,
                  meter_error *err);

  /* The earliest time something becomes due (INT64_MAX: nothing waits). */
  int (*next_due)(mtr_store *st, int64_t *due_us, meter_error *err);

  int (*counts)(mtr_store *st, mtr_store_counts *out, meter_error *err);

  /* Units whose state is in mask (0: all), oldest first, from a snapshot. */
  int (*list)(mtr_store *st, unsigned state_mask, mtr_unit_fn fn, void *payload,
              meter_error *err);

  /* DEAD units (all, or the one keyed ikey) become PENDING, due now, outside
   * any batch. LATE ones are aggregated again, as append would, in the same
   * transaction (so with the late policy changed they may join another hour,
   * or be late again). `requeued` (optional) receives how many were requeued;
   * METER_ENOTFOUND if ikey is given and is not a dead letter. */
  int (*requeue_dead)(mtr_store *st, const char *ikey, int64_t now_us, size_t *requeued,
                      meter_error *err);

  /* Deletes delivered units done before `before_us` (aggregates also only
   * once their window has passed), with their contributions. */
  int (*purge)(mtr_store *st, int64_t before_us, int64_t now_us, meter_error *err);
} mtr_store_ops;

struct mtr_store {
  const mtr_store_ops *ops;
};

extern const mtr_store_ops mtr_sqlite_store;
#ifdef METER_WITH_POSTGRES
extern const mtr_store_ops mtr_pg_store;  /* store_pg.c: path is a postgresql:// URL */
#endif

void mtr_unit_dispose(mtr_unit *u);
void mtr_units_free(mtr_unit *u, size_t n);
void mtr_claim_dispose(mtr_claim *c);

#endif
