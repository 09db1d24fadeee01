/* Validation of Tackle PUT/POST bodies against the request schemas of
 * Tackle's OpenAPI (docs/vendor/tackle-openapi.json):
 *   RequestUsageRecordPut/Post: array of anyOf Aws/Azure/Gcp record requests;
 *   each "ByProductAndCustomer" (product_id, customer_id) or
 *   "BySubscription" (subscription_id); required cloud, dimension,
 *   start_time, and end_time for gcp; AwsDimension {name, quantity integer,
 *   usage_allocations, dry_run}; AzureDimension {name, quantity integer};
 *   GcpDimension {name minLength 1, quantity number >= 1 | non-empty string
 *   | boolean, consumer_id minLength 1}; date-time formats; test enum.
 * The first violation is reported, naming the field as a JSON pointer. */
#include "tackle.h"

#include "core/alloc.h"
#include "core/str.h"
#include "core/timefmt.h"
#include "exact_json.h"

#include <stdlib.h>
#include <string.h>

typedef struct vctx {
  char *msg;
  size_t msg_size;
  char *schema;
  size_t schema_size;
  size_t index;
  const char *schema_name;  /* "aws-usage-record-request" */
} vctx;

static int fail(vctx *v, const char *field, const char *keyword_path, const char *reason)
{
  mtr_fmt(v->msg, v->msg_size, "/%zu%s%s: %s", v->index, field && *field ? "/" : "",
          field ? field : "", reason);
  mtr_fmt(v->schema, v->schema_size, "%s#%s", v->schema_name, keyword_path);
  return -1;
}

static const char *type_name(const cJSON *it)
{
  if (sbx_json_is_number(it))
    return "number";
  if (sbx_json_is_string(it))
    return "string";
  if (cJSON_IsBool(it))
    return "boolean";
  if (cJSON_IsNull(it))
    return "null";
  if (cJSON_IsArray(it))
    return "array";
  if (cJSON_IsObject(it))
    return "object";
  return "unknown";
}

static int expect_type(vctx *v, const cJSON *it, const char *field, const char *kpath,
                       const char *want)
{
  char reason[96], path[160];
  mtr_fmt(reason, sizeof reason, "expected %s, but got %s", want, type_name(it));
  mtr_fmt(path, sizeof path, "%s/type", kpath);
  return fail(v, field, path, reason);
}

static int digit2(const char *s)
{
  return s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9';
}

int tk_parse_datetime(const char *s, int64_t *out_us)
{
  /* YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm) */
  size_t n = strlen(s);
  if (n < 20 || !digit2(s) || !digit2(s + 2) || s[4] != '-' || !digit2(s + 5) || s[7] != '-' ||
      !digit2(s + 8) || (s[10] != 'T' && s[10] != 't') || !digit2(s + 11) || s[13] != ':' ||
      !digit2(s + 14) || s[16] != ':' || !digit2(s + 17))
    return -1;
  const char *p = s + 19;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9')
      return -1;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  if (*p == 'Z' || *p == 'z') {
    if (p[1] != '\0')
      return -1;
  } else if (*p == '+' || *p == '-') {
    if (!digit2(p + 1) || p[3] != ':' || !digit2(p + 4) || p[6] != '\0')
      return -1;
  } else {
    return -1;
  }
  return mtr_time_parse(s, out_us);
}

static int check_time(vctx *v, const cJSON *rec, const char *field, int required, int nullable,
                      int64_t *out)
{
  *out = TK_NO_TIME;
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(rec, field);
  char kpath[96];
  if (!it) {
    if (!required)
      return 0;
    char reason[96];
    mtr_fmt(reason, sizeof reason, "missing properties: '%s'", field);
    return fail(v, "", "/required", reason);
  }
  mtr_fmt(kpath, sizeof kpath, "/properties/%s", field);
  if (cJSON_IsNull(it)) {
    if (nullable)
      return 0;
    return expect_type(v, it, field, kpath, "string");
  }
  const char *s = sbx_json_string(it);
  if (!s)
    return expect_type(v, it, field, kpath, "string");
  if (tk_parse_datetime(s, out) != 0) {
    char reason[200], path[128];
    mtr_fmt(reason, sizeof reason,
            "'%.60s' is not valid 'date-time' (RFC 3339, e.g. 2019-07-15T15:00:00.000000+00:00)",
            s);
    mtr_fmt(path, sizeof path, "%s/format", kpath);
    return fail(v, field, path, reason);
  }
  return 0;
}

