/* Tackle /v1 in the sandbox: authentication, the usage-record store with
 * PUT (create or update until sent, then 409) and POST (always create),
 * list with filters and page tokens, get and delete.
 *
 * "Sent to the marketplace": a record is sent --tackle-send-delay ms after
 * it was created (or after scheduled_at, when later). From then on it is
 * `accepted` and a PUT for its product/customer/dimension/hour answers 409.
 * Test records are never sent: after the same delay they take the status
 * their `test` value asks for. */
#include "tackle.h"

#include "core/alloc.h"
#include "core/decimal.h"
#include "core/str.h"
#include "core/sync.h"
#include "core/timefmt.h"
#include "core/uuid.h"
#include "exact_json.h"
#include "hashmap.h"
#include "tokens.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TK_DEFAULT_PAGE 100
#define TK_MAX_PAGE 1000
#define TK_RECORDS_PATH "/v1/metering/usage-records"

typedef struct tk_record {
  char id[37];
  uint64_t seq;
  char *product, *customer, *subscription;
  char cloud[8];
  char *dimension_name;
  char *dimension_json;          /* the dimension object as last sent */
  char *quantity_json;           /* dimension.quantity as sent: 5, "5", true */
  int zero;
  int64_t hour_us, start_us, end_us, scheduled_us;
  int64_t created_us, updated_us, deleted_us;
  tk_test test;
  char method[8];                /* the method of the last write */
  char *key;                     /* the PUT key */
} tk_record;

struct sbx_tackle {
  mtr_mutex lock;
  sbx_map by_id;
  sbx_map by_key;                /* PUT key -> the newest live record */
  tk_record **order;             /* creation order (deleted ones flagged) */
  size_t count, cap;
  uint64_t next_seq;
};

/* ---- errors ------------------------------------------------------------------ */

void sbx_tackle_error(sbx_response *resp, unsigned status, const char *code, const char *error,
                      const char *error_type)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "code", code);
  cJSON_AddStringToObject(o, "error", error);
  cJSON_AddArrayToObject(o, "errors");
  if (error_type)
    cJSON_AddStringToObject(o, "error_type", error_type);
  sbx_respond_json(resp, status, o);
  cJSON_Delete(o);
}

static void invalid_fields(sbx_response *resp, const char *field, const char *message)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "code", "invalid_fields");
  cJSON_AddStringToObject(o, "error", "Validation Error");
  cJSON *errs = cJSON_AddArrayToObject(o, "errors");
  cJSON *e = cJSON_CreateObject();
  cJSON *msgs = cJSON_AddArrayToObject(e, field);
  cJSON_AddItemToArray(msgs, cJSON_CreateString(message));
  cJSON_AddItemToArray(errs, e);
  cJSON_AddStringToObject(o, "error_type", "client_exception");
  sbx_respond_json(resp, 400, o);
  cJSON_Delete(o);
}

#define TK_SCHEMA_URL "https://metering-api.tackle.io/jsonschema/metering/usage-record-requests/0/0.4.0.json/"

static void invalid_body(sbx_response *resp, const char *msg, const char *schema_path)
{
  char top[700], item[600];
  const char *field_end = strchr(msg, ':');
  int flen = field_end ? (int)(field_end - msg) : (int)strlen(msg);
  mtr_fmt(top, sizeof top, "jsonschema: '%.*s' does not validate with " TK_SCHEMA_URL "%s%s",
          flen, msg, schema_path, field_end ? field_end : "");
  mtr_fmt(item, sizeof item, "%s", msg);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "code", "invalid_body");
  cJSON_AddStringToObject(o, "error", top);
  cJSON *errs = cJSON_AddArrayToObject(o, "errors");
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "code", "invalid_body");
  cJSON_AddStringToObject(e, "error", item);
  cJSON_AddStringToObject(e, "error_type", "client_exception");
  cJSON_AddItemToArray(errs, e);
  cJSON_AddStringToObject(o, "error_type", "client_exception");
  sbx_respond_json(resp, 400, o);
  cJSON_Delete(o);
}

/* ---- store ---------------------------------------------------------------------- */

