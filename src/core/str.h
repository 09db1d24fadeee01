/* Small string helpers: encodings, comparisons, checks. */
#ifndef MTR_STR_H
#define MTR_STR_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

/* A macro's value as a string literal (a LIMIT in SQL text, say). */
#define MTR_STRINGIFY_(x) #x
#define MTR_STRINGIFY(x) MTR_STRINGIFY_(x)

/* True if s[0..len) holds a control character (< 0x20 or 0x7f). */
int mtr_has_ctl(const char *s, size_t len);

/* Case-insensitive ASCII equality. */
int mtr_streq_nocase(const char *a, const char *b);

/* RFC 3986 percent-encoding: unreserved (A-Z a-z 0-9 - _ . ~) kept, the rest
 * %XX upper-case. keep_slash leaves '/' as is (paths). */
int mtr_url_encode(mtr_buf *out, const char *s, size_t len, int keep_slash);

/* application/x-www-form-urlencoded value encoding (space as %20). */
#define mtr_form_encode(out, s, len) mtr_url_encode((out), (s), (len), 0)

int mtr_base64_encode(mtr_buf *out, const void *data, size_t len);
void mtr_hex_encode(const unsigned char *data, size_t len, char *out); /* out: 2*len+1 */

/* Trims ASCII whitespace at both ends in place; returns s. */
char *mtr_trim(char *s);

/* Copies at most size-1 bytes and always terminates (size > 0). */
void mtr_strlcpy(char *dst, const char *src, size_t size);



/* The decimal form of v into out, NUL-terminated; returns its length.
 * Without printf: it runs for every number of every record sent. */
#define MTR_I64_DEC_SIZE 21 /* "-9223372036854775808" and the NUL */
size_t mtr_i64_dec(int64_t v, char out[MTR_I64_DEC_SIZE]);

/* snprintf for messages where truncation is acceptable (and expected). */
void mtr_fmt(char *dst, size_t size, const char *fmt, ...) MTR_PRINTF(3, 4);
#endif
