/* meter-sandbox, Tackle rules: authentication, 401 codes, body validation
 * against the OpenAPI schemas, PUT update / 409 once sent, POST duplicates,
 * test records, 404 for unknown customers, list filters and page tokens,
 * get and delete. One sandbox per file, reset before every test. */
#include "sbx_client.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

static sandbox_proc sp;
static char tok[256];

static int group_setup(void **state)
{
  (void)state;
  sbx_start(&sp, "--tackle-send-delay", "60000", "--tackle-token-ttl", "600", NULL);
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
  assert_int_equal(sandbox_reset(&sp), 0); /* also puts the sandbox clock back */
  tackle_token(&sp, tok, sizeof tok);
  return 0;
}

#define RECORDS "/v1/metering/usage-records"

/* An AWS record for product p1 / customer / dimension users at hh:mm on
 * 2024-01-01 with quantity q. */
static void aws_rec(char *out, size_t size, const char *customer, const char *hhmm, long q)
{
  snprintf(out, size,
           "[{\"cloud\":\"aws\",\"product_id\":\"p1\",\"customer_id\":\"%s\","
           "\"start_time\":\"2024-01-01T%s:00.000000+00:00\","
           "\"dimension\":{\"name\":\"users\",\"quantity\":%ld}}]",
           customer, hhmm, q);
}

static long put(const char *body, http_resp *r)
{
  return tackle_call(&sp, tok, "PUT", RECORDS, body, r);
}

static int ledger_size(void)
{
  cJSON *root;
  int n = cJSON_GetArraySize(ledger_of(&sp, "tackle", &root));
  cJSON_Delete(root);
  return n;
}

/* ---- authentication ---------------------------------------------------------- */

static void test_auth_returns_bearer_token(void **state)
{
  (void)state;
  http_resp r;
  const char *h[] = { "Content-Type: application/json", NULL };
  assert_int_equal(http_call(&sp, "POST", "/v1/authenticate", h,
                             "{\"client_id\":\"sandbox-tackle-id\",\"client_secret\":"
                             "\"sandbox-tackle-secret\",\"grant_type\":\"client_credentials\"}",
                             &r),
                   200);
  assert_non_null(jstr(r.json, "access_token"));
  assert_string_equal(jstr(r.json, "token_type"), "bearer");
  assert_true(jnum(r.json, "expires_in") == 600);
  http_resp_free(&r);
}

static void test_auth_missing_field_is_invalid_fields(void **state)
{
  (void)state;
  http_resp r;
  assert_int_equal(http_call(&sp, "POST", "/v1/authenticate", NULL,
                             "{\"client_secret\":\"sandbox-tackle-secret\"}", &r),
                   400);
  assert_string_equal(jstr(r.json, "code"), "invalid_fields");
  assert_non_null(jget(r.json, "errors.0.client_id"));
  http_resp_free(&r);
}

static void test_auth_wrong_secret_is_refused(void **state)
{
  (void)state;
  http_resp r;
  long st = http_call(&sp, "POST", "/v1/authenticate", NULL,
                      "{\"client_id\":\"sandbox-tackle-id\",\"client_secret\":\"nope\"}", &r);
  assert_true(st == 401 || st == 403);
  assert_null(jstr(r.json, "access_token"));
  http_resp_free(&r);
}

static void test_auth_bad_grant_type(void **state)
{
  (void)state;
  http_resp r;
  assert_int_equal(http_call(&sp, "POST", "/v1/authenticate", NULL,
                             "{\"client_id\":\"sandbox-tackle-id\",\"client_secret\":"
                             "\"sandbox-tackle-secret\",\"grant_type\":\"password\"}",
                             &r),
                   400);
  assert_non_null(jget(r.json, "errors.0.grant_type"));
  http_resp_free(&r);
}

