/* meter send against meter-sandbox: each exit status provoked for real
 * (0 accepted, 1 rejected, 2 bad input, 3 retries exhausted, 4 credentials),
 * the --json shape, resending a failed record with its key, validation,
 * allocations and attributes reaching the marketplace. */
#include "cli_fixture.h"

static const char *const json_keys[] = { "index", "idempotency_key", "outcome", "delivered",
                                          "record_id", "status", "http_status", "error_code",
                                          "field", "message", "attempts", "request_id",
                                          "status_path", NULL };

/* Every --json result has exactly the documented keys. */
static void assert_result_shape(const cJSON *o, const char *index_key)
{
  assert_true(cJSON_IsObject(o));
  size_t n = 0;
  for (const cJSON *k = o->child; k; k = k->next)
    n++;
  size_t want = 0;
  for (size_t i = 0; json_keys[i]; i++) {
    const char *key = strcmp(json_keys[i], "index") == 0 ? index_key : json_keys[i];
    if (!cJSON_HasObjectItem(o, key))
      fail_msg("missing key %s", key);
    want++;
  }
  assert_int_equal(n, want);
}

static void test_accepted_exit_0(void **state)
{
  cfx *f = cfx_begin(state);
  argv_b a = { 0 };
  ab_add(&a, "send", NULL);
  ab_tackle(&a, f);
  ab_add(&a, "--product", "p1", "--customer", "c1", "--dimension", "users", "--quantity", "3",
         "--time", f->now, NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "outcome          accepted"));
  assert_non_null(strstr(r.out, "http_status      200"));

  cJSON *root;
  cJSON *led = ledger_of(f, "tackle", &root);
  assert_int_equal(cJSON_GetArraySize(led), 1);
  cJSON *e = cJSON_GetArrayItem(led, 0);
  assert_string_equal(cJSON_GetObjectItem(e, "customer")->valuestring, "c1");
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "quantity")), 3);
  cJSON_Delete(root);
  cli_result_free(&r);
}

static void test_json_shape_and_rejected_exit_1(void **state)
{
  cfx *f = cfx_begin(state);
  argv_b a = { 0 };
  ab_add(&a, "send", "--json", NULL);
  ab_tackle(&a, f);
  ab_add(&a, "--product", "p1", "--customer", "unknown-7", "--dimension", "users", "--quantity",
         "3", "--time", f->now, NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 1);
  cJSON *lines = json_lines(r.out);
  assert_int_equal(cJSON_GetArraySize(lines), 1);
  cJSON *o = cJSON_GetArrayItem(lines, 0);
  assert_result_shape(o, "index");
  assert_string_equal(cJSON_GetObjectItem(o, "outcome")->valuestring, "rejected");
  assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "delivered")));
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "http_status")), 404);
  assert_string_equal(cJSON_GetObjectItem(o, "error_code")->valuestring, "not_found");
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "attempts")), 1);
  assert_non_null(strstr(r.err, "rejected by the marketplace"));
  cJSON_Delete(lines);

  /* An accepted record in --json: delivered, record id, no error. */
  cli_result_free(&r);
  a.n = 0;
  ab_add(&a, "send", "--json", NULL);
  ab_tackle(&a, f);
  ab_add(&a, "--product", "p1", "--customer", "c2", "--dimension", "users", "--quantity", "5",
         "--time", f->now, "--idempotency-key", "my-key-1", NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  lines = json_lines(r.out);
  o = cJSON_GetArrayItem(lines, 0);
  assert_result_shape(o, "index");
  assert_string_equal(cJSON_GetObjectItem(o, "outcome")->valuestring, "accepted");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "delivered")));
  assert_string_equal(cJSON_GetObjectItem(o, "idempotency_key")->valuestring, "my-key-1");
  assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "record_id")));
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "error_code")));
  assert_string_equal(r.err, "");
  cJSON_Delete(lines);
  cli_result_free(&r);
}

static void test_bad_input_exit_2(void **state)
{
  cfx *f = cfx_begin(state);
  cli_result r;
  /* An invalid value: named, nothing sent. */
  argv_b a = { 0 };
  ab_add(&a, "send", NULL);
  ab_tackle(&a, f);
  ab_add(&a, "--product", "p1", "--customer", "c1", "--dimension", "users", "--quantity", "-3",
         NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "quantity: must be a non-negative decimal number"));
  cli_result_free(&r);

  /* A record the back end refuses before sending (no dimension). */
  a.n = 0;
  ab_add(&a, "send", "--json", NULL);
  ab_tackle(&a, f);
  ab_add(&a, "--product", "p1", "--customer", "c1", "--quantity", "3", NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 2);
  cJSON *lines = json_lines(r.out);
  cJSON *o = cJSON_GetArrayItem(lines, 0);
  assert_string_equal(cJSON_GetObjectItem(o, "outcome")->valuestring, "invalid");
  assert_string_equal(cJSON_GetObjectItem(o, "field")->valuestring, "dimension");
  cJSON_Delete(lines);
  cli_result_free(&r);

  /* Usage: unknown flag, a flag of another command, a stray argument. */
  const char *const bad[][4] = {
    { "send", "--bogus", "1", NULL },
    { "send", "--file", "x", NULL },
    { "send", "stray", NULL, NULL },
    { "nosuchcommand", NULL, NULL, NULL },
    { "send", "--allocation", "x:y", NULL },
    { "send", "--max-attempts", "many", NULL },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(cli_run(&r, bad[i], NULL, NULL), 0);
    if (r.status != 2)
      cli_dump(&r);
    assert_int_equal(r.status, 2);
    assert_true(r.err_len > 0);
    cli_result_free(&r);
  }
  /* Nothing reached the marketplace. */
  cJSON *root;
  assert_int_equal(cJSON_GetArraySize(ledger_of(f, "tackle", &root)), 0);
  cJSON_Delete(root);
}

