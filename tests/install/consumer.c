/* A program outside the project, built against the installed libmeter. */
#include <meter.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
  if (meter_version_number() != METER_VERSION_NUMBER) {
    fprintf(stderr, "header %s but library %s\n", METER_VERSION, meter_version());
    return 1;
  }
  meter_record *r;
  if (meter_record_new(&r) != METER_OK)
    return 1;
  int rc = meter_record_set(r, METER_FIELD_QUANTITY, "-1");
  printf("libmeter %s: %s (%s)\n", meter_version(), meter_strerror(rc), meter_record_errmsg(r));
  meter_record_free(r);
  meter_client_options o = METER_CLIENT_OPTIONS_INIT;
  o.backend = "no-such-backend";
  meter_client *c;
  meter_error e;
  rc = meter_client_new(&c, &o, &e);
  printf("%s\n", e.message);
  return rc == METER_ECONFIG && strstr(e.message, "no-such-backend") ? 0 : 1;
}
