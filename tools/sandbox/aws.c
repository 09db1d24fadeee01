/* AWS Marketplace Metering in the sandbox (awsJson1_1, X-Amz-Target
 * dispatch), per marketplaces.md §3 and the service model in
 * docs/vendor/aws-meteringmarketplace-service-2.json.
 *
 * State: one map of metering records keyed the way AWS de-duplicates them
 * (MeterUsage: signer/product/dimension/hour; BatchMeterUsage:
 * product/customer/dimension/hour) and one map of MeterUsage ClientTokens.
 * A replay is one lookup and no allocation. */
#include "aws.h"

#include "core/alloc.h"
#include "core/str.h"
#include "core/sync.h"
#include "core/timefmt.h"
#include "core/uuid.h"
#include "exact_json.h"
#include "faults.h"
#include "hashmap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AWS_FUTURE_TOLERANCE_US (5 * 60 * INT64_C(1000000))
#define AWS_MAX_BATCH 25
#define AWS_MAX_QUANTITY INT64_C(2147483647)
#define AWS_MAX_ALLOCATIONS 2500
#define AWS_MAX_TAGS 5

typedef struct aws_record {
  char id[37];                  /* MeteringRecordId */
  const char *operation;        /* static: "MeterUsage" | "BatchMeterUsage" */
  char *product, *customer, *dimension;
  int64_t hour_us;
  int64_t quantity;
} aws_record;

typedef struct aws_token {      /* a MeterUsage ClientToken */
  char *fingerprint;            /* the parameters it was first used with */
  aws_record *record;
} aws_token;

struct sbx_aws {
  mtr_mutex lock;
  sbx_map records;              /* dedup key -> aws_record */
  sbx_map tokens;               /* signer + ClientToken -> aws_token */
  aws_record **order;
  size_t count, cap;
};

/* ---- answers ---------------------------------------------------------------- */

static void request_id(sbx *s, sbx_response *resp)
{
  char id[37];
  sbx_new_id(s, "aws-request", id);
  mtr_headers_set(&resp->headers, "x-amzn-RequestId", id);
}

void sbx_aws_error(sbx *s, sbx_response *resp, unsigned status, const char *ns, const char *type,
                   const char *message)
{
  char full[200], header[300];
  mtr_fmt(full, sizeof full, "%s#%s", ns, type);
  mtr_fmt(header, sizeof header, "%s:http://internal.amazon.com/coral/%s/", type, ns);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "__type", full);
  if (message)
    cJSON_AddStringToObject(o, "message", message);
  sbx_respond_json(resp, status, o);
  cJSON_Delete(o);
  resp->content_type = "application/x-amz-json-1.1";
  mtr_headers_set(&resp->headers, "x-amzn-ErrorType", header);
  request_id(s, resp);
}

void sbx_aws_success(sbx *s, sbx_response *resp, const cJSON *body)
{
  sbx_respond_json(resp, 200, body);
  resp->content_type = "application/x-amz-json-1.1";
  request_id(s, resp);
}

/* An error decided while checking a request. */
typedef struct aws_err {
  unsigned status;
  const char *ns;
  const char *type;
  char message[512];
} aws_err;

static int set_err(aws_err *e, unsigned status, const char *ns, const char *type,
                   const char *fmt, ...) MTR_PRINTF(5, 6);
static int set_err(aws_err *e, unsigned status, const char *ns, const char *type,
                   const char *fmt, ...)
{
  e->status = status;
  e->ns = ns;
  e->type = type;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
  return -1;
}

#define VALIDATION(e, ...) set_err((e), 400, SBX_AWS_NS_VALIDATE, "ValidationException", __VA_ARGS__)
#define SERIALIZATION(e, ...) \
  set_err((e), 400, SBX_AWS_NS_CORAL, "SerializationException", __VA_ARGS__)
#define METERING(e, type, ...) set_err((e), 400, SBX_AWS_NS_METERING, (type), __VA_ARGS__)

static void answer_err(sbx *s, sbx_response *resp, const aws_err *e)
{
  sbx_aws_error(s, resp, e->status, e->ns, e->type, e->message);
}

/* ---- state ------------------------------------------------------------------------ */

sbx_aws *sbx_aws_new(void)
{
  sbx_aws *a = mtr_calloc(1, sizeof *a);
  if (a)
    mtr_mutex_init(&a->lock);
  return a;
}

static void token_free(void *p)
{
  aws_token *t = p;
  if (t) {
    mtr_free(t->fingerprint);
    mtr_free(t);
  }
}

static void record_free(aws_record *r)
{
  if (r) {
    mtr_free(r->product);
    mtr_free(r->customer);
    mtr_free(r->dimension);
    mtr_free(r);
  }
}

static void clear_locked(sbx_aws *a)
{
  sbx_map_clear(&a->records, NULL);
  sbx_map_clear(&a->tokens, token_free);
  for (size_t i = 0; i < a->count; i++)
    record_free(a->order[i]);
  mtr_free(a->order);
  a->order = NULL;
  a->count = a->cap = 0;
}

void sbx_aws_reset(sbx_aws *a)
{
  mtr_mutex_lock(&a->lock);
  clear_locked(a);
  mtr_mutex_unlock(&a->lock);
}

void sbx_aws_free(sbx_aws *a)
{
  if (!a)
    return;
  clear_locked(a);
  mtr_mutex_destroy(&a->lock);
  mtr_free(a);
}

