/* The AWS credential chain and region resolution, with temporary files and
 * fake IMDS / ECS / STS servers on loopback in this process: order of the
 * sources, profiles, web identity, container credentials (the FULL_URI host
 * rule, the token file re-read), IMDSv2 (token, role, 200 with an error
 * body, v1 fallback, disabled), expiry and refresh, what is logged. */
#include "test_util.h"

#include "auth/aws_credentials.h"
#include "auth/aws_endpoint.h"
#include "auth/aws_region.h"
#include "auth/ini.h"
#include "core/error.h"
#include "core/timefmt.h"
#include "fake_clock.h"
#include "fake_http_server.h"
#include "fake_transport.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#define T0 INT64_C(1704067500000000) /* 2024-01-01T00:05:00Z */
#define HOUR (3600 * INT64_C(1000000))
#define MIN (60 * INT64_C(1000000))

/* ---- an environment table ---------------------------------------------------------- */

typedef struct env_table {
  char names[32][64];
  char values[32][512];
  size_t n;
} env_table;

static const char *table_getenv(void *ctx, const char *name)
{
  env_table *e = ctx;
  for (size_t i = 0; i < e->n; i++)
    if (strcmp(e->names[i], name) == 0)
      return e->values[i];
  return NULL;
}

static void env_set(env_table *e, const char *name, const char *value)
{
  for (size_t i = 0; i < e->n; i++)
    if (strcmp(e->names[i], name) == 0) {
      if (value) {
        snprintf(e->values[i], sizeof e->values[i], "%s", value);
      } else {
        e->n--;
        memmove(&e->names[i], &e->names[e->n], sizeof e->names[0]);
        memmove(&e->values[i], &e->values[e->n], sizeof e->values[0]);
      }
      return;
    }
  if (value) {
    snprintf(e->names[e->n], sizeof e->names[0], "%s", name);
    snprintf(e->values[e->n], sizeof e->values[0], "%s", value);
    e->n++;
  }
}

/* ---- the fixture ---------------------------------------------------------------------- */

typedef struct fx {
  fake_clock fc;
  mtr_logger log;
  mtr_transport *tr;
  mtr_retry_budget budget;
  mtr_env env;
  env_table vars;
  mtr_aws_chain chain;
  int have_chain;
  char dir[64];
} fx;

