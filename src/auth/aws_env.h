/* How the AWS code reads the process environment (AWS_REGION, AWS_PROFILE,
 * HOME, ...): through a function, getenv by default, so tests hand in a
 * table instead of changing the real environment of a multi-threaded
 * process. Empty values count as unset, as in the AWS SDKs. */
#ifndef MTR_AWS_ENV_H
#define MTR_AWS_ENV_H

typedef const char *(*mtr_getenv_fn)(void *ctx, const char *name);

typedef struct mtr_aws_sysenv {
  mtr_getenv_fn getenv;   /* NULL: the process environment */
  void *ctx;
} mtr_aws_sysenv;

/* The variable's value, or NULL when unset or empty. */
const char *mtr_aws_env(const mtr_aws_sysenv *e, const char *name);

/* 1 if the variable is "true" (any case), else 0. */
int mtr_aws_env_true(const mtr_aws_sysenv *e, const char *name);

#endif