int sbx_aws_ledger(sbx *s, cJSON *array)
{
  sbx_aws *a = s->aws;
  mtr_mutex_lock(&a->lock);
  for (size_t i = 0; i < a->count; i++) {
    const aws_record *r = a->order[i];
    cJSON *o = cJSON_CreateObject();
    if (!o) {
      mtr_mutex_unlock(&a->lock);
      return -1;
    }
    char hour[MTR_TIME_BUF];
    cJSON_AddStringToObject(o, "operation", r->operation);
    cJSON_AddStringToObject(o, "product", r->product);
    cJSON_AddStringToObject(o, "customer", r->customer);
    cJSON_AddStringToObject(o, "dimension", r->dimension);
    cJSON_AddStringToObject(o, "hour", mtr_time_format(r->hour_us, MTR_TIME_RFC3339, hour));
    cJSON_AddNumberToObject(o, "quantity", (double)r->quantity);
    cJSON_AddStringToObject(o, "record_id", r->id);
    cJSON_AddItemToArray(array, o);
  }
  mtr_mutex_unlock(&a->lock);
  return 0;
}

static aws_record *add_record_locked(sbx *s, sbx_aws *a, const char *key, const char *operation,
                                     const char *product, const char *customer,
                                     const char *dimension, int64_t hour, int64_t quantity)
{
  aws_record *r = mtr_calloc(1, sizeof *r);
  if (!r)
    return NULL;
  sbx_new_id(s, "aws-record", r->id);
  r->operation = operation;
  r->product = mtr_strdup(product);
  r->customer = mtr_strdup(customer);
  r->dimension = mtr_strdup(dimension);
  r->hour_us = hour;
  r->quantity = quantity;
  if (!r->product || !r->customer || !r->dimension)
    goto fail;
  if (a->count == a->cap) {
    size_t nc = a->cap ? a->cap * 2 : 256;
    aws_record **no = mtr_realloc(a->order, nc * sizeof *no);
    if (!no)
      goto fail;
    a->order = no;
    a->cap = nc;
  }
  if (sbx_map_puts(&a->records, key, r) != 0)
    goto fail;
  a->order[a->count++] = r;
  return r;
fail:
  record_free(r);
  return NULL;
}

/* A de-duplication key "tag\x1fa\x1fb\x1fc\x1f<hour>" into k (built by hand:
 * this runs for every record). */
static void dedup_key(mtr_buf *k, char tag, const char *a, const char *b, const char *c,
                      int64_t hour)
{
  char num[24];
  int n = 0;
  uint64_t h = (uint64_t)(hour < 0 ? -hour : hour);
  do
    num[sizeof num - 1 - n++] = (char)('0' + h % 10);
  while ((h /= 10) != 0);
  if (hour < 0)
    num[sizeof num - 1 - n++] = '-';
  mtr_buf_reserve(k, strlen(a) + strlen(b) + strlen(c) + 32);
  mtr_buf_putc(k, tag);
  const char *parts[3] = { a, b, c };
  for (int i = 0; i < 3; i++) {
    mtr_buf_putc(k, '\x1f');
    mtr_buf_puts(k, parts[i]);
  }
  mtr_buf_putc(k, '\x1f');
  mtr_buf_put(k, num + sizeof num - n, (size_t)n);
}

/* ---- reading members (Coral's validation and serialization errors) ---------------- */

static void camel(const char *name, char *out, size_t size)
{
  mtr_strlcpy(out, name, size);
  if (out[0] >= 'A' && out[0] <= 'Z')
    out[0] = (char)(out[0] + 32);
}

static const char *json_kind(const cJSON *it)
{
  if (sbx_json_is_number(it))
    return "NUMBER_VALUE";
  if (sbx_json_is_string(it))
    return "STRING_VALUE";
  if (cJSON_IsBool(it))
    return cJSON_IsTrue(it) ? "VALUE_TRUE" : "VALUE_FALSE";
  if (cJSON_IsArray(it))
    return "START_ARRAY";
  if (cJSON_IsObject(it))
    return "START_OBJECT";
  return "VALUE_NULL";
}

typedef int (*char_ok_fn)(char c);

/* "path.memberName" for error messages: built only when an error is answered
 * (this runs for every member of every record of every request). */
static const char *field_path(char *buf, size_t size, const char *path, const char *name)
{
  char m[128];
  camel(name, m, sizeof m);
  mtr_fmt(buf, size, "%s%s%s", path ? path : "", path && *path ? "." : "", m);
  return buf;
}

/* A string member: required or not, length bounds, allowed characters. */
static int get_string(aws_err *e, const cJSON *obj, const char *name, const char *path,
                      int required, size_t min, size_t max, char_ok_fn ok, const char *pattern,
                      const char **out)
{
  char f[200];
  *out = NULL;
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
  if (!it || cJSON_IsNull(it)) {
    if (required)
      return VALIDATION(e, "1 validation error detected: Value null at '%s' failed to satisfy "
                           "constraint: Member must not be null",
                        field_path(f, sizeof f, path, name));
    return 0;
  }
  const char *v = sbx_json_string(it);
  if (!v)
    return SERIALIZATION(e, "%s can not be converted to a String (at '%s')", json_kind(it),
                         field_path(f, sizeof f, path, name));
  size_t n = strlen(v);
  if (n < min || n > max)
    return VALIDATION(e, "1 validation error detected: Value '%.100s' at '%s' failed to satisfy "
                         "constraint: Member must have length %s %zu",
                      v, field_path(f, sizeof f, path, name),
                      n < min ? "greater than or equal to" : "less than or equal to",
                      n < min ? min : max);
  for (size_t i = 0; ok && i < n; i++)
    if (!ok(v[i]))
      return VALIDATION(e, "1 validation error detected: Value '%.100s' at '%s' failed to "
                           "satisfy constraint: Member must satisfy regular expression pattern: "
                           "%s",
                        v, field_path(f, sizeof f, path, name), pattern);
  *out = v;
  return 0;
}

