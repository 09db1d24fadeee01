/* The spool with the real clock and the background sender: validation at
 * submit, bounds (fail fast, wait with a timeout), dead letters and their
 * requeue, export, backoff that does not spin, flush and close deadlines,
 * many submitting threads, fork(), and SIGKILL in the middle of a request. */
#include "pl_fixture.h"

#include "core/hooks.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int setup(void **state)
{
  pl_fx *f = calloc(1, sizeof *f);
  assert_non_null(fake_market_create(FM_AGGREGATE));
  pl_setup(f, 0);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  pl_fx *f = *state;
  pl_teardown(f);
  fake_market_destroy(fm);
  free(f);
  return 0;
}

static int64_t mono_ms(void)
{
  return mtr_mono_us(mtr_hooks_default()) / 1000;
}

static int64_t now_us(void)
{
  return mtr_now_us(mtr_hooks_default());
}

/* An hour that has closed (sent as soon as the sender sees it). */
static int64_t closed_hour(void)
{
  return now_us() - 2 * PL_HOUR;
}

static meter_spool_options opts(int no_sender)
{
  meter_spool_options o = METER_SPOOL_OPTIONS_INIT;
  o.no_sender = no_sender;
  o.durability = METER_SPOOL_SYNC_PROCESS;
  o.backoff_base_ms = 20;
  o.backoff_max_ms = 100;
  o.poll_interval_ms = 50;
  return o;
}

static void test_invalid_records_are_refused_at_submit(void **state)
{
  pl_fx *f = *state;
  meter_spool_options o = opts(1);
  assert_int_equal(pl_open(f, &o), METER_OK);
  meter_record *bad = rec_of("product", "p", NULL);
  meter_error e;
  assert_int_equal(meter_submit(f->sp, bad, &e), METER_EINVAL);
  assert_non_null(strstr(e.message, "customer: required"));
  char buf[256];
  assert_int_equal(meter_spool_last_error(f->sp, buf, sizeof buf), METER_EINVAL);
  /* A batch is all or nothing, and names the record. */
  meter_record *batch[3] = { pl_rec("c1", "d", 1, 0), bad, pl_rec("c2", "d", 1, 0) };
  assert_int_equal(meter_submit_batch(f->sp, batch, 3, &e), METER_EINVAL);
  assert_non_null(strstr(e.message, "record 1: customer: required"));
  assert_int_equal(pl_count(f->sp, 0), 0);
  /* Aggregated usage must be whole units. */
  meter_record *frac = rec_of("customer", "c", "quantity", "1.5", NULL);
  assert_int_equal(meter_submit(f->sp, frac, &e), METER_EINVAL);
  assert_non_null(strstr(e.message, "whole number"));
  assert_int_equal(meter_submit(f->sp, NULL, &e), METER_EINVAL);
  meter_record_free(frac);
  for (int i = 0; i < 3; i++)
    meter_record_free(batch[i]);
  /* Options are checked. */
  meter_spool_options v = METER_SPOOL_OPTIONS_INIT;
  v.version = 99;
  v.path = f->path;
  meter_spool *sp;
  assert_int_equal(meter_spool_open(&sp, f->c, &v, &e), METER_EVERSION);
  assert_null(sp);
  meter_spool_options init;
  assert_int_equal(meter_spool_options_init(&init, METER_SPOOL_OPTIONS_VERSION), METER_OK);
  assert_int_equal(init.version, METER_SPOOL_OPTIONS_VERSION);
}

static void test_spool_belongs_to_one_back_end(void **state)
{
  pl_fx *f = *state;
  meter_spool_options o = opts(1);
  assert_int_equal(pl_open(f, &o), METER_OK);
  meter_record *r = pl_rec("c1", "d", 1, 0);
  assert_int_equal(meter_submit(f->sp, r, NULL), METER_OK);
  meter_record_free(r);
  pl_close(f);
  /* Another back end's client is refused, naming both. */
  meter_client_options co = METER_CLIENT_OPTIONS_INIT;
  meter_setting s[] = { { "region", "us-east-1" } };
  co.backend = "aws";
  co.settings = s;
  co.settings_count = 1;
  meter_client *aws;
  meter_error e;
  if (meter_client_new(&aws, &co, &e) == METER_OK) {
    meter_spool *sp;
    o.path = f->path;
    assert_int_equal(meter_spool_open(&sp, aws, &o, &e), METER_ECONFIG);
    assert_non_null(strstr(e.message, "fakemarket"));
    meter_client_free(aws);
  }
  /* Without a client: inspection only. */
  meter_spool *ro;
  assert_int_equal(meter_spool_open(&ro, NULL, &o, &e), METER_OK);
  assert_int_equal(pl_count(ro, 0), 1);
  r = pl_rec("c1", "d", 1, 0);
  assert_int_equal(meter_submit(ro, r, &e), METER_EINVAL);
  meter_record_free(r);
  assert_int_equal(meter_flush(ro, 100, 0), METER_EINVAL);
  meter_close(ro, 0, 0);
}

