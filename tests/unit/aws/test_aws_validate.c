/* Validation before any I/O: the service model's constraints, the
 * acceptance windows (settings, not constants), and the aggregation rule. */
#include "aws_test_util.h"

#include "core/timefmt.h"

typedef struct vcase {
  const char *fields[24];   /* name, value pairs, NULL-terminated */
  const char *field;        /* the field named in the result, NULL: valid */
  const char *msg;          /* a piece of the message */
} vcase;

static meter_record *from_pairs(const char *const *kv)
{
  meter_record *r = NULL;
  assert_int_equal(meter_record_new(&r), METER_OK);
  assert_int_equal(meter_record_set(r, METER_FIELD_TIME, "2024-01-01T00:00:00Z"), METER_OK);
  for (size_t i = 0; kv[i]; i += 2)
    if (meter_record_set(r, meter_field_from_name(kv[i]), kv[i + 1]) != METER_OK)
      fail_msg("%s=%s: %s", kv[i], kv[i + 1], meter_record_errmsg(r));
  return r;
}

static void check(meter_client *c, meter_record *r, const char *field, const char *msg)
{
  meter_results *res = NULL;
  int rc = meter_validate(c, &r, 1, &res);
  if (!field) {
    if (rc != METER_OK)
      fail_msg("refused: %s", meter_results_message(res, 0));
  } else {
    assert_int_equal(rc, METER_EINVAL);
    assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_INVALID);
    if (!meter_results_field(res, 0) || strcmp(meter_results_field(res, 0), field) != 0)
      fail_msg("field %s, expected %s (%s)", meter_results_field(res, 0), field,
               meter_results_message(res, 0));
    if (msg && !strstr(meter_results_message(res, 0), msg))
      fail_msg("message '%s' lacks '%s'", meter_results_message(res, 0), msg);
  }
  meter_results_free(res);
}

static void test_model_constraints(void **state)
{
  (void)state;
  static char long_dim[300], dim255[256], long_cust[300], long_key[70];
  memset(long_dim, 'd', 256);
  memset(dim255, 'd', 255);
  memset(long_cust, 'c', 256);
  memset(long_key, 'k', 64);
  const vcase cases[] = {
    { { "product", "prod-1", "dimension", "users", "quantity", "3" }, NULL, NULL },
    { { "product", "a/b=c:d_e.f@g-1", "dimension", "users", "quantity", "0" }, NULL, NULL },
    { { "product", "prod 1", "dimension", "users", "quantity", "3" }, "product", "[-a-zA-Z0-9" },
    { { "dimension", "users", "quantity", "3" }, "product", "required" },
    { { "product", "p", "quantity", "3" }, "dimension", "required" },
    { { "product", "p", "dimension", long_dim, "quantity", "3" }, "dimension", "1-255" },
    { { "product", "p", "dimension", dim255, "quantity", "3" }, NULL, NULL },
    { { "product", "p", "dimension", "d\xc3\xa9j\xc3\xa0", "quantity", "3" }, NULL, NULL },
    { { "product", "p", "dimension", "d" }, "quantity", "required" },
    { { "product", "p", "dimension", "d", "quantity", "2.5" }, "quantity", "whole number" },
    { { "product", "p", "dimension", "d", "quantity", "2147483647" }, NULL, NULL },
    { { "product", "p", "dimension", "d", "quantity", "2147483648" }, "quantity", "2147483647" },
    { { "product", "p", "dimension", "d", "quantity", "1", "idempotency_key", long_key }, NULL,
      NULL },
    { { "product", "p", "dimension", "d", "quantity", "1", "dry_run", "true" }, NULL, NULL },
    /* BatchMeterUsage */
    { { "product", "p", "customer", "c", "dimension", "d", "quantity", "1" }, NULL, NULL },
    { { "product", "p", "customer", long_cust, "dimension", "d", "quantity", "1" }, "customer",
      "1-255" },
    { { "product", "p", "customer", "c", "dimension", "d", "quantity", "1", "dry_run", "true" },
      "dry_run", "DryRun" },
    { { "product", "p", "customer", "c", "customer_account_id", "111122223333", "dimension", "d",
        "quantity", "1" }, "customer_account_id", "mutually exclusive" },
    { { "product", "p", "customer_account_id", "1111-2222", "dimension", "d", "quantity", "1" },
      "customer_account_id", "digits" },
    { { "customer_account_id", "111122223333", "license_arn",
        "arn:aws:license-manager::111122223333:license/l-abc", "dimension", "d", "quantity",
        "1" }, NULL, NULL },
    { { "customer_account_id", "111122223333", "dimension", "d", "quantity", "1" }, "product",
      "license_arn" },
    { { "customer_account_id", "111122223333", "license_arn", "arn:aws:license-manager:::",
        "dimension", "d", "quantity", "1" }, "license_arn", "ARN" },
    { { "customer_account_id", "111122223333", "license_arn", "arn:azure:x::1:license/l",
        "dimension", "d", "quantity", "1" }, "license_arn", NULL },
    { { "customer_account_id", "111122223333", "license_arn",
        "arn:aws-cn:license-manager:cn-north-1:111122223333:license/l-abc", "dimension", "d",
        "quantity", "1" }, NULL, NULL },
    { { "customer", "c", "license_arn", "arn:aws:license-manager::111122223333:license/l-abc",
        "product", "p", "dimension", "d", "quantity", "1" }, "license_arn",
      "customer_account_id" },
    { { "product", "p", "license_arn", "arn:aws:license-manager::111122223333:license/l-abc",
        "dimension", "d", "quantity", "1" }, "license_arn", NULL },
  };
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    meter_record *r = from_pairs(cases[i].fields);
    check(c, r, cases[i].field, cases[i].msg);
    meter_record_free(r);
  }
  assert_int_equal(f.ft.nsent, 0); /* no I/O */
  aws_fixture_free(&f);

  /* The product_code setting stands in for the record's product. */
  c = aws_fixture_client(&f, NULL, "product_code", "prod-default", NULL);
  meter_record *r = rec_of("dimension", "d", "quantity", "1", "time", "2024-01-01T00:00:00Z", NULL);
  check(c, r, NULL, NULL);
  meter_record_free(r);
  aws_fixture_free(&f);
  assert_null(aws_fixture_client(&f, NULL, "product_code", "bad code", NULL));
  fake_transport_dispose(&f.ft);
}

