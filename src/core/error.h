/* Error detail: the public meter_error is used internally too, so a message
 * written deep in a back end reaches the caller unchanged. */
#ifndef MTR_ERROR_H
#define MTR_ERROR_H

#include "buf.h"
#include "meter/errors.h"

/* Sets err (may be NULL) and returns status, so `return mtr_error_set(...)`. */
int mtr_error_set(meter_error *err, int status, const char *fmt, ...) MTR_PRINTF(3, 4);
void mtr_error_clear(meter_error *err);
/* Copies src into dst (either may be NULL). */
void mtr_error_copy(meter_error *dst, const meter_error *src);

#endif