sbx_tackle *sbx_tackle_new(void)
{
  sbx_tackle *t = mtr_calloc(1, sizeof *t);
  if (t)
    mtr_mutex_init(&t->lock);
  return t;
}

static void record_free(void *p)
{
  tk_record *r = p;
  if (!r)
    return;
  mtr_free(r->product);
  mtr_free(r->customer);
  mtr_free(r->subscription);
  mtr_free(r->dimension_name);
  mtr_free(r->dimension_json);
  mtr_free(r->quantity_json);
  mtr_free(r->key);
  mtr_free(r);
}

static void clear_locked(sbx_tackle *t)
{
  sbx_map_clear(&t->by_key, NULL);
  sbx_map_clear(&t->by_id, NULL);
  for (size_t i = 0; i < t->count; i++)
    record_free(t->order[i]);
  mtr_free(t->order);
  t->order = NULL;
  t->count = t->cap = 0;
}

void sbx_tackle_reset(sbx_tackle *t)
{
  mtr_mutex_lock(&t->lock);
  clear_locked(t);
  mtr_mutex_unlock(&t->lock);
}

void sbx_tackle_free(sbx_tackle *t)
{
  if (!t)
    return;
  clear_locked(t);
  mtr_mutex_destroy(&t->lock);
  mtr_free(t);
}

static int64_t sent_at(const sbx *s, const tk_record *r)
{
  int64_t base = r->created_us;
  if (r->scheduled_us != TK_NO_TIME && r->scheduled_us > base)
    base = r->scheduled_us;
  return base + (int64_t)s->cfg.tackle_send_delay_ms * 1000;
}

/* Sent to the marketplace: a PUT can no longer change it. */
static int is_sent(const sbx *s, const tk_record *r, int64_t now)
{
  return r->test == TK_TEST_NONE && now >= sent_at(s, r);
}

static void status_of(const sbx *s, const tk_record *r, int64_t now, const char **status,
                      const char **reason)
{
  *reason = NULL;
  if (r->deleted_us != TK_NO_TIME) {
    *status = "idle";
    *reason = "deleted";
    return;
  }
  if (now < sent_at(s, r)) {
    *status = "idle";
    return;
  }
  switch (r->test) {
  case TK_TEST_REJECTED:
    *status = "rejected";
    *reason = "invalid-usage-dimension";
    break;
  case TK_TEST_NOT_OPERABLE:
    *status = "not-operable";
    *reason = "external-access-denied";
    break;
  default:
    *status = "accepted";
    break;
  }
}

static const char *test_text(tk_test t)
{
  return t == TK_TEST_ACCEPTED ? "accepted" : t == TK_TEST_REJECTED ? "rejected"
                                            : t == TK_TEST_NOT_OPERABLE ? "not-operable" : NULL;
}

/* PUT's natural key: cloud, product/customer (or subscription), dimension,
 * hour of start_time, and test-ness (test records are kept apart from real
 * usage: they are never sent). */
static char *put_key(const tk_input *in)
{
  mtr_buf k = MTR_BUF_INIT;
  int64_t hour = mtr_time_hour_floor(in->start_us);
  if (in->subscription)
    mtr_buf_printf(&k, "%s\x1fs\x1f%s", in->cloud, in->subscription);
  else
    mtr_buf_printf(&k, "%s\x1f" "c\x1f%s\x1f%s", in->cloud, in->product, in->customer);
  mtr_buf_printf(&k, "\x1f%s\x1f%lld\x1f%d", in->dimension_name, (long long)hour,
                 in->test != TK_TEST_NONE);
  return mtr_buf_detach(&k);
}

static char *print_item(const cJSON *it)
{
  char *p = sbx_json_print(it);
  char *copy = mtr_strdup(p);
  cJSON_free(p);
  return copy;
}

static int set_dimension(tk_record *r, const tk_input *in)
{
  char *d = print_item(in->dimension), *q = print_item(in->quantity);
  char *name = mtr_strdup(in->dimension_name);
  if (!d || !q || !name) {
    mtr_free(d);
    mtr_free(q);
    mtr_free(name);
    return -1;
  }
  mtr_free(r->dimension_json);
  mtr_free(r->quantity_json);
  mtr_free(r->dimension_name);
  r->dimension_json = d;
  r->quantity_json = q;
  r->dimension_name = name;
  r->zero = in->zero;
  return 0;
}

