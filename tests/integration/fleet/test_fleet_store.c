/* What the PostgreSQL store does that a SQLite spool does not (the shared
 * behaviours run in test_fleet_aggregate and test_fleet_spool): the
 * versioned schema and replicas migrating at once, spools side by side in
 * one database, concurrent claims that never overlap, leases that expire
 * and hand a batch over with its composition, a completion after the lease
 * was taken over, idempotent submits, the local fallback while the database
 * is down, and callers built against options version 1. Fake market and
 * fake clock (tests/unit/pipeline), a throwaway cluster (pl_fixture_pg.c). */
#include "pl_fixture.h"

#include "core/hooks.h"
#include "pg_proc.h"
#include "pipeline/spool_internal.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stddef.h>
#include <unistd.h>

pg_proc *pl_pg(void);

#define NOW (PL_T0 + PL_HOUR / 2)
#define SEC INT64_C(1000000)

static int setup_request(void **state)
{
  pl_fx *f = calloc(1, sizeof *f);
  assert_non_null(fake_market_create(FM_REQUEST));
  pl_setup(f, 1);
  *state = f;
  return 0;
}

static int setup_aggregate(void **state)
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

/* Runs SQL on the test cluster (database `db`); returns the first value of
 * the first row ("" if none), in a static buffer. */
