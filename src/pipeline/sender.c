/* The sender: claims a batch from the store, turns its units back into
 * records, delivers them through the back end (mtr_deliver_batch: the same
 * path as meter_send, so the same retries, budget and classification), and
 * records each outcome. It runs on the spool's background thread, or on the
 * caller's thread inside meter_flush when there is no thread.
 *
 * Failures never make it spin: a unit that failed is due again only after a
 * backoff that doubles with its attempts, and a request that failed entirely
 * makes the whole sender wait (doubling per consecutive failure, capped by
 * backoff_max_ms, with jitter) — a marketplace that is down gets one request
 * per backoff, not a storm. */
#include "spool_internal.h"

#include "aggregate.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/record.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <signal.h>
#include <string.h>

#define MAX_BATCH 1000             /* no back end takes more per request */
#define INGEST_CHUNK 5000          /* inbox records sorted per transaction */
#define PURGE_EVERY_US (INT64_C(60) * 1000000)
#define FLUSH_POLL_US (100 * 1000) /* flush re-checks progress at least this often */

/* Doubling delay for the n-th consecutive failure (n >= 1), capped, with
 * "equal jitter": at least half of it, so it never collapses to zero. */
static int64_t backoff(meter_spool *s, unsigned n)
{
  int64_t d = s->backoff_base_us;
  for (unsigned i = 1; i < n && d < s->backoff_max_us; i++)
    d *= 2;
  if (d > s->backoff_max_us)
    d = s->backoff_max_us;
  return d / 2 + mtr_random_upto(s->inner, d / 2);
}

static void note_failure(meter_spool *s, int status, const char *message)
{
  mtr_mutex_lock(&s->lock);
  s->last_status = status;
  mtr_strlcpy(s->last_message, message ? message : meter_strerror(status), sizeof s->last_message);
  mtr_mutex_unlock(&s->lock);
}

/* What a send outcome means for the unit (see store.h, mtr_unit_verdict). */
static void judge(meter_spool *s, const mtr_unit *u, const mtr_result *r, int64_t now,
                  mtr_unit_result *v, char *why, size_t why_size)
{
  v->outcome = r->outcome;
  v->error_code = r->error_code;
  v->message = r->message;
  v->record_id = r->record_id;
  switch (r->outcome) {
  case METER_OUTCOME_ACCEPTED:
  case METER_OUTCOME_DUPLICATE:
    v->verdict = MTR_UNIT_DELIVERED;
    return;
  case METER_OUTCOME_REJECTED:
  case METER_OUTCOME_INVALID:
    v->verdict = MTR_UNIT_DEAD;
    return;
  case METER_OUTCOME_CONFLICT:
    v->verdict = u->kind == METER_SPOOL_AGGREGATE && (u->flags & MTR_UNIT_REPLACES)
                   ? MTR_UNIT_CONFLICT : MTR_UNIT_DEAD;
    return;
  default:
    break;
  }
  /* Not delivered. Resending is safe with the same key, unless the back end
   * says its requests are not idempotent and this one may have arrived. */
  if ((u->flags & MTR_UNIT_RESEND_UNSAFE) && r->attempts > 0 && r->http_status == 0) {
    v->verdict = MTR_UNIT_DEAD;
    v->error_code = "ambiguous";
    mtr_fmt(why, why_size,
            "no answer to a request that may have been applied (%s); %s requests are not "
            "idempotent, so it was not resent: check the marketplace, then requeue it with "
            "meter_spool_retry_dead if it is missing", r->message ? r->message : "no answer",
            s->backend);
    v->message = why;
    return;
  }
  v->verdict = MTR_UNIT_RETRY;
  v->retry_at_us = now + backoff(s, u->attempts + 1);
}

/* A unit that cannot be sent at all: dead before any request. Returns 1 if
 * so (v filled), 0 if it may be sent. */
