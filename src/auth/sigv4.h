/* AWS Signature Version 4 (AWS4-HMAC-SHA256), header and query (presigned)
 * modes, and the verification of a received request (used by meter-sandbox).
 *
 * Pure: no I/O and no clock of its own. The caller passes the signing time
 * (already corrected for clock skew) and the credentials; the signer edits
 * the request in place. Hashing is OpenSSL (EVP / HMAC).
 *
 * Canonicalisation follows botocore's SigV4Auth and aws-c-auth, and passes
 * the official suite (tests/data/sigv4):
 *   - path: dot segments and empty segments removed (unless keep_path), then
 *     URI-encoded (again: the wire path is encoded a second time for every
 *     service but S3);
 *   - query: every key and value percent-decoded, re-encoded (unreserved
 *     characters kept, %XX upper-case), sorted by key then value;
 *   - headers: names lower-cased, values trimmed, runs of whitespace (folded
 *     lines included) collapsed to one space, repeated headers joined with
 *     ',' in order, sorted by name; host always signed; hop-by-hop and
 *     volatile headers (user-agent, expect, ...) never signed.
 */
#ifndef MTR_SIGV4_H
#define MTR_SIGV4_H

#include "core/buf.h"
#include "core/sync.h"
#include "http/http.h"
#include "meter/errors.h"

#include <stddef.h>
#include <stdint.h>

#define MTR_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
/* hex SHA-256 of the empty string */
#define MTR_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct mtr_sigv4_credentials {
  const char *access_key_id;
  const char *secret_access_key;
  const char *session_token;   /* NULL or "": long-term credentials */
} mtr_sigv4_credentials;

/* Derived signing keys (kSigning), cached per credentials (by a hash of the
 * secret, never the secret itself), date, region and service: deriving one
 * costs four HMACs and it changes once a day. Thread-safe; a handful of
 * slots, least recently used replaced. */
#define MTR_SIGV4_KEY_SLOTS 4

typedef struct mtr_sigv4_key_slot {
  unsigned char secret_hash[32];
  char access_key_id[128];
  char date[9];
  char region[64];
  char service[64];
  unsigned char key[32];
  uint64_t used;               /* 0: empty */
} mtr_sigv4_key_slot;

typedef struct mtr_sigv4_key_cache {
  mtr_mutex lock;
  mtr_sigv4_key_slot slots[MTR_SIGV4_KEY_SLOTS];
  uint64_t tick;
  unsigned long hits, misses;  /* for tests */
} mtr_sigv4_key_cache;

void mtr_sigv4_key_cache_init(mtr_sigv4_key_cache *c);
void mtr_sigv4_key_cache_dispose(mtr_sigv4_key_cache *c);   /* wipes the keys */

typedef struct mtr_sigv4_options {
  const char *region;          /* "us-east-1" */
  const char *service;         /* signing name: "aws-marketplace", "sts" */
  int64_t time_us;             /* signing time, microseconds since the epoch (UTC) */
  int keep_path;               /* 1: no dot-segment removal (S3 style) */
  int path_is_encoded;         /* 1: the path is used as sent, not encoded again (S3) */
  int sign_body_header;        /* 1: add and sign x-amz-content-sha256 (S3 only; the
                                  Marketplace and STS never get it) */
  int unsigned_session_token;  /* 1: add the session token after signing (left out of
                                  the signature; a few services want that) */
  long expires_s;              /* query mode: X-Amz-Expires (default 3600) */
  mtr_sigv4_key_cache *keys;   /* optional cache of derived keys */
} mtr_sigv4_options;

/* What the signer computed, when the caller wants to see it (tests, debug
 * logs). Initialise with MTR_SIGV4_TRACE_INIT; dispose after. */
typedef struct mtr_sigv4_trace {
  mtr_buf canonical_request;
  mtr_buf string_to_sign;
  mtr_buf signed_headers;
  char signature[65];
} mtr_sigv4_trace;

