/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "error.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_SECTION_MAX 64

static int fail(struct config_error *err, const char *where, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct config_error *err, const char *where, int line, const char *fmt, ...)
{
	char what[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (err) {
		err->line = line;
		if (line > 0)
			snprintf(err->msg, sizeof(err->msg), "%s:%d: %s", where, line, what);
		else
			snprintf(err->msg, sizeof(err->msg), "%s: %s", where, what);
	}
	return HR_ECONFIG;
}

const struct config_key *config_find(const struct config_key *table, const char *name)
{
	for (const struct config_key *k = table; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static void *field(void *dst, const struct config_key *k)
{
	return (char *)dst + k->offset;
}

static const void *cfield(const void *src, const struct config_key *k)
{
	return (const char *)src + k->offset;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* Stores text into k's field; on failure fills err for "where:line". */
static int set_value(const struct config_key *k, void *dst, const char *v, const char *where,
		     int line, struct config_error *err)
{
	switch (k->type) {
	case CONFIG_INT: {
		char *end;
		long long n;

		errno = 0;
		n = strtoll(v, &end, 10);
		if (*v == '\0' || *end != '\0')
			return fail(err, where, line, "'%s' wants a whole number, not '%s'",
				    k->name, v);
		if (errno == ERANGE || n < k->min || n > k->max)
			return fail(err, where, line,
				    "'%s' = %s is out of range (%" PRId64 "..%" PRId64 ")", k->name,
				    v, k->min, k->max);
		*(int64_t *)field(dst, k) = n;
		return 0;
	}
	case CONFIG_BOOL:
		if (parse_bool(v, (bool *)field(dst, k)) < 0)
			return fail(err, where, line, "'%s' wants true or false, not '%s'", k->name,
				    v);
		return 0;
	case CONFIG_STRING: {
		size_t len = strlen(v);
		char *copy;

		if (k->max > 0 && len > (uint64_t)k->max)
			return fail(err, where, line,
				    "'%s' is %zu bytes long; the limit is %" PRId64, k->name, len,
				    k->max);
		/* "" is unset (NULL), so config_dump's "" for NULL loads back as NULL */
		copy = len ? strdup(v) : NULL;
		if (len && !copy)
			return fail(err, where, line, "out of memory");
		free(*(char **)field(dst, k));
		*(char **)field(dst, k) = copy;
		return 0;
	}
	case CONFIG_LIST: {
		struct config_list *l = field(dst, k);
		size_t cap = k->max > 0 ? (size_t)k->max : 1024;
		char **items, *copy;

		if (l->count >= cap)
			return fail(err, where, line, "'%s' is given more than %zu times", k->name,
				    cap);
		copy = strdup(v);
		items = copy ? realloc(l->items, (l->count + 1) * sizeof(*items)) : NULL;
		if (!items) {
			free(copy);
			return fail(err, where, line, "out of memory");
		}
		items[l->count++] = copy;
		l->items = items;
		return 0;
	}
	case CONFIG_ENUM: {
		char list[256] = "";
		size_t used = 0;

		for (int i = 0; k->choices && k->choices[i]; i++) {
			if (strcmp(v, k->choices[i]) == 0) {
				*(int *)field(dst, k) = i;
				return 0;
			}
			int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
					 k->choices[i]);
			if (n > 0 && (size_t)n < sizeof(list) - used)
				used += (size_t)n;
		}
		return fail(err, where, line, "'%s' must be one of %s, not '%s'", k->name, list, v);
	}
	}
	return fail(err, where, line, "'%s' has an unknown type", k->name);
}

static void free_list(struct config_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

int config_defaults(const struct config_key *table, void *dst, struct config_error *err)
{
	for (const struct config_key *k = table; k->name; k++) {
		switch (k->type) {
		case CONFIG_INT:
			*(int64_t *)field(dst, k) = 0;
			break;
		case CONFIG_BOOL:
			*(bool *)field(dst, k) = false;
			break;
		case CONFIG_STRING:
			free(*(char **)field(dst, k));
			*(char **)field(dst, k) = NULL;
			break;
		case CONFIG_ENUM:
			*(int *)field(dst, k) = 0;
			break;
		case CONFIG_LIST:
			free_list(field(dst, k));
			break;
		}
		if (k->def && set_value(k, dst, k->def, "default", 0, err) < 0)
			return HR_ECONFIG;
	}
	return 0;
}

int config_set(const struct config_key *table, void *dst, const char *key, const char *value,
	       const char *origin, struct config_error *err)
{
	const struct config_key *k = config_find(table, key);

	if (!k)
		return fail(err, origin, 0, "unknown setting '%s'", key);
	return set_value(k, dst, value, origin, 0, err);
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

static int valid_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

/* One "key = value" or "[section]" line; line is modified in place. */
static int parse_line(const struct config_key *table, void *dst, char *line, int lineno,
		      const char *name, char *section, int *seen, struct config_error *err)
{
	char *s = trim(line), *eq, *key, *value;
	char full[CONFIG_SECTION_MAX + CONFIG_LINE_MAX + 2];
	const struct config_key *k;

	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		size_t len = strlen(s);
		if (s[len - 1] != ']')
			return fail(err, name, lineno, "section header '%s' lacks its ']'", s);
		s[len - 1] = '\0';
		s = trim(s + 1);
		if (!valid_name(s) || strlen(s) >= CONFIG_SECTION_MAX)
			return fail(err, name, lineno, "bad section name '%s'", s);
		size_t slen = strlen(s);
		for (k = table; k->name; k++)
			if (strncmp(k->name, s, slen) == 0 && k->name[slen] == '.')
				break;
		if (!k->name)
			return fail(err, name, lineno, "unknown section [%s]", s);
		memcpy(section, s, slen + 1);
		return 0;
	}
	eq = strchr(s, '=');
	if (!eq)
		return fail(err, name, lineno, "expected 'key = value', got '%.60s'", s);
	*eq = '\0';
	key = trim(s);
	value = trim(eq + 1);
	if (!valid_name(key))
		return fail(err, name, lineno, "bad key name '%.60s'", key);
	if (*value == '"') {
		/* the last quote closes: values may hold quotes (no escapes needed) */
		char *close = strrchr(value + 1, '"');
		char *rest;
		if (!close)
			return fail(err, name, lineno,
				    "value of '%s' opens a quote it never closes", key);
		*close = '\0';
		rest = trim(close + 1);
		if (*rest && *rest != '#' && *rest != ';')
			return fail(err, name, lineno,
				    "unexpected '%.40s' after the quoted value of '%s'", rest, key);
		value++;
	} else {
		/* a comment may follow a value after a blank: "port = 80   # why" */
		for (char *p = value; *p; p++) {
			if ((*p == '#' || *p == ';') && p > value &&
			    (p[-1] == ' ' || p[-1] == '\t')) {
				*p = '\0';
				value = trim(value);
				break;
			}
		}
	}
	if (*section)
		snprintf(full, sizeof(full), "%s.%s", section, key);
	else
		snprintf(full, sizeof(full), "%s", key);
	k = config_find(table, full);
	if (!k)
		return fail(err, name, lineno, "unknown key '%s'", full);
	size_t idx = (size_t)(k - table);
	if (seen[idx] && k->type != CONFIG_LIST)
		return fail(err, name, lineno, "duplicate key '%s' (first set on line %d)", full,
			    seen[idx]);
	seen[idx] = lineno;
	return set_value(k, dst, value, name, lineno, err);
}

int config_parse_buffer(const struct config_key *table, void *dst, const char *buf, size_t len,
			const char *name, struct config_error *err)
{
	char section[CONFIG_SECTION_MAX] = "";
	char line[CONFIG_LINE_MAX + 1];
	size_t nkeys = 0, pos = 0;
	int lineno = 0, rc = 0;
	int *seen;

	for (const struct config_key *k = table; k->name; k++)
		nkeys++;
	seen = calloc(nkeys + 1, sizeof(*seen));
	if (!seen)
		return fail(err, name, 0, "out of memory");

	while (pos < len && rc == 0) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - (buf + pos)) : len - pos;

		if (lineno == INT_MAX) {
			rc = fail(err, name, lineno, "too many lines");
			break;
		}
		lineno++;
		if (llen > CONFIG_LINE_MAX) {
			rc = fail(err, name, lineno, "line is longer than %d bytes",
				  CONFIG_LINE_MAX);
			break;
		}
		if (memchr(buf + pos, '\0', llen)) {
			rc = fail(err, name, lineno, "NUL byte in line");
			break;
		}
		memcpy(line, buf + pos, llen);
		line[llen] = '\0';
		rc = parse_line(table, dst, line, lineno, name, section, seen, err);
		pos += llen + (nl ? 1 : 0);
	}
	free(seen);
	return rc;
}

int config_parse_file(const struct config_key *table, void *dst, const char *path,
		      struct config_error *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc;

	if (!f) {
		rc = -errno;
		fail(err, path, 0, "cannot open: %s", strerror(errno));
		return rc;
	}
	for (;;) {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 8192;
			char *nbuf;
			if (ncap > (16u << 20)) { /* no sane config file is 16 MiB */
				fclose(f);
				free(buf);
				return fail(err, path, 0, "file is larger than 16 MiB");
			}
			nbuf = realloc(buf, ncap);
			if (!nbuf) {
				fclose(f);
				free(buf);
				return fail(err, path, 0, "out of memory");
			}
			buf = nbuf;
			cap = ncap;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		rc = -EIO;
		fail(err, path, 0, "read error");
	} else {
		rc = config_parse_buffer(table, dst, buf, len, path, err);
	}
	fclose(f);
	free(buf);
	return rc;
}

void config_free(const struct config_key *table, void *dst)
{
	if (!dst)
		return;
	for (const struct config_key *k = table; k->name; k++) {
		if (k->type == CONFIG_STRING) {
			free(*(char **)field(dst, k));
			*(char **)field(dst, k) = NULL;
		} else if (k->type == CONFIG_LIST) {
			free_list(field(dst, k));
		}
	}
}

void config_print_help(const struct config_key *table, FILE *out)
{
	for (const struct config_key *k = table; k->name; k++) {
		char flag[96];

		snprintf(flag, sizeof(flag), "--%s %s", k->name,
			 k->type == CONFIG_BOOL	  ? "BOOL"
			 : k->type == CONFIG_INT  ? "N"
			 : k->type == CONFIG_ENUM ? "NAME"
						  : "VALUE");
		fprintf(out, "  %-30s %s", flag, k->help ? k->help : "");
		if (k->type == CONFIG_INT)
			fprintf(out, " (%" PRId64 "..%" PRId64 ")", k->min, k->max);
		if (k->type == CONFIG_ENUM) {
			fputs(" (", out);
			for (int i = 0; k->choices && k->choices[i]; i++)
				fprintf(out, "%s%s", i ? "|" : "", k->choices[i]);
			fputc(')', out);
		}
		if (k->type == CONFIG_LIST)
			fputs(" (repeatable)", out);
		if (k->def)
			fprintf(out, " [default: %s]", k->def);
		fputc('\n', out);
	}
}

void config_dump(const struct config_key *table, const void *src, FILE *out)
{
	for (const struct config_key *k = table; k->name; k++) {
		if (k->type == CONFIG_LIST) {
			const struct config_list *l = cfield(src, k);
			for (size_t i = 0; i < l->count; i++)
				fprintf(out, "%s = \"%s\"\n", k->name, l->items[i]);
			continue;
		}
		fprintf(out, "%s = ", k->name);
		switch (k->type) {
		case CONFIG_INT:
			fprintf(out, "%" PRId64 "\n", *(const int64_t *)cfield(src, k));
			break;
		case CONFIG_BOOL:
			fprintf(out, "%s\n", *(const bool *)cfield(src, k) ? "true" : "false");
			break;
		case CONFIG_STRING: {
			const char *s = *(char *const *)cfield(src, k);
			fprintf(out, "\"%s\"\n", s ? s : "");
			break;
		}
		case CONFIG_ENUM:
			fprintf(out, "%s\n", k->choices[*(const int *)cfield(src, k)]);
			break;
		case CONFIG_LIST: /* written above, one line per item */
			break;
		}
	}
}

enum config_cmdline config_load_cmdline(const struct config_key *table, void *dst, int argc,
					char **argv, const char *prog)
{
	enum config_cmdline result = CONFIG_CMDLINE_RUN;
	struct config_error err;
	const char *file = NULL;

	if (config_defaults(table, dst, &err) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		return CONFIG_CMDLINE_BAD_FILE;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return CONFIG_CMDLINE_HELP;
		if (strcmp(argv[i], "--version") == 0)
			return CONFIG_CMDLINE_VERSION;
		if (strcmp(argv[i], "--print-config") == 0)
			result = CONFIG_CMDLINE_PRINT;
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			file = argv[++i];
	}
	if (file && config_parse_file(table, dst, file, &err) != 0) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		return CONFIG_CMDLINE_BAD_FILE;
	}
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--print-config") == 0)
			continue;
		if (strcmp(arg, "--config") == 0) {
			i++;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0 || i + 1 >= argc) {
			fprintf(stderr,
				"%s: unexpected '%s' (options are --key VALUE; see --help)\n", prog,
				arg);
			return CONFIG_CMDLINE_BAD_FLAG;
		}
		if (config_set(table, dst, arg + 2, argv[i + 1], arg, &err) != 0) {
			fprintf(stderr, "%s: %s (see --help)\n", prog, err.msg);
			return CONFIG_CMDLINE_BAD_FLAG;
		}
		i++;
	}
	return result;
}

int config_cmdline_finish(enum config_cmdline rc, const struct config_key *table, void *dst,
			  const char *prog, const char *version, void (*usage)(FILE *out))
{
	if (rc == CONFIG_CMDLINE_RUN)
		return -1;
	if (rc == CONFIG_CMDLINE_HELP)
		usage(stdout);
	else if (rc == CONFIG_CMDLINE_VERSION)
		printf("%s %s\n", prog, version);
	else if (rc == CONFIG_CMDLINE_PRINT)
		config_dump(table, dst, stdout);
	config_free(table, dst);
	return rc < 0 ? -(int)rc : 0;
}

char *config_read_secret(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[256];
	char *nl;

	if (!f) {
		log_error("cannot read the password file %s: %m", path);
		return NULL;
	}
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	nl = strpbrk(buf, "\r\n");
	if (nl)
		*nl = '\0';
	char *s = strdup(buf);
	memset(buf, 0, sizeof(buf));
	return s;
}
