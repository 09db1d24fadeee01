#include "aws_env.h"

#include "core/str.h"

#include <stdlib.h>

const char *mtr_aws_env(const mtr_aws_sysenv *e, const char *name)
{
  const char *v = e && e->getenv ? e->getenv(e->ctx, name) : getenv(name);
  return v && *v ? v : NULL;
}

int mtr_aws_env_true(const mtr_aws_sysenv *e, const char *name)
{
  const char *v = mtr_aws_env(e, name);
  return v && mtr_streq_nocase(v, "true");
}