static int unsendable(meter_spool *s, const mtr_claim *c, const mtr_unit *u, int64_t now,
                      mtr_unit_result *v, char *why, size_t why_size)
{
  char ts[MTR_TIME_BUF];
  v->verdict = MTR_UNIT_DEAD;
  v->outcome = METER_OUTCOME_REJECTED;
  v->message = why;
  if ((u->flags & MTR_UNIT_RESEND_UNSAFE) && c->recovered) {
    v->error_code = "ambiguous";
    mtr_fmt(why, why_size,
            "this request was in flight when the previous process stopped and %s requests "
            "are not idempotent, so it was not resent: check the marketplace, then requeue "
            "it with meter_spool_retry_dead if it is missing", s->backend);
    return 1;
  }
  if (u->window_us > 0 && u->time_us + u->window_us <= now) {
    v->error_code = "past_window";
    mtr_fmt(why, why_size,
            "past the marketplace's window: usage of %s is accepted for %lld h and was not "
            "delivered in time (last failure: %s)",
            mtr_time_format(u->time_us, MTR_TIME_RFC3339, ts),
            (long long)(u->window_us / MTR_US_PER_HOUR), u->message ? u->message : "none");
    return 1;
  }
  if (s->dead_after_us > 0 && u->submitted_us + s->dead_after_us <= now) {
    v->error_code = "expired";
    mtr_fmt(why, why_size, "not delivered within dead_after_ms (%lld ms; last failure: %s)",
            (long long)(s->dead_after_us / 1000), u->message ? u->message : "none");
    return 1;
  }
  return 0;
}

/* The deadline of one send: the client's, shortened by a flush or close. */
static void set_send_deadline(meter_spool *s)
{
  s->env.policy = s->client->env.policy;
  mtr_mutex_lock(&s->lock);
  int64_t until = s->send_deadline_mono;
  mtr_mutex_unlock(&s->lock);
  if (until) {
    int64_t left = until - mtr_mono_us(s->inner);
    if (left < 1000)
      left = 1000;
    if (left < s->env.policy.deadline_us)
      s->env.policy.deadline_us = left;
  }
}

typedef struct sending {
  meter_record **recs;       /* per unit (NULL if not sent) */
  meter_results *rs;         /* per unit */
  mtr_unit_result *verdicts; /* per unit */
  char (*why)[METER_ERROR_MESSAGE_SIZE];
  meter_record **brecs;      /* the request's records */
  mtr_result **bres;
  size_t *idx;
} sending;

static void sending_free(sending *x, size_t n)
{
  for (size_t i = 0; x->recs && i < n; i++)
    meter_record_free(x->recs[i]);
  mtr_free(x->recs);
  meter_results_free(x->rs);
  mtr_free(x->verdicts);
  mtr_free(x->why);
  mtr_free(x->brecs);
  mtr_free(x->bres);
  mtr_free(x->idx);
}

/* Sends a claimed batch and records the outcomes. *wait_us: 0, or the
 * backoff after a request that failed entirely. */
