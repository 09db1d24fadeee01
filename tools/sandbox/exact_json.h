/* JSON parsing that keeps numbers exactly as sent.
 *
 * cJSON stores numbers as doubles, which would round an AppDirect quantity
 * such as 12345678.1234567891 and could not tell 5 from 5.0. Before cJSON
 * sees the text, every number token is rewritten as a string whose first
 * byte is SBX_NUM_MARK followed by the number's original text. The helpers
 * below are the only way the sandbox reads values, so a JSON number and a
 * JSON string stay distinguishable ("5" is a string, 5 a number) and the
 * original digits are echoed back unchanged (sbx_json_unmark). */
#ifndef SBX_EXACT_JSON_H
#define SBX_EXACT_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define SBX_NUM_MARK '\x01'

/* Parses len bytes. NULL on a syntax error, with the byte offset in
 * *err_at (may be NULL). A string that starts with U+0001 is refused as a
 * syntax error: it would be mistaken for a number (nobody sends one). */
cJSON *sbx_json_parse(const char *data, size_t len, size_t *err_at);

/* Type tests on a parsed item (NULL-safe). */
int sbx_json_is_number(const cJSON *it);
int sbx_json_is_string(const cJSON *it);  /* a real string, not a number */
int sbx_json_is_bool(const cJSON *it);
int sbx_json_is_null(const cJSON *it);

/* The number's original text ("12.50", "1e3"), or NULL if not a number. */
const char *sbx_json_number_text(const cJSON *it);
/* The string's value, or NULL if not a real string. */
const char *sbx_json_string(const cJSON *it);
/* obj[key] as a real string, or NULL. */
const char *sbx_json_get_string(const cJSON *obj, const char *key);

/* A number written as an integer (-?digits, or digits followed by ".0..."),
 * within int64. 0 on success, -1 otherwise. */
int sbx_json_integer(const cJSON *it, int64_t *out);

/* Epoch seconds (integer or with a fraction; no exponent) as microseconds.
 * 0 on success, -1 otherwise. */
int sbx_json_epoch_us(const cJSON *it, int64_t *out);

/* A deep copy of item with the marked numbers turned back into raw JSON
 * numbers, ready to print. NULL when out of memory. */
cJSON *sbx_json_unmark(const cJSON *item);

/* The same in place: marked numbers become raw JSON numbers (cJSON_Raw).
 * The sbx_json_* readers no longer see them as numbers afterwards. */
void sbx_json_unmark_inplace(cJSON *item);

/* Prints item (marked numbers printed as the original digits). The
 * returned text is malloc'ed by cJSON: release it with cJSON_free. */
char *sbx_json_print(const cJSON *item);

#endif
