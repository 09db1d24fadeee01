#include "aws_fetch.h"

#include "core/error.h"
#include "core/str.h"

#include <string.h>

typedef struct fetch_ctx {
  const mtr_aws_fetch_req *req;
  mtr_aws_fetch_resp *resp;
} fetch_ctx;

static int build(void *p, mtr_http_request *hr, unsigned attempt, meter_error *err)
{
  (void)attempt;
  (void)err;
  fetch_ctx *c = p;
  const mtr_aws_fetch_req *r = c->req;
  hr->method = r->method;
  hr->timeout_ms = r->timeout_ms;
  hr->connect_timeout_ms = r->timeout_ms;
  hr->body_is_secret = r->body_is_secret;
  mtr_buf_puts(&hr->url, r->url);
  if (r->body)
    mtr_buf_put(&hr->body, r->body, r->body_len);
  int rc = METER_OK;
  for (size_t i = 0; r->headers && i < r->headers->count && rc == METER_OK; i++)
    rc = mtr_headers_add(&hr->headers, r->headers->items[i].name, r->headers->items[i].value);
  if (rc == METER_OK)
    rc = mtr_buf_status(&hr->url) ? METER_ENOMEM : mtr_buf_status(&hr->body);
  return rc;
}

static mtr_verdict handle(void *p, const mtr_http_response *resp, meter_error *err)
{
  (void)err;
  fetch_ctx *c = p;
  mtr_verdict v = mtr_classify_http_status(resp->status);
  if (v != MTR_DONE)
    return v;
  c->resp->status = resp->status;
  mtr_buf_clear(&c->resp->body);
  if (resp->body.len)
    mtr_buf_put(&c->resp->body, resp->body.ptr, resp->body.len);
  const char *date = mtr_http_response_header(resp, "date");
  mtr_strlcpy(c->resp->date, date ? date : "", sizeof c->resp->date);
  return MTR_DONE;
}

static void give_up(void *p, int status, const char *why, const mtr_http_response *last)
{
  (void)status;
  (void)why;
  fetch_ctx *c = p;
  if (last) {
    c->resp->net_error = last->net_error;
    c->resp->status = last->net_error == MTR_NET_OK ? last->status : 0;
    mtr_buf_clear(&c->resp->body);
    if (last->net_error == MTR_NET_OK && last->body.len)
      mtr_buf_put(&c->resp->body, last->body.ptr, last->body.len);
  }
}

int mtr_aws_fetch(const mtr_env *base, const mtr_aws_fetch_req *req, mtr_aws_fetch_resp *resp,
                  meter_error *err)
{
  resp->status = 0;
  resp->net_error = MTR_NET_OK;
  resp->date[0] = '\0';
  mtr_buf_clear(&resp->body);

  mtr_retry_budget unlimited;
  mtr_budget_init(&unlimited, 0);
  mtr_env env = *base;
  env.budget = &unlimited;
  env.request_timeout_ms = req->timeout_ms;
  mtr_retry_policy_default(&env.policy);
  env.policy.max_attempts = req->attempts ? req->attempts : 1;
  env.policy.base_us = 100000;
  env.policy.throttle_base_us = 500000;
  env.policy.max_backoff_us = 1000000;
  env.policy.deadline_us = (int64_t)req->timeout_ms * 1000 * (env.policy.max_attempts + 1) +
                           (int64_t)env.policy.max_attempts * 1000000;

  mtr_exchange_ops ops = { req->what, build, handle, give_up, NULL };
  fetch_ctx c = { req, resp };
  int rc = mtr_exchange(&env, &ops, &c, NULL, err);
  mtr_budget_dispose(&unlimited);
  if (rc == METER_OK && resp->status == 0)
    rc = mtr_error_set(err, METER_EPROTOCOL, "%s: no answer", req->what);
  /* A 5xx that outlived the retries is still an answer for the caller to read. */
  if ((rc == METER_EUNDELIVERED || rc == METER_ETHROTTLED) && resp->status) {
    mtr_error_clear(err);
    rc = METER_OK;
  }
  return rc;
}

void mtr_aws_fetch_resp_dispose(mtr_aws_fetch_resp *r)
{
  mtr_buf_dispose_secret(&r->body);
}
