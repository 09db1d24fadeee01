/* meter resolve-customer TOKEN: AWS Marketplace ResolveCustomer
 * (meter/aws.h), the registration token of a buyer -> the customer. */
#include "cli.h"
#include "config.h"
#include "output.h"

#include <meter/aws.h>

#include <string.h>

static void field(const char *key, const char *value, int json, int *first)
{
  if (json) {
    printf("%s\"%s\":", *first ? "{" : ",", key);
    out_json_string(stdout, value);
    *first = 0;
  } else if (value) {
    printf("%-24s %s\n", key, value);
  }
}

int cmd_resolve_customer(cli_opts *o)
{
  if (o->nargs != 1)
    return cli_fail(CLI_EXIT_USAGE, "usage: meter resolve-customer TOKEN (or - to read it from "
                    "stdin; see meter resolve-customer --help)");
  char token[4096];
  const char *t = o->args[0];
  if (strcmp(t, "-") == 0) {
    /* From stdin, so the token does not show in the process list. */
    if (!fgets(token, sizeof token, stdin))
      return cli_fail(CLI_EXIT_USAGE, "no token on stdin");
    token[strcspn(token, "\r\n")] = '\0';
    t = token;
  }
  if (!*t)
    return cli_fail(CLI_EXIT_USAGE, "the registration token is empty");

  meter_client *c;
  int code = cli_client_new(o, &c);
  if (code)
    return code;
  meter_aws_customer *cust = NULL;
  int rc = meter_aws_resolve_customer(&cust, c, t);
  if (cust) {
    int first = 1;
    field("customer_identifier", meter_aws_customer_identifier(cust), o->json, &first);
    field("customer_aws_account_id", meter_aws_customer_account_id(cust), o->json, &first);
    field("product_code", meter_aws_customer_product_code(cust), o->json, &first);
    field("license_arn", meter_aws_customer_license_arn(cust), o->json, &first);
    field("error_code", meter_aws_customer_error_code(cust), o->json, &first);
    field("message", meter_aws_customer_message(cust), o->json, &first);
    field("request_id", meter_aws_customer_request_id(cust), o->json, &first);
    if (o->json)
      printf("}\n");
  }
  if (rc == METER_EREJECTED && cust) {
    code = cli_fail(CLI_EXIT_REJECTED, "AWS refused the token: %s%s%s",
                    meter_aws_customer_error_code(cust) ? meter_aws_customer_error_code(cust) : "",
                    meter_aws_customer_message(cust) ? ": " : "",
                    meter_aws_customer_message(cust) ? meter_aws_customer_message(cust) : "");
  } else if (rc != METER_OK) {
    char detail[METER_ERROR_MESSAGE_SIZE] = "";
    meter_client_last_error(c, detail, sizeof detail);
    code = cli_fail(cli_exit_for_status(rc), "resolve-customer: %s",
                    detail[0] ? detail : meter_strerror(rc));
  }
  meter_aws_customer_free(cust);
  cli_client_free(c);
  return code;
}