/* An integer member in [min, max]; def when absent. */
static int get_int(aws_err *e, const cJSON *obj, const char *name, const char *path, int required,
                   int64_t min, int64_t max, int64_t def, int64_t *out)
{
  char f[200];
  *out = def;
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
  if (!it || cJSON_IsNull(it)) {
    if (required)
      return VALIDATION(e, "1 validation error detected: Value null at '%s' failed to satisfy "
                           "constraint: Member must not be null",
                        field_path(f, sizeof f, path, name));
    return 0;
  }
  int64_t v;
  if (!sbx_json_is_number(it))
    return SERIALIZATION(e, "%s can not be converted to an Integer (at '%s')", json_kind(it),
                         field_path(f, sizeof f, path, name));
  if (sbx_json_integer(it, &v) != 0)
    return SERIALIZATION(e, "NUMBER_VALUE '%.40s' can not be converted to an Integer (at '%s')",
                         sbx_json_number_text(it), field_path(f, sizeof f, path, name));
  if (v < min || v > max)
    return VALIDATION(e, "1 validation error detected: Value '%lld' at '%s' failed to satisfy "
                         "constraint: Member must have value %s %lld",
                      (long long)v, field_path(f, sizeof f, path, name),
                      v < min ? "greater than or equal to" : "less than or equal to",
                      (long long)(v < min ? min : max));
  *out = v;
  return 0;
}

static int get_timestamp(aws_err *e, const cJSON *obj, const char *path, int64_t *out)
{
  char f[200];
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "Timestamp");
  if (!it || cJSON_IsNull(it))
    return VALIDATION(e, "1 validation error detected: Value null at '%s' failed to satisfy "
                         "constraint: Member must not be null",
                      field_path(f, sizeof f, path, "Timestamp"));
  if (!sbx_json_is_number(it))
    return SERIALIZATION(e, "%s can not be converted to a Timestamp (at '%s'; awsJson sends "
                            "epoch seconds as a number)",
                         json_kind(it), field_path(f, sizeof f, path, "Timestamp"));
  if (sbx_json_epoch_us(it, out) != 0)
    return SERIALIZATION(e, "NUMBER_VALUE '%.40s' can not be converted to a Timestamp (at '%s')",
                         sbx_json_number_text(it), field_path(f, sizeof f, path, "Timestamp"));
  return 0;
}

static int product_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         strchr("-/=:_.@", c) != NULL;
}

static int digit_char(char c)
{
  return c >= '0' && c <= '9';
}

/* ^[a-zA-Z0-9+ -=._:\/@]+$ : note " -=" is the range 0x20..0x3D */
static int tag_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c >= ' ' && c <= '=') || strchr("._:/@", c) != NULL;
}

#define PRODUCT_PATTERN "^[-a-zA-Z0-9/=:_.@]*$"
#define TAG_PATTERN "^[a-zA-Z0-9+ -=._:\\/@]+$"

/* LicenseArn pattern of the model, without a regex engine. */
static int seg_ok(const char *s, size_t n, int first_alnum, const char *extra, size_t max)
{
  if (n > max)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (i == 0 && first_alnum && !alnum)
      return 0;
    if (!alnum && !strchr(extra, c))
      return 0;
  }
  return first_alnum ? n > 0 : 1;
}

static int license_arn_ok(const char *arn, char *account, size_t account_size)
{
  if (strncmp(arn, "arn:aws", 7) != 0)
    return 0;
  const char *p = arn + 7;
  while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '-')
    p++;
  if (*p++ != ':')
    return 0;
  const char *seg[4];
  size_t len[4];
  for (int i = 0; i < 3; i++) {
    const char *c = strchr(p, ':');
    if (!c)
      return 0;
    seg[i] = p;
    len[i] = (size_t)(c - p);
    p = c + 1;
  }
  seg[3] = p;
  len[3] = strlen(p);
  if (!seg_ok(seg[0], len[0], 1, "_/.-", 63) || !seg_ok(seg[1], len[1], 0, "_/.-", 63) ||
      !seg_ok(seg[2], len[2], 0, "_/.-", 63) || !seg_ok(seg[3], len[3], 1, ":_/+=,@.-", 1024))
    return 0;
  mtr_fmt(account, account_size, "%.*s", (int)len[2], seg[2]);
  return 1;
}

#define LICENSE_PATTERN                                                                     \
  "^arn:aws[a-zA-Z-]*:[A-Za-z0-9][A-Za-z0-9_/.-]{0,62}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9_/.-]" \
  "{0,63}:[A-Za-z0-9][A-Za-z0-9:_/+=,@.-]{0,1023}$"

/* ---- usage allocations (MeterUsage and BatchMeterUsage) ------------------------------ */

