/* SigV4: the official suite (38 cases, header and query mode), the two
 * BatchMeterUsage vectors of marketplaces.md §4.1, re-signing, the derived-key
 * cache, Authorization parsing and verification. */
#include "test_util.h"

#include "auth/sigv4.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"
#include "json/json.h"

#include <dirent.h>
#include <pthread.h>
#include <strings.h>

#define SUITE METER_TESTDATA_DIR "/sigv4"

/* ---- reading a case --------------------------------------------------------- */

typedef struct sv_case {
  char name[128];
  char method[8];
  char *target;         /* as written in request.txt (raw path and query) */
  char *host;
  mtr_http_request req;
  mtr_sigv4_options opt;
  char akid[64], secret[128], token[1024];
  mtr_sigv4_credentials creds;
} sv_case;

static char *case_file(const char *name, const char *file)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s/%s", SUITE, name, file);
  char *s = read_file(path, NULL);
  if (!s)
    fail_msg("cannot read %s", path);
  return s;
}

/* request.txt: request line, headers (a line starting with whitespace folds
 * into the previous value), an empty line, the body. */
static void load_case(sv_case *c, const char *name)
{
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", name);
  mtr_http_request_init(&c->req);
  char *text = case_file(name, "request.txt");
  char *line_end = strchr(text, '\n');
  assert_non_null(line_end);
  *line_end = '\0';
  char *sp1 = strchr(text, ' ');
  char *sp2 = strrchr(text, ' ');
  assert_true(sp1 && sp2 && sp1 < sp2);
  snprintf(c->method, sizeof c->method, "%.*s", (int)(sp1 - text), text);
  c->target = strndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
  c->req.method = strcmp(c->method, "GET") == 0 ? "GET" : "POST";

  char *p = line_end + 1;
  char *last_name = NULL;
  mtr_buf value = MTR_BUF_INIT;
  while (*p && *p != '\n') {
    char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (*p == ' ' || *p == '\t') {
      mtr_buf_putc(&value, '\n');
      mtr_buf_put(&value, p, n);
    } else {
      if (last_name) {
        mtr_headers_add(&c->req.headers, last_name, mtr_buf_cstr(&value));
        free(last_name);
      }
      char *colon = memchr(p, ':', n);
      assert_non_null(colon);
      last_name = strndup(p, (size_t)(colon - p));
      mtr_buf_clear(&value);
      mtr_buf_put(&value, colon + 1, (size_t)(p + n - colon - 1));
    }
    p += n + (e ? 1 : 0);
  }
  if (last_name) {
    mtr_headers_add(&c->req.headers, last_name, mtr_buf_cstr(&value));
    free(last_name);
  }
  mtr_buf_dispose(&value);
  if (*p == '\n')
    mtr_buf_puts(&c->req.body, p + 1);
  const char *host = mtr_headers_get(&c->req.headers, "Host");
  assert_non_null(host);
  c->host = strdup(host);
  mtr_buf_printf(&c->req.url, "https://%s%s", host, c->target);
  free(text);

  char *ctx = case_file(name, "context.json");
  cJSON *j = mtr_json_parse(ctx, strlen(ctx), "context.json", NULL);
  assert_non_null(j);
  cJSON *cr = cJSON_GetObjectItemCaseSensitive(j, "credentials");
  snprintf(c->akid, sizeof c->akid, "%s", mtr_json_str(cr, "access_key_id"));
  snprintf(c->secret, sizeof c->secret, "%s", mtr_json_str(cr, "secret_access_key"));
  const char *tok = mtr_json_str(cr, "token");
  snprintf(c->token, sizeof c->token, "%s", tok ? tok : "");
  c->creds.access_key_id = c->akid;
  c->creds.secret_access_key = c->secret;
  c->creds.session_token = tok ? c->token : NULL;
  static char region[64], service[64];
  snprintf(region, sizeof region, "%s", mtr_json_str(j, "region"));
  snprintf(service, sizeof service, "%s", mtr_json_str(j, "service"));
  c->opt.region = region;
  c->opt.service = service;
  assert_int_equal(mtr_time_parse(mtr_json_str(j, "timestamp"), &c->opt.time_us), 0);
  c->opt.keep_path = mtr_json_bool(j, "normalize") == 0;
  c->opt.sign_body_header = mtr_json_bool(j, "sign_body") == 1;
  c->opt.unsigned_session_token = mtr_json_bool(j, "omit_session_token") == 1;
  int64_t exp = 0;
  if (mtr_json_int64(j, "expiration_in_seconds", &exp) == 0)
    c->opt.expires_s = (long)exp;
  cJSON_Delete(j);
  free(ctx);
}

static void free_case(sv_case *c)
{
  free(c->target);
  free(c->host);
  mtr_http_request_dispose(&c->req);
}

