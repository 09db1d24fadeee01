/* meter-sandbox control API: /_sandbox/faults (validation, listing,
 * clearing), /_sandbox/reset, /_sandbox/ledger's shape, /_sandbox/clock. */
#include "sbx_client.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

static sandbox_proc sp;

static int group_setup(void **state)
{
  (void)state;
  sbx_start(&sp, NULL);
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  sbx_stop(&sp);
  sbx_stop_others(NULL);
  return 0;
}

/* Stops the extra sandboxes of a test that failed before stopping them. */
static int cleanup(void **state)
{
  (void)state;
  sbx_stop_others(&sp);
  return 0;
}

static int reset(void **state)
{
  (void)state;
  assert_int_equal(sandbox_reset(&sp), 0);
  return 0;
}

static void expect_fault_refused(const char *json, const char *word)
{
  http_resp r;
  assert_int_equal(http_call(&sp, "POST", "/_sandbox/faults", NULL, json, &r), 400);
  const char *m = jstr(r.json, "message");
  assert_non_null(m);
  if (word && !strstr(m, word))
    fail_msg("'%s' does not mention '%s'", m, word);
  http_resp_free(&r);
}

static void test_fault_validation(void **state)
{
  (void)state;
  expect_fault_refused("{\"route\":\"tackle.nothing\",\"kind\":\"error500\"}", "route");
  expect_fault_refused("{\"route\":\"tackle.put\",\"kind\":\"explode\"}", "kind");
  expect_fault_refused("{\"route\":\"tackle.put\",\"kind\":\"error500\",\"rate\":1.5}", "rate");
  expect_fault_refused("{\"route\":\"tackle.put\",\"kind\":\"error500\",\"count\":0}", "count");
  expect_fault_refused("not json", NULL);
  const char *routes[] = { "tackle.auth", "tackle.put", "tackle.post", "tackle.list",
                           "tackle.get", "tackle.delete", "appdirect.token", "appdirect.usage",
                           "appdirect.status", "aws.MeterUsage", "aws.BatchMeterUsage",
                           "aws.RegisterUsage", "aws.ResolveCustomer", "*" };
  const char *kinds[] = { "error500", "error503", "throttle", "slow", "reset",
                          "drop_after_apply" };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
      char j[200];
      snprintf(j, sizeof j, "{\"route\":\"%s\",\"kind\":\"%s\",\"rate\":0}", routes[i], kinds[k]);
      assert_int_equal(sandbox_fault(&sp, j), 0);
    }
}

static void test_faults_listed_and_cleared(void **state)
{
  (void)state;
  assert_int_equal(sandbox_fault(&sp, "{\"route\":\"tackle.auth\",\"kind\":\"error500\",\"rate\":"
                                      "0.25,\"count\":4}"),
                   0);
  http_resp r;
  assert_int_equal(http_call(&sp, "GET", "/_sandbox/faults", NULL, NULL, &r), 200);
  assert_string_equal(jstr(r.json, "faults.0.route"), "tackle.auth");
  assert_string_equal(jstr(r.json, "faults.0.kind"), "error500");
  assert_true(jnum(r.json, "faults.0.rate") == 0.25);
  assert_true(jnum(r.json, "faults.0.count") == 4);
  http_resp_free(&r);
  assert_int_equal(http_call(&sp, "DELETE", "/_sandbox/faults", NULL, NULL, &r), 200);
  http_resp_free(&r);
  assert_int_equal(http_call(&sp, "GET", "/_sandbox/faults", NULL, NULL, &r), 200);
  assert_int_equal(cJSON_GetArraySize(jget(r.json, "faults")), 0);
  http_resp_free(&r);
}

static void test_delete_faults_stops_injection(void **state)
{
  (void)state;
  assert_int_equal(sandbox_fault(&sp, "{\"route\":\"tackle.auth\",\"kind\":\"error500\"}"), 0);
  const char *body =
    "{\"client_id\":\"sandbox-tackle-id\",\"client_secret\":\"sandbox-tackle-secret\"}";
  http_resp r;
  assert_int_equal(http_call(&sp, "POST", "/v1/authenticate", NULL, body, &r), 500);
  http_resp_free(&r);
  assert_int_equal(http_call(&sp, "DELETE", "/_sandbox/faults", NULL, NULL, &r), 200);
  http_resp_free(&r);
  assert_int_equal(http_call(&sp, "POST", "/v1/authenticate", NULL, body, &r), 200);
  http_resp_free(&r);
}

static void test_ledger_shape_when_empty(void **state)
{
  (void)state;
  cJSON *l = sandbox_ledger(&sp);
  assert_non_null(l);
  assert_true(cJSON_IsArray(jget(l, "tackle")));
  assert_true(cJSON_IsArray(jget(l, "appdirect")));
  assert_true(cJSON_IsArray(jget(l, "aws")));
  assert_int_equal(cJSON_GetArraySize(jget(l, "tackle")), 0);
  cJSON_Delete(l);
}

