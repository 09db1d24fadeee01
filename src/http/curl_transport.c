/* The libcurl transport. A pool of easy handles, each keeping its own
 * keep-alive connections: a thread takes a handle, uses it, puts it back, so
 * concurrent senders reuse warm connections without sharing a handle.
 * curl_easy_reset keeps live connections, so options are set fresh per call. */
#include "http.h"

#include "core/alloc.h"
#include "core/str.h"
#include "core/sync.h"
#include "meter/errors.h"

#include <ctype.h>
#include <curl/curl.h>
#include <string.h>

#define POOL_MAX 64

typedef struct curl_transport {
  mtr_transport base;
  mtr_transport_options opts;
  char *ca_bundle;
  char *user_agent;
  mtr_mutex lock;
  CURL *idle[POOL_MAX];
  size_t nidle;
} curl_transport;

typedef struct call_state {
  mtr_http_response *resp;
  size_t cap;
  int too_large;
} call_state;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
  call_state *cs = ud;
  size_t n = size * nmemb;
  if (cs->resp->body.len + n > cs->cap) {
    cs->too_large = 1;
    return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
  }
  return mtr_buf_put(&cs->resp->body, data, n) == METER_OK ? n : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
  call_state *cs = ud;
  size_t n = size * nmemb;
  if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
    /* A new response (after 100 Continue or a redirect): start over. */
    mtr_headers_clear(&cs->resp->headers);
    return n;
  }
  const char *colon = memchr(data, ':', n);
  if (!colon)
    return n;
  size_t nl = (size_t)(colon - data);
  const char *v = colon + 1, *end = data + n;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
    end--;
  char name[128];
  if (nl == 0 || nl >= sizeof name)
    return n;
  for (size_t i = 0; i < nl; i++)
    name[i] = (char)tolower((unsigned char)data[i]);
  if (mtr_headers_addn(&cs->resp->headers, name, nl, v, (size_t)(end - v)))
    return 0;
  return n;
}

static CURL *take_handle(curl_transport *t)
{
  CURL *h = NULL;
  mtr_mutex_lock(&t->lock);
  if (t->nidle)
    h = t->idle[--t->nidle];
  mtr_mutex_unlock(&t->lock);
  if (h)
    curl_easy_reset(h);
  else
    h = curl_easy_init();
  return h;
}

static void give_back(curl_transport *t, CURL *h)
{
  mtr_mutex_lock(&t->lock);
  if (t->nidle < POOL_MAX) {
    t->idle[t->nidle++] = h;
    h = NULL;
  }
  mtr_mutex_unlock(&t->lock);
  if (h)
    curl_easy_cleanup(h);
}

static void classify_failure(CURL *h, CURLcode rc, call_state *cs)
{
  mtr_http_response *resp = cs->resp;
  curl_off_t sent = 0;
  curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
  resp->maybe_sent = sent > 0;
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_CONNECT:
    resp->net_error = MTR_NET_CONNECT;
    resp->maybe_sent = 0;
    break;
  case CURLE_OPERATION_TIMEDOUT:
    resp->net_error = MTR_NET_TIMEOUT;
    break;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
    resp->net_error = MTR_NET_TLS;
    resp->maybe_sent = 0;
    break;
  case CURLE_WRITE_ERROR:
    resp->net_error = cs->too_large ? MTR_NET_TOO_LARGE : MTR_NET_OTHER;
    break;
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    resp->net_error = MTR_NET_RESET;
    break;
  default:
    resp->net_error = MTR_NET_OTHER;
    break;
  }
  if (cs->too_large)
    mtr_strlcpy(resp->net_message, "response larger than the configured cap", sizeof resp->net_message);
  else
    mtr_strlcpy(resp->net_message, curl_easy_strerror(rc), sizeof resp->net_message);
  resp->status = 0;
}

