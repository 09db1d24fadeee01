#include "aws_region.h"

#include "auth/aws_endpoint.h"
#include "auth/aws_imds.h"
#include "auth/aws_profile.h"
#include "core/error.h"
#include "core/str.h"

#include <string.h>

static int found(mtr_aws_region *out, const char *name, const char *source, meter_error *err)
{
  if (!mtr_aws_region_valid(name))
    return mtr_error_set(err, METER_ECONFIG, "region '%.64s' (from %s) is not a valid AWS region",
                         name, source);
  mtr_strlcpy(out->name, name, sizeof out->name);
  mtr_strlcpy(out->source, source, sizeof out->source);
  return METER_OK;
}

int mtr_aws_region_resolve(mtr_aws_region *out, const mtr_env *env, const mtr_aws_sysenv *sys,
                           const char *setting, const char *profile_setting, meter_error *err)
{
  memset(out, 0, sizeof *out);
  if (setting && *setting)
    return found(out, setting, "setting", err);
  const char *v = mtr_aws_env(sys, "AWS_REGION");
  if (v)
    return found(out, v, "AWS_REGION", err);
  if ((v = mtr_aws_env(sys, "AWS_DEFAULT_REGION")))
    return found(out, v, "AWS_DEFAULT_REGION", err);

  mtr_aws_profile p;
  int rc = mtr_aws_profile_load(&p, sys, profile_setting, err);
  if (rc != METER_OK)
    return rc;
  if ((v = mtr_aws_profile_get(&p, "region"))) {
    char source[80];
    mtr_fmt(source, sizeof source, "profile %s", p.name);
    rc = found(out, v, source, err);
    mtr_aws_profile_dispose(&p);
    return rc;
  }
  mtr_aws_profile_dispose(&p);

  long status = 0;
  mtr_buf body = MTR_BUF_INIT;
  meter_error ierr;
  mtr_error_clear(&ierr);
  rc = mtr_aws_imds_get(env, sys, "/latest/meta-data/placement/region", &status, &body, &ierr);
  if (rc == METER_OK && status == 200) {
    char name[64];
    mtr_strlcpy(name, mtr_buf_cstr(&body), sizeof name);
    mtr_buf_dispose(&body);
    return found(out, mtr_trim(name), "imds", err);
  }
  mtr_buf_dispose(&body);
  if (rc == METER_OK)
    mtr_fmt(ierr.message, sizeof ierr.message, "HTTP %ld", status);
  return mtr_error_set(err, METER_ECONFIG,
                       "no AWS region: set the `region` setting, AWS_REGION, AWS_DEFAULT_REGION "
                       "or the profile's region (IMDS: %s)",
                       rc == MTR_AWS_IMDS_DISABLED ? "disabled" : ierr.message);
}
