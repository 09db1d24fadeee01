/*
 * libmeter — the client: configuration, synchronous sending, results.
 *
 * A meter_client talks to one marketplace back end ("tackle", "appdirect",
 * "aws"). It is safe to share one client between threads: every function
 * taking a client may be called concurrently, except meter_client_free.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef METER_CLIENT_H
#define METER_CLIENT_H

#include "common.h"
#include "errors.h"
#include "record.h"

METER_BEGIN_DECL

typedef struct meter_client meter_client;

/* ---- logging ----------------------------------------------------------- */

typedef enum meter_log_level {
  METER_LOG_ERROR = 1,
  METER_LOG_WARN = 2,
  METER_LOG_INFO = 3,
  METER_LOG_DEBUG = 4
} meter_log_level;

/*
 * Receives the library's log lines (one line, no trailing newline). Called
 * from whichever thread did the work, possibly several at once. Messages
 * never contain a secret: tokens, keys, signatures and Authorization headers
 * are redacted before the callback sees them.
 */
typedef void METER_CALLBACK(meter_log_fn)(meter_log_level level, const char *message,
                                          void *payload);

/* ---- options ----------------------------------------------------------- */

/* A back-end setting by name, e.g. {"client_id", "abc"}. Strings are copied. */
typedef struct meter_setting {
  const char *name;
  const char *value;
} meter_setting;

#define METER_CLIENT_OPTIONS_VERSION 1

/*
 * How to build a client. Start from METER_CLIENT_OPTIONS_INIT (or
 * meter_client_options_init) so that every field you do not set keeps its
 * default: zero always means "the default". Strings and arrays are copied by
 * meter_client_new; the struct may be freed right after.
 */
typedef struct meter_client_options {
  unsigned int version;            /* METER_CLIENT_OPTIONS_VERSION */

  const char *backend;             /* "tackle", "appdirect" or "aws" (required) */
  const char *endpoint;            /* base URL override (sandbox, proxy, FIPS) */

  /* Back-end credentials and settings by name; see docs/<backend>.md. */
  const meter_setting *settings;
  size_t settings_count;

  /* Timeouts in milliseconds (0 = default: connect 10 s, request 30 s). */
  long connect_timeout_ms;
  long request_timeout_ms;

  /* Retry policy (0 = default). Attempts include the first one. */
  unsigned int max_attempts;       /* default 5 */
  long backoff_base_ms;            /* default 100: first retry waits up to this */
  long backoff_max_ms;             /* default 20000: cap of one backoff */
  long deadline_ms;                /* default 60000: whole meter_send call */
  int retry_budget;                /* default 500 tokens; -1 disables the budget */

  /* TLS: verification is on unless insecure_skip_verify is set (logged). */
  int insecure_skip_verify;
  const char *ca_bundle;           /* PEM file instead of the system store */

  const char *user_agent_suffix;   /* appended to "libmeter/<version>" */
  size_t max_response_bytes;       /* default 4 MiB */

  meter_log_fn log;                /* NULL: no logging */
  void *log_payload;
  meter_log_level log_level;       /* default METER_LOG_INFO */
} meter_client_options;

#define METER_CLIENT_OPTIONS_INIT { METER_CLIENT_OPTIONS_VERSION, NULL, NULL, NULL, 0, \
                                    0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, 0, NULL, NULL, \
                                    (meter_log_level)0 }

/* Fills `opts` with defaults for callers that cannot use the macro (FFI). */
METER_EXTERN(int) meter_client_options_init(meter_client_options *opts, unsigned int version);

/* ---- discovery --------------------------------------------------------- */

/* The back ends built into this library ("tackle", "appdirect", "aws"). */
METER_EXTERN(size_t) meter_backend_count(void);
/* The index-th back end's name, or NULL past the end. Static string. */
METER_EXTERN(const char *) meter_backend_name(size_t index);

#define METER_SETTING_SECRET 1u    /* never logged; wiped from memory when freed */
#define METER_SETTING_REQUIRED 2u  /* meter_client_new fails without it */

/*
 * The index-th setting that back end accepts: its name, METER_SETTING_* flags
 * and a one-line description (static strings; any out-parameter may be
 * NULL). METER_ENOTFOUND past the last setting or for an unknown back end.
 * Lets bindings and tools offer every setting without a copy of the list.
 */
METER_EXTERN(int) meter_backend_setting(const char *backend, size_t index, const char **name,
                                        unsigned int *flags, const char **help);

/* ---- client ------------------------------------------------------------ */

/*
 * Creates a client. On failure *out is NULL and `err` (optional) says why,
 * naming the missing or invalid setting. No network I/O happens here.
 */
METER_EXTERN(int) meter_client_new(meter_client **out, const meter_client_options *opts,
                                   meter_error *err);

