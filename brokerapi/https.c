/* SPDX-License-Identifier: MIT */
/*
 * The blocking HTTPS/1.1 client (https.h): resolve, connect with a deadline,
 * TLS 1.3 with verification, one request, read to the end.
 */
#include "https.h"

#include "clock.h"
#include "hostport.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 10000
#define HEAD_MAX	   (64 * 1024)

int https_parse_url(const char *url, char *host, size_t hostcap, char *port, size_t portcap)
{
	int p;

	if (!url || strncasecmp(url, "https://", 8) != 0)
		return -HTTPS_EURL;
	if (hostport_parse(url + 8, strcspn(url + 8, "/?#"), host, hostcap, &p, 8443, 0) < 0)
		return -HTTPS_EURL;
	int n = snprintf(port, portcap, "%d", p);
	if (n < 0 || (size_t)n >= portcap)
		return -HTTPS_EURL;
	return 0;
}

void https_response_deinit(struct https_response *res)
{
	if (!res)
		return;
	free(res->body);
	res->body = NULL;
	res->len = 0;
}

/* A TCP connection to host:port within timeout_ms (every address tried), or -errno. */
static int dial(const char *host, const char *port, int timeout_ms, char *why, size_t whylen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG}, *ai, *a;
	int64_t deadline = clock_mono_ms() + timeout_ms;
	int fd = -1, err = ECONNREFUSED, rc;

	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		snprintf(why, whylen, "%s", rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	for (a = ai; a; a = a->ai_next) {
		struct pollfd pfd;
		socklen_t len = sizeof(err);
		int left = (int)(deadline - clock_mono_ms());

		if (left <= 0) {
			err = ETIMEDOUT;
			break;
		}
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			err = errno;
			goto next;
		}
		pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
		rc = poll(&pfd, 1, left);
		if (rc == 0) {
			err = ETIMEDOUT;
			goto next;
		}
		if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
			err = errno;
			goto next;
		}
		if (err == 0)
			break;
	next:
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(err));
		return -err;
	}
	/* back to blocking, with the deadline per read and write */
	{
		struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
		int fl = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	return fd;
}

/*
 * The server's certificate's SPKI hash, also after a failed verification
 * (OpenSSL keeps the chain it received, leaf first, before it verifies).
 */
static int peer_spki(SSL *ssl, uint8_t out[32])
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	X509 *leaf = chain && sk_X509_num(chain) > 0 ? sk_X509_value(chain, 0) : NULL;
	return leaf ? tls_cert_spki_sha256(leaf, out) : -1;
}

/* Why the handshake or I/O failed, as a sentence's tail. */
static void tls_why(SSL *ssl, int ret, char *why, size_t whylen)
{
	int e = errno;
	unsigned long q = ERR_peek_last_error();
	int se = ssl ? SSL_get_error(ssl, ret) : SSL_ERROR_SSL;

	if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE ||
	    (se == SSL_ERROR_SYSCALL && (e == EAGAIN || e == EWOULDBLOCK)))
		snprintf(why, whylen, "timed out");
	else if (se == SSL_ERROR_SYSCALL && e)
		snprintf(why, whylen, "%s", strerror(e));
	else if (se == SSL_ERROR_SYSCALL || se == SSL_ERROR_ZERO_RETURN)
		snprintf(why, whylen, "the connection was closed");
	else if (q)
		ERR_error_string_n(q, why, whylen);
	else
		snprintf(why, whylen, "TLS failed");
	ERR_clear_error();
}

/*
 * proto/tls.c configures the context, as for every TLS peer of ours: TLS 1.3,
 * the CA (or the system store), the pin (alone, it decides), a client
 * certificate. NULL with a sentence in err (tls.c logs the details).
 */
