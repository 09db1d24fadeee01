/* Tackle's rules for a record, checked before anything is sent. Every
 * message names the field and the rule (mtr_invalid). The schemas are
 * Aws/Azure/GcpUsageRecordRequest* of Tackle's OpenAPI. */
#include "tackle_internal.h"

#include "core/str.h"

#include <string.h>

const char *tk_cloud(const meter_record *rec)
{
  const char *c = mtr_rec(rec, METER_FIELD_CLOUD);
  return c ? c : "aws";
}

tk_method tk_record_method(const tk_backend *be, const meter_record *rec)
{
  const char *m = mtr_rec(rec, METER_FIELD_METHOD);
  if (!m)
    return be->method;
  return strcmp(m, "post") == 0 ? TK_POST : TK_PUT;
}

/* Fields other marketplaces use; silently dropping them would hide a
 * mistake (a record meant for another back end). */
static const meter_field foreign_fields[] = {
  METER_FIELD_CUSTOMER_ACCOUNT_ID, METER_FIELD_LICENSE_ARN, METER_FIELD_ACCOUNT,
  METER_FIELD_PRICING_UNIT, METER_FIELD_CUSTOM_UNIT, METER_FIELD_PRICE,
  METER_FIELD_CURRENCY, METER_FIELD_DESCRIPTION, METER_FIELD_PRICING_MODEL,
};

static int check_len(mtr_result *res, const meter_record *rec, meter_field f)
{
  const char *v = mtr_rec(rec, f);
  if (!v)
    return METER_OK;
  if (!*v)
    return mtr_invalid(res, f, "must not be empty");
  if (strlen(v) > TK_MAX_STRING)
    return mtr_invalid(res, f, "at most %d characters, got %zu", TK_MAX_STRING, strlen(v));
  return METER_OK;
}

static int check_allocations(mtr_result *res, const meter_record *rec, int is_aws)
{
  if (!rec->nallocs)
    return METER_OK;
  if (!is_aws)
    return mtr_invalid(res, METER_FIELD_QUANTITY,
                       "usage allocations are only for cloud aws (this record is %s)",
                       tk_cloud(rec));
  /* AWS limits (UsageAllocations 1..2500, Tags 1..5, key <= 100, value <= 256). */
  if (rec->nallocs > 2500)
    return mtr_invalid(res, METER_FIELD_QUANTITY, "at most 2500 usage allocations, got %zu",
                       rec->nallocs);
  for (size_t i = 0; i < rec->nallocs; i++) {
    const mtr_allocation *a = &rec->allocs[i];
    if (a->quantity > TK_AWS_MAX_QUANTITY)
      return mtr_invalid(res, METER_FIELD_QUANTITY, "allocation %zu: at most %lld units", i + 1,
                         (long long)TK_AWS_MAX_QUANTITY);
    if (a->ntags > 5)
      return mtr_invalid(res, METER_FIELD_QUANTITY, "allocation %zu: at most 5 tags, got %zu",
                         i + 1, a->ntags);
    for (size_t t = 0; t < a->ntags; t++) {
      size_t kl = strlen(a->keys[t]), vl = strlen(a->values[t]);
      if (kl == 0 || kl > 100 || vl == 0 || vl > 256)
        return mtr_invalid(res, METER_FIELD_QUANTITY,
                           "allocation %zu tag %zu: key must be 1-100 and value 1-256 characters",
                           i + 1, t + 1);
    }
  }
  int64_t sum = mtr_record_allocation_sum(rec);
  if (!rec->qty.fits_int64 || sum != rec->qty.value)
    return mtr_invalid(res, METER_FIELD_QUANTITY,
                       "usage allocations must sum to the quantity (%s), they sum to %lld",
                       mtr_rec(rec, METER_FIELD_QUANTITY), (long long)sum);
  return METER_OK;
}

