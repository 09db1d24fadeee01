/*
 * Creating usage records: PUT (create or update the hour; idempotent) or
 * POST (always create; not idempotent) through mtr_exchange, and what each
 * answer means for each record.
 *
 * A batch is delivered in rounds. A round is one exchange (with its retries)
 * over the records still pending. Answers that concern only some records of
 * a request are settled for those, and the others go into the next round:
 *   - 400 invalid_body pointing at record k: k is rejected, the rest resent;
 *   - 409 naming product/customer/dimension: those conflict, the rest resent;
 *   - an error that names no record (404 not_found, other 400s): the records
 *     are resent one per request, so the answer belongs to one record.
 * Tackle validates a request before it stores anything, so resending the
 * records of a refused request is safe for POST too.
 *
 * POST after a failure that may have been applied (the connection dropped
 * after sending, a timeout, HTTP 500/502/504): the request is not resent
 * blindly. The list endpoint is asked whether the record exists (same
 * product/customer/dimension, exact start_time and quantity, created since
 * shortly before our first attempt); found: DUPLICATE (delivered, with
 * Tackle's id), not found: resent in the next round; the check failing: the
 * record is FAILED and says so. PUT after such a failure is simply resent;
 * if that resend meets a 409 (Tackle sent the hour meanwhile), the same
 * check tells "our first attempt was applied" (DUPLICATE) from a real
 * conflict.
 */
#include "tackle_internal.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <stdio.h>
#include <string.h>

/* How far before our first attempt a found record may have been created
 * and still count as ours (clock skew between us and Tackle). */
#define TK_RECONCILE_SKEW_US (300 * MTR_US_PER_SEC)
/* A record is checked and resent at most this many times. */
#define TK_MAX_RECONCILE 3
/* Pages read per check (100 records each). */
#define TK_RECONCILE_PAGES 20

typedef enum rec_state {
  ST_PENDING,     /* to send in the next round */
  ST_DONE,        /* has its final outcome */
  ST_AMBIGUOUS,   /* POST may have been applied: check before resending */
  ST_CHECK_409,   /* PUT 409 after a possibly applied attempt: ours or a conflict? */
  ST_RESEND       /* not settled by this request: resend */
} rec_state;

typedef struct tk_send {
  tk_backend *be;
  const mtr_batch *batch;
  tk_method method;
  const char *what;           /* "Tackle PUT usage-records" */
  rec_state *state;
  unsigned *sent;             /* requests that carried record i */
  unsigned *checks;           /* reconciliations of record i */
  size_t *active;             /* the records of this round's requests */
  size_t nactive;
  int split;                  /* one record per request from now on */
  tk_auth_state auth;
  int maybe_applied;          /* an attempt of this round may have been applied */
  int64_t first_sent_us;      /* wall clock of the batch's first request */
  char **claimed;             /* Tackle ids already matched to a record */
  size_t nclaimed;
} tk_send;

static mtr_result *res_of(tk_send *s, size_t i)
{
  return s->batch->results[i];
}

static const meter_record *rec_of(tk_send *s, size_t i)
{
  return s->batch->records[i];
}

/* Final outcome for record i. */
static void settle(tk_send *s, size_t i, long http, meter_outcome o, const char *code,
                   const char *fmt, ...) MTR_PRINTF(6, 7);
static void settle(tk_send *s, size_t i, long http, meter_outcome o, const char *code,
                   const char *fmt, ...)
{
  char msg[METER_ERROR_MESSAGE_SIZE * 2];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  mtr_result *r = res_of(s, i);
  mtr_result_set(r, o, code, "%s", msg);
  r->http_status = (int)http;
  r->attempts = s->sent[i];
  s->state[i] = ST_DONE;
}

