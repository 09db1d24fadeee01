/* Shared by the Tackle unit tests: a tackle client over the scripted
 * transport and the fake clock, and canned Tackle answers. */
#ifndef TK_FIXTURE_H
#define TK_FIXTURE_H

#include "test_util.h"

#include <cjson/cJSON.h>

#include "api/client.h"
#include "fake_clock.h"
#include "fake_transport.h"

/* 2024-01-01T13:00:00Z, the fake clock's start and the records' hour. */
#define TK_T0 INT64_C(1704114000000000)

typedef struct tk_fx {
  fake_transport t;
  fake_clock fc;
  meter_client *c;
} tk_fx;

/* A client with name/value settings (NULL-terminated pairs), endpoint
 * https://tackle.test. Returns NULL (and prints why) on failure. */
tk_fx *tk_fx_new(const char *name, ...);
void tk_fx_free(tk_fx *f);

/* Queues the answer of /v1/authenticate: token `tok`, expires_in `ttl`. */
void tk_push_token(tk_fx *f, const char *tok, long ttl);

/* Queues a 200 whose data echoes `records` (ids "id-0", "id-1", ... in that
 * order, status "idle"). */
void tk_push_echo(tk_fx *f, meter_record *const *records, size_t n);
/* The JSON of one UsageRecord for `rec` with that id and status. */
char *tk_usage_record_json(const meter_record *rec, const char *id, const char *status);

/* Requests sent to a path (e.g. "/v1/authenticate"). */
size_t tk_count_sent(const tk_fx *f, const char *path_prefix);

#endif