static int tag_cmp(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Validates UsageAllocations against quantity; a canonical text of it into
 * canon (for ClientToken fingerprints). */
static int check_allocations(aws_err *e, const cJSON *obj, const char *path, int64_t quantity,
                             mtr_buf *canon)
{
  const cJSON *allocs = cJSON_GetObjectItemCaseSensitive(obj, "UsageAllocations");
  if (!allocs || cJSON_IsNull(allocs))
    return 0;
  char field[160];
  mtr_fmt(field, sizeof field, "%s%susageAllocations", path, *path ? "." : "");
  if (!cJSON_IsArray(allocs))
    return SERIALIZATION(e, "%s can not be converted to a List (at '%s')", json_kind(allocs),
                         field);
  int n = cJSON_GetArraySize(allocs);
  if (n < 1 || n > AWS_MAX_ALLOCATIONS)
    return VALIDATION(e, "1 validation error detected: Value at '%s' failed to satisfy "
                         "constraint: Member must have length %s %d",
                      field, n < 1 ? "greater than or equal to" : "less than or equal to",
                      n < 1 ? 1 : AWS_MAX_ALLOCATIONS);
  int64_t sum = 0;
  sbx_map seen = SBX_MAP_INIT;
  int rc = 0, i = 0;
  const cJSON *a;
  cJSON_ArrayForEach(a, allocs)
  {
    char apath[200];
    mtr_fmt(apath, sizeof apath, "%s.%d.member", field, i + 1);
    if (!cJSON_IsObject(a)) {
      rc = SERIALIZATION(e, "%s can not be converted to a UsageAllocation (at '%s')",
                         json_kind(a), apath);
      break;
    }
    int64_t q;
    if ((rc = get_int(e, a, "AllocatedUsageQuantity", apath, 1, 0, AWS_MAX_QUANTITY, 0, &q)) != 0)
      break;
    sum += q;
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(a, "Tags");
    if (tags && !cJSON_IsNull(tags)) {
      if (!cJSON_IsArray(tags)) {
        rc = SERIALIZATION(e, "%s can not be converted to a List (at '%s.tags')",
                           json_kind(tags), apath);
        break;
      }
      int count = cJSON_GetArraySize(tags);
      if (count < 1 || count > AWS_MAX_TAGS) {
        rc = METERING(e, "InvalidTagException",
                      count < 1 ? "Tags must not be empty; leave Tags out for the bucket "
                                  "without tags"
                                : "The number of tags is greater than 5.");
        break;
      }
      const cJSON *t;
      mtr_buf keyset = MTR_BUF_INIT;
      cJSON_ArrayForEach(t, tags)
      {
        const char *k = sbx_json_get_string(t, "Key"), *v = sbx_json_get_string(t, "Value");
        int bad_k = !k || !*k || strlen(k) > 100, bad_v = !v || !*v || strlen(v) > 256;
        for (const char *c = k; !bad_k && *c; c++)
          bad_k = !tag_char(*c);
        for (const char *c = v; !bad_v && *c; c++)
          bad_v = !tag_char(*c);
        if (bad_k || bad_v) {
          rc = METERING(e, "InvalidTagException",
                        "The tag is invalid: %s '%.100s' must be 1-%d characters matching %s",
                        bad_k ? "Key" : "Value", bad_k ? (k ? k : "null") : (v ? v : "null"),
                        bad_k ? 100 : 256, TAG_PATTERN);
          break;
        }
        char probe[110];
        mtr_fmt(probe, sizeof probe, "\x1f%s\x1f", k);
        if (strstr(mtr_buf_cstr(&keyset), probe)) {
          rc = METERING(e, "InvalidTagException", "The tag key '%.100s' is repeated", k);
          break;
        }
        mtr_buf_puts(&keyset, probe);
      }
      mtr_buf_dispose(&keyset);
      if (rc)
        break;
    }
    /* canonical tag set: "k=v" sorted, to find allocations with the same tags */
    char *pairs[AWS_MAX_TAGS];
    int np = 0;
    const cJSON *t;
    if (tags && cJSON_IsArray(tags)) {
      cJSON_ArrayForEach(t, tags)
      {
        mtr_buf kv = MTR_BUF_INIT;
        mtr_buf_printf(&kv, "%s=%s", sbx_json_get_string(t, "Key"),
                       sbx_json_get_string(t, "Value"));
        pairs[np++] = mtr_buf_detach(&kv);
      }
    }
    qsort(pairs, (size_t)np, sizeof pairs[0], tag_cmp);
    mtr_buf set = MTR_BUF_INIT;
    for (int j = 0; j < np; j++) {
      mtr_buf_printf(&set, "%s\x1e", pairs[j] ? pairs[j] : "");
      mtr_free(pairs[j]);
    }
    int dup = sbx_map_get(&seen, mtr_buf_cstr(&set), set.len) != NULL;
    if (!dup)
      sbx_map_put(&seen, mtr_buf_cstr(&set), set.len, (void *)1);
    if (canon)
      mtr_buf_printf(canon, "[%lld:%s]", (long long)q, mtr_buf_cstr(&set));
    mtr_buf_dispose(&set);
    if (dup) {
      rc = METERING(e, "InvalidUsageAllocationsException",
                    "Each UsageAllocation must have a unique set of tags");
      break;
    }
    i++;
  }
  sbx_map_clear(&seen, NULL);
  if (rc)
    return rc;
  if (sum != quantity)
    return METERING(e, "InvalidUsageAllocationsException",
                    "Sum of allocated usage quantities (%lld) is not equal to the usage "
                    "quantity (%lld).",
                    (long long)sum, (long long)quantity);
  return 0;
}

/* ---- windows --------------------------------------------------------------------------- */

static const char *fmt_time(int64_t t, char *out)
{
  return mtr_time_format(t, MTR_TIME_RFC3339, out);
}

static int meter_window(const sbx *s, aws_err *e, int64_t ts, int64_t now)
{
  char t[MTR_TIME_BUF];
  if (now - ts > s->cfg.aws_meter_window_h * MTR_US_PER_HOUR)
    return METERING(e, "TimestampOutOfBoundsException",
                    "Timestamp %s is more than %ld hours in the past; MeterUsage accepts usage "
                    "for up to %ld hours after the event",
                    fmt_time(ts, t), s->cfg.aws_meter_window_h, s->cfg.aws_meter_window_h);
  if (ts > now + AWS_FUTURE_TOLERANCE_US)
    return METERING(e, "TimestampOutOfBoundsException", "Timestamp %s is in the future",
                    fmt_time(ts, t));
  return 0;
}

/* 24 hours (configurable), and the month-end grace: usage of the previous
 * month is accepted until 06:00 UTC on the 1st, not after. */
static int batch_window(const sbx *s, aws_err *e, int64_t ts, int64_t now)
{
  char t[MTR_TIME_BUF];
  if (now - ts >= s->cfg.aws_batch_window_h * MTR_US_PER_HOUR)
    return METERING(e, "TimestampOutOfBoundsException",
                    "Timestamp %s is %ld hours or more in the past; BatchMeterUsage does not "
                    "accept it (the whole batch is rejected)",
                    fmt_time(ts, t), s->cfg.aws_batch_window_h);
  if (ts > now + AWS_FUTURE_TOLERANCE_US)
    return METERING(e, "TimestampOutOfBoundsException",
                    "Timestamp %s is in the future (the whole batch is rejected)",
                    fmt_time(ts, t));
  int64_t y;
  unsigned m, d;
  mtr_civil_from_days(now / MTR_US_PER_SEC / 86400, &y, &m, &d);
  int64_t month_start = mtr_days_from_civil(y, m, 1) * 86400 * MTR_US_PER_SEC;
  if (ts < month_start && now >= month_start + 6 * MTR_US_PER_HOUR)
    return METERING(e, "TimestampOutOfBoundsException",
                    "Timestamp %s belongs to the previous billing month, whose grace period "
                    "ended at 06:00 UTC on the 1st (the whole batch is rejected)",
                    fmt_time(ts, t));
  return 0;
}

/* ---- MeterUsage -------------------------------------------------------------------------- */

static int scripted_product(aws_err *e, const char *product)
{
  if (strncmp(product, "invalid-", 8) == 0)
    return METERING(e, "InvalidProductCodeException",
                    "The product code %.100s does not match the product code used for "
                    "publishing the product.",
                    product);
  return 0;
}

static int scripted_dimension(aws_err *e, const char *dimension)
{
  if (strncmp(dimension, "invalid-", 8) == 0)
    return METERING(e, "InvalidUsageDimensionException",
                    "The usage dimension %.100s does not match one of the UsageDimensions "
                    "associated with the product.",
                    dimension);
  return 0;
}

static void meter_usage(sbx *s, const sbx_request *req, const cJSON *body, const char *akid,
                        sbx_response *resp)
{
  aws_err e;
  const char *product, *dimension, *token;
  int64_t ts, quantity;
  mtr_buf allocs = MTR_BUF_INIT;
  if (get_string(&e, body, "ProductCode", "", 1, 1, 255, product_char, PRODUCT_PATTERN,
                 &product) ||
      get_timestamp(&e, body, "", &ts) ||
      get_string(&e, body, "UsageDimension", "", 1, 1, 255, NULL, NULL, &dimension) ||
      get_int(&e, body, "UsageQuantity", "", 0, 0, AWS_MAX_QUANTITY, 0, &quantity) ||
      get_string(&e, body, "ClientToken", "", 0, 1, 64, NULL, NULL, &token))
    goto error;
  const cJSON *dry = cJSON_GetObjectItemCaseSensitive(body, "DryRun");
  if (dry && !cJSON_IsNull(dry) && !cJSON_IsBool(dry)) {
    SERIALIZATION(&e, "%s can not be converted to a Boolean (at 'dryRun')", json_kind(dry));
    goto error;
  }
  if (check_allocations(&e, body, "", quantity, &allocs) != 0)
    goto error;
  if (strcmp(s->cfg.aws_resource_region, s->cfg.aws_region) != 0) {
    METERING(&e, "InvalidEndpointRegionException",
             "The endpoint's Region (%s) is not the Region of the EC2 instance, ECS task or EKS "
             "pod (%s).",
             s->cfg.aws_region, s->cfg.aws_resource_region);
    goto error;
  }
  if (scripted_product(&e, product) || scripted_dimension(&e, dimension))
    goto error;
  if (strncmp(product, "unentitled-", 11) == 0) {
    METERING(&e, "CustomerNotEntitledException",
             "The customer does not have a valid subscription for the product.");
    goto error;
  }
  if (meter_window(s, &e, ts, req->now_us) != 0)
    goto error;
  if (cJSON_IsTrue(dry)) {
    /* As the service documents: permission granted -> DryRunOperation (an
     * error type, as in EC2); nothing is recorded. */
    set_err(&e, 412, SBX_AWS_NS_METERING, "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set.");
    goto error;
  }

  int64_t hour = mtr_time_hour_floor(ts);
  char fingerprint[1024];
  mtr_fmt(fingerprint, sizeof fingerprint, "%s\x1f%lld\x1f%s\x1f%lld\x1f%s", product,
          (long long)ts, dimension, (long long)quantity, mtr_buf_cstr(&allocs));
  mtr_buf key = MTR_BUF_INIT, tkey = MTR_BUF_INIT;
  dedup_key(&key, 'M', akid, product, dimension, hour);
  /* --bench keeps no ClientTokens (one per call, they would pile up): a
   * call is then judged by its once-per-hour key alone. */
  if (s->cfg.bench)
    token = NULL;
  if (token)
    mtr_buf_printf(&tkey, "%s\x1f%s", akid, token);
  char record_id[37] = "";
  sbx_aws *a = s->aws;
  mtr_mutex_lock(&a->lock);
  aws_token *tk = token ? sbx_map_get(&a->tokens, tkey.ptr, tkey.len) : NULL;
  if (tk) {
    if (strcmp(tk->fingerprint, fingerprint) == 0)
      mtr_strlcpy(record_id, tk->record->id, sizeof record_id);
    else
      set_err(&e, 409, SBX_AWS_NS_METERING, "IdempotencyConflictException",
              "The ClientToken %.64s is being used for multiple requests.", token);
  } else {
    aws_record *r = sbx_map_get(&a->records, key.ptr, key.len);
    if (r && r->quantity != quantity) {
      char h[MTR_TIME_BUF];
      fmt_time(hour, h);
      METERING(&e, "DuplicateRequestException",
               "A metering record has already been emitted for dimension %.100s and hour %s "
               "with a different usageQuantity (%lld).",
               dimension, h, (long long)r->quantity);
    } else {
      if (!r)
        r = add_record_locked(s, a, key.ptr, "MeterUsage", product, akid, dimension, hour,
                              quantity);
      if (r && token) {
        aws_token *nt = mtr_calloc(1, sizeof *nt);
        if (nt && (nt->fingerprint = mtr_strdup(fingerprint)) != NULL &&
            sbx_map_put(&a->tokens, tkey.ptr, tkey.len, nt) == 0) {
          nt->record = r;
        } else {
          token_free(nt);
          r = NULL;
        }
      }
      if (r)
        mtr_strlcpy(record_id, r->id, sizeof record_id);
      else
        set_err(&e, 500, SBX_AWS_NS_METERING, "InternalServiceErrorException", "out of memory");
    }
  }
  mtr_mutex_unlock(&a->lock);
  mtr_buf_dispose(&key);
  mtr_buf_dispose(&tkey);
  if (!record_id[0])
    goto error;
  mtr_buf_dispose(&allocs);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "MeteringRecordId", record_id);
  sbx_aws_success(s, resp, o);
  cJSON_Delete(o);
  return;
error:
  mtr_buf_dispose(&allocs);
  answer_err(s, resp, &e);
}

