#include "exact_json.h"

#include "core/buf.h"

#include <string.h>

/* JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
 * Returns the token length, or 0 if the text at p is not a number. */
static size_t number_len(const char *p, const char *end)
{
  const char *s = p;
  if (s < end && *s == '-')
    s++;
  if (s >= end || *s < '0' || *s > '9')
    return 0;
  if (*s == '0')
    s++;
  else
    while (s < end && *s >= '0' && *s <= '9')
      s++;
  if (s < end && *s == '.') {
    s++;
    if (s >= end || *s < '0' || *s > '9')
      return 0;
    while (s < end && *s >= '0' && *s <= '9')
      s++;
  }
  if (s < end && (*s == 'e' || *s == 'E')) {
    s++;
    if (s < end && (*s == '+' || *s == '-'))
      s++;
    if (s >= end || *s < '0' || *s > '9')
      return 0;
    while (s < end && *s >= '0' && *s <= '9')
      s++;
  }
  return (size_t)(s - p);
}

cJSON *sbx_json_parse(const char *data, size_t len, size_t *err_at)
{
  if (err_at)
    *err_at = 0;
  mtr_buf out = MTR_BUF_INIT;
  mtr_buf_reserve(&out, len + 64);
  const char *p = data, *end = data + len;
  while (p < end) {
    char c = *p;
    if (c == '"') {
      /* copy a string token verbatim */
      const char *s = p + 1;
      if ((s < end && *s == SBX_NUM_MARK) ||
          (end - s >= 6 && s[0] == '\\' && s[1] == 'u' && memcmp(s + 2, "0001", 4) == 0)) {
        if (err_at)
          *err_at = (size_t)(p - data);
        mtr_buf_dispose(&out);
        return NULL;
      }
      while (s < end && *s != '"')
        s += (*s == '\\' && s + 1 < end) ? 2 : 1;
      if (s < end)
        s++;
      mtr_buf_put(&out, p, (size_t)(s - p));
      p = s;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t n = number_len(p, end);
      if (n == 0) {
        if (err_at)
          *err_at = (size_t)(p - data);
        mtr_buf_dispose(&out);
        return NULL;
      }
      mtr_buf_putc(&out, '"');
      mtr_buf_putc(&out, SBX_NUM_MARK);
      mtr_buf_put(&out, p, n);
      mtr_buf_putc(&out, '"');
      p += n;
    } else { /* structure, whitespace, literals: copy the run in one go */
      const char *r = p + 1;
      while (r < end && *r != '"' && *r != '-' && (*r < '0' || *r > '9'))
        r++;
      mtr_buf_put(&out, p, (size_t)(r - p));
      p = r;
    }
  }
  if (mtr_buf_status(&out) != 0) {
    mtr_buf_dispose(&out);
    return NULL;
  }
  const char *parse_end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(out.ptr, out.len + 1, &parse_end, 1); /* + its NUL: nothing may follow */
  if (!root && err_at && parse_end) {
    /* an offset into the rewritten text: good enough as a hint */
    size_t at = (size_t)(parse_end - out.ptr);
    *err_at = at < len ? at : len;
  }
  mtr_buf_dispose(&out);
  return root;
}

int sbx_json_is_number(const cJSON *it)
{
  return cJSON_IsString(it) && it->valuestring && it->valuestring[0] == SBX_NUM_MARK;
}

int sbx_json_is_string(const cJSON *it)
{
  return cJSON_IsString(it) && it->valuestring && it->valuestring[0] != SBX_NUM_MARK;
}

int sbx_json_is_bool(const cJSON *it)
{
  return cJSON_IsBool(it);
}

int sbx_json_is_null(const cJSON *it)
{
  return cJSON_IsNull(it);
}

const char *sbx_json_number_text(const cJSON *it)
{
  return sbx_json_is_number(it) ? it->valuestring + 1 : NULL;
}

const char *sbx_json_string(const cJSON *it)
{
  return sbx_json_is_string(it) ? it->valuestring : NULL;
}

const char *sbx_json_get_string(const cJSON *obj, const char *key)
{
  return sbx_json_string(cJSON_GetObjectItemCaseSensitive(obj, key));
}

int sbx_json_integer(const cJSON *it, int64_t *out)
{
  const char *t = sbx_json_number_text(it);
  if (!t)
    return -1;
  int neg = *t == '-';
  if (neg)
    t++;
  int64_t v = 0;
  const char *s = t;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (v > (INT64_MAX - (*s - '0')) / 10)
      return -1;
    v = v * 10 + (*s - '0');
  }
  if (s == t)
    return -1;
  if (*s == '.') {
    for (s++; *s == '0'; s++)
      ;
  }
  if (*s != '\0')
    return -1;
  *out = neg ? -v : v;
  return 0;
}

int sbx_json_epoch_us(const cJSON *it, int64_t *out)
{
  const char *t = sbx_json_number_text(it);
  if (!t || *t == '-')
    return -1;
  int64_t sec = 0;
  const char *s = t;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (sec > 9999999999LL) /* beyond year 2286: not a metering time */
      return -1;
    sec = sec * 10 + (*s - '0');
  }
  int64_t us = 0;
  if (*s == '.') {
    int digits = 0;
    for (s++; *s >= '0' && *s <= '9'; s++, digits++)
      if (digits < 6)
        us = us * 10 + (*s - '0');
    for (; digits < 6; digits++)
      us *= 10;
  }
  if (*s != '\0')
    return -1;
  *out = sec * 1000000 + us;
  return 0;
}

static cJSON *unmark(const cJSON *it)
{
  if (sbx_json_is_number(it))
    return cJSON_CreateRaw(it->valuestring + 1);
  if (cJSON_IsArray(it) || cJSON_IsObject(it)) {
    cJSON *copy = cJSON_IsArray(it) ? cJSON_CreateArray() : cJSON_CreateObject();
    if (!copy)
      return NULL;
    for (const cJSON *c = it->child; c; c = c->next) {
      cJSON *cc = unmark(c);
      if (!cc) {
        cJSON_Delete(copy);
        return NULL;
      }
      if (cJSON_IsArray(it))
        cJSON_AddItemToArray(copy, cc);
      else
        cJSON_AddItemToObject(copy, c->string, cc);
    }
    return copy;
  }
  return cJSON_Duplicate(it, 1);
}

cJSON *sbx_json_unmark(const cJSON *item)
{
  return item ? unmark(item) : NULL;
}

void sbx_json_unmark_inplace(cJSON *item)
{
  if (!item)
    return;
  if (sbx_json_is_number(item)) {
    char *v = item->valuestring;
    memmove(v, v + 1, strlen(v)); /* drop the mark, keep the NUL */
    item->type = cJSON_Raw;
    return;
  }
  for (cJSON *c = item->child; c; c = c->next)
    sbx_json_unmark_inplace(c);
}

char *sbx_json_print(const cJSON *item)
{
  cJSON *copy = sbx_json_unmark(item);
  if (!copy)
    return NULL;
  char *s = cJSON_PrintUnformatted(copy);
  cJSON_Delete(copy);
  return s;
}
