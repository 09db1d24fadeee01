/* Points of the security review that need meter-sandbox, the meter command
 * or a TLS server (docs/security.md):
 *  - an answer above max_response_bytes is refused cleanly;
 *  - TLS verification is on by default (a self-signed server is refused) and
 *    turning it off is explicit and logged, also through the CLI;
 *  - no secret (Tackle and AppDirect client secrets, the tokens the sandbox
 *    issues, the AWS secret key and session token, signatures) ever appears
 *    in what the CLI prints, at the highest verbosity, with retries, errors,
 *    refused credentials and --json;
 *  - the CLI warns about a config file or an AWS credentials file holding
 *    secrets that others can read. */
#include "test_util.h"

#include "../integration/cli/cli_run.h"
#include "meter/tackle.h"
#include "sbx_clients.h"

#include <ctype.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TACKLE_SECRET "sandbox-tackle-secret"
#define APPDIRECT_SECRET "sandbox-appdirect-secret"
#define AWS_SECRET "sandbox+secret/KEY/EXAMPLE"
#define AWS_SESSION "FwoGZXIvYXdzEBYaDsessiontoken42"

static sandbox_proc sp;

static int setup(void **state)
{
  (void)state;
  const char *args[] = { "--aws-session-token", AWS_SESSION, NULL };
  return sandbox_start(&sp, args);
}

static int teardown(void **state)
{
  (void)state;
  sandbox_stop(&sp);
  return 0;
}

/* ---- size cap ------------------------------------------------------------ */

static void test_answer_above_the_cap_is_refused(void **state)
{
  (void)state;
  meter_client *c = sbx_client(&sp, "tackle", NULL);
  assert_non_null(c);
  meter_record *r[20];
  for (int i = 0; i < 20; i++)
    r[i] = sbx_record("tackle", "cap", i, 1);
  meter_results *res = NULL;
  assert_int_equal(meter_send(c, r, 20, &res), METER_OK);
  meter_results_free(res);
  for (int i = 0; i < 20; i++)
    meter_record_free(r[i]);
  meter_client_free(c);

  /* The same listing with a cap below one page of answer. */
  meter_setting s[] = { { "client_id", "sandbox-tackle-id" },
                        { "client_secret", TACKLE_SECRET } };
  for (int capped = 0; capped <= 1; capped++) {
    meter_client_options o = METER_CLIENT_OPTIONS_INIT;
    o.backend = "tackle";
    o.endpoint = sp.url;
    o.settings = s;
    o.settings_count = 2;
    o.max_attempts = 2;
    o.backoff_base_ms = 1;
    o.max_response_bytes = capped ? 2048 : 0;
    assert_int_equal(meter_client_new(&c, &o, NULL), METER_OK);
    meter_tackle_list *it = NULL;
    assert_int_equal(meter_tackle_list_new(&it, c, NULL), METER_OK);
    const meter_tackle_record *rec = NULL;
    int rc = meter_tackle_list_next(it, &rec);
    if (capped) {
      assert_int_equal(rc, METER_EPROTOCOL);
      char msg[512];
      meter_client_last_error(c, msg, sizeof msg);
      assert_non_null(strstr(msg, "too large"));
    } else {
      assert_int_equal(rc, METER_OK);
      assert_non_null(rec);
    }
    meter_tackle_list_free(it);
    meter_client_free(c);
  }
}

/* ---- TLS ------------------------------------------------------------------- */

/* A self-signed HTTPS server on loopback (python3 + openssl). */
typedef struct tls_server {
  pid_t pid;
  int port;
  int out;       /* the server's stdout, kept open while it runs (EPIPE otherwise) */
  char dir[64];
} tls_server;

