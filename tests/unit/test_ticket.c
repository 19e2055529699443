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

/* A fresh ticket for alice on desk-1 at agent-7, signed with k; returns its length. */
static size_t make(EVP_PKEY *k, uint8_t *out, int64_t now, int lifetime, struct ticket *t_out)
{
	struct ticket t;
	size_t len = 0;

	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "sess-1", now, lifetime), 0);
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
	       strcmp(a->session, b->session) == 0;
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
	/* version, id, two times, four length-prefixed names, signature */
	CHECK_INT_EQ(len, 1 + TICKET_ID_LEN + 16 + (1 + 5) + (1 + 6) + (1 + 7) + (1 + 6) +
				  TICKET_SIG_LEN);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, &got), 0);
	CHECK(ticket_eq(&t, &got));
	CHECK_STR_EQ(got.user, "alice");
	CHECK_STR_EQ(got.desktop, "desk-1");
	CHECK_STR_EQ(got.agent, "agent-7");
	CHECK_STR_EQ(got.session, "sess-1");

	/* two tickets never share an id */
	struct ticket t2;
	make(key, buf, NOW, 30, &t2);
	CHECK(memcmp(t.id, t2.id, TICKET_ID_LEN) != 0);

	/* an empty session is allowed; out may be NULL */
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", NULL, NOW, 60), 0);
	CHECK_STR_EQ(t.session, "");
	len = sign_raw(&t, buf);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, NULL), 0);

	/* names of exactly TICKET_NAME_MAX bytes */
	char longest[TICKET_NAME_MAX + 1];
	memset(longest, 'x', TICKET_NAME_MAX);
	longest[TICKET_NAME_MAX] = '\0';
	ticket_verifier_free(v);
	v = verifier(longest, 0);
	CHECK_RC(ticket_init(&t, longest, longest, longest, longest, NOW, 60), 0);
	len = sign_raw(&t, buf);
	CHECK_INT_EQ(len, TICKET_WIRE_MAX);
	CHECK_RC(ticket_verify(v, buf, len, longest, NOW, &got), 0);
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
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", t.expires + TICKET_SKEW + 1, &got),
		 HR_ETICKET_EXPIRED);
	CHECK(is_zero(&got, sizeof(got))); /* nothing from a refused ticket */
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", t.expires + 3600, NULL), HR_ETICKET_EXPIRED);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", t.expires + TICKET_SKEW, NULL), 0);

	len = make(key, buf, NOW, 30, &t);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", t.expires + 1, NULL), 0); /* within skew */

	/* from the future: refused when now < issued - skew */
	len = make(key, buf, NOW, 30, &t);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW - TICKET_SKEW - 1, NULL),
		 HR_ETICKET_NOT_YET_VALID);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW - 3600, NULL), HR_ETICKET_NOT_YET_VALID);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW - TICKET_SKEW, NULL), 0);

	/* lifetimes: 1..TICKET_LIFETIME_MAX from ticket_init */
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", NOW, TICKET_LIFETIME_MAX), 0);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", NOW, 1), 0);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", NOW, TICKET_LIFETIME_MAX + 1),
		 HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", NOW, 0), HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", NOW, -5), HR_ETICKET_MALFORMED);
	/* names by name.h's rule, as the broker gives them */
	CHECK_RC(ticket_init(&t, "alice@example.com", "desk_1.a", "agent-7", "", NOW, 60), 0);
	CHECK_RC(ticket_init(&t, "a b", "desk-1", "agent-7", "", NOW, 60), HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk\n1", "agent-7", "", NOW, 60), HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "../agent", "", NOW, 60), HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "s'1", NOW, 60),
		 HR_ETICKET_MALFORMED);
	/* a clock at the end of time must not overflow */
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", INT64_MAX - 5, 10),
		 HR_ETICKET_MALFORMED);

	/* signed tickets no broker would make: the verifier refuses them all the same */
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", NOW, 60), 0);
	t.expires = t.issued + TICKET_LIFETIME_MAX + 1;
	len = sign_raw(&t, buf);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_MALFORMED);
	t.expires = t.issued;
	len = sign_raw(&t, buf);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_MALFORMED);
	t.expires = t.issued - 10;
	len = sign_raw(&t, buf);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_MALFORMED);
	t.issued = INT64_MAX - 10;
	t.expires = INT64_MAX;
	len = sign_raw(&t, buf);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", INT64_MAX, NULL), HR_ETICKET_MALFORMED);
	t.issued = INT64_MIN;
	t.expires = INT64_MIN + 10;
	len = sign_raw(&t, buf);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", INT64_MIN, NULL), HR_ETICKET_MALFORMED);
	t.issued = INT64_MIN + 10;
	t.expires = INT64_MAX;
	len = sign_raw(&t, buf);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", 0, NULL), HR_ETICKET_MALFORMED);
	ticket_verifier_free(v);
}

