/* The back-end contract. A back end is data (its name, its settings, its
 * limits) plus small functions; it owns no retry loop and no socket: it builds
 * requests and classifies answers, and mtr_exchange does the rest.
 *
 *   validate(record)      back-end rules, before any I/O
 *   batch_key(record)     which records may share a request, and how many
 *   send_batch(records)   encode -> mtr_exchange(build/sign, classify/decode)
 */
#ifndef MTR_BACKEND_H
#define MTR_BACKEND_H

#include "core/buf.h"
#include "core/record.h"
#include "core/result.h"
#include "http/exchange.h"
#include "meter/client.h"

#define MTR_SETTING_SECRET METER_SETTING_SECRET     /* never logged, wiped after use */
#define MTR_SETTING_REQUIRED METER_SETTING_REQUIRED /* the client cannot be created without it */

typedef struct mtr_setting_spec {
  const char *name;   /* "client_id" */
  unsigned flags;
  const char *help;   /* one line, for error messages and docs */
} mtr_setting_spec;

/* The client's configuration as the back end sees it (strings owned by the
 * client, valid for its lifetime). */
typedef struct mtr_config {
  meter_setting *items;
  size_t count;
  const char *endpoint;   /* options.endpoint, or NULL */
} mtr_config;

const char *mtr_config_get(const mtr_config *cfg, const char *name);
/* "true"/"1"/"yes" -> 1, "false"/"0"/"no" -> 0, absent -> dflt, else -1. */
int mtr_config_bool(const mtr_config *cfg, const char *name, int dflt);

typedef struct mtr_batch {
  meter_record *const *records;
  mtr_result *const *results;  /* results[i] belongs to records[i] */
  size_t count;
} mtr_batch;

typedef struct mtr_backend mtr_backend;

/* Reliable mode: how the marketplace wants this record reported. */
typedef struct mtr_agg_rule {
  int aggregate;      /* 1: one report per key and hour; quantities are summed
                         and sent once the hour has closed */
  int64_t window_us;  /* the marketplace refuses usage older than this
                         (0 = no known limit) */
  /* The pipeline zeroes the rule before asking, so these default to 0. */
  int replaces;       /* 1: a later report of the same key and hour replaces the
                         earlier one until the marketplace processes it (Tackle
                         PUT): records that arrive late are sent as a new total */
  int resend_unsafe;  /* 1: the request is not idempotent (Tackle POST): after
                         an unanswered attempt or a crash mid-request the record
                         is kept as a dead letter instead of being resent */
} mtr_agg_rule;

typedef struct mtr_backend_ops {
  const char *name;
  const mtr_setting_spec *settings;  /* ends with { NULL } */
  int (*create)(mtr_backend **out, const mtr_env *env, mtr_logger *log, const mtr_config *cfg,
                meter_error *err);
  void (*destroy)(mtr_backend *be);
  /* On failure: fill res (METER_OUTCOME_INVALID, field, message naming the
   * rule) and return METER_EINVAL. */
  int (*validate)(mtr_backend *be, const meter_record *rec, mtr_result *res);
  /* Records whose keys are equal may share one request, at most *limit. */
  int (*batch_key)(mtr_backend *be, const meter_record *rec, mtr_buf *key, size_t *limit);
  /* Delivers one batch and gives every record of it an outcome. Returns the
   * exchange's status (METER_OK when the marketplace answered). */
  int (*send_batch)(mtr_backend *be, const mtr_batch *batch, meter_error *err);
  /* Optional (NULL: never aggregate, no window). For aggregated records,
   * `key` receives everything except the hour that identifies one report
   * (e.g. "product|customer|dimension"); records with equal keys in the same
   * hour are summed into one. */
  int (*aggregation)(mtr_backend *be, const meter_record *rec, mtr_agg_rule *rule, mtr_buf *key);
} mtr_backend_ops;

/* Every back end's state starts with this. */
struct mtr_backend {
  const mtr_backend_ops *ops;
  const mtr_env *env;
  mtr_logger *log;
};

/* Built-in back ends by name; NULL if unknown. */
const mtr_backend_ops *mtr_backend_find(const char *name);
/* "tackle, appdirect, aws" — for error messages. */
const char *mtr_backend_names(void);

/* Validation helper: marks res invalid for `field` with a formatted rule. */
int mtr_invalid(mtr_result *res, meter_field field, const char *fmt, ...) MTR_PRINTF(3, 4);

#endif
