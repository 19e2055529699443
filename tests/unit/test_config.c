/* SPDX-License-Identifier: MIT */
/*
 * common/config: one table drives defaults, file parsing, command-line
 * overrides, --help and the dump; every error names the file and line.
 */
#include "check.h"

#include "config.h"
#include "error.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct opts {
	int64_t port;
	bool verbose;
	char *name;
	int mode;
	int64_t offset;
	char *tls_ca_file;
	int64_t tls_timeout;
	bool tls_strict;
};

static const char *const modes[] = {"auto", "vnc", "spice", "x11", NULL};

#define ROW(key, type, def, min, max, field, choices, help)                           \
	{                                                                             \
		key, type, def, min, max, offsetof(struct opts, field), choices, help \
	}

static const struct config_key table[] = {
	ROW("port", CONFIG_INT, "7443", 1, 65535, port, NULL, "TCP port to listen on"),
	ROW("verbose", CONFIG_BOOL, "false", 0, 0, verbose, NULL, "log more"),
	ROW("name", CONFIG_STRING, "agent", 0, 16, name, NULL, "name shown to clients"),
	ROW("mode", CONFIG_ENUM, "auto", 0, 0, mode, modes, "console backend"),
	ROW("offset", CONFIG_INT, "-5", -10, 10, offset, NULL, "a signed setting"),
	ROW("tls.ca_file", CONFIG_STRING, NULL, 0, 0, tls_ca_file, NULL, "CA bundle"),
	ROW("tls.timeout", CONFIG_INT, "30", 1, 3600, tls_timeout, NULL, "handshake seconds"),
	ROW("tls.strict", CONFIG_BOOL, "yes", 0, 0, tls_strict, NULL, "refuse old peers"),
	{0},
};

/* Writes text (len bytes: NULs allowed) to a fresh temp file; path receives its name. */
static int write_temp(char path[64], const char *text, size_t len)
{
	int fd;

	snprintf(path, 64, "/tmp/test_config.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		unlink(path);
		return -EIO;
	}
	close(fd);
	return 0;
}

/* Parses text from a temp file into o (defaults first). path is kept for messages. */
static int parse_text(struct opts *o, const char *text, size_t len, char path[64],
		      struct config_error *err)
{
	int rc;

	memset(o, 0, sizeof(*o));
	memset(err, 0, sizeof(*err));
	rc = config_defaults(table, o, err);
	if (rc != 0)
		return rc;
	if (write_temp(path, text, len) < 0)
		return -EIO;
	rc = config_parse_file(table, o, path, err);
	unlink(path);
	return rc;
}

static void test_defaults(void)
{
	struct opts o;
	struct config_error err = {0};

	memset(&o, 0, sizeof(o));
	CHECK_INT_EQ(config_defaults(table, &o, &err), 0);
	CHECK_INT_EQ(o.port, 7443);
	CHECK(!o.verbose);
	CHECK_STR_EQ(o.name, "agent");
	CHECK_INT_EQ(o.mode, 0);
	CHECK_INT_EQ(o.offset, -5);
	CHECK(o.tls_ca_file == NULL);
	CHECK_INT_EQ(o.tls_timeout, 30);
	CHECK(o.tls_strict);

	/* Again on a filled struct: the old strings are freed (ASan), values reset. */
	o.port = 1;
	CHECK_INT_EQ(config_set(table, &o, "tls.ca_file", "/x", "--tls.ca_file", &err), 0);
	CHECK_INT_EQ(config_defaults(table, &o, &err), 0);
	CHECK_INT_EQ(o.port, 7443);
	CHECK(o.tls_ca_file == NULL);
	config_free(table, &o);
	CHECK(o.name == NULL);
	config_free(table, NULL); /* does nothing */

	CHECK(config_find(table, "tls.timeout") == &table[6]);
	CHECK(config_find(table, "timeout") == NULL);
	CHECK(config_find(table, "tls") == NULL);
}

static void test_bad_default(void)
{
	struct {
		int64_t n;
	} o = {0};
	static const struct config_key bad[] = {
		{"n", CONFIG_INT, "12x", 0, 100, 0, NULL, NULL},
		{0},
	};
	struct config_error err = {0};

	CHECK_INT_EQ(config_defaults(bad, &o, &err), HR_ECONFIG);
	CHECK_INT_EQ(err.line, 0);
	CHECK_STR_EQ(err.msg, "default: 'n' wants a whole number, not '12x'");
}

