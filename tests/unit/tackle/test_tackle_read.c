/* The read API: list with every filter and page token (both spellings),
 * pages fetched on demand; get and delete one record. */
#include "tk_fixture.h"

#include "meter/tackle.h"

#define JSON "Content-Type: application/json\n"
#define BASE "https://tackle.test/v1/metering/usage-records"

static const char *rec_json(const char *id, const char *cust, int qty)
{
  static char buf[4][1024];
  static int n;
  char *b = buf[n++ % 4];
  snprintf(b, 1024,
           "{\"id\":\"%s\",\"vendor_id\":\"V\",\"product_id\":\"p\",\"customer_id\":\"%s\","
           "\"subscription_id\":null,\"cloud\":\"aws\",\"dimension\":{\"name\":\"users\","
           "\"quantity\":%d},\"start_time\":\"2024-01-01T13:00:00.000000Z\",\"end_time\":null,"
           "\"created_at\":\"2024-01-01T13:01:00.5Z\",\"updated_at\":\"2024-01-01T13:02:00Z\","
           "\"deleted_at\":null,\"status\":\"accepted\",\"reason\":null,\"test\":null}",
           id, cust, qty);
  return b;
}

static void test_list_filters_and_pages(void **state)
{
  (void)state;
  tk_fx *f = tk_fx_new("access_token", "tok-static-123456", NULL);
  const char *products[] = { "p 1", "p&2" };
  const char *customers[] = { "c/1" };
  const char *dims[] = { "users", "gb" };
  const char *subs[] = { "s1" };
  meter_tackle_list_options o = METER_TACKLE_LIST_OPTIONS_INIT;
  o.product_ids = products;
  o.product_id_count = 2;
  o.customer_ids = customers;
  o.customer_id_count = 1;
  o.dimensions = dims;
  o.dimension_count = 2;
  o.subscription_ids = subs;
  o.subscription_id_count = 1;
  o.start_after = "2024-01-01T00:00:00Z";
  o.start_before = "2024-01-02T01:00:00.5+01:00";
  o.scheduled_after = "2024-01-01";
  o.scheduled_before = "2024-01-03T00:00:00Z";
  o.quantity = "010";
  o.include_zeros = METER_TACKLE_FLAG_TRUE;
  o.include_tests = METER_TACKLE_FLAG_FALSE;
  o.page_size = 2;
  char p1[4096], p2[4096], p3[4096];
  snprintf(p1, sizeof p1, "{\"data\":[%s,%s],\"metadata\":{\"link\":\"x\",\"next_page_token\":\"tok+A/1=\"}}",
           rec_json("r1", "c1", 1), rec_json("r2", "c2", 2));
  snprintf(p2, sizeof p2, "{\"data\":[%s,%s],\"metadata\":{\"nextPageToken\":\"B\"}}",
           rec_json("r3", "c3", 3), rec_json("r4", "c4", 4));
  snprintf(p3, sizeof p3, "{\"data\":[%s],\"metadata\":{\"next_page_token\":null}}",
           rec_json("r5", "c5", 5));
  fake_push(&f->t, 200, JSON, p1);
  fake_push(&f->t, 200, JSON, p2);
  fake_push(&f->t, 200, JSON, p3);

  meter_tackle_list *it;
  assert_int_equal(meter_tackle_list_new(&it, f->c, &o), METER_OK);
  assert_int_equal(f->t.nsent, 0); /* nothing until asked */
  const meter_tackle_record *r;
  const char *want[] = { "r1", "r2", "r3", "r4", "r5" };
  for (int i = 0; i < 5; i++) {
    assert_int_equal(meter_tackle_list_next(it, &r), METER_OK);
    assert_non_null(r);
    assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_ID), want[i]);
    if (i == 0) {
      assert_int_equal(f->t.nsent, 1);
      assert_string_equal(meter_tackle_list_page_token(it), "tok+A/1=");
    }
  }
  assert_int_equal(meter_tackle_list_next(it, &r), METER_OK);
  assert_null(r);
  assert_int_equal(meter_tackle_list_pages(it), 3);
  assert_null(meter_tackle_list_page_token(it));
  assert_int_equal(f->t.nsent, 3);
  const char *q = BASE "?size=2&quantity=10&scheduled_before=2024-01-03T00%3A00%3A00Z"
                  "&scheduled_after=2024-01-01T00%3A00%3A00Z&include_zeros=true"
                  "&product_id=p%201&product_id=p%262&customer_id=c%2F1&dimension=users"
                  "&dimension=gb&subscription_id=s1&start_after=2024-01-01T00%3A00%3A00Z"
                  "&start_before=2024-01-02T00%3A00%3A00.500000Z&include_tests=false";
  assert_string_equal(f->t.sent[0].url, q);
  char q2[1024];
  snprintf(q2, sizeof q2, "%s&page=tok%%2BA%%2F1%%3D", q);
  assert_string_equal(f->t.sent[1].url, q2);
  snprintf(q2, sizeof q2, "%s&page=B", q);
  assert_string_equal(f->t.sent[2].url, q2);
  assert_string_equal(f->t.sent[0].method, "GET");
  assert_string_equal(fake_sent_header(&f->t, 0, "Authorization"), "Bearer tok-static-123456");
  meter_tackle_list_free(it);
  tk_fx_free(f);
}

