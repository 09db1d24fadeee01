/* The spool store on PostgreSQL: fleet mode (see store.h for the contract,
 * docs/fleet.md for deployment and guarantees).
 *
 * Many replicas of a service open the same spool (a database, a spool name
 * and a back end) and share everything: submits from every replica land in
 * one inbox, aggregates are summed in the database, and every replica may
 * send. What keeps that exact:
 *
 *  - Submitting appends to meter_inbox, one statement per group commit
 *    (arrays through unnest, a prepared statement: one round trip), with
 *    ON CONFLICT (spool, idempotency key) DO NOTHING, so a submit retried
 *    after a lost answer cannot store a record twice.
 *  - Ingest (sorting the inbox into units) is one replica's job at a time:
 *    a transaction-level advisory lock per spool, tried without waiting. It
 *    deduplicates through meter_seen (INSERT .. ON CONFLICT DO NOTHING
 *    RETURNING), and adds each hour's records to its aggregate with INSERT
 *    .. ON CONFLICT DO UPDATE (quantity = quantity + added), after locking
 *    the hours' rows so the late/revision rules see their true state.
 *  - Sealing ingests everything the inbox holds (whatever its submission
 *    time: replicas' clocks differ) in the same transaction that seals, so
 *    a record whose submit returned before the seal is never taken for late.
 *  - Claims lock rows with FOR UPDATE SKIP LOCKED: replicas claim different
 *    batches concurrently. A batch is leased to its sender until a time; a
 *    sender that dies leaves it to the others once the lease has expired,
 *    with its members and order (same keys, same AppDirect composition).
 *  - complete() records the outcomes and releases the batch in one
 *    transaction; every update is guarded by "still in flight in this
 *    batch", so a retried or late completion cannot undo another's. A
 *    sender whose lease was taken over records only what was delivered.
 *
 * Connections: up to three per store handle, opened lazily — submits (the
 * group-commit leader), the sender's work, and reads (stats, lists) — so a
 * long export never stalls submits. A connection that fails is reopened
 * with backoff; an operation whose connection broke is run again once on a
 * new one (every operation is safe to repeat: see each). When the database
 * cannot be reached, submits go to the optional local fallback (fallback.h)
 * or fail with METER_ESTORE naming the server.
 *
 * The URL is libpq's, plus two parameters of ours, removed before libpq
 * sees them: spool=NAME (default "default") and backend=NAME (to pick a
 * spool when inspecting without a client). */
#include "store.h"

#include "aggregate.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/hooks.h"
#include "core/log.h"
#include "core/str.h"
#include "core/sync.h"
#include "core/timefmt.h"
#include "fallback.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCHEMA_VERSION 1
#define MIGRATE_LOCK "7308894763112351489"  /* pg_advisory_xact_lock key: migrations */
#define INGEST_LOCK_CLASS "1836344419"      /* first key of the per-spool ingest lock */
#define MAX_LATE_HOPS 48                    /* NEXT_HOUR: give up after two days */
#define OP_ATTEMPTS 3                       /* a broken connection, a deadlock: again */
#define RECONNECT_MIN_US (100 * 1000)
#define RECONNECT_MAX_US (5 * 1000 * 1000)
#define SEAL_MAX_CHUNKS 20
#define SEAL_CHUNK 5000
#define FORWARD_CHUNK 1000
#define FORWARD_MAX_CHUNKS 20
#define LIST_PAGE "500"
#define PURGE_CHUNK 1000 /* delivered units purged per statement */
#define INGEST_BUSY_RETRY_US (50 * 1000)

enum {
  ST_OPEN = METER_SPOOL_OPEN,
  ST_PENDING = METER_SPOOL_PENDING,
  ST_SENDING = METER_SPOOL_SENDING,
  ST_DELIVERED = METER_SPOOL_DELIVERED,
  ST_DEAD = METER_SPOOL_DEAD,
  K_RECORD = METER_SPOOL_RECORD,
  K_AGGREGATE = METER_SPOOL_AGGREGATE,
  K_LATE = METER_SPOOL_LATE,
};

/* ---- the schema ------------------------------------------------------------ */

/* Migration n takes the schema from version n-1 to n. Applied at open, in
 * one transaction under an advisory lock, so replicas starting together do
 * not race; a database with a newer version is refused. */
static const char *const migrations[SCHEMA_VERSION + 1] = {
  [1] =
    "CREATE TABLE meter_spools("
    " id serial PRIMARY KEY, name text NOT NULL, backend text NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now(), UNIQUE(name, backend));"
    "CREATE TABLE meter_inbox("
    " id bigserial PRIMARY KEY, spool_id integer NOT NULL REFERENCES meter_spools(id),"
    " ikey text NOT NULL, body text NOT NULL, batch_key text NOT NULL,"
    " batch_limit integer NOT NULL, time_us bigint NOT NULL, window_us bigint NOT NULL,"
    " flags integer NOT NULL, agg_key text, quantity bigint NOT NULL, allocs text,"
    " bytes bigint NOT NULL, submitted_us bigint NOT NULL, UNIQUE(spool_id, ikey));"
    "CREATE TABLE meter_seen("
    " spool_id integer NOT NULL, ikey text NOT NULL, PRIMARY KEY(spool_id, ikey));"
    "CREATE TABLE meter_units("
    " id bigserial PRIMARY KEY, spool_id integer NOT NULL REFERENCES meter_spools(id),"
    " kind smallint NOT NULL, state smallint NOT NULL, ikey text NOT NULL, body text NOT NULL,"
    " bytes bigint NOT NULL, nrecords bigint NOT NULL, batch_key text NOT NULL,"
    " batch_limit integer NOT NULL, time_us bigint NOT NULL, window_us bigint NOT NULL,"
    " flags integer NOT NULL, agg_key text, quantity bigint NOT NULL DEFAULT 0,"
    " sent_quantity bigint NOT NULL DEFAULT 0, revision integer NOT NULL DEFAULT 0,"
    " allocs text, submitted_us bigint NOT NULL, ready_us bigint NOT NULL,"
    " attempts integer NOT NULL DEFAULT 0, batch_id bigint, batch_pos integer,"
    " outcome integer NOT NULL DEFAULT 0, error_code text, message text, record_id text,"
    " done_us bigint);"
    "CREATE INDEX meter_units_state ON meter_units(spool_id, state, ready_us);"
    "CREATE INDEX meter_units_due ON meter_units(spool_id, ready_us, id)"
    " WHERE state = 2 AND batch_id IS NULL;"
    "CREATE INDEX meter_units_key_due ON meter_units(spool_id, batch_key, ready_us, id)"
    " WHERE state = 2 AND batch_id IS NULL;"
    "CREATE UNIQUE INDEX meter_units_hour ON meter_units(spool_id, agg_key, time_us)"
    " WHERE kind = 2;"
    "CREATE INDEX meter_units_batch ON meter_units(batch_id) WHERE batch_id IS NOT NULL;"
    "CREATE TABLE meter_contribs("
    " id bigserial PRIMARY KEY, unit_id bigint NOT NULL, ikey text NOT NULL,"
    " quantity bigint NOT NULL, time_us bigint NOT NULL);"
    "CREATE INDEX meter_contribs_unit ON meter_contribs(unit_id);"
    "CREATE TABLE meter_batches("
    " id bigserial PRIMARY KEY, spool_id integer NOT NULL REFERENCES meter_spools(id),"
    " batch_key text NOT NULL, owner text, lease_until_us bigint NOT NULL DEFAULT 0,"
    " ready_us bigint NOT NULL DEFAULT 0, created_us bigint NOT NULL,"
    " sends integer NOT NULL DEFAULT 0);"
    "CREATE INDEX meter_batches_spool ON meter_batches(spool_id, owner, lease_until_us);",
};

#define UNIT_COLS                                                                          \
  "id, kind, state, flags, ikey, body, agg_key, time_us, window_us, quantity,"             \
  " sent_quantity, allocs, revision, nrecords, bytes, submitted_us, ready_us, attempts,"   \
  " outcome, error_code, message, record_id"

#define INBOX_COLS                                                                         \
  "id, ikey, body, batch_key, batch_limit, time_us, window_us, flags, agg_key, quantity,"   \
  " allocs, bytes, submitted_us"

/* A REPLACES aggregate whose total grew while it was in flight: delivered at
 * the claimed total, it goes back to PENDING as the next revision. */
#define GREW "(u.kind = 2 AND (u.flags & 2) <> 0 AND u.quantity <> v.claimed)"

/* Prepared statements ($1 is the spool id unless said otherwise). */
enum {
  P_APPEND,
  P_INGEST_TRY,
  P_INGEST_WAIT,
  P_TAKE,
  P_SEE,
  P_INS_RECORDS,
  P_LOAD_HOURS,
  P_UPSERT_AGG,
  P_INS_CONTRIBS,
  P_INS_LATE,
  P_SEAL_CHECK,
  P_SEAL,
  P_ORPHAN,
  P_PARKED,
  P_MEMBERS,
  P_DROP_BATCH,
  P_OLDEST,
  P_NEW_BATCH,
  P_FILL_BATCH,
  P_SENDING,
  P_LEASE,
  P_BATCH_OWNER,
  P_DELIVER,
  P_RETRY,
  P_DEAD,
  P_CUR_QTY,
  P_SHRINK,
  P_BATCH_NEXT,
  P_PARK,
  P_DUE_BATCHES,
  P_DUE_UNITS,
  P_NEXT_DUE,
  P_SENDABLE,
  P_COUNT_UNITS,
  P_COUNT_INBOX,
  P_LIST_INBOX,
  P_LIST_UNITS,
  P_DEAD_SELECT,
  P_REQUEUE,
  P_DEL_UNIT,
  P_PURGE,
  P_COUNT
};

