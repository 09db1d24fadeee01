/* meter-sandbox, AWS Marketplace Metering rules: SigV4 verification and its
 * errors, error wire format, MeterUsage (hour rule, ClientToken, window,
 * DryRun, allocations, region), BatchMeterUsage (per-record results,
 * idempotent replays, window, customer rules, LicenseArn), ResolveCustomer,
 * RegisterUsage, and a request signed by botocore. */
#include "sbx_client.h"

#include "core/timefmt.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static sandbox_proc sp;

static int group_setup(void **state)
{
  (void)state;
  sbx_start(&sp, NULL);
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  sbx_stop(&sp);
  sbx_stop_others(NULL);
  return 0;
}

/* Stops the extra sandboxes of a test that failed before stopping them. */
static int cleanup(void **state)
{
  (void)state;
  sbx_stop_others(&sp);
  return 0;
}

static int reset(void **state)
{
  (void)state;
  assert_int_equal(sandbox_reset(&sp), 0);
  return 0;
}

static int ledger_size(void)
{
  cJSON *root;
  int n = cJSON_GetArraySize(ledger_of(&sp, "aws", &root));
  cJSON_Delete(root);
  return n;
}

/* The call failed with this HTTP status and error type, in AWS's format. */
static void expect_error(http_resp *r, long status, const char *type)
{
  assert_int_equal(r->status, status);
  const char *t = aws_error(r);
  if (!t || strcmp(t, type) != 0)
    fail_msg("expected %s, got %s (%s)", type, t ? t : "(none)", r->body);
  char h[256], rid[128];
  assert_int_equal(http_header(r, "x-amzn-ErrorType", h, sizeof h), 0);
  assert_int_equal(strncmp(h, type, strlen(type)), 0);
  assert_int_equal(h[strlen(type)], ':');
  assert_non_null(strstr(h, "http://internal.amazon.com/coral/"));
  assert_int_equal(http_header(r, "x-amzn-RequestId", rid, sizeof rid), 0);
  assert_int_equal(http_header(r, "Date", h, sizeof h), 0);
  assert_non_null(strchr(jstr(r->json, "__type"), '#'));
}

static void meter(const char *body, http_resp *r)
{
  aws_call(&sp, "MeterUsage", body, NULL, r);
}

static void meter_body(char *out, size_t size, long long ts, const char *dim, long q,
                       const char *extra)
{
  snprintf(out, size,
           "{\"ProductCode\":\"prod-1\",\"Timestamp\":%lld,\"UsageDimension\":\"%s\","
           "\"UsageQuantity\":%ld%s%s}",
           ts, dim, q, extra ? "," : "", extra ? extra : "");
}

/* ---- SigV4 ------------------------------------------------------------------------ */

static const char *const RESOLVE = "{\"RegistrationToken\":\"sandbox-registration-token\"}";

static void test_signed_request_accepted(void **state)
{
  (void)state;
  http_resp r;
  assert_int_equal(aws_call(&sp, "ResolveCustomer", RESOLVE, NULL, &r), 200);
  char rid[128], ct[128];
  assert_int_equal(http_header(&r, "x-amzn-RequestId", rid, sizeof rid), 0);
  assert_int_equal(http_header(&r, "Content-Type", ct, sizeof ct), 0);
  assert_string_equal(ct, "application/x-amz-json-1.1");
  http_resp_free(&r);
}

static void test_unsigned_request_missing_token(void **state)
{
  (void)state;
  http_resp r;
  http_call(&sp, "POST", "/",
            (const char *const[]){ "Content-Type: application/x-amz-json-1.1",
                                   "X-Amz-Target: AWSMPMeteringService.ResolveCustomer", NULL },
            RESOLVE, &r);
  expect_error(&r, 400, "MissingAuthenticationTokenException");
  http_resp_free(&r);
}

static void test_unknown_access_key(void **state)
{
  (void)state;
  aws_signer sg = { .access_key_id = "AKIDUNKNOWN", .secret = "sandbox+secret/KEY/EXAMPLE" };
  http_resp r;
  aws_call(&sp, "ResolveCustomer", RESOLVE, &sg, &r);
  expect_error(&r, 400, "UnrecognizedClientException");
  http_resp_free(&r);
}

