#include "aws_profile.h"

#include "core/error.h"
#include "core/str.h"

#include <stdio.h>
#include <string.h>

static int file_path(char *out, size_t size, const mtr_aws_sysenv *sys, const char *var,
                     const char *leaf)
{
  const char *v = mtr_aws_env(sys, var);
  if (v) {
    /* "~/" at the start means the home directory, as in the SDKs. */
    const char *home = mtr_aws_env(sys, "HOME");
    if (v[0] == '~' && v[1] == '/' && home)
      return snprintf(out, size, "%s%s", home, v + 1) < (int)size ? 0 : -1;
    return snprintf(out, size, "%s", v) < (int)size ? 0 : -1;
  }
  const char *home = mtr_aws_env(sys, "HOME");
  if (!home) {
    out[0] = '\0';
    return 0;
  }
  return snprintf(out, size, "%s/.aws/%s", home, leaf) < (int)size ? 0 : -1;
}

static int load_one(mtr_ini **out, const char *path, meter_error *err)
{
  *out = NULL;
  if (!path[0])
    return METER_OK;
  int rc = mtr_ini_load(out, path, err);
  if (rc == METER_ENOTFOUND) {
    mtr_error_clear(err);
    return METER_OK;
  }
  return rc;
}

int mtr_aws_profile_load(mtr_aws_profile *p, const mtr_aws_sysenv *sys, const char *setting,
                         meter_error *err)
{
  memset(p, 0, sizeof *p);
  const char *name = setting && *setting ? setting : mtr_aws_env(sys, "AWS_PROFILE");
  p->named = name != NULL;
  mtr_strlcpy(p->name, name ? name : "default", sizeof p->name);
  if (file_path(p->credentials_path, sizeof p->credentials_path, sys,
                "AWS_SHARED_CREDENTIALS_FILE", "credentials") ||
      file_path(p->config_path, sizeof p->config_path, sys, "AWS_CONFIG_FILE", "config"))
    return mtr_error_set(err, METER_ECONFIG, "AWS shared file path too long");
  int rc = load_one(&p->credentials, p->credentials_path, err);
  if (rc == METER_OK)
    rc = load_one(&p->config, p->config_path, err);
  if (rc != METER_OK)
    mtr_aws_profile_dispose(p);
  return rc;
}

void mtr_aws_profile_dispose(mtr_aws_profile *p)
{
  mtr_ini_free(p->credentials);
  mtr_ini_free(p->config);
  p->credentials = p->config = NULL;
}

static const char *config_get(const mtr_aws_profile *p, const char *key)
{
  char section[160];
  snprintf(section, sizeof section, "profile %s", p->name);
  const char *v = mtr_ini_get(p->config, section, key);
  if (!v && strcmp(p->name, "default") == 0)
    v = mtr_ini_get(p->config, "default", key);
  return v;
}

const char *mtr_aws_profile_get(const mtr_aws_profile *p, const char *key)
{
  const char *v = mtr_ini_get(p->credentials, p->name, key);
  return v ? v : config_get(p, key);
}

int mtr_aws_profile_exists(const mtr_aws_profile *p)
{
  char section[160];
  snprintf(section, sizeof section, "profile %s", p->name);
  return mtr_ini_has_section(p->credentials, p->name) || mtr_ini_has_section(p->config, section) ||
         (strcmp(p->name, "default") == 0 && mtr_ini_has_section(p->config, "default"));
}
