/* The fleet test: several replicas of a service share one PostgreSQL spool,
 * submit overlapping usage, and are SIGKILLed at random while meter-sandbox
 * injects faults; at the end the marketplace holds exactly what was
 * submitted, each hour bucket reported once.
 *
 * For each marketplace (AWS BatchMeterUsage and Tackle PUT, summed per
 * customer, dimension and hour; AppDirect, one event per record):
 *   - FLEET_PROCS replica processes, each with FLEET_THREADS submitting
 *     threads and its own background sender, submit FLEET_RECORDS records per
 *     thread for 50 customers across 3 closed hours (inside the windows).
 *     Every replica's records land in every bucket: only the shared store
 *     can sum them into one report.
 *   - The parent kills replicas at random (SIGKILL: mid-submit, mid-request,
 *     between the answer and its recording) and restarts them; a restarted
 *     replica first resubmits what its predecessor had not seen acknowledged
 *     (same keys), then goes on.
 *   - Once every record is acknowledged, the replicas flush the (closed)
 *     hours: they seal, claim concurrently and send, and are killed at random
 *     again. A batch left by a killed replica is taken over by the others
 *     when its lease (FLEET_LEASE_MS) expires, with the same keys.
 *   - The survivors' flushes end when nothing is left; then the ledger must
 *     equal the submitted sums per bucket, with one entry per bucket (one per
 *     record for AppDirect), and the spool must hold no dead letter.
 * The sandbox injects error503, throttle and drop_after_apply (the request
 * takes effect, the answer is lost) on the write route.
 *
 * Tuning (environment): FLEET_PROCS (4), FLEET_THREADS (3), FLEET_RECORDS
 * (30), FLEET_KILLS (kills per phase, 3), FLEET_LEASE_MS (4000), FLEET_SEED,
 * FLEET_MARKETS ("aws,tackle,appdirect"). fleet_repeat.sh runs a heavier
 * variant many times. */
#include "test_util.h"

#include "core/timefmt.h"
#include "meter/reliable.h"
#include "pg_proc.h"
#include "sandbox_proc.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 16
#define MAX_THREADS 8
#define MAX_RECORDS 1000
#define CUSTOMERS 50
#define HOURS 3

enum { NOT_TRIED = 0, SUBMITTING = 1, STORED = 2 };

typedef struct shared {
  atomic_int state[MAX_PROCS][MAX_THREADS][MAX_RECORDS];
  atomic_int sealing;       /* phase 2: every record is acknowledged; flush the hours */
  atomic_int in_flush[MAX_PROCS];
} shared;

typedef struct market {
  const char *name;
  const char *route;
  int aggregated;
} market;

static const market markets[] = {
  { "aws", "aws.BatchMeterUsage", 1 },
  { "tackle", "tackle.put", 1 },
  { "appdirect", "appdirect.usage", 0 },
};

typedef struct config {
  int procs, threads, records, kills, lease_ms;
  unsigned seed;
  char markets[64];
} config;

static config cfg;
static sandbox_proc sbx;
static pg_proc pg;
static shared *sh;
static int64_t first_hour; /* the oldest of the HOURS closed hours */
static char url[400];

static int env_int(const char *name, int dflt, int lo, int hi)
{
  const char *v = getenv(name);
  int n = v && *v ? atoi(v) : dflt;
  return n < lo ? lo : n > hi ? hi : n;
}

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

/* ---- what is submitted ------------------------------------------------------ */

static int quantity_of(int i) { return 1 + i % 5; }

/* Every replica and thread spreads its records over all buckets. */
static int customer_of(int p, int t, int i) { return (i * 7 + t * 13 + p * 17) % CUSTOMERS; }
static int hour_of(int p, int t, int i) { return (i / 7 + t + p) % HOURS; }

