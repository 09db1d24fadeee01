/* Command-line parsing. Flags are long (--name value or --name=value) with a
 * few short ones (-h, -v, -f); everything else is positional. A flag a
 * command does not take is a usage error naming the command's --help. */
#include "args.h"

#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef enum { ARG_NONE, ARG_REQUIRED, ARG_OPTIONAL } arg_kind;

typedef enum {
  O_HELP, O_VERBOSE, O_JSON, O_CONFIG,
  O_BACKEND, O_ENDPOINT, O_SET, O_MAX_ATTEMPTS, O_DEADLINE, O_TIMEOUT, O_CONNECT_TIMEOUT,
  O_BACKOFF_BASE, O_BACKOFF_MAX, O_RETRY_BUDGET, O_CA_BUNDLE, O_INSECURE,
  O_ALLOCATION, O_ATTRIBUTE,
  O_FILE, O_CHUNK, O_PROGRESS, O_NO_PROGRESS,
  O_VALIDATE_ONLY,
  O_SPOOL, O_DELIVER, O_UNTIL_EMPTY,
  O_LIMIT, O_STATE, O_WAIT_MS, O_FLUSH_OPEN_HOURS, O_WAIT, O_POLL_TIMEOUT
} opt_id;

typedef struct cli_option {
  const char *name;
  char short_name;
  arg_kind arg;
  unsigned groups;
  opt_id id;
} cli_option;

static const cli_option options[] = {
  { "help", 'h', ARG_NONE, G_COMMON, O_HELP },
  { "verbose", 'v', ARG_NONE, G_COMMON, O_VERBOSE },
  { "json", 0, ARG_NONE, G_COMMON, O_JSON },
  { "config", 0, ARG_REQUIRED, G_COMMON, O_CONFIG },
  { "backend", 'b', ARG_REQUIRED, G_CLIENT, O_BACKEND },
  { "endpoint", 0, ARG_REQUIRED, G_CLIENT, O_ENDPOINT },
  { "set", 0, ARG_REQUIRED, G_CLIENT, O_SET },
  { "max-attempts", 0, ARG_REQUIRED, G_CLIENT, O_MAX_ATTEMPTS },
  { "deadline-ms", 0, ARG_REQUIRED, G_CLIENT, O_DEADLINE },
  { "timeout-ms", 0, ARG_REQUIRED, G_CLIENT, O_TIMEOUT },
  { "connect-timeout-ms", 0, ARG_REQUIRED, G_CLIENT, O_CONNECT_TIMEOUT },
  { "backoff-base-ms", 0, ARG_REQUIRED, G_CLIENT, O_BACKOFF_BASE },
  { "backoff-max-ms", 0, ARG_REQUIRED, G_CLIENT, O_BACKOFF_MAX },
  { "retry-budget", 0, ARG_REQUIRED, G_CLIENT, O_RETRY_BUDGET },
  { "ca-bundle", 0, ARG_REQUIRED, G_CLIENT, O_CA_BUNDLE },
  { "insecure", 0, ARG_NONE, G_CLIENT, O_INSECURE },
  { "allocation", 0, ARG_REQUIRED, G_RECORD, O_ALLOCATION },
  { "attribute", 0, ARG_REQUIRED, G_RECORD, O_ATTRIBUTE },
  { "file", 'f', ARG_REQUIRED, G_BATCH, O_FILE },
  { "chunk", 0, ARG_REQUIRED, G_BATCH, O_CHUNK },
  { "progress", 0, ARG_NONE, G_BATCH | G_SPOOL, O_PROGRESS },
  { "no-progress", 0, ARG_NONE, G_BATCH | G_SPOOL, O_NO_PROGRESS },
  { "validate-only", 0, ARG_NONE, G_SEND | G_BATCH, O_VALIDATE_ONLY },
  { "spool", 0, ARG_REQUIRED, G_SUBMIT | G_SPOOL, O_SPOOL },
  { "deliver", 0, ARG_NONE, G_SUBMIT, O_DELIVER },
  { "until-empty", 0, ARG_NONE, G_SPOOL, O_UNTIL_EMPTY },
  { "limit", 0, ARG_REQUIRED, G_LIST | G_SPOOL, O_LIMIT },
  { "state", 0, ARG_REQUIRED, G_SPOOL, O_STATE },
  { "wait-ms", 0, ARG_REQUIRED, G_SUBMIT | G_SPOOL, O_WAIT_MS },
  { "flush-open-hours", 0, ARG_NONE, G_SUBMIT | G_SPOOL, O_FLUSH_OPEN_HOURS },
  { "wait", 0, ARG_NONE, G_STATUS, O_WAIT },
  { "timeout-s", 0, ARG_REQUIRED, G_STATUS, O_POLL_TIMEOUT },
  { NULL, 0, ARG_NONE, 0, O_HELP }
};

