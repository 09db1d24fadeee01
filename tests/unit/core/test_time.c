#include "test_util.h"

#include "core/timefmt.h"

#include <string.h>

static void fmt(int64_t t, mtr_timefmt f, const char *want)
{
  char out[MTR_TIME_BUF];
  assert_string_equal(mtr_time_format(t, f, out), want);
}

static void test_format_variants(void **state)
{
  (void)state;
  int64_t t = INT64_C(1704114000) * 1000000 + 123456; /* 2024-01-01T13:00:00.123456Z */
  fmt(t, MTR_TIME_RFC3339, "2024-01-01T13:00:00Z");
  fmt(t, MTR_TIME_RFC3339_MICRO, "2024-01-01T13:00:00.123456Z");
  fmt(t, MTR_TIME_RFC3339_MILLI, "2024-01-01T13:00:00.123Z");
  fmt(t, MTR_TIME_OFFSET_MICRO, "2024-01-01T13:00:00.123456+00:00");
  fmt(t, MTR_TIME_AMZ, "20240101T130000Z");
  fmt(t, MTR_TIME_AMZ_DATE, "20240101");
  fmt(t, MTR_TIME_HTTP, "Mon, 01 Jan 2024 13:00:00 GMT");
  fmt(0, MTR_TIME_RFC3339, "1970-01-01T00:00:00Z");
}

static void test_leap_years_and_month_ends(void **state)
{
  (void)state;
  int64_t t;
  assert_int_equal(mtr_time_parse("2024-02-29T23:59:59Z", &t), 0);
  fmt(t + 1000000, MTR_TIME_RFC3339, "2024-03-01T00:00:00Z");
  assert_int_equal(mtr_time_parse("2023-02-29T00:00:00Z", &t), -1);
  assert_int_equal(mtr_time_parse("2100-02-29T00:00:00Z", &t), -1);
  assert_int_equal(mtr_time_parse("2000-02-29T00:00:00Z", &t), 0);
  assert_int_equal(mtr_time_parse("2024-04-31T00:00:00Z", &t), -1);
  assert_int_equal(mtr_time_parse("2024-12-31T23:59:59.999999Z", &t), 0);
  fmt(t + 1, MTR_TIME_RFC3339_MICRO, "2025-01-01T00:00:00.000000Z");
}

static void test_parse_forms(void **state)
{
  (void)state;
  int64_t base, t;
  assert_int_equal(mtr_time_parse("2019-07-15T15:00:00Z", &base), 0);
  assert_int_equal(mtr_time_parse("2019-07-15T15:00:00.000000+00:00", &t), 0);
  assert_true(t == base);
  assert_int_equal(mtr_time_parse("2019-07-15 15:00:00", &t), 0); /* Tackle how-to form */
  assert_true(t == base);
  assert_int_equal(mtr_time_parse("2019-07-15T17:00:00+02:00", &t), 0);
  assert_true(t == base);
  assert_int_equal(mtr_time_parse("2019-07-15T10:00:00-0500", &t), 0);
  assert_true(t == base);
  assert_int_equal(mtr_time_parse("2019-07-15T15:00Z", &t), 0);
  assert_true(t == base);
  assert_int_equal(mtr_time_parse("1563202800", &t), 0); /* epoch seconds */
  assert_true(t == base);
  assert_int_equal(mtr_time_parse("2019-07-15T15:00:00.123456789Z", &t), 0);
  assert_true(t == base + 123456); /* nanoseconds truncated to micro */
  assert_int_equal(mtr_time_parse("2019-07-15", &t), 0);
  assert_true(t == base - 15 * MTR_US_PER_HOUR);
}

static void test_parse_rejects(void **state)
{
  (void)state;
  int64_t t;
  const char *bad[] = { "", "yesterday", "2019-7-15T15:00:00Z", "2019-07-15T25:00:00Z",
                        "2019-07-15T15:60:00Z", "2019-07-15T15:00:00ZZ", "2019-07-15T15:00:00.Z",
                        "2019-07-15T15:00:00+2", "2019-13-01T00:00:00Z", "2019-07-15X15:00:00Z",
                        "2019-07-15T15:00:00.1234567890Z", NULL };
  for (int i = 0; bad[i]; i++)
    assert_int_equal(mtr_time_parse(bad[i], &t), -1);
}

static void test_hour_floor(void **state)
{
  (void)state;
  int64_t t;
  mtr_time_parse("2024-01-01T13:59:59.999999Z", &t);
  fmt(mtr_time_hour_floor(t), MTR_TIME_RFC3339, "2024-01-01T13:00:00Z");
  mtr_time_parse("2024-01-01T13:00:00Z", &t);
  assert_true(mtr_time_hour_floor(t) == t);
  assert_true(mtr_time_hour_floor(-1) == -MTR_US_PER_HOUR);
}

static void test_http_dates(void **state)
{
  (void)state;
  int64_t want, t;
  mtr_time_parse("1994-11-06T08:49:37Z", &want);
  assert_int_equal(mtr_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
  assert_true(t == want);
  assert_int_equal(mtr_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
  assert_true(t == want);
  assert_int_equal(mtr_http_date_parse("Sun Nov  6 08:49:37 1994", &t), 0);
  assert_true(t == want);
  assert_int_equal(mtr_http_date_parse("06 Nov 1994", &t), -1);
  assert_int_equal(mtr_http_date_parse("Sun, 06 Foo 1994 08:49:37 GMT", &t), -1);
  /* Found by the time fuzzer: an RFC 850 year of many digits overflowed the
   * microsecond count; years beyond 9999 are refused. */
  assert_int_equal(mtr_http_date_parse("Sunday, 06-Nov-15716285 08:49:37 GMT", &t), -1);
  assert_int_equal(mtr_http_date_parse("Sunday, 06-Nov-99999 08:49:37 GMT", &t), -1);
  assert_int_equal(mtr_time_parse("0000-01-01T00:00:00Z", &t), -1);
}

static void test_roundtrip_many(void **state)
{
  (void)state;
  /* Every day from 1970 to 2400 formats and parses back to itself. */
  for (int64_t d = 0; d < 157000; d += 7) {
    int64_t t = d * 86400 * MTR_US_PER_SEC + 3723 * MTR_US_PER_SEC + 42, back;
    char s[MTR_TIME_BUF];
    mtr_time_format(t, MTR_TIME_RFC3339_MICRO, s);
    assert_int_equal(mtr_time_parse(s, &back), 0);
    assert_true(back == t);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_format_variants), cmocka_unit_test(test_leap_years_and_month_ends),
    cmocka_unit_test(test_parse_forms),     cmocka_unit_test(test_parse_rejects),
    cmocka_unit_test(test_hour_floor),      cmocka_unit_test(test_http_dates),
    cmocka_unit_test(test_roundtrip_many),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
