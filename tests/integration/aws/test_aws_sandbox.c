/* The aws back end against meter-sandbox over real HTTP, with signatures
 * the sandbox verifies: MeterUsage (ClientToken replay and conflict, the
 * hour rule, DryRun, the window), BatchMeterUsage (splitting, per-record
 * results, CustomerNotSubscribed, DuplicateRecord, LicenseArn mode,
 * unprocessed records, the window), RegisterUsage, ResolveCustomer, clock
 * skew, session tokens, and retries under injected faults (error503,
 * throttle, reset, drop_after_apply) with the ledger holding each unit
 * exactly once. */
#include "test_util.h"

#include "core/timefmt.h"
#include "meter/aws.h"
#include "sandbox_proc.h"

#include <sys/time.h>

#define SANDBOX_AKID "AKIDSANDBOXEXAMPLE"
#define SANDBOX_SECRET "sandbox+secret/KEY/EXAMPLE"

typedef struct fx {
  sandbox_proc sp;
  meter_client *c;
} fx;

/* A client of the sandbox; extra settings are name, value pairs ending in NULL. */
static meter_client *client_with(sandbox_proc *sp, const char *name, ...)
{
  meter_setting s[16] = {
    { "region", "us-east-1" },
    { "access_key_id", SANDBOX_AKID },
    { "secret_access_key", SANDBOX_SECRET },
  };
  size_t n = 3;
  va_list ap;
  va_start(ap, name);
  for (const char *k = name; k && n < 16; k = va_arg(ap, const char *)) {
    const char *v = va_arg(ap, const char *);
    size_t i = 0;
    while (i < n && strcmp(s[i].name, k) != 0)
      i++;
    s[i] = (meter_setting){ k, v };
    if (i == n)
      n++;
  }
  va_end(ap);
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = "aws";
  o.endpoint = sp->url;
  o.settings = s;
  o.settings_count = n;
  o.backoff_base_ms = 5; /* keep retries quick */
  o.backoff_max_ms = 50;
  o.request_timeout_ms = 5000;
  o.log = capture_log;
  o.log_level = METER_LOG_DEBUG;
  meter_client *c = NULL;
  meter_error e;
  if (meter_client_new(&c, &o, &e) != METER_OK)
    fail_msg("meter_client_new: %s", e.message);
  return c;
}

static int start(void **state, const char *const *args)
{
  fx *f = calloc(1, sizeof *f);
  if (sandbox_start(&f->sp, args) != 0) {
    free(f);
    return -1;
  }
  f->c = client_with(&f->sp, NULL);
  *state = f;
  captured_log_clear();
  return 0;
}

static int setup(void **state)
{
  return start(state, NULL);
}

static int teardown(void **state)
{
  fx *f = *state;
  meter_client_free(f->c);
  sandbox_stop(&f->sp);
  free(f);
  return 0;
}

/* Two hours ago, ten minutes into the hour: inside every window, and two
 * records made from it fall into the same hour whatever the clock says. */
static int64_t base_time(void)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  int64_t now = (int64_t)tv.tv_sec * MTR_US_PER_SEC;
  return mtr_time_hour_floor(now) - 2 * MTR_US_PER_HOUR + 10 * 60 * MTR_US_PER_SEC;
}

static meter_record *usage(const char *dimension, const char *qty, int64_t t)
{
  meter_record *r = rec_of("product", "prod-sandbox", "dimension", dimension, "quantity", qty,
                           NULL);
  assert_int_equal(meter_record_set_time_us(r, t), METER_OK);
  return r;
}

static meter_record *saas(const char *customer, const char *dimension, const char *qty, int64_t t)
{
  meter_record *r = rec_of("product", "prod-sandbox", "customer", customer, "dimension",
                           dimension, "quantity", qty, NULL);
  assert_int_equal(meter_record_set_time_us(r, t), METER_OK);
  return r;
}

