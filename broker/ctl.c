/* SPDX-License-Identifier: MIT */
/*
 * highrisectl: the admin CLI. It talks to the broker's admin API
 * (docs/broker-api.md) over TLS 1.3 with an admin client certificate
 * (highrise-certs issue admin NAME) — never to the database.
 *
 * One request per command, blocking: a CLI has nothing else to do. Exit
 * codes: 0 done, 1 the broker refused (its error is printed), 2 usage,
 * 3 the broker could not be reached (TLS or network; the reason is printed).
 */
#include "https.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG "highrisectl"

enum exit_code {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
};

struct opts {
	const char *broker, *cert, *key, *ca;
	bool json;
};

/* Every command, for --help and COMMAND --help. */
static const struct help {
	const char *noun, *verb; /* verb NULL: the noun is the command */
	const char *synopsis, *what;
} helps[] = {
	{"pool", "create",
	 "pool create NAME [--kind floating|dedicated] [--logoff never|immediate|after_idle]\n"
	 "                 [--idle-timeout SECONDS] [--max-sessions N]",
	 "adds a pool (defaults: floating, never, 0, 1)"},
	{"pool", "list", "pool list", "every pool with its settings and counts"},
	{"pool", "show", "pool show NAME", "one pool: settings, desktops, available, sessions"},
	{"pool", "set",
	 "pool set NAME [--kind floating|dedicated] [--logoff never|immediate|after_idle]\n"
	 "              [--idle-timeout SECONDS] [--max-sessions N]",
	 "changes a pool's settings (the kind only while it has no desktops)"},
	{"pool", "delete", "pool delete NAME", "deletes a pool with its desktops and sessions"},
	{"desktop", "add", "desktop add POOL AGENT NAME [CONSOLE_URI]",
	 "adds a desktop; offline until its agent registers"},
	{"desktop", "list", "desktop list",
	 "every desktop with its state, holder and, when offline, why its agent says it is down"},
	{"desktop", "show", "desktop show AGENT NAME", "one desktop's pool and state"},
	{"desktop", "remove", "desktop remove AGENT NAME",
	 "removes a desktop with its assignment and sessions"},
	{"desktop", "maintenance", "desktop maintenance AGENT NAME on|off",
	 "takes a desktop out of service, or back (offline until its agent speaks)"},
	{"user", "add", "user add NAME [--password-file FILE]",
	 "adds a user; the password from FILE or the first line of stdin"},
	{"user", "passwd", "user passwd NAME [--password-file FILE]", "sets a new password"},
	{"user", "list", "user list", "every user with their groups"},
	{"user", "delete", "user delete NAME",
	 "deletes a user; the desktops they held become available"},
	{"group", "add", "group add NAME", "adds a group"},
	{"group", "add-member", "group add-member GROUP USER", "puts a user in a group"},
	{"group", "remove-member", "group remove-member GROUP USER", "takes a user out of a group"},
	{"group", "list", "group list", "every group with its members"},
	{"group", "delete", "group delete NAME",
	 "deletes a group with its memberships and entitlements (users stay)"},
	{"entitle", NULL, "entitle POOL --user USER | --group GROUP",
	 "lets a user, or a group's members, use a pool"},
	{"unentitle", NULL, "unentitle POOL --user USER | --group GROUP",
	 "takes that entitlement away (live sessions stay)"},
	{"assign", NULL, "assign USER AGENT DESKTOP", "makes a desktop the user's dedicated one"},
	{"unassign", NULL, "unassign AGENT DESKTOP",
	 "drops a desktop's assignment and ends its session"},
	{"session", "list", "session list", "live sessions: pending, connected or disconnected"},
	{"session", "disconnect", "session disconnect SESSION",
	 "drops the session's client; the session stays and its user may resume it"},
	{"session", "logoff", "session logoff SESSION",
	 "ends the session (its client is dropped); a floating desktop goes back"},
	{"agent", "list", "agent list", "every agent with its address and last heartbeat"},
};

