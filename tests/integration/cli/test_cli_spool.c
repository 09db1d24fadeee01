/* Reliable mode from the shell against meter-sandbox: send/batch --spool
 * [--deliver], and meter spool deliver|status|list|dead|retry|export. */
#include "cli_fixture.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

/* Two hours ago: an hour that has closed, inside AWS's 24-hour window. */
static void closed_hour(char *buf, size_t size)
{
  time_t t = time(NULL) - 2 * 3600;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *spool_path(const char *name)
{
  static char paths[8][512];
  static int n;
  char *p = paths[n++ % 8];
  snprintf(p, 512, "%s/%s-%ld", cli_home(), name, (long)time(NULL));
  return p;
}

static cJSON *spool_status(const char *spool)
{
  argv_b a = { 0 };
  ab_add(&a, "spool", "status", "--spool", spool, "--json", NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  cJSON *j = cJSON_Parse(r.out);
  assert_non_null(j);
  cli_result_free(&r);
  return j;
}

static int status_count(const char *spool, const char *key)
{
  cJSON *j = spool_status(spool);
  int n = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, key));
  cJSON_Delete(j);
  return n;
}

static void test_spool_then_deliver_with_aggregation(void **state)
{
  cfx *f = cfx_begin(state);
  const char *spool = spool_path("agg");
  char t[40];
  closed_hour(t, sizeof t);
  /* Two records of one customer, dimension and hour: one report of 7. */
  const char *qty[] = { "3", "4" };
  for (int i = 0; i < 2; i++) {
    argv_b a = { 0 };
    ab_add(&a, "send", "--json", "--spool", spool, NULL);
    ab_aws(&a, f);
    ab_add(&a, "--product", "prodA", "--customer", "custA", "--dimension", "gb", "--quantity",
           qty[i], "--time", t, NULL);
    cli_result r;
    run_meter(&r, &a, NULL, NULL);
    if (r.status != 0)
      cli_dump(&r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "\"outcome\":\"spooled\""));
    cli_result_free(&r);
  }
  /* Stored, not sent. */
  cJSON *root;
  assert_int_equal(cJSON_GetArraySize(ledger_of(f, "aws", &root)), 0);
  cJSON_Delete(root);
  assert_int_equal(status_count(spool, "records_waiting"), 2);

  /* list (table and JSON) and export need no credentials. */
  argv_b a = { 0 };
  ab_add(&a, "spool", "list", "--spool", spool, NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "aggregate"));
  cli_result_free(&r);
  a.n = 0;
  ab_add(&a, "spool", "export", "--spool", spool, NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  cJSON *lines = json_lines(r.out);
  assert_int_equal(cJSON_GetArraySize(lines), 1);
  cJSON *rec = cJSON_GetObjectItem(cJSON_GetArrayItem(lines, 0), "record");
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(rec, "quantity")), 7);
  cJSON_Delete(lines);
  cli_result_free(&r);

  /* deliver --until-empty sends it and stops. */
  a.n = 0;
  ab_add(&a, "spool", "deliver", "--spool", spool, "--until-empty", "--wait-ms", "20000", NULL);
  ab_aws(&a, f);
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  cJSON *led = ledger_of(f, "aws", &root);
  assert_int_equal(cJSON_GetArraySize(led), 1);
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(led, 0),
                                                                  "quantity")), 7);
  cJSON_Delete(root);
  assert_int_equal(status_count(spool, "delivered"), 1);
  assert_int_equal(status_count(spool, "records_waiting"), 0);
}

static void test_batch_spool_deliver_with_a_bad_line(void **state)
{
  cfx *f = cfx_begin(state);
  const char *spool = spool_path("batch");
  const char *text = "{\"account\": \"acc-1\", \"pricing_unit\": \"USER\", \"quantity\": 1}\n"
                     "{\"account\": \"acc-2\", \"pricing_unit\": \"USER\", \"quantity\": 2}\n"
                     "{\"account\": \"acc-3\", \"pricing_unit\": \"USER\", \"quantity\": }\n"
                     "{\"account\": \"acc-4\", \"pricing_unit\": \"USER\", \"quantity\": 4}\n";
  argv_b a = { 0 };
  ab_add(&a, "batch", "--json", "--spool", spool, "--deliver", "--wait-ms", "20000", NULL);
  ab_appdirect(&a, f);
  cli_result r;
  run_meter(&r, &a, NULL, text);
  if (r.status != 2)
    cli_dump(&r);
  assert_int_equal(r.status, 2);
  cJSON *lines = json_lines(r.out);
  assert_int_equal(cJSON_GetArraySize(lines), 4);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(lines, 2), "outcome")->valuestring,
                      "invalid");
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(lines, 3), "outcome")->valuestring,
                      "spooled");
  cJSON_Delete(lines);
  cli_result_free(&r);
  cJSON *root;
  assert_int_equal(cJSON_GetArraySize(ledger_of(f, "appdirect", &root)), 3);
  cJSON_Delete(root);
  assert_int_equal(status_count(spool, "records_waiting"), 0);
}

