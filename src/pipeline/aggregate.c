/* Hourly aggregation helpers (see aggregate.h). */
#include "aggregate.h"

#include "core/alloc.h"
#include "core/decimal.h"
#include "core/error.h"
#include "core/record.h"
#include "core/timefmt.h"
#include "json/json.h"
#include "record_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mtr_agg_ikey(const char *backend, const char *agg_key, int64_t hour_us, int revision,
                  char out[MTR_UUID_LEN + 1])
{
  mtr_buf name = MTR_BUF_INIT;
  char ts[MTR_TIME_BUF];
  mtr_buf_printf(&name, "libmeter/aggregate/v1|%s|%s|%s", backend ? backend : "",
                 agg_key ? agg_key : "", mtr_time_format(hour_us, MTR_TIME_RFC3339, ts));
  if (revision > 0)
    mtr_buf_printf(&name, "|revision=%d", revision);
  /* On allocation failure the name is empty: hash a fixed fallback that
   * still depends on every input, rather than return an error nobody can
   * act on (the buffer is tiny; this does not happen in practice). */
  if (mtr_buf_status(&name) == METER_OK) {
    mtr_uuid_from_name(name.ptr, name.len, out);
  } else {
    char fallback[512];
    int n = snprintf(fallback, sizeof fallback, "%.100s|%.300s|%lld|%d", backend ? backend : "",
                     agg_key ? agg_key : "", (long long)hour_us, revision);
    mtr_uuid_from_name(fallback, n > 0 ? (size_t)n : 0, out);
  }
  mtr_buf_dispose(&name);
}

/* One allocation while merging. */
typedef struct alloc_entry {
  int64_t quantity;
  char *tags;      /* canonical JSON of the sorted tag list: [["k","v"],...] */
} alloc_entry;

typedef struct alloc_set {
  alloc_entry *items;
  size_t count, cap;
} alloc_set;

static void set_dispose(alloc_set *s)
{
  for (size_t i = 0; i < s->count; i++)
    mtr_free(s->items[i].tags);
  mtr_free(s->items);
}

typedef struct tag {
  const char *key, *value;
} tag;

static int tag_cmp(const void *a, const void *b)
{
  const tag *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : strcmp(x->value, y->value);
}

static int entry_cmp(const void *a, const void *b)
{
  return strcmp(((const alloc_entry *)a)->tags, ((const alloc_entry *)b)->tags);
}

/* Adds `q` units for the tag list `tags_json` (canonical), merging equal sets. */
static int set_add(alloc_set *s, int64_t q, const char *tags_json)
{
  for (size_t i = 0; i < s->count; i++) {
    if (strcmp(s->items[i].tags, tags_json) == 0)
      return mtr_add_int64(s->items[i].quantity, q, &s->items[i].quantity) == 0 ? METER_OK
                                                                               : METER_EINVAL;
  }
  if (s->count == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 4;
    alloc_entry *grown = mtr_realloc(s->items, cap * sizeof *grown);
    if (!grown)
      return METER_ENOMEM;
    s->items = grown;
    s->cap = cap;
  }
  char *copy = mtr_strdup(tags_json);
  if (!copy)
    return METER_ENOMEM;
  s->items[s->count].quantity = q;
  s->items[s->count].tags = copy;
  s->count++;
  return METER_OK;
}

/* Canonical JSON of a tag list given as pairs. */
static int tags_json(tag *tags, size_t n, mtr_buf *out)
{
  qsort(tags, n, sizeof *tags, tag_cmp);
  cJSON *arr = cJSON_CreateArray();
  int ok = arr != NULL;
  for (size_t i = 0; ok && i < n; i++) {
    const char *kv[2] = { tags[i].key, tags[i].value };
    cJSON *pair = cJSON_CreateStringArray(kv, 2);
    ok = pair && cJSON_AddItemToArray(arr, pair);
  }
  int rc = ok ? mtr_json_print(arr, out) : METER_ENOMEM;
  cJSON_Delete(arr);
  return rc;
}

static int set_print(alloc_set *s, mtr_buf *out)
{
  if (s->count == 0)
    return METER_OK;
  qsort(s->items, s->count, sizeof *s->items, entry_cmp);
  mtr_buf_putc(out, '[');
  for (size_t i = 0; i < s->count; i++)
    mtr_buf_printf(out, "%s[%lld,%s]", i ? "," : "", (long long)s->items[i].quantity,
                   s->items[i].tags);
  mtr_buf_putc(out, ']');
  return mtr_buf_status(out);
}

/* Reads canonical allocations into the set. */
static int set_read(alloc_set *s, const char *allocs)
{
  if (!allocs || !*allocs)
    return METER_OK;
  cJSON *arr = cJSON_Parse(allocs);
  int rc = cJSON_IsArray(arr) ? METER_OK : METER_EPROTOCOL;
  mtr_buf tj = MTR_BUF_INIT;
  for (const cJSON *e = arr ? arr->child : NULL; rc == METER_OK && e; e = e->next) {
    int64_t q;
    const cJSON *tags = cJSON_GetArrayItem(e, 1);
    if (mtr_json_item_int64(cJSON_GetArrayItem(e, 0), &q) != 0 || !cJSON_IsArray(tags)) {
      rc = METER_EPROTOCOL;
      break;
    }
    mtr_buf_clear(&tj);
    if ((rc = mtr_json_print(tags, &tj)) == METER_OK)
      rc = set_add(s, q, mtr_buf_cstr(&tj));
  }
  mtr_buf_dispose(&tj);
  cJSON_Delete(arr);
  return rc;
}