static void delivered(tk_send *s, size_t i, long http, const meter_tackle_record *got,
                      meter_outcome o, const char *note)
{
  mtr_result *r = res_of(s, i);
  const char *status = got ? got->s[METER_TACKLE_STATUS] : NULL;
  const char *reason = got ? got->s[METER_TACKLE_REASON] : NULL;
  /* A status Tackle already knows to be final and negative (test records
   * with test=rejected or not-operable are answered that way). */
  if (status && (strcmp(status, "rejected") == 0 || strcmp(status, "not-operable") == 0)) {
    settle(s, i, http, METER_OUTCOME_REJECTED, reason ? reason : status,
           "Tackle stored the record with status %s%s%s%s", status, reason ? " (" : "",
           reason ? reason : "", reason ? ")" : "");
    mtr_result_str(&r->record_id, got->s[METER_TACKLE_ID]);
    mtr_result_str(&r->status, status);
    return;
  }
  mtr_result_delivered(r, o, got ? got->s[METER_TACKLE_ID] : NULL, status);
  if (note)
    mtr_result_str(&r->message, note);
  r->http_status = (int)http;
  r->attempts = s->sent[i];
  s->state[i] = ST_DONE;
}

/* ---- the exchange ---------------------------------------------------- */

static int send_build(void *p, mtr_http_request *req, unsigned attempt, meter_error *err)
{
  (void)attempt;
  tk_send *s = p;
  req->method = s->method == TK_PUT ? "PUT" : "POST";
  req->not_idempotent = s->method == TK_POST;
  mtr_buf_printf(&req->url, "%s%s", s->be->endpoint, TK_RECORDS_PATH);
  int rc = tk_encode_records(s->batch->records, s->active, s->nactive, &req->body);
  if (rc == METER_OK)
    rc = tk_set_json_headers(req, 1);
  if (rc == METER_OK && mtr_buf_status(&req->url))
    rc = METER_ENOMEM;
  if (rc != METER_OK)
    return mtr_error_set(err, rc, "%s: %s", s->what, meter_strerror(rc));
  if ((rc = tk_auth_apply(s->be, req, &s->auth, err)) != METER_OK)
    return rc;
  for (size_t k = 0; k < s->nactive; k++)
    s->sent[s->active[k]]++;
  if (!s->first_sent_us)
    s->first_sent_us = mtr_now_us(s->be->base.env->hooks);
  return METER_OK;
}

/* Matches the `data` of a 200 to the request's records: by position when the
 * array is complete and each entry agrees with its record, else by
 * product/customer/dimension/start hour. */
static void map_created(tk_send *s, const mtr_http_response *resp)
{
  meter_error perr;
  cJSON *root = resp->body.len ? mtr_json_parse(resp->body.ptr, resp->body.len,
                                                "Tackle usage-records answer", &perr)
                               : NULL;
  cJSON *data = root ? cJSON_GetObjectItemCaseSensitive(root, "data") : NULL;
  size_t n = cJSON_IsArray(data) ? (size_t)cJSON_GetArraySize(data) : cJSON_IsObject(data) ? 1 : 0;
  meter_tackle_record *got = n ? mtr_calloc(n, sizeof *got) : NULL;
  int *used = n ? mtr_calloc(n, sizeof *used) : NULL;
  size_t parsed = 0;
  if (got && used) {
    for (size_t j = 0; j < n; j++) {
      const cJSON *item = cJSON_IsArray(data) ? cJSON_GetArrayItem(data, (int)j) : data;
      if (tk_record_from_json(&got[j], item) != METER_OK)
        got[j].start_us = -1;
      parsed++;
    }
  }
  if (n && !parsed)
    n = 0; /* out of memory: deliver without ids */
  int *done = mtr_calloc(s->nactive ? s->nactive : 1, sizeof *done);
  if (n == s->nactive && done) {
    for (size_t k = 0; k < s->nactive; k++)
      if (tk_record_matches(&got[k], rec_of(s, s->active[k]))) {
        delivered(s, s->active[k], resp->status, &got[k], METER_OUTCOME_ACCEPTED, NULL);
        used[k] = done[k] = 1;
      }
  }
  for (size_t k = 0; k < s->nactive; k++) {
    if (done && done[k])
      continue;
    size_t i = s->active[k];
    size_t j = 0;
    while (j < n && (used[j] || !tk_record_matches(&got[j], rec_of(s, i))))
      j++;
    if (j < n) {
      used[j] = 1;
      delivered(s, i, resp->status, &got[j], METER_OUTCOME_ACCEPTED, NULL);
    } else {
      /* HTTP 200: Tackle took the request; it just did not say which
       * record is this one. */
      delivered(s, i, resp->status, NULL, METER_OUTCOME_ACCEPTED,
                "Tackle answered 200 but returned no usage record matching this one "
                "(no record id)");
      MTR_WARN(s->be->base.log, "%s: HTTP %ld without a usage record for record %zu", s->what,
               resp->status, i);
    }
  }
  for (size_t j = 0; got && j < n; j++)
    tk_record_clear(&got[j]);
  mtr_free(got);
  mtr_free(used);
  mtr_free(done);
  cJSON_Delete(root);
}

