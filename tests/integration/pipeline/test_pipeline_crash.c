/* The crash test: exactly-once delivery through kill -9, against the real
 * back ends and meter-sandbox with faults (error503, throttle,
 * drop_after_apply) on the marketplace's write route.
 *
 * For each marketplace (AWS BatchMeterUsage, Tackle PUT, AppDirect) a
 * series of child processes works on one spool. Each child, like a service
 * restarted after a crash:
 *   A. resubmits what an earlier process was submitting when it died (same
 *      idempotency keys: a record already stored is not stored twice);
 *   B. submits its own records from several threads;
 *   C. closes the spool, flushing everything (hours included).
 * The parent SIGKILLs each child at a random moment (any of A, B, C: before
 * a commit, between commit and send, while a request is in flight, between
 * the answer and its recording). Finally the parent itself does A and C.
 * Then the sandbox's ledger must hold exactly the submitted totals.
 *
 * The children record in shared memory which records they were about to
 * submit (1) and which submissions returned (2): the program's own
 * "acknowledged" bookkeeping, as a real service would keep it.
 *
 * Tuning (environment): PIPELINE_CRASH_ROUNDS (children per marketplace,
 * default 4), PIPELINE_CRASH_THREADS (4), PIPELINE_CRASH_RECORDS (per thread
 * and round, 30), PIPELINE_CRASH_MAX_KILL_MS (first kill window, 300), PIPELINE_CRASH_SEED,
 * PIPELINE_CRASH_MARKETS ("aws,tackle,appdirect"). crash_repeat.sh runs a
 * heavier variant many times. */
#include "test_util.h"

#include "core/timefmt.h"
#include "meter/reliable.h"
#include "sandbox_proc.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 64
#define MAX_THREADS 16
#define MAX_RECORDS 2000

enum { NOT_TRIED = 0, SUBMITTING = 1, STORED = 2 };

typedef struct shared {
  atomic_int state[MAX_ROUNDS + 1][MAX_THREADS][MAX_RECORDS];
  atomic_llong closing_at[MAX_ROUNDS + 1];  /* when the child started C (µs) */
} shared;

typedef struct market {
  const char *name;       /* back end */
  const char *route;      /* its write route, for faults */
  int aggregated;         /* summed per hour: records go to a closed hour */
} market;

static const market markets[] = {
  { "aws", "aws.BatchMeterUsage", 1 },
  { "tackle", "tackle.put", 1 },
  { "appdirect", "appdirect.usage", 0 },
};

typedef struct config {
  int rounds, threads, records, max_kill_ms;
  unsigned seed;
  char markets[64];
} config;

static config cfg;
static sandbox_proc sbx;
static shared *sh;
static char dir[256];
static int64_t usage_hour; /* a closed hour, inside every window */

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

/* ---- what is submitted --------------------------------------------------- */

static int quantity_of(int i) { return 1 + i % 5; }

