/* Tackle's rules before sending (every message names the field and the
 * rule), the batch key and the aggregation rule for the reliable pipeline. */
#include "tk_fixture.h"

#include "backends/tackle/tackle_internal.h"
#include "core/timefmt.h"

#define T "2024-01-01T13:05:00Z"

typedef struct vcase {
  const char *fields[24];   /* name, value pairs */
  const char *field;        /* expected offending field, NULL = valid */
  const char *words;        /* expected in the message */
} vcase;

static const vcase cases[] = {
  { { "product", "p", "customer", "c", "dimension", "d", "quantity", "3" }, NULL, NULL },
  { { "subscription_id", "s1", "dimension", "d", "quantity", "3" }, NULL, NULL },
  { { "customer", "c", "dimension", "d", "quantity", "3" }, "product", "unless subscription_id" },
  { { "product", "p", "dimension", "d", "quantity", "3" }, "customer", "required" },
  { { "subscription_id", "s", "product", "p", "dimension", "d", "quantity", "3" },
    "subscription_id", "not both" },
  { { "product", "p", "customer", "c", "quantity", "3" }, "dimension", "required" },
  { { "product", "p", "customer", "c", "dimension", "d" }, "quantity", "required" },
  { { "product", "p", "customer", "c", "dimension", "d", "quantity", "0" }, "quantity", "allow_zero" },
  { { "product", "p", "customer", "c", "dimension", "d", "quantity", "1.5" }, "quantity", "whole number" },
  { { "cloud", "azure", "product", "p", "customer", "c", "dimension", "d", "quantity", "0.5" },
    "quantity", "whole number" },
  { { "product", "p", "customer", "c", "dimension", "d", "quantity", "2147483648" }, "quantity",
    "at most 2147483647" },
  { { "cloud", "azure", "product", "p", "customer", "c", "dimension", "d", "quantity", "2147483648" },
    NULL, NULL },
  { { "cloud", "gcp", "product", "p", "customer", "c", "dimension", "d", "quantity", "1.5",
      "end_time", "2024-01-01T14:00:00Z" }, NULL, NULL },
  { { "cloud", "gcp", "product", "p", "customer", "c", "dimension", "d", "quantity", "0.5",
      "end_time", "2024-01-01T14:00:00Z" }, "quantity", "at least 1" },
  { { "cloud", "gcp", "product", "p", "customer", "c", "dimension", "d", "quantity", "2" },
    "end_time", "required for cloud gcp" },
  { { "cloud", "gcp", "product", "p", "customer", "c", "dimension", "d", "quantity", "2",
      "end_time", "2024-01-01T13:00:00Z" }, "end_time", "after time" },
  { { "product", "p", "customer", "c", "dimension", "d", "quantity", "2", "end_time",
      "2024-01-01T14:00:00Z" }, "end_time", "only for cloud gcp" },
  { { "cloud", "azure", "product", "p", "customer", "c", "dimension", "d", "quantity", "2",
      "dry_run", "true" }, "dry_run", "only for cloud aws" },
  { { "product", "p", "customer", "c", "dimension", "d", "quantity", "2", "consumer_id", "x" },
    "consumer_id", "only for cloud gcp" },
  { { "product", "p", "customer", "c", "dimension", "d", "quantity", "2", "price", "3" },
    "price", "not used by the tackle back end" },
  { { "product", "p", "customer", "c", "dimension", "d", "quantity", "2", "account", "a" },
    "account", "not used" },
  { { "product", "p", "customer", "", "dimension", "d", "quantity", "2" }, "customer", "empty" },
};

static tk_fx *client(const char *allow_zero)
{
  return allow_zero ? tk_fx_new("access_token", "tok-static-123456", "allow_zero", allow_zero, NULL)
                    : tk_fx_new("access_token", "tok-static-123456", NULL);
}

static meter_record *build(const char *const *kv)
{
  meter_record *r;
  assert_int_equal(meter_record_new(&r), METER_OK);
  assert_int_equal(meter_record_set(r, METER_FIELD_TIME, T), METER_OK);
  for (size_t i = 0; kv[i]; i += 2) {
    int rc = meter_record_set(r, meter_field_from_name(kv[i]), kv[i + 1]);
    if (rc != METER_OK)
      fail_msg("%s=%s: %s", kv[i], kv[i + 1], meter_record_errmsg(r));
  }
  return r;
}