static void expect_401(const char *const *headers, const char *code)
{
  http_resp r;
  assert_int_equal(http_call(&sp, "GET", RECORDS, headers, NULL, &r), 401);
  assert_string_equal(jstr(r.json, "code"), code);
  assert_true(cJSON_IsArray(jget(r.json, "errors")));
  http_resp_free(&r);
}

static void test_401_authorization_header_missing(void **state)
{
  (void)state;
  expect_401(NULL, "authorization_header_missing");
}

static void test_401_invalid_header(void **state)
{
  (void)state;
  expect_401((const char *const[]){ "Authorization: Basic Zm9vOmJhcg==", NULL }, "invalid_header");
}

static void test_401_invalid_token(void **state)
{
  (void)state;
  expect_401((const char *const[]){ "Authorization: Bearer not-a-token", NULL }, "invalid_token");
}

static void test_401_token_expired(void **state)
{
  (void)state;
  char auth[400];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
  http_resp r;
  assert_int_equal(http_call(&sp, "GET", RECORDS, (const char *const[]){ auth, NULL }, NULL, &r),
                   200);
  http_resp_free(&r);
  sbx_advance_ms(&sp, 601 * 1000);
  expect_401((const char *const[]){ auth, NULL }, "mtm_token_expired");
}

static void test_reset_forgets_tokens(void **state)
{
  (void)state;
  char auth[400];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
  assert_int_equal(sandbox_reset(&sp), 0);
  expect_401((const char *const[]){ auth, NULL }, "invalid_token");
}

/* ---- validation ---------------------------------------------------------------- */

/* The body is refused with 400 invalid_body and the message names `field`. */
static void expect_invalid(const char *body, const char *field)
{
  http_resp r;
  assert_int_equal(put(body, &r), 400);
  assert_string_equal(jstr(r.json, "code"), "invalid_body");
  assert_string_equal(jstr(r.json, "error_type"), "client_exception");
  const char *err = jstr(r.json, "error");
  assert_non_null(err);
  if (!strstr(err, field))
    fail_msg("error '%s' does not name '%s'", err, field);
  assert_string_equal(jstr(r.json, "errors.0.code"), "invalid_body");
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 0);
}

static void test_body_must_be_array(void **state)
{
  (void)state;
  expect_invalid("{\"cloud\":\"aws\",\"product_id\":\"p\",\"customer_id\":\"c\",\"start_time\":"
                 "\"2024-01-01T13:00:00Z\",\"dimension\":{\"name\":\"d\",\"quantity\":1}}",
                 "array");
}

static void test_body_not_json(void **state)
{
  (void)state;
  expect_invalid("[{\"cloud\":", "JSON");
}

static void test_missing_cloud(void **state)
{
  (void)state;
  expect_invalid("[{\"product_id\":\"p\",\"customer_id\":\"c\",\"start_time\":"
                 "\"2024-01-01T13:00:00Z\",\"dimension\":{\"name\":\"d\",\"quantity\":1}}]",
                 "cloud");
}

static void test_unknown_cloud(void **state)
{
  (void)state;
  expect_invalid("[{\"cloud\":\"ibm\",\"product_id\":\"p\",\"customer_id\":\"c\",\"start_time\":"
                 "\"2024-01-01T13:00:00Z\",\"dimension\":{\"name\":\"d\",\"quantity\":1}}]",
                 "cloud");
}

static void test_missing_customer(void **state)
{
  (void)state;
  expect_invalid("[{\"cloud\":\"aws\",\"product_id\":\"p\",\"start_time\":"
                 "\"2024-01-01T13:00:00Z\",\"dimension\":{\"name\":\"d\",\"quantity\":1}}]",
                 "customer_id");
}

static void test_missing_dimension_name(void **state)
{
  (void)state;
  expect_invalid("[{\"cloud\":\"aws\",\"product_id\":\"p\",\"customer_id\":\"c\",\"start_time\":"
                 "\"2024-01-01T13:00:00Z\",\"dimension\":{\"quantity\":1}}]",
                 "name");
}

