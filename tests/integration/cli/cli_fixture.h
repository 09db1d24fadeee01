/* Shared by the CLI tests: one meter-sandbox per test program, argument
 * lists with each marketplace's sandbox credentials, JSON-lines helpers. */
#ifndef CLI_FIXTURE_H
#define CLI_FIXTURE_H

#include "test_util.h"

#include "cli_run.h"
#include "sandbox_proc.h"

typedef struct cfx {
  sandbox_proc sp;
  char now[40];    /* a minute ago, RFC 3339: inside every marketplace's window */
} cfx;

/* Group setup/teardown: start and stop the sandbox (skipping every test when
 * the sandbox is not built). */
int cfx_group_setup(void **state);
int cfx_group_teardown(void **state);
/* Per test: resets the sandbox and refreshes `now`; skips if no sandbox. */
cfx *cfx_begin(void **state);

/* An argument list under construction. */
typedef struct argv_b {
  const char *v[160];
  size_t n;
} argv_b;

void ab_add(argv_b *a, ...);                  /* NULL-terminated strings */
void ab_tackle(argv_b *a, const cfx *f);      /* -b tackle --endpoint .. credentials */
void ab_appdirect(argv_b *a, const cfx *f);
void ab_aws(argv_b *a, const cfx *f);
void ab_fast_retries(argv_b *a);              /* small backoff so faults do not wait */

/* Runs meter with a's arguments (and env, input); prints stdout/stderr on
 * failure of later assertions via cli_dump. */
void run_meter(cli_result *r, const argv_b *a, const char *const *env, const char *input);
void cli_dump(const cli_result *r);

/* The JSON lines of stdout, parsed (a cJSON array). Fails the test on a
 * line that is not JSON. */
cJSON *json_lines(const char *text);
/* Number of '\n'-terminated lines. */
size_t count_lines(const char *text);
/* DELETE /_sandbox/faults. */
void clear_faults(cfx *f);
/* The ledger array of one marketplace ("tackle", "appdirect", "aws"). */
cJSON *ledger_of(cfx *f, const char *which, cJSON **root);

#define SANDBOX_TACKLE_SECRET "sandbox-tackle-secret"
#define SANDBOX_APPDIRECT_SECRET "sandbox-appdirect-secret"
#define SANDBOX_AWS_SECRET "sandbox+secret/KEY/EXAMPLE"

#endif
