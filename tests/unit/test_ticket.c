/* SPDX-License-Identifier: MIT */
/*
 * proto/ticket: Ed25519 connect tickets. Keys are made here and also by the
 * real `highrise-certs ticket-key`; every way a ticket may be refused is
 * asserted with its exact error code.
 */
#include "check.h"
#include "error.h"
#include "ticket.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define NOW ((int64_t)1790000000) /* some Unix time in 2026 */

#define CHECK_RC(a, b)                                                                            \
	do {                                                                                      \
		int check_a_ = (a), check_b_ = (b);                                               \
		if (check_a_ == check_b_) {                                                       \
			check_passed++;                                                           \
		} else {                                                                          \
			check_failed++;                                                           \
			fprintf(stderr, "%s:%d: FAILED: %s == %s (\"%s\" != \"%s\")\n", __FILE__, \
				__LINE__, #a, #b, hr_strerror(check_a_), hr_strerror(check_b_));  \
		}                                                                                 \
	} while (0)

static EVP_PKEY *key, *other_key;
/* the client's key pair, as broker_client_connect makes one per connect */
static EVP_PKEY *client_key;
static uint8_t client_pub[TICKET_CLIENT_KEY_LEN];
/* stands in for the keying material of one TLS connection (tls_export_binding) */
static const uint8_t test_exporter[TICKET_EXPORTER_LEN] = {
	0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea,
	0xeb, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5,
	0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
};

/* A HELLO's binding: its proof and where it points. */
struct proof {
	uint8_t sig[TICKET_BIND_LEN];
	struct ticket_bind bind;
};

/*
 * The proof a client holding ck sends for the ticket in buf on a connection
 * whose keying material is exporter. A ticket that does not parse gets a
 * proof for an all-zero id: the verifier refuses it before looking.
 */
static const struct ticket_bind *prove(struct proof *p, const uint8_t *buf, size_t len,
				       EVP_PKEY *ck, const uint8_t *exporter)
{
	struct ticket t;

	if (!buf || ticket_parse(buf, len, &t) < 0)
		memset(&t, 0, sizeof(t));
	CHECK_RC(ticket_bind_sign(ck, t.id, exporter, p->sig), 0);
	p->bind = (struct ticket_bind){
		.exporter = exporter, .proof = p->sig, .proof_len = TICKET_BIND_LEN};
	return &p->bind;
}

/* ticket_verify as an agent calls it for an honest client on test_exporter's connection. */
static int verify(struct ticket_verifier *v, const uint8_t *buf, size_t len, const char *desktop,
		  int64_t now, struct ticket *out)
{
	struct proof p;
	return ticket_verify(v, buf, len, desktop, now,
			     prove(&p, buf, len, client_key, test_exporter), out);
}

/* A fresh ticket for alice on desk-1 at agent-7, signed with k; returns its length. */
static size_t make(EVP_PKEY *k, uint8_t *out, int64_t now, int lifetime, struct ticket *t_out)
{
	struct ticket t;
	size_t len = 0;

	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "sess-1", client_pub, now, lifetime),
		 0);
	CHECK_RC(ticket_sign(&t, k, out, TICKET_WIRE_MAX, &len), 0);
	if (t_out)
		*t_out = t;
	return len;
}

/* Signs t as it is, whatever its fields say (for tickets a broker would never make). */
static size_t sign_raw(const struct ticket *t, uint8_t *out)
{
	size_t len = 0;
	CHECK_RC(ticket_sign(t, key, out, TICKET_WIRE_MAX, &len), 0);
	return len;
}

static struct ticket_verifier *verifier(const char *agent, size_t max_live)
{
	struct ticket_verifier *v = ticket_verifier_new(key, agent, max_live);
	CHECK(v != NULL);
	return v;
}

static bool ticket_eq(const struct ticket *a, const struct ticket *b)
{
	return memcmp(a->id, b->id, TICKET_ID_LEN) == 0 && a->issued == b->issued &&
	       a->expires == b->expires && strcmp(a->user, b->user) == 0 &&
	       strcmp(a->desktop, b->desktop) == 0 && strcmp(a->agent, b->agent) == 0 &&
	       strcmp(a->session, b->session) == 0 &&
	       memcmp(a->client_key, b->client_key, TICKET_CLIENT_KEY_LEN) == 0;
}

static bool is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void test_valid(void)
{
	uint8_t buf[TICKET_WIRE_MAX];
	struct ticket t, got;
	struct ticket_verifier *v = verifier("agent-7", 0);
	size_t len = make(key, buf, NOW, 30, &t);

	CHECK_INT_EQ(t.issued, NOW);
	CHECK_INT_EQ(t.expires, NOW + 30);
	CHECK(!is_zero(t.id, TICKET_ID_LEN));
	/* version, id, two times, four length-prefixed names, client key, signature */
	CHECK_INT_EQ(len, 1 + TICKET_ID_LEN + 16 + (1 + 5) + (1 + 6) + (1 + 7) + (1 + 6) +
				  TICKET_CLIENT_KEY_LEN + TICKET_SIG_LEN);
	CHECK_RC(verify(v, buf, len, "desk-1", NOW, &got), 0);
	CHECK(ticket_eq(&t, &got));
	CHECK_STR_EQ(got.user, "alice");
	CHECK_STR_EQ(got.desktop, "desk-1");
	CHECK_STR_EQ(got.agent, "agent-7");
	CHECK_STR_EQ(got.session, "sess-1");
	CHECK_MEM_EQ(got.client_key, client_pub, TICKET_CLIENT_KEY_LEN);

	/* two tickets never share an id */
	struct ticket t2;
	make(key, buf, NOW, 30, &t2);
	CHECK(memcmp(t.id, t2.id, TICKET_ID_LEN) != 0);

	/* an empty session is allowed; out may be NULL */
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", NULL, client_pub, NOW, 60), 0);
	CHECK_STR_EQ(t.session, "");
	len = sign_raw(&t, buf);
	CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), 0);

	/* names of exactly TICKET_NAME_MAX bytes */
	char longest[TICKET_NAME_MAX + 1];
	memset(longest, 'x', TICKET_NAME_MAX);
	longest[TICKET_NAME_MAX] = '\0';
	ticket_verifier_free(v);
	v = verifier(longest, 0);
	CHECK_RC(ticket_init(&t, longest, longest, longest, longest, client_pub, NOW, 60), 0);
	len = sign_raw(&t, buf);
	CHECK_INT_EQ(len, TICKET_WIRE_MAX);
	CHECK_RC(verify(v, buf, len, longest, NOW, &got), 0);
	CHECK(ticket_eq(&t, &got));
	ticket_verifier_free(v);
}