static void test_list_no_filters_and_resume(void **state)
{
  (void)state;
  tk_fx *f = tk_fx_new("access_token", "tok-static-123456", NULL);
  fake_push(&f->t, 200, JSON, "{\"data\":[],\"metadata\":{\"next_page_token\":null}}");
  meter_tackle_list *it;
  assert_int_equal(meter_tackle_list_new(&it, f->c, NULL), METER_OK);
  const meter_tackle_record *r;
  assert_int_equal(meter_tackle_list_next(it, &r), METER_OK);
  assert_null(r);
  assert_string_equal(f->t.sent[0].url, BASE);
  meter_tackle_list_free(it);

  meter_tackle_list_options o;
  assert_int_equal(meter_tackle_list_options_init(&o, METER_TACKLE_LIST_OPTIONS_VERSION), METER_OK);
  o.page_token = "saved";
  fake_push(&f->t, 200, JSON, "{\"data\":[],\"metadata\":{}}");
  assert_int_equal(meter_tackle_list_new(&it, f->c, &o), METER_OK);
  assert_int_equal(meter_tackle_list_next(it, &r), METER_OK);
  assert_string_equal(f->t.sent[1].url, BASE "?page=saved");
  meter_tackle_list_free(it);
  tk_fx_free(f);
}

static void test_list_bad_filters(void **state)
{
  (void)state;
  tk_fx *f = tk_fx_new("access_token", "tok-static-123456", NULL);
  meter_tackle_list_options o = METER_TACKLE_LIST_OPTIONS_INIT;
  o.start_after = "yesterday";
  meter_tackle_list *it;
  char msg[256];
  assert_int_equal(meter_tackle_list_new(&it, f->c, &o), METER_EINVAL);
  assert_null(it);
  meter_client_last_error(f->c, msg, sizeof msg);
  assert_non_null(strstr(msg, "start_after"));
  o.start_after = NULL;
  o.quantity = "-1";
  assert_int_equal(meter_tackle_list_new(&it, f->c, &o), METER_EINVAL);
  meter_client_last_error(f->c, msg, sizeof msg);
  assert_non_null(strstr(msg, "quantity"));
  o.quantity = NULL;
  o.customer_id_count = 1;
  assert_int_equal(meter_tackle_list_new(&it, f->c, &o), METER_EINVAL);
  o.version = 99;
  assert_int_equal(meter_tackle_list_new(&it, f->c, &o), METER_EVERSION);
  assert_int_equal(meter_tackle_list_new(&it, NULL, NULL), METER_EINVAL);
  assert_int_equal(f->t.nsent, 0);
  tk_fx_free(f);
}