static int send_claim(meter_spool *s, mtr_claim *c, int64_t now, int64_t *wait_us)
{
  size_t n = c->count, m = 0;
  sending x;
  memset(&x, 0, sizeof x);
  x.recs = mtr_calloc(n, sizeof *x.recs);
  x.rs = mtr_results_new(n);
  x.verdicts = mtr_calloc(n, sizeof *x.verdicts);
  x.why = mtr_calloc(n, sizeof *x.why);
  x.brecs = mtr_calloc(n, sizeof *x.brecs);
  x.bres = mtr_calloc(n, sizeof *x.bres);
  x.idx = mtr_calloc(n, sizeof *x.idx);
  meter_error err;
  mtr_error_clear(&err);
  if (!x.recs || !x.rs || !x.verdicts || !x.why || !x.brecs || !x.bres || !x.idx) {
    sending_free(&x, n);
    *wait_us = backoff(s, 1);
    return METER_ENOMEM; /* the batch stays leased to us: the next claim takes it */
  }

  for (size_t i = 0; i < n; i++) {
    const mtr_unit *u = &c->units[i];
    mtr_unit_result *v = &x.verdicts[i];
    if (unsendable(s, c, u, now, v, x.why[i], sizeof x.why[i]))
      continue;
    meter_error e;
    mtr_error_clear(&e);
    int rc = mtr_unit_render(u, s->backend, &x.recs[i], &e);
    if (rc == METER_OK) {
      mtr_result *r = &x.rs->items[i];
      if (s->ops->validate(s->be, x.recs[i], r) == METER_OK) {
        x.brecs[m] = x.recs[i];
        x.bres[m] = r;
        x.idx[m++] = i;
        continue;
      }
      mtr_strlcpy(x.why[i], r->message ? r->message : "invalid", sizeof x.why[i]);
    } else if (rc == METER_ENOMEM) {
      sending_free(&x, n);
      *wait_us = backoff(s, 1);
      return rc;
    } else {
      mtr_fmt(x.why[i], sizeof x.why[i], "cannot read this spool entry: %s", e.message);
    }
    v->verdict = MTR_UNIT_DEAD;
    v->outcome = METER_OUTCOME_INVALID;
    v->error_code = "invalid";
    v->message = x.why[i];
  }

  int st = METER_OK;
  size_t delivered = 0;
  if (m > 0) {
    set_send_deadline(s);
    mtr_batch batch = { x.brecs, x.bres, m };
    MTR_DEBUG(s->log, "spool: sending %zu record(s)%s", m,
              c->recovered ? " (recovered after a restart)" : "");
    st = mtr_deliver_batch(s->ops, s->be, &batch, &err);
    for (size_t k = 0; k < m; k++) {
      size_t i = x.idx[k];
      judge(s, &c->units[i], &x.rs->items[i], now, &x.verdicts[i], x.why[i], sizeof x.why[i]);
      if (x.verdicts[i].verdict == MTR_UNIT_DELIVERED)
        delivered++;
    }
    mtr_mutex_lock(&s->lock);
    s->requests++;
    if (st != METER_OK)
      s->requests_failed++;
    mtr_mutex_unlock(&s->lock);
    if (st != METER_OK)
      note_failure(s, st, err.message);
  }

  uint64_t drecs = 0, dbytes = 0;
  meter_error cerr;
  mtr_error_clear(&cerr);
  int rc = s->sops->complete(s->store, c, x.verdicts, mtr_now_us(s->inner), &drecs, &dbytes,
                             &cerr);
  if (rc != METER_OK) {
    /* The outcomes are lost with the transaction; the batch stays leased to
     * us and is resent with the same keys: duplicates, never losses. */
    MTR_ERROR(s->log, "spool: cannot record the outcome of a request: %s", cerr.message);
    note_failure(s, rc, cerr.message);
    sending_free(&x, n);
    *wait_us = backoff(s, 1);
    return rc;
  }
  mtr_mutex_lock(&s->lock);
  s->waiting_records = s->waiting_records > drecs ? s->waiting_records - drecs : 0;
  s->waiting_bytes = s->waiting_bytes > dbytes ? s->waiting_bytes - dbytes : 0;
  pthread_cond_broadcast(&s->cond); /* room for FULL_WAIT submitters; progress for flush */
  mtr_mutex_unlock(&s->lock);

  for (size_t i = 0; i < n; i++) {
    const mtr_unit_result *v = &x.verdicts[i];
    int state = v->verdict == MTR_UNIT_RETRY ? METER_SPOOL_PENDING
                : v->verdict == MTR_UNIT_DEAD ? METER_SPOOL_DEAD : METER_SPOOL_DELIVERED;
    if (state == METER_SPOOL_DEAD)
      MTR_WARN(s->log, "spool: %s is a dead letter: %s", c->units[i].ikey,
               v->message ? v->message : "refused");
    mtr_spool_notify(s, &c->units[i], state, v->outcome, 1, v->error_code, v->message,
                     v->record_id);
  }

  /* Back off when the request failed and nothing got through. */
  if (m > 0 && st != METER_OK && delivered == 0) {
    mtr_mutex_lock(&s->lock);
    unsigned f = ++s->failures;
    mtr_mutex_unlock(&s->lock);
    *wait_us = backoff(s, f);
    MTR_INFO(s->log, "spool: %s; next attempt in %lld ms", err.message,
             (long long)(*wait_us / 1000));
  } else {
    mtr_mutex_lock(&s->lock);
    s->failures = 0;
    mtr_mutex_unlock(&s->lock);
    *wait_us = 0;
  }
  sending_free(&x, n);
  return METER_OK;
}

