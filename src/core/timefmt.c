#include "timefmt.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Howard Hinnant's algorithms: exact for every proleptic Gregorian date. */
int64_t mtr_days_from_civil(int64_t y, unsigned m, unsigned d)
{
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

void mtr_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = (unsigned)(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

int64_t mtr_time_hour_floor(int64_t t)
{
  return floor_div(t, MTR_US_PER_HOUR) * MTR_US_PER_HOUR;
}

static const char *const wdays[] = { "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

char *mtr_time_format(int64_t t, mtr_timefmt fmt, char *out)
{
  int64_t secs = floor_div(t, MTR_US_PER_SEC);
  int64_t us = t - secs * MTR_US_PER_SEC;
  int64_t days = floor_div(secs, 86400);
  int64_t sod = secs - days * 86400;
  int64_t y;
  unsigned mo, d;
  mtr_civil_from_days(days, &y, &mo, &d);
  int hh = (int)(sod / 3600), mi = (int)(sod / 60 % 60), ss = (int)(sod % 60);
  long long yy = (long long)y;

  switch (fmt) {
  case MTR_TIME_RFC3339:
    snprintf(out, MTR_TIME_BUF, "%04lld-%02u-%02uT%02d:%02d:%02dZ", yy, mo, d, hh, mi, ss);
    break;
  case MTR_TIME_RFC3339_MICRO:
    snprintf(out, MTR_TIME_BUF, "%04lld-%02u-%02uT%02d:%02d:%02d.%06lldZ", yy, mo, d, hh, mi, ss,
             (long long)us);
    break;
  case MTR_TIME_RFC3339_MILLI:
    snprintf(out, MTR_TIME_BUF, "%04lld-%02u-%02uT%02d:%02d:%02d.%03lldZ", yy, mo, d, hh, mi, ss,
             (long long)(us / 1000));
    break;
  case MTR_TIME_OFFSET_MICRO:
    snprintf(out, MTR_TIME_BUF, "%04lld-%02u-%02uT%02d:%02d:%02d.%06lld+00:00", yy, mo, d, hh, mi,
             ss, (long long)us);
    break;
  case MTR_TIME_AMZ:
    snprintf(out, MTR_TIME_BUF, "%04lld%02u%02uT%02d%02d%02dZ", yy, mo, d, hh, mi, ss);
    break;
  case MTR_TIME_AMZ_DATE:
    snprintf(out, MTR_TIME_BUF, "%04lld%02u%02u", yy, mo, d);
    break;
  case MTR_TIME_HTTP: {
    int64_t w = days % 7;
    if (w < 0)
      w += 7;
    snprintf(out, MTR_TIME_BUF, "%s, %02u %s %04lld %02d:%02d:%02d GMT", wdays[w], d,
             months[mo - 1], yy, hh, mi, ss);
    break;
  }
  }
  return out;
}

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out)
{
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*p)[i]))
      return -1;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

static unsigned days_in_month(int y, int m)
{
  static const unsigned dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
    return 29;
  return dm[m - 1];
}

static int from_fields(int y, int mo, int d, int hh, int mi, int ss, int64_t frac_us,
                       int64_t offset_s, int64_t *out)
{
  /* Years outside 1..9999 have no four-digit form on the wire (and a
   * five-digit RFC 850 year would overflow the microsecond count). */
  if (y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || (unsigned)d > days_in_month(y, mo) ||
      hh > 23 || mi > 59 || ss > 60)
    return -1;
  if (ss == 60) /* leap second: the wire never needs it; fold into :59 */
    ss = 59;
  int64_t days = mtr_days_from_civil(y, (unsigned)mo, (unsigned)d);
  int64_t secs = days * 86400 + hh * 3600 + mi * 60 + ss - offset_s;
  *out = secs * MTR_US_PER_SEC + frac_us;
  return 0;
}

int mtr_time_parse(const char *s, int64_t *out)
{
  if (!s || !*s)
    return -1;
  const char *p = s;

  /* Integer epoch seconds. */
  size_t n = strspn(p, "0123456789");
  if (n > 0 && p[n] == '\0' && n <= 12) {
    long long v = 0;
    for (size_t i = 0; i < n; i++)
      v = v * 10 + (p[i] - '0');
    *out = (int64_t)v * MTR_US_PER_SEC;
    return 0;
  }

  int y, mo, d, hh = 0, mi = 0, ss = 0;
  if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
    return -1;
  if (*p == '\0')
    return from_fields(y, mo, d, 0, 0, 0, 0, 0, out);
  if (*p != 'T' && *p != 't' && *p != ' ')
    return -1;
  p++;
  if (digits(&p, 2, &hh) || *p++ != ':' || digits(&p, 2, &mi))
    return -1;
  if (*p == ':') {
    p++;
    if (digits(&p, 2, &ss))
      return -1;
  }
  int64_t frac = 0;
  if (*p == '.' || *p == ',') {
    p++;
    int nd = 0;
    int64_t scale = 100000;
    while (isdigit((unsigned char)*p)) {
      if (nd < 6)
        frac += (*p - '0') * scale;
      scale /= 10;
      nd++;
      p++;
      if (nd > 9)
        return -1;
    }
    if (nd == 0)
      return -1;
  }
  int64_t offset = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1, oh, om;
    if (digits(&p, 2, &oh))
      return -1;
    if (*p == ':')
      p++;
    if (digits(&p, 2, &om) || oh > 23 || om > 59)
      return -1;
    offset = sign * (oh * 3600 + om * 60);
  }
  if (*p != '\0')
    return -1;
  return from_fields(y, mo, d, hh, mi, ss, frac, offset, out);
}

static int month_index(const char *m)
{
  for (int i = 0; i < 12; i++)
    if (strncmp(m, months[i], 3) == 0)
      return i + 1;
  return -1;
}

int mtr_http_date_parse(const char *s, int64_t *out)
{
  if (!s)
    return -1;
  char wd[16], mon[4];
  int d, y, hh, mi, ss, consumed = 0;
  /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
  if (sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &hh, &mi, &ss, &consumed) == 7 &&
      consumed > 0) {
    int m = month_index(mon);
    return m < 0 ? -1 : from_fields(y, m, d, hh, mi, ss, 0, 0, out);
  }
  /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
  if (sscanf(s, "%15[A-Za-z], %2d-%3s-%4d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &hh, &mi, &ss,
             &consumed) == 7 && consumed > 0) {
    int m = month_index(mon);
    if (y < 100)
      y += y < 70 ? 2000 : 1900;
    return m < 0 ? -1 : from_fields(y, m, d, hh, mi, ss, 0, 0, out);
  }
  /* asctime: Sun Nov  6 08:49:37 1994 */
  if (sscanf(s, "%3s %3s %2d %2d:%2d:%2d %4d%n", wd, mon, &d, &hh, &mi, &ss, &y, &consumed) == 7 &&
      consumed > 0) {
    int m = month_index(mon);
    return m < 0 ? -1 : from_fields(y, m, d, hh, mi, ss, 0, 0, out);
  }
  return -1;
}
