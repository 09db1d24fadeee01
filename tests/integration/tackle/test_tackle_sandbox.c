/* The Tackle back end against meter-sandbox (tests/support/sandbox_proc.h):
 * tokens expiring and renewed, PUT updates then 409 once sent, POST
 * duplicates, test modes, pagination, and retries under injected faults
 * with the ledger holding each unit exactly once. */
#include "test_util.h"

#include "core/str.h"
#include "core/timefmt.h"
#include "meter/tackle.h"
#include "sandbox_proc.h"

#include <time.h>
#include <unistd.h>

typedef struct ifx {
  sandbox_proc sp;
  meter_client *c;
  int64_t t;        /* the records' time: a second ago, fixed per test */
} ifx;

static void msleep(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  nanosleep(&ts, NULL);
}

static meter_client *new_client(ifx *f, const char *token, const char *method)
{
  meter_setting s[3];
  size_t n = 0;
  if (token) {
    s[n++] = (meter_setting){ "access_token", token };
  } else {
    s[n++] = (meter_setting){ "client_id", "sandbox-tackle-id" };
    s[n++] = (meter_setting){ "client_secret", "sandbox-tackle-secret" };
  }
  if (method)
    s[n++] = (meter_setting){ "method", method };
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = "tackle";
  o.endpoint = f->sp.url;
  o.settings = s;
  o.settings_count = n;
  o.backoff_base_ms = 5;    /* keep retries quick */
  o.backoff_max_ms = 50;
  o.request_timeout_ms = 5000;
  meter_client *c = NULL;
  meter_error e;
  if (meter_client_new(&c, &o, &e) != METER_OK)
    fail_msg("meter_client_new: %s", e.message);
  return c;
}

/* The running fixture, stopped by the teardown even when a test fails
 * half-way (a failed assertion leaves the test function at once). */
static ifx *current;

/* Starts a sandbox with extra flags; skips when the binary is not built. */
static ifx *start(const char *const *args)
{
  if (access(sandbox_binary(), X_OK) != 0) {
    print_message("meter-sandbox not built (%s): skipped\n", sandbox_binary());
    return NULL;
  }
  ifx *f = calloc(1, sizeof *f);
  if (sandbox_start(&f->sp, args) != 0) {
    free(f);
    fail_msg("could not start %s", sandbox_binary());
  }
  f->t = (int64_t)time(NULL) * MTR_US_PER_SEC - MTR_US_PER_SEC;
  f->c = new_client(f, NULL, NULL);
  current = f;
  return f;
}

static void stop(ifx *f)
{
  meter_client_free(f->c);
  sandbox_stop(&f->sp);
  free(f);
  current = NULL;
}

static int teardown(void **state)
{
  (void)state;
  if (current)
    stop(current);
  return 0;
}

static meter_record *rec(ifx *f, const char *customer, const char *qty, const char *method)
{
  char ts[MTR_TIME_BUF];
  meter_record *r = rec_of("product", "prod-1", "customer", customer, "dimension", "users",
                           "quantity", qty, "time", mtr_time_format(f->t, MTR_TIME_RFC3339_MICRO, ts),
                           NULL);
  if (method)
    meter_record_set(r, METER_FIELD_METHOD, method);
  return r;
}

/* Entries of the tackle ledger for a customer; *sum receives their quantity. */
static int ledger_count(ifx *f, const char *customer, long *sum, const char *want_method)
{
  cJSON *l = sandbox_ledger(&f->sp);
  assert_non_null(l);
  int n = 0;
  long s = 0;
  cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItem(l, "tackle"))
  {
    const char *c = cJSON_GetStringValue(cJSON_GetObjectItem(e, "customer"));
    if (!c || strcmp(c, customer) != 0)
      continue;
    n++;
    cJSON *q = cJSON_GetObjectItem(e, "quantity");
    s += cJSON_IsNumber(q) ? (long)q->valuedouble : cJSON_IsString(q) ? atol(q->valuestring) : 0;
    if (want_method) {
      const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(e, "method"));
      assert_non_null(m);
      assert_true(mtr_streq_nocase(m, want_method));
    }
  }
  cJSON_Delete(l);
  if (sum)
    *sum = s;
  return n;
}

