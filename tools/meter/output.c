/* Results on stdout. The --json keys are a contract (docs/cli.md):
 * line|index, idempotency_key, outcome, delivered, record_id, status,
 * http_status, error_code, field, message, attempts, request_id, status_path.
 * Absent values are null, never omitted, so every line has the same shape. */
#include "output.h"

#include <string.h>

void out_json_stringn(FILE *f, const char *s, size_t len)
{
  if (!s) {
    fputs("null", f);
    return;
  }
  fputc('"', f);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    default:
      if (c < 0x20 || c == 0x7f)
        fprintf(f, "\\u%04x", c);
      else
        fputc(c, f);
    }
  }
  fputc('"', f);
}

void out_json_string(FILE *f, const char *s)
{
  out_json_stringn(f, s, s ? strlen(s) : 0);
}

static void json_key(FILE *f, const char *k, int first)
{
  if (!first)
    fputc(',', f);
  out_json_string(f, k);
  fputc(':', f);
}

static const char *or_dash(const char *s)
{
  return s && *s ? s : "-";
}

static void table_header(out_ctx *o)
{
  if (o->header_done)
    return;
  o->header_done = 1;
  fprintf(o->f, "%-6s %-10s %-4s %-36s %-36s %s\n", o->index_key[0] == 'l' ? "LINE" : "#",
          "OUTCOME", "HTTP", "RECORD_ID", "IDEMPOTENCY_KEY", "DETAIL");
}

static const char *outcome_name(const out_ctx *o, meter_outcome oc)
{
  return o->validated && oc == METER_OUTCOME_PENDING ? "valid" : meter_outcome_name(oc);
}

void out_result(out_ctx *o, long index, const meter_results *res, size_t i)
{
  meter_outcome oc = meter_results_outcome(res, i);
  const char *key = meter_results_idempotency_key(res, i);
  const char *rid = meter_results_record_id(res, i);
  const char *status = meter_results_status(res, i);
  const char *code = meter_results_error_code(res, i);
  const char *field = meter_results_field(res, i);
  const char *msg = meter_results_message(res, i);
  const char *req = meter_results_request_id(res, i);
  const char *path = meter_results_status_path(res, i);
  int http = meter_results_http_status(res, i);
  unsigned attempts = meter_results_attempts(res, i);

  if (o->json) {
    FILE *f = o->f;
    fputc('{', f);
    json_key(f, o->index_key, 1);
    fprintf(f, "%ld", index);
    json_key(f, "idempotency_key", 0);
    out_json_string(f, key);
    json_key(f, "outcome", 0);
    out_json_string(f, outcome_name(o, oc));
    json_key(f, "delivered", 0);
    fputs(meter_outcome_delivered(oc) ? "true" : "false", f);
    json_key(f, "record_id", 0);
    out_json_string(f, rid);
    json_key(f, "status", 0);
    out_json_string(f, status);
    json_key(f, "http_status", 0);
    if (http)
      fprintf(f, "%d", http);
    else
      fputs("null", f);
    json_key(f, "error_code", 0);
    out_json_string(f, code);
    json_key(f, "field", 0);
    out_json_string(f, field);
    json_key(f, "message", 0);
    out_json_string(f, msg);
    json_key(f, "attempts", 0);
    fprintf(f, "%u", attempts);
    json_key(f, "request_id", 0);
    out_json_string(f, req);
    json_key(f, "status_path", 0);
    out_json_string(f, path);
    fputs("}\n", f);
    return;
  }
  if (o->vertical) {
    FILE *f = o->f;
    fprintf(f, "outcome          %s\n", outcome_name(o, oc));
    fprintf(f, "idempotency_key  %s\n", or_dash(key));
    fprintf(f, "record_id        %s\n", or_dash(rid));
    fprintf(f, "status           %s\n", or_dash(status));
    if (http)
      fprintf(f, "http_status      %d\n", http);
    else
      fprintf(f, "http_status      -\n");
    fprintf(f, "attempts         %u\n", attempts);
    if (req)
      fprintf(f, "request_id       %s\n", req);
    if (path)
      fprintf(f, "status_path      %s\n", path);
    if (code)
      fprintf(f, "error_code       %s\n", code);
    if (field)
      fprintf(f, "field            %s\n", field);
    if (msg)
      fprintf(f, "message          %s\n", msg);
    return;
  }
  table_header(o);
  char http_s[8] = "-";
  if (http)
    snprintf(http_s, sizeof http_s, "%d", http);
  char detail[512] = "";
  if (code || msg)
    snprintf(detail, sizeof detail, "%s%s%s", code ? code : "", code && msg ? ": " : "",
             msg ? msg : "");
  else if (status)
    snprintf(detail, sizeof detail, "status %s", status);
  fprintf(o->f, "%-6ld %-10s %-4s %-36s %-36s %s\n", index, outcome_name(o, oc), http_s,
          or_dash(rid), or_dash(key), detail);
}

void out_bad_line(out_ctx *o, long index, const rec_error *e)
{
  if (o->json) {
    FILE *f = o->f;
    fputc('{', f);
    json_key(f, o->index_key, 1);
    fprintf(f, "%ld", index);
    json_key(f, "idempotency_key", 0);
    fputs("null", f);
    json_key(f, "outcome", 0);
    out_json_string(f, "invalid");
    json_key(f, "delivered", 0);
    fputs("false", f);
    json_key(f, "record_id", 0);
    fputs("null", f);
    json_key(f, "status", 0);
    fputs("null", f);
    json_key(f, "http_status", 0);
    fputs("null", f);
    json_key(f, "error_code", 0);
    out_json_string(f, e->code);
    json_key(f, "field", 0);
    out_json_string(f, e->field[0] ? e->field : NULL);
    json_key(f, "message", 0);
    out_json_string(f, e->message);
    json_key(f, "attempts", 0);
    fputs("0", f);
    json_key(f, "request_id", 0);
    fputs("null", f);
    json_key(f, "status_path", 0);
    fputs("null", f);
    fputs("}\n", f);
    return;
  }
  if (o->vertical) {
    fprintf(o->f, "outcome          invalid\nerror_code       %s\n", e->code);
    if (e->field[0])
      fprintf(o->f, "field            %s\n", e->field);
    fprintf(o->f, "message          %s\n", e->message);
    return;
  }
  table_header(o);
  fprintf(o->f, "%-6ld %-10s %-4s %-36s %-36s %s: %s\n", index, "invalid", "-", "-", "-", e->code,
          e->message);
}

void out_tally_add(out_tally *t, meter_outcome oc)
{
  switch (oc) {
  case METER_OUTCOME_ACCEPTED: t->accepted++; break;
  case METER_OUTCOME_DUPLICATE: t->duplicate++; break;
  case METER_OUTCOME_REJECTED: t->rejected++; break;
  case METER_OUTCOME_CONFLICT: t->conflict++; break;
  case METER_OUTCOME_FAILED: t->failed++; break;
  case METER_OUTCOME_INVALID: t->invalid++; break;
  default: t->pending++; break;
  }
}

long out_tally_total(const out_tally *t)
{
  return t->accepted + t->duplicate + t->rejected + t->conflict + t->failed + t->invalid +
         t->pending + t->bad_lines + t->spooled + t->dead + t->valid;
}