static void test_wrong_secret_signature_mismatch(void **state)
{
  (void)state;
  aws_signer sg = { .secret = "not-the-secret" };
  http_resp r;
  aws_call(&sp, "ResolveCustomer", RESOLVE, &sg, &r);
  expect_error(&r, 400, "InvalidSignatureException");
  assert_non_null(strstr(jstr(r.json, "message"), "does not match"));
  http_resp_free(&r);
}

static void test_tampered_body_rejected(void **state)
{
  (void)state;
  /* signed for one body, sent with another: the payload hash differs */
  aws_signer sg = { .send_body = "{\"RegistrationToken\":\"another-token\"}" };
  http_resp r;
  aws_call(&sp, "ResolveCustomer", RESOLVE, &sg, &r);
  expect_error(&r, 400, "InvalidSignatureException");
  http_resp_free(&r);
}

static void test_wrong_service_scope(void **state)
{
  (void)state;
  aws_signer sg = { .service = "metering.marketplace" };
  http_resp r;
  aws_call(&sp, "ResolveCustomer", RESOLVE, &sg, &r);
  expect_error(&r, 400, "InvalidSignatureException");
  assert_non_null(strstr(jstr(r.json, "message"), "aws-marketplace"));
  http_resp_free(&r);
}

static void test_wrong_region_scope(void **state)
{
  (void)state;
  aws_signer sg = { .region = "eu-west-1" };
  http_resp r;
  aws_call(&sp, "ResolveCustomer", RESOLVE, &sg, &r);
  expect_error(&r, 400, "InvalidSignatureException");
  assert_non_null(strstr(jstr(r.json, "message"), "region"));
  http_resp_free(&r);
}

static void test_signature_expired(void **state)
{
  (void)state;
  aws_signer sg = { .skew_us = -6 * 60 * INT64_C(1000000) };
  http_resp r;
  aws_call(&sp, "ResolveCustomer", RESOLVE, &sg, &r);
  expect_error(&r, 400, "InvalidSignatureException");
  assert_non_null(strstr(jstr(r.json, "message"), "Signature expired"));
  http_resp_free(&r);
  sg.skew_us = 6 * 60 * INT64_C(1000000);
  aws_call(&sp, "ResolveCustomer", RESOLVE, &sg, &r);
  expect_error(&r, 400, "InvalidSignatureException");
  http_resp_free(&r);
  sg.skew_us = -4 * 60 * INT64_C(1000000); /* within 5 minutes: fine */
  assert_int_equal(aws_call(&sp, "ResolveCustomer", RESOLVE, &sg, &r), 200);
  http_resp_free(&r);
}

static void test_date_header_follows_sandbox_clock(void **state)
{
  (void)state;
  /* a client corrects its skew from Date: it must show the sandbox clock */
  sbx_advance_ms(&sp, 3600 * 1000);
  http_resp r;
  http_call(&sp, "POST", "/", NULL, RESOLVE, &r);
  char date[64];
  assert_int_equal(http_header(&r, "Date", date, sizeof date), 0);
  http_resp_free(&r);
  int64_t shown_us;
  assert_int_equal(mtr_http_date_parse(date, &shown_us), 0);
  long long shown = (long long)(shown_us / 1000000);
  long long wall = (long long)(wall_us() / 1000000);
  assert_true(shown - wall > 3500 && shown - wall < 3700);
}

static void test_session_token_signed_accepted(void **state)
{
  (void)state;
  aws_signer sg = { .session_token = "FwoGZXIvYXdzEXAMPLETOKEN" };
  http_resp r;
  assert_int_equal(aws_call(&sp, "ResolveCustomer", RESOLVE, &sg, &r), 200);
  http_resp_free(&r);
}

static void test_session_token_must_be_signed(void **state)
{
  (void)state;
  aws_signer sg = { .session_token = "FwoGZXIvYXdzEXAMPLETOKEN", .unsigned_token = 1 };
  http_resp r;
  aws_call(&sp, "ResolveCustomer", RESOLVE, &sg, &r);
  expect_error(&r, 400, "IncompleteSignatureException");
  http_resp_free(&r);
}

static void test_configured_session_token_enforced(void **state)
{
  (void)state;
  sandbox_proc other;
  sbx_start(&other, "--aws-session-token", "the-token", NULL);
  aws_signer sg = { .session_token = "other-token" };
  http_resp r;
  aws_call(&other, "ResolveCustomer", RESOLVE, &sg, &r);
  assert_int_equal(r.status, 400);
  assert_string_equal(aws_error(&r), "UnrecognizedClientException");
  http_resp_free(&r);
  sg.session_token = "the-token";
  assert_int_equal(aws_call(&other, "ResolveCustomer", RESOLVE, &sg, &r), 200);
  http_resp_free(&r);
  sbx_stop(&other);
}

