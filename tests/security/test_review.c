/* Points of the security review (docs/security.md), each with a test that
 * needs no network:
 *  - turning TLS verification off is logged as a warning;
 *  - record fields with control characters are refused at the setter, so
 *    they never reach a header, a URL or a log line;
 *  - Tackle ids and list filters are percent-encoded in paths and queries;
 *  - an AWS shared credentials file readable by others draws a warning. */
#include "test_util.h"

#include "api/client.h"
#include "fake_clock.h"
#include "fake_transport.h"
#include "meter/aws.h"
#include "meter/tackle.h"

#include <sys/stat.h>
#include <unistd.h>

static void test_tls_off_is_logged(void **state)
{
  (void)state;
  for (int insecure = 0; insecure <= 1; insecure++) {
    meter_setting s[] = { { "access_token", "tok-abcdef" } };
    meter_client_options o = METER_CLIENT_OPTIONS_INIT;
    o.backend = "tackle";
    o.settings = s;
    o.settings_count = 1;
    o.insecure_skip_verify = insecure;
    o.log = capture_log;
    o.log_level = METER_LOG_WARN;
    captured_log_clear();
    meter_client *c = NULL;
    assert_int_equal(meter_client_new(&c, &o, NULL), METER_OK);
    const char *w = strstr(captured_log(), "TLS certificate verification is DISABLED");
    if (insecure)
      assert_non_null(w);
    else
      assert_null(w);
    meter_client_free(c);
  }
}

static void test_control_characters_are_refused(void **state)
{
  (void)state;
  static const char *const fields[] = { "product", "customer", "dimension", "idempotency_key",
                                        "subscription_id", "consumer_id", "account",
                                        "custom_unit", "description", "license_arn",
                                        "customer_account_id", "pricing_unit", NULL };
  static const char *const bad[] = { "a\r\nX-Injected: 1", "a\nb", "a\x01", "a\x7f", "\t\x1b[2J",
                                     NULL };
  meter_record *r;
  assert_int_equal(meter_record_new(&r), METER_OK);
  for (size_t f = 0; fields[f]; f++) {
    meter_field field = meter_field_from_name(fields[f]);
    assert_int_not_equal(field, 0);
    for (size_t b = 0; bad[b]; b++) {
      if (meter_record_set(r, field, bad[b]) == METER_OK)
        fail_msg("%s accepted a control character", fields[f]);
      const char *kept = meter_record_get(r, field); /* NULL, or the generated key */
      assert_true(kept == NULL || strpbrk(kept, "\r\n\x01\x7f\x1b") == NULL);
    }
    /* and with an explicit length, past an embedded NUL */
    assert_int_not_equal(meter_record_setn(r, field, "ab\0cd", 5), METER_OK);
  }
  assert_int_not_equal(meter_record_set_attribute(r, "k\n", "v"), METER_OK);
  assert_int_not_equal(meter_record_set_attribute(r, "k", "v\r\n"), METER_OK);
  meter_record_free(r);
}

typedef struct tfx {
  fake_transport t;
  fake_clock fc;
  meter_client *c;
} tfx;

static void tfx_init(tfx *f)
{
  fake_transport_init(&f->t);
  fake_clock_init(&f->fc, INT64_C(1704114000000000));
  meter_setting s[] = { { "access_token", "tok-abcdef" } };
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = "tackle";
  o.endpoint = "https://tackle.test";
  o.settings = s;
  o.settings_count = 1;
  o.max_attempts = 1;
  mtr_client_seams seams = { &f->t.base, &f->fc.hooks, NULL };
  assert_int_equal(mtr_client_new_with(&f->c, &o, &seams, NULL), METER_OK);
}

static void tfx_dispose(tfx *f)
{
  meter_client_free(f->c);
  fake_transport_dispose(&f->t);
}

