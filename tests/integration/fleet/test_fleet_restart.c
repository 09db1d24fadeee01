/* PostgreSQL restarted under a running fleet: two replicas (two spools on
 * one URL, each with its own background sender) submit from several threads
 * while the server is stopped (fast shutdown: every session is cut) and
 * started again. Replica A has a local fallback: its submits never fail,
 * records wait locally and are forwarded. Replica B has none: its submits
 * fail with METER_ESTORE naming the server, and the caller submits again
 * with the same key, as documented. Nobody reconnects by hand. At the end
 * nothing acknowledged is lost and nothing is sent twice: the ledger equals
 * the acknowledged submissions, one report per bucket (one event per record
 * for AppDirect, whose senders are busy during the outage). */
#include "test_util.h"

#include "core/timefmt.h"
#include "meter/reliable.h"
#include "pg_proc.h"
#include "sandbox_proc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define THREADS 3
#define MAX_RECORDS 4000
#define CUSTOMERS 10

static sandbox_proc sbx;
static pg_proc pg;
static char dir[256];
static int64_t usage_hour;

typedef struct market {
  const char *name;
  int aggregated;
} market;

static const market aws = { "aws", 1 }, appdirect = { "appdirect", 0 };

static int64_t now_us(void)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void sleep_ms(int ms)
{
  struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
  nanosleep(&ts, NULL);
}

static meter_client *client_for(const market *m)
{
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  meter_setting s[3];
  size_t n = 0;
  if (m->aggregated) {
    s[n++] = (meter_setting){ "region", "us-east-1" };
    s[n++] = (meter_setting){ "access_key_id", "AKIDSANDBOXEXAMPLE" };
    s[n++] = (meter_setting){ "secret_access_key", "sandbox+secret/KEY/EXAMPLE" };
  } else {
    s[n++] = (meter_setting){ "client_id", "sandbox-appdirect-id" };
    s[n++] = (meter_setting){ "client_secret", "sandbox-appdirect-secret" };
  }
  o.backend = m->name;
  o.endpoint = sbx.url;
  o.settings = s;
  o.settings_count = n;
  o.backoff_base_ms = 5;
  o.backoff_max_ms = 100;
  o.deadline_ms = 3000;
  o.retry_budget = -1;
  meter_client *c = NULL;
  meter_error e;
  assert_int_equal(meter_client_new(&c, &o, &e), METER_OK);
  return c;
}

typedef struct replica {
  const market *m;
  int id;
  meter_client *c;
  meter_spool *sp;
  atomic_int acked[THREADS][MAX_RECORDS];
  atomic_int submitted[THREADS];
  atomic_int refused;          /* submits that failed with METER_ESTORE */
  char refusal[METER_ERROR_MESSAGE_SIZE];
  atomic_int other_error;
} replica;

typedef struct worker {
  replica *r;
  int t;
} worker;

static atomic_int stop_submitting;

static int quantity_of(int i) { return 1 + i % 4; }

static meter_record *record_of(const replica *r, int t, int i)
{
  char key[64], cust[32], qty[8];
  snprintf(key, sizeof key, "restart-%s-r%d-t%d-i%d", r->m->name, r->id, t, i);
  snprintf(cust, sizeof cust, "cust-%02d", (i + t) % CUSTOMERS);
  snprintf(qty, sizeof qty, "%d", quantity_of(i));
  meter_record *rec = r->m->aggregated
                        ? rec_of("product", "prod-sandbox", "customer", cust, "dimension", "users",
                                 "quantity", qty, NULL)
                        : rec_of("account", cust, "pricing_unit", "USER", "quantity", qty, NULL);
  assert_int_equal(meter_record_set(rec, METER_FIELD_IDEMPOTENCY_KEY, key), METER_OK);
  assert_int_equal(meter_record_set_time_us(rec, usage_hour + (int64_t)(i % 3000) * 1000000), METER_OK);
  return rec;
}