static meter_results *send_ok(ifx *f, meter_record **r, size_t n, int want)
{
  meter_results *res = NULL;
  int rc = meter_send(f->c, r, n, &res);
  if (rc != want) {
    char msg[256];
    meter_client_last_error(f->c, msg, sizeof msg);
    fail_msg("meter_send: %s, want %s (%s; record 0: %s)", meter_status_name(rc),
             meter_status_name(want), msg, res ? meter_results_message(res, 0) : "");
  }
  return res;
}

static int sandbox_request_ok(sandbox_proc *sp, const char *method, const char *path,
                              const char *body)
{
  long st = 0;
  char *b = sandbox_request(sp, method, path, body, &st);
  free(b);
  return st == 200 ? 0 : -1;
}

/* Waits (polling, at most 10 s) until Tackle reports record `id` with
 * `status`: the sandbox "sends" records after --tackle-send-delay. */
static void wait_status(ifx *f, const char *id, const char *status)
{
  for (int i = 0; i < 200; i++) {
    meter_tackle_record *got = NULL;
    int rc = meter_tackle_get(&got, f->c, id);
    int done = rc == METER_OK && meter_tackle_record_get(got, METER_TACKLE_STATUS) &&
               strcmp(meter_tackle_record_get(got, METER_TACKLE_STATUS), status) == 0;
    meter_tackle_record_free(got);
    if (done)
      return;
    msleep(50);
  }
  fail_msg("record %s never reached status %s", id, status);
}

/* ---- tests ---- */

static void test_put_get_delete(void **state)
{
  (void)state;
  ifx *f = start(NULL);
  if (!f)
    skip();
  meter_record *r = rec(f, "cust-a", "42", NULL);
  meter_results *res = send_ok(f, &r, 1, METER_OK);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  const char *id = meter_results_record_id(res, 0);
  assert_non_null(id);
  long sum;
  assert_int_equal(ledger_count(f, "cust-a", &sum, "put"), 1);
  assert_int_equal(sum, 42);

  meter_tackle_record *got;
  assert_int_equal(meter_tackle_get(&got, f->c, id), METER_OK);
  assert_string_equal(meter_tackle_record_get(got, METER_TACKLE_ID), id);
  assert_string_equal(meter_tackle_record_get(got, METER_TACKLE_CUSTOMER_ID), "cust-a");
  assert_string_equal(meter_tackle_record_get(got, METER_TACKLE_DIMENSION), "users");
  assert_string_equal(meter_tackle_record_get(got, METER_TACKLE_QUANTITY), "42");
  assert_string_equal(meter_tackle_record_get(got, METER_TACKLE_CLOUD), "aws");
  assert_true(meter_tackle_record_start_us(got) == f->t);
  meter_tackle_record_free(got);

  assert_int_equal(meter_tackle_delete(&got, f->c, id), METER_OK);
  meter_tackle_record_free(got);
  assert_int_equal(meter_tackle_get(&got, f->c, id), METER_ENOTFOUND);
  meter_results_free(res);
  meter_record_free(r);
  stop(f);
}