/* List filters (Tackle list): flag name -> the value's key in o->filters. */
static const char *const list_filters[] = {
  "product", "customer", "dimension", "subscription-id", "start-after", "start-before",
  "scheduled-after", "scheduled-before", "quantity", "page-size", "page-token",
  "include-tests", "include-zeros", NULL
};

void cli_alloc_dispose(cli_alloc *a)
{
  for (size_t t = 0; t < a->ntags; t++) {
    free(a->keys[t]);
    free(a->values[t]);
  }
  free(a->keys);
  free(a->values);
  memset(a, 0, sizeof *a);
}

void cli_opts_free(cli_opts *o)
{
  for (size_t i = 0; i < o->nallocs; i++)
    cli_alloc_dispose(&o->allocs[i]);
  free(o->allocs);
  for (size_t i = 0; i < o->nattrs; i++)
    free((char *)o->attrs[i].key); /* key and value share one allocation */
  free(o->attrs);
  for (size_t i = 0; i < o->nsettings; i++)
    free((char *)o->settings[i].key);
  free(o->settings);
  free(o->filters);
  free(o->args);
  memset(o, 0, sizeof *o);
}

int cli_parse_long(const char *flag, const char *value, long max, int allow_minus_one,
                   long *out)
{
  char *end;
  errno = 0;
  long v = strtol(value, &end, 10);
  if (errno || end == value || *end || v > max || (v < 0 && !(allow_minus_one && v == -1)))
    return cli_fail(CLI_EXIT_USAGE, "%s: expected a whole number from %s to %ld, got \"%.40s\"",
                    flag, allow_minus_one ? "-1" : "0", max, value);
  *out = v;
  return 0;
}

int cli_parse_allocation(const char *spec, cli_alloc *out, char *err, size_t errsize)
{
  memset(out, 0, sizeof *out);
  const char *colon = strchr(spec, ':');
  size_t qlen = colon ? (size_t)(colon - spec) : strlen(spec);
  if (qlen == 0 || qlen > 18) {
    snprintf(err, errsize, "allocation \"%.40s\": expected QTY:key=value,... with QTY a whole "
             "number", spec);
    return -1;
  }
  int64_t q = 0;
  for (size_t i = 0; i < qlen; i++) {
    if (spec[i] < '0' || spec[i] > '9') {
      snprintf(err, errsize, "allocation \"%.40s\": the quantity before ':' must be a whole "
               "number", spec);
      return -1;
    }
    q = q * 10 + (spec[i] - '0');
  }
  out->quantity = q;
  if (!colon || !colon[1])
    return 0;
  /* Tags: key=value separated by commas; a value may contain '='. */
  const char *p = colon + 1;
  size_t cap = 1;
  for (const char *c = p; *c; c++)
    cap += *c == ',';
  out->keys = calloc(cap, sizeof *out->keys);
  out->values = calloc(cap, sizeof *out->values);
  if (!out->keys || !out->values) {
    cli_alloc_dispose(out);
    snprintf(err, errsize, "out of memory");
    return -1;
  }
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    if (!eq || eq == p) {
      snprintf(err, errsize, "allocation \"%.40s\": tag \"%.*s\" is not key=value", spec,
               (int)(len > 40 ? 40 : len), p);
      cli_alloc_dispose(out);
      return -1;
    }
    out->keys[out->ntags] = strndup(p, (size_t)(eq - p));
    out->values[out->ntags] = strndup(eq + 1, len - (size_t)(eq - p) - 1);
    out->ntags++;
    if (!out->keys[out->ntags - 1] || !out->values[out->ntags - 1]) {
      cli_alloc_dispose(out);
      snprintf(err, errsize, "out of memory");
      return -1;
    }
    p += len;
    if (*p == ',')
      p++;
  }
  return 0;
}

