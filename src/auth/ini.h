/* INI files as the AWS CLI and SDKs write them (~/.aws/credentials,
 * ~/.aws/config): [section] headers, `key = value` lines, full-line comments
 * starting with '#' or ';', inline comments after whitespace, and indented
 * sub-properties (`s3 =` followed by indented lines), which are skipped.
 * Section names and keys are trimmed; keys compare case-insensitively. */
#ifndef MTR_INI_H
#define MTR_INI_H

#include "meter/errors.h"

#include <stddef.h>

typedef struct mtr_ini mtr_ini;

/* Parses text (len bytes). Malformed lines are skipped (as botocore does for
 * lines it does not understand) rather than failing the whole file. */
int mtr_ini_parse(mtr_ini **out, const char *text, size_t len);

/* Loads a file: METER_OK, METER_ENOTFOUND if it does not exist, METER_ECONFIG
 * if it cannot be read. */
int mtr_ini_load(mtr_ini **out, const char *path, meter_error *err);

/* The value of key in section, or NULL. */
const char *mtr_ini_get(const mtr_ini *ini, const char *section, const char *key);
int mtr_ini_has_section(const mtr_ini *ini, const char *section);

/* Frees the file; values are wiped (they hold secrets). NULL is ignored. */
void mtr_ini_free(mtr_ini *ini);

#endif
