#include "test_util.h"

#include "core/decimal.h"

#include <string.h>

static void canon(const char *in, const char *want)
{
  char out[64];
  mtr_decimal_info info;
  assert_int_equal(mtr_decimal_canon(in, strlen(in), out, sizeof out, &info), 0);
  assert_string_equal(out, want);
}

static void test_canonical_forms(void **state)
{
  (void)state;
  canon("42", "42");
  canon("007", "7");
  canon("0", "0");
  canon("000", "0");
  canon("1.50", "1.5");
  canon("3.000", "3");
  canon("0.0000000001", "0.0000000001");
  canon("00.10", "0.1");
}

static void test_rejects(void **state)
{
  (void)state;
  const char *bad[] = { "", "-1", "+1", ".5", "5.", "1e3", "1,5", "1.2.3", " 1", "0x10", "∞", NULL };
  char out[64];
  for (int i = 0; bad[i]; i++)
    assert_int_equal(mtr_decimal_canon(bad[i], strlen(bad[i]), out, sizeof out, NULL), -1);
}

static void test_info(void **state)
{
  (void)state;
  char out[64];
  mtr_decimal_info i;
  mtr_decimal_canon("9223372036854775807", 19, out, sizeof out, &i);
  assert_true(i.fits_int64 && i.value == INT64_MAX && i.is_integer);
  mtr_decimal_canon("9223372036854775808", 19, out, sizeof out, &i);
  assert_false(i.fits_int64);
  mtr_decimal_canon("0.000", 5, out, sizeof out, &i);
  assert_true(i.is_zero && i.is_integer);
  mtr_decimal_canon("12.3400", 7, out, sizeof out, &i);
  assert_int_equal(i.frac_digits, 2);
  assert_int_equal(i.int_digits, 2);
  assert_false(i.is_integer);
}

static void test_add(void **state)
{
  (void)state;
  int64_t s;
  assert_int_equal(mtr_add_int64(INT64_MAX - 1, 1, &s), 0);
  assert_int_equal(mtr_add_int64(INT64_MAX, 1, &s), -1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_canonical_forms), cmocka_unit_test(test_rejects),
    cmocka_unit_test(test_info), cmocka_unit_test(test_add),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
