/* The spool store on SQLite (see store.h for the contract).
 *
 * One file, WAL mode. Submits append to `inbox` (no index but the rowid:
 * sequential pages only); the sender's ingest moves them into `units` and
 * `contribs` (appended too), deduplicating through `seen`, the one table
 * keyed by idempotency key: INSERT OR IGNORE there is the whole duplicate
 * check, one random B-tree operation per record. Durability:
 * synchronous=FULL fsyncs the WAL at every commit (survives a power loss); synchronous=NORMAL leaves it to the OS
 * (survives the death of the process, which is what kill -9 tests). Writes
 * go through one connection under a mutex (each operation is one IMMEDIATE
 * transaction); inspection reads a snapshot through a second, read-only
 * connection so a long export never stalls submits. Several processes may
 * open one file (SQLite's locks and busy timeout serialise them); one at a
 * time is the sender, which holds an flock on PATH-sender. Because that lock
 * guarantees a single sender, any batch still leased to someone else is an
 * orphan of a dead process and is recovered at once. */
#include "store.h"

#include "aggregate.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "core/sync.h"
#include "core/timefmt.h"
#include "fork_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define SCHEMA_VERSION 2
#define CACHE_KIB 16384 /* the write connection's page cache: the `seen` index */
#define BUSY_TIMEOUT_MS 10000
#define MAX_LATE_HOPS 48 /* NEXT_HOUR: give up after two days of sealed hours */

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

static const char *const schema =
  "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
  "CREATE TABLE IF NOT EXISTS units("
  " id INTEGER PRIMARY KEY,"
  " kind INTEGER NOT NULL,"           /* meter_spool_kind */
  " state INTEGER NOT NULL,"          /* meter_spool_state */
  " ikey TEXT NOT NULL,"              /* record key; aggregate: derived key, revision 0 */
  " body TEXT NOT NULL,"              /* record JSON (aggregate: its template) */
  " bytes INTEGER NOT NULL,"
  " nrecords INTEGER NOT NULL,"
  " batch_key TEXT NOT NULL,"
  " batch_limit INTEGER NOT NULL,"
  " time_us INTEGER NOT NULL,"        /* usage time; aggregate: start of the hour */
  " window_us INTEGER NOT NULL,"
  " flags INTEGER NOT NULL,"
  " agg_key TEXT,"
  " quantity INTEGER NOT NULL DEFAULT 0,"
  " sent_quantity INTEGER NOT NULL DEFAULT 0,"
  " revision INTEGER NOT NULL DEFAULT 0,"
  " allocs TEXT,"
  " submitted_us INTEGER NOT NULL,"
  " ready_us INTEGER NOT NULL,"       /* OPEN: hour end + grace; PENDING: next try */
  " attempts INTEGER NOT NULL DEFAULT 0,"
  " batch_id INTEGER,"
  " batch_pos INTEGER,"
  " outcome INTEGER NOT NULL DEFAULT 0,"
  " error_code TEXT,"
  " message TEXT,"
  " record_id TEXT,"
  " done_us INTEGER);"
  "CREATE INDEX IF NOT EXISTS units_due ON units(state, ready_us);"
  "CREATE INDEX IF NOT EXISTS units_key_due ON units(state, batch_key, ready_us);"
  "CREATE UNIQUE INDEX IF NOT EXISTS units_hour ON units(agg_key, time_us) WHERE kind = 2;"
  "CREATE INDEX IF NOT EXISTS units_batch ON units(batch_id) WHERE batch_id IS NOT NULL;"
  "CREATE TABLE IF NOT EXISTS contribs("
  " id INTEGER PRIMARY KEY, unit_id INTEGER NOT NULL, ikey TEXT NOT NULL,"
  " quantity INTEGER NOT NULL, time_us INTEGER NOT NULL);"
  "CREATE INDEX IF NOT EXISTS contribs_unit ON contribs(unit_id);"
  "CREATE TABLE IF NOT EXISTS seen(ikey TEXT PRIMARY KEY) WITHOUT ROWID;"
  "CREATE TABLE IF NOT EXISTS inbox("
  " id INTEGER PRIMARY KEY, ikey TEXT NOT NULL, body TEXT NOT NULL, batch_key TEXT NOT NULL,"
  " batch_limit INTEGER NOT NULL, time_us INTEGER NOT NULL, window_us INTEGER NOT NULL,"
  " flags INTEGER NOT NULL, agg_key TEXT, quantity INTEGER NOT NULL, allocs TEXT,"
  " bytes INTEGER NOT NULL, submitted_us INTEGER NOT NULL);"
  "CREATE TABLE IF NOT EXISTS batches("
  " id INTEGER PRIMARY KEY, batch_key TEXT NOT NULL, owner TEXT,"
  " lease_until_us INTEGER NOT NULL DEFAULT 0, ready_us INTEGER NOT NULL DEFAULT 0,"
  " created_us INTEGER NOT NULL, sends INTEGER NOT NULL DEFAULT 0);";

#define UNIT_COLS                                                                          \
  "id, kind, state, flags, ikey, body, agg_key, time_us, window_us, quantity,"             \
  " sent_quantity, allocs, revision, nrecords, bytes, submitted_us, ready_us, attempts,"   \
  " outcome, error_code, message, record_id"

/* Prepared statements of the write connection. */
enum {
  S_INBOX_ADD,
  S_INBOX_READ,
  S_INBOX_DROP,
  S_UNIT_BY_ID,
  S_SEE_KEY,
  S_PURGE_PICK,
  S_PURGE_SEEN_C,
  S_PURGE_SEEN_U,
  S_INS_RECORD,
  S_FIND_HOUR,
  S_INS_AGG,
  S_ADD_AGG,
  S_REVISE,
  S_INS_CONTRIB,
  S_INS_LATE,
  S_SEAL_DUE,
  S_SEAL_STARTED,
  S_ORPHAN,
  S_PARKED,
  S_OLDEST,
  S_SAME_KEY,
  S_NEW_BATCH,
  S_JOIN_BATCH,
  S_MEMBERS,
  S_SENDING,
  S_LEASE,
  S_DELIVER,
  S_REVISION_DUE,
  S_RETRY,
  S_DEAD,
  S_CUR_QTY,
  S_SHRINK,
  S_BATCH_NEXT,
  S_PARK,
  S_DROP_BATCH,
  S_DUE_UNITS,
  S_DUE_BATCHES,
  S_NEXT_DUE,
  S_DEAD_ALL,
  S_DEAD_ONE,
  S_DEL_UNIT,
  S_REQUEUE,
  S_PURGE_CONTRIBS,
  S_PURGE_UNITS,
  S_COUNT
};

#define INBOX_COLS                                                                         \
  "id, ikey, body, batch_key, batch_limit, time_us, window_us, flags, agg_key, quantity,"   \
  " allocs, bytes, submitted_us"

/* Units purged per transaction (sq_purge). */
#define PURGE_CHUNK 100

