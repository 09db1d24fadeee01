/* Configuration of the command: back-end settings and client options from
 * flags, then the environment, then a config file (INI-like, default
 * ~/.config/meter/config), and the client built from them. */
#ifndef METER_CLI_CONFIG_H
#define METER_CLI_CONFIG_H

#include "cli.h"

/* A back-end setting as the command knows it: its library name, the flag
 * and environment variable that supply it, and whether it is a secret. */
typedef struct cli_setting {
  const char *backend;   /* "tackle" */
  const char *name;      /* "client_id": the library's setting name and config key */
  const char *flag;      /* "client-id" (without dashes), or NULL: --set / env / file only */
  const char *env;       /* "TACKLE_CLIENT_ID", or NULL */
  unsigned flags;        /* CLI_SET_* */
  const char *help;
} cli_setting;

#define CLI_SET_SECRET 1u       /* never printed, scrubbed from logs */
#define CLI_SET_BOOL 2u         /* the flag may stand alone (= "true") */
#define CLI_SET_LIB_ENV 4u      /* the library reads `env` itself (AWS chain): the CLI does
                                   not pass it, but a set variable outranks the file */
#define CLI_SET_AWS_CREDS 8u    /* one of the AWS credential sources: any of their variables
                                   set in the environment outranks all of them in the file */

/* The settings table, ending with { NULL }. */
extern const cli_setting cli_settings[];

/* The first setting using this flag (any back end), or NULL. */
const cli_setting *cli_setting_by_flag(const char *flag);
/* The setting `name` of `backend`, or NULL. */
const cli_setting *cli_setting_find(const char *backend, const char *name);
/* Whether the command has a settings table for this back end. */
int cli_backend_known(const char *backend);

/* Builds the client the options describe (flags > env > file). On failure
 * prints why (naming the flag, variable and config key that would supply a
 * missing setting) and returns the exit status. Secret values are never
 * printed. `*out` is freed with cli_client_free. */
int cli_client_new(cli_opts *o, meter_client **out);
void cli_client_free(meter_client *client);

/* The config file's value for key in [section] (after cli_client_new or
 * cli_config_load), or NULL. */
const char *cli_config_get(const char *section, const char *key);
/* Loads the config file once (--config, $METER_CONFIG, ~/.config/meter/config).
 * Returns 0, or an exit status after printing why. */
int cli_config_load(const cli_opts *o);
/* The back end after flags > METER_BACKEND > [meter] backend, or NULL. */
const char *cli_resolve_backend(const cli_opts *o);

#endif
