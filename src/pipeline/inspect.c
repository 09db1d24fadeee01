/* Looking into a spool: stats, entries (list, export, the outcome callback's
 * view), dead letters. Reads use the store's snapshot connection, so they
 * never hold up submits or the sender. */
#include "spool_internal.h"

#include "aggregate.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "json/json.h"
#include "record_codec.h"

#include <string.h>

struct meter_spool_item {
  const mtr_unit *u;
  const char *backend;
  char *json;                 /* built on demand */
};

static void item_dispose(meter_spool_item *it)
{
  mtr_free(it->json);
}

/* ---- entries ------------------------------------------------------------- */

int64_t meter_spool_item_id(const meter_spool_item *it) { return it ? it->u->id : 0; }

meter_spool_kind meter_spool_item_kind(const meter_spool_item *it)
{
  return it ? (meter_spool_kind)it->u->kind : (meter_spool_kind)0;
}

meter_spool_state meter_spool_item_state(const meter_spool_item *it)
{
  return it ? (meter_spool_state)it->u->state : (meter_spool_state)0;
}

const char *meter_spool_item_idempotency_key(const meter_spool_item *it)
{
  return it ? it->u->ikey : NULL;
}

uint64_t meter_spool_item_records(const meter_spool_item *it) { return it ? it->u->nrecords : 0; }
int64_t meter_spool_item_time_us(const meter_spool_item *it) { return it ? it->u->time_us : 0; }

int64_t meter_spool_item_submitted_us(const meter_spool_item *it)
{
  return it ? it->u->submitted_us : 0;
}

unsigned int meter_spool_item_attempts(const meter_spool_item *it)
{
  return it ? it->u->attempts : 0;
}

meter_outcome meter_spool_item_outcome(const meter_spool_item *it)
{
  return it ? (meter_outcome)it->u->outcome : METER_OUTCOME_PENDING;
}

const char *meter_spool_item_error_code(const meter_spool_item *it)
{
  return it ? it->u->error_code : NULL;
}

const char *meter_spool_item_message(const meter_spool_item *it)
{
  return it ? it->u->message : NULL;
}

const char *meter_spool_item_record_id(const meter_spool_item *it)
{
  return it ? it->u->record_id : NULL;
}

int meter_spool_item_record(const meter_spool_item *it, meter_record **out)
{
  if (!out)
    return METER_EINVAL;
  *out = NULL;
  if (!it)
    return METER_EINVAL;
  meter_error err;
  mtr_error_clear(&err);
  return mtr_unit_render(it->u, it->backend, out, &err);
}

static const char *kind_name(int kind)
{
  switch (kind) {
  case METER_SPOOL_RECORD: return "record";
  case METER_SPOOL_AGGREGATE: return "aggregate";
  case METER_SPOOL_LATE: return "late";
  default: return "unknown";
  }
}

static const char *state_name(int state)
{
  switch (state) {
  case METER_SPOOL_RECEIVED: return "received";
  case METER_SPOOL_OPEN: return "open";
  case METER_SPOOL_PENDING: return "pending";
  case METER_SPOOL_SENDING: return "sending";
  case METER_SPOOL_DELIVERED: return "delivered";
  case METER_SPOOL_DEAD: return "dead";
  default: return "unknown";
  }
}

