#include "test_util.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/str.h"

#include <string.h>

static void test_append_and_printf(void **state)
{
  (void)state;
  mtr_buf b = MTR_BUF_INIT;
  assert_string_equal(mtr_buf_cstr(&b), "");
  for (int i = 0; i < 1000; i++)
    mtr_buf_printf(&b, "%d,", i);
  assert_int_equal(mtr_buf_status(&b), METER_OK);
  assert_true(strncmp(b.ptr, "0,1,2,", 6) == 0);
  assert_int_equal(b.len, strlen(b.ptr));
  mtr_buf_truncate(&b, 2);
  assert_string_equal(mtr_buf_cstr(&b), "0,");
  char *d = mtr_buf_detach(&b);
  assert_string_equal(d, "0,");
  mtr_free(d);
  mtr_buf_dispose(&b);
}

static void test_sticky_oom(void **state)
{
  (void)state;
  mtr_buf b = MTR_BUF_INIT;
  mtr_alloc_fail_at(1);
  assert_int_equal(mtr_buf_puts(&b, "x"), METER_ENOMEM);
  assert_int_equal(mtr_buf_puts(&b, "y"), METER_ENOMEM); /* sticky */
  assert_int_equal(mtr_buf_status(&b), METER_ENOMEM);
  mtr_buf_dispose(&b);
  assert_int_equal(mtr_buf_puts(&b, "z"), METER_OK);
  mtr_buf_dispose(&b);
}

static void test_encodings(void **state)
{
  (void)state;
  mtr_buf b = MTR_BUF_INIT;
  mtr_url_encode(&b, "a b/c~d_e.f-g=h&é", strlen("a b/c~d_e.f-g=h&é"), 0);
  assert_string_equal(mtr_buf_cstr(&b), "a%20b%2Fc~d_e.f-g%3Dh%26%C3%A9");
  mtr_buf_clear(&b);
  mtr_url_encode(&b, "/v1/x y", 7, 1);
  assert_string_equal(mtr_buf_cstr(&b), "/v1/x%20y");
  mtr_buf_clear(&b);
  mtr_base64_encode(&b, "id:secret", 9);
  assert_string_equal(mtr_buf_cstr(&b), "aWQ6c2VjcmV0");
  mtr_buf_dispose(&b);
  char hex[9];
  mtr_hex_encode((const unsigned char *)"\x01\xab\xff\x00", 4, hex);
  assert_string_equal(hex, "01abff00");
  char t[] = "  padded \t\n";
  assert_string_equal(mtr_trim(t), "padded");
  assert_true(mtr_has_ctl("a\x7f", 2));
  assert_false(mtr_has_ctl("plain", 5));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_append_and_printf),
    cmocka_unit_test(test_sticky_oom),
    cmocka_unit_test(test_encodings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
