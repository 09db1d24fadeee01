/* A fake clock: sleeping advances time instantly, randomness is a seeded
 * xorshift. Retry and expiry tests run in microseconds, deterministically. */
#ifndef FAKE_CLOCK_H
#define FAKE_CLOCK_H

#include "core/hooks.h"

#include <stdint.h>

#define FAKE_CLOCK_MAX_SLEEPS 256

typedef struct fake_clock {
  mtr_hooks hooks;
  int64_t now_us;
  int64_t mono_us;
  uint64_t rng;
  int64_t sleeps[FAKE_CLOCK_MAX_SLEEPS];
  size_t nsleeps;
  int64_t slept_total;
} fake_clock;

void fake_clock_init(fake_clock *c, int64_t now_us);
void fake_clock_advance(fake_clock *c, int64_t us);

#endif
