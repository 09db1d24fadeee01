#include "test_util.h"

#include "core/record.h"
#include "core/uuid.h"

#include <string.h>

static void test_new_has_key_and_time(void **state)
{
  (void)state;
  meter_record *a, *b;
  assert_int_equal(meter_record_new(&a), METER_OK);
  assert_int_equal(meter_record_new(&b), METER_OK);
  const char *ka = meter_record_get(a, METER_FIELD_IDEMPOTENCY_KEY);
  assert_true(mtr_uuid_valid(ka));
  assert_string_not_equal(ka, meter_record_get(b, METER_FIELD_IDEMPOTENCY_KEY));
  assert_non_null(meter_record_get(a, METER_FIELD_TIME));
  assert_true(meter_record_time_us(a) > INT64_C(1700000000) * 1000000);
  meter_record_free(a);
  meter_record_free(b);
}

static void test_field_names(void **state)
{
  (void)state;
  assert_int_equal(meter_field_from_name("end_time"), METER_FIELD_END_TIME);
  assert_int_equal(meter_field_from_name("--end-time"), METER_FIELD_END_TIME);
  assert_int_equal(meter_field_from_name("Customer-Account-Id"), METER_FIELD_CUSTOMER_ACCOUNT_ID);
  assert_int_equal(meter_field_from_name("nope"), 0);
  assert_int_equal(meter_field_from_name(""), 0);
  for (int f = 1; f <= METER_FIELD_PRICING_MODEL; f++)
    assert_int_equal(meter_field_from_name(meter_field_name((meter_field)f)), f);
  assert_null(meter_field_name((meter_field)0));
  assert_null(meter_field_name((meter_field)99));
}

/* Each rule names the field and says what was expected. */
static void expect_invalid(meter_field f, const char *value, const char *needle)
{
  meter_record *r;
  meter_record_new(&r);
  assert_int_equal(meter_record_set(r, f, value), METER_EINVAL);
  const char *msg = meter_record_errmsg(r);
  if (!strstr(msg, needle))
    fail_msg("message '%s' lacks '%s'", msg, needle);
  assert_true(strncmp(msg, meter_field_name(f), strlen(meter_field_name(f))) == 0);
  meter_record_free(r);
}

static void test_syntax_rules(void **state)
{
  (void)state;
  expect_invalid(METER_FIELD_QUANTITY, "-3", "non-negative decimal");
  expect_invalid(METER_FIELD_QUANTITY, "1e9", "non-negative decimal");
  expect_invalid(METER_FIELD_QUANTITY, "", "non-negative decimal");
  expect_invalid(METER_FIELD_PRICE, "abc", "non-negative decimal");
  expect_invalid(METER_FIELD_TIME, "yesterday", "RFC 3339");
  expect_invalid(METER_FIELD_TIME, "1969-12-31T23:59:59Z", "before 1970");
  expect_invalid(METER_FIELD_END_TIME, "2024-02-30T00:00:00Z", "RFC 3339");
  expect_invalid(METER_FIELD_TEST, "maybe", "accepted, rejected or not-operable");
  expect_invalid(METER_FIELD_DRY_RUN, "perhaps", "true or false");
  expect_invalid(METER_FIELD_CLOUD, "oracle", "aws, azure or gcp");
  expect_invalid(METER_FIELD_METHOD, "patch", "put or post");
  expect_invalid(METER_FIELD_CURRENCY, "EURO", "ISO-4217");
  expect_invalid(METER_FIELD_IDEMPOTENCY_KEY, "has space", "printable ASCII");
  expect_invalid(METER_FIELD_IDEMPOTENCY_KEY,
                 "0123456789012345678901234567890123456789012345678901234567890123456789", "1 to 64");
  expect_invalid(METER_FIELD_CUSTOMER, "evil\r\nX-Injected: 1", "control characters");
  expect_invalid(METER_FIELD_DIMENSION, "tab\there", "control characters");
}

static void test_canonical_values(void **state)
{
  (void)state;
  meter_record *r = rec_of("quantity", "0010.500", "time", "2024-01-01 13:05:00", "test", "ACCEPTED",
                           "dry_run", "yes", "cloud", "GCP", "method", "POST", "currency", "eur",
                           NULL);
  assert_non_null(r);
  assert_string_equal(meter_record_get(r, METER_FIELD_QUANTITY), "10.5");
  assert_string_equal(meter_record_get(r, METER_FIELD_TIME), "2024-01-01T13:05:00.000000Z");
  assert_string_equal(meter_record_get(r, METER_FIELD_TEST), "accepted");
  assert_string_equal(meter_record_get(r, METER_FIELD_DRY_RUN), "true");
  assert_string_equal(meter_record_get(r, METER_FIELD_CLOUD), "gcp");
  assert_string_equal(meter_record_get(r, METER_FIELD_METHOD), "post");
  assert_string_equal(meter_record_get(r, METER_FIELD_CURRENCY), "EUR");
  assert_true(mtr_record_dry_run(r));
  assert_true(meter_record_time_us(r) == INT64_C(1704114300) * 1000000);
  meter_record_free(r);
}

