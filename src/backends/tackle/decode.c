/* Tackle's answers: UsageRecord objects, the Error envelope, and the
 * messages inside it that name what went wrong (jsonschema paths of
 * invalid_body, the product/customer/dimension of a 409). Parsing is lenient:
 * the examples carry fields the schema lacks (vendor_id, link), `test` is a
 * string in records and a boolean in webhooks. */
#include "tackle_internal.h"

#include "core/alloc.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tk_error_parse(const mtr_http_response *resp, tk_error_info *out)
{
  memset(out, 0, sizeof *out);
  cJSON *root = resp->body.len ? cJSON_ParseWithLength(resp->body.ptr, resp->body.len) : NULL;
  if (cJSON_IsObject(root)) {
    const char *code = mtr_json_str(root, "code");
    const char *msg = mtr_json_str(root, "error");
    if (!msg)
      msg = mtr_json_str(root, "message");
    if (code)
      mtr_strlcpy(out->code, code, sizeof out->code);
    if (msg)
      mtr_strlcpy(out->message, msg, sizeof out->message);
  } else if (resp->body.len) {
    /* Not JSON (a proxy's page): keep the start, on one line. */
    size_t n = resp->body.len < 160 ? resp->body.len : 160;
    for (size_t i = 0; i < n; i++) {
      unsigned char ch = (unsigned char)resp->body.ptr[i];
      out->message[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    out->message[n] = '\0';
  }
  cJSON_Delete(root);
}

/* ---- invalid_body ------------------------------------------------------ */

static meter_field field_of_path(const char *const *seg, size_t n)
{
  static const struct { const char *wire; meter_field f; } top[] = {
    { "cloud", METER_FIELD_CLOUD },
    { "product_id", METER_FIELD_PRODUCT },
    { "customer_id", METER_FIELD_CUSTOMER },
    { "subscription_id", METER_FIELD_SUBSCRIPTION_ID },
    { "start_time", METER_FIELD_TIME },
    { "end_time", METER_FIELD_END_TIME },
    { "scheduled_at", METER_FIELD_SCHEDULED_AT },
    { "test", METER_FIELD_TEST },
  };
  static const struct { const char *wire; meter_field f; } dim[] = {
    { "name", METER_FIELD_DIMENSION },
    { "quantity", METER_FIELD_QUANTITY },
    { "usage_allocations", METER_FIELD_QUANTITY },  /* allocations split the quantity */
    { "dry_run", METER_FIELD_DRY_RUN },
    { "consumer_id", METER_FIELD_CONSUMER_ID },
  };
  if (n == 0)
    return (meter_field)0;
  for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
    if (strcmp(seg[0], top[i].wire) == 0)
      return top[i].f;
  if (strcmp(seg[0], "dimension") != 0)
    return (meter_field)0;
  if (n == 1)
    return METER_FIELD_DIMENSION;
  for (size_t i = 0; i < sizeof dim / sizeof dim[0]; i++)
    if (strcmp(seg[1], dim[i].wire) == 0)
      return dim[i].f;
  return (meter_field)0;
}

static int all_digits(const char *s)
{
  if (!*s)
    return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s))
      return 0;
  return 1;
}

/*
 * "jsonschema: '/1/dimension' does not validate with https://...json/
 *  aws-usage-record-request#/$ref/properties/dimension/$ref/required:
 *  missing properties: 'name'"
 * -> index 1, field dimension, path "dimension.name", rule "missing
 * properties: 'name'". The URL holds no ": ", so the rule starts after the
 * first ": " that follows it.
 */
