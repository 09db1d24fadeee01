#include "tk_fixture.h"

#include "core/record.h"
#include "core/timefmt.h"

tk_fx *tk_fx_new(const char *name, ...)
{
  tk_fx *f = calloc(1, sizeof *f);
  fake_transport_init(&f->t);
  fake_clock_init(&f->fc, TK_T0);
  meter_setting s[16];
  size_t n = 0;
  va_list ap;
  va_start(ap, name);
  for (const char *k = name; k && n < 16; k = va_arg(ap, const char *)) {
    s[n].name = k;
    s[n].value = va_arg(ap, const char *);
    n++;
  }
  va_end(ap);
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = "tackle";
  o.endpoint = "https://tackle.test";
  o.settings = s;
  o.settings_count = n;
  o.log = capture_log;
  o.log_level = METER_LOG_DEBUG;
  mtr_client_seams seams = { &f->t.base, &f->fc.hooks, NULL };
  meter_error e;
  if (mtr_client_new_with(&f->c, &o, &seams, &e) != METER_OK) {
    fprintf(stderr, "tk_fx_new: %s\n", e.message);
    fake_transport_dispose(&f->t);
    free(f);
    return NULL;
  }
  return f;
}

void tk_fx_free(tk_fx *f)
{
  if (!f)
    return;
  meter_client_free(f->c);
  fake_transport_dispose(&f->t);
  free(f);
}

void tk_push_token(tk_fx *f, const char *tok, long ttl)
{
  char body[512];
  snprintf(body, sizeof body,
           "{\"access_token\":\"%s\",\"token_type\":\"bearer\",\"expires_in\":%ld}", tok, ttl);
  fake_push(&f->t, 200, "Content-Type: application/json\n", body);
}

char *tk_usage_record_json(const meter_record *rec, const char *id, const char *status)
{
  char ts[MTR_TIME_BUF];
  const char *sub = meter_record_get(rec, METER_FIELD_SUBSCRIPTION_ID);
  const char *cloud = meter_record_get(rec, METER_FIELD_CLOUD);
  const char *test = meter_record_get(rec, METER_FIELD_TEST);
  char *out = malloc(2048);
  snprintf(out, 2048,
           "{\"id\":\"%s\",\"vendor_id\":\"V1\",\"product_id\":%s%s%s,\"customer_id\":%s%s%s,"
           "\"subscription_id\":%s%s%s,\"cloud\":\"%s\",\"dimension\":{\"name\":\"%s\","
           "\"quantity\":%s},\"start_time\":\"%s\",\"end_time\":null,"
           "\"created_at\":\"2024-01-01T13:00:01.000000Z\",\"updated_at\":\"2024-01-01T13:00:01.000000Z\","
           "\"deleted_at\":null,\"status\":\"%s\",\"reason\":null,\"test\":%s%s%s,"
           "\"link\":\"https://api.tackle.io/v1/metering/usage-records/%s\"}",
           id, sub ? "null" : "\"", sub ? "" : meter_record_get(rec, METER_FIELD_PRODUCT),
           sub ? "" : "\"", sub ? "null" : "\"", sub ? "" : meter_record_get(rec, METER_FIELD_CUSTOMER),
           sub ? "" : "\"", sub ? "\"" : "null", sub ? sub : "", sub ? "\"" : "",
           cloud ? cloud : "aws", meter_record_get(rec, METER_FIELD_DIMENSION),
           meter_record_get(rec, METER_FIELD_QUANTITY),
           mtr_time_format(meter_record_time_us(rec), MTR_TIME_RFC3339_MICRO, ts), status,
           test ? "\"" : "null", test ? test : "", test ? "\"" : "", id);
  return out;
}

void tk_push_echo(tk_fx *f, meter_record *const *records, size_t n)
{
  char *body = malloc(4096 * (n + 1));
  size_t o = (size_t)sprintf(body, "{\"data\":[");
  for (size_t i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "id-%zu", i);
    char *one = tk_usage_record_json(records[i], id, "idle");
    o += (size_t)sprintf(body + o, "%s%s", i ? "," : "", one);
    free(one);
  }
  sprintf(body + o, "],\"metadata\":{\"link\":\"https://api.tackle.io/v1/metering/usage-records\"}}");
  fake_push(&f->t, 200, "Content-Type: application/json\n", body);
  free(body);
}

size_t tk_count_sent(const tk_fx *f, const char *path_prefix)
{
  size_t n = 0, plen = strlen(path_prefix);
  for (size_t i = 0; i < f->t.nsent; i++) {
    const char *u = f->t.sent[i].url;
    const char *p = strstr(u, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    if (p && strncmp(p, path_prefix, plen) == 0)
      n++;
  }
  return n;
}