static int tls_start(tls_server *t)
{
  snprintf(t->dir, sizeof t->dir, "/tmp/meter-tls-XXXXXX");
  if (!mkdtemp(t->dir))
    return -1;
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
           "-keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1", t->dir, t->dir);
  if (system(cmd) != 0)
    return -1;
  static const char script[] =
    "import http.server, ssl, sys\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_POST(self):\n"
    "        self.send_response(404); self.send_header('Content-Length','2'); self.end_headers();"
    " self.wfile.write(b'{}')\n"
    "    do_GET = do_POST\n"
    "    def log_message(self, *a): pass\n"
    "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
    "c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(sys.argv[1], sys.argv[2])\n"
    "s.socket = c.wrap_socket(s.socket, server_side=True)\n"
    "print(s.server_address[1], flush=True)\n"
    "s.serve_forever()\n";
  int out[2];
  if (pipe(out) != 0)
    return -1;
  t->pid = fork();
  if (t->pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    char cert[128], key[128];
    snprintf(cert, sizeof cert, "%s/cert.pem", t->dir);
    snprintf(key, sizeof key, "%s/key.pem", t->dir);
    execlp("python3", "python3", "-c", script, cert, key, (char *)NULL);
    _exit(127);
  }
  close(out[1]);
  t->out = out[0];
  char buf[32] = "";
  ssize_t n = read(out[0], buf, sizeof buf - 1);
  t->port = n > 0 ? atoi(buf) : 0;
  return t->port > 0 ? 0 : -1;
}

static void tls_stop(tls_server *t)
{
  if (t->pid > 0) {
    kill(t->pid, SIGTERM);
    waitpid(t->pid, NULL, 0);
  }
  if (t->out > 0)
    close(t->out);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
  if (system(cmd) != 0)
    print_message("could not remove %s\n", t->dir);
}

static void test_tls_is_verified_unless_turned_off_explicitly(void **state)
{
  (void)state;
  tls_server t = { 0 };
  if (tls_start(&t) != 0) {
    tls_stop(&t);
    skip(); /* no python3 or openssl here */
  }
  char url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%d", t.port);
  for (int insecure = 0; insecure <= 1; insecure++) {
    meter_setting s[] = { { "access_token", "tok-tls-test" } };
    meter_client_options o = METER_CLIENT_OPTIONS_INIT;
    o.backend = "tackle";
    o.endpoint = url;
    o.settings = s;
    o.settings_count = 1;
    o.max_attempts = 1;
    o.insecure_skip_verify = insecure;
    o.log = capture_log;
    o.log_level = METER_LOG_WARN;
    captured_log_clear();
    meter_client *c = NULL;
    assert_int_equal(meter_client_new(&c, &o, NULL), METER_OK);
    meter_tackle_record *rec = NULL;
    int rc = meter_tackle_get(&rec, c, "some-id");
    char msg[512];
    meter_client_last_error(c, msg, sizeof msg);
    if (!insecure) {
      /* Refused during the handshake: never reached the server. */
      assert_int_equal(rc, METER_ETRANSPORT);
      assert_non_null(strstr(msg, "TLS"));
      assert_null(strstr(captured_log(), "DISABLED"));
    } else {
      assert_int_equal(rc, METER_ENOTFOUND); /* the server's 404: it was reached */
      assert_non_null(strstr(captured_log(), "TLS certificate verification is DISABLED"));
    }
    meter_tackle_record_free(rec);
    meter_client_free(c);
  }
  /* The CLI: --insecure is the only way, and it says so on stderr. */
  cli_result r;
  const char *args[] = { "get", "-b", "tackle", "--endpoint", url, "--access-token",
                         "tok-tls-test", "--max-attempts", "1", "some-id", NULL };
  assert_int_equal(cli_run(&r, args, NULL, NULL), 0);
  assert_int_not_equal(r.status, 0);
  assert_null(strstr(r.err, "DISABLED"));
  cli_result_free(&r);
  const char *args2[] = { "get", "-b", "tackle", "--endpoint", url, "--access-token",
                          "tok-tls-test", "--max-attempts", "1", "--insecure", "some-id", NULL };
  assert_int_equal(cli_run(&r, args2, NULL, NULL), 0);
  assert_non_null(strstr(r.err, "TLS certificate verification is DISABLED"));
  cli_result_free(&r);
  tls_stop(&t);
}

/* ---- secrets in CLI output --------------------------------------------------- */

