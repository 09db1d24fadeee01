/*
 * libmeter — Tackle.io specific calls: read, list and delete usage records.
 *
 * Sending goes through meter_send() like every back end; these calls read
 * what Tackle holds. They need a client created with backend "tackle" (any
 * other gives METER_EUNSUPPORTED) and share its credentials, retries and
 * logging. Errors are returned as a meter_status; the detail is available
 * from meter_client_last_error().
 *
 *   meter_tackle_list_options lo = METER_TACKLE_LIST_OPTIONS_INIT;
 *   const char *customers[] = { "cust-1" };
 *   lo.customer_ids = customers;
 *   lo.customer_id_count = 1;
 *   meter_tackle_list *it;
 *   if (meter_tackle_list_new(&it, client, &lo) == METER_OK) {
 *     const meter_tackle_record *r;
 *     while (meter_tackle_list_next(it, &r) == METER_OK && r)
 *       printf("%s %s\n", meter_tackle_record_get(r, METER_TACKLE_ID),
 *              meter_tackle_record_get(r, METER_TACKLE_STATUS));
 *     meter_tackle_list_free(it);
 *   }
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef METER_TACKLE_H
#define METER_TACKLE_H

#include "client.h"
#include "common.h"

METER_BEGIN_DECL

/* ---- a usage record as Tackle returns it ------------------------------- */

typedef struct meter_tackle_record meter_tackle_record;

/* The attributes of a usage record. Values are part of the ABI. */
typedef enum meter_tackle_attr {
  METER_TACKLE_ID = 0,             /* "fe65c5a9-8d4c-4686-ae2d-c1f7804f4a62" */
  METER_TACKLE_PRODUCT_ID = 1,
  METER_TACKLE_CUSTOMER_ID = 2,
  METER_TACKLE_SUBSCRIPTION_ID = 3,
  METER_TACKLE_CLOUD = 4,          /* "aws", "azure", "gcp", "redhat" */
  METER_TACKLE_DIMENSION = 5,      /* the dimension's name */
  METER_TACKLE_QUANTITY = 6,       /* exact decimal text: "42", "2.5" */
  METER_TACKLE_START_TIME = 7,     /* as Tackle sent it: "2024-01-01T13:00:00.000000Z" */
  METER_TACKLE_END_TIME = 8,
  METER_TACKLE_STATUS = 9,         /* "idle", "in-progress", "accepted", "rejected", ... */
  METER_TACKLE_REASON = 10,        /* "customer-not-entitled", ...; NULL on success */
  METER_TACKLE_TEST = 11,          /* "accepted", "rejected", "not-operable"; NULL if not a test */
  METER_TACKLE_CREATED_AT = 12,
  METER_TACKLE_UPDATED_AT = 13,
  METER_TACKLE_SCHEDULED_AT = 14,
  METER_TACKLE_DELETED_AT = 15,
  METER_TACKLE_CONSUMER_ID = 16    /* GCP consumer id override */
} meter_tackle_attr;

/*
 * An attribute of the record (borrowed: valid as long as the record), or
 * NULL when Tackle sent none (or null) or `attr` is unknown.
 */
METER_EXTERN(const char *) meter_tackle_record_get(const meter_tackle_record *record,
                                                   meter_tackle_attr attr);

/* start_time / end_time in microseconds since the epoch; -1 when absent. */
METER_EXTERN(int64_t) meter_tackle_record_start_us(const meter_tackle_record *record);
METER_EXTERN(int64_t) meter_tackle_record_end_us(const meter_tackle_record *record);

/* The record object exactly as Tackle sent it (compact JSON; borrowed). */
METER_EXTERN(const char *) meter_tackle_record_json(const meter_tackle_record *record);

/* Frees a record from meter_tackle_get / meter_tackle_delete; NULL is ignored.
 * Never call it on a record borrowed from an iterator. */
METER_EXTERN(void) meter_tackle_record_free(meter_tackle_record *record);

/* ---- get and delete ---------------------------------------------------- */

/*
 * GET /v1/metering/usage-records/{id}. On success *out is a record the
 * caller frees with meter_tackle_record_free. METER_ENOTFOUND when Tackle has
 * no such record; METER_EAUTH when credentials are refused.
 */
METER_EXTERN(int) meter_tackle_get(meter_tackle_record **out, meter_client *client,
                                   const char *id);

