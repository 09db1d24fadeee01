/*
 * libmeter — AppDirect Billing Usage v2: the processing status of a usage
 * request.
 *
 * AppDirect takes usage asynchronously: meter_send() reports a record as
 * METER_OUTCOME_ACCEPTED with the status "PROCESSING" once AppDirect has
 * received it (HTTP 202), and gives the request's id and status path
 * (meter_results_request_id, meter_results_status_path). Whether every event
 * was finally billed is only known from the status query below.
 *
 *   meter_appdirect_status *st = NULL;
 *   int rc = meter_appdirect_status_wait(&st, client,
 *                                        meter_results_status_path(results, 0),
 *                                        60000, 0);
 *   if (rc == METER_OK)
 *     meter_appdirect_status_apply(results, NULL, st); // BAD_DATA -> REJECTED
 *   meter_appdirect_status_free(st);
 *
 * These calls need a client created with the "appdirect" back end (otherwise
 * METER_EUNSUPPORTED). They may be called from any thread. Strings returned
 * by the getters are borrowed from the status and valid until it is freed.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef METER_APPDIRECT_H
#define METER_APPDIRECT_H

#include "client.h"
#include "common.h"

METER_BEGIN_DECL

/* The processing status of one usage request (opaque). */
typedef struct meter_appdirect_status meter_appdirect_status;

/*
 * States of a usage request (and of one event in it). Values are part of the
 * ABI and never renumbered.
 */
typedef enum meter_appdirect_state {
  METER_APPDIRECT_STATE_UNKNOWN = 0,    /* a state this library does not know
                                           (see meter_appdirect_status_string) */
  METER_APPDIRECT_STATE_PROCESSING = 1, /* "PROCESSING": not rated yet */
  METER_APPDIRECT_STATE_SUCCESSFUL = 2, /* "SUCCESSFUL": every event processed */
  METER_APPDIRECT_STATE_FAILED = 3,     /* "FAILED": at least one event failed
                                           (see the failed usages) */
  METER_APPDIRECT_STATE_READY = 4       /* "READY": volume-priced events stored,
                                           rated at the end of the billing period */
} meter_appdirect_state;

/* True for states that will not change by waiting: SUCCESSFUL, FAILED, READY. */
METER_EXTERN(int) meter_appdirect_state_is_final(meter_appdirect_state state);

/* "processing", "successful", "failed", "ready" or "unknown"; never NULL. */
METER_EXTERN(const char *) meter_appdirect_state_name(meter_appdirect_state state);

/*
 * Fetches the status of a usage request once:
 * GET {base}/api/integration/v2/billing/usage/requests/{requestId}.
 *
 * `request` is a requestId ("db0879f1-...") or the status path AppDirect
 * returned ("/api/integration/v2/billing/usage/requests/db0879f1-..."), as
 * given by meter_results_request_id / meter_results_status_path.
 *
 * Transient failures are retried like meter_send (same policy, budget and
 * deadline). On METER_OK, *out holds the status (free it with
 * meter_appdirect_status_free). Errors: METER_EINVAL (bad arguments),
 * METER_ENOTFOUND (no such request at this marketplace), METER_EAUTH,
 * METER_EPROTOCOL (an answer that could not be read), the transient statuses;
 * meter_client_last_error says more.
 */
METER_EXTERN(int) meter_appdirect_status_get(meter_appdirect_status **out, meter_client *client,
                                             const char *request);

/*
 * Polls the status of a usage request until it reaches a final state
 * (meter_appdirect_state_is_final) or `timeout_ms` passes.
 *
 * Between polls it waits `poll_interval_ms` (0: 1000), doubling after each
 * poll up to 30 s, never beyond the timeout; a last poll is made when the
 * timeout is reached. Returns METER_OK with a final status in *out, or
 * METER_ETIMEOUT with the last status fetched in *out (still PROCESSING, or
 * a state this library does not know); any other error as
 * meter_appdirect_status_get, with *out NULL. Free *out whenever it is set.
 */