/* Ledger entries of the aws section matching operation (and customer, when given). */
static size_t ledger_count(sandbox_proc *sp, const char *operation, const char *customer,
                           const char *dimension, int64_t quantity_sum_out[1])
{
  cJSON *l = sandbox_ledger(sp);
  assert_non_null(l);
  cJSON *aws = cJSON_GetObjectItemCaseSensitive(l, "aws");
  size_t n = 0;
  int64_t sum = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, aws) {
    const char *op = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "operation"));
    const char *cu = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "customer"));
    const char *di = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "dimension"));
    if ((operation && (!op || strcmp(op, operation) != 0)) ||
        (customer && (!cu || strcmp(cu, customer) != 0)) ||
        (dimension && (!di || strcmp(di, dimension) != 0)))
      continue;
    n++;
    sum += (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "quantity"));
  }
  cJSON_Delete(l);
  if (quantity_sum_out)
    quantity_sum_out[0] = sum;
  return n;
}

static size_t ledger_total(sandbox_proc *sp)
{
  return ledger_count(sp, NULL, NULL, NULL, NULL);
}

static int send1(meter_client *c, meter_record *r, meter_results **res)
{
  return meter_send(c, &r, 1, res);
}

/* ---- MeterUsage ------------------------------------------------------------------------ */

static void test_meter_usage(void **state)
{
  fx *f = *state;
  int64_t t = base_time();
  meter_record *r = usage("users", "7", t);
  meter_results *res = NULL;
  assert_int_equal(send1(f->c, r, &res), METER_OK);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  char id[64];
  snprintf(id, sizeof id, "%s", meter_results_record_id(res, 0));
  assert_true(strlen(id) > 0);
  assert_non_null(meter_results_request_id(res, 0));
  meter_results_free(res);

  cJSON *l = sandbox_ledger(&f->sp);
  cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "aws"), 0);
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "operation")), "MeterUsage");
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "product")), "prod-sandbox");
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "dimension")), "users");
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "record_id")), id);
  char hour[MTR_TIME_BUF];
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "hour")),
                      mtr_time_format(mtr_time_hour_floor(t), MTR_TIME_RFC3339, hour));
  assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(e, "quantity")) == 7);
  cJSON_Delete(l);

  /* The same record again (same ClientToken): the first record id, nothing new. */
  assert_int_equal(send1(f->c, r, &res), METER_OK);
  assert_string_equal(meter_results_record_id(res, 0), id);
  meter_results_free(res);
  assert_int_equal(ledger_total(&f->sp), 1);

  /* The same key with other values: IdempotencyConflictException (409). */
  meter_record *conflict = NULL;
  assert_int_equal(meter_record_dup(&conflict, r), METER_OK);
  assert_int_equal(meter_record_set(conflict, METER_FIELD_QUANTITY, "8"), METER_OK);
  assert_int_equal(send1(f->c, conflict, &res), METER_EREJECTED);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_REJECTED);
  assert_string_equal(meter_results_error_code(res, 0), "IdempotencyConflictException");
  assert_int_equal(meter_results_http_status(res, 0), 409);
  meter_results_free(res);
  meter_record_free(conflict);

  /* Once per hour per dimension: another quantity in the same hour (new key)
   * is a DuplicateRequestException; the same quantity is the same record. */
  meter_record *again = usage("users", "9", t + 20 * 60 * MTR_US_PER_SEC);
  assert_int_equal(send1(f->c, again, &res), METER_EREJECTED);
  assert_string_equal(meter_results_error_code(res, 0), "DuplicateRequestException");
  meter_results_free(res);
  meter_record_free(again);
  again = usage("users", "7", t + 30 * 60 * MTR_US_PER_SEC);
  assert_int_equal(send1(f->c, again, &res), METER_OK);
  assert_string_equal(meter_results_record_id(res, 0), id);
  meter_results_free(res);
  meter_record_free(again);
  /* The next hour is a new report. */
  again = usage("users", "9", t + MTR_US_PER_HOUR);
  assert_int_equal(send1(f->c, again, &res), METER_OK);
  meter_results_free(res);
  meter_record_free(again);
  assert_int_equal(ledger_total(&f->sp), 2);
  meter_record_free(r);
}