static const char *sql1(const char *db, const char *text)
{
  static char out[256];
  char conninfo[256];
  snprintf(conninfo, sizeof conninfo, "postgresql://meter@127.0.0.1:%d/%s", pl_pg()->port, db);
  PGconn *c = PQconnectdb(conninfo);
  assert_int_equal(PQstatus(c), CONNECTION_OK);
  PGresult *r = PQexec(c, text);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
    fail_msg("%s: %s", text, PQresultErrorMessage(r));
  snprintf(out, sizeof out, "%s", st == PGRES_TUPLES_OK && PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
  PQclear(r);
  PQfinish(c);
  return out;
}

static meter_spool_options quiet(void)
{
  meter_spool_options o = METER_SPOOL_OPTIONS_INIT;
  o.no_sender = 1;
  o.durability = METER_SPOOL_SYNC_PROCESS;
  return o;
}

static meter_spool *open_at(pl_fx *f, const char *path, meter_spool_options o)
{
  o.path = path;
  meter_spool *sp = NULL;
  meter_error e;
  if (meter_spool_open(&sp, f->c, &o, &e) != METER_OK)
    fail_msg("meter_spool_open: %s", e.message);
  return sp;
}

static void submit_n(meter_spool *sp, const char *prefix, int n, int64_t t)
{
  for (int i = 0; i < n; i++) {
    char key[64], cust[32];
    snprintf(key, sizeof key, "%s-%d", prefix, i);
    snprintf(cust, sizeof cust, "c%d", i);
    meter_record *r = pl_rec(cust, "d", 1 + i % 3, t);
    assert_int_equal(meter_record_set(r, METER_FIELD_IDEMPOTENCY_KEY, key), METER_OK);
    meter_error e;
    if (meter_submit(sp, r, &e) != METER_OK)
      fail_msg("meter_submit: %s", e.message);
    meter_record_free(r);
  }
}

/* ---- schema ---------------------------------------------------------------------- */

typedef struct opener {
  pl_fx *f;
  const char *url;
  int rc;
} opener;

static void *open_close(void *p)
{
  opener *o = p;
  meter_spool_options so = quiet();
  so.path = o->url;
  meter_spool *sp = NULL;
  meter_error e;
  o->rc = meter_spool_open(&sp, o->f->c, &so, &e);
  if (o->rc != METER_OK)
    fprintf(stderr, "open: %s\n", e.message);
  meter_close(sp, 0, 0);
  return NULL;
}

static void test_replicas_migrate_a_new_database_at_once(void **state)
{
  pl_fx *f = *state;
  assert_int_equal(pl_open(f, NULL), METER_OK); /* starts the cluster */
  char db[32], url[256];
  snprintf(db, sizeof db, "fresh%d", (int)getpid());
  char create[64];
  snprintf(create, sizeof create, "CREATE DATABASE %s", db);
  sql1("meter", create);
  snprintf(url, sizeof url, "postgresql://meter@127.0.0.1:%d/%s", pl_pg()->port, db);
  /* Eight replicas start together on an empty database. */
  opener o[8];
  pthread_t th[8];
  for (int i = 0; i < 8; i++) {
    o[i] = (opener){ f, url, -1 };
    pthread_create(&th[i], NULL, open_close, &o[i]);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(o[i].rc, METER_OK);
  }
  assert_string_equal(sql1(db, "SELECT count(*) || '/' || max(version) FROM meter_schema_version"),
                      "1/1");
  assert_string_equal(sql1(db, "SELECT count(*) FROM pg_tables WHERE tablename IN ("
                               "'meter_spools', 'meter_inbox', 'meter_seen', 'meter_units',"
                               " 'meter_contribs', 'meter_batches')"), "6");
  assert_string_equal(sql1(db, "SELECT count(*) FROM meter_spools"), "1");
  /* A service role with only the rights docs/fleet.md lists works once the
   * schema is current (no DDL at open). */
  sql1(db, "CREATE ROLE meter_app LOGIN");
  sql1(db, "GRANT USAGE ON SCHEMA public TO meter_app");
  sql1(db, "GRANT SELECT, INSERT, UPDATE, DELETE ON meter_schema_version, meter_spools,"
           " meter_inbox, meter_seen, meter_units, meter_contribs, meter_batches TO meter_app");
  sql1(db, "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO meter_app");
  char app_url[300];
  snprintf(app_url, sizeof app_url, "postgresql://meter_app@127.0.0.1:%d/%s?spool=app",
           pl_pg()->port, db);
  meter_spool *app = open_at(f, app_url, quiet());
  submit_n(app, "app", 3, NOW - PL_HOUR);
  meter_error ae;
  assert_int_equal(mtr_spool_sort(app, &ae), METER_OK);
  assert_int_equal(pl_count(app, METER_SPOOL_PENDING), 3);
  meter_close(app, 0, 0);
  assert_string_equal(sql1(db, "SELECT count(*) FROM pg_tables WHERE tableowner = 'meter_app'"),
                      "0");

  /* A database migrated by a newer libmeter is refused, not altered. */
  sql1(db, "INSERT INTO meter_schema_version(version) VALUES (99)");
  meter_spool_options so = quiet();
  so.path = url;
  meter_spool *sp = NULL;
  meter_error e;
  assert_int_equal(meter_spool_open(&sp, f->c, &so, &e), METER_ECONFIG);
  assert_non_null(strstr(e.message, "schema 99"));
  assert_null(sp);
}

/* ---- namespaces ---------------------------------------------------------------- */

static void test_spool_names_are_kept_apart(void **state)
{
  pl_fx *f = *state;
  assert_int_equal(pl_open(f, NULL), METER_OK);
  char other[400];
  snprintf(other, sizeof other, "%s-other", f->path);
  meter_spool *b = open_at(f, other, quiet());
  submit_n(f->sp, "a", 3, NOW - PL_HOUR);
  submit_n(b, "b", 5, NOW - PL_HOUR);
  assert_int_equal(pl_count(f->sp, 0), 3);
  assert_int_equal(pl_count(b, 0), 5);
  meter_spool_stats st = METER_SPOOL_STATS_INIT;
  assert_int_equal(meter_spool_stats_get(b, &st), METER_OK);
  assert_int_equal(st.records_waiting, 5);
  meter_close(b, 0, 0);
}

/* ---- claims and leases ------------------------------------------------------------ */

static void claim(meter_spool *sp, const char *owner, int64_t now, int64_t lease, mtr_claim *c)
{
  mtr_claim_params p = { owner, now, lease, 1000 };
  meter_error e;
  if (sp->sops->claim(sp->store, &p, c, &e) != METER_OK)
    fail_msg("claim: %s", e.message);
}

static void complete_all(meter_spool *sp, const mtr_claim *c, mtr_unit_verdict v, int64_t now,
                         uint64_t *recs)
{
  mtr_unit_result *res = calloc(c->count, sizeof *res);
  for (size_t i = 0; i < c->count; i++) {
    res[i].verdict = v;
    res[i].outcome = v == MTR_UNIT_DELIVERED ? METER_OUTCOME_ACCEPTED : METER_OUTCOME_FAILED;
    res[i].retry_at_us = now + SEC;
  }
  meter_error e;
  uint64_t bytes = 0;
  if (sp->sops->complete(sp->store, c, res, now, recs, &bytes, &e) != METER_OK)
    fail_msg("complete: %s", e.message);
  free(res);
}

static int same_members(const mtr_claim *a, const mtr_claim *b)
{
  if (a->count != b->count)
    return 0;
  for (size_t i = 0; i < a->count; i++)
    if (a->units[i].id != b->units[i].id)
      return 0;
  return 1;
}

static void test_claims_never_overlap_and_leases_expire(void **state)
{
  pl_fx *f = *state;
  assert_int_equal(pl_open(f, NULL), METER_OK);
  /* Four replicas (a sender claims again only after completing: its own
   * batch still leased to it is one it lost track of). */
  meter_spool *a = f->sp, *b = open_at(f, f->path, quiet()), *c = open_at(f, f->path, quiet());
  meter_spool *d = open_at(f, f->path, quiet());
  /* 60 records, 25 a request: three batches. */
  submit_n(a, "r", 60, NOW - PL_HOUR);
  meter_error e;
  assert_int_equal(mtr_spool_sort(a, &e), METER_OK);
  int64_t lease = 10 * SEC;
  mtr_claim a1, b1, c1, none, taken, again, mine;
  claim(a, "replica-a", NOW, lease, &a1);
  claim(b, "replica-b", NOW, lease, &b1);
  claim(c, "replica-c", NOW, lease, &c1);
  claim(d, "replica-d", NOW, lease, &none);
  assert_true(a1.batch_id && b1.batch_id && c1.batch_id);
  assert_int_equal(none.batch_id, 0);
  assert_int_equal(a1.count + b1.count + c1.count, 60);
  /* No unit in two batches. */
  const mtr_claim *all[3] = { &a1, &b1, &c1 };
  for (int x = 0; x < 3; x++)
    for (int y = x + 1; y < 3; y++)
      for (size_t i = 0; i < all[x]->count; i++)
        for (size_t j = 0; j < all[y]->count; j++)
          assert_true(all[x]->units[i].id != all[y]->units[j].id);
  assert_false(a1.recovered);
  uint64_t recs = 0;
  complete_all(b, &b1, MTR_UNIT_DELIVERED, NOW + SEC, &recs);
  assert_int_equal(recs, b1.count);

  /* Replica A "dies" with a1 in flight: D takes it once the lease is over,
   * with the same members in the same order (same request, same keys). */
  claim(d, "replica-d", NOW + 5 * SEC, lease, &taken);
  assert_int_equal(taken.batch_id, 0);
  claim(d, "replica-d", NOW + 11 * SEC, lease, &taken);
  assert_int_equal(taken.batch_id, a1.batch_id);
  assert_true(taken.recovered);
  assert_true(same_members(&taken, &a1));

  /* A was only slow: its late completion records the deliveries, nothing
   * else; D's later completion of the same batch changes nothing. */
  complete_all(a, &a1, MTR_UNIT_DELIVERED, NOW + 12 * SEC, &recs);
  assert_int_equal(recs, a1.count);
  complete_all(d, &taken, MTR_UNIT_RETRY, NOW + 13 * SEC, &recs);
  meter_spool_stats st = METER_SPOOL_STATS_INIT;
  assert_int_equal(meter_spool_stats_get(d, &st), METER_OK);
  assert_int_equal(st.delivered, a1.count + b1.count);

  /* A transient failure parks a batch (C's lease ran out, but nobody took
   * it: still C's); it comes back whole when due. */
  complete_all(c, &c1, MTR_UNIT_RETRY, NOW + 14 * SEC, &recs);
  claim(d, "replica-d", NOW + 14 * SEC, lease, &again);
  assert_int_equal(again.batch_id, 0);
  claim(d, "replica-d", NOW + 16 * SEC, lease, &again);
  assert_int_equal(again.batch_id, c1.batch_id);
  assert_false(again.recovered);
  assert_true(same_members(&again, &c1));
  complete_all(d, &again, MTR_UNIT_DELIVERED, NOW + 17 * SEC, &recs);
  assert_int_equal(meter_spool_stats_get(d, &st), METER_OK);
  assert_int_equal(st.delivered, 60);
  assert_int_equal(st.records_waiting, 0);
  claim(a, "replica-a", NOW + 18 * SEC, lease, &mine);
  assert_int_equal(mine.batch_id, 0);
  mtr_claim *mine_all[] = { &a1, &b1, &c1, &none, &taken, &again, &mine };
  for (size_t i = 0; i < sizeof mine_all / sizeof mine_all[0]; i++)
    mtr_claim_dispose(mine_all[i]);
  meter_close(b, 0, 0);
  meter_close(c, 0, 0);
  meter_close(d, 0, 0);
}

static void test_a_batch_left_to_its_owner_is_recovered_at_once(void **state)
{
  pl_fx *f = *state;
  assert_int_equal(pl_open(f, NULL), METER_OK);
  submit_n(f->sp, "own", 3, NOW - PL_HOUR);
  meter_error e;
  assert_int_equal(mtr_spool_sort(f->sp, &e), METER_OK);
  mtr_claim c1, c2;
  claim(f->sp, "replica-a", NOW, 60 * SEC, &c1);
  assert_true(c1.batch_id);
  /* Its completion was lost: the same owner claims it again at once. */
  claim(f->sp, "replica-a", NOW + SEC, 60 * SEC, &c2);
  assert_int_equal(c2.batch_id, c1.batch_id);
  assert_true(c2.recovered);
  assert_true(same_members(&c1, &c2));
  mtr_claim_dispose(&c1);
  mtr_claim_dispose(&c2);
}

/* ---- submits ------------------------------------------------------------------------ */

static void test_a_repeated_submit_is_stored_once(void **state)
{
  pl_fx *f = *state;
  assert_int_equal(pl_open(f, NULL), METER_OK);
  /* A retried group commit: the same keys again, before and after sorting. */
  submit_n(f->sp, "same", 4, NOW - PL_HOUR);
  submit_n(f->sp, "same", 4, NOW - PL_HOUR);
  meter_spool_stats st = METER_SPOOL_STATS_INIT;
  assert_int_equal(meter_spool_stats_get(f->sp, &st), METER_OK);
  assert_int_equal(st.received, 4);
  meter_error e;
  assert_int_equal(mtr_spool_sort(f->sp, &e), METER_OK);
  submit_n(f->sp, "same", 4, NOW - PL_HOUR);
  assert_int_equal(mtr_spool_sort(f->sp, &e), METER_OK);
  assert_int_equal(meter_spool_stats_get(f->sp, &st), METER_OK);
  assert_int_equal(st.received, 0);
  assert_int_equal(st.pending, 4);
  assert_int_equal(st.records_waiting, 4);
}

/* ---- the fallback -------------------------------------------------------------------- */

static void test_fallback_while_the_database_is_down(void **state)
{
  pl_fx *f = *state;
  char dir[256], fb[320];
  snprintf(dir, sizeof dir, "%s/fleet-fallback-XXXXXX", P_tmpdir);
  assert_non_null(mkdtemp(dir));
  snprintf(fb, sizeof fb, "%s/fallback.db", dir);
  meter_spool_options o = METER_SPOOL_OPTIONS_INIT;
  o.durability = METER_SPOOL_SYNC_PROCESS;
  o.fallback_path = fb;
  o.backoff_base_ms = 20;
  o.backoff_max_ms = 100;
  o.poll_interval_ms = 50;
  assert_int_equal(pl_open(f, &o), METER_OK);
  int64_t hour = mtr_now_us(mtr_hooks_default()) - 2 * PL_HOUR;
  submit_n(f->sp, "before", 2, hour);

  assert_int_equal(pg_halt(pl_pg()), 0);
  submit_n(f->sp, "during", 5, hour); /* never refused: they wait locally */
  meter_spool_stats st = METER_SPOOL_STATS_INIT;
  assert_int_equal(meter_spool_stats_get(f->sp, &st), METER_OK);
  assert_true(st.received >= 5);
  /* The same file cannot serve another spool. */
  char other[400];
  snprintf(other, sizeof other, "%s-other", f->path);
  meter_spool_options o2 = o;
  o2.path = other;
  meter_spool *sp2 = NULL;
  meter_error e;
  assert_int_equal(meter_spool_open(&sp2, f->c, &o2, &e), METER_ECONFIG);
  assert_non_null(strstr(e.message, "fallback"));
  assert_int_equal(pg_resume(pl_pg()), 0);

  /* Back: forwarded, sorted, sent, once. */
  int rc = meter_flush(f->sp, 30000, METER_FLUSH_OPEN_HOURS);
  char why[256] = "";
  meter_spool_last_error(f->sp, why, sizeof why);
  if (rc != METER_OK)
    fail_msg("flush: %s (%s)", meter_status_name(rc), why);
  assert_int_equal(meter_spool_stats_get(f->sp, &st), METER_OK);
  assert_int_equal(st.records_waiting, 0);
  assert_int_equal(st.dead, 0);
  /* c0..c4 (and c0, c1 before): quantities 1 + i % 3. */
  assert_int_equal(fm->billed, (1 + 2) + (1 + 2 + 3 + 1 + 2));
  pl_close(f);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* ---- callers built against options version 1 ----------------------------------------- */

static void test_options_version_1_still_accepted(void **state)
{
  pl_fx *f = *state;
  /* A version 1 struct ends before fallback_path: nothing may be written
   * or read past it. */
  size_t v1 = offsetof(meter_spool_options, fallback_path);
  unsigned char *buf = malloc(v1 + 64);
  memset(buf, 0xA5, v1 + 64);
  meter_spool_options *o = (meter_spool_options *)buf;
  assert_int_equal(meter_spool_options_init(o, 1), METER_OK);
  for (size_t i = v1; i < v1 + 64; i++)
    assert_int_equal(buf[i], 0xA5);
  assert_int_equal(o->version, 1);
  o->path = f->path;
  o->no_sender = 1;
  meter_spool *sp = NULL;
  meter_error e;
  if (meter_spool_open(&sp, f->c, o, &e) != METER_OK)
    fail_msg("open with version 1 options: %s", e.message);
  meter_close(sp, 0, 0);
  free(buf);
  meter_spool_options v3 = METER_SPOOL_OPTIONS_INIT;
  v3.version = 3;
  v3.path = f->path;
  assert_int_equal(meter_spool_open(&sp, f->c, &v3, &e), METER_EVERSION);
  /* The fallback is for PostgreSQL spools. */
  meter_spool_options sq = METER_SPOOL_OPTIONS_INIT;
  sq.path = "/tmp/not-a-fleet.spool";
  sq.fallback_path = "/tmp/x.db";
  assert_int_equal(meter_spool_open(&sp, f->c, &sq, &e), METER_EINVAL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_replicas_migrate_a_new_database_at_once, setup_request,
                                    teardown),
    cmocka_unit_test_setup_teardown(test_spool_names_are_kept_apart, setup_request, teardown),
    cmocka_unit_test_setup_teardown(test_claims_never_overlap_and_leases_expire, setup_request,
                                    teardown),
    cmocka_unit_test_setup_teardown(test_a_batch_left_to_its_owner_is_recovered_at_once,
                                    setup_request, teardown),
    cmocka_unit_test_setup_teardown(test_a_repeated_submit_is_stored_once, setup_request,
                                    teardown),
    cmocka_unit_test_setup_teardown(test_fallback_while_the_database_is_down, setup_aggregate,
                                    teardown),
    cmocka_unit_test_setup_teardown(test_options_version_1_still_accepted, setup_request,
                                    teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