METER_EXTERN(int) meter_appdirect_status_wait(meter_appdirect_status **out,
                                              meter_client *client, const char *request,
                                              long timeout_ms, long poll_interval_ms);

/* Frees a status; NULL is ignored. */
METER_EXTERN(void) meter_appdirect_status_free(meter_appdirect_status *status);

/* The request's state. */
METER_EXTERN(meter_appdirect_state) meter_appdirect_status_state(
  const meter_appdirect_status *status);

/* The state exactly as AppDirect sent it ("PROCESSING", ...), or NULL. */
METER_EXTERN(const char *) meter_appdirect_status_string(const meter_appdirect_status *status);

/* The request's requestId and idempotencyKey, or NULL if absent. */
METER_EXTERN(const char *) meter_appdirect_status_request_id(
  const meter_appdirect_status *status);
METER_EXTERN(const char *) meter_appdirect_status_idempotency_key(
  const meter_appdirect_status *status);

/* totalUsagesCount, processedUsagesCount, failedUsagesCount; -1 if absent. */
METER_EXTERN(int64_t) meter_appdirect_status_total_count(const meter_appdirect_status *status);
METER_EXTERN(int64_t) meter_appdirect_status_processed_count(
  const meter_appdirect_status *status);
METER_EXTERN(int64_t) meter_appdirect_status_failed_count(const meter_appdirect_status *status);

/* The entries of failedUsages, in the order AppDirect listed them. */
METER_EXTERN(size_t) meter_appdirect_status_failed_usage_count(
  const meter_appdirect_status *status);
/* Fields of failed usage i (accountId, eventId, errorCode such as "BAD_DATA",
 * errorDescription); NULL if absent or i is out of range. */
METER_EXTERN(const char *) meter_appdirect_status_failed_account_id(
  const meter_appdirect_status *status, size_t i);
METER_EXTERN(const char *) meter_appdirect_status_failed_event_id(
  const meter_appdirect_status *status, size_t i);
METER_EXTERN(const char *) meter_appdirect_status_failed_error_code(
  const meter_appdirect_status *status, size_t i);
METER_EXTERN(const char *) meter_appdirect_status_failed_error_description(
  const meter_appdirect_status *status, size_t i);

/*
 * The state of one event of the request, by its eventId (the record's
 * idempotency key):
 *   FAILED      it is listed in failedUsages; *error_code and
 *               *error_description (optional out-parameters, borrowed) say why;
 *   SUCCESSFUL  the request is SUCCESSFUL, or FAILED and the event is not
 *               among the failures (when failedUsages lists every failure);
 *   PROCESSING / READY   the request's state;
 *   UNKNOWN     otherwise (an unknown state, or a FAILED request whose
 *               failedUsages is shorter than its failedUsagesCount).
 * The status does not list the request's events, so an eventId that was not
 * part of the request is answered like one that was.
 */
METER_EXTERN(meter_appdirect_state) meter_appdirect_status_event(
  const meter_appdirect_status *status, const char *event_id, const char **error_code,
  const char **error_description);

/*
 * Folds a status into the results of the meter_send call that delivered the
 * request. Only results delivered by this request are touched (ACCEPTED or
 * DUPLICATE with the same request id); their event is the result's
 * idempotency key. By meter_appdirect_status_event:
 *   FAILED      -> METER_OUTCOME_REJECTED, error code and message from
 *                  AppDirect (e.g. BAD_DATA), status "FAILED";
 *   SUCCESSFUL / READY -> outcome unchanged, status "SUCCESSFUL" / "READY";
 *   otherwise   -> unchanged.
 * *updated (optional) receives how many results changed. This modifies
 * `results`: no other thread may read them meanwhile. METER_EINVAL if
 * results or status is NULL.
 */
METER_EXTERN(int) meter_appdirect_status_apply(meter_results *results, size_t *updated,
                                               const meter_appdirect_status *status);

METER_END_DECL

#endif /* METER_APPDIRECT_H */
