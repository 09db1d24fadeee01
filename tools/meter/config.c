/* Where the client's configuration comes from: a flag, else the environment,
 * else the config file. The command checks the settings it knows before
 * asking the library, so that a missing one is named together with the flag,
 * the variable and the config key that supply it. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const cli_setting cli_settings[] = {
  { "tackle", "client_id", "client-id", "TACKLE_CLIENT_ID", 0,
    "M2M client id from the Tackle Platform" },
  { "tackle", "client_secret", "client-secret", "TACKLE_CLIENT_SECRET", CLI_SET_SECRET,
    "M2M client secret" },
  { "tackle", "access_token", "access-token", "TACKLE_ACCESS_TOKEN", CLI_SET_SECRET,
    "a bearer token to use instead of client id and secret" },
  { "tackle", "method", NULL, "TACKLE_METHOD", 0,
    "put (create or update, the default) or post (always create)" },
  { "tackle", "allow_zero", "allow-zero", "TACKLE_ALLOW_ZERO", CLI_SET_BOOL,
    "send zero quantities (default false)" },

  { "appdirect", "base_url", "base-url", "APPDIRECT_BASE_URL", 0,
    "the marketplace base URL, e.g. https://marketplace.example.com" },
  { "appdirect", "client_id", "client-id", "APPDIRECT_CLIENT_ID", 0,
    "OAuth 2.0 client id" },
  { "appdirect", "client_secret", "client-secret", "APPDIRECT_CLIENT_SECRET", CLI_SET_SECRET,
    "OAuth 2.0 client secret" },
  { "appdirect", "scope", "scope", "APPDIRECT_SCOPE", 0,
    "OAuth scope: ROLE_APPLICATION (default) or ROLE_PARTNER (default with a subscription or "
    "vendor id)" },
  { "appdirect", "billable", "billable", "APPDIRECT_BILLABLE", CLI_SET_BOOL,
    "true: billable usage (default); false: estimated" },
  { "appdirect", "request_group_id", "request-group-id", "APPDIRECT_REQUEST_GROUP_ID", 0,
    "a label grouping requests in AppDirect's UI" },
  { "appdirect", "subscription_id", NULL, "APPDIRECT_SUBSCRIPTION_ID", 0,
    "subscription id, for partner credentials" },
  { "appdirect", "vendor_id", "vendor-id", "APPDIRECT_VENDOR_ID", 0,
    "vendor id, for partner credentials" },

  { "aws", "region", "region", "AWS_REGION", CLI_SET_LIB_ENV,
    "AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile)" },
  { "aws", "access_key_id", "access-key-id", "AWS_ACCESS_KEY_ID",
    CLI_SET_LIB_ENV | CLI_SET_AWS_CREDS, "access key id (else the default credential chain)" },
  { "aws", "secret_access_key", "secret-access-key", "AWS_SECRET_ACCESS_KEY",
    CLI_SET_SECRET | CLI_SET_LIB_ENV | CLI_SET_AWS_CREDS, "secret access key" },
  { "aws", "session_token", "session-token", "AWS_SESSION_TOKEN",
    CLI_SET_SECRET | CLI_SET_LIB_ENV | CLI_SET_AWS_CREDS, "session token of temporary credentials" },
  { "aws", "profile", "profile", "AWS_PROFILE", CLI_SET_LIB_ENV | CLI_SET_AWS_CREDS,
    "profile of ~/.aws/config and ~/.aws/credentials" },
  { "aws", "product_code", "product-code", NULL, 0,
    "product code used when a record has no --product" },
  { "aws", "use_fips", "use-fips", NULL, CLI_SET_BOOL, "use the FIPS endpoint" },
  { "aws", "use_dualstack", "use-dualstack", NULL, CLI_SET_BOOL, "use the dual-stack endpoint" },
  { "aws", "meter_window_hours", "meter-window-hours", NULL, 0,
    "MeterUsage accepts usage this many hours old (default 6)" },
  { "aws", "batch_window_hours", "batch-window-hours", NULL, 0,
    "BatchMeterUsage accepts usage this many hours old (default 24)" },
  { "aws", "month_end_grace_hours", "month-end-grace-hours", NULL, 0,
    "BatchMeterUsage takes last month's usage this many hours into a month (default 6)" },
  { NULL, NULL, NULL, NULL, 0, NULL }
};

/* Settings a back end cannot work without, and what may stand in for them. */
typedef struct requirement {
  const char *backend;
  const char *name;
  const char *instead;   /* a setting that replaces it, "@endpoint", or NULL */
} requirement;

