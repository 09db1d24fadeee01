/* One small HTTP call of the credential and region providers (STS, ECS,
 * IMDS), through mtr_exchange with the provider's own short policy: a few
 * attempts, short timeouts, no shared retry budget (a client whose
 * marketplace budget is spent must still be able to fetch credentials). */
#ifndef MTR_AWS_FETCH_H
#define MTR_AWS_FETCH_H

#include "core/buf.h"
#include "http/exchange.h"

typedef struct mtr_aws_fetch_req {
  const char *what;          /* "IMDS token", for logs and messages */
  const char *method;        /* static string */
  const char *url;
  const mtr_headers *headers;   /* may be NULL */
  const char *body;          /* may be NULL */
  size_t body_len;
  int body_is_secret;
  long timeout_ms;           /* per attempt (connect and whole request) */
  unsigned attempts;         /* including the first */
} mtr_aws_fetch_req;

typedef struct mtr_aws_fetch_resp {
  long status;               /* HTTP status; 0 when no answer came */
  mtr_net_error net_error;   /* why no answer came */
  mtr_buf body;              /* wiped on dispose: it may hold credentials */
  char date[64];             /* the Date header, if any */
} mtr_aws_fetch_resp;

void mtr_aws_fetch_resp_dispose(mtr_aws_fetch_resp *r);

/* Sends the request, retrying 5xx, 429 and network failures within the
 * policy. METER_OK when an HTTP answer arrived (any status: the caller
 * judges it); a network failure after the last attempt returns
 * METER_ETRANSPORT / METER_ETIMEOUT with resp->net_error set. */
int mtr_aws_fetch(const mtr_env *env, const mtr_aws_fetch_req *req, mtr_aws_fetch_resp *resp,
                  meter_error *err);

#endif
