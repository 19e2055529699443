/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the broker API's request parsing (broker/api_parse.h):
 * every path, header and body a client, agent or admin sends reaches these
 * functions before anything else. The first byte picks the parser, the rest
 * is its input (2: a login or connect body, both parsers). What is accepted
 * must obey the documented rules.
 */
#include "api_parse.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *why)
{
	fprintf(stderr, "fuzz_broker_api: %s\n", why);
	abort();
}

/*
 * Whether body holds a \u0000 escape: "u0000" after an odd run of
 * backslashes (counted backwards, unlike api_json.c's forward scan).
 */
static bool nul_escape(const char *body, size_t len)
{
	for (size_t i = 1; i + 5 <= len; i++) {
		if (memcmp(body + i, "u0000", 5) != 0)
			continue;
		size_t n = 0;
		while (n < i && body[i - 1 - n] == '\\')
			n++;
		if (n % 2 == 1)
			return true;
	}
	return false;
}

/* What every accepted body obeys (api_json.h): no NUL byte, no \u0000 escape. */
static void accepted_body(const char *body, size_t len)
{
	if (memchr(body, '\0', len))
		die("a body with a NUL byte accepted");
	if (nul_escape(body, len))
		die("a body with a \\u0000 escape accepted");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[4] = {"name", "password", "kind", "console_uri"};
	static const char *const nums[3] = {"idle_timeout_s", "max_sessions", "on"};
	const char *body, *why = NULL;
	char *text;
	size_t len;

	if (size < 1)
		return 0;
	body = (const char *)data + 1;
	len = size - 1;
	/* headers and paths arrive as C strings: cut at the first NUL like evhttp does */
	text = malloc(len + 1);
	if (!text)
		return 0;
	memcpy(text, body, len);
	text[len] = '\0';

	switch (data[0] % 8) {
	case 0: {
		struct api_path p;
		int rc = api_parse_path(text, (enum api_method)(data[0] / 8 % 4), &p, &why);
		if (!why)
			die("no reason given");
		if (rc == 0) {
			if (p.route == API_NONE)
				die("accepted a path without a route");
			if (!p.def || p.def->id != p.route || p.def->method != p.method ||
			    p.def->auth != p.auth)
				die("a route that is not its row of the route table");
			for (int i = 0; i < 2; i++)
				if (p.arg[i][0] && !hr_name_ok(p.arg[i]))
					die("a path argument that is not a valid name");
		}
		break;
	}
	case 1: {
		uint8_t h[32];
		if (api_parse_bearer(text, h, &why) == 0 && strlen(text) < 7 + 43)
			die("a bearer token shorter than 43 characters accepted");
		(void)api_content_type_ok(text);
		break;
	}
	case 2: { /* a user's bodies: login, and connect's client key */
		static const uint8_t zero[API_CLIENT_KEY_LEN];
		struct api_login l;
		struct api_connect c;
		if (api_parse_login(body, len, &l, &why) == 0) {
			if (!l.user[0] || strlen(l.user) > API_NAME_MAX ||
			    strlen(l.password) > API_PASSWORD_MAX)
				die("a login outside its limits accepted");
			accepted_body(body, len);
		}
		why = NULL;
		if (api_parse_connect(body, len, &c, &why) == 0) {
			if (memcmp(c.client_key, zero, sizeof(zero)) == 0)
				die("an all-zero client key accepted");
			accepted_body(body, len);
		} else if (!why) {
			die("no reason given for a connect body");
		}
		break;
	}
	case 3: {
		struct api_register r;
		if (api_parse_register(body, len, &r, &why) == 0) {
			accepted_body(body, len);
			if (r.port < 1 || r.port > 65535 || r.count > API_DESKTOPS_MAX)
				die("a registration outside its limits accepted");
			for (size_t i = 0; i < r.count; i++)
				if (!hr_name_ok(r.desktops[i]))
					die("an invalid desktop name accepted");
			api_register_free(&r);
		}
		break;
	}
	case 6: { /* a heartbeat's desktop states */
		struct api_register r;
		if (api_parse_heartbeat(body, len, &r, &why) == 0) {
			if (r.count > API_DESKTOPS_MAX || (r.count && (!r.desktops || !r.up)))
				die("a heartbeat outside its limits accepted");
			for (size_t i = 0; i < r.count; i++)
				if (!hr_name_ok(r.desktops[i]))
					die("an invalid desktop name accepted");
			api_register_free(&r);
		}
		break;
	}
	case 7: { /* an agent's session events */
		struct api_events e;
		if (api_parse_events(body, len, &e, &why) == 0) {
			if (e.count > API_EVENTS_MAX)
				die("more events than allowed accepted");
			for (size_t i = 0; i < e.count; i++) {
				const struct api_session_event *v = &e.ev[i];
				if (strlen(v->session) != API_SESSION_LEN ||
				    strspn(v->session, "0123456789abcdef") != API_SESSION_LEN)
					die("a session id that is not 32 lower-case hex accepted");
				if (!hr_name_ok(v->desktop) ||
				    (unsigned)v->event > API_EVENT_ACTIVE)
					die("an invalid event accepted");
				if (strlen(v->client) > API_CLIENT_MAX)
					die("a client address too long accepted");
			}
			api_events_free(&e);
		}
		break;
	}
	case 4: {
		struct api_fields f;
		if (api_parse_fields(body, len, names, nums, &f, &why) == 0) {
			accepted_body(body, len);
			for (int i = 0; i < 3; i++)
				if (f.has_num[i] && (f.num[i] < 0 || f.num[i] > 1000000000000LL))
					die("a number outside 0..10^12 accepted");
		}
		break;
	}
	default:
		(void)hr_name_ok(text);
		break;
	}
	free(text);
	return 0;
}