/* ---- BatchMeterUsage ---------------------------------------------------------------------- */

typedef struct batch_rec {
  const cJSON *item;
  const char *customer, *dimension, *license;
  int64_t ts, quantity;
  int unprocessed;
} batch_rec;

static int check_batch_record(const sbx *s, aws_err *e, const cJSON *rec, int index,
                              const char *product_code, batch_rec *out, int64_t now)
{
  char path[64];
  mtr_fmt(path, sizeof path, "usageRecords.%d.member", index + 1);
  out->item = rec;
  if (!cJSON_IsObject(rec))
    return SERIALIZATION(e, "%s can not be converted to a UsageRecord (at '%s')",
                         json_kind(rec), path);
  const char *cid, *acct;
  if (get_timestamp(e, rec, path, &out->ts) ||
      get_string(e, rec, "Dimension", path, 1, 1, 255, NULL, NULL, &out->dimension) ||
      get_int(e, rec, "Quantity", path, 0, 0, AWS_MAX_QUANTITY, 0, &out->quantity) ||
      get_string(e, rec, "CustomerIdentifier", path, 0, 0, 255, NULL, NULL, &cid) ||
      get_string(e, rec, "CustomerAWSAccountId", path, 0, 1, 255, digit_char, "^[0-9]+$",
                 &acct) ||
      get_string(e, rec, "LicenseArn", path, 0, 0, 4096, NULL, NULL, &out->license))
    return -1;
  if (cid && acct)
    return VALIDATION(e, "CustomerIdentifier and CustomerAWSAccountId are mutually exclusive "
                         "(at '%s')",
                      path);
  if (!cid && !acct)
    return VALIDATION(e, "One of CustomerIdentifier or CustomerAWSAccountId is required (at "
                         "'%s')",
                      path);
  out->customer = cid ? cid : acct;
  char account[80] = "";
  if (out->license && !license_arn_ok(out->license, account, sizeof account))
    return VALIDATION(e, "1 validation error detected: Value '%.200s' at '%s.licenseArn' failed "
                         "to satisfy constraint: Member must satisfy regular expression "
                         "pattern: %s",
                      out->license, path, LICENSE_PATTERN);
  if (!out->license && !product_code)
    return VALIDATION(e, "ProductCode is required when a UsageRecord has no LicenseArn (at "
                         "'%s')",
                      path);
  if (out->license && acct && account[0] && strcmp(account, acct) != 0)
    return METERING(e, "InvalidLicenseException",
                    "The LicenseArn %.200s does not belong to the customer %.40s.",
                    out->license, acct);
  if (check_allocations(e, rec, path, out->quantity, NULL) != 0 ||
      scripted_dimension(e, out->dimension))
    return -1;
  return batch_window(s, e, out->ts, now);
}

static void batch_meter_usage(sbx *s, const sbx_request *req, cJSON *body,
                              const sbx_fault_hit *fault, sbx_response *resp)
{
  aws_err e;
  const char *product_code;
  batch_rec recs[AWS_MAX_BATCH];
  if (get_string(&e, body, "ProductCode", "", 0, 1, 255, product_char, PRODUCT_PATTERN,
                 &product_code) != 0)
    goto error;
  cJSON *list = cJSON_GetObjectItemCaseSensitive(body, "UsageRecords");
  if (!list || cJSON_IsNull(list)) {
    VALIDATION(&e, "1 validation error detected: Value null at 'usageRecords' failed to satisfy "
                   "constraint: Member must not be null");
    goto error;
  }
  if (!cJSON_IsArray(list)) {
    SERIALIZATION(&e, "%s can not be converted to a List (at 'usageRecords')", json_kind(list));
    goto error;
  }
  int n = cJSON_GetArraySize(list);
  if (n > AWS_MAX_BATCH) {
    VALIDATION(&e, "1 validation error detected: Value at 'usageRecords' failed to satisfy "
                   "constraint: Member must have length less than or equal to 25");
    goto error;
  }
  if (product_code && scripted_product(&e, product_code) != 0)
    goto error;
  int i = 0;
  const cJSON *rec;
  cJSON_ArrayForEach(rec, list)
  {
    memset(&recs[i], 0, sizeof recs[i]);
    if (check_batch_record(s, &e, rec, i, product_code, &recs[i], req->now_us) != 0)
      goto error;
    i++;
  }
  /* fault kind "unprocessed": every record at an even position (0, 2, ...)
   * comes back in UnprocessedRecords, not applied */
  if (fault)
    for (int j = 0; j < n; j += 2)
      recs[j].unprocessed = 1;

  cJSON *o = cJSON_CreateObject();
  cJSON *results = cJSON_AddArrayToObject(o, "Results");
  cJSON *unprocessed = cJSON_AddArrayToObject(o, "UnprocessedRecords");
  sbx_aws *a = s->aws;
  int oom = 0;
  mtr_mutex_lock(&a->lock);
  for (int j = 0; j < n; j++) {
    batch_rec *b = &recs[j];
    /* echo the record as sent: move it out of the request, numbers restored */
    cJSON *echo = cJSON_DetachItemViaPointer(list, (cJSON *)b->item);
    sbx_json_unmark_inplace(echo);
    if (b->unprocessed) {
      cJSON_AddItemToArray(unprocessed, echo);
      continue;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "UsageRecord", echo);
    const char *product = product_code ? product_code : b->license;
    if (strncmp(b->customer, "unsubscribed-", 13) == 0) {
      cJSON_AddStringToObject(r, "Status", "CustomerNotSubscribed");
    } else {
      int64_t hour = mtr_time_hour_floor(b->ts);
      mtr_buf key = MTR_BUF_INIT;
      dedup_key(&key, 'B', product, b->customer, b->dimension, hour);
      aws_record *held = sbx_map_get(&a->records, key.ptr, key.len);
      if (held && held->quantity != b->quantity) {
        cJSON_AddStringToObject(r, "Status", "DuplicateRecord");
      } else {
        if (!held)
          held = add_record_locked(s, a, key.ptr, "BatchMeterUsage", product, b->customer,
                                   b->dimension, hour, b->quantity);
        if (held) {
          cJSON_AddStringToObject(r, "MeteringRecordId", held->id);
          cJSON_AddStringToObject(r, "Status", "Success");
        } else {
          oom = 1;
        }
      }
      mtr_buf_dispose(&key);
    }
    cJSON_AddItemToArray(results, r);
  }
  mtr_mutex_unlock(&a->lock);
  if (oom)
    sbx_aws_error(s, resp, 500, SBX_AWS_NS_METERING, "InternalServiceErrorException",
                  "out of memory");
  else
    sbx_aws_success(s, resp, o);
  cJSON_Delete(o);
  return;
error:
  answer_err(s, resp, &e);
}

/* ---- RegisterUsage, ResolveCustomer -------------------------------------------------------- */

static void base64url(mtr_buf *out, const char *s, size_t len)
{
  mtr_buf b = MTR_BUF_INIT;
  mtr_base64_encode(&b, s, len);
  for (size_t i = 0; i < b.len; i++) {
    char c = b.ptr[i];
    if (c == '=')
      break;
    mtr_buf_putc(out, c == '+' ? '-' : c == '/' ? '_' : c);
  }
  mtr_buf_dispose(&b);
}

static void register_usage(sbx *s, const sbx_request *req, const cJSON *body, sbx_response *resp)
{
  aws_err e;
  const char *product, *nonce;
  int64_t version;
  if (get_string(&e, body, "ProductCode", "", 1, 1, 255, product_char, PRODUCT_PATTERN,
                 &product) ||
      get_int(&e, body, "PublicKeyVersion", "", 1, 1, INT64_C(2147483647), 0, &version) ||
      get_string(&e, body, "Nonce", "", 0, 0, 255, NULL, NULL, &nonce))
    goto error;
  if (version != 1) {
    METERING(&e, "InvalidPublicKeyVersionException", "Public Key version is invalid.");
    goto error;
  }
  if (strcmp(s->cfg.aws_resource_region, s->cfg.aws_region) != 0) {
    METERING(&e, "InvalidRegionException",
             "RegisterUsage must be called in the same AWS Region the ECS task was launched in "
             "(%s), not %s.",
             s->cfg.aws_resource_region, s->cfg.aws_region);
    goto error;
  }
  if (scripted_product(&e, product))
    goto error;
  if (strncmp(product, "unentitled-", 11) == 0) {
    METERING(&e, "CustomerNotEntitledException",
             "The customer does not have a valid subscription for the product.");
    goto error;
  }
  if (strncmp(product, "unsupported-", 12) == 0) {
    METERING(&e, "PlatformNotSupportedException",
             "AWS Marketplace does not support metering usage from the underlying platform.");
    goto error;
  }
  /* A JWT-shaped Signature (header.payload.signature, base64url). */
  char iat[MTR_TIME_BUF], sig[65];
  cJSON *payload = cJSON_CreateObject();
  cJSON_AddStringToObject(payload, "productCode", product);
  cJSON_AddNumberToObject(payload, "publicKeyVersion", 1);
  cJSON_AddStringToObject(payload, "customerIdentifier", "sandbox-customer");
  if (nonce)
    cJSON_AddStringToObject(payload, "nonce", nonce);
  cJSON_AddStringToObject(payload, "timestamp", mtr_time_format(req->now_us, MTR_TIME_RFC3339, iat));
  char *ptext = cJSON_PrintUnformatted(payload);
  cJSON_Delete(payload);
  static const char header[] = "{\"alg\":\"PS256\",\"typ\":\"JWT\",\"kid\":\"meter-sandbox\"}";
  mtr_buf jwt = MTR_BUF_INIT;
  base64url(&jwt, header, sizeof header - 1);
  mtr_buf_putc(&jwt, '.');
  base64url(&jwt, ptext ? ptext : "{}", ptext ? strlen(ptext) : 2);
  cJSON_free(ptext);
  sbx_new_secret(s, "register-usage", sig, 32);
  mtr_buf_putc(&jwt, '.');
  base64url(&jwt, sig, 64);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "Signature", mtr_buf_cstr(&jwt));
  mtr_buf_dispose(&jwt);
  sbx_aws_success(s, resp, o);
  cJSON_Delete(o);
  return;