static meter_record *record_of(const market *m, int round, int thread, int i)
{
  char key[64], cust[32], qty[16];
  snprintf(key, sizeof key, "crash-%s-r%d-t%d-i%d", m->name, round, thread, i);
  /* Aggregates are per round and customer: a round never adds to an hour an
   * earlier round's close has already sealed. */
  snprintf(cust, sizeof cust, "cust-r%d-%d", round, thread % 2);
  snprintf(qty, sizeof qty, "%d", quantity_of(i));
  meter_record *r;
  if (strcmp(m->name, "appdirect") == 0)
    r = rec_of("account", cust, "pricing_unit", "USER", "quantity", qty, NULL);
  else if (strcmp(m->name, "aws") == 0)
    r = rec_of("product", "prod-sandbox", "customer", cust, "dimension", "users", "quantity", qty,
               NULL);
  else
    r = rec_of("product", "prod-1", "customer", cust, "dimension", "users", "quantity", qty, NULL);
  if (!r || meter_record_set(r, METER_FIELD_IDEMPOTENCY_KEY, key) != METER_OK ||
      meter_record_set_time_us(r, usage_hour + (int64_t)(i % 600) * 1000000) != METER_OK) {
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
  o.request_timeout_ms = 5000;
  o.deadline_ms = 10000;
  o.retry_budget = -1;
  meter_client *c = NULL;
  meter_error e;
  if (meter_client_new(&c, &o, &e) != METER_OK) {
    fprintf(stderr, "meter_client_new(%s): %s\n", m->name, e.message);
    return NULL;
  }
  return c;
}

static meter_spool *spool_for(meter_client *c, const market *m)
{
  char path[320];
  snprintf(path, sizeof path, "%s/%s.spool", dir, m->name);
  meter_spool_options o = METER_SPOOL_OPTIONS_INIT;
  o.path = path;
  o.durability = METER_SPOOL_SYNC_FULL;
  /* Hours are sealed by the close (C) only, never while B still adds. */
  o.aggregation_grace_ms = 24L * 3600 * 1000;
  o.backoff_base_ms = 10;
  o.backoff_max_ms = 200;
  o.poll_interval_ms = 50;
  meter_spool *sp = NULL;
  meter_error e;
  if (meter_spool_open(&sp, c, &o, &e) != METER_OK) {
    fprintf(stderr, "meter_spool_open(%s): %s\n", m->name, e.message);
    return NULL;
  }
  return sp;
}

/* ---- one process's work --------------------------------------------------- */

static int submit_one(meter_spool *sp, const market *m, int round, int thread, int i)
{
  meter_record *r = record_of(m, round, thread, i);
  if (!r)
    return -1;
  atomic_store(&sh->state[round][thread][i], SUBMITTING);
  meter_error e;
  int rc = meter_submit(sp, r, &e);
  meter_record_free(r);
  if (rc != METER_OK) {
    fprintf(stderr, "meter_submit: %s\n", e.message);
    return -1;
  }
  atomic_store(&sh->state[round][thread][i], STORED);
  return 0;
}

/* A: what an earlier process was submitting when it died. */
static int resubmit_unacknowledged(meter_spool *sp, const market *m, int upto_round)
{
  for (int r = 0; r <= upto_round; r++)
    for (int t = 0; t < cfg.threads; t++)
      for (int i = 0; i < cfg.records; i++)
        if (atomic_load(&sh->state[r][t][i]) == SUBMITTING && submit_one(sp, m, r, t, i) != 0)
          return -1;
  return 0;
}

typedef struct worker {
  meter_spool *sp;
  const market *m;
  int round, thread, failed;
} worker;

static void *work(void *p)
{
  worker *w = p;
  for (int i = 0; i < cfg.records && !w->failed; i++) {
    w->failed = submit_one(w->sp, w->m, w->round, w->thread, i) != 0;
    if (i % 8 == 7) {
      struct timespec ts = { 0, 1000000L }; /* spread the submits over the round */
      nanosleep(&ts, NULL);
    }
  }
  return NULL;
}

/* A child: A, B, C. Exit status 0 if everything it did succeeded. */
static void child(const market *m, int round)
{
  meter_client *c = client_for(m);
  meter_spool *sp = c ? spool_for(c, m) : NULL;
  if (!sp)
    _exit(2);
  if (resubmit_unacknowledged(sp, m, round - 1) != 0)
    _exit(3);
  worker w[MAX_THREADS];
  pthread_t th[MAX_THREADS];
  for (int t = 0; t < cfg.threads; t++) {
    w[t] = (worker){ sp, m, round, t, 0 };
    pthread_create(&th[t], NULL, work, &w[t]);
  }
  int failed = 0;
  for (int t = 0; t < cfg.threads; t++) {
    pthread_join(th[t], NULL);
    failed |= w[t].failed;
  }
  atomic_store(&sh->closing_at[round], (long long)now_us());
  int rc = meter_close(sp, 30000, METER_FLUSH_OPEN_HOURS);
  meter_client_free(c);
  _exit(failed ? 4 : rc == METER_OK ? 0 : 5);
}

/* ---- the ledger ------------------------------------------------------------ */

static int64_t ledger_total(const market *m, int *entries)
{
  cJSON *l = sandbox_ledger(&sbx);
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(l, m->name);
  int64_t total = 0;
  *entries = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, arr)
  {
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(e, "quantity");
    if (cJSON_IsString(q))
      total += atoll(q->valuestring);
    else if (cJSON_IsNumber(q))
      total += (int64_t)q->valuedouble;
    (*entries)++;
  }
  cJSON_Delete(l);
  return total;
}