static const char *const sql[S_COUNT] = {
  [S_INBOX_ADD] = "INSERT INTO inbox(ikey, body, batch_key, batch_limit, time_us, window_us,"
                  " flags, agg_key, quantity, allocs, bytes, submitted_us)"
                  " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  [S_INBOX_READ] = "SELECT " INBOX_COLS " FROM inbox WHERE submitted_us <= ?"
                   " ORDER BY id LIMIT ?",
  [S_INBOX_DROP] = "DELETE FROM inbox WHERE id = ?",
  [S_UNIT_BY_ID] = "SELECT " UNIT_COLS " FROM units WHERE id = ?",
  [S_SEE_KEY] = "INSERT OR IGNORE INTO seen(ikey) VALUES(?)",
  [S_PURGE_PICK] = "SELECT id FROM units WHERE state = 4 AND done_us < ?1 AND (kind <> 2"
                   " OR (flags & 2) = 0 OR (window_us > 0 AND time_us + window_us < ?2))"
                   " LIMIT " MTR_STRINGIFY(PURGE_CHUNK),
  [S_PURGE_SEEN_C] = "DELETE FROM seen WHERE ikey IN (SELECT ikey FROM contribs WHERE unit_id = ?)",
  [S_PURGE_SEEN_U] = "DELETE FROM seen WHERE ikey = (SELECT ikey FROM units WHERE id = ? AND kind = 1)",
  [S_INS_RECORD] = "INSERT INTO units(kind, state, ikey, body, bytes, nrecords, batch_key,"
                   " batch_limit, time_us, window_us, flags, submitted_us, ready_us)"
                   " VALUES(1, 2, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)",
  [S_FIND_HOUR] = "SELECT id, state, flags, quantity, allocs FROM units"
                  " WHERE kind = 2 AND agg_key = ? AND time_us = ?",
  [S_INS_AGG] = "INSERT INTO units(kind, state, ikey, body, bytes, nrecords, batch_key,"
                " batch_limit, time_us, window_us, flags, agg_key, quantity, allocs,"
                " submitted_us, ready_us)"
                " VALUES(2, 1, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  [S_ADD_AGG] = "UPDATE units SET quantity = ?, allocs = ?, nrecords = nrecords + 1,"
                " bytes = bytes + ? WHERE id = ?",
  [S_REVISE] = "UPDATE units SET state = 2, ready_us = ?, revision = revision + 1,"
               " batch_id = NULL, done_us = NULL WHERE id = ? AND state = 4",
  [S_INS_CONTRIB] = "INSERT INTO contribs(ikey, unit_id, quantity, time_us) VALUES(?, ?, ?, ?)",
  [S_INS_LATE] = "INSERT INTO units(kind, state, ikey, body, bytes, nrecords, batch_key,"
                 " batch_limit, time_us, window_us, flags, agg_key, quantity, allocs,"
                 " submitted_us, ready_us, outcome, error_code, message, done_us)"
                 " VALUES(3, 5, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  [S_SEAL_DUE] = "UPDATE units SET state = 2 WHERE state = 1 AND ready_us <= ?",
  [S_SEAL_STARTED] = "UPDATE units SET state = 2, ready_us = min(ready_us, ?1)"
                     " WHERE state = 1 AND time_us <= ?1",
  [S_ORPHAN] = "SELECT id FROM batches WHERE owner IS NOT NULL"
               " AND (?1 OR owner <> ?2 OR lease_until_us <= ?3) ORDER BY id LIMIT 1",
  [S_PARKED] = "SELECT id FROM batches WHERE owner IS NULL AND ready_us <= ?"
               " ORDER BY ready_us, id LIMIT 1",
  [S_OLDEST] = "SELECT batch_key, batch_limit FROM units"
               " WHERE state = 2 AND batch_id IS NULL AND ready_us <= ?"
               " ORDER BY ready_us, id LIMIT 1",
  [S_SAME_KEY] = "SELECT id FROM units WHERE state = 2 AND batch_id IS NULL AND batch_key = ?"
                 " AND ready_us <= ? ORDER BY ready_us, id LIMIT ?",
  [S_NEW_BATCH] = "INSERT INTO batches(batch_key, created_us) VALUES(?, ?)",
  [S_JOIN_BATCH] = "UPDATE units SET batch_id = ?, batch_pos = ? WHERE id = ?",
  [S_MEMBERS] = "SELECT " UNIT_COLS " FROM units WHERE batch_id = ? AND state IN (2, 3)"
                " ORDER BY batch_pos",
  [S_SENDING] = "UPDATE units SET state = 3 WHERE batch_id = ? AND state IN (2, 3)",
  [S_LEASE] = "UPDATE batches SET owner = ?, lease_until_us = ?, sends = sends + 1 WHERE id = ?",
  [S_DELIVER] = "UPDATE units SET state = 4, sent_quantity = quantity, batch_id = NULL,"
                " done_us = ?, attempts = attempts + 1, outcome = ?, record_id = ?,"
                " error_code = NULL, message = NULL WHERE id = ? RETURNING nrecords, bytes",
  [S_REVISION_DUE] = "UPDATE units SET state = 2, sent_quantity = ?, ready_us = ?,"
                     " revision = revision + 1, batch_id = NULL, attempts = attempts + 1,"
                     " outcome = ?, record_id = ?, error_code = NULL, message = NULL WHERE id = ?",
  [S_RETRY] = "UPDATE units SET state = 2, ready_us = ?, attempts = attempts + 1, outcome = ?,"
              " error_code = ?, message = ? WHERE id = ?",
  [S_DEAD] = "UPDATE units SET state = 5, batch_id = NULL, done_us = ?, attempts = attempts + 1,"
             " outcome = ?, error_code = ?, message = ? WHERE id = ?",
  [S_CUR_QTY] = "SELECT quantity, sent_quantity, body, agg_key, time_us, window_us, flags,"
                " batch_key, batch_limit, revision FROM units WHERE id = ?",
  [S_SHRINK] = "UPDATE units SET state = 4, quantity = sent_quantity, batch_id = NULL,"
               " done_us = ?, attempts = attempts + 1, outcome = ?, error_code = ?,"
               " message = ? WHERE id = ? RETURNING nrecords, bytes",
  [S_BATCH_NEXT] = "SELECT min(ready_us) FROM units WHERE batch_id = ? AND state = 2",
  [S_PARK] = "UPDATE batches SET owner = NULL, lease_until_us = 0, ready_us = ? WHERE id = ?",
  [S_DROP_BATCH] = "DELETE FROM batches WHERE id = ?",
  [S_DUE_UNITS] = "UPDATE units SET ready_us = ?1 WHERE state = 2 AND ready_us > ?1",
  [S_DUE_BATCHES] = "UPDATE batches SET ready_us = ?1 WHERE owner IS NULL AND ready_us > ?1",
  [S_NEXT_DUE] = "SELECT min(t) FROM ("
                 " SELECT min(ready_us) AS t FROM units WHERE state = 1"
                 " UNION ALL SELECT min(ready_us) FROM units WHERE state = 2 AND batch_id IS NULL"
                 " UNION ALL SELECT min(ready_us) FROM batches WHERE owner IS NULL"
                 " UNION ALL SELECT min(CASE WHEN ?1 THEN 0 ELSE lease_until_us END)"
                 " FROM batches WHERE owner IS NOT NULL"
                 " UNION ALL SELECT 0 FROM (SELECT 1 FROM inbox LIMIT 1))",
  [S_DEAD_ALL] = "SELECT " UNIT_COLS ", batch_key, batch_limit FROM units WHERE state = 5"
                 " ORDER BY id",
  [S_DEAD_ONE] = "SELECT " UNIT_COLS ", batch_key, batch_limit FROM units"
                 " WHERE state = 5 AND ikey = ?",
  [S_DEL_UNIT] = "DELETE FROM units WHERE id = ?",
  [S_REQUEUE] = "UPDATE units SET state = 2, ready_us = ?, batch_id = NULL, attempts = 0,"
                " done_us = NULL WHERE id = ?",
  [S_PURGE_CONTRIBS] = "DELETE FROM contribs WHERE unit_id = ?",
  [S_PURGE_UNITS] = "DELETE FROM units WHERE id = ?",
};

typedef struct sq_store {
  mtr_store base;
  sqlite3 *db;              /* writes (and the sender's reads), under `lock` */
  sqlite3 *rdb;             /* inspection snapshots, under `rlock` */
  mtr_mutex lock, rlock;
  sqlite3_stmt *stmt[S_COUNT];
  char *path;
  char *backend;
  int64_t grace_us;
  int late_policy;
  int lock_fd;              /* PATH-sender, while we are the sender */
} sq_store;

/* ---- errors and small helpers ----------------------------------------- */

static int db_fail(sq_store *s, sqlite3 *db, int rc, const char *what, meter_error *err)
{
  (void)s;
  const char *why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if ((rc & 0xff) == SQLITE_NOMEM)
    return mtr_error_set(err, METER_ENOMEM, "spool: out of memory (%s)", what);
  return mtr_error_set(err, METER_ESTORE, "spool: %s: %s%s", what, why,
                       (rc & 0xff) == SQLITE_FULL ? " (disk full?)" : "");
}

static sqlite3_stmt *st(sq_store *s, int which, meter_error *err)
{
  if (!s->stmt[which]) {
    int rc = sqlite3_prepare_v3(s->db, sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                                &s->stmt[which], NULL);
    if (rc != SQLITE_OK) {
      db_fail(s, s->db, rc, "prepare", err);
      return NULL;
    }
  }
  sqlite3_reset(s->stmt[which]);
  sqlite3_clear_bindings(s->stmt[which]);
  return s->stmt[which];
}

/* Binds in order: "i" int64, "t" text (NULL ok), "n" null. */
static void bind(sqlite3_stmt *q, const char *types, ...)
{
  va_list ap;
  va_start(ap, types);
  for (int i = 0; types[i]; i++) {
    switch (types[i]) {
    case 'i': sqlite3_bind_int64(q, i + 1, va_arg(ap, int64_t)); break;
    case 't': {
      const char *t = va_arg(ap, const char *);
      if (t)
        sqlite3_bind_text(q, i + 1, t, -1, SQLITE_STATIC);
      else
        sqlite3_bind_null(q, i + 1);
      break;
    }
    default: sqlite3_bind_null(q, i + 1); break;
    }
  }
  va_end(ap);
}

/* Runs a statement that returns no row. */
static int run(sq_store *s, sqlite3_stmt *q, const char *what, meter_error *err)
{
  int rc = sqlite3_step(q);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    return db_fail(s, s->db, rc, what, err);
  sqlite3_reset(q);
  return METER_OK;
}

static int exec(sq_store *s, sqlite3 *db, const char *text, meter_error *err)
{
  int rc = sqlite3_exec(db, text, NULL, NULL, NULL);
  return rc == SQLITE_OK ? METER_OK : db_fail(s, db, rc, text, err);
}

