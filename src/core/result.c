#include "result.h"

#include "alloc.h"

#include <stdio.h>
#include <string.h>

meter_results *mtr_results_new(size_t count)
{
  meter_results *rs = mtr_calloc(1, sizeof *rs + count * sizeof rs->items[0]);
  if (rs)
    rs->count = count;
  return rs;
}

int mtr_result_str(char **slot, const char *v)
{
  char *copy = NULL;
  if (v && !(copy = mtr_strdup(v)))
    return -1;
  mtr_free(*slot);
  *slot = copy;
  return 0;
}

void mtr_result_set(mtr_result *r, meter_outcome outcome, const char *code, const char *fmt, ...)
{
  r->outcome = outcome;
  mtr_result_str(&r->error_code, code);
  if (fmt) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mtr_result_str(&r->message, msg);
  } else {
    mtr_result_str(&r->message, NULL);
  }
}

void mtr_result_delivered(mtr_result *r, meter_outcome outcome, const char *record_id,
                          const char *status)
{
  r->outcome = outcome;
  if (record_id)
    mtr_result_str(&r->record_id, record_id);
  if (status)
    mtr_result_str(&r->status, status);
  mtr_result_str(&r->error_code, NULL);
  mtr_result_str(&r->message, NULL);
}

static const char *const outcome_names[] = {
  "pending", "accepted", "duplicate", "rejected", "failed", "invalid", "conflict",
};

const char *meter_outcome_name(meter_outcome o)
{
  if ((unsigned)o < sizeof outcome_names / sizeof outcome_names[0])
    return outcome_names[o];
  return "unknown";
}

int meter_outcome_delivered(meter_outcome o)
{
  return o == METER_OUTCOME_ACCEPTED || o == METER_OUTCOME_DUPLICATE;
}

size_t meter_results_count(const meter_results *rs)
{
  return rs ? rs->count : 0;
}

static const mtr_result *at(const meter_results *rs, size_t i)
{
  return rs && i < rs->count ? &rs->items[i] : NULL;
}

meter_outcome meter_results_outcome(const meter_results *rs, size_t i)
{
  const mtr_result *r = at(rs, i);
  return r ? r->outcome : METER_OUTCOME_PENDING;
}

#define STR_GETTER(fn, member)                        \
  const char *fn(const meter_results *rs, size_t i)   \
  {                                                   \
    const mtr_result *r = at(rs, i);                  \
    return r ? r->member : NULL;                      \
  }

STR_GETTER(meter_results_record_id, record_id)
STR_GETTER(meter_results_status, status)
STR_GETTER(meter_results_error_code, error_code)
STR_GETTER(meter_results_message, message)
STR_GETTER(meter_results_field, field)
STR_GETTER(meter_results_idempotency_key, idempotency_key)
STR_GETTER(meter_results_request_id, request_id)
STR_GETTER(meter_results_status_path, status_path)

int meter_results_http_status(const meter_results *rs, size_t i)
{
  const mtr_result *r = at(rs, i);
  return r ? r->http_status : 0;
}

unsigned int meter_results_attempts(const meter_results *rs, size_t i)
{
  const mtr_result *r = at(rs, i);
  return r ? r->attempts : 0;
}

void meter_results_free(meter_results *rs)
{
  if (!rs)
    return;
  for (size_t i = 0; i < rs->count; i++) {
    mtr_result *r = &rs->items[i];
    mtr_free(r->record_id);
    mtr_free(r->status);
    mtr_free(r->error_code);
    mtr_free(r->message);
    mtr_free(r->field);
    mtr_free(r->idempotency_key);
    mtr_free(r->request_id);
    mtr_free(r->status_path);
  }
  mtr_free(rs);
}
