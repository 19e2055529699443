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
#include "brokerapi.h"
#include "routes.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
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

/* A row's command ("pool create", or a lone noun: "entitle") is of this noun. */
static bool noun_is(const char *command, const char *noun)
{
	size_t n = strlen(noun);
	return strncmp(command, noun, n) == 0 && (command[n] == '\0' || command[n] == ' ');
}

/* ... and this verb; a lone noun takes any (its first word). */
static bool command_is(const char *command, const char *noun, const char *verb)
{
	const char *space = strchr(command, ' ');
	return noun_is(command, noun) && (!space || (verb && strcmp(space + 1, verb) == 0));
}

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
	for (size_t i = 0; i < routes_count; i++)
		if (routes[i].synopsis)
			fprintf(out, "  %s\n", routes[i].synopsis);
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
	for (size_t i = 0; i < routes_count; i++)
		if (routes[i].synopsis && strchr(routes[i].command, ' ') &&
		    command_is(routes[i].command, noun, verb))
			verb_known = true;
	for (size_t i = 0; i < routes_count; i++) {
		const struct route *r = &routes[i];
		if (!r->synopsis || !noun_is(r->command, noun))
			continue;
		if (verb_known && !command_is(r->command, noun, verb))
			continue;
		printf("Usage: " PROG " [OPTIONS] %s\n  %s\n", r->synopsis, r->what);
		any = true;
	}
	if (any)
		printf("(" PROG " --help: the options and every command)\n");
	return any;
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

/* The texts of a row's first ncols cells (malloc'd, NULL when out of memory); how many. */
static size_t row_texts(const cJSON *row, size_t ncols, char *t[32])
{
	const cJSON *c;
	size_t k = 0;
	cJSON_ArrayForEach(c, row)
	{
		if (k >= ncols)
			break;
		t[k++] = cell_text(c, c->string);
	}
	return k;
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
		char *t[32];
		size_t n = row_texts(row, ncols, t);
		for (k = 0; k < n; k++) {
			if (t[k] && strlen(t[k]) > w[k])
				w[k] = strlen(t[k]);
			free(t[k]);
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
		char *t[32];
		size_t n = row_texts(row, ncols, t);
		for (k = 0; k < n; k++) {
			const char *v = t[k] ? t[k] : "";
			if (k + 1 < ncols)
				printf("%s%*s", v, (int)(w[k] - strlen(v) + 2), "");
			else
				printf("%s", v); /* no blanks at the end of a line */
			free(t[k]);
		}
		putchar('\n');
	}
}

/* Sends the request (brokerapi.h) and prints the answer; returns the exit code. */
static int call(const struct opts *o, const char *method, const char *path, cJSON *body,
		const char *done_msg)
{
	struct https_target broker = {.url = o->broker,
				      .ca_file = o->ca,
				      .cert_file = o->cert && o->cert[0] ? o->cert : NULL,
				      .key_file = o->key,
				      .timeout_ms = 30000};
	struct bapi_answer a;
	char err[512];
	int rc = bapi_call(&broker, method, path, NULL, body, &a, err, sizeof(err));

	cJSON_Delete(body);
	if (o->json && a.body)
		printf("%s", a.body);
	if (rc == -HR_EBROKER_REFUSED || rc == -HR_EBROKER_FAILED || rc == -HR_EBROKER_ANSWER) {
		if (rc == -HR_EBROKER_ANSWER)
			fprintf(stderr, PROG ": %s\n", err);
		else
			fprintf(stderr, PROG ": the broker refused (%d): %s\n", a.status, err);
		bapi_answer_deinit(&a);
		return EXIT_REFUSED;
	}
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return EXIT_UNREACHABLE;
	}
	if (o->json) {
		/* the body was printed as it came */
	} else if (done_msg) {
		printf("%s\n", done_msg);
	} else {
		cJSON *c, *j = a.json;
		cJSON_ArrayForEach(c, j)
		{
			if (cJSON_IsArray(c))
				print_table(c);
		}
		if (!cJSON_GetArrayItem(j, 0))
			printf("(none)\n");
		else if (!cJSON_IsArray(j->child)) {
			/* a single object: name value lines */
			cJSON_ArrayForEach(c, j)
			{
				char *t = cell_text(c, c->string);
				printf("%-10s %s\n", c->string, t ? t : "");
				free(t);
			}
		}
	}
	bapi_answer_deinit(&a);
	return EXIT_OK;
}