static void usage(FILE *out)
{
	fputs("Usage: " PROG " [OPTIONS] COMMAND ...\n"
	      "\n"
	      "Manages a Highrise broker's pools, desktops, users, groups, entitlements and\n"
	      "sessions over its admin API (mutual TLS with an admin certificate).\n"
	      "\n"
	      "Options (or the environment variable in brackets):\n"
	      "  --broker URL       https://HOST:PORT of the broker [HIGHRISE_BROKER]\n"
	      "  --cert FILE        admin certificate (highrise-certs issue admin NAME) "
	      "[HIGHRISE_CERT]\n"
	      "  --key FILE         its key [HIGHRISE_KEY]\n"
	      "  --ca FILE          the CA that signed the broker's certificate [HIGHRISE_CA]\n"
	      "  --json             print the broker's JSON answer instead of a table\n"
	      "  --help             this text (COMMAND --help: that command's)\n"
	      "\n"
	      "Commands:\n",
	      out);
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
		fprintf(out, "  %s\n", helps[i].synopsis);
	fputs("\n"
	      "Exit codes: 0 done, 1 refused by the broker, 2 usage, 3 broker unreachable.\n"
	      "\n"
	      "Example:\n"
	      "  " PROG " --broker https://broker.example.com:8443 --cert admin-alice.pem \\\n"
	      "      --key admin-alice.key --ca ca.pem pool create office --kind floating\n",
	      out);
}

/* COMMAND --help: the commands of that noun (and verb); false when none match. */
static bool command_help(int argc, char **argv)
{
	const char *noun = argc > 0 ? argv[0] : "", *verb = argc > 1 ? argv[1] : "";
	bool any = false, verb_known = false;
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
		if (strcmp(helps[i].noun, noun) == 0 && helps[i].verb &&
		    strcmp(helps[i].verb, verb) == 0)
			verb_known = true;
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
		if (strcmp(helps[i].noun, noun) != 0)
			continue;
		if (verb_known && strcmp(helps[i].verb, verb) != 0)
			continue;
		printf("Usage: " PROG " [OPTIONS] %s\n  %s\n", helps[i].synopsis, helps[i].what);
		any = true;
	}
	if (any)
		printf("(" PROG " --help: the options and every command)\n");
	return any;
}

/* ---- one HTTPS request (proto/https.h) ---- */

/*
 * method path [body] -> status and the answer's body (malloc'd). Returns
 * 0, or -1 with a sentence in err when the broker could not be reached.
 */
static int https(const struct opts *o, const char *method, const char *path, const char *body,
		 int *status, char **out, char *err, size_t errlen)
{
	struct https_target t = {.url = o->broker,
				 .ca_file = o->ca,
				 .cert_file = o->cert && o->cert[0] ? o->cert : NULL,
				 .key_file = o->key,
				 .timeout_ms = 30000};
	struct https_response res;

	if (https_request(&t, "the broker", method, path, NULL, body, &res, err, errlen) < 0)
		return -1;
	*status = res.status;
	*out = res.body; /* ours now */
	return 0;
}

/* ---- output ---- */

static bool time_column(const char *name)
{
	return strcmp(name, "last_heartbeat") == 0 || strcmp(name, "started") == 0 ||
	       strcmp(name, "last_seen") == 0;
}

static char *cell_text(const cJSON *v, const char *col)
{
	char buf[64];
	if (cJSON_IsString(v))
		return strdup(v->valuestring);
	if (cJSON_IsNumber(v)) {
		if (time_column(col) && v->valuedouble > 0) {
			time_t t = (time_t)v->valuedouble;
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm);
		} else if (time_column(col)) {
			snprintf(buf, sizeof(buf), "never");
		} else {
			snprintf(buf, sizeof(buf), "%.0f", v->valuedouble);
		}
		return strdup(buf);
	}
	if (cJSON_IsBool(v))
		return strdup(cJSON_IsTrue(v) ? "yes" : "no");
	return strdup("");
}

