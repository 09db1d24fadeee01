/* meter batch against meter-sandbox: a 5,000-line file with a bad line in
 * the middle, every kind of bad line, exact numbers, flags applying to every
 * line, the exit-status precedence, stdin, progress and the summary. */
#include "cli_fixture.h"

/* The value of key in the --json result for `line`, found by "line". */
static cJSON *result_for_line(cJSON *lines, int line)
{
  cJSON *o;
  cJSON_ArrayForEach(o, lines)
  {
    if ((int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "line")) == line)
      return o;
  }
  fail_msg("no result for line %d", line);
  return NULL;
}

static const char *outcome_of(cJSON *lines, int line)
{
  return cJSON_GetObjectItem(result_for_line(lines, line), "outcome")->valuestring;
}

static void test_large_file_with_a_bad_line_in_the_middle(void **state)
{
  cfx *f = cfx_begin(state);
  const int n = 5000, bad = 2500;
  size_t cap = (size_t)n * 160;
  char *text = malloc(cap);
  size_t len = 0;
  long sum = 0;
  for (int i = 1; i <= n; i++) {
    if (i == bad) {
      len += (size_t)snprintf(text + len, cap - len, "{\"customer\": \"c-%d\", \"quantity\": 1,\n",
                              i);
      continue;
    }
    int q = i % 7 + 1;
    sum += q;
    len += (size_t)snprintf(text + len, cap - len,
                            "{\"customer\": \"c-%d\", \"dimension\": \"users\", \"quantity\": %d, "
                            "\"time\": \"%s\"}\n", i, q, f->now);
  }
  const char *path = cli_write_file("big.jsonl", text, 0600);
  free(text);

  argv_b a = { 0 };
  ab_add(&a, "batch", "--json", "--file", path, "--product", "p1", NULL);
  ab_tackle(&a, f);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 2)
    cli_dump(&r);
  assert_int_equal(r.status, 2);

  /* One result per line, in line order. */
  cJSON *lines = json_lines(r.out);
  assert_int_equal(cJSON_GetArraySize(lines), n);
  int expect = 1, accepted = 0;
  cJSON *o;
  cJSON_ArrayForEach(o, lines)
  {
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "line")), expect);
    if (expect == bad) {
      assert_string_equal(cJSON_GetObjectItem(o, "outcome")->valuestring, "invalid");
      assert_string_equal(cJSON_GetObjectItem(o, "error_code")->valuestring, "malformed_json");
    } else {
      accepted += strcmp(cJSON_GetObjectItem(o, "outcome")->valuestring, "accepted") == 0;
    }
    expect++;
  }
  assert_int_equal(accepted, n - 1);
  cJSON_Delete(lines);
  /* The bad line is named on stderr, with a summary. */
  assert_non_null(strstr(r.err, "line 2500:"));
  assert_non_null(strstr(r.err, "4999 delivered"));
  assert_non_null(strstr(r.err, "1 bad lines"));
  cli_result_free(&r);

  cJSON *root;
  cJSON *led = ledger_of(f, "tackle", &root);
  assert_int_equal(cJSON_GetArraySize(led), n - 1);
  long got = 0;
  cJSON_ArrayForEach(o, led)
  {
    got += (long)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "quantity"));
  }
  assert_int_equal(got, sum);
  cJSON_Delete(root);
}

