/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_RESUME_H
#define HIGHRISE_RESUME_H

/*
 * Resume without the broker (docs/protocol.md §6.4). WELCOME hands the
 * client a grant: a random id and a 256-bit secret. After a dropped
 * connection the client opens a new TLS connection and sends, in HELLO
 * without a ticket, the id and
 *
 *   mac = HMAC-SHA256(secret, "highrise resume v1" NUL || id || exporter)
 *
 * where exporter is the new connection's tls_export_binding. The secret
 * itself never crosses the wire again, and the mac is useless on any other
 * connection. A grant is single use: the agent forgets it the moment a
 * proof for it verifies and sends a fresh one in the next WELCOME. It lives
 * while its connection does and for a window (the agent's
 * session.resume_window_s) after that connection drops; the broker revokes
 * it by ending the session.
 *
 * resume_mac is what both ends compute. struct resume_table is the agent's
 * bounded set of live grants; it does no I/O and belongs to one thread
 * (the agent's event loop).
 */

#include <stddef.h>
#include <stdint.h>

#define RESUME_ID_LEN	    16
#define RESUME_SECRET_LEN   32
#define RESUME_MAC_LEN	    32
#define RESUME_GRANT_LEN    (RESUME_ID_LEN + RESUME_SECRET_LEN) /* WELCOME.resume */
#define RESUME_PROOF_LEN    (RESUME_ID_LEN + RESUME_MAC_LEN)	/* HELLO.proof */
#define RESUME_EXPORTER_LEN 32
#define RESUME_NAME_MAX	    128

/* The proof for one connection: 0, or -EIO when HMAC fails. Pure. */
int resume_mac(const uint8_t secret[RESUME_SECRET_LEN], const uint8_t id[RESUME_ID_LEN],
	       const uint8_t exporter[RESUME_EXPORTER_LEN], uint8_t mac[RESUME_MAC_LEN]);

/* HELLO.proof from a grant: id || resume_mac. 0 or -EIO. */
int resume_proof(const uint8_t grant[RESUME_GRANT_LEN], const uint8_t exporter[RESUME_EXPORTER_LEN],
		 uint8_t proof[RESUME_PROOF_LEN]);

/* What a grant stands for: the session it lets its holder back into. */
struct resume_who {
	char user[RESUME_NAME_MAX + 1];
	char desktop[RESUME_NAME_MAX + 1];
	char session[RESUME_NAME_MAX + 1]; /* the broker's session id; "" without a broker */
};

struct resume_table;

/* At most max live grants (0: 4096). NULL when out of memory. */
struct resume_table *resume_table_new(size_t max);
void resume_table_free(struct resume_table *t);

/*
 * A fresh grant for who, held by owner (the connection that will carry it;
 * opaque here, handed back by resume_claim so the caller can evict it).
 * Writes id || secret to grant. When the table is full, the parked grant
 * whose window ends first goes. 0, -ENOMEM (full of held grants), or -EIO
 * (no randomness).
 */
int resume_grant(struct resume_table *t, const struct resume_who *who, void *owner,
		 uint8_t grant[RESUME_GRANT_LEN]);

/*
 * A HELLO's proof at now_ms: on success the grant is gone (single use),
 * *who says whose session it was and *old_owner the connection that still
 * holds it (NULL when it had dropped): evict that one. Returns 0,
 * HR_ERESUME_UNKNOWN (no live grant with that id: used, revoked, expired,
 * or a proof of the wrong length) or HR_ERESUME_PROOF (the mac does not
 * match this connection's exporter; the grant stays for its real holder).
 */
int resume_claim(struct resume_table *t, const uint8_t *proof, size_t len,
		 const uint8_t exporter[RESUME_EXPORTER_LEN], int64_t now_ms,
		 struct resume_who *who, void **old_owner);

/*
 * owner's connection dropped: its grant stays valid until until_ms (<= now
 * forgets it at once). Grants of other owners are untouched.
 */
void resume_park(struct resume_table *t, void *owner, int64_t until_ms);

/* Forgets owner's grant (a clean BYE: nothing to resume). */
void resume_drop(struct resume_table *t, void *owner);

/*
 * Forgets every grant whose window ended by now_ms, calling expired(who, ud)
 * for each (the agent tells the broker the session is disconnected), and
 * every grant of session when session is not NULL (the broker ended it;
 * expired is not called for those). Returns how many went.
 */
size_t resume_sweep(struct resume_table *t, int64_t now_ms, const char *session,
		    void (*expired)(const struct resume_who *who, void *ud), void *ud);

/* Live grants (held or parked). */
size_t resume_count(const struct resume_table *t);

#endif