static void test_meter_usage_with_allocations_and_dry_run(void **state)
{
  fx *f = *state;
  int64_t t = base_time();
  meter_record *r = usage("gb", "10", t);
  const char *k[] = { "team" }, *a[] = { "red" }, *b[] = { "blue" };
  assert_int_equal(meter_record_add_allocation(r, 4, k, a, 1), METER_OK);
  assert_int_equal(meter_record_add_allocation(r, 6, k, b, 1), METER_OK);
  meter_results *res = NULL;
  assert_int_equal(send1(f->c, r, &res), METER_OK);
  meter_results_free(res);
  meter_record_free(r);

  r = usage("dry", "3", t);
  assert_int_equal(meter_record_set(r, METER_FIELD_DRY_RUN, "true"), METER_OK);
  assert_int_equal(send1(f->c, r, &res), METER_OK);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_string_equal(meter_results_status(res, 0), "DryRunOperation");
  meter_results_free(res);
  meter_record_free(r);
  assert_int_equal(ledger_count(&f->sp, NULL, NULL, "dry", NULL), 0);
  assert_int_equal(ledger_total(&f->sp), 1);

  /* The sandbox's scripted refusals come back as REJECTED with their codes. */
  r = rec_of("product", "invalid-product", "dimension", "d", "quantity", "1", NULL);
  assert_int_equal(send1(f->c, r, &res), METER_EREJECTED);
  assert_string_equal(meter_results_error_code(res, 0), "InvalidProductCodeException");
  meter_results_free(res);
  meter_record_free(r);
  r = rec_of("product", "unentitled-x", "dimension", "d", "quantity", "1", NULL);
  assert_int_equal(send1(f->c, r, &res), METER_EREJECTED);
  assert_string_equal(meter_results_error_code(res, 0), "CustomerNotEntitledException");
  meter_results_free(res);
  meter_record_free(r);
}

/* ---- windows: ours before sending, the sandbox's when ours is wider -------------------- */

static void test_windows(void **state)
{
  fx *f = *state;
  struct timeval tv;
  gettimeofday(&tv, NULL);
  int64_t now = (int64_t)tv.tv_sec * MTR_US_PER_SEC;
  meter_record *stale = usage("users", "1", now - 7 * MTR_US_PER_HOUR);
  meter_results *res = NULL;
  assert_int_equal(send1(f->c, stale, &res), METER_EINVAL);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_INVALID);
  assert_string_equal(meter_results_field(res, 0), "time");
  assert_non_null(strstr(meter_results_message(res, 0), "6 h"));
  meter_results_free(res);

  /* With our window widened, the marketplace's own rule answers. */
  meter_client *wide = client_with(&f->sp, "meter_window_hours", "12", "batch_window_hours", "48",
                                   NULL);
  assert_int_equal(send1(wide, stale, &res), METER_EREJECTED);
  assert_string_equal(meter_results_error_code(res, 0), "TimestampOutOfBoundsException");
  meter_results_free(res);
  meter_record *old = saas("c-old", "users", "1", now - 30 * MTR_US_PER_HOUR);
  meter_record *fresh = saas("c-fresh", "users", "1", now - MTR_US_PER_HOUR);
  meter_record *both[2] = { old, fresh };
  /* The whole batch is refused by the marketplace when one record is out... */
  assert_int_equal(meter_send(wide, both, 2, &res), METER_EREJECTED);
  assert_string_equal(meter_results_error_code(res, 1), "TimestampOutOfBoundsException");
  meter_results_free(res);
  meter_client_free(wide);
  assert_int_equal(ledger_total(&f->sp), 0);
  /* ...which is why our window refuses the stale record alone first. */
  assert_int_equal(meter_send(f->c, both, 2, &res), METER_EINVAL);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_INVALID);
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_ACCEPTED);
  meter_results_free(res);
  assert_int_equal(ledger_count(&f->sp, "BatchMeterUsage", "c-fresh", NULL, NULL), 1);
  assert_int_equal(ledger_total(&f->sp), 1);
  meter_record_free(stale);
  meter_record_free(old);
  meter_record_free(fresh);
}

