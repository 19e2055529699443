/* SPDX-License-Identifier: MIT */
/*
 * The SQLite store on a real file in a temporary directory: the model,
 * entitlements, the connect decision (dedicated, existing session, floating,
 * never offline or maintenance), agent expiry, tokens, migrations on reopen,
 * agents reporting desktop states and session events, the end lists their
 * heartbeats take, the logoff policies (immediate, after_idle, pending
 * timeout), the admin changes of issue #5 part 2, and 200 connect decisions
 * from 8 threads on 50 desktops.
 */
#include "check.h"
#include "log.h"
#include "password.h"
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define NOW 1800000000
#define WIN 30

static char dir[64], uri[128];

static int rm_cb(const char *name)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return unlink(p);
}

static void cleanup(void)
{
	rm_cb("b.db");
	rm_cb("b.db-wal");
	rm_cb("b.db-shm");
	rmdir(dir);
}

static void test_password(void)
{
	struct password_cost fast = {1, 64, 1};
	char h[PASSWORD_HASH_MAX];
	CHECK_INT_EQ(password_hash("s3cret", &fast, h, sizeof(h)), 0);
	CHECK(strncmp(h, "$argon2id$", 10) == 0);
	CHECK_INT_EQ(password_verify("s3cret", h), 0);
	CHECK_INT_EQ(password_verify("s3creT", h), -EACCES);
	CHECK_INT_EQ(password_verify("s3cret", "not a hash"), -EINVAL);
	password_dummy_verify("x");
}

