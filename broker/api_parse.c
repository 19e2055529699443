/* SPDX-License-Identifier: MIT */
#include "api_parse.h"

#include "api_json.h"
#include "bytes.h" /* valid_utf8 */

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SEGMENTS_MAX 8

/* Splits "a/b/c" into at most SEGMENTS_MAX pieces of buf; -1 when more or one is empty. */
static int split(char *buf, char *seg[SEGMENTS_MAX])
{
	int n = 0;
	char *p = buf;
	for (;;) {
		char *slash = strchr(p, '/');
		if (n == SEGMENTS_MAX)
			return -1;
		seg[n++] = p;
		if (!slash)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	for (int i = 0; i < n; i++)
		if (!seg[i][0])
			return -1;
	return n;
}

int api_parse_path(const char *uri, enum api_method method, struct api_path *out, const char **why)
{
	int found = 0;
	char buf[512], pat[128], *seg[SEGMENTS_MAX], *pseg[SEGMENTS_MAX];
	size_t len;
	int n;

	memset(out, 0, sizeof(*out));
	*why = "no such API path (see docs/broker-api.md)";
	if (!uri || strncmp(uri, "/api/v1/", 8) != 0)
		return -ENOENT;
	len = strcspn(uri + 8, "?#");
	if (len == 0 || len >= sizeof(buf))
		return -ENOENT;
	memcpy(buf, uri + 8, len);
	buf[len] = '\0';
	if (len > 1 && buf[len - 1] == '/')
		buf[--len] = '\0'; /* a trailing slash is forgiven */
	n = split(buf, seg);
	if (n < 0)
		return -ENOENT;
	for (size_t r = 0; r < routes_count; r++) {
		int pn, arg = 0, match = 1;
		snprintf(pat, sizeof(pat), "%s", routes[r].path);
		pn = split(pat, pseg);
		if (pn != n)
			continue;
		for (int i = 0; i < n && match; i++) {
			if (pseg[i][0] == '{')
				continue;
			match = strcmp(pseg[i], seg[i]) == 0;
		}
		if (!match || (found && routes[r].method != method))
			continue;
		for (int i = 0; i < n; i++) {
			if (pseg[i][0] != '{')
				continue;
			if (!hr_name_ok(seg[i])) {
				*why = "a name in the path is not valid";
				return -EINVAL;
			}
			snprintf(out->arg[arg++], sizeof(out->arg[0]), "%s", seg[i]);
		}
		out->def = &routes[r];
		out->route = routes[r].id;
		out->method = routes[r].method;
		out->auth = routes[r].auth;
		if (out->route == API_ADMIN_LIST) /* the listing's name is the last segment */
			snprintf(out->arg[0], sizeof(out->arg[0]), "%s", seg[n - 1]);
		if (routes[r].method == method)
			return 0;
		found = 1; /* keep looking for one with this method */
	}
	return found ? 0 : -ENOENT;
}

void api_token_hash(const uint8_t token[API_TOKEN_LEN], uint8_t hash[32])
{
	SHA256(token, API_TOKEN_LEN, hash);
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void api_token_text(const uint8_t token[API_TOKEN_LEN], char out[API_TOKEN_TEXT])
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < API_TOKEN_LEN; i++) {
		acc = (acc << 8) | token[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64url[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = b64url[(acc << (6 - bits)) & 63];
	out[o] = '\0';
}

int api_parse_bearer(const char *header, uint8_t hash[32], const char **why)
{
	uint8_t token[API_TOKEN_LEN];
	uint32_t acc = 0;
	size_t o = 0, i;
	int bits = 0;
	const char *t;

	*why = "a login token is required: 'Authorization: Bearer TOKEN' from POST /api/v1/login";
	if (!header || strncasecmp(header, "Bearer ", 7) != 0)
		return -EINVAL;
	t = header + 7;
	while (*t == ' ')
		t++;
	*why = "the login token is malformed, expired or logged out: log in again";
	if (strlen(t) != API_TOKEN_TEXT - 1)
		return -EINVAL;
	for (i = 0; t[i]; i++) {
		const char *p = strchr(b64url, t[i]);
		if (!p || !t[i])
			return -EINVAL;
		acc = (acc << 6) | (uint32_t)(p - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o < API_TOKEN_LEN)
				token[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (o != API_TOKEN_LEN)
		return -EINVAL;
	api_token_hash(token, hash);
	return 0;
}

bool api_content_type_ok(const char *h)
{
	size_t n = strlen("application/json");
	if (!h)
		return false;
	while (*h == ' ')
		h++;
	if (strncasecmp(h, "application/json", n) != 0)
		return false;
	h += n;
	while (*h == ' ')
		h++;
	return *h == '\0' || *h == ';';
}

/* Parses a body that must be one JSON object. */
static cJSON *parse_object(const char *body, size_t len, const char **why)
{
	cJSON *j;
	if (!body || len == 0) {
		*why = "the request needs a JSON body";
		return NULL;
	}
	j = api_json_parse(body, len, why);
	if (!j)
		return NULL;
	if (!cJSON_IsObject(j)) {
		*why = "the body must be a JSON object";
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

/* A string member copied into out: 0, -ENOENT when absent, -EINVAL not a string, -EMSGSIZE. */
static int get_string(const cJSON *obj, const char *name, char *out, size_t cap)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
	size_t n;
	if (!m)
		return -ENOENT;
	if (!cJSON_IsString(m) || !m->valuestring)
		return -EINVAL;
	n = strlen(m->valuestring);
	if (n >= cap)
		return -EMSGSIZE;
	memcpy(out, m->valuestring, n + 1);
	return 0;
}

int api_parse_login(const char *body, size_t len, struct api_login *out, const char **why)
{
	cJSON *j = parse_object(body, len, why);
	int rc;
	memset(out, 0, sizeof(*out));
	if (!j)
		return -EINVAL;
	rc = get_string(j, "user", out->user, sizeof(out->user));
	if (rc == 0)
		rc = get_string(j, "password", out->password, sizeof(out->password));
	cJSON_Delete(j);
	if (rc == -EMSGSIZE) {
		*why = "the user name or password is too long";
		return -EMSGSIZE;
	}
	if (rc < 0 || !out->user[0]) {
		*why = "the body needs \"user\" and \"password\" strings";
		return -EINVAL;
	}
	return 0;
}

int api_parse_connect(const char *body, size_t len, struct api_connect *out, const char **why)
{
	static const uint8_t zero[API_CLIENT_KEY_LEN];
	char text[API_CLIENT_KEY_B64 + 2], again[API_CLIENT_KEY_B64 + 1];
	unsigned char raw[API_CLIENT_KEY_B64 / 4 * 3];
	cJSON *j;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!body || len == 0) {
		/* a client from before tickets were bound sends no body: say what is missing */
		*why = "\"client_key\" must be the client's Ed25519 public key: 32 bytes in base64";
		return -EINVAL;
	}
	j = parse_object(body, len, why);
	if (!j)
		return -EINVAL;
	rc = get_string(j, "client_key", text, sizeof(text));
	cJSON_Delete(j);
	/*
	 * 32 bytes are 44 characters with one '='. EVP_DecodeBlock counts the
	 * padding as a zero byte (33) and forgives blanks around the text, so
	 * the bytes are encoded again and must give back the very same text:
	 * one spelling per key, no URL-safe alphabet, no stray bits.
	 */
	if (rc == 0 && strlen(text) == API_CLIENT_KEY_B64 &&
	    EVP_DecodeBlock(raw, (const unsigned char *)text, API_CLIENT_KEY_B64) ==
		    (int)sizeof(raw) &&
	    EVP_EncodeBlock((unsigned char *)again, raw, API_CLIENT_KEY_LEN) ==
		    API_CLIENT_KEY_B64 &&
	    strcmp(again, text) == 0 && memcmp(raw, zero, API_CLIENT_KEY_LEN) != 0) {
		memcpy(out->client_key, raw, API_CLIENT_KEY_LEN);
		return 0;
	}
	*why = "\"client_key\" must be the client's Ed25519 public key: 32 bytes in base64";
	return -EINVAL;
}

/* A desktop's "reason": absent or "" -> "", else copied; -EINVAL when not acceptable. */
static int parse_reason(const cJSON *r, char out[API_REASON_MAX + 1], const char **why)
{
	size_t n;

	out[0] = '\0';
	if (!r)
		return 0;
	if (!cJSON_IsString(r) || !r->valuestring) {
		*why = "a desktop's \"reason\" must be a string";
		return -EINVAL;
	}
	n = strlen(r->valuestring);
	if (n > API_REASON_MAX) {
		*why = "a desktop's \"reason\" must be at most 200 bytes";
		return -EINVAL;
	}
	/* cJSON passes raw bytes through unchecked (and a \u0000 ends the string early) */
	if (n && !valid_utf8((struct msg_bytes){(const uint8_t *)r->valuestring, n})) {
		*why = "a desktop's \"reason\" must be UTF-8 text";
		return -EINVAL;
	}
	memcpy(out, r->valuestring, n + 1);
	return 0;
}

/* "desktops": [name | {"name", "up", "reason"}, ...] into out->desktops, ->up, ->reasons. */
static int parse_desktops(const cJSON *ds, struct api_register *out, const char **why)
{
	const cJSON *d;
	size_t n, i = 0;

	if (!cJSON_IsArray(ds)) {
		*why = "\"desktops\" must be an array of desktop names";
		return -EINVAL;
	}
	n = (size_t)cJSON_GetArraySize(ds);
	if (n > API_DESKTOPS_MAX) {
		*why = "too many desktops in one registration";
		return -EINVAL;
	}
	out->desktops = calloc(n ? n : 1, sizeof(*out->desktops));
	out->up = calloc(n ? n : 1, sizeof(*out->up));
	out->reasons = calloc(n ? n : 1, sizeof(*out->reasons));
	if (!out->desktops || !out->up || !out->reasons) {
		*why = "out of memory";
		return -ENOMEM;
	}
	cJSON_ArrayForEach(d, ds)
	{
		const char *name = NULL;
		bool up = true;
		if (cJSON_IsString(d)) {
			name = d->valuestring;
		} else if (cJSON_IsObject(d)) {
			const cJSON *nm = cJSON_GetObjectItemCaseSensitive(d, "name");
			const cJSON *u = cJSON_GetObjectItemCaseSensitive(d, "up");
			name = cJSON_IsString(nm) ? nm->valuestring : NULL;
			if (u && !cJSON_IsBool(u)) {
				*why = "a desktop's \"up\" must be true or false";
				return -EINVAL;
			}
			up = !u || cJSON_IsTrue(u);
			if (i < n && parse_reason(cJSON_GetObjectItemCaseSensitive(d, "reason"),
						  out->reasons[i], why) < 0)
				return -EINVAL;
			if (up && i < n)
				out->reasons[i][0] =
					'\0'; /* an up desktop has nothing to explain */
		}
		if (!hr_name_ok(name) || i >= n) {
			*why = "each desktop must be a name ([A-Za-z0-9._@-], 1..128) or "
			       "{\"name\": ..., \"up\": true|false}";
			return -EINVAL;
		}
		snprintf(out->desktops[i], sizeof(out->desktops[0]), "%s", name);
		out->up[i++] = up;
	}
	out->count = i;
	return 0;
}

int api_parse_register(const char *body, size_t len, struct api_register *out, const char **why)
{
	cJSON *j = parse_object(body, len, why), *port;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!j)
		return -EINVAL;
	rc = get_string(j, "address", out->address, sizeof(out->address));
	if (rc != 0 && rc != -ENOENT) {
		*why = "\"address\" must be a host name or address";
		goto fail;
	}
	port = cJSON_GetObjectItemCaseSensitive(j, "port");
	if (!cJSON_IsNumber(port) || port->valuedouble < 1 || port->valuedouble > 65535 ||
	    port->valuedouble != (double)(int)port->valuedouble) {
		*why = "\"port\" must be the agent's stream port, 1..65535";
		goto fail;
	}
	out->port = (int)port->valuedouble;
	if (parse_desktops(cJSON_GetObjectItemCaseSensitive(j, "desktops"), out, why) < 0)
		goto fail;
	cJSON_Delete(j);
	return 0;
fail:
	cJSON_Delete(j);
	api_register_free(out);
	return -EINVAL;
}

int api_parse_heartbeat(const char *body, size_t len, struct api_register *out, const char **why)
{
	cJSON *j, *ds;
	memset(out, 0, sizeof(*out));
	if (!body || len == 0)
		return 0; /* a bare heartbeat */
	j = parse_object(body, len, why);
	if (!j)
		return -EINVAL;
	ds = cJSON_GetObjectItemCaseSensitive(j, "desktops");
	if (ds && parse_desktops(ds, out, why) < 0) {
		cJSON_Delete(j);
		api_register_free(out);
		return -EINVAL;
	}
	cJSON_Delete(j);
	return 0;
}

void api_register_free(struct api_register *r)
{
	free(r->desktops);
	free(r->up);
	free(r->reasons);
	r->desktops = NULL;
	r->up = NULL;
	r->reasons = NULL;
	r->count = 0;
}

static bool client_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == ':' || c == '%' || c == '_' || c == '-'))
			return false;
	}
	return n > 0 && n <= API_CLIENT_MAX;
}

