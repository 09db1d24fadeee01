/* Delivering usage: batching (250 events, volume apart), the request's
 * idempotency key (fixed before the first attempt, deterministic), the
 * duplicate-key answer, retries, and each answer's outcome. */
#include "ad_fixture.h"

#include "backends/appdirect/appdirect_int.h"

#define SEC INT64_C(1000000)

static meter_record **make_recs(size_t n, const char *prefix)
{
  meter_record **r = calloc(n, sizeof *r);
  for (size_t i = 0; i < n; i++) {
    char key[32], acct[16];
    snprintf(key, sizeof key, "%s-%04zu", prefix, i);
    snprintf(acct, sizeof acct, "acct-%zu", i % 7);
    r[i] = ad_rec(key, (int)i, "account", acct, "pricing_unit", "USER", "quantity", "1", NULL);
  }
  return r;
}

static void free_recs(meter_record **r, size_t n)
{
  for (size_t i = 0; i < n; i++)
    meter_record_free(r[i]);
  free(r);
}

/* The eventIds of usage request i, in body order. */
static size_t sent_event_ids(const adfx *f, size_t i, char ids[][32], size_t max)
{
  cJSON *root = sent_json(f, i);
  size_t n = 0;
  const cJSON *u, *e;
  cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(root, "usages"))
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(u, "usageList"))
      if (n < max)
        snprintf(ids[n++], 32, "%s", cJSON_GetObjectItemCaseSensitive(e, "eventId")->valuestring);
  cJSON_Delete(root);
  return n;
}

static void test_600_events_make_3_requests_with_stable_keys(void **state)
{
  (void)state;
  meter_record **r = make_recs(600, "ev");
  char keys[2][3][64];
  for (int run = 0; run < 2; run++) {
    /* A second client (a restart) sending the same records. */
    adfx *f = adfx_new(NULL);
    push_token(f, "tok", 43199);
    for (int i = 0; i < 3; i++) {
      char id[16];
      snprintf(id, sizeof id, "req-%d", i);
      push_accepted(f, id);
    }
    meter_results *res;
    assert_int_equal(meter_send(f->c, r, 600, &res), METER_OK);
    assert_int_equal(sent_to(f, AD_USAGE_URL), 3);
    size_t total = 0;
    for (size_t i = 1; i <= 3; i++) {
      size_t n = sent_events(f, i);
      assert_true(n > 0 && n <= 250);
      total += n;
      sent_key(f, i, keys[run][i - 1], sizeof keys[run][i - 1]);
      assert_true(mtr_uuid_valid(keys[run][i - 1]));
    }
    assert_int_equal(total, 600);
    assert_string_not_equal(keys[run][0], keys[run][1]);
    assert_string_not_equal(keys[run][1], keys[run][2]);
    assert_string_not_equal(keys[run][0], keys[run][2]);
    /* Each record carries the id of the request that delivered it. */
    assert_string_equal(meter_results_request_id(res, 0), "req-0");
    assert_string_equal(meter_results_request_id(res, 599), "req-2");
    meter_results_free(res);
    adfx_free(f);
  }
  for (int i = 0; i < 3; i++)
    assert_string_equal(keys[0][i], keys[1][i]);
  free_recs(r, 600);
}

static void test_request_key_ignores_order_and_depends_on_content(void **state)
{
  (void)state;
  meter_record **r = make_recs(4, "k");
  meter_record *rev[4] = { r[3], r[2], r[1], r[0] };
  char a[MTR_UUID_LEN + 1], b[MTR_UUID_LEN + 1], c[MTR_UUID_LEN + 1], d[MTR_UUID_LEN + 1];
  assert_int_equal(mtr_appdirect_request_key(r, 4, 1, a), METER_OK);
  assert_int_equal(mtr_appdirect_request_key(rev, 4, 1, b), METER_OK);
  assert_int_equal(mtr_appdirect_request_key(r, 4, 0, c), METER_OK);
  assert_int_equal(mtr_appdirect_request_key(r, 3, 1, d), METER_OK);
  assert_string_equal(a, b);
  assert_string_not_equal(a, c); /* billable vs estimated are different requests */
  assert_string_not_equal(a, d);
  free_recs(r, 4);
}

