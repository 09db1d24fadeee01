/* A tiny HTTP/1.1 server on 127.0.0.1 in a thread of the test process, for
 * the credential providers' tests (fake IMDS, ECS agent, STS). One request
 * per connection (it answers with Connection: close); every request is
 * logged for the test to inspect. */
#ifndef FAKE_HTTP_SERVER_H
#define FAKE_HTTP_SERVER_H

#include <pthread.h>
#include <stddef.h>

#define FHS_MAX_LOG 64

typedef struct fhs_request {
  char method[16];
  char target[1024];
  char headers[4096];   /* "name: value\n" lines as received */
  char body[8192];
} fhs_request;

typedef struct fhs_response {
  int status;
  char headers[1024];   /* extra "Name: value\r\n" lines */
  char body[8192];
} fhs_response;

typedef void (*fhs_handler)(void *ctx, const fhs_request *req, fhs_response *resp);

typedef struct fake_http_server {
  int fd;
  int port;
  char url[64];          /* "http://127.0.0.1:PORT" */
  pthread_t thread;
  pthread_mutex_t lock;
  int stop;
  fhs_handler handler;
  void *ctx;
  fhs_request log[FHS_MAX_LOG];
  size_t nlog;
} fake_http_server;

/* 0 on success. The handler runs in the server thread with the server's lock held. */
int fhs_start(fake_http_server *s, fhs_handler handler, void *ctx);
void fhs_stop(fake_http_server *s);
size_t fhs_count(fake_http_server *s);
/* A copy of the i-th request logged. */
fhs_request fhs_get(fake_http_server *s, size_t i);
/* The value of header `name` (case-insensitive) in a logged request, into buf; NULL if absent. */
const char *fhs_header(const fhs_request *r, const char *name, char *buf, size_t size);

#endif
