/* The reliable mode's public API: open, submit, close (meter/reliable.h).
 * Submitting validates and encodes on the caller's thread, then hands the
 * records to the group commit (commit.c); the sender (sender.c) delivers. */
#include "spool_internal.h"

#include "aggregate.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/record.h"
#include "core/str.h"
#include "core/timefmt.h"
#include "core/uuid.h"
#include "fork_guard.h"
#include "record_codec.h"

#include <stddef.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_RECORDS UINT64_C(10000000)
#define DEFAULT_MAX_BYTES (UINT64_C(2) << 30)
#define DEFAULT_FULL_WAIT_MS 5000
#define DEFAULT_GRACE_MS 300000L
#define DEFAULT_BACKOFF_BASE_MS 1000L
#define DEFAULT_BACKOFF_MAX_MS 300000L
#define DEFAULT_POLL_MS 1000L
#define DEFAULT_KEEP_MS 86400000L
#define INBOX_ROW_BYTES 64      /* a received record's row, beyond its strings */
#define RECOUNT_EVERY_US (1000 * 1000)
#define ABORT_JUMP_US (INT64_C(1) << 50) /* "the deadline has long passed" */

/* The size of the options struct a caller of `version` has (0: unknown):
 * version 1 ended before fallback_path. */
static size_t options_size(unsigned int version)
{
  switch (version) {
  case 1: return offsetof(meter_spool_options, fallback_path);
  case METER_SPOOL_OPTIONS_VERSION: return sizeof(meter_spool_options);
  default: return 0;
  }
}

int meter_spool_options_init(meter_spool_options *opts, unsigned int version)
{
  if (!opts)
    return METER_EINVAL;
  size_t size = options_size(version);
  if (!size)
    return METER_EVERSION;
  meter_spool_options init = METER_SPOOL_OPTIONS_INIT;
  init.version = version;
  memcpy(opts, &init, size);
  return METER_OK;
}

/* The store a path names: a PostgreSQL URL is the fleet store. */
static int store_for(const char *path, const mtr_store_ops **out, meter_error *err)
{
  *out = &mtr_sqlite_store;
  if (strncmp(path, "postgresql://", 13) != 0 && strncmp(path, "postgres://", 11) != 0)
    return METER_OK;
#ifdef METER_WITH_POSTGRES
  (void)err;
  *out = &mtr_pg_store;
  return METER_OK;
#else
  return mtr_error_set(err, METER_ECONFIG,
                       "spool options: this libmeter was built without PostgreSQL support "
                       "(libpq), so a postgresql:// spool cannot be opened");
#endif
}

/* ---- entry, errors, waiting ---------------------------------------------- */

int mtr_spool_fail(meter_spool *s, const meter_error *err)
{
  mtr_mutex_lock(&s->lock);
  mtr_error_copy(&s->last_error, err);
  mtr_mutex_unlock(&s->lock);
  return err->status;
}

int mtr_spool_enter(meter_spool *s, meter_error *err)
{
  if (!s)
    return mtr_error_set(err, METER_EINVAL, "spool is NULL");
  if (s->fork_gen != mtr_fork_generation())
    return mtr_error_set(err, METER_ECLOSED,
                         "this spool was opened before fork(): a child process must open "
                         "its own (meter_spool_open)");
  mtr_mutex_lock(&s->lock);
  int closing = s->closing;
  if (!closing)
    s->active++;
  mtr_mutex_unlock(&s->lock);
  if (closing)
    return mtr_error_set(err, METER_ECLOSED, "the spool is closing");
  return METER_OK;
}

void mtr_spool_leave(meter_spool *s)
{
  mtr_mutex_lock(&s->lock);
  if (--s->active == 0 && s->closing)
    pthread_cond_broadcast(&s->cond);
  mtr_mutex_unlock(&s->lock);
}