static size_t list_cases(char names[64][128])
{
  DIR *d = opendir(SUITE);
  if (!d)
    fail_msg("cannot open %s", SUITE);
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 64) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/request.txt", SUITE, e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f)
      continue;
    fclose(f);
    if (strlen(e->d_name) >= 128)
      continue;
    memcpy(names[n++], e->d_name, strlen(e->d_name) + 1);
  }
  closedir(d);
  return n;
}

static void expect_file(const sv_case *c, const char *file, const char *got)
{
  char *want = case_file(c->name, file);
  if (strcmp(want, got) != 0)
    fail_msg("%s/%s differs:\n--- want\n%s\n--- got\n%s", c->name, file, want, got);
  free(want);
}

/* The value of header `name` in a signed-request file. */
static char *signed_request_header(const sv_case *c, const char *file, const char *name)
{
  char *text = case_file(c->name, file);
  char *out = NULL;
  size_t nl = strlen(name);
  for (char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    if (strncmp(p, name, nl) == 0 && p[nl] == ':') {
      out = strndup(p + nl + 1, strcspn(p + nl + 1, "\n"));
      break;
    }
  free(text);
  return out;
}

/* ---- the suite, header mode ----------------------------------------------------- */

static void test_suite_header_mode(void **state)
{
  (void)state;
  char names[64][128];
  size_t n = list_cases(names);
  assert_int_equal(n, 38);
  for (size_t i = 0; i < n; i++) {
    sv_case c;
    load_case(&c, names[i]);
    mtr_sigv4_trace tr = MTR_SIGV4_TRACE_INIT;
    meter_error err;
    assert_int_equal(mtr_sigv4_sign(&c.req, &c.creds, &c.opt, &tr, &err), METER_OK);
    expect_file(&c, "header-canonical-request.txt", mtr_buf_cstr(&tr.canonical_request));
    expect_file(&c, "header-string-to-sign.txt", mtr_buf_cstr(&tr.string_to_sign));
    expect_file(&c, "header-signature.txt", tr.signature);
    char *want_auth = signed_request_header(&c, "header-signed-request.txt", "Authorization");
    assert_non_null(want_auth);
    assert_string_equal(mtr_headers_get(&c.req.headers, "Authorization"), want_auth);
    free(want_auth);
    /* The token is sent in both token modes. */
    if (c.creds.session_token)
      assert_string_equal(mtr_headers_get(&c.req.headers, "X-Amz-Security-Token"), c.token);

    /* What the signer sent verifies on the server side; a changed byte does not. */
    mtr_sigv4_parsed auth;
    assert_int_equal(mtr_sigv4_parse_authorization(
                       mtr_headers_get(&c.req.headers, "Authorization"), &auth, &err), METER_OK);
    int rc = mtr_sigv4_verify(c.method, c.target, &c.req.headers, c.req.body.ptr, c.req.body.len,
                              &auth, c.secret, &err);
    /* The verifier applies the Marketplace's path rules (normalised), so
     * only the normalised cases must verify. */
    if (!c.opt.keep_path && rc != METER_OK)
      fail_msg("%s: verify: %s", c.name, err.message);
    assert_int_equal(mtr_sigv4_verify(c.method, c.target, &c.req.headers, "x", 1, &auth,
                                      c.secret, &err), METER_EAUTH);
    assert_int_equal(mtr_sigv4_verify(c.method, c.target, &c.req.headers, c.req.body.ptr,
                                      c.req.body.len, &auth, "wrong-secret", &err), METER_EAUTH);
    mtr_sigv4_trace_dispose(&tr);
    free_case(&c);
  }
}

/* ---- the suite, query mode ------------------------------------------------------- */

static void test_suite_query_mode(void **state)
{
  (void)state;
  char names[64][128];
  size_t n = list_cases(names);
  assert_int_equal(n, 38);
  for (size_t i = 0; i < n; i++) {
    sv_case c;
    load_case(&c, names[i]);
    mtr_sigv4_trace tr = MTR_SIGV4_TRACE_INIT;
    meter_error err;
    assert_int_equal(mtr_sigv4_presign(&c.req, &c.creds, &c.opt, &tr, &err), METER_OK);
    expect_file(&c, "query-canonical-request.txt", mtr_buf_cstr(&tr.canonical_request));
    expect_file(&c, "query-string-to-sign.txt", mtr_buf_cstr(&tr.string_to_sign));
    expect_file(&c, "query-signature.txt", tr.signature);
    /* The presigned URL is the signed request's target. */
    char *text = case_file(c.name, "query-signed-request.txt");
    char *sp1 = strchr(text, ' '), *sp2 = strstr(text, " HTTP/1.1");
    char want[8192];
    snprintf(want, sizeof want, "https://%s%.*s", c.host, (int)(sp2 - sp1 - 1), sp1 + 1);
    assert_string_equal(mtr_buf_cstr(&c.req.url), want);
    assert_null(mtr_headers_get(&c.req.headers, "Authorization"));
    assert_null(mtr_headers_get(&c.req.headers, "X-Amz-Date"));
    free(text);
    mtr_sigv4_trace_dispose(&tr);
    free_case(&c);
  }
}

/* ---- marketplaces.md §4.1: BatchMeterUsage, with and without a token ------------- */

static const char batch_body[] =
  "{\"ProductCode\": \"prod-abc123\", \"UsageRecords\": [{\"Timestamp\": 1704067200, "
  "\"CustomerAWSAccountId\": \"111122223333\", \"Dimension\": \"users\", \"Quantity\": 42}]}";

static void batch_request(mtr_http_request *req)
{
  mtr_http_request_init(req);
  req->method = "POST";
  mtr_buf_puts(&req->url, "https://metering.marketplace.us-east-1.amazonaws.com/");
  mtr_headers_add(&req->headers, "Content-Type", "application/x-amz-json-1.1");
  mtr_headers_add(&req->headers, "X-Amz-Target", "AWSMPMeteringService.BatchMeterUsage");
  mtr_buf_puts(&req->body, batch_body);
}

static mtr_sigv4_options marketplace_opts(void)
{
  mtr_sigv4_options o;
  memset(&o, 0, sizeof o);
  o.region = "us-east-1";
  o.service = "aws-marketplace";
  assert_int_equal(mtr_time_parse("2024-01-01T00:05:00Z", &o.time_us), 0);
  return o;
}

static const mtr_sigv4_credentials example_creds = {
  "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL
};

static void test_batch_meter_usage_vector(void **state)
{
  (void)state;
  assert_int_equal(strlen(batch_body), 153);
  char h[65];
  mtr_sha256_hex(batch_body, strlen(batch_body), h);
  assert_string_equal(h, "e733a063d083c5694961848405917801f65bf28181c968b400665dd85f32fc96");

  unsigned char key[32];
  char keyhex[65];
  assert_int_equal(mtr_sigv4_derive_key(example_creds.secret_access_key, "20240101", "us-east-1",
                                        "aws-marketplace", key), METER_OK);
  mtr_hex_encode(key, 32, keyhex);
  assert_string_equal(keyhex, "1c9ec3b7aa20b187f23f53884ad8504e011ba1b52092a21acdf25f5f182d78dc");

  mtr_http_request req;
  batch_request(&req);
  mtr_sigv4_options o = marketplace_opts();
  mtr_sigv4_trace tr = MTR_SIGV4_TRACE_INIT;
  assert_int_equal(mtr_sigv4_sign(&req, &example_creds, &o, &tr, NULL), METER_OK);
  assert_string_equal(mtr_buf_cstr(&tr.canonical_request),
                      "POST\n/\n\n"
                      "content-type:application/x-amz-json-1.1\n"
                      "host:metering.marketplace.us-east-1.amazonaws.com\n"
                      "x-amz-date:20240101T000500Z\n"
                      "x-amz-target:AWSMPMeteringService.BatchMeterUsage\n\n"
                      "content-type;host;x-amz-date;x-amz-target\n"
                      "e733a063d083c5694961848405917801f65bf28181c968b400665dd85f32fc96");
  mtr_sha256_hex(tr.canonical_request.ptr, tr.canonical_request.len, h);
  assert_string_equal(h, "f87054b23e8f2d0d245842bdad82a2ed6c07b7e18ca4fb9c214dd4643b473c42");
  assert_string_equal(tr.signature,
                      "44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed");
  assert_string_equal(mtr_headers_get(&req.headers, "Authorization"),
                      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/aws-marketplace/"
                      "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                      "Signature=44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed");
  assert_string_equal(mtr_headers_get(&req.headers, "X-Amz-Date"), "20240101T000500Z");
  /* Never for this service. */
  assert_null(mtr_headers_get(&req.headers, "x-amz-content-sha256"));
  assert_null(mtr_headers_get(&req.headers, "X-Amz-Security-Token"));
  mtr_sigv4_trace_dispose(&tr);
  mtr_http_request_dispose(&req);
}

/* A secret longer than HMAC's 64-byte block ("AWS4" + 73 characters): the
 * key is hashed first (RFC 2104). Reference computed with Python's hmac. */
static void test_long_secret_key_derivation(void **state)
{
  (void)state;
  unsigned char key[32];
  char keyhex[65];
  assert_int_equal(mtr_sigv4_derive_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY+a-much-longer-"
                                        "secret-of-71-chars",
                                        "20240101", "us-east-1", "aws-marketplace", key),
                   METER_OK);
  mtr_hex_encode(key, 32, keyhex);
  assert_string_equal(keyhex, "f45ff1812aa2a80672d084a9e58c76f457d8466373bbea56dfe5b18df860f427");
}

static void test_batch_meter_usage_vector_with_token(void **state)
{
  (void)state;
  mtr_http_request req;
  batch_request(&req);
  mtr_sigv4_options o = marketplace_opts();
  mtr_sigv4_credentials c = example_creds;
  c.session_token = "FwoGZXIvYXdzEXAMPLETOKEN";
  mtr_sigv4_trace tr = MTR_SIGV4_TRACE_INIT;
  assert_int_equal(mtr_sigv4_sign(&req, &c, &o, &tr, NULL), METER_OK);
  assert_string_equal(mtr_buf_cstr(&tr.signed_headers),
                      "content-type;host;x-amz-date;x-amz-security-token;x-amz-target");
  char h[65];
  mtr_sha256_hex(tr.canonical_request.ptr, tr.canonical_request.len, h);
  assert_string_equal(h, "2cf6d8bc848ab6d2884fbd1f76ab0857d932943772eeba21b29de01cfe9d14cd");
  assert_string_equal(tr.signature,
                      "b6310e67a64f75a369c27aae7202c1172aab3f960e8ef3ea5830cb1f1d64ebbb");
  assert_string_equal(mtr_headers_get(&req.headers, "X-Amz-Security-Token"),
                      "FwoGZXIvYXdzEXAMPLETOKEN");
  mtr_sigv4_trace_dispose(&tr);
  mtr_http_request_dispose(&req);
}

/* ---- re-signing: every attempt gets a fresh date and exactly one of each --------- */

static size_t count_header(const mtr_http_request *req, const char *name)
{
  size_t n = 0;
  for (size_t i = 0; i < req->headers.count; i++)
    n += strcasecmp(req->headers.items[i].name, name) == 0;
  return n;
}

static void test_resign_replaces_old_signature(void **state)
{
  (void)state;
  mtr_http_request req;
  batch_request(&req);
  mtr_sigv4_options o = marketplace_opts();
  mtr_sigv4_credentials c = example_creds;
  c.session_token = "FwoGZXIvYXdzEXAMPLETOKEN";
  assert_int_equal(mtr_sigv4_sign(&req, &c, &o, NULL, NULL), METER_OK);
  char first[256];
  snprintf(first, sizeof first, "%s", mtr_headers_get(&req.headers, "Authorization"));
  o.time_us += 90 * MTR_US_PER_SEC;
  c.session_token = NULL; /* refreshed to long-term credentials: the old token must go */
  assert_int_equal(mtr_sigv4_sign(&req, &c, &o, NULL, NULL), METER_OK);
  assert_int_equal(count_header(&req, "Authorization"), 1);
  assert_int_equal(count_header(&req, "X-Amz-Date"), 1);
  assert_int_equal(count_header(&req, "X-Amz-Security-Token"), 0);
  assert_string_equal(mtr_headers_get(&req.headers, "X-Amz-Date"), "20240101T000630Z");
  assert_string_not_equal(mtr_headers_get(&req.headers, "Authorization"), first);
  /* The second signature is the one a fresh request would get. */
  mtr_http_request fresh;
  batch_request(&fresh);
  assert_int_equal(mtr_sigv4_sign(&fresh, &c, &o, NULL, NULL), METER_OK);
  assert_string_equal(mtr_headers_get(&req.headers, "Authorization"),
                      mtr_headers_get(&fresh.headers, "Authorization"));
  mtr_http_request_dispose(&fresh);
  mtr_http_request_dispose(&req);
}

static void test_host_from_url(void **state)
{
  (void)state;
  mtr_sigv4_options o = marketplace_opts();
  const struct { const char *url, *host; } cases[] = {
    { "https://metering.marketplace.us-east-1.amazonaws.com:443/", "metering.marketplace.us-east-1.amazonaws.com" },
    { "http://127.0.0.1:8080/", "127.0.0.1:8080" },
    { "http://127.0.0.1:80", "127.0.0.1" },
    { "https://[::1]:9443/x?a=b", "[::1]:9443" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mtr_http_request req;
    mtr_http_request_init(&req);
    req.method = "POST";
    mtr_buf_puts(&req.url, cases[i].url);
    mtr_sigv4_trace tr = MTR_SIGV4_TRACE_INIT;
    assert_int_equal(mtr_sigv4_sign(&req, &example_creds, &o, &tr, NULL), METER_OK);
    char want[256];
    snprintf(want, sizeof want, "\nhost:%s\n", cases[i].host);
    if (!strstr(mtr_buf_cstr(&tr.canonical_request), want))
      fail_msg("%s: no '%s' in\n%s", cases[i].url, want, mtr_buf_cstr(&tr.canonical_request));
    mtr_sigv4_trace_dispose(&tr);
    mtr_http_request_dispose(&req);
  }
}

static void test_unsigned_headers_are_skipped(void **state)
{
  (void)state;
  mtr_http_request req;
  batch_request(&req);
  mtr_headers_add(&req.headers, "User-Agent", "libmeter/0.1");
  mtr_headers_add(&req.headers, "Expect", "100-continue");
  mtr_headers_add(&req.headers, "X-Amzn-Trace-Id", "Root=1");
  mtr_sigv4_options o = marketplace_opts();
  mtr_sigv4_trace tr = MTR_SIGV4_TRACE_INIT;
  assert_int_equal(mtr_sigv4_sign(&req, &example_creds, &o, &tr, NULL), METER_OK);
  /* Same signature as without them (the vector). */
  assert_string_equal(tr.signature,
                      "44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed");
  mtr_sigv4_trace_dispose(&tr);
  mtr_http_request_dispose(&req);
}

static void test_canonical_pieces(void **state)
{
  (void)state;
  mtr_sigv4_options o;
  memset(&o, 0, sizeof o);
  const struct { const char *in, *out; int keep; } uris[] = {
    { "", "/", 0 },
    { "/", "/", 0 },
    { "/a/b/..", "/a", 0 },
    { "/a/./b/", "/a/b/", 0 },
    { "/../..", "/", 0 },
    { "//a//b", "/a/b", 0 },
    { "/a%20b", "/a%2520b", 0 },      /* double encoding of the wire path */
    { "/a b/~x", "/a%20b/~x", 0 },
    { "/a/../b", "/a/../b", 1 },
    /* plain paths (the fast path) are their own canonical form... */
    { "/Ab-9_~/x/", "/Ab-9_~/x/", 0 },
    { "/Ab-9_~/x/", "/Ab-9_~/x/", 1 },
    /* ...and anything with a dot, an empty segment or a reserved character is not plain */
    { "/a/.", "/a", 0 },
    { "/a//", "/a/", 0 },
    { "/a:b", "/a%3Ab", 0 },
  };
  for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
    mtr_buf b = MTR_BUF_INIT;
    o.keep_path = uris[i].keep;
    assert_int_equal(mtr_sigv4_canonical_uri(&b, uris[i].in, strlen(uris[i].in), &o), METER_OK);
    if (strcmp(mtr_buf_cstr(&b), uris[i].out) != 0)
      fail_msg("uri '%s': want '%s', got '%s'", uris[i].in, uris[i].out, mtr_buf_cstr(&b));
    mtr_buf_dispose(&b);
  }
  o.keep_path = 1;
  o.path_is_encoded = 1;
  mtr_buf b = MTR_BUF_INIT;
  assert_int_equal(mtr_sigv4_canonical_uri(&b, "/a%20b", 6, &o), METER_OK);
  assert_string_equal(mtr_buf_cstr(&b), "/a%20b");
  mtr_buf_dispose(&b);

  const struct { const char *in, *out; } qs[] = {
    { "", "" },
    { "b=2&a=1", "a=1&b=2" },
    { "a=2&a=1", "a=1&a=2" },
    { "k", "k=" },
    { "a=x y&a=x%20y", "a=x%20y&a=x%20y" },
    { "s=a+b/c", "s=a%2Bb%2Fc" },
    { "bad=%zz", "bad=%25zz" },
    { "&&x=1&", "x=1" },
  };
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
    mtr_buf q = MTR_BUF_INIT;
    assert_int_equal(mtr_sigv4_canonical_query(&q, qs[i].in, strlen(qs[i].in)), METER_OK);
    if (strcmp(mtr_buf_cstr(&q), qs[i].out) != 0)
      fail_msg("query '%s': want '%s', got '%s'", qs[i].in, qs[i].out, mtr_buf_cstr(&q));
    mtr_buf_dispose(&q);
  }
}