static void test_model(struct store *s)
{
	const struct store_impl *i = s->impl;
	struct store_pool p = {.kind = STORE_POOL_FLOATING, .max_sessions = 1}, *pools;
	struct store_connect_req req = {.now = NOW, .heartbeat_window = WIN};
	struct store_connect_res res, res2;
	struct store_desktop_info info;
	const char *ds[] = {"d1", "d2", "nope"};
	char hash[STORE_HASH_MAX + 1];
	uint8_t tok[32] = {1, 2, 3};
	size_t n, unknown;
	int off;

	CHECK_INT_EQ(i->user_add(s, "alice", "$argon2id$fake"), 0);
	CHECK_INT_EQ(i->user_add(s, "alice", "$argon2id$fake"), -EEXIST);
	CHECK_INT_EQ(i->user_add(s, "bob", "h"), 0);
	CHECK_INT_EQ(i->user_add(s, "eve", "h"), 0);
	CHECK_INT_EQ(i->user_add(s, "", "h"), -EINVAL);
	CHECK_INT_EQ(i->user_password_hash(s, "alice", hash, sizeof(hash)), 0);
	CHECK_STR_EQ(hash, "$argon2id$fake");
	CHECK_INT_EQ(i->user_password_hash(s, "nobody", hash, sizeof(hash)), -ENOENT);
	CHECK_INT_EQ(i->user_password_hash(s, "' OR 1=1 --", hash, sizeof(hash)), -ENOENT);

	CHECK_INT_EQ(i->group_add(s, "staff"), 0);
	CHECK_INT_EQ(i->group_member_add(s, "staff", "bob"), 0);
	CHECK_INT_EQ(i->group_member_add(s, "staff", "bob"), -EEXIST);
	CHECK_INT_EQ(i->group_member_add(s, "staff", "nobody"), -ENOENT);

	snprintf(p.name, sizeof(p.name), "float");
	CHECK_INT_EQ(i->pool_add(s, &p), 0);
	CHECK_INT_EQ(i->pool_add(s, &p), -EEXIST);
	snprintf(p.name, sizeof(p.name), "ded");
	p.kind = STORE_POOL_DEDICATED;
	CHECK_INT_EQ(i->pool_add(s, &p), 0);

	CHECK_INT_EQ(i->desktop_add(s, "float", "a1", "d1", "x11::5"), 0);
	CHECK_INT_EQ(i->desktop_add(s, "float", "a1", "d2", "x11::6"), 0);
	CHECK_INT_EQ(i->desktop_add(s, "float", "a1", "d1", "x11::5"), -EEXIST);
	CHECK_INT_EQ(i->desktop_add(s, "nopool", "a1", "d9", ""), -ENOENT);
	CHECK_INT_EQ(i->desktop_add(s, "ded", "a2", "v1", "vnc://127.0.0.1:5901"), 0);
	CHECK_INT_EQ(i->desktop_get(s, "a1", "d1", &info), 0);
	CHECK_INT_EQ(info.state, STORE_DESKTOP_OFFLINE);
	CHECK_STR_EQ(info.pool, "float");

	CHECK_INT_EQ(i->entitle(s, "float", "alice", NULL), 0);
	CHECK_INT_EQ(i->entitle(s, "float", "alice", NULL), -EEXIST);
	CHECK_INT_EQ(i->entitle(s, "float", NULL, "staff"), 0);
	CHECK_INT_EQ(i->entitle(s, "float", NULL, "staff"), -EEXIST);
	CHECK_INT_EQ(i->entitle(s, "ded", "alice", NULL), 0);
	CHECK_INT_EQ(i->entitle(s, "ded", "alice", "staff"), -EINVAL);

	CHECK_INT_EQ(i->pools_for_user(s, "alice", &pools, &n), 0);
	CHECK_INT_EQ(n, 2);
	if (n == 2) {
		CHECK_STR_EQ(pools[0].name, "ded");
		CHECK_INT_EQ(pools[0].kind, STORE_POOL_DEDICATED);
		CHECK_STR_EQ(pools[1].name, "float");
	}
	free(pools);
	CHECK_INT_EQ(i->pools_for_user(s, "bob", &pools, &n), 0);
	CHECK_INT_EQ(n, 1);
	free(pools);
	CHECK_INT_EQ(i->pools_for_user(s, "eve", &pools, &n), 0);
	CHECK_INT_EQ(n, 0);
	free(pools);

	/* no agent yet: everything is offline, nothing is handed out */
	req.user = "alice";
	req.pool = "float";
	CHECK_INT_EQ(i->connect(s, &req, &res), -ENOSPC);
	req.user = "eve";
	CHECK_INT_EQ(i->connect(s, &req, &res), -EACCES);
	req.user = "alice";
	req.pool = "nope";
	CHECK_INT_EQ(i->connect(s, &req, &res), -ENOENT);
	req.pool = "float";

	CHECK_INT_EQ(i->agent_register(s, "a1", "127.0.0.1", 7443, NOW, ds, NULL, NULL, 3, NULL,
				       &unknown),
		     0);
	CHECK_INT_EQ(unknown, 1);
	CHECK_INT_EQ(
		i->agent_register(s, "a1", "127.0.0.1", 0, NOW, ds, NULL, NULL, 3, NULL, &unknown),
		-EINVAL);
	CHECK_INT_EQ(i->desktop_get(s, "a1", "d1", &info), 0);
	CHECK_INT_EQ(info.state, STORE_DESKTOP_AVAILABLE);
	CHECK_INT_EQ(i->desktop_set_maintenance(s, "a1", "d1", true), 0);

	/* d1 in maintenance: alice gets d2 */
	CHECK_INT_EQ(i->connect(s, &req, &res), 0);
	CHECK_STR_EQ(res.desktop, "d2");
	CHECK_STR_EQ(res.agent, "a1");
	CHECK_STR_EQ(res.address, "127.0.0.1");
	CHECK_INT_EQ(res.port, 7443);
	CHECK_INT_EQ(strlen(res.session), 32);
	CHECK(!res.reused);
	CHECK_INT_EQ(i->desktop_get(s, "a1", "d2", &info), 0);
	CHECK_INT_EQ(info.state, STORE_DESKTOP_ASSIGNED);
	/* again: the same session */
	CHECK_INT_EQ(i->connect(s, &req, &res2), 0);
	CHECK(res2.reused);
	CHECK_STR_EQ(res2.session, res.session);
	CHECK_STR_EQ(res2.desktop, "d2");
	/* bob (via his group): nothing left, d1 is in maintenance */
	req.user = "bob";
	CHECK_INT_EQ(i->connect(s, &req, &res2), -ENOSPC);
	CHECK_INT_EQ(i->desktop_set_maintenance(s, "a1", "d1", false), 0);
	CHECK_INT_EQ(i->desktop_get(s, "a1", "d1", &info), 0);
	CHECK_INT_EQ(info.state, STORE_DESKTOP_OFFLINE);
	CHECK_INT_EQ(i->agent_register(s, "a1", "127.0.0.1", 7443, NOW, ds, NULL, NULL, 2, NULL,
				       &unknown),
		     0);
	CHECK_INT_EQ(i->connect(s, &req, &res2), 0);
	CHECK_STR_EQ(res2.desktop, "d1");

	/* logoff returns a floating desktop */
	CHECK_INT_EQ(i->session_end(s, res2.session), 0);
	CHECK_INT_EQ(i->session_end(s, res2.session), -ENOENT);
	CHECK_INT_EQ(i->desktop_get(s, "a1", "d1", &info), 0);
	CHECK_INT_EQ(info.state, STORE_DESKTOP_AVAILABLE);

	/* the agent falls silent: its desktops go offline and are not handed out */
	req.now = NOW + WIN + 1;
	CHECK_INT_EQ(i->connect(s, &req, &res2), -ENOSPC);
	CHECK_INT_EQ(i->agents_expire(s, NOW + WIN + 1, WIN, &off), 0);
	CHECK_INT_EQ(off, 2);
	CHECK_INT_EQ(i->desktop_get(s, "a1", "d2", &info), 0);
	CHECK_INT_EQ(info.state, STORE_DESKTOP_OFFLINE);
	req.user = "alice"; /* her session's desktop is down: she is told so */
	CHECK_INT_EQ(i->connect(s, &req, &res2), -EHOSTDOWN);
	req.user = "bob";
	CHECK_INT_EQ(
		i->agent_heartbeat(s, "a1", NOW + WIN + 1, NULL, NULL, NULL, 0, NULL, NULL, NULL),
		0);
	CHECK_INT_EQ(i->connect(s, &req, &res2), -ENOSPC); /* heartbeat alone: still offline */
	CHECK_INT_EQ(i->agent_heartbeat(s, "ghost", NOW, NULL, NULL, NULL, 0, NULL, NULL, NULL),
		     -ENOENT);
	CHECK_INT_EQ(i->agent_register(s, "a1", "127.0.0.1", 7443, NOW + WIN + 1, ds, NULL, NULL, 2,
				       NULL, NULL),
		     0);
	CHECK_INT_EQ(i->desktop_get(s, "a1", "d2", &info), 0);
	CHECK_INT_EQ(info.state, STORE_DESKTOP_ASSIGNED); /* alice still holds it */
	CHECK_INT_EQ(i->connect(s, &req, &res2), 0);
	CHECK_STR_EQ(res2.desktop, "d1");
	req.user = "alice";
	CHECK_INT_EQ(i->connect(s, &req, &res2), 0);
	CHECK_STR_EQ(res2.session, res.session);

	/* dedicated: assigned on first connect, sticky after logoff */
	req.pool = "ded";
	CHECK_INT_EQ(i->connect(s, &req, &res2), -ENOSPC); /* a2 never registered */
	{
		const char *v[] = {"v1"};
		CHECK_INT_EQ(i->agent_register(s, "a2", "10.0.0.2", 7444, req.now, v, NULL, NULL, 1,
					       NULL, NULL),
			     0);
	}
	CHECK_INT_EQ(i->connect(s, &req, &res2), 0);
	CHECK_STR_EQ(res2.desktop, "v1");
	CHECK_INT_EQ(res2.port, 7444);
	CHECK_INT_EQ(i->session_end(s, res2.session), 0);
	CHECK_INT_EQ(i->desktop_get(s, "a2", "v1", &info), 0);
	CHECK_INT_EQ(info.state, STORE_DESKTOP_ASSIGNED);
	CHECK_INT_EQ(i->connect(s, &req, &res2), 0);
	CHECK_STR_EQ(res2.desktop, "v1");
	CHECK(res2.reused);
	{ /* and again while that session lives: the same session */
		struct store_connect_res res3;
		CHECK_INT_EQ(i->connect(s, &req, &res3), 0);
		CHECK_STR_EQ(res3.session, res2.session);
		CHECK_STR_EQ(res3.desktop, "v1");
		/* its agent falls silent: the dedicated desktop is down, no other is given */
		req.now += WIN + 5;
		CHECK_INT_EQ(i->connect(s, &req, &res3), -EHOSTDOWN);
		req.now -= WIN + 5;
	}
	CHECK_INT_EQ(i->desktop_set_maintenance(s, "a2", "v1", true), 0);
	CHECK_INT_EQ(i->connect(s, &req, &res2), -EHOSTDOWN);

	/* admin assignment of a taken desktop fails */
	CHECK_INT_EQ(i->assign(s, "bob", "a2", "v1"), -EEXIST);
	CHECK_INT_EQ(i->assign(s, "bob", "a2", "nope"), -ENOENT);

	/* tokens */
	CHECK_INT_EQ(i->token_add(s, tok, "alice", NOW + 100), 0);
	CHECK_INT_EQ(i->token_add(s, tok, "alice", NOW + 100), -EEXIST);
	CHECK_INT_EQ(i->token_user(s, tok, NOW, hash, sizeof(hash)), 0);
	CHECK_STR_EQ(hash, "alice");
	CHECK_INT_EQ(i->token_user(s, tok, NOW + 100, hash, sizeof(hash)), -ENOENT);
	CHECK_INT_EQ(i->token_delete(s, tok), 0);
	CHECK_INT_EQ(i->token_user(s, tok, NOW, hash, sizeof(hash)), -ENOENT);
	tok[0] = 9;
	CHECK_INT_EQ(i->token_add(s, tok, "nobody", NOW + 100), -ENOENT);

	/* admin listings */
	{
		struct store_table t;
		CHECK_INT_EQ(i->list(s, STORE_LIST_DESKTOPS, &t), 0);
		CHECK_INT_EQ(t.ncols, 7);
		CHECK_INT_EQ(t.nrows, 3);
		if (t.nrows == 3 && t.ncols == 7) {
			CHECK_STR_EQ(t.cols[3], "state");
			CHECK_STR_EQ(t.cols[6], "offline_reason");
			CHECK_STR_EQ(t.cells[0], "a1");
			CHECK_STR_EQ(t.cells[1], "d1");
			CHECK_STR_EQ(t.cells[4], "bob");
			CHECK_STR_EQ(t.cells[6], "");
			CHECK_STR_EQ(t.cells[7 + 3], "assigned");
			CHECK_STR_EQ(t.cells[7 + 4], "alice");
			CHECK_STR_EQ(t.cells[14 + 3], "maintenance");
		}
		store_table_free(&t);
		CHECK_INT_EQ(i->list(s, STORE_LIST_USERS, &t), 0);
		CHECK_INT_EQ(t.nrows, 3);
		if (t.nrows == 3) {
			CHECK_STR_EQ(t.cells[2], "bob");
			CHECK_STR_EQ(t.cells[3], "staff");
		}
		store_table_free(&t);
		CHECK_INT_EQ(i->list(s, STORE_LIST_POOLS, &t), 0);
		CHECK_INT_EQ(t.nrows, 2);
		store_table_free(&t);
		CHECK_INT_EQ(i->list(s, STORE_LIST_SESSIONS, &t), 0);
		CHECK_INT_EQ(t.nrows, 3); /* alice float + ded, bob float */
		store_table_free(&t);
		CHECK_INT_EQ(i->list(s, STORE_LIST_AGENTS, &t), 0);
		CHECK_INT_EQ(t.nrows, 2);
		store_table_free(&t);
		CHECK_INT_EQ(i->list(s, STORE_LIST_GROUPS, &t), 0);
		CHECK_INT_EQ(t.nrows, 1);
		if (t.nrows == 1)
			CHECK_STR_EQ(t.cells[1], "bob");
		store_table_free(&t);
		store_table_free(NULL);
	}

	/* unassign and remove */
	CHECK_INT_EQ(i->unassign(s, "a1", "d2"), 0); /* alice's floating hold and session */
	CHECK_INT_EQ(i->unassign(s, "a1", "d2"), -ENOENT);
	CHECK_INT_EQ(i->desktop_get(s, "a1", "d2", &info), 0);
	CHECK_INT_EQ(info.state, STORE_DESKTOP_AVAILABLE);
	CHECK_INT_EQ(i->assign(s, "alice", "a1", "d2"), 0);
	CHECK_INT_EQ(i->desktop_get(s, "a1", "d2", &info), 0);
	CHECK_INT_EQ(info.state, STORE_DESKTOP_ASSIGNED);
	CHECK_INT_EQ(i->desktop_delete(s, "a1", "d2"), 0);
	CHECK_INT_EQ(i->desktop_delete(s, "a1", "d2"), -ENOENT);
	CHECK_INT_EQ(i->desktop_get(s, "a1", "d2", &info), -ENOENT);
	CHECK_INT_EQ(i->user_set_password(s, "alice", "$argon2id$new"), 0);
	CHECK_INT_EQ(i->user_password_hash(s, "alice", hash, sizeof(hash)), 0);
	CHECK_STR_EQ(hash, "$argon2id$new");
	CHECK_INT_EQ(i->user_set_password(s, "nobody", "h"), -ENOENT);

	/* deleting a user cascades to memberships, sessions and assignments */
	CHECK_INT_EQ(i->user_delete(s, "bob"), 0);
	CHECK_INT_EQ(i->user_delete(s, "bob"), -ENOENT);
	CHECK_INT_EQ(i->pool_delete(s, "nope"), -ENOENT);
}

