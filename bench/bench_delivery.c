/* Reliable mode, the sending side: how fast the background sender empties a
 * spool into meter-sandbox. Public API only.
 *
 *   bench_delivery --endpoint URL [--records N] [--runs N] [--dir DIR]
 *                  [--durability full|process]
 *
 * Each run fills a new spool with N AWS records (meter_submit_batch, no
 * sender; every record its own customer, so none is summed into another and
 * each becomes one BatchMeterUsage entry), closes it, then opens it again
 * with the background sender and times meter_flush (METER_FLUSH_OPEN_HOURS:
 * the records' hour is sealed at once instead of after its grace period)
 * until every record is delivered. --durability is the spool's while it
 * delivers (each outcome is recorded durably: fsync'ed with full). Prints one JSON line per run: records/s
 * delivered, requests, the process's peak RSS. The first run is a warm-up. */
#include "bench_util.h"

#include <meter.h>
#include <meter/reliable.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void remove_spool(const char *path)
{
  const char *sfx[] = { "", "-wal", "-shm", "-sender" };
  for (int i = 0; i < 4; i++) {
    char p[600];
    snprintf(p, sizeof p, "%s%s", path, sfx[i]);
    unlink(p);
  }
}

static int fill(meter_client *c, const char *path, long n, int run, long long hour_s)
{
  meter_spool_options so = METER_SPOOL_OPTIONS_INIT;
  so.path = path;
  so.no_sender = 1;
  so.durability = METER_SPOOL_SYNC_PROCESS;
  meter_spool *sp;
  meter_error e;
  if (meter_spool_open(&sp, c, &so, &e) != METER_OK) {
    fprintf(stderr, "bench_delivery: open: %s\n", e.message);
    return -1;
  }
  meter_record *recs[500];
  for (long i = 0; i < n;) {
    int k = 0;
    for (; k < 500 && i < n; k++, i++) {
      char cust[64];
      snprintf(cust, sizeof cust, "run%d-customer-%07ld", run, i);
      if (meter_record_new(&recs[k]) != METER_OK)
        return -1;
      meter_record_set(recs[k], METER_FIELD_PRODUCT, "prod-bench-1234");
      meter_record_set(recs[k], METER_FIELD_CUSTOMER, cust);
      meter_record_set(recs[k], METER_FIELD_DIMENSION, "requests");
      meter_record_set_quantity(recs[k], 1 + i % 7);
      meter_record_set_time_us(recs[k], (hour_s + i % 3600) * 1000000);
    }
    int rc = meter_submit_batch(sp, recs, (size_t)k, &e);
    for (int j = 0; j < k; j++)
      meter_record_free(recs[j]);
    if (rc != METER_OK) {
      fprintf(stderr, "bench_delivery: submit: %s\n", e.message);
      return -1;
    }
  }
  return meter_close(sp, 0, 0) == METER_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
  const char *endpoint = NULL, *dir = NULL;
  long records = 20000;
  int runs = 5, durability = METER_SPOOL_SYNC_FULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--endpoint") == 0)
      endpoint = bench_arg(argc, argv, &i);
    else if (strcmp(argv[i], "--records") == 0)
      records = atol(bench_arg(argc, argv, &i));
    else if (strcmp(argv[i], "--runs") == 0)
      runs = atoi(bench_arg(argc, argv, &i));
    else if (strcmp(argv[i], "--dir") == 0)
      dir = bench_arg(argc, argv, &i);
    else if (strcmp(argv[i], "--durability") == 0)
      durability = strcmp(bench_arg(argc, argv, &i), "process") == 0 ? METER_SPOOL_SYNC_PROCESS
                                                                     : METER_SPOOL_SYNC_FULL;
    else {
      fprintf(stderr, "usage: %s --endpoint URL [--records N] [--runs N] [--dir DIR] "
                      "[--durability full|process]\n",
              argv[0]);
      return 2;
    }
  }
  if (!endpoint || records < 1)
    return 2;
  char tmpdir[256];
  if (!dir) {
    snprintf(tmpdir, sizeof tmpdir, "%s/bench-delivery-XXXXXX", P_tmpdir);
    if (!mkdtemp(tmpdir))
      return 1;
    dir = tmpdir;
  }
  char path[512];
  snprintf(path, sizeof path, "%s/delivery.spool", dir);

  meter_setting aws[] = { { "region", "us-east-1" },
                          { "access_key_id", "AKIDSANDBOXEXAMPLE" },
                          { "secret_access_key", "sandbox+secret/KEY/EXAMPLE" } };
  meter_client_options co = METER_CLIENT_OPTIONS_INIT;
  co.backend = "aws";
  co.endpoint = endpoint;
  co.settings = aws;
  co.settings_count = 3;
  meter_client *c;
  meter_error e;
  if (meter_client_new(&c, &co, &e) != METER_OK) {
    fprintf(stderr, "bench_delivery: %s\n", e.message);
    return 1;
  }
  long long hour_s = (long long)time(NULL) / 3600 * 3600 - 3600;

  for (int run = 0; run <= runs; run++) {
    remove_spool(path);
    long n = run == 0 ? (records < 2000 ? records : 2000) : records;
    if (fill(c, path, n, run, hour_s) != 0)
      return 1;
    meter_spool_options so = METER_SPOOL_OPTIONS_INIT;
    so.path = path;
    so.durability = durability;
    so.aggregation_grace_ms = 1;
    meter_spool *sp;
    double t0 = bench_now();
    if (meter_spool_open(&sp, c, &so, &e) != METER_OK) {
      fprintf(stderr, "bench_delivery: open: %s\n", e.message);
      return 1;
    }
    int rc = meter_flush(sp, 600000, METER_FLUSH_OPEN_HOURS);
    double secs = bench_now() - t0;
    meter_spool_stats st = METER_SPOOL_STATS_INIT;
    meter_spool_stats_get(sp, &st);
    meter_close(sp, 0, 0);
    if (rc != METER_OK || st.records_waiting != 0) {
      fprintf(stderr, "bench_delivery: flush: %s, %llu records still waiting (%s)\n",
              meter_strerror(rc), (unsigned long long)st.records_waiting, st.last_message);
      return 1;
    }
    if (run == 0)
      continue;
    char extra[400];
    snprintf(extra, sizeof extra,
             "\"records\":%ld,\"seconds\":%.3f,\"records_per_s\":%.1f,\"requests\":%llu,"
             "\"requests_failed\":%llu,\"requests_per_s\":%.1f,\"peak_rss_kb\":%ld",
             n, secs, (double)n / secs, (unsigned long long)st.requests,
             (unsigned long long)st.requests_failed, (double)st.requests / secs,
             bench_rss_kb("VmHWM:"));
    bench_emit("delivery",
               durability == METER_SPOOL_SYNC_FULL ? "libmeter spool -> sandbox, fsync"
                                                   : "libmeter spool -> sandbox, no fsync",
               run, extra);
  }
  remove_spool(path);
  if (dir == tmpdir)
    rmdir(tmpdir);
  meter_client_free(c);
  return 0;
}
