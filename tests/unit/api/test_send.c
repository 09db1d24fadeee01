/* The generic sender: validation, grouping by batch key and limit, outcomes
 * and the overall status, with a fake back end and a scripted transport. */
#include "test_util.h"

#include "api/client.h"
#include "fake_backend.h"
#include "fake_clock.h"
#include "fake_transport.h"

#include <string.h>

typedef struct fx {
  fake_transport t;
  fake_clock fc;
  meter_client *c;
} fx;

static int setup(void **state)
{
  fx *f = calloc(1, sizeof *f);
  fake_transport_init(&f->t);
  fake_clock_init(&f->fc, INT64_C(1704067200000000));
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  meter_setting s[] = { { "token", "tok-abcdef" } };
  o.settings = s;
  o.settings_count = 1;
  mtr_client_seams seams = { &f->t.base, &f->fc.hooks, &fake_backend_ops };
  meter_error e;
  assert_int_equal(mtr_client_new_with(&f->c, &o, &seams, &e), METER_OK);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  fx *f = *state;
  meter_client_free(f->c);
  fake_transport_dispose(&f->t);
  free(f);
  return 0;
}

static void test_batches_by_key_and_limit(void **state)
{
  fx *f = *state;
  meter_record *r[7];
  const char *products[7] = { "A", "B", "A", "A", "A", "B", "A" };
  for (int i = 0; i < 7; i++)
    r[i] = rec_of("product", products[i], "customer", "c", "quantity", "1", NULL);
  /* A: 5 records -> requests of 3 and 2; B: 2 records -> one request. */
  fake_push(&f->t, 200, NULL, "{\"outcomes\":[\"ok\",\"ok\",\"ok\"]}");
  fake_push(&f->t, 200, NULL, "{\"outcomes\":[\"ok\",\"dup\"]}");
  fake_push(&f->t, 200, NULL, "{\"outcomes\":[\"ok\",\"ok\"]}");
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 7, &res), METER_OK);
  assert_int_equal(f->t.nsent, 3);
  /* The first request carries records 0, 2, 3 (first three of product A). */
  char want[256];
  snprintf(want, sizeof want, "[\"%s\",\"%s\",\"%s\"]",
           meter_record_get(r[0], METER_FIELD_IDEMPOTENCY_KEY),
           meter_record_get(r[2], METER_FIELD_IDEMPOTENCY_KEY),
           meter_record_get(r[3], METER_FIELD_IDEMPOTENCY_KEY));
  assert_string_equal(f->t.sent[0].body, want);
  assert_int_equal(meter_results_count(res), 7);
  assert_int_equal(meter_results_outcome(res, 6), METER_OUTCOME_DUPLICATE);
  assert_true(meter_outcome_delivered(meter_results_outcome(res, 6)));
  assert_string_equal(meter_results_idempotency_key(res, 1),
                      meter_record_get(r[1], METER_FIELD_IDEMPOTENCY_KEY));
  assert_int_equal(meter_results_http_status(res, 0), 200);
  assert_int_equal(meter_results_attempts(res, 0), 1);
  meter_results_free(res);
  for (int i = 0; i < 7; i++)
    meter_record_free(r[i]);
}

