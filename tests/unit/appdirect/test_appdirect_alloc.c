/* Allocation failures: make the n-th allocation fail, for every n, during a
 * whole round (token, usage request, status query, apply). Every failure must
 * end cleanly (no crash, no leak under the sanitizers) and never report an
 * undelivered record as delivered. */
#include "ad_fixture.h"

#include "core/alloc.h"

static const char failed_doc[] =
  "{\"requestId\":\"req-1\",\"status\":\"FAILED\",\"failedUsagesCount\":1,\"failedUsages\":["
  "{\"accountId\":\"bad-1\",\"eventId\":\"e2\",\"errorCode\":\"BAD_DATA\","
  "\"errorDescription\":\"quantity out of range\"}]}";

/* One round with the n-th allocation failing; returns 1 if it was reached. */
static int round_failing_at(long n)
{
  adfx *f = adfx_new(NULL);
  assert_non_null(f);
  meter_record *r[3];
  r[0] = ad_rec("e1", 0, "account", "good", "pricing_unit", "USER", "quantity", "1",
                "description", "d", NULL);
  r[1] = ad_rec("e2", 0, "account", "bad-1", "custom_unit", "X", "quantity", "2.5", "price",
                "3", "currency", "EUR", NULL);
  r[2] = ad_rec("e1", 0, "account", "good", "pricing_unit", "USER", "quantity", "1", NULL);
  assert_int_equal(meter_record_set_attribute(r[1], "k", "v"), METER_OK);
  push_token(f, "tok", 43199);
  push_accepted(f, "req-1");
  fake_push(&f->t, 200, NULL, failed_doc);

  long before = mtr_alloc_count();
  mtr_alloc_fail_at(n);
  meter_results *res = NULL;
  int rc = meter_send(f->c, r, 3, &res);
  meter_appdirect_status *st = NULL;
  if (rc == METER_OK && meter_appdirect_status_get(&st, f->c, "req-1") == METER_OK)
    meter_appdirect_status_apply(res, NULL, st);
  mtr_alloc_fail_at(0);
  long used = mtr_alloc_count() - before;

  if (rc == METER_OK) {
    /* Delivered means the request really went out and was answered. */
    assert_int_equal(sent_to(f, AD_USAGE_URL), 1);
    for (size_t i = 0; i < 3; i++)
      assert_true(meter_results_outcome(res, i) != METER_OUTCOME_PENDING);
  } else if (res) {
    for (size_t i = 0; i < 3; i++)
      assert_false(meter_outcome_delivered(meter_results_outcome(res, i)) &&
                   sent_to(f, AD_USAGE_URL) == 0);
  }
  meter_appdirect_status_free(st);
  meter_results_free(res);
  for (int i = 0; i < 3; i++)
    meter_record_free(r[i]);
  adfx_free(f);
  return used >= n;
}

static void test_every_allocation_failure(void **state)
{
  (void)state;
  long n = 1;
  while (round_failing_at(n) && n < 5000)
    n++;
  assert_true(n > 20); /* the round does allocate */
  assert_true(n < 5000);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_every_allocation_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
