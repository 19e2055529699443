/* SPDX-License-Identifier: MIT */
#include "ticket.h"

#include "error.h"
#include "log.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Signed bytes are prefixed with this context string, so a ticket signature
 * can never be mistaken for a signature over anything else the key signs. */
static const char sign_context[] = "highrise connect ticket v1";
/* ... and the client's binding proof likewise (docs/protocol.md §6.3) */
static const char bind_context[] = "highrise ticket binding v1";

static const uint8_t zero_key[TICKET_CLIENT_KEY_LEN];

/* name.h's rule; only the session may be empty (a ticket without one) */
static int name_ok(const char *s, int allow_empty)
{
	return (allow_empty && s && !s[0]) || hr_name_ok(s);
}

int ticket_init(struct ticket *t, const char *user, const char *desktop, const char *agent,
		const char *session, const uint8_t client_key[TICKET_CLIENT_KEY_LEN], int64_t now,
		int lifetime)
{
	memset(t, 0, sizeof(*t));
	if (!name_ok(user, 0) || !name_ok(desktop, 0) || !name_ok(agent, 0) ||
	    !name_ok(session ? session : "", 1))
		return HR_ETICKET_MALFORMED;
	if (!client_key || memcmp(client_key, zero_key, TICKET_CLIENT_KEY_LEN) == 0)
		return HR_ETICKET_MALFORMED;
	if (lifetime < 1 || lifetime > TICKET_LIFETIME_MAX)
		return HR_ETICKET_MALFORMED;
	if (now > INT64_MAX - lifetime) /* expires must not overflow */
		return HR_ETICKET_MALFORMED;
	if (RAND_bytes(t->id, TICKET_ID_LEN) != 1)
		return -EIO;
	t->issued = now;
	t->expires = now + lifetime;
	strcpy(t->user, user);
	strcpy(t->desktop, desktop);
	strcpy(t->agent, agent);
	strcpy(t->session, session ? session : "");
	memcpy(t->client_key, client_key, TICKET_CLIENT_KEY_LEN);
	return 0;
}

static size_t put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
	return 8;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static size_t put_name(uint8_t *p, const char *s)
{
	size_t n = strlen(s);
	p[0] = (uint8_t)n;
	memcpy(p + 1, s, n);
	return 1 + n;
}

/* The signed body; returns its length (<= TICKET_WIRE_MAX - TICKET_SIG_LEN). */
static size_t encode_body(const struct ticket *t, uint8_t *p)
{
	size_t n = 0;

	p[n++] = TICKET_VERSION;
	memcpy(p + n, t->id, TICKET_ID_LEN);
	n += TICKET_ID_LEN;
	n += put_be64(p + n, (uint64_t)t->issued);
	n += put_be64(p + n, (uint64_t)t->expires);
	n += put_name(p + n, t->user);
	n += put_name(p + n, t->desktop);
	n += put_name(p + n, t->agent);
	n += put_name(p + n, t->session);
	memcpy(p + n, t->client_key, TICKET_CLIENT_KEY_LEN);
	n += TICKET_CLIENT_KEY_LEN;
	return n;
}

/* context || body, for signing and verifying. */
static size_t signed_message(const uint8_t *body, size_t len, uint8_t *out)
{
	memcpy(out, sign_context, sizeof(sign_context));
	memcpy(out + sizeof(sign_context), body, len);
	return sizeof(sign_context) + len;
}

int ticket_sign(const struct ticket *t, EVP_PKEY *key, uint8_t *out, size_t cap, size_t *out_len)
{
	uint8_t body[TICKET_WIRE_MAX], msg[sizeof(sign_context) + TICKET_WIRE_MAX];
	size_t blen, mlen, siglen = TICKET_SIG_LEN;
	EVP_MD_CTX *md;
	int rc = HR_ETICKET_MALFORMED;

	if (!name_ok(t->user, 0) || !name_ok(t->desktop, 0) || !name_ok(t->agent, 0) ||
	    !name_ok(t->session, 1))
		return HR_ETICKET_MALFORMED;
	if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519)
		return HR_ETICKET_SIGNATURE;
	blen = encode_body(t, body);
	if (cap < blen + TICKET_SIG_LEN)
		return -ENOSPC;
	mlen = signed_message(body, blen, msg);

	md = EVP_MD_CTX_new();
	if (!md)
		return -ENOMEM;
	/* Ed25519 is one-shot: no digest, EVP_DigestSign over the whole message */
	if (EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(md, out + blen, &siglen, msg, mlen) != 1 || siglen != TICKET_SIG_LEN) {
		log_error("ticket: signing failed: %s", ERR_reason_error_string(ERR_get_error()));
		rc = HR_ETICKET_SIGNATURE;
		goto out;
	}
	memcpy(out, body, blen);
	*out_len = blen + TICKET_SIG_LEN;
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

