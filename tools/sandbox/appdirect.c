/* AppDirect in the sandbox: the client-credentials token endpoint and
 * Billing Usage v2 (202 + status query), per marketplaces.md §2.
 *
 * A request is validated whole (first error wins, 400 {"code","message"}),
 * then its idempotencyKey is checked (a repeat answers 409, our documented
 * choice), then it is stored: every event of an account starting with
 * `bad-` fails with BAD_DATA, every other event enters the ledger at once.
 * The status query says PROCESSING until --appdirect-processing-ms have
 * passed, then SUCCESSFUL or FAILED with failedUsages. */
#include "sandbox.h"

#include "core/alloc.h"
#include "core/decimal.h"
#include "core/str.h"
#include "core/sync.h"
#include "core/timefmt.h"
#include "core/uuid.h"
#include "exact_json.h"
#include "hashmap.h"
#include "tokens.h"

#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

#define AD_MAX_EVENTS 250
#define AD_MAX_QUANTITY_SCALE 10
#define AD_STATUS_PATH "/api/integration/v2/billing/usage/requests/"

typedef struct ad_event {
  char *account, *event_id, *unit, *quantity;
  int failed;
} ad_event;

typedef struct ad_request {
  char id[37];
  char *idempotency_key;
  int64_t accepted_us;
  ad_event *events;
  size_t count, failed;
} ad_request;

struct sbx_appdirect {
  mtr_mutex lock;
  sbx_map by_id;
  sbx_map by_key;
  ad_request **order;
  size_t count, cap;
};

void sbx_appdirect_error(sbx_response *resp, unsigned status, const char *code,
                         const char *message)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "code", code);
  cJSON_AddStringToObject(o, "message", message);
  sbx_respond_json(resp, status, o);
  cJSON_Delete(o);
}

/* ---- state ---------------------------------------------------------------------- */

sbx_appdirect *sbx_appdirect_new(void)
{
  sbx_appdirect *a = mtr_calloc(1, sizeof *a);
  if (a)
    mtr_mutex_init(&a->lock);
  return a;
}

static void request_free(ad_request *r)
{
  if (!r)
    return;
  for (size_t i = 0; i < r->count; i++) {
    mtr_free(r->events[i].account);
    mtr_free(r->events[i].event_id);
    mtr_free(r->events[i].unit);
    mtr_free(r->events[i].quantity);
  }
  mtr_free(r->events);
  mtr_free(r->idempotency_key);
  mtr_free(r);
}

static void clear_locked(sbx_appdirect *a)
{
  sbx_map_clear(&a->by_id, NULL);
  sbx_map_clear(&a->by_key, NULL);
  for (size_t i = 0; i < a->count; i++)
    request_free(a->order[i]);
  mtr_free(a->order);
  a->order = NULL;
  a->count = a->cap = 0;
}

void sbx_appdirect_reset(sbx_appdirect *a)
{
  mtr_mutex_lock(&a->lock);
  clear_locked(a);
  mtr_mutex_unlock(&a->lock);
}

void sbx_appdirect_free(sbx_appdirect *a)
{
  if (!a)
    return;
  clear_locked(a);
  mtr_mutex_destroy(&a->lock);
  mtr_free(a);
}

int sbx_appdirect_ledger(sbx *s, cJSON *array)
{
  sbx_appdirect *a = s->appdirect;
  mtr_mutex_lock(&a->lock);
  for (size_t i = 0; i < a->count; i++) {
    const ad_request *r = a->order[i];
    for (size_t j = 0; j < r->count; j++) {
      const ad_event *e = &r->events[j];
      if (e->failed)
        continue;
      cJSON *o = cJSON_CreateObject();
      if (!o) {
        mtr_mutex_unlock(&a->lock);
        return -1;
      }
      cJSON_AddStringToObject(o, "request_id", r->id);
      cJSON_AddStringToObject(o, "idempotency_key", r->idempotency_key);
      cJSON_AddStringToObject(o, "account", e->account);
      cJSON_AddStringToObject(o, "event_id", e->event_id);
      cJSON_AddStringToObject(o, "unit", e->unit);
      cJSON_AddStringToObject(o, "quantity", e->quantity);
      cJSON_AddItemToArray(array, o);
    }
  }
  mtr_mutex_unlock(&a->lock);
  return 0;
}

