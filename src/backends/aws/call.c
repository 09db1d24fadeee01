/* What every Marketplace Metering call shares: the request (awsJson1_1 over
 * POST /, SigV4 with the credentials of the chain and a skew-corrected
 * clock, signed afresh on every attempt), the error format and what each
 * error means for the retry loop. */
#include "aws_internal.h"

#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <string.h>

void aws_call_init(aws_call *call, aws_backend *be, const char *op)
{
  memset(call, 0, sizeof *call);
  call->be = be;
  call->op = op;
}

int aws_call_build(aws_call *call, mtr_http_request *req, mtr_buf *body, unsigned attempt,
                   meter_error *err)
{
  aws_backend *be = call->be;
  call->attempt = attempt;
  int rc = aws_resolve(be, err);
  if (rc != METER_OK)
    return rc;
  mtr_aws_credentials *cr = NULL;
  rc = mtr_aws_chain_get(&be->chain, &cr, &call->cred_generation, err);
  if (rc != METER_OK)
    return rc;

  req->method = "POST";
  mtr_buf_printf(&req->url, "%s/", be->endpoint);
  mtr_headers_add(&req->headers, "Content-Type", AWS_CONTENT_TYPE);
  char target[96];
  mtr_fmt(target, sizeof target, AWS_TARGET_PREFIX "%s", call->op);
  mtr_headers_add(&req->headers, "X-Amz-Target", target);
  /* The body moves into the request (no copy); the caller keeps an empty buffer. */
  mtr_buf_dispose(&req->body);
  req->body = *body;
  memset(body, 0, sizeof *body);
  rc = mtr_buf_status(&req->url);
  if (rc == METER_OK && req->headers.count != 2)
    rc = METER_ENOMEM;
  if (rc != METER_OK) {
    mtr_aws_credentials_free(cr);
    return mtr_error_set(err, rc, "out of memory");
  }
  mtr_sigv4_credentials sc = { cr->access_key_id, cr->secret_access_key, cr->session_token };
  mtr_sigv4_options so;
  memset(&so, 0, sizeof so);
  mtr_mutex_lock(&be->lock);
  so.region = be->region.name;
  mtr_mutex_unlock(&be->lock);
  so.service = AWS_SIGNING_NAME;
  so.time_us = aws_now_us(be);
  so.keys = &be->keys;
  rc = mtr_sigv4_sign(req, &sc, &so, NULL, err);
  mtr_aws_credentials_free(cr);
  return rc;
}

/* "aws.protocoltests#Foo:http://internal..." -> "Foo" (marketplaces.md §3.8). */
static void sanitize_code(const char *in, char *out, size_t size)
{
  size_t n = strcspn(in, ",:");
  const char *hash = NULL;
  for (size_t i = 0; i < n; i++)
    if (in[i] == '#')
      hash = in + i;
  const char *start = hash ? hash + 1 : in;
  size_t len = (size_t)(in + n - start);
  while (len && (*start == ' '))
    start++, len--;
  while (len && start[len - 1] == ' ')
    len--;
  if (len >= size)
    len = size - 1;
  memcpy(out, start, len);
  out[len] = '\0';
}

void aws_parse_error(const mtr_http_response *resp, aws_error *out)
{
  memset(out, 0, sizeof *out);
  cJSON *j = resp->body.len ? cJSON_ParseWithLength(resp->body.ptr, resp->body.len) : NULL;
  const char *h = mtr_http_response_header(resp, "x-amzn-errortype");
  const char *code = h && *h ? h : NULL;
  if (!code && j)
    code = mtr_json_str(j, "__type");
  if (!code && j)
    code = mtr_json_str(j, "code");
  if (code)
    sanitize_code(code, out->code, sizeof out->code);
  const char *msg = j ? mtr_json_str(j, "message") : NULL;
  if (!msg && j)
    msg = mtr_json_str(j, "Message");
  if (msg)
    mtr_strlcpy(out->message, msg, sizeof out->message);
  if (!out->code[0] && resp->status >= 300)
    mtr_fmt(out->code, sizeof out->code, "HTTP%ld", resp->status);
  cJSON_Delete(j);
}

int aws_is_throttling(const char *code)
{
  static const char *const codes[] = {
    "ThrottlingException", "Throttling", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException",
    "RequestLimitExceeded", "RequestThrottled", "SlowDown", "BandwidthLimitExceeded",
    "LimitExceededException", "EC2ThrottledException", NULL,
  };
  for (size_t i = 0; codes[i]; i++)
    if (strcmp(code, codes[i]) == 0)
      return 1;
  return 0;
}

/* A signature refused because our clock is off (botocore/JS clock-skew codes,
 * and InvalidSignatureException "Signature expired"). */
