/*
 * libmeter — AWS Marketplace Metering specific calls.
 *
 * Usage goes through meter_send() like every back end (MeterUsage for records
 * without a customer, BatchMeterUsage for records with `customer` or
 * `customer_account_id`). The calls below are the rest of the service:
 * ResolveCustomer (SaaS registration), RegisterUsage (paid container
 * products) and which credentials and region the client uses. They need a
 * client created with backend "aws" (any other gives METER_EUNSUPPORTED) and
 * share its credentials, retries and logging. Errors are returned as a
 * meter_status; the detail is available from meter_client_last_error().
 *
 *   meter_aws_customer *cust = NULL;
 *   int rc = meter_aws_resolve_customer(&cust, client, token_from_the_form);
 *   if (rc == METER_OK) {
 *     store(meter_aws_customer_account_id(cust), meter_aws_customer_license_arn(cust),
 *           meter_aws_customer_identifier(cust), meter_aws_customer_product_code(cust));
 *   } else if (rc == METER_EREJECTED) {
 *     printf("refused: %s\n", meter_aws_customer_error_code(cust)); // "InvalidTokenException"
 *   }
 *   meter_aws_customer_free(cust);
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef METER_AWS_H
#define METER_AWS_H

#include "client.h"
#include "common.h"

METER_BEGIN_DECL

/* ---- credentials and region ---------------------------------------------- */

/*
 * Which source of the default credential chain the client's credentials come
 * from: "settings", "environment", "profile <name>", "web-identity", "ecs" or
 * "imds". Fetches credentials first if the client has none yet (this may do
 * network I/O: STS, the container agent, instance metadata), so a service can
 * check at start-up that MeterUsage will be signed with its instance, task or
 * pod role. Copies the name into buf (NUL-terminated, truncated to size).
 * Never reveals a key. METER_ECONFIG/METER_EAUTH when no credentials can be
 * obtained (the client's last error says what was tried).
 */
METER_EXTERN(int) meter_aws_credential_source(meter_client *client, char *buf, size_t size);

/*
 * The region the client signs for and sends to ("us-east-1"), resolving it
 * first if needed (setting, AWS_REGION, AWS_DEFAULT_REGION, profile, IMDS).
 */
METER_EXTERN(int) meter_aws_region(meter_client *client, char *buf, size_t size);

/* ---- ResolveCustomer ------------------------------------------------------ */

typedef struct meter_aws_customer meter_aws_customer;

/*
 * Exchanges the registration token a buyer's browser posts to the product's
 * registration URL (form field x-amzn-marketplace-token) for the customer.
 * Must be called with the credentials of the seller account that published
 * the product.
 *
 * *out is set whenever the marketplace answered: on METER_OK with the four
 * fields, on METER_EREJECTED with the marketplace's error code
 * (InvalidTokenException, ExpiredTokenException, DisabledApiException, ...).
 * The caller frees it with meter_aws_customer_free. Other errors (transport,
 * credentials) leave *out NULL.
 */
METER_EXTERN(int) meter_aws_resolve_customer(meter_aws_customer **out, meter_client *client,
                                             const char *registration_token);

/* The fields of the answer (borrowed; valid until the handle is freed), or
 * NULL when the marketplace did not send them. New SaaS integrations get
 * CustomerAWSAccountId and LicenseArn; CustomerIdentifier may be absent. */
METER_EXTERN(const char *) meter_aws_customer_identifier(const meter_aws_customer *customer);
METER_EXTERN(const char *) meter_aws_customer_account_id(const meter_aws_customer *customer);
METER_EXTERN(const char *) meter_aws_customer_product_code(const meter_aws_customer *customer);
METER_EXTERN(const char *) meter_aws_customer_license_arn(const meter_aws_customer *customer);
/* The marketplace's error code and message when it refused; else NULL. */
METER_EXTERN(const char *) meter_aws_customer_error_code(const meter_aws_customer *customer);
METER_EXTERN(const char *) meter_aws_customer_message(const meter_aws_customer *customer);
/* x-amzn-RequestId of the answer, or NULL. */
METER_EXTERN(const char *) meter_aws_customer_request_id(const meter_aws_customer *customer);
METER_EXTERN(void) meter_aws_customer_free(meter_aws_customer *customer);

/* ---- RegisterUsage -------------------------------------------------------- */

typedef struct meter_aws_registration meter_aws_registration;

/*
 * RegisterUsage for paid container products: call once when the task or pod
 * starts, in the region it runs in. product_code NULL uses the client's
 * `product_code` setting; public_key_version >= 1; nonce may be NULL (at most
 * 255 characters, echoed in the signed token).
 *
 * *out is set whenever the marketplace answered, as for
 * meter_aws_resolve_customer (METER_EREJECTED: CustomerNotEntitledException,
 * PlatformNotSupportedException, ...).
 */
METER_EXTERN(int) meter_aws_register_usage(meter_aws_registration **out, meter_client *client,
                                           const char *product_code, int public_key_version,
                                           const char *nonce);

/* The JWT the marketplace signed (borrowed), or NULL. */
METER_EXTERN(const char *) meter_aws_registration_signature(const meter_aws_registration *reg);
/* PublicKeyRotationTimestamp in microseconds since the epoch; 0 when absent
 * (it is only sent when the public key version has expired). */
METER_EXTERN(int64_t) meter_aws_registration_key_rotation_us(const meter_aws_registration *reg);
METER_EXTERN(const char *) meter_aws_registration_error_code(const meter_aws_registration *reg);
METER_EXTERN(const char *) meter_aws_registration_message(const meter_aws_registration *reg);
METER_EXTERN(const char *) meter_aws_registration_request_id(const meter_aws_registration *reg);
METER_EXTERN(void) meter_aws_registration_free(meter_aws_registration *reg);

METER_END_DECL

#endif /* METER_AWS_H */
