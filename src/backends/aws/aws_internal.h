/* The AWS Marketplace Metering back end, shared between its files:
 *
 *   aws.c           the ops table: settings, create/destroy, batch key,
 *                   aggregation; region, endpoint and credential resolution
 *   validate.c      the service model's constraints and the windows, before I/O
 *   call.c          what every call shares: the request (headers, SigV4 with a
 *                   skew-corrected clock), error parsing and classification
 *   meter_usage.c   MeterUsage (one record per request, ClientToken)
 *   batch.c         BatchMeterUsage (<= 25 records, per-record results,
 *                   UnprocessedRecords resent)
 *   public.c        RegisterUsage, ResolveCustomer, the credential source
 *                   (include/meter/aws.h)
 *
 * The rule: a record with `customer` or `customer_account_id` is SaaS usage
 * and goes through BatchMeterUsage; a record with neither is AMI/container
 * usage and goes through MeterUsage.
 *
 * Wire reference: shared/docs/marketplaces.md §3-4 and the service model. */
#ifndef MTR_AWS_INTERNAL_H
#define MTR_AWS_INTERNAL_H

#include "auth/aws_credentials.h"
#include "auth/aws_region.h"
#include "auth/sigv4.h"
#include "backends/backend.h"
#include "json/json.h"
#include "meter/aws.h"

#define AWS_SIGNING_NAME "aws-marketplace"
#define AWS_TARGET_PREFIX "AWSMPMeteringService."
#define AWS_CONTENT_TYPE "application/x-amz-json-1.1"
#define AWS_BATCH_LIMIT 25
#define AWS_MAX_QUANTITY INT64_C(2147483647)
#define AWS_DEFAULT_SANDBOX_REGION "us-east-1"

typedef struct aws_backend {
  mtr_backend base;
  mtr_aws_sysenv sys;           /* the process environment (a table in tests) */
  mtr_aws_chain chain;          /* credentials */
  mtr_sigv4_key_cache keys;
  char *region_setting;
  char *profile;
  char *product_code;           /* default ProductCode */
  char *endpoint_override;      /* options.endpoint */
  int fips, dualstack;
  int64_t meter_window_us;      /* MeterUsage: refuse usage older than this */
  int64_t batch_window_us;      /* BatchMeterUsage: same */
  int64_t grace_us;             /* previous-month records accepted this long into the month */

  mtr_mutex lock;               /* guards everything below */
  int resolved;                 /* region and endpoint known */
  mtr_aws_region region;
  char endpoint[256];           /* base URL, no trailing slash */
  int64_t clock_offset_us;      /* server time - our time, from a skew error */
} aws_backend;

/* ---- aws.c ---- */
/* Region and endpoint, resolved once (may read files and ask IMDS). */
int aws_resolve(aws_backend *be, meter_error *err);
/* The record's product code: its own, else the `product_code` setting. */
const char *aws_product(const aws_backend *be, const meter_record *rec);
/* 1 when the record goes through BatchMeterUsage (customer or account id). */
int aws_is_batch(const meter_record *rec);
/* Our clock corrected by the offset learnt from the marketplace. */
int64_t aws_now_us(aws_backend *be);
/* Test seam: read the environment through `sys` instead of getenv. */
void aws_backend_set_sysenv(mtr_backend *be, const mtr_aws_sysenv *sys);

/* ---- validate.c ---- */
int aws_validate(mtr_backend *be, const meter_record *rec, mtr_result *res);
/* The pieces, for tests. */
int aws_product_code_valid(const char *s);
int aws_license_arn_valid(const char *s);
int aws_tag_text_valid(const char *s, size_t max_len);

/* ---- call.c ---- */
typedef struct aws_error {
  char code[128];        /* "ThrottlingException" (namespace and suffix stripped) */
  char message[256];
} aws_error;

/* One marketplace call: what build/handle share across attempts. */
typedef struct aws_call {
  aws_backend *be;
  const char *op;               /* "MeterUsage" */
  unsigned attempt;
  unsigned cred_generation;
  int skew_corrected;           /* at most once per call */
  int creds_refreshed;          /* at most once per call */
  int expired_token_is_input;   /* ResolveCustomer: ExpiredTokenException is the
                                   registration token's, not the credentials' */
  char request_id[128];
} aws_call;

void aws_call_init(aws_call *call, aws_backend *be, const char *op);

/* Fills req: POST <endpoint>/, Content-Type, X-Amz-Target, the body (taken
 * over from *body), signed with the current credentials at aws_now_us. */
int aws_call_build(aws_call *call, mtr_http_request *req, mtr_buf *body, unsigned attempt,
                   meter_error *err);

/* Reads the error code and message of an answer (x-amzn-ErrorType, __type,
 * code; message / Message). Empty code for a success. */
void aws_parse_error(const mtr_http_response *resp, aws_error *out);

typedef enum aws_answer {
  AWS_ANSWER_OK,        /* 2xx: decode it */
  AWS_ANSWER_REJECTED,  /* a client error: the records get REJECTED with e->code */
  AWS_ANSWER_AUTH,      /* credentials refused: err is METER_EAUTH */
  AWS_ANSWER_AGAIN      /* *verdict says how to resend (retry, throttled, refresh) */
} aws_answer;

/* Classifies an answer. Clock skew: learns the server's clock from its Date
 * header and asks for an immediate resend (once per call); an expired
 * credential token: drops the cached credentials and resends (once). */
aws_answer aws_call_classify(aws_call *call, const mtr_http_response *resp, aws_error *e,
                             mtr_verdict *verdict, meter_error *err);

/* True for the codes of a throttling answer. */
int aws_is_throttling(const char *code);

/* ---- meter_usage.c / batch.c ---- */
int aws_send_meter_usage(aws_backend *be, const mtr_batch *batch, meter_error *err);
int aws_send_batch(aws_backend *be, const mtr_batch *batch, meter_error *err);
/* The request bodies, for golden tests: records[idx[0..n)]. */
int aws_encode_meter_usage(aws_backend *be, const meter_record *rec, mtr_buf *out);
int aws_encode_batch(aws_backend *be, meter_record *const *records, const size_t *idx, size_t n,
                     mtr_buf *out);
/* UsageAllocations of a record (NULL when it has none). */
cJSON *aws_encode_allocations(const meter_record *rec);

#endif