static void test_invalid_never_sent_and_status_order(void **state)
{
  fx *f = *state;
  meter_record *r[3];
  r[0] = rec_of("product", "A", "customer", "c", NULL);
  r[1] = rec_of("product", "A", NULL); /* no customer: invalid */
  r[2] = rec_of("product", "A", "customer", "c", NULL);
  fake_push(&f->t, 200, NULL, "{\"outcomes\":[\"ok\",\"rejected\"]}");
  meter_results *res;
  /* Invalid outranks rejected. */
  assert_int_equal(meter_send(f->c, r, 3, &res), METER_EINVAL);
  assert_int_equal(f->t.nsent, 1);
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_INVALID);
  assert_string_equal(meter_results_field(res, 1), "customer");
  assert_non_null(strstr(meter_results_message(res, 1), "customer: required"));
  assert_int_equal(meter_results_outcome(res, 2), METER_OUTCOME_REJECTED);
  assert_string_equal(meter_results_error_code(res, 2), "Nope");
  char buf[256];
  assert_int_equal(meter_client_last_error(f->c, buf, sizeof buf), METER_EINVAL);
  assert_non_null(strstr(buf, "invalid"));
  meter_results_free(res);

  /* Only rejected: EREJECTED. */
  meter_record *ok[1] = { r[0] };
  fake_push(&f->t, 200, NULL, "{\"outcomes\":[\"rejected\"]}");
  assert_int_equal(meter_send(f->c, ok, 1, &res), METER_EREJECTED);
  meter_results_free(res);
  for (int i = 0; i < 3; i++)
    meter_record_free(r[i]);
}

static void test_transient_failure_reported_per_record(void **state)
{
  fx *f = *state;
  meter_record *r[2] = { rec_of("product", "A", "customer", "c", NULL),
                         rec_of("product", "B", "customer", "c", NULL) };
  for (int i = 0; i < 5; i++)
    fake_push(&f->t, 503, NULL, NULL);
  fake_push(&f->t, 200, NULL, "{\"outcomes\":[\"ok\"]}");
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 2, &res), METER_EUNDELIVERED);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
  assert_int_equal(meter_results_attempts(res, 0), 5);
  assert_non_null(strstr(meter_results_message(res, 0), "gave up after 5 attempts"));
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_ACCEPTED);
  meter_results_free(res);
  meter_record_free(r[0]);
  meter_record_free(r[1]);
}

static void test_auth_failure_stops_other_batches(void **state)
{
  fx *f = *state;
  meter_record *r[2] = { rec_of("product", "A", "customer", "c", NULL),
                         rec_of("product", "B", "customer", "c", NULL) };
  fake_push(&f->t, 401, NULL, "{}");
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 2, &res), METER_EAUTH);
  assert_int_equal(f->t.nsent, 1);
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_FAILED);
  assert_non_null(strstr(meter_results_message(res, 1), "token refused"));
  meter_results_free(res);
  meter_record_free(r[0]);
  meter_record_free(r[1]);
}

static void test_validate_only(void **state)
{
  fx *f = *state;
  meter_record *r[2] = { rec_of("customer", "c", NULL), rec_of("product", "x", NULL) };
  meter_results *res;
  assert_int_equal(meter_validate(f->c, r, 1, &res), METER_OK);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_PENDING);
  meter_results_free(res);
  assert_int_equal(meter_validate(f->c, r, 2, &res), METER_EINVAL);
  assert_int_equal(f->t.nsent, 0);
  meter_results_free(res);
  meter_record_free(r[0]);
  meter_record_free(r[1]);
}

static void test_null_record_and_empty(void **state)
{
  fx *f = *state;
  meter_record *r[1] = { NULL };
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 1, &res), METER_EINVAL);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_INVALID);
  meter_results_free(res);
  assert_int_equal(meter_send(f->c, NULL, 0, &res), METER_OK);
  assert_int_equal(meter_results_count(res), 0);
  meter_results_free(res);
  assert_int_equal(meter_send(NULL, r, 1, &res), METER_EINVAL);
  assert_null(res);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_batches_by_key_and_limit, setup, teardown),
    cmocka_unit_test_setup_teardown(test_invalid_never_sent_and_status_order, setup, teardown),
    cmocka_unit_test_setup_teardown(test_transient_failure_reported_per_record, setup, teardown),
    cmocka_unit_test_setup_teardown(test_auth_failure_stops_other_batches, setup, teardown),
    cmocka_unit_test_setup_teardown(test_validate_only, setup, teardown),
    cmocka_unit_test_setup_teardown(test_null_record_and_empty, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
