/*
 * libmeter — version information.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef METER_VERSION_H
#define METER_VERSION_H

#include "common.h"

#define METER_VERSION_MAJOR 0
#define METER_VERSION_MINOR 1
#define METER_VERSION_PATCH 0
#define METER_VERSION "0.1.0"

/* MAJOR * 10000 + MINOR * 100 + PATCH, for #if comparisons. */
#define METER_VERSION_NUMBER \
  (METER_VERSION_MAJOR * 10000 + METER_VERSION_MINOR * 100 + METER_VERSION_PATCH)

/* True when the headers are at least version x.y.z. */
#define METER_VERSION_CHECK(x, y, z) \
  (METER_VERSION_NUMBER >= ((x) * 10000 + (y) * 100 + (z)))

METER_BEGIN_DECL

/*
 * The version of the library actually linked, as "MAJOR.MINOR.PATCH".
 * Compare with METER_VERSION to detect a header/library mismatch, e.g.
 *   assert(meter_version_number() == METER_VERSION_NUMBER);
 */
METER_EXTERN(const char *) meter_version(void);

/* The linked library's METER_VERSION_NUMBER. */
METER_EXTERN(int) meter_version_number(void);

METER_END_DECL

#endif /* METER_VERSION_H */
