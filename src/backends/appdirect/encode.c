/* The usage request (MeteredUsageRequest) and its idempotency key.
 *
 *   {"idempotencyKey":"...","billable":true,["requestGroupId":...,]
 *    ["subscriptionId"|"vendorId":...,]
 *    "usages":[{"accountId":"A","usageList":[{"eventId":...,"eventDate":...,
 *      "pricingUnit":"USER"|null,"customUnit":null|"...","quantity":10,
 *      "unitPrice":null|12.5,"currency":"EUR"|"","description":...,
 *      "attributes":{...}}]}]}
 *
 * Units and prices are written like AppDirect's own examples: the unused
 * unit and the unused price are null; numbers are exact decimals. */
#include "appdirect_int.h"

#include "core/alloc.h"
#include "core/group.h"
#include "core/timefmt.h"
#include "json/json.h"

#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int mtr_appdirect_request_key(meter_record *const *recs, size_t n, int billable,
                              char out[MTR_UUID_LEN + 1])
{
  const char **ids = mtr_calloc(n ? n : 1, sizeof *ids);
  if (!ids)
    return METER_ENOMEM;
  for (size_t i = 0; i < n; i++)
    ids[i] = mtr_rec(recs[i], METER_FIELD_IDEMPOTENCY_KEY);
  /* The order of records must not matter: the same events are the same request. */
  qsort(ids, n, sizeof *ids, cmp_str);
  mtr_buf name = MTR_BUF_INIT;
  mtr_buf_printf(&name, "libmeter appdirect usage v2\nbillable=%s\n", billable ? "true" : "false");
  for (size_t i = 0; i < n; i++) {
    mtr_buf_puts(&name, ids[i]);
    mtr_buf_putc(&name, '\n');
  }
  mtr_free(ids);
  int rc = mtr_buf_status(&name);
  if (rc == METER_OK)
    mtr_uuid_from_name(name.ptr, name.len, out);
  mtr_buf_dispose(&name);
  return rc;
}

static int add_event(cJSON *list, const meter_record *r)
{
  char when[MTR_TIME_BUF];
  const char *pricing_unit = mtr_rec(r, METER_FIELD_PRICING_UNIT);
  const char *currency = mtr_rec(r, METER_FIELD_CURRENCY);
  cJSON *e = cJSON_CreateObject();
  if (!e || !cJSON_AddItemToArray(list, e)) {
    cJSON_Delete(e);
    return 0;
  }
  int ok = mtr_json_add_str(e, "eventId", mtr_rec(r, METER_FIELD_IDEMPOTENCY_KEY)) != NULL;
  ok &= mtr_json_add_str(e, "eventDate", mtr_time_format(r->time_us, MTR_TIME_RFC3339_MILLI,
                                                         when)) != NULL;
  if (pricing_unit) {
    ok &= cJSON_AddStringToObject(e, "pricingUnit", pricing_unit) != NULL;
    ok &= cJSON_AddNullToObject(e, "customUnit") != NULL;
  } else {
    ok &= cJSON_AddNullToObject(e, "pricingUnit") != NULL;
    ok &= cJSON_AddStringToObject(e, "customUnit", mtr_rec(r, METER_FIELD_CUSTOM_UNIT)) != NULL;
  }
  ok &= mtr_json_add_decimal(e, "quantity", mtr_rec(r, METER_FIELD_QUANTITY)) != NULL;
  if (pricing_unit)
    ok &= cJSON_AddNullToObject(e, "unitPrice") != NULL;
  else
    ok &= mtr_json_add_decimal(e, "unitPrice", mtr_rec(r, METER_FIELD_PRICE)) != NULL;
  /* Required for custom usage; "an empty string is valid" for preconfigured. */
  ok &= cJSON_AddStringToObject(e, "currency", currency ? currency : "") != NULL;
  ok &= mtr_json_add_str(e, "description", mtr_rec(r, METER_FIELD_DESCRIPTION)) != NULL;
  if (r->nattrs) {
    cJSON *attrs = cJSON_AddObjectToObject(e, "attributes");
    ok &= attrs != NULL;
    for (size_t a = 0; ok && a < r->nattrs; a++)
      ok &= cJSON_AddStringToObject(attrs, r->attrs[a].key, r->attrs[a].value) != NULL;
  }
  return ok;
}

int mtr_appdirect_encode_usage(const mtr_appdirect *ad, meter_record *const *recs, size_t n,
                               const char *idempotency_key, mtr_buf *out)
{
  cJSON *root = cJSON_CreateObject();
  if (!root)
    return METER_ENOMEM;
  int ok = mtr_json_add_str(root, "idempotencyKey", idempotency_key) != NULL;
  ok &= mtr_json_add_bool(root, "billable", ad->billable) != NULL;
  ok &= mtr_json_add_str(root, "requestGroupId", ad->request_group_id) != NULL;
  ok &= mtr_json_add_str(root, "subscriptionId", ad->subscription_id) != NULL;
  ok &= mtr_json_add_str(root, "vendorId", ad->vendor_id) != NULL;
  cJSON *usages = cJSON_AddArrayToObject(root, "usages");
  ok &= usages != NULL;

  /* One MeteredUsageItem per accountId, in the order accounts first appear;
   * events keep the callers' order within an account. */
  const char **accounts = mtr_calloc(n ? n : 1, sizeof *accounts);
  size_t *leader = mtr_calloc(n ? n : 1, sizeof *leader);
  size_t *order = mtr_calloc(n ? n : 1, sizeof *order);
  size_t *start = mtr_calloc(n ? n : 1, sizeof *start); /* leader -> its group in order */
  ok &= accounts && leader && order && start;
  for (size_t i = 0; ok && i < n; i++)
    accounts[i] = mtr_appdirect_account(recs[i]);
  ok = ok && mtr_group_strings(accounts, n, leader, order) == 0;
  for (size_t j = 0; ok && j < n; j++)
    if (j == 0 || leader[order[j]] != leader[order[j - 1]])
      start[leader[order[j]]] = j;
  for (size_t i = 0; ok && i < n; i++) {
    if (leader[i] != i)
      continue; /* written with the first event of its account */
    cJSON *item = cJSON_CreateObject();
    if (!item || !cJSON_AddItemToArray(usages, item)) {
      cJSON_Delete(item);
      ok = 0;
      break;
    }
    ok &= cJSON_AddStringToObject(item, "accountId", accounts[i]) != NULL;
    cJSON *list = cJSON_AddArrayToObject(item, "usageList");
    ok &= list != NULL;
    for (size_t j = start[i]; ok && j < n && leader[order[j]] == i; j++)
      ok &= add_event(list, recs[order[j]]);
  }
  mtr_free(accounts);
  mtr_free(leader);
  mtr_free(order);
  mtr_free(start);
  int rc = ok ? mtr_json_print(root, out) : METER_ENOMEM;
  cJSON_Delete(root);
  return rc;
}