static void test_times(void)
{
	uint8_t buf[TICKET_WIRE_MAX];
	struct ticket t, got;
	struct ticket_verifier *v = verifier("agent-7", 0);
	size_t len;

	/* expired: refused once now > expires + skew, accepted up to that second */
	len = make(key, buf, NOW, 30, &t);
	CHECK_RC(verify(v, buf, len, "desk-1", t.expires + TICKET_SKEW + 1, &got),
		 HR_ETICKET_EXPIRED);
	CHECK(is_zero(&got, sizeof(got))); /* nothing from a refused ticket */
	CHECK_RC(verify(v, buf, len, "desk-1", t.expires + 3600, NULL), HR_ETICKET_EXPIRED);
	CHECK_RC(verify(v, buf, len, "desk-1", t.expires + TICKET_SKEW, NULL), 0);

	len = make(key, buf, NOW, 30, &t);
	CHECK_RC(verify(v, buf, len, "desk-1", t.expires + 1, NULL), 0); /* within skew */

	/* from the future: refused when now < issued - skew */
	len = make(key, buf, NOW, 30, &t);
	CHECK_RC(verify(v, buf, len, "desk-1", NOW - TICKET_SKEW - 1, NULL),
		 HR_ETICKET_NOT_YET_VALID);
	CHECK_RC(verify(v, buf, len, "desk-1", NOW - 3600, NULL), HR_ETICKET_NOT_YET_VALID);
	CHECK_RC(verify(v, buf, len, "desk-1", NOW - TICKET_SKEW, NULL), 0);

	/* lifetimes: 1..TICKET_LIFETIME_MAX from ticket_init */
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", client_pub, NOW,
			     TICKET_LIFETIME_MAX),
		 0);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", client_pub, NOW, 1), 0);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", client_pub, NOW,
			     TICKET_LIFETIME_MAX + 1),
		 HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", client_pub, NOW, 0),
		 HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", client_pub, NOW, -5),
		 HR_ETICKET_MALFORMED);
	/* names by name.h's rule, as the broker gives them */
	CHECK_RC(ticket_init(&t, "alice@example.com", "desk_1.a", "agent-7", "", client_pub, NOW,
			     60),
		 0);
	CHECK_RC(ticket_init(&t, "a b", "desk-1", "agent-7", "", client_pub, NOW, 60),
		 HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk\n1", "agent-7", "", client_pub, NOW, 60),
		 HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "../agent", "", client_pub, NOW, 60),
		 HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "s'1", client_pub, NOW, 60),
		 HR_ETICKET_MALFORMED);
	/* a clock at the end of time must not overflow */
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", client_pub, INT64_MAX - 5, 10),
		 HR_ETICKET_MALFORMED);

	/* signed tickets no broker would make: the verifier refuses them all the same */
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", client_pub, NOW, 60), 0);
	t.expires = t.issued + TICKET_LIFETIME_MAX + 1;
	len = sign_raw(&t, buf);
	CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_MALFORMED);
	t.expires = t.issued;
	len = sign_raw(&t, buf);
	CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_MALFORMED);
	t.expires = t.issued - 10;
	len = sign_raw(&t, buf);
	CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_MALFORMED);
	t.issued = INT64_MAX - 10;
	t.expires = INT64_MAX;
	len = sign_raw(&t, buf);
	CHECK_RC(verify(v, buf, len, "desk-1", INT64_MAX, NULL), HR_ETICKET_MALFORMED);
	t.issued = INT64_MIN;
	t.expires = INT64_MIN + 10;
	len = sign_raw(&t, buf);
	CHECK_RC(verify(v, buf, len, "desk-1", INT64_MIN, NULL), HR_ETICKET_MALFORMED);
	t.issued = INT64_MIN + 10;
	t.expires = INT64_MAX;
	len = sign_raw(&t, buf);
	CHECK_RC(verify(v, buf, len, "desk-1", 0, NULL), HR_ETICKET_MALFORMED);
	ticket_verifier_free(v);
}