static void test_full_fails_fast(void **state)
{
  pl_fx *f = *state;
  meter_spool_options o = opts(1);
  o.max_records = 3;
  assert_int_equal(pl_open(f, &o), METER_OK);
  meter_error e;
  for (int i = 0; i < 3; i++) {
    meter_record *r = pl_rec("c1", "d", 1, 0);
    assert_int_equal(meter_submit(f->sp, r, &e), METER_OK);
    meter_record_free(r);
  }
  meter_record *r = pl_rec("c2", "d", 1, 0);
  int64_t t0 = mono_ms();
  assert_int_equal(meter_submit(f->sp, r, &e), METER_EFULL);
  assert_true(mono_ms() - t0 < 2000);
  assert_non_null(strstr(e.message, "spool full"));
  /* Delivering makes room. */
  assert_int_equal(meter_flush(f->sp, 5000, METER_FLUSH_OPEN_HOURS), METER_OK);
  assert_int_equal(meter_submit(f->sp, r, &e), METER_OK);
  meter_record_free(r);
}

typedef struct flusher {
  meter_spool *sp;
  int delay_ms;
} flusher;

static void *flush_later(void *p)
{
  flusher *fl = p;
  struct timespec ts = { 0, (long)fl->delay_ms * 1000000L };
  nanosleep(&ts, NULL);
  meter_flush(fl->sp, 5000, 0);
  return NULL;
}

static void test_full_waits_then_times_out_or_gets_room(void **state)
{
  pl_fx *f = *state;
  meter_spool_options o = opts(1);
  o.max_records = 2;
  o.full_policy = METER_SPOOL_FULL_WAIT;
  o.full_wait_ms = 300;
  assert_int_equal(pl_open(f, &o), METER_OK);
  meter_error e;
  for (int i = 0; i < 2; i++) {
    meter_record *r = pl_rec("c1", "d", 1, closed_hour());
    assert_int_equal(meter_submit(f->sp, r, &e), METER_OK);
    meter_record_free(r);
  }
  meter_record *r = pl_rec("c2", "d", 1, closed_hour());
  int64_t t0 = mono_ms();
  assert_int_equal(meter_submit(f->sp, r, &e), METER_EFULL);
  int64_t waited = mono_ms() - t0;
  assert_true(waited >= 250);
  assert_true(waited < 3000);
  /* This time the records are delivered while the submitter waits. */
  o.full_wait_ms = 5000;
  pl_close(f);
  assert_int_equal(pl_open(f, &o), METER_OK);
  flusher fl = { f->sp, 100 };
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, flush_later, &fl), 0);
  assert_int_equal(meter_submit(f->sp, r, &e), METER_OK);
  pthread_join(th, NULL);
  meter_record_free(r);
  /* The waiting record went by that flush or goes by this one: once. */
  assert_int_equal(meter_flush(f->sp, 5000, 0), METER_OK);
  assert_int_equal(fm->billed, 3);
}

typedef struct seen {
  mtr_mutex lock;
  int delivered, dead, retry;
} seen;

static void on_outcome(const meter_spool_item *it, meter_spool_state st, meter_outcome oc, void *p)
{
  seen *s = p;
  assert_non_null(meter_spool_item_idempotency_key(it));
  mtr_mutex_lock(&s->lock);
  if (st == METER_SPOOL_DELIVERED) {
    assert_true(meter_outcome_delivered(oc));
    s->delivered++;
  } else if (st == METER_SPOOL_DEAD) {
    s->dead++;
  } else {
    assert_int_equal(st, METER_SPOOL_PENDING);
    s->retry++;
  }
  mtr_mutex_unlock(&s->lock);
}

static int write_lines(const char *data, size_t len, void *p)
{
  mtr_buf *b = p;
  mtr_buf_put(b, data, len);
  return 0;
}

