/* Turning what the user wrote (record flags, a JSON line) into a
 * meter_record through the public setters, so every value is checked by the
 * library's own rules and the error names the field. */
#ifndef METER_CLI_RECORD_BUILD_H
#define METER_CLI_RECORD_BUILD_H

#include "cli.h"

/* The values one JSON line gives (all optional). Strings are borrowed. */
typedef struct rec_input {
  const char *value[CLI_MAX_FIELDS];
  size_t len[CLI_MAX_FIELDS];
  cli_alloc *allocs;     /* owned: rec_input_dispose frees them */
  size_t nallocs;
  cli_kv *attrs;         /* owned: key and value share one allocation at key */
  size_t nattrs;
} rec_input;

void rec_input_dispose(rec_input *in);

/* Why a record could not be built: for the output and the exit status. */
typedef struct rec_error {
  char code[32];         /* "malformed_json", "unknown_key", "invalid_value", "too_long" */
  char field[32];        /* the field concerned, or "" */
  char message[320];
} rec_error;

void rec_error_set(rec_error *e, const char *code, const char *field, const char *fmt, ...)
  __attribute__((format(printf, 4, 5)));

/* Builds a record. A value given by flag wins over the line's (flags apply
 * to every line, so `--dry-run` or `--test accepted` make a whole file safe
 * to try). Allocations: the flags' if any, else the line's. Attributes:
 * both, the flag's value winning for the same key. `line` may be NULL.
 * Returns METER_OK, or an error status with err filled. */
int cli_build_record(const cli_opts *flags, const rec_input *line, meter_record **out,
                     rec_error *err);

#endif
