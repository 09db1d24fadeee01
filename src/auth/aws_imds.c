/* The IMDS client and the instance-role credential provider. */
#include "aws_imds.h"

#include "auth/aws_credentials.h"
#include "auth/aws_fetch.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"
#include "json/json.h"

#include <string.h>

#define ROLE_PATH "/latest/meta-data/iam/security-credentials/"

static void endpoint(const mtr_aws_sysenv *sys, mtr_buf *out)
{
  const char *e = mtr_aws_env(sys, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
  const char *mode = mtr_aws_env(sys, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
  if (e)
    mtr_buf_put(out, e, strlen(e) - (e[strlen(e) - 1] == '/'));
  else if (mode && mtr_streq_nocase(mode, "IPv6"))
    mtr_buf_puts(out, "http://[fd00:ec2::254]");
  else
    mtr_buf_puts(out, "http://169.254.169.254");
}

int mtr_aws_imds_get(const mtr_env *env, const mtr_aws_sysenv *sys, const char *path,
                     long *status, mtr_buf *out, meter_error *err)
{
  *status = 0;
  if (mtr_aws_env_true(sys, "AWS_EC2_METADATA_DISABLED")) {
    mtr_error_set(err, METER_OK, "disabled by AWS_EC2_METADATA_DISABLED");
    return MTR_AWS_IMDS_DISABLED;
  }
  mtr_buf url = MTR_BUF_INIT;
  endpoint(sys, &url);
  size_t base_len = url.len;
  mtr_buf_puts(&url, "/latest/api/token");
  mtr_headers hs = { 0 };
  mtr_headers_add(&hs, "X-aws-ec2-metadata-token-ttl-seconds", MTR_IMDS_TOKEN_TTL);
  if (mtr_buf_status(&url) || hs.count != 1) {
    mtr_buf_dispose(&url);
    mtr_headers_dispose(&hs);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  /* One attempt for the token: it doubles as the "are we on EC2?" probe. */
  mtr_aws_fetch_req treq = { "IMDS token", "PUT", url.ptr, &hs, NULL, 0, 0,
                             MTR_IMDS_TIMEOUT_MS, 1 };
  mtr_aws_fetch_resp tresp = { 0, MTR_NET_OK, MTR_BUF_INIT, "" };
  int rc = mtr_aws_fetch(env, &treq, &tresp, err);
  mtr_headers_clear(&hs);
  if (rc == METER_OK) {
    if (tresp.status == 200 && tresp.body.len) {
      mtr_headers_add(&hs, "X-aws-ec2-metadata-token", mtr_buf_cstr(&tresp.body));
    } else if ((tresp.status == 403 || tresp.status == 404 || tresp.status == 405) &&
               !mtr_aws_env_true(sys, "AWS_EC2_METADATA_V1_DISABLED")) {
      /* IMDSv1 only on this host: go on without a token. */
    } else {
      rc = mtr_error_set(err, METER_EAUTH, "IMDS token: HTTP %ld", tresp.status);
    }
  }
  mtr_aws_fetch_resp_dispose(&tresp);
  if (rc == METER_OK) {
    mtr_buf_truncate(&url, base_len);
    mtr_buf_puts(&url, path);
    mtr_aws_fetch_req greq = { "IMDS", "GET", mtr_buf_cstr(&url), &hs, NULL, 0, 0,
                               MTR_IMDS_TIMEOUT_MS, 2 };
    mtr_aws_fetch_resp gresp = { 0, MTR_NET_OK, MTR_BUF_INIT, "" };
    rc = mtr_buf_status(&url) ? mtr_error_set(err, METER_ENOMEM, "out of memory")
                              : mtr_aws_fetch(env, &greq, &gresp, err);
    if (rc == METER_OK) {
      *status = gresp.status;
      mtr_buf_put(out, gresp.body.ptr ? gresp.body.ptr : "", gresp.body.len);
      if (mtr_buf_status(out))
        rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
    }
    mtr_aws_fetch_resp_dispose(&gresp);
  }
  mtr_buf_dispose(&url);
  mtr_headers_dispose(&hs);
  return rc;
}

int mtr_aws_provider_imds(mtr_aws_chain *c, mtr_aws_credentials **out, meter_error *err)
{
  long status = 0;
  mtr_buf role = MTR_BUF_INIT;
  int rc = mtr_aws_imds_get(c->env, &c->sys, ROLE_PATH, &status, &role, err);
  if (rc == MTR_AWS_IMDS_DISABLED) {
    mtr_buf_dispose(&role);
    return MTR_AWS_NOT_CONFIGURED;
  }
  if (rc == METER_ETRANSPORT || rc == METER_ETIMEOUT) {
    /* Not on EC2 (or IMDS unreachable): the chain ends without credentials. */
    mtr_buf_dispose(&role);
    mtr_error_set(err, METER_OK, "not reachable");
    return MTR_AWS_NOT_CONFIGURED;
  }
  if (rc != METER_OK) {
    mtr_buf_dispose(&role);
    return rc;
  }
  if (status == 404) {
    mtr_buf_dispose(&role);
    mtr_error_set(err, METER_OK, "no instance role attached");
    return MTR_AWS_NOT_CONFIGURED;
  }
  if (status != 200) {
    mtr_buf_dispose(&role);
    return mtr_error_set(err, METER_EAUTH, "IMDS role name: HTTP %ld", status);
  }
  /* The first line is the role name. */
  char name[256];
  const char *r = mtr_buf_cstr(&role);
  size_t n = strcspn(r, "\r\n");
  if (n == 0 || n >= sizeof name || strchr(r, '/')) {
    mtr_buf_dispose(&role);
    return mtr_error_set(err, METER_EPROTOCOL, "IMDS: unexpected role name listing");
  }
  memcpy(name, r, n);
  name[n] = '\0';
  mtr_buf_dispose(&role);

  char path[sizeof ROLE_PATH + 256];
  mtr_fmt(path, sizeof path, ROLE_PATH "%s", name);
  mtr_buf body = MTR_BUF_INIT;
  rc = mtr_aws_imds_get(c->env, &c->sys, path, &status, &body, err);
  if (rc != METER_OK) {
    mtr_buf_dispose_secret(&body);
    return rc == MTR_AWS_IMDS_DISABLED ? METER_EAUTH : rc;
  }
  if (status != 200) {
    mtr_buf_dispose_secret(&body);
    return mtr_error_set(err, METER_EAUTH, "IMDS credentials for role %s: HTTP %ld", name, status);
  }
  cJSON *j = cJSON_ParseWithLength(body.ptr ? body.ptr : "", body.len);
  mtr_buf_dispose_secret(&body);
  if (!j)
    return mtr_error_set(err, METER_EPROTOCOL, "IMDS credentials for role %s: not JSON", name);
  const char *code = mtr_json_str(j, "Code");
  const char *akid = mtr_json_str(j, "AccessKeyId");
  const char *secret = mtr_json_str(j, "SecretAccessKey");
  const char *tok = mtr_json_str(j, "Token");
  const char *exp = mtr_json_str(j, "Expiration");
  int64_t expires = 0;
  if (code && strcmp(code, "Success") != 0) {
    /* IMDS answers 200 with an error body when the role cannot be assumed. */
    const char *msg = mtr_json_str(j, "Message");
    rc = mtr_error_set(err, METER_EAUTH, "IMDS credentials for role %s: %s%s%.120s", name, code,
                       msg ? ": " : "", msg ? msg : "");
  } else if (!akid || !*akid || !secret || !*secret || !tok || !*tok || !exp ||
             mtr_time_parse(exp, &expires)) {
    rc = mtr_error_set(err, METER_EPROTOCOL, "IMDS credentials for role %s: AccessKeyId, "
                                             "SecretAccessKey, Token and Expiration are required",
                       name);
  } else {
    int64_t now = mtr_now_us(c->env->hooks);
    if (expires - now <= MTR_AWS_REFRESH_AHEAD_US) {
      /* Static stability (botocore does the same): IMDS handed out credentials
       * that are (nearly) expired, e.g. during an outage of its refresh. Use
       * them a little longer instead of fetching on every call. */
      MTR_WARN(c->log, "IMDS returned credentials expiring in %lld s; using them for 10 more "
                       "minutes", (long long)((expires - now) / MTR_US_PER_SEC));
      expires = now + MTR_AWS_REFRESH_AHEAD_US + 600 * MTR_US_PER_SEC;
    }
    *out = mtr_aws_credentials_new(akid, secret, tok, expires, "imds");
    rc = *out ? METER_OK : mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  const char *keys[] = { "SecretAccessKey", "Token" };
  for (size_t i = 0; i < 2; i++) {
    cJSON *it = cJSON_GetObjectItemCaseSensitive(j, keys[i]);
    if (cJSON_IsString(it) && it->valuestring)
      memset(it->valuestring, 0, strlen(it->valuestring));
  }
  cJSON_Delete(j);
  return rc;
}
