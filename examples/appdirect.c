/*
 * Sends one usage record to AppDirect (Billing Usage v2), then waits for
 * AppDirect to process it and prints the final outcome.
 *
 *   APPDIRECT_CLIENT_ID=... APPDIRECT_CLIENT_SECRET=... \
 *     ./appdirect [BASE_URL [ACCOUNT UNIT QUANTITY]]
 *
 * BASE_URL defaults to $APPDIRECT_BASE_URL (the marketplace, e.g.
 * https://www.acme-marketplace.com). Against the local emulator:
 *   APPDIRECT_CLIENT_ID=sandbox-appdirect-id APPDIRECT_CLIENT_SECRET=sandbox-appdirect-secret \
 *     ./appdirect http://127.0.0.1:8080
 * AppDirect answers 202 at once and rates usage later: an "accepted" record
 * can still fail (BAD_DATA), which only the status query tells.
 * Exit status: 0 delivered, 1 not.
 */
#include <meter.h>
#include <meter/appdirect.h>

#include <stdio.h>
#include <stdlib.h>

static const char *arg_or(int argc, char **argv, int i, const char *dflt)
{
  return argc > i ? argv[i] : dflt;
}

static void print_result(const char *when, const meter_results *res)
{
  meter_outcome oc = meter_results_outcome(res, 0);
  printf("%s: %s (status %s", when, meter_outcome_name(oc),
         meter_results_status(res, 0) ? meter_results_status(res, 0) : "-");
  if (meter_results_request_id(res, 0))
    printf(", request %s", meter_results_request_id(res, 0));
  if (meter_results_error_code(res, 0))
    printf(", %s: %s", meter_results_error_code(res, 0),
           meter_results_message(res, 0) ? meter_results_message(res, 0) : "");
  printf(")\n");
}

int main(int argc, char **argv)
{
  const char *base = arg_or(argc, argv, 1, getenv("APPDIRECT_BASE_URL"));
  const char *id = getenv("APPDIRECT_CLIENT_ID"), *secret = getenv("APPDIRECT_CLIENT_SECRET");
  if (!base || !id || !secret) {
    fprintf(stderr, "usage: APPDIRECT_CLIENT_ID=.. APPDIRECT_CLIENT_SECRET=.. %s BASE_URL "
                    "[ACCOUNT UNIT QUANTITY]\n", argv[0]);
    return 2;
  }
  meter_setting settings[] = { { "base_url", base }, { "client_id", id },
                               { "client_secret", secret } };
  meter_client_options opts = METER_CLIENT_OPTIONS_INIT;
  opts.backend = "appdirect";
  opts.settings = settings;
  opts.settings_count = 3;
  meter_client *client;
  meter_error err;
  if (meter_client_new(&client, &opts, &err) != METER_OK) {
    fprintf(stderr, "cannot create the client: %s\n", err.message);
    return 2;
  }

  /* Preconfigured usage: ACCOUNT used QUANTITY of UNIT. */
  meter_record *rec;
  if (meter_record_new(&rec) != METER_OK)
    return 2;
  if (meter_record_set(rec, METER_FIELD_ACCOUNT, arg_or(argc, argv, 2, "example-account")) ||
      meter_record_set(rec, METER_FIELD_PRICING_UNIT, arg_or(argc, argv, 3, "USER")) ||
      meter_record_set(rec, METER_FIELD_QUANTITY, arg_or(argc, argv, 4, "10")) ||
      meter_record_set_attribute(rec, "source", "libmeter example")) {
    fprintf(stderr, "%s\n", meter_record_errmsg(rec));
    return 2;
  }

  meter_results *res = NULL;
  int rc = meter_send(client, &rec, 1, &res);
  int delivered = 0;
  if (!res) {
    char why[256];
    meter_client_last_error(client, why, sizeof why);
    fprintf(stderr, "meter_send: %s: %s\n", meter_strerror(rc), why);
  } else {
    print_result("sent", res);
    if (meter_outcome_delivered(meter_results_outcome(res, 0))) {
      /* Wait (up to 30 s) for AppDirect to rate the request, then fold its
       * verdict into the result: a failed event becomes REJECTED. */
      meter_appdirect_status *st = NULL;
      rc = meter_appdirect_status_wait(&st, client, meter_results_status_path(res, 0), 30000, 200);
      if (st) {
        printf("request %s: %s\n", meter_appdirect_status_request_id(st),
               meter_appdirect_state_name(meter_appdirect_status_state(st)));
        if (rc == METER_OK)
          meter_appdirect_status_apply(res, NULL, st);
      } else {
        char why[256];
        meter_client_last_error(client, why, sizeof why);
        fprintf(stderr, "status: %s: %s\n", meter_strerror(rc), why);
      }
      meter_appdirect_status_free(st);
      print_result("processed", res);
    }
    delivered = meter_outcome_delivered(meter_results_outcome(res, 0));
  }
  meter_results_free(res);
  meter_record_free(rec);
  meter_client_free(client);
  return delivered ? 0 : 1;
}
