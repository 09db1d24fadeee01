/* A fake marketplace for the pipeline tests, plugged in as a back end. Its
 * state lives in shared memory with a robust process-shared mutex, so a test
 * can fork a child that spools and sends, SIGKILL it mid-request, and still
 * read what "the marketplace" holds.
 *
 * Modes mimic the real marketplaces' rules:
 *   FM_AGGREGATE  AWS BatchMeterUsage: one report per customer, dimension and
 *                 hour; an identical resend is a duplicate (delivered, not
 *                 billed), another quantity for a reported hour is refused
 *   FM_REPLACE    Tackle PUT: the report of an hour is replaced until the
 *                 marketplace processes it, then 409 (conflict)
 *   FM_REQUEST    AppDirect: no aggregation; a request is identified by the
 *                 keys it carries, in order, and a repeated request is a
 *                 duplicate
 *   FM_UNSAFE     Tackle POST: every request bills, no deduplication */
#ifndef FAKE_MARKET_H
#define FAKE_MARKET_H

#include "backends/backend.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

enum { FM_AGGREGATE, FM_REPLACE, FM_REQUEST, FM_UNSAFE };

#define FM_MAX_ENTRIES 8192
#define FM_MAX_REQUESTS 4096

typedef struct fm_entry {
  char key[128];          /* customer|dimension|hour, or the record's key */
  int64_t quantity;
  int reports;            /* how many requests carried it */
  int processed;          /* FM_REPLACE: no longer replaceable */
} fm_entry;

typedef struct fake_market {
  pthread_mutex_t lock;
  int mode;
  int64_t window_us;
  int limit;                  /* records per request (default 25) */
  /* Faults, for the next requests. */
  int fail_next;              /* 503: not applied */
  int fail_always;
  int drop_next;              /* applied, then no answer */
  int64_t slow_us;            /* before answering (honours the sender's deadline) */
  int64_t hang_after_apply_us;/* applied, then the answer takes this long */
  atomic_int hanging;         /* 1 while a request hangs after applying */
  /* What it saw (requests is read while the sender runs). */
  atomic_int requests;
  int64_t billed;             /* units billed */
  int duplicates;
  int rejected;
  int conflicts;
  fm_entry entries[FM_MAX_ENTRIES];
  int nentries;
  char request_keys[FM_MAX_REQUESTS][40];
  int nrequest_keys;
  char last_keys[64][72];     /* idempotency keys of the last request */
  int nlast_keys;
} fake_market;

/* The market the back end talks to (one per test process, shared with
 * forked children). */
extern fake_market *fm;
extern const mtr_backend_ops fake_market_ops;

fake_market *fake_market_create(int mode);
void fake_market_reset(fake_market *m, int mode);
void fake_market_destroy(fake_market *m);
void fm_lock(fake_market *m);
void fm_unlock(fake_market *m);
/* The ledger entry of customer|dimension|hour (RFC 3339 hour), or NULL. */
const fm_entry *fm_find(fake_market *m, const char *key);
/* FM_REPLACE: the marketplace processes every hour it holds. */
void fm_process_all(fake_market *m);

#endif
