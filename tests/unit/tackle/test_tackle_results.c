/* What Tackle's answers mean for each record: 200 data matched to records,
 * 409 conflict, 400 invalid_body naming the field (and the record), 401,
 * 404, retries of 5xx/429 with the same body, and POST reconciliation after
 * a failure that may have been applied. */
#include "tk_fixture.h"

#include "backends/tackle/tackle_internal.h"

#define T "2024-01-01T13:05:00Z"
#define JSON "Content-Type: application/json\n"

static tk_fx *client(const char *method)
{
  return tk_fx_new("access_token", "tok-static-123456", "method", method, NULL);
}

static meter_record *rec(const char *customer, const char *qty)
{
  return rec_of("product", "p", "customer", customer, "dimension", "d", "quantity", qty,
                "time", T, NULL);
}

static void free_all(meter_record **r, size_t n)
{
  for (size_t i = 0; i < n; i++)
    meter_record_free(r[i]);
}

static void test_200_matched_by_key_when_out_of_order(void **state)
{
  (void)state;
  tk_fx *f = client("put");
  meter_record *r[2] = { rec("c1", "1"), rec("c2", "2") };
  meter_record *rev[2] = { r[1], r[0] };
  tk_push_echo(f, rev, 2); /* id-0 is c2's, id-1 is c1's */
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 2, &res), METER_OK);
  assert_string_equal(meter_results_record_id(res, 0), "id-1");
  assert_string_equal(meter_results_record_id(res, 1), "id-0");
  assert_string_equal(meter_results_status(res, 0), "idle");
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_int_equal(meter_results_http_status(res, 1), 200);
  meter_results_free(res);
  free_all(r, 2);
  tk_fx_free(f);
}

static void test_200_incomplete_data(void **state)
{
  (void)state;
  tk_fx *f = client("put");
  meter_record *r[3] = { rec("c1", "1"), rec("c2", "2"), rec("c3", "3") };
  meter_record *some[2] = { r[2], r[0] };
  tk_push_echo(f, some, 2);
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 3, &res), METER_OK);
  assert_string_equal(meter_results_record_id(res, 0), "id-1");
  assert_string_equal(meter_results_record_id(res, 2), "id-0");
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_ACCEPTED);
  assert_null(meter_results_record_id(res, 1));
  assert_non_null(strstr(meter_results_message(res, 1), "no usage record matching"));
  meter_results_free(res);
  free_all(r, 3);
  tk_fx_free(f);
}

static void test_answer_status_rejected(void **state)
{
  (void)state;
  tk_fx *f = client("put");
  meter_record *r = rec_of("product", "p", "customer", "c", "dimension", "d", "quantity", "1",
                           "time", T, "test", "rejected", NULL);
  char *one = tk_usage_record_json(r, "id-r", "rejected");
  char *p = strstr(one, "\"reason\":null");
  char body[4096];
  snprintf(body, sizeof body, "{\"data\":[%.*s\"reason\":\"invalid-usage-dimension\"%s]}",
           (int)(p - one), one, p + strlen("\"reason\":null"));
  free(one);
  fake_push(&f->t, 200, JSON, body);
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_EREJECTED);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_REJECTED);
  assert_string_equal(meter_results_error_code(res, 0), "invalid-usage-dimension");
  assert_string_equal(meter_results_record_id(res, 0), "id-r");
  assert_string_equal(meter_results_status(res, 0), "rejected");
  meter_results_free(res);
  meter_record_free(r);
  tk_fx_free(f);
}

static const char *conflict_body =
  "{\"code\":\"conflict\",\"error\":\"a usage record has already been processed for the "
  "following request: product=p, customer=c2, dimension=d\",\"error_type\":\"service_exception\","
  "\"errors\":[]}";

