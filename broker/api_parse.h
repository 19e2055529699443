/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_API_PARSE_H
#define HIGHRISE_API_PARSE_H

/*
 * The broker API's parsing of untrusted bytes, with no I/O (like proto/):
 * the request path to a route, the Authorization header to a token hash, the
 * Content-Type check, and JSON bodies to C structs. broker.c and
 * tests/fuzz/fuzz_broker_api.c drive the same code.
 *
 * On failure the functions return -EINVAL (or -ENOENT for an unknown path,
 * -EMSGSIZE for a field too long) and point *why at a static sentence for
 * the {"error": ...} answer, and *hint at one for its "hint".
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "name.h"
#include "routes.h" /* enum api_route, api_method, api_auth: the table */

#define API_NAME_MAX	   HR_NAME_MAX /* users, groups, pools, agents, desktops (name.h) */
#define API_PASSWORD_MAX   1024	       /* = PASSWORD_MAX */
#define API_DESKTOPS_MAX   1024	       /* per agent registration */
#define API_TOKEN_LEN	   32	       /* random bytes of a login token */
#define API_TOKEN_TEXT	   44	       /* base64url of them, no padding, + NUL */
#define API_URI_FIELD_MAX  1025	       /* the longest string field (a console URI) + NUL */
#define API_EVENTS_MAX	   256	       /* session events per report */
#define API_SESSION_LEN	   32	       /* hex digits of a session id */
#define API_CLIENT_MAX	   64	       /* a client address as an agent reports it */
#define API_REASON_MAX	   200	       /* bytes of why a desktop's console is down (UTF-8) */
#define API_CLIENT_KEY_LEN 32	       /* a raw Ed25519 public key (= TICKET_CLIENT_KEY_LEN) */
#define API_CLIENT_KEY_B64 44	       /* its base64: standard alphabet, padded */

struct api_path {
	const struct route *def; /* its row of routes[] */
	enum api_route route;
	enum api_method method; /* the one the route takes */
	enum api_auth auth;
	char arg[2][API_NAME_MAX + 1]; /* {pool}, {group}, {agent}/{desktop}, {session}, list */
};

/*
 * The route of a request (a query string is ignored): the row of routes[]
 * for this path and method, else the path's first row (whose method then
 * differs: the caller answers 405 naming out->method). -ENOENT: no such path.
 */
int api_parse_path(const char *uri, enum api_method method, struct api_path *out, const char **why);

/* "Bearer TOKEN" -> SHA-256 of the token's bytes. -EINVAL when malformed or absent. */
int api_parse_bearer(const char *header, uint8_t hash[32], const char **why);

/* SHA-256 of a token's bytes (what the store keeps). */
void api_token_hash(const uint8_t token[API_TOKEN_LEN], uint8_t hash[32]);
/* base64url without padding. */
void api_token_text(const uint8_t token[API_TOKEN_LEN], char out[API_TOKEN_TEXT]);

/* application/json, with optional parameters ("; charset=utf-8"). */
bool api_content_type_ok(const char *header);

struct api_login {
	char user[API_NAME_MAX + 1];
	char password[API_PASSWORD_MAX + 1];
};
/* {"user": "...", "password": "..."}; other members are ignored. */
int api_parse_login(const char *body, size_t len, struct api_login *out, const char **why);

struct api_connect {
	uint8_t client_key[API_CLIENT_KEY_LEN];
};
/*
 * A connect's body: {"client_key": "<base64>"}, the client's raw 32-byte
 * Ed25519 public key in standard, padded base64 (exactly API_CLIENT_KEY_B64
 * characters, the one canonical spelling; not all zero). The ticket names
 * it, and the agent takes the ticket only with a proof signed by its private
 * half on the same TLS connection (docs/protocol.md §6.3). Other members are
 * ignored. No body is refused with the same sentence as a bad key.
 */
int api_parse_connect(const char *body, size_t len, struct api_connect *out, const char **why);

struct api_register {
	char address[256]; /* "" when not given: the broker uses the peer's address */
	int port;
	size_t count;
	char (*desktops)[API_NAME_MAX + 1];  /* count names, malloc'd: api_register_free */
	bool *up;			     /* count flags ("up", default true), malloc'd */
	char (*reasons)[API_REASON_MAX + 1]; /* count texts ("reason", default ""), malloc'd */
};
/*
 * {"address": "...", "port": N, "desktops": ["d1", {"name": "d2", "up": false,
 * "reason": "..."}, ...]}. "reason" (optional) says why a desktop is down: a
 * string of at most API_REASON_MAX bytes of UTF-8 without NUL; it is kept
 * only when "up" is false.
 */
int api_parse_register(const char *body, size_t len, struct api_register *out, const char **why);
/*
 * A heartbeat's optional body: {"desktops": [...]} as in a registration
 * (address and port unused). No body, {} or no "desktops": count 0.
 */
int api_parse_heartbeat(const char *body, size_t len, struct api_register *out, const char **why);
void api_register_free(struct api_register *r);

enum api_event {
	API_EVENT_CONNECTED = 0, /* = enum store_session_event */
	API_EVENT_DISCONNECTED,
	API_EVENT_IDLE,
	API_EVENT_ACTIVE,
};

struct api_session_event {
	char session[API_SESSION_LEN + 1]; /* lower-case hex */
	char desktop[API_NAME_MAX + 1];
	enum api_event event;
	char client[API_CLIENT_MAX + 1]; /* "" when not given */
};

struct api_events {
	size_t count;
	struct api_session_event *ev; /* count, malloc'd: api_events_free */
};
/*
 * {"events": [{"session": "<32 hex>", "desktop": "vm1", "event":
 * "connected"|"disconnected"|"idle"|"active", "client": "10.0.0.5"}, ...]},
 * at most API_EVENTS_MAX; "client" optional, an address of [0-9A-Za-z.:%_-].
 */
int api_parse_events(const char *body, size_t len, struct api_events *out, const char **why);
void api_events_free(struct api_events *e);

/*
 * Admin bodies: up to four named string members and one integer/bool,
 * looked up by name; absent strings are "". The caller says which it needs.
 */
struct api_fields {
	char s[4][API_URI_FIELD_MAX];
	int64_t num[3];
	bool has_num[3];
};
int api_parse_fields(const char *body, size_t len, const char *const names[4],
		     const char *const nums[3], struct api_fields *out, const char **why);

#endif
