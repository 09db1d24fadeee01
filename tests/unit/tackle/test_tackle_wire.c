/* Golden requests: exact method, URL, headers and JSON body for fixed
 * records, per cloud and per method (Tackle OpenAPI schemas
 * Aws/Azure/GcpUsageRecordRequest*, AuthenticationRequest). */
#include "tk_fixture.h"

#define URL "https://tackle.test/v1/metering/usage-records"
#define T "2024-01-01T13:05:00Z"
#define T_WIRE "2024-01-01T13:05:00.000000+00:00"

static tk_fx *static_client(const char *method)
{
  return method ? tk_fx_new("access_token", "tok-static-123456", "method", method, NULL)
                : tk_fx_new("access_token", "tok-static-123456", NULL);
}

/* Sends the records (echo answer) and checks request `i`. */
static void send_ok(tk_fx *f, meter_record **r, size_t n)
{
  tk_push_echo(f, r, n);
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, n, &res), METER_OK);
  meter_results_free(res);
}

static void assert_request(tk_fx *f, size_t i, const char *method, const char *url, const char *body)
{
  assert_true(f->t.nsent > i);
  assert_string_equal(f->t.sent[i].method, method);
  assert_string_equal(f->t.sent[i].url, url);
  assert_string_equal(f->t.sent[i].body, body);
}

static void test_aws_put(void **state)
{
  (void)state;
  tk_fx *f = static_client(NULL);
  meter_record *r = rec_of("product", "prod-1", "customer", "cust-1", "dimension", "users",
                           "quantity", "42", "time", T, NULL);
  send_ok(f, &r, 1);
  assert_int_equal(f->t.nsent, 1);
  assert_request(f, 0, "PUT", URL,
                 "[{\"cloud\":\"aws\",\"product_id\":\"prod-1\",\"customer_id\":\"cust-1\","
                 "\"dimension\":{\"name\":\"users\",\"quantity\":42},"
                 "\"start_time\":\"" T_WIRE "\"}]");
  assert_string_equal(fake_sent_header(&f->t, 0, "Authorization"), "Bearer tok-static-123456");
  assert_string_equal(fake_sent_header(&f->t, 0, "Content-Type"), "application/json");
  assert_string_equal(fake_sent_header(&f->t, 0, "Accept"), "application/json");
  meter_record_free(r);
  tk_fx_free(f);
}

static void test_aws_post_setting(void **state)
{
  (void)state;
  tk_fx *f = static_client("post");
  meter_record *r = rec_of("product", "prod-1", "customer", "cust-1", "dimension", "users",
                           "quantity", "7", "time", T, "cloud", "aws", NULL);
  send_ok(f, &r, 1);
  assert_request(f, 0, "POST", URL,
                 "[{\"cloud\":\"aws\",\"product_id\":\"prod-1\",\"customer_id\":\"cust-1\","
                 "\"dimension\":{\"name\":\"users\",\"quantity\":7},"
                 "\"start_time\":\"" T_WIRE "\"}]");
  meter_record_free(r);
  tk_fx_free(f);
}

/* The record's method wins over the client's; PUT and POST never share a request. */
static void test_record_method_wins(void **state)
{
  (void)state;
  tk_fx *f = static_client("put");
  meter_record *r[3];
  r[0] = rec_of("product", "p", "customer", "c", "dimension", "d", "quantity", "1", "time", T, NULL);
  r[1] = rec_of("product", "p", "customer", "c2", "dimension", "d", "quantity", "2", "time", T,
                "method", "post", NULL);
  r[2] = rec_of("product", "p", "customer", "c3", "dimension", "d", "quantity", "3", "time", T,
                "method", "put", NULL);
  meter_record *puts_[2] = { r[0], r[2] };
  tk_push_echo(f, puts_, 2);
  tk_push_echo(f, &r[1], 1);
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 3, &res), METER_OK);
  assert_int_equal(f->t.nsent, 2);
  assert_string_equal(f->t.sent[0].method, "PUT");
  assert_non_null(strstr(f->t.sent[0].body, "\"customer_id\":\"c\""));
  assert_non_null(strstr(f->t.sent[0].body, "\"customer_id\":\"c3\""));
  assert_null(strstr(f->t.sent[0].body, "\"c2\""));
  assert_request(f, 1, "POST", URL,
                 "[{\"cloud\":\"aws\",\"product_id\":\"p\",\"customer_id\":\"c2\","
                 "\"dimension\":{\"name\":\"d\",\"quantity\":2},\"start_time\":\"" T_WIRE "\"}]");
  assert_string_equal(meter_results_record_id(res, 2), "id-1");
  assert_string_equal(meter_results_record_id(res, 1), "id-0");
  meter_results_free(res);
  for (int i = 0; i < 3; i++)
    meter_record_free(r[i]);
  tk_fx_free(f);
}

