/* fleet_bench: durable submits per second per replica into a PostgreSQL
 * spool (fleet mode). Not a test; see docs/fleet.md, "Sizing".
 *
 *   fleet_bench [--replicas N] [--threads T] [--records R] [--batch B]
 *               [--durability full|process] [--url postgresql://...] [--ingest]
 *
 * Each replica is a process with its own client and spool on one database
 * (no sender: this measures the submit path), T threads each submitting R
 * records (meter_submit, or meter_submit_batch of B), AWS records spread
 * over 50 customers and 3 closed hours. All replicas start together. Without
 * --url a throwaway cluster is started (tests/support/pg_proc.h; fsync is off
 * there, so durability costs the round trips, not the disk). With --ingest,
 * the time to sort everything submitted into hourly aggregates is measured
 * too (meter_spool_list sorts first). Prints one line:
 *
 *   fleet_bench: 4 replicas x 4 threads, 40000 records, batch 1, durability full:
 *   5200 submits/s per replica (min 5100, max 5300), 20800 submits/s in all; ...
 */
#include "pg_proc.h"

#include <meter.h>
#include <meter/reliable.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPLICAS 64
#define MAX_THREADS 64

typedef struct shared {
  atomic_int ready;
  atomic_int go;
  double seconds[MAX_REPLICAS];
  long stored[MAX_REPLICAS];
  int failed[MAX_REPLICAS];
} shared;

static int replicas = 1, threads = 4, records = 5000, batch = 1, durability = 0, ingest = 0;
static const char *url;
static shared *sh;

static double now_s(void)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static meter_record *record_of(int replica, int thread, int i, int64_t first_hour)
{
  meter_record *r = NULL;
  if (meter_record_new(&r) != METER_OK)
    return NULL;
  char key[96], cust[32];
  snprintf(key, sizeof key, "bench-%ld-r%d-t%d-i%d", (long)getppid(), replica, thread, i);
  snprintf(cust, sizeof cust, "cust-%02d", (i + thread) % 50);
  int64_t t = first_hour + (int64_t)(i % 3) * 3600000000LL + (int64_t)(i % 3000) * 1000000;
  if (meter_record_set(r, METER_FIELD_PRODUCT, "prod-bench") != METER_OK ||
      meter_record_set(r, METER_FIELD_CUSTOMER, cust) != METER_OK ||
      meter_record_set(r, METER_FIELD_DIMENSION, "users") != METER_OK ||
      meter_record_set(r, METER_FIELD_QUANTITY, "1") != METER_OK ||
      meter_record_set(r, METER_FIELD_IDEMPOTENCY_KEY, key) != METER_OK ||
      meter_record_set_time_us(r, t) != METER_OK) {
    meter_record_free(r);
    return NULL;
  }
  return r;
}

static meter_client *client_new(void)
{
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  meter_setting s[] = { { "region", "us-east-1" },
                        { "access_key_id", "AKIDSANDBOXEXAMPLE" },
                        { "secret_access_key", "sandbox+secret/KEY/EXAMPLE" } };
  o.backend = "aws";
  o.endpoint = "http://127.0.0.1:9"; /* never used: no sender */
  o.settings = s;
  o.settings_count = 3;
  meter_client *c = NULL;
  meter_error e;
  if (meter_client_new(&c, &o, &e) != METER_OK) {
    fprintf(stderr, "fleet_bench: %s\n", e.message);
    return NULL;
  }
  return c;
}

typedef struct worker {
  meter_spool *sp;
  meter_record **recs;
  long stored;
  int failed;
} worker;

static void *submit_all(void *arg)
{
  worker *w = arg;
  for (int i = 0; i < records && !w->failed; i += batch) {
    int n = records - i < batch ? records - i : batch;
    meter_error e;
    int rc = n == 1 ? meter_submit(w->sp, w->recs[i], &e)
                    : meter_submit_batch(w->sp, w->recs + i, (size_t)n, &e);
    if (rc != METER_OK) {
      fprintf(stderr, "fleet_bench: submit: %s\n", e.message);
      w->failed = 1;
    } else {
      w->stored += n;
    }
  }
  return NULL;
}

static void replica(int id)
{
  meter_client *c = client_new();
  if (!c)
    _exit(2);
  meter_spool_options o = METER_SPOOL_OPTIONS_INIT;
  o.path = url;
  o.no_sender = 1;
  o.durability = durability;
  o.aggregation_grace_ms = 24L * 3600 * 1000;
  meter_spool *sp = NULL;
  meter_error e;
  if (meter_spool_open(&sp, c, &o, &e) != METER_OK) {
    fprintf(stderr, "fleet_bench: %s\n", e.message);
    _exit(2);
  }
  int64_t first_hour = ((int64_t)time(NULL) / 3600 - 4) * 3600 * 1000000LL;
  worker w[MAX_THREADS];
  pthread_t th[MAX_THREADS];
  for (int t = 0; t < threads; t++) {
    w[t] = (worker){ sp, calloc((size_t)records, sizeof(meter_record *)), 0, 0 };
    for (int i = 0; i < records; i++)
      if (!w[t].recs || !(w[t].recs[i] = record_of(id, t, i, first_hour)))
        _exit(3);
  }
  atomic_fetch_add(&sh->ready, 1);
  while (!atomic_load(&sh->go))
    usleep(100);
  double t0 = now_s();
  for (int t = 0; t < threads; t++)
    pthread_create(&th[t], NULL, submit_all, &w[t]);
  long stored = 0;
  int failed = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(th[t], NULL);
    stored += w[t].stored;
    failed |= w[t].failed;
  }
  sh->seconds[id] = now_s() - t0;
  sh->stored[id] = stored;
  sh->failed[id] = failed;
  meter_close(sp, 0, 0);
  for (int t = 0; t < threads; t++) {
    for (int i = 0; i < records; i++)
      meter_record_free(w[t].recs[i]);
    free(w[t].recs);
  }
  meter_client_free(c);
  _exit(failed ? 1 : 0);
}

