/* Hourly aggregation, the pure part: hours, the deterministic idempotency key
 * of an aggregate, allocations in canonical form and their merge, and turning
 * a stored unit back into the record that is sent. The store applies these
 * inside its transactions (store_sqlite.c); a PostgreSQL store reuses them.
 *
 * Canonical allocations: a JSON array [[quantity, [[key, value], ...]], ...]
 * with each tag list sorted (key, then value) and the entries sorted by tag
 * list, so equal tag sets compare equal as text and merge by summing. */
#ifndef MTR_AGGREGATE_H
#define MTR_AGGREGATE_H

#include "core/buf.h"
#include "core/uuid.h"
#include "meter/errors.h"
#include "meter/record.h"
#include "store.h"

#include <stdint.h>

/* The idempotency key of the aggregate of `agg_key` in the hour starting at
 * hour_us, for back end `backend`; revision > 0 for a replacement report
 * (Tackle PUT with a new total). Always the same for the same inputs, so a
 * resend after a restart carries the same key. */
void mtr_agg_ikey(const char *backend, const char *agg_key, int64_t hour_us, int revision,
                  char out[MTR_UUID_LEN + 1]);

/* The record's allocations in canonical form into out ("" when it has none). */
int mtr_allocs_canonical(const meter_record *r, mtr_buf *out);

/* a + b (canonical, either may be NULL or "") into out, canonical: quantities
 * of identical tag sets are summed. METER_EINVAL on overflow, METER_EPROTOCOL
 * if an input is malformed. */
int mtr_allocs_merge(const char *a, const char *b, mtr_buf *out);

/* Adds canonical allocations to r. */
int mtr_allocs_apply(meter_record *r, const char *allocs);

/* The record a unit stands for: a RECORD's own; an AGGREGATE's template with
 * the summed quantity, the start of the hour, the merged allocations and the
 * derived key (of its current revision); a LATE one's record with its
 * quantity. */
int mtr_unit_render(const mtr_unit *u, const char *backend, meter_record **out, meter_error *err);

#endif