static void test_aws_quantity_must_be_integer(void **state)
{
  (void)state;
  expect_invalid("[{\"cloud\":\"aws\",\"product_id\":\"p\",\"customer_id\":\"c\",\"start_time\":"
                 "\"2024-01-01T13:00:00Z\",\"dimension\":{\"name\":\"d\",\"quantity\":\"3\"}}]",
                 "dimension/quantity");
  expect_invalid("[{\"cloud\":\"aws\",\"product_id\":\"p\",\"customer_id\":\"c\",\"start_time\":"
                 "\"2024-01-01T13:00:00Z\",\"dimension\":{\"name\":\"d\",\"quantity\":1.5}}]",
                 "dimension/quantity");
}

static void test_gcp_needs_end_time(void **state)
{
  (void)state;
  expect_invalid("[{\"cloud\":\"gcp\",\"product_id\":\"p\",\"customer_id\":\"c\",\"start_time\":"
                 "\"2024-01-01T13:00:00Z\",\"dimension\":{\"name\":\"d\",\"quantity\":1}}]",
                 "end_time");
}

static void test_gcp_quantity_string_accepted(void **state)
{
  (void)state;
  http_resp r;
  assert_int_equal(put("[{\"cloud\":\"gcp\",\"product_id\":\"p\",\"customer_id\":\"E-1\","
                       "\"start_time\":\"2024-01-01T13:00:00Z\",\"end_time\":"
                       "\"2024-01-01T14:00:00Z\",\"dimension\":{\"name\":\"d\",\"quantity\":\"2.5\","
                       "\"consumer_id\":\"project:x\"}}]",
                       &r),
                   200);
  assert_string_equal(jstr(r.json, "data.0.dimension.quantity"), "2.5");
  assert_string_equal(jstr(r.json, "data.0.end_time"), "2024-01-01T14:00:00.000000Z");
  http_resp_free(&r);
}

static void test_start_time_must_be_date_time(void **state)
{
  (void)state;
  /* the how-to guide's space-separated form has no offset: not RFC 3339 */
  expect_invalid("[{\"cloud\":\"aws\",\"product_id\":\"p\",\"customer_id\":\"c\",\"start_time\":"
                 "\"2021-12-09 18:31:12.789942\",\"dimension\":{\"name\":\"d\",\"quantity\":1}}]",
                 "start_time");
}

static void test_test_enum(void **state)
{
  (void)state;
  expect_invalid("[{\"cloud\":\"aws\",\"product_id\":\"p\",\"customer_id\":\"c\",\"start_time\":"
                 "\"2024-01-01T13:00:00Z\",\"test\":\"maybe\",\"dimension\":{\"name\":\"d\","
                 "\"quantity\":1}}]",
                 "test");
}

static void test_usage_allocations_types(void **state)
{
  (void)state;
  expect_invalid("[{\"cloud\":\"aws\",\"product_id\":\"p\",\"customer_id\":\"c\",\"start_time\":"
                 "\"2024-01-01T13:00:00Z\",\"dimension\":{\"name\":\"d\",\"quantity\":1,"
                 "\"usage_allocations\":[{\"allocated_usage_quantity\":\"1\"}]}}]",
                 "allocated_usage_quantity");
}

static void test_by_subscription_accepted(void **state)
{
  (void)state;
  http_resp r;
  assert_int_equal(put("[{\"cloud\":\"azure\",\"subscription_id\":\"sub-1\",\"start_time\":"
                       "\"2024-01-01T13:00:00Z\",\"dimension\":{\"name\":\"d\",\"quantity\":4}}]",
                       &r),
                   200);
  assert_string_equal(jstr(r.json, "data.0.subscription_id"), "sub-1");
  http_resp_free(&r);
  cJSON *root;
  cJSON *l = ledger_of(&sp, "tackle", &root);
  assert_string_equal(jstr(l, "0.subscription"), "sub-1");
  assert_true(cJSON_IsNull(jget(l, "0.customer")));
  cJSON_Delete(root);
}

/* ---- PUT / POST semantics ----------------------------------------------------------- */

