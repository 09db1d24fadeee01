/* The pure parts: the record codec, canonical allocations and their merge,
 * deterministic aggregate keys, rendering a stored unit. */
#include "test_util.h"

#include "core/record.h"
#include "core/timefmt.h"
#include "core/uuid.h"
#include "pipeline/aggregate.h"
#include "pipeline/record_codec.h"

static void test_record_round_trip(void **state)
{
  (void)state;
  meter_record *r = rec_of("product", "p\"1", "customer", "c\\1", "dimension", "d \xc3\xa9",
                           "quantity", "12.50", "account", "acct", NULL);
  const char *k1[] = { "team", "env" }, *v1[] = { "a", "prod" };
  assert_int_equal(meter_record_add_allocation(r, 7, k1, v1, 2), METER_OK);
  assert_int_equal(meter_record_set_attribute(r, "color", "blue"), METER_OK);
  mtr_buf b = MTR_BUF_INIT;
  assert_int_equal(mtr_record_to_json(r, &b), METER_OK);
  meter_record *back;
  meter_error e;
  assert_int_equal(mtr_record_from_json(b.ptr, b.len, 0, &back, &e), METER_OK);
  for (int f = 1; f < MTR_FIELD_COUNT; f++) {
    const char *x = meter_record_get(r, (meter_field)f), *y = meter_record_get(back, (meter_field)f);
    if (!x)
      assert_null(y);
    else
      assert_string_equal(x, y);
  }
  assert_int_equal(meter_record_time_us(back), meter_record_time_us(r));
  assert_int_equal(meter_record_allocation_count(back), 1);
  assert_int_equal(back->allocs[0].quantity, 7);
  assert_string_equal(back->allocs[0].values[1], "prod");
  assert_int_equal(back->nattrs, 1);
  assert_string_equal(back->attrs[0].value, "blue");
  meter_record_free(back);
  /* skip_allocations leaves them out. */
  assert_int_equal(mtr_record_from_json(b.ptr, b.len, 1, &back, &e), METER_OK);
  assert_int_equal(meter_record_allocation_count(back), 0);
  meter_record_free(back);
  /* Damage is reported, not trusted. */
  assert_int_equal(mtr_record_from_json("{\"quantity\":\"-1\"}", 17, 0, &back, &e),
                   METER_EPROTOCOL);
  assert_null(back);
  assert_int_equal(mtr_record_from_json("[1]", 3, 0, &back, &e), METER_EPROTOCOL);
  mtr_buf_dispose(&b);
  meter_record_free(r);
}

static void test_allocations_canonical_and_merge(void **state)
{
  (void)state;
  meter_record *a = rec_of("customer", "c", NULL);
  const char *k1[] = { "team", "env" }, *v1[] = { "a", "prod" };
  const char *k2[] = { "env", "team" }, *v2[] = { "prod", "a" }; /* same set, other order */
  const char *k3[] = { "team" }, *v3[] = { "b" };
  assert_int_equal(meter_record_add_allocation(a, 2, k1, v1, 2), METER_OK);
  assert_int_equal(meter_record_add_allocation(a, 3, k3, v3, 1), METER_OK);
  assert_int_equal(meter_record_add_allocation(a, 5, k2, v2, 2), METER_OK);
  mtr_buf c = MTR_BUF_INIT;
  assert_int_equal(mtr_allocs_canonical(a, &c), METER_OK);
  /* Equal tag sets are one entry; tags and entries sorted. */
  assert_string_equal(c.ptr, "[[7,[[\"env\",\"prod\"],[\"team\",\"a\"]]],[3,[[\"team\",\"b\"]]]]");

  mtr_buf m = MTR_BUF_INIT;
  assert_int_equal(mtr_allocs_merge(c.ptr, "[[10,[[\"team\",\"b\"]]],[1,[[\"x\",\"y\"]]]]", &m),
                   METER_OK);
  assert_string_equal(m.ptr, "[[7,[[\"env\",\"prod\"],[\"team\",\"a\"]]],[13,[[\"team\",\"b\"]]],"
                             "[1,[[\"x\",\"y\"]]]]");
  mtr_buf_clear(&m);
  assert_int_equal(mtr_allocs_merge(NULL, "", &m), METER_OK);
  assert_int_equal(m.len, 0);
  assert_int_equal(mtr_allocs_merge("[[9007199254740000,[]]]", "[[9007199254740000,[]]]", &m),
                   METER_OK);
  mtr_buf_clear(&m);
  assert_int_equal(mtr_allocs_merge("not json", NULL, &m), METER_EPROTOCOL);

  meter_record *b = rec_of("customer", "c", NULL);
  assert_int_equal(mtr_allocs_apply(b, c.ptr), METER_OK);
  assert_int_equal(meter_record_allocation_count(b), 2);
  assert_int_equal(mtr_record_allocation_sum(b), 10);
  mtr_buf_dispose(&c);
  mtr_buf_dispose(&m);
  meter_record_free(a);
  meter_record_free(b);
}