int tk_parse_invalid_body(const char *message, tk_body_error *out)
{
  memset(out, 0, sizeof *out);
  out->index = -1;
  const char *p = message ? strstr(message, "jsonschema: '") : NULL;
  if (!p)
    return -1;
  p += strlen("jsonschema: '");
  const char *end = strchr(p, '\'');
  if (!end)
    return -1;
  char ptr[160];
  size_t plen = (size_t)(end - p);
  if (plen >= sizeof ptr)
    plen = sizeof ptr - 1;
  memcpy(ptr, p, plen);
  ptr[plen] = '\0';

  const char *with = strstr(end, "does not validate with ");
  const char *rule = with ? strstr(with, ": ") : strstr(end, ": ");
  if (rule) {
    rule += 2;
    mtr_strlcpy(out->rule, rule, sizeof out->rule);
    mtr_trim(out->rule);
  }

  /* Segments of the JSON pointer, plus a missing property's name. */
  const char *seg[12];
  size_t n = 0;
  for (char *s = ptr; *s && n < 10;) {
    char *slash = strchr(s, '/');
    if (slash)
      *slash = '\0';
    if (*s)
      seg[n++] = s;
    if (!slash)
      break;
    s = slash + 1;
  }
  char missing[64] = "";
  const char *mp = strstr(out->rule, "missing properties: '");
  if (mp) {
    mp += strlen("missing properties: '");
    size_t ml = strcspn(mp, "'");
    if (ml < sizeof missing) {
      memcpy(missing, mp, ml);
      missing[ml] = '\0';
      seg[n++] = missing;
    }
  }
  size_t first = 0;
  if (n && all_digits(seg[0])) {
    out->index = strtol(seg[0], NULL, 10);
    first = 1;
  }
  for (size_t i = first; i < n; i++)
    snprintf(out->path + strlen(out->path), sizeof out->path - strlen(out->path), "%s%s",
             i > first ? "." : "", seg[i]);
  out->field = field_of_path(seg + first, n - first);
  return 0;
}

/* ---- 409 ----------------------------------------------------------------- */

static int copy_between(const char *msg, const char *key, const char *stop, char *out, size_t size)
{
  const char *p = strstr(msg, key);
  if (!p)
    return -1;
  p += strlen(key);
  const char *e = stop ? strstr(p, stop) : NULL;
  size_t len = e ? (size_t)(e - p) : strlen(p);
  while (len && isspace((unsigned char)p[len - 1]))
    len--;
  if (len >= size)
    return -1;
  memcpy(out, p, len);
  out[len] = '\0';
  return 0;
}

int tk_parse_conflict(const char *message, tk_conflict_key *out)
{
  memset(out, 0, sizeof *out);
  if (!message)
    return -1;
  if (strstr(message, "subscription=") &&
      copy_between(message, "subscription=", ", dimension=", out->subscription,
                   sizeof out->subscription) == 0 &&
      copy_between(message, "dimension=", NULL, out->dimension, sizeof out->dimension) == 0)
    return 0;
  memset(out, 0, sizeof *out);
  if (copy_between(message, "product=", ", customer=", out->product, sizeof out->product) ||
      copy_between(message, "customer=", ", dimension=", out->customer, sizeof out->customer) ||
      copy_between(message, "dimension=", NULL, out->dimension, sizeof out->dimension))
    return -1;
  return 0;
}

/* ---- UsageRecord ------------------------------------------------------------ */

void tk_record_clear(meter_tackle_record *r)
{
  for (size_t i = 0; i < TK_ATTR_COUNT; i++)
    mtr_free(r->s[i]);
  mtr_free(r->json);
  memset(r, 0, sizeof *r);
  r->start_us = r->end_us = -1;
}

/* A scalar as text: strings as they are, numbers exactly as far as a double
 * goes, booleans as true/false; NULL for null, objects and arrays. */
static int scalar_text(const cJSON *item, char **out)
{
  char num[32];
  const char *v = NULL;
  *out = NULL;
  if (cJSON_IsString(item))
    v = item->valuestring;
  else if (cJSON_IsNumber(item) && mtr_json_number_text(item, num, sizeof num) == 0)
    v = num;
  else if (cJSON_IsBool(item))
    v = cJSON_IsTrue(item) ? "true" : "false";
  if (!v)
    return 0;
  *out = mtr_strdup(v);
  return *out ? 0 : -1;
}

