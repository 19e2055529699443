/* SPDX-License-Identifier: MIT */
/* The client programs' command lines from one table (options.h), over getopt_long. */
#include "options.h"

#include "hostport.h"
#include "msg.h"
#include "pulse.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PORT 7443
#define HELP_COLUMN  23 /* where help text starts */
#define OPTS_MAX     64

static int usage_error(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see %s --help)\n", prog);
	return -EINVAL;
}

/* The row that ends a table: no name and no help (a section has help). */
static bool row_end(const struct copt *r)
{
	return !r->name && !r->help;
}

static void *field(void *opts, const struct copt *r)
{
	return (char *)opts + r->offset;
}

static int set_int(const struct copt *r, void *opts, const char *arg, const char *prog)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < r->min || v > r->max)
		return usage_error(prog, "--%s wants a whole number from %d to %d, not \"%s\"",
				   r->name, r->min, r->max, arg);
	*(int *)field(opts, r) = (int)v;
	return 0;
}

int opts_parse(const struct copt *t, void *opts, int argc, char **argv, const char *prog)
{
	struct option longopts[OPTS_MAX + 1];
	char shorts[2 * OPTS_MAX + 2] = ":";
	size_t n = 0, ns = 1;
	int c;

	for (size_t i = 0; !row_end(&t[i]); i++) {
		const struct copt *r = &t[i];
		bool takes = r->kind == COPT_STRING || r->kind == COPT_INT ||
			     (r->kind == COPT_CALL && r->value);

		if (r->kind == COPT_SECTION)
			continue;
		if (n == OPTS_MAX)
			abort(); /* a table this long is a bug: raise OPTS_MAX */
		longopts[n] = (struct option){r->name, takes ? required_argument : no_argument,
					      NULL, (int)(256 + i)};
		n++;
		if (r->letter) {
			shorts[ns++] = r->letter;
			if (takes)
				shorts[ns++] = ':';
		}
	}
	longopts[n] = (struct option){0};
	shorts[ns] = '\0';

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
		const struct copt *r = NULL;
		char why[512] = "";

		if (c >= 256) {
			r = &t[c - 256];
		} else if (c == ':') {
			return usage_error(prog, "%s needs a value", argv[optind - 1]);
		} else if (c != '?') {
			for (size_t i = 0; !row_end(&t[i]); i++)
				if (t[i].kind != COPT_SECTION && t[i].letter == c)
					r = &t[i];
		}
		if (!r)
			return usage_error(prog, "unknown option %s", argv[optind - 1]);
		switch (r->kind) {
		case COPT_FLAG:
			*(bool *)field(opts, r) = true;
			break;
		case COPT_COUNT:
			(*(int *)field(opts, r))++;
			break;
		case COPT_STRING:
			*(const char **)field(opts, r) = optarg;
			break;
		case COPT_INT:
			if (set_int(r, opts, optarg, prog) < 0)
				return -EINVAL;
			break;
		case COPT_CALL:
			if (r->call(opts, optarg, why, sizeof(why)) < 0) {
				if (r->value)
					return usage_error(prog, "--%s %s, not \"%s\"", r->name,
							   why, optarg);
				return usage_error(prog, "--%s: %s", r->name, why);
			}
			break;
		case COPT_HELP:
			return 1;
		case COPT_SECTION:
			break;
		}
	}
	if (optind < argc)
		return usage_error(prog, "unexpected argument \"%s\"", argv[optind]);
	return 0;
}

