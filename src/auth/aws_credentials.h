/* AWS credentials and the default credential chain.
 *
 * Order (the first source that is configured wins; a source that is
 * configured but fails stops the chain with its error rather than silently
 * falling through to another identity):
 *
 *   1. settings      access_key_id + secret_access_key [+ session_token]
 *   2. environment   AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY [+ AWS_SESSION_TOKEN]
 *                    (skipped when the `profile` setting names a profile)
 *   3. profile       the shared credentials and config files
 *                    (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE, ~/.aws/...),
 *                    profile from the setting, AWS_PROFILE, else "default"
 *   4. web-identity  AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN: STS
 *                    AssumeRoleWithWebIdentity (EKS IRSA)
 *   5. ecs           AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI (ECS
 *                    task role, EKS Pod Identity)
 *   6. imds          EC2 instance metadata (IMDSv2), unless
 *                    AWS_EC2_METADATA_DISABLED=true
 *
 * The result is cached (auth/cred_cache.h): refreshed 5 minutes before it
 * expires, one refresh at a time. The winning source is logged (never a
 * secret) and can be asked for (meter_aws_credential_source), because
 * MeterUsage must be signed with the instance, task or pod role.
 */
#ifndef MTR_AWS_CREDENTIALS_H
#define MTR_AWS_CREDENTIALS_H

#include "auth/aws_env.h"
#include "auth/cred_cache.h"
#include "core/sync.h"
#include "http/exchange.h"

#include <stdint.h>

#define MTR_AWS_REFRESH_AHEAD_US (INT64_C(300) * 1000000)
#define MTR_AWS_SOURCE_MAX 96

typedef struct mtr_aws_credentials {
  char *access_key_id;
  char *secret_access_key;
  char *session_token;       /* NULL for long-term keys */
  int64_t expires_us;        /* 0: does not expire */
  char source[MTR_AWS_SOURCE_MAX]; /* "environment", "profile default", "web-identity",
                                      "ecs", "imds", "settings" */
} mtr_aws_credentials;

/* Copies the strings; NULL on ENOMEM. */
mtr_aws_credentials *mtr_aws_credentials_new(const char *akid, const char *secret,
                                             const char *token, int64_t expires_us,
                                             const char *source);
mtr_aws_credentials *mtr_aws_credentials_copy(const mtr_aws_credentials *c);
void mtr_aws_credentials_free(mtr_aws_credentials *c);   /* wipes; NULL ignored */

/* The explicit settings (each may be NULL). */
typedef struct mtr_aws_chain_settings {
  const char *access_key_id;
  const char *secret_access_key;
  const char *session_token;
  const char *profile;
} mtr_aws_chain_settings;

typedef struct mtr_aws_chain {
  const mtr_env *env;          /* transport, clock, logger of the client */
  mtr_logger *log;
  mtr_aws_sysenv sys;
  char *access_key_id, *secret_access_key, *session_token, *profile;
  mtr_mutex lock;              /* guards region and source */
  char region[64];             /* for the regional STS endpoint ("" until known) */
  char source[MTR_AWS_SOURCE_MAX];
  mtr_cred_cache cache;
} mtr_aws_chain;

int mtr_aws_chain_init(mtr_aws_chain *c, const mtr_env *env, mtr_logger *log,
                       const mtr_aws_sysenv *sys, const mtr_aws_chain_settings *s);
void mtr_aws_chain_dispose(mtr_aws_chain *c);

/* Current credentials (a copy the caller frees with mtr_aws_credentials_free),
 * fetching or refreshing first when needed. *generation (optional) is for
 * mtr_aws_chain_invalidate. */
int mtr_aws_chain_get(mtr_aws_chain *c, mtr_aws_credentials **out, unsigned *generation,
                      meter_error *err);

/* The marketplace refused these credentials (expired token): fetch anew next time. */
void mtr_aws_chain_invalidate(mtr_aws_chain *c, unsigned generation);

/* The region STS calls go to (set once the client's region is known). */
void mtr_aws_chain_set_region(mtr_aws_chain *c, const char *region);

/* Which source the current credentials came from ("" before the first fetch). */
void mtr_aws_chain_source(mtr_aws_chain *c, char *buf, size_t size);

/* ---- the providers (one file each), for the chain and for tests ---------------- */

/* A provider returns METER_OK with *out, MTR_AWS_NOT_CONFIGURED (err says
 * why, in a few words) to let the chain go on, or an error that stops it. */
#define MTR_AWS_NOT_CONFIGURED (-1)

int mtr_aws_provider_settings(mtr_aws_chain *c, mtr_aws_credentials **out, meter_error *err);
int mtr_aws_provider_environment(mtr_aws_chain *c, mtr_aws_credentials **out, meter_error *err);
int mtr_aws_provider_profile(mtr_aws_chain *c, mtr_aws_credentials **out, meter_error *err);
int mtr_aws_provider_web_identity(mtr_aws_chain *c, mtr_aws_credentials **out, meter_error *err);
int mtr_aws_provider_container(mtr_aws_chain *c, mtr_aws_credentials **out, meter_error *err);
int mtr_aws_provider_imds(mtr_aws_chain *c, mtr_aws_credentials **out, meter_error *err);

/* The URL the container provider asks: http://169.254.170.2<RELATIVE_URI>,
 * else FULL_URI if it passes the host rule (METER_ECONFIG otherwise).
 * MTR_AWS_NOT_CONFIGURED when neither variable is set. */
int mtr_aws_container_url(const mtr_aws_sysenv *sys, mtr_buf *url, meter_error *err);

/* The FULL_URI rule: https, or a host that is (or resolves only to)
 * loopback, 169.254.170.2, 169.254.170.23 or fd00:ec2::23. 1 if allowed. */
int mtr_aws_container_uri_allowed(const char *url, char *why, size_t why_size);

#endif