/* "k=v" -> one allocation holding "k\0v". */
static int add_kv(cli_kv *list, size_t *n, const char *flag, const char *value)
{
  const char *eq = strchr(value, '=');
  if (!eq || eq == value)
    return cli_fail(CLI_EXIT_USAGE, "--%s: expected NAME=VALUE, got \"%.40s\"", flag, value);
  char *copy = strdup(value);
  if (!copy)
    return cli_fail(CLI_EXIT_INTERNAL, "out of memory");
  copy[eq - value] = '\0';
  list[*n].key = copy;
  list[*n].value = copy + (eq - value) + 1;
  (*n)++;
  return 0;
}

static const cli_option *find_long(const char *name, size_t len)
{
  for (const cli_option *opt = options; opt->name; opt++)
    if (strlen(opt->name) == len && strncmp(opt->name, name, len) == 0)
      return opt;
  return NULL;
}

static const cli_option *find_short(char c)
{
  for (const cli_option *opt = options; opt->name; opt++)
    if (opt->short_name == c)
      return opt;
  return NULL;
}

/* The record field a flag names (exactly the field's name with '-' for '_'). */
static meter_field field_of_flag(const char *name, size_t len)
{
  char buf[40];
  if (len >= sizeof buf)
    return (meter_field)0;
  memcpy(buf, name, len);
  buf[len] = '\0';
  meter_field f = meter_field_from_name(buf);
  const char *canon = f ? meter_field_name(f) : NULL;
  if (!canon || strlen(canon) != len || (int)f >= CLI_MAX_FIELDS)
    return (meter_field)0;
  for (size_t i = 0; i < len; i++)
    if (buf[i] != (canon[i] == '_' ? '-' : canon[i]))
      return (meter_field)0;
  return f;
}

static const char *list_filter(const char *name, size_t len)
{
  for (size_t i = 0; list_filters[i]; i++)
    if (strlen(list_filters[i]) == len && strncmp(list_filters[i], name, len) == 0)
      return list_filters[i];
  return NULL;
}

static int wrong_command(const cli_opts *o, const char *flag)
{
  return cli_fail(CLI_EXIT_USAGE, "meter %s does not take %s (see: meter %s --help)", o->command,
                  flag, o->command);
}

/* Stores a setting given by flag or --set; a later one replaces an earlier one. */
static int add_setting(cli_opts *o, const char *name, const char *value)
{
  for (size_t i = 0; i < o->nsettings; i++)
    if (strcmp(o->settings[i].key, name) == 0) {
      free((char *)o->settings[i].key);
      o->settings[i] = o->settings[--o->nsettings];
      break;
    }
  size_t nlen = strlen(name);
  char *copy = malloc(nlen + strlen(value) + 2);
  if (!copy)
    return cli_fail(CLI_EXIT_INTERNAL, "out of memory");
  memcpy(copy, name, nlen + 1);
  strcpy(copy + nlen + 1, value);
  o->settings[o->nsettings].key = copy;
  o->settings[o->nsettings].value = copy + nlen + 1;
  o->nsettings++;
  return 0;
}

