/* The `meter` command: what every part of it shares (parsed options, exit
 * statuses, messages). The command uses only the public API of libmeter
 * (meter.h), which is the point: if the CLI can do it, so can any program. */
#ifndef METER_CLI_H
#define METER_CLI_H

#include <meter.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses: a public contract (docs/cli.md, design.md §4). When several
 * apply, the highest number wins: 5 > 4 > 3 > 2 > 1 > 0. */
enum {
  CLI_EXIT_OK = 0,          /* everything delivered */
  CLI_EXIT_REJECTED = 1,    /* some record rejected by the marketplace (or not found) */
  CLI_EXIT_USAGE = 2,       /* bad input or usage */
  CLI_EXIT_TRANSIENT = 3,   /* not delivered after retries: safe to resend */
  CLI_EXIT_CONFIG = 4,      /* configuration or credentials */
  CLI_EXIT_INTERNAL = 5     /* local failure: out of memory, spool storage, a bug */
};

/* The exit status for a libmeter status code. */
int cli_exit_for_status(int status);
/* The more serious of two exit statuses. */
static inline int cli_exit_worst(int a, int b) { return a > b ? a : b; }

/* Record fields are indexed by meter_field; the enum is append-only, so
 * leave room for fields added after this CLI was written. */
#define CLI_MAX_FIELDS 64

typedef struct cli_kv {
  const char *key;
  const char *value;
} cli_kv;

/* One usage allocation (AWS UsageAllocations, Tackle usage_allocations). */
typedef struct cli_alloc {
  int64_t quantity;
  size_t ntags;
  char **keys;
  char **values;
} cli_alloc;

/* Everything the command line said. Strings point into argv unless noted. */
typedef struct cli_opts {
  const char *prog;            /* "meter" */
  const char *command;         /* "send", "spool deliver", ... */

  int help, json, verbose, insecure, validate_only, deliver, until_empty;
  int progress;                /* -1: when stderr is a terminal; 0 never; 1 always */
  const char *backend, *endpoint, *config_path, *file, *spool, *ca_bundle;
  long chunk;                  /* batch: records per meter_send */
  long limit;                  /* list/spool list: at most this many (0 = all) */
  const char *states;          /* spool list/export: "pending,dead" */
  long wait_ms;                /* --deliver / spool deliver: how long to wait */
  int has_wait, flush_open_hours;
  long timeout_ms;             /* status --wait: how long to poll */
  int wait;                    /* status --wait */

  /* Client knobs; 0 = the library's default. has_retry_budget tells a
   * given "0" from an absent one (0 turns the budget off). */
  long max_attempts, deadline_ms, request_timeout_ms, connect_timeout_ms;
  long backoff_base_ms, backoff_max_ms, retry_budget;
  int has_retry_budget;

  const char *fields[CLI_MAX_FIELDS]; /* record flags, by meter_field */
  cli_alloc *allocs;           /* --allocation (parsed, owned) */
  size_t nallocs;
  cli_kv *attrs;               /* --attribute k=v (owned copies) */
  size_t nattrs;
  cli_kv *settings;            /* back-end settings from flags / --set */
  size_t nsettings;
  cli_kv *filters;             /* list filters: --filter-style flags (key=name) */
  size_t nfilters;

  const char **args;           /* positional arguments */
  size_t nargs;
} cli_opts;

void cli_opts_free(cli_opts *o);

/* Messages on stderr, prefixed "meter: ". cli_fail returns `code`. */
void cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Only with -v (level 1) or -vv (level 2). */
void cli_verbose(const cli_opts *o, int level, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

/* After meter_send: a line on stderr saying what went wrong and what to do
 * (resend_key: the idempotency key to resend with, for a failed record). */
void cli_explain(meter_client *c, int rc, const char *resend_key);

/* The commands (cmd_*.c). Each returns an exit status. */
int cmd_send(cli_opts *o);
int cmd_batch(cli_opts *o);
int cmd_list(cli_opts *o);
int cmd_get(cli_opts *o);
int cmd_status(cli_opts *o);
int cmd_resolve_customer(cli_opts *o);
int cmd_spool(cli_opts *o);

#endif
