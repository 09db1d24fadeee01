/* Group commit (see spool_internal.h). With synchronous=FULL a commit costs
 * one fsync (~0.2 ms on common disks): one transaction per record would cap a
 * spool at a few thousand records per second whatever the number of threads.
 * Sharing the transaction lets N concurrent submitters pay one fsync. */
#include "spool_internal.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/hooks.h"

#include <sched.h>

void mtr_group_commit_init(mtr_group_commit *gc)
{
  mtr_mutex_init(&gc->lock);
  gc->head = gc->tail = NULL;
  gc->leader = 0;
  gc->arriving = 0;
  gc->queued = 0;
  gc->last_group = 0;
  gc->commit_delay_us = 0;
  gc->batch = NULL;
  gc->cap = 0;
}

void mtr_group_commit_dispose(mtr_group_commit *gc)
{
  mtr_free(gc->batch);
  mtr_mutex_destroy(&gc->lock);
}

/* The leader's part: one transaction for every ticket taken. */
static void commit_group(meter_spool *s, mtr_commit_ticket *list)
{
  mtr_group_commit *gc = &s->gc;
  size_t total = 0;
  for (mtr_commit_ticket *t = list; t; t = t->next)
    total += t->n;
  meter_error err;
  mtr_error_clear(&err);
  int rc = METER_OK;
  if (total > gc->cap) {
    mtr_store_input **grown = mtr_realloc(gc->batch, total * sizeof *grown);
    if (grown) {
      gc->batch = grown;
      gc->cap = total;
    } else {
      rc = mtr_error_set(&err, METER_ENOMEM, "out of memory");
    }
  }
  size_t k = 0;
  for (mtr_commit_ticket *t = list; rc == METER_OK && t; t = t->next)
    for (size_t i = 0; i < t->n; i++)
      gc->batch[k++] = t->in[i];
  if (rc == METER_OK)
    rc = s->sops->append(s->store, gc->batch, total, mtr_now_us(s->inner), &err);

  /* Account for what was stored, then wake the sender. */
  uint64_t recs = 0, bytes = 0;
  for (size_t i = 0; rc == METER_OK && i < total; i++) {
    recs++;
    bytes += gc->batch[i]->bytes;
  }
  mtr_mutex_lock(&s->lock);
  if (rc == METER_OK) {
    s->waiting_records += recs;
    s->waiting_bytes += bytes;
    s->submitted += recs;
    s->kicks++;
  }
  pthread_cond_broadcast(&s->cond);
  mtr_mutex_unlock(&s->lock);

  for (mtr_commit_ticket *t = list; t; t = t->next) {
    t->status = rc;
    mtr_error_copy(&t->err, &err);
  }
}

/* The leader keeps committing what arrives while it works (a few rounds at
 * most, so one caller is not held for long), then hands over to the oldest
 * waiter. Each submitter sleeps on its own condition: a commit wakes only
 * the submitters it served. */
#define MAX_ROUNDS 8
#define MAX_WAIT_SPINS 64

void mtr_group_commit_arrive(mtr_group_commit *gc)
{
  mtr_mutex_lock(&gc->lock);
  gc->arriving++;
  mtr_mutex_unlock(&gc->lock);
}

void mtr_group_commit_leave(mtr_group_commit *gc)
{
  mtr_mutex_lock(&gc->lock);
  gc->arriving--;
  mtr_mutex_unlock(&gc->lock);
}

int mtr_group_commit_run(meter_spool *s, mtr_commit_ticket *t)
{
  mtr_group_commit *gc = &s->gc;
  t->done = 0;
  t->next = NULL;
  mtr_cond_init(&t->cond);
  mtr_mutex_lock(&gc->lock);
  gc->arriving--;
  gc->queued++;
  if (gc->tail)
    gc->tail->next = t;
  else
    gc->head = t;
  gc->tail = t;
  while (!t->done) {
    if (gc->leader) {
      mtr_cond_wait(&t->cond, &gc->lock);
      continue;
    }
    gc->leader = 1;
    for (int round = 0; gc->head && round < MAX_ROUNDS; round++) {
      /* Submitters still encoding their records join this commit if the
       * leader lets them: a short wait buys a whole transaction (an fsync)
       * per submitter. Bounded, and only while someone is on the way. */
      for (int spin = 0; gc->arriving > 0 && spin < MAX_WAIT_SPINS; spin++) {
        mtr_mutex_unlock(&gc->lock);
        sched_yield();
        mtr_mutex_lock(&gc->lock);
      }
      /* With fsync, a commit is long: when the last one served several
       * submitters, wait (a fraction of an fsync at most) for as many to
       * queue again — they are still waking up from the last commit. */
      if (gc->commit_delay_us > 0 && gc->last_group > 1 && gc->queued < gc->last_group) {
        int64_t until = mtr_mono_us(mtr_hooks_default()) + gc->commit_delay_us;
        while (gc->queued < gc->last_group && mtr_mono_us(mtr_hooks_default()) < until) {
          mtr_mutex_unlock(&gc->lock);
          sched_yield();
          mtr_mutex_lock(&gc->lock);
        }
      }
      mtr_commit_ticket *list = gc->head;
      gc->last_group = gc->queued;
      gc->queued = 0;
      gc->head = gc->tail = NULL;
      mtr_mutex_unlock(&gc->lock);
      commit_group(s, list);
      mtr_mutex_lock(&gc->lock);
      /* `next` is read before `done` lets an owner return and reuse its
       * ticket (owners only look at `done` under the lock, anyway). */
      for (mtr_commit_ticket *x = list, *next; x; x = next) {
        next = x->next;
        x->done = 1;
        if (x != t)
          mtr_cond_signal(&x->cond);
      }
    }
    gc->leader = 0;
    if (gc->head)
      mtr_cond_signal(&gc->head->cond); /* the oldest waiter leads next */
  }
  mtr_mutex_unlock(&gc->lock);
  mtr_cond_destroy(&t->cond);
  return t->status;
}
