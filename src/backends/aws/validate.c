/* Everything the service model constrains, and the acceptance windows,
 * checked before any I/O, so one bad or stale record is refused alone
 * (naming the field and the rule) instead of sinking a whole batch. */
#include "aws_internal.h"

#include "core/str.h"
#include "core/timefmt.h"

#include <string.h>

static int alnum(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Characters, counting UTF-8 sequences as one. */
static size_t utf8_len(const char *s)
{
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

/* ProductCode: 1-255 of [-a-zA-Z0-9/=:_.@]. */
int aws_product_code_valid(const char *s)
{
  size_t n = s ? strlen(s) : 0;
  if (n < 1 || n > 255)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!alnum(s[i]) && !strchr("-/=:_.@", s[i]))
      return 0;
  return 1;
}

/* TagKey / TagValue: ^[a-zA-Z0-9+ -=._:\/@]+$ -- note that " -=" in that
 * class is the range from space to '=' (which covers digits, '+', '.', ':'
 * and '/' and also !"#$%&'()*,;<), so it is implemented as written. */
int aws_tag_text_valid(const char *s, size_t max_len)
{
  size_t n = s ? strlen(s) : 0;
  if (n < 1 || n > max_len)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!alnum((char)c) && !(c >= ' ' && c <= '=') && c != '_' && c != '@')
      return 0;
  }
  return 1;
}

static int span_of(const char **p, const char *extra, size_t min, size_t max, int first_alnum)
{
  const char *s = *p;
  size_t n = 0;
  if (first_alnum) {
    if (!alnum(*s))
      return 0;
    s++;
    n++;
  }
  while (*s && *s != ':' && (alnum(*s) || strchr(extra, *s))) {
    s++;
    n++;
  }
  if (n < min || n > max)
    return 0;
  *p = s;
  return 1;
}

/* ^arn:aws[a-zA-Z-]*:[A-Za-z0-9][A-Za-z0-9_/.-]{0,62}:[A-Za-z0-9_/.-]{0,63}:
 *  [A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9][A-Za-z0-9:_/+=,@.-]{0,1023}$ */
int aws_license_arn_valid(const char *s)
{
  if (!s || strncmp(s, "arn:aws", 7) != 0)
    return 0;
  const char *p = s + 7;
  while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '-')
    p++;
  if (*p++ != ':')
    return 0;
  if (!span_of(&p, "_/.-", 1, 63, 1) || *p++ != ':')
    return 0;
  if (!span_of(&p, "_/.-", 0, 63, 0) || *p++ != ':')
    return 0;
  if (!span_of(&p, "_/.-", 0, 63, 0) || *p++ != ':')
    return 0;
  if (!alnum(*p))
    return 0;
  size_t n = strlen(p);
  if (n > 1024)
    return 0;
  for (size_t i = 1; i < n; i++)
    if (!alnum(p[i]) && !strchr(":_/+=,@.-", p[i]))
      return 0;
  return 1;
}

static int digits_only(const char *s)
{
  if (!*s)
    return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return 0;
  return 1;
}

/* Tag set of allocation a equals that of b (same key=value pairs, any order). */
static int same_tags(const mtr_allocation *a, const mtr_allocation *b)
{
  if (a->ntags != b->ntags)
    return 0;
  for (size_t i = 0; i < a->ntags; i++) {
    size_t j = 0;
    while (j < b->ntags && !(strcmp(a->keys[i], b->keys[j]) == 0 &&
                             strcmp(a->values[i], b->values[j]) == 0))
      j++;
    if (j == b->ntags)
      return 0;
  }
  return 1;
}

static int check_allocations(const meter_record *rec, int64_t quantity, mtr_result *res)
{
  if (rec->nallocs == 0)
    return METER_OK;
  if (rec->nallocs > 2500)
    return mtr_invalid(res, METER_FIELD_QUANTITY, "at most 2500 usage allocations, got %zu",
                       rec->nallocs);
  for (size_t i = 0; i < rec->nallocs; i++) {
    const mtr_allocation *a = &rec->allocs[i];
    if (a->quantity < 0 || a->quantity > AWS_MAX_QUANTITY)
      return mtr_invalid(res, METER_FIELD_QUANTITY,
                         "allocation %zu: quantity must be 0-2147483647", i + 1);
    if (a->ntags < 1 || a->ntags > 5)
      return mtr_invalid(res, METER_FIELD_QUANTITY, "allocation %zu: 1 to 5 tags, got %zu",
                         i + 1, a->ntags);
    for (size_t t = 0; t < a->ntags; t++) {
      if (!aws_tag_text_valid(a->keys[t], 100))
        return mtr_invalid(res, METER_FIELD_QUANTITY,
                           "allocation %zu: tag key '%.40s' must be 1-100 characters of "
                           "[a-zA-Z0-9+ -=._:/@]", i + 1, a->keys[t]);
      if (!aws_tag_text_valid(a->values[t], 256))
        return mtr_invalid(res, METER_FIELD_QUANTITY,
                           "allocation %zu: tag value '%.40s' must be 1-256 characters of "
                           "[a-zA-Z0-9+ -=._:/@]", i + 1, a->values[t]);
      for (size_t u = 0; u < t; u++)
        if (strcmp(a->keys[t], a->keys[u]) == 0)
          return mtr_invalid(res, METER_FIELD_QUANTITY, "allocation %zu: tag key '%.40s' "
                                                        "repeated", i + 1, a->keys[t]);
    }
    for (size_t j = 0; j < i; j++)
      if (same_tags(a, &rec->allocs[j]))
        return mtr_invalid(res, METER_FIELD_QUANTITY,
                           "allocations %zu and %zu have the same tag set (each allocation "
                           "needs a unique one)", j + 1, i + 1);
  }
  int64_t sum = mtr_record_allocation_sum(rec);
  if (sum != quantity)
    return mtr_invalid(res, METER_FIELD_QUANTITY,
                       "the allocations sum to %lld but the quantity is %lld (they must be equal)",
                       (long long)sum, (long long)quantity);
  return METER_OK;
}