static void test_rules(void **state)
{
  (void)state;
  tk_fx *f = client(NULL);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    meter_record *r = build(cases[i].fields);
    meter_results *res;
    int rc = meter_validate(f->c, &r, 1, &res);
    if (!cases[i].field) {
      if (rc != METER_OK)
        fail_msg("case %zu: expected valid, got %s", i, meter_results_message(res, 0));
    } else {
      if (rc != METER_EINVAL)
        fail_msg("case %zu: expected invalid (%s)", i, cases[i].field);
      assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_INVALID);
      assert_string_equal(meter_results_field(res, 0), cases[i].field);
      const char *m = meter_results_message(res, 0);
      if (!strstr(m, cases[i].words) || strncmp(m, cases[i].field, strlen(cases[i].field)) != 0)
        fail_msg("case %zu: message \"%s\" lacks the field or \"%s\"", i, m, cases[i].words);
    }
    meter_results_free(res);
    meter_record_free(r);
  }
  assert_int_equal(f->t.nsent, 0); /* validation never sends */
  tk_fx_free(f);
}

static void test_lengths(void **state)
{
  (void)state;
  tk_fx *f = client(NULL);
  char long_id[300];
  memset(long_id, 'x', 256);
  long_id[256] = '\0';
  const char *kv[] = { "product", "p", "customer", long_id, "dimension", "d", "quantity", "1", NULL };
  meter_record *r = build(kv);
  meter_results *res;
  assert_int_equal(meter_validate(f->c, &r, 1, &res), METER_EINVAL);
  assert_string_equal(meter_results_field(res, 0), "customer");
  assert_non_null(strstr(meter_results_message(res, 0), "at most 255"));
  meter_results_free(res);
  long_id[255] = '\0';
  assert_int_equal(meter_record_set(r, METER_FIELD_CUSTOMER, long_id), METER_OK);
  assert_int_equal(meter_validate(f->c, &r, 1, &res), METER_OK);
  meter_results_free(res);
  meter_record_free(r);
  tk_fx_free(f);
}

static void test_zero_allowed_by_setting(void **state)
{
  (void)state;
  tk_fx *f = client("true");
  const char *kv[] = { "product", "p", "customer", "c", "dimension", "d", "quantity", "0", NULL };
  const char *gcp[] = { "cloud", "gcp", "product", "p", "customer", "c", "dimension", "d",
                        "quantity", "0", "end_time", "2024-01-01T14:00:00Z", NULL };
  meter_record *r[2] = { build(kv), build(gcp) };
  meter_results *res;
  assert_int_equal(meter_validate(f->c, r, 2, &res), METER_OK);
  meter_results_free(res);
  meter_record_free(r[0]);
  meter_record_free(r[1]);
  tk_fx_free(f);
}

static void test_allocations(void **state)
{
  (void)state;
  tk_fx *f = client(NULL);
  const char *kv[] = { "product", "p", "customer", "c", "dimension", "d", "quantity", "10", NULL };
  meter_record *r = build(kv);
  const char *k[] = { "team" }, *v[] = { "red" };
  assert_int_equal(meter_record_add_allocation(r, 6, k, v, 1), METER_OK);
  meter_results *res;
  assert_int_equal(meter_validate(f->c, &r, 1, &res), METER_EINVAL);
  assert_string_equal(meter_results_field(res, 0), "quantity");
  assert_non_null(strstr(meter_results_message(res, 0), "sum to the quantity"));
  meter_results_free(res);
  assert_int_equal(meter_record_add_allocation(r, 4, k, v, 1), METER_OK);
  assert_int_equal(meter_validate(f->c, &r, 1, &res), METER_OK);
  meter_results_free(res);
  assert_int_equal(meter_record_set(r, METER_FIELD_CLOUD, "azure"), METER_OK);
  assert_int_equal(meter_validate(f->c, &r, 1, &res), METER_EINVAL);
  assert_non_null(strstr(meter_results_message(res, 0), "only for cloud aws"));
  meter_results_free(res);
  meter_record_free(r);
  tk_fx_free(f);
}

/* Invalid records are never sent; valid ones in the same call are. */
static void test_invalid_not_sent(void **state)
{
  (void)state;
  tk_fx *f = client(NULL);
  const char *ok[] = { "product", "p", "customer", "c", "dimension", "d", "quantity", "1", NULL };
  const char *bad[] = { "product", "p", "customer", "c", "dimension", "d", "quantity", "0", NULL };
  meter_record *r[2] = { build(bad), build(ok) };
  tk_push_echo(f, &r[1], 1);
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 2, &res), METER_EINVAL);
  assert_int_equal(f->t.nsent, 1);
  assert_null(strstr(f->t.sent[0].body, "\"quantity\":0"));
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_INVALID);
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_ACCEPTED);
  meter_results_free(res);
  meter_record_free(r[0]);
  meter_record_free(r[1]);
  tk_fx_free(f);
}