static void test_put_creates_then_updates_same_hour(void **state)
{
  (void)state;
  char b[512];
  http_resp r1, r2;
  aws_rec(b, sizeof b, "c1", "13:05", 42);
  assert_int_equal(put(b, &r1), 200);
  assert_string_equal(jstr(r1.json, "data.0.status"), "idle");
  aws_rec(b, sizeof b, "c1", "13:40", 50); /* same hour: an update */
  assert_int_equal(put(b, &r2), 200);
  assert_string_equal(jstr(r1.json, "data.0.id"), jstr(r2.json, "data.0.id"));
  assert_true(jnum(r2.json, "data.0.dimension.quantity") == 50);
  http_resp_free(&r1);
  http_resp_free(&r2);
  cJSON *root;
  cJSON *l = ledger_of(&sp, "tackle", &root);
  assert_int_equal(cJSON_GetArraySize(l), 1);
  assert_true(jnum(l, "0.quantity") == 50);
  assert_string_equal(jstr(l, "0.hour"), "2024-01-01T13:00:00Z");
  assert_string_equal(jstr(l, "0.method"), "PUT");
  assert_string_equal(jstr(l, "0.product"), "p1");
  assert_string_equal(jstr(l, "0.customer"), "c1");
  assert_string_equal(jstr(l, "0.dimension"), "users");
  assert_string_equal(jstr(l, "0.cloud"), "aws");
  assert_string_equal(jstr(l, "0.status"), "idle");
  cJSON_Delete(root);
}

static void test_put_other_hour_creates(void **state)
{
  (void)state;
  char b[512];
  http_resp r;
  aws_rec(b, sizeof b, "c1", "13:05", 1);
  assert_int_equal(put(b, &r), 200);
  http_resp_free(&r);
  aws_rec(b, sizeof b, "c1", "14:05", 1);
  assert_int_equal(put(b, &r), 200);
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 2);
}

static void test_put_after_sent_is_409(void **state)
{
  (void)state;
  char b[512];
  http_resp r;
  aws_rec(b, sizeof b, "c1", "13:05", 42);
  assert_int_equal(put(b, &r), 200);
  http_resp_free(&r);
  sbx_advance_ms(&sp, 61000); /* past --tackle-send-delay: sent */
  assert_int_equal(tackle_call(&sp, tok, "GET", RECORDS, NULL, &r), 200);
  assert_string_equal(jstr(r.json, "data.0.status"), "accepted");
  http_resp_free(&r);
  aws_rec(b, sizeof b, "c1", "13:30", 43);
  assert_int_equal(put(b, &r), 409);
  assert_string_equal(jstr(r.json, "code"), "conflict");
  assert_non_null(strstr(jstr(r.json, "error"), "product=p1, customer=c1, dimension=users"));
  http_resp_free(&r);
  cJSON *root;
  cJSON *l = ledger_of(&sp, "tackle", &root);
  assert_int_equal(cJSON_GetArraySize(l), 1);
  assert_true(jnum(l, "0.quantity") == 42);
  assert_string_equal(jstr(l, "0.status"), "accepted");
  cJSON_Delete(root);
}

static void test_post_always_creates(void **state)
{
  (void)state;
  char b[512];
  http_resp r;
  aws_rec(b, sizeof b, "c1", "12:15", 1);
  assert_int_equal(tackle_call(&sp, tok, "POST", RECORDS, b, &r), 200);
  http_resp_free(&r);
  aws_rec(b, sizeof b, "c1", "12:30", 1);
  assert_int_equal(tackle_call(&sp, tok, "POST", RECORDS, b, &r), 200);
  http_resp_free(&r);
  cJSON *root;
  cJSON *l = ledger_of(&sp, "tackle", &root);
  assert_int_equal(cJSON_GetArraySize(l), 2);
  assert_string_equal(jstr(l, "1.method"), "POST");
  assert_string_not_equal(jstr(l, "0.id"), jstr(l, "1.id"));
  cJSON_Delete(root);
}