static void test_volume_never_mixed(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  meter_record *r[5];
  const char *model[5] = { "volume", NULL, "VOLUME", "tiered", NULL };
  for (int i = 0; i < 5; i++) {
    char key[8];
    snprintf(key, sizeof key, "v%d", i);
    r[i] = ad_rec(key, 0, "account", "a", "pricing_unit", "USER", "quantity", "1",
                  "pricing_model", model[i], NULL);
  }
  push_token(f, "tok", 43199);
  push_accepted(f, "req-1");
  push_accepted(f, "req-2");
  assert_int_equal(meter_send(f->c, r, 5, NULL), METER_OK);
  assert_int_equal(sent_to(f, AD_USAGE_URL), 2);
  char ids[8][32];
  /* The first request holds the volume-priced events only, the second the rest. */
  assert_int_equal(sent_event_ids(f, 1, ids, 8), 2);
  assert_string_equal(ids[0], "v0");
  assert_string_equal(ids[1], "v2");
  assert_int_equal(sent_event_ids(f, 2, ids, 8), 3);
  assert_string_equal(ids[0], "v1");
  assert_string_equal(ids[1], "v3");
  assert_string_equal(ids[2], "v4");
  for (int i = 0; i < 5; i++)
    meter_record_free(r[i]);
  adfx_free(f);
}

static const char dup_body[] =
  "{\"code\":\"DUPLICATE_IDEMPOTENCY_KEY\",\"message\":\"idempotencyKey already used\","
  "\"requestId\":\"req-first\",\"queryUsageStatus\":"
  "\"/api/integration/v2/billing/usage/requests/req-first\"}";

static void test_dropped_answer_then_duplicate_key(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  meter_record **r = make_recs(3, "d");
  push_token(f, "tok", 43199);
  fake_push_net(&f->t, MTR_NET_RESET, 1); /* applied, answer lost */
  fake_push(&f->t, 409, "Content-Type: application/json", dup_body);
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 3, &res), METER_OK);
  assert_int_equal(sent_to(f, AD_USAGE_URL), 2);
  char k1[64], k2[64];
  assert_string_equal(sent_key(f, 1, k1, sizeof k1), sent_key(f, 2, k2, sizeof k2));
  assert_string_equal(f->t.sent[1].body, f->t.sent[2].body);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(meter_results_outcome(res, i), METER_OUTCOME_DUPLICATE);
    assert_true(meter_outcome_delivered(meter_results_outcome(res, i)));
    assert_string_equal(meter_results_request_id(res, i), "req-first");
    assert_string_equal(meter_results_status_path(res, i),
                        "/api/integration/v2/billing/usage/requests/req-first");
    assert_null(meter_results_error_code(res, i));
    assert_int_equal(meter_results_http_status(res, i), 409);
    assert_int_equal(meter_results_attempts(res, i), 2);
  }
  meter_results_free(res);
  free_recs(r, 3);
  adfx_free(f);
}

static void test_duplicate_key_without_ids(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  meter_record **r = make_recs(1, "d");
  push_token(f, "tok", 43199);
  fake_push(&f->t, 409, NULL, "{\"code\":\"CONFLICT\",\"message\":\"Idempotency key reused\"}");
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 1, &res), METER_OK);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_DUPLICATE);
  assert_null(meter_results_request_id(res, 0));
  assert_int_equal(sent_to(f, AD_USAGE_URL), 1);
  meter_results_free(res);
  free_recs(r, 1);
  adfx_free(f);
}

static void test_retries_keep_the_key(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  meter_record **r = make_recs(2, "t");
  push_token(f, "tok", 43199);
  fake_push(&f->t, 503, NULL, NULL);
  fake_push(&f->t, 429, "Retry-After: 3", "{\"code\":\"TOO_MANY_REQUESTS\"}");
  fake_push_net(&f->t, MTR_NET_TIMEOUT, 1);
  fake_push(&f->t, 500, NULL, NULL);
  push_accepted(f, "req-ok");
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 2, &res), METER_OK);
  assert_int_equal(sent_to(f, AD_USAGE_URL), 5);
  for (size_t i = 2; i <= 5; i++)
    assert_string_equal(f->t.sent[i].body, f->t.sent[1].body);
  assert_true(f->fc.slept_total >= 3 * SEC); /* Retry-After honoured */
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_int_equal(meter_results_attempts(res, 0), 5);
  meter_results_free(res);
  free_recs(r, 2);
  adfx_free(f);
}

