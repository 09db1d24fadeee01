/* Answers -> outcomes, from recorded answers on the scripted transport:
 * BatchMeterUsage per-record results and UnprocessedRecords, every modelled
 * exception mapped to retry or reject, auth errors, clock skew, expired
 * credentials, ResolveCustomer refusals. */
#include "aws_test_util.h"

#include "core/timefmt.h"
#include "meter/aws.h"

static meter_record *bm(const char *cust, const char *qty)
{
  return rec_of("product", "prod-1", "customer", cust, "dimension", "users", "quantity", qty,
                "time", "2024-01-01T00:00:00Z", NULL);
}

static meter_record *mu(void)
{
  return rec_of("product", "prod-1", "dimension", "users", "quantity", "3", "time",
                "2024-01-01T00:00:00Z", NULL);
}

#define ECHO(cust, qty)                                                                        \
  "{\"Timestamp\":1704067200,\"CustomerIdentifier\":\"" cust "\",\"Dimension\":\"users\","     \
  "\"Quantity\":" qty "}"

static void test_batch_result_statuses(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  /* Results out of order: matched by the echoed record, not by position. */
  fake_push(&f.ft, 200, "x-amzn-RequestId: rq",
            "{\"Results\":["
            "{\"UsageRecord\":" ECHO("c3", "3") ",\"Status\":\"CustomerNotSubscribed\"},"
            "{\"UsageRecord\":" ECHO("c1", "1") ",\"MeteringRecordId\":\"id-1\",\"Status\":\"Success\"},"
            "{\"UsageRecord\":" ECHO("c2", "2") ",\"MeteringRecordId\":\"id-2\",\"Status\":\"DuplicateRecord\"}"
            "],\"UnprocessedRecords\":[]}");
  meter_record *r[3] = { bm("c1", "1"), bm("c2", "2"), bm("c3", "3") };
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, r, 3, &res), METER_EREJECTED);
  assert_int_equal(f.ft.nsent, 1);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_string_equal(meter_results_record_id(res, 0), "id-1");
  assert_string_equal(meter_results_status(res, 0), "Success");
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_REJECTED);
  assert_string_equal(meter_results_error_code(res, 1), "DuplicateRecord");
  assert_int_equal(meter_results_outcome(res, 2), METER_OUTCOME_REJECTED);
  assert_string_equal(meter_results_error_code(res, 2), "CustomerNotSubscribed");
  assert_non_null(strstr(meter_results_message(res, 2), "agreement"));
  for (int i = 0; i < 3; i++) {
    assert_int_equal(meter_results_http_status(res, (size_t)i), 200);
    assert_string_equal(meter_results_request_id(res, (size_t)i), "rq");
    meter_record_free(r[i]);
  }
  meter_results_free(res);
  aws_fixture_free(&f);
}

static void test_unprocessed_records_resent(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  fake_push(&f.ft, 200, NULL,
            "{\"Results\":[{\"UsageRecord\":" ECHO("c1", "1") ",\"MeteringRecordId\":\"id-1\","
            "\"Status\":\"Success\"}],\"UnprocessedRecords\":[" ECHO("c2", "2") "," ECHO("c3", "3") "]}");
  fake_push(&f.ft, 200, NULL,
            "{\"Results\":[{\"UsageRecord\":" ECHO("c3", "3") ",\"MeteringRecordId\":\"id-3\","
            "\"Status\":\"Success\"}],\"UnprocessedRecords\":[" ECHO("c2", "2") "]}");
  fake_push(&f.ft, 200, NULL,
            "{\"Results\":[{\"UsageRecord\":" ECHO("c2", "2") ",\"MeteringRecordId\":\"id-2\","
            "\"Status\":\"Success\"}]}");
  meter_record *r[3] = { bm("c1", "1"), bm("c2", "2"), bm("c3", "3") };
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, r, 3, &res), METER_OK);
  assert_int_equal(f.ft.nsent, 3);
  /* Only the unprocessed records are sent again. */
  assert_non_null(strstr(f.ft.sent[0].body, "\"c1\""));
  assert_null(strstr(f.ft.sent[1].body, "\"c1\""));
  assert_non_null(strstr(f.ft.sent[1].body, "\"c2\""));
  assert_non_null(strstr(f.ft.sent[1].body, "\"c3\""));
  assert_null(strstr(f.ft.sent[2].body, "\"c3\""));
  assert_non_null(strstr(f.ft.sent[2].body, "\"c2\""));
  assert_string_equal(meter_results_record_id(res, 0), "id-1");
  assert_string_equal(meter_results_record_id(res, 1), "id-2");
  assert_string_equal(meter_results_record_id(res, 2), "id-3");
  assert_int_equal(meter_results_attempts(res, 0), 1);
  assert_int_equal(meter_results_attempts(res, 1), 3);
  assert_int_equal(meter_results_attempts(res, 2), 2);
  /* The retry loop backed off between the partial answers. */
  assert_true(f.fc.nsleeps >= 1);
  meter_results_free(res);
  for (int i = 0; i < 3; i++)
    meter_record_free(r[i]);
  aws_fixture_free(&f);
}

