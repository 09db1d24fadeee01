#include "fake_transport.h"

#include "core/alloc.h"
#include "meter/errors.h"

#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s)
{
  return s ? strdup(s) : NULL;
}

static int fake_send(mtr_transport *base, const mtr_http_request *req, mtr_http_response *resp)
{
  fake_transport *t = (fake_transport *)base;
  mtr_mutex_lock(&t->lock);
  if (t->nsent < FAKE_MAX) {
    fake_sent *s = &t->sent[t->nsent++];
    s->method = req->method;
    s->url = strdup(mtr_buf_cstr(&req->url));
    s->body = strdup(mtr_buf_cstr(&req->body));
    s->timeout_ms = req->timeout_ms;
    memset(&s->headers, 0, sizeof s->headers);
    for (size_t i = 0; i < req->headers.count; i++)
      mtr_headers_add(&s->headers, req->headers.items[i].name, req->headers.items[i].value);
  }
  const fake_reply *r = t->next < t->nreplies ? &t->replies[t->next++] : &t->fallback;
  mtr_mutex_unlock(&t->lock);

  resp->net_error = r->net_error;
  resp->maybe_sent = r->maybe_sent;
  resp->status = r->net_error ? 0 : r->status;
  if (r->net_error)
    strcpy(resp->net_message, "scripted network failure");
  if (r->headers) {
    const char *p = r->headers;
    while (*p) {
      const char *nl = strchr(p, '\n');
      size_t len = nl ? (size_t)(nl - p) : strlen(p);
      const char *colon = memchr(p, ':', len);
      if (colon) {
        const char *v = colon + 1;
        while (*v == ' ')
          v++;
        char name[128];
        size_t nlen = (size_t)(colon - p);
        for (size_t i = 0; i < nlen && i < sizeof name - 1; i++)
          name[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
        name[nlen < sizeof name ? nlen : sizeof name - 1] = '\0';
        mtr_headers_addn(&resp->headers, name, strlen(name), v, (size_t)(p + len - v));
      }
      p += len + (nl ? 1 : 0);
    }
  }
  if (r->body)
    mtr_buf_puts(&resp->body, r->body);
  return METER_OK;
}

static void fake_destroy(mtr_transport *base)
{
  (void)base; /* owned by the test */
}

void fake_transport_init(fake_transport *t)
{
  memset(t, 0, sizeof *t);
  t->base.send = fake_send;
  t->base.destroy = fake_destroy;
  mtr_mutex_init(&t->lock);
  t->fallback.status = 599;
  t->fallback.body = strdup("{\"message\":\"fake transport: script exhausted\"}");
}

static void clear_all(fake_transport *t)
{
  for (size_t i = 0; i < t->nreplies; i++) {
    free(t->replies[i].headers);
    free(t->replies[i].body);
  }
  for (size_t i = 0; i < t->nsent; i++) {
    free(t->sent[i].url);
    free(t->sent[i].body);
    mtr_headers_dispose(&t->sent[i].headers);
  }
  t->nreplies = t->next = t->nsent = 0;
}

void fake_reset(fake_transport *t)
{
  mtr_mutex_lock(&t->lock);
  clear_all(t);
  mtr_mutex_unlock(&t->lock);
}

void fake_transport_dispose(fake_transport *t)
{
  clear_all(t);
  free(t->fallback.body);
  mtr_mutex_destroy(&t->lock);
}

void fake_push(fake_transport *t, long status, const char *headers, const char *body)
{
  mtr_mutex_lock(&t->lock);
  if (t->nreplies < FAKE_MAX) {
    fake_reply *r = &t->replies[t->nreplies++];
    memset(r, 0, sizeof *r);
    r->status = status;
    r->headers = dup_or_null(headers);
    r->body = dup_or_null(body);
  }
  mtr_mutex_unlock(&t->lock);
}

void fake_push_net(fake_transport *t, mtr_net_error e, int maybe_sent)
{
  mtr_mutex_lock(&t->lock);
  if (t->nreplies < FAKE_MAX) {
    fake_reply *r = &t->replies[t->nreplies++];
    memset(r, 0, sizeof *r);
    r->net_error = e;
    r->maybe_sent = maybe_sent;
  }
  mtr_mutex_unlock(&t->lock);
}

const char *fake_sent_header(const fake_transport *t, size_t i, const char *name)
{
  return i < t->nsent ? mtr_headers_get(&t->sent[i].headers, name) : NULL;
}
