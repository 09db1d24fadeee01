/* MeterUsage: one record per request (AMI and container products, called
 * from the buyer's instance, task or pod). The record's idempotency key is
 * the ClientToken, so every attempt -- and a resend after a restart -- is the
 * same request to the marketplace: a replay returns the first
 * MeteringRecordId instead of metering twice. */
#include "aws_internal.h"

#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <string.h>

cJSON *aws_encode_allocations(const meter_record *rec)
{
  cJSON *arr = cJSON_CreateArray();
  if (!arr)
    return NULL;
  for (size_t i = 0; i < rec->nallocs; i++) {
    const mtr_allocation *a = &rec->allocs[i];
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      goto fail;
    }
    cJSON *tags;
    if (!mtr_json_add_int(o, "AllocatedUsageQuantity", a->quantity) ||
        !(tags = cJSON_AddArrayToObject(o, "Tags")))
      goto fail;
    for (size_t t = 0; t < a->ntags; t++) {
      cJSON *tag = cJSON_CreateObject();
      if (!tag || !cJSON_AddItemToArray(tags, tag)) {
        cJSON_Delete(tag);
        goto fail;
      }
      if (!mtr_json_add_str(tag, "Key", a->keys[t]) || !mtr_json_add_str(tag, "Value", a->values[t]))
        goto fail;
    }
  }
  return arr;
fail:
  cJSON_Delete(arr);
  return NULL;
}

static int64_t epoch_seconds(int64_t t_us)
{
  return t_us >= 0 ? t_us / MTR_US_PER_SEC : -((-t_us + MTR_US_PER_SEC - 1) / MTR_US_PER_SEC);
}

int aws_encode_meter_usage(aws_backend *be, const meter_record *rec, mtr_buf *out)
{
  cJSON *o = cJSON_CreateObject();
  int ok = o && mtr_json_add_str(o, "ProductCode", aws_product(be, rec)) &&
           mtr_json_add_int(o, "Timestamp", epoch_seconds(rec->time_us)) &&
           mtr_json_add_str(o, "UsageDimension", mtr_rec(rec, METER_FIELD_DIMENSION)) &&
           mtr_json_add_int(o, "UsageQuantity", rec->qty.value) &&
           mtr_json_add_bool(o, "DryRun", mtr_record_dry_run(rec));
  if (ok && rec->nallocs) {
    cJSON *allocs = aws_encode_allocations(rec);
    ok = allocs && cJSON_AddItemToObject(o, "UsageAllocations", allocs);
    if (!ok)
      cJSON_Delete(allocs);
  }
  ok = ok && mtr_json_add_str(o, "ClientToken", mtr_rec(rec, METER_FIELD_IDEMPOTENCY_KEY));
  int rc = ok ? mtr_json_print(o, out) : METER_ENOMEM;
  cJSON_Delete(o);
  return rc;
}

typedef struct mu_ctx {
  aws_call call;
  const mtr_batch *batch;   /* one record */
} mu_ctx;

static int mu_build(void *p, mtr_http_request *req, unsigned attempt, meter_error *err)
{
  mu_ctx *c = p;
  mtr_buf body = MTR_BUF_INIT;
  int rc = aws_encode_meter_usage(c->call.be, c->batch->records[0], &body);
  if (rc != METER_OK) {
    mtr_buf_dispose(&body);
    return mtr_error_set(err, rc, "out of memory");
  }
  rc = aws_call_build(&c->call, req, &body, attempt, err);
  mtr_buf_dispose(&body);
  return rc;
}

static void note(mu_ctx *c, mtr_result *r, const mtr_http_response *resp)
{
  r->attempts = c->call.attempt;
  r->http_status = (int)resp->status;
  mtr_result_str(&r->request_id, c->call.request_id[0] ? c->call.request_id : NULL);
}

static mtr_verdict mu_handle(void *p, const mtr_http_response *resp, meter_error *err)
{
  mu_ctx *c = p;
  mtr_result *r = c->batch->results[0];
  aws_error e;
  mtr_verdict v;
  switch (aws_call_classify(&c->call, resp, &e, &v, err)) {
  case AWS_ANSWER_AGAIN:
    return v;
  case AWS_ANSWER_AUTH:
    note(c, r, resp);
    mtr_result_set(r, METER_OUTCOME_FAILED, e.code, "%s", err->message);
    return MTR_DONE;
  case AWS_ANSWER_REJECTED:
    note(c, r, resp);
    if (strcmp(e.code, "DryRunOperation") == 0) {
      /* DryRun=true: the request would have succeeded. */
      mtr_result_delivered(r, METER_OUTCOME_ACCEPTED, NULL, "DryRunOperation");
      return MTR_DONE;
    }
    mtr_result_set(r, METER_OUTCOME_REJECTED, e.code, "MeterUsage: %s%s%s", e.code,
                   e.message[0] ? ": " : "", e.message);
    return MTR_DONE;
  case AWS_ANSWER_OK:
    break;
  }
  note(c, r, resp);
  cJSON *j = mtr_json_parse(resp->body.ptr ? resp->body.ptr : "", resp->body.len,
                            "MeterUsage answer", err);
  const char *id = j ? mtr_json_str(j, "MeteringRecordId") : NULL;
  if (id) {
    mtr_result_delivered(r, METER_OUTCOME_ACCEPTED, id,
                         mtr_record_dry_run(c->batch->records[0]) ? "DryRun" : "Success");
  } else if (j && mtr_record_dry_run(c->batch->records[0])) {
    mtr_result_delivered(r, METER_OUTCOME_ACCEPTED, NULL, "DryRun");
  } else {
    /* A 200 we cannot read: the usage may well be recorded. Resending with
     * the same ClientToken is safe, so the record is FAILED, not REJECTED. */
    if (j)
      mtr_error_set(err, METER_EPROTOCOL, "MeterUsage answer has no MeteringRecordId");
    mtr_result_set(r, METER_OUTCOME_FAILED, "bad_answer", "%s", err->message);
  }
  cJSON_Delete(j);
  return MTR_DONE;
}

static void mu_give_up(void *p, int status, const char *why, const mtr_http_response *last)
{
  (void)status;
  mu_ctx *c = p;
  mtr_result *r = c->batch->results[0];
  r->attempts = c->call.attempt;
  r->http_status = last && last->net_error == MTR_NET_OK ? (int)last->status : 0;
  aws_error e;
  memset(&e, 0, sizeof e);
  if (last && last->net_error == MTR_NET_OK && last->status >= 300)
    aws_parse_error(last, &e);
  mtr_result_set(r, METER_OUTCOME_FAILED, e.code[0] ? e.code : NULL, "%s", why);
}

int aws_send_meter_usage(aws_backend *be, const mtr_batch *batch, meter_error *err)
{
  static const mtr_exchange_ops ops = { "AWS MeterUsage", mu_build, mu_handle, mu_give_up, NULL };
  int rc = METER_OK;
  /* One record per request; the batch key keeps them apart, this loop is a
   * safety net. */
  for (size_t i = 0; i < batch->count; i++) {
    mtr_batch one = { batch->records + i, batch->results + i, 1 };
    mu_ctx c;
    aws_call_init(&c.call, be, "MeterUsage");
    c.batch = &one;
    meter_error e;
    mtr_error_clear(&e);
    int st = mtr_exchange(be->base.env, &ops, &c, NULL, &e);
    if (st != METER_OK && rc == METER_OK) {
      rc = st;
      mtr_error_copy(err, &e);
    }
  }
  return rc;
}
