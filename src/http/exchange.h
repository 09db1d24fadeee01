/* One request/answer exchange with a marketplace, retried until it gives a
 * final answer: the single retry loop of the library. Back ends supply small
 * functions (build the request, classify the answer); the loop owns attempts,
 * backoff, the retry budget, Retry-After, the deadline and re-signing (build
 * runs before every attempt). */
#ifndef MTR_EXCHANGE_H
#define MTR_EXCHANGE_H

#include "core/log.h"
#include "http.h"
#include "meter/errors.h"
#include "retry.h"

/* What a client shares with everything that talks to the network. */
typedef struct mtr_env {
  mtr_transport *transport;
  const mtr_hooks *hooks;
  mtr_logger *log;
  mtr_retry_policy policy;
  mtr_retry_budget *budget;
  long request_timeout_ms;   /* the transport's default per request */
} mtr_env;

typedef enum mtr_verdict {
  MTR_DONE,       /* final: the handler recorded the outcome (err says if it failed) */
  MTR_RETRY,      /* transient failure (5xx): back off, build again, resend */
  MTR_THROTTLED,  /* throttled (429, ThrottlingException): back off, honour Retry-After */
  MTR_PARTIAL,    /* some items done, the rest must be resent (UnprocessedRecords) */
  MTR_REFRESH     /* credentials or clock refreshed: resend at once, no backoff */
} mtr_verdict;

typedef struct mtr_exchange_ops {
  const char *what; /* names the call in logs and messages: "AWS BatchMeterUsage" */
  /* Fills req for attempt n (1-based): encode what is still pending, add
   * credentials, sign. Runs before every attempt, so signatures are fresh.
   * A non-OK return stops the exchange with that status. */
  int (*build)(void *ctx, mtr_http_request *req, unsigned attempt, meter_error *err);
  /* Classifies an HTTP answer and, when final, records what it means. */
  mtr_verdict (*handle)(void *ctx, const mtr_http_response *resp, meter_error *err);
  /* Called once when the exchange stops before a final answer (retries,
   * budget or deadline exhausted, or a non-retryable network error): mark
   * whatever is still pending as not delivered. `last` may be NULL. */
  void (*give_up)(void *ctx, int status, const char *why, const mtr_http_response *last);
  /* For non-idempotent requests (Tackle POST): return 0 to refuse a resend
   * after a network failure that may have been applied. NULL: idempotent. */
  int (*retry_ambiguous)(void *ctx, const mtr_http_response *resp);
} mtr_exchange_ops;

typedef struct mtr_exchange_result {
  int status;               /* METER_OK, the handler's error, or why it gave up */
  unsigned attempts;        /* requests actually sent */
  long last_http_status;
} mtr_exchange_result;

int mtr_exchange(const mtr_env *env, const mtr_exchange_ops *ops, void *ctx,
                 mtr_exchange_result *result, meter_error *err);

/* Classification shared by back ends: 429 -> THROTTLED, 408/500/502/503/504
 * -> RETRY, anything else -> DONE. */
mtr_verdict mtr_classify_http_status(long status);

#endif