static void add_alloc(meter_record *r, int64_t q, const char *k1, const char *v1, const char *k2,
                      const char *v2)
{
  const char *keys[2] = { k1, k2 }, *vals[2] = { v1, v2 };
  assert_int_equal(meter_record_add_allocation(r, q, keys, vals, k2 ? 2 : 1), METER_OK);
}

static void test_allocations(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  meter_record *r;
#define FRESH() rec_of("product", "p", "dimension", "d", "quantity", "10", "time", \
                       "2024-01-01T00:00:00Z", NULL)
  r = FRESH();
  add_alloc(r, 4, "team", "a", "env", "prod");
  add_alloc(r, 6, "env", "prod", "team", "b");
  check(c, r, NULL, NULL);
  meter_record_free(r);

  r = FRESH(); /* the sum must equal the quantity */
  add_alloc(r, 4, "team", "a", NULL, NULL);
  add_alloc(r, 5, "team", "b", NULL, NULL);
  check(c, r, "quantity", "sum to 9");
  meter_record_free(r);

  r = FRESH(); /* each tag set unique, in any order */
  add_alloc(r, 5, "team", "a", "env", "x");
  add_alloc(r, 5, "env", "x", "team", "a");
  check(c, r, "quantity", "same tag set");
  meter_record_free(r);

  r = FRESH(); /* a repeated key inside one allocation */
  add_alloc(r, 10, "team", "a", "team", "b");
  check(c, r, "quantity", "repeated");
  meter_record_free(r);

  r = FRESH(); /* tag characters: the model's class, space..'=' included */
  add_alloc(r, 10, "cost center", "a+b=c/d:e.f_g@h", NULL, NULL);
  check(c, r, NULL, NULL);
  meter_record_free(r);
  r = FRESH();
  add_alloc(r, 10, "team", "a?b", NULL, NULL);
  check(c, r, "quantity", "tag value");
  meter_record_free(r);
  r = FRESH();
  add_alloc(r, 10, "t\xc3\xa9", "a", NULL, NULL);
  check(c, r, "quantity", "tag key");
  meter_record_free(r);

  r = FRESH(); /* 1 to 5 tags */
  const char *k6[] = { "a", "b", "c", "d", "e", "f" }, *v6[] = { "1", "2", "3", "4", "5", "6" };
  assert_int_equal(meter_record_add_allocation(r, 10, k6, v6, 6), METER_OK);
  check(c, r, "quantity", "1 to 5 tags");
  meter_record_free(r);
  r = FRESH();
  assert_int_equal(meter_record_add_allocation(r, 10, k6, v6, 5), METER_OK);
  check(c, r, NULL, NULL);
  meter_record_free(r);

  r = FRESH(); /* key length 100, value length 256 */
  char k101[102], v257[258];
  memset(k101, 'k', 101);
  k101[101] = '\0';
  memset(v257, 'v', 257);
  v257[257] = '\0';
  add_alloc(r, 10, k101, "a", NULL, NULL);
  check(c, r, "quantity", "1-100");
  meter_record_free(r);
  r = FRESH();
  add_alloc(r, 10, "k", v257, NULL, NULL);
  check(c, r, "quantity", "1-256");
  meter_record_free(r);
  v257[256] = '\0';
  k101[100] = '\0';
  r = FRESH();
  add_alloc(r, 10, k101, v257, NULL, NULL);
  check(c, r, NULL, NULL);
  meter_record_free(r);

  /* At most 2500 allocations. */
  r = rec_of("product", "p", "dimension", "d", "quantity", "2501", "time", "2024-01-01T00:00:00Z",
             NULL);
  char v[16];
  for (int i = 0; i < 2501; i++) {
    snprintf(v, sizeof v, "%d", i);
    add_alloc(r, 1, "n", v, NULL, NULL);
  }
  check(c, r, "quantity", "2500");
  meter_record_free(r);
  aws_fixture_free(&f);
