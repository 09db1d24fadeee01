/* The example programs (examples/) run against meter-sandbox, as a user
 * would run them: each delivers its usage and says so, and the sandbox's
 * ledger holds it. */
#include "cli_fixture.h"

#include <unistd.h>

#define EXAMPLE(name) METER_BINARY_DIR "/examples/" name

static void run_example(cli_result *r, const char *path, const char *const *args,
                        const char *const *env)
{
  assert_int_equal(proc_run(r, path, args, env, NULL, 0), 0);
  if (getenv("CLI_TEST_VERBOSE"))
    cli_dump(r);
}

static const char *const tackle_env[] = { "TACKLE_CLIENT_ID=sandbox-tackle-id",
                                          "TACKLE_CLIENT_SECRET=" SANDBOX_TACKLE_SECRET, NULL };
static const char *const appdirect_env[] = { "APPDIRECT_CLIENT_ID=sandbox-appdirect-id",
                                             "APPDIRECT_CLIENT_SECRET=" SANDBOX_APPDIRECT_SECRET,
                                             NULL };
static const char *const aws_env[] = { "AWS_ACCESS_KEY_ID=AKIDSANDBOXEXAMPLE",
                                       "AWS_SECRET_ACCESS_KEY=" SANDBOX_AWS_SECRET,
                                       "AWS_REGION=us-east-1", NULL };

static void test_tackle_example(void **state)
{
  cfx *f = cfx_begin(state);
  const char *args[] = { f->sp.url, "prod-x", "cust-x", "seats", "9", NULL };
  cli_result r;
  run_example(&r, EXAMPLE("tackle"), args, tackle_env);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  assert_true(strncmp(r.out, "accepted: record ", 17) == 0);
  cli_result_free(&r);
  cJSON *root;
  cJSON *led = ledger_of(f, "tackle", &root);
  assert_int_equal(cJSON_GetArraySize(led), 1);
  cJSON *e = cJSON_GetArrayItem(led, 0);
  assert_string_equal(cJSON_GetObjectItem(e, "customer")->valuestring, "cust-x");
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "quantity")), 9);
  cJSON_Delete(root);

  /* The endpoint from METER_ENDPOINT, the record's defaults. */
  char env_endpoint[128];
  snprintf(env_endpoint, sizeof env_endpoint, "METER_ENDPOINT=%s", f->sp.url);
  const char *env2[] = { tackle_env[0], tackle_env[1], env_endpoint, NULL };
  const char *none[] = { NULL };
  run_example(&r, EXAMPLE("tackle"), none, env2);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  /* A customer Tackle does not know: said, and exit 1. */
  const char *unknown[] = { f->sp.url, "prod-x", "unknown-cust", "seats", "1", NULL };
  run_example(&r, EXAMPLE("tackle"), unknown, tackle_env);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.out, "rejected"));
  assert_non_null(strstr(r.out, "not_found"));
  cli_result_free(&r);
}

static void test_appdirect_example(void **state)
{
  cfx *f = cfx_begin(state);
  const char *args[] = { f->sp.url, "acc-9", "USER", "12.5", NULL };
  cli_result r;
  run_example(&r, EXAMPLE("appdirect"), args, appdirect_env);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "sent: accepted"));
  assert_non_null(strstr(r.out, ": successful"));
  cli_result_free(&r);
  /* An account the marketplace fails later: rejected after the status. */
  const char *bad[] = { f->sp.url, "bad-acc", NULL };
  run_example(&r, EXAMPLE("appdirect"), bad, appdirect_env);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.out, "processed: rejected"));
  assert_non_null(strstr(r.out, "BAD_DATA"));
  cli_result_free(&r);
  cJSON *root;
  cJSON *led = ledger_of(f, "appdirect", &root);
  /* The failed event is not billed: only the first is in the ledger. */
  assert_int_equal(cJSON_GetArraySize(led), 1);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(led, 0), "account")->valuestring,
                      "acc-9");
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(led, 0), "quantity")->valuestring,
                      "12.5");
  cJSON_Delete(root);
}

static void test_aws_example(void **state)
{
  cfx *f = cfx_begin(state);
  const char *args[] = { f->sp.url, "sandbox-registration-token", "gb", "30", NULL };
  cli_result r;
  run_example(&r, EXAMPLE("aws"), args, aws_env);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "credentials from environment"));
  assert_non_null(strstr(r.out, "account 111122223333"));
  assert_non_null(strstr(r.out, "accepted: MeteringRecordId"));
  cli_result_free(&r);
  const char *expired[] = { f->sp.url, "expired-token", NULL };
  run_example(&r, EXAMPLE("aws"), expired, aws_env);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.err, "ExpiredTokenException"));
  cli_result_free(&r);
  cJSON *root;
  cJSON *led = ledger_of(f, "aws", &root);
  assert_int_equal(cJSON_GetArraySize(led), 1);
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(led, 0),
                                                                  "quantity")), 30);
  cJSON_Delete(root);
}

static void test_batch_example(void **state)
{
  cfx *f = cfx_begin(state);
  const char *args[] = { f->sp.url, "60", NULL };
  cli_result r;
  run_example(&r, EXAMPLE("batch"), args, aws_env);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  /* 60 records, AWS's limit of 25 per request: three requests. */
  assert_non_null(strstr(r.out, "60 records in 3 requests: 60 accepted"));
  cli_result_free(&r);
  cJSON *root;
  assert_int_equal(cJSON_GetArraySize(ledger_of(f, "aws", &root)), 60);
  cJSON_Delete(root);
}

static void test_cpp_example(void **state)
{
  cfx *f = cfx_begin(state);
  if (access(EXAMPLE("cpp_example"), X_OK) != 0)
    skip(); /* built only with a C++ compiler */
  const char *args[] = { f->sp.url, NULL };
  cli_result r;
  run_example(&r, EXAMPLE("cpp_example"), args, tackle_env);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  assert_true(strncmp(r.out, "accepted: record ", 17) == 0);
  cli_result_free(&r);
  /* Bad credentials surface as a result, not an exception: exit 1. */
  const char *bad_env[] = { tackle_env[0], "TACKLE_CLIENT_SECRET=nope", NULL };
  run_example(&r, EXAMPLE("cpp_example"), args, bad_env);
  assert_int_equal(r.status, 1);
  cli_result_free(&r);
  cJSON *root;
  cJSON *led = ledger_of(f, "tackle", &root);
  assert_int_equal(cJSON_GetArraySize(led), 1);
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(led, 0),
                                                                  "quantity")), 7);
  cJSON_Delete(root);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tackle_example),
    cmocka_unit_test(test_appdirect_example),
    cmocka_unit_test(test_aws_example),
    cmocka_unit_test(test_batch_example),
    cmocka_unit_test(test_cpp_example),
  };
  return cmocka_run_group_tests(tests, cfx_group_setup, cfx_group_teardown);
}
