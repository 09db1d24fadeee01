/* The back-end specific commands against meter-sandbox: meter list / get
 * (Tackle), meter status (AppDirect), meter resolve-customer (AWS). */
#include "cli_fixture.h"

static void send_tackle(cfx *f, const char *customer, const char *qty)
{
  argv_b a = { 0 };
  ab_add(&a, "send", NULL);
  ab_tackle(&a, f);
  ab_add(&a, "--product", "p1", "--customer", customer, "--dimension", "users", "--quantity", qty,
         "--time", f->now, NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
}

/* Tackle credentials without -b (list/get imply tackle). */
static void tackle_creds(argv_b *a, const cfx *f)
{
  ab_add(a, "--endpoint", f->sp.url, "--client-id", "sandbox-tackle-id", "--client-secret",
         SANDBOX_TACKLE_SECRET, NULL);
}

static void test_list_and_get(void **state)
{
  cfx *f = cfx_begin(state);
  send_tackle(f, "c1", "3");
  send_tackle(f, "c2", "4");
  send_tackle(f, "c3", "5");

  /* --json: each record as Tackle sent it. */
  argv_b a = { 0 };
  ab_add(&a, "list", "--json", NULL);
  tackle_creds(&a, f);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  cJSON *lines = json_lines(r.out);
  assert_int_equal(cJSON_GetArraySize(lines), 3);
  char id[80] = "";
  cJSON *o;
  cJSON_ArrayForEach(o, lines)
  {
    if (strcmp(cJSON_GetObjectItem(o, "customer_id")->valuestring, "c2") == 0)
      snprintf(id, sizeof id, "%s", cJSON_GetObjectItem(o, "id")->valuestring);
  }
  assert_true(id[0]);
  cJSON_Delete(lines);
  cli_result_free(&r);

  /* Filters and --limit. */
  a.n = 0;
  ab_add(&a, "list", "--json", "--customer", "c1", "--customer", "c3", NULL);
  tackle_creds(&a, f);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  assert_int_equal(count_lines(r.out), 2);
  assert_null(strstr(r.out, "\"c2\""));
  cli_result_free(&r);
  a.n = 0;
  ab_add(&a, "list", "--limit", "1", NULL);
  tackle_creds(&a, f);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  assert_int_equal(count_lines(r.out), 2); /* the header and one row */
  assert_non_null(strstr(r.out, "STATUS"));
  cli_result_free(&r);

  /* get ID: the fields; --json: Tackle's object. */
  a.n = 0;
  ab_add(&a, "get", id, NULL);
  tackle_creds(&a, f);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "customer_id      c2"));
  assert_non_null(strstr(r.out, "quantity         4"));
  cli_result_free(&r);
  a.n = 0;
  ab_add(&a, "get", "--json", id, NULL);
  tackle_creds(&a, f);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  lines = json_lines(r.out);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(lines, 0), "id")->valuestring, id);
  cJSON_Delete(lines);
  cli_result_free(&r);

  /* Not found: 1; no ID: 2; another back end: 2; bad credentials: 4. */
  a.n = 0;
  ab_add(&a, "get", "00000000-0000-0000-0000-000000000000", NULL);
  tackle_creds(&a, f);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.err, "no usage record"));
  cli_result_free(&r);
  a.n = 0;
  ab_add(&a, "get", NULL);
  tackle_creds(&a, f);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 2);
  cli_result_free(&r);
  a.n = 0;
  ab_add(&a, "list", "-b", "aws", NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 2);
  cli_result_free(&r);
  a.n = 0;
  ab_add(&a, "list", NULL);
  tackle_creds(&a, f);
  ab_add(&a, "--client-secret", "nope-nope", NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 4);
  cli_result_free(&r);
}

static void test_appdirect_status(void **state)
{
  cfx *f = cfx_begin(state);
  /* Two requests: one good, one whose account the sandbox fails (BAD_DATA). */
  char ids[2][200];
  const char *accounts[2] = { "acc-1", "bad-acc" };
  for (int i = 0; i < 2; i++) {
    argv_b a = { 0 };
    ab_add(&a, "send", "--json", NULL);
    ab_appdirect(&a, f);
    ab_add(&a, "--account", accounts[i], "--pricing-unit", "USER", "--quantity", "2", NULL);
    cli_result r;
    run_meter(&r, &a, NULL, NULL);
    assert_int_equal(r.status, 0);
    cJSON *lines = json_lines(r.out);
    cJSON *o = cJSON_GetArrayItem(lines, 0);
    /* The first by request id, the second by its status path. */
    snprintf(ids[i], sizeof ids[i], "%s",
             cJSON_GetObjectItem(o, i == 0 ? "request_id" : "status_path")->valuestring);
    cJSON_Delete(lines);
    cli_result_free(&r);
  }
  const char *creds[] = { "--endpoint", f->sp.url, "--client-id", "sandbox-appdirect-id",
                          "--client-secret", SANDBOX_APPDIRECT_SECRET, NULL };

  argv_b a = { 0 };
  ab_add(&a, "status", ids[0], "--wait", "--timeout-s", "20", NULL);
  for (size_t i = 0; creds[i]; i++)
    ab_add(&a, creds[i], NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "(final)"));
  cli_result_free(&r);

  a.n = 0;
  ab_add(&a, "status", ids[1], "--wait", "--timeout-s", "20", "--json", NULL);
  for (size_t i = 0; creds[i]; i++)
    ab_add(&a, creds[i], NULL);
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 1)
    cli_dump(&r);
  assert_int_equal(r.status, 1);
  cJSON *lines = json_lines(r.out);
  cJSON *o = cJSON_GetArrayItem(lines, 0);
  assert_string_equal(cJSON_GetObjectItem(o, "state")->valuestring, "failed");
  cJSON *failed = cJSON_GetObjectItem(o, "failed_usages");
  assert_true(cJSON_GetArraySize(failed) >= 1);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(failed, 0), "error_code")->valuestring,
                      "BAD_DATA");
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(failed, 0), "account_id")->valuestring,
                      "bad-acc");
  cJSON_Delete(lines);
  cli_result_free(&r);

  /* An unknown request: 1. */
  a.n = 0;
  ab_add(&a, "status", "00000000-1111-2222-3333-444444444444", NULL);
  for (size_t i = 0; creds[i]; i++)
    ab_add(&a, creds[i], NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 1);
  cli_result_free(&r);
}

