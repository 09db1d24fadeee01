/* Golden request bytes: for a fixed clock and fixed credentials, the exact
 * method, URL, headers and body of MeterUsage, BatchMeterUsage,
 * ResolveCustomer and RegisterUsage. The signatures here were cross-checked
 * with botocore (test_aws_botocore_requests). Also: which operation a record
 * goes to, batch splitting, endpoints, re-signing on every attempt. */
#include "aws_test_util.h"

#include "auth/sigv4.h"
#include "meter/aws.h"

#include <strings.h>

static void expect_headers(const fake_sent *s, const char *const *want)
{
  size_t n = 0;
  while (want[2 * n])
    n++;
  if (s->headers.count != n) {
    for (size_t i = 0; i < s->headers.count; i++)
      fprintf(stderr, "  %s: %s\n", s->headers.items[i].name, s->headers.items[i].value);
    fail_msg("%zu headers sent, %zu expected", s->headers.count, n);
  }
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(s->headers.items[i].name, want[2 * i]);
    assert_string_equal(s->headers.items[i].value, want[2 * i + 1]);
  }
}

/* Each request we sent verifies with the signer's server side. */
static void expect_verifies(const fake_sent *s, const char *secret)
{
  mtr_headers rx = { 0 };
  const char *url = s->url;
  const char *host = strstr(url, "://") + 3;
  size_t hl = strcspn(host, "/");
  char hostbuf[256];
  snprintf(hostbuf, sizeof hostbuf, "%.*s", (int)hl, host);
  mtr_headers_add(&rx, "host", hostbuf);
  for (size_t i = 0; i < s->headers.count; i++)
    mtr_headers_add(&rx, s->headers.items[i].name, s->headers.items[i].value);
  mtr_sigv4_parsed a;
  meter_error err;
  assert_int_equal(mtr_sigv4_parse_authorization(mtr_headers_get(&rx, "authorization"), &a, &err),
                   METER_OK);
  if (mtr_sigv4_verify(s->method, host + hl, &rx, s->body, strlen(s->body), &a, secret, &err))
    fail_msg("does not verify: %s", err.message);
  mtr_headers_dispose(&rx);
}

static void test_golden_meter_usage(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  assert_non_null(c);
  fake_push(&f.ft, 200, "x-amzn-RequestId: req-1\nContent-Type: application/x-amz-json-1.1",
            "{\"MeteringRecordId\":\"mr-1\"}");
  meter_record *r = rec_of("product", "prod-abc123", "dimension", "users", "quantity", "3", "time",
                           "2024-01-01T00:00:00Z", "idempotency_key",
                           "8c1f4f6e-2a3b-4c5d-9e8f-0a1b2c3d4e5f", NULL);
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, &r, 1, &res), METER_OK);
  assert_int_equal(f.ft.nsent, 1);
  const fake_sent *s = &f.ft.sent[0];
  assert_string_equal(s->method, "POST");
  assert_string_equal(s->url, "https://metering.marketplace.us-east-1.amazonaws.com/");
  assert_string_equal(s->body,
                      "{\"ProductCode\":\"prod-abc123\",\"Timestamp\":1704067200,"
                      "\"UsageDimension\":\"users\",\"UsageQuantity\":3,\"DryRun\":false,"
                      "\"ClientToken\":\"8c1f4f6e-2a3b-4c5d-9e8f-0a1b2c3d4e5f\"}");
  const char *const want[] = {
    "Content-Type", "application/x-amz-json-1.1",
    "X-Amz-Target", "AWSMPMeteringService.MeterUsage",
    "X-Amz-Date", "20240101T000500Z",
    "Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/aws-marketplace/"
                     "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                     "Signature=02f11bc8523cd5eab1266e16d9f4773c22e44b14a5f94f5341eaee1afd8e763f",
    NULL,
  };
  expect_headers(s, want);
  expect_verifies(s, EX_SECRET);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_string_equal(meter_results_record_id(res, 0), "mr-1");
  assert_string_equal(meter_results_request_id(res, 0), "req-1");
  assert_string_equal(meter_results_idempotency_key(res, 0), "8c1f4f6e-2a3b-4c5d-9e8f-0a1b2c3d4e5f");
  assert_int_equal(meter_results_http_status(res, 0), 200);
  assert_int_equal(meter_results_attempts(res, 0), 1);
  meter_results_free(res);
  meter_record_free(r);
  aws_fixture_free(&f);
}


