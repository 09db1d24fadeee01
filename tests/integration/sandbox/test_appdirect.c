/* meter-sandbox, AppDirect rules: the client-credentials token endpoint,
 * Billing Usage v2 validation, 202 + status query (PROCESSING, SUCCESSFUL,
 * FAILED with BAD_DATA), repeated idempotencyKey -> 409, exact quantities,
 * and the ledger (accepted events only). */
#include "sbx_client.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sandbox_proc sp;
static char tok[256];

#define USAGE "/api/integration/v2/billing/usage"
#define BASIC_OK \
  "Authorization: Basic c2FuZGJveC1hcHBkaXJlY3QtaWQ6c2FuZGJveC1hcHBkaXJlY3Qtc2VjcmV0"
#define FORM "Content-Type: application/x-www-form-urlencoded"

static int group_setup(void **state)
{
  (void)state;
  sbx_start(&sp, "--appdirect-processing-ms", "60000", "--appdirect-token-ttl", "3600", NULL);
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
  appdirect_token(&sp, tok, sizeof tok);
  return 0;
}

static const char *const EVENT_OK =
  "{\"eventId\":\"e1\",\"eventDate\":\"2024-01-01T13:00:00.000Z\",\"pricingUnit\":\"USER\","
  "\"quantity\":10}";

/* A body with one account and the given usageList items (caller frees). */
static char *body_with(const char *key, const char *account, const char *events)
{
  size_t n = strlen(events) + 512;
  char *b = malloc(n);
  snprintf(b, n,
           "{\"idempotencyKey\":\"%s\",\"billable\":true,\"usages\":[{\"accountId\":\"%s\","
           "\"usageList\":[%s]}]}",
           key, account, events);
  return b;
}

static long post_usage(const char *body, http_resp *r)
{
  return appdirect_call(&sp, tok, "POST", USAGE, body, r);
}

static int ledger_size(void)
{
  cJSON *root;
  int n = cJSON_GetArraySize(ledger_of(&sp, "appdirect", &root));
  cJSON_Delete(root);
  return n;
}

/* ---- token endpoint --------------------------------------------------------------- */

static void test_token_client_credentials(void **state)
{
  (void)state;
  http_resp r;
  assert_int_equal(http_call(&sp, "POST", "/oauth2/token",
                             (const char *const[]){ BASIC_OK, FORM, NULL },
                             "grant_type=client_credentials&scope=ROLE_APPLICATION", &r),
                   200);
  assert_non_null(jstr(r.json, "access_token"));
  assert_string_equal(jstr(r.json, "token_type"), "bearer");
  assert_true(jnum(r.json, "expires_in") == 3600);
  assert_string_equal(jstr(r.json, "scope"), "ROLE_APPLICATION");
  http_resp_free(&r);
}

static void test_token_wrong_credentials_401(void **state)
{
  (void)state;
  http_resp r;
  /* base64("sandbox-appdirect-id:wrong") */
  assert_int_equal(
    http_call(&sp, "POST", "/oauth2/token",
              (const char *const[]){ "Authorization: Basic c2FuZGJveC1hcHBkaXJlY3QtaWQ6d3Jvbmc=",
                                     FORM, NULL },
              "grant_type=client_credentials&scope=ROLE_APPLICATION", &r),
    401);
  assert_string_equal(jstr(r.json, "error"), "invalid_client");
  http_resp_free(&r);
  assert_int_equal(http_call(&sp, "POST", "/oauth2/token", (const char *const[]){ FORM, NULL },
                             "grant_type=client_credentials", &r),
                   401);
  http_resp_free(&r);
}

static void test_token_unsupported_grant_400(void **state)
{
  (void)state;
  http_resp r;
  assert_int_equal(http_call(&sp, "POST", "/oauth2/token",
                             (const char *const[]){ BASIC_OK, FORM, NULL },
                             "grant_type=password&username=a&password=b", &r),
                   400);
  assert_string_equal(jstr(r.json, "error"), "unsupported_grant_type");
  http_resp_free(&r);
}

