#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

meter_record *rec_of(const char *name, ...)
{
  meter_record *r = NULL;
  if (meter_record_new(&r) != METER_OK)
    return NULL;
  va_list ap;
  va_start(ap, name);
  for (const char *n = name; n; n = va_arg(ap, const char *)) {
    const char *v = va_arg(ap, const char *);
    meter_field f = meter_field_from_name(n);
    if (!f || meter_record_set(r, f, v) != METER_OK) {
      fprintf(stderr, "rec_of: %s=%s: %s\n", n, v ? v : "(null)", meter_record_errmsg(r));
      meter_record_free(r);
      r = NULL;
      break;
    }
  }
  va_end(ap);
  return r;
}

char *read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) {
    buf[n] = '\0';
    if (len)
      *len = (size_t)n;
  }
  return buf;
}

static char logbuf[1 << 16];
static size_t loglen;

void capture_log(meter_log_level level, const char *msg, void *payload)
{
  (void)level;
  (void)payload;
  size_t n = strlen(msg);
  if (loglen + n + 2 < sizeof logbuf) {
    memcpy(logbuf + loglen, msg, n);
    loglen += n;
    logbuf[loglen++] = '\n';
    logbuf[loglen] = '\0';
  }
}

const char *captured_log(void)
{
  return logbuf;
}

void captured_log_clear(void)
{
  loglen = 0;
  logbuf[0] = '\0';
}
