/* The appdirect back end against meter-sandbox over real HTTP: delivery,
 * the idempotent retry after an answer lost in transit (the ledger holds every
 * event once), throttling and 503 retries, token expiry and revocation, and
 * the status query to SUCCESSFUL and to FAILED (BAD_DATA for "bad-"
 * accounts). */
#include "test_util.h"

#include "backends/appdirect/appdirect_int.h"
#include "meter/appdirect.h"
#include "sandbox_proc.h"

#include <time.h>

typedef struct fx {
  sandbox_proc sp;
  meter_client *c;
} fx;

static meter_client *client_for(sandbox_proc *sp)
{
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  meter_setting s[] = {
    { "client_id", "sandbox-appdirect-id" },
    { "client_secret", "sandbox-appdirect-secret" },
  };
  o.backend = "appdirect";
  o.endpoint = sp->url;
  o.settings = s;
  o.settings_count = 2;
  o.backoff_base_ms = 10; /* keep retries quick */
  o.backoff_max_ms = 200;
  o.log = capture_log;
  o.log_level = METER_LOG_DEBUG;
  meter_client *c = NULL;
  meter_error e;
  if (meter_client_new(&c, &o, &e) != METER_OK)
    fail_msg("meter_client_new: %s", e.message);
  return c;
}

static int start(void **state, const char *const *args)
{
  fx *f = calloc(1, sizeof *f);
  if (sandbox_start(&f->sp, args) != 0) {
    free(f);
    return -1;
  }
  f->c = client_for(&f->sp);
  *state = f;
  return 0;
}

static int setup(void **state)
{
  static const char *const args[] = { "--appdirect-processing-ms", "150", NULL };
  return start(state, args);
}

static int setup_short_tokens(void **state)
{
  static const char *const args[] = { "--appdirect-token-ttl", "1", NULL };
  return start(state, args);
}

static int teardown(void **state)
{
  fx *f = *state;
  meter_client_free(f->c);
  sandbox_stop(&f->sp);
  free(f);
  return 0;
}

static meter_record *event(const char *account, const char *unit, const char *qty)
{
  return rec_of("account", account, "pricing_unit", unit, "quantity", qty, NULL);
}

static meter_record *custom_event(const char *account, const char *unit, const char *qty,
                                  const char *price)
{
  return rec_of("account", account, "custom_unit", unit, "quantity", qty, "price", price,
                "currency", "EUR", NULL);
}

static void free_all(meter_record **r, size_t n)
{
  for (size_t i = 0; i < n; i++)
    meter_record_free(r[i]);
}

/* The sandbox's AppDirect ledger entry for an event id, or NULL; *count
 * receives how many entries carry it. */
static const cJSON *ledger_event(const cJSON *ledger, const char *event_id, int *count)
{
  const cJSON *found = NULL, *e;
  *count = 0;
  cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(ledger, "appdirect"))
  {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "event_id");
    if (cJSON_IsString(id) && strcmp(id->valuestring, event_id) == 0) {
      found = e;
      ++*count;
    }
  }
  return found;
}

static const char *member(const cJSON *o, const char *key)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : "";
}

static int ledger_size(const cJSON *ledger)
{
  return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ledger, "appdirect"));
}

static void test_delivery(void **state)
{
  fx *f = *state;
  meter_record *r[3] = { event("acct-1", "USER", "10"),
                         custom_event("acct-2", "SEATS", "2.5", "12.75"),
                         event("acct-1", "GIGABYTE", "0.0000000001") };
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 3, &res), METER_OK);
  cJSON *ledger = sandbox_ledger(&f->sp);
  assert_non_null(ledger);
  assert_int_equal(ledger_size(ledger), 3);
  const char *quantities[3] = { "10", "2.5", "0.0000000001" };
  const char *units[3] = { "USER", "SEATS", "GIGABYTE" };
  const char *accounts[3] = { "acct-1", "acct-2", "acct-1" };
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(meter_results_outcome(res, i), METER_OUTCOME_ACCEPTED);
    assert_string_equal(meter_results_status(res, i), "PROCESSING");
    assert_int_equal(meter_results_http_status(res, i), 202);
    int n;
    const cJSON *e =
      ledger_event(ledger, meter_record_get(r[i], METER_FIELD_IDEMPOTENCY_KEY), &n);
    assert_int_equal(n, 1);
    assert_string_equal(member(e, "account"), accounts[i]);
    assert_string_equal(member(e, "unit"), units[i]);
    assert_string_equal(member(e, "quantity"), quantities[i]);
    assert_string_equal(member(e, "request_id"), meter_results_request_id(res, i));
  }
  /* One request: one key for all three events. */
  int n;
  const cJSON *e0 = ledger_event(ledger, meter_record_get(r[0], METER_FIELD_IDEMPOTENCY_KEY), &n);
  const cJSON *e1 = ledger_event(ledger, meter_record_get(r[1], METER_FIELD_IDEMPOTENCY_KEY), &n);
  assert_true(strlen(member(e0, "idempotency_key")) > 0);
  assert_string_equal(member(e0, "idempotency_key"), member(e1, "idempotency_key"));
  cJSON_Delete(ledger);
  meter_results_free(res);
  free_all(r, 3);
}

