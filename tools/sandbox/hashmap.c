#include "hashmap.h"

#include "core/alloc.h"

struct sbx_map_node {
  sbx_map_node *next;
  uint64_t hash;
  void *value;
  size_t len;
  char key[]; /* len bytes + NUL */
};

/* FNV-1a, 64 bit: keys come from our own clients on loopback, so a simple
 * fast hash is enough (no hash-flooding concern). */
uint64_t sbx_hash(const void *data, size_t len)
{
  const unsigned char *p = data;
  uint64_t h = UINT64_C(14695981039346656037);
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= UINT64_C(1099511628211);
  }
  return h;
}

static sbx_map_node **slot(const sbx_map *m, const char *key, size_t len, uint64_t h)
{
  sbx_map_node **pp = &m->buckets[h & (m->nbuckets - 1)];
  while (*pp && !((*pp)->hash == h && (*pp)->len == len && memcmp((*pp)->key, key, len) == 0))
    pp = &(*pp)->next;
  return pp;
}

void *sbx_map_get(const sbx_map *m, const char *key, size_t len)
{
  if (!m->buckets)
    return NULL;
  sbx_map_node *n = *slot(m, key, len, sbx_hash(key, len));
  return n ? n->value : NULL;
}

static int grow(sbx_map *m)
{
  size_t nb = m->nbuckets ? m->nbuckets * 2 : 64;
  sbx_map_node **b = mtr_calloc(nb, sizeof *b);
  if (!b)
    return -1;
  for (size_t i = 0; i < m->nbuckets; i++) {
    sbx_map_node *n = m->buckets[i];
    while (n) {
      sbx_map_node *next = n->next;
      n->next = b[n->hash & (nb - 1)];
      b[n->hash & (nb - 1)] = n;
      n = next;
    }
  }
  mtr_free(m->buckets);
  m->buckets = b;
  m->nbuckets = nb;
  return 0;
}

int sbx_map_put(sbx_map *m, const char *key, size_t len, void *value)
{
  if (m->count >= m->nbuckets && grow(m) != 0 && !m->buckets)
    return -1;
  uint64_t h = sbx_hash(key, len);
  sbx_map_node **pp = slot(m, key, len, h);
  if (*pp) {
    (*pp)->value = value;
    return 0;
  }
  sbx_map_node *n = mtr_malloc(sizeof *n + len + 1);
  if (!n)
    return -1;
  n->next = NULL;
  n->hash = h;
  n->value = value;
  n->len = len;
  memcpy(n->key, key, len);
  n->key[len] = '\0';
  *pp = n;
  m->count++;
  return 0;
}

void *sbx_map_remove(sbx_map *m, const char *key, size_t len)
{
  if (!m->buckets)
    return NULL;
  sbx_map_node **pp = slot(m, key, len, sbx_hash(key, len));
  sbx_map_node *n = *pp;
  if (!n)
    return NULL;
  void *v = n->value;
  *pp = n->next;
  mtr_free(n);
  m->count--;
  return v;
}

void sbx_map_clear(sbx_map *m, void (*free_value)(void *))
{
  for (size_t i = 0; i < m->nbuckets; i++) {
    sbx_map_node *n = m->buckets[i];
    while (n) {
      sbx_map_node *next = n->next;
      if (free_value)
        free_value(n->value);
      mtr_free(n);
      n = next;
    }
  }
  mtr_free(m->buckets);
  m->buckets = NULL;
  m->nbuckets = 0;
  m->count = 0;
}