static int get_name(const uint8_t *buf, size_t len, size_t *pos, char *dst, int allow_empty)
{
	size_t n;

	if (*pos >= len)
		return -1;
	n = buf[(*pos)++];
	if (n > TICKET_NAME_MAX || n > len - *pos || (!allow_empty && n == 0))
		return -1;
	if (memchr(buf + *pos, '\0', n))
		return -1;
	memcpy(dst, buf + *pos, n);
	dst[n] = '\0';
	*pos += n;
	return name_ok(dst, allow_empty) ? 0 : -1; /* what ticket_init would take */
}

/* Parses body + signature; *body_len receives where the signature starts. */
static int parse(const uint8_t *buf, size_t len, struct ticket *t, size_t *body_len)
{
	size_t pos = 0;

	memset(t, 0, sizeof(*t));
	if (len < 1 + TICKET_ID_LEN + 16 + 4 + TICKET_CLIENT_KEY_LEN + TICKET_SIG_LEN ||
	    len > TICKET_WIRE_MAX)
		return HR_ETICKET_MALFORMED;
	if (buf[pos++] != TICKET_VERSION)
		return HR_ETICKET_MALFORMED;
	memcpy(t->id, buf + pos, TICKET_ID_LEN);
	pos += TICKET_ID_LEN;
	t->issued = (int64_t)get_be64(buf + pos);
	t->expires = (int64_t)get_be64(buf + pos + 8);
	pos += 16;
	if (get_name(buf, len, &pos, t->user, 0) < 0 ||
	    get_name(buf, len, &pos, t->desktop, 0) < 0 ||
	    get_name(buf, len, &pos, t->agent, 0) < 0 ||
	    get_name(buf, len, &pos, t->session, 1) < 0)
		return HR_ETICKET_MALFORMED;
	if (len - pos != TICKET_CLIENT_KEY_LEN + TICKET_SIG_LEN)
		return HR_ETICKET_MALFORMED;
	memcpy(t->client_key, buf + pos, TICKET_CLIENT_KEY_LEN);
	pos += TICKET_CLIENT_KEY_LEN;
	*body_len = pos;
	return 0;
}

