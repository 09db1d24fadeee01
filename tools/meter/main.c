/* meter: the command line of libmeter. Finds the command, parses its flags,
 * runs it, and exits with its status (0-5, see docs/cli.md). */
#include "args.h"
#include "cli.h"
#include "help.h"

#include <stdlib.h>
#include <string.h>

typedef struct cli_command {
  const char *name;
  unsigned groups;
  int (*run)(cli_opts *o);
  const char *backend;   /* the back end the command needs, or NULL */
} cli_command;

static const cli_command commands[] = {
  { "send", G_CLIENT | G_RECORD | G_SEND | G_SUBMIT, cmd_send, NULL },
  { "batch", G_CLIENT | G_RECORD | G_BATCH | G_SUBMIT | G_NOKEY, cmd_batch, NULL },
  { "list", G_CLIENT | G_LIST, cmd_list, "tackle" },
  { "get", G_CLIENT, cmd_get, "tackle" },
  { "status", G_CLIENT | G_STATUS, cmd_status, "appdirect" },
  { "resolve-customer", G_CLIENT, cmd_resolve_customer, "aws" },
  { "spool deliver", G_CLIENT | G_SPOOL, cmd_spool, NULL },
  { "spool status", G_SPOOL, cmd_spool, NULL },
  { "spool list", G_SPOOL, cmd_spool, NULL },
  { "spool dead", G_SPOOL, cmd_spool, NULL },
  { "spool retry", G_SPOOL, cmd_spool, NULL },
  { "spool export", G_SPOOL, cmd_spool, NULL },
  { NULL, 0, NULL, NULL }
};

static const cli_command *find_command(const char *name)
{
  for (const cli_command *c = commands; c->name; c++)
    if (strcmp(c->name, name) == 0)
      return c;
  return NULL;
}

static int usage_error(const char *what)
{
  cli_msg("%s", what);
  fputs("Usage: meter send|batch|list|get|status|resolve-customer|spool ... [options]\n"
        "Try: meter --help\n", stderr);
  return CLI_EXIT_USAGE;
}

/* `meter -v --config F send ...`: options before the command are moved
 * after it, so they are parsed with the command's own flags. */
static char **hoist_leading_options(int argc, char **argv)
{
  static const char *const with_value[] = { "--config", "--backend", "-b", "--endpoint", NULL };
  int i = 1;
  while (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--version") != 0 &&
         strcmp(argv[i], "--help") != 0 && strcmp(argv[i], "-h") != 0) {
    int takes = 0;
    for (size_t k = 0; with_value[k]; k++)
      takes |= strcmp(argv[i], with_value[k]) == 0;
    i += takes ? 2 : 1;
  }
  if (i == 1 || i >= argc)
    return argv;
  char **out = calloc((size_t)argc + 1, sizeof *out);
  if (!out)
    return argv;
  int n = 0, words = strcmp(argv[i], "spool") == 0 && i + 1 < argc ? 2 : 1;
  out[n++] = argv[0];
  for (int k = 0; k < words; k++)
    out[n++] = argv[i + k];
  for (int k = 1; k < i; k++)
    out[n++] = argv[k];
  for (int k = i + words; k < argc; k++)
    out[n++] = argv[k];
  out[n] = NULL;
  return out;
}

static int dispatch(int argc, char **argv)
{
  if (argc < 2)
    return usage_error("no command given");
  const char *first = argv[1];
  if (strcmp(first, "--version") == 0 || strcmp(first, "version") == 0) {
    printf("meter %s (libmeter %s)\n", METER_VERSION, meter_version());
    return 0;
  }
  if (strcmp(first, "-h") == 0 || strcmp(first, "--help") == 0) {
    cli_print_help("meter", stdout);
    return 0;
  }
  if (strcmp(first, "help") == 0) {
    char name[64] = "meter";
    if (argc > 2)
      snprintf(name, sizeof name, "%s%s%s", argv[2], argc > 3 ? " " : "", argc > 3 ? argv[3] : "");
    if (cli_print_help(name, stdout) != 0)
      return usage_error("no help on that: try meter --help");
    return 0;
  }

  char name[64];
  int next = 2;
  if (strcmp(first, "spool") == 0) {
    if (argc < 3 || argv[2][0] == '-') {
      if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        cli_print_help("spool", stdout);
        return 0;
      }
      return usage_error("meter spool needs a subcommand: deliver, status, list, dead, retry "
                         "or export");
    }
    snprintf(name, sizeof name, "spool %s", argv[2]);
    next = 3;
  } else {
    snprintf(name, sizeof name, "%s", first);
  }
  const cli_command *cmd = find_command(name);
  if (!cmd) {
    char what[128];
    snprintf(what, sizeof what, "unknown command \"%.40s\"", name);
    return usage_error(what);
  }

  cli_opts o;
  memset(&o, 0, sizeof o);
  o.prog = "meter";
  o.command = cmd->name;
  int code = cli_parse_args(&o, cmd->groups, argc, argv, next);
  if (code == 0 && o.help) {
    cli_print_help(cmd->name, stdout);
  } else if (code == 0) {
    if (cmd->backend) {
      /* list/get are Tackle's, status AppDirect's, resolve-customer AWS's. */
      if (o.backend && strcmp(o.backend, cmd->backend) != 0)
        code = cli_fail(CLI_EXIT_USAGE, "meter %s is for the %s back end, not %s", cmd->name,
                        cmd->backend, o.backend);
      o.backend = cmd->backend;
    }
    if (code == 0)
      code = cmd->run(&o);
  }
  cli_opts_free(&o);
  return code;
}

int main(int argc, char **argv)
{
  char **args = hoist_leading_options(argc, argv);
  int code = dispatch(argc, args);
  if (args != argv)
    free(args);
  if (fflush(stdout) != 0 && code == 0)
    code = cli_fail(CLI_EXIT_INTERNAL, "cannot write the output");
  return code;
}
