/* The help texts. docs/cli.md carries the same text (a test checks that
 * every `meter ... --help` appears there verbatim), so edit both together. */
#include "help.h"

#include "config.h"

#include <string.h>

static const char usage_all[] =
  "meter - report usage to cloud marketplaces (Tackle, AppDirect, AWS) with libmeter\n"
  "\n"
  "Usage:\n"
  "  meter send   --backend tackle|appdirect|aws [record flags] [options]\n"
  "  meter batch  --backend B [--file F] [record flags] [options]  (JSON lines; stdin without --file)\n"
  "  meter list   [filters]               tackle: the usage records Tackle holds\n"
  "  meter get ID                         tackle: one usage record\n"
  "  meter status REQUEST_ID [--wait]     appdirect: processing status of a usage request\n"
  "  meter resolve-customer TOKEN         aws: registration token -> customer\n"
  "  meter spool deliver|status|list|dead|retry|export --spool PATH\n"
  "  meter help [COMMAND | config]        the help of a command; the configuration reference\n"
  "  meter --version\n";

static const char exit_block[] =
  "Exit status:\n"
  "  0  every record delivered (accepted, or a duplicate of one already recorded)\n"
  "  1  some record rejected by the marketplace (or in conflict, or not found)\n"
  "  2  bad input or usage (a bad flag, an invalid record, a bad line in a batch)\n"
  "  3  not delivered after retries (network, 5xx, throttling, timeout): safe to resend\n"
  "     with the same idempotency key\n"
  "  4  configuration or credentials (a missing setting, credentials refused)\n"
  "  5  local failure (out of memory, spool storage)\n"
  "  When several apply, the highest wins: 5 > 4 > 3 > 2 > 1 > 0.\n";

static const char client_block[] =
  "Client options:\n"
  "  -b, --backend NAME       tackle, appdirect or aws (else $METER_BACKEND, else [meter] backend)\n"
  "  --endpoint URL           marketplace base URL: the sandbox, a proxy, FIPS/China endpoints\n"
  "                           (else $METER_ENDPOINT, else endpoint in the config file)\n"
  "  --config FILE            config file (else $METER_CONFIG, else ~/.config/meter/config)\n"
  "  --set NAME=VALUE         a back-end setting by its name (repeatable); see meter help config\n"
  "  --client-id, --client-secret, --access-token, --base-url, --scope, --region, --profile, ...\n"
  "                           back-end settings by flag; see meter help config\n"
  "  --max-attempts N         attempts per request, the first included (default 5)\n"
  "  --deadline-ms MS         bound on one request with its retries (default 60000)\n"
  "  --timeout-ms MS          one HTTP request (default 30000)\n"
  "  --connect-timeout-ms MS  connecting (default 10000)\n"
  "  --backoff-base-ms MS     the first retry waits up to this (default 100)\n"
  "  --backoff-max-ms MS      cap of one backoff (default 20000)\n"
  "  --retry-budget N         retry tokens shared by the run (default 500; 0: no budget)\n"
  "  --ca-bundle FILE         trusted CAs (PEM) instead of the system store\n"
  "  --insecure               do not verify TLS certificates (a local sandbox only)\n"
  "  --json                   one JSON object per result on stdout\n"
  "  -v, --verbose            log to stderr (-vv: debug); secrets are never shown\n"
  "  -h, --help               this help\n";

static const char record_block[] =
  "Record flags (their snake_case names are the keys of batch lines):\n"
  "  --product ID             product code / id\n"
  "  --customer ID            customer id\n"
  "  --dimension NAME         usage dimension\n"
  "  --quantity Q             non-negative exact decimal, e.g. 42 or 12.5\n"
  "  --time T                 usage time, ISO-8601 / RFC 3339 in UTC (default: now)\n"
  "  --idempotency-key KEY    1-64 printable characters, the same on every resend\n"
  "                           (default: a new UUID)\n"
  "  Tackle:    --cloud aws|azure|gcp (default aws), --method put|post,\n"
  "             --test accepted|rejected|not-operable (a test record, never billed),\n"
  "             --subscription-id ID, --scheduled-at T, --end-time T and --consumer-id ID (GCP)\n"
  "  AWS:       --dry-run[=true|false], --customer-account-id ID, --license-arn ARN,\n"
  "             --allocation QTY:key=value,... (repeatable; the allocations sum to the quantity)\n"
  "  AppDirect: --account ID, --pricing-unit UNIT (preconfigured usage)\n"
  "             or --custom-unit NAME --price P --currency CUR (custom usage),\n"
  "             --description TEXT, --pricing-model MODEL, --attribute KEY=VALUE (repeatable)\n";

