/* OAuth 2.0 client credentials at {base}/oauth2/token: HTTP Basic with the
 * client id and secret, a form body naming the scope. The access token is
 * cached per client, which is per marketplace (AppDirect tokens are only
 * valid on the marketplace that issued them), renewed ahead of expiry, and
 * dropped once when the marketplace answers 401. Client credentials come
 * with no refresh token worth relying on, so a new token is simply fetched. */
#include "appdirect_int.h"

#include "auth/bearer.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"
#include "json/json.h"

#include <string.h>

/* Tokens usually live 12 hours (expires_in 43199): renew a tenth of the
 * lifetime before expiry, at most 5 minutes before. */
#define RENEW_AHEAD_MAX_US (300 * MTR_US_PER_SEC)
/* An answer without expires_in: assume an hour (a 401 renews sooner). */
#define DEFAULT_LIFETIME_S 3600

typedef struct token_call {
  mtr_appdirect *ad;
  char *token;
  int64_t expires_in_s;
} token_call;

static int token_build(void *p, mtr_http_request *req, unsigned attempt, meter_error *err)
{
  (void)attempt;
  token_call *c = p;
  const mtr_appdirect *ad = c->ad;
  req->method = "POST";
  req->body_is_secret = 1;
  mtr_url_join(&req->url, ad->base_url, MTR_APPDIRECT_TOKEN_PATH);

  mtr_buf pair = MTR_BUF_INIT, basic = MTR_BUF_INIT;
  mtr_buf_printf(&pair, "%s:%s", ad->client_id, ad->client_secret);
  mtr_buf_puts(&basic, "Basic ");
  if (mtr_buf_status(&pair) == METER_OK)
    mtr_base64_encode(&basic, pair.ptr, pair.len);
  int rc = mtr_buf_status(&pair) | mtr_buf_status(&basic);
  if (rc == METER_OK)
    rc = mtr_headers_set(&req->headers, "Authorization", mtr_buf_cstr(&basic));
  mtr_buf_dispose_secret(&pair);
  mtr_buf_dispose_secret(&basic);
  if (rc == METER_OK)
    rc = mtr_headers_set(&req->headers, "Content-Type", "application/x-www-form-urlencoded");
  if (rc == METER_OK)
    rc = mtr_headers_set(&req->headers, "Accept", "application/json");

  mtr_buf_puts(&req->body, "grant_type=client_credentials&scope=");
  mtr_form_encode(&req->body, ad->scope, strlen(ad->scope));
  if (rc == METER_OK)
    rc = mtr_buf_status(&req->body) | mtr_buf_status(&req->url);
  return rc == METER_OK ? METER_OK : mtr_error_set(err, METER_ENOMEM, "out of memory");
}

static mtr_verdict token_handle(void *p, const mtr_http_response *resp, meter_error *err)
{
  token_call *c = p;
  mtr_verdict v = mtr_classify_http_status(resp->status);
  if (v != MTR_DONE)
    return v;
  if (resp->status >= 200 && resp->status < 300) {
    mtr_bearer_read_answer(resp, "AppDirect token answer", DEFAULT_LIFETIME_S, c->ad->base.log,
                           &c->token, &c->expires_in_s, err);
    return MTR_DONE;
  }

  /* OAuth errors are {"error","error_description"}; AppDirect's own API
   * errors are {"code","message"}: take whichever is there. */
  cJSON *root = resp->body.len ? cJSON_ParseWithLength(resp->body.ptr, resp->body.len) : NULL;
  const char *code = mtr_json_str(root, "error");
  const char *msg = mtr_json_str(root, "error_description");
  if (!code)
    code = mtr_json_str(root, "code");
  if (!msg)
    msg = mtr_json_str(root, "message");
  char detail[200];
  mtr_fmt(detail, sizeof detail, "%s%s%s", code ? code : "", code && msg ? ": " : "",
          msg ? msg : "");
  if (resp->status == 404 || resp->status == 405)
    mtr_error_set(err, METER_ECONFIG,
                  "AppDirect token endpoint %s%s answered HTTP %ld: is base_url the "
                  "marketplace's base URL (e.g. https://www.acme-marketplace.com)?",
                  c->ad->base_url, MTR_APPDIRECT_TOKEN_PATH, resp->status);
  else if (resp->status == 400 || resp->status == 401 || resp->status == 403)
    mtr_error_set(err, METER_EAUTH,
                  "AppDirect refused the client credentials (HTTP %ld%s%s): check client_id, "
                  "client_secret and scope '%s'",
                  resp->status, detail[0] ? " " : "", detail, c->ad->scope);
  else
    mtr_error_set(err, METER_EPROTOCOL, "AppDirect token request: unexpected HTTP %ld%s%s",
                  resp->status, detail[0] ? " " : "", detail);
  cJSON_Delete(root);
  return MTR_DONE;
}

