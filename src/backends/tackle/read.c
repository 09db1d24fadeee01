/* Reading what Tackle holds: list (an iterator fetching pages on demand),
 * get and delete one usage record. The public side of include/meter/tackle.h
 * and the list request reconciliation uses (send.c). */
#include "tackle_internal.h"

#include "api/client.h"
#include "core/alloc.h"
#include "core/decimal.h"
#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <stdio.h>
#include <string.h>

/* ---- one GET/DELETE through the exchange -------------------------------- */

typedef struct read_call {
  tk_backend *be;
  const char *method;     /* "GET" or "DELETE" */
  const char *url;
  const char *what;       /* "Tackle list usage-records" */
  tk_auth_state auth;
  cJSON *root;            /* the parsed 200 answer */
  int maybe_applied;      /* an attempt's answer was lost after sending */
  int not_found;
} read_call;

static int read_build(void *p, mtr_http_request *req, unsigned attempt, meter_error *err)
{
  (void)attempt;
  read_call *c = p;
  req->method = c->method;
  mtr_buf_puts(&req->url, c->url);
  if (tk_set_json_headers(req, 0) != METER_OK || mtr_buf_status(&req->url))
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  return tk_auth_apply(c->be, req, &c->auth, err);
}

static mtr_verdict read_handle(void *p, const mtr_http_response *resp, meter_error *err)
{
  read_call *c = p;
  mtr_verdict v = mtr_classify_http_status(resp->status);
  if (v != MTR_DONE)
    return v;
  if (resp->status == 401)
    return tk_auth_refused(c->be, &c->auth, resp, c->what, err);
  if (resp->status >= 200 && resp->status < 300) {
    cJSON_Delete(c->root);
    c->root = mtr_json_parse(resp->body.ptr, resp->body.len, c->what, err);
    if (c->root && !cJSON_IsObject(c->root)) {
      cJSON_Delete(c->root);
      c->root = NULL;
      mtr_error_set(err, METER_EPROTOCOL, "%s: the answer is not a JSON object", c->what);
    }
    return MTR_DONE;
  }
  tk_error_info e;
  tk_error_parse(resp, &e);
  int st = resp->status == 404   ? METER_ENOTFOUND
           : resp->status == 409 ? METER_ECONFLICT /* DELETE of a record already sent */
           : resp->status == 400 ? METER_EINVAL
           : resp->status == 403 ? METER_EAUTH
                                 : METER_EPROTOCOL;
  c->not_found = resp->status == 404;
  mtr_error_set(err, st, "%s: HTTP %ld %s%s%s", c->what, resp->status,
                e.code[0] ? e.code : "error", e.message[0] ? ": " : "", e.message);
  return MTR_DONE;
}

static void read_give_up(void *p, int status, const char *why, const mtr_http_response *last)
{
  (void)p;
  (void)status;
  (void)why;
  (void)last;
}

/* GET and DELETE are resent after a lost answer; remember it, since a
 * DELETE's resend then finds nothing to delete. */
static int read_retry_ambiguous(void *p, const mtr_http_response *resp)
{
  (void)resp;
  ((read_call *)p)->maybe_applied = 1;
  return 1;
}

static const mtr_exchange_ops read_ops = { "Tackle", read_build, read_handle, read_give_up,
                                           read_retry_ambiguous };

static int run_read(read_call *c, meter_error *err)
{
  mtr_exchange_ops ops = read_ops;
  ops.what = c->what;
  return mtr_exchange(c->be->base.env, &ops, c, NULL, err);
}

/* ---- list query ----------------------------------------------------------- */

static int add_param(mtr_buf *q, const char *name, const char *value)
{
  if (q->len)
    mtr_buf_putc(q, '&');
  mtr_buf_puts(q, name);
  mtr_buf_putc(q, '=');
  return mtr_url_encode(q, value, strlen(value), 0);
}

