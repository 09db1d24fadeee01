/* Bearer tokens for Tackle: fetched from POST /v1/authenticate with the M2M
 * client id/secret and cached (auth/cred_cache: one fetch at a time, however
 * many threads send), or given by the caller as `access_token`. */
#include "tackle_internal.h"

#include "auth/bearer.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <string.h>

/*
 * How long before `expires_in` runs out a token is renewed: 5 minutes, or a
 * tenth of its lifetime if that is shorter (the credential cache's rule). A
 * token must still be valid when a request reaches Tackle, which may be after
 * retries and backoff (the default deadline of a call is 60 s) and with some
 * clock skew between us and the issuer; 5 minutes is what the AWS SDKs use
 * ahead of credential expiry (marketplaces.md §4.3), ample for Tackle's
 * documented 90-minute tokens, and a 60 s sandbox token is renewed after 54 s,
 * not on every call.
 */
#define TK_REFRESH_AHEAD_US (300 * MTR_US_PER_SEC)
/* When an answer has no usable expires_in: Tackle's documented lifetime. */
#define TK_DEFAULT_LIFETIME_S 5400

typedef struct auth_call {
  tk_backend *be;
  char *token;
  int64_t lifetime_s;
} auth_call;

static int auth_build(void *p, mtr_http_request *req, unsigned attempt, meter_error *err)
{
  (void)attempt;
  auth_call *c = p;
  req->method = "POST";
  req->body_is_secret = 1;
  mtr_buf_printf(&req->url, "%s%s", c->be->endpoint, TK_AUTH_PATH);
  cJSON *o = cJSON_CreateObject();
  if (!o || !mtr_json_add_str(o, "client_id", c->be->client_id) ||
      !mtr_json_add_str(o, "client_secret", c->be->client_secret) ||
      !mtr_json_add_str(o, "grant_type", "client_credentials")) {
    cJSON_Delete(o);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  mtr_json_print(o, &req->body);
  /* cJSON kept a copy of the secret in the tree: wipe it before freeing. */
  cJSON *sec = cJSON_GetObjectItemCaseSensitive(o, "client_secret");
  if (sec && sec->valuestring)
    memset(sec->valuestring, 0, strlen(sec->valuestring));
  cJSON_Delete(o);
  tk_set_json_headers(req, 1);
  if (mtr_buf_status(&req->url) || mtr_buf_status(&req->body))
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  return METER_OK;
}

static mtr_verdict auth_handle(void *p, const mtr_http_response *resp, meter_error *err)
{
  auth_call *c = p;
  mtr_verdict v = mtr_classify_http_status(resp->status);
  if (v != MTR_DONE)
    return v;
  if (resp->status != 200) {
    tk_error_info e;
    tk_error_parse(resp, &e);
    int st = resp->status == 400 || resp->status == 401 || resp->status == 403 ? METER_EAUTH
                                                                                : METER_EPROTOCOL;
    mtr_error_set(err, st, "Tackle %s refused the client credentials: HTTP %ld %s%s%s", TK_AUTH_PATH,
                  resp->status, e.code[0] ? e.code : "", e.message[0] ? ": " : "", e.message);
    return MTR_DONE;
  }
  mtr_free_secret_str(c->token);
  c->token = NULL;
  mtr_bearer_read_answer(resp, "Tackle token answer", TK_DEFAULT_LIFETIME_S, c->be->base.log,
                         &c->token, &c->lifetime_s, err);
  return MTR_DONE;
}

static void auth_give_up(void *p, int status, const char *why, const mtr_http_response *last)
{
  (void)p;
  (void)status;
  (void)why;
  (void)last;
}

static int fetch_token(void *ctx, void **value, int64_t *expires_us, meter_error *err)
{
  static const mtr_exchange_ops ops = { "Tackle authentication", auth_build, auth_handle,
                                        auth_give_up, NULL };
  tk_backend *be = ctx;
  auth_call c = { be, NULL, 0 };
  int64_t asked = mtr_now_us(be->base.env->hooks);
  int rc = mtr_exchange(be->base.env, &ops, &c, NULL, err);
  if (rc != METER_OK) {
    mtr_free_secret_str(c.token);
    return rc;
  }
  mtr_logger_add_secret(be->base.log, c.token);
  /* Counted from when we asked, so the time the answer took is not credited
   * to the token. */
  *expires_us = asked + c.lifetime_s * MTR_US_PER_SEC;
  *value = c.token;
  MTR_DEBUG(be->base.log, "Tackle token obtained, valid %lld s", (long long)c.lifetime_s);
  return METER_OK;
}

static const mtr_cred_ops token_ops = { fetch_token, mtr_cred_copy_string, mtr_cred_free_string };

int tk_auth_init(tk_backend *be, const mtr_config *cfg, meter_error *err)
{
  const char *tok = mtr_config_get(cfg, "access_token");
  const char *id = mtr_config_get(cfg, "client_id");
  const char *secret = mtr_config_get(cfg, "client_secret");
  if (tok && (id || secret))
    return mtr_error_set(err, METER_ECONFIG,
                         "tackle: give either 'access_token' or 'client_id' and 'client_secret', "
                         "not both");
  if (tok) {
    if (!*tok)
      return mtr_error_set(err, METER_ECONFIG, "tackle setting 'access_token' is empty");
    if (!(be->static_token = mtr_strdup(tok)))
      return mtr_error_set(err, METER_ENOMEM, "out of memory");
    return METER_OK;
  }
  if (!id || !*id || !secret || !*secret)
    return mtr_error_set(err, METER_ECONFIG,
                         "tackle needs the settings 'client_id' and 'client_secret' (Tackle M2M "
                         "credentials; env TACKLE_CLIENT_ID, TACKLE_CLIENT_SECRET) or "
                         "'access_token' (TACKLE_ACCESS_TOKEN)%s",
                         id && *id ? ": client_secret is missing"
                         : secret && *secret ? ": client_id is missing" : "");
  be->client_id = mtr_strdup(id);
  be->client_secret = mtr_strdup(secret);
  if (!be->client_id || !be->client_secret)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  mtr_cred_cache_init(&be->tokens, &token_ops, be, be->base.env->hooks, be->base.log,
                      "Tackle token", TK_REFRESH_AHEAD_US);
  be->have_cache = 1;
  return METER_OK;
}

void tk_auth_dispose(tk_backend *be)
{
  if (be->have_cache)
    mtr_cred_cache_dispose(&be->tokens);
  be->have_cache = 0;
  mtr_free_secret_str(be->static_token);
  mtr_free(be->client_id);
  mtr_free_secret_str(be->client_secret);
  be->static_token = be->client_id = be->client_secret = NULL;
}

int tk_auth_apply(tk_backend *be, mtr_http_request *req, tk_auth_state *st, meter_error *err)
{
  if (!be->static_token)
    return mtr_bearer_authorize(&be->tokens, req, &st->generation, err);
  mtr_buf h = MTR_BUF_INIT;
  mtr_buf_puts(&h, "Bearer ");
  mtr_buf_puts(&h, be->static_token);
  int rc = mtr_buf_status(&h) ? METER_ENOMEM : mtr_headers_set(&req->headers, "Authorization", h.ptr);
  mtr_buf_dispose_secret(&h);
  return rc == METER_OK ? METER_OK : mtr_error_set(err, METER_ENOMEM, "out of memory");
}

mtr_verdict tk_auth_refused(tk_backend *be, tk_auth_state *st, const mtr_http_response *resp,
                            const char *what, meter_error *err)
{
  tk_error_info e;
  tk_error_parse(resp, &e);
  const char *code = e.code[0] ? e.code : "unauthorized";
  if (be->static_token) {
    mtr_error_set(err, METER_EAUTH,
                  "%s: Tackle refused the access_token (HTTP 401 %s%s%s); a given token is not "
                  "renewed: pass a new one, or client_id and client_secret",
                  what, code, e.message[0] ? ": " : "", e.message);
    return MTR_DONE;
  }
  if (!st->refreshed) {
    st->refreshed = 1;
    mtr_cred_cache_invalidate(&be->tokens, st->generation);
    MTR_INFO(be->base.log, "%s: Tackle refused the token (%s), authenticating again", what, code);
    return MTR_REFRESH;
  }
  mtr_error_set(err, METER_EAUTH,
                "%s: Tackle refused a freshly issued token (HTTP 401 %s%s%s): check that the "
                "client_id belongs to the vendor of these products",
                what, code, e.message[0] ? ": " : "", e.message);
  return MTR_DONE;
}

unsigned tk_auth_fetches(tk_backend *be)
{
  if (!be->have_cache)
    return 0;
  mtr_mutex_lock(&be->tokens.lock);
  unsigned n = be->tokens.fetches;
  mtr_mutex_unlock(&be->tokens.lock);
  return n;
}
