/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_ROUTES_H
#define HIGHRISE_ROUTES_H

/*
 * The broker API as data: one row per endpoint (a method and a path). The
 * rows drive the broker's routing and auth (api_parse_path), its dispatch
 * (broker.c's handler per route) and the JSON members it reads from an admin
 * body, highrisectl's dispatch, --help and usage errors (ctl.c), and the
 * endpoint index of docs/broker-api.md (tests/unit/test_broker_routes.c
 * fails when the page and the table disagree). wayvnc's ctl-commands.h is
 * the pattern.
 *
 * Adding an admin command: a row in routes.c (and its name in enum
 * api_route), a domain function in broker.c's handler table, a test.
 *
 * Plain constant data, no I/O: highrisectl links it without the store.
 */

#include <stddef.h>

/*
 * The "code" of a refusal ({"error", "hint", "code"}), set only where a
 * program decides by it; people read "error" (docs/broker-api.md, Errors).
 */
#define API_CODE_NOT_REGISTERED "not_registered" /* heartbeat/sessions: register again */

enum api_route {
	API_NONE = 0,
	API_LOGIN,		 /* POST /api/v1/login */
	API_LOGOUT,		 /* POST /api/v1/logout */
	API_POOLS,		 /* GET  /api/v1/pools */
	API_CONNECT,		 /* POST /api/v1/pools/{pool}/connect */
	API_AGENT_REGISTER,	 /* POST /api/v1/agent/register (mTLS, OU=agent) */
	API_AGENT_HEARTBEAT,	 /* POST /api/v1/agent/heartbeat */
	API_AGENT_SESSIONS,	 /* POST /api/v1/agent/sessions */
	API_ADMIN_USERS,	 /* POST /api/v1/admin/users (mTLS, OU=admin) */
	API_ADMIN_GROUPS,	 /* POST /api/v1/admin/groups */
	API_ADMIN_GROUP_MEMBERS, /* POST /api/v1/admin/groups/{group}/members */
	API_ADMIN_POOLS,	 /* POST /api/v1/admin/pools */
	API_ADMIN_POOL_DESKTOPS, /* POST /api/v1/admin/pools/{pool}/desktops */
	API_ADMIN_ENTITLEMENTS,	 /* POST /api/v1/admin/entitlements */
	API_ADMIN_DESKTOP,	 /* GET  /api/v1/admin/desktops/{agent}/{desktop} */
	API_ADMIN_MAINTENANCE,	 /* POST /api/v1/admin/desktops/{agent}/{desktop}/maintenance */
	API_ADMIN_LOGOFF,	 /* POST /api/v1/admin/sessions/{session}/logoff */
	API_ADMIN_LIST, /* GET  /api/v1/admin/{users,groups,pools,desktops,agents,sessions} */
	API_ADMIN_USER_DELETE,	   /* DELETE /api/v1/admin/users/{user} */
	API_ADMIN_POOL_DELETE,	   /* DELETE /api/v1/admin/pools/{pool} */
	API_ADMIN_PASSWORD,	   /* POST /api/v1/admin/users/{user}/password */
	API_ADMIN_ASSIGN,	   /* POST /api/v1/admin/assignments */
	API_ADMIN_UNASSIGN,	   /* DELETE /api/v1/admin/assignments/{agent}/{desktop} */
	API_ADMIN_DESKTOP_DELETE,  /* DELETE /api/v1/admin/desktops/{agent}/{desktop} */
	API_ADMIN_POOL,		   /* GET  /api/v1/admin/pools/{pool} */
	API_ADMIN_POOL_SET,	   /* POST /api/v1/admin/pools/{pool} */
	API_ADMIN_UNENTITLE_USER,  /* DELETE /api/v1/admin/entitlements/{pool}/users/{user} */
	API_ADMIN_UNENTITLE_GROUP, /* DELETE /api/v1/admin/entitlements/{pool}/groups/{group} */
	API_ADMIN_GROUP_DELETE,	   /* DELETE /api/v1/admin/groups/{group} */
	API_ADMIN_MEMBER_REMOVE,   /* DELETE /api/v1/admin/groups/{group}/members/{user} */
	API_ADMIN_DISCONNECT,	   /* POST /api/v1/admin/sessions/{session}/disconnect */
	API_ROUTE_COUNT_,
};