void mtr_spool_wait(meter_spool *s, int64_t until_mono)
{
  int64_t now = mtr_mono_us(s->inner);
  if (until_mono <= now)
    return;
  if (s->inner != mtr_hooks_default()) {
    /* A test clock: sleeping advances it; nobody else wakes us. */
    mtr_mutex_unlock(&s->lock);
    mtr_sleep_us(s->inner, until_mono - now);
    mtr_mutex_lock(&s->lock);
    return;
  }
  if (until_mono == INT64_MAX) {
    pthread_cond_wait(&s->cond, &s->lock);
    return;
  }
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t ns = (int64_t)ts.tv_nsec + (until_mono - now) * 1000;
  ts.tv_sec += (time_t)(ns / 1000000000);
  ts.tv_nsec = (long)(ns % 1000000000);
  pthread_cond_timedwait(&s->cond, &s->lock, &ts);
}

void mtr_spool_kick(meter_spool *s)
{
  mtr_mutex_lock(&s->lock);
  s->kicks++;
  pthread_cond_broadcast(&s->cond);
  mtr_mutex_unlock(&s->lock);
}

/* ---- the spool's clock: the client's, made abortable --------------------- */

static int64_t sp_now(void *ctx)
{
  meter_spool *s = ctx;
  return mtr_now_us(s->inner);
}

/* Once close gives up on the send in flight, time jumps past every deadline:
 * mtr_exchange then stops at its next check and the records stay spooled. */
static int64_t sp_mono(void *ctx)
{
  meter_spool *s = ctx;
  int64_t t = mtr_mono_us(s->inner);
  return atomic_load(&s->abort_io) ? t + ABORT_JUMP_US : t;
}

/* Backoff sleeps inside a send wake up when the spool closes. */
static void sp_sleep(void *ctx, int64_t us)
{
  meter_spool *s = ctx;
  if (atomic_load(&s->abort_io))
    return;
  if (s->inner != mtr_hooks_default()) {
    mtr_sleep_us(s->inner, us);
    return;
  }
  mtr_mutex_lock(&s->lock);
  int64_t until = mtr_mono_us(s->inner) + us;
  while (!atomic_load(&s->abort_io) && mtr_mono_us(s->inner) < until)
    mtr_spool_wait(s, until);
  mtr_mutex_unlock(&s->lock);
}

static int sp_random(void *ctx, void *out, size_t len)
{
  meter_spool *s = ctx;
  return mtr_random(s->inner, out, len);
}

/* ---- open ---------------------------------------------------------------- */

static void apply_defaults(meter_spool *s)
{
  meter_spool_options *o = &s->o;
  if (!o->max_records)
    o->max_records = DEFAULT_MAX_RECORDS;
  if (!o->max_bytes)
    o->max_bytes = DEFAULT_MAX_BYTES;
  s->full_wait_us = (int64_t)(o->full_wait_ms > 0 ? o->full_wait_ms : DEFAULT_FULL_WAIT_MS) * 1000;
  s->grace_us = (int64_t)(o->aggregation_grace_ms > 0 ? o->aggregation_grace_ms
                          : o->aggregation_grace_ms < 0 ? 0 : DEFAULT_GRACE_MS) * 1000;
  s->backoff_base_us = (int64_t)(o->backoff_base_ms > 0 ? o->backoff_base_ms
                                                        : DEFAULT_BACKOFF_BASE_MS) * 1000;
  s->backoff_max_us = (int64_t)(o->backoff_max_ms > 0 ? o->backoff_max_ms
                                                      : DEFAULT_BACKOFF_MAX_MS) * 1000;
  if (s->backoff_max_us < s->backoff_base_us)
    s->backoff_max_us = s->backoff_base_us;
  s->poll_us = (int64_t)(o->poll_interval_ms > 0 ? o->poll_interval_ms : DEFAULT_POLL_MS) * 1000;
  s->dead_after_us = (int64_t)(o->dead_after_ms > 0 ? o->dead_after_ms : 0) * 1000;
  s->keep_us = (int64_t)(o->keep_delivered_ms > 0 ? o->keep_delivered_ms : DEFAULT_KEEP_MS) * 1000;
}

static void free_spool(meter_spool *s)
{
  if (s->store)
    s->sops->close(s->store);
  if (s->be)
    s->ops->destroy(s->be);
  mtr_free((char *)s->o.path);
  mtr_free((char *)s->o.fallback_path);
  mtr_group_commit_dispose(&s->gc);
  pthread_cond_destroy(&s->cond);
  mtr_mutex_destroy(&s->lock);
  mtr_free(s);
}

