#include "sbx_client.h"

#include "auth/sigv4.h"
#include "http/http.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/types.h>

/* Children not yet reaped: their pids cannot have been reused. */
static pid_t tracked[64];
static size_t ntracked;

void sbx_track(pid_t pid)
{
  if (pid > 0 && ntracked < sizeof tracked / sizeof tracked[0])
    tracked[ntracked++] = pid;
}

void sbx_untrack(pid_t pid)
{
  for (size_t i = 0; i < ntracked; i++)
    if (tracked[i] == pid) {
      tracked[i] = tracked[--ntracked];
      return;
    }
}

void sbx_stop(sandbox_proc *sp)
{
  sbx_untrack(sp->pid);
  sandbox_stop(sp);
}

void sbx_stop_others(const sandbox_proc *keep)
{
  for (size_t i = 0; i < ntracked;) {
    if (keep && tracked[i] == keep->pid) {
      i++;
      continue;
    }
    sandbox_proc p = { tracked[i], 0, "" };
    tracked[i] = tracked[--ntracked];
    sandbox_stop(&p); /* SIGTERM, then SIGKILL after 2 s; reaps it */
  }
}

void sbx_start(sandbox_proc *sp, ...)
{
  const char *args[48];
  size_t n = 0;
  va_list ap;
  va_start(ap, sp);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && n < 47)
    args[n++] = a;
  va_end(ap);
  args[n] = NULL;
  assert_int_equal(sandbox_start(sp, args), 0);
  sbx_track(sp->pid);
}

typedef struct grow {
  char *p;
  size_t n;
} grow;

static size_t on_data(char *d, size_t s, size_t m, void *ud)
{
  grow *g = ud;
  char *np = realloc(g->p, g->n + s * m + 1);
  if (!np)
    return 0;
  g->p = np;
  memcpy(g->p + g->n, d, s * m);
  g->n += s * m;
  g->p[g->n] = '\0';
  return s * m;
}

long http_call(const sandbox_proc *sp, const char *method, const char *path,
               const char *const *headers, const char *body, http_resp *out)
{
  memset(out, 0, sizeof *out);
  CURL *h = curl_easy_init();
  assert_non_null(h);
  char url[1024];
  snprintf(url, sizeof url, "%s%s", sp->url, path);
  grow b = { calloc(1, 1), 0 }, hd = { calloc(1, 1), 0 };
  struct curl_slist *list = NULL;
  for (size_t i = 0; headers && headers[i]; i++)
    list = curl_slist_append(list, headers[i]);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  if (body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &hd);
  out->curl_code = (int)curl_easy_perform(h);
  if (out->curl_code == CURLE_OK)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
  curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &out->seconds);
  curl_slist_free_all(list);
  curl_easy_cleanup(h);
  out->body = b.p;
  out->headers = hd.p;
  out->json = out->body && *out->body ? cJSON_Parse(out->body) : NULL;
  return out->status;
}

void http_resp_free(http_resp *r)
{
  free(r->body);
  free(r->headers);
  cJSON_Delete(r->json);
  memset(r, 0, sizeof *r);
}

int http_header(const http_resp *r, const char *name, char *out, size_t size)
{
  size_t nl = strlen(name);
  for (const char *p = r->headers; p && *p;) {
    const char *eol = strstr(p, "\r\n");
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (*v == ' ')
        v++;
      size_t vl = (size_t)(p + len - v);
      if (vl >= size)
        vl = size - 1;
      memcpy(out, v, vl);
      out[vl] = '\0';
      return 0;
    }
    if (!eol)
      break;
    p = eol + 2;
  }
  return -1;
}

const cJSON *jget(const cJSON *root, const char *path)
{
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  const cJSON *cur = root;
  for (char *p = buf, *tok; cur && (tok = strsep(&p, ".")) != NULL;) {
    if (cJSON_IsArray(cur)) {
      char *end;
      long i = strtol(tok, &end, 10);
      cur = *end ? NULL : cJSON_GetArrayItem(cur, (int)i);
    } else {
      cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    }
  }
  return cur;
}

const char *jstr(const cJSON *root, const char *path)
{
  const cJSON *it = jget(root, path);
  return cJSON_IsString(it) ? it->valuestring : NULL;
}

