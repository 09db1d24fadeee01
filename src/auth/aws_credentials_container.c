/* Container credentials (ECS task roles, EKS Pod Identity):
 *   AWS_CONTAINER_CREDENTIALS_RELATIVE_URI -> http://169.254.170.2<uri>, else
 *   AWS_CONTAINER_CREDENTIALS_FULL_URI     -> that URL, if it passes the host
 *                                             rule (https, or a local agent).
 * Authorization: the contents of AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE,
 * read on every fetch (EKS rotates it), else AWS_CONTAINER_AUTHORIZATION_TOKEN.
 * Answer: {"AccessKeyId","SecretAccessKey","Token","Expiration"}. */
#include "aws_credentials.h"

#include "auth/aws_fetch.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"
#include "json/json.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define ECS_HOST "http://169.254.170.2"
#define ECS_TIMEOUT_MS 2000
#define ECS_ATTEMPTS 3

static int ip4_allowed(const unsigned char a[4])
{
  return a[0] == 127 || (a[0] == 169 && a[1] == 254 && a[2] == 170 && (a[3] == 2 || a[3] == 23));
}

static int ip6_allowed(const unsigned char a[16])
{
  static const unsigned char loop[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
  static const unsigned char eks[16] = { 0xfd, 0, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x23 };
  return memcmp(a, loop, 16) == 0 || memcmp(a, eks, 16) == 0;
}

int mtr_aws_container_uri_allowed(const char *url, char *why, size_t why_size)
{
  if (strncmp(url, "https://", 8) == 0)
    return 1;
  if (strncmp(url, "http://", 7) != 0) {
    mtr_fmt(why, why_size, "only http and https URLs are allowed");
    return 0;
  }
  const char *h = url + 7;
  const char *end = h + strcspn(h, "/?#");
  const char *at = memchr(h, '@', (size_t)(end - h));
  if (at)
    h = at + 1;
  char host[256];
  size_t n;
  if (*h == '[') {
    const char *close = memchr(h, ']', (size_t)(end - h));
    if (!close) {
      mtr_fmt(why, why_size, "malformed host");
      return 0;
    }
    h++;
    n = (size_t)(close - h);
  } else {
    const char *colon = memchr(h, ':', (size_t)(end - h));
    n = (size_t)((colon ? colon : end) - h);
  }
  if (n == 0 || n >= sizeof host) {
    mtr_fmt(why, why_size, "malformed host");
    return 0;
  }
  memcpy(host, h, n);
  host[n] = '\0';

  unsigned char a[16];
  if (inet_pton(AF_INET, host, a) == 1) {
    if (ip4_allowed(a))
      return 1;
  } else if (inet_pton(AF_INET6, host, a) == 1) {
    if (ip6_allowed(a))
      return 1;
  } else if (mtr_streq_nocase(host, "localhost")) {
    return 1;
  } else {
    /* A name: every address it resolves to must be allowed. */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
      mtr_fmt(why, why_size, "host %s does not resolve", host);
      return 0;
    }
    int ok = 1;
    for (struct addrinfo *r = res; r && ok; r = r->ai_next) {
      if (r->ai_family == AF_INET)
        ok = ip4_allowed((const unsigned char *)&((struct sockaddr_in *)(void *)r->ai_addr)->sin_addr);
      else if (r->ai_family == AF_INET6)
        ok = ip6_allowed((const unsigned char *)&((struct sockaddr_in6 *)(void *)r->ai_addr)->sin6_addr);
      else
        ok = 0;
    }
    freeaddrinfo(res);
    if (ok)
      return 1;
  }
  mtr_fmt(why, why_size,
          "host %s is not allowed over http (only https, loopback, 169.254.170.2, "
          "169.254.170.23 or fd00:ec2::23)", host);
  return 0;
}

