/* `meter batch` input: JSON lines, one record per line, read with bounded
 * memory. Each line is parsed by a small JSON parser that keeps numbers as
 * the text that was written, so quantities stay exact (never a double). */
#ifndef METER_CLI_JSONL_H
#define METER_CLI_JSONL_H

#include "record_build.h"

#include <stdio.h>

#define JSONL_MAX_LINE (1024 * 1024)

typedef struct line_reader {
  FILE *f;
  char *buf;
  size_t cap;
  long lineno;        /* number of the line last returned (1-based) */
} line_reader;

enum { LINE_END = 0, LINE_OK = 1, LINE_TOO_LONG = 2, LINE_ERROR = -1 };

/* Reads the next line (without its newline or a trailing CR) into r->buf.
 * Lines longer than JSONL_MAX_LINE are skipped and reported as too long. */
int line_next(line_reader *r, size_t *len);
void line_reader_dispose(line_reader *r);

/* Parses one JSON object line into the values of a record (keys: the record
 * fields' names, "allocation"/"allocations", "attribute"/"attributes").
 * Numbers for quantity and price are kept exact; a number that cannot be is
 * refused with a message to pass it as a string. Returns 0, or -1 with err. */
int jsonl_parse_line(const char *line, size_t len, rec_input *in, void **storage,
                     rec_error *err);
/* Frees what jsonl_parse_line allocated for the strings `in` points to. */
void jsonl_storage_free(void *storage);

/* Exact plain-decimal text of a JSON number ("1.5e2" -> "150"); -1 if the
 * exponent is too large to spell out. */
int jsonl_number_to_decimal(const char *num, size_t len, char *out, size_t size);

#endif