static meter_record *batch_rec_customer(void)
{
  return rec_of("product", "prod-abc123", "customer", "cust-1", "dimension", "users", "quantity",
                "42", "time", "2024-01-01T00:00:00Z", NULL);
}

static meter_record *batch_rec_account(void)
{
  meter_record *r = rec_of("product", "prod-abc123", "customer_account_id", "111122223333",
                           "license_arn", "arn:aws:license-manager::111122223333:license/l-abc",
                           "dimension", "users", "quantity", "7", "time", "2024-01-01T00:00:00Z",
                           NULL);
  const char *k[] = { "team" }, *a[] = { "a" }, *b[] = { "b" };
  assert_int_equal(meter_record_add_allocation(r, 4, k, a, 1), METER_OK);
  assert_int_equal(meter_record_add_allocation(r, 3, k, b, 1), METER_OK);
  return r;
}

static const char golden_batch_body[] =
  "{\"ProductCode\":\"prod-abc123\",\"UsageRecords\":[{\"Timestamp\":1704067200,"
  "\"CustomerIdentifier\":\"cust-1\",\"Dimension\":\"users\",\"Quantity\":42},"
  "{\"Timestamp\":1704067200,\"CustomerAWSAccountId\":\"111122223333\",\"LicenseArn\":"
  "\"arn:aws:license-manager::111122223333:license/l-abc\",\"Dimension\":\"users\","
  "\"Quantity\":7,\"UsageAllocations\":[{\"AllocatedUsageQuantity\":4,\"Tags\":[{\"Key\":"
  "\"team\",\"Value\":\"a\"}]},{\"AllocatedUsageQuantity\":3,\"Tags\":[{\"Key\":\"team\","
  "\"Value\":\"b\"}]}]}]}";

static void test_golden_batch_meter_usage_with_session_token(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, "session_token", "FwoGZXIvYXdzEXAMPLETOKEN", NULL);
  assert_non_null(c);
  fake_push(&f.ft, 200, "x-amzn-RequestId: req-b",
            "{\"Results\":[{\"UsageRecord\":{\"Timestamp\":1704067200,\"CustomerIdentifier\":"
            "\"cust-1\",\"Dimension\":\"users\",\"Quantity\":42},\"MeteringRecordId\":\"m1\","
            "\"Status\":\"Success\"},{\"UsageRecord\":{\"Timestamp\":1704067200,"
            "\"CustomerAWSAccountId\":\"111122223333\",\"LicenseArn\":"
            "\"arn:aws:license-manager::111122223333:license/l-abc\",\"Dimension\":\"users\","
            "\"Quantity\":7},\"MeteringRecordId\":\"m2\",\"Status\":\"Success\"}],"
            "\"UnprocessedRecords\":[]}");
  meter_record *r[2] = { batch_rec_customer(), batch_rec_account() };
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, r, 2, &res), METER_OK);
  assert_int_equal(f.ft.nsent, 1);
  const fake_sent *s = &f.ft.sent[0];
  assert_string_equal(s->url, "https://metering.marketplace.us-east-1.amazonaws.com/");
  assert_string_equal(s->body, golden_batch_body);
  const char *const want[] = {
    "Content-Type", "application/x-amz-json-1.1",
    "X-Amz-Target", "AWSMPMeteringService.BatchMeterUsage",
    "X-Amz-Date", "20240101T000500Z",
    "X-Amz-Security-Token", "FwoGZXIvYXdzEXAMPLETOKEN",
    "Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/aws-marketplace/"
                     "aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                     "x-amz-security-token;x-amz-target, Signature=0ff5171fa67e1f986ea40dd30e5d3155d207abac7ab27d561f8cf34b1fa961f0",
    NULL,
  };
  expect_headers(s, want);
  expect_verifies(s, EX_SECRET);
  assert_string_equal(meter_results_record_id(res, 0), "m1");
  assert_string_equal(meter_results_record_id(res, 1), "m2");
  assert_string_equal(meter_results_status(res, 1), "Success");
  assert_string_equal(meter_results_request_id(res, 1), "req-b");
  meter_results_free(res);
  meter_record_free(r[0]);
  meter_record_free(r[1]);
  aws_fixture_free(&f);
}

