#define _GNU_SOURCE 1
/* The libcurl transport against a tiny loopback server in a thread: header
 * capture, keep-alive reuse, the response cap, and each network failure class. */
#include "test_util.h"

#include "http/http.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef enum mode { REPLY_OK, REPLY_BIG, REPLY_CLOSE_AFTER_READ, REPLY_SLOW } mode;

typedef struct server {
  int fd;
  int port;
  mode mode;
  atomic_int connections;
  atomic_int requests;
  pthread_mutex_t lock;      /* guards last_request */
  char last_request[4096];
  pthread_t thread;
  atomic_int stop;
} server;

static int read_request(int c, char *buf, size_t size)
{
  size_t n = 0;
  while (n + 1 < size) {
    ssize_t k = read(c, buf + n, size - 1 - n);
    if (k <= 0)
      return -1;
    n += (size_t)k;
    buf[n] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (end) {
      const char *cl = strcasestr(buf, "content-length:");
      size_t want = cl ? (size_t)atoi(cl + 15) : 0;
      if (n >= (size_t)(end + 4 - buf) + want)
        return 0;
    }
  }
  return -1;
}

static void *serve(void *p)
{
  server *s = p;
  while (!s->stop) {
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
      break;
    s->connections++;
    char buf[4096];
    while (read_request(c, buf, sizeof buf) == 0) {
      pthread_mutex_lock(&s->lock);
      memcpy(s->last_request, buf, sizeof buf);
      pthread_mutex_unlock(&s->lock);
      s->requests++;
      if (s->mode == REPLY_CLOSE_AFTER_READ)
        break;
      if (s->mode == REPLY_SLOW)
        usleep(600 * 1000);
      if (s->mode == REPLY_BIG) {
        const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
        write(c, h, strlen(h));
        static char big[100000];
        memset(big, 'x', sizeof big);
        write(c, big, sizeof big);
        continue;
      }
      const char *r = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\n"
                      "X-Amzn-RequestId: req-1\r\nContent-Length: 2\r\n\r\n{}";
      if (write(c, r, strlen(r)) < 0)
        break;
    }
    close(c);
  }
  return NULL;
}

static void start(server *s, mode m)
{
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->lock, NULL);
  s->mode = m;
  s->fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(s->fd, (struct sockaddr *)&a, &len);
  s->port = ntohs(a.sin_port);
  listen(s->fd, 16);
  pthread_create(&s->thread, NULL, serve, s);
}

static void stop(server *s)
{
  s->stop = 1;
  shutdown(s->fd, SHUT_RDWR);
  close(s->fd);
  pthread_join(s->thread, NULL);
}

static mtr_transport *transport(size_t cap, long timeout_ms)
{
  mtr_transport_options o = { 1000, timeout_ms, 0, NULL, "libmeter-test/1", cap };
  mtr_transport *t;
  assert_int_equal(mtr_curl_transport_new(&t, &o), METER_OK);
  return t;
}

static void request(mtr_http_request *req, int port, const char *method, const char *body)
{
  mtr_http_request_init(req);
  req->method = method;
  mtr_buf_printf(&req->url, "http://127.0.0.1:%d/v1/x?y=1", port);
  mtr_headers_set(&req->headers, "Content-Type", "application/json");
  mtr_headers_set(&req->headers, "X-Test", "yes");
  if (body)
    mtr_buf_puts(&req->body, body);
}

static void test_headers_and_keepalive(void **state)
{
  (void)state;
  server s;
  start(&s, REPLY_OK);
  mtr_transport *t = transport(1 << 20, 5000);
  for (int i = 0; i < 5; i++) {
    mtr_http_request req;
    mtr_http_response resp;
    request(&req, s.port, i % 2 ? "PUT" : "POST", "{\"a\":1}");
    mtr_http_response_init(&resp);
    assert_int_equal(mtr_transport_send(t, &req, &resp), METER_OK);
    assert_int_equal(resp.net_error, MTR_NET_OK);
    assert_int_equal(resp.status, 503);
    assert_string_equal(mtr_http_response_header(&resp, "retry-after"), "2");
    assert_string_equal(mtr_http_response_header(&resp, "x-amzn-requestid"), "req-1");
    assert_string_equal(mtr_buf_cstr(&resp.body), "{}");
    mtr_http_request_dispose(&req);
    mtr_http_response_dispose(&resp);
  }
  assert_int_equal(s.requests, 5);
  assert_int_equal(s.connections, 1); /* one keep-alive connection reused */
  t->destroy(t);
  stop(&s);
  assert_non_null(strstr(s.last_request, "X-Test: yes"));
  assert_non_null(strstr(s.last_request, "User-Agent: libmeter-test/1"));
  assert_null(strstr(s.last_request, "Expect:"));
}

static void test_response_cap(void **state)
{
  (void)state;
  server s;
  start(&s, REPLY_BIG);
  mtr_transport *t = transport(1000, 5000);
  mtr_http_request req;
  mtr_http_response resp;
  request(&req, s.port, "GET", NULL);
  mtr_http_response_init(&resp);
  assert_int_equal(mtr_transport_send(t, &req, &resp), METER_OK);
  assert_int_equal(resp.net_error, MTR_NET_TOO_LARGE);
  assert_true(resp.body.len <= 1000);
  mtr_http_request_dispose(&req);
  mtr_http_response_dispose(&resp);
  t->destroy(t);
  stop(&s);
}

static void test_failure_classes(void **state)
{
  (void)state;
  mtr_transport *t = transport(1 << 20, 300);
  mtr_http_request req;
  mtr_http_response resp;

  /* Nothing listens: never sent. */
  server s;
  start(&s, REPLY_OK);
  int dead_port = s.port;
  stop(&s);
  request(&req, dead_port, "POST", "{}");
  mtr_http_response_init(&resp);
  mtr_transport_send(t, &req, &resp);
  assert_int_equal(resp.net_error, MTR_NET_CONNECT);
  assert_false(resp.maybe_sent);
  mtr_http_request_dispose(&req);
  mtr_http_response_dispose(&resp);

  /* Server reads the request, then hangs up: it may have been applied. */
  start(&s, REPLY_CLOSE_AFTER_READ);
  request(&req, s.port, "POST", "{}");
  mtr_http_response_init(&resp);
  mtr_transport_send(t, &req, &resp);
  assert_int_equal(resp.net_error, MTR_NET_RESET);
  assert_true(resp.maybe_sent);
  mtr_http_request_dispose(&req);
  mtr_http_response_dispose(&resp);
  stop(&s);

  /* Slow answer beyond the timeout. */
  start(&s, REPLY_SLOW);
  request(&req, s.port, "POST", "{}");
  mtr_http_response_init(&resp);
  mtr_transport_send(t, &req, &resp);
  assert_int_equal(resp.net_error, MTR_NET_TIMEOUT);
  assert_true(resp.maybe_sent);
  mtr_http_request_dispose(&req);
  mtr_http_response_dispose(&resp);
  stop(&s);
  t->destroy(t);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_headers_and_keepalive),
    cmocka_unit_test(test_response_cap),
    cmocka_unit_test(test_failure_classes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
