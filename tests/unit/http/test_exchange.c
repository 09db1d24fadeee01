/* The retry loop against a scripted transport and a fake clock. */
#include "test_util.h"

#include "core/error.h"
#include "fake_clock.h"
#include "fake_transport.h"
#include "http/exchange.h"

#include <string.h>

typedef struct ctx {
  const char *key;         /* idempotency key carried in every attempt */
  int builds;
  int gave_up;
  int gave_up_status;
  char why[256];
  int refresh_on_401;
  int refreshed;
  int partial_left;        /* answer PARTIAL this many times */
  int not_idempotent;
} ctx;

static int build(void *p, mtr_http_request *req, unsigned attempt, meter_error *err)
{
  (void)err;
  ctx *c = p;
  c->builds++;
  req->method = "POST";
  mtr_buf_puts(&req->url, "https://marketplace.invalid/usage");
  mtr_buf_printf(&req->body, "{\"idempotencyKey\":\"%s\"}", c->key);
  char sig[32];
  snprintf(sig, sizeof sig, "sig-%u", attempt); /* re-signed each attempt */
  mtr_headers_set(&req->headers, "x-signature", sig);
  return METER_OK;
}

static mtr_verdict handle(void *p, const mtr_http_response *resp, meter_error *err)
{
  ctx *c = p;
  if (resp->status == 401 && c->refresh_on_401 && !c->refreshed) {
    c->refreshed = 1;
    return MTR_REFRESH;
  }
  if (resp->status == 401) {
    mtr_error_set(err, METER_EAUTH, "refused");
    return MTR_DONE;
  }
  if (resp->status == 200 && c->partial_left > 0) {
    c->partial_left--;
    return MTR_PARTIAL;
  }
  mtr_verdict v = mtr_classify_http_status(resp->status);
  if (v == MTR_DONE && resp->status >= 400)
    mtr_error_set(err, METER_EREJECTED, "HTTP %ld", resp->status);
  return v;
}

static void give_up(void *p, int status, const char *why, const mtr_http_response *last)
{
  (void)last;
  ctx *c = p;
  c->gave_up++;
  c->gave_up_status = status;
  snprintf(c->why, sizeof c->why, "%s", why);
}

static int retry_ambiguous(void *p, const mtr_http_response *resp)
{
  (void)resp;
  return !((ctx *)p)->not_idempotent;
}

static const mtr_exchange_ops ops = { "test call", build, handle, give_up, retry_ambiguous };

typedef struct fixture {
  fake_transport t;
  fake_clock fc;
  mtr_logger log;
  mtr_retry_budget budget;
  mtr_env env;
} fixture;

static int setup(void **state)
{
  fixture *f = calloc(1, sizeof *f);
  fake_transport_init(&f->t);
  fake_clock_init(&f->fc, INT64_C(1704067200000000));
  mtr_logger_init(&f->log, NULL, NULL, 0);
  mtr_budget_init(&f->budget, MTR_BUDGET_CAPACITY);
  f->env.transport = &f->t.base;
  f->env.hooks = &f->fc.hooks;
  f->env.log = &f->log;
  f->env.budget = &f->budget;
  f->env.request_timeout_ms = 30000;
  mtr_retry_policy_default(&f->env.policy);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  fixture *f = *state;
  fake_transport_dispose(&f->t);
  mtr_logger_dispose(&f->log);
  mtr_budget_dispose(&f->budget);
  free(f);
  return 0;
}

static void test_success_first_time(void **state)
{
  fixture *f = *state;
  ctx c = { .key = "k-1" };
  fake_push(&f->t, 200, NULL, "{}");
  mtr_exchange_result r;
  assert_int_equal(mtr_exchange(&f->env, &ops, &c, &r, NULL), METER_OK);
  assert_int_equal(r.attempts, 1);
  assert_int_equal(f->fc.nsleeps, 0);
  assert_int_equal(c.gave_up, 0);
}

static void test_same_key_every_attempt_fresh_signature(void **state)
{
  fixture *f = *state;
  ctx c = { .key = "key-123" };
  fake_push(&f->t, 503, NULL, NULL);
  fake_push_net(&f->t, MTR_NET_RESET, 1);
  fake_push(&f->t, 500, NULL, NULL);
  fake_push(&f->t, 200, NULL, "{}");
  mtr_exchange_result r;
  assert_int_equal(mtr_exchange(&f->env, &ops, &c, &r, NULL), METER_OK);
  assert_int_equal(r.attempts, 4);
  assert_int_equal(f->t.nsent, 4);
  for (size_t i = 0; i < 4; i++) {
    assert_string_equal(f->t.sent[i].body, "{\"idempotencyKey\":\"key-123\"}");
    char want[16];
    snprintf(want, sizeof want, "sig-%zu", i + 1);
    assert_string_equal(fake_sent_header(&f->t, i, "x-signature"), want);
  }
  assert_int_equal(f->fc.nsleeps, 3);
  /* Success after retries refunded the tokens they cost. */
  assert_int_equal(mtr_budget_tokens(&f->budget), MTR_BUDGET_CAPACITY);
}

