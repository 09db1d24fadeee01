#include "test_util.h"

#include "core/log.h"

#include <string.h>

static void redacts(const char *in, const char *must_not, const char *must)
{
  mtr_buf out = MTR_BUF_INIT;
  mtr_redact(in, &out);
  if (must_not && strstr(mtr_buf_cstr(&out), must_not))
    fail_msg("'%s' still contains '%s'", mtr_buf_cstr(&out), must_not);
  if (must && !strstr(mtr_buf_cstr(&out), must))
    fail_msg("'%s' lacks '%s'", mtr_buf_cstr(&out), must);
  mtr_buf_dispose(&out);
}

static void test_patterns(void **state)
{
  (void)state;
  redacts("Authorization: Bearer eyJhbGciOi.abc.def", "eyJhbGciOi", "Bearer [redacted]");
  redacts("authorization: AWS4-HMAC-SHA256 Credential=AKID/2024, Signature=abcdef0123", "abcdef0123",
          "[redacted]");
  redacts("{\"access_token\":\"tok123456\",\"expires_in\":5400}", "tok123456", "expires_in");
  redacts("grant_type=client_credentials&client_secret=s3cr3tvalue&scope=x", "s3cr3tvalue", "scope=x");
  redacts("X-Amz-Security-Token: FwoGZXIvYXdzEXAMPLE", "FwoGZXIvYXdzEXAMPLE", NULL);
  redacts("{\"SecretAccessKey\":\"wJalrXUtnFEMI\",\"Token\":\"IQoJb3JpZ2lu\"}", "wJalrXUtnFEMI", NULL);
  redacts("{\"Token\":\"IQoJb3JpZ2lu\"}", "IQoJb3JpZ2lu", NULL);
  redacts("nothing secret here: quantity=3", NULL, "nothing secret here: quantity=3");
}

static void test_known_secrets_scrubbed(void **state)
{
  (void)state;
  mtr_logger lg;
  captured_log_clear();
  mtr_logger_init(&lg, capture_log, NULL, METER_LOG_DEBUG);
  mtr_logger_add_secret(&lg, "hunter2-very-secret");
  mtr_log(&lg, METER_LOG_INFO, "server echoed %s back at us", "xxhunter2-very-secretxx");
  assert_null(strstr(captured_log(), "hunter2"));
  assert_non_null(strstr(captured_log(), "xx[redacted]xx"));
  /* Below the level: nothing. */
  captured_log_clear();
  mtr_logger_dispose(&lg);
  mtr_logger_init(&lg, capture_log, NULL, METER_LOG_WARN);
  mtr_log(&lg, METER_LOG_DEBUG, "debug line");
  assert_string_equal(captured_log(), "");
  /* Newlines cannot forge extra lines. */
  mtr_log(&lg, METER_LOG_ERROR, "a\nb\rc");
  assert_string_equal(captured_log(), "a b c\n");
  mtr_logger_dispose(&lg);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_patterns),
    cmocka_unit_test(test_known_secrets_scrubbed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