static void resend_all(tk_send *s, int split)
{
  for (size_t k = 0; k < s->nactive; k++)
    s->state[s->active[k]] = ST_RESEND;
  if (split)
    s->split = 1;
}

static void reject(tk_send *s, size_t i, long http, const tk_error_info *e, const char *fmt, ...)
  MTR_PRINTF(5, 6);
static void reject(tk_send *s, size_t i, long http, const tk_error_info *e, const char *fmt, ...)
{
  char what[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  settle(s, i, http, METER_OUTCOME_REJECTED, e->code[0] ? e->code : NULL, "%s%s%s", what,
         e->message[0] ? ": " : "", e->message);
}

static void on_invalid_body(tk_send *s, long http, const tk_error_info *e)
{
  tk_body_error be;
  int known = strcmp(e->code, "invalid_body") == 0 && tk_parse_invalid_body(e->message, &be) == 0;
  long k = -1;
  if (known && be.index >= 0 && (size_t)be.index < s->nactive)
    k = be.index;
  else if (s->nactive == 1)
    k = 0;
  if (k < 0) {
    /* Which record? Ask one at a time. */
    resend_all(s, 1);
    return;
  }
  size_t i = s->active[k];
  if (known) {
    settle(s, i, http, METER_OUTCOME_REJECTED, e->code, "Tackle rejected %s: %s",
           be.path[0] ? be.path : "the record", be.rule[0] ? be.rule : e->message);
    if (be.field)
      mtr_result_str(&res_of(s, i)->field, meter_field_name(be.field));
  } else {
    reject(s, i, http, e, "Tackle refused the record (HTTP %ld %s)", http,
           e->code[0] ? e->code : "bad request");
  }
  /* The request was refused as a whole: the others were not stored. */
  for (size_t j = 0; j < s->nactive; j++)
    if ((long)j != k)
      s->state[s->active[j]] = ST_RESEND;
}

static int same_key(const tk_conflict_key *c, const meter_record *r)
{
  const char *p = mtr_rec(r, METER_FIELD_PRODUCT), *cu = mtr_rec(r, METER_FIELD_CUSTOMER);
  const char *sub = mtr_rec(r, METER_FIELD_SUBSCRIPTION_ID);
  if (strcmp(c->dimension, mtr_rec(r, METER_FIELD_DIMENSION)) != 0)
    return 0;
  if (c->subscription[0])
    return sub && strcmp(c->subscription, sub) == 0;
  return p && cu && strcmp(c->product, p) == 0 && strcmp(c->customer, cu) == 0;
}

static void conflict(tk_send *s, size_t i, long http, const tk_error_info *e)
{
  if (s->maybe_applied) {
    /* Our own earlier attempt may be what Tackle already sent. */
    s->state[i] = ST_CHECK_409;
    res_of(s, i)->http_status = (int)http;
    return;
  }
  settle(s, i, http, METER_OUTCOME_CONFLICT, "conflict",
         "already sent to the marketplace: Tackle keeps what it sent for this hour and did "
         "not apply this update%s%s%s",
         e->message[0] ? " (" : "", e->message, e->message[0] ? ")" : "");
}

static void on_conflict(tk_send *s, long http, const tk_error_info *e)
{
  if (s->nactive == 1) {
    conflict(s, s->active[0], http, e);
    return;
  }
  tk_conflict_key key;
  size_t hits = 0;
  if (tk_parse_conflict(e->message, &key) == 0) {
    for (size_t k = 0; k < s->nactive; k++)
      if (same_key(&key, rec_of(s, s->active[k]))) {
        conflict(s, s->active[k], http, e);
        hits++;
      }
  }
  for (size_t k = 0; k < s->nactive; k++)
    if (s->state[s->active[k]] == ST_PENDING)
      s->state[s->active[k]] = ST_RESEND;
  if (!hits)
    s->split = 1;
}

static void fail_active(tk_send *s, long http, const char *msg)
{
  for (size_t k = 0; k < s->nactive; k++)
    settle(s, s->active[k], http, METER_OUTCOME_FAILED, NULL, "%s", msg);
}

static mtr_verdict send_handle(void *p, const mtr_http_response *resp, meter_error *err)
{
  tk_send *s = p;
  long st = resp->status;
  mtr_verdict v = mtr_classify_http_status(st);
  if (v != MTR_DONE) {
    if (s->method == TK_POST && (st == 500 || st == 502 || st == 504)) {
      /* The server may have stored the records before failing. */
      for (size_t k = 0; k < s->nactive; k++) {
        s->state[s->active[k]] = ST_AMBIGUOUS;
        res_of(s, s->active[k])->http_status = (int)st;
      }
      return MTR_DONE;
    }
    return v;
  }
  if (st >= 200 && st < 300) {
    map_created(s, resp);
    return MTR_DONE;
  }
  tk_error_info e;
  tk_error_parse(resp, &e);
  switch (st) {
  case 401: {
    mtr_verdict a = tk_auth_refused(s->be, &s->auth, resp, s->what, err);
    if (a == MTR_DONE)
      fail_active(s, st, err->message);
    return a;
  }
  case 403:
    mtr_error_set(err, METER_EAUTH, "%s: Tackle denied access (HTTP 403 %s%s%s)", s->what,
                  e.code[0] ? e.code : "forbidden", e.message[0] ? ": " : "", e.message);
    fail_active(s, st, err->message);
    return MTR_DONE;
  case 409:
    on_conflict(s, st, &e);
    return MTR_DONE;
  case 400:
    on_invalid_body(s, st, &e);
    return MTR_DONE;
  case 404:
  case 413:
  case 422:
    if (s->nactive > 1) {
      resend_all(s, 1);
      return MTR_DONE;
    }
    if (st == 404) {
      const meter_record *r = rec_of(s, s->active[0]);
      const char *sub = mtr_rec(r, METER_FIELD_SUBSCRIPTION_ID);
      if (sub)
        reject(s, s->active[0], st, &e, "Tackle found no subscription %s (HTTP 404 %s)", sub,
               e.code[0] ? e.code : "not found");
      else
        reject(s, s->active[0], st, &e,
               "Tackle found no order for product %s and customer %s (HTTP 404 %s)",
               mtr_rec(r, METER_FIELD_PRODUCT), mtr_rec(r, METER_FIELD_CUSTOMER),
               e.code[0] ? e.code : "not found");
    } else {
      reject(s, s->active[0], st, &e, "Tackle refused the record (HTTP %ld %s)", st,
             e.code[0] ? e.code : "error");
    }
    return MTR_DONE;
  default:
    break;
  }
  if (st >= 400 && st < 500) {
    if (s->nactive > 1) {
      resend_all(s, 1);
      return MTR_DONE;
    }
    reject(s, s->active[0], st, &e, "Tackle refused the record (HTTP %ld %s)", st,
           e.code[0] ? e.code : "error");
    return MTR_DONE;
  }
  mtr_error_set(err, METER_EPROTOCOL, "%s: unexpected HTTP %ld from Tackle", s->what, st);
  fail_active(s, st, err->message);
  return MTR_DONE;
}

static void send_give_up(void *p, int status, const char *why, const mtr_http_response *last)
{
  (void)status;
  tk_send *s = p;
  int ambiguous = s->method == TK_POST && last && last->net_error != MTR_NET_OK && last->maybe_sent;
  for (size_t k = 0; k < s->nactive; k++) {
    size_t i = s->active[k];
    settle(s, i, last ? last->status : 0, METER_OUTCOME_FAILED, NULL, "%s", why);
    if (ambiguous)
      s->state[i] = ST_AMBIGUOUS;
  }
}

/* PUT: a resend after a lost answer is harmless; remember that it happened
 * (a later 409 may be our own first attempt). POST: never resend blindly. */
static int send_retry_ambiguous(void *p, const mtr_http_response *resp)
{
  (void)resp;
  tk_send *s = p;
  s->maybe_applied = 1;
  return s->method == TK_PUT;
}

/* ---- reconciliation ----------------------------------------------------- */

static int claimed(tk_send *s, const char *id)
{
  for (size_t i = 0; i < s->nclaimed; i++)
    if (strcmp(s->claimed[i], id) == 0)
      return 1;
  return 0;
}

static int same_quantity(const meter_tackle_record *got, const meter_record *rec)
{
  const char *q = got->s[METER_TACKLE_QUANTITY];
  return q && strcmp(q, mtr_rec(rec, METER_FIELD_QUANTITY)) == 0;
}

static int same_test(const meter_tackle_record *got, const meter_record *rec)
{
  const char *a = got->s[METER_TACKLE_TEST], *b = mtr_rec(rec, METER_FIELD_TEST);
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Is this listed record the one record i's lost request created? */
static int is_ours(tk_send *s, size_t i, const meter_tackle_record *got)
{
  const meter_record *rec = rec_of(s, i);
  if (!got->s[METER_TACKLE_ID] || claimed(s, got->s[METER_TACKLE_ID]) ||
      !tk_record_matches(got, rec) || !same_quantity(got, rec) || !same_test(got, rec))
    return 0;
  if (s->state[i] == ST_CHECK_409)
    return 1; /* PUT: one record per hour; same quantity is what we sent */
  /* POST: duplicates are allowed, so also the exact time, and created since
   * just before we first sent (an older twin is not ours). */
  int64_t d = got->start_us - rec->time_us;
  if (d < -1000 || d > 1000)
    return 0;
  int64_t created;
  const char *c = got->s[METER_TACKLE_CREATED_AT];
  if (c && mtr_time_parse(c, &created) == 0 && created < s->first_sent_us - TK_RECONCILE_SKEW_US)
    return 0;
  return 1;
}

/* Lists the hour of record i; *found receives a copy of its match. */
static int find_record(tk_send *s, size_t i, meter_tackle_record *found, int *hit, meter_error *err)
{
  const meter_record *rec = rec_of(s, i);
  char after[MTR_TIME_BUF], before[MTR_TIME_BUF];
  int64_t hour = mtr_time_hour_floor(rec->time_us);
  mtr_time_format(hour - MTR_US_PER_SEC, MTR_TIME_RFC3339, after);
  mtr_time_format(hour + MTR_US_PER_HOUR, MTR_TIME_RFC3339, before);
  const char *product = mtr_rec(rec, METER_FIELD_PRODUCT);
  const char *customer = mtr_rec(rec, METER_FIELD_CUSTOMER);
  const char *sub = mtr_rec(rec, METER_FIELD_SUBSCRIPTION_ID);
  const char *dim = mtr_rec(rec, METER_FIELD_DIMENSION);
  meter_tackle_list_options o = METER_TACKLE_LIST_OPTIONS_INIT;
  if (sub) {
    o.subscription_ids = &sub;
    o.subscription_id_count = 1;
  } else {
    o.product_ids = &product;
    o.product_id_count = 1;
    o.customer_ids = &customer;
    o.customer_id_count = 1;
  }
  o.dimensions = &dim;
  o.dimension_count = 1;
  o.start_after = after;
  o.start_before = before;
  o.include_tests = METER_TACKLE_FLAG_TRUE;
  o.include_zeros = METER_TACKLE_FLAG_TRUE;
  o.page_size = 100;
  mtr_buf q = MTR_BUF_INIT;
  int rc = tk_list_query(&o, &q, err);
  char *token = NULL;
  *hit = 0;
  for (int page = 0; rc == METER_OK && page < TK_RECONCILE_PAGES && !*hit; page++) {
    cJSON *root = NULL;
    rc = tk_list_page(s->be, mtr_buf_cstr(&q), token, &root, err);
    if (rc != METER_OK)
      break;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    const cJSON *item;
    cJSON_ArrayForEach(item, data)
    {
      meter_tackle_record got;
      memset(&got, 0, sizeof got);
      if (tk_record_from_json(&got, item) != METER_OK)
        continue;
      if (is_ours(s, i, &got)) {
        *found = got;
        *hit = 1;
        break;
      }
      tk_record_clear(&got);
    }
    const char *next = tk_next_page_token(root);
    mtr_free(token);
    token = next && *next ? mtr_strdup(next) : NULL;
    cJSON_Delete(root);
    if (!token)
      break;
  }
  mtr_free(token);
  mtr_buf_dispose(&q);
  return rc;
}

static int claim(tk_send *s, const char *id)
{
  char **grown = mtr_realloc(s->claimed, (s->nclaimed + 1) * sizeof *grown);
  if (!grown)
    return METER_ENOMEM;
  s->claimed = grown;
  if (!(s->claimed[s->nclaimed] = mtr_strdup(id)))
    return METER_ENOMEM;
  s->nclaimed++;
  return METER_OK;
}

static void reconcile(tk_send *s, size_t i)
{
  int put409 = s->state[i] == ST_CHECK_409;
  meter_tackle_record got;
  memset(&got, 0, sizeof got);
  int hit = 0;
  meter_error err;
  mtr_error_clear(&err);
  s->checks[i]++;
  int rc = find_record(s, i, &got, &hit, &err);
  mtr_result *r = res_of(s, i);
  long http = r->http_status;
  if (rc != METER_OK) {
    if (put409)
      settle(s, i, http, METER_OUTCOME_CONFLICT, "conflict",
             "already sent to the marketplace (Tackle answered 409 after an earlier attempt's "
             "answer was lost; checking whether that attempt was applied failed: %s)",
             err.message);
    else
      settle(s, i, http, METER_OUTCOME_FAILED, "maybe_applied",
             "POST may have been applied (its answer was lost) and checking Tackle failed "
             "(%s); not resent, to avoid creating it twice: look for it with "
             "meter_tackle_list before resending", err.message);
    return;
  }
  if (hit) {
    claim(s, got.s[METER_TACKLE_ID]);
    delivered(s, i, http, &got, METER_OUTCOME_DUPLICATE,
              put409 ? "Tackle had already sent this hour with this quantity: an earlier "
                       "attempt whose answer was lost was applied"
                     : "an earlier attempt whose answer was lost had created it (found by "
                       "listing the hour); not created twice");
    tk_record_clear(&got);
    return;
  }
  if (put409) {
    settle(s, i, http, METER_OUTCOME_CONFLICT, "conflict",
           "already sent to the marketplace with another quantity: Tackle did not apply this "
           "update");
    return;
  }
  if (s->checks[i] >= TK_MAX_RECONCILE) {
    settle(s, i, http, METER_OUTCOME_FAILED, "maybe_applied",
           "POST failed %u times after sending and Tackle does not list the record; not "
           "resent again", s->checks[i]);
    return;
  }
  MTR_INFO(s->be->base.log, "%s: record %zu is not at Tackle after a lost answer: resending",
           s->what, i);
  s->state[i] = ST_PENDING;
}

/* ---- rounds ----------------------------------------------------------- */

static int is_fatal(int st)
{
  return st == METER_EAUTH || st == METER_ECONFIG || st == METER_ENOMEM || st == METER_EINTERNAL;
}

int tk_send_batch(mtr_backend *b, const mtr_batch *batch, meter_error *err)
{
  tk_backend *be = (tk_backend *)b;
  size_t n = batch->count;
  tk_send s;
  memset(&s, 0, sizeof s);
  s.be = be;
  s.batch = batch;
  s.method = tk_record_method(be, batch->records[0]);
  s.what = s.method == TK_PUT ? "Tackle PUT usage-records" : "Tackle POST usage-records";
  s.state = mtr_calloc(n, sizeof *s.state);
  s.sent = mtr_calloc(n, sizeof *s.sent);
  s.checks = mtr_calloc(n, sizeof *s.checks);
  s.active = mtr_calloc(n, sizeof *s.active);
  if (!s.state || !s.sent || !s.checks || !s.active) {
    mtr_free(s.state);
    mtr_free(s.sent);
    mtr_free(s.checks);
    mtr_free(s.active);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }

  static const mtr_exchange_ops ops = { "Tackle usage-records", send_build, send_handle,
                                        send_give_up, send_retry_ambiguous };
  mtr_exchange_ops my = ops;
  my.what = s.what;
  int rc = METER_OK, transient = METER_OK;
  meter_error last;
  mtr_error_clear(&last);
  /* Every round settles a record or splits the batch, so this bounds it. */
  size_t max_rounds = 2 * n + 2 * TK_MAX_RECONCILE + 4;
  for (size_t round = 0; round < max_rounds; round++) {
    s.nactive = 0;
    for (size_t i = 0; i < n && !(s.split && s.nactive == 1); i++)
      if (s.state[i] == ST_PENDING)
        s.active[s.nactive++] = i;
    if (!s.nactive)
      break;
    s.maybe_applied = 0;
    s.auth.refreshed = 0;
    meter_error e;
    mtr_error_clear(&e);
    int st = mtr_exchange(be->base.env, &my, &s, NULL, &e);
    if (st != METER_OK) {
      if (is_fatal(st)) {
        rc = st;
        mtr_error_copy(err, &e);
        break;
      }
      transient = st;
      last = e;
    }
    int ambiguous = 0;
    for (size_t i = 0; i < n; i++)
      if (s.state[i] == ST_AMBIGUOUS || s.state[i] == ST_CHECK_409) {
        ambiguous = 1;
        reconcile(&s, i);
      }
    for (size_t i = 0; i < n; i++)
      if (s.state[i] == ST_RESEND)
        s.state[i] = ST_PENDING;
    /* Retries ran out: the marketplace is failing, do not go on with the
     * other records. A POST refused after a lost answer is different: it was
     * checked above and goes again if Tackle does not have it. */
    if (st != METER_OK && !ambiguous)
      break;
  }
  for (size_t i = 0; i < n; i++) {
    if (s.state[i] == ST_DONE)
      continue;
    mtr_result_set(res_of(&s, i), METER_OUTCOME_FAILED, "not_sent", "not sent: %s",
                   rc != METER_OK || last.status ? (rc != METER_OK ? err->message : last.message)
                                                 : "the batch ran out of rounds");
    res_of(&s, i)->attempts = s.sent[i];
  }
  if (rc == METER_OK) {
    int failed = 0;
    for (size_t i = 0; i < n; i++)
      failed |= res_of(&s, i)->outcome == METER_OUTCOME_FAILED;
    if (failed) {
      rc = transient != METER_OK ? transient : METER_EUNDELIVERED;
      if (last.status)
        mtr_error_copy(err, &last);
      else
        mtr_error_set(err, rc, "%s: some records were not delivered", s.what);
    }
  }
  for (size_t i = 0; i < s.nclaimed; i++)
    mtr_free(s.claimed[i]);
  mtr_free(s.claimed);
  mtr_free(s.state);
  mtr_free(s.sent);
  mtr_free(s.checks);
  mtr_free(s.active);
  return rc;
}
