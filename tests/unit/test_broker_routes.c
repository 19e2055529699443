/* SPDX-License-Identifier: MIT */
/*
 * The broker API's route table (broker/routes.h) against itself and
 * against docs/broker-api.md: the page's endpoint index must be the one
 * the table makes (on a mismatch the test prints the index to paste), and
 * every endpoint the page describes (a "### METHOD /api/v1/..." heading or a
 * table row that starts with "| `METHOD /api/v1/...`") must be a row, and
 * every row must be described.
 */
#include "check.h"
#include "routes.h"

#include <stdbool.h>

#define INDEX_BEGIN "<!-- routes: begin"
#define INDEX_END   "<!-- routes: end -->"

static const char *auth_name(enum api_auth a)
{
	switch (a) {
	case API_AUTH_NONE:
		return "anyone";
	case API_AUTH_TOKEN:
		return "user (token)";
	case API_AUTH_AGENT:
		return "agent";
	default:
		return "admin";
	}
}

/* The index as routes[] makes it: the lines between the markers. */
static char *make_index(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	fprintf(f, "| request | caller | answer | highrisectl |\n|---|---|---|---|\n");
	for (size_t i = 0; i < routes_count; i++) {
		const struct route *r = &routes[i];
		fprintf(f, "| `%s /api/v1/%s` | %s | %d | ", route_method_name(r->method), r->path,
			auth_name(r->auth), r->status ? r->status : 200);
		if (r->command)
			fprintf(f, "`%s` |\n", r->command);
		else
			fprintf(f, "— |\n");
	}
	fclose(f);
	return text;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n)
			buf[n] = '\0';
		else {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

/* The n bytes at s, "METHOD /api/v1/path", are row r's. */
static bool names_row(const char *s, size_t n, const struct route *r)
{
	char want[160];
	int w = snprintf(want, sizeof(want), "%s /api/v1/%s", route_method_name(r->method),
			 r->path);
	return w > 0 && (size_t)w == n && strncmp(s, want, n) == 0;
}

/* Where a line of the page names an endpoint: its start and length, else NULL. */
static const char *endpoint_of(const char *line, size_t *n)
{
	static const char *const methods[] = {"GET /api/v1/", "POST /api/v1/", "DELETE /api/v1/"};
	const char *s = NULL;
	if (strncmp(line, "### ", 4) == 0)
		s = line + 4;
	else if (strncmp(line, "| `", 3) == 0)
		s = line + 3;
	if (!s)
		return NULL;
	for (int m = 0; m < 3; m++)
		if (strncmp(s, methods[m], strlen(methods[m])) == 0) {
			*n = strcspn(s, "`\n"); /* a cell ends at its backtick */
			return s;
		}
	return NULL;
}

static void test_table(void)
{
	bool seen[API_ROUTE_COUNT_] = {false};

	CHECK(routes_count > 0);
	for (size_t i = 0; i < routes_count; i++) {
		const struct route *r = &routes[i];
		int strings = 0, numbers = 0, args = 0;

		CHECK(r->id > API_NONE && r->id < API_ROUTE_COUNT_);
		seen[r->id] = true;
		CHECK(r->method == API_GET || r->method == API_POST || r->method == API_DELETE);
		CHECK(strlen(r->path) < 128); /* api_parse_path's copy */
		for (size_t k = 0; k < i; k++)
			if (routes[k].method == r->method && strcmp(routes[k].path, r->path) == 0) {
				fprintf(stderr, "two rows for %s %s\n",
					route_method_name(r->method), r->path);
				CHECK(!"a method and path once");
			}
		for (const char *p = strchr(r->path, '{'); p; p = strchr(p + 1, '{'))
			args++;
		CHECK(args <= ROUTE_ARGS_MAX);
		for (int k = 0; k < ROUTE_PARAMS_MAX && r->params[k].name; k++) {
			const struct route_param *p = &r->params[k];
			strings += p->kind == ROUTE_STRING;
			numbers += p->kind == ROUTE_NUMBER || p->kind == ROUTE_BOOL;
			if (p->kind == ROUTE_PATH) /* binds a {name} of the path to a flag */
				CHECK(route_arg_index(r, p->name) >= 0 && p->flag);
			if (p->opts & (ROUTE_ONE_OF | ROUTE_ANY_OF | ROUTE_SECRET))
				CHECK(p->flag != NULL);
			CHECK(route_param_find(r, p->name) == p);
		}
		CHECK(strings <= ROUTE_STRINGS);
		CHECK(numbers <= ROUTE_NUMBERS);
		CHECK(r->auth == API_AUTH_ADMIN || (!r->command && !r->params[0].name));
		CHECK(r->status == 0 || r->status == 201);
		/* highrisectl: a command has help (its own, or its previous row's) and words */
		CHECK(!r->synopsis || r->command);
		CHECK(!r->synopsis == !r->what);
		if (r->command && !r->synopsis) {
			bool before = false;
			for (size_t k = 0; k < i; k++)
				before |= routes[k].command && routes[k].synopsis &&
					  strcmp(routes[k].command, r->command) == 0;
			CHECK(before);
		}
		if (r->synopsis)
			CHECK_INT_EQ(strncmp(r->synopsis, r->command, strlen(r->command)), 0);
		for (const char *d = r->done ? strchr(r->done, '{') : NULL; d;
		     d = strchr(d + 1, '{')) {
			char name[32];
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(d + 1, "}"), d + 1);
			if (strcmp(name, "one_of") != 0 && route_arg_index(r, name) < 0 &&
			    !route_param_find(r, name)) {
				fprintf(stderr, "%s: {%s} names nothing of %s\n", r->done, name,
					r->path);
				CHECK(!"a done text's {name} is the row's");
			}
		}
	}
	for (int id = API_NONE + 1; id < API_ROUTE_COUNT_; id++)
		CHECK(seen[id]);
	/* the names the broker reads a body by */
	{
		const char *names[ROUTE_STRINGS], *nums[ROUTE_NUMBERS];
		for (size_t i = 0; i < routes_count; i++) {
			if (routes[i].id != API_ADMIN_POOLS)
				continue;
			CHECK_INT_EQ(route_fields(&routes[i], names, nums), 5);
			CHECK_STR_EQ(names[0], "name");
			CHECK_STR_EQ(names[2], "logoff");
			CHECK(names[3] == NULL);
			CHECK_STR_EQ(nums[1], "max_sessions");
			CHECK_INT_EQ(route_arg_index(&routes[i], "pool"), -1);
		}
		for (size_t i = 0; i < routes_count; i++)
			if (routes[i].id == API_ADMIN_UNENTITLE_GROUP) {
				CHECK_INT_EQ(route_arg_index(&routes[i], "pool"), 0);
				CHECK_INT_EQ(route_arg_index(&routes[i], "group"), 1);
				CHECK_INT_EQ(route_arg_index(&routes[i], "grou"), -1);
				CHECK_INT_EQ(route_fields(&routes[i], names, nums), 0);
			}
	}
}

