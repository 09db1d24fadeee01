/* The access token: cached per client, renewed ahead of expiry, renewed once
 * after a 401, refused credentials reported as EAUTH, never logged. */
#include "ad_fixture.h"

#include "api/client.h"

#define SEC INT64_C(1000000)

static meter_record *one(const char *key)
{
  return ad_rec(key, 0, "account", "acct-1", "pricing_unit", "USER", "quantity", "1", NULL);
}

static int send_one(adfx *f, const char *key)
{
  meter_record *r = one(key);
  int rc = meter_send(f->c, &r, 1, NULL);
  meter_record_free(r);
  return rc;
}

static void test_token_cached_between_sends(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  push_token(f, "tok-1", 3600);
  push_accepted(f, "r1");
  push_accepted(f, "r2");
  push_accepted(f, "r3");
  assert_int_equal(send_one(f, "a"), METER_OK);
  assert_int_equal(send_one(f, "b"), METER_OK);
  assert_int_equal(send_one(f, "c"), METER_OK);
  assert_int_equal(sent_to(f, AD_TOKEN_URL), 1);
  assert_int_equal(sent_to(f, AD_USAGE_URL), 3);
  for (size_t i = 1; i < 4; i++)
    assert_string_equal(fake_sent_header(&f->t, i, "Authorization"), "Bearer tok-1");
  adfx_free(f);
}

static void test_token_renewed_before_expiry(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  /* 3600 s lifetime: renewed a tenth before expiry (360 s, capped at 300 s). */
  push_token(f, "tok-1", 3600);
  push_accepted(f, "r1");
  assert_int_equal(send_one(f, "a"), METER_OK);
  fake_clock_advance(&f->fc, 3299 * SEC); /* 1 s before the renewal point */
  push_accepted(f, "r2");
  assert_int_equal(send_one(f, "b"), METER_OK);
  assert_int_equal(sent_to(f, AD_TOKEN_URL), 1);
  fake_clock_advance(&f->fc, 2 * SEC); /* past it, 299 s before expiry */
  push_token(f, "tok-2", 3600);
  push_accepted(f, "r3");
  assert_int_equal(send_one(f, "c"), METER_OK);
  assert_int_equal(sent_to(f, AD_TOKEN_URL), 2);
  assert_string_equal(fake_sent_header(&f->t, f->t.nsent - 1, "Authorization"), "Bearer tok-2");
  adfx_free(f);
}

static void test_short_lived_token_renewed(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  push_token(f, "tok-1", 10); /* renewed 1 s before its 10 s expiry */
  push_accepted(f, "r1");
  assert_int_equal(send_one(f, "a"), METER_OK);
  fake_clock_advance(&f->fc, 8 * SEC);
  push_accepted(f, "r2");
  assert_int_equal(send_one(f, "b"), METER_OK);
  assert_int_equal(sent_to(f, AD_TOKEN_URL), 1);
  fake_clock_advance(&f->fc, 2 * SEC);
  push_token(f, "tok-2", 10);
  push_accepted(f, "r3");
  assert_int_equal(send_one(f, "c"), METER_OK);
  assert_int_equal(sent_to(f, AD_TOKEN_URL), 2);
  adfx_free(f);
}

static void test_401_renews_token_once_and_resends_same_body(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  push_token(f, "tok-old", 43199);
  fake_push(&f->t, 401, NULL, "{\"code\":\"UNAUTHORIZED\",\"message\":\"token revoked\"}");
  push_token(f, "tok-new", 43199);
  push_accepted(f, "r1");
  meter_record *r = one("a");
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_OK);
  assert_int_equal(f->t.nsent, 4);
  assert_string_equal(f->t.sent[2].url, AD_TOKEN_URL);
  assert_string_equal(fake_sent_header(&f->t, 1, "Authorization"), "Bearer tok-old");
  assert_string_equal(fake_sent_header(&f->t, 3, "Authorization"), "Bearer tok-new");
  assert_string_equal(f->t.sent[1].body, f->t.sent[3].body);
  assert_int_equal(f->fc.nsleeps, 0); /* a renewal resends at once */
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  meter_results_free(res);
  meter_record_free(r);
  adfx_free(f);
}

static void test_second_401_is_eauth(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  push_token(f, "tok-1", 43199);
  fake_push(&f->t, 401, NULL, NULL);
  push_token(f, "tok-2", 43199);
  fake_push(&f->t, 401, NULL, NULL);
  push_token(f, "tok-3", 43199); /* must not be fetched */
  meter_record *r[2] = { one("a"), one("b") };
  assert_int_equal(meter_record_set(r[1], METER_FIELD_PRICING_MODEL, "volume"), METER_OK);
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 2, &res), METER_EAUTH);
  /* The second batch (volume) is not sent after credentials failed. */
  assert_int_equal(f->t.nsent, 4);
  for (size_t i = 0; i < 2; i++)
    assert_int_equal(meter_results_outcome(res, i), METER_OUTCOME_FAILED);
  assert_string_equal(meter_results_error_code(res, 0), "unauthorized");
  assert_int_equal(meter_results_http_status(res, 0), 401);
  char msg[256];
  assert_int_equal(meter_client_last_error(f->c, msg, sizeof msg), METER_EAUTH);
  assert_non_null(strstr(msg, "401"));
  meter_results_free(res);
  meter_record_free(r[0]);
  meter_record_free(r[1]);
  adfx_free(f);
}