static tk_record *create_locked(sbx *s, sbx_tackle *t, const tk_input *in, char *key,
                                const char *method, int64_t now)
{
  tk_record *r = mtr_calloc(1, sizeof *r);
  if (!r) {
    mtr_free(key);
    return NULL;
  }
  sbx_new_id(s, "tackle", r->id);
  r->seq = ++t->next_seq;
  r->key = key;
  r->product = mtr_strdup(in->product);
  r->customer = mtr_strdup(in->customer);
  r->subscription = mtr_strdup(in->subscription);
  mtr_strlcpy(r->cloud, in->cloud, sizeof r->cloud);
  r->start_us = in->start_us;
  r->hour_us = mtr_time_hour_floor(in->start_us);
  r->end_us = in->end_us;
  r->scheduled_us = in->scheduled_us;
  r->created_us = r->updated_us = now;
  r->deleted_us = TK_NO_TIME;
  r->test = in->test;
  mtr_strlcpy(r->method, method, sizeof r->method);
  if (set_dimension(r, in) != 0) {
    record_free(r);
    return NULL;
  }
  if (t->count == t->cap) {
    size_t nc = t->cap ? t->cap * 2 : 256;
    tk_record **no = mtr_realloc(t->order, nc * sizeof *no);
    if (!no) {
      record_free(r);
      return NULL;
    }
    t->order = no;
    t->cap = nc;
  }
  if (sbx_map_puts(&t->by_id, r->id, r) != 0 || sbx_map_puts(&t->by_key, r->key, r) != 0) {
    sbx_map_remove(&t->by_id, r->id, strlen(r->id));
    record_free(r);
    return NULL;
  }
  t->order[t->count++] = r;
  return r;
}

/* ---- rendering -------------------------------------------------------------------- */

static void add_time(cJSON *o, const char *name, int64_t t)
{
  char buf[MTR_TIME_BUF];
  if (t == TK_NO_TIME)
    cJSON_AddNullToObject(o, name);
  else
    cJSON_AddStringToObject(o, name, mtr_time_format(t, MTR_TIME_RFC3339_MICRO, buf));
}

static void add_str_or_null(cJSON *o, const char *name, const char *v)
{
  if (v)
    cJSON_AddStringToObject(o, name, v);
  else
    cJSON_AddNullToObject(o, name);
}

static const char *host_of(const sbx_request *req)
{
  const char *h = sbx_header(req, "Host");
  return h && *h ? h : "127.0.0.1";
}

static cJSON *render(const sbx *s, const tk_record *r, int64_t now, const char *host)
{
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  const char *status, *reason;
  status_of(s, r, now, &status, &reason);
  char link[512];
  cJSON_AddStringToObject(o, "id", r->id);
  cJSON_AddStringToObject(o, "vendor_id", "SANDBOXVENDOR");
  add_str_or_null(o, "product_id", r->product);
  add_str_or_null(o, "customer_id", r->customer);
  add_str_or_null(o, "subscription_id", r->subscription);
  cJSON_AddStringToObject(o, "cloud", r->cloud);
  cJSON_AddRawToObject(o, "dimension", r->dimension_json);
  add_time(o, "start_time", r->start_us);
  add_time(o, "end_time", r->end_us);
  add_time(o, "created_at", r->created_us);
  add_time(o, "updated_at", r->updated_us);
  add_time(o, "deleted_at", r->deleted_us);
  add_time(o, "scheduled_at", r->scheduled_us);
  cJSON_AddStringToObject(o, "status", status);
  add_str_or_null(o, "reason", reason);
  add_str_or_null(o, "test", test_text(r->test));
  mtr_fmt(link, sizeof link, "http://%s" TK_RECORDS_PATH "/%s", host, r->id);
  cJSON_AddStringToObject(o, "link", link);
  return o;
}

