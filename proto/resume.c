/* SPDX-License-Identifier: MIT */
#include "resume.h"

#include "error.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The mac covers a context string (with its NUL) so it means nothing elsewhere. */
static const char mac_context[] = "highrise resume v1";

int resume_mac(const uint8_t secret[RESUME_SECRET_LEN], const uint8_t id[RESUME_ID_LEN],
	       const uint8_t exporter[RESUME_EXPORTER_LEN], uint8_t mac[RESUME_MAC_LEN])
{
	uint8_t msg[sizeof(mac_context) + RESUME_ID_LEN + RESUME_EXPORTER_LEN];
	unsigned int len = RESUME_MAC_LEN;

	memcpy(msg, mac_context, sizeof(mac_context));
	memcpy(msg + sizeof(mac_context), id, RESUME_ID_LEN);
	memcpy(msg + sizeof(mac_context) + RESUME_ID_LEN, exporter, RESUME_EXPORTER_LEN);
	if (!HMAC(EVP_sha256(), secret, RESUME_SECRET_LEN, msg, sizeof(msg), mac, &len) ||
	    len != RESUME_MAC_LEN)
		return -EIO;
	return 0;
}

int resume_proof(const uint8_t grant[RESUME_GRANT_LEN], const uint8_t exporter[RESUME_EXPORTER_LEN],
		 uint8_t proof[RESUME_PROOF_LEN])
{
	memcpy(proof, grant, RESUME_ID_LEN);
	return resume_mac(grant + RESUME_ID_LEN, grant, exporter, proof + RESUME_ID_LEN);
}

struct entry {
	bool used;
	uint8_t id[RESUME_ID_LEN];
	uint8_t secret[RESUME_SECRET_LEN];
	struct resume_who who;
	void *owner;	  /* the connection holding it; NULL once parked */
	int64_t until_ms; /* parked: valid until then */
};

/*
 * A flat array: a few hundred sessions per agent at most, and every
 * operation is a scan that costs less than the TLS handshake around it.
 */
struct resume_table {
	struct entry *e;
	size_t max, count;
};

struct resume_table *resume_table_new(size_t max)
{
	struct resume_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->max = max ? max : 4096;
	t->e = calloc(t->max, sizeof(*t->e));
	if (!t->e) {
		free(t);
		return NULL;
	}
	return t;
}

static void forget(struct resume_table *t, struct entry *e)
{
	OPENSSL_cleanse(e, sizeof(*e));
	t->count--;
}

void resume_table_free(struct resume_table *t)
{
	if (!t)
		return;
	OPENSSL_cleanse(t->e, t->max * sizeof(*t->e));
	free(t->e);
	free(t);
}

int resume_grant(struct resume_table *t, const struct resume_who *who, void *owner,
		 uint8_t grant[RESUME_GRANT_LEN])
{
	struct entry *slot = NULL, *victim = NULL;

	for (size_t i = 0; i < t->max && !slot; i++)
		if (!t->e[i].used)
			slot = &t->e[i];
	if (!slot) {
		/* full: the parked grant closest to its end goes; held ones stay */
		for (size_t i = 0; i < t->max; i++)
			if (!t->e[i].owner && (!victim || t->e[i].until_ms < victim->until_ms))
				victim = &t->e[i];
		if (!victim)
			return -ENOMEM;
		forget(t, victim);
		slot = victim;
	}
	if (RAND_bytes(slot->id, RESUME_ID_LEN) != 1 ||
	    RAND_bytes(slot->secret, RESUME_SECRET_LEN) != 1) {
		OPENSSL_cleanse(slot, sizeof(*slot));
		return -EIO;
	}
	slot->used = true;
	slot->who = *who;
	slot->owner = owner;
	slot->until_ms = 0;
	t->count++;
	memcpy(grant, slot->id, RESUME_ID_LEN);
	memcpy(grant + RESUME_ID_LEN, slot->secret, RESUME_SECRET_LEN);
	return 0;
}

static struct entry *find_id(struct resume_table *t, const uint8_t *id)
{
	for (size_t i = 0; i < t->max; i++)
		if (t->e[i].used && CRYPTO_memcmp(t->e[i].id, id, RESUME_ID_LEN) == 0)
			return &t->e[i];
	return NULL;
}

int resume_claim(struct resume_table *t, const uint8_t *proof, size_t len,
		 const uint8_t exporter[RESUME_EXPORTER_LEN], int64_t now_ms,
		 struct resume_who *who, void **old_owner)
{
	uint8_t mac[RESUME_MAC_LEN];
	struct entry *e;

	if (!proof || len != RESUME_PROOF_LEN)
		return HR_ERESUME_UNKNOWN;
	e = find_id(t, proof);
	if (!e)
		return HR_ERESUME_UNKNOWN;
	if (!e->owner && e->until_ms <= now_ms) {
		forget(t, e); /* its window ended; the sweep had not come round yet */
		return HR_ERESUME_UNKNOWN;
	}
	if (resume_mac(e->secret, e->id, exporter, mac) < 0 ||
	    CRYPTO_memcmp(mac, proof + RESUME_ID_LEN, RESUME_MAC_LEN) != 0)
		return HR_ERESUME_PROOF;
	*who = e->who;
	*old_owner = e->owner;
	forget(t, e);
	return 0;
}

static struct entry *find_owner(struct resume_table *t, void *owner)
{
	if (!owner)
		return NULL;
	for (size_t i = 0; i < t->max; i++)
		if (t->e[i].used && t->e[i].owner == owner)
			return &t->e[i];
	return NULL;
}

void resume_park(struct resume_table *t, void *owner, int64_t until_ms)
{
	struct entry *e = find_owner(t, owner);

	if (!e)
		return;
	e->owner = NULL;
	e->until_ms = until_ms;
}

void resume_drop(struct resume_table *t, void *owner)
{
	struct entry *e = find_owner(t, owner);

	if (e)
		forget(t, e);
}

size_t resume_sweep(struct resume_table *t, int64_t now_ms, const char *session,
		    void (*expired)(const struct resume_who *who, void *ud), void *ud)
{
	size_t n = 0;

	for (size_t i = 0; i < t->max; i++) {
		struct entry *e = &t->e[i];
		if (!e->used)
			continue;
		if (session && strcmp(e->who.session, session) == 0) {
			forget(t, e);
			n++;
		} else if (!e->owner && e->until_ms <= now_ms) {
			struct resume_who who = e->who;
			forget(t, e);
			if (expired)
				expired(&who, ud);
			n++;
		}
	}
	return n;
}

size_t resume_count(const struct resume_table *t)
{
	return t->count;
}
