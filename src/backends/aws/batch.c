/* BatchMeterUsage (SaaS): up to 25 records of one product (or in LicenseArn
 * mode) per request. HTTP 200 is not success: every record has its own
 * result (Success, CustomerNotSubscribed, DuplicateRecord), and records the
 * service could not process come back in UnprocessedRecords -- those, and
 * only those, are sent again through the retry loop (MTR_PARTIAL). A
 * resend is safe: the service de-duplicates identical records. */
#include "aws_internal.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <string.h>

static int64_t epoch_seconds(int64_t t_us)
{
  return t_us >= 0 ? t_us / MTR_US_PER_SEC : -((-t_us + MTR_US_PER_SEC - 1) / MTR_US_PER_SEC);
}

static cJSON *encode_record(const meter_record *rec)
{
  cJSON *o = cJSON_CreateObject();
  int ok = o && mtr_json_add_int(o, "Timestamp", epoch_seconds(rec->time_us)) &&
           mtr_json_add_str(o, "CustomerIdentifier", mtr_rec(rec, METER_FIELD_CUSTOMER)) &&
           mtr_json_add_str(o, "CustomerAWSAccountId",
                            mtr_rec(rec, METER_FIELD_CUSTOMER_ACCOUNT_ID)) &&
           mtr_json_add_str(o, "LicenseArn", mtr_rec(rec, METER_FIELD_LICENSE_ARN)) &&
           mtr_json_add_str(o, "Dimension", mtr_rec(rec, METER_FIELD_DIMENSION)) &&
           mtr_json_add_int(o, "Quantity", rec->qty.value);
  if (ok && rec->nallocs) {
    cJSON *allocs = aws_encode_allocations(rec);
    ok = allocs && cJSON_AddItemToObject(o, "UsageAllocations", allocs);
    if (!ok)
      cJSON_Delete(allocs);
  }
  if (!ok) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

int aws_encode_batch(aws_backend *be, meter_record *const *records, const size_t *idx, size_t n,
                     mtr_buf *out)
{
  cJSON *o = cJSON_CreateObject();
  /* All records of a request share the product (the batch key). */
  const char *product = n ? aws_product(be, records[idx[0]]) : NULL;
  cJSON *list = NULL;
  int ok = o && mtr_json_add_str(o, "ProductCode", product) &&
           (list = cJSON_AddArrayToObject(o, "UsageRecords"));
  for (size_t k = 0; ok && k < n; k++) {
    cJSON *r = encode_record(records[idx[k]]);
    ok = r && cJSON_AddItemToArray(list, r);
    if (!ok)
      cJSON_Delete(r);
  }
  int rc = ok ? mtr_json_print(o, out) : METER_ENOMEM;
  cJSON_Delete(o);
  return rc;
}

/* What identifies a usage record in an answer: the service echoes each one
 * in Results[].UsageRecord and UnprocessedRecords[]. The key is
 * "customer\x1faccount\x1flicense\x1fdimension\x1fseconds\x1fquantity", built
 * with appends (printf was a tenth of a batch's CPU time: two keys a record). */
static void key_join(mtr_buf *k, const char *c, const char *a, const char *l, const char *d,
                     long long secs, long long q)
{
  const char *parts[] = { c ? c : "", a ? a : "", l ? l : "", d ? d : "" };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    mtr_buf_puts(k, parts[i]);
    mtr_buf_putc(k, '\x1f');
  }
  char num[MTR_I64_DEC_SIZE];
  mtr_buf_put(k, num, mtr_i64_dec(secs, num));
  mtr_buf_putc(k, '\x1f');
  mtr_buf_put(k, num, mtr_i64_dec(q, num));
}

static void key_of_record(const meter_record *rec, mtr_buf *k)
{
  key_join(k, mtr_rec(rec, METER_FIELD_CUSTOMER), mtr_rec(rec, METER_FIELD_CUSTOMER_ACCOUNT_ID),
           mtr_rec(rec, METER_FIELD_LICENSE_ARN), mtr_rec(rec, METER_FIELD_DIMENSION),
           (long long)epoch_seconds(rec->time_us), (long long)rec->qty.value);
}

