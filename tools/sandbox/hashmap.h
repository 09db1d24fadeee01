/* A string-keyed hash map (separate chaining, grows at load factor 1), so
 * every lookup the sandbox does per request is O(1) however many records a
 * benchmark has stored. Not thread-safe: each marketplace guards its maps
 * with its own lock. Keys are copied; values are the caller's. */
#ifndef SBX_HASHMAP_H
#define SBX_HASHMAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct sbx_map_node sbx_map_node;

typedef struct sbx_map {
  sbx_map_node **buckets;
  size_t nbuckets;
  size_t count;
} sbx_map;

#define SBX_MAP_INIT { NULL, 0, 0 }

/* The value stored under key (len bytes), or NULL. */
void *sbx_map_get(const sbx_map *m, const char *key, size_t len);
/* Stores value under key, replacing an earlier value. 0, or -1 when out of memory. */
int sbx_map_put(sbx_map *m, const char *key, size_t len, void *value);
/* Removes key; returns its value or NULL. */
void *sbx_map_remove(sbx_map *m, const char *key, size_t len);
/* Empties the map; free_value (may be NULL) is called on every value. */
void sbx_map_clear(sbx_map *m, void (*free_value)(void *));

uint64_t sbx_hash(const void *data, size_t len);

/* NUL-terminated key variants. */
static inline void *sbx_map_gets(const sbx_map *m, const char *key)
{
  return sbx_map_get(m, key, strlen(key));
}
static inline int sbx_map_puts(sbx_map *m, const char *key, void *value)
{
  return sbx_map_put(m, key, strlen(key), value);
}

#endif
