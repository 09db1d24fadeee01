/* Command-line parsing: which flags exist, which commands accept them, and
 * how their values land in cli_opts. Back-end setting flags come from the
 * settings table (config.h); record flags from the library's field names
 * (meter_field_from_name), so a field added to libmeter is a flag at once. */
#ifndef METER_CLI_ARGS_H
#define METER_CLI_ARGS_H

#include "cli.h"

/* Option groups; a command accepts the union of some. */
enum {
  G_COMMON = 1u << 0,   /* -h/--help, -v, --json, --config */
  G_CLIENT = 1u << 1,   /* --backend, --endpoint, settings, retries, TLS */
  G_RECORD = 1u << 2,   /* record fields, --allocation, --attribute */
  G_BATCH = 1u << 3,    /* --file, --chunk, --progress */
  G_SEND = 1u << 4,     /* --validate-only */
  G_SUBMIT = 1u << 5,   /* --spool, --deliver (send/batch into a spool) */
  G_SPOOL = 1u << 6,    /* --spool, --until-empty (meter spool ...) */
  G_LIST = 1u << 7,     /* --limit and list filters */
  G_NOKEY = 1u << 8,    /* batch: --idempotency-key would give every line one key */
  G_STATUS = 1u << 9    /* appdirect status: --wait, --timeout-s */
};

/* Parses argv[first..argc) into o (which the caller zeroed, prog/command set).
 * Returns 0, or CLI_EXIT_USAGE after printing why. */
int cli_parse_args(cli_opts *o, unsigned groups, int argc, char **argv, int first);

/* Parses "QTY:key=value,key=value" (tags optional). Returns 0, or -1 with a
 * reason in err. */
int cli_parse_allocation(const char *spec, cli_alloc *out, char *err, size_t errsize);
void cli_alloc_dispose(cli_alloc *a);

/* Parses a non-negative (or, with allow_minus_one, -1) integer flag value. */
int cli_parse_long(const char *flag, const char *value, long max, int allow_minus_one,
                   long *out);

#endif
