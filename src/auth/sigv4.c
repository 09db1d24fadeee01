/* AWS Signature Version 4. See sigv4.h for the rules; the comments here say
 * why where the rules are not obvious. */
#include "sigv4.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashing ------------------------------------------------------------ */

/* SHA-256 fetched once: handing EVP_sha256() to OpenSSL 3 makes it look
 * the implementation up again (locks, name lookups) on every call, and the
 * HMAC() one-shot fetches a MAC as well; that was half the cost of a
 * signature. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
#endif
}

static const EVP_MD *md_sha256(void)
{
  pthread_once(&sha256_once, sha256_fetch);
  return sha256_md ? sha256_md : EVP_sha256();
}

/* The digest of data with a context the caller reuses: one context per
 * signature instead of one (two allocations) per hash. */
static int sha256_in(EVP_MD_CTX *ctx, const void *data, size_t len, unsigned char out[32])
{
  unsigned int n = 32;
  return ctx && EVP_DigestInit_ex(ctx, md_sha256(), NULL) && EVP_DigestUpdate(ctx, data, len) &&
                 EVP_DigestFinal_ex(ctx, out, &n)
           ? 0
           : -1;
}

static void sha256(const void *data, size_t len, unsigned char out[32])
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (sha256_in(ctx, data, len, out) != 0)
    memset(out, 0, 32);
  EVP_MD_CTX_free(ctx);
}

void mtr_sha256_hex(const void *data, size_t len, char out[65])
{
  unsigned char md[32];
  sha256(data, len, md);
  mtr_hex_encode(md, 32, out);
}

/* HMAC-SHA256 (RFC 2104) over the fetched digest, in the caller's context. */
static int hmac_in(EVP_MD_CTX *ctx, const void *key, size_t key_len, const void *data,
                   size_t len, unsigned char out[32])
{
  unsigned char k[64], pad[64], inner[32];
  memset(k, 0, sizeof k);
  int bad = 0;
  if (key_len > sizeof k)
    bad = sha256_in(ctx, key, key_len, k);
  else if (key_len)
    memcpy(k, key, key_len);
  const EVP_MD *md = md_sha256();
  unsigned int n = 32;
  for (size_t i = 0; i < 64; i++)
    pad[i] = k[i] ^ 0x36;
  int ok = !bad && ctx && EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, pad, 64) &&
           EVP_DigestUpdate(ctx, data, len) && EVP_DigestFinal_ex(ctx, inner, &n);
  for (size_t i = 0; i < 64; i++)
    pad[i] = k[i] ^ 0x5c;
  ok = ok && EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, pad, 64) &&
       EVP_DigestUpdate(ctx, inner, 32) && EVP_DigestFinal_ex(ctx, out, &n);
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(pad, sizeof pad);
  OPENSSL_cleanse(inner, sizeof inner);
  return ok ? 0 : -1;
}

static int derive_key_in(EVP_MD_CTX *ctx, const char *secret, const char *date,
                         const char *region, const char *service, unsigned char out[32])
{
  size_t slen = strlen(secret);
  char *k = mtr_malloc(slen + 5);
  if (!k)
    return METER_ENOMEM;
  memcpy(k, "AWS4", 4);
  memcpy(k + 4, secret, slen + 1);
  unsigned char a[32], b[32];
  int bad = hmac_in(ctx, k, slen + 4, date, strlen(date), a) ||
            hmac_in(ctx, a, 32, region, strlen(region), b) ||
            hmac_in(ctx, b, 32, service, strlen(service), a) ||
            hmac_in(ctx, a, 32, "aws4_request", 12, out);
  mtr_free_secret(k, slen + 5);
  OPENSSL_cleanse(a, sizeof a);
  OPENSSL_cleanse(b, sizeof b);
  return bad ? METER_EINTERNAL : METER_OK;
}

int mtr_sigv4_derive_key(const char *secret, const char *date, const char *region,
                         const char *service, unsigned char out[32])
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int rc = ctx ? derive_key_in(ctx, secret, date, region, service, out) : METER_EINTERNAL;
  EVP_MD_CTX_free(ctx);
  return rc;
}

/* ---- the derived-key cache ------------------------------------------------ */

void mtr_sigv4_key_cache_init(mtr_sigv4_key_cache *c)
{
  memset(c, 0, sizeof *c);
  mtr_mutex_init(&c->lock);
}

void mtr_sigv4_key_cache_dispose(mtr_sigv4_key_cache *c)
{
  if (!c)
    return;
  OPENSSL_cleanse(c->slots, sizeof c->slots);
  mtr_mutex_destroy(&c->lock);
}

static int slot_matches(const mtr_sigv4_key_slot *s, const unsigned char hash[32],
                        const char *akid, const char *date, const char *region,
                        const char *service)
{
  return s->used && memcmp(s->secret_hash, hash, 32) == 0 && strcmp(s->access_key_id, akid) == 0 &&
         strcmp(s->date, date) == 0 && strcmp(s->region, region) == 0 &&
         strcmp(s->service, service) == 0;
}