static void test_unknown_operation(void **state)
{
  (void)state;
  http_resp r;
  aws_call(&sp, "DescribeEverything", "{}", NULL, &r);
  expect_error(&r, 400, "UnknownOperationException");
  http_resp_free(&r);
}

/* ---- MeterUsage ------------------------------------------------------------------- */

static void test_meter_usage_records_once(void **state)
{
  (void)state;
  long long h = sbx_hour_s(&sp) - 3600;
  char b[512];
  http_resp r1, r2;
  meter_body(b, sizeof b, h + 60, "cpu", 5, NULL);
  meter(b, &r1);
  assert_int_equal(r1.status, 200);
  assert_non_null(jstr(r1.json, "MeteringRecordId"));
  meter_body(b, sizeof b, h + 1800, "cpu", 5, NULL); /* same hour after truncation */
  meter(b, &r2);
  assert_int_equal(r2.status, 200);
  assert_string_equal(jstr(r1.json, "MeteringRecordId"), jstr(r2.json, "MeteringRecordId"));
  cJSON *root;
  cJSON *l = ledger_of(&sp, "aws", &root);
  assert_int_equal(cJSON_GetArraySize(l), 1);
  assert_string_equal(jstr(l, "0.operation"), "MeterUsage");
  assert_string_equal(jstr(l, "0.product"), "prod-1");
  assert_string_equal(jstr(l, "0.dimension"), "cpu");
  assert_true(jnum(l, "0.quantity") == 5);
  assert_string_equal(jstr(l, "0.record_id"), jstr(r1.json, "MeteringRecordId"));
  char hour[32];
  time_t ht = (time_t)h;
  struct tm tm;
  strftime(hour, sizeof hour, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&ht, &tm));
  assert_string_equal(jstr(l, "0.hour"), hour);
  assert_non_null(jstr(l, "0.customer"));
  cJSON_Delete(root);
  http_resp_free(&r1);
  http_resp_free(&r2);
}

static void test_meter_usage_different_quantity_duplicate(void **state)
{
  (void)state;
  long long h = sbx_hour_s(&sp) - 3600;
  char b[512];
  http_resp r;
  meter_body(b, sizeof b, h, "cpu", 5, NULL);
  meter(b, &r);
  assert_int_equal(r.status, 200);
  http_resp_free(&r);
  meter_body(b, sizeof b, h + 10, "cpu", 6, NULL);
  meter(b, &r);
  expect_error(&r, 400, "DuplicateRequestException");
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 1);
}

static void test_meter_usage_client_token(void **state)
{
  (void)state;
  long long h = sbx_hour_s(&sp) - 3600;
  char b[512];
  http_resp r1, r2, r3;
  meter_body(b, sizeof b, h, "cpu", 5, "\"ClientToken\":\"tok-1\"");
  meter(b, &r1);
  meter(b, &r2);
  assert_int_equal(r1.status, 200);
  assert_int_equal(r2.status, 200);
  assert_string_equal(jstr(r1.json, "MeteringRecordId"), jstr(r2.json, "MeteringRecordId"));
  meter_body(b, sizeof b, h, "mem", 5, "\"ClientToken\":\"tok-1\""); /* other parameters */
  meter(b, &r3);
  expect_error(&r3, 409, "IdempotencyConflictException");
  http_resp_free(&r1);
  http_resp_free(&r2);
  http_resp_free(&r3);
  assert_int_equal(ledger_size(), 1);
}

static void test_meter_usage_six_hour_window(void **state)
{
  (void)state;
  long long now = (long long)((wall_us() + sbx_offset_us(&sp)) / 1000000);
  char b[512];
  http_resp r;
  meter_body(b, sizeof b, now - 7 * 3600, "cpu", 1, NULL);
  meter(b, &r);
  expect_error(&r, 400, "TimestampOutOfBoundsException");
  http_resp_free(&r);
  meter_body(b, sizeof b, now + 3600, "cpu", 1, NULL);
  meter(b, &r);
  expect_error(&r, 400, "TimestampOutOfBoundsException");
  http_resp_free(&r);
  meter_body(b, sizeof b, now - 5 * 3600, "cpu", 1, NULL);
  meter(b, &r);
  assert_int_equal(r.status, 200);
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 1);
}