/* ---- the derived-key cache ---------------------------------------------------------- */

static void test_key_cache(void **state)
{
  (void)state;
  mtr_sigv4_key_cache kc;
  mtr_sigv4_key_cache_init(&kc);
  mtr_sigv4_options o = marketplace_opts();
  o.keys = &kc;
  mtr_http_request req;
  batch_request(&req);
  mtr_sigv4_trace tr = MTR_SIGV4_TRACE_INIT;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(mtr_sigv4_sign(&req, &example_creds, &o, &tr, NULL), METER_OK);
    assert_string_equal(tr.signature,
                        "44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed");
  }
  assert_int_equal(kc.misses, 1);
  assert_int_equal(kc.hits, 2);
  /* Same key id, another secret: not the cached key. */
  mtr_sigv4_credentials other = { "AKIDEXAMPLE", "another-secret", NULL };
  assert_int_equal(mtr_sigv4_sign(&req, &other, &o, &tr, NULL), METER_OK);
  assert_string_not_equal(tr.signature,
                          "44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed");
  assert_int_equal(kc.misses, 2);
  /* Next day: a new key. */
  o.time_us += 24 * MTR_US_PER_HOUR;
  assert_int_equal(mtr_sigv4_sign(&req, &example_creds, &o, &tr, NULL), METER_OK);
  assert_int_equal(kc.misses, 3);
  /* Another region. */
  o.region = "eu-west-1";
  assert_int_equal(mtr_sigv4_sign(&req, &example_creds, &o, &tr, NULL), METER_OK);
  assert_int_equal(kc.misses, 4);
  /* More combinations than slots: still right. */
  const char *regions[] = { "r1", "r2", "r3", "r4", "r5", "r6" };
  for (size_t i = 0; i < 6; i++) {
    o.region = regions[i];
    mtr_sigv4_options plain = o;
    plain.keys = NULL;
    mtr_sigv4_trace t2 = MTR_SIGV4_TRACE_INIT;
    assert_int_equal(mtr_sigv4_sign(&req, &example_creds, &o, &tr, NULL), METER_OK);
    assert_int_equal(mtr_sigv4_sign(&req, &example_creds, &plain, &t2, NULL), METER_OK);
    assert_string_equal(tr.signature, t2.signature);
    mtr_sigv4_trace_dispose(&t2);
  }
  mtr_sigv4_trace_dispose(&tr);
  mtr_http_request_dispose(&req);
  mtr_sigv4_key_cache_dispose(&kc);
}

