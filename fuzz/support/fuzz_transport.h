/* A transport for the harnesses: the fuzz input is a script of HTTP answers
 * that the library receives, in order, whatever it sends. The back ends'
 * real entry points (meter_send, list, get, status, ...) then decode them,
 * so the fuzzers exercise the code production runs.
 *
 * Script format (text, so seeds are readable; any bytes are accepted):
 *   answers separated by "\n@@\n"; each answer is
 *     a status line: an HTTP status ("200"), or "!" + a letter for a network
 *       failure (!c connect, !t timeout, !r reset, !s TLS, !l too large),
 *     header lines "Name: value" (names lower-cased as the curl transport
 *       does), an empty line, then the body (to the end of the answer).
 * Requests beyond the script get a connection failure. */
#ifndef FUZZ_TRANSPORT_H
#define FUZZ_TRANSPORT_H

#include "http/http.h"

#include <stddef.h>
#include <stdint.h>

#define FUZZ_MAX_ANSWERS 64

typedef struct fuzz_answer {
  const char *text;
  size_t len;
} fuzz_answer;

typedef struct fuzz_transport {
  mtr_transport base;
  fuzz_answer answers[FUZZ_MAX_ANSWERS];
  size_t count, next;
  size_t requests;        /* requests received this run */
  /* Checks applied to every request the library sends: no control
   * character in a header value, no raw space or control in the URL. */
  int check_requests;
} fuzz_transport;

void fuzz_transport_init(fuzz_transport *t);
/* Splits data into answers (pointers into data: keep it alive). */
void fuzz_transport_load(fuzz_transport *t, const uint8_t *data, size_t size);

#endif