/* ---- agents report; the logoff policies ---- */

#define T0 (NOW + 100000)

/* The live session's state and client from the sessions listing; "" when not live. */
static void session_row(struct store *s, const char *id, char *state, char *client)
{
	struct store_table t;
	state[0] = client[0] = '\0';
	CHECK_INT_EQ(s->impl->list(s, STORE_LIST_SESSIONS, &t), 0);
	for (size_t r = 0; r < t.nrows; r++) {
		if (strcmp(t.cells[r * t.ncols], id) != 0)
			continue;
		snprintf(state, 16, "%s", t.cells[r * t.ncols + 8]);
		snprintf(client, 64, "%s", t.cells[r * t.ncols + 5]);
	}
	store_table_free(&t);
}

static const char *state_of(struct store *s, const char *id)
{
	static char st[16];
	char client[64];
	session_row(s, id, st, client);
	return st;
}

static enum store_desktop_state desk(struct store *s, const char *name)
{
	struct store_desktop_info info = {.state = -1};
	CHECK_INT_EQ(s->impl->desktop_get(s, "pa", name, &info), 0);
	return info.state;
}

/* Desktop pa/name's offline reason, as desktop_get and the admin listing give it (the same). */
static const char *reason_of(struct store *s, const char *name)
{
	static char out[STORE_REASON_MAX + 1];
	struct store_desktop_info info = {.state = -1};
	struct store_table t;
	const char *listed = NULL;

	CHECK_INT_EQ(s->impl->desktop_get(s, "pa", name, &info), 0);
	snprintf(out, sizeof(out), "%s", info.offline_reason);
	CHECK_INT_EQ(s->impl->list(s, STORE_LIST_DESKTOPS, &t), 0);
	for (size_t r = 0; t.ncols == 7 && r < t.nrows; r++)
		if (strcmp(t.cells[r * 7], "pa") == 0 && strcmp(t.cells[r * 7 + 1], name) == 0)
			listed = t.cells[r * 7 + 6];
	CHECK(listed != NULL);
	if (listed)
		CHECK_STR_EQ(listed, out);
	store_table_free(&t);
	return out;
}