typedef struct thread_arg {
  mtr_sigv4_key_cache *kc;
  int ok;
} thread_arg;

static void *sign_many(void *p)
{
  thread_arg *a = p;
  mtr_sigv4_options o = marketplace_opts();
  o.keys = a->kc;
  a->ok = 1;
  for (int i = 0; i < 200; i++) {
    mtr_http_request req;
    batch_request(&req);
    mtr_sigv4_trace tr = MTR_SIGV4_TRACE_INIT;
    o.region = (i % 3) ? "us-east-1" : "us-west-2";
    if (mtr_sigv4_sign(&req, &example_creds, &o, &tr, NULL) != METER_OK)
      a->ok = 0;
    if ((i % 3) && strcmp(tr.signature,
                          "44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed") != 0)
      a->ok = 0;
    mtr_sigv4_trace_dispose(&tr);
    mtr_http_request_dispose(&req);
  }
  return NULL;
}

static void test_key_cache_threads(void **state)
{
  (void)state;
  mtr_sigv4_key_cache kc;
  mtr_sigv4_key_cache_init(&kc);
  pthread_t th[4];
  thread_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i].kc = &kc;
    pthread_create(&th[i], NULL, sign_many, &args[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_true(args[i].ok);
  }
  assert_int_equal(kc.hits + kc.misses, 800);
  assert_true(kc.misses <= 8);
  mtr_sigv4_key_cache_dispose(&kc);
}

