#include "aws_test_util.h"

#include <stdarg.h>

static const char *no_env(void *ctx, const char *name)
{
  (void)ctx;
  (void)name;
  return NULL;
}

const mtr_aws_sysenv *aws_empty_env(void)
{
  static const mtr_aws_sysenv e = { no_env, NULL };
  return &e;
}

meter_client *aws_fixture_client(aws_fixture *f, const char *endpoint, ...)
{
  memset(f, 0, sizeof *f);
  fake_transport_init(&f->ft);
  fake_clock_init(&f->fc, T0);
  meter_setting s[32];
  size_t n = 0;
  va_list ap;
  va_start(ap, endpoint);
  for (const char *name = va_arg(ap, const char *); name && n < 28;
       name = va_arg(ap, const char *)) {
    const char *value = va_arg(ap, const char *);
    s[n++] = (meter_setting){ name, value }; /* NULL value: the setting is left out */
  }
  va_end(ap);
  /* Defaults for what the caller did not name. */
  const meter_setting dflt[] = {
    { "region", "us-east-1" }, { "access_key_id", EX_AKID }, { "secret_access_key", EX_SECRET },
  };
  size_t given = n;
  for (size_t d = 0; d < 3; d++) {
    int named = 0;
    for (size_t i = 0; i < given; i++)
      named |= strcmp(s[i].name, dflt[d].name) == 0;
    if (!named)
      s[n++] = dflt[d];
  }
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = "aws";
  o.endpoint = endpoint;
  o.settings = s;
  o.settings_count = n;
  o.log = capture_log;
  o.log_level = METER_LOG_DEBUG;
  o.retry_budget = -1;
  mtr_client_seams seams = { &f->ft.base, &f->fc.hooks, NULL };
  meter_error err;
  if (mtr_client_new_with(&f->client, &o, &seams, &err) != METER_OK) {
    fprintf(stderr, "client: %s\n", err.message);
    return NULL;
  }
  aws_backend_set_sysenv(f->client->backend, aws_empty_env());
  return f->client;
}

void aws_fixture_free(aws_fixture *f)
{
  meter_client_free(f->client);
  fake_transport_dispose(&f->ft);
}
