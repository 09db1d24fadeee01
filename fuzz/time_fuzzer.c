/* Time parsing (ISO-8601/RFC 3339, HTTP dates) and Retry-After: whatever the
 * input, no crash, and a parsed RFC 3339 time formats and parses back to
 * itself. */
#include "fuzz.h"

#include "core/timefmt.h"
#include "http/retry.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  int64_t t;
  if (mtr_time_parse(s, &t) == 0 && t >= 0 && t < INT64_C(253402300800000000)) {
    char out[MTR_TIME_BUF];
    int64_t back;
    mtr_time_format(t, MTR_TIME_RFC3339_MICRO, out);
    if (mtr_time_parse(out, &back) != 0 || back != t)
      abort();
  }
  mtr_http_date_parse(s, &t);
  mtr_retry_after_us(s, NULL, NULL, 0);
  mtr_retry_after_us(NULL, s, NULL, 0);
  mtr_retry_after_us(s, NULL, s, 1700000000000000);
  free(s);
  return 0;
}