static int key_of_echo(const cJSON *u, mtr_buf *k)
{
  const char *c = mtr_json_str(u, "CustomerIdentifier");
  const char *a = mtr_json_str(u, "CustomerAWSAccountId");
  const char *l = mtr_json_str(u, "LicenseArn");
  const char *d = mtr_json_str(u, "Dimension");
  const cJSON *ts = cJSON_GetObjectItemCaseSensitive(u, "Timestamp");
  int64_t q = 0;
  if (!d || !cJSON_IsNumber(ts))
    return -1;
  if (cJSON_GetObjectItemCaseSensitive(u, "Quantity") && mtr_json_int64(u, "Quantity", &q))
    return -1;
  /* Timestamps may come back with a fraction (JS SDK parses them as such). */
  double t = ts->valuedouble;
  if (!(t > -9.0e15 && t < 9.0e15)) /* no such time; and the cast below would be UB */
    return -1;
  long long secs = (long long)t;
  if ((double)secs > t)
    secs--;
  key_join(k, c, a, l, d, secs, (long long)q);
  return 0;
}

typedef struct bm_ctx {
  aws_call call;
  const mtr_batch *batch;
  size_t *idx;          /* records sent by the current attempt */
  size_t nsent;
  char **keys;          /* key_of_record per record */
  unsigned char *hit;   /* matched in the current answer */
} bm_ctx;

static int pending(const bm_ctx *c, size_t i)
{
  return c->batch->results[i]->outcome == METER_OUTCOME_PENDING;
}

static int bm_build(void *p, mtr_http_request *req, unsigned attempt, meter_error *err)
{
  bm_ctx *c = p;
  c->nsent = 0;
  for (size_t i = 0; i < c->batch->count; i++)
    if (pending(c, i))
      c->idx[c->nsent++] = i;
  if (attempt > 1)
    MTR_DEBUG(c->call.be->base.log, "AWS BatchMeterUsage: attempt %u sends %zu of %zu records",
              attempt, c->nsent, c->batch->count);
  mtr_buf body = MTR_BUF_INIT;
  int rc = aws_encode_batch(c->call.be, c->batch->records, c->idx, c->nsent, &body);
  if (rc != METER_OK) {
    mtr_buf_dispose(&body);
    return mtr_error_set(err, rc, "out of memory");
  }
  rc = aws_call_build(&c->call, req, &body, attempt, err);
  mtr_buf_dispose(&body);
  return rc;
}

static void note(bm_ctx *c, mtr_result *r, const mtr_http_response *resp)
{
  r->attempts = c->call.attempt;
  r->http_status = (int)resp->status;
  mtr_result_str(&r->request_id, c->call.request_id[0] ? c->call.request_id : NULL);
}

static void apply_status(mtr_result *r, const char *status, const char *id)
{
  if (strcmp(status, "Success") == 0)
    mtr_result_delivered(r, METER_OUTCOME_ACCEPTED, id, status);
  else if (strcmp(status, "CustomerNotSubscribed") == 0)
    mtr_result_set(r, METER_OUTCOME_REJECTED, status,
                   "CustomerNotSubscribed: the customer has no active agreement for the product "
                   "(or the id is wrong)");
  else if (strcmp(status, "DuplicateRecord") == 0)
    mtr_result_set(r, METER_OUTCOME_REJECTED, status,
                   "DuplicateRecord: a record for this customer, dimension and hour with a "
                   "different quantity was already taken");
  else
    mtr_result_set(r, METER_OUTCOME_REJECTED, status, "BatchMeterUsage result status %s", status);
  if (strcmp(status, "Success") != 0)
    mtr_result_str(&r->status, status);
}

