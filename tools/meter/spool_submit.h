/* `meter send|batch --spool PATH [--deliver]`: records go into a durable
 * spool (meter/reliable.h) instead of straight to the marketplace; with
 * --deliver this process then sends what is due before it exits. */
#ifndef METER_CLI_SPOOL_SUBMIT_H
#define METER_CLI_SPOOL_SUBMIT_H

#include "cli.h"
#include "output.h"

typedef struct cli_spooler cli_spooler;

/* Opens the spool of o->spool for client c. Returns 0 or an exit status. */
int cli_spooler_open(cli_opts *o, meter_client *c, cli_spooler **out);

/* What became of one record given to the spool. */
typedef struct spool_outcome {
  int status;                              /* meter_submit's status */
  char message[METER_ERROR_MESSAGE_SIZE];  /* why, when not METER_OK */
} spool_outcome;

/* Stores n records (one transaction when all are valid), one outcome per
 * record. Returns the worst exit status of these records. */
int cli_spooler_submit(cli_spooler *s, meter_record *const *recs, size_t n,
                       spool_outcome *outcomes);

/* Prints one spooled record's outcome ("spooled", "invalid", "dead", ...). */
void cli_spool_print(out_ctx *out, long index, const meter_record *rec, const spool_outcome *so);

/* With --deliver, sends what is due (waiting --wait-ms, default no limit)
 * and says what is left; then closes. Returns an exit status. NULL is
 * ignored (returns 0). */
int cli_spooler_finish(cli_spooler *s);

#endif
