#include "buf.h"

#include "alloc.h"
#include "meter/errors.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

int mtr_buf_reserve(mtr_buf *b, size_t extra)
{
  if (b->oom)
    return METER_ENOMEM;
  if (b->len + extra + 1 <= b->cap && b->ptr)
    return METER_OK;
  if (extra > ((size_t)-1) / 2 - b->len) {
    b->oom = 1;
    return METER_ENOMEM;
  }
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + extra + 1)
    cap *= 2;
  char *p = mtr_realloc(b->ptr, cap);
  if (!p) {
    b->oom = 1;
    return METER_ENOMEM;
  }
  b->ptr = p;
  b->cap = cap;
  b->ptr[b->len] = '\0';
  return METER_OK;
}

int mtr_buf_put(mtr_buf *b, const void *data, size_t len)
{
  if (mtr_buf_reserve(b, len))
    return METER_ENOMEM;
  if (len)
    memcpy(b->ptr + b->len, data, len);
  b->len += len;
  b->ptr[b->len] = '\0';
  return METER_OK;
}

int mtr_buf_puts(mtr_buf *b, const char *s)
{
  return mtr_buf_put(b, s, strlen(s));
}

int mtr_buf_putc(mtr_buf *b, char c)
{
  return mtr_buf_put(b, &c, 1);
}

int mtr_buf_vprintf(mtr_buf *b, const char *fmt, va_list ap)
{
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  if (n < 0)
    return METER_EINTERNAL;
  if (mtr_buf_reserve(b, (size_t)n))
    return METER_ENOMEM;
  vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return METER_OK;
}

int mtr_buf_printf(mtr_buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int rc = mtr_buf_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}

int mtr_buf_status(const mtr_buf *b)
{
  return b->oom ? METER_ENOMEM : METER_OK;
}

const char *mtr_buf_cstr(const mtr_buf *b)
{
  return b->ptr ? b->ptr : "";
}

void mtr_buf_clear(mtr_buf *b)
{
  b->len = 0;
  if (b->ptr)
    b->ptr[0] = '\0';
}

void mtr_buf_truncate(mtr_buf *b, size_t len)
{
  if (len < b->len) {
    b->len = len;
    b->ptr[len] = '\0';
  }
}

char *mtr_buf_detach(mtr_buf *b)
{
  char *p = b->ptr;
  if (!p && !b->oom)
    p = mtr_strdup("");
  b->ptr = NULL;
  b->len = b->cap = 0;
  return p;
}

void mtr_buf_dispose(mtr_buf *b)
{
  mtr_free(b->ptr);
  b->ptr = NULL;
  b->len = b->cap = 0;
  b->oom = 0;
}

void mtr_buf_dispose_secret(mtr_buf *b)
{
  if (b->ptr)
    OPENSSL_cleanse(b->ptr, b->cap);
  mtr_buf_dispose(b);
}