/* The export line of an entry (see meter_spool_export). */
static char *item_json(const meter_spool_item *it)
{
  const mtr_unit *u = it->u;
  cJSON *o = cJSON_CreateObject();
  int ok = o && mtr_json_add_int(o, "id", u->id) &&
           cJSON_AddStringToObject(o, "kind", kind_name(u->kind)) &&
           cJSON_AddStringToObject(o, "state", state_name(u->state)) &&
           cJSON_AddStringToObject(o, "idempotency_key", u->ikey) &&
           mtr_json_add_int(o, "records", (int64_t)u->nrecords) &&
           mtr_json_add_int(o, "attempts", u->attempts) &&
           cJSON_AddStringToObject(o, "outcome", meter_outcome_name((meter_outcome)u->outcome)) &&
           mtr_json_add_int(o, "submitted_us", u->submitted_us) &&
           mtr_json_add_str(o, "error_code", u->error_code) &&
           mtr_json_add_str(o, "message", u->message) &&
           mtr_json_add_str(o, "record_id", u->record_id);
  meter_record *r = NULL;
  meter_error err;
  mtr_error_clear(&err);
  if (ok && mtr_unit_render(u, it->backend, &r, &err) == METER_OK) {
    cJSON *rec = mtr_record_to_cjson(r, 1);
    ok = rec && cJSON_AddItemToObject(o, "record", rec);
  } else if (ok) {
    ok = cJSON_AddStringToObject(o, "record_error", err.message) != NULL;
  }
  meter_record_free(r);
  mtr_buf out = MTR_BUF_INIT;
  if (ok)
    ok = mtr_json_print(o, &out) == METER_OK;
  cJSON_Delete(o);
  if (!ok) {
    mtr_buf_dispose(&out);
    return NULL;
  }
  return mtr_buf_detach(&out);
}

const char *meter_spool_item_json(const meter_spool_item *it)
{
  if (!it)
    return NULL;
  meter_spool_item *mut = (meter_spool_item *)it; /* a cache, built once */
  if (!mut->json)
    mut->json = item_json(it);
  return it->json;
}

/* ---- the outcome callback ------------------------------------------------ */

void mtr_spool_notify(meter_spool *s, const mtr_unit *u, int state, int outcome, int sent,
                      const char *error_code, const char *message, const char *record_id)
{
  if (!s->o.on_outcome)
    return;
  /* The entry as it now is: a shallow copy with the new outcome. */
  mtr_unit now = *u;
  now.state = state;
  now.outcome = outcome;
  now.attempts = u->attempts + (sent ? 1 : 0);
  now.error_code = (char *)error_code;
  now.message = (char *)message;
  now.record_id = (char *)record_id;
  meter_spool_item it = { &now, s->backend, NULL };
  s->o.on_outcome(&it, (meter_spool_state)state, (meter_outcome)outcome, s->o.on_outcome_payload);
  item_dispose(&it);
}

/* ---- list and export ----------------------------------------------------- */

typedef struct list_ctx {
  meter_spool *s;
  meter_spool_item_fn fn;
  meter_spool_write_fn write;
  void *payload;
  int failed;
} list_ctx;

static int list_one(const mtr_unit *u, void *p)
{
  list_ctx *lc = p;
  meter_spool_item it = { u, lc->s->backend, NULL };
  int stop;
  if (lc->fn) {
    stop = lc->fn(&it, lc->payload);
  } else {
    const char *line = meter_spool_item_json(&it);
    if (!line) {
      lc->failed = METER_ENOMEM;
      stop = 1;
    } else {
      mtr_buf b = MTR_BUF_INIT;
      mtr_buf_puts(&b, line);
      mtr_buf_putc(&b, '\n');
      if (mtr_buf_status(&b) != METER_OK) {
        lc->failed = METER_ENOMEM;
        stop = 1;
      } else {
        stop = lc->write(b.ptr, b.len, lc->payload);
      }
      mtr_buf_dispose(&b);
    }
  }
  item_dispose(&it);
  return stop;
}

static int list(meter_spool *s, unsigned mask, meter_spool_item_fn fn, meter_spool_write_fn write,
                void *payload)
{
  meter_error err;
  mtr_error_clear(&err);
  int rc = mtr_spool_enter(s, &err);
  if (rc != METER_OK)
    return s ? mtr_spool_fail(s, &err) : rc;
  if (!fn && !write) {
    mtr_spool_leave(s);
    return METER_EINVAL;
  }
  list_ctx lc = { s, fn, write, payload, 0 };
  rc = mtr_spool_sort(s, &err);
  if (rc == METER_OK)
    rc = s->sops->list(s->store, mask, list_one, &lc, &err);
  if (rc == METER_OK && lc.failed)
    rc = mtr_error_set(&err, lc.failed, "out of memory");
  mtr_spool_leave(s);
  return rc == METER_OK ? rc : mtr_spool_fail(s, &err);
}

