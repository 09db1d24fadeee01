/* The CLI's parsers, compiled from tools/meter: a JSON line of `meter batch`
 * (its own exact-number JSON parser, then the record built through the
 * public setters), the JSON number to decimal conversion, and the config
 * file parser (numbers reach jsonl_number_to_decimal through the line
 * parser, which checks their grammar first, as in production). config.c is included so that its static parser can be driven
 * without changing the CLI's structure. The first byte picks the parser. */
#include "fuzz.h"

#include "../tools/meter/config.c"
#include "jsonl.h"
#include "record_build.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  /* The CLI hands the parsers NUL-terminated buffers (line_next, fgets). */
  size_t len = size - 1;
  char *text = malloc(len + 1);
  if (!text)
    return 0;
  memcpy(text, data + 1, len);
  text[len] = '\0';
  switch (data[0] % 3) {
  case 0: {
    rec_input in;
    memset(&in, 0, sizeof in);
    void *storage = NULL;
    rec_error err;
    if (jsonl_parse_line(text, len, &in, &storage, &err) == 0) {
      cli_opts flags;
      memset(&flags, 0, sizeof flags);
      meter_record *r = NULL;
      if (cli_build_record(&flags, &in, &r, &err) == METER_OK)
        meter_record_free(r);
    }
    rec_input_dispose(&in);
    jsonl_storage_free(storage);
    break;
  }
  case 1: {
    /* A number as a JSON line carries it: the parser checks the grammar
     * that jsonl_number_to_decimal relies on, then converts it. */
    char *line = malloc(2 * len + 32);
    if (!line)
      break;
    int n = snprintf(line, 2 * len + 32, "{\"quantity\":%s,\"price\":%s}", text, text);
    rec_input in;
    memset(&in, 0, sizeof in);
    void *storage = NULL;
    rec_error err;
    jsonl_parse_line(line, (size_t)n, &in, &storage, &err);
    rec_input_dispose(&in);
    jsonl_storage_free(storage);
    free(line);
    break;
  }
  case 2: {
    FILE *f = len ? fmemopen(text, len, "r") : NULL;
    if (!f)
      break;
    snprintf(conf.path, sizeof conf.path, "fuzz.conf");
    conf_parse(f);
    fclose(f);
    cli_config_get("tackle", "client_id");
    cli_config_get("meter", "backend");
    conf_free();
    break;
  }
  }
  free(text);
  return 0;
}
