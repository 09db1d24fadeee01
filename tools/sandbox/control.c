/* The control API under /_sandbox/: faults, reset, ledger and the sandbox
 * clock. Not a marketplace route: never faulted, never authenticated (the
 * sandbox listens on loopback only unless told otherwise). */
#include "sandbox.h"

#include "core/str.h"
#include "core/timefmt.h"
#include "exact_json.h"
#include "faults.h"
#include "tokens.h"

#include <string.h>

static void respond_error(sbx_response *resp, unsigned status, const char *message)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "code", status == 404 ? "not_found" : "bad_request");
  cJSON_AddStringToObject(o, "message", message);
  sbx_respond_json(resp, status, o);
  cJSON_Delete(o);
}

static void respond_ok(sbx_response *resp)
{
  sbx_respond_text(resp, 200, "application/json", "{\"ok\":true}");
}

static void faults(sbx *s, const sbx_request *req, sbx_response *resp)
{
  if (strcmp(req->method, "DELETE") == 0) {
    sbx_faults_clear(s->faults);
    respond_ok(resp);
    return;
  }
  if (strcmp(req->method, "GET") == 0) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "faults", sbx_faults_describe(s->faults));
    sbx_respond_json(resp, 200, o);
    cJSON_Delete(o);
    return;
  }
  if (strcmp(req->method, "POST") != 0) {
    respond_error(resp, 405, "use POST, GET or DELETE on /_sandbox/faults");
    return;
  }
  char err[400];
  cJSON *body = sbx_json_parse(req->body, req->body_len, NULL);
  int id = -1;
  if (!body) {
    mtr_fmt(err, sizeof err, "body is not valid JSON");
  } else if (cJSON_IsArray(body)) { /* several at once */
    const cJSON *it;
    cJSON_ArrayForEach(it, body)
    {
      if ((id = sbx_faults_add_json(s->faults, it, err, sizeof err)) < 0)
        break;
    }
  } else {
    id = sbx_faults_add_json(s->faults, body, err, sizeof err);
  }
  cJSON_Delete(body);
  if (id < 0) {
    respond_error(resp, 400, err);
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "ok", 1);
  cJSON_AddNumberToObject(o, "id", id);
  sbx_respond_json(resp, 200, o);
  cJSON_Delete(o);
}

static void reset(sbx *s, const sbx_request *req, sbx_response *resp)
{
  if (strcmp(req->method, "POST") != 0) {
    respond_error(resp, 405, "use POST on /_sandbox/reset");
    return;
  }
  sbx_faults_clear(s->faults);
  sbx_tokens_reset(s->tackle_tokens);
  sbx_tokens_reset(s->appdirect_tokens);
  sbx_tackle_reset(s->tackle);
  sbx_appdirect_reset(s->appdirect);
  sbx_aws_reset(s->aws);
  atomic_store(&s->bench_appdirect_requests, 0);
  atomic_store(&s->bench_appdirect_events, 0);
  atomic_store(&s->clock_offset_us, (long long)s->cfg.clock_offset_us);
  respond_ok(resp);
}

static void ledger(sbx *s, const sbx_request *req, sbx_response *resp)
{
  if (strcmp(req->method, "GET") != 0) {
    respond_error(resp, 405, "use GET on /_sandbox/ledger");
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON *t = cJSON_AddArrayToObject(o, "tackle");
  cJSON *a = cJSON_AddArrayToObject(o, "appdirect");
  cJSON *w = cJSON_AddArrayToObject(o, "aws");
  cJSON *b = NULL;
  if (s->cfg.bench && (b = cJSON_AddObjectToObject(o, "bench")) != NULL) {
    /* what --bench counted instead of storing */
    cJSON_AddNumberToObject(b, "appdirect_requests",
                            (double)atomic_load(&s->bench_appdirect_requests));
    cJSON_AddNumberToObject(b, "appdirect_events", (double)atomic_load(&s->bench_appdirect_events));
  }
  if (!t || !a || !w || (s->cfg.bench && !b) || sbx_tackle_ledger(s, t) != 0 ||
      sbx_appdirect_ledger(s, a) != 0 || sbx_aws_ledger(s, w) != 0) {
    cJSON_Delete(o);
    respond_error(resp, 500, "out of memory");
    return;
  }
  sbx_respond_json(resp, 200, o);
  cJSON_Delete(o);
}

/* GET: the sandbox clock. POST {"offset_ms": N} sets the offset from real
 * time; {"advance_ms": N} moves the clock forward (or back) by N. */
static void clock_route(sbx *s, const sbx_request *req, sbx_response *resp)
{
  if (strcmp(req->method, "POST") == 0) {
    cJSON *body = sbx_json_parse(req->body, req->body_len, NULL);
    int64_t v;
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(body, "offset_ms");
    const cJSON *adv = cJSON_GetObjectItemCaseSensitive(body, "advance_ms");
    if (off && sbx_json_integer(off, &v) == 0) {
      atomic_store(&s->clock_offset_us, (long long)(v * 1000));
    } else if (adv && sbx_json_integer(adv, &v) == 0) {
      atomic_fetch_add(&s->clock_offset_us, (long long)(v * 1000));
    } else {
      cJSON_Delete(body);
      respond_error(resp, 400, "body must be {\"offset_ms\": N} or {\"advance_ms\": N}");
      return;
    }
    cJSON_Delete(body);
  } else if (strcmp(req->method, "GET") != 0) {
    respond_error(resp, 405, "use GET or POST on /_sandbox/clock");
    return;
  }
  char now[64];
  int64_t t = sbx_now(s);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "now", mtr_time_format(t, MTR_TIME_RFC3339_MICRO, now));
  cJSON_AddNumberToObject(o, "now_ms", (double)(t / 1000));
  cJSON_AddNumberToObject(o, "offset_ms", (double)(atomic_load(&s->clock_offset_us) / 1000));
  sbx_respond_json(resp, 200, o);
  cJSON_Delete(o);
}

void sbx_control_handle(sbx *s, const sbx_request *req, sbx_response *resp)
{
  const char *what = req->path + strlen("/_sandbox/");
  if (strcmp(what, "faults") == 0)
    faults(s, req, resp);
  else if (strcmp(what, "reset") == 0)
    reset(s, req, resp);
  else if (strcmp(what, "ledger") == 0)
    ledger(s, req, resp);
  else if (strcmp(what, "clock") == 0)
    clock_route(s, req, resp);
  else if (strcmp(what, "health") == 0)
    respond_ok(resp);
  else
    respond_error(resp, 404, "unknown control route (faults, reset, ledger, clock, health)");
}