/* ---- token endpoint -------------------------------------------------------------- */

static void oauth_error(sbx_response *resp, unsigned status, const char *error,
                        const char *description)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "error", error);
  cJSON_AddStringToObject(o, "error_description", description);
  sbx_respond_json(resp, status, o);
  cJSON_Delete(o);
}

static int hexval(char c)
{
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* application/x-www-form-urlencoded decoding, in place ('+' is a space). */
static void form_decode(char *s)
{
  char *w = s;
  for (char *r = s; *r; r++) {
    if (*r == '+') {
      *w++ = ' ';
    } else if (*r == '%' && hexval(r[1]) >= 0 && hexval(r[2]) >= 0) {
      *w++ = (char)(hexval(r[1]) * 16 + hexval(r[2]));
      r += 2;
    } else {
      *w++ = *r;
    }
  }
  *w = '\0';
}

/* The value of `name` in a form body, decoded, into out; 0 if present. */
static int form_value(const char *body, const char *name, char *out, size_t size)
{
  size_t nl = strlen(name);
  for (const char *p = body; p && *p;) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
      size_t vl = len - nl - 1;
      if (vl >= size)
        vl = size - 1;
      memcpy(out, p + nl + 1, vl);
      out[vl] = '\0';
      form_decode(out);
      return 0;
    }
    p = amp ? amp + 1 : NULL;
  }
  return -1;
}

/* "Basic base64(id:secret)" -> id, secret (each form-decoded, RFC 6749 2.3.1). */
static int basic_credentials(const char *h, char *id, size_t id_size, char *secret,
                             size_t secret_size)
{
  if (!h || strncasecmp(h, "Basic ", 6) != 0)
    return -1;
  const char *b64 = h + 6;
  while (*b64 == ' ')
    b64++;
  size_t n = strlen(b64);
  if (n == 0 || n % 4 != 0 || n > 2048)
    return -1;
  unsigned char dec[1600];
  int len = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
  if (len < 0)
    return -1;
  while (n > 0 && b64[n - 1] == '=') { /* EVP_DecodeBlock counts padding bytes */
    len--;
    n--;
  }
  dec[len] = '\0';
  char *colon = strchr((char *)dec, ':');
  if (!colon || memchr(dec, 0, (size_t)len) != NULL)
    return -1;
  *colon = '\0';
  mtr_strlcpy(id, (char *)dec, id_size);
  mtr_strlcpy(secret, colon + 1, secret_size);
  form_decode(id);
  form_decode(secret);
  return 0;
}

static int scope_allowed(const char *scope)
{
  /* space-separated; each must be one AppDirect grants for client credentials */
  char buf[256];
  mtr_strlcpy(buf, scope, sizeof buf);
  int any = 0;
  for (char *p = buf, *tok; (tok = strsep(&p, " ")) != NULL;) {
    if (!*tok)
      continue;
    if (strcmp(tok, "ROLE_APPLICATION") != 0 && strcmp(tok, "ROLE_PARTNER") != 0 &&
        strcmp(tok, "ROLE_PARTNER_READ") != 0)
      return 0;
    any = 1;
  }
  return any;
}

