#include "fake_market.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/record.h"
#include "core/timefmt.h"
#include "core/uuid.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

fake_market *fm;

void fm_lock(fake_market *m)
{
  if (pthread_mutex_lock(&m->lock) == EOWNERDEAD)
    pthread_mutex_consistent(&m->lock); /* a killed child held it */
}

void fm_unlock(fake_market *m)
{
  pthread_mutex_unlock(&m->lock);
}

void fake_market_reset(fake_market *m, int mode)
{
  pthread_mutex_t lock = m->lock;
  memset(m, 0, sizeof *m);
  m->lock = lock;
  m->mode = mode;
  m->limit = 25;
  m->window_us = 24 * MTR_US_PER_HOUR;
}

fake_market *fake_market_create(int mode)
{
  fake_market *m = mmap(NULL, sizeof *m, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    return NULL;
  memset(m, 0, sizeof *m);
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&m->lock, &a);
  pthread_mutexattr_destroy(&a);
  fake_market_reset(m, mode);
  fm = m;
  return m;
}

void fake_market_destroy(fake_market *m)
{
  if (!m)
    return;
  pthread_mutex_destroy(&m->lock);
  munmap(m, sizeof *m);
  if (fm == m)
    fm = NULL;
}

const fm_entry *fm_find(fake_market *m, const char *key)
{
  for (int i = 0; i < m->nentries; i++)
    if (strcmp(m->entries[i].key, key) == 0)
      return &m->entries[i];
  return NULL;
}

void fm_process_all(fake_market *m)
{
  fm_lock(m);
  for (int i = 0; i < m->nentries; i++)
    m->entries[i].processed = 1;
  fm_unlock(m);
}

static fm_entry *entry(fake_market *m, const char *key)
{
  fm_entry *e = (fm_entry *)fm_find(m, key);
  if (e || m->nentries == FM_MAX_ENTRIES)
    return e;
  e = &m->entries[m->nentries++];
  memset(e, 0, sizeof *e);
  snprintf(e->key, sizeof e->key, "%s", key);
  return e;
}

/* ---- the back end -------------------------------------------------------- */

static const mtr_setting_spec settings[] = { { NULL, 0, NULL } };

static int create(mtr_backend **out, const mtr_env *env, mtr_logger *log, const mtr_config *cfg,
                  meter_error *err)
{
  (void)env;
  (void)log;
  (void)cfg;
  (void)err;
  mtr_backend *b = mtr_calloc(1, sizeof *b);
  if (!b)
    return METER_ENOMEM;
  *out = b;
  return METER_OK;
}

static void destroy(mtr_backend *be) { mtr_free(be); }

static int validate(mtr_backend *be, const meter_record *rec, mtr_result *res)
{
  (void)be;
  const char *c = mtr_rec(rec, METER_FIELD_CUSTOMER);
  if (!c)
    return mtr_invalid(res, METER_FIELD_CUSTOMER, "required");
  if (strncmp(c, "invalid", 7) == 0)
    return mtr_invalid(res, METER_FIELD_CUSTOMER, "must not start with 'invalid'");
  return METER_OK;
}

static int batch_key(mtr_backend *be, const meter_record *rec, mtr_buf *key, size_t *limit)
{
  (void)be;
  const char *p = mtr_rec(rec, METER_FIELD_PRODUCT);
  mtr_buf_puts(key, p ? p : "");
  *limit = (size_t)(fm->limit > 0 ? fm->limit : 25);
  return mtr_buf_status(key);
}

static int aggregation(mtr_backend *be, const meter_record *rec, mtr_agg_rule *rule, mtr_buf *key)
{
  (void)be;
  rule->window_us = fm->window_us;
  rule->aggregate = fm->mode == FM_AGGREGATE || fm->mode == FM_REPLACE;
  rule->replaces = fm->mode == FM_REPLACE;
  rule->resend_unsafe = fm->mode == FM_UNSAFE;
  if (rule->aggregate) {
    const char *p = mtr_rec(rec, METER_FIELD_PRODUCT), *c = mtr_rec(rec, METER_FIELD_CUSTOMER),
               *d = mtr_rec(rec, METER_FIELD_DIMENSION);
    mtr_buf_printf(key, "%s|%s|%s", p ? p : "", c ? c : "", d ? d : "");
  }
  return mtr_buf_status(key);
}

static void fail_all(const mtr_batch *b, int http, const char *code, const char *msg)
{
  for (size_t i = 0; i < b->count; i++) {
    b->results[i]->attempts = 1;
    b->results[i]->http_status = http;
    mtr_result_set(b->results[i], METER_OUTCOME_FAILED, code, "%s", msg);
  }
}

/* Waits `us` on the sender's clock, giving up at the sender's deadline as
 * mtr_exchange would. Returns 0, or -1 if the deadline came first. */
static int wait_on(mtr_backend *be, int64_t us)
{
  const mtr_hooks *h = be->env->hooks;
  int64_t start = mtr_mono_us(h), deadline = start + be->env->policy.deadline_us;
  while (mtr_mono_us(h) < start + us) {
    if (mtr_mono_us(h) >= deadline)
      return -1;
    mtr_sleep_us(h, 2000);
  }
  return 0;
}

