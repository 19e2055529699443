/* SPDX-License-Identifier: MIT */
/*
 * client/options.h: a table of rows of every kind parses a command line
 * (--opt VALUE, --opt=VALUE, -vv, flags, ranges, calls that act in order),
 * refuses what is wrong with exit-2 errors, prints --help from the rows,
 * and client_opts_mode applies the direct-or-broker rules both programs
 * share.
 */
#include "check.h"
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct t_opts {
	struct client_common c;
	bool flag;
	int n;
	const char *file;
	char order[64]; /* what the calls saw, in order */
};

static int note(void *opts, const char *arg, char *why, size_t whylen)
{
	struct t_opts *o = opts;
	if (!strcmp(arg, "bad")) {
		snprintf(why, whylen, "wants something good");
		return -1;
	}
	strncat(o->order, arg, sizeof(o->order) - strlen(o->order) - 1);
	return 0;
}

static const struct copt table[] = {
	COPT_SECTION_ROW("Through the broker"),
	CLIENT_OPTS_BROKER,
	COPT_SECTION_ROW("Direct"),
	CLIENT_OPTS_DIRECT,
	CLIENT_OPT_DECODER,
	CLIENT_OPTS_SOUND,
	COPT_SECTION_ROW("Own"),
	{.name = "flag",
	 .kind = COPT_FLAG,
	 .offset = offsetof(struct t_opts, flag),
	 .help = "a flag"},
	{.name = "n",
	 .kind = COPT_INT,
	 .offset = offsetof(struct t_opts, n),
	 .value = "N",
	 .min = 1,
	 .max = 10,
	 .help = "a number\nover two lines"},
	{.name = "file",
	 .kind = COPT_STRING,
	 .offset = offsetof(struct t_opts, file),
	 .value = "FILE",
	 .help = "a file"},
	{.name = "note", .kind = COPT_CALL, .value = "X", .help = "in order", .call = note},
	{.name = "a-very-long-option-name",
	 .kind = COPT_FLAG,
	 .offset = offsetof(struct t_opts, flag),
	 .help = "its help on the next line"},
	CLIENT_OPTS_TAIL,
	COPT_END,
};

static int parse(struct t_opts *o, const char *const *args)
{
	char *argv[32] = {"prog"};
	int argc = 1;
	memset(o, 0, sizeof(*o));
	for (; args[argc - 1]; argc++)
		argv[argc] = (char *)args[argc - 1];
	return opts_parse(table, o, argc, argv, "prog");
}

int main(void)
{
	struct t_opts o;

	printf("case: every kind of row\n");
	CHECK_INT_EQ(parse(&o, (const char *[]){"--agent", "[::1]:7000", "--ticket", "t", "-vv",
						"--flag", "--n=7", "--file", "f", "--note", "a",
						"--note=b", "--decoder", "software", "--mic",
						"--audio-sink", "sink.1", "--verbose", NULL}),
		     0);
	CHECK_STR_EQ(o.c.host, "::1");
	CHECK_INT_EQ(o.c.port, 7000);
	CHECK_STR_EQ(o.c.ticket, "t");
	CHECK_INT_EQ(o.c.verbose, 3);
	CHECK(o.flag);
	CHECK_INT_EQ(o.n, 7);
	CHECK_STR_EQ(o.file, "f");
	CHECK_STR_EQ(o.order, "ab");
	CHECK_INT_EQ(o.c.decoder, DECODER_HW_SOFTWARE);
	CHECK(o.c.mic && !o.c.no_audio);
	CHECK_STR_EQ(o.c.audio_sink, "sink.1");
	CHECK_INT_EQ(client_opts_mode(&o.c, "prog"), CLIENT_MODE_DIRECT);
	CHECK_INT_EQ(parse(&o, (const char *[]){"--agent", "host", "--ticket", "t", NULL}), 0);
	CHECK_INT_EQ(o.c.port, 7443);

	printf("case: usage errors\n");
	const char *const *bad[] = {
		(const char *[]){"--n", "0", NULL},
		(const char *[]){"--n", "11", NULL},
		(const char *[]){"--n", "3x", NULL},
		(const char *[]){"--n", NULL},
		(const char *[]){"--bogus", NULL},
		(const char *[]){"-x", NULL},
		(const char *[]){"stray", NULL},
		(const char *[]){"--note", "bad", NULL},
		(const char *[]){"--agent", "host:0", NULL},
		(const char *[]){"--agent", "a b:1", NULL},
		(const char *[]){"--decoder", "gpu", NULL},
		(const char *[]){"--audio-sink", "a sink", NULL},
		(const char *[]){"--client-name", "", NULL},
		(const char *[]){"--flag=yes", NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT_EQ(parse(&o, bad[i]), -EINVAL);
	CHECK_INT_EQ(parse(&o, (const char *[]){"--help", NULL}), 1);
	CHECK_INT_EQ(parse(&o, (const char *[]){"-h", NULL}), 1);

	printf("case: direct or broker\n");
	parse(&o, (const char *[]){"--broker", "https://b", "--user", "u", "--password-file", "p",
				   NULL});
	CHECK_INT_EQ(client_opts_mode(&o.c, "prog"), CLIENT_MODE_BROKER);
	parse(&o, (const char *[]){NULL});
	CHECK_INT_EQ(client_opts_mode(&o.c, "prog"), CLIENT_MODE_BROKER);
	parse(&o, (const char *[]){"--agent", "a:1", "--ticket", "t", "--pool", "p", NULL});
	CHECK_INT_EQ(client_opts_mode(&o.c, "prog"), -EINVAL);
	parse(&o, (const char *[]){"--ticket", "t", NULL});
	CHECK_INT_EQ(client_opts_mode(&o.c, "prog"), -EINVAL);
	parse(&o, (const char *[]){"--agent", "a:1", NULL});
	CHECK_INT_EQ(client_opts_mode(&o.c, "prog"), -EINVAL);
	parse(&o, (const char *[]){"--password-file", "p", NULL});
	CHECK_INT_EQ(client_opts_mode(&o.c, "prog"), -EINVAL);

	printf("case: --help from the rows\n");
	{
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		opts_help(table, f);
		fclose(f);
		CHECK(strstr(text, "\nThrough the broker:\n  --broker URL         https://") !=
		      NULL);
		CHECK(strstr(text, "\n  --n N                a number\n"
				   "                       over two lines\n") != NULL);
		CHECK(strstr(text, "\n  --a-very-long-option-name\n"
				   "                       its help on the next line\n") != NULL);
		CHECK(strstr(text, "\n  -v, --verbose        log") != NULL);
		CHECK(strstr(text, "\n  -h, --help           this text\n") != NULL);
		for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1)
			CHECK(nl - line <= 80); /* a terminal's width */
		free(text);
	}
	return check_done("test_client_options");
}
