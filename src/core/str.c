#include "str.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <openssl/evp.h>
#include <string.h>

int mtr_has_ctl(const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
      return 1;
  }
  return 0;
}

int mtr_streq_nocase(const char *a, const char *b)
{
  for (;; a++, b++) {
    int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
    if (ca != cb)
      return 0;
    if (!ca)
      return 1;
  }
}

int mtr_url_encode(mtr_buf *out, const char *s, size_t len, int keep_slash)
{
  static const char hex[] = "0123456789ABCDEF";
  if (mtr_buf_reserve(out, len * 3))
    return mtr_buf_status(out);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out->ptr[out->len++] = (char)c;
    } else {
      out->ptr[out->len++] = '%';
      out->ptr[out->len++] = hex[c >> 4];
      out->ptr[out->len++] = hex[c & 15];
    }
  }
  out->ptr[out->len] = '\0';
  return 0;
}

int mtr_base64_encode(mtr_buf *out, const void *data, size_t len)
{
  size_t need = 4 * ((len + 2) / 3);
  if (mtr_buf_reserve(out, need))
    return mtr_buf_status(out);
  int n = EVP_EncodeBlock((unsigned char *)out->ptr + out->len, data, (int)len);
  out->len += (size_t)n;
  out->ptr[out->len] = '\0';
  return 0;
}

void mtr_hex_encode(const unsigned char *data, size_t len, char *out)
{
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = hex[data[i] >> 4];
    out[2 * i + 1] = hex[data[i] & 15];
  }
  out[2 * len] = '\0';
}

char *mtr_trim(char *s)
{
  char *start = s;
  while (*start && isspace((unsigned char)*start))
    start++;
  size_t n = strlen(start);
  while (n > 0 && isspace((unsigned char)start[n - 1]))
    n--;
  memmove(s, start, n);
  s[n] = '\0';
  return s;
}

void mtr_strlcpy(char *dst, const char *src, size_t size)
{
  size_t n = strlen(src);
  if (n >= size)
    n = size - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

void mtr_fmt(char *dst, size_t size, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(dst, size, fmt, ap);
  va_end(ap);
}

size_t mtr_i64_dec(int64_t v, char out[MTR_I64_DEC_SIZE])
{
  char rev[20];
  size_t n = 0, len = 0;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    rev[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    out[len++] = '-';
  while (n)
    out[len++] = rev[--n];
  out[len] = '\0';
  return len;
}
