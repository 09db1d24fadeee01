/* examples/reliable runs against meter-sandbox as a user would run it, and
 * every unit it reports reaches the ledger once — through faults too. */
#include "test_util.h"

#include "sandbox_proc.h"

#include <sys/wait.h>
#include <unistd.h>

#define EXAMPLE METER_BINARY_DIR "/examples/reliable"

static int run(const char *endpoint, const char *spool, const char *flush_ms, char *out,
               size_t size)
{
  int fds[2];
  if (pipe(fds) != 0)
    return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    setenv("AWS_ACCESS_KEY_ID", "AKIDSANDBOXEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "sandbox+secret/KEY/EXAMPLE", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    execl(EXAMPLE, EXAMPLE, endpoint, spool, flush_ms, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  size_t n = 0;
  ssize_t k;
  char sink[4096];
  /* Read everything (the rest is dropped): a full pipe would stall it. */
  while ((k = read(fds[0], n + 1 < size ? out + n : sink,
                   n + 1 < size ? size - n - 1 : sizeof sink)) > 0)
    if (n + 1 < size)
      n += (size_t)k;
  out[n] = '\0';
  close(fds[0]);
  int status;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int64_t aws_units(sandbox_proc *sp)
{
  cJSON *l = sandbox_ledger(sp);
  int64_t total = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(l, "aws"))
  total += (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "quantity"));
  cJSON_Delete(l);
  return total;
}

static sandbox_proc sp;

static int setup(void **state)
{
  (void)state;
  return sandbox_start(&sp, NULL);
}

static int teardown(void **state)
{
  (void)state;
  sandbox_stop(&sp);
  return 0;
}

static void test_example_delivers_every_unit_once(void **state)
{
  (void)state;
  if (access(EXAMPLE, X_OK) != 0)
    skip();
  char dir[] = "/tmp/pipeline-example-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char spool[64], out[16384];
  snprintf(spool, sizeof spool, "%s/usage.spool", dir);

  /* The marketplace fails now and then, and loses answers it applied. */
  assert_int_equal(sandbox_fault(&sp, "{\"route\":\"aws.BatchMeterUsage\",\"kind\":\"error503\","
                                      "\"count\":2}"), 0);
  assert_int_equal(sandbox_fault(&sp, "{\"route\":\"aws.BatchMeterUsage\","
                                      "\"kind\":\"drop_after_apply\",\"count\":1}"), 0);
  int rc = run(sp.url, spool, "30000", out, sizeof out);
  if (rc != 0)
    fail_msg("example exited %d:\n%s", rc, out);
  assert_non_null(strstr(out, "100 records stored"));
  assert_non_null(strstr(out, "delivered"));
  assert_int_equal(aws_units(&sp), 100);

  /* Unreachable marketplace: it says so, keeps the records, exits 1. (A new
   * spool: on the first one this hour is reported, new records would be
   * late for it.) */
  char spool2[64];
  snprintf(spool2, sizeof spool2, "%s/other.spool", dir);
  rc = run("http://127.0.0.1:9", spool2, "1000", out, sizeof out);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "100 record(s) not delivered"));
  assert_non_null(strstr(out, "run again"));

  const char *sfx[] = { "", "-wal", "-shm", "-sender" };
  for (int s = 0; s < 2; s++)
    for (int i = 0; i < 4; i++) {
      char p[96];
      snprintf(p, sizeof p, "%s%s", s ? spool2 : spool, sfx[i]);
      unlink(p);
    }
  rmdir(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_example_delivers_every_unit_once),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
