/* Golden bytes: the token request and usage requests exactly as sent
 * (URL, headers, body), for preconfigured, custom and mixed-account usage.
 *
 * The idempotencyKey values below are pinned on purpose: the key is derived
 * from the events, and a resend after an upgrade must still carry the same
 * key. They were computed independently of the C code (SHA-256 of
 * "libmeter appdirect usage v2\nbillable=<b>\n" + the sorted eventIds, one per
 * line, in the UUID version-5 layout). */
#include "ad_fixture.h"

static void free_recs(meter_record **r, size_t n)
{
  for (size_t i = 0; i < n; i++)
    meter_record_free(r[i]);
}

static void test_token_request_bytes(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  meter_record *r = ad_rec("evt-1", 0, "account", "acct-1", "pricing_unit", "USER", "quantity",
                           "1", NULL);
  push_token(f, "tok-1", 43199);
  push_accepted(f, "req-1");
  assert_int_equal(meter_send(f->c, &r, 1, NULL), METER_OK);
  assert_int_equal(f->t.nsent, 2);
  assert_string_equal(f->t.sent[0].method, "POST");
  assert_string_equal(f->t.sent[0].url, AD_TOKEN_URL);
  assert_string_equal(fake_sent_header(&f->t, 0, "Authorization"), AD_BASIC);
  assert_string_equal(fake_sent_header(&f->t, 0, "Content-Type"),
                      "application/x-www-form-urlencoded");
  assert_string_equal(fake_sent_header(&f->t, 0, "Accept"), "application/json");
  assert_string_equal(f->t.sent[0].body, "grant_type=client_credentials&scope=ROLE_APPLICATION");
  assert_true(f->body_is_secret[0]);  /* wiped after use, never logged */
  assert_false(f->body_is_secret[1]); /* usage is not a secret */
  meter_record_free(r);
  adfx_free(f);
}

static void test_preconfigured_usage_bytes(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  meter_record *r[2];
  r[0] = ad_rec("evt-1", 123, "account", "acct-1", "pricing_unit", "USER", "quantity", "10",
                "description", "Seats in January", NULL);
  assert_int_equal(meter_record_set_attribute(r[0], "region", "eu"), METER_OK);
  r[1] = ad_rec("evt-2", 0, "account", "acct-1", "pricing_unit", "USER", "quantity", "2.50",
                "currency", "EUR", NULL);
  push_token(f, "tok-1", 43199);
  push_accepted(f, "db0879f1-7a61-4ea3-91ff-4c18047b76fa");
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 2, &res), METER_OK);
  assert_int_equal(f->t.nsent, 2);
  assert_string_equal(f->t.sent[1].method, "POST");
  assert_string_equal(f->t.sent[1].url, AD_USAGE_URL);
  assert_string_equal(fake_sent_header(&f->t, 1, "Authorization"), "Bearer tok-1");
  assert_string_equal(fake_sent_header(&f->t, 1, "Content-Type"), "application/json");
  assert_string_equal(fake_sent_header(&f->t, 1, "Accept"), "application/json");
  assert_string_equal(
    f->t.sent[1].body,
    "{\"idempotencyKey\":\"988032fb-a8f1-5d4e-a3b7-50275b35f0d5\",\"billable\":true,"
    "\"usages\":[{\"accountId\":\"acct-1\",\"usageList\":["
    "{\"eventId\":\"evt-1\",\"eventDate\":\"2026-01-15T10:30:00.123Z\",\"pricingUnit\":\"USER\","
    "\"customUnit\":null,\"quantity\":10,\"unitPrice\":null,\"currency\":\"\","
    "\"description\":\"Seats in January\",\"attributes\":{\"region\":\"eu\"}},"
    "{\"eventId\":\"evt-2\",\"eventDate\":\"2026-01-15T10:30:00.000Z\",\"pricingUnit\":\"USER\","
    "\"customUnit\":null,\"quantity\":2.5,\"unitPrice\":null,\"currency\":\"EUR\"}]}]}");
  /* The 202 answer goes into every record's result. */
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(meter_results_outcome(res, i), METER_OUTCOME_ACCEPTED);
    assert_string_equal(meter_results_status(res, i), "PROCESSING");
    assert_string_equal(meter_results_request_id(res, i), "db0879f1-7a61-4ea3-91ff-4c18047b76fa");
    assert_string_equal(meter_results_record_id(res, i), "db0879f1-7a61-4ea3-91ff-4c18047b76fa");
    assert_string_equal(meter_results_status_path(res, i),
                        "/api/integration/v2/billing/usage/requests/"
                        "db0879f1-7a61-4ea3-91ff-4c18047b76fa");
    assert_int_equal(meter_results_http_status(res, i), 202);
    assert_int_equal(meter_results_attempts(res, i), 1);
  }
  meter_results_free(res);
  free_recs(r, 2);
  adfx_free(f);
}

static void test_custom_usage_bytes(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  /* No account: the customer is the accountId. */
  meter_record *r = ad_rec("evt-c1", 0, "customer", "cust-9", "custom_unit", "USERS",
                           "quantity", "4", "price", "12.50", "currency", "eur", NULL);
  push_token(f, "tok-1", 43199);
  push_accepted(f, "req-c");
  assert_int_equal(meter_send(f->c, &r, 1, NULL), METER_OK);
  assert_string_equal(
    f->t.sent[1].body,
    "{\"idempotencyKey\":\"a2bda2be-a618-57c9-90bc-e4e5fa983fa8\",\"billable\":true,"
    "\"usages\":[{\"accountId\":\"cust-9\",\"usageList\":["
    "{\"eventId\":\"evt-c1\",\"eventDate\":\"2026-01-15T10:30:00.000Z\",\"pricingUnit\":null,"
    "\"customUnit\":\"USERS\",\"quantity\":4,\"unitPrice\":12.5,\"currency\":\"EUR\"}]}]}");
  meter_record_free(r);
  adfx_free(f);
}

