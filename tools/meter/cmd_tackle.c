/* meter list / meter get ID: what Tackle holds (meter/tackle.h). --json
 * prints each usage record exactly as Tackle sent it, one per line. */
#include "args.h"
#include "cli.h"
#include "config.h"
#include "output.h"

#include <meter/tackle.h>

#include <stdlib.h>
#include <string.h>

static const char *dash(const char *s)
{
  return s && *s ? s : "-";
}

static void print_row(const meter_tackle_record *r, int *header)
{
  if (!*header) {
    *header = 1;
    printf("%-36s %-11s %-5s %-20s %-20s %-16s %-10s %-27s %s\n", "ID", "STATUS", "CLOUD",
           "PRODUCT", "CUSTOMER", "DIMENSION", "QUANTITY", "START_TIME", "REASON/TEST");
  }
  const char *reason = meter_tackle_record_get(r, METER_TACKLE_REASON);
  const char *test = meter_tackle_record_get(r, METER_TACKLE_TEST);
  char extra[160];
  snprintf(extra, sizeof extra, "%s%s%s%s", reason ? reason : "", reason && test ? " " : "",
           test ? "test=" : "", test ? test : "");
  printf("%-36s %-11s %-5s %-20s %-20s %-16s %-10s %-27s %s\n",
         dash(meter_tackle_record_get(r, METER_TACKLE_ID)),
         dash(meter_tackle_record_get(r, METER_TACKLE_STATUS)),
         dash(meter_tackle_record_get(r, METER_TACKLE_CLOUD)),
         dash(meter_tackle_record_get(r, METER_TACKLE_PRODUCT_ID)),
         dash(meter_tackle_record_get(r, METER_TACKLE_CUSTOMER_ID)),
         dash(meter_tackle_record_get(r, METER_TACKLE_DIMENSION)),
         dash(meter_tackle_record_get(r, METER_TACKLE_QUANTITY)),
         dash(meter_tackle_record_get(r, METER_TACKLE_START_TIME)), extra[0] ? extra : "-");
}

static void print_vertical(const meter_tackle_record *r)
{
  static const struct {
    meter_tackle_attr attr;
    const char *name;
  } attrs[] = {
    { METER_TACKLE_ID, "id" }, { METER_TACKLE_STATUS, "status" },
    { METER_TACKLE_REASON, "reason" }, { METER_TACKLE_TEST, "test" },
    { METER_TACKLE_CLOUD, "cloud" }, { METER_TACKLE_PRODUCT_ID, "product_id" },
    { METER_TACKLE_CUSTOMER_ID, "customer_id" },
    { METER_TACKLE_SUBSCRIPTION_ID, "subscription_id" },
    { METER_TACKLE_DIMENSION, "dimension" }, { METER_TACKLE_QUANTITY, "quantity" },
    { METER_TACKLE_START_TIME, "start_time" }, { METER_TACKLE_END_TIME, "end_time" },
    { METER_TACKLE_SCHEDULED_AT, "scheduled_at" }, { METER_TACKLE_CONSUMER_ID, "consumer_id" },
    { METER_TACKLE_CREATED_AT, "created_at" }, { METER_TACKLE_UPDATED_AT, "updated_at" },
    { METER_TACKLE_DELETED_AT, "deleted_at" },
  };
  for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
    const char *v = meter_tackle_record_get(r, attrs[i].attr);
    if (v)
      printf("%-16s %s\n", attrs[i].name, v);
  }
}

static int fail_call(meter_client *c, int rc, const char *what)
{
  char detail[METER_ERROR_MESSAGE_SIZE] = "";
  meter_client_last_error(c, detail, sizeof detail);
  return cli_fail(cli_exit_for_status(rc), "%s: %s", what, detail[0] ? detail : meter_strerror(rc));
}

static int flag_value(const char *v, meter_tackle_flag *out)
{
  if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
    *out = METER_TACKLE_FLAG_TRUE;
  else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
    *out = METER_TACKLE_FLAG_FALSE;
  else
    return -1;
  return 0;
}

