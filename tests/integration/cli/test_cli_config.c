/* Where the command's configuration comes from: flags > environment >
 * config file, proven by which credentials win against the sandbox; the
 * config file's format, errors and permission warning; and no secret in any
 * output, even with -vv. */
#include "cli_fixture.h"

#include <sys/stat.h>

static const char *config_with(cfx *f, const char *name, const char *tackle_secret, int mode)
{
  char text[1024];
  snprintf(text, sizeof text,
           "# written by test_cli_config\n"
           "[meter]\n"
           "backend = tackle\n"
           "endpoint = %s\n"
           "max_attempts = 2\n"
           "\n"
           "[tackle]\n"
           "client_id = sandbox-tackle-id\n"
           "client_secret = \"%s\"\n"
           "[aws]\n"
           "access_key_id = AKIDSANDBOXEXAMPLE\n"
           "secret_access_key = wrong-aws-secret-in-file\n",
           f->sp.url, tackle_secret);
  return cli_write_file(name, text, mode);
}

/* meter send of one Tackle record with only the given extra arguments. */
static void send_tackle(cli_result *r, cfx *f, const char *const *extra, const char *const *env)
{
  argv_b a = { 0 };
  ab_add(&a, "send", "-v", "--product", "p1", "--customer", "c1", "--dimension", "users",
         "--quantity", "1", "--time", f->now, NULL);
  for (size_t i = 0; extra && extra[i]; i++)
    ab_add(&a, extra[i], NULL);
  run_meter(r, &a, env, NULL);
}

static void test_file_then_env_then_flag(void **state)
{
  cfx *f = cfx_begin(state);
  const char *good = config_with(f, "good.conf", SANDBOX_TACKLE_SECRET, 0600);
  const char *bad = config_with(f, "bad.conf", "wrong-in-file", 0600);
  char cfg_good[600], cfg_bad[600];
  snprintf(cfg_good, sizeof cfg_good, "METER_CONFIG=%s", good);
  snprintf(cfg_bad, sizeof cfg_bad, "METER_CONFIG=%s", bad);
  cli_result r;

  /* The file alone: back end, endpoint and credentials. */
  const char *env1[] = { cfg_good, NULL };
  send_tackle(&r, f, NULL, env1);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  char from_file[700];
  snprintf(from_file, sizeof from_file, "client_secret from %s", good);
  assert_non_null(strstr(r.err, from_file));
  cli_result_free(&r);

  /* The environment outranks the file ... */
  const char *env2[] = { cfg_good, "TACKLE_CLIENT_SECRET=wrong-in-env", NULL };
  send_tackle(&r, f, NULL, env2);
  assert_int_equal(r.status, 4);
  assert_non_null(strstr(r.err, "client_secret from TACKLE_CLIENT_SECRET"));
  cli_result_free(&r);
  const char *env3[] = { cfg_bad, "TACKLE_CLIENT_SECRET=" SANDBOX_TACKLE_SECRET, NULL };
  send_tackle(&r, f, NULL, env3);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);

  /* ... and a flag outranks the environment. */
  const char *flag_good[] = { "--client-secret", SANDBOX_TACKLE_SECRET, NULL };
  const char *env4[] = { cfg_bad, "TACKLE_CLIENT_SECRET=wrong-in-env", NULL };
  send_tackle(&r, f, flag_good, env4);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.err, "client_secret from the command line"));
  cli_result_free(&r);
  const char *flag_bad[] = { "--client-secret", "wrong-in-flag", NULL };
  const char *env5[] = { cfg_good, "TACKLE_CLIENT_SECRET=" SANDBOX_TACKLE_SECRET, NULL };
  send_tackle(&r, f, flag_bad, env5);
  assert_int_equal(r.status, 4);
  cli_result_free(&r);

  /* --config wins over METER_CONFIG; --set is a flag too. */
  const char *cfg_flag[] = { "--config", good, NULL };
  const char *env6[] = { cfg_bad, NULL };
  send_tackle(&r, f, cfg_flag, env6);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  const char *set_bad[] = { "--set", "client_secret=wrong-in-set", NULL };
  send_tackle(&r, f, set_bad, env1);
  assert_int_equal(r.status, 4);
  cli_result_free(&r);

  /* Generic options from the file: max_attempts = 2 bounds the retries. */
  assert_int_equal(sandbox_fault(&f->sp, "{\"route\":\"tackle.put\",\"kind\":\"error503\"}"), 0);
  const char *fast[] = { "--json", "--backoff-base-ms", "1", "--backoff-max-ms", "2", NULL };
  send_tackle(&r, f, fast, env1);
  assert_int_equal(r.status, 3);
  assert_non_null(strstr(r.out, "\"attempts\":2"));
  cli_result_free(&r);
}