/* An array of objects as a table with a header; columns from the first row. */
static void print_table(const cJSON *rows)
{
	const cJSON *first = cJSON_GetArrayItem(rows, 0), *c, *row;
	size_t ncols = 0, w[32] = {0}, k;

	if (!first) {
		printf("(none)\n");
		return;
	}
	cJSON_ArrayForEach(c, first) if (ncols < 32) w[ncols++] = strlen(c->string);
	cJSON_ArrayForEach(row, rows)
	{
		k = 0;
		cJSON_ArrayForEach(c, row)
		{
			char *t;
			if (k >= ncols)
				break;
			t = cell_text(c, c->string);
			if (t && strlen(t) > w[k])
				w[k] = strlen(t);
			free(t);
			k++;
		}
	}
	k = 0;
	cJSON_ArrayForEach(c, first)
	{
		if (k >= ncols)
			break;
		for (const char *p = c->string; *p; p++)
			putchar(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		if (k + 1 < ncols)
			printf("%*s", (int)(w[k] - strlen(c->string) + 2), "");
		k++;
	}
	putchar('\n');
	cJSON_ArrayForEach(row, rows)
	{
		k = 0;
		cJSON_ArrayForEach(c, row)
		{
			char *t;
			if (k >= ncols)
				break;
			t = cell_text(c, c->string);
			if (k + 1 < ncols)
				printf("%s%*s", t ? t : "", (int)(w[k] - (t ? strlen(t) : 0) + 2),
				       "");
			else
				printf("%s", t ? t : ""); /* no blanks at the end of a line */
			free(t);
			k++;
		}
		putchar('\n');
	}
}

/* Sends the request and prints the answer; returns the exit code. */
static int call(const struct opts *o, const char *method, const char *path, cJSON *body,
		const char *done_msg)
{
	char err[512], *text = body ? cJSON_PrintUnformatted(body) : NULL, *resp = NULL;
	cJSON *j;
	int status = 0, rc;

	cJSON_Delete(body);
	rc = https(o, method, path, text, &status, &resp, err, sizeof(err));
	free(text);
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return EXIT_UNREACHABLE;
	}
	j = cJSON_Parse(resp);
	if (status >= 400) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "hint");
		if (o->json)
			printf("%s", resp);
		fprintf(stderr, PROG ": the broker refused (%d): %s%s%s\n", status,
			cJSON_IsString(e) ? e->valuestring : "(no reason given)",
			cJSON_IsString(h) ? "; " : "", cJSON_IsString(h) ? h->valuestring : "");
		cJSON_Delete(j);
		free(resp);
		return EXIT_REFUSED;
	}
	if (o->json) {
		printf("%s", resp);
	} else if (done_msg) {
		printf("%s\n", done_msg);
	} else {
		cJSON *c;
		cJSON_ArrayForEach(c, j)
		{
			if (cJSON_IsArray(c))
				print_table(c);
		}
		if (j && !cJSON_GetArrayItem(j, 0))
			printf("(none)\n");
		else if (j && !cJSON_IsArray(j->child)) {
			/* a single object: name value lines */
			cJSON_ArrayForEach(c, j)
			{
				char *t = cell_text(c, c->string);
				printf("%-10s %s\n", c->string, t ? t : "");
				free(t);
			}
		}
	}
	cJSON_Delete(j);
	free(resp);
	return EXIT_OK;
}

/* ---- commands ---- */

static int need(int argc, int want, const char *what)
{
	if (argc < want) {
		fprintf(stderr, PROG ": %s (see --help)\n", what);
		return 0;
	}
	return 1;
}

static const char *flag(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

/* --NAME N as a whole number >= 0 into *out; false (and a message) when it is not one. */
static bool num_flag(int argc, char **argv, const char *name, cJSON *b, const char *member)
{
	const char *v = flag(argc, argv, name);
	char *end;
	long long n;
	if (!v)
		return true;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || *end || n < 0) {
		fprintf(stderr, PROG ": %s takes a whole number of 0 or more, not '%s'\n", name, v);
		return false;
	}
	cJSON_AddNumberToObject(b, member, (double)n);
	return true;
}

/* The pool settings flags of pool create and pool set into b; false on a usage error. */
static bool pool_flags(int argc, char **argv, cJSON *b)
{
	const char *v;
	if ((v = flag(argc, argv, "--kind")))
		cJSON_AddStringToObject(b, "kind", v);
	if ((v = flag(argc, argv, "--logoff")))
		cJSON_AddStringToObject(b, "logoff", v);
	return num_flag(argc, argv, "--idle-timeout", b, "idle_timeout_s") &&
	       num_flag(argc, argv, "--max-sessions", b, "max_sessions");
}

static int read_password(const char *file, char *out, size_t cap)
{
	FILE *f = file ? fopen(file, "r") : stdin;
	if (!f)
		return -errno;
	if (!fgets(out, (int)cap, f))
		out[0] = '\0';
	if (file)
		fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return out[0] ? 0 : -EINVAL;
}