/* A member that must be a string when present (and may be null if nullable).
 * *out is NULL when absent or null. */
static int opt_string(vctx *v, const cJSON *obj, const char *field, const char *prefix,
                      int nullable, size_t min_len, const char **out)
{
  *out = NULL;
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, field);
  char fpath[96], kpath[128];
  mtr_fmt(fpath, sizeof fpath, "%s%s", prefix, field);
  mtr_fmt(kpath, sizeof kpath, "/properties/%s", fpath);
  if (!it || (nullable && cJSON_IsNull(it)))
    return 0;
  const char *s = sbx_json_string(it);
  if (!s)
    return expect_type(v, it, fpath, kpath, "string");
  if (strlen(s) < min_len) {
    char path[160];
    mtr_fmt(path, sizeof path, "%s/minLength", kpath);
    return fail(v, fpath, path, "length must be >= 1, but got 0");
  }
  *out = s;
  return 0;
}

static int integer_value(vctx *v, const cJSON *it, const char *field, const char *kpath,
                         int64_t *out)
{
  if (!sbx_json_is_number(it))
    return expect_type(v, it, field, kpath, "integer");
  if (sbx_json_integer(it, out) != 0)
    return expect_type(v, it, field, kpath, "integer");
  return 0;
}

static int aws_allocations(vctx *v, const cJSON *allocs)
{
  const char *kbase = "/properties/dimension/properties/usage_allocations";
  if (!cJSON_IsArray(allocs))
    return expect_type(v, allocs, "dimension/usage_allocations", kbase, "array");
  size_t i = 0;
  const cJSON *a;
  cJSON_ArrayForEach(a, allocs)
  {
    char field[128], kpath[192];
    mtr_fmt(field, sizeof field, "dimension/usage_allocations/%zu", i);
    mtr_fmt(kpath, sizeof kpath, "%s/items", kbase);
    if (!cJSON_IsObject(a))
      return expect_type(v, a, field, kpath, "object");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(a, "allocated_usage_quantity");
    if (q) {
      int64_t x;
      char f2[160], k2[256];
      mtr_fmt(f2, sizeof f2, "%s/allocated_usage_quantity", field);
      mtr_fmt(k2, sizeof k2, "%s/properties/allocated_usage_quantity", kpath);
      if (integer_value(v, q, f2, k2, &x) != 0)
        return -1;
    }
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(a, "tags");
    if (tags) {
      char f2[160], k2[256];
      mtr_fmt(f2, sizeof f2, "%s/tags", field);
      mtr_fmt(k2, sizeof k2, "%s/properties/tags", kpath);
      if (!cJSON_IsArray(tags))
        return expect_type(v, tags, f2, k2, "array");
      size_t j = 0;
      const cJSON *t;
      cJSON_ArrayForEach(t, tags)
      {
        char f3[192], k3[300];
        mtr_fmt(f3, sizeof f3, "%s/%zu", f2, j);
        mtr_fmt(k3, sizeof k3, "%s/items", k2);
        if (!cJSON_IsObject(t))
          return expect_type(v, t, f3, k3, "object");
        const char *kv[2] = { "key", "value" };
        for (int m = 0; m < 2; m++) {
          const cJSON *x = cJSON_GetObjectItemCaseSensitive(t, kv[m]);
          if (x && !sbx_json_is_string(x)) {
            char f4[224], k4[340];
            mtr_fmt(f4, sizeof f4, "%s/%s", f3, kv[m]);
            mtr_fmt(k4, sizeof k4, "%s/properties/%s", k3, kv[m]);
            return expect_type(v, x, f4, k4, "string");
          }
        }
        j++;
      }
    }
    i++;
  }
  return 0;
}

