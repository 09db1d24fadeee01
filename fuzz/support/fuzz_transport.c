#include "fuzz_transport.h"

#include "meter/errors.h"

#include <stdlib.h>
#include <string.h>

static const char SEP[] = "\n@@\n";

void fuzz_transport_load(fuzz_transport *t, const uint8_t *data, size_t size)
{
  const char *p = (const char *)data, *end = p + size;
  t->count = t->next = t->requests = 0;
  while (t->count < FUZZ_MAX_ANSWERS) {
    const char *s = NULL;
    for (const char *q = p; q + 4 <= end; q++)
      if (memcmp(q, SEP, 4) == 0) {
        s = q;
        break;
      }
    t->answers[t->count].text = p;
    t->answers[t->count].len = (size_t)((s ? s : end) - p);
    t->count++;
    if (!s)
      break;
    p = s + 4;
  }
}

static const char *line_end(const char *p, const char *end)
{
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  return nl ? nl : end;
}

static void check_request(const mtr_http_request *req)
{
  const char *url = mtr_buf_cstr(&req->url);
  for (const unsigned char *u = (const unsigned char *)url; *u; u++)
    if (*u <= ' ' || *u == 0x7f)
      abort(); /* an unencoded space or control character reached the URL */
  for (size_t i = 0; i < req->headers.count; i++)
    for (const unsigned char *v = (const unsigned char *)req->headers.items[i].value; *v; v++)
      if ((*v < ' ' && *v != '\t') || *v == 0x7f)
        abort(); /* header injection */
}

static int fz_send(mtr_transport *base, const mtr_http_request *req, mtr_http_response *resp)
{
  fuzz_transport *t = (fuzz_transport *)base;
  t->requests++;
  if (t->check_requests)
    check_request(req);
  if (t->next >= t->count) {
    resp->net_error = MTR_NET_CONNECT;
    strcpy(resp->net_message, "fuzz: script exhausted");
    return METER_OK;
  }
  const fuzz_answer *a = &t->answers[t->next++];
  const char *p = a->text, *end = a->text + a->len;
  const char *le = line_end(p, end);
  if (le > p && *p == '!') {
    char k = le - p > 1 ? p[1] : 'c';
    resp->net_error = k == 't' ? MTR_NET_TIMEOUT : k == 'r' ? MTR_NET_RESET
                    : k == 's' ? MTR_NET_TLS : k == 'l' ? MTR_NET_TOO_LARGE
                    : k == 'o' ? MTR_NET_OTHER : MTR_NET_CONNECT;
    resp->maybe_sent = k == 't' || k == 'r';
    strcpy(resp->net_message, "fuzz: network failure");
    return METER_OK;
  }
  long status = 0;
  for (const char *q = p; q < le && q - p < 4 && *q >= '0' && *q <= '9'; q++)
    status = status * 10 + (*q - '0');
  resp->status = status;
  p = le < end ? le + 1 : end;
  /* headers until an empty line */
  while (p < end) {
    le = line_end(p, end);
    size_t len = (size_t)(le - p);
    if (len && p[len - 1] == '\r')
      len--;
    if (len == 0) {
      p = le < end ? le + 1 : end;
      break;
    }
    const char *colon = memchr(p, ':', len);
    if (colon && colon > p) {
      char name[128];
      size_t nlen = (size_t)(colon - p);
      if (nlen >= sizeof name)
        nlen = sizeof name - 1;
      for (size_t i = 0; i < nlen; i++)
        name[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
      name[nlen] = '\0';
      const char *v = colon + 1, *ve = p + len;
      while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
      if (mtr_headers_addn(&resp->headers, name, nlen, v, (size_t)(ve - v)) != METER_OK)
        return METER_ENOMEM;
    }
    p = le < end ? le + 1 : end;
  }
  if (p < end && mtr_buf_put(&resp->body, p, (size_t)(end - p)) != 0)
    return METER_ENOMEM;
  return METER_OK;
}

static void fz_destroy(mtr_transport *base)
{
  (void)base; /* static in the harness */
}

void fuzz_transport_init(fuzz_transport *t)
{
  memset(t, 0, sizeof *t);
  t->base.send = fz_send;
  t->base.destroy = fz_destroy;
  t->check_requests = 1;
}