void opts_help(const struct copt *t, FILE *out)
{
	for (size_t i = 0; !row_end(&t[i]); i++) {
		const struct copt *r = &t[i];
		char head[128];
		const char *h = r->help ? r->help : "";
		int len;

		if (r->kind == COPT_SECTION) {
			fprintf(out, "\n%s:\n", h);
			continue;
		}
		if (r->letter)
			len = snprintf(head, sizeof(head), "  -%c, --%s%s%s", r->letter, r->name,
				       r->value ? " " : "", r->value ? r->value : "");
		else
			len = snprintf(head, sizeof(head), "  --%s%s%s", r->name,
				       r->value ? " " : "", r->value ? r->value : "");
		if (len + 1 > HELP_COLUMN)
			fprintf(out, "%s\n%*s", head, HELP_COLUMN, "");
		else
			fprintf(out, "%-*s", HELP_COLUMN, head);
		for (const char *nl; (nl = strchr(h, '\n')); h = nl + 1)
			fprintf(out, "%.*s\n%*s", (int)(nl - h), h, HELP_COLUMN, "");
		fprintf(out, "%s\n", h);
	}
}

/* ---- the shared rows' values ---- */

int client_opt_agent(void *opts, const char *arg, char *why, size_t whylen)
{
	struct client_common *c = opts;
	int p, rc = hostport_parse(arg, strlen(arg), c->host, sizeof(c->host), &p, DEFAULT_PORT,
				   HOSTPORT_BARE_V6);

	if (rc == -ERANGE)
		snprintf(why, whylen, "wants a port number from 1 to 65535");
	else if (rc < 0)
		snprintf(why, whylen, "wants a host name or address ([ADDRESS]:PORT for IPv6)");
	else
		c->port = (uint16_t)p;
	return rc < 0 ? -1 : 0;
}

int client_opt_client_name(void *opts, const char *arg, char *why, size_t whylen)
{
	if (!arg[0] || strlen(arg) > MSG_NAME_MAX) {
		snprintf(why, whylen, "wants 1 to %u bytes", MSG_NAME_MAX);
		return -1;
	}
	((struct client_common *)opts)->client_name = arg;
	return 0;
}

int client_opt_decoder(void *opts, const char *arg, char *why, size_t whylen)
{
	if (decoder_hw_parse(arg, &((struct client_common *)opts)->decoder) < 0) {
		snprintf(why, whylen, "is auto, software or vaapi");
		return -1;
	}
	return 0;
}

static int pulse_name(const char *arg, const char *what, const char **out, char *why, size_t whylen)
{
	if (!audio_pulse_name_ok(arg)) {
		snprintf(why, whylen, "wants a PulseAudio %s name (letters, digits, '.', '_', '-')",
			 what);
		return -1;
	}
	*out = arg;
	return 0;
}

int client_opt_audio_sink(void *opts, const char *arg, char *why, size_t whylen)
{
	return pulse_name(arg, "sink", &((struct client_common *)opts)->audio_sink, why, whylen);
}

int client_opt_mic_source(void *opts, const char *arg, char *why, size_t whylen)
{
	return pulse_name(arg, "source", &((struct client_common *)opts)->mic_source, why, whylen);
}

int client_opts_mode(const struct client_common *c, const char *prog)
{
	if (c->host[0] || c->ticket) {
		if (c->broker || c->user || c->password_file || c->pool)
			return usage_error(prog, "--agent/--ticket (direct) and "
						 "--broker/--user/--password-file/--pool (broker) "
						 "do not mix");
		if (!c->host[0])
			return usage_error(prog, "--agent HOST[:PORT] is required with --ticket");
		if (!c->ticket)
			return usage_error(prog, "--ticket FILE is required with --agent (or log "
						 "in with --broker URL)");
		return CLIENT_MODE_DIRECT;
	}
	if (c->password_file && (!c->user || !c->broker))
		return usage_error(prog, "--password-file needs --broker and --user");
	return CLIENT_MODE_BROKER;
}

struct broker_login_cfg client_opts_login(const struct client_common *c, const char *prog)
{
	return (struct broker_login_cfg){.broker_url = c->broker,
					 .ca_file = c->ca,
					 .pin = c->pin,
					 .user = c->user,
					 .password_file = c->password_file,
					 .pool = c->pool,
					 .prog = prog};
}