static void test_retries_exhausted_exit_3_then_resend(void **state)
{
  cfx *f = cfx_begin(state);
  assert_int_equal(sandbox_fault(&f->sp, "{\"route\":\"aws.BatchMeterUsage\",\"kind\":\"error503\"}"),
                   0);
  argv_b a = { 0 };
  ab_add(&a, "send", "--json", "--max-attempts", "2", NULL);
  ab_aws(&a, f);
  ab_fast_retries(&a);
  ab_add(&a, "--product", "prodA", "--customer", "custA", "--dimension", "gb", "--quantity", "7",
         "--time", f->now, NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 3)
    cli_dump(&r);
  assert_int_equal(r.status, 3);
  cJSON *lines = json_lines(r.out);
  cJSON *o = cJSON_GetArrayItem(lines, 0);
  assert_string_equal(cJSON_GetObjectItem(o, "outcome")->valuestring, "failed");
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "attempts")), 2);
  char key[80];
  snprintf(key, sizeof key, "%s", cJSON_GetObjectItem(o, "idempotency_key")->valuestring);
  cJSON_Delete(lines);
  /* stderr says how to resend safely. */
  char hint[160];
  snprintf(hint, sizeof hint, "--idempotency-key %s", key);
  assert_non_null(strstr(r.err, hint));
  cli_result_free(&r);

  /* The marketplace recovers; the resend with that key is delivered once. */
  clear_faults(f);
  a.n = 0;
  ab_add(&a, "send", "--json", NULL);
  ab_aws(&a, f);
  ab_add(&a, "--product", "prodA", "--customer", "custA", "--dimension", "gb", "--quantity", "7",
         "--time", f->now, "--idempotency-key", key, NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  run_meter(&r, &a, NULL, NULL); /* and once more: still one unit of usage */
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  cJSON *root;
  cJSON *led = ledger_of(f, "aws", &root);
  assert_int_equal(cJSON_GetArraySize(led), 1);
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(led, 0),
                                                                  "quantity")), 7);
  cJSON_Delete(root);
}

static void test_bad_credentials_exit_4(void **state)
{
  cfx *f = cfx_begin(state);
  for (int i = 0; i < 3; i++) {
    argv_b a = { 0 };
    ab_add(&a, "send", "--json", NULL);
    /* A later flag replaces the earlier (correct) one. */
    if (i == 0) {
      ab_tackle(&a, f);
      ab_add(&a, "--client-secret", "Wr0ng-S3cret-Value", "--product", "p1", "--customer", "c1",
             "--dimension", "users", NULL);
    } else if (i == 1) {
      ab_appdirect(&a, f);
      ab_add(&a, "--client-secret", "Wr0ng-S3cret-Value", "--account", "acc-1",
             "--pricing-unit", "USER", NULL);
    } else {
      ab_aws(&a, f);
      ab_add(&a, "--secret-access-key", "Wr0ng-S3cret-Value", "--product", "prodA", "--customer",
             "custA", "--dimension", "gb", NULL);
    }
    ab_add(&a, "--quantity", "2", "--time", f->now, NULL);
    cli_result r;
    run_meter(&r, &a, NULL, NULL);
    if (r.status != 4)
      cli_dump(&r);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "credentials"));
    assert_null(strstr(r.out, "Wr0ng-S3cret-Value"));
    assert_null(strstr(r.err, "Wr0ng-S3cret-Value"));
    cli_result_free(&r);
  }
  cJSON *root = sandbox_ledger(&f->sp);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "tackle")), 0);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "appdirect")), 0);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "aws")), 0);
  cJSON_Delete(root);
}

