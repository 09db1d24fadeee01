/* Pieces shared by every part of the sandbox: route names, the sandbox
 * clock, ids, logging and response helpers. */
#include "sandbox.h"

#include "auth/sigv4.h"
#include "core/alloc.h"
#include "core/str.h"
#include "core/uuid.h"
#include "json/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

static const char *const route_names[SBX_ROUTE_COUNT] = {
  [SBX_TACKLE_AUTH] = "tackle.auth",
  [SBX_TACKLE_PUT] = "tackle.put",
  [SBX_TACKLE_POST] = "tackle.post",
  [SBX_TACKLE_LIST] = "tackle.list",
  [SBX_TACKLE_GET] = "tackle.get",
  [SBX_TACKLE_DELETE] = "tackle.delete",
  [SBX_APPDIRECT_TOKEN] = "appdirect.token",
  [SBX_APPDIRECT_USAGE] = "appdirect.usage",
  [SBX_APPDIRECT_STATUS] = "appdirect.status",
  [SBX_AWS_METER] = "aws.MeterUsage",
  [SBX_AWS_BATCH] = "aws.BatchMeterUsage",
  [SBX_AWS_REGISTER] = "aws.RegisterUsage",
  [SBX_AWS_RESOLVE] = "aws.ResolveCustomer",
};

const char *sbx_route_name(sbx_route r)
{
  return r > SBX_ROUTE_NONE && r < SBX_ROUTE_COUNT ? route_names[r] : NULL;
}

int sbx_route_is_aws(sbx_route r)
{
  return r >= SBX_AWS_METER && r <= SBX_AWS_UNKNOWN;
}

int sbx_route_is_tackle(sbx_route r)
{
  return r >= SBX_TACKLE_AUTH && r <= SBX_TACKLE_DELETE;
}

#define TACKLE_RECORDS "/v1/metering/usage-records"
#define APPDIRECT_USAGE "/api/integration/v2/billing/usage"
#define APPDIRECT_REQUESTS APPDIRECT_USAGE "/requests/"
#define AWS_TARGET_PREFIX "AWSMPMeteringService."

/* "/prefix/<one segment>" */
static int one_segment_after(const char *path, const char *prefix)
{
  size_t n = strlen(prefix);
  return strncmp(path, prefix, n) == 0 && path[n] != '\0' && !strchr(path + n, '/');
}

sbx_route sbx_route_of(const char *method, const char *path, const char *amz_target)
{
  int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
  int put = strcmp(method, "PUT") == 0, del = strcmp(method, "DELETE") == 0;
  if (strncmp(path, "/_sandbox/", 10) == 0)
    return SBX_CONTROL;
  if (strcmp(path, "/v1/authenticate") == 0)
    return post ? SBX_TACKLE_AUTH : SBX_ROUTE_UNKNOWN;
  if (strcmp(path, TACKLE_RECORDS) == 0)
    return put ? SBX_TACKLE_PUT : post ? SBX_TACKLE_POST : get ? SBX_TACKLE_LIST
                                                               : SBX_ROUTE_UNKNOWN;
  if (one_segment_after(path, TACKLE_RECORDS "/"))
    return get ? SBX_TACKLE_GET : del ? SBX_TACKLE_DELETE : SBX_ROUTE_UNKNOWN;
  if (strcmp(path, "/oauth2/token") == 0)
    return post ? SBX_APPDIRECT_TOKEN : SBX_ROUTE_UNKNOWN;
  if (strcmp(path, APPDIRECT_USAGE) == 0)
    return post ? SBX_APPDIRECT_USAGE : SBX_ROUTE_UNKNOWN;
  if (one_segment_after(path, APPDIRECT_REQUESTS))
    return get ? SBX_APPDIRECT_STATUS : SBX_ROUTE_UNKNOWN;
  if (strcmp(path, "/") == 0 && post) {
    const char *op = amz_target && strncmp(amz_target, AWS_TARGET_PREFIX,
                                           strlen(AWS_TARGET_PREFIX)) == 0
                       ? amz_target + strlen(AWS_TARGET_PREFIX)
                       : "";
    if (strcmp(op, "MeterUsage") == 0)
      return SBX_AWS_METER;
    if (strcmp(op, "BatchMeterUsage") == 0)
      return SBX_AWS_BATCH;
    if (strcmp(op, "RegisterUsage") == 0)
      return SBX_AWS_REGISTER;
    if (strcmp(op, "ResolveCustomer") == 0)
      return SBX_AWS_RESOLVE;
    return SBX_AWS_UNKNOWN;
  }
  return SBX_ROUTE_UNKNOWN;
}

int64_t sbx_now(const sbx *s)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec + atomic_load(&s->clock_offset_us);
}

void sbx_new_id(sbx *s, const char *kind, char out[37])
{
  char name[96];
  unsigned long long n = atomic_fetch_add(&s->id_counter, 1);
  int len = snprintf(name, sizeof name, "meter-sandbox/%llu/%s/%llu",
                     (unsigned long long)s->cfg.seed, kind, n);
  mtr_uuid_from_name(name, (size_t)len, out);
}

void sbx_new_secret(sbx *s, const char *kind, char *out, size_t nbytes)
{
  char name[96], hex[65];
  unsigned long long n = atomic_fetch_add(&s->id_counter, 1);
  int len = snprintf(name, sizeof name, "meter-sandbox-secret/%llu/%s/%llu",
                     (unsigned long long)s->cfg.seed, kind, n);
  mtr_sha256_hex(name, (size_t)len, hex);
  if (nbytes > 32)
    nbytes = 32;
  memcpy(out, hex, nbytes * 2);
  out[nbytes * 2] = '\0';
}

void sbx_log(const sbx *s, const char *fmt, ...)
{
  (void)s;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stderr, "meter-sandbox: %s\n", line);
}

void sbx_response_init(sbx_response *resp)
{
  memset(resp, 0, sizeof *resp);
  resp->status = 200;
  resp->content_type = "application/json";
}

void sbx_response_dispose(sbx_response *resp)
{
  mtr_buf_dispose(&resp->body);
  mtr_headers_dispose(&resp->headers);
}

void sbx_respond_json(sbx_response *resp, unsigned status, const cJSON *root)
{
  resp->status = status;
  resp->content_type = "application/json";
  mtr_buf_clear(&resp->body);
  if (!root || mtr_json_print(root, &resp->body) != 0) {
    resp->status = 500;
    mtr_buf_clear(&resp->body);
    mtr_buf_puts(&resp->body, "{\"message\":\"meter-sandbox: out of memory\"}");
  }
}

void sbx_respond_text(sbx_response *resp, unsigned status, const char *content_type,
                      const char *body)
{
  resp->status = status;
  resp->content_type = content_type;
  mtr_buf_clear(&resp->body);
  mtr_buf_puts(&resp->body, body);
}