static void test_docs(void)
{
	const char *page = HR_SOURCE_DIR "/docs/broker-api.md";
	char *doc = read_all(page), *index = make_index();
	const char *begin, *end;
	size_t described[256] = {0};

	CHECK(doc != NULL);
	CHECK(index != NULL);
	CHECK(routes_count <= 256);
	if (!doc || !index) {
		free(doc);
		free(index);
		return;
	}
	begin = strstr(doc, INDEX_BEGIN);
	end = begin ? strstr(begin, INDEX_END) : NULL;
	CHECK(begin && end);
	if (begin && end) {
		const char *body = strchr(begin, '\n') + 1;
		size_t n = (size_t)(end - body);
		if (n != strlen(index) || strncmp(body, index, n) != 0) {
			fprintf(stderr,
				"%s: its endpoint index and broker/routes.c disagree; the index "
				"the table makes:\n%s\n",
				page, index);
			CHECK(!"docs/broker-api.md's endpoint index is routes.c's");
		} else {
			CHECK(true);
		}
	}

	/* every endpoint described is a row, every row is described (outside the index) */
	for (const char *line = doc; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		size_t n;
		const char *e;
		bool found = false;
		if (begin && end && line >= begin && line < end)
			continue;
		e = endpoint_of(line, &n);
		if (!e)
			continue;
		for (size_t i = 0; i < routes_count; i++)
			if (names_row(e, n, &routes[i])) {
				described[i]++;
				found = true;
			}
		if (!found) {
			fprintf(stderr, "%s describes %.*s, which broker/routes.c does not have\n",
				page, (int)n, e);
			CHECK(!"every endpoint the page describes is a row");
		}
	}
	for (size_t i = 0; i < routes_count; i++)
		if (described[i] != 1) {
			fprintf(stderr, "%s describes %s /api/v1/%s %zu times (once, please)\n",
				page, route_method_name(routes[i].method), routes[i].path,
				described[i]);
			CHECK(!"the page describes every row once");
		}
	free(doc);
	free(index);
}

int main(void)
{
	test_table();
	test_docs();
	return check_done("test_broker_routes");
}