static void token(sbx *s, const sbx_request *req, sbx_response *resp)
{
  char id[256], secret[512];
  const char *auth = sbx_header(req, "Authorization");
  if (!auth) {
    mtr_headers_set(&resp->headers, "WWW-Authenticate", "Basic realm=\"oauth2/client\"");
    oauth_error(resp, 401, "unauthorized",
                "Full authentication is required to access this resource");
    return;
  }
  if (basic_credentials(auth, id, sizeof id, secret, sizeof secret) != 0 ||
      strcmp(id, s->cfg.appdirect_id) != 0 || strcmp(secret, s->cfg.appdirect_secret) != 0) {
    mtr_headers_set(&resp->headers, "WWW-Authenticate", "Basic realm=\"oauth2/client\"");
    oauth_error(resp, 401, "invalid_client", "Bad client credentials");
    return;
  }
  const char *ct = sbx_header(req, "Content-Type");
  if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
    oauth_error(resp, 400, "invalid_request",
                "Content-Type must be application/x-www-form-urlencoded");
    return;
  }
  char grant[128], scope[256];
  if (form_value(req->body, "grant_type", grant, sizeof grant) != 0) {
    oauth_error(resp, 400, "invalid_request", "Missing grant type");
    return;
  }
  if (strcmp(grant, "client_credentials") != 0) {
    char msg[200];
    mtr_fmt(msg, sizeof msg, "Unsupported grant type: %s", grant);
    oauth_error(resp, 400, "unsupported_grant_type", msg);
    return;
  }
  if (form_value(req->body, "scope", scope, sizeof scope) != 0)
    mtr_strlcpy(scope, "ROLE_APPLICATION", sizeof scope);
  if (!scope_allowed(scope)) {
    char msg[300];
    mtr_fmt(msg, sizeof msg, "Invalid scope: %s", scope);
    oauth_error(resp, 400, "invalid_scope", msg);
    return;
  }
  char tok[128];
  if (sbx_tokens_issue(s, s->appdirect_tokens, "sbx-appdirect.", s->cfg.appdirect_token_ttl_s,
                       scope, tok, sizeof tok) != 0) {
    oauth_error(resp, 500, "server_error", "out of memory");
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "access_token", tok);
  cJSON_AddStringToObject(o, "token_type", "bearer");
  cJSON_AddNumberToObject(o, "expires_in", (double)s->cfg.appdirect_token_ttl_s);
  cJSON_AddStringToObject(o, "scope", scope);
  sbx_respond_json(resp, 200, o);
  cJSON_Delete(o);
}

/* 0 when the bearer token is valid (scope into scope_out); else resp holds 401. */
static int authorize(sbx *s, const sbx_request *req, sbx_response *resp, char *scope,
                     size_t scope_size)
{
  const char *h = sbx_header(req, "Authorization");
  const char *why = NULL;
  if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7]) {
    why = "Full authentication is required to access this resource";
  } else {
    sbx_token_state st = sbx_tokens_check(s->appdirect_tokens, h + 7, req->now_us, scope,
                                          scope_size);
    if (st == SBX_TOKEN_EXPIRED)
      why = "Access token expired";
    else if (st == SBX_TOKEN_UNKNOWN)
      why = "Invalid access token";
  }
  if (!why)
    return 0;
  char www[200];
  mtr_fmt(www, sizeof www, "Bearer error=\"invalid_token\", error_description=\"%s\"", why);
  mtr_headers_set(&resp->headers, "WWW-Authenticate", www);
  sbx_appdirect_error(resp, 401, "UNAUTHORIZED", why);
  return -1;
}

/* ---- validation ---------------------------------------------------------------------- */

typedef struct ad_check {
  char msg[400];
} ad_check;

static int bad(ad_check *c, const char *field, const char *rule)
{
  mtr_fmt(c->msg, sizeof c->msg, "%s: %s", field, rule);
  return -1;
}