static void test_replay(void)
{
	uint8_t buf[TICKET_WIRE_MAX];
	struct ticket t, got;
	struct ticket_verifier *v = verifier("agent-7", 0);
	size_t len = make(key, buf, NOW, 20, &t);

	CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), 0);
	CHECK_RC(verify(v, buf, len, "desk-1", NOW, &got), HR_ETICKET_REPLAYED);
	CHECK(is_zero(&got, sizeof(got)));
	/* still refused at every second it could otherwise be accepted... */
	for (int64_t now = NOW - TICKET_SKEW; now <= t.expires + TICKET_SKEW; now++)
		CHECK_RC(verify(v, buf, len, "desk-1", now, NULL), HR_ETICKET_REPLAYED);
	/* ...and then it is expired anyway */
	CHECK_RC(verify(v, buf, len, "desk-1", t.expires + TICKET_SKEW + 1, NULL),
		 HR_ETICKET_EXPIRED);
	/* the replay check goes by id, not bytes: another desktop argument changes nothing */
	CHECK_RC(verify(v, buf, len, NULL, NOW, NULL), HR_ETICKET_REPLAYED);

	/* a refusal for another reason does not use the ticket up */
	len = make(key, buf, NOW, 20, &t);
	CHECK_RC(verify(v, buf, len, "desk-2", NOW, NULL), HR_ETICKET_WRONG_DESKTOP);
	CHECK_RC(verify(v, buf, len, "desk-1", NOW - 3600, NULL), HR_ETICKET_NOT_YET_VALID);
	CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), 0);
	CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_REPLAYED);

	/* each verifier (agent process) keeps its own cache */
	struct ticket_verifier *v2 = verifier("agent-7", 0);
	CHECK_RC(verify(v2, buf, len, "desk-1", NOW, NULL), 0);
	ticket_verifier_free(v2);
	ticket_verifier_free(v);
}

static void test_mismatch(void)
{
	uint8_t buf[TICKET_WIRE_MAX];
	struct ticket t, got;
	struct ticket_verifier *v = verifier("agent-7", 0);
	struct ticket_verifier *v8 = verifier("agent-8", 0);
	struct ticket_verifier *vo = ticket_verifier_new(other_key, "agent-7", 0);
	size_t len;

	len = make(key, buf, NOW, 30, &t);
	CHECK_RC(verify(v8, buf, len, "desk-1", NOW, NULL), HR_ETICKET_WRONG_AGENT);
	CHECK_RC(verify(v, buf, len, "desk-2", NOW, NULL), HR_ETICKET_WRONG_DESKTOP);
	CHECK_RC(verify(v, buf, len, "desk-10", NOW, NULL), HR_ETICKET_WRONG_DESKTOP);
	CHECK_RC(verify(v, buf, len, "desk-", NOW, NULL), HR_ETICKET_WRONG_DESKTOP);
	CHECK_RC(verify(v, buf, len, "", NOW, NULL), HR_ETICKET_WRONG_DESKTOP);
	/* desktop NULL: any desktop */
	CHECK_RC(verify(v, buf, len, NULL, NOW, &got), 0);
	CHECK_STR_EQ(got.desktop, "desk-1");

	/* signed by another key: refused whatever the fields say */
	len = make(other_key, buf, NOW, 30, &t);
	CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_SIGNATURE);
	CHECK_RC(verify(vo, buf, len, "desk-1", NOW, NULL), 0);
	ticket_verifier_free(vo);
	ticket_verifier_free(v8);
	ticket_verifier_free(v);
}

/* A bare Ed25519 signature over the body, without the context string. */
static void test_context_string(void)
{
	uint8_t buf[TICKET_WIRE_MAX];
	struct ticket_verifier *v = verifier("agent-7", 0);
	size_t len = make(key, buf, NOW, 30, NULL), siglen = TICKET_SIG_LEN;
	size_t body = len - TICKET_SIG_LEN;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	CHECK(md && EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
	      EVP_DigestSign(md, buf + body, &siglen, buf, body) == 1);
	EVP_MD_CTX_free(md);
	CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_SIGNATURE);
	ticket_verifier_free(v);
}

static void test_tampering(void)
{
	uint8_t buf[TICKET_WIRE_MAX], copy[TICKET_WIRE_MAX + 1];
	struct ticket_verifier *v = verifier("agent-7", 0);
	struct ticket t, parsed;
	size_t len = make(key, buf, NOW, 30, &t);
	int malformed = 0, signature = 0, other = 0;

	/* every single flipped bit */
	for (size_t bit = 0; bit < len * 8; bit++) {
		int rc;
		memcpy(copy, buf, len);
		copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		rc = verify(v, copy, len, NULL, NOW, NULL);
		if (rc == HR_ETICKET_MALFORMED)
			malformed++;
		else if (rc == HR_ETICKET_SIGNATURE)
			signature++;
		else
			other++;
		if (rc != HR_ETICKET_MALFORMED && rc != HR_ETICKET_SIGNATURE)
			fprintf(stderr, "bit %zu flipped: %s\n", bit, hr_strerror(rc));
	}
	printf("flipped %zu bits: %d malformed, %d bad signature, %d other\n", len * 8, malformed,
	       signature, other);
	CHECK_INT_EQ(other, 0);
	CHECK_INT_EQ(malformed + signature, len * 8);
	CHECK(signature > 512); /* the signature, times, id and name bytes */

	/* every truncation, and one byte too many */
	for (size_t l = 0; l < len; l++) {
		CHECK_RC(verify(v, buf, l, NULL, NOW, NULL), HR_ETICKET_MALFORMED);
		CHECK_RC(ticket_parse(buf, l, &parsed), HR_ETICKET_MALFORMED);
	}
	memcpy(copy, buf, len);
	copy[len] = 0;
	CHECK_RC(verify(v, copy, len + 1, NULL, NOW, NULL), HR_ETICKET_MALFORMED);
	CHECK_RC(verify(v, NULL, 0, NULL, NOW, NULL), HR_ETICKET_MALFORMED);

	/* the untouched ticket still verifies: the refusals above were the tampering's */
	CHECK_RC(verify(v, buf, len, NULL, NOW, NULL), 0);
	ticket_verifier_free(v);
}