/* A failing page leaves the iterator in place: the next call retries it. */
static void test_list_error_then_retry(void **state)
{
  (void)state;
  tk_fx *f = tk_fx_new("access_token", "tok-static-123456", NULL);
  for (int i = 0; i < 5; i++)
    fake_push(&f->t, 503, NULL, NULL);
  char p1[2048];
  snprintf(p1, sizeof p1, "{\"data\":[%s]}", rec_json("r1", "c1", 1));
  fake_push(&f->t, 200, JSON, p1);
  meter_tackle_list *it;
  assert_int_equal(meter_tackle_list_new(&it, f->c, NULL), METER_OK);
  const meter_tackle_record *r;
  assert_int_equal(meter_tackle_list_next(it, &r), METER_EUNDELIVERED);
  assert_null(r);
  assert_int_equal(meter_tackle_list_next(it, &r), METER_OK);
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_ID), "r1");
  assert_int_equal(meter_tackle_list_next(it, &r), METER_OK);
  assert_null(r);
  meter_tackle_list_free(it);
  tk_fx_free(f);
}

static void test_list_reauthenticates(void **state)
{
  (void)state;
  tk_fx *f = tk_fx_new("client_id", "id-1", "client_secret", "secret-xyz-1", NULL);
  tk_push_token(f, "tok-one-aaaaaa", 5400);
  fake_push(&f->t, 401, JSON, "{\"code\":\"mtm_token_expired\",\"error\":\"Token expired\",\"errors\":[]}");
  tk_push_token(f, "tok-two-bbbbbb", 5400);
  fake_push(&f->t, 200, JSON, "{\"data\":[]}");
  meter_tackle_list *it;
  assert_int_equal(meter_tackle_list_new(&it, f->c, NULL), METER_OK);
  const meter_tackle_record *r;
  assert_int_equal(meter_tackle_list_next(it, &r), METER_OK);
  assert_null(r);
  assert_string_equal(fake_sent_header(&f->t, 3, "Authorization"), "Bearer tok-two-bbbbbb");
  meter_tackle_list_free(it);
  tk_fx_free(f);
}

static void test_get_record(void **state)
{
  (void)state;
  tk_fx *f = tk_fx_new("access_token", "tok-static-123456", NULL);
  fake_push(&f->t, 200, JSON,
            "{\"data\":[{\"id\":\"bd57/7c26\",\"product_id\":\"prod\",\"customer_id\":\"cust\","
            "\"subscription_id\":\"sub-1\",\"cloud\":\"gcp\",\"dimension\":{\"name\":\"req\","
            "\"quantity\":2.5,\"consumer_id\":\"project:xyz\"},\"start_time\":\"2021-10-25T21:00:00.865Z\","
            "\"end_time\":\"2021-10-25T21:30:00Z\",\"created_at\":\"2021-10-25T21:38:20.865Z\","
            "\"updated_at\":\"2021-10-25T21:39:00Z\",\"deleted_at\":null,\"scheduled_at\":null,"
            "\"status\":\"rejected\",\"reason\":\"customer-not-entitled\",\"test\":\"rejected\","
            "\"link\":\"x\"}],\"metadata\":{\"link\":\"x\"}}");
  meter_tackle_record *r;
  assert_int_equal(meter_tackle_get(&r, f->c, "bd57/7c26"), METER_OK);
  assert_string_equal(f->t.sent[0].url, BASE "/bd57%2F7c26");
  assert_string_equal(f->t.sent[0].method, "GET");
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_ID), "bd57/7c26");
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_PRODUCT_ID), "prod");
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_CUSTOMER_ID), "cust");
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_SUBSCRIPTION_ID), "sub-1");
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_CLOUD), "gcp");
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_DIMENSION), "req");
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_QUANTITY), "2.5");
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_CONSUMER_ID), "project:xyz");
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_STATUS), "rejected");
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_REASON), "customer-not-entitled");
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_TEST), "rejected");
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_CREATED_AT), "2021-10-25T21:38:20.865Z");
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_UPDATED_AT), "2021-10-25T21:39:00Z");
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_END_TIME), "2021-10-25T21:30:00Z");
  assert_null(meter_tackle_record_get(r, METER_TACKLE_DELETED_AT));
  assert_null(meter_tackle_record_get(r, METER_TACKLE_SCHEDULED_AT));
  assert_null(meter_tackle_record_get(r, (meter_tackle_attr)99));
  assert_true(meter_tackle_record_start_us(r) == INT64_C(1635195600865000));
  assert_true(meter_tackle_record_end_us(r) == INT64_C(1635197400000000));
  assert_non_null(strstr(meter_tackle_record_json(r), "\"link\":\"x\""));
  meter_tackle_record_free(r);
  tk_fx_free(f);
}

