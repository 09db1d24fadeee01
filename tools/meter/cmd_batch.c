/* meter batch: JSON lines from --file or stdin, sent in chunks (1000 records
 * per meter_send by default) so memory stays flat however long the input.
 * A bad line is reported with its number and the others still go; results
 * are printed in line order. */
#include "cli.h"
#include "config.h"
#include "jsonl.h"
#include "output.h"
#include "record_build.h"
#include "spool_submit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CHUNK 1000

typedef struct entry {
  long line;
  meter_record *rec;   /* NULL: a bad line, see err */
  rec_error err;
} entry;

typedef struct batch_run {
  cli_opts *o;
  meter_client *client;
  cli_spooler *spooler;
  out_ctx out;
  entry *entries;
  size_t n, cap;
  meter_record **recs;
  spool_outcome *spooled;
  out_tally tally;
  long lines;
  int exit_code;
  int stop;            /* credentials failed: reading more lines is pointless */
  int progress;
  double started;
  long first_bad_line;
  char first_bad[sizeof(((rec_error *)0)->message)];
} batch_run;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void show_progress(batch_run *b, int final)
{
  if (!b->progress)
    return;
  double dt = now_s() - b->started;
  long sent = out_tally_total(&b->tally) - b->tally.bad_lines - b->tally.invalid;
  fprintf(stderr, "\rmeter batch: %ld lines, %ld records %s (%.0f/s), %ld failed, %ld bad%s",
          b->lines, sent, b->spooler ? "spooled" : "sent", dt > 0 ? (double)sent / dt : 0.0,
          b->tally.failed + b->tally.rejected + b->tally.conflict,
          b->tally.bad_lines + b->tally.invalid, final ? "\n" : "");
  fflush(stderr);
}

static void note_bad(batch_run *b, long line, const rec_error *e)
{
  b->tally.bad_lines++;
  b->exit_code = cli_exit_worst(b->exit_code, CLI_EXIT_USAGE);
  if (!b->first_bad_line) {
    b->first_bad_line = line;
    snprintf(b->first_bad, sizeof b->first_bad, "%s", e->message);
  }
  /* In table mode the result row says it; on stderr too, for `> results`. */
  if (b->o->json || !isatty(STDOUT_FILENO))
    cli_msg("line %ld: %s", line, e->message);
}

/* Spools the chunk's m records; prints every entry in line order. */
static void spool_chunk(batch_run *b, size_t m)
{
  if (m) {
    int code = cli_spooler_submit(b->spooler, b->recs, m, b->spooled);
    b->exit_code = cli_exit_worst(b->exit_code, code);
    if (code == CLI_EXIT_INTERNAL)
      b->stop = 1;
  }
  size_t k = 0;
  for (size_t i = 0; i < b->n; i++) {
    entry *e = &b->entries[i];
    if (!e->rec) {
      out_bad_line(&b->out, e->line, &e->err);
      continue;
    }
    const spool_outcome *so = &b->spooled[k++];
    cli_spool_print(&b->out, e->line, e->rec, so);
    if (so->status == METER_OK)
      b->tally.spooled++;
    else if (so->status == METER_EINVAL)
      b->tally.invalid++;
    else if (so->status == METER_ECONFLICT)
      b->tally.dead++;
    else
      b->tally.failed++;
  }
}

/* Sends (or validates) the chunk's m records; prints every entry in line
 * order; stops the batch when the credentials failed. */
static void send_chunk(batch_run *b, size_t m)
{
  meter_results *res = NULL;
  int rc = METER_OK;
  if (m) {
    rc = b->o->validate_only ? meter_validate(b->client, b->recs, m, &res)
                             : meter_send(b->client, b->recs, m, &res);
    b->exit_code = cli_exit_worst(b->exit_code, cli_exit_for_status(rc));
  }
  char detail[METER_ERROR_MESSAGE_SIZE] = "";
  if (rc != METER_OK)
    meter_client_last_error(b->client, detail, sizeof detail);
  if (m && !res) {
    cli_msg("lines %ld-%ld: %s: %s", b->entries[0].line, b->entries[b->n - 1].line,
            meter_strerror(rc), detail);
    b->stop = 1;
  }
  size_t k = 0;
  for (size_t i = 0; i < b->n; i++) {
    entry *e = &b->entries[i];
    if (!e->rec) {
      out_bad_line(&b->out, e->line, &e->err);
      continue;
    }
    if (res) {
      meter_outcome oc = meter_results_outcome(res, k);
      if (b->o->validate_only && oc == METER_OUTCOME_PENDING)
        b->tally.valid++;
      else
        out_tally_add(&b->tally, oc);
      out_result(&b->out, e->line, res, k);
    }
    k++;
  }
  if (res && (rc == METER_ECONFIG || rc == METER_EAUTH)) {
    cli_msg("stopping after line %ld: %s; the lines after it were not read", b->lines,
            detail[0] ? detail : meter_strerror(rc));
    b->stop = 1;
  }
  meter_results_free(res);
}

/* Sends (or spools) the records of the chunk and prints every entry. */
static void flush_chunk(batch_run *b)
{
  size_t m = 0;
  for (size_t i = 0; i < b->n; i++)
    if (b->entries[i].rec) {
      b->recs[m++] = b->entries[i].rec;
    }
  if (b->spooler)
    spool_chunk(b, m);
  else
    send_chunk(b, m);
  for (size_t i = 0; i < b->n; i++)
    meter_record_free(b->entries[i].rec);
  b->n = 0;
  fflush(b->out.f);
  show_progress(b, 0);
}

