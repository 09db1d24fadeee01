/* meter-sandbox --bench: what it stops keeping and what it still checks.
 * AWS MeterUsage ClientTokens are not remembered (a reused token with other
 * parameters is judged by the once-per-hour rule alone); AppDirect usage
 * requests are validated, counted and answered 202 but not stored (a
 * repeated idempotencyKey is accepted again, the ledger stays empty, the
 * counters under "bench" say what was accepted). Without --bench the same
 * calls keep their normal answers (the control case of each test). */
#include "sbx_client.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sandbox_proc bench, normal;

static int group_setup(void **state)
{
  (void)state;
  sbx_start(&bench, "--bench", NULL);
  sbx_start(&normal, NULL);
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  sbx_stop(&bench);
  sbx_stop(&normal);
  sbx_stop_others(NULL);
  return 0;
}

static int reset(void **state)
{
  (void)state;
  assert_int_equal(sandbox_reset(&bench), 0);
  assert_int_equal(sandbox_reset(&normal), 0);
  return 0;
}

static void meter_body(char *out, size_t size, long long ts, long quantity, const char *token)
{
  snprintf(out, size,
           "{\"ProductCode\":\"prod-1\",\"Timestamp\":%lld,\"UsageDimension\":\"users\","
           "\"UsageQuantity\":%ld,\"ClientToken\":\"%s\"}",
           ts, quantity, token);
}

/* Same ClientToken, another hour: the normal sandbox answers 409
 * IdempotencyConflictException; --bench no longer knows the token and
 * meters the new hour. */
static void test_client_tokens_not_kept(void **state)
{
  (void)state;
  sandbox_proc *sps[] = { &normal, &bench };
  for (int i = 0; i < 2; i++) {
    long long hour = sbx_hour_s(sps[i]);
    char b[512];
    http_resp r;
    meter_body(b, sizeof b, hour - 3600, 5, "tok-1");
    assert_int_equal(aws_call(sps[i], "MeterUsage", b, NULL, &r), 200);
    http_resp_free(&r);
    meter_body(b, sizeof b, hour - 7200, 5, "tok-1");
    long status = aws_call(sps[i], "MeterUsage", b, NULL, &r);
    if (sps[i] == &normal) {
      assert_int_equal(status, 409);
      assert_string_equal(aws_error(&r), "IdempotencyConflictException");
    } else {
      assert_int_equal(status, 200);
      assert_non_null(jstr(r.json, "MeteringRecordId"));
    }
    http_resp_free(&r);
    cJSON *root;
    assert_int_equal(cJSON_GetArraySize(ledger_of(sps[i], "aws", &root)), sps[i] == &bench ? 2 : 1);
    cJSON_Delete(root);
  }
}

/* The once-per-hour rule still holds in --bench: the same hour with a new
 * token and the same quantity is the same record, another quantity is a
 * DuplicateRequestException; validation and SigV4 still apply. */
static void test_hour_rule_and_checks_kept(void **state)
{
  (void)state;
  long long hour = sbx_hour_s(&bench);
  char b[512];
  http_resp r;
  meter_body(b, sizeof b, hour, 5, "tok-a");
  assert_int_equal(aws_call(&bench, "MeterUsage", b, NULL, &r), 200);
  char first[64];
  snprintf(first, sizeof first, "%s", jstr(r.json, "MeteringRecordId"));
  http_resp_free(&r);
  meter_body(b, sizeof b, hour, 5, "tok-b");
  assert_int_equal(aws_call(&bench, "MeterUsage", b, NULL, &r), 200);
  assert_string_equal(jstr(r.json, "MeteringRecordId"), first);
  http_resp_free(&r);
  meter_body(b, sizeof b, hour, 6, "tok-c");
  assert_int_equal(aws_call(&bench, "MeterUsage", b, NULL, &r), 400);
  assert_string_equal(aws_error(&r), "DuplicateRequestException");
  http_resp_free(&r);
  meter_body(b, sizeof b, hour - 7 * 3600, 5, "tok-d");
  assert_int_equal(aws_call(&bench, "MeterUsage", b, NULL, &r), 400);
  assert_string_equal(aws_error(&r), "TimestampOutOfBoundsException");
  http_resp_free(&r);
  aws_signer wrong = { 0 };
  wrong.secret = "not-the-secret";
  meter_body(b, sizeof b, hour, 5, "tok-e");
  assert_int_equal(aws_call(&bench, "MeterUsage", b, &wrong, &r), 400);
  assert_string_equal(aws_error(&r), "InvalidSignatureException");
  http_resp_free(&r);
}