static void test_409_conflict_not_retried(void **state)
{
  (void)state;
  tk_fx *f = client("put");
  meter_record *r = rec("c2", "5");
  fake_push(&f->t, 409, JSON, conflict_body);
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_EREJECTED);
  assert_int_equal(f->t.nsent, 1);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_CONFLICT);
  assert_string_equal(meter_results_error_code(res, 0), "conflict");
  assert_non_null(strstr(meter_results_message(res, 0), "already sent to the marketplace"));
  assert_int_equal(meter_results_http_status(res, 0), 409);
  meter_results_free(res);
  meter_record_free(r);
  tk_fx_free(f);
}

/* 409 names one record of three: it conflicts, the other two are resent together. */
static void test_409_in_a_batch(void **state)
{
  (void)state;
  tk_fx *f = client("put");
  meter_record *r[3] = { rec("c1", "1"), rec("c2", "2"), rec("c3", "3") };
  fake_push(&f->t, 409, JSON, conflict_body);
  meter_record *rest[2] = { r[0], r[2] };
  tk_push_echo(f, rest, 2);
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 3, &res), METER_EREJECTED);
  assert_int_equal(f->t.nsent, 2);
  assert_null(strstr(f->t.sent[1].body, "\"c2\""));
  assert_non_null(strstr(f->t.sent[1].body, "\"c1\""));
  assert_non_null(strstr(f->t.sent[1].body, "\"c3\""));
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_CONFLICT);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_int_equal(meter_results_outcome(res, 2), METER_OUTCOME_ACCEPTED);
  assert_string_equal(meter_results_record_id(res, 2), "id-1");
  meter_results_free(res);
  free_all(r, 3);
  tk_fx_free(f);
}

/* A 409 that names nobody we sent: records go one per request. */
static void test_409_unattributed_splits(void **state)
{
  (void)state;
  tk_fx *f = client("put");
  meter_record *r[2] = { rec("c1", "1"), rec("c3", "3") };
  fake_push(&f->t, 409, JSON, "{\"code\":\"conflict\",\"error\":\"conflict\",\"errors\":[]}");
  tk_push_echo(f, &r[0], 1);
  fake_push(&f->t, 409, JSON, "{\"code\":\"conflict\",\"error\":\"conflict\",\"errors\":[]}");
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 2, &res), METER_EREJECTED);
  assert_int_equal(f->t.nsent, 3);
  cJSON *b1 = cJSON_Parse(f->t.sent[1].body), *b2 = cJSON_Parse(f->t.sent[2].body);
  assert_int_equal(cJSON_GetArraySize(b1), 1);
  assert_int_equal(cJSON_GetArraySize(b2), 1);
  cJSON_Delete(b1);
  cJSON_Delete(b2);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_CONFLICT);
  meter_results_free(res);
  free_all(r, 2);
  tk_fx_free(f);
}

static const char *invalid_name =
  "{\"code\":\"invalid_body\",\"error\":\"jsonschema: '/dimension' does not validate with "
  "https://metering-api.tackle.io/jsonschema/metering/usage-record-requests/0/0.4.0.json/"
  "aws-usage-record-request#/$ref/properties/dimension/$ref/required: missing properties: "
  "'name'\",\"error_type\":\"service_exception\",\"errors\":[{\"code\":\"invalid_body\","
  "\"error\":\" doesn't validate\",\"error_type\":\"client_exception\"}]}";

static void test_400_invalid_body_names_field(void **state)
{
  (void)state;
  tk_fx *f = client("post");
  meter_record *r = rec("c1", "1");
  fake_push(&f->t, 400, JSON, invalid_name);
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_EREJECTED);
  assert_int_equal(f->t.nsent, 1);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_REJECTED);
  assert_string_equal(meter_results_error_code(res, 0), "invalid_body");
  assert_string_equal(meter_results_field(res, 0), "dimension");
  assert_non_null(strstr(meter_results_message(res, 0), "dimension.name"));
  assert_non_null(strstr(meter_results_message(res, 0), "missing properties"));
  meter_results_free(res);
  meter_record_free(r);
  tk_fx_free(f);
}