static void test_missing_settings_are_named(void **state)
{
  cfx *f = cfx_begin(state);
  struct {
    const char *backend;
    const char *env;
    const char *want;
  } cases[] = {
    { "tackle", NULL, "tackle needs client_id: pass --client-id or set TACKLE_CLIENT_ID (or "
                      "TACKLE_ACCESS_TOKEN / --access-token)" },
    { "tackle", "TACKLE_CLIENT_ID=x", "tackle needs client_secret: pass --client-secret or set "
                                      "TACKLE_CLIENT_SECRET (or TACKLE_ACCESS_TOKEN / "
                                      "--access-token)" },
    { "appdirect", NULL, "appdirect needs base_url: pass --base-url or set APPDIRECT_BASE_URL" },
    { "appdirect", "APPDIRECT_BASE_URL=http://127.0.0.1:1",
      "appdirect needs client_id: pass --client-id or set APPDIRECT_CLIENT_ID" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    argv_b a = { 0 };
    ab_add(&a, "send", "-b", cases[i].backend, "--quantity", "1", NULL);
    const char *env[] = { cases[i].env, NULL };
    cli_result r;
    run_meter(&r, &a, env, NULL);
    if (r.status != 4 || !strstr(r.err, cases[i].want))
      cli_dump(&r);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, cases[i].want));
    /* ... and the config file key. */
    assert_non_null(strstr(r.err, "section of"));
    cli_result_free(&r);
  }
  (void)f;
  /* No back end at all is a usage error naming the ways to give one. */
  argv_b a = { 0 };
  ab_add(&a, "send", "--quantity", "1", NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "--backend"));
  assert_non_null(strstr(r.err, "METER_BACKEND"));
  cli_result_free(&r);
}

static void test_validate_only_sends_nothing(void **state)
{
  cfx *f = cfx_begin(state);
  argv_b a = { 0 };
  ab_add(&a, "send", "--validate-only", "--json", NULL);
  ab_tackle(&a, f);
  ab_add(&a, "--product", "p1", "--customer", "c1", "--dimension", "users", "--quantity", "4",
         "--time", f->now, NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  cJSON *lines = json_lines(r.out);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(lines, 0), "outcome")->valuestring,
                      "valid");
  cJSON_Delete(lines);
  cli_result_free(&r);
  cJSON *root;
  assert_int_equal(cJSON_GetArraySize(ledger_of(f, "tackle", &root)), 0);
  cJSON_Delete(root);
}

static void test_allocations_and_attributes_reach_the_marketplace(void **state)
{
  cfx *f = cfx_begin(state);
  /* AWS: allocations must sum to the quantity. */
  argv_b a = { 0 };
  ab_add(&a, "send", "--json", NULL);
  ab_aws(&a, f);
  ab_add(&a, "--product", "prodA", "--customer", "custA", "--dimension", "gb", "--quantity", "12",
         "--time", f->now, "--allocation", "8:team=red,env=prod", "--allocation", "4:team=blue",
         NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  /* Allocations that do not sum up are refused before sending. */
  a.n = 0;
  ab_add(&a, "send", NULL);
  ab_aws(&a, f);
  ab_add(&a, "--product", "prodA", "--customer", "custB", "--dimension", "gb", "--quantity", "12",
         "--time", f->now, "--allocation", "8:team=red", NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 2);
  cli_result_free(&r);

  /* AppDirect: exact decimal quantity and an attribute. */
  a.n = 0;
  ab_add(&a, "send", "--json", NULL);
  ab_appdirect(&a, f);
  ab_add(&a, "--account", "acc-1", "--pricing-unit", "USER", "--quantity", "123456789.123456789",
         "--attribute", "region=eu", NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  cJSON *lines = json_lines(r.out);
  cJSON *o = cJSON_GetArrayItem(lines, 0);
  assert_string_equal(cJSON_GetObjectItem(o, "status")->valuestring, "PROCESSING");
  assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "status_path")));
  assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "request_id")));
  cJSON_Delete(lines);
  cli_result_free(&r);

  cJSON *root = sandbox_ledger(&f->sp);
  cJSON *aws = cJSON_GetObjectItem(root, "aws");
  assert_int_equal(cJSON_GetArraySize(aws), 1);
  cJSON *ad = cJSON_GetObjectItem(root, "appdirect");
  assert_int_equal(cJSON_GetArraySize(ad), 1);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(ad, 0), "quantity")->valuestring,
                      "123456789.123456789");
  cJSON_Delete(root);
}

static void test_dry_run_is_not_billed(void **state)
{
  cfx *f = cfx_begin(state);
  argv_b a = { 0 };
  ab_add(&a, "send", "--json", "--dry-run", NULL);
  ab_aws(&a, f);
  ab_add(&a, "--product", "prodA", "--dimension", "gb", "--quantity", "3", "--time", f->now,
         NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  cJSON *root;
  assert_int_equal(cJSON_GetArraySize(ledger_of(f, "aws", &root)), 0);
  cJSON_Delete(root);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_accepted_exit_0),
    cmocka_unit_test(test_json_shape_and_rejected_exit_1),
    cmocka_unit_test(test_bad_input_exit_2),
    cmocka_unit_test(test_retries_exhausted_exit_3_then_resend),
    cmocka_unit_test(test_bad_credentials_exit_4),
    cmocka_unit_test(test_missing_settings_are_named),
    cmocka_unit_test(test_validate_only_sends_nothing),
    cmocka_unit_test(test_allocations_and_attributes_reach_the_marketplace),
    cmocka_unit_test(test_dry_run_is_not_billed),
  };
  return cmocka_run_group_tests(tests, cfx_group_setup, cfx_group_teardown);
}
