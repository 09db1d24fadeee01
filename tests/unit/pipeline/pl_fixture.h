/* Shared set-up of the pipeline tests: a temporary spool file, a client on
 * the fake market (fake_market.h), and helpers to build records. */
#ifndef PL_FIXTURE_H
#define PL_FIXTURE_H

#include "test_util.h"

#include "api/client.h"
#include "fake_clock.h"
#include "fake_market.h"
#include "fake_transport.h"
#include "meter/reliable.h"

typedef struct pl_fx {
  char dir[256];
  char path[320];
  fake_transport t;
  fake_clock fc;
  int fake_time;          /* the client runs on fc (no background sender then) */
  meter_client *c;
  meter_spool *sp;
} pl_fx;

/* 2024-01-01T10:00:00Z */
#define PL_T0 INT64_C(1704103200000000)
#define PL_HOUR INT64_C(3600000000)

/* A temporary directory and a client; fake_time: clock starts at PL_T0 + 30 min. */
void pl_setup(pl_fx *f, int fake_time);
void pl_teardown(pl_fx *f);
/* Opens f->sp at f->path; o may be NULL (defaults; no sender if fake_time). */
int pl_open(pl_fx *f, meter_spool_options *o);
void pl_close(pl_fx *f);

/* A record for the fake market. time_us 0: leave the default (now). */
meter_record *pl_rec(const char *customer, const char *dimension, int64_t quantity,
                     int64_t time_us);

/* Counts entries of the spool in a state (0: all). */
size_t pl_count(meter_spool *sp, int state);

#endif
