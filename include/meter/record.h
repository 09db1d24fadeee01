/*
 * libmeter — usage records.
 *
 * A meter_record says "customer C used Q units of dimension D at time T".
 * Records are built by one thread and then handed to meter_send() or
 * meter_submit(); the library copies every string it is given.
 *
 * A record gets a fresh UUIDv4 idempotency key and the current time when it
 * is created; set either to replace them. The idempotency key stays with the
 * record through every retry (and through the spool in reliable mode), so a
 * resend is recognised by the marketplace instead of billed twice.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef METER_RECORD_H
#define METER_RECORD_H

#include "common.h"

METER_BEGIN_DECL

typedef struct meter_record meter_record;

/*
 * The fields of a record. Their names (meter_field_name) are the snake_case
 * keys of `meter batch` JSON lines and the long flags of `meter send`.
 * Values are part of the ABI and never renumbered.
 */
typedef enum meter_field {
  METER_FIELD_PRODUCT = 1,             /* "product": product code / id */
  METER_FIELD_CUSTOMER = 2,            /* "customer": customer id */
  METER_FIELD_DIMENSION = 3,           /* "dimension": usage dimension */
  METER_FIELD_QUANTITY = 4,            /* "quantity": non-negative decimal */
  METER_FIELD_TIME = 5,                /* "time": RFC 3339 / ISO-8601, UTC */
  METER_FIELD_END_TIME = 6,            /* "end_time": Tackle GCP */
  METER_FIELD_IDEMPOTENCY_KEY = 7,     /* "idempotency_key": 1-64 chars */
  METER_FIELD_TEST = 8,                /* "test": accepted|rejected|not-operable (Tackle) */
  METER_FIELD_DRY_RUN = 9,             /* "dry_run": true|false (AWS, Tackle aws) */
  METER_FIELD_CLOUD = 10,              /* "cloud": aws|azure|gcp (Tackle) */
  METER_FIELD_METHOD = 11,             /* "method": put|post (Tackle) */
  METER_FIELD_SUBSCRIPTION_ID = 12,    /* "subscription_id": Tackle subscription */
  METER_FIELD_SCHEDULED_AT = 13,       /* "scheduled_at": Tackle delayed send */
  METER_FIELD_CONSUMER_ID = 14,        /* "consumer_id": Tackle GCP consumer */
  METER_FIELD_CUSTOMER_ACCOUNT_ID = 15,/* "customer_account_id": AWS account */
  METER_FIELD_LICENSE_ARN = 16,        /* "license_arn": AWS license */
  METER_FIELD_ACCOUNT = 17,            /* "account": AppDirect accountId */
  METER_FIELD_PRICING_UNIT = 18,       /* "pricing_unit": AppDirect preconfigured */
  METER_FIELD_CUSTOM_UNIT = 19,        /* "custom_unit": AppDirect custom usage */
  METER_FIELD_PRICE = 20,              /* "price": AppDirect unitPrice (decimal) */
  METER_FIELD_CURRENCY = 21,           /* "currency": ISO-4217 */
  METER_FIELD_DESCRIPTION = 22,        /* "description": AppDirect */
  METER_FIELD_PRICING_MODEL = 23       /* "pricing_model": AppDirect; "volume" keeps the
                                          record out of requests of other models */
} meter_field;

/* "product", "end_time", ...; NULL for an unknown field. */
METER_EXTERN(const char *) meter_field_name(meter_field field);

/* The field whose name is `name` (snake_case or --flag-style); 0 if none. */
METER_EXTERN(meter_field) meter_field_from_name(const char *name);

/* A new record: fresh UUIDv4 idempotency key, time = now. */
METER_EXTERN(int) meter_record_new(meter_record **out);

/* A deep copy (same idempotency key). */
METER_EXTERN(int) meter_record_dup(meter_record **out, const meter_record *record);

/* Frees a record; NULL is ignored. */
METER_EXTERN(void) meter_record_free(meter_record *record);

/*
 * Sets a field from a NUL-terminated string (copied). NULL clears the field.
 * Fields with a syntax (quantity, times, test, cloud, method, dry_run, price)
 * are checked here: METER_EINVAL names the rule that failed. Rules that depend
 * on the back end are checked by meter_send()/meter_validate().
 * Control characters are refused in every field.
 */
METER_EXTERN(int) meter_record_set(meter_record *record, meter_field field, const char *value);

/* As meter_record_set, for a string that is not NUL-terminated. */
METER_EXTERN(int) meter_record_setn(meter_record *record, meter_field field,
                                    const char *value, size_t length);

/* The field as a string (borrowed, valid until the field changes), or NULL. */
METER_EXTERN(const char *) meter_record_get(const meter_record *record, meter_field field);

/* Integer quantity (must be >= 0). */
METER_EXTERN(int) meter_record_set_quantity(meter_record *record, int64_t quantity);

/* The time of the usage, in microseconds since the Unix epoch (UTC). */
METER_EXTERN(int) meter_record_set_time_us(meter_record *record, int64_t unix_us);
METER_EXTERN(int64_t) meter_record_time_us(const meter_record *record);

/*
 * Adds a usage allocation (AWS UsageAllocations, Tackle usage_allocations):
 * `quantity` units carrying `tag_count` key/value tags. Arrays are copied.
 * The allocations of a record must sum to its quantity (checked on send).
 */
METER_EXTERN(int) meter_record_add_allocation(meter_record *record, int64_t quantity,
                                              const char *const *tag_keys,
                                              const char *const *tag_values,
                                              size_t tag_count);
METER_EXTERN(size_t) meter_record_allocation_count(const meter_record *record);

/*
 * Why the last call on this record failed ("quantity: must be a non-negative
 * decimal number, got \"-3\""), or "" if it did not. Borrowed; valid until
 * the next call on the record.
 */
METER_EXTERN(const char *) meter_record_errmsg(const meter_record *record);

/* Adds (or replaces) a free-form attribute (AppDirect `attributes`). */
METER_EXTERN(int) meter_record_set_attribute(meter_record *record,
                                             const char *key, const char *value);
/* As meter_record_set_attribute, for strings that are not NUL-terminated. */
METER_EXTERN(int) meter_record_set_attributen(meter_record *record, const char *key,
                                              size_t key_length, const char *value,
                                              size_t value_length);

METER_END_DECL

#endif /* METER_RECORD_H */