/* YYYY-MM-DDTHH:mm:ss.SSSZ, exactly. */
static int event_date_ok(const char *s)
{
  static const char pattern[] = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (strlen(s) != sizeof pattern - 1)
    return 0;
  for (size_t i = 0; pattern[i]; i++) {
    if (pattern[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pattern[i])
      return 0;
  }
  int64_t t;
  return mtr_time_parse(s, &t) == 0;
}

static const char iso4217[] =
  "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD "
  "BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP "
  "DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS "
  "INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD "
  "MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR "
  "PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS "
  "SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW "
  "UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS "
  "XUA XXX YER ZAR ZMW ZWG ZWL";

static int currency_ok(const char *c)
{
  if (strlen(c) != 3)
    return 0;
  for (int i = 0; i < 3; i++)
    if (c[i] < 'A' || c[i] > 'Z')
      return 0;
  for (size_t i = 0; i + 3 < sizeof iso4217; i += 4) /* "AED AFN ... ZWL" */
    if (strncmp(iso4217 + i, c, 3) == 0)
      return 1;
  return 0;
}

/* A non-negative decimal given as a JSON number or a string, canonical
 * into out. max_scale: digits allowed after the point (-1: any). */
static int decimal_of(ad_check *c, const cJSON *it, const char *field, int max_scale, char *out,
                      size_t out_size)
{
  const char *t = sbx_json_number_text(it);
  if (!t)
    t = sbx_json_string(it);
  if (!t)
    return bad(c, field, "must be a number or a string holding a decimal number");
  mtr_decimal_info info;
  if (mtr_decimal_canon(t, strlen(t), out, out_size, &info) != 0)
    return bad(c, field, "must be a non-negative decimal number (digits, optional '.')");
  if (max_scale >= 0 && info.frac_digits > (size_t)max_scale)
    return bad(c, field, "at most 10 decimal digits after the point");
  return 0;
}

typedef struct ad_parsed_event {
  const char *account, *event_id, *unit;
  char quantity[96];
  int is_custom;
} ad_parsed_event;

static int null_or_absent(const cJSON *it)
{
  return !it || cJSON_IsNull(it);
}

static int check_event(ad_check *c, const cJSON *e, const char *account, const char *path,
                       ad_parsed_event *out)
{
  char f[160];
  if (!cJSON_IsObject(e))
    return bad(c, path, "must be an object");
  out->account = account;
  mtr_fmt(f, sizeof f, "%s.eventId", path);
  out->event_id = sbx_json_get_string(e, "eventId");
  if (!out->event_id || !*out->event_id)
    return bad(c, f, "is required (a non-empty string)");
  mtr_fmt(f, sizeof f, "%s.eventDate", path);
  const char *date = sbx_json_get_string(e, "eventDate");
  if (!date)
    return bad(c, f, "is required (YYYY-MM-DDTHH:mm:ss.SSSZ)");
  if (!event_date_ok(date))
    return bad(c, f, "must have the format YYYY-MM-DDTHH:mm:ss.SSSZ");
  const cJSON *pu = cJSON_GetObjectItemCaseSensitive(e, "pricingUnit");
  const cJSON *cu = cJSON_GetObjectItemCaseSensitive(e, "customUnit");
  const cJSON *price = cJSON_GetObjectItemCaseSensitive(e, "unitPrice");
  const cJSON *cur = cJSON_GetObjectItemCaseSensitive(e, "currency");
  if (!null_or_absent(pu) && !null_or_absent(cu)) {
    mtr_fmt(f, sizeof f, "%s.customUnit", path);
    return bad(c, f, "must be null when pricingUnit is set (preconfigured or custom, not both)");
  }
  if (null_or_absent(pu) && null_or_absent(cu)) {
    mtr_fmt(f, sizeof f, "%s.pricingUnit", path);
    return bad(c, f, "pricingUnit (preconfigured usage) or customUnit (custom usage) is required");
  }
  if (!null_or_absent(pu)) { /* preconfigured */
    mtr_fmt(f, sizeof f, "%s.pricingUnit", path);
    out->unit = sbx_json_string(pu);
    if (!out->unit || !*out->unit)
      return bad(c, f, "must be a non-empty string (a PricingUnit value)");
    if (!null_or_absent(price)) {
      mtr_fmt(f, sizeof f, "%s.unitPrice", path);
      return bad(c, f, "must be null for preconfigured usage (pricingUnit)");
    }
    if (!null_or_absent(cur)) {
      const char *cs = sbx_json_string(cur);
      mtr_fmt(f, sizeof f, "%s.currency", path);
      if (!cs || (*cs && !currency_ok(cs)))
        return bad(c, f, "must be an ISO-4217 currency code or empty");
    }
  } else { /* custom */
    out->is_custom = 1;
    mtr_fmt(f, sizeof f, "%s.customUnit", path);
    out->unit = sbx_json_string(cu);
    if (!out->unit || !*out->unit)
      return bad(c, f, "must be a non-empty string");
    mtr_fmt(f, sizeof f, "%s.unitPrice", path);
    char p[96];
    if (null_or_absent(price))
      return bad(c, f, "is required for custom usage (customUnit)");
    if (decimal_of(c, price, f, -1, p, sizeof p) != 0)
      return -1;
    mtr_fmt(f, sizeof f, "%s.currency", path);
    const char *cs = sbx_json_string(cur);
    if (!cs || !*cs)
      return bad(c, f, "is required for custom usage (an ISO-4217 code)");
    if (!currency_ok(cs))
      return bad(c, f, "must be an ISO-4217 currency code");
  }
  mtr_fmt(f, sizeof f, "%s.quantity", path);
  const cJSON *q = cJSON_GetObjectItemCaseSensitive(e, "quantity");
  if (null_or_absent(q))
    return bad(c, f, "is required");
  if (decimal_of(c, q, f, AD_MAX_QUANTITY_SCALE, out->quantity, sizeof out->quantity) != 0)
    return -1;
  const cJSON *desc = cJSON_GetObjectItemCaseSensitive(e, "description");
  if (!null_or_absent(desc) && !sbx_json_is_string(desc)) {
    mtr_fmt(f, sizeof f, "%s.description", path);
    return bad(c, f, "must be a string");
  }
  const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(e, "attributes");
  if (!null_or_absent(attrs)) {
    mtr_fmt(f, sizeof f, "%s.attributes", path);
    if (!cJSON_IsObject(attrs))
      return bad(c, f, "must be an object of strings");
    const cJSON *a;
    cJSON_ArrayForEach(a, attrs)
    {
      if (!sbx_json_is_string(a))
        return bad(c, f, "must be an object of strings");
    }
  }
  return 0;
}

/* Validates the whole body; fills events (at most AD_MAX_EVENTS). */
static int check_body(ad_check *c, const cJSON *body, ad_parsed_event *events, size_t *n)
{
  *n = 0;
  if (!cJSON_IsObject(body))
    return bad(c, "body", "must be a JSON object (MeteredUsageRequest)");
  const char *key = sbx_json_get_string(body, "idempotencyKey");
  if (!key || !*key)
    return bad(c, "idempotencyKey", "is required (a non-empty string)");
  const cJSON *billable = cJSON_GetObjectItemCaseSensitive(body, "billable");
  if (!cJSON_IsBool(billable))
    return bad(c, "billable", "is required (true or false)");
  const cJSON *group = cJSON_GetObjectItemCaseSensitive(body, "requestGroupId");
  if (!null_or_absent(group) && !sbx_json_is_string(group))
    return bad(c, "requestGroupId", "must be a string or null");
  const char *ids[2] = { "subscriptionId", "vendorId" };
  for (int i = 0; i < 2; i++) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(body, ids[i]);
    if (!null_or_absent(it) && !(sbx_json_is_string(it) && mtr_uuid_valid(it->valuestring)))
      return bad(c, ids[i], "must be a UUID");
  }
  const cJSON *usages = cJSON_GetObjectItemCaseSensitive(body, "usages");
  if (!cJSON_IsArray(usages) || cJSON_GetArraySize(usages) == 0)
    return bad(c, "usages", "is required (a non-empty array)");
  size_t ui = 0;
  const cJSON *u;
  cJSON_ArrayForEach(u, usages)
  {
    char path[128];
    mtr_fmt(path, sizeof path, "usages[%zu]", ui);
    if (!cJSON_IsObject(u))
      return bad(c, path, "must be an object {accountId, usageList}");
    char f[160];
    mtr_fmt(f, sizeof f, "%s.accountId", path);
    const char *account = sbx_json_get_string(u, "accountId");
    if (!account || !*account)
      return bad(c, f, "is required (a non-empty string)");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(u, "usageList");
    mtr_fmt(f, sizeof f, "%s.usageList", path);
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
      return bad(c, f, "is required (a non-empty array)");
    size_t ei = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, list)
    {
      if (*n == AD_MAX_EVENTS) {
        mtr_fmt(c->msg, sizeof c->msg,
                "usages: at most %d usage events per request (usageList items in total)",
                AD_MAX_EVENTS);
        return -1;
      }
      char epath[160];
      mtr_fmt(epath, sizeof epath, "%s.usageList[%zu]", path, ei);
      memset(&events[*n], 0, sizeof events[*n]);
      if (check_event(c, e, account, epath, &events[*n]) != 0)
        return -1;
      (*n)++;
      ei++;
    }
    ui++;
  }
  return 0;
}

