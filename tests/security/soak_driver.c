/* The client side of scripts/soak.sh: one long-lived process, as an
 * application would be, sending mixed traffic to the three marketplaces of
 * meter-sandbox for a set time, through the public API only:
 *  - synchronous meter_send batches to Tackle (PUT), AppDirect and AWS; a
 *    batch that is not delivered is resent with the same records (same
 *    idempotency keys) until it is;
 *  - reliable mode: records submitted to one spool per marketplace, whose
 *    background senders deliver them; closed with a final flush.
 * Every record has its own customer (or account), so the marketplace keeps
 * one ledger entry per record. At the end it prints, per marketplace, the
 * number of records and the quantity it expects in the ledger:
 *   expect <backend> <records> <quantity>
 * and exits 0, or 1 if something could not be delivered.
 *
 * Usage: meter_soak URL SECONDS SPOOL_DIR [RECORDS_PER_ROUND [RELIABLE_EVERY]]
 * (RELIABLE_EVERY: submit to the spools every Nth round only; default 1). */
#include <meter.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NBACK 3
static const char *const backends[NBACK] = { "tackle", "appdirect", "aws" };

typedef struct totals {
  uint64_t records, quantity;
} totals;

static totals expected[NBACK];
static char run_id[32];

static meter_client *client_for(int b, const char *url)
{
  meter_setting s[8];
  size_t n = 0;
  if (b == 0) {
    s[n++] = (meter_setting){ "client_id", "sandbox-tackle-id" };
    s[n++] = (meter_setting){ "client_secret", "sandbox-tackle-secret" };
  } else if (b == 1) {
    s[n++] = (meter_setting){ "client_id", "sandbox-appdirect-id" };
    s[n++] = (meter_setting){ "client_secret", "sandbox-appdirect-secret" };
  } else {
    s[n++] = (meter_setting){ "region", "us-east-1" };
    s[n++] = (meter_setting){ "access_key_id", "AKIDSANDBOXEXAMPLE" };
    s[n++] = (meter_setting){ "secret_access_key", "sandbox+secret/KEY/EXAMPLE" };
    s[n++] = (meter_setting){ "product_code", "soak-product" };
  }
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = backends[b];
  o.endpoint = url;
  o.settings = s;
  o.settings_count = n;
  o.backoff_base_ms = 20;
  o.backoff_max_ms = 500;
  o.request_timeout_ms = 10000;
  o.deadline_ms = 30000;
  meter_client *c = NULL;
  meter_error e;
  if (meter_client_new(&c, &o, &e) != METER_OK) {
    fprintf(stderr, "soak: %s client: %s\n", backends[b], e.message);
    exit(2);
  }
  return c;
}

/* A record of marketplace b, unique by its customer; time 2 hours ago (a
 * closed hour, within every marketplace's window). */
static meter_record *make_record(int b, const char *mode, uint64_t seq, int64_t qty)
{
  meter_record *r;
  if (meter_record_new(&r) != METER_OK)
    return NULL;
  char cust[96];
  snprintf(cust, sizeof cust, "soak-%s-%s-%llu", run_id, mode, (unsigned long long)seq);
  int64_t t = ((int64_t)time(NULL) / 3600 - 2) * 3600 * INT64_C(1000000);
  int rc = meter_record_set(r, METER_FIELD_CUSTOMER, cust);
  if (b == 0) {
    rc |= meter_record_set(r, METER_FIELD_PRODUCT, "soak-product");
    rc |= meter_record_set(r, METER_FIELD_DIMENSION, "users");
  } else if (b == 1) {
    rc |= meter_record_set(r, METER_FIELD_PRICING_UNIT, "USER");
  } else {
    rc |= meter_record_set(r, METER_FIELD_DIMENSION, "users");
  }
  rc |= meter_record_set_quantity(r, qty);
  rc |= meter_record_set_time_us(r, t);
  if (rc != METER_OK) {
    fprintf(stderr, "soak: record: %s\n", meter_record_errmsg(r));
    meter_record_free(r);
    return NULL;
  }
  return r;
}

