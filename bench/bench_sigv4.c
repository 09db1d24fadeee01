/* SigV4 signatures per second on one thread: libmeter's signer
 * (src/auth/sigv4.h) on the MeterUsage-sized request of sigv4_request.json,
 * with the derived signing key cached (what the AWS back end does) or
 * derived afresh for every signature (what botocore does).
 *
 *   bench_sigv4 --request FILE [--cache 0|1] [--seconds S] [--runs N] [--warmup S]
 *   bench_sigv4 --request FILE --check     prints the Authorization header at
 *                                         the file's check_time and exits
 *   bench_sigv4 --request FILE --count N   signs N times and exits (for
 *                                         valgrind --tool=callgrind: instructions
 *                                         per signature, immune to machine load)
 *
 * Each iteration does what a caller pays for one signature: a fresh request
 * (URL, two headers, the body) signed at the current time, then freed. */
#include "bench_util.h"

#include "auth/sigv4.h"
#include "http/http.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct spec {
  cJSON *root;
  const char *url, *method, *body, *region, *service, *akid, *secret;
  const cJSON *headers;
  int64_t check_us;
} spec;

static const char *str(const cJSON *o, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!cJSON_IsString(v)) {
    fprintf(stderr, "bench_sigv4: the request file has no string '%s'\n", name);
    exit(2);
  }
  return v->valuestring;
}

static void load(spec *s, const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(2);
  }
  static char buf[65536];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  s->root = cJSON_Parse(buf);
  if (!s->root) {
    fprintf(stderr, "bench_sigv4: %s is not JSON\n", path);
    exit(2);
  }
  s->url = str(s->root, "url");
  s->method = str(s->root, "method");
  s->body = str(s->root, "body");
  s->region = str(s->root, "region");
  s->service = str(s->root, "service");
  s->akid = str(s->root, "access_key_id");
  s->secret = str(s->root, "secret_access_key");
  s->headers = cJSON_GetObjectItemCaseSensitive(s->root, "headers");
  const cJSON *ct = cJSON_GetObjectItemCaseSensitive(s->root, "check_time_epoch");
  s->check_us = cJSON_IsNumber(ct) ? (int64_t)ct->valuedouble * 1000000 : 0;
}

static int sign_once(const spec *s, mtr_sigv4_key_cache *keys, int64_t t_us, char *auth,
                     size_t auth_size)
{
  mtr_http_request req;
  mtr_http_request_init(&req);
  req.method = strcmp(s->method, "POST") == 0 ? "POST" : "GET";
  mtr_buf_puts(&req.url, s->url);
  const cJSON *h;
  cJSON_ArrayForEach(h, s->headers)
  {
    mtr_headers_add(&req.headers, h->string, h->valuestring);
  }
  mtr_buf_puts(&req.body, s->body);
  mtr_sigv4_credentials cr = { s->akid, s->secret, NULL };
  mtr_sigv4_options o;
  memset(&o, 0, sizeof o);
  o.region = s->region;
  o.service = s->service;
  o.time_us = t_us;
  o.keys = keys;
  meter_error err;
  int rc = mtr_sigv4_sign(&req, &cr, &o, NULL, &err);
  if (rc == 0 && auth)
    snprintf(auth, auth_size, "%s", mtr_headers_get(&req.headers, "Authorization"));
  mtr_http_request_dispose(&req);
  return rc;
}

int main(int argc, char **argv)
{
  const char *file = NULL;
  int cache = 1, runs = 5, check = 0;
  long count = 0;
  double seconds = 1.0, warmup = 0.5;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--request") == 0)
      file = bench_arg(argc, argv, &i);
    else if (strcmp(argv[i], "--cache") == 0)
      cache = atoi(bench_arg(argc, argv, &i));
    else if (strcmp(argv[i], "--seconds") == 0)
      seconds = atof(bench_arg(argc, argv, &i));
    else if (strcmp(argv[i], "--runs") == 0)
      runs = atoi(bench_arg(argc, argv, &i));
    else if (strcmp(argv[i], "--warmup") == 0)
      warmup = atof(bench_arg(argc, argv, &i));
    else if (strcmp(argv[i], "--check") == 0)
      check = 1;
    else if (strcmp(argv[i], "--count") == 0)
      count = atol(bench_arg(argc, argv, &i));
    else {
      fprintf(stderr, "usage: %s --request FILE [--cache 0|1] [--seconds S] [--runs N] "
                      "[--warmup S] [--check] [--count N]\n", argv[0]);
      return 2;
    }
  }
  if (!file)
    return 2;
  spec s;
  load(&s, file);
  mtr_sigv4_key_cache keys;
  mtr_sigv4_key_cache_init(&keys);

  int rc = 0;
  if (check) {
    char auth[1024];
    rc = sign_once(&s, NULL, s.check_us, auth, sizeof auth) != 0;
    if (!rc)
      printf("%s\n", auth);
    goto done;
  }
  for (long k = 0; k < count && !rc; k++)
    rc = sign_once(&s, cache ? &keys : NULL, bench_wall_us(), NULL, 0) != 0;
  if (count)
    goto done;

  const char *client = cache ? "libmeter (key cached)" : "libmeter (key derived per call)";
  for (int run = 0; run <= runs; run++) {
    double limit = run == 0 ? warmup : seconds;
    double t0 = bench_now(), t;
    long n = 0;
    do {
      for (int k = 0; k < 64; k++)
        if (sign_once(&s, cache ? &keys : NULL, bench_wall_us(), NULL, 0) != 0) {
          fprintf(stderr, "bench_sigv4: signing failed\n");
          rc = 1;
          goto done;
        }
      n += 64;
      t = bench_now() - t0;
    } while (t < limit);
    if (run == 0)
      continue; /* warm-up */
    char extra[128];
    snprintf(extra, sizeof extra, "\"signs_per_s\":%.1f,\"us_per_sign\":%.3f", (double)n / t,
             t * 1e6 / (double)n);
    bench_emit("sigv4", client, run, extra);
  }
done:
  mtr_sigv4_key_cache_dispose(&keys);
  cJSON_Delete(s.root);
  return rc;
}
