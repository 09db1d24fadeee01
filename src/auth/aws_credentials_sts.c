/* Web identity (EKS IRSA and the like): AWS_WEB_IDENTITY_TOKEN_FILE +
 * AWS_ROLE_ARN [+ AWS_ROLE_SESSION_NAME] -> STS AssumeRoleWithWebIdentity
 * (query protocol: a form POST, an XML answer). The call is not signed: the
 * web identity token is the credential. The token file is read on every
 * fetch, since the platform rotates it. AWS_ENDPOINT_URL_STS overrides the
 * endpoint (tests, private endpoints). */
#include "aws_credentials.h"

#include "auth/aws_endpoint.h"
#include "auth/aws_fetch.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <stdio.h>
#include <string.h>

#define STS_TIMEOUT_MS 5000
#define STS_ATTEMPTS 3

/* The text of the first <tag>...</tag>, with the five XML entities decoded. */
static int xml_text(const char *xml, const char *tag, mtr_buf *out)
{
  char open[64], close[64];
  snprintf(open, sizeof open, "<%s>", tag);
  snprintf(close, sizeof close, "</%s>", tag);
  const char *s = strstr(xml, open);
  if (!s)
    return -1;
  s += strlen(open);
  const char *e = strstr(s, close);
  if (!e)
    return -1;
  static const struct { const char *ent; char c; } ents[] = {
    { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&apos;", '\'' },
  };
  while (s < e) {
    size_t k = 0;
    if (*s == '&')
      for (; k < sizeof ents / sizeof ents[0]; k++)
        if (strncmp(s, ents[k].ent, strlen(ents[k].ent)) == 0)
          break;
    if (*s == '&' && k < sizeof ents / sizeof ents[0]) {
      mtr_buf_putc(out, ents[k].c);
      s += strlen(ents[k].ent);
    } else {
      mtr_buf_putc(out, *s++);
    }
  }
  return mtr_buf_status(out) ? -1 : 0;
}

static char *read_token_file(const char *path, meter_error *err)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    mtr_error_set(err, METER_ECONFIG, "cannot read the token file %.200s", path);
    return NULL;
  }
  mtr_buf b = MTR_BUF_INIT;
  char chunk[1024];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    mtr_buf_put(&b, chunk, n);
  fclose(f);
  memset(chunk, 0, sizeof chunk);
  if (mtr_buf_status(&b)) {
    mtr_buf_dispose_secret(&b);
    mtr_error_set(err, METER_ENOMEM, "out of memory");
    return NULL;
  }
  char *t = mtr_buf_detach(&b);
  if (!t || !*mtr_trim(t)) {
    mtr_free_secret_str(t);
    mtr_error_set(err, METER_ECONFIG, "the token file %.200s is empty", path);
    return NULL;
  }
  return t;
}