static void test_set_typed_and_clear(void **state)
{
  (void)state;
  meter_record *r;
  meter_record_new(&r);
  assert_int_equal(meter_record_set_quantity(r, 42), METER_OK);
  assert_string_equal(meter_record_get(r, METER_FIELD_QUANTITY), "42");
  assert_true(r->qty.fits_int64 && r->qty.value == 42);
  assert_int_equal(meter_record_set_quantity(r, -1), METER_EINVAL);
  assert_int_equal(meter_record_set_time_us(r, INT64_C(1704067200000000)), METER_OK);
  assert_string_equal(meter_record_get(r, METER_FIELD_TIME), "2024-01-01T00:00:00.000000Z");
  assert_int_equal(meter_record_set(r, METER_FIELD_QUANTITY, NULL), METER_OK);
  assert_null(meter_record_get(r, METER_FIELD_QUANTITY));
  assert_int_equal(meter_record_set(r, METER_FIELD_TIME, NULL), METER_EINVAL);
  assert_int_equal(meter_record_set(r, METER_FIELD_IDEMPOTENCY_KEY, NULL), METER_EINVAL);
  assert_int_equal(meter_record_setn(r, METER_FIELD_CUSTOMER, "abcdef", 3), METER_OK);
  assert_string_equal(meter_record_get(r, METER_FIELD_CUSTOMER), "abc");
  assert_int_equal(meter_record_set(r, (meter_field)77, "x"), METER_EINVAL);
  meter_record_free(r);
}

static void test_allocations_attributes_dup(void **state)
{
  (void)state;
  meter_record *r, *d;
  meter_record_new(&r);
  const char *k[] = { "team", "env" }, *v[] = { "red", "prod" };
  assert_int_equal(meter_record_add_allocation(r, 3, k, v, 2), METER_OK);
  assert_int_equal(meter_record_add_allocation(r, 4, NULL, NULL, 0), METER_OK);
  assert_int_equal(meter_record_allocation_count(r), 2);
  assert_true(mtr_record_allocation_sum(r) == 7);
  assert_int_equal(meter_record_add_allocation(r, -1, NULL, NULL, 0), METER_EINVAL);
  assert_int_equal(meter_record_set_attribute(r, "region", "eu"), METER_OK);
  assert_int_equal(meter_record_set_attribute(r, "region", "us"), METER_OK);
  assert_int_equal(r->nattrs, 1);
  assert_string_equal(r->attrs[0].value, "us");
  /* Length-taking form: an embedded NUL or a control character is refused,
   * not silently cut. */
  assert_int_equal(meter_record_set_attributen(r, "k\0x", 3, "v", 1), METER_EINVAL);
  assert_int_equal(meter_record_set_attributen(r, "plan", 4, "gold\nX", 6), METER_EINVAL);
  assert_int_equal(meter_record_set_attributen(r, "planxx", 4, "goldxx", 4), METER_OK);
  assert_string_equal(r->attrs[1].key, "plan");
  assert_string_equal(r->attrs[1].value, "gold");
  assert_int_equal(meter_record_set_attributen(r, "plan", 4, "", 0), METER_OK);
  assert_string_equal(r->attrs[1].value, "");
  assert_int_equal(r->nattrs, 2);
  assert_int_equal(meter_record_dup(&d, r), METER_OK);
  assert_string_equal(meter_record_get(d, METER_FIELD_IDEMPOTENCY_KEY),
                      meter_record_get(r, METER_FIELD_IDEMPOTENCY_KEY));
  assert_int_equal(d->nallocs, 2);
  assert_string_equal(d->allocs[0].values[1], "prod");
  meter_record_free(r);
  assert_string_equal(d->attrs[0].key, "region");
  meter_record_free(d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_new_has_key_and_time), cmocka_unit_test(test_field_names),
    cmocka_unit_test(test_syntax_rules),         cmocka_unit_test(test_canonical_values),
    cmocka_unit_test(test_set_typed_and_clear),  cmocka_unit_test(test_allocations_attributes_dup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
