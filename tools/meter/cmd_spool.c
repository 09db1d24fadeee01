/* Reliable mode from the shell: `meter send|batch --spool PATH [--deliver]`
 * store records durably (and optionally deliver them before exiting), and
 * `meter spool deliver|status|list|dead|retry|export --spool PATH` run the
 * sender on a spool or inspect it. Inspection needs no credentials. */
#include "cli.h"
#include "config.h"
#include "output.h"
#include "spool_submit.h"

#include <meter/reliable.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct cli_spooler {
  cli_opts *o;
  meter_spool *sp;
  uint64_t dead_before;
};

static int open_spool(cli_opts *o, meter_client *c, int no_sender, meter_spool **out)
{
  meter_spool_options so = METER_SPOOL_OPTIONS_INIT;
  so.path = o->spool;
  so.no_sender = no_sender;
  meter_error err;
  int rc = meter_spool_open(out, c, &so, &err);
  if (rc != METER_OK)
    return cli_fail(cli_exit_for_status(rc), "cannot open the spool %s: %s", o->spool,
                    err.message);
  return 0;
}

static int stats_of(meter_spool *sp, meter_spool_stats *st)
{
  meter_spool_stats init = METER_SPOOL_STATS_INIT;
  *st = init;
  return meter_spool_stats_get(sp, st);
}

int cli_spooler_open(cli_opts *o, meter_client *c, cli_spooler **out)
{
  *out = NULL;
  cli_spooler *s = calloc(1, sizeof *s);
  if (!s)
    return cli_fail(CLI_EXIT_INTERNAL, "out of memory");
  s->o = o;
  /* No background sender: without --deliver this process only stores;
   * with it, meter_flush sends on this thread. */
  int code = open_spool(o, c, 1, &s->sp);
  if (code) {
    free(s);
    return code;
  }
  meter_spool_stats st;
  if (stats_of(s->sp, &st) == METER_OK)
    s->dead_before = st.dead;
  *out = s;
  return 0;
}

static int submit_exit(int status)
{
  if (status == METER_ECONFLICT)
    return CLI_EXIT_REJECTED; /* late: stored as a dead letter */
  return cli_exit_for_status(status);
}

typedef struct late_match {
  meter_record *const *recs;
  size_t n;
  spool_outcome *outcomes;
} late_match;

static int mark_late(const meter_spool_item *item, void *payload)
{
  late_match *lm = payload;
  if (meter_spool_item_kind(item) != METER_SPOOL_LATE)
    return 0;
  const char *key = meter_spool_item_idempotency_key(item);
  for (size_t i = 0; key && i < lm->n; i++)
    if (strcmp(key, meter_record_get(lm->recs[i], METER_FIELD_IDEMPOTENCY_KEY)) == 0) {
      const char *msg = meter_spool_item_message(item);
      lm->outcomes[i].status = METER_ECONFLICT;
      snprintf(lm->outcomes[i].message, sizeof lm->outcomes[i].message, "%s",
               msg ? msg : "late for an hour already reported: kept as a dead letter");
    }
  return 0;
}

int cli_spooler_submit(cli_spooler *s, meter_record *const *recs, size_t n,
                       spool_outcome *outcomes)
{
  meter_error err;
  int rc = meter_submit_batch(s->sp, recs, n, &err);
  for (size_t i = 0; i < n; i++) {
    outcomes[i].status = rc == METER_ECONFLICT ? METER_OK : rc;
    snprintf(outcomes[i].message, sizeof outcomes[i].message, "%s",
             rc == METER_OK || rc == METER_ECONFLICT ? "" : err.message);
  }
  if (rc == METER_EINVAL) {
    /* All or nothing refused the lot: store the valid ones one by one so
     * that each invalid record is named by its own line. */
    for (size_t i = 0; i < n; i++) {
      int st = meter_submit(s->sp, recs[i], &err);
      outcomes[i].status = st;
      snprintf(outcomes[i].message, sizeof outcomes[i].message, "%s",
               st == METER_OK ? "" : err.message);
    }
  } else if (rc == METER_ECONFLICT) {
    late_match lm = { recs, n, outcomes };
    meter_spool_list(s->sp, METER_SPOOL_STATE_MASK(METER_SPOOL_DEAD), mark_late, &lm);
  }
  int code = 0;
  for (size_t i = 0; i < n; i++)
    code = cli_exit_worst(code, submit_exit(outcomes[i].status));
  return code;
}