static void test_meter_usage_dry_run(void **state)
{
  (void)state;
  long long h = sbx_hour_s(&sp) - 3600;
  char b[512];
  http_resp r;
  meter_body(b, sizeof b, h, "cpu", 5, "\"DryRun\":true");
  meter(b, &r);
  expect_error(&r, 412, "DryRunOperation");
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 0);
  meter_body(b, sizeof b, h, "cpu", 6, NULL); /* the hour is still free */
  meter(b, &r);
  assert_int_equal(r.status, 200);
  http_resp_free(&r);
  meter_body(b, sizeof b, h - 7 * 3600, "cpu", 5, "\"DryRun\":true"); /* still validated */
  meter(b, &r);
  expect_error(&r, 400, "TimestampOutOfBoundsException");
  http_resp_free(&r);
}

static void test_meter_usage_allocations(void **state)
{
  (void)state;
  long long h = sbx_hour_s(&sp) - 3600;
  char b[1024];
  http_resp r;
  meter_body(b, sizeof b, h, "a", 5,
             "\"UsageAllocations\":[{\"AllocatedUsageQuantity\":2,\"Tags\":[{\"Key\":\"team\","
             "\"Value\":\"x\"}]},{\"AllocatedUsageQuantity\":2}]");
  meter(b, &r);
  expect_error(&r, 400, "InvalidUsageAllocationsException"); /* 2 + 2 != 5 */
  http_resp_free(&r);
  meter_body(b, sizeof b, h, "a", 4,
             "\"UsageAllocations\":[{\"AllocatedUsageQuantity\":2,\"Tags\":[{\"Key\":\"t\","
             "\"Value\":\"x\"}]},{\"AllocatedUsageQuantity\":2,\"Tags\":[{\"Key\":\"t\","
             "\"Value\":\"x\"}]}]");
  meter(b, &r);
  expect_error(&r, 400, "InvalidUsageAllocationsException"); /* same tag set twice */
  http_resp_free(&r);
  meter_body(b, sizeof b, h, "a", 1,
             "\"UsageAllocations\":[{\"AllocatedUsageQuantity\":1,\"Tags\":["
             "{\"Key\":\"a\",\"Value\":\"1\"},{\"Key\":\"b\",\"Value\":\"1\"},"
             "{\"Key\":\"c\",\"Value\":\"1\"},{\"Key\":\"d\",\"Value\":\"1\"},"
             "{\"Key\":\"e\",\"Value\":\"1\"},{\"Key\":\"f\",\"Value\":\"1\"}]}]");
  meter(b, &r);
  expect_error(&r, 400, "InvalidTagException"); /* more than 5 tags */
  http_resp_free(&r);
  meter_body(b, sizeof b, h, "a", 1,
             "\"UsageAllocations\":[{\"AllocatedUsageQuantity\":1,\"Tags\":["
             "{\"Key\":\"bad{key\",\"Value\":\"1\"}]}]");
  meter(b, &r);
  expect_error(&r, 400, "InvalidTagException"); /* pattern */
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 0);
  meter_body(b, sizeof b, h, "a", 4,
             "\"UsageAllocations\":[{\"AllocatedUsageQuantity\":3,\"Tags\":[{\"Key\":\"t\","
             "\"Value\":\"x\"}]},{\"AllocatedUsageQuantity\":1}]");
  meter(b, &r);
  assert_int_equal(r.status, 200);
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 1);
}

static void test_meter_usage_validation(void **state)
{
  (void)state;
  long long h = sbx_hour_s(&sp) - 3600;
  char b[512];
  http_resp r;
  snprintf(b, sizeof b, "{\"Timestamp\":%lld,\"UsageDimension\":\"cpu\"}", h);
  meter(b, &r);
  expect_error(&r, 400, "ValidationException");
  assert_non_null(strstr(jstr(r.json, "message"), "productCode"));
  http_resp_free(&r);
  snprintf(b, sizeof b,
           "{\"ProductCode\":\"p\",\"Timestamp\":%lld,\"UsageDimension\":\"cpu\","
           "\"UsageQuantity\":2147483648}",
           h);
  meter(b, &r);
  expect_error(&r, 400, "ValidationException");
  http_resp_free(&r);
  snprintf(b, sizeof b,
           "{\"ProductCode\":\"p\",\"Timestamp\":\"2024-01-01T00:00:00Z\",\"UsageDimension\":"
           "\"cpu\"}");
  meter(b, &r);
  expect_error(&r, 400, "SerializationException");
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 0);
}