static int check_options(const meter_spool_options *o, meter_error *err)
{
  if (!o)
    return mtr_error_set(err, METER_EINVAL, "spool options are NULL");
  if (!options_size(o->version))
    return mtr_error_set(err, METER_EVERSION,
                         "spool options version %u is not supported (this library knows 1 to %d)",
                         o->version, METER_SPOOL_OPTIONS_VERSION);
  if (!o->path || !*o->path)
    return mtr_error_set(err, METER_EINVAL, "spool options: path is required");
  if (o->durability != METER_SPOOL_SYNC_FULL && o->durability != METER_SPOOL_SYNC_PROCESS)
    return mtr_error_set(err, METER_EINVAL, "spool options: unknown durability %d", o->durability);
  if (o->full_policy != METER_SPOOL_FULL_FAIL && o->full_policy != METER_SPOOL_FULL_WAIT)
    return mtr_error_set(err, METER_EINVAL, "spool options: unknown full_policy %d",
                         o->full_policy);
  if (o->late_policy < METER_SPOOL_LATE_AUTO || o->late_policy > METER_SPOOL_LATE_NEXT_HOUR)
    return mtr_error_set(err, METER_EINVAL, "spool options: unknown late_policy %d",
                         o->late_policy);
  return METER_OK;
}

int meter_spool_open(meter_spool **out, meter_client *client, const meter_spool_options *opts,
                     meter_error *err)
{
  meter_error local;
  if (!err)
    err = &local;
  mtr_error_clear(err);
  if (!out)
    return mtr_error_set(err, METER_EINVAL, "out is NULL");
  *out = NULL;
  int rc = check_options(opts, err);
  if (rc != METER_OK)
    return rc;

  meter_spool *s = mtr_calloc(1, sizeof *s);
  if (!s)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  /* A version 1 caller's struct ends before the version 2 fields. */
  memcpy(&s->o, opts, options_size(opts->version));
  s->o.version = METER_SPOOL_OPTIONS_VERSION;
  s->o.path = mtr_strdup(opts->path);
  s->o.fallback_path = s->o.fallback_path ? mtr_strdup(s->o.fallback_path) : NULL;
  mtr_mutex_init(&s->lock);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->cond, &ca);
  pthread_condattr_destroy(&ca);
  mtr_group_commit_init(&s->gc);
  /* An fsync costs ~0.2-0.5 ms: waiting up to 0.2 ms for the submitters of
   * the last group to come back is worth it; without fsync it is not. */
  if (opts->durability == METER_SPOOL_SYNC_FULL)
    s->gc.commit_delay_us = 200;
  atomic_init(&s->abort_io, 0);
  s->fork_gen = mtr_fork_generation();
  apply_defaults(s);
  if (!s->o.path || (opts->version >= 2 && opts->fallback_path && !s->o.fallback_path)) {
    free_spool(s);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }

  if ((rc = store_for(s->o.path, &s->sops, err)) == METER_OK && s->o.fallback_path &&
      s->sops == &mtr_sqlite_store)
    rc = mtr_error_set(err, METER_EINVAL,
                       "spool options: fallback_path is for PostgreSQL spools only");
  if (rc != METER_OK) {
    free_spool(s);
    return rc;
  }
  s->client = client;
  s->inner = client ? client->env.hooks : mtr_hooks_default();
  s->hooks = (mtr_hooks){ sp_now, sp_mono, sp_sleep, sp_random, s };
  if (mtr_uuid4(s->inner, s->owner) != 0)
    mtr_fmt(s->owner, sizeof s->owner, "owner-%p", (void *)s);
  if (client) {
    /* The spool's own back-end instance, bound to an environment whose
     * clock the spool controls (deadlines of flush/close, interruptible
     * backoff); the transport and the retry budget stay the client's. */
    s->ops = client->ops;
    s->log = &client->log;
    s->backend = client->ops->name;
    s->env = client->env;
    s->env.hooks = &s->hooks;
    rc = s->ops->create(&s->be, &s->env, s->log, &client->cfg, err);
    if (rc == METER_OK) {
      s->be->ops = s->ops;
      s->be->env = &s->env;
      s->be->log = s->log;
    }
  }
  if (rc == METER_OK) {
    mtr_store_config cfg = { s->o.path, s->backend, s->o.durability, s->grace_us,
                             s->o.late_policy, client == NULL, s->o.fallback_path, s->log };
    rc = s->sops->open(&s->store, &cfg, err);
  }
  if (rc == METER_OK && !client)
    s->backend = s->sops->backend(s->store);
  mtr_store_counts counts;
  if (rc == METER_OK && (rc = s->sops->counts(s->store, &counts, err)) == METER_OK) {
    s->waiting_records = counts.records_waiting;
    s->waiting_bytes = counts.bytes_waiting;
    if (counts.sending && s->log)
      MTR_INFO(s->log, "spool %s: %llu entries were in flight when the last process stopped; "
                       "they will be resent with the same keys", s->o.path,
               (unsigned long long)counts.sending);
  }
  if (rc == METER_OK && client && !s->o.no_sender)
    rc = mtr_sender_start(s, err);
  if (rc != METER_OK) {
    if (err->status == METER_OK)
      mtr_error_set(err, rc, "%s", meter_strerror(rc));
    free_spool(s);
    return rc;
  }
  *out = s;
  return METER_OK;
}