static int signing_key(EVP_MD_CTX *ctx, mtr_sigv4_key_cache *c, const char *akid,
                       const char *secret, const char *date, const char *region,
                       const char *service, unsigned char out[32])
{
  if (!c)
    return derive_key_in(ctx, secret, date, region, service, out);
  /* Values too long for a slot are simply not cached. */
  int cacheable = strlen(akid) < sizeof c->slots[0].access_key_id &&
                  strlen(region) < sizeof c->slots[0].region &&
                  strlen(service) < sizeof c->slots[0].service && strlen(date) == 8;
  unsigned char hash[32];
  if (sha256_in(ctx, secret, strlen(secret), hash) != 0)
    return METER_EINTERNAL;
  mtr_mutex_lock(&c->lock);
  for (size_t i = 0; cacheable && i < MTR_SIGV4_KEY_SLOTS; i++) {
    mtr_sigv4_key_slot *s = &c->slots[i];
    if (slot_matches(s, hash, akid, date, region, service)) {
      memcpy(out, s->key, 32);
      s->used = ++c->tick;
      c->hits++;
      mtr_mutex_unlock(&c->lock);
      return METER_OK;
    }
  }
  c->misses++;
  mtr_mutex_unlock(&c->lock);

  int rc = derive_key_in(ctx, secret, date, region, service, out);
  if (rc != METER_OK || !cacheable)
    return rc;
  mtr_mutex_lock(&c->lock);
  mtr_sigv4_key_slot *victim = &c->slots[0];
  for (size_t i = 1; i < MTR_SIGV4_KEY_SLOTS; i++)
    if (c->slots[i].used < victim->used)
      victim = &c->slots[i];
  memcpy(victim->secret_hash, hash, 32);
  mtr_strlcpy(victim->access_key_id, akid, sizeof victim->access_key_id);
  mtr_strlcpy(victim->date, date, sizeof victim->date);
  mtr_strlcpy(victim->region, region, sizeof victim->region);
  mtr_strlcpy(victim->service, service, sizeof victim->service);
  memcpy(victim->key, out, 32);
  victim->used = ++c->tick;
  mtr_mutex_unlock(&c->lock);
  return METER_OK;
}

/* ---- canonical URI and query ------------------------------------------- */

/* botocore's remove_dot_segments: drops empty and "." segments, ".." pops,
 * keeps the leading slash, and a trailing one if the path had it. */
static int normalize_path(mtr_buf *out, const char *p, size_t len)
{
  size_t *starts = mtr_calloc(len / 2 + 2, sizeof *starts);
  size_t *lens = mtr_calloc(len / 2 + 2, sizeof *lens);
  if (!starts || !lens) {
    mtr_free(starts);
    mtr_free(lens);
    return METER_ENOMEM;
  }
  size_t n = 0;
  for (size_t i = 0; i < len;) {
    size_t j = i;
    while (j < len && p[j] != '/')
      j++;
    size_t sl = j - i;
    if (sl == 2 && p[i] == '.' && p[i + 1] == '.') {
      if (n)
        n--;
    } else if (sl > 0 && !(sl == 1 && p[i] == '.')) {
      starts[n] = i;
      lens[n] = sl;
      n++;
    }
    i = j + 1;
  }
  mtr_buf_putc(out, '/');
  for (size_t k = 0; k < n; k++) {
    if (k)
      mtr_buf_putc(out, '/');
    mtr_buf_put(out, p + starts[k], lens[k]);
  }
  if (n && len && p[len - 1] == '/')
    mtr_buf_putc(out, '/');
  mtr_free(starts);
  mtr_free(lens);
  return mtr_buf_status(out);
}

/* A path with nothing to normalise or encode (the Marketplace's "/"):
 * slash-separated segments of unreserved characters other than '.', no
 * empty segment. It is its own canonical form under every option. */
static int plain_path(const char *p, size_t len)
{
  if (len == 0 || p[0] != '/')
    return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '/') {
      if (i + 1 < len && p[i + 1] == '/')
        return 0;
    } else if (!isalnum(c) && c != '-' && c != '_' && c != '~') {
      return 0;
    }
  }
  return 1;
}

int mtr_sigv4_canonical_uri(mtr_buf *out, const char *path, size_t len, const mtr_sigv4_options *opt)
{
  if (len == 0) {
    path = "/";
    len = 1;
  }
  if (plain_path(path, len))
    return mtr_buf_put(out, path, len);
  mtr_buf norm = MTR_BUF_INIT;
  if (opt->keep_path)
    mtr_buf_put(&norm, path, len);
  else
    normalize_path(&norm, path, len);
  int rc = mtr_buf_status(&norm);
  if (rc == METER_OK) {
    if (opt->path_is_encoded)
      mtr_buf_put(out, norm.ptr, norm.len);
    else
      mtr_url_encode(out, norm.ptr, norm.len, 1);
    rc = mtr_buf_status(out);
  }
  mtr_buf_dispose(&norm);
  return rc;
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decodes then re-encodes, so "%E1%88%B4" and raw UTF-8 agree. */
static void reencode(mtr_buf *out, const char *s, size_t len)
{
  mtr_buf dec = MTR_BUF_INIT;
  for (size_t i = 0; i < len; i++) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < len && (hi = hexval(s[i + 1])) >= 0 &&
        (lo = hexval(s[i + 2])) >= 0) {
      mtr_buf_putc(&dec, (char)(hi * 16 + lo));
      i += 2;
    } else {
      mtr_buf_putc(&dec, s[i]);
    }
  }
  if (mtr_buf_status(&dec))
    out->oom = 1;
  else
    mtr_url_encode(out, dec.ptr ? dec.ptr : "", dec.len, 0);
  mtr_buf_dispose(&dec);
}

typedef struct qparam {
  char *key;
  char *value;
} qparam;