static void test_unprocessed_forever_fails(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  c->env.policy.max_attempts = 3;
  for (int i = 0; i < 3; i++)
    fake_push(&f.ft, 200, NULL, "{\"Results\":[],\"UnprocessedRecords\":[" ECHO("c1", "1") "]}");
  meter_record *r = bm("c1", "1");
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, &r, 1, &res), METER_EUNDELIVERED);
  assert_int_equal(f.ft.nsent, 3);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
  assert_string_equal(meter_results_error_code(res, 0), "Unprocessed");
  meter_results_free(res);
  meter_record_free(r);
  aws_fixture_free(&f);
}

/* Identical records are answered once; a record missing from the answer
 * (neither a result nor unprocessed) is sent again. */
static void test_identical_and_missing_records(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  fake_push(&f.ft, 200, NULL,
            "{\"Results\":[{\"UsageRecord\":" ECHO("c1", "1") ",\"MeteringRecordId\":\"id-1\","
            "\"Status\":\"Success\"}]}");
  fake_push(&f.ft, 200, NULL,
            "{\"Results\":[{\"UsageRecord\":" ECHO("c9", "9") ",\"MeteringRecordId\":\"id-9\","
            "\"Status\":\"Success\"}]}");
  meter_record *r[3] = { bm("c1", "1"), bm("c1", "1"), bm("c9", "9") };
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, r, 3, &res), METER_OK);
  assert_int_equal(f.ft.nsent, 2);
  assert_string_equal(meter_results_record_id(res, 1), "id-1");
  assert_null(strstr(f.ft.sent[1].body, "\"c1\""));
  assert_string_equal(meter_results_record_id(res, 2), "id-9");
  meter_results_free(res);
  for (int i = 0; i < 3; i++)
    meter_record_free(r[i]);
  aws_fixture_free(&f);
}

/* Found by the aws fuzzer: an echoed Timestamp beyond any time (1.7e25) was
 * cast to an integer (undefined behaviour). Such an echo matches no record,
 * and the record is resent like one missing from the answer. */
static void test_echo_with_impossible_timestamp(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  fake_push(&f.ft, 200, NULL,
            "{\"Results\":[{\"UsageRecord\":{\"Timestamp\":17041140006666666666666666,"
            "\"CustomerIdentifier\":\"c1\",\"Dimension\":\"users\",\"Quantity\":1},"
            "\"MeteringRecordId\":\"id-bad\",\"Status\":\"Success\"}]}");
  fake_push(&f.ft, 200, NULL,
            "{\"Results\":[{\"UsageRecord\":" ECHO("c1", "1") ",\"MeteringRecordId\":\"id-1\","
            "\"Status\":\"Success\"}]}");
  meter_record *r = bm("c1", "1");
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, &r, 1, &res), METER_OK);
  assert_int_equal(f.ft.nsent, 2);
  assert_string_equal(meter_results_record_id(res, 0), "id-1");
  meter_results_free(res);
  meter_record_free(r);
  aws_fixture_free(&f);
}

typedef struct err_case {
  long status;
  const char *headers;
  const char *body;
  meter_outcome outcome;
  const char *code;
  int rc;
} err_case;

/* One answer, no retry: outcome, code, status. */
static void test_modelled_errors_rejected(void **state)
{
  (void)state;
  const char *rejected[] = {
    "TimestampOutOfBoundsException", "DuplicateRequestException", "CustomerNotEntitledException",
    "InvalidProductCodeException", "InvalidUsageDimensionException", "InvalidTagException",
    "InvalidUsageAllocationsException", "InvalidEndpointRegionException",
    "InvalidCustomerIdentifierException", "InvalidLicenseException", "DisabledApiException",
    "InvalidRegionException", "InvalidPublicKeyVersionException",
    "PlatformNotSupportedException", "InvalidTokenException",
  };
  for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++) {
    aws_fixture f;
    meter_client *c = aws_fixture_client(&f, NULL, NULL);
    char body[256];
    snprintf(body, sizeof body, "{\"__type\":\"%s\",\"message\":\"because %zu\"}", rejected[i], i);
    fake_push(&f.ft, 400, NULL, body);
    meter_record *r = mu();
    meter_results *res = NULL;
    assert_int_equal(meter_send(c, &r, 1, &res), METER_EREJECTED);
    assert_int_equal(f.ft.nsent, 1);
    assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_REJECTED);
    assert_string_equal(meter_results_error_code(res, 0), rejected[i]);
    char want[64];
    snprintf(want, sizeof want, "because %zu", i);
    assert_non_null(strstr(meter_results_message(res, 0), want));
    assert_int_equal(meter_results_http_status(res, 0), 400);
    meter_results_free(res);
    meter_record_free(r);
    aws_fixture_free(&f);
  }
}