static void test_azure(void **state)
{
  (void)state;
  tk_fx *f = static_client(NULL);
  meter_record *r = rec_of("cloud", "azure", "product", "offer-1", "customer",
                           "11111111-2222-3333-4444-555555555555", "dimension", "gb",
                           "quantity", "100", "time", T, NULL);
  send_ok(f, &r, 1);
  assert_request(f, 0, "PUT", URL,
                 "[{\"cloud\":\"azure\",\"product_id\":\"offer-1\","
                 "\"customer_id\":\"11111111-2222-3333-4444-555555555555\","
                 "\"dimension\":{\"name\":\"gb\",\"quantity\":100},"
                 "\"start_time\":\"" T_WIRE "\"}]");
  meter_record_free(r);
  tk_fx_free(f);
}

static void test_gcp(void **state)
{
  (void)state;
  tk_fx *f = static_client("post");
  meter_record *r = rec_of("cloud", "gcp", "product", "tackle-for-gcp", "customer",
                           "E-ABC2-D330-E2FG-H2Q2", "dimension", "requests", "quantity", "2.50",
                           "time", T, "end_time", "2024-01-01T13:59:59.5Z", "consumer_id",
                           "project:xyz", NULL);
  send_ok(f, &r, 1);
  assert_request(f, 0, "POST", URL,
                 "[{\"cloud\":\"gcp\",\"product_id\":\"tackle-for-gcp\","
                 "\"customer_id\":\"E-ABC2-D330-E2FG-H2Q2\","
                 "\"dimension\":{\"name\":\"requests\",\"quantity\":2.5,\"consumer_id\":\"project:xyz\"},"
                 "\"start_time\":\"" T_WIRE "\",\"end_time\":\"2024-01-01T13:59:59.500000+00:00\"}]");
  meter_record_free(r);
  tk_fx_free(f);
}

static void test_subscription_scheduled_test(void **state)
{
  (void)state;
  tk_fx *f = static_client(NULL);
  meter_record *r = rec_of("subscription_id", "5fd2a7e8908e88888c7f0e71", "dimension", "users",
                           "quantity", "3", "time", T, "scheduled_at", "2024-01-01T14:00:00Z",
                           "test", "not-operable", NULL);
  send_ok(f, &r, 1);
  assert_request(f, 0, "PUT", URL,
                 "[{\"cloud\":\"aws\",\"subscription_id\":\"5fd2a7e8908e88888c7f0e71\","
                 "\"dimension\":{\"name\":\"users\",\"quantity\":3},"
                 "\"start_time\":\"" T_WIRE "\",\"scheduled_at\":\"2024-01-01T14:00:00.000000+00:00\","
                 "\"test\":\"not-operable\"}]");
  meter_record_free(r);
  tk_fx_free(f);
}

