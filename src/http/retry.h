/* The retry policy, the retry budget and backoff: one implementation for every
 * back end (AWS "standard" retry mode numbers, peers.md §1.1). */
#ifndef MTR_RETRY_H
#define MTR_RETRY_H

#include "core/hooks.h"
#include "core/sync.h"

#include <stdint.h>

typedef struct mtr_retry_policy {
  unsigned max_attempts;      /* including the first */
  int64_t base_us;            /* first backoff is drawn from [0, base] */
  int64_t throttle_base_us;   /* base after a throttling answer (larger) */
  int64_t max_backoff_us;     /* cap of one backoff */
  int64_t deadline_us;        /* whole operation, from its start */
} mtr_retry_policy;

#define MTR_RETRY_DEFAULT_ATTEMPTS 5
#define MTR_RETRY_DEFAULT_BASE_US INT64_C(100000)
#define MTR_RETRY_DEFAULT_THROTTLE_BASE_US INT64_C(500000)
#define MTR_RETRY_DEFAULT_MAX_BACKOFF_US INT64_C(20000000)
#define MTR_RETRY_DEFAULT_DEADLINE_US INT64_C(60000000)

void mtr_retry_policy_default(mtr_retry_policy *p);

/* What kind of failure a retry follows: it sets the budget cost. */
typedef enum mtr_retry_kind {
  MTR_RETRY_TRANSIENT,  /* 5xx, reset, partial batch */
  MTR_RETRY_THROTTLED,  /* 429 / ThrottlingException */
  MTR_RETRY_TIMEOUT     /* no answer in time */
} mtr_retry_kind;

/*
 * Retry budget, a token bucket shared by every call of a client: a retry
 * costs 5 tokens (10 after a timeout); a call that succeeds first time adds 1
 * back, one that succeeds after retries refunds what its retries cost. When
 * the bucket is empty, failures are not retried: a marketplace that is down
 * gets one attempt per call instead of a storm.
 */
#define MTR_BUDGET_CAPACITY 500
#define MTR_BUDGET_RETRY_COST 5
#define MTR_BUDGET_TIMEOUT_COST 10
#define MTR_BUDGET_SUCCESS_REFILL 1

typedef struct mtr_retry_budget {
  mtr_mutex lock;
  int tokens;
  int capacity;   /* <= 0: unlimited (budget disabled) */
} mtr_retry_budget;

void mtr_budget_init(mtr_retry_budget *b, int capacity);
void mtr_budget_dispose(mtr_retry_budget *b);
/* Takes the cost of one retry of that kind; returns the cost taken or -1. */
int mtr_budget_acquire(mtr_retry_budget *b, mtr_retry_kind kind);
/* After a successful call: refund `spent` (retries it paid for) or, if it
 * needed none, add the success refill. */
void mtr_budget_on_success(mtr_retry_budget *b, int spent);
int mtr_budget_tokens(mtr_retry_budget *b);

/* Full-jitter backoff before retry number `retry` (1 = first retry):
 * uniform in [0, min(max_backoff, base * 2^(retry-1))]. */
int64_t mtr_backoff_us(const mtr_retry_policy *p, const mtr_hooks *h, unsigned retry,
                       mtr_retry_kind kind);

/*
 * How long the server asked us to wait, from `Retry-After` (seconds or an
 * HTTP date, relative to the answer's `Date` header when present) or
 * `x-amz-retry-after` (milliseconds). -1 when absent or unreadable.
 */
int64_t mtr_retry_after_us(const char *retry_after, const char *amz_retry_after_ms,
                           const char *date_header, int64_t now_us);

#endif