static void test_golden_resolve_customer(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  fake_push(&f.ft, 200, "x-amzn-RequestId: req-r",
            "{\"CustomerIdentifier\":\"cid\",\"ProductCode\":\"prod-abc123\","
            "\"CustomerAWSAccountId\":\"111122223333\",\"LicenseArn\":"
            "\"arn:aws:license-manager::111122223333:license/l-abc\"}");
  meter_aws_customer *cu = NULL;
  assert_int_equal(meter_aws_resolve_customer(&cu, c, "tok+en/=="), METER_OK);
  const fake_sent *s = &f.ft.sent[0];
  assert_string_equal(s->body, "{\"RegistrationToken\":\"tok+en/==\"}");
  const char *const want[] = {
    "Content-Type", "application/x-amz-json-1.1",
    "X-Amz-Target", "AWSMPMeteringService.ResolveCustomer",
    "X-Amz-Date", "20240101T000500Z",
    "Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/aws-marketplace/"
                     "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                     "Signature=955f2add9ac6108b9a01f952a19abede7a89d0a8bf491d2bbb8ee678a40a6a64",
    NULL,
  };
  expect_headers(s, want);
  assert_string_equal(meter_aws_customer_identifier(cu), "cid");
  assert_string_equal(meter_aws_customer_product_code(cu), "prod-abc123");
  assert_string_equal(meter_aws_customer_account_id(cu), "111122223333");
  assert_string_equal(meter_aws_customer_license_arn(cu),
                      "arn:aws:license-manager::111122223333:license/l-abc");
  assert_string_equal(meter_aws_customer_request_id(cu), "req-r");
  assert_null(meter_aws_customer_error_code(cu));
  meter_aws_customer_free(cu);
  aws_fixture_free(&f);
}

static void test_golden_register_usage(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, "product_code", "prod-abc123", NULL);
  fake_push(&f.ft, 200, NULL, "{\"Signature\":\"eyJhbGciOi.x.y\",\"PublicKeyRotationTimestamp\":"
                              "1735689600}");
  meter_aws_registration *reg = NULL;
  assert_int_equal(meter_aws_register_usage(&reg, c, NULL, 1, "n-123"), METER_OK);
  const fake_sent *s = &f.ft.sent[0];
  assert_string_equal(s->body,
                      "{\"ProductCode\":\"prod-abc123\",\"PublicKeyVersion\":1,\"Nonce\":\"n-123\"}");
  const char *const want[] = {
    "Content-Type", "application/x-amz-json-1.1",
    "X-Amz-Target", "AWSMPMeteringService.RegisterUsage",
    "X-Amz-Date", "20240101T000500Z",
    "Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/aws-marketplace/"
                     "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                     "Signature=f60703dd6a4568876ec81738ee13985483219810ccff4097dea8b113de24014e",
    NULL,
  };
  expect_headers(s, want);
  assert_string_equal(meter_aws_registration_signature(reg), "eyJhbGciOi.x.y");
  assert_true(meter_aws_registration_key_rotation_us(reg) == INT64_C(1735689600000000));
  meter_aws_registration_free(reg);
  /* A rotation time beyond any time is no time: 0, not an undefined cast. */
  fake_push(&f.ft, 200, NULL, "{\"Signature\":\"s\",\"PublicKeyRotationTimestamp\":1e300}");
  assert_int_equal(meter_aws_register_usage(&reg, c, NULL, 1, "n-124"), METER_OK);
  assert_true(meter_aws_registration_key_rotation_us(reg) == 0);
  meter_aws_registration_free(reg);
  /* Argument checks happen before any I/O. */
  assert_int_equal(meter_aws_register_usage(&reg, c, "bad code!", 1, NULL), METER_EINVAL);
  assert_int_equal(meter_aws_register_usage(&reg, c, NULL, 0, NULL), METER_EINVAL);
  assert_null(reg);
  assert_int_equal(f.ft.nsent, 2);
  aws_fixture_free(&f);
}

