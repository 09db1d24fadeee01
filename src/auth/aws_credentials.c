/* The credential value, the default chain with its cache, and the three
 * static sources (settings, environment, shared files). The network sources
 * live in aws_credentials_sts.c, aws_credentials_container.c and aws_imds.c. */
#include "aws_credentials.h"

#include "auth/aws_profile.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the value ------------------------------------------------------------------------ */

mtr_aws_credentials *mtr_aws_credentials_new(const char *akid, const char *secret,
                                             const char *token, int64_t expires_us,
                                             const char *source)
{
  mtr_aws_credentials *c = mtr_calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->access_key_id = mtr_strdup(akid);
  c->secret_access_key = mtr_strdup(secret);
  c->session_token = token && *token ? mtr_strdup(token) : NULL;
  c->expires_us = expires_us;
  mtr_strlcpy(c->source, source ? source : "", sizeof c->source);
  if (!c->access_key_id || !c->secret_access_key || (token && *token && !c->session_token)) {
    mtr_aws_credentials_free(c);
    return NULL;
  }
  return c;
}

mtr_aws_credentials *mtr_aws_credentials_copy(const mtr_aws_credentials *c)
{
  return mtr_aws_credentials_new(c->access_key_id, c->secret_access_key, c->session_token,
                                 c->expires_us, c->source);
}

void mtr_aws_credentials_free(mtr_aws_credentials *c)
{
  if (!c)
    return;
  mtr_free(c->access_key_id);
  mtr_free_secret_str(c->secret_access_key);
  mtr_free_secret_str(c->session_token);
  mtr_free(c);
}

/* ---- static sources ------------------------------------------------------------------- */

static int not_configured(meter_error *err, const char *why)
{
  mtr_error_set(err, METER_OK, "%s", why);
  return MTR_AWS_NOT_CONFIGURED;
}

static int static_pair(const char *akid, const char *secret, const char *token,
                       const char *akid_name, const char *secret_name, const char *source,
                       mtr_aws_credentials **out, meter_error *err)
{
  if (!akid && !secret) {
    char why[128];
    mtr_fmt(why, sizeof why, "%s not set", akid_name);
    return not_configured(err, why);
  }
  if (!akid || !secret)
    return mtr_error_set(err, METER_ECONFIG, "%s is set but %s is not", akid ? akid_name : secret_name,
                         akid ? secret_name : akid_name);
  *out = mtr_aws_credentials_new(akid, secret, token, 0, source);
  return *out ? METER_OK : mtr_error_set(err, METER_ENOMEM, "out of memory");
}

int mtr_aws_provider_settings(mtr_aws_chain *c, mtr_aws_credentials **out, meter_error *err)
{
  return static_pair(c->access_key_id, c->secret_access_key, c->session_token, "access_key_id",
                     "secret_access_key", "settings", out, err);
}

int mtr_aws_provider_environment(mtr_aws_chain *c, mtr_aws_credentials **out, meter_error *err)
{
  if (c->profile)
    return not_configured(err, "skipped: the profile setting chooses a profile");
  return static_pair(mtr_aws_env(&c->sys, "AWS_ACCESS_KEY_ID"),
                     mtr_aws_env(&c->sys, "AWS_SECRET_ACCESS_KEY"),
                     mtr_aws_env(&c->sys, "AWS_SESSION_TOKEN"), "AWS_ACCESS_KEY_ID",
                     "AWS_SECRET_ACCESS_KEY", "environment", out, err);
}

/* A file holding the profile's secret key that group or others can read
 * is worth a warning (as ssh does for keys): anyone on the host can bill as
 * this seller. */
static void warn_if_readable(mtr_aws_chain *c, const mtr_ini *ini, const char *section,
                             const char *path)
{
  struct stat st;
  if (ini && mtr_ini_get(ini, section, "aws_secret_access_key") && stat(path, &st) == 0 &&
      (st.st_mode & (S_IRWXG | S_IRWXO)))
    MTR_WARN(c->log, "%s holds AWS secret keys but is readable by group or others; "
                     "run: chmod 600 %s", path, path);
}

