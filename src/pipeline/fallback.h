/* A local holding area for submits while a shared store (PostgreSQL) cannot
 * be reached: a small SQLite file of inbox rows. meter_submit stores there
 * instead of failing (when the spool's fallback_path is set), and the
 * sender forwards the rows to the database once it answers again, oldest
 * first, then deletes them. Forwarding is idempotent on the database side
 * (the idempotency key), so a crash between the two steps only forwards a
 * row twice, and the second copy is dropped there.
 *
 * The file remembers which spool it belongs to (`owner`: the database,
 * spool name and back end, never a password) and refuses another: its rows
 * must not be forwarded to the wrong place. */
#ifndef MTR_FALLBACK_H
#define MTR_FALLBACK_H

#include "meter/errors.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct mtr_fallback mtr_fallback;

/* Opens (creating) the file at `path` for the spool named `owner`. */
int mtr_fallback_open(mtr_fallback **out, const char *path, const char *owner, int durability,
                      meter_error *err);
void mtr_fallback_close(mtr_fallback *fb);
/* In a forked child: free the memory, leave the parent's file handles alone. */
void mtr_fallback_abandon(mtr_fallback *fb);

/* Stores n inputs in one transaction (all or none); sets their submitted_us. */
int mtr_fallback_append(mtr_fallback *fb, mtr_store_input *const *in, size_t n, int64_t now_us,
                        meter_error *err);

/* Whether rows may be waiting (cheap: a flag kept in memory, refreshed by
 * take and counts; other processes sharing the file are seen at counts). */
int mtr_fallback_maybe_waiting(mtr_fallback *fb);

/* Rows taken by mtr_fallback_take, oldest first; strings owned by the set. */
typedef struct mtr_fallback_rows {
  mtr_store_input *in;
  int64_t *ids;
  size_t n;
  void *priv;
} mtr_fallback_rows;

/* Reads up to `max` oldest rows (they stay in the file until dropped). */
int mtr_fallback_take(mtr_fallback *fb, size_t max, mtr_fallback_rows *out, meter_error *err);
/* Deletes the rows of `rows` (after they were forwarded) and frees the set. */
int mtr_fallback_drop(mtr_fallback *fb, mtr_fallback_rows *rows, meter_error *err);
void mtr_fallback_rows_dispose(mtr_fallback_rows *rows);

/* Rows waiting, their bytes and the oldest submission time (0 if none). */
int mtr_fallback_counts(mtr_fallback *fb, uint64_t *rows, uint64_t *bytes, int64_t *oldest_us,
                        meter_error *err);

/* Calls fn for each waiting row as a RECEIVED unit (ids -2^52 - row id). */
int mtr_fallback_list(mtr_fallback *fb, mtr_unit_fn fn, void *payload, int *stopped,
                      meter_error *err);

#endif
