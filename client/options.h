/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_OPTIONS_H
#define HIGHRISE_CLIENT_OPTIONS_H

/*
 * The command lines of highrise-client and highrise-probe, each from one
 * table (as the daemons' come from common/config.h's): a row per option
 * with its name, kind, field, value name and help, and the same table
 * parses argv (getopt_long, so --opt=value and -vv work), reports usage
 * errors as "prog: what is wrong (see prog --help)" and prints --help.
 *
 * The options both programs take are written once, as the CLIENT_OPTS_*
 * rows below, over struct client_common; a program's options struct starts
 * with that struct (offset 0), and its table is those rows plus its own.
 * client_opts_mode then applies the rules both share: direct to an agent
 * (--agent with --ticket) or through the broker, never both.
 *
 * GTK-free, no I/O but stderr and the help stream; parse once at start-up.
 */

#include "broker_login.h"
#include "decoder.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum copt_kind {
	COPT_SECTION, /* no option: "\nHELP:\n" in --help */
	COPT_FLAG,    /* bool = true; no value */
	COPT_COUNT,   /* int += 1; no value (-v -v) */
	COPT_STRING,  /* const char * = the argument (argv's own, not copied) */
	COPT_INT,     /* int, a whole number in [min, max] */
	COPT_CALL,    /* call(opts, arg): values with a grammar of their own, or that act in
		       * the order given (the probe's input script); no value when value is NULL */
	COPT_HELP,    /* -h, --help: opts_parse returns 1 */
};

struct copt {
	const char *name; /* without "--"; NULL (and no help) ends the table: COPT_END */
	char letter;	  /* a short option ('v'), or 0 */
	enum copt_kind kind;
	size_t offset;	   /* of the field in the program's options struct */
	const char *value; /* the value's name in --help ("FILE"); NULL: a flag */
	const char *help;  /* lines separated by '\n' */
	int min, max;	   /* COPT_INT */
	/* COPT_CALL: 0, or -1 with the reason in why ("wants X,Y in desktop pixels"), which
	 * opts_parse prints as "--click wants ..., not \"ARG\"" */
	int (*call)(void *opts, const char *arg, char *why, size_t whylen);
};

#define COPT_SECTION_ROW(title)                       \
	{                                             \
		.kind = COPT_SECTION, .help = (title) \
	}
#define COPT_END             \
	{                    \
		.name = NULL \
	}

/*
 * Parses argv by table t into opts (fields not named keep what they hold).
 * 0: run; 1: --help was asked; -EINVAL: a usage error, already printed.
 */
int opts_parse(const struct copt *t, void *opts, int argc, char **argv, const char *prog);

/* The option lines of --help, section by section, as the table orders them. */
void opts_help(const struct copt *t, FILE *out);

/* What both programs take; the first member of each program's options struct. */
struct client_common {
	/* through the broker */
	const char *broker, *user, *password_file, *pool;
	/* direct to an agent */
	char host[256]; /* "" without --agent */
	uint16_t port;
	const char *ticket;
	/* either way */
	const char *ca, *pin, *name, *client_name;
	enum decoder_hw decoder;
	bool no_audio, mic;
	const char *audio_sink, *mic_source;
	int verbose;
};

int client_opt_agent(void *opts, const char *arg, char *why, size_t whylen);
int client_opt_client_name(void *opts, const char *arg, char *why, size_t whylen);
int client_opt_decoder(void *opts, const char *arg, char *why, size_t whylen);
int client_opt_audio_sink(void *opts, const char *arg, char *why, size_t whylen);
int client_opt_mic_source(void *opts, const char *arg, char *why, size_t whylen);

#define CLIENT_OPT_(f) offsetof(struct client_common, f)

/* --broker, --user, --password-file, --pool, --ca */
#define CLIENT_OPTS_BROKER                                                                     \
	{.name = "broker",                                                                     \
	 .kind = COPT_STRING,                                                                  \
	 .offset = CLIENT_OPT_(broker),                                                        \
	 .value = "URL",                                                                       \
	 .help = "https://HOST[:PORT] of the broker (port 8443): log in,\n"                    \
		 "ask it for a desktop and connect to its agent with the\n"                    \
		 "ticket it gives"},                                                           \
		{.name = "user",                                                               \
		 .kind = COPT_STRING,                                                          \
		 .offset = CLIENT_OPT_(user),                                                  \
		 .value = "NAME",                                                              \
		 .help = "the user to log in as"},                                             \
		{.name = "password-file",                                                      \
		 .kind = COPT_STRING,                                                          \
		 .offset = CLIENT_OPT_(password_file),                                         \
		 .value = "FILE",                                                              \
		 .help = "log in without a screen: the password is the file's\n"               \
			 "first line, read again for every login (kiosks; keep\n"              \
			 "it 0600)"},                                                          \
		{.name = "pool",                                                               \
		 .kind = COPT_STRING,                                                          \
		 .offset = CLIENT_OPT_(pool),                                                  \
		 .value = "NAME",                                                              \
		 .help = "the desktop pool; without it the only one (or a picker)"},           \
	{                                                                                      \
		.name = "ca", .kind = COPT_STRING, .offset = CLIENT_OPT_(ca), .value = "FILE", \
		.help = "the deployment's CA certificate (ca.pem from\n"                       \
			"highrise-certs): verifies the broker, and agents unless\n"            \
			"the broker names their CA; without --ca and --pin the\n"              \
			"system's CA store is used"                                            \
	}