int mtr_aws_provider_profile(mtr_aws_chain *c, mtr_aws_credentials **out, meter_error *err)
{
  mtr_aws_profile p;
  int rc = mtr_aws_profile_load(&p, &c->sys, c->profile, err);
  if (rc != METER_OK)
    return rc;
  if (!mtr_aws_profile_exists(&p)) {
    if (p.named)
      rc = mtr_error_set(err, METER_ECONFIG, "AWS profile '%s' not found in %s or %s", p.name,
                         p.credentials_path[0] ? p.credentials_path : "(no HOME)",
                         p.config_path[0] ? p.config_path : "(no HOME)");
    else
      rc = not_configured(err, "no default profile");
    mtr_aws_profile_dispose(&p);
    return rc;
  }
  const char *akid = mtr_aws_profile_get(&p, "aws_access_key_id");
  const char *secret = mtr_aws_profile_get(&p, "aws_secret_access_key");
  const char *token = mtr_aws_profile_get(&p, "aws_session_token");
  if (!token)
    token = mtr_aws_profile_get(&p, "aws_security_token"); /* legacy name */
  char source[MTR_AWS_SOURCE_MAX];
  mtr_fmt(source, sizeof source, "profile %s", p.name);
  if (!akid && !secret) {
    /* A profile without keys (only a region, say): the chain goes on, unless
     * it was asked for by name and so is meant to provide credentials. */
    char why[160];
    mtr_fmt(why, sizeof why, "profile %s has no keys", p.name);
    rc = not_configured(err, why);
  } else {
    rc = static_pair(akid, secret, token, "aws_access_key_id", "aws_secret_access_key", source,
                     out, err);
    if (rc == METER_OK) {
      char config_section[160];
      mtr_fmt(config_section, sizeof config_section, "%s%s",
              strcmp(p.name, "default") == 0 ? "" : "profile ", p.name);
      warn_if_readable(c, p.credentials, p.name, p.credentials_path);
      warn_if_readable(c, p.config, config_section, p.config_path);
    }
    if (rc == METER_ECONFIG) {
      meter_error e = *err;
      mtr_error_set(err, METER_ECONFIG, "profile %s: %s", p.name, e.message);
    }
  }
  mtr_aws_profile_dispose(&p);
  return rc;
}

/* ---- the chain ------------------------------------------------------------------------ */

typedef struct provider {
  const char *name;
  int (*fn)(mtr_aws_chain *c, mtr_aws_credentials **out, meter_error *err);
} provider;

static const provider chain_order[] = {
  { "settings", mtr_aws_provider_settings },
  { "environment", mtr_aws_provider_environment },
  { "profile", mtr_aws_provider_profile },
  { "web-identity", mtr_aws_provider_web_identity },
  { "ecs", mtr_aws_provider_container },
  { "imds", mtr_aws_provider_imds },
};