static void test_token_invalid_scope_400(void **state)
{
  (void)state;
  http_resp r;
  assert_int_equal(http_call(&sp, "POST", "/oauth2/token",
                             (const char *const[]){ BASIC_OK, FORM, NULL },
                             "grant_type=client_credentials&scope=ROLE_GOD", &r),
                   400);
  assert_string_equal(jstr(r.json, "error"), "invalid_scope");
  http_resp_free(&r);
}

static void test_usage_without_token_401(void **state)
{
  (void)state;
  char *b = body_with("k1", "a1", EVENT_OK);
  http_resp r;
  assert_int_equal(http_call(&sp, "POST", USAGE, NULL, b, &r), 401);
  http_resp_free(&r);
  assert_int_equal(appdirect_call(&sp, "not-a-token", "POST", USAGE, b, &r), 401);
  http_resp_free(&r);
  free(b);
  assert_int_equal(ledger_size(), 0);
}

static void test_usage_expired_token_401(void **state)
{
  (void)state;
  char *b = body_with("k1", "a1", EVENT_OK);
  http_resp r;
  sbx_advance_ms(&sp, 3601 * 1000);
  assert_int_equal(post_usage(b, &r), 401);
  http_resp_free(&r);
  free(b);
}

/* ---- usage ------------------------------------------------------------------------ */

static void test_usage_202_shape(void **state)
{
  (void)state;
  char *b = body_with("key-202", "a1", EVENT_OK);
  http_resp r;
  assert_int_equal(post_usage(b, &r), 202);
  const char *id = jstr(r.json, "requestId");
  assert_non_null(id);
  assert_string_equal(jstr(r.json, "idempotencyKey"), "key-202");
  char want[200];
  snprintf(want, sizeof want, USAGE "/requests/%s", id);
  assert_string_equal(jstr(r.json, "queryUsageStatus"), want);
  http_resp_free(&r);
  free(b);
}

static void expect_400(const char *body, const char *field)
{
  http_resp r;
  assert_int_equal(post_usage(body, &r), 400);
  const char *msg = jstr(r.json, "message");
  assert_non_null(jstr(r.json, "code"));
  assert_non_null(msg);
  if (!strstr(msg, field))
    fail_msg("message '%s' does not name '%s'", msg, field);
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 0);
}

static void test_requires_idempotency_key(void **state)
{
  (void)state;
  expect_400("{\"billable\":true,\"usages\":[{\"accountId\":\"a\",\"usageList\":[{\"eventId\":"
             "\"e\",\"eventDate\":\"2024-01-01T13:00:00.000Z\",\"pricingUnit\":\"USER\","
             "\"quantity\":1}]}]}",
             "idempotencyKey");
}

static void test_requires_billable(void **state)
{
  (void)state;
  expect_400("{\"idempotencyKey\":\"k\",\"usages\":[{\"accountId\":\"a\",\"usageList\":[{"
             "\"eventId\":\"e\",\"eventDate\":\"2024-01-01T13:00:00.000Z\",\"pricingUnit\":"
             "\"USER\",\"quantity\":1}]}]}",
             "billable");
}

static void test_requires_account_id(void **state)
{
  (void)state;
  expect_400("{\"idempotencyKey\":\"k\",\"billable\":false,\"usages\":[{\"usageList\":[{"
             "\"eventId\":\"e\",\"eventDate\":\"2024-01-01T13:00:00.000Z\",\"pricingUnit\":"
             "\"USER\",\"quantity\":1}]}]}",
             "accountId");
}

static void test_requires_event_id(void **state)
{
  (void)state;
  char *b = body_with("k", "a", "{\"eventDate\":\"2024-01-01T13:00:00.000Z\",\"pricingUnit\":"
                                "\"USER\",\"quantity\":1}");
  expect_400(b, "eventId");
  free(b);
}