/* ---- parsing and verification ----------------------------------------------------- */

static void test_parse_authorization(void **state)
{
  (void)state;
  mtr_sigv4_parsed a;
  meter_error err;
  assert_int_equal(mtr_sigv4_parse_authorization(
                     "AWS4-HMAC-SHA256 Credential=AKIDSANDBOXEXAMPLE/20240101/us-east-1/"
                     "aws-marketplace/aws4_request, SignedHeaders=content-type;host;x-amz-date, "
                     "Signature=44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed",
                     &a, &err), METER_OK);
  assert_string_equal(a.access_key_id, "AKIDSANDBOXEXAMPLE");
  assert_string_equal(a.date, "20240101");
  assert_string_equal(a.region, "us-east-1");
  assert_string_equal(a.service, "aws-marketplace");
  assert_string_equal(a.signed_headers, "content-type;host;x-amz-date");
  assert_string_equal(a.signature,
                      "44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed");
  /* Without spaces after the commas, in another order. */
  assert_int_equal(mtr_sigv4_parse_authorization(
                     "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date,Signature="
                     "44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed,"
                     "Credential=AK/20240101/r/s/aws4_request", &a, &err), METER_OK);
  assert_string_equal(a.access_key_id, "AK");

  const char *bad[] = {
    NULL,
    "",
    "Bearer abc",
    "AWS4-HMAC-SHA1 Credential=AK/20240101/r/s/aws4_request, SignedHeaders=host, Signature=" 
    "44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed",
    "AWS4-HMAC-SHA256 Credential=AK/20240101/r/s/aws4_request, SignedHeaders=host",
    "AWS4-HMAC-SHA256 Credential=AK/2024011/r/s/aws4_request, SignedHeaders=host, Signature="
    "44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed",
    "AWS4-HMAC-SHA256 Credential=AK/20240101/r/s/aws4, SignedHeaders=host, Signature="
    "44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed",
    "AWS4-HMAC-SHA256 Credential=AK/20240101/r/aws4_request, SignedHeaders=host, Signature="
    "44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed",
    "AWS4-HMAC-SHA256 Credential=AK/20240101/r/s/aws4_request, SignedHeaders=x-amz-date;host, "
    "Signature=44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed",
    "AWS4-HMAC-SHA256 Credential=AK/20240101/r/s/aws4_request, SignedHeaders=Host, "
    "Signature=44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed",
    "AWS4-HMAC-SHA256 Credential=AK/20240101/r/s/aws4_request, SignedHeaders=host;host, "
    "Signature=44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed",
    "AWS4-HMAC-SHA256 Credential=AK/20240101/r/s/aws4_request, SignedHeaders=host, "
    "Signature=44BA2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed",
    "AWS4-HMAC-SHA256 Credential=AK/20240101/r/s/aws4_request, SignedHeaders=host, "
    "Signature=44ba2d66",
    "AWS4-HMAC-SHA256 Credential=AK/20240101/r/s/aws4_request, SignedHeaders=host, "
    "Signature=44ba2d66183d1e645990e5f2eb2c0429083e1d8363259aa02c066063b83162ed, Extra=1",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (mtr_sigv4_parse_authorization(bad[i], &a, &err) != METER_EAUTH)
      fail_msg("accepted: %s", bad[i] ? bad[i] : "(null)");
    assert_true(err.message[0] != '\0');
  }
}