enum api_method {
	API_METHOD_OTHER = 0,
	API_GET = 1,
	API_POST = 2,
	API_DELETE = 3,
};

enum api_auth {
	API_AUTH_NONE,	/* anyone */
	API_AUTH_TOKEN, /* Authorization: Bearer TOKEN */
	API_AUTH_AGENT, /* a client certificate with OU=agent; its CN is the agent */
	API_AUTH_ADMIN, /* a client certificate with OU=admin */
};

enum route_param_kind {
	ROUTE_STRING = 0, /* a JSON string member */
	ROUTE_NUMBER,	  /* a whole number 0..10^12 (api_parse_fields) */
	ROUTE_BOOL,	  /* true or false; highrisectl takes on|off */
	ROUTE_PATH,	  /* a {name} of the path, listed only to bind it to a flag */
};

enum route_param_opt {
	ROUTE_OPTIONAL = 1 << 0, /* a word highrisectl may leave out: sent as "" */
	ROUTE_ONE_OF = 1 << 1,	 /* exactly one of the command's ONE_OF flags (its rows') */
	ROUTE_ANY_OF = 1 << 2,	 /* at least one of the row's ANY_OF flags */
	ROUTE_SECRET =
		1 << 3, /* highrisectl reads it from the flag's FILE, or stdin's first line */
};

#define ROUTE_PARAMS_MAX 5
#define ROUTE_ARGS_MAX	 2 /* {names} in one path (= struct api_path's arg) */
#define ROUTE_STRINGS	 4 /* ROUTE_STRING members in one body (= struct api_fields) */
#define ROUTE_NUMBERS	 3 /* ROUTE_NUMBER and ROUTE_BOOL members */

struct route_param {
	const char *name; /* the JSON member, or the {name} of the path */
	enum route_param_kind kind;
	const char *flag; /* highrisectl's "--kind"; NULL: the command's next word */
	unsigned opts;	  /* enum route_param_opt */
};

struct route {
	enum api_route id;
	enum api_method method;
	const char *path; /* after /api/v1/; "{name}" takes one segment, a valid name */
	enum api_auth auth;
	int status; /* of an admin change that succeeds: 201 adds something; 0 is 200 */
	/*
	 * An admin body's members in the order highrisectl sends them; the
	 * broker reads exactly these (unknown members are ignored). A path's
	 * {names} come first on highrisectl's command line, then these.
	 */
	struct route_param params[ROUTE_PARAMS_MAX];
	/* highrisectl; command NULL: it has none */
	const char *command;  /* "pool create", or a lone noun: "entitle" */
	const char *synopsis; /* NULL: the command's previous row has its help */
	const char *what;
	const char *done; /* printed on success, {name} a param's word; NULL: the answer */
};

/* Every endpoint, in the order api_parse_path tries them. */
extern const struct route routes[];
extern const size_t routes_count;

/* "GET", "POST", "DELETE" (and "POST" for API_METHOD_OTHER, as before). */
const char *route_method_name(enum api_method m);

/*
 * Which {name} of r's path name is: 0.., or -1 when the path has none by
 * that name. (An API_ADMIN_LIST path has none: api_parse_path puts the
 * listing's name, its last segment, in arg 0.)
 */
int route_arg_index(const struct route *r, const char *name);

/* The param named name, or NULL. */
const struct route_param *route_param_find(const struct route *r, const char *name);

/*
 * The JSON members of r's body for api_parse_fields: its ROUTE_STRING
 * params in order into names, its ROUTE_NUMBER and ROUTE_BOOL ones into
 * nums (unused slots NULL). Returns how many there are in all.
 */
int route_fields(const struct route *r, const char *names[ROUTE_STRINGS],
		 const char *nums[ROUTE_NUMBERS]);

#endif