/* ---- BatchMeterUsage --------------------------------------------------------------------- */

static void test_batch(void **state)
{
  fx *f = *state;
  int64_t t = base_time();
  enum { N = 30 };
  meter_record *r[N + 1];
  char cust[32];
  for (int i = 0; i < N; i++) {
    snprintf(cust, sizeof cust, "cust-%02d", i);
    r[i] = saas(cust, "users", "5", t);
  }
  r[N] = saas("unsubscribed-9", "users", "5", t);
  meter_results *res = NULL;
  assert_int_equal(meter_send(f->c, r, N + 1, &res), METER_EREJECTED);
  for (int i = 0; i < N; i++) {
    assert_int_equal(meter_results_outcome(res, (size_t)i), METER_OUTCOME_ACCEPTED);
    assert_string_equal(meter_results_status(res, (size_t)i), "Success");
    assert_non_null(meter_results_record_id(res, (size_t)i));
  }
  assert_int_equal(meter_results_outcome(res, N), METER_OUTCOME_REJECTED);
  assert_string_equal(meter_results_error_code(res, N), "CustomerNotSubscribed");
  char id0[64];
  snprintf(id0, sizeof id0, "%s", meter_results_record_id(res, 0));
  meter_results_free(res);
  int64_t sum = 0;
  assert_int_equal(ledger_count(&f->sp, "BatchMeterUsage", NULL, NULL, &sum), N);
  assert_true(sum == 5 * N);

  /* The same record again: de-duplicated, same id. Another quantity for that
   * customer, dimension and hour: DuplicateRecord. */
  meter_record *same = saas("cust-00", "users", "5", t + 60 * MTR_US_PER_SEC);
  meter_record *other = saas("cust-01", "users", "6", t);
  meter_record *two[2] = { same, other };
  assert_int_equal(meter_send(f->c, two, 2, &res), METER_EREJECTED);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_string_equal(meter_results_record_id(res, 0), id0);
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_REJECTED);
  assert_string_equal(meter_results_error_code(res, 1), "DuplicateRecord");
  meter_results_free(res);
  assert_int_equal(ledger_count(&f->sp, "BatchMeterUsage", NULL, NULL, NULL), N);
  meter_record_free(same);
  meter_record_free(other);
  for (int i = 0; i <= N; i++)
    meter_record_free(r[i]);
}

static void test_license_mode(void **state)
{
  fx *f = *state;
  int64_t t = base_time();
  meter_record *r = rec_of("customer_account_id", "111122223333", "license_arn",
                           "arn:aws:license-manager::111122223333:license/l-sandbox", "dimension",
                           "seats", "quantity", "4", NULL);
  assert_int_equal(meter_record_set_time_us(r, t), METER_OK);
  meter_results *res = NULL;
  assert_int_equal(send1(f->c, r, &res), METER_OK);
  meter_results_free(res);
  cJSON *l = sandbox_ledger(&f->sp);
  cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "aws"), 0);
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "customer")), "111122223333");
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "product")),
                      "arn:aws:license-manager::111122223333:license/l-sandbox");
  cJSON_Delete(l);
  meter_record_free(r);
}

static void test_unprocessed_records(void **state)
{
  fx *f = *state;
  assert_int_equal(sandbox_fault(&f->sp, "{\"route\":\"aws.BatchMeterUsage\",\"kind\":"
                                         "\"unprocessed\",\"count\":2}"), 0);
  int64_t t = base_time();
  meter_record *r[7];
  char cust[32];
  for (int i = 0; i < 7; i++) {
    snprintf(cust, sizeof cust, "u-%d", i);
    r[i] = saas(cust, "users", "2", t);
  }
  meter_results *res = NULL;
  assert_int_equal(meter_send(f->c, r, 7, &res), METER_OK);
  /* 7 records: 4 unprocessed the first time, 2 of those the second, then done. */
  for (size_t i = 0; i < 7; i++)
    assert_int_equal(meter_results_outcome(res, i), METER_OUTCOME_ACCEPTED);
  assert_int_equal(meter_results_attempts(res, 1), 1);
  assert_int_equal(meter_results_attempts(res, 0), 3);
  meter_results_free(res);
  for (int i = 0; i < 7; i++) {
    char c[32];
    snprintf(c, sizeof c, "u-%d", i);
    assert_int_equal(ledger_count(&f->sp, "BatchMeterUsage", c, NULL, NULL), 1);
    meter_record_free(r[i]);
  }
  assert_non_null(strstr(captured_log(), "unprocessed"));
}