int mtr_aws_provider_web_identity(mtr_aws_chain *c, mtr_aws_credentials **out, meter_error *err)
{
  const char *token_file = mtr_aws_env(&c->sys, "AWS_WEB_IDENTITY_TOKEN_FILE");
  const char *role = mtr_aws_env(&c->sys, "AWS_ROLE_ARN");
  if (!token_file && !role) {
    mtr_error_set(err, METER_OK, "AWS_WEB_IDENTITY_TOKEN_FILE not set");
    return MTR_AWS_NOT_CONFIGURED;
  }
  if (!token_file || !role)
    return mtr_error_set(err, METER_ECONFIG, "%s is set but %s is not",
                         token_file ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN",
                         token_file ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE");
  char *token = read_token_file(token_file, err);
  if (!token)
    return err->status;
  mtr_logger_add_secret(c->log, token);

  char session[96];
  const char *sname = mtr_aws_env(&c->sys, "AWS_ROLE_SESSION_NAME");
  if (sname)
    mtr_strlcpy(session, sname, sizeof session);
  else
    mtr_fmt(session, sizeof session, "libmeter-%lld",
            (long long)(mtr_now_us(c->env->hooks) / MTR_US_PER_SEC));

  mtr_buf url = MTR_BUF_INIT, body = MTR_BUF_INIT;
  const char *override = mtr_aws_env(&c->sys, "AWS_ENDPOINT_URL_STS");
  if (override) {
    mtr_buf_puts(&url, override);
  } else {
    char region[64];
    mtr_mutex_lock(&c->lock);
    mtr_strlcpy(region, c->region, sizeof region);
    mtr_mutex_unlock(&c->lock);
    mtr_aws_sts_endpoint(&url, region);
  }
  if (url.len == 0 || url.ptr[url.len - 1] != '/')
    mtr_buf_putc(&url, '/');
  mtr_buf_puts(&body, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=");
  mtr_form_encode(&body, role, strlen(role));
  mtr_buf_puts(&body, "&RoleSessionName=");
  mtr_form_encode(&body, session, strlen(session));
  mtr_buf_puts(&body, "&WebIdentityToken=");
  mtr_form_encode(&body, token, strlen(token));
  mtr_free_secret_str(token);

  mtr_headers hs = { 0 };
  mtr_headers_add(&hs, "Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
  mtr_headers_add(&hs, "Accept", "application/xml");
  int rc = mtr_buf_status(&url) ? METER_ENOMEM : mtr_buf_status(&body);
  if (rc != METER_OK || hs.count != 2) {
    mtr_buf_dispose(&url);
    mtr_buf_dispose_secret(&body);
    mtr_headers_dispose(&hs);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }

  mtr_aws_fetch_req req = { "STS AssumeRoleWithWebIdentity", "POST", url.ptr, &hs, body.ptr,
                            body.len, 1, STS_TIMEOUT_MS, STS_ATTEMPTS };
  mtr_aws_fetch_resp resp = { 0, MTR_NET_OK, MTR_BUF_INIT, "" };
  rc = mtr_aws_fetch(c->env, &req, &resp, err);
  mtr_buf_dispose(&url);
  mtr_buf_dispose_secret(&body);
  mtr_headers_dispose(&hs);
  if (rc != METER_OK) {
    mtr_aws_fetch_resp_dispose(&resp);
    return rc;
  }

  const char *xml = mtr_buf_cstr(&resp.body);
  if (resp.status != 200) {
    mtr_buf code = MTR_BUF_INIT, msg = MTR_BUF_INIT;
    xml_text(xml, "Code", &code);
    xml_text(xml, "Message", &msg);
    rc = mtr_error_set(err, resp.status >= 500 ? METER_EUNDELIVERED : METER_EAUTH,
                       "STS AssumeRoleWithWebIdentity for %.120s: HTTP %ld %s%s%.120s", role,
                       resp.status, mtr_buf_cstr(&code), msg.len ? ": " : "", mtr_buf_cstr(&msg));
    mtr_buf_dispose(&code);
    mtr_buf_dispose(&msg);
    mtr_aws_fetch_resp_dispose(&resp);
    return rc;
  }
  mtr_buf akid = MTR_BUF_INIT, secret = MTR_BUF_INIT, tok = MTR_BUF_INIT, exp = MTR_BUF_INIT;
  int64_t expires = 0;
  if (xml_text(xml, "AccessKeyId", &akid) || xml_text(xml, "SecretAccessKey", &secret) ||
      xml_text(xml, "SessionToken", &tok) || xml_text(xml, "Expiration", &exp) ||
      !akid.len || !secret.len || !tok.len || mtr_time_parse(mtr_buf_cstr(&exp), &expires)) {
    rc = mtr_error_set(err, METER_EPROTOCOL,
                       "STS AssumeRoleWithWebIdentity: the answer lacks AccessKeyId, "
                       "SecretAccessKey, SessionToken or a valid Expiration");
  } else {
    *out = mtr_aws_credentials_new(akid.ptr, secret.ptr, tok.ptr, expires, "web-identity");
    rc = *out ? METER_OK : mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  mtr_buf_dispose(&akid);
  mtr_buf_dispose_secret(&secret);
  mtr_buf_dispose_secret(&tok);
  mtr_buf_dispose(&exp);
  mtr_aws_fetch_resp_dispose(&resp);
  return rc;
}
