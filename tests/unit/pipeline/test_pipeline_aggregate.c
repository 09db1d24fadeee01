/* Hourly aggregation in the spool, with the fake clock: hour boundaries,
 * the grace, deterministic keys, late records (dead letter, next hour,
 * revision of a replaceable report), allocation merge, windows, and resends
 * that must not bill twice. The sender runs inside meter_flush on the test's
 * thread, so every step is deterministic. */
#include "pl_fixture.h"

#include "core/timefmt.h"
#include "pipeline/aggregate.h"
#include "pipeline/spool_internal.h"

static int setup(void **state)
{
  pl_fx *f = calloc(1, sizeof *f);
  assert_non_null(fake_market_create(FM_AGGREGATE));
  pl_setup(f, 1);
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

static void submit_ok(pl_fx *f, meter_record *r)
{
  meter_error e;
  int rc = meter_submit(f->sp, r, &e);
  if (rc != METER_OK)
    fail_msg("meter_submit: %s", e.message);
  meter_record_free(r);
}

static int64_t ledger(const char *customer, const char *dim, int64_t hour)
{
  char key[128], ts[MTR_TIME_BUF];
  snprintf(key, sizeof key, "%s|%s|%s", customer, dim,
           mtr_time_format(hour, MTR_TIME_RFC3339, ts));
  const fm_entry *e = fm_find(fm, key);
  return e ? e->quantity : -1;
}

/* The fake clock starts here; records default to the real time, so the
 * tests give every record its time. */
#define NOW (PL_T0 + PL_HOUR / 2)

static void set_clock(pl_fx *f, int64_t t)
{
  f->fc.now_us = t;
}

static void test_hours_are_summed_and_sent_after_grace(void **state)
{
  pl_fx *f = *state;
  assert_int_equal(pl_open(f, NULL), METER_OK);
  submit_ok(f, pl_rec("c1", "d1", 3, PL_T0 + 10 * 60 * INT64_C(1000000)));
  submit_ok(f, pl_rec("c1", "d1", 4, PL_T0 + PL_HOUR - 1));       /* 10:59:59.999999 */
  submit_ok(f, pl_rec("c1", "d1", 5, PL_T0 + PL_HOUR));           /* 11:00:00: next hour */
  submit_ok(f, pl_rec("c2", "d1", 1, PL_T0 + 20 * 60 * INT64_C(1000000)));

  /* Stored, not sorted yet (stats is a cheap read; the sender sorts). */
  meter_spool_stats st = METER_SPOOL_STATS_INIT;
  assert_int_equal(meter_spool_stats_get(f->sp, &st), METER_OK);
  assert_int_equal(st.received, 4);
  assert_int_equal(st.open, 0);
  assert_int_equal(st.records_waiting, 4);
  assert_int_equal(st.submitted, 4);

  /* Sorted into three hours, all open: nothing is sent. */
  assert_int_equal(meter_flush(f->sp, 1000, 0), METER_OK);
  assert_int_equal(fm->requests, 0);
  assert_int_equal(meter_spool_stats_get(f->sp, &st), METER_OK);
  assert_int_equal(st.received, 0);
  assert_int_equal(st.open, 3);
  assert_int_equal(st.records_waiting, 4);
  /* Closed, but within the grace (5 min by default). */
  set_clock(f, PL_T0 + PL_HOUR + 5 * 60 * INT64_C(1000000) - 1);
  assert_int_equal(meter_flush(f->sp, 1000, 0), METER_OK);
  assert_int_equal(fm->requests, 0);
  /* Past the grace: one request, one report per customer and hour. */
  set_clock(f, PL_T0 + PL_HOUR + 5 * 60 * INT64_C(1000000));
  assert_int_equal(meter_flush(f->sp, 1000, 0), METER_OK);
  assert_int_equal(fm->requests, 1);
  assert_int_equal(fm->nlast_keys, 2);
  assert_int_equal(ledger("c1", "d1", PL_T0), 7);
  assert_int_equal(ledger("c2", "d1", PL_T0), 1);
  assert_int_equal(ledger("c1", "d1", PL_T0 + PL_HOUR), -1);
  /* Each report carries the key derived from its key and hour. */
  char k1[37], k2[37];
  mtr_agg_ikey("fakemarket", "prod|c1|d1", PL_T0, 0, k1);
  mtr_agg_ikey("fakemarket", "prod|c2|d1", PL_T0, 0, k2);
  assert_true((strcmp(fm->last_keys[0], k1) == 0 && strcmp(fm->last_keys[1], k2) == 0) ||
              (strcmp(fm->last_keys[0], k2) == 0 && strcmp(fm->last_keys[1], k1) == 0));

  set_clock(f, PL_T0 + 2 * PL_HOUR + 5 * 60 * INT64_C(1000000));
  assert_int_equal(meter_flush(f->sp, 1000, 0), METER_OK);
  assert_int_equal(ledger("c1", "d1", PL_T0 + PL_HOUR), 5);
  assert_int_equal(fm->billed, 13);
  assert_int_equal(meter_spool_stats_get(f->sp, &st), METER_OK);
  assert_int_equal(st.records_waiting, 0);
  assert_int_equal(st.delivered, 3);
  assert_int_equal(st.open + st.pending + st.sending + st.dead, 0);
}

static int check_late(const meter_spool_item *it, void *p)
{
  (void)p;
  assert_int_equal(meter_spool_item_state(it), METER_SPOOL_DEAD);
  assert_int_equal(meter_spool_item_kind(it), METER_SPOOL_LATE);
  assert_string_equal(meter_spool_item_error_code(it), "late");
  assert_non_null(strstr(meter_spool_item_message(it), "already reported"));
  meter_record *r;
  assert_int_equal(meter_spool_item_record(it, &r), METER_OK);
  assert_string_equal(meter_record_get(r, METER_FIELD_QUANTITY), "2");
  meter_record_free(r);
  assert_non_null(strstr(meter_spool_item_json(it), "\"state\":\"dead\""));
  return 0;
}

static void test_late_record_is_a_dead_letter(void **state)
{
  pl_fx *f = *state;
  assert_int_equal(pl_open(f, NULL), METER_OK);
  submit_ok(f, pl_rec("c1", "d1", 3, NOW));
  /* Stopping early: the open hour is sealed and reported now. */
  assert_int_equal(meter_flush(f->sp, 1000, METER_FLUSH_OPEN_HOURS), METER_OK);
  assert_int_equal(ledger("c1", "d1", PL_T0), 3);

  meter_record *late = pl_rec("c1", "d1", 2, NOW);
  meter_error e;
  assert_int_equal(meter_submit(f->sp, late, &e), METER_OK);
  /* Resubmitting it is recognised: kept once. */
  assert_int_equal(meter_submit(f->sp, late, &e), METER_OK);
  meter_record_free(late);
  /* Sorted (by the sender, or here by the listing): late for a reported
   * hour, a dead letter; the second copy was dropped. */
  assert_int_equal(pl_count(f->sp, METER_SPOOL_DEAD), 1);
  assert_int_equal(pl_count(f->sp, METER_SPOOL_RECEIVED), 0);
  assert_int_equal(meter_flush(f->sp, 1000, 0), METER_OK);
  meter_spool_stats st = METER_SPOOL_STATS_INIT;
  assert_int_equal(meter_spool_stats_get(f->sp, &st), METER_OK);
  assert_int_equal(st.records_waiting, 1);
  assert_int_equal(st.received, 0);
  assert_int_equal(meter_spool_list(f->sp, METER_SPOOL_STATE_MASK(METER_SPOOL_DEAD), check_late,
                                    NULL), METER_OK);
  /* Requeued, it is late again (the hour is still reported). */
  size_t n = 0;
  assert_int_equal(meter_spool_retry_dead(f->sp, NULL, &n), METER_OK);
  assert_int_equal(n, 1);
  assert_int_equal(pl_count(f->sp, METER_SPOOL_DEAD), 1);
  assert_int_equal(meter_flush(f->sp, 1000, 0), METER_OK);
  assert_int_equal(fm->billed, 3);
  assert_int_equal(meter_spool_retry_dead(f->sp, "no-such-key", &n), METER_ENOTFOUND);
}

static void test_late_record_next_hour(void **state)
{
  pl_fx *f = *state;
  meter_spool_options o = METER_SPOOL_OPTIONS_INIT;
  o.no_sender = 1;
  o.late_policy = METER_SPOOL_LATE_NEXT_HOUR;
  assert_int_equal(pl_open(f, &o), METER_OK);
  submit_ok(f, pl_rec("c1", "d1", 3, NOW));
  assert_int_equal(meter_flush(f->sp, 1000, METER_FLUSH_OPEN_HOURS), METER_OK);
  submit_ok(f, pl_rec("c1", "d1", 2, NOW)); /* 10:30, hour reported: joins 11:00 */
  submit_ok(f, pl_rec("c1", "d1", 6, PL_T0 + PL_HOUR + 1));
  assert_int_equal(pl_count(f->sp, METER_SPOOL_DEAD), 0);
  set_clock(f, PL_T0 + 2 * PL_HOUR + 6 * 60 * INT64_C(1000000));
  assert_int_equal(meter_flush(f->sp, 1000, 0), METER_OK);
  assert_int_equal(ledger("c1", "d1", PL_T0), 3);
  assert_int_equal(ledger("c1", "d1", PL_T0 + PL_HOUR), 8);
  assert_int_equal(fm->billed, 11);
}

static void test_replaceable_hour_is_revised_then_conflicts(void **state)
{
  pl_fx *f = *state;
  fake_market_reset(fm, FM_REPLACE);
  assert_int_equal(pl_open(f, NULL), METER_OK);
  submit_ok(f, pl_rec("c1", "d1", 3, NOW));
  assert_int_equal(meter_flush(f->sp, 1000, METER_FLUSH_OPEN_HOURS), METER_OK);
  assert_int_equal(ledger("c1", "d1", PL_T0), 3);
  /* Late, but the marketplace still replaces the hour: the new total goes. */
  submit_ok(f, pl_rec("c1", "d1", 2, NOW));
  assert_int_equal(meter_flush(f->sp, 1000, 0), METER_OK);
  assert_int_equal(ledger("c1", "d1", PL_T0), 5);
  assert_int_equal(fm->billed, 5);
  /* The revision carries another key than the first report. */
  char k1[37];
  mtr_agg_ikey("fakemarket", "prod|c1|d1", PL_T0, 1, k1);
  assert_string_equal(fm->last_keys[0], k1);
  /* Once processed, it answers 409: the delivered 5 stand, the 4 are a dead letter. */
  fm_process_all(fm);
  submit_ok(f, pl_rec("c1", "d1", 4, NOW));
  assert_int_equal(meter_flush(f->sp, 1000, 0), METER_OK);
  assert_int_equal(ledger("c1", "d1", PL_T0), 5);
  assert_int_equal(pl_count(f->sp, METER_SPOOL_DEAD), 1);
  assert_int_equal(pl_count(f->sp, METER_SPOOL_DELIVERED), 1);
  meter_spool_stats st = METER_SPOOL_STATS_INIT;
  assert_int_equal(meter_spool_stats_get(f->sp, &st), METER_OK);
  assert_int_equal(st.dead, 1);
  assert_int_equal(st.pending + st.sending + st.open, 0);
}

static int check_allocs(const meter_spool_item *it, void *p)
{
  (void)p;
  if (meter_spool_item_kind(it) != METER_SPOOL_AGGREGATE)
    return 0;
  meter_record *r;
  assert_int_equal(meter_spool_item_record(it, &r), METER_OK);
  assert_string_equal(meter_record_get(r, METER_FIELD_QUANTITY), "6");
  assert_int_equal(meter_record_allocation_count(r), 2);
  assert_int_equal(r->allocs[0].quantity + r->allocs[1].quantity, 6);
  assert_int_equal(meter_spool_item_records(it), 3);
  meter_record_free(r);
  return 0;
}

static int check_mismatch(const meter_spool_item *it, void *p)
{
  (void)p;
  assert_string_equal(meter_spool_item_error_code(it), "allocations_mismatch");
  assert_non_null(strstr(meter_spool_item_message(it), "allocations"));
  return 0;
}

static meter_record *with_alloc(int64_t q, const char *team)
{
  meter_record *r = pl_rec("c1", "d1", q, NOW);
  const char *k[] = { "team" }, *v[] = { team };
  assert_int_equal(meter_record_add_allocation(r, q, k, v, 1), METER_OK);
  return r;
}

static void test_allocations_merge_per_tag_set(void **state)
{
  pl_fx *f = *state;
  assert_int_equal(pl_open(f, NULL), METER_OK);
  submit_ok(f, with_alloc(2, "a"));
  submit_ok(f, with_alloc(3, "b"));
  submit_ok(f, with_alloc(1, "a"));
  /* A record of the same hour without allocations cannot join it. */
  submit_ok(f, pl_rec("c1", "d1", 5, NOW));
  assert_int_equal(meter_flush(f->sp, 1000, 0), METER_OK); /* sorts; the hour stays open */
  assert_int_equal(meter_spool_list(f->sp, 0, check_allocs, NULL), METER_OK);
  assert_int_equal(pl_count(f->sp, METER_SPOOL_DEAD), 1);
  assert_int_equal(meter_spool_list(f->sp, METER_SPOOL_STATE_MASK(METER_SPOOL_DEAD),
                                    check_mismatch, NULL), METER_OK);
  assert_int_equal(meter_flush(f->sp, 1000, METER_FLUSH_OPEN_HOURS), METER_OK);
  assert_int_equal(ledger("c1", "d1", PL_T0), 6);
}

static void test_windows(void **state)
{
  pl_fx *f = *state;
  fm->window_us = 6 * PL_HOUR;
  assert_int_equal(pl_open(f, NULL), METER_OK);
  /* An hour that started 6 h ago or more cannot be reported any more. */
  meter_record *old = pl_rec("c1", "d1", 1, PL_T0 - 6 * PL_HOUR + 1);
  meter_error e;
  assert_int_equal(meter_submit(f->sp, old, &e), METER_EINVAL);
  assert_non_null(strstr(e.message, "window"));
  meter_record_free(old);
  /* Accepted now, then the marketplace is down until it is too late. */
  submit_ok(f, pl_rec("c1", "d1", 1, PL_T0 - 5 * PL_HOUR));
  fm->fail_always = 1;
  assert_int_equal(meter_flush(f->sp, 2000, 0), METER_ETIMEOUT);
  assert_true(fm->requests >= 1);
  char buf[256];
  assert_int_equal(meter_spool_last_error(f->sp, buf, sizeof buf), METER_ETIMEOUT);
  assert_non_null(strstr(buf, "503"));
  set_clock(f, PL_T0 + 2 * PL_HOUR);
  int before = fm->requests;
  assert_int_equal(meter_flush(f->sp, 2000, 0), METER_OK);
  assert_int_equal(fm->requests, before); /* not even tried */
  assert_int_equal(pl_count(f->sp, METER_SPOOL_DEAD), 1);
  meter_spool_stats st = METER_SPOOL_STATS_INIT;
  assert_int_equal(meter_spool_stats_get(f->sp, &st), METER_OK);
  assert_int_equal(st.records_dead, 1);
  assert_int_equal(st.records_waiting, 1); /* dead letters still count */
}

static void test_resend_after_lost_answer_bills_once(void **state)
{
  pl_fx *f = *state;
  assert_int_equal(pl_open(f, NULL), METER_OK);
  submit_ok(f, pl_rec("c1", "d1", 3, PL_T0 - PL_HOUR));
  submit_ok(f, pl_rec("c1", "d1", 4, PL_T0 - PL_HOUR));
  fm->drop_next = 1;
  assert_int_equal(meter_flush(f->sp, 60000, 0), METER_OK);
  assert_int_equal(fm->requests, 2);
  assert_int_equal(fm->duplicates, 1);
  assert_int_equal(ledger("c1", "d1", PL_T0 - PL_HOUR), 7);
  assert_int_equal(fm->billed, 7);
}

static void test_key_survives_a_restart(void **state)
{
  pl_fx *f = *state;
  assert_int_equal(pl_open(f, NULL), METER_OK);
  submit_ok(f, pl_rec("c1", "d1", 3, PL_T0 - PL_HOUR));
  fm->fail_always = 1;
  assert_int_equal(meter_flush(f->sp, 500, 0), METER_ETIMEOUT);
  char first[72];
  snprintf(first, sizeof first, "%s", fm->last_keys[0]);
  pl_close(f);
  fm->fail_always = 0;
  assert_int_equal(pl_open(f, NULL), METER_OK);
  assert_int_equal(meter_flush(f->sp, 60000, 0), METER_OK);
  assert_string_equal(fm->last_keys[0], first);
  assert_int_equal(fm->billed, 3);
}

static void test_request_membership_is_kept(void **state)
{
  pl_fx *f = *state;
  fake_market_reset(fm, FM_REQUEST);
  fm->limit = 3;
  assert_int_equal(pl_open(f, NULL), METER_OK);
  meter_record *r[5];
  for (int i = 0; i < 5; i++)
    r[i] = pl_rec("c1", "d1", i + 1, NOW);
  meter_error e;
  assert_int_equal(meter_submit_batch(f->sp, r, 3, &e), METER_OK);
  /* The first request is applied but its answer is lost... */
  fm->drop_next = 1;
  int64_t w;
  assert_int_equal(mtr_sender_cycle(f->sp, 0, &w), 1);
  assert_int_equal(fm->billed, 6);
  /* ...then more records arrive before the resend: the resend must still
   * be the same request (AppDirect keys requests by their composition). */
  assert_int_equal(meter_submit_batch(f->sp, r + 3, 2, &e), METER_OK);
  assert_int_equal(meter_flush(f->sp, 60000, 0), METER_OK);
  assert_int_equal(fm->duplicates, 3);
  assert_int_equal(fm->billed, 15);
  for (int i = 0; i < 5; i++)
    meter_record_free(r[i]);
}

static void test_resubmit_same_key_is_stored_once(void **state)
{
  pl_fx *f = *state;
  assert_int_equal(pl_open(f, NULL), METER_OK);
  meter_record *r = pl_rec("c1", "d1", 3, NOW);
  meter_error e;
  assert_int_equal(meter_submit(f->sp, r, &e), METER_OK);
  assert_int_equal(meter_submit(f->sp, r, &e), METER_OK);
  meter_record_free(r);
  assert_int_equal(meter_flush(f->sp, 1000, METER_FLUSH_OPEN_HOURS), METER_OK);
  assert_int_equal(ledger("c1", "d1", PL_T0), 3);
}

static void test_purge_after_keep_delivered(void **state)
{
  pl_fx *f = *state;
  meter_spool_options o = METER_SPOOL_OPTIONS_INIT;
  o.no_sender = 1;
  o.keep_delivered_ms = 60 * 1000;
  assert_int_equal(pl_open(f, &o), METER_OK);
  meter_record *r = pl_rec("c1", "d1", 3, NOW);
  meter_error e;
  assert_int_equal(meter_submit(f->sp, r, &e), METER_OK);
  assert_int_equal(meter_flush(f->sp, 1000, METER_FLUSH_OPEN_HOURS), METER_OK);
  assert_int_equal(pl_count(f->sp, METER_SPOOL_DELIVERED), 1);
  int64_t w;
  /* Within keep_delivered_ms: kept, and a resubmission is recognised. */
  set_clock(f, NOW + 30 * INT64_C(1000000));
  assert_int_equal(mtr_sender_cycle(f->sp, 0, &w), 0);
  assert_int_equal(pl_count(f->sp, METER_SPOOL_DELIVERED), 1);
  assert_int_equal(meter_submit(f->sp, r, &e), METER_OK);
  assert_int_equal(pl_count(f->sp, METER_SPOOL_DEAD), 0);
  /* Later, purged with its contributions and keys. */
  set_clock(f, NOW + 3 * 60 * INT64_C(1000000));
  assert_int_equal(mtr_sender_cycle(f->sp, 0, &w), 0);
  assert_int_equal(pl_count(f->sp, 0), 0);
  /* The key is forgotten: the same record is a new one now (the window of
   * deduplication is keep_delivered_ms). */
  assert_int_equal(meter_submit(f->sp, r, &e), METER_OK);
  assert_int_equal(pl_count(f->sp, METER_SPOOL_OPEN) + pl_count(f->sp, METER_SPOOL_PENDING), 1);
  meter_record_free(r);
}

/* A pass purges everything due, not one chunk: the stores purged one chunk
 * a minute (100 units in SQLite, 1,000 in PostgreSQL), and a spool
 * delivering more than that grew without end. */
static void test_purge_takes_everything_due(void **state)
{
  pl_fx *f = *state;
  meter_spool_options o = METER_SPOOL_OPTIONS_INIT;
  o.no_sender = 1;
  o.keep_delivered_ms = 60 * 1000;
  assert_int_equal(pl_open(f, &o), METER_OK);
  enum { N = 2500, BATCH = 500 }; /* 25 SQLite chunks, 2.5 PostgreSQL chunks */
  meter_record *r[BATCH];
  meter_error e;
  for (int i = 0; i < N; i += BATCH) {
    for (int k = 0; k < BATCH; k++) {
      char cust[16];
      snprintf(cust, sizeof cust, "c%04d", i + k);
      r[k] = pl_rec(cust, "d1", 1, NOW);
    }
    assert_int_equal(meter_submit_batch(f->sp, r, BATCH, &e), METER_OK);
    for (int k = 0; k < BATCH; k++)
      meter_record_free(r[k]);
  }
  assert_int_equal(meter_flush(f->sp, 60000, METER_FLUSH_OPEN_HOURS), METER_OK);
  assert_int_equal(pl_count(f->sp, METER_SPOOL_DELIVERED), N);
  int64_t w;
  set_clock(f, NOW + 3 * 60 * INT64_C(1000000));
  assert_int_equal(mtr_sender_cycle(f->sp, 0, &w), 0);
  assert_int_equal(pl_count(f->sp, 0), 0);
}

static void test_replaceable_hours_kept_until_their_window(void **state)
{
  pl_fx *f = *state;
  fake_market_reset(fm, FM_REPLACE);
  fm->window_us = 6 * PL_HOUR;
  meter_spool_options o = METER_SPOOL_OPTIONS_INIT;
  o.no_sender = 1;
  o.keep_delivered_ms = 60 * 1000;
  assert_int_equal(pl_open(f, &o), METER_OK);
  submit_ok(f, pl_rec("c1", "d1", 3, NOW));
  assert_int_equal(meter_flush(f->sp, 1000, METER_FLUSH_OPEN_HOURS), METER_OK);
  int64_t w;
  /* Its total must stay known while a late record could still revise it. */
  set_clock(f, NOW + 2 * PL_HOUR);
  assert_int_equal(mtr_sender_cycle(f->sp, 0, &w), 0);
  assert_int_equal(pl_count(f->sp, METER_SPOOL_DELIVERED), 1);
  set_clock(f, PL_T0 + 7 * PL_HOUR);
  assert_int_equal(mtr_sender_cycle(f->sp, 0, &w), 0);
  assert_int_equal(pl_count(f->sp, 0), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_hours_are_summed_and_sent_after_grace, setup, teardown),
    cmocka_unit_test_setup_teardown(test_late_record_is_a_dead_letter, setup, teardown),
    cmocka_unit_test_setup_teardown(test_late_record_next_hour, setup, teardown),
    cmocka_unit_test_setup_teardown(test_replaceable_hour_is_revised_then_conflicts, setup, teardown),
    cmocka_unit_test_setup_teardown(test_allocations_merge_per_tag_set, setup, teardown),
    cmocka_unit_test_setup_teardown(test_windows, setup, teardown),
    cmocka_unit_test_setup_teardown(test_resend_after_lost_answer_bills_once, setup, teardown),
    cmocka_unit_test_setup_teardown(test_key_survives_a_restart, setup, teardown),
    cmocka_unit_test_setup_teardown(test_request_membership_is_kept, setup, teardown),
    cmocka_unit_test_setup_teardown(test_resubmit_same_key_is_stored_once, setup, teardown),
    cmocka_unit_test_setup_teardown(test_purge_after_keep_delivered, setup, teardown),
    cmocka_unit_test_setup_teardown(test_purge_takes_everything_due, setup, teardown),
    cmocka_unit_test_setup_teardown(test_replaceable_hours_kept_until_their_window, setup,
                                    teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