/* ---- commands: a row of routes.h to one request ---- */

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

/* The words of a command line by the names of its row: the path's {names} and the params. */
struct words {
	const char *name[ROUTE_ARGS_MAX + ROUTE_PARAMS_MAX],
		*value[ROUTE_ARGS_MAX + ROUTE_PARAMS_MAX];
	size_t len[ROUTE_ARGS_MAX + ROUTE_PARAMS_MAX]; /* of name, which may go on: "pool}/..." */
	int n;
	const char *one_of, *one_of_value; /* the ROUTE_ONE_OF flag given, and its value */
};

static void words_add(struct words *w, const char *name, size_t len, const char *value)
{
	if (w->n < ROUTE_ARGS_MAX + ROUTE_PARAMS_MAX) {
		w->name[w->n] = name;
		w->len[w->n] = len;
		w->value[w->n++] = value;
	}
}

/* text with each {name} the word of that name ({one_of}: "user bob") into out. */
static void words_expand(const struct words *w, const char *text, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	while (*text && o + 1 < cap) {
		const char *close = text[0] == '{' ? strchr(text, '}') : NULL, *v = "";
		size_t n;
		if (!close) {
			out[o++] = *text++;
			out[o] = '\0';
			continue;
		}
		n = (size_t)(close - text - 1);
		if (n == 6 && strncmp(text + 1, "one_of", 6) == 0 && w->one_of) {
			o += (size_t)snprintf(out + o, cap - o, "%s %s", w->one_of + 2,
					      w->one_of_value);
		} else {
			for (int i = 0; i < w->n; i++)
				if (w->len[i] == n && strncmp(w->name[i], text + 1, n) == 0)
					v = w->value[i];
			o += (size_t)snprintf(out + o, cap - o, "%s", v);
		}
		if (o >= cap)
			o = cap - 1;
		text = close + 1;
	}
}

/* A row's usage error: the first line of its command's synopsis. */
static int usage_error(const struct route *help)
{
	fprintf(stderr, PROG ": %.*s (see --help)\n", (int)strcspn(help->synopsis, "\n"),
		help->synopsis);
	return EXIT_USAGE;
}

/* A param's word into the body b; false (and a message) when it is not what it must be. */
static bool add_param(const struct route *r, const struct route_param *p, const char *v, cJSON *b)
{
	char *end;
	long long n;

	switch (p->kind) {
	case ROUTE_NUMBER:
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno || end == v || *end || n < 0) {
			fprintf(stderr, PROG ": %s takes a whole number of 0 or more, not '%s'\n",
				p->flag ? p->flag : p->name, v);
			return false;
		}
		cJSON_AddNumberToObject(b, p->name, (double)n);
		return true;
	case ROUTE_BOOL:
		if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
			fprintf(stderr, PROG ": %s is 'on' or 'off'\n",
				strrchr(r->command, ' ') + 1);
			return false;
		}
		cJSON_AddBoolToObject(b, p->name, strcmp(v, "on") == 0);
		return true;
	default:
		cJSON_AddStringToObject(b, p->name, v);
		return true;
	}
}

/* The name of the {name} at p of a path. */
static const char *placeholder(const char *p, char name[32])
{
	snprintf(name, 32, "%.*s", (int)strcspn(p + 1, "}"), p + 1);
	return name;
}

