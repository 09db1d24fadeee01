/* The shared AWS files and the selected profile. The credentials file
 * (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials) names sections
 * `[name]`; the config file (AWS_CONFIG_FILE, else ~/.aws/config) names them
 * `[profile name]`, except `[default]`. A key is looked up in the
 * credentials file first, then in the config file. Both are read afresh on
 * every load (credentials are cached above this, not here). */
#ifndef MTR_AWS_PROFILE_H
#define MTR_AWS_PROFILE_H

#include "auth/aws_env.h"
#include "auth/ini.h"
#include "meter/errors.h"

typedef struct mtr_aws_profile {
  char name[128];
  int named;                 /* chosen by the setting or AWS_PROFILE (not the default) */
  mtr_ini *credentials;      /* NULL if the file does not exist */
  mtr_ini *config;
  char credentials_path[512];
  char config_path[512];
} mtr_aws_profile;

/* Loads both files for the profile named by `setting`, else AWS_PROFILE,
 * else "default". Missing files are not an error; unreadable ones are. */
int mtr_aws_profile_load(mtr_aws_profile *p, const mtr_aws_sysenv *sys, const char *setting,
                         meter_error *err);
void mtr_aws_profile_dispose(mtr_aws_profile *p);

/* The profile's value for key, or NULL. */
const char *mtr_aws_profile_get(const mtr_aws_profile *p, const char *key);

/* 1 if either file has a section for the profile. */
int mtr_aws_profile_exists(const mtr_aws_profile *p);

#endif
