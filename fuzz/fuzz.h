/* Shared by the harnesses. */
#ifndef METER_FUZZ_H
#define METER_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