int ticket_parse(const uint8_t *buf, size_t len, struct ticket *out)
{
	size_t body_len;
	int rc = parse(buf, len, out, &body_len);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

static EVP_PKEY *load_key(const char *path, int private)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *key;

	if (!f) {
		log_error("ticket: cannot open key file %s: %m", path);
		return NULL;
	}
	key = private ? PEM_read_PrivateKey(f, NULL, NULL, NULL)
		      : PEM_read_PUBKEY(f, NULL, NULL, NULL);
	if (!key && !private) {
		/* a private key file carries its public half too */
		ERR_clear_error();
		rewind(f);
		key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	}
	fclose(f);
	if (!key) {
		log_error("ticket: %s holds no PEM %s key (%s)", path,
			  private ? "private" : "public", ERR_reason_error_string(ERR_get_error()));
		ERR_clear_error(); /* leave no stale errors for the thread's next OpenSSL call */
		return NULL;
	}
	if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
		log_error("ticket: %s is not an Ed25519 key (make one with 'highrise-certs "
			  "ticket-key')",
			  path);
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

EVP_PKEY *ticket_key_load_private(const char *path)
{
	return load_key(path, 1);
}

EVP_PKEY *ticket_key_load_public(const char *path)
{
	return load_key(path, 0);
}

/* context || id || exporter: what the client's binding proof signs. */
static size_t bind_message(const uint8_t *id, const uint8_t *exporter, uint8_t *out)
{
	memcpy(out, bind_context, sizeof(bind_context));
	memcpy(out + sizeof(bind_context), id, TICKET_ID_LEN);
	memcpy(out + sizeof(bind_context) + TICKET_ID_LEN, exporter, TICKET_EXPORTER_LEN);
	return sizeof(bind_context) + TICKET_ID_LEN + TICKET_EXPORTER_LEN;
}

int ticket_bind_sign(EVP_PKEY *client_priv, const uint8_t id[TICKET_ID_LEN],
		     const uint8_t exporter[TICKET_EXPORTER_LEN], uint8_t proof[TICKET_BIND_LEN])
{
	uint8_t msg[sizeof(bind_context) + TICKET_ID_LEN + TICKET_EXPORTER_LEN];
	size_t mlen = bind_message(id, exporter, msg), siglen = TICKET_BIND_LEN;
	EVP_MD_CTX *md;
	int ok;

	if (!client_priv || EVP_PKEY_get_id(client_priv) != EVP_PKEY_ED25519)
		return HR_ETICKET_SIGNATURE;
	md = EVP_MD_CTX_new();
	if (!md)
		return -ENOMEM;
	ok = EVP_DigestSignInit(md, NULL, NULL, NULL, client_priv) == 1 &&
	     EVP_DigestSign(md, proof, &siglen, msg, mlen) == 1 && siglen == TICKET_BIND_LEN;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok ? 0 : HR_ETICKET_SIGNATURE;
}

static int check_binding(const struct ticket *t, const struct ticket_bind *bind)
{
	uint8_t msg[sizeof(bind_context) + TICKET_ID_LEN + TICKET_EXPORTER_LEN];
	EVP_PKEY *pub;
	EVP_MD_CTX *md;
	int ok;

	if (!bind || !bind->exporter || !bind->proof || bind->proof_len != TICKET_BIND_LEN)
		return HR_ETICKET_UNBOUND;
	pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, t->client_key,
					  TICKET_CLIENT_KEY_LEN);
	md = EVP_MD_CTX_new();
	ok = pub && md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1 &&
	     EVP_DigestVerify(md, bind->proof, TICKET_BIND_LEN, msg,
			      bind_message(t->id, bind->exporter, msg)) == 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pub);
	ERR_clear_error();
	return ok ? 0 : HR_ETICKET_UNBOUND;
}

EVP_PKEY *ticket_client_key_new(uint8_t pub[TICKET_CLIENT_KEY_LEN])
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	if (!key || ticket_client_key_public(key, pub) < 0) {
		log_error("ticket: cannot make an Ed25519 client key: %s",
			  ERR_reason_error_string(ERR_get_error()));
		ERR_clear_error();
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

int ticket_client_key_public(EVP_PKEY *key, uint8_t pub[TICKET_CLIENT_KEY_LEN])
{
	size_t len = TICKET_CLIENT_KEY_LEN;

	if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(key, pub, &len) != 1 || len != TICKET_CLIENT_KEY_LEN) {
		ERR_clear_error();
		return HR_ETICKET_SIGNATURE;
	}
	return 0;
}

/*
 * The replay cache: an open-addressing hash set of ids with the time until
 * which each must be remembered. Ids are random, so their first bytes are a
 * good hash. Expired entries are dropped by rebuilding the table when it
 * fills up.
 */
struct seen {
	uint8_t id[TICKET_ID_LEN];
	int64_t until; /* 0: empty slot */
};

struct ticket_verifier {
	pthread_mutex_t lock;
	EVP_PKEY *pub;
	char agent[TICKET_NAME_MAX + 1];
	size_t max_live, count, slots; /* slots is a power of two >= 2 * max_live */
	struct seen *table;
};

struct ticket_verifier *ticket_verifier_new(EVP_PKEY *pub, const char *agent, size_t max_live)
{
	struct ticket_verifier *v;

	if (!pub || EVP_PKEY_get_id(pub) != EVP_PKEY_ED25519 || !name_ok(agent, 0)) {
		log_error("ticket: a verifier needs an Ed25519 public key and an agent name");
		return NULL;
	}
	if (max_live == 0)
		max_live = 100000;
	if (max_live > (1u << 24))
		max_live = 1u << 24;
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->slots = 16;
	while (v->slots < 2 * max_live)
		v->slots *= 2;
	v->table = calloc(v->slots, sizeof(*v->table));
	if (!v->table) {
		free(v);
		log_error("ticket: cannot allocate a replay cache of %zu ids", max_live);
		return NULL;
	}
	v->max_live = max_live;
	snprintf(v->agent, sizeof(v->agent), "%s", agent);
	EVP_PKEY_up_ref(pub);
	v->pub = pub;
	pthread_mutex_init(&v->lock, NULL);
	return v;
}

