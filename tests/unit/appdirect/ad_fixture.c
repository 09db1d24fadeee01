#include "ad_fixture.h"

#include "api/client.h"

static int spy_send(mtr_transport *spy, const mtr_http_request *req, mtr_http_response *resp)
{
  adfx *f = (adfx *)((char *)spy - offsetof(adfx, spy));
  if (f->t.nsent < FAKE_MAX)
    f->body_is_secret[f->t.nsent] = req->body_is_secret;
  return mtr_transport_send(&f->t.base, req, resp);
}

static void spy_destroy(mtr_transport *spy)
{
  (void)spy; /* owned by the fixture */
}

int adfx_try(adfx **out, meter_error *err, const char *endpoint, const char *const *settings)
{
  adfx *f = calloc(1, sizeof *f);
  fake_transport_init(&f->t);
  f->spy.send = spy_send;
  f->spy.destroy = spy_destroy;
  fake_clock_init(&f->fc, AD_T0);
  meter_setting s[16] = {
    { "base_url", AD_BASE },
    { "client_id", "my-client" },
    { "client_secret", "my-secret" },
  };
  size_t n = 3;
  for (size_t i = 0; settings && settings[i] && n < 16; i += 2) {
    size_t k = 0;
    while (k < n && strcmp(s[k].name, settings[i]) != 0)
      k++;
    s[k].name = settings[i];
    s[k].value = settings[i + 1];
    if (k == n)
      n++;
  }
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = "appdirect";
  o.endpoint = endpoint;
  o.settings = s;
  o.settings_count = n;
  o.log = capture_log;
  o.log_level = METER_LOG_DEBUG;
  mtr_client_seams seams = { &f->spy, &f->fc.hooks, NULL };
  int rc = mtr_client_new_with(&f->c, &o, &seams, err);
  if (rc != METER_OK) {
    fake_transport_dispose(&f->t);
    free(f);
    f = NULL;
  }
  *out = f;
  return rc;
}

adfx *adfx_new(const char *name, ...)
{
  const char *settings[17] = { 0 };
  size_t n = 0;
  va_list ap;
  va_start(ap, name);
  for (const char *k = name; k && n < 16; k = va_arg(ap, const char *)) {
    settings[n++] = k;
    settings[n++] = va_arg(ap, const char *);
  }
  va_end(ap);
  adfx *f;
  meter_error e;
  if (adfx_try(&f, &e, NULL, settings) != METER_OK) {
    fprintf(stderr, "adfx_new: %s\n", e.message);
    return NULL;
  }
  return f;
}

void adfx_free(adfx *f)
{
  if (!f)
    return;
  meter_client_free(f->c);
  fake_transport_dispose(&f->t);
  free(f);
}

void push_token(adfx *f, const char *token, long expires_in)
{
  char body[256];
  snprintf(body, sizeof body,
           "{\"access_token\":\"%s\",\"token_type\":\"bearer\",\"expires_in\":%ld,"
           "\"scope\":\"ROLE_APPLICATION\"}",
           token, expires_in);
  fake_push(&f->t, 200, "Content-Type: application/json", body);
}

void push_accepted(adfx *f, const char *request_id)
{
  char body[512];
  snprintf(body, sizeof body,
           "{\"requestId\":\"%s\",\"idempotencyKey\":\"k\",\"queryUsageStatus\":"
           "\"/api/integration/v2/billing/usage/requests/%s\"}",
           request_id, request_id);
  fake_push(&f->t, 202, "Content-Type: application/json", body);
}

meter_record *ad_rec(const char *key, int offset_ms, const char *name, ...)
{
  meter_record *r = NULL;
  if (meter_record_new(&r) != METER_OK)
    return NULL;
  meter_record_set(r, METER_FIELD_IDEMPOTENCY_KEY, key);
  meter_record_set_time_us(r, AD_T0 + (int64_t)offset_ms * 1000);
  va_list ap;
  va_start(ap, name);
  for (const char *n = name; n; n = va_arg(ap, const char *)) {
    const char *v = va_arg(ap, const char *);
    meter_field fld = meter_field_from_name(n);
    if (!fld || meter_record_set(r, fld, v) != METER_OK) {
      fprintf(stderr, "ad_rec: %s=%s: %s\n", n, v ? v : "(null)", meter_record_errmsg(r));
      meter_record_free(r);
      r = NULL;
      break;
    }
  }
  va_end(ap);
  return r;
}

cJSON *sent_json(const adfx *f, size_t i)
{
  return i < f->t.nsent ? cJSON_Parse(f->t.sent[i].body) : NULL;
}

size_t sent_events(const adfx *f, size_t i)
{
  cJSON *root = sent_json(f, i);
  size_t n = 0;
  const cJSON *u;
  cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(root, "usages"))
    n += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(u, "usageList"));
  cJSON_Delete(root);
  return n;
}

const char *sent_key(const adfx *f, size_t i, char *buf, size_t size)
{
  cJSON *root = sent_json(f, i);
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(root, "idempotencyKey");
  snprintf(buf, size, "%s", cJSON_IsString(k) ? k->valuestring : "");
  cJSON_Delete(root);
  return buf;
}

size_t sent_to(const adfx *f, const char *url)
{
  size_t n = 0;
  for (size_t i = 0; i < f->t.nsent; i++)
    n += strcmp(f->t.sent[i].url, url) == 0;
  return n;
}