static void test_dead_letters_and_requeue(void **state)
{
  pl_fx *f = *state;
  seen s = { MTR_MUTEX_INIT, 0, 0, 0 };
  meter_spool_options o = opts(0);
  o.on_outcome = on_outcome;
  o.on_outcome_payload = &s;
  assert_int_equal(pl_open(f, &o), METER_OK);
  meter_record *good = pl_rec("c1", "d", 4, closed_hour());
  meter_record *bad = pl_rec("bad-customer", "d", 2, closed_hour());
  assert_int_equal(meter_submit(f->sp, good, NULL), METER_OK);
  assert_int_equal(meter_submit(f->sp, bad, NULL), METER_OK);
  meter_record_free(good);
  meter_record_free(bad);
  assert_int_equal(meter_flush(f->sp, 5000, 0), METER_OK);
  assert_int_equal(s.delivered, 1);
  assert_int_equal(s.dead, 1);
  meter_spool_stats st = METER_SPOOL_STATS_INIT;
  assert_int_equal(meter_spool_stats_get(f->sp, &st), METER_OK);
  assert_int_equal(st.dead, 1);
  assert_int_equal(st.delivered, 1);
  assert_int_equal(st.records_waiting, 1);
  assert_int_equal(st.sender, 1);
  assert_true(st.requests >= 1);

  mtr_buf out = MTR_BUF_INIT;
  assert_int_equal(meter_spool_export(f->sp, METER_SPOOL_STATE_MASK(METER_SPOOL_DEAD), write_lines,
                                      &out), METER_OK);
  assert_non_null(strstr(out.ptr, "\"error_code\":\"CustomerNotSubscribed\""));
  assert_non_null(strstr(out.ptr, "\"customer\":\"bad-customer\""));
  assert_non_null(strstr(out.ptr, "\"quantity\":2"));
  assert_non_null(strchr(out.ptr, '\n'));
  mtr_buf_dispose(&out);

  size_t n;
  assert_int_equal(meter_spool_retry_dead(f->sp, NULL, &n), METER_OK);
  assert_int_equal(n, 1);
  assert_int_equal(meter_flush(f->sp, 5000, 0), METER_OK);
  assert_int_equal(s.dead, 2); /* refused again */
  assert_int_equal(fm->rejected, 2);
  assert_int_equal(fm->billed, 4);
}

static void test_backoff_does_not_spin(void **state)
{
  pl_fx *f = *state;
  fm->fail_always = 1;
  meter_spool_options o = opts(0);
  o.backoff_base_ms = 100;
  o.backoff_max_ms = 400;
  assert_int_equal(pl_open(f, &o), METER_OK);
  for (int i = 0; i < 5; i++) {
    meter_record *r = pl_rec("c1", "d", 1, closed_hour() - i * PL_HOUR);
    assert_int_equal(meter_submit(f->sp, r, NULL), METER_OK);
    meter_record_free(r);
  }
  struct timespec ts = { 1, 200000000L };
  nanosleep(&ts, NULL);
  /* Backoffs of >= 50, 100, 200, 200... ms: a handful of requests in 1.2 s,
   * however many records wait. */
  int n = fm->requests;
  assert_true(n >= 2);
  assert_true(n <= 12);
  meter_spool_stats st = METER_SPOOL_STATS_INIT;
  assert_int_equal(meter_spool_stats_get(f->sp, &st), METER_OK);
  assert_int_equal(st.last_status, METER_EUNDELIVERED);
  assert_non_null(strstr(st.last_message, "503"));
  /* The marketplace recovers; a flush cuts the backoff short. */
  fm->fail_always = 0;
  assert_int_equal(meter_flush(f->sp, 5000, 0), METER_OK);
  assert_int_equal(fm->billed, 5);
}

static void test_flush_deadline(void **state)
{
  pl_fx *f = *state;
  fm->fail_always = 1;
  meter_spool_options o = opts(0);
  assert_int_equal(pl_open(f, &o), METER_OK);
  meter_record *r = pl_rec("c1", "d", 1, closed_hour());
  assert_int_equal(meter_submit(f->sp, r, NULL), METER_OK);
  meter_record_free(r);
  int64_t t0 = mono_ms();
  assert_int_equal(meter_flush(f->sp, 300, 0), METER_ETIMEOUT);
  int64_t took = mono_ms() - t0;
  assert_true(took >= 300);
  assert_true(took < 2000);
  char buf[256];
  assert_int_equal(meter_spool_last_error(f->sp, buf, sizeof buf), METER_ETIMEOUT);
  assert_non_null(strstr(buf, "503"));
  /* 0: do not wait. */
  t0 = mono_ms();
  assert_int_equal(meter_flush(f->sp, 0, 0), METER_ETIMEOUT);
  assert_true(mono_ms() - t0 < 500);
}