/* The first record sent now, still pending, not yet matched, with key k. */
static long find(bm_ctx *c, const char *k)
{
  for (size_t s = 0; s < c->nsent; s++) {
    size_t i = c->idx[s];
    if (pending(c, i) && !c->hit[i] && strcmp(c->keys[i], k) == 0)
      return (long)i;
  }
  return -1;
}

static mtr_verdict decode(bm_ctx *c, const mtr_http_response *resp, meter_error *err)
{
  cJSON *j = mtr_json_parse(resp->body.ptr ? resp->body.ptr : "", resp->body.len,
                            "BatchMeterUsage answer", err);
  const cJSON *results = j ? cJSON_GetObjectItemCaseSensitive(j, "Results") : NULL;
  const cJSON *unproc = j ? cJSON_GetObjectItemCaseSensitive(j, "UnprocessedRecords") : NULL;
  if (!j || (results && !cJSON_IsArray(results)) || (unproc && !cJSON_IsArray(unproc))) {
    if (j)
      mtr_error_set(err, METER_EPROTOCOL, "BatchMeterUsage answer: Results and "
                                          "UnprocessedRecords must be arrays");
    for (size_t s = 0; s < c->nsent; s++) {
      mtr_result *r = c->batch->results[c->idx[s]];
      note(c, r, resp);
      mtr_result_set(r, METER_OUTCOME_FAILED, "bad_answer", "%s", err->message);
    }
    cJSON_Delete(j);
    return MTR_DONE;
  }
  memset(c->hit, 0, c->batch->count);
  mtr_buf k = MTR_BUF_INIT;
  const cJSON *item;
  cJSON_ArrayForEach(item, results) {
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(item, "UsageRecord");
    const char *status = mtr_json_str(item, "Status");
    mtr_buf_clear(&k);
    if (!u || !status || key_of_echo(u, &k) != 0) {
      MTR_WARN(c->call.be->base.log, "AWS BatchMeterUsage: a result without a readable "
                                     "UsageRecord or Status was ignored");
      continue;
    }
    long i = find(c, mtr_buf_cstr(&k));
    if (i < 0) {
      MTR_WARN(c->call.be->base.log, "AWS BatchMeterUsage: a result for a record that was not "
                                     "sent was ignored");
      continue;
    }
    c->hit[i] = 1;
    mtr_result *r = c->batch->results[i];
    note(c, r, resp);
    apply_status(r, status, mtr_json_str(item, "MeteringRecordId"));
  }
  size_t unprocessed = 0;
  cJSON_ArrayForEach(item, unproc) {
    mtr_buf_clear(&k);
    long i = key_of_echo(item, &k) == 0 ? find(c, mtr_buf_cstr(&k)) : -1;
    if (i >= 0) {
      c->hit[i] = 1; /* stays pending: sent again */
      note(c, c->batch->results[i], resp);
      unprocessed++;
    }
  }
  mtr_buf_dispose(&k);
  cJSON_Delete(j);

  /* A record neither in Results nor in UnprocessedRecords: if it repeats a
   * record that got a result (the service answers identical records once),
   * it shares that result; otherwise it is sent again. */
  size_t left = 0;
  for (size_t s = 0; s < c->nsent; s++) {
    size_t i = c->idx[s];
    if (!pending(c, i) || c->hit[i])
      continue;
    for (size_t t = 0; t < c->nsent; t++) {
      size_t o = c->idx[t];
      if (o != i && c->hit[o] && !pending(c, o) && strcmp(c->keys[o], c->keys[i]) == 0) {
        mtr_result *src = c->batch->results[o], *r = c->batch->results[i];
        note(c, r, resp);
        if (src->outcome == METER_OUTCOME_ACCEPTED)
          mtr_result_delivered(r, METER_OUTCOME_ACCEPTED, src->record_id, src->status);
        else
          apply_status(r, src->error_code ? src->error_code : "Unknown", NULL);
        break;
      }
    }
  }
  for (size_t s = 0; s < c->nsent; s++)
    left += pending(c, c->idx[s]);
  if (left) {
    MTR_INFO(c->call.be->base.log, "AWS BatchMeterUsage: %zu of %zu records unprocessed%s, "
                                   "sending them again", left, c->nsent,
             unprocessed == left ? "" : " or missing from the answer");
    return MTR_PARTIAL;
  }
  return MTR_DONE;
}