/* ---- usage ------------------------------------------------------------------------------- */

static void add_status_path(cJSON *o, const char *id)
{
  char path[128];
  mtr_fmt(path, sizeof path, AD_STATUS_PATH "%s", id);
  cJSON_AddStringToObject(o, "queryUsageStatus", path);
}

static ad_request *store_locked(sbx *s, sbx_appdirect *a, const char *key,
                                const ad_parsed_event *pe, size_t n, int64_t now)
{
  ad_request *r = mtr_calloc(1, sizeof *r);
  if (!r)
    return NULL;
  sbx_new_id(s, "appdirect", r->id);
  r->idempotency_key = mtr_strdup(key);
  r->accepted_us = now;
  r->events = mtr_calloc(n, sizeof *r->events);
  if (!r->idempotency_key || !r->events) {
    request_free(r);
    return NULL;
  }
  r->count = n;
  for (size_t i = 0; i < n; i++) {
    ad_event *e = &r->events[i];
    e->account = mtr_strdup(pe[i].account);
    e->event_id = mtr_strdup(pe[i].event_id);
    e->unit = mtr_strdup(pe[i].unit);
    e->quantity = mtr_strdup(pe[i].quantity);
    if (!e->account || !e->event_id || !e->unit || !e->quantity) {
      request_free(r);
      return NULL;
    }
    e->failed = strncmp(pe[i].account, "bad-", 4) == 0;
    r->failed += (size_t)e->failed;
  }
  if (a->count == a->cap) {
    size_t nc = a->cap ? a->cap * 2 : 256;
    ad_request **no = mtr_realloc(a->order, nc * sizeof *no);
    if (!no) {
      request_free(r);
      return NULL;
    }
    a->order = no;
    a->cap = nc;
  }
  if (sbx_map_puts(&a->by_id, r->id, r) != 0 || sbx_map_puts(&a->by_key, key, r) != 0) {
    sbx_map_remove(&a->by_id, r->id, strlen(r->id));
    request_free(r);
    return NULL;
  }
  a->order[a->count++] = r;
  return r;
}

