/*
 * Sends one usage record to Tackle.io and prints the outcome.
 *
 *   TACKLE_CLIENT_ID=... TACKLE_CLIENT_SECRET=... \
 *     ./tackle [ENDPOINT [PRODUCT CUSTOMER DIMENSION QUANTITY]]
 *
 * ENDPOINT defaults to $METER_ENDPOINT, else Tackle itself. Against the
 * local emulator:  meter-sandbox --port 8080 &
 *   TACKLE_CLIENT_ID=sandbox-tackle-id TACKLE_CLIENT_SECRET=sandbox-tackle-secret \
 *     ./tackle http://127.0.0.1:8080
 * Set METER_VERBOSE=1 to see the library's log lines (secrets are redacted).
 * Exit status: 0 delivered, 1 not.
 */
#include <meter.h>

#include <stdio.h>
#include <stdlib.h>

static void log_line(meter_log_level level, const char *message, void *payload)
{
  (void)payload;
  fprintf(stderr, "libmeter[%d]: %s\n", (int)level, message);
}

static const char *arg_or(int argc, char **argv, int i, const char *dflt)
{
  return argc > i ? argv[i] : dflt;
}

int main(int argc, char **argv)
{
  const char *endpoint = arg_or(argc, argv, 1, getenv("METER_ENDPOINT"));
  const char *id = getenv("TACKLE_CLIENT_ID"), *secret = getenv("TACKLE_CLIENT_SECRET");
  if (!id || !secret) {
    fprintf(stderr, "set TACKLE_CLIENT_ID and TACKLE_CLIENT_SECRET\n");
    return 2;
  }

  /* The client: back end, credentials by setting name, endpoint override. */
  meter_setting settings[] = { { "client_id", id }, { "client_secret", secret } };
  meter_client_options opts = METER_CLIENT_OPTIONS_INIT;
  opts.backend = "tackle";
  opts.endpoint = endpoint && *endpoint ? endpoint : NULL;
  opts.settings = settings;
  opts.settings_count = 2;
  if (getenv("METER_VERBOSE")) {
    opts.log = log_line;
    opts.log_level = METER_LOG_DEBUG;
  }
  meter_client *client;
  meter_error err;
  if (meter_client_new(&client, &opts, &err) != METER_OK) {
    fprintf(stderr, "cannot create the client: %s\n", err.message);
    return 2;
  }

  /* The record: "customer used QUANTITY of DIMENSION of PRODUCT, now". It
   * already has an idempotency key and the current time. */
  meter_record *rec;
  if (meter_record_new(&rec) != METER_OK) {
    meter_client_free(client);
    return 2;
  }
  const struct {
    meter_field field;
    const char *value;
  } fields[] = {
    { METER_FIELD_PRODUCT, arg_or(argc, argv, 2, "example-product") },
    { METER_FIELD_CUSTOMER, arg_or(argc, argv, 3, "example-customer") },
    { METER_FIELD_DIMENSION, arg_or(argc, argv, 4, "users") },
    { METER_FIELD_QUANTITY, arg_or(argc, argv, 5, "42") },
  };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    if (meter_record_set(rec, fields[i].field, fields[i].value) != METER_OK) {
      fprintf(stderr, "%s\n", meter_record_errmsg(rec)); /* names the field and the rule */
      meter_record_free(rec);
      meter_client_free(client);
      return 2;
    }
  }

  meter_results *res = NULL;
  int rc = meter_send(client, &rec, 1, &res);
  int delivered = 0;
  if (res) {
    meter_outcome oc = meter_results_outcome(res, 0);
    delivered = meter_outcome_delivered(oc);
    printf("%s: record %s, status %s, HTTP %d, %u attempt(s), idempotency key %s\n",
           meter_outcome_name(oc),
           meter_results_record_id(res, 0) ? meter_results_record_id(res, 0) : "-",
           meter_results_status(res, 0) ? meter_results_status(res, 0) : "-",
           meter_results_http_status(res, 0), meter_results_attempts(res, 0),
           meter_results_idempotency_key(res, 0));
    if (!delivered)
      printf("  %s: %s\n", meter_results_error_code(res, 0) ? meter_results_error_code(res, 0) : "",
             meter_results_message(res, 0) ? meter_results_message(res, 0) : "");
  } else {
    char why[256];
    meter_client_last_error(client, why, sizeof why);
    fprintf(stderr, "meter_send: %s: %s\n", meter_strerror(rc), why);
  }
  meter_results_free(res);
  meter_record_free(rec);
  meter_client_free(client);
  return delivered ? 0 : 1;
}