static int apply(cli_opts *o, const cli_option *opt, const char *flag, const char *value)
{
  char err[200];
  switch (opt->id) {
  case O_HELP: o->help = 1; return 0;
  case O_VERBOSE: o->verbose++; return 0;
  case O_JSON: o->json = 1; return 0;
  case O_CONFIG: o->config_path = value; return 0;
  case O_BACKEND: o->backend = value; return 0;
  case O_ENDPOINT: o->endpoint = value; return 0;
  case O_SET: {
    const char *eq = strchr(value, '=');
    if (!eq || eq == value)
      return cli_fail(CLI_EXIT_USAGE, "--set: expected NAME=VALUE, got a value without '='");
    char name[64];
    size_t len = (size_t)(eq - value);
    if (len >= sizeof name)
      return cli_fail(CLI_EXIT_USAGE, "--set: setting name too long");
    memcpy(name, value, len);
    name[len] = '\0';
    return add_setting(o, name, eq + 1);
  }
  case O_MAX_ATTEMPTS: return cli_parse_long(flag, value, 100, 0, &o->max_attempts);
  case O_DEADLINE: return cli_parse_long(flag, value, 86400000L, 0, &o->deadline_ms);
  case O_TIMEOUT: return cli_parse_long(flag, value, 86400000L, 0, &o->request_timeout_ms);
  case O_CONNECT_TIMEOUT:
    return cli_parse_long(flag, value, 86400000L, 0, &o->connect_timeout_ms);
  case O_BACKOFF_BASE: return cli_parse_long(flag, value, 3600000L, 0, &o->backoff_base_ms);
  case O_BACKOFF_MAX: return cli_parse_long(flag, value, 3600000L, 0, &o->backoff_max_ms);
  case O_RETRY_BUDGET:
    o->has_retry_budget = 1;
    return cli_parse_long(flag, value, 1000000L, 1, &o->retry_budget);
  case O_CA_BUNDLE: o->ca_bundle = value; return 0;
  case O_INSECURE: o->insecure = 1; return 0;
  case O_ALLOCATION:
    if (cli_parse_allocation(value, &o->allocs[o->nallocs], err, sizeof err) != 0)
      return cli_fail(CLI_EXIT_USAGE, "--allocation: %s", err);
    o->nallocs++;
    return 0;
  case O_ATTRIBUTE: return add_kv(o->attrs, &o->nattrs, "attribute", value);
  case O_FILE: o->file = value; return 0;
  case O_CHUNK: {
    int rc = cli_parse_long(flag, value, 100000L, 0, &o->chunk);
    if (rc == 0 && o->chunk == 0)
      return cli_fail(CLI_EXIT_USAGE, "--chunk: must be at least 1");
    return rc;
  }
  case O_PROGRESS: o->progress = 1; return 0;
  case O_NO_PROGRESS: o->progress = 0; return 0;
  case O_VALIDATE_ONLY: o->validate_only = 1; return 0;
  case O_SPOOL: o->spool = value; return 0;
  case O_DELIVER: o->deliver = 1; return 0;
  case O_UNTIL_EMPTY: o->until_empty = 1; return 0;
  case O_LIMIT: return cli_parse_long(flag, value, 100000000L, 0, &o->limit);
  case O_STATE: o->states = value; return 0;
  case O_WAIT_MS:
    o->has_wait = 1;
    return cli_parse_long(flag, value, 86400000L, 1, &o->wait_ms);
  case O_FLUSH_OPEN_HOURS: o->flush_open_hours = 1; return 0;
  case O_WAIT: o->wait = 1; return 0;
  case O_POLL_TIMEOUT: {
    long s;
    int rc = cli_parse_long(flag, value, 86400L, 0, &s);
    o->timeout_ms = s * 1000;
    return rc;
  }
  }
  return 0;
}