/* The pointer says record 1: it is rejected, 0 and 2 go again in one request. */
static void test_400_invalid_body_finds_the_record(void **state)
{
  (void)state;
  tk_fx *f = client("post");
  meter_record *r[3] = { rec("c1", "1"), rec("c2", "2"), rec("c3", "3") };
  fake_push(&f->t, 400, JSON,
            "{\"code\":\"invalid_body\",\"error\":\"jsonschema: '/1/dimension/quantity' does not "
            "validate with https://metering-api.tackle.io/jsonschema/x.json#/items/$ref/properties/"
            "dimension/$ref/properties/quantity/type: expected integer, but got number\","
            "\"errors\":[]}");
  meter_record *rest[2] = { r[0], r[2] };
  tk_push_echo(f, rest, 2);
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 3, &res), METER_EREJECTED);
  assert_int_equal(f->t.nsent, 2);
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_REJECTED);
  assert_string_equal(meter_results_field(res, 1), "quantity");
  assert_non_null(strstr(meter_results_message(res, 1), "expected integer, but got number"));
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_int_equal(meter_results_outcome(res, 2), METER_OUTCOME_ACCEPTED);
  assert_null(strstr(f->t.sent[1].body, "\"c2\""));
  meter_results_free(res);
  free_all(r, 3);
  tk_fx_free(f);
}

/* No index in the pointer: one record per request finds the culprit. */
static void test_400_without_index_splits(void **state)
{
  (void)state;
  tk_fx *f = client("post");
  meter_record *r[2] = { rec("c1", "1"), rec("c2", "2") };
  fake_push(&f->t, 400, JSON, invalid_name);
  tk_push_echo(f, &r[0], 1);
  fake_push(&f->t, 400, JSON, invalid_name);
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 2, &res), METER_EREJECTED);
  assert_int_equal(f->t.nsent, 3);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_REJECTED);
  assert_string_equal(meter_results_field(res, 1), "dimension");
  meter_results_free(res);
  free_all(r, 2);
  tk_fx_free(f);
}

static void test_404_not_found(void **state)
{
  (void)state;
  tk_fx *f = client("put");
  meter_record *r = rec("unknown-1", "1");
  fake_push(&f->t, 404, JSON,
            "{\"code\":\"not_found\",\"error\":\"unable to find order or subscription\","
            "\"error_type\":\"service_exception\",\"errors\":[]}");
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_EREJECTED);
  assert_int_equal(f->t.nsent, 1);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_REJECTED);
  assert_string_equal(meter_results_error_code(res, 0), "not_found");
  assert_non_null(strstr(meter_results_message(res, 0), "customer unknown-1"));
  assert_non_null(strstr(meter_results_message(res, 0), "unable to find order"));
  meter_results_free(res);
  meter_record_free(r);
  tk_fx_free(f);
}

static void test_401_with_given_token_is_final(void **state)
{
  (void)state;
  static const char *codes[] = { "invalid_token", "mtm_token_expired", "missing_expiration",
                                 "invalid_header", "authorization_header_missing" };
  for (size_t i = 0; i < 5; i++) {
    tk_fx *f = client("put");
    meter_record *r = rec("c1", "1");
    char body[256];
    snprintf(body, sizeof body, "{\"code\":\"%s\",\"error\":\"nope\",\"errors\":[]}", codes[i]);
    fake_push(&f->t, 401, JSON, body);
    meter_results *res;
    assert_int_equal(meter_send(f->c, &r, 1, &res), METER_EAUTH);
    assert_int_equal(f->t.nsent, 1);
    assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
    assert_non_null(strstr(meter_results_message(res, 0), codes[i]));
    char msg[256];
    assert_int_equal(meter_client_last_error(f->c, msg, sizeof msg), METER_EAUTH);
    assert_non_null(strstr(msg, codes[i]));
    meter_results_free(res);
    meter_record_free(r);
    tk_fx_free(f);
  }
}