/* ---- submit -------------------------------------------------------------- */

typedef struct prepared {
  mtr_store_input in;
  mtr_buf body, bkey, akey, allocs;
} prepared;

static void prepared_dispose(prepared *p)
{
  mtr_buf_dispose(&p->body);
  mtr_buf_dispose(&p->bkey);
  mtr_buf_dispose(&p->akey);
  mtr_buf_dispose(&p->allocs);
}

static void result_dispose(mtr_result *r)
{
  mtr_free(r->record_id);
  mtr_free(r->status);
  mtr_free(r->error_code);
  mtr_free(r->message);
  mtr_free(r->field);
  mtr_free(r->idempotency_key);
  mtr_free(r->request_id);
  mtr_free(r->status_path);
}

/* Validates and encodes one record on the caller's thread (everything but
 * the append, so concurrent submitters work in parallel). */
static int prepare(meter_spool *s, const meter_record *r, prepared *p, int64_t now,
                   meter_error *err)
{
  mtr_store_input *in = &p->in;
  if (!r)
    return mtr_error_set(err, METER_EINVAL, "record is NULL");
  mtr_result res;
  memset(&res, 0, sizeof res);
  int rc = s->ops->validate(s->be, r, &res);
  if (rc != METER_OK) {
    rc = mtr_error_set(err, rc == METER_ENOMEM ? rc : METER_EINVAL, "%s",
                       res.message ? res.message : "invalid record");
    result_dispose(&res);
    return rc;
  }
  result_dispose(&res);

  mtr_agg_rule rule;
  memset(&rule, 0, sizeof rule);
  if (s->ops->aggregation && (rc = s->ops->aggregation(s->be, r, &rule, &p->akey)) != METER_OK)
    return mtr_error_set(err, rc, "cannot aggregate this record: %s", meter_strerror(rc));
  size_t limit = 1;
  if ((rc = s->ops->batch_key(s->be, r, &p->bkey, &limit)) != METER_OK)
    return mtr_error_set(err, rc, "cannot batch this record: %s", meter_strerror(rc));
  if ((rc = mtr_record_to_json(r, &p->body)) != METER_OK)
    return mtr_error_set(err, rc, "out of memory");

  char ts[MTR_TIME_BUF];
  in->ikey = mtr_rec(r, METER_FIELD_IDEMPOTENCY_KEY);
  in->time_us = r->time_us;
  in->window_us = rule.window_us > 0 ? rule.window_us : 0;
  in->batch_limit = limit > UINT32_MAX ? UINT32_MAX : (uint32_t)(limit ? limit : 1);
  if (rule.aggregate) {
    /* The marketplace keeps the hour's start as the report's time: that is
     * what must be inside its window. */
    int64_t hour = mtr_time_hour_floor(r->time_us);
    if (in->window_us && hour + in->window_us <= now)
      return mtr_error_set(err, METER_EINVAL,
                           "time: the hour %s is past the marketplace's window (%lld h) and "
                           "can no longer be reported",
                           mtr_time_format(hour, MTR_TIME_RFC3339, ts),
                           (long long)(in->window_us / MTR_US_PER_HOUR));
    if (mtr_rec(r, METER_FIELD_QUANTITY) && !r->qty.fits_int64)
      return mtr_error_set(err, METER_EINVAL,
                           "quantity: hourly aggregated usage must be a whole number, got %s",
                           mtr_rec(r, METER_FIELD_QUANTITY));
    if ((rc = mtr_allocs_canonical(r, &p->allocs)) != METER_OK)
      return mtr_error_set(err, rc, "out of memory");
    in->flags = MTR_UNIT_AGGREGATE;
    in->agg_key = mtr_buf_cstr(&p->akey);
    in->quantity = mtr_rec(r, METER_FIELD_QUANTITY) ? r->qty.value : 0;
    in->allocs = p->allocs.len ? mtr_buf_cstr(&p->allocs) : NULL;
  } else if (in->window_us && r->time_us + in->window_us <= now) {
    return mtr_error_set(err, METER_EINVAL,
                         "time: %s is past the marketplace's window (%lld h) and can no longer "
                         "be reported", mtr_rec(r, METER_FIELD_TIME),
                         (long long)(in->window_us / MTR_US_PER_HOUR));
  }
  /* Its inbox row; the sender's ingest gives back what sorting frees. */
  in->bytes = INBOX_ROW_BYTES + p->body.len + strlen(in->ikey) + p->bkey.len + p->akey.len +
              p->allocs.len;
  if (rule.replaces)
    in->flags |= MTR_UNIT_REPLACES;
  if (rule.resend_unsafe)
    in->flags |= MTR_UNIT_RESEND_UNSAFE;
  in->batch_key = mtr_buf_cstr(&p->bkey);
  in->body = mtr_buf_cstr(&p->body);
  if (mtr_buf_status(&p->akey) || mtr_buf_status(&p->bkey))
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  return METER_OK;
}