int meter_spool_list(meter_spool *s, unsigned int state_mask, meter_spool_item_fn fn,
                     void *payload)
{
  return list(s, state_mask, fn, NULL, payload);
}

int meter_spool_export(meter_spool *s, unsigned int state_mask, meter_spool_write_fn fn,
                       void *payload)
{
  return list(s, state_mask, NULL, fn, payload);
}

/* ---- dead letters -------------------------------------------------------- */

int meter_spool_retry_dead(meter_spool *s, const char *ikey, size_t *requeued)
{
  if (requeued)
    *requeued = 0;
  meter_error err;
  mtr_error_clear(&err);
  int rc = mtr_spool_enter(s, &err);
  if (rc != METER_OK)
    return s ? mtr_spool_fail(s, &err) : rc;
  size_t n = 0;
  rc = s->sops->requeue_dead(s->store, ikey, mtr_now_us(s->inner), &n, &err);
  if (requeued)
    *requeued = n;
  if (rc == METER_OK && n > 0) {
    if (s->log)
      MTR_INFO(s->log, "spool: %zu dead letter(s) requeued", n);
    mtr_spool_kick(s);
  }
  mtr_spool_leave(s);
  return rc == METER_OK ? rc : mtr_spool_fail(s, &err);
}

/* ---- status -------------------------------------------------------------- */

int meter_spool_stats_get(meter_spool *s, meter_spool_stats *st)
{
  if (!st)
    return METER_EINVAL;
  if (st->version != METER_SPOOL_STATS_VERSION)
    return METER_EVERSION;
  meter_error err;
  mtr_error_clear(&err);
  int rc = mtr_spool_enter(s, &err);
  if (rc != METER_OK)
    return s ? mtr_spool_fail(s, &err) : rc;
  /* A cheap read (monitoring calls it often): records not yet sorted by the
   * sender are counted as received, not sorted here. */
  mtr_store_counts c;
  rc = s->sops->counts(s->store, &c, &err);
  if (rc == METER_OK) {
    meter_spool_stats out = METER_SPOOL_STATS_INIT;
    out.records_waiting = c.records_waiting;
    out.bytes_waiting = c.bytes_waiting;
    out.received = c.received;
    out.open = c.open;
    out.pending = c.pending;
    out.sending = c.sending;
    out.dead = c.dead;
    out.records_dead = c.records_dead;
    out.delivered = c.delivered;
    out.oldest_waiting_us = c.oldest_waiting_us;
    mtr_mutex_lock(&s->lock);
    out.submitted = s->submitted;
    out.requests = s->requests;
    out.requests_failed = s->requests_failed;
    out.sender = s->is_sender;
    out.last_status = s->last_status;
    mtr_strlcpy(out.last_message, s->last_message, sizeof out.last_message);
    /* Keep the in-memory bound in step with the file. */
    s->waiting_records = c.records_waiting;
    s->waiting_bytes = c.bytes_waiting;
    mtr_mutex_unlock(&s->lock);
    *st = out;
  }
  mtr_spool_leave(s);
  return rc == METER_OK ? rc : mtr_spool_fail(s, &err);
}

int meter_spool_last_error(meter_spool *s, char *buf, size_t size)
{
  if (!s)
    return METER_EINVAL;
  mtr_mutex_lock(&s->lock);
  int st = s->last_error.status;
  if (buf && size)
    mtr_strlcpy(buf, s->last_error.message, size);
  mtr_mutex_unlock(&s->lock);
  return st;
}