static void test_gives_up_after_max_attempts(void **state)
{
  fixture *f = *state;
  ctx c = { .key = "k" };
  for (int i = 0; i < 10; i++)
    fake_push(&f->t, 503, NULL, NULL);
  mtr_exchange_result r;
  meter_error err;
  assert_int_equal(mtr_exchange(&f->env, &ops, &c, &r, &err), METER_EUNDELIVERED);
  assert_int_equal(r.attempts, 5);
  assert_int_equal(c.gave_up, 1);
  assert_non_null(strstr(c.why, "gave up after 5 attempts"));
  assert_non_null(strstr(c.why, "HTTP 503"));
  assert_int_equal(r.last_http_status, 503);
}

static void test_throttling_honours_retry_after(void **state)
{
  fixture *f = *state;
  ctx c = { .key = "k" };
  fake_push(&f->t, 429, "Retry-After: 7\n", NULL);
  fake_push(&f->t, 200, NULL, "{}");
  assert_int_equal(mtr_exchange(&f->env, &ops, &c, NULL, NULL), METER_OK);
  assert_int_equal(f->fc.nsleeps, 1);
  assert_true(f->fc.sleeps[0] == 7000000);
}

static void test_throttled_until_exhausted(void **state)
{
  fixture *f = *state;
  ctx c = { .key = "k" };
  for (int i = 0; i < 5; i++)
    fake_push(&f->t, 429, NULL, NULL);
  assert_int_equal(mtr_exchange(&f->env, &ops, &c, NULL, NULL), METER_ETHROTTLED);
}

static void test_retry_after_beyond_deadline(void **state)
{
  fixture *f = *state;
  ctx c = { .key = "k" };
  f->env.policy.deadline_us = 10 * 1000000;
  fake_push(&f->t, 503, "Retry-After: 3600\n", NULL);
  assert_int_equal(mtr_exchange(&f->env, &ops, &c, NULL, NULL), METER_EUNDELIVERED);
  assert_non_null(strstr(c.why, "deadline"));
  assert_int_equal(f->fc.nsleeps, 0); /* did not sleep an hour to fail */
}

static void test_budget_stops_retry_storm(void **state)
{
  fixture *f = *state;
  /* A marketplace that is down: every call fails. After the budget drains,
   * calls make one attempt each instead of five. */
  f->t.fallback.status = 503;
  unsigned total = 0;
  for (int call = 0; call < 40; call++) {
    ctx c = { .key = "k" };
    mtr_exchange_result r;
    mtr_exchange(&f->env, &ops, &c, &r, NULL);
    total += r.attempts;
  }
  /* 100 retries in the budget + 40 first attempts. */
  assert_int_equal(total, 140);
  ctx c = { .key = "k" };
  mtr_exchange(&f->env, &ops, &c, NULL, NULL);
  assert_non_null(strstr(c.why, "retry budget exhausted"));
  /* Recovery: successes refill the bucket, retries resume. */
  f->t.fallback.status = 200;
  for (int i = 0; i < 10; i++) {
    ctx ok = { .key = "k" };
    assert_int_equal(mtr_exchange(&f->env, &ops, &ok, NULL, NULL), METER_OK);
  }
  assert_int_equal(mtr_budget_tokens(&f->budget), 10);
  f->t.fallback.status = 503;
  fake_push(&f->t, 503, NULL, NULL);
  fake_push(&f->t, 200, NULL, "{}");
  ctx again = { .key = "k" };
  mtr_exchange_result r;
  assert_int_equal(mtr_exchange(&f->env, &ops, &again, &r, NULL), METER_OK);
  assert_int_equal(r.attempts, 2);
}