static void test_good_file(void)
{
	static const char text[] = "# a comment\n"
				   "; another comment\n"
				   "\n"
				   "   port   =   8443   \n"
				   "verbose=on\n"
				   "name = \"  my #1 ; \"\n"
				   "mode = spice\n"
				   "offset = -10\n"
				   "\t\n"
				   "[tls]\n"
				   "ca_file = /etc/highrise/ca file.pem\n"
				   "timeout=3600"; /* no final newline */
	struct opts o;
	struct config_error err;
	char path[64];

	CHECK_INT_EQ(parse_text(&o, text, strlen(text), path, &err), 0);
	CHECK_STR_EQ(err.msg, "");
	CHECK_INT_EQ(o.port, 8443);
	CHECK(o.verbose);
	CHECK_STR_EQ(o.name, "  my #1 ; ");
	CHECK_INT_EQ(o.mode, 2);
	CHECK_INT_EQ(o.offset, -10);
	CHECK_STR_EQ(o.tls_ca_file, "/etc/highrise/ca file.pem");
	CHECK_INT_EQ(o.tls_timeout, 3600);
	CHECK(o.tls_strict); /* not in the file: the default stays */
	config_free(table, &o);

	/* CRLF line endings, spellings of booleans, a section named with blanks, dotted keys. */
	static const char crlf[] = "verbose = YES\r\n"
				   "tls.strict = Off\r\n"
				   "name = \"x\"\r\n"
				   "[ tls ]\r\n"
				   "timeout = 1\r\n";
	CHECK_INT_EQ(parse_text(&o, crlf, strlen(crlf), path, &err), 0);
	CHECK_STR_EQ(err.msg, "");
	CHECK(o.verbose);
	CHECK(!o.tls_strict);
	CHECK_STR_EQ(o.name, "x");
	CHECK_INT_EQ(o.tls_timeout, 1);
	config_free(table, &o);

	/* An empty file and a file of comments change nothing. */
	CHECK_INT_EQ(parse_text(&o, "", 0, path, &err), 0);
	CHECK_INT_EQ(o.port, 7443);
	config_free(table, &o);

	/* A line of exactly CONFIG_LINE_MAX bytes is still allowed. */
	char *longline = malloc(CONFIG_LINE_MAX + 2);
	memset(longline, ' ', CONFIG_LINE_MAX);
	memcpy(longline, "#", 1);
	longline[CONFIG_LINE_MAX] = '\n';
	CHECK_INT_EQ(parse_text(&o, longline, CONFIG_LINE_MAX + 1, path, &err), 0);
	config_free(table, &o);
	free(longline);

	/* An empty value unsets a string (dump writes unset strings as ""). */
	static const char empty[] = "name =\ntls.ca_file = \"\"\n";
	CHECK_INT_EQ(parse_text(&o, empty, strlen(empty), path, &err), 0);
	CHECK(o.name == NULL);
	CHECK(o.tls_ca_file == NULL);
	config_free(table, &o);
}

struct bad_case {
	const char *text;
	size_t len; /* 0: strlen(text) */
	int line;
	const char *msg; /* after "path:line: " */
};

static void check_bad(const struct bad_case *c)
{
	struct opts o;
	struct config_error err;
	char path[64], want[600];
	int rc;

	rc = parse_text(&o, c->text, c->len ? c->len : strlen(c->text), path, &err);
	CHECK_INT_EQ(rc, HR_ECONFIG);
	CHECK_INT_EQ(err.line, c->line);
	snprintf(want, sizeof(want), "%s:%d: %s", path, c->line, c->msg);
	CHECK_STR_EQ(err.msg, want);
	config_free(table, &o); /* values set before the bad line are freed too */
}

