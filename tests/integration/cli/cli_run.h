/* Runs a program of the build (the meter command, an example, python3) as
 * a child process with a clean environment, feeds its stdin and collects
 * stdout, stderr and the exit status. No shell is involved. */
#ifndef CLI_RUN_H
#define CLI_RUN_H

#include <stddef.h>

typedef struct cli_result {
  int status;      /* exit status, or 128 + signal */
  char *out;       /* stdout, NUL-terminated */
  size_t out_len;
  char *err;       /* stderr, NUL-terminated */
  size_t err_len;
} cli_result;

/* The meter binary: $METER_CLI, else the build tree's. */
const char *cli_binary(void);

/* A fresh private directory (mkdtemp under $TMPDIR or /tmp); HOME of every
 * child, so that no real ~/.config/meter/config is read. */
const char *cli_home(void);

/*
 * Runs `path` with `args` (NULL-terminated, without argv[0]) and `env`
 * ("NAME=value", NULL-terminated, may be NULL) added to a minimal
 * environment (PATH, HOME=cli_home(), sanitizer options). `input` (may be
 * NULL) is written to its stdin. Returns 0, or -1 if it could not be run.
 */
int proc_run(cli_result *r, const char *path, const char *const *args, const char *const *env,
             const char *input, size_t input_len);

/* proc_run of the meter binary. */
int cli_run(cli_result *r, const char *const *args, const char *const *env, const char *input);

void cli_result_free(cli_result *r);

/* A meter process left running (stdout and stderr go to files). */
typedef struct cli_proc {
  int pid;
  char out_path[512], err_path[512];
} cli_proc;

/* Starts meter in the background. Returns 0 or -1. */
int cli_start(cli_proc *p, const char *const *args, const char *const *env);
/* Sends `sig`, waits for the exit and collects what it printed. */
int cli_stop(cli_proc *p, int sig, cli_result *r);

/* Writes `text` to a new file in cli_home() named `name` with `mode`;
 * returns its path (static storage, one per name). */
const char *cli_write_file(const char *name, const char *text, int mode);

#endif
