/*
 * libmeter — status codes and error detail.
 *
 * Every fallible function returns an int holding a meter_status. METER_OK is
 * zero; every other value is an error. Values are part of the ABI: they are
 * never renumbered or reused, new ones are only appended.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef METER_ERRORS_H
#define METER_ERRORS_H

#include "common.h"

METER_BEGIN_DECL

typedef enum meter_status {
  METER_OK = 0,
  METER_EINVAL = 1,       /* invalid argument or invalid record (never sent) */
  METER_ENOMEM = 2,       /* out of memory */
  METER_EVERSION = 3,     /* options struct of an unknown version */
  METER_ECONFIG = 4,      /* configuration missing or invalid */
  METER_EAUTH = 5,        /* credentials refused or unobtainable */
  METER_ETRANSPORT = 6,   /* network failure: connect, TLS, reset */
  METER_ETIMEOUT = 7,     /* a timeout or the overall deadline expired */
  METER_EPROTOCOL = 8,    /* the server's answer could not be understood */
  METER_EREJECTED = 9,    /* the marketplace refused one or more records */
  METER_EUNDELIVERED = 10,/* not delivered after retries (transient failures) */
  METER_ENOTFOUND = 11,   /* the resource does not exist */
  METER_ECONFLICT = 12,   /* conflicts with what the marketplace already has */
  METER_EUNSUPPORTED = 13,/* the back end does not offer this operation */
  METER_ETHROTTLED = 14,  /* the marketplace is throttling and retries ran out */
  METER_EFULL = 15,       /* the spool is full (reliable mode) */
  METER_ESTORE = 16,      /* the spool's storage failed (reliable mode) */
  METER_ECLOSED = 17,     /* the client is closed or closing */
  METER_EINTERNAL = 18    /* a bug in libmeter: please report it */
} meter_status;

/*
 * A static, human-readable description of a status code. Never NULL; unknown
 * codes give "unknown status". Safe from any thread.
 */
METER_EXTERN(const char *) meter_strerror(int status);

/* The symbolic name of a status ("METER_EAUTH"), or "METER_UNKNOWN". */
METER_EXTERN(const char *) meter_status_name(int status);

#define METER_ERROR_MESSAGE_SIZE 256

/*
 * Error detail for functions that can fail before a handle exists
 * (meter_client_new). Caller-allocated; the library fills it.
 */
typedef struct meter_error {
  int status;                              /* a meter_status */
  char message[METER_ERROR_MESSAGE_SIZE];  /* NUL-terminated, never a secret */
} meter_error;

METER_END_DECL

#endif /* METER_ERRORS_H */