void cli_spool_print(out_ctx *out, long index, const meter_record *rec, const spool_outcome *so)
{
  const char *outcome = so->status == METER_OK ? "spooled"
                        : so->status == METER_EINVAL ? "invalid"
                        : so->status == METER_ECONFLICT ? "dead" : "failed";
  const char *key = meter_record_get(rec, METER_FIELD_IDEMPOTENCY_KEY);
  if (out->json) {
    fprintf(out->f, "{\"%s\":%ld,\"idempotency_key\":", out->index_key, index);
    out_json_string(out->f, key);
    fprintf(out->f, ",\"outcome\":\"%s\",\"delivered\":false,\"record_id\":null,\"status\":",
            outcome);
    out_json_string(out->f, so->status == METER_OK ? NULL : meter_status_name(so->status));
    fputs(",\"http_status\":null,\"error_code\":", out->f);
    out_json_string(out->f, so->status == METER_OK ? NULL : meter_status_name(so->status));
    fputs(",\"field\":null,\"message\":", out->f);
    out_json_string(out->f, so->message[0] ? so->message : NULL);
    fputs(",\"attempts\":0,\"request_id\":null,\"status_path\":null}\n", out->f);
  } else if (out->vertical) {
    fprintf(out->f, "outcome          %s\nidempotency_key  %s\n", outcome, key);
    if (so->message[0])
      fprintf(out->f, "message          %s\n", so->message);
  } else {
    if (!out->header_done) {
      out->header_done = 1;
      fprintf(out->f, "%-6s %-10s %-36s %s\n", "LINE", "OUTCOME", "IDEMPOTENCY_KEY", "DETAIL");
    }
    fprintf(out->f, "%-6ld %-10s %-36s %s\n", index, outcome, key, so->message);
  }
}

/* What is left after a delivery, said on stderr; returns the exit status. */
static int report_left(meter_spool *sp, uint64_t dead_before, int flush_rc)
{
  meter_spool_stats st;
  if (stats_of(sp, &st) != METER_OK)
    return cli_exit_for_status(flush_rc);
  int code = 0;
  if (st.open)
    cli_msg("%llu hourly aggregate(s) wait for their hour to close; run meter spool deliver "
            "after that (or pass --flush-open-hours to report them now)",
            (unsigned long long)st.open);
  if (flush_rc == METER_ETIMEOUT || st.pending || st.sending) {
    cli_msg("not delivered yet: %llu entr%s pending%s%s (they stay in the spool and are resent "
            "with the same idempotency keys)", (unsigned long long)(st.pending + st.sending),
            st.pending + st.sending == 1 ? "y" : "ies", st.last_message[0] ? ": " : "",
            st.last_message);
    code = CLI_EXIT_TRANSIENT;
  } else if (flush_rc != METER_OK) {
    code = cli_fail(cli_exit_for_status(flush_rc), "delivery stopped: %s",
                    st.last_message[0] ? st.last_message : meter_strerror(flush_rc));
  }
  if (st.last_status == METER_EAUTH || st.last_status == METER_ECONFIG) {
    cli_msg("the marketplace refused the credentials: %s", st.last_message);
    code = cli_exit_worst(code, CLI_EXIT_CONFIG);
  }
  if (st.dead > dead_before) {
    cli_msg("%llu new dead letter(s): see meter spool dead --spool PATH",
            (unsigned long long)(st.dead - dead_before));
    code = cli_exit_worst(code, CLI_EXIT_REJECTED);
  }
  return code;
}

int cli_spooler_finish(cli_spooler *s)
{
  if (!s)
    return 0;
  int code = 0;
  if (s->o->deliver) {
    long wait = s->o->has_wait ? s->o->wait_ms : 60000;
    int rc = meter_flush(s->sp, wait, s->o->flush_open_hours ? METER_FLUSH_OPEN_HOURS : 0);
    code = report_left(s->sp, s->dead_before, rc);
  }
  meter_close(s->sp, 0, 0);
  free(s);
  return code;
}

/* ---- meter spool ... ----------------------------------------------------- */

static const char *const state_names[] = { "", "open", "pending", "sending", "delivered",
                                           "dead" };
static const char *const kind_names[] = { "", "record", "aggregate", "late" };

static int parse_states(const char *list, unsigned *mask)
{
  *mask = 0;
  if (!list)
    return 0;
  const char *p = list;
  while (*p) {
    size_t len = strcspn(p, ",");
    int found = 0;
    for (int s = METER_SPOOL_OPEN; s <= METER_SPOOL_DEAD; s++)
      if (strlen(state_names[s]) == len && strncmp(state_names[s], p, len) == 0) {
        *mask |= METER_SPOOL_STATE_MASK(s);
        found = 1;
      }
    if (!found)
      return cli_fail(CLI_EXIT_USAGE, "--state: unknown state \"%.*s\" (open, pending, sending, "
                      "delivered, dead)", (int)(len > 20 ? 20 : len), p);
    p += len;
    if (*p == ',')
      p++;
  }
  return 0;
}