static int qparam_cmp(const void *a, const void *b)
{
  const qparam *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : strcmp(x->value, y->value);
}

int mtr_sigv4_canonical_query(mtr_buf *out, const char *q, size_t len)
{
  size_t cap = 1;
  for (size_t i = 0; i < len; i++)
    cap += q[i] == '&';
  qparam *ps = mtr_calloc(cap, sizeof *ps);
  if (!ps)
    return METER_ENOMEM;
  size_t n = 0;
  int rc = METER_OK;
  for (size_t i = 0; i < len && rc == METER_OK;) {
    size_t j = i;
    while (j < len && q[j] != '&')
      j++;
    if (j > i) {
      const char *eq = memchr(q + i, '=', j - i);
      size_t klen = eq ? (size_t)(eq - (q + i)) : j - i;
      mtr_buf k = MTR_BUF_INIT, v = MTR_BUF_INIT;
      reencode(&k, q + i, klen);
      if (eq)
        reencode(&v, eq + 1, (size_t)(q + j - eq - 1));
      mtr_buf_puts(&k, "");
      mtr_buf_puts(&v, "");
      if (mtr_buf_status(&k) || mtr_buf_status(&v)) {
        mtr_buf_dispose(&k);
        mtr_buf_dispose(&v);
        rc = METER_ENOMEM;
        break;
      }
      ps[n].key = mtr_buf_detach(&k);
      ps[n].value = mtr_buf_detach(&v);
      n++;
    }
    i = j + 1;
  }
  if (rc == METER_OK) {
    qsort(ps, n, sizeof *ps, qparam_cmp);
    for (size_t i = 0; i < n; i++)
      mtr_buf_printf(out, "%s%s=%s", i ? "&" : "", ps[i].key, ps[i].value);
    rc = mtr_buf_status(out);
  }
  for (size_t i = 0; i < n; i++) {
    mtr_free_secret_str(ps[i].key); /* presigned queries carry the session token */
    mtr_free_secret_str(ps[i].value);
  }
  mtr_free(ps);
  return rc;
}

/* ---- URL pieces ---------------------------------------------------------- */

typedef struct url_parts {
  const char *host;
  size_t host_len;
  const char *path;
  size_t path_len;
  const char *query;   /* after '?', or NULL */
  size_t query_len;
} url_parts;

/* Splits "scheme://[user@]host[:port]/path?query#frag". The default port of
 * the scheme is dropped from host, as a client's Host header would. */
static void split_url(const char *url, url_parts *u)
{
  memset(u, 0, sizeof *u);
  const char *p = strstr(url, "://");
  int https = 0;
  if (p) {
    https = p - url == 5 && (url[0] | 0x20) == 'h' && (url[4] | 0x20) == 's';
    p += 3;
  } else {
    p = url;
  }
  const char *auth_end = p + strcspn(p, "/?#");
  const char *at = memchr(p, '@', (size_t)(auth_end - p));
  if (at)
    p = at + 1;
  u->host = p;
  u->host_len = (size_t)(auth_end - p);
  const char *dflt = https ? ":443" : ":80";
  size_t dl = strlen(dflt);
  if (u->host_len > dl && memcmp(auth_end - dl, dflt, dl) == 0)
    u->host_len -= dl;
  const char *path = auth_end;
  const char *frag = path + strcspn(path, "#");
  const char *qm = memchr(path, '?', (size_t)(frag - path));
  u->path = path;
  u->path_len = (size_t)((qm ? qm : frag) - path);
  if (qm) {
    u->query = qm + 1;
    u->query_len = (size_t)(frag - qm - 1);
  }
}

/* ---- canonical headers --------------------------------------------------- */

static const struct {
  const char *name;
  size_t len;
} unsigned_headers[] = {
#define H(n) { n, sizeof n - 1 }
  H("authorization"), H("connection"), H("expect"), H("keep-alive"), H("proxy-authenticate"),
  H("proxy-authorization"), H("te"), H("trailer"), H("transfer-encoding"), H("upgrade"),
  H("user-agent"), H("x-amzn-trace-id"),
#undef H
};

static int never_signed(const char *lname, size_t len)
{
  for (size_t i = 0; i < sizeof unsigned_headers / sizeof unsigned_headers[0]; i++)
    if (unsigned_headers[i].len == len && memcmp(unsigned_headers[i].name, lname, len) == 0)
      return 1;
  return 0;
}

/* Trimmed, with every run of whitespace (folded lines too) one space. */
static void canon_value(mtr_buf *out, const char *v)
{
  int first = 1;
  for (;;) {
    while (*v && isspace((unsigned char)*v))
      v++;
    if (!*v)
      return;
    const char *start = v;
    while (*v && !isspace((unsigned char)*v))
      v++;
    if (!first)
      mtr_buf_putc(out, ' ');
    mtr_buf_put(out, start, (size_t)(v - start));
    first = 0;
  }
}

typedef struct hentry {
  const char *name;  /* lower case */
  const char *value;
  size_t order;
} hentry;