static const requirement requirements[] = {
  { "tackle", "client_id", "access_token" },
  { "tackle", "client_secret", "access_token" },
  { "appdirect", "base_url", "@endpoint" },
  { "appdirect", "client_id", NULL },
  { "appdirect", "client_secret", NULL },
  { NULL, NULL, NULL }
};

/* Keys of the [meter] section (client options for every back end). */
static const char *const meter_keys[] = {
  "backend", "endpoint", "max_attempts", "deadline_ms", "timeout_ms", "connect_timeout_ms",
  "backoff_base_ms", "backoff_max_ms", "retry_budget", "ca_bundle", NULL
};

const cli_setting *cli_setting_by_flag(const char *flag)
{
  for (const cli_setting *s = cli_settings; s->name; s++)
    if (s->flag && strcmp(s->flag, flag) == 0)
      return s;
  return NULL;
}

const cli_setting *cli_setting_find(const char *backend, const char *name)
{
  for (const cli_setting *s = cli_settings; s->name; s++)
    if (strcmp(s->backend, backend) == 0 && strcmp(s->name, name) == 0)
      return s;
  return NULL;
}

int cli_backend_known(const char *backend)
{
  for (const cli_setting *s = cli_settings; s->name; s++)
    if (strcmp(s->backend, backend) == 0)
      return 1;
  return 0;
}

/* ---- the config file ---------------------------------------------------- */

typedef struct conf_entry {
  char *section, *key, *value;
  int line;
} conf_entry;

static struct {
  int loaded;
  char path[1024];
  int exists;
  conf_entry *items;
  size_t count;
} conf;

static char *trim(char *s)
{
  while (isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1]))
    s[--n] = '\0';
  return s;
}

static int looks_secret(const char *section, const char *key)
{
  const cli_setting *s = cli_setting_find(section, key);
  if (s)
    return (s->flags & CLI_SET_SECRET) != 0;
  return strstr(key, "secret") || strstr(key, "token") || strstr(key, "password");
}

static void conf_free(void)
{
  for (size_t i = 0; i < conf.count; i++) {
    free(conf.items[i].section);
    free(conf.items[i].key);
    if (conf.items[i].value) {
      /* Values may be secrets: wipe before freeing. */
      volatile char *v = conf.items[i].value;
      while (*v)
        *v++ = 0;
      free(conf.items[i].value);
    }
  }
  free(conf.items);
  conf.items = NULL;
  conf.count = 0;
}