static void test_names(void)
{
	char n129[TICKET_NAME_MAX + 2];
	struct ticket t;
	uint8_t buf[TICKET_WIRE_MAX];
	size_t len = 0;

	memset(n129, 'n', TICKET_NAME_MAX + 1);
	n129[TICKET_NAME_MAX + 1] = '\0';

	CHECK_RC(ticket_init(&t, "", "desk-1", "agent-7", "", client_pub, NOW, 30),
		 HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "", "agent-7", "", client_pub, NOW, 30),
		 HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "", "", client_pub, NOW, 30),
		 HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, NULL, "desk-1", "agent-7", "", client_pub, NOW, 30),
		 HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, n129, "desk-1", "agent-7", "", client_pub, NOW, 30),
		 HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", n129, "agent-7", "", client_pub, NOW, 30),
		 HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", n129, "", client_pub, NOW, 30),
		 HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", n129, client_pub, NOW, 30),
		 HR_ETICKET_MALFORMED);

	/* ticket_sign checks the names too */
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", client_pub, NOW, 30), 0);
	t.user[0] = '\0';
	CHECK_RC(ticket_sign(&t, key, buf, sizeof(buf), &len), HR_ETICKET_MALFORMED);

	/* and a verifier needs a proper agent name */
	CHECK(ticket_verifier_new(key, "", 0) == NULL);
	CHECK(ticket_verifier_new(key, n129, 0) == NULL);
	CHECK(ticket_verifier_new(key, NULL, 0) == NULL);
	CHECK(ticket_verifier_new(NULL, "agent-7", 0) == NULL);
}

static void test_sign_errors(void)
{
	struct ticket t;
	uint8_t buf[TICKET_WIRE_MAX];
	size_t len = 0, need;
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "s", client_pub, NOW, 30), 0);
	CHECK_RC(ticket_sign(&t, key, buf, sizeof(buf), &len), 0);
	need = len;
	CHECK_INT_EQ(ticket_sign(&t, key, buf, need - 1, &len), -ENOSPC);
	CHECK_RC(ticket_sign(&t, key, buf, need, &len), 0);
	CHECK_INT_EQ(len, need);
	CHECK(ec != NULL);
	CHECK_RC(ticket_sign(&t, ec, buf, sizeof(buf), &len), HR_ETICKET_SIGNATURE);
	CHECK(ticket_verifier_new(ec, "agent-7", 0) == NULL);
	EVP_PKEY_free(ec);
}

static void test_cache_full(void)
{
	uint8_t a[3][TICKET_WIRE_MAX], late[TICKET_WIRE_MAX];
	size_t alen[3], late_len;
	struct ticket t;
	struct ticket_verifier *v = verifier("agent-7", 3);

	for (int i = 0; i < 3; i++) {
		alen[i] = make(key, a[i], NOW, 10, NULL);
		CHECK_RC(verify(v, a[i], alen[i], NULL, NOW, NULL), 0);
	}
	late_len = make(key, late, NOW + 30, 60, &t);
	/* three live tickets remembered: a fourth must wait rather than push one out */
	CHECK_RC(verify(v, late, late_len, NULL, NOW, NULL), HR_ETICKET_CACHE_FULL);
	/* the first three can still be presented until NOW + 10 + skew: still full */
	CHECK_RC(verify(v, late, late_len, NULL, NOW + 10 + TICKET_SKEW, NULL),
		 HR_ETICKET_CACHE_FULL);
	for (int i = 0; i < 3; i++)
		CHECK_RC(verify(v, a[i], alen[i], NULL, NOW + 10 + TICKET_SKEW, NULL),
			 HR_ETICKET_REPLAYED);
	/* once they have expired for good, their room is free again */
	CHECK_RC(verify(v, late, late_len, NULL, NOW + 100, NULL), 0);
	CHECK_RC(verify(v, late, late_len, NULL, NOW + 100, NULL), HR_ETICKET_REPLAYED);
	for (int i = 0; i < 3; i++)
		CHECK_RC(verify(v, a[i], alen[i], NULL, NOW + 100, NULL), HR_ETICKET_EXPIRED);
	ticket_verifier_free(v);

	/* a large cache does not fill: 1000 tickets in a row */
	v = verifier("agent-7", 0);
	int fails = 0;
	for (int i = 0; i < 1000; i++) {
		uint8_t buf[TICKET_WIRE_MAX];
		size_t len = make(key, buf, NOW, 60, NULL);
		fails += verify(v, buf, len, NULL, NOW, NULL) != 0;
	}
	CHECK_INT_EQ(fails, 0);
	ticket_verifier_free(v);
}

static void test_parse_and_id(void)
{
	uint8_t buf[TICKET_WIRE_MAX];
	struct ticket t, parsed;
	char idhex[17];
	size_t len = make(key, buf, NOW, 30, &t);

	/* no key needed, and no verifier involved */
	CHECK_RC(ticket_parse(buf, len, &parsed), 0);
	CHECK(ticket_eq(&t, &parsed));
	/* parse does not check the signature */
	buf[len - 1] ^= 1;
	CHECK_RC(ticket_parse(buf, len, &parsed), 0);
	CHECK(ticket_eq(&t, &parsed));
	buf[0] = TICKET_VERSION + 1;
	CHECK_RC(ticket_parse(buf, len, &parsed), HR_ETICKET_MALFORMED);
	CHECK(is_zero(&parsed, sizeof(parsed)));
	/* a name off name.h's rule (the user's first byte, at 50) is malformed on the wire */
	buf[0] = TICKET_VERSION;
	CHECK_RC(ticket_parse(buf, len, &parsed), 0);
	buf[50] = '?';
	CHECK_RC(ticket_parse(buf, len, &parsed), HR_ETICKET_MALFORMED);

	for (int i = 0; i < TICKET_ID_LEN; i++)
		t.id[i] = (uint8_t)(0x01 + 0x22 * i);
	memset(idhex, 'X', sizeof(idhex));
	ticket_id_short(&t, idhex);
	CHECK_STR_EQ(idhex, "0123456789abcdef");
}

struct race {
	struct ticket_verifier *v;
	const uint8_t *buf;
	size_t len;
	int rc;
};

