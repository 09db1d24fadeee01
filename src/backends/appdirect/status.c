/* The processing status of a usage request (include/meter/appdirect.h):
 * GET {base}/api/integration/v2/billing/usage/requests/{requestId}, polling
 * until a final state, and mapping failedUsages back to records by eventId. */
#include "appdirect_int.h"

#include "api/client.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <string.h>

#define MAX_REQUEST_ID 200
#define DEFAULT_POLL_US (1000 * INT64_C(1000))
#define MAX_POLL_US (30 * MTR_US_PER_SEC)

/* ---- states ------------------------------------------------------------- */

int meter_appdirect_state_is_final(meter_appdirect_state state)
{
  return state == METER_APPDIRECT_STATE_SUCCESSFUL || state == METER_APPDIRECT_STATE_FAILED ||
         state == METER_APPDIRECT_STATE_READY;
}

const char *meter_appdirect_state_name(meter_appdirect_state state)
{
  switch (state) {
  case METER_APPDIRECT_STATE_PROCESSING: return "processing";
  case METER_APPDIRECT_STATE_SUCCESSFUL: return "successful";
  case METER_APPDIRECT_STATE_FAILED: return "failed";
  case METER_APPDIRECT_STATE_READY: return "ready";
  case METER_APPDIRECT_STATE_UNKNOWN: break;
  }
  return "unknown";
}

/* ---- one query ---------------------------------------------------------- */

/* A requestId, or the status path AppDirect returned (queryUsageStatus),
 * also as an absolute URL: only the id is kept, the query goes to the
 * client's own marketplace (its token never goes anywhere else). */
static int request_id_of(const char *request, char *id, meter_error *err)
{
  if (!request || !*request)
    return mtr_error_set(err, METER_EINVAL, "no AppDirect request id or status path given");
  const char *v = request;
  size_t plen = strlen(MTR_APPDIRECT_STATUS_PREFIX);
  if (strncmp(v, "https://", 8) == 0 || strncmp(v, "http://", 7) == 0) {
    const char *path = strchr(strstr(v, "://") + 3, '/');
    v = path ? path : "";
  }
  if (*v == '/') {
    if (strncmp(v, MTR_APPDIRECT_STATUS_PREFIX, plen) != 0)
      return mtr_error_set(err, METER_EINVAL,
                           "'%.80s' is not an AppDirect status path (%s<requestId>)", request,
                           MTR_APPDIRECT_STATUS_PREFIX);
    v += plen;
  }
  size_t n = strlen(v);
  if (n == 0 || n > MAX_REQUEST_ID || mtr_has_ctl(v, n) || strpbrk(v, "/?#% "))
    return mtr_error_set(err, METER_EINVAL, "'%.80s' is not an AppDirect request id", request);
  memcpy(id, v, n + 1);
  return METER_OK;
}

typedef struct status_call {
  mtr_appdirect *ad;
  const char *id;
  meter_appdirect_status *st;
  mtr_appdirect_auth auth;
} status_call;

static int status_build(void *p, mtr_http_request *req, unsigned attempt, meter_error *err)
{
  (void)attempt;
  status_call *c = p;
  req->method = "GET";
  mtr_buf path = MTR_BUF_INIT;
  mtr_buf_puts(&path, MTR_APPDIRECT_STATUS_PREFIX);
  mtr_url_encode(&path, c->id, strlen(c->id), 0);
  int rc = mtr_buf_status(&path);
  if (rc == METER_OK)
    rc = mtr_url_join(&req->url, c->ad->base_url, mtr_buf_cstr(&path));
  mtr_buf_dispose(&path);
  if (rc == METER_OK)
    rc = mtr_headers_set(&req->headers, "Accept", "application/json");
  if (rc != METER_OK)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  return mtr_appdirect_authorize(c->ad, req, &c->auth, err);
}

static mtr_verdict status_handle(void *p, const mtr_http_response *resp, meter_error *err)
{
  status_call *c = p;
  long s = resp->status;
  if (s == 401)
    return mtr_appdirect_unauthorized(c->ad, &c->auth, "AppDirect status query", err);
  mtr_verdict v = mtr_classify_http_status(s);
  if (v != MTR_DONE)
    return v;
  if (s == 200) {
    if (mtr_appdirect_decode_status(resp->body.ptr, resp->body.len, &c->st, err) == METER_OK &&
        !c->st->request_id && !(c->st->request_id = mtr_strdup(c->id)))
      mtr_error_set(err, METER_ENOMEM, "out of memory");
    return MTR_DONE;
  }
  mtr_appdirect_answer a;
  mtr_appdirect_answer_read(resp, &a);
  const char *m = a.message ? a.message : "";
  if (s == 404)
    mtr_error_set(err, METER_ENOTFOUND,
                  "AppDirect has no usage request '%s' at %s%s%s (a request of another "
                  "marketplace, or a wrong base_url?)",
                  c->id, c->ad->base_url, *m ? ": " : "", m);
  else if (s == 403)
    mtr_error_set(err, METER_EAUTH,
                  "AppDirect status query: HTTP 403%s%s: the credentials (scope %s) may not "
                  "read this request",
                  *m ? ": " : "", m, c->ad->scope);
  else
    mtr_error_set(err, METER_EPROTOCOL, "AppDirect status query: unexpected HTTP %ld %s%s%s", s,
                  a.code ? a.code : "", *m ? ": " : "", m);
  mtr_appdirect_answer_dispose(&a);
  return MTR_DONE;
}