static int conf_parse(FILE *f)
{
  char line[4096];
  char section[64] = "";
  int lineno = 0;
  size_t cap = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    size_t len = strlen(line);
    if (len == sizeof line - 1 && line[len - 1] != '\n')
      return cli_fail(CLI_EXIT_CONFIG, "%s:%d: line longer than %zu bytes", conf.path, lineno,
                      sizeof line - 2);
    char *s = trim(line);
    if (!*s || *s == '#' || *s == ';')
      continue;
    if (*s == '[') {
      char *end = strchr(s, ']');
      if (!end || end[1] || end - s - 1 <= 0 || (size_t)(end - s - 1) >= sizeof section)
        return cli_fail(CLI_EXIT_CONFIG, "%s:%d: expected [section]", conf.path, lineno);
      *end = '\0';
      snprintf(section, sizeof section, "%s", trim(s + 1));
      continue;
    }
    char *eq = strchr(s, '=');
    if (!eq)
      return cli_fail(CLI_EXIT_CONFIG, "%s:%d: expected key = value or [section]", conf.path,
                      lineno);
    if (!section[0])
      return cli_fail(CLI_EXIT_CONFIG, "%s:%d: key before any [section] (use [meter], "
                      "[tackle], [appdirect] or [aws])", conf.path, lineno);
    *eq = '\0';
    char *key = trim(s), *value = trim(eq + 1);
    size_t vlen = strlen(value);
    if (vlen >= 2 && (value[0] == '"' || value[0] == '\'') && value[vlen - 1] == value[0]) {
      value[vlen - 1] = '\0';
      value++;
    }
    if (!*key)
      return cli_fail(CLI_EXIT_CONFIG, "%s:%d: empty key", conf.path, lineno);
    if (conf.count == cap) {
      cap = cap ? cap * 2 : 16;
      conf_entry *grown = realloc(conf.items, cap * sizeof *grown);
      if (!grown)
        return cli_fail(CLI_EXIT_INTERNAL, "out of memory");
      conf.items = grown;
    }
    conf_entry *e = &conf.items[conf.count++];
    e->section = strdup(section);
    e->key = strdup(key);
    e->value = strdup(value);
    e->line = lineno;
    if (!e->section || !e->key || !e->value)
      return cli_fail(CLI_EXIT_INTERNAL, "out of memory");
  }
  return 0;
}

int cli_config_load(const cli_opts *o)
{
  if (conf.loaded)
    return 0;
  conf.loaded = 1;
  atexit(conf_free);
  const char *given = o->config_path;
  if (!given || !*given)
    given = getenv("METER_CONFIG");
  if (given && *given) {
    snprintf(conf.path, sizeof conf.path, "%s", given);
  } else {
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
      snprintf(conf.path, sizeof conf.path, "%s/meter/config", xdg);
    else if (home && *home)
      snprintf(conf.path, sizeof conf.path, "%s/.config/meter/config", home);
    else
      return 0;
  }
  FILE *f = fopen(conf.path, "r");
  if (!f) {
    if (given && *given)
      return cli_fail(CLI_EXIT_CONFIG, "cannot read config file %s: %s", conf.path,
                      strerror(errno));
    return 0; /* the default file is optional */
  }
  conf.exists = 1;
  struct stat st;
  int rc = conf_parse(f);
  if (rc == 0 && fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO))) {
    for (size_t i = 0; i < conf.count; i++)
      if (conf.items[i].value[0] && looks_secret(conf.items[i].section, conf.items[i].key)) {
        cli_msg("warning: %s holds secrets (%s in [%s]) but is readable by group or others; "
                "run: chmod 600 %s", conf.path, conf.items[i].key, conf.items[i].section,
                conf.path);
        break;
      }
  }
  fclose(f);
  if (rc == 0)
    for (size_t i = 0; i < conf.count; i++) {
      if (strcmp(conf.items[i].section, "meter") != 0)
        continue;
      int known = 0;
      for (size_t k = 0; meter_keys[k]; k++)
        known |= strcmp(meter_keys[k], conf.items[i].key) == 0;
      if (!known)
        return cli_fail(CLI_EXIT_CONFIG, "%s:%d: unknown key '%s' in [meter] (known: backend, "
                        "endpoint, max_attempts, deadline_ms, timeout_ms, connect_timeout_ms, "
                        "backoff_base_ms, backoff_max_ms, retry_budget, ca_bundle)", conf.path,
                        conf.items[i].line, conf.items[i].key);
    }
  return rc;
}

static const conf_entry *conf_find(const char *section, const char *key)
{
  const conf_entry *found = NULL;
  for (size_t i = 0; i < conf.count; i++)
    if (strcmp(conf.items[i].section, section) == 0 && strcmp(conf.items[i].key, key) == 0)
      found = &conf.items[i]; /* the last one wins */
  return found;
}

