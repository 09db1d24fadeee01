/* Durable submits per second and memory with many records spooled. Public
 * API only; nothing is sent (no_sender), so this measures the spool alone:
 * validation, encoding, group commit, fsync.
 *
 *   pipeline_bench [--backend aws|appdirect] [--threads N] [--records N]
 *                  [--batch N] [--durability full|process] [--dir DIR] [--keep]
 *                  [--on-the-fly] [--reopen]
 *
 * --records is per thread. --batch N > 1 uses meter_submit_batch. The
 * records are built before the clock starts (that is the caller's work),
 * unless --on-the-fly (for memory: then they are built and freed as they
 * go). --reopen then closes the spool and reopens it in this process to
 * sort everything (what the sender does first after a restart), reporting
 * its time and the RSS. Prints records/s, the RSS and the spool's size. */
#include <meter.h>
#include <meter/reliable.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct args {
  const char *backend;
  int threads, batch, durability, keep, on_the_fly, reopen;
  long records;
  char dir[256];
} args;

static args a = { "aws", 1, 1, METER_SPOOL_SYNC_FULL, 0, 0, 0, 20000, "" };
static meter_spool *sp;
static int64_t hour_us;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static meter_record *make(int thread, long i)
{
  meter_record *r;
  if (meter_record_new(&r) != METER_OK)
    return NULL;
  char cust[32];
  snprintf(cust, sizeof cust, "customer-%d-%ld", thread, i % 50);
  if (strcmp(a.backend, "aws") == 0) {
    meter_record_set(r, METER_FIELD_PRODUCT, "prod-bench");
    meter_record_set(r, METER_FIELD_CUSTOMER, cust);
    meter_record_set(r, METER_FIELD_DIMENSION, "requests");
  } else {
    meter_record_set(r, METER_FIELD_ACCOUNT, cust);
    meter_record_set(r, METER_FIELD_PRICING_UNIT, "USER");
  }
  meter_record_set_quantity(r, 1 + i % 7);
  meter_record_set_time_us(r, hour_us + (i % 3000) * 1000000);
  return r;
}

static pthread_barrier_t ready;
static double started;

/* Builds its records first (meter_record_new draws a random key: not what is
 * measured), then submits them once every thread is ready. */
static void *worker(void *p)
{
  int t = (int)(intptr_t)p;
  long built = a.on_the_fly ? a.batch : a.records;
  meter_record **recs = calloc((size_t)built, sizeof *recs);
  for (long i = 0; recs && !a.on_the_fly && i < a.records; i++)
    if (!(recs[i] = make(t, i)))
      exit(1);
  if (pthread_barrier_wait(&ready) == PTHREAD_BARRIER_SERIAL_THREAD)
    started = now_s();
  pthread_barrier_wait(&ready);
  for (long i = 0; i < a.records; i += a.batch) {
    int n = (int)(a.records - i < a.batch ? a.records - i : a.batch);
    meter_record **at = a.on_the_fly ? recs : recs + i;
    for (int k = 0; a.on_the_fly && k < n; k++)
      if (!(recs[k] = make(t, i + k)))
        exit(1);
    meter_error e;
    int rc = n == 1 ? meter_submit(sp, at[0], &e) : meter_submit_batch(sp, at, (size_t)n, &e);
    if (rc != METER_OK) {
      fprintf(stderr, "submit: %s\n", e.message);
      exit(1);
    }
    for (int k = 0; a.on_the_fly && k < n; k++)
      meter_record_free(recs[k]);
  }
  for (long i = 0; !a.on_the_fly && i < a.records; i++)
    meter_record_free(recs[i]);
  free(recs);
  return NULL;
}

static int count(const meter_spool_item *item, void *payload)
{
  (void)item;
  (*(size_t *)payload)++;
  return 0;
}

static long rss_kb(const char *field)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, field, strlen(field)) == 0)
      kb = atol(line + strlen(field));
  if (f)
    fclose(f);
  return kb;
}