static void test_meter_usage_region_mismatch(void **state)
{
  (void)state;
  sandbox_proc other;
  sbx_start(&other, "--aws-resource-region", "eu-west-1", NULL);
  long long h = sbx_hour_s(&other) - 3600;
  char b[512];
  meter_body(b, sizeof b, h, "cpu", 1, NULL);
  http_resp r;
  aws_call(&other, "MeterUsage", b, NULL, &r);
  assert_int_equal(r.status, 400);
  assert_string_equal(aws_error(&r), "InvalidEndpointRegionException");
  http_resp_free(&r);
  aws_call(&other, "RegisterUsage", "{\"ProductCode\":\"p\",\"PublicKeyVersion\":1}", NULL, &r);
  assert_int_equal(r.status, 400);
  assert_string_equal(aws_error(&r), "InvalidRegionException");
  http_resp_free(&r);
  sbx_stop(&other);
}

/* ---- BatchMeterUsage ----------------------------------------------------------------- */

static void batch(const char *records, const char *product, http_resp *r)
{
  char *b = malloc(strlen(records) + 256);
  if (product)
    sprintf(b, "{\"ProductCode\":\"%s\",\"UsageRecords\":[%s]}", product, records);
  else
    sprintf(b, "{\"UsageRecords\":[%s]}", records);
  aws_call(&sp, "BatchMeterUsage", b, NULL, r);
  free(b);
}

static void rec(char *out, size_t size, long long ts, const char *customer, const char *dim,
                long q)
{
  snprintf(out, size,
           "{\"Timestamp\":%lld,\"CustomerIdentifier\":\"%s\",\"Dimension\":\"%s\","
           "\"Quantity\":%ld}",
           ts, customer, dim, q);
}

static void test_batch_results_per_record(void **state)
{
  (void)state;
  long long h = sbx_hour_s(&sp) - 3600;
  char a[256], b[256], c[256], all[1024];
  rec(a, sizeof a, h, "c1", "users", 3);
  rec(b, sizeof b, h, "unsubscribed-c2", "users", 3);
  rec(c, sizeof c, h + 5, "c3", "users", 0);
  snprintf(all, sizeof all, "%s,%s,%s", a, b, c);
  http_resp r;
  batch(all, "prod-b", &r);
  assert_int_equal(r.status, 200);
  assert_string_equal(jstr(r.json, "Results.0.Status"), "Success");
  assert_non_null(jstr(r.json, "Results.0.MeteringRecordId"));
  assert_string_equal(jstr(r.json, "Results.0.UsageRecord.CustomerIdentifier"), "c1");
  assert_true(jnum(r.json, "Results.0.UsageRecord.Timestamp") == (double)h);
  assert_string_equal(jstr(r.json, "Results.1.Status"), "CustomerNotSubscribed");
  assert_null(jget(r.json, "Results.1.MeteringRecordId"));
  assert_string_equal(jstr(r.json, "Results.2.Status"), "Success");
  assert_int_equal(cJSON_GetArraySize(jget(r.json, "UnprocessedRecords")), 0);
  http_resp_free(&r);
  cJSON *root;
  cJSON *l = ledger_of(&sp, "aws", &root);
  assert_int_equal(cJSON_GetArraySize(l), 2);
  assert_string_equal(jstr(l, "0.operation"), "BatchMeterUsage");
  assert_string_equal(jstr(l, "0.customer"), "c1");
  assert_string_equal(jstr(l, "0.product"), "prod-b");
  cJSON_Delete(root);
}

static void test_batch_identical_replay_is_idempotent(void **state)
{
  (void)state;
  long long h = sbx_hour_s(&sp) - 3600;
  char a[256];
  rec(a, sizeof a, h + 120, "c1", "users", 3);
  http_resp r1, r2;
  batch(a, "prod-b", &r1);
  batch(a, "prod-b", &r2);
  assert_string_equal(jstr(r2.json, "Results.0.Status"), "Success");
  assert_string_equal(jstr(r1.json, "Results.0.MeteringRecordId"),
                      jstr(r2.json, "Results.0.MeteringRecordId"));
  http_resp_free(&r1);
  http_resp_free(&r2);
  assert_int_equal(ledger_size(), 1);
}

