/* The record model behind the public meter_record. Every field is kept as a
 * canonical string (what meter_record_get returns); times and quantities are
 * also kept parsed, so back ends never re-parse. */
#ifndef MTR_RECORD_H
#define MTR_RECORD_H

#include "core/decimal.h"
#include "meter/errors.h"
#include "meter/record.h"

#define MTR_FIELD_COUNT 24           /* one past the highest meter_field */
#define MTR_FIELD_MAX_LEN 4096       /* no field may be longer */
#define MTR_IDEMPOTENCY_KEY_MAX 64

typedef struct mtr_allocation {
  int64_t quantity;
  size_t ntags;
  char **keys;
  char **values;
} mtr_allocation;

typedef struct mtr_attribute {
  char *key;
  char *value;
} mtr_attribute;

struct meter_record {
  char *fields[MTR_FIELD_COUNT];
  int64_t time_us;          /* METER_FIELD_TIME, always set */
  int64_t end_time_us;      /* valid when fields[END_TIME] */
  int64_t scheduled_at_us;  /* valid when fields[SCHEDULED_AT] */
  mtr_decimal_info qty;     /* valid when fields[QUANTITY] */
  mtr_allocation *allocs;
  size_t nallocs;
  mtr_attribute *attrs;
  size_t nattrs;
  char errmsg[METER_ERROR_MESSAGE_SIZE];
};

static inline const char *mtr_rec(const meter_record *r, meter_field f)
{
  return r->fields[f];
}

/* True if the record's dry_run field is "true". */
int mtr_record_dry_run(const meter_record *r);

/* Sum of allocation quantities; -1 on overflow. */
int64_t mtr_record_allocation_sum(const meter_record *r);

#endif
