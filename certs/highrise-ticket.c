/* SPDX-License-Identifier: MIT */
/*
 * highrise-ticket: signs one connect ticket with the broker's ticket key.
 * The broker does this itself for every connect; this tool is for tests,
 * the demo and for reaching an agent by hand when no broker runs.
 */
#include "error.h"
#include "log.h"
#include "ticket.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: highrise-ticket --key FILE --user NAME --desktop ID --agent NAME\n"
		"                       [--session ID] [--lifetime SECONDS] [--out FILE]\n"
		"\n"
		"Signs a connect ticket for one desktop on one agent with the broker's\n"
		"Ed25519 ticket key (highrise-certs ticket-key makes it) and writes it\n"
		"(binary) to FILE or standard output. The agent accepts it once, within\n"
		"its lifetime (at most %d s, default 60).\n"
		"\n"
		"Example:\n"
		"  highrise-ticket --key pki/ticket.key --user alice --desktop vm1 \\\n"
		"      --agent host17 --out /tmp/t && highrise-probe --ticket /tmp/t ...\n",
		TICKET_LIFETIME_MAX);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"key", required_argument, NULL, 'k'},
		{"user", required_argument, NULL, 'u'},
		{"desktop", required_argument, NULL, 'd'},
		{"agent", required_argument, NULL, 'a'},
		{"session", required_argument, NULL, 's'},
		{"lifetime", required_argument, NULL, 'l'},
		{"out", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *key_path = NULL, *user = NULL, *desktop = NULL, *agent = NULL;
	const char *session = "", *out_path = NULL;
	int lifetime = TICKET_LIFETIME_MAX, c, rc;
	uint8_t buf[TICKET_WIRE_MAX];
	size_t len = 0;
	struct ticket t;
	EVP_PKEY *key;
	FILE *out;

	log_open("highrise-ticket", LOG_LEVEL_WARN, LOG_TARGET_STDERR);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'd':
			desktop = optarg;
			break;
		case 'a':
			agent = optarg;
			break;
		case 's':
			session = optarg;
			break;
		case 'l':
			lifetime = atoi(optarg);
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!key_path || !user || !desktop || !agent || optind != argc) {
		fprintf(stderr,
			"highrise-ticket: --key, --user, --desktop and --agent are needed\n");
		usage(stderr);
		return 2;
	}
	rc = ticket_init(&t, user, desktop, agent, session, (int64_t)time(NULL), lifetime);
	if (rc < 0) {
		fprintf(stderr, "highrise-ticket: %s (names are 1-%d bytes, the lifetime 1-%d s)\n",
			hr_strerror(rc), TICKET_NAME_MAX, TICKET_LIFETIME_MAX);
		return 2;
	}
	key = ticket_key_load_private(key_path);
	if (!key)
		return 1;
	rc = ticket_sign(&t, key, buf, sizeof(buf), &len);
	EVP_PKEY_free(key);
	if (rc < 0) {
		fprintf(stderr, "highrise-ticket: cannot sign: %s\n", hr_strerror(rc));
		return 1;
	}
	out = out_path ? fopen(out_path, "wb") : stdout;
	if (!out || fwrite(buf, 1, len, out) != len || (out_path && fclose(out) != 0)) {
		fprintf(stderr, "highrise-ticket: cannot write %s: %m\n",
			out_path ? out_path : "stdout");
		return 1;
	}
	return 0;
}