static void test_aws_environment_outranks_the_file(void **state)
{
  cfx *f = cfx_begin(state);
  const char *cfg = config_with(f, "aws.conf", SANDBOX_TACKLE_SECRET, 0600);
  argv_b a = { 0 };
  ab_add(&a, "send", "-v", "--config", cfg, "-b", "aws", "--product", "prodA", "--customer",
         "custA", "--dimension", "gb", "--quantity", "1", "--time", f->now, NULL);
  cli_result r;
  /* The file's secret is wrong: alone, it is refused. */
  run_meter(&r, &a, NULL, NULL);
  assert_int_equal(r.status, 4);
  cli_result_free(&r);
  /* The standard variables (read by the library) outrank the file. */
  const char *env[] = { "AWS_ACCESS_KEY_ID=AKIDSANDBOXEXAMPLE",
                        "AWS_SECRET_ACCESS_KEY=" SANDBOX_AWS_SECRET, "AWS_REGION=us-east-1",
                        NULL };
  run_meter(&r, &a, env, NULL);
  if (r.status != 0)
    cli_dump(&r);
  assert_int_equal(r.status, 0);
  assert_null(strstr(r.err, "secret_access_key from"));
  cli_result_free(&r);
}

static void test_config_file_errors_and_permissions(void **state)
{
  cfx *f = cfx_begin(state);
  cli_result r;
  struct {
    const char *text;
    const char *want;
  } bad[] = {
    { "[tackle]\nclient_id\n", ":2: expected key = value" },
    { "client_id = x\n", ":1: key before any [section]" },
    { "[meter]\ncolour = blue\n", ":2: unknown key 'colour' in [meter]" },
    { "[tackle]\nclient_idd = x\n", "unknown key 'client_idd' in [tackle] (known: endpoint, "
                                    "client_id" },
    { "[tackle\n", ":1: expected [section]" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *path = cli_write_file("broken.conf", bad[i].text, 0600);
    const char *extra[] = { "--config", path, "-b", "tackle", NULL };
    send_tackle(&r, f, extra, NULL);
    if (r.status != 4 || !strstr(r.err, bad[i].want))
      cli_dump(&r);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, bad[i].want));
    cli_result_free(&r);
  }
  /* A --config that does not exist is an error; the default file is optional. */
  const char *missing[] = { "--config", "/nonexistent/meter.conf", NULL };
  send_tackle(&r, f, missing, NULL);
  assert_int_equal(r.status, 4);
  assert_non_null(strstr(r.err, "cannot read config file /nonexistent/meter.conf"));
  cli_result_free(&r);

  /* Secrets in a file others can read: a warning, and it still works. */
  const char *open_cfg = config_with(f, "open.conf", SANDBOX_TACKLE_SECRET, 0644);
  const char *extra[] = { "--config", open_cfg, NULL };
  send_tackle(&r, f, extra, NULL);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.err, "readable by group or others"));
  assert_non_null(strstr(r.err, "chmod 600"));
  cli_result_free(&r);
  const char *closed_cfg = config_with(f, "closed.conf", SANDBOX_TACKLE_SECRET, 0600);
  const char *extra2[] = { "--config", closed_cfg, NULL };
  send_tackle(&r, f, extra2, NULL);
  assert_int_equal(r.status, 0);
  assert_null(strstr(r.err, "readable by group"));
  cli_result_free(&r);

  /* The default file is found through HOME. */
  char dir[600];
  snprintf(dir, sizeof dir, "%s/.config", cli_home());
  mkdir(dir, 0700);
  snprintf(dir, sizeof dir, "%s/.config/meter", cli_home());
  mkdir(dir, 0700);
  char text[1024];
  snprintf(text, sizeof text, "[meter]\nbackend = tackle\nendpoint = %s\n[tackle]\nclient_id = "
           "sandbox-tackle-id\nclient_secret = %s\n", f->sp.url, SANDBOX_TACKLE_SECRET);
  const char *def = cli_write_file(".config/meter/config", text, 0600);
  send_tackle(&r, f, NULL, NULL);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  remove(def);
}

/* No secret in stdout or stderr of any command, with -vv, whether it works
 * or fails. */
