/* Bearer tokens issued by the Tackle and AppDirect token endpoints: a map
 * token -> {expiry, scope}. Expired tokens stay known so the marketplaces
 * can answer "expired" rather than "unknown". */
#ifndef SBX_TOKENS_H
#define SBX_TOKENS_H

#include "sandbox.h"

typedef enum sbx_token_state {
  SBX_TOKEN_VALID = 0,
  SBX_TOKEN_UNKNOWN,
  SBX_TOKEN_EXPIRED
} sbx_token_state;

sbx_tokens *sbx_tokens_new(void);
void sbx_tokens_free(sbx_tokens *t);
void sbx_tokens_reset(sbx_tokens *t);

/* Issues a token "<prefix><hex>" valid for ttl_s seconds of the sandbox
 * clock. 0, or -1 when out of memory. */
int sbx_tokens_issue(sbx *s, sbx_tokens *t, const char *prefix, long ttl_s, const char *scope,
                     char *out, size_t out_size);

/* The state of a presented token at `now_us`; its scope into scope_out
 * (may be NULL). */
sbx_token_state sbx_tokens_check(sbx_tokens *t, const char *token, int64_t now_us,
                                 char *scope_out, size_t scope_size);

#endif
