/* A real client (options, config, back end) over the fuzz transport and a
 * fake clock, plus the secret canaries: every log line, error message and
 * result string is checked never to contain a configured secret. */
#ifndef FUZZ_CLIENT_H
#define FUZZ_CLIENT_H

#include "fake_clock.h"
#include "fuzz_transport.h"
#include "meter.h"

/* Secrets configured in the harnesses' clients. The seeds and dictionaries
 * contain them, so the fuzzer can make an answer echo one back. */
#define FUZZ_SECRET "fz-secret-Q7wX9"
#define FUZZ_TOKEN "fz-token-K3pL8"

typedef struct fuzz_env {
  fuzz_transport t;
  fake_clock fc;
  meter_client *c;
} fuzz_env;

/* 2024-01-01T13:00:00Z */
#define FUZZ_T0 INT64_C(1704114000000000)

/* Creates env->c for `backend` with name/value settings (NULL-terminated
 * pairs) over the script in data. Returns 0, or -1 (no client). */
int fuzz_client_new(fuzz_env *env, const char *backend, const uint8_t *data, size_t size,
                    const char *name, ...);
/* Checks the last error and frees the client. */
void fuzz_client_free(fuzz_env *env);

/* Aborts if s contains a secret. */
void fuzz_check_no_secret(const char *s);
/* Checks every string of the results. The secret checks cover what the
 * library writes (logs, the client's last error, meter_send results, which
 * quote answers); data the marketplace returns about itself (a Tackle
 * record, an AppDirect status, a ResolveCustomer answer) is handed over
 * as is, and the requests that fetch it carry no secret in a body. */
void fuzz_check_results(const meter_results *res);

/* A record from field/value pairs (NULL-terminated); NULL if invalid. */
meter_record *fuzz_record(const char *field, ...);

#endif