static int add_list(mtr_buf *q, const char *name, const char *const *v, size_t n, meter_error *err)
{
  if (n && !v)
    return mtr_error_set(err, METER_EINVAL, "list filter %s: count is %zu but the array is NULL",
                         name, n);
  for (size_t i = 0; i < n; i++) {
    if (!v[i] || !*v[i] || mtr_has_ctl(v[i], strlen(v[i])))
      return mtr_error_set(err, METER_EINVAL,
                           "list filter %s: value %zu is empty, NULL or has control characters",
                           name, i + 1);
    add_param(q, name, v[i]);
  }
  return METER_OK;
}

/* Times go out as the OpenAPI's example, 2023-01-01T15:31:12Z (with a
 * fraction only when there is one). */
static int add_time(mtr_buf *q, const char *name, const char *v, meter_error *err)
{
  if (!v)
    return METER_OK;
  int64_t t;
  if (mtr_time_parse(v, &t) != 0)
    return mtr_error_set(err, METER_EINVAL,
                         "list filter %s: must be an ISO-8601 / RFC 3339 time such as "
                         "2023-01-01T15:31:12Z, got \"%.40s\"", name, v);
  char ts[MTR_TIME_BUF];
  mtr_time_format(t, t % MTR_US_PER_SEC ? MTR_TIME_RFC3339_MICRO : MTR_TIME_RFC3339, ts);
  return add_param(q, name, ts);
}

static int add_flag(mtr_buf *q, const char *name, meter_tackle_flag f, meter_error *err)
{
  switch (f) {
  case METER_TACKLE_FLAG_DEFAULT: return METER_OK;
  case METER_TACKLE_FLAG_TRUE: return add_param(q, name, "true");
  case METER_TACKLE_FLAG_FALSE: return add_param(q, name, "false");
  }
  return mtr_error_set(err, METER_EINVAL, "list filter %s: unknown flag value %d", name, (int)f);
}

int tk_list_query(const meter_tackle_list_options *o, mtr_buf *q, meter_error *err)
{
  int rc = METER_OK;
  if (!o)
    return METER_OK;
  /* In the order of the OpenAPI's parameters. */
  if (o->page_size) {
    char n[16];
    snprintf(n, sizeof n, "%u", o->page_size);
    add_param(q, "size", n);
  }
  if (o->quantity) {
    char canon[64];
    mtr_decimal_info info;
    size_t len = strlen(o->quantity);
    if (len + 2 > sizeof canon || mtr_decimal_canon(o->quantity, len, canon, sizeof canon, &info))
      return mtr_error_set(err, METER_EINVAL,
                           "list filter quantity: must be a non-negative decimal, got \"%.40s\"",
                           o->quantity);
    add_param(q, "quantity", canon);
  }
  if ((rc = add_time(q, "scheduled_before", o->scheduled_before, err)) ||
      (rc = add_time(q, "scheduled_after", o->scheduled_after, err)) ||
      (rc = add_flag(q, "include_zeros", o->include_zeros, err)) ||
      (rc = add_list(q, "product_id", o->product_ids, o->product_id_count, err)) ||
      (rc = add_list(q, "customer_id", o->customer_ids, o->customer_id_count, err)) ||
      (rc = add_list(q, "dimension", o->dimensions, o->dimension_count, err)) ||
      (rc = add_list(q, "subscription_id", o->subscription_ids, o->subscription_id_count, err)) ||
      (rc = add_time(q, "start_after", o->start_after, err)) ||
      (rc = add_time(q, "start_before", o->start_before, err)) ||
      (rc = add_flag(q, "include_tests", o->include_tests, err)))
    return rc;
  return mtr_buf_status(q) ? mtr_error_set(err, METER_ENOMEM, "out of memory") : METER_OK;
}