static const char send_text[] =
  "meter send - send one usage record and print its result\n"
  "\n"
  "Usage: meter send --backend tackle|appdirect|aws [record flags] [options]\n"
  "\n"
  "  --validate-only          check the record with the back end's rules; send nothing\n"
  "  --spool PATH             store the record durably in the spool PATH instead (reliable mode)\n"
  "  --deliver                with --spool: also deliver what is due before exiting\n"
  "  --wait-ms MS             with --deliver: wait at most this long (default 60000; -1: no limit)\n"
  "  --flush-open-hours       with --deliver: also report hours that have not closed yet\n"
  "\n"
  "Output: the result (outcome, idempotency_key, record_id, status, http_status, attempts,\n"
  "request_id, status_path, error_code, field, message), or one JSON object with --json.\n"
  "A record that was not delivered is safe to resend with --idempotency-key KEY.\n"
  "\n"
  "Examples:\n"
  "  meter send --backend tackle --product prod-1 --customer cust-1 --dimension users \\\n"
  "      --quantity 42 --time 2026-01-01T10:00:00Z\n"
  "  meter send --backend aws --product abc123 --customer-account-id 111122223333 \\\n"
  "      --dimension gb --quantity 12 --allocation 8:team=red --allocation 4:team=blue\n"
  "  meter send --backend appdirect --account acc-1 --pricing-unit USER --quantity 3 --json\n"
  "  meter send -b tackle --endpoint http://127.0.0.1:8080 --test accepted \\\n"
  "      --product p1 --customer c1 --dimension users --quantity 1   (meter-sandbox)\n";

static const char batch_text[] =
  "meter batch - send records from JSON lines, one record per line\n"
  "\n"
  "Usage: meter batch --backend B [--file F] [record flags] [options]  (stdin without --file)\n"
  "\n"
  "Each line is a JSON object whose keys are the record flags' names in snake_case:\n"
  "  {\"customer\": \"c1\", \"dimension\": \"users\", \"quantity\": 3, \"time\": \"2026-01-01T10:00:00Z\"}\n"
  "- quantity and price: a JSON number, kept exactly as written (never through a double),\n"
  "  or a string; a number that cannot be kept exact is refused: pass it as a string;\n"
  "- allocation: \"8:team=red\" or a list of those or of {\"quantity\": 8, \"tags\": {\"team\": \"red\"}};\n"
  "- attribute: {\"key\": \"value\"} (AppDirect); null means \"not given\"; blank lines are skipped.\n"
  "Flags given on the command line apply to every line and win over the line's value\n"
  "(so --dry-run or --test accepted make a whole file a trial); --idempotency-key is\n"
  "refused (it would give every line the same key).\n"
  "\n"
  "A bad line (malformed JSON, unknown key, invalid value) is reported with its line number\n"
  "and the other lines are still sent, in chunks of --chunk records per meter_send.\n"
  "\n"
  "  -f, --file FILE          read this file (\"-\": stdin)\n"
  "  --chunk N                records per chunk (default 1000)\n"
  "  --progress, --no-progress  progress on stderr (default: when stderr is a terminal)\n"
  "  --validate-only, --spool PATH, --deliver, --wait-ms MS, --flush-open-hours: as for send\n"
  "\n"
  "Output: one result per line, in line order (a table, or --json objects with \"line\"),\n"
  "and a summary on stderr. Exit status: the most serious over all lines. A bad line gives 2\n"
  "unless a record was not delivered (3) or the credentials failed (4: the batch stops there).\n"
  "\n"
  "Examples:\n"
  "  meter batch --backend aws --product abc123 --file usage.jsonl --json > results.jsonl\n"
  "  jq -c '.events[]' events.json | meter batch -b tackle --product prod-1\n";

static const char list_text[] =
  "meter list - list the usage records Tackle holds (tackle back end)\n"
  "\n"
  "Usage: meter list [filters] [--limit N] [options]\n"
  "\n"
  "Filters (repeatable ones match any of their values):\n"
  "  --product ID, --customer ID, --dimension NAME, --subscription-id ID   (repeatable)\n"
  "  --start-after T, --start-before T           start_time range\n"
  "  --scheduled-after T, --scheduled-before T   scheduled_at range\n"
  "  --quantity Q                                only this quantity\n"
  "  --include-tests[=true|false]                test records (Tackle's default: true)\n"
  "  --include-zeros[=true|false]                zero quantities (Tackle's default: false)\n"
  "  --page-size N, --page-token TOKEN           page size; resume from a saved page\n"
  "  --limit N                                   stop after N records\n"
  "\n"
  "Output: a table, or with --json each record exactly as Tackle sent it, one per line.\n"
  "\n"
  "Example:\n"
  "  meter list --customer cust-1 --start-after 2026-01-01T00:00:00Z --json\n";