static void *race_thread(void *arg)
{
	struct race *r = arg;
	r->rc = verify(r->v, r->buf, r->len, "desk-1", NOW, NULL);
	return NULL;
}

/* Several threads present the same ticket at once: exactly one wins. */
static void test_threads(void)
{
	uint8_t buf[TICKET_WIRE_MAX];
	struct ticket_verifier *v = verifier("agent-7", 0);
	size_t len = make(key, buf, NOW, 30, NULL);
	struct race r[8];
	pthread_t th[8];
	int ok = 0, replayed = 0;

	for (int i = 0; i < 8; i++) {
		r[i] = (struct race){.v = v, .buf = buf, .len = len};
		CHECK_INT_EQ(pthread_create(&th[i], NULL, race_thread, &r[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ok += r[i].rc == 0;
		replayed += r[i].rc == HR_ETICKET_REPLAYED;
	}
	CHECK_INT_EQ(ok, 1);
	CHECK_INT_EQ(replayed, 7);
	ticket_verifier_free(v);
}

/* ---- the binding to the TLS connection (docs/protocol.md §6.3) ---------- */

static void test_binding(void)
{
	uint8_t buf[TICKET_WIRE_MAX], pub[TICKET_CLIENT_KEY_LEN], other_pub[TICKET_CLIENT_KEY_LEN];
	uint8_t other_exporter[TICKET_EXPORTER_LEN];
	struct ticket_verifier *v = verifier("agent-7", 0);
	EVP_PKEY *thief = ticket_client_key_new(other_pub);
	struct ticket t, got;
	struct proof p;
	struct ticket_bind b;
	size_t len = make(key, buf, NOW, 30, &t);

	CHECK(thief != NULL);
	memcpy(other_exporter, test_exporter, sizeof(other_exporter));
	other_exporter[31] ^= 0x01;

	/* no proof at all, or one that is not TICKET_BIND_LEN bytes */
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, NULL, &got), HR_ETICKET_UNBOUND);
	CHECK(is_zero(&got, sizeof(got)));
	b = *prove(&p, buf, len, client_key, test_exporter);
	b.proof_len = TICKET_BIND_LEN - 1;
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, &b, NULL), HR_ETICKET_UNBOUND);
	b.proof_len = TICKET_BIND_LEN + 1;
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, &b, NULL), HR_ETICKET_UNBOUND);
	b.proof_len = 0;
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, &b, NULL), HR_ETICKET_UNBOUND);
	b = *prove(&p, buf, len, client_key, test_exporter);
	b.exporter = NULL;
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, &b, NULL), HR_ETICKET_UNBOUND);
	b = *prove(&p, buf, len, client_key, test_exporter);
	b.proof = NULL;
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, &b, NULL), HR_ETICKET_UNBOUND);

	/* a wrong proof: the right one with any bit flipped */
	for (size_t bit = 0; bit < TICKET_BIND_LEN * 8; bit += 7) {
		prove(&p, buf, len, client_key, test_exporter);
		p.sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, &p.bind, NULL),
			 HR_ETICKET_UNBOUND);
	}
	/* a proof made for another connection, relayed onto this one: the exporters differ */
	b = *prove(&p, buf, len, client_key, other_exporter);
	b.exporter = test_exporter;
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, &b, NULL), HR_ETICKET_UNBOUND);
	/* a proof by another key: whoever copied the ticket has not the client's key */
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW,
			       prove(&p, buf, len, thief, test_exporter), NULL),
		 HR_ETICKET_UNBOUND);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, prove(&p, buf, len, key, test_exporter),
			       NULL),
		 HR_ETICKET_UNBOUND);
	/* a proof for another ticket's id, by the right key */
	uint8_t buf2[TICKET_WIRE_MAX];
	size_t len2 = make(key, buf2, NOW, 30, NULL);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW,
			       prove(&p, buf2, len2, client_key, test_exporter), NULL),
		 HR_ETICKET_UNBOUND);

	/* none of that used the ticket up: the real client's proof still works, once */
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW,
			       prove(&p, buf, len, client_key, test_exporter), &got),
		 0);
	CHECK(ticket_eq(&t, &got));
	CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_REPLAYED);
	/* ...and after it was used, a bad proof is still only unbound, not replayed */
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW,
			       prove(&p, buf, len, thief, test_exporter), NULL),
		 HR_ETICKET_UNBOUND);
	/* the other ticket was never used either */
	CHECK_RC(verify(v, buf2, len2, "desk-1", NOW, NULL), 0);

	/* a ticket for the thief's key verifies with the thief's proof only */
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", other_pub, NOW, 30), 0);
	len = sign_raw(&t, buf);
	CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_UNBOUND);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW,
			       prove(&p, buf, len, thief, other_exporter), NULL),
		 0);

	/* the client key: required, Ed25519, 32 raw bytes */
	static const uint8_t zero[TICKET_CLIENT_KEY_LEN];
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", NULL, NOW, 30),
		 HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", zero, NOW, 30),
		 HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_client_key_public(client_key, pub), 0);
	CHECK_MEM_EQ(pub, client_pub, TICKET_CLIENT_KEY_LEN);
	CHECK(memcmp(pub, other_pub, TICKET_CLIENT_KEY_LEN) != 0);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	CHECK(ec != NULL);
	CHECK_RC(ticket_client_key_public(ec, pub), HR_ETICKET_SIGNATURE);
	CHECK_RC(ticket_client_key_public(NULL, pub), HR_ETICKET_SIGNATURE);
	CHECK_RC(ticket_bind_sign(ec, t.id, test_exporter, p.sig), HR_ETICKET_SIGNATURE);
	CHECK_RC(ticket_bind_sign(NULL, t.id, test_exporter, p.sig), HR_ETICKET_SIGNATURE);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(thief);
	ticket_verifier_free(v);
}

