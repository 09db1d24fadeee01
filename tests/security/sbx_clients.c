#include "sbx_clients.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

meter_client *sbx_client(const sandbox_proc *sp, const char *backend, meter_log_fn log)
{
  meter_setting s[4];
  size_t n = 0;
  if (strcmp(backend, "tackle") == 0) {
    s[n++] = (meter_setting){ "client_id", "sandbox-tackle-id" };
    s[n++] = (meter_setting){ "client_secret", "sandbox-tackle-secret" };
  } else if (strcmp(backend, "appdirect") == 0) {
    s[n++] = (meter_setting){ "client_id", "sandbox-appdirect-id" };
    s[n++] = (meter_setting){ "client_secret", "sandbox-appdirect-secret" };
  } else {
    s[n++] = (meter_setting){ "region", "us-east-1" };
    s[n++] = (meter_setting){ "access_key_id", "AKIDSANDBOXEXAMPLE" };
    s[n++] = (meter_setting){ "secret_access_key", "sandbox+secret/KEY/EXAMPLE" };
    s[n++] = (meter_setting){ "product_code", "sec-product" };
  }
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = backend;
  o.endpoint = sp->url;
  o.settings = s;
  o.settings_count = n;
  o.backoff_base_ms = 2;
  o.backoff_max_ms = 20;
  o.request_timeout_ms = 10000;
  o.log = log;
  o.log_level = METER_LOG_DEBUG;
  meter_client *c = NULL;
  meter_error e;
  if (meter_client_new(&c, &o, &e) != METER_OK) {
    fprintf(stderr, "sbx_client %s: %s\n", backend, e.message);
    return NULL;
  }
  return c;
}

meter_record *sbx_record(const char *backend, const char *prefix, long n, int64_t q)
{
  meter_record *r;
  if (meter_record_new(&r) != METER_OK)
    return NULL;
  char cust[128];
  snprintf(cust, sizeof cust, "%s-%ld", prefix, n);
  int64_t t = ((int64_t)time(NULL) / 3600 - 2) * 3600 * INT64_C(1000000);
  int rc = meter_record_set(r, METER_FIELD_CUSTOMER, cust);
  if (strcmp(backend, "tackle") == 0) {
    rc |= meter_record_set(r, METER_FIELD_PRODUCT, "sec-product");
    rc |= meter_record_set(r, METER_FIELD_DIMENSION, "users");
  } else if (strcmp(backend, "appdirect") == 0) {
    rc |= meter_record_set(r, METER_FIELD_PRICING_UNIT, "USER");
  } else {
    rc |= meter_record_set(r, METER_FIELD_DIMENSION, "users");
  }
  rc |= meter_record_set_quantity(r, q);
  rc |= meter_record_set_time_us(r, t);
  if (rc != METER_OK) {
    meter_record_free(r);
    return NULL;
  }
  return r;
}

void sbx_ledger_count(sandbox_proc *sp, const char *backend, const char *prefix, long *entries,
                      double *quantity)
{
  *entries = 0;
  *quantity = 0;
  cJSON *l = sandbox_ledger(sp);
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(l, backend), *e;
  const char *key = strcmp(backend, "appdirect") == 0 ? "account" : "customer";
  cJSON_ArrayForEach(e, arr)
  {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, key);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(e, "quantity");
    if (!cJSON_IsString(c) || strncmp(c->valuestring, prefix, strlen(prefix)) != 0)
      continue;
    (*entries)++;
    *quantity += cJSON_IsString(q) ? atof(q->valuestring) : q ? q->valuedouble : 0;
  }
  cJSON_Delete(l);
}
