/* A record as JSON, for the spool: every field under its meter_field_name as a
 * string (exact: quantities never pass through a double), then
 * "allocations": [{"quantity": 3, "tags": [["k", "v"], ...]}, ...] and
 * "attributes": {"k": "v"}. Reading it back gives an equal record, with the
 * same idempotency key and time. */
#ifndef MTR_RECORD_CODEC_H
#define MTR_RECORD_CODEC_H

#include "core/buf.h"
#include "meter/errors.h"
#include "meter/record.h"

#include <cjson/cJSON.h>

/* Appends the JSON of r to out. */
int mtr_record_to_json(const meter_record *r, mtr_buf *out);

/* The same as a cJSON object (caller deletes); quantity and price as JSON
 * numbers when `numbers` (for export lines), else strings. NULL on ENOMEM. */
cJSON *mtr_record_to_cjson(const meter_record *r, int numbers);

/* Reads a record; with skip_allocations the allocations are left out (an
 * aggregate replaces them with its merged ones). On failure *out is NULL and
 * err says why (METER_EPROTOCOL for a damaged entry). */
int mtr_record_from_json(const char *json, size_t len, int skip_allocations, meter_record **out,
                         meter_error *err);

#endif