/* The agent's end list, taken by a heartbeat at now, as "session:reason,..." (sorted by id). */
static const char *ends_of(struct store *s, const char *agent, int64_t now)
{
	static char out[1024];
	struct store_end *e = NULL;
	size_t n = 0;
	out[0] = '\0';
	CHECK_INT_EQ(s->impl->agent_heartbeat(s, agent, now, NULL, NULL, NULL, 0, NULL, &e, &n), 0);
	for (size_t a = 0; a < n; a++) /* a few entries: a simple sort */
		for (size_t b = a + 1; b < n; b++)
			if (strcmp(e[b].session, e[a].session) < 0) {
				struct store_end t = e[a];
				e[a] = e[b];
				e[b] = t;
			}
	for (size_t k = 0; k < n; k++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%.6s:%s", k ? "," : "",
			 e[k].session, store_end_reason_name(e[k].reason));
	free(e);
	return out;
}

static void connect_at(struct store *s, const char *user, const char *pool, int64_t now,
		       struct store_connect_res *res)
{
	struct store_connect_req req = {
		.user = user, .pool = pool, .now = now, .heartbeat_window = WIN};
	CHECK_INT_EQ(s->impl->agent_heartbeat(s, "pa", now, NULL, NULL, NULL, 0, NULL, NULL, NULL),
		     0);
	CHECK_INT_EQ(s->impl->connect(s, &req, res), 0);
}

static size_t pools_of(struct store *s, const char *user)
{
	struct store_pool *p;
	size_t n = 0;
	CHECK_INT_EQ(s->impl->pools_for_user(s, user, &p, &n), 0);
	free(p);
	return n;
}

