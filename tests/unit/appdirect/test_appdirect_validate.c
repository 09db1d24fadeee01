/* Every validation rule of an AppDirect usage event, and every configuration
 * error, each named in the message. Nothing is sent for invalid records. */
#include "ad_fixture.h"

typedef struct vcase {
  const char *why;
  const char *fields[20]; /* name, value pairs, NULL-terminated */
  const char *field;      /* expected meter_results_field */
  const char *words;      /* expected in the message */
} vcase;

static const vcase invalid[] = {
  { "no account", { "pricing_unit", "USER", "quantity", "1" }, "account", "required" },
  { "empty account", { "account", "", "pricing_unit", "USER", "quantity", "1" }, "account",
    "required" },
  { "no unit", { "account", "a", "quantity", "1" }, "pricing_unit", "custom_unit" },
  { "both units",
    { "account", "a", "pricing_unit", "USER", "custom_unit", "X", "quantity", "1", "price", "1",
      "currency", "USD" },
    "custom_unit", "not both" },
  { "empty pricing unit", { "account", "a", "pricing_unit", "", "quantity", "1" },
    "pricing_unit", "empty" },
  { "empty custom unit",
    { "account", "a", "custom_unit", "", "quantity", "1", "price", "1", "currency", "USD" },
    "custom_unit", "empty" },
  { "no quantity", { "account", "a", "pricing_unit", "USER" }, "quantity", "required" },
  { "11 decimals", { "account", "a", "pricing_unit", "USER", "quantity", "0.00000000001" },
    "quantity", "10 decimal digits" },
  { "custom without price", { "account", "a", "custom_unit", "X", "quantity", "1", "currency",
    "USD" }, "price", "custom usage" },
  { "custom without currency", { "account", "a", "custom_unit", "X", "quantity", "1", "price",
    "2" }, "currency", "ISO-4217" },
  { "price on preconfigured", { "account", "a", "pricing_unit", "USER", "quantity", "1",
    "price", "2" }, "price", "only for custom usage" },
  { "dry run", { "account", "a", "pricing_unit", "USER", "quantity", "1", "dry_run", "true" },
    "dry_run", "no dry run" },
  { "tackle test mode", { "account", "a", "pricing_unit", "USER", "quantity", "1", "test",
    "accepted" }, "test", "billed" },
  { "empty pricing model", { "account", "a", "pricing_unit", "USER", "quantity", "1",
    "pricing_model", "" }, "pricing_model", "empty" },
};

static meter_record *from_pairs(const char *const *kv)
{
  meter_record *r;
  assert_int_equal(meter_record_new(&r), METER_OK);
  for (size_t i = 0; kv[i]; i += 2)
    assert_int_equal(meter_record_set(r, meter_field_from_name(kv[i]), kv[i + 1]), METER_OK);
  return r;
}

static void test_every_rule(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
    meter_record *r = from_pairs(invalid[i].fields);
    meter_results *res;
    int rc = meter_send(f->c, &r, 1, &res);
    if (rc != METER_EINVAL || meter_results_outcome(res, 0) != METER_OUTCOME_INVALID ||
        !meter_results_field(res, 0) ||
        strcmp(meter_results_field(res, 0), invalid[i].field) != 0 ||
        !strstr(meter_results_message(res, 0), invalid[i].words))
      fail_msg("%s: rc %d, field %s, message %s", invalid[i].why, rc,
               meter_results_field(res, 0), meter_results_message(res, 0));
    meter_results_free(res);
    meter_record_free(r);
  }
  assert_int_equal(f->t.nsent, 0);
  adfx_free(f);
}

static void test_valid_events_pass(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  const char *ok[][20] = {
    { "account", "a", "pricing_unit", "SOME_UNIT_NOT_IN_ANY_ENUM", "quantity", "0" },
    { "customer", "c", "pricing_unit", "USER", "quantity", "1.0000000001", "currency", "EUR" },
    { "account", "a", "custom_unit", "X", "quantity", "12345678901234567890", "price", "0",
      "currency", "usd", "description", "d", "pricing_model", "volume", "dry_run", "false" },
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    meter_record *r = from_pairs(ok[i]);
    meter_results *res;
    int rc = meter_validate(f->c, &r, 1, &res);
    if (rc != METER_OK)
      fail_msg("case %zu: %s", i, meter_results_message(res, 0));
    meter_results_free(res);
    meter_record_free(r);
  }
  adfx_free(f);
}

typedef struct ccase {
  const char *why;
  const char *endpoint;
  const char *settings[8];
  const char *words[3];
} ccase;

static const ccase bad_config[] = {
  { "no base URL", NULL, { "base_url", NULL }, { "base_url", "options.endpoint" } },
  { "not a URL", NULL, { "base_url", "marketplace.example.com" }, { "https://" } },
  { "query in URL", NULL, { "base_url", "https://m.example.com/?x=1" }, { "query" } },
  { "no host", NULL, { "base_url", "https:///api" }, { "scheme://host" } },
  { "billable", NULL, { "billable", "maybe" }, { "billable" } },
  { "subscription id", NULL, { "subscription_id", "sub-1" }, { "subscription_id", "UUID" } },
  { "vendor id", NULL, { "vendor_id", "02ab813a-e955-4255-8969" }, { "vendor_id", "UUID" } },
  { "both partner ids", NULL,
    { "subscription_id", "02ab813a-e955-4255-8969-c5329839dd61", "vendor_id",
      "202f0f5e-c48a-46e9-bed5-2c1abd4eac33" },
    { "not both" } },
  { "scope", NULL, { "scope", "ROLE\"X" }, { "scope" } },
  { "client id colon", NULL, { "client_id", "a:b" }, { "client_id", "':'" } },
};

static void test_configuration_errors(void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof bad_config / sizeof bad_config[0]; i++) {
    adfx *f = NULL;
    meter_error e;
    int rc = adfx_try(&f, &e, bad_config[i].endpoint, bad_config[i].settings);
    if (rc != METER_ECONFIG)
      fail_msg("%s: status %d (%s)", bad_config[i].why, rc, rc ? e.message : "created");
    for (size_t w = 0; w < 3 && bad_config[i].words[w]; w++)
      if (!strstr(e.message, bad_config[i].words[w]))
        fail_msg("%s: '%s' not in: %s", bad_config[i].why, bad_config[i].words[w], e.message);
    assert_null(f);
  }
}

static void test_required_credentials(void **state)
{
  (void)state;
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = "appdirect";
  meter_setting s[] = { { "base_url", AD_BASE }, { "client_id", "id" } };
  o.settings = s;
  o.settings_count = 2;
  meter_client *c;
  meter_error e;
  assert_int_equal(meter_client_new(&c, &o, &e), METER_ECONFIG);
  assert_non_null(strstr(e.message, "client_secret"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_every_rule),
    cmocka_unit_test(test_valid_events_pass),
    cmocka_unit_test(test_configuration_errors),
    cmocka_unit_test(test_required_credentials),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