/* ---- faults: every unit exactly once ---------------------------------------------------- */

static void faulted(fx *f, const char *route, const char *kind, int batch)
{
  assert_int_equal(sandbox_reset(&f->sp), 0);
  char json[200];
  snprintf(json, sizeof json, "{\"route\":\"%s\",\"kind\":\"%s\",\"count\":2}", route, kind);
  assert_int_equal(sandbox_fault(&f->sp, json), 0);
  int64_t t = base_time();
  meter_record *r[3];
  size_t n = batch ? 3 : 1;
  for (size_t i = 0; i < n; i++) {
    char c[32];
    snprintf(c, sizeof c, "f-%zu", i);
    r[i] = batch ? saas(c, "users", "3", t) : usage("users", "3", t);
  }
  meter_results *res = NULL;
  int rc = meter_send(f->c, r, n, &res);
  if (rc != METER_OK)
    fail_msg("%s %s: %s: %s", route, kind, meter_status_name(rc), meter_results_message(res, 0));
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(meter_results_outcome(res, i), METER_OUTCOME_ACCEPTED);
    /* Two faults, then through. A connection closed without an answer on a
     * reused connection may be resent by libcurl itself, which spends one of
     * the faults without an attempt of ours; the ledger below is what counts. */
    unsigned a = meter_results_attempts(res, i);
    if (a != 3 && !((strcmp(kind, "reset") == 0 || strcmp(kind, "drop_after_apply") == 0) && a == 2))
      fail_msg("%s %s: %u attempts", route, kind, a);
  }
  meter_results_free(res);
  int64_t sum = 0;
  assert_int_equal(ledger_count(&f->sp, batch ? "BatchMeterUsage" : "MeterUsage", NULL, NULL,
                                &sum), n);
  assert_true(sum == (int64_t)(3 * n));
  for (size_t i = 0; i < n; i++)
    meter_record_free(r[i]);
}

static void test_faults(void **state)
{
  fx *f = *state;
  const char *kinds[] = { "error503", "error500", "throttle", "reset", "drop_after_apply" };
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    faulted(f, "aws.MeterUsage", kinds[k], 0);
    faulted(f, "aws.BatchMeterUsage", kinds[k], 1);
  }
}

/* Retries run out: FAILED with the marketplace's reason, nothing recorded. */
static void test_faults_exhaust_retries(void **state)
{
  fx *f = *state;
  assert_int_equal(sandbox_fault(&f->sp, "{\"route\":\"aws.MeterUsage\",\"kind\":\"throttle\"}"),
                   0);
  meter_record *r = usage("users", "1", base_time());
  meter_results *res = NULL;
  assert_int_equal(send1(f->c, r, &res), METER_ETHROTTLED);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
  assert_string_equal(meter_results_error_code(res, 0), "ThrottlingException");
  assert_int_equal(meter_results_attempts(res, 0), 5);
  meter_results_free(res);
  meter_record_free(r);
  assert_int_equal(ledger_total(&f->sp), 0);
}

/* ---- credentials and clocks --------------------------------------------------------------- */

