/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for proto/ticket: connect tickets arrive from clients in
 * HELLO, so ticket_parse and ticket_verify see untrusted bytes.
 *
 * 1. The input as a ticket: parse it, verify it with a key made at start-up.
 *    Nothing the fuzzer makes may ever verify: that would be a forgery.
 * 2. If it parses, the same fields signed with that key: this drives the
 *    checks behind the signature (times, agent, desktop, binding, replay)
 *    with fuzzer-chosen values, and whatever is accepted must obey the rules.
 *    An input bit keeps the fuzzer's client key (whose private half nobody
 *    has: never bound) or puts in the test client's, whose proof then binds
 *    it to the test connection and to no other.
 */
#include "error.h"
#include "ticket.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AGENT	"agent-7"
#define DESKTOP "desk-1"

static EVP_PKEY *key, *client_key;
static uint8_t client_pub[TICKET_CLIENT_KEY_LEN];
static struct ticket_verifier *verifier;
/* two connections' keying material (tls_export_binding) */
static const uint8_t exporter[TICKET_EXPORTER_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t other_exporter[TICKET_EXPORTER_LEN] = {8, 7, 6, 5, 4, 3, 2, 1};

static void die(const char *why)
{
	fprintf(stderr, "fuzz_ticket: %s\n", why);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	client_key = ticket_client_key_new(client_pub);
	verifier = key && client_key ? ticket_verifier_new(key, AGENT, 1024) : NULL;
	if (!verifier)
		die("cannot make the verifier");
	return 0;
}

static int is_error(int rc)
{
	switch (rc) {
	case HR_ETICKET_MALFORMED:
	case HR_ETICKET_SIGNATURE:
	case HR_ETICKET_EXPIRED:
	case HR_ETICKET_NOT_YET_VALID:
	case HR_ETICKET_REPLAYED:
	case HR_ETICKET_WRONG_AGENT:
	case HR_ETICKET_WRONG_DESKTOP:
	case HR_ETICKET_CACHE_FULL:
	case HR_ETICKET_UNBOUND:
		return 1;
	default:
		return 0;
	}
}

static void check_names(const struct ticket *t)
{
	/* NUL-terminated within their arrays, non-empty where required */
	if (strnlen(t->user, sizeof(t->user)) > TICKET_NAME_MAX ||
	    strnlen(t->desktop, sizeof(t->desktop)) > TICKET_NAME_MAX ||
	    strnlen(t->agent, sizeof(t->agent)) > TICKET_NAME_MAX ||
	    strnlen(t->session, sizeof(t->session)) > TICKET_NAME_MAX)
		die("a parsed name is not terminated");
	if (!t->user[0] || !t->desktop[0] || !t->agent[0])
		die("a parsed name is empty");
}

/* The test client's proof for id on the connection with keying material exp. */
static const struct ticket_bind *prove(struct ticket_bind *b, uint8_t proof[TICKET_BIND_LEN],
				       const uint8_t *id, const uint8_t *exp)
{
	if (ticket_bind_sign(client_key, id, exp, proof) != 0)
		die("cannot sign a binding proof");
	*b = (struct ticket_bind){.exporter = exp, .proof = proof, .proof_len = TICKET_BIND_LEN};
	return b;
}

/* The fields of an accepted ticket must satisfy every rule ticket.h states. */
static void check_accepted(const struct ticket *t, const char *desktop, int64_t now)
{
	check_names(t);
	if (strcmp(t->agent, AGENT) != 0)
		die("accepted a ticket for another agent");
	if (desktop && strcmp(t->desktop, desktop) != 0)
		die("accepted a ticket for another desktop");
	if (t->expires <= t->issued || t->expires - t->issued > TICKET_LIFETIME_MAX)
		die("accepted a ticket with a bad lifetime");
	if (now < t->issued - TICKET_SKEW || now > t->expires + TICKET_SKEW)
		die("accepted a ticket outside its time window");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero_id[TICKET_ID_LEN];
	struct ticket t, got;
	struct ticket_bind bind;
	uint8_t signed_buf[TICKET_WIRE_MAX], proof[TICKET_BIND_LEN];
	size_t signed_len = 0;
	char idhex[17];
	int rc;

	/* 1: the bytes as they came */
	rc = ticket_parse(data, size, &t);
	if (rc != 0 && rc != HR_ETICKET_MALFORMED)
		die("ticket_parse returned an unexpected code");
	if (rc == 0) {
		check_names(&t);
		ticket_id_short(&t, idhex);
		if (strlen(idhex) != 16)
			die("ticket_id_short");
	}
	for (int i = 0; i < 2; i++) {
		int64_t now = rc == 0 && i ? t.issued : 1790000000;
		/* even with the test client's honest proof: the broker's signature is missing */
		int vrc = ticket_verify(verifier, data, size, i ? NULL : DESKTOP, now,
					prove(&bind, proof, rc == 0 ? t.id : zero_id, exporter),
					&got);
		if (vrc == 0)
			die("a fuzzed ticket verified: forged signature");
		if (!is_error(vrc))
			die("ticket_verify returned an unexpected code");
	}
	if (rc != 0)
		return 0;

	/* 2: the same fields, signed: the checks behind the signature */
	int own_key = data[size - 3] & 1; /* keep the fuzzer's client key */
	if (!own_key)
		memcpy(t.client_key, client_pub, TICKET_CLIENT_KEY_LEN);
	rc = ticket_sign(&t, key, signed_buf, sizeof(signed_buf), &signed_len);
	if (rc != 0)
		die("cannot sign fields that parsed");
	{
		/* a clock near the ticket's times, chosen by the input */
		int64_t now = (int64_t)((uint64_t)t.issued + (uint64_t)(int8_t)data[size - 1]);
		const char *desktop = data[size - 2] & 1 ? NULL : DESKTOP;
		struct ticket_verifier *v = ticket_verifier_new(key, AGENT, 1);

		if (!v)
			die("cannot make a verifier");
		/* relayed onto another connection first: refused, and not used up */
		prove(&bind, proof, t.id, other_exporter);
		bind.exporter = exporter; /* this connection's keying material, not the proof's */
		rc = ticket_verify(v, signed_buf, signed_len, desktop, now, &bind, &got);
		if (rc == 0 || rc == HR_ETICKET_REPLAYED || rc == HR_ETICKET_CACHE_FULL)
			die("a proof for another connection was taken");
		rc = ticket_verify(v, signed_buf, signed_len, desktop, now,
				   prove(&bind, proof, t.id, exporter), &got);
		if (rc == 0) {
			check_accepted(&got, desktop, now);
			if (memcmp(got.id, t.id, TICKET_ID_LEN) != 0)
				die("accepted ticket's id differs");
			if (memcmp(got.client_key, client_pub, TICKET_CLIENT_KEY_LEN) != 0)
				die("accepted a proof by a key the ticket does not name");
			/* used once: refused the second time */
			if (ticket_verify(v, signed_buf, signed_len, desktop, now, &bind, NULL) !=
			    HR_ETICKET_REPLAYED)
				die("a ticket was accepted twice");
		} else if (!is_error(rc) || rc == HR_ETICKET_SIGNATURE ||
			   rc == HR_ETICKET_REPLAYED || rc == HR_ETICKET_CACHE_FULL ||
			   (rc == HR_ETICKET_UNBOUND && !own_key)) {
			die("a properly signed, unused ticket got an impossible verdict");
		}
		ticket_verifier_free(v);
	}
	return 0;
}
