/* Shared by the AWS back-end unit tests: a client on a scripted transport
 * and a fake clock, reading an empty environment (never the real one). */
#ifndef AWS_TEST_UTIL_H
#define AWS_TEST_UTIL_H

#include "test_util.h"

#include "api/client.h"
#include "backends/aws/aws_internal.h"
#include "fake_clock.h"
#include "fake_transport.h"

#define T0 INT64_C(1704067500000000) /* 2024-01-01T00:05:00Z */
#define EX_AKID "AKIDEXAMPLE"
#define EX_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

typedef struct aws_fixture {
  fake_transport ft;
  fake_clock fc;
  meter_client *client;
} aws_fixture;

/* A client with region us-east-1 and the example keys, plus `extra`
 * settings (name, value, ..., NULL). endpoint may be NULL. */
meter_client *aws_fixture_client(aws_fixture *f, const char *endpoint, ...);
void aws_fixture_free(aws_fixture *f);

/* An environment with nothing in it. */
const mtr_aws_sysenv *aws_empty_env(void);

#endif
