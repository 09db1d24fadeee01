#include "fake_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static void serve_one(fake_http_server *s, int c)
{
  char buf[16384];
  size_t len = 0;
  char *end = NULL;
  while (len < sizeof buf - 1) {
    ssize_t n = recv(c, buf + len, sizeof buf - 1 - len, 0);
    if (n <= 0)
      return;
    len += (size_t)n;
    buf[len] = '\0';
    if ((end = strstr(buf, "\r\n\r\n")))
      break;
  }
  if (!end)
    return;
  size_t head = (size_t)(end - buf) + 4;
  size_t clen = 0;
  for (const char *l = strstr(buf, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n"))
    if (strncasecmp(l + 2, "content-length:", 15) == 0)
      clen = (size_t)strtoul(l + 17, NULL, 10);
  while (len < head + clen && len < sizeof buf - 1) {
    ssize_t n = recv(c, buf + len, sizeof buf - 1 - len, 0);
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  buf[len] = '\0';

  fhs_request req;
  memset(&req, 0, sizeof req);
  sscanf(buf, "%15s %1023s", req.method, req.target);
  const char *h = strstr(buf, "\r\n");
  size_t o = 0;
  for (h = h ? h + 2 : end; h < end && o < sizeof req.headers - 2;) {
    const char *e = strstr(h, "\r\n");
    size_t n = (size_t)(e - h);
    if (o + n + 2 >= sizeof req.headers)
      break;
    memcpy(req.headers + o, h, n);
    o += n;
    req.headers[o++] = '\n';
    h = e + 2;
  }
  size_t blen = len - head < sizeof req.body - 1 ? len - head : sizeof req.body - 1;
  memcpy(req.body, buf + head, blen);

  fhs_response resp;
  memset(&resp, 0, sizeof resp);
  resp.status = 404;
  pthread_mutex_lock(&s->lock);
  if (s->nlog < FHS_MAX_LOG)
    s->log[s->nlog++] = req;
  s->handler(s->ctx, &req, &resp);
  pthread_mutex_unlock(&s->lock);

  char out[16384];
  int n = snprintf(out, sizeof out, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n%s",
                   resp.status, strlen(resp.body), resp.headers, resp.body);
  if (n > 0) {
    size_t sent = 0;
    while (sent < (size_t)n) {
      ssize_t w = send(c, out + sent, (size_t)n - sent, MSG_NOSIGNAL);
      if (w <= 0)
        break;
      sent += (size_t)w;
    }
  }
}

static void *run(void *p)
{
  fake_http_server *s = p;
  for (;;) {
    pthread_mutex_lock(&s->lock);
    int stop = s->stop;
    pthread_mutex_unlock(&s->lock);
    if (stop)
      break;
    struct pollfd pfd = { s->fd, POLLIN, 0 };
    if (poll(&pfd, 1, 20) <= 0)
      continue;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
      continue;
    serve_one(s, c);
    shutdown(c, SHUT_WR);
    close(c);
  }
  return NULL;
}

int fhs_start(fake_http_server *s, fhs_handler handler, void *ctx)
{
  memset(s, 0, sizeof *s);
  s->handler = handler;
  s->ctx = ctx;
  pthread_mutex_init(&s->lock, NULL);
  s->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (s->fd < 0)
    return -1;
  int one = 1;
  setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (bind(s->fd, (struct sockaddr *)&a, sizeof a) || listen(s->fd, 16) ||
      getsockname(s->fd, (struct sockaddr *)&a, &al)) {
    close(s->fd);
    return -1;
  }
  s->port = ntohs(a.sin_port);
  snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
  if (pthread_create(&s->thread, NULL, run, s)) {
    close(s->fd);
    return -1;
  }
  return 0;
}

void fhs_stop(fake_http_server *s)
{
  pthread_mutex_lock(&s->lock);
  s->stop = 1;
  pthread_mutex_unlock(&s->lock);
  pthread_join(s->thread, NULL);
  close(s->fd);
  pthread_mutex_destroy(&s->lock);
}

size_t fhs_count(fake_http_server *s)
{
  pthread_mutex_lock(&s->lock);
  size_t n = s->nlog;
  pthread_mutex_unlock(&s->lock);
  return n;
}

fhs_request fhs_get(fake_http_server *s, size_t i)
{
  pthread_mutex_lock(&s->lock);
  fhs_request r = s->log[i];
  pthread_mutex_unlock(&s->lock);
  return r;
}

const char *fhs_header(const fhs_request *r, const char *name, char *buf, size_t size)
{
  size_t nl = strlen(name);
  for (const char *p = r->headers; *p;) {
    const char *e = strchr(p, '\n');
    if (!e)
      break;
    if ((size_t)(e - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (*v == ' ')
        v++;
      snprintf(buf, size, "%.*s", (int)(e - v), v);
      return buf;
    }
    p = e + 1;
  }
  return NULL;
}
