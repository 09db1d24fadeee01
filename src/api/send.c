/* meter_send / meter_validate: validate every record, group the valid ones
 * into batches by the back end's batch key and limit, deliver each batch, and
 * sum the per-record outcomes into one status. */
#include "client.h"

#include "core/alloc.h"
#include "core/error.h"

#include <string.h>

typedef struct group {
  char *key;
  size_t limit;
  size_t *idx;
  size_t count;
} group;

static void free_groups(group *g, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    mtr_free(g[i].key);
    mtr_free(g[i].idx);
  }
  mtr_free(g);
}

/* Validates and groups; invalid records get their outcome here. */
static int prepare(meter_client *c, meter_record *const *recs, size_t n, meter_results *rs,
                   group **groups_out, size_t *ngroups_out)
{
  group *groups = NULL;
  size_t ngroups = 0;
  mtr_buf key = MTR_BUF_INIT;
  int rc = METER_OK;

  for (size_t i = 0; i < n; i++) {
    mtr_result *res = &rs->items[i];
    if (!recs[i]) {
      mtr_result_set(res, METER_OUTCOME_INVALID, "invalid_record", "record %zu is NULL", i);
      continue;
    }
    if (mtr_result_str(&res->idempotency_key, mtr_rec(recs[i], METER_FIELD_IDEMPOTENCY_KEY))) {
      rc = METER_ENOMEM;
      break;
    }
    if (c->ops->validate(c->backend, recs[i], res) != METER_OK) {
      if (res->outcome != METER_OUTCOME_INVALID)
        mtr_result_set(res, METER_OUTCOME_INVALID, "invalid_record", "invalid record");
      continue;
    }
    if (!groups_out)
      continue;
    size_t limit = 1;
    mtr_buf_clear(&key);
    if ((rc = c->ops->batch_key(c->backend, recs[i], &key, &limit)) != METER_OK)
      break;
    if ((rc = mtr_buf_status(&key)) != METER_OK)
      break;
    size_t g = 0;
    while (g < ngroups && strcmp(groups[g].key, mtr_buf_cstr(&key)) != 0)
      g++;
    if (g == ngroups) {
      group *grown = mtr_realloc(groups, (ngroups + 1) * sizeof *grown);
      if (!grown) {
        rc = METER_ENOMEM;
        break;
      }
      groups = grown;
      memset(&groups[g], 0, sizeof groups[g]);
      ngroups++;
      groups[g].limit = limit ? limit : 1;
      if (!(groups[g].idx = mtr_calloc(n, sizeof(size_t))) ||
          !(groups[g].key = mtr_strdup(mtr_buf_cstr(&key)))) {
        rc = METER_ENOMEM;
        break;
      }
    }
    groups[g].idx[groups[g].count++] = i;
  }
  mtr_buf_dispose(&key);
  if (rc != METER_OK) {
    free_groups(groups, ngroups);
    return rc;
  }
  if (groups_out) {
    *groups_out = groups;
    *ngroups_out = ngroups;
  }
  return METER_OK;
}

int mtr_status_transient(int st)
{
  return st == METER_EUNDELIVERED || st == METER_ETHROTTLED || st == METER_ETIMEOUT ||
         st == METER_ETRANSPORT;
}

int mtr_deliver_batch(const mtr_backend_ops *ops, mtr_backend *be, const mtr_batch *batch,
                      meter_error *err)
{
  mtr_error_clear(err);
  int st = ops->send_batch(be, batch, err);
  for (size_t k = 0; k < batch->count; k++) {
    if (batch->results[k]->outcome == METER_OUTCOME_PENDING)
      mtr_result_set(batch->results[k], METER_OUTCOME_FAILED, "no_outcome", "not delivered: %s",
                     err->message[0] ? err->message : meter_strerror(st));
  }
  if (st != METER_OK && err->status == METER_OK)
    mtr_error_set(err, st, "%s", meter_strerror(st));
  /* Results and errors quote the marketplace, which may echo a secret it
   * was sent (a token fetch's body, a header): never pass one on. */
  mtr_logger_scrub(be->log, err->message, sizeof err->message);
  for (size_t k = 0; k < batch->count; k++) {
    mtr_result *r = batch->results[k];
    char **slots[] = { &r->record_id, &r->status, &r->error_code, &r->message,
                       &r->request_id, &r->status_path };
    for (size_t s = 0; s < sizeof slots / sizeof slots[0]; s++)
      mtr_logger_scrub_str(be->log, slots[s]);
  }
  return st;
}