static const char *const sql[P_COUNT] = {
  [P_APPEND] =
    "INSERT INTO meter_inbox(spool_id, ikey, body, batch_key, batch_limit, time_us, window_us,"
    " flags, agg_key, quantity, allocs, bytes, submitted_us)"
    " SELECT $1::integer, t.* FROM unnest($2::text[], $3::text[], $4::text[], $5::integer[],"
    " $6::bigint[], $7::bigint[], $8::integer[], $9::text[], $10::bigint[], $11::text[],"
    " $12::bigint[], $13::bigint[]) AS t"
    " ON CONFLICT (spool_id, ikey) DO NOTHING",
  [P_INGEST_TRY] = "SELECT pg_try_advisory_xact_lock(" INGEST_LOCK_CLASS ", $1::integer)",
  [P_INGEST_WAIT] = "SELECT pg_advisory_xact_lock(" INGEST_LOCK_CLASS ", $1::integer)",
  [P_TAKE] = "DELETE FROM meter_inbox WHERE id IN (SELECT id FROM meter_inbox"
             " WHERE spool_id = $1 AND submitted_us <= $2 ORDER BY id LIMIT $3)"
             " RETURNING " INBOX_COLS,
  [P_SEE] = "INSERT INTO meter_seen(spool_id, ikey) SELECT $1::integer, unnest($2::text[])"
            " ON CONFLICT DO NOTHING RETURNING ikey",
  [P_INS_RECORDS] =
    "INSERT INTO meter_units(spool_id, kind, state, ikey, body, bytes, nrecords, batch_key,"
    " batch_limit, time_us, window_us, flags, submitted_us, ready_us)"
    " SELECT $1::integer, 1, 2, t.ikey, t.body, t.bytes, 1, t.bk, t.bl, t.tm, t.win, t.fl,"
    " t.sub, $11 FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::integer[],"
    " $7::bigint[], $8::bigint[], $9::integer[], $10::bigint[])"
    " AS t(ikey, body, bytes, bk, bl, tm, win, fl, sub)",
  [P_LOAD_HOURS] =
    "SELECT u.id, u.state, u.flags, u.quantity, u.allocs, u.agg_key, u.time_us FROM meter_units u"
    " JOIN unnest($2::text[], $3::bigint[]) AS k(agg_key, time_us)"
    " ON u.agg_key = k.agg_key AND u.time_us = k.time_us"
    " WHERE u.spool_id = $1 AND u.kind = 2 ORDER BY u.id FOR UPDATE OF u",
  [P_UPSERT_AGG] =
    "INSERT INTO meter_units AS u(spool_id, kind, state, ikey, body, bytes, nrecords, batch_key,"
    " batch_limit, time_us, window_us, flags, agg_key, quantity, allocs, submitted_us,"
    " ready_us, revision)"
    " SELECT $1::integer, 2, 1, t.* FROM unnest($2::text[], $3::text[], $4::bigint[],"
    " $5::bigint[], $6::text[], $7::integer[], $8::bigint[], $9::bigint[], $10::integer[],"
    " $11::text[], $12::bigint[], $13::text[], $14::bigint[], $15::bigint[], $16::integer[])"
    " AS t"
    " ON CONFLICT (spool_id, agg_key, time_us) WHERE kind = 2 DO UPDATE SET"
    " quantity = u.quantity + excluded.quantity,"
    " allocs = coalesce(excluded.allocs, u.allocs),"
    " nrecords = u.nrecords + excluded.nrecords,"
    " bytes = u.bytes + excluded.bytes,"
    " revision = u.revision + excluded.revision,"
    " state = CASE WHEN excluded.revision > 0 THEN 2 ELSE u.state END,"
    " ready_us = CASE WHEN excluded.revision > 0 THEN excluded.ready_us ELSE u.ready_us END,"
    " batch_id = CASE WHEN excluded.revision > 0 THEN NULL ELSE u.batch_id END,"
    " done_us = CASE WHEN excluded.revision > 0 THEN NULL ELSE u.done_us END"
    " RETURNING id, agg_key, time_us",
  [P_INS_CONTRIBS] =
    "INSERT INTO meter_contribs(unit_id, ikey, quantity, time_us)"
    " SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[])",
  [P_INS_LATE] =
    "INSERT INTO meter_units(spool_id, kind, state, ikey, body, bytes, nrecords, batch_key,"
    " batch_limit, time_us, window_us, flags, agg_key, quantity, allocs, submitted_us,"
    " ready_us, outcome, error_code, message, done_us)"
    " SELECT $1::integer, 3, 5, t.ikey, t.body, t.bytes, 1, t.bk, t.bl, t.tm, t.win, t.fl,"
    " t.ak, t.q, t.al, t.sub, $14, $15, t.code, t.msg, $14"
    " FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::integer[],"
    " $7::bigint[], $8::bigint[], $9::integer[], $10::text[], $11::bigint[], $12::text[],"
    " $13::bigint[], $16::text[], $17::text[])"
    " AS t(ikey, body, bytes, bk, bl, tm, win, fl, ak, q, al, sub, code, msg)"
    " RETURNING " UNIT_COLS,
  [P_SEAL_CHECK] = "SELECT EXISTS(SELECT 1 FROM meter_units WHERE spool_id = $1 AND state = 1"
                   " AND (ready_us <= $2 OR ($3 AND time_us <= $2)))",
  [P_SEAL] = "UPDATE meter_units SET state = 2,"
             " ready_us = CASE WHEN $3 THEN least(ready_us, $2) ELSE ready_us END"
             " WHERE spool_id = $1 AND state = 1 AND (ready_us <= $2 OR ($3 AND time_us <= $2))",
  [P_ORPHAN] = "SELECT id FROM meter_batches WHERE spool_id = $1 AND owner IS NOT NULL"
               " AND (owner = $2 OR lease_until_us <= $3) ORDER BY id LIMIT 1"
               " FOR UPDATE SKIP LOCKED",
  [P_PARKED] = "SELECT id FROM meter_batches WHERE spool_id = $1 AND owner IS NULL"
               " AND ready_us <= $2 ORDER BY ready_us, id LIMIT 1 FOR UPDATE SKIP LOCKED",
  [P_MEMBERS] = "SELECT " UNIT_COLS " FROM meter_units WHERE batch_id = $1 AND state IN (2, 3)"
                " ORDER BY batch_pos",
  [P_DROP_BATCH] = "DELETE FROM meter_batches WHERE id = $1",
  [P_OLDEST] = "SELECT batch_key, batch_limit FROM meter_units WHERE spool_id = $1 AND state = 2"
               " AND batch_id IS NULL AND ready_us <= $2 ORDER BY ready_us, id LIMIT 1"
               " FOR UPDATE SKIP LOCKED",
  [P_NEW_BATCH] = "INSERT INTO meter_batches(spool_id, batch_key, created_us) VALUES($1, $2, $3)"
                  " RETURNING id",
  [P_FILL_BATCH] =
    "UPDATE meter_units u SET batch_id = $5, batch_pos = p.pos FROM ("
    " SELECT id, (row_number() OVER (ORDER BY ready_us, id) - 1)::integer AS pos FROM ("
    "  SELECT id, ready_us FROM meter_units WHERE spool_id = $1 AND state = 2"
    "  AND batch_id IS NULL AND batch_key = $2 AND ready_us <= $3 ORDER BY ready_us, id"
    "  LIMIT $4 FOR UPDATE SKIP LOCKED) c) p WHERE u.id = p.id",
  [P_SENDING] = "UPDATE meter_units SET state = 3 WHERE batch_id = $1 AND state IN (2, 3)",
  [P_LEASE] = "UPDATE meter_batches SET owner = $2, lease_until_us = $3, sends = sends + 1"
              " WHERE id = $1",
  [P_BATCH_OWNER] = "SELECT owner FROM meter_batches WHERE id = $1 FOR UPDATE",
  [P_DELIVER] =
    "WITH d AS (UPDATE meter_units u SET"
    " state = CASE WHEN " GREW " THEN 2 ELSE 4 END,"
    " sent_quantity = CASE WHEN " GREW " THEN v.claimed ELSE u.quantity END,"
    " ready_us = CASE WHEN " GREW " THEN $6 ELSE u.ready_us END,"
    " revision = CASE WHEN " GREW " THEN u.revision + 1 ELSE u.revision END,"
    " done_us = CASE WHEN " GREW " THEN u.done_us ELSE $6 END,"
    " batch_id = NULL, attempts = u.attempts + 1, outcome = v.outcome,"
    " record_id = v.record_id, error_code = NULL, message = NULL"
    " FROM unnest($2::bigint[], $3::integer[], $4::text[], $5::bigint[])"
    " AS v(id, outcome, record_id, claimed)"
    " WHERE u.id = v.id AND u.batch_id = $1 AND u.state = 3"
    " RETURNING CASE WHEN u.state = 4 THEN u.nrecords ELSE 0 END AS n,"
    " CASE WHEN u.state = 4 THEN u.bytes ELSE 0 END AS b)"
    " SELECT coalesce(sum(n), 0)::bigint, coalesce(sum(b), 0)::bigint FROM d",
  [P_RETRY] =
    "UPDATE meter_units u SET state = 2, ready_us = v.at, attempts = u.attempts + 1,"
    " outcome = v.outcome, error_code = v.code, message = v.msg"
    " FROM unnest($2::bigint[], $3::bigint[], $4::integer[], $5::text[], $6::text[])"
    " AS v(id, at, outcome, code, msg)"
    " WHERE u.id = v.id AND u.batch_id = $1 AND u.state = 3",
  [P_DEAD] =
    "UPDATE meter_units u SET state = 5, batch_id = NULL, done_us = $6,"
    " attempts = u.attempts + 1, outcome = v.outcome, error_code = v.code, message = v.msg"
    " FROM unnest($2::bigint[], $3::integer[], $4::text[], $5::text[])"
    " AS v(id, outcome, code, msg)"
    " WHERE u.id = v.id AND u.batch_id = $1 AND u.state = 3",
  [P_CUR_QTY] = "SELECT quantity, sent_quantity, body, agg_key, time_us, window_us, flags,"
                " batch_key, batch_limit, revision FROM meter_units"
                " WHERE id = $1 AND batch_id = $2 AND state = 3 FOR UPDATE",
  [P_SHRINK] = "UPDATE meter_units SET state = 4, quantity = sent_quantity, batch_id = NULL,"
               " done_us = $2, attempts = attempts + 1, outcome = $3, error_code = $4,"
               " message = $5 WHERE id = $1 RETURNING nrecords, bytes",
  [P_BATCH_NEXT] = "SELECT min(ready_us) FROM meter_units WHERE batch_id = $1 AND state IN (2, 3)",
  [P_PARK] = "UPDATE meter_batches SET owner = NULL, lease_until_us = 0, ready_us = $2"
             " WHERE id = $1",
  [P_DUE_BATCHES] = "UPDATE meter_batches SET ready_us = $2 WHERE spool_id = $1"
                    " AND owner IS NULL AND ready_us > $2",
  [P_DUE_UNITS] = "UPDATE meter_units SET ready_us = $2 WHERE spool_id = $1 AND state = 2"
                  " AND ready_us > $2",
  [P_NEXT_DUE] =
    "SELECT min(t) FROM ("
    " SELECT min(ready_us) AS t FROM meter_units WHERE spool_id = $1 AND state = 1"
    " UNION ALL SELECT min(ready_us) FROM meter_units WHERE spool_id = $1 AND state = 2"
    " AND batch_id IS NULL"
    " UNION ALL SELECT min(ready_us) FROM meter_batches WHERE spool_id = $1 AND owner IS NULL"
    " UNION ALL SELECT min(CASE WHEN owner = $2 THEN 0 ELSE lease_until_us END)"
    " FROM meter_batches WHERE spool_id = $1 AND owner IS NOT NULL"
    " UNION ALL SELECT $3::bigint FROM (SELECT 1 FROM meter_inbox WHERE spool_id = $1 LIMIT 1) i"
    ") x",
  [P_SENDABLE] =
    "SELECT EXISTS(SELECT 1 FROM meter_units WHERE spool_id = $1 AND state IN (2, 3))"
    " OR EXISTS(SELECT 1 FROM meter_inbox WHERE spool_id = $1)"
    " OR EXISTS(SELECT 1 FROM meter_units WHERE spool_id = $1 AND state = 1"
    " AND (ready_us <= $2 OR ($3 AND time_us <= $2)))",
  [P_COUNT_UNITS] = "SELECT state, count(*), coalesce(sum(nrecords), 0)::bigint,"
                    " coalesce(sum(bytes), 0)::bigint, min(submitted_us) FROM meter_units"
                    " WHERE spool_id = $1 GROUP BY state",
  [P_COUNT_INBOX] = "SELECT count(*), coalesce(sum(bytes), 0)::bigint, min(submitted_us)"
                    " FROM meter_inbox WHERE spool_id = $1",
  [P_LIST_INBOX] = "SELECT " INBOX_COLS " FROM meter_inbox WHERE spool_id = $1 AND id > $2"
                   " ORDER BY id LIMIT " LIST_PAGE,
  [P_LIST_UNITS] = "SELECT " UNIT_COLS " FROM meter_units WHERE spool_id = $1 AND id > $2"
                   " AND ($3 = 0 OR ((1 << state) & $3) <> 0) ORDER BY id LIMIT " LIST_PAGE,
  [P_DEAD_SELECT] = "SELECT " UNIT_COLS ", batch_key, batch_limit FROM meter_units"
                    " WHERE spool_id = $1 AND state = 5 AND ($2::text IS NULL OR ikey = $2)"
                    " ORDER BY id FOR UPDATE",
  [P_REQUEUE] = "UPDATE meter_units SET state = 2, ready_us = $2, batch_id = NULL, attempts = 0,"
                " done_us = NULL WHERE id = ANY($1::bigint[])",
  [P_DEL_UNIT] = "DELETE FROM meter_units WHERE id = ANY($1::bigint[])",
  [P_PURGE] =
    "WITH pick AS (SELECT id, kind, ikey FROM meter_units WHERE spool_id = $1 AND state = 4"
    " AND done_us < $2 AND (kind <> 2 OR (flags & 2) = 0"
    " OR (window_us > 0 AND time_us + window_us < $3)) LIMIT " MTR_STRINGIFY(PURGE_CHUNK)
    " FOR UPDATE SKIP LOCKED),"
    " c AS (DELETE FROM meter_contribs WHERE unit_id IN (SELECT id FROM pick) RETURNING ikey),"
    " s1 AS (DELETE FROM meter_seen WHERE spool_id = $1 AND ikey IN (SELECT ikey FROM c)),"
    " s2 AS (DELETE FROM meter_seen WHERE spool_id = $1"
    " AND ikey IN (SELECT ikey FROM pick WHERE kind = 1)),"
    " u AS (DELETE FROM meter_units WHERE id IN (SELECT id FROM pick))"
    " SELECT count(*) FROM pick",
};

/* ---- the store ------------------------------------------------------------ */

/* How an operation failed, for the retry decision. */
enum { FAIL_NONE, FAIL_CONN, FAIL_RETRY, FAIL_FATAL };

enum { C_SUBMIT, C_SENDER, C_READ, C_COUNT };

typedef struct pg_conn {
  PGconn *c;
  mtr_mutex lock;
  uint64_t prepared;        /* bit per statement prepared on this connection */
  int64_t retry_at;         /* monotonic µs: no new connection attempt before */
  unsigned failures;        /* consecutive failed connection attempts */
  int fail;                 /* how the last statement failed */
  int no_retry;             /* the operation has had effects outside (callbacks) */
} pg_conn;

typedef struct pg_store {
  mtr_store base;
  char *conninfo;           /* the URL without our parameters; may hold a password */
  char *display;            /* postgresql://user@host:port/db?spool=NAME: for messages */
  char *name;               /* spool name */
  char *backend;
  int durability;
  int64_t grace_us;
  int late_policy;
  mtr_logger *log;
  mtr_mutex init_lock;
  atomic_int ready;         /* schema checked and spool id known */
  int spool_id;
  char spool_text[16];
  pg_conn conns[C_COUNT];
  mtr_fallback *fb;
  atomic_int fb_active;     /* submits are going to the fallback */
  atomic_llong ingest_busy_at; /* another replica was ingesting (0: no) */
  char owner[64];           /* the sender's lease owner (set by claim) */
  mtr_mutex stash_lock;
  mtr_unit *stash;          /* dead letters found while sealing, reported by ingest */
  size_t nstash;
} pg_store;

static int64_t mono_now(void)
{
  return mtr_mono_us(mtr_hooks_default());
}

/* ---- parameters and arrays -------------------------------------------------- */

typedef struct params {
  const char *v[24];
  char num[24][24];
  int n;
} params;

static void p_int(params *p, int64_t x)
{
  snprintf(p->num[p->n], sizeof p->num[0], "%lld", (long long)x);
  p->v[p->n] = p->num[p->n];
  p->n++;
}

static void p_text(params *p, const char *t)
{
  p->v[p->n++] = t;
}

/* A PostgreSQL array literal under construction: {"a","b",NULL} / {1,2}. */
typedef struct arr {
  mtr_buf b;
  int closed;
} arr;

static void a_sep(arr *a)
{
  mtr_buf_putc(&a->b, a->b.len ? ',' : '{');
}

static void a_text(arr *a, const char *t)
{
  a_sep(a);
  if (!t) {
    mtr_buf_puts(&a->b, "NULL");
    return;
  }
  mtr_buf_putc(&a->b, '"');
  const char *run = t;
  for (const char *c = t; *c; c++) {
    if (*c == '"' || *c == '\\') {
      mtr_buf_put(&a->b, run, (size_t)(c - run));
      mtr_buf_putc(&a->b, '\\');
      run = c;
    }
  }
  mtr_buf_puts(&a->b, run);
  mtr_buf_putc(&a->b, '"');
}

static void a_int(arr *a, int64_t x)
{
  a_sep(a);
  mtr_buf_printf(&a->b, "%lld", (long long)x);
}

/* The literal ("{}" when empty); NULL after an allocation failure. */
static const char *a_done(arr *a)
{
  if (!a->closed) {
    if (!a->b.len)
      mtr_buf_putc(&a->b, '{');
    mtr_buf_putc(&a->b, '}');
    a->closed = 1;
  }
  return mtr_buf_status(&a->b) == METER_OK ? mtr_buf_cstr(&a->b) : NULL;
}

static void arrs_dispose(arr *a, size_t n)
{
  for (size_t i = 0; i < n; i++)
    mtr_buf_dispose(&a[i].b);
}

