/* A scripted transport: tests queue answers, the library "sends" requests to
 * it, and the test inspects exactly what was sent. No sockets. */
#ifndef FAKE_TRANSPORT_H
#define FAKE_TRANSPORT_H

#include "core/sync.h"
#include "http/http.h"

#define FAKE_MAX 256

typedef struct fake_reply {
  long status;
  char *headers;     /* "name: value\n" lines */
  char *body;
  mtr_net_error net_error;
  int maybe_sent;
} fake_reply;

typedef struct fake_sent {
  const char *method;
  char *url;
  char *body;
  mtr_headers headers;
  long timeout_ms;
} fake_sent;

typedef struct fake_transport {
  mtr_transport base;
  mtr_mutex lock;
  fake_reply replies[FAKE_MAX];
  size_t nreplies, next;
  fake_sent sent[FAKE_MAX];
  size_t nsent;
  /* Answer for requests beyond the script (default: 599 "script exhausted"). */
  fake_reply fallback;
} fake_transport;

void fake_transport_init(fake_transport *t);
void fake_transport_dispose(fake_transport *t);
/* Queues an HTTP answer. headers may be NULL. */
void fake_push(fake_transport *t, long status, const char *headers, const char *body);
/* Queues a network failure. */
void fake_push_net(fake_transport *t, mtr_net_error e, int maybe_sent);
/* Drops recorded requests and queued answers. */
void fake_reset(fake_transport *t);
const char *fake_sent_header(const fake_transport *t, size_t i, const char *name);

#endif
