/* Clock, sleep and randomness, injectable so tests of retries, token expiry
 * and hour boundaries run without waiting and deterministically. */
#ifndef MTR_HOOKS_H
#define MTR_HOOKS_H

#include <stddef.h>
#include <stdint.h>

typedef struct mtr_hooks {
  int64_t (*now_us)(void *ctx);   /* wall clock, microseconds since the epoch (UTC) */
  int64_t (*mono_us)(void *ctx);  /* monotonic clock, microseconds */
  void (*sleep_us)(void *ctx, int64_t us);
  int (*random)(void *ctx, void *out, size_t len); /* 0 on success */
  void *ctx;
} mtr_hooks;

/* The real clock, nanosleep and OpenSSL's RAND_bytes. */
const mtr_hooks *mtr_hooks_default(void);

static inline int64_t mtr_now_us(const mtr_hooks *h) { return h->now_us(h->ctx); }
static inline int64_t mtr_mono_us(const mtr_hooks *h) { return h->mono_us(h->ctx); }
static inline void mtr_sleep_us(const mtr_hooks *h, int64_t us) { if (us > 0) h->sleep_us(h->ctx, us); }
static inline int mtr_random(const mtr_hooks *h, void *out, size_t len) { return h->random(h->ctx, out, len); }

/* A uniformly distributed integer in [0, bound] (bound >= 0). */
int64_t mtr_random_upto(const mtr_hooks *h, int64_t bound);

#endif