/* 32 hex digits, copied in lower case. */
static bool session_id(const char *s, char out[API_SESSION_LEN + 1])
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= API_SESSION_LEN)
			return false;
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		out[n] = c;
	}
	out[n] = '\0';
	return n == API_SESSION_LEN;
}

int api_parse_events(const char *body, size_t len, struct api_events *out, const char **why)
{
	static const char *const names[] = {"connected", "disconnected", "idle", "active"};
	cJSON *j = parse_object(body, len, why), *evs, *e;
	size_t n, i = 0;

	memset(out, 0, sizeof(*out));
	if (!j)
		return -EINVAL;
	evs = cJSON_GetObjectItemCaseSensitive(j, "events");
	if (!cJSON_IsArray(evs)) {
		*why = "\"events\" must be an array of session events";
		goto fail;
	}
	n = (size_t)cJSON_GetArraySize(evs);
	if (n > API_EVENTS_MAX) {
		*why = "at most 256 events in one report";
		goto fail;
	}
	out->ev = calloc(n ? n : 1, sizeof(*out->ev));
	if (!out->ev) {
		*why = "out of memory";
		goto fail;
	}
	cJSON_ArrayForEach(e, evs)
	{
		struct api_session_event *v = &out->ev[i];
		const cJSON *sess = cJSON_GetObjectItemCaseSensitive(e, "session");
		const cJSON *desk = cJSON_GetObjectItemCaseSensitive(e, "desktop");
		const cJSON *what = cJSON_GetObjectItemCaseSensitive(e, "event");
		const cJSON *client = cJSON_GetObjectItemCaseSensitive(e, "client");
		int k = -1;

		if (!cJSON_IsObject(e) || i >= n) {
			*why = "each event must be an object";
			goto fail;
		}
		if (!cJSON_IsString(sess) || !session_id(sess->valuestring, v->session)) {
			*why = "an event's \"session\" must be the 32 hex digits of a session id";
			goto fail;
		}
		if (!cJSON_IsString(desk) || !hr_name_ok(desk->valuestring)) {
			*why = "an event's \"desktop\" must be a desktop name";
			goto fail;
		}
		snprintf(v->desktop, sizeof(v->desktop), "%s", desk->valuestring);
		for (int w = 0; cJSON_IsString(what) && w < 4; w++)
			if (strcmp(what->valuestring, names[w]) == 0)
				k = w;
		if (k < 0) {
			*why = "an event's \"event\" must be connected, disconnected, idle or "
			       "active";
			goto fail;
		}
		v->event = (enum api_event)k;
		if (client && (!cJSON_IsString(client) || !client_ok(client->valuestring))) {
			*why = "an event's \"client\" must be an address (up to 64 of "
			       "0-9 A-Z a-z . : % _ -)";
			goto fail;
		}
		if (client)
			snprintf(v->client, sizeof(v->client), "%s", client->valuestring);
		i++;
	}
	out->count = i;
	cJSON_Delete(j);
	return 0;
fail:
	cJSON_Delete(j);
	api_events_free(out);
	return -EINVAL;
}