static void test_every_kind_of_bad_line(void **state)
{
  cfx *f = cfx_begin(state);
  char text[2048];
  snprintf(text, sizeof text,
           "{\"account\": \"acc-1\", \"pricing_unit\": \"USER\", \"quantity\": 1}\n" /* 1 ok */
           "not json\n"                                                              /* 2 */
           "{\"account\": \"acc-1\", \"colour\": \"red\", \"quantity\": 1}\n"        /* 3 */
           "{\"account\": \"acc-1\", \"pricing_unit\": \"USER\", \"quantity\": \"-1\"}\n" /* 4 */
           "{\"account\": \"acc-1\", \"pricing_unit\": \"USER\", \"quantity\": 1e400}\n" /* 5 */
           "{\"account\": \"acc-1\", \"account\": \"acc-2\", \"quantity\": 1}\n"     /* 6 */
           "\n"                                                                      /* 7 blank */
           "[1, 2]\n"                                                                /* 8 */
           "{\"account\": \"acc-1\", \"pricing_unit\": \"USER\", \"quantity\": 2}\r\n" /* 9 ok */
           "{\"account\": \"acc-1\", \"pricing_unit\": \"USER\", \"quantity\": 1,}\n" /* 10 */
           "{\"account\": \"acc-1\", \"pricing_unit\": [\"USER\"], \"quantity\": 1}\n" /* 11 */);
  argv_b a = { 0 };
  ab_add(&a, "batch", "--json", NULL);
  ab_appdirect(&a, f);
  cli_result r;
  run_meter(&r, &a, NULL, text); /* from stdin */
  if (r.status != 2)
    cli_dump(&r);
  assert_int_equal(r.status, 2);
  cJSON *lines = json_lines(r.out);
  assert_int_equal(cJSON_GetArraySize(lines), 10); /* the blank line is skipped */
  assert_string_equal(outcome_of(lines, 1), "accepted");
  assert_string_equal(outcome_of(lines, 9), "accepted");
  struct {
    int line;
    const char *code;
    const char *in_message;
  } want[] = {
    { 2, "malformed_json", "JSON object" },
    { 3, "unknown_key", "colour" },
    { 4, "invalid_value", "quantity" },
    { 5, "invalid_value", "pass it as a string" },
    { 6, "malformed_json", "duplicate key" },
    { 8, "malformed_json", "object" },
    { 10, "malformed_json", "column" },
    { 11, "invalid_value", "pricing_unit" },
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    cJSON *o = result_for_line(lines, want[i].line);
    assert_string_equal(cJSON_GetObjectItem(o, "outcome")->valuestring, "invalid");
    assert_string_equal(cJSON_GetObjectItem(o, "error_code")->valuestring, want[i].code);
    const char *msg = cJSON_GetObjectItem(o, "message")->valuestring;
    if (!strstr(msg, want[i].in_message))
      fail_msg("line %d: \"%s\" does not mention \"%s\"", want[i].line, msg, want[i].in_message);
    char where[32];
    snprintf(where, sizeof where, "line %d:", want[i].line);
    assert_non_null(strstr(r.err, where));
  }
  cJSON_Delete(lines);
  cli_result_free(&r);
  cJSON *root;
  cJSON *led = ledger_of(f, "appdirect", &root);
  assert_int_equal(cJSON_GetArraySize(led), 2);
  cJSON_Delete(root);
}

static void test_numbers_stay_exact(void **state)
{
  cfx *f = cfx_begin(state);
  const char *text =
    "{\"account\": \"acc-1\", \"pricing_unit\": \"USER\", \"quantity\": 123456789.123456789}\n"
    "{\"account\": \"acc-2\", \"pricing_unit\": \"USER\", \"quantity\": 1.5e2}\n"
    "{\"account\": \"acc-3\", \"pricing_unit\": \"USER\", \"quantity\": \"0.1\"}\n"
    "{\"account\": \"acc-4\", \"pricing_unit\": \"USER\", \"quantity\": 25E-1}\n"
    "{\"account\": \"acc-5\", \"custom_unit\": \"SEATS\", \"price\": 0.3, \"currency\": \"EUR\","
    " \"quantity\": 9007199254740993, \"attribute\": {\"team\": \"red\"}}\n";
  argv_b a = { 0 };
  ab_add(&a, "batch", "--json", NULL);
  ab_appdirect(&a, f);
  cli_result r;
  run_meter(&r, &a, NULL, text);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  cJSON *root;
  cJSON *led = ledger_of(f, "appdirect", &root);
  assert_int_equal(cJSON_GetArraySize(led), 5);
  const char *want[][2] = { { "acc-1", "123456789.123456789" }, { "acc-2", "150" },
                            { "acc-3", "0.1" }, { "acc-4", "2.5" },
                            { "acc-5", "9007199254740993" } };
  for (size_t i = 0; i < 5; i++) {
    int found = 0;
    cJSON *o;
    cJSON_ArrayForEach(o, led)
    {
      if (strcmp(cJSON_GetObjectItem(o, "account")->valuestring, want[i][0]) == 0) {
        assert_string_equal(cJSON_GetObjectItem(o, "quantity")->valuestring, want[i][1]);
        found = 1;
      }
    }
    assert_true(found);
  }
  cJSON_Delete(root);
}

