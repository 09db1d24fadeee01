/* Allocation-failure torture: a MeterUsage send, a BatchMeterUsage send with
 * an unprocessed record resent, and ResolveCustomer, each with every one of
 * their allocations failing in turn. Each run must end cleanly (an error or
 * a result, no crash; the sanitizer build catches leaks). */
#include "aws_test_util.h"

#include "core/alloc.h"
#include "meter/aws.h"

typedef enum scenario { METER, BATCH, RESOLVE } scenario;

static int run(scenario s, long fail_at)
{
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, "session_token", "tok-123", NULL);
  assert_non_null(c);
  meter_record *r[2] = { NULL, NULL };
  size_t n = 1;
  int rc;
  if (s == METER) {
    fake_push(&f.ft, 503, NULL, "{\"__type\":\"InternalServiceErrorException\"}");
    fake_push(&f.ft, 200, "x-amzn-RequestId: r", "{\"MeteringRecordId\":\"m\"}");
    r[0] = rec_of("product", "p", "dimension", "d", "quantity", "3", "time",
                  "2024-01-01T00:00:00Z", NULL);
    const char *k[] = { "t" }, *v1[] = { "a" }, *v2[] = { "b" };
    meter_record_add_allocation(r[0], 1, k, v1, 1);
    meter_record_add_allocation(r[0], 2, k, v2, 1);
  } else if (s == BATCH) {
    fake_push(&f.ft, 200, NULL,
              "{\"Results\":[{\"UsageRecord\":{\"Timestamp\":1704067200,\"CustomerIdentifier\":"
              "\"c1\",\"Dimension\":\"d\",\"Quantity\":1},\"MeteringRecordId\":\"m1\","
              "\"Status\":\"Success\"}],\"UnprocessedRecords\":[{\"Timestamp\":1704067200,"
              "\"CustomerIdentifier\":\"c2\",\"Dimension\":\"d\",\"Quantity\":2}]}");
    fake_push(&f.ft, 200, NULL,
              "{\"Results\":[{\"UsageRecord\":{\"Timestamp\":1704067200,\"CustomerIdentifier\":"
              "\"c2\",\"Dimension\":\"d\",\"Quantity\":2},\"MeteringRecordId\":\"m2\","
              "\"Status\":\"DuplicateRecord\"}]}");
    r[0] = rec_of("product", "p", "customer", "c1", "dimension", "d", "quantity", "1", "time",
                  "2024-01-01T00:00:00Z", NULL);
    r[1] = rec_of("product", "p", "customer", "c2", "dimension", "d", "quantity", "2", "time",
                  "2024-01-01T00:00:00Z", NULL);
    n = 2;
  } else {
    fake_push(&f.ft, 200, NULL, "{\"CustomerIdentifier\":\"x\",\"ProductCode\":\"p\","
                                "\"CustomerAWSAccountId\":\"1\",\"LicenseArn\":\"arn:aws:l:::x\"}");
  }
  mtr_alloc_fail_at(fail_at);
  if (s == RESOLVE) {
    meter_aws_customer *cu = NULL;
    rc = meter_aws_resolve_customer(&cu, c, "token");
    mtr_alloc_fail_at(0);
    meter_aws_customer_free(cu);
  } else {
    meter_results *res = NULL;
    rc = meter_send(c, r, n, &res);
    mtr_alloc_fail_at(0);
    if (rc == METER_OK || rc == METER_EREJECTED)
      assert_non_null(res);
    meter_results_free(res);
  }
  meter_record_free(r[0]);
  meter_record_free(r[1]);
  aws_fixture_free(&f);
  return rc;
}

static void torture(scenario s, int ok_status, const char *what)
{
  long before = mtr_alloc_count();
  assert_int_equal(run(s, 0), ok_status);
  long total = mtr_alloc_count() - before;
  assert_true(total > 20);
  int failures = 0;
  for (long n = 1; n <= total; n++)
    failures += run(s, n) != ok_status;
  print_message("%s: %ld allocations, %d runs failed\n", what, total, failures);
  assert_true(failures > 0);
}

static void test_meter_usage(void **state)
{
  (void)state;
  torture(METER, METER_OK, "MeterUsage");
}

static void test_batch(void **state)
{
  (void)state;
  torture(BATCH, METER_EREJECTED, "BatchMeterUsage");
}

static void test_resolve(void **state)
{
  (void)state;
  torture(RESOLVE, METER_OK, "ResolveCustomer");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_meter_usage),
    cmocka_unit_test(test_batch),
    cmocka_unit_test(test_resolve),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