static void test_mixed_accounts_partner_bytes(void **state)
{
  (void)state;
  adfx *f = adfx_new("request_group_id", "January 2026", "billable", "false", "vendor_id",
                     "202f0f5e-c48a-46e9-bed5-2c1abd4eac33", NULL);
  meter_record *r[3];
  r[0] = ad_rec("m1", 0, "account", "acct-A", "pricing_unit", "GIGABYTE", "quantity",
                "0.0000000001", NULL);
  r[1] = ad_rec("m2", 1, "account", "acct-B", "custom_unit", "API calls", "quantity", "1000",
                "price", "0", "currency", "USD", NULL);
  r[2] = ad_rec("m3", 2, "account", "acct-A", "customer", "ignored-when-account-set",
                "pricing_unit", "GIGABYTE", "quantity", "3", NULL);
  push_token(f, "tok-p", 43199);
  push_accepted(f, "req-m");
  assert_int_equal(meter_send(f->c, r, 3, NULL), METER_OK);
  /* Partner credentials (vendor_id) default to scope ROLE_PARTNER. */
  assert_string_equal(f->t.sent[0].body, "grant_type=client_credentials&scope=ROLE_PARTNER");
  assert_string_equal(
    f->t.sent[1].body,
    "{\"idempotencyKey\":\"b3f1a641-6cfe-5bea-8294-848f90cd5bb6\",\"billable\":false,"
    "\"requestGroupId\":\"January 2026\",\"vendorId\":\"202f0f5e-c48a-46e9-bed5-2c1abd4eac33\","
    "\"usages\":[{\"accountId\":\"acct-A\",\"usageList\":["
    "{\"eventId\":\"m1\",\"eventDate\":\"2026-01-15T10:30:00.000Z\",\"pricingUnit\":\"GIGABYTE\","
    "\"customUnit\":null,\"quantity\":0.0000000001,\"unitPrice\":null,\"currency\":\"\"},"
    "{\"eventId\":\"m3\",\"eventDate\":\"2026-01-15T10:30:00.002Z\",\"pricingUnit\":\"GIGABYTE\","
    "\"customUnit\":null,\"quantity\":3,\"unitPrice\":null,\"currency\":\"\"}]},"
    "{\"accountId\":\"acct-B\",\"usageList\":["
    "{\"eventId\":\"m2\",\"eventDate\":\"2026-01-15T10:30:00.001Z\",\"pricingUnit\":null,"
    "\"customUnit\":\"API calls\",\"quantity\":1000,\"unitPrice\":0,\"currency\":\"USD\"}]}]}");
  free_recs(r, 3);
  adfx_free(f);
}

static void test_subscription_and_scope_override(void **state)
{
  (void)state;
  adfx *f = adfx_new("subscription_id", "02ab813a-e955-4255-8969-c5329839dd61", "scope",
                     "ROLE_PARTNER ROLE_X", NULL);
  meter_record *r = ad_rec("s1", 0, "account", "a", "pricing_unit", "USER", "quantity", "1",
                           NULL);
  push_token(f, "tok-s", 43199);
  push_accepted(f, "req-s");
  assert_int_equal(meter_send(f->c, &r, 1, NULL), METER_OK);
  /* Form-encoded: the space is %20. */
  assert_string_equal(f->t.sent[0].body,
                      "grant_type=client_credentials&scope=ROLE_PARTNER%20ROLE_X");
  cJSON *body = sent_json(f, 1);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(body, "subscriptionId")->valuestring,
                      "02ab813a-e955-4255-8969-c5329839dd61");
  assert_null(cJSON_GetObjectItemCaseSensitive(body, "vendorId"));
  assert_null(cJSON_GetObjectItemCaseSensitive(body, "requestGroupId"));
  cJSON_Delete(body);
  meter_record_free(r);
  adfx_free(f);
}

static void test_endpoint_overrides_base_url(void **state)
{
  (void)state;
  adfx *f;
  meter_error e;
  const char *s[] = { "base_url", "https://ignored.example.com", NULL };
  assert_int_equal(adfx_try(&f, &e, "http://127.0.0.1:8080/", s), METER_OK);
  meter_record *r = ad_rec("e1", 0, "account", "a", "pricing_unit", "USER", "quantity", "1",
                           NULL);
  push_token(f, "tok", 43199);
  push_accepted(f, "req");
  assert_int_equal(meter_send(f->c, &r, 1, NULL), METER_OK);
  assert_string_equal(f->t.sent[0].url, "http://127.0.0.1:8080/oauth2/token");
  assert_string_equal(f->t.sent[1].url,
                      "http://127.0.0.1:8080/api/integration/v2/billing/usage");
  meter_record_free(r);
  adfx_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_token_request_bytes),
    cmocka_unit_test(test_preconfigured_usage_bytes),
    cmocka_unit_test(test_custom_usage_bytes),
    cmocka_unit_test(test_mixed_accounts_partner_bytes),
    cmocka_unit_test(test_subscription_and_scope_override),
    cmocka_unit_test(test_endpoint_overrides_base_url),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
