/* A cached credential (bearer token, OAuth access token, AWS credentials)
 * refreshed ahead of expiry, one refresh at a time: when many threads need it
 * at once, one fetches and the others wait for that result instead of
 * stampeding the token endpoint. The value is opaque to the cache. */
#ifndef MTR_CRED_CACHE_H
#define MTR_CRED_CACHE_H

#include "core/hooks.h"
#include "core/log.h"
#include "core/sync.h"
#include "meter/errors.h"

#include <stdint.h>

typedef struct mtr_cred_ops {
  /* Fetches a fresh value; sets *expires_us (0 = does not expire). */
  int (*fetch)(void *ctx, void **value, int64_t *expires_us, meter_error *err);
  void *(*copy)(const void *value);  /* deep copy for a caller; NULL on ENOMEM */
  void (*free)(void *value);         /* wipes secrets */
} mtr_cred_ops;

typedef struct mtr_cred_cache {
  mtr_mutex lock;
  mtr_cond changed;
  const mtr_cred_ops *ops;
  void *ctx;
  const mtr_hooks *hooks;
  mtr_logger *log;
  const char *what;            /* "Tackle token", for messages */
  int64_t refresh_ahead_us;    /* refresh this long before expiry (at most) */
  void *value;
  int64_t expires_us;          /* the value's own expiry (0 = never) */
  int64_t refresh_at_us;       /* when to fetch a new one */
  unsigned generation;         /* bumped on every new value */
  int fetching;
  meter_error last_error;      /* of the last failed fetch */
  unsigned fetches;            /* how many fetches ran (for tests, logs) */
} mtr_cred_cache;

void mtr_cred_cache_init(mtr_cred_cache *c, const mtr_cred_ops *ops, void *ctx,
                         const mtr_hooks *hooks, mtr_logger *log, const char *what,
                         int64_t refresh_ahead_us);
void mtr_cred_cache_dispose(mtr_cred_cache *c);

/* A copy of a valid value (caller frees it with ops->free), fetching first
 * if there is none or it is due for refresh. A value is refreshed
 * refresh_ahead before it expires, but never earlier than nine tenths into
 * its lifetime, so short-lived tokens (a sandbox's 30 s) are not refetched
 * on every call. While one thread refreshes, others keep using the current
 * value if it has not expired yet. *generation
 * (optional) identifies the value for mtr_cred_cache_invalidate. */
int mtr_cred_cache_get(mtr_cred_cache *c, void **copy, unsigned *generation, meter_error *err);

/* The marketplace refused the value of `generation` (a 401): drop it so the
 * next get fetches anew. A newer value (another thread already refreshed) is
 * kept, so concurrent 401s lead to one fetch. */
void mtr_cred_cache_invalidate(mtr_cred_cache *c, unsigned generation);

/* Ready-made ops for a plain string token. */
void *mtr_cred_copy_string(const void *value);
void mtr_cred_free_string(void *value);

#endif