static void token_give_up(void *p, int status, const char *why, const mtr_http_response *last)
{
  (void)p;
  (void)status;
  (void)why;
  (void)last; /* no records to mark: the caller's exchange reports the failure */
}

static int fetch_token(void *ctx, void **value, int64_t *expires_us, meter_error *err)
{
  static const mtr_exchange_ops ops = { "AppDirect token request", token_build, token_handle,
                                        token_give_up, NULL };
  mtr_appdirect *ad = ctx;
  token_call c = { ad, NULL, DEFAULT_LIFETIME_S };
  /* Counted from when we asked: the time the answer took is not the token's. */
  int64_t asked = mtr_now_us(ad->base.env->hooks);
  int rc = mtr_exchange(ad->base.env, &ops, &c, NULL, err);
  if (rc != METER_OK || !c.token) {
    mtr_free_secret_str(c.token);
    return rc != METER_OK ? rc : mtr_error_set(err, METER_EPROTOCOL, "no access token");
  }
  mtr_logger_add_secret(ad->base.log, c.token);
  *expires_us = asked + c.expires_in_s * MTR_US_PER_SEC;
  *value = c.token;
  MTR_DEBUG(ad->base.log, "AppDirect access token obtained (scope %s, expires in %lld s)",
            ad->scope, (long long)c.expires_in_s);
  return METER_OK;
}

static const mtr_cred_ops token_ops = { fetch_token, mtr_cred_copy_string, mtr_cred_free_string };

void mtr_appdirect_oauth_init(mtr_appdirect *ad)
{
  /* Renewed RENEW_AHEAD_MAX_US before expiry, or at nine tenths of a shorter
   * lifetime (the cache's rule: seconds in the sandbox, hours live). */
  mtr_cred_cache_init(&ad->token, &token_ops, ad, ad->base.env->hooks, ad->base.log,
                      "AppDirect access token", RENEW_AHEAD_MAX_US);
}

void mtr_appdirect_oauth_dispose(mtr_appdirect *ad)
{
  mtr_cred_cache_dispose(&ad->token);
}

int mtr_appdirect_authorize(mtr_appdirect *ad, mtr_http_request *req, mtr_appdirect_auth *auth,
                            meter_error *err)
{
  return mtr_bearer_authorize(&ad->token, req, &auth->generation, err);
}

mtr_verdict mtr_appdirect_unauthorized(mtr_appdirect *ad, mtr_appdirect_auth *auth,
                                       const char *what, meter_error *err)
{
  if (!auth->renewed) {
    auth->renewed = 1;
    mtr_cred_cache_invalidate(&ad->token, auth->generation);
    MTR_INFO(ad->base.log, "%s: HTTP 401, fetching a new access token and resending", what);
    return MTR_REFRESH;
  }
  mtr_error_set(err, METER_EAUTH,
                "%s: HTTP 401 again with a freshly issued access token: these credentials "
                "(scope %s) may not call this API on %s",
                what, ad->scope, ad->base_url);
  return MTR_DONE;
}
