/* The credential cache: refresh ahead of expiry, one fetch under concurrency,
 * invalidation by generation, failures passed to waiters. */
#include "test_util.h"

#include "auth/cred_cache.h"
#include "core/alloc.h"
#include "core/error.h"
#include "fake_clock.h"

#include <pthread.h>
#include <unistd.h>

typedef struct src {
  fake_clock *fc;
  int fetches;
  int fail;
  int slow_us;
  pthread_mutex_t lock;
} src;

static int fetch(void *ctx, void **value, int64_t *expires, meter_error *err)
{
  src *s = ctx;
  pthread_mutex_lock(&s->lock);
  int n = ++s->fetches;
  pthread_mutex_unlock(&s->lock);
  if (s->slow_us)
    usleep((useconds_t)s->slow_us);
  if (s->fail)
    return mtr_error_set(err, METER_EAUTH, "token endpoint said no");
  char tok[32];
  snprintf(tok, sizeof tok, "token-%d", n);
  *value = mtr_strdup(tok);
  *expires = s->fc->now_us + 3600 * INT64_C(1000000);
  return METER_OK;
}

static const mtr_cred_ops ops = { fetch, mtr_cred_copy_string, mtr_cred_free_string };

static void test_refresh_ahead_of_expiry(void **state)
{
  (void)state;
  fake_clock fc;
  fake_clock_init(&fc, INT64_C(1704067200000000));
  src s = { .fc = &fc };
  pthread_mutex_init(&s.lock, NULL);
  mtr_logger lg;
  mtr_logger_init(&lg, NULL, NULL, 0);
  mtr_cred_cache c;
  mtr_cred_cache_init(&c, &ops, &s, &fc.hooks, &lg, "test token", 300 * INT64_C(1000000));
  void *v;
  unsigned gen;
  assert_int_equal(mtr_cred_cache_get(&c, &v, &gen, NULL), METER_OK);
  assert_string_equal(v, "token-1");
  mtr_free(v);
  fake_clock_advance(&fc, 3000 * INT64_C(1000000)); /* 50 min: still fresh */
  assert_int_equal(mtr_cred_cache_get(&c, &v, NULL, NULL), METER_OK);
  assert_string_equal(v, "token-1");
  mtr_free(v);
  fake_clock_advance(&fc, 301 * INT64_C(1000000)); /* inside the 5 min margin */
  assert_int_equal(mtr_cred_cache_get(&c, &v, &gen, NULL), METER_OK);
  assert_string_equal(v, "token-2");
  mtr_free(v);
  /* Invalidating an old generation keeps the new value. */
  mtr_cred_cache_invalidate(&c, gen - 1);
  assert_int_equal(mtr_cred_cache_get(&c, &v, NULL, NULL), METER_OK);
  assert_string_equal(v, "token-2");
  mtr_free(v);
  mtr_cred_cache_invalidate(&c, gen);
  assert_int_equal(mtr_cred_cache_get(&c, &v, NULL, NULL), METER_OK);
  assert_string_equal(v, "token-3");
  mtr_free(v);
  /* A failing fetch is reported with its message. */
  mtr_cred_cache_invalidate(&c, c.generation);
  s.fail = 1;
  meter_error e;
  assert_int_equal(mtr_cred_cache_get(&c, &v, NULL, &e), METER_EAUTH);
  assert_string_equal(e.message, "token endpoint said no");
  mtr_cred_cache_dispose(&c);
  mtr_logger_dispose(&lg);
}

/* Margin: refresh_ahead before expiry, but at most a tenth of the lifetime. */
static int64_t lifetime_s = 3600;

static int fetch_lifetime(void *ctx, void **value, int64_t *expires, meter_error *err)
{
  (void)err;
  src *s = ctx;
  s->fetches++;
  *value = mtr_strdup("tok");
  *expires = s->fc->now_us + lifetime_s * INT64_C(1000000);
  return *value ? METER_OK : METER_ENOMEM;
}

static const mtr_cred_ops life_ops = { fetch_lifetime, mtr_cred_copy_string, mtr_cred_free_string };

static int64_t renewed_after_s(int64_t life, int64_t ahead_s)
{
  fake_clock fc;
  fake_clock_init(&fc, INT64_C(1704067200000000));
  src s = { .fc = &fc };
  mtr_logger lg;
  mtr_logger_init(&lg, NULL, NULL, 0);
  mtr_cred_cache c;
  mtr_cred_cache_init(&c, &life_ops, &s, &fc.hooks, &lg, "t", ahead_s * INT64_C(1000000));
  lifetime_s = life;
  void *v;
  int64_t waited = 0;
  mtr_cred_cache_get(&c, &v, NULL, NULL);
  mtr_free(v);
  while (s.fetches == 1 && waited < life + 1) {
    fake_clock_advance(&fc, INT64_C(1000000));
    waited++;
    mtr_cred_cache_get(&c, &v, NULL, NULL);
    mtr_free(v);
  }
  mtr_cred_cache_dispose(&c);
  mtr_logger_dispose(&lg);
  return waited;
}