static void test_policies(struct store *s)
{
	const struct store_impl *i = s->impl;
	struct store_pool imm = {.name = "imm", .logoff = STORE_LOGOFF_IMMEDIATE},
			  idle = {.name = "idle",
				  .logoff = STORE_LOGOFF_AFTER_IDLE,
				  .idle_timeout_s = 60},
			  nev = {.name = "nev", .logoff = STORE_LOGOFF_NEVER};
	const char *ds[] = {"i1", "f1", "f2", "n1"}, *one[] = {"i1"};
	const bool down[] = {false}, up[] = {true};
	struct store_connect_res s1, s2, s3, s4, s5, s6;
	struct store_connect_req req = {
		.user = "pu", .pool = "imm", .now = T0, .heartbeat_window = WIN};
	char st[16], client[64];
	size_t ok, unknown;
	int ended;

	CHECK_INT_EQ(i->user_add(s, "pu", "h"), 0);
	CHECK_INT_EQ(i->user_add(s, "pv", "h"), 0);
	CHECK_INT_EQ(i->pool_add(s, &imm), 0);
	CHECK_INT_EQ(i->pool_add(s, &idle), 0);
	CHECK_INT_EQ(i->pool_add(s, &nev), 0);
	CHECK_INT_EQ(i->desktop_add(s, "imm", "pa", "i1", ""), 0);
	CHECK_INT_EQ(i->desktop_add(s, "idle", "pa", "f1", ""), 0);
	CHECK_INT_EQ(i->desktop_add(s, "idle", "pa", "f2", ""), 0);
	CHECK_INT_EQ(i->desktop_add(s, "nev", "pa", "n1", ""), 0);
	CHECK_INT_EQ(i->entitle(s, "imm", "pu", NULL), 0);
	CHECK_INT_EQ(i->entitle(s, "idle", "pu", NULL), 0);
	CHECK_INT_EQ(i->entitle(s, "idle", "pv", NULL), 0);
	CHECK_INT_EQ(i->entitle(s, "nev", "pv", NULL), 0);
	{ /* a registration may say a console is down */
		const bool ups[] = {false, true, true, true};
		CHECK_INT_EQ(i->agent_register(s, "pa", "127.0.0.1", 7500, T0, ds, ups, NULL, 4,
					       NULL, &ok),
			     0);
		CHECK_INT_EQ(ok, 0); /* unknown ones */
	}
	CHECK_INT_EQ(desk(s, "i1"), STORE_DESKTOP_OFFLINE);
	CHECK_INT_EQ(desk(s, "f1"), STORE_DESKTOP_AVAILABLE);
	CHECK_STR_EQ(ends_of(s, "pa", T0), "");

	/* a heartbeat brings a console back (up) and takes it away (down) */
	CHECK_INT_EQ(i->connect(s, &req, &s1), -ENOSPC);
	CHECK_INT_EQ(i->agent_heartbeat(s, "pa", T0, one, up, NULL, 1, NULL, NULL, NULL), 0);
	CHECK_INT_EQ(desk(s, "i1"), STORE_DESKTOP_AVAILABLE);
	CHECK_INT_EQ(i->agent_heartbeat(s, "pa", T0, one, down, NULL, 1, NULL, NULL, NULL), 0);
	CHECK_INT_EQ(desk(s, "i1"), STORE_DESKTOP_OFFLINE);
	CHECK_INT_EQ(i->connect(s, &req, &s1), -ENOSPC);
	CHECK_INT_EQ(i->agent_heartbeat(s, "pa", T0, one, NULL, NULL, 1, NULL, NULL, NULL),
		     0); /* NULL: up */
	CHECK_INT_EQ(desk(s, "i1"), STORE_DESKTOP_AVAILABLE);
	{ /* why a console is down: kept while offline, gone when up; each change said once */
		const char *refused[] = {"the console refused the agent's credentials; fix the "
					 "desktop's password file"},
			   *lost[] = {"the console closed the connection — retrying"},
			   *none[] = {NULL};
		char big[STORE_REASON_MAX + 2];
		const char *too_long[] = {big};
		bool ch = false;

		CHECK_STR_EQ(reason_of(s, "i1"), "");
		CHECK_INT_EQ(
			i->agent_heartbeat(s, "pa", T0, one, down, refused, 1, &ch, NULL, NULL), 0);
		CHECK(ch);
		CHECK_INT_EQ(desk(s, "i1"), STORE_DESKTOP_OFFLINE);
		CHECK_STR_EQ(reason_of(s, "i1"), refused[0]);
		ch = true; /* the same again, every heartbeat: no news */
		CHECK_INT_EQ(
			i->agent_heartbeat(s, "pa", T0, one, down, refused, 1, &ch, NULL, NULL), 0);
		CHECK(!ch);
		CHECK_INT_EQ(i->agent_heartbeat(s, "pa", T0, one, down, lost, 1, &ch, NULL, NULL),
			     0);
		CHECK(ch); /* a new reason is */
		CHECK_STR_EQ(reason_of(s, "i1"), lost[0]);
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		CHECK_INT_EQ(
			i->agent_heartbeat(s, "pa", T0, one, down, too_long, 1, &ch, NULL, NULL),
			-EINVAL);
		CHECK_STR_EQ(reason_of(s, "i1"), lost[0]); /* nothing changed */
		big[STORE_REASON_MAX] = '\0';		   /* the longest there may be */
		CHECK_INT_EQ(
			i->agent_heartbeat(s, "pa", T0, one, down, too_long, 1, &ch, NULL, NULL),
			0);
		CHECK_STR_EQ(reason_of(s, "i1"), big);
		/* in maintenance the reason is not shown, and not changed */
		CHECK_INT_EQ(i->desktop_set_maintenance(s, "pa", "i1", true), 0);
		CHECK_STR_EQ(reason_of(s, "i1"), "");
		CHECK_INT_EQ(
			i->agent_heartbeat(s, "pa", T0, one, down, refused, 1, &ch, NULL, NULL), 0);
		CHECK(!ch);
		CHECK_INT_EQ(desk(s, "i1"), STORE_DESKTOP_MAINTENANCE);
		CHECK_INT_EQ(i->desktop_set_maintenance(s, "pa", "i1", false), 0);
		/* up: the reason goes */
		CHECK_INT_EQ(i->agent_heartbeat(s, "pa", T0, one, up, refused, 1, &ch, NULL, NULL),
			     0);
		CHECK(ch);
		CHECK_INT_EQ(desk(s, "i1"), STORE_DESKTOP_AVAILABLE);
		CHECK_STR_EQ(reason_of(s, "i1"), "");
		CHECK_INT_EQ(i->agent_heartbeat(s, "pa", T0, one, up, NULL, 1, &ch, NULL, NULL), 0);
		CHECK(!ch);
		/* a registration says it too; down without a reason is down with "" */
		CHECK_INT_EQ(i->agent_register(s, "pa", "127.0.0.1", 7500, T0, one, down, refused,
					       1, &ch, NULL),
			     0);
		CHECK(ch);
		CHECK_STR_EQ(reason_of(s, "i1"), refused[0]);
		CHECK_INT_EQ(i->agent_heartbeat(s, "pa", T0, one, down, none, 1, &ch, NULL, NULL),
			     0);
		CHECK(ch);
		CHECK_INT_EQ(desk(s, "i1"), STORE_DESKTOP_OFFLINE);
		CHECK_STR_EQ(reason_of(s, "i1"), "");
		CHECK_INT_EQ(i->agent_register(s, "pa", "127.0.0.1", 7500, T0, one, NULL, NULL, 1,
					       &ch, NULL),
			     0);
		CHECK(ch);
		CHECK_INT_EQ(desk(s, "i1"), STORE_DESKTOP_AVAILABLE);
	}
	{ /* a heartbeat naming an unknown desktop is fine; a maintenance desktop stays so */
		const char *ghost[] = {"ghost", "n1"};
		CHECK_INT_EQ(i->desktop_set_maintenance(s, "pa", "n1", true), 0);
		CHECK_INT_EQ(
			i->agent_heartbeat(s, "pa", T0, ghost, NULL, NULL, 2, NULL, NULL, NULL), 0);
		CHECK_INT_EQ(desk(s, "n1"), STORE_DESKTOP_MAINTENANCE);
		CHECK_INT_EQ(i->desktop_set_maintenance(s, "pa", "n1", false), 0);
		CHECK_INT_EQ(
			i->agent_heartbeat(s, "pa", T0, ghost, NULL, NULL, 2, NULL, NULL, NULL), 0);
		CHECK_INT_EQ(desk(s, "n1"), STORE_DESKTOP_AVAILABLE);
	}

	/* connected: in use, client recorded; unknown sessions go on the end list once */
	CHECK_INT_EQ(i->connect(s, &req, &s1), 0);
	{
		struct store_event ev[] = {
			{s1.session, "i1", STORE_EVENT_CONNECTED, "10.0.0.5"},
			{"0123456789abcdef0123456789abcdef", "i1", STORE_EVENT_CONNECTED, NULL},
			{s1.session, "f1", STORE_EVENT_IDLE, NULL}, /* not its desktop */
		};
		CHECK_INT_EQ(i->session_events(s, "pa", T0 + 1, ev, 3, &ok, &unknown), 0);
		CHECK_INT_EQ(ok, 1);
		CHECK_INT_EQ(unknown, 2);
		/* another agent cannot touch it */
		CHECK_INT_EQ(i->session_events(s, "other", T0 + 1, ev, 1, &ok, &unknown), 0);
		CHECK_INT_EQ(ok, 0);
		CHECK_INT_EQ(unknown, 1);
	}
	session_row(s, s1.session, st, client);
	CHECK_STR_EQ(st, "connected");
	CHECK_STR_EQ(client, "10.0.0.5");
	CHECK_INT_EQ(desk(s, "i1"), STORE_DESKTOP_IN_USE);
	{
		char want[128];
		snprintf(want, sizeof(want), "012345:logoff,%.6s:logoff", s1.session);
		if (strcmp(s1.session, "0123456789abcdef0123456789abcdef") < 0)
			snprintf(want, sizeof(want), "%.6s:logoff,012345:logoff", s1.session);
		CHECK_STR_EQ(ends_of(s, "pa", T0 + 2), want);
	}
	CHECK_STR_EQ(ends_of(s, "pa", T0 + 2), ""); /* handed out once */
	{
		char want[64];
		snprintf(want, sizeof(want), "%.6s:logoff", s1.session);
		CHECK_INT_EQ(i->agent_register(s, "other", "10.0.0.9", 7501, T0, NULL, NULL, NULL,
					       0, NULL, NULL),
			     0);
		CHECK_STR_EQ(ends_of(s, "other", T0 + 2), want);
	}

	/* immediate: a disconnect is a logoff, the floating desktop goes back */
	{
		struct store_event ev = {s1.session, "i1", STORE_EVENT_DISCONNECTED, NULL};
		CHECK_INT_EQ(i->session_events(s, "pa", T0 + 3, &ev, 1, &ok, &unknown), 0);
		CHECK_INT_EQ(ok, 1);
		CHECK_STR_EQ(state_of(s, s1.session), "");
		CHECK_INT_EQ(desk(s, "i1"), STORE_DESKTOP_AVAILABLE);
		CHECK_STR_EQ(ends_of(s, "pa", T0 + 3), ""); /* its client is gone already */
		/* reported again: unknown now, the agent is told to drop it */
		CHECK_INT_EQ(i->session_events(s, "pa", T0 + 3, &ev, 1, &ok, &unknown), 0);
		CHECK_INT_EQ(unknown, 1);
		CHECK(strstr(ends_of(s, "pa", T0 + 3), ":logoff") != NULL);
	}

	/* after_idle (60 s): idle while connected, or disconnected, for longer ends */
	connect_at(s, "pu", "idle", T0 + 10, &s2);
	connect_at(s, "pv", "idle", T0 + 10, &s3);
	{
		struct store_event ev[] = {
			{s2.session, s2.desktop, STORE_EVENT_CONNECTED, "10.0.0.6"},
			{s3.session, s3.desktop, STORE_EVENT_CONNECTED, "10.0.0.7"},
			{s2.session, s2.desktop, STORE_EVENT_IDLE, NULL},
			{s3.session, s3.desktop, STORE_EVENT_DISCONNECTED, NULL},
		};
		CHECK_INT_EQ(i->session_events(s, "pa", T0 + 10, ev, 4, &ok, &unknown), 0);
		CHECK_INT_EQ(ok, 4);
		CHECK_INT_EQ(unknown, 0);
	}
	CHECK_STR_EQ(state_of(s, s2.session), "connected");
	CHECK_STR_EQ(state_of(s, s3.session), "disconnected");
	CHECK_INT_EQ(desk(s, s2.desktop), STORE_DESKTOP_IN_USE);
	CHECK_INT_EQ(desk(s, s3.desktop), STORE_DESKTOP_ASSIGNED);
	CHECK_INT_EQ(i->sessions_expire(s, T0 + 70, 300, &ended), 0);
	CHECK_INT_EQ(ended, 0); /* 60 s exactly is not longer than 60 s */
	CHECK_INT_EQ(i->sessions_expire(s, T0 + 71, 300, &ended), 0);
	CHECK_INT_EQ(ended, 2);
	CHECK_STR_EQ(state_of(s, s2.session), "");
	CHECK_STR_EQ(state_of(s, s3.session), "");
	CHECK_INT_EQ(desk(s, "f1"), STORE_DESKTOP_AVAILABLE);
	CHECK_INT_EQ(desk(s, "f2"), STORE_DESKTOP_AVAILABLE);
	{ /* only the connected one's client is dropped */
		char want[64];
		snprintf(want, sizeof(want), "%.6s:idle_timeout", s2.session);
		CHECK_STR_EQ(ends_of(s, "pa", T0 + 71), want);
	}

	/* active again: not idle, it stays */
	connect_at(s, "pu", "idle", T0 + 100, &s4);
	{
		struct store_event ev[] = {
			{s4.session, s4.desktop, STORE_EVENT_CONNECTED, NULL},
			{s4.session, s4.desktop, STORE_EVENT_IDLE, NULL},
			{s4.session, s4.desktop, STORE_EVENT_ACTIVE, NULL},
		};
		CHECK_INT_EQ(i->session_events(s, "pa", T0 + 100, ev, 3, &ok, &unknown), 0);
		CHECK_INT_EQ(ok, 3);
	}
	/* pending for longer than pending_timeout: disconnected since its start */
	connect_at(s, "pv", "nev", T0 + 100, &s5);
	connect_at(s, "pv", "idle", T0 + 100, &s6);
	CHECK_STR_EQ(state_of(s, s5.session), "pending");
	CHECK_INT_EQ(i->sessions_expire(s, T0 + 300, 300, &ended), 0);
	CHECK_INT_EQ(ended, 0);
	CHECK_STR_EQ(state_of(s, s5.session), "pending");
	CHECK_INT_EQ(i->sessions_expire(s, T0 + 401, 300, &ended), 0);
	CHECK_INT_EQ(ended, 1); /* s6: after_idle, disconnected since T0 + 100 */
	CHECK_STR_EQ(state_of(s, s5.session), "disconnected"); /* never: it waits */
	CHECK_STR_EQ(state_of(s, s6.session), "");
	CHECK_STR_EQ(state_of(s, s4.session), "connected");
	CHECK_STR_EQ(ends_of(s, "pa", T0 + 401), "");

	/* an admin's disconnect: the session stays, its agent drops the client */
	CHECK_INT_EQ(i->session_disconnect(s, s4.session), 0);
	CHECK_INT_EQ(i->session_disconnect(s, "0123456789abcdef0123456789abcdef"), -ENOENT);
	CHECK_STR_EQ(state_of(s, s4.session), "connected");
	{
		char want[64];
		snprintf(want, sizeof(want), "%.6s:admin", s4.session);
		CHECK_STR_EQ(ends_of(s, "pa", T0 + 402), want);
		/* the user comes back to the same session */
		connect_at(s, "pu", "idle", T0 + 403, &s2);
		CHECK_STR_EQ(s2.session, s4.session);
		CHECK(s2.reused);
		/* an admin's logoff of a live session: its agent drops the client */
		CHECK_INT_EQ(i->session_end(s, s4.session), 0);
		snprintf(want, sizeof(want), "%.6s:logoff", s4.session);
		CHECK_STR_EQ(ends_of(s, "pa", T0 + 404), want);
		/* a disconnected one has no client to drop */
		CHECK_INT_EQ(i->session_end(s, s5.session), 0);
		CHECK_STR_EQ(ends_of(s, "pa", T0 + 404), "");
	}

	/* pool settings: the kind stays once desktops exist */
	{
		struct store_pool_change c = {.kind = STORE_POOL_DEDICATED,
					      .logoff = -1,
					      .idle_timeout_s = -1,
					      .max_sessions = -1};
		struct store_pool empty = {.name = "empty"};
		struct store_table t;
		CHECK_INT_EQ(i->pool_set(s, "idle", &c), -EBUSY);
		CHECK_INT_EQ(i->pool_set(s, "nope", &c), -ENOENT);
		CHECK_INT_EQ(i->pool_add(s, &empty), 0);
		CHECK_INT_EQ(i->pool_set(s, "empty", &c), 0);
		c.kind = STORE_POOL_FLOATING; /* the same kind is no change */
		c.logoff = STORE_LOGOFF_NEVER;
		c.idle_timeout_s = 0;
		c.max_sessions = 3;
		CHECK_INT_EQ(i->pool_set(s, "idle", &c), 0);
		c.kind = c.logoff = -1;
		c.idle_timeout_s = 5;
		c.max_sessions = -1;
		CHECK_INT_EQ(i->pool_set(s, "idle", &c), 0);
		CHECK_INT_EQ(i->list(s, STORE_LIST_POOLS, &t), 0);
		for (size_t r = 0; r < t.nrows; r++) {
			const char *const *row = (const char *const *)&t.cells[r * t.ncols];
			CHECK_INT_EQ(t.ncols, 8);
			if (strcmp(row[0], "idle") == 0) {
				CHECK_STR_EQ(row[1], "floating");
				CHECK_STR_EQ(row[2], "never");
				CHECK_STR_EQ(row[3], "5");
				CHECK_STR_EQ(row[4], "3");
				CHECK_STR_EQ(row[5], "2");
				CHECK_STR_EQ(t.cols[7], "sessions");
			}
			if (strcmp(row[0], "empty") == 0)
				CHECK_STR_EQ(row[1], "dedicated");
		}
		store_table_free(&t);
	}

	/* entitlements and groups go */
	CHECK_INT_EQ(pools_of(s, "pv"), 2);
	CHECK_INT_EQ(i->unentitle(s, "nev", "pv", NULL), 0);
	CHECK_INT_EQ(i->unentitle(s, "nev", "pv", NULL), -ENOENT);
	CHECK_INT_EQ(i->unentitle(s, "nev", NULL, "nogroup"), -ENOENT);
	CHECK_INT_EQ(i->unentitle(s, "nev", "pv", "g"), -EINVAL);
	CHECK_INT_EQ(pools_of(s, "pv"), 1);
	CHECK_INT_EQ(i->group_add(s, "pg"), 0);
	CHECK_INT_EQ(i->group_member_add(s, "pg", "pv"), 0);
	CHECK_INT_EQ(i->entitle(s, "nev", NULL, "pg"), 0);
	CHECK_INT_EQ(pools_of(s, "pv"), 2);
	CHECK_INT_EQ(i->group_member_remove(s, "pg", "pv"), 0);
	CHECK_INT_EQ(i->group_member_remove(s, "pg", "pv"), -ENOENT);
	CHECK_INT_EQ(pools_of(s, "pv"), 1);
	CHECK_INT_EQ(i->group_member_add(s, "pg", "pv"), 0);
	CHECK_INT_EQ(i->group_delete(s, "pg"), 0);
	CHECK_INT_EQ(i->group_delete(s, "pg"), -ENOENT);
	CHECK_INT_EQ(pools_of(s, "pv"), 1); /* its entitlement went with it */
	CHECK_INT_EQ(i->unentitle(s, "nev", NULL, "pg"), -ENOENT);

	/* unassigning a desktop with a live session drops its client */
	connect_at(s, "pv", "idle", T0 + 500, &s6);
	CHECK_INT_EQ(i->unassign(s, "pa", s6.desktop), 0);
	{
		char want[64];
		snprintf(want, sizeof(want), "%.6s:logoff", s6.session);
		CHECK_STR_EQ(ends_of(s, "pa", T0 + 500), want);
	}
}