static void test_post_after_sent_is_not_409(void **state)
{
  (void)state;
  char b[512];
  http_resp r;
  aws_rec(b, sizeof b, "c1", "12:15", 1);
  assert_int_equal(tackle_call(&sp, tok, "POST", RECORDS, b, &r), 200);
  http_resp_free(&r);
  sbx_advance_ms(&sp, 61000);
  assert_int_equal(tackle_call(&sp, tok, "POST", RECORDS, b, &r), 200);
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 2);
}

static void test_record_moves_idle_to_accepted(void **state)
{
  (void)state;
  char b[512];
  http_resp r;
  aws_rec(b, sizeof b, "c1", "13:05", 1);
  assert_int_equal(put(b, &r), 200);
  char path[128];
  snprintf(path, sizeof path, RECORDS "/%s", jstr(r.json, "data.0.id"));
  http_resp_free(&r);
  assert_int_equal(tackle_call(&sp, tok, "GET", path, NULL, &r), 200);
  assert_string_equal(jstr(r.json, "data.0.status"), "idle");
  http_resp_free(&r);
  sbx_advance_ms(&sp, 55000);
  assert_int_equal(tackle_call(&sp, tok, "GET", path, NULL, &r), 200);
  assert_string_equal(jstr(r.json, "data.0.status"), "idle");
  http_resp_free(&r);
  sbx_advance_ms(&sp, 6000);
  assert_int_equal(tackle_call(&sp, tok, "GET", path, NULL, &r), 200);
  assert_string_equal(jstr(r.json, "data.0.status"), "accepted");
  assert_true(cJSON_IsNull(jget(r.json, "data.0.reason")));
  http_resp_free(&r);
}

static void test_scheduled_at_delays_sending(void **state)
{
  (void)state;
  http_resp r;
  /* scheduled far ahead: not sent after the delay, so a PUT still updates */
  assert_int_equal(put("[{\"cloud\":\"aws\",\"product_id\":\"p1\",\"customer_id\":\"c1\","
                       "\"start_time\":\"2024-01-01T13:00:00Z\",\"scheduled_at\":"
                       "\"2999-01-01T00:00:00Z\",\"dimension\":{\"name\":\"u\",\"quantity\":1}}]",
                       &r),
                   200);
  http_resp_free(&r);
  sbx_advance_ms(&sp, 61000);
  assert_int_equal(put("[{\"cloud\":\"aws\",\"product_id\":\"p1\",\"customer_id\":\"c1\","
                       "\"start_time\":\"2024-01-01T13:00:00Z\",\"dimension\":{\"name\":\"u\","
                       "\"quantity\":2}}]",
                       &r),
                   200);
  assert_string_equal(jstr(r.json, "data.0.status"), "idle");
  http_resp_free(&r);
}

static void check_test_record(const char *test, const char *status, const char *reason)
{
  char b[512];
  snprintf(b, sizeof b,
           "[{\"cloud\":\"aws\",\"product_id\":\"p1\",\"customer_id\":\"c1\",\"start_time\":"
           "\"2024-01-01T13:00:00Z\",\"test\":\"%s\",\"dimension\":{\"name\":\"u\","
           "\"quantity\":1}}]",
           test);
  http_resp r;
  assert_int_equal(put(b, &r), 200);
  assert_string_equal(jstr(r.json, "data.0.test"), test);
  http_resp_free(&r);
  sbx_advance_ms(&sp, 61000);
  assert_int_equal(put(b, &r), 200); /* a test record is never sent: no 409 */
  assert_string_equal(jstr(r.json, "data.0.status"), status);
  if (reason)
    assert_string_equal(jstr(r.json, "data.0.reason"), reason);
  else
    assert_true(cJSON_IsNull(jget(r.json, "data.0.reason")));
  http_resp_free(&r);
  cJSON *root;
  cJSON *l = ledger_of(&sp, "tackle", &root);
  assert_int_equal(cJSON_GetArraySize(l), 1);
  assert_string_equal(jstr(l, "0.test"), test);
  assert_string_equal(jstr(l, "0.status"), status);
  cJSON_Delete(root);
}