static void test_close_deadline_interrupts_a_slow_send(void **state)
{
  pl_fx *f = *state;
  fm->slow_us = 30 * INT64_C(1000000); /* the marketplace takes 30 s to answer */
  meter_spool_options o = opts(0);
  assert_int_equal(pl_open(f, &o), METER_OK);
  meter_record *r = pl_rec("c1", "d", 3, closed_hour());
  assert_int_equal(meter_submit(f->sp, r, NULL), METER_OK);
  meter_record_free(r);
  while (fm->requests == 0) {
    struct timespec ts = { 0, 5000000L };
    nanosleep(&ts, NULL);
  }
  int64_t t0 = mono_ms();
  assert_int_equal(meter_close(f->sp, 300, 0), METER_ETIMEOUT);
  f->sp = NULL;
  int64_t took = mono_ms() - t0;
  assert_true(took >= 300);
  assert_true(took < 3000);
  /* Nothing was lost: the next process delivers it, once. */
  fm->slow_us = 0;
  assert_int_equal(pl_open(f, &o), METER_OK);
  assert_int_equal(meter_flush(f->sp, 5000, 0), METER_OK);
  assert_int_equal(fm->billed, 3);
}

typedef struct submitter {
  meter_spool *sp;
  int id, n;
  int64_t hour;
  int failures;
} submitter;

static void *submit_many(void *p)
{
  submitter *s = p;
  char cust[32];
  snprintf(cust, sizeof cust, "c%d", s->id % 4);
  for (int i = 0; i < s->n; i++) {
    meter_record *r = pl_rec(cust, "d", 1 + i % 3, s->hour);
    if (meter_submit(s->sp, r, NULL) != METER_OK)
      s->failures++;
    meter_record_free(r);
  }
  return NULL;
}

static void run_threads(pl_fx *f, int mode, int nthreads, int per_thread)
{
  fake_market_reset(fm, mode);
  meter_spool_options o = opts(0);
  assert_int_equal(pl_open(f, &o), METER_OK);
  submitter s[16];
  pthread_t th[16];
  int64_t expected = 0;
  /* The current hour: records keep joining it while the sender runs. */
  int64_t hour = now_us();
  for (int t = 0; t < nthreads; t++) {
    s[t] = (submitter){ f->sp, t, per_thread, hour, 0 };
    for (int i = 0; i < per_thread; i++)
      expected += 1 + i % 3;
    assert_int_equal(pthread_create(&th[t], NULL, submit_many, &s[t]), 0);
  }
  for (int t = 0; t < nthreads; t++) {
    pthread_join(th[t], NULL);
    assert_int_equal(s[t].failures, 0);
  }
  assert_int_equal(meter_close(f->sp, 30000, METER_FLUSH_OPEN_HOURS), METER_OK);
  f->sp = NULL;
  assert_int_equal(fm->billed, expected);
  assert_int_equal(fm->rejected, 0);
}

static void test_many_threads_aggregated(void **state)
{
  run_threads(*state, FM_AGGREGATE, 8, 500);
}

static void test_many_threads_requests(void **state)
{
  run_threads(*state, FM_REQUEST, 8, 300);
  assert_true(fm->requests > 1);
}

static void test_fork_child_cannot_use_the_parents_spool(void **state)
{
  pl_fx *f = *state;
  meter_spool_options o = opts(0);
  assert_int_equal(pl_open(f, &o), METER_OK);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    meter_record *r = pl_rec("child", "d", 1, closed_hour());
    meter_error e;
    int ok = meter_submit(f->sp, r, &e) == METER_ECLOSED && strstr(e.message, "fork") &&
             meter_flush(f->sp, 100, 0) == METER_ECLOSED;
    meter_close(f->sp, 1000, 0); /* frees the child's copy only */
    /* The child opens its own. */
    meter_spool *mine = NULL;
    meter_spool_options co = opts(1);
    co.path = f->path;
    ok = ok && meter_spool_open(&mine, f->c, &co, &e) == METER_OK &&
         meter_submit(mine, r, &e) == METER_OK;
    meter_close(mine, 0, 0);
    meter_record_free(r);
    _exit(ok ? 0 : 1);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  /* The parent's sender delivers what the child stored. */
  assert_int_equal(meter_flush(f->sp, 5000, 0), METER_OK);
  assert_int_equal(fm->billed, 1);
}

