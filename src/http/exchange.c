#include "exchange.h"

#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <stdio.h>

mtr_verdict mtr_classify_http_status(long status)
{
  if (status == 429)
    return MTR_THROTTLED;
  if (status == 408 || status == 500 || status == 502 || status == 503 || status == 504)
    return MTR_RETRY;
  return MTR_DONE;
}

static const char *net_error_name(mtr_net_error e)
{
  switch (e) {
  case MTR_NET_CONNECT: return "could not connect";
  case MTR_NET_TIMEOUT: return "timed out";
  case MTR_NET_RESET: return "connection reset";
  case MTR_NET_TLS: return "TLS failure";
  case MTR_NET_TOO_LARGE: return "answer too large";
  case MTR_NET_OTHER: return "network error";
  case MTR_NET_OK: break;
  }
  return "ok";
}

static int status_for_net_error(mtr_net_error e)
{
  return e == MTR_NET_TIMEOUT ? METER_ETIMEOUT : METER_ETRANSPORT;
}

/* A request must not carry a control character in its URL or a header:
 * values that came from an answer (a token, an IMDS role name) could
 * otherwise split the request or forge headers. 0 if safe, else why. */
static int unsafe_request(const mtr_http_request *req, char *why, size_t size)
{
  for (const unsigned char *u = (const unsigned char *)mtr_buf_cstr(&req->url); *u; u++)
    if (*u <= ' ' || *u == 0x7f) {
      mtr_fmt(why, size, "the URL holds a blank or control character");
      return 1;
    }
  for (size_t i = 0; i < req->headers.count; i++) {
    const mtr_header *h = &req->headers.items[i];
    for (const unsigned char *v = (const unsigned char *)h->value; *v; v++)
      if ((*v < ' ' && *v != '\t') || *v == 0x7f) {
        mtr_fmt(why, size, "the %.40s header holds a control character", h->name);
        return 1;
      }
  }
  return 0;
}

