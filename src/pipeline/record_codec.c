/* meter_record <-> JSON for the spool (see record_codec.h). */
#include "record_codec.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/record.h"
#include "json/json.h"

#include <string.h>

cJSON *mtr_record_to_cjson(const meter_record *r, int numbers)
{
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  int ok = 1;
  for (int f = 1; f < MTR_FIELD_COUNT && ok; f++) {
    const char *v = r->fields[f];
    const char *name = meter_field_name((meter_field)f);
    if (!v || !name)
      continue;
    if (numbers && (f == METER_FIELD_QUANTITY || f == METER_FIELD_PRICE))
      ok = mtr_json_add_decimal(o, name, v) != NULL;
    else
      ok = cJSON_AddStringToObject(o, name, v) != NULL;
  }
  if (ok && r->nallocs) {
    cJSON *arr = cJSON_AddArrayToObject(o, "allocations");
    ok = arr != NULL;
    for (size_t i = 0; ok && i < r->nallocs; i++) {
      const mtr_allocation *a = &r->allocs[i];
      cJSON *item = cJSON_CreateObject();
      cJSON *tags = item ? cJSON_AddArrayToObject(item, "tags") : NULL;
      ok = item && cJSON_AddItemToArray(arr, item) && tags &&
           mtr_json_add_int(item, "quantity", a->quantity);
      for (size_t t = 0; ok && t < a->ntags; t++) {
        const char *kv[2] = { a->keys[t], a->values[t] };
        cJSON *pair = cJSON_CreateStringArray(kv, 2);
        ok = pair && cJSON_AddItemToArray(tags, pair);
      }
    }
  }
  if (ok && r->nattrs) {
    cJSON *attrs = cJSON_AddObjectToObject(o, "attributes");
    ok = attrs != NULL;
    for (size_t i = 0; ok && i < r->nattrs; i++)
      ok = cJSON_AddStringToObject(attrs, r->attrs[i].key, r->attrs[i].value) != NULL;
  }
  if (!ok) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

int mtr_record_to_json(const meter_record *r, mtr_buf *out)
{
  cJSON *o = mtr_record_to_cjson(r, 0);
  if (!o)
    return METER_ENOMEM;
  int rc = mtr_json_print(o, out);
  cJSON_Delete(o);
  return rc;
}

static int add_allocation(meter_record *r, const cJSON *a, meter_error *err)
{
  int64_t q;
  const cJSON *tags = cJSON_GetObjectItemCaseSensitive(a, "tags");
  if (mtr_json_int64(a, "quantity", &q) != 0 || !cJSON_IsArray(tags))
    return mtr_error_set(err, METER_EPROTOCOL, "spool entry: malformed allocation");
  int n = cJSON_GetArraySize(tags);
  const char **keys = mtr_calloc((size_t)n + 1, sizeof *keys);
  const char **values = mtr_calloc((size_t)n + 1, sizeof *values);
  int rc = keys && values ? METER_OK : METER_ENOMEM;
  for (int t = 0; rc == METER_OK && t < n; t++) {
    const cJSON *pair = cJSON_GetArrayItem(tags, t);
    const cJSON *k = cJSON_GetArrayItem(pair, 0), *v = cJSON_GetArrayItem(pair, 1);
    if (!cJSON_IsString(k) || !cJSON_IsString(v))
      rc = mtr_error_set(err, METER_EPROTOCOL, "spool entry: malformed allocation tag");
    else {
      keys[t] = k->valuestring;
      values[t] = v->valuestring;
    }
  }
  if (rc == METER_OK)
    rc = meter_record_add_allocation(r, q, keys, values, (size_t)n);
  mtr_free(keys);
  mtr_free(values);
  return rc;
}

int mtr_record_from_json(const char *json, size_t len, int skip_allocations, meter_record **out,
                         meter_error *err)
{
  *out = NULL;
  cJSON *o = mtr_json_parse(json, len, "spool entry", err);
  if (!o)
    return METER_EPROTOCOL;
  meter_record *r = cJSON_IsObject(o) ? mtr_calloc(1, sizeof *r) : NULL;
  int rc = r ? METER_OK : cJSON_IsObject(o) ? METER_ENOMEM : METER_EPROTOCOL;
  for (const cJSON *it = o->child; rc == METER_OK && it; it = it->next) {
    if (strcmp(it->string, "allocations") == 0) {
      for (const cJSON *a = it->child; !skip_allocations && rc == METER_OK && a; a = a->next)
        rc = add_allocation(r, a, err);
    } else if (strcmp(it->string, "attributes") == 0) {
      for (const cJSON *a = it->child; rc == METER_OK && a; a = a->next)
        rc = cJSON_IsString(a) ? meter_record_set_attribute(r, a->string, a->valuestring)
                               : METER_EPROTOCOL;
    } else {
      meter_field f = meter_field_from_name(it->string);
      if (f && cJSON_IsString(it))
        rc = meter_record_set(r, f, it->valuestring);
      else
        rc = METER_EPROTOCOL;
      if (rc == METER_EINVAL)
        rc = mtr_error_set(err, METER_EPROTOCOL, "spool entry: %s", r->errmsg);
    }
  }
  if (rc == METER_OK && (!r->fields[METER_FIELD_TIME] || !r->fields[METER_FIELD_IDEMPOTENCY_KEY]))
    rc = METER_EPROTOCOL;
  cJSON_Delete(o);
  if (rc != METER_OK) {
    meter_record_free(r);
    if (!err || err->status == METER_OK)
      mtr_error_set(err, rc, rc == METER_ENOMEM ? "out of memory" : "spool entry: not a record");
    return rc;
  }
  *out = r;
  return METER_OK;
}
