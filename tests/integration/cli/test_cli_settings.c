/* The CLI offers exactly the settings each back end of the library accepts,
 * with the same secrecy: `meter help config` is checked against the library's
 * own table (meter_backend_setting), so the two cannot drift apart. */
#include "test_util.h"

#include "cli_run.h"

static const char *section(const char *text, const char *backend, char *out, size_t size)
{
  char head[64];
  snprintf(head, sizeof head, "  [%s]\n", backend);
  /* After the settings heading (the config-file example above has [tackle] too). */
  const char *from = strstr(text, "Back-end settings");
  const char *start = from ? strstr(from, head) : NULL;
  if (!start)
    return NULL;
  start += strlen(head);
  const char *end = strstr(start, "\n  [");
  size_t n = end ? (size_t)(end - start) + 1 : strlen(start);
  if (n >= size)
    n = size - 1;
  memcpy(out, start, n);
  out[n] = '\0';
  return out;
}

static void test_help_config_matches_library(void **state)
{
  (void)state;
  cli_result r;
  const char *args[] = { "help", "config", NULL };
  assert_int_equal(cli_run(&r, args, NULL, NULL), 0);
  assert_int_equal(r.status, 0);
  assert_true(meter_backend_count() >= 3);
  for (size_t b = 0; b < meter_backend_count(); b++) {
    const char *backend = meter_backend_name(b);
    char sec[8192];
    if (!section(r.out, backend, sec, sizeof sec))
      fail_msg("meter help config has no [%s] section", backend);
    size_t n = 0;
    const char *name;
    unsigned flags;
    /* Every library setting is offered, marked secret when it is. */
    for (; meter_backend_setting(backend, n, &name, &flags, NULL) == METER_OK; n++) {
      char want[128];
      snprintf(want, sizeof want, "\n    %s (", name);
      /* The section starts right after a newline: match its first line too. */
      char *line = strncmp(sec, want + 1, strlen(want + 1)) == 0 ? sec : strstr(sec, want);
      if (!line)
        fail_msg("[%s] setting %s is not offered by the CLI", backend, name);
      if (*line == '\n')
        line++; /* the setting's line itself (no pointer before sec: UBSan) */
      char *eol = strchr(line, '\n');
      int marked = eol && eol - line > 6 && strncmp(eol - 7, " secret", 7) == 0;
      if (marked != !!(flags & METER_SETTING_SECRET))
        fail_msg("[%s] %s: secret flag differs (library %u, CLI %d)", backend, name, flags, marked);
    }
    assert_true(n > 0);
    /* And the CLI offers nothing the library would refuse. */
    char lines[8200] = "\n";
    strcat(lines, sec);
    for (char *p = lines; (p = strstr(p, "\n    ")) != NULL; p++) {
      char got[64];
      if (p[5] == ' ' || sscanf(p + 5, "%63[a-z_]", got) != 1)
        continue;
      size_t k = 0;
      while (meter_backend_setting(backend, k, &name, NULL, NULL) == METER_OK && strcmp(name, got))
        k++;
      if (k == n)
        fail_msg("[%s] the CLI offers '%s', which the library does not know", backend, got);
    }
  }
  assert_int_equal(meter_backend_setting("no-such", 0, NULL, NULL, NULL), METER_ENOTFOUND);
  assert_null(meter_backend_name(meter_backend_count()));
  cli_result_free(&r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_help_config_matches_library),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
