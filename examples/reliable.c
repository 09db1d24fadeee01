/*
 * Reliable mode end to end: a service's request handlers report usage from
 * several threads; the spool stores each record durably before meter_submit
 * returns, sums them per customer, dimension and hour (AWS takes one report
 * per hour), and a background thread delivers them, retrying through
 * outages. Records survive a crash: run it again on the same spool and what
 * was stored is delivered, once.
 *
 *   ./reliable [ENDPOINT [SPOOL [FLUSH_MS]]]
 *
 * AWS back end (BatchMeterUsage); credentials and region come from the
 * standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_REGION,
 * profiles, the instance or task role). ENDPOINT defaults to
 * $METER_ENDPOINT, else AWS itself. SPOOL defaults to a new file in /tmp.
 * FLUSH_MS (default 10000) bounds the final flush.
 * Against the local emulator:
 *   meter-sandbox --port 8080 &
 *   AWS_ACCESS_KEY_ID=AKIDSANDBOXEXAMPLE AWS_SECRET_ACCESS_KEY='sandbox+secret/KEY/EXAMPLE' \
 *   AWS_REGION=us-east-1 ./reliable http://127.0.0.1:8080
 *
 * Exit status: 0 all delivered, 1 some records are dead letters or still
 * waiting (they stay in the spool), 2 set-up failed.
 */
#include <meter.h>
#include <meter/reliable.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HANDLERS 4
#define REQUESTS_PER_HANDLER 25

static meter_spool *spool;
static int retries;

/* Told about every outcome, on the sender's thread. */
static void on_outcome(const meter_spool_item *item, meter_spool_state state,
                       meter_outcome outcome, void *payload)
{
  (void)payload;
  if (state == METER_SPOOL_PENDING) { /* a transient failure: resent later, same key */
    if (retries++ == 0)
      printf("  not delivered yet (%s), will retry\n", meter_spool_item_message(item));
    return;
  }
  const char *what = state == METER_SPOOL_DELIVERED ? "delivered" : "DEAD LETTER";
  printf("  %-11s %s (%llu record(s)): %s%s%s\n", what,
         meter_spool_item_kind(item) == METER_SPOOL_AGGREGATE ? "hourly aggregate" : "record",
         (unsigned long long)meter_spool_item_records(item), meter_outcome_name(outcome),
         meter_spool_item_message(item) ? " - " : "",
         meter_spool_item_message(item) ? meter_spool_item_message(item) : "");
}

/* A request handler: one usage record per request it serves. */
static void *handler(void *arg)
{
  int id = (int)(intptr_t)arg;
  for (int i = 0; i < REQUESTS_PER_HANDLER; i++) {
    char customer[32];
    snprintf(customer, sizeof customer, "customer-%d", (id + i) % 3 + 1);
    meter_record *r;
    if (meter_record_new(&r) != METER_OK) /* time = now, a fresh idempotency key */
      return NULL;
    meter_record_set(r, METER_FIELD_PRODUCT, "prod-example");
    meter_record_set(r, METER_FIELD_CUSTOMER, customer);
    meter_record_set(r, METER_FIELD_DIMENSION, "requests");
    meter_record_set_quantity(r, 1);
    meter_error err;
    /* Returns once the record is on disk; never waits for the network. */
    if (meter_submit(spool, r, &err) != METER_OK)
      fprintf(stderr, "handler %d: not stored: %s\n", id, err.message);
    meter_record_free(r);
  }
  return NULL;
}

int main(int argc, char **argv)
{
  const char *endpoint = argc > 1 ? argv[1] : getenv("METER_ENDPOINT");
  char tmp[64];
  const char *path = argc > 2 ? argv[2] : NULL;
  if (!path) {
    snprintf(tmp, sizeof tmp, "/tmp/reliable-example-%ld.spool", (long)getpid());
    path = tmp;
  }

  meter_client_options co = METER_CLIENT_OPTIONS_INIT;
  co.backend = "aws";
  co.endpoint = endpoint && *endpoint ? endpoint : NULL;
  meter_client *client;
  meter_error err;
  if (meter_client_new(&client, &co, &err) != METER_OK) {
    fprintf(stderr, "cannot create the client: %s\n", err.message);
    return 2;
  }

  meter_spool_options so = METER_SPOOL_OPTIONS_INIT;
  so.path = path;
  so.on_outcome = on_outcome;
  so.max_records = 1000000;               /* bound what may wait for an outage to end */
  so.full_policy = METER_SPOOL_FULL_WAIT; /* ...and then slow the handlers down a little */
  so.full_wait_ms = 2000;
  if (meter_spool_open(&spool, client, &so, &err) != METER_OK) {
    fprintf(stderr, "cannot open the spool %s: %s\n", path, err.message);
    meter_client_free(client);
    return 2;
  }
  printf("spool %s: the sender runs in the background\n", path);

  pthread_t th[HANDLERS];
  for (int i = 0; i < HANDLERS; i++)
    pthread_create(&th[i], NULL, handler, (void *)(intptr_t)i);
  for (int i = 0; i < HANDLERS; i++)
    pthread_join(th[i], NULL);

  meter_spool_stats st = METER_SPOOL_STATS_INIT;
  if (meter_spool_stats_get(spool, &st) == METER_OK)
    printf("%llu records stored; %llu hourly aggregate(s) still collecting this hour\n",
           (unsigned long long)st.submitted, (unsigned long long)st.open);

  /* The current hour is still open: a service that runs for hours lets each
   * hour go once it has closed. This one stops now, so it reports the open
   * hour early (records arriving later for that hour would be late). */
  long flush_ms = argc > 3 ? atol(argv[3]) : 10000;
  int rc = meter_flush(spool, flush_ms, METER_FLUSH_OPEN_HOURS);
  if (meter_spool_stats_get(spool, &st) != METER_OK)
    st.records_waiting = 1;
  printf("flush: %s; %llu record(s) not delivered, %llu dead letter(s)\n", meter_strerror(rc),
         (unsigned long long)st.records_waiting, (unsigned long long)st.dead);
  if (rc != METER_OK)
    printf("  last failure: %s\n  (the records stay in %s: run again to deliver them)\n",
           st.last_message, path);

  /* Whatever is left stays in the spool file for the next run. */
  meter_close(spool, 1000, 0);
  meter_client_free(client);
  if (argc <= 2 && rc == METER_OK && st.records_waiting == 0) {
    const char *sfx[] = { "", "-wal", "-shm", "-sender" };
    for (int i = 0; i < 4; i++) {
      char p[96];
      snprintf(p, sizeof p, "%s%s", path, sfx[i]);
      unlink(p);
    }
  }
  return rc == METER_OK && st.records_waiting == 0 ? 0 : 1;
}