const char *cli_config_get(const char *section, const char *key)
{
  const conf_entry *e = conf_find(section, key);
  return e ? e->value : NULL;
}

static const char *env_value(const char *name)
{
  const char *v = name ? getenv(name) : NULL;
  return v && *v ? v : NULL;
}

const char *cli_resolve_backend(const cli_opts *o)
{
  if (o->backend && *o->backend)
    return o->backend;
  const char *v = env_value("METER_BACKEND");
  if (v)
    return v;
  return cli_config_get("meter", "backend");
}

/* ---- logging ------------------------------------------------------------ */

#define MAX_SECRETS 16

static struct {
  const char *secrets[MAX_SECRETS];
  size_t nsecrets;
} logctx;

/* The library already redacts what it knows to be secret; scrubbing the
 * values this command handed it once more costs nothing. */
static void on_log(meter_log_level level, const char *message, void *payload)
{
  (void)payload;
  static const char *const names[] = { "", "error", "warn", "info", "debug" };
  char line[2048];
  snprintf(line, sizeof line, "%s", message);
  for (size_t i = 0; i < logctx.nsecrets; i++) {
    size_t n = strlen(logctx.secrets[i]);
    char *p;
    while (n >= 4 && (p = strstr(line, logctx.secrets[i])) != NULL) {
      memmove(p + 3, p + n, strlen(p + n) + 1);
      memcpy(p, "***", 3);
    }
  }
  fprintf(stderr, "meter: [%s] %s\n", level >= 1 && level <= 4 ? names[level] : "log", line);
}

/* ---- the client --------------------------------------------------------- */

static int need_message(const char *backend, const requirement *rq)
{
  const cli_setting *s = cli_setting_find(backend, rq->name);
  char how[256] = "";
  if (s->flag && s->env)
    snprintf(how, sizeof how, "pass --%s or set %s", s->flag, s->env);
  else if (s->env)
    snprintf(how, sizeof how, "set %s (or --set %s=...)", s->env, s->name);
  else
    snprintf(how, sizeof how, "pass --%s", s->flag);
  char alt[160] = "";
  if (rq->instead && strcmp(rq->instead, "@endpoint") == 0) {
    snprintf(alt, sizeof alt, " (or --endpoint / METER_ENDPOINT)");
  } else if (rq->instead) {
    const cli_setting *i = cli_setting_find(backend, rq->instead);
    snprintf(alt, sizeof alt, " (or %s / --%s)", i->env, i->flag);
  }
  return cli_fail(CLI_EXIT_CONFIG, "%s needs %s: %s%s, or put %s = ... in the [%s] section "
                  "of %s", backend, rq->name, how, alt, rq->name, backend,
                  conf.path[0] ? conf.path : "~/.config/meter/config");
}

/* A client option: the flag's value if given (non-zero), else [meter]. */
static int knob(long flag_value, const char *key, long min, long max, long *out)
{
  *out = flag_value;
  if (flag_value)
    return 0;
  const conf_entry *e = conf_find("meter", key);
  if (!e)
    return 0;
  char *end;
  errno = 0;
  long v = strtol(e->value, &end, 10);
  if (errno || end == e->value || *end || v < min || v > max)
    return cli_fail(CLI_EXIT_CONFIG, "%s:%d: %s must be a whole number from %ld to %ld",
                    conf.path, e->line, key, min, max);
  *out = v;
  return 0;
}

typedef struct resolved {
  const char *name;
  const char *value;
  const char *source;
  int rank;              /* 3 flag, 2 environment, 1 config file */
} resolved;

/* Settings that replace one another: the way given by the higher-ranked
 * source wins, so TACKLE_ACCESS_TOKEN in the environment does not clash
 * with --client-id/--client-secret on the command line. */
static const struct {
  const char *backend;
  const char *one;       /* a setting ... */
  const char *other[3];  /* ... or these */
} alternatives[] = {
  { "tackle", "access_token", { "client_id", "client_secret", NULL } },
};

