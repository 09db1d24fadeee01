/* Time formats used on the wire, all in UTC, all from one implementation:
 * RFC 3339 in its variants, SigV4's basic format, HTTP dates, epoch. Times
 * are int64 microseconds since the Unix epoch. No libc time zone state is
 * touched (thread-safe, TZ-independent). */
#ifndef MTR_TIMEFMT_H
#define MTR_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define MTR_US_PER_SEC INT64_C(1000000)
#define MTR_US_PER_HOUR (INT64_C(3600) * MTR_US_PER_SEC)

typedef enum mtr_timefmt {
  MTR_TIME_RFC3339,          /* 2024-01-01T13:00:00Z */
  MTR_TIME_RFC3339_MICRO,    /* 2024-01-01T13:00:00.000000Z */
  MTR_TIME_RFC3339_MILLI,    /* 2024-01-01T13:00:00.000Z (AppDirect eventDate) */
  MTR_TIME_OFFSET_MICRO,     /* 2024-01-01T13:00:00.000000+00:00 (Tackle OpenAPI) */
  MTR_TIME_AMZ,              /* 20240101T130000Z (X-Amz-Date) */
  MTR_TIME_AMZ_DATE,         /* 20240101 (SigV4 credential scope) */
  MTR_TIME_HTTP              /* Mon, 01 Jan 2024 13:00:00 GMT (IMF-fixdate) */
} mtr_timefmt;

#define MTR_TIME_BUF 64

/* Formats t into out (at least MTR_TIME_BUF bytes). Returns out. */
char *mtr_time_format(int64_t t_us, mtr_timefmt fmt, char *out);

/*
 * Parses an ISO-8601 / RFC 3339 timestamp: date, 'T' or ' ', time, optional
 * fraction (up to 9 digits, truncated to microseconds), optional 'Z' or
 * +hh:mm / -hh:mm / +hhmm (no offset means UTC). Also accepts a bare date
 * (midnight UTC) and integer epoch seconds. 0 on success, -1 on bad syntax or
 * an impossible date.
 */
int mtr_time_parse(const char *s, int64_t *out_us);

/* Parses an HTTP date (IMF-fixdate, RFC 850 or asctime). 0 on success. */
int mtr_http_date_parse(const char *s, int64_t *out_us);

/* Start of the hour containing t. */
int64_t mtr_time_hour_floor(int64_t t_us);

/* Days since the epoch for a proleptic Gregorian date (and back). */
int64_t mtr_days_from_civil(int64_t y, unsigned m, unsigned d);
void mtr_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif
