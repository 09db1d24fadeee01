/* meter_record: building and syntax checks. Back-end rules (required fields,
 * lengths, ranges) live with each back end's validate(). */
#include "record.h"

#include "alloc.h"
#include "hooks.h"
#include "str.h"
#include "timefmt.h"
#include "uuid.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Names are the JSON-lines keys and, with '-' for '_', the CLI's long flags. */
static const char *const field_names[MTR_FIELD_COUNT] = {
  [METER_FIELD_PRODUCT] = "product",
  [METER_FIELD_CUSTOMER] = "customer",
  [METER_FIELD_DIMENSION] = "dimension",
  [METER_FIELD_QUANTITY] = "quantity",
  [METER_FIELD_TIME] = "time",
  [METER_FIELD_END_TIME] = "end_time",
  [METER_FIELD_IDEMPOTENCY_KEY] = "idempotency_key",
  [METER_FIELD_TEST] = "test",
  [METER_FIELD_DRY_RUN] = "dry_run",
  [METER_FIELD_CLOUD] = "cloud",
  [METER_FIELD_METHOD] = "method",
  [METER_FIELD_SUBSCRIPTION_ID] = "subscription_id",
  [METER_FIELD_SCHEDULED_AT] = "scheduled_at",
  [METER_FIELD_CONSUMER_ID] = "consumer_id",
  [METER_FIELD_CUSTOMER_ACCOUNT_ID] = "customer_account_id",
  [METER_FIELD_LICENSE_ARN] = "license_arn",
  [METER_FIELD_ACCOUNT] = "account",
  [METER_FIELD_PRICING_UNIT] = "pricing_unit",
  [METER_FIELD_CUSTOM_UNIT] = "custom_unit",
  [METER_FIELD_PRICE] = "price",
  [METER_FIELD_CURRENCY] = "currency",
  [METER_FIELD_DESCRIPTION] = "description",
  [METER_FIELD_PRICING_MODEL] = "pricing_model",
};

static int field_ok(meter_field f)
{
  return f > 0 && f < MTR_FIELD_COUNT && field_names[f];
}

const char *meter_field_name(meter_field field)
{
  return field_ok(field) ? field_names[field] : NULL;
}

meter_field meter_field_from_name(const char *name)
{
  if (!name)
    return (meter_field)0;
  while (*name == '-')
    name++;
  char norm[32];
  size_t n = strlen(name);
  if (n == 0 || n >= sizeof norm)
    return (meter_field)0;
  for (size_t i = 0; i <= n; i++)
    norm[i] = name[i] == '-' ? '_' : (char)tolower((unsigned char)name[i]);
  for (int f = 1; f < MTR_FIELD_COUNT; f++)
    if (field_names[f] && strcmp(field_names[f], norm) == 0)
      return (meter_field)f;
  return (meter_field)0;
}

static int rec_error(meter_record *r, const char *fmt, ...) MTR_PRINTF(2, 3);
static int rec_error(meter_record *r, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
  va_end(ap);
  return METER_EINVAL;
}

/* Quotes a value for an error message: shortened, never more than 40 bytes. */
static const char *quote(const char *v, size_t len, char *out, size_t size)
{
  if (len > 40)
    snprintf(out, size, "\"%.37s...\"", v);
  else
    snprintf(out, size, "\"%.*s\"", (int)len, v);
  return out;
}

int meter_record_new(meter_record **out)
{
  if (!out)
    return METER_EINVAL;
  *out = NULL;
  meter_record *r = mtr_calloc(1, sizeof *r);
  if (!r)
    return METER_ENOMEM;
  char key[MTR_UUID_LEN + 1];
  const mtr_hooks *h = mtr_hooks_default();
  if (mtr_uuid4(h, key) != 0) {
    mtr_free(r);
    return METER_EINTERNAL; /* no randomness: refusing beats a guessable key */
  }
  int64_t now = mtr_now_us(h);
  char ts[MTR_TIME_BUF];
  r->fields[METER_FIELD_IDEMPOTENCY_KEY] = mtr_strdup(key);
  r->fields[METER_FIELD_TIME] = mtr_strdup(mtr_time_format(now, MTR_TIME_RFC3339_MICRO, ts));
  r->time_us = now;
  if (!r->fields[METER_FIELD_IDEMPOTENCY_KEY] || !r->fields[METER_FIELD_TIME]) {
    meter_record_free(r);
    return METER_ENOMEM;
  }
  *out = r;
  return METER_OK;
}

static void free_allocation(mtr_allocation *a)
{
  for (size_t t = 0; t < a->ntags; t++) {
    mtr_free(a->keys[t]);
    mtr_free(a->values[t]);
  }
  mtr_free(a->keys);
  mtr_free(a->values);
}