#undef FRESH
}

static meter_record *at(const char *customer, const char *time)
{
  if (customer)
    return rec_of("product", "p", "customer", customer, "dimension", "d", "quantity", "1", "time",
                  time, NULL);
  return rec_of("product", "p", "dimension", "d", "quantity", "1", "time", time, NULL);
}

/* Now is 2024-01-01T00:05:00Z. */
static void test_windows(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  meter_record *r;
  r = at(NULL, "2023-12-31T18:05:01Z"); /* 5h59m59s: inside 6 h */
  check(c, r, NULL, NULL);
  meter_record_free(r);
  r = at(NULL, "2023-12-31T18:05:00Z"); /* exactly 6 h: out */
  check(c, r, "time", "MeterUsage window of 6 h");
  meter_record_free(r);
  r = at("c1", "2023-12-31T18:05:00Z"); /* batch takes 24 h */
  check(c, r, NULL, NULL);
  meter_record_free(r);
  r = at("c1", "2023-12-31T00:05:00Z");
  check(c, r, "time", "BatchMeterUsage window of 24 h");
  meter_record_free(r);
  aws_fixture_free(&f);

  /* The windows are settings. */
  c = aws_fixture_client(&f, NULL, "meter_window_hours", "1", "batch_window_hours", "2", NULL);
  r = at(NULL, "2023-12-31T23:05:00Z");
  check(c, r, "time", "meter_window_hours");
  meter_record_free(r);
  r = at("c1", "2023-12-31T22:05:00Z");
  check(c, r, "time", "batch_window_hours");
  meter_record_free(r);
  aws_fixture_free(&f);
}

static void test_month_end_grace(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  int64_t t;
  assert_int_equal(mtr_time_parse("2024-02-01T05:59:00Z", &t), 0);
  f.fc.now_us = t;
  meter_record *r = at("c1", "2024-01-31T23:00:00Z");
  check(c, r, NULL, NULL); /* last month, before 06:00 on the 1st */
  assert_int_equal(mtr_time_parse("2024-02-01T06:00:00Z", &t), 0);
  f.fc.now_us = t;
  check(c, r, "time", "month-end grace"); /* 7 h old, inside 24 h, but the month closed */
  meter_record_free(r);
  r = at("c1", "2024-02-01T00:30:00Z");
  check(c, r, NULL, NULL); /* this month's usage is unaffected */
  meter_record_free(r);
  aws_fixture_free(&f);
  c = aws_fixture_client(&f, NULL, "month_end_grace_hours", "12", NULL);
  assert_int_equal(mtr_time_parse("2024-03-01T11:00:00Z", &t), 0); /* leap February */
  f.fc.now_us = t;
  r = at("c1", "2024-02-29T20:00:00Z");
  check(c, r, NULL, NULL);
  meter_record_free(r);
  aws_fixture_free(&f);
}

