/* AWS Marketplace Metering inside the sandbox: shared between aws.c (the
 * operations and their state) and aws_auth.c (SigV4 checks). */
#ifndef SBX_AWS_H
#define SBX_AWS_H

#include "sandbox.h"

/* Checks the request's SigV4 signature against the configured credentials,
 * as the real endpoint does: Authorization present and well formed, known
 * access key, session token signed, scope service `aws-marketplace` and
 * region --aws-region, X-Amz-Date within --max-skew of the sandbox clock,
 * and the signature itself. 0 when accepted (the access key id into akid);
 * otherwise resp holds the error answer. */
int sbx_aws_authenticate(sbx *s, const sbx_request *req, sbx_response *resp, char *akid,
                         size_t akid_size);

/* Adds x-amzn-RequestId (and the JSON content type) to a successful answer. */
void sbx_aws_success(sbx *s, sbx_response *resp, const cJSON *body);

#endif
