/* Stand-ins for cmd_spool.c while the library has no reliable pipeline
 * (see CMakeLists.txt). */
#include "cli.h"
#include "spool_submit.h"

int cli_spooler_open(cli_opts *o, meter_client *c, cli_spooler **out)
{
  (void)o;
  (void)c;
  *out = NULL;
  return cli_fail(CLI_EXIT_USAGE, "reliable mode (--spool) is not available in this build");
}

int cli_spooler_submit(cli_spooler *s, meter_record *const *recs, size_t n,
                       spool_outcome *outcomes)
{
  (void)s;
  (void)recs;
  (void)n;
  (void)outcomes;
  return CLI_EXIT_INTERNAL;
}

void cli_spool_print(out_ctx *out, long index, const meter_record *rec, const spool_outcome *so)
{
  (void)out;
  (void)index;
  (void)rec;
  (void)so;
}

int cli_spooler_finish(cli_spooler *s)
{
  (void)s;
  return 0;
}

int cmd_spool(cli_opts *o)
{
  return cli_fail(CLI_EXIT_USAGE, "meter %s: reliable mode is not available in this build",
                  o->command);
}
