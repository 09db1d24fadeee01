/* The meter command on a PostgreSQL spool: send/batch --spool URL,
 * meter spool status|list|dead|retry|export|deliver --spool URL, several
 * back ends side by side in one database, the password never shown. */
#include "cli_fixture.h"

#include "pg_proc.h"

#include <time.h>
#include <unistd.h>

static pg_proc pg;
static int pg_up;
static int spool_counter;

/* Two hours ago: a closed hour inside AWS's window. */
static void closed_hour(char *buf, size_t size)
{
  time_t t = time(NULL) - 2 * 3600;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A fresh spool name in the cluster: URL?spool=NAME. */
static const char *spool_url(const char *name)
{
  static char urls[8][400];
  char *u = urls[spool_counter++ % 8];
  snprintf(u, 400, "%s?spool=%s-%d-%d", pg.conninfo, name, (int)getpid(), spool_counter);
  return u;
}

static cJSON *status_of(const char *spool)
{
  argv_b a = { 0 };
  ab_add(&a, "spool", "status", "--spool", spool, "--json", NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  cJSON *j = cJSON_Parse(r.out);
  assert_non_null(j);
  cli_result_free(&r);
  return j;
}

static int status_count(const char *spool, const char *key)
{
  cJSON *j = status_of(spool);
  int n = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, key));
  cJSON_Delete(j);
  return n;
}

static void send_aws(cfx *f, const char *spool, const char *customer, const char *qty,
                     const char *t, int expect_status)
{
  argv_b a = { 0 };
  ab_add(&a, "send", "--json", "--spool", spool, NULL);
  ab_aws(&a, f);
  ab_add(&a, "--product", "prodA", "--customer", customer, "--dimension", "gb", "--quantity", qty,
         "--time", t, NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != expect_status)
    cli_dump(&r);
  assert_int_equal(r.status, expect_status);
  if (expect_status == 0)
    assert_non_null(strstr(r.out, "\"outcome\":\"spooled\""));
  cli_result_free(&r);
}

/* Replicas are separate processes: two `meter send` add to one hour, the
 * database sums them, inspection needs no credentials, deliver sends once. */
static void test_send_inspect_deliver(void **state)
{
  cfx *f = cfx_begin(state);
  const char *spool = spool_url("agg");
  char t[40];
  closed_hour(t, sizeof t);
  send_aws(f, spool, "custA", "3", t, 0);
  send_aws(f, spool, "custA", "4", t, 0);
  cJSON *root;
  assert_int_equal(cJSON_GetArraySize(ledger_of(f, "aws", &root)), 0);
  cJSON_Delete(root);
  assert_int_equal(status_count(spool, "records_waiting"), 2);

  argv_b a = { 0 };
  cli_result r;
  ab_add(&a, "spool", "list", "--spool", spool, NULL);
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
  /* Delivering again sends nothing more. */
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  assert_int_equal(cJSON_GetArraySize(ledger_of(f, "aws", &root)), 1);
  cJSON_Delete(root);
}

static void test_batch_dead_letter_and_retry(void **state)
{
  cfx *f = cfx_begin(state);
  const char *spool = spool_url("dead");
  char t[40];
  closed_hour(t, sizeof t);
  char text[512];
  snprintf(text, sizeof text,
           "{\"product\":\"prodA\",\"customer\":\"c1\",\"dimension\":\"gb\",\"quantity\":5,"
           "\"time\":\"%s\"}\n"
           "{\"product\":\"prodA\",\"customer\":\"unsubscribed-9\",\"dimension\":\"gb\","
           "\"quantity\":2,\"time\":\"%s\"}\n", t, t);
  argv_b a = { 0 };
  ab_add(&a, "batch", "--spool", spool, "--deliver", "--flush-open-hours", "--wait-ms", "20000",
         NULL);
  ab_aws(&a, f);
  cli_result r;
  run_meter(&r, &a, NULL, text);
  if (r.status != 1)
    cli_dump(&r);
  assert_int_equal(r.status, 1); /* one refused: a dead letter */
  cli_result_free(&r);

  a.n = 0;
  ab_add(&a, "spool", "dead", "--spool", spool, "--json", NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 0);
  cJSON *lines = json_lines(r.out);
  assert_int_equal(cJSON_GetArraySize(lines), 1);
  cJSON *d = cJSON_GetArrayItem(lines, 0);
  char *dtext = cJSON_PrintUnformatted(d);
  assert_non_null(strstr(dtext, "CustomerNotSubscribed"));
  cJSON_free(dtext);
  char key[80];
  snprintf(key, sizeof key, "%s", cJSON_GetObjectItem(d, "idempotency_key")->valuestring);
  cJSON_Delete(lines);
  cli_result_free(&r);

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
  assert_int_equal(status_count(spool, "pending"), 1);
  assert_int_equal(status_count(spool, "delivered"), 1);
}

