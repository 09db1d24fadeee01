/* Tackle answers through the real entry points: the first byte picks the
 * call (send with PUT after an /v1/authenticate answer, send with POST and a
 * static token, list pages, get, delete), the rest is the script of answers
 * (fuzz_transport.h). Checks: no crash or leak, every record gets an outcome,
 * no secret in logs/errors/results, no control character in what is sent. */
#include "fuzz.h"
#include "fuzz_client.h"

#include "meter/tackle.h"

#define T "2024-01-01T13:00:00Z"

static void send_records(fuzz_env *e, int n)
{
  meter_record *r[3] = {
    fuzz_record("product", "prod-1", "customer", "cust-1", "dimension", "users", "quantity", "3",
                "time", T, NULL),
    fuzz_record("product", "prod-1", "customer", "cust-2", "dimension", "users", "quantity",
                "0.25", "time", T, NULL),
    fuzz_record("subscription_id", "sub-1", "dimension", "gb", "quantity", "7", "time", T, NULL),
  };
  meter_results *res = NULL;
  if (r[0] && r[1] && r[2]) {
    meter_send(e->c, r, (size_t)n, &res);
    fuzz_check_results(res);
  }
  meter_results_free(res);
  for (int i = 0; i < 3; i++)
    meter_record_free(r[i]);
}

static void check_record(const meter_tackle_record *rec)
{
  for (int a = 0; a <= 17; a++)
    (void)meter_tackle_record_get(rec, (meter_tackle_attr)a);
  meter_tackle_record_start_us(rec);
  meter_tackle_record_end_us(rec);
  (void)meter_tackle_record_json(rec);
}

static void list(fuzz_env *e)
{
  const char *products[] = { "p 1/?&%", "p2" };
  meter_tackle_list_options o = METER_TACKLE_LIST_OPTIONS_INIT;
  o.product_ids = products;
  o.product_id_count = 2;
  o.start_after = "2024-01-01T00:00:00Z";
  o.include_tests = METER_TACKLE_FLAG_FALSE;
  o.page_size = 2;
  meter_tackle_list *it = NULL;
  if (meter_tackle_list_new(&it, e->c, &o) != METER_OK)
    return;
  for (int n = 0; n < 200; n++) {
    const meter_tackle_record *rec = NULL;
    if (meter_tackle_list_next(it, &rec) != METER_OK || !rec)
      break;
    check_record(rec);
    meter_tackle_list_page_token(it);
  }
  meter_tackle_list_free(it);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  int mode = data[0] % 6;
  fuzz_env e;
  int rc = mode == 0 || mode == 5
             ? fuzz_client_new(&e, "tackle", data + 1, size - 1, "client_id", "fz-id",
                               "client_secret", FUZZ_SECRET, NULL)
             : fuzz_client_new(&e, "tackle", data + 1, size - 1, "access_token", FUZZ_TOKEN,
                               "method", mode == 1 ? "post" : "put", NULL);
  if (rc != 0)
    return 0;
  meter_tackle_record *rec = NULL;
  switch (mode) {
  case 0: send_records(&e, 1); send_records(&e, 3); break;
  case 1: send_records(&e, 3); break;
  case 2: list(&e); break;
  case 3:
    if (meter_tackle_get(&rec, e.c, "id/with?odd %chars") == METER_OK && rec)
      check_record(rec);
    break;
  case 4:
    if (meter_tackle_delete(&rec, e.c, "id-1") == METER_OK && rec)
      check_record(rec);
    break;
  case 5: list(&e); break;
  }
  meter_tackle_record_free(rec);
  fuzz_client_free(&e);
  return 0;
}
