/* SPDX-License-Identifier: MIT */
#include "routes.h"

#include <string.h>

/* the table by hand: each row the same few lines */
/* clang-format off */
#define STR(n)	   {(n), ROUTE_STRING, NULL, 0}
#define SECRET(n)  {(n), ROUTE_STRING, "--password-file", ROUTE_SECRET}
#define NO_PARAMS  {{0}}
#define NO_CLI	   NULL, NULL, NULL, NULL
/* a pool's settings: pool create and pool set */
#define SETTINGS(o) \
	{"kind", ROUTE_STRING, "--kind", (o)}, {"logoff", ROUTE_STRING, "--logoff", (o)}, \
	{"idle_timeout_s", ROUTE_NUMBER, "--idle-timeout", (o)}, \
	{"max_sessions", ROUTE_NUMBER, "--max-sessions", (o)}

/*
 * Each row: id, method, path, caller, status of an admin change;
 * its params; highrisectl's command and synopsis; what it does; what it says when done.
 *
 * api_parse_path takes the row for a path and method, else the path's
 * first row (its method is what a 405 names): the order of the rows of one
 * path is part of the API. highrisectl's --help lists its commands in this
 * order.
 */
const struct route routes[] = {
	/* users: a login token */
	{API_LOGIN, API_POST, "login", API_AUTH_NONE, 0, NO_PARAMS, NO_CLI},
	{API_LOGOUT, API_POST, "logout", API_AUTH_TOKEN, 0, NO_PARAMS, NO_CLI},
	{API_POOLS, API_GET, "pools", API_AUTH_TOKEN, 0, NO_PARAMS, NO_CLI},
	{API_CONNECT, API_POST, "pools/{pool}/connect", API_AUTH_TOKEN, 0, NO_PARAMS, NO_CLI},
	/* agents: a certificate with OU=agent */
	{API_AGENT_REGISTER, API_POST, "agent/register", API_AUTH_AGENT, 0, NO_PARAMS, NO_CLI},
	{API_AGENT_HEARTBEAT, API_POST, "agent/heartbeat", API_AUTH_AGENT, 0, NO_PARAMS, NO_CLI},
	{API_AGENT_SESSIONS, API_POST, "agent/sessions", API_AUTH_AGENT, 0, NO_PARAMS, NO_CLI},

	/* admins: a certificate with OU=admin; highrisectl */
	{API_ADMIN_POOLS, API_POST, "admin/pools", API_AUTH_ADMIN, 201,
	 {STR("name"), SETTINGS(0)},
	 "pool create",
	 "pool create NAME [--kind floating|dedicated] [--logoff never|immediate|after_idle]\n"
	 "                 [--idle-timeout SECONDS] [--max-sessions N]",
	 "adds a pool (defaults: floating, never, 0, 1)",
	 "pool {name} created"},
	{API_ADMIN_LIST, API_GET, "admin/pools", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "pool list", "pool list",
	 "every pool with its settings and counts",
	 NULL},
	{API_ADMIN_POOL_DELETE, API_DELETE, "admin/pools/{pool}", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "pool delete", "pool delete NAME",
	 "deletes a pool with its desktops and sessions",
	 "pool {pool} deleted"},
	{API_ADMIN_POOL, API_GET, "admin/pools/{pool}", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "pool show", "pool show NAME",
	 "one pool: settings, desktops, available, sessions",
	 NULL},
	{API_ADMIN_POOL_SET, API_POST, "admin/pools/{pool}", API_AUTH_ADMIN, 0,
	 {SETTINGS(ROUTE_ANY_OF)},
	 "pool set",
	 "pool set NAME [--kind floating|dedicated] [--logoff never|immediate|after_idle]\n"
	 "              [--idle-timeout SECONDS] [--max-sessions N]",
	 "changes a pool's settings (the kind only while it has no desktops)",
	 "pool {pool} changed"},

	{API_ADMIN_POOL_DESKTOPS, API_POST, "admin/pools/{pool}/desktops", API_AUTH_ADMIN, 201,
	 {STR("agent"), STR("name"), {"console_uri", ROUTE_STRING, NULL, ROUTE_OPTIONAL}},
	 "desktop add", "desktop add POOL AGENT NAME [CONSOLE_URI]",
	 "adds a desktop; offline until its agent registers",
	 "desktop {agent}/{name} added to pool {pool}"},
	{API_ADMIN_LIST, API_GET, "admin/desktops", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "desktop list", "desktop list",
	 "every desktop with its state, holder and, when offline, why its agent says it is down",
	 NULL},
	{API_ADMIN_DESKTOP, API_GET, "admin/desktops/{agent}/{desktop}", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "desktop show", "desktop show AGENT NAME",
	 "one desktop's pool and state",
	 NULL},
	{API_ADMIN_DESKTOP_DELETE, API_DELETE, "admin/desktops/{agent}/{desktop}", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "desktop remove", "desktop remove AGENT NAME",
	 "removes a desktop with its assignment and sessions",
	 "desktop {agent}/{desktop} removed"},
	{API_ADMIN_MAINTENANCE, API_POST, "admin/desktops/{agent}/{desktop}/maintenance",
	 API_AUTH_ADMIN, 0,
	 {{"on", ROUTE_BOOL, NULL, 0}},
	 "desktop maintenance", "desktop maintenance AGENT NAME on|off",
	 "takes a desktop out of service, or back (offline until its agent speaks)",
	 "desktop {agent}/{desktop}: maintenance {on}"},

	{API_ADMIN_USERS, API_POST, "admin/users", API_AUTH_ADMIN, 201,
	 {STR("name"), SECRET("password")},
	 "user add", "user add NAME [--password-file FILE]",
	 "adds a user; the password from FILE or the first line of stdin",
	 "user {name} added"},
	{API_ADMIN_PASSWORD, API_POST, "admin/users/{user}/password", API_AUTH_ADMIN, 0,
	 {SECRET("password")},
	 "user passwd", "user passwd NAME [--password-file FILE]",
	 "sets a new password",
	 "password of {user} changed"},
	{API_ADMIN_LIST, API_GET, "admin/users", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "user list", "user list",
	 "every user with their groups",
	 NULL},
	{API_ADMIN_USER_DELETE, API_DELETE, "admin/users/{user}", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "user delete", "user delete NAME",
	 "deletes a user; the desktops they held become available",
	 "user {user} deleted"},

	{API_ADMIN_GROUPS, API_POST, "admin/groups", API_AUTH_ADMIN, 201,
	 {STR("name")},
	 "group add", "group add NAME",
	 "adds a group",
	 "group {name} added"},
	{API_ADMIN_GROUP_MEMBERS, API_POST, "admin/groups/{group}/members", API_AUTH_ADMIN, 201,
	 {STR("user")},
	 "group add-member", "group add-member GROUP USER",
	 "puts a user in a group",
	 "{user} is now in group {group}"},
	{API_ADMIN_MEMBER_REMOVE, API_DELETE, "admin/groups/{group}/members/{user}", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "group remove-member", "group remove-member GROUP USER",
	 "takes a user out of a group",
	 "{user} is no longer in group {group}"},
	{API_ADMIN_LIST, API_GET, "admin/groups", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "group list", "group list",
	 "every group with its members",
	 NULL},
	{API_ADMIN_GROUP_DELETE, API_DELETE, "admin/groups/{group}", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "group delete", "group delete NAME",
	 "deletes a group with its memberships and entitlements (users stay)",
	 "group {group} deleted"},

	{API_ADMIN_ENTITLEMENTS, API_POST, "admin/entitlements", API_AUTH_ADMIN, 201,
	 {STR("pool"), {"user", ROUTE_STRING, "--user", ROUTE_ONE_OF},
	  {"group", ROUTE_STRING, "--group", ROUTE_ONE_OF}},
	 "entitle", "entitle POOL --user USER | --group GROUP",
	 "lets a user, or a group's members, use a pool",
	 "{one_of} may use pool {pool}"},
	{API_ADMIN_UNENTITLE_USER, API_DELETE, "admin/entitlements/{pool}/users/{user}",
	 API_AUTH_ADMIN, 0,
	 {{"user", ROUTE_PATH, "--user", ROUTE_ONE_OF}},
	 "unentitle", "unentitle POOL --user USER | --group GROUP",
	 "takes that entitlement away (live sessions stay)",
	 "user {user} may no longer use pool {pool}"},
	{API_ADMIN_UNENTITLE_GROUP, API_DELETE, "admin/entitlements/{pool}/groups/{group}",
	 API_AUTH_ADMIN, 0,
	 {{"group", ROUTE_PATH, "--group", ROUTE_ONE_OF}},
	 "unentitle", NULL, /* the help is the row above's */
	 NULL,
	 "group {group} may no longer use pool {pool}"},
	{API_ADMIN_ASSIGN, API_POST, "admin/assignments", API_AUTH_ADMIN, 201,
	 {STR("user"), STR("agent"), STR("desktop")},
	 "assign", "assign USER AGENT DESKTOP",
	 "makes a desktop the user's dedicated one",
	 "desktop {agent}/{desktop} is now {user}'s"},
	{API_ADMIN_UNASSIGN, API_DELETE, "admin/assignments/{agent}/{desktop}", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "unassign", "unassign AGENT DESKTOP",
	 "drops a desktop's assignment and ends its session",
	 "desktop {agent}/{desktop} unassigned"},

	{API_ADMIN_LIST, API_GET, "admin/sessions", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "session list", "session list",
	 "live sessions: pending, connected or disconnected",
	 NULL},
	{API_ADMIN_DISCONNECT, API_POST, "admin/sessions/{session}/disconnect", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "session disconnect", "session disconnect SESSION",
	 "drops the session's client; the session stays and its user may resume it",
	 "session {session}: its client is being dropped (the session stays)"},
	{API_ADMIN_LOGOFF, API_POST, "admin/sessions/{session}/logoff", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "session logoff", "session logoff SESSION",
	 "ends the session (its client is dropped); a floating desktop goes back",
	 "session {session} logged off"},
	{API_ADMIN_LIST, API_GET, "admin/agents", API_AUTH_ADMIN, 0,
	 NO_PARAMS,
	 "agent list", "agent list",
	 "every agent with its address and last heartbeat",
	 NULL},
};
/* clang-format on */

