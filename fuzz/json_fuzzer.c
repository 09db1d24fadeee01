/* JSON number handling: the helpers every back end reads answers with
 * (exact int64 within 2^53, the shortest text of a double) and exact
 * decimals. Properties: no crash; an int64 read back is integral and
 * within +-2^53; a number's text re-parses to the same double; a
 * canonical decimal is a fixed point of canonicalisation. */
#include "fuzz.h"

#include "core/decimal.h"
#include "json/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void walk(const cJSON *item, int depth)
{
  for (const cJSON *c = item; c && depth < 64; c = c->next) {
    int64_t v;
    if (mtr_json_item_int64(c, &v) == 0) {
      if (v > (INT64_C(1) << 53) || v < -(INT64_C(1) << 53) || (double)v != c->valuedouble)
        abort();
    }
    char text[64];
    if (mtr_json_number_text(c, text, sizeof text) == 0) {
      if (strtod(text, NULL) != c->valuedouble)
        abort();
    }
    if (c->string) {
      mtr_json_str(item, c->string);
      mtr_json_bool(item, c->string);
      mtr_json_int64(item, c->string, &v);
    }
    if (cJSON_IsString(c) && c->valuestring) {
      size_t n = strlen(c->valuestring);
      char *out = malloc(n + 2);
      mtr_decimal_info info;
      if (out && mtr_decimal_canon(c->valuestring, n, out, n + 2, &info) == 0) {
        char *again = malloc(n + 2);
        if (again && (mtr_decimal_canon(out, strlen(out), again, n + 2, &info) != 0 ||
                      strcmp(again, out) != 0))
          abort();
        free(again);
      }
      free(out);
    }
    walk(c->child, depth + 1);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  meter_error err;
  cJSON *j = mtr_json_parse((const char *)data, size, "fuzz answer", &err);
  if (j) {
    walk(j, 0);
    mtr_buf b = MTR_BUF_INIT;
    mtr_json_print(j, &b);
    mtr_buf_dispose(&b);
    cJSON_Delete(j);
  }
  /* The whole input as a decimal quantity. */
  char *out = malloc(size + 2);
  mtr_decimal_info info;
  if (out && mtr_decimal_canon((const char *)data, size, out, size + 2, &info) == 0) {
    if (info.fits_int64 && !info.is_integer)
      abort();
    cJSON *obj = cJSON_CreateObject();
    if (obj && mtr_json_add_decimal(obj, "q", out)) {
      mtr_buf b = MTR_BUF_INIT;
      if (mtr_json_print(obj, &b) == 0 && strstr(mtr_buf_cstr(&b), out) == NULL)
        abort(); /* a quantity is written exactly as its canonical text */
      mtr_buf_dispose(&b);
    }
    cJSON_Delete(obj);
  }
  free(out);
  return 0;
}
