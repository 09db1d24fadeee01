/* Synchronous sends against meter-sandbox through the public API: N threads
 * share one meter_client and call meter_send in a loop, each call with
 * --batch fresh records (built, sent, checked and freed inside the loop,
 * as a caller would). Prints one JSON line per timed run: calls/s,
 * records/s, p50/p99 latency of meter_send, errors.
 *
 *   bench_send --endpoint URL --backend aws|tackle|appdirect [--group NAME]
 *              [--client LABEL] [--threads N] [--batch K] [--seconds S]
 *              [--runs N] [--warmup S] [--time EPOCH_S] [--pad N]
 *              [--allocations N] [--token T]
 *
 * aws without a customer (--batch 1 --meter-usage) is MeterUsage; aws with
 * customers is BatchMeterUsage (K <= 25); tackle is PUT (K <= 100);
 * appdirect is one usage request (K <= 250). Every record of a call has its
 * own customer (account), so a call is one request. --pad N lengthens the
 * dimension and customer strings to N characters; --allocations N splits
 * the quantity over N tagged allocations (aws); --token fixes the
 * idempotency key (MeterUsage ClientToken) instead of a fresh one per record. */
#include "bench_util.h"

#include <meter.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct config {
  const char *endpoint, *backend, *group, *client, *token;
  int threads, batch, runs, meter_usage, pad, allocations;
  double seconds, warmup;
  long long time_s;
} config;

static config cfg = { NULL, "aws", NULL, "libmeter", NULL, 1, 1, 5, 0, 0, 0, 2.0, 1.0, 0 };
static meter_client *client;

/* "base" padded with "-xxxx..." to n characters (n <= base length: base). */
static void padded(char *out, size_t size, const char *base, int n)
{
  snprintf(out, size, "%s", base);
  size_t len = strlen(out);
  if (n > 0 && (size_t)n > len && (size_t)n < size) {
    out[len] = '-';
    for (size_t i = len + 1; i < (size_t)n; i++)
      out[i] = (char)('a' + i % 26);
    out[n] = '\0';
  }
}

static meter_record *make(int i)
{
  meter_record *r;
  if (meter_record_new(&r) != METER_OK)
    return NULL;
  char cust[300], dim[300], base[64];
  snprintf(base, sizeof base, "bench-customer-%04d", i);
  padded(cust, sizeof cust, base, cfg.pad);
  padded(dim, sizeof dim, "requests", cfg.pad);
  int ok = 1;
  if (strcmp(cfg.backend, "appdirect") == 0) {
    snprintf(base, sizeof base, "bench-account-%04d", i / 25);
    ok = meter_record_set(r, METER_FIELD_ACCOUNT, base) == METER_OK &&
         meter_record_set(r, METER_FIELD_PRICING_UNIT, "USER") == METER_OK;
  } else {
    ok = meter_record_set(r, METER_FIELD_PRODUCT, "prod-bench-1234") == METER_OK &&
         meter_record_set(r, METER_FIELD_DIMENSION, dim) == METER_OK &&
         (cfg.meter_usage || meter_record_set(r, METER_FIELD_CUSTOMER, cust) == METER_OK);
    if (strcmp(cfg.backend, "tackle") == 0)
      ok = ok && meter_record_set(r, METER_FIELD_CLOUD, "aws") == METER_OK;
  }
  int64_t quantity = 42;
  ok = ok && meter_record_set_quantity(r, quantity) == METER_OK &&
       meter_record_set_time_us(r, cfg.time_s * 1000000) == METER_OK;
  if (ok && cfg.token)
    ok = meter_record_set(r, METER_FIELD_IDEMPOTENCY_KEY, cfg.token) == METER_OK;
  for (int a = 0; ok && a < cfg.allocations; a++) {
    char v[32];
    snprintf(v, sizeof v, "tenant-%d", a);
    const char *keys[] = { "tenant" }, *vals[] = { v };
    int64_t q = quantity / cfg.allocations + (a < quantity % cfg.allocations);
    ok = meter_record_add_allocation(r, q, keys, vals, 1) == METER_OK;
  }
  if (!ok) {
    fprintf(stderr, "bench_send: building a record failed: %s\n", meter_record_errmsg(r));
    meter_record_free(r);
    return NULL;
  }
  return r;
}

typedef struct worker {
  pthread_t th;
  int id;
  double deadline;
  long calls, records, errors;
  bench_lat lat;
} worker;

static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static int err_shown;

static void show_error(const meter_results *res, size_t i, int rc)
{
  pthread_mutex_lock(&err_lock);
  if (err_shown++ < 3)
    fprintf(stderr, "bench_send: %s (status %d): %s %s\n", meter_outcome_name(
              res ? meter_results_outcome(res, i) : METER_OUTCOME_PENDING), rc,
            res && meter_results_error_code(res, i) ? meter_results_error_code(res, i) : "",
            res && meter_results_message(res, i) ? meter_results_message(res, i) : "");
  pthread_mutex_unlock(&err_lock);
}

static void *work(void *p)
{
  worker *w = p;
  meter_record *recs[256];
  while (bench_now() < w->deadline) {
    for (int i = 0; i < cfg.batch; i++)
      if (!(recs[i] = make(i)))
        exit(1);
    meter_results *res = NULL;
    double t0 = bench_now();
    int rc = meter_send(client, recs, (size_t)cfg.batch, &res);
    bench_lat_add(&w->lat, bench_now() - t0);
    w->calls++;
    for (int i = 0; i < cfg.batch; i++) {
      if (res && meter_outcome_delivered(meter_results_outcome(res, (size_t)i))) {
        w->records++;
      } else {
        w->errors++;
        show_error(res, (size_t)i, rc);
      }
      meter_record_free(recs[i]);
    }
    meter_results_free(res);
  }
  return NULL;
}

