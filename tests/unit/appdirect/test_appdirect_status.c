/* The status API: one query (by request id or status path), polling with
 * backoff on the fake clock until a final state, and failedUsages mapped
 * back to the records by eventId. */
#include "ad_fixture.h"

#include "api/client.h"

#define MS INT64_C(1000)

static const char processing[] =
  "{\"requestId\":\"req-1\",\"idempotencyKey\":\"k-1\",\"status\":\"PROCESSING\","
  "\"totalUsagesCount\":3,\"processedUsagesCount\":0,\"failedUsagesCount\":0}";
static const char successful[] =
  "{\"requestId\":\"req-1\",\"idempotencyKey\":\"k-1\",\"status\":\"SUCCESSFUL\","
  "\"totalUsagesCount\":3,\"processedUsagesCount\":3,\"failedUsagesCount\":0,"
  "\"failedUsages\":[]}";

static void test_get_by_id_and_by_path(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  push_token(f, "tok", 43199);
  fake_push(&f->t, 200, NULL,
            "{\"requestId\":\"req-1\",\"idempotencyKey\":\"k-1\",\"status\":\"FAILED\","
            "\"totalUsagesCount\":11,\"processedUsagesCount\":10,\"failedUsagesCount\":1,"
            "\"failedUsages\":[{\"accountId\":\"acc-9\",\"eventId\":\"ev-3\",\"errorCode\":"
            "\"BAD_DATA\",\"errorDescription\":\"Usage submitted after deadline (6 PM UTC on "
            "last day of billing period)\"}]}");
  meter_appdirect_status *st;
  assert_int_equal(meter_appdirect_status_get(&st, f->c, "req-1"), METER_OK);
  assert_string_equal(f->t.sent[1].method, "GET");
  assert_string_equal(f->t.sent[1].url, AD_STATUS_URL "req-1");
  assert_string_equal(fake_sent_header(&f->t, 1, "Authorization"), "Bearer tok");
  assert_int_equal(meter_appdirect_status_state(st), METER_APPDIRECT_STATE_FAILED);
  assert_true(meter_appdirect_state_is_final(meter_appdirect_status_state(st)));
  assert_string_equal(meter_appdirect_status_string(st), "FAILED");
  assert_string_equal(meter_appdirect_status_request_id(st), "req-1");
  assert_string_equal(meter_appdirect_status_idempotency_key(st), "k-1");
  assert_int_equal(meter_appdirect_status_total_count(st), 11);
  assert_int_equal(meter_appdirect_status_processed_count(st), 10);
  assert_int_equal(meter_appdirect_status_failed_count(st), 1);
  assert_int_equal(meter_appdirect_status_failed_usage_count(st), 1);
  assert_string_equal(meter_appdirect_status_failed_account_id(st, 0), "acc-9");
  assert_string_equal(meter_appdirect_status_failed_event_id(st, 0), "ev-3");
  assert_string_equal(meter_appdirect_status_failed_error_code(st, 0), "BAD_DATA");
  assert_non_null(strstr(meter_appdirect_status_failed_error_description(st, 0), "deadline"));
  assert_null(meter_appdirect_status_failed_event_id(st, 1));
  const char *code, *desc;
  assert_int_equal(meter_appdirect_status_event(st, "ev-3", &code, &desc),
                   METER_APPDIRECT_STATE_FAILED);
  assert_string_equal(code, "BAD_DATA");
  assert_int_equal(meter_appdirect_status_event(st, "ev-1", &code, &desc),
                   METER_APPDIRECT_STATE_SUCCESSFUL);
  assert_null(code);
  meter_appdirect_status_free(st);

  /* The status path from a 202 answer, an unknown state, counts as strings. */
  fake_push(&f->t, 200, NULL,
            "{\"status\":\"ARCHIVED\",\"totalUsagesCount\":\"4\"}");
  assert_int_equal(meter_appdirect_status_get(
                     &st, f->c, "/api/integration/v2/billing/usage/requests/req-2"),
                   METER_OK);
  assert_string_equal(f->t.sent[2].url, AD_STATUS_URL "req-2");
  assert_int_equal(meter_appdirect_status_state(st), METER_APPDIRECT_STATE_UNKNOWN);
  assert_false(meter_appdirect_state_is_final(meter_appdirect_status_state(st)));
  assert_string_equal(meter_appdirect_status_string(st), "ARCHIVED");
  assert_string_equal(meter_appdirect_status_request_id(st), "req-2"); /* the one asked for */
  assert_int_equal(meter_appdirect_status_total_count(st), 4);
  assert_int_equal(meter_appdirect_status_failed_count(st), -1);
  meter_appdirect_status_free(st);

  /* An absolute status URL: its id, asked of the client's own marketplace. */
  fake_push(&f->t, 200, NULL, successful);
  assert_int_equal(meter_appdirect_status_get(
                     &st, f->c,
                     "https://elsewhere.example.org/api/integration/v2/billing/usage/requests/r3"),
                   METER_OK);
  assert_string_equal(f->t.sent[3].url, AD_STATUS_URL "r3");
  meter_appdirect_status_free(st);
  assert_int_equal(sent_to(f, AD_TOKEN_URL), 1);
  adfx_free(f);
}