static void test_flags_apply_to_every_line_and_win(void **state)
{
  cfx *f = cfx_begin(state);
  char text[1024];
  snprintf(text, sizeof text,
           "{\"customer\": \"c1\", \"quantity\": 1, \"time\": \"%s\"}\n"
           "{\"customer\": \"c2\", \"quantity\": 2, \"time\": \"%s\", \"product\": \"other\"}\n",
           f->now, f->now);
  const char *path = cli_write_file("flags.jsonl", text, 0600);
  argv_b a = { 0 };
  ab_add(&a, "batch", "-f", path, "--product", "p1", "--dimension", "users", "--test", "accepted",
         NULL);
  ab_tackle(&a, f);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  /* Table output: a header and one row per line. */
  assert_non_null(strstr(r.out, "LINE"));
  assert_int_equal(count_lines(r.out), 3);
  cli_result_free(&r);
  cJSON *root;
  cJSON *led = ledger_of(f, "tackle", &root);
  assert_int_equal(cJSON_GetArraySize(led), 2);
  cJSON *o;
  cJSON_ArrayForEach(o, led)
  {
    assert_string_equal(cJSON_GetObjectItem(o, "product")->valuestring, "p1");
    assert_string_equal(cJSON_GetObjectItem(o, "test")->valuestring, "accepted");
  }
  cJSON_Delete(root);

  /* One key for every line would be wrong: refused. */
  a.n = 0;
  ab_add(&a, "batch", "-f", path, "--idempotency-key", "k1", NULL);
  ab_tackle(&a, f);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "idempotency"));
  cli_result_free(&r);
}