static void test_wrong_secret(void **state)
{
  fx *f = *state;
  meter_client *c = client_with(&f->sp, "secret_access_key", "not-the-secret", NULL);
  meter_record *r = usage("users", "1", base_time());
  meter_results *res = NULL;
  assert_int_equal(send1(c, r, &res), METER_EAUTH);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
  assert_string_equal(meter_results_error_code(res, 0), "InvalidSignatureException");
  assert_int_equal(meter_results_attempts(res, 0), 1);
  meter_results_free(res);
  meter_client_free(c);
  c = client_with(&f->sp, "access_key_id", "AKIDOTHER", NULL);
  assert_int_equal(send1(c, r, &res), METER_EAUTH);
  assert_string_equal(meter_results_error_code(res, 0), "UnrecognizedClientException");
  meter_results_free(res);
  meter_client_free(c);
  /* Signed for another region than the endpoint's. */
  c = client_with(&f->sp, "region", "eu-west-1", NULL);
  assert_int_equal(send1(c, r, &res), METER_EAUTH);
  meter_results_free(res);
  meter_client_free(c);
  meter_record_free(r);
  assert_int_equal(ledger_total(&f->sp), 0);
  assert_null(strstr(captured_log(), SANDBOX_SECRET));
  assert_null(strstr(captured_log(), "not-the-secret"));
}

static int setup_skewed(void **state)
{
  static const char *const args[] = { "--clock-offset", "3600", NULL };
  return start(state, args);
}

/* The sandbox's clock is an hour ahead: the first signature is "expired";
 * the client learns the offset from the Date header, resends at once, and
 * keeps the offset for the next calls. */
static void test_clock_skew(void **state)
{
  fx *f = *state;
  int64_t t = base_time() + MTR_US_PER_HOUR; /* two hours before the sandbox's now */
  meter_record *r = usage("users", "1", t);
  meter_results *res = NULL;
  assert_int_equal(send1(f->c, r, &res), METER_OK);
  assert_int_equal(meter_results_attempts(res, 0), 2);
  meter_results_free(res);
  assert_non_null(strstr(captured_log(), "clock skew"));
  meter_record *r2 = saas("skewed", "users", "1", t);
  assert_int_equal(send1(f->c, r2, &res), METER_OK);
  assert_int_equal(meter_results_attempts(res, 0), 1);
  meter_results_free(res);
  assert_int_equal(ledger_total(&f->sp), 2);
  meter_record_free(r);
  meter_record_free(r2);
}

static int setup_session_token(void **state)
{
  static const char *const args[] = { "--aws-session-token", "FwoGZXIvYXdzSANDBOXTOKEN", NULL };
  return start(state, args);
}

static void test_session_token(void **state)
{
  fx *f = *state;
  meter_record *r = usage("users", "1", base_time());
  meter_results *res = NULL;
  assert_int_equal(send1(f->c, r, &res), METER_EAUTH); /* no token */
  meter_results_free(res);
  meter_client *c = client_with(&f->sp, "session_token", "FwoGZXIvYXdzSANDBOXTOKEN", NULL);
  assert_int_equal(send1(c, r, &res), METER_OK);
  meter_results_free(res);
  char src[32];
  assert_int_equal(meter_aws_credential_source(c, src, sizeof src), METER_OK);
  assert_string_equal(src, "settings");
  meter_client_free(c);
  meter_record_free(r);
  assert_null(strstr(captured_log(), "FwoGZXIvYXdzSANDBOXTOKEN"));
}

static int setup_other_region(void **state)
{
  static const char *const args[] = { "--aws-resource-region", "us-west-2", NULL };
  return start(state, args);
}

static void test_meter_usage_wrong_region(void **state)
{
  fx *f = *state;
  meter_record *r = usage("users", "1", base_time());
  meter_results *res = NULL;
  assert_int_equal(send1(f->c, r, &res), METER_EREJECTED);
  assert_string_equal(meter_results_error_code(res, 0), "InvalidEndpointRegionException");
  meter_results_free(res);
  meter_record_free(r);
  meter_aws_registration *reg = NULL;
  assert_int_equal(meter_aws_register_usage(&reg, f->c, "prod-sandbox", 1, NULL),
                   METER_EREJECTED);
  assert_string_equal(meter_aws_registration_error_code(reg), "InvalidRegionException");
  meter_aws_registration_free(reg);
}

/* ---- ResolveCustomer, RegisterUsage -------------------------------------------------------- */