/* ---- 200 connects from 8 threads on 50 desktops ---- */

#define THREADS	 8
#define USERS	 200
#define DESKTOPS 50

static atomic_int next_user, ok_count, nospace_count, other_count;
static char got[USERS][STORE_NAME_MAX + 1];

static void *connect_thread(void *arg)
{
	struct store *s = store_open(uri); /* each thread its own connection */
	(void)arg;
	if (!s) {
		atomic_fetch_add(&other_count, 1);
		return NULL;
	}
	for (;;) {
		int u = atomic_fetch_add(&next_user, 1), rc;
		char name[32];
		struct store_connect_req req = {.user = name,
						.pool = "big",
						.client_address = "127.0.0.1",
						.now = NOW,
						.heartbeat_window = WIN};
		struct store_connect_res res;
		if (u >= USERS)
			break;
		snprintf(name, sizeof(name), "u%03d", u);
		rc = s->impl->connect(s, &req, &res);
		if (rc == 0) {
			atomic_fetch_add(&ok_count, 1);
			snprintf(got[u], sizeof(got[u]), "%s", res.desktop);
		} else if (rc == -ENOSPC) {
			atomic_fetch_add(&nospace_count, 1);
		} else {
			fprintf(stderr, "connect %s: %s\n", name, store_strerror(rc));
			atomic_fetch_add(&other_count, 1);
		}
	}
	store_close(s);
	return NULL;
}