static struct tls_ctx *make_ctx(const struct https_target *t, char *err, size_t errlen)
{
	bool cert = t->cert_file && t->cert_file[0];
	struct tls_ctx *ctx = tls_ctx_new(TLS_CLIENT,
					  &(struct tls_cfg){
						  .ca_file = t->ca_file,
						  .pin_sha256 = t->pin_sha256,
						  .cert_file = cert ? t->cert_file : NULL,
						  .key_file = !cert	    ? NULL
							      : t->key_file ? t->key_file
									    : t->cert_file,
					  });
	if (!ctx) {
		ERR_clear_error();
		if (cert)
			hr_errorf(err, errlen,
				  "cannot load the CA file %s, the certificate %s or its key %s",
				  t->ca_file ? t->ca_file : "(system store)", t->cert_file,
				  t->key_file ? t->key_file : t->cert_file);
		else
			hr_errorf(err, errlen, "cannot load the CA file %s",
				  t->ca_file ? t->ca_file : "(system store)");
		return NULL;
	}
	/*
	 * libevent's evhttp closes without close_notify: an end of stream is the
	 * end of the answer, and Content-Length (checked) catches a cut one.
	 */
	SSL_CTX_set_options(tls_ctx_ssl_ctx(ctx), SSL_OP_IGNORE_UNEXPECTED_EOF);
	return ctx;
}