static void test_gives_up_as_failed(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  meter_record **r = make_recs(2, "g");
  push_token(f, "tok", 43199);
  for (int i = 0; i < 5; i++)
    fake_push(&f->t, 503, NULL, NULL);
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 2, &res), METER_EUNDELIVERED);
  assert_int_equal(sent_to(f, AD_USAGE_URL), 5);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
  assert_int_equal(meter_results_http_status(res, 1), 503);
  assert_non_null(strstr(meter_results_message(res, 1), "gave up"));
  meter_results_free(res);
  free_recs(r, 2);
  adfx_free(f);
}

static void test_400_rejected_names_field(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  meter_record **r = make_recs(2, "b");
  push_token(f, "tok", 43199);
  fake_push(&f->t, 400, NULL,
            "{\"code\":\"BAD_REQUEST\",\"message\":\"usages[0].usageList[1].unitPrice: must "
            "not be null for custom usage\"}");
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 2, &res), METER_EREJECTED);
  assert_int_equal(sent_to(f, AD_USAGE_URL), 1); /* never retried */
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(meter_results_outcome(res, i), METER_OUTCOME_REJECTED);
    assert_string_equal(meter_results_error_code(res, i), "BAD_REQUEST");
    assert_string_equal(meter_results_field(res, i), "price");
    assert_non_null(strstr(meter_results_message(res, i), "must not be null"));
    assert_int_equal(meter_results_http_status(res, i), 400);
  }
  meter_results_free(res);
  free_recs(r, 2);
  adfx_free(f);
}

static void test_400_without_body(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  meter_record **r = make_recs(1, "b");
  push_token(f, "tok", 43199);
  fake_push(&f->t, 422, NULL, NULL);
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 1, &res), METER_EREJECTED);
  assert_string_equal(meter_results_error_code(res, 0), "HTTP_422");
  assert_null(meter_results_field(res, 0));
  meter_results_free(res);
  free_recs(r, 1);
  adfx_free(f);
}

static void test_403_is_eauth_404_is_config(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  meter_record **r = make_recs(1, "x");
  push_token(f, "tok", 43199);
  fake_push(&f->t, 403, NULL, "{\"code\":\"FORBIDDEN\",\"message\":\"Access denied\"}");
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 1, &res), METER_EAUTH);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
  assert_string_equal(meter_results_error_code(res, 0), "forbidden");
  meter_results_free(res);

  fake_push(&f->t, 404, NULL, "<html>Not Found</html>");
  assert_int_equal(meter_send(f->c, r, 1, &res), METER_ECONFIG);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
  assert_string_equal(meter_results_error_code(res, 0), "not_found");
  assert_non_null(strstr(meter_results_message(res, 0), "base_url"));
  char msg[256];
  assert_int_equal(meter_client_last_error(f->c, msg, sizeof msg), METER_ECONFIG);
  assert_non_null(strstr(msg, AD_USAGE_URL));
  meter_results_free(res);
  free_recs(r, 1);
  adfx_free(f);
}

static void test_202_without_request_id(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  meter_record **r = make_recs(1, "x");
  push_token(f, "tok", 43199);
  fake_push(&f->t, 202, NULL, "{}");
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 1, &res), METER_EUNDELIVERED);
  assert_int_equal(meter_client_last_error(f->c, NULL, 0), METER_EPROTOCOL);
  /* Not known to be delivered: FAILED, safe to resend with the same key. */
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_FAILED);
  assert_non_null(strstr(meter_results_message(res, 0), "requestId"));
  meter_results_free(res);
  free_recs(r, 1);
  adfx_free(f);
}

