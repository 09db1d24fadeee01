/* The AWS back end: settings, state, batching, aggregation, and the lazy
 * resolution of region and endpoint (no I/O when the client is created). */
#include "aws_internal.h"

#include "auth/aws_endpoint.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <stdlib.h>
#include <string.h>

static const mtr_setting_spec settings[] = {
  { "region", 0, "AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile, IMDS)" },
  { "access_key_id", 0, "access key id (else the default credential chain)" },
  { "secret_access_key", MTR_SETTING_SECRET, "secret access key, with access_key_id" },
  { "session_token", MTR_SETTING_SECRET, "session token of temporary credentials" },
  { "profile", 0, "profile of the shared config/credentials files (else AWS_PROFILE)" },
  { "product_code", 0, "ProductCode for records that do not name a product" },
  { "use_fips", 0, "true: the FIPS endpoint" },
  { "use_dualstack", 0, "true: the dual-stack (IPv6) endpoint" },
  { "meter_window_hours", 0, "MeterUsage refuses usage older than this (default 6)" },
  { "batch_window_hours", 0, "BatchMeterUsage refuses usage older than this (default 24)" },
  { "month_end_grace_hours", 0, "BatchMeterUsage takes last month's usage until this many "
                                "hours into the new month (default 6)" },
  { NULL, 0, NULL },
};

static int hours_setting(const mtr_config *cfg, const char *name, long dflt, int64_t *out,
                         meter_error *err)
{
  const char *v = mtr_config_get(cfg, name);
  long h = dflt;
  if (v) {
    char *end;
    h = strtol(v, &end, 10);
    if (!*v || *end || h < 0 || h > 24 * 62)
      return mtr_error_set(err, METER_ECONFIG, "%s: must be a whole number of hours (0-1488), "
                                               "got '%.40s'", name, v);
  }
  *out = (int64_t)h * MTR_US_PER_HOUR;
  return METER_OK;
}

static int dup_setting(const mtr_config *cfg, const char *name, char **out)
{
  const char *v = mtr_config_get(cfg, name);
  *out = NULL;
  if (v && !(*out = mtr_strdup(v)))
    return METER_ENOMEM;
  return METER_OK;
}

static void destroy(mtr_backend *base)
{
  aws_backend *be = (aws_backend *)base;
  if (!be)
    return;
  mtr_aws_chain_dispose(&be->chain);
  mtr_sigv4_key_cache_dispose(&be->keys);
  mtr_free(be->region_setting);
  mtr_free(be->profile);
  mtr_free(be->product_code);
  mtr_free(be->endpoint_override);
  mtr_mutex_destroy(&be->lock);
  mtr_free(be);
}

