/* meter status REQUEST_ID: the processing status of an AppDirect usage
 * request (meter/appdirect.h), once or (--wait) until it is final. */
#include "cli.h"
#include "config.h"
#include "output.h"

#include <meter/appdirect.h>

#include <inttypes.h>
#include <string.h>

static void print_count(const char *key, int64_t v, int json)
{
  if (json) {
    printf(",\"%s\":", key);
    if (v < 0)
      printf("null");
    else
      printf("%" PRId64, v);
  } else if (v >= 0) {
    printf("%-16s %" PRId64 "\n", key, v);
  }
}

static void print_status(const meter_appdirect_status *st, int json)
{
  meter_appdirect_state state = meter_appdirect_status_state(st);
  size_t nfail = meter_appdirect_status_failed_usage_count(st);
  if (json) {
    printf("{\"request_id\":");
    out_json_string(stdout, meter_appdirect_status_request_id(st));
    printf(",\"idempotency_key\":");
    out_json_string(stdout, meter_appdirect_status_idempotency_key(st));
    printf(",\"state\":");
    out_json_string(stdout, meter_appdirect_state_name(state));
    printf(",\"final\":%s,\"status\":", meter_appdirect_state_is_final(state) ? "true" : "false");
    out_json_string(stdout, meter_appdirect_status_string(st));
  } else {
    printf("%-16s %s\n", "request_id", meter_appdirect_status_request_id(st)
                                         ? meter_appdirect_status_request_id(st) : "-");
    if (meter_appdirect_status_idempotency_key(st))
      printf("%-16s %s\n", "idempotency_key", meter_appdirect_status_idempotency_key(st));
    printf("%-16s %s%s\n", "state", meter_appdirect_state_name(state),
           meter_appdirect_state_is_final(state) ? " (final)" : "");
  }
  print_count("total_count", meter_appdirect_status_total_count(st), json);
  print_count("processed_count", meter_appdirect_status_processed_count(st), json);
  print_count("failed_count", meter_appdirect_status_failed_count(st), json);
  if (json)
    printf(",\"failed_usages\":[");
  for (size_t i = 0; i < nfail; i++) {
    const char *acc = meter_appdirect_status_failed_account_id(st, i);
    const char *ev = meter_appdirect_status_failed_event_id(st, i);
    const char *code = meter_appdirect_status_failed_error_code(st, i);
    const char *desc = meter_appdirect_status_failed_error_description(st, i);
    if (json) {
      printf("%s{\"account_id\":", i ? "," : "");
      out_json_string(stdout, acc);
      printf(",\"event_id\":");
      out_json_string(stdout, ev);
      printf(",\"error_code\":");
      out_json_string(stdout, code);
      printf(",\"error_description\":");
      out_json_string(stdout, desc);
      printf("}");
    } else {
      printf("%-16s account %s, event %s: %s%s%s\n", "failed", acc ? acc : "-", ev ? ev : "-",
             code ? code : "", code && desc ? ": " : "", desc ? desc : "");
    }
  }
  if (json)
    printf("]}\n");
}

int cmd_status(cli_opts *o)
{
  if (o->nargs != 1)
    return cli_fail(CLI_EXIT_USAGE, "usage: meter status REQUEST_ID (the requestId or status path "
                    "AppDirect returned; see meter status --help)");
  meter_client *c;
  int code = cli_client_new(o, &c);
  if (code)
    return code;
  meter_appdirect_status *st = NULL;
  int rc = o->wait ? meter_appdirect_status_wait(&st, c, o->args[0],
                                                 o->timeout_ms ? o->timeout_ms : 60000, 0)
                   : meter_appdirect_status_get(&st, c, o->args[0]);
  if (st)
    print_status(st, o->json);
  if (rc == METER_OK) {
    if (meter_appdirect_status_state(st) == METER_APPDIRECT_STATE_FAILED)
      code = cli_fail(CLI_EXIT_REJECTED, "AppDirect failed %s of the request's usage events",
                      meter_appdirect_status_failed_count(st) >= 0 ? "some" : "some or all");
  } else if (rc == METER_ETIMEOUT && st) {
    code = cli_fail(CLI_EXIT_TRANSIENT, "still %s after the timeout; ask again later",
                    meter_appdirect_state_name(meter_appdirect_status_state(st)));
  } else if (rc == METER_ENOTFOUND) {
    code = cli_fail(CLI_EXIT_REJECTED, "AppDirect has no usage request %s", o->args[0]);
  } else {
    char detail[METER_ERROR_MESSAGE_SIZE] = "";
    meter_client_last_error(c, detail, sizeof detail);
    code = cli_fail(cli_exit_for_status(rc), "status: %s", detail[0] ? detail : meter_strerror(rc));
  }
  meter_appdirect_status_free(st);
  cli_client_free(c);
  return code;
}