/* --bench: a valid request is counted and answered 202, not stored (so
 * neither its key nor its events are remembered: no 409, no status). */
static void bench_accept(sbx *s, const char *key, const ad_parsed_event *pe, size_t n,
                         sbx_response *resp)
{
  unsigned long long ok = 0;
  for (size_t i = 0; i < n; i++)
    ok += strncmp(pe[i].account, "bad-", 4) != 0;
  atomic_fetch_add(&s->bench_appdirect_requests, 1);
  atomic_fetch_add(&s->bench_appdirect_events, ok);
  char id[37];
  sbx_new_id(s, "appdirect", id);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "requestId", id);
  cJSON_AddStringToObject(o, "idempotencyKey", key);
  add_status_path(o, id);
  sbx_respond_json(resp, 202, o);
  cJSON_Delete(o);
}

static void usage(sbx *s, const sbx_request *req, sbx_response *resp)
{
  char scope[96];
  if (authorize(s, req, resp, scope, sizeof scope) != 0)
    return;
  if (strcmp(scope, "ROLE_PARTNER_READ") == 0) {
    sbx_appdirect_error(resp, 403, "FORBIDDEN",
                        "The token's scope (ROLE_PARTNER_READ) cannot post usage");
    return;
  }
  size_t err_at;
  cJSON *body = sbx_json_parse(req->body, req->body_len, &err_at);
  if (!body) {
    char msg[120];
    mtr_fmt(msg, sizeof msg, "Malformed JSON request body (near byte %zu)", err_at);
    sbx_appdirect_error(resp, 400, "BAD_REQUEST", msg);
    return;
  }
  ad_parsed_event *events = mtr_calloc(AD_MAX_EVENTS, sizeof *events);
  ad_check c;
  size_t n = 0;
  if (!events) {
    cJSON_Delete(body);
    sbx_appdirect_error(resp, 500, "INTERNAL_ERROR", "out of memory");
    return;
  }
  if (check_body(&c, body, events, &n) != 0) {
    sbx_appdirect_error(resp, 400, "BAD_REQUEST", c.msg);
    goto done;
  }
  const char *key = sbx_json_get_string(body, "idempotencyKey");
  if (s->cfg.bench) {
    bench_accept(s, key, events, n, resp);
    goto done;
  }
  sbx_appdirect *a = s->appdirect;
  mtr_mutex_lock(&a->lock);
  const ad_request *first = sbx_map_gets(&a->by_key, key);
  if (first) {
    cJSON *o = cJSON_CreateObject();
    char msg[400];
    mtr_fmt(msg, sizeof msg,
            "A usage request with idempotencyKey '%.200s' was already received (requestId %s)",
            key, first->id);
    cJSON_AddStringToObject(o, "code", "DUPLICATE_IDEMPOTENCY_KEY");
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_AddStringToObject(o, "requestId", first->id);
    add_status_path(o, first->id);
    mtr_mutex_unlock(&a->lock);
    sbx_respond_json(resp, 409, o);
    cJSON_Delete(o);
    goto done;
  }
  const ad_request *r = store_locked(s, a, key, events, n, req->now_us);
  cJSON *o = NULL;
  if (r) {
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "requestId", r->id);
    cJSON_AddStringToObject(o, "idempotencyKey", r->idempotency_key);
    add_status_path(o, r->id);
  }
  mtr_mutex_unlock(&a->lock);
  if (o)
    sbx_respond_json(resp, 202, o);
  else
    sbx_appdirect_error(resp, 500, "INTERNAL_ERROR", "out of memory");
  cJSON_Delete(o);
