/* The AWS-only public calls (include/meter/aws.h): ResolveCustomer,
 * RegisterUsage, the credential source and the region. They go through the
 * same request builder, signer and retry loop as metering. */
#include "aws_internal.h"

#include "api/client.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"
#include "core/timefmt.h"

#include <string.h>

static aws_backend *backend_of(meter_client *client, const char *fn)
{
  return (aws_backend *)mtr_client_backend_as(client, "aws", fn);
}

int meter_aws_credential_source(meter_client *client, char *buf, size_t size)
{
  aws_backend *be = backend_of(client, __func__);
  if (!be)
    return client ? METER_EUNSUPPORTED : METER_EINVAL;
  if (!buf || !size)
    return mtr_client_failf(client, METER_EINVAL, "%s: buf is NULL or size is 0", __func__);
  buf[0] = '\0';
  meter_error err;
  mtr_error_clear(&err);
  /* The region first: web identity asks its region's STS. */
  int rc = aws_resolve(be, &err);
  mtr_aws_credentials *cr = NULL;
  if (rc == METER_OK)
    rc = mtr_aws_chain_get(&be->chain, &cr, NULL, &err);
  if (rc != METER_OK)
    return mtr_client_fail(client, &err);
  mtr_strlcpy(buf, cr->source, size);
  mtr_aws_credentials_free(cr);
  return METER_OK;
}

int meter_aws_region(meter_client *client, char *buf, size_t size)
{
  aws_backend *be = backend_of(client, __func__);
  if (!be)
    return client ? METER_EUNSUPPORTED : METER_EINVAL;
  if (!buf || !size)
    return mtr_client_failf(client, METER_EINVAL, "%s: buf is NULL or size is 0", __func__);
  meter_error err;
  mtr_error_clear(&err);
  if (aws_resolve(be, &err) != METER_OK)
    return mtr_client_fail(client, &err);
  mtr_mutex_lock(&be->lock);
  mtr_strlcpy(buf, be->region.name, size);
  mtr_mutex_unlock(&be->lock);
  return METER_OK;
}

/* ---- one request, one answer: the shape both calls share ------------------------- */

typedef struct one_call {
  aws_call call;
  const char *body;          /* the request JSON */
  cJSON *answer;             /* on success */
  aws_error error;           /* on a marketplace refusal */
  int refused;
  long http_status;
} one_call;

