/* The pipeline tests' fixture (tests/unit/pipeline/pl_fixture.h) on a fleet
 * spool: the same tests, run against PostgreSQL instead of a SQLite file.
 * One throwaway cluster per test program (started at the first set-up,
 * stopped at exit); each test gets a spool of its own name in it. */
#include "pl_fixture.h"

#include "pg_proc.h"

#include <stdlib.h>
#include <unistd.h>

static pg_proc pg;
static int pg_started;
static int spool_counter;

static void stop_cluster(void)
{
  if (pg_started)
    pg_stop(&pg);
  pg_started = 0;
}

/* The cluster of this test program (started by the first pl_setup). */
pg_proc *pl_pg(void);
pg_proc *pl_pg(void)
{
  return &pg;
}

void pl_setup(pl_fx *f, int fake_time)
{
  memset(f, 0, sizeof *f);
  if (!pg_started) {
    assert_int_equal(pg_start(&pg), 0);
    pg_started = 1;
    atexit(stop_cluster);
  }
  snprintf(f->path, sizeof f->path, "%s?spool=test-%d-%d", pg.conninfo, (int)getpid(),
           ++spool_counter);
  fake_transport_init(&f->t);
  f->fake_time = fake_time;
  fake_clock_init(&f->fc, PL_T0 + PL_HOUR / 2);
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  mtr_client_seams seams = { &f->t.base, fake_time ? &f->fc.hooks : NULL, &fake_market_ops };
  meter_error e;
  assert_int_equal(mtr_client_new_with(&f->c, &o, &seams, &e), METER_OK);
}

void pl_teardown(pl_fx *f)
{
  pl_close(f);
  meter_client_free(f->c);
  fake_transport_dispose(&f->t);
}

int pl_open(pl_fx *f, meter_spool_options *o)
{
  meter_spool_options d = METER_SPOOL_OPTIONS_INIT;
  if (!o) {
    o = &d;
    o->no_sender = f->fake_time;
    o->durability = METER_SPOOL_SYNC_PROCESS;
  }
  o->path = f->path;
  meter_error e;
  int rc = meter_spool_open(&f->sp, f->c, o, &e);
  if (rc != METER_OK)
    fprintf(stderr, "meter_spool_open: %s\n", e.message);
  return rc;
}

void pl_close(pl_fx *f)
{
  if (f->sp)
    meter_close(f->sp, 0, 0);
  f->sp = NULL;
}

meter_record *pl_rec(const char *customer, const char *dimension, int64_t quantity,
                     int64_t time_us)
{
  meter_record *r = rec_of("product", "prod", "customer", customer, "dimension", dimension, NULL);
  assert_int_equal(meter_record_set_quantity(r, quantity), METER_OK);
  if (time_us)
    assert_int_equal(meter_record_set_time_us(r, time_us), METER_OK);
  return r;
}

static int count_cb(const meter_spool_item *it, void *p)
{
  (void)it;
  (*(size_t *)p)++;
  return 0;
}

size_t pl_count(meter_spool *sp, int state)
{
  size_t n = 0;
  assert_int_equal(meter_spool_list(sp, state ? METER_SPOOL_STATE_MASK(state) : 0, count_cb, &n),
                   METER_OK);
  return n;
}