/* Passes n finished arrays as parameters; METER_ENOMEM if one failed. */
static int p_arrays(params *p, arr *a, size_t n, meter_error *err)
{
  for (size_t i = 0; i < n; i++) {
    const char *t = a_done(&a[i]);
    if (!t)
      return mtr_error_set(err, METER_ENOMEM, "out of memory");
    p_text(p, t);
  }
  return METER_OK;
}

static int64_t v_int(const PGresult *r, int row, int col)
{
  return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static const char *v_text(const PGresult *r, int row, int col)
{
  return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static char *v_dup(const PGresult *r, int row, int col)
{
  return PQgetisnull(r, row, col) ? NULL : mtr_strdup(PQgetvalue(r, row, col));
}

/* ---- errors and statements ------------------------------------------------- */

/* The server's message, one line. */
static void reason(const char *msg, char *out, size_t size)
{
  mtr_strlcpy(out, msg && *msg ? msg : "no answer", size);
  size_t n = strlen(out);
  while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
    out[--n] = '\0';
  for (char *c = out; *c; c++)
    if (*c == '\n')
      *c = ' ';
}

static int classify(PGconn *c, const PGresult *r)
{
  if (!c || PQstatus(c) != CONNECTION_OK)
    return FAIL_CONN;
  const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (!code)
    return r ? FAIL_FATAL : FAIL_CONN;
  if (strncmp(code, "08", 2) == 0 || strcmp(code, "57P01") == 0 || strcmp(code, "57P02") == 0 ||
      strcmp(code, "57P03") == 0 || strcmp(code, "53300") == 0)
    return FAIL_CONN;
  if (strcmp(code, "40001") == 0 || strcmp(code, "40P01") == 0)
    return FAIL_RETRY;
  return FAIL_FATAL;
}

static int pg_fail(pg_store *s, pg_conn *pc, const PGresult *r, const char *what,
                   meter_error *err)
{
  char why[300];
  reason(r ? PQresultErrorMessage(r) : pc->c ? PQerrorMessage(pc->c) : NULL, why, sizeof why);
  if (!*why || strcmp(why, "no answer") == 0)
    reason(pc->c ? PQerrorMessage(pc->c) : NULL, why, sizeof why);
  pc->fail = classify(pc->c, r);
  return mtr_error_set(err, METER_ESTORE, "spool: PostgreSQL at %s: %s: %s", s->display, what,
                       why);
}

/* Runs prepared statement `which`; returns its result (caller clears) or
 * NULL with err set and pc->fail saying how it failed. */
static PGresult *q(pg_store *s, pg_conn *pc, int which, const params *p, meter_error *err)
{
  char name[16];
  snprintf(name, sizeof name, "mtr%d", which);
  if (!(pc->prepared & (UINT64_C(1) << which))) {
    PGresult *r = PQprepare(pc->c, name, sql[which], 0, NULL);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
      pg_fail(s, pc, r, "prepare", err);
      PQclear(r);
      return NULL;
    }
    PQclear(r);
    pc->prepared |= UINT64_C(1) << which;
  }
  PGresult *r = PQexecPrepared(pc->c, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0);
  ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    pg_fail(s, pc, r, "query", err);
    PQclear(r);
    return NULL;
  }
  return r;
}

/* A statement whose result is not needed. */
static int q_run(pg_store *s, pg_conn *pc, int which, const params *p, meter_error *err)
{
  PGresult *r = q(s, pc, which, p, err);
  if (!r)
    return METER_ESTORE;
  PQclear(r);
  return METER_OK;
}

/* Plain SQL without parameters (BEGIN, COMMIT, setup). */
static int sql_run(pg_store *s, pg_conn *pc, const char *text, meter_error *err)
{
  PGresult *r = PQexec(pc->c, text);
  ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  int rc = METER_OK;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    rc = pg_fail(s, pc, r, text, err);
  PQclear(r);
  return rc;
}

static params spool_param(const pg_store *s)
{
  params p;
  p.n = 0;
  p_text(&p, s->spool_text);
  return p;
}

/* ---- the URL ---------------------------------------------------------------- */

static int hexval(char c)
{
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static char *percent_decode(const char *v, size_t len)
{
  char *out = mtr_malloc(len + 1);
  if (!out)
    return NULL;
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    if (v[i] == '%' && i + 2 < len && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0) {
      out[n++] = (char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
      i += 2;
    } else {
      out[n++] = v[i];
    }
  }
  out[n] = '\0';
  return out;
}

/* Takes spool= and backend= out of the URL's query. */
static int split_url(pg_store *s, const char *url, char **backend_hint, meter_error *err)
{
  *backend_hint = NULL;
  mtr_buf clean = MTR_BUF_INIT;
  const char *qm = strchr(url, '?');
  mtr_buf_put(&clean, url, qm ? (size_t)(qm - url) : strlen(url));
  int first = 1;
  for (const char *p = qm ? qm + 1 : NULL; p && *p;) {
    const char *end = strchr(p, '&');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > 6 && strncmp(p, "spool=", 6) == 0) {
      mtr_free(s->name);
      s->name = percent_decode(p + 6, len - 6);
    } else if (len > 8 && strncmp(p, "backend=", 8) == 0) {
      mtr_free(*backend_hint);
      *backend_hint = percent_decode(p + 8, len - 8);
    } else if (len) {
      mtr_buf_putc(&clean, first ? '?' : '&');
      mtr_buf_put(&clean, p, len);
      first = 0;
    }
    p = end ? end + 1 : NULL;
  }
  if (!s->name)
    s->name = mtr_strdup("default");
  if (mtr_buf_status(&clean) != METER_OK || !s->name) {
    mtr_buf_dispose(&clean);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  s->conninfo = mtr_buf_detach(&clean);

  /* What messages may show: never the password. */
  char *msg = NULL;
  PQconninfoOption *opts = PQconninfoParse(s->conninfo, &msg);
  if (!opts) {
    char why[256];
    reason(msg, why, sizeof why);
    PQfreemem(msg);
    return mtr_error_set(err, METER_EINVAL, "spool: not a valid PostgreSQL URL: %s", why);
  }
  const char *user = NULL, *host = NULL, *port = NULL, *db = NULL, *password = NULL;
  for (PQconninfoOption *o = opts; o->keyword; o++) {
    if (!o->val || !*o->val)
      continue;
    if (strcmp(o->keyword, "user") == 0)
      user = o->val;
    else if (strcmp(o->keyword, "host") == 0)
      host = o->val;
    else if (strcmp(o->keyword, "hostaddr") == 0 && !host)
      host = o->val;
    else if (strcmp(o->keyword, "port") == 0)
      port = o->val;
    else if (strcmp(o->keyword, "dbname") == 0)
      db = o->val;
    else if (strcmp(o->keyword, "password") == 0)
      password = o->val;
  }
  if (password && s->log)
    mtr_logger_add_secret(s->log, password);
  mtr_buf d = MTR_BUF_INIT;
  mtr_buf_printf(&d, "postgresql://%s%s%s%s%s/%s?spool=%s", user ? user : "", user ? "@" : "",
                 host ? host : "", port ? ":" : "", port ? port : "", db ? db : "", s->name);
  PQconninfoFree(opts);
  if (mtr_buf_status(&d) != METER_OK) {
    mtr_buf_dispose(&d);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  s->display = mtr_buf_detach(&d);
  return METER_OK;
}

/* ---- connections ------------------------------------------------------------ */

static void conn_drop(pg_conn *pc)
{
  if (pc->c)
    PQfinish(pc->c);
  pc->c = NULL;
  pc->prepared = 0;
}

static int init_store(pg_store *s, pg_conn *pc, meter_error *err);

/* libpq prints the server's notices on stderr by default; the library never
 * prints (they are informational: "relation already exists, skipping"). */
static void ignore_notice(void *arg, const char *message)
{
  (void)arg;
  (void)message;
}

/* Makes sure pc is connected (respecting the reconnect backoff) and the
 * store is initialised. */
static int conn_ready(pg_store *s, pg_conn *pc, meter_error *err)
{
  if (pc->c && PQstatus(pc->c) != CONNECTION_OK)
    conn_drop(pc);
  if (!pc->c) {
    int64_t now = mono_now();
    /* Only submits wait out the backoff (they fail fast, or go to the
     * fallback); the sender backs off by itself, and a flush or a status
     * right after the server is back should not be refused. */
    if (pc == &s->conns[C_SUBMIT] && pc->retry_at && now < pc->retry_at) {
      pc->fail = FAIL_CONN;
      return mtr_error_set(err, METER_ESTORE,
                           "spool: PostgreSQL at %s is unreachable (next attempt in %lld ms)",
                           s->display, (long long)((pc->retry_at - now) / 1000));
    }
    /* Our defaults first: the URL's own settings override them. */
    const char *keys[] = { "connect_timeout", "keepalives", "keepalives_idle",
                           "keepalives_interval", "keepalives_count",
                           "fallback_application_name", "dbname", NULL };
    const char *vals[] = { "10", "1", "30", "10", "3", "libmeter", s->conninfo, NULL };
    pc->c = PQconnectdbParams(keys, vals, 1);
    if (!pc->c || PQstatus(pc->c) != CONNECTION_OK) {
      char why[300];
      reason(pc->c ? PQerrorMessage(pc->c) : "out of memory", why, sizeof why);
      conn_drop(pc);
      pc->failures++;
      int64_t wait = RECONNECT_MIN_US;
      for (unsigned i = 1; i < pc->failures && wait < RECONNECT_MAX_US; i++)
        wait *= 2;
      pc->retry_at = now + (wait < RECONNECT_MAX_US ? wait : RECONNECT_MAX_US);
      pc->fail = FAIL_CONN;
      return mtr_error_set(err, METER_ESTORE, "spool: PostgreSQL at %s is unreachable: %s",
                           s->display, why);
    }
    PQsetNoticeProcessor(pc->c, ignore_notice, NULL);
    if (pc->failures && s->log)
      MTR_INFO(s->log, "spool: connected to PostgreSQL at %s again", s->display);
    pc->failures = 0;
    pc->retry_at = 0;
    pc->prepared = 0;
    if (s->durability == METER_SPOOL_SYNC_PROCESS &&
        sql_run(s, pc, "SET synchronous_commit TO off", err) != METER_OK)
      return METER_ESTORE;
  }
  if (!atomic_load(&s->ready)) {
    mtr_mutex_lock(&s->init_lock);
    int rc = atomic_load(&s->ready) ? METER_OK : init_store(s, pc, err);
    mtr_mutex_unlock(&s->init_lock);
    return rc;
  }
  return METER_OK;
}

typedef int (*op_fn)(pg_store *s, pg_conn *pc, void *ctx, meter_error *err);

/* Runs fn on connection `which`: again on a new connection if this one
 * broke, again if the server chose it as a deadlock victim. *fail (may be
 * NULL) receives how the last attempt failed. */
static int run_op(pg_store *s, int which, op_fn fn, void *ctx, int *fail, meter_error *err)
{
  pg_conn *pc = &s->conns[which];
  mtr_mutex_lock(&pc->lock);
  int rc = METER_OK;
  pc->no_retry = 0;
  for (int attempt = 1;; attempt++) {
    pc->fail = FAIL_NONE;
    mtr_error_clear(err);
    rc = conn_ready(s, pc, err);
    if (rc == METER_OK)
      rc = fn(s, pc, ctx, err);
    if (rc == METER_OK)
      break;
    if (pc->c && PQstatus(pc->c) == CONNECTION_OK &&
        PQtransactionStatus(pc->c) != PQTRANS_IDLE) {
      PGresult *r = PQexec(pc->c, "ROLLBACK");
      PQclear(r);
    }
    int again = attempt < OP_ATTEMPTS && !pc->no_retry &&
                (pc->fail == FAIL_RETRY || (pc->fail == FAIL_CONN && pc->c));
    if (pc->fail == FAIL_CONN && pc->c) {
      /* The connection broke under us (a restarted server): one immediate
       * new attempt, then the backoff applies. */
      conn_drop(pc);
      pc->retry_at = 0;
    }
    if (!again)
      break;
  }
  if (fail)
    *fail = rc == METER_OK ? FAIL_NONE : pc->fail;
  mtr_mutex_unlock(&pc->lock);
  return rc;
}

/* Schema (migrations) and the spool's id, once per store. */
static int migrate(pg_store *s, pg_conn *pc, meter_error *err)
{
  /* Fast path: nothing to do and no DDL rights needed. */
  PGresult *r = PQexec(pc->c, "SELECT coalesce(max(version), 0) FROM meter_schema_version");
  int have = -1;
  if (r && PQresultStatus(r) == PGRES_TUPLES_OK)
    have = (int)v_int(r, 0, 0);
  PQclear(r);
  if (have == SCHEMA_VERSION)
    return METER_OK;
  if (pc->c && PQstatus(pc->c) != CONNECTION_OK)
    return pg_fail(s, pc, NULL, "connect", err);

  int rc = sql_run(s, pc, "BEGIN", err);
  if (rc == METER_OK)
    rc = sql_run(s, pc, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")", err);
  if (rc == METER_OK)
    rc = sql_run(s, pc,
                 "CREATE TABLE IF NOT EXISTS meter_schema_version("
                 " version integer PRIMARY KEY,"
                 " applied_at timestamptz NOT NULL DEFAULT now())", err);
  if (rc == METER_OK) {
    r = PQexec(pc->c, "SELECT coalesce(max(version), 0) FROM meter_schema_version");
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK)
      have = (int)v_int(r, 0, 0);
    else
      rc = pg_fail(s, pc, r, "read the schema version", err);
    PQclear(r);
  }
  if (rc == METER_OK && have > SCHEMA_VERSION) {
    pc->fail = FAIL_FATAL;
    rc = mtr_error_set(err, METER_ECONFIG,
                       "spool: the database at %s has libmeter schema %d; this libmeter knows "
                       "schema %d (upgrade every replica)", s->display, have, SCHEMA_VERSION);
  }
  for (int v = have + 1; rc == METER_OK && v <= SCHEMA_VERSION; v++) {
    char done[96];
    snprintf(done, sizeof done, "INSERT INTO meter_schema_version(version) VALUES(%d)", v);
    rc = sql_run(s, pc, migrations[v], err);
    if (rc == METER_OK)
      rc = sql_run(s, pc, done, err);
    if (rc == METER_OK && s->log)
      MTR_INFO(s->log, "spool: PostgreSQL at %s: schema migrated to version %d", s->display, v);
  }
  if (rc == METER_OK)
    rc = sql_run(s, pc, "COMMIT", err);
  return rc;
}

static int init_store(pg_store *s, pg_conn *pc, meter_error *err)
{
  int rc = migrate(s, pc, err);
  if (rc != METER_OK)
    return rc;
  const char *v[2] = { s->name, s->backend };
  PGresult *r;
  if (s->backend) {
    r = PQexecParams(pc->c,
                     "INSERT INTO meter_spools(name, backend) VALUES($1, $2)"
                     " ON CONFLICT (name, backend) DO NOTHING", 2, NULL, v, NULL, NULL, 0);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
      rc = pg_fail(s, pc, r, "register the spool", err);
      PQclear(r);
      return rc;
    }
    PQclear(r);
  }
  r = PQexecParams(pc->c,
                   "SELECT id, backend FROM meter_spools WHERE name = $1"
                   " AND ($2::text IS NULL OR backend = $2) ORDER BY backend",
                   2, NULL, v, NULL, NULL, 0);
  if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
    rc = pg_fail(s, pc, r, "find the spool", err);
    PQclear(r);
    return rc;
  }
  int n = PQntuples(r);
  if (n > 1) {
    mtr_buf names = MTR_BUF_INIT;
    for (int i = 0; i < n; i++)
      mtr_buf_printf(&names, "%s%s", i ? ", " : "", PQgetvalue(r, i, 1));
    pc->fail = FAIL_FATAL;
    rc = mtr_error_set(err, METER_ECONFIG,
                       "spool: %s holds spools of several back ends (%s): add backend=NAME to "
                       "the URL", s->display, mtr_buf_cstr(&names));
    mtr_buf_dispose(&names);
  } else if (n == 1) {
    s->spool_id = (int)v_int(r, 0, 0);
    if (!s->backend && !(s->backend = mtr_strdup(PQgetvalue(r, 0, 1))))
      rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  /* n == 0: inspecting a spool that never held a record (id 0 matches nothing). */
  PQclear(r);
  if (rc == METER_OK) {
    snprintf(s->spool_text, sizeof s->spool_text, "%d", s->spool_id);
    atomic_store(&s->ready, 1);
  }
  return rc;
}

