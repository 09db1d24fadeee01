/* EC2 instance metadata (IMDSv2): a session token from
 * `PUT /latest/api/token` (X-aws-ec2-metadata-token-ttl-seconds), then GETs
 * carrying it. Short timeouts (1 s) so a machine that is not on EC2 finds out
 * fast. AWS_EC2_METADATA_DISABLED=true turns it off;
 * AWS_EC2_METADATA_SERVICE_ENDPOINT (or ..._ENDPOINT_MODE=IPv6) moves it.
 * When the token call is refused with 403/404/405 the GETs go without a
 * token (IMDSv1), unless AWS_EC2_METADATA_V1_DISABLED=true. */
#ifndef MTR_AWS_IMDS_H
#define MTR_AWS_IMDS_H

#include "auth/aws_env.h"
#include "core/buf.h"
#include "http/exchange.h"

#define MTR_IMDS_TIMEOUT_MS 1000
#define MTR_IMDS_TOKEN_TTL "21600"

/* GETs `path` ("/latest/meta-data/placement/region"). METER_OK with the
 * HTTP status and body (any status); MTR_AWS_IMDS_DISABLED when turned off;
 * METER_ETRANSPORT/ETIMEOUT when the service cannot be reached. */
#define MTR_AWS_IMDS_DISABLED (-2)
int mtr_aws_imds_get(const mtr_env *env, const mtr_aws_sysenv *sys, const char *path,
                     long *status, mtr_buf *out, meter_error *err);

#endif
