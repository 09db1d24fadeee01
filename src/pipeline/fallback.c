/* The local holding area of a shared store (see fallback.h). One SQLite
 * file in WAL mode, one table of inbox rows; all access under one mutex. */
#include "fallback.h"

#include "core/alloc.h"
#include "core/error.h"
#include "meter/reliable.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>

#include "core/sync.h"

#define BUSY_TIMEOUT_MS 10000
#define LIST_ID_BASE (INT64_C(1) << 52)

struct mtr_fallback {
  sqlite3 *db;
  mtr_mutex lock;
  char *path;
  atomic_int waiting;       /* rows may be waiting */
};

#define COLS                                                                               \
  "id, ikey, body, batch_key, batch_limit, time_us, window_us, flags, agg_key, quantity,"   \
  " allocs, bytes, submitted_us"

static int fb_fail(mtr_fallback *fb, int rc, const char *what, meter_error *err)
{
  if ((rc & 0xff) == SQLITE_NOMEM)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  return mtr_error_set(err, METER_ESTORE, "spool fallback %s: %s: %s%s", fb->path, what,
                       fb->db ? sqlite3_errmsg(fb->db) : sqlite3_errstr(rc),
                       (rc & 0xff) == SQLITE_FULL ? " (disk full?)" : "");
}