static void test_5xx_and_429_retried_with_same_body(void **state)
{
  (void)state;
  static const char *methods[] = { "put", "post" };
  for (int m = 0; m < 2; m++) {
    tk_fx *f = client(methods[m]);
    meter_record *r = rec("c1", "4");
    fake_push(&f->t, 503, NULL, "unavailable");
    fake_push(&f->t, 429, "Retry-After: 2\n", "{\"code\":\"too_many\",\"error\":\"slow down\",\"errors\":[]}");
    if (m == 0)
      fake_push(&f->t, 500, NULL, NULL); /* PUT: any 5xx is retried */
    tk_push_echo(f, &r, 1);
    meter_results *res;
    assert_int_equal(meter_send(f->c, &r, 1, &res), METER_OK);
    size_t n = m == 0 ? 4 : 3;
    assert_int_equal(f->t.nsent, n);
    for (size_t i = 1; i < n; i++)
      assert_string_equal(f->t.sent[i].body, f->t.sent[0].body);
    assert_int_equal(meter_results_attempts(res, 0), n);
    assert_true(f->fc.slept_total >= 2000000); /* Retry-After honoured */
    meter_results_free(res);
    meter_record_free(r);
    tk_fx_free(f);
  }
}

static void test_retries_exhausted(void **state)
{
  (void)state;
  tk_fx *f = client("put");
  meter_record *r = rec("c1", "4");
  for (int i = 0; i < 5; i++)
    fake_push(&f->t, 503, NULL, NULL);
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_EUNDELIVERED);
  assert_int_equal(f->t.nsent, 5);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
  assert_non_null(strstr(meter_results_message(res, 0), "HTTP 503"));
  meter_results_free(res);
  meter_record_free(r);
  tk_fx_free(f);
}

/* ---- POST after a failure that may have been applied ---- */

static char *list_body(const meter_record *r, const char *id, const char *created)
{
  char *one = tk_usage_record_json(r, id, "idle");
  char *body = malloc(4096);
  if (created) {
    char *p = strstr(one, "\"created_at\":\"") + strlen("\"created_at\":\"");
    memcpy(p, created, strlen(created));
  }
  snprintf(body, 4096, "{\"data\":[%s],\"metadata\":{\"next_page_token\":null}}", one);
  free(one);
  return body;
}

static void test_post_dropped_and_found_is_duplicate(void **state)
{
  (void)state;
  tk_fx *f = client("post");
  meter_record *r = rec("c1", "4");
  fake_push_net(&f->t, MTR_NET_RESET, 1);
  char *lb = list_body(r, "id-found", NULL);
  fake_push(&f->t, 200, JSON, lb);
  free(lb);
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_OK);
  assert_int_equal(f->t.nsent, 2);
  assert_string_equal(f->t.sent[1].method, "GET");
  assert_string_equal(f->t.sent[1].url,
                      "https://tackle.test/v1/metering/usage-records?size=100&include_zeros=true"
                      "&product_id=p&customer_id=c1&dimension=d&start_after=2024-01-01T12%3A59%3A59Z"
                      "&start_before=2024-01-01T14%3A00%3A00Z&include_tests=true");
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_DUPLICATE);
  assert_string_equal(meter_results_record_id(res, 0), "id-found");
  assert_int_equal(tk_count_sent(f, "/v1/metering/usage-records") - 1, 1); /* one POST */
  meter_results_free(res);
  meter_record_free(r);
  tk_fx_free(f);
}

static void test_post_500_not_found_is_resent(void **state)
{
  (void)state;
  tk_fx *f = client("post");
  meter_record *r = rec("c1", "4");
  fake_push(&f->t, 500, NULL, "boom");
  fake_push(&f->t, 200, JSON, "{\"data\":[],\"metadata\":{\"next_page_token\":null}}");
  tk_push_echo(f, &r, 1);
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_OK);
  assert_int_equal(f->t.nsent, 3);
  assert_string_equal(f->t.sent[0].method, "POST");
  assert_string_equal(f->t.sent[1].method, "GET");
  assert_string_equal(f->t.sent[2].method, "POST");
  assert_string_equal(f->t.sent[2].body, f->t.sent[0].body);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_int_equal(meter_results_attempts(res, 0), 2);
  meter_results_free(res);
  meter_record_free(r);
  tk_fx_free(f);
}

