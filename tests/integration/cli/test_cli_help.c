/* `meter --help`, `meter COMMAND --help`, `meter help config`, --version and
 * usage errors; every paragraph of every help text is in docs/cli.md or
 * docs/configuration.md verbatim, so the reference cannot drift. */
#include "test_util.h"

#include "cli_run.h"

static char *docs;

static int load_docs(void **state)
{
  (void)state;
  size_t a_len = 0, b_len = 0;
  char *a = read_file(METER_SOURCE_DIR "/docs/cli.md", &a_len);
  char *b = read_file(METER_SOURCE_DIR "/docs/configuration.md", &b_len);
  if (!a || !b) {
    free(a);
    free(b);
    return -1;
  }
  docs = malloc(a_len + b_len + 2);
  memcpy(docs, a, a_len);
  docs[a_len] = '\n';
  memcpy(docs + a_len + 1, b, b_len + 1);
  free(a);
  free(b);
  return 0;
}

static int free_docs(void **state)
{
  (void)state;
  free(docs);
  return 0;
}

/* Each blank-line separated paragraph of `text` must be in the docs. */
static void assert_documented(const char *what, const char *text)
{
  const char *p = text;
  while (*p) {
    const char *end = strstr(p, "\n\n");
    size_t len = end ? (size_t)(end - p) : strlen(p);
    while (len && p[len - 1] == '\n')
      len--;
    if (len) {
      char *para = strndup(p, len);
      if (!strstr(docs, para))
        fail_msg("%s: this paragraph is not in docs/cli.md or docs/configuration.md:\n%s", what,
                 para);
      free(para);
    }
    p += end ? (size_t)(end - p) + 2 : strlen(p);
  }
}

static void test_every_help_is_documented(void **state)
{
  (void)state;
  const char *const cmds[][3] = {
    { "--help", NULL, NULL }, { "send", "--help", NULL }, { "batch", "--help", NULL },
    { "list", "--help", NULL }, { "get", "--help", NULL }, { "status", "--help", NULL },
    { "resolve-customer", "--help", NULL }, { "spool", "--help", NULL },
    { "spool", "deliver", "--help" }, { "spool", "status", "-h" }, { "help", "config", NULL },
    { "help", "batch", NULL },
  };
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    cli_result r;
    assert_int_equal(cli_run(&r, cmds[i], NULL, NULL), 0);
    char what[64];
    snprintf(what, sizeof what, "meter %s %s", cmds[i][0], cmds[i][1] ? cmds[i][1] : "");
    if (r.status != 0)
      fail_msg("%s exited %d: %s", what, r.status, r.err);
    assert_true(r.out_len > 100);
    assert_documented(what, r.out);
    cli_result_free(&r);
  }
}

static void test_help_names_every_command_and_exit_status(void **state)
{
  (void)state;
  const char *args[] = { "--help", NULL };
  cli_result r;
  assert_int_equal(cli_run(&r, args, NULL, NULL), 0);
  const char *want[] = { "meter send", "meter batch", "meter list", "meter get", "meter status",
                         "meter resolve-customer", "meter spool", "  0  ", "  1  ", "  2  ",
                         "  3  ", "  4  ", "  5  " };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(r.out, want[i]))
      fail_msg("meter --help does not mention \"%s\"", want[i]);
  cli_result_free(&r);
  /* The configuration reference lists every back end's settings. */
  const char *cfg[] = { "help", "config", NULL };
  assert_int_equal(cli_run(&r, cfg, NULL, NULL), 0);
  const char *settings[] = { "client_id (--client-id, TACKLE_CLIENT_ID)",
                             "access_token (--access-token, TACKLE_ACCESS_TOKEN) secret",
                             "base_url (--base-url, APPDIRECT_BASE_URL)",
                             "client_secret (--client-secret, APPDIRECT_CLIENT_SECRET) secret",
                             "region (--region, AWS_REGION read by the library)" };
  for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
    if (!strstr(r.out, settings[i]))
      fail_msg("meter help config does not list \"%s\"", settings[i]);
  cli_result_free(&r);
}

static void test_version(void **state)
{
  (void)state;
  const char *args[] = { "--version", NULL };
  cli_result r;
  assert_int_equal(cli_run(&r, args, NULL, NULL), 0);
  assert_int_equal(r.status, 0);
  char want[64];
  snprintf(want, sizeof want, "meter %s (libmeter %s)\n", METER_VERSION, meter_version());
  assert_string_equal(r.out, want);
  cli_result_free(&r);
}

static void test_usage_errors(void **state)
{
  (void)state;
  const char *const cases[][3] = {
    { NULL, NULL, NULL },              /* no command */
    { "frobnicate", NULL, NULL },
    { "help", "frobnicate", NULL },
    { "spool", NULL, NULL },
    { "spool", "explode", NULL },
    { "spool", "status", NULL },       /* no --spool */
    { "get", "--limit", "3" },         /* a flag of another command */
    { "send", "--json=yes", NULL },    /* a flag without a value given one */
    { "send", "--max-attempts", NULL },/* a value missing */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cli_result r;
    assert_int_equal(cli_run(&r, cases[i], NULL, NULL), 0);
    if (r.status != 2)
      fail_msg("case %zu exited %d, not 2: %s", i, r.status, r.err);
    assert_string_equal(r.out, "");
    assert_true(strncmp(r.err, "meter: ", 7) == 0);
    cli_result_free(&r);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_every_help_is_documented),
    cmocka_unit_test(test_help_names_every_command_and_exit_status),
    cmocka_unit_test(test_version),
    cmocka_unit_test(test_usage_errors),
  };
  return cmocka_run_group_tests(tests, load_docs, free_docs);
}
