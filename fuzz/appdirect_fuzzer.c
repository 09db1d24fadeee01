/* AppDirect answers through the real entry points: the first byte picks the
 * call (send after a token answer, status get, status wait, status folded
 * into results), the rest is the script of answers (fuzz_transport.h). */
#include "fuzz.h"
#include "fuzz_client.h"

#include "meter/appdirect.h"

#define T "2024-01-01T13:00:00Z"

static void check_status(const meter_appdirect_status *s)
{
  meter_appdirect_status_state(s);
  meter_appdirect_status_string(s);
  meter_appdirect_status_request_id(s);
  meter_appdirect_status_idempotency_key(s);
  meter_appdirect_status_total_count(s);
  meter_appdirect_status_processed_count(s);
  meter_appdirect_status_failed_count(s);
  size_t n = meter_appdirect_status_failed_usage_count(s);
  for (size_t i = 0; i < n; i++) {
    meter_appdirect_status_failed_account_id(s, i);
    meter_appdirect_status_failed_event_id(s, i);
    meter_appdirect_status_failed_error_code(s, i);
    meter_appdirect_status_failed_error_description(s, i);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  int mode = data[0] % 4;
  fuzz_env e;
  if (fuzz_client_new(&e, "appdirect", data + 1, size - 1, "client_id", "fz-id",
                      "client_secret", FUZZ_SECRET, NULL) != 0)
    return 0;
  meter_record *r[2] = {
    fuzz_record("customer", "acct-1", "pricing_unit", "USER", "quantity", "3", "time", T, NULL),
    fuzz_record("customer", "acct-2", "custom_unit", "GB", "price", "0.25", "currency", "EUR",
                "quantity", "1.5", "time", T, NULL),
  };
  meter_results *res = NULL;
  meter_appdirect_status *st = NULL;
  if (!r[0] || !r[1])
    goto out;
  switch (mode) {
  case 0:
    meter_send(e.c, r, 2, &res);
    fuzz_check_results(res);
    break;
  case 1:
    if (meter_appdirect_status_get(&st, e.c, "db0879f1-0000-4000-8000-000000000001") == METER_OK)
      check_status(st);
    break;
  case 2:
    meter_appdirect_status_wait(&st, e.c,
                                "/api/integration/v2/billing/usage/requests/req-1", 20000, 500);
    if (st)
      check_status(st);
    break;
  case 3:
    meter_send(e.c, r, 2, &res);
    if (res && meter_results_request_id(res, 0)) {
      const char *path = meter_results_status_path(res, 0);
      if (meter_appdirect_status_get(&st, e.c, path ? path : meter_results_request_id(res, 0))
          == METER_OK) {
        size_t updated = 0;
        meter_appdirect_status_apply(res, &updated, st);
        fuzz_check_results(res);
      }
    }
    break;
  }
out:
  meter_appdirect_status_free(st);
  meter_results_free(res);
  meter_record_free(r[0]);
  meter_record_free(r[1]);
  fuzz_client_free(&e);
  return 0;
}