static int is_in(const char *name, const char *const *list)
{
  for (; *list; list++)
    if (strcmp(name, *list) == 0)
      return 1;
  return 0;
}

static size_t drop_outranked(const char *backend, resolved *res, size_t n)
{
  for (size_t a = 0; a < sizeof alternatives / sizeof alternatives[0]; a++) {
    if (strcmp(alternatives[a].backend, backend) != 0)
      continue;
    int one = 0, other = 0;
    for (size_t k = 0; k < n; k++) {
      if (strcmp(res[k].name, alternatives[a].one) == 0 && res[k].rank > one)
        one = res[k].rank;
      if (is_in(res[k].name, alternatives[a].other) && res[k].rank > other)
        other = res[k].rank;
    }
    if (!one || !other || one == other)
      continue; /* both from the same place: the library says it is ambiguous */
    size_t w = 0;
    for (size_t k = 0; k < n; k++) {
      int is_one = strcmp(res[k].name, alternatives[a].one) == 0;
      int is_other = is_in(res[k].name, alternatives[a].other);
      if ((is_one && one < other) || (is_other && other < one))
        continue;
      res[w++] = res[k];
    }
    n = w;
  }
  return n;
}

static int aws_creds_in_env(void)
{
  return env_value("AWS_ACCESS_KEY_ID") || env_value("AWS_PROFILE") ||
         env_value("AWS_SESSION_TOKEN") || env_value("AWS_SECRET_ACCESS_KEY");
}

static int already(const resolved *res, size_t n, const char *name)
{
  for (size_t k = 0; k < n; k++)
    if (strcmp(res[k].name, name) == 0)
      return 1;
  return 0;
}

/* Flags (and --set) first: each must be a setting of this back end. */
static int from_flags(const cli_opts *o, const char *backend, int known, resolved *res,
                      size_t *n)
{
  for (size_t i = 0; i < o->nsettings; i++) {
    if (known && !cli_setting_find(backend, o->settings[i].key)) {
      const cli_setting *any = NULL;
      for (const cli_setting *k = cli_settings; k->name && !any; k++)
        if (strcmp(k->name, o->settings[i].key) == 0)
          any = k;
      return cli_fail(CLI_EXIT_USAGE, "'%s' is not a setting of the %s back end%s%s%s",
                      o->settings[i].key, backend, any ? " (it belongs to " : "",
                      any ? any->backend : "", any ? ")" : "");
    }
    res[(*n)++] = (resolved){ o->settings[i].key, o->settings[i].value, "the command line", 3 };
  }
  return 0;
}

/* Then the environment, then the file, for the settings the command knows. */
static void from_env_and_file(const char *backend, resolved *res, size_t *n)
{
  for (const cli_setting *s = cli_settings; s->name; s++) {
    if (strcmp(s->backend, backend) != 0 || already(res, *n, s->name))
      continue;
    if (s->flags & CLI_SET_LIB_ENV) {
      /* The library reads these variables itself; a set one outranks the file. */
      if (env_value(s->env) ||
          (strcmp(s->name, "region") == 0 && env_value("AWS_DEFAULT_REGION")) ||
          ((s->flags & CLI_SET_AWS_CREDS) && aws_creds_in_env()))
        continue;
    } else if (env_value(s->env)) {
      res[(*n)++] = (resolved){ s->name, env_value(s->env), s->env, 2 };
      continue;
    }
    const conf_entry *e = conf_find(backend, s->name);
    if (e)
      res[(*n)++] = (resolved){ s->name, e->value, conf.path, 1 };
  }
}

/* File keys the command does not know: refused for the back ends it knows,
 * passed on for the others (the library judges them). */