/* Submits until told to stop; a refused submit is tried again, same key. */
static void *submitter(void *arg)
{
  worker *w = arg;
  replica *r = w->r;
  for (int i = 0; i < MAX_RECORDS && !atomic_load(&stop_submitting); i++) {
    for (;;) {
      meter_record *rec = record_of(r, w->t, i);
      meter_error e;
      int rc = meter_submit(r->sp, rec, &e);
      meter_record_free(rec);
      if (rc == METER_OK) {
        atomic_store(&r->acked[w->t][i], 1);
        atomic_store(&r->submitted[w->t], i + 1);
        break;
      }
      if (rc == METER_ESTORE) {
        if (atomic_fetch_add(&r->refused, 1) == 0)
          snprintf(r->refusal, sizeof r->refusal, "%s", e.message);
        sleep_ms(20);
        continue;
      }
      fprintf(stderr, "replica %d: meter_submit: %s\n", r->id, e.message);
      atomic_fetch_add(&r->other_error, 1);
      return NULL;
    }
    sleep_ms(2);
  }
  return NULL;
}

static void open_replica(replica *r, const market *m, int id, const char *url, int fallback)
{
  memset(r, 0, sizeof *r);
  r->m = m;
  r->id = id;
  r->c = client_for(m);
  meter_spool_options o = METER_SPOOL_OPTIONS_INIT;
  char fb[320];
  snprintf(fb, sizeof fb, "%s/%s-fallback-%d.db", dir, m->name, id);
  o.path = url;
  o.fallback_path = fallback ? fb : NULL;
  o.aggregation_grace_ms = 24L * 3600 * 1000;
  o.backoff_base_ms = 20;
  o.backoff_max_ms = 200;
  o.poll_interval_ms = 50;
  o.lease_ms = 4000;
  meter_error e;
  if (meter_spool_open(&r->sp, r->c, &o, &e) != METER_OK)
    fail_msg("meter_spool_open: %s", e.message);
}

