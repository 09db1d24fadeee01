#include "fuzz_client.h"

#include "api/client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The canaries of the current client: the secrets it was configured with
 * (a string is only a secret if the library was told it is one). */
static const char *canary[2];

void fuzz_check_no_secret(const char *s)
{
  if (s && ((canary[0] && strstr(s, canary[0])) || (canary[1] && strstr(s, canary[1])))) {
    fprintf(stderr, "secret leaked: %s\n", s);
    abort(); /* a secret leaked into a log line, an error or a result */
  }
}

static void on_log(meter_log_level level, const char *message, void *payload)
{
  (void)level;
  (void)payload;
  fuzz_check_no_secret(message);
}

int fuzz_client_new(fuzz_env *env, const char *backend, const uint8_t *data, size_t size,
                    const char *name, ...)
{
  fuzz_transport_init(&env->t);
  fuzz_transport_load(&env->t, data, size);
  fake_clock_init(&env->fc, FUZZ_T0);
  meter_setting s[16];
  size_t n = 0;
  va_list ap;
  va_start(ap, name);
  canary[0] = canary[1] = NULL;
  for (const char *k = name; k && n < 16; k = va_arg(ap, const char *)) {
    s[n].name = k;
    s[n].value = va_arg(ap, const char *);
    if (strcmp(s[n].value, FUZZ_SECRET) == 0)
      canary[0] = FUZZ_SECRET;
    if (strcmp(s[n].value, FUZZ_TOKEN) == 0)
      canary[1] = FUZZ_TOKEN;
    n++;
  }
  va_end(ap);
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = backend;
  o.endpoint = "https://market.test";
  o.settings = s;
  o.settings_count = n;
  o.log = on_log;
  o.log_level = METER_LOG_DEBUG;
  o.max_attempts = 4;
  o.deadline_ms = 120000;
  mtr_client_seams seams = { &env->t.base, &env->fc.hooks, NULL };
  meter_error e;
  env->c = NULL;
  if (mtr_client_new_with(&env->c, &o, &seams, &e) != METER_OK)
    return -1;
  return 0;
}

void fuzz_client_free(fuzz_env *env)
{
  if (!env->c)
    return;
  char buf[1024];
  meter_client_last_error(env->c, buf, sizeof buf);
  fuzz_check_no_secret(buf);
  meter_client_free(env->c);
  env->c = NULL;
}

void fuzz_check_results(const meter_results *res)
{
  if (!res)
    return;
  for (size_t i = 0; i < meter_results_count(res); i++) {
    fuzz_check_no_secret(meter_results_record_id(res, i));
    fuzz_check_no_secret(meter_results_status(res, i));
    fuzz_check_no_secret(meter_results_error_code(res, i));
    fuzz_check_no_secret(meter_results_message(res, i));
    fuzz_check_no_secret(meter_results_request_id(res, i));
    fuzz_check_no_secret(meter_results_status_path(res, i));
    if (meter_results_outcome(res, i) == METER_OUTCOME_PENDING)
      abort(); /* every record gets an outcome */
  }
}

meter_record *fuzz_record(const char *field, ...)
{
  meter_record *r;
  if (meter_record_new(&r) != METER_OK)
    return NULL;
  va_list ap;
  va_start(ap, field);
  int ok = 1;
  for (const char *k = field; k; k = va_arg(ap, const char *)) {
    const char *v = va_arg(ap, const char *);
    if (meter_record_set(r, meter_field_from_name(k), v) != METER_OK)
      ok = 0;
  }
  va_end(ap);
  if (!ok) {
    meter_record_free(r);
    return NULL;
  }
  return r;
}
