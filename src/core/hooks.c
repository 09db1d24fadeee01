#include "hooks.h"

#include <errno.h>
#include <openssl/rand.h>
#include <time.h>

static int64_t real_now_us(void *ctx)
{
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t real_mono_us(void *ctx)
{
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void real_sleep_us(void *ctx, int64_t us)
{
  (void)ctx;
  struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

static int real_random(void *ctx, void *out, size_t len)
{
  (void)ctx;
  return RAND_bytes(out, (int)len) == 1 ? 0 : -1;
}

static const mtr_hooks default_hooks = { real_now_us, real_mono_us, real_sleep_us, real_random, NULL };

const mtr_hooks *mtr_hooks_default(void)
{
  return &default_hooks;
}

int64_t mtr_random_upto(const mtr_hooks *h, int64_t bound)
{
  if (bound <= 0)
    return 0;
  uint64_t range = (uint64_t)bound + 1, r = 0;
  /* Rejection sampling keeps the distribution uniform. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  do {
    if (mtr_random(h, &r, sizeof r) != 0)
      return bound / 2; /* no randomness: fall back to the midpoint */
  } while (r >= limit);
  return (int64_t)(r % range);
}