void api_events_free(struct api_events *e)
{
	free(e->ev);
	e->ev = NULL;
	e->count = 0;
}

int api_parse_fields(const char *body, size_t len, const char *const names[4],
		     const char *const nums[3], struct api_fields *out, const char **why)
{
	cJSON *j = parse_object(body, len, why);
	memset(out, 0, sizeof(*out));
	if (!j)
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		int rc;
		if (!names[i])
			continue;
		rc = get_string(j, names[i], out->s[i], sizeof(out->s[i]));
		if (rc == -EINVAL || rc == -EMSGSIZE) {
			*why = rc == -EINVAL ? "a field that must be a string is not"
					     : "a string field is too long";
			cJSON_Delete(j);
			return rc;
		}
	}
	for (int i = 0; i < 3; i++) {
		const cJSON *m;
		if (!nums[i])
			continue;
		m = cJSON_GetObjectItemCaseSensitive(j, nums[i]);
		if (!m)
			continue;
		if (cJSON_IsBool(m)) {
			out->num[i] = cJSON_IsTrue(m);
		} else if (cJSON_IsNumber(m) && m->valuedouble >= 0 && m->valuedouble <= 1e12 &&
			   m->valuedouble == (double)(int64_t)m->valuedouble) {
			out->num[i] = (int64_t)m->valuedouble;
		} else {
			*why = "a numeric field must be a whole number from 0 to 10^12";
			cJSON_Delete(j);
			return -EINVAL;
		}
		out->has_num[i] = true;
	}
	cJSON_Delete(j);
	return 0;
}
