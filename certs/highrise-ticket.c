/* SPDX-License-Identifier: MIT */
/*
 * highrise-ticket: signs one connect ticket with the broker's ticket key.
 * The broker does this itself for every connect; this tool is for tests,
 * the demo and for reaching an agent by hand when no broker runs.
 *
 * Like a client does for each connect, it makes a fresh Ed25519 client key
 * pair, names the public half in the ticket and writes the ticket together
 * with the private half (ticket_bundle_encode): the agent takes the ticket
 * only with a HELLO proof signed by that key (docs/protocol.md §6.3).
 */
#include "error.h"
#include "log.h"
#include "ticket.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: highrise-ticket --key FILE --user NAME --desktop ID --agent NAME\n"
		"                       [--session ID] [--lifetime SECONDS] [--out FILE]\n"
		"\n"
		"Signs a connect ticket for one desktop on one agent with the broker's\n"
		"Ed25519 ticket key (highrise-certs ticket-key makes it) and writes it to\n"
		"FILE or standard output as PEM text: the ticket, then the private key of\n"
		"a client key pair made for it. The ticket names that key's public half,\n"
		"and the agent takes it only on a connection whose HELLO is signed with\n"
		"the private half, so the file is a secret: FILE is created with mode\n"
		"0600 (keep standard output as safe). The agent accepts the ticket once,\n"
		"within its lifetime (at most %d s, default 60).\n"
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
	uint8_t buf[TICKET_WIRE_MAX], client_pub[TICKET_CLIENT_KEY_LEN];
	size_t len = 0, n;
	struct ticket t;
	EVP_PKEY *key, *client_key;
	char *bundle;
	struct stat st;
	FILE *out;
	int fd;

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
	client_key = ticket_client_key_new(client_pub);
	if (!client_key)
		return 1;
	rc = ticket_init(&t, user, desktop, agent, session, client_pub, (int64_t)time(NULL),
			 lifetime);
	if (rc < 0) {
		fprintf(stderr, "highrise-ticket: %s (names are 1-%d bytes, the lifetime 1-%d s)\n",
			hr_strerror(rc), TICKET_NAME_MAX, TICKET_LIFETIME_MAX);
		EVP_PKEY_free(client_key);
		return 2;
	}
	key = ticket_key_load_private(key_path);
	if (!key) {
		EVP_PKEY_free(client_key);
		return 1;
	}
	rc = ticket_sign(&t, key, buf, sizeof(buf), &len);
	EVP_PKEY_free(key);
	if (rc < 0) {
		fprintf(stderr, "highrise-ticket: cannot sign: %s\n", hr_strerror(rc));
		EVP_PKEY_free(client_key);
		return 1;
	}
	bundle = ticket_bundle_encode(buf, len, client_key);
	EVP_PKEY_free(client_key);
	if (!bundle)
		return 1;
	n = strlen(bundle);
	if (out_path) {
		/* 0600 from the start: the file holds the client's private key */
		fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		/* an existing file keeps its mode through O_TRUNC: tighten a regular one */
		out = fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
				  fchmod(fd, 0600) == 0)
			      ? fdopen(fd, "w")
			      : NULL;
		if (!out && fd >= 0) {
			int e = errno;
			close(fd);
			errno = e;
		}
	} else {
		out = stdout;
	}
	rc = out && fwrite(bundle, 1, n, out) == n && fflush(out) == 0 ? 0 : -1;
	if (rc < 0)
		fprintf(stderr, "highrise-ticket: cannot write %s: %m\n",
			out_path ? out_path : "stdout");
	if (out_path && out && fclose(out) != 0 && rc == 0) {
		fprintf(stderr, "highrise-ticket: cannot write %s: %m\n", out_path);
		rc = -1;
	}
	OPENSSL_cleanse(bundle, n);
	free(bundle);
	return rc < 0 ? 1 : 0;
}