const size_t routes_count = sizeof(routes) / sizeof(routes[0]);

const char *route_method_name(enum api_method m)
{
	return m == API_GET ? "GET" : m == API_DELETE ? "DELETE" : "POST";
}

int route_arg_index(const struct route *r, const char *name)
{
	size_t n = strlen(name);
	int i = 0;
	for (const char *p = strchr(r->path, '{'); p; p = strchr(p + 1, '{'), i++)
		if (strncmp(p + 1, name, n) == 0 && p[1 + n] == '}')
			return i;
	return -1;
}

const struct route_param *route_param_find(const struct route *r, const char *name)
{
	for (int i = 0; i < ROUTE_PARAMS_MAX && r->params[i].name; i++)
		if (strcmp(r->params[i].name, name) == 0)
			return &r->params[i];
	return NULL;
}

int route_fields(const struct route *r, const char *names[ROUTE_STRINGS],
		 const char *nums[ROUTE_NUMBERS])
{
	int ns = 0, nn = 0;
	for (int i = 0; i < ROUTE_STRINGS; i++)
		names[i] = NULL;
	for (int i = 0; i < ROUTE_NUMBERS; i++)
		nums[i] = NULL;
	for (int i = 0; i < ROUTE_PARAMS_MAX && r->params[i].name; i++) {
		const struct route_param *p = &r->params[i];
		if (p->kind == ROUTE_STRING && ns < ROUTE_STRINGS)
			names[ns++] = p->name;
		else if ((p->kind == ROUTE_NUMBER || p->kind == ROUTE_BOOL) && nn < ROUTE_NUMBERS)
			nums[nn++] = p->name;
	}
	return ns + nn;
}