static void test_same_key_twice_in_a_call_sent_once(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  meter_record *r[3];
  r[0] = ad_rec("same", 0, "account", "a", "pricing_unit", "USER", "quantity", "1", NULL);
  r[1] = ad_rec("other", 0, "account", "a", "pricing_unit", "USER", "quantity", "2", NULL);
  r[2] = ad_rec("same", 0, "account", "a", "pricing_unit", "USER", "quantity", "1", NULL);
  push_token(f, "tok", 43199);
  push_accepted(f, "req-1");
  meter_results *res;
  assert_int_equal(meter_send(f->c, r, 3, &res), METER_OK);
  assert_int_equal(sent_events(f, 1), 2);
  assert_int_equal(meter_results_outcome(res, 0), METER_OUTCOME_ACCEPTED);
  assert_int_equal(meter_results_outcome(res, 1), METER_OUTCOME_ACCEPTED);
  assert_int_equal(meter_results_outcome(res, 2), METER_OUTCOME_DUPLICATE);
  assert_string_equal(meter_results_request_id(res, 2), "req-1");
  meter_results_free(res);

  /* When the request fails, the copy fails alike. */
  fake_push(&f->t, 400, NULL, "{\"code\":\"BAD\",\"message\":\"no\"}");
  assert_int_equal(meter_send(f->c, r, 3, &res), METER_EREJECTED);
  assert_int_equal(meter_results_outcome(res, 2), METER_OUTCOME_REJECTED);
  assert_string_equal(meter_results_error_code(res, 2), "BAD");
  meter_results_free(res);
  for (int i = 0; i < 3; i++)
    meter_record_free(r[i]);
  adfx_free(f);
}

/* Events are grouped per account, accounts in the order they first appear
 * (not sorted), events in the caller's order within an account. */
static void test_accounts_in_order_of_first_appearance(void **state)
{
  (void)state;
  adfx *f = adfx_new(NULL);
  const char *accounts[] = { "z", "a", "z", "m", "a" };
  meter_record *r[5];
  for (int i = 0; i < 5; i++) {
    char key[8];
    snprintf(key, sizeof key, "e%d", i);
    r[i] = ad_rec(key, i, "account", accounts[i], "pricing_unit", "USER", "quantity", "1", NULL);
  }
  push_token(f, "tok", 43199);
  push_accepted(f, "req-1");
  assert_int_equal(meter_send(f->c, r, 5, NULL), METER_OK);
  char ids[5][32];
  assert_int_equal(sent_event_ids(f, 1, ids, 5), 5);
  const char *want[] = { "e0", "e2", "e1", "e4", "e3" };
  for (int i = 0; i < 5; i++)
    assert_string_equal(ids[i], want[i]);
  cJSON *root = sent_json(f, 1);
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "usages");
  assert_int_equal(cJSON_GetArraySize(u), 3);
  const char *want_accounts[] = { "z", "a", "m" };
  for (int i = 0; i < 3; i++) {
    const cJSON *item = cJSON_GetArrayItem(u, i);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(item, "accountId")->valuestring,
                        want_accounts[i]);
  }
  cJSON_Delete(root);
  for (int i = 0; i < 5; i++)
    meter_record_free(r[i]);
  adfx_free(f);
}

static void test_no_aggregation(void **state)
{
  (void)state;
  const mtr_backend_ops *ops = mtr_backend_find("appdirect");
  assert_non_null(ops);
  assert_non_null(ops->aggregation);
  meter_record **r = make_recs(1, "a");
  mtr_agg_rule rule;
  memset(&rule, 0, sizeof rule);
  rule.aggregate = 1;
  rule.window_us = 99;
  mtr_buf key = MTR_BUF_INIT;
  assert_int_equal(ops->aggregation(NULL, r[0], &rule, &key), METER_OK);
  assert_int_equal(rule.aggregate, 0);
  assert_int_equal(rule.window_us, 0);
  mtr_buf_dispose(&key);
  free_recs(r, 1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_600_events_make_3_requests_with_stable_keys),
    cmocka_unit_test(test_request_key_ignores_order_and_depends_on_content),
    cmocka_unit_test(test_volume_never_mixed),
    cmocka_unit_test(test_dropped_answer_then_duplicate_key),
    cmocka_unit_test(test_duplicate_key_without_ids),
    cmocka_unit_test(test_accounts_in_order_of_first_appearance),
    cmocka_unit_test(test_retries_keep_the_key),
    cmocka_unit_test(test_gives_up_as_failed),
    cmocka_unit_test(test_400_rejected_names_field),
    cmocka_unit_test(test_400_without_body),
    cmocka_unit_test(test_403_is_eauth_404_is_config),
    cmocka_unit_test(test_202_without_request_id),
    cmocka_unit_test(test_same_key_twice_in_a_call_sent_once),
    cmocka_unit_test(test_no_aggregation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
