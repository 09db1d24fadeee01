/* Clients of meter-sandbox for the security tests, through the public API:
 * the sandbox's default credentials for each marketplace, and a valid record
 * of each (unique by its customer). */
#ifndef SBX_CLIENTS_H
#define SBX_CLIENTS_H

#include "sandbox_proc.h"

#include <meter.h>

/* backend: "tackle", "appdirect" or "aws". NULL (with a message) on failure. */
meter_client *sbx_client(const sandbox_proc *sp, const char *backend, meter_log_fn log);
/* A record for `backend`, customer "<prefix>-<n>", quantity q, 2 hours ago. */
meter_record *sbx_record(const char *backend, const char *prefix, long n, int64_t q);
/* The number of ledger entries of `backend` whose customer starts with
 * prefix, and the sum of their quantities. */
void sbx_ledger_count(sandbox_proc *sp, const char *backend, const char *prefix, long *entries,
                      double *quantity);

#endif