static void run_case(const err_case *ec, size_t n_answers, const err_case *answers)
{
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  c->env.policy.max_attempts = 3;
  for (size_t i = 0; i < n_answers; i++)
    fake_push(&f.ft, answers[i].status, answers[i].headers, answers[i].body);
  meter_record *r = mu();
  meter_results *res = NULL;
  int rc = meter_send(c, &r, 1, &res);
  if (rc != ec->rc)
    fail_msg("%s: status %s, expected %s (%s)", ec->body, meter_status_name(rc),
             meter_status_name(ec->rc), meter_results_message(res, 0));
  assert_int_equal(meter_results_outcome(res, 0), ec->outcome);
  if (ec->code)
    assert_string_equal(meter_results_error_code(res, 0), ec->code);
  assert_int_equal(f.ft.nsent, n_answers);
  meter_results_free(res);
  meter_record_free(r);
  aws_fixture_free(&f);
}

static void test_retried_errors(void **state)
{
  (void)state;
  const err_case ok = { 200, NULL, "{\"MeteringRecordId\":\"m\"}", METER_OUTCOME_ACCEPTED, NULL,
                        METER_OK };
  const err_case throttle = { 400, NULL, "{\"__type\":\"ThrottlingException\",\"message\":\"Rate "
                                         "exceeded\"}", 0, NULL, 0 };
  const err_case throttle_hdr = { 400, "x-amzn-ErrorType: ThrottlingException:http://internal."
                                       "amazon.com/coral/com.amazon.coral.availability/",
                                  "{}", 0, NULL, 0 };
  const err_case internal = { 500, NULL, "{\"__type\":\"com.amazonaws.marketplacemetering#"
                                         "InternalServiceErrorException\"}", 0, NULL, 0 };
  const err_case unavailable = { 503, NULL, "", 0, NULL, 0 };
  const err_case e429 = { 429, NULL, "", 0, NULL, 0 };
  err_case a[2];
  a[1] = ok;
  const err_case *firsts[] = { &throttle, &throttle_hdr, &internal, &unavailable, &e429 };
  for (size_t i = 0; i < 5; i++) {
    a[0] = *firsts[i];
    run_case(&ok, 2, a);
  }
  /* Retries run out: FAILED, safe to resend; the status names the cause. */
  err_case t3[3] = { throttle, throttle, throttle };
  const err_case throttled = { 0, NULL, "throttled", METER_OUTCOME_FAILED, "ThrottlingException",
                               METER_ETHROTTLED };
  run_case(&throttled, 3, t3);
  err_case i3[3] = { internal, internal, internal };
  const err_case undelivered = { 0, NULL, "internal", METER_OUTCOME_FAILED,
                                 "InternalServiceErrorException", METER_EUNDELIVERED };
  run_case(&undelivered, 3, i3);
}

static void test_auth_errors(void **state)
{
  (void)state;
  const err_case cases[] = {
    { 400, NULL, "{\"__type\":\"UnrecognizedClientException\",\"message\":\"The security token "
                 "included in the request is invalid.\"}", METER_OUTCOME_FAILED,
      "UnrecognizedClientException", METER_EAUTH },
    { 403, NULL, "{\"__type\":\"AccessDeniedException\",\"Message\":\"not allowed\"}",
      METER_OUTCOME_FAILED, "AccessDeniedException", METER_EAUTH },
    { 403, NULL, "{\"__type\":\"InvalidSignatureException\",\"message\":\"The request signature "
                 "we calculated does not match\"}", METER_OUTCOME_FAILED,
      "InvalidSignatureException", METER_EAUTH },
    { 403, NULL, "", METER_OUTCOME_FAILED, "HTTP403", METER_EAUTH },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_case(&cases[i], 1, &cases[i]);
  /* The message names where the refused credentials came from. */
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  fake_push(&f.ft, 403, NULL, "{\"__type\":\"AccessDeniedException\",\"Message\":\"no\"}");
  meter_record *r = mu();
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, &r, 1, &res), METER_EAUTH);
  assert_non_null(strstr(meter_results_message(res, 0), "from settings"));
  char buf[256];
  assert_int_equal(meter_client_last_error(c, buf, sizeof buf), METER_EAUTH);
  assert_non_null(strstr(buf, "AccessDeniedException"));
  meter_results_free(res);
  meter_record_free(r);
  aws_fixture_free(&f);
}