static void test_batch_duplicate_record(void **state)
{
  (void)state;
  long long h = sbx_hour_s(&sp) - 3600;
  char a[256];
  http_resp r;
  rec(a, sizeof a, h, "c1", "users", 3);
  batch(a, "prod-b", &r);
  http_resp_free(&r);
  rec(a, sizeof a, h + 60, "c1", "users", 4); /* same hour, other quantity */
  batch(a, "prod-b", &r);
  assert_int_equal(r.status, 200);
  assert_string_equal(jstr(r.json, "Results.0.Status"), "DuplicateRecord");
  http_resp_free(&r);
  cJSON *root;
  cJSON *l = ledger_of(&sp, "aws", &root);
  assert_int_equal(cJSON_GetArraySize(l), 1);
  assert_true(jnum(l, "0.quantity") == 3);
  cJSON_Delete(root);
}

static void test_batch_at_most_25(void **state)
{
  (void)state;
  long long h = sbx_hour_s(&sp) - 3600;
  char all[26 * 160] = "", one[160];
  size_t len25 = 0;
  for (int i = 0; i < 26; i++) {
    char cust[16];
    snprintf(cust, sizeof cust, "c%d", i);
    rec(one, sizeof one, h, cust, "users", 1);
    if (i == 25)
      len25 = strlen(all);
    if (i)
      strcat(all, ",");
    strcat(all, one);
  }
  http_resp r;
  batch(all, "prod-b", &r);
  expect_error(&r, 400, "ValidationException");
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 0);
  all[len25] = '\0'; /* the first 25 */
  batch(all, "prod-b", &r);
  assert_int_equal(r.status, 200);
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 25);
}

static void test_batch_window_rejects_whole_batch(void **state)
{
  (void)state;
  long long h = sbx_hour_s(&sp) - 3600;
  char a[256], b[256], all[600];
  rec(a, sizeof a, h, "c1", "users", 1);
  rec(b, sizeof b, h - 24 * 3600, "c2", "users", 1);
  snprintf(all, sizeof all, "%s,%s", a, b);
  http_resp r;
  batch(all, "prod-b", &r);
  expect_error(&r, 400, "TimestampOutOfBoundsException");
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 0);
  rec(b, sizeof b, h - 22 * 3600, "c2", "users", 1); /* within 24 h */
  snprintf(all, sizeof all, "%s,%s", a, b);
  batch(all, "prod-b", &r);
  assert_int_equal(r.status, 200);
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 2);
}

static void set_clock(long long target_s)
{
  char body[64];
  long long now = (long long)(wall_us() / 1000000);
  snprintf(body, sizeof body, "{\"offset_ms\":%lld}", (target_s - now) * 1000);
  http_resp r;
  assert_int_equal(http_call(&sp, "POST", "/_sandbox/clock", NULL, body, &r), 200);
  http_resp_free(&r);
}

static void test_batch_month_end_grace(void **state)
{
  (void)state;
  /* The sandbox clock on the 1st of next month at 05:00, then 07:00 UTC; the
   * record at 23:00 on the last day of the previous month (6 or 8 hours
   * old, well within 24 hours). */
  time_t t = (time_t)(wall_us() / 1000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  tm.tm_mon += 1;
  tm.tm_mday = 1;
  tm.tm_hour = 5;
  tm.tm_min = tm.tm_sec = 0;
  long long first_5am = (long long)timegm(&tm);
  long long record = first_5am - 6 * 3600;
  char a[256];
  http_resp r;
  set_clock(first_5am);
  rec(a, sizeof a, record, "c1", "users", 1);
  batch(a, "prod-b", &r);
  assert_int_equal(r.status, 200);
  http_resp_free(&r);
  set_clock(first_5am + 2 * 3600);
  rec(a, sizeof a, record, "c2", "users", 1);
  batch(a, "prod-b", &r);
  expect_error(&r, 400, "TimestampOutOfBoundsException");
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 1);
}

static void test_batch_customer_id_rules(void **state)
{
  (void)state;
  long long h = sbx_hour_s(&sp) - 3600;
  char a[512];
  http_resp r;
  snprintf(a, sizeof a,
           "{\"Timestamp\":%lld,\"CustomerIdentifier\":\"c1\",\"CustomerAWSAccountId\":"
           "\"111122223333\",\"Dimension\":\"users\",\"Quantity\":1}",
           h);
  batch(a, "prod-b", &r);
  expect_error(&r, 400, "ValidationException"); /* mutually exclusive */
  http_resp_free(&r);
  snprintf(a, sizeof a, "{\"Timestamp\":%lld,\"Dimension\":\"users\",\"Quantity\":1}", h);
  batch(a, "prod-b", &r);
  expect_error(&r, 400, "ValidationException"); /* neither */
  http_resp_free(&r);
  snprintf(a, sizeof a,
           "{\"Timestamp\":%lld,\"CustomerAWSAccountId\":\"12ab\",\"Dimension\":\"users\"}", h);
  batch(a, "prod-b", &r);
  expect_error(&r, 400, "ValidationException"); /* digits only */
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 0);
}