static void test_lost_answer_retried_with_same_key(void **state)
{
  fx *f = *state;
  assert_int_equal(sandbox_reset(&f->sp), 0);
  /* Two answers lost: libcurl resends at most once by itself (a reused
   * connection that died unanswered), so the library's own retry loop has to
   * resend too. */
  assert_int_equal(sandbox_fault(&f->sp, "{\"route\":\"appdirect.usage\",\"kind\":"
                                         "\"drop_after_apply\",\"count\":2}"),
                   0);
  meter_record *r[4] = { event("acct-1", "USER", "1"), event("acct-2", "USER", "2"),
                         event("acct-1", "USER", "3"), event("acct-3", "USER", "4") };
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 4, &res), METER_OK);
  /* The key every attempt carried: derived from the events alone. */
  char key[MTR_UUID_LEN + 1];
  assert_int_equal(mtr_appdirect_request_key(r, 4, 1, key), METER_OK);
  cJSON *ledger = sandbox_ledger(&f->sp);
  assert_int_equal(ledger_size(ledger), 4);
  for (size_t i = 0; i < 4; i++) {
    /* Applied by the first attempt, whose answer was lost; a resend with the
     * same bytes was told the key was used. */
    assert_int_equal(meter_results_outcome(res, i), METER_OUTCOME_DUPLICATE);
    assert_int_equal(meter_results_http_status(res, i), 409);
    assert_true(meter_results_attempts(res, i) >= 2);
    int n;
    const cJSON *e =
      ledger_event(ledger, meter_record_get(r[i], METER_FIELD_IDEMPOTENCY_KEY), &n);
    assert_int_equal(n, 1);
    assert_string_equal(member(e, "request_id"), meter_results_request_id(res, i));
    assert_string_equal(member(e, "idempotency_key"), key);
  }
  cJSON_Delete(ledger);

  /* Sending the same records again (a restart resending) changes nothing. */
  meter_results_free(res);
  assert_int_equal(meter_send(f->c, r, 4, &res), METER_OK);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_DUPLICATE);
  ledger = sandbox_ledger(&f->sp);
  assert_int_equal(ledger_size(ledger), 4);
  cJSON_Delete(ledger);
  meter_results_free(res);
  free_all(r, 4);
}

static void test_throttle_and_503_retried(void **state)
{
  fx *f = *state;
  assert_int_equal(sandbox_reset(&f->sp), 0);
  assert_int_equal(sandbox_fault(&f->sp, "{\"route\":\"appdirect.usage\",\"kind\":\"error503\","
                                         "\"count\":2}"),
                   0);
  meter_record *r[2] = { event("acct-1", "USER", "1"), event("acct-2", "USER", "2") };
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 2, &res), METER_OK);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_int_equal(meter_results_attempts(res, 0), 3);
  meter_results_free(res);

  assert_int_equal(sandbox_fault(&f->sp, "{\"route\":\"appdirect.usage\",\"kind\":\"throttle\","
                                         "\"count\":1,\"retry_after\":1}"),
                   0);
  meter_record *more = event("acct-1", "USER", "5");
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(meter_send(f->c, &more, 1, &res), METER_OK);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_int_equal(meter_results_attempts(res, 0), 2);
  /* Retry-After: 1 was honoured. */
  assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 900);
  meter_results_free(res);

  /* Retries exhausted: FAILED, nothing in the ledger. */
  assert_int_equal(sandbox_fault(&f->sp, "{\"route\":\"appdirect.usage\",\"kind\":\"error503\"}"),
                   0);
  meter_record *lost = event("acct-9", "USER", "9");
  assert_int_equal(meter_send(f->c, &lost, 1, &res), METER_EUNDELIVERED);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
  meter_results_free(res);
  free(sandbox_request(&f->sp, "DELETE", "/_sandbox/faults", NULL, NULL));
  cJSON *ledger = sandbox_ledger(&f->sp);
  assert_int_equal(ledger_size(ledger), 3);
  int n;
  ledger_event(ledger, meter_record_get(lost, METER_FIELD_IDEMPOTENCY_KEY), &n);
  assert_int_equal(n, 0);
  cJSON_Delete(ledger);
  meter_record_free(more);
  meter_record_free(lost);
  free_all(r, 2);
}