static void test_exit_status_precedence(void **state)
{
  cfx *f = cfx_begin(state);
  char text[1024];
  snprintf(text, sizeof text,
           "{\"customer\": \"custA\", \"quantity\": 1, \"time\": \"%s\"}\n"
           "{\"customer\": \"unsubscribed-1\", \"quantity\": 1, \"time\": \"%s\"}\n"
           "{\"customer\": 7, \"quantity\": 1, \"time\": \"%s\"}\n"
           "{oops}\n",
           f->now, f->now, f->now);
  /* rejected (1) + bad line (2) -> 2 */
  argv_b a = { 0 };
  ab_add(&a, "batch", "--json", "--product", "prodA", "--dimension", "gb", NULL);
  ab_aws(&a, f);
  cli_result r;
  run_meter(&r, &a, NULL, text);
  if (r.status != 2)
    cli_dump(&r);
  assert_int_equal(r.status, 2);
  cJSON *lines = json_lines(r.out);
  assert_string_equal(outcome_of(lines, 1), "accepted");
  assert_string_equal(outcome_of(lines, 2), "rejected");
  assert_string_equal(outcome_of(lines, 3), "accepted"); /* a number as a customer id */
  assert_string_equal(outcome_of(lines, 4), "invalid");
  cJSON_Delete(lines);
  cli_result_free(&r);

  /* not delivered (3) outranks the bad line (2) */
  assert_int_equal(sandbox_fault(&f->sp, "{\"route\":\"aws.BatchMeterUsage\",\"kind\":\"error500\"}"),
                   0);
  a.n = 0;
  ab_add(&a, "batch", "--json", "--product", "prodA", "--dimension", "gb", "--max-attempts", "2",
         NULL);
  ab_aws(&a, f);
  ab_fast_retries(&a);
  run_meter(&r, &a, NULL, text);
  if (r.status != 3)
    cli_dump(&r);
  assert_int_equal(r.status, 3);
  lines = json_lines(r.out);
  assert_string_equal(outcome_of(lines, 1), "failed");
  assert_string_equal(outcome_of(lines, 4), "invalid");
  cJSON_Delete(lines);
  assert_non_null(strstr(r.err, "safe to resend"));
  cli_result_free(&r);
  clear_faults(f);

  /* credentials (4) outrank everything, and the batch stops there. */
  char many[2048] = "";
  for (int i = 0; i < 6; i++)
    snprintf(many + strlen(many), sizeof many - strlen(many),
             "{\"customer\": \"c%d\", \"quantity\": 1, \"time\": \"%s\"}\n", i, f->now);
  strcat(many, "{bad}\n");
  a.n = 0;
  ab_add(&a, "batch", "--json", "--product", "prodA", "--dimension", "gb", "--chunk", "2", NULL);
  ab_aws(&a, f);
  ab_add(&a, "--secret-access-key", "not-the-secret", NULL);
  run_meter(&r, &a, NULL, many);
  if (r.status != 4)
    cli_dump(&r);
  assert_int_equal(r.status, 4);
  assert_int_equal(count_lines(r.out), 2); /* the first chunk only */
  assert_non_null(strstr(r.err, "stopping after line 2"));
  cli_result_free(&r);
}

static void test_allocations_in_lines_and_progress(void **state)
{
  cfx *f = cfx_begin(state);
  char text[1024];
  snprintf(text, sizeof text,
           "{\"customer\": \"custA\", \"quantity\": 12, \"time\": \"%s\", \"allocation\": "
           "[\"8:team=red\", {\"quantity\": 4, \"tags\": {\"team\": \"blue\"}}]}\n"
           "{\"customer\": \"custB\", \"quantity\": 5, \"time\": \"%s\", \"allocation\": "
           "\"5:team=green\"}\n"
           "{\"customer\": \"custC\", \"quantity\": 5, \"time\": \"%s\", \"allocation\": "
           "\"4:team=green\"}\n",
           f->now, f->now, f->now);
  argv_b a = { 0 };
  ab_add(&a, "batch", "--json", "--progress", "--product", "prodA", "--dimension", "gb", NULL);
  ab_aws(&a, f);
  cli_result r;
  run_meter(&r, &a, NULL, text);
  if (r.status != 2)
    cli_dump(&r);
  assert_int_equal(r.status, 2); /* line 3's allocations do not sum to its quantity */
  cJSON *lines = json_lines(r.out);
  assert_string_equal(outcome_of(lines, 1), "accepted");
  assert_string_equal(outcome_of(lines, 2), "accepted");
  assert_string_equal(outcome_of(lines, 3), "invalid");
  cJSON_Delete(lines);
  assert_non_null(strstr(r.err, "meter batch: 3 lines, 2 records sent"));
  cli_result_free(&r);
  cJSON *root;
  assert_int_equal(cJSON_GetArraySize(ledger_of(f, "aws", &root)), 2);
  cJSON_Delete(root);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_large_file_with_a_bad_line_in_the_middle),
    cmocka_unit_test(test_every_kind_of_bad_line),
    cmocka_unit_test(test_numbers_stay_exact),
    cmocka_unit_test(test_flags_apply_to_every_line_and_win),
    cmocka_unit_test(test_exit_status_precedence),
    cmocka_unit_test(test_allocations_in_lines_and_progress),
  };
  return cmocka_run_group_tests(tests, cfx_group_setup, cfx_group_teardown);
}
