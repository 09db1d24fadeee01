/* Every allocation of a Tackle send, a POST reconciliation and a listing
 * fails once in turn: each call must end cleanly (an error or success,
 * never a crash or a leak; run under ASan by scripts/test.sh). */
#include "tk_fixture.h"

#include "core/alloc.h"
#include "meter/tackle.h"

#define T "2024-01-01T13:05:00Z"
#define JSON "Content-Type: application/json\n"

typedef void (*scenario)(tk_fx *f, meter_record **r);

static void script_put(tk_fx *f, meter_record **r)
{
  tk_push_token(f, "tok-one-aaaaaa", 5400);
  tk_push_echo(f, r, 2);
}

static void script_post_reconcile(tk_fx *f, meter_record **r)
{
  tk_push_token(f, "tok-one-aaaaaa", 5400);
  fake_push_net(&f->t, MTR_NET_RESET, 1);
  char *one = tk_usage_record_json(r[0], "id-x", "idle");
  char body[4096];
  snprintf(body, sizeof body, "{\"data\":[%s],\"metadata\":{\"next_page_token\":null}}", one);
  free(one);
  fake_push(&f->t, 200, JSON, body);
  fake_push(&f->t, 200, JSON, "{\"data\":[],\"metadata\":{}}");
  tk_push_echo(f, &r[1], 1);
}

static int run(scenario s, const char *method, long fail_at)
{
  tk_fx *f = tk_fx_new("client_id", "id-1", "client_secret", "secret-xyz-1", "method", method, NULL);
  meter_record *r[2] = {
    rec_of("product", "p", "customer", "c1", "dimension", "d", "quantity", "1", "time", T, NULL),
    rec_of("product", "p", "customer", "c2", "dimension", "d", "quantity", "2", "time", T, NULL),
  };
  s(f, r);
  meter_results *res = NULL;
  mtr_alloc_fail_at(fail_at);
  int rc = meter_send(f->c, r, 2, &res);
  mtr_alloc_fail_at(0);
  meter_results_free(res);
  meter_record_free(r[0]);
  meter_record_free(r[1]);
  tk_fx_free(f);
  return rc;
}

static void torture(scenario s, const char *method)
{
  /* How many allocations a whole successful call makes, then fail each. */
  long before = mtr_alloc_count();
  assert_int_equal(run(s, method, 0), METER_OK);
  long total = mtr_alloc_count() - before;
  assert_true(total > 20);
  int failures = 0;
  for (long n = 1; n <= total; n++)
    failures += run(s, method, n) != METER_OK;
  print_message("%s: %ld allocations, %d calls failed\n", method, total, failures);
  assert_true(failures > 0);
}

static void test_put_under_allocation_failures(void **state)
{
  (void)state;
  torture(script_put, "put");
}

static void test_post_reconcile_under_allocation_failures(void **state)
{
  (void)state;
  torture(script_post_reconcile, "post");
}

static void test_list_under_allocation_failures(void **state)
{
  (void)state;
  for (long n = 1; n < 400; n++) {
    tk_fx *f = tk_fx_new("access_token", "tok-static-123456", NULL);
    fake_push(&f->t, 200, JSON,
              "{\"data\":[{\"id\":\"a\",\"product_id\":\"p\",\"dimension\":{\"name\":\"d\",\"quantity\":1},"
              "\"start_time\":\"2024-01-01T13:00:00Z\"}],\"metadata\":{\"next_page_token\":\"n\"}}");
    fake_push(&f->t, 200, JSON, "{\"data\":[],\"metadata\":{}}");
    const char *c[] = { "c1" };
    meter_tackle_list_options o = METER_TACKLE_LIST_OPTIONS_INIT;
    o.customer_ids = c;
    o.customer_id_count = 1;
    meter_tackle_list *it = NULL;
    mtr_alloc_fail_at(n);
    int rc = meter_tackle_list_new(&it, f->c, &o);
    const meter_tackle_record *r = NULL;
    int steps = 0;
    while (rc == METER_OK && steps++ < 4) {
      rc = meter_tackle_list_next(it, &r);
      if (rc == METER_OK && !r)
        break;
    }
    mtr_alloc_fail_at(0);
    meter_tackle_list_free(it);
    tk_fx_free(f);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_put_under_allocation_failures),
    cmocka_unit_test(test_post_reconcile_under_allocation_failures),
    cmocka_unit_test(test_list_under_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