/* A request AppDirect is still processing: 0 without --wait, 3 when
 * --wait's timeout passes first. */
static void test_appdirect_status_still_processing(void **state)
{
  (void)cfx_begin(state);
  const char *args[] = { "--appdirect-processing-ms", "600000", NULL };
  sandbox_proc slow;
  assert_int_equal(sandbox_start(&slow, args), 0);
  cfx f2;
  memset(&f2, 0, sizeof f2);
  f2.sp = slow;
  argv_b a = { 0 };
  ab_add(&a, "send", "--json", NULL);
  ab_appdirect(&a, &f2);
  ab_add(&a, "--account", "acc-1", "--pricing-unit", "USER", "--quantity", "2", NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  cJSON *lines = json_lines(r.out);
  char id[128];
  snprintf(id, sizeof id, "%s",
           cJSON_GetObjectItem(cJSON_GetArrayItem(lines, 0), "request_id")->valuestring);
  cJSON_Delete(lines);
  cli_result_free(&r);

  for (int wait = 0; wait < 2; wait++) {
    a.n = 0;
    ab_add(&a, "status", id, "--json", "--endpoint", slow.url, "--client-id",
           "sandbox-appdirect-id", "--client-secret", SANDBOX_APPDIRECT_SECRET, NULL);
    if (wait)
      ab_add(&a, "--wait", "--timeout-s", "1", NULL);
    run_meter(&r, &a, NULL, NULL);
    if (r.status != (wait ? 3 : 0))
      cli_dump(&r);
    assert_int_equal(r.status, wait ? 3 : 0);
    lines = json_lines(r.out);
    cJSON *o = cJSON_GetArrayItem(lines, 0);
    assert_string_equal(cJSON_GetObjectItem(o, "state")->valuestring, "processing");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "final")));
    cJSON_Delete(lines);
    if (wait)
      assert_non_null(strstr(r.err, "still processing"));
    cli_result_free(&r);
  }
  sandbox_stop(&slow);
}

static void test_resolve_customer(void **state)
{
  cfx *f = cfx_begin(state);
  const char *creds[] = { "--endpoint", f->sp.url, "--access-key-id", "AKIDSANDBOXEXAMPLE",
                          "--secret-access-key", SANDBOX_AWS_SECRET, NULL };
  argv_b a = { 0 };
  ab_add(&a, "resolve-customer", "sandbox-registration-token", "--json", NULL);
  for (size_t i = 0; creds[i]; i++)
    ab_add(&a, creds[i], NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  cJSON *lines = json_lines(r.out);
  cJSON *o = cJSON_GetArrayItem(lines, 0);
  assert_string_equal(cJSON_GetObjectItem(o, "customer_identifier")->valuestring,
                      "sandbox-customer");
  assert_string_equal(cJSON_GetObjectItem(o, "customer_aws_account_id")->valuestring,
                      "111122223333");
  assert_string_equal(cJSON_GetObjectItem(o, "product_code")->valuestring, "sandbox-product");
  assert_string_equal(cJSON_GetObjectItem(o, "license_arn")->valuestring,
                      "arn:aws:license-manager::111122223333:license/l-sandbox");
  cJSON_Delete(lines);
  cli_result_free(&r);

  /* The token from stdin (kept out of the process list). */
  a.n = 0;
  ab_add(&a, "resolve-customer", "-", NULL);
  for (size_t i = 0; creds[i]; i++)
    ab_add(&a, creds[i], NULL);
  run_meter(&r, &a, NULL, "sandbox-registration-token\n");
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "sandbox-customer"));
  cli_result_free(&r);

  const char *refused[][2] = { { "expired-token", "ExpiredTokenException" },
                               { "garbage", "InvalidTokenException" } };
  for (int i = 0; i < 2; i++) {
    a.n = 0;
    ab_add(&a, "resolve-customer", refused[i][0], NULL);
    for (size_t k = 0; creds[k]; k++)
      ab_add(&a, creds[k], NULL);
    run_meter(&r, &a, NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, refused[i][1]));
    cli_result_free(&r);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_list_and_get),
    cmocka_unit_test(test_appdirect_status),
    cmocka_unit_test(test_appdirect_status_still_processing),
    cmocka_unit_test(test_resolve_customer),
  };
  return cmocka_run_group_tests(tests, cfx_group_setup, cfx_group_teardown);
}
