/* Exact decimal quantities. Quantities travel as canonical decimal strings
 * ("12", "0.25") so no value ever passes through a double. */
#ifndef MTR_DECIMAL_H
#define MTR_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct mtr_decimal_info {
  size_t int_digits;   /* significant digits before the point */
  size_t frac_digits;  /* digits after the point (after canonicalisation) */
  int is_zero;
  int is_integer;
  int fits_int64;      /* is_integer and within int64 */
  int64_t value;       /* when fits_int64 */
} mtr_decimal_info;

/*
 * Checks `s` (len bytes) is a non-negative decimal: digits, optionally '.' and
 * digits. Writes the canonical form (no leading zeros, no trailing fractional
 * zeros, no lone point) into out (size >= len + 2). 0 on success, -1 if not a
 * decimal.
 */
int mtr_decimal_canon(const char *s, size_t len, char *out, size_t out_size,
                      mtr_decimal_info *info);

/* a + b for int64 quantities; -1 on overflow. */
int mtr_add_int64(int64_t a, int64_t b, int64_t *out);

#endif
