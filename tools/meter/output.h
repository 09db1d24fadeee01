/* What the command prints on stdout: one result per record, as a readable
 * table or (--json) one JSON object per line with fixed keys. Messages and
 * progress go to stderr, so stdout stays a clean stream for scripts. */
#ifndef METER_CLI_OUTPUT_H
#define METER_CLI_OUTPUT_H

#include "cli.h"
#include "record_build.h"

#include <stdio.h>

/* JSON string (with quotes) or null. */
void out_json_string(FILE *f, const char *s);
void out_json_stringn(FILE *f, const char *s, size_t len);

typedef struct out_ctx {
  FILE *f;
  int json;
  int vertical;          /* table mode for one record: "key  value" lines */
  const char *index_key; /* "line" (batch) or "index" (send) */
  int validated;         /* meter_validate results: "pending" reads "valid" */
  int header_done;
} out_ctx;

/* One record's result. `index` is the line number or the record's index. */
void out_result(out_ctx *o, long index, const meter_results *res, size_t i);
/* A line that never became a record (bad input). */
void out_bad_line(out_ctx *o, long index, const rec_error *e);

/* Counts of outcomes, for summaries and progress. */
typedef struct out_tally {
  long accepted, duplicate, rejected, conflict, failed, invalid, pending, bad_lines;
  long spooled, dead;    /* --spool: stored; stored as a dead letter (late) */
  long valid;            /* --validate-only: passed the back end's rules */
} out_tally;

void out_tally_add(out_tally *t, meter_outcome outcome);
long out_tally_total(const out_tally *t);

#endif