static void test_batch_license_arn_rules(void **state)
{
  (void)state;
  long long h = sbx_hour_s(&sp) - 3600;
  char a[512];
  http_resp r;
  /* no ProductCode, no LicenseArn: the product is unknown */
  snprintf(a, sizeof a,
           "{\"Timestamp\":%lld,\"CustomerAWSAccountId\":\"111122223333\",\"Dimension\":\"u\"}",
           h);
  batch(a, NULL, &r);
  expect_error(&r, 400, "ValidationException");
  http_resp_free(&r);
  /* LicenseArn of another account */
  snprintf(a, sizeof a,
           "{\"Timestamp\":%lld,\"CustomerAWSAccountId\":\"111122223333\",\"LicenseArn\":"
           "\"arn:aws:license-manager::999999999999:license/l-x\",\"Dimension\":\"u\"}",
           h);
  batch(a, NULL, &r);
  expect_error(&r, 400, "InvalidLicenseException");
  http_resp_free(&r);
  /* a malformed LicenseArn */
  snprintf(a, sizeof a,
           "{\"Timestamp\":%lld,\"CustomerAWSAccountId\":\"111122223333\",\"LicenseArn\":"
           "\"not-an-arn\",\"Dimension\":\"u\"}",
           h);
  batch(a, NULL, &r);
  expect_error(&r, 400, "ValidationException");
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 0);
  /* the new integration: CustomerAWSAccountId + LicenseArn, no ProductCode */
  snprintf(a, sizeof a,
           "{\"Timestamp\":%lld,\"CustomerAWSAccountId\":\"111122223333\",\"LicenseArn\":"
           "\"arn:aws:license-manager::111122223333:license/l-sandbox\",\"Dimension\":\"u\","
           "\"Quantity\":2}",
           h);
  batch(a, NULL, &r);
  assert_int_equal(r.status, 200);
  assert_string_equal(jstr(r.json, "Results.0.Status"), "Success");
  http_resp_free(&r);
  cJSON *root;
  cJSON *l = ledger_of(&sp, "aws", &root);
  assert_string_equal(jstr(l, "0.customer"), "111122223333");
  cJSON_Delete(root);
}

static void test_batch_allocations_checked(void **state)
{
  (void)state;
  long long h = sbx_hour_s(&sp) - 3600;
  char a[512];
  http_resp r;
  snprintf(a, sizeof a,
           "{\"Timestamp\":%lld,\"CustomerIdentifier\":\"c1\",\"Dimension\":\"u\",\"Quantity\":3,"
           "\"UsageAllocations\":[{\"AllocatedUsageQuantity\":1}]}",
           h);
  batch(a, "prod-b", &r);
  expect_error(&r, 400, "InvalidUsageAllocationsException");
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 0);
}

/* ---- ResolveCustomer, RegisterUsage ------------------------------------------------------ */

static void test_resolve_customer(void **state)
{
  (void)state;
  http_resp r;
  assert_int_equal(aws_call(&sp, "ResolveCustomer", RESOLVE, NULL, &r), 200);
  assert_string_equal(jstr(r.json, "CustomerIdentifier"), "sandbox-customer");
  assert_string_equal(jstr(r.json, "ProductCode"), "sandbox-product");
  assert_string_equal(jstr(r.json, "CustomerAWSAccountId"), "111122223333");
  assert_string_equal(jstr(r.json, "LicenseArn"),
                      "arn:aws:license-manager::111122223333:license/l-sandbox");
  http_resp_free(&r);
  aws_call(&sp, "ResolveCustomer", "{\"RegistrationToken\":\"expired-token\"}", NULL, &r);
  expect_error(&r, 400, "ExpiredTokenException");
  http_resp_free(&r);
  aws_call(&sp, "ResolveCustomer", "{\"RegistrationToken\":\"whatever\"}", NULL, &r);
  expect_error(&r, 400, "InvalidTokenException");
  http_resp_free(&r);
}