static void test_batch_request_level_error(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  fake_push(&f.ft, 400, "x-amzn-ErrorType: TimestampOutOfBoundsException",
            "{\"message\":\"Timestamp out of bounds\"}");
  meter_record *r[2] = { bm("c1", "1"), bm("c2", "2") };
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, r, 2, &res), METER_EREJECTED);
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(meter_results_outcome(res, i), METER_OUTCOME_REJECTED);
    assert_string_equal(meter_results_error_code(res, i), "TimestampOutOfBoundsException");
    meter_record_free(r[i]);
  }
  meter_results_free(res);
  aws_fixture_free(&f);
}

/* "Signature expired": learn the server's clock from Date, resend at once,
 * keep the offset for later calls. */
static void test_clock_skew(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  char date[MTR_TIME_BUF], hdr[128];
  mtr_time_format(T0 + 20 * 60 * MTR_US_PER_SEC, MTR_TIME_HTTP, date); /* server 20 min ahead */
  snprintf(hdr, sizeof hdr, "Date: %s", date);
  fake_push(&f.ft, 400, hdr,
            "{\"__type\":\"InvalidSignatureException\",\"message\":\"Signature expired: "
            "20240101T000500Z is now earlier than 20240101T002000Z (20240101T002500Z - 5 min.)\"}");
  fake_push(&f.ft, 200, NULL, "{\"MeteringRecordId\":\"m\"}");
  meter_record *r = mu();
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, &r, 1, &res), METER_OK);
  assert_int_equal(f.ft.nsent, 2);
  assert_string_equal(fake_sent_header(&f.ft, 0, "X-Amz-Date"), "20240101T000500Z");
  assert_string_equal(fake_sent_header(&f.ft, 1, "X-Amz-Date"), "20240101T002500Z");
  assert_int_equal(f.fc.nsleeps, 0); /* no backoff before the corrected resend */
  meter_results_free(res);
  /* The offset stays for the next call. */
  fake_push(&f.ft, 200, NULL, "{\"MeteringRecordId\":\"m2\"}");
  meter_record *r2 = rec_of("product", "prod-1", "dimension", "other", "quantity", "1", NULL);
  assert_int_equal(meter_send(c, &r2, 1, &res), METER_OK);
  assert_string_equal(fake_sent_header(&f.ft, 2, "X-Amz-Date"), "20240101T002500Z");
  meter_results_free(res);
  meter_record_free(r2);
  /* Corrected once per call: a second skew answer is an auth failure. */
  fake_push(&f.ft, 400, hdr, "{\"__type\":\"InvalidSignatureException\",\"message\":\"Signature "
                             "expired: x\"}");
  fake_push(&f.ft, 400, hdr, "{\"__type\":\"InvalidSignatureException\",\"message\":\"Signature "
                             "expired: x\"}");
  assert_int_equal(meter_send(c, &r, 1, &res), METER_EAUTH);
  assert_int_equal(f.ft.nsent, 5);
  assert_non_null(strstr(meter_results_message(res, 0), "skew"));
  meter_results_free(res);
  meter_record_free(r);
  aws_fixture_free(&f);
}

static void test_expired_credentials_refreshed(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  fake_push(&f.ft, 403, NULL, "{\"__type\":\"ExpiredTokenException\",\"message\":\"The security "
                              "token included in the request is expired\"}");
  fake_push(&f.ft, 200, NULL, "{\"MeteringRecordId\":\"m\"}");
  meter_record *r = mu();
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, &r, 1, &res), METER_OK);
  assert_int_equal(f.ft.nsent, 2);
  aws_backend *be = (aws_backend *)c->backend;
  assert_int_equal(be->chain.cache.fetches, 2);
  meter_results_free(res);
  meter_record_free(r);
  aws_fixture_free(&f);
}