/* {"data": ..., "metadata": {"link": ...}}: data first, as Tackle sends it.
 * The returned object holds "data" (an array, or nothing when data_array is
 * 0: the caller adds an object) before the metadata is appended by
 * add_metadata. */
static cJSON *envelope(int data_array)
{
  cJSON *o = cJSON_CreateObject();
  if (o && data_array)
    cJSON_AddArrayToObject(o, "data");
  return o;
}

static cJSON *add_metadata(cJSON *o, const char *host, const char *suffix)
{
  cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
  char link[512];
  mtr_fmt(link, sizeof link, "http://%s" TK_RECORDS_PATH "%s", host, suffix ? suffix : "");
  cJSON_AddStringToObject(meta, "link", link);
  return meta;
}

int sbx_tackle_ledger(sbx *s, cJSON *array)
{
  sbx_tackle *t = s->tackle;
  int64_t now = sbx_now(s);
  int rc = 0;
  mtr_mutex_lock(&t->lock);
  for (size_t i = 0; i < t->count && rc == 0; i++) {
    const tk_record *r = t->order[i];
    if (r->deleted_us != TK_NO_TIME)
      continue;
    cJSON *e = cJSON_CreateObject();
    if (!e) {
      rc = -1;
      break;
    }
    const char *status, *reason;
    status_of(s, r, now, &status, &reason);
    char hour[MTR_TIME_BUF];
    cJSON_AddStringToObject(e, "id", r->id);
    add_str_or_null(e, "product", r->product);
    add_str_or_null(e, "customer", r->customer);
    add_str_or_null(e, "subscription", r->subscription);
    cJSON_AddStringToObject(e, "cloud", r->cloud);
    cJSON_AddStringToObject(e, "dimension", r->dimension_name);
    cJSON_AddStringToObject(e, "hour", mtr_time_format(r->hour_us, MTR_TIME_RFC3339, hour));
    cJSON_AddRawToObject(e, "quantity", r->quantity_json);
    cJSON_AddStringToObject(e, "method", r->method);
    cJSON_AddStringToObject(e, "status", status);
    add_str_or_null(e, "test", test_text(r->test));
    cJSON_AddItemToArray(array, e);
  }
  mtr_mutex_unlock(&t->lock);
  return rc;
}

/* ---- authentication ------------------------------------------------------------------ */

static void authenticate(sbx *s, const sbx_request *req, sbx_response *resp)
{
  cJSON *body = sbx_json_parse(req->body, req->body_len, NULL);
  if (!cJSON_IsObject(body)) {
    cJSON_Delete(body);
    invalid_fields(resp, "_schema", "Invalid input type.");
    return;
  }
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "client_id");
  const cJSON *secret = cJSON_GetObjectItemCaseSensitive(body, "client_secret");
  const cJSON *grant = cJSON_GetObjectItemCaseSensitive(body, "grant_type");
  const char *bad_field = NULL, *bad_msg = NULL;
  if (!id)
    bad_field = "client_id", bad_msg = "Missing data for required field.";
  else if (!secret)
    bad_field = "client_secret", bad_msg = "Missing data for required field.";
  else if (!sbx_json_is_string(id))
    bad_field = "client_id", bad_msg = "Not a valid string.";
  else if (!sbx_json_is_string(secret))
    bad_field = "client_secret", bad_msg = "Not a valid string.";
  else if (grant && !(sbx_json_is_string(grant) &&
                      strcmp(grant->valuestring, "client_credentials") == 0))
    bad_field = "grant_type", bad_msg = "Must be one of: client_credentials.";
  if (bad_field) {
    if (!id && !secret) { /* both missing: name both, as marshmallow does */
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "code", "invalid_fields");
      cJSON_AddStringToObject(o, "error", "Validation Error");
      cJSON *errs = cJSON_AddArrayToObject(o, "errors");
      cJSON *e = cJSON_CreateObject();
      cJSON_AddItemToArray(cJSON_AddArrayToObject(e, "client_id"),
                           cJSON_CreateString("Missing data for required field."));
      cJSON_AddItemToArray(cJSON_AddArrayToObject(e, "client_secret"),
                           cJSON_CreateString("Missing data for required field."));
      cJSON_AddItemToArray(errs, e);
      cJSON_AddStringToObject(o, "error_type", "client_exception");
      sbx_respond_json(resp, 400, o);
      cJSON_Delete(o);
    } else {
      invalid_fields(resp, bad_field, bad_msg);
    }
    cJSON_Delete(body);
    return;
  }
  int ok = strcmp(id->valuestring, s->cfg.tackle_id) == 0 &&
           strcmp(secret->valuestring, s->cfg.tackle_secret) == 0;
  cJSON_Delete(body);
  if (!ok) {
    sbx_tackle_error(resp, 403, "invalid_credentials", "Invalid client_id or client_secret",
                     "client_exception");
    return;
  }
  char token[128];
  if (sbx_tokens_issue(s, s->tackle_tokens, "sbx-tackle.", s->cfg.tackle_token_ttl_s, "",
                       token, sizeof token) != 0) {
    sbx_tackle_error(resp, 500, "internal_server_error", "out of memory", "service_exception");
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "access_token", token);
  cJSON_AddStringToObject(o, "token_type", "bearer");
  cJSON_AddNumberToObject(o, "expires_in", (double)s->cfg.tackle_token_ttl_s);
  sbx_respond_json(resp, 200, o);
  cJSON_Delete(o);
}