static const char *const AD_BODY =
  "{\"idempotencyKey\":\"k\",\"billable\":true,\"usages\":[{\"accountId\":\"a\",\"usageList\":"
  "[{\"eventId\":\"e\",\"eventDate\":\"2024-01-01T13:00:00.000Z\",\"pricingUnit\":\"USER\","
  "\"quantity\":1}]}]}";

static void test_reset_clears_everything(void **state)
{
  (void)state;
  char tt[256], at[256];
  tackle_token(&sp, tt, sizeof tt);
  appdirect_token(&sp, at, sizeof at);
  http_resp r;
  assert_int_equal(tackle_call(&sp, tt, "PUT", "/v1/metering/usage-records",
                               "[{\"cloud\":\"aws\",\"product_id\":\"p\",\"customer_id\":\"c\","
                               "\"start_time\":\"2024-01-01T13:00:00Z\",\"dimension\":{\"name\":"
                               "\"d\",\"quantity\":1}}]",
                               &r),
                   200);
  http_resp_free(&r);
  assert_int_equal(appdirect_call(&sp, at, "POST", "/api/integration/v2/billing/usage", AD_BODY,
                                  &r),
                   202);
  http_resp_free(&r);
  char b[256];
  snprintf(b, sizeof b,
           "{\"ProductCode\":\"p\",\"Timestamp\":%lld,\"UsageDimension\":\"d\",\"UsageQuantity\":1}",
           sbx_hour_s(&sp) - 3600);
  assert_int_equal(aws_call(&sp, "MeterUsage", b, NULL, &r), 200);
  http_resp_free(&r);
  assert_int_equal(sandbox_fault(&sp, "{\"route\":\"tackle.get\",\"kind\":\"error500\"}"), 0);
  sbx_advance_ms(&sp, 5000);

  cJSON *l = sandbox_ledger(&sp);
  assert_int_equal(cJSON_GetArraySize(jget(l, "tackle")), 1);
  assert_int_equal(cJSON_GetArraySize(jget(l, "appdirect")), 1);
  assert_int_equal(cJSON_GetArraySize(jget(l, "aws")), 1);
  cJSON_Delete(l);

  assert_int_equal(sandbox_reset(&sp), 0);
  l = sandbox_ledger(&sp);
  assert_int_equal(cJSON_GetArraySize(jget(l, "tackle")), 0);
  assert_int_equal(cJSON_GetArraySize(jget(l, "appdirect")), 0);
  assert_int_equal(cJSON_GetArraySize(jget(l, "aws")), 0);
  cJSON_Delete(l);
  assert_int_equal(tackle_call(&sp, tt, "GET", "/v1/metering/usage-records", NULL, &r), 401);
  http_resp_free(&r);
  assert_int_equal(http_call(&sp, "GET", "/_sandbox/faults", NULL, NULL, &r), 200);
  assert_int_equal(cJSON_GetArraySize(jget(r.json, "faults")), 0);
  http_resp_free(&r);
  assert_true(sbx_offset_us(&sp) == 0);
  /* the same AppDirect key is new again */
  appdirect_token(&sp, at, sizeof at);
  assert_int_equal(appdirect_call(&sp, at, "POST", "/api/integration/v2/billing/usage", AD_BODY,
                                  &r),
                   202);
  http_resp_free(&r);
}

static void test_clock_moves(void **state)
{
  (void)state;
  http_resp r;
  assert_int_equal(http_call(&sp, "GET", "/_sandbox/clock", NULL, NULL, &r), 200);
  double before = jnum(r.json, "now_ms");
  assert_non_null(jstr(r.json, "now"));
  http_resp_free(&r);
  sbx_advance_ms(&sp, 7200 * 1000);
  assert_int_equal(http_call(&sp, "GET", "/_sandbox/clock", NULL, NULL, &r), 200);
  double after = jnum(r.json, "now_ms");
  http_resp_free(&r);
  assert_true(after - before >= 7200 * 1000.0 && after - before < 7260 * 1000.0);
  assert_int_equal(http_call(&sp, "POST", "/_sandbox/clock", NULL, "{\"offset_ms\":0}", &r), 200);
  http_resp_free(&r);
  assert_true(sbx_offset_us(&sp) == 0);
  assert_int_equal(http_call(&sp, "POST", "/_sandbox/clock", NULL, "{}", &r), 400);
  http_resp_free(&r);
}

static void test_unknown_control_route(void **state)
{
  (void)state;
  http_resp r;
  assert_int_equal(http_call(&sp, "GET", "/_sandbox/nothing", NULL, NULL, &r), 404);
  http_resp_free(&r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, reset, cleanup)
    T(test_fault_validation),
    T(test_faults_listed_and_cleared),
    T(test_delete_faults_stops_injection),
    T(test_ledger_shape_when_empty),
    T(test_reset_clears_everything),
    T(test_clock_moves),
    T(test_unknown_control_route),
#undef T
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