static int is_skew(const aws_error *e)
{
  if (strcmp(e->code, "RequestTimeTooSkewed") == 0 || strcmp(e->code, "RequestExpired") == 0 ||
      strcmp(e->code, "RequestInTheFuture") == 0)
    return 1;
  if (strcmp(e->code, "InvalidSignatureException") == 0 ||
      strcmp(e->code, "SignatureDoesNotMatch") == 0 || strcmp(e->code, "AuthFailure") == 0)
    return strstr(e->message, "Signature expired") != NULL ||
           strstr(e->message, "Signature not yet current") != NULL ||
           strstr(e->message, "too skewed") != NULL;
  return 0;
}

/* Credentials refused for what they are (not because of our clock). */
static int is_auth(const aws_error *e, long status)
{
  static const char *const codes[] = {
    "UnrecognizedClientException", "InvalidSignatureException", "AccessDeniedException",
    "AccessDenied", "IncompleteSignature", "IncompleteSignatureException",
    "MissingAuthenticationToken", "MissingAuthenticationTokenException", "InvalidClientTokenId",
    "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException", "UnauthorizedOperation",
    "AuthFailure", "NotAuthorized", "InvalidAccessKeyId", NULL,
  };
  for (size_t i = 0; codes[i]; i++)
    if (strcmp(e->code, codes[i]) == 0)
      return 1;
  return status == 401 || (status == 403 && strncmp(e->code, "HTTP", 4) == 0);
}

aws_answer aws_call_classify(aws_call *call, const mtr_http_response *resp, aws_error *e,
                             mtr_verdict *verdict, meter_error *err)
{
  aws_backend *be = call->be;
  const char *rid = mtr_http_response_header(resp, "x-amzn-requestid");
  mtr_strlcpy(call->request_id, rid ? rid : "", sizeof call->request_id);
  *verdict = MTR_DONE;
  if (resp->status >= 200 && resp->status < 300) {
    memset(e, 0, sizeof *e);
    return AWS_ANSWER_OK;
  }
  aws_parse_error(resp, e);

  if (aws_is_throttling(e->code) || resp->status == 429) {
    *verdict = MTR_THROTTLED;
    return AWS_ANSWER_AGAIN;
  }
  if (strcmp(e->code, "InternalServiceErrorException") == 0 || resp->status >= 500 ||
      resp->status == 408) {
    *verdict = MTR_RETRY;
    return AWS_ANSWER_AGAIN;
  }
  if (is_skew(e)) {
    int64_t server;
    const char *date = mtr_http_response_header(resp, "date");
    if (!call->skew_corrected && date && mtr_http_date_parse(date, &server) == 0) {
      int64_t offset = server - mtr_now_us(be->base.env->hooks);
      mtr_mutex_lock(&be->lock);
      be->clock_offset_us = offset;
      mtr_mutex_unlock(&be->lock);
      MTR_WARN(be->base.log, "AWS %s: signature refused for clock skew (%s); the marketplace's "
                             "clock is %+lld s from ours, correcting and resending",
               call->op, e->code, (long long)(offset / MTR_US_PER_SEC));
      call->skew_corrected = 1;
      *verdict = MTR_REFRESH;
      return AWS_ANSWER_AGAIN;
    }
    mtr_error_set(err, METER_EAUTH, "AWS %s: %s: %s (clock skew%s)", call->op, e->code,
                  e->message, call->skew_corrected ? " persists after correcting the clock"
                                                   : ", and no Date header to correct it with");
    return AWS_ANSWER_AUTH;
  }
  if (strcmp(e->code, "ExpiredTokenException") == 0 && call->expired_token_is_input)
    return AWS_ANSWER_REJECTED;
  if ((strcmp(e->code, "ExpiredTokenException") == 0 || strcmp(e->code, "ExpiredToken") == 0) &&
      !call->creds_refreshed) {
    /* The session token expired before we thought it would: fetch new
     * credentials and resend. */
    mtr_aws_chain_invalidate(&be->chain, call->cred_generation);
    call->creds_refreshed = 1;
    MTR_INFO(be->base.log, "AWS %s: credentials expired (%s), refreshing them", call->op,
             e->code);
    *verdict = MTR_REFRESH;
    return AWS_ANSWER_AGAIN;
  }
  if (is_auth(e, resp->status)) {
    char source[MTR_AWS_SOURCE_MAX];
    mtr_aws_chain_source(&be->chain, source, sizeof source);
    mtr_error_set(err, METER_EAUTH, "AWS %s refused the credentials from %s: %s%s%s", call->op,
                  source[0] ? source : "(unknown)", e->code, e->message[0] ? ": " : "",
                  e->message);
    return AWS_ANSWER_AUTH;
  }
  return AWS_ANSWER_REJECTED;
}