/* The child spools and sends; the marketplace applies a request and hangs
 * before answering; the parent kills the child then and restarts on the
 * same spool. */
static void crash_mid_request(pl_fx *f, int mode)
{
  fake_market_reset(fm, mode);
  fm->limit = 4;
  fm->hang_after_apply_us = 60 * INT64_C(1000000);
  int64_t hour = closed_hour();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    meter_spool_options o = opts(0);
    o.durability = METER_SPOOL_SYNC_FULL;
    /* One batch: the sender must not seal an hour between two records. */
    meter_record *r[10];
    for (int i = 0; i < 10; i++)
      r[i] = pl_rec(i % 2 ? "c1" : "c2", "d", i + 1, hour);
    if (pl_open(f, &o) == METER_OK)
      meter_submit_batch(f->sp, r, 10, NULL);
    for (;;)
      pause();
  }
  while (!fm->hanging) {
    struct timespec ts = { 0, 2000000L };
    nanosleep(&ts, NULL);
  }
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  fm->hang_after_apply_us = 0;
  fm->hanging = 0;
  int64_t billed = fm->billed;
  assert_true(billed > 0); /* the lost request was applied */
  meter_spool_options o = opts(0);
  assert_int_equal(pl_open(f, &o), METER_OK);
  assert_int_equal(meter_flush(f->sp, 10000, 0), METER_OK);
  assert_int_equal(fm->billed, 55);
  assert_true(fm->duplicates >= 1);
  assert_int_equal(fm->rejected, 0);
}

static void test_sigkill_mid_request_aggregated(void **state)
{
  crash_mid_request(*state, FM_AGGREGATE);
}

static void test_sigkill_mid_request_requests(void **state)
{
  crash_mid_request(*state, FM_REQUEST);
}

static void test_sigkill_not_idempotent_is_a_dead_letter(void **state)
{
  pl_fx *f = *state;
  fake_market_reset(fm, FM_UNSAFE);
  fm->hang_after_apply_us = 60 * INT64_C(1000000);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    meter_spool_options o = opts(0);
    if (pl_open(f, &o) == METER_OK) {
      meter_record *r = pl_rec("c1", "d", 5, 0);
      meter_submit(f->sp, r, NULL);
      meter_record_free(r);
    }
    for (;;)
      pause();
  }
  while (!fm->hanging) {
    struct timespec ts = { 0, 2000000L };
    nanosleep(&ts, NULL);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  fm->hang_after_apply_us = 0;
  meter_spool_options o = opts(0);
  assert_int_equal(pl_open(f, &o), METER_OK);
  assert_int_equal(meter_flush(f->sp, 5000, 0), METER_OK);
  /* Not resent (that would bill twice): a dead letter saying why. */
  assert_int_equal(fm->billed, 5);
  assert_int_equal(fm->requests, 1);
  assert_int_equal(pl_count(f->sp, METER_SPOOL_DEAD), 1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_invalid_records_are_refused_at_submit, setup, teardown),
    cmocka_unit_test_setup_teardown(test_spool_belongs_to_one_back_end, setup, teardown),
    cmocka_unit_test_setup_teardown(test_full_fails_fast, setup, teardown),
    cmocka_unit_test_setup_teardown(test_full_waits_then_times_out_or_gets_room, setup, teardown),
    cmocka_unit_test_setup_teardown(test_dead_letters_and_requeue, setup, teardown),
    cmocka_unit_test_setup_teardown(test_backoff_does_not_spin, setup, teardown),
    cmocka_unit_test_setup_teardown(test_flush_deadline, setup, teardown),
    cmocka_unit_test_setup_teardown(test_close_deadline_interrupts_a_slow_send, setup, teardown),
    cmocka_unit_test_setup_teardown(test_many_threads_aggregated, setup, teardown),
    cmocka_unit_test_setup_teardown(test_many_threads_requests, setup, teardown),
    cmocka_unit_test_setup_teardown(test_fork_child_cannot_use_the_parents_spool, setup, teardown),
    cmocka_unit_test_setup_teardown(test_sigkill_mid_request_aggregated, setup, teardown),
    cmocka_unit_test_setup_teardown(test_sigkill_mid_request_requests, setup, teardown),
    cmocka_unit_test_setup_teardown(test_sigkill_not_idempotent_is_a_dead_letter, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