/* Sorts what was submitted up to `before` (several transactions if needed)
 * and reports the records that became dead letters on the way. */
static int ingest(meter_spool *s, int64_t before, meter_error *err);

int mtr_spool_sort(meter_spool *s, meter_error *err)
{
  return ingest(s, mtr_now_us(s->inner), err);
}

static int ingest(meter_spool *s, int64_t before, meter_error *err)
{
  for (;;) {
    mtr_ingest_result res;
    int rc = s->sops->ingest(s->store, INGEST_CHUNK, before, mtr_now_us(s->inner), &res, err);
    if (rc != METER_OK)
      return rc;
    uint64_t dropped = res.duplicates;
    mtr_mutex_lock(&s->lock);
    s->waiting_records = s->waiting_records > dropped ? s->waiting_records - dropped : 0;
    s->waiting_bytes = s->waiting_bytes > res.freed_bytes ? s->waiting_bytes - res.freed_bytes : 0;
    if (dropped || res.freed_bytes)
      pthread_cond_broadcast(&s->cond); /* room for FULL_WAIT submitters */
    mtr_mutex_unlock(&s->lock);
    for (size_t i = 0; i < res.ndead; i++) {
      const mtr_unit *u = &res.dead[i];
      MTR_WARN(s->log, "spool: %s is a dead letter: %s", u->ikey, u->message ? u->message : "");
      mtr_spool_notify(s, u, METER_SPOOL_DEAD, u->outcome, 0, u->error_code, u->message, NULL);
    }
    mtr_units_free(res.dead, res.ndead);
    if (res.moved < INGEST_CHUNK)
      return METER_OK;
    mtr_mutex_lock(&s->lock);
    int stop = s->stopping;
    mtr_mutex_unlock(&s->lock);
    if (stop)
      return METER_OK;
  }
}

int mtr_sender_cycle(meter_spool *s, int include_started, int64_t *wait_us)
{
  meter_error err;
  mtr_error_clear(&err);
  *wait_us = s->poll_us;
  if (!s->is_sender) {
    int got = 0;
    int rc = s->sops->acquire_sender(s->store, &got, &err);
    if (rc != METER_OK) {
      note_failure(s, rc, err.message);
      return -rc;
    }
    if (!got)
      return 0; /* another process is the sender; look again later */
    mtr_mutex_lock(&s->lock);
    s->is_sender = 1;
    mtr_mutex_unlock(&s->lock);
    MTR_DEBUG(s->log, "spool %s: this process is now its sender", s->o.path);
  }

  mtr_mutex_lock(&s->lock);
  include_started |= s->seal_started > 0;
  mtr_mutex_unlock(&s->lock);
  /* Everything submitted before now is sorted before any hour is sealed:
   * a record submitted in time is never taken for late. */
  int64_t now = mtr_now_us(s->inner);
  int rc = ingest(s, now, &err);
  if (rc == METER_OK)
    rc = s->sops->seal(s->store, now, include_started, &err);
  if (rc == METER_OK && now - s->last_purge_us >= PURGE_EVERY_US) {
    rc = s->sops->purge(s->store, now - s->keep_us, now, &err);
    s->last_purge_us = now;
  }
  mtr_claim c;
  memset(&c, 0, sizeof c);
  if (rc == METER_OK) {
    mtr_claim_params p = { s->owner, now, s->lease_us, MAX_BATCH };
    rc = s->sops->claim(s->store, &p, &c, &err);
  }
  if (rc != METER_OK) {
    MTR_ERROR(s->log, "spool: %s", err.message);
    note_failure(s, rc, err.message);
    *wait_us = backoff(s, 1);
    return -rc;
  }
  if (!c.batch_id) {
    int64_t due;
    if (s->sops->next_due(s->store, &due, &err) == METER_OK && due != INT64_MAX) {
      int64_t w = due - now;
      *wait_us = w < 0 ? 0 : w < s->poll_us ? w : s->poll_us;
      /* Something is due now but was not claimable (submitted after this
       * round began, or a race with another process): look again soon,
       * without spinning. */
      if (*wait_us == 0)
        *wait_us = 1000;
    }
    return 0;
  }
  rc = send_claim(s, &c, now, wait_us);
  mtr_claim_dispose(&c);
  return rc == METER_OK ? 1 : -rc;
}

