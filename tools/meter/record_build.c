/* Records from flags and JSON lines, through the public setters only. */
#include "record_build.h"

#include "args.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void rec_error_set(rec_error *e, const char *code, const char *field, const char *fmt, ...)
{
  snprintf(e->code, sizeof e->code, "%s", code);
  snprintf(e->field, sizeof e->field, "%s", field ? field : "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
}

void rec_input_dispose(rec_input *in)
{
  for (size_t i = 0; i < in->nallocs; i++)
    cli_alloc_dispose(&in->allocs[i]);
  free(in->allocs);
  for (size_t i = 0; i < in->nattrs; i++)
    free((char *)in->attrs[i].key);
  free(in->attrs);
  memset(in, 0, sizeof *in);
}

/* The field a message like "quantity: must be ..." is about. */
static void field_of_message(const char *msg, char *out, size_t size)
{
  const char *colon = strchr(msg, ':');
  size_t n = colon ? (size_t)(colon - msg) : 0;
  if (n == 0 || n >= size || memchr(msg, ' ', n))
    n = 0;
  memcpy(out, msg, n);
  out[n] = '\0';
}

static int add_allocations(meter_record *r, const cli_alloc *a, size_t n, rec_error *err)
{
  for (size_t i = 0; i < n; i++) {
    int rc = meter_record_add_allocation(r, a[i].quantity, (const char *const *)a[i].keys,
                                         (const char *const *)a[i].values, a[i].ntags);
    if (rc != METER_OK) {
      rec_error_set(err, "invalid_value", "allocation", "%s", meter_record_errmsg(r));
      return rc;
    }
  }
  return METER_OK;
}

int cli_build_record(const cli_opts *flags, const rec_input *line, meter_record **out,
                     rec_error *err)
{
  *out = NULL;
  meter_record *r;
  int rc = meter_record_new(&r);
  if (rc != METER_OK) {
    rec_error_set(err, "internal", NULL, "cannot create a record: %s", meter_strerror(rc));
    return rc;
  }
  for (int f = 1; f < CLI_MAX_FIELDS; f++) {
    const char *v = flags->fields[f];
    size_t len = v ? strlen(v) : 0;
    if (!v && line && line->value[f]) {
      v = line->value[f];
      len = line->len[f];
    }
    if (!v)
      continue;
    rc = meter_record_setn(r, (meter_field)f, v, len);
    if (rc != METER_OK) {
      char field[32];
      field_of_message(meter_record_errmsg(r), field, sizeof field);
      rec_error_set(err, "invalid_value", field[0] ? field : meter_field_name((meter_field)f),
                    "%s", meter_record_errmsg(r));
      meter_record_free(r);
      return rc;
    }
  }
  if (flags->nallocs)
    rc = add_allocations(r, flags->allocs, flags->nallocs, err);
  else if (line)
    rc = add_allocations(r, line->allocs, line->nallocs, err);
  for (size_t pass = 0; pass < 2 && rc == METER_OK; pass++) {
    const cli_kv *kv = pass == 0 ? (line ? line->attrs : NULL) : flags->attrs;
    size_t n = pass == 0 ? (line ? line->nattrs : 0) : flags->nattrs;
    for (size_t i = 0; i < n && rc == METER_OK; i++)
      if ((rc = meter_record_set_attribute(r, kv[i].key, kv[i].value)) != METER_OK)
        rec_error_set(err, "invalid_value", "attribute", "attribute %.40s: %s", kv[i].key,
                      meter_record_errmsg(r)[0] ? meter_record_errmsg(r) : meter_strerror(rc));
  }
  if (rc != METER_OK) {
    meter_record_free(r);
    return rc;
  }
  *out = r;
  return METER_OK;
}
