/* Integration-test harness: runs meter-sandbox as a child process on a free
 * loopback port and talks to its control API (faults, ledger, reset).
 *
 * Contract with tools/sandbox (docs/sandbox.md): started with `--port 0`, the
 * sandbox prints one line on stdout, "meter-sandbox listening on
 * http://127.0.0.1:PORT", then serves every marketplace on that port. */
#ifndef SANDBOX_PROC_H
#define SANDBOX_PROC_H

#include <cjson/cJSON.h>
#include <sys/types.h>

typedef struct sandbox_proc {
  pid_t pid;
  int port;
  char url[64];   /* "http://127.0.0.1:PORT" */
} sandbox_proc;

/* Path of the sandbox binary: $METER_SANDBOX, else the build tree's. */
const char *sandbox_binary(void);

/* Starts the sandbox with extra arguments (NULL-terminated array, may be
 * NULL). Returns 0, or -1 with a message on stderr. */
int sandbox_start(sandbox_proc *sp, const char *const *args);
void sandbox_stop(sandbox_proc *sp);

/* Plain HTTP to the sandbox (libcurl). Bodies are malloc'd, caller frees. */
char *sandbox_request(sandbox_proc *sp, const char *method, const char *path, const char *body,
                      long *status);

/* GET /_sandbox/ledger, parsed. Caller cJSON_Deletes. */
cJSON *sandbox_ledger(sandbox_proc *sp);
/* POST /_sandbox/faults with a JSON body; 0 on HTTP 200. */
int sandbox_fault(sandbox_proc *sp, const char *json);
/* POST /_sandbox/reset; 0 on success. */
int sandbox_reset(sandbox_proc *sp);

#endif