static meter_record *record_of(const market *m, int p, int t, int i)
{
  char key[64], cust[32], qty[16];
  snprintf(key, sizeof key, "fleet-%s-p%d-t%d-i%d", m->name, p, t, i);
  snprintf(cust, sizeof cust, "cust-%02d", customer_of(p, t, i));
  snprintf(qty, sizeof qty, "%d", quantity_of(i));
  meter_record *r;
  if (strcmp(m->name, "appdirect") == 0)
    r = rec_of("account", cust, "pricing_unit", "USER", "quantity", qty, NULL);
  else if (strcmp(m->name, "aws") == 0)
    r = rec_of("product", "prod-sandbox", "customer", cust, "dimension", "users", "quantity", qty,
               NULL);
  else
    r = rec_of("product", "prod-1", "customer", cust, "dimension", "users", "quantity", qty, NULL);
  int64_t t_us = first_hour + (int64_t)hour_of(p, t, i) * MTR_US_PER_HOUR +
                 (int64_t)(i % 3000) * 1000000;
  if (!r || meter_record_set(r, METER_FIELD_IDEMPOTENCY_KEY, key) != METER_OK ||
      meter_record_set_time_us(r, t_us) != METER_OK) {
    meter_record_free(r);
    return NULL;
  }
  return r;
}

static meter_client *client_for(const market *m)
{
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  meter_setting s[4];
  size_t n = 0;
  if (strcmp(m->name, "aws") == 0) {
    s[n++] = (meter_setting){ "region", "us-east-1" };
    s[n++] = (meter_setting){ "access_key_id", "AKIDSANDBOXEXAMPLE" };
    s[n++] = (meter_setting){ "secret_access_key", "sandbox+secret/KEY/EXAMPLE" };
  } else if (strcmp(m->name, "tackle") == 0) {
    s[n++] = (meter_setting){ "client_id", "sandbox-tackle-id" };
    s[n++] = (meter_setting){ "client_secret", "sandbox-tackle-secret" };
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
  o.request_timeout_ms = 2000;
  o.deadline_ms = 3000;
  o.retry_budget = -1;
  meter_client *c = NULL;
  meter_error e;
  if (meter_client_new(&c, &o, &e) != METER_OK) {
    fprintf(stderr, "meter_client_new(%s): %s\n", m->name, e.message);
    return NULL;
  }
  return c;
}

static meter_spool *spool_for(meter_client *c)
{
  meter_spool_options o = METER_SPOOL_OPTIONS_INIT;
  o.path = url;
  /* Hours are sealed by the flushes of phase 2 only. */
  o.aggregation_grace_ms = 24L * 3600 * 1000;
  o.backoff_base_ms = 10;
  o.backoff_max_ms = 200;
  o.poll_interval_ms = 50;
  o.lease_ms = cfg.lease_ms;
  meter_spool *sp = NULL;
  meter_error e;
  if (meter_spool_open(&sp, c, &o, &e) != METER_OK) {
    fprintf(stderr, "meter_spool_open: %s\n", e.message);
    return NULL;
  }
  return sp;
}

/* ---- a replica ---------------------------------------------------------------- */

static int submit_one(meter_spool *sp, const market *m, int p, int t, int i)
{
  meter_record *r = record_of(m, p, t, i);
  if (!r)
    return -1;
  atomic_store(&sh->state[p][t][i], SUBMITTING);
  meter_error e;
  int rc = meter_submit(sp, r, &e);
  meter_record_free(r);
  if (rc != METER_OK) {
    fprintf(stderr, "meter_submit: %s\n", e.message);
    return -1;
  }
  atomic_store(&sh->state[p][t][i], STORED);
  return 0;
}

typedef struct worker {
  meter_spool *sp;
  const market *m;
  int p, t, failed;
} worker;

/* A thread's share: what its predecessors had not stored, in order (a
 * record in SUBMITTING was being submitted when a kill struck: again, with
 * the same key). */
static void *work(void *arg)
{
  worker *w = arg;
  for (int i = 0; i < cfg.records && !w->failed; i++) {
    if (atomic_load(&sh->state[w->p][w->t][i]) == STORED)
      continue;
    w->failed = submit_one(w->sp, w->m, w->p, w->t, i) != 0;
    if (i % 2 == 1)
      sleep_ms(1); /* spread the submits, so kills land among them */
  }
  return NULL;
}

static void replica(const market *m, int p)
{
  meter_client *c = client_for(m);
  meter_spool *sp = c ? spool_for(c) : NULL;
  if (!sp)
    _exit(2);
  worker w[MAX_THREADS];
  pthread_t th[MAX_THREADS];
  for (int t = 0; t < cfg.threads; t++) {
    w[t] = (worker){ sp, m, p, t, 0 };
    pthread_create(&th[t], NULL, work, &w[t]);
  }
  int failed = 0;
  for (int t = 0; t < cfg.threads; t++) {
    pthread_join(th[t], NULL);
    failed |= w[t].failed;
  }
  if (failed)
    _exit(4);
  /* Meanwhile the background sender delivers what needs no hour (AppDirect).
   * The hours are flushed once the whole fleet has submitted. */
  while (!atomic_load(&sh->sealing))
    sleep_ms(5);
  atomic_store(&sh->in_flush[p], 1);
  int rc = meter_flush(sp, 90000, METER_FLUSH_OPEN_HOURS);
  if (rc != METER_OK) {
    char why[256] = "";
    meter_spool_last_error(sp, why, sizeof why);
    fprintf(stderr, "replica %d: flush: %s (%s)\n", p, meter_status_name(rc), why);
  }
  meter_close(sp, 1000, 0);
  meter_client_free(c);
  _exit(rc == METER_OK ? 0 : 5);
}

/* ---- the ledger ------------------------------------------------------------------ */

/* Per bucket (customer, hour) or per account: sum and entries. */
typedef struct tally {
  int64_t sum[CUSTOMERS][HOURS];
  int entries[CUSTOMERS][HOURS];
  int64_t total;
  int nentries;
} tally;

static int hour_index(const char *rfc3339)
{
  int64_t t;
  if (!rfc3339 || mtr_time_parse(rfc3339, &t) != 0)
    return -1;
  int64_t h = (t - first_hour) / MTR_US_PER_HOUR;
  return h >= 0 && h < HOURS ? (int)h : -1;
}

static void ledger_tally(const market *m, tally *out)
{
  memset(out, 0, sizeof *out);
  cJSON *l = sandbox_ledger(&sbx);
  assert_non_null(l);
  const cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(l, m->name))
  {
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(e, "quantity");
    int64_t qty = cJSON_IsString(q) ? atoll(q->valuestring) : (int64_t)cJSON_GetNumberValue(q);
    const cJSON *who = cJSON_GetObjectItemCaseSensitive(e, m->aggregated ? "customer" : "account");
    int cust = cJSON_IsString(who) && strncmp(who->valuestring, "cust-", 5) == 0
                 ? atoi(who->valuestring + 5) : -1;
    int h = m->aggregated
              ? hour_index(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "hour")))
              : 0;
    out->total += qty;
    out->nentries++;
    if (cust >= 0 && cust < CUSTOMERS && h >= 0) {
      out->sum[cust][h] += qty;
      out->entries[cust][h]++;
    } else {
      fail_msg("%s: an unexpected ledger entry: %s", m->name, cJSON_PrintUnformatted(e));
    }
  }
  cJSON_Delete(l);
}