static const char get_text[] =
  "meter get - show one usage record Tackle holds (tackle back end)\n"
  "\n"
  "Usage: meter get ID [options]\n"
  "\n"
  "Output: the record's fields, or with --json the record exactly as Tackle sent it.\n"
  "Exit status 1 when Tackle has no record ID.\n"
  "\n"
  "Example:\n"
  "  meter get fe65c5a9-8d4c-4686-ae2d-c1f7804f4a62\n";

static const char status_text[] =
  "meter status - processing status of an AppDirect usage request (appdirect back end)\n"
  "\n"
  "Usage: meter status REQUEST_ID [--wait [--timeout-s S]] [options]\n"
  "\n"
  "REQUEST_ID is the request_id or the status_path that meter send printed. AppDirect\n"
  "accepts usage first (HTTP 202) and rates it later: the status says which events failed.\n"
  "  --wait                   poll until the status is final (successful, failed, ready)\n"
  "  --timeout-s S            with --wait: give up after S seconds (default 60)\n"
  "\n"
  "Output: request_id, idempotency_key, state, total_count, processed_count, failed_count\n"
  "and the failed usages (account, event, error code, description); --json: one object.\n"
  "Exit status: 0 processing, successful or ready; 1 failed (some events refused, e.g.\n"
  "BAD_DATA) or no such request; 3 still processing when --wait's timeout passed.\n"
  "\n"
  "Example:\n"
  "  meter status db0879f1-7a61-4ea3-91ff-4c18047b76fa --wait\n";

static const char resolve_text[] =
  "meter resolve-customer - exchange an AWS Marketplace registration token for the customer\n"
  "\n"
  "Usage: meter resolve-customer TOKEN [options]   (TOKEN \"-\": read it from stdin)\n"
  "\n"
  "TOKEN is the x-amzn-marketplace-token form field a buyer's browser posts to the\n"
  "product's registration URL; call it with the seller account's credentials. A token\n"
  "on the command line is visible to other local users (ps): prefer \"-\" and stdin.\n"
  "Output: customer_identifier, customer_aws_account_id, product_code, license_arn,\n"
  "request_id (--json: one object). Exit status 1 when AWS refuses the token\n"
  "(InvalidTokenException, ExpiredTokenException).\n"
  "\n"
  "Example:\n"
  "  meter resolve-customer \"$TOKEN\" --region us-east-1 --json\n";

static const char spool_text[] =
  "meter spool - reliable mode: run the sender on a spool, or inspect it\n"
  "\n"
  "Usage:\n"
  "  meter spool deliver --spool PATH [--until-empty] [--wait-ms MS] [--flush-open-hours]\n"
  "  meter spool status  --spool PATH [--json]\n"
  "  meter spool list    --spool PATH [--state S,...] [--limit N] [--json]\n"
  "  meter spool dead    --spool PATH [--limit N] [--json]\n"
  "  meter spool retry   --spool PATH [IDEMPOTENCY_KEY]\n"
  "  meter spool export  --spool PATH [--state S,...]\n"
  "\n"
  "Records get into a spool with meter send|batch --spool PATH (add --deliver to send them\n"
  "before exiting). A spool keeps each record's idempotency key, so a resend after a crash\n"
  "is recognised by the marketplace; hourly totals are sent once their hour has closed.\n"
  "\n"
  "  deliver  runs the sender until SIGINT/SIGTERM, then sends what is due for up to\n"
  "           --wait-ms (default 10000); with --until-empty it stops once nothing sendable\n"
  "           is left (waiting at most --wait-ms if given). Hours still open wait for\n"
  "           their hour to close, unless --flush-open-hours. Needs the client options.\n"
  "  status   counts: records waiting, open hours, pending, sending, dead, delivered\n"
  "  list     entries oldest first; --state open,pending,sending,delivered,dead\n"
  "  dead     dead letters with the reason (refused, too old, late for a reported hour)\n"
  "  retry    requeues the dead letter with this idempotency key, or all of them\n"
  "  export   every entry as one JSON line (the record as sent, its state and reason)\n"
  "Only deliver needs credentials; the others read the spool file.\n"
  "\n"
  "Exit status of deliver: 0 nothing sendable left; 1 new dead letters; 3 entries still\n"
  "pending (the marketplace is down: they stay spooled); 4 credentials refused.\n"
  "\n"
  "Example:\n"
  "  meter batch -b aws --product abc123 --file usage.jsonl --spool /var/lib/meter/spool\n"
  "  meter spool deliver --spool /var/lib/meter/spool --until-empty\n";

