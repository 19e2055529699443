/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for proto/ticket: connect tickets arrive from clients in
 * HELLO, so ticket_parse and ticket_verify see untrusted bytes.
 *
 * 1. The input as a ticket: parse it, verify it with a key made at start-up.
 *    Nothing the fuzzer makes may ever verify: that would be a forgery.
 * 2. If it parses, the same fields signed with that key: this drives the
 *    checks behind the signature (times, agent, desktop, replay) with
 *    fuzzer-chosen values, and whatever is accepted must obey the rules.
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

static EVP_PKEY *key;
static struct ticket_verifier *verifier;

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
	verifier = key ? ticket_verifier_new(key, AGENT, 1024) : NULL;
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
	struct ticket t, got;
	uint8_t signed_buf[TICKET_WIRE_MAX];
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
		int vrc = ticket_verify(verifier, data, size, i ? NULL : DESKTOP, now, &got);
		if (vrc == 0)
			die("a fuzzed ticket verified: forged signature");
		if (!is_error(vrc))
			die("ticket_verify returned an unexpected code");
	}
	if (rc != 0)
		return 0;

	/* 2: the same fields, signed: the checks behind the signature */
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
		rc = ticket_verify(v, signed_buf, signed_len, desktop, now, &got);
		if (rc == 0) {
			check_accepted(&got, desktop, now);
			if (memcmp(got.id, t.id, TICKET_ID_LEN) != 0)
				die("accepted ticket's id differs");
			/* used once: refused the second time */
			if (ticket_verify(v, signed_buf, signed_len, desktop, now, NULL) !=
			    HR_ETICKET_REPLAYED)
				die("a ticket was accepted twice");
		} else if (!is_error(rc) || rc == HR_ETICKET_SIGNATURE ||
			   rc == HR_ETICKET_REPLAYED || rc == HR_ETICKET_CACHE_FULL) {
			die("a properly signed, unused ticket got an impossible verdict");
		}
		ticket_verifier_free(v);
	}
	return 0;
}