void meter_record_free(meter_record *r)
{
  if (!r)
    return;
  for (int f = 0; f < MTR_FIELD_COUNT; f++)
    mtr_free(r->fields[f]);
  for (size_t i = 0; i < r->nallocs; i++)
    free_allocation(&r->allocs[i]);
  mtr_free(r->allocs);
  for (size_t i = 0; i < r->nattrs; i++) {
    mtr_free(r->attrs[i].key);
    mtr_free(r->attrs[i].value);
  }
  mtr_free(r->attrs);
  mtr_free(r);
}

int meter_record_dup(meter_record **out, const meter_record *src)
{
  if (!out || !src)
    return METER_EINVAL;
  *out = NULL;
  meter_record *r = mtr_calloc(1, sizeof *r);
  if (!r)
    return METER_ENOMEM;
  *r = *src;
  memset(r->fields, 0, sizeof r->fields);
  r->allocs = NULL;
  r->attrs = NULL;
  r->nallocs = r->nattrs = 0;
  int rc = METER_OK;
  for (int f = 0; f < MTR_FIELD_COUNT; f++)
    if (src->fields[f] && !(r->fields[f] = mtr_strdup(src->fields[f])))
      rc = METER_ENOMEM;
  for (size_t i = 0; rc == METER_OK && i < src->nallocs; i++)
    rc = meter_record_add_allocation(r, src->allocs[i].quantity,
                                     (const char *const *)src->allocs[i].keys,
                                     (const char *const *)src->allocs[i].values,
                                     src->allocs[i].ntags);
  for (size_t i = 0; rc == METER_OK && i < src->nattrs; i++)
    rc = meter_record_set_attribute(r, src->attrs[i].key, src->attrs[i].value);
  if (rc != METER_OK) {
    meter_record_free(r);
    return rc;
  }
  *out = r;
  return METER_OK;
}

const char *meter_record_errmsg(const meter_record *r)
{
  return r ? r->errmsg : "record is NULL";
}

static int one_of(const char *v, const char *const *allowed)
{
  for (; *allowed; allowed++)
    if (strcmp(v, *allowed) == 0)
      return 1;
  return 0;
}