static const char config_text[] =
  "meter configuration - flags, then the environment, then the config file\n"
  "\n"
  "Every setting is taken from its flag if given, else from its environment variable, else\n"
  "from the config file. The config file is --config FILE, else $METER_CONFIG, else\n"
  "$XDG_CONFIG_HOME/meter/config, else ~/.config/meter/config (optional). It is INI-like:\n"
  "  # a comment\n"
  "  [meter]\n"
  "  backend = tackle\n"
  "  max_attempts = 8\n"
  "  [tackle]\n"
  "  client_id = my-id\n"
  "  client_secret = my-secret\n"
  "  endpoint = http://127.0.0.1:8080\n"
  "Keep a file holding secrets private (chmod 600): meter warns when group or others can\n"
  "read it. [meter] keys: backend, endpoint, max_attempts, deadline_ms, timeout_ms,\n"
  "connect_timeout_ms, backoff_base_ms, backoff_max_ms, retry_budget, ca_bundle.\n"
  "A back end's section takes its settings (below) and endpoint.\n"
  "\n"
  "Environment: METER_BACKEND, METER_ENDPOINT, METER_CONFIG, and the variables below.\n"
  "AWS: the library itself reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n"
  "AWS_SESSION_TOKEN, AWS_PROFILE, AWS_REGION, AWS_DEFAULT_REGION, ~/.aws/config and\n"
  "~/.aws/credentials (the default credential chain); when one of these variables is set,\n"
  "the matching keys of the config file are ignored (the environment outranks the file).\n"
  "\n";

static const char *text_of(const char *command)
{
  static const struct {
    const char *name;
    const char *text;
  } texts[] = {
    { "send", send_text }, { "batch", batch_text }, { "list", list_text }, { "get", get_text },
    { "status", status_text }, { "resolve-customer", resolve_text }, { "spool", spool_text },
    { "config", config_text },
  };
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
    if (strcmp(texts[i].name, command) == 0)
      return texts[i].text;
  return NULL;
}

/* The settings table, from the same data the command resolves them with. */
void cli_print_settings(FILE *f)
{
  fputs("Back-end settings: name (flag, environment variable); the name is also the key\n"
        "in the back end's section of the config file and of --set NAME=VALUE.\n", f);
  const char *backend = "";
  for (const cli_setting *s = cli_settings; s->name; s++) {
    if (strcmp(backend, s->backend) != 0) {
      backend = s->backend;
      fprintf(f, "  [%s]\n", backend);
    }
    char how[128] = "";
    if (s->flag)
      snprintf(how, sizeof how, "--%s", s->flag);
    else
      snprintf(how, sizeof how, "--set %s=...", s->name);
    if (s->env)
      snprintf(how + strlen(how), sizeof how - strlen(how), "%s%s%s", how[0] ? ", " : "",
               s->env, (s->flags & CLI_SET_LIB_ENV) ? " read by the library" : "");
    fprintf(f, "    %s (%s)%s\n        %s\n", s->name, how,
            (s->flags & CLI_SET_SECRET) ? " secret" : "", s->help);
  }
}

int cli_print_help(const char *command, FILE *f)
{
  const char *base = command;
  if (strncmp(command, "spool", 5) == 0)
    base = "spool";
  if (strcmp(base, "meter") == 0) {
    fputs(usage_all, f);
    fputc('\n', f);
    fputs(exit_block, f);
    fputs("\nConfiguration: flags, then the environment, then ~/.config/meter/config;\n"
          "see meter help config. Reference: docs/cli.md.\n", f);
    return 0;
  }
  const char *text = text_of(base);
  if (!text)
    return -1;
  fputs(text, f);
  if (strcmp(base, "config") == 0) {
    cli_print_settings(f);
    return 0;
  }
  if (strcmp(base, "send") == 0 || strcmp(base, "batch") == 0) {
    fputc('\n', f);
    fputs(record_block, f);
  }
  fputc('\n', f);
  fputs(client_block, f);
  if (strcmp(base, "send") == 0 || strcmp(base, "batch") == 0) {
    fputc('\n', f);
    fputs(exit_block, f);
  }
  return 0;
}
