/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_TICKET_H
#define HIGHRISE_TICKET_H

/*
 * Connect tickets (DESIGN.md "Choices already made", docs/protocol.md §Tickets).
 *
 * The broker signs {id, user, desktop, agent, session, issued, expires,
 * client_key} with its Ed25519 key; the client hands the ticket to the agent
 * in HELLO together with a proof that binds it to that TLS connection: an
 * Ed25519 signature, by the private half of client_key (which only the
 * client holds), over the ticket id and the connection's keying material
 * (tls_export_binding). A ticket copied off one connection is useless on
 * another. The agent verifies both with the broker's public key. Agents
 * never see passwords.
 *
 * A ticket lives at most TICKET_LIFETIME_MAX seconds. Verification allows
 * TICKET_SKEW seconds of clock difference either way, checks that the ticket
 * is for this agent and the desktop asked for, and refuses a second use of
 * the same id for as long as the ticket could still be accepted.
 */

#include "name.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define TICKET_VERSION	      2 /* 1 had no client key: refused as malformed */
#define TICKET_ID_LEN	      32
#define TICKET_SIG_LEN	      64
#define TICKET_CLIENT_KEY_LEN 32	  /* raw Ed25519 public key (RFC 8032) */
#define TICKET_BIND_LEN	      64	  /* the HELLO proof: an Ed25519 signature */
#define TICKET_EXPORTER_LEN   32	  /* tls_export_binding's output */
#define TICKET_NAME_MAX	      HR_NAME_MAX /* bytes of user, desktop, agent, session (name.h) */
#define TICKET_LIFETIME_MAX   60	  /* seconds */
#define TICKET_SKEW	      30	  /* seconds of clock difference tolerated */
#define TICKET_WIRE_MAX                                                               \
	(1 + TICKET_ID_LEN + 16 + 4 * (1 + TICKET_NAME_MAX) + TICKET_CLIENT_KEY_LEN + \
	 TICKET_SIG_LEN)

struct ticket {
	uint8_t id[TICKET_ID_LEN]; /* random, unique per ticket */
	int64_t issued, expires;   /* Unix time, seconds */
	char user[TICKET_NAME_MAX + 1];
	char desktop[TICKET_NAME_MAX + 1];
	char agent[TICKET_NAME_MAX + 1];
	char session[TICKET_NAME_MAX + 1];
	uint8_t client_key[TICKET_CLIENT_KEY_LEN]; /* the client's Ed25519 public key */
};

/*
 * What a HELLO carries besides the ticket: the keying material of the TLS
 * connection it arrived on (the agent's own tls_export_binding) and the
 * client's proof (TICKET_BIND_LEN bytes; anything else is refused).
 */
struct ticket_bind {
	const uint8_t *exporter; /* TICKET_EXPORTER_LEN bytes */
	const uint8_t *proof;
	size_t proof_len;
};

/*
 * Fills t with a fresh random id, the names (each by name.h's rule: 1..128
 * of A-Z a-z 0-9 . _ @ -; session may be empty), the client's public key and
 * issued = now, expires = now + lifetime (1..TICKET_LIFETIME_MAX). Returns 0,
 * HR_ETICKET_MALFORMED (a name or lifetime out of range, now + lifetime past
 * INT64_MAX, or no client key), or -EIO when the random generator fails.
 */
int ticket_init(struct ticket *t, const char *user, const char *desktop, const char *agent,
		const char *session, const uint8_t client_key[TICKET_CLIENT_KEY_LEN], int64_t now,
		int lifetime);

/*
 * The client's side of the binding: signs "highrise ticket binding v1" NUL
 * || id || exporter with client_priv (Ed25519) into proof. 0, or
 * HR_ETICKET_SIGNATURE (not an Ed25519 key, or signing failed).
 */
int ticket_bind_sign(EVP_PKEY *client_priv, const uint8_t id[TICKET_ID_LEN],
		     const uint8_t exporter[TICKET_EXPORTER_LEN], uint8_t proof[TICKET_BIND_LEN]);

/* A fresh Ed25519 key pair for one connect; its raw public half in pub. NULL on failure. */
EVP_PKEY *ticket_client_key_new(uint8_t pub[TICKET_CLIENT_KEY_LEN]);
/* The raw public half of an Ed25519 key: 0, or HR_ETICKET_SIGNATURE for another key type. */
int ticket_client_key_public(EVP_PKEY *key, uint8_t pub[TICKET_CLIENT_KEY_LEN]);

/* Signs t with an Ed25519 private key into out (>= TICKET_WIRE_MAX is always enough). */
int ticket_sign(const struct ticket *t, EVP_PKEY *key, uint8_t *out, size_t cap, size_t *out_len);

/*
 * A ticket and its client's private key as one PEM text, what
 * highrise-ticket writes and `highrise-probe --ticket` reads:
 *
 *   -----BEGIN HIGHRISE CONNECT TICKET-----   base64 of the ticket bytes
 *   -----BEGIN PRIVATE KEY-----               the Ed25519 client key (PKCS#8)
 *
 * encode: malloc'd NUL-terminated text, NULL (logged) on failure.
 * decode: 0, -EINVAL (not a bundle, a part missing, or a key that is not the
 * ticket's client_key; logged), -ENOSPC (ticket longer than cap); the
 * caller frees *client_key.
 */
char *ticket_bundle_encode(const uint8_t *ticket, size_t len, EVP_PKEY *client_key);
int ticket_bundle_decode(const char *text, size_t len, uint8_t *ticket, size_t cap,
			 size_t *ticket_len, EVP_PKEY **client_key);

/* Parses the fields without checking the signature or times (for logs and tools). */
int ticket_parse(const uint8_t *buf, size_t len, struct ticket *out);

/* PEM keys as written by `highrise-certs ticket-key`. NULL (and a log line) on failure. */
EVP_PKEY *ticket_key_load_private(const char *path);
/* A public key file, or a private key file whose public half is used. */
EVP_PKEY *ticket_key_load_public(const char *path);

struct ticket_verifier;

/*
 * A verifier for one agent. Takes a reference to pub (the caller keeps its
 * own). max_live bounds the replay cache (0: 100000 ids); once that many
 * unexpired tickets were used, new ones get HR_ETICKET_CACHE_FULL until some
 * expire, rather than forgetting ids and allowing replays.
 * Thread-safe: ticket_verify may be called from several threads.
 */
struct ticket_verifier *ticket_verifier_new(EVP_PKEY *pub, const char *agent, size_t max_live);
void ticket_verifier_free(struct ticket_verifier *v);

/*
 * Verifies buf for this verifier's agent and the given desktop (NULL: any)
 * at time now, and that bind proves the ticket's client key on this
 * connection (bind NULL: no proof, refused). Returns 0 and the ticket in
 * *out (may be NULL), or one of HR_ETICKET_MALFORMED, _SIGNATURE, _EXPIRED,
 * _NOT_YET_VALID, _WRONG_AGENT, _WRONG_DESKTOP, _UNBOUND, _REPLAYED,
 * _CACHE_FULL. A ticket that verified is remembered and refused the next
 * time; one refused for its binding is not (so a copy presented first by
 * someone else does not use up the real client's ticket).
 */
int ticket_verify(struct ticket_verifier *v, const uint8_t *buf, size_t len, const char *desktop,
		  int64_t now, const struct ticket_bind *bind, struct ticket *out);

/* Lower-case hex of the id's first 8 bytes, for logs (never log the whole ticket). */
void ticket_id_short(const struct ticket *t, char out[17]);

#endif