/* ---- open / close -------------------------------------------------------------- */

static void stash_free(pg_store *s)
{
  mtr_units_free(s->stash, s->nstash);
  s->stash = NULL;
  s->nstash = 0;
}

static void pg_free(pg_store *s)
{
  for (int i = 0; i < C_COUNT; i++)
    mtr_mutex_destroy(&s->conns[i].lock);
  mtr_mutex_destroy(&s->init_lock);
  mtr_mutex_destroy(&s->stash_lock);
  stash_free(s);
  mtr_free_secret_str(s->conninfo);
  mtr_free(s->display);
  mtr_free(s->name);
  mtr_free(s->backend);
  mtr_free(s);
}

static void pg_close(mtr_store *base)
{
  pg_store *s = (pg_store *)base;
  if (!s)
    return;
  for (int i = 0; i < C_COUNT; i++)
    conn_drop(&s->conns[i]);
  mtr_fallback_close(s->fb);
  pg_free(s);
}

/* A forked child shares the parent's sockets: PQfinish would tell the
 * server to end the parent's sessions. Each of our descriptors is pointed
 * at /dev/null first (the parent's stay intact), then freed. */
static void pg_abandon(mtr_store *base)
{
  pg_store *s = (pg_store *)base;
  if (!s)
    return;
  int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int i = 0; i < C_COUNT; i++) {
    pg_conn *pc = &s->conns[i];
    if (!pc->c)
      continue;
    int fd = PQsocket(pc->c);
    if (nul >= 0 && fd >= 0 && dup2(nul, fd) >= 0)
      PQfinish(pc->c); /* its goodbye goes nowhere */
    pc->c = NULL;
  }
  if (nul >= 0)
    close(nul);
  mtr_fallback_abandon(s->fb);
  pg_free(s);
}

static int open_body(pg_store *s, pg_conn *pc, void *ctx, meter_error *err)
{
  (void)s;
  (void)pc;
  (void)ctx;
  (void)err;
  return METER_OK; /* conn_ready did it all */
}

static int pg_open(mtr_store **out, const mtr_store_config *cfg, meter_error *err)
{
  *out = NULL;
  pg_store *s = mtr_calloc(1, sizeof *s);
  if (!s)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  s->base.ops = &mtr_pg_store;
  s->durability = cfg->durability;
  s->grace_us = cfg->grace_us;
  s->late_policy = cfg->late_policy;
  s->log = cfg->log;
  for (int i = 0; i < C_COUNT; i++)
    mtr_mutex_init(&s->conns[i].lock);
  mtr_mutex_init(&s->init_lock);
  mtr_mutex_init(&s->stash_lock);
  atomic_init(&s->ready, 0);
  atomic_init(&s->fb_active, 0);
  atomic_init(&s->ingest_busy_at, 0);
  char *hint = NULL;
  int rc = split_url(s, cfg->path, &hint, err);
  if (rc == METER_OK && cfg->backend && hint && strcmp(hint, cfg->backend) != 0)
    rc = mtr_error_set(err, METER_ECONFIG, "spool: the URL names back end %s; this client uses %s",
                       hint, cfg->backend);
  if (rc == METER_OK) {
    s->backend = mtr_strdup(cfg->backend ? cfg->backend : hint);
    if ((cfg->backend || hint) && !s->backend)
      rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  mtr_free(hint);
  if (rc == METER_OK && cfg->fallback_path) {
    mtr_buf owner = MTR_BUF_INIT;
    mtr_buf_printf(&owner, "%s (back end %s)", s->display, s->backend ? s->backend : "?");
    rc = mtr_buf_status(&owner) == METER_OK
           ? mtr_fallback_open(&s->fb, cfg->fallback_path, mtr_buf_cstr(&owner), s->durability, err)
           : mtr_error_set(err, METER_ENOMEM, "out of memory");
    mtr_buf_dispose(&owner);
  }
  /* Connect now (and migrate), so a wrong URL is said at open. With a
   * fallback, an unreachable database is not fatal: submits wait locally. */
  int fail = FAIL_NONE;
  if (rc == METER_OK && (rc = run_op(s, C_READ, open_body, NULL, &fail, err)) != METER_OK &&
      fail == FAIL_CONN && s->fb && s->backend) {
    if (s->log)
      MTR_WARN(s->log, "%s; records will wait in the fallback %s", err->message,
               cfg->fallback_path);
    mtr_error_clear(err);
    rc = METER_OK;
  }
  if (rc != METER_OK) {
    pg_close(&s->base);
    return rc;
  }
  *out = &s->base;
  return METER_OK;
}

static const char *pg_backend(mtr_store *base)
{
  return ((pg_store *)base)->backend;
}

/* Every replica may send: claims decide who sends what. */
static int pg_acquire_sender(mtr_store *base, int *acquired, meter_error *err)
{
  (void)base;
  (void)err;
  *acquired = 1;
  return METER_OK;
}

static void pg_release_sender(mtr_store *base)
{
  (void)base;
}

/* ---- append ----------------------------------------------------------------------- */

typedef struct append_ctx {
  mtr_store_input *const *in;
  size_t n;
} append_ctx;

/* One INSERT .. SELECT FROM unnest(..) ON CONFLICT DO NOTHING: one round trip;
 * safe to repeat (a record already in the inbox is not stored again, and one
 * already sorted is dropped as a duplicate by ingest). */
static int append_body(pg_store *s, pg_conn *pc, void *ctx, meter_error *err)
{
  append_ctx *x = ctx;
  arr a[12];
  memset(a, 0, sizeof a);
  for (size_t i = 0; i < x->n; i++) {
    const mtr_store_input *in = x->in[i];
    a_text(&a[0], in->ikey);
    a_text(&a[1], in->body);
    a_text(&a[2], in->batch_key);
    a_int(&a[3], in->batch_limit);
    a_int(&a[4], in->time_us);
    a_int(&a[5], in->window_us);
    a_int(&a[6], in->flags);
    a_text(&a[7], in->agg_key);
    a_int(&a[8], in->quantity);
    a_text(&a[9], in->allocs);
    a_int(&a[10], (int64_t)in->bytes);
    a_int(&a[11], in->submitted_us);
  }
  params p = spool_param(s);
  int rc = p_arrays(&p, a, 12, err);
  if (rc == METER_OK)
    rc = q_run(s, pc, P_APPEND, &p, err);
  arrs_dispose(a, 12);
  return rc;
}

static int pg_append(mtr_store *base, mtr_store_input *const *in, size_t n, int64_t now,
                     meter_error *err)
{
  pg_store *s = (pg_store *)base;
  for (size_t i = 0; i < n; i++)
    in[i]->submitted_us = now;
  append_ctx x = { in, n };
  int fail = FAIL_NONE;
  int rc = run_op(s, C_SUBMIT, append_body, &x, &fail, err);
  if (rc == METER_OK) {
    if (atomic_exchange(&s->fb_active, 0) && s->log)
      MTR_INFO(s->log, "spool: PostgreSQL at %s takes submits again", s->display);
    return METER_OK;
  }
  if (fail != FAIL_CONN || !s->fb)
    return rc;
  /* The database cannot be reached: the records wait locally. */
  meter_error why;
  mtr_error_copy(&why, err);
  mtr_error_clear(err);
  rc = mtr_fallback_append(s->fb, in, n, now, err);
  if (rc == METER_OK && !atomic_exchange(&s->fb_active, 1) && s->log)
    MTR_WARN(s->log, "%s; submits wait in the local fallback until it answers", why.message);
  return rc;
}

/* ---- ingest: sorting the inbox into units ---------------------------------------- */

/* (key, number) -> index, open addressing; keys are borrowed. */
typedef struct keytab {
  size_t *slot;             /* index + 1; 0 = empty */
  size_t cap;
  const char **keys;
  int64_t *nums;
  size_t n, ncap;
} keytab;

static uint64_t key_hash(const char *k, int64_t num)
{
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char *c = (const unsigned char *)k; *c; c++)
    h = (h ^ *c) * 1099511628211ULL;
  h ^= (uint64_t)num * 0x9E3779B97F4A7C15ULL;
  return h ^ (h >> 29);
}

static void keytab_dispose(keytab *t)
{
  mtr_free(t->slot);
  mtr_free(t->keys);
  mtr_free(t->nums);
  memset(t, 0, sizeof *t);
}

/* The index of (k, num), or -1. */
static long keytab_find(const keytab *t, const char *k, int64_t num)
{
  if (!t->cap)
    return -1;
  for (size_t i = key_hash(k, num) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
    size_t v = t->slot[i];
    if (!v)
      return -1;
    if (t->nums[v - 1] == num && strcmp(t->keys[v - 1], k) == 0)
      return (long)(v - 1);
  }
}

/* Adds (k, num) (not present); returns its index or -1 on ENOMEM. */
static long keytab_add(keytab *t, const char *k, int64_t num)
{
  if ((t->n + 1) * 2 > t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    size_t *slot = mtr_calloc(cap, sizeof *slot);
    if (!slot)
      return -1;
    for (size_t j = 0; j < t->n; j++) {
      size_t i = key_hash(t->keys[j], t->nums[j]) & (cap - 1);
      while (slot[i])
        i = (i + 1) & (cap - 1);
      slot[i] = j + 1;
    }
    mtr_free(t->slot);
    t->slot = slot;
    t->cap = cap;
  }
  if (t->n == t->ncap) {
    size_t ncap = t->ncap ? t->ncap * 2 : 64;
    const char **keys = mtr_realloc((void *)t->keys, ncap * sizeof *keys);
    if (!keys)
      return -1;
    t->keys = keys;
    int64_t *nums = mtr_realloc(t->nums, ncap * sizeof *nums);
    if (!nums)
      return -1;
    t->nums = nums;
    t->ncap = ncap;
  }
  size_t i = key_hash(k, num) & (t->cap - 1);
  while (t->slot[i])
    i = (i + 1) & (t->cap - 1);
  t->keys[t->n] = k;
  t->nums[t->n] = num;
  t->slot[i] = ++t->n;
  return (long)(t->n - 1);
}

/* An hour's aggregate as this transaction sees and changes it. */
typedef struct hour_st {
  int present;              /* a unit exists (in the database, or new here) */
  int64_t id;
  int state;
  unsigned flags;
  int64_t total;
  char *allocs;             /* current canonical allocations (owned) */
  int64_t added, nrecords, bytes; /* what this transaction adds */
  int revise;               /* delivered, and records arrived: next revision */
  const mtr_store_input *tmpl; /* the first record added here */
} hour_st;

typedef struct contrib {
  size_t hour;
  const mtr_store_input *in;
} contrib;

typedef struct late_rec {
  const mtr_store_input *in;
  const char *code;
  char *why;
} late_rec;

/* Sums aggregated inputs into their hours (the rules of store.h, ingest). */
typedef struct engine {
  pg_store *s;
  pg_conn *pc;
  int64_t now;
  keytab hours;
  hour_st *st;
  size_t stcap;
  contrib *cs;
  size_t nc, ccap;
  late_rec *ls;
  size_t nl, lcap;
  mtr_buf merged;
} engine;

static void engine_dispose(engine *e)
{
  for (size_t i = 0; i < e->hours.n; i++)
    mtr_free(e->st[i].allocs);
  mtr_free(e->st);
  for (size_t i = 0; i < e->nl; i++)
    mtr_free(e->ls[i].why);
  mtr_free(e->ls);
  mtr_free(e->cs);
  keytab_dispose(&e->hours);
  mtr_buf_dispose(&e->merged);
}

static long hour_add(engine *e, const char *agg_key, int64_t hour)
{
  if (e->hours.n >= e->stcap) {
    size_t cap = e->stcap ? e->stcap * 2 : 64;
    hour_st *grown = mtr_realloc(e->st, cap * sizeof *grown);
    if (!grown)
      return -1;
    e->st = grown;
    e->stcap = cap;
  }
  long i = keytab_add(&e->hours, agg_key, hour);
  if (i >= 0)
    memset(&e->st[i], 0, sizeof e->st[i]);
  return i;
}

