/* Fault injection: a table of {route, kind, rate, count, delay, retry_after}
 * set by --fault flags and POST /_sandbox/faults.
 *
 * Decisions are deterministic: whether the n-th request a fault examines is
 * hit depends only on the seed, the fault's id and n (a SplitMix64 hash), so
 * the same seed and the same request order give the same faults. */
#ifndef SBX_FAULTS_H
#define SBX_FAULTS_H

#include "sandbox.h"

typedef enum sbx_fault_kind {
  SBX_FAULT_ERROR500 = 0,
  SBX_FAULT_ERROR503,
  SBX_FAULT_THROTTLE,
  SBX_FAULT_SLOW,
  SBX_FAULT_RESET,
  SBX_FAULT_DROP_AFTER_APPLY,
  SBX_FAULT_UNPROCESSED,       /* aws.BatchMeterUsage only */
  SBX_FAULT_KIND_COUNT
} sbx_fault_kind;

#define SBX_SLOW_DEFAULT_MS 2000

typedef struct sbx_fault_hit {
  sbx_fault_kind kind;
  long delay_ms;       /* slow */
  long retry_after;    /* throttle: seconds, -1 when not given */
  int fault_id;
} sbx_fault_hit;

sbx_faults *sbx_faults_new(uint64_t seed);
void sbx_faults_free(sbx_faults *f);

/* Adds a fault. rate in [0,1]; count -1 = unlimited; delay_ms -1 = default;
 * retry_after -1 = none. Returns its id (>= 1), or -1 with a message in err
 * (unknown route or kind, rate out of range). */
int sbx_faults_add(sbx_faults *f, const char *route, const char *kind, double rate, long count,
                   long delay_ms, long retry_after, char *err, size_t err_size);

/* Parses a --fault flag: ROUTE:KIND[:RATE[:PARAM]] (PARAM: delay in ms for
 * slow, Retry-After seconds for throttle). */
int sbx_faults_add_spec(sbx_faults *f, const char *spec, char *err, size_t err_size);

/* Adds a fault from a JSON body of POST /_sandbox/faults. */
int sbx_faults_add_json(sbx_faults *f, const cJSON *body, char *err, size_t err_size);

void sbx_faults_clear(sbx_faults *f);

/* Whether a fault hits this request: 1 with *hit filled, else 0. Faults are
 * examined in the order they were added; the first that fires wins. */
int sbx_faults_check(sbx_faults *f, sbx_route route, sbx_fault_hit *hit);

/* The table, for GET /_sandbox/faults. */
cJSON *sbx_faults_describe(sbx_faults *f);

const char *sbx_fault_kind_name(sbx_fault_kind k);

/* The seeded hash used for every decision: uniform in [0, 1). */
double sbx_seeded_unit(uint64_t seed, uint64_t a, uint64_t b);

#endif
