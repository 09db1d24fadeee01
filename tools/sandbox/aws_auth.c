/* SigV4 verification of AWS requests, with the errors the real endpoint
 * sends (marketplaces.md §4.1; error names and messages as AWS's JSON
 * services answer them). The signature itself is recomputed by the
 * library's verifier (src/auth/sigv4.c). */
#include "aws.h"

#include "auth/sigv4.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <string.h>

#define SIGNATURE_MISMATCH                                                                   \
  "The request signature we calculated does not match the signature you provided. Check "    \
  "your AWS Secret Access Key and signing method. Consult the service documentation for "   \
  "details."

static int list_has(const char *list, const char *name)
{
  size_t nl = strlen(name);
  for (const char *p = list;;) {
    size_t n = strcspn(p, ";");
    if (n == nl && memcmp(p, name, n) == 0)
      return 1;
    if (!p[n])
      return 0;
    p += n + 1;
  }
}

static int deny(sbx *s, sbx_response *resp, const char *type, const char *message)
{
  /* Coral answers every authentication failure of a JSON service with 400 */
  sbx_aws_error(s, resp, 400, SBX_AWS_NS_CORAL, type, message);
  return -1;
}

int sbx_aws_authenticate(sbx *s, const sbx_request *req, sbx_response *resp, char *akid,
                         size_t akid_size)
{
  const sbx_config *c = &s->cfg;
  const char *auth = sbx_header(req, "Authorization");
  if (!auth || !*auth)
    return deny(s, resp, "MissingAuthenticationTokenException", "Missing Authentication Token");

  mtr_sigv4_parsed p;
  meter_error err;
  if (mtr_sigv4_parse_authorization(auth, &p, &err) != METER_OK) {
    char msg[400];
    mtr_fmt(msg, sizeof msg, "%s", err.message);
    return deny(s, resp, "IncompleteSignatureException", msg);
  }
  const char *amz_date = sbx_header(req, "X-Amz-Date");
  if (!amz_date) {
    return deny(s, resp, "IncompleteSignatureException",
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                "header.");
  }
  if (strcmp(p.access_key_id, c->aws_access_key_id) != 0)
    return deny(s, resp, "UnrecognizedClientException",
                "The security token included in the request is invalid.");
  const char *token = sbx_header(req, "X-Amz-Security-Token");
  if (token && !list_has(p.signed_headers, "x-amz-security-token"))
    return deny(s, resp, "IncompleteSignatureException",
                "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.");
  if (c->aws_session_token && (!token || strcmp(token, c->aws_session_token) != 0))
    return deny(s, resp, "UnrecognizedClientException",
                "The security token included in the request is invalid.");
  if (strcmp(p.service, "aws-marketplace") != 0)
    return deny(s, resp, "InvalidSignatureException",
                "Credential should be scoped to correct service: 'aws-marketplace'. ");
  if (strcmp(p.region, c->aws_region) != 0)
    return deny(s, resp, "InvalidSignatureException",
                "Credential should be scoped to a valid region. ");

  int64_t t;
  if (mtr_sigv4_parse_amz_date(amz_date, &t) != 0) {
    char msg[200];
    mtr_fmt(msg, sizeof msg,
            "Date must be in ISO-8601 'basic format'. Got '%.40s'. See "
            "http://en.wikipedia.org/wiki/ISO_8601",
            amz_date);
    return deny(s, resp, "IncompleteSignatureException", msg);
  }
  int64_t now = req->now_us, skew = (int64_t)c->max_skew_s * 1000000;
  if (t < now - skew || t > now + skew) {
    char a[MTR_TIME_BUF], b[MTR_TIME_BUF], n[MTR_TIME_BUF], msg[300];
    mtr_time_format(t, MTR_TIME_AMZ, a);
    mtr_time_format(now, MTR_TIME_AMZ, n);
    if (t < now - skew)
      mtr_fmt(msg, sizeof msg, "Signature expired: %s is now earlier than %s (%s - %ld min.)", a,
              mtr_time_format(now - skew, MTR_TIME_AMZ, b), n, c->max_skew_s / 60);
    else
      mtr_fmt(msg, sizeof msg, "Signature not yet current: %s is still later than %s (%s + %ld min.)",
              a, mtr_time_format(now + skew, MTR_TIME_AMZ, b), n, c->max_skew_s / 60);
    return deny(s, resp, "InvalidSignatureException", msg);
  }
  if (strncmp(amz_date, p.date, 8) != 0) {
    char msg[300];
    mtr_fmt(msg, sizeof msg,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            "from HTTP: '%s' != '%.8s', from '%s'.",
            p.date, amz_date, amz_date);
    return deny(s, resp, "InvalidSignatureException", msg);
  }

  mtr_headers headers = { 0 };
  sbx_headers_collect(req, &headers);
  int rc = mtr_sigv4_verify(req->method, req->raw_uri, &headers, req->body, req->body_len, &p,
                            c->aws_secret_access_key, &err);
  mtr_headers_dispose(&headers);
  if (rc != METER_OK) {
    if (s->cfg.verbose)
      sbx_log(s, "SigV4 refused: %s", err.message);
    if (strstr(err.message, "must be a signed header") || strstr(err.message, "not in the request"))
      return deny(s, resp, "IncompleteSignatureException", err.message);
    return deny(s, resp, "InvalidSignatureException", SIGNATURE_MISMATCH);
  }
  mtr_strlcpy(akid, p.access_key_id, akid_size);
  return 0;
}
