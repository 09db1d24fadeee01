/* The AWS credential chain's answers and files: the first byte picks the
 * source (IMDSv2 token/role/credentials and region, ECS container
 * credentials, STS AssumeRoleWithWebIdentity, or the shared credentials and
 * config files, written from the input), the rest is the script of answers
 * (fuzz_transport.h) or the file. The chain is the production one, over the
 * fuzz transport and a fake clock. */
#include "fuzz.h"
#include "fuzz_client.h"

#include "auth/aws_credentials.h"
#include "auth/aws_region.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct vars {
  const char *names[8];
  const char *values[8];
  size_t n;
} vars;

static const char *vars_get(void *ctx, const char *name)
{
  vars *v = ctx;
  for (size_t i = 0; i < v->n; i++)
    if (strcmp(v->names[i], name) == 0)
      return v->values[i];
  return NULL;
}

static void put(vars *v, const char *name, const char *value)
{
  v->names[v->n] = name;
  v->values[v->n++] = value;
}

static char dir[64], token_file[128], cred_file[128];

static void cleanup(void)
{
  unlink(token_file);
  unlink(cred_file);
  rmdir(dir);
}

static int setup(void)
{
  if (dir[0])
    return 0;
  snprintf(dir, sizeof dir, "/tmp/meter-fuzz-XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  snprintf(token_file, sizeof token_file, "%s/web-token", dir);
  snprintf(cred_file, sizeof cred_file, "%s/credentials", dir);
  FILE *f = fopen(token_file, "w");
  if (!f)
    return -1;
  fputs("eyJhbGciOiJSUzI1NiJ9.fuzz.web-identity", f);
  fclose(f);
  atexit(cleanup);
  return 0;
}

static void on_log(meter_log_level level, const char *message, void *payload)
{
  (void)level;
  (void)payload;
  fuzz_check_no_secret(message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || setup() != 0)
    return 0;
  int mode = data[0] % 5;
  fuzz_transport t;
  fuzz_transport_init(&t);
  fake_clock fc;
  fake_clock_init(&fc, FUZZ_T0);
  vars v = { { 0 }, { 0 }, 0 };
  put(&v, "HOME", "/nonexistent-home");
  switch (mode) {
  case 0: /* IMDS */
  case 4: /* IMDS region */
    fuzz_transport_load(&t, data + 1, size - 1);
    break;
  case 1:
    put(&v, "AWS_EC2_METADATA_DISABLED", "true");
    put(&v, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/fz");
    fuzz_transport_load(&t, data + 1, size - 1);
    break;
  case 2:
    put(&v, "AWS_EC2_METADATA_DISABLED", "true");
    put(&v, "AWS_WEB_IDENTITY_TOKEN_FILE", token_file);
    put(&v, "AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/fz");
    fuzz_transport_load(&t, data + 1, size - 1);
    break;
  case 3: {
    FILE *f = fopen(cred_file, "wb");
    if (!f)
      return 0;
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    put(&v, "AWS_EC2_METADATA_DISABLED", "true");
    put(&v, "AWS_SHARED_CREDENTIALS_FILE", cred_file);
    put(&v, "AWS_CONFIG_FILE", cred_file);
    if (size > 1 && (data[1] & 1))
      put(&v, "AWS_PROFILE", "fz");
    break;
  }
  }
  mtr_logger log;
  mtr_logger_init(&log, on_log, NULL, METER_LOG_DEBUG);
  mtr_retry_budget budget;
  mtr_budget_init(&budget, 0);
  mtr_env env;
  memset(&env, 0, sizeof env);
  env.transport = &t.base;
  env.hooks = &fc.hooks;
  env.log = &log;
  env.budget = &budget;
  env.request_timeout_ms = 2000;
  mtr_retry_policy_default(&env.policy);
  mtr_aws_sysenv sys = { vars_get, &v };
  meter_error err;
  if (mode == 4 || mode == 3) {
    mtr_aws_region region;
    mtr_aws_region_resolve(&region, &env, &sys, NULL, NULL, &err);
    fuzz_check_no_secret(err.message);
  }
  mtr_aws_chain chain;
  mtr_aws_chain_settings s = { NULL, NULL, NULL, NULL };
  if (mode != 4 && mtr_aws_chain_init(&chain, &env, &log, &sys, &s) == METER_OK) {
    mtr_aws_chain_set_region(&chain, "us-west-2");
    for (int round = 0; round < 2; round++) {
      mtr_aws_credentials *c = NULL;
      unsigned gen = 0;
      if (mtr_aws_chain_get(&chain, &c, &gen, &err) == METER_OK) {
        if (!c->access_key_id || !c->secret_access_key)
          abort();
        mtr_aws_credentials_free(c);
        mtr_aws_chain_invalidate(&chain, gen);
      } else {
        fuzz_check_no_secret(err.message);
      }
      fake_clock_advance(&fc, INT64_C(7200) * 1000000);
    }
    char src[MTR_AWS_SOURCE_MAX];
    mtr_aws_chain_source(&chain, src, sizeof src);
    mtr_aws_chain_dispose(&chain);
  }
  mtr_budget_dispose(&budget);
  mtr_logger_dispose(&log);
  return 0;
}