static void test_put_updates_then_conflicts_once_sent(void **state)
{
  (void)state;
  /* Long enough that the update below lands before the "send", even on a
   * loaded machine; the wait after it polls rather than guesses. */
  const char *args[] = { "--tackle-send-delay", "1500", NULL };
  ifx *f = start(args);
  if (!f)
    skip();
  meter_record *r = rec(f, "cust-b", "3", NULL);
  meter_results *res = send_ok(f, &r, 1, METER_OK);
  char id[64];
  snprintf(id, sizeof id, "%s", meter_results_record_id(res, 0));
  meter_results_free(res);
  meter_record_set(r, METER_FIELD_QUANTITY, "5");
  res = send_ok(f, &r, 1, METER_OK); /* same hour: updated in place */
  assert_string_equal(meter_results_record_id(res, 0), id);
  meter_results_free(res);
  long sum;
  assert_int_equal(ledger_count(f, "cust-b", &sum, NULL), 1);
  assert_int_equal(sum, 5);
  wait_status(f, id, "accepted"); /* the sandbox has sent the hour */
  meter_record_set(r, METER_FIELD_QUANTITY, "7");
  res = send_ok(f, &r, 1, METER_EREJECTED);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_CONFLICT);
  assert_int_equal(meter_results_http_status(res, 0), 409);
  assert_int_equal(meter_results_attempts(res, 0), 1); /* never retried */
  assert_non_null(strstr(meter_results_message(res, 0), "already sent to the marketplace"));
  assert_int_equal(ledger_count(f, "cust-b", &sum, NULL), 1);
  assert_int_equal(sum, 5);
  meter_results_free(res);
  meter_record_free(r);
  stop(f);
}

static void test_post_creates_duplicates(void **state)
{
  (void)state;
  ifx *f = start(NULL);
  if (!f)
    skip();
  meter_record *r = rec(f, "cust-c", "2", "post");
  meter_results *a = send_ok(f, &r, 1, METER_OK);
  meter_results *b = send_ok(f, &r, 1, METER_OK);
  assert_string_not_equal(meter_results_record_id(a, 0), meter_results_record_id(b, 0));
  long sum;
  assert_int_equal(ledger_count(f, "cust-c", &sum, "post"), 2);
  assert_int_equal(sum, 4);
  meter_results_free(a);
  meter_results_free(b);
  meter_record_free(r);
  stop(f);
}

static void test_test_modes(void **state)
{
  (void)state;
  const char *args[] = { "--tackle-send-delay", "1000", NULL };
  ifx *f = start(args);
  if (!f)
    skip();
  static const char *modes[] = { "accepted", "rejected", "not-operable" };
  meter_record *r[3];
  for (int i = 0; i < 3; i++) {
    char cust[32];
    snprintf(cust, sizeof cust, "cust-test-%d", i);
    r[i] = rec(f, cust, "1", NULL);
    meter_record_set(r[i], METER_FIELD_TEST, modes[i]);
  }
  meter_results *res = send_ok(f, r, 3, METER_OK); /* stored: idle until "sent" */
  for (int i = 0; i < 3; i++) {
    assert_string_equal(meter_results_status(res, i), "idle");
    wait_status(f, meter_results_record_id(res, i), modes[i]);
    meter_tackle_record *got;
    assert_int_equal(meter_tackle_get(&got, f->c, meter_results_record_id(res, i)), METER_OK);
    assert_string_equal(meter_tackle_record_get(got, METER_TACKLE_TEST), modes[i]);
    assert_string_equal(meter_tackle_record_get(got, METER_TACKLE_STATUS), modes[i]);
    meter_tackle_record_free(got);
  }
  meter_results_free(res);
  meter_tackle_list_options o = METER_TACKLE_LIST_OPTIONS_INIT;
  o.include_tests = METER_TACKLE_FLAG_FALSE;
  meter_tackle_list *it;
  assert_int_equal(meter_tackle_list_new(&it, f->c, &o), METER_OK);
  const meter_tackle_record *x;
  assert_int_equal(meter_tackle_list_next(it, &x), METER_OK);
  assert_null(x); /* only test records exist */
  meter_tackle_list_free(it);
  for (int i = 0; i < 3; i++)
    meter_record_free(r[i]);
  stop(f);
}

/* Records the sandbox settles at once: the answer carries the simulated
 * status, and the outcome follows it. */