static void test_batch_key_and_aggregation(void **state)
{
  (void)state;
  tk_fx *f = client(NULL);
  const mtr_backend_ops *ops = f->c->ops;
  mtr_backend *be = f->c->backend;
  const char *put[] = { "product", "p", "customer", "c", "dimension", "d", "quantity", "1", NULL };
  const char *post[] = { "product", "p", "customer", "c", "dimension", "d", "quantity", "1",
                         "method", "post", NULL };
  const char *azure[] = { "cloud", "azure", "product", "p", "customer", "c", "dimension", "d",
                          "quantity", "1", "test", "accepted", NULL };
  const char *gcp[] = { "cloud", "gcp", "subscription_id", "s", "dimension", "d", "quantity", "1",
                        "end_time", "2024-01-01T14:00:00Z", NULL };
  const char *pipe1[] = { "product", "a|b", "customer", "c", "dimension", "d", "quantity", "1", NULL };
  const char *pipe2[] = { "product", "a", "customer", "b|c", "dimension", "d", "quantity", "1", NULL };
  meter_record *r[6] = { build(put), build(post), build(azure), build(gcp), build(pipe1), build(pipe2) };
  mtr_buf k[6] = { MTR_BUF_INIT, MTR_BUF_INIT, MTR_BUF_INIT, MTR_BUF_INIT, MTR_BUF_INIT, MTR_BUF_INIT };
  size_t limit = 0;
  assert_int_equal(ops->batch_key(be, r[0], &k[0], &limit), METER_OK);
  assert_int_equal(limit, 100);
  assert_int_equal(ops->batch_key(be, r[1], &k[1], &limit), METER_OK);
  assert_int_equal(ops->batch_key(be, r[2], &k[2], &limit), METER_OK);
  assert_string_not_equal(mtr_buf_cstr(&k[0]), mtr_buf_cstr(&k[1]));
  assert_string_equal(mtr_buf_cstr(&k[0]), mtr_buf_cstr(&k[2])); /* clouds mix */
  for (int i = 0; i < 6; i++)
    mtr_buf_clear(&k[i]);

  mtr_agg_rule rule;
  memset(&rule, 0, sizeof rule);
  assert_int_equal(ops->aggregation(be, r[0], &rule, &k[0]), METER_OK);
  assert_int_equal(rule.aggregate, 1);
  assert_int_equal(rule.replaces, 1);      /* PUT: a late record is a new total */
  assert_int_equal(rule.resend_unsafe, 0);
  assert_true(rule.window_us == 6 * MTR_US_PER_HOUR);
  memset(&rule, 0, sizeof rule);
  assert_int_equal(ops->aggregation(be, r[1], &rule, &k[1]), METER_OK);
  assert_int_equal(rule.aggregate, 0);  /* POST never aggregates */
  assert_int_equal(rule.replaces, 0);
  assert_int_equal(rule.resend_unsafe, 1); /* and is never resent blindly */
  assert_int_equal(ops->aggregation(be, r[2], &rule, &k[2]), METER_OK);
  assert_int_equal(rule.aggregate, 1);
  assert_true(rule.window_us == 24 * MTR_US_PER_HOUR);
  assert_int_equal(ops->aggregation(be, r[3], &rule, &k[3]), METER_OK);
  assert_true(rule.window_us == 0);
  assert_int_equal(ops->aggregation(be, r[4], &rule, &k[4]), METER_OK);
  assert_int_equal(ops->aggregation(be, r[5], &rule, &k[5]), METER_OK);
  assert_string_not_equal(mtr_buf_cstr(&k[0]), mtr_buf_cstr(&k[2])); /* cloud, test differ */
  assert_string_not_equal(mtr_buf_cstr(&k[4]), mtr_buf_cstr(&k[5]));
  assert_non_null(strstr(mtr_buf_cstr(&k[3]), "sub"));
  /* Same key for the same product/customer/dimension/cloud/test at another time. */
  meter_record *later = build(put);
  assert_int_equal(meter_record_set(later, METER_FIELD_TIME, "2024-01-01T13:55:00Z"), METER_OK);
  mtr_buf lk = MTR_BUF_INIT;
  assert_int_equal(ops->aggregation(be, later, &rule, &lk), METER_OK);
  assert_string_equal(mtr_buf_cstr(&lk), mtr_buf_cstr(&k[0]));
  mtr_buf_dispose(&lk);
  meter_record_free(later);
  for (int i = 0; i < 6; i++) {
    mtr_buf_dispose(&k[i]);
    meter_record_free(r[i]);
  }
  tk_fx_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rules),
    cmocka_unit_test(test_lengths),
    cmocka_unit_test(test_zero_allowed_by_setting),
    cmocka_unit_test(test_allocations),
    cmocka_unit_test(test_invalid_not_sent),
    cmocka_unit_test(test_batch_key_and_aggregation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