static void test_test_accepted(void **state)
{
  (void)state;
  check_test_record("accepted", "accepted", NULL);
}

static void test_test_rejected(void **state)
{
  (void)state;
  check_test_record("rejected", "rejected", "invalid-usage-dimension");
}

static void test_test_not_operable(void **state)
{
  (void)state;
  check_test_record("not-operable", "not-operable", "external-access-denied");
}

static void test_unknown_customer_is_404(void **state)
{
  (void)state;
  char b[512];
  http_resp r;
  aws_rec(b, sizeof b, "unknown-buyer", "13:05", 1);
  assert_int_equal(put(b, &r), 404);
  assert_string_equal(jstr(r.json, "code"), "not_found");
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 0);
}

static void test_response_shape(void **state)
{
  (void)state;
  char b[512];
  http_resp r;
  aws_rec(b, sizeof b, "c1", "13:05", 7);
  assert_int_equal(put(b, &r), 200);
  assert_true(cJSON_IsArray(jget(r.json, "data")));
  assert_non_null(strstr(jstr(r.json, "metadata.link"), RECORDS));
  const char *times[] = { "start_time", "created_at", "updated_at" };
  for (int i = 0; i < 3; i++) {
    char p[64];
    snprintf(p, sizeof p, "data.0.%s", times[i]);
    const char *t = jstr(r.json, p);
    assert_non_null(t);
    assert_int_equal(t[strlen(t) - 1], 'Z');
  }
  assert_string_equal(jstr(r.json, "data.0.start_time"), "2024-01-01T13:05:00.000000Z");
  assert_string_equal(jstr(r.json, "data.0.cloud"), "aws");
  http_resp_free(&r);
}

/* ---- list ------------------------------------------------------------------------- */

static void seed_records(void)
{
  static const char *const recs[] = {
    "{\"cloud\":\"aws\",\"product_id\":\"p1\",\"customer_id\":\"c1\",\"start_time\":\"2024-01-01T10:00:00Z\",\"dimension\":{\"name\":\"users\",\"quantity\":1}}",
    "{\"cloud\":\"aws\",\"product_id\":\"p1\",\"customer_id\":\"c2\",\"start_time\":\"2024-01-01T11:00:00Z\",\"dimension\":{\"name\":\"users\",\"quantity\":2}}",
    "{\"cloud\":\"aws\",\"product_id\":\"p2\",\"customer_id\":\"c1\",\"start_time\":\"2024-01-01T12:00:00Z\",\"dimension\":{\"name\":\"gb\",\"quantity\":3}}",
    "{\"cloud\":\"aws\",\"product_id\":\"p2\",\"customer_id\":\"c2\",\"start_time\":\"2024-01-01T13:00:00Z\",\"scheduled_at\":\"2024-06-01T00:00:00Z\",\"dimension\":{\"name\":\"gb\",\"quantity\":0}}",
    "{\"cloud\":\"aws\",\"product_id\":\"p3\",\"customer_id\":\"c3\",\"start_time\":\"2024-01-01T14:00:00Z\",\"test\":\"accepted\",\"dimension\":{\"name\":\"users\",\"quantity\":5}}",
  };
  size_t n = sizeof recs / sizeof recs[0];
  char body[2048] = "[";
  for (size_t i = 0; i < n; i++) {
    strcat(body, recs[i]);
    strcat(body, i + 1 < n ? "," : "]");
  }
  http_resp r;
  assert_int_equal(put(body, &r), 200);
  assert_int_equal(cJSON_GetArraySize(jget(r.json, "data")), 5);
  http_resp_free(&r);
}

