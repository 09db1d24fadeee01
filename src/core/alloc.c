#include "alloc.h"

#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long alloc_count;
static atomic_long fail_at; /* 0 = never */

static int should_fail(void)
{
  long n = atomic_fetch_add(&alloc_count, 1) + 1;
  long f = atomic_load(&fail_at);
  return f != 0 && n == f;
}

void mtr_alloc_fail_at(long n)
{
  atomic_store(&fail_at, n > 0 ? atomic_load(&alloc_count) + n : 0);
}

long mtr_alloc_count(void)
{
  return atomic_load(&alloc_count);
}

void *mtr_malloc(size_t size)
{
  if (should_fail())
    return NULL;
  return malloc(size ? size : 1);
}

void *mtr_calloc(size_t count, size_t size)
{
  if (should_fail())
    return NULL;
  return calloc(count ? count : 1, size ? size : 1);
}

void *mtr_realloc(void *ptr, size_t size)
{
  if (should_fail())
    return NULL;
  return realloc(ptr, size ? size : 1);
}

void mtr_free(void *ptr)
{
  free(ptr);
}

char *mtr_strndup(const char *s, size_t len)
{
  if (!s)
    return NULL;
  char *copy = mtr_malloc(len + 1);
  if (!copy)
    return NULL;
  memcpy(copy, s, len);
  copy[len] = '\0';
  return copy;
}

char *mtr_strdup(const char *s)
{
  return s ? mtr_strndup(s, strlen(s)) : NULL;
}

void mtr_free_secret(void *ptr, size_t size)
{
  if (!ptr)
    return;
  OPENSSL_cleanse(ptr, size);
  free(ptr);
}

void mtr_free_secret_str(char *s)
{
  if (s)
    mtr_free_secret(s, strlen(s));
}
