/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_BROKER_CLIENT_H
#define HIGHRISE_BROKER_CLIENT_H

/*
 * The client's side of the broker's user API (docs/broker-api.md): log in,
 * list the pools this user may use, ask for a desktop (a connect ticket and
 * where to use it), log out. GTK-free, so highrise-probe, the GTK client
 * and the tests share it.
 *
 * The login token is kept in memory only and wiped when replaced or freed;
 * the password is never kept. Every call blocks (brokerapi/https.h, bounded by
 * timeout_ms): call it from a worker thread, never from a UI or event loop.
 * One broker_client is used by one thread at a time.
 *
 * Errors: 0, or a negative code with a sentence for people (the broker's
 * error and hint, or the network/TLS reason) in the caller's buffer:
 *   -EACCES     wrong user name or password (login), or not entitled (connect)
 *   -EKEYEXPIRED the token is unknown or expired: log in again
 *   -EAGAIN     too many attempts or the broker is busy: *retry_after_s says when
 *   -ENOSPC     no desktop available (or the user's desktop is offline)
 *   -ENOENT     no such pool
 *   -EDQUOT     the user has the pool's maximum of sessions
 *   -EHOSTUNREACH the broker cannot be reached (network, TLS, time-out)
 *   -EPERM      the broker's certificate is not trusted (the sentence has its fingerprint)
 *   -EPROTO     the broker answered something this client does not understand
 *   -EINVAL     a bad argument (URL, empty user name)
 */

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker_client_cfg {
	const char *url;     /* https://HOST[:PORT]; required */
	const char *ca_file; /* the broker's CA; NULL: the system store (or the pin alone) */
	const char *pin;     /* SHA-256 of the broker's public key, hex; optional */
	int timeout_ms;	     /* per step; 0: 10000 */
};

struct broker_pool {
	char name[129];
	char kind[16]; /* "floating" or "dedicated" */
};

/* What POST /api/v1/pools/{pool}/connect answered. */
struct broker_desktop {
	char agent[129];   /* the agent's name */
	char address[256]; /* where to connect */
	uint16_t port;
	char *ca_pem;	      /* the agent's CA (PEM), malloc'd; NULL when the broker sent none */
	uint8_t ticket[1024]; /* the connect ticket's bytes */
	size_t ticket_len;
	/*
	 * The private half of the key pair made for this connect, whose public
	 * half the ticket names: it signs the HELLO proof that binds the
	 * ticket to the agent connection (session_cfg.client_key,
	 * docs/protocol.md §6.3). Owned; freed by broker_desktop_deinit.
	 */
	EVP_PKEY *client_key;
	int64_t expires;
	char desktop[129];
	char session[33];
	bool resumed; /* an existing session of this user */
};
void broker_desktop_deinit(struct broker_desktop *d);

struct broker_client;

/* NULL (logged) when out of memory or the URL is not https://HOST[:PORT]. cfg is copied. */
struct broker_client *broker_client_new(const struct broker_client_cfg *cfg);
/* Wipes the token. NULL does nothing. Does not log out (see broker_client_logout). */
void broker_client_free(struct broker_client *bc);

int broker_client_login(struct broker_client *bc, const char *user, const char *password,
			int *retry_after_s, char *err, size_t errlen);
bool broker_client_logged_in(const struct broker_client *bc);
const char *broker_client_user(const struct broker_client *bc);

/* The pools of the logged-in user; *pools is malloc'd (free()), *count may be 0. */
int broker_client_pools(struct broker_client *bc, struct broker_pool **pools, size_t *count,
			char *err, size_t errlen);

/*
 * A desktop of pool: the same session again when the user has one. d is the
 * caller's (broker_desktop_deinit it after a success). Each call makes a
 * fresh Ed25519 key pair and sends its public half as "client_key"; the
 * ticket in d works only with d->client_key.
 */
int broker_client_connect(struct broker_client *bc, const char *pool, struct broker_desktop *d,
			  int *retry_after_s, char *err, size_t errlen);

int broker_client_logout(struct broker_client *bc, char *err, size_t errlen);

#endif