int tk_record_from_json(meter_tackle_record *r, const cJSON *item)
{
  static const struct { meter_tackle_attr a; const char *key; } top[] = {
    { METER_TACKLE_ID, "id" },
    { METER_TACKLE_PRODUCT_ID, "product_id" },
    { METER_TACKLE_CUSTOMER_ID, "customer_id" },
    { METER_TACKLE_SUBSCRIPTION_ID, "subscription_id" },
    { METER_TACKLE_CLOUD, "cloud" },
    { METER_TACKLE_START_TIME, "start_time" },
    { METER_TACKLE_END_TIME, "end_time" },
    { METER_TACKLE_STATUS, "status" },
    { METER_TACKLE_REASON, "reason" },
    { METER_TACKLE_TEST, "test" },
    { METER_TACKLE_CREATED_AT, "created_at" },
    { METER_TACKLE_UPDATED_AT, "updated_at" },
    { METER_TACKLE_SCHEDULED_AT, "scheduled_at" },
    { METER_TACKLE_DELETED_AT, "deleted_at" },
  };
  tk_record_clear(r);
  if (!cJSON_IsObject(item))
    return METER_EPROTOCOL;
  for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
    if (scalar_text(cJSON_GetObjectItemCaseSensitive(item, top[i].key), &r->s[top[i].a]))
      goto oom;
  /* test: a boolean false (webhook style) means "not a test". */
  if (r->s[METER_TACKLE_TEST] && strcmp(r->s[METER_TACKLE_TEST], "false") == 0) {
    mtr_free(r->s[METER_TACKLE_TEST]);
    r->s[METER_TACKLE_TEST] = NULL;
  }
  const cJSON *dim = cJSON_GetObjectItemCaseSensitive(item, "dimension");
  if (cJSON_IsObject(dim)) {
    if (scalar_text(cJSON_GetObjectItemCaseSensitive(dim, "name"), &r->s[METER_TACKLE_DIMENSION]) ||
        scalar_text(cJSON_GetObjectItemCaseSensitive(dim, "quantity"), &r->s[METER_TACKLE_QUANTITY]) ||
        scalar_text(cJSON_GetObjectItemCaseSensitive(dim, "consumer_id"),
                    &r->s[METER_TACKLE_CONSUMER_ID]))
      goto oom;
  }
  if (!r->s[METER_TACKLE_START_TIME] || mtr_time_parse(r->s[METER_TACKLE_START_TIME], &r->start_us))
    r->start_us = -1;
  if (!r->s[METER_TACKLE_END_TIME] || mtr_time_parse(r->s[METER_TACKLE_END_TIME], &r->end_us))
    r->end_us = -1;
  char *js = cJSON_PrintUnformatted(item);
  if (!js)
    goto oom;
  r->json = mtr_strdup(js);
  cJSON_free(js);
  if (!r->json)
    goto oom;
  return METER_OK;
oom:
  tk_record_clear(r);
  return METER_ENOMEM;
}

/* Equal when both sides have the value; a side without it does not
 * contradict (Tackle may answer a subscription record with product and
 * customer resolved, or without the subscription id). */
static int agrees(const char *got, const char *want)
{
  return !got || !want || strcmp(got, want) == 0;
}

int tk_record_matches(const meter_tackle_record *got, const meter_record *rec)
{
  if (!agrees(got->s[METER_TACKLE_PRODUCT_ID], mtr_rec(rec, METER_FIELD_PRODUCT)) ||
      !agrees(got->s[METER_TACKLE_CUSTOMER_ID], mtr_rec(rec, METER_FIELD_CUSTOMER)) ||
      !agrees(got->s[METER_TACKLE_SUBSCRIPTION_ID], mtr_rec(rec, METER_FIELD_SUBSCRIPTION_ID)) ||
      !agrees(got->s[METER_TACKLE_DIMENSION], mtr_rec(rec, METER_FIELD_DIMENSION)))
    return 0;
  /* The dimension and the hour must be there: without them nothing ties the
   * answer to this record. */
  if (!got->s[METER_TACKLE_DIMENSION] || got->start_us < 0)
    return 0;
  return mtr_time_hour_floor(got->start_us) == mtr_time_hour_floor(rec->time_us);
}