/* Waits for room (max_records / max_bytes) per the full policy. */
static int reserve(meter_spool *s, uint64_t recs, uint64_t bytes, meter_error *err)
{
  int64_t deadline = s->o.full_policy == METER_SPOOL_FULL_WAIT
                       ? mtr_mono_us(s->inner) + s->full_wait_us : 0;
  int64_t last_count = 0;
  mtr_mutex_lock(&s->lock);
  for (;;) {
    if (s->waiting_records + recs <= s->o.max_records &&
        s->waiting_bytes + bytes <= s->o.max_bytes) {
      mtr_mutex_unlock(&s->lock);
      return METER_OK;
    }
    if (s->closing || s->stopping) {
      mtr_mutex_unlock(&s->lock);
      return mtr_error_set(err, METER_ECLOSED, "the spool is closing");
    }
    /* Other processes deliver too: recount from the file before refusing,
     * at most once a second. */
    int64_t mono = mtr_mono_us(s->inner);
    if (!last_count || mono - last_count >= RECOUNT_EVERY_US) {
      last_count = mono ? mono : 1;
      mtr_mutex_unlock(&s->lock);
      mtr_store_counts c;
      meter_error e;
      int rc = s->sops->counts(s->store, &c, &e);
      mtr_mutex_lock(&s->lock);
      if (rc == METER_OK) {
        s->waiting_records = c.records_waiting;
        s->waiting_bytes = c.bytes_waiting;
      }
      continue;
    }
    if (!deadline || mono >= deadline) {
      uint64_t wr = s->waiting_records, wb = s->waiting_bytes;
      mtr_mutex_unlock(&s->lock);
      return mtr_error_set(err, METER_EFULL,
                           "spool full: %llu records / %llu bytes not yet delivered (max %llu / "
                           "%llu); is the marketplace reachable? (meter_spool_stats_get)",
                           (unsigned long long)wr, (unsigned long long)wb,
                           (unsigned long long)s->o.max_records,
                           (unsigned long long)s->o.max_bytes);
    }
    int64_t until = last_count + RECOUNT_EVERY_US;
    mtr_spool_wait(s, until < deadline ? until : deadline);
  }
}