/* Version 1 (no client key) is refused as malformed, however well signed. */
static void test_version1(void)
{
	static const char v1_context[] = "highrise connect ticket v1";
	uint8_t buf[TICKET_WIRE_MAX], v1[TICKET_WIRE_MAX],
		msg[sizeof(v1_context) + TICKET_WIRE_MAX];
	struct ticket_verifier *v = verifier("agent-7", 0);
	struct ticket parsed;
	struct proof p;
	size_t len = make(key, buf, NOW, 30, NULL), siglen = TICKET_SIG_LEN;
	/* a version 1 body is a version 2 body without the client key */
	size_t body = len - TICKET_SIG_LEN - TICKET_CLIENT_KEY_LEN;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	memcpy(v1, buf, body);
	v1[0] = 1;
	memcpy(msg, v1_context, sizeof(v1_context));
	memcpy(msg + sizeof(v1_context), v1, body);
	CHECK(md && EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
	      EVP_DigestSign(md, v1 + body, &siglen, msg, sizeof(v1_context) + body) == 1);
	EVP_MD_CTX_free(md);
	CHECK_RC(ticket_parse(v1, body + TICKET_SIG_LEN, &parsed), HR_ETICKET_MALFORMED);
	CHECK_RC(verify(v, v1, body + TICKET_SIG_LEN, "desk-1", NOW, NULL), HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_verify(v, v1, body + TICKET_SIG_LEN, "desk-1", NOW,
			       prove(&p, buf, len, client_key, test_exporter), NULL),
		 HR_ETICKET_MALFORMED);
	/* a version 2 layout that says 1, and version 3 */
	buf[0] = 1;
	CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_MALFORMED);
	buf[0] = 3;
	CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_MALFORMED);
	buf[0] = TICKET_VERSION;
	CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), 0);
	ticket_verifier_free(v);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static EVP_PKEY *hex_key(const char *seed_hex)
{
	uint8_t seed[32];
	for (int i = 0; i < 32; i++) {
		unsigned int x = 0;
		sscanf(seed_hex + 2 * i, "%2x", &x);
		seed[i] = (uint8_t)x;
	}
	return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
}

/*
 * The checked example of docs/protocol.md §6.3; the page and this test must
 * agree byte for byte (Ed25519 is deterministic, RFC 8032 §5.1.6).
 *
 *   broker ticket key seed   4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb
 *                            (RFC 8032 §7.1 TEST 2; public 3d4017c3...2af4660c)
 *   client key seed          9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60
 *                            (RFC 8032 §7.1 TEST 1; public d75a9801...f707511a)
 *   ticket                   id 00 01 02 ... 1f, issued 1790000000, expires 1790000060,
 *                            user "alice", desktop "desk-1", agent "agent-7",
 *                            session "sess-1", client_key = the client's public key
 *   exporter                 01 02 03 ... 20 (32 bytes)
 *   signed by the client     "highrise ticket binding v1" NUL || id || exporter (91 bytes)
 *
 *   HELLO proof (64 bytes)   EXAMPLE_PROOF below
 *   ticket (the wire bytes)  EXAMPLE_TICKET below
 */
#define EXAMPLE_BROKER_SEED "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
#define EXAMPLE_CLIENT_SEED "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define EXAMPLE_CLIENT_PUB  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define EXAMPLE_PROOF                                                      \
	"0e6ec549bb8d87e2a56c4e47bd1437f629ed76a272e185374c07f730d4420190" \
	"516365c278aac85ecee1d529d929291e58dc155c81e014341ecc6a1a0a0ce80b"
#define EXAMPLE_TICKET                                                     \
	"02000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e" \
	"1f000000006ab13b80000000006ab13bbc05616c696365066465736b2d310761" \
	"67656e742d3706736573732d31d75a980182b10ab7d54bfed3c964073a0ee172" \
	"f3daa62325af021a68f707511af4cb88687a3e2759b8ca6945f44357408f1009" \
	"0aa59b6d156d0c83eb67451efa2236fc3d570b071027f4fdf01a68ff3a88392e" \
	"9eec6a5fd1b57b9f39c6200209"

static void test_binding_example(void)
{
	EVP_PKEY *broker = hex_key(EXAMPLE_BROKER_SEED), *client = hex_key(EXAMPLE_CLIENT_SEED);
	uint8_t pub[TICKET_CLIENT_KEY_LEN], exporter[TICKET_EXPORTER_LEN], proof[TICKET_BIND_LEN];
	uint8_t buf[TICKET_WIRE_MAX];
	char text[2 * TICKET_WIRE_MAX + 1];
	struct ticket t;
	struct proof p;
	size_t len = 0;

	CHECK(broker && client);
	if (!broker || !client)
		goto out;
	CHECK_RC(ticket_client_key_public(client, pub), 0);
	hex(pub, sizeof(pub), text);
	CHECK_STR_EQ(text, EXAMPLE_CLIENT_PUB);

	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "sess-1", pub, 1790000000, 60), 0);
	for (int i = 0; i < TICKET_ID_LEN; i++)
		t.id[i] = (uint8_t)i;
	t.issued = 1790000000;
	t.expires = 1790000060;
	for (int i = 0; i < TICKET_EXPORTER_LEN; i++)
		exporter[i] = (uint8_t)(i + 1);

	CHECK_RC(ticket_bind_sign(client, t.id, exporter, proof), 0);
	hex(proof, sizeof(proof), text);
	printf("checked example: HELLO proof %s\n", text);
	CHECK_STR_EQ(text, EXAMPLE_PROOF);

	CHECK_RC(ticket_sign(&t, broker, buf, sizeof(buf), &len), 0);
	hex(buf, len, text);
	printf("checked example: ticket (%zu bytes) %s\n", len, text);
	CHECK_STR_EQ(text, EXAMPLE_TICKET);

	/* and an agent of that broker takes them together */
	struct ticket_verifier *v = ticket_verifier_new(broker, "agent-7", 0);
	CHECK(v != NULL);
	p.bind = (struct ticket_bind){.exporter = exporter, .proof = proof, .proof_len = 64};
	if (v)
		CHECK_RC(ticket_verify(v, buf, len, "desk-1", 1790000000, &p.bind, NULL), 0);
	ticket_verifier_free(v);
