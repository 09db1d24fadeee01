/* meter send: one record from flags, sent (or validated, or spooled). */
#include "cli.h"
#include "config.h"
#include "output.h"
#include "record_build.h"
#include "spool_submit.h"

#include <string.h>

/* A line on stderr saying what went wrong and what to do about it. */
void cli_explain(meter_client *c, int rc, const char *resend_key)
{
  if (rc == METER_OK)
    return;
  char detail[METER_ERROR_MESSAGE_SIZE] = "";
  meter_client_last_error(c, detail, sizeof detail);
  int code = cli_exit_for_status(rc);
  switch (code) {
  case CLI_EXIT_CONFIG:
    cli_msg("configuration or credentials problem: %s", detail[0] ? detail : meter_strerror(rc));
    break;
  case CLI_EXIT_TRANSIENT:
    cli_msg("not delivered after retries: %s", detail[0] ? detail : meter_strerror(rc));
    if (resend_key)
      cli_msg("safe to resend with --idempotency-key %s (the marketplace will recognise it)",
              resend_key);
    break;
  case CLI_EXIT_USAGE:
    cli_msg("invalid: %s", detail[0] ? detail : meter_strerror(rc));
    break;
  case CLI_EXIT_REJECTED:
    cli_msg("rejected by the marketplace: %s", detail[0] ? detail : meter_strerror(rc));
    break;
  default:
    cli_msg("%s: %s", meter_strerror(rc), detail);
  }
}

int cmd_send(cli_opts *o)
{
  if (o->nargs)
    return cli_fail(CLI_EXIT_USAGE, "meter send takes no arguments, got \"%.40s\" "
                    "(flags are --name value; see meter send --help)", o->args[0]);
  if (o->deliver && !o->spool)
    return cli_fail(CLI_EXIT_USAGE, "--deliver goes with --spool PATH");

  /* Bad input is reported before any configuration is needed. */
  meter_record *r;
  rec_error err;
  if (cli_build_record(o, NULL, &r, &err) != METER_OK) {
    if (o->json) {
      out_ctx out = { stdout, 1, 0, "index", 0, 0 };
      out_bad_line(&out, 0, &err);
    }
    return cli_fail(CLI_EXIT_USAGE, "%s", err.message);
  }

  meter_client *c;
  int code = cli_client_new(o, &c);
  if (code) {
    meter_record_free(r);
    return code;
  }
  if (o->spool) {
    cli_spooler *sp;
    if ((code = cli_spooler_open(o, c, &sp)) == 0) {
      out_ctx out = { stdout, o->json, !o->json, "index", 0, 0 };
      spool_outcome so;
      code = cli_spooler_submit(sp, &r, 1, &so);
      cli_spool_print(&out, 0, r, &so);
      if (so.status != METER_OK)
        cli_msg("not spooled: %s", so.message);
      code = cli_exit_worst(code, cli_spooler_finish(sp));
    }
    meter_record_free(r);
    cli_client_free(c);
    return code;
  }

  meter_results *res = NULL;
  int rc = o->validate_only ? meter_validate(c, &r, 1, &res) : meter_send(c, &r, 1, &res);
  if (res) {
    out_ctx out = { stdout, o->json, !o->json, "index", o->validate_only, 0 };
    out_result(&out, 0, res, 0);
  }
  meter_outcome oc = res ? meter_results_outcome(res, 0) : METER_OUTCOME_PENDING;
  cli_explain(c, rc, oc == METER_OUTCOME_FAILED ? meter_record_get(r, METER_FIELD_IDEMPOTENCY_KEY)
                                                : NULL);
  meter_results_free(res);
  meter_record_free(r);
  cli_client_free(c);
  return cli_exit_for_status(rc);
}
