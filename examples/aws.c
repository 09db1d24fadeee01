/*
 * The AWS Marketplace SaaS flow: resolve a buyer's registration token to the
 * customer, then report that customer's usage (BatchMeterUsage).
 *
 *   ./aws [ENDPOINT [REGISTRATION_TOKEN [DIMENSION QUANTITY]]]
 *
 * Credentials and region come from the standard chain (AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the instance or task role, ...).
 * ENDPOINT defaults to $METER_ENDPOINT, else AWS itself ("" for AWS when a
 * token follows). Against the local emulator:
 *   AWS_ACCESS_KEY_ID=AKIDSANDBOXEXAMPLE AWS_SECRET_ACCESS_KEY='sandbox+secret/KEY/EXAMPLE' \
 *     ./aws http://127.0.0.1:8080 sandbox-registration-token
 * Exit status: 0 delivered, 1 not (or the token was refused).
 */
#include <meter.h>
#include <meter/aws.h>

#include <stdio.h>
#include <stdlib.h>

static const char *arg_or(int argc, char **argv, int i, const char *dflt)
{
  return argc > i ? argv[i] : dflt;
}

static int fail(meter_client *c, const char *what, int rc)
{
  char why[256];
  meter_client_last_error(c, why, sizeof why);
  fprintf(stderr, "%s: %s: %s\n", what, meter_strerror(rc), why);
  return 1;
}

int main(int argc, char **argv)
{
  const char *endpoint = arg_or(argc, argv, 1, getenv("METER_ENDPOINT"));
  const char *token = arg_or(argc, argv, 2, "sandbox-registration-token");
  meter_client_options opts = METER_CLIENT_OPTIONS_INIT;
  opts.backend = "aws";
  opts.endpoint = endpoint && *endpoint ? endpoint : NULL;
  meter_client *client;
  meter_error err;
  if (meter_client_new(&client, &opts, &err) != METER_OK) {
    fprintf(stderr, "cannot create the client: %s\n", err.message);
    return 2;
  }

  /* Which credentials and region will sign: worth logging at start-up. */
  char source[64], region[64];
  int rc = meter_aws_credential_source(client, source, sizeof source);
  if (rc != METER_OK) {
    rc = fail(client, "credentials", rc);
    meter_client_free(client);
    return rc;
  }
  meter_aws_region(client, region, sizeof region);
  printf("credentials from %s, region %s\n", source, region);

  /* Registration: the token the buyer's browser posted -> the customer. */
  meter_aws_customer *cust = NULL;
  rc = meter_aws_resolve_customer(&cust, client, token);
  if (rc != METER_OK) {
    if (cust)
      fprintf(stderr, "token refused: %s\n", meter_aws_customer_error_code(cust));
    else
      fail(client, "resolve customer", rc);
    meter_aws_customer_free(cust);
    meter_client_free(client);
    return 1;
  }
  printf("customer: account %s, product %s, license %s\n",
         meter_aws_customer_account_id(cust) ? meter_aws_customer_account_id(cust) : "-",
         meter_aws_customer_product_code(cust),
         meter_aws_customer_license_arn(cust) ? meter_aws_customer_license_arn(cust) : "-");

  /* Usage for that customer: new SaaS integrations identify the buyer by
   * account id (older ones by CustomerIdentifier). */
  meter_record *rec;
  if (meter_record_new(&rec) != METER_OK)
    return 2;
  const char *account = meter_aws_customer_account_id(cust);
  int bad = meter_record_set(rec, METER_FIELD_PRODUCT, meter_aws_customer_product_code(cust)) ||
            (account ? meter_record_set(rec, METER_FIELD_CUSTOMER_ACCOUNT_ID, account)
                     : meter_record_set(rec, METER_FIELD_CUSTOMER,
                                        meter_aws_customer_identifier(cust))) ||
            meter_record_set(rec, METER_FIELD_DIMENSION, arg_or(argc, argv, 3, "requests")) ||
            meter_record_set(rec, METER_FIELD_QUANTITY, arg_or(argc, argv, 4, "100"));
  meter_aws_customer_free(cust);
  if (bad) {
    fprintf(stderr, "%s\n", meter_record_errmsg(rec));
    meter_record_free(rec);
    meter_client_free(client);
    return 2;
  }

  meter_results *res = NULL;
  rc = meter_send(client, &rec, 1, &res);
  int delivered = 0;
  if (res) {
    meter_outcome oc = meter_results_outcome(res, 0);
    delivered = meter_outcome_delivered(oc);
    printf("%s: MeteringRecordId %s, status %s, %u attempt(s)%s%s\n", meter_outcome_name(oc),
           meter_results_record_id(res, 0) ? meter_results_record_id(res, 0) : "-",
           meter_results_status(res, 0) ? meter_results_status(res, 0) : "-",
           meter_results_attempts(res, 0), delivered ? "" : ": ",
           delivered ? "" : (meter_results_message(res, 0) ? meter_results_message(res, 0) : ""));
  } else {
    fail(client, "meter_send", rc);
  }
  meter_results_free(res);
  meter_record_free(rec);
  meter_client_free(client);
  return delivered ? 0 : 1;
}