static void test_refused_credentials(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  fake_push(&f->t, 401, NULL,
            "{\"error\":\"invalid_client\",\"error_description\":\"Bad client credentials\"}");
  meter_record *r = one("a");
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_EAUTH);
  assert_int_equal(f->t.nsent, 1); /* no usage request without a token */
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
  assert_non_null(strstr(meter_results_message(res, 0), "invalid_client"));
  assert_non_null(strstr(meter_results_message(res, 0), "client_secret"));
  meter_results_free(res);
  meter_record_free(r);
  adfx_free(f);
}

static void test_huge_lifetime_is_capped(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  fake_push(&f->t, 200, NULL, "{\"access_token\":\"tok-1\",\"expires_in\":9007199254740991}");
  push_accepted(f, "r1");
  assert_int_equal(send_one(f, "a"), METER_OK);
  fake_clock_advance(&f->fc, 31 * 24 * 3600 * SEC); /* past the 30-day cap */
  push_token(f, "tok-2", 3600);
  push_accepted(f, "r2");
  assert_int_equal(send_one(f, "b"), METER_OK);
  assert_int_equal(sent_to(f, AD_TOKEN_URL), 2);
  adfx_free(f);
}

static void test_token_endpoint_404_is_config(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  fake_push(&f->t, 404, NULL, "not here");
  meter_record *r = one("a");
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_ECONFIG);
  assert_non_null(strstr(meter_results_message(res, 0), "base_url"));
  meter_results_free(res);
  meter_record_free(r);
  adfx_free(f);
}

static void test_token_endpoint_retried_on_503(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  fake_push(&f->t, 503, NULL, NULL);
  push_token(f, "tok-1", 43199);
  push_accepted(f, "r1");
  assert_int_equal(send_one(f, "a"), METER_OK);
  assert_int_equal(sent_to(f, AD_TOKEN_URL), 2);
  adfx_free(f);
}

static void test_bad_token_answers(void **state)
{
  (void)state;
  const char *bodies[] = {
    "{\"token_type\":\"bearer\",\"expires_in\":10}",
    "{\"access_token\":\"x\",\"token_type\":\"mac\"}",
    "{\"access_token\":\"x\",\"expires_in\":-5}",
    "not json",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    adfx *f = adfx_new(NULL);
    fake_push(&f->t, 200, NULL, bodies[i]);
    /* Not delivered (a resend may work); the detail says why. */
    assert_int_equal(send_one(f, "a"), METER_EUNDELIVERED);
    assert_int_equal(meter_client_last_error(f->c, NULL, 0), METER_EPROTOCOL);
    assert_int_equal(f->t.nsent, 1);
    adfx_free(f);
  }
}

static void test_tokens_and_secret_never_logged(void **state)
{
  (void)state;
  captured_log_clear();
  adfx *f = adfx_new(NULL);
  push_token(f, "tok-very-secret-1", 43199);
  fake_push(&f->t, 401, NULL, NULL);
  push_token(f, "tok-very-secret-2", 43199);
  fake_push(&f->t, 503, NULL, "{\"message\":\"tok-very-secret-2 echoed\"}");
  push_accepted(f, "r1");
  assert_int_equal(send_one(f, "a"), METER_OK);
  /* Fetched tokens are registered with the logger: even a line that carried
   * one would be scrubbed. */
  MTR_WARN(&f->c->log, "echo tok-very-secret-1 tok-very-secret-2");
  const char *log = captured_log();
  assert_true(strlen(log) > 0);
  assert_null(strstr(log, "tok-very-secret"));
  assert_null(strstr(log, "my-secret"));
  assert_null(strstr(log, "bXktY2xpZW50Om15LXNlY3JldA"));
  adfx_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_token_cached_between_sends),
    cmocka_unit_test(test_token_renewed_before_expiry),
    cmocka_unit_test(test_short_lived_token_renewed),
    cmocka_unit_test(test_401_renews_token_once_and_resends_same_body),
    cmocka_unit_test(test_second_401_is_eauth),
    cmocka_unit_test(test_refused_credentials),
    cmocka_unit_test(test_huge_lifetime_is_capped),
    cmocka_unit_test(test_token_endpoint_404_is_config),
    cmocka_unit_test(test_token_endpoint_retried_on_503),
    cmocka_unit_test(test_bad_token_answers),
    cmocka_unit_test(test_tokens_and_secret_never_logged),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