/* 0 when the bearer token is valid; otherwise resp holds the 401. */
static int authorize(sbx *s, const sbx_request *req, sbx_response *resp)
{
  const char *h = sbx_header(req, "Authorization");
  if (!h || !*h) {
    sbx_tackle_error(resp, 401, "authorization_header_missing", "Authorization header is expected",
                     "service_exception");
    return -1;
  }
  if (strncasecmp(h, "Bearer ", 7) != 0 || !h[7]) {
    sbx_tackle_error(resp, 401, "invalid_header", "Authorization header must start with Bearer",
                     "service_exception");
    return -1;
  }
  switch (sbx_tokens_check(s->tackle_tokens, h + 7, req->now_us, NULL, 0)) {
  case SBX_TOKEN_VALID:
    return 0;
  case SBX_TOKEN_EXPIRED:
    sbx_tackle_error(resp, 401, "mtm_token_expired", "Token expired", NULL);
    return -1;
  default:
    sbx_tackle_error(resp, 401, "invalid_token",
                     "Unable to validate authentication token. This token has no vendor "
                     "associated with it.",
                     "service_exception");
    return -1;
  }
}

/* ---- PUT / POST ------------------------------------------------------------------------ */

static int unknown_customer(const tk_input *in)
{
  return (in->customer && strncmp(in->customer, "unknown-", 8) == 0) ||
         (in->subscription && strncmp(in->subscription, "unknown-", 8) == 0);
}