int mtr_exchange(const mtr_env *env, const mtr_exchange_ops *ops, void *ctx,
                 mtr_exchange_result *result, meter_error *err)
{
  const mtr_hooks *hk = env->hooks;
  const mtr_retry_policy *pol = &env->policy;
  mtr_http_request req;
  mtr_http_response resp;
  mtr_http_request_init(&req);
  mtr_http_response_init(&resp);
  mtr_exchange_result res = { METER_OK, 0, 0 };
  meter_error local;
  if (!err)
    err = &local;
  mtr_error_clear(err);

  int64_t start = mtr_mono_us(hk);
  int64_t deadline = start + pol->deadline_us;
  unsigned retries = 0, refreshes = 0;
  int spent = 0, status = METER_OK;
  char why[METER_ERROR_MESSAGE_SIZE];

  for (;;) {
    mtr_http_request_reset(&req);
    mtr_http_response_reset(&resp);
    status = ops->build(ctx, &req, res.attempts + 1, err);
    if (status != METER_OK) {
      mtr_fmt(why, sizeof why, "%s", err->message[0] ? err->message : meter_strerror(status));
      ops->give_up(ctx, status, why, NULL);
      break;
    }
    char unsafe[96];
    if (unsafe_request(&req, unsafe, sizeof unsafe)) {
      status = METER_EPROTOCOL;
      mtr_fmt(why, sizeof why, "%s: not sent: %s", ops->what, unsafe);
      mtr_error_set(err, status, "%s", why);
      ops->give_up(ctx, status, why, NULL);
      break;
    }
    int64_t remaining = deadline - mtr_mono_us(hk);
    if (remaining < 1000) {
      status = METER_ETIMEOUT;
      mtr_fmt(why, sizeof why, "%s: deadline of %lld ms reached after %u attempt(s)", ops->what,
               (long long)(pol->deadline_us / 1000), res.attempts);
      ops->give_up(ctx, status, why, res.attempts ? &resp : NULL);
      break;
    }
    long budget_ms = (long)(remaining / 1000);
    long per_req = req.timeout_ms > 0 ? req.timeout_ms : env->request_timeout_ms;
    if (per_req <= 0 || per_req > budget_ms)
      req.timeout_ms = budget_ms;

    res.attempts++;
    status = mtr_transport_send(env->transport, &req, &resp);
    if (status != METER_OK) {
      mtr_fmt(why, sizeof why, "%s: %s", ops->what, meter_strerror(status));
      mtr_error_set(err, status, "%s", why);
      ops->give_up(ctx, status, why, NULL);
      break;
    }

    mtr_retry_kind kind;
    int64_t server_wait = -1;
    if (resp.net_error != MTR_NET_OK) {
      res.last_http_status = 0;
      MTR_DEBUG(env->log, "%s %s: %s (%s), attempt %u/%u", req.method, ops->what,
                net_error_name(resp.net_error), resp.net_message, res.attempts, pol->max_attempts);
      if (resp.net_error == MTR_NET_TLS || resp.net_error == MTR_NET_TOO_LARGE) {
        status = resp.net_error == MTR_NET_TLS ? METER_ETRANSPORT : METER_EPROTOCOL;
        mtr_fmt(why, sizeof why, "%s: %s: %s", ops->what, net_error_name(resp.net_error),
                 resp.net_message);
        mtr_error_set(err, status, "%s", why);
        ops->give_up(ctx, status, why, &resp);
        break;
      }
      if (resp.maybe_sent && ops->retry_ambiguous && !ops->retry_ambiguous(ctx, &resp)) {
        status = status_for_net_error(resp.net_error);
        mtr_fmt(why, sizeof why,
                 "%s: %s after the request was sent; it may have been applied and this "
                 "request is not idempotent, so it was not resent",
                 ops->what, net_error_name(resp.net_error));
        mtr_error_set(err, status, "%s", why);
        ops->give_up(ctx, status, why, &resp);
        break;
      }
      kind = resp.net_error == MTR_NET_TIMEOUT ? MTR_RETRY_TIMEOUT : MTR_RETRY_TRANSIENT;
    } else {
      res.last_http_status = resp.status;
      mtr_error_clear(err);
      mtr_verdict v = ops->handle(ctx, &resp, err);
      MTR_DEBUG(env->log, "%s %s: HTTP %ld, attempt %u/%u", req.method, ops->what, resp.status,
                res.attempts, pol->max_attempts);
      if (v == MTR_DONE) {
        status = err->status;
        if (status == METER_OK)
          mtr_budget_on_success(env->budget, spent);
        break;
      }
      if (v == MTR_REFRESH) {
        if (++refreshes <= 2 && res.attempts < pol->max_attempts + 2)
          continue;
        status = METER_EAUTH;
        mtr_fmt(why, sizeof why, "%s: still refused after refreshing credentials", ops->what);
        mtr_error_set(err, status, "%s", why);
        ops->give_up(ctx, status, why, &resp);
        break;
      }
      kind = v == MTR_THROTTLED ? MTR_RETRY_THROTTLED : MTR_RETRY_TRANSIENT;
      server_wait = mtr_retry_after_us(mtr_http_response_header(&resp, "retry-after"),
                                       mtr_http_response_header(&resp, "x-amz-retry-after"),
                                       mtr_http_response_header(&resp, "date"), mtr_now_us(hk));
    }

    /* A retry is due. Is one allowed? */
    const char *last = resp.net_error != MTR_NET_OK ? net_error_name(resp.net_error) : NULL;
    char lastbuf[48];
    if (!last) {
      snprintf(lastbuf, sizeof lastbuf, "HTTP %ld", resp.status);
      last = lastbuf;
    }
    int giveup_status = resp.net_error != MTR_NET_OK ? status_for_net_error(resp.net_error)
                        : kind == MTR_RETRY_THROTTLED ? METER_ETHROTTLED
                                                      : METER_EUNDELIVERED;
    if (res.attempts >= pol->max_attempts) {
      status = giveup_status;
      mtr_fmt(why, sizeof why, "%s: gave up after %u attempts (last: %s%s%s)", ops->what,
               res.attempts, last, err->message[0] ? ": " : "", err->message);
      mtr_error_set(err, status, "%s", why);
      ops->give_up(ctx, status, why, &resp);
      break;
    }
    int cost = mtr_budget_acquire(env->budget, kind);
    if (cost < 0) {
      status = giveup_status;
      mtr_fmt(why, sizeof why,
               "%s: retry budget exhausted (the marketplace has been failing), not retried "
               "(last: %s)", ops->what, last);
      mtr_error_set(err, status, "%s", why);
      ops->give_up(ctx, status, why, &resp);
      break;
    }
    spent += cost;
    retries++;
    int64_t delay = mtr_backoff_us(pol, hk, retries, kind);
    if (server_wait > delay)
      delay = server_wait;
    if (mtr_mono_us(hk) + delay >= deadline) {
      status = giveup_status;
      mtr_fmt(why, sizeof why, "%s: next retry (in %lld ms) would pass the deadline (last: %s)",
               ops->what, (long long)(delay / 1000), last);
      mtr_error_set(err, status, "%s", why);
      ops->give_up(ctx, status, why, &resp);
      break;
    }
    MTR_INFO(env->log, "%s: %s, retrying in %lld ms (attempt %u/%u)", ops->what, last,
             (long long)(delay / 1000), res.attempts + 1, pol->max_attempts);
    mtr_sleep_us(hk, delay);
  }

  res.status = status;
  if (result)
    *result = res;
  mtr_http_request_dispose(&req);
  mtr_http_response_dispose(&resp);
  return status;
}