int tk_list_page(tk_backend *be, const char *query, const char *page_token, cJSON **out,
                 meter_error *err)
{
  *out = NULL;
  mtr_buf url = MTR_BUF_INIT, q = MTR_BUF_INIT;
  mtr_buf_puts(&q, query ? query : "");
  if (page_token)
    add_param(&q, "page", page_token);
  mtr_buf_printf(&url, "%s%s%s%s", be->endpoint, TK_RECORDS_PATH, q.len ? "?" : "",
                 mtr_buf_cstr(&q));
  mtr_buf_dispose(&q);
  if (mtr_buf_status(&url)) {
    mtr_buf_dispose(&url);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  read_call c = { be, "GET", mtr_buf_cstr(&url), "Tackle list usage-records", { 0, 0 }, NULL, 0, 0 };
  int rc = run_read(&c, err);
  mtr_buf_dispose(&url);
  if (rc == METER_OK && !c.root)
    rc = mtr_error_set(err, METER_EPROTOCOL, "Tackle list usage-records: no answer body");
  if (rc != METER_OK) {
    cJSON_Delete(c.root);
    return rc;
  }
  *out = c.root;
  return METER_OK;
}

/* The schema says metadata.nextPageToken, the example next_page_token. */
const char *tk_next_page_token(const cJSON *root)
{
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "metadata");
  const char *t = mtr_json_str(md, "next_page_token");
  if (!t)
    t = mtr_json_str(md, "nextPageToken");
  if (!t) /* lenient: at the top level */
    t = mtr_json_str(root, "next_page_token");
  if (!t)
    t = mtr_json_str(root, "nextPageToken");
  return t && *t ? t : NULL;
}

/* ---- records ----------------------------------------------------------------- */

const char *meter_tackle_record_get(const meter_tackle_record *r, meter_tackle_attr a)
{
  if (!r || (int)a < 0 || (int)a >= TK_ATTR_COUNT)
    return NULL;
  return r->s[a];
}

int64_t meter_tackle_record_start_us(const meter_tackle_record *r)
{
  return r ? r->start_us : -1;
}

int64_t meter_tackle_record_end_us(const meter_tackle_record *r)
{
  return r ? r->end_us : -1;
}

const char *meter_tackle_record_json(const meter_tackle_record *r)
{
  return r ? r->json : NULL;
}

void meter_tackle_record_free(meter_tackle_record *r)
{
  if (!r)
    return;
  tk_record_clear(r);
  mtr_free(r);
}

/* ---- get / delete -------------------------------------------------------------- */

static tk_backend *tackle_of(meter_client *client, const char *fn)
{
  return (tk_backend *)mtr_client_backend_as(client, "tackle", fn);
}

static int one_record(meter_client *client, const char *fn, const char *method, const char *id,
                      meter_tackle_record **out)
{
  if (out)
    *out = NULL;
  if (!client)
    return METER_EINVAL;
  tk_backend *be = tackle_of(client, fn);
  if (!be)
    return METER_EUNSUPPORTED;
  if (!id || !*id || mtr_has_ctl(id, strlen(id)))
    return mtr_client_failf(client, METER_EINVAL, "%s: the record id is empty or malformed", fn);
  meter_error err;
  mtr_error_clear(&err);
  mtr_buf url = MTR_BUF_INIT;
  mtr_buf_printf(&url, "%s%s/", be->endpoint, TK_RECORDS_PATH);
  mtr_url_encode(&url, id, strlen(id), 0);
  if (mtr_buf_status(&url)) {
    mtr_buf_dispose(&url);
    return mtr_client_failf(client, METER_ENOMEM, "out of memory");
  }
  int del = strcmp(method, "DELETE") == 0;
  read_call c = { be, method, mtr_buf_cstr(&url),
                  del ? "Tackle delete usage-record" : "Tackle get usage-record", { 0, 0 },
                  NULL, 0, 0 };
  int rc = run_read(&c, &err);
  mtr_buf_dispose(&url);
  if (rc == METER_ENOTFOUND && del && c.maybe_applied) {
    /* The first DELETE went through; its answer was lost. */
    MTR_INFO(&client->log, "%s %s: gone after a lost answer: deleted", fn, id);
    cJSON_Delete(c.root);
    return METER_OK;
  }
  if (rc != METER_OK) {
    cJSON_Delete(c.root);
    return mtr_client_fail(client, &err);
  }
  /* GET: data is an array of one; DELETE: data is the object. */
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(c.root, "data");
  if (cJSON_IsArray(data))
    data = cJSON_GetArrayItem(data, 0);
  if (!cJSON_IsObject(data)) {
    cJSON_Delete(c.root);
    if (del && !out)
      return METER_OK;
    return mtr_client_failf(client, METER_EPROTOCOL, "%s: Tackle's answer has no record", fn);
  }
  if (out) {
    meter_tackle_record *r = mtr_calloc(1, sizeof *r);
    if (!r || (rc = tk_record_from_json(r, data)) != METER_OK) {
      mtr_free(r);
      cJSON_Delete(c.root);
      return mtr_client_failf(client, rc ? rc : METER_ENOMEM, "%s: %s", fn,
                              meter_strerror(rc ? rc : METER_ENOMEM));
    }
    *out = r;
  }
  cJSON_Delete(c.root);
  return METER_OK;
}

