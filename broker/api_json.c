/* SPDX-License-Identifier: MIT */
/*
 * The API's JSON rule (api_json.h).
 */
#include "api_json.h"

#include <stdbool.h>
#include <string.h>

/* A \u0000 escape inside a string: JSON's only way to say NUL there. */
static bool has_nul_escape(const char *s, size_t len)
{
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		if (!in_string) {
			in_string = s[i] == '"';
			continue;
		}
		if (s[i] == '"') {
			in_string = false;
		} else if (s[i] == '\\' && i + 1 < len) {
			if (s[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0)
				return true;
			i++; /* the escaped character: \" and \\ do not end or start anything */
		}
	}
	return false;
}

static bool only_space(const char *s, const char *end)
{
	for (; s < end; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	return true;
}

cJSON *api_json_parse(const char *body, size_t len, const char **why)
{
	const char *end = NULL;
	if (!body || len == 0) {
		*why = "the body is empty";
		return NULL;
	}
	if (memchr(body, '\0', len)) {
		*why = "the body holds a NUL byte";
		return NULL;
	}
	if (has_nul_escape(body, len)) {
		*why = "a string in the body holds \\u0000, which no field may contain";
		return NULL;
	}
	cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, false);
	if (!j) {
		*why = "the body is not valid JSON (or nests too deeply)";
		return NULL;
	}
	if (!end || end > body + len || !only_space(end, body + len)) {
		cJSON_Delete(j);
		*why = "the body has bytes after its JSON value";
		return NULL;
	}
	return j;
}
