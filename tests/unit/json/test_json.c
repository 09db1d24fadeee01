#include "test_util.h"

#include "core/error.h"
#include "json/json.h"

#include <string.h>

static void test_parse_errors_name_the_offset(void **state)
{
  (void)state;
  meter_error e;
  assert_null(mtr_json_parse("{\"a\":", 5, "Tackle answer", &e));
  assert_int_equal(e.status, METER_EPROTOCOL);
  assert_non_null(strstr(e.message, "Tackle answer: malformed JSON"));
  assert_null(mtr_json_parse("", 0, "AWS answer", &e));
  assert_non_null(strstr(e.message, "empty body"));
  /* Length-bounded: bytes after len are not read. */
  cJSON *j = mtr_json_parse("{\"a\":1}garbage", 7, "x", &e);
  assert_non_null(j);
  cJSON_Delete(j);
}

static void test_exact_integers(void **state)
{
  (void)state;
  cJSON *j = cJSON_Parse("{\"a\":42,\"b\":1.5,\"c\":9007199254740993,\"d\":\"7\",\"e\":-3}");
  int64_t v;
  assert_int_equal(mtr_json_int64(j, "a", &v), 0);
  assert_true(v == 42);
  assert_int_equal(mtr_json_int64(j, "b", &v), -1);
  assert_int_equal(mtr_json_int64(j, "c", &v), -1); /* beyond 2^53: not exact */
  assert_int_equal(mtr_json_int64(j, "d", &v), -1);
  assert_int_equal(mtr_json_int64(j, "e", &v), 0);
  assert_int_equal(mtr_json_int64(j, "missing", &v), -1);
  assert_string_equal(mtr_json_str(j, "d"), "7");
  assert_null(mtr_json_str(j, "a"));
  cJSON_Delete(j);
}

static void test_number_text_shortest(void **state)
{
  (void)state;
  cJSON *j = cJSON_Parse("[0.1, 3, 12.25, 0.0000001, 1e20, 123456789.123]");
  const char *want[] = { "0.1", "3", "12.25", "0.0000001", "100000000000000000000", "123456789.123" };
  char out[64];
  for (int i = 0; i < 6; i++) {
    assert_int_equal(mtr_json_number_text(cJSON_GetArrayItem(j, i), out, sizeof out), 0);
    assert_string_equal(out, want[i]);
  }
  cJSON_Delete(j);
}

static void test_builders_exact(void **state)
{
  (void)state;
  cJSON *o = cJSON_CreateObject();
  mtr_json_add_str(o, "s", "x\"y");
  mtr_json_add_int(o, "i", INT64_C(9007199254740993));
  mtr_json_add_decimal(o, "d", "0.1234567891");
  mtr_json_add_bool(o, "b", 1);
  mtr_json_add_str(o, "skipped", NULL);
  mtr_buf out = MTR_BUF_INIT;
  assert_int_equal(mtr_json_print(o, &out), METER_OK);
  assert_string_equal(mtr_buf_cstr(&out),
                      "{\"s\":\"x\\\"y\",\"i\":9007199254740993,\"d\":0.1234567891,\"b\":true}");
  mtr_buf_dispose(&out);
  cJSON_Delete(o);

  /* integers at the edges, written without printf */
  o = cJSON_CreateObject();
  mtr_json_add_int(o, "a", 0);
  mtr_json_add_int(o, "b", -7);
  mtr_json_add_int(o, "c", INT64_MAX);
  mtr_json_add_int(o, "d", INT64_MIN);
  mtr_json_add_int(o, "e", 2147483647);
  assert_int_equal(mtr_json_print(o, &out), METER_OK);
  assert_string_equal(mtr_buf_cstr(&out),
                      "{\"a\":0,\"b\":-7,\"c\":9223372036854775807,\"d\":-9223372036854775808,"
                      "\"e\":2147483647}");
  mtr_buf_dispose(&out);
  cJSON_Delete(o);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_errors_name_the_offset),
    cmocka_unit_test(test_exact_integers),
    cmocka_unit_test(test_number_text_shortest),
    cmocka_unit_test(test_builders_exact),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
