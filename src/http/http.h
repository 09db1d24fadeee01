/* HTTP requests and responses, and the transport interface every back end
 * sends through. Production uses libcurl (curl_transport.c); tests plug in a
 * scripted transport, so back ends are tested without sockets. */
#ifndef MTR_HTTP_H
#define MTR_HTTP_H

#include "core/buf.h"

#include <stddef.h>

typedef struct mtr_header {
  char *name;
  char *value;
} mtr_header;

typedef struct mtr_headers {
  mtr_header *items;
  size_t count;
  size_t cap;
} mtr_headers;

/* Replaces every header of that name (case-insensitive) with one value. */
int mtr_headers_set(mtr_headers *h, const char *name, const char *value);
/* Appends, keeping earlier headers of the same name. */
int mtr_headers_add(mtr_headers *h, const char *name, const char *value);
int mtr_headers_addn(mtr_headers *h, const char *name, size_t name_len, const char *value,
                     size_t value_len);
const char *mtr_headers_get(const mtr_headers *h, const char *name);
void mtr_headers_remove(mtr_headers *h, const char *name);
void mtr_headers_clear(mtr_headers *h);
void mtr_headers_dispose(mtr_headers *h);

typedef struct mtr_http_request {
  const char *method;      /* "GET", "POST", "PUT", "DELETE" (static string) */
  mtr_buf url;             /* absolute URL */
  mtr_headers headers;
  mtr_buf body;
  long timeout_ms;         /* 0: the transport's default */
  long connect_timeout_ms; /* 0: the transport's default */
  int body_is_secret;      /* credentials in the body: wipe after use, never log */
  int not_idempotent;      /* must not be sent twice (Tackle POST): the transport
                              uses a fresh connection, because libcurl silently
                              resends a request whose reused connection died
                              without an answer, and that resend may apply it twice */
} mtr_http_request;

void mtr_http_request_init(mtr_http_request *req);
void mtr_http_request_reset(mtr_http_request *req);  /* empty, reusable */
void mtr_http_request_dispose(mtr_http_request *req);

/* Why no HTTP answer arrived. */
typedef enum mtr_net_error {
  MTR_NET_OK = 0,        /* an HTTP response was received */
  MTR_NET_CONNECT = 1,   /* could not connect: the request was never sent */
  MTR_NET_TIMEOUT = 2,   /* timed out (see maybe_sent) */
  MTR_NET_RESET = 3,     /* connection closed or reset mid-exchange */
  MTR_NET_TLS = 4,       /* TLS handshake or certificate verification failed */
  MTR_NET_TOO_LARGE = 5, /* the answer exceeded the response size cap */
  MTR_NET_OTHER = 6
} mtr_net_error;

typedef struct mtr_http_response {
  mtr_net_error net_error;
  int maybe_sent;          /* net error after the request may have reached the server */
  long status;             /* HTTP status, 0 when net_error != OK */
  mtr_headers headers;     /* names lower-cased */
  mtr_buf body;
  char net_message[160];   /* transport's description of a net error */
} mtr_http_response;

void mtr_http_response_init(mtr_http_response *resp);
void mtr_http_response_reset(mtr_http_response *resp);
void mtr_http_response_dispose(mtr_http_response *resp);
const char *mtr_http_response_header(const mtr_http_response *resp, const char *name);

typedef struct mtr_transport_options {
  long connect_timeout_ms;
  long request_timeout_ms;
  int insecure_skip_verify;
  const char *ca_bundle;
  const char *user_agent;
  size_t max_response_bytes;
} mtr_transport_options;

typedef struct mtr_transport mtr_transport;
struct mtr_transport {
  /* Performs one request. Returns METER_OK when resp is filled (an HTTP
   * answer or a net error); another status only for local failures (memory). */
  int (*send)(mtr_transport *t, const mtr_http_request *req, mtr_http_response *resp);
  void (*destroy)(mtr_transport *t);
};

static inline int mtr_transport_send(mtr_transport *t, const mtr_http_request *req,
                                     mtr_http_response *resp)
{
  return t->send(t, req, resp);
}

/* The libcurl transport: a pool of keep-alive easy handles, safe to share
 * between threads. */
int mtr_curl_transport_new(mtr_transport **out, const mtr_transport_options *opts);

/* Joins a base URL and a path ("https://h/api/" + "/v1/x" -> "https://h/api/v1/x"). */
int mtr_url_join(mtr_buf *out, const char *base, const char *path);

#endif
