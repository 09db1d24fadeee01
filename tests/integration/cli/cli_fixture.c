#include "cli_fixture.h"

#include <time.h>
#include <unistd.h>

static int no_sandbox;

int cfx_group_setup(void **state)
{
  cfx *f = calloc(1, sizeof *f);
  *state = f;
  if (access(sandbox_binary(), X_OK) != 0) {
    print_message("meter-sandbox not built (%s): skipped\n", sandbox_binary());
    no_sandbox = 1;
    return 0;
  }
  if (access(cli_binary(), X_OK) != 0) {
    print_message("meter not built (%s)\n", cli_binary());
    return -1;
  }
  return sandbox_start(&f->sp, NULL);
}

int cfx_group_teardown(void **state)
{
  cfx *f = *state;
  if (!no_sandbox)
    sandbox_stop(&f->sp);
  free(f);
  return 0;
}

cfx *cfx_begin(void **state)
{
  if (no_sandbox)
    skip();
  cfx *f = *state;
  assert_int_equal(sandbox_reset(&f->sp), 0);
  time_t t = time(NULL) - 60;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(f->now, sizeof f->now, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return f;
}

void ab_add(argv_b *a, ...)
{
  va_list ap;
  va_start(ap, a);
  for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *)) {
    assert_true(a->n + 1 < sizeof a->v / sizeof a->v[0]);
    a->v[a->n++] = s;
  }
  a->v[a->n] = NULL;
  va_end(ap);
}

void ab_tackle(argv_b *a, const cfx *f)
{
  ab_add(a, "-b", "tackle", "--endpoint", f->sp.url, "--client-id", "sandbox-tackle-id",
         "--client-secret", SANDBOX_TACKLE_SECRET, NULL);
}

void ab_appdirect(argv_b *a, const cfx *f)
{
  ab_add(a, "-b", "appdirect", "--endpoint", f->sp.url, "--client-id", "sandbox-appdirect-id",
         "--client-secret", SANDBOX_APPDIRECT_SECRET, NULL);
}

void ab_aws(argv_b *a, const cfx *f)
{
  ab_add(a, "-b", "aws", "--endpoint", f->sp.url, "--region", "us-east-1", "--access-key-id",
         "AKIDSANDBOXEXAMPLE", "--secret-access-key", SANDBOX_AWS_SECRET, NULL);
}

void ab_fast_retries(argv_b *a)
{
  ab_add(a, "--backoff-base-ms", "1", "--backoff-max-ms", "5", "--timeout-ms", "5000", NULL);
}

void cli_dump(const cli_result *r)
{
  fprintf(stderr, "--- exit %d\n--- stdout (%zu bytes):\n%.4000s\n--- stderr:\n%.4000s\n---\n",
          r->status, r->out_len, r->out ? r->out : "", r->err ? r->err : "");
}

void run_meter(cli_result *r, const argv_b *a, const char *const *env, const char *input)
{
  assert_int_equal(cli_run(r, a->v, env, input), 0);
  if (getenv("CLI_TEST_VERBOSE"))
    cli_dump(r);
}

cJSON *json_lines(const char *text)
{
  cJSON *arr = cJSON_CreateArray();
  const char *p = text;
  while (*p) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    if (len) {
      cJSON *j = cJSON_ParseWithLength(p, len);
      if (!j)
        fail_msg("not a JSON line: %.*s", (int)(len > 200 ? 200 : len), p);
      cJSON_AddItemToArray(arr, j);
    }
    p += len + (nl ? 1 : 0);
  }
  return arr;
}

size_t count_lines(const char *text)
{
  size_t n = 0;
  for (; *text; text++)
    n += *text == '\n';
  return n;
}

cJSON *ledger_of(cfx *f, const char *which, cJSON **root)
{
  *root = sandbox_ledger(&f->sp);
  assert_non_null(*root);
  cJSON *arr = cJSON_GetObjectItemCaseSensitive(*root, which);
  assert_true(cJSON_IsArray(arr));
  return arr;
}

void clear_faults(cfx *f)
{
  long st = 0;
  free(sandbox_request(&f->sp, "DELETE", "/_sandbox/faults", NULL, &st));
  assert_int_equal(st, 200);
}
