/* Small helpers shared by tests. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the three above first. */
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter.h"

/* A record from field=value pairs, e.g. rec_of("customer", "c1", "quantity", "3", NULL). */
meter_record *rec_of(const char *name, ...);

/* Reads a whole file into a malloc'd NUL-terminated string (NULL if missing). */
char *read_file(const char *path, size_t *len);

/* Log callback that appends lines to a static buffer (for secrecy checks). */
void capture_log(meter_log_level level, const char *msg, void *payload);
const char *captured_log(void);
void captured_log_clear(void);

#endif