/* The tokens the sandbox issues for the default credentials. */
static void issued_tokens(char *tackle, char *appdirect, size_t size)
{
  long st = 0;
  char *body = sandbox_request(&sp, "POST", "/v1/authenticate",
                               "{\"client_id\":\"sandbox-tackle-id\",\"client_secret\":\""
                               TACKLE_SECRET "\",\"grant_type\":\"client_credentials\"}", &st);
  cJSON *j = body ? cJSON_Parse(body) : NULL;
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "access_token");
  snprintf(tackle, size, "%s", cJSON_IsString(t) ? t->valuestring : "");
  cJSON_Delete(j);
  free(body);
  appdirect[0] = '\0'; /* fetched below through curl: it needs HTTP Basic */
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "curl -s -u sandbox-appdirect-id:" APPDIRECT_SECRET " -d "
           "'grant_type=client_credentials&scope=ROLE_APPLICATION' %s/oauth2/token", sp.url);
  FILE *p = popen(cmd, "r");
  char buf[2048] = "";
  size_t n = p ? fread(buf, 1, sizeof buf - 1, p) : 0;
  buf[n] = '\0';
  if (p)
    pclose(p);
  j = cJSON_Parse(buf);
  t = cJSON_GetObjectItemCaseSensitive(j, "access_token");
  snprintf(appdirect, size, "%s", cJSON_IsString(t) ? t->valuestring : "");
  cJSON_Delete(j);
}

/* A run of 64 lower-case hex digits: a SigV4 signature or a derived key. */
static int has_signature(const char *s)
{
  size_t run = 0;
  for (; *s; s++) {
    run = (isdigit((unsigned char)*s) || (*s >= 'a' && *s <= 'f')) ? run + 1 : 0;
    if (run >= 64)
      return 1;
  }
  return 0;
}

static void check_output(const cli_result *r, const char *const *secrets)
{
  const char *streams[] = { r->out, r->err };
  for (int k = 0; k < 2; k++) {
    for (size_t i = 0; secrets[i]; i++)
      if (secrets[i][0] && strstr(streams[k], secrets[i]))
        fail_msg("secret '%s' printed:\n%s", secrets[i], streams[k]);
    assert_false(has_signature(streams[k]));
    const char *b = streams[k];
    while ((b = strstr(b, "Bearer ")) != NULL) {
      b += 7;
      assert_true(strncmp(b, "[redacted]", 10) == 0 || strncmp(b, "***", 3) == 0);
    }
  }
}

static void test_cli_never_prints_a_secret(void **state)
{
  (void)state;
  char tk[512], ad[512];
  issued_tokens(tk, ad, sizeof tk);
  assert_true(tk[0] && ad[0]);
  const char *secrets[] = { TACKLE_SECRET, APPDIRECT_SECRET, AWS_SECRET, AWS_SESSION, tk, ad,
                            "wrong-secret-value", NULL };
  char t[32];
  snprintf(t, sizeof t, "%ld", (long)(time(NULL) / 3600 - 2) * 3600);
  char when[64];
  time_t tt = (time_t)atol(t);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&tt));
  const char *common[] = { "-vv", "--json", "--backoff-base-ms", "1", "--backoff-max-ms", "5",
                           "--endpoint", sp.url, NULL };
  /* Faults: every send is retried at least once; an expired-token 401 path. */
  assert_int_equal(sandbox_fault(&sp, "{\"route\":\"*\",\"kind\":\"error503\",\"rate\":0.5}"),
                   0);
  struct { const char *argv[40]; } runs[8];
  size_t nruns = 0;
#define RUN(...) do { const char *a_[] = { __VA_ARGS__, NULL }; size_t n_ = 0;                \
    for (; a_[n_]; n_++) runs[nruns].argv[n_] = a_[n_];                                       \
    for (size_t c_ = 0; common[c_]; c_++) runs[nruns].argv[n_++] = common[c_];                \
    runs[nruns].argv[n_] = NULL; nruns++; } while (0)
  RUN("send", "-b", "tackle", "--client-id", "sandbox-tackle-id", "--client-secret",
      TACKLE_SECRET, "--product", "p", "--customer", "sec-cli-1", "--dimension", "users",
      "--quantity", "2", "--time", when);
  RUN("send", "-b", "tackle", "--client-id", "sandbox-tackle-id", "--client-secret",
      TACKLE_SECRET, "--product", "p", "--customer", "unknown-x", "--dimension", "users",
      "--quantity", "2", "--time", when);
  RUN("send", "-b", "tackle", "--client-id", "sandbox-tackle-id", "--client-secret",
      "wrong-secret-value", "--product", "p", "--customer", "c", "--dimension", "users",
      "--quantity", "2", "--time", when);
  RUN("send", "-b", "appdirect", "--client-id", "sandbox-appdirect-id", "--client-secret",
      APPDIRECT_SECRET, "--customer", "sec-cli-2", "--pricing-unit", "USER", "--quantity", "3",
      "--time", when);
  RUN("send", "-b", "appdirect", "--client-id", "sandbox-appdirect-id", "--client-secret",
      "wrong-secret-value", "--customer", "x", "--pricing-unit", "USER", "--quantity", "3");
  RUN("send", "-b", "aws", "--region", "us-east-1", "--access-key-id", "AKIDSANDBOXEXAMPLE",
      "--secret-access-key", AWS_SECRET, "--session-token", AWS_SESSION, "--product", "p",
      "--customer", "sec-cli-3", "--dimension", "users", "--quantity", "4", "--time", when);
  RUN("send", "-b", "aws", "--region", "us-east-1", "--access-key-id", "AKIDSANDBOXEXAMPLE",
      "--secret-access-key", "wrong-secret-value", "--session-token", AWS_SESSION, "--product",
      "p", "--customer", "c", "--dimension", "users", "--quantity", "4", "--time", when);
  RUN("resolve-customer", "-b", "aws", "--region", "us-east-1", "--access-key-id",
      "AKIDSANDBOXEXAMPLE", "--secret-access-key", AWS_SECRET, "--session-token", AWS_SESSION,
      "sandbox-registration-token");
