/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for brokerapi/: what a broker (or anything at its address
 * that passed TLS) sends back is untrusted bytes for highrisectl, the agent
 * and the client. The input is an answer as read off the wire: its head
 * parsed (https_parse_response), then its body judged (bapi_read_answer:
 * JSON, {error, hint, code}). Whatever is accepted must obey the contract:
 * a status in 100..599, a body within the input, a NUL-terminated code that
 * fits, and a sentence for every refusal with no control byte in it (it goes
 * into logs and dialogs).
 */
#include "brokerapi.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *why)
{
	fprintf(stderr, "fuzz_brokerapi: %s\n", why);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct https_response res;
	struct bapi_answer a;
	char err[256];
	char *raw = malloc(size + 1);
	int rc;

	if (!raw)
		return 0;
	memcpy(raw, data, size);
	raw[size] = '\0';
	if (https_parse_response(raw, size, &res) < 0) {
		free(raw);
		return 0;
	}
	if (res.status < 100 || res.status > 599 || res.body != raw || res.len > size ||
	    res.body[res.len] != '\0')
		die("an accepted answer breaks https_parse_response's contract");
	err[0] = '\0';
	rc = bapi_read_answer("GET", "/api/v1/pools", &res, &a, err, sizeof(err));
	if (a.body != raw || res.body)
		die("bapi_read_answer did not take the body");
	if (strnlen(a.code, sizeof(a.code)) == sizeof(a.code))
		die("the code is not NUL-terminated");
	if (rc == 0 && !cJSON_IsObject(a.json))
		die("a 2xx accepted without a JSON object");
	if (rc != 0 &&
	    (rc != -HR_EBROKER_REFUSED && rc != -HR_EBROKER_FAILED && rc != -HR_EBROKER_ANSWER))
		die("an answer judged with a code outside brokerapi.h's");
	if (rc != 0 && !err[0])
		die("a refusal without a sentence");
	for (const char *c = err; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			die("a control byte of the answer in the sentence");
	bapi_answer_deinit(&a);
	return 0;
}