static int hentry_cmp(const void *a, const void *b)
{
  const hentry *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  if (c)
    return c;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* Signing side: every header but the never-signed ones, plus host. The
 * lower-cased names (and the host taken from the URL) share one allocation;
 * a request has a handful of headers, so the entries live on the stack. */
static int canonical_headers(const mtr_headers *h, const char *host, size_t host_len,
                             mtr_buf *block, mtr_buf *list)
{
  hentry stack[16];
  hentry *es = h->count < 16 ? stack : mtr_calloc(h->count + 1, sizeof *es);
  size_t total = sizeof "host" + host_len + 1, values = host_len;
  for (size_t i = 0; i < h->count; i++) {
    total += strlen(h->items[i].name) + 1;
    values += strlen(h->items[i].value);
  }
  char *names = mtr_malloc(total), *at = names;
  if (!es || !names) {
    if (es != stack)
      mtr_free(es);
    mtr_free(names);
    return METER_ENOMEM;
  }
  size_t n = 0;
  int have_host = 0;
  for (size_t i = 0; i < h->count; i++) {
    const char *src = h->items[i].name;
    size_t len = 0;
    for (; src[len]; len++)
      at[len] = (char)tolower((unsigned char)src[len]);
    at[len] = '\0';
    if (never_signed(at, len))
      continue;
    have_host |= len == 4 && memcmp(at, "host", 4) == 0;
    es[n].name = at;
    es[n].value = h->items[i].value;
    es[n].order = i;
    n++;
    at += len + 1;
  }
  if (!have_host) {
    memcpy(at, "host", sizeof "host");
    es[n].name = at;
    at += sizeof "host";
    memcpy(at, host, host_len);
    at[host_len] = '\0';
    es[n].value = at;
    es[n].order = h->count;
    n++;
  }
  qsort(es, n, sizeof *es, hentry_cmp);
  mtr_buf_reserve(block, total + values + 2 * n);
  mtr_buf_reserve(list, total);
  for (size_t i = 0; i < n; i++) {
    int same = i > 0 && strcmp(es[i].name, es[i - 1].name) == 0;
    if (same) {
      mtr_buf_putc(block, ',');
    } else {
      if (i > 0)
        mtr_buf_putc(block, '\n');
      mtr_buf_puts(block, es[i].name);
      mtr_buf_putc(block, ':');
      if (list->len)
        mtr_buf_putc(list, ';');
      mtr_buf_puts(list, es[i].name);
    }
    canon_value(block, es[i].value);
  }
  if (n)
    mtr_buf_putc(block, '\n');
  int rc = mtr_buf_status(block) ? METER_ENOMEM : mtr_buf_status(list);
  if (es != stack)
    mtr_free(es);
  mtr_free(names);
  return rc;
}

/* ---- the signature ------------------------------------------------------- */

typedef struct sign_input {
  const char *method;
  const mtr_buf *uri;
  const mtr_buf *query;
  const mtr_buf *headers;      /* canonical block, each line ending in \n */
  const char *signed_list;
  const char *payload_hash;
  const char *amz_date;        /* yyyymmddThhmmssZ */
  const char *scope_date;      /* yyyymmdd */
  const char *region;
  const char *service;
  const char *akid;
  const char *secret;
  mtr_sigv4_key_cache *keys;
  EVP_MD_CTX *ctx;             /* the caller's digest context, or NULL */
} sign_input;

static int compute(const sign_input *in, mtr_sigv4_trace *trace, char signature[65])
{
  mtr_buf cr = MTR_BUF_INIT, sts = MTR_BUF_INIT;
  /* Plain appends into buffers sized once: this is the hot path of signing
   * (printf, then buffer regrowth, dominated it). */
  const char *cr_parts[] = { in->method, "\n", mtr_buf_cstr(in->uri), "\n", mtr_buf_cstr(in->query),
                             "\n" };
  const char *tail[] = { "\n", in->signed_list, "\n", in->payload_hash };
  const char *sts_parts[] = { MTR_SIGV4_ALGORITHM "\n", in->amz_date, "\n", in->scope_date, "/",
                              in->region, "/", in->service, "/aws4_request\n" };
  size_t cr_len = in->headers->len, sts_len = 64;
  for (size_t i = 0; i < sizeof cr_parts / sizeof cr_parts[0]; i++)
    cr_len += strlen(cr_parts[i]);
  for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
    cr_len += strlen(tail[i]);
  for (size_t i = 0; i < sizeof sts_parts / sizeof sts_parts[0]; i++)
    sts_len += strlen(sts_parts[i]);
  mtr_buf_reserve(&cr, cr_len);
  mtr_buf_reserve(&sts, sts_len);
  for (size_t i = 0; i < sizeof cr_parts / sizeof cr_parts[0]; i++)
    mtr_buf_puts(&cr, cr_parts[i]);
  mtr_buf_put(&cr, in->headers->ptr ? in->headers->ptr : "", in->headers->len);
  for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
    mtr_buf_puts(&cr, tail[i]);
  for (size_t i = 0; i < sizeof sts_parts / sizeof sts_parts[0]; i++)
    mtr_buf_puts(&sts, sts_parts[i]);
  int rc = mtr_buf_status(&cr) ? METER_ENOMEM : mtr_buf_status(&sts);
  EVP_MD_CTX *ctx = rc != METER_OK ? NULL : in->ctx ? in->ctx : EVP_MD_CTX_new();
  unsigned char md[32], key[32], sig[32];
  if (rc == METER_OK && sha256_in(ctx, cr.ptr ? cr.ptr : "", cr.len, md) != 0)
    rc = METER_EINTERNAL;
  if (rc == METER_OK) {
    char cr_hash[65];
    mtr_hex_encode(md, 32, cr_hash);
    rc = mtr_buf_put(&sts, cr_hash, 64);
  }
  if (rc == METER_OK)
    rc = signing_key(ctx, in->keys, in->akid, in->secret, in->scope_date, in->region,
                     in->service, key);
  if (rc == METER_OK) {
    if (hmac_in(ctx, key, 32, sts.ptr, sts.len, sig))
      rc = METER_EINTERNAL;
    else
      mtr_hex_encode(sig, 32, signature);
  }
  if (ctx != in->ctx)
    EVP_MD_CTX_free(ctx);
  OPENSSL_cleanse(key, sizeof key);
  if (rc == METER_OK && trace) {
    mtr_buf_clear(&trace->canonical_request);
    mtr_buf_clear(&trace->string_to_sign);
    mtr_buf_put(&trace->canonical_request, cr.ptr, cr.len);
    mtr_buf_put(&trace->string_to_sign, sts.ptr, sts.len);
    memcpy(trace->signature, signature, 65);
    rc = mtr_buf_status(&trace->canonical_request) ? METER_ENOMEM
                                                   : mtr_buf_status(&trace->string_to_sign);
  }
  mtr_buf_dispose(&cr);
  mtr_buf_dispose(&sts);
  return rc;
}

void mtr_sigv4_trace_dispose(mtr_sigv4_trace *t)
{
  if (!t)
    return;
  mtr_buf_dispose(&t->canonical_request);
  mtr_buf_dispose(&t->string_to_sign);
  mtr_buf_dispose(&t->signed_headers);
}

static int check_inputs(const mtr_http_request *req, const mtr_sigv4_credentials *c,
                        const mtr_sigv4_options *o, meter_error *err)
{
  if (!req || !req->method || !c || !o)
    return mtr_error_set(err, METER_EINVAL, "SigV4: missing request, credentials or options");
  if (!c->access_key_id || !*c->access_key_id || !c->secret_access_key || !*c->secret_access_key)
    return mtr_error_set(err, METER_EAUTH, "SigV4: no access key id or secret access key");
  if (!o->region || !*o->region || !o->service || !*o->service)
    return mtr_error_set(err, METER_ECONFIG, "SigV4: no region or service to sign for");
  if (strchr(c->access_key_id, '/') || strchr(o->region, '/') || strchr(o->service, '/'))
    return mtr_error_set(err, METER_ECONFIG, "SigV4: '/' in the access key id, region or service");
  return METER_OK;
}

typedef struct prepared {
  url_parts url;
  char amz_date[MTR_TIME_BUF];
  char date[9];
  char payload_hash[65];
  mtr_buf uri;
  mtr_buf query;
  mtr_buf headers;
  mtr_buf list;
  EVP_MD_CTX *ctx;             /* every digest of the signature */
} prepared;

static void prepared_dispose(prepared *p)
{
  mtr_buf_dispose(&p->uri);
  mtr_buf_dispose(&p->query);
  mtr_buf_dispose(&p->headers);
  mtr_buf_dispose(&p->list);
  EVP_MD_CTX_free(p->ctx);
}

static void prepare(prepared *p, const mtr_http_request *req, const mtr_sigv4_options *o)
{
  memset(p, 0, sizeof *p);
  split_url(mtr_buf_cstr(&req->url), &p->url);
  mtr_time_format(o->time_us, MTR_TIME_AMZ, p->amz_date);
  memcpy(p->date, p->amz_date, 8);
  p->date[8] = '\0';
  p->ctx = EVP_MD_CTX_new();
  unsigned char md[32];
  if (sha256_in(p->ctx, req->body.ptr ? req->body.ptr : "", req->body.len, md) != 0)
    memset(md, 0, sizeof md);
  mtr_hex_encode(md, 32, p->payload_hash);
}

static int has_token(const mtr_sigv4_credentials *c)
{
  return c->session_token && *c->session_token;
}

int mtr_sigv4_sign(mtr_http_request *req, const mtr_sigv4_credentials *creds,
                   const mtr_sigv4_options *opt, mtr_sigv4_trace *trace, meter_error *err)
{
  int rc = check_inputs(req, creds, opt, err);
  if (rc != METER_OK)
    return rc;
  prepared p;
  prepare(&p, req, opt);

  mtr_headers_remove(&req->headers, "Authorization");
  mtr_headers_remove(&req->headers, "X-Amz-Date");
  mtr_headers_remove(&req->headers, "X-Amz-Security-Token");
  if (opt->sign_body_header)
    mtr_headers_remove(&req->headers, "x-amz-content-sha256");
  rc = mtr_headers_add(&req->headers, "X-Amz-Date", p.amz_date);
  if (rc == METER_OK && has_token(creds) && !opt->unsigned_session_token)
    rc = mtr_headers_add(&req->headers, "X-Amz-Security-Token", creds->session_token);
  if (rc == METER_OK && opt->sign_body_header)
    rc = mtr_headers_add(&req->headers, "x-amz-content-sha256", p.payload_hash);
  if (rc == METER_OK)
    rc = mtr_sigv4_canonical_uri(&p.uri, p.url.path, p.url.path_len, opt);
  if (rc == METER_OK && p.url.query)
    rc = mtr_sigv4_canonical_query(&p.query, p.url.query, p.url.query_len);
  if (rc == METER_OK)
    rc = canonical_headers(&req->headers, p.url.host, p.url.host_len, &p.headers, &p.list);

  char sig[65];
  if (rc == METER_OK) {
    sign_input in = { req->method, &p.uri, &p.query, &p.headers, mtr_buf_cstr(&p.list),
                      p.payload_hash, p.amz_date, p.date, opt->region, opt->service,
                      creds->access_key_id, creds->secret_access_key, opt->keys, p.ctx };
    rc = compute(&in, trace, sig);
  }
  if (rc == METER_OK) {
    mtr_buf auth = MTR_BUF_INIT;
    const char *parts[] = { MTR_SIGV4_ALGORITHM " Credential=", creds->access_key_id, "/", p.date,
                            "/", opt->region, "/", opt->service, "/aws4_request, SignedHeaders=",
                            mtr_buf_cstr(&p.list), ", Signature=", sig };
    size_t len = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
      len += strlen(parts[i]);
    mtr_buf_reserve(&auth, len);
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
      mtr_buf_puts(&auth, parts[i]);
    rc = mtr_buf_status(&auth);
    if (rc == METER_OK)
      rc = mtr_headers_add(&req->headers, "Authorization", auth.ptr);
    mtr_buf_dispose(&auth);
  }
  if (rc == METER_OK && has_token(creds) && opt->unsigned_session_token)
    rc = mtr_headers_add(&req->headers, "X-Amz-Security-Token", creds->session_token);
  if (rc == METER_OK && trace) {
    mtr_buf_clear(&trace->signed_headers);
    rc = mtr_buf_puts(&trace->signed_headers, mtr_buf_cstr(&p.list));
  }
  prepared_dispose(&p);
  if (rc != METER_OK)
    return mtr_error_set(err, rc, "SigV4: %s", meter_strerror(rc));
  return METER_OK;
}

int mtr_sigv4_presign(mtr_http_request *req, const mtr_sigv4_credentials *creds,
                      const mtr_sigv4_options *opt, mtr_sigv4_trace *trace, meter_error *err)
{
  int rc = check_inputs(req, creds, opt, err);
  if (rc != METER_OK)
    return rc;
  prepared p;
  prepare(&p, req, opt);
  long expires = opt->expires_s > 0 ? opt->expires_s : 3600;
  mtr_headers_remove(&req->headers, "Authorization");
  mtr_headers_remove(&req->headers, "X-Amz-Date");

  mtr_buf params = MTR_BUF_INIT, all = MTR_BUF_INIT, scope = MTR_BUF_INIT;
  rc = canonical_headers(&req->headers, p.url.host, p.url.host_len, &p.headers, &p.list);
  mtr_buf_printf(&scope, "%s/%s/%s/%s/aws4_request", creds->access_key_id, p.date, opt->region,
                 opt->service);
  /* The auth parameters in aws-c-auth's order (any order signs the same). */
  mtr_buf_puts(&params, "X-Amz-Algorithm=" MTR_SIGV4_ALGORITHM "&X-Amz-Credential=");
  mtr_url_encode(&params, mtr_buf_cstr(&scope), scope.len, 0);
  mtr_buf_printf(&params, "&X-Amz-Date=%s&X-Amz-SignedHeaders=", p.amz_date);
  mtr_url_encode(&params, mtr_buf_cstr(&p.list), p.list.len, 0);
  mtr_buf_printf(&params, "&X-Amz-Expires=%ld", expires);
  if (has_token(creds) && !opt->unsigned_session_token) {
    mtr_buf_puts(&params, "&X-Amz-Security-Token=");
    mtr_url_encode(&params, creds->session_token, strlen(creds->session_token), 0);
  }
  if (p.url.query && p.url.query_len) {
    mtr_buf_put(&all, p.url.query, p.url.query_len);
    mtr_buf_putc(&all, '&');
  }
  mtr_buf_put(&all, params.ptr ? params.ptr : "", params.len);
  if (rc == METER_OK)
    rc = mtr_buf_status(&params) ? METER_ENOMEM : mtr_buf_status(&all);
  if (rc == METER_OK)
    rc = mtr_buf_status(&scope);
  if (rc == METER_OK)
    rc = mtr_sigv4_canonical_uri(&p.uri, p.url.path, p.url.path_len, opt);
  if (rc == METER_OK)
    rc = mtr_sigv4_canonical_query(&p.query, all.ptr, all.len);
  char sig[65];
  if (rc == METER_OK) {
    sign_input in = { req->method, &p.uri, &p.query, &p.headers, mtr_buf_cstr(&p.list),
                      p.payload_hash, p.amz_date, p.date, opt->region, opt->service,
                      creds->access_key_id, creds->secret_access_key, opt->keys, p.ctx };
    rc = compute(&in, trace, sig);
  }
  if (rc == METER_OK) {
    /* Append to the URL, before any fragment. */
    const char *url = mtr_buf_cstr(&req->url);
    size_t frag = strcspn(url, "#");
    mtr_buf nu = MTR_BUF_INIT;
    mtr_buf_put(&nu, url, frag);
    if (!p.url.query)
      mtr_buf_putc(&nu, '?');
    else if (p.url.query_len)
      mtr_buf_putc(&nu, '&');
    mtr_buf_put(&nu, params.ptr, params.len);
    if (has_token(creds) && opt->unsigned_session_token) {
      mtr_buf_puts(&nu, "&X-Amz-Security-Token=");
      mtr_url_encode(&nu, creds->session_token, strlen(creds->session_token), 0);
    }
    mtr_buf_printf(&nu, "&X-Amz-Signature=%s", sig);
    mtr_buf_puts(&nu, url + frag);
    rc = mtr_buf_status(&nu);
    if (rc == METER_OK) {
      mtr_buf_dispose_secret(&req->url);
      req->url = nu;
    } else {
      mtr_buf_dispose_secret(&nu);
    }
  }
  if (rc == METER_OK && trace) {
    mtr_buf_clear(&trace->signed_headers);
    rc = mtr_buf_puts(&trace->signed_headers, mtr_buf_cstr(&p.list));
  }
  mtr_buf_dispose_secret(&params);
  mtr_buf_dispose_secret(&all);
  mtr_buf_dispose(&scope);
  prepared_dispose(&p);
  if (rc != METER_OK)
    return mtr_error_set(err, rc, "SigV4: %s", meter_strerror(rc));
  return METER_OK;
}

/* ---- verification ---------------------------------------------------------- */

static int all_digits(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i]))
      return 0;
  return 1;
}