static int submit(meter_spool *s, meter_record *const *recs, size_t n, meter_error *err)
{
  meter_error local;
  if (!err)
    err = &local;
  mtr_error_clear(err);
  int rc = mtr_spool_enter(s, err);
  if (rc != METER_OK)
    return s ? mtr_spool_fail(s, err) : rc;
  if (!s->client) {
    mtr_error_set(err, METER_EINVAL, "this spool was opened without a client (inspection only)");
    goto out;
  }
  if (n == 0)
    goto out;
  if (!recs) {
    mtr_error_set(err, METER_EINVAL, "records is NULL");
    goto out;
  }

  prepared one, *ps = &one;
  mtr_store_input *in_one, **ins = &in_one;
  if (n > 1) {
    ps = mtr_calloc(n, sizeof *ps);
    ins = mtr_calloc(n, sizeof *ins);
    if (!ps || !ins) {
      mtr_free(ps);
      mtr_free(ins);
      mtr_error_set(err, METER_ENOMEM, "out of memory");
      goto out;
    }
  } else {
    memset(&one, 0, sizeof one);
  }
  int64_t now = mtr_now_us(s->inner);
  uint64_t bytes = 0;
  mtr_group_commit_arrive(&s->gc);
  for (size_t i = 0; i < n && rc == METER_OK; i++) {
    meter_error e;
    mtr_error_clear(&e);
    rc = prepare(s, recs[i], &ps[i], now, &e);
    if (rc != METER_OK) {
      if (n > 1)
        mtr_error_set(err, rc, "record %zu: %s", i, e.message);
      else
        mtr_error_copy(err, &e);
    }
    ins[i] = &ps[i].in;
    bytes += ps[i].in.bytes;
  }
  if (rc == METER_OK)
    rc = reserve(s, n, bytes, err);
  if (rc == METER_OK) {
    mtr_commit_ticket t;
    memset(&t, 0, sizeof t);
    t.in = ins;
    t.n = n;
    rc = mtr_group_commit_run(s, &t);
    if (rc != METER_OK)
      mtr_error_copy(err, &t.err);
  } else {
    mtr_group_commit_leave(&s->gc);
  }
  for (size_t i = 0; i < n; i++)
    prepared_dispose(&ps[i]);
  if (n > 1) {
    mtr_free(ps);
    mtr_free(ins);
  }
out:
  mtr_spool_leave(s);
  if (err->status != METER_OK)
    return mtr_spool_fail(s, err);
  return METER_OK;
}

int meter_submit(meter_spool *s, const meter_record *record, meter_error *err)
{
  meter_record *r = (meter_record *)record; /* read only */
  return submit(s, &r, 1, err);
}

int meter_submit_batch(meter_spool *s, meter_record *const *records, size_t count,
                       meter_error *err)
{
  return submit(s, records, count, err);
}

/* ---- flush and close ----------------------------------------------------- */

int meter_flush(meter_spool *s, long deadline_ms, unsigned int flags)
{
  meter_error err;
  mtr_error_clear(&err);
  int rc = mtr_spool_enter(s, &err);
  if (rc != METER_OK)
    return s ? mtr_spool_fail(s, &err) : rc;
  rc = mtr_spool_flush(s, deadline_ms, flags);
  mtr_spool_leave(s);
  return rc;
}

/* A forked child's copy: free our memory; the parent's files, locks and
 * threads are not ours to touch (its mutexes may even be held). */
static void abandon(meter_spool *s)
{
  if (s->store)
    s->sops->abandon(s->store);
  mtr_free((char *)s->o.path);
  mtr_free((char *)s->o.fallback_path);
  mtr_free(s->gc.batch);
  mtr_free(s);
}

int meter_close(meter_spool *s, long deadline_ms, unsigned int flags)
{
  if (!s)
    return METER_OK;
  if (s->fork_gen != mtr_fork_generation()) {
    abandon(s);
    return METER_OK;
  }
  mtr_mutex_lock(&s->lock);
  s->closing = 1;
  pthread_cond_broadcast(&s->cond);
  while (s->active > 0)
    pthread_cond_wait(&s->cond, &s->lock);
  mtr_mutex_unlock(&s->lock);

  int rc = METER_OK;
  if (deadline_ms != 0 && s->client)
    rc = mtr_spool_flush(s, deadline_ms, flags);
  mtr_sender_stop(s);
  free_spool(s);
  return rc;
}