static void test_test_modes_settled_at_once(void **state)
{
  (void)state;
  const char *args[] = { "--tackle-send-delay", "0", NULL };
  ifx *f = start(args);
  if (!f)
    skip();
  static const char *modes[] = { "accepted", "rejected", "not-operable" };
  static const meter_outcome want[] = { METER_OUTCOME_ACCEPTED, METER_OUTCOME_REJECTED,
                                        METER_OUTCOME_REJECTED };
  meter_record *r[3];
  for (int i = 0; i < 3; i++) {
    char cust[32];
    snprintf(cust, sizeof cust, "cust-now-%d", i);
    r[i] = rec(f, cust, "1", "post");
    meter_record_set(r[i], METER_FIELD_TEST, modes[i]);
  }
  meter_results *res = send_ok(f, r, 3, METER_EREJECTED);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(meter_results_outcome(res, i), want[i]);
    assert_string_equal(meter_results_status(res, i), modes[i]);
    assert_non_null(meter_results_record_id(res, i));
  }
  assert_non_null(meter_results_error_code(res, 1)); /* Tackle's reason */
  meter_results_free(res);
  for (int i = 0; i < 3; i++)
    meter_record_free(r[i]);
  stop(f);
}

static void test_pagination(void **state)
{
  (void)state;
  ifx *f = start(NULL);
  if (!f)
    skip();
  meter_record *r[7];
  for (int i = 0; i < 7; i++) {
    char cust[32];
    snprintf(cust, sizeof cust, "cust-page-%d", i);
    r[i] = rec(f, cust, "1", NULL);
  }
  meter_results *res = send_ok(f, r, 7, METER_OK);
  meter_tackle_list_options o = METER_TACKLE_LIST_OPTIONS_INIT;
  o.page_size = 2;
  const char *products[] = { "prod-1" };
  o.product_ids = products;
  o.product_id_count = 1;
  meter_tackle_list *it;
  assert_int_equal(meter_tackle_list_new(&it, f->c, &o), METER_OK);
  const meter_tackle_record *x;
  int seen[7] = { 0 };
  int n = 0;
  while (meter_tackle_list_next(it, &x) == METER_OK && x) {
    n++;
    for (int i = 0; i < 7; i++)
      if (strcmp(meter_tackle_record_get(x, METER_TACKLE_ID), meter_results_record_id(res, i)) == 0)
        seen[i]++;
  }
  assert_int_equal(n, 7);
  for (int i = 0; i < 7; i++)
    assert_int_equal(seen[i], 1);
  assert_true(meter_tackle_list_pages(it) >= 4);
  meter_tackle_list_free(it);
  /* Filters reach the sandbox: one customer. */
  const char *cust[] = { "cust-page-3" };
  o.product_id_count = 0;
  o.customer_ids = cust;
  o.customer_id_count = 1;
  assert_int_equal(meter_tackle_list_new(&it, f->c, &o), METER_OK);
  n = 0;
  while (meter_tackle_list_next(it, &x) == METER_OK && x) {
    assert_string_equal(meter_tackle_record_get(x, METER_TACKLE_CUSTOMER_ID), "cust-page-3");
    n++;
  }
  assert_int_equal(n, 1);
  meter_tackle_list_free(it);
  meter_results_free(res);
  for (int i = 0; i < 7; i++)
    meter_record_free(r[i]);
  stop(f);
}

static void test_token_expiry_and_refresh(void **state)
{
  (void)state;
  const char *args[] = { "--tackle-token-ttl", "1", NULL };
  ifx *f = start(args);
  if (!f)
    skip();
  meter_record *r = rec(f, "cust-tok", "1", NULL);
  meter_results *res = send_ok(f, &r, 1, METER_OK);
  meter_results_free(res);
  msleep(1200); /* the token has expired: renewed before use */
  res = send_ok(f, &r, 1, METER_OK);
  meter_results_free(res);

  /* The sandbox forgets every token: the cached one is refused (401), the
   * client authenticates again and the send goes through. */
  assert_int_equal(sandbox_request_ok(&f->sp, "POST", "/_sandbox/reset", "{}"), 0);
  res = send_ok(f, &r, 1, METER_OK);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  meter_results_free(res);

  /* A given token is not renewed: once expired, a clear EAUTH. */
  long st;
  char *body = sandbox_request(&f->sp, "POST", "/v1/authenticate",
                               "{\"client_id\":\"sandbox-tackle-id\",\"client_secret\":"
                               "\"sandbox-tackle-secret\",\"grant_type\":\"client_credentials\"}", &st);
  assert_int_equal(st, 200);
  cJSON *tok = cJSON_Parse(body);
  free(body);
  meter_client *given = new_client(f, cJSON_GetStringValue(cJSON_GetObjectItem(tok, "access_token")), NULL);
  cJSON_Delete(tok);
  msleep(1200);
  assert_int_equal(meter_send(given, &r, 1, &res), METER_EAUTH);
  assert_non_null(strstr(meter_results_message(res, 0), "401"));
  meter_results_free(res);
  meter_client_free(given);
  meter_record_free(r);
  stop(f);
}

