/* botocore as an oracle: signs requests with its SigV4Auth (through
 * botocore_sigv4.py) so tests can require identical Authorization headers.
 * botocore is a test dependency (Debian python3-botocore): when it cannot be
 * imported the calling test fails, it does not skip. */
#ifndef BOTOCORE_ORACLE_H
#define BOTOCORE_ORACLE_H

#include <stddef.h>

typedef struct oracle_req {
  const char *url;
  const char *region;
  const char *service;
  const char *amz_date;          /* yyyymmddThhmmssZ */
  const char *akid, *secret, *token;  /* token may be NULL */
  const char *content_type;
  const char *target;            /* X-Amz-Target */
  const char *body;
  size_t body_len;
} oracle_req;

#define ORACLE_AUTH_MAX 512

/* Signs every request; auth[i] receives botocore's Authorization header and
 * token[i] its X-Amz-Security-Token ("-" if none). Fails the test if botocore
 * is missing or answers fewer lines. Returns botocore's version string. */
const char *botocore_sign_all(const oracle_req *reqs, size_t n, char (*auth)[ORACLE_AUTH_MAX],
                              char (*token)[ORACLE_AUTH_MAX]);

#endif
