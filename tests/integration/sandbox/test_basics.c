/* meter-sandbox as a process: the start-up line and nothing else on stdout,
 * free ports for parallel runs, loopback only unless --listen, --help, bad
 * flags, clean stop on SIGTERM/SIGINT, keep-alive, many concurrent
 * connections, unknown routes. */
#include "sbx_client.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct child {
  pid_t pid;
  int out;            /* its stdout */
  char line[256];     /* the first line */
} child;

/* Runs the sandbox with args (NULL-terminated) and reads its first line. */
static void spawn(child *c, const char *const *args)
{
  const char *argv[32];
  size_t n = 0;
  argv[n++] = sandbox_binary();
  for (size_t i = 0; args && args[i] && n < 31; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  int fd[2];
  assert_int_equal(pipe(fd), 0);
  c->pid = fork();
  assert_true(c->pid >= 0);
  if (c->pid == 0) {
    dup2(fd[1], STDOUT_FILENO);
    close(fd[0]);
    close(fd[1]);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(fd[1]);
  sbx_track(c->pid);
  c->out = fd[0];
  size_t len = 0;
  while (len < sizeof c->line - 1) {
    ssize_t k = read(c->out, c->line + len, 1);
    if (k <= 0 || c->line[len] == '\n') {
      len += k > 0 ? 1 : 0;
      break;
    }
    len++;
  }
  c->line[len] = '\0';
}

/* Sends sig and returns the exit status (or -1 if it did not exit cleanly). */
static int stop(child *c, int sig)
{
  sbx_untrack(c->pid);
  kill(c->pid, sig);
  int status = 0;
  for (int i = 0; i < 500; i++) {
    if (waitpid(c->pid, &status, WNOHANG) == c->pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    usleep(10000);
  }
  kill(c->pid, SIGKILL);
  waitpid(c->pid, &status, 0);
  return -1;
}

static void test_startup_line_and_quiet_stdout(void **state)
{
  (void)state;
  child c;
  spawn(&c, (const char *const[]){ "--port", "0", NULL });
  int port = 0;
  char tail[8] = "";
  assert_int_equal(sscanf(c.line, "meter-sandbox listening on http://127.0.0.1:%d%7s", &port, tail), 1);
  assert_true(port > 0 && port < 65536);
  assert_int_equal(c.line[strlen(c.line) - 1], '\n');
  sandbox_proc sp = { c.pid, port, "" };
  snprintf(sp.url, sizeof sp.url, "http://127.0.0.1:%d", port);
  http_resp r;
  assert_int_equal(http_call(&sp, "GET", "/_sandbox/ledger", NULL, NULL, &r), 200);
  http_resp_free(&r);
  assert_int_equal(stop(&c, SIGTERM), 0);
  char more[64];
  assert_int_equal(read(c.out, more, sizeof more), 0); /* nothing after the first line */
  close(c.out);
}

static void test_sigint_stops_cleanly(void **state)
{
  (void)state;
  child c;
  spawn(&c, (const char *const[]){ "--port", "0", NULL });
  assert_non_null(strstr(c.line, "listening"));
  assert_int_equal(stop(&c, SIGINT), 0);
  close(c.out);
}

static void test_parallel_sandboxes_get_own_ports(void **state)
{
  (void)state;
  sandbox_proc a, b;
  sbx_start(&a, NULL);
  sbx_start(&b, NULL);
  assert_int_not_equal(a.port, b.port);
  http_resp r;
  assert_int_equal(http_call(&a, "GET", "/_sandbox/ledger", NULL, NULL, &r), 200);
  http_resp_free(&r);
  assert_int_equal(http_call(&b, "GET", "/_sandbox/ledger", NULL, NULL, &r), 200);
  http_resp_free(&r);
  sbx_stop(&a);
  sbx_stop(&b);
}

/* The local address of the listening socket on port, from /proc/net/tcp
 * ("0100007F" is 127.0.0.1); "" when not found. */
static void listen_address(int port, char out[16])
{
  out[0] = '\0';
  FILE *f = fopen("/proc/net/tcp", "r");
  if (!f)
    return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    char local[64];
    unsigned st;
    if (sscanf(line, " %*d: %63s %*s %x", local, &st) != 2 || st != 0x0A) /* LISTEN */
      continue;
    char *colon = strchr(local, ':');
    if (colon && (int)strtol(colon + 1, NULL, 16) == port) {
      *colon = '\0';
      snprintf(out, 16, "%.15s", local);
      break;
    }
  }
  fclose(f);
}

static void test_binds_loopback_only(void **state)
{
  (void)state;
  sandbox_proc sp;
  sbx_start(&sp, NULL);
  char addr[16];
  listen_address(sp.port, addr);
  if (!addr[0]) {
    sbx_stop(&sp);
    skip(); /* no /proc/net/tcp here */
  }
  assert_string_equal(addr, "0100007F");
  sbx_stop(&sp);
}

static void test_listen_flag(void **state)
{
  (void)state;
  child c;
  spawn(&c, (const char *const[]){ "--port", "0", "--listen", "127.0.0.2", NULL });
  int port = 0;
  assert_int_equal(sscanf(c.line, "meter-sandbox listening on http://127.0.0.2:%d", &port), 1);
  char addr[16];
  listen_address(port, addr);
  if (addr[0])
    assert_string_equal(addr, "0200007F");
  assert_int_equal(stop(&c, SIGTERM), 0);
  close(c.out);
}

static int run_status(const char *const *args, char *out, size_t size)
{
  child c;
  spawn(&c, args);
  size_t len = strlen(c.line);
  ssize_t k;
  while (len < size - 1 && (k = read(c.out, out + len, size - 1 - len)) > 0)
    len += (size_t)k;
  memcpy(out, c.line, strlen(c.line));
  out[len] = '\0';
  close(c.out);
  int status;
  waitpid(c.pid, &status, 0);
  sbx_untrack(c.pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_help_lists_every_flag(void **state)
{
  (void)state;
  static char out[16384];
  assert_int_equal(run_status((const char *const[]){ "--help", NULL }, out, sizeof out), 0);
  const char *flags[] = { "--port", "--listen", "--threads", "--seed", "--fault",
                          "--tackle-client-id", "--tackle-client-secret", "--tackle-token-ttl",
                          "--tackle-send-delay", "--appdirect-client-id",
                          "--appdirect-client-secret", "--appdirect-token-ttl",
                          "--appdirect-processing-ms", "--aws-access-key-id",
                          "--aws-secret-access-key", "--aws-session-token", "--aws-region",
                          "--aws-resource-region", "--aws-meter-window-hours",
                          "--aws-batch-window-hours", "--max-skew", "--clock-offset",
                          "--max-body", "--bench", "--verbose", "--help" };
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
    if (!strstr(out, flags[i]))
      fail_msg("--help does not mention %s", flags[i]);
}

static void test_bad_flags_exit_2(void **state)
{
  (void)state;
  char out[4096];
  assert_int_equal(run_status((const char *const[]){ "--no-such-flag", NULL }, out, sizeof out), 2);
  assert_int_equal(run_status((const char *const[]){ "--port", "70000", NULL }, out, sizeof out), 2);
  assert_int_equal(run_status((const char *const[]){ "--fault", "tackle.put:explode", NULL }, out,
                              sizeof out),
                   2);
  assert_int_equal(run_status((const char *const[]){ "--listen", "localhost", NULL }, out,
                              sizeof out),
                   2);
}

static size_t discard(char *d, size_t s, size_t m, void *ud)
{
  (void)d;
  (void)ud;
  return s * m;
}

static void test_keep_alive(void **state)
{
  (void)state;
  sandbox_proc sp;
  sbx_start(&sp, NULL);
  CURL *h = curl_easy_init();
  char url[128];
  snprintf(url, sizeof url, "%s/_sandbox/ledger", sp.url);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    long connects = -1;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
    assert_int_equal(connects, i == 0 ? 1 : 0); /* the connection is reused */
  }
  curl_easy_cleanup(h);
  sbx_stop(&sp);
}

static void test_many_concurrent_connections(void **state)
{
  (void)state;
  sandbox_proc sp;
  sbx_start(&sp, "--threads", "2", NULL);
  enum { N = 64 };
  CURLM *m = curl_multi_init();
  CURL *hs[N];
  char url[128];
  snprintf(url, sizeof url, "%s/_sandbox/ledger", sp.url);
  for (int i = 0; i < N; i++) {
    hs[i] = curl_easy_init();
    curl_easy_setopt(hs[i], CURLOPT_URL, url);
    curl_easy_setopt(hs[i], CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(hs[i], CURLOPT_FRESH_CONNECT, 1L);
    curl_multi_add_handle(m, hs[i]);
  }
  int running = 1;
  while (running) {
    curl_multi_perform(m, &running);
    if (running)
      curl_multi_poll(m, NULL, 0, 1000, NULL);
  }
  int ok = 0;
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(m, &left)) != NULL) {
    long st = 0;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &st);
    if (msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK && st == 200)
      ok++;
  }
  for (int i = 0; i < N; i++) {
    curl_multi_remove_handle(m, hs[i]);
    curl_easy_cleanup(hs[i]);
  }
  curl_multi_cleanup(m);
  assert_int_equal(ok, N);
  sbx_stop(&sp);
}

static void test_unknown_route_404(void **state)
{
  (void)state;
  sandbox_proc sp;
  sbx_start(&sp, NULL);
  http_resp r;
  assert_int_equal(http_call(&sp, "GET", "/v2/whatever", NULL, NULL, &r), 404);
  assert_non_null(jstr(r.json, "message"));
  http_resp_free(&r);
  assert_int_equal(http_call(&sp, "PATCH", "/v1/metering/usage-records", NULL, "{}", &r), 404);
  http_resp_free(&r);
  sbx_stop(&sp);
}

static void test_body_size_limit(void **state)
{
  (void)state;
  sandbox_proc sp;
  sbx_start(&sp, "--max-body", "2048", NULL);
  char big[4096];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  http_resp r;
  assert_int_equal(http_call(&sp, "POST", "/v1/authenticate", NULL, big, &r), 413);
  http_resp_free(&r);
  sbx_stop(&sp);
}

/* Stops what a failed test left running. */
static int cleanup(void **state)
{
  (void)state;
  sbx_stop_others(NULL);
  return 0;
}

int main(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(test_startup_line_and_quiet_stdout, cleanup),
    cmocka_unit_test_teardown(test_sigint_stops_cleanly, cleanup),
    cmocka_unit_test_teardown(test_parallel_sandboxes_get_own_ports, cleanup),
    cmocka_unit_test_teardown(test_binds_loopback_only, cleanup),
    cmocka_unit_test_teardown(test_listen_flag, cleanup),
    cmocka_unit_test_teardown(test_help_lists_every_flag, cleanup),
    cmocka_unit_test_teardown(test_bad_flags_exit_2, cleanup),
    cmocka_unit_test_teardown(test_keep_alive, cleanup),
    cmocka_unit_test_teardown(test_many_concurrent_connections, cleanup),
    cmocka_unit_test_teardown(test_unknown_route_404, cleanup),
    cmocka_unit_test_teardown(test_body_size_limit, cleanup),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