static void status_give_up(void *p, int status, const char *why, const mtr_http_response *last)
{
  (void)p;
  (void)status;
  (void)why;
  (void)last; /* nothing to mark: the error reaches the caller */
}

static int fetch_status(mtr_appdirect *ad, const char *id, meter_appdirect_status **out,
                        meter_error *err)
{
  static const mtr_exchange_ops ops = { "AppDirect status query", status_build, status_handle,
                                        status_give_up, NULL };
  status_call c = { ad, id, NULL, { 0, 0 } };
  int rc = mtr_exchange(ad->base.env, &ops, &c, NULL, err);
  if (rc != METER_OK) {
    meter_appdirect_status_free(c.st);
    return rc;
  }
  *out = c.st;
  return METER_OK;
}

static mtr_appdirect *appdirect_of(meter_client *client, const char *function)
{
  return (mtr_appdirect *)mtr_client_backend_as(client, "appdirect", function);
}

int meter_appdirect_status_get(meter_appdirect_status **out, meter_client *client,
                               const char *request)
{
  if (out)
    *out = NULL;
  if (!out || !client)
    return METER_EINVAL;
  mtr_appdirect *ad = appdirect_of(client, __func__);
  if (!ad)
    return METER_EUNSUPPORTED;
  char id[MAX_REQUEST_ID + 1];
  meter_error err;
  mtr_error_clear(&err);
  int rc = request_id_of(request, id, &err);
  if (rc == METER_OK)
    rc = fetch_status(ad, id, out, &err);
  return rc == METER_OK ? METER_OK : mtr_client_fail(client, &err);
}

int meter_appdirect_status_wait(meter_appdirect_status **out, meter_client *client,
                                const char *request, long timeout_ms, long poll_interval_ms)
{
  if (out)
    *out = NULL;
  if (!out || !client || timeout_ms < 0 || poll_interval_ms < 0)
    return METER_EINVAL;
  mtr_appdirect *ad = appdirect_of(client, __func__);
  if (!ad)
    return METER_EUNSUPPORTED;
  char id[MAX_REQUEST_ID + 1];
  meter_error err;
  mtr_error_clear(&err);
  int rc = request_id_of(request, id, &err);
  if (rc != METER_OK)
    return mtr_client_fail(client, &err);

  const mtr_hooks *hooks = ad->base.env->hooks;
  int64_t deadline = mtr_mono_us(hooks) + (int64_t)timeout_ms * 1000;
  int64_t interval = poll_interval_ms > 0 ? (int64_t)poll_interval_ms * 1000 : DEFAULT_POLL_US;
  unsigned polls = 0;
  for (;;) {
    meter_appdirect_status *st = NULL;
    rc = fetch_status(ad, id, &st, &err);
    if (rc != METER_OK) {
      meter_appdirect_status_free(*out);
      *out = NULL;
      return mtr_client_fail(client, &err);
    }
    polls++;
    meter_appdirect_status_free(*out);
    *out = st;
    if (meter_appdirect_state_is_final(st->state))
      return METER_OK;
    int64_t left = deadline - mtr_mono_us(hooks);
    if (left <= 0)
      return mtr_client_failf(client, METER_ETIMEOUT,
                              "AppDirect request %s still %s after %ld ms (%u queries)", id,
                              st->status, timeout_ms, polls);
    MTR_DEBUG(ad->base.log, "AppDirect request %s is %s; next query in %lld ms", id, st->status,
              (long long)((interval < left ? interval : left) / 1000));
    mtr_sleep_us(hooks, interval < left ? interval : left);
    interval = interval * 2 < MAX_POLL_US ? interval * 2 : MAX_POLL_US;
  }
}

/* ---- the status object -------------------------------------------------- */

void meter_appdirect_status_free(meter_appdirect_status *st)
{
  if (!st)
    return;
  for (size_t i = 0; i < st->nfailures; i++) {
    mtr_free(st->failures[i].account_id);
    mtr_free(st->failures[i].event_id);
    mtr_free(st->failures[i].error_code);
    mtr_free(st->failures[i].error_description);
  }
  mtr_free(st->failures);
  mtr_free(st->status);
  mtr_free(st->request_id);
  mtr_free(st->idempotency_key);
  mtr_free(st);
}

