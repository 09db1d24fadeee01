/* meter-sandbox: a local emulator of Tackle, AppDirect and AWS Marketplace
 * Metering on loopback (docs/sandbox.md).
 *
 * Map of the sources:
 *   main.c          flags, start-up line, signals
 *   server.c        libmicrohttpd glue: bodies, routing, faults, slow answers,
 *                   dropped and reset connections
 *   faults.c        the fault table and its seeded decisions
 *   control.c       /_sandbox/{faults,reset,ledger,clock}
 *   tokens.c        bearer tokens (Tackle, AppDirect)
 *   tackle*.c       Tackle /v1 (auth, schema validation, record store)
 *   appdirect.c     AppDirect oauth2 + Billing Usage v2
 *   aws*.c          AWS Marketplace Metering (SigV4 check, operations)
 *   exact_json.c    JSON with numbers kept as sent; hashmap.c
 *
 * Each marketplace keeps its state behind its own mutex, in hash maps keyed
 * the way the marketplace keys usage, so replays and lookups cost O(1). */
#ifndef SBX_SANDBOX_H
#define SBX_SANDBOX_H

#include "core/buf.h"
#include "http/http.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---- configuration (flags) ----------------------------------------------- */

typedef struct sbx_config {
  const char *listen_addr;          /* 127.0.0.1 */
  int port;                         /* 0: any free port */
  unsigned threads;                 /* MHD thread pool size */
  const char *tackle_id, *tackle_secret;
  const char *appdirect_id, *appdirect_secret;
  const char *aws_access_key_id, *aws_secret_access_key;
  const char *aws_session_token;    /* NULL: any session token is accepted */
  const char *aws_region;           /* the endpoint's region */
  const char *aws_resource_region;  /* where the simulated instance/task runs */
  long tackle_token_ttl_s, appdirect_token_ttl_s;
  long tackle_send_delay_ms;
  long appdirect_processing_ms;
  long aws_meter_window_h, aws_batch_window_h;
  long max_skew_s;                  /* SigV4 X-Amz-Date tolerance (300) */
  int64_t clock_offset_us;          /* initial offset of the sandbox clock */
  uint64_t seed;
  size_t max_body;
  int verbose;
  int bench;                        /* --bench: nothing retained per new request (AWS
                                       ClientTokens, AppDirect requests); see
                                       docs/sandbox.md, "Bench mode" */
} sbx_config;

/* ---- routes ------------------------------------------------------------------ */

typedef enum sbx_route {
  SBX_ROUTE_NONE = 0,
  SBX_TACKLE_AUTH,
  SBX_TACKLE_PUT,
  SBX_TACKLE_POST,
  SBX_TACKLE_LIST,
  SBX_TACKLE_GET,
  SBX_TACKLE_DELETE,
  SBX_APPDIRECT_TOKEN,
  SBX_APPDIRECT_USAGE,
  SBX_APPDIRECT_STATUS,
  SBX_AWS_METER,
  SBX_AWS_BATCH,
  SBX_AWS_REGISTER,
  SBX_AWS_RESOLVE,
  SBX_AWS_UNKNOWN,        /* POST / without a known X-Amz-Target */
  SBX_CONTROL,            /* /_sandbox/... (never faulted) */
  SBX_ROUTE_UNKNOWN,      /* 404 */
  SBX_ROUTE_COUNT
} sbx_route;

/* "tackle.put", "aws.BatchMeterUsage", ...; NULL for routes faults cannot name. */
const char *sbx_route_name(sbx_route r);
int sbx_route_is_aws(sbx_route r);
int sbx_route_is_tackle(sbx_route r);

/* ---- one request and its answer ------------------------------------------------ */

struct sbx_fault_hit;

typedef struct sbx_request {
  const char *method;          /* "GET", "POST", ... */
  const char *path;            /* decoded path, without the query */
  const char *raw_uri;         /* the request target as sent (path and query) */
  const char *body;            /* NUL-terminated copy of the body */
  size_t body_len;
  sbx_route route;
  int64_t now_us;              /* the sandbox clock when the request arrived */
  const struct sbx_fault_hit *fault; /* the fault hitting this request, or NULL */
  void *conn;                  /* struct MHD_Connection */
} sbx_request;

/* A request header (case-insensitive name), or NULL. */
const char *sbx_header(const sbx_request *r, const char *name);
/* A decoded query argument (the first one of that name), or NULL. */
const char *sbx_query(const sbx_request *r, const char *name);
/* Every value of a repeatable query argument, in order; returns how many
 * (at most max are stored). */
size_t sbx_query_all(const sbx_request *r, const char *name, const char **out, size_t max);
/* Calls fn for every query argument; stops when fn returns non-zero. */
void sbx_query_each(const sbx_request *r, int (*fn)(void *ud, const char *k, const char *v),
                    void *ud);
