/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_BROKERAPI_H
#define HIGHRISE_BROKERAPI_H

/*
 * One call to the broker's JSON API (docs/broker-api.md), for everything that
 * speaks to a broker: highrisectl, the agent's broker link and the client's
 * login (client/broker_client.h). It owns what those share: the body sent as
 * JSON and wiped afterwards (it may hold a password), the answer parsed, a
 * refusal's {"error", "hint", "code"} turned into one sentence and a code a
 * program may decide by, and the outcome as one of the error codes below.
 *
 * The transport is https.h (one verified TLS 1.3 request per call); like it,
 * bapi_call blocks, keeps no state and may be called from any thread.
 */

#include "error.h"
#include "https.h"

#include <cjson/cJSON.h>
#include <stddef.h>

#define BAPI_CODE_MAX 32 /* routes.h's API_CODE_* fit */

/* What came back from one call; bapi_answer_deinit in every case. */
struct bapi_answer {
	int status;		  /* the HTTP status; 0 when nothing came back */
	cJSON *json;		  /* the body parsed, or NULL when it is not JSON */
	char *body;		  /* the body as it came, NUL-terminated; NULL when none */
	int retry_after_s;	  /* the Retry-After header, or -1 */
	char code[BAPI_CODE_MAX]; /* a refusal's "code" (routes.h's API_CODE_*), or "" */
};

void bapi_answer_deinit(struct bapi_answer *a);

/*
 * METHOD path with body (a JSON object, or NULL: none) and an optional bearer
 * token, to the broker at t. Returns
 *   0                     a 2xx whose body is a JSON object (a->json)
 *   -HR_EBROKER_REFUSED   a 4xx; err holds the broker's words: "ERROR; HINT"
 *                         (control bytes as '?', "no reason given" without an error)
 *   -HR_EBROKER_FAILED    a 5xx; err likewise
 *   -HR_EBROKER_ANSWER    a 2xx whose body is not a JSON object
 *   -HR_EHTTPS_*          no answer (https.h): err says why ("cannot reach ...")
 * The status, body, Retry-After and code are in *a whenever an answer came.
 */
int bapi_call(const struct https_target *t, const char *method, const char *path,
	      const char *bearer, const cJSON *body, struct bapi_answer *a, char *err,
	      size_t errlen);

/*
 * The second half of bapi_call: res (an answer https_request read) into *a,
 * taking res->body; the same returns. For tests/fuzz/fuzz_brokerapi.c.
 */
int bapi_read_answer(const char *method, const char *path, struct https_response *res,
		     struct bapi_answer *a, char *err, size_t errlen);

#endif