/* ---- the background thread ---------------------------------------------- */

static void *sender_main(void *arg)
{
  meter_spool *s = arg;
  mtr_mutex_lock(&s->lock);
  while (!s->stopping) {
    unsigned long kicks = s->kicks;
    mtr_mutex_unlock(&s->lock);
    int64_t wait_us = 0;
    int r = mtr_sender_cycle(s, 0, &wait_us);
    mtr_mutex_lock(&s->lock);
    s->cycles++;
    pthread_cond_broadcast(&s->cond);
    if (r == 1 && wait_us == 0)
      continue;
    int64_t until = mtr_mono_us(s->inner) + wait_us;
    if (r == 1 || r < 0)
      s->backoff_until_mono = until;
    /* New records wake an idle sender at once; a backoff only ends early
     * for a flush (which clears backoff_until_mono) or close. */
    while (!s->stopping && mtr_mono_us(s->inner) < until &&
           (s->kicks == kicks || mtr_mono_us(s->inner) < s->backoff_until_mono))
      mtr_spool_wait(s, until);
  }
  mtr_mutex_unlock(&s->lock);
  return NULL;
}

/* Lease: longer than one send can take (the client's deadline), so a shared
 * store never hands a batch in flight to another sender: lease_ms if set
 * (at least the deadline plus a second), else twice the deadline plus a
 * minute. */
static int64_t lease_of(const meter_spool *s)
{
  int64_t deadline = s->client->env.policy.deadline_us;
  if (s->o.lease_ms <= 0)
    return deadline * 2 + INT64_C(60) * 1000000;
  int64_t lease = (int64_t)s->o.lease_ms * 1000;
  return lease > deadline + 1000000 ? lease : deadline + 1000000;
}

int mtr_sender_start(meter_spool *s, meter_error *err)
{
  s->lease_us = lease_of(s);
  /* The thread takes no signals: they belong to the application's threads. */
  mtr_mutex_lock(&s->lock);
  s->sending = 1; /* the thread holds the sender role */
  s->thread_started = 1;
  mtr_mutex_unlock(&s->lock);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&s->thread, NULL, sender_main, s);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    mtr_mutex_lock(&s->lock);
    s->sending = 0;
    s->thread_started = 0;
    mtr_mutex_unlock(&s->lock);
    return mtr_error_set(err, METER_EINTERNAL, "spool: cannot start the sender thread (%s)",
                         strerror(rc));
  }
  return METER_OK;
}

/* Gives the sender role back (only_if_idle: unless someone is sending). */
static void release_role(meter_spool *s, int only_if_idle)
{
  mtr_mutex_lock(&s->lock);
  int was = s->is_sender && !(only_if_idle && (s->sending || s->thread_started));
  if (was)
    s->is_sender = 0;
  mtr_mutex_unlock(&s->lock);
  if (was)
    s->sops->release_sender(s->store);
}