/* customer or customer_account_id -> BatchMeterUsage; neither -> MeterUsage. */
static void test_operation_rule(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, "product_code", "prod-abc123", NULL);
  f.ft.fallback.status = 200;
  free(f.ft.fallback.body);
  f.ft.fallback.body = strdup("{\"MeteringRecordId\":\"x\",\"Results\":[]}");
  meter_record *r[3] = {
    rec_of("dimension", "d", "quantity", "1", NULL),
    rec_of("customer", "c1", "dimension", "d", "quantity", "1", NULL),
    rec_of("customer_account_id", "123456789012", "dimension", "d", "quantity", "1", NULL),
  };
  meter_results *res = NULL;
  meter_send(c, r, 3, &res);
  meter_results_free(res);
  assert_int_equal(f.ft.nsent >= 2, 1);
  size_t meter = 0, batch = 0;
  for (size_t i = 0; i < f.ft.nsent; i++) {
    const char *t = fake_sent_header(&f.ft, i, "X-Amz-Target");
    if (strcmp(t, "AWSMPMeteringService.MeterUsage") == 0) {
      meter++;
      assert_null(strstr(f.ft.sent[i].body, "Customer"));
    } else {
      assert_string_equal(t, "AWSMPMeteringService.BatchMeterUsage");
      batch++;
      assert_non_null(strstr(f.ft.sent[i].body, "\"CustomerIdentifier\":\"c1\""));
      assert_non_null(strstr(f.ft.sent[i].body, "\"CustomerAWSAccountId\":\"123456789012\""));
    }
  }
  assert_int_equal(meter, 1);
  assert_true(batch >= 1);
  for (int i = 0; i < 3; i++)
    meter_record_free(r[i]);
  aws_fixture_free(&f);
}

static size_t count(const char *s, const char *needle)
{
  size_t n = 0;
  for (const char *p = s; (p = strstr(p, needle)); p++)
    n++;
  return n;
}

/* At most 25 records per request, one ProductCode (or LicenseArn mode) per
 * request; MeterUsage one record per request. */
static void test_batch_split(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  f.ft.fallback.status = 200;
  free(f.ft.fallback.body);
  f.ft.fallback.body = strdup("{\"Results\":[]}"); /* no results: all resent until give-up */
  enum { N = 60 };
  meter_record *r[N + 4];
  char cust[32];
  for (int i = 0; i < N; i++) {
    snprintf(cust, sizeof cust, "c%d", i);
    r[i] = rec_of("product", "p1", "customer", cust, "dimension", "d", "quantity", "1", NULL);
  }
  r[N] = rec_of("product", "p2", "customer", "x", "dimension", "d", "quantity", "1", NULL);
  r[N + 1] = rec_of("customer_account_id", "111122223333", "license_arn",
                    "arn:aws:license-manager::111122223333:license/l-1", "dimension", "d",
                    "quantity", "1", NULL);
  r[N + 2] = rec_of("product", "p1", "dimension", "d", "quantity", "1", NULL);
  r[N + 3] = rec_of("product", "p1", "dimension", "e", "quantity", "1", NULL);
  meter_client_options o;
  (void)o;
  c->env.policy.max_attempts = 1;
  meter_results *res = NULL;
  meter_send(c, r, N + 4, &res);
  size_t sizes[16] = { 0 }, nb = 0, nm = 0, with_p2 = 0, no_product = 0;
  for (size_t i = 0; i < f.ft.nsent; i++) {
    const char *t = fake_sent_header(&f.ft, i, "X-Amz-Target");
    if (strstr(t, "Batch")) {
      sizes[nb++] = count(f.ft.sent[i].body, "\"Timestamp\"");
      with_p2 += strstr(f.ft.sent[i].body, "\"ProductCode\":\"p2\"") != NULL;
      no_product += strstr(f.ft.sent[i].body, "ProductCode") == NULL;
    } else {
      nm++;
    }
  }
  assert_int_equal(nb, 5);
  assert_int_equal(sizes[0], 25);
  assert_int_equal(sizes[1], 25);
  assert_int_equal(sizes[2], 10);
  assert_int_equal(sizes[3], 1);
  assert_int_equal(sizes[4], 1);
  assert_int_equal(with_p2, 1);
  assert_int_equal(no_product, 1);
  assert_int_equal(nm, 2);
  meter_results_free(res);
  for (int i = 0; i < N + 4; i++)
    meter_record_free(r[i]);
  aws_fixture_free(&f);
}