/* A twin created long before our attempt is not ours: resend. */
static void test_post_older_twin_is_not_ours(void **state)
{
  (void)state;
  tk_fx *f = client("post");
  meter_record *r = rec("c1", "4");
  fake_push_net(&f->t, MTR_NET_TIMEOUT, 1);
  char *lb = list_body(r, "id-old", "2024-01-01T10:00:00");
  fake_push(&f->t, 200, JSON, lb);
  free(lb);
  tk_push_echo(f, &r, 1);
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_OK);
  assert_int_equal(f->t.nsent, 3);
  assert_string_equal(f->t.sent[2].method, "POST");
  assert_string_equal(meter_results_record_id(res, 0), "id-0");
  meter_results_free(res);
  meter_record_free(r);
  tk_fx_free(f);
}

/* The check itself fails: the record is not resent and says why. */
static void test_post_check_failing_refuses_resend(void **state)
{
  (void)state;
  tk_fx *f = client("post");
  meter_record *r = rec("c1", "4");
  fake_push_net(&f->t, MTR_NET_RESET, 1);
  fake_push(&f->t, 400, JSON, "{\"code\":\"bad\",\"error\":\"no\",\"errors\":[]}");
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_ETRANSPORT);
  assert_int_equal(f->t.nsent, 2);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
  assert_string_equal(meter_results_error_code(res, 0), "maybe_applied");
  assert_non_null(strstr(meter_results_message(res, 0), "not resent"));
  meter_results_free(res);
  meter_record_free(r);
  tk_fx_free(f);
}

/* PUT is idempotent: resent after a lost answer, same body. */
static void test_put_dropped_is_resent(void **state)
{
  (void)state;
  tk_fx *f = client("put");
  meter_record *r = rec("c1", "4");
  fake_push_net(&f->t, MTR_NET_RESET, 1);
  tk_push_echo(f, &r, 1);
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_OK);
  assert_int_equal(f->t.nsent, 2);
  assert_string_equal(f->t.sent[1].method, "PUT");
  assert_string_equal(f->t.sent[1].body, f->t.sent[0].body);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  meter_results_free(res);
  meter_record_free(r);
  tk_fx_free(f);
}

/* PUT resent after a lost answer meets 409: Tackle sent what our first
 * attempt stored (same quantity) -> delivered, not a conflict. */
static void test_put_409_after_lost_answer_is_ours(void **state)
{
  (void)state;
  tk_fx *f = client("put");
  meter_record *r = rec("c2", "5");
  fake_push_net(&f->t, MTR_NET_TIMEOUT, 1);
  fake_push(&f->t, 409, JSON, conflict_body);
  char *lb = list_body(r, "id-sent", NULL);
  fake_push(&f->t, 200, JSON, lb);
  free(lb);
  meter_results *res;
  assert_int_equal(meter_send(f->c, &r, 1, &res), METER_OK);
  assert_int_equal(f->t.nsent, 3);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_DUPLICATE);
  assert_string_equal(meter_results_record_id(res, 0), "id-sent");
  meter_results_free(res);
  /* Another quantity at Tackle: a real conflict. */
  fake_reset(&f->t);
  meter_record *r2 = rec("c2", "6");
  fake_push_net(&f->t, MTR_NET_TIMEOUT, 1);
  fake_push(&f->t, 409, JSON, conflict_body);
  lb = list_body(r, "id-sent", NULL); /* holds quantity 5 */
  fake_push(&f->t, 200, JSON, lb);
  free(lb);
  assert_int_equal(meter_send(f->c, &r2, 1, &res), METER_EREJECTED);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_CONFLICT);
  meter_results_free(res);
  meter_record_free(r2);
  meter_record_free(r);
  tk_fx_free(f);
}

