/* A minimal back end for testing the generic sender: it batches by product
 * (3 per request) and reads per-record outcomes from a JSON answer. */
#ifndef FAKE_BACKEND_H
#define FAKE_BACKEND_H

#include "backends/backend.h"

extern const mtr_backend_ops fake_backend_ops;

#endif