static int begin(sq_store *s, meter_error *err)
{
  mtr_mutex_lock(&s->lock);
  int rc = exec(s, s->db, "BEGIN IMMEDIATE", err);
  if (rc != METER_OK)
    mtr_mutex_unlock(&s->lock);
  return rc;
}

/* Commits if rc is OK, else rolls back; releases the lock; returns rc or the
 * commit's failure. */
static int finish(sq_store *s, int rc, meter_error *err)
{
  if (rc == METER_OK) {
    rc = exec(s, s->db, "COMMIT", err);
    if (rc != METER_OK)
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  } else if (!sqlite3_get_autocommit(s->db)) {
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  }
  mtr_mutex_unlock(&s->lock);
  return rc;
}

static char *col_dup(sqlite3_stmt *q, int c)
{
  const unsigned char *t = sqlite3_column_text(q, c);
  return t ? mtr_strdup((const char *)t) : NULL;
}

/* Reads the UNIT_COLS of the current row into u. */
static int read_unit(sqlite3_stmt *q, mtr_unit *u)
{
  memset(u, 0, sizeof *u);
  u->id = sqlite3_column_int64(q, 0);
  u->kind = sqlite3_column_int(q, 1);
  u->state = sqlite3_column_int(q, 2);
  u->flags = (unsigned)sqlite3_column_int(q, 3);
  u->ikey = col_dup(q, 4);
  u->body = col_dup(q, 5);
  u->agg_key = col_dup(q, 6);
  u->time_us = sqlite3_column_int64(q, 7);
  u->window_us = sqlite3_column_int64(q, 8);
  u->quantity = sqlite3_column_int64(q, 9);
  u->sent_quantity = sqlite3_column_int64(q, 10);
  u->allocs = col_dup(q, 11);
  u->revision = sqlite3_column_int(q, 12);
  u->nrecords = (uint64_t)sqlite3_column_int64(q, 13);
  u->bytes = (uint64_t)sqlite3_column_int64(q, 14);
  u->submitted_us = sqlite3_column_int64(q, 15);
  u->ready_us = sqlite3_column_int64(q, 16);
  u->attempts = (unsigned)sqlite3_column_int(q, 17);
  u->outcome = sqlite3_column_int(q, 18);
  u->error_code = col_dup(q, 19);
  u->message = col_dup(q, 20);
  u->record_id = col_dup(q, 21);
  if (!u->ikey || !u->body)
    return METER_ENOMEM;
  return METER_OK;
}

void mtr_unit_dispose(mtr_unit *u)
{
  mtr_free(u->ikey);
  mtr_free(u->body);
  mtr_free(u->agg_key);
  mtr_free(u->allocs);
  mtr_free(u->error_code);
  mtr_free(u->message);
  mtr_free(u->record_id);
  memset(u, 0, sizeof *u);
}

void mtr_units_free(mtr_unit *u, size_t n)
{
  for (size_t i = 0; u && i < n; i++)
    mtr_unit_dispose(&u[i]);
  mtr_free(u);
}

void mtr_claim_dispose(mtr_claim *c)
{
  mtr_units_free(c->units, c->count);
  memset(c, 0, sizeof *c);
}

/* ---- open / close -------------------------------------------------------- */

static int configure(sq_store *s, const mtr_store_config *cfg, meter_error *err)
{
  sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
  int rc = exec(s, s->db, "PRAGMA journal_mode=WAL", err);
  if (rc == METER_OK)
    rc = exec(s, s->db, cfg->durability == METER_SPOOL_SYNC_PROCESS ? "PRAGMA synchronous=NORMAL"
                                                                     : "PRAGMA synchronous=FULL",
              err);
  if (rc == METER_OK)
    rc = exec(s, s->db, "PRAGMA foreign_keys=OFF", err);
  char pragma[64];
  snprintf(pragma, sizeof pragma, "PRAGMA cache_size=-%d", CACHE_KIB);
  if (rc == METER_OK)
    rc = exec(s, s->db, pragma, err);
  if (rc != METER_OK)
    return rc;

  /* Schema and identity, once, in one transaction; a spool written by
   * another schema is refused, not altered. */
  if ((rc = exec(s, s->db, "BEGIN IMMEDIATE", err)) != METER_OK)
    return rc;
  rc = exec(s, s->db,
            "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL)"
            " WITHOUT ROWID", err);
  sqlite3_stmt *q = NULL;
  if (rc == METER_OK &&
      sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE name = 'schema'", -1, &q, NULL) ==
        SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) != SCHEMA_VERSION)
    rc = mtr_error_set(err, METER_ECONFIG,
                       "spool %s has schema %d; this libmeter uses schema %d (deliver or "
                       "export it with the version that wrote it)",
                       cfg->path, sqlite3_column_int(q, 0), SCHEMA_VERSION);
  sqlite3_finalize(q);
  q = NULL;
  if (rc == METER_OK)
    rc = exec(s, s->db, schema, err);
  const char *have_backend = NULL;
  if (rc == METER_OK) {
    int r = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE name = 'backend'", -1, &q,
                               NULL);
    if (r != SQLITE_OK)
      rc = db_fail(s, s->db, r, "read meta", err);
    else if (sqlite3_step(q) == SQLITE_ROW)
      have_backend = (const char *)sqlite3_column_text(q, 0);
  }
  if (rc == METER_OK && have_backend && cfg->backend && strcmp(have_backend, cfg->backend) != 0)
    rc = mtr_error_set(err, METER_ECONFIG,
                       "spool %s holds records for the %s back end; this client uses %s",
                       cfg->path, have_backend, cfg->backend);
  if (rc == METER_OK && have_backend && !s->backend)
    s->backend = mtr_strdup(have_backend);
  sqlite3_finalize(q);
  if (rc == METER_OK && !have_backend && cfg->backend) {
    char text[160];
    snprintf(text, sizeof text,
             "INSERT INTO meta(name, value) VALUES('schema', '%d'), ('backend', '%s')",
             SCHEMA_VERSION, cfg->backend);
    rc = strchr(cfg->backend, '\'') ? METER_ECONFIG : exec(s, s->db, text, err);
  }
  if (rc == METER_OK)
    rc = exec(s, s->db, "COMMIT", err);
  else
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

static void sq_close_handles(sq_store *s, int touch_files)
{
  for (int i = 0; i < S_COUNT; i++)
    if (s->stmt[i] && touch_files)
      sqlite3_finalize(s->stmt[i]);
  if (touch_files) {
    if (s->db)
      sqlite3_close_v2(s->db);
    if (s->rdb)
      sqlite3_close_v2(s->rdb);
  }
  mtr_mutex_destroy(&s->lock);
  mtr_mutex_destroy(&s->rlock);
  mtr_free(s->path);
  mtr_free(s->backend);
  mtr_free(s);
}

static void sq_release_sender(mtr_store *base)
{
  sq_store *s = (sq_store *)base;
  if (s->lock_fd >= 0) {
    mtr_fork_unregister_fd(s->lock_fd);
    flock(s->lock_fd, LOCK_UN);
    close(s->lock_fd);
    s->lock_fd = -1;
  }
}

static void sq_close(mtr_store *base)
{
  sq_store *s = (sq_store *)base;
  if (!s)
    return;
  sq_release_sender(base);
  sq_close_handles(s, 1);
}

/* A forked child: the descriptors of the parent's connections stay open (a
 * close could disturb the parent's POSIX locks on some systems, and SQLite
 * forbids using them here); only our memory is released. The sender lock
 * was already closed by the fork handler. */
static void sq_abandon(mtr_store *base)
{
  sq_store *s = (sq_store *)base;
  if (s)
    sq_close_handles(s, 0);
}

