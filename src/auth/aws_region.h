/* The AWS region, first found of: the `region` setting, AWS_REGION,
 * AWS_DEFAULT_REGION, the profile's `region` (shared config/credentials
 * files), the instance's region from IMDS (placement/region). MeterUsage and
 * RegisterUsage must be called in the region the workload runs in. */
#ifndef MTR_AWS_REGION_H
#define MTR_AWS_REGION_H

#include "auth/aws_env.h"
#include "http/exchange.h"

typedef struct mtr_aws_region {
  char name[64];       /* "us-east-1" */
  char source[80];     /* "setting", "AWS_REGION", "AWS_DEFAULT_REGION", "profile x", "imds" */
} mtr_aws_region;

/* METER_ECONFIG naming every place looked at when none has a region, or the
 * region found is not a valid name. */
int mtr_aws_region_resolve(mtr_aws_region *out, const mtr_env *env, const mtr_aws_sysenv *sys,
                           const char *setting, const char *profile_setting, meter_error *err);

#endif