static void create_records(sbx *s, const sbx_request *req, sbx_response *resp, int put)
{
  size_t err_at;
  cJSON *body = sbx_json_parse(req->body, req->body_len, &err_at);
  if (!body) {
    char msg[128];
    mtr_fmt(msg, sizeof msg, "/: request body is not valid JSON (near byte %zu)", err_at);
    invalid_body(resp, msg, "usage-record-requests#");
    return;
  }
  tk_input *ins = NULL;
  size_t n = 0;
  char msg[400], schema[300];
  if (tk_validate(body, &ins, &n, msg, sizeof msg, schema, sizeof schema) != 0) {
    invalid_body(resp, msg, schema);
    cJSON_Delete(body);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (unknown_customer(&ins[i])) {
      sbx_tackle_error(resp, 404, "not_found", "unable to find order or subscription",
                       "service_exception");
      mtr_free(ins);
      cJSON_Delete(body);
      return;
    }
  }
  char **keys = mtr_calloc(n, sizeof *keys);
  for (size_t i = 0; keys && i < n; i++)
    if (!(keys[i] = put_key(&ins[i])))
      break;
  const char *host = host_of(req);
  sbx_tackle *t = s->tackle;
  int64_t now = req->now_us;
  cJSON *out = envelope(1);
  cJSON *data = cJSON_GetObjectItemCaseSensitive(out, "data");
  int failed = !keys || !keys[n - 1] || !data;

  mtr_mutex_lock(&t->lock);
  /* All or nothing: a PUT touching a record already sent changes nothing. */
  for (size_t i = 0; put && !failed && i < n; i++) {
    const tk_record *r = sbx_map_gets(&t->by_key, keys[i]);
    if (r && is_sent(s, r, now)) {
      char err[600];
      if (r->subscription)
        mtr_fmt(err, sizeof err,
                "a usage record has already been processed for the following request: "
                "subscription=%s, dimension=%s",
                r->subscription, r->dimension_name);
      else
        mtr_fmt(err, sizeof err,
                "a usage record has already been processed for the following request: "
                "product=%s, customer=%s, dimension=%s",
                r->product, r->customer, r->dimension_name);
      mtr_mutex_unlock(&t->lock);
      sbx_tackle_error(resp, 409, "conflict", err, "service_exception");
      goto done;
    }
  }
  for (size_t i = 0; !failed && i < n; i++) {
    tk_record *r = put ? sbx_map_gets(&t->by_key, keys[i]) : NULL;
    if (r) { /* update the quantity in place */
      if (set_dimension(r, &ins[i]) != 0) {
        failed = 1;
        break;
      }
      r->updated_us = now;
      if (ins[i].scheduled_us != TK_NO_TIME)
        r->scheduled_us = ins[i].scheduled_us;
      mtr_strlcpy(r->method, "PUT", sizeof r->method);
    } else {
      r = create_locked(s, t, &ins[i], keys[i], put ? "PUT" : "POST", now);
      keys[i] = NULL; /* owned by the record (or freed) */
      if (!r) {
        failed = 1;
        break;
      }
    }
    cJSON_AddItemToArray(data, render(s, r, now, host));
  }
  mtr_mutex_unlock(&t->lock);
  if (failed) {
    sbx_tackle_error(resp, 500, "internal_server_error", "out of memory", "service_exception");
  } else {
    add_metadata(out, host, NULL);
    sbx_respond_json(resp, 200, out);
  }
done:
  for (size_t i = 0; keys && i < n; i++)
    mtr_free(keys[i]);
  mtr_free(keys);
  cJSON_Delete(out);
  mtr_free(ins);
  cJSON_Delete(body);
}

/* ---- list ------------------------------------------------------------------------------ */

#define TK_MAX_FILTER 32

typedef struct list_filter {
  const char *products[TK_MAX_FILTER], *customers[TK_MAX_FILTER];
  const char *dimensions[TK_MAX_FILTER], *subscriptions[TK_MAX_FILTER];
  size_t np, nc, nd, ns;
  const char *quantity;
  int64_t start_after, start_before, scheduled_after, scheduled_before;
  int include_zeros, include_tests;
} list_filter;

static int in_list(const char *v, const char *const *list, size_t n)
{
  if (n == 0)
    return 1;
  for (size_t i = 0; i < n; i++)
    if (v && strcmp(v, list[i]) == 0)
      return 1;
  return 0;
}

static int same_quantity(const char *record_json, const char *wanted)
{
  const char *q = record_json;
  size_t qlen = strlen(q);
  if (qlen >= 2 && q[0] == '"') { /* a string quantity (gcp) */
    q++;
    qlen -= 2;
  }
  char a[80], b[80];
  if (mtr_decimal_canon(q, qlen, a, sizeof a, NULL) == 0 &&
      mtr_decimal_canon(wanted, strlen(wanted), b, sizeof b, NULL) == 0)
    return strcmp(a, b) == 0;
  return strlen(wanted) == qlen && strncmp(q, wanted, qlen) == 0;
}