static int count_item(const meter_spool_item *it, void *p)
{
  (void)it;
  (*(long *)p)++;
  return 0;
}

static int usage(void)
{
  fprintf(stderr, "usage: fleet_bench [--replicas N] [--threads T] [--records R] [--batch B]\n"
                  "                   [--durability full|process] [--url postgresql://...] "
                  "[--ingest]\n");
  return 2;
}

int main(int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--ingest") == 0) {
      ingest = 1;
      continue;
    }
    if (!v)
      return usage();
    i++;
    if (strcmp(a, "--replicas") == 0)
      replicas = atoi(v);
    else if (strcmp(a, "--threads") == 0)
      threads = atoi(v);
    else if (strcmp(a, "--records") == 0)
      records = atoi(v);
    else if (strcmp(a, "--batch") == 0)
      batch = atoi(v);
    else if (strcmp(a, "--durability") == 0)
      durability = strcmp(v, "process") == 0 ? METER_SPOOL_SYNC_PROCESS : METER_SPOOL_SYNC_FULL;
    else if (strcmp(a, "--url") == 0)
      url = v;
    else
      return usage();
  }
  if (replicas < 1 || replicas > MAX_REPLICAS || threads < 1 || threads > MAX_THREADS ||
      records < 1 || batch < 1)
    return usage();

  pg_proc pg;
  int own_cluster = !url;
  char spool_url[512];
  if (own_cluster) {
    if (pg_start(&pg) != 0)
      return 1;
    snprintf(spool_url, sizeof spool_url, "%s?spool=bench", pg.conninfo);
  } else {
    snprintf(spool_url, sizeof spool_url, "%s%sspool=bench-%ld", url, strchr(url, '?') ? "&" : "?",
             (long)getpid());
  }
  url = spool_url;
  /* Migrate once before the clock starts. */
  meter_client *c = client_new();
  meter_spool_options o = METER_SPOOL_OPTIONS_INIT;
  o.path = url;
  o.no_sender = 1;
  meter_spool *sp = NULL;
  meter_error e;
  if (!c || meter_spool_open(&sp, c, &o, &e) != METER_OK) {
    fprintf(stderr, "fleet_bench: %s\n", c ? e.message : "no client");
    if (own_cluster)
      pg_stop(&pg);
    return 1;
  }
  meter_close(sp, 0, 0);

  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED)
    return 1;
  pid_t pids[MAX_REPLICAS];
  for (int r = 0; r < replicas; r++) {
    pids[r] = fork();
    if (pids[r] == 0)
      replica(r);
  }
  while (atomic_load(&sh->ready) < replicas)
    usleep(1000);
  double t0 = now_s();
  atomic_store(&sh->go, 1);
  int failed = 0;
  for (int r = 0; r < replicas; r++) {
    int st;
    waitpid(pids[r], &st, 0);
    failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
  }
  double wall = now_s() - t0;
  double min = 1e18, max = 0, sum = 0;
  long total = 0;
  for (int r = 0; r < replicas; r++) {
    double rate = sh->seconds[r] > 0 ? (double)sh->stored[r] / sh->seconds[r] : 0;
    min = rate < min ? rate : min;
    max = rate > max ? rate : max;
    sum += rate;
    total += sh->stored[r];
  }
  char extra[160] = "";
  if (ingest && !failed) {
    /* Sorting everything into aggregates (one replica's job at a time). */
    if (meter_spool_open(&sp, c, &o, &e) == METER_OK) {
      long n = 0;
      double s0 = now_s();
      int rc = meter_spool_list(sp, METER_SPOOL_STATE_MASK(METER_SPOOL_DEAD), count_item, &n);
      double took = now_s() - s0;
      meter_spool_stats st = METER_SPOOL_STATS_INIT;
      meter_spool_stats_get(sp, &st);
      if (rc == METER_OK)
        snprintf(extra, sizeof extra, "; sorted into %llu hourly aggregates in %.2f s (%.0f records/s)",
                 (unsigned long long)(st.open + st.pending), took, (double)total / took);
      meter_close(sp, 0, 0);
    }
  }
  printf("fleet_bench: %d replica(s) x %d thread(s), %ld records, batch %d, durability %s: "
         "%.0f submits/s per replica (min %.0f, max %.0f), %.0f submits/s in all "
         "(%.2f s)%s%s\n",
         replicas, threads, total, batch, durability == METER_SPOOL_SYNC_PROCESS ? "process" : "full",
         sum / replicas, min, max, (double)total / wall, wall, extra, failed ? "; FAILED" : "");
  meter_client_free(c);
  if (own_cluster)
    pg_stop(&pg);
  return failed ? 1 : 0;
}