void ticket_verifier_free(struct ticket_verifier *v)
{
	if (!v)
		return;
	EVP_PKEY_free(v->pub);
	pthread_mutex_destroy(&v->lock);
	free(v->table);
	free(v);
}

static size_t slot_of(const struct ticket_verifier *v, const uint8_t *id)
{
	uint64_t h;
	memcpy(&h, id, sizeof(h));
	return (size_t)(h & (v->slots - 1));
}

static struct seen *find_slot(struct ticket_verifier *v, const uint8_t *id)
{
	size_t i = slot_of(v, id);

	/* load factor <= 1/2, so an empty slot always ends the probe */
	while (v->table[i].until != 0 && memcmp(v->table[i].id, id, TICKET_ID_LEN) != 0)
		i = (i + 1) & (v->slots - 1);
	return &v->table[i];
}

static void prune(struct ticket_verifier *v, int64_t now)
{
	struct seen *old = v->table;
	struct seen *fresh = calloc(v->slots, sizeof(*fresh));

	if (!fresh)
		return; /* keep everything: safe, just fuller */
	v->table = fresh;
	v->count = 0;
	for (size_t i = 0; i < v->slots; i++) {
		if (old[i].until != 0 && old[i].until >= now) {
			*find_slot(v, old[i].id) = old[i];
			v->count++;
		}
	}
	free(old);
}

static int check_signature(EVP_PKEY *pub, const uint8_t *buf, size_t body_len)
{
	uint8_t msg[sizeof(sign_context) + TICKET_WIRE_MAX];
	size_t mlen = signed_message(buf, body_len, msg);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok;

	if (!md)
		return -ENOMEM;
	ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1 &&
	     EVP_DigestVerify(md, buf + body_len, TICKET_SIG_LEN, msg, mlen) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok ? 0 : HR_ETICKET_SIGNATURE;
}

int ticket_verify(struct ticket_verifier *v, const uint8_t *buf, size_t len, const char *desktop,
		  int64_t now, const struct ticket_bind *bind, struct ticket *out)
{
	struct ticket t;
	size_t body_len;
	struct seen *s;
	int rc;

	rc = parse(buf, len, &t, &body_len);
	if (rc < 0)
		goto done;
	/* the signature first: nothing else is believed before it holds */
	rc = check_signature(v->pub, buf, body_len);
	if (rc < 0)
		goto done;
	/* times come from the wire: compare without signed overflow */
	int64_t lifetime, earliest, latest;
	if (__builtin_sub_overflow(t.expires, t.issued, &lifetime) || lifetime <= 0 ||
	    lifetime > TICKET_LIFETIME_MAX ||
	    __builtin_sub_overflow(t.issued, TICKET_SKEW, &earliest) ||
	    __builtin_add_overflow(t.expires, 2 * TICKET_SKEW, &latest)) {
		rc = HR_ETICKET_MALFORMED;
		goto done;
	}
	if (now < earliest) {
		rc = HR_ETICKET_NOT_YET_VALID;
		goto done;
	}
	if (now > latest - TICKET_SKEW) {
		rc = HR_ETICKET_EXPIRED;
		goto done;
	}
	if (strcmp(t.agent, v->agent) != 0) {
		rc = HR_ETICKET_WRONG_AGENT;
		goto done;
	}
	if (desktop && strcmp(t.desktop, desktop) != 0) {
		rc = HR_ETICKET_WRONG_DESKTOP;
		goto done;
	}
	/* before the replay cache: a relayed copy with a wrong proof must not use the id up */
	rc = check_binding(&t, bind);
	if (rc < 0)
		goto done;

	pthread_mutex_lock(&v->lock);
	s = find_slot(v, t.id);
	if (s->until != 0) {
		rc = HR_ETICKET_REPLAYED;
	} else {
		if (v->count >= v->max_live) {
			prune(v, now);
			s = find_slot(v, t.id);
		}
		if (v->count >= v->max_live) {
			rc = HR_ETICKET_CACHE_FULL;
		} else {
			memcpy(s->id, t.id, TICKET_ID_LEN);
			/* remembered for as long as any verifier clock could still accept it */
			s->until = latest;
			v->count++;
		}
	}
	pthread_mutex_unlock(&v->lock);
done:
	if (out) {
		if (rc == 0)
			*out = t;
		else
			memset(out, 0, sizeof(*out));
	}
	return rc;
}