int meter_tackle_get(meter_tackle_record **out, meter_client *client, const char *id)
{
  if (!out)
    return client ? mtr_client_failf(client, METER_EINVAL, "meter_tackle_get: out is NULL")
                  : METER_EINVAL;
  return one_record(client, "meter_tackle_get", "GET", id, out);
}

int meter_tackle_delete(meter_tackle_record **out, meter_client *client, const char *id)
{
  return one_record(client, "meter_tackle_delete", "DELETE", id, out);
}

/* ---- list iterator -------------------------------------------------------------- */

struct meter_tackle_list {
  meter_client *client;
  tk_backend *be;
  char *query;             /* the filters, URL-encoded, without page */
  char *token;             /* page to fetch next (NULL: first page or none) */
  int started;             /* the first page was fetched */
  int finished;            /* no page after the current one */
  cJSON *page;
  int index;               /* next item of page */
  unsigned pages;
  unsigned empty_pages;    /* consecutive pages without records */
  meter_tackle_record current;
};

/* A server handing out page after empty page would loop us forever. */
#define TK_MAX_EMPTY_PAGES 50

int meter_tackle_list_options_init(meter_tackle_list_options *opts, unsigned int version)
{
  if (!opts)
    return METER_EINVAL;
  if (version != METER_TACKLE_LIST_OPTIONS_VERSION)
    return METER_EVERSION;
  meter_tackle_list_options init = METER_TACKLE_LIST_OPTIONS_INIT;
  *opts = init;
  return METER_OK;
}

int meter_tackle_list_new(meter_tackle_list **out, meter_client *client,
                          const meter_tackle_list_options *opts)
{
  if (!out)
    return client ? mtr_client_failf(client, METER_EINVAL, "meter_tackle_list_new: out is NULL")
                  : METER_EINVAL;
  *out = NULL;
  if (!client)
    return METER_EINVAL;
  tk_backend *be = tackle_of(client, "meter_tackle_list_new");
  if (!be)
    return METER_EUNSUPPORTED;
  if (opts && opts->version != METER_TACKLE_LIST_OPTIONS_VERSION)
    return mtr_client_failf(client, METER_EVERSION,
                            "meter_tackle_list_new: options version %u is not supported (this "
                            "library knows %d)", opts->version, METER_TACKLE_LIST_OPTIONS_VERSION);
  meter_error err;
  mtr_error_clear(&err);
  mtr_buf q = MTR_BUF_INIT;
  int rc = tk_list_query(opts, &q, &err);
  if (rc != METER_OK) {
    mtr_buf_dispose(&q);
    return mtr_client_fail(client, &err);
  }
  if (opts && opts->page_token && mtr_has_ctl(opts->page_token, strlen(opts->page_token))) {
    mtr_buf_dispose(&q);
    return mtr_client_failf(client, METER_EINVAL, "list page_token: control characters");
  }
  meter_tackle_list *it = mtr_calloc(1, sizeof *it);
  if (!it || !(it->query = mtr_strdup(mtr_buf_cstr(&q))) ||
      (opts && opts->page_token && *opts->page_token && !(it->token = mtr_strdup(opts->page_token)))) {
    mtr_buf_dispose(&q);
    meter_tackle_list_free(it);
    return mtr_client_failf(client, METER_ENOMEM, "out of memory");
  }
  mtr_buf_dispose(&q);
  it->client = client;
  it->be = be;
  it->current.start_us = it->current.end_us = -1;
  *out = it;
  return METER_OK;
}