static void test_meter_usage_answers(void **state)
{
  (void)state;
  /* DryRun: "would have succeeded". */
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  fake_push(&f.ft, 412, NULL, "{\"__type\":\"DryRunOperation\",\"message\":\"would succeed\"}");
  meter_record *r = rec_of("product", "p", "dimension", "d", "quantity", "1", "dry_run", "true",
                           NULL);
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, &r, 1, &res), METER_OK);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_string_equal(meter_results_status(res, 0), "DryRunOperation");
  meter_results_free(res);
  /* A 200 without a MeteringRecordId is not a rejection: FAILED, resend safely. */
  meter_record_free(r);
  r = rec_of("product", "p", "dimension", "d", "quantity", "1", NULL);
  fake_push(&f.ft, 200, NULL, "{}");
  assert_int_equal(meter_send(c, &r, 1, &res), METER_EUNDELIVERED);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
  meter_results_free(res);
  /* IdempotencyConflictException (409): the token was used with other values. */
  fake_push(&f.ft, 409, NULL, "{\"__type\":\"IdempotencyConflictException\"}");
  assert_int_equal(meter_send(c, &r, 1, &res), METER_EREJECTED);
  assert_string_equal(meter_results_error_code(res, 0), "IdempotencyConflictException");
  meter_results_free(res);
  meter_record_free(r);
  aws_fixture_free(&f);
}

static void test_resolve_customer_refused(void **state)
{
  (void)state;
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, NULL);
  fake_push(&f.ft, 400, "x-amzn-RequestId: r1",
            "{\"__type\":\"InvalidTokenException\",\"message\":\"bad token\"}");
  meter_aws_customer *cu = NULL;
  assert_int_equal(meter_aws_resolve_customer(&cu, c, "nope"), METER_EREJECTED);
  assert_non_null(cu);
  assert_string_equal(meter_aws_customer_error_code(cu), "InvalidTokenException");
  assert_string_equal(meter_aws_customer_message(cu), "bad token");
  assert_null(meter_aws_customer_account_id(cu));
  meter_aws_customer_free(cu);
  /* ExpiredTokenException is the registration token's here: no credential
   * refresh, no resend. */
  fake_push(&f.ft, 400, NULL, "{\"__type\":\"ExpiredTokenException\",\"message\":\"expired\"}");
  assert_int_equal(meter_aws_resolve_customer(&cu, c, "old"), METER_EREJECTED);
  assert_string_equal(meter_aws_customer_error_code(cu), "ExpiredTokenException");
  assert_int_equal(f.ft.nsent, 2);
  meter_aws_customer_free(cu);
  /* Throttling is retried. */
  fake_push(&f.ft, 400, NULL, "{\"__type\":\"ThrottlingException\"}");
  fake_push(&f.ft, 200, NULL, "{\"CustomerAWSAccountId\":\"111122223333\",\"ProductCode\":\"p\"}");
  assert_int_equal(meter_aws_resolve_customer(&cu, c, "tok"), METER_OK);
  assert_string_equal(meter_aws_customer_account_id(cu), "111122223333");
  assert_null(meter_aws_customer_identifier(cu));
  meter_aws_customer_free(cu);
  /* The token never reaches the log. */
  assert_null(strstr(captured_log(), "\"nope\""));
  assert_int_equal(meter_aws_resolve_customer(&cu, c, ""), METER_EINVAL);
  assert_int_equal(meter_aws_resolve_customer(NULL, c, "x"), METER_EINVAL);
  aws_fixture_free(&f);
}

/* A client of another back end gets METER_EUNSUPPORTED. */
static void test_wrong_backend(void **state)
{
  (void)state;
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = "tackle";
  meter_setting s[] = { { "access_token", "t" } };
  o.settings = s;
  o.settings_count = 1;
  meter_client *c = NULL;
  if (meter_client_new(&c, &o, NULL) != METER_OK)
    skip();
  meter_aws_customer *cu = NULL;
  assert_int_equal(meter_aws_resolve_customer(&cu, c, "t"), METER_EUNSUPPORTED);
  char buf[32];
  assert_int_equal(meter_aws_credential_source(c, buf, sizeof buf), METER_EUNSUPPORTED);
  meter_client_free(c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_batch_result_statuses),
    cmocka_unit_test(test_unprocessed_records_resent),
    cmocka_unit_test(test_unprocessed_forever_fails),
    cmocka_unit_test(test_identical_and_missing_records),
    cmocka_unit_test(test_echo_with_impossible_timestamp),
    cmocka_unit_test(test_modelled_errors_rejected),
    cmocka_unit_test(test_retried_errors),
    cmocka_unit_test(test_auth_errors),
    cmocka_unit_test(test_batch_request_level_error),
    cmocka_unit_test(test_clock_skew),
    cmocka_unit_test(test_expired_credentials_refreshed),
    cmocka_unit_test(test_meter_usage_answers),
    cmocka_unit_test(test_resolve_customer_refused),
    cmocka_unit_test(test_wrong_backend),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