int mtr_allocs_canonical(const meter_record *r, mtr_buf *out)
{
  alloc_set s = { NULL, 0, 0 };
  mtr_buf tj = MTR_BUF_INIT;
  int rc = METER_OK;
  for (size_t i = 0; rc == METER_OK && i < r->nallocs; i++) {
    const mtr_allocation *a = &r->allocs[i];
    tag *tags = mtr_calloc(a->ntags + 1, sizeof *tags);
    if (!tags) {
      rc = METER_ENOMEM;
      break;
    }
    for (size_t t = 0; t < a->ntags; t++)
      tags[t] = (tag){ a->keys[t], a->values[t] };
    mtr_buf_clear(&tj);
    rc = tags_json(tags, a->ntags, &tj);
    mtr_free(tags);
    if (rc == METER_OK)
      rc = set_add(&s, a->quantity, mtr_buf_cstr(&tj));
  }
  if (rc == METER_OK)
    rc = set_print(&s, out);
  mtr_buf_dispose(&tj);
  set_dispose(&s);
  return rc;
}

int mtr_allocs_merge(const char *a, const char *b, mtr_buf *out)
{
  alloc_set s = { NULL, 0, 0 };
  int rc = set_read(&s, a);
  if (rc == METER_OK)
    rc = set_read(&s, b);
  if (rc == METER_OK)
    rc = set_print(&s, out);
  set_dispose(&s);
  return rc;
}

int mtr_allocs_apply(meter_record *r, const char *allocs)
{
  if (!allocs || !*allocs)
    return METER_OK;
  cJSON *arr = cJSON_Parse(allocs);
  int rc = cJSON_IsArray(arr) ? METER_OK : METER_EPROTOCOL;
  for (const cJSON *e = arr ? arr->child : NULL; rc == METER_OK && e; e = e->next) {
    int64_t q;
    const cJSON *tags = cJSON_GetArrayItem(e, 1);
    if (mtr_json_item_int64(cJSON_GetArrayItem(e, 0), &q) != 0 || !cJSON_IsArray(tags)) {
      rc = METER_EPROTOCOL;
      break;
    }
    int n = cJSON_GetArraySize(tags);
    const char **keys = mtr_calloc((size_t)n + 1, sizeof *keys);
    const char **values = mtr_calloc((size_t)n + 1, sizeof *values);
    if (!keys || !values)
      rc = METER_ENOMEM;
    for (int t = 0; rc == METER_OK && t < n; t++) {
      const cJSON *pair = cJSON_GetArrayItem(tags, t);
      const cJSON *k = cJSON_GetArrayItem(pair, 0), *v = cJSON_GetArrayItem(pair, 1);
      if (!cJSON_IsString(k) || !cJSON_IsString(v))
        rc = METER_EPROTOCOL;
      else {
        keys[t] = k->valuestring;
        values[t] = v->valuestring;
      }
    }
    if (rc == METER_OK)
      rc = meter_record_add_allocation(r, q, keys, values, (size_t)n);
    mtr_free(keys);
    mtr_free(values);
  }
  cJSON_Delete(arr);
  return rc;
}

int mtr_unit_render(const mtr_unit *u, const char *backend, meter_record **out, meter_error *err)
{
  *out = NULL;
  int summed = u->kind == METER_SPOOL_AGGREGATE || (u->kind == METER_SPOOL_LATE && u->agg_key);
  meter_record *r;
  int rc = mtr_record_from_json(u->body, strlen(u->body), summed, &r, err);
  if (rc != METER_OK)
    return rc;
  if (summed) {
    /* A LATE unit keeps the key of the record (or revision) it stands for. */
    char key[MTR_UUID_LEN + 1];
    const char *ikey = u->ikey;
    if (u->kind == METER_SPOOL_AGGREGATE) {
      mtr_agg_ikey(backend, u->agg_key, u->time_us, u->revision, key);
      ikey = key;
      rc = meter_record_set_time_us(r, u->time_us);
    }
    if (rc == METER_OK)
      rc = meter_record_set(r, METER_FIELD_IDEMPOTENCY_KEY, ikey);
    if (rc == METER_OK)
      rc = meter_record_set_quantity(r, u->quantity);
    if (rc == METER_OK)
      rc = mtr_allocs_apply(r, u->allocs);
    if (rc != METER_OK) {
      meter_record_free(r);
      return mtr_error_set(err, rc == METER_ENOMEM ? rc : METER_EPROTOCOL,
                           "spool entry %lld: cannot rebuild the aggregate", (long long)u->id);
    }
  }
  *out = r;
  return METER_OK;
}
