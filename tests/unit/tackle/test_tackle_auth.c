/* Tackle tokens: fetched once and cached, renewed before expires_in runs
 * out (10% of the lifetime, at most 5 minutes), one re-authentication on a
 * 401, registered with the logger as secrets, and one fetch however many
 * threads need a token at once. */
#include "tk_fixture.h"

#include "backends/tackle/tackle_internal.h"
#include "core/timefmt.h"

#include <pthread.h>
#include <time.h>

#define T "2024-01-01T13:05:00Z"
#define JSON "Content-Type: application/json\n"
#define SEC MTR_US_PER_SEC

static tk_fx *client(void)
{
  return tk_fx_new("client_id", "id-1", "client_secret", "secret-xyz-1", NULL);
}

static meter_record *rec(void)
{
  return rec_of("product", "p", "customer", "c", "dimension", "d", "quantity", "1", "time", T, NULL);
}

static int send1(tk_fx *f, meter_record *r)
{
  meter_results *res;
  int rc = meter_send(f->c, &r, 1, &res);
  meter_results_free(res);
  return rc;
}

static tk_backend *backend(tk_fx *f)
{
  return (tk_backend *)f->c->backend;
}

static void test_cached_then_renewed_before_expiry(void **state)
{
  (void)state;
  tk_fx *f = client();
  meter_record *r = rec();
  tk_push_token(f, "tok-one-aaaaaa", 100);
  tk_push_echo(f, &r, 1);
  tk_push_echo(f, &r, 1);
  assert_int_equal(send1(f, r), METER_OK);
  fake_clock_advance(&f->fc, 89 * SEC); /* margin 10 s: still good */
  assert_int_equal(send1(f, r), METER_OK);
  assert_int_equal(tk_count_sent(f, "/v1/authenticate"), 1);
  assert_string_equal(fake_sent_header(&f->t, 2, "Authorization"), "Bearer tok-one-aaaaaa");

  fake_clock_advance(&f->fc, 2 * SEC); /* 91 s: within the margin: renew */
  tk_push_token(f, "tok-two-bbbbbb", 100);
  tk_push_echo(f, &r, 1);
  assert_int_equal(send1(f, r), METER_OK);
  assert_int_equal(tk_count_sent(f, "/v1/authenticate"), 2);
  assert_string_equal(f->t.sent[3].url, "https://tackle.test/v1/authenticate");
  assert_string_equal(fake_sent_header(&f->t, 4, "Authorization"), "Bearer tok-two-bbbbbb");
  assert_int_equal(tk_auth_fetches(backend(f)), 2);
  meter_record_free(r);
  tk_fx_free(f);
}

static void test_long_token_renewed_5_minutes_early(void **state)
{
  (void)state;
  tk_fx *f = client();
  meter_record *r = rec();
  tk_push_token(f, "tok-one-aaaaaa", 5400);
  tk_push_echo(f, &r, 1);
  tk_push_echo(f, &r, 1);
  tk_push_token(f, "tok-two-bbbbbb", 5400);
  tk_push_echo(f, &r, 1);
  assert_int_equal(send1(f, r), METER_OK);
  fake_clock_advance(&f->fc, 5099 * SEC);
  assert_int_equal(send1(f, r), METER_OK);
  assert_int_equal(tk_count_sent(f, "/v1/authenticate"), 1);
  fake_clock_advance(&f->fc, 2 * SEC);
  assert_int_equal(send1(f, r), METER_OK);
  assert_int_equal(tk_count_sent(f, "/v1/authenticate"), 2);
  meter_record_free(r);
  tk_fx_free(f);
}

static void test_401_reauthenticates_once(void **state)
{
  (void)state;
  tk_fx *f = client();
  meter_record *r = rec();
  tk_push_token(f, "tok-one-aaaaaa", 5400);
  fake_push(&f->t, 401, JSON, "{\"code\":\"mtm_token_expired\",\"error\":\"Token expired\",\"errors\":[]}");
  tk_push_token(f, "tok-two-bbbbbb", 5400);
  tk_push_echo(f, &r, 1);
  assert_int_equal(send1(f, r), METER_OK);
  assert_int_equal(f->t.nsent, 4);
  assert_string_equal(f->t.sent[2].url, "https://tackle.test/v1/authenticate");
  assert_string_equal(fake_sent_header(&f->t, 3, "Authorization"), "Bearer tok-two-bbbbbb");
  assert_string_equal(f->t.sent[3].body, f->t.sent[1].body);
  assert_int_equal(f->fc.nsleeps, 0); /* no backoff for a refresh */
  meter_record_free(r);
  tk_fx_free(f);
}