static int is_zero_text(const char *t)
{
  for (; *t; t++)
    if (*t != '0' && *t != '.' && *t != '-')
      return *t == 'e' || *t == 'E';
  return 1;
}

static int dimension(vctx *v, const cJSON *rec, tk_input *in)
{
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(rec, "dimension");
  if (!d)
    return fail(v, "", "/required", "missing properties: 'dimension'");
  if (!cJSON_IsObject(d))
    return expect_type(v, d, "dimension", "/properties/dimension", "object");
  in->dimension = d;
  int gcp = strcmp(in->cloud, "gcp") == 0, aws = strcmp(in->cloud, "aws") == 0;
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(d, "name");
  if (!name)
    return fail(v, "dimension", "/properties/dimension/required",
                "missing properties: 'name'");
  if (opt_string(v, d, "name", "dimension/", 0, gcp ? 1 : 0, &in->dimension_name) != 0)
    return -1;
  const cJSON *q = cJSON_GetObjectItemCaseSensitive(d, "quantity");
  if (!q)
    return fail(v, "dimension", "/properties/dimension/required",
                "missing properties: 'quantity'");
  in->quantity = q;
  const char *kq = "/properties/dimension/properties/quantity";
  if (!gcp) {
    int64_t x;
    if (integer_value(v, q, "dimension/quantity", kq, &x) != 0)
      return -1;
    if (x < 0) /* not in the schema: documented sandbox choice (marketplaces refuse it) */
      return fail(v, "dimension/quantity", "/properties/dimension/properties/quantity/minimum",
                  "must be >= 0");
    in->zero = x == 0;
  } else if (sbx_json_is_number(q)) {
    const char *t = sbx_json_number_text(q);
    if (*t == '-' || strtod(t, NULL) < 1.0)
      return fail(v, "dimension/quantity",
                  "/properties/dimension/properties/quantity/oneOf/0/minimum", "must be >= 1");
  } else if (sbx_json_is_string(q)) {
    if (!*q->valuestring)
      return fail(v, "dimension/quantity",
                  "/properties/dimension/properties/quantity/oneOf/1/minLength",
                  "length must be >= 1, but got 0");
    in->zero = is_zero_text(q->valuestring);
  } else if (!cJSON_IsBool(q)) {
    char reason[96];
    mtr_fmt(reason, sizeof reason, "expected number, string or boolean, but got %s",
            type_name(q));
    return fail(v, "dimension/quantity", "/properties/dimension/properties/quantity/oneOf",
                reason);
  } else {
    in->zero = cJSON_IsFalse(q);
  }
  if (aws) {
    const cJSON *allocs = cJSON_GetObjectItemCaseSensitive(d, "usage_allocations");
    if (allocs && aws_allocations(v, allocs) != 0)
      return -1;
    const cJSON *dry = cJSON_GetObjectItemCaseSensitive(d, "dry_run");
    if (dry && !cJSON_IsBool(dry))
      return expect_type(v, dry, "dimension/dry_run", "/properties/dimension/properties/dry_run",
                         "boolean");
  }
  if (gcp) {
    const char *consumer;
    if (opt_string(v, d, "consumer_id", "dimension/", 0, 1, &consumer) != 0)
      return -1;
  }
  return 0;
}

static int identification(vctx *v, const cJSON *rec, tk_input *in)
{
  if (opt_string(v, rec, "subscription_id", "", 1, 0, &in->subscription) != 0 ||
      opt_string(v, rec, "product_id", "", 0, 0, &in->product) != 0 ||
      opt_string(v, rec, "customer_id", "", 0, 0, &in->customer) != 0)
    return -1;
  if (in->subscription) {
    /* "By Subscription": product and customer come from the subscription */
    return 0;
  }
  if (!in->product && !in->customer)
    return fail(v, "", "/required",
                "missing properties: 'product_id', 'customer_id' (or 'subscription_id')");
  if (!in->product)
    return fail(v, "", "/required", "missing properties: 'product_id'");
  if (!in->customer)
    return fail(v, "", "/required", "missing properties: 'customer_id'");
  return 0;
}

