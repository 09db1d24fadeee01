/* mtr_group_strings: leaders, the sorted order, groups in original order. */
#include "test_util.h"

#include "core/alloc.h"
#include "core/group.h"

static void test_groups(void **state)
{
  (void)state;
  const char *keys[] = { "b", "a", "b", "c", "a", "b" };
  size_t leader[6], order[6];
  assert_int_equal(mtr_group_strings(keys, 6, leader, order), 0);
  const size_t want_leader[] = { 0, 1, 0, 3, 1, 0 };
  const size_t want_order[] = { 1, 4, 0, 2, 5, 3 }; /* a a b b b c, each group by index */
  for (int i = 0; i < 6; i++) {
    assert_int_equal(leader[i], want_leader[i]);
    assert_int_equal(order[i], want_order[i]);
  }
  /* Without order, and all different. */
  const char *distinct[] = { "z", "y", "x" };
  assert_int_equal(mtr_group_strings(distinct, 3, leader, NULL), 0);
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(leader[i], i);
  assert_int_equal(mtr_group_strings(distinct, 0, leader, NULL), 0);
}

static void test_large_batch_all_equal(void **state)
{
  (void)state;
  enum { N = 250 };
  const char *keys[N];
  size_t leader[N], order[N];
  for (size_t i = 0; i < N; i++)
    keys[i] = i % 2 ? "odd" : "even";
  assert_int_equal(mtr_group_strings(keys, N, leader, order), 0);
  for (size_t i = 0; i < N; i++) {
    assert_int_equal(leader[i], i % 2);
    assert_int_equal(order[i], i < N / 2 ? 2 * i : 2 * (i - N / 2) + 1); /* even < odd */
  }
}

static void test_out_of_memory(void **state)
{
  (void)state;
  const char *keys[] = { "a", "b" };
  size_t leader[2];
  mtr_alloc_fail_at(1);
  assert_int_not_equal(mtr_group_strings(keys, 2, leader, NULL), 0);
  mtr_alloc_fail_at(0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_groups),
    cmocka_unit_test(test_large_batch_all_equal),
    cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