static void test_second_401_is_eauth(void **state)
{
  (void)state;
  tk_fx *f = client();
  meter_record *r = rec();
  tk_push_token(f, "tok-one-aaaaaa", 5400);
  fake_push(&f->t, 401, JSON, "{\"code\":\"mtm_token_expired\",\"error\":\"Token expired\",\"errors\":[]}");
  tk_push_token(f, "tok-two-bbbbbb", 5400);
  fake_push(&f->t, 401, JSON,
            "{\"code\":\"invalid_token\",\"error\":\"Unable to validate authentication token. This "
            "token has no vendor associated with it.\",\"errors\":[]}");
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_EAUTH);
  assert_int_equal(f->t.nsent, 4);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
  assert_non_null(strstr(meter_results_message(res, 0), "invalid_token"));
  char msg[256];
  assert_int_equal(meter_client_last_error(f->c, msg, sizeof msg), METER_EAUTH);
  assert_non_null(strstr(msg, "invalid_token"));
  meter_results_free(res);
  meter_record_free(r);
  tk_fx_free(f);
}

static void test_credentials_refused(void **state)
{
  (void)state;
  tk_fx *f = client();
  meter_record *r = rec();
  fake_push(&f->t, 401, JSON,
            "{\"code\":\"unauthorized\",\"error\":\"client_id and client_secret are invalid.\","
            "\"errors\":[]}");
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_EAUTH);
  assert_int_equal(f->t.nsent, 1);
  assert_non_null(strstr(meter_results_message(res, 0), "client_id and client_secret are invalid"));
  meter_results_free(res);
  meter_record_free(r);
  tk_fx_free(f);
}

static void test_token_endpoint_5xx_retried(void **state)
{
  (void)state;
  tk_fx *f = client();
  meter_record *r = rec();
  fake_push(&f->t, 503, NULL, NULL);
  tk_push_token(f, "tok-one-aaaaaa", 5400);
  tk_push_echo(f, &r, 1);
  assert_int_equal(send1(f, r), METER_OK);
  assert_int_equal(tk_count_sent(f, "/v1/authenticate"), 2);
  meter_record_free(r);
  tk_fx_free(f);
}

/* Tokens and the secret never reach the log callback. */
static void test_token_is_a_secret(void **state)
{
  (void)state;
  captured_log_clear();
  tk_fx *f = client();
  meter_record *r = rec();
  tk_push_token(f, "tok-fetched-9f8e7d6c5b", 5400);
  tk_push_echo(f, &r, 1);
  assert_int_equal(send1(f, r), METER_OK);
  mtr_log(&f->c->log, METER_LOG_ERROR, "leak? Bearer tok-fetched-9f8e7d6c5b and secret-xyz-1");
  assert_null(strstr(captured_log(), "tok-fetched-9f8e7d6c5b"));
  assert_null(strstr(captured_log(), "secret-xyz-1"));
  assert_non_null(strstr(captured_log(), "leak?"));
  meter_record_free(r);
  tk_fx_free(f);
}

static void test_config_errors(void **state)
{
  (void)state;
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = "tackle";
  meter_client *c;
  meter_error e;
  assert_int_equal(meter_client_new(&c, &o, &e), METER_ECONFIG);
  assert_non_null(strstr(e.message, "client_id"));
  assert_non_null(strstr(e.message, "access_token"));
  meter_setting s1[] = { { "client_id", "x" } };
  o.settings = s1;
  o.settings_count = 1;
  assert_int_equal(meter_client_new(&c, &o, &e), METER_ECONFIG);
  assert_non_null(strstr(e.message, "client_secret is missing"));
  meter_setting s2[] = { { "access_token", "t-123456" }, { "client_id", "x" } };
  o.settings = s2;
  o.settings_count = 2;
  assert_int_equal(meter_client_new(&c, &o, &e), METER_ECONFIG);
  assert_non_null(strstr(e.message, "not both"));
  meter_setting s3[] = { { "access_token", "t-123456" }, { "method", "patch" } };
  o.settings = s3;
  assert_int_equal(meter_client_new(&c, &o, &e), METER_ECONFIG);
  assert_non_null(strstr(e.message, "method"));
  meter_setting s4[] = { { "access_token", "t-123456" }, { "allow_zero", "maybe" } };
  o.settings = s4;
  assert_int_equal(meter_client_new(&c, &o, &e), METER_ECONFIG);
  assert_non_null(strstr(e.message, "allow_zero"));
}

/* ---- many threads at once ---- */

/* A transport that answers by content, so thread interleaving does not
 * matter: /v1/authenticate -> "tok-N" (after a real delay, to give other
 * threads time to pile up), a PUT with a refused token -> 401, any other
 * PUT -> 200 echoing its records. */
typedef struct smart {
  mtr_transport base;
  pthread_mutex_t lock;
  int auths;
  int puts;
  char refused[64];
} smart;