static int chain_fetch(void *ctx, void **value, int64_t *expires_us, meter_error *err)
{
  mtr_aws_chain *c = ctx;
  char tried[METER_ERROR_MESSAGE_SIZE] = "";
  size_t used = 0;
  for (size_t i = 0; i < sizeof chain_order / sizeof chain_order[0]; i++) {
    mtr_aws_credentials *cr = NULL;
    meter_error perr;
    mtr_error_clear(&perr);
    int rc = chain_order[i].fn(c, &cr, &perr);
    if (rc == MTR_AWS_NOT_CONFIGURED) {
      int n = snprintf(tried + used, sizeof tried - used, "%s%s: %s", used ? "; " : "",
                       chain_order[i].name, perr.message);
      if (n > 0)
        used = used + (size_t)n < sizeof tried ? used + (size_t)n : sizeof tried - 1;
      continue;
    }
    if (rc != METER_OK) {
      if (perr.status == METER_OK)
        mtr_error_set(&perr, rc, "%s", meter_strerror(rc));
      return mtr_error_set(err, perr.status, "AWS credentials (%s): %s", chain_order[i].name,
                           perr.message);
    }
    mtr_logger_add_secret(c->log, cr->secret_access_key);
    if (cr->session_token)
      mtr_logger_add_secret(c->log, cr->session_token);
    mtr_mutex_lock(&c->lock);
    int changed = strcmp(c->source, cr->source) != 0;
    mtr_strlcpy(c->source, cr->source, sizeof c->source);
    mtr_mutex_unlock(&c->lock);
    if (changed)
      MTR_INFO(c->log, "AWS credentials: using %s%s", cr->source,
               cr->session_token ? " (temporary)" : "");
    else
      MTR_DEBUG(c->log, "AWS credentials refreshed from %s", cr->source);
    *value = cr;
    *expires_us = cr->expires_us;
    return METER_OK;
  }
  return mtr_error_set(err, METER_ECONFIG, "no AWS credentials found (%s)", tried);
}

static void *copy_value(const void *v)
{
  return mtr_aws_credentials_copy(v);
}

static void free_value(void *v)
{
  mtr_aws_credentials_free(v);
}

static const mtr_cred_ops chain_ops = { chain_fetch, copy_value, free_value };

int mtr_aws_chain_init(mtr_aws_chain *c, const mtr_env *env, mtr_logger *log,
                       const mtr_aws_sysenv *sys, const mtr_aws_chain_settings *s)
{
  memset(c, 0, sizeof *c);
  c->env = env;
  c->log = log;
  if (sys)
    c->sys = *sys;
  mtr_mutex_init(&c->lock);
  mtr_cred_cache_init(&c->cache, &chain_ops, c, env->hooks, log, "AWS credentials",
                      MTR_AWS_REFRESH_AHEAD_US);
  if (s) {
    if ((s->access_key_id && !(c->access_key_id = mtr_strdup(s->access_key_id))) ||
        (s->secret_access_key && !(c->secret_access_key = mtr_strdup(s->secret_access_key))) ||
        (s->session_token && !(c->session_token = mtr_strdup(s->session_token))) ||
        (s->profile && !(c->profile = mtr_strdup(s->profile)))) {
      mtr_aws_chain_dispose(c);
      return METER_ENOMEM;
    }
  }
  return METER_OK;
}

void mtr_aws_chain_dispose(mtr_aws_chain *c)
{
  mtr_cred_cache_dispose(&c->cache);
  mtr_free(c->access_key_id);
  mtr_free_secret_str(c->secret_access_key);
  mtr_free_secret_str(c->session_token);
  mtr_free(c->profile);
  c->access_key_id = c->secret_access_key = c->session_token = c->profile = NULL;
  mtr_mutex_destroy(&c->lock);
}

int mtr_aws_chain_get(mtr_aws_chain *c, mtr_aws_credentials **out, unsigned *generation,
                      meter_error *err)
{
  void *v = NULL;
  int rc = mtr_cred_cache_get(&c->cache, &v, generation, err);
  *out = v;
  return rc;
}

void mtr_aws_chain_invalidate(mtr_aws_chain *c, unsigned generation)
{
  mtr_cred_cache_invalidate(&c->cache, generation);
}

void mtr_aws_chain_set_region(mtr_aws_chain *c, const char *region)
{
  mtr_mutex_lock(&c->lock);
  mtr_strlcpy(c->region, region ? region : "", sizeof c->region);
  mtr_mutex_unlock(&c->lock);
}

void mtr_aws_chain_source(mtr_aws_chain *c, char *buf, size_t size)
{
  if (!size)
    return;
  mtr_mutex_lock(&c->lock);
  mtr_strlcpy(buf, c->source, size);
  mtr_mutex_unlock(&c->lock);
}