static void test_bad_files(void)
{
	static const struct bad_case cases[] = {
		{"port = 1\n# c\n\nprot = 2\n", 0, 4, "unknown key 'prot'"},
		{"[tls]\nport = 1\n", 0, 2, "unknown key 'tls.port'"},
		{"port = 1\n[nope]\nx = 1\n", 0, 2, "unknown section [nope]"},
		{"[tl]\n", 0, 1, "unknown section [tl]"},
		{"[tls\n", 0, 1, "section header '[tls' lacks its ']'"},
		{"\n[]\n", 0, 2, "bad section name ''"},
		{"name = a\n\n\nport = 70000\n", 0, 4, "'port' = 70000 is out of range (1..65535)"},
		{"port = 0\n", 0, 1, "'port' = 0 is out of range (1..65535)"},
		{"offset = -11\n", 0, 1, "'offset' = -11 is out of range (-10..10)"},
		{"port = 99999999999999999999\n", 0, 1,
		 "'port' = 99999999999999999999 is out of range (1..65535)"},
		{"port = 1\nverbose = on\nport = 2\n", 0, 3,
		 "duplicate key 'port' (first set on line 1)"},
		{"[tls]\ntimeout = 1\n[tls]\ntimeout = 2\n", 0, 4,
		 "duplicate key 'tls.timeout' (first set on line 2)"},
		{"tls.timeout = 1\n[tls]\ntimeout = 2\n", 0, 3,
		 "duplicate key 'tls.timeout' (first set on line 1)"},
		{"# x\nverbose = maybe\n", 0, 2, "'verbose' wants true or false, not 'maybe'"},
		{"verbose =\n", 0, 1, "'verbose' wants true or false, not ''"},
		{"port = 12ab\n", 0, 1, "'port' wants a whole number, not '12ab'"},
		{"port = 0x10\n", 0, 1, "'port' wants a whole number, not '0x10'"},
		{"port = 80 80\n", 0, 1, "'port' wants a whole number, not '80 80'"},
		{"port =\n", 0, 1, "'port' wants a whole number, not ''"},
		{"mode = rdp\n", 0, 1, "'mode' must be one of auto, vnc, spice, x11, not 'rdp'"},
		{"name = 12345678901234567\n", 0, 1, "'name' is 17 bytes long; the limit is 16"},
		{"\nname = \"abc\n", 0, 2, "value of 'name' opens a quote it never closes"},
		{"name = \"\n", 0, 1, "value of 'name' opens a quote it never closes"},
		{"port 8443\n", 0, 1, "expected 'key = value', got 'port 8443'"},
		{"= 5\n", 0, 1, "bad key name ''"},
		{"po rt = 5\n", 0, 1, "bad key name 'po rt'"},
		{"port = 1\nname = a\0b\n", 20, 2, "NUL byte in line"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_bad(&cases[i]);

	/* A line of CONFIG_LINE_MAX + 1 bytes, on line 3. */
	size_t len = 0;
	char *text = malloc(CONFIG_LINE_MAX + 64);
	len += (size_t)sprintf(text, "port = 1\n\n");
	memset(text + len, '#', CONFIG_LINE_MAX + 1);
	len += CONFIG_LINE_MAX + 1;
	text[len++] = '\n';
	struct bad_case c = {text, len, 3, "line is longer than 4096 bytes"};
	check_bad(&c);
	/* ...also when it is the last line, without a newline. */
	c.len = len - 1;
	check_bad(&c);
	free(text);
}

static void test_set(void)
{
	struct opts o;
	struct config_error err = {0};
	char path[64];
	static const char text[] = "port = 8443\nname = fromfile\n";

	CHECK_INT_EQ(parse_text(&o, text, strlen(text), path, &err), 0);
	CHECK_STR_EQ(o.name, "fromfile");

	/* A command-line flag overrides the file. */
	CHECK_INT_EQ(config_set(table, &o, "port", "9000", "--port", &err), 0);
	CHECK_INT_EQ(o.port, 9000);
	CHECK_INT_EQ(config_set(table, &o, "name", "fromflag", "--name", &err), 0);
	CHECK_STR_EQ(o.name, "fromflag"); /* the file's string is freed (ASan) */
	CHECK_INT_EQ(config_set(table, &o, "tls.strict", "0", "--tls.strict", &err), 0);
	CHECK(!o.tls_strict);
	CHECK_INT_EQ(config_set(table, &o, "mode", "x11", "--mode", &err), 0);
	CHECK_INT_EQ(o.mode, 3);

	/* Errors name the flag instead of a file and line. */
	memset(&err, 0, sizeof(err));
	CHECK_INT_EQ(config_set(table, &o, "port", "0", "--port", &err), HR_ECONFIG);
	CHECK_INT_EQ(err.line, 0);
	CHECK_STR_EQ(err.msg, "--port: 'port' = 0 is out of range (1..65535)");
	CHECK_INT_EQ(o.port, 9000); /* a refused value leaves the old one */
	CHECK_INT_EQ(config_set(table, &o, "bogus", "1", "--bogus", &err), HR_ECONFIG);
	CHECK_STR_EQ(err.msg, "--bogus: unknown setting 'bogus'");
	CHECK_INT_EQ(config_set(table, &o, "verbose", "nah", "HIGHRISE_VERBOSE", &err), HR_ECONFIG);
	CHECK_STR_EQ(err.msg, "HIGHRISE_VERBOSE: 'verbose' wants true or false, not 'nah'");
	CHECK_INT_EQ(config_set(table, &o, "name", "12345678901234567", "--name", &err),
		     HR_ECONFIG);
	CHECK_STR_EQ(o.name, "fromflag");
	/* err may be NULL when the caller does not want the message. */
	CHECK_INT_EQ(config_set(table, &o, "port", "x", "--port", NULL), HR_ECONFIG);
	config_free(table, &o);
}

static void test_missing_file(void)
{
	struct opts o;
	struct config_error err = {0};
	const char *path = "/nonexistent/highrise/agent.conf";

	memset(&o, 0, sizeof(o));
	CHECK_INT_EQ(config_defaults(table, &o, &err), 0);
	CHECK_INT_EQ(config_parse_file(table, &o, path, &err), -ENOENT);
	CHECK_INT_EQ(err.line, 0);
	CHECK_STR_EQ(err.msg, "/nonexistent/highrise/agent.conf: cannot open: No such file or "
			      "directory");
	CHECK_INT_EQ(o.port, 7443);
	config_free(table, &o);
}

/* Captures what fn writes to a FILE. Returns a malloc'ed string. */
static char *capture(void (*fn)(const struct opts *, FILE *), const struct opts *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fn(o, f);
	fclose(f);
	return buf;
}

static void print_help(const struct opts *o, FILE *f)
{
	(void)o;
	config_print_help(table, f);
}

static void dump(const struct opts *o, FILE *f)
{
	config_dump(table, o, f);
}

static int line_count(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_help(void)
{
	char *help = capture(print_help, NULL);

	CHECK(help != NULL);
	if (!help)
		return;
	CHECK_INT_EQ(line_count(help), 8);
	for (const struct config_key *k = table; k->name; k++) {
		char flag[64];
		snprintf(flag, sizeof(flag), "--%s ", k->name);
		CHECK(strstr(help, flag) != NULL);
		CHECK(strstr(help, k->help) != NULL);
	}
	CHECK(strstr(help, "--port N") != NULL);
	CHECK(strstr(help, "--verbose BOOL") != NULL);
	CHECK(strstr(help, "--mode NAME") != NULL);
	CHECK(strstr(help, "--tls.ca_file VALUE") != NULL);
	CHECK(strstr(help, "(1..65535) [default: 7443]") != NULL);
	CHECK(strstr(help, "(-10..10) [default: -5]") != NULL);
	CHECK(strstr(help, "(auto|vnc|spice|x11) [default: auto]") != NULL);
	CHECK(strstr(help, "CA bundle\n") != NULL); /* no default: nothing after the help */
	free(help);
}

static bool same(const struct opts *a, const struct opts *b)
{
	return a->port == b->port && a->verbose == b->verbose &&
	       (a->name ? b->name && strcmp(a->name, b->name) == 0 : !b->name) &&
	       a->mode == b->mode && a->offset == b->offset &&
	       (a->tls_ca_file ? b->tls_ca_file && strcmp(a->tls_ca_file, b->tls_ca_file) == 0
			       : !b->tls_ca_file) &&
	       a->tls_timeout == b->tls_timeout && a->tls_strict == b->tls_strict;
}

/* dump's output is a file that parses back to the same values. */
static void check_dump_round_trip(const struct opts *o)
{
	struct opts back;
	struct config_error err = {0};
	char *text = capture(dump, o);

	CHECK(text != NULL);
	if (!text)
		return;
	CHECK_INT_EQ(line_count(text), 8);
	for (const struct config_key *k = table; k->name; k++) {
		char key[64];
		snprintf(key, sizeof(key), "%s = ", k->name);
		CHECK(strstr(text, key) != NULL);
	}
	memset(&back, 0, sizeof(back));
	CHECK_INT_EQ(config_defaults(table, &back, &err), 0);
	CHECK_INT_EQ(config_parse_buffer(table, &back, text, strlen(text), "dump", &err), 0);
	CHECK_STR_EQ(err.msg, "");
	CHECK(same(o, &back));
	config_free(table, &back);
	free(text);
}

static void test_dump(void)
{
	struct opts o;
	struct config_error err = {0};
	char path[64];
	static const char text[] = "port = 1\nverbose = 1\nname = \" a \\\"q#\"\nmode = vnc\n"
				   "offset = 10\n[tls]\nca_file = /ca.pem\ntimeout = 7\n"
				   "strict = false\n";

	/* the defaults, with an unset string */
	memset(&o, 0, sizeof(o));
	CHECK_INT_EQ(config_defaults(table, &o, &err), 0);
	char *out = capture(dump, &o);
	CHECK(out && strcmp(out, "port = 7443\nverbose = false\nname = \"agent\"\nmode = auto\n"
				 "offset = -5\ntls.ca_file = \"\"\ntls.timeout = 30\n"
				 "tls.strict = true\n") == 0);
	free(out);
	check_dump_round_trip(&o);
	config_free(table, &o);

	/* every value changed, strings with blanks, quotes and '#' */
	CHECK_INT_EQ(parse_text(&o, text, strlen(text), path, &err), 0);
	CHECK_STR_EQ(o.name, " a \\\"q#");
	check_dump_round_trip(&o);
	config_free(table, &o);
}

/* Trailing comments after a blank; quoted values keep '#' and end at the last quote. */
static void test_trailing_comments(void)
{
	static const char good[] = "port = 80   # the web port\n"
				   "name = \"a # b\" ; a quoted value\n"
				   "offset = -3;not a comment, so not a number\n";
	static const char junk[] = "name = \"a\" junk\n";
	struct config_error err;
	struct opts o;
	char path[64];

	CHECK_INT_EQ(parse_text(&o, good, strlen(good), path, &err), HR_ECONFIG);
	CHECK_INT_EQ(err.line, 3); /* "-3;not..." has no blank before ';': all of it is the value */
	config_free(table, &o);
	CHECK_INT_EQ(parse_text(&o, good,
				strlen(good) - strlen("offset = -3;not a comment, so not a "
						      "number\n"),
				path, &err),
		     0);
	CHECK_INT_EQ(o.port, 80);
	CHECK_STR_EQ(o.name, "a # b");
	config_free(table, &o);
	CHECK_INT_EQ(parse_text(&o, junk, strlen(junk), path, &err), HR_ECONFIG);
	CHECK(strstr(err.msg, ":1: unexpected 'junk' after the quoted value of 'name'") != NULL);
	config_free(table, &o);
}

/* CONFIG_LIST: a key that repeats adds items, in order, up to max. */
struct list_opts {
	struct config_list desktops;
	int64_t port;
};

static const struct config_key list_table[] = {
	{"desktop", CONFIG_LIST, NULL, 0, 3, offsetof(struct list_opts, desktops), NULL,
	 "a desktop"},
	{"port", CONFIG_INT, "1", 1, 9, offsetof(struct list_opts, port), NULL, "a port"},
	{NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

static void test_list(void)
{
	static const char text[] = "desktop = a vnc://127.0.0.1:5901\n"
				   "port = 2\n"
				   "desktop = \"b x11::99\"\n";
	static const char four[] = "desktop = 1\ndesktop = 2\ndesktop = 3\ndesktop = 4\n";
	struct list_opts o;
	struct config_error err;
	char *dump = NULL;
	size_t dump_len = 0;
	FILE *f;

	memset(&o, 0, sizeof(o));
	CHECK_INT_EQ(config_defaults(list_table, &o, &err), 0);
	CHECK_INT_EQ(o.desktops.count, 0);
	CHECK_INT_EQ(config_parse_buffer(list_table, &o, text, strlen(text), "l.conf", &err), 0);
	CHECK_INT_EQ(o.desktops.count, 2);
	if (o.desktops.count == 2) {
		CHECK_STR_EQ(o.desktops.items[0], "a vnc://127.0.0.1:5901");
		CHECK_STR_EQ(o.desktops.items[1], "b x11::99");
	}
	CHECK_INT_EQ(config_set(list_table, &o, "desktop", "c", "--desktop", &err), 0);
	CHECK_INT_EQ(o.desktops.count, 3);
	CHECK_INT_EQ(config_set(list_table, &o, "desktop", "d", "--desktop", &err), HR_ECONFIG);
	CHECK(strstr(err.msg, "more than 3 times") != NULL);
	f = open_memstream(&dump, &dump_len);
	config_dump(list_table, &o, f);
	fclose(f);
	CHECK(dump && strstr(dump, "desktop = \"b x11::99\"\ndesktop = \"c\"\n") != NULL);
	free(dump);
	config_free(list_table, &o);
	CHECK_INT_EQ(o.desktops.count, 0);

	memset(&o, 0, sizeof(o));
	CHECK_INT_EQ(config_parse_buffer(list_table, &o, four, strlen(four), "l.conf", &err),
		     HR_ECONFIG);
	CHECK_INT_EQ(err.line, 4);
	config_free(list_table, &o);
}

/* The daemons' command line: defaults, then --config FILE, then --key VALUE on top. */
static void test_cmdline(void)
{
	char path[] = "/tmp/test_config_cmdline_XXXXXX";
	int fd = mkstemp(path);
	struct list_opts o;

	CHECK(fd >= 0);
	static const char file[] = "port = 5\ndesktop = a\n";
	CHECK_INT_EQ(write(fd, file, strlen(file)), (ssize_t)strlen(file));
	close(fd);
	{
		char *argv[] = {"prog", "--config", path, "--port", "7", "--desktop", "b", NULL};
		memset(&o, 0, sizeof(o));
		CHECK_INT_EQ(config_load_cmdline(list_table, &o, 7, argv, "prog"),
			     CONFIG_CMDLINE_RUN);
		CHECK_INT_EQ(o.port, 7); /* the command line wins over the file */
		CHECK_INT_EQ(o.desktops.count, 2);
		config_free(list_table, &o);
	}
	{
		char *argv[] = {"prog", "--print-config", "--config", path, NULL};
		memset(&o, 0, sizeof(o));
		CHECK_INT_EQ(config_load_cmdline(list_table, &o, 4, argv, "prog"),
			     CONFIG_CMDLINE_PRINT);
		CHECK_INT_EQ(o.port, 5);
		config_free(list_table, &o);
	}
	{
		char *help[] = {"prog", "--port", "x", "-h", NULL};
		char *bad[] = {"prog", "--port", "10", NULL};
		char *stray[] = {"prog", "stray", NULL};
		char *nofile[] = {"prog", "--config", "/nonexistent/x.conf", NULL};
		memset(&o, 0, sizeof(o));
		CHECK_INT_EQ(config_load_cmdline(list_table, &o, 4, help, "prog"),
			     CONFIG_CMDLINE_HELP);
		CHECK_INT_EQ(config_load_cmdline(list_table, &o, 3, bad, "prog"),
			     CONFIG_CMDLINE_BAD_FLAG); /* out of range 1..9 */
		CHECK_INT_EQ(config_load_cmdline(list_table, &o, 2, stray, "prog"),
			     CONFIG_CMDLINE_BAD_FLAG);
		CHECK_INT_EQ(config_load_cmdline(list_table, &o, 3, nofile, "prog"),
			     CONFIG_CMDLINE_BAD_FILE);
		/* what a daemon's main does with the result: run, or exit with this code */
		CHECK_INT_EQ(config_cmdline_finish(CONFIG_CMDLINE_RUN, list_table, &o, "prog", "1",
						   NULL),
			     -1);
		CHECK_INT_EQ(config_cmdline_finish(CONFIG_CMDLINE_BAD_FILE, list_table, &o, "prog",
						   "1", NULL),
			     1);
		CHECK_INT_EQ(config_cmdline_finish(CONFIG_CMDLINE_BAD_FLAG, list_table, &o, "prog",
						   "1", NULL),
			     2);
		config_free(list_table, &o);
	}
	unlink(path);
}

int main(void)
{
	test_cmdline();
	test_list();
	test_trailing_comments();
	test_defaults();
	test_bad_default();
	test_good_file();
	test_bad_files();
	test_set();
	test_missing_file();
	test_help();
	test_dump();
	return check_done("test_config");
}