static int unknown_file_keys(const char *backend, int known, resolved *res, size_t *n)
{
  for (size_t i = 0; i < conf.count; i++) {
    const conf_entry *e = &conf.items[i];
    if (strcmp(e->section, backend) != 0 || strcmp(e->key, "endpoint") == 0 ||
        cli_setting_find(backend, e->key))
      continue;
    if (known) {
      char list[512] = "";
      for (const cli_setting *s = cli_settings; s->name; s++)
        if (strcmp(s->backend, backend) == 0)
          snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? ", " : "",
                   s->name);
      return cli_fail(CLI_EXIT_CONFIG, "%s:%d: unknown key '%s' in [%s] (known: endpoint, %s)",
                      conf.path, e->line, e->key, backend, list);
    }
    if (!already(res, *n, e->key))
      res[(*n)++] = (resolved){ e->key, e->value, conf.path, 1 };
  }
  return 0;
}

static const char *resolve_endpoint(const cli_opts *o, const char *backend)
{
  const char *endpoint = o->endpoint && *o->endpoint ? o->endpoint : env_value("METER_ENDPOINT");
  if (!endpoint)
    endpoint = cli_config_get(backend, "endpoint");
  if (!endpoint)
    endpoint = cli_config_get("meter", "endpoint");
  return endpoint;
}

/* Required settings, named with every way to supply them. */
static int check_requirements(const char *backend, const resolved *res, size_t n,
                              const char *endpoint)
{
  for (const requirement *rq = requirements; rq->backend; rq++) {
    if (strcmp(rq->backend, backend) != 0)
      continue;
    int have = 0, have_instead = 0;
    for (size_t k = 0; k < n; k++) {
      have |= strcmp(res[k].name, rq->name) == 0 && res[k].value[0];
      have_instead |= rq->instead && strcmp(res[k].name, rq->instead) == 0 && res[k].value[0];
    }
    if (rq->instead && strcmp(rq->instead, "@endpoint") == 0)
      have_instead = endpoint != NULL;
    if (!have && !have_instead)
      return need_message(backend, rq);
  }
  return 0;
}

/* Retries, timeouts: flags, else the [meter] section. */
static int client_knobs(const cli_opts *o, meter_client_options *opts)
{
  long v;
  int rc;
  if ((rc = knob(o->max_attempts, "max_attempts", 0, 100, &v)) != 0)
    return rc;
  opts->max_attempts = (unsigned)v;
  if ((rc = knob(o->deadline_ms, "deadline_ms", 0, 86400000L, &v)) != 0)
    return rc;
  opts->deadline_ms = v;
  if ((rc = knob(o->request_timeout_ms, "timeout_ms", 0, 86400000L, &v)) != 0)
    return rc;
  opts->request_timeout_ms = v;
  if ((rc = knob(o->connect_timeout_ms, "connect_timeout_ms", 0, 86400000L, &v)) != 0)
    return rc;
  opts->connect_timeout_ms = v;
  if ((rc = knob(o->backoff_base_ms, "backoff_base_ms", 0, 3600000L, &v)) != 0)
    return rc;
  opts->backoff_base_ms = v;
  if ((rc = knob(o->backoff_max_ms, "backoff_max_ms", 0, 3600000L, &v)) != 0)
    return rc;
  opts->backoff_max_ms = v;
  /* The budget: 0 (or -1) turns it off; absent keeps the library's. */
  if (o->has_retry_budget) {
    opts->retry_budget = o->retry_budget <= 0 ? -1 : (int)o->retry_budget;
  } else if (conf_find("meter", "retry_budget")) {
    if ((rc = knob(0, "retry_budget", -1, 1000000L, &v)) != 0)
      return rc;
    opts->retry_budget = v <= 0 ? -1 : (int)v;
  }
  return 0;
}

/* meter_client_new, with the flag and variable of every setting its error
 * message names. */