/* Loads (locking) the units of the hours known to the table from `from` on. */
static int load_hours(engine *e, size_t from, meter_error *err)
{
  if (from >= e->hours.n)
    return METER_OK;
  arr a[2];
  memset(a, 0, sizeof a);
  for (size_t i = from; i < e->hours.n; i++) {
    a_text(&a[0], e->hours.keys[i]);
    a_int(&a[1], e->hours.nums[i]);
  }
  params p = spool_param(e->s);
  int rc = p_arrays(&p, a, 2, err);
  PGresult *r = rc == METER_OK ? q(e->s, e->pc, P_LOAD_HOURS, &p, err) : NULL;
  if (rc == METER_OK && !r)
    rc = METER_ESTORE;
  for (int row = 0; r && rc == METER_OK && row < PQntuples(r); row++) {
    long i = keytab_find(&e->hours, PQgetvalue(r, row, 5), v_int(r, row, 6));
    if (i < 0)
      continue;
    hour_st *h = &e->st[i];
    h->present = 1;
    h->id = v_int(r, row, 0);
    h->state = (int)v_int(r, row, 1);
    h->flags = (unsigned)v_int(r, row, 2);
    h->total = v_int(r, row, 3);
    if (!PQgetisnull(r, row, 4) && !(h->allocs = mtr_strdup(PQgetvalue(r, row, 4))))
      rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  PQclear(r);
  arrs_dispose(a, 2);
  return rc;
}

/* The hour's state, loading it if this transaction has not seen it yet. */
static long hour_get(engine *e, const char *agg_key, int64_t hour, meter_error *err)
{
  long i = keytab_find(&e->hours, agg_key, hour);
  if (i >= 0)
    return i;
  if ((i = hour_add(e, agg_key, hour)) < 0) {
    mtr_error_set(err, METER_ENOMEM, "out of memory");
    return -1;
  }
  return load_hours(e, (size_t)i, err) == METER_OK ? i : -1;
}

static int add_late(engine *e, const mtr_store_input *in, const char *code, const char *why,
                    meter_error *err)
{
  if (e->nl == e->lcap) {
    size_t cap = e->lcap ? e->lcap * 2 : 16;
    late_rec *grown = mtr_realloc(e->ls, cap * sizeof *grown);
    if (!grown)
      return mtr_error_set(err, METER_ENOMEM, "out of memory");
    e->ls = grown;
    e->lcap = cap;
  }
  char *copy = mtr_strdup(why);
  if (!copy)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  e->ls[e->nl++] = (late_rec){ in, code, copy };
  return METER_OK;
}

static int add_contrib(engine *e, size_t hour, const mtr_store_input *in, meter_error *err)
{
  if (e->nc == e->ccap) {
    size_t cap = e->ccap ? e->ccap * 2 : 64;
    contrib *grown = mtr_realloc(e->cs, cap * sizeof *grown);
    if (!grown)
      return mtr_error_set(err, METER_ENOMEM, "out of memory");
    e->cs = grown;
    e->ccap = cap;
  }
  e->cs[e->nc++] = (contrib){ hour, in };
  return METER_OK;
}

/* One aggregated input into its hour: the same rules as the SQLite store. */
static int merge(engine *e, const mtr_store_input *in, meter_error *err)
{
  int has_allocs = in->allocs && *in->allocs;
  int64_t hour = mtr_time_hour_floor(in->time_us);
  char ts[MTR_TIME_BUF], why[METER_ERROR_MESSAGE_SIZE];
  for (int hop = 0; hop <= MAX_LATE_HOPS; hop++, hour += MTR_US_PER_HOUR) {
    long i = hour_get(e, in->agg_key, hour, err);
    if (i < 0)
      return err->status ? err->status : METER_ESTORE;
    hour_st *h = &e->st[i];
    if (!h->present) {
      h->present = 1;
      h->state = ST_OPEN;
      h->flags = in->flags;
      h->total = h->added = in->quantity;
      h->nrecords = 1;
      h->bytes = (int64_t)(in->bytes + strlen(in->body));
      h->tmpl = in;
      if (has_allocs && !(h->allocs = mtr_strdup(in->allocs)))
        return mtr_error_set(err, METER_ENOMEM, "out of memory");
      return add_contrib(e, (size_t)i, in, err);
    }
    int row_allocs = h->allocs && *h->allocs;
    if (row_allocs != has_allocs) {
      mtr_fmt(why, sizeof why,
              "allocations: the records of one customer, dimension and hour must all carry "
              "usage allocations or none (the hour %s already has records %s them); kept as "
              "a dead letter", mtr_time_format(hour, MTR_TIME_RFC3339, ts),
              row_allocs ? "with" : "without");
      return add_late(e, in, "allocations_mismatch", why, err);
    }
    int late = h->state != ST_OPEN;
    int revise = late && (h->flags & MTR_UNIT_REPLACES) &&
                 e->s->late_policy != METER_SPOOL_LATE_DEAD_LETTER;
    if (!late || revise) {
      if (h->total > INT64_MAX - in->quantity) {
        mtr_fmt(why, sizeof why, "quantity: the total of the hour %s would overflow; kept as "
                "a dead letter", mtr_time_format(hour, MTR_TIME_RFC3339, ts));
        return add_late(e, in, "overflow", why, err);
      }
      if (has_allocs) {
        mtr_buf_clear(&e->merged);
        int rc = mtr_allocs_merge(h->allocs, in->allocs, &e->merged);
        if (rc != METER_OK)
          return mtr_error_set(err, rc, "spool: cannot merge allocations of hour %s",
                               mtr_time_format(hour, MTR_TIME_RFC3339, ts));
        char *copy = mtr_strdup(mtr_buf_cstr(&e->merged));
        if (!copy)
          return mtr_error_set(err, METER_ENOMEM, "out of memory");
        mtr_free(h->allocs);
        h->allocs = copy;
      }
      h->total += in->quantity;
      h->added += in->quantity;
      h->nrecords++;
      h->bytes += (int64_t)in->bytes;
      if (!h->tmpl)
        h->tmpl = in;
      if (revise && h->state == ST_DELIVERED) {
        h->revise = 1;
        h->state = ST_PENDING;
      }
      return add_contrib(e, (size_t)i, in, err);
    }
    if (e->s->late_policy == METER_SPOOL_LATE_NEXT_HOUR && hop < MAX_LATE_HOPS)
      continue;
    mtr_fmt(why, sizeof why,
            "late: the hour %s of this customer and dimension was already reported to the "
            "marketplace, which takes one report per hour; kept as a dead letter",
            mtr_time_format(mtr_time_hour_floor(in->time_us), MTR_TIME_RFC3339, ts));
    return add_late(e, in, "late", why, err);
  }
  return METER_OK;
}

/* Reads one unit (UNIT_COLS from column `c0`) of a result row. */
static int read_unit(const PGresult *r, int row, mtr_unit *u)
{
  memset(u, 0, sizeof *u);
  u->id = v_int(r, row, 0);
  u->kind = (int)v_int(r, row, 1);
  u->state = (int)v_int(r, row, 2);
  u->flags = (unsigned)v_int(r, row, 3);
  u->ikey = v_dup(r, row, 4);
  u->body = v_dup(r, row, 5);
  u->agg_key = v_dup(r, row, 6);
  u->time_us = v_int(r, row, 7);
  u->window_us = v_int(r, row, 8);
  u->quantity = v_int(r, row, 9);
  u->sent_quantity = v_int(r, row, 10);
  u->allocs = v_dup(r, row, 11);
  u->revision = (int)v_int(r, row, 12);
  u->nrecords = (uint64_t)v_int(r, row, 13);
  u->bytes = (uint64_t)v_int(r, row, 14);
  u->submitted_us = v_int(r, row, 15);
  u->ready_us = v_int(r, row, 16);
  u->attempts = (unsigned)v_int(r, row, 17);
  u->outcome = (int)v_int(r, row, 18);
  u->error_code = v_dup(r, row, 19);
  u->message = v_dup(r, row, 20);
  u->record_id = v_dup(r, row, 21);
  int ok = u->ikey && u->body && (PQgetisnull(r, row, 6) || u->agg_key) &&
           (PQgetisnull(r, row, 11) || u->allocs) && (PQgetisnull(r, row, 19) || u->error_code) &&
           (PQgetisnull(r, row, 20) || u->message) && (PQgetisnull(r, row, 21) || u->record_id);
  return ok ? METER_OK : METER_ENOMEM;
}

/* Writes what the engine decided: hours (one upsert), contributions, late
 * dead letters (returned in *dead when wanted). */
static int engine_flush(engine *e, mtr_unit **dead, size_t *ndead, meter_error *err)
{
  pg_store *s = e->s;
  int rc = METER_OK;
  /* The hours: INSERT .. ON CONFLICT DO UPDATE, quantities as increments. */
  arr a[15];
  memset(a, 0, sizeof a);
  size_t touched = 0;
  for (size_t i = 0; i < e->hours.n; i++) {
    hour_st *h = &e->st[i];
    if (!h->tmpl)
      continue;
    touched++;
    char ikey[MTR_UUID_LEN + 1];
    int64_t hour = e->hours.nums[i];
    mtr_agg_ikey(s->backend, e->hours.keys[i], hour, 0, ikey);
    a_text(&a[0], ikey);
    a_text(&a[1], h->tmpl->body);
    a_int(&a[2], h->bytes);
    a_int(&a[3], h->nrecords);
    a_text(&a[4], h->tmpl->batch_key);
    a_int(&a[5], h->tmpl->batch_limit);
    a_int(&a[6], hour);
    a_int(&a[7], h->tmpl->window_us);
    a_int(&a[8], h->flags);
    a_text(&a[9], e->hours.keys[i]);
    a_int(&a[10], h->added);
    a_text(&a[11], h->allocs && *h->allocs ? h->allocs : NULL);
    a_int(&a[12], h->tmpl->submitted_us ? h->tmpl->submitted_us : e->now);
    a_int(&a[13], h->revise ? e->now : hour + MTR_US_PER_HOUR + s->grace_us);
    a_int(&a[14], h->revise ? 1 : 0);
  }
  if (touched) {
    params p = spool_param(s);
    rc = p_arrays(&p, a, 15, err);
    PGresult *r = rc == METER_OK ? q(s, e->pc, P_UPSERT_AGG, &p, err) : NULL;
    if (rc == METER_OK && !r)
      rc = METER_ESTORE;
    for (int row = 0; r && row < PQntuples(r); row++) {
      long i = keytab_find(&e->hours, PQgetvalue(r, row, 1), v_int(r, row, 2));
      if (i >= 0)
        e->st[i].id = v_int(r, row, 0);
    }
    PQclear(r);
  }
  arrs_dispose(a, 15);

  /* The contributions (their keys and quantities, kept until purged). */
  if (rc == METER_OK && e->nc) {
    arr c[4];
    memset(c, 0, sizeof c);
    for (size_t i = 0; i < e->nc; i++) {
      a_int(&c[0], e->st[e->cs[i].hour].id);
      a_text(&c[1], e->cs[i].in->ikey);
      a_int(&c[2], e->cs[i].in->quantity);
      a_int(&c[3], e->cs[i].in->time_us);
    }
    params p;
    p.n = 0;
    rc = p_arrays(&p, c, 4, err);
    if (rc == METER_OK)
      rc = q_run(s, e->pc, P_INS_CONTRIBS, &p, err);
    arrs_dispose(c, 4);
  }

  /* Late records: dead letters. */
  if (rc == METER_OK && e->nl) {
    arr l[14];
    memset(l, 0, sizeof l);
    for (size_t i = 0; i < e->nl; i++) {
      const mtr_store_input *in = e->ls[i].in;
      a_text(&l[0], in->ikey);
      a_text(&l[1], in->body);
      a_int(&l[2], (int64_t)in->bytes);
      a_text(&l[3], in->batch_key);
      a_int(&l[4], in->batch_limit);
      a_int(&l[5], in->time_us);
      a_int(&l[6], in->window_us);
      a_int(&l[7], in->flags);
      a_text(&l[8], in->agg_key);
      a_int(&l[9], in->quantity);
      a_text(&l[10], in->allocs);
      a_int(&l[11], in->submitted_us ? in->submitted_us : e->now);
      a_text(&l[12], e->ls[i].code);
      a_text(&l[13], e->ls[i].why);
    }
    params p = spool_param(s);
    rc = p_arrays(&p, l, 12, err);
    if (rc == METER_OK) {
      p_int(&p, e->now);
      p_int(&p, METER_OUTCOME_CONFLICT);
      rc = p_arrays(&p, l + 12, 2, err);
    }
    PGresult *r = rc == METER_OK ? q(s, e->pc, P_INS_LATE, &p, err) : NULL;
    if (rc == METER_OK && !r)
      rc = METER_ESTORE;
    if (r && dead && PQntuples(r) > 0) {
      /* Only the report is lost if this fails: the dead letters are stored. */
      mtr_unit *grown = mtr_realloc(*dead, (*ndead + (size_t)PQntuples(r)) * sizeof *grown);
      if (grown) {
        *dead = grown;
        for (int row = 0; row < PQntuples(r); row++) {
          if (read_unit(r, row, &grown[*ndead]) == METER_OK)
            (*ndead)++;
          else
            mtr_unit_dispose(&grown[*ndead]);
        }
      }
    }
    PQclear(r);
    arrs_dispose(l, 14);
  }
  return rc;
}

/* Inbox rows as inputs, in id order, pointing into the result. */
typedef struct taken {
  PGresult *r;
  mtr_store_input *in;
  int n;
} taken;

static int cmp_ids(const void *a, const void *b)
{
  int64_t x = ((const int64_t *)a)[0], y = ((const int64_t *)b)[0];
  return x < y ? -1 : x > y;
}

static int take_rows(pg_store *s, pg_conn *pc, int64_t before, size_t max, taken *t,
                     meter_error *err)
{
  memset(t, 0, sizeof *t);
  params p = spool_param(s);
  p_int(&p, before);
  p_int(&p, (int64_t)(max ? max : 1));
  t->r = q(s, pc, P_TAKE, &p, err);
  if (!t->r)
    return METER_ESTORE;
  t->n = PQntuples(t->r);
  if (t->n == 0)
    return METER_OK;
  /* DELETE .. RETURNING has no order: sort by id (oldest first). */
  int64_t (*order)[2] = mtr_calloc((size_t)t->n, sizeof *order);
  t->in = mtr_calloc((size_t)t->n, sizeof *t->in);
  if (!order || !t->in) {
    mtr_free(order);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  for (int i = 0; i < t->n; i++) {
    order[i][0] = v_int(t->r, i, 0);
    order[i][1] = i;
  }
  qsort(order, (size_t)t->n, sizeof *order, cmp_ids);
  for (int k = 0; k < t->n; k++) {
    int i = (int)order[k][1];
    mtr_store_input *in = &t->in[k];
    in->ikey = v_text(t->r, i, 1);
    in->body = v_text(t->r, i, 2);
    in->batch_key = v_text(t->r, i, 3);
    in->batch_limit = (uint32_t)v_int(t->r, i, 4);
    in->time_us = v_int(t->r, i, 5);
    in->window_us = v_int(t->r, i, 6);
    in->flags = (unsigned)v_int(t->r, i, 7);
    in->agg_key = v_text(t->r, i, 8);
    in->quantity = v_int(t->r, i, 9);
    in->allocs = v_text(t->r, i, 10);
    in->bytes = (uint64_t)v_int(t->r, i, 11);
    in->submitted_us = v_int(t->r, i, 12);
  }
  mtr_free(order);
  return METER_OK;
}

static void taken_dispose(taken *t)
{
  PQclear(t->r);
  mtr_free(t->in);
  memset(t, 0, sizeof *t);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts a chunk of inputs into units (dedup, records, aggregates, late). */
static int sort_chunk(pg_store *s, pg_conn *pc, taken *t, int64_t now, mtr_ingest_result *out,
                      meter_error *err)
{
  if (t->n == 0)
    return METER_OK;
  /* Deduplication: the keys meter_seen did not hold yet. */
  arr keys;
  memset(&keys, 0, sizeof keys);
  for (int i = 0; i < t->n; i++)
    a_text(&keys, t->in[i].ikey);
  params p = spool_param(s);
  int rc = p_arrays(&p, &keys, 1, err);
  PGresult *fresh = rc == METER_OK ? q(s, pc, P_SEE, &p, err) : NULL;
  arrs_dispose(&keys, 1);
  if (!fresh)
    return rc == METER_OK ? METER_ESTORE : rc;
  int nf = PQntuples(fresh);
  const char **fk = mtr_calloc((size_t)nf + 1, sizeof *fk);
  if (!fk) {
    PQclear(fresh);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  for (int i = 0; i < nf; i++)
    fk[i] = PQgetvalue(fresh, i, 0);
  qsort(fk, (size_t)nf, sizeof *fk, cmp_str);

  engine e;
  memset(&e, 0, sizeof e);
  e.s = s;
  e.pc = pc;
  e.now = now;
  arr rec[9];
  memset(rec, 0, sizeof rec);
  size_t nrec = 0;
  for (int i = 0; rc == METER_OK && i < t->n; i++) {
    mtr_store_input *in = &t->in[i];
    out->moved++;
    uint64_t inbox_bytes = in->bytes;
    if (!bsearch(&in->ikey, fk, (size_t)nf, sizeof *fk, cmp_str)) {
      out->duplicates++;
      out->freed_bytes += inbox_bytes;
      in->bytes = 0;
      in->flags |= 0x80000000u; /* marks a dropped duplicate for the passes below */
      continue;
    }
    if (in->flags & MTR_UNIT_AGGREGATE) {
      in->bytes = MTR_CONTRIBUTION_BYTES + strlen(in->ikey);
      if (keytab_find(&e.hours, in->agg_key, mtr_time_hour_floor(in->time_us)) < 0 &&
          hour_add(&e, in->agg_key, mtr_time_hour_floor(in->time_us)) < 0)
        rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
    } else {
      in->bytes = strlen(in->body);
      a_text(&rec[0], in->ikey);
      a_text(&rec[1], in->body);
      a_int(&rec[2], (int64_t)in->bytes);
      a_text(&rec[3], in->batch_key);
      a_int(&rec[4], in->batch_limit);
      a_int(&rec[5], in->time_us);
      a_int(&rec[6], in->window_us);
      a_int(&rec[7], in->flags);
      a_int(&rec[8], in->submitted_us);
      nrec++;
    }
    if (inbox_bytes > in->bytes)
      out->freed_bytes += inbox_bytes - in->bytes;
  }
  if (rc == METER_OK && nrec) {
    params pr = spool_param(s);
    rc = p_arrays(&pr, rec, 9, err);
    if (rc == METER_OK) {
      p_int(&pr, now);
      rc = q_run(s, pc, P_INS_RECORDS, &pr, err);
    }
  }
  arrs_dispose(rec, 9);
  /* Aggregates: lock the chunk's hours at once, then sum in order. */
  if (rc == METER_OK && e.hours.n)
    rc = load_hours(&e, 0, err);
  for (int i = 0; rc == METER_OK && i < t->n; i++) {
    mtr_store_input *in = &t->in[i];
    if ((in->flags & MTR_UNIT_AGGREGATE) && !(in->flags & 0x80000000u))
      rc = merge(&e, in, err);
  }
  if (rc == METER_OK)
    rc = engine_flush(&e, &out->dead, &out->ndead, err);
  engine_dispose(&e);
  mtr_free(fk);
  PQclear(fresh);
  return rc;
}

typedef struct ingest_ctx {
  size_t max;
  int64_t before, now;
  int seal;                 /* seal in the same transaction (everything ingested first) */
  int include_started;
  mtr_ingest_result out;
  int busy;                 /* another replica holds the ingest lock */
} ingest_ctx;

static void result_reset(mtr_ingest_result *r)
{
  mtr_units_free(r->dead, r->ndead);
  memset(r, 0, sizeof *r);
}

static int ingest_body(pg_store *s, pg_conn *pc, void *ctx, meter_error *err)
{
  ingest_ctx *x = ctx;
  result_reset(&x->out);
  x->busy = 0;
  int rc = sql_run(s, pc, "BEGIN", err);
  params p = spool_param(s);
  PGresult *r = rc == METER_OK ? q(s, pc, x->seal ? P_INGEST_WAIT : P_INGEST_TRY, &p, err) : NULL;
  if (rc == METER_OK && !r)
    rc = METER_ESTORE;
  if (r && !x->seal && strcmp(PQgetvalue(r, 0, 0), "t") != 0)
    x->busy = 1;
  PQclear(r);
  if (rc != METER_OK || x->busy)
    return rc == METER_OK ? sql_run(s, pc, "COMMIT", err) : rc;
  /* Sealing takes everything in the inbox, whatever its submission time
   * (replicas' clocks differ): a submit that returned is never late. */
  for (int round = 0; rc == METER_OK && round < (x->seal ? SEAL_MAX_CHUNKS : 1); round++) {
    taken t;
    rc = take_rows(s, pc, x->seal ? INT64_MAX : x->before, x->max, &t, err);
    if (rc == METER_OK)
      rc = sort_chunk(s, pc, &t, x->now, &x->out, err);
    int n = t.n;
    taken_dispose(&t);
    if ((size_t)n < x->max)
      break;
  }
  if (rc == METER_OK && x->seal) {
    params ps = spool_param(s);
    p_int(&ps, x->now);
    p_text(&ps, x->include_started ? "true" : "false");
    rc = q_run(s, pc, P_SEAL, &ps, err);
  }
  if (rc == METER_OK)
    rc = sql_run(s, pc, "COMMIT", err);
  return rc;
}

/* Records waiting in the local fallback go to the database, oldest first. */
static int forward_fallback(pg_store *s, meter_error *err)
{
  for (int round = 0; round < FORWARD_MAX_CHUNKS && mtr_fallback_maybe_waiting(s->fb); round++) {
    mtr_fallback_rows rows;
    int rc = mtr_fallback_take(s->fb, FORWARD_CHUNK, &rows, err);
    if (rc != METER_OK || rows.n == 0) {
      mtr_fallback_rows_dispose(&rows);
      return rc;
    }
    mtr_store_input **ptrs = mtr_calloc(rows.n, sizeof *ptrs);
    if (!ptrs) {
      mtr_fallback_rows_dispose(&rows);
      return mtr_error_set(err, METER_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < rows.n; i++)
      ptrs[i] = &rows.in[i];
    append_ctx x = { ptrs, rows.n };
    rc = run_op(s, C_SENDER, append_body, &x, NULL, err);
    mtr_free(ptrs);
    size_t n = rows.n;
    if (rc == METER_OK) {
      rc = mtr_fallback_drop(s->fb, &rows, err);
      if (rc == METER_OK && s->log)
        MTR_INFO(s->log, "spool: %zu record(s) forwarded from the local fallback to %s", n,
                 s->display);
    } else {
      mtr_fallback_rows_dispose(&rows);
    }
    if (rc != METER_OK)
      return rc;
  }
  return METER_OK;
}

static int pg_ingest(mtr_store *base, size_t max, int64_t before, int64_t now,
                     mtr_ingest_result *out, meter_error *err)
{
  pg_store *s = (pg_store *)base;
  memset(out, 0, sizeof *out);
  if (s->fb) {
    int rc = forward_fallback(s, err);
    if (rc != METER_OK)
      return rc;
  }
  ingest_ctx x;
  memset(&x, 0, sizeof x);
  x.max = max ? max : 1;
  x.before = before;
  x.now = now;
  int rc = run_op(s, C_SENDER, ingest_body, &x, NULL, err);
  if (rc != METER_OK) {
    result_reset(&x.out);
    return rc;
  }
  atomic_store(&s->ingest_busy_at, x.busy ? (long long)now : 0);
  *out = x.out;
  /* Dead letters found while sealing are reported here. */
  mtr_mutex_lock(&s->stash_lock);
  if (s->nstash) {
    mtr_unit *grown = mtr_realloc(out->dead, (out->ndead + s->nstash) * sizeof *grown);
    if (grown) {
      memcpy(grown + out->ndead, s->stash, s->nstash * sizeof *grown);
      out->dead = grown;
      out->ndead += s->nstash;
      mtr_free(s->stash);
      s->stash = NULL;
      s->nstash = 0;
    }
  }
  mtr_mutex_unlock(&s->stash_lock);
  return METER_OK;
}

/* ---- sealing --------------------------------------------------------------------- */

typedef struct seal_ctx {
  int64_t now;
  int include_started;
  int due;
} seal_ctx;

static int seal_check(pg_store *s, pg_conn *pc, void *ctx, meter_error *err)
{
  seal_ctx *x = ctx;
  params p = spool_param(s);
  p_int(&p, x->now);
  p_text(&p, x->include_started ? "true" : "false");
  PGresult *r = q(s, pc, P_SEAL_CHECK, &p, err);
  if (!r)
    return METER_ESTORE;
  x->due = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  PQclear(r);
  return METER_OK;
}

static int pg_seal(mtr_store *base, int64_t now, int include_started, meter_error *err)
{
  pg_store *s = (pg_store *)base;
  seal_ctx c = { now, include_started, 0 };
  int rc = run_op(s, C_SENDER, seal_check, &c, NULL, err);
  if (rc != METER_OK || !c.due)
    return rc;
  ingest_ctx x;
  memset(&x, 0, sizeof x);
  x.max = SEAL_CHUNK;
  x.before = INT64_MAX;
  x.now = now;
  x.seal = 1;
  x.include_started = include_started;
  rc = run_op(s, C_SENDER, ingest_body, &x, NULL, err);
  if (rc == METER_OK && x.out.ndead) {
    mtr_mutex_lock(&s->stash_lock);
    mtr_unit *grown = mtr_realloc(s->stash, (s->nstash + x.out.ndead) * sizeof *grown);
    if (grown) {
      memcpy(grown + s->nstash, x.out.dead, x.out.ndead * sizeof *grown);
      s->stash = grown;
      s->nstash += x.out.ndead;
      mtr_free(x.out.dead);
      x.out.dead = NULL;
      x.out.ndead = 0;
    }
    mtr_mutex_unlock(&s->stash_lock);
  }
  result_reset(&x.out);
  return rc;
}

/* ---- claiming ----------------------------------------------------------------------- */

typedef struct claim_ctx {
  const mtr_claim_params *p;
  mtr_claim out;
} claim_ctx;

static int load_members(pg_store *s, pg_conn *pc, const char *batch, mtr_claim *out,
                        meter_error *err)
{
  params p;
  p.n = 0;
  p_text(&p, batch);
  PGresult *r = q(s, pc, P_MEMBERS, &p, err);
  if (!r)
    return METER_ESTORE;
  int n = PQntuples(r), rc = METER_OK;
  if (n > 0 && !(out->units = mtr_calloc((size_t)n, sizeof *out->units)))
    rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
  for (int i = 0; rc == METER_OK && i < n; i++) {
    rc = read_unit(r, i, &out->units[i]);
    out->count++;
    if (rc != METER_OK)
      mtr_error_set(err, rc, "out of memory");
  }
  PQclear(r);
  return rc;
}

/* One id from a query with the given parameters ("" if none). */
static int select_one(pg_store *s, pg_conn *pc, int which, const params *p, char *out,
                      size_t size, meter_error *err)
{
  out[0] = '\0';
  PGresult *r = q(s, pc, which, p, err);
  if (!r)
    return METER_ESTORE;
  if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
    mtr_strlcpy(out, PQgetvalue(r, 0, 0), size);
  PQclear(r);
  return METER_OK;
}

/* A new batch: the oldest due unit's batch key, up to its limit. */
static int new_batch(pg_store *s, pg_conn *pc, const mtr_claim_params *cp, char *id, size_t size,
                     meter_error *err)
{
  id[0] = '\0';
  params p = spool_param(s);
  p_int(&p, cp->now_us);
  PGresult *r = q(s, pc, P_OLDEST, &p, err);
  if (!r)
    return METER_ESTORE;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return METER_OK;
  }
  char *key = mtr_strdup(PQgetvalue(r, 0, 0));
  int64_t limit = v_int(r, 0, 1);
  PQclear(r);
  if (!key)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  if (limit < 1)
    limit = 1;
  if (cp->max_units && (uint64_t)limit > cp->max_units)
    limit = (int64_t)cp->max_units;
  params nb = spool_param(s);
  p_text(&nb, key);
  p_int(&nb, cp->now_us);
  int rc = select_one(s, pc, P_NEW_BATCH, &nb, id, size, err);
  if (rc == METER_OK) {
    params f = spool_param(s);
    p_text(&f, key);
    p_int(&f, cp->now_us);
    p_int(&f, limit);
    p_text(&f, id);
    rc = q_run(s, pc, P_FILL_BATCH, &f, err);
  }
  mtr_free(key);
  return rc;
}

static int claim_body(pg_store *s, pg_conn *pc, void *ctx, meter_error *err)
{
  claim_ctx *x = ctx;
  const mtr_claim_params *cp = x->p;
  mtr_claim_dispose(&x->out);
  int rc = sql_run(s, pc, "BEGIN", err);
  char id[32] = "";
  int step = 0;
  /* An orphan (lease expired, or ours from a completion that failed), a
   * parked batch due again, a new one. A batch left without members to
   * send is dropped and the same source asked again. */
  while (rc == METER_OK && step < 3) {
    params p = spool_param(s);
    if (step == 0) {
      p_text(&p, cp->owner);
      p_int(&p, cp->now_us);
      rc = select_one(s, pc, P_ORPHAN, &p, id, sizeof id, err);
    } else if (step == 1) {
      p_int(&p, cp->now_us);
      rc = select_one(s, pc, P_PARKED, &p, id, sizeof id, err);
    } else {
      rc = new_batch(s, pc, cp, id, sizeof id, err);
    }
    if (rc != METER_OK)
      break;
    if (!id[0]) {
      step++;
      continue;
    }
    if ((rc = load_members(s, pc, id, &x->out, err)) != METER_OK)
      break;
    if (x->out.count > 0) {
      x->out.recovered = step == 0;
      break;
    }
    params d;
    d.n = 0;
    p_text(&d, id);
    rc = q_run(s, pc, P_DROP_BATCH, &d, err);
    id[0] = '\0';
    if (step == 2)
      break;
  }
  if (rc == METER_OK && id[0]) {
    params u;
    u.n = 0;
    p_text(&u, id);
    rc = q_run(s, pc, P_SENDING, &u, err);
    if (rc == METER_OK) {
      p_text(&u, cp->owner);
      p_int(&u, cp->now_us + cp->lease_us);
      rc = q_run(s, pc, P_LEASE, &u, err);
    }
    for (size_t i = 0; i < x->out.count; i++)
      x->out.units[i].state = ST_SENDING;
  }
  if (rc == METER_OK)
    rc = sql_run(s, pc, "COMMIT", err);
  if (rc == METER_OK && id[0])
    x->out.batch_id = strtoll(id, NULL, 10);
  return rc;
}

static int pg_claim(mtr_store *base, const mtr_claim_params *p, mtr_claim *out, meter_error *err)
{
  pg_store *s = (pg_store *)base;
  memset(out, 0, sizeof *out);
  if (!s->owner[0])
    mtr_strlcpy(s->owner, p->owner, sizeof s->owner);
  claim_ctx x;
  memset(&x, 0, sizeof x);
  x.p = p;
  int rc = run_op(s, C_SENDER, claim_body, &x, NULL, err);
  if (rc != METER_OK || !x.out.batch_id) {
    mtr_claim_dispose(&x.out);
    return rc;
  }
  *out = x.out;
  return METER_OK;
}

/* ---- completion ----------------------------------------------------------------------- */

typedef struct complete_ctx {
  const mtr_claim *b;
  const mtr_unit_result *res;
  int64_t now;
  uint64_t recs, bytes;
  int lost;                 /* the lease was taken over: only deliveries recorded */
} complete_ctx;

/* The marketplace already processed the hour: the delivered total stands and
 * what was added since becomes a LATE dead letter (as the SQLite store). */
static int conflict(pg_store *s, pg_conn *pc, complete_ctx *x, const mtr_unit *u,
                    const mtr_unit_result *r, const char *batch, meter_error *err)
{
  params p;
  p.n = 0;
  p_int(&p, u->id);
  p_text(&p, batch);
  PGresult *cur = q(s, pc, P_CUR_QTY, &p, err);
  if (!cur)
    return METER_ESTORE;
  if (PQntuples(cur) == 0) {
    PQclear(cur);
    return METER_OK; /* no longer ours to judge */
  }
  int64_t total = v_int(cur, 0, 0), sent = v_int(cur, 0, 1);
  int rc = METER_OK;
  if (sent > 0 && total > sent) {
    mtr_store_input late;
    memset(&late, 0, sizeof late);
    char ikey[MTR_UUID_LEN + 1], why[METER_ERROR_MESSAGE_SIZE], ts[MTR_TIME_BUF];
    late.body = PQgetvalue(cur, 0, 2);
    late.agg_key = v_text(cur, 0, 3);
    late.time_us = v_int(cur, 0, 4);
    late.window_us = v_int(cur, 0, 5);
    late.flags = (unsigned)v_int(cur, 0, 6);
    late.batch_key = PQgetvalue(cur, 0, 7);
    late.batch_limit = (uint32_t)v_int(cur, 0, 8);
    mtr_agg_ikey(s->backend, late.agg_key, late.time_us, (int)v_int(cur, 0, 9), ikey);
    late.ikey = ikey;
    late.quantity = total - sent;
    late.bytes = strlen(late.body);
    late.submitted_us = x->now;
    mtr_fmt(why, sizeof why,
            "late: %lld unit(s) arrived after the hour %s was reported (%lld units); the "
            "marketplace already processed that report and refused the new total (%s)",
            (long long)(total - sent), mtr_time_format(late.time_us, MTR_TIME_RFC3339, ts),
            (long long)sent, r->message ? r->message : "conflict");
    engine e;
    memset(&e, 0, sizeof e);
    e.s = s;
    e.pc = pc;
    e.now = x->now;
    rc = add_late(&e, &late, "late", why, err);
    if (rc == METER_OK)
      rc = engine_flush(&e, NULL, NULL, err);
    engine_dispose(&e);
  }
  if (rc == METER_OK && sent <= 0) {
    /* Nothing delivered before: an ordinary dead letter. */
    arr a[4];
    memset(a, 0, sizeof a);
    a_int(&a[0], u->id);
    a_int(&a[1], r->outcome);
    a_text(&a[2], r->error_code);
    a_text(&a[3], r->message);
    params d;
    d.n = 0;
    p_text(&d, batch);
    rc = p_arrays(&d, a, 4, err);
    if (rc == METER_OK) {
      p_int(&d, x->now);
      rc = q_run(s, pc, P_DEAD, &d, err);
    }
    arrs_dispose(a, 4);
  } else if (rc == METER_OK) {
    params sh;
    sh.n = 0;
    p_int(&sh, u->id);
    p_int(&sh, x->now);
    p_int(&sh, r->outcome);
    p_text(&sh, r->error_code);
    p_text(&sh, r->message);
    PGresult *t = q(s, pc, P_SHRINK, &sh, err);
    if (!t)
      rc = METER_ESTORE;
    else if (PQntuples(t) > 0) {
      x->recs += (uint64_t)v_int(t, 0, 0);
      x->bytes += (uint64_t)v_int(t, 0, 1);
    }
    PQclear(t);
  }
  PQclear(cur);
  return rc;
}

static int complete_body(pg_store *s, pg_conn *pc, void *ctx, meter_error *err)
{
  complete_ctx *x = ctx;
  const mtr_claim *b = x->b;
  x->recs = x->bytes = 0;
  x->lost = 0;
  char batch[32];
  snprintf(batch, sizeof batch, "%lld", (long long)b->batch_id);
  int rc = sql_run(s, pc, "BEGIN", err);
  params p;
  p.n = 0;
  p_text(&p, batch);
  PGresult *r = rc == METER_OK ? q(s, pc, P_BATCH_OWNER, &p, err) : NULL;
  if (rc == METER_OK && !r)
    rc = METER_ESTORE;
  if (r)
    x->lost = PQntuples(r) == 0 || PQgetisnull(r, 0, 0) || strcmp(PQgetvalue(r, 0, 0), s->owner);
  PQclear(r);

  /* Delivered (or due again as a revision), then retries and dead letters;
   * every update only touches units still in flight in this batch. */
  arr dl[4], rt[5], dd[4];
  memset(dl, 0, sizeof dl);
  memset(rt, 0, sizeof rt);
  memset(dd, 0, sizeof dd);
  size_t ndl = 0, nrt = 0, ndd = 0;
  for (size_t i = 0; rc == METER_OK && i < b->count; i++) {
    const mtr_unit *u = &b->units[i];
    const mtr_unit_result *v = &x->res[i];
    switch (v->verdict) {
    case MTR_UNIT_DELIVERED:
      a_int(&dl[0], u->id);
      a_int(&dl[1], v->outcome);
      a_text(&dl[2], v->record_id);
      a_int(&dl[3], u->quantity);
      ndl++;
      break;
    case MTR_UNIT_RETRY:
      a_int(&rt[0], u->id);
      a_int(&rt[1], v->retry_at_us);
      a_int(&rt[2], v->outcome);
      a_text(&rt[3], v->error_code);
      a_text(&rt[4], v->message);
      nrt++;
      break;
    case MTR_UNIT_DEAD:
      a_int(&dd[0], u->id);
      a_int(&dd[1], v->outcome);
      a_text(&dd[2], v->error_code);
      a_text(&dd[3], v->message);
      ndd++;
      break;
    case MTR_UNIT_CONFLICT:
      if (!x->lost)
        rc = conflict(s, pc, x, u, v, batch, err);
      break;
    }
  }
  if (rc == METER_OK && ndl) {
    params d;
    d.n = 0;
    p_text(&d, batch);
    rc = p_arrays(&d, dl, 4, err);
    if (rc == METER_OK) {
      p_int(&d, x->now);
      PGresult *t = q(s, pc, P_DELIVER, &d, err);
      if (!t)
        rc = METER_ESTORE;
      else {
        x->recs += (uint64_t)v_int(t, 0, 0);
        x->bytes += (uint64_t)v_int(t, 0, 1);
      }
      PQclear(t);
    }
  }
  if (rc == METER_OK && nrt && !x->lost) {
    params d;
    d.n = 0;
    p_text(&d, batch);
    rc = p_arrays(&d, rt, 5, err);
    if (rc == METER_OK)
      rc = q_run(s, pc, P_RETRY, &d, err);
  }
  if (rc == METER_OK && ndd && !x->lost) {
    params d;
    d.n = 0;
    p_text(&d, batch);
    rc = p_arrays(&d, dd, 4, err);
    if (rc == METER_OK) {
      p_int(&d, x->now);
      rc = q_run(s, pc, P_DEAD, &d, err);
    }
  }
  arrs_dispose(dl, 4);
  arrs_dispose(rt, 5);
  arrs_dispose(dd, 4);

  /* The batch: parked until its earliest member is due, or gone. A batch
   * whose lease another sender took is theirs now. */
  if (rc == METER_OK && !x->lost) {
    char next[32];
    rc = select_one(s, pc, P_BATCH_NEXT, &p, next, sizeof next, err);
    if (rc == METER_OK && next[0]) {
      params k;
      k.n = 0;
      p_text(&k, batch);
      p_text(&k, next);
      rc = q_run(s, pc, P_PARK, &k, err);
    } else if (rc == METER_OK) {
      rc = q_run(s, pc, P_DROP_BATCH, &p, err);
    }
  }
  if (rc == METER_OK)
    rc = sql_run(s, pc, "COMMIT", err);
  return rc;
}

static int pg_complete(mtr_store *base, const mtr_claim *b, const mtr_unit_result *res,
                       int64_t now, uint64_t *recs, uint64_t *bytes, meter_error *err)
{
  pg_store *s = (pg_store *)base;
  complete_ctx x;
  memset(&x, 0, sizeof x);
  x.b = b;
  x.res = res;
  x.now = now;
  int rc = run_op(s, C_SENDER, complete_body, &x, NULL, err);
  if (rc == METER_OK) {
    if (x.lost && s->log)
      MTR_WARN(s->log, "spool: the lease of batch %lld expired while it was sent and another "
                       "sender took it; only its deliveries were recorded here (lease_ms "
                       "shorter than a send?)", (long long)b->batch_id);
    if (recs)
      *recs = x.recs;
    if (bytes)
      *bytes = x.bytes;
  }
  return rc;
}

/* ---- flush support, counts, inspection --------------------------------------------- */

static int make_due_body(pg_store *s, pg_conn *pc, void *ctx, meter_error *err)
{
  const int64_t *now = ctx;
  params p = spool_param(s);
  p_int(&p, *now);
  /* Batches before units: the order claims lock them in. */
  int rc = sql_run(s, pc, "BEGIN", err);
  if (rc == METER_OK)
    rc = q_run(s, pc, P_DUE_BATCHES, &p, err);
  if (rc == METER_OK)
    rc = q_run(s, pc, P_DUE_UNITS, &p, err);
  if (rc == METER_OK)
    rc = sql_run(s, pc, "COMMIT", err);
  return rc;
}

static int pg_make_due(mtr_store *base, int64_t now, meter_error *err)
{
  return run_op((pg_store *)base, C_SENDER, make_due_body, &now, NULL, err);
}

typedef struct due_ctx {
  int64_t due;
} due_ctx;

static int next_due_body(pg_store *s, pg_conn *pc, void *ctx, meter_error *err)
{
  due_ctx *x = ctx;
  params p = spool_param(s);
  p_text(&p, s->owner);
  /* Inbox records are due at once, unless another replica is sorting them:
   * then look again shortly rather than spin on its lock. */
  long long busy = atomic_load(&s->ingest_busy_at);
  p_int(&p, busy ? busy + INGEST_BUSY_RETRY_US : 0);
  PGresult *r = q(s, pc, P_NEXT_DUE, &p, err);
  if (!r)
    return METER_ESTORE;
  x->due = PQgetisnull(r, 0, 0) ? INT64_MAX : v_int(r, 0, 0);
  PQclear(r);
  return METER_OK;
}

static int pg_next_due(mtr_store *base, int64_t *due, meter_error *err)
{
  pg_store *s = (pg_store *)base;
  due_ctx x = { INT64_MAX };
  int rc = run_op(s, C_SENDER, next_due_body, &x, NULL, err);
  *due = x.due;
  if (mtr_fallback_maybe_waiting(s->fb))
    *due = 0;
  return rc;
}

typedef struct sendable_ctx {
  int64_t now;
  int include_started;
  int any;
} sendable_ctx;

static int sendable_body(pg_store *s, pg_conn *pc, void *ctx, meter_error *err)
{
  sendable_ctx *x = ctx;
  params p = spool_param(s);
  p_int(&p, x->now);
  p_text(&p, x->include_started ? "true" : "false");
  PGresult *r = q(s, pc, P_SENDABLE, &p, err);
  if (!r)
    return METER_ESTORE;
  x->any = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  PQclear(r);
  return METER_OK;
}

static int pg_sendable(mtr_store *base, int64_t now, int include_started, int *any,
                       meter_error *err)
{
  pg_store *s = (pg_store *)base;
  sendable_ctx x = { now, include_started, 0 };
  int rc = run_op(s, C_READ, sendable_body, &x, NULL, err);
  *any = x.any;
  if (rc == METER_OK && s->fb && !*any) {
    uint64_t n, b;
    int64_t oldest;
    if (mtr_fallback_counts(s->fb, &n, &b, &oldest, err) != METER_OK)
      return METER_ESTORE;
    *any = n > 0;
  }
  return rc;
}

static int counts_body(pg_store *s, pg_conn *pc, void *ctx, meter_error *err)
{
  mtr_store_counts *c = ctx;
  memset(c, 0, sizeof *c);
  params p = spool_param(s);
  PGresult *r = q(s, pc, P_COUNT_UNITS, &p, err);
  if (!r)
    return METER_ESTORE;
  for (int i = 0; i < PQntuples(r); i++) {
    int state = (int)v_int(r, i, 0);
    uint64_t n = (uint64_t)v_int(r, i, 1), recs = (uint64_t)v_int(r, i, 2);
    uint64_t bytes = (uint64_t)v_int(r, i, 3);
    int64_t oldest = v_int(r, i, 4);
    switch (state) {
    case ST_OPEN: c->open = n; break;
    case ST_PENDING: c->pending = n; break;
    case ST_SENDING: c->sending = n; break;
    case ST_DELIVERED: c->delivered = n; break;
    case ST_DEAD: c->dead = n; c->records_dead = recs; break;
    default: break;
    }
    if (state != ST_DELIVERED) {
      c->records_waiting += recs;
      c->bytes_waiting += bytes;
      if (!c->oldest_waiting_us || oldest < c->oldest_waiting_us)
        c->oldest_waiting_us = oldest;
    }
  }
  PQclear(r);
  r = q(s, pc, P_COUNT_INBOX, &p, err);
  if (!r)
    return METER_ESTORE;
  c->received = (uint64_t)v_int(r, 0, 0);
  c->records_waiting += c->received;
  c->bytes_waiting += (uint64_t)v_int(r, 0, 1);
  int64_t oldest = v_int(r, 0, 2);
  if (c->received && (!c->oldest_waiting_us || oldest < c->oldest_waiting_us))
    c->oldest_waiting_us = oldest;
  PQclear(r);
  return METER_OK;
}

static int pg_counts(mtr_store *base, mtr_store_counts *c, meter_error *err)
{
  pg_store *s = (pg_store *)base;
  int fail = FAIL_NONE;
  int rc = run_op(s, C_READ, counts_body, c, &fail, err);
  if (rc != METER_OK && !(fail == FAIL_CONN && s->fb))
    return rc;
  if (rc != METER_OK) {
    /* The database is away: what waits here is all that can be counted. */
    memset(c, 0, sizeof *c);
    mtr_error_clear(err);
  }
  if (s->fb) {
    uint64_t n, b;
    int64_t oldest;
    if ((rc = mtr_fallback_counts(s->fb, &n, &b, &oldest, err)) != METER_OK)
      return rc;
    c->received += n;
    c->records_waiting += n;
    c->bytes_waiting += b;
    if (n && (!c->oldest_waiting_us || oldest < c->oldest_waiting_us))
      c->oldest_waiting_us = oldest;
  }
  return METER_OK;
}

typedef struct list_ctx {
  unsigned mask;
  mtr_unit_fn fn;
  void *payload;
  int stopped;
} list_ctx;

/* Pages of one listing query inside the snapshot, calling fn per row. */
static int list_pages(pg_store *s, pg_conn *pc, list_ctx *x, int which, meter_error *err)
{
  int64_t after = INT64_MIN;
  for (;;) {
    params p = spool_param(s);
    p_int(&p, after);
    if (which == P_LIST_UNITS)
      p_int(&p, (int64_t)x->mask);
    PGresult *r = q(s, pc, which, &p, err);
    if (!r)
      return METER_ESTORE;
    int n = PQntuples(r), rc = METER_OK;
    for (int i = 0; rc == METER_OK && !x->stopped && i < n; i++) {
      mtr_unit u;
      after = v_int(r, i, 0);
      if (which == P_LIST_UNITS) {
        rc = read_unit(r, i, &u);
      } else {
        memset(&u, 0, sizeof u);
        u.id = -after;
        u.kind = K_RECORD;
        u.state = METER_SPOOL_RECEIVED;
        u.ikey = v_dup(r, i, 1);
        u.body = v_dup(r, i, 2);
        u.time_us = v_int(r, i, 5);
        u.window_us = v_int(r, i, 6);
        u.flags = (unsigned)v_int(r, i, 7);
        u.agg_key = v_dup(r, i, 8);
        u.quantity = v_int(r, i, 9);
        u.allocs = v_dup(r, i, 10);
        u.bytes = (uint64_t)v_int(r, i, 11);
        u.submitted_us = u.ready_us = v_int(r, i, 12);
        u.nrecords = 1;
        rc = u.ikey && u.body ? METER_OK : METER_ENOMEM;
      }
      if (rc != METER_OK) {
        mtr_error_set(err, rc, "out of memory");
      } else {
        pc->no_retry = 1; /* the caller has seen rows: not again */
        if (x->fn(&u, x->payload) != 0)
          x->stopped = 1;
      }
      mtr_unit_dispose(&u);
    }
    PQclear(r);
    if (rc != METER_OK || x->stopped || n == 0)
      return rc;
  }
}

static int list_body(pg_store *s, pg_conn *pc, void *ctx, meter_error *err)
{
  list_ctx *x = ctx;
  /* One snapshot for the whole listing; pages keep memory flat. */
  int rc = sql_run(s, pc, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err);
  if (rc == METER_OK && (x->mask == 0 || (x->mask & METER_SPOOL_STATE_MASK(METER_SPOOL_RECEIVED))))
    rc = list_pages(s, pc, x, P_LIST_INBOX, err);
  if (rc == METER_OK && !x->stopped)
    rc = list_pages(s, pc, x, P_LIST_UNITS, err);
  if (rc == METER_OK)
    rc = sql_run(s, pc, "COMMIT", err);
  return rc;
}

static int pg_list(mtr_store *base, unsigned mask, mtr_unit_fn fn, void *payload,
                   meter_error *err)
{
  pg_store *s = (pg_store *)base;
  list_ctx x = { mask, fn, payload, 0 };
  int rc = METER_OK;
  if (s->fb && (mask == 0 || (mask & METER_SPOOL_STATE_MASK(METER_SPOOL_RECEIVED))))
    rc = mtr_fallback_list(s->fb, fn, payload, &x.stopped, err);
  if (rc == METER_OK && !x.stopped)
    rc = run_op(s, C_READ, list_body, &x, NULL, err);
  return rc;
}

/* ---- dead letters and maintenance ------------------------------------------------- */

typedef struct requeue_ctx {
  const char *ikey;
  int64_t now;
  size_t n;
} requeue_ctx;

static int requeue_body(pg_store *s, pg_conn *pc, void *ctx, meter_error *err)
{
  requeue_ctx *x = ctx;
  x->n = 0;
  int rc = sql_run(s, pc, "BEGIN", err);
  /* Late records are aggregated again: under the ingest lock, like ingest. */
  params p = spool_param(s);
  if (rc == METER_OK)
    rc = q_run(s, pc, P_INGEST_WAIT, &p, err);
  p_text(&p, x->ikey);
  PGresult *r = rc == METER_OK ? q(s, pc, P_DEAD_SELECT, &p, err) : NULL;
  if (rc == METER_OK && !r)
    rc = METER_ESTORE;
  int n = r ? PQntuples(r) : 0;
  if (rc == METER_OK && x->ikey && n == 0) {
    pc->fail = FAIL_FATAL;
    rc = mtr_error_set(err, METER_ENOTFOUND, "no dead letter has the idempotency key %s",
                       x->ikey);
  }
  arr plain, late;
  memset(&plain, 0, sizeof plain);
  memset(&late, 0, sizeof late);
  mtr_store_input *ins = n ? mtr_calloc((size_t)n, sizeof *ins) : NULL;
  if (rc == METER_OK && n && !ins)
    rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
  size_t nplain = 0, nlate = 0;
  for (int i = 0; rc == METER_OK && i < n; i++) {
    if (v_int(r, i, 1) != K_LATE) {
      a_int(&plain, v_int(r, i, 0));
      nplain++;
      continue;
    }
    a_int(&late, v_int(r, i, 0));
    mtr_store_input *in = &ins[nlate++];
    in->ikey = PQgetvalue(r, i, 4);
    in->body = PQgetvalue(r, i, 5);
    in->agg_key = v_text(r, i, 6);
    in->time_us = v_int(r, i, 7);
    in->window_us = v_int(r, i, 8);
    in->quantity = v_int(r, i, 9);
    in->allocs = v_text(r, i, 11);
    in->bytes = (uint64_t)v_int(r, i, 14);
    in->submitted_us = v_int(r, i, 15);
    in->flags = (unsigned)v_int(r, i, 3);
    in->batch_key = PQgetvalue(r, i, 22);
    in->batch_limit = (uint32_t)v_int(r, i, 23);
  }
  if (rc == METER_OK && nplain) {
    params u;
    u.n = 0;
    rc = p_arrays(&u, &plain, 1, err);
    if (rc == METER_OK) {
      p_int(&u, x->now);
      rc = q_run(s, pc, P_REQUEUE, &u, err);
    }
  }
  if (rc == METER_OK && nlate) {
    params d;
    d.n = 0;
    rc = p_arrays(&d, &late, 1, err);
    if (rc == METER_OK)
      rc = q_run(s, pc, P_DEL_UNIT, &d, err);
    engine e;
    memset(&e, 0, sizeof e);
    e.s = s;
    e.pc = pc;
    e.now = x->now;
    for (size_t i = 0; rc == METER_OK && i < nlate; i++)
      if (keytab_find(&e.hours, ins[i].agg_key, mtr_time_hour_floor(ins[i].time_us)) < 0 &&
          hour_add(&e, ins[i].agg_key, mtr_time_hour_floor(ins[i].time_us)) < 0)
        rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
    if (rc == METER_OK)
      rc = load_hours(&e, 0, err);
    for (size_t i = 0; rc == METER_OK && i < nlate; i++)
      rc = ins[i].agg_key ? merge(&e, &ins[i], err)
                          : mtr_error_set(err, METER_EPROTOCOL, "spool: a late entry without "
                                          "an aggregation key");
    if (rc == METER_OK)
      rc = engine_flush(&e, NULL, NULL, err);
    engine_dispose(&e);
  }
  arrs_dispose(&plain, 1);
  arrs_dispose(&late, 1);
  mtr_free(ins);
  PQclear(r);
  if (rc == METER_OK)
    rc = sql_run(s, pc, "COMMIT", err);
  if (rc == METER_OK)
    x->n = nplain + nlate;
  return rc;
}

static int pg_requeue_dead(mtr_store *base, const char *ikey, int64_t now, size_t *requeued,
                           meter_error *err)
{
  requeue_ctx x = { ikey, now, 0 };
  int rc = run_op((pg_store *)base, C_SENDER, requeue_body, &x, NULL, err);
  if (requeued)
    *requeued = rc == METER_OK ? x.n : 0;
  return rc;
}

typedef struct purge_ctx {
  int64_t before, now;
  int64_t purged;
} purge_ctx;

static int purge_body(pg_store *s, pg_conn *pc, void *ctx, meter_error *err)
{
  purge_ctx *x = ctx;
  params p = spool_param(s);
  p_int(&p, x->before);
  p_int(&p, x->now);
  PGresult *r = q(s, pc, P_PURGE, &p, err);
  if (!r)
    return METER_ESTORE;
  x->purged = PQntuples(r) == 1 ? v_int(r, 0, 0) : 0;
  PQclear(r);
  return METER_OK;
}

/* Everything due, PURGE_CHUNK delivered units (with their contributions and
 * keys) per statement, each its own transaction: the sender purges once a
 * minute, and one chunk a minute let a busy spool grow without end. */
static int pg_purge(mtr_store *base, int64_t before, int64_t now, meter_error *err)
{
  purge_ctx x = { before, now, 0 };
  int rc;
  do
    rc = run_op((pg_store *)base, C_SENDER, purge_body, &x, NULL, err);
  while (rc == METER_OK && x.purged == PURGE_CHUNK);
  return rc;
}

const mtr_store_ops mtr_pg_store = {
  "postgresql",
  pg_open,
  pg_close,
  pg_abandon,
  pg_backend,
  pg_acquire_sender,
  pg_release_sender,
  pg_append,
  pg_ingest,
  pg_seal,
  pg_claim,
  pg_complete,
  pg_make_due,
  pg_sendable,
  pg_next_due,
  pg_counts,
  pg_list,
  pg_requeue_dead,
  pg_purge,
};