/* Every request header, names as received (for SigV4 verification). */
int sbx_headers_collect(const sbx_request *r, mtr_headers *out);

typedef struct sbx_response {
  unsigned status;
  const char *content_type;    /* static string */
  mtr_buf body;
  mtr_headers headers;         /* extra headers */
} sbx_response;

void sbx_response_init(sbx_response *resp);
void sbx_response_dispose(sbx_response *resp);
/* Sets status, content type application/json and the printed body. */
void sbx_respond_json(sbx_response *resp, unsigned status, const cJSON *root);
/* Same, with a body already printed. */
void sbx_respond_text(sbx_response *resp, unsigned status, const char *content_type,
                      const char *body);

/* ---- the sandbox ------------------------------------------------------------------ */

typedef struct sbx_faults sbx_faults;
typedef struct sbx_tokens sbx_tokens;
typedef struct sbx_tackle sbx_tackle;
typedef struct sbx_appdirect sbx_appdirect;
typedef struct sbx_aws sbx_aws;

typedef struct sbx {
  sbx_config cfg;
  atomic_llong clock_offset_us;      /* sandbox clock = real clock + offset */
  atomic_ullong id_counter;
  sbx_faults *faults;
  sbx_tokens *tackle_tokens;
  sbx_tokens *appdirect_tokens;
  sbx_tackle *tackle;
  sbx_appdirect *appdirect;
  sbx_aws *aws;
  atomic_ullong bench_appdirect_requests;  /* --bench: AppDirect usage accepted */
  atomic_ullong bench_appdirect_events;    /* (requests, and events not failed) */
} sbx;

/* The sandbox clock (UTC microseconds): real time plus the offset set by
 * --clock-offset or POST /_sandbox/clock. Every marketplace rule that
 * depends on time (token expiry, send delay, windows, SigV4 skew, the Date
 * header) reads this clock. */
int64_t sbx_now(const sbx *s);

/* A fresh id: a UUID derived from the seed, `kind` and a counter (unique
 * within a run; the same sequence for the same seed and request order). */
void sbx_new_id(sbx *s, const char *kind, char out[37]);

/* A random-looking opaque string of hex digits (2*nbytes), from the same
 * source. */
void sbx_new_secret(sbx *s, const char *kind, char *out, size_t nbytes);

/* Logging to stderr (the only place the sandbox writes after start-up). */
void sbx_log(const sbx *s, const char *fmt, ...) MTR_PRINTF(2, 3);

/* Handlers: each fills resp (status, body, headers). */
void sbx_tackle_handle(sbx *s, const sbx_request *req, sbx_response *resp);
void sbx_appdirect_handle(sbx *s, const sbx_request *req, sbx_response *resp);
void sbx_aws_handle(sbx *s, const sbx_request *req, sbx_response *resp);
void sbx_control_handle(sbx *s, const sbx_request *req, sbx_response *resp);

/* State of each marketplace. */
sbx_tackle *sbx_tackle_new(void);
void sbx_tackle_free(sbx_tackle *t);
void sbx_tackle_reset(sbx_tackle *t);
int sbx_tackle_ledger(sbx *s, cJSON *array);

sbx_appdirect *sbx_appdirect_new(void);
void sbx_appdirect_free(sbx_appdirect *a);
void sbx_appdirect_reset(sbx_appdirect *a);
int sbx_appdirect_ledger(sbx *s, cJSON *array);

sbx_aws *sbx_aws_new(void);
void sbx_aws_free(sbx_aws *a);
void sbx_aws_reset(sbx_aws *a);
int sbx_aws_ledger(sbx *s, cJSON *array);

/* Answers shared by the AWS error path and the fault injector. */
void sbx_aws_error(sbx *s, sbx_response *resp, unsigned status, const char *ns, const char *type,
                   const char *message);
#define SBX_AWS_NS_METERING "com.amazonaws.marketplacemetering"
#define SBX_AWS_NS_CORAL "com.amazon.coral.service"
#define SBX_AWS_NS_VALIDATE "com.amazon.coral.validate"

/* Tackle's error envelope {"code","error","errors":[],"error_type"}. */
void sbx_tackle_error(sbx_response *resp, unsigned status, const char *code, const char *error,
                      const char *error_type);
/* AppDirect's {"code","message"}. */
void sbx_appdirect_error(sbx_response *resp, unsigned status, const char *code,
                         const char *message);

/* Sets the SBX_ROUTE of a request from its method, path and X-Amz-Target. */
sbx_route sbx_route_of(const char *method, const char *path, const char *amz_target);

#endif