static void test_verify(void **state)
{
  (void)state;
  mtr_http_request req;
  mtr_http_request_init(&req);
  req.method = "POST";
  mtr_buf_puts(&req.url, "http://127.0.0.1:4566/");
  mtr_headers_add(&req.headers, "Content-Type", "application/x-amz-json-1.1");
  mtr_headers_add(&req.headers, "X-Amz-Target", "AWSMPMeteringService.MeterUsage");
  mtr_buf_puts(&req.body, "{\"ProductCode\":\"p\"}");
  mtr_sigv4_options o = marketplace_opts();
  mtr_sigv4_credentials c = { "AKIDSANDBOXEXAMPLE", "sandbox+secret/KEY/EXAMPLE", "tok-123" };
  assert_int_equal(mtr_sigv4_sign(&req, &c, &o, NULL, NULL), METER_OK);

  /* What the server sees: lower-case names, a Host header from the client,
   * curl's own headers that were not signed. */
  mtr_headers rx = { 0 };
  mtr_headers_add(&rx, "host", "127.0.0.1:4566");
  mtr_headers_add(&rx, "user-agent", "libmeter/0.1");
  mtr_headers_add(&rx, "content-length", "19");
  for (size_t i = 0; i < req.headers.count; i++)
    mtr_headers_add(&rx, req.headers.items[i].name, req.headers.items[i].value);
  mtr_sigv4_parsed a;
  meter_error err;
  assert_int_equal(mtr_sigv4_parse_authorization(mtr_headers_get(&rx, "authorization"), &a, &err),
                   METER_OK);
  assert_string_equal(a.signed_headers,
                      "content-type;host;x-amz-date;x-amz-security-token;x-amz-target");
  const char *body = "{\"ProductCode\":\"p\"}";
  assert_int_equal(mtr_sigv4_verify("POST", "/", &rx, body, strlen(body), &a, c.secret_access_key,
                                    &err), METER_OK);
  /* A normalisable path verifies to the same canonical URI. */
  assert_int_equal(mtr_sigv4_verify("POST", "/./", &rx, body, strlen(body), &a,
                                    c.secret_access_key, &err), METER_OK);
  /* Tampering. */
  assert_int_equal(mtr_sigv4_verify("PUT", "/", &rx, body, strlen(body), &a, c.secret_access_key,
                                    &err), METER_EAUTH);
  assert_non_null(strstr(err.message, "does not match"));
  assert_int_equal(mtr_sigv4_verify("POST", "/?x=1", &rx, body, strlen(body), &a,
                                    c.secret_access_key, &err), METER_EAUTH);
  assert_int_equal(mtr_sigv4_verify("POST", "/", &rx, "{}", 2, &a, c.secret_access_key, &err),
                   METER_EAUTH);
  mtr_headers_set(&rx, "x-amz-target", "AWSMPMeteringService.BatchMeterUsage");
  assert_int_equal(mtr_sigv4_verify("POST", "/", &rx, body, strlen(body), &a,
                                    c.secret_access_key, &err), METER_EAUTH);
  mtr_headers_set(&rx, "x-amz-target", "AWSMPMeteringService.MeterUsage");
  /* A signed header missing. */
  mtr_headers_remove(&rx, "x-amz-security-token");
  assert_int_equal(mtr_sigv4_verify("POST", "/", &rx, body, strlen(body), &a,
                                    c.secret_access_key, &err), METER_EAUTH);
  assert_non_null(strstr(err.message, "x-amz-security-token"));
  mtr_headers_add(&rx, "x-amz-security-token", "tok-123");
  assert_int_equal(mtr_sigv4_verify("POST", "/", &rx, body, strlen(body), &a,
                                    c.secret_access_key, &err), METER_OK);
  /* A scope date that is not X-Amz-Date's. */
  mtr_sigv4_parsed d = a;
  memcpy(d.date, "20240102", 8);
  assert_int_equal(mtr_sigv4_verify("POST", "/", &rx, body, strlen(body), &d,
                                    c.secret_access_key, &err), METER_EAUTH);
  assert_non_null(strstr(err.message, "date"));
  /* host and x-amz-date must be signed. */
  mtr_sigv4_parsed nh = a;
  snprintf(nh.signed_headers, sizeof nh.signed_headers, "content-type;x-amz-date");
  assert_int_equal(mtr_sigv4_verify("POST", "/", &rx, body, strlen(body), &nh,
                                    c.secret_access_key, &err), METER_EAUTH);
  assert_non_null(strstr(err.message, "host"));
  snprintf(nh.signed_headers, sizeof nh.signed_headers, "content-type;host");
  assert_int_equal(mtr_sigv4_verify("POST", "/", &rx, body, strlen(body), &nh,
                                    c.secret_access_key, &err), METER_EAUTH);
  assert_non_null(strstr(err.message, "x-amz-date"));
  /* A claimed payload hash that is not the body's. */
  mtr_headers_add(&rx, "x-amz-content-sha256", MTR_SIGV4_EMPTY_SHA256);
  assert_int_equal(mtr_sigv4_verify("POST", "/", &rx, body, strlen(body), &a,
                                    c.secret_access_key, &err), METER_EAUTH);
  mtr_headers_dispose(&rx);
  mtr_http_request_dispose(&req);
}

