/* Allocation: every allocation of the library goes through here, so tests can
 * make the n-th one fail (the curl "torture" idea) and prove each failure path
 * ends cleanly. */
#ifndef MTR_ALLOC_H
#define MTR_ALLOC_H

#include <stddef.h>

void *mtr_malloc(size_t size);
void *mtr_calloc(size_t count, size_t size);
void *mtr_realloc(void *ptr, size_t size);
void mtr_free(void *ptr);
char *mtr_strdup(const char *s);              /* NULL in, NULL out */
char *mtr_strndup(const char *s, size_t len); /* copies len bytes, adds NUL */

/* Zeroes then frees; for buffers that held secrets. */
void mtr_free_secret(void *ptr, size_t size);
void mtr_free_secret_str(char *s);

/* Test hooks: fail the allocation `n` allocations from now (n >= 1), or never
 * (n = 0). mtr_alloc_count counts allocations since the process started. */
void mtr_alloc_fail_at(long n);
long mtr_alloc_count(void);

#endif