static void test_event_date_format(void **state)
{
  (void)state;
  const char *bad[] = { "2024-01-01T13:00:00Z", "2024-01-01T13:00:00.000+00:00",
                        "2024-01-01 13:00:00.000Z", "2024-13-01T13:00:00.000Z" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char ev[256];
    snprintf(ev, sizeof ev,
             "{\"eventId\":\"e\",\"eventDate\":\"%s\",\"pricingUnit\":\"USER\",\"quantity\":1}",
             bad[i]);
    char *b = body_with("k", "a", ev);
    expect_400(b, "eventDate");
    free(b);
  }
}

static char *events(int n)
{
  size_t size = (size_t)n * 160 + 16;
  char *out = malloc(size), *p = out;
  for (int i = 0; i < n; i++)
    p += sprintf(p,
                 "%s{\"eventId\":\"e%d\",\"eventDate\":\"2024-01-01T13:00:00.000Z\","
                 "\"pricingUnit\":\"USER\",\"quantity\":1}",
                 i ? "," : "", i);
  *p = '\0';
  return out;
}

static void test_at_most_250_events(void **state)
{
  (void)state;
  char *ev = events(251), *b = body_with("k251", "a", ev);
  expect_400(b, "250");
  free(ev);
  free(b);
  ev = events(250);
  b = body_with("k250", "a", ev);
  http_resp r;
  assert_int_equal(post_usage(b, &r), 202);
  http_resp_free(&r);
  free(ev);
  free(b);
  assert_int_equal(ledger_size(), 250);
}

static void test_preconfigured_rules(void **state)
{
  (void)state;
  char *b = body_with("k", "a", "{\"eventId\":\"e\",\"eventDate\":\"2024-01-01T13:00:00.000Z\","
                                "\"pricingUnit\":\"USER\",\"unitPrice\":3,\"quantity\":1}");
  expect_400(b, "unitPrice");
  free(b);
  b = body_with("k", "a", "{\"eventId\":\"e\",\"eventDate\":\"2024-01-01T13:00:00.000Z\","
                          "\"pricingUnit\":\"USER\",\"customUnit\":\"GB\",\"quantity\":1}");
  expect_400(b, "customUnit");
  free(b);
  b = body_with("k", "a", "{\"eventId\":\"e\",\"eventDate\":\"2024-01-01T13:00:00.000Z\","
                          "\"quantity\":1}");
  expect_400(b, "pricingUnit");
  free(b);
}

static void test_custom_rules(void **state)
{
  (void)state;
  char *b = body_with("k", "a", "{\"eventId\":\"e\",\"eventDate\":\"2024-01-01T13:00:00.000Z\","
                                "\"customUnit\":\"GB\",\"currency\":\"EUR\",\"quantity\":1}");
  expect_400(b, "unitPrice");
  free(b);
  b = body_with("k", "a", "{\"eventId\":\"e\",\"eventDate\":\"2024-01-01T13:00:00.000Z\","
                          "\"customUnit\":\"GB\",\"unitPrice\":2,\"quantity\":1}");
  expect_400(b, "currency");
  free(b);
  b = body_with("k", "a", "{\"eventId\":\"e\",\"eventDate\":\"2024-01-01T13:00:00.000Z\","
                          "\"customUnit\":\"GB\",\"unitPrice\":2,\"currency\":\"EUX\","
                          "\"quantity\":1}");
  expect_400(b, "currency");
  free(b);
  b = body_with("kc", "a", "{\"eventId\":\"e\",\"eventDate\":\"2024-01-01T13:00:00.000Z\","
                           "\"customUnit\":\"GB\",\"unitPrice\":\"0.25\",\"currency\":\"EUR\","
                           "\"quantity\":4}");
  http_resp r;
  assert_int_equal(post_usage(b, &r), 202);
  http_resp_free(&r);
  free(b);
  cJSON *root;
  cJSON *l = ledger_of(&sp, "appdirect", &root);
  assert_string_equal(jstr(l, "0.unit"), "GB");
  cJSON_Delete(root);
}

