#include "http.h"

#include "core/alloc.h"
#include "core/str.h"
#include "meter/errors.h"

#include <ctype.h>
#include <string.h>

int mtr_headers_addn(mtr_headers *h, const char *name, size_t name_len, const char *value,
                     size_t value_len)
{
  if (h->count == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 8;
    mtr_header *items = mtr_realloc(h->items, cap * sizeof *items);
    if (!items)
      return METER_ENOMEM;
    h->items = items;
    h->cap = cap;
  }
  char *n = mtr_strndup(name, name_len), *v = mtr_strndup(value, value_len);
  if (!n || !v) {
    mtr_free(n);
    mtr_free(v);
    return METER_ENOMEM;
  }
  h->items[h->count].name = n;
  h->items[h->count].value = v;
  h->count++;
  return METER_OK;
}

int mtr_headers_add(mtr_headers *h, const char *name, const char *value)
{
  return mtr_headers_addn(h, name, strlen(name), value, strlen(value));
}

void mtr_headers_remove(mtr_headers *h, const char *name)
{
  size_t o = 0;
  for (size_t i = 0; i < h->count; i++) {
    if (mtr_streq_nocase(h->items[i].name, name)) {
      mtr_free(h->items[i].name);
      mtr_free_secret_str(h->items[i].value);
    } else {
      h->items[o++] = h->items[i];
    }
  }
  h->count = o;
}

int mtr_headers_set(mtr_headers *h, const char *name, const char *value)
{
  mtr_headers_remove(h, name);
  return mtr_headers_add(h, name, value);
}

const char *mtr_headers_get(const mtr_headers *h, const char *name)
{
  for (size_t i = 0; i < h->count; i++)
    if (mtr_streq_nocase(h->items[i].name, name))
      return h->items[i].value;
  return NULL;
}

void mtr_headers_clear(mtr_headers *h)
{
  for (size_t i = 0; i < h->count; i++) {
    mtr_free(h->items[i].name);
    /* Header values may be credentials (Authorization, security token). */
    mtr_free_secret_str(h->items[i].value);
  }
  h->count = 0;
}

void mtr_headers_dispose(mtr_headers *h)
{
  mtr_headers_clear(h);
  mtr_free(h->items);
  h->items = NULL;
  h->cap = 0;
}

void mtr_http_request_init(mtr_http_request *req)
{
  memset(req, 0, sizeof *req);
  req->method = "GET";
}

void mtr_http_request_reset(mtr_http_request *req)
{
  req->method = "GET";
  mtr_buf_clear(&req->url);
  mtr_headers_clear(&req->headers);
  if (req->body_is_secret && req->body.ptr)
    memset(req->body.ptr, 0, req->body.cap);
  mtr_buf_clear(&req->body);
  req->timeout_ms = req->connect_timeout_ms = 0;
  req->body_is_secret = 0;
  req->not_idempotent = 0;
}

void mtr_http_request_dispose(mtr_http_request *req)
{
  mtr_buf_dispose(&req->url);
  mtr_headers_dispose(&req->headers);
  if (req->body_is_secret)
    mtr_buf_dispose_secret(&req->body);
  else
    mtr_buf_dispose(&req->body);
}

void mtr_http_response_init(mtr_http_response *resp)
{
  memset(resp, 0, sizeof *resp);
}

void mtr_http_response_reset(mtr_http_response *resp)
{
  resp->net_error = MTR_NET_OK;
  resp->maybe_sent = 0;
  resp->status = 0;
  mtr_headers_clear(&resp->headers);
  /* Answers can carry tokens and credentials (auth, IMDS): wipe them. */
  if (resp->body.ptr)
    memset(resp->body.ptr, 0, resp->body.cap);
  mtr_buf_clear(&resp->body);
  resp->net_message[0] = '\0';
}

void mtr_http_response_dispose(mtr_http_response *resp)
{
  mtr_headers_dispose(&resp->headers);
  mtr_buf_dispose_secret(&resp->body);
}

const char *mtr_http_response_header(const mtr_http_response *resp, const char *name)
{
  return mtr_headers_get(&resp->headers, name);
}

int mtr_url_join(mtr_buf *out, const char *base, const char *path)
{
  size_t bl = strlen(base);
  while (bl > 0 && base[bl - 1] == '/')
    bl--;
  mtr_buf_put(out, base, bl);
  if (path[0] != '/')
    mtr_buf_putc(out, '/');
  mtr_buf_puts(out, path);
  return mtr_buf_status(out);
}
