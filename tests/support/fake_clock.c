#include "fake_clock.h"

#include <string.h>

static int64_t fc_now(void *ctx) { return ((fake_clock *)ctx)->now_us; }
static int64_t fc_mono(void *ctx) { return ((fake_clock *)ctx)->mono_us; }

static void fc_sleep(void *ctx, int64_t us)
{
  fake_clock *c = ctx;
  if (c->nsleeps < FAKE_CLOCK_MAX_SLEEPS)
    c->sleeps[c->nsleeps++] = us;
  c->slept_total += us;
  fake_clock_advance(c, us);
}

static int fc_random(void *ctx, void *out, size_t len)
{
  fake_clock *c = ctx;
  unsigned char *p = out;
  for (size_t i = 0; i < len; i++) {
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    p[i] = (unsigned char)(c->rng >> 32);
  }
  return 0;
}

void fake_clock_init(fake_clock *c, int64_t now_us)
{
  memset(c, 0, sizeof *c);
  c->now_us = now_us;
  c->mono_us = 1000000;
  c->rng = 0x9e3779b97f4a7c15ull;
  c->hooks.now_us = fc_now;
  c->hooks.mono_us = fc_mono;
  c->hooks.sleep_us = fc_sleep;
  c->hooks.random = fc_random;
  c->hooks.ctx = c;
}

void fake_clock_advance(fake_clock *c, int64_t us)
{
  c->now_us += us;
  c->mono_us += us;
}