static void test_get_not_found(void **state)
{
  (void)state;
  tk_fx *f = tk_fx_new("access_token", "tok-static-123456", NULL);
  fake_push(&f->t, 404, JSON,
            "{\"code\":\"not_found\",\"error\":\"Unable to locate resource db91\",\"errors\":[]}");
  meter_tackle_record *r;
  assert_int_equal(meter_tackle_get(&r, f->c, "db91"), METER_ENOTFOUND);
  assert_null(r);
  char msg[256];
  assert_int_equal(meter_client_last_error(f->c, msg, sizeof msg), METER_ENOTFOUND);
  assert_non_null(strstr(msg, "not_found"));
  assert_non_null(strstr(msg, "Unable to locate resource db91"));
  assert_int_equal(meter_tackle_get(&r, f->c, ""), METER_EINVAL);
  assert_int_equal(f->t.nsent, 1);
  tk_fx_free(f);
}

static void test_delete(void **state)
{
  (void)state;
  tk_fx *f = tk_fx_new("access_token", "tok-static-123456", NULL);
  char body[2048];
  snprintf(body, sizeof body, "{\"data\":%s,\"metadata\":{\"link\":\"x\"}}", rec_json("r9", "c9", 9));
  fake_push(&f->t, 200, JSON, body);
  meter_tackle_record *r;
  assert_int_equal(meter_tackle_delete(&r, f->c, "r9"), METER_OK);
  assert_string_equal(f->t.sent[0].method, "DELETE");
  assert_string_equal(f->t.sent[0].url, BASE "/r9");
  assert_string_equal(meter_tackle_record_get(r, METER_TACKLE_QUANTITY), "9");
  meter_tackle_record_free(r);
  /* The answer is lost, the resend finds nothing: it was deleted. */
  fake_push_net(&f->t, MTR_NET_RESET, 1);
  fake_push(&f->t, 404, JSON, "{\"code\":\"not_found\",\"error\":\"Unable to locate resource r8\",\"errors\":[]}");
  assert_int_equal(meter_tackle_delete(&r, f->c, "r8"), METER_OK);
  assert_null(r);
  /* Without a lost answer, 404 is 404. */
  fake_push(&f->t, 404, JSON, "{\"code\":\"not_found\",\"error\":\"Unable to locate resource r7\",\"errors\":[]}");
  assert_int_equal(meter_tackle_delete(NULL, f->c, "r7"), METER_ENOTFOUND);
  /* Already sent to the marketplace: a conflict. */
  fake_push(&f->t, 409, JSON, "{\"code\":\"conflict\",\"error\":\"already sent\",\"errors\":[]}");
  assert_int_equal(meter_tackle_delete(NULL, f->c, "r6"), METER_ECONFLICT);
  tk_fx_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_list_filters_and_pages),
    cmocka_unit_test(test_list_no_filters_and_resume),
    cmocka_unit_test(test_list_bad_filters),
    cmocka_unit_test(test_list_error_then_retry),
    cmocka_unit_test(test_list_reauthenticates),
    cmocka_unit_test(test_get_record),
    cmocka_unit_test(test_get_not_found),
    cmocka_unit_test(test_delete),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