int main(int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : "";
    if (strcmp(argv[i], "--backend") == 0)
      a.backend = v, i++;
    else if (strcmp(argv[i], "--threads") == 0)
      a.threads = atoi(v), i++;
    else if (strcmp(argv[i], "--records") == 0)
      a.records = atol(v), i++;
    else if (strcmp(argv[i], "--batch") == 0)
      a.batch = atoi(v), i++;
    else if (strcmp(argv[i], "--durability") == 0)
      a.durability = strcmp(v, "process") == 0 ? METER_SPOOL_SYNC_PROCESS : METER_SPOOL_SYNC_FULL, i++;
    else if (strcmp(argv[i], "--dir") == 0)
      snprintf(a.dir, sizeof a.dir, "%s", v), i++;
    else if (strcmp(argv[i], "--keep") == 0)
      a.keep = 1;
    else if (strcmp(argv[i], "--on-the-fly") == 0)
      a.on_the_fly = 1;
    else if (strcmp(argv[i], "--reopen") == 0)
      a.reopen = 1;
    else {
      fprintf(stderr, "usage: %s [--backend aws|appdirect] [--threads N] [--records N] "
                      "[--batch N] [--durability full|process] [--dir DIR] [--keep] "
                      "[--on-the-fly] [--reopen]\n", argv[0]);
      return 2;
    }
  }
  if (a.threads < 1 || a.threads > 256 || a.batch < 1 || a.records < 1)
    return 2;
  if (!a.dir[0]) {
    snprintf(a.dir, sizeof a.dir, "%s/pipeline-bench-XXXXXX", P_tmpdir);
    if (!mkdtemp(a.dir))
      return 1;
  }
  char path[320];
  snprintf(path, sizeof path, "%s/bench.spool", a.dir);

  meter_client_options co = METER_CLIENT_OPTIONS_INIT;
  meter_setting aws[] = { { "region", "us-east-1" }, { "access_key_id", "AKIDBENCH" },
                          { "secret_access_key", "bench-secret" } };
  meter_setting ad[] = { { "client_id", "bench" }, { "client_secret", "bench-secret" } };
  co.backend = a.backend;
  co.endpoint = "http://127.0.0.1:9";
  co.settings = strcmp(a.backend, "aws") == 0 ? aws : ad;
  co.settings_count = strcmp(a.backend, "aws") == 0 ? 3 : 2;
  meter_client *c;
  meter_error e;
  if (meter_client_new(&c, &co, &e) != METER_OK) {
    fprintf(stderr, "client: %s\n", e.message);
    return 1;
  }
  time_t now = time(NULL);
  hour_us = ((int64_t)now / 3600 - 1) * 3600 * 1000000;

  meter_spool_options so = METER_SPOOL_OPTIONS_INIT;
  so.path = path;
  so.no_sender = 1;
  so.durability = a.durability;
  so.max_records = UINT64_C(1) << 40;
  so.max_bytes = UINT64_C(1) << 40;
  if (meter_spool_open(&sp, c, &so, &e) != METER_OK) {
    fprintf(stderr, "spool: %s\n", e.message);
    return 1;
  }
  long rss_open = rss_kb("VmRSS:");
  pthread_t th[256];
  pthread_barrier_init(&ready, NULL, (unsigned)a.threads);
  for (int t = 0; t < a.threads; t++)
    pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
  for (int t = 0; t < a.threads; t++)
    pthread_join(th[t], NULL);
  double secs = now_s() - started;
  pthread_barrier_destroy(&ready);
  long total = a.records * a.threads;
  meter_spool_stats st = METER_SPOOL_STATS_INIT;
  meter_spool_stats_get(sp, &st);
  meter_close(sp, 0, 0);
  struct stat sb;
  long long size = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
  snprintf(path + strlen(path), sizeof path - strlen(path), "-wal");
  long long wal = stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
  printf("%s, %s, %d thread(s), batch %d: %ld records in %.2f s = %.0f records/s; "
         "%llu waiting in the spool; RSS %ld kB after open, peak %ld kB; spool file %.1f MB "
         "(+ WAL %.1f MB)\n",
         a.backend, a.durability == METER_SPOOL_SYNC_FULL ? "fsync (FULL)" : "no fsync (PROCESS)",
         a.threads, a.batch, total, secs, (double)total / secs,
         (unsigned long long)st.records_waiting, rss_open, rss_kb("VmHWM:"),
         (double)size / 1e6, (double)wal / 1e6);
  if (a.reopen) {
    /* A restart on a full spool: open, then sort everything received. */
    snprintf(path, sizeof path, "%s/bench.spool", a.dir);
    double t1 = now_s();
    if (meter_spool_open(&sp, c, &so, &e) != METER_OK) {
      fprintf(stderr, "reopen: %s\n", e.message);
      return 1;
    }
    long rss_reopen = rss_kb("VmRSS:");
    meter_spool_stats s2 = METER_SPOOL_STATS_INIT;
    double t2 = now_s();
    size_t open_entries = 0;
    /* Listing sorts what was received first (as the sender's first round). */
    meter_spool_list(sp, METER_SPOOL_STATE_MASK(METER_SPOOL_OPEN), count, &open_entries);
    double sorted = now_s() - t2;
    meter_spool_stats_get(sp, &s2);
    printf("reopen: %.2f s to open, RSS %ld kB; sorting %llu records into %llu pending + %llu "
           "open entries took %.2f s (%.0f records/s), RSS %ld kB, peak %ld kB\n",
           t2 - t1, rss_reopen, (unsigned long long)st.records_waiting,
           (unsigned long long)s2.pending, (unsigned long long)s2.open, sorted,
           (double)st.records_waiting / sorted, rss_kb("VmRSS:"), rss_kb("VmHWM:"));
    meter_close(sp, 0, 0);
  }
  meter_client_free(c);
  if (!a.keep) {
    snprintf(path, sizeof path, "%s/bench.spool", a.dir);
    const char *sfx[] = { "", "-wal", "-shm", "-sender" };
    for (int i = 0; i < 4; i++) {
      char p[340];
      snprintf(p, sizeof p, "%s%s", path, sfx[i]);
      unlink(p);
    }
    rmdir(a.dir);
  }
  return 0;
}