/* --agent, --ticket, --pin, --name, --client-name */
#define CLIENT_OPTS_DIRECT                                                            \
	{.name = "agent",                                                             \
	 .kind = COPT_CALL,                                                           \
	 .value = "HOST[:PORT]",                                                      \
	 .help = "the agent; PORT defaults to 7443; IPv6 addresses in\n"              \
		 "brackets: [::1]:7443",                                              \
	 .call = client_opt_agent},                                                   \
		{.name = "ticket",                                                    \
		 .kind = COPT_STRING,                                                 \
		 .offset = CLIENT_OPT_(ticket),                                       \
		 .value = "FILE",                                                     \
		 .help = "the connect ticket from the broker (its bytes or base64\n"  \
			 "text; \"-\": standard input), read again for every\n"       \
			 "reconnection; tickets live at most 60 s and are good\n"     \
			 "for one connection"},                                       \
		{.name = "pin",                                                       \
		 .kind = COPT_STRING,                                                 \
		 .offset = CLIENT_OPT_(pin),                                          \
		 .value = "SHA256",                                                   \
		 .help = "the SHA-256 of the agent's public key (highrise-certs\n"    \
			 "pin); with --ca both must hold, without it the pin alone\n" \
			 "decides (kiosks)"},                                         \
		{.name = "name",                                                      \
		 .kind = COPT_STRING,                                                 \
		 .offset = CLIENT_OPT_(name),                                         \
		 .value = "SERVERNAME",                                               \
		 .help = "the name the agent's certificate must carry, when it is\n"  \
			 "not HOST"},                                                 \
	{                                                                             \
		.name = "client-name", .kind = COPT_CALL, .value = "NAME",            \
		.help = "how the agent's log names this client [the program's\n"      \
			"name]",                                                      \
		.call = client_opt_client_name                                        \
	}

/* --decoder */
#define CLIENT_OPT_DECODER                                                            \
	{                                                                             \
		.name = "decoder", .kind = COPT_CALL, .value = "auto|software|vaapi", \
		.help = "H.264 decoding: auto tries VAAPI (/dev/dri/renderD128)\n"    \
			"and falls back to software, saying why in the log [auto]",   \
		.call = client_opt_decoder                                            \
	}

/* --no-audio, --audio-sink, --mic, --mic-source */
#define CLIENT_OPTS_SOUND                                                          \
	{.name = "no-audio",                                                       \
	 .kind = COPT_FLAG,                                                        \
	 .offset = CLIENT_OPT_(no_audio),                                          \
	 .help = "do not ask the agent for the desktop's sound"},                  \
		{.name = "audio-sink",                                             \
		 .kind = COPT_CALL,                                                \
		 .value = "NAME",                                                  \
		 .help = "play the sound to PulseAudio sink NAME (PULSE_SERVER\n"  \
			 "says which server) [the default sink]",                  \
		 .call = client_opt_audio_sink},                                   \
		{.name = "mic",                                                    \
		 .kind = COPT_FLAG,                                                \
		 .offset = CLIENT_OPT_(mic),                                       \
		 .help = "send the microphone from the start, while the desktop\n" \
			 "takes it"},                                              \
	{                                                                          \
		.name = "mic-source", .kind = COPT_CALL, .value = "NAME",          \
		.help = "the PulseAudio source to send (a monitor such as\n"       \
			"sink.monitor works too) [the default source]",            \
		.call = client_opt_mic_source                                      \
	}

/* -v, --verbose and -h, --help */
#define CLIENT_OPTS_TAIL                                                              \
	{.name = "verbose",                                                           \
	 .letter = 'v',                                                               \
	 .kind = COPT_COUNT,                                                          \
	 .offset = CLIENT_OPT_(verbose),                                              \
	 .help = "log warnings and progress too (twice: debug)"},                     \
	{                                                                             \
		.name = "help", .letter = 'h', .kind = COPT_HELP, .help = "this text" \
	}

enum client_mode {
	CLIENT_MODE_BROKER = 0,
	CLIENT_MODE_DIRECT = 1,
};

/*
 * The rules both programs share: --agent and --ticket go together (direct)
 * and not with --broker, --user, --password-file or --pool; --password-file
 * needs --broker and --user. The mode, or -EINVAL with a usage error printed.
 */
int client_opts_mode(const struct client_common *c, const char *prog);

/* The broker side's settings from the common options (pointers into c). */
struct broker_login_cfg client_opts_login(const struct client_common *c, const char *prog);

#endif