static void faults_on(const market *m)
{
  const char *kinds[] = { "error503", "throttle", "drop_after_apply" };
  const double rates[] = { 0.15, 0.1, 0.15 };
  for (int k = 0; k < 3; k++) {
    char body[256];
    snprintf(body, sizeof body, "{\"route\":\"%s\",\"kind\":\"%s\",\"rate\":%.2f}", m->route,
             kinds[k], rates[k]);
    assert_int_equal(sandbox_fault(&sbx, body), 0);
  }
}

static int all_stored(void)
{
  for (int p = 0; p < cfg.procs; p++)
    for (int t = 0; t < cfg.threads; t++)
      for (int i = 0; i < cfg.records; i++)
        if (atomic_load(&sh->state[p][t][i]) != STORED)
          return 0;
  return 1;
}

/* ---- the test ---------------------------------------------------------------------- */

static void fleet_market(const market *m)
{
  assert_int_equal(sandbox_reset(&sbx), 0);
  memset(sh, 0, sizeof *sh);
  faults_on(m);
  snprintf(url, sizeof url, "%s?spool=fleet-test", pg.conninfo);

  pid_t pid[MAX_PROCS] = { 0 };
  int done[MAX_PROCS] = { 0 }, started = 0;
  int kills[2] = { 0, 0 }, kills_in_flush = 0;
  int64_t t0 = now_us(), next_kill = t0 + 5000 + (int64_t)(rand_r(&cfg.seed) % 60) * 1000;
  int64_t limit = t0 + INT64_C(240) * 1000000;
  for (;;) {
    int phase = atomic_load(&sh->sealing);
    int finished = 1;
    for (int p = 0; p < cfg.procs; p++) {
      if (done[p])
        continue;
      finished = 0;
      if (pid[p] > 0) {
        int st;
        if (waitpid(pid[p], &st, WNOHANG) == pid[p]) {
          pid[p] = 0;
          if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            done[p] = 1;
          else if (!WIFSIGNALED(st)) {
            for (int k = 0; k < cfg.procs; k++)
              if (pid[k] > 0) {
                kill(pid[k], SIGKILL);
                waitpid(pid[k], NULL, 0);
              }
            fail_msg("%s: replica %d failed (exit %d)", m->name, p, WEXITSTATUS(st));
          }
        }
      }
      if (!done[p] && pid[p] == 0) {
        /* (Re)start it: it goes on where its predecessor stopped. */
        atomic_store(&sh->in_flush[p], 0);
        pid_t c = fork();
        assert_true(c >= 0);
        if (c == 0)
          replica(m, p);
        pid[p] = c;
        started++;
      }
    }
    if (finished)
      break;
    if (!phase && all_stored()) {
      atomic_store(&sh->sealing, 1);
      /* Kills of phase 2 fall early in the flushes, when requests fly. */
      next_kill = now_us() + 5000 + (int64_t)(rand_r(&cfg.seed) % 60) * 1000;
    }
    int64_t now = now_us();
    if (kills[phase] < cfg.kills && now >= next_kill) {
      int p = (int)(rand_r(&cfg.seed) % (unsigned)cfg.procs);
      if (pid[p] > 0 && !done[p]) {
        kills_in_flush += atomic_load(&sh->in_flush[p]);
        kill(pid[p], SIGKILL);
        kills[phase]++;
      }
      next_kill = now + 5000 + (int64_t)(rand_r(&cfg.seed) % (phase ? 100u : 60u)) * 1000;
    }
    if (now > limit) {
      for (int p = 0; p < cfg.procs; p++)
        if (pid[p] > 0) {
          kill(pid[p], SIGKILL);
          waitpid(pid[p], NULL, 0);
        }
      fail_msg("%s: the fleet did not finish in 240 s", m->name);
    }
    sleep_ms(2);
  }
  double took = (double)(now_us() - t0) / 1e6;

  /* What every replica stored, per bucket. */
  assert_true(all_stored());
  tally want;
  memset(&want, 0, sizeof want);
  for (int p = 0; p < cfg.procs; p++)
    for (int t = 0; t < cfg.threads; t++)
      for (int i = 0; i < cfg.records; i++) {
        int c = customer_of(p, t, i), h = m->aggregated ? hour_of(p, t, i) : 0;
        want.sum[c][h] += quantity_of(i);
        want.entries[c][h]++;
        want.total += quantity_of(i);
      }

  /* Nothing left, nothing dead: opened for inspection. */
  meter_spool_options o = METER_SPOOL_OPTIONS_INIT;
  o.path = url;
  char inspect[460];
  snprintf(inspect, sizeof inspect, "%s&backend=%s", url, m->name);
  o.path = inspect;
  meter_spool *sp;
  meter_error e;
  assert_int_equal(meter_spool_open(&sp, NULL, &o, &e), METER_OK);
  meter_spool_stats st = METER_SPOOL_STATS_INIT;
  assert_int_equal(meter_spool_stats_get(sp, &st), METER_OK);
  meter_close(sp, 0, 0);

  tally got;
  ledger_tally(m, &got);
  int buckets = 0;
  for (int c = 0; c < CUSTOMERS; c++)
    for (int h = 0; h < HOURS; h++)
      buckets += want.entries[c][h] > 0;
  printf("%s: %d replicas x %d threads x %d records, %d started, %d killed while submitting, "
         "%d while flushing (%d mid-flush); %d buckets; ledger %lld units in %d entries "
         "(submitted %lld); spool: %llu delivered, %llu dead, %llu waiting; %.1f s\n",
         m->name, cfg.procs, cfg.threads, cfg.records, started, kills[0], kills[1],
         kills_in_flush, m->aggregated ? buckets : cfg.procs * cfg.threads * cfg.records,
         (long long)got.total, got.nentries, (long long)want.total,
         (unsigned long long)st.delivered, (unsigned long long)st.dead,
         (unsigned long long)st.records_waiting, took);
  fflush(stdout);
  assert_int_equal(st.dead, 0);
  assert_int_equal(st.records_waiting, 0);
  assert_int_equal(got.total, want.total);
  for (int c = 0; c < CUSTOMERS; c++)
    for (int h = 0; h < HOURS; h++) {
      if (got.sum[c][h] != want.sum[c][h])
        fail_msg("%s: cust-%02d hour %d: ledger %lld, submitted %lld", m->name, c, h,
                 (long long)got.sum[c][h], (long long)want.sum[c][h]);
      /* Aggregated: one report per bucket. AppDirect: one event per record. */
      int expect = m->aggregated ? want.entries[c][h] > 0 : want.entries[c][h];
      if (got.entries[c][h] != expect)
        fail_msg("%s: cust-%02d hour %d: %d ledger entries, expected %d", m->name, c, h,
                 got.entries[c][h], expect);
    }
}