static void test_aggregate_keys_are_deterministic(void **state)
{
  (void)state;
  char k1[37], k2[37], k3[37], k4[37], k5[37];
  int64_t h = INT64_C(1704103200000000);
  mtr_agg_ikey("aws", "p|c|d", h, 0, k1);
  mtr_agg_ikey("aws", "p|c|d", h, 0, k2);
  mtr_agg_ikey("aws", "p|c|d", h + MTR_US_PER_HOUR, 0, k3);
  mtr_agg_ikey("aws", "p|c|e", h, 0, k4);
  mtr_agg_ikey("aws", "p|c|d", h, 1, k5);
  assert_string_equal(k1, k2);
  assert_true(mtr_uuid_valid(k1));
  assert_string_not_equal(k1, k3);
  assert_string_not_equal(k1, k4);
  assert_string_not_equal(k1, k5);
  /* The back end is part of the name. */
  mtr_agg_ikey("tackle", "p|c|d", h, 0, k2);
  assert_string_not_equal(k1, k2);
}

static void test_render_aggregate(void **state)
{
  (void)state;
  meter_record *first = rec_of("product", "p", "customer", "c", "dimension", "d", "quantity", "4",
                               "time", "2024-01-01T10:17:00Z", NULL);
  mtr_buf body = MTR_BUF_INIT;
  assert_int_equal(mtr_record_to_json(first, &body), METER_OK);
  mtr_unit u;
  memset(&u, 0, sizeof u);
  u.kind = METER_SPOOL_AGGREGATE;
  u.body = body.ptr;
  u.agg_key = (char *)"p|c|d";
  u.time_us = INT64_C(1704103200000000);
  u.quantity = 42;
  u.revision = 2;
  u.allocs = (char *)"[[42,[[\"k\",\"v\"]]]]";
  meter_record *r;
  meter_error e;
  assert_int_equal(mtr_unit_render(&u, "aws", &r, &e), METER_OK);
  assert_string_equal(meter_record_get(r, METER_FIELD_QUANTITY), "42");
  assert_int_equal(meter_record_time_us(r), u.time_us);
  char want[37];
  mtr_agg_ikey("aws", "p|c|d", u.time_us, 2, want);
  assert_string_equal(meter_record_get(r, METER_FIELD_IDEMPOTENCY_KEY), want);
  assert_int_equal(meter_record_allocation_count(r), 1);
  assert_string_equal(meter_record_get(r, METER_FIELD_CUSTOMER), "c");
  meter_record_free(r);
  mtr_buf_dispose(&body);
  meter_record_free(first);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_record_round_trip),
    cmocka_unit_test(test_allocations_canonical_and_merge),
    cmocka_unit_test(test_aggregate_keys_are_deterministic),
    cmocka_unit_test(test_render_aggregate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