static int list_count(const char *query)
{
  char path[512];
  snprintf(path, sizeof path, RECORDS "?%s", query);
  http_resp r;
  assert_int_equal(tackle_call(&sp, tok, "GET", path, NULL, &r), 200);
  int n = cJSON_GetArraySize(jget(r.json, "data"));
  http_resp_free(&r);
  return n;
}

static void test_list_filters(void **state)
{
  (void)state;
  seed_records();
  assert_int_equal(list_count(""), 4); /* the zero quantity is hidden */
  assert_int_equal(list_count("include_zeros=true"), 5);
  assert_int_equal(list_count("include_tests=false"), 3);
  assert_int_equal(list_count("product_id=p1"), 2);
  assert_int_equal(list_count("product_id=p1&product_id=p3"), 3); /* repeatable */
  assert_int_equal(list_count("customer_id=c1"), 2);
  assert_int_equal(list_count("dimension=gb&include_zeros=true"), 2);
  assert_int_equal(list_count("quantity=2"), 1);
  assert_int_equal(list_count("start_after=2024-01-01T11:30:00Z"), 2);
  assert_int_equal(list_count("start_before=2024-01-01T11:30:00Z"), 2);
  assert_int_equal(list_count("scheduled_after=2024-05-01T00:00:00Z&include_zeros=true"), 1);
  assert_int_equal(list_count("scheduled_before=2024-05-01T00:00:00Z&include_zeros=true"), 0);
  assert_int_equal(list_count("subscription_id=none"), 0);
}

static void test_list_pages_with_both_token_names(void **state)
{
  (void)state;
  seed_records();
  char path[256] = RECORDS "?size=2&include_zeros=true";
  char seen[8][40];
  int total = 0, pages = 0;
  for (;;) {
    http_resp r;
    assert_int_equal(tackle_call(&sp, tok, "GET", path, NULL, &r), 200);
    const cJSON *d;
    cJSON_ArrayForEach(d, jget(r.json, "data"))
    {
      assert_true(total < 8);
      snprintf(seen[total++], sizeof seen[0], "%s", jstr(d, "id"));
    }
    pages++;
    const char *a = jstr(r.json, "metadata.next_page_token");
    const char *b = jstr(r.json, "metadata.nextPageToken");
    if (!a) {
      assert_true(cJSON_IsNull(jget(r.json, "metadata.next_page_token")));
      assert_true(cJSON_IsNull(jget(r.json, "metadata.nextPageToken")));
      http_resp_free(&r);
      break;
    }
    assert_non_null(b);
    assert_string_equal(a, b);
    snprintf(path, sizeof path, RECORDS "?size=2&include_zeros=true&page=%s", a);
    http_resp_free(&r);
  }
  assert_int_equal(total, 5);
  assert_int_equal(pages, 3);
  for (int i = 0; i < total; i++)
    for (int j = i + 1; j < total; j++)
      assert_string_not_equal(seen[i], seen[j]);
}

static void test_list_bad_page_token(void **state)
{
  (void)state;
  http_resp r;
  assert_int_equal(tackle_call(&sp, tok, "GET", RECORDS "?page=garbage", NULL, &r), 400);
  http_resp_free(&r);
}

/* ---- get / delete -------------------------------------------------------------------- */

static void test_get_one_and_404(void **state)
{
  (void)state;
  char b[512], path[128];
  http_resp r;
  aws_rec(b, sizeof b, "c1", "13:05", 9);
  assert_int_equal(put(b, &r), 200);
  snprintf(path, sizeof path, RECORDS "/%s", jstr(r.json, "data.0.id"));
  http_resp_free(&r);
  assert_int_equal(tackle_call(&sp, tok, "GET", path, NULL, &r), 200);
  assert_int_equal(cJSON_GetArraySize(jget(r.json, "data")), 1);
  assert_true(jnum(r.json, "data.0.dimension.quantity") == 9);
  http_resp_free(&r);
  assert_int_equal(tackle_call(&sp, tok, "GET", RECORDS "/8361e0bf-9d6a-466c-974a-36b73168527a",
                               NULL, &r),
                   404);
  assert_string_equal(jstr(r.json, "code"), "not_found");
  http_resp_free(&r);
}