/* ---- the parsers ---- */

static void test_parse_invalid_body(void **state)
{
  (void)state;
  tk_body_error e;
  assert_int_equal(tk_parse_invalid_body("jsonschema: '/dimension' does not validate with "
                                         "https://x/0/0.4.0.json/a#/$ref/properties/dimension/"
                                         "$ref/required: missing properties: 'name'", &e), 0);
  assert_int_equal(e.index, -1);
  assert_int_equal(e.field, METER_FIELD_DIMENSION);
  assert_string_equal(e.path, "dimension.name");
  assert_string_equal(e.rule, "missing properties: 'name'");
  assert_int_equal(tk_parse_invalid_body("jsonschema: '/3/start_time' does not validate with "
                                         "https://x#/items/properties/start_time/format: "
                                         "'2024' is not valid 'date-time'", &e), 0);
  assert_int_equal(e.index, 3);
  assert_int_equal(e.field, METER_FIELD_TIME);
  assert_string_equal(e.rule, "'2024' is not valid 'date-time'");
  assert_int_equal(tk_parse_invalid_body("jsonschema: '' does not validate with https://x#/"
                                         "required: missing properties: 'customer_id'", &e), 0);
  assert_int_equal(e.field, METER_FIELD_CUSTOMER);
  assert_int_equal(tk_parse_invalid_body("jsonschema: '/0/dimension/usage_allocations/1/"
                                         "allocated_usage_quantity' does not validate with "
                                         "https://x#/y: expected integer", &e), 0);
  assert_int_equal(e.index, 0);
  assert_int_equal(e.field, METER_FIELD_QUANTITY);
  assert_string_equal(e.path, "dimension.usage_allocations.1.allocated_usage_quantity");
  assert_int_equal(tk_parse_invalid_body("something else entirely", &e), -1);

  tk_conflict_key k;
  assert_int_equal(tk_parse_conflict("a usage record has already been processed for the "
                                     "following request: product=pid, customer=cid, "
                                     "dimension=dim", &k), 0);
  assert_string_equal(k.product, "pid");
  assert_string_equal(k.customer, "cid");
  assert_string_equal(k.dimension, "dim");
  assert_int_equal(tk_parse_conflict("a usage record has already been processed for the "
                                     "following request: subscription=s-1, dimension=dim", &k), 0);
  assert_string_equal(k.subscription, "s-1");
  assert_string_equal(k.dimension, "dim");
  assert_string_equal(k.product, "");
  assert_int_equal(tk_parse_conflict("conflict", &k), -1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_200_matched_by_key_when_out_of_order),
    cmocka_unit_test(test_200_incomplete_data),
    cmocka_unit_test(test_answer_status_rejected),
    cmocka_unit_test(test_409_conflict_not_retried),
    cmocka_unit_test(test_409_in_a_batch),
    cmocka_unit_test(test_409_unattributed_splits),
    cmocka_unit_test(test_400_invalid_body_names_field),
    cmocka_unit_test(test_400_invalid_body_finds_the_record),
    cmocka_unit_test(test_400_without_index_splits),
    cmocka_unit_test(test_404_not_found),
    cmocka_unit_test(test_401_with_given_token_is_final),
    cmocka_unit_test(test_5xx_and_429_retried_with_same_body),
    cmocka_unit_test(test_retries_exhausted),
    cmocka_unit_test(test_post_dropped_and_found_is_duplicate),
    cmocka_unit_test(test_post_500_not_found_is_resent),
    cmocka_unit_test(test_post_older_twin_is_not_ours),
    cmocka_unit_test(test_post_check_failing_refuses_resend),
    cmocka_unit_test(test_put_dropped_is_resent),
    cmocka_unit_test(test_put_409_after_lost_answer_is_ours),
    cmocka_unit_test(test_parse_invalid_body),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
