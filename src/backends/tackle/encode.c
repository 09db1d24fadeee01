/* Records -> the body of PUT/POST /v1/metering/usage-records: a JSON array of
 * Aws/Azure/GcpUsageRecordRequest objects, keys in the schema's order,
 * quantities written exactly from their canonical decimal text, times as
 * the OpenAPI's example form 2019-07-15T15:00:00.000000+00:00. */
#include "tackle_internal.h"

#include "core/timefmt.h"

#include <string.h>

int tk_set_json_headers(mtr_http_request *req, int has_body)
{
  int rc = mtr_headers_set(&req->headers, "Accept", "application/json");
  if (has_body && rc == METER_OK)
    rc = mtr_headers_set(&req->headers, "Content-Type", "application/json");
  return rc;
}

static int add_time(cJSON *o, const char *key, int64_t us)
{
  char ts[MTR_TIME_BUF];
  return mtr_json_add_str(o, key, mtr_time_format(us, MTR_TIME_OFFSET_MICRO, ts)) ? 0 : -1;
}

static cJSON *encode_allocations(const meter_record *rec)
{
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; arr && i < rec->nallocs; i++) {
    const mtr_allocation *a = &rec->allocs[i];
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o) ||
        !mtr_json_add_int(o, "allocated_usage_quantity", a->quantity))
      goto fail;
    if (a->ntags) {
      cJSON *tags = cJSON_AddArrayToObject(o, "tags");
      if (!tags)
        goto fail;
      for (size_t t = 0; t < a->ntags; t++) {
        cJSON *tag = cJSON_CreateObject();
        if (!tag || !cJSON_AddItemToArray(tags, tag) || !mtr_json_add_str(tag, "key", a->keys[t]) ||
            !mtr_json_add_str(tag, "value", a->values[t]))
          goto fail;
      }
    }
  }
  return arr;
fail:
  cJSON_Delete(arr);
  return NULL;
}

static cJSON *encode_dimension(const meter_record *rec, const char *cloud)
{
  cJSON *d = cJSON_CreateObject();
  if (!d || !mtr_json_add_str(d, "name", mtr_rec(rec, METER_FIELD_DIMENSION)) ||
      !mtr_json_add_decimal(d, "quantity", mtr_rec(rec, METER_FIELD_QUANTITY)))
    goto fail;
  if (strcmp(cloud, "aws") == 0) {
    if (rec->nallocs) {
      cJSON *a = encode_allocations(rec);
      if (!a || !cJSON_AddItemToObject(d, "usage_allocations", a)) {
        cJSON_Delete(a);
        goto fail;
      }
    }
    if (mtr_rec(rec, METER_FIELD_DRY_RUN) && !mtr_json_add_bool(d, "dry_run", mtr_record_dry_run(rec)))
      goto fail;
  } else if (strcmp(cloud, "gcp") == 0) {
    if (!mtr_json_add_str(d, "consumer_id", mtr_rec(rec, METER_FIELD_CONSUMER_ID)))
      goto fail;
  }
  return d;
fail:
  cJSON_Delete(d);
  return NULL;
}

static cJSON *encode_one(const meter_record *rec)
{
  const char *cloud = tk_cloud(rec);
  cJSON *o = cJSON_CreateObject();
  if (!o || !mtr_json_add_str(o, "cloud", cloud))
    goto fail;
  if (mtr_rec(rec, METER_FIELD_SUBSCRIPTION_ID)) {
    if (!mtr_json_add_str(o, "subscription_id", mtr_rec(rec, METER_FIELD_SUBSCRIPTION_ID)))
      goto fail;
  } else if (!mtr_json_add_str(o, "product_id", mtr_rec(rec, METER_FIELD_PRODUCT)) ||
             !mtr_json_add_str(o, "customer_id", mtr_rec(rec, METER_FIELD_CUSTOMER))) {
    goto fail;
  }
  cJSON *d = encode_dimension(rec, cloud);
  if (!d || !cJSON_AddItemToObject(o, "dimension", d)) {
    cJSON_Delete(d);
    goto fail;
  }
  if (add_time(o, "start_time", rec->time_us))
    goto fail;
  if (mtr_rec(rec, METER_FIELD_END_TIME) && add_time(o, "end_time", rec->end_time_us))
    goto fail;
  if (mtr_rec(rec, METER_FIELD_SCHEDULED_AT) && add_time(o, "scheduled_at", rec->scheduled_at_us))
    goto fail;
  if (!mtr_json_add_str(o, "test", mtr_rec(rec, METER_FIELD_TEST)))
    goto fail;
  return o;
fail:
  cJSON_Delete(o);
  return NULL;
}

int tk_encode_records(meter_record *const *records, const size_t *idx, size_t n, mtr_buf *out)
{
  cJSON *arr = cJSON_CreateArray();
  if (!arr)
    return METER_ENOMEM;
  for (size_t k = 0; k < n; k++) {
    cJSON *o = encode_one(records[idx[k]]);
    if (!o || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      cJSON_Delete(arr);
      return METER_ENOMEM;
    }
  }
  int rc = mtr_json_print(arr, out);
  cJSON_Delete(arr);
  return rc;
}
