/* A client of the appdirect back end on a scripted transport and a fake
 * clock, plus helpers to script AppDirect's answers. */
#ifndef AD_FIXTURE_H
#define AD_FIXTURE_H

#include "test_util.h"

#include "fake_clock.h"
#include "fake_transport.h"
#include "meter/appdirect.h"

#include <cjson/cJSON.h>

#define AD_BASE "https://marketplace.example.com"
#define AD_TOKEN_URL AD_BASE "/oauth2/token"
#define AD_USAGE_URL AD_BASE "/api/integration/v2/billing/usage"
#define AD_STATUS_URL AD_BASE "/api/integration/v2/billing/usage/requests/"
/* base64("my-client:my-secret") */
#define AD_BASIC "Basic bXktY2xpZW50Om15LXNlY3JldA=="
#define AD_T0 INT64_C(1768473000000000) /* 2026-01-15T10:30:00Z */

typedef struct adfx {
  fake_transport t;
  fake_clock fc;
  meter_client *c;
  /* The client sends through `spy`, which notes what fake_transport does not
   * record, then hands the request to `t`. */
  mtr_transport spy;
  int body_is_secret[FAKE_MAX];
} adfx;

/* A fixture whose client has base_url, client_id "my-client", client_secret
 * "my-secret" and the extra settings (name, value pairs, NULL-terminated;
 * a pair replaces a default of the same name). */
adfx *adfx_new(const char *name, ...);
/* As above, returning the client creation status and message instead. */
int adfx_try(adfx **out, meter_error *err, const char *endpoint, const char *const *settings);
void adfx_free(adfx *f);

void push_token(adfx *f, const char *token, long expires_in);
void push_accepted(adfx *f, const char *request_id);

/* A record with a fixed key and time (AD_T0 + offset_ms). */
meter_record *ad_rec(const char *key, int offset_ms, const char *name, ...);

/* Parses a sent body; caller deletes. */
cJSON *sent_json(const adfx *f, size_t i);
/* Number of events in a usage request body. */
size_t sent_events(const adfx *f, size_t i);
const char *sent_key(const adfx *f, size_t i, char *buf, size_t size);
/* How many requests went to a URL. */
size_t sent_to(const adfx *f, const char *url);

#endif
