/* SPDX-License-Identifier: MIT */
/* One call to the broker's JSON API (brokerapi.h) over https.h. */
#include "brokerapi.h"
#include "api_json.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void bapi_answer_deinit(struct bapi_answer *a)
{
	if (!a)
		return;
	cJSON_Delete(a->json);
	free(a->body);
	a->json = NULL;
	a->body = NULL;
}

static const char *json_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int bapi_call(const struct https_target *t, const char *method, const char *path,
	      const char *bearer, const cJSON *body, struct bapi_answer *a, char *err,
	      size_t errlen)
{
	struct https_response res;
	char *text = NULL;
	int rc;

	memset(a, 0, sizeof(*a));
	a->retry_after_s = -1;
	if (body) {
		text = cJSON_PrintUnformatted(body);
		if (!text) {
			hr_errorf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	rc = https_request(t, "the broker", method, path, bearer, text, &res, err, errlen);
	if (text) {
		OPENSSL_cleanse(text, strlen(text)); /* a password may be in it */
		free(text);
	}
	if (rc < 0)
		return rc;
	return bapi_read_answer(method, path, &res, a, err, errlen);
}

int bapi_read_answer(const char *method, const char *path, struct https_response *res,
		     struct bapi_answer *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	a->status = res->status;
	a->retry_after_s = res->retry_after_s;
	a->body = res->body; /* ours now */
	res->body = NULL;
	const char *why = NULL;
	a->json = a->body ? api_json_parse(a->body, res->len, &why) : NULL;
	if (a->status >= 200 && a->status < 300) {
		if (cJSON_IsObject(a->json))
			return 0;
		hr_errorf(err, errlen, "the broker's answer to %s %s is not a JSON object%s%s",
			  method, path, why ? ": " : "", why ? why : "");
		return -HR_EBROKER_ANSWER;
	}
	const char *e = json_str(a->json, "error"), *h = json_str(a->json, "hint");
	const char *code = json_str(a->json, "code");
	if (code && strlen(code) < sizeof(a->code))
		strcpy(a->code, code);
	hr_errorf(err, errlen, "%s%s%s", e && e[0] ? e : "no reason given", h && h[0] ? "; " : "",
		  h && h[0] ? h : "");
	for (char *c = err; c && errlen && *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?'; /* the broker's words go into logs and dialogs: no control bytes */
	return a->status < 500 ? -HR_EBROKER_REFUSED : -HR_EBROKER_FAILED;
}
