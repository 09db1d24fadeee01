/* One client shared by many threads, sending to meter-sandbox over real
 * HTTP (the curl handle pool, the token / credential cache, the retry
 * budget, the logger), for each marketplace, with transient faults. Run by
 * the ThreadSanitizer stage of scripts/test.sh (label `threads`). Every
 * record is delivered and the ledger holds each exactly once. */
#include "test_util.h"

#include "sbx_clients.h"

#include <pthread.h>

#define THREADS 8
#define PER_THREAD 12

typedef struct work {
  meter_client *c;
  const char *backend;
  const char *prefix;
  int id;
  int failures;
} work;

static void quiet_log(meter_log_level level, const char *message, void *payload)
{
  (void)level;
  (void)message;
  (void)payload;
}

static void *sender(void *arg)
{
  work *w = arg;
  for (int i = 0; i < PER_THREAD; i++) {
    meter_record *r = sbx_record(w->backend, w->prefix, w->id * 1000 + i, 1 + i % 3);
    int delivered = 0;
    for (int tries = 0; tries < 20 && r && !delivered; tries++) {
      meter_results *res = NULL;
      delivered = meter_send(w->c, &r, 1, &res) == METER_OK;
      meter_results_free(res);
    }
    w->failures += !delivered;
    meter_record_free(r);
  }
  return NULL;
}

static void shared_client(const char *backend, const char *route)
{
  sandbox_proc sp;
  assert_int_equal(sandbox_start(&sp, NULL), 0);
  char fault[160];
  snprintf(fault, sizeof fault, "{\"route\":\"%s\",\"kind\":\"error503\",\"rate\":0.1}", route);
  assert_int_equal(sandbox_fault(&sp, fault), 0);
  snprintf(fault, sizeof fault, "{\"route\":\"%s\",\"kind\":\"reset\",\"rate\":0.05}", route);
  assert_int_equal(sandbox_fault(&sp, fault), 0);
  meter_client *c = sbx_client(&sp, backend, quiet_log);
  assert_non_null(c);
  char prefix[64];
  snprintf(prefix, sizeof prefix, "shared-%s", backend);
  pthread_t th[THREADS];
  work w[THREADS];
  for (int t = 0; t < THREADS; t++) {
    w[t] = (work){ c, backend, prefix, t, 0 };
    assert_int_equal(pthread_create(&th[t], NULL, sender, &w[t]), 0);
  }
  int failures = 0;
  long expect_q = 0;
  for (int t = 0; t < THREADS; t++) {
    pthread_join(th[t], NULL);
    failures += w[t].failures;
  }
  for (int i = 0; i < PER_THREAD; i++)
    expect_q += THREADS * (1 + i % 3);
  assert_int_equal(failures, 0);
  long entries;
  double q;
  sbx_ledger_count(&sp, backend, prefix, &entries, &q);
  assert_int_equal(entries, THREADS * PER_THREAD);
  assert_true(q == (double)expect_q);
  meter_client_free(c);
  sandbox_stop(&sp);
}

static void test_tackle_shared_client(void **state)
{
  (void)state;
  shared_client("tackle", "tackle.put");
}

static void test_appdirect_shared_client(void **state)
{
  (void)state;
  shared_client("appdirect", "appdirect.usage");
}

static void test_aws_shared_client(void **state)
{
  (void)state;
  shared_client("aws", "aws.BatchMeterUsage");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tackle_shared_client),
    cmocka_unit_test(test_appdirect_shared_client),
    cmocka_unit_test(test_aws_shared_client),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