static int count_in_log(const char *needle)
{
  int n = 0;
  for (const char *p = captured_log(); (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

static void test_token_expiry_and_revocation(void **state)
{
  fx *f = *state;
  captured_log_clear();
  meter_record *a = event("acct-1", "USER", "1");
  assert_int_equal(meter_send(f->c, &a, 1, NULL), METER_OK);
  assert_int_equal(count_in_log("access token obtained"), 1);
  struct timespec pause = { 1, 200000000 }; /* past the 1 s lifetime */
  nanosleep(&pause, NULL);
  meter_record *b = event("acct-1", "USER", "2");
  assert_int_equal(meter_send(f->c, &b, 1, NULL), METER_OK);
  /* Renewed because it expired, not because the sandbox refused it. */
  assert_int_equal(count_in_log("access token obtained"), 2);
  assert_int_equal(count_in_log("fetching a new access token"), 0);

  /* The sandbox forgets every token: the next request gets a 401, the client
   * fetches a new token once and resends. */
  assert_int_equal(sandbox_reset(&f->sp), 0);
  meter_record *c = event("acct-1", "USER", "3");
  assert_int_equal(meter_send(f->c, &c, 1, NULL), METER_OK);
  assert_int_equal(count_in_log("fetching a new access token"), 1);
  cJSON *ledger = sandbox_ledger(&f->sp);
  assert_int_equal(ledger_size(ledger), 1);
  cJSON_Delete(ledger);
  assert_null(strstr(captured_log(), "sandbox-appdirect-secret"));
  meter_record_free(a);
  meter_record_free(b);
  meter_record_free(c);
}

static void test_status_successful(void **state)
{
  fx *f = *state;
  meter_record *r[2] = { event("acct-1", "USER", "1"), event("acct-2", "USER", "2") };
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 2, &res), METER_OK);
  meter_appdirect_status *st;
  assert_int_equal(meter_appdirect_status_wait(&st, f->c, meter_results_status_path(res, 0),
                                               10000, 25),
                   METER_OK);
  assert_int_equal(meter_appdirect_status_state(st), METER_APPDIRECT_STATE_SUCCESSFUL);
  assert_string_equal(meter_appdirect_status_request_id(st), meter_results_request_id(res, 0));
  assert_int_equal(meter_appdirect_status_total_count(st), 2);
  assert_int_equal(meter_appdirect_status_failed_usage_count(st), 0);
  size_t updated;
  assert_int_equal(meter_appdirect_status_apply(res, &updated, st), METER_OK);
  assert_int_equal(updated, 2);
  assert_string_equal(meter_results_status(res, 1), "SUCCESSFUL");
  meter_appdirect_status_free(st);

  /* A fresh request queried at once is still processing. */
  meter_results_free(res);
  meter_record *more = event("acct-1", "USER", "3");
  assert_int_equal(meter_send(f->c, &more, 1, &res), METER_OK);
  assert_int_equal(meter_appdirect_status_get(&st, f->c, meter_results_request_id(res, 0)),
                   METER_OK);
  assert_int_equal(meter_appdirect_status_state(st), METER_APPDIRECT_STATE_PROCESSING);
  meter_appdirect_status_free(st);
  assert_int_equal(meter_appdirect_status_get(&st, f->c, "no-such-request"), METER_ENOTFOUND);
  meter_results_free(res);
  meter_record_free(more);
  free_all(r, 2);
}

static void test_status_failed_bad_data(void **state)
{
  fx *f = *state;
  meter_record *r[3] = { event("good-1", "USER", "1"), event("bad-1", "USER", "2"),
                         custom_event("bad-1", "SEATS", "3", "1") };
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 3, &res), METER_OK);
  meter_appdirect_status *st;
  assert_int_equal(meter_appdirect_status_wait(&st, f->c, meter_results_request_id(res, 0),
                                               10000, 25),
                   METER_OK);
  assert_int_equal(meter_appdirect_status_state(st), METER_APPDIRECT_STATE_FAILED);
  assert_int_equal(meter_appdirect_status_failed_usage_count(st), 2);
  const char *code;
  const char *bad_event = meter_record_get(r[1], METER_FIELD_IDEMPOTENCY_KEY);
  assert_int_equal(meter_appdirect_status_event(st, bad_event, &code, NULL),
                   METER_APPDIRECT_STATE_FAILED);
  assert_string_equal(code, "BAD_DATA");
  size_t updated;
  assert_int_equal(meter_appdirect_status_apply(res, &updated, st), METER_OK);
  assert_int_equal(updated, 3);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_string_equal(meter_results_status(res, 0), "SUCCESSFUL");
  for (size_t i = 1; i < 3; i++) {
    assert_int_equal(meter_results_outcome(res, i), METER_OUTCOME_REJECTED);
    assert_string_equal(meter_results_error_code(res, i), "BAD_DATA");
  }
  meter_appdirect_status_free(st);
  meter_results_free(res);
  free_all(r, 3);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_delivery, setup, teardown),
    cmocka_unit_test_setup_teardown(test_lost_answer_retried_with_same_key, setup, teardown),
    cmocka_unit_test_setup_teardown(test_throttle_and_503_retried, setup, teardown),
    cmocka_unit_test_setup_teardown(test_token_expiry_and_revocation, setup_short_tokens,
                                    teardown),
    cmocka_unit_test_setup_teardown(test_status_successful, setup, teardown),
    cmocka_unit_test_setup_teardown(test_status_failed_bad_data, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