static void test_delete_unsent_record(void **state)
{
  (void)state;
  char b[512], path[128];
  http_resp r;
  aws_rec(b, sizeof b, "c1", "13:05", 9);
  assert_int_equal(put(b, &r), 200);
  snprintf(path, sizeof path, RECORDS "/%s", jstr(r.json, "data.0.id"));
  http_resp_free(&r);
  assert_int_equal(tackle_call(&sp, tok, "DELETE", path, NULL, &r), 200);
  assert_true(cJSON_IsObject(jget(r.json, "data"))); /* an object, not an array */
  assert_non_null(jstr(r.json, "data.deleted_at"));
  http_resp_free(&r);
  assert_int_equal(tackle_call(&sp, tok, "GET", path, NULL, &r), 404);
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 0);
  assert_int_equal(put(b, &r), 200); /* the hour is free again */
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 1);
}

static void test_delete_sent_record_is_409(void **state)
{
  (void)state;
  char b[512], path[128];
  http_resp r;
  aws_rec(b, sizeof b, "c1", "13:05", 9);
  assert_int_equal(put(b, &r), 200);
  snprintf(path, sizeof path, RECORDS "/%s", jstr(r.json, "data.0.id"));
  http_resp_free(&r);
  sbx_advance_ms(&sp, 61000);
  assert_int_equal(tackle_call(&sp, tok, "DELETE", path, NULL, &r), 409);
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 1);
}

static void test_send_delay_zero_sends_at_once(void **state)
{
  (void)state;
  sandbox_proc other;
  sbx_start(&other, "--tackle-send-delay", "0", NULL);
  char t[256], b[512];
  tackle_token(&other, t, sizeof t);
  http_resp r;
  aws_rec(b, sizeof b, "c1", "13:05", 1);
  assert_int_equal(tackle_call(&other, t, "PUT", RECORDS, b, &r), 200);
  http_resp_free(&r);
  aws_rec(b, sizeof b, "c1", "13:10", 2);
  assert_int_equal(tackle_call(&other, t, "PUT", RECORDS, b, &r), 409);
  http_resp_free(&r);
  sbx_stop(&other);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, reset, cleanup)
    T(test_auth_returns_bearer_token),
    T(test_auth_missing_field_is_invalid_fields),
    T(test_auth_wrong_secret_is_refused),
    T(test_auth_bad_grant_type),
    T(test_401_authorization_header_missing),
    T(test_401_invalid_header),
    T(test_401_invalid_token),
    T(test_401_token_expired),
    T(test_reset_forgets_tokens),
    T(test_body_must_be_array),
    T(test_body_not_json),
    T(test_missing_cloud),
    T(test_unknown_cloud),
    T(test_missing_customer),
    T(test_missing_dimension_name),
    T(test_aws_quantity_must_be_integer),
    T(test_gcp_needs_end_time),
    T(test_gcp_quantity_string_accepted),
    T(test_start_time_must_be_date_time),
    T(test_test_enum),
    T(test_usage_allocations_types),
    T(test_by_subscription_accepted),
    T(test_put_creates_then_updates_same_hour),
    T(test_put_other_hour_creates),
    T(test_put_after_sent_is_409),
    T(test_post_always_creates),
    T(test_post_after_sent_is_not_409),
    T(test_record_moves_idle_to_accepted),
    T(test_scheduled_at_delays_sending),
    T(test_test_accepted),
    T(test_test_rejected),
    T(test_test_not_operable),
    T(test_unknown_customer_is_404),
    T(test_response_shape),
    T(test_list_filters),
    T(test_list_pages_with_both_token_names),
    T(test_list_bad_page_token),
    T(test_get_one_and_404),
    T(test_delete_unsent_record),
    T(test_delete_sent_record_is_409),
    T(test_send_delay_zero_sends_at_once),
#undef T
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