static int matches(const list_filter *f, const tk_record *r)
{
  if (r->deleted_us != TK_NO_TIME)
    return 0;
  if (!f->include_zeros && r->zero)
    return 0;
  if (!f->include_tests && r->test != TK_TEST_NONE)
    return 0;
  if (!in_list(r->product, f->products, f->np) || !in_list(r->customer, f->customers, f->nc) ||
      !in_list(r->dimension_name, f->dimensions, f->nd) ||
      !in_list(r->subscription, f->subscriptions, f->ns))
    return 0;
  if (f->quantity && !same_quantity(r->quantity_json, f->quantity))
    return 0;
  if (f->start_after != TK_NO_TIME && !(r->start_us > f->start_after))
    return 0;
  if (f->start_before != TK_NO_TIME && !(r->start_us < f->start_before))
    return 0;
  if (f->scheduled_after != TK_NO_TIME &&
      (r->scheduled_us == TK_NO_TIME || !(r->scheduled_us > f->scheduled_after)))
    return 0;
  if (f->scheduled_before != TK_NO_TIME &&
      (r->scheduled_us == TK_NO_TIME || !(r->scheduled_us < f->scheduled_before)))
    return 0;
  return 1;
}

static int parse_bool(const char *v, int def, int *out)
{
  if (!v) {
    *out = def;
    return 0;
  }
  if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0)
    *out = 1;
  else if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0)
    *out = 0;
  else
    return -1;
  return 0;
}

static int parse_filter_time(const char *v, int64_t *out)
{
  *out = TK_NO_TIME;
  return !v || !*v ? 0 : mtr_time_parse(v, out);
}

static void list_records(sbx *s, const sbx_request *req, sbx_response *resp)
{
  list_filter f;
  memset(&f, 0, sizeof f);
  f.np = sbx_query_all(req, "product_id", f.products, TK_MAX_FILTER);
  f.nc = sbx_query_all(req, "customer_id", f.customers, TK_MAX_FILTER);
  f.nd = sbx_query_all(req, "dimension", f.dimensions, TK_MAX_FILTER);
  f.ns = sbx_query_all(req, "subscription_id", f.subscriptions, TK_MAX_FILTER);
  if (f.np > TK_MAX_FILTER || f.nc > TK_MAX_FILTER || f.nd > TK_MAX_FILTER ||
      f.ns > TK_MAX_FILTER) {
    invalid_fields(resp, "product_id", "At most 32 values per filter.");
    return;
  }
  f.quantity = sbx_query(req, "quantity");
  if (f.quantity && !*f.quantity)
    f.quantity = NULL;
  static const char *const times[4] = { "start_after", "start_before", "scheduled_after",
                                        "scheduled_before" };
  int64_t *tv[4] = { &f.start_after, &f.start_before, &f.scheduled_after, &f.scheduled_before };
  for (int i = 0; i < 4; i++) {
    if (parse_filter_time(sbx_query(req, times[i]), tv[i]) != 0) {
      invalid_fields(resp, times[i], "Not a valid datetime.");
      return;
    }
  }
  if (parse_bool(sbx_query(req, "include_zeros"), 0, &f.include_zeros) != 0) {
    invalid_fields(resp, "include_zeros", "Not a valid boolean.");
    return;
  }
  if (parse_bool(sbx_query(req, "include_tests"), 1, &f.include_tests) != 0) {
    invalid_fields(resp, "include_tests", "Not a valid boolean.");
    return;
  }
  long size = TK_DEFAULT_PAGE;
  const char *sz = sbx_query(req, "size");
  if (sz && *sz) {
    char *end;
    size = strtol(sz, &end, 10);
    if (*end || size < 1 || size > TK_MAX_PAGE) {
      invalid_fields(resp, "size", "Must be an integer between 1 and 1000.");
      return;
    }
  }
  uint64_t from = 0;
  const char *page = sbx_query(req, "page");
  if (page && *page) {
    char *end;
    if (strncmp(page, "sbx-", 4) != 0 || !page[4] ||
        ((from = strtoull(page + 4, &end, 16)), *end)) {
      invalid_fields(resp, "page", "Not a valid page token.");
      return;
    }
  }

  const char *host = host_of(req);
  cJSON *out = envelope(1);
  cJSON *data = cJSON_GetObjectItemCaseSensitive(out, "data");
  sbx_tackle *t = s->tackle;
  uint64_t next = 0;
  long taken = 0;
  mtr_mutex_lock(&t->lock);
  /* records are in seq order: binary search the page start */
  size_t lo = 0, hi = t->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (t->order[mid]->seq < from)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t i = lo; i < t->count; i++) {
    const tk_record *r = t->order[i];
    if (!matches(&f, r))
      continue;
    if (taken == size) {
      next = r->seq;
      break;
    }
    cJSON_AddItemToArray(data, render(s, r, req->now_us, host));
    taken++;
  }
  mtr_mutex_unlock(&t->lock);
  cJSON *meta = add_metadata(out, host, NULL);
  if (next) {
    char tok[40];
    mtr_fmt(tok, sizeof tok, "sbx-%llx", (unsigned long long)next);
    cJSON_AddStringToObject(meta, "next_page_token", tok);
    cJSON_AddStringToObject(meta, "nextPageToken", tok);
  } else {
    cJSON_AddNullToObject(meta, "next_page_token");
    cJSON_AddNullToObject(meta, "nextPageToken");
  }
  sbx_respond_json(resp, 200, out);
  cJSON_Delete(out);
}

