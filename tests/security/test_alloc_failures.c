/* Every allocation of the library fails in turn while a whole call runs
 * through the public API against meter-sandbox (real HTTP, real answers):
 *  - for each marketplace: client creation, a send that fetches a token or
 *    signs (auth), and a retry (the sandbox answers the first attempt 503);
 *  - the reliable path: spool open, submit, flush (sent on this thread).
 * Each run must end in a clean status (METER_OK or an error), never a crash
 * or a leak: scripts/test.sh runs this under ASan + LeakSanitizer. The per-back-end torture tests (tests/unit/BACKEND/test_BACKEND_alloc.c)
 * cover the decode paths in more detail over the scripted transport. */
#include "test_util.h"

#include "core/alloc.h"
#include "sbx_clients.h"

#include <unistd.h>

typedef struct ctx {
  sandbox_proc sp;
  const char *backend;
  const char *route;
  long run;
  char spool_dir[64];
} ctx;

static void no_faults(ctx *x)
{
  long st = 0;
  free(sandbox_request(&x->sp, "DELETE", "/_sandbox/faults", NULL, &st));
}

/* One synchronous call: create, send (auth + a retry after a 503), free. */
static int send_once(ctx *x, long fail_at)
{
  no_faults(x);
  char fault[128];
  snprintf(fault, sizeof fault, "{\"route\":\"%s\",\"kind\":\"error503\",\"count\":1}", x->route);
  if (sandbox_fault(&x->sp, fault) != 0)
    return -1;
  meter_record *r = sbx_record(x->backend, "alloc", x->run++, 2);
  if (!r)
    return -1;
  mtr_alloc_fail_at(fail_at);
  meter_client *c = sbx_client(&x->sp, x->backend, NULL);
  int rc = METER_ENOMEM;
  if (c) {
    meter_results *res = NULL;
    rc = meter_send(c, &r, 1, &res);
    if (res && meter_results_count(res) != 1)
      rc = -100; /* a result per record, or none at all */
    meter_results_free(res);
    meter_client_free(c);
  }
  mtr_alloc_fail_at(0);
  meter_record_free(r);
  return rc;
}

/* The reliable path: open a spool (no background sender: flush sends on
 * this thread), submit, flush, close. */
static int spool_once(ctx *x, long fail_at)
{
  no_faults(x);
  char path[128];
  snprintf(path, sizeof path, "%s/s%ld", x->spool_dir, x->run);
  meter_record *r = sbx_record(x->backend, "alloc-rel", x->run++, 3);
  meter_client *c = sbx_client(&x->sp, x->backend, NULL);
  if (!r || !c)
    return -1;
  mtr_alloc_fail_at(fail_at);
  meter_spool_options so = METER_SPOOL_OPTIONS_INIT;
  so.path = path;
  so.no_sender = 1;
  so.backoff_base_ms = 1;
  so.backoff_max_ms = 2;
  meter_spool *sp = NULL;
  meter_error e;
  int rc = meter_spool_open(&sp, c, &so, &e);
  if (rc == METER_OK) {
    rc = meter_submit(sp, r, &e);
    if (rc == METER_OK)
      rc = meter_flush(sp, 5000, METER_FLUSH_OPEN_HOURS);
    int crc = meter_close(sp, 0, 0);
    if (rc == METER_OK)
      rc = crc;
  }
  mtr_alloc_fail_at(0);
  meter_client_free(c);
  meter_record_free(r);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -f '%s' '%s-wal' '%s-shm' '%s-sender'", path, path, path, path);
  if (system(cmd) != 0)
    return -1;
  return rc;
}

static void torture(ctx *x, int (*once)(ctx *, long), const char *what)
{
  long before = mtr_alloc_count();
  assert_int_equal(once(x, 0), METER_OK);
  long total = mtr_alloc_count() - before;
  assert_true(total > 10);
  int failed = 0;
  for (long n = 1; n <= total; n++) {
    int rc = once(x, n);
    assert_true(rc >= METER_OK || rc < -1); /* a status, never our -1 (setup) */
    assert_int_not_equal(rc, -100);
    failed += rc != METER_OK;
  }
  print_message("%s %s: %ld allocations, each failed once: %d calls ended in an error\n",
                x->backend, what, total, failed);
  assert_true(failed > 0);
}

static int setup(void **state)
{
  ctx *x = calloc(1, sizeof *x);
  if (sandbox_start(&x->sp, NULL) != 0)
    return -1;
  snprintf(x->spool_dir, sizeof x->spool_dir, "/tmp/meter-alloc-XXXXXX");
  if (!mkdtemp(x->spool_dir))
    return -1;
  *state = x;
  return 0;
}

static int teardown(void **state)
{
  ctx *x = *state;
  sandbox_stop(&x->sp);
  rmdir(x->spool_dir);
  free(x);
  return 0;
}

static void test_tackle(void **state)
{
  ctx *x = *state;
  x->backend = "tackle";
  x->route = "tackle.put";
  torture(x, send_once, "send");
}

static void test_appdirect(void **state)
{
  ctx *x = *state;
  x->backend = "appdirect";
  x->route = "appdirect.usage";
  torture(x, send_once, "send");
}

static void test_aws(void **state)
{
  ctx *x = *state;
  x->backend = "aws";
  x->route = "aws.BatchMeterUsage";
  torture(x, send_once, "send");
}

static void test_reliable(void **state)
{
  ctx *x = *state;
  x->backend = "aws";
  x->route = "aws.BatchMeterUsage";
  torture(x, spool_once, "reliable submit");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tackle),
    cmocka_unit_test(test_appdirect),
    cmocka_unit_test(test_aws),
    cmocka_unit_test(test_reliable),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