int cmd_list(cli_opts *o)
{
  if (o->nargs)
    return cli_fail(CLI_EXIT_USAGE, "meter list takes no arguments (filters are flags; see "
                    "meter list --help)");
  meter_tackle_list_options lo = METER_TACKLE_LIST_OPTIONS_INIT;
  size_t n = o->nfilters ? o->nfilters : 1;
  const char **products = calloc(n, sizeof *products), **customers = calloc(n, sizeof *customers);
  const char **dims = calloc(n, sizeof *dims), **subs = calloc(n, sizeof *subs);
  int code = 0;
  if (!products || !customers || !dims || !subs)
    code = cli_fail(CLI_EXIT_INTERNAL, "out of memory");
  for (size_t i = 0; code == 0 && i < o->nfilters; i++) {
    const char *k = o->filters[i].key, *v = o->filters[i].value;
    long num;
    if (strcmp(k, "product") == 0)
      products[lo.product_id_count++] = v;
    else if (strcmp(k, "customer") == 0)
      customers[lo.customer_id_count++] = v;
    else if (strcmp(k, "dimension") == 0)
      dims[lo.dimension_count++] = v;
    else if (strcmp(k, "subscription-id") == 0)
      subs[lo.subscription_id_count++] = v;
    else if (strcmp(k, "start-after") == 0)
      lo.start_after = v;
    else if (strcmp(k, "start-before") == 0)
      lo.start_before = v;
    else if (strcmp(k, "scheduled-after") == 0)
      lo.scheduled_after = v;
    else if (strcmp(k, "scheduled-before") == 0)
      lo.scheduled_before = v;
    else if (strcmp(k, "quantity") == 0)
      lo.quantity = v;
    else if (strcmp(k, "page-token") == 0)
      lo.page_token = v;
    else if (strcmp(k, "page-size") == 0) {
      if ((code = cli_parse_long("--page-size", v, 100000, 0, &num)) == 0)
        lo.page_size = (unsigned)num;
    } else if (strcmp(k, "include-tests") == 0 || strcmp(k, "include-zeros") == 0) {
      meter_tackle_flag *f = k[8] == 't' ? &lo.include_tests : &lo.include_zeros;
      if (flag_value(v, f) != 0)
        code = cli_fail(CLI_EXIT_USAGE, "--%s: expected true or false, got \"%.20s\"", k, v);
    }
  }
  lo.product_ids = products;
  lo.customer_ids = customers;
  lo.dimensions = dims;
  lo.subscription_ids = subs;

  meter_client *c = NULL;
  if (code == 0)
    code = cli_client_new(o, &c);
  meter_tackle_list *it = NULL;
  if (code == 0) {
    int rc = meter_tackle_list_new(&it, c, &lo);
    if (rc != METER_OK)
      code = fail_call(c, rc, "list");
  }
  long shown = 0;
  int header = 0;
  while (code == 0 && (!o->limit || shown < o->limit)) {
    const meter_tackle_record *r;
    int rc = meter_tackle_list_next(it, &r);
    if (rc != METER_OK) {
      code = fail_call(c, rc, "list");
      break;
    }
    if (!r)
      break;
    if (o->json)
      printf("%s\n", meter_tackle_record_json(r));
    else
      print_row(r, &header);
    shown++;
  }
  if (code == 0) {
    const char *next = meter_tackle_list_page_token(it);
    if (o->limit && shown >= o->limit && next)
      cli_msg("stopped at --limit %ld; more records follow (continue from the next page with "
              "--page-token %s)", o->limit, next);
    else if (!o->json && shown == 0)
      cli_msg("no usage records");
    cli_verbose(o, 1, "%ld records, %u pages", shown, meter_tackle_list_pages(it));
  }
  meter_tackle_list_free(it);
  cli_client_free(c);
  free(products);
  free(customers);
  free(dims);
  free(subs);
  return code;
}

int cmd_get(cli_opts *o)
{
  if (o->nargs != 1)
    return cli_fail(CLI_EXIT_USAGE, "usage: meter get ID (the Tackle usage record id; see meter "
                    "get --help)");
  meter_client *c;
  int code = cli_client_new(o, &c);
  if (code)
    return code;
  meter_tackle_record *r = NULL;
  int rc = meter_tackle_get(&r, c, o->args[0]);
  if (rc == METER_OK) {
    if (o->json)
      printf("%s\n", meter_tackle_record_json(r));
    else
      print_vertical(r);
  } else if (rc == METER_ENOTFOUND) {
    code = cli_fail(CLI_EXIT_REJECTED, "Tackle has no usage record %s", o->args[0]);
  } else {
    code = fail_call(c, rc, "get");
  }
  meter_tackle_record_free(r);
  cli_client_free(c);
  return code;
}
