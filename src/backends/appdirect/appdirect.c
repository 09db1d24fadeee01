/* The AppDirect Billing Usage v2 back end: settings, batching and delivery of
 * usage requests (POST {base}/api/integration/v2/billing/usage).
 *
 * A request carries up to 250 events grouped by accountId; volume-priced
 * usage goes in requests of its own. Its idempotencyKey is derived from its
 * events before the first attempt, so every retry, and a resend of the same
 * records after a crash, carries the same key; an answer saying the key was
 * already used means the usage was received, so its events are DUPLICATE
 * (delivered). AppDirect answers 202 and rates asynchronously: the results
 * carry the requestId and status path for meter_appdirect_status_get. */
#include "appdirect_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/group.h"
#include "core/str.h"

#include <string.h>

static const mtr_setting_spec settings[] = {
  { "base_url", 0,
    "the marketplace's base URL, e.g. https://www.acme-marketplace.com (options.endpoint "
    "overrides it)" },
  { "client_id", MTR_SETTING_REQUIRED, "OAuth 2.0 client id of the product's API credentials" },
  { "client_secret", MTR_SETTING_SECRET | MTR_SETTING_REQUIRED, "OAuth 2.0 client secret" },
  { "scope", 0,
    "ROLE_APPLICATION (product credentials; the default) or ROLE_PARTNER (partner credentials; "
    "the default with subscription_id or vendor_id)" },
  { "billable", 0, "true (default): billable usage; false: estimated usage" },
  { "request_group_id", 0, "a label grouping requests in AppDirect, e.g. \"January 2026\"" },
  { "subscription_id", 0, "UUID of the subscription (partner credentials)" },
  { "vendor_id", 0, "UUID of the vendor (partner credentials)" },
  { NULL, 0, NULL },
};

/* ---- configuration ------------------------------------------------------ */

static int check_base_url(const char *url, mtr_logger *log, meter_error *err)
{
  const char *host = strncmp(url, "https://", 8) == 0 ? url + 8
                     : strncmp(url, "http://", 7) == 0 ? url + 7
                                                       : NULL;
  if (!host)
    return mtr_error_set(err, METER_ECONFIG,
                         "AppDirect base URL '%.100s' must start with https://", url);
  if (!*host || *host == '/' || strpbrk(url, "?# "))
    return mtr_error_set(err, METER_ECONFIG,
                         "AppDirect base URL '%.100s' must be scheme://host[:port][/path] without "
                         "query or fragment, e.g. https://www.acme-marketplace.com", url);
  if (host == url + 7 && strncmp(host, "127.0.0.1", 9) != 0 && strncmp(host, "localhost", 9) != 0)
    MTR_WARN(log, "AppDirect base URL %s is plain http: AppDirect requires HTTPS", url);
  return METER_OK;
}

static int check_scope(const char *scope, meter_error *err)
{
  int ok = *scope != '\0';
  for (const char *p = scope; ok && *p; p++)
    ok = *p >= 0x20 && *p <= 0x7e && *p != '"' && *p != '\\';
  return ok ? METER_OK
            : mtr_error_set(err, METER_ECONFIG,
                            "scope '%.60s' is not an OAuth scope (e.g. ROLE_APPLICATION)", scope);
}

static int check_uuid(const char *name, const char *v, meter_error *err)
{
  if (!v || mtr_uuid_valid(v))
    return METER_OK;
  return mtr_error_set(err, METER_ECONFIG,
                       "%s '%.60s' must be a UUID such as 02ab813a-e955-4255-8969-c5329839dd61",
                       name, v);
}

static void destroy(mtr_backend *be)
{
  mtr_appdirect *ad = (mtr_appdirect *)be;
  if (!ad)
    return;
  mtr_appdirect_oauth_dispose(ad);
  mtr_free(ad->base_url);
  mtr_free(ad->client_id);
  mtr_free_secret_str(ad->client_secret);
  mtr_free(ad->scope);
  mtr_free(ad->request_group_id);
  mtr_free(ad->subscription_id);
  mtr_free(ad->vendor_id);
  mtr_free(ad);
}