int tk_validate(mtr_backend *b, const meter_record *rec, mtr_result *res)
{
  tk_backend *be = (tk_backend *)b;
  const char *cloud = tk_cloud(rec);
  int is_aws = strcmp(cloud, "aws") == 0;
  int is_gcp = strcmp(cloud, "gcp") == 0;
  int rc;

  for (size_t i = 0; i < sizeof foreign_fields / sizeof foreign_fields[0]; i++)
    if (mtr_rec(rec, foreign_fields[i]))
      return mtr_invalid(res, foreign_fields[i], "not used by the tackle back end");
  if (rec->nattrs) {
    mtr_result_set(res, METER_OUTCOME_INVALID, "invalid_record",
                   "attributes: not used by the tackle back end");
    return METER_EINVAL;
  }
  /* Enumerations (the record setters check them too; records may come from
   * elsewhere, e.g. a spool). */
  const char *test = mtr_rec(rec, METER_FIELD_TEST);
  if (test && strcmp(test, "accepted") != 0 && strcmp(test, "rejected") != 0 &&
      strcmp(test, "not-operable") != 0)
    return mtr_invalid(res, METER_FIELD_TEST, "must be accepted, rejected or not-operable");
  if (!is_aws && !is_gcp && strcmp(cloud, "azure") != 0)
    return mtr_invalid(res, METER_FIELD_CLOUD, "must be aws, azure or gcp");

  /* Who: product + customer, or a Tackle subscription id (not both). */
  const char *product = mtr_rec(rec, METER_FIELD_PRODUCT);
  const char *customer = mtr_rec(rec, METER_FIELD_CUSTOMER);
  const char *sub = mtr_rec(rec, METER_FIELD_SUBSCRIPTION_ID);
  if (sub && (product || customer))
    return mtr_invalid(res, METER_FIELD_SUBSCRIPTION_ID,
                       "give either subscription_id or product and customer, not both");
  if (!sub && !product)
    return mtr_invalid(res, METER_FIELD_PRODUCT,
                       "required (with customer) unless subscription_id is given");
  if (!sub && !customer)
    return mtr_invalid(res, METER_FIELD_CUSTOMER,
                       "required (with product) unless subscription_id is given");
  static const meter_field lengths[] = { METER_FIELD_PRODUCT, METER_FIELD_CUSTOMER,
                                         METER_FIELD_SUBSCRIPTION_ID, METER_FIELD_DIMENSION,
                                         METER_FIELD_CONSUMER_ID };
  for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
    if ((rc = check_len(res, rec, lengths[i])) != METER_OK)
      return rc;
  if (!mtr_rec(rec, METER_FIELD_DIMENSION))
    return mtr_invalid(res, METER_FIELD_DIMENSION, "required (the dimension's name)");

  /* How much. */
  const char *qty = mtr_rec(rec, METER_FIELD_QUANTITY);
  if (!qty)
    return mtr_invalid(res, METER_FIELD_QUANTITY, "required");
  if (rec->qty.is_zero && !be->allow_zero)
    return mtr_invalid(res, METER_FIELD_QUANTITY,
                       "must not be 0: Tackle documents that a zero quantity causes an error "
                       "(and sends hourly zeros itself); set allow_zero=true to send it anyway");
  if (is_gcp) {
    /* GcpDimension.quantity: number >= 1. */
    if (!rec->qty.is_zero && rec->qty.int_digits == 0)
      return mtr_invalid(res, METER_FIELD_QUANTITY,
                         "must be at least 1 for cloud gcp (Tackle's schema), got %s", qty);
  } else {
    if (!rec->qty.is_integer)
      return mtr_invalid(res, METER_FIELD_QUANTITY, "must be a whole number for cloud %s, got %s",
                         cloud, qty);
    int64_t max = is_aws ? TK_AWS_MAX_QUANTITY : INT64_MAX;
    if (!rec->qty.fits_int64 || rec->qty.value > max)
      return mtr_invalid(res, METER_FIELD_QUANTITY, "at most %lld for cloud %s, got %s",
                         (long long)max, cloud, qty);
  }
  if ((rc = check_allocations(res, rec, is_aws)) != METER_OK)
    return rc;

  /* Cloud-specific fields. */
  if (mtr_rec(rec, METER_FIELD_DRY_RUN) && !is_aws)
    return mtr_invalid(res, METER_FIELD_DRY_RUN, "only for cloud aws (this record is %s)", cloud);
  if (mtr_rec(rec, METER_FIELD_CONSUMER_ID) && !is_gcp)
    return mtr_invalid(res, METER_FIELD_CONSUMER_ID, "only for cloud gcp (this record is %s)",
                       cloud);
  if (is_gcp) {
    if (!mtr_rec(rec, METER_FIELD_END_TIME))
      return mtr_invalid(res, METER_FIELD_END_TIME, "required for cloud gcp");
    if (rec->end_time_us <= rec->time_us)
      return mtr_invalid(res, METER_FIELD_END_TIME, "must be after time (%s), got %s",
                         mtr_rec(rec, METER_FIELD_TIME), mtr_rec(rec, METER_FIELD_END_TIME));
  } else if (mtr_rec(rec, METER_FIELD_END_TIME)) {
    return mtr_invalid(res, METER_FIELD_END_TIME, "only for cloud gcp (this record is %s)", cloud);
  }
  /* Times: parsed and canonical already (meter_record_set); ours to check is
   * that they fit the wire form YYYY-MM-DDTHH:MM:SS.ffffff+00:00. */
  static const meter_field times[] = { METER_FIELD_TIME, METER_FIELD_END_TIME,
                                       METER_FIELD_SCHEDULED_AT };
  for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
    const char *t = mtr_rec(rec, times[i]);
    int64_t us = times[i] == METER_FIELD_TIME       ? rec->time_us
                 : times[i] == METER_FIELD_END_TIME ? rec->end_time_us
                                                    : rec->scheduled_at_us;
    if (t && (us < 0 || us >= INT64_C(253402300800000000)))
      return mtr_invalid(res, times[i], "must be between 1970 and 9999, got %s", t);
  }
  return METER_OK;
}
