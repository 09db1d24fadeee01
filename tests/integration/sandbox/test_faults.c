/* meter-sandbox fault injection: one test per kind (error500, error503,
 * throttle, slow, reset, drop_after_apply, unprocessed), counts, rates that
 * are deterministic for a seed, --fault flags and the "*" route. */
#include "sbx_client.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sandbox_proc sp;

static int group_setup(void **state)
{
  (void)state;
  sbx_start(&sp, "--threads", "1", NULL);
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  sbx_stop(&sp);
  sbx_stop_others(NULL);
  return 0;
}

/* Stops the extra sandboxes of a test that failed before stopping them. */
static int cleanup(void **state)
{
  (void)state;
  sbx_stop_others(&sp);
  return 0;
}

static int reset(void **state)
{
  (void)state;
  assert_int_equal(sandbox_reset(&sp), 0);
  return 0;
}

static const char *const AUTH_BODY =
  "{\"client_id\":\"sandbox-tackle-id\",\"client_secret\":\"sandbox-tackle-secret\"}";

static long auth(sandbox_proc *p, http_resp *r)
{
  return http_call(p, "POST", "/v1/authenticate", NULL, AUTH_BODY, r);
}

static void fault(const char *json)
{
  assert_int_equal(sandbox_fault(&sp, json), 0);
}

static int ledger_size(const char *market)
{
  cJSON *root;
  int n = cJSON_GetArraySize(ledger_of(&sp, market, &root));
  cJSON_Delete(root);
  return n;
}

static const char *const PUT_BODY =
  "[{\"cloud\":\"aws\",\"product_id\":\"p\",\"customer_id\":\"c\",\"start_time\":"
  "\"2024-01-01T13:00:00Z\",\"dimension\":{\"name\":\"d\",\"quantity\":1}}]";

/* ---- error500 / error503 ------------------------------------------------------------ */

static void test_error500_then_recovers(void **state)
{
  (void)state;
  fault("{\"route\":\"tackle.auth\",\"kind\":\"error500\",\"count\":1}");
  http_resp r;
  assert_int_equal(auth(&sp, &r), 500);
  assert_string_equal(jstr(r.json, "code"), "internal_server_error");
  http_resp_free(&r);
  assert_int_equal(auth(&sp, &r), 200);
  http_resp_free(&r);
}

static void test_error500_aws_format(void **state)
{
  (void)state;
  fault("{\"route\":\"aws.ResolveCustomer\",\"kind\":\"error500\"}");
  http_resp r;
  aws_call(&sp, "ResolveCustomer", "{\"RegistrationToken\":\"sandbox-registration-token\"}",
           NULL, &r);
  assert_int_equal(r.status, 500);
  assert_string_equal(jstr(r.json, "__type"),
                      "com.amazonaws.marketplacemetering#InternalServiceErrorException");
  char h[256];
  assert_int_equal(http_header(&r, "x-amzn-ErrorType", h, sizeof h), 0);
  assert_string_equal(h, "InternalServiceErrorException:http://internal.amazon.com/coral/"
                         "com.amazonaws.marketplacemetering/");
  http_resp_free(&r);
}

static void test_error503(void **state)
{
  (void)state;
  fault("{\"route\":\"appdirect.token\",\"kind\":\"error503\"}");
  fault("{\"route\":\"aws.MeterUsage\",\"kind\":\"error503\"}");
  http_resp r;
  assert_int_equal(http_call(&sp, "POST", "/oauth2/token", NULL, "grant_type=client_credentials",
                             &r),
                   503);
  assert_non_null(jstr(r.json, "code"));
  http_resp_free(&r);
  aws_call(&sp, "MeterUsage", "{}", NULL, &r);
  assert_int_equal(r.status, 503);
  http_resp_free(&r);
}

/* ---- throttle ----------------------------------------------------------------------------- */