/* The request of row r (help: its command's first row) from the command line. */
static int request(const struct opts *o, const struct route *r, const struct route *help, int argc,
		   char **argv)
{
	int k = strchr(r->command, ' ') ? 2 : 1, want = k, any_of = 0, any_given = 0;
	char path[512], msg[300], name[32];
	struct words w = {0};
	size_t len = 0;
	cJSON *b = NULL;

	for (const char *p = strchr(r->path, '{'); p; p = strchr(p + 1, '{')) {
		const struct route_param *f = route_param_find(r, placeholder(p, name));
		want += !(f && f->flag); /* a word of its own */
	}
	for (int i = 0; i < ROUTE_PARAMS_MAX && r->params[i].name; i++) {
		const struct route_param *p = &r->params[i];
		want += p->kind != ROUTE_PATH && !p->flag && !(p->opts & ROUTE_OPTIONAL);
		any_of += !!(p->opts & ROUTE_ANY_OF);
		any_given += (p->opts & ROUTE_ANY_OF) && flag(argc, argv, p->flag);
	}
	if (argc < want || (any_of && !any_given))
		return usage_error(help);

	/* the path: its {names} from the next words, or from their flags */
	len = (size_t)snprintf(path, sizeof(path), "/api/v1/");
	for (const char *p = r->path; *p && len < sizeof(path);) {
		const struct route_param *f;
		const char *v;
		if (*p != '{') {
			path[len++] = *p++;
			continue;
		}
		f = route_param_find(r, placeholder(p, name));
		v = f && f->flag ? flag(argc, argv, f->flag) : argv[k++];
		if (!v) {
			cJSON_Delete(b);
			return usage_error(help);
		}
		if (f && f->flag && (f->opts & ROUTE_ONE_OF)) {
			w.one_of = f->flag;
			w.one_of_value = v;
		}
		words_add(&w, p + 1, strlen(name), v);
		len += (size_t)snprintf(path + len, sizeof(path) - len, "%s", v);
		p = strchr(p, '}') + 1;
	}
	path[len < sizeof(path) ? len : sizeof(path) - 1] = '\0';

	/* the body: the params in the row's order */
	for (int i = 0; i < ROUTE_PARAMS_MAX && r->params[i].name; i++) {
		const struct route_param *p = &r->params[i];
		const char *v;
		if (p->kind == ROUTE_PATH)
			continue;
		if (!b)
			b = cJSON_CreateObject();
		if (p->opts & ROUTE_SECRET) {
			char pw[1100];
			if (read_password(flag(argc, argv, p->flag), pw, sizeof(pw)) < 0) {
				fprintf(stderr,
					PROG ": no password (%s FILE, or a line on stdin)\n",
					p->flag);
				cJSON_Delete(b);
				return EXIT_USAGE;
			}
			cJSON_AddStringToObject(b, p->name, pw);
			OPENSSL_cleanse(pw, sizeof(pw));
			continue;
		}
		v = p->flag ? flag(argc, argv, p->flag) : k < argc ? argv[k++] : "";
		if (!v)
			continue; /* a flag not given */
		if (!add_param(r, p, v, b)) {
			cJSON_Delete(b);
			return EXIT_USAGE;
		}
		words_add(&w, p->name, strlen(p->name), v);
		if (p->opts & ROUTE_ONE_OF) {
			w.one_of = p->flag;
			w.one_of_value = v;
		}
	}
	if (r->done)
		words_expand(&w, r->done, msg, sizeof(msg));
	return call(o, route_method_name(r->method), path, b, r->done ? msg : NULL);
}

/*
 * The command's rows (unentitle has one per kind of entitlement): the one
 * whose ROUTE_ONE_OF flag is given, exactly one of them, else the first.
 */
static int run(const struct opts *o, int argc, char **argv)
{
	const struct route *first = NULL, *r = NULL;
	int one_of = 0, given = 0;

	if (!need(argc, 2, "say what to do: a noun and a verb, e.g. 'pool list'"))
		return EXIT_USAGE;
	for (size_t i = 0; i < routes_count; i++) {
		const struct route *c = &routes[i];
		if (!c->command || !command_is(c->command, argv[0], argv[1]))
			continue;
		if (!first)
			first = c;
		for (int p = 0; p < ROUTE_PARAMS_MAX && c->params[p].name; p++) {
			if (!(c->params[p].opts & ROUTE_ONE_OF))
				continue;
			one_of++;
			if (flag(argc, argv, c->params[p].flag)) {
				given++;
				r = c;
			}
		}
	}
	if (!first) {
		fprintf(stderr, PROG ": unknown command '%s %s' (see --help)\n", argv[0], argv[1]);
		return EXIT_USAGE;
	}
	if (one_of && given != 1)
		return usage_error(first);
	return request(o, r ? r : first, first, argc, argv);
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
