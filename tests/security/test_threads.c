/* AppDirect: many threads sending on a fresh client need a token at the
 * same moment; exactly one token request goes out and every send uses it
 * (the Tackle and AWS equivalents are in tests/unit/tackle/test_tackle_auth.c
 * and tests/unit/auth/test_aws_credentials.c). Run by the TSan stage. */
#include "test_util.h"

#include "api/client.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define THREADS 8

typedef struct route_transport {
  mtr_transport base;
  atomic_int token_requests;
  atomic_int usage_requests;
  atomic_int bad_auth;
} route_transport;

static int route_send(mtr_transport *base, const mtr_http_request *req, mtr_http_response *resp)
{
  route_transport *t = (route_transport *)base;
  const char *url = mtr_buf_cstr(&req->url);
  resp->net_error = MTR_NET_OK;
  if (strstr(url, "/oauth2/token")) {
    atomic_fetch_add(&t->token_requests, 1);
    usleep(20000); /* a slow token endpoint: the others pile up meanwhile */
    resp->status = 200;
    mtr_headers_add(&resp->headers, "content-type", "application/json");
    mtr_buf_puts(&resp->body, "{\"access_token\":\"tok-threads-1\",\"token_type\":\"bearer\","
                              "\"expires_in\":43199,\"scope\":\"ROLE_APPLICATION\"}");
    return METER_OK;
  }
  atomic_fetch_add(&t->usage_requests, 1);
  const char *auth = mtr_headers_get(&req->headers, "Authorization");
  if (!auth || strcmp(auth, "Bearer tok-threads-1") != 0)
    atomic_fetch_add(&t->bad_auth, 1);
  resp->status = 202;
  mtr_headers_add(&resp->headers, "content-type", "application/json");
  mtr_buf_puts(&resp->body, "{\"requestId\":\"r-1\",\"idempotencyKey\":\"k\","
                            "\"queryUsageStatus\":\"/api/integration/v2/billing/usage/requests/r-1\"}");
  return METER_OK;
}

static void route_destroy(mtr_transport *base)
{
  (void)base;
}

static void *sender(void *arg)
{
  meter_client *c = arg;
  meter_record *r = rec_of("customer", "acct-1", "pricing_unit", "USER", "quantity", "1", NULL);
  meter_results *res = NULL;
  int rc = meter_send(c, &r, 1, &res);
  meter_results_free(res);
  meter_record_free(r);
  return (void *)(intptr_t)rc;
}

static void test_appdirect_threads_share_one_token(void **state)
{
  (void)state;
  route_transport t;
  memset(&t, 0, sizeof t);
  t.base.send = route_send;
  t.base.destroy = route_destroy;
  meter_setting s[] = { { "client_id", "id-1" }, { "client_secret", "secret-threads" } };
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = "appdirect";
  o.endpoint = "https://appdirect.test";
  o.settings = s;
  o.settings_count = 2;
  mtr_client_seams seams = { &t.base, NULL, NULL };
  meter_client *c = NULL;
  assert_int_equal(mtr_client_new_with(&c, &o, &seams, NULL), METER_OK);
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, sender, c), 0);
  for (int i = 0; i < THREADS; i++) {
    void *rc;
    pthread_join(th[i], &rc);
    assert_int_equal((int)(intptr_t)rc, METER_OK);
  }
  assert_int_equal(atomic_load(&t.token_requests), 1);
  assert_int_equal(atomic_load(&t.usage_requests), THREADS);
  assert_int_equal(atomic_load(&t.bad_auth), 0);
  meter_client_free(c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_appdirect_threads_share_one_token),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