done:
  mtr_free(events);
  cJSON_Delete(body);
}

static void status(sbx *s, const sbx_request *req, sbx_response *resp)
{
  if (authorize(s, req, resp, NULL, 0) != 0)
    return;
  const char *id = req->path + strlen(AD_STATUS_PATH);
  sbx_appdirect *a = s->appdirect;
  cJSON *o = NULL;
  mtr_mutex_lock(&a->lock);
  const ad_request *r = sbx_map_gets(&a->by_id, id);
  if (r) {
    int done = req->now_us - r->accepted_us >= (int64_t)s->cfg.appdirect_processing_ms * 1000;
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "requestId", r->id);
    cJSON_AddStringToObject(o, "idempotencyKey", r->idempotency_key);
    cJSON_AddStringToObject(o, "status", !done ? "PROCESSING" : r->failed ? "FAILED"
                                                                          : "SUCCESSFUL");
    cJSON_AddNumberToObject(o, "totalUsagesCount", (double)r->count);
    cJSON_AddNumberToObject(o, "processedUsagesCount", done ? (double)(r->count - r->failed) : 0);
    cJSON_AddNumberToObject(o, "failedUsagesCount", done ? (double)r->failed : 0);
    cJSON *failed = cJSON_AddArrayToObject(o, "failedUsages");
    for (size_t i = 0; done && i < r->count; i++) {
      const ad_event *e = &r->events[i];
      if (!e->failed)
        continue;
      cJSON *f = cJSON_CreateObject();
      char desc[300];
      mtr_fmt(desc, sizeof desc,
              "Account %.200s has no active subscription that accepts this usage", e->account);
      cJSON_AddStringToObject(f, "accountId", e->account);
      cJSON_AddStringToObject(f, "eventId", e->event_id);
      cJSON_AddStringToObject(f, "errorCode", "BAD_DATA");
      cJSON_AddStringToObject(f, "errorDescription", desc);
      cJSON_AddItemToArray(failed, f);
    }
  }
  mtr_mutex_unlock(&a->lock);
  if (!o) {
    char msg[200];
    mtr_fmt(msg, sizeof msg, "Usage request %.100s not found", id);
    sbx_appdirect_error(resp, 404, "NOT_FOUND", msg);
    return;
  }
  sbx_respond_json(resp, 200, o);
  cJSON_Delete(o);
}

void sbx_appdirect_handle(sbx *s, const sbx_request *req, sbx_response *resp)
{
  if (req->route == SBX_APPDIRECT_TOKEN)
    token(s, req, resp);
  else if (req->route == SBX_APPDIRECT_USAGE)
    usage(s, req, resp);
  else
    status(s, req, resp);
}