/* Checks and canonicalises `value` for `field` into a new string. */
static int canonical(meter_record *r, meter_field f, const char *v, size_t len, char **out,
                     int64_t *time_out, mtr_decimal_info *dec_out)
{
  const char *name = field_names[f];
  char q[48];
  *out = NULL;

  if (len > MTR_FIELD_MAX_LEN)
    return rec_error(r, "%s: longer than %d bytes", name, MTR_FIELD_MAX_LEN);
  if (mtr_has_ctl(v, len))
    return rec_error(r, "%s: control characters are not allowed", name);
  if (memchr(v, '\0', len))
    return rec_error(r, "%s: NUL bytes are not allowed", name);

  char lower[32];
  int small = len < sizeof lower;
  if (small) {
    for (size_t i = 0; i < len; i++)
      lower[i] = (char)tolower((unsigned char)v[i]);
    lower[len] = '\0';
  }

  switch (f) {
  case METER_FIELD_QUANTITY:
  case METER_FIELD_PRICE: {
    char *canon = mtr_malloc(len + 2);
    if (!canon)
      return METER_ENOMEM;
    if (mtr_decimal_canon(v, len, canon, len + 2, dec_out) != 0) {
      mtr_free(canon);
      return rec_error(r, "%s: must be a non-negative decimal number (digits, optionally '.' "
                       "and digits), got %s", name, quote(v, len, q, sizeof q));
    }
    *out = canon;
    return METER_OK;
  }
  case METER_FIELD_TIME:
  case METER_FIELD_END_TIME:
  case METER_FIELD_SCHEDULED_AT: {
    char tmp[64], ts[MTR_TIME_BUF];
    int64_t t;
    if (len >= sizeof tmp)
      return rec_error(r, "%s: not a timestamp, got %s", name, quote(v, len, q, sizeof q));
    memcpy(tmp, v, len);
    tmp[len] = '\0';
    if (mtr_time_parse(tmp, &t) != 0)
      return rec_error(r, "%s: must be an ISO-8601 / RFC 3339 UTC timestamp such as "
                       "2026-01-01T10:00:00Z, got %s", name, quote(v, len, q, sizeof q));
    if (t < 0)
      return rec_error(r, "%s: before 1970 is not a usage time", name);
    *time_out = t;
    *out = mtr_strdup(mtr_time_format(t, MTR_TIME_RFC3339_MICRO, ts));
    return *out ? METER_OK : METER_ENOMEM;
  }
  case METER_FIELD_TEST: {
    static const char *const ok[] = { "accepted", "rejected", "not-operable", NULL };
    if (!small || !one_of(lower, ok))
      return rec_error(r, "test: must be accepted, rejected or not-operable, got %s",
                       quote(v, len, q, sizeof q));
    *out = mtr_strdup(lower);
    break;
  }
  case METER_FIELD_DRY_RUN: {
    static const char *const yes[] = { "true", "1", "yes", "on", NULL };
    static const char *const no[] = { "false", "0", "no", "off", NULL };
    if (small && one_of(lower, yes))
      *out = mtr_strdup("true");
    else if (small && one_of(lower, no))
      *out = mtr_strdup("false");
    else
      return rec_error(r, "dry_run: must be true or false, got %s", quote(v, len, q, sizeof q));
    break;
  }
  case METER_FIELD_CLOUD: {
    static const char *const ok[] = { "aws", "azure", "gcp", NULL };
    if (!small || !one_of(lower, ok))
      return rec_error(r, "cloud: must be aws, azure or gcp, got %s", quote(v, len, q, sizeof q));
    *out = mtr_strdup(lower);
    break;
  }
  case METER_FIELD_METHOD: {
    static const char *const ok[] = { "put", "post", NULL };
    if (!small || !one_of(lower, ok))
      return rec_error(r, "method: must be put or post, got %s", quote(v, len, q, sizeof q));
    *out = mtr_strdup(lower);
    break;
  }
  case METER_FIELD_CURRENCY: {
    if (len != 3 || !isalpha((unsigned char)v[0]) || !isalpha((unsigned char)v[1]) ||
        !isalpha((unsigned char)v[2]))
      return rec_error(r, "currency: must be a three-letter ISO-4217 code such as USD, got %s",
                       quote(v, len, q, sizeof q));
    char up[4] = { (char)toupper((unsigned char)v[0]), (char)toupper((unsigned char)v[1]),
                   (char)toupper((unsigned char)v[2]), 0 };
    *out = mtr_strdup(up);
    break;
  }
  case METER_FIELD_IDEMPOTENCY_KEY:
    if (len == 0 || len > MTR_IDEMPOTENCY_KEY_MAX)
      return rec_error(r, "idempotency_key: must be 1 to %d characters, got %zu",
                       MTR_IDEMPOTENCY_KEY_MAX, len);
    for (size_t i = 0; i < len; i++)
      if (isspace((unsigned char)v[i]) || (unsigned char)v[i] > 0x7e)
        return rec_error(r, "idempotency_key: must be printable ASCII without spaces");
    *out = mtr_strndup(v, len);
    break;
  default:
    *out = mtr_strndup(v, len);
    break;
  }
  return *out ? METER_OK : METER_ENOMEM;
}

int meter_record_setn(meter_record *r, meter_field f, const char *value, size_t len)
{
  if (!r)
    return METER_EINVAL;
  r->errmsg[0] = '\0';
  if (!field_ok(f))
    return rec_error(r, "unknown field number %d", (int)f);

  if (!value) {
    if (f == METER_FIELD_TIME)
      return rec_error(r, "time: cannot be cleared (every record has a time)");
    if (f == METER_FIELD_IDEMPOTENCY_KEY)
      return rec_error(r, "idempotency_key: cannot be cleared (every record has one)");
    mtr_free(r->fields[f]);
    r->fields[f] = NULL;
    if (f == METER_FIELD_QUANTITY)
      memset(&r->qty, 0, sizeof r->qty);
    return METER_OK;
  }

  char *canon;
  int64_t t = 0;
  mtr_decimal_info dec;
  int rc = canonical(r, f, value, len, &canon, &t, &dec);
  if (rc != METER_OK)
    return rc;
  mtr_free(r->fields[f]);
  r->fields[f] = canon;
  switch (f) {
  case METER_FIELD_TIME: r->time_us = t; break;
  case METER_FIELD_END_TIME: r->end_time_us = t; break;
  case METER_FIELD_SCHEDULED_AT: r->scheduled_at_us = t; break;
  case METER_FIELD_QUANTITY: r->qty = dec; break;
  default: break;
  }
  return METER_OK;
}

int meter_record_set(meter_record *r, meter_field f, const char *value)
{
  return meter_record_setn(r, f, value, value ? strlen(value) : 0);
}

const char *meter_record_get(const meter_record *r, meter_field f)
{
  return r && field_ok(f) ? r->fields[f] : NULL;
}

int meter_record_set_quantity(meter_record *r, int64_t q)
{
  if (!r)
    return METER_EINVAL;
  if (q < 0)
    return rec_error(r, "quantity: must not be negative, got %lld", (long long)q);
  char num[24];
  snprintf(num, sizeof num, "%lld", (long long)q);
  return meter_record_set(r, METER_FIELD_QUANTITY, num);
}

