#include "bearer.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "json/json.h"

#include <string.h>

int mtr_bearer_read_answer(const mtr_http_response *resp, const char *what,
                           int64_t default_lifetime_s, mtr_logger *log, char **token,
                           int64_t *lifetime_s, meter_error *err)
{
  *token = NULL;
  cJSON *root = mtr_json_parse(resp->body.ptr, resp->body.len, what, err);
  if (!root)
    return err ? err->status : METER_EPROTOCOL;
  cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "access_token");
  const char *type = mtr_json_str(root, "token_type");
  const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
  int64_t life = default_lifetime_s;
  int rc = METER_OK;
  if (!cJSON_IsString(tok) || !tok->valuestring[0]) {
    rc = mtr_error_set(err, METER_EPROTOCOL, "%s has no access_token", what);
  } else if (type && !mtr_streq_nocase(type, "bearer")) {
    rc = mtr_error_set(err, METER_EPROTOCOL,
                       "%s has token_type '%.40s'; only bearer tokens are usable", what, type);
  } else if (exp && (mtr_json_item_int64(exp, &life) != 0 || life < 0)) {
    rc = mtr_error_set(err, METER_EPROTOCOL, "%s has an invalid expires_in", what);
  } else if (!(*token = mtr_strdup(tok->valuestring))) {
    rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
  } else {
    if (!exp)
      MTR_WARN(log, "%s has no expires_in; assuming %lld s", what, (long long)default_lifetime_s);
    *lifetime_s = life < MTR_BEARER_MAX_LIFETIME_S ? life : MTR_BEARER_MAX_LIFETIME_S;
  }
  if (cJSON_IsString(tok))
    memset(tok->valuestring, 0, strlen(tok->valuestring)); /* do not leave it in freed memory */
  cJSON_Delete(root);
  return rc;
}

int mtr_bearer_authorize(mtr_cred_cache *cache, mtr_http_request *req, unsigned *generation,
                         meter_error *err)
{
  void *tok = NULL;
  int rc = mtr_cred_cache_get(cache, &tok, generation, err);
  if (rc != METER_OK)
    return rc;
  mtr_buf h = MTR_BUF_INIT;
  mtr_buf_puts(&h, "Bearer ");
  mtr_buf_puts(&h, tok);
  rc = mtr_buf_status(&h);
  if (rc == METER_OK)
    rc = mtr_headers_set(&req->headers, "Authorization", mtr_buf_cstr(&h));
  mtr_buf_dispose_secret(&h);
  mtr_cred_free_string(tok);
  return rc == METER_OK ? METER_OK : mtr_error_set(err, METER_ENOMEM, "out of memory");
}
