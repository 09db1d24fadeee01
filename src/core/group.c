#include "core/group.h"

#include "core/alloc.h"
#include "meter/errors.h"

#include <stdlib.h>
#include <string.h>

typedef struct keyed {
  const char *key;
  size_t index;
} keyed;

static int by_key_then_index(const void *pa, const void *pb)
{
  const keyed *a = pa, *b = pb;
  int c = strcmp(a->key, b->key);
  if (c)
    return c;
  return (a->index > b->index) - (a->index < b->index);
}

int mtr_group_strings(const char *const *keys, size_t n, size_t *leader, size_t *order)
{
  if (n == 0)
    return 0;
  keyed *k = mtr_calloc(n, sizeof *k);
  if (!k)
    return METER_ENOMEM;
  for (size_t i = 0; i < n; i++)
    k[i] = (keyed){ keys[i], i };
  qsort(k, n, sizeof *k, by_key_then_index);
  size_t first = 0; /* position in k where the current group starts */
  for (size_t j = 0; j < n; j++) {
    if (j > 0 && strcmp(k[j].key, k[first].key) != 0)
      first = j;
    leader[k[j].index] = k[first].index;
    if (order)
      order[j] = k[j].index;
  }
  mtr_free(k);
  return 0;
}
