#include "tokens.h"

#include "core/alloc.h"
#include "core/str.h"
#include "core/sync.h"
#include "hashmap.h"

typedef struct token {
  int64_t expires_us;
  char scope[96];
} token;

struct sbx_tokens {
  mtr_mutex lock;
  sbx_map map;
};

sbx_tokens *sbx_tokens_new(void)
{
  sbx_tokens *t = mtr_calloc(1, sizeof *t);
  if (t)
    mtr_mutex_init(&t->lock);
  return t;
}

void sbx_tokens_reset(sbx_tokens *t)
{
  mtr_mutex_lock(&t->lock);
  sbx_map_clear(&t->map, mtr_free);
  mtr_mutex_unlock(&t->lock);
}

void sbx_tokens_free(sbx_tokens *t)
{
  if (!t)
    return;
  sbx_map_clear(&t->map, mtr_free);
  mtr_mutex_destroy(&t->lock);
  mtr_free(t);
}

int sbx_tokens_issue(sbx *s, sbx_tokens *t, const char *prefix, long ttl_s, const char *scope,
                     char *out, size_t out_size)
{
  char hex[65];
  sbx_new_secret(s, prefix, hex, 32);
  mtr_fmt(out, out_size, "%s%s", prefix, hex);
  token *tk = mtr_calloc(1, sizeof *tk);
  if (!tk)
    return -1;
  tk->expires_us = sbx_now(s) + (int64_t)ttl_s * 1000000;
  mtr_strlcpy(tk->scope, scope ? scope : "", sizeof tk->scope);
  mtr_mutex_lock(&t->lock);
  int rc = sbx_map_puts(&t->map, out, tk);
  mtr_mutex_unlock(&t->lock);
  if (rc != 0)
    mtr_free(tk);
  return rc;
}

sbx_token_state sbx_tokens_check(sbx_tokens *t, const char *tok, int64_t now_us,
                                 char *scope_out, size_t scope_size)
{
  sbx_token_state st = SBX_TOKEN_UNKNOWN;
  mtr_mutex_lock(&t->lock);
  const token *tk = tok ? sbx_map_gets(&t->map, tok) : NULL;
  if (tk) {
    st = now_us >= tk->expires_us ? SBX_TOKEN_EXPIRED : SBX_TOKEN_VALID;
    if (scope_out)
      mtr_strlcpy(scope_out, tk->scope, scope_size);
  }
  mtr_mutex_unlock(&t->lock);
  return st;
}