/* Sends until every record is delivered (same records, same keys). */
static int send_until_delivered(meter_client *c, meter_record **recs, size_t n)
{
  for (int tries = 0; tries < 50; tries++) {
    meter_results *res = NULL;
    int rc = meter_send(c, recs, n, &res);
    int delivered = rc == METER_OK;
    if (res && !delivered) {
      delivered = 1;
      for (size_t i = 0; i < n; i++) {
        meter_outcome oc = meter_results_outcome(res, i);
        if (oc == METER_OUTCOME_REJECTED || oc == METER_OUTCOME_INVALID ||
            oc == METER_OUTCOME_CONFLICT) {
          fprintf(stderr, "soak: record refused: %s\n", meter_results_message(res, i));
          meter_results_free(res);
          return -1;
        }
        delivered &= meter_outcome_delivered(oc);
      }
    }
    meter_results_free(res);
    if (delivered)
      return 0;
    usleep(100000);
  }
  return -1;
}

int main(int argc, char **argv)
{
  if (argc < 4) {
    fprintf(stderr, "usage: %s URL SECONDS SPOOL_DIR [RECORDS_PER_ROUND]\n", argv[0]);
    return 2;
  }
  const char *url = argv[1];
  long seconds = atol(argv[2]);
  size_t per_round = argc > 4 ? (size_t)atol(argv[4]) : 2;
  long reliable_every = argc > 5 ? atol(argv[5]) : 1;
  if (reliable_every < 1)
    reliable_every = 1;
  if (per_round < 1 || per_round > 64)
    per_round = 2;
  snprintf(run_id, sizeof run_id, "%ld", (long)time(NULL));

  meter_client *sync_c[NBACK], *rel_c[NBACK];
  meter_spool *spool[NBACK];
  for (int b = 0; b < NBACK; b++) {
    sync_c[b] = client_for(b, url);
    rel_c[b] = client_for(b, url);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.spool", argv[3], backends[b]);
    meter_spool_options so = METER_SPOOL_OPTIONS_INIT;
    so.path = path;
    so.backoff_base_ms = 50;
    so.backoff_max_ms = 2000;
    so.poll_interval_ms = 200;
    so.keep_delivered_ms = 60000; /* keep the spool file bounded over hours */
    meter_error e;
    if (meter_spool_open(&spool[b], rel_c[b], &so, &e) != METER_OK) {
      fprintf(stderr, "soak: spool %s: %s\n", path, e.message);
      return 2;
    }
  }

  int failed = 0;
  uint64_t seq = 0, rounds = 0;
  time_t end = time(NULL) + seconds;
  while (time(NULL) < end && !failed) {
    int reliable_round = rounds % (uint64_t)reliable_every == 0;
    for (int b = 0; b < NBACK && !failed; b++) {
      meter_record *recs[64];
      int64_t sum = 0;
      for (size_t i = 0; i < per_round; i++) {
        int64_t q = (int64_t)(1 + (seq % 7));
        recs[i] = make_record(b, "sync", seq++, q);
        sum += q;
        if (!recs[i])
          failed = 1;
      }
      if (!failed && send_until_delivered(sync_c[b], recs, per_round) != 0) {
        fprintf(stderr, "soak: %s: a synchronous batch was not delivered\n", backends[b]);
        failed = 1;
      } else if (!failed) {
        expected[b].records += per_round;
        expected[b].quantity += (uint64_t)sum;
      }
      for (size_t i = 0; i < per_round; i++)
        meter_record_free(recs[i]);
      /* reliable mode: the same amount, submitted one by one */
      for (size_t i = 0; i < per_round && !failed && reliable_round; i++) {
        int64_t q = (int64_t)(1 + (seq % 5));
        meter_record *r = make_record(b, "rel", seq++, q);
        meter_error e;
        if (!r || meter_submit(spool[b], r, &e) != METER_OK) {
          fprintf(stderr, "soak: submit %s: %s\n", backends[b], r ? e.message : "record");
          failed = 1;
        } else {
          expected[b].records++;
          expected[b].quantity += (uint64_t)q;
        }
        meter_record_free(r);
      }
    }
    rounds++;
    usleep(200000);
  }
  for (int b = 0; b < NBACK; b++) {
    int rc = meter_close(spool[b], 300000, METER_FLUSH_OPEN_HOURS);
    if (rc != METER_OK) {
      fprintf(stderr, "soak: closing the %s spool: %s\n", backends[b], meter_strerror(rc));
      failed = 1;
    }
    meter_client_free(sync_c[b]);
    meter_client_free(rel_c[b]);
  }
  printf("rounds %llu\n", (unsigned long long)rounds);
  for (int b = 0; b < NBACK; b++)
    printf("expect %s %llu %llu\n", backends[b], (unsigned long long)expected[b].records,
           (unsigned long long)expected[b].quantity);
  return failed ? 1 : 0;
}