double jnum(const cJSON *root, const char *path)
{
  const cJSON *it = jget(root, path);
  return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

int64_t wall_us(void)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

void sbx_advance_ms(sandbox_proc *sp, long long ms)
{
  char body[64];
  snprintf(body, sizeof body, "{\"advance_ms\":%lld}", ms);
  http_resp r;
  assert_int_equal(http_call(sp, "POST", "/_sandbox/clock", NULL, body, &r), 200);
  http_resp_free(&r);
}

int64_t sbx_offset_us(const sandbox_proc *sp)
{
  http_resp r;
  assert_int_equal(http_call(sp, "GET", "/_sandbox/clock", NULL, NULL, &r), 200);
  double off = jnum(r.json, "offset_ms");
  http_resp_free(&r);
  assert_false(isnan(off));
  return (int64_t)off * 1000;
}

long long sbx_hour_s(const sandbox_proc *sp)
{
  long long now = (long long)((wall_us() + sbx_offset_us(sp)) / 1000000);
  return now / 3600 * 3600;
}

cJSON *ledger_of(sandbox_proc *sp, const char *market, cJSON **root)
{
  *root = sandbox_ledger(sp);
  assert_non_null(*root);
  cJSON *arr = cJSON_GetObjectItemCaseSensitive(*root, market);
  assert_true(cJSON_IsArray(arr));
  return arr;
}

/* ---- Tackle ---- */

void tackle_token(sandbox_proc *sp, char *out, size_t size)
{
  http_resp r;
  const char *h[] = { "Content-Type: application/json", NULL };
  assert_int_equal(
    http_call(sp, "POST", "/v1/authenticate", h,
              "{\"client_id\":\"sandbox-tackle-id\",\"client_secret\":\"sandbox-tackle-secret\","
              "\"grant_type\":\"client_credentials\"}",
              &r),
    200);
  const char *t = jstr(r.json, "access_token");
  assert_non_null(t);
  snprintf(out, size, "%s", t);
  http_resp_free(&r);
}

long tackle_call(sandbox_proc *sp, const char *token, const char *method, const char *path,
                 const char *body, http_resp *out)
{
  char auth[400];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  const char *h[] = { "Content-Type: application/json", auth, NULL };
  return http_call(sp, method, path, h, body, out);
}

/* ---- AppDirect ---- */

void appdirect_token(sandbox_proc *sp, char *out, size_t size)
{
  http_resp r;
  /* base64("sandbox-appdirect-id:sandbox-appdirect-secret") */
  const char *h[] = {
    "Authorization: Basic c2FuZGJveC1hcHBkaXJlY3QtaWQ6c2FuZGJveC1hcHBkaXJlY3Qtc2VjcmV0",
    "Content-Type: application/x-www-form-urlencoded", NULL
  };
  assert_int_equal(http_call(sp, "POST", "/oauth2/token", h,
                             "grant_type=client_credentials&scope=ROLE_APPLICATION", &r),
                   200);
  const char *t = jstr(r.json, "access_token");
  assert_non_null(t);
  snprintf(out, size, "%s", t);
  http_resp_free(&r);
}

long appdirect_call(sandbox_proc *sp, const char *token, const char *method, const char *path,
                    const char *body, http_resp *out)
{
  char auth[400];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  const char *h[] = { "Content-Type: application/json", auth, NULL };
  return http_call(sp, method, path, h, body, out);
}

/* ---- AWS ---- */

long aws_call(sandbox_proc *sp, const char *op, const char *body, const aws_signer *signer,
              http_resp *out)
{
  aws_signer def = { 0 };
  const aws_signer *sg = signer ? signer : &def;
  mtr_http_request req;
  mtr_http_request_init(&req);
  req.method = "POST";
  mtr_buf_printf(&req.url, "%s/", sp->url);
  char target[128];
  snprintf(target, sizeof target, "AWSMPMeteringService.%s", op);
  mtr_headers_set(&req.headers, "Content-Type", "application/x-amz-json-1.1");
  mtr_headers_set(&req.headers, "X-Amz-Target", target);
  mtr_buf_puts(&req.body, body);
  mtr_sigv4_credentials creds = {
    sg->access_key_id ? sg->access_key_id : "AKIDSANDBOXEXAMPLE",
    sg->secret ? sg->secret : "sandbox+secret/KEY/EXAMPLE",
    sg->session_token,
  };
  mtr_sigv4_options opt;
  memset(&opt, 0, sizeof opt);
  opt.region = sg->region ? sg->region : "us-east-1";
  opt.service = sg->service ? sg->service : "aws-marketplace";
  opt.time_us = wall_us() + sbx_offset_us(sp) + sg->skew_us;
  opt.unsigned_session_token = sg->unsigned_token;
  meter_error err;
  assert_int_equal(mtr_sigv4_sign(&req, &creds, &opt, NULL, &err), 0);
  /* curl sends the Host itself; every other header goes as signed */
  char *lines[32];
  const char *hl[33];
  size_t n = 0;
  for (size_t i = 0; i < req.headers.count && n < 32; i++) {
    if (strcasecmp(req.headers.items[i].name, "host") == 0)
      continue;
    size_t len = strlen(req.headers.items[i].name) + strlen(req.headers.items[i].value) + 3;
    lines[n] = malloc(len);
    snprintf(lines[n], len, "%s: %s", req.headers.items[i].name, req.headers.items[i].value);
    hl[n] = lines[n];
    n++;
  }
  hl[n] = NULL;
  long st = http_call(sp, "POST", "/", hl, sg->send_body ? sg->send_body : body, out);
  for (size_t i = 0; i < n; i++)
    free(lines[i]);
  mtr_http_request_dispose(&req);
  return st;
}

const char *aws_error(const http_resp *r)
{
  const char *t = jstr(r->json, "__type");
  if (!t)
    return NULL;
  const char *h = strchr(t, '#');
  return h ? h + 1 : t;
}