static void test_quantity_scale_and_sign(void **state)
{
  (void)state;
  char *b = body_with("k", "a", "{\"eventId\":\"e\",\"eventDate\":\"2024-01-01T13:00:00.000Z\","
                                "\"pricingUnit\":\"USER\",\"quantity\":\"0.12345678901\"}");
  expect_400(b, "quantity");
  free(b);
  b = body_with("k", "a", "{\"eventId\":\"e\",\"eventDate\":\"2024-01-01T13:00:00.000Z\","
                          "\"pricingUnit\":\"USER\",\"quantity\":-1}");
  expect_400(b, "quantity");
  free(b);
  b = body_with("k", "a", "{\"eventId\":\"e\",\"eventDate\":\"2024-01-01T13:00:00.000Z\","
                          "\"pricingUnit\":\"USER\",\"quantity\":true}");
  expect_400(b, "quantity");
  free(b);
}

static void test_quantity_kept_exact(void **state)
{
  (void)state;
  /* 18 significant digits: a double would round them */
  char *b = body_with("kx", "a",
                      "{\"eventId\":\"n\",\"eventDate\":\"2024-01-01T13:00:00.000Z\","
                      "\"pricingUnit\":\"USER\",\"quantity\":12345678.1234567891},"
                      "{\"eventId\":\"s\",\"eventDate\":\"2024-01-01T13:00:00.000Z\","
                      "\"pricingUnit\":\"USER\",\"quantity\":\"0.0000000001\"}");
  http_resp r;
  assert_int_equal(post_usage(b, &r), 202);
  http_resp_free(&r);
  free(b);
  cJSON *root;
  cJSON *l = ledger_of(&sp, "appdirect", &root);
  assert_string_equal(jstr(l, "0.quantity"), "12345678.1234567891");
  assert_string_equal(jstr(l, "1.quantity"), "0.0000000001");
  assert_string_equal(jstr(l, "0.event_id"), "n");
  assert_string_equal(jstr(l, "0.account"), "a");
  assert_string_equal(jstr(l, "0.unit"), "USER");
  assert_string_equal(jstr(l, "0.idempotency_key"), "kx");
  assert_non_null(jstr(l, "0.request_id"));
  cJSON_Delete(root);
}

static void test_repeated_idempotency_key_409(void **state)
{
  (void)state;
  char *b = body_with("dup", "a1", EVENT_OK);
  http_resp r1, r2;
  assert_int_equal(post_usage(b, &r1), 202);
  assert_int_equal(post_usage(b, &r2), 409);
  assert_string_equal(jstr(r2.json, "code"), "DUPLICATE_IDEMPOTENCY_KEY");
  assert_non_null(jstr(r2.json, "message"));
  assert_string_equal(jstr(r2.json, "requestId"), jstr(r1.json, "requestId"));
  assert_string_equal(jstr(r2.json, "queryUsageStatus"), jstr(r1.json, "queryUsageStatus"));
  http_resp_free(&r1);
  http_resp_free(&r2);
  free(b);
  assert_int_equal(ledger_size(), 1);
}

static void test_status_processing_then_successful(void **state)
{
  (void)state;
  char *b = body_with("ks", "a1", EVENT_OK);
  http_resp r;
  assert_int_equal(post_usage(b, &r), 202);
  char path[200];
  snprintf(path, sizeof path, "%s", jstr(r.json, "queryUsageStatus"));
  http_resp_free(&r);
  free(b);
  assert_int_equal(appdirect_call(&sp, tok, "GET", path, NULL, &r), 200);
  assert_string_equal(jstr(r.json, "status"), "PROCESSING");
  assert_true(jnum(r.json, "totalUsagesCount") == 1);
  http_resp_free(&r);
  sbx_advance_ms(&sp, 60001);
  assert_int_equal(appdirect_call(&sp, tok, "GET", path, NULL, &r), 200);
  assert_string_equal(jstr(r.json, "status"), "SUCCESSFUL");
  assert_true(jnum(r.json, "processedUsagesCount") == 1);
  assert_true(jnum(r.json, "failedUsagesCount") == 0);
  assert_string_equal(jstr(r.json, "idempotencyKey"), "ks");
  http_resp_free(&r);
}

