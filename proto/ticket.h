/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_TICKET_H
#define HIGHRISE_TICKET_H

/*
 * Connect tickets (DESIGN.md "Choices already made", docs/protocol.md §Tickets).
 *
 * The broker signs {id, user, desktop, agent, session, issued, expires} with
 * its Ed25519 key; the client hands the ticket to the agent in HELLO; the
 * agent verifies it with the broker's public key. Agents never see passwords.
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

#define TICKET_VERSION	    1
#define TICKET_ID_LEN	    32
#define TICKET_SIG_LEN	    64
#define TICKET_NAME_MAX	    HR_NAME_MAX /* bytes of user, desktop, agent, session (name.h) */
#define TICKET_LIFETIME_MAX 60		/* seconds */
#define TICKET_SKEW	    30		/* seconds of clock difference tolerated */
#define TICKET_WIRE_MAX	    (1 + TICKET_ID_LEN + 16 + 4 * (1 + TICKET_NAME_MAX) + TICKET_SIG_LEN)

struct ticket {
	uint8_t id[TICKET_ID_LEN]; /* random, unique per ticket */
	int64_t issued, expires;   /* Unix time, seconds */
	char user[TICKET_NAME_MAX + 1];
	char desktop[TICKET_NAME_MAX + 1];
	char agent[TICKET_NAME_MAX + 1];
	char session[TICKET_NAME_MAX + 1];
};

/*
 * Fills t with a fresh random id, the names (each by name.h's rule: 1..128
 * of A-Z a-z 0-9 . _ @ -; session may be empty) and issued = now, expires = now +
 * lifetime (1..TICKET_LIFETIME_MAX). Returns 0, HR_ETICKET_MALFORMED (a name
 * or lifetime out of range, or now + lifetime past INT64_MAX), or -EIO when
 * the random generator fails.
 */
int ticket_init(struct ticket *t, const char *user, const char *desktop, const char *agent,
		const char *session, int64_t now, int lifetime);

/* Signs t with an Ed25519 private key into out (>= TICKET_WIRE_MAX is always enough). */
int ticket_sign(const struct ticket *t, EVP_PKEY *key, uint8_t *out, size_t cap, size_t *out_len);

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
 * at time now. Returns 0 and the ticket in *out (may be NULL), or one of
 * HR_ETICKET_MALFORMED, _SIGNATURE, _EXPIRED, _NOT_YET_VALID,
 * _WRONG_AGENT, _WRONG_DESKTOP, _REPLAYED, _CACHE_FULL. A ticket that
 * verified is remembered and refused the next time.
 */
int ticket_verify(struct ticket_verifier *v, const uint8_t *buf, size_t len, const char *desktop,
		  int64_t now, struct ticket *out);

/* Lower-case hex of the id's first 8 bytes, for logs (never log the whole ticket). */
void ticket_id_short(const struct ticket *t, char out[17]);

#endif