#undef RUN
  int delivered = 0;
  for (size_t i = 0; i < nruns; i++) {
    cli_result r;
    assert_int_equal(cli_run(&r, runs[i].argv, NULL, NULL), 0);
    if (getenv("SECURITY_TEST_VERBOSE"))
      print_message("exit %d\n%s\n%s\n", r.status, r.out, r.err);
    delivered += r.status == 0;
    check_output(&r, secrets);
    cli_result_free(&r);
  }
  assert_true(delivered >= 3); /* the runs with good credentials got through */
  long st = 0;
  free(sandbox_request(&sp, "DELETE", "/_sandbox/faults", NULL, &st));
}

/* ---- file permissions ---------------------------------------------------------- */

static void test_cli_warns_about_readable_secret_files(void **state)
{
  (void)state;
  for (int mode = 0; mode < 2; mode++) {
    int perm = mode ? 0644 : 0600;
    const char *conf = cli_write_file("meter-config",
                                      "[tackle]\nclient_id = sandbox-tackle-id\n"
                                      "client_secret = " TACKLE_SECRET "\n", perm);
    chmod(conf, (mode_t)perm);
    cli_result r;
    const char *args[] = { "list", "-b", "tackle", "--config", conf, "--endpoint", sp.url,
                           "--limit", "1", NULL };
    assert_int_equal(cli_run(&r, args, NULL, NULL), 0);
    assert_int_equal(r.status, 0);
    if (mode)
      assert_non_null(strstr(r.err, "readable by group or others"));
    else
      assert_null(strstr(r.err, "readable by group or others"));
    assert_null(strstr(r.err, TACKLE_SECRET));
    cli_result_free(&r);

    const char *creds = cli_write_file("aws-credentials",
                                       "[default]\naws_access_key_id = AKIDSANDBOXEXAMPLE\n"
                                       "aws_secret_access_key = " AWS_SECRET "\n"
                                       "aws_session_token = " AWS_SESSION "\n", perm);
    chmod(creds, (mode_t)perm);
    char env_creds[600];
    snprintf(env_creds, sizeof env_creds, "AWS_SHARED_CREDENTIALS_FILE=%s", creds);
    const char *env[] = { env_creds, "AWS_EC2_METADATA_DISABLED=true", NULL };
    const char *args2[] = { "resolve-customer", "-b", "aws", "--region", "us-east-1",
                            "--endpoint", sp.url, "sandbox-registration-token", NULL };
    assert_int_equal(cli_run(&r, args2, env, NULL), 0);
    assert_int_equal(r.status, 0);
    if (mode)
      assert_non_null(strstr(r.err, "readable by group or others"));
    else
      assert_null(strstr(r.err, "readable by group or others"));
    assert_null(strstr(r.err, AWS_SECRET));
    cli_result_free(&r);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_answer_above_the_cap_is_refused),
    cmocka_unit_test(test_tls_is_verified_unless_turned_off_explicitly),
    cmocka_unit_test(test_cli_never_prints_a_secret),
    cmocka_unit_test(test_cli_warns_about_readable_secret_files),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