static int fb_exec(mtr_fallback *fb, const char *sql, meter_error *err)
{
  int rc = sqlite3_exec(fb->db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? METER_OK : fb_fail(fb, rc, "setup", err);
}

static void fb_free(mtr_fallback *fb, int touch_files)
{
  if (touch_files && fb->db)
    sqlite3_close_v2(fb->db);
  mtr_mutex_destroy(&fb->lock);
  mtr_free(fb->path);
  mtr_free(fb);
}

int mtr_fallback_open(mtr_fallback **out, const char *path, const char *owner, int durability,
                      meter_error *err)
{
  *out = NULL;
  mtr_fallback *fb = mtr_calloc(1, sizeof *fb);
  if (!fb)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  mtr_mutex_init(&fb->lock);
  atomic_init(&fb->waiting, 1);
  fb->path = mtr_strdup(path);
  if (!fb->path) {
    fb_free(fb, 1);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  int r = sqlite3_open_v2(path, &fb->db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  int rc = r == SQLITE_OK ? METER_OK : fb_fail(fb, r, "open", err);
  if (rc == METER_OK) {
    sqlite3_busy_timeout(fb->db, BUSY_TIMEOUT_MS);
    rc = fb_exec(fb, "PRAGMA journal_mode=WAL", err);
  }
  if (rc == METER_OK)
    rc = fb_exec(fb, durability == METER_SPOOL_SYNC_PROCESS ? "PRAGMA synchronous=NORMAL"
                                                            : "PRAGMA synchronous=FULL", err);
  if (rc == METER_OK)
    rc = fb_exec(fb,
                 "BEGIN IMMEDIATE;"
                 "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL)"
                 " WITHOUT ROWID;"
                 "CREATE TABLE IF NOT EXISTS waiting("
                 " id INTEGER PRIMARY KEY, ikey TEXT NOT NULL, body TEXT NOT NULL,"
                 " batch_key TEXT NOT NULL, batch_limit INTEGER NOT NULL, time_us INTEGER NOT NULL,"
                 " window_us INTEGER NOT NULL, flags INTEGER NOT NULL, agg_key TEXT,"
                 " quantity INTEGER NOT NULL, allocs TEXT, bytes INTEGER NOT NULL,"
                 " submitted_us INTEGER NOT NULL)", err);
  /* The owner: recorded by the first spool, checked by every later one. */
  sqlite3_stmt *q = NULL;
  if (rc == METER_OK) {
    r = sqlite3_prepare_v2(fb->db,
                           "INSERT INTO meta(name, value) VALUES('owner', ?)"
                           " ON CONFLICT(name) DO NOTHING", -1, &q, NULL);
    if (r == SQLITE_OK) {
      sqlite3_bind_text(q, 1, owner, -1, SQLITE_STATIC);
      r = sqlite3_step(q);
    }
    sqlite3_finalize(q);
    q = NULL;
    if (r != SQLITE_DONE && r != SQLITE_OK)
      rc = fb_fail(fb, r, "owner", err);
  }
  if (rc == METER_OK) {
    r = sqlite3_prepare_v2(fb->db, "SELECT value FROM meta WHERE name = 'owner'", -1, &q, NULL);
    if (r == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
      const char *have = (const char *)sqlite3_column_text(q, 0);
      if (have && strcmp(have, owner) != 0)
        rc = mtr_error_set(err, METER_ECONFIG,
                           "spool fallback %s belongs to %s, not to %s: give each spool its own "
                           "fallback file", path, have, owner);
    } else {
      rc = fb_fail(fb, r, "owner", err);
    }
    sqlite3_finalize(q);
  }
  if (rc == METER_OK)
    rc = fb_exec(fb, "COMMIT", err);
  if (rc != METER_OK) {
    if (fb->db && !sqlite3_get_autocommit(fb->db))
      sqlite3_exec(fb->db, "ROLLBACK", NULL, NULL, NULL);
    fb_free(fb, 1);
    return rc;
  }
  *out = fb;
  return METER_OK;
}

void mtr_fallback_close(mtr_fallback *fb)
{
  if (fb)
    fb_free(fb, 1);
}

void mtr_fallback_abandon(mtr_fallback *fb)
{
  if (fb)
    fb_free(fb, 0);
}

int mtr_fallback_maybe_waiting(mtr_fallback *fb)
{
  return fb && atomic_load(&fb->waiting);
}

int mtr_fallback_append(mtr_fallback *fb, mtr_store_input *const *in, size_t n, int64_t now,
                        meter_error *err)
{
  mtr_mutex_lock(&fb->lock);
  sqlite3_stmt *q = NULL;
  int r = sqlite3_exec(fb->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (r == SQLITE_OK)
    r = sqlite3_prepare_v2(fb->db,
                           "INSERT INTO waiting(ikey, body, batch_key, batch_limit, time_us,"
                           " window_us, flags, agg_key, quantity, allocs, bytes, submitted_us)"
                           " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &q, NULL);
  for (size_t i = 0; r == SQLITE_OK && i < n; i++) {
    mtr_store_input *x = in[i];
    x->submitted_us = now;
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, x->ikey, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, x->body, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, x->batch_key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, x->batch_limit);
    sqlite3_bind_int64(q, 5, x->time_us);
    sqlite3_bind_int64(q, 6, x->window_us);
    sqlite3_bind_int64(q, 7, x->flags);
    if (x->agg_key)
      sqlite3_bind_text(q, 8, x->agg_key, -1, SQLITE_STATIC);
    else
      sqlite3_bind_null(q, 8);
    sqlite3_bind_int64(q, 9, x->quantity);
    if (x->allocs)
      sqlite3_bind_text(q, 10, x->allocs, -1, SQLITE_STATIC);
    else
      sqlite3_bind_null(q, 10);
    sqlite3_bind_int64(q, 11, (sqlite3_int64)x->bytes);
    sqlite3_bind_int64(q, 12, now);
    r = sqlite3_step(q);
    if (r == SQLITE_DONE)
      r = SQLITE_OK;
  }
  sqlite3_finalize(q);
  int rc = METER_OK;
  if (r == SQLITE_OK)
    r = sqlite3_exec(fb->db, "COMMIT", NULL, NULL, NULL);
  if (r != SQLITE_OK) {
    rc = fb_fail(fb, r, "store record", err);
    if (!sqlite3_get_autocommit(fb->db))
      sqlite3_exec(fb->db, "ROLLBACK", NULL, NULL, NULL);
  } else {
    atomic_store(&fb->waiting, 1);
  }
  mtr_mutex_unlock(&fb->lock);
  return rc;
}

static char *col_dup(sqlite3_stmt *q, int c)
{
  const unsigned char *t = sqlite3_column_text(q, c);
  return t ? mtr_strdup((const char *)t) : NULL;
}

/* Reads the COLS of the current row; strings are copies. */
static int read_row(sqlite3_stmt *q, mtr_store_input *in, int64_t *id)
{
  memset(in, 0, sizeof *in);
  *id = sqlite3_column_int64(q, 0);
  in->ikey = col_dup(q, 1);
  in->body = col_dup(q, 2);
  in->batch_key = col_dup(q, 3);
  in->batch_limit = (uint32_t)sqlite3_column_int64(q, 4);
  in->time_us = sqlite3_column_int64(q, 5);
  in->window_us = sqlite3_column_int64(q, 6);
  in->flags = (unsigned)sqlite3_column_int64(q, 7);
  in->agg_key = col_dup(q, 8);
  in->quantity = sqlite3_column_int64(q, 9);
  in->allocs = col_dup(q, 10);
  in->bytes = (uint64_t)sqlite3_column_int64(q, 11);
  in->submitted_us = sqlite3_column_int64(q, 12);
  int agg_ok = !sqlite3_column_text(q, 8) || in->agg_key;
  int alloc_ok = !sqlite3_column_text(q, 10) || in->allocs;
  return in->ikey && in->body && in->batch_key && agg_ok && alloc_ok ? METER_OK : METER_ENOMEM;
}

static void input_dispose(mtr_store_input *in)
{
  mtr_free((char *)in->ikey);
  mtr_free((char *)in->body);
  mtr_free((char *)in->batch_key);
  mtr_free((char *)in->agg_key);
  mtr_free((char *)in->allocs);
}

void mtr_fallback_rows_dispose(mtr_fallback_rows *rows)
{
  for (size_t i = 0; rows->in && i < rows->n; i++)
    input_dispose(&rows->in[i]);
  mtr_free(rows->in);
  mtr_free(rows->ids);
  memset(rows, 0, sizeof *rows);
}

int mtr_fallback_take(mtr_fallback *fb, size_t max, mtr_fallback_rows *out, meter_error *err)
{
  memset(out, 0, sizeof *out);
  if (max == 0)
    return METER_OK;
  out->in = mtr_calloc(max, sizeof *out->in);
  out->ids = mtr_calloc(max, sizeof *out->ids);
  if (!out->in || !out->ids) {
    mtr_fallback_rows_dispose(out);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  mtr_mutex_lock(&fb->lock);
  sqlite3_stmt *q = NULL;
  int r = sqlite3_prepare_v2(fb->db, "SELECT " COLS " FROM waiting ORDER BY id LIMIT ?", -1, &q,
                             NULL);
  int rc = r == SQLITE_OK ? METER_OK : fb_fail(fb, r, "read", err);
  if (rc == METER_OK) {
    sqlite3_bind_int64(q, 1, (sqlite3_int64)max);
    while (rc == METER_OK && out->n < max && (r = sqlite3_step(q)) == SQLITE_ROW) {
      rc = read_row(q, &out->in[out->n], &out->ids[out->n]);
      out->n++;
      if (rc != METER_OK)
        mtr_error_set(err, rc, "out of memory");
    }
    if (rc == METER_OK && r != SQLITE_DONE && r != SQLITE_ROW)
      rc = fb_fail(fb, r, "read", err);
  }
  sqlite3_finalize(q);
  if (rc == METER_OK && out->n == 0)
    atomic_store(&fb->waiting, 0);
  mtr_mutex_unlock(&fb->lock);
  if (rc != METER_OK)
    mtr_fallback_rows_dispose(out);
  return rc;
}

int mtr_fallback_drop(mtr_fallback *fb, mtr_fallback_rows *rows, meter_error *err)
{
  mtr_mutex_lock(&fb->lock);
  sqlite3_stmt *q = NULL;
  int r = sqlite3_exec(fb->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (r == SQLITE_OK)
    r = sqlite3_prepare_v2(fb->db, "DELETE FROM waiting WHERE id = ?", -1, &q, NULL);
  for (size_t i = 0; r == SQLITE_OK && i < rows->n; i++) {
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, rows->ids[i]);
    r = sqlite3_step(q);
    if (r == SQLITE_DONE)
      r = SQLITE_OK;
  }
  sqlite3_finalize(q);
  if (r == SQLITE_OK)
    r = sqlite3_exec(fb->db, "COMMIT", NULL, NULL, NULL);
  int rc = METER_OK;
  if (r != SQLITE_OK) {
    rc = fb_fail(fb, r, "forget forwarded records", err);
    if (!sqlite3_get_autocommit(fb->db))
      sqlite3_exec(fb->db, "ROLLBACK", NULL, NULL, NULL);
  }
  mtr_mutex_unlock(&fb->lock);
  mtr_fallback_rows_dispose(rows);
  return rc;
}

int mtr_fallback_counts(mtr_fallback *fb, uint64_t *rows, uint64_t *bytes, int64_t *oldest,
                        meter_error *err)
{
  *rows = *bytes = 0;
  *oldest = 0;
  mtr_mutex_lock(&fb->lock);
  sqlite3_stmt *q = NULL;
  int r = sqlite3_prepare_v2(fb->db,
                             "SELECT count(*), total(bytes), min(submitted_us) FROM waiting", -1,
                             &q, NULL);
  int rc = METER_OK;
  if (r == SQLITE_OK && (r = sqlite3_step(q)) == SQLITE_ROW) {
    *rows = (uint64_t)sqlite3_column_int64(q, 0);
    *bytes = (uint64_t)sqlite3_column_double(q, 1);
    *oldest = sqlite3_column_int64(q, 2);
    atomic_store(&fb->waiting, *rows > 0);
  } else {
    rc = fb_fail(fb, r, "count", err);
  }
  sqlite3_finalize(q);
  mtr_mutex_unlock(&fb->lock);
  return rc;
}

int mtr_fallback_list(mtr_fallback *fb, mtr_unit_fn fn, void *payload, int *stopped,
                      meter_error *err)
{
  mtr_mutex_lock(&fb->lock);
  sqlite3_stmt *q = NULL;
  int r = sqlite3_prepare_v2(fb->db, "SELECT " COLS " FROM waiting ORDER BY id", -1, &q, NULL);
  int rc = r == SQLITE_OK ? METER_OK : fb_fail(fb, r, "list", err);
  while (rc == METER_OK && !*stopped && (r = sqlite3_step(q)) == SQLITE_ROW) {
    mtr_store_input in;
    int64_t id;
    rc = read_row(q, &in, &id);
    if (rc == METER_OK) {
      mtr_unit u;
      memset(&u, 0, sizeof u);
      u.id = -LIST_ID_BASE - id;
      u.kind = METER_SPOOL_RECORD;
      u.state = METER_SPOOL_RECEIVED;
      u.flags = in.flags;
      u.ikey = (char *)in.ikey;
      u.body = (char *)in.body;
      u.agg_key = (char *)in.agg_key;
      u.allocs = (char *)in.allocs;
      u.time_us = in.time_us;
      u.window_us = in.window_us;
      u.quantity = in.quantity;
      u.bytes = in.bytes;
      u.nrecords = 1;
      u.submitted_us = u.ready_us = in.submitted_us;
      if (fn(&u, payload) != 0)
        *stopped = 1;
    } else {
      mtr_error_set(err, rc, "out of memory");
    }
    input_dispose(&in);
  }
  if (rc == METER_OK && !*stopped && r != SQLITE_DONE)
    rc = fb_fail(fb, r, "list", err);
  sqlite3_finalize(q);
  mtr_mutex_unlock(&fb->lock);
  return rc;
}