static void test_resolve_customer(void **state)
{
  fx *f = *state;
  meter_aws_customer *cu = NULL;
  assert_int_equal(meter_aws_resolve_customer(&cu, f->c, "sandbox-registration-token"), METER_OK);
  assert_string_equal(meter_aws_customer_identifier(cu), "sandbox-customer");
  assert_string_equal(meter_aws_customer_product_code(cu), "sandbox-product");
  assert_string_equal(meter_aws_customer_account_id(cu), "111122223333");
  assert_string_equal(meter_aws_customer_license_arn(cu),
                      "arn:aws:license-manager::111122223333:license/l-sandbox");
  assert_non_null(meter_aws_customer_request_id(cu));
  meter_aws_customer_free(cu);
  assert_int_equal(meter_aws_resolve_customer(&cu, f->c, "expired-token"), METER_EREJECTED);
  assert_string_equal(meter_aws_customer_error_code(cu), "ExpiredTokenException");
  meter_aws_customer_free(cu);
  assert_int_equal(meter_aws_resolve_customer(&cu, f->c, "anything-else"), METER_EREJECTED);
  assert_string_equal(meter_aws_customer_error_code(cu), "InvalidTokenException");
  char buf[256];
  assert_int_equal(meter_client_last_error(f->c, buf, sizeof buf), METER_EREJECTED);
  assert_non_null(strstr(buf, "InvalidTokenException"));
  meter_aws_customer_free(cu);
  /* Throttled, then answered. */
  assert_int_equal(sandbox_fault(&f->sp, "{\"route\":\"aws.ResolveCustomer\",\"kind\":"
                                         "\"throttle\",\"count\":1}"), 0);
  assert_int_equal(meter_aws_resolve_customer(&cu, f->c, "sandbox-registration-token"), METER_OK);
  meter_aws_customer_free(cu);
}

static int count_dots(const char *s)
{
  int n = 0;
  for (; *s; s++)
    n += *s == '.';
  return n;
}

static void test_register_usage(void **state)
{
  fx *f = *state;
  meter_aws_registration *reg = NULL;
  assert_int_equal(meter_aws_register_usage(&reg, f->c, "prod-sandbox", 1, "nonce-1"), METER_OK);
  const char *sig = meter_aws_registration_signature(reg);
  assert_non_null(sig);
  assert_int_equal(count_dots(sig), 2);
  meter_aws_registration_free(reg);
  assert_int_equal(meter_aws_register_usage(&reg, f->c, "unentitled-p", 1, NULL), METER_EREJECTED);
  assert_string_equal(meter_aws_registration_error_code(reg), "CustomerNotEntitledException");
  meter_aws_registration_free(reg);
  assert_int_equal(meter_aws_register_usage(&reg, f->c, "prod-sandbox", 2, NULL), METER_EREJECTED);
  assert_string_equal(meter_aws_registration_error_code(reg), "InvalidPublicKeyVersionException");
  meter_aws_registration_free(reg);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_meter_usage, setup, teardown),
    cmocka_unit_test_setup_teardown(test_meter_usage_with_allocations_and_dry_run, setup, teardown),
    cmocka_unit_test_setup_teardown(test_windows, setup, teardown),
    cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
    cmocka_unit_test_setup_teardown(test_license_mode, setup, teardown),
    cmocka_unit_test_setup_teardown(test_unprocessed_records, setup, teardown),
    cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
    cmocka_unit_test_setup_teardown(test_faults_exhaust_retries, setup, teardown),
    cmocka_unit_test_setup_teardown(test_wrong_secret, setup, teardown),
    cmocka_unit_test_setup_teardown(test_clock_skew, setup_skewed, teardown),
    cmocka_unit_test_setup_teardown(test_session_token, setup_session_token, teardown),
    cmocka_unit_test_setup_teardown(test_meter_usage_wrong_region, setup_other_region, teardown),
    cmocka_unit_test_setup_teardown(test_resolve_customer, setup, teardown),
    cmocka_unit_test_setup_teardown(test_register_usage, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