static void test_aws_allocations_dry_run(void **state)
{
  (void)state;
  tk_fx *f = static_client(NULL);
  meter_record *r = rec_of("product", "p", "customer", "c", "dimension", "d", "quantity", "10",
                           "time", T, "dry_run", "true", "test", "accepted", NULL);
  const char *k1[] = { "team", "env" }, *v1[] = { "red", "prod" };
  assert_int_equal(meter_record_add_allocation(r, 6, k1, v1, 2), METER_OK);
  assert_int_equal(meter_record_add_allocation(r, 4, NULL, NULL, 0), METER_OK);
  send_ok(f, &r, 1);
  assert_request(f, 0, "PUT", URL,
                 "[{\"cloud\":\"aws\",\"product_id\":\"p\",\"customer_id\":\"c\","
                 "\"dimension\":{\"name\":\"d\",\"quantity\":10,\"usage_allocations\":["
                 "{\"allocated_usage_quantity\":6,\"tags\":[{\"key\":\"team\",\"value\":\"red\"},"
                 "{\"key\":\"env\",\"value\":\"prod\"}]},{\"allocated_usage_quantity\":4}],"
                 "\"dry_run\":true},\"start_time\":\"" T_WIRE "\",\"test\":\"accepted\"}]");
  meter_record_free(r);
  tk_fx_free(f);
}

/* Quantities are exact: a big integer is written as its digits, never via a double. */
static void test_exact_quantity(void **state)
{
  (void)state;
  tk_fx *f = tk_fx_new("access_token", "tok-static-123456", NULL);
  meter_record *r = rec_of("cloud", "azure", "product", "p", "customer", "c", "dimension", "d",
                           "quantity", "9007199254740993", "time", T, NULL);
  send_ok(f, &r, 1);
  assert_non_null(strstr(f->t.sent[0].body, "\"quantity\":9007199254740993}"));
  meter_record_free(r);
  tk_fx_free(f);
}

/* Several records per request, at most 100. */
static void test_batches_of_100(void **state)
{
  (void)state;
  tk_fx *f = static_client(NULL);
  meter_record *r[150];
  for (int i = 0; i < 150; i++) {
    char cust[16];
    snprintf(cust, sizeof cust, "c%d", i);
    r[i] = rec_of("product", "p", "customer", cust, "dimension", "d", "quantity", "1", "time", T, NULL);
  }
  tk_push_echo(f, r, 100);
  tk_push_echo(f, r + 100, 50);
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 150, &res), METER_OK);
  assert_int_equal(f->t.nsent, 2);
  cJSON *a = cJSON_Parse(f->t.sent[0].body), *b = cJSON_Parse(f->t.sent[1].body);
  assert_int_equal(cJSON_GetArraySize(a), 100);
  assert_int_equal(cJSON_GetArraySize(b), 50);
  cJSON_Delete(a);
  cJSON_Delete(b);
  assert_string_equal(meter_results_record_id(res, 149), "id-49");
  meter_results_free(res);
  for (int i = 0; i < 150; i++)
    meter_record_free(r[i]);
  tk_fx_free(f);
}

static void test_authenticate_request(void **state)
{
  (void)state;
  tk_fx *f = tk_fx_new("client_id", "id-1", "client_secret", "secret-xyz-1", NULL);
  meter_record *r = rec_of("product", "p", "customer", "c", "dimension", "d", "quantity", "1",
                           "time", T, NULL);
  tk_push_token(f, "tok-fetched-abcdef", 5400);
  send_ok(f, &r, 1);
  assert_int_equal(f->t.nsent, 2);
  assert_request(f, 0, "POST", "https://tackle.test/v1/authenticate",
                 "{\"client_id\":\"id-1\",\"client_secret\":\"secret-xyz-1\","
                 "\"grant_type\":\"client_credentials\"}");
  assert_string_equal(fake_sent_header(&f->t, 0, "Content-Type"), "application/json");
  assert_null(fake_sent_header(&f->t, 0, "Authorization"));
  assert_string_equal(fake_sent_header(&f->t, 1, "Authorization"), "Bearer tok-fetched-abcdef");
  meter_record_free(r);
  tk_fx_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_aws_put),
    cmocka_unit_test(test_aws_post_setting),
    cmocka_unit_test(test_record_method_wins),
    cmocka_unit_test(test_azure),
    cmocka_unit_test(test_gcp),
    cmocka_unit_test(test_subscription_scheduled_test),
    cmocka_unit_test(test_aws_allocations_dry_run),
    cmocka_unit_test(test_exact_quantity),
    cmocka_unit_test(test_batches_of_100),
    cmocka_unit_test(test_authenticate_request),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