/*
 * DELETE /v1/metering/usage-records/{id}. `out` is optional: when given it
 * receives the deleted record (free it with meter_tackle_record_free). If the
 * first attempt's answer was lost and the retry finds no record, the delete
 * is taken as done: METER_OK with *out NULL. METER_ENOTFOUND otherwise when
 * the record does not exist.
 */
METER_EXTERN(int) meter_tackle_delete(meter_tackle_record **out, meter_client *client,
                                      const char *id);

/* ---- list -------------------------------------------------------------- */

/* A boolean filter that may be left to Tackle's default. */
typedef enum meter_tackle_flag {
  METER_TACKLE_FLAG_DEFAULT = 0,   /* not sent: Tackle's default applies */
  METER_TACKLE_FLAG_TRUE = 1,
  METER_TACKLE_FLAG_FALSE = 2
} meter_tackle_flag;

#define METER_TACKLE_LIST_OPTIONS_VERSION 1

/*
 * Filters of GET /v1/metering/usage-records; every one is optional and zero
 * or NULL leaves it out. Strings and arrays are copied by
 * meter_tackle_list_new. Repeatable filters match any of their values.
 * Times are ISO-8601 / RFC 3339 (sent in UTC as 2023-01-01T15:31:12Z).
 */
typedef struct meter_tackle_list_options {
  unsigned int version;                 /* METER_TACKLE_LIST_OPTIONS_VERSION */
  const char *const *product_ids;
  size_t product_id_count;
  const char *const *customer_ids;
  size_t customer_id_count;
  const char *const *dimensions;
  size_t dimension_count;
  const char *const *subscription_ids;
  size_t subscription_id_count;
  const char *start_after;              /* start_time after this */
  const char *start_before;             /* start_time before this */
  const char *scheduled_after;
  const char *scheduled_before;
  const char *quantity;                 /* only records with this quantity */
  meter_tackle_flag include_zeros;      /* Tackle's default: false */
  meter_tackle_flag include_tests;      /* Tackle's default: true */
  unsigned int page_size;               /* `size`; 0: Tackle's default */
  const char *page_token;               /* start from this page (a saved token) */
} meter_tackle_list_options;

#define METER_TACKLE_LIST_OPTIONS_INIT { METER_TACKLE_LIST_OPTIONS_VERSION, NULL, 0, NULL, 0, \
                                         NULL, 0, NULL, 0, NULL, NULL, NULL, NULL, NULL, \
                                         METER_TACKLE_FLAG_DEFAULT, METER_TACKLE_FLAG_DEFAULT, \
                                         0, NULL }

/* Fills `opts` with defaults (for callers that cannot use the macro). */
METER_EXTERN(int) meter_tackle_list_options_init(meter_tackle_list_options *opts,
                                                 unsigned int version);

typedef struct meter_tackle_list meter_tackle_list;

/*
 * Starts listing usage records. Nothing is fetched yet: pages are fetched
 * on demand by meter_tackle_list_next. `opts` may be NULL (no filter).
 * METER_EINVAL names a filter that is malformed (a time that does not parse,
 * a quantity that is not a decimal).
 */
METER_EXTERN(int) meter_tackle_list_new(meter_tackle_list **out, meter_client *client,
                                        const meter_tackle_list_options *opts);

/*
 * The next record: METER_OK with *record set, or METER_OK with *record NULL
 * when there are no more. The record is borrowed from the iterator and valid
 * until the next call or meter_tackle_list_free. On an error (network,
 * credentials) the iterator stays where it was: calling again retries the
 * same page.
 */
METER_EXTERN(int) meter_tackle_list_next(meter_tackle_list *it,
                                         const meter_tackle_record **record);

/* How many pages were fetched so far. */
METER_EXTERN(unsigned int) meter_tackle_list_pages(const meter_tackle_list *it);

/*
 * The token of the page after the one being read (borrowed), or NULL on the
 * last page. Saving it lets a later listing resume with options.page_token.
 */
METER_EXTERN(const char *) meter_tackle_list_page_token(const meter_tackle_list *it);

/* Frees an iterator; NULL is ignored. */
METER_EXTERN(void) meter_tackle_list_free(meter_tackle_list *it);

METER_END_DECL

#endif /* METER_TACKLE_H */