/* Frees a client; NULL is ignored. No call on it may be running. */
METER_EXTERN(void) meter_client_free(meter_client *client);

/* The back end's name ("aws", ...). */
METER_EXTERN(const char *) meter_client_backend(const meter_client *client);

/*
 * Copies the detail of the most recent error on this client (any thread)
 * into buf, NUL-terminated and truncated to size. Returns the status of that
 * error (METER_OK if none). Per-record detail is in the results.
 */
METER_EXTERN(int) meter_client_last_error(meter_client *client, char *buf, size_t size);

/* ---- results ----------------------------------------------------------- */

typedef enum meter_outcome {
  METER_OUTCOME_PENDING = 0,    /* not attempted (an earlier fatal error) */
  METER_OUTCOME_ACCEPTED = 1,   /* the marketplace took the usage */
  METER_OUTCOME_DUPLICATE = 2,  /* already recorded earlier (an idempotent replay):
                                   delivered, not billed twice */
  METER_OUTCOME_REJECTED = 3,   /* refused by the marketplace; see error code */
  METER_OUTCOME_FAILED = 4,     /* not delivered after retries; safe to resend
                                   with the same idempotency key */
  METER_OUTCOME_INVALID = 5,    /* failed validation, never sent */
  METER_OUTCOME_CONFLICT = 6    /* Tackle PUT 409: the hour was already sent to the
                                   marketplace, this update was not applied */
} meter_outcome;

/* "accepted", "duplicate", ...; never NULL. */
METER_EXTERN(const char *) meter_outcome_name(meter_outcome outcome);

/* True for outcomes where the usage is at the marketplace (accepted, duplicate). */
METER_EXTERN(int) meter_outcome_delivered(meter_outcome outcome);

typedef struct meter_results meter_results;

METER_EXTERN(size_t) meter_results_count(const meter_results *results);
METER_EXTERN(meter_outcome) meter_results_outcome(const meter_results *results, size_t i);
/* Marketplace record id (Tackle id, AWS MeteringRecordId, AppDirect requestId). */
METER_EXTERN(const char *) meter_results_record_id(const meter_results *results, size_t i);
/* Marketplace status string (Tackle "idle"/"accepted", AWS "Success", ...). */
METER_EXTERN(const char *) meter_results_status(const meter_results *results, size_t i);
METER_EXTERN(int) meter_results_http_status(const meter_results *results, size_t i);
/* Marketplace error code ("ThrottlingException", "invalid_body", ...) or NULL. */
METER_EXTERN(const char *) meter_results_error_code(const meter_results *results, size_t i);
/* Human-readable explanation, naming the field for invalid records; or NULL. */
METER_EXTERN(const char *) meter_results_message(const meter_results *results, size_t i);
/* The offending record field ("quantity"), when known; or NULL. */
METER_EXTERN(const char *) meter_results_field(const meter_results *results, size_t i);
METER_EXTERN(unsigned int) meter_results_attempts(const meter_results *results, size_t i);
/* The idempotency key the record was sent with. */
METER_EXTERN(const char *) meter_results_idempotency_key(const meter_results *results, size_t i);
/* Request id of the marketplace call (x-amzn-RequestId, AppDirect requestId). */
METER_EXTERN(const char *) meter_results_request_id(const meter_results *results, size_t i);
/* AppDirect: the status query path of the request that carried the record. */
METER_EXTERN(const char *) meter_results_status_path(const meter_results *results, size_t i);

METER_EXTERN(void) meter_results_free(meter_results *results);

/* ---- sending ----------------------------------------------------------- */

/*
 * Sends `count` records synchronously and fills one result per record, in
 * order (*out, which the caller frees with meter_results_free; it is filled
 * even when an error is returned, unless the error is METER_ENOMEM or
 * METER_EINVAL for the arguments themselves).
 *
 * Records are validated first (invalid ones are never sent), batched to the
 * marketplace's limits, and retried with backoff on transient failures, each
 * attempt carrying the same idempotency keys.
 *
 * Returns METER_OK when every record was delivered (accepted or duplicate).
 * Otherwise the most serious problem, in this order: METER_ECONFIG/EAUTH
 * (credentials), METER_EUNDELIVERED/ETHROTTLED/ETIMEOUT/ETRANSPORT (transient:
 * resend later), METER_EINVAL (some records invalid), METER_EREJECTED (some
 * refused or in conflict). The results say which record had which outcome.
 */
METER_EXTERN(int) meter_send(meter_client *client, meter_record *const *records, size_t count,
                             meter_results **out);

/* Validates records against the back end's rules without sending anything. */
METER_EXTERN(int) meter_validate(meter_client *client, meter_record *const *records,
                                 size_t count, meter_results **out);

METER_END_DECL

#endif /* METER_CLIENT_H */