static void test_refresh_once_then_auth_error(void **state)
{
  fixture *f = *state;
  ctx c = { .key = "k", .refresh_on_401 = 1 };
  fake_push(&f->t, 401, NULL, NULL);
  fake_push(&f->t, 200, NULL, "{}");
  mtr_exchange_result r;
  assert_int_equal(mtr_exchange(&f->env, &ops, &c, &r, NULL), METER_OK);
  assert_int_equal(r.attempts, 2);
  assert_int_equal(f->fc.nsleeps, 0); /* refresh retries at once */

  ctx d = { .key = "k", .refresh_on_401 = 1 };
  fake_push(&f->t, 401, NULL, NULL);
  fake_push(&f->t, 401, NULL, NULL);
  meter_error err;
  assert_int_equal(mtr_exchange(&f->env, &ops, &d, &r, &err), METER_EAUTH);
  assert_int_equal(r.attempts, 2);
}

static void test_rejection_is_not_retried(void **state)
{
  fixture *f = *state;
  ctx c = { .key = "k" };
  fake_push(&f->t, 400, NULL, "{\"code\":\"invalid_body\"}");
  mtr_exchange_result r;
  assert_int_equal(mtr_exchange(&f->env, &ops, &c, &r, NULL), METER_EREJECTED);
  assert_int_equal(r.attempts, 1);
  assert_int_equal(c.gave_up, 0);
}

static void test_partial_rebuilds(void **state)
{
  fixture *f = *state;
  ctx c = { .key = "k", .partial_left = 2 };
  f->t.fallback.status = 200;
  assert_int_equal(mtr_exchange(&f->env, &ops, &c, NULL, NULL), METER_OK);
  assert_int_equal(c.builds, 3);
  assert_int_equal(f->fc.nsleeps, 2);
}

static void test_ambiguous_failure_of_non_idempotent_call(void **state)
{
  fixture *f = *state;
  ctx c = { .key = "k", .not_idempotent = 1 };
  fake_push_net(&f->t, MTR_NET_TIMEOUT, 1);
  fake_push(&f->t, 200, NULL, "{}");
  assert_int_equal(mtr_exchange(&f->env, &ops, &c, NULL, NULL), METER_ETIMEOUT);
  assert_int_equal(f->t.nsent, 1);
  assert_non_null(strstr(c.why, "may have been applied"));
  /* Connection refused means never sent: safe to retry even then. */
  ctx d = { .key = "k", .not_idempotent = 1 };
  fake_reset(&f->t);
  fake_push_net(&f->t, MTR_NET_CONNECT, 0);
  fake_push(&f->t, 200, NULL, "{}");
  assert_int_equal(mtr_exchange(&f->env, &ops, &d, NULL, NULL), METER_OK);
}

static void test_tls_failure_not_retried(void **state)
{
  fixture *f = *state;
  ctx c = { .key = "k" };
  fake_push_net(&f->t, MTR_NET_TLS, 0);
  assert_int_equal(mtr_exchange(&f->env, &ops, &c, NULL, NULL), METER_ETRANSPORT);
  assert_int_equal(f->t.nsent, 1);
  assert_non_null(strstr(c.why, "TLS"));
}

static void test_deadline_caps_request_timeout(void **state)
{
  fixture *f = *state;
  ctx c = { .key = "k" };
  f->env.policy.deadline_us = 2 * 1000000;
  fake_push(&f->t, 200, NULL, "{}");
  mtr_exchange(&f->env, &ops, &c, NULL, NULL);
  assert_true(f->t.sent[0].timeout_ms <= 2000);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_success_first_time, setup, teardown),
    cmocka_unit_test_setup_teardown(test_same_key_every_attempt_fresh_signature, setup, teardown),
    cmocka_unit_test_setup_teardown(test_gives_up_after_max_attempts, setup, teardown),
    cmocka_unit_test_setup_teardown(test_throttling_honours_retry_after, setup, teardown),
    cmocka_unit_test_setup_teardown(test_throttled_until_exhausted, setup, teardown),
    cmocka_unit_test_setup_teardown(test_retry_after_beyond_deadline, setup, teardown),
    cmocka_unit_test_setup_teardown(test_budget_stops_retry_storm, setup, teardown),
    cmocka_unit_test_setup_teardown(test_refresh_once_then_auth_error, setup, teardown),
    cmocka_unit_test_setup_teardown(test_rejection_is_not_retried, setup, teardown),
    cmocka_unit_test_setup_teardown(test_partial_rebuilds, setup, teardown),
    cmocka_unit_test_setup_teardown(test_ambiguous_failure_of_non_idempotent_call, setup, teardown),
    cmocka_unit_test_setup_teardown(test_tls_failure_not_retried, setup, teardown),
    cmocka_unit_test_setup_teardown(test_deadline_caps_request_timeout, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
