#ifndef MTR_UUID_H
#define MTR_UUID_H

#include "hooks.h"

#define MTR_UUID_LEN 36

/* A random (version 4) UUID, lower-case, into out[37]. 0 on success. */
int mtr_uuid4(const mtr_hooks *hooks, char out[MTR_UUID_LEN + 1]);

/* A name-based UUID (version 5 layout, SHA-256 truncated) from `data`: the
 * same input always gives the same UUID. Used for deterministic idempotency
 * keys of aggregates and requests. */
void mtr_uuid_from_name(const void *data, size_t len, char out[MTR_UUID_LEN + 1]);

/* True if s is a canonical UUID (any version). */
int mtr_uuid_valid(const char *s);

#endif
