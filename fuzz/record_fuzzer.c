/* Record fields: the first byte picks the field, the rest is the value.
 * Setting any bytes never crashes; an accepted value never holds control
 * characters; a canonical quantity re-parses to itself. */
#include "fuzz.h"

#include "core/record.h"
#include "core/str.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  meter_record *r;
  if (meter_record_new(&r) != METER_OK)
    return 0;
  meter_field f = (meter_field)(data[0] % (MTR_FIELD_COUNT + 1));
  const char *v = (const char *)data + 1;
  if (meter_record_setn(r, f, v, size - 1) == METER_OK) {
    const char *got = meter_record_get(r, f);
    if (got && mtr_has_ctl(got, strlen(got)))
      abort();
    if (f == METER_FIELD_QUANTITY) {
      char again[8192];
      mtr_decimal_info info;
      if (mtr_decimal_canon(got, strlen(got), again, sizeof again, &info) != 0 || strcmp(again, got))
        abort();
    }
  }
  meter_record_errmsg(r);
  meter_record_free(r);
  return 0;
}