static void restart_market(const market *m)
{
  assert_int_equal(sandbox_reset(&sbx), 0);
  char body[160];
  snprintf(body, sizeof body, "{\"route\":\"%s\",\"kind\":\"drop_after_apply\",\"rate\":0.1}",
           m->aggregated ? "aws.BatchMeterUsage" : "appdirect.usage");
  assert_int_equal(sandbox_fault(&sbx, body), 0);
  char url[400];
  snprintf(url, sizeof url, "%s?spool=restart", pg.conninfo);
  static replica rs[2];
  open_replica(&rs[0], m, 0, url, 1);
  open_replica(&rs[1], m, 1, url, 0);
  atomic_store(&stop_submitting, 0);
  worker w[2][THREADS];
  pthread_t th[2][THREADS];
  for (int k = 0; k < 2; k++)
    for (int t = 0; t < THREADS; t++) {
      w[k][t] = (worker){ &rs[k], t };
      pthread_create(&th[k][t], NULL, submitter, &w[k][t]);
    }

  /* The outage, while everyone submits (and AppDirect's senders send). */
  sleep_ms(200);
  int before = atomic_load(&rs[0].submitted[0]) + atomic_load(&rs[1].submitted[0]);
  assert_int_equal(pg_halt(&pg), 0);
  sleep_ms(700);
  int during_a = atomic_load(&rs[0].submitted[0]);
  assert_int_equal(pg_resume(&pg), 0);
  int64_t back = now_us();
  /* Until B's submits get through again by themselves. */
  int b_at_resume = atomic_load(&rs[1].submitted[0]);
  while (atomic_load(&rs[1].submitted[0]) < b_at_resume + 20 && now_us() - back < 30000000)
    sleep_ms(10);
  atomic_store(&stop_submitting, 1);
  for (int k = 0; k < 2; k++)
    for (int t = 0; t < THREADS; t++)
      pthread_join(th[k][t], NULL);

  assert_int_equal(atomic_load(&rs[0].other_error) + atomic_load(&rs[1].other_error), 0);
  /* A never refused (the fallback took the records); B was told plainly. */
  assert_int_equal(atomic_load(&rs[0].refused), 0);
  assert_true(atomic_load(&rs[1].refused) > 0);
  assert_non_null(strstr(rs[1].refusal, "PostgreSQL"));
  char server[64];
  snprintf(server, sizeof server, "127.0.0.1:%d", pg.port);
  if (!strstr(rs[1].refusal, server))
    fail_msg("the refusal does not name the server %s: %s", server, rs[1].refusal);

  /* Everything goes out; the hours too. */
  for (int k = 0; k < 2; k++) {
    int rc = meter_flush(rs[k].sp, 60000, METER_FLUSH_OPEN_HOURS);
    char why[256] = "";
    meter_spool_last_error(rs[k].sp, why, sizeof why);
    if (rc != METER_OK)
      fail_msg("replica %d: flush: %s (%s)", k, meter_status_name(rc), why);
  }
  meter_spool_stats st = METER_SPOOL_STATS_INIT;
  assert_int_equal(meter_spool_stats_get(rs[0].sp, &st), METER_OK);

  int64_t want[CUSTOMERS] = { 0 }, total = 0;
  int records = 0, buckets = 0;
  for (int k = 0; k < 2; k++)
    for (int t = 0; t < THREADS; t++)
      for (int i = 0; i < MAX_RECORDS; i++)
        if (atomic_load(&rs[k].acked[t][i])) {
          want[(i + t) % CUSTOMERS] += quantity_of(i);
          total += quantity_of(i);
          records++;
        }
  for (int c = 0; c < CUSTOMERS; c++)
    buckets += want[c] > 0;
  int64_t got[CUSTOMERS] = { 0 }, got_total = 0;
  int entries[CUSTOMERS] = { 0 }, nentries = 0;
  cJSON *l = sandbox_ledger(&sbx);
  const cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(l, m->name))
  {
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(e, "quantity");
    int64_t qty = cJSON_IsString(q) ? atoll(q->valuestring) : (int64_t)cJSON_GetNumberValue(q);
    const char *who = cJSON_GetStringValue(
      cJSON_GetObjectItemCaseSensitive(e, m->aggregated ? "customer" : "account"));
    int c = who && strncmp(who, "cust-", 5) == 0 ? atoi(who + 5) : -1;
    assert_true(c >= 0 && c < CUSTOMERS);
    got[c] += qty;
    entries[c]++;
    got_total += qty;
    nentries++;
  }
  cJSON_Delete(l);
  printf("%s: %d records acknowledged (%d before the outage, A stored %d in its fallback's "
         "time, B refused %d times: \"%s\"); ledger %lld units in %d entries (submitted %lld); "
         "spool: %llu delivered, %llu dead, %llu waiting\n",
         m->name, records, before, during_a, atomic_load(&rs[1].refused), rs[1].refusal,
         (long long)got_total, nentries, (long long)total, (unsigned long long)st.delivered,
         (unsigned long long)st.dead, (unsigned long long)st.records_waiting);
  fflush(stdout);
  assert_int_equal(st.dead, 0);
  assert_int_equal(st.records_waiting, 0);
  assert_int_equal(got_total, total);
  for (int c = 0; c < CUSTOMERS; c++)
    assert_int_equal(got[c], want[c]);
  if (m->aggregated) {
    for (int c = 0; c < CUSTOMERS; c++)
      assert_int_equal(entries[c], want[c] > 0);
  } else {
    assert_int_equal(nentries, records);
  }
  (void)buckets;
  for (int k = 0; k < 2; k++) {
    assert_int_equal(meter_close(rs[k].sp, 1000, 0), METER_OK);
    meter_client_free(rs[k].c);
  }
}

static void test_restart_aws(void **state)
{
  (void)state;
  restart_market(&aws);
}

static void test_restart_appdirect(void **state)
{
  (void)state;
  restart_market(&appdirect);
}

static int setup(void **state)
{
  (void)state;
  if (pg_start(&pg) != 0 || sandbox_start(&sbx, NULL) != 0)
    return -1;
  snprintf(dir, sizeof dir, "%s/fleet-restart-XXXXXX", P_tmpdir);
  if (!mkdtemp(dir))
    return -1;
  usage_hour = mtr_time_hour_floor(now_us()) - 2 * MTR_US_PER_HOUR;
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  sandbox_stop(&sbx);
  pg_stop(&pg);
  char cmd[400];
  if (strstr(dir, "/fleet-restart-")) {
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    if (system(cmd) != 0)
      fprintf(stderr, "could not remove %s\n", dir);
  }
  return 0;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_restart_aws),
    cmocka_unit_test(test_restart_appdirect),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
