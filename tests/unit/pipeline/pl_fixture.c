#include "pl_fixture.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

void pl_setup(pl_fx *f, int fake_time)
{
  memset(f, 0, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "%s/pipeline-test-XXXXXX", P_tmpdir);
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->path, sizeof f->path, "%s/spool.db", f->dir);
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
  /* Our own mkdtemp directory holds only the spool's files (no subfolders). */
  DIR *d = strstr(f->dir, "/pipeline-test-") ? opendir(f->dir) : NULL;
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char p[600];
    snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
    unlink(p);
  }
  if (d) {
    closedir(d);
    rmdir(f->dir);
  }
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