static void faults_on(const market *m)
{
  char body[256];
  const char *kinds[] = { "error503", "throttle", "drop_after_apply", "slow" };
  const double rates[] = { 0.15, 0.1, 0.15, 0.3 };
  for (int k = 0; k < 4; k++) {
    snprintf(body, sizeof body,
             "{\"route\":\"%s\",\"kind\":\"%s\",\"rate\":%.2f,\"delay_ms\":80}", m->route,
             kinds[k], rates[k]);
    assert_int_equal(sandbox_fault(&sbx, body), 0);
  }
}

/* Where the last kill struck, read from the spool it left behind. */
typedef struct coverage {
  int in_flight;    /* a request was in flight (its batch is recovered) */
  int unsent;       /* records stored but not sent yet */
  int submitting;   /* a submit had not returned */
} coverage;

static void inspect_after_kill(const market *m, int round, coverage *cv)
{
  char path[320];
  snprintf(path, sizeof path, "%s/%s.spool", dir, m->name);
  meter_spool_options o = METER_SPOOL_OPTIONS_INIT;
  o.path = path;
  meter_spool *sp;
  meter_error e;
  if (access(path, F_OK) == 0 && meter_spool_open(&sp, NULL, &o, &e) == METER_OK) {
    meter_spool_stats st = METER_SPOOL_STATS_INIT;
    if (meter_spool_stats_get(sp, &st) == METER_OK) {
      cv->in_flight += st.sending > 0;
      cv->unsent += st.open + st.pending > 0;
    }
    meter_close(sp, 0, 0);
  }
  for (int t = 0; t < cfg.threads; t++)
    for (int i = 0; i < cfg.records; i++)
      if (atomic_load(&sh->state[round][t][i]) == SUBMITTING) {
        cv->submitting++;
        return;
      }
}

/* ---- the test ---------------------------------------------------------------- */

static void crash_market(const market *m)
{
  assert_int_equal(sandbox_reset(&sbx), 0);
  memset(sh, 0, sizeof *sh);
  faults_on(m);
  int kills = 0, clean = 0;
  coverage cv = { 0, 0, 0 };
  /* Even rounds: the kill falls at a random moment of the child's life (the
   * window shrinks to the lifetime of a child that finished first). Odd
   * rounds: at a random moment of its closing flush, when requests are in
   * flight (aggregated hours are only sent then). */
  int window_ms = cfg.max_kill_ms, close_window_ms = 60;
  for (int round = 0; round < cfg.rounds; round++) {
    int at_close = round % 2 == 1;
    int64_t born = now_us();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
      child(m, round);
    int delay_ms = 1 + (int)(rand_r(&cfg.seed) % (unsigned)(at_close ? close_window_ms : window_ms));
    int status = 0;
    int64_t until = at_close ? INT64_MAX : born + (int64_t)delay_ms * 1000;
    pid_t done = 0;
    while (!done && now_us() < until) {
      done = waitpid(pid, &status, WNOHANG);
      if (!done) {
        struct timespec ts = { 0, 500000L };
        nanosleep(&ts, NULL);
      }
      long long closing = atomic_load(&sh->closing_at[round]);
      if (at_close && closing && until == INT64_MAX)
        until = closing + (int64_t)delay_ms * 1000;
    }
    if (!done) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      kills++;
      inspect_after_kill(m, round, &cv);
    } else {
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s round %d: the child failed (status %d)", m->name, round, status);
      clean++;
      int lived = (int)((now_us() - born) / 1000);
      long long closing = atomic_load(&sh->closing_at[round]);
      if (at_close && closing) {
        int closed = (int)((now_us() - closing) / 1000);
        close_window_ms = closed > 2 ? closed : 2;
      } else if (!at_close) {
        window_ms = lived > 2 ? lived : 2;
      }
    }
  }

  /* The last restart: this process finishes the job. */
  meter_client *c = client_for(m);
  assert_non_null(c);
  meter_spool *sp = spool_for(c, m);
  assert_non_null(sp);
  assert_int_equal(resubmit_unacknowledged(sp, m, cfg.rounds - 1), 0);
  int rc = meter_flush(sp, 120000, METER_FLUSH_OPEN_HOURS);
  char why[256] = "";
  meter_spool_last_error(sp, why, sizeof why);
  if (rc != METER_OK)
    fail_msg("%s: final flush: %s (%s)", m->name, meter_status_name(rc), why);
  meter_spool_stats st = METER_SPOOL_STATS_INIT;
  assert_int_equal(meter_spool_stats_get(sp, &st), METER_OK);
  assert_int_equal(meter_close(sp, 1000, 0), METER_OK);
  meter_client_free(c);

  int64_t expected = 0, stored = 0;
  for (int r = 0; r < cfg.rounds; r++)
    for (int t = 0; t < cfg.threads; t++)
      for (int i = 0; i < cfg.records; i++) {
        int s = atomic_load(&sh->state[r][t][i]);
        assert_true(s != SUBMITTING);
        if (s == STORED) {
          expected += quantity_of(i);
          stored++;
        }
      }
  int entries;
  int64_t total = ledger_total(m, &entries);
  printf("%s: %d children (%d killed: %d mid-request, %d with records unsent, %d mid-submit; "
         "%d finished), %lld records stored, %lld units; ledger %lld units in %d entries; "
         "spool: %llu delivered entries, %llu dead, %llu waiting\n",
         m->name, cfg.rounds, kills, cv.in_flight, cv.unsent, cv.submitting, clean,
         (long long)stored, (long long)expected, (long long)total, entries,
         (unsigned long long)st.delivered, (unsigned long long)st.dead,
         (unsigned long long)st.records_waiting);
  fflush(stdout);
  assert_int_equal(st.dead, 0);
  assert_int_equal(st.records_waiting, 0);
  assert_true(expected > 0);
  assert_int_equal(total, expected);
}