/* ---- get / delete one -------------------------------------------------------------------- */

static void one_record(sbx *s, const sbx_request *req, sbx_response *resp, int del)
{
  const char *id = req->path + strlen(TK_RECORDS_PATH "/");
  if (!mtr_uuid_valid(id)) {
    invalid_fields(resp, "usage_record_id", "Not a valid UUID.");
    return;
  }
  char lower[37];
  for (int i = 0; i < 37; i++)
    lower[i] = (char)((id[i] >= 'A' && id[i] <= 'F') ? id[i] + 32 : id[i]);
  const char *host = host_of(req);
  sbx_tackle *t = s->tackle;
  cJSON *out = NULL;
  mtr_mutex_lock(&t->lock);
  tk_record *r = sbx_map_gets(&t->by_id, lower);
  if (r && r->deleted_us != TK_NO_TIME)
    r = NULL;
  if (r && del && is_sent(s, r, req->now_us)) {
    char err[300];
    mtr_fmt(err, sizeof err,
            "usage record %s has already been sent to the marketplace and cannot be deleted",
            r->id);
    mtr_mutex_unlock(&t->lock);
    sbx_tackle_error(resp, 409, "conflict", err, "service_exception");
    return;
  }
  if (r) {
    char suffix[64];
    mtr_fmt(suffix, sizeof suffix, "/%s", r->id);
    out = envelope(!del);
    if (del) {
      r->deleted_us = req->now_us;
      r->updated_us = req->now_us;
      if (sbx_map_gets(&t->by_key, r->key) == r)
        sbx_map_remove(&t->by_key, r->key, strlen(r->key));
      cJSON_AddItemToObject(out, "data", render(s, r, req->now_us, host));
    } else {
      cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(out, "data"),
                           render(s, r, req->now_us, host));
    }
    add_metadata(out, host, del ? suffix : NULL);
  }
  mtr_mutex_unlock(&t->lock);
  if (!out) {
    char err[100];
    mtr_fmt(err, sizeof err, "Unable to locate resource %s", id);
    sbx_tackle_error(resp, 404, "not_found", err, "service_exception");
    return;
  }
  sbx_respond_json(resp, 200, out);
  cJSON_Delete(out);
}

void sbx_tackle_handle(sbx *s, const sbx_request *req, sbx_response *resp)
{
  if (req->route == SBX_TACKLE_AUTH) {
    authenticate(s, req, resp);
    return;
  }
  if (authorize(s, req, resp) != 0)
    return;
  switch (req->route) {
  case SBX_TACKLE_PUT:
    create_records(s, req, resp, 1);
    break;
  case SBX_TACKLE_POST:
    create_records(s, req, resp, 0);
    break;
  case SBX_TACKLE_LIST:
    list_records(s, req, resp);
    break;
  case SBX_TACKLE_GET:
    one_record(s, req, resp, 0);
    break;
  case SBX_TACKLE_DELETE:
    one_record(s, req, resp, 1);
    break;
  default:
    sbx_tackle_error(resp, 404, "not_found", "no such route", "client_exception");
    break;
  }
}
