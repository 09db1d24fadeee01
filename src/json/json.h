/* Helpers over cJSON. cJSON stays private to the library: no public header
 * mentions it, and cJSON_InitHooks is never called (it would change the
 * host's own use of cJSON).
 *
 * Numbers: cJSON keeps a double. Quantities are written with
 * cJSON_CreateRaw from canonical decimal strings so they are exact on the
 * wire; integers read back are checked to be exact. */
#ifndef MTR_JSON_H
#define MTR_JSON_H

#include "core/buf.h"
#include "meter/errors.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/* Parses len bytes. On failure sets err (METER_EPROTOCOL, naming `what` and
 * the byte offset) and returns NULL. */
cJSON *mtr_json_parse(const char *data, size_t len, const char *what, meter_error *err);

/* The string member `key` of obj, or NULL if absent or not a string. */
const char *mtr_json_str(const cJSON *obj, const char *key);
/* 1 if obj[key] is true, 0 if false, -1 if absent or not a boolean. */
int mtr_json_bool(const cJSON *obj, const char *key);
/* The member as an exact integer. 0 on success; -1 if absent, not a
 * number, fractional or beyond +-2^53 (not exactly representable). */
int mtr_json_int64(const cJSON *obj, const char *key, int64_t *out);
/* As above for an item. */
int mtr_json_item_int64(const cJSON *item, int64_t *out);
/* The shortest decimal text that reads back as the item's double (e.g. 0.1
 * -> "0.1"). -1 if not a finite number. out needs 32 bytes. */
int mtr_json_number_text(const cJSON *item, char *out, size_t size);

/* Builders; each returns the added item or NULL on allocation failure
 * (cJSON_Add* semantics). A NULL value adds nothing and returns obj. */
cJSON *mtr_json_add_str(cJSON *obj, const char *key, const char *value);
cJSON *mtr_json_add_int(cJSON *obj, const char *key, int64_t value);
/* Adds a canonical decimal string as a JSON number, exactly. */
cJSON *mtr_json_add_decimal(cJSON *obj, const char *key, const char *decimal);
cJSON *mtr_json_add_bool(cJSON *obj, const char *key, int value);

/* Serialises without whitespace into out (appending). */
int mtr_json_print(const cJSON *item, mtr_buf *out);

#endif