static void test_throttle_429_with_retry_after(void **state)
{
  (void)state;
  fault("{\"route\":\"tackle.auth\",\"kind\":\"throttle\",\"retry_after\":7}");
  http_resp r;
  assert_int_equal(auth(&sp, &r), 429);
  char ra[32];
  assert_int_equal(http_header(&r, "Retry-After", ra, sizeof ra), 0);
  assert_string_equal(ra, "7");
  http_resp_free(&r);
  fault("{\"route\":\"appdirect.token\",\"kind\":\"throttle\"}");
  assert_int_equal(http_call(&sp, "POST", "/oauth2/token", NULL, "grant_type=client_credentials",
                             &r),
                   429);
  assert_int_not_equal(http_header(&r, "Retry-After", ra, sizeof ra), 0); /* not given */
  http_resp_free(&r);
}

static void test_throttle_aws_exception(void **state)
{
  (void)state;
  fault("{\"route\":\"aws.BatchMeterUsage\",\"kind\":\"throttle\",\"retry_after\":2}");
  http_resp r;
  aws_call(&sp, "BatchMeterUsage", "{\"UsageRecords\":[]}", NULL, &r);
  assert_int_equal(r.status, 400);
  assert_string_equal(jstr(r.json, "__type"),
                      "com.amazonaws.marketplacemetering#ThrottlingException");
  char h[256];
  assert_int_equal(http_header(&r, "x-amzn-ErrorType", h, sizeof h), 0);
  assert_string_equal(h, "ThrottlingException:http://internal.amazon.com/coral/"
                         "com.amazonaws.marketplacemetering/");
  assert_int_equal(http_header(&r, "Retry-After", h, sizeof h), 0);
  assert_string_equal(h, "2");
  assert_int_equal(http_header(&r, "x-amzn-RequestId", h, sizeof h), 0);
  http_resp_free(&r);
}

/* ---- slow ---------------------------------------------------------------------------------- */

static void test_slow_delays_answer(void **state)
{
  (void)state;
  fault("{\"route\":\"tackle.auth\",\"kind\":\"slow\",\"delay_ms\":400,\"count\":1}");
  http_resp r;
  assert_int_equal(auth(&sp, &r), 200);
  assert_true(r.seconds >= 0.4);
  http_resp_free(&r);
}

static void *slow_request(void *arg)
{
  http_resp *r = arg;
  auth(&sp, r);
  return NULL;
}

static void test_slow_does_not_block_other_connections(void **state)
{
  (void)state;
  /* one worker thread (--threads 1): a delayed answer must not hold it */
  fault("{\"route\":\"tackle.auth\",\"kind\":\"slow\",\"delay_ms\":3000,\"count\":1}");
  http_resp slow, quick;
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, slow_request, &slow), 0);
  for (int i = 0;; i++) { /* wait until the slow request is in (its fault fired) */
    assert_true(i < 1000);
    if (i)
      usleep(5000);
    http_resp f;
    assert_int_equal(http_call(&sp, "GET", "/_sandbox/faults", NULL, NULL, &f), 200);
    int left = cJSON_GetArraySize(jget(f.json, "faults"));
    http_resp_free(&f);
    if (left == 0)
      break;
  }
  assert_int_equal(http_call(&sp, "GET", "/_sandbox/ledger", NULL, NULL, &quick), 200);
  assert_true(quick.seconds < 1.5);
  http_resp_free(&quick);
  pthread_join(th, NULL);
  assert_int_equal(slow.status, 200);
  assert_true(slow.seconds >= 3.0);
  http_resp_free(&slow);
}

/* ---- reset / drop_after_apply ----------------------------------------------------------------- */

static void test_reset_before_apply(void **state)
{
  (void)state;
  char tok[256];
  tackle_token(&sp, tok, sizeof tok);
  fault("{\"route\":\"tackle.put\",\"kind\":\"reset\",\"count\":1}");
  http_resp r;
  assert_int_equal(tackle_call(&sp, tok, "PUT", "/v1/metering/usage-records", PUT_BODY, &r), 0);
  assert_true(r.curl_code == CURLE_RECV_ERROR || r.curl_code == CURLE_GOT_NOTHING ||
              r.curl_code == CURLE_SEND_ERROR);
  http_resp_free(&r);
  assert_int_equal(ledger_size("tackle"), 0); /* not applied */
  assert_int_equal(tackle_call(&sp, tok, "PUT", "/v1/metering/usage-records", PUT_BODY, &r), 200);
  http_resp_free(&r);
  assert_int_equal(ledger_size("tackle"), 1);
}

