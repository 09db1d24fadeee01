#include "error.h"

#include <stdio.h>
#include <string.h>

/* One table gives both the name and the description, so they cannot drift. */
static const struct {
  const char *name;
  const char *text;
} status_table[] = {
  [METER_OK] = { "METER_OK", "success" },
  [METER_EINVAL] = { "METER_EINVAL", "invalid argument or record" },
  [METER_ENOMEM] = { "METER_ENOMEM", "out of memory" },
  [METER_EVERSION] = { "METER_EVERSION", "unsupported options struct version" },
  [METER_ECONFIG] = { "METER_ECONFIG", "configuration missing or invalid" },
  [METER_EAUTH] = { "METER_EAUTH", "authentication failed" },
  [METER_ETRANSPORT] = { "METER_ETRANSPORT", "network failure" },
  [METER_ETIMEOUT] = { "METER_ETIMEOUT", "timed out" },
  [METER_EPROTOCOL] = { "METER_EPROTOCOL", "unexpected answer from the server" },
  [METER_EREJECTED] = { "METER_EREJECTED", "rejected by the marketplace" },
  [METER_EUNDELIVERED] = { "METER_EUNDELIVERED", "not delivered after retries" },
  [METER_ENOTFOUND] = { "METER_ENOTFOUND", "not found" },
  [METER_ECONFLICT] = { "METER_ECONFLICT", "conflicts with what the marketplace already has" },
  [METER_EUNSUPPORTED] = { "METER_EUNSUPPORTED", "operation not supported by this back end" },
  [METER_ETHROTTLED] = { "METER_ETHROTTLED", "throttled by the marketplace" },
  [METER_EFULL] = { "METER_EFULL", "spool is full" },
  [METER_ESTORE] = { "METER_ESTORE", "spool storage failure" },
  [METER_ECLOSED] = { "METER_ECLOSED", "client is closed" },
  [METER_EINTERNAL] = { "METER_EINTERNAL", "internal error in libmeter" },
};

#define STATUS_COUNT (sizeof status_table / sizeof status_table[0])

const char *meter_strerror(int status)
{
  if (status < 0 || (size_t)status >= STATUS_COUNT || !status_table[status].text)
    return "unknown status";
  return status_table[status].text;
}

const char *meter_status_name(int status)
{
  if (status < 0 || (size_t)status >= STATUS_COUNT || !status_table[status].name)
    return "METER_UNKNOWN";
  return status_table[status].name;
}

int mtr_error_set(meter_error *err, int status, const char *fmt, ...)
{
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->status = status;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return status;
}

void mtr_error_clear(meter_error *err)
{
  if (err) {
    err->status = METER_OK;
    err->message[0] = '\0';
  }
}

void mtr_error_copy(meter_error *dst, const meter_error *src)
{
  if (dst && src && dst != src)
    memcpy(dst, src, sizeof *dst);
}