static void test_secrets_never_printed(void **state)
{
  cfx *f = cfx_begin(state);
  /* A token the sandbox really issued, handed to the command. */
  long st;
  char *tok = sandbox_request(&f->sp, "POST", "/v1/authenticate",
                              "{\"client_id\":\"sandbox-tackle-id\",\"client_secret\":"
                              "\"sandbox-tackle-secret\",\"grant_type\":\"client_credentials\"}",
                              &st);
  assert_int_equal(st, 200);
  cJSON *tj = cJSON_Parse(tok);
  char token[2048];
  snprintf(token, sizeof token, "%s", cJSON_GetObjectItem(tj, "access_token")->valuestring);
  cJSON_Delete(tj);
  free(tok);

  const char *secrets[] = { SANDBOX_TACKLE_SECRET, SANDBOX_APPDIRECT_SECRET, SANDBOX_AWS_SECRET,
                            "wrong-S3cret-abc", token, "bogus-token-XYZ123" };
  char envsec[200];
  snprintf(envsec, sizeof envsec, "TACKLE_CLIENT_SECRET=%s", SANDBOX_TACKLE_SECRET);
  const char *env[] = { envsec, "APPDIRECT_CLIENT_SECRET=" SANDBOX_APPDIRECT_SECRET, NULL };

  cli_result r;
  for (int i = 0; i < 9; i++) {
    argv_b a = { 0 };
    ab_add(&a, i % 2 ? "-vv" : "-v", NULL);
    switch (i) {
    case 0: /* tackle, id/secret, accepted */
      ab_add(&a, "send", NULL);
      ab_tackle(&a, f);
      ab_add(&a, "--product", "p1", "--customer", "c1", "--dimension", "u", "--quantity", "1",
             "--time", f->now, NULL);
      break;
    case 1: /* tackle, the issued token */
      ab_add(&a, "send", "-b", "tackle", "--endpoint", f->sp.url, "--access-token", token,
             "--product", "p1", "--customer", "c2", "--dimension", "u", "--quantity", "1",
             "--time", f->now, "--json", NULL);
      break;
    case 2: /* tackle, a refused token */
      ab_add(&a, "list", "--endpoint", f->sp.url, "--access-token", "bogus-token-XYZ123", NULL);
      break;
    case 3: /* tackle, a wrong secret */
      ab_add(&a, "send", NULL);
      ab_tackle(&a, f);
      ab_add(&a, "--client-secret", "wrong-S3cret-abc", "--product", "p1", "--customer", "c1",
             "--dimension", "u", "--quantity", "1", NULL);
      break;
    case 4: /* appdirect from the environment */
      ab_add(&a, "send", "-b", "appdirect", "--endpoint", f->sp.url, "--client-id",
             "sandbox-appdirect-id", "--account", "acc-1", "--pricing-unit", "USER",
             "--quantity", "1", "--json", NULL);
      break;
    case 5: /* appdirect, wrong secret */
      ab_add(&a, "send", NULL);
      ab_appdirect(&a, f);
      ab_add(&a, "--client-secret", "wrong-S3cret-abc", "--account", "acc-1", "--pricing-unit",
             "USER", "--quantity", "1", NULL);
      break;
    case 6: /* aws, accepted and a fault with retries */
      assert_int_equal(sandbox_fault(&f->sp, "{\"route\":\"aws.BatchMeterUsage\",\"kind\":"
                                             "\"error503\",\"count\":1}"), 0);
      ab_add(&a, "send", NULL);
      ab_aws(&a, f);
      ab_fast_retries(&a);
      ab_add(&a, "--product", "prodA", "--customer", "custA", "--dimension", "gb", "--quantity",
             "1", "--time", f->now, NULL);
      break;
    case 7: /* aws, wrong secret */
      ab_add(&a, "resolve-customer", "sandbox-registration-token", NULL);
      ab_aws(&a, f);
      ab_add(&a, "--secret-access-key", "wrong-S3cret-abc", NULL);
      break;
    case 8: /* batch */
      ab_add(&a, "batch", NULL);
      ab_tackle(&a, f);
      break;
    }
    run_meter(&r, &a, env, i == 8 ? "{\"product\":\"p\",\"customer\":\"c9\",\"dimension\":\"u\","
                                    "\"quantity\":1}\n" : NULL);
    if (i == 0 || i == 1 || i == 4 || i == 6 || i == 8) {
      if (r.status != 0)
        cli_dump(&r);
      assert_int_equal(r.status, 0);
    } else {
      assert_int_equal(r.status, 4);
    }
    for (size_t s = 0; s < sizeof secrets / sizeof secrets[0]; s++) {
      if (strstr(r.out, secrets[s]) || strstr(r.err, secrets[s])) {
        cli_dump(&r);
        fail_msg("case %d printed the secret \"%.12s...\"", i, secrets[s]);
      }
    }
    cli_result_free(&r);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_file_then_env_then_flag),
    cmocka_unit_test(test_aws_environment_outranks_the_file),
    cmocka_unit_test(test_config_file_errors_and_permissions),
    cmocka_unit_test(test_secrets_never_printed),
  };
  return cmocka_run_group_tests(tests, cfx_group_setup, cfx_group_teardown);
}
