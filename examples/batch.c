/*
 * Sends many records in one meter_send and summarises the per-record
 * results: libmeter splits them into requests at the marketplace's limit
 * (AWS BatchMeterUsage: 25 records), retries what failed transiently, and
 * gives every record its own outcome.
 *
 *   ./batch [ENDPOINT [COUNT]]        (AWS; credentials from the standard chain)
 *
 * ENDPOINT defaults to $METER_ENDPOINT. COUNT records (default 60) go to
 * customers customer-0 .. customer-(COUNT-1); a customer whose id starts with
 * "unsubscribed-" is refused by meter-sandbox, to show a rejection:
 *   AWS_ACCESS_KEY_ID=AKIDSANDBOXEXAMPLE AWS_SECRET_ACCESS_KEY='sandbox+secret/KEY/EXAMPLE' \
 *     ./batch http://127.0.0.1:8080 60
 * Exit status: 0 all delivered, 1 otherwise.
 */
#include <meter.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
  const char *endpoint = argc > 1 ? argv[1] : getenv("METER_ENDPOINT");
  long count = argc > 2 ? strtol(argv[2], NULL, 10) : 60;
  if (count < 1 || count > 100000) {
    fprintf(stderr, "COUNT must be 1..100000\n");
    return 2;
  }
  meter_client_options opts = METER_CLIENT_OPTIONS_INIT;
  opts.backend = "aws";
  opts.endpoint = endpoint && *endpoint ? endpoint : NULL;
  meter_client *client;
  meter_error err;
  if (meter_client_new(&client, &opts, &err) != METER_OK) {
    fprintf(stderr, "cannot create the client: %s\n", err.message);
    return 2;
  }

  meter_record **recs = calloc((size_t)count, sizeof *recs);
  if (!recs)
    return 2;
  for (long i = 0; i < count; i++) {
    char customer[32];
    snprintf(customer, sizeof customer, "customer-%ld", i);
    if (meter_record_new(&recs[i]) != METER_OK ||
        meter_record_set(recs[i], METER_FIELD_PRODUCT, "example-product") ||
        meter_record_set(recs[i], METER_FIELD_CUSTOMER, customer) ||
        meter_record_set(recs[i], METER_FIELD_DIMENSION, "requests") ||
        meter_record_set_quantity(recs[i], i + 1)) {
      fprintf(stderr, "record %ld: %s\n", i, meter_record_errmsg(recs[i]));
      return 2;
    }
  }

  meter_results *res = NULL;
  int rc = meter_send(client, recs, (size_t)count, &res);
  long by_outcome[8] = { 0 }, requests = 0;
  const char *last_request = "";
  if (res) {
    for (size_t i = 0; i < meter_results_count(res); i++) {
      meter_outcome oc = meter_results_outcome(res, i);
      if ((int)oc >= 0 && (int)oc < 8)
        by_outcome[oc]++;
      /* Records of one request share its request id. */
      const char *req = meter_results_request_id(res, i);
      if (req && strcmp(req, last_request) != 0) {
        requests++;
        last_request = req;
      }
      if (!meter_outcome_delivered(oc))
        printf("record %zu (%s): %s: %s\n", i, meter_results_idempotency_key(res, i),
               meter_outcome_name(oc),
               meter_results_message(res, i) ? meter_results_message(res, i) : "");
    }
  }
  printf("%ld records in %ld requests: %ld accepted, %ld duplicate, %ld rejected, %ld failed, "
         "%ld invalid -> %s\n", count, requests, by_outcome[METER_OUTCOME_ACCEPTED],
         by_outcome[METER_OUTCOME_DUPLICATE], by_outcome[METER_OUTCOME_REJECTED],
         by_outcome[METER_OUTCOME_FAILED], by_outcome[METER_OUTCOME_INVALID], meter_strerror(rc));
  meter_results_free(res);
  for (long i = 0; i < count; i++)
    meter_record_free(recs[i]);
  free(recs);
  meter_client_free(client);
  return rc == METER_OK ? 0 : 1;
}