static int create(mtr_backend **out, const mtr_env *env, mtr_logger *log, const mtr_config *cfg,
                  meter_error *err)
{
  aws_backend *be = mtr_calloc(1, sizeof *be);
  if (!be)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  mtr_mutex_init(&be->lock);
  mtr_sigv4_key_cache_init(&be->keys);
  be->base.env = env;
  be->base.log = log;
  int rc = METER_OK;
  if (dup_setting(cfg, "region", &be->region_setting) ||
      dup_setting(cfg, "profile", &be->profile) ||
      dup_setting(cfg, "product_code", &be->product_code) ||
      (cfg->endpoint && !(be->endpoint_override = mtr_strdup(cfg->endpoint)))) {
    rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
    goto fail;
  }
  be->fips = mtr_config_bool(cfg, "use_fips", 0);
  be->dualstack = mtr_config_bool(cfg, "use_dualstack", 0);
  if (be->fips < 0 || be->dualstack < 0) {
    rc = mtr_error_set(err, METER_ECONFIG, "%s: must be true or false",
                       be->fips < 0 ? "use_fips" : "use_dualstack");
    goto fail;
  }
  if ((rc = hours_setting(cfg, "meter_window_hours", 6, &be->meter_window_us, err)) ||
      (rc = hours_setting(cfg, "batch_window_hours", 24, &be->batch_window_us, err)) ||
      (rc = hours_setting(cfg, "month_end_grace_hours", 6, &be->grace_us, err)))
    goto fail;
  if (be->region_setting && !mtr_aws_region_valid(be->region_setting)) {
    rc = mtr_error_set(err, METER_ECONFIG, "region: '%.64s' is not a valid AWS region name",
                       be->region_setting);
    goto fail;
  }
  if (be->product_code && !aws_product_code_valid(be->product_code)) {
    rc = mtr_error_set(err, METER_ECONFIG, "product_code: 1-255 characters of "
                                           "[-a-zA-Z0-9/=:_.@]");
    goto fail;
  }
  const char *akid = mtr_config_get(cfg, "access_key_id");
  const char *secret = mtr_config_get(cfg, "secret_access_key");
  if (!akid != !secret) {
    rc = mtr_error_set(err, METER_ECONFIG, "%s is set but %s is not",
                       akid ? "access_key_id" : "secret_access_key",
                       akid ? "secret_access_key" : "access_key_id");
    goto fail;
  }
  if (mtr_config_get(cfg, "session_token") && !akid) {
    rc = mtr_error_set(err, METER_ECONFIG, "session_token needs access_key_id and "
                                           "secret_access_key");
    goto fail;
  }
  mtr_aws_chain_settings cs = { akid, secret, mtr_config_get(cfg, "session_token"), be->profile };
  if (mtr_aws_chain_init(&be->chain, env, log, NULL, &cs) != METER_OK) {
    rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
    goto fail;
  }
  *out = &be->base;
  return METER_OK;

fail:
  mtr_free(be->region_setting);
  mtr_free(be->profile);
  mtr_free(be->product_code);
  mtr_free(be->endpoint_override);
  mtr_sigv4_key_cache_dispose(&be->keys);
  mtr_mutex_destroy(&be->lock);
  mtr_free(be);
  return rc;
}

void aws_backend_set_sysenv(mtr_backend *base, const mtr_aws_sysenv *sys)
{
  aws_backend *be = (aws_backend *)base;
  be->sys = *sys;
  be->chain.sys = *sys;
}

int aws_is_batch(const meter_record *rec)
{
  return mtr_rec(rec, METER_FIELD_CUSTOMER) || mtr_rec(rec, METER_FIELD_CUSTOMER_ACCOUNT_ID);
}

const char *aws_product(const aws_backend *be, const meter_record *rec)
{
  const char *p = mtr_rec(rec, METER_FIELD_PRODUCT);
  return p ? p : be->product_code;
}

int64_t aws_now_us(aws_backend *be)
{
  mtr_mutex_lock(&be->lock);
  int64_t off = be->clock_offset_us;
  mtr_mutex_unlock(&be->lock);
  return mtr_now_us(be->base.env->hooks) + off;
}

/* The environment with IMDS switched off (see aws_resolve). */
static const char *getenv_no_imds(void *ctx, const char *name)
{
  if (strcmp(name, "AWS_EC2_METADATA_DISABLED") == 0)
    return "true";
  return mtr_aws_env(ctx, name);
}

