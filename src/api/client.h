/* The client behind the public meter_client: configuration, the shared
 * environment (transport, clock, logger, retry budget) and the back end. */
#ifndef MTR_CLIENT_H
#define MTR_CLIENT_H

#include "backends/backend.h"
#include "core/log.h"
#include "core/sync.h"
#include "http/exchange.h"
#include "meter/client.h"

struct meter_client {
  const mtr_backend_ops *ops;
  mtr_backend *backend;
  mtr_config cfg;
  mtr_env env;
  mtr_logger log;
  mtr_retry_budget budget;
  mtr_transport *transport;
  int own_transport;
  char *user_agent;
  mtr_mutex err_lock;
  meter_error last_error;
};

/* Test seams: a scripted transport (not owned) and fake clock/randomness. */
typedef struct mtr_client_seams {
  mtr_transport *transport;
  const mtr_hooks *hooks;
  const mtr_backend_ops *backend_ops;  /* instead of looking up options.backend */
} mtr_client_seams;

int mtr_client_new_with(meter_client **out, const meter_client_options *opts,
                        const mtr_client_seams *seams, meter_error *err);

/* Records err as the client's last error and returns err->status. */
int mtr_client_fail(meter_client *c, const meter_error *err);
int mtr_client_failf(meter_client *c, int status, const char *fmt, ...) MTR_PRINTF(3, 4);

/* Delivers one batch through a back end (meter_send and the reliable
 * pipeline's sender both send this way) and makes sure every record of it
 * has an outcome: those the back end left PENDING become FAILED with the
 * exchange's reason. Returns send_batch's status; on failure err is set. */
int mtr_deliver_batch(const mtr_backend_ops *ops, mtr_backend *be, const mtr_batch *batch,
                      meter_error *err);

/* True for the statuses of a failure worth retrying later (network, 5xx,
 * throttling, deadline). */
int mtr_status_transient(int status);

/* The client's back end if it is `name`, else NULL with METER_EUNSUPPORTED
 * recorded ("meter_tackle_list needs the tackle back end, this client uses aws"). */
mtr_backend *mtr_client_backend_as(meter_client *c, const char *name, const char *function);

#endif
