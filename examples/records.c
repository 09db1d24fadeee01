/* Builds usage records and shows how libmeter checks them before any I/O. */
#include <meter.h>
#include <stdio.h>

static void try_set(meter_record *r, meter_field f, const char *value)
{
  int rc = meter_record_set(r, f, value);
  printf("  %-12s = %-24s -> %s%s%s\n", meter_field_name(f), value, meter_strerror(rc),
         rc ? ": " : "", rc ? meter_record_errmsg(r) : "");
}

int main(void)
{
  meter_record *r;
  if (meter_record_new(&r) != METER_OK)
    return 1;
  printf("libmeter %s\nnew record: idempotency key %s, time %s\n", meter_version(),
         meter_record_get(r, METER_FIELD_IDEMPOTENCY_KEY), meter_record_get(r, METER_FIELD_TIME));
  try_set(r, METER_FIELD_CUSTOMER, "customer-1");
  try_set(r, METER_FIELD_QUANTITY, "0012.50");
  try_set(r, METER_FIELD_QUANTITY, "-3");
  try_set(r, METER_FIELD_TIME, "2026-01-01 10:00:00");
  try_set(r, METER_FIELD_TIME, "yesterday");
  try_set(r, METER_FIELD_CLOUD, "oracle");
  printf("canonical quantity %s, time %s\n", meter_record_get(r, METER_FIELD_QUANTITY),
         meter_record_get(r, METER_FIELD_TIME));
  meter_record_free(r);
  return 0;
}