static void test_drop_after_apply(void **state)
{
  (void)state;
  char tok[256];
  tackle_token(&sp, tok, sizeof tok);
  fault("{\"route\":\"tackle.post\",\"kind\":\"drop_after_apply\",\"count\":1}");
  http_resp r;
  assert_int_equal(tackle_call(&sp, tok, "POST", "/v1/metering/usage-records", PUT_BODY, &r), 0);
  assert_int_equal(r.curl_code, CURLE_GOT_NOTHING); /* "Empty reply from server" */
  assert_string_equal(r.body, "");
  http_resp_free(&r);
  assert_int_equal(ledger_size("tackle"), 1); /* applied all the same */
}

static void test_drop_after_apply_aws_replay(void **state)
{
  (void)state;
  fault("{\"route\":\"aws.MeterUsage\",\"kind\":\"drop_after_apply\",\"count\":1}");
  char b[256];
  snprintf(b, sizeof b,
           "{\"ProductCode\":\"p\",\"Timestamp\":%lld,\"UsageDimension\":\"d\",\"UsageQuantity\":"
           "2,\"ClientToken\":\"t-1\"}",
           sbx_hour_s(&sp) - 3600);
  http_resp r;
  assert_int_equal(aws_call(&sp, "MeterUsage", b, NULL, &r), 0);
  assert_int_equal(r.curl_code, CURLE_GOT_NOTHING);
  http_resp_free(&r);
  assert_int_equal(ledger_size("aws"), 1);
  assert_int_equal(aws_call(&sp, "MeterUsage", b, NULL, &r), 200); /* the retry */
  cJSON *root;
  cJSON *l = ledger_of(&sp, "aws", &root);
  assert_int_equal(cJSON_GetArraySize(l), 1);
  assert_string_equal(jstr(l, "0.record_id"), jstr(r.json, "MeteringRecordId"));
  cJSON_Delete(root);
  http_resp_free(&r);
}

/* ---- unprocessed ------------------------------------------------------------------------------ */

static void test_unprocessed_records(void **state)
{
  (void)state;
  fault("{\"route\":\"aws.BatchMeterUsage\",\"kind\":\"unprocessed\",\"count\":1}");
  long long h = sbx_hour_s(&sp) - 3600;
  char b[1024];
  snprintf(b, sizeof b,
           "{\"ProductCode\":\"p\",\"UsageRecords\":["
           "{\"Timestamp\":%lld,\"CustomerIdentifier\":\"c0\",\"Dimension\":\"d\",\"Quantity\":1},"
           "{\"Timestamp\":%lld,\"CustomerIdentifier\":\"c1\",\"Dimension\":\"d\",\"Quantity\":1},"
           "{\"Timestamp\":%lld,\"CustomerIdentifier\":\"c2\",\"Dimension\":\"d\",\"Quantity\":1}]}",
           h, h, h);
  http_resp r;
  assert_int_equal(aws_call(&sp, "BatchMeterUsage", b, NULL, &r), 200);
  assert_int_equal(cJSON_GetArraySize(jget(r.json, "Results")), 1);
  assert_string_equal(jstr(r.json, "Results.0.UsageRecord.CustomerIdentifier"), "c1");
  assert_int_equal(cJSON_GetArraySize(jget(r.json, "UnprocessedRecords")), 2);
  assert_string_equal(jstr(r.json, "UnprocessedRecords.0.CustomerIdentifier"), "c0");
  assert_string_equal(jstr(r.json, "UnprocessedRecords.1.CustomerIdentifier"), "c2");
  http_resp_free(&r);
  assert_int_equal(ledger_size("aws"), 1); /* unprocessed ones not applied */
  assert_int_equal(aws_call(&sp, "BatchMeterUsage", b, NULL, &r), 200); /* resend all */
  assert_int_equal(cJSON_GetArraySize(jget(r.json, "Results")), 3);
  http_resp_free(&r);
  assert_int_equal(ledger_size("aws"), 3);
}