static int wanted(const market *m)
{
  return strstr(cfg.markets, m->name) != NULL;
}

static void test_fleet_aws(void **state)
{
  (void)state;
  if (!wanted(&markets[0]))
    skip();
  fleet_market(&markets[0]);
}

static void test_fleet_tackle(void **state)
{
  (void)state;
  if (!wanted(&markets[1]))
    skip();
  fleet_market(&markets[1]);
}

static void test_fleet_appdirect(void **state)
{
  (void)state;
  if (!wanted(&markets[2]))
    skip();
  fleet_market(&markets[2]);
}

static int setup(void **state)
{
  (void)state;
  cfg.procs = env_int("FLEET_PROCS", 4, 1, MAX_PROCS);
  cfg.threads = env_int("FLEET_THREADS", 3, 1, MAX_THREADS);
  cfg.records = env_int("FLEET_RECORDS", 30, 1, MAX_RECORDS);
  cfg.kills = env_int("FLEET_KILLS", 3, 0, 1000);
  cfg.lease_ms = env_int("FLEET_LEASE_MS", 4000, 100, 600000);
  cfg.seed = (unsigned)env_int("FLEET_SEED", (int)(now_us() % 1000000), 0, 2000000000);
  const char *mk = getenv("FLEET_MARKETS");
  snprintf(cfg.markets, sizeof cfg.markets, "%s", mk && *mk ? mk : "aws,tackle,appdirect");
  printf("fleet test: seed %u, %d replicas x %d threads x %d records, %d kills per phase, "
         "lease %d ms\n", cfg.seed, cfg.procs, cfg.threads, cfg.records, cfg.kills,
         cfg.lease_ms);
  fflush(stdout);
  if (pg_start(&pg) != 0)
    return -1;
  /* Tackle forwards records to the marketplace after a delay, then refuses
   * a PUT (409); a slow test machine must not turn a resend into that. */
  const char *args[] = { "--tackle-send-delay", "3600000", NULL };
  if (sandbox_start(&sbx, args) != 0)
    return -1;
  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED)
    return -1;
  /* Three closed hours, the newest two hours ago: inside AWS's 24 h and
   * Tackle's 6 h windows. */
  first_hour = mtr_time_hour_floor(now_us()) - 4 * MTR_US_PER_HOUR;
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  sandbox_stop(&sbx);
  pg_stop(&pg);
  if (sh && sh != MAP_FAILED)
    munmap(sh, sizeof *sh);
  return 0;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fleet_aws),
    cmocka_unit_test(test_fleet_tackle),
    cmocka_unit_test(test_fleet_appdirect),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