/* The documented order: credentials, transient, invalid, rejected. */
static int overall_status(const meter_results *rs, int fatal, int transient, int pending_fails)
{
  int invalid = 0, rejected = 0, failed = 0;
  for (size_t i = 0; i < rs->count; i++) {
    switch (rs->items[i].outcome) {
    case METER_OUTCOME_INVALID: invalid = 1; break;
    case METER_OUTCOME_REJECTED:
    case METER_OUTCOME_CONFLICT: rejected = 1; break;
    case METER_OUTCOME_FAILED: failed = 1; break;
    case METER_OUTCOME_PENDING: failed |= pending_fails; break;
    default: break;
    }
  }
  if (fatal)
    return fatal;
  if (failed)
    return transient ? transient : METER_EUNDELIVERED;
  if (invalid)
    return METER_EINVAL;
  if (rejected)
    return METER_EREJECTED;
  return METER_OK;
}

static int send_groups(meter_client *c, meter_record *const *recs, meter_results *rs,
                       group *groups, size_t ngroups, int *fatal, int *transient,
                       meter_error *first)
{
  meter_record **brecs = NULL;
  mtr_result **bres = NULL;
  size_t maxn = 0;
  for (size_t g = 0; g < ngroups; g++)
    if (groups[g].count > maxn)
      maxn = groups[g].count;
  brecs = mtr_calloc(maxn ? maxn : 1, sizeof *brecs);
  bres = mtr_calloc(maxn ? maxn : 1, sizeof *bres);
  if (!brecs || !bres) {
    mtr_free(brecs);
    mtr_free(bres);
    return METER_ENOMEM;
  }

  for (size_t g = 0; g < ngroups; g++) {
    for (size_t off = 0; off < groups[g].count; off += groups[g].limit) {
      size_t m = groups[g].count - off;
      if (m > groups[g].limit)
        m = groups[g].limit;
      for (size_t k = 0; k < m; k++) {
        size_t i = groups[g].idx[off + k];
        brecs[k] = recs[i];
        bres[k] = &rs->items[i];
      }
      if (*fatal) {
        /* Credentials failed on an earlier batch: do not hammer the
         * marketplace with requests that cannot succeed. */
        for (size_t k = 0; k < m; k++)
          mtr_result_set(bres[k], METER_OUTCOME_FAILED, "not_sent",
                         "not sent: %s", first->message);
        continue;
      }
      mtr_batch batch = { brecs, bres, m };
      meter_error err;
      int st = mtr_deliver_batch(c->ops, c->backend, &batch, &err);
      if (st == METER_ENOMEM) {
        mtr_free(brecs);
        mtr_free(bres);
        return st;
      }
      if (st != METER_OK && first->status == METER_OK)
        mtr_error_copy(first, &err);
      if (st == METER_ECONFIG || st == METER_EAUTH)
        *fatal = st;
      else if (mtr_status_transient(st) && !*transient)
        *transient = st;
    }
  }
  mtr_free(brecs);
  mtr_free(bres);
  return METER_OK;
}

static void note_outcome(meter_client *c, const meter_results *rs, int st, const meter_error *first)
{
  if (st == METER_OK)
    return;
  if (first->status != METER_OK) {
    mtr_client_fail(c, first);
    return;
  }
  for (size_t i = 0; i < rs->count; i++) {
    const mtr_result *r = &rs->items[i];
    if (!meter_outcome_delivered(r->outcome)) {
      mtr_client_failf(c, st, "record %zu %s: %s", i, meter_outcome_name(r->outcome),
                       r->message ? r->message : "");
      return;
    }
  }
}

static int run(meter_client *c, meter_record *const *recs, size_t n, meter_results **out,
               int deliver)
{
  if (out)
    *out = NULL;
  if (!c || (!recs && n))
    return METER_EINVAL;
  meter_results *rs = mtr_results_new(n);
  if (!rs)
    return mtr_client_failf(c, METER_ENOMEM, "out of memory");

  group *groups = NULL;
  size_t ngroups = 0;
  int rc = prepare(c, recs, n, rs, deliver ? &groups : NULL, &ngroups);
  int fatal = 0, transient = 0;
  meter_error first;
  mtr_error_clear(&first);
  if (rc == METER_OK && deliver)
    rc = send_groups(c, recs, rs, groups, ngroups, &fatal, &transient, &first);
  free_groups(groups, ngroups);
  if (rc != METER_OK) {
    meter_results_free(rs);
    return mtr_client_failf(c, rc, "%s", meter_strerror(rc));
  }
  /* A validation leaves valid records PENDING; only invalid ones count. */
  int st = overall_status(rs, fatal, transient, deliver);
  note_outcome(c, rs, st, &first);
  if (out)
    *out = rs;
  else
    meter_results_free(rs);
  return st;
}

int meter_send(meter_client *c, meter_record *const *recs, size_t n, meter_results **out)
{
  return run(c, recs, n, out, 1);
}

int meter_validate(meter_client *c, meter_record *const *recs, size_t n, meter_results **out)
{
  return run(c, recs, n, out, 0);
}