int mtr_sigv4_parse_amz_date(const char *s, int64_t *out)
{
  if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z' || !all_digits(s, 8) ||
      !all_digits(s + 9, 6))
    return -1;
  char iso[32];
  memcpy(iso, s, 4);
  iso[4] = '-';
  memcpy(iso + 5, s + 4, 2);
  iso[7] = '-';
  memcpy(iso + 8, s + 6, 2);
  iso[10] = 'T';
  memcpy(iso + 11, s + 9, 2);
  iso[13] = ':';
  memcpy(iso + 14, s + 11, 2);
  iso[16] = ':';
  memcpy(iso + 17, s + 13, 2);
  iso[19] = 'Z';
  iso[20] = '\0';
  return mtr_time_parse(iso, out);
}

/* Copies s[0..n) into dst if it fits (and is not empty). */
static int take(char *dst, size_t size, const char *s, size_t n)
{
  if (n == 0 || n >= size)
    return -1;
  memcpy(dst, s, n);
  dst[n] = '\0';
  return 0;
}

static int valid_signed_list(const char *l)
{
  const char *prev = NULL;
  size_t prev_len = 0;
  for (const char *p = l;;) {
    size_t n = strcspn(p, ";");
    if (n == 0)
      return 0;
    for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)p[i];
      if (c <= ' ' || c >= 0x7f || isupper(c) || c == ':' || c == ',')
        return 0;
    }
    if (prev) {
      size_t m = prev_len < n ? prev_len : n;
      int c = memcmp(prev, p, m);
      if (c > 0 || (c == 0 && prev_len >= n))
        return 0; /* not sorted, or a repeat */
    }
    prev = p;
    prev_len = n;
    if (!p[n])
      return 1;
    p += n + 1;
  }
}