static void add_line(batch_run *b, const char *text, size_t len)
{
  entry *e = &b->entries[b->n];
  e->line = b->lines;
  e->rec = NULL;
  rec_input in;
  void *storage = NULL;
  if (jsonl_parse_line(text, len, &in, &storage, &e->err) == 0 &&
      cli_build_record(b->o, &in, &e->rec, &e->err) == METER_OK) {
    /* a record */
  } else {
    e->rec = NULL;
    note_bad(b, e->line, &e->err);
  }
  rec_input_dispose(&in);
  jsonl_storage_free(storage);
  b->n++;
}

static int blank(const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (s[i] != ' ' && s[i] != '\t')
      return 0;
  return 1;
}

static void summary(batch_run *b)
{
  const out_tally *t = &b->tally;
  if (b->spooler) {
    cli_msg("batch: %ld lines: %ld records spooled, %ld dead letters (late), %ld invalid, "
            "%ld not stored, %ld bad lines%s", b->lines, t->spooled, t->dead, t->invalid,
            t->failed, t->bad_lines, b->stop ? " (stopped early)" : "");
  } else if (b->o->validate_only) {
    cli_msg("batch: %ld lines: %ld valid, %ld invalid", b->lines, t->valid,
            t->invalid + t->bad_lines);
  } else {
    cli_msg("batch: %ld lines: %ld delivered (%ld accepted, %ld duplicate), %ld rejected, "
            "%ld conflict, %ld failed, %ld invalid, %ld bad lines%s", b->lines,
            t->accepted + t->duplicate, t->accepted, t->duplicate, t->rejected, t->conflict,
            t->failed + t->pending, t->invalid, t->bad_lines,
            b->stop ? " (stopped early)" : "");
    if (t->failed + t->pending)
      cli_msg("failed records are safe to resend with the same idempotency_key (in the "
              "results): put it in their lines and run meter batch again");
  }
  if (b->first_bad_line)
    cli_msg("first bad line: %ld: %s", b->first_bad_line, b->first_bad);
}

int cmd_batch(cli_opts *o)
{
  if (o->nargs)
    return cli_fail(CLI_EXIT_USAGE, "meter batch takes no arguments, got \"%.40s\" (read a "
                    "file with --file F; see meter batch --help)", o->args[0]);
  if (o->deliver && !o->spool)
    return cli_fail(CLI_EXIT_USAGE, "--deliver goes with --spool PATH");
  if (o->spool && o->validate_only)
    return cli_fail(CLI_EXIT_USAGE, "--validate-only does not go with --spool");

  FILE *in = stdin;
  if (o->file && strcmp(o->file, "-") != 0) {
    in = fopen(o->file, "r");
    if (!in)
      return cli_fail(CLI_EXIT_USAGE, "cannot read %s: %s", o->file, strerror(errno));
  }

  batch_run b;
  memset(&b, 0, sizeof b);
  b.o = o;
  b.cap = o->chunk > 0 ? (size_t)o->chunk : DEFAULT_CHUNK;
  b.out = (out_ctx){ stdout, o->json, 0, "line", o->validate_only, 0 };
  b.progress = o->progress < 0 ? isatty(STDERR_FILENO) : o->progress;
  b.started = now_s();
  int code = cli_client_new(o, &b.client);
  if (code == 0 && o->spool)
    code = cli_spooler_open(o, b.client, &b.spooler);
  if (code) {
    if (in != stdin)
      fclose(in);
    cli_client_free(b.client);
    return code;
  }
  b.entries = calloc(b.cap, sizeof *b.entries);
  b.recs = calloc(b.cap, sizeof *b.recs);
  b.spooled = calloc(b.cap, sizeof *b.spooled);
  if (!b.entries || !b.recs || !b.spooled) {
    code = cli_fail(CLI_EXIT_INTERNAL, "out of memory");
    goto done;
  }

  line_reader lr = { in, NULL, 0, 0 };
  size_t len;
  int st;
  while (!b.stop && (st = line_next(&lr, &len)) != LINE_END) {
    if (st == LINE_ERROR) {
      code = cli_fail(CLI_EXIT_USAGE, "reading %s: %s", o->file ? o->file : "stdin",
                      strerror(errno));
      break;
    }
    b.lines = lr.lineno;
    if (st == LINE_TOO_LONG) {
      entry *e = &b.entries[b.n++];
      e->line = b.lines;
      e->rec = NULL;
      rec_error_set(&e->err, "too_long", NULL, "line longer than %d bytes", JSONL_MAX_LINE);
      note_bad(&b, e->line, &e->err);
    } else if (!blank(lr.buf, len)) {
      add_line(&b, lr.buf, len);
    }
    if (b.n == b.cap)
      flush_chunk(&b);
  }
  if (b.n && !b.stop)
    flush_chunk(&b);
  for (size_t i = 0; i < b.n; i++) /* left over after a stop */
    meter_record_free(b.entries[i].rec);
  line_reader_dispose(&lr);
  show_progress(&b, 1);
  if (!b.stop && b.spooler) {
    code = cli_exit_worst(code, cli_spooler_finish(b.spooler));
    b.spooler = NULL;
  }
  summary(&b);
  code = cli_exit_worst(code, b.exit_code);

done:
  cli_spooler_finish(b.spooler);
  free(b.entries);
  free(b.recs);
  free(b.spooled);
  cli_client_free(b.client);
  if (in != stdin)
    fclose(in);
  return code;
}