static void test_unprocessed_only_for_batch(void **state)
{
  (void)state;
  assert_int_not_equal(sandbox_fault(&sp, "{\"route\":\"tackle.put\",\"kind\":\"unprocessed\"}"),
                       0);
}

/* ---- count, rate, seed, flags, "*" ------------------------------------------------------------ */

static void test_count_limits_hits(void **state)
{
  (void)state;
  fault("{\"route\":\"tackle.auth\",\"kind\":\"error500\",\"count\":3}");
  int failures = 0;
  for (int i = 0; i < 6; i++) {
    http_resp r;
    if (auth(&sp, &r) == 500)
      failures++;
    http_resp_free(&r);
  }
  assert_int_equal(failures, 3);
}

/* 40 requests against a fresh sandbox with a 50% fault: "x" for a fault. */
static void pattern_for_seed(const char *seed, char out[41])
{
  sandbox_proc p;
  sbx_start(&p, "--seed", seed, "--fault", "tackle.auth:error503:0.5", NULL);
  for (int i = 0; i < 40; i++) {
    http_resp r;
    long st = auth(&p, &r);
    assert_true(st == 200 || st == 503);
    out[i] = st == 503 ? 'x' : '.';
    http_resp_free(&r);
  }
  out[40] = '\0';
  sbx_stop(&p);
}

static void test_rate_is_deterministic_per_seed(void **state)
{
  (void)state;
  char a[41], b[41], c[41];
  pattern_for_seed("7", a);
  pattern_for_seed("7", b);
  pattern_for_seed("8", c);
  assert_string_equal(a, b);
  assert_string_not_equal(a, c);
  int hits = 0;
  for (int i = 0; i < 40; i++)
    hits += a[i] == 'x';
  assert_true(hits > 5 && hits < 35); /* a rate, not all or nothing */
}

static void test_fault_flag_with_param(void **state)
{
  (void)state;
  sandbox_proc p;
  sbx_start(&p, "--fault", "tackle.auth:throttle:1:9", NULL);
  http_resp r;
  assert_int_equal(auth(&p, &r), 429);
  char ra[16];
  assert_int_equal(http_header(&r, "Retry-After", ra, sizeof ra), 0);
  assert_string_equal(ra, "9");
  http_resp_free(&r);
  sbx_stop(&p);
}

static void test_star_route_hits_every_marketplace(void **state)
{
  (void)state;
  fault("{\"route\":\"*\",\"kind\":\"error503\"}");
  http_resp r;
  assert_int_equal(auth(&sp, &r), 503);
  http_resp_free(&r);
  aws_call(&sp, "ResolveCustomer", "{}", NULL, &r);
  assert_int_equal(r.status, 503);
  http_resp_free(&r);
  assert_int_equal(http_call(&sp, "GET", "/_sandbox/ledger", NULL, NULL, &r), 200); /* control */
  http_resp_free(&r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, reset, cleanup)
    T(test_error500_then_recovers),
    T(test_error500_aws_format),
    T(test_error503),
    T(test_throttle_429_with_retry_after),
    T(test_throttle_aws_exception),
    T(test_slow_delays_answer),
    T(test_slow_does_not_block_other_connections),
    T(test_reset_before_apply),
    T(test_drop_after_apply),
    T(test_drop_after_apply_aws_replay),
    T(test_unprocessed_records),
    T(test_unprocessed_only_for_batch),
    T(test_count_limits_hits),
    T(test_rate_is_deterministic_per_seed),
    T(test_fault_flag_with_param),
    T(test_star_route_hits_every_marketplace),
#undef T
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