void ticket_id_short(const struct ticket *t, char out[17])
{
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", t->id[i]);
}

/* ---- bundles: a ticket and its client key as one PEM text ---- */

#define BUNDLE_PEM_NAME "HIGHRISE CONNECT TICKET"

char *ticket_bundle_encode(const uint8_t *ticket, size_t len, EVP_PKEY *client_key)
{
	BIO *mem = NULL;
	char *data = NULL, *text = NULL;
	long n = 0;

	if (!ticket || len == 0 || len > TICKET_WIRE_MAX || !client_key ||
	    EVP_PKEY_get_id(client_key) != EVP_PKEY_ED25519) {
		log_error("ticket: a bundle needs a ticket and an Ed25519 client key");
		return NULL;
	}
	mem = BIO_new(BIO_s_mem());
	if (!mem || PEM_write_bio(mem, BUNDLE_PEM_NAME, "", ticket, (long)len) <= 0 ||
	    PEM_write_bio_PrivateKey(mem, client_key, NULL, NULL, 0, NULL, NULL) != 1) {
		log_error("ticket: cannot write a ticket bundle: %s",
			  ERR_reason_error_string(ERR_get_error()));
		goto out;
	}
	n = BIO_get_mem_data(mem, &data);
	text = n > 0 ? malloc((size_t)n + 1) : NULL;
	if (!text) {
		log_error("ticket: out of memory for a ticket bundle");
		goto out;
	}
	memcpy(text, data, (size_t)n);
	text[n] = '\0';
out:
	/* the key's PEM lies in the BIO's buffer: wipe it before it goes back to the heap */
	if (mem && (n = BIO_get_mem_data(mem, &data)) > 0)
		OPENSSL_cleanse(data, (size_t)n);
	BIO_free(mem);
	ERR_clear_error();
	return text;
}

int ticket_bundle_decode(const char *text, size_t len, uint8_t *ticket, size_t cap,
			 size_t *ticket_len, EVP_PKEY **client_key)
{
	uint8_t pub[TICKET_CLIENT_KEY_LEN];
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long dlen = 0;
	struct ticket t;
	EVP_PKEY *key = NULL;
	BIO *mem;
	int rc = -EINVAL;

	*client_key = NULL;
	*ticket_len = 0;
	if (!text || len == 0 || len > (1u << 20)) { /* a bundle is about 400 bytes */
		log_error("ticket: the ticket bundle is empty");
		return -EINVAL;
	}
	mem = BIO_new_mem_buf(text, (int)len);
	if (!mem) {
		log_error("ticket: out of memory reading a ticket bundle");
		return -ENOMEM;
	}
	/* the first PEM block must be the ticket; the key follows it */
	if (PEM_read_bio(mem, &name, &header, &data, &dlen) != 1) {
		log_error("ticket: not a ticket bundle: no PEM block (highrise-ticket writes one)");
		goto out;
	}
	if (strcmp(name, BUNDLE_PEM_NAME) != 0) {
		log_error("ticket: the bundle starts with a %s block, not a " BUNDLE_PEM_NAME,
			  name);
		goto out;
	}
	if ((size_t)dlen > cap) {
		log_error("ticket: the bundle's ticket (%ld bytes) is longer than %zu", dlen, cap);
		rc = -ENOSPC;
		goto out;
	}
	if (ticket_parse(data, (size_t)dlen, &t) < 0) {
		log_error("ticket: the bundle's " BUNDLE_PEM_NAME " block is not a version %d "
			  "ticket",
			  TICKET_VERSION);
		goto out;
	}
	key = PEM_read_bio_PrivateKey(mem, NULL, NULL, NULL);
	if (!key) {
		log_error("ticket: the bundle has no PRIVATE KEY block after its ticket");
		goto out;
	}
	if (ticket_client_key_public(key, pub) < 0) {
		log_error("ticket: the bundle's private key is not an Ed25519 key");
		goto out;
	}
	if (memcmp(pub, t.client_key, TICKET_CLIENT_KEY_LEN) != 0) {
		log_error("ticket: the bundle's private key is not the ticket's client key");
		goto out;
	}
	memcpy(ticket, data, (size_t)dlen);
	*ticket_len = (size_t)dlen;
	*client_key = key;
	key = NULL;
	rc = 0;
out:
	EVP_PKEY_free(key);
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(mem);
	ERR_clear_error();
	return rc;
}
