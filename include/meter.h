/*
 * libmeter — report usage to cloud marketplaces (Tackle, AppDirect, AWS).
 *
 * The umbrella header: include this one. Back-end specific operations live in
 * meter/tackle.h, meter/appdirect.h and meter/aws.h, the reliable (spooled)
 * mode in meter/reliable.h; all are included here.
 *
 *   meter_client_options o = METER_CLIENT_OPTIONS_INIT;
 *   o.backend = "aws";
 *   meter_client *c; meter_error e;
 *   if (meter_client_new(&c, &o, &e) != METER_OK) { puts(e.message); return 1; }
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef METER_H
#define METER_H

#include "meter/common.h"
#include "meter/version.h"
#include "meter/errors.h"
#include "meter/record.h"
#include "meter/client.h"
#include "meter/reliable.h"
#include "meter/tackle.h"
#include "meter/appdirect.h"
#include "meter/aws.h"

#endif /* METER_H */