meter_appdirect_state meter_appdirect_status_state(const meter_appdirect_status *st)
{
  return st ? st->state : METER_APPDIRECT_STATE_UNKNOWN;
}

const char *meter_appdirect_status_string(const meter_appdirect_status *st)
{
  return st ? st->status : NULL;
}

const char *meter_appdirect_status_request_id(const meter_appdirect_status *st)
{
  return st ? st->request_id : NULL;
}

const char *meter_appdirect_status_idempotency_key(const meter_appdirect_status *st)
{
  return st ? st->idempotency_key : NULL;
}

int64_t meter_appdirect_status_total_count(const meter_appdirect_status *st)
{
  return st ? st->total : -1;
}

int64_t meter_appdirect_status_processed_count(const meter_appdirect_status *st)
{
  return st ? st->processed : -1;
}

int64_t meter_appdirect_status_failed_count(const meter_appdirect_status *st)
{
  return st ? st->failed : -1;
}

size_t meter_appdirect_status_failed_usage_count(const meter_appdirect_status *st)
{
  return st ? st->nfailures : 0;
}

static const mtr_appdirect_failed_usage *failure_at(const meter_appdirect_status *st, size_t i)
{
  return st && i < st->nfailures ? &st->failures[i] : NULL;
}

const char *meter_appdirect_status_failed_account_id(const meter_appdirect_status *st, size_t i)
{
  const mtr_appdirect_failed_usage *f = failure_at(st, i);
  return f ? f->account_id : NULL;
}

const char *meter_appdirect_status_failed_event_id(const meter_appdirect_status *st, size_t i)
{
  const mtr_appdirect_failed_usage *f = failure_at(st, i);
  return f ? f->event_id : NULL;
}

const char *meter_appdirect_status_failed_error_code(const meter_appdirect_status *st, size_t i)
{
  const mtr_appdirect_failed_usage *f = failure_at(st, i);
  return f ? f->error_code : NULL;
}

const char *meter_appdirect_status_failed_error_description(const meter_appdirect_status *st,
                                                            size_t i)
{
  const mtr_appdirect_failed_usage *f = failure_at(st, i);
  return f ? f->error_description : NULL;
}

/* ---- events and records ------------------------------------------------- */

meter_appdirect_state meter_appdirect_status_event(const meter_appdirect_status *st,
                                                   const char *event_id, const char **error_code,
                                                   const char **error_description)
{
  if (error_code)
    *error_code = NULL;
  if (error_description)
    *error_description = NULL;
  if (!st || !event_id)
    return METER_APPDIRECT_STATE_UNKNOWN;
  for (size_t i = 0; i < st->nfailures; i++) {
    const mtr_appdirect_failed_usage *f = &st->failures[i];
    if (f->event_id && strcmp(f->event_id, event_id) == 0) {
      if (error_code)
        *error_code = f->error_code;
      if (error_description)
        *error_description = f->error_description;
      return METER_APPDIRECT_STATE_FAILED;
    }
  }
  if (st->state == METER_APPDIRECT_STATE_FAILED) {
    /* Not listed: processed, if the list names every failure. */
    int complete = st->failed < 0 || (uint64_t)st->failed <= st->nfailures;
    return complete ? METER_APPDIRECT_STATE_SUCCESSFUL : METER_APPDIRECT_STATE_UNKNOWN;
  }
  return st->state;
}

int meter_appdirect_status_apply(meter_results *results, size_t *updated,
                                 const meter_appdirect_status *st)
{
  if (updated)
    *updated = 0;
  if (!results || !st)
    return METER_EINVAL;
  size_t changed = 0;
  int rc = METER_OK;
  for (size_t i = 0; i < results->count; i++) {
    mtr_result *r = &results->items[i];
    if (!meter_outcome_delivered(r->outcome) || !r->request_id || !st->request_id ||
        strcmp(r->request_id, st->request_id) != 0 || !r->idempotency_key)
      continue;
    const char *code, *desc;
    meter_appdirect_state s = meter_appdirect_status_event(st, r->idempotency_key, &code, &desc);
    if (s == METER_APPDIRECT_STATE_FAILED) {
      mtr_result_set(r, METER_OUTCOME_REJECTED, code ? code : "FAILED", "%s",
                     desc ? desc : "AppDirect could not process this event");
      if (mtr_result_str(&r->status, "FAILED") ||
          mtr_result_str(&r->field, meter_field_name(mtr_appdirect_field_in_message(desc))))
        rc = METER_ENOMEM;
      changed++;
    } else if (s == METER_APPDIRECT_STATE_SUCCESSFUL || s == METER_APPDIRECT_STATE_READY) {
      const char *name = s == METER_APPDIRECT_STATE_READY ? "READY" : "SUCCESSFUL";
      if (!r->status || strcmp(r->status, name) != 0) {
        if (mtr_result_str(&r->status, name))
          rc = METER_ENOMEM;
        changed++;
      }
    }
  }
  if (updated)
    *updated = changed;
  return rc;
}
