/* SPDX-License-Identifier: MIT */
/*
 * proto/resume.h: the resume proof (docs/protocol.md §6.4, with its checked
 * example) and the agent's table of grants: single use, bound to the
 * connection's exporter, a window after the drop, revocation by session.
 */
#include "check.h"
#include "error.h"
#include "resume.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const uint8_t exporter_a[RESUME_EXPORTER_LEN] = {1,  2,	3,  4,	5,  6,	7,  8,	9,  10, 11,
							12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
							23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static uint8_t exporter_b[RESUME_EXPORTER_LEN];

static struct resume_who who_of(const char *user, const char *desktop, const char *session)
{
	struct resume_who w;

	memset(&w, 0, sizeof(w));
	snprintf(w.user, sizeof(w.user), "%s", user);
	snprintf(w.desktop, sizeof(w.desktop), "%s", desktop);
	snprintf(w.session, sizeof(w.session), "%s", session);
	return w;
}

/*
 * docs/protocol.md §6.4's example: secret 0x40..0x5f, id 0x10..0x1f,
 * exporter 0x01..0x20 give this mac (also what Python's hmac module says).
 */
static void test_example(void)
{
	static const char want[] =
		"e8b5ccc5a687e810e7309a310ea5528d9d486de0543c885f0ca87a9898081798";
	uint8_t secret[RESUME_SECRET_LEN], id[RESUME_ID_LEN], mac[RESUME_MAC_LEN];
	char hex[2 * RESUME_MAC_LEN + 1];

	for (int i = 0; i < RESUME_SECRET_LEN; i++)
		secret[i] = (uint8_t)(0x40 + i);
	for (int i = 0; i < RESUME_ID_LEN; i++)
		id[i] = (uint8_t)(0x10 + i);
	CHECK_INT_EQ(resume_mac(secret, id, exporter_a, mac), 0);
	for (int i = 0; i < RESUME_MAC_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	CHECK_STR_EQ(hex, want);
}

static void test_single_use_and_binding(void)
{
	struct resume_table *t = resume_table_new(8);
	struct resume_who who = who_of("alice", "desk-1", "s-1"), got;
	uint8_t grant[RESUME_GRANT_LEN], proof[RESUME_PROOF_LEN], other[RESUME_PROOF_LEN];
	int owner;
	void *old = NULL;

	CHECK(t != NULL);
	CHECK_INT_EQ(resume_grant(t, &who, &owner, grant), 0);
	CHECK_INT_EQ(resume_count(t), 1);
	/* a proof made for another connection is refused, and the grant survives it */
	CHECK_INT_EQ(resume_proof(grant, exporter_b, other), 0);
	CHECK_INT_EQ(resume_claim(t, other, sizeof(other), exporter_a, 0, &got, &old),
		     HR_ERESUME_PROOF);
	/* a wrong length or an unknown id */
	CHECK_INT_EQ(resume_proof(grant, exporter_a, proof), 0);
	CHECK_INT_EQ(resume_claim(t, proof, sizeof(proof) - 1, exporter_a, 0, &got, &old),
		     HR_ERESUME_UNKNOWN);
	proof[0] ^= 1;
	CHECK_INT_EQ(resume_claim(t, proof, sizeof(proof), exporter_a, 0, &got, &old),
		     HR_ERESUME_UNKNOWN);
	proof[0] ^= 1;
	/* the right proof: who it was, and the connection still holding it */
	CHECK_INT_EQ(resume_claim(t, proof, sizeof(proof), exporter_a, 0, &got, &old), 0);
	CHECK_STR_EQ(got.user, "alice");
	CHECK_STR_EQ(got.desktop, "desk-1");
	CHECK_STR_EQ(got.session, "s-1");
	CHECK(old == &owner);
	CHECK_INT_EQ(resume_count(t), 0);
	/* replayed: the grant is gone */
	CHECK_INT_EQ(resume_claim(t, proof, sizeof(proof), exporter_a, 0, &got, &old),
		     HR_ERESUME_UNKNOWN);
	resume_table_free(t);
}

static int expired_calls;
static char expired_user[RESUME_NAME_MAX + 1];

static void on_expired(const struct resume_who *who, void *ud)
{
	(void)ud;
	expired_calls++;
	snprintf(expired_user, sizeof(expired_user), "%s", who->user);
}

static void test_window_and_revoke(void)
{
	struct resume_table *t = resume_table_new(8);
	struct resume_who a = who_of("alice", "d1", "s-1"), b = who_of("bob", "d2", "s-2"), got;
	uint8_t ga[RESUME_GRANT_LEN], gb[RESUME_GRANT_LEN], proof[RESUME_PROOF_LEN];
	int oa, ob, oc;
	void *old = &oc;

	CHECK_INT_EQ(resume_grant(t, &a, &oa, ga), 0);
	CHECK_INT_EQ(resume_grant(t, &b, &ob, gb), 0);
	/* alice's connection drops at 1000 ms with a 180 s window */
	resume_park(t, &oa, 1000 + 180000);
	CHECK_INT_EQ(resume_sweep(t, 100000, NULL, on_expired, NULL), 0);
	CHECK_INT_EQ(resume_proof(ga, exporter_a, proof), 0);
	/* past the window: refused, even before a sweep */
	CHECK_INT_EQ(resume_claim(t, proof, sizeof(proof), exporter_a, 181000, &got, &old),
		     HR_ERESUME_UNKNOWN);
	CHECK_INT_EQ(resume_count(t), 1);
	/* within it: parked grants hand back no connection to evict */
	CHECK_INT_EQ(resume_grant(t, &a, &oa, ga), 0);
	resume_park(t, &oa, 5000);
	CHECK_INT_EQ(resume_proof(ga, exporter_a, proof), 0);
	CHECK_INT_EQ(resume_claim(t, proof, sizeof(proof), exporter_a, 4999, &got, &old), 0);
	CHECK(old == NULL);
	/* a window that ends is swept, and the agent hears whose */
	CHECK_INT_EQ(resume_grant(t, &a, &oa, ga), 0);
	resume_park(t, &oa, 6000);
	expired_calls = 0;
	CHECK_INT_EQ(resume_sweep(t, 6000, NULL, on_expired, NULL), 1);
	CHECK_INT_EQ(expired_calls, 1);
	CHECK_STR_EQ(expired_user, "alice");
	/* the broker ends bob's session: held or parked, the grant goes, without the callback */
	CHECK_INT_EQ(resume_sweep(t, 0, "s-2", on_expired, NULL), 1);
	CHECK_INT_EQ(expired_calls, 1);
	CHECK_INT_EQ(resume_proof(gb, exporter_a, proof), 0);
	CHECK_INT_EQ(resume_claim(t, proof, sizeof(proof), exporter_a, 0, &got, &old),
		     HR_ERESUME_UNKNOWN);
	/* a clean goodbye forgets the grant */
	CHECK_INT_EQ(resume_grant(t, &b, &ob, gb), 0);
	resume_drop(t, &ob);
	CHECK_INT_EQ(resume_count(t), 0);
	resume_table_free(t);
}

static void test_full(void)
{
	struct resume_table *t = resume_table_new(2);
	struct resume_who w = who_of("u", "d", "");
	uint8_t g1[RESUME_GRANT_LEN], g2[RESUME_GRANT_LEN], g3[RESUME_GRANT_LEN];
	uint8_t proof[RESUME_PROOF_LEN];
	int o1, o2, o3;
	void *old;
	struct resume_who got;

	CHECK_INT_EQ(resume_grant(t, &w, &o1, g1), 0);
	CHECK_INT_EQ(resume_grant(t, &w, &o2, g2), 0);
	/* full of held grants: no room, nobody's grant is taken */
	CHECK_INT_EQ(resume_grant(t, &w, &o3, g3), -ENOMEM);
	/* a parked one makes room */
	resume_park(t, &o1, 9000);
	CHECK_INT_EQ(resume_grant(t, &w, &o3, g3), 0);
	CHECK_INT_EQ(resume_proof(g1, exporter_a, proof), 0);
	CHECK_INT_EQ(resume_claim(t, proof, sizeof(proof), exporter_a, 0, &got, &old),
		     HR_ERESUME_UNKNOWN);
	CHECK_INT_EQ(resume_proof(g2, exporter_a, proof), 0);
	CHECK_INT_EQ(resume_claim(t, proof, sizeof(proof), exporter_a, 0, &got, &old), 0);
	CHECK(old == &o2);
	resume_table_free(t);
	resume_table_free(NULL);
}

int main(void)
{
	memset(exporter_b, 0x77, sizeof(exporter_b));
	test_example();
	test_single_use_and_binding();
	test_window_and_revoke();
	test_full();
	return check_done("test_resume");
}