#define USAGE "/api/integration/v2/billing/usage"

static char *usage_body(const char *key)
{
  static char b[1024];
  snprintf(b, sizeof b,
           "{\"idempotencyKey\":\"%s\",\"billable\":true,\"usages\":["
           "{\"accountId\":\"acct-1\",\"usageList\":["
           "{\"eventId\":\"e1\",\"eventDate\":\"2024-01-01T13:00:00.000Z\",\"pricingUnit\":\"USER\",\"quantity\":10},"
           "{\"eventId\":\"e2\",\"eventDate\":\"2024-01-01T13:00:00.000Z\",\"pricingUnit\":\"USER\",\"quantity\":2}]},"
           "{\"accountId\":\"bad-acct\",\"usageList\":["
           "{\"eventId\":\"e3\",\"eventDate\":\"2024-01-01T13:00:00.000Z\",\"pricingUnit\":\"USER\",\"quantity\":1}]}]}",
           key);
  return b;
}

static double bench_count(sandbox_proc *sp, const char *name)
{
  cJSON *root;
  ledger_of(sp, "appdirect", &root);
  char path[64];
  snprintf(path, sizeof path, "bench.%s", name);
  double v = jnum(root, path);
  cJSON_Delete(root);
  return v;
}

/* A repeated idempotencyKey: 409 normally; --bench accepts it again, keeps
 * no events and counts requests and good events. */
static void test_appdirect_counted_not_stored(void **state)
{
  (void)state;
  char tok[256];
  http_resp r;
  appdirect_token(&normal, tok, sizeof tok);
  assert_int_equal(appdirect_call(&normal, tok, "POST", USAGE, usage_body("k1"), &r), 202);
  http_resp_free(&r);
  assert_int_equal(appdirect_call(&normal, tok, "POST", USAGE, usage_body("k1"), &r), 409);
  http_resp_free(&r);
  assert_true(isnan(bench_count(&normal, "appdirect_events"))); /* no counters */

  appdirect_token(&bench, tok, sizeof tok);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(appdirect_call(&bench, tok, "POST", USAGE, usage_body("k1"), &r), 202);
    assert_string_equal(jstr(r.json, "idempotencyKey"), "k1");
    assert_non_null(jstr(r.json, "requestId"));
    http_resp_free(&r);
  }
  cJSON *root;
  assert_int_equal(cJSON_GetArraySize(ledger_of(&bench, "appdirect", &root)), 0);
  cJSON_Delete(root);
  assert_true(bench_count(&bench, "appdirect_requests") == 3);
  assert_true(bench_count(&bench, "appdirect_events") == 6); /* bad- events are not counted */

  /* still validated, still authenticated */
  assert_int_equal(appdirect_call(&bench, tok, "POST", USAGE, "{\"idempotencyKey\":\"k2\"}", &r),
                   400);
  http_resp_free(&r);
  assert_int_equal(appdirect_call(&bench, "wrong-token", "POST", USAGE, usage_body("k3"), &r), 401);
  http_resp_free(&r);
  assert_true(bench_count(&bench, "appdirect_requests") == 3);

  assert_int_equal(sandbox_reset(&bench), 0);
  assert_true(bench_count(&bench, "appdirect_requests") == 0);
  assert_true(bench_count(&bench, "appdirect_events") == 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup(test_client_tokens_not_kept, reset),
    cmocka_unit_test_setup(test_hour_rule_and_checks_kept, reset),
    cmocka_unit_test_setup(test_appdirect_counted_not_stored, reset),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