static int run(const struct opts *o, int argc, char **argv)
{
	char path[512], msg[300];
	const char *noun, *verb;
	cJSON *b;

	if (!need(argc, 2, "say what to do: a noun and a verb, e.g. 'pool list'"))
		return EXIT_USAGE;
	noun = argv[0];
	verb = argv[1];
	if (strcmp(noun, "pool") == 0) {
		if (strcmp(verb, "list") == 0)
			return call(o, "GET", "/api/v1/admin/pools", NULL, NULL);
		if (strcmp(verb, "create") == 0 && need(argc, 3, "pool create NAME")) {
			b = cJSON_CreateObject();
			cJSON_AddStringToObject(b, "name", argv[2]);
			if (!pool_flags(argc, argv, b)) {
				cJSON_Delete(b);
				return EXIT_USAGE;
			}
			snprintf(msg, sizeof(msg), "pool %s created", argv[2]);
			return call(o, "POST", "/api/v1/admin/pools", b, msg);
		}
		if (strcmp(verb, "show") == 0 && need(argc, 3, "pool show NAME")) {
			snprintf(path, sizeof(path), "/api/v1/admin/pools/%s", argv[2]);
			return call(o, "GET", path, NULL, NULL);
		}
		if (strcmp(verb, "set") == 0 &&
		    need(argc, 4, "pool set NAME --SETTING VALUE ...")) {
			b = cJSON_CreateObject();
			if (!pool_flags(argc, argv, b)) {
				cJSON_Delete(b);
				return EXIT_USAGE;
			}
			snprintf(path, sizeof(path), "/api/v1/admin/pools/%s", argv[2]);
			snprintf(msg, sizeof(msg), "pool %s changed", argv[2]);
			return call(o, "POST", path, b, msg);
		}
		if (strcmp(verb, "delete") == 0 && need(argc, 3, "pool delete NAME")) {
			snprintf(path, sizeof(path), "/api/v1/admin/pools/%s", argv[2]);
			snprintf(msg, sizeof(msg), "pool %s deleted", argv[2]);
			return call(o, "DELETE", path, NULL, msg);
		}
	} else if (strcmp(noun, "desktop") == 0) {
		if (strcmp(verb, "list") == 0)
			return call(o, "GET", "/api/v1/admin/desktops", NULL, NULL);
		if (strcmp(verb, "add") == 0 &&
		    need(argc, 5, "desktop add POOL AGENT NAME [URI]")) {
			b = cJSON_CreateObject();
			cJSON_AddStringToObject(b, "agent", argv[3]);
			cJSON_AddStringToObject(b, "name", argv[4]);
			cJSON_AddStringToObject(b, "console_uri", argc > 5 ? argv[5] : "");
			snprintf(path, sizeof(path), "/api/v1/admin/pools/%s/desktops", argv[2]);
			snprintf(msg, sizeof(msg), "desktop %s/%s added to pool %s", argv[3],
				 argv[4], argv[2]);
			return call(o, "POST", path, b, msg);
		}
		if (strcmp(verb, "remove") == 0 && need(argc, 4, "desktop remove AGENT NAME")) {
			snprintf(path, sizeof(path), "/api/v1/admin/desktops/%s/%s", argv[2],
				 argv[3]);
			snprintf(msg, sizeof(msg), "desktop %s/%s removed", argv[2], argv[3]);
			return call(o, "DELETE", path, NULL, msg);
		}
		if (strcmp(verb, "show") == 0 && need(argc, 4, "desktop show AGENT NAME")) {
			snprintf(path, sizeof(path), "/api/v1/admin/desktops/%s/%s", argv[2],
				 argv[3]);
			return call(o, "GET", path, NULL, NULL);
		}
		if (strcmp(verb, "maintenance") == 0 &&
		    need(argc, 5, "desktop maintenance AGENT NAME on|off")) {
			bool on = strcmp(argv[4], "on") == 0;
			if (!on && strcmp(argv[4], "off") != 0) {
				fprintf(stderr, PROG ": maintenance is 'on' or 'off'\n");
				return EXIT_USAGE;
			}
			b = cJSON_CreateObject();
			cJSON_AddBoolToObject(b, "on", on);
			snprintf(path, sizeof(path), "/api/v1/admin/desktops/%s/%s/maintenance",
				 argv[2], argv[3]);
			snprintf(msg, sizeof(msg), "desktop %s/%s: maintenance %s", argv[2],
				 argv[3], argv[4]);
			return call(o, "POST", path, b, msg);
		}
	} else if (strcmp(noun, "user") == 0) {
		if (strcmp(verb, "list") == 0)
			return call(o, "GET", "/api/v1/admin/users", NULL, NULL);
		if (strcmp(verb, "add") == 0 && need(argc, 3, "user add NAME")) {
			char pw[1100];
			int rc;
			if (read_password(flag(argc, argv, "--password-file"), pw, sizeof(pw)) <
			    0) {
				fprintf(stderr,
					PROG ": no password (--password-file FILE, or a line "
					     "on stdin)\n");
				return EXIT_USAGE;
			}
			b = cJSON_CreateObject();
			cJSON_AddStringToObject(b, "name", argv[2]);
			cJSON_AddStringToObject(b, "password", pw);
			memset(pw, 0, sizeof(pw));
			snprintf(msg, sizeof(msg), "user %s added", argv[2]);
			rc = call(o, "POST", "/api/v1/admin/users", b, msg);
			return rc;
		}
		if (strcmp(verb, "passwd") == 0 && need(argc, 3, "user passwd NAME")) {
			char pw[1100];
			if (read_password(flag(argc, argv, "--password-file"), pw, sizeof(pw)) <
			    0) {
				fprintf(stderr,
					PROG ": no password (--password-file FILE, or a line "
					     "on stdin)\n");
				return EXIT_USAGE;
			}
			b = cJSON_CreateObject();
			cJSON_AddStringToObject(b, "password", pw);
			memset(pw, 0, sizeof(pw));
			snprintf(path, sizeof(path), "/api/v1/admin/users/%s/password", argv[2]);
			snprintf(msg, sizeof(msg), "password of %s changed", argv[2]);
			return call(o, "POST", path, b, msg);
		}
		if (strcmp(verb, "delete") == 0 && need(argc, 3, "user delete NAME")) {
			snprintf(path, sizeof(path), "/api/v1/admin/users/%s", argv[2]);
			snprintf(msg, sizeof(msg), "user %s deleted", argv[2]);
			return call(o, "DELETE", path, NULL, msg);
		}
	} else if (strcmp(noun, "group") == 0) {
		if (strcmp(verb, "list") == 0)
			return call(o, "GET", "/api/v1/admin/groups", NULL, NULL);
		if (strcmp(verb, "add") == 0 && need(argc, 3, "group add NAME")) {
			b = cJSON_CreateObject();
			cJSON_AddStringToObject(b, "name", argv[2]);
			snprintf(msg, sizeof(msg), "group %s added", argv[2]);
			return call(o, "POST", "/api/v1/admin/groups", b, msg);
		}
		if (strcmp(verb, "add-member") == 0 &&
		    need(argc, 4, "group add-member GROUP USER")) {
			b = cJSON_CreateObject();
			cJSON_AddStringToObject(b, "user", argv[3]);
			snprintf(path, sizeof(path), "/api/v1/admin/groups/%s/members", argv[2]);
			snprintf(msg, sizeof(msg), "%s is now in group %s", argv[3], argv[2]);
			return call(o, "POST", path, b, msg);
		}
		if (strcmp(verb, "remove-member") == 0 &&
		    need(argc, 4, "group remove-member GROUP USER")) {
			snprintf(path, sizeof(path), "/api/v1/admin/groups/%s/members/%s", argv[2],
				 argv[3]);
			snprintf(msg, sizeof(msg), "%s is no longer in group %s", argv[3], argv[2]);
			return call(o, "DELETE", path, NULL, msg);
		}
		if (strcmp(verb, "delete") == 0 && need(argc, 3, "group delete NAME")) {
			snprintf(path, sizeof(path), "/api/v1/admin/groups/%s", argv[2]);
			snprintf(msg, sizeof(msg), "group %s deleted", argv[2]);
			return call(o, "DELETE", path, NULL, msg);
		}
	} else if (strcmp(noun, "entitle") == 0) {
		const char *u = flag(argc, argv, "--user"), *g = flag(argc, argv, "--group");
		if (!u == !g) {
			fprintf(stderr, PROG ": entitle POOL --user USER | --group GROUP\n");
			return EXIT_USAGE;
		}
		b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "pool", argv[1]);
		cJSON_AddStringToObject(b, u ? "user" : "group", u ? u : g);
		snprintf(msg, sizeof(msg), "%s %s may use pool %s", u ? "user" : "group", u ? u : g,
			 argv[1]);
		return call(o, "POST", "/api/v1/admin/entitlements", b, msg);
	} else if (strcmp(noun, "unentitle") == 0) {
		const char *u = flag(argc, argv, "--user"), *g = flag(argc, argv, "--group");
		if (!u == !g) {
			fprintf(stderr, PROG ": unentitle POOL --user USER | --group GROUP\n");
			return EXIT_USAGE;
		}
		snprintf(path, sizeof(path), "/api/v1/admin/entitlements/%s/%s/%s", argv[1],
			 u ? "users" : "groups", u ? u : g);
		snprintf(msg, sizeof(msg), "%s %s may no longer use pool %s", u ? "user" : "group",
			 u ? u : g, argv[1]);
		return call(o, "DELETE", path, NULL, msg);
	} else if (strcmp(noun, "assign") == 0 && need(argc, 4, "assign USER AGENT DESKTOP")) {
		b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "user", argv[1]);
		cJSON_AddStringToObject(b, "agent", argv[2]);
		cJSON_AddStringToObject(b, "desktop", argv[3]);
		snprintf(msg, sizeof(msg), "desktop %s/%s is now %s's", argv[2], argv[3], argv[1]);
		return call(o, "POST", "/api/v1/admin/assignments", b, msg);
	} else if (strcmp(noun, "unassign") == 0 && need(argc, 3, "unassign AGENT DESKTOP")) {
		snprintf(path, sizeof(path), "/api/v1/admin/assignments/%s/%s", argv[1], argv[2]);
		snprintf(msg, sizeof(msg), "desktop %s/%s unassigned", argv[1], argv[2]);
		return call(o, "DELETE", path, NULL, msg);
	} else if (strcmp(noun, "session") == 0) {
		if (strcmp(verb, "list") == 0)
			return call(o, "GET", "/api/v1/admin/sessions", NULL, NULL);
		if (strcmp(verb, "logoff") == 0 && need(argc, 3, "session logoff SESSION")) {
			snprintf(path, sizeof(path), "/api/v1/admin/sessions/%s/logoff", argv[2]);
			snprintf(msg, sizeof(msg), "session %s logged off", argv[2]);
			return call(o, "POST", path, NULL, msg);
		}
		if (strcmp(verb, "disconnect") == 0 &&
		    need(argc, 3, "session disconnect SESSION")) {
			snprintf(path, sizeof(path), "/api/v1/admin/sessions/%s/disconnect",
				 argv[2]);
			snprintf(msg, sizeof(msg),
				 "session %s: its client is being dropped (the session stays)",
				 argv[2]);
			return call(o, "POST", path, NULL, msg);
		}
	} else if (strcmp(noun, "agent") == 0) {
		if (strcmp(verb, "list") == 0)
			return call(o, "GET", "/api/v1/admin/agents", NULL, NULL);
	}
	fprintf(stderr, PROG ": unknown command '%s %s' (see --help)\n", noun, verb);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct opts o = {getenv("HIGHRISE_BROKER"), getenv("HIGHRISE_CERT"), getenv("HIGHRISE_KEY"),
			 getenv("HIGHRISE_CA"), false};
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			int k = 1;
			/* skip the options and their values: what follows is the command */
			while (k < i && strncmp(argv[k], "--", 2) == 0)
				k += strcmp(argv[k], "--json") == 0 ? 1 : 2;
			if (k < i && command_help(i - k, argv + k))
				return EXIT_OK;
			usage(stdout);
			return EXIT_OK;
		}
	}
	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--json") == 0) {
			o.json = true;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, PROG ": %s needs a value (see --help)\n", a);
			return EXIT_USAGE;
		}
		if (strcmp(a, "--broker") == 0)
			o.broker = argv[++i];
		else if (strcmp(a, "--cert") == 0)
			o.cert = argv[++i];
		else if (strcmp(a, "--key") == 0)
			o.key = argv[++i];
		else if (strcmp(a, "--ca") == 0)
			o.ca = argv[++i];
		else {
			fprintf(stderr, PROG ": unknown option %s (see --help)\n", a);
			return EXIT_USAGE;
		}
	}
	if (!o.broker) {
		fprintf(stderr,
			PROG ": which broker? --broker https://HOST:PORT (or HIGHRISE_BROKER)\n");
		return EXIT_USAGE;
	}
	/* --json may also come after the command */
	for (int k = i; k < argc; k++)
		if (strcmp(argv[k], "--json") == 0)
			o.json = true;
	return run(&o, argc - i, argv + i);
}