int mtr_sigv4_parse_authorization(const char *h, mtr_sigv4_parsed *out, meter_error *err)
{
  memset(out, 0, sizeof *out);
  if (!h)
    return mtr_error_set(err, METER_EAUTH, "missing Authorization header");
  while (*h == ' ')
    h++;
  size_t alen = strlen(MTR_SIGV4_ALGORITHM);
  if (strncmp(h, MTR_SIGV4_ALGORITHM, alen) != 0 || h[alen] != ' ')
    return mtr_error_set(err, METER_EAUTH, "Authorization: the algorithm must be %s",
                         MTR_SIGV4_ALGORITHM);
  const char *p = h + alen;
  int have_cred = 0, have_list = 0, have_sig = 0;
  while (*p) {
    while (*p == ' ' || *p == ',')
      p++;
    if (!*p)
      break;
    size_t n = strcspn(p, ",");
    while (n > 0 && p[n - 1] == ' ')
      n--;
    if (strncmp(p, "Credential=", 11) == 0 && !have_cred) {
      const char *c = p + 11, *end = p + n;
      const char *parts[5];
      size_t lens[5], k = 0;
      while (k < 5) {
        const char *s = memchr(c, '/', (size_t)(end - c));
        parts[k] = c;
        lens[k] = (size_t)((s ? s : end) - c);
        k++;
        if (!s)
          break;
        c = s + 1;
      }
      if (k != 5 || parts[4] + lens[4] != end || lens[4] != 12 ||
          memcmp(parts[4], "aws4_request", 12) != 0)
        return mtr_error_set(err, METER_EAUTH, "Authorization: Credential must be "
                                               "AKID/yyyymmdd/region/service/aws4_request");
      if (take(out->access_key_id, sizeof out->access_key_id, parts[0], lens[0]) ||
          lens[1] != 8 || !all_digits(parts[1], 8) ||
          take(out->date, sizeof out->date, parts[1], lens[1]) ||
          take(out->region, sizeof out->region, parts[2], lens[2]) ||
          take(out->service, sizeof out->service, parts[3], lens[3]))
        return mtr_error_set(err, METER_EAUTH, "Authorization: malformed Credential scope");
      have_cred = 1;
    } else if (strncmp(p, "SignedHeaders=", 14) == 0 && !have_list) {
      if (take(out->signed_headers, sizeof out->signed_headers, p + 14, n - 14) ||
          !valid_signed_list(out->signed_headers))
        return mtr_error_set(err, METER_EAUTH, "Authorization: SignedHeaders must be lower-case "
                                               "header names, sorted, separated by ';'");
      have_list = 1;
    } else if (strncmp(p, "Signature=", 10) == 0 && !have_sig) {
      const char *s = p + 10;
      if (n - 10 != 64)
        return mtr_error_set(err, METER_EAUTH, "Authorization: Signature must be 64 hex digits");
      for (size_t i = 0; i < 64; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
          return mtr_error_set(err, METER_EAUTH,
                               "Authorization: Signature must be 64 lower-case hex digits");
      memcpy(out->signature, s, 64);
      out->signature[64] = '\0';
      have_sig = 1;
    } else {
      return mtr_error_set(err, METER_EAUTH, "Authorization: unexpected or repeated part '%.*s'",
                           (int)(n > 40 ? 40 : n), p);
    }
    p += strcspn(p, ",");
  }
  if (!have_cred || !have_list || !have_sig)
    return mtr_error_set(err, METER_EAUTH, "Authorization: missing %s",
                         !have_cred ? "Credential" : !have_list ? "SignedHeaders" : "Signature");
  return METER_OK;
}

static int list_has(const char *list, const char *name)
{
  size_t nl = strlen(name);
  for (const char *p = list;;) {
    size_t n = strcspn(p, ";");
    if (n == nl && memcmp(p, name, n) == 0)
      return 1;
    if (!p[n])
      return 0;
    p += n + 1;
  }
}

int mtr_sigv4_verify(const char *method, const char *raw, const mtr_headers *headers,
                     const void *body, size_t body_len, const mtr_sigv4_parsed *auth,
                     const char *secret, meter_error *err)
{
  if (!method || !raw || !headers || !auth || !secret || (!body && body_len))
    return mtr_error_set(err, METER_EINVAL, "SigV4 verify: missing argument");
  if (!list_has(auth->signed_headers, "host"))
    return mtr_error_set(err, METER_EAUTH, "'host' must be a signed header");
  const char *amz_date = mtr_headers_get(headers, "x-amz-date");
  if (!amz_date)
    return mtr_error_set(err, METER_EAUTH, "missing X-Amz-Date header");
  if (!list_has(auth->signed_headers, "x-amz-date"))
    return mtr_error_set(err, METER_EAUTH, "'x-amz-date' must be a signed header");
  int64_t t;
  if (mtr_sigv4_parse_amz_date(amz_date, &t) != 0)
    return mtr_error_set(err, METER_EAUTH, "X-Amz-Date '%.32s' is not yyyymmddThhmmssZ", amz_date);
  if (strncmp(amz_date, auth->date, 8) != 0)
    return mtr_error_set(err, METER_EAUTH,
                         "the credential scope date %s is not the date of X-Amz-Date %s",
                         auth->date, amz_date);

  char payload_hash[65];
  mtr_sha256_hex(body ? body : "", body_len, payload_hash);
  const char *claimed = mtr_headers_get(headers, "x-amz-content-sha256");
  if (claimed && strcmp(claimed, payload_hash) != 0)
    return mtr_error_set(err, METER_EAUTH, "x-amz-content-sha256 does not match the body");

  /* The signed headers, each with all its values joined by ',' in order. */
  mtr_buf block = MTR_BUF_INIT, uri = MTR_BUF_INIT, query = MTR_BUF_INIT;
  int rc = METER_OK;
  char missing[128] = "";
  for (const char *p = auth->signed_headers; rc == METER_OK;) {
    size_t n = strcspn(p, ";");
    char name[256];
    if (take(name, sizeof name, p, n) != 0) {
      rc = METER_EAUTH;
      mtr_strlcpy(missing, "(too long)", sizeof missing);
      break;
    }
    mtr_buf_printf(&block, "%s:", name);
    int found = 0;
    for (size_t i = 0; i < headers->count; i++) {
      if (!mtr_streq_nocase(headers->items[i].name, name))
        continue;
      if (found++)
        mtr_buf_putc(&block, ',');
      canon_value(&block, headers->items[i].value);
    }
    mtr_buf_putc(&block, '\n');
    if (!found) {
      rc = METER_EAUTH;
      mtr_strlcpy(missing, name, sizeof missing);
    }
    if (!p[n])
      break;
    p += n + 1;
  }
  if (rc != METER_OK) {
    mtr_buf_dispose(&block);
    return mtr_error_set(err, rc, "signed header '%s' is not in the request", missing);
  }

  const char *qm = strchr(raw, '?');
  size_t plen = qm ? (size_t)(qm - raw) : strlen(raw);
  mtr_sigv4_options o;
  memset(&o, 0, sizeof o);
  rc = mtr_sigv4_canonical_uri(&uri, raw, plen, &o);
  if (rc == METER_OK && qm)
    rc = mtr_sigv4_canonical_query(&query, qm + 1, strlen(qm + 1));
  if (rc == METER_OK)
    rc = mtr_buf_status(&block);
  char sig[65];
  if (rc == METER_OK) {
    sign_input in = { method, &uri, &query, &block, auth->signed_headers, payload_hash, amz_date,
                      auth->date, auth->region, auth->service, auth->access_key_id, secret, NULL,
                      NULL };
    rc = compute(&in, NULL, sig);
  }
  mtr_buf_dispose(&block);
  mtr_buf_dispose(&uri);
  mtr_buf_dispose(&query);
  if (rc != METER_OK)
    return mtr_error_set(err, rc, "SigV4 verify: %s", meter_strerror(rc));
  if (CRYPTO_memcmp(sig, auth->signature, 64) != 0)
    return mtr_error_set(err, METER_EAUTH,
                         "The request signature we calculated does not match the signature you "
                         "provided. Check your AWS Secret Access Key and signing method.");
  return METER_OK;
}
