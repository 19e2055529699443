/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CONFIG_H
#define HIGHRISE_CONFIG_H

/*
 * Configuration files driven by one table (STYLE.md: Redis's standardConfig).
 *
 * A program describes every setting once, as a struct config_key row with its
 * name, type, default, range and help text, and where the value lives in the
 * program's own options struct. The same table then parses the file, applies
 * command-line overrides, validates, prints --help and shows the effective
 * configuration.
 *
 * File syntax (docs/operations.md has the user-facing version):
 *
 *     # comment            ; comment
 *     listen = 0.0.0.0:7443
 *     [tls]                keys below are looked up as "tls.<key>"
 *     ca_file = "/etc/highrise/ca.pem"
 *
 * A value runs to the end of the line, or to a '#' or ';' that follows a
 * blank (a trailing comment), with surrounding blanks removed; put it in
 * double quotes to keep blanks, '#' or ';': the last quote on the line
 * closes the value, so quotes inside need no escapes.
 * Unknown sections and keys, duplicate keys, values of the wrong type or out
 * of range, lines over 4096 bytes and NUL bytes are errors that name the file
 * and line.
 *
 * Thread safety: none; parse at start-up on one thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum config_type {
	CONFIG_INT,    /* int64_t, checked against [min, max] */
	CONFIG_BOOL,   /* bool: true/false, yes/no, on/off, 1/0 */
	CONFIG_STRING, /* char * (owned by the struct, freed by config_free); max > 0 caps the length;
			* an empty value ("" or nothing) leaves it NULL */
	CONFIG_ENUM,   /* int: index into choices */
	CONFIG_LIST,   /* struct config_list: the key may repeat, each line adds an item;
			* max > 0 caps the number of items (default 1024) */
};

/* A CONFIG_LIST value: items in file order, owned by the struct (config_free). */
struct config_list {
	char **items;
	size_t count;
};

struct config_key {
	const char *name; /* "port", or "section.key" for keys under [section] */
	enum config_type type;
	const char *def; /* default, written as in a file; NULL: 0 / false / NULL string */
	int64_t min, max;
	size_t offset;		    /* offsetof(struct your_options, field) */
	const char *const *choices; /* CONFIG_ENUM: NULL-terminated names */
	const char *help;	    /* one line for --help */
};
/* A table ends with a row whose name is NULL. */

#define CONFIG_LINE_MAX 4096

/* Where and why parsing failed; msg is ready to print ("agent.conf:7: unknown key 'prot'"). */
struct config_error {
	int line; /* 0 when not about a line (e.g. the file cannot be opened) */
	char msg[512];
};

/*
 * Sets every key of dst to its default. dst must be zeroed or hold values
 * config_* set: the strings it holds are freed first. Returns 0 or
 * HR_ECONFIG (a bad default: a bug).
 */
int config_defaults(const struct config_key *table, void *dst, struct config_error *err);

/*
 * Parses a file (or an in-memory buffer; name is used in messages) on top of
 * what dst already holds — call config_defaults first. Returns 0, HR_ECONFIG
 * with err filled in, or -errno when the file cannot be read.
 */
int config_parse_file(const struct config_key *table, void *dst, const char *path,
		      struct config_error *err);
int config_parse_buffer(const struct config_key *table, void *dst, const char *buf, size_t len,
			const char *name, struct config_error *err);

/*
 * Sets one key from text, as a command-line flag does ("--port 7443" is
 * config_set(t, o, "port", "7443", "--port", &err)). Returns 0 or HR_ECONFIG.
 */
int config_set(const struct config_key *table, void *dst, const char *key, const char *value,
	       const char *origin, struct config_error *err);

/* What config_load_cmdline found on the command line. */
enum config_cmdline {
	CONFIG_CMDLINE_RUN = 0,	      /* settings loaded: run */
	CONFIG_CMDLINE_HELP = 1,      /* --help or -h: print usage, exit 0 */
	CONFIG_CMDLINE_VERSION = 2,   /* --version */
	CONFIG_CMDLINE_PRINT = 3,     /* --print-config: settings loaded, dump them, exit 0 */
	CONFIG_CMDLINE_BAD_FILE = -1, /* the file cannot be read or is wrong (exit 1) */
	CONFIG_CMDLINE_BAD_FLAG = -2, /* a flag is unknown or its value wrong (exit 2) */
};

/*
 * The command line every daemon takes: defaults, then --config FILE, then
 * --key VALUE for any key of the table on top (the command line wins).
 * --help, -h, --version and --print-config are reported, not acted on.
 * Errors are printed to stderr as "prog: file:line: what is wrong".
 */
enum config_cmdline config_load_cmdline(const struct config_key *table, void *dst, int argc,
					char **argv, const char *prog);

/*
 * Acts on what config_load_cmdline returned, the same way for every daemon:
 * usage for --help, "prog version" for --version, the settings for
 * --print-config. Returns -1 to go on running; otherwise dst is freed and
 * the value is the exit code (0, 1 for a bad file, 2 for a bad flag).
 */
int config_cmdline_finish(enum config_cmdline rc, const struct config_key *table, void *dst,
			  const char *prog, const char *version, void (*usage)(FILE *out));

/* Finds a row by name, or NULL. */
const struct config_key *config_find(const struct config_key *table, const char *name);

/* Frees the strings config_* allocated in dst. dst itself is the caller's. */
void config_free(const struct config_key *table, void *dst);

/* "  --name VALUE   help (default: x, 1..65535)" for every row. */
void config_print_help(const struct config_key *table, FILE *out);

/* "name = value" for every row: the effective configuration, loadable as a file. */
void config_dump(const struct config_key *table, const void *src, FILE *out);

/*
 * The first line of a secret file (a console password named by
 * password-file=PATH), without its line end: malloc'd, the caller wipes
 * and frees it. NULL, logged with the path, when it cannot be read.
 */
char *config_read_secret(const char *path);

#endif