static int curl_send(mtr_transport *base, const mtr_http_request *req, mtr_http_response *resp)
{
  curl_transport *t = (curl_transport *)base;
  CURL *h = take_handle(t);
  if (!h)
    return METER_ENOMEM;

  call_state cs = { resp, t->opts.max_response_bytes, 0 };
  struct curl_slist *hdrs = NULL, *tmp;
  mtr_buf line = MTR_BUF_INIT;
  int rc = METER_OK;

  for (size_t i = 0; i < req->headers.count; i++) {
    /* "Name: value" by appends: printf cost more than the rest of the list. */
    mtr_buf_clear(&line);
    mtr_buf_puts(&line, req->headers.items[i].name);
    mtr_buf_put(&line, ": ", 2);
    mtr_buf_puts(&line, req->headers.items[i].value);
    if (mtr_buf_status(&line) || !(tmp = curl_slist_append(hdrs, line.ptr))) {
      rc = METER_ENOMEM;
      goto out;
    }
    hdrs = tmp;
  }
  /* No "Expect: 100-continue" round trip; no implicit form content type. */
  if (!(tmp = curl_slist_append(hdrs, "Expect:"))) {
    rc = METER_ENOMEM;
    goto out;
  }
  hdrs = tmp;
  if (req->body.len && !mtr_headers_get(&req->headers, "content-type")) {
    if (!(tmp = curl_slist_append(hdrs, "Content-Type:"))) {
      rc = METER_ENOMEM;
      goto out;
    }
    hdrs = tmp;
  }

  long timeout = req->timeout_ms > 0 ? req->timeout_ms : t->opts.request_timeout_ms;
  long ctimeout = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : t->opts.connect_timeout_ms;
  if (ctimeout > timeout)
    ctimeout = timeout;

  curl_easy_setopt(h, CURLOPT_URL, mtr_buf_cstr(&req->url));
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  /* On a reused connection that dies before any answer, libcurl resends the
   * request by itself; for a non-idempotent request that could apply it
   * twice, so it gets a connection of its own (set on every request: handles
   * are pooled). */
  curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, req->not_idempotent ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ctimeout);
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, t->opts.insecure_skip_verify ? 0L : 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, t->opts.insecure_skip_verify ? 0L : 2L);
  if (t->ca_bundle)
    curl_easy_setopt(h, CURLOPT_CAINFO, t->ca_bundle);
  if (t->user_agent)
    curl_easy_setopt(h, CURLOPT_USERAGENT, t->user_agent);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &cs);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &cs);

  if (strcmp(req->method, "GET") == 0) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    if (strcmp(req->method, "POST") != 0)
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->body.len || strcmp(req->method, "DELETE") != 0) {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, mtr_buf_cstr(&req->body));
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
    }
  }

  CURLcode cr = curl_easy_perform(h);
  if (cr == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    resp->net_error = MTR_NET_OK;
  } else if (mtr_buf_status(&resp->body) || (cr == CURLE_WRITE_ERROR && !cs.too_large &&
                                              resp->body.oom)) {
    rc = METER_ENOMEM;
  } else {
    classify_failure(h, cr, &cs);
  }
  /* Do not keep the caller's header list or buffers referenced by the pool. */
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);

out:
  curl_slist_free_all(hdrs);
  mtr_buf_dispose_secret(&line);
  give_back(t, h);
  return rc;
}

static void curl_destroy(mtr_transport *base)
{
  curl_transport *t = (curl_transport *)base;
  if (!t)
    return;
  for (size_t i = 0; i < t->nidle; i++)
    curl_easy_cleanup(t->idle[i]);
  mtr_mutex_destroy(&t->lock);
  mtr_free(t->ca_bundle);
  mtr_free(t->user_agent);
  mtr_free(t);
}

int mtr_curl_transport_new(mtr_transport **out, const mtr_transport_options *opts)
{
  curl_transport *t = mtr_calloc(1, sizeof *t);
  if (!t)
    return METER_ENOMEM;
  t->base.send = curl_send;
  t->base.destroy = curl_destroy;
  t->opts = *opts;
  t->ca_bundle = mtr_strdup(opts->ca_bundle);
  t->user_agent = mtr_strdup(opts->user_agent);
  if ((opts->ca_bundle && !t->ca_bundle) || (opts->user_agent && !t->user_agent)) {
    mtr_free(t->ca_bundle);
    mtr_free(t->user_agent);
    mtr_free(t);
    return METER_ENOMEM;
  }
  t->opts.ca_bundle = t->ca_bundle;
  t->opts.user_agent = t->user_agent;
  mtr_mutex_init(&t->lock);
  *out = &t->base;
  return METER_OK;
}