static int one_record(vctx *v, const cJSON *rec, tk_input *in)
{
  memset(in, 0, sizeof *in);
  v->schema_name = "usage-record-request";
  if (!cJSON_IsObject(rec))
    return expect_type(v, rec, "", "", "object");
  const cJSON *cloud = cJSON_GetObjectItemCaseSensitive(rec, "cloud");
  if (!cloud)
    return fail(v, "", "/required", "missing properties: 'cloud'");
  const char *c = sbx_json_string(cloud);
  if (!c)
    return expect_type(v, cloud, "cloud", "/properties/cloud", "string");
  if (strcmp(c, "aws") == 0)
    v->schema_name = "aws-usage-record-request";
  else if (strcmp(c, "azure") == 0)
    v->schema_name = "azure-usage-record-request";
  else if (strcmp(c, "gcp") == 0)
    v->schema_name = "gcp-usage-record-request";
  else
    return fail(v, "cloud", "/properties/cloud/enum",
                "value must be one of \"aws\", \"azure\", \"gcp\"");
  in->cloud = c;
  if (identification(v, rec, in) != 0 || dimension(v, rec, in) != 0)
    return -1;
  int gcp = strcmp(c, "gcp") == 0;
  if (check_time(v, rec, "start_time", 1, 0, &in->start_us) != 0 ||
      check_time(v, rec, "end_time", gcp, !gcp, &in->end_us) != 0 ||
      check_time(v, rec, "scheduled_at", 0, 1, &in->scheduled_us) != 0)
    return -1;
  const cJSON *test = cJSON_GetObjectItemCaseSensitive(rec, "test");
  if (test && !cJSON_IsNull(test)) {
    const char *t = sbx_json_string(test);
    if (!t)
      return expect_type(v, test, "test", "/properties/test", "string");
    in->test_text = t;
    if (strcmp(t, "accepted") == 0)
      in->test = TK_TEST_ACCEPTED;
    else if (strcmp(t, "rejected") == 0)
      in->test = TK_TEST_REJECTED;
    else if (strcmp(t, "not-operable") == 0)
      in->test = TK_TEST_NOT_OPERABLE;
    else
      return fail(v, "test", "/properties/test/enum",
                  "value must be one of \"accepted\", \"rejected\", \"not-operable\", null");
  }
  return 0;
}

int tk_validate(const cJSON *body, tk_input **out, size_t *n, char *msg, size_t msg_size,
                char *schema_path, size_t schema_size)
{
  vctx v = { msg, msg_size, schema_path, schema_size, 0, "usage-record-requests" };
  *out = NULL;
  *n = 0;
  if (!cJSON_IsArray(body)) {
    mtr_fmt(msg, msg_size, "/: expected array, but got %s (send a JSON array of records)",
            type_name(body));
    mtr_fmt(schema_path, schema_size, "usage-record-requests#/type");
    return -1;
  }
  int count = cJSON_GetArraySize(body);
  if (count == 0) {
    mtr_fmt(msg, msg_size, "/: minimum 1 items required, but found 0 items");
    mtr_fmt(schema_path, schema_size, "usage-record-requests#/minItems");
    return -1;
  }
  tk_input *ins = mtr_calloc((size_t)count, sizeof *ins);
  if (!ins) {
    mtr_fmt(msg, msg_size, "out of memory");
    return -1;
  }
  const cJSON *rec;
  cJSON_ArrayForEach(rec, body)
  {
    if (one_record(&v, rec, &ins[v.index]) != 0) {
      mtr_free(ins);
      return -1;
    }
    v.index++;
  }
  *out = ins;
  *n = (size_t)count;
  return 0;
}