static void test_concurrent(struct store *s)
{
	const struct store_impl *i = s->impl;
	struct store_pool p = {.name = "big", .kind = STORE_POOL_FLOATING, .max_sessions = 1};
	const char *names[DESKTOPS];
	char buf[DESKTOPS][16];
	pthread_t th[THREADS];
	int seen[DESKTOPS] = {0}, twice = 0;
	struct timespec t0, t1;
	double ms;

	CHECK_INT_EQ(i->pool_add(s, &p), 0);
	CHECK_INT_EQ(i->group_add(s, "crowd"), 0);
	CHECK_INT_EQ(i->entitle(s, "big", NULL, "crowd"), 0);
	for (int u = 0; u < USERS; u++) {
		char name[32];
		snprintf(name, sizeof(name), "u%03d", u);
		CHECK_INT_EQ(i->user_add(s, name, "h"), 0);
		CHECK_INT_EQ(i->group_member_add(s, "crowd", name), 0);
	}
	for (int d = 0; d < DESKTOPS; d++) {
		snprintf(buf[d], sizeof(buf[d]), "bd%02d", d);
		names[d] = buf[d];
		CHECK_INT_EQ(i->desktop_add(s, "big", "big-agent", buf[d], "x11::1"), 0);
	}
	CHECK_INT_EQ(i->agent_register(s, "big-agent", "127.0.0.1", 7443, NOW, names, NULL, NULL,
				       DESKTOPS, NULL, NULL),
		     0);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, connect_thread, NULL);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("%d connect decisions from %d threads (own connections) in %.1f ms: %.0f/s\n", USERS,
	       THREADS, ms, USERS / (ms / 1e3));

	CHECK_INT_EQ(atomic_load(&ok_count), DESKTOPS);
	CHECK_INT_EQ(atomic_load(&nospace_count), USERS - DESKTOPS);
	CHECK_INT_EQ(atomic_load(&other_count), 0);
	for (int u = 0; u < USERS; u++) {
		int d;
		if (!got[u][0])
			continue;
		d = atoi(got[u] + 2);
		if (d < 0 || d >= DESKTOPS || seen[d]++)
			twice++;
	}
	CHECK_INT_EQ(twice, 0);
	for (int d = 0; d < DESKTOPS; d++) {
		struct store_desktop_info info;
		CHECK_INT_EQ(i->desktop_get(s, "big-agent", buf[d], &info), 0);
		CHECK_INT_EQ(info.state, STORE_DESKTOP_ASSIGNED);
	}
}