out:
	EVP_PKEY_free(broker);
	EVP_PKEY_free(client);
}

/* ---- bundles: what highrise-ticket writes and highrise-probe reads ------ */

static void test_bundle(void)
{
	uint8_t buf[TICKET_WIRE_MAX], got[TICKET_WIRE_MAX], pub[TICKET_CLIENT_KEY_LEN];
	uint8_t other_pub[TICKET_CLIENT_KEY_LEN];
	EVP_PKEY *other = ticket_client_key_new(other_pub), *k = NULL;
	size_t len = make(key, buf, NOW, 30, NULL), got_len = 0;
	char *text, *other_text, *mixed;
	static const char begin[] = "-----BEGIN HIGHRISE CONNECT TICKET-----\n";

	CHECK(other != NULL);
	text = ticket_bundle_encode(buf, len, client_key);
	CHECK(text != NULL);
	if (!text)
		goto out;
	CHECK(strncmp(text, begin, strlen(begin)) == 0);
	CHECK(strstr(text,
		     "-----END HIGHRISE CONNECT TICKET-----\n-----BEGIN PRIVATE KEY-----\n") !=
	      NULL);
	CHECK(strstr(text, "-----END PRIVATE KEY-----\n") != NULL);

	/* round trip: the same ticket bytes and a key with the ticket's public half */
	CHECK_INT_EQ(ticket_bundle_decode(text, strlen(text), got, sizeof(got), &got_len, &k), 0);
	CHECK_INT_EQ(got_len, len);
	CHECK_MEM_EQ(got, buf, len);
	CHECK(k != NULL);
	CHECK_RC(ticket_client_key_public(k, pub), 0);
	CHECK_MEM_EQ(pub, client_pub, TICKET_CLIENT_KEY_LEN);
	/* the decoded key makes proofs the verifier takes */
	if (k) {
		struct ticket_verifier *v = verifier("agent-7", 0);
		struct proof p;
		CHECK_RC(ticket_verify(v, got, got_len, "desk-1", NOW,
				       prove(&p, got, got_len, k, test_exporter), NULL),
			 0);
		ticket_verifier_free(v);
	}
	EVP_PKEY_free(k);
	k = NULL;
	/* text before, between and after the blocks is allowed (a comment, CRLF lines) */
	size_t tl = strlen(text);
	char *commented = malloc(tl + 64);
	CHECK(commented != NULL);
	if (commented) {
		snprintf(commented, tl + 64, "# from highrise-ticket\n%s\n", text);
		CHECK_INT_EQ(ticket_bundle_decode(commented, strlen(commented), got, sizeof(got),
						  &got_len, &k),
			     0);
		EVP_PKEY_free(k);
		k = NULL;
		free(commented);
	}

	/* a ticket too long for the caller's buffer */
	CHECK_INT_EQ(ticket_bundle_decode(text, tl, got, len - 1, &got_len, &k), -ENOSPC);
	CHECK(k == NULL);
	CHECK_INT_EQ(got_len, 0);
	/* only the ticket, or cut anywhere inside the key */
	char *key_at = strstr(text, "-----BEGIN PRIVATE KEY-----");
	CHECK(key_at != NULL);
	if (key_at) {
		size_t cut = (size_t)(key_at - text);
		CHECK_INT_EQ(ticket_bundle_decode(text, cut, got, sizeof(got), &got_len, &k),
			     -EINVAL);
		CHECK(k == NULL);
		for (size_t l = cut; l < tl - 1; l += 13)
			CHECK_INT_EQ(ticket_bundle_decode(text, l, got, sizeof(got), &got_len, &k),
				     -EINVAL);
		/* the key alone, with no ticket before it */
		CHECK_INT_EQ(ticket_bundle_decode(key_at, strlen(key_at), got, sizeof(got),
						  &got_len, &k),
			     -EINVAL);
	}
	/* not PEM at all: raw ticket bytes (the old highrise-ticket output), empty, NULL */
	CHECK_INT_EQ(ticket_bundle_decode((const char *)buf, len, got, sizeof(got), &got_len, &k),
		     -EINVAL);
	CHECK_INT_EQ(ticket_bundle_decode("", 0, got, sizeof(got), &got_len, &k), -EINVAL);
	CHECK_INT_EQ(ticket_bundle_decode(NULL, 0, got, sizeof(got), &got_len, &k), -EINVAL);
	CHECK(k == NULL);

	/* this ticket with another ticket's key: the key must be the ticket's client_key */
	other_text = ticket_bundle_encode(buf, len, other);
	CHECK(other_text != NULL);
	if (other_text) {
		CHECK_INT_EQ(ticket_bundle_decode(other_text, strlen(other_text), got, sizeof(got),
						  &got_len, &k),
			     -EINVAL);
		CHECK(k == NULL);
		free(other_text);
	}
	/* a PEM block that holds no ticket */
	mixed = NULL;
	{
		BIO *mem = BIO_new(BIO_s_mem());
		char *data;
		long n;
		CHECK(mem && PEM_write_bio(mem, "HIGHRISE CONNECT TICKET", "",
					   (const unsigned char *)"nonsense", 8) > 0);
		CHECK(PEM_write_bio_PrivateKey(mem, client_key, NULL, NULL, 0, NULL, NULL) == 1);
		/* the BIO's data is not NUL-terminated: copy it, never strndup it */
		n = BIO_get_mem_data(mem, &data);
		mixed = malloc((size_t)n + 1);
		if (mixed) {
			memcpy(mixed, data, (size_t)n);
			mixed[n] = '\0';
		}
		BIO_free(mem);
	}
	CHECK(mixed != NULL);
	if (mixed)
		CHECK_INT_EQ(
			ticket_bundle_decode(mixed, strlen(mixed), got, sizeof(got), &got_len, &k),
			-EINVAL);
	free(mixed);
	/* the blocks in the other order */
	if (key_at) {
		size_t cut = (size_t)(key_at - text);
		char *swapped = malloc(tl + 1);
		CHECK(swapped != NULL);
		if (swapped) {
			memcpy(swapped, key_at, tl - cut);
			memcpy(swapped + tl - cut, text, cut);
			swapped[tl] = '\0';
			CHECK_INT_EQ(
				ticket_bundle_decode(swapped, tl, got, sizeof(got), &got_len, &k),
				-EINVAL);
			free(swapped);
		}
	}

	/* encode refuses what is no bundle */
	CHECK(ticket_bundle_encode(buf, len, NULL) == NULL);
	CHECK(ticket_bundle_encode(NULL, 0, client_key) == NULL);
	CHECK(ticket_bundle_encode(buf, TICKET_WIRE_MAX + 1, client_key) == NULL);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	CHECK(ec != NULL);
	CHECK(ticket_bundle_encode(buf, len, ec) == NULL);
	EVP_PKEY_free(ec);
	free(text);
out:
	EVP_PKEY_free(other);
}