static int fetch_page(meter_tackle_list *it)
{
  meter_error err;
  mtr_error_clear(&err);
  cJSON *page = NULL;
  int rc = tk_list_page(it->be, it->query, it->token, &page, &err);
  if (rc != METER_OK)
    return mtr_client_fail(it->client, &err);
  const char *next = tk_next_page_token(page);
  if (next && it->token && strcmp(next, it->token) == 0) {
    cJSON_Delete(page);
    return mtr_client_failf(it->client, METER_EPROTOCOL,
                            "Tackle list usage-records: the next page token repeats the current "
                            "one; stopping");
  }
  char *copy = next ? mtr_strdup(next) : NULL;
  if (next && !copy) {
    cJSON_Delete(page);
    return mtr_client_failf(it->client, METER_ENOMEM, "out of memory");
  }
  cJSON_Delete(it->page);
  it->page = page;
  it->index = 0;
  mtr_free(it->token);
  it->token = copy;
  it->started = 1;
  it->finished = copy == NULL;
  it->pages++;
  return METER_OK;
}

int meter_tackle_list_next(meter_tackle_list *it, const meter_tackle_record **record)
{
  if (!record)
    return it ? mtr_client_failf(it->client, METER_EINVAL, "meter_tackle_list_next: record is NULL")
              : METER_EINVAL;
  *record = NULL;
  if (!it)
    return METER_EINVAL;
  tk_record_clear(&it->current);
  for (;;) {
    const cJSON *data = it->page ? cJSON_GetObjectItemCaseSensitive(it->page, "data") : NULL;
    int n = cJSON_IsArray(data) ? cJSON_GetArraySize(data) : 0;
    if (it->page && it->index < n) {
      int rc = tk_record_from_json(&it->current, cJSON_GetArrayItem(data, it->index));
      it->index++; /* a bad item is reported once, then skipped */
      if (rc != METER_OK)
        return mtr_client_failf(it->client, rc == METER_ENOMEM ? rc : METER_EPROTOCOL,
                                "Tackle list usage-records: record %d of page %u is not an "
                                "object", it->index, it->pages);
      it->empty_pages = 0;
      *record = &it->current;
      return METER_OK;
    }
    if (it->started && it->finished)
      return METER_OK;
    if (it->started && n == 0 && ++it->empty_pages > TK_MAX_EMPTY_PAGES)
      return mtr_client_failf(it->client, METER_EPROTOCOL,
                              "Tackle list usage-records: %d empty pages in a row; stopping",
                              TK_MAX_EMPTY_PAGES);
    int rc = fetch_page(it);
    if (rc != METER_OK)
      return rc;
  }
}

unsigned int meter_tackle_list_pages(const meter_tackle_list *it)
{
  return it ? it->pages : 0;
}

const char *meter_tackle_list_page_token(const meter_tackle_list *it)
{
  return it && it->started ? it->token : NULL;
}

void meter_tackle_list_free(meter_tackle_list *it)
{
  if (!it)
    return;
  tk_record_clear(&it->current);
  cJSON_Delete(it->page);
  mtr_free(it->query);
  mtr_free(it->token);
  mtr_free(it);
}