static void test_bad_requests_and_errors(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  meter_appdirect_status *st = (meter_appdirect_status *)1;
  const char *bad[] = { "", "/api/other/req-1", "req/1", "req?x=1",
                        "/api/integration/v2/billing/usage/requests/", "https://host",
                        "https://host/api/other/x" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(meter_appdirect_status_get(&st, f->c, bad[i]), METER_EINVAL);
    assert_null(st);
  }
  assert_int_equal(meter_appdirect_status_get(&st, f->c, NULL), METER_EINVAL);
  assert_int_equal(meter_appdirect_status_get(NULL, f->c, "x"), METER_EINVAL);
  assert_int_equal(meter_appdirect_status_get(&st, NULL, "x"), METER_EINVAL);
  assert_int_equal(f->t.nsent, 0);

  push_token(f, "tok", 43199);
  fake_push(&f->t, 404, NULL, "{\"code\":\"NOT_FOUND\",\"message\":\"Request not found\"}");
  assert_int_equal(meter_appdirect_status_get(&st, f->c, "nope"), METER_ENOTFOUND);
  assert_null(st);
  char msg[256];
  assert_int_equal(meter_client_last_error(f->c, msg, sizeof msg), METER_ENOTFOUND);
  assert_non_null(strstr(msg, "nope"));

  fake_push(&f->t, 503, NULL, NULL);
  fake_push(&f->t, 200, NULL, "[1,2]");
  assert_int_equal(meter_appdirect_status_get(&st, f->c, "r"), METER_EPROTOCOL);
  fake_push(&f->t, 200, NULL, "{\"requestId\":\"r\"}");
  assert_int_equal(meter_appdirect_status_get(&st, f->c, "r"), METER_EPROTOCOL);

  /* 401: a new token, then the query again. */
  fake_push(&f->t, 401, NULL, NULL);
  push_token(f, "tok-2", 43199);
  fake_push(&f->t, 200, NULL, successful);
  assert_int_equal(meter_appdirect_status_get(&st, f->c, "req-1"), METER_OK);
  assert_string_equal(fake_sent_header(&f->t, f->t.nsent - 1, "Authorization"), "Bearer tok-2");
  meter_appdirect_status_free(st);
  adfx_free(f);
}

static const mtr_setting_spec no_settings[] = { { NULL, 0, NULL } };

static int other_create(mtr_backend **out, const mtr_env *env, mtr_logger *log,
                        const mtr_config *cfg, meter_error *err)
{
  (void)env;
  (void)log;
  (void)cfg;
  (void)err;
  *out = calloc(1, sizeof(mtr_backend));
  return METER_OK;
}

static void other_destroy(mtr_backend *be)
{
  free(be);
}

static void test_needs_appdirect_client(void **state)
{
  (void)state;
  mtr_backend_ops other = { "other", no_settings, other_create, other_destroy, NULL, NULL, NULL,
                            NULL };
  fake_transport t;
  fake_transport_init(&t);
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  mtr_client_seams seams = { &t.base, NULL, &other };
  meter_client *c;
  assert_int_equal(mtr_client_new_with(&c, &o, &seams, NULL), METER_OK);
  meter_appdirect_status *st;
  assert_int_equal(meter_appdirect_status_get(&st, c, "req-1"), METER_EUNSUPPORTED);
  assert_int_equal(meter_appdirect_status_wait(&st, c, "req-1", 10, 0), METER_EUNSUPPORTED);
  char msg[200];
  meter_client_last_error(c, msg, sizeof msg);
  assert_non_null(strstr(msg, "appdirect"));
  meter_client_free(c);
  fake_transport_dispose(&t);
}

