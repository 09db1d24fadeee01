/* Bearer tokens from an OAuth-style token endpoint (Tackle /v1/authenticate,
 * AppDirect /oauth2/token). The back ends differ in how they ask (JSON body
 * vs form + HTTP Basic); reading the answer and presenting the token are the
 * same, and live here. */
#ifndef MTR_BEARER_H
#define MTR_BEARER_H

#include "auth/cred_cache.h"
#include "core/log.h"
#include "http/http.h"
#include "meter/errors.h"

#include <stdint.h>

/* Lifetimes beyond this are taken as this (keeps the arithmetic in range). */
#define MTR_BEARER_MAX_LIFETIME_S (30 * 24 * 3600)

/*
 * Reads a 2xx token answer {"access_token", "token_type", "expires_in"}:
 * the token must be there and, if a type is given, be "bearer"; expires_in,
 * if present, a non-negative integer (absent: default_lifetime_s, logged).
 * On success *token (caller frees with mtr_free_secret_str) and *lifetime_s
 * are set; the parsed copy of the token is wiped. Errors are METER_EPROTOCOL
 * naming `what`.
 */
int mtr_bearer_read_answer(const mtr_http_response *resp, const char *what,
                           int64_t default_lifetime_s, mtr_logger *log, char **token,
                           int64_t *lifetime_s, meter_error *err);

/* Sets "Authorization: Bearer <token>" from the cache (fetching if due) and
 * returns the token's generation for mtr_cred_cache_invalidate on a 401. */
int mtr_bearer_authorize(mtr_cred_cache *cache, mtr_http_request *req, unsigned *generation,
                         meter_error *err);

#endif