static void test_dead_letters_and_retry(void **state)
{
  cfx *f = cfx_begin(state);
  const char *spool = spool_path("dead");
  char t[40];
  closed_hour(t, sizeof t);
  argv_b a = { 0 };
  ab_add(&a, "send", "--spool", spool, "--deliver", "--wait-ms", "20000", NULL);
  ab_aws(&a, f);
  ab_add(&a, "--product", "prodA", "--customer", "unsubscribed-9", "--dimension", "gb",
         "--quantity", "2", "--time", t, NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 1)
    cli_dump(&r);
  assert_int_equal(r.status, 1); /* refused by the marketplace: a dead letter */
  assert_non_null(strstr(r.err, "dead letter"));
  cli_result_free(&r);

  a.n = 0;
  ab_add(&a, "spool", "dead", "--spool", spool, "--json", NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  cJSON *lines = json_lines(r.out);
  assert_int_equal(cJSON_GetArraySize(lines), 1);
  cJSON *d = cJSON_GetArrayItem(lines, 0);
  assert_string_equal(cJSON_GetObjectItem(d, "state")->valuestring, "dead");
  char *dtext = cJSON_PrintUnformatted(d);
  assert_non_null(strstr(dtext, "CustomerNotSubscribed"));
  cJSON_free(dtext);
  char key[80];
  snprintf(key, sizeof key, "%s", cJSON_GetObjectItem(d, "idempotency_key")->valuestring);
  cJSON_Delete(lines);
  cli_result_free(&r);
  a.n = 0;
  ab_add(&a, "spool", "list", "--spool", spool, "--state", "dead", NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "CustomerNotSubscribed"));
  cli_result_free(&r);

  /* retry: an unknown key is bad input; the dead letter's key requeues it. */
  a.n = 0;
  ab_add(&a, "spool", "retry", "--spool", spool, "no-such-key", NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 2);
  cli_result_free(&r);
  a.n = 0;
  ab_add(&a, "spool", "retry", "--spool", spool, key, "--json", NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "\"requeued\":1"));
  cli_result_free(&r);
  assert_int_equal(status_count(spool, "dead"), 0);
  a.n = 0;
  ab_add(&a, "spool", "list", "--spool", spool, "--state", "bogus", NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 2);
  cli_result_free(&r);
}

static void test_marketplace_down_then_back(void **state)
{
  cfx *f = cfx_begin(state);
  const char *spool = spool_path("down");
  assert_int_equal(sandbox_fault(&f->sp, "{\"route\":\"appdirect.usage\",\"kind\":\"error503\"}"), 0);
  argv_b a = { 0 };
  ab_add(&a, "send", "--spool", spool, "--deliver", "--wait-ms", "700", "--max-attempts", "1",
         NULL);
  ab_appdirect(&a, f);
  ab_add(&a, "--account", "acc-1", "--pricing-unit", "USER", "--quantity", "5", NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 3)
    cli_dump(&r);
  assert_int_equal(r.status, 3);
  assert_non_null(strstr(r.err, "not delivered yet"));
  cli_result_free(&r);
  assert_int_equal(status_count(spool, "records_waiting"), 1);

  /* Back up: the sender run as a service delivers it; SIGTERM stops it. */
  clear_faults(f);
  a.n = 0;
  ab_add(&a, "spool", "deliver", "--spool", spool, NULL);
  ab_appdirect(&a, f);
  cli_proc p;
  assert_int_equal(cli_start(&p, a.v, NULL), 0);
  cJSON *root = NULL;
  for (int i = 0; i < 100; i++) { /* up to 10 s */
    cJSON_Delete(root);
    if (cJSON_GetArraySize(ledger_of(f, "appdirect", &root)) == 1)
      break;
    usleep(100000);
  }
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "appdirect")), 1);
  cJSON_Delete(root);
  assert_int_equal(cli_stop(&p, SIGTERM, &r), 0);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  assert_int_equal(status_count(spool, "records_waiting"), 0);
  assert_int_equal(status_count(spool, "delivered"), 1);
}

static void test_refused_credentials_exit_4(void **state)
{
  cfx *f = cfx_begin(state);
  const char *spool = spool_path("creds");
  argv_b a = { 0 };
  ab_add(&a, "send", "--spool", spool, "--deliver", "--wait-ms", "1500", NULL);
  ab_appdirect(&a, f);
  ab_add(&a, "--client-secret", "not-it", "--account", "acc-1", "--pricing-unit", "USER",
         "--quantity", "5", NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 4)
    cli_dump(&r);
  assert_int_equal(r.status, 4);
  assert_null(strstr(r.err, "not-it"));
  cli_result_free(&r);
  /* Still spooled, for when the credentials are fixed. */
  assert_int_equal(status_count(spool, "records_waiting"), 1);
  /* Inspection without a spool is a usage error. */
  a.n = 0;
  ab_add(&a, "spool", "status", NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 2);
  cli_result_free(&r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_spool_then_deliver_with_aggregation),
    cmocka_unit_test(test_batch_spool_deliver_with_a_bad_line),
    cmocka_unit_test(test_dead_letters_and_retry),
    cmocka_unit_test(test_marketplace_down_then_back),
    cmocka_unit_test(test_refused_credentials_exit_4),
  };
  return cmocka_run_group_tests(tests, cfx_group_setup, cfx_group_teardown);
}
