/* The Tackle.io back end: settings, state, batching and aggregation rules.
 * The work is done in the files named in tackle_internal.h. */
#include "tackle_internal.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <string.h>

static const mtr_setting_spec tackle_settings[] = {
  { "client_id", 0, "Tackle M2M client id (with client_secret; or give access_token)" },
  { "client_secret", MTR_SETTING_SECRET, "Tackle M2M client secret" },
  { "access_token", MTR_SETTING_SECRET,
    "a Tackle bearer token to use as is, instead of client_id/client_secret" },
  { "method", 0, "put (create or update the hour, the default) or post (always create)" },
  { "allow_zero", 0, "true to send zero quantities (Tackle documents that they cause an error)" },
  { NULL, 0, NULL },
};

static int tackle_create(mtr_backend **out, const mtr_env *env, mtr_logger *log,
                         const mtr_config *cfg, meter_error *err)
{
  *out = NULL;
  tk_backend *be = mtr_calloc(1, sizeof *be);
  if (!be)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  /* auth.c needs these before the client fills them in. */
  be->base.env = env;
  be->base.log = log;

  int rc = METER_OK;
  const char *method = mtr_config_get(cfg, "method");
  if (!method || mtr_streq_nocase(method, "put")) {
    be->method = TK_PUT;
  } else if (mtr_streq_nocase(method, "post")) {
    be->method = TK_POST;
  } else {
    rc = mtr_error_set(err, METER_ECONFIG, "tackle setting 'method': must be put or post, got '%.40s'",
                       method);
    goto fail;
  }
  be->allow_zero = mtr_config_bool(cfg, "allow_zero", 0);
  if (be->allow_zero < 0) {
    rc = mtr_error_set(err, METER_ECONFIG, "tackle setting 'allow_zero': must be true or false");
    goto fail;
  }
  mtr_buf url = MTR_BUF_INIT;
  const char *base = cfg->endpoint ? cfg->endpoint : TK_DEFAULT_ENDPOINT;
  size_t bl = strlen(base);
  while (bl > 0 && base[bl - 1] == '/')
    bl--;
  mtr_buf_put(&url, base, bl);
  if (mtr_buf_status(&url)) {
    mtr_buf_dispose(&url);
    rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
    goto fail;
  }
  be->endpoint = mtr_buf_detach(&url);
  if ((rc = tk_auth_init(be, cfg, err)) != METER_OK)
    goto fail;
  *out = &be->base;
  return METER_OK;

fail:
  tk_auth_dispose(be);
  mtr_free(be->endpoint);
  mtr_free(be);
  return rc;
}

static void tackle_destroy(mtr_backend *b)
{
  tk_backend *be = (tk_backend *)b;
  if (!be)
    return;
  tk_auth_dispose(be);
  mtr_free(be->endpoint);
  mtr_free(be);
}

/* PUT and POST records go in different requests (different verbs). Clouds,
 * tests and identification variants may share one: the body is an array of
 * anyOf(aws, azure, gcp) records. */
static int tackle_batch_key(mtr_backend *b, const meter_record *rec, mtr_buf *key, size_t *limit)
{
  tk_backend *be = (tk_backend *)b;
  mtr_buf_puts(key, tk_record_method(be, rec) == TK_PUT ? "put" : "post");
  *limit = TK_BATCH_LIMIT;
  return mtr_buf_status(key);
}

/*
 * Reliable mode. Tackle's PUT keeps one record per product, customer,
 * dimension and hour and *replaces* its quantity on every PUT, so the
 * pipeline must sum an hour and send the sum once: PUT records aggregate.
 * POST records never do (each POST is its own record at Tackle).
 *
 * Window: Tackle forwards AWS records to AWS, which takes usage at most 6 h
 * old (marketplaces.md §1.9); Azure's metering API takes 24 h [infer from
 * Azure's documentation]; for GCP no limit is documented, so none is set.
 */
static int tackle_aggregation(mtr_backend *b, const meter_record *rec, mtr_agg_rule *rule,
                              mtr_buf *key)
{
  tk_backend *be = (tk_backend *)b;
  const char *cloud = tk_cloud(rec);
  int put = tk_record_method(be, rec) == TK_PUT;
  rule->aggregate = put;
  /* A PUT replaces the hour's quantity until Tackle sends it, so a late
   * record goes out as the hour's new total. A POST is not idempotent: a
   * record whose request may have been applied is kept for the operator
   * (dead letter) rather than resent. */
  rule->replaces = put;
  rule->resend_unsafe = !put;
  rule->window_us = strcmp(cloud, "aws") == 0     ? 6 * MTR_US_PER_HOUR
                    : strcmp(cloud, "azure") == 0 ? 24 * MTR_US_PER_HOUR
                                                  : 0;
  /* Length-prefixed parts, so "a|b"+"c" and "a"+"b|c" stay different. */
  const char *sub = mtr_rec(rec, METER_FIELD_SUBSCRIPTION_ID);
  const char *test = mtr_rec(rec, METER_FIELD_TEST);
  const char *parts[] = {
    sub ? "sub" : "pc",
    sub ? sub : mtr_rec(rec, METER_FIELD_PRODUCT),
    sub ? "" : mtr_rec(rec, METER_FIELD_CUSTOMER),
    mtr_rec(rec, METER_FIELD_DIMENSION),
    cloud,
    test ? test : "live",
  };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    const char *v = parts[i] ? parts[i] : "";
    mtr_buf_printf(key, "%s%zu:%s", i ? "|" : "", strlen(v), v);
  }
  return mtr_buf_status(key);
}

const mtr_backend_ops mtr_tackle_backend = {
  "tackle",
  tackle_settings,
  tackle_create,
  tackle_destroy,
  tk_validate,
  tackle_batch_key,
  tk_send_batch,
  tackle_aggregation,
};