int aws_resolve(aws_backend *be, meter_error *err)
{
  mtr_mutex_lock(&be->lock);
  int done = be->resolved;
  mtr_mutex_unlock(&be->lock);
  if (done)
    return METER_OK;

  /* Resolved outside the lock (it may ask IMDS); two threads racing here
   * find the same answer. */
  mtr_aws_region region;
  int rc;
  if (be->endpoint_override) {
    /* An endpoint override (the sandbox, a proxy) still needs a region for
     * the signature, but no instance is behind it: do not wait for IMDS;
     * without a configured region, sign for us-east-1. */
    mtr_aws_sysenv no_imds = { getenv_no_imds, &be->sys };
    meter_error ignored;
    if (mtr_aws_region_resolve(&region, be->base.env, &no_imds, be->region_setting, be->profile,
                               &ignored) != METER_OK) {
      if (strncmp(ignored.message, "no AWS region", 13) != 0)
        return mtr_error_set(err, ignored.status, "%s", ignored.message); /* e.g. a bad name */
      mtr_strlcpy(region.name, AWS_DEFAULT_SANDBOX_REGION, sizeof region.name);
      mtr_strlcpy(region.source, "default for a custom endpoint", sizeof region.source);
    }
  } else {
    rc = mtr_aws_region_resolve(&region, be->base.env, &be->sys, be->region_setting, be->profile,
                                err);
    if (rc != METER_OK)
      return rc;
  }
  char endpoint[256];
  if (be->endpoint_override) {
    mtr_strlcpy(endpoint, be->endpoint_override, sizeof endpoint);
  } else {
    mtr_buf url = MTR_BUF_INIT;
    rc = mtr_aws_metering_endpoint(&url, region.name, be->fips, be->dualstack, err);
    mtr_strlcpy(endpoint, mtr_buf_cstr(&url), sizeof endpoint);
    mtr_buf_dispose(&url);
    if (rc != METER_OK)
      return rc;
  }
  size_t n = strlen(endpoint);
  while (n && endpoint[n - 1] == '/')
    endpoint[--n] = '\0';

  mtr_mutex_lock(&be->lock);
  if (!be->resolved) {
    be->region = region;
    mtr_strlcpy(be->endpoint, endpoint, sizeof be->endpoint);
    be->resolved = 1;
    MTR_INFO(be->base.log, "AWS Marketplace Metering: region %s (from %s), endpoint %s",
             region.name, region.source, endpoint);
  }
  mtr_mutex_unlock(&be->lock);
  mtr_aws_chain_set_region(&be->chain, region.name);
  return METER_OK;
}

static int batch_key(mtr_backend *base, const meter_record *rec, mtr_buf *key, size_t *limit)
{
  aws_backend *be = (aws_backend *)base;
  if (aws_is_batch(rec)) {
    /* One ProductCode per request; records in LicenseArn mode without a
     * product share requests without one. */
    const char *p = aws_product(be, rec);
    mtr_buf_puts(key, "batch|");
    mtr_buf_puts(key, p ? p : "");
    *limit = AWS_BATCH_LIMIT;
  } else {
    const char *k = mtr_rec(rec, METER_FIELD_IDEMPOTENCY_KEY);
    mtr_buf_puts(key, "meter|");
    mtr_buf_puts(key, k ? k : "");
    *limit = 1;
  }
  return mtr_buf_status(key);
}

static int send_batch(mtr_backend *base, const mtr_batch *batch, meter_error *err)
{
  aws_backend *be = (aws_backend *)base;
  if (batch->count == 0)
    return METER_OK;
  return aws_is_batch(batch->records[0]) ? aws_send_batch(be, batch, err)
                                         : aws_send_meter_usage(be, batch, err);
}

/* MeterUsage and BatchMeterUsage both take one report per key and hour: a
 * second MeterUsage in the hour with another quantity is refused
 * (DuplicateRequestException), a BatchMeterUsage one is a DuplicateRecord. */
static int aggregation(mtr_backend *base, const meter_record *rec, mtr_agg_rule *rule,
                       mtr_buf *key)
{
  aws_backend *be = (aws_backend *)base;
  const char *p = aws_product(be, rec);
  const char *cust = mtr_rec(rec, METER_FIELD_CUSTOMER);
  const char *acct = mtr_rec(rec, METER_FIELD_CUSTOMER_ACCOUNT_ID);
  const char *lic = mtr_rec(rec, METER_FIELD_LICENSE_ARN);
  const char *dim = mtr_rec(rec, METER_FIELD_DIMENSION);
  rule->aggregate = 1;
  rule->window_us = aws_is_batch(rec) ? be->batch_window_us : be->meter_window_us;
  mtr_buf_printf(key, "%s|%s|%s|%s|%s", p ? p : "", cust ? cust : acct ? acct : "",
                 lic ? lic : "", dim ? dim : "", mtr_record_dry_run(rec) ? "dry" : "");
  return mtr_buf_status(key);
}

const mtr_backend_ops mtr_aws_backend = {
  "aws", settings, create, destroy, aws_validate, batch_key, send_batch, aggregation,
};