static void test_margin_scales_with_lifetime(void **state)
{
  (void)state;
  assert_int_equal(renewed_after_s(5400, 300), 5100); /* 5 min before a 90 min token */
  assert_int_equal(renewed_after_s(3600, 300), 3300);
  assert_int_equal(renewed_after_s(100, 300), 90);    /* a tenth of a short lifetime */
  assert_int_equal(renewed_after_s(60, 0), 60);       /* no margin: at expiry */
}

/* While one thread refreshes a token that is due but not expired, others
 * keep using it instead of waiting. */
typedef struct slow_src {
  fake_clock *fc;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int release;
  int fetches;
} slow_src;

static int fetch_blocking(void *ctx, void **value, int64_t *expires, meter_error *err)
{
  (void)err;
  slow_src *s = ctx;
  pthread_mutex_lock(&s->lock);
  int n = ++s->fetches;
  while (n > 1 && !s->release)
    pthread_cond_wait(&s->cond, &s->lock);
  pthread_mutex_unlock(&s->lock);
  *value = mtr_strdup(n == 1 ? "old" : "new");
  *expires = s->fc->now_us + 100 * INT64_C(1000000);
  return METER_OK;
}

static const mtr_cred_ops blocking_ops = { fetch_blocking, mtr_cred_copy_string,
                                           mtr_cred_free_string };

static void *refresher(void *p)
{
  void *v;
  if (mtr_cred_cache_get(p, &v, NULL, NULL) == METER_OK)
    mtr_free(v);
  return NULL;
}

static void test_others_use_valid_token_during_refresh(void **state)
{
  (void)state;
  fake_clock fc;
  fake_clock_init(&fc, INT64_C(1704067200000000));
  slow_src s = { .fc = &fc };
  pthread_mutex_init(&s.lock, NULL);
  pthread_cond_init(&s.cond, NULL);
  mtr_logger lg;
  mtr_logger_init(&lg, NULL, NULL, 0);
  mtr_cred_cache c;
  mtr_cred_cache_init(&c, &blocking_ops, &s, &fc.hooks, &lg, "t", 300 * INT64_C(1000000));
  void *v;
  assert_int_equal(mtr_cred_cache_get(&c, &v, NULL, NULL), METER_OK);
  assert_string_equal(v, "old");
  mtr_free(v);
  fake_clock_advance(&fc, 95 * INT64_C(1000000)); /* due (margin 10 s), not expired */
  pthread_t t;
  pthread_create(&t, NULL, refresher, &c);
  for (;;) { /* wait until the refresh is in flight */
    pthread_mutex_lock(&s.lock);
    int n = s.fetches;
    pthread_mutex_unlock(&s.lock);
    if (n == 2)
      break;
    usleep(1000);
  }
  assert_int_equal(mtr_cred_cache_get(&c, &v, NULL, NULL), METER_OK);
  assert_string_equal(v, "old"); /* did not block on the refresh */
  mtr_free(v);
  pthread_mutex_lock(&s.lock);
  s.release = 1;
  pthread_cond_broadcast(&s.cond);
  pthread_mutex_unlock(&s.lock);
  pthread_join(t, NULL);
  assert_int_equal(mtr_cred_cache_get(&c, &v, NULL, NULL), METER_OK);
  assert_string_equal(v, "new");
  mtr_free(v);
  mtr_cred_cache_dispose(&c);
  mtr_logger_dispose(&lg);
}

typedef struct worker {
  mtr_cred_cache *c;
  int ok;
} worker;

static void *run(void *p)
{
  worker *w = p;
  void *v;
  if (mtr_cred_cache_get(w->c, &v, NULL, NULL) == METER_OK) {
    w->ok = strcmp(v, "token-1") == 0;
    mtr_free(v);
  }
  return NULL;
}

static void test_one_fetch_for_many_threads(void **state)
{
  (void)state;
  src s = { .slow_us = 50000 };
  pthread_mutex_init(&s.lock, NULL);
  fake_clock fc;
  fake_clock_init(&fc, INT64_C(1704067200000000));
  s.fc = &fc;
  mtr_logger lg;
  mtr_logger_init(&lg, NULL, NULL, 0);
  mtr_cred_cache c;
  /* Real clock for waits; the fake one only feeds expiry. */
  mtr_cred_cache_init(&c, &ops, &s, &fc.hooks, &lg, "test token", 0);
  enum { N = 16 };
  pthread_t t[N];
  worker w[N];
  for (int i = 0; i < N; i++) {
    w[i].c = &c;
    w[i].ok = 0;
    pthread_create(&t[i], NULL, run, &w[i]);
  }
  for (int i = 0; i < N; i++) {
    pthread_join(t[i], NULL);
    assert_true(w[i].ok);
  }
  assert_int_equal(s.fetches, 1);
  mtr_cred_cache_dispose(&c);
  mtr_logger_dispose(&lg);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_refresh_ahead_of_expiry),
    cmocka_unit_test(test_one_fetch_for_many_threads),
    cmocka_unit_test(test_margin_scales_with_lifetime),
    cmocka_unit_test(test_others_use_valid_token_during_refresh),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