static int create(mtr_backend **out, const mtr_env *env, mtr_logger *log, const mtr_config *cfg,
                  meter_error *err)
{
  const char *base = cfg->endpoint ? cfg->endpoint : mtr_config_get(cfg, "base_url");
  const char *client_id = mtr_config_get(cfg, "client_id");
  const char *sub = mtr_config_get(cfg, "subscription_id");
  const char *vendor = mtr_config_get(cfg, "vendor_id");
  const char *scope = mtr_config_get(cfg, "scope");
  const char *group = mtr_config_get(cfg, "request_group_id");
  int billable = mtr_config_bool(cfg, "billable", 1);
  int rc;

  if (!base || !*base)
    return mtr_error_set(err, METER_ECONFIG,
                         "AppDirect has no global host: set the marketplace's base URL with the "
                         "'base_url' setting (e.g. https://www.acme-marketplace.com) or with "
                         "options.endpoint");
  if ((rc = check_base_url(base, log, err)) != METER_OK)
    return rc;
  if (strchr(client_id, ':'))
    return mtr_error_set(err, METER_ECONFIG,
                         "client_id must not contain ':' (it travels in HTTP Basic auth)");
  if (billable < 0)
    return mtr_error_set(err, METER_ECONFIG, "billable: must be true or false, got '%.20s'",
                         mtr_config_get(cfg, "billable"));
  if ((rc = check_uuid("subscription_id", sub, err)) != METER_OK ||
      (rc = check_uuid("vendor_id", vendor, err)) != METER_OK)
    return rc;
  if (sub && vendor)
    return mtr_error_set(err, METER_ECONFIG,
                         "set subscription_id or vendor_id, not both (AppDirect documents one "
                         "or the other)");
  if (!scope)
    scope = sub || vendor ? "ROLE_PARTNER" : "ROLE_APPLICATION";
  if ((rc = check_scope(scope, err)) != METER_OK)
    return rc;
  if (group && !*group)
    group = NULL;

  mtr_appdirect *ad = mtr_calloc(1, sizeof *ad);
  if (!ad)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  ad->base.env = env;
  ad->base.log = log;
  ad->billable = billable;
  ad->base_url = mtr_strdup(base);
  ad->client_id = mtr_strdup(client_id);
  ad->client_secret = mtr_strdup(mtr_config_get(cfg, "client_secret"));
  ad->scope = mtr_strdup(scope);
  ad->request_group_id = mtr_strdup(group);
  ad->subscription_id = mtr_strdup(sub);
  ad->vendor_id = mtr_strdup(vendor);
  mtr_appdirect_oauth_init(ad);
  if (!ad->base_url || !ad->client_id || !ad->client_secret || !ad->scope ||
      (group && !ad->request_group_id) || (sub && !ad->subscription_id) ||
      (vendor && !ad->vendor_id)) {
    destroy(&ad->base);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  size_t bl = strlen(ad->base_url);
  while (bl > 0 && ad->base_url[bl - 1] == '/')
    ad->base_url[--bl] = '\0';
  *out = &ad->base;
  return METER_OK;
}

/* ---- batching ----------------------------------------------------------- */

static int batch_key(mtr_backend *be, const meter_record *rec, mtr_buf *key, size_t *limit)
{
  (void)be;
  /* Volume-priced usage must not share a request with other pricing models. */
  mtr_buf_puts(key, mtr_appdirect_is_volume(rec) ? "volume" : "standard");
  *limit = MTR_APPDIRECT_MAX_EVENTS;
  return mtr_buf_status(key);
}

static int aggregation(mtr_backend *be, const meter_record *rec, mtr_agg_rule *rule, mtr_buf *key)
{
  (void)be;
  (void)rec;
  (void)key;
  /* Every event is its own (AppDirect sums them itself); no age limit is
   * documented (volume pricing closes at 18:00 UTC on the period's last day,
   * which the marketplace reports per event in the status query). */
  rule->aggregate = 0;
  rule->window_us = 0;
  return METER_OK;
}

/* ---- sending ------------------------------------------------------------ */

typedef struct usage_call {
  mtr_appdirect *ad;
  meter_record **recs;   /* the request's events: distinct idempotency keys */
  mtr_result **res;
  size_t n;
  char key[MTR_UUID_LEN + 1];
  mtr_buf body;          /* encoded once: every attempt sends the same bytes */
  unsigned attempts;
  mtr_appdirect_auth auth;
} usage_call;

static int usage_build(void *p, mtr_http_request *req, unsigned attempt, meter_error *err)
{
  usage_call *c = p;
  c->attempts = attempt;
  req->method = "POST";
  int rc = mtr_url_join(&req->url, c->ad->base_url, MTR_APPDIRECT_USAGE_PATH);
  if (rc == METER_OK)
    rc = mtr_headers_set(&req->headers, "Content-Type", "application/json");
  if (rc == METER_OK)
    rc = mtr_headers_set(&req->headers, "Accept", "application/json");
  if (rc == METER_OK)
    rc = mtr_buf_put(&req->body, c->body.ptr, c->body.len);
  if (rc != METER_OK)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  return mtr_appdirect_authorize(c->ad, req, &c->auth, err);
}

static void mark_all(usage_call *c, long http_status, meter_outcome outcome, const char *code,
                     const char *message)
{
  for (size_t i = 0; i < c->n; i++) {
    mtr_result *r = c->res[i];
    r->http_status = (int)http_status;
    r->attempts = c->attempts;
    mtr_result_set(r, outcome, code, "%s", message);
  }
}

static void mark_received(usage_call *c, long http_status, meter_outcome outcome,
                          const mtr_appdirect_answer *a)
{
  char path[256];
  const char *status_path = a->status_path;
  if (!status_path && a->request_id) {
    mtr_fmt(path, sizeof path, "%s%s", MTR_APPDIRECT_STATUS_PREFIX, a->request_id);
    status_path = path;
  }
  for (size_t i = 0; i < c->n; i++) {
    mtr_result *r = c->res[i];
    r->http_status = (int)http_status;
    r->attempts = c->attempts;
    mtr_result_delivered(r, outcome, a->request_id,
                         outcome == METER_OUTCOME_ACCEPTED ? "PROCESSING" : NULL);
    mtr_result_str(&r->request_id, a->request_id);
    mtr_result_str(&r->status_path, status_path);
    if (outcome == METER_OUTCOME_DUPLICATE) {
      char msg[400];
      mtr_fmt(msg, sizeof msg,
              "AppDirect had already received this request (idempotency key %s)%s%s; query "
              "its status for the processing outcome",
              c->key, a->request_id ? " as request " : "", a->request_id ? a->request_id : "");
      mtr_result_str(&r->message, msg);
    }
  }
}

static mtr_verdict usage_handle(void *p, const mtr_http_response *resp, meter_error *err)
{
  usage_call *c = p;
  long s = resp->status;
  if (s == 401) {
    mtr_verdict v = mtr_appdirect_unauthorized(c->ad, &c->auth, "AppDirect usage request", err);
    if (v == MTR_DONE)
      mark_all(c, s, METER_OUTCOME_FAILED, "unauthorized", err->message);
    return v;
  }
  mtr_verdict v = mtr_classify_http_status(s);
  if (v != MTR_DONE)
    return v;

  mtr_appdirect_answer a;
  mtr_appdirect_answer_read(resp, &a);
  char msg[400];
  if (s >= 200 && s < 300 && a.request_id) {
    mark_received(c, s, METER_OUTCOME_ACCEPTED, &a);
    MTR_DEBUG(c->ad->base.log, "AppDirect accepted %zu event(s) as request %s (key %s)", c->n,
              a.request_id, c->key);
  } else if (s >= 200 && s < 300) {
    /* Received, probably; the same key on a later resend finds out safely. */
    mtr_error_set(err, METER_EPROTOCOL,
                  "AppDirect usage request: HTTP %ld without a requestId; resend the same "
                  "records (same idempotency key) to find out whether it was recorded", s);
    mark_all(c, s, METER_OUTCOME_FAILED, "bad_answer", err->message);
  } else if (mtr_appdirect_is_duplicate_key(s, &a)) {
    mark_received(c, s, METER_OUTCOME_DUPLICATE, &a);
    MTR_INFO(c->ad->base.log,
             "AppDirect already had request key %s (request %s): %zu event(s) delivered earlier",
             c->key, a.request_id ? a.request_id : "?", c->n);
  } else if (s == 403) {
    mtr_error_set(err, METER_EAUTH,
                  "AppDirect usage request: HTTP 403%s%s: the credentials (scope %s) may not "
                  "post usage on %s",
                  a.message ? ": " : "", a.message ? a.message : "", c->ad->scope,
                  c->ad->base_url);
    mark_all(c, s, METER_OUTCOME_FAILED, "forbidden", err->message);
  } else if (s == 404 || (s >= 300 && s < 400)) {
    mtr_error_set(err, METER_ECONFIG,
                  "AppDirect usage request: HTTP %ld from %s%s: is base_url the marketplace's "
                  "base URL, and is Metered Usage v2 enabled there?",
                  s, c->ad->base_url, MTR_APPDIRECT_USAGE_PATH);
    mark_all(c, s, METER_OUTCOME_FAILED, s == 404 ? "not_found" : "redirected", err->message);
  } else {
    /* 400 and other refusals: the whole request was refused, no event recorded. */
    char code[64];
    mtr_fmt(code, sizeof code, "%s", a.code ? a.code : "");
    if (!code[0])
      mtr_fmt(code, sizeof code, "HTTP_%ld", s);
    mtr_fmt(msg, sizeof msg, "AppDirect refused the request (HTTP %ld %s): %s", s, code,
            a.message ? a.message : "no message");
    mark_all(c, s, METER_OUTCOME_REJECTED, code, msg);
    const char *field = meter_field_name(mtr_appdirect_field_in_message(a.message));
    for (size_t i = 0; field && i < c->n; i++)
      mtr_result_str(&c->res[i]->field, field);
  }
  mtr_appdirect_answer_dispose(&a);
  return MTR_DONE;
}

static void usage_give_up(void *p, int status, const char *why, const mtr_http_response *last)
{
  (void)status;
  usage_call *c = p;
  mark_all(c, last ? last->status : 0, METER_OUTCOME_FAILED, NULL, why);
}

/* A record repeating an earlier record's idempotency key is the same event:
 * it is sent once and shares that record's outcome. */
static void copy_outcome(mtr_result *dst, const mtr_result *src, const char *key)
{
  dst->http_status = src->http_status;
  dst->attempts = src->attempts;
  if (meter_outcome_delivered(src->outcome)) {
    mtr_result_delivered(dst, METER_OUTCOME_DUPLICATE, src->record_id, src->status);
    char msg[200];
    mtr_fmt(msg, sizeof msg, "same idempotency key (%s) as an earlier record: sent once", key);
    mtr_result_str(&dst->message, msg);
  } else {
    mtr_result_set(dst, src->outcome, src->error_code, "%s", src->message ? src->message : "");
    mtr_result_str(&dst->field, src->field);
  }
  mtr_result_str(&dst->request_id, src->request_id);
  mtr_result_str(&dst->status_path, src->status_path);
}

static int send_batch(mtr_backend *be, const mtr_batch *batch, meter_error *err)
{
  static const mtr_exchange_ops ops = { "AppDirect usage request", usage_build, usage_handle,
                                        usage_give_up, NULL };
  mtr_appdirect *ad = (mtr_appdirect *)be;
  size_t n = batch->count;
  usage_call c;
  memset(&c, 0, sizeof c);
  c.ad = ad;
  c.recs = mtr_calloc(n ? n : 1, sizeof *c.recs);
  c.res = mtr_calloc(n ? n : 1, sizeof *c.res);
  size_t *owner = mtr_calloc(n ? n : 1, sizeof *owner);
  const char **keys = mtr_calloc(n ? n : 1, sizeof *keys);
  int rc = c.recs && c.res && owner && keys ? METER_OK : METER_ENOMEM;

  /* Records that share an idempotency key are one event: the first of them
   * is sent, the others get its outcome. */
  for (size_t i = 0; rc == METER_OK && i < n; i++)
    keys[i] = mtr_rec(batch->records[i], METER_FIELD_IDEMPOTENCY_KEY);
  if (rc == METER_OK)
    rc = mtr_group_strings(keys, n, owner, NULL);
  for (size_t i = 0; rc == METER_OK && i < n; i++) {
    if (owner[i] == i) { /* the first with its key: an event of its own */
      c.recs[c.n] = batch->records[i];
      c.res[c.n] = batch->results[i];
      owner[i] = c.n++;
    } else {
      owner[i] = owner[owner[i]]; /* its leader came before it: already an event */
    }
  }
  mtr_free(keys);
  /* The key is fixed here, before the first attempt, from the content alone. */
  if (rc == METER_OK)
    rc = mtr_appdirect_request_key(c.recs, c.n, ad->billable, c.key);
  if (rc == METER_OK)
    rc = mtr_appdirect_encode_usage(ad, c.recs, c.n, c.key, &c.body);
  if (rc == METER_OK) {
    rc = mtr_exchange(be->env, &ops, &c, NULL, err);
    for (size_t i = 0; i < n; i++)
      if (batch->results[i] != c.res[owner[i]])
        copy_outcome(batch->results[i], c.res[owner[i]],
                     mtr_rec(batch->records[i], METER_FIELD_IDEMPOTENCY_KEY));
  } else {
    mtr_error_set(err, rc, "out of memory");
  }
  mtr_buf_dispose(&c.body);
  mtr_free(c.recs);
  mtr_free(c.res);
  mtr_free(owner);
  return rc;
}

const mtr_backend_ops mtr_appdirect_backend = {
  "appdirect",  settings,   create,     destroy, mtr_appdirect_validate,
  batch_key,    send_batch, aggregation,
};