static int sq_open(mtr_store **out, const mtr_store_config *cfg, meter_error *err)
{
  *out = NULL;
  if (!cfg->path || !*cfg->path)
    return mtr_error_set(err, METER_EINVAL, "spool: a path is required");
  sq_store *s = mtr_calloc(1, sizeof *s);
  if (!s)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  s->base.ops = &mtr_sqlite_store;
  s->lock_fd = -1;
  s->grace_us = cfg->grace_us;
  s->late_policy = cfg->late_policy;
  mtr_mutex_init(&s->lock);
  mtr_mutex_init(&s->rlock);
  s->path = mtr_strdup(cfg->path);
  s->backend = cfg->backend ? mtr_strdup(cfg->backend) : NULL;
  int rc = s->path && (s->backend || !cfg->backend) ? METER_OK
                                                    : mtr_error_set(err, METER_ENOMEM, "out of memory");
  if (rc == METER_OK) {
    int r = sqlite3_open_v2(cfg->path, &s->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (r != SQLITE_OK)
      rc = mtr_error_set(err, METER_ESTORE, "spool: cannot open %s: %s", cfg->path,
                         s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(r));
  }
  if (rc == METER_OK)
    rc = configure(s, cfg, err);
  if (rc == METER_OK) {
    int r = sqlite3_open_v2(cfg->path, &s->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (r != SQLITE_OK)
      rc = mtr_error_set(err, METER_ESTORE, "spool: cannot open %s for reading: %s", cfg->path,
                         s->rdb ? sqlite3_errmsg(s->rdb) : sqlite3_errstr(r));
    else
      sqlite3_busy_timeout(s->rdb, BUSY_TIMEOUT_MS);
  }
  if (rc != METER_OK) {
    sq_close(&s->base);
    return rc;
  }
  *out = &s->base;
  return METER_OK;
}

static const char *sq_backend(mtr_store *base)
{
  return ((sq_store *)base)->backend;
}

static int sq_acquire_sender(mtr_store *base, int *acquired, meter_error *err)
{
  sq_store *s = (sq_store *)base;
  *acquired = 0;
  if (s->lock_fd >= 0) {
    *acquired = 1;
    return METER_OK;
  }
  char *lock_path = mtr_malloc(strlen(s->path) + 8);
  if (!lock_path)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  strcpy(lock_path, s->path);
  strcat(lock_path, "-sender");
  int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  int saved = errno;
  mtr_free(lock_path);
  if (fd < 0)
    return mtr_error_set(err, METER_ESTORE, "spool: cannot open %s-sender: %s", s->path,
                         strerror(saved));
  /* flock, not fcntl: it belongs to this open file, so a second spool on the
   * same file in this process conflicts too, and a forked child's copy is
   * closed by the fork handler. */
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    saved = errno;
    close(fd);
    if (saved == EWOULDBLOCK || saved == EINTR)
      return METER_OK; /* another sender holds it */
    return mtr_error_set(err, METER_ESTORE, "spool: cannot lock %s-sender: %s", s->path,
                         strerror(saved));
  }
  if (mtr_fork_register_fd(fd) != 0) {
    close(fd);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  s->lock_fd = fd;
  *acquired = 1;
  return METER_OK;
}

/* ---- append -------------------------------------------------------------- */

/* The duplicate check: records the key, or finds it already seen. */
static int see_key(sq_store *s, const char *ikey, int *seen_before, meter_error *err)
{
  sqlite3_stmt *q = st(s, S_SEE_KEY, err);
  if (!q)
    return METER_ESTORE;
  bind(q, "t", ikey);
  int rc = run(s, q, "key", err);
  *seen_before = rc == METER_OK && sqlite3_changes(s->db) == 0;
  return rc;
}

static int insert_contrib(sq_store *s, const mtr_store_input *in, int64_t unit_id,
                          meter_error *err)
{
  sqlite3_stmt *q = st(s, S_INS_CONTRIB, err);
  if (!q)
    return METER_ESTORE;
  bind(q, "tiii", in->ikey, unit_id, in->quantity, in->time_us);
  return run(s, q, "store contribution", err);
}

/* Ids of units made dead letters by an ingest, to report after it. */
typedef struct id_list {
  int64_t *ids;
  size_t n, cap;
} id_list;

static void note_dead(id_list *l, int64_t id)
{
  if (!l)
    return;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    int64_t *grown = mtr_realloc(l->ids, cap * sizeof *grown);
    if (!grown)
      return; /* the dead letter is stored; only its report is lost */
    l->ids = grown;
    l->cap = cap;
  }
  l->ids[l->n++] = id;
}

/* Stores an input as a LATE dead letter with `code` and `why`. */
static int insert_late(sq_store *s, const mtr_store_input *in, int64_t nrecords, int64_t now,
                       const char *code, const char *why, id_list *dead, meter_error *err)
{
  sqlite3_stmt *q = st(s, S_INS_LATE, err);
  if (!q)
    return METER_ESTORE;
  bind(q, "ttiitiiiititiiitti", in->ikey, in->body, (int64_t)in->bytes, nrecords, in->batch_key,
       (int64_t)in->batch_limit, in->time_us, in->window_us, (int64_t)in->flags, in->agg_key,
       in->quantity, in->allocs, in->submitted_us ? in->submitted_us : now, now,
       (int64_t)METER_OUTCOME_CONFLICT, code, why, now);
  int rc = run(s, q, "store late record", err);
  if (rc == METER_OK)
    note_dead(dead, sqlite3_last_insert_rowid(s->db));
  return rc;
}

/* Adds an aggregated input to its hour (see store.h, ingest). */
static int merge(sq_store *s, const mtr_store_input *in, int64_t now, id_list *dead,
                 meter_error *err)
{
  int has_allocs = in->allocs && *in->allocs;
  int64_t hour = mtr_time_hour_floor(in->time_us);
  char ts[MTR_TIME_BUF];
  mtr_buf merged = MTR_BUF_INIT;
  int rc = METER_OK;

  for (int hop = 0; hop <= MAX_LATE_HOPS; hop++, hour += MTR_US_PER_HOUR) {
    sqlite3_stmt *q = st(s, S_FIND_HOUR, err);
    if (!q) {
      rc = METER_ESTORE;
      break;
    }
    bind(q, "ti", in->agg_key, hour);
    int r = sqlite3_step(q);
    if (r == SQLITE_DONE) {
      sqlite3_reset(q);
      char ikey[MTR_UUID_LEN + 1];
      mtr_agg_ikey(s->backend, in->agg_key, hour, 0, ikey);
      sqlite3_stmt *ins = st(s, S_INS_AGG, err);
      if (!ins) {
        rc = METER_ESTORE;
        break;
      }
      int64_t ready = hour + MTR_US_PER_HOUR + s->grace_us;
      bind(ins, "ttitiiiititii", ikey, in->body, (int64_t)(in->bytes + strlen(in->body)),
           in->batch_key, (int64_t)in->batch_limit, hour, in->window_us, (int64_t)in->flags,
           in->agg_key, in->quantity, has_allocs ? in->allocs : NULL,
           in->submitted_us ? in->submitted_us : now, ready);
      if ((rc = run(s, ins, "store aggregate", err)) == METER_OK)
        rc = insert_contrib(s, in, sqlite3_last_insert_rowid(s->db), err);
      break;
    }
    if (r != SQLITE_ROW) {
      rc = db_fail(s, s->db, r, "find hour", err);
      break;
    }
    int64_t id = sqlite3_column_int64(q, 0);
    int state = sqlite3_column_int(q, 1);
    unsigned flags = (unsigned)sqlite3_column_int(q, 2);
    int64_t total = sqlite3_column_int64(q, 3);
    const char *allocs = (const char *)sqlite3_column_text(q, 4);
    int row_allocs = allocs && *allocs;

    if (row_allocs != has_allocs) {
      sqlite3_reset(q);
      char why[METER_ERROR_MESSAGE_SIZE];
      mtr_fmt(why, sizeof why,
              "allocations: the records of one customer, dimension and hour must all carry "
              "usage allocations or none (the hour %s already has records %s them); kept as "
              "a dead letter", mtr_time_format(hour, MTR_TIME_RFC3339, ts),
              row_allocs ? "with" : "without");
      rc = insert_late(s, in, 1, now, "allocations_mismatch", why, dead, err);
      break;
    }
    int late = state != ST_OPEN;
    int revise = late && (flags & MTR_UNIT_REPLACES) &&
                 s->late_policy != METER_SPOOL_LATE_DEAD_LETTER;
    if (!late || revise) {
      int64_t sum;
      mtr_buf_clear(&merged);
      rc = total > INT64_MAX - in->quantity ? METER_EINVAL
           : has_allocs                     ? mtr_allocs_merge(allocs, in->allocs, &merged)
                                            : METER_OK;
      sum = rc == METER_OK ? total + in->quantity : 0;
      sqlite3_reset(q);
      if (rc == METER_EINVAL) {
        char why[METER_ERROR_MESSAGE_SIZE];
        mtr_fmt(why, sizeof why, "quantity: the total of the hour %s would overflow; kept as "
                "a dead letter", mtr_time_format(hour, MTR_TIME_RFC3339, ts));
        rc = insert_late(s, in, 1, now, "overflow", why, dead, err);
        break;
      }
      if (rc != METER_OK) {
        mtr_error_set(err, rc, "spool: cannot merge allocations of hour %s",
                      mtr_time_format(hour, MTR_TIME_RFC3339, ts));
        break;
      }
      sqlite3_stmt *add = st(s, S_ADD_AGG, err);
      if (!add) {
        rc = METER_ESTORE;
        break;
      }
      bind(add, "itii", sum, has_allocs ? mtr_buf_cstr(&merged) : NULL, (int64_t)in->bytes, id);
      if ((rc = run(s, add, "add to aggregate", err)) == METER_OK)
        rc = insert_contrib(s, in, id, err);
      if (rc == METER_OK && revise && state == ST_DELIVERED) {
        sqlite3_stmt *rev = st(s, S_REVISE, err);
        if (!rev) {
          rc = METER_ESTORE;
          break;
        }
        bind(rev, "ii", now, id);
        rc = run(s, rev, "revise aggregate", err);
      }
      break;
    }
    sqlite3_reset(q);
    if (s->late_policy == METER_SPOOL_LATE_NEXT_HOUR && hop < MAX_LATE_HOPS)
      continue;
    char why[METER_ERROR_MESSAGE_SIZE];
    mtr_fmt(why, sizeof why,
            "late: the hour %s of this customer and dimension was already reported to the "
            "marketplace, which takes one report per hour; kept as a dead letter",
            mtr_time_format(mtr_time_hour_floor(in->time_us), MTR_TIME_RFC3339, ts));
    rc = insert_late(s, in, 1, now, "late", why, dead, err);
    break;
  }
  mtr_buf_dispose(&merged);
  return rc;
}

static int sq_append(mtr_store *base, mtr_store_input *const *in, size_t n, int64_t now,
                     meter_error *err)
{
  sq_store *s = (sq_store *)base;
  int rc = begin(s, err);
  if (rc != METER_OK)
    return rc;
  for (size_t i = 0; rc == METER_OK && i < n; i++) {
    mtr_store_input *x = in[i];
    x->submitted_us = now;
    sqlite3_stmt *q = st(s, S_INBOX_ADD, err);
    if (!q) {
      rc = METER_ESTORE;
      break;
    }
    bind(q, "tttiiiititii", x->ikey, x->body, x->batch_key, (int64_t)x->batch_limit, x->time_us,
         x->window_us, (int64_t)x->flags, x->agg_key, x->quantity, x->allocs, (int64_t)x->bytes,
         now);
    rc = run(s, q, "store record", err);
  }
  return finish(s, rc, err);
}

/* One inbox record into the units (see store.h, ingest). `in` points into
 * the current row of the inbox statement, which is not stepped meanwhile. */
static int ingest_one(sq_store *s, mtr_store_input *in, int64_t now, mtr_ingest_result *out,
                      id_list *dead, meter_error *err)
{
  int exists;
  int rc = see_key(s, in->ikey, &exists, err);
  uint64_t inbox_bytes = in->bytes;
  if (rc != METER_OK)
    return rc;
  if (exists) {
    out->duplicates++;
    out->freed_bytes += inbox_bytes;
    return METER_OK;
  }
  if (in->flags & MTR_UNIT_AGGREGATE) {
    in->bytes = MTR_CONTRIBUTION_BYTES + strlen(in->ikey);
    rc = merge(s, in, now, dead, err);
  } else {
    in->bytes = strlen(in->body);
    sqlite3_stmt *q = st(s, S_INS_RECORD, err);
    if (!q)
      return METER_ESTORE;
    bind(q, "ttitiiiiii", in->ikey, in->body, (int64_t)in->bytes, in->batch_key,
         (int64_t)in->batch_limit, in->time_us, in->window_us, (int64_t)in->flags,
         in->submitted_us, now);
    rc = run(s, q, "store record", err);
  }
  if (rc == METER_OK && inbox_bytes > in->bytes)
    out->freed_bytes += inbox_bytes - in->bytes;
  return rc;
}

static int load_dead(sq_store *s, const id_list *ids, mtr_ingest_result *out, meter_error *err)
{
  if (ids->n == 0)
    return METER_OK;
  out->dead = mtr_calloc(ids->n, sizeof *out->dead);
  if (!out->dead)
    return METER_OK; /* stored; only the report is lost */
  for (size_t i = 0; i < ids->n; i++) {
    sqlite3_stmt *q = st(s, S_UNIT_BY_ID, err);
    if (!q)
      return METER_ESTORE;
    bind(q, "i", ids->ids[i]);
    if (sqlite3_step(q) == SQLITE_ROW && read_unit(q, &out->dead[out->ndead]) == METER_OK)
      out->ndead++;
    sqlite3_reset(q);
  }
  return METER_OK;
}

static int sq_ingest(mtr_store *base, size_t max, int64_t before, int64_t now,
                     mtr_ingest_result *out, meter_error *err)
{
  sq_store *s = (sq_store *)base;
  memset(out, 0, sizeof *out);
  id_list dead = { NULL, 0, 0 };
  int rc = begin(s, err);
  if (rc != METER_OK)
    return rc;
  sqlite3_stmt *q = st(s, S_INBOX_READ, err);
  if (!q)
    rc = METER_ESTORE;
  else {
    bind(q, "ii", before, (int64_t)(max ? max : 1));
    int r;
    while (rc == METER_OK && (r = sqlite3_step(q)) == SQLITE_ROW) {
      mtr_store_input in;
      memset(&in, 0, sizeof in);
      int64_t id = sqlite3_column_int64(q, 0);
      in.ikey = (const char *)sqlite3_column_text(q, 1);
      in.body = (const char *)sqlite3_column_text(q, 2);
      in.batch_key = (const char *)sqlite3_column_text(q, 3);
      in.batch_limit = (uint32_t)sqlite3_column_int64(q, 4);
      in.time_us = sqlite3_column_int64(q, 5);
      in.window_us = sqlite3_column_int64(q, 6);
      in.flags = (unsigned)sqlite3_column_int(q, 7);
      in.agg_key = (const char *)sqlite3_column_text(q, 8);
      in.quantity = sqlite3_column_int64(q, 9);
      in.allocs = (const char *)sqlite3_column_text(q, 10);
      in.bytes = (uint64_t)sqlite3_column_int64(q, 11);
      in.submitted_us = sqlite3_column_int64(q, 12);
      if (!in.ikey || !in.body || !in.batch_key) {
        rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
        break;
      }
      rc = ingest_one(s, &in, now, out, &dead, err);
      out->moved++;
      sqlite3_stmt *d = rc == METER_OK ? st(s, S_INBOX_DROP, err) : NULL;
      if (rc == METER_OK && !d)
        rc = METER_ESTORE;
      if (rc == METER_OK) {
        bind(d, "i", id);
        rc = run(s, d, "clear inbox", err);
      }
    }
    if (rc == METER_OK && r != SQLITE_DONE)
      rc = db_fail(s, s->db, r, "read inbox", err);
    sqlite3_reset(q);
  }
  if (rc == METER_OK)
    rc = load_dead(s, &dead, out, err);
  rc = finish(s, rc, err);
  mtr_free(dead.ids);
  if (rc != METER_OK) {
    mtr_units_free(out->dead, out->ndead);
    memset(out, 0, sizeof *out);
  }
  return rc;
}

/* ---- sealing and claiming ------------------------------------------------ */

static int sq_seal(mtr_store *base, int64_t now, int include_started, meter_error *err)
{
  sq_store *s = (sq_store *)base;
  int rc = begin(s, err);
  if (rc != METER_OK)
    return rc;
  sqlite3_stmt *q = st(s, include_started ? S_SEAL_STARTED : S_SEAL_DUE, err);
  if (!q)
    rc = METER_ESTORE;
  else {
    bind(q, "i", now);
    rc = run(s, q, "seal hours", err);
  }
  return finish(s, rc, err);
}

/* Loads the members of batch `id` in order into out. */
static int load_members(sq_store *s, int64_t id, mtr_claim *out, meter_error *err)
{
  sqlite3_stmt *q = st(s, S_MEMBERS, err);
  if (!q)
    return METER_ESTORE;
  bind(q, "i", id);
  size_t cap = 0;
  int r, rc = METER_OK;
  while ((r = sqlite3_step(q)) == SQLITE_ROW) {
    if (out->count == cap) {
      size_t ncap = cap ? cap * 2 : 32;
      mtr_unit *grown = mtr_realloc(out->units, ncap * sizeof *grown);
      if (!grown) {
        rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
        break;
      }
      out->units = grown;
      cap = ncap;
    }
    rc = read_unit(q, &out->units[out->count]);
    out->count++;
    if (rc != METER_OK) {
      mtr_error_set(err, rc, "out of memory");
      break;
    }
  }
  if (rc == METER_OK && r != SQLITE_DONE)
    rc = db_fail(s, s->db, r, "load batch", err);
  sqlite3_reset(q);
  return rc;
}

static int select_id(sq_store *s, sqlite3_stmt *q, int64_t *id, meter_error *err)
{
  int r = sqlite3_step(q);
  *id = r == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
  sqlite3_reset(q);
  return r == SQLITE_ROW || r == SQLITE_DONE ? METER_OK : db_fail(s, s->db, r, "claim", err);
}

/* Forms a new batch from the oldest due PENDING unit and its batch key. */
static int new_batch(sq_store *s, const mtr_claim_params *p, int64_t *batch_id, meter_error *err)
{
  *batch_id = 0;
  sqlite3_stmt *q = st(s, S_OLDEST, err);
  if (!q)
    return METER_ESTORE;
  bind(q, "i", p->now_us);
  int r = sqlite3_step(q);
  if (r == SQLITE_DONE) {
    sqlite3_reset(q);
    return METER_OK;
  }
  if (r != SQLITE_ROW)
    return db_fail(s, s->db, r, "claim", err);
  char *key = col_dup(q, 0);
  int64_t limit = sqlite3_column_int64(q, 1);
  sqlite3_reset(q);
  if (!key)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  if (limit < 1)
    limit = 1;
  if (p->max_units && (uint64_t)limit > p->max_units)
    limit = (int64_t)p->max_units;

  int rc = METER_OK;
  sqlite3_stmt *nb = st(s, S_NEW_BATCH, err);
  if (!nb)
    rc = METER_ESTORE;
  else {
    bind(nb, "ti", key, p->now_us);
    rc = run(s, nb, "new batch", err);
  }
  int64_t bid = sqlite3_last_insert_rowid(s->db);
  int64_t *ids = rc == METER_OK ? mtr_calloc((size_t)limit, sizeof *ids) : NULL;
  size_t n = 0;
  if (rc == METER_OK && !ids)
    rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
  if (rc == METER_OK) {
    sqlite3_stmt *same = st(s, S_SAME_KEY, err);
    if (!same)
      rc = METER_ESTORE;
    else {
      bind(same, "tii", key, p->now_us, limit);
      while ((r = sqlite3_step(same)) == SQLITE_ROW && n < (size_t)limit)
        ids[n++] = sqlite3_column_int64(same, 0);
      if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = db_fail(s, s->db, r, "claim", err);
      sqlite3_reset(same);
    }
  }
  for (size_t i = 0; rc == METER_OK && i < n; i++) {
    sqlite3_stmt *j = st(s, S_JOIN_BATCH, err);
    if (!j) {
      rc = METER_ESTORE;
      break;
    }
    bind(j, "iii", bid, (int64_t)i, ids[i]);
    rc = run(s, j, "join batch", err);
  }
  mtr_free(ids);
  mtr_free(key);
  if (rc == METER_OK)
    *batch_id = bid;
  return rc;
}

static int drop_batch(sq_store *s, int64_t id, meter_error *err)
{
  sqlite3_stmt *d = st(s, S_DROP_BATCH, err);
  if (!d)
    return METER_ESTORE;
  bind(d, "i", id);
  return run(s, d, "drop batch", err);
}

/* The id of the next batch to send, from the three sources in order; 0 if
 * none. */
static int pick_batch(sq_store *s, const mtr_claim_params *p, int step, int64_t *id,
                      meter_error *err)
{
  *id = 0;
  sqlite3_stmt *q;
  switch (step) {
  case 0: /* an orphan: with the sender lock held, any batch leased to
             another owner (or left leased to us by a failed complete) */
    if (!(q = st(s, S_ORPHAN, err)))
      return METER_ESTORE;
    bind(q, "iti", (int64_t)(s->lock_fd >= 0), p->owner, p->now_us);
    return select_id(s, q, id, err);
  case 1: /* a parked batch whose members are due again */
    if (!(q = st(s, S_PARKED, err)))
      return METER_ESTORE;
    bind(q, "i", p->now_us);
    return select_id(s, q, id, err);
  default: /* a new batch */
    return new_batch(s, p, id, err);
  }
}

static int sq_claim(mtr_store *base, const mtr_claim_params *p, mtr_claim *out, meter_error *err)
{
  sq_store *s = (sq_store *)base;
  memset(out, 0, sizeof *out);
  int rc = begin(s, err);
  if (rc != METER_OK)
    return rc;
  int64_t id = 0;
  int step = 0;
  /* A batch left without members to send (all final) is dropped; then the
   * same source is asked again. Bounded: each round deletes a batch row. */
  while (rc == METER_OK && step < 3) {
    if ((rc = pick_batch(s, p, step, &id, err)) != METER_OK)
      break;
    if (!id) {
      step++;
      continue;
    }
    if ((rc = load_members(s, id, out, err)) != METER_OK)
      break;
    if (out->count > 0) {
      out->recovered = step == 0;
      break;
    }
    rc = drop_batch(s, id, err);
    id = 0;
  }
  if (rc == METER_OK && id) {
    sqlite3_stmt *u = st(s, S_SENDING, err), *l = NULL;
    if (!u)
      rc = METER_ESTORE;
    else {
      bind(u, "i", id);
      rc = run(s, u, "claim", err);
    }
    if (rc == METER_OK && !(l = st(s, S_LEASE, err)))
      rc = METER_ESTORE;
    if (rc == METER_OK) {
      bind(l, "tii", p->owner, p->now_us + p->lease_us, id);
      rc = run(s, l, "lease", err);
    }
    for (size_t i = 0; i < out->count; i++)
      out->units[i].state = ST_SENDING;
  }
  rc = finish(s, rc, err);
  if (rc != METER_OK || !id) {
    mtr_claim_dispose(out);
    return rc;
  }
  out->batch_id = id;
  return METER_OK;
}

/* ---- completion ---------------------------------------------------------- */

static int returning_totals(sq_store *s, sqlite3_stmt *q, uint64_t *recs, uint64_t *bytes,
                            const char *what, meter_error *err)
{
  int r = sqlite3_step(q);
  if (r == SQLITE_ROW) {
    *recs += (uint64_t)sqlite3_column_int64(q, 0);
    *bytes += (uint64_t)sqlite3_column_int64(q, 1);
    r = sqlite3_step(q);
  }
  sqlite3_reset(q);
  return r == SQLITE_DONE ? METER_OK : db_fail(s, s->db, r, what, err);
}

/* A REPLACES aggregate delivered at the claimed total: if records arrived
 * meanwhile, it goes back to PENDING as the next revision. */
static int deliver(sq_store *s, const mtr_unit *u, const mtr_unit_result *r, int64_t now,
                   uint64_t *recs, uint64_t *bytes, meter_error *err)
{
  sqlite3_stmt *q;
  if (u->kind == K_AGGREGATE && (u->flags & MTR_UNIT_REPLACES)) {
    if (!(q = st(s, S_CUR_QTY, err)))
      return METER_ESTORE;
    bind(q, "i", u->id);
    int step = sqlite3_step(q);
    int64_t cur = step == SQLITE_ROW ? sqlite3_column_int64(q, 0) : u->quantity;
    sqlite3_reset(q);
    if (cur != u->quantity) {
      if (!(q = st(s, S_REVISION_DUE, err)))
        return METER_ESTORE;
      bind(q, "iiiti", u->quantity, now, (int64_t)r->outcome, r->record_id, u->id);
      return run(s, q, "revise", err);
    }
  }
  if (!(q = st(s, S_DELIVER, err)))
    return METER_ESTORE;
  bind(q, "iiti", now, (int64_t)r->outcome, r->record_id, u->id);
  return returning_totals(s, q, recs, bytes, "deliver", err);
}

static int mark_dead(sq_store *s, const mtr_unit *u, const mtr_unit_result *r, int64_t now,
                     meter_error *err)
{
  sqlite3_stmt *q = st(s, S_DEAD, err);
  if (!q)
    return METER_ESTORE;
  bind(q, "iitti", now, (int64_t)r->outcome, r->error_code, r->message, u->id);
  return run(s, q, "dead letter", err);
}

/* The marketplace already processed the hour: the delivered total stands and
 * what was added since becomes a LATE dead letter. */
static int conflict(sq_store *s, const mtr_unit *u, const mtr_unit_result *r, int64_t now,
                    uint64_t *recs, uint64_t *bytes, meter_error *err)
{
  sqlite3_stmt *q = st(s, S_CUR_QTY, err);
  if (!q)
    return METER_ESTORE;
  bind(q, "i", u->id);
  if (sqlite3_step(q) != SQLITE_ROW) {
    sqlite3_reset(q);
    return mtr_error_set(err, METER_ESTORE, "spool: entry %lld vanished", (long long)u->id);
  }
  int64_t cur = sqlite3_column_int64(q, 0), sent = sqlite3_column_int64(q, 1);
  if (sent <= 0) {
    sqlite3_reset(q);
    return mark_dead(s, u, r, now, err);
  }
  mtr_store_input late;
  memset(&late, 0, sizeof late);
  char ikey[MTR_UUID_LEN + 1];
  char *body = col_dup(q, 2), *agg_key = col_dup(q, 3), *bkey = col_dup(q, 7);
  late.time_us = sqlite3_column_int64(q, 4);
  late.window_us = sqlite3_column_int64(q, 5);
  late.flags = (unsigned)sqlite3_column_int(q, 6);
  late.batch_limit = (uint32_t)sqlite3_column_int64(q, 8);
  int revision = sqlite3_column_int(q, 9);
  sqlite3_reset(q);
  int rc = body && agg_key && bkey ? METER_OK : mtr_error_set(err, METER_ENOMEM, "out of memory");
  if (rc == METER_OK) {
    mtr_agg_ikey(s->backend, agg_key, late.time_us, revision, ikey);
    late.ikey = ikey;
    late.body = body;
    late.agg_key = agg_key;
    late.batch_key = bkey;
    late.quantity = cur - sent;
    late.bytes = strlen(body);
    char why[METER_ERROR_MESSAGE_SIZE];
    char ts[MTR_TIME_BUF];
    mtr_fmt(why, sizeof why,
            "late: %lld unit(s) arrived after the hour %s was reported (%lld units); the "
            "marketplace already processed that report and refused the new total (%s)",
            (long long)(cur - sent), mtr_time_format(late.time_us, MTR_TIME_RFC3339, ts),
            (long long)sent, r->message ? r->message : "conflict");
    rc = late.quantity > 0 ? insert_late(s, &late, 1, now, "late", why, NULL, err) : METER_OK;
  }
  if (rc == METER_OK && (q = st(s, S_SHRINK, err)) != NULL) {
    bind(q, "iitti", now, (int64_t)r->outcome, r->error_code, r->message, u->id);
    rc = returning_totals(s, q, recs, bytes, "conflict", err);
  } else if (rc == METER_OK) {
    rc = METER_ESTORE;
  }
  mtr_free(body);
  mtr_free(agg_key);
  mtr_free(bkey);
  return rc;
}

static int sq_complete(mtr_store *base, const mtr_claim *b, const mtr_unit_result *res,
                       int64_t now, uint64_t *recs, uint64_t *bytes, meter_error *err)
{
  sq_store *s = (sq_store *)base;
  uint64_t r0 = 0, b0 = 0;
  int rc = begin(s, err);
  if (rc != METER_OK)
    return rc;
  for (size_t i = 0; rc == METER_OK && i < b->count; i++) {
    const mtr_unit *u = &b->units[i];
    const mtr_unit_result *r = &res[i];
    sqlite3_stmt *q;
    switch (r->verdict) {
    case MTR_UNIT_DELIVERED:
      rc = deliver(s, u, r, now, &r0, &b0, err);
      break;
    case MTR_UNIT_RETRY:
      if (!(q = st(s, S_RETRY, err))) {
        rc = METER_ESTORE;
        break;
      }
      bind(q, "iitti", r->retry_at_us, (int64_t)r->outcome, r->error_code, r->message, u->id);
      rc = run(s, q, "retry", err);
      break;
    case MTR_UNIT_DEAD:
      rc = mark_dead(s, u, r, now, err);
      break;
    case MTR_UNIT_CONFLICT:
      rc = conflict(s, u, r, now, &r0, &b0, err);
      break;
    }
  }
  /* The batch: parked until its earliest member is due, or gone. */
  if (rc == METER_OK) {
    sqlite3_stmt *q = st(s, S_BATCH_NEXT, err);
    if (!q)
      rc = METER_ESTORE;
    else {
      bind(q, "i", b->batch_id);
      int r = sqlite3_step(q);
      int more = r == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL;
      int64_t next = more ? sqlite3_column_int64(q, 0) : 0;
      sqlite3_reset(q);
      if (r != SQLITE_ROW)
        rc = db_fail(s, s->db, r, "batch", err);
      else if ((q = st(s, more ? S_PARK : S_DROP_BATCH, err)) == NULL)
        rc = METER_ESTORE;
      else {
        if (more)
          bind(q, "ii", next, b->batch_id);
        else
          bind(q, "i", b->batch_id);
        rc = run(s, q, "batch", err);
      }
    }
  }
  rc = finish(s, rc, err);
  if (rc == METER_OK) {
    if (recs)
      *recs = r0;
    if (bytes)
      *bytes = b0;
  }
  return rc;
}

/* ---- flush support, counts, inspection, maintenance ----------------------- */

static int sq_make_due(mtr_store *base, int64_t now, meter_error *err)
{
  sq_store *s = (sq_store *)base;
  int rc = begin(s, err);
  if (rc != METER_OK)
    return rc;
  for (int w = S_DUE_UNITS; rc == METER_OK && w <= S_DUE_BATCHES; w++) {
    sqlite3_stmt *q = st(s, w, err);
    if (!q)
      rc = METER_ESTORE;
    else {
      bind(q, "i", now);
      rc = run(s, q, "make due", err);
    }
  }
  return finish(s, rc, err);
}

static int sq_next_due(mtr_store *base, int64_t *due, meter_error *err)
{
  sq_store *s = (sq_store *)base;
  *due = INT64_MAX;
  mtr_mutex_lock(&s->lock);
  int rc = METER_OK;
  sqlite3_stmt *q = st(s, S_NEXT_DUE, err);
  if (!q)
    rc = METER_ESTORE;
  else {
    bind(q, "i", (int64_t)(s->lock_fd >= 0));
    int r = sqlite3_step(q);
    if (r == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
      *due = sqlite3_column_int64(q, 0);
    else if (r != SQLITE_ROW)
      rc = db_fail(s, s->db, r, "next due", err);
    sqlite3_reset(q);
  }
  mtr_mutex_unlock(&s->lock);
  return rc;
}

/* Reads on the snapshot connection: prepare, step through, finalize. */
static int sq_counts(mtr_store *base, mtr_store_counts *c, meter_error *err)
{
  sq_store *s = (sq_store *)base;
  memset(c, 0, sizeof *c);
  mtr_mutex_lock(&s->rlock);
  sqlite3_stmt *q = NULL;
  int r = sqlite3_prepare_v2(s->rdb,
                             "SELECT state, count(*), total(nrecords), total(bytes),"
                             " min(submitted_us) FROM units GROUP BY state",
                             -1, &q, NULL);
  int rc = r == SQLITE_OK ? METER_OK : db_fail(s, s->rdb, r, "count", err);
  while (rc == METER_OK && (r = sqlite3_step(q)) == SQLITE_ROW) {
    int state = sqlite3_column_int(q, 0);
    uint64_t n = (uint64_t)sqlite3_column_int64(q, 1);
    uint64_t recs = (uint64_t)sqlite3_column_double(q, 2);
    uint64_t bytes = (uint64_t)sqlite3_column_double(q, 3);
    int64_t oldest = sqlite3_column_int64(q, 4);
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
  if (rc == METER_OK && r != SQLITE_DONE)
    rc = db_fail(s, s->rdb, r, "count", err);
  sqlite3_finalize(q);
  q = NULL;
  if (rc == METER_OK) {
    r = sqlite3_prepare_v2(s->rdb, "SELECT count(*), total(bytes), min(submitted_us) FROM inbox",
                           -1, &q, NULL);
    if (r != SQLITE_OK || sqlite3_step(q) != SQLITE_ROW) {
      rc = db_fail(s, s->rdb, r, "count", err);
    } else {
      c->received = (uint64_t)sqlite3_column_int64(q, 0);
      c->records_waiting += c->received;
      c->bytes_waiting += (uint64_t)sqlite3_column_double(q, 1);
      int64_t oldest = sqlite3_column_int64(q, 2);
      if (c->received && (!c->oldest_waiting_us || oldest < c->oldest_waiting_us))
        c->oldest_waiting_us = oldest;
    }
    sqlite3_finalize(q);
  }
  mtr_mutex_unlock(&s->rlock);
  return rc;
}

static int sq_sendable(mtr_store *base, int64_t now, int include_started, int *any,
                       meter_error *err)
{
  sq_store *s = (sq_store *)base;
  *any = 0;
  mtr_mutex_lock(&s->rlock);
  sqlite3_stmt *q = NULL;
  int r = sqlite3_prepare_v2(s->rdb,
                             "SELECT EXISTS(SELECT 1 FROM units WHERE state IN (2, 3))"
                             " OR EXISTS(SELECT 1 FROM inbox)"
                             " OR EXISTS(SELECT 1 FROM units WHERE state = 1 AND ready_us <= ?1)"
                             " OR (?2 AND EXISTS(SELECT 1 FROM units WHERE state = 1"
                             " AND time_us <= ?1))", -1, &q, NULL);
  int rc = r == SQLITE_OK ? METER_OK : db_fail(s, s->rdb, r, "sendable", err);
  if (rc == METER_OK) {
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int(q, 2, include_started != 0);
    r = sqlite3_step(q);
    if (r == SQLITE_ROW)
      *any = sqlite3_column_int(q, 0);
    else
      rc = db_fail(s, s->rdb, r, "sendable", err);
  }
  sqlite3_finalize(q);
  mtr_mutex_unlock(&s->rlock);
  return rc;
}

/* An inbox row as a unit in state RECEIVED (negative id: not a unit yet). */
static int read_received(sqlite3_stmt *q, mtr_unit *u)
{
  memset(u, 0, sizeof *u);
  u->id = -sqlite3_column_int64(q, 0);
  u->kind = K_RECORD;
  u->state = METER_SPOOL_RECEIVED;
  u->ikey = col_dup(q, 1);
  u->body = col_dup(q, 2);
  u->time_us = sqlite3_column_int64(q, 5);
  u->window_us = sqlite3_column_int64(q, 6);
  u->flags = (unsigned)sqlite3_column_int(q, 7);
  u->agg_key = col_dup(q, 8);
  u->quantity = sqlite3_column_int64(q, 9);
  u->allocs = col_dup(q, 10);
  u->bytes = (uint64_t)sqlite3_column_int64(q, 11);
  u->submitted_us = u->ready_us = sqlite3_column_int64(q, 12);
  u->nrecords = 1;
  return u->ikey && u->body ? METER_OK : METER_ENOMEM;
}

/* Steps through q calling fn per row; returns rc, *stopped = 1 if fn stopped. */
static int list_rows(sq_store *s, sqlite3_stmt *q, int (*reader)(sqlite3_stmt *, mtr_unit *),
                     mtr_unit_fn fn, void *payload, int *stopped, meter_error *err)
{
  int r, rc = METER_OK;
  while ((r = sqlite3_step(q)) == SQLITE_ROW) {
    mtr_unit u;
    rc = reader(q, &u);
    if (rc != METER_OK)
      mtr_error_set(err, rc, "out of memory");
    else if (fn(&u, payload) != 0)
      *stopped = 1;
    mtr_unit_dispose(&u);
    if (rc != METER_OK || *stopped)
      return rc;
  }
  return r == SQLITE_DONE ? METER_OK : db_fail(s, s->rdb, r, "list", err);
}

static int sq_list(mtr_store *base, unsigned mask, mtr_unit_fn fn, void *payload,
                   meter_error *err)
{
  sq_store *s = (sq_store *)base;
  mtr_mutex_lock(&s->rlock);
  sqlite3_stmt *qi = NULL, *qu = NULL;
  int rc = METER_OK, stopped = 0;
  int r = sqlite3_prepare_v2(s->rdb, "SELECT " INBOX_COLS " FROM inbox ORDER BY id", -1, &qi,
                             NULL);
  if (r == SQLITE_OK)
    r = sqlite3_prepare_v2(s->rdb,
                           "SELECT " UNIT_COLS " FROM units"
                           " WHERE ?1 = 0 OR ((1 << state) & ?1) <> 0 ORDER BY id",
                           -1, &qu, NULL);
  if (r != SQLITE_OK)
    rc = db_fail(s, s->rdb, r, "list", err);
  /* One read transaction: a consistent snapshot for the whole listing. */
  if (rc == METER_OK) {
    sqlite3_bind_int64(qu, 1, (int64_t)mask);
    sqlite3_exec(s->rdb, "BEGIN", NULL, NULL, NULL);
    if (mask == 0 || (mask & METER_SPOOL_STATE_MASK(METER_SPOOL_RECEIVED)))
      rc = list_rows(s, qi, read_received, fn, payload, &stopped, err);
    if (rc == METER_OK && !stopped)
      rc = list_rows(s, qu, read_unit, fn, payload, &stopped, err);
  }
  sqlite3_finalize(qi);
  sqlite3_finalize(qu);
  if (!sqlite3_get_autocommit(s->rdb))
    sqlite3_exec(s->rdb, "COMMIT", NULL, NULL, NULL);
  mtr_mutex_unlock(&s->rlock);
  return rc;
}

static int sq_requeue_dead(mtr_store *base, const char *ikey, int64_t now, size_t *requeued,
                           meter_error *err)
{
  sq_store *s = (sq_store *)base;
  size_t n = 0;
  mtr_unit *units = NULL;
  char **bkeys = NULL;
  int64_t *blimits = NULL;
  size_t count = 0, cap = 0;
  int rc = begin(s, err);
  if (rc != METER_OK)
    return rc;
  sqlite3_stmt *q = st(s, ikey ? S_DEAD_ONE : S_DEAD_ALL, err);
  if (!q)
    rc = METER_ESTORE;
  else {
    if (ikey)
      bind(q, "t", ikey);
    int r;
    while (rc == METER_OK && (r = sqlite3_step(q)) == SQLITE_ROW) {
      if (count == cap) {
        size_t ncap = cap ? cap * 2 : 16;
        mtr_unit *gu = mtr_realloc(units, ncap * sizeof *gu);
        if (gu)
          units = gu;
        char **gk = gu ? mtr_realloc(bkeys, ncap * sizeof *gk) : NULL;
        if (gk)
          bkeys = gk;
        int64_t *gl = gk ? mtr_realloc(blimits, ncap * sizeof *gl) : NULL;
        if (gl)
          blimits = gl;
        if (!gl) {
          rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
          break;
        }
        cap = ncap;
      }
      rc = read_unit(q, &units[count]);
      bkeys[count] = col_dup(q, 22);
      blimits[count] = sqlite3_column_int64(q, 23);
      count++;
      if (rc == METER_OK && !bkeys[count - 1])
        rc = METER_ENOMEM;
      if (rc != METER_OK)
        mtr_error_set(err, rc, "out of memory");
    }
    if (rc == METER_OK && r != SQLITE_DONE)
      rc = db_fail(s, s->db, r, "dead letters", err);
    sqlite3_reset(q);
  }
  if (rc == METER_OK && ikey && count == 0)
    rc = mtr_error_set(err, METER_ENOTFOUND, "no dead letter has the idempotency key %s", ikey);
  for (size_t i = 0; rc == METER_OK && i < count; i++) {
    mtr_unit *u = &units[i];
    if (u->kind != K_LATE) {
      if (!(q = st(s, S_REQUEUE, err))) {
        rc = METER_ESTORE;
        break;
      }
      bind(q, "ii", now, u->id);
      rc = run(s, q, "requeue", err);
      n++;
      continue;
    }
    /* A late record: aggregate it again, as a new submission would be. */
    if (!(q = st(s, S_DEL_UNIT, err))) {
      rc = METER_ESTORE;
      break;
    }
    bind(q, "i", u->id);
    if ((rc = run(s, q, "requeue", err)) != METER_OK)
      break;
    mtr_store_input in;
    memset(&in, 0, sizeof in);
    in.ikey = u->ikey;
    in.body = u->body;
    in.batch_key = bkeys[i];
    in.batch_limit = (uint32_t)blimits[i];
    in.time_us = u->time_us;
    in.window_us = u->window_us;
    in.flags = u->flags;
    in.agg_key = u->agg_key;
    in.quantity = u->quantity;
    in.allocs = u->allocs;
    in.bytes = u->bytes;
    in.submitted_us = u->submitted_us;
    rc = merge(s, &in, now, NULL, err);
    n++;
  }
  rc = finish(s, rc, err);
  for (size_t i = 0; i < count; i++)
    mtr_free(bkeys[i]);
  mtr_free(bkeys);
  mtr_free(blimits);
  mtr_units_free(units, count);
  if (requeued)
    *requeued = rc == METER_OK ? n : 0;
  return rc;
}

/* A hundred delivered units a round (with their contributions and keys):
 * the sender purges once a minute and must not stall on a large backlog. */
/* One transaction: up to PURGE_CHUNK units due for purging, with their
 * contributions and keys; *purged says how many. */
static int purge_chunk(sq_store *s, int64_t before, int64_t now, size_t *purged,
                       meter_error *err)
{
  int64_t ids[PURGE_CHUNK];
  size_t n = 0;
  *purged = 0;
  int rc = begin(s, err);
  if (rc != METER_OK)
    return rc;
  sqlite3_stmt *q = st(s, S_PURGE_PICK, err);
  if (!q)
    rc = METER_ESTORE;
  else {
    bind(q, "ii", before, now);
    int r;
    while (n < PURGE_CHUNK && (r = sqlite3_step(q)) == SQLITE_ROW)
      ids[n++] = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
  }
  static const int steps[] = { S_PURGE_SEEN_C, S_PURGE_SEEN_U, S_PURGE_CONTRIBS, S_PURGE_UNITS };
  for (size_t i = 0; rc == METER_OK && i < n; i++) {
    for (size_t k = 0; rc == METER_OK && k < sizeof steps / sizeof steps[0]; k++) {
      if (!(q = st(s, steps[k], err))) {
        rc = METER_ESTORE;
        break;
      }
      bind(q, "i", ids[i]);
      rc = run(s, q, "purge", err);
    }
  }
  rc = finish(s, rc, err);
  if (rc == METER_OK)
    *purged = n;
  return rc;
}

/* Everything due, a chunk per transaction so that submitters wait for one
 * chunk at most. (One chunk per call, as before, purged 100 units a minute:
 * a spool delivering more than that grew without end.) */
static int sq_purge(mtr_store *base, int64_t before, int64_t now, meter_error *err)
{
  sq_store *s = (sq_store *)base;
  size_t n;
  int rc;
  do
    rc = purge_chunk(s, before, now, &n, err);
  while (rc == METER_OK && n == PURGE_CHUNK);
  return rc;
}

const mtr_store_ops mtr_sqlite_store = {
  "sqlite",
  sq_open,
  sq_close,
  sq_abandon,
  sq_backend,
  sq_acquire_sender,
  sq_release_sender,
  sq_append,
  sq_ingest,
  sq_seal,
  sq_claim,
  sq_complete,
  sq_make_due,
  sq_sendable,
  sq_next_due,
  sq_counts,
  sq_list,
  sq_requeue_dead,
  sq_purge,
};