static void test_amz_date(void **state)
{
  (void)state;
  int64_t t;
  assert_int_equal(mtr_sigv4_parse_amz_date("20240101T000500Z", &t), 0);
  char buf[MTR_TIME_BUF];
  assert_string_equal(mtr_time_format(t, MTR_TIME_AMZ, buf), "20240101T000500Z");
  assert_int_equal(mtr_sigv4_parse_amz_date("20240101T000500", &t), -1);
  assert_int_equal(mtr_sigv4_parse_amz_date("2024-01-01T00:05:00Z", &t), -1);
  assert_int_equal(mtr_sigv4_parse_amz_date("20241301T000500Z", &t), -1);
  assert_int_equal(mtr_sigv4_parse_amz_date(NULL, &t), -1);
}

static void test_refuses_bad_inputs(void **state)
{
  (void)state;
  mtr_http_request req;
  batch_request(&req);
  mtr_sigv4_options o = marketplace_opts();
  meter_error err;
  mtr_sigv4_credentials none = { "", "", NULL };
  assert_int_equal(mtr_sigv4_sign(&req, &none, &o, NULL, &err), METER_EAUTH);
  o.region = NULL;
  assert_int_equal(mtr_sigv4_sign(&req, &example_creds, &o, NULL, &err), METER_ECONFIG);
  mtr_http_request_dispose(&req);
}

