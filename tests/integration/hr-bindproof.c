/* SPDX-License-Identifier: MIT */
/*
 * hr-bindproof: the TLS end of tests/integration/rawclient.py, which writes
 * the protocol by hand but cannot sign a HELLO's binding proof: Python's ssl
 * module has no TLS exporter (RFC 8446 §7.5), and the proof signs one
 * (docs/protocol.md §6.3).
 *
 * It connects to the agent with TLS 1.3 (the CA's certificate, the address
 * checked against the certificate's IP SAN), reads the ticket bundle that
 * highrise-ticket wrote, and prints the 64-byte proof for this connection
 * as hex on its first line of standard output, then a blank and the
 * connection's 32-byte exporter in hex (what a resume proof binds to, §6.4;
 * without --bundle the proof is "-"). From then on it relays raw
 * bytes: standard input into the TLS connection, the connection's plaintext
 * to standard output, until either side ends (then it closes the other).
 *
 *   hr-bindproof --port PORT --ca CA.pem [--bundle FILE] [--host 127.0.0.1] [--source ADDR]
 *
 * Exit: 0 when a side closed, 1 on a failure before the relay (said on
 * standard error), 2 on a usage error.
 */
#include "ticket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUNDLE_MAX 16384

static const char label[] = "EXPORTER-highrise-binding"; /* = proto/tls.c's */

static int fail(const char *what)
{
	unsigned long e = ERR_get_error();
	fprintf(stderr, "hr-bindproof: %s%s%s\n", what, e ? ": " : "",
		e ? ERR_reason_error_string(e) : "");
	return 1;
}

static int dial(const char *host, int port, const char *source)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct sockaddr_in from = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || inet_pton(AF_INET, host, &to.sin_addr) != 1)
		goto bad;
	if (source && (inet_pton(AF_INET, source, &from.sin_addr) != 1 ||
		       bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0))
		goto bad;
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0)
		goto bad;
	return fd;
bad:
	fprintf(stderr, "hr-bindproof: cannot connect to %s:%d: %s\n", host, port, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Writes all of buf into the (non-blocking) connection. 0, or -1 when it ended. */
static int tls_write_all(SSL *ssl, int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		int n = SSL_write(ssl, buf, (int)len);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		int e = SSL_get_error(ssl, n);
		struct pollfd p = {.fd = fd};
		if (e == SSL_ERROR_WANT_WRITE)
			p.events = POLLOUT;
		else if (e == SSL_ERROR_WANT_READ)
			p.events = POLLIN;
		else
			return -1;
		poll(&p, 1, -1);
	}
	return 0;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* stdin -> TLS, TLS -> stdout, until one side ends. */
static void relay(SSL *ssl, int fd)
{
	uint8_t buf[65536];

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
		/* what OpenSSL already holds is not on the socket any more: drain it first */
		if (SSL_pending(ssl) == 0 && poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || tls_write_all(ssl, fd, buf, (size_t)n) < 0)
				return; /* the test is done with the connection */
		}
		if (SSL_pending(ssl) > 0 || (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			int n = SSL_read(ssl, buf, sizeof(buf));
			if (n > 0) {
				if (write_all(1, buf, (size_t)n) < 0)
					return;
				continue;
			}
			int e = SSL_get_error(ssl, n);
			/* a session ticket or key update is no data: poll again */
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				return; /* the agent closed (or reset) the connection */
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, NULL, 'p'},	  {"ca", required_argument, NULL, 'c'},
		{"bundle", required_argument, NULL, 'b'}, {"host", required_argument, NULL, 'H'},
		{"source", required_argument, NULL, 's'}, {NULL, 0, NULL, 0},
	};
	const char *ca = NULL, *bundle_path = NULL, *host = "127.0.0.1", *source = NULL;
	uint8_t ticket[TICKET_WIRE_MAX], exporter[TICKET_EXPORTER_LEN], proof[TICKET_BIND_LEN];
	static char text[BUNDLE_MAX];
	EVP_PKEY *client_key = NULL;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	struct ticket t;
	size_t len = 0, tlen = 0;
	int port = 0, c, fd = -1, rc = 1;
	FILE *f;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'c':
			ca = optarg;
			break;
		case 'b':
			bundle_path = optarg;
			break;
		case 'H':
			host = optarg;
			break;
		case 's':
			source = optarg;
			break;
		default:
			return 2;
		}
	}
	if (port < 1 || port > 65535 || !ca || optind != argc) {
		fprintf(stderr, "usage: hr-bindproof --port PORT --ca CA.pem [--bundle FILE] "
				"[--host ADDR] [--source ADDR]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	if (bundle_path) {
		f = fopen(bundle_path, "r");
		if (!f) {
			fprintf(stderr, "hr-bindproof: cannot open %s: %s\n", bundle_path,
				strerror(errno));
			return 1;
		}
		tlen = fread(text, 1, sizeof(text), f);
		fclose(f);
		if (ticket_bundle_decode(text, tlen, ticket, sizeof(ticket), &len, &client_key) <
			    0 ||
		    ticket_parse(ticket, len, &t) < 0)
			return fail("not a ticket bundle from highrise-ticket");
	}

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		rc = fail("cannot set up TLS with that CA file");
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	fd = dial(host, port, source);
	if (fd < 0)
		goto out;
	ssl = SSL_new(ctx);
	/* the agent's certificate names its address (IP SAN), as rawclient.py checks */
	if (!ssl || X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1 ||
	    SSL_set_fd(ssl, fd) != 1) {
		rc = fail("cannot set up the TLS connection");
		goto out;
	}
	if (SSL_connect(ssl) != 1) {
		rc = fail("TLS handshake failed");
		goto out;
	}
	if (SSL_export_keying_material(ssl, exporter, sizeof(exporter), label, sizeof(label) - 1,
				       NULL, 0, 0) != 1) {
		rc = fail("no TLS exporter");
		goto out;
	}
	if (client_key && ticket_bind_sign(client_key, t.id, exporter, proof) != 0) {
		rc = fail("cannot sign the binding proof");
		goto out;
	}
	for (size_t i = 0; client_key && i < sizeof(proof); i++)
		printf("%02x", proof[i]);
	printf(client_key ? " " : "- ");
	for (size_t i = 0; i < sizeof(exporter); i++)
		printf("%02x", exporter[i]);
	printf("\n");
	if (fflush(stdout) != 0)
		goto out;
	relay(ssl, fd);
	SSL_shutdown(ssl);
	rc = 0;
out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	EVP_PKEY_free(client_key);
	return rc;
}
