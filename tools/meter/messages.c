/* Messages on stderr and the exit status for each libmeter status. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>

void cli_msg(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("meter: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

int cli_fail(int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("meter: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return code;
}

void cli_verbose(const cli_opts *o, int level, const char *fmt, ...)
{
  if (o->verbose < level)
    return;
  va_list ap;
  va_start(ap, fmt);
  fputs("meter: [verbose] ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* The order of seriousness is the library's (meter_send's return value):
 * credentials > transient > invalid > rejected > ok, plus local failures. */
int cli_exit_for_status(int status)
{
  switch ((meter_status)status) {
  case METER_OK:
    return CLI_EXIT_OK;
  case METER_EREJECTED:
  case METER_ECONFLICT:
  case METER_ENOTFOUND:
    return CLI_EXIT_REJECTED;
  case METER_EINVAL:
  case METER_EUNSUPPORTED:
    return CLI_EXIT_USAGE;
  case METER_EUNDELIVERED:
  case METER_ETHROTTLED:
  case METER_ETIMEOUT:
  case METER_ETRANSPORT:
  case METER_EPROTOCOL:
  case METER_EFULL:
    return CLI_EXIT_TRANSIENT;
  case METER_ECONFIG:
  case METER_EAUTH:
  case METER_EVERSION:
    return CLI_EXIT_CONFIG;
  case METER_ENOMEM:
  case METER_ESTORE:
  case METER_ECLOSED:
  case METER_EINTERNAL:
    return CLI_EXIT_INTERNAL;
  }
  return CLI_EXIT_INTERNAL;
}
