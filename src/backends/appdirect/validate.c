/* AppDirect's rules for one usage event (UsageItem), checked before any I/O.
 * Syntax that does not depend on the marketplace (decimals, times, currency
 * letters) was already checked when the record's fields were set. */
#include "appdirect_int.h"

#include "core/str.h"

#include <string.h>

/* quantity: "maximum of 10 decimal digits" (AppDirect UsageItem). */
#define MAX_QUANTITY_DECIMALS 10

const char *mtr_appdirect_account(const meter_record *rec)
{
  const char *a = mtr_rec(rec, METER_FIELD_ACCOUNT);
  return a ? a : mtr_rec(rec, METER_FIELD_CUSTOMER);
}

int mtr_appdirect_is_volume(const meter_record *rec)
{
  const char *m = mtr_rec(rec, METER_FIELD_PRICING_MODEL);
  return m && mtr_streq_nocase(m, "volume");
}

static int blank(const char *s)
{
  return !s || !*s;
}

int mtr_appdirect_validate(mtr_backend *be, const meter_record *rec, mtr_result *res)
{
  (void)be;
  const char *account = mtr_appdirect_account(rec);
  const char *pricing_unit = mtr_rec(rec, METER_FIELD_PRICING_UNIT);
  const char *custom_unit = mtr_rec(rec, METER_FIELD_CUSTOM_UNIT);

  if (blank(account))
    return mtr_invalid(res, METER_FIELD_ACCOUNT,
                       "required: the AppDirect accountId of the subscription (or set customer)");
  if (pricing_unit && custom_unit)
    return mtr_invalid(res, METER_FIELD_CUSTOM_UNIT,
                       "set either pricing_unit (preconfigured usage) or custom_unit (custom "
                       "usage), not both");
  if (!pricing_unit && !custom_unit)
    return mtr_invalid(res, METER_FIELD_PRICING_UNIT,
                       "required: pricing_unit (preconfigured usage, e.g. USER) or custom_unit "
                       "with price and currency (custom usage)");
  if (pricing_unit && !*pricing_unit)
    return mtr_invalid(res, METER_FIELD_PRICING_UNIT, "must not be empty");
  if (custom_unit && !*custom_unit)
    return mtr_invalid(res, METER_FIELD_CUSTOM_UNIT, "must not be empty");

  if (!mtr_rec(rec, METER_FIELD_QUANTITY))
    return mtr_invalid(res, METER_FIELD_QUANTITY, "required");
  if (rec->qty.frac_digits > MAX_QUANTITY_DECIMALS)
    return mtr_invalid(res, METER_FIELD_QUANTITY,
                       "AppDirect takes at most %d decimal digits, got %zu (%s)",
                       MAX_QUANTITY_DECIMALS, rec->qty.frac_digits,
                       mtr_rec(rec, METER_FIELD_QUANTITY));

  if (custom_unit) {
    if (!mtr_rec(rec, METER_FIELD_PRICE))
      return mtr_invalid(res, METER_FIELD_PRICE,
                         "required for custom usage (custom_unit): the unit price, >= 0");
    if (blank(mtr_rec(rec, METER_FIELD_CURRENCY)))
      return mtr_invalid(res, METER_FIELD_CURRENCY,
                         "required for custom usage (custom_unit): an ISO-4217 code such as USD");
  } else if (mtr_rec(rec, METER_FIELD_PRICE)) {
    return mtr_invalid(res, METER_FIELD_PRICE,
                       "only for custom usage: preconfigured usage (pricing_unit) is priced by "
                       "the edition");
  }

  /* AppDirect has no test or dry-run mode: such a record would be billed. */
  if (mtr_record_dry_run(rec))
    return mtr_invalid(res, METER_FIELD_DRY_RUN,
                       "AppDirect has no dry run (the usage would be billed); send to "
                       "meter-sandbox or set billable=false for estimated usage");
  if (mtr_rec(rec, METER_FIELD_TEST))
    return mtr_invalid(res, METER_FIELD_TEST,
                       "Tackle's test modes do not exist on AppDirect (the usage would be billed)");
  if (mtr_rec(rec, METER_FIELD_PRICING_MODEL) && !*mtr_rec(rec, METER_FIELD_PRICING_MODEL))
    return mtr_invalid(res, METER_FIELD_PRICING_MODEL, "must not be empty");
  return METER_OK;
}