int main(void)
{
	struct store *s;

	log_open("test_broker_store", LOG_LEVEL_WARN, LOG_TARGET_STDERR);
	snprintf(dir, sizeof(dir), "/tmp/hr-store.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(uri, sizeof(uri), "sqlite:%s/b.db", dir);
	/* the same suite on PostgreSQL: tests/integration/broker_pg.sh gives a fresh database */
	if (getenv("HIGHRISE_TEST_STORE"))
		snprintf(uri, sizeof(uri), "%s", getenv("HIGHRISE_TEST_STORE"));
	printf("store: %s\n", uri);

	test_password();
	CHECK(store_open("postgresql://127.0.0.1:1/none?connect_timeout=2") == NULL);
	CHECK(store_open("") == NULL);
	CHECK_STR_EQ(store_strerror(-ENOSPC), "no desktop available");

	s = store_open(uri);
	CHECK(s != NULL);
	if (!s) {
		cleanup();
		return check_done("test_broker_store");
	}
	test_model(s);
	store_close(s);

	/* reopen: migrations are not applied twice, the data is there */
	s = store_open(uri);
	CHECK(s != NULL);
	if (s) {
		struct store_desktop_info info;
		/* bob was deleted: the desktop he held is available again */
		CHECK_INT_EQ(s->impl->desktop_get(s, "a1", "d1", &info), 0);
		CHECK_INT_EQ(info.state, STORE_DESKTOP_AVAILABLE);
		test_concurrent(s);
		test_policies(s);
		store_close(s);
	}
	cleanup();
	return check_done("test_broker_store");
}