static void test_status_failed_bad_data(void **state)
{
  (void)state;
  const char *body =
    "{\"idempotencyKey\":\"kf\",\"billable\":true,\"usages\":["
    "{\"accountId\":\"good\",\"usageList\":[{\"eventId\":\"g1\",\"eventDate\":"
    "\"2024-01-01T13:00:00.000Z\",\"pricingUnit\":\"USER\",\"quantity\":1}]},"
    "{\"accountId\":\"bad-acct\",\"usageList\":[{\"eventId\":\"b1\",\"eventDate\":"
    "\"2024-01-01T13:00:00.000Z\",\"pricingUnit\":\"USER\",\"quantity\":2},"
    "{\"eventId\":\"b2\",\"eventDate\":\"2024-01-01T13:00:00.000Z\",\"pricingUnit\":\"USER\","
    "\"quantity\":3}]}]}";
  http_resp r;
  assert_int_equal(post_usage(body, &r), 202);
  char path[200];
  snprintf(path, sizeof path, "%s", jstr(r.json, "queryUsageStatus"));
  http_resp_free(&r);
  sbx_advance_ms(&sp, 60001);
  assert_int_equal(appdirect_call(&sp, tok, "GET", path, NULL, &r), 200);
  assert_string_equal(jstr(r.json, "status"), "FAILED");
  assert_true(jnum(r.json, "totalUsagesCount") == 3);
  assert_true(jnum(r.json, "processedUsagesCount") == 1);
  assert_true(jnum(r.json, "failedUsagesCount") == 2);
  assert_string_equal(jstr(r.json, "failedUsages.0.errorCode"), "BAD_DATA");
  assert_string_equal(jstr(r.json, "failedUsages.0.accountId"), "bad-acct");
  assert_string_equal(jstr(r.json, "failedUsages.1.eventId"), "b2");
  http_resp_free(&r);
  cJSON *root;
  cJSON *l = ledger_of(&sp, "appdirect", &root);
  assert_int_equal(cJSON_GetArraySize(l), 1); /* failed events are not held */
  assert_string_equal(jstr(l, "0.account"), "good");
  cJSON_Delete(root);
}

static void test_status_unknown_404(void **state)
{
  (void)state;
  http_resp r;
  assert_int_equal(appdirect_call(&sp, tok, "GET",
                                  USAGE "/requests/db0879f1-7a61-4ea3-91ff-4c18047b76fa", NULL, &r),
                   404);
  assert_non_null(jstr(r.json, "code"));
  http_resp_free(&r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, reset, cleanup)
    T(test_token_client_credentials),
    T(test_token_wrong_credentials_401),
    T(test_token_unsupported_grant_400),
    T(test_token_invalid_scope_400),
    T(test_usage_without_token_401),
    T(test_usage_expired_token_401),
    T(test_usage_202_shape),
    T(test_requires_idempotency_key),
    T(test_requires_billable),
    T(test_requires_account_id),
    T(test_requires_event_id),
    T(test_event_date_format),
    T(test_at_most_250_events),
    T(test_preconfigured_rules),
    T(test_custom_rules),
    T(test_quantity_scale_and_sign),
    T(test_quantity_kept_exact),
    T(test_repeated_idempotency_key_409),
    T(test_status_processing_then_successful),
    T(test_status_failed_bad_data),
    T(test_status_unknown_404),
#undef T
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
