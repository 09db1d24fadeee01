#include "retry.h"

#include "core/timefmt.h"

#include <ctype.h>
#include <stdlib.h>

void mtr_retry_policy_default(mtr_retry_policy *p)
{
  p->max_attempts = MTR_RETRY_DEFAULT_ATTEMPTS;
  p->base_us = MTR_RETRY_DEFAULT_BASE_US;
  p->throttle_base_us = MTR_RETRY_DEFAULT_THROTTLE_BASE_US;
  p->max_backoff_us = MTR_RETRY_DEFAULT_MAX_BACKOFF_US;
  p->deadline_us = MTR_RETRY_DEFAULT_DEADLINE_US;
}

void mtr_budget_init(mtr_retry_budget *b, int capacity)
{
  mtr_mutex_init(&b->lock);
  b->capacity = capacity;
  b->tokens = capacity > 0 ? capacity : 0;
}

void mtr_budget_dispose(mtr_retry_budget *b)
{
  mtr_mutex_destroy(&b->lock);
}

int mtr_budget_acquire(mtr_retry_budget *b, mtr_retry_kind kind)
{
  int cost = kind == MTR_RETRY_TIMEOUT ? MTR_BUDGET_TIMEOUT_COST : MTR_BUDGET_RETRY_COST;
  if (b->capacity <= 0)
    return 0;
  int got = -1;
  mtr_mutex_lock(&b->lock);
  if (b->tokens >= cost) {
    b->tokens -= cost;
    got = cost;
  }
  mtr_mutex_unlock(&b->lock);
  return got;
}

void mtr_budget_on_success(mtr_retry_budget *b, int spent)
{
  if (b->capacity <= 0)
    return;
  mtr_mutex_lock(&b->lock);
  b->tokens += spent > 0 ? spent : MTR_BUDGET_SUCCESS_REFILL;
  if (b->tokens > b->capacity)
    b->tokens = b->capacity;
  mtr_mutex_unlock(&b->lock);
}

int mtr_budget_tokens(mtr_retry_budget *b)
{
  mtr_mutex_lock(&b->lock);
  int t = b->tokens;
  mtr_mutex_unlock(&b->lock);
  return t;
}

int64_t mtr_backoff_us(const mtr_retry_policy *p, const mtr_hooks *h, unsigned retry,
                       mtr_retry_kind kind)
{
  int64_t base = kind == MTR_RETRY_THROTTLED ? p->throttle_base_us : p->base_us;
  int64_t cap = base;
  for (unsigned i = 1; i < retry && cap < p->max_backoff_us; i++)
    cap *= 2;
  if (cap > p->max_backoff_us)
    cap = p->max_backoff_us;
  return mtr_random_upto(h, cap);
}

int64_t mtr_retry_after_us(const char *retry_after, const char *amz_ms, const char *date_header,
                           int64_t now_us)
{
  if (amz_ms && *amz_ms) {
    char *end;
    long long ms = strtoll(amz_ms, &end, 10);
    if (*end == '\0' && ms >= 0 && ms < INT64_C(86400000))
      return (int64_t)ms * 1000;
  }
  if (!retry_after || !*retry_after)
    return -1;
  const char *p = retry_after;
  while (isspace((unsigned char)*p))
    p++;
  if (isdigit((unsigned char)*p)) {
    char *end;
    long long s = strtoll(p, &end, 10);
    while (isspace((unsigned char)*end))
      end++;
    if (*end != '\0' || s < 0 || s > 86400)
      return -1;
    return (int64_t)s * MTR_US_PER_SEC;
  }
  int64_t when, server_now = now_us;
  if (mtr_http_date_parse(p, &when) != 0)
    return -1;
  /* Measure against the server's own clock when it told us, so our clock
   * skew does not stretch or shrink the wait. */
  if (date_header)
    mtr_http_date_parse(date_header, &server_now);
  int64_t wait = when - server_now;
  return wait > 0 ? wait : 0;
}