/* One database, one spool name, two back ends: kept apart; inspection
 * asks which one is meant. */
static void test_back_ends_side_by_side(void **state)
{
  cfx *f = cfx_begin(state);
  const char *spool = spool_url("shared");
  char t[40];
  closed_hour(t, sizeof t);
  send_aws(f, spool, "custA", "3", t, 0);
  argv_b a = { 0 };
  ab_add(&a, "send", "--json", "--spool", spool, NULL);
  ab_appdirect(&a, f);
  ab_add(&a, "--account", "acc-1", "--pricing-unit", "USER", "--quantity", "5", NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);

  a.n = 0;
  ab_add(&a, "spool", "status", "--spool", spool, NULL);
  run_meter(&r, &a, NULL, NULL);
  assert_true(r.status != 0);
  assert_non_null(strstr(r.err, "backend=NAME"));
  cli_result_free(&r);
  char aws_url[460], ad_url[460];
  snprintf(aws_url, sizeof aws_url, "%s&backend=aws", spool);
  snprintf(ad_url, sizeof ad_url, "%s&backend=appdirect", spool);
  assert_int_equal(status_count(aws_url, "records_waiting"), 1);
  assert_int_equal(status_count(ad_url, "records_waiting"), 1);

  /* Delivering the AppDirect spool leaves the AWS one alone. */
  a.n = 0;
  ab_add(&a, "spool", "deliver", "--spool", spool, "--until-empty", "--wait-ms", "20000", NULL);
  ab_appdirect(&a, f);
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  assert_int_equal(status_count(ad_url, "delivered"), 1);
  assert_int_equal(status_count(aws_url, "records_waiting"), 1);
  cJSON *root;
  assert_int_equal(cJSON_GetArraySize(ledger_of(f, "appdirect", &root)), 1);
  cJSON_Delete(root);
  assert_int_equal(cJSON_GetArraySize(ledger_of(f, "aws", &root)), 0);
  cJSON_Delete(root);
}

/* A password in the URL reaches neither logs nor output, at -vv. */
static void test_password_not_shown(void **state)
{
  cfx *f = cfx_begin(state);
  char url[400];
  snprintf(url, sizeof url, "postgresql://meter:Pg-Secret-4711@127.0.0.1:%d/meter?spool=pw",
           pg.port);
  argv_b a = { 0 };
  ab_add(&a, "send", "-vv", "--spool", url, "--deliver", "--wait-ms", "20000", NULL);
  ab_appdirect(&a, f);
  ab_add(&a, "--account", "acc-1", "--pricing-unit", "USER", "--quantity", "5", NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  assert_null(strstr(r.out, "Pg-Secret-4711"));
  assert_null(strstr(r.err, "Pg-Secret-4711"));
  /* The sender names its spool at -vv: the URL is there, its password not. */
  assert_non_null(strstr(r.err, "127.0.0.1"));
  assert_non_null(strstr(r.err, "[redacted]"));
  cli_result_free(&r);
}

/* An unreachable server: a clear failure naming it, without a password. */
static void test_unreachable_server(void **state)
{
  cfx *f = cfx_begin(state);
  argv_b a = { 0 };
  ab_add(&a, "spool", "status", "--spool",
         "postgresql://meter@127.0.0.1:1/meter?connect_timeout=2", NULL);
  cli_result r;
  run_meter(&r, &a, NULL, NULL);
  assert_true(r.status != 0);
  assert_non_null(strstr(r.err, "PostgreSQL"));
  assert_non_null(strstr(r.err, "127.0.0.1"));
  cli_result_free(&r);
  (void)f;
}

static int group_setup(void **state)
{
  if (pg_start(&pg) != 0)
    return -1;
  pg_up = 1;
  return cfx_group_setup(state);
}

static int group_teardown(void **state)
{
  if (pg_up)
    pg_stop(&pg);
  return cfx_group_teardown(state);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_send_inspect_deliver),
    cmocka_unit_test(test_batch_dead_letter_and_retry),
    cmocka_unit_test(test_back_ends_side_by_side),
    cmocka_unit_test(test_password_not_shown),
    cmocka_unit_test(test_unreachable_server),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
