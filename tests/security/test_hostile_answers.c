/* What a hostile or buggy marketplace answer must not achieve, through the
 * real clients over the scripted transport (each case was found by the
 * fuzzers, fuzz/corpora/<harness>/regress-*):
 *  - a secret the client was given, echoed back in an error answer, never
 *    reaches meter_client_last_error or the results;
 *  - a token holding a control character is never put in a header;
 *  - a JSON number's text is exact or refused, never rounded. */
#include "test_util.h"

#include "api/client.h"
#include "fake_clock.h"
#include "fake_transport.h"
#include "json/json.h"

#define SECRET "hostile-test-secret-8f3k"
#define T0 INT64_C(1704114000000000)

typedef struct fx {
  fake_transport t;
  fake_clock fc;
  meter_client *c;
} fx;

static fx *fx_new(const char *backend, const meter_setting *s, size_t n)
{
  fx *f = calloc(1, sizeof *f);
  fake_transport_init(&f->t);
  fake_clock_init(&f->fc, T0);
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = backend;
  o.endpoint = "https://market.test";
  o.settings = s;
  o.settings_count = n;
  o.log = capture_log;
  o.log_level = METER_LOG_DEBUG;
  o.max_attempts = 2;
  mtr_client_seams seams = { &f->t.base, &f->fc.hooks, NULL };
  meter_error e;
  assert_int_equal(mtr_client_new_with(&f->c, &o, &seams, &e), METER_OK);
  captured_log_clear();
  return f;
}

static void fx_free(fx *f)
{
  meter_client_free(f->c);
  fake_transport_dispose(&f->t);
  free(f);
}

static void assert_no_secret(const char *s)
{
  if (s && strstr(s, SECRET))
    fail_msg("secret leaked: %s", s);
}

static void check_results(fx *f, const meter_results *res)
{
  char buf[1024];
  meter_client_last_error(f->c, buf, sizeof buf);
  assert_no_secret(buf);
  for (size_t i = 0; i < meter_results_count(res); i++) {
    assert_no_secret(meter_results_message(res, i));
    assert_no_secret(meter_results_error_code(res, i));
    assert_no_secret(meter_results_status(res, i));
  }
  assert_no_secret(captured_log());
}

/* Tackle's token endpoint answers 400 quoting the body it was sent. */
static void test_tackle_auth_error_echoing_the_secret(void **state)
{
  (void)state;
  meter_setting s[] = { { "client_id", "id-1" }, { "client_secret", SECRET } };
  fx *f = fx_new("tackle", s, 2);
  fake_push(&f->t, 400, "Content-Type: application/json\n",
            "{\"code\":\"invalid_fields\",\"error\":\"client_secret '" SECRET "' is not valid\"}");
  meter_record *r = rec_of("product", "p", "customer", "c", "dimension", "d", "quantity", "1",
                           "time", "2024-01-01T13:00:00Z", NULL);
  meter_results *res = NULL;
  assert_int_not_equal(meter_send(f->c, &r, 1, &res), METER_OK);
  assert_non_null(res);
  /* The answer was quoted (so the test would see a leak)... */
  char buf[1024];
  meter_client_last_error(f->c, buf, sizeof buf);
  assert_non_null(strstr(buf, "[redacted]"));
  /* ...and the secret is not. */
  check_results(f, res);
  meter_results_free(res);
  meter_record_free(r);
  fx_free(f);
}

/* An AWS error type header echoing the session token. */
static void test_aws_error_type_echoing_a_secret(void **state)
{
  (void)state;
  meter_setting s[] = { { "region", "us-east-1" }, { "access_key_id", "AKIDTEST" },
                        { "secret_access_key", "aws-secret-key-xyz" },
                        { "session_token", SECRET }, { "product_code", "prod-1" } };
  fx *f = fx_new("aws", s, 5);
  fake_push(&f->t, 400, "x-amzn-ErrorType: Bad" SECRET ":http://x\n", "{\"message\":\"no\"}");
  meter_record *r = rec_of("customer", "c1", "dimension", "d", "quantity", "1", "time",
                           "2024-01-01T13:00:00Z", NULL);
  meter_results *res = NULL;
  assert_int_not_equal(meter_send(f->c, &r, 1, &res), METER_OK);
  check_results(f, res);
  meter_results_free(res);
  meter_record_free(r);
  fx_free(f);
}

/* A token answer whose token would split the next request's headers. */
static void token_with_control_character(const char *backend, const meter_setting *s, size_t n)
{
  fx *f = fx_new(backend, s, n);
  fake_push(&f->t, 200, "Content-Type: application/json\n",
            "{\"access_token\":\"abc\\r\\nX-Injected: 1\",\"token_type\":\"bearer\","
            "\"expires_in\":3600}");
  meter_record *r = strcmp(backend, "appdirect") == 0
                      ? rec_of("customer", "c", "pricing_unit", "USER", "quantity", "1", "time",
                               "2024-01-01T13:00:00Z", NULL)
                      : rec_of("product", "p", "customer", "c", "dimension", "d", "quantity",
                               "1", "time", "2024-01-01T13:00:00Z", NULL);
  meter_results *res = NULL;
  int rc = meter_send(f->c, &r, 1, &res);
  assert_int_not_equal(rc, METER_OK);
  /* The token request went out; nothing carrying the token did. */
  for (size_t i = 0; i < f->t.nsent; i++)
    for (size_t h = 0; h < f->t.sent[i].headers.count; h++)
      for (const char *v = f->t.sent[i].headers.items[h].value; *v; v++)
        assert_false(*v == '\r' || *v == '\n');
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
  meter_results_free(res);
  meter_record_free(r);
  fx_free(f);
}

static void test_tackle_token_with_crlf_is_never_sent(void **state)
{
  (void)state;
  meter_setting s[] = { { "client_id", "id-1" }, { "client_secret", SECRET } };
  token_with_control_character("tackle", s, 2);
}

static void test_appdirect_token_with_crlf_is_never_sent(void **state)
{
  (void)state;
  meter_setting s[] = { { "client_id", "id-1" }, { "client_secret", SECRET } };
  token_with_control_character("appdirect", s, 2);
}

/* 3.78802062700376e-15 needs 29 decimals: the text must be exact. */
static void test_json_number_text_is_exact_or_refused(void **state)
{
  (void)state;
  const char *nums[] = { "0.00000000000000378802062700376", "1.2345678901234567e-10",
                         "4.9406564584124654e-15", "123456789012345678", "0.1" };
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    cJSON *j = cJSON_Parse(nums[i]);
    assert_non_null(j);
    char out[64];
    if (mtr_json_number_text(j, out, sizeof out) == 0) {
      assert_null(strchr(out, 'e'));
      assert_true(strtod(out, NULL) == j->valuedouble);
    }
    cJSON_Delete(j);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tackle_auth_error_echoing_the_secret),
    cmocka_unit_test(test_aws_error_type_echoing_a_secret),
    cmocka_unit_test(test_tackle_token_with_crlf_is_never_sent),
    cmocka_unit_test(test_appdirect_token_with_crlf_is_never_sent),
    cmocka_unit_test(test_json_number_text_is_exact_or_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