static void usage(const char *argv0)
{
  fprintf(stderr,
          "usage: %s --endpoint URL --backend aws|tackle|appdirect [--meter-usage] "
          "[--group NAME] [--client LABEL] [--threads N] [--batch K] [--seconds S] [--runs N] "
          "[--warmup S] [--time EPOCH_S] [--pad N] [--allocations N] [--token T]\n",
          argv0);
  exit(2);
}

int main(int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    if (strcmp(f, "--endpoint") == 0) cfg.endpoint = bench_arg(argc, argv, &i);
    else if (strcmp(f, "--backend") == 0) cfg.backend = bench_arg(argc, argv, &i);
    else if (strcmp(f, "--group") == 0) cfg.group = bench_arg(argc, argv, &i);
    else if (strcmp(f, "--client") == 0) cfg.client = bench_arg(argc, argv, &i);
    else if (strcmp(f, "--token") == 0) cfg.token = bench_arg(argc, argv, &i);
    else if (strcmp(f, "--threads") == 0) cfg.threads = atoi(bench_arg(argc, argv, &i));
    else if (strcmp(f, "--batch") == 0) cfg.batch = atoi(bench_arg(argc, argv, &i));
    else if (strcmp(f, "--runs") == 0) cfg.runs = atoi(bench_arg(argc, argv, &i));
    else if (strcmp(f, "--pad") == 0) cfg.pad = atoi(bench_arg(argc, argv, &i));
    else if (strcmp(f, "--allocations") == 0) cfg.allocations = atoi(bench_arg(argc, argv, &i));
    else if (strcmp(f, "--seconds") == 0) cfg.seconds = atof(bench_arg(argc, argv, &i));
    else if (strcmp(f, "--warmup") == 0) cfg.warmup = atof(bench_arg(argc, argv, &i));
    else if (strcmp(f, "--time") == 0) cfg.time_s = atoll(bench_arg(argc, argv, &i));
    else if (strcmp(f, "--meter-usage") == 0) cfg.meter_usage = 1;
    else usage(argv[0]);
  }
  if (!cfg.endpoint || cfg.threads < 1 || cfg.threads > 256 || cfg.batch < 1 ||
      cfg.batch > 256 || cfg.pad > 255 || cfg.allocations < 0 || cfg.allocations > 42)
    usage(argv[0]);
  if (!cfg.group)
    cfg.group = cfg.backend;
  if (!cfg.time_s)
    cfg.time_s = (long long)time(NULL) / 3600 * 3600 - 3600;

  meter_setting aws[] = { { "region", "us-east-1" },
                          { "access_key_id", "AKIDSANDBOXEXAMPLE" },
                          { "secret_access_key", "sandbox+secret/KEY/EXAMPLE" } };
  meter_setting tackle[] = { { "client_id", "sandbox-tackle-id" },
                             { "client_secret", "sandbox-tackle-secret" } };
  meter_setting appdirect[] = { { "client_id", "sandbox-appdirect-id" },
                                { "client_secret", "sandbox-appdirect-secret" } };
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = cfg.backend;
  o.endpoint = cfg.endpoint;
  if (strcmp(cfg.backend, "aws") == 0)
    o.settings = aws, o.settings_count = 3;
  else if (strcmp(cfg.backend, "tackle") == 0)
    o.settings = tackle, o.settings_count = 2;
  else
    o.settings = appdirect, o.settings_count = 2;
  meter_error err;
  if (meter_client_new(&client, &o, &err) != METER_OK) {
    fprintf(stderr, "bench_send: %s\n", err.message);
    return 1;
  }

  worker *ws = calloc((size_t)cfg.threads, sizeof *ws);
  bench_lat all = { 0 };
  for (int run = 0; run <= cfg.runs; run++) {
    double t0 = bench_now();
    double deadline = t0 + (run == 0 ? cfg.warmup : cfg.seconds);
    for (int t = 0; t < cfg.threads; t++) {
      ws[t].id = t;
      ws[t].deadline = deadline;
      ws[t].calls = ws[t].records = ws[t].errors = 0;
      bench_lat_clear(&ws[t].lat);
      pthread_create(&ws[t].th, NULL, work, &ws[t]);
    }
    long calls = 0, records = 0, errors = 0;
    bench_lat_clear(&all);
    for (int t = 0; t < cfg.threads; t++) {
      pthread_join(ws[t].th, NULL);
      calls += ws[t].calls;
      records += ws[t].records;
      errors += ws[t].errors;
      bench_lat_merge(&all, &ws[t].lat);
    }
    double secs = bench_now() - t0;
    if (run == 0)
      continue; /* warm-up: connections, token, signing key */
    char extra[512];
    snprintf(extra, sizeof extra,
             "\"concurrency\":%d,\"batch\":%d,\"pad\":%d,\"allocations\":%d,\"calls\":%ld,"
             "\"seconds\":%.3f,\"rps\":%.1f,\"records_per_s\":%.1f,\"p50_ms\":%.3f,"
             "\"p99_ms\":%.3f,\"errors\":%ld,\"peak_rss_kb\":%ld",
             cfg.threads, cfg.batch, cfg.pad, cfg.allocations, calls, secs,
             (double)calls / secs, (double)records / secs, bench_lat_ms(&all, 0.50),
             bench_lat_ms(&all, 0.99), errors, bench_rss_kb("VmHWM:"));
    bench_emit(cfg.group, cfg.client, run, extra);
  }
  for (int t = 0; t < cfg.threads; t++)
    bench_lat_free(&ws[t].lat);
  bench_lat_free(&all);
  free(ws);
  meter_client_free(client);
  return 0;
}