void mtr_sender_stop(meter_spool *s)
{
  mtr_mutex_lock(&s->lock);
  s->stopping = 1;
  atomic_store(&s->abort_io, 1);
  pthread_cond_broadcast(&s->cond);
  int started = s->thread_started;
  s->thread_started = 0;
  mtr_mutex_unlock(&s->lock);
  if (started)
    pthread_join(s->thread, NULL);
  release_role(s, 0);
}

/* ---- flush --------------------------------------------------------------- */

int mtr_spool_flush(meter_spool *s, long deadline_ms, unsigned flags)
{
  meter_error err;
  mtr_error_clear(&err);
  if (!s->client)
    return mtr_spool_fail(s, &(meter_error){ METER_EINVAL,
                                             "this spool was opened without a client" });
  if (s->lease_us == 0)
    s->lease_us = lease_of(s);
  int64_t start = mtr_mono_us(s->inner);
  int64_t deadline = deadline_ms < 0 ? INT64_MAX : start + (int64_t)deadline_ms * 1000;
  int64_t now = mtr_now_us(s->inner);
  /* Backoffs end now. Hours are sealed by the sender after it has sorted
   * what was submitted (with OPEN_HOURS, the hours that have begun too). */
  int open_hours = (flags & METER_FLUSH_OPEN_HOURS) != 0;
  int rc = s->sops->make_due(s->store, now, &err);
  if (rc != METER_OK)
    return mtr_spool_fail(s, &err);

  mtr_mutex_lock(&s->lock);
  s->seal_started += open_hours;
  int64_t saved_deadline = s->send_deadline_mono;
  if (deadline != INT64_MAX && (!saved_deadline || deadline < saved_deadline))
    s->send_deadline_mono = deadline;
  s->failures = 0;
  s->backoff_until_mono = 0;
  s->kicks++;
  pthread_cond_broadcast(&s->cond);
  mtr_mutex_unlock(&s->lock);

  for (;;) {
    int any = 0;
    if ((rc = s->sops->sendable(s->store, mtr_now_us(s->inner), open_hours, &any, &err)) !=
        METER_OK)
      break;
    if (!any)
      break;
    int64_t mono = mtr_mono_us(s->inner);
    if (mono >= deadline) {
      rc = METER_ETIMEOUT;
      mtr_mutex_lock(&s->lock);
      mtr_error_set(&err, rc, "flush: the deadline passed with records not yet delivered%s%s",
                    s->last_status ? "; last failure: " : "",
                    s->last_status ? s->last_message : "");
      mtr_mutex_unlock(&s->lock);
      break;
    }
    mtr_mutex_lock(&s->lock);
    if (!s->sending && !s->stopping) {
      /* No thread: this caller sends. */
      s->sending = 1;
      mtr_mutex_unlock(&s->lock);
      int64_t wait_us = 0;
      int r = mtr_sender_cycle(s, open_hours, &wait_us);
      mtr_mutex_lock(&s->lock);
      s->sending = 0;
      s->cycles++;
      pthread_cond_broadcast(&s->cond);
      if (r != 1 || wait_us > 0) {
        int64_t until = mtr_mono_us(s->inner) + wait_us;
        mtr_spool_wait(s, until < deadline ? until : deadline);
      }
    } else {
      /* The thread (or another flush) sends: wait for its progress. */
      unsigned long cycles = s->cycles;
      int64_t until = mono + FLUSH_POLL_US;
      while (s->cycles == cycles && mtr_mono_us(s->inner) < until && !s->stopping)
        mtr_spool_wait(s, until < deadline ? until : deadline);
    }
    mtr_mutex_unlock(&s->lock);
  }

  mtr_mutex_lock(&s->lock);
  s->send_deadline_mono = saved_deadline;
  s->seal_started -= open_hours;
  mtr_mutex_unlock(&s->lock);
  /* An inline sender gives the role back, so a submit-only process does
   * not keep other processes from delivering. */
  release_role(s, 1);
  if (rc != METER_OK)
    return mtr_spool_fail(s, &err);
  return METER_OK;
}
