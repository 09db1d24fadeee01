#include "json.h"

#include "core/error.h"
#include "core/str.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *mtr_json_parse(const char *data, size_t len, const char *what, meter_error *err)
{
  const char *end = NULL;
  if (!data || len == 0) {
    mtr_error_set(err, METER_EPROTOCOL, "%s: empty body where JSON was expected", what);
    return NULL;
  }
  cJSON *root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
  if (!root) {
    size_t at = end && end >= data ? (size_t)(end - data) : 0;
    mtr_error_set(err, METER_EPROTOCOL, "%s: malformed JSON near byte %zu", what, at);
  }
  return root;
}

const char *mtr_json_str(const cJSON *obj, const char *key)
{
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(it) ? it->valuestring : NULL;
}

int mtr_json_bool(const cJSON *obj, const char *key)
{
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (cJSON_IsTrue(it))
    return 1;
  if (cJSON_IsFalse(it))
    return 0;
  return -1;
}

int mtr_json_item_int64(const cJSON *item, int64_t *out)
{
  if (!cJSON_IsNumber(item))
    return -1;
  double d = item->valuedouble;
  /* From 2^53 on a double cannot tell neighbouring integers apart. */
  if (!isfinite(d) || d != floor(d) || fabs(d) >= 9007199254740992.0)
    return -1;
  *out = (int64_t)d;
  return 0;
}

int mtr_json_int64(const cJSON *obj, const char *key, int64_t *out)
{
  return mtr_json_item_int64(cJSON_GetObjectItemCaseSensitive(obj, key), out);
}

int mtr_json_number_text(const cJSON *item, char *out, size_t size)
{
  if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) || size < 32)
    return -1;
  double d = item->valuedouble;
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, size, "%.*g", prec, d);
    if (strtod(out, NULL) == d)
      break;
  }
  /* %g may use an exponent; expand it so the text is a plain decimal. */
  if (strchr(out, 'e') || strchr(out, 'E')) {
    if (fabs(d) >= 1e21 || (d != 0 && fabs(d) < 1e-15))
      return -1;
    /* 17 significant digits from 1e-15 on need up to 32 decimals. */
    char tmp[64];
    int exact = 0;
    for (int frac = 0; frac <= 34 && !exact; frac++) {
      snprintf(tmp, sizeof tmp, "%.*f", frac, d);
      exact = strtod(tmp, NULL) == d;
    }
    if (!exact || strlen(tmp) >= size)
      return -1;
    strcpy(out, tmp);
  }
  return 0;
}

cJSON *mtr_json_add_str(cJSON *obj, const char *key, const char *value)
{
  return value ? cJSON_AddStringToObject(obj, key, value) : obj;
}

cJSON *mtr_json_add_int(cJSON *obj, const char *key, int64_t value)
{
  char num[MTR_I64_DEC_SIZE];
  mtr_i64_dec(value, num);
  return cJSON_AddRawToObject(obj, key, num);
}

cJSON *mtr_json_add_decimal(cJSON *obj, const char *key, const char *decimal)
{
  return decimal ? cJSON_AddRawToObject(obj, key, decimal) : obj;
}

cJSON *mtr_json_add_bool(cJSON *obj, const char *key, int value)
{
  return cJSON_AddBoolToObject(obj, key, value ? 1 : 0);
}

int mtr_json_print(const cJSON *item, mtr_buf *out)
{
  char *s = cJSON_PrintUnformatted(item);
  if (!s)
    return METER_ENOMEM;
  int rc = mtr_buf_puts(out, s);
  cJSON_free(s);
  return rc;
}
