/* The requests the back end really sends -- MeterUsage and BatchMeterUsage
 * built from records (allocations, UTF-8, LicenseArn mode, several batches),
 * in several regions and endpoint variants, with and without a session
 * token, signed at several times -- carry exactly the Authorization header
 * botocore's SigV4Auth computes for the same bytes. */
#include "aws_test_util.h"

#include "../auth/botocore_oracle.h"
#include "core/timefmt.h"

#define MAX_REQ 128

static oracle_req reqs[MAX_REQ];
static char ours[MAX_REQ][ORACLE_AUTH_MAX], tok_ours[MAX_REQ][ORACLE_AUTH_MAX];
static char theirs[MAX_REQ][ORACLE_AUTH_MAX], tok_theirs[MAX_REQ][ORACLE_AUTH_MAX];
static char keep_url[MAX_REQ][128], keep_region[MAX_REQ][32], keep_date[MAX_REQ][32];
static char keep_target[MAX_REQ][64], keep_tok[MAX_REQ][64];
static char *keep_body[MAX_REQ];
static size_t nreq;

static void collect(aws_fixture *f, const char *region, const char *token)
{
  for (size_t i = 0; i < f->ft.nsent && nreq < MAX_REQ; i++, nreq++) {
    const fake_sent *s = &f->ft.sent[i];
    snprintf(keep_url[nreq], sizeof keep_url[0], "%s", s->url);
    snprintf(keep_region[nreq], sizeof keep_region[0], "%s", region);
    snprintf(keep_date[nreq], sizeof keep_date[0], "%s", fake_sent_header(&f->ft, i, "X-Amz-Date"));
    snprintf(keep_target[nreq], sizeof keep_target[0], "%s",
             fake_sent_header(&f->ft, i, "X-Amz-Target"));
    snprintf(keep_tok[nreq], sizeof keep_tok[0], "%s", token ? token : "");
    keep_body[nreq] = strdup(s->body);
    snprintf(ours[nreq], ORACLE_AUTH_MAX, "%s", fake_sent_header(&f->ft, i, "Authorization"));
    const char *t = fake_sent_header(&f->ft, i, "X-Amz-Security-Token");
    snprintf(tok_ours[nreq], ORACLE_AUTH_MAX, "%s", t ? t : "-");
    assert_string_equal(fake_sent_header(&f->ft, i, "Content-Type"), "application/x-amz-json-1.1");
    reqs[nreq] = (oracle_req){ keep_url[nreq], keep_region[nreq], "aws-marketplace",
                               keep_date[nreq], EX_AKID, EX_SECRET,
                               token ? keep_tok[nreq] : NULL, "application/x-amz-json-1.1",
                               keep_target[nreq], keep_body[nreq], strlen(keep_body[nreq]) };
  }
}

static void send_some(const char *region, const char *fips, const char *dual, const char *token,
                      int64_t now)
{
  aws_fixture f;
  meter_client *c = aws_fixture_client(&f, NULL, "region", region, "use_fips", fips,
                                       "use_dualstack", dual, "session_token", token, NULL);
  assert_non_null(c);
  f.fc.now_us = now;
  f.ft.fallback.status = 200;
  free(f.ft.fallback.body);
  f.ft.fallback.body = strdup("{\"MeteringRecordId\":\"m\",\"Results\":[]}");
  c->env.policy.max_attempts = 1;
  char t[MTR_TIME_BUF];
  mtr_time_format(now - 30 * 60 * MTR_US_PER_SEC, MTR_TIME_RFC3339, t);

  meter_record *r[6];
  r[0] = rec_of("product", "prod-abc123", "dimension", "users", "quantity", "3", "time", t, NULL);
  r[1] = rec_of("product", "prod-abc123", "dimension", "caf\xc3\xa9 hours", "quantity", "10",
                "time", t, "dry_run", "true", NULL);
  const char *k[] = { "team", "env" }, *a[] = { "red", "prod" }, *b[] = { "blue", "prod" };
  meter_record_add_allocation(r[1], 4, k, a, 2);
  meter_record_add_allocation(r[1], 6, k, b, 2);
  r[2] = rec_of("product", "prod-abc123", "customer", "cust-1", "dimension", "users", "quantity",
                "42", "time", t, NULL);
  r[3] = rec_of("product", "prod-abc123", "customer", "cust \"2\"", "dimension", "gb/month",
                "quantity", "2147483647", "time", t, NULL);
  r[4] = rec_of("customer_account_id", "111122223333", "license_arn",
                "arn:aws:license-manager::111122223333:license/l-abc", "dimension", "seats",
                "quantity", "0", "time", t, NULL);
  r[5] = rec_of("product", "other-product", "customer", "c9", "dimension", "x", "quantity", "1",
                "time", t, NULL);
  for (int i = 0; i < 6; i++)
    assert_non_null(r[i]);
  meter_results *res = NULL;
  meter_send(c, r, 6, &res);
  meter_results_free(res);
  assert_int_equal(f.ft.nsent, 5); /* 2 MeterUsage + 3 BatchMeterUsage (by product) */
  collect(&f, region, token);
  for (int i = 0; i < 6; i++)
    meter_record_free(r[i]);
  aws_fixture_free(&f);
}

static void test_backend_requests_match_botocore(void **state)
{
  (void)state;
  const char *tokens[] = { NULL, "FwoGZXIvYXdzEXAMPLE//TOKEN+=" };
  const struct { const char *region, *fips, *dual; } eps[] = {
    { "us-east-1", "false", "false" }, { "eu-west-1", "true", "false" },
    { "ap-southeast-2", "false", "true" }, { "cn-northwest-1", "false", "false" },
  };
  int64_t times[] = { T0, INT64_C(1709251199000000) /* 2024-02-29T23:59:59Z */ };
  for (size_t e = 0; e < 4; e++)
    for (size_t k = 0; k < 2; k++)
      for (size_t t = 0; t < 2; t++)
        send_some(eps[e].region, eps[e].fips, eps[e].dual, tokens[k], times[t]);
  assert_int_equal(nreq, 80);
  const char *version = botocore_sign_all(reqs, nreq, theirs, tok_theirs);
  for (size_t i = 0; i < nreq; i++) {
    if (strcmp(theirs[i], ours[i]) != 0)
      fail_msg("request %zu (%s %s): botocore and libmeter disagree:\n  botocore: %s\n"
               "  libmeter: %s\n  body: %s", i, reqs[i].url, reqs[i].target, theirs[i], ours[i],
               reqs[i].body);
    assert_string_equal(tok_theirs[i], tok_ours[i]);
    free(keep_body[i]);
  }
  print_message("%zu back-end requests signed identically by %s\n", nreq, version);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_backend_requests_match_botocore),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
