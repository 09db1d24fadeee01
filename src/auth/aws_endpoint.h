/* AWS endpoints and regions: the Metering service's host for a region
 * (standard, FIPS, dual-stack; aws, aws-cn, aws-us-gov and ISO partitions)
 * and STS's. */
#ifndef MTR_AWS_ENDPOINT_H
#define MTR_AWS_ENDPOINT_H

#include "core/buf.h"
#include "meter/errors.h"

/* A region name is 1-63 of [a-z0-9-] (it becomes part of a host name). */
int mtr_aws_region_valid(const char *region);

/* https://metering.marketplace.{region}.amazonaws.com and variants:
 *   fips        metering.marketplace-fips.{region}.amazonaws.com
 *   dual-stack  metering-marketplace.{region}.api.aws
 *   both        metering.marketplace-fips.{region}.api.aws
 * China (cn-*) uses amazonaws.com.cn and, dual-stack, api.amazonwebservices.com.cn. */
int mtr_aws_metering_endpoint(mtr_buf *out, const char *region, int fips, int dualstack,
                              meter_error *err);

/* https://sts.{region}.amazonaws.com (regional), or the global
 * https://sts.amazonaws.com when region is NULL or empty. */
int mtr_aws_sts_endpoint(mtr_buf *out, const char *region);

#endif
