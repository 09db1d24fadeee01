/* The AppDirect back end's shared state and the functions its files give one
 * another. Map of the folder:
 *   appdirect.c  settings, the back end's table, batching, sending usage
 *   validate.c   record rules (before any I/O)
 *   oauth.c      client-credentials token: fetch, cache, Bearer header, 401
 *   encode.c     the usage request body and its idempotency key
 *   decode.c     answers: 202, errors, duplicate key, status documents
 *   status.c     the public status query, polling, mapping to records
 * Wire reference: shared docs marketplaces.md §2. */
#ifndef MTR_APPDIRECT_INT_H
#define MTR_APPDIRECT_INT_H

#include "auth/cred_cache.h"
#include "backends/backend.h"
#include "core/uuid.h"
#include "meter/appdirect.h"

#define MTR_APPDIRECT_MAX_EVENTS 250 /* usage events per request (documented) */
#define MTR_APPDIRECT_USAGE_PATH "/api/integration/v2/billing/usage"
#define MTR_APPDIRECT_STATUS_PREFIX "/api/integration/v2/billing/usage/requests/"
#define MTR_APPDIRECT_TOKEN_PATH "/oauth2/token"

typedef struct mtr_appdirect {
  mtr_backend base;
  char *base_url;         /* no trailing slash */
  char *client_id;
  char *client_secret;
  char *scope;
  int billable;
  char *request_group_id; /* optional */
  char *subscription_id;  /* optional, partner credentials */
  char *vendor_id;        /* optional, partner credentials */
  mtr_cred_cache token;   /* one per client, i.e. per marketplace */
} mtr_appdirect;

/* ---- oauth.c ------------------------------------------------------------ */

/* Per exchange: which token was used, and whether it was already renewed
 * once after a 401. */
typedef struct mtr_appdirect_auth {
  unsigned generation;
  int renewed;
} mtr_appdirect_auth;

void mtr_appdirect_oauth_init(mtr_appdirect *ad);
void mtr_appdirect_oauth_dispose(mtr_appdirect *ad);
/* Sets "Authorization: Bearer <token>" (cached; fetched when missing or
 * about to expire). */
int mtr_appdirect_authorize(mtr_appdirect *ad, mtr_http_request *req, mtr_appdirect_auth *auth,
                            meter_error *err);
/* A 401 answer: the first time drops that token and asks for a resend
 * (MTR_REFRESH); the second time sets METER_EAUTH and returns MTR_DONE. */
mtr_verdict mtr_appdirect_unauthorized(mtr_appdirect *ad, mtr_appdirect_auth *auth,
                                       const char *what, meter_error *err);

/* ---- validate.c ------------------------------------------------------- */

int mtr_appdirect_validate(mtr_backend *be, const meter_record *rec, mtr_result *res);
/* The record's accountId: `account`, else `customer`. */
const char *mtr_appdirect_account(const meter_record *rec);
/* Volume-priced usage travels in requests of its own. */
int mtr_appdirect_is_volume(const meter_record *rec);

/* ---- encode.c ----------------------------------------------------------- */

/* The request's idempotencyKey: a name-based UUID over the sorted eventIds and
 * the billable flag, so a resend of the same records (after a crash, from the
 * spool) carries the same key. */
int mtr_appdirect_request_key(meter_record *const *recs, size_t n, int billable,
                              char out[MTR_UUID_LEN + 1]);
/* The MeteredUsageRequest body, events grouped by accountId in first-seen order. */
int mtr_appdirect_encode_usage(const mtr_appdirect *ad, meter_record *const *recs, size_t n,
                               const char *idempotency_key, mtr_buf *out);

/* ---- decode.c ----------------------------------------------------------- */

/* The interesting members of a usage answer (202 or an Error body). */
typedef struct mtr_appdirect_answer {
  char *request_id;
  char *status_path;
  char *code;
  char *message;
  int parsed;       /* the body was a JSON object */
} mtr_appdirect_answer;

void mtr_appdirect_answer_read(const mtr_http_response *resp, mtr_appdirect_answer *out);
void mtr_appdirect_answer_dispose(mtr_appdirect_answer *a);
/* "This idempotencyKey was already used": the usage was received before. */
int mtr_appdirect_is_duplicate_key(long http_status, const mtr_appdirect_answer *a);
/* The record field an AppDirect error message is about ("quantity must ..."
 * -> METER_FIELD_QUANTITY), or 0. */
meter_field mtr_appdirect_field_in_message(const char *message);

typedef struct mtr_appdirect_failed_usage {
  char *account_id;
  char *event_id;
  char *error_code;
  char *error_description;
} mtr_appdirect_failed_usage;

struct meter_appdirect_status {
  meter_appdirect_state state;
  char *status;
  char *request_id;
  char *idempotency_key;
  int64_t total, processed, failed;  /* -1: absent */
  mtr_appdirect_failed_usage *failures;
  size_t nfailures;
};

meter_appdirect_state mtr_appdirect_state_from_string(const char *s);
int mtr_appdirect_decode_status(const char *body, size_t len, meter_appdirect_status **out,
                                meter_error *err);

#endif