static int one_build(void *p, mtr_http_request *req, unsigned attempt, meter_error *err)
{
  one_call *c = p;
  mtr_buf body = MTR_BUF_INIT;
  mtr_buf_puts(&body, c->body);
  if (mtr_buf_status(&body)) {
    mtr_buf_dispose(&body);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  int rc = aws_call_build(&c->call, req, &body, attempt, err);
  mtr_buf_dispose(&body);
  return rc;
}

static mtr_verdict one_handle(void *p, const mtr_http_response *resp, meter_error *err)
{
  one_call *c = p;
  mtr_verdict v;
  c->http_status = resp->status;
  switch (aws_call_classify(&c->call, resp, &c->error, &v, err)) {
  case AWS_ANSWER_AGAIN:
    return v;
  case AWS_ANSWER_AUTH:
    return MTR_DONE;
  case AWS_ANSWER_REJECTED:
    c->refused = 1;
    mtr_error_set(err, METER_EREJECTED, "AWS %s: %s%s%s", c->call.op, c->error.code,
                  c->error.message[0] ? ": " : "", c->error.message);
    return MTR_DONE;
  case AWS_ANSWER_OK:
    break;
  }
  char what[64];
  mtr_fmt(what, sizeof what, "%s answer", c->call.op);
  c->answer = mtr_json_parse(resp->body.ptr ? resp->body.ptr : "", resp->body.len, what, err);
  return MTR_DONE;
}

static void one_give_up(void *p, int status, const char *why, const mtr_http_response *last)
{
  (void)p;
  (void)status;
  (void)why;
  (void)last;
}

/* Runs the call; on a refusal or success the caller reads c->answer / c->error. */
static int run_one(aws_backend *be, one_call *c, const char *op, const char *body,
                   meter_error *err)
{
  static const mtr_exchange_ops ops_resolve = { "AWS ResolveCustomer", one_build, one_handle,
                                                one_give_up, NULL };
  static const mtr_exchange_ops ops_register = { "AWS RegisterUsage", one_build, one_handle,
                                                 one_give_up, NULL };
  memset(c, 0, sizeof *c);
  aws_call_init(&c->call, be, op);
  c->call.expired_token_is_input = strcmp(op, "ResolveCustomer") == 0;
  c->body = body;
  return mtr_exchange(be->base.env,
                      strcmp(op, "ResolveCustomer") == 0 ? &ops_resolve : &ops_register, c, NULL,
                      err);
}

/* ---- ResolveCustomer -------------------------------------------------------------- */

struct meter_aws_customer {
  char *identifier, *account_id, *product_code, *license_arn;
  char *error_code, *message, *request_id;
};

void meter_aws_customer_free(meter_aws_customer *c)
{
  if (!c)
    return;
  mtr_free(c->identifier);
  mtr_free(c->account_id);
  mtr_free(c->product_code);
  mtr_free(c->license_arn);
  mtr_free(c->error_code);
  mtr_free(c->message);
  mtr_free(c->request_id);
  mtr_free(c);
}

static int dup_opt(char **slot, const char *v)
{
  if (v && !(*slot = mtr_strdup(v)))
    return -1;
  return 0;
}

int meter_aws_resolve_customer(meter_aws_customer **out, meter_client *client,
                               const char *registration_token)
{
  if (out)
    *out = NULL;
  aws_backend *be = backend_of(client, __func__);
  if (!be)
    return client ? METER_EUNSUPPORTED : METER_EINVAL;
  if (!out)
    return mtr_client_failf(client, METER_EINVAL, "%s: out is NULL", __func__);
  if (!registration_token || !*registration_token ||
      mtr_has_ctl(registration_token, strlen(registration_token)))
    return mtr_client_failf(client, METER_EINVAL, "%s: the registration token is empty or has "
                                                  "control characters", __func__);
  mtr_logger_add_secret(be->base.log, registration_token);
  cJSON *req = cJSON_CreateObject();
  mtr_buf body = MTR_BUF_INIT;
  if (!req || !mtr_json_add_str(req, "RegistrationToken", registration_token) ||
      mtr_json_print(req, &body) != METER_OK) {
    cJSON_Delete(req);
    mtr_buf_dispose_secret(&body);
    return mtr_client_failf(client, METER_ENOMEM, "out of memory");
  }
  cJSON_Delete(req);

  one_call c;
  meter_error err;
  mtr_error_clear(&err);
  int rc = run_one(be, &c, "ResolveCustomer", mtr_buf_cstr(&body), &err);
  mtr_buf_dispose_secret(&body);
  if (rc == METER_OK || (rc == METER_EREJECTED && c.refused)) {
    meter_aws_customer *cu = mtr_calloc(1, sizeof *cu);
    int bad = !cu;
    if (cu && c.answer)
      bad = dup_opt(&cu->identifier, mtr_json_str(c.answer, "CustomerIdentifier")) ||
            dup_opt(&cu->account_id, mtr_json_str(c.answer, "CustomerAWSAccountId")) ||
            dup_opt(&cu->product_code, mtr_json_str(c.answer, "ProductCode")) ||
            dup_opt(&cu->license_arn, mtr_json_str(c.answer, "LicenseArn"));
    if (cu && c.refused)
      bad |= dup_opt(&cu->error_code, c.error.code) ||
             dup_opt(&cu->message, c.error.message[0] ? c.error.message : NULL);
    if (cu)
      bad |= dup_opt(&cu->request_id, c.call.request_id[0] ? c.call.request_id : NULL);
    cJSON_Delete(c.answer);
    if (bad) {
      meter_aws_customer_free(cu);
      return mtr_client_failf(client, METER_ENOMEM, "out of memory");
    }
    if (rc == METER_OK && !cu->identifier && !cu->account_id) {
      meter_aws_customer_free(cu);
      return mtr_client_failf(client, METER_EPROTOCOL, "ResolveCustomer answer has neither "
                                                       "CustomerIdentifier nor "
                                                       "CustomerAWSAccountId");
    }
    *out = cu;
    if (rc == METER_OK)
      MTR_INFO(be->base.log, "AWS ResolveCustomer: customer %s, product %s",
               cu->account_id ? cu->account_id : cu->identifier,
               cu->product_code ? cu->product_code : "(none)");
    return rc == METER_OK ? METER_OK : mtr_client_fail(client, &err);
  }
  cJSON_Delete(c.answer);
  return mtr_client_fail(client, &err);
}

const char *meter_aws_customer_identifier(const meter_aws_customer *c)
{
  return c ? c->identifier : NULL;
}
const char *meter_aws_customer_account_id(const meter_aws_customer *c)
{
  return c ? c->account_id : NULL;
}
const char *meter_aws_customer_product_code(const meter_aws_customer *c)
{
  return c ? c->product_code : NULL;
}
const char *meter_aws_customer_license_arn(const meter_aws_customer *c)
{
  return c ? c->license_arn : NULL;
}
const char *meter_aws_customer_error_code(const meter_aws_customer *c)
{
  return c ? c->error_code : NULL;
}
const char *meter_aws_customer_message(const meter_aws_customer *c)
{
  return c ? c->message : NULL;
}
const char *meter_aws_customer_request_id(const meter_aws_customer *c)
{
  return c ? c->request_id : NULL;
}

/* ---- RegisterUsage ---------------------------------------------------------------- */

struct meter_aws_registration {
  char *signature;
  int64_t rotation_us;
  char *error_code, *message, *request_id;
};

void meter_aws_registration_free(meter_aws_registration *r)
{
  if (!r)
    return;
  mtr_free(r->signature);
  mtr_free(r->error_code);
  mtr_free(r->message);
  mtr_free(r->request_id);
  mtr_free(r);
}

int meter_aws_register_usage(meter_aws_registration **out, meter_client *client,
                             const char *product_code, int public_key_version, const char *nonce)
{
  if (out)
    *out = NULL;
  aws_backend *be = backend_of(client, __func__);
  if (!be)
    return client ? METER_EUNSUPPORTED : METER_EINVAL;
  if (!out)
    return mtr_client_failf(client, METER_EINVAL, "%s: out is NULL", __func__);
  const char *product = product_code ? product_code : be->product_code;
  if (!aws_product_code_valid(product))
    return mtr_client_failf(client, METER_EINVAL, "%s: product code %s", __func__,
                            product ? "must be 1-255 characters of [-a-zA-Z0-9/=:_.@]"
                                    : "missing (argument or product_code setting)");
  if (public_key_version < 1)
    return mtr_client_failf(client, METER_EINVAL, "%s: public_key_version must be >= 1",
                            __func__);
  if (nonce && (strlen(nonce) > 255 || mtr_has_ctl(nonce, strlen(nonce))))
    return mtr_client_failf(client, METER_EINVAL, "%s: nonce must be at most 255 characters "
                                                  "without control characters", __func__);
  cJSON *req = cJSON_CreateObject();
  mtr_buf body = MTR_BUF_INIT;
  if (!req || !mtr_json_add_str(req, "ProductCode", product) ||
      !mtr_json_add_int(req, "PublicKeyVersion", public_key_version) ||
      !mtr_json_add_str(req, "Nonce", nonce) || mtr_json_print(req, &body) != METER_OK) {
    cJSON_Delete(req);
    mtr_buf_dispose(&body);
    return mtr_client_failf(client, METER_ENOMEM, "out of memory");
  }
  cJSON_Delete(req);

  one_call c;
  meter_error err;
  mtr_error_clear(&err);
  int rc = run_one(be, &c, "RegisterUsage", mtr_buf_cstr(&body), &err);
  mtr_buf_dispose(&body);
  if (rc == METER_OK || (rc == METER_EREJECTED && c.refused)) {
    meter_aws_registration *r = mtr_calloc(1, sizeof *r);
    int bad = !r;
    if (r && c.answer) {
      bad = dup_opt(&r->signature, mtr_json_str(c.answer, "Signature"));
      const cJSON *ts = cJSON_GetObjectItemCaseSensitive(c.answer, "PublicKeyRotationTimestamp");
      /* Out of range is no time at all (and the cast would be undefined): left 0. */
      if (cJSON_IsNumber(ts) && ts->valuedouble > -9.0e12 && ts->valuedouble < 9.0e12)
        r->rotation_us = (int64_t)(ts->valuedouble * 1e6);
    }
    if (r && c.refused)
      bad |= dup_opt(&r->error_code, c.error.code) ||
             dup_opt(&r->message, c.error.message[0] ? c.error.message : NULL);
    if (r)
      bad |= dup_opt(&r->request_id, c.call.request_id[0] ? c.call.request_id : NULL);
    cJSON_Delete(c.answer);
    if (bad) {
      meter_aws_registration_free(r);
      return mtr_client_failf(client, METER_ENOMEM, "out of memory");
    }
    if (rc == METER_OK && !r->signature) {
      meter_aws_registration_free(r);
      return mtr_client_failf(client, METER_EPROTOCOL, "RegisterUsage answer has no Signature");
    }
    *out = r;
    return rc == METER_OK ? METER_OK : mtr_client_fail(client, &err);
  }
  cJSON_Delete(c.answer);
  return mtr_client_fail(client, &err);
}

const char *meter_aws_registration_signature(const meter_aws_registration *r)
{
  return r ? r->signature : NULL;
}
int64_t meter_aws_registration_key_rotation_us(const meter_aws_registration *r)
{
  return r ? r->rotation_us : 0;
}
const char *meter_aws_registration_error_code(const meter_aws_registration *r)
{
  return r ? r->error_code : NULL;
}
const char *meter_aws_registration_message(const meter_aws_registration *r)
{
  return r ? r->message : NULL;
}
const char *meter_aws_registration_request_id(const meter_aws_registration *r)
{
  return r ? r->request_id : NULL;
}
