#include "fake_backend.h"

#include "core/alloc.h"
#include "core/error.h"
#include "json/json.h"

#include <string.h>

typedef struct fake_be {
  mtr_backend base;
} fake_be;

static const mtr_setting_spec settings[] = {
  { "token", MTR_SETTING_SECRET | MTR_SETTING_REQUIRED, "an API token" },
  { "flavour", 0, "anything" },
  { NULL, 0, NULL },
};

static int create(mtr_backend **out, const mtr_env *env, mtr_logger *log, const mtr_config *cfg,
                  meter_error *err)
{
  (void)env;
  (void)log;
  if (mtr_config_bool(cfg, "flavour", 0) < 0)
    return mtr_error_set(err, METER_ECONFIG, "flavour: must be true or false");
  fake_be *b = mtr_calloc(1, sizeof *b);
  if (!b)
    return METER_ENOMEM;
  *out = &b->base;
  return METER_OK;
}

static void destroy(mtr_backend *be)
{
  mtr_free(be);
}

static int validate(mtr_backend *be, const meter_record *rec, mtr_result *res)
{
  (void)be;
  if (!mtr_rec(rec, METER_FIELD_CUSTOMER))
    return mtr_invalid(res, METER_FIELD_CUSTOMER, "required");
  return METER_OK;
}

static int batch_key(mtr_backend *be, const meter_record *rec, mtr_buf *key, size_t *limit)
{
  (void)be;
  const char *p = mtr_rec(rec, METER_FIELD_PRODUCT);
  mtr_buf_puts(key, p ? p : "");
  *limit = 3;
  return METER_OK;
}

typedef struct call {
  const mtr_batch *batch;
  unsigned attempts;
} call;

static int build(void *p, mtr_http_request *req, unsigned attempt, meter_error *err)
{
  (void)err;
  call *c = p;
  c->attempts = attempt;
  req->method = "POST";
  mtr_buf_puts(&req->url, "http://fake.invalid/send");
  mtr_buf_putc(&req->body, '[');
  for (size_t i = 0; i < c->batch->count; i++)
    mtr_buf_printf(&req->body, "%s\"%s\"", i ? "," : "",
                   mtr_rec(c->batch->records[i], METER_FIELD_IDEMPOTENCY_KEY));
  mtr_buf_putc(&req->body, ']');
  return mtr_buf_status(&req->body);
}

/* Answer: {"outcomes":["ok","rejected","dup",...]} in batch order. */
static mtr_verdict handle(void *p, const mtr_http_response *resp, meter_error *err)
{
  call *c = p;
  mtr_verdict v = mtr_classify_http_status(resp->status);
  if (v != MTR_DONE)
    return v;
  if (resp->status == 401) {
    mtr_error_set(err, METER_EAUTH, "fake: token refused");
    return MTR_DONE;
  }
  cJSON *root = mtr_json_parse(resp->body.ptr, resp->body.len, "fake answer", err);
  cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "outcomes");
  for (size_t i = 0; i < c->batch->count; i++) {
    mtr_result *r = c->batch->results[i];
    r->attempts = c->attempts;
    r->http_status = (int)resp->status;
    cJSON *o = cJSON_GetArrayItem(arr, (int)i);
    const char *s = cJSON_IsString(o) ? o->valuestring : "";
    if (strcmp(s, "ok") == 0)
      mtr_result_delivered(r, METER_OUTCOME_ACCEPTED, "id-ok", "Success");
    else if (strcmp(s, "dup") == 0)
      mtr_result_delivered(r, METER_OUTCOME_DUPLICATE, "id-dup", "Duplicate");
    else
      mtr_result_set(r, METER_OUTCOME_REJECTED, "Nope", "fake rejected it");
  }
  cJSON_Delete(root);
  return MTR_DONE;
}

static void give_up(void *p, int status, const char *why, const mtr_http_response *last)
{
  (void)status;
  call *c = p;
  for (size_t i = 0; i < c->batch->count; i++) {
    c->batch->results[i]->attempts = c->attempts;
    c->batch->results[i]->http_status = last ? (int)last->status : 0;
    mtr_result_set(c->batch->results[i], METER_OUTCOME_FAILED, NULL, "%s", why);
  }
}

static int send_batch(mtr_backend *be, const mtr_batch *batch, meter_error *err)
{
  static const mtr_exchange_ops ops = { "fake send", build, handle, give_up, NULL };
  call c = { batch, 0 };
  return mtr_exchange(be->env, &ops, &c, NULL, err);
}

const mtr_backend_ops fake_backend_ops = {
  "fake", settings, create, destroy, validate, batch_key, send_batch, NULL,
};