/* Start of the month containing t. */
static int64_t month_start(int64_t t)
{
  int64_t y;
  unsigned m, d;
  int64_t days = t >= 0 ? t / (86400 * MTR_US_PER_SEC) : -((-t + 86400 * MTR_US_PER_SEC - 1) /
                                                           (86400 * MTR_US_PER_SEC));
  mtr_civil_from_days(days, &y, &m, &d);
  return mtr_days_from_civil(y, m, 1) * 86400 * MTR_US_PER_SEC;
}

static int check_window(aws_backend *be, const meter_record *rec, int batch, mtr_result *res)
{
  int64_t now = aws_now_us(be);
  int64_t t = rec->time_us;
  int64_t window = batch ? be->batch_window_us : be->meter_window_us;
  const char *op = batch ? "BatchMeterUsage" : "MeterUsage";
  char ts[MTR_TIME_BUF];
  mtr_time_format(t, MTR_TIME_RFC3339, ts);
  if (window > 0 && now - t >= window)
    return mtr_invalid(res, METER_FIELD_TIME,
                       "%s is older than the %s window of %lld h (setting %s); the marketplace "
                       "would refuse it", ts, op, (long long)(window / MTR_US_PER_HOUR),
                       batch ? "batch_window_hours" : "meter_window_hours");
  if (batch) {
    /* Last month's usage is taken only until `grace` into the new month. */
    int64_t this_month = month_start(now);
    if (t < this_month && now >= this_month + be->grace_us)
      return mtr_invalid(res, METER_FIELD_TIME,
                         "%s belongs to a month that closed %lld h into the next one "
                         "(month-end grace, setting month_end_grace_hours)", ts,
                         (long long)(be->grace_us / MTR_US_PER_HOUR));
  }
  return METER_OK;
}

int aws_validate(mtr_backend *base, const meter_record *rec, mtr_result *res)
{
  aws_backend *be = (aws_backend *)base;
  int batch = aws_is_batch(rec);
  const char *cust = mtr_rec(rec, METER_FIELD_CUSTOMER);
  const char *acct = mtr_rec(rec, METER_FIELD_CUSTOMER_ACCOUNT_ID);
  const char *lic = mtr_rec(rec, METER_FIELD_LICENSE_ARN);
  const char *product = aws_product(be, rec);
  const char *dim = mtr_rec(rec, METER_FIELD_DIMENSION);
  const char *key = mtr_rec(rec, METER_FIELD_IDEMPOTENCY_KEY);

  if (cust && acct)
    return mtr_invalid(res, METER_FIELD_CUSTOMER_ACCOUNT_ID,
                       "customer (CustomerIdentifier) and customer_account_id "
                       "(CustomerAWSAccountId) are mutually exclusive");
  if (lic && !acct)
    return mtr_invalid(res, METER_FIELD_LICENSE_ARN,
                       "license_arn goes with customer_account_id (BatchMeterUsage "
                       "CustomerAWSAccountId + LicenseArn)");
  if (lic && !aws_license_arn_valid(lic))
    return mtr_invalid(res, METER_FIELD_LICENSE_ARN, "'%.80s' is not a License Manager ARN "
                                                     "(arn:aws:license-manager::...)", lic);
  if (acct && (strlen(acct) > 255 || !digits_only(acct)))
    return mtr_invalid(res, METER_FIELD_CUSTOMER_ACCOUNT_ID, "1-255 digits");
  if (cust && (utf8_len(cust) < 1 || utf8_len(cust) > 255))
    return mtr_invalid(res, METER_FIELD_CUSTOMER, "1-255 characters");
  if (!product && !(batch && lic))
    return mtr_invalid(res, METER_FIELD_PRODUCT,
                       "required (the record's product or the product_code setting)%s",
                       batch ? ", unless license_arn is given" : "");
  if (product && !aws_product_code_valid(product))
    return mtr_invalid(res, METER_FIELD_PRODUCT, "1-255 characters of [-a-zA-Z0-9/=:_.@]");
  if (!dim)
    return mtr_invalid(res, METER_FIELD_DIMENSION, "required");
  if (utf8_len(dim) < 1 || utf8_len(dim) > 255)
    return mtr_invalid(res, METER_FIELD_DIMENSION, "1-255 characters");
  if (!mtr_rec(rec, METER_FIELD_QUANTITY))
    return mtr_invalid(res, METER_FIELD_QUANTITY, "required (send 0 for an hour without usage)");
  if (!rec->qty.is_integer || !rec->qty.fits_int64 || rec->qty.value > AWS_MAX_QUANTITY)
    return mtr_invalid(res, METER_FIELD_QUANTITY, "must be a whole number 0-2147483647, got %s",
                       mtr_rec(rec, METER_FIELD_QUANTITY));
  if (!key || !*key || strlen(key) > 64)
    return mtr_invalid(res, METER_FIELD_IDEMPOTENCY_KEY, "1-64 characters (the ClientToken)");
  if (batch && mtr_record_dry_run(rec))
    return mtr_invalid(res, METER_FIELD_DRY_RUN, "BatchMeterUsage has no DryRun (only "
                                                 "MeterUsage, for records without a customer)");
  if (rec->time_us < 0)
    return mtr_invalid(res, METER_FIELD_TIME, "before 1970");
  int rc = check_allocations(rec, rec->qty.value, res);
  if (rc != METER_OK)
    return rc;
  return check_window(be, rec, batch, res);
}