/* Every allocation failure ends cleanly (no leak, no crash, an error). */
static void test_allocation_failures(void **state)
{
  (void)state;
  for (long n = 1; n < 200; n++) {
    mtr_http_request req;
    batch_request(&req);
    mtr_sigv4_options o = marketplace_opts();
    mtr_sigv4_credentials c = example_creds;
    c.session_token = "FwoGZXIvYXdzEXAMPLETOKEN";
    mtr_sigv4_trace tr = MTR_SIGV4_TRACE_INIT;
    mtr_alloc_fail_at(n);
    int rc = mtr_sigv4_sign(&req, &c, &o, &tr, NULL);
    int rc2 = mtr_sigv4_presign(&req, &c, &o, &tr, NULL);
    mtr_alloc_fail_at(0);
    assert_true(rc == METER_OK || rc == METER_ENOMEM);
    assert_true(rc2 == METER_OK || rc2 == METER_ENOMEM);
    mtr_sigv4_trace_dispose(&tr);
    mtr_http_request_dispose(&req);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_suite_header_mode),
    cmocka_unit_test(test_suite_query_mode),
    cmocka_unit_test(test_batch_meter_usage_vector),
    cmocka_unit_test(test_long_secret_key_derivation),
    cmocka_unit_test(test_batch_meter_usage_vector_with_token),
    cmocka_unit_test(test_resign_replaces_old_signature),
    cmocka_unit_test(test_host_from_url),
    cmocka_unit_test(test_unsigned_headers_are_skipped),
    cmocka_unit_test(test_canonical_pieces),
    cmocka_unit_test(test_key_cache),
    cmocka_unit_test(test_key_cache_threads),
    cmocka_unit_test(test_parse_authorization),
    cmocka_unit_test(test_verify),
    cmocka_unit_test(test_amz_date),
    cmocka_unit_test(test_refuses_bad_inputs),
    cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