static int wanted(const market *m)
{
  return strstr(cfg.markets, m->name) != NULL;
}

static void test_crash_aws(void **state)
{
  (void)state;
  if (!wanted(&markets[0]))
    skip();
  crash_market(&markets[0]);
}

static void test_crash_tackle(void **state)
{
  (void)state;
  if (!wanted(&markets[1]))
    skip();
  crash_market(&markets[1]);
}

static void test_crash_appdirect(void **state)
{
  (void)state;
  if (!wanted(&markets[2]))
    skip();
  crash_market(&markets[2]);
}

static int setup(void **state)
{
  (void)state;
  cfg.rounds = env_int("PIPELINE_CRASH_ROUNDS", 4, 1, MAX_ROUNDS);
  cfg.threads = env_int("PIPELINE_CRASH_THREADS", 4, 1, MAX_THREADS);
  cfg.records = env_int("PIPELINE_CRASH_RECORDS", 30, 1, MAX_RECORDS);
  cfg.max_kill_ms = env_int("PIPELINE_CRASH_MAX_KILL_MS", 300, 1, 600000);
  cfg.seed = (unsigned)env_int("PIPELINE_CRASH_SEED", (int)(now_us() % 1000000), 0, 2000000000);
  const char *mk = getenv("PIPELINE_CRASH_MARKETS");
  snprintf(cfg.markets, sizeof cfg.markets, "%s", mk && *mk ? mk : "aws,tackle,appdirect");
  printf("crash test: seed %u, %d rounds, %d threads x %d records, kill within %d ms\n", cfg.seed,
         cfg.rounds, cfg.threads, cfg.records, cfg.max_kill_ms);
  fflush(stdout);

  /* Tackle sends a record to the marketplace 10 s after it is created by
   * default; a PUT after that is a 409. Resends here come within that time
   * in production too (seconds), but a slow test machine must not turn a
   * resend into a conflict: the sandbox holds records for an hour. */
  const char *args[] = { "--tackle-send-delay", "3600000", NULL };
  if (sandbox_start(&sbx, args) != 0)
    return -1;
  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED)
    return -1;
  snprintf(dir, sizeof dir, "%s/pipeline-crash-XXXXXX", P_tmpdir);
  if (!mkdtemp(dir))
    return -1;
  /* Two hours ago, at the start of the hour: closed, and inside the windows
   * of AWS (24 h) and Tackle (6 h). */
  usage_hour = mtr_time_hour_floor(now_us()) - 2 * MTR_US_PER_HOUR;
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  sandbox_stop(&sbx);
  if (sh && sh != MAP_FAILED)
    munmap(sh, sizeof *sh);
  /* The spools stay for inspection only when a test failed; remove ours. */
  char cmd[400];
  if (strstr(dir, "/pipeline-crash-")) {
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    if (system(cmd) != 0)
      fprintf(stderr, "could not remove %s\n", dir);
  }
  return 0;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_crash_aws),
    cmocka_unit_test(test_crash_tackle),
    cmocka_unit_test(test_crash_appdirect),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
