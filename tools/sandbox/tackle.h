/* Tackle inside the sandbox: shared between tackle.c (routes, record store)
 * and tackle_schema.c (request validation against the OpenAPI schemas). */
#ifndef SBX_TACKLE_H
#define SBX_TACKLE_H

#include "sandbox.h"

#include <stdint.h>

#define TK_NO_TIME INT64_MIN

typedef enum tk_test {
  TK_TEST_NONE = 0,
  TK_TEST_ACCEPTED,
  TK_TEST_REJECTED,
  TK_TEST_NOT_OPERABLE
} tk_test;

/* One record of a validated PUT/POST body; strings point into the parsed
 * JSON (valid while it lives). */
typedef struct tk_input {
  const char *cloud;                 /* aws | azure | gcp */
  const char *product;               /* NULL when identified by subscription */
  const char *customer;
  const char *subscription;          /* NULL when by product and customer */
  const char *dimension_name;
  const cJSON *dimension;            /* the object as sent (numbers marked) */
  const cJSON *quantity;             /* dimension.quantity */
  int zero;                          /* the quantity is zero */
  int64_t start_us, end_us, scheduled_us;  /* TK_NO_TIME when absent */
  tk_test test;
  const char *test_text;
} tk_input;

/* Validates a PUT/POST body (a JSON array of usage records) against the
 * OpenAPI request schemas. On success returns 0 and an array of n inputs
 * (caller frees with mtr_free). On failure returns -1 and a message naming
 * the field ("/0/dimension/quantity: expected integer, but got string")
 * in msg, and the JSON-schema path of the failing keyword in schema_path. */
int tk_validate(const cJSON *body, tk_input **out, size_t *n, char *msg, size_t msg_size,
                char *schema_path, size_t schema_size);

/* RFC 3339 date-time (the OpenAPI "date-time" format): date, 'T', time,
 * optional fraction, and a 'Z' or +hh:mm offset. 0 and the time in *out_us,
 * or -1. */
int tk_parse_datetime(const char *s, int64_t *out_us);

#endif