static void fx_init(fx *f)
{
  memset(f, 0, sizeof *f);
  fake_clock_init(&f->fc, T0);
  mtr_logger_init(&f->log, capture_log, NULL, METER_LOG_DEBUG);
  mtr_transport_options to = { 1000, 2000, 0, NULL, "libmeter-test", 1 << 20 };
  assert_int_equal(mtr_curl_transport_new(&f->tr, &to), METER_OK);
  mtr_budget_init(&f->budget, 0);
  f->env.transport = f->tr;
  f->env.hooks = &f->fc.hooks;
  f->env.log = &f->log;
  f->env.budget = &f->budget;
  f->env.request_timeout_ms = 2000;
  mtr_retry_policy_default(&f->env.policy);
  snprintf(f->dir, sizeof f->dir, "/tmp/meter-aws-creds-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  /* Never the real home, never the real instance metadata. */
  env_set(&f->vars, "HOME", f->dir);
  env_set(&f->vars, "AWS_EC2_METADATA_DISABLED", "true");
  captured_log_clear();
}

static void fx_chain(fx *f, const mtr_aws_chain_settings *s)
{
  mtr_aws_sysenv sys = { table_getenv, &f->vars };
  assert_int_equal(mtr_aws_chain_init(&f->chain, &f->env, &f->log, &sys, s), METER_OK);
  f->have_chain = 1;
}

static void write_file(const fx *f, const char *name, const char *text, char *path, size_t size)
{
  snprintf(path, size, "%s/%s", f->dir, name);
  char dir[256];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  *slash = '\0';
  mkdir(dir, 0700);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

static void fx_free(fx *f)
{
  if (f->have_chain)
    mtr_aws_chain_dispose(&f->chain);
  f->tr->destroy(f->tr);
  mtr_budget_dispose(&f->budget);
  mtr_logger_dispose(&f->log);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  assert_int_equal(system(cmd), 0);
}

/* Gets credentials; returns the status, fills source and key id. */
static int get(fx *f, char *akid, char *source, meter_error *err)
{
  mtr_aws_credentials *c = NULL;
  int rc = mtr_aws_chain_get(&f->chain, &c, NULL, err);
  if (rc == METER_OK) {
    if (akid)
      strcpy(akid, c->access_key_id);
    if (source)
      strcpy(source, c->source);
    mtr_aws_credentials_free(c);
  }
  return rc;
}

static void expect(fx *f, const char *akid, const char *source)
{
  char a[128], s[128];
  meter_error err;
  int rc = get(f, a, s, &err);
  if (rc != METER_OK)
    fail_msg("no credentials: %s", err.message);
  assert_string_equal(a, akid);
  assert_string_equal(s, source);
}

static void expect_error(fx *f, int status, const char *piece)
{
  meter_error err;
  int rc = get(f, NULL, NULL, &err);
  if (rc != status)
    fail_msg("status %s, expected %s: %s", meter_status_name(rc), meter_status_name(status),
             err.message);
  if (piece && !strstr(err.message, piece))
    fail_msg("'%s' not in '%s'", piece, err.message);
}

static void iso(int64_t t, char *out)
{
  char b[MTR_TIME_BUF];
  strcpy(out, mtr_time_format(t, MTR_TIME_RFC3339, b));
}

/* ---- the INI reader ----------------------------------------------------------------- */

static void test_ini(void **state)
{
  (void)state;
  const char *text = "# comment\n"
                     "; another\n"
                     "[default]\n"
                     "aws_access_key_id = AKID1   \n"
                     "aws_secret_access_key=SECRET # inline comment\n"
                     "Region = eu-west-1\n"
                     "\n"
                     "[ profile dev ]\n"
                     "s3 =\n"
                     "    max_concurrent_requests = 20\n"
                     "region=us-west-2;not a comment\n"
                     "key = a#b\n"
                     "region = ap-south-1\n"
                     "garbage line\n";
  mtr_ini *ini;
  assert_int_equal(mtr_ini_parse(&ini, text, strlen(text)), METER_OK);
  assert_string_equal(mtr_ini_get(ini, "default", "aws_access_key_id"), "AKID1");
  assert_string_equal(mtr_ini_get(ini, "default", "aws_secret_access_key"), "SECRET");
  assert_string_equal(mtr_ini_get(ini, "default", "region"), "eu-west-1");
  assert_true(mtr_ini_has_section(ini, "profile dev"));
  assert_string_equal(mtr_ini_get(ini, "profile dev", "region"), "ap-south-1"); /* last wins */
  assert_string_equal(mtr_ini_get(ini, "profile dev", "key"), "a#b");
  assert_string_equal(mtr_ini_get(ini, "profile dev", "s3"), "");
  assert_null(mtr_ini_get(ini, "profile dev", "max_concurrent_requests"));
  assert_null(mtr_ini_get(ini, "dev", "region"));
  mtr_ini_free(ini);
  meter_error err;
  assert_int_equal(mtr_ini_load(&ini, "/nonexistent/meter/config", &err), METER_ENOTFOUND);
}

/* ---- static sources ------------------------------------------------------------------ */

static void test_settings_and_environment(void **state)
{
  (void)state;
  fx f;
  fx_init(&f);
  env_set(&f.vars, "AWS_ACCESS_KEY_ID", "AKIDENV");
  env_set(&f.vars, "AWS_SECRET_ACCESS_KEY", "envsecret");
  env_set(&f.vars, "AWS_SESSION_TOKEN", "envtoken");
  mtr_aws_chain_settings s = { "AKIDSET", "setsecret", NULL, NULL };
  fx_chain(&f, &s);
  expect(&f, "AKIDSET", "settings");
  mtr_aws_chain_dispose(&f.chain);

  fx_chain(&f, NULL);
  mtr_aws_credentials *c = NULL;
  assert_int_equal(mtr_aws_chain_get(&f.chain, &c, NULL, NULL), METER_OK);
  assert_string_equal(c->source, "environment");
  assert_string_equal(c->secret_access_key, "envsecret");
  assert_string_equal(c->session_token, "envtoken");
  mtr_aws_credentials_free(c);
  char src[64];
  mtr_aws_chain_source(&f.chain, src, sizeof src);
  assert_string_equal(src, "environment");
  mtr_aws_chain_dispose(&f.chain);

  /* Half of a pair is a configuration error, not a silent fall-through. */
  env_set(&f.vars, "AWS_SECRET_ACCESS_KEY", NULL);
  fx_chain(&f, NULL);
  expect_error(&f, METER_ECONFIG, "AWS_SECRET_ACCESS_KEY is not");
  mtr_aws_chain_dispose(&f.chain);
  f.have_chain = 0;
  /* The logs name the source and never a secret. */
  assert_non_null(strstr(captured_log(), "using environment"));
  assert_null(strstr(captured_log(), "envsecret"));
  assert_null(strstr(captured_log(), "envtoken"));
  fx_free(&f);
}

static void test_profiles(void **state)
{
  (void)state;
  fx f;
  fx_init(&f);
  char cred_path[256], conf_path[256];
  write_file(&f, ".aws/credentials",
             "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n"
             "[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = s2\n"
             "aws_security_token = legacytok\n",
             cred_path, sizeof cred_path);
  write_file(&f, ".aws/config",
             "[default]\nregion = eu-west-1\n"
             "[profile ops]\naws_access_key_id = AKIDOPS\naws_secret_access_key = s3\n"
             "region = ap-south-1\n"
             "[qa]\naws_access_key_id = AKIDQA\naws_secret_access_key = s4\n",
             conf_path, sizeof conf_path);
  fx_chain(&f, NULL);
  expect(&f, "AKIDDEFAULT", "profile default");
  mtr_aws_chain_dispose(&f.chain);

  env_set(&f.vars, "AWS_PROFILE", "dev");
  fx_chain(&f, NULL);
  mtr_aws_credentials *c = NULL;
  assert_int_equal(mtr_aws_chain_get(&f.chain, &c, NULL, NULL), METER_OK);
  assert_string_equal(c->source, "profile dev");
  assert_string_equal(c->session_token, "legacytok");
  mtr_aws_credentials_free(c);
  mtr_aws_chain_dispose(&f.chain);

  /* Config file profiles are [profile x]; [x] there is not a profile. */
  env_set(&f.vars, "AWS_PROFILE", "ops");
  fx_chain(&f, NULL);
  expect(&f, "AKIDOPS", "profile ops");
  mtr_aws_chain_dispose(&f.chain);
  env_set(&f.vars, "AWS_PROFILE", "qa");
  fx_chain(&f, NULL);
  expect_error(&f, METER_ECONFIG, "profile 'qa' not found");
  mtr_aws_chain_dispose(&f.chain);

  /* The profile setting beats AWS_PROFILE and skips the environment. */
  env_set(&f.vars, "AWS_ACCESS_KEY_ID", "AKIDENV");
  env_set(&f.vars, "AWS_SECRET_ACCESS_KEY", "envsecret");
  mtr_aws_chain_settings s = { NULL, NULL, NULL, "dev" };
  fx_chain(&f, &s);
  expect(&f, "AKIDDEV", "profile dev");
  mtr_aws_chain_dispose(&f.chain);
  /* AWS_PROFILE alone does not: the environment's keys come first. */
  env_set(&f.vars, "AWS_PROFILE", "dev");
  fx_chain(&f, NULL);
  expect(&f, "AKIDENV", "environment");
  mtr_aws_chain_dispose(&f.chain);
  env_set(&f.vars, "AWS_ACCESS_KEY_ID", NULL);
  env_set(&f.vars, "AWS_SECRET_ACCESS_KEY", NULL);

  /* Files elsewhere. */
  char other[256];
  write_file(&f, "elsewhere/creds", "[dev]\naws_access_key_id=AKIDOTHER\naws_secret_access_key=x\n",
             other, sizeof other);
  env_set(&f.vars, "AWS_SHARED_CREDENTIALS_FILE", other);
  fx_chain(&f, NULL);
  expect(&f, "AKIDOTHER", "profile dev");
  mtr_aws_chain_dispose(&f.chain);

  /* Region from the profile. */
  mtr_aws_sysenv sys = { table_getenv, &f.vars };
  mtr_aws_region r;
  meter_error err;
  env_set(&f.vars, "AWS_PROFILE", "ops");
  assert_int_equal(mtr_aws_region_resolve(&r, &f.env, &sys, NULL, NULL, &err), METER_OK);
  assert_string_equal(r.name, "ap-south-1");
  assert_string_equal(r.source, "profile ops");
  env_set(&f.vars, "AWS_PROFILE", NULL);
  assert_int_equal(mtr_aws_region_resolve(&r, &f.env, &sys, NULL, NULL, &err), METER_OK);
  assert_string_equal(r.name, "eu-west-1");

  /* No default profile and nothing else: the chain says what it tried. */
  env_set(&f.vars, "AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/c");
  env_set(&f.vars, "AWS_CONFIG_FILE", "/nonexistent/f");
  fx_chain(&f, NULL);
  expect_error(&f, METER_ECONFIG, "no AWS credentials found");
  meter_error e2;
  get(&f, NULL, NULL, &e2);
  assert_non_null(strstr(e2.message, "AWS_WEB_IDENTITY_TOKEN_FILE not set"));
  assert_non_null(strstr(e2.message, "imds: disabled"));
  fx_free(&f);
}

/* ---- web identity (STS) ------------------------------------------------------------------- */

typedef struct sts_ctx {
  char expiration[32];
  int fail;
  int calls;
} sts_ctx;

static void sts_handler(void *p, const fhs_request *req, fhs_response *resp)
{
  sts_ctx *c = p;
  c->calls++;
  if (strcmp(req->method, "POST") != 0 || !strstr(req->body, "Action=AssumeRoleWithWebIdentity")) {
    resp->status = 400;
    return;
  }
  if (c->fail) {
    resp->status = 400;
    strcpy(resp->body, "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
                       "<Message>Couldn&apos;t retrieve verification key</Message></Error>"
                       "</ErrorResponse>");
    return;
  }
  resp->status = 200;
  snprintf(resp->body, sizeof resp->body,
           "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
           "<AssumeRoleWithWebIdentityResult><Credentials>"
           "<AccessKeyId>ASIASTS%d</AccessKeyId><SecretAccessKey>sts&amp;secret</SecretAccessKey>"
           "<SessionToken>ststoken%d</SessionToken><Expiration>%s</Expiration>"
           "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
           c->calls, c->calls, c->expiration);
}

static void test_web_identity(void **state)
{
  (void)state;
  fx f;
  fx_init(&f);
  sts_ctx sc = { "", 0, 0 };
  iso(T0 + HOUR, sc.expiration);
  fake_http_server srv;
  assert_int_equal(fhs_start(&srv, sts_handler, &sc), 0);
  char tok[256];
  write_file(&f, "token", "eyJ.first.token\n", tok, sizeof tok);
  env_set(&f.vars, "AWS_WEB_IDENTITY_TOKEN_FILE", tok);
  env_set(&f.vars, "AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/metering");
  env_set(&f.vars, "AWS_ROLE_SESSION_NAME", "my session");
  env_set(&f.vars, "AWS_ENDPOINT_URL_STS", srv.url);
  fx_chain(&f, NULL);
  mtr_aws_credentials *c = NULL;
  assert_int_equal(mtr_aws_chain_get(&f.chain, &c, NULL, NULL), METER_OK);
  assert_string_equal(c->source, "web-identity");
  assert_string_equal(c->access_key_id, "ASIASTS1");
  assert_string_equal(c->secret_access_key, "sts&secret");
  assert_string_equal(c->session_token, "ststoken1");
  assert_true(c->expires_us == T0 + HOUR);
  mtr_aws_credentials_free(c);
  fhs_request r = fhs_get(&srv, 0);
  assert_string_equal(r.method, "POST");
  assert_string_equal(r.target, "/");
  assert_string_equal(r.body, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn="
                              "arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fmetering&RoleSessionName="
                              "my%20session&WebIdentityToken=eyJ.first.token");
  char h[128];
  assert_non_null(fhs_header(&r, "Content-Type", h, sizeof h));
  assert_non_null(strstr(h, "application/x-www-form-urlencoded"));
  assert_null(fhs_header(&r, "Authorization", h, sizeof h)); /* unsigned */

  /* Cached until 5 minutes before expiry, then refreshed with the token
   * file read again (the platform rotates it). */
  fake_clock_advance(&f.fc, 50 * MIN);
  expect(&f, "ASIASTS1", "web-identity");
  assert_int_equal(fhs_count(&srv), 1);
  write_file(&f, "token", "eyJ.second.token", tok, sizeof tok);
  iso(T0 + 2 * HOUR, sc.expiration);
  fake_clock_advance(&f.fc, 6 * MIN);
  expect(&f, "ASIASTS2", "web-identity");
  assert_int_equal(fhs_count(&srv), 2);
  r = fhs_get(&srv, 1);
  assert_non_null(strstr(r.body, "WebIdentityToken=eyJ.second.token"));
  mtr_aws_chain_dispose(&f.chain);

  /* STS refuses: the chain stops there with STS's code. */
  sc.fail = 1;
  fx_chain(&f, NULL);
  expect_error(&f, METER_EAUTH, "InvalidIdentityToken");
  mtr_aws_chain_dispose(&f.chain);
  /* Half configured. */
  env_set(&f.vars, "AWS_ROLE_ARN", NULL);
  fx_chain(&f, NULL);
  expect_error(&f, METER_ECONFIG, "AWS_ROLE_ARN");
  fhs_stop(&srv);
  assert_null(strstr(captured_log(), "eyJ.second.token"));
  assert_null(strstr(captured_log(), "sts&secret"));
  fx_free(&f);
}

/* ---- container credentials ---------------------------------------------------------------- */

typedef struct ecs_ctx {
  char want_auth[128];
  char expiration[32];
} ecs_ctx;

static void ecs_handler(void *p, const fhs_request *req, fhs_response *resp)
{
  ecs_ctx *c = p;
  char auth[256];
  if (strcmp(req->target, "/v2/credentials/abc") != 0) {
    resp->status = 404;
    return;
  }
  if (!fhs_header(req, "Authorization", auth, sizeof auth) || strcmp(auth, c->want_auth) != 0) {
    resp->status = 401;
    strcpy(resp->body, "{\"code\":\"Unauthorized\",\"message\":\"wrong token\"}");
    return;
  }
  resp->status = 200;
  snprintf(resp->body, sizeof resp->body,
           "{\"AccessKeyId\":\"ASIAECS\",\"SecretAccessKey\":\"ecssecret\",\"Token\":\"ecstoken\","
           "\"Expiration\":\"%s\",\"RoleArn\":\"arn:aws:iam::1:role/task\"}", c->expiration);
}

static void test_container(void **state)
{
  (void)state;
  fx f;
  fx_init(&f);
  ecs_ctx ec = { "token-one", "" };
  iso(T0 + 6 * HOUR, ec.expiration);
  fake_http_server srv;
  assert_int_equal(fhs_start(&srv, ecs_handler, &ec), 0);
  char full[128], tokfile[256];
  snprintf(full, sizeof full, "%s/v2/credentials/abc", srv.url);
  write_file(&f, "eks-token", "token-one\n", tokfile, sizeof tokfile);
  env_set(&f.vars, "AWS_CONTAINER_CREDENTIALS_FULL_URI", full);
  env_set(&f.vars, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokfile);
  env_set(&f.vars, "AWS_CONTAINER_AUTHORIZATION_TOKEN", "token-from-env");
  fx_chain(&f, NULL);
  expect(&f, "ASIAECS", "ecs");
  fhs_request r = fhs_get(&srv, 0);
  char h[128];
  assert_string_equal(fhs_header(&r, "Accept", h, sizeof h), "application/json");
  /* The file is read again on every fetch: a rotated token is used. */
  write_file(&f, "eks-token", "token-two", tokfile, sizeof tokfile);
  strcpy(ec.want_auth, "token-two");
  mtr_aws_chain_invalidate(&f.chain, f.chain.cache.generation);
  expect(&f, "ASIAECS", "ecs");
  /* Without the file, the variable. */
  env_set(&f.vars, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", NULL);
  strcpy(ec.want_auth, "token-from-env");
  mtr_aws_chain_invalidate(&f.chain, f.chain.cache.generation);
  expect(&f, "ASIAECS", "ecs");
  /* The agent's error is reported. */
  strcpy(ec.want_auth, "something-else");
  mtr_aws_chain_invalidate(&f.chain, f.chain.cache.generation);
  expect_error(&f, METER_EAUTH, "wrong token");
  mtr_aws_chain_dispose(&f.chain);

  /* FULL_URI over http to a host that is not a local agent is refused
   * before any request. */
  size_t before = fhs_count(&srv);
  env_set(&f.vars, "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.1.2.3:8080/creds");
  fx_chain(&f, NULL);
  expect_error(&f, METER_ECONFIG, "not allowed");
  mtr_aws_chain_dispose(&f.chain);
  f.have_chain = 0;
  assert_int_equal(fhs_count(&srv), before);
  fhs_stop(&srv);
  assert_null(strstr(captured_log(), "ecssecret"));
  assert_null(strstr(captured_log(), "token-two"));
  fx_free(&f);
}

static void test_container_host_rule(void **state)
{
  (void)state;
  /* RELATIVE_URI goes to the ECS agent and wins over FULL_URI. */
  env_table vars;
  memset(&vars, 0, sizeof vars);
  mtr_aws_sysenv sys = { table_getenv, &vars };
  mtr_buf url = MTR_BUF_INIT;
  meter_error err;
  assert_int_equal(mtr_aws_container_url(&sys, &url, &err), MTR_AWS_NOT_CONFIGURED);
  env_set(&vars, "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9911/creds");
  assert_int_equal(mtr_aws_container_url(&sys, &url, &err), METER_OK);
  assert_string_equal(mtr_buf_cstr(&url), "http://127.0.0.1:9911/creds");
  mtr_buf_clear(&url);
  env_set(&vars, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/task-1");
  assert_int_equal(mtr_aws_container_url(&sys, &url, &err), METER_OK);
  assert_string_equal(mtr_buf_cstr(&url), "http://169.254.170.2/v2/credentials/task-1");
  mtr_buf_clear(&url);
  env_set(&vars, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", NULL);
  env_set(&vars, "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://203.0.113.9/creds");
  assert_int_equal(mtr_aws_container_url(&sys, &url, &err), METER_ECONFIG);
  mtr_buf_dispose(&url);

  char why[256];
  const char *allowed[] = {
    "https://example.com/creds", "http://127.0.0.1/x", "http://127.7.8.9:81/x",
    "http://localhost:8080/creds", "http://[::1]:9/x", "http://169.254.170.2/v2/creds",
    "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1/credentials",
  };
  const char *refused[] = {
    "http://10.0.0.1/creds", "http://192.168.1.1/", "http://169.254.169.254/latest",
    "http://169.254.170.3/", "http://[fd00:ec2::254]/", "ftp://127.0.0.1/", "http://[::2]/",
    "http://user@10.0.0.1/",
  };
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
    if (!mtr_aws_container_uri_allowed(allowed[i], why, sizeof why))
      fail_msg("%s refused: %s", allowed[i], why);
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
    if (mtr_aws_container_uri_allowed(refused[i], why, sizeof why))
      fail_msg("%s allowed", refused[i]);
}

/* ---- IMDS ------------------------------------------------------------------------------------ */

typedef struct imds_ctx {
  int token_status;       /* answer to the token PUT */
  char expiration[32];
  int error_body;         /* 200 with Code != Success */
  int creds_calls;
  int no_role;
} imds_ctx;

static void imds_handler(void *p, const fhs_request *req, fhs_response *resp)
{
  imds_ctx *c = p;
  char h[128];
  if (strcmp(req->target, "/latest/api/token") == 0) {
    if (strcmp(req->method, "PUT") != 0 ||
        !fhs_header(req, "X-aws-ec2-metadata-token-ttl-seconds", h, sizeof h)) {
      resp->status = 400;
      return;
    }
    resp->status = c->token_status;
    if (c->token_status == 200)
      strcpy(resp->body, "imds-session-token");
    return;
  }
  /* IMDSv2 enforced unless the token call is scripted to fail (v1 host). */
  if (c->token_status == 200 && (!fhs_header(req, "X-aws-ec2-metadata-token", h, sizeof h) ||
                                 strcmp(h, "imds-session-token") != 0)) {
    resp->status = 401;
    return;
  }
  resp->status = 200;
  if (strcmp(req->target, "/latest/meta-data/iam/security-credentials/") == 0) {
    if (c->no_role)
      resp->status = 404;
    else
      strcpy(resp->body, "instance-role\n");
  } else if (strcmp(req->target, "/latest/meta-data/iam/security-credentials/instance-role") == 0) {
    c->creds_calls++;
    if (c->error_body)
      strcpy(resp->body, "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"EC2 cannot "
                         "assume the role\",\"LastUpdated\":\"2024-01-01T00:00:00Z\"}");
    else
      snprintf(resp->body, sizeof resp->body,
               "{\"Code\":\"Success\",\"LastUpdated\":\"2024-01-01T00:00:00Z\",\"Type\":"
               "\"AWS-HMAC\",\"AccessKeyId\":\"ASIAIMDS%d\",\"SecretAccessKey\":\"imdssecret\","
               "\"Token\":\"imdstoken\",\"Expiration\":\"%s\"}", c->creds_calls, c->expiration);
  } else if (strcmp(req->target, "/latest/meta-data/placement/region") == 0) {
    strcpy(resp->body, "sa-east-1");
  } else {
    resp->status = 404;
  }
}

static void test_imds(void **state)
{
  (void)state;
  fx f;
  fx_init(&f);
  imds_ctx ic = { 200, "", 0, 0, 0 };
  iso(T0 + HOUR, ic.expiration);
  fake_http_server srv;
  assert_int_equal(fhs_start(&srv, imds_handler, &ic), 0);
  env_set(&f.vars, "AWS_EC2_METADATA_DISABLED", NULL);
  env_set(&f.vars, "AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.url);
  fx_chain(&f, NULL);
  mtr_aws_credentials *c = NULL;
  assert_int_equal(mtr_aws_chain_get(&f.chain, &c, NULL, NULL), METER_OK);
  assert_string_equal(c->source, "imds");
  assert_string_equal(c->access_key_id, "ASIAIMDS1");
  assert_string_equal(c->session_token, "imdstoken");
  assert_true(c->expires_us == T0 + HOUR);
  mtr_aws_credentials_free(c);
  fhs_request r = fhs_get(&srv, 0);
  char h[64];
  assert_string_equal(r.method, "PUT");
  assert_string_equal(fhs_header(&r, "X-aws-ec2-metadata-token-ttl-seconds", h, sizeof h),
                      "21600");
  r = fhs_get(&srv, 1);
  assert_string_equal(r.method, "GET");
  assert_string_equal(r.target, "/latest/meta-data/iam/security-credentials/");

  /* Refreshed 5 minutes ahead of expiry, and only then. */
  fake_clock_advance(&f.fc, 54 * MIN);
  expect(&f, "ASIAIMDS1", "imds");
  iso(T0 + 2 * HOUR, ic.expiration);
  fake_clock_advance(&f.fc, 2 * MIN);
  expect(&f, "ASIAIMDS2", "imds");
  assert_int_equal(ic.creds_calls, 2);
  assert_int_equal(f.chain.cache.fetches, 2);
  mtr_aws_chain_dispose(&f.chain);

  /* HTTP 200 carrying an error. */
  ic.error_body = 1;
  fx_chain(&f, NULL);
  expect_error(&f, METER_EAUTH, "AssumeRoleUnauthorizedAccess");
  mtr_aws_chain_dispose(&f.chain);
  ic.error_body = 0;

  /* No role attached: the chain ends without credentials. */
  ic.no_role = 1;
  fx_chain(&f, NULL);
  expect_error(&f, METER_ECONFIG, "no instance role");
  mtr_aws_chain_dispose(&f.chain);
  ic.no_role = 0;

  /* A host that only speaks IMDSv1 (token PUT refused with 404). */
  ic.token_status = 404;
  fx_chain(&f, NULL);
  expect(&f, "ASIAIMDS4", "imds");
  mtr_aws_chain_dispose(&f.chain);
  env_set(&f.vars, "AWS_EC2_METADATA_V1_DISABLED", "true");
  fx_chain(&f, NULL);
  expect_error(&f, METER_EAUTH, "IMDS token: HTTP 404");
  mtr_aws_chain_dispose(&f.chain);
  env_set(&f.vars, "AWS_EC2_METADATA_V1_DISABLED", NULL);
  ic.token_status = 200;

  /* Region from IMDS. */
  mtr_aws_sysenv sys = { table_getenv, &f.vars };
  mtr_aws_region reg;
  meter_error err;
  assert_int_equal(mtr_aws_region_resolve(&reg, &f.env, &sys, NULL, NULL, &err), METER_OK);
  assert_string_equal(reg.name, "sa-east-1");
  assert_string_equal(reg.source, "imds");

  /* Disabled: no request at all. */
  size_t before = fhs_count(&srv);
  env_set(&f.vars, "AWS_EC2_METADATA_DISABLED", "TRUE");
  fx_chain(&f, NULL);
  expect_error(&f, METER_ECONFIG, "imds: disabled");
  assert_int_equal(fhs_count(&srv), before);
  mtr_aws_chain_dispose(&f.chain);
  f.have_chain = 0;
  fhs_stop(&srv);

  /* Unreachable (nothing listens): not configured, quickly. */
  env_set(&f.vars, "AWS_EC2_METADATA_DISABLED", NULL);
  env_set(&f.vars, "AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.url); /* closed now */
  fx_chain(&f, NULL);
  expect_error(&f, METER_ECONFIG, "imds: not reachable");
  assert_non_null(strstr(captured_log(), "using imds"));
  assert_null(strstr(captured_log(), "imdssecret"));
  assert_null(strstr(captured_log(), "imds-session-token"));
  fx_free(&f);
}

/* ---- the order of the chain ---------------------------------------------------------------- */

static void test_chain_order(void **state)
{
  (void)state;
  fx f;
  fx_init(&f);
  imds_ctx ic = { 200, "", 0, 0, 0 };
  iso(T0 + HOUR, ic.expiration);
  fake_http_server imds;
  assert_int_equal(fhs_start(&imds, imds_handler, &ic), 0);
  ecs_ctx ec = { "t", "" };
  iso(T0 + HOUR, ec.expiration);
  fake_http_server ecs;
  assert_int_equal(fhs_start(&ecs, ecs_handler, &ec), 0);
  sts_ctx sc = { "", 0, 0 };
  iso(T0 + HOUR, sc.expiration);
  fake_http_server sts;
  assert_int_equal(fhs_start(&sts, sts_handler, &sc), 0);

  env_set(&f.vars, "AWS_EC2_METADATA_DISABLED", NULL);
  env_set(&f.vars, "AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url);
  fx_chain(&f, NULL);
  expect(&f, "ASIAIMDS1", "imds");
  mtr_aws_chain_dispose(&f.chain);

  char full[128];
  snprintf(full, sizeof full, "%s/v2/credentials/abc", ecs.url);
  env_set(&f.vars, "AWS_CONTAINER_CREDENTIALS_FULL_URI", full);
  env_set(&f.vars, "AWS_CONTAINER_AUTHORIZATION_TOKEN", "t");
  fx_chain(&f, NULL);
  expect(&f, "ASIAECS", "ecs");
  mtr_aws_chain_dispose(&f.chain);

  char tok[256];
  write_file(&f, "tok", "jwt", tok, sizeof tok);
  env_set(&f.vars, "AWS_WEB_IDENTITY_TOKEN_FILE", tok);
  env_set(&f.vars, "AWS_ROLE_ARN", "arn:aws:iam::1:role/r");
  env_set(&f.vars, "AWS_ENDPOINT_URL_STS", sts.url);
  fx_chain(&f, NULL);
  expect(&f, "ASIASTS1", "web-identity");
  mtr_aws_chain_dispose(&f.chain);

  char path[256];
  write_file(&f, ".aws/credentials", "[default]\naws_access_key_id=AKIDPROFILE\n"
                                      "aws_secret_access_key=p\n", path, sizeof path);
  fx_chain(&f, NULL);
  expect(&f, "AKIDPROFILE", "profile default");
  mtr_aws_chain_dispose(&f.chain);

  env_set(&f.vars, "AWS_ACCESS_KEY_ID", "AKIDENV");
  env_set(&f.vars, "AWS_SECRET_ACCESS_KEY", "e");
  fx_chain(&f, NULL);
  expect(&f, "AKIDENV", "environment");
  mtr_aws_chain_dispose(&f.chain);

  mtr_aws_chain_settings s = { "AKIDSET", "s", NULL, NULL };
  fx_chain(&f, &s);
  expect(&f, "AKIDSET", "settings");
  /* The later sources were asked only while they were the winners. */
  assert_int_equal(sc.calls, 1);
  fhs_stop(&imds);
  fhs_stop(&ecs);
  fhs_stop(&sts);
  fx_free(&f);
}

/* Many threads, one fetch. */
typedef struct getter {
  fx *f;
  int ok;
} getter;

static void *get_thread(void *p)
{
  getter *g = p;
  mtr_aws_credentials *c = NULL;
  g->ok = mtr_aws_chain_get(&g->f->chain, &c, NULL, NULL) == METER_OK &&
          strcmp(c->access_key_id, "ASIAIMDS1") == 0;
  mtr_aws_credentials_free(c);
  return NULL;
}

static void test_single_flight(void **state)
{
  (void)state;
  fx f;
  fx_init(&f);
  imds_ctx ic = { 200, "", 0, 0, 0 };
  iso(T0 + HOUR, ic.expiration);
  fake_http_server srv;
  assert_int_equal(fhs_start(&srv, imds_handler, &ic), 0);
  env_set(&f.vars, "AWS_EC2_METADATA_DISABLED", NULL);
  env_set(&f.vars, "AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.url);
  fx_chain(&f, NULL);
  pthread_t th[6];
  getter g[6];
  for (int i = 0; i < 6; i++) {
    g[i].f = &f;
    pthread_create(&th[i], NULL, get_thread, &g[i]);
  }
  for (int i = 0; i < 6; i++) {
    pthread_join(th[i], NULL);
    assert_true(g[i].ok);
  }
  fhs_stop(&srv);
  assert_int_equal(ic.creds_calls, 1);
  fx_free(&f);
}

static void test_region_order(void **state)
{
  (void)state;
  fx f;
  fx_init(&f);
  char path[256];
  write_file(&f, ".aws/config", "[default]\nregion = eu-north-1\n", path, sizeof path);
  mtr_aws_sysenv sys = { table_getenv, &f.vars };
  mtr_aws_region r;
  meter_error err;
  assert_int_equal(mtr_aws_region_resolve(&r, &f.env, &sys, NULL, NULL, &err), METER_OK);
  assert_string_equal(r.name, "eu-north-1");
  env_set(&f.vars, "AWS_DEFAULT_REGION", "us-west-1");
  assert_int_equal(mtr_aws_region_resolve(&r, &f.env, &sys, NULL, NULL, &err), METER_OK);
  assert_string_equal(r.name, "us-west-1");
  env_set(&f.vars, "AWS_REGION", "us-west-2");
  assert_int_equal(mtr_aws_region_resolve(&r, &f.env, &sys, NULL, NULL, &err), METER_OK);
  assert_string_equal(r.name, "us-west-2");
  assert_string_equal(r.source, "AWS_REGION");
  assert_int_equal(mtr_aws_region_resolve(&r, &f.env, &sys, "ca-central-1", NULL, &err), METER_OK);
  assert_string_equal(r.name, "ca-central-1");
  assert_string_equal(r.source, "setting");
  env_set(&f.vars, "AWS_REGION", "not a region");
  assert_int_equal(mtr_aws_region_resolve(&r, &f.env, &sys, NULL, NULL, &err), METER_ECONFIG);
  env_set(&f.vars, "AWS_REGION", NULL);
  env_set(&f.vars, "AWS_DEFAULT_REGION", NULL);
  env_set(&f.vars, "AWS_CONFIG_FILE", "/nonexistent");
  assert_int_equal(mtr_aws_region_resolve(&r, &f.env, &sys, NULL, NULL, &err), METER_ECONFIG);
  assert_non_null(strstr(err.message, "no AWS region"));

  mtr_buf b = MTR_BUF_INIT;
  mtr_aws_sts_endpoint(&b, "eu-west-1");
  assert_string_equal(mtr_buf_cstr(&b), "https://sts.eu-west-1.amazonaws.com");
  mtr_buf_clear(&b);
  mtr_aws_sts_endpoint(&b, "cn-north-1");
  assert_string_equal(mtr_buf_cstr(&b), "https://sts.cn-north-1.amazonaws.com.cn");
  mtr_buf_clear(&b);
  mtr_aws_sts_endpoint(&b, NULL);
  assert_string_equal(mtr_buf_cstr(&b), "https://sts.amazonaws.com");
  mtr_buf_dispose(&b);
  fx_free(&f);
}

/* The metadata calls use short timeouts (1 s) so a machine that is not on
 * EC2 finds out fast; the token call is tried once. */
static void test_imds_timeouts(void **state)
{
  (void)state;
  fx f;
  fx_init(&f);
  fake_transport ft;
  fake_transport_init(&ft);
  f.env.transport = &ft.base;
  env_set(&f.vars, "AWS_EC2_METADATA_DISABLED", NULL);
  fake_push_net(&ft, MTR_NET_TIMEOUT, 0);
  fx_chain(&f, NULL);
  expect_error(&f, METER_ECONFIG, "imds: not reachable");
  assert_int_equal(ft.nsent, 1);
  assert_string_equal(ft.sent[0].method, "PUT");
  assert_string_equal(ft.sent[0].url, "http://169.254.169.254/latest/api/token");
  assert_int_equal(ft.sent[0].timeout_ms, 1000);
  mtr_aws_chain_dispose(&f.chain);
  fake_reset(&ft);
  char expiration[32], body[512];
  iso(T0 + HOUR, expiration);
  fake_push(&ft, 200, NULL, "tok");
  fake_push(&ft, 503, NULL, "");  /* data calls are retried once */
  fake_push(&ft, 200, NULL, "role");
  fake_push(&ft, 200, NULL, "tok");
  snprintf(body, sizeof body, "{\"Code\":\"Success\",\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":"
           "\"s\",\"Token\":\"t\",\"Expiration\":\"%s\"}", expiration);
  fake_push(&ft, 200, NULL, body);
  fx_chain(&f, NULL);
  expect(&f, "ASIAX", "imds");
  assert_int_equal(ft.nsent, 5);
  for (size_t i = 0; i < ft.nsent; i++)
    assert_int_equal(ft.sent[i].timeout_ms, 1000);
  assert_string_equal(fake_sent_header(&ft, 1, "X-aws-ec2-metadata-token"), "tok");
  f.env.transport = f.tr;
  fx_free(&f);
  fake_transport_dispose(&ft);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ini),
    cmocka_unit_test(test_settings_and_environment),
    cmocka_unit_test(test_profiles),
    cmocka_unit_test(test_web_identity),
    cmocka_unit_test(test_container),
    cmocka_unit_test(test_container_host_rule),
    cmocka_unit_test(test_imds),
    cmocka_unit_test(test_imds_timeouts),
    cmocka_unit_test(test_chain_order),
    cmocka_unit_test(test_single_flight),
    cmocka_unit_test(test_region_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