static void test_unknown_customer(void **state)
{
  (void)state;
  ifx *f = start(NULL);
  if (!f)
    skip();
  meter_record *r[2] = { rec(f, "unknown-9", "1", NULL), rec(f, "cust-known", "1", NULL) };
  meter_results *res = send_ok(f, r, 2, METER_EREJECTED);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_REJECTED);
  assert_string_equal(meter_results_error_code(res, 0), "not_found");
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_ACCEPTED);
  assert_int_equal(ledger_count(f, "cust-known", NULL, NULL), 1);
  meter_results_free(res);
  meter_record_free(r[0]);
  meter_record_free(r[1]);
  stop(f);
}

/* Each fault on each method: the ledger ends with the unit exactly once. */
static void test_faults_each_unit_once(void **state)
{
  (void)state;
  ifx *f = start(NULL);
  if (!f)
    skip();
  static const char *kinds[] = { "error503", "throttle", "drop_after_apply", "reset", "error500" };
  static const char *methods[] = { "put", "post" };
  for (int m = 0; m < 2; m++) {
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
      char fault[160], cust[64];
      snprintf(fault, sizeof fault, "{\"route\":\"tackle.%s\",\"kind\":\"%s\",\"count\":%d}",
               methods[m], kinds[k], strcmp(kinds[k], "error503") == 0 ? 2 : 1);
      assert_int_equal(sandbox_fault(&f->sp, fault), 0);
      snprintf(cust, sizeof cust, "cust-%s-%s", methods[m], kinds[k]);
      meter_record *r[2] = { rec(f, cust, "3", methods[m]), NULL };
      char cust2[80];
      snprintf(cust2, sizeof cust2, "%s-2", cust);
      r[1] = rec(f, cust2, "4", methods[m]);
      meter_results *res = send_ok(f, r, 2, METER_OK);
      for (int i = 0; i < 2; i++) {
        assert_true(meter_outcome_delivered(meter_results_outcome(res, i)));
        assert_non_null(meter_results_record_id(res, i));
      }
      long sum;
      if (ledger_count(f, cust, &sum, methods[m]) != 1 || sum != 3)
        fail_msg("%s %s: ledger holds %d entries (%ld units) for %s", methods[m], kinds[k],
                 ledger_count(f, cust, NULL, NULL), sum, cust);
      assert_int_equal(ledger_count(f, cust2, &sum, methods[m]), 1);
      assert_int_equal(sum, 4);
      assert_int_equal(sandbox_request_ok(&f->sp, "DELETE", "/_sandbox/faults", NULL), 0);
      meter_results_free(res);
      meter_record_free(r[0]);
      meter_record_free(r[1]);
    }
  }
  stop(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(test_put_get_delete, teardown),
    cmocka_unit_test_teardown(test_put_updates_then_conflicts_once_sent, teardown),
    cmocka_unit_test_teardown(test_post_creates_duplicates, teardown),
    cmocka_unit_test_teardown(test_test_modes, teardown),
    cmocka_unit_test_teardown(test_test_modes_settled_at_once, teardown),
    cmocka_unit_test_teardown(test_pagination, teardown),
    cmocka_unit_test_teardown(test_token_expiry_and_refresh, teardown),
    cmocka_unit_test_teardown(test_unknown_customer, teardown),
    cmocka_unit_test_teardown(test_faults_each_unit_once, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
