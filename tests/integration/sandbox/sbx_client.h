/* Raw HTTP against meter-sandbox for its own integration tests: any method,
 * any headers, answers with status, headers and parsed JSON; tokens for
 * Tackle and AppDirect; AWS calls signed with the library's SigV4 signer. */
#ifndef SBX_CLIENT_H
#define SBX_CLIENT_H

#include "sandbox_proc.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct http_resp {
  long status;          /* 0 when no answer arrived */
  int curl_code;        /* CURLE_OK, or why there was no answer */
  char *body;           /* NUL-terminated ("" when empty) */
  cJSON *json;          /* the body parsed, or NULL */
  char *headers;        /* the raw header block */
  double seconds;       /* total time */
} http_resp;

/* Starts a sandbox with extra flags (NULL-terminated list), asserting. The
 * process is remembered until sbx_stop, so a test that fails half-way does
 * not leave it running: a teardown calls sbx_stop_others. */
void sbx_start(sandbox_proc *sp, ...);
void sbx_stop(sandbox_proc *sp);
/* Stops every process started by sbx_start (or given to sbx_track) and not
 * stopped yet, except `keep` (may be NULL). Usable as the body of a teardown. */
void sbx_stop_others(const sandbox_proc *keep);
/* Remembers / forgets a child process of the test for sbx_stop_others. */
void sbx_track(pid_t pid);
void sbx_untrack(pid_t pid);

/* One request; headers are "Name: value" strings, NULL-terminated (may be
 * NULL). Returns out->status. */
long http_call(const sandbox_proc *sp, const char *method, const char *path,
               const char *const *headers, const char *body, http_resp *out);
void http_resp_free(http_resp *r);
/* A response header's value (case-insensitive name) into out; 0 if found. */
int http_header(const http_resp *r, const char *name, char *out, size_t size);

/* Member lookup by a dotted path: "data.0.status" (numbers index arrays). */
const cJSON *jget(const cJSON *root, const char *path);
const char *jstr(const cJSON *root, const char *path);   /* NULL unless a string */
double jnum(const cJSON *root, const char *path);        /* NAN unless a number */

/* The wall clock, microseconds since the epoch. */
int64_t wall_us(void);
/* Moves the sandbox clock (POST /_sandbox/clock {"advance_ms"}). */
void sbx_advance_ms(sandbox_proc *sp, long long ms);
/* The sandbox clock's offset from the wall clock (GET /_sandbox/clock). */
int64_t sbx_offset_us(const sandbox_proc *sp);
/* Epoch seconds of the start of the current hour of the sandbox clock. */
long long sbx_hour_s(const sandbox_proc *sp);

/* GET /_sandbox/ledger's array for one marketplace (caller deletes *root). */
cJSON *ledger_of(sandbox_proc *sp, const char *market, cJSON **root);

/* ---- Tackle ---- */
void tackle_token(sandbox_proc *sp, char *out, size_t size);
long tackle_call(sandbox_proc *sp, const char *token, const char *method, const char *path,
                 const char *body, http_resp *out);

/* ---- AppDirect ---- */
void appdirect_token(sandbox_proc *sp, char *out, size_t size);
long appdirect_call(sandbox_proc *sp, const char *token, const char *method, const char *path,
                    const char *body, http_resp *out);

/* ---- AWS ---- */
typedef struct aws_signer {
  const char *access_key_id;   /* NULL: the sandbox default */
  const char *secret;
  const char *session_token;   /* NULL: none */
  const char *region;          /* NULL: us-east-1 */
  const char *service;         /* NULL: aws-marketplace */
  int64_t skew_us;             /* sign this far from the sandbox clock */
  int unsigned_token;          /* add X-Amz-Security-Token after signing */
  const char *send_body;       /* send this body instead of the signed one */
} aws_signer;

/* POST / with X-Amz-Target AWSMPMeteringService.<op>, signed (signer NULL:
 * default credentials, signed at the sandbox clock). */
long aws_call(sandbox_proc *sp, const char *op, const char *body, const aws_signer *signer,
              http_resp *out);
/* The error type of an AWS answer: __type after '#' ("ThrottlingException"). */
const char *aws_error(const http_resp *r);

#endif
