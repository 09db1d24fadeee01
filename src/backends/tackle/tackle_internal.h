/* The Tackle.io back end, shared between its files:
 *
 *   tackle.c     the ops table: settings, create/destroy, batch key, aggregation
 *   auth.c       bearer tokens: /v1/authenticate + cred_cache, or a given token
 *   validate.c   Tackle's rules per cloud, before any I/O
 *   encode.c     records -> the JSON array PUT/POST take
 *   decode.c     answers -> UsageRecord views, error envelopes, invalid_body paths
 *   send.c       PUT/POST through mtr_exchange, result mapping, reconciliation
 *   read.c       the public list/get/delete calls (include/meter/tackle.h)
 *
 * Wire reference: shared/docs/marketplaces.md §1 and Tackle's OpenAPI. */
#ifndef MTR_TACKLE_INTERNAL_H
#define MTR_TACKLE_INTERNAL_H

#include "auth/cred_cache.h"
#include "backends/backend.h"
#include "json/json.h"
#include "meter/tackle.h"

#define TK_DEFAULT_ENDPOINT "https://api.tackle.io"
#define TK_RECORDS_PATH "/v1/metering/usage-records"
#define TK_AUTH_PATH "/v1/authenticate"
#define TK_ATTR_COUNT 17 /* one past the highest meter_tackle_attr */

/* Records per PUT/POST request. Tackle documents no limit; 100 keeps a
 * request body small (~30 KiB) and one failed request cheap to resend. */
#define TK_BATCH_LIMIT 100
/* Longest id, dimension or tag we send (Tackle documents none; AWS, where
 * most records go, caps dimension, product code and customer id at 255). */
#define TK_MAX_STRING 255
/* AWS caps a quantity (and an allocation) at 2^31-1; Tackle forwards it. */
#define TK_AWS_MAX_QUANTITY INT64_C(2147483647)

typedef enum tk_method { TK_PUT, TK_POST } tk_method;

typedef struct tk_backend {
  mtr_backend base;
  char *endpoint;          /* base URL without trailing slash */
  tk_method method;        /* the client's default */
  int allow_zero;
  /* Credentials: either a given token, or id/secret and a token cache. */
  char *static_token;
  char *client_id;
  char *client_secret;
  mtr_cred_cache tokens;
  int have_cache;
} tk_backend;

/* ---- auth.c ---- */
int tk_auth_init(tk_backend *be, const mtr_config *cfg, meter_error *err);
void tk_auth_dispose(tk_backend *be);

/* Where a request got its token; tk_auth_refused uses it on a 401. */
typedef struct tk_auth_state {
  unsigned generation;
  int refreshed;  /* this exchange already re-authenticated once */
} tk_auth_state;

/* Sets "Authorization: Bearer ..." (fetching a token if needed). */
int tk_auth_apply(tk_backend *be, mtr_http_request *req, tk_auth_state *st, meter_error *err);
/* A 401 answer: MTR_REFRESH the first time when the token can be renewed,
 * else MTR_DONE with METER_EAUTH naming Tackle's code. */
mtr_verdict tk_auth_refused(tk_backend *be, tk_auth_state *st, const mtr_http_response *resp,
                            const char *what, meter_error *err);
/* For tests and logs: how many tokens were fetched. */
unsigned tk_auth_fetches(tk_backend *be);

/* ---- validate.c ---- */
int tk_validate(mtr_backend *be, const meter_record *rec, mtr_result *res);
const char *tk_cloud(const meter_record *rec);          /* "aws" when unset */
tk_method tk_record_method(const tk_backend *be, const meter_record *rec);

/* ---- encode.c ---- */
/* The JSON array for records[idx[0..n)]. */
int tk_encode_records(meter_record *const *records, const size_t *idx, size_t n, mtr_buf *out);
/* Common headers of every Tackle request (not Authorization). */
int tk_set_json_headers(mtr_http_request *req, int has_body);

/* ---- decode.c ---- */
/* Tackle's Error envelope (code, error), read leniently. */
typedef struct tk_error_info {
  char code[64];
  char message[400];
} tk_error_info;
void tk_error_parse(const mtr_http_response *resp, tk_error_info *out);

/* Where invalid_body points: the record index (-1 if the path has none),
 * the meter field (0 if none maps), the wire path and the rule. */
typedef struct tk_body_error {
  long index;
  meter_field field;
  char path[128];   /* "dimension.quantity" */
  char rule[200];   /* "expected integer, but got number" */
} tk_body_error;
/* 0 when the message is a jsonschema message we understood. */
int tk_parse_invalid_body(const char *message, tk_body_error *out);

/* 409 names the record: "... product=P, customer=C, dimension=D" (or
 * "subscription=S, dimension=D"). */
typedef struct tk_conflict_key {
  char subscription[TK_MAX_STRING + 1];
  char product[TK_MAX_STRING + 1];
  char customer[TK_MAX_STRING + 1];
  char dimension[TK_MAX_STRING + 1];
} tk_conflict_key;
int tk_parse_conflict(const char *message, tk_conflict_key *out);

/* A UsageRecord as the public API exposes it. */
struct meter_tackle_record {
  char *s[TK_ATTR_COUNT];
  int64_t start_us, end_us;  /* -1 when absent or unreadable */
  char *json;                /* the record object as Tackle sent it */
};
int tk_record_from_json(meter_tackle_record *out, const cJSON *item);
void tk_record_clear(meter_tackle_record *r);

/* Does a returned UsageRecord describe this request record (product or
 * subscription, customer, dimension, start hour)? */
int tk_record_matches(const meter_tackle_record *got, const meter_record *rec);

/* ---- read.c (internal side, used by reconciliation too) ---- */
/* Builds the query string for list options (without '?'). */
int tk_list_query(const meter_tackle_list_options *o, mtr_buf *q, meter_error *err);
/* GET one page: the parsed body (caller cJSON_Deletes). */
int tk_list_page(tk_backend *be, const char *query, const char *page_token, cJSON **out,
                 meter_error *err);
/* The next-page token of a list answer (either spelling), or NULL. */
const char *tk_next_page_token(const cJSON *root);

/* ---- send.c ---- */
int tk_send_batch(mtr_backend *be, const mtr_batch *batch, meter_error *err);

#endif
