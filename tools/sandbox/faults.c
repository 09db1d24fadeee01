#include "faults.h"

#include "core/alloc.h"
#include "core/str.h"
#include "core/sync.h"
#include "exact_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct fault {
  int id;
  char route[48];       /* a route name or "*" */
  sbx_fault_kind kind;
  double rate;
  long count_left;      /* -1: unlimited */
  long delay_ms;
  long retry_after;
  uint64_t examined;    /* requests this fault has looked at */
  uint64_t fired;
} fault;

struct sbx_faults {
  mtr_mutex lock;
  atomic_int active;    /* fast path: no lock when the table is empty */
  uint64_t seed;
  int next_id;
  fault *items;
  size_t count, cap;
};

static const char *const kind_names[SBX_FAULT_KIND_COUNT] = {
  "error500", "error503", "throttle", "slow", "reset", "drop_after_apply", "unprocessed",
};

const char *sbx_fault_kind_name(sbx_fault_kind k)
{
  return k < SBX_FAULT_KIND_COUNT ? kind_names[k] : "?";
}

static uint64_t splitmix64(uint64_t x)
{
  x += UINT64_C(0x9E3779B97F4A7C15);
  x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
  return x ^ (x >> 31);
}

double sbx_seeded_unit(uint64_t seed, uint64_t a, uint64_t b)
{
  uint64_t h = splitmix64(splitmix64(splitmix64(seed) ^ a) ^ b);
  return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

sbx_faults *sbx_faults_new(uint64_t seed)
{
  sbx_faults *f = mtr_calloc(1, sizeof *f);
  if (!f)
    return NULL;
  mtr_mutex_init(&f->lock);
  f->seed = seed;
  f->next_id = 1;
  return f;
}

void sbx_faults_free(sbx_faults *f)
{
  if (!f)
    return;
  mtr_free(f->items);
  mtr_mutex_destroy(&f->lock);
  mtr_free(f);
}

static int route_known(const char *route)
{
  if (strcmp(route, "*") == 0)
    return 1;
  for (int r = 1; r < SBX_ROUTE_COUNT; r++) {
    const char *n = sbx_route_name((sbx_route)r);
    if (n && strcmp(n, route) == 0)
      return 1;
  }
  return 0;
}

int sbx_faults_add(sbx_faults *f, const char *route, const char *kind, double rate, long count,
                   long delay_ms, long retry_after, char *err, size_t err_size)
{
  if (!route || !route_known(route)) {
    mtr_fmt(err, err_size,
            "unknown route '%s' (tackle.auth tackle.put tackle.post tackle.list tackle.get "
            "tackle.delete appdirect.token appdirect.usage appdirect.status aws.MeterUsage "
            "aws.BatchMeterUsage aws.RegisterUsage aws.ResolveCustomer *)",
            route ? route : "");
    return -1;
  }
  int k = -1;
  for (int i = 0; kind && i < SBX_FAULT_KIND_COUNT; i++)
    if (strcmp(kind, kind_names[i]) == 0)
      k = i;
  if (k < 0) {
    mtr_fmt(err, err_size,
            "unknown kind '%s' (error500 error503 throttle slow reset drop_after_apply "
            "unprocessed)",
            kind ? kind : "");
    return -1;
  }
  if (k == SBX_FAULT_UNPROCESSED && strcmp(route, "aws.BatchMeterUsage") != 0 &&
      strcmp(route, "*") != 0) {
    mtr_fmt(err, err_size, "kind 'unprocessed' applies to aws.BatchMeterUsage only");
    return -1;
  }
  if (!(rate >= 0.0 && rate <= 1.0)) {
    mtr_fmt(err, err_size, "rate must be between 0 and 1");
    return -1;
  }
  if (count == 0 || count < -1 || delay_ms < -1 || retry_after < -1) {
    mtr_fmt(err, err_size, "count must be >= 1, delay_ms and retry_after >= 0");
    return -1;
  }
  mtr_mutex_lock(&f->lock);
  if (f->count == f->cap) {
    size_t nc = f->cap ? f->cap * 2 : 8;
    fault *ni = mtr_realloc(f->items, nc * sizeof *ni);
    if (!ni) {
      mtr_mutex_unlock(&f->lock);
      mtr_fmt(err, err_size, "out of memory");
      return -1;
    }
    f->items = ni;
    f->cap = nc;
  }
  fault *x = &f->items[f->count++];
  memset(x, 0, sizeof *x);
  x->id = f->next_id++;
  mtr_strlcpy(x->route, route, sizeof x->route);
  x->kind = (sbx_fault_kind)k;
  x->rate = rate;
  x->count_left = count;
  x->delay_ms = delay_ms >= 0 ? delay_ms : SBX_SLOW_DEFAULT_MS;
  x->retry_after = retry_after;
  int id = x->id;
  atomic_store(&f->active, (int)f->count);
  mtr_mutex_unlock(&f->lock);
  return id;
}

int sbx_faults_add_spec(sbx_faults *f, const char *spec, char *err, size_t err_size)
{
  char buf[160];
  mtr_strlcpy(buf, spec, sizeof buf);
  char *parts[4] = { NULL, NULL, NULL, NULL };
  size_t n = 0;
  for (char *p = buf, *tok; n < 4 && (tok = strsep(&p, ":")) != NULL;)
    parts[n++] = tok;
  if (n < 2) {
    mtr_fmt(err, err_size, "--fault wants ROUTE:KIND[:RATE[:PARAM]], got '%s'", spec);
    return -1;
  }
  double rate = 1.0;
  long param = -1;
  if (parts[2] && *parts[2]) {
    char *end;
    errno = 0;
    rate = strtod(parts[2], &end);
    if (errno || *end) {
      mtr_fmt(err, err_size, "--fault %s: bad rate '%s'", spec, parts[2]);
      return -1;
    }
  }
  if (parts[3] && *parts[3]) {
    char *end;
    errno = 0;
    param = strtol(parts[3], &end, 10);
    if (errno || *end || param < 0) {
      mtr_fmt(err, err_size, "--fault %s: bad parameter '%s'", spec, parts[3]);
      return -1;
    }
  }
  int slow = strcmp(parts[1], "slow") == 0;
  int throttle = strcmp(parts[1], "throttle") == 0;
  return sbx_faults_add(f, parts[0], parts[1], rate, -1, slow ? param : -1,
                        throttle ? param : -1, err, err_size);
}

/* A non-negative integer member, or `def` when absent; -2 when malformed. */
static long json_long(const cJSON *body, const char *key, long def)
{
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(body, key);
  if (!it || sbx_json_is_null(it))
    return def;
  int64_t v;
  if (sbx_json_integer(it, &v) != 0 || v < 0 || v > 1000000000)
    return -2;
  return (long)v;
}

int sbx_faults_add_json(sbx_faults *f, const cJSON *body, char *err, size_t err_size)
{
  if (!cJSON_IsObject(body)) {
    mtr_fmt(err, err_size, "body must be a JSON object {\"route\",\"kind\",...}");
    return -1;
  }
  const char *route = sbx_json_get_string(body, "route");
  const char *kind = sbx_json_get_string(body, "kind");
  double rate = 1.0;
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(body, "rate");
  if (r && !sbx_json_is_null(r)) {
    const char *t = sbx_json_number_text(r);
    char *end = NULL;
    rate = t ? strtod(t, &end) : -1.0;
    if (!t || *end) {
      mtr_fmt(err, err_size, "rate must be a number between 0 and 1");
      return -1;
    }
  }
  long count = json_long(body, "count", -1);
  long delay = json_long(body, "delay_ms", -1);
  long retry_after = json_long(body, "retry_after", -1);
  if (count == -2 || delay == -2 || retry_after == -2) {
    mtr_fmt(err, err_size, "count, delay_ms and retry_after must be non-negative integers");
    return -1;
  }
  if (count == 0) {
    mtr_fmt(err, err_size, "count must be >= 1 (leave it out for unlimited)");
    return -1;
  }
  return sbx_faults_add(f, route, kind, rate, count, delay, retry_after, err, err_size);
}

void sbx_faults_clear(sbx_faults *f)
{
  mtr_mutex_lock(&f->lock);
  f->count = 0;
  atomic_store(&f->active, 0);
  mtr_mutex_unlock(&f->lock);
}

static int applies(const fault *x, sbx_route route, const char *name)
{
  if (x->kind == SBX_FAULT_UNPROCESSED && route != SBX_AWS_BATCH)
    return 0;
  return strcmp(x->route, "*") == 0 || strcmp(x->route, name) == 0;
}

int sbx_faults_check(sbx_faults *f, sbx_route route, sbx_fault_hit *hit)
{
  if (atomic_load(&f->active) == 0)
    return 0;
  const char *name = sbx_route_name(route);
  if (!name)
    return 0;
  int fired = 0;
  mtr_mutex_lock(&f->lock);
  for (size_t i = 0; i < f->count; i++) {
    fault *x = &f->items[i];
    if (!applies(x, route, name))
      continue;
    uint64_t n = x->examined++;
    if (x->rate < 1.0 && sbx_seeded_unit(f->seed, (uint64_t)x->id, n) >= x->rate)
      continue;
    hit->kind = x->kind;
    hit->delay_ms = x->delay_ms;
    hit->retry_after = x->retry_after;
    hit->fault_id = x->id;
    x->fired++;
    fired = 1;
    if (x->count_left > 0 && --x->count_left == 0) {
      memmove(&f->items[i], &f->items[i + 1], (f->count - i - 1) * sizeof *x);
      f->count--;
      atomic_store(&f->active, (int)f->count);
    }
    break;
  }
  mtr_mutex_unlock(&f->lock);
  return fired;
}

cJSON *sbx_faults_describe(sbx_faults *f)
{
  cJSON *arr = cJSON_CreateArray();
  mtr_mutex_lock(&f->lock);
  for (size_t i = 0; arr && i < f->count; i++) {
    const fault *x = &f->items[i];
    cJSON *o = cJSON_CreateObject();
    if (!o)
      break;
    cJSON_AddNumberToObject(o, "id", x->id);
    cJSON_AddStringToObject(o, "route", x->route);
    cJSON_AddStringToObject(o, "kind", kind_names[x->kind]);
    cJSON_AddNumberToObject(o, "rate", x->rate);
    if (x->count_left > 0)
      cJSON_AddNumberToObject(o, "count", (double)x->count_left);
    if (x->kind == SBX_FAULT_SLOW)
      cJSON_AddNumberToObject(o, "delay_ms", (double)x->delay_ms);
    if (x->retry_after >= 0)
      cJSON_AddNumberToObject(o, "retry_after", (double)x->retry_after);
    cJSON_AddNumberToObject(o, "examined", (double)x->examined);
    cJSON_AddNumberToObject(o, "fired", (double)x->fired);
    cJSON_AddItemToArray(arr, o);
  }
  mtr_mutex_unlock(&f->lock);
  return arr;
}
