/* Client creation: options versions, settings checks, error detail. */
#include "test_util.h"

#include "api/client.h"
#include "fake_backend.h"
#include "fake_transport.h"

#include <string.h>

static int make(meter_client_options *o, meter_error *e, meter_client **c)
{
  static fake_transport t;
  static int init;
  if (!init) {
    fake_transport_init(&t);
    init = 1;
  }
  mtr_client_seams seams = { &t.base, NULL, &fake_backend_ops };
  return mtr_client_new_with(c, o, &seams, e);
}

static void test_options_init(void **state)
{
  (void)state;
  meter_client_options o;
  memset(&o, 0xab, sizeof o);
  assert_int_equal(meter_client_options_init(&o, METER_CLIENT_OPTIONS_VERSION), METER_OK);
  assert_int_equal(o.version, METER_CLIENT_OPTIONS_VERSION);
  assert_null(o.backend);
  assert_int_equal(o.max_attempts, 0);
  assert_int_equal(meter_client_options_init(&o, 99), METER_EVERSION);
  assert_int_equal(meter_client_options_init(NULL, 1), METER_EINVAL);
}

static void test_version_mismatch_and_unknown_backend(void **state)
{
  (void)state;
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  meter_client *c = (meter_client *)1;
  meter_error e;
  o.version = 7;
  assert_int_equal(meter_client_new(&c, &o, &e), METER_EVERSION);
  assert_null(c);
  assert_non_null(strstr(e.message, "version 7"));
  o.version = METER_CLIENT_OPTIONS_VERSION;
  o.backend = "oracle";
  assert_int_equal(meter_client_new(&c, &o, &e), METER_ECONFIG);
  assert_non_null(strstr(e.message, "unknown back end 'oracle'"));
  assert_int_equal(e.status, METER_ECONFIG);
  assert_int_equal(meter_client_new(&c, NULL, &e), METER_EINVAL);
}

static void test_settings_checked(void **state)
{
  (void)state;
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  meter_client *c;
  meter_error e;
  /* Missing required setting is named with its help text. */
  assert_int_equal(make(&o, &e, &c), METER_ECONFIG);
  assert_non_null(strstr(e.message, "needs the setting 'token' (an API token)"));
  /* Unknown setting lists the known ones. */
  meter_setting s[] = { { "token", "t0ken-value" }, { "tokn", "x" } };
  o.settings = s;
  o.settings_count = 2;
  assert_int_equal(make(&o, &e, &c), METER_ECONFIG);
  assert_non_null(strstr(e.message, "unknown setting 'tokn'"));
  assert_non_null(strstr(e.message, "known: token, flavour"));
  /* Control characters refused. */
  meter_setting bad[] = { { "token", "a\nb" } };
  o.settings = bad;
  o.settings_count = 1;
  assert_int_equal(make(&o, &e, &c), METER_ECONFIG);
  /* Back end's own check. */
  meter_setting fl[] = { { "token", "t0ken-value" }, { "flavour", "spicy" } };
  o.settings = fl;
  o.settings_count = 2;
  assert_int_equal(make(&o, &e, &c), METER_ECONFIG);
  assert_non_null(strstr(e.message, "flavour"));
  /* Bad endpoint scheme. */
  o.settings_count = 1;
  o.endpoint = "ftp://x";
  assert_int_equal(make(&o, &e, &c), METER_ECONFIG);
  assert_non_null(strstr(e.message, "http://"));
  o.endpoint = "http://127.0.0.1:1";
  assert_int_equal(make(&o, &e, &c), METER_OK);
  assert_string_equal(meter_client_backend(c), "fake");
  char buf[64] = "x";
  assert_int_equal(meter_client_last_error(c, buf, sizeof buf), METER_OK);
  assert_string_equal(buf, "");
  meter_client_free(c);
  meter_client_free(NULL);
}

static void test_insecure_is_logged_and_secrets_are_not(void **state)
{
  (void)state;
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  meter_setting s[] = { { "token", "super-secret-token-value" } };
  o.settings = s;
  o.settings_count = 1;
  o.insecure_skip_verify = 1;
  o.log = capture_log;
  o.log_level = METER_LOG_DEBUG;
  meter_client *c;
  captured_log_clear();
  assert_int_equal(make(&o, NULL, &c), METER_OK);
  assert_non_null(strstr(captured_log(), "TLS certificate verification is DISABLED"));
  mtr_log(&c->log, METER_LOG_INFO, "echo %s", "super-secret-token-value");
  assert_null(strstr(captured_log(), "super-secret-token-value"));
  meter_client_free(c);
}

static void test_strerror_and_names(void **state)
{
  (void)state;
  for (int s = 0; s <= METER_EINTERNAL; s++) {
    assert_string_not_equal(meter_strerror(s), "unknown status");
    assert_true(strncmp(meter_status_name(s), "METER_", 6) == 0);
  }
  assert_string_equal(meter_strerror(-1), "unknown status");
  assert_string_equal(meter_strerror(1000), "unknown status");
  assert_string_equal(meter_status_name(METER_EAUTH), "METER_EAUTH");
  assert_string_equal(meter_outcome_name(METER_OUTCOME_CONFLICT), "conflict");
  assert_string_equal(meter_outcome_name((meter_outcome)42), "unknown");
  assert_string_equal(meter_version(), METER_VERSION);
  assert_int_equal(meter_version_number(), METER_VERSION_NUMBER);
  assert_true(METER_VERSION_CHECK(0, 1, 0));
}

static void test_backend_discovery(void **state)
{
  (void)state;
  int seen = 0;
  for (size_t i = 0; i < meter_backend_count(); i++) {
    const char *b = meter_backend_name(i);
    seen |= (strcmp(b, "tackle") == 0) | (strcmp(b, "appdirect") == 0) << 1 |
            (strcmp(b, "aws") == 0) << 2;
  }
  assert_int_equal(seen, 7);
  assert_null(meter_backend_name(meter_backend_count()));
  const char *name, *help;
  unsigned flags;
  int found = 0;
  for (size_t i = 0; meter_backend_setting("aws", i, &name, &flags, &help) == METER_OK; i++) {
    assert_non_null(help);
    if (strcmp(name, "secret_access_key") == 0)
      found = (flags & METER_SETTING_SECRET) != 0;
    if (strcmp(name, "region") == 0)
      assert_false(flags & METER_SETTING_SECRET);
  }
  assert_true(found);
  assert_int_equal(meter_backend_setting("tackle", 1000, &name, NULL, NULL), METER_ENOTFOUND);
  assert_int_equal(meter_backend_setting("oracle", 0, NULL, NULL, NULL), METER_ENOTFOUND);
  assert_int_equal(meter_backend_setting(NULL, 0, NULL, NULL, NULL), METER_ENOTFOUND);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_options_init),
    cmocka_unit_test(test_version_mismatch_and_unknown_backend),
    cmocka_unit_test(test_settings_checked),
    cmocka_unit_test(test_insecure_is_logged_and_secrets_are_not),
    cmocka_unit_test(test_strerror_and_names),
    cmocka_unit_test(test_backend_discovery),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