static int smart_send(mtr_transport *t, const mtr_http_request *req, mtr_http_response *resp)
{
  smart *s = (smart *)t;
  const char *url = mtr_buf_cstr(&req->url);
  if (strstr(url, "/v1/authenticate")) {
    struct timespec ts = { 0, 30 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&s->lock);
    int n = ++s->auths;
    pthread_mutex_unlock(&s->lock);
    resp->status = 200;
    mtr_buf_printf(&resp->body, "{\"access_token\":\"tok-%d-abcdef\",\"token_type\":\"bearer\","
                   "\"expires_in\":3600}", n);
    return METER_OK;
  }
  const char *auth = mtr_headers_get(&req->headers, "Authorization");
  pthread_mutex_lock(&s->lock);
  s->puts++;
  int refuse = auth && s->refused[0] && strstr(auth, s->refused) != NULL;
  pthread_mutex_unlock(&s->lock);
  if (refuse) {
    resp->status = 401;
    mtr_buf_puts(&resp->body, "{\"code\":\"mtm_token_expired\",\"error\":\"Token expired\",\"errors\":[]}");
    return METER_OK;
  }
  cJSON *arr = cJSON_Parse(mtr_buf_cstr(&req->body));
  cJSON *item;
  int i = 0;
  cJSON_ArrayForEach(item, arr)
  {
    char id[16];
    snprintf(id, sizeof id, "id-%d", i++);
    cJSON_AddStringToObject(item, "id", id);
    cJSON_AddStringToObject(item, "status", "idle");
  }
  cJSON *root = cJSON_CreateObject();
  cJSON_AddItemToObject(root, "data", arr);
  char *txt = cJSON_PrintUnformatted(root);
  resp->status = 200;
  mtr_buf_puts(&resp->body, txt);
  free(txt);
  cJSON_Delete(root);
  return METER_OK;
}

static void smart_destroy(mtr_transport *t)
{
  (void)t;
}

typedef struct smart_fx {
  smart s;
  fake_clock fc;
  meter_client *c;
} smart_fx;

static smart_fx *smart_new(void)
{
  smart_fx *f = calloc(1, sizeof *f);
  f->s.base.send = smart_send;
  f->s.base.destroy = smart_destroy;
  pthread_mutex_init(&f->s.lock, NULL);
  fake_clock_init(&f->fc, INT64_C(1704114000000000));
  meter_setting s[] = { { "client_id", "id-1" }, { "client_secret", "secret-xyz-1" } };
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = "tackle";
  o.endpoint = "https://tackle.test";
  o.settings = s;
  o.settings_count = 2;
  mtr_client_seams seams = { &f->s.base, &f->fc.hooks, NULL };
  meter_error e;
  assert_int_equal(mtr_client_new_with(&f->c, &o, &seams, &e), METER_OK);
  return f;
}

static void smart_free(smart_fx *f)
{
  meter_client_free(f->c);
  pthread_mutex_destroy(&f->s.lock);
  free(f);
}

#define THREADS 8

typedef struct job {
  meter_client *c;
  int rc;
} job;

static void *sender(void *p)
{
  job *j = p;
  meter_record *r = rec_of("product", "p", "customer", "c", "dimension", "d", "quantity", "1",
                           "time", T, NULL);
  meter_results *res = NULL;
  j->rc = meter_send(j->c, &r, 1, &res);
  if (j->rc == METER_OK && meter_results_outcome(res, 0) != METER_OUTCOME_ACCEPTED)
    j->rc = -1;
  meter_results_free(res);
  meter_record_free(r);
  return NULL;
}

static void run_threads(meter_client *c)
{
  pthread_t th[THREADS];
  job jobs[THREADS];
  for (int i = 0; i < THREADS; i++) {
    jobs[i].c = c;
    jobs[i].rc = -2;
    assert_int_equal(pthread_create(&th[i], NULL, sender, &jobs[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(jobs[i].rc, METER_OK);
  }
}

static void test_threads_share_one_fetch(void **state)
{
  (void)state;
  smart_fx *f = smart_new();
  run_threads(f->c);
  assert_int_equal(f->s.auths, 1);
  assert_int_equal(f->s.puts, THREADS);
  /* Past the renewal time: again one fetch for everyone. */
  fake_clock_advance(&f->fc, 3600 * SEC);
  run_threads(f->c);
  assert_int_equal(f->s.auths, 2);
  smart_free(f);
}

/* All threads get 401 for the same token: one re-authentication. */
static void test_threads_401_one_refresh(void **state)
{
  (void)state;
  smart_fx *f = smart_new();
  meter_record *r = rec();
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_OK); /* caches tok-1 */
  meter_results_free(res);
  meter_record_free(r);
  strcpy(f->s.refused, "tok-1-");
  run_threads(f->c);
  assert_int_equal(f->s.auths, 2);
  smart_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_cached_then_renewed_before_expiry),
    cmocka_unit_test(test_long_token_renewed_5_minutes_early),
    cmocka_unit_test(test_401_reauthenticates_once),
    cmocka_unit_test(test_second_401_is_eauth),
    cmocka_unit_test(test_credentials_refused),
    cmocka_unit_test(test_token_endpoint_5xx_retried),
    cmocka_unit_test(test_token_is_a_secret),
    cmocka_unit_test(test_config_errors),
    cmocka_unit_test(test_threads_share_one_fetch),
    cmocka_unit_test(test_threads_401_one_refresh),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