static const char *time_text(int64_t us, char *buf, size_t size)
{
  if (us <= 0)
    return "-";
  time_t t = (time_t)(us / 1000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

typedef struct list_ctx {
  const cli_opts *o;
  long shown;
  int header;
} list_ctx;

static int print_item(const meter_spool_item *item, void *payload)
{
  list_ctx *lc = payload;
  if (lc->o->limit && lc->shown >= lc->o->limit)
    return 1;
  lc->shown++;
  if (lc->o->json) {
    printf("%s\n", meter_spool_item_json(item));
    return 0;
  }
  if (!lc->header) {
    lc->header = 1;
    printf("%-8s %-9s %-9s %-7s %-8s %-20s %-36s %s\n", "ID", "KIND", "STATE", "RECORDS",
           "ATTEMPTS", "TIME", "IDEMPOTENCY_KEY", "DETAIL");
  }
  meter_spool_state st = meter_spool_item_state(item);
  meter_spool_kind kind = meter_spool_item_kind(item);
  const char *code = meter_spool_item_error_code(item);
  const char *msg = meter_spool_item_message(item);
  const char *rid = meter_spool_item_record_id(item);
  char tbuf[32], detail[400] = "";
  if (code || msg)
    snprintf(detail, sizeof detail, "%s%s%s", code ? code : "", code && msg ? ": " : "",
             msg ? msg : "");
  else if (rid)
    snprintf(detail, sizeof detail, "record_id %s", rid);
  printf("%-8lld %-9s %-9s %-7llu %-8u %-20s %-36s %s\n", (long long)meter_spool_item_id(item),
         kind >= 1 && kind <= 3 ? kind_names[kind] : "?",
         st >= 1 && st <= 5 ? state_names[st] : "?",
         (unsigned long long)meter_spool_item_records(item), meter_spool_item_attempts(item),
         time_text(meter_spool_item_time_us(item), tbuf, sizeof tbuf),
         meter_spool_item_idempotency_key(item), detail);
  return 0;
}

static int write_stdout(const char *data, size_t length, void *payload)
{
  (void)payload;
  return fwrite(data, 1, length, stdout) == length ? 0 : 1;
}

static int spool_status(meter_spool *sp, const cli_opts *o)
{
  meter_spool_stats st;
  int rc = stats_of(sp, &st);
  if (rc != METER_OK)
    return cli_fail(cli_exit_for_status(rc), "cannot read the spool: %s", meter_strerror(rc));
  char tbuf[32];
  if (o->json) {
    printf("{\"path\":");
    out_json_string(stdout, o->spool);
    printf(",\"records_waiting\":%llu,\"bytes_waiting\":%llu,\"open\":%llu,\"pending\":%llu,"
           "\"sending\":%llu,\"dead\":%llu,\"records_dead\":%llu,\"delivered\":%llu,"
           "\"oldest_waiting\":", (unsigned long long)st.records_waiting,
           (unsigned long long)st.bytes_waiting, (unsigned long long)st.open,
           (unsigned long long)st.pending, (unsigned long long)st.sending,
           (unsigned long long)st.dead, (unsigned long long)st.records_dead,
           (unsigned long long)st.delivered);
    out_json_string(stdout, st.oldest_waiting_us ? time_text(st.oldest_waiting_us, tbuf,
                                                             sizeof tbuf) : NULL);
    printf("}\n");
    return 0;
  }
  printf("spool            %s\n", o->spool);
  printf("records_waiting  %llu\n", (unsigned long long)st.records_waiting);
  printf("bytes_waiting    %llu\n", (unsigned long long)st.bytes_waiting);
  printf("open             %llu\n", (unsigned long long)st.open);
  printf("pending          %llu\n", (unsigned long long)st.pending);
  printf("sending          %llu\n", (unsigned long long)st.sending);
  printf("dead             %llu (%llu records)\n", (unsigned long long)st.dead,
         (unsigned long long)st.records_dead);
  printf("delivered        %llu\n", (unsigned long long)st.delivered);
  printf("oldest_waiting   %s\n", time_text(st.oldest_waiting_us, tbuf, sizeof tbuf));
  return 0;
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
  (void)sig;
  stop_requested = 1;
}

/* Runs the sender until SIGINT/SIGTERM (or, with --until-empty, until
 * nothing sendable is left). */
static int spool_deliver(cli_opts *o)
{
  meter_client *c;
  int code = cli_client_new(o, &c);
  if (code)
    return code;
  meter_spool *sp;
  /* --until-empty: flush on this thread; else the background sender. */
  if ((code = open_spool(o, c, o->until_empty, &sp)) != 0) {
    cli_client_free(c);
    return code;
  }
  meter_spool_stats st;
  uint64_t dead_before = stats_of(sp, &st) == METER_OK ? st.dead : 0;
  unsigned flags = o->flush_open_hours ? METER_FLUSH_OPEN_HOURS : 0;
  int rc;
  if (o->until_empty) {
    rc = meter_flush(sp, o->has_wait ? o->wait_ms : -1, flags);
    code = report_left(sp, dead_before, rc);
  } else {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    cli_verbose(o, 1, "sender running on %s; stop with SIGINT or SIGTERM", o->spool);
    while (!stop_requested) {
      usleep(100000);
      if (o->verbose && stats_of(sp, &st) == METER_OK)
        cli_verbose(o, 2, "pending %llu, open %llu, dead %llu, delivered %llu",
                    (unsigned long long)st.pending, (unsigned long long)st.open,
                    (unsigned long long)st.dead, (unsigned long long)st.delivered);
    }
    cli_verbose(o, 1, "stopping: sending what is due for up to %ld ms",
                o->has_wait ? o->wait_ms : 10000L);
    rc = meter_flush(sp, o->has_wait ? o->wait_ms : 10000, flags);
    code = report_left(sp, dead_before, rc);
  }
  meter_close(sp, 0, 0);
  cli_client_free(c);
  return code;
}

int cmd_spool(cli_opts *o)
{
  const char *sub = strchr(o->command, ' ') ? strchr(o->command, ' ') + 1 : "";
  if (!o->spool)
    return cli_fail(CLI_EXIT_USAGE, "meter %s needs --spool PATH", o->command);
  if (strcmp(sub, "deliver") == 0) {
    if (o->nargs)
      return cli_fail(CLI_EXIT_USAGE, "meter spool deliver takes no arguments");
    return spool_deliver(o);
  }
  unsigned mask = 0;
  int code = parse_states(o->states, &mask);
  if (code)
    return code;
  if (strcmp(sub, "retry") == 0 ? o->nargs > 1 : o->nargs > 0)
    return cli_fail(CLI_EXIT_USAGE, "meter %s: unexpected argument \"%.40s\"", o->command,
                    o->args[o->nargs - 1]);

  /* Inspection: no client, no credentials. */
  meter_spool *sp;
  if ((code = open_spool(o, NULL, 1, &sp)) != 0)
    return code;
  int rc = METER_OK;
  if (strcmp(sub, "status") == 0) {
    code = spool_status(sp, o);
  } else if (strcmp(sub, "list") == 0 || strcmp(sub, "dead") == 0) {
    list_ctx lc = { o, 0, 0 };
    rc = meter_spool_list(sp, strcmp(sub, "dead") == 0 ? METER_SPOOL_STATE_MASK(METER_SPOOL_DEAD)
                                                       : mask, print_item, &lc);
    if (!o->json && lc.shown == 0)
      cli_msg("no entries");
  } else if (strcmp(sub, "export") == 0) {
    rc = meter_spool_export(sp, mask, write_stdout, NULL);
  } else if (strcmp(sub, "retry") == 0) {
    size_t n = 0;
    const char *key = o->nargs ? o->args[0] : NULL;
    rc = meter_spool_retry_dead(sp, key, &n);
    if (rc == METER_ENOTFOUND) {
      code = cli_fail(CLI_EXIT_USAGE, "%s is not a dead letter in %s", key, o->spool);
      rc = METER_OK;
    } else if (rc == METER_OK) {
      if (o->json)
        printf("{\"requeued\":%zu}\n", n);
      else
        printf("requeued %zu dead letter(s); deliver them with: meter spool deliver --spool %s "
               "--until-empty\n", n, o->spool);
    }
  }
  if (rc != METER_OK) {
    char detail[METER_ERROR_MESSAGE_SIZE] = "";
    meter_spool_last_error(sp, detail, sizeof detail);
    code = cli_fail(cli_exit_for_status(rc), "%s: %s", meter_strerror(rc), detail);
  }
  meter_close(sp, 0, 0);
  return code;
}