static void test_tackle_ids_are_encoded(void **state)
{
  (void)state;
  tfx f;
  tfx_init(&f);
  fake_push(&f.t, 404, NULL, "{\"code\":\"not_found\"}");
  fake_push(&f.t, 404, NULL, "{\"code\":\"not_found\"}");
  meter_tackle_record *rec = NULL;
  const char *id = "a/b?c=1&d%2F e#f";
  assert_int_equal(meter_tackle_get(&rec, f.c, id), METER_ENOTFOUND);
  assert_int_equal(meter_tackle_delete(&rec, f.c, id), METER_ENOTFOUND);
  assert_int_equal(f.t.nsent, 2);
  for (size_t i = 0; i < 2; i++)
    assert_string_equal(f.t.sent[i].url, "https://tackle.test/v1/metering/usage-records/"
                                          "a%2Fb%3Fc%3D1%26d%252F%20e%23f");
  assert_string_equal(f.t.sent[1].method, "DELETE");
  tfx_dispose(&f);
}

static void test_tackle_list_filters_are_encoded(void **state)
{
  (void)state;
  tfx f;
  tfx_init(&f);
  fake_push(&f.t, 200, "Content-Type: application/json\n", "{\"data\":[],\"metadata\":{}}");
  const char *products[] = { "p/1?x&y=z %" };
  const char *customers[] = { "c#1+2" };
  meter_tackle_list_options o = METER_TACKLE_LIST_OPTIONS_INIT;
  o.product_ids = products;
  o.product_id_count = 1;
  o.customer_ids = customers;
  o.customer_id_count = 1;
  o.page_token = "tok&size=1000";
  meter_tackle_list *it = NULL;
  assert_int_equal(meter_tackle_list_new(&it, f.c, &o), METER_OK);
  const meter_tackle_record *rec = NULL;
  assert_int_equal(meter_tackle_list_next(it, &rec), METER_OK);
  assert_null(rec);
  meter_tackle_list_free(it);
  assert_int_equal(f.t.nsent, 1);
  const char *url = f.t.sent[0].url;
  assert_non_null(strstr(url, "product_id=p%2F1%3Fx%26y%3Dz%20%25"));
  assert_non_null(strstr(url, "customer_id=c%231%2B2"));
  assert_non_null(strstr(url, "page=tok%26size%3D1000"));
  assert_null(strstr(url, "size=1000"));
  tfx_dispose(&f);
}

/* The credentials file's mode decides whether a warning is logged. */
static void aws_profile_warning(int mode, int expect_warning)
{
  char dir[] = "/tmp/meter-perm-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[128];
  snprintf(path, sizeof path, "%s/credentials", dir);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs("[default]\naws_access_key_id = AKIDPERMTEST\naws_secret_access_key = perm-secret\n", fp);
  fclose(fp);
  assert_int_equal(chmod(path, (mode_t)mode), 0);
  /* This test is single-threaded: the chain reads the process environment. */
  setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
  setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_PROFILE");
  meter_setting s[] = { { "region", "us-east-1" } };
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = "aws";
  o.endpoint = "https://aws.test";
  o.settings = s;
  o.settings_count = 1;
  o.log = capture_log;
  o.log_level = METER_LOG_WARN;
  captured_log_clear();
  meter_client *c = NULL;
  assert_int_equal(meter_client_new(&c, &o, NULL), METER_OK);
  char src[96];
  assert_int_equal(meter_aws_credential_source(c, src, sizeof src), METER_OK);
  assert_string_equal(src, "profile default");
  const char *w = strstr(captured_log(), "readable by group or others");
  if (expect_warning) {
    assert_non_null(w);
    assert_non_null(strstr(captured_log(), "chmod 600"));
  } else {
    assert_null(w);
  }
  assert_null(strstr(captured_log(), "perm-secret"));
  meter_client_free(c);
  unlink(path);
  rmdir(dir);
  unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  unsetenv("AWS_CONFIG_FILE");
}

static void test_aws_credentials_file_readable_by_others_warns(void **state)
{
  (void)state;
  aws_profile_warning(0644, 1);
  aws_profile_warning(0640, 1);
  aws_profile_warning(0600, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tls_off_is_logged),
    cmocka_unit_test(test_control_characters_are_refused),
    cmocka_unit_test(test_tackle_ids_are_encoded),
    cmocka_unit_test(test_tackle_list_filters_are_encoded),
    cmocka_unit_test(test_aws_credentials_file_readable_by_others_warns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
