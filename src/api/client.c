/* meter_client: options -> configuration -> back end. */
#include "client.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "meter/version.h"

#include <stdio.h>
#include <string.h>

int meter_client_options_init(meter_client_options *opts, unsigned int version)
{
  if (!opts)
    return METER_EINVAL;
  if (version != METER_CLIENT_OPTIONS_VERSION)
    return METER_EVERSION;
  meter_client_options init = METER_CLIENT_OPTIONS_INIT;
  *opts = init;
  return METER_OK;
}

static void free_config(mtr_config *cfg)
{
  for (size_t i = 0; i < cfg->count; i++) {
    mtr_free((char *)cfg->items[i].name);
    mtr_free_secret_str((char *)cfg->items[i].value);
  }
  mtr_free(cfg->items);
  mtr_free((char *)cfg->endpoint);
  memset(cfg, 0, sizeof *cfg);
}

static const mtr_setting_spec *find_spec(const mtr_backend_ops *ops, const char *name)
{
  for (const mtr_setting_spec *s = ops->settings; s && s->name; s++)
    if (strcmp(s->name, name) == 0)
      return s;
  return NULL;
}

/* Copies the settings, refusing unknown names and filling nothing implicit. */
static int copy_config(mtr_config *cfg, const mtr_backend_ops *ops,
                       const meter_client_options *o, mtr_logger *log, meter_error *err)
{
  if (o->settings_count && !o->settings)
    return mtr_error_set(err, METER_EINVAL, "settings_count is %zu but settings is NULL",
                         o->settings_count);
  cfg->items = mtr_calloc(o->settings_count ? o->settings_count : 1, sizeof *cfg->items);
  if (!cfg->items)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  for (size_t i = 0; i < o->settings_count; i++) {
    const meter_setting *s = &o->settings[i];
    if (!s->name || !*s->name)
      return mtr_error_set(err, METER_ECONFIG, "setting %zu has no name", i + 1);
    const mtr_setting_spec *spec = find_spec(ops, s->name);
    if (!spec) {
      mtr_buf known = MTR_BUF_INIT;
      for (const mtr_setting_spec *k = ops->settings; k && k->name; k++)
        mtr_buf_printf(&known, "%s%s", known.len ? ", " : "", k->name);
      mtr_error_set(err, METER_ECONFIG, "unknown setting '%s' for back end '%s' (known: %s)",
                    s->name, ops->name, mtr_buf_cstr(&known));
      mtr_buf_dispose(&known);
      return METER_ECONFIG;
    }
    if (!s->value)
      continue; /* NULL value: same as not given */
    if (mtr_has_ctl(s->value, strlen(s->value)))
      return mtr_error_set(err, METER_ECONFIG, "setting '%s': control characters are not allowed",
                           s->name);
    /* A later duplicate replaces an earlier one. */
    size_t slot = cfg->count;
    for (size_t k = 0; k < cfg->count; k++)
      if (strcmp(cfg->items[k].name, s->name) == 0)
        slot = k;
    char *value = mtr_strdup(s->value);
    char *name = slot == cfg->count ? mtr_strdup(s->name) : NULL;
    if (!value || (slot == cfg->count && !name)) {
      mtr_free(name);
      mtr_free_secret_str(value);
      return mtr_error_set(err, METER_ENOMEM, "out of memory");
    }
    if (slot == cfg->count) {
      cfg->items[slot].name = name;
      cfg->count++;
    } else {
      mtr_free_secret_str((char *)cfg->items[slot].value);
    }
    cfg->items[slot].value = value;
    if (spec->flags & MTR_SETTING_SECRET)
      mtr_logger_add_secret(log, value);
  }
  for (const mtr_setting_spec *s = ops->settings; s && s->name; s++)
    if ((s->flags & MTR_SETTING_REQUIRED) && !mtr_config_get(cfg, s->name))
      return mtr_error_set(err, METER_ECONFIG, "back end '%s' needs the setting '%s' (%s)",
                           ops->name, s->name, s->help);
  if (o->endpoint) {
    if (strncmp(o->endpoint, "http://", 7) != 0 && strncmp(o->endpoint, "https://", 8) != 0)
      return mtr_error_set(err, METER_ECONFIG,
                           "endpoint '%.100s' must start with http:// or https://", o->endpoint);
    if (!(cfg->endpoint = mtr_strdup(o->endpoint)))
      return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  return METER_OK;
}

int mtr_client_new_with(meter_client **out, const meter_client_options *o,
                        const mtr_client_seams *seams, meter_error *err)
{
  meter_error local;
  if (!err)
    err = &local;
  mtr_error_clear(err);
  if (!out)
    return mtr_error_set(err, METER_EINVAL, "out is NULL");
  *out = NULL;
  if (!o)
    return mtr_error_set(err, METER_EINVAL, "options are NULL");
  if (o->version != METER_CLIENT_OPTIONS_VERSION)
    return mtr_error_set(err, METER_EVERSION,
                         "options version %u is not supported (this library knows %d)",
                         o->version, METER_CLIENT_OPTIONS_VERSION);

  const mtr_backend_ops *ops = seams && seams->backend_ops ? seams->backend_ops
                                                           : mtr_backend_find(o->backend);
  if (!ops)
    return mtr_error_set(err, METER_ECONFIG, "unknown back end '%.40s' (known: %s)",
                         o->backend ? o->backend : "(none)", mtr_backend_names());

  meter_client *c = mtr_calloc(1, sizeof *c);
  if (!c)
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  c->ops = ops;
  mtr_mutex_init(&c->err_lock);
  mtr_logger_init(&c->log, o->log, o->log_payload, (int)o->log_level);
  mtr_budget_init(&c->budget, o->retry_budget == 0 ? MTR_BUDGET_CAPACITY
                              : o->retry_budget < 0 ? 0 : o->retry_budget);

  int rc = copy_config(&c->cfg, ops, o, &c->log, err);
  if (rc != METER_OK)
    goto fail;

  mtr_buf ua = MTR_BUF_INIT;
  mtr_buf_printf(&ua, "libmeter/%s", METER_VERSION);
  if (o->user_agent_suffix) {
    if (mtr_has_ctl(o->user_agent_suffix, strlen(o->user_agent_suffix))) {
      mtr_buf_dispose(&ua);
      rc = mtr_error_set(err, METER_ECONFIG, "user_agent_suffix: control characters are not allowed");
      goto fail;
    }
    mtr_buf_printf(&ua, " %s", o->user_agent_suffix);
  }
  if (mtr_buf_status(&ua)) {
    mtr_buf_dispose(&ua);
    rc = mtr_error_set(err, METER_ENOMEM, "out of memory");
    goto fail;
  }
  c->user_agent = mtr_buf_detach(&ua);

  mtr_transport_options topts = {
    .connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000,
    .request_timeout_ms = o->request_timeout_ms > 0 ? o->request_timeout_ms : 30000,
    .insecure_skip_verify = o->insecure_skip_verify,
    .ca_bundle = o->ca_bundle,
    .user_agent = c->user_agent,
    .max_response_bytes = o->max_response_bytes ? o->max_response_bytes : 4u << 20,
  };
  if (o->insecure_skip_verify)
    MTR_WARN(&c->log, "TLS certificate verification is DISABLED for this client "
                      "(insecure_skip_verify): use only against a local sandbox");
  if (seams && seams->transport) {
    c->transport = seams->transport;
  } else {
    rc = mtr_curl_transport_new(&c->transport, &topts);
    if (rc != METER_OK) {
      mtr_error_set(err, rc, "could not create the HTTP transport");
      goto fail;
    }
    c->own_transport = 1;
  }

  c->env.transport = c->transport;
  c->env.hooks = seams && seams->hooks ? seams->hooks : mtr_hooks_default();
  c->env.log = &c->log;
  c->env.budget = &c->budget;
  c->env.request_timeout_ms = topts.request_timeout_ms;
  mtr_retry_policy_default(&c->env.policy);
  if (o->max_attempts)
    c->env.policy.max_attempts = o->max_attempts;
  if (o->backoff_base_ms > 0)
    c->env.policy.base_us = (int64_t)o->backoff_base_ms * 1000;
  if (o->backoff_max_ms > 0)
    c->env.policy.max_backoff_us = (int64_t)o->backoff_max_ms * 1000;
  if (o->deadline_ms > 0)
    c->env.policy.deadline_us = (int64_t)o->deadline_ms * 1000;
  if (c->env.policy.throttle_base_us < c->env.policy.base_us)
    c->env.policy.throttle_base_us = c->env.policy.base_us;

  rc = ops->create(&c->backend, &c->env, &c->log, &c->cfg, err);
  if (rc != METER_OK)
    goto fail;
  c->backend->ops = ops;
  c->backend->env = &c->env;
  c->backend->log = &c->log;
  *out = c;
  return METER_OK;

fail:
  if (err->status == METER_OK)
    mtr_error_set(err, rc, "%s", meter_strerror(rc));
  meter_client_free(c);
  return rc;
}

int meter_client_new(meter_client **out, const meter_client_options *opts, meter_error *err)
{
  return mtr_client_new_with(out, opts, NULL, err);
}

void meter_client_free(meter_client *c)
{
  if (!c)
    return;
  if (c->backend)
    c->ops->destroy(c->backend);
  if (c->own_transport && c->transport)
    c->transport->destroy(c->transport);
  free_config(&c->cfg);
  mtr_free(c->user_agent);
  mtr_budget_dispose(&c->budget);
  mtr_logger_dispose(&c->log);
  mtr_mutex_destroy(&c->err_lock);
  mtr_free(c);
}

const char *meter_client_backend(const meter_client *c)
{
  return c ? c->ops->name : NULL;
}

int mtr_client_fail(meter_client *c, const meter_error *err)
{
  mtr_mutex_lock(&c->err_lock);
  mtr_error_copy(&c->last_error, err);
  /* The message may quote a marketplace answer that echoes a secret. */
  mtr_logger_scrub(&c->log, c->last_error.message, sizeof c->last_error.message);
  mtr_mutex_unlock(&c->err_lock);
  return err->status;
}

int mtr_client_failf(meter_client *c, int status, const char *fmt, ...)
{
  meter_error e;
  va_list ap;
  va_start(ap, fmt);
  e.status = status;
  vsnprintf(e.message, sizeof e.message, fmt, ap);
  va_end(ap);
  return mtr_client_fail(c, &e);
}

int meter_client_last_error(meter_client *c, char *buf, size_t size)
{
  if (!c)
    return METER_EINVAL;
  mtr_mutex_lock(&c->err_lock);
  int st = c->last_error.status;
  if (buf && size)
    mtr_strlcpy(buf, c->last_error.message, size);
  mtr_mutex_unlock(&c->err_lock);
  return st;
}

mtr_backend *mtr_client_backend_as(meter_client *c, const char *name, const char *function)
{
  if (!c)
    return NULL;
  if (strcmp(c->ops->name, name) != 0) {
    mtr_client_failf(c, METER_EUNSUPPORTED, "%s needs the %s back end; this client uses %s",
                     function, name, c->ops->name);
    return NULL;
  }
  return c->backend;
}