static void test_register_usage(void **state)
{
  (void)state;
  http_resp r;
  assert_int_equal(aws_call(&sp, "RegisterUsage",
                            "{\"ProductCode\":\"prod-c\",\"PublicKeyVersion\":1,\"Nonce\":\"n1\"}",
                            NULL, &r),
                   200);
  const char *sig = jstr(r.json, "Signature");
  assert_non_null(sig);
  const char *d1 = strchr(sig, '.');
  assert_non_null(d1);
  assert_non_null(strchr(d1 + 1, '.')); /* header.payload.signature */
  http_resp_free(&r);
  aws_call(&sp, "RegisterUsage", "{\"ProductCode\":\"prod-c\",\"PublicKeyVersion\":2}", NULL, &r);
  expect_error(&r, 400, "InvalidPublicKeyVersionException");
  http_resp_free(&r);
  aws_call(&sp, "RegisterUsage", "{\"ProductCode\":\"prod-c\",\"PublicKeyVersion\":0}", NULL, &r);
  expect_error(&r, 400, "ValidationException");
  http_resp_free(&r);
  aws_call(&sp, "RegisterUsage", "{\"ProductCode\":\"prod-c\"}", NULL, &r);
  expect_error(&r, 400, "ValidationException");
  http_resp_free(&r);
  assert_int_equal(ledger_size(), 0);
}

/* ---- botocore ------------------------------------------------------------------------------- */

static void test_botocore_signed_request_accepted(void **state)
{
  (void)state;
  char hour[32];
  snprintf(hour, sizeof hour, "%lld", sbx_hour_s(&sp) - 3600);
  int pipefd[2];
  assert_int_equal(pipe(pipefd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(pipefd[1], STDOUT_FILENO);
    close(pipefd[0]);
    close(pipefd[1]);
    execlp("python3", "python3", SBX_BOTOCORE_SCRIPT, sp.url, hour, (char *)NULL);
    _exit(127);
  }
  close(pipefd[1]);
  char out[256] = "";
  size_t len = 0;
  ssize_t n;
  while (len < sizeof out - 1 && (n = read(pipefd[0], out + len, sizeof out - 1 - len)) > 0)
    len += (size_t)n;
  out[len] = '\0';
  close(pipefd[0]);
  int status;
  waitpid(pid, &status, 0);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 77 || code == 127) {
    fprintf(stderr, "skipped: botocore (or python3) is not available\n");
    skip();
  }
  assert_int_equal(code, 0);
  cJSON *root;
  cJSON *l = ledger_of(&sp, "aws", &root);
  assert_int_equal(cJSON_GetArraySize(l), 1);
  assert_string_equal(jstr(l, "0.customer"), "boto-customer");
  assert_true(jnum(l, "0.quantity") == 7);
  out[strcspn(out, "\n")] = '\0';
  assert_string_equal(jstr(l, "0.record_id"), out);
  cJSON_Delete(root);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, reset, cleanup)
    T(test_signed_request_accepted),
    T(test_unsigned_request_missing_token),
    T(test_unknown_access_key),
    T(test_wrong_secret_signature_mismatch),
    T(test_tampered_body_rejected),
    T(test_wrong_service_scope),
    T(test_wrong_region_scope),
    T(test_signature_expired),
    T(test_date_header_follows_sandbox_clock),
    T(test_session_token_signed_accepted),
    T(test_session_token_must_be_signed),
    T(test_configured_session_token_enforced),
    T(test_unknown_operation),
    T(test_meter_usage_records_once),
    T(test_meter_usage_different_quantity_duplicate),
    T(test_meter_usage_client_token),
    T(test_meter_usage_six_hour_window),
    T(test_meter_usage_dry_run),
    T(test_meter_usage_allocations),
    T(test_meter_usage_validation),
    T(test_meter_usage_region_mismatch),
    T(test_batch_results_per_record),
    T(test_batch_identical_replay_is_idempotent),
    T(test_batch_duplicate_record),
    T(test_batch_at_most_25),
    T(test_batch_window_rejects_whole_batch),
    T(test_batch_month_end_grace),
    T(test_batch_customer_id_rules),
    T(test_batch_license_arn_rules),
    T(test_batch_allocations_checked),
    T(test_resolve_customer),
    T(test_register_usage),
    T(test_botocore_signed_request_accepted),
#undef T
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
