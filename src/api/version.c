#include "meter/version.h"

const char *meter_version(void)
{
  return METER_VERSION;
}

int meter_version_number(void)
{
  return METER_VERSION_NUMBER;
}