static mtr_verdict bm_handle(void *p, const mtr_http_response *resp, meter_error *err)
{
  bm_ctx *c = p;
  aws_error e;
  mtr_verdict v;
  switch (aws_call_classify(&c->call, resp, &e, &v, err)) {
  case AWS_ANSWER_AGAIN:
    return v;
  case AWS_ANSWER_AUTH:
    for (size_t s = 0; s < c->nsent; s++) {
      mtr_result *r = c->batch->results[c->idx[s]];
      note(c, r, resp);
      mtr_result_set(r, METER_OUTCOME_FAILED, e.code, "%s", err->message);
    }
    return MTR_DONE;
  case AWS_ANSWER_REJECTED:
    /* A request-level error refuses every record of the request (e.g.
     * TimestampOutOfBoundsException when any record is out of range). */
    for (size_t s = 0; s < c->nsent; s++) {
      mtr_result *r = c->batch->results[c->idx[s]];
      note(c, r, resp);
      mtr_result_set(r, METER_OUTCOME_REJECTED, e.code, "BatchMeterUsage: %s%s%s", e.code,
                     e.message[0] ? ": " : "", e.message);
    }
    return MTR_DONE;
  case AWS_ANSWER_OK:
    break;
  }
  return decode(c, resp, err);
}

static void bm_give_up(void *p, int status, const char *why, const mtr_http_response *last)
{
  (void)status;
  bm_ctx *c = p;
  aws_error e;
  memset(&e, 0, sizeof e);
  if (last && last->net_error == MTR_NET_OK && last->status >= 300)
    aws_parse_error(last, &e);
  for (size_t i = 0; i < c->batch->count; i++) {
    if (!pending(c, i))
      continue;
    mtr_result *r = c->batch->results[i];
    r->attempts = c->call.attempt;
    r->http_status = last && last->net_error == MTR_NET_OK ? (int)last->status : 0;
    mtr_result_set(r, METER_OUTCOME_FAILED,
                   e.code[0] ? e.code : (last && last->status == 200 ? "Unprocessed" : NULL),
                   "%s", why);
  }
}

int aws_send_batch(aws_backend *be, const mtr_batch *batch, meter_error *err)
{
  static const mtr_exchange_ops ops = { "AWS BatchMeterUsage", bm_build, bm_handle, bm_give_up,
                                        NULL };
  bm_ctx c;
  memset(&c, 0, sizeof c);
  aws_call_init(&c.call, be, "BatchMeterUsage");
  c.batch = batch;
  c.idx = mtr_calloc(batch->count, sizeof *c.idx);
  c.keys = mtr_calloc(batch->count, sizeof *c.keys);
  c.hit = mtr_calloc(batch->count, 1);
  int rc = c.idx && c.keys && c.hit ? METER_OK : METER_ENOMEM;
  for (size_t i = 0; rc == METER_OK && i < batch->count; i++) {
    mtr_buf k = MTR_BUF_INIT;
    key_of_record(batch->records[i], &k);
    if (mtr_buf_status(&k)) {
      mtr_buf_dispose(&k);
      rc = METER_ENOMEM;
    } else {
      c.keys[i] = mtr_buf_detach(&k);
    }
  }
  if (rc == METER_OK)
    rc = mtr_exchange(be->base.env, &ops, &c, NULL, err);
  else
    mtr_error_set(err, rc, "out of memory");
  for (size_t i = 0; c.keys && i < batch->count; i++)
    mtr_free(c.keys[i]);
  mtr_free(c.keys);
  mtr_free(c.idx);
  mtr_free(c.hit);
  return rc;
}
