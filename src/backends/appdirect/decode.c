/* Reading AppDirect's answers: the 202 of a usage request, its Error bodies
 * ({"code","message"}), the answer to a repeated idempotency key, and the
 * status document of a request. */
#include "appdirect_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "json/json.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void mtr_appdirect_answer_read(const mtr_http_response *resp, mtr_appdirect_answer *out)
{
  memset(out, 0, sizeof *out);
  cJSON *root = resp->body.len ? cJSON_ParseWithLength(resp->body.ptr, resp->body.len) : NULL;
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return;
  }
  out->parsed = 1;
  const char *code = mtr_json_str(root, "code");
  if (!code)
    code = mtr_json_str(root, "error"); /* a gateway's or Spring's generic error body */
  /* Allocation failures leave a member NULL, which reads as "absent". */
  out->request_id = mtr_strdup(mtr_json_str(root, "requestId"));
  out->status_path = mtr_strdup(mtr_json_str(root, "queryUsageStatus"));
  out->code = mtr_strdup(code);
  out->message = mtr_strdup(mtr_json_str(root, "message"));
  cJSON_Delete(root);
}

void mtr_appdirect_answer_dispose(mtr_appdirect_answer *a)
{
  mtr_free(a->request_id);
  mtr_free(a->status_path);
  mtr_free(a->code);
  mtr_free(a->message);
  memset(a, 0, sizeof *a);
}

static int contains_nocase(const char *hay, const char *needle)
{
  if (!hay)
    return 0;
  size_t n = strlen(needle);
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
      i++;
    if (i == n)
      return 1;
  }
  return 0;
}

/* AppDirect documents only that a repeated idempotencyKey "returns an
 * error". The sandbox (and our documented contract) answers 409
 * DUPLICATE_IDEMPOTENCY_KEY; a 409 that speaks of the idempotency key is
 * read the same way. */
int mtr_appdirect_is_duplicate_key(long http_status, const mtr_appdirect_answer *a)
{
  if (http_status < 400 || http_status >= 500)
    return 0;
  if (a->code && mtr_streq_nocase(a->code, "DUPLICATE_IDEMPOTENCY_KEY"))
    return 1;
  return http_status == 409 &&
         (contains_nocase(a->code, "idempotency") || contains_nocase(a->message, "idempotency"));
}

static const struct {
  const char *wire;
  meter_field field;
} wire_fields[] = {
  { "eventDate", METER_FIELD_TIME },
  { "eventId", METER_FIELD_IDEMPOTENCY_KEY },
  { "accountId", METER_FIELD_ACCOUNT },
  { "pricingUnit", METER_FIELD_PRICING_UNIT },
  { "customUnit", METER_FIELD_CUSTOM_UNIT },
  { "unitPrice", METER_FIELD_PRICE },
  { "quantity", METER_FIELD_QUANTITY },
  { "currency", METER_FIELD_CURRENCY },
  { "description", METER_FIELD_DESCRIPTION },
};

static int word_char(char c)
{
  return isalnum((unsigned char)c) || c == '_';
}

/* The field named first in the message, as a whole word, any case. */
meter_field mtr_appdirect_field_in_message(const char *msg)
{
  if (!msg)
    return (meter_field)0;
  for (const char *p = msg; *p; p++) {
    if (p > msg && word_char(p[-1]))
      continue;
    for (size_t i = 0; i < sizeof wire_fields / sizeof wire_fields[0]; i++) {
      size_t n = strlen(wire_fields[i].wire);
      size_t k = 0;
      while (k < n && p[k] &&
             tolower((unsigned char)p[k]) == tolower((unsigned char)wire_fields[i].wire[k]))
        k++;
      if (k == n && !word_char(p[n]))
        return wire_fields[i].field;
    }
  }
  return (meter_field)0;
}

meter_appdirect_state mtr_appdirect_state_from_string(const char *s)
{
  static const struct {
    const char *name;
    meter_appdirect_state state;
  } states[] = {
    { "PROCESSING", METER_APPDIRECT_STATE_PROCESSING },
    { "SUCCESSFUL", METER_APPDIRECT_STATE_SUCCESSFUL },
    { "FAILED", METER_APPDIRECT_STATE_FAILED },
    { "READY", METER_APPDIRECT_STATE_READY },
  };
  for (size_t i = 0; s && i < sizeof states / sizeof states[0]; i++)
    if (mtr_streq_nocase(s, states[i].name))
      return states[i].state;
  return METER_APPDIRECT_STATE_UNKNOWN;
}

/* A count as a JSON integer (or a string of digits); -1 if absent or odd. */
static int64_t read_count(const cJSON *obj, const char *key)
{
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  int64_t v;
  if (mtr_json_item_int64(it, &v) == 0 && v >= 0)
    return v;
  if (cJSON_IsString(it) && it->valuestring[0] && strlen(it->valuestring) < 16 &&
      strspn(it->valuestring, "0123456789") == strlen(it->valuestring))
    return strtoll(it->valuestring, NULL, 10);
  return -1;
}

static int dup_member(char **slot, const cJSON *obj, const char *key)
{
  const char *v = mtr_json_str(obj, key);
  return !v || (*slot = mtr_strdup(v)) != NULL;
}

int mtr_appdirect_decode_status(const char *body, size_t len, meter_appdirect_status **out,
                                meter_error *err)
{
  *out = NULL;
  cJSON *root = mtr_json_parse(body, len, "AppDirect usage status", err);
  if (!root)
    return err ? err->status : METER_EPROTOCOL;
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return mtr_error_set(err, METER_EPROTOCOL, "AppDirect usage status: not a JSON object");
  }
  meter_appdirect_status *st = mtr_calloc(1, sizeof *st);
  int ok = st != NULL;
  if (ok) {
    ok &= dup_member(&st->status, root, "status");
    ok &= dup_member(&st->request_id, root, "requestId");
    ok &= dup_member(&st->idempotency_key, root, "idempotencyKey");
    st->state = mtr_appdirect_state_from_string(st->status);
    st->total = read_count(root, "totalUsagesCount");
    st->processed = read_count(root, "processedUsagesCount");
    st->failed = read_count(root, "failedUsagesCount");
  }
  const cJSON *fails = cJSON_GetObjectItemCaseSensitive(root, "failedUsages");
  int nf = cJSON_IsArray(fails) ? cJSON_GetArraySize(fails) : 0;
  if (ok && nf > 0) {
    st->failures = mtr_calloc((size_t)nf, sizeof *st->failures);
    ok &= st->failures != NULL;
    const cJSON *f;
    cJSON_ArrayForEach(f, fails)
    {
      if (!ok)
        break;
      if (!cJSON_IsObject(f))
        continue;
      mtr_appdirect_failed_usage *u = &st->failures[st->nfailures++];
      ok &= dup_member(&u->account_id, f, "accountId");
      ok &= dup_member(&u->event_id, f, "eventId");
      ok &= dup_member(&u->error_code, f, "errorCode");
      ok &= dup_member(&u->error_description, f, "errorDescription");
    }
  }
  cJSON_Delete(root);
  if (!ok) {
    meter_appdirect_status_free(st);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  if (!st->status) {
    meter_appdirect_status_free(st);
    return mtr_error_set(err, METER_EPROTOCOL, "AppDirect usage status: no \"status\" member");
  }
  *out = st;
  return METER_OK;
}