/* The token from the file (re-read each time) or the variable; NULL if none. */
static int auth_token(mtr_aws_chain *c, char **out, meter_error *err)
{
  *out = NULL;
  const char *file = mtr_aws_env(&c->sys, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  if (file) {
    FILE *f = fopen(file, "rb");
    if (!f)
      return mtr_error_set(err, METER_ECONFIG, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE "
                                               "%.200s", file);
    mtr_buf b = MTR_BUF_INIT;
    char chunk[512];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
      mtr_buf_put(&b, chunk, n);
    fclose(f);
    memset(chunk, 0, sizeof chunk);
    if (mtr_buf_status(&b)) {
      mtr_buf_dispose_secret(&b);
      return mtr_error_set(err, METER_ENOMEM, "out of memory");
    }
    *out = mtr_buf_detach(&b);
    if (*out)
      mtr_trim(*out);
  } else {
    const char *v = mtr_aws_env(&c->sys, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (v && !(*out = mtr_strdup(v)))
      return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  if (*out && mtr_has_ctl(*out, strlen(*out))) {
    mtr_free_secret_str(*out);
    *out = NULL;
    return mtr_error_set(err, METER_ECONFIG, "the container authorization token contains "
                                             "control characters");
  }
  if (*out && !**out) {
    mtr_free_secret_str(*out);
    *out = NULL;
  }
  return METER_OK;
}

int mtr_aws_container_url(const mtr_aws_sysenv *sys, mtr_buf *url, meter_error *err)
{
  const char *rel = mtr_aws_env(sys, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const char *full = mtr_aws_env(sys, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (!rel && !full) {
    mtr_error_set(err, METER_OK, "AWS_CONTAINER_CREDENTIALS_* not set");
    return MTR_AWS_NOT_CONFIGURED;
  }
  if (rel) {
    /* The ECS agent; takes precedence over FULL_URI. */
    mtr_buf_printf(url, "%s%s%s", ECS_HOST, rel[0] == '/' ? "" : "/", rel);
  } else {
    char why[200];
    if (!mtr_aws_container_uri_allowed(full, why, sizeof why))
      return mtr_error_set(err, METER_ECONFIG, "AWS_CONTAINER_CREDENTIALS_FULL_URI refused: %s",
                           why);
    mtr_buf_puts(url, full);
  }
  return mtr_buf_status(url) ? mtr_error_set(err, METER_ENOMEM, "out of memory") : METER_OK;
}

int mtr_aws_provider_container(mtr_aws_chain *c, mtr_aws_credentials **out, meter_error *err)
{
  mtr_buf url = MTR_BUF_INIT;
  int rc0 = mtr_aws_container_url(&c->sys, &url, err);
  if (rc0 != METER_OK) {
    mtr_buf_dispose(&url);
    return rc0;
  }
  char *token = NULL;
  int rc = auth_token(c, &token, err);
  if (rc != METER_OK) {
    mtr_buf_dispose(&url);
    return rc;
  }
  mtr_headers hs = { 0 };
  mtr_headers_add(&hs, "Accept", "application/json");
  size_t want = 1;
  if (token) {
    mtr_logger_add_secret(c->log, token);
    mtr_headers_add(&hs, "Authorization", token);
    mtr_free_secret_str(token);
    want = 2;
  }
  if (mtr_buf_status(&url) || hs.count != want) {
    mtr_buf_dispose(&url);
    mtr_headers_dispose(&hs);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  mtr_aws_fetch_req req = { "ECS container credentials", "GET", url.ptr, &hs, NULL, 0, 0,
                            ECS_TIMEOUT_MS, ECS_ATTEMPTS };
  mtr_aws_fetch_resp resp = { 0, MTR_NET_OK, MTR_BUF_INIT, "" };
  rc = mtr_aws_fetch(c->env, &req, &resp, err);
  mtr_headers_dispose(&hs);
  if (rc != METER_OK) {
    meter_error e = *err;
    mtr_error_set(err, rc, "container credentials endpoint %.100s: %s", url.ptr, e.message);
    mtr_buf_dispose(&url);
    mtr_aws_fetch_resp_dispose(&resp);
    return rc;
  }
  cJSON *j = cJSON_ParseWithLength(resp.body.ptr ? resp.body.ptr : "", resp.body.len);
  if (resp.status != 200) {
    const char *msg = j ? mtr_json_str(j, "message") : NULL;
    const char *code = j ? mtr_json_str(j, "code") : NULL;
    rc = mtr_error_set(err, resp.status >= 500 ? METER_EUNDELIVERED : METER_EAUTH,
                       "container credentials endpoint %.100s: HTTP %ld%s%s%s%.100s", url.ptr,
                       resp.status, code ? " " : "", code ? code : "", msg ? ": " : "",
                       msg ? msg : "");
  } else {
    const char *akid = mtr_json_str(j, "AccessKeyId");
    const char *secret = mtr_json_str(j, "SecretAccessKey");
    const char *tok = mtr_json_str(j, "Token");
    const char *exp = mtr_json_str(j, "Expiration");
    int64_t expires = 0;
    if (!akid || !*akid || !secret || !*secret || (exp && mtr_time_parse(exp, &expires))) {
      rc = mtr_error_set(err, METER_EPROTOCOL, "container credentials endpoint: the answer "
                                               "lacks AccessKeyId, SecretAccessKey or a valid "
                                               "Expiration");
    } else {
      *out = mtr_aws_credentials_new(akid, secret, tok, expires, "ecs");
      rc = *out ? METER_OK : mtr_error_set(err, METER_ENOMEM, "out of memory");
    }
  }
  if (j) {
    /* Wipe the secret strings inside the parsed tree before freeing it. */
    const char *keys[] = { "SecretAccessKey", "Token" };
    for (size_t i = 0; i < 2; i++) {
      cJSON *it = cJSON_GetObjectItemCaseSensitive(j, keys[i]);
      if (cJSON_IsString(it) && it->valuestring)
        memset(it->valuestring, 0, strlen(it->valuestring));
    }
    cJSON_Delete(j);
  }
  mtr_buf_dispose(&url);
  mtr_aws_fetch_resp_dispose(&resp);
  return rc;
}