int meter_record_set_time_us(meter_record *r, int64_t t)
{
  if (!r)
    return METER_EINVAL;
  if (t < 0)
    return rec_error(r, "time: before 1970 is not a usage time");
  char ts[MTR_TIME_BUF];
  return meter_record_set(r, METER_FIELD_TIME, mtr_time_format(t, MTR_TIME_RFC3339_MICRO, ts));
}

int64_t meter_record_time_us(const meter_record *r)
{
  return r ? r->time_us : 0;
}

int meter_record_add_allocation(meter_record *r, int64_t quantity, const char *const *keys,
                                const char *const *values, size_t ntags)
{
  if (!r || (ntags && (!keys || !values)))
    return METER_EINVAL;
  r->errmsg[0] = '\0';
  if (quantity < 0)
    return rec_error(r, "allocation: quantity must not be negative");
  for (size_t t = 0; t < ntags; t++) {
    if (!keys[t] || !values[t])
      return rec_error(r, "allocation: tag %zu has no key or value", t + 1);
    if (mtr_has_ctl(keys[t], strlen(keys[t])) || mtr_has_ctl(values[t], strlen(values[t])))
      return rec_error(r, "allocation: control characters are not allowed in tags");
  }
  mtr_allocation *grown = mtr_realloc(r->allocs, (r->nallocs + 1) * sizeof *grown);
  if (!grown)
    return METER_ENOMEM;
  r->allocs = grown;
  mtr_allocation a = { quantity, ntags, NULL, NULL };
  if (ntags) {
    a.keys = mtr_calloc(ntags, sizeof *a.keys);
    a.values = mtr_calloc(ntags, sizeof *a.values);
    if (!a.keys || !a.values) {
      free_allocation(&a);
      return METER_ENOMEM;
    }
    for (size_t t = 0; t < ntags; t++) {
      a.keys[t] = mtr_strdup(keys[t]);
      a.values[t] = mtr_strdup(values[t]);
      if (!a.keys[t] || !a.values[t]) {
        free_allocation(&a);
        return METER_ENOMEM;
      }
    }
  }
  r->allocs[r->nallocs++] = a;
  return METER_OK;
}

size_t meter_record_allocation_count(const meter_record *r)
{
  return r ? r->nallocs : 0;
}

int meter_record_set_attributen(meter_record *r, const char *key, size_t klen, const char *value,
                                size_t vlen)
{
  if (!r || !key || !klen || !value)
    return METER_EINVAL;
  r->errmsg[0] = '\0';
  if (klen > MTR_FIELD_MAX_LEN || vlen > MTR_FIELD_MAX_LEN)
    return rec_error(r, "attribute: longer than %d bytes", MTR_FIELD_MAX_LEN);
  if (mtr_has_ctl(key, klen) || mtr_has_ctl(value, vlen) || memchr(key, '\0', klen) ||
      memchr(value, '\0', vlen))
    return rec_error(r, "attribute: control characters are not allowed");
  char *v = mtr_strndup(value, vlen);
  if (!v)
    return METER_ENOMEM;
  for (size_t i = 0; i < r->nattrs; i++) {
    if (strlen(r->attrs[i].key) == klen && memcmp(r->attrs[i].key, key, klen) == 0) {
      mtr_free(r->attrs[i].value);
      r->attrs[i].value = v;
      return METER_OK;
    }
  }
  char *k = mtr_strndup(key, klen);
  mtr_attribute *grown = k ? mtr_realloc(r->attrs, (r->nattrs + 1) * sizeof *grown) : NULL;
  if (!grown) {
    mtr_free(k);
    mtr_free(v);
    return METER_ENOMEM;
  }
  r->attrs = grown;
  r->attrs[r->nattrs].key = k;
  r->attrs[r->nattrs].value = v;
  r->nattrs++;
  return METER_OK;
}

int meter_record_set_attribute(meter_record *r, const char *key, const char *value)
{
  if (!key || !value)
    return METER_EINVAL;
  return meter_record_set_attributen(r, key, strlen(key), value, strlen(value));
}

int mtr_record_dry_run(const meter_record *r)
{
  const char *v = r->fields[METER_FIELD_DRY_RUN];
  return v && strcmp(v, "true") == 0;
}

int64_t mtr_record_allocation_sum(const meter_record *r)
{
  int64_t sum = 0;
  for (size_t i = 0; i < r->nallocs; i++)
    if (mtr_add_int64(sum, r->allocs[i].quantity, &sum) != 0)
      return -1;
  return sum;
}