#define MTR_SIGV4_TRACE_INIT { MTR_BUF_INIT, MTR_BUF_INIT, MTR_BUF_INIT, { 0 } }
void mtr_sigv4_trace_dispose(mtr_sigv4_trace *t);

/*
 * Header mode. Removes any Authorization, X-Amz-Date, X-Amz-Security-Token
 * and x-amz-content-sha256 left from an earlier attempt, then adds
 * X-Amz-Date (from opt->time_us), X-Amz-Security-Token (temporary
 * credentials) and Authorization. Host is signed from the Host header if
 * the request has one, else from the URL (port only when not the default).
 * Every other header of the request is signed except hop-by-hop ones.
 * trace may be NULL.
 */
int mtr_sigv4_sign(mtr_http_request *req, const mtr_sigv4_credentials *creds,
                   const mtr_sigv4_options *opt, mtr_sigv4_trace *trace, meter_error *err);

/*
 * Query mode (a presigned URL): appends X-Amz-Algorithm, X-Amz-Credential,
 * X-Amz-Date, X-Amz-SignedHeaders, X-Amz-Expires, [X-Amz-Security-Token] and
 * X-Amz-Signature to the URL's query. x-amz-date is not a signed header in
 * this mode; the payload hash is still the body's.
 */
int mtr_sigv4_presign(mtr_http_request *req, const mtr_sigv4_credentials *creds,
                      const mtr_sigv4_options *opt, mtr_sigv4_trace *trace, meter_error *err);

/* ---- verification (the server side: meter-sandbox) ---------------------- */

typedef struct mtr_sigv4_parsed {           /* an Authorization header, parsed */
  char access_key_id[128];
  char date[9];                             /* yyyymmdd of the credential scope */
  char region[64];
  char service[64];
  char signed_headers[1024];                /* "content-type;host;x-amz-date;..." */
  char signature[65];
} mtr_sigv4_parsed;

/* Parses "AWS4-HMAC-SHA256 Credential=AKID/yyyymmdd/region/service/aws4_request,
 * SignedHeaders=a;b;c, Signature=<64 hex>" (spaces after commas optional).
 * The signed-header list must be lower-case, sorted and without repeats.
 * METER_EAUTH naming what is wrong otherwise. */
int mtr_sigv4_parse_authorization(const char *header, mtr_sigv4_parsed *out, meter_error *err);

/* Recomputes the signature of a received request (raw path and query as sent,
 * headers as received, exact body) with `secret_access_key` and compares in
 * constant time. METER_OK if it matches; METER_EAUTH with the reason otherwise
 * (a signed header missing, host or x-amz-date not signed, the scope date not
 * the X-Amz-Date's, or the signature differs). */
int mtr_sigv4_verify(const char *method, const char *raw_path_and_query,
                     const mtr_headers *headers, const void *body, size_t body_len,
                     const mtr_sigv4_parsed *auth, const char *secret_access_key,
                     meter_error *err);

/* Parses an X-Amz-Date value (yyyymmddThhmmssZ). 0 on success, -1 if not
 * exactly that format. For a server's "Signature expired" check. */
int mtr_sigv4_parse_amz_date(const char *s, int64_t *out_us);

/* ---- building blocks, exposed for tests ---------------------------------- */

/* Lower-case hex SHA-256 of data into out[65]. */
void mtr_sha256_hex(const void *data, size_t len, char out[65]);
/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request"). */
int mtr_sigv4_derive_key(const char *secret, const char *date, const char *region,
                         const char *service, unsigned char out[32]);
/* Canonical URI of a raw path (as on the wire) under opt's path rules. */
int mtr_sigv4_canonical_uri(mtr_buf *out, const char *path, size_t len, const mtr_sigv4_options *opt);
/* Canonical query string of a raw query (without '?'). */
int mtr_sigv4_canonical_query(mtr_buf *out, const char *query, size_t len);

#endif
