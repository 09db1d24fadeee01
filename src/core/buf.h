/* A growable byte buffer, always NUL-terminated. An allocation failure is
 * sticky: later appends do nothing and the final check reports ENOMEM, so
 * builders can append freely and check once. */
#ifndef MTR_BUF_H
#define MTR_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct mtr_buf {
  char *ptr;
  size_t len;
  size_t cap;
  int oom;
} mtr_buf;

#define MTR_BUF_INIT { NULL, 0, 0, 0 }

#if defined(__GNUC__)
# define MTR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
# define MTR_PRINTF(f, a)
#endif

int mtr_buf_reserve(mtr_buf *b, size_t extra);          /* 0 or METER_ENOMEM */
int mtr_buf_put(mtr_buf *b, const void *data, size_t len);
int mtr_buf_puts(mtr_buf *b, const char *s);
int mtr_buf_putc(mtr_buf *b, char c);
int mtr_buf_printf(mtr_buf *b, const char *fmt, ...) MTR_PRINTF(2, 3);
int mtr_buf_vprintf(mtr_buf *b, const char *fmt, va_list ap) MTR_PRINTF(2, 0);
int mtr_buf_status(const mtr_buf *b);                   /* METER_ENOMEM after a failure */
const char *mtr_buf_cstr(const mtr_buf *b);             /* "" when empty */
void mtr_buf_clear(mtr_buf *b);                         /* length 0, keeps memory */
void mtr_buf_truncate(mtr_buf *b, size_t len);
char *mtr_buf_detach(mtr_buf *b);                       /* caller frees with mtr_free */
void mtr_buf_dispose(mtr_buf *b);
void mtr_buf_dispose_secret(mtr_buf *b);                /* zeroes the memory first */

#endif