/* One stale record is refused alone; the rest of its batch goes. */
static void test_stale_record_does_not_sink_the_batch(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  fake_push(&f.ft, 200, NULL,
            "{\"Results\":[{\"UsageRecord\":{\"Timestamp\":1704067200,\"CustomerIdentifier\":"
            "\"fresh\",\"Dimension\":\"d\",\"Quantity\":1},\"MeteringRecordId\":\"m\","
            "\"Status\":\"Success\"}]}");
  meter_record *r[2] = { at("stale", "2023-12-30T00:00:00Z"), at("fresh", "2024-01-01T00:00:00Z") };
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, r, 2, &res), METER_EINVAL);
  assert_int_equal(f.ft.nsent, 1);
  assert_null(strstr(f.ft.sent[0].body, "stale"));
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_INVALID);
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_ACCEPTED);
  meter_results_free(res);
  meter_record_free(r[0]);
  meter_record_free(r[1]);
  aws_fixture_free(&f);
}

static void test_aggregation_rule(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, "meter_window_hours", "5", NULL);
  const mtr_backend_ops *ops = c->ops;
  assert_non_null(ops->aggregation);
  meter_record *m = rec_of("product", "p", "dimension", "d", "quantity", "1", NULL);
  meter_record *b = rec_of("product", "p", "customer", "c1", "dimension", "d", "quantity", "1",
                           NULL);
  meter_record *a = rec_of("product", "p", "customer_account_id", "111122223333", "license_arn",
                           "arn:aws:license-manager::111122223333:license/l-1", "dimension", "d",
                           "quantity", "1", NULL);
  mtr_agg_rule rule;
  mtr_buf k1 = MTR_BUF_INIT, k2 = MTR_BUF_INIT, k3 = MTR_BUF_INIT;
  memset(&rule, 0, sizeof rule);
  assert_int_equal(ops->aggregation(c->backend, m, &rule, &k1), METER_OK);
  assert_int_equal(rule.aggregate, 1);
  assert_true(rule.window_us == 5 * MTR_US_PER_HOUR);
  memset(&rule, 0, sizeof rule);
  assert_int_equal(ops->aggregation(c->backend, b, &rule, &k2), METER_OK);
  assert_true(rule.window_us == 24 * MTR_US_PER_HOUR);
  memset(&rule, 0, sizeof rule);
  assert_int_equal(ops->aggregation(c->backend, a, &rule, &k3), METER_OK);
  assert_string_equal(mtr_buf_cstr(&k2), "p|c1||d|");
  assert_string_equal(mtr_buf_cstr(&k3),
                      "p|111122223333|arn:aws:license-manager::111122223333:license/l-1|d|");
  assert_string_not_equal(mtr_buf_cstr(&k1), mtr_buf_cstr(&k2));
  mtr_buf_dispose(&k1);
  mtr_buf_dispose(&k2);
  mtr_buf_dispose(&k3);
  meter_record_free(m);
  meter_record_free(b);
  meter_record_free(a);
  aws_fixture_free(&f);
}

static void test_patterns(void **state)
{
  (void)state;
  assert_true(aws_product_code_valid("prod-abc123"));
  assert_false(aws_product_code_valid(""));
  assert_false(aws_product_code_valid("a b"));
  char p256[257];
  memset(p256, 'p', 256);
  p256[256] = '\0';
  assert_false(aws_product_code_valid(p256));
  p256[255] = '\0';
  assert_true(aws_product_code_valid(p256));
  assert_true(aws_license_arn_valid("arn:aws:license-manager::111122223333:license/l-abc"));
  assert_true(aws_license_arn_valid("arn:aws-us-gov:license-manager:us-gov-west-1:1:license/x"));
  assert_false(aws_license_arn_valid("arn:aws:license-manager::111122223333:"));
  assert_false(aws_license_arn_valid("arn:aws::x:1:license"));
  assert_false(aws_license_arn_valid("arn:aws:-bad:x:1:license"));
  assert_false(aws_license_arn_valid("arn:aws:lm:r:a:res?x"));
  assert_true(aws_license_arn_valid("arn:aws:lm:r:a:res:with:colons,and=more@x.y"));
  assert_true(aws_tag_text_valid("a b", 5));
  assert_false(aws_tag_text_valid("", 5));
  assert_false(aws_tag_text_valid("abcdef", 5));
  assert_false(aws_tag_text_valid("a>b", 5));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_model_constraints),
    cmocka_unit_test(test_allocations),
    cmocka_unit_test(test_windows),
    cmocka_unit_test(test_month_end_grace),
    cmocka_unit_test(test_stale_record_does_not_sink_the_batch),
    cmocka_unit_test(test_aggregation_rule),
    cmocka_unit_test(test_patterns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