/* ---- keys made by the real highrise-certs ticket-key -------------------- */

static int run_tool(const char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status = 0, rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(rc));
		return -1;
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void test_key_files(void)
{
	const char *src = getenv("HIGHRISE_SOURCE_DIR");
	const char *tmpdir = getenv("TMPDIR");
	char dir[256], tool[512], priv[300], pub[300], ca[300], missing[300];
	uint8_t buf[TICKET_WIRE_MAX];
	struct stat st;
	size_t len;

	if (!src || !*src) {
		fprintf(stderr, "test_ticket: HIGHRISE_SOURCE_DIR is not set (run it with ctest, "
				"or set it to the source tree)\n");
		CHECK(0);
		return;
	}
	snprintf(tool, sizeof(tool), "%s/certs/highrise-certs", src);
	snprintf(dir, sizeof(dir), "%s/highrise-test-ticket-XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "mkdtemp %s: %s\n", dir, strerror(errno));
		CHECK(0);
		return;
	}
	snprintf(priv, sizeof(priv), "%s/ticket.key", dir);
	snprintf(pub, sizeof(pub), "%s/ticket.pub", dir);
	snprintf(ca, sizeof(ca), "%s/ca.key", dir);
	snprintf(missing, sizeof(missing), "%s/missing.pem", dir);

	const char *keygen[] = {tool, "--dir", dir, "ticket-key", NULL};
	const char *init[] = {tool, "--dir", dir, "init", NULL};
	CHECK_INT_EQ(run_tool(keygen), 0);
	CHECK_INT_EQ(run_tool(init), 0);
	CHECK(stat(priv, &st) == 0 && (st.st_mode & 0777) == 0600);

	EVP_PKEY *fpriv = ticket_key_load_private(priv);
	EVP_PKEY *fpub = ticket_key_load_public(pub);
	EVP_PKEY *fpub2 = ticket_key_load_public(priv); /* the public half of a private key */
	CHECK(fpriv && fpub && fpub2);
	if (fpriv && fpub && fpub2) {
		struct ticket_verifier *v = ticket_verifier_new(fpub, "agent-7", 0);
		struct ticket_verifier *v2 = ticket_verifier_new(fpub2, "agent-7", 0);
		struct ticket_verifier *vmem = verifier("agent-7", 0);
		CHECK(v && v2);
		len = make(fpriv, buf, NOW, 30, NULL);
		CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), 0);
		CHECK_RC(verify(v2, buf, len, "desk-1", NOW, NULL), 0);
		CHECK_RC(verify(vmem, buf, len, "desk-1", NOW, NULL), HR_ETICKET_SIGNATURE);
		/* the verifier holds its own reference to the key */
		EVP_PKEY_free(fpub);
		fpub = NULL;
		len = make(fpriv, buf, NOW, 30, NULL);
		CHECK_RC(verify(v, buf, len, "desk-1", NOW, NULL), 0);
		ticket_verifier_free(vmem);
		ticket_verifier_free(v2);
		ticket_verifier_free(v);
	}
	EVP_PKEY_free(fpriv);
	EVP_PKEY_free(fpub);
	EVP_PKEY_free(fpub2);

	/* what must not load */
	CHECK(ticket_key_load_private(pub) == NULL); /* a public key is no private key */
	CHECK(ticket_key_load_private(ca) == NULL);  /* an EC key, not Ed25519 */
	CHECK(ticket_key_load_public(ca) == NULL);
	CHECK(ticket_key_load_public(missing) == NULL);
	CHECK(ticket_key_load_private(missing) == NULL);

	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	other_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	client_key = ticket_client_key_new(client_pub);
	CHECK(key && other_key && client_key);
	if (!key || !other_key || !client_key)
		return check_done("test_ticket");

	test_valid();
	test_times();
	test_replay();
	test_mismatch();
	test_context_string();
	test_tampering();
	test_names();
	test_sign_errors();
	test_cache_full();
	test_parse_and_id();
	test_threads();
	test_binding();
	test_version1();
	test_binding_example();
	test_bundle();
	test_key_files();

	EVP_PKEY_free(key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(client_key);
	return check_done("test_ticket");
}
