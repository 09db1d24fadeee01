/* SigV4: canonicalisation of arbitrary paths, queries and headers, the
 * Authorization parser and the verifier (meter-sandbox's entry point).
 *
 * Input lines: 1) "path?query" as it would go on the wire, 2..n-1) headers
 * "name: value", then a line "--" and the body. Properties:
 *  - nothing crashes or leaks whatever the bytes;
 *  - a request the signer accepts is verified by the verifier with the same
 *    secret (signer and verifier agree on canonical forms);
 *  - the first line parsed as an Authorization header never overflows the
 *    parsed fields, and verify with it never crashes. */
#include "fuzz.h"

#include "auth/sigv4.h"
#include "meter/errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static int token(const char *name, size_t nlen)
{
  if (nlen == 0)
    return 0;
  for (size_t i = 0; i < nlen; i++) {
    unsigned char c = (unsigned char)name[i];
    if (!(c > ' ' && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c)))
      return 0;
  }
  return 1;
}

/* A value a server receives unchanged: no leading or trailing blanks (HTTP
 * parsers strip those) and no control characters. */
static int plain_value(const char *v, size_t vlen)
{
  if (vlen && (v[0] == ' ' || v[0] == '\t' || v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
    return 0;
  for (size_t i = 0; i < vlen; i++)
    if ((unsigned char)v[i] < ' ' || v[i] == 0x7f)
      return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';

  /* Canonical forms of the whole input, and the Authorization parser. */
  mtr_buf b = MTR_BUF_INIT;
  mtr_sigv4_options opt;
  memset(&opt, 0, sizeof opt);
  opt.region = "us-east-1";
  opt.service = "aws-marketplace";
  opt.time_us = INT64_C(1704114000000000);
  mtr_sigv4_canonical_uri(&b, s, size, &opt);
  mtr_buf_clear(&b);
  opt.keep_path = 1;
  mtr_sigv4_canonical_uri(&b, s, size, &opt);
  opt.keep_path = 0;
  mtr_buf_clear(&b);
  mtr_sigv4_canonical_query(&b, s, size);
  mtr_buf_dispose(&b);
  int64_t us;
  mtr_sigv4_parse_amz_date(s, &us);

  char *nl = strchr(s, '\n');
  char *line1 = s;
  if (nl)
    *nl = '\0';
  mtr_sigv4_parsed parsed;
  meter_error err;
  mtr_headers hdrs = { 0 };
  if (mtr_sigv4_parse_authorization(line1, &parsed, &err) == METER_OK) {
    if (strlen(parsed.signature) != 64)
      abort();
    mtr_headers_add(&hdrs, "host", "example.amazonaws.com");
    mtr_headers_add(&hdrs, "x-amz-date", "20240101T130000Z");
    mtr_sigv4_verify("POST", "/", &hdrs, "", 0, &parsed, SECRET, &err);
    mtr_headers_clear(&hdrs);
  }

  /* Sign a request made of the input, then verify it as a server would. */
  mtr_http_request req;
  mtr_http_request_init(&req);
  req.method = "POST";
  /* A target the wire can carry as is: no fragment (never sent), no blank
   * or control character. */
  int plain = strchr(line1, '#') == NULL;
  size_t names_len = 64; /* host;x-amz-date;... added by the signer */
  for (const unsigned char *u = (const unsigned char *)line1; *u; u++)
    if (*u <= ' ' || *u == 0x7f)
      plain = 0;
  if (line1[0] == '/' && mtr_buf_printf(&req.url, "https://example.amazonaws.com%s", line1) == 0) {
    char *p = nl ? nl + 1 : NULL;
    const char *body = "";
    while (p && *p) {
      char *e = strchr(p, '\n');
      if (e)
        *e = '\0';
      if (strcmp(p, "--") == 0) {
        body = e ? e + 1 : "";
        break;
      }
      char *colon = strchr(p, ':');
      /* Header names are the library's own (never from input): only
       * tokens are signed. Values are anything. */
      if (colon && token(p, (size_t)(colon - p))) {
        /* The verifier (a server) bounds what it accepts: names under 256
         * bytes, the signed-header list under 1 KiB. The library's own
         * names are short. */
        names_len += (size_t)(colon - p) + 1;
        plain &= colon - p < 256 && names_len < 900;
        const char *v = colon + 1;
        while (*v == ' ')
          v++;
        plain &= plain_value(v, strlen(v));
        *colon = '\0';
        mtr_headers_add(&req.headers, p, v);
        *colon = ':';
      }
      p = e ? e + 1 : NULL;
    }
    mtr_buf_puts(&req.body, body);
    mtr_sigv4_credentials creds = { "AKIDEXAMPLE", SECRET, NULL };
    if (mtr_sigv4_sign(&req, &creds, &opt, NULL, &err) == METER_OK) {
      const char *auth = mtr_headers_get(&req.headers, "authorization");
      if (!auth)
        abort();
      /* What the server receives: the headers as sent, names lower-cased,
       * plus Host from the URL. */
      int dup = 0;
      for (size_t i = 0; i < req.headers.count; i++) {
        size_t n = strlen(req.headers.items[i].name);
        char *name = malloc(n + 1);
        if (!name)
          break;
        for (size_t k = 0; k < n; k++) {
          char c = req.headers.items[i].name[k];
          name[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        name[n] = '\0';
        if (strcmp(name, "host") == 0)
          dup = 1;
        mtr_headers_add(&hdrs, name, req.headers.items[i].value);
        free(name);
      }
      if (!dup)
        mtr_headers_add(&hdrs, "host", "example.amazonaws.com");
      if (mtr_sigv4_parse_authorization(auth, &parsed, &err) != METER_OK) {
        if (plain)
          abort(); /* the verifier cannot read what the signer wrote */
      } else {
        int rc = mtr_sigv4_verify("POST", line1, &hdrs, mtr_buf_cstr(&req.body),
                                  strlen(mtr_buf_cstr(&req.body)), &parsed, SECRET, &err);
        if (plain && !dup && rc != METER_OK) {
          fprintf(stderr, "verify: %s\n", err.message);
          abort(); /* signer and verifier disagree on a request sent as is */
        }
      }
    }
  }
  mtr_headers_dispose(&hdrs);
  mtr_http_request_dispose(&req);
  free(s);
  return 0;
}
