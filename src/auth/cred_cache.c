#include "cred_cache.h"

#include "core/alloc.h"
#include "core/error.h"

#include <string.h>

void mtr_cred_cache_init(mtr_cred_cache *c, const mtr_cred_ops *ops, void *ctx,
                         const mtr_hooks *hooks, mtr_logger *log, const char *what,
                         int64_t refresh_ahead_us)
{
  memset(c, 0, sizeof *c);
  mtr_mutex_init(&c->lock);
  mtr_cond_init(&c->changed);
  c->ops = ops;
  c->ctx = ctx;
  c->hooks = hooks;
  c->log = log;
  c->what = what;
  c->refresh_ahead_us = refresh_ahead_us;
}

void mtr_cred_cache_dispose(mtr_cred_cache *c)
{
  if (c->value)
    c->ops->free(c->value);
  c->value = NULL;
  mtr_cond_destroy(&c->changed);
  mtr_mutex_destroy(&c->lock);
}

static int usable(const mtr_cred_cache *c, int64_t now)
{
  return c->value && (c->expires_us == 0 || now < c->refresh_at_us);
}

/* Refresh `refresh_ahead` before expiry, but not before 90% of the lifetime. */
static int64_t refresh_time(const mtr_cred_cache *c, int64_t fetched, int64_t expires)
{
  if (expires == 0)
    return 0;
  int64_t ahead = (expires - fetched) / 10;
  if (ahead > c->refresh_ahead_us)
    ahead = c->refresh_ahead_us;
  if (ahead < 0)
    ahead = 0;
  return expires - ahead;
}

int mtr_cred_cache_get(mtr_cred_cache *c, void **copy, unsigned *generation, meter_error *err)
{
  *copy = NULL;
  mtr_mutex_lock(&c->lock);
  for (;;) {
    int64_t now = mtr_now_us(c->hooks);
    if (usable(c, now))
      break;
    if (c->fetching) {
      /* Someone else is refreshing. A value that has not expired yet is still
       * good: use it meanwhile. Otherwise wait for their result. */
      if (c->value && (c->expires_us == 0 || now < c->expires_us))
        break;
      unsigned gen = c->generation;
      unsigned fetches = c->fetches;
      while (c->fetching)
        mtr_cond_wait(&c->changed, &c->lock);
      if (c->generation == gen && c->fetches != fetches && !usable(c, mtr_now_us(c->hooks))) {
        /* Their fetch failed: report that failure rather than retrying at
         * once (the exchange around us owns retries). */
        meter_error e = c->last_error;
        mtr_mutex_unlock(&c->lock);
        mtr_error_copy(err, &e);
        return e.status ? e.status : METER_EAUTH;
      }
      continue;
    }
    c->fetching = 1;
    c->fetches++;
    mtr_mutex_unlock(&c->lock);

    void *value = NULL;
    int64_t expires = 0;
    meter_error ferr;
    mtr_error_clear(&ferr);
    int rc = c->ops->fetch(c->ctx, &value, &expires, &ferr);

    mtr_mutex_lock(&c->lock);
    c->fetching = 0;
    if (rc != METER_OK) {
      if (ferr.status == METER_OK)
        mtr_error_set(&ferr, rc, "%s: %s", c->what, meter_strerror(rc));
      c->last_error = ferr;
      mtr_cond_broadcast(&c->changed);
      mtr_mutex_unlock(&c->lock);
      mtr_error_copy(err, &ferr);
      return rc;
    }
    if (c->value)
      c->ops->free(c->value);
    c->value = value;
    c->expires_us = expires;
    c->refresh_at_us = refresh_time(c, now, expires);
    c->generation++;
    mtr_cond_broadcast(&c->changed);
    if (expires && expires <= now)
      MTR_WARN(c->log, "%s arrived already expired; using it once", c->what);
    MTR_DEBUG(c->log, "%s refreshed (expires in %lld s)", c->what,
              expires ? (long long)((expires - now) / 1000000) : -1LL);
    /* A value that expires within the margin is still used once rather than
     * looping: leave the loop with it. */
    if (!usable(c, now))
      break;
  }
  void *v = c->ops->copy(c->value);
  unsigned gen = c->generation;
  mtr_mutex_unlock(&c->lock);
  if (!v)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  *copy = v;
  if (generation)
    *generation = gen;
  return METER_OK;
}

void mtr_cred_cache_invalidate(mtr_cred_cache *c, unsigned generation)
{
  mtr_mutex_lock(&c->lock);
  if (c->value && c->generation == generation) {
    c->ops->free(c->value);
    c->value = NULL;
    c->expires_us = c->refresh_at_us = 0;
  }
  mtr_mutex_unlock(&c->lock);
}

void *mtr_cred_copy_string(const void *value)
{
  return mtr_strdup(value);
}

void mtr_cred_free_string(void *value)
{
  mtr_free_secret_str(value);
}