static void apply(const meter_record *r, mtr_result *res)
{
  const char *cust = mtr_rec(r, METER_FIELD_CUSTOMER);
  const char *dim = mtr_rec(r, METER_FIELD_DIMENSION);
  const char *ikey = mtr_rec(r, METER_FIELD_IDEMPOTENCY_KEY);
  int64_t q = r->qty.fits_int64 ? r->qty.value : 0;
  char key[128], ts[MTR_TIME_BUF];
  res->attempts = 1;
  res->http_status = 200;
  if (strncmp(cust, "bad-", 4) == 0) {
    fm->rejected++;
    mtr_result_set(res, METER_OUTCOME_REJECTED, "CustomerNotSubscribed", "not subscribed");
    return;
  }
  if (fm->mode == FM_AGGREGATE || fm->mode == FM_REPLACE) {
    snprintf(key, sizeof key, "%s|%s|%s", cust, dim ? dim : "",
             mtr_time_format(mtr_time_hour_floor(r->time_us), MTR_TIME_RFC3339, ts));
  } else {
    snprintf(key, sizeof key, "%s", ikey);
  }
  fm_entry *e = entry(fm, key);
  if (!e) {
    mtr_result_set(res, METER_OUTCOME_FAILED, "full", "fake market is full");
    return;
  }
  switch (fm->mode) {
  case FM_AGGREGATE:
    if (e->reports && e->quantity == q) {
      fm->duplicates++;
      e->reports++;
      mtr_result_delivered(res, METER_OUTCOME_DUPLICATE, key, "duplicate");
      return;
    }
    if (e->reports) {
      fm->rejected++;
      mtr_result_set(res, METER_OUTCOME_REJECTED, "DuplicateRecord",
                     "another quantity was already reported for this hour");
      return;
    }
    break;
  case FM_REPLACE:
    if (e->processed) {
      fm->conflicts++;
      mtr_result_set(res, METER_OUTCOME_CONFLICT, "conflict", "already sent to the marketplace");
      return;
    }
    fm->billed -= e->quantity;
    break;
  case FM_REQUEST:
  case FM_UNSAFE:
    if (fm->mode == FM_REQUEST && e->reports) {
      fm->duplicates++;
      e->reports++;
      mtr_result_delivered(res, METER_OUTCOME_DUPLICATE, key, "duplicate");
      return;
    }
    if (fm->mode == FM_UNSAFE && e->reports) {
      /* POST bills again: make the double count visible. */
      fm->billed += q;
      e->quantity += q;
      e->reports++;
      mtr_result_delivered(res, METER_OUTCOME_ACCEPTED, key, "ok");
      return;
    }
    break;
  }
  e->quantity = q;
  e->reports++;
  fm->billed += q;
  mtr_result_delivered(res, METER_OUTCOME_ACCEPTED, key, "ok");
}

static int send_batch(mtr_backend *be, const mtr_batch *b, meter_error *err)
{
  fm_lock(fm);
  fm->requests++;
  fm->nlast_keys = 0;
  for (size_t i = 0; i < b->count && i < 64; i++)
    snprintf(fm->last_keys[fm->nlast_keys++], sizeof fm->last_keys[0], "%s",
             mtr_rec(b->records[i], METER_FIELD_IDEMPOTENCY_KEY));
  if (fm->fail_always || fm->fail_next > 0) {
    if (fm->fail_next > 0)
      fm->fail_next--;
    fm_unlock(fm);
    fail_all(b, 503, "ServiceUnavailable", "fake market: 503");
    return mtr_error_set(err, METER_EUNDELIVERED, "fake market: 503");
  }
  int64_t slow = fm->slow_us;
  fm_unlock(fm);
  if (slow && wait_on(be, slow) != 0) {
    fail_all(b, 0, NULL, "fake market: deadline reached");
    return mtr_error_set(err, METER_ETIMEOUT, "fake market: deadline reached");
  }
  fm_lock(fm);
  int request_dup = 0;
  if (fm->mode == FM_REQUEST) {
    /* AppDirect: the request key comes from the composition. */
    mtr_buf all = MTR_BUF_INIT;
    for (size_t i = 0; i < b->count; i++)
      mtr_buf_printf(&all, "%s,", mtr_rec(b->records[i], METER_FIELD_IDEMPOTENCY_KEY));
    char rk[MTR_UUID_LEN + 1];
    mtr_uuid_from_name(all.ptr ? all.ptr : "", all.len, rk);
    mtr_buf_dispose(&all);
    for (int i = 0; i < fm->nrequest_keys; i++)
      request_dup |= strcmp(fm->request_keys[i], rk) == 0;
    if (!request_dup && fm->nrequest_keys < FM_MAX_REQUESTS)
      snprintf(fm->request_keys[fm->nrequest_keys++], sizeof fm->request_keys[0], "%s", rk);
  }
  for (size_t i = 0; i < b->count; i++) {
    if (request_dup) {
      fm->duplicates++;
      b->results[i]->attempts = 1;
      mtr_result_delivered(b->results[i], METER_OUTCOME_DUPLICATE, "dup", "duplicate request");
    } else {
      apply(b->records[i], b->results[i]);
    }
  }
  int drop = fm->drop_next > 0;
  if (drop)
    fm->drop_next--;
  int64_t hang = fm->hang_after_apply_us;
  if (hang)
    fm->hanging = 1;
  fm_unlock(fm);
  if (hang) {
    wait_on(be, hang);
    fm->hanging = 0;
  }
  if (drop) {
    /* Applied, but the answer never arrives. */
    for (size_t i = 0; i < b->count; i++) {
      mtr_result_str(&b->results[i]->record_id, NULL);
      b->results[i]->http_status = 0;
      mtr_result_set(b->results[i], METER_OUTCOME_FAILED, NULL,
                     "connection closed after the request was sent");
    }
    return mtr_error_set(err, METER_ETRANSPORT, "fake market: connection closed");
  }
  return METER_OK;
}

const mtr_backend_ops fake_market_ops = {
  "fakemarket", settings, create, destroy, validate, batch_key, send_batch, aggregation,
};
