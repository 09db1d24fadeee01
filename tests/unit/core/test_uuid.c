#include "test_util.h"

#include "core/uuid.h"
#include "fake_clock.h"

#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b)
{
  return strcmp(a, b);
}

static void test_format_and_version(void **state)
{
  (void)state;
  char u[MTR_UUID_LEN + 1];
  for (int i = 0; i < 1000; i++) {
    assert_int_equal(mtr_uuid4(mtr_hooks_default(), u), 0);
    assert_int_equal(strlen(u), 36);
    assert_true(mtr_uuid_valid(u));
    assert_int_equal(u[14], '4');
    assert_true(strchr("89ab", u[19]) != NULL);
    for (int k = 0; k < 36; k++)
      assert_true(k == 8 || k == 13 || k == 18 || k == 23 ? u[k] == '-'
                                                          : strchr("0123456789abcdef", u[k]) != NULL);
  }
}

static void test_uniqueness(void **state)
{
  (void)state;
  enum { N = 20000 };
  char (*all)[MTR_UUID_LEN + 1] = malloc(N * sizeof *all);
  for (int i = 0; i < N; i++)
    mtr_uuid4(mtr_hooks_default(), all[i]);
  qsort(all, N, sizeof *all, cmp);
  for (int i = 1; i < N; i++)
    assert_true(strcmp(all[i - 1], all[i]) != 0);
  free(all);
}

static void test_name_based_is_deterministic(void **state)
{
  (void)state;
  char a[37], b[37], c[37];
  mtr_uuid_from_name("aws|prod|cust|dim|2024-01-01T13", 31, a);
  mtr_uuid_from_name("aws|prod|cust|dim|2024-01-01T13", 31, b);
  mtr_uuid_from_name("aws|prod|cust|dim|2024-01-01T14", 31, c);
  assert_string_equal(a, b);
  assert_string_not_equal(a, c);
  assert_true(mtr_uuid_valid(a));
  assert_int_equal(a[14], '5');
}

static void test_random_failure_is_reported(void **state)
{
  (void)state;
  fake_clock fc;
  fake_clock_init(&fc, 0);
  char u[37];
  assert_int_equal(mtr_uuid4(&fc.hooks, u), 0);
  assert_false(mtr_uuid_valid("not-a-uuid"));
  assert_false(mtr_uuid_valid("123e4567-e89b-12d3-a456-42661417400g"));
  assert_true(mtr_uuid_valid("123e4567-e89b-12d3-a456-426614174000"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_format_and_version), cmocka_unit_test(test_uniqueness),
    cmocka_unit_test(test_name_based_is_deterministic),
    cmocka_unit_test(test_random_failure_is_reported),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
