#include "backend.h"

#include "core/str.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* The registry, generated from the folders of src/backends (see
 * src/CMakeLists.txt): METER_BUILTIN_BACKENDS(X) lists X(mtr_<name>_backend). */
#include "builtin_backends.h"

#define DECLARE(ops) extern const mtr_backend_ops ops;
METER_BUILTIN_BACKENDS(DECLARE)

static const mtr_backend_ops *const builtin[] = {
#define ENTRY(ops) &ops,
  METER_BUILTIN_BACKENDS(ENTRY) NULL
};

const mtr_backend_ops *mtr_backend_find(const char *name)
{
  if (!name)
    return NULL;
  for (size_t i = 0; builtin[i]; i++)
    if (strcmp(builtin[i]->name, name) == 0)
      return builtin[i];
  return NULL;
}

static char names[128];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void build_names(void)
{
  size_t o = 0;
  for (size_t i = 0; builtin[i] && o < sizeof names; i++)
    o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", builtin[i]->name);
}

const char *mtr_backend_names(void)
{
  pthread_once(&names_once, build_names);
  return names[0] ? names : "(none built in)";
}

const char *mtr_config_get(const mtr_config *cfg, const char *name)
{
  for (size_t i = 0; i < cfg->count; i++)
    if (strcmp(cfg->items[i].name, name) == 0)
      return cfg->items[i].value;
  return NULL;
}

int mtr_config_bool(const mtr_config *cfg, const char *name, int dflt)
{
  const char *v = mtr_config_get(cfg, name);
  if (!v)
    return dflt;
  if (mtr_streq_nocase(v, "true") || strcmp(v, "1") == 0 || mtr_streq_nocase(v, "yes"))
    return 1;
  if (mtr_streq_nocase(v, "false") || strcmp(v, "0") == 0 || mtr_streq_nocase(v, "no"))
    return 0;
  return -1;
}

int mtr_invalid(mtr_result *res, meter_field field, const char *fmt, ...)
{
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *name = meter_field_name(field);
  mtr_result_set(res, METER_OUTCOME_INVALID, "invalid_record", "%s%s%s", name ? name : "",
                 name ? ": " : "", msg);
  mtr_result_str(&res->field, name);
  return METER_EINVAL;
}

size_t meter_backend_count(void)
{
  return sizeof builtin / sizeof builtin[0] - 1;
}

const char *meter_backend_name(size_t index)
{
  return index < meter_backend_count() ? builtin[index]->name : NULL;
}

int meter_backend_setting(const char *backend, size_t index, const char **name,
                          unsigned int *flags, const char **help)
{
  const mtr_backend_ops *ops = mtr_backend_find(backend);
  if (!ops || !ops->settings)
    return METER_ENOTFOUND;
  for (size_t i = 0; ops->settings[i].name; i++) {
    if (i == index) {
      if (name)
        *name = ops->settings[i].name;
      if (flags)
        *flags = ops->settings[i].flags;
      if (help)
        *help = ops->settings[i].help;
      return METER_OK;
    }
  }
  return METER_ENOTFOUND;
}
