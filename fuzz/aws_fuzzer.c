/* AWS Marketplace Metering answers (JSON 1.1: results, errors with
 * __type / x-amzn-ErrorType, Date for clock skew) through the real entry
 * points: the first byte picks the call (MeterUsage, BatchMeterUsage,
 * ResolveCustomer, RegisterUsage), the rest is the script of answers. */
#include "fuzz.h"
#include "fuzz_client.h"

#include "meter/aws.h"

#define T "2024-01-01T13:00:00Z"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  int mode = data[0] % 4;
  fuzz_env e;
  if (fuzz_client_new(&e, "aws", data + 1, size - 1, "region", "us-east-1", "access_key_id",
                      "AKIDFUZZEXAMPLE", "secret_access_key", FUZZ_SECRET, "session_token",
                      FUZZ_TOKEN, "product_code", "prod-1", NULL) != 0)
    return 0;
  meter_record *r[3] = {
    fuzz_record("customer", "cust-1", "dimension", "users", "quantity", "3", "time", T, NULL),
    fuzz_record("customer", "cust-2", "dimension", "users", "quantity", "4", "time", T, NULL),
    fuzz_record("customer_account_id", "111122223333", "dimension", "gb", "quantity", "5",
                "time", T, NULL),
  };
  meter_results *res = NULL;
  if (!r[0] || !r[1] || !r[2])
    goto out;
  switch (mode) {
  case 0: {
    meter_record *one[1];
    meter_record_free(r[1]);
    r[1] = fuzz_record("dimension", "users", "quantity", "3", "time", T, NULL);
    one[0] = r[1];
    if (one[0])
      meter_send(e.c, one, 1, &res);
    fuzz_check_results(res);
    break;
  }
  case 1:
    meter_send(e.c, r, 3, &res);
    fuzz_check_results(res);
    break;
  case 2: {
    meter_aws_customer *cu = NULL;
    meter_aws_resolve_customer(&cu, e.c, "reg-token");
    if (cu) {
      meter_aws_customer_identifier(cu);
      meter_aws_customer_account_id(cu);
      meter_aws_customer_product_code(cu);
      meter_aws_customer_license_arn(cu);
      meter_aws_customer_error_code(cu);
      meter_aws_customer_message(cu);
      meter_aws_customer_request_id(cu);
    }
    meter_aws_customer_free(cu);
    break;
  }
  case 3: {
    meter_aws_registration *reg = NULL;
    meter_aws_register_usage(&reg, e.c, NULL, 1, "nonce-1");
    if (reg) {
      meter_aws_registration_signature(reg);
      meter_aws_registration_key_rotation_us(reg);
      meter_aws_registration_error_code(reg);
      meter_aws_registration_message(reg);
      meter_aws_registration_request_id(reg);
    }
    meter_aws_registration_free(reg);
    break;
  }
  }
out:
  meter_results_free(res);
  for (int i = 0; i < 3; i++)
    meter_record_free(r[i]);
  fuzz_client_free(&e);
  return 0;
}