static void test_replay(void)
{
	uint8_t buf[TICKET_WIRE_MAX];
	struct ticket t, got;
	struct ticket_verifier *v = verifier("agent-7", 0);
	size_t len = make(key, buf, NOW, 20, &t);

	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, NULL), 0);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, &got), HR_ETICKET_REPLAYED);
	CHECK(is_zero(&got, sizeof(got)));
	/* still refused at every second it could otherwise be accepted... */
	for (int64_t now = NOW - TICKET_SKEW; now <= t.expires + TICKET_SKEW; now++)
		CHECK_RC(ticket_verify(v, buf, len, "desk-1", now, NULL), HR_ETICKET_REPLAYED);
	/* ...and then it is expired anyway */
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", t.expires + TICKET_SKEW + 1, NULL),
		 HR_ETICKET_EXPIRED);
	/* the replay check goes by id, not bytes: another desktop argument changes nothing */
	CHECK_RC(ticket_verify(v, buf, len, NULL, NOW, NULL), HR_ETICKET_REPLAYED);

	/* a refusal for another reason does not use the ticket up */
	len = make(key, buf, NOW, 20, &t);
	CHECK_RC(ticket_verify(v, buf, len, "desk-2", NOW, NULL), HR_ETICKET_WRONG_DESKTOP);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW - 3600, NULL), HR_ETICKET_NOT_YET_VALID);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, NULL), 0);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_REPLAYED);

	/* each verifier (agent process) keeps its own cache */
	struct ticket_verifier *v2 = verifier("agent-7", 0);
	CHECK_RC(ticket_verify(v2, buf, len, "desk-1", NOW, NULL), 0);
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
	CHECK_RC(ticket_verify(v8, buf, len, "desk-1", NOW, NULL), HR_ETICKET_WRONG_AGENT);
	CHECK_RC(ticket_verify(v, buf, len, "desk-2", NOW, NULL), HR_ETICKET_WRONG_DESKTOP);
	CHECK_RC(ticket_verify(v, buf, len, "desk-10", NOW, NULL), HR_ETICKET_WRONG_DESKTOP);
	CHECK_RC(ticket_verify(v, buf, len, "desk-", NOW, NULL), HR_ETICKET_WRONG_DESKTOP);
	CHECK_RC(ticket_verify(v, buf, len, "", NOW, NULL), HR_ETICKET_WRONG_DESKTOP);
	/* desktop NULL: any desktop */
	CHECK_RC(ticket_verify(v, buf, len, NULL, NOW, &got), 0);
	CHECK_STR_EQ(got.desktop, "desk-1");

	/* signed by another key: refused whatever the fields say */
	len = make(other_key, buf, NOW, 30, &t);
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_SIGNATURE);
	CHECK_RC(ticket_verify(vo, buf, len, "desk-1", NOW, NULL), 0);
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
	CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, NULL), HR_ETICKET_SIGNATURE);
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
		rc = ticket_verify(v, copy, len, NULL, NOW, NULL);
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
		CHECK_RC(ticket_verify(v, buf, l, NULL, NOW, NULL), HR_ETICKET_MALFORMED);
		CHECK_RC(ticket_parse(buf, l, &parsed), HR_ETICKET_MALFORMED);
	}
	memcpy(copy, buf, len);
	copy[len] = 0;
	CHECK_RC(ticket_verify(v, copy, len + 1, NULL, NOW, NULL), HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_verify(v, NULL, 0, NULL, NOW, NULL), HR_ETICKET_MALFORMED);

	/* the untouched ticket still verifies: the refusals above were the tampering's */
	CHECK_RC(ticket_verify(v, buf, len, NULL, NOW, NULL), 0);
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

	CHECK_RC(ticket_init(&t, "", "desk-1", "agent-7", "", NOW, 30), HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "", "agent-7", "", NOW, 30), HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "", "", NOW, 30), HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, NULL, "desk-1", "agent-7", "", NOW, 30), HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, n129, "desk-1", "agent-7", "", NOW, 30), HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", n129, "agent-7", "", NOW, 30), HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", n129, "", NOW, 30), HR_ETICKET_MALFORMED);
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", n129, NOW, 30),
		 HR_ETICKET_MALFORMED);

	/* ticket_sign checks the names too */
	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "", NOW, 30), 0);
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

	CHECK_RC(ticket_init(&t, "alice", "desk-1", "agent-7", "s", NOW, 30), 0);
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
		CHECK_RC(ticket_verify(v, a[i], alen[i], NULL, NOW, NULL), 0);
	}
	late_len = make(key, late, NOW + 30, 60, &t);
	/* three live tickets remembered: a fourth must wait rather than push one out */
	CHECK_RC(ticket_verify(v, late, late_len, NULL, NOW, NULL), HR_ETICKET_CACHE_FULL);
	/* the first three can still be presented until NOW + 10 + skew: still full */
	CHECK_RC(ticket_verify(v, late, late_len, NULL, NOW + 10 + TICKET_SKEW, NULL),
		 HR_ETICKET_CACHE_FULL);
	for (int i = 0; i < 3; i++)
		CHECK_RC(ticket_verify(v, a[i], alen[i], NULL, NOW + 10 + TICKET_SKEW, NULL),
			 HR_ETICKET_REPLAYED);
	/* once they have expired for good, their room is free again */
	CHECK_RC(ticket_verify(v, late, late_len, NULL, NOW + 100, NULL), 0);
	CHECK_RC(ticket_verify(v, late, late_len, NULL, NOW + 100, NULL), HR_ETICKET_REPLAYED);
	for (int i = 0; i < 3; i++)
		CHECK_RC(ticket_verify(v, a[i], alen[i], NULL, NOW + 100, NULL),
			 HR_ETICKET_EXPIRED);
	ticket_verifier_free(v);

	/* a large cache does not fill: 1000 tickets in a row */
	v = verifier("agent-7", 0);
	int fails = 0;
	for (int i = 0; i < 1000; i++) {
		uint8_t buf[TICKET_WIRE_MAX];
		size_t len = make(key, buf, NOW, 60, NULL);
		fails += ticket_verify(v, buf, len, NULL, NOW, NULL) != 0;
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
	r->rc = ticket_verify(r->v, r->buf, r->len, "desk-1", NOW, NULL);
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
		CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, NULL), 0);
		CHECK_RC(ticket_verify(v2, buf, len, "desk-1", NOW, NULL), 0);
		CHECK_RC(ticket_verify(vmem, buf, len, "desk-1", NOW, NULL), HR_ETICKET_SIGNATURE);
		/* the verifier holds its own reference to the key */
		EVP_PKEY_free(fpub);
		fpub = NULL;
		len = make(fpriv, buf, NOW, 30, NULL);
		CHECK_RC(ticket_verify(v, buf, len, "desk-1", NOW, NULL), 0);
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
	CHECK(key && other_key);
	if (!key || !other_key)
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
	test_key_files();

	EVP_PKEY_free(key);
	EVP_PKEY_free(other_key);
	return check_done("test_ticket");
}
