/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for common/config: any bytes as a configuration file;
 * and for common/hostport, the same bytes as a HOST:PORT (with each flag).
 *
 * Beyond "no crash, no leak" it checks: a failed config parse always says
 * where (the message starts with the name, and the line is within the
 * input), and a successful one dumps to a file that parses back to the
 * same values; a HOST:PORT that parses has a port in range and prints
 * back (hostport_format) to one that parses to the same host and port.
 */
#include "config.h"
#include "error.h"
#include "hostport.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_opts {
	int64_t port;
	int64_t offset;
	bool verbose;
	char *name;
	int mode;
	char *tls_ca_file;
	int64_t tls_timeout;
	bool tls_strict;
	char *log_path;
};

static const char *const modes[] = {"auto", "vnc", "spice", "x11", NULL};

#define ROW(key, type, def, min, max, field, choices)                                      \
	{                                                                                  \
		key, type, def, min, max, offsetof(struct fuzz_opts, field), choices, NULL \
	}

static const struct config_key table[] = {
	ROW("port", CONFIG_INT, "7443", 1, 65535, port, NULL),
	ROW("offset", CONFIG_INT, "0", INT64_MIN, INT64_MAX, offset, NULL),
	ROW("verbose", CONFIG_BOOL, "no", 0, 0, verbose, NULL),
	ROW("name", CONFIG_STRING, "agent", 0, 32, name, NULL),
	ROW("mode", CONFIG_ENUM, "auto", 0, 0, mode, modes),
	ROW("tls.ca_file", CONFIG_STRING, NULL, 0, 0, tls_ca_file, NULL),
	ROW("tls.timeout", CONFIG_INT, "30", 1, 3600, tls_timeout, NULL),
	ROW("tls.strict", CONFIG_BOOL, "yes", 0, 0, tls_strict, NULL),
	ROW("log.path", CONFIG_STRING, NULL, 0, 1024, log_path, NULL),
	{0},
};

static bool same_str(const char *a, const char *b)
{
	return a ? b && strcmp(a, b) == 0 : !b;
}

static bool same(const struct fuzz_opts *a, const struct fuzz_opts *b)
{
	return a->port == b->port && a->offset == b->offset && a->verbose == b->verbose &&
	       same_str(a->name, b->name) && a->mode == b->mode &&
	       same_str(a->tls_ca_file, b->tls_ca_file) && a->tls_timeout == b->tls_timeout &&
	       a->tls_strict == b->tls_strict && same_str(a->log_path, b->log_path);
}

/*
 * config_dump writes "tls.ca_file = \"...\"", a few bytes longer than the
 * shortest line that can set the value, so a string near CONFIG_LINE_MAX
 * may not fit a dumped line: the one known limit of the round trip.
 */
static bool dump_fits(const struct fuzz_opts *o)
{
	const char *s[] = {o->name, o->tls_ca_file, o->log_path};
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		if (s[i] && strlen(s[i]) > CONFIG_LINE_MAX - 64)
			return false;
	return true;
}

static void check_round_trip(const struct fuzz_opts *o)
{
	struct fuzz_opts back = {0};
	struct config_error err;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return;
	config_dump(table, o, f);
	fclose(f);
	if (config_defaults(table, &back, &err) != 0)
		abort();
	int rc = config_parse_buffer(table, &back, text, len, "dump", &err);
	if (dump_fits(o) && (rc != 0 || !same(o, &back))) {
		fprintf(stderr, "dump does not round-trip (%d: %s):\n%s", rc, err.msg, text);
		abort();
	}
	config_free(table, &back);
	free(text);
}

static void check_hostport(const uint8_t *data, size_t size)
{
	for (unsigned flags = 0; flags < 8; flags++) {
		char host[64], back[64], text[96];
		int port = -7, port2 = -7;
		int rc = hostport_parse((const char *)data, size, host, sizeof(host), &port, 5900,
					flags);
		if (rc != 0) {
			if (rc != -EINVAL && rc != -ERANGE)
				abort();
			continue;
		}
		if (port < 0 || port > 65535 || (port == 0 && !(flags & HOSTPORT_ANY_PORT)) ||
		    !memchr(host, '\0', sizeof(host)))
			abort();
		if (!host[0])
			continue; /* ":PORT" prints as ":PORT", which needs ANY_HOST again: fine */
		int n = hostport_format(text, sizeof(text), host, port);
		if (n < 0 || (size_t)n >= sizeof(text) ||
		    hostport_parse(text, (size_t)n, back, sizeof(back), &port2, -1, flags) != 0 ||
		    strcmp(host, back) != 0 || port != port2) {
			fprintf(stderr, "hostport does not round-trip: '%s' %d -> '%s'\n", host,
				port, text);
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_opts o = {0};
	struct config_error err;
	size_t lines = 1;
	int rc;

	if (config_defaults(table, &o, &err) != 0)
		abort(); /* the table's defaults are a bug, not an input */
	memset(&err, 0, sizeof(err));
	rc = config_parse_buffer(table, &o, (const char *)data, size, "fuzz.conf", &err);
	if (rc == 0) {
		check_round_trip(&o);
	} else {
		for (size_t i = 0; i < size; i++)
			lines += data[i] == '\n';
		if (rc != HR_ECONFIG || strncmp(err.msg, "fuzz.conf:", 10) != 0 || err.line < 1 ||
		    (size_t)err.line > lines || !memchr(err.msg, '\0', sizeof(err.msg))) {
			fprintf(stderr, "bad error report: rc %d line %d '%s'\n", rc, err.line,
				err.msg);
			abort();
		}
	}
	config_free(table, &o);
	check_hostport(data, size);
	return 0;
}