static int create(const meter_client_options *opts, const char *backend, int known,
                  meter_client **out)
{
  meter_error err;
  int st = meter_client_new(out, opts, &err);
  if (st == METER_OK)
    return 0;
  char hint[512] = "";
  for (const cli_setting *s = cli_settings; s->name; s++) {
    char quoted[80];
    snprintf(quoted, sizeof quoted, "'%s'", s->name);
    if (strcmp(s->backend, backend) != 0 || !strstr(err.message, quoted))
      continue;
    snprintf(hint + strlen(hint), sizeof hint - strlen(hint), "%s%s: %s%s%s%s",
             hint[0] ? "; " : " (", s->name, s->flag ? "--" : "", s->flag ? s->flag : "",
             s->flag && s->env ? " or " : "", s->env ? s->env : "");
  }
  if (hint[0])
    snprintf(hint + strlen(hint), sizeof hint - strlen(hint), ")");
  int code = cli_exit_for_status(st);
  if (!known && st == METER_ECONFIG)
    code = CLI_EXIT_USAGE; /* most likely an unknown --backend */
  *out = NULL;
  return cli_fail(code, "%s%s", err.message, hint);
}

int cli_client_new(cli_opts *o, meter_client **out)
{
  *out = NULL;
  int rc = cli_config_load(o);
  if (rc)
    return rc;
  const char *backend = cli_resolve_backend(o);
  if (!backend)
    return cli_fail(CLI_EXIT_USAGE, "meter %s needs a back end: pass --backend tackle|appdirect|"
                    "aws, set METER_BACKEND, or put backend = ... in the [meter] section of %s",
                    o->command, conf.path[0] ? conf.path : "~/.config/meter/config");
  int known = cli_backend_known(backend);

  /* At most: every flag setting, every table entry, every file key. */
  size_t cap = o->nsettings + conf.count + sizeof cli_settings / sizeof cli_settings[0] + 1;
  resolved *res = calloc(cap, sizeof *res);
  meter_setting *settings = calloc(cap, sizeof *settings);
  if (!res || !settings) {
    free(res);
    free(settings);
    return cli_fail(CLI_EXIT_INTERNAL, "out of memory");
  }
  size_t n = 0;
  const char *endpoint = resolve_endpoint(o, backend);
  if ((rc = from_flags(o, backend, known, res, &n)) == 0) {
    from_env_and_file(backend, res, &n);
    rc = unknown_file_keys(backend, known, res, &n);
  }
  if (rc == 0) {
    n = drop_outranked(backend, res, n);
    rc = check_requirements(backend, res, n, endpoint);
  }

  meter_client_options opts = METER_CLIENT_OPTIONS_INIT;
  if (rc == 0)
    rc = client_knobs(o, &opts);
  if (rc == 0) {
    logctx.nsecrets = 0;
    for (size_t k = 0; k < n; k++) {
      const cli_setting *s = cli_setting_find(backend, res[k].name);
      settings[k] = (meter_setting){ res[k].name, res[k].value };
      if (((s && (s->flags & CLI_SET_SECRET)) || (!s && looks_secret(backend, res[k].name))) &&
          logctx.nsecrets < MAX_SECRETS)
        logctx.secrets[logctx.nsecrets++] = res[k].value;
      /* Names and sources only: values may be secrets. */
      cli_verbose(o, 1, "%s setting %s from %s", backend, res[k].name, res[k].source);
    }
    if (endpoint)
      cli_verbose(o, 1, "endpoint %s", endpoint);
    opts.backend = backend;
    opts.endpoint = endpoint;
    opts.settings = settings;
    opts.settings_count = n;
    opts.log = on_log;
    opts.log_level = o->verbose >= 2 ? METER_LOG_DEBUG
                     : o->verbose == 1 ? METER_LOG_INFO : METER_LOG_WARN;
    opts.insecure_skip_verify = o->insecure;
    opts.ca_bundle = o->ca_bundle ? o->ca_bundle : cli_config_get("meter", "ca_bundle");
    opts.user_agent_suffix = "meter-cli";
    rc = create(&opts, backend, known, out);
  }
  free(res);
  free(settings);
  return rc;
}

void cli_client_free(meter_client *client)
{
  meter_client_free(client);
}
