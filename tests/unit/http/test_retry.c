#include "test_util.h"

#include "core/timefmt.h"
#include "fake_clock.h"
#include "http/retry.h"

static void test_backoff_bounds_full_jitter(void **state)
{
  (void)state;
  fake_clock fc;
  fake_clock_init(&fc, 0);
  mtr_retry_policy p;
  mtr_retry_policy_default(&p);
  /* Upper bounds: 100, 200, 400, ... ms, capped at 20 s; full jitter spreads
   * the draws over [0, bound]. */
  int64_t want[] = { 100000, 200000, 400000, 800000, 1600000, 3200000, 6400000, 12800000,
                     20000000, 20000000, 20000000 };
  for (unsigned r = 1; r <= 11; r++) {
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 3000; i++) {
      int64_t d = mtr_backoff_us(&p, &fc.hooks, r, MTR_RETRY_TRANSIENT);
      assert_true(d >= 0 && d <= want[r - 1]);
      lo = d < lo ? d : lo;
      hi = d > hi ? d : hi;
    }
    assert_true(lo < want[r - 1] / 10);      /* reaches near zero */
    assert_true(hi > want[r - 1] / 10 * 9);  /* and near the bound */
  }
  /* Throttling starts from the larger base. */
  int64_t hi = 0;
  for (int i = 0; i < 3000; i++) {
    int64_t d = mtr_backoff_us(&p, &fc.hooks, 1, MTR_RETRY_THROTTLED);
    assert_true(d <= 500000);
    hi = d > hi ? d : hi;
  }
  assert_true(hi > 450000);
}

static void test_budget_exhaustion_and_refill(void **state)
{
  (void)state;
  mtr_retry_budget b;
  mtr_budget_init(&b, MTR_BUDGET_CAPACITY);
  int retries = 0;
  while (mtr_budget_acquire(&b, MTR_RETRY_TRANSIENT) >= 0)
    retries++;
  assert_int_equal(retries, 100); /* 500 / 5 */
  assert_int_equal(mtr_budget_acquire(&b, MTR_RETRY_TIMEOUT), -1);
  /* Successes without retries refill one token each. */
  for (int i = 0; i < 5; i++)
    mtr_budget_on_success(&b, 0);
  assert_int_equal(mtr_budget_tokens(&b), 5);
  assert_int_equal(mtr_budget_acquire(&b, MTR_RETRY_TRANSIENT), 5);
  assert_int_equal(mtr_budget_acquire(&b, MTR_RETRY_TRANSIENT), -1);
  /* A success after retries refunds what they cost. */
  mtr_budget_on_success(&b, 10);
  assert_int_equal(mtr_budget_tokens(&b), 10);
  assert_int_equal(mtr_budget_acquire(&b, MTR_RETRY_TIMEOUT), 10);
  /* Never above capacity. */
  for (int i = 0; i < 1000; i++)
    mtr_budget_on_success(&b, 5);
  assert_int_equal(mtr_budget_tokens(&b), 500);
  mtr_budget_dispose(&b);

  mtr_budget_init(&b, 0); /* disabled: unlimited */
  for (int i = 0; i < 1000; i++)
    assert_int_equal(mtr_budget_acquire(&b, MTR_RETRY_TIMEOUT), 0);
  mtr_budget_dispose(&b);
}

static void test_retry_after(void **state)
{
  (void)state;
  int64_t now;
  mtr_time_parse("2024-01-01T00:00:00Z", &now);
  assert_true(mtr_retry_after_us("3", NULL, NULL, now) == 3000000);
  assert_true(mtr_retry_after_us(" 0 ", NULL, NULL, now) == 0);
  assert_true(mtr_retry_after_us("-1", NULL, NULL, now) == -1);
  assert_true(mtr_retry_after_us("soon", NULL, NULL, now) == -1);
  assert_true(mtr_retry_after_us(NULL, NULL, NULL, now) == -1);
  assert_true(mtr_retry_after_us("Mon, 01 Jan 2024 00:00:07 GMT", NULL, NULL, now) == 7000000);
  /* Relative to the server's Date header, not our (skewed) clock. */
  assert_true(mtr_retry_after_us("Mon, 01 Jan 2024 00:00:07 GMT", NULL,
                                 "Mon, 01 Jan 2024 00:00:05 GMT", now + 3600 * 1000000LL) == 2000000);
  assert_true(mtr_retry_after_us("Mon, 01 Jan 2023 00:00:07 GMT", NULL, NULL, now) == 0);
  assert_true(mtr_retry_after_us("2", "1500", NULL, now) == 1500000);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_backoff_bounds_full_jitter),
    cmocka_unit_test(test_budget_exhaustion_and_refill),
    cmocka_unit_test(test_retry_after),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
