#include "aws_endpoint.h"

#include "core/error.h"

#include <string.h>

int mtr_aws_region_valid(const char *r)
{
  size_t n = r ? strlen(r) : 0;
  if (n == 0 || n > 63 || r[0] == '-' || r[n - 1] == '-')
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
      return 0;
  return 1;
}

typedef struct partition {
  const char *prefix;     /* region prefix */
  const char *suffix;     /* DNS suffix */
  const char *dual;       /* dual-stack suffix, NULL if none */
} partition;

static const partition partitions[] = {
  { "cn-", "amazonaws.com.cn", "api.amazonwebservices.com.cn" },
  { "us-isob-", "sc2s.sgov.gov", NULL },
  { "us-iso-", "c2s.ic.gov", NULL },
  { "", "amazonaws.com", "api.aws" },   /* aws and aws-us-gov */
};

static const partition *partition_of(const char *region)
{
  for (size_t i = 0;; i++)
    if (strncmp(region, partitions[i].prefix, strlen(partitions[i].prefix)) == 0)
      return &partitions[i];
}

int mtr_aws_metering_endpoint(mtr_buf *out, const char *region, int fips, int dualstack,
                              meter_error *err)
{
  if (!mtr_aws_region_valid(region))
    return mtr_error_set(err, METER_ECONFIG, "region '%.64s' is not a valid AWS region name",
                         region ? region : "");
  const partition *p = partition_of(region);
  if (dualstack && !p->dual)
    return mtr_error_set(err, METER_ECONFIG, "region %s has no dual-stack endpoint", region);
  const char *suffix = dualstack ? p->dual : p->suffix;
  if (fips)
    mtr_buf_printf(out, "https://metering.marketplace-fips.%s.%s", region, suffix);
  else if (dualstack)
    mtr_buf_printf(out, "https://metering-marketplace.%s.%s", region, suffix);
  else
    mtr_buf_printf(out, "https://metering.marketplace.%s.%s", region, suffix);
  return mtr_buf_status(out) ? mtr_error_set(err, METER_ENOMEM, "out of memory") : METER_OK;
}

int mtr_aws_sts_endpoint(mtr_buf *out, const char *region)
{
  if (!region || !*region || !mtr_aws_region_valid(region))
    mtr_buf_puts(out, "https://sts.amazonaws.com");
  else
    mtr_buf_printf(out, "https://sts.%s.%s", region, partition_of(region)->suffix);
  return mtr_buf_status(out);
}