error:
  answer_err(s, resp, &e);
}

static void resolve_customer(sbx *s, const cJSON *body, sbx_response *resp)
{
  aws_err e;
  const char *token;
  if (get_string(&e, body, "RegistrationToken", "", 1, 1, 1 << 20, NULL, NULL, &token)) {
    answer_err(s, resp, &e);
    return;
  }
  if (strcmp(token, "sandbox-registration-token") == 0) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "CustomerIdentifier", "sandbox-customer");
    cJSON_AddStringToObject(o, "ProductCode", "sandbox-product");
    cJSON_AddStringToObject(o, "CustomerAWSAccountId", "111122223333");
    cJSON_AddStringToObject(o, "LicenseArn",
                            "arn:aws:license-manager::111122223333:license/l-sandbox");
    sbx_aws_success(s, resp, o);
    cJSON_Delete(o);
  } else if (strcmp(token, "expired-token") == 0) {
    sbx_aws_error(s, resp, 400, SBX_AWS_NS_METERING, "ExpiredTokenException",
                  "The submitted registration token has expired.");
  } else {
    sbx_aws_error(s, resp, 400, SBX_AWS_NS_METERING, "InvalidTokenException",
                  "Registration token is invalid.");
  }
}

/* ---- dispatch ------------------------------------------------------------------------------ */

void sbx_aws_handle(sbx *s, const sbx_request *req, sbx_response *resp)
{
  char akid[128];
  if (sbx_aws_authenticate(s, req, resp, akid, sizeof akid) != 0)
    return;
  if (req->route == SBX_AWS_UNKNOWN) {
    sbx_aws_error(s, resp, 400, SBX_AWS_NS_CORAL, "UnknownOperationException", NULL);
    return;
  }
  cJSON *body = sbx_json_parse(req->body_len ? req->body : "{}", req->body_len ? req->body_len : 2,
                               NULL);
  if (!cJSON_IsObject(body)) {
    cJSON_Delete(body);
    sbx_aws_error(s, resp, 400, SBX_AWS_NS_CORAL, "SerializationException",
                  "The request body is not a JSON object");
    return;
  }
  switch (req->route) {
  case SBX_AWS_METER:
    meter_usage(s, req, body, akid, resp);
    break;
  case SBX_AWS_BATCH:
    batch_meter_usage(s, req, body, req->fault && req->fault->kind == SBX_FAULT_UNPROCESSED
                                      ? req->fault
                                      : NULL,
                      resp);
    break;
  case SBX_AWS_REGISTER:
    register_usage(s, req, body, resp);
    break;
  default:
    resolve_customer(s, body, resp);
    break;
  }
  cJSON_Delete(body);
}
