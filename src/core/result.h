/* Per-record results behind the public meter_results. */
#ifndef MTR_RESULT_H
#define MTR_RESULT_H

#include "buf.h"
#include "meter/client.h"

typedef struct mtr_result {
  meter_outcome outcome;
  int http_status;
  unsigned attempts;
  char *record_id;
  char *status;
  char *error_code;
  char *message;
  char *field;
  char *idempotency_key;
  char *request_id;
  char *status_path;
} mtr_result;

struct meter_results {
  size_t count;
  mtr_result items[];
};

meter_results *mtr_results_new(size_t count);

/* Replaces a string slot of a result with a copy of v (NULL clears). */
int mtr_result_str(char **slot, const char *v);

/* Sets outcome, error code (may be NULL) and a formatted message. */
void mtr_result_set(mtr_result *r, meter_outcome outcome, const char *code, const char *fmt, ...)
  MTR_PRINTF(4, 5);

/* Marks a successful delivery. */
void mtr_result_delivered(mtr_result *r, meter_outcome outcome, const char *record_id,
                          const char *status);

#endif
