/* INI files as the AWS CLI writes them (~/.aws/credentials and config):
 * any bytes parse without crashing or leaking; lookups of the sections and
 * keys the chain asks for work on whatever was parsed. */
#include "fuzz.h"

#include "auth/ini.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  mtr_ini *ini = NULL;
  if (mtr_ini_parse(&ini, (const char *)data, size) != 0 || !ini)
    return 0;
  static const char *const sections[] = { "default", "profile fz", "fz", "", NULL };
  static const char *const keys[] = { "aws_access_key_id", "aws_secret_access_key",
                                      "aws_session_token", "region", "role_arn", "", NULL };
  for (size_t s = 0; sections[s]; s++) {
    mtr_ini_has_section(ini, sections[s]);
    for (size_t k = 0; keys[k]; k++) {
      const char *v = mtr_ini_get(ini, sections[s], keys[k]);
      if (v)
        (void)strlen(v);
    }
  }
  mtr_ini_free(ini);
  return 0;
}
