/*
 * libmeter from C++: a small RAII wrapper (handles freed by their owners,
 * errors as exceptions) and one record sent to Tackle with it.
 *
 *   TACKLE_CLIENT_ID=... TACKLE_CLIENT_SECRET=... ./cpp_example [ENDPOINT]
 *
 * ENDPOINT defaults to $METER_ENDPOINT, else Tackle itself. Exit status: 0
 * delivered, 1 not, 2 an error.
 */
#include <meter.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace meter {

/* A libmeter error: its status and message. */
class error : public std::runtime_error {
public:
  error(int status, const std::string &what)
    : std::runtime_error(what + " (" + meter_status_name(status) + ")"), status_(status) {}
  int status() const { return status_; }

private:
  int status_;
};

/* unique_ptr deleters for the library's handles. */
struct client_deleter {
  void operator()(meter_client *c) const { meter_client_free(c); }
};
struct record_deleter {
  void operator()(meter_record *r) const { meter_record_free(r); }
};
struct results_deleter {
  void operator()(meter_results *r) const { meter_results_free(r); }
};

class record {
public:
  record() {
    meter_record *r = nullptr;
    int rc = meter_record_new(&r);
    if (rc != METER_OK)
      throw error(rc, "meter_record_new");
    r_.reset(r);
  }
  /* Chainable: record().set(METER_FIELD_CUSTOMER, "c1").quantity(3). */
  record &set(meter_field field, const std::string &value) {
    int rc = meter_record_setn(r_.get(), field, value.data(), value.size());
    if (rc != METER_OK)
      throw error(rc, meter_record_errmsg(r_.get()));
    return *this;
  }
  record &quantity(int64_t q) {
    int rc = meter_record_set_quantity(r_.get(), q);
    if (rc != METER_OK)
      throw error(rc, meter_record_errmsg(r_.get()));
    return *this;
  }
  std::string idempotency_key() const {
    return meter_record_get(r_.get(), METER_FIELD_IDEMPOTENCY_KEY);
  }
  meter_record *get() const { return r_.get(); }

private:
  std::unique_ptr<meter_record, record_deleter> r_;
};

/* One record's result; strings are copied out of the library's. */
struct result {
  meter_outcome outcome;
  std::string record_id, status, error_code, message, idempotency_key;
  int http_status;
  unsigned attempts;
  bool delivered() const { return meter_outcome_delivered(outcome) != 0; }
};

class client {
public:
  client(const std::string &backend, const std::vector<std::pair<std::string, std::string>> &settings,
         const std::string &endpoint = std::string()) {
    std::vector<meter_setting> s;
    for (const auto &kv : settings)
      s.push_back(meter_setting{ kv.first.c_str(), kv.second.c_str() });
    meter_client_options o = METER_CLIENT_OPTIONS_INIT;
    o.backend = backend.c_str();
    o.endpoint = endpoint.empty() ? nullptr : endpoint.c_str();
    o.settings = s.data();
    o.settings_count = s.size();
    meter_client *c = nullptr;
    meter_error e;
    int rc = meter_client_new(&c, &o, &e);
    if (rc != METER_OK)
      throw error(rc, e.message);
    c_.reset(c);
  }

  /* Sends the records; every record gets a result (the statuses tell which
   * were delivered). Throws only when no results could be made. */
  std::vector<result> send(const std::vector<record> &records) {
    std::vector<meter_record *> raw;
    for (const auto &r : records)
      raw.push_back(r.get());
    meter_results *res = nullptr;
    int rc = meter_send(c_.get(), raw.data(), raw.size(), &res);
    std::unique_ptr<meter_results, results_deleter> owned(res);
    if (!res) {
      char why[METER_ERROR_MESSAGE_SIZE];
      meter_client_last_error(c_.get(), why, sizeof why);
      throw error(rc, why);
    }
    std::vector<result> out;
    for (size_t i = 0; i < meter_results_count(res); i++) {
      auto str = [](const char *s) { return s ? std::string(s) : std::string(); };
      out.push_back(result{ meter_results_outcome(res, i), str(meter_results_record_id(res, i)),
                            str(meter_results_status(res, i)),
                            str(meter_results_error_code(res, i)),
                            str(meter_results_message(res, i)),
                            str(meter_results_idempotency_key(res, i)),
                            meter_results_http_status(res, i), meter_results_attempts(res, i) });
    }
    return out;
  }

private:
  std::unique_ptr<meter_client, client_deleter> c_;
};

} // namespace meter

int main(int argc, char **argv)
{
  const char *env_endpoint = std::getenv("METER_ENDPOINT");
  std::string endpoint = argc > 1 ? argv[1] : env_endpoint ? env_endpoint : "";
  const char *id = std::getenv("TACKLE_CLIENT_ID"), *secret = std::getenv("TACKLE_CLIENT_SECRET");
  if (!id || !secret) {
    std::cerr << "set TACKLE_CLIENT_ID and TACKLE_CLIENT_SECRET\n";
    return 2;
  }
  try {
    meter::client tackle("tackle", { { "client_id", id }, { "client_secret", secret } }, endpoint);
    std::vector<meter::record> records(1);
    records[0]
      .set(METER_FIELD_PRODUCT, "example-product")
      .set(METER_FIELD_CUSTOMER, "cpp-customer")
      .set(METER_FIELD_DIMENSION, "users")
      .quantity(7);
    std::vector<meter::result> results = tackle.send(records);
    const meter::result &r = results.at(0);
    std::cout << meter_outcome_name(r.outcome) << ": record " << r.record_id << ", status "
              << r.status << ", HTTP " << r.http_status << ", key " << r.idempotency_key;
    if (!r.delivered())
      std::cout << " (" << r.error_code << ": " << r.message << ")";
    std::cout << "\n";
    return r.delivered() ? 0 : 1;
  } catch (const meter::error &e) {
    std::cerr << "libmeter: " << e.what() << "\n";
    return 2;
  }
}