static void test_wait_until_successful(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  push_token(f, "tok", 43199);
  fake_push(&f->t, 200, NULL, processing);
  fake_push(&f->t, 200, NULL, processing);
  fake_push(&f->t, 200, NULL, processing);
  fake_push(&f->t, 200, NULL, successful);
  meter_appdirect_status *st;
  assert_int_equal(meter_appdirect_status_wait(&st, f->c, "req-1", 60000, 500), METER_OK);
  assert_int_equal(meter_appdirect_status_state(st), METER_APPDIRECT_STATE_SUCCESSFUL);
  assert_int_equal(sent_to(f, AD_STATUS_URL "req-1"), 4);
  /* Backoff between polls through the client's clock: 0.5 s, 1 s, 2 s. */
  assert_int_equal(f->fc.nsleeps, 3);
  assert_int_equal(f->fc.sleeps[0], 500 * MS);
  assert_int_equal(f->fc.sleeps[1], 1000 * MS);
  assert_int_equal(f->fc.sleeps[2], 2000 * MS);
  meter_appdirect_status_free(st);
  adfx_free(f);
}

static void test_wait_times_out_with_last_status(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  push_token(f, "tok", 43199);
  for (int i = 0; i < 10; i++)
    fake_push(&f->t, 200, NULL, processing);
  meter_appdirect_status *st;
  /* Polls at 0, 1, 3 and, after a sleep cut to the timeout, 5 s. */
  assert_int_equal(meter_appdirect_status_wait(&st, f->c, "req-1", 5000, 1000), METER_ETIMEOUT);
  assert_non_null(st);
  assert_int_equal(meter_appdirect_status_state(st), METER_APPDIRECT_STATE_PROCESSING);
  assert_int_equal(sent_to(f, AD_STATUS_URL "req-1"), 4);
  assert_int_equal(f->fc.slept_total, 5000 * MS);
  char msg[256];
  assert_int_equal(meter_client_last_error(f->c, msg, sizeof msg), METER_ETIMEOUT);
  assert_non_null(strstr(msg, "PROCESSING"));
  meter_appdirect_status_free(st);
  adfx_free(f);
}

static void test_wait_stops_on_error(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  push_token(f, "tok", 43199);
  fake_push(&f->t, 200, NULL, processing);
  fake_push(&f->t, 404, NULL, NULL);
  meter_appdirect_status *st;
  assert_int_equal(meter_appdirect_status_wait(&st, f->c, "req-1", 60000, 0), METER_ENOTFOUND);
  assert_null(st);
  assert_int_equal(f->fc.sleeps[0], 1000 * MS); /* default first interval */
  adfx_free(f);
}

/* Send three records (two for a "bad-" account), then poll to FAILED and map
 * the failures back to the right records. */