static void test_endpoints(void **state)
{
  (void)state;
  const struct {
    const char *region, *fips, *dual, *url;
  } cases[] = {
    { "us-east-1", "false", "false", "https://metering.marketplace.us-east-1.amazonaws.com/" },
    { "eu-west-1", "true", "false", "https://metering.marketplace-fips.eu-west-1.amazonaws.com/" },
    { "ap-south-1", "false", "true", "https://metering-marketplace.ap-south-1.api.aws/" },
    { "us-west-2", "true", "true", "https://metering.marketplace-fips.us-west-2.api.aws/" },
    { "cn-northwest-1", "false", "false",
      "https://metering.marketplace.cn-northwest-1.amazonaws.com.cn/" },
    { "cn-north-1", "false", "true",
      "https://metering-marketplace.cn-north-1.api.amazonwebservices.com.cn/" },
    { "us-gov-west-1", "false", "false",
      "https://metering.marketplace.us-gov-west-1.amazonaws.com/" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    aws_fixture f;
    meter_client *c = aws_fixture_client(&f, NULL, "region", cases[i].region, "use_fips",
                                         cases[i].fips, "use_dualstack", cases[i].dual, NULL);
    assert_non_null(c);
    fake_push(&f.ft, 200, NULL, "{\"MeteringRecordId\":\"x\"}");
    meter_record *r = rec_of("product", "p", "dimension", "d", "quantity", "1", NULL);
    meter_results *res = NULL;
    assert_int_equal(meter_send(c, &r, 1, &res), METER_OK);
    assert_string_equal(f.ft.sent[0].url, cases[i].url);
    char want[128];
    snprintf(want, sizeof want, "/%s/aws-marketplace/aws4_request", cases[i].region);
    assert_non_null(strstr(fake_sent_header(&f.ft, 0, "Authorization"), want));
    char buf[64];
    assert_int_equal(meter_aws_region(c, buf, sizeof buf), METER_OK);
    assert_string_equal(buf, cases[i].region);
    meter_results_free(res);
    meter_record_free(r);
    aws_fixture_free(&f);
  }
  /* The endpoint option wins (the sandbox), region still signs. */
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, "http://127.0.0.1:4566/", "region", "eu-central-1",
                                       NULL);
  fake_push(&f.ft, 200, NULL, "{\"MeteringRecordId\":\"x\"}");
  meter_record *r = rec_of("product", "p", "dimension", "d", "quantity", "1", NULL);
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, &r, 1, &res), METER_OK);
  assert_string_equal(f.ft.sent[0].url, "http://127.0.0.1:4566/");
  assert_non_null(strstr(fake_sent_header(&f.ft, 0, "Authorization"), "/eu-central-1/"));
  meter_results_free(res);
  meter_record_free(r);
  aws_fixture_free(&f);
  /* Without a region, an endpoint override signs for us-east-1 (no IMDS wait). */
  c = aws_fixture_client(&f, "http://127.0.0.1:4566", "region", NULL, NULL);
  assert_non_null(c);
  fake_push(&f.ft, 200, NULL, "{\"MeteringRecordId\":\"x\"}");
  r = rec_of("product", "p", "dimension", "d", "quantity", "1", NULL);
  assert_int_equal(meter_send(c, &r, 1, &res), METER_OK);
  assert_non_null(strstr(fake_sent_header(&f.ft, 0, "Authorization"), "/us-east-1/"));
  meter_results_free(res);
  meter_record_free(r);
  aws_fixture_free(&f);
  /* Bad settings are refused when the client is created. */
  assert_null(aws_fixture_client(&f, NULL, "region", "us east", NULL));
  fake_transport_dispose(&f.ft);
  assert_null(aws_fixture_client(&f, NULL, "use_fips", "maybe", NULL));
  fake_transport_dispose(&f.ft);
  assert_null(aws_fixture_client(&f, NULL, "meter_window_hours", "-1", NULL));
  fake_transport_dispose(&f.ft);
}

