/* Help texts: `meter --help`, `meter COMMAND --help`, `meter help config`. */
#ifndef METER_CLI_HELP_H
#define METER_CLI_HELP_H

#include <stdio.h>

/* Prints the help of a command ("send", "spool deliver", ...), "meter" for
 * the overview or "config" for the configuration reference. -1 if unknown. */
int cli_print_help(const char *command, FILE *f);

/* The back-end settings with their flags and environment variables. */
void cli_print_settings(FILE *f);

#endif