static void test_failed_usages_mapped_to_records(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  meter_record *r[4];
  r[0] = ad_rec("ev-good-1", 0, "account", "good", "pricing_unit", "USER", "quantity", "1", NULL);
  r[1] = ad_rec("ev-bad-1", 0, "account", "bad-acct", "pricing_unit", "USER", "quantity", "2",
                NULL);
  r[2] = ad_rec("ev-bad-2", 0, "account", "bad-acct", "pricing_unit", "USER", "quantity", "3",
                NULL);
  r[3] = ad_rec("ev-volume", 0, "account", "good", "pricing_unit", "USER", "quantity", "4",
                "pricing_model", "volume", NULL);
  push_token(f, "tok", 43199);
  push_accepted(f, "req-1");
  push_accepted(f, "req-vol");
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 4, &res), METER_OK);

  fake_push(&f->t, 200, NULL, processing);
  fake_push(&f->t, 200, NULL,
            "{\"requestId\":\"req-1\",\"status\":\"FAILED\",\"totalUsagesCount\":3,"
            "\"processedUsagesCount\":1,\"failedUsagesCount\":2,\"failedUsages\":["
            "{\"accountId\":\"bad-acct\",\"eventId\":\"ev-bad-2\",\"errorCode\":\"BAD_DATA\","
            "\"errorDescription\":\"invalid quantity for account\"},"
            "{\"accountId\":\"bad-acct\",\"eventId\":\"ev-bad-1\",\"errorCode\":\"BAD_DATA\","
            "\"errorDescription\":\"unknown account\"}]}");
  meter_appdirect_status *st;
  assert_int_equal(meter_appdirect_status_wait(&st, f->c, meter_results_status_path(res, 0),
                                               60000, 0),
                   METER_OK);
  assert_int_equal(meter_appdirect_status_state(st), METER_APPDIRECT_STATE_FAILED);

  size_t updated;
  assert_int_equal(meter_appdirect_status_apply(res, &updated, st), METER_OK);
  assert_int_equal(updated, 3); /* the volume record belongs to another request */
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_string_equal(meter_results_status(res, 0), "SUCCESSFUL");
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_REJECTED);
  assert_string_equal(meter_results_error_code(res, 1), "BAD_DATA");
  assert_string_equal(meter_results_message(res, 1), "unknown account");
  assert_string_equal(meter_results_status(res, 1), "FAILED");
  assert_int_equal(meter_results_outcome(res, 2), METER_OUTCOME_REJECTED);
  assert_string_equal(meter_results_message(res, 2), "invalid quantity for account");
  assert_string_equal(meter_results_field(res, 2), "quantity");
  assert_int_equal(meter_results_outcome(res, 3), METER_OUTCOME_ACCEPTED);
  assert_string_equal(meter_results_status(res, 3), "PROCESSING");
  /* Applying again changes nothing. */
  assert_int_equal(meter_appdirect_status_apply(res, &updated, st), METER_OK);
  assert_int_equal(updated, 0);
  meter_appdirect_status_free(st);

  /* Per record, by eventId. */
  fake_push(&f->t, 200, NULL,
            "{\"requestId\":\"req-vol\",\"status\":\"READY\",\"failedUsages\":[]}");
  size_t sleeps = f->fc.nsleeps;
  /* READY is final for waiting: volume usage is rated at the period's end. */
  assert_int_equal(meter_appdirect_status_wait(&st, f->c, meter_results_request_id(res, 3),
                                               60000, 0),
                   METER_OK);
  assert_int_equal(f->fc.nsleeps, sleeps);
  assert_int_equal(meter_appdirect_status_event(st, "ev-volume", NULL, NULL),
                   METER_APPDIRECT_STATE_READY);
  assert_int_equal(meter_appdirect_status_apply(res, &updated, st), METER_OK);
  assert_int_equal(updated, 1);
  assert_string_equal(meter_results_status(res, 3), "READY");
  meter_appdirect_status_free(st);
  meter_results_free(res);
  for (int i = 0; i < 4; i++)
    meter_record_free(r[i]);
  adfx_free(f);
}

static void test_incomplete_failure_list(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  push_token(f, "tok", 43199);
  fake_push(&f->t, 200, NULL,
            "{\"requestId\":\"r\",\"status\":\"FAILED\",\"failedUsagesCount\":2,"
            "\"failedUsages\":[{\"eventId\":\"e1\",\"errorCode\":\"BAD_DATA\"}]}");
  meter_appdirect_status *st;
  assert_int_equal(meter_appdirect_status_get(&st, f->c, "r"), METER_OK);
  /* One failure is not listed: an unlisted event may be it. */
  assert_int_equal(meter_appdirect_status_event(st, "e2", NULL, NULL),
                   METER_APPDIRECT_STATE_UNKNOWN);
  assert_int_equal(meter_appdirect_status_event(st, "e1", NULL, NULL),
                   METER_APPDIRECT_STATE_FAILED);
  assert_string_equal(meter_appdirect_state_name(METER_APPDIRECT_STATE_READY), "ready");
  assert_string_equal(meter_appdirect_state_name((meter_appdirect_state)42), "unknown");
  meter_appdirect_status_free(st);
  adfx_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_get_by_id_and_by_path),
    cmocka_unit_test(test_bad_requests_and_errors),
    cmocka_unit_test(test_needs_appdirect_client),
    cmocka_unit_test(test_wait_until_successful),
    cmocka_unit_test(test_wait_times_out_with_last_status),
    cmocka_unit_test(test_wait_stops_on_error),
    cmocka_unit_test(test_failed_usages_mapped_to_records),
    cmocka_unit_test(test_incomplete_failure_list),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
