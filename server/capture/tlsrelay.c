/* SPDX-License-Identifier: MIT */
#include "tlsrelay.h"

#include "clock.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_BUF 16384 /* one TLS record's worth each way */

/* What the last attempt on a side was waiting for. */
enum want {
	WANT_NONE = 0,
	WANT_IN = POLLIN,
	WANT_OUT = POLLOUT,
};

struct link {
	SSL *ssl;
	int tcp;   /* the TLS socket */
	int plain; /* our end of the pair */
	bool dead;
	uint8_t down[RELAY_BUF]; /* TLS -> library */
	size_t down_off, down_len;
	uint8_t up[RELAY_BUF]; /* library -> TLS */
	size_t up_off, up_len;
	short tcp_want, plain_want;
};

struct tls_relay {
	struct link links[TLS_RELAY_MAX];
	int nlinks;
	int stop[2]; /* a pipe: writing to [1] stops the thread */
	pthread_t thread;
	bool running;
};

struct tls_relay *tls_relay_new(void)
{
	struct tls_relay *r = calloc(1, sizeof(*r));

	if (!r || pipe2(r->stop, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_error("tls relay: %s", r ? strerror(errno) : "out of memory");
		free(r);
		return NULL;
	}
	return r;
}

static void tls_why(SSL *ssl, int rc, char *why, size_t whylen)
{
	long v = SSL_get_verify_result(ssl);
	unsigned long e;

	if (v != X509_V_OK) {
		snprintf(why, whylen, "its TLS certificate does not verify: %s",
			 X509_verify_cert_error_string(v));
	} else if ((e = ERR_peek_last_error()) != 0) {
		char buf[160];
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(why, whylen, "the TLS handshake failed: %s", buf);
	} else {
		snprintf(why, whylen, "the TLS handshake failed (%s)",
			 SSL_get_error(ssl, rc) == SSL_ERROR_SYSCALL ? "the connection closed"
								     : "no reason given");
	}
	ERR_clear_error();
}

int tls_relay_add(struct tls_relay *r, struct tls_ctx *ctx, const char *name, int tcp_fd,
		  int timeout_ms, int *plain_fd, char *why, size_t whylen)
{
	int64_t deadline = clock_mono_ms() + timeout_ms;
	int pair[2] = {-1, -1};
	SSL *ssl = NULL;

	if (r->running || r->nlinks == TLS_RELAY_MAX) {
		snprintf(why, whylen, "too many TLS connections for one relay");
		goto fail;
	}
	ssl = tls_client_ssl(ctx, name);
	if (!ssl || SSL_set_fd(ssl, tcp_fd) != 1) {
		snprintf(why, whylen, "a TLS session cannot be created");
		goto fail;
	}
	fcntl(tcp_fd, F_SETFL, fcntl(tcp_fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		int rc = SSL_connect(ssl);
		if (rc == 1)
			break;
		int err = SSL_get_error(ssl, rc);
		int64_t left = deadline - clock_mono_ms();
		if ((err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) || left <= 0) {
			if (left <= 0 &&
			    (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE))
				snprintf(why, whylen, "no TLS answer within %d ms", timeout_ms);
			else
				tls_why(ssl, rc, why, whylen);
			goto fail;
		}
		struct pollfd p = {.fd = tcp_fd,
				   .events = err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
			snprintf(why, whylen, "%s", strerror(errno));
			goto fail;
		}
	}
	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		goto fail;
	}
	struct link *l = &r->links[r->nlinks++];
	memset(l, 0, sizeof(*l));
	l->ssl = ssl;
	l->tcp = tcp_fd;
	l->plain = pair[0];
	*plain_fd = pair[1];
	log_debug("tls relay: %s: %s, %s", name, SSL_get_version(ssl), SSL_get_cipher(ssl));
	return 0;
fail:
	SSL_free(ssl);
	close(tcp_fd);
	return -1;
}

static void link_close(struct link *l)
{
	if (l->dead)
		return;
	l->dead = true;
	SSL_shutdown(l->ssl); /* best effort: the socket is non-blocking */
	SSL_free(l->ssl);
	l->ssl = NULL;
	close(l->tcp);
	close(l->plain);
}

/* After an SSL call that moved nothing: what the TLS socket must wait for; false when l is done. */
static bool ssl_wait(struct link *l, int rc)
{
	switch (SSL_get_error(l->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		l->tcp_want |= WANT_IN;
		return true;
	case SSL_ERROR_WANT_WRITE:
		l->tcp_want |= WANT_OUT;
		return true;
	default:
		return false;
	}
}

/* One round of moving bytes on l. True when anything moved. */
static bool pump(struct link *l)
{
	bool moved = false;
	ssize_t n;
	int rc;

	l->tcp_want = l->plain_want = WANT_NONE;
	/* TLS -> library */
	if (l->down_len == 0) {
		rc = SSL_read(l->ssl, l->down, sizeof(l->down));
		if (rc > 0) {
			l->down_off = 0;
			l->down_len = (size_t)rc;
			moved = true;
		} else if (!ssl_wait(l, rc)) {
			goto gone; /* closed, or a TLS error */
		}
	}
	if (l->down_len > 0) {
		n = write(l->plain, l->down + l->down_off, l->down_len);
		if (n > 0) {
			l->down_off += (size_t)n;
			l->down_len -= (size_t)n;
			moved = true;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			l->plain_want |= WANT_OUT;
		} else {
			goto gone;
		}
	}
	/* library -> TLS */
	if (l->up_len == 0) {
		n = read(l->plain, l->up, sizeof(l->up));
		if (n > 0) {
			l->up_off = 0;
			l->up_len = (size_t)n;
			moved = true;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			l->plain_want |= WANT_IN;
		} else {
			goto gone; /* the library closed its end */
		}
	}
	if (l->up_len > 0) {
		rc = SSL_write(l->ssl, l->up + l->up_off, (int)l->up_len);
		if (rc > 0) {
			l->up_off += (size_t)rc;
			l->up_len -= (size_t)rc;
			moved = true;
		} else if (!ssl_wait(l, rc)) {
			goto gone;
		}
	}
	return moved;
gone:
	ERR_clear_error();
	link_close(l);
	return false;
}

static void *relay_main(void *arg)
{
	struct tls_relay *r = arg;
	struct pollfd p[1 + 2 * TLS_RELAY_MAX];

	for (;;) {
		int n = 0, live = 0;

		for (int i = 0; i < r->nlinks; i++) {
			struct link *l = &r->links[i];
			while (!l->dead && pump(l))
				;
		}
		p[n++] = (struct pollfd){.fd = r->stop[0], .events = POLLIN};
		for (int i = 0; i < r->nlinks; i++) {
			struct link *l = &r->links[i];
			if (l->dead)
				continue;
			live++;
			p[n++] = (struct pollfd){.fd = l->tcp, .events = l->tcp_want};
			p[n++] = (struct pollfd){.fd = l->plain, .events = l->plain_want};
		}
		if (live == 0)
			break;
		if (poll(p, (nfds_t)n, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
	}
	return NULL;
}

int tls_relay_start(struct tls_relay *r)
{
	int rc = pthread_create(&r->thread, NULL, relay_main, r);

	if (rc != 0)
		return -rc;
	pthread_setname_np(r->thread, "hr-tlsrelay");
	r->running = true;
	return 0;
}

void tls_relay_free(struct tls_relay *r)
{
	if (!r)
		return;
	if (r->running) {
		(void)!write(r->stop[1], "x", 1);
		pthread_join(r->thread, NULL);
	}
	for (int i = 0; i < r->nlinks; i++)
		link_close(&r->links[i]);
	close(r->stop[0]);
	close(r->stop[1]);
	free(r);
}