/* Every attempt is signed afresh: a new X-Amz-Date after the backoff, the
 * same body and ClientToken. */
static void test_resigned_on_every_attempt(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  c->env.policy.base_us = 30 * INT64_C(1000000); /* backoffs long enough to change the date */
  c->env.policy.max_backoff_us = 60 * INT64_C(1000000);
  fake_push(&f.ft, 503, NULL, "{\"__type\":\"InternalServiceErrorException\"}");
  fake_push(&f.ft, 500, NULL, "");
  fake_push(&f.ft, 200, NULL, "{\"MeteringRecordId\":\"mr\"}");
  meter_record *r = rec_of("product", "p", "dimension", "d", "quantity", "1", NULL);
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, &r, 1, &res), METER_OK);
  assert_int_equal(f.ft.nsent, 3);
  for (size_t i = 0; i < 3; i++) {
    expect_verifies(&f.ft.sent[i], EX_SECRET);
    assert_string_equal(f.ft.sent[i].body, f.ft.sent[0].body);
    size_t dates = 0, auths = 0;
    for (size_t k = 0; k < f.ft.sent[i].headers.count; k++) {
      dates += strcasecmp(f.ft.sent[i].headers.items[k].name, "X-Amz-Date") == 0;
      auths += strcasecmp(f.ft.sent[i].headers.items[k].name, "Authorization") == 0;
    }
    assert_int_equal(dates, 1);
    assert_int_equal(auths, 1);
  }
  int differ = strcmp(fake_sent_header(&f.ft, 0, "X-Amz-Date"),
                      fake_sent_header(&f.ft, 2, "X-Amz-Date")) != 0;
  assert_true(differ);
  assert_string_not_equal(fake_sent_header(&f.ft, 0, "Authorization"),
                          fake_sent_header(&f.ft, 2, "Authorization"));
  assert_int_equal(meter_results_attempts(res, 0), 3);
  meter_results_free(res);
  meter_record_free(r);
  aws_fixture_free(&f);
}

static void test_dry_run_and_time(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  fake_push(&f.ft, 200, NULL, "{\"MeteringRecordId\":\"mr\"}");
  meter_record *r = rec_of("product", "p", "dimension", "d", "quantity", "0", "dry_run", "true",
                           "time", "2024-01-01T00:04:59.999999Z", NULL);
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, &r, 1, &res), METER_OK);
  assert_non_null(strstr(f.ft.sent[0].body, "\"DryRun\":true"));
  assert_non_null(strstr(f.ft.sent[0].body, "\"Timestamp\":1704067499,"));
  assert_non_null(strstr(f.ft.sent[0].body, "\"UsageQuantity\":0,"));
  meter_results_free(res);
  meter_record_free(r);
  aws_fixture_free(&f);
}

static void test_credential_source_call(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  char buf[64];
  assert_int_equal(meter_aws_credential_source(c, buf, sizeof buf), METER_OK);
  assert_string_equal(buf, "settings");
  assert_int_equal(meter_aws_credential_source(c, NULL, 0), METER_EINVAL);
  assert_int_equal(meter_aws_credential_source(NULL, buf, sizeof buf), METER_EINVAL);
  aws_fixture_free(&f);
  /* The secret never reaches the log. */
  assert_null(strstr(captured_log(), EX_SECRET));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_golden_meter_usage),
    cmocka_unit_test(test_golden_batch_meter_usage_with_session_token),
    cmocka_unit_test(test_golden_resolve_customer),
    cmocka_unit_test(test_golden_register_usage),
    cmocka_unit_test(test_operation_rule),
    cmocka_unit_test(test_batch_split),
    cmocka_unit_test(test_endpoints),
    cmocka_unit_test(test_resigned_on_every_attempt),
    cmocka_unit_test(test_dry_run_and_time),
    cmocka_unit_test(test_credential_source_call),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