int cli_parse_args(cli_opts *o, unsigned groups, int argc, char **argv, int first)
{
  size_t cap = (size_t)(argc > 0 ? argc : 1);
  o->progress = -1;
  o->allocs = calloc(cap, sizeof *o->allocs);
  o->attrs = calloc(cap, sizeof *o->attrs);
  o->settings = calloc(cap, sizeof *o->settings);
  o->filters = calloc(cap, sizeof *o->filters);
  o->args = calloc(cap, sizeof *o->args);
  if (!o->allocs || !o->attrs || !o->settings || !o->filters || !o->args)
    return cli_fail(CLI_EXIT_INTERNAL, "out of memory");
  groups |= G_COMMON;

  int only_positional = 0;
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    if (only_positional || a[0] != '-' || a[1] == '\0') {
      o->args[o->nargs++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_positional = 1;
      continue;
    }
    if (a[1] != '-') {
      /* Short flags: -h, -v, -vv, -f FILE, -b BACKEND. */
      for (const char *s = a + 1; *s; s++) {
        const cli_option *opt = find_short(*s);
        char shown[3] = { '-', *s, 0 };
        if (!opt)
          return cli_fail(CLI_EXIT_USAGE, "unknown option %s (see: meter %s --help)", shown,
                          o->command);
        if (!(opt->groups & groups))
          return wrong_command(o, shown);
        const char *value = NULL;
        if (opt->arg == ARG_REQUIRED) {
          if (s[1])
            value = s + 1;
          else if (i + 1 < argc)
            value = argv[++i];
          else
            return cli_fail(CLI_EXIT_USAGE, "%s needs a value", shown);
          int rc = apply(o, opt, shown, value);
          if (rc)
            return rc;
          break;
        }
        int rc = apply(o, opt, shown, NULL);
        if (rc)
          return rc;
      }
      continue;
    }

    const char *name = a + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const char *inline_value = eq ? eq + 1 : NULL;
    char flag[72];
    snprintf(flag, sizeof flag, "--%.*s", (int)(len > 64 ? 64 : len), name);

    arg_kind kind;
    const cli_option *opt = find_long(name, len);
    const cli_setting *setting = NULL;
    meter_field field = (meter_field)0;
    const char *filter = NULL;
    unsigned need;
    if (opt) {
      kind = opt->arg;
      need = opt->groups;
    } else if ((groups & G_LIST) && (filter = list_filter(name, len)) != NULL) {
      /* `meter list --customer C` filters rather than describes a record. */
      kind = (strncmp(name, "include-", 8) == 0) ? ARG_OPTIONAL : ARG_REQUIRED;
      need = G_LIST;
    } else if ((field = field_of_flag(name, len)) != 0) {
      kind = field == METER_FIELD_DRY_RUN ? ARG_OPTIONAL : ARG_REQUIRED;
      need = G_RECORD;
    } else {
      char tmp[64];
      snprintf(tmp, sizeof tmp, "%.*s", (int)(len > 63 ? 63 : len), name);
      setting = cli_setting_by_flag(tmp);
      if (!setting)
        return cli_fail(CLI_EXIT_USAGE, "unknown option %s (see: meter %s --help)", flag,
                        o->command);
      kind = (setting->flags & CLI_SET_BOOL) ? ARG_OPTIONAL : ARG_REQUIRED;
      need = G_CLIENT;
    }
    if (!(need & groups))
      return wrong_command(o, flag);
    if (field == METER_FIELD_IDEMPOTENCY_KEY && (groups & G_NOKEY))
      return cli_fail(CLI_EXIT_USAGE, "meter %s does not take --idempotency-key: it would give "
                      "every line the same key (put \"idempotency_key\" in each line instead)",
                      o->command);

    const char *value = NULL;
    if (kind == ARG_NONE) {
      if (inline_value)
        return cli_fail(CLI_EXIT_USAGE, "%s takes no value", flag);
    } else if (inline_value) {
      value = inline_value;
    } else if (kind == ARG_OPTIONAL) {
      value = "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return cli_fail(CLI_EXIT_USAGE, "%s needs a value", flag);
    }

    int rc = 0;
    if (opt) {
      rc = apply(o, opt, flag, value);
    } else if (filter) {
      o->filters[o->nfilters].key = filter;
      o->filters[o->nfilters].value = value;
      o->nfilters++;
    } else if (field) {
      o->fields[field] = value;
    } else {
      rc = add_setting(o, setting->name, value);
    }
    if (rc)
      return rc;
  }
  return 0;
}