/* Reads the whole answer (the server closes); 0 or -HTTPS_E*. */
static int read_all(SSL *ssl, char **out, size_t *outlen, char *why, size_t whylen)
{
	size_t n = 0, cap = 16384;
	char *buf = malloc(cap + 1);

	if (!buf) {
		snprintf(why, whylen, "out of memory");
		return -HTTPS_EPROTOCOL;
	}
	for (;;) {
		int r;
		if (n == cap) {
			char *nb;
			if (n >= HTTPS_RESPONSE_MAX + HEAD_MAX) {
				snprintf(why, whylen, "the answer is longer than %d bytes",
					 HTTPS_RESPONSE_MAX);
				free(buf);
				return -HTTPS_EPROTOCOL;
			}
			if (cap * 2 > HTTPS_RESPONSE_MAX + HEAD_MAX)
				cap = (HTTPS_RESPONSE_MAX + HEAD_MAX) / 2;
			nb = realloc(buf, cap * 2 + 1);
			if (!nb) {
				free(buf);
				snprintf(why, whylen, "out of memory");
				return -HTTPS_EPROTOCOL;
			}
			buf = nb;
			cap *= 2;
		}
		errno = 0;
		r = SSL_read(ssl, buf + n, (int)(cap - n));
		if (r > 0) {
			n += (size_t)r;
			continue;
		}
		if (SSL_get_error(ssl, r) == SSL_ERROR_ZERO_RETURN)
			break;
		/* a peer that closes without close_notify: what came is the answer */
		if (SSL_get_error(ssl, r) == SSL_ERROR_SYSCALL && errno == 0 && n > 0) {
			ERR_clear_error();
			break;
		}
		tls_why(ssl, r, why, whylen);
		free(buf);
		return -HTTPS_EUNREACHABLE;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

/* Splits raw "HTTP/1.x NNN ...\r\n headers \r\n\r\n body" into res. */
int https_parse_response(char *raw, size_t n, struct https_response *res)
{
	char *body = strstr(raw, "\r\n\r\n"), *h;
	long clen = -1;

	if (!body || sscanf(raw, "HTTP/1.%*1[01] %3d", &res->status) != 1 || res->status < 100 ||
	    res->status > 599)
		return -1;
	*body = '\0';
	body += 4;
	res->retry_after_s = -1;
	res->body = NULL;
	res->len = 0;
	for (h = strstr(raw, "\r\n"); h; h = strstr(h + 2, "\r\n")) {
		const char *line = h + 2;
		if (strncasecmp(line, "Content-Length:", 15) == 0)
			clen = strtol(line + 15, NULL, 10);
		else if (strncasecmp(line, "Retry-After:", 12) == 0)
			res->retry_after_s = (int)strtol(line + 12, NULL, 10);
		else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
			 strcasestr(line, "chunked"))
			return -1; /* the broker never chunks; refuse rather than guess */
	}
	res->len = n - (size_t)(body - raw);
	if (clen >= 0 && (size_t)clen > res->len)
		return -1; /* cut short */
	if (clen >= 0)
		res->len = (size_t)clen;
	memmove(raw, body, res->len);
	raw[res->len] = '\0';
	res->body = raw;
	return 0;
}

int https_request(const struct https_target *t, const char *who, const char *method,
		  const char *path, const char *bearer, const char *json_body,
		  struct https_response *res, char *err, size_t errlen)
{
	char host[256], port[8], hostport[300], why[256] = "", *req = NULL, *raw = NULL;
	int timeout = t->timeout_ms > 0 ? t->timeout_ms : DEFAULT_TIMEOUT_MS;
	uint8_t want[32], got[32];
	struct tls_ctx *ctx = NULL;
	SSL *ssl = NULL;
	size_t rawlen = 0;
	int fd = -1, rc, len;

	memset(res, 0, sizeof(*res));
	res->retry_after_s = -1;
	if (!who)
		who = "the server";
	if (https_parse_url(t->url, host, sizeof(host), port, sizeof(port)) < 0) {
		hr_errorf(err, errlen, "the address of %s (%s) must be https://HOST[:PORT]", who,
			  t->url ? t->url : "(none)");
		return -HTTPS_EURL;
	}
	hostport_format(hostport, sizeof(hostport), host, atoi(port));
	if (t->pin_sha256 && tls_parse_pin(t->pin_sha256, want) < 0) {
		hr_errorf(err, errlen, "the pin for %s must be 64 hex digits (SHA-256)", who);
		return -HTTPS_EURL;
	}
	ctx = make_ctx(t, err, errlen);
	if (!ctx)
		return -HTTPS_EFILE;

	fd = dial(host, port, timeout, why, sizeof(why));
	if (fd < 0) {
		hr_errorf(err, errlen, "cannot reach %s at %s: %s", who, hostport, why);
		rc = -HTTPS_EUNREACHABLE;
		goto out;
	}
	ssl = tls_client_ssl(ctx, host); /* SNI for names; the name or address verified */
	if (!ssl || SSL_set_fd(ssl, fd) != 1) {
		hr_errorf(err, errlen, "cannot set up TLS (out of memory?)");
		rc = -HTTPS_EUNREACHABLE;
		goto out;
	}
	errno = 0;
	rc = SSL_connect(ssl);
	if (rc != 1) {
		long v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK) {
			char hex[65] = "(unknown)";
			if (peer_spki(ssl, got) == 0)
				tls_hex(got, hex);
			if (v == X509_V_ERR_APPLICATION_VERIFICATION && t->pin_sha256)
				hr_errorf(err, errlen,
					  "the certificate of %s at %s does not match the pinned "
					  "SHA-256 (it is %s)",
					  who, hostport, hex);
			else
				hr_errorf(err, errlen,
					  "the certificate of %s at %s is not trusted (%s); its "
					  "SHA-256 public key fingerprint is %s",
					  who, hostport, X509_verify_cert_error_string(v), hex);
			ERR_clear_error();
			rc = -HTTPS_EUNTRUSTED;
		} else {
			tls_why(ssl, rc, why, sizeof(why));
			hr_errorf(err, errlen, "cannot reach %s at %s: %s", who, hostport, why);
			rc = -HTTPS_EUNREACHABLE;
		}
		goto out;
	}

	len = asprintf(&req,
		       "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nAccept: "
		       "application/json\r\n%s%s%sContent-Type: application/json\r\n"
		       "Content-Length: %zu\r\n\r\n%s",
		       method, path, hostport, bearer ? "Authorization: Bearer " : "",
		       bearer ? bearer : "", bearer ? "\r\n" : "",
		       json_body ? strlen(json_body) : 0, json_body ? json_body : "");
	if (len < 0) {
		hr_errorf(err, errlen, "out of memory");
		rc = -HTTPS_EPROTOCOL;
		goto out;
	}
	errno = 0;
	rc = SSL_write(ssl, req, len);
	if (rc != len) {
		tls_why(ssl, rc, why, sizeof(why));
		hr_errorf(err, errlen, "lost the connection to %s at %s: %s", who, hostport, why);
		rc = -HTTPS_EUNREACHABLE;
		goto out;
	}
	rc = read_all(ssl, &raw, &rawlen, why, sizeof(why));
	if (rc < 0) {
		hr_errorf(err, errlen, "lost the connection to %s at %s: %s", who, hostport, why);
		goto out;
	}
	if (https_parse_response(raw, rawlen, res) < 0) {
		hr_errorf(err, errlen, "the answer of %s at %s is not HTTP/1.1 as expected", who,
			  hostport);
		rc = -HTTPS_EPROTOCOL;
		goto out;
	}
	raw = NULL; /* res->body now */
	rc = 0;
out:
	if (req) {
		OPENSSL_cleanse(req, (size_t)strlen(req)); /* it may hold a password or token */
		free(req);
	}
	free(raw);
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
	tls_ctx_free(ctx);
	return rc;
}
