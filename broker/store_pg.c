/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL store (libpq), for several brokers sharing one database.
 * The same model and rules as store_sqlite.c; all of the broker's SQL for
 * PostgreSQL is in this file.
 *
 * Every change is one transaction. The connect decision takes a
 * transaction-scoped advisory lock on the pool first, so connects to one
 * pool are serialized across every broker, and the reads that follow (READ
 * COMMITTED, after the lock) see every earlier decision. Migrations run
 * under a session advisory lock so brokers starting together apply them once.
 */
#include "log.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATION_LOCK 0x4869676872697365LL /* "Highrise" */
#define POOL_LOCK_NS   0x48525031	    /* advisory lock space for pools */

static const char *const migrations[] = {
	/* 1: the model of issue #5 */
	"CREATE TABLE users (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
	"password_hash TEXT NOT NULL);"
	"CREATE TABLE groups (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE group_members (group_id BIGINT NOT NULL REFERENCES groups(id) ON DELETE "
	"CASCADE, user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE, PRIMARY KEY "
	"(group_id, user_id));"
	"CREATE TABLE pools (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind INT NOT "
	"NULL CHECK (kind IN (0, 1)), idle_timeout BIGINT NOT NULL DEFAULT 0, logoff INT NOT NULL "
	"DEFAULT 0 CHECK (logoff IN (0, 1, 2)), max_sessions BIGINT NOT NULL DEFAULT 1);"
	"CREATE TABLE agents (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, address TEXT "
	"NOT NULL, port INT NOT NULL, last_heartbeat BIGINT NOT NULL DEFAULT 0);"
	"CREATE TABLE desktops (id BIGSERIAL PRIMARY KEY, pool_id BIGINT NOT NULL REFERENCES "
	"pools(id) ON DELETE CASCADE, agent TEXT NOT NULL, name TEXT NOT NULL, console_uri TEXT "
	"NOT NULL DEFAULT '', state INT NOT NULL DEFAULT 3 CHECK (state BETWEEN 0 AND 4), UNIQUE "
	"(agent, name));"
	"CREATE TABLE entitlements (id BIGSERIAL PRIMARY KEY, pool_id BIGINT NOT NULL REFERENCES "
	"pools(id) ON DELETE CASCADE, user_id BIGINT REFERENCES users(id) ON DELETE CASCADE, "
	"group_id BIGINT REFERENCES groups(id) ON DELETE CASCADE, CHECK ((user_id IS NULL) <> "
	"(group_id IS NULL)));"
	"CREATE UNIQUE INDEX entitlements_user ON entitlements(pool_id, user_id) WHERE user_id IS "
	"NOT NULL;"
	"CREATE UNIQUE INDEX entitlements_group ON entitlements(pool_id, group_id) WHERE group_id "
	"IS NOT NULL;"
	"CREATE TABLE assignments (desktop_id BIGINT PRIMARY KEY REFERENCES desktops(id) ON "
	"DELETE CASCADE, user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE, "
	"dedicated INT NOT NULL, since BIGINT NOT NULL);"
	"CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id BIGINT NOT NULL REFERENCES users(id) "
	"ON DELETE CASCADE, desktop_id BIGINT NOT NULL REFERENCES desktops(id) ON DELETE CASCADE, "
	"client_address TEXT, started BIGINT NOT NULL, last_seen BIGINT NOT NULL, state TEXT NOT "
	"NULL CHECK (state IN ('pending', 'connected', 'disconnected', 'ended')));"
	"CREATE UNIQUE INDEX sessions_live_desktop ON sessions(desktop_id) WHERE state <> 'ended';"
	"CREATE INDEX sessions_user ON sessions(user_id, state);"
	"CREATE TABLE tokens (hash BYTEA PRIMARY KEY, user_id BIGINT NOT NULL REFERENCES "
	"users(id) ON DELETE CASCADE, expires BIGINT NOT NULL);",
	/* 2: agents report sessions; the logoff policies (see store_sqlite.c) */
	"ALTER TABLE sessions ADD COLUMN state_since BIGINT NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN idle_since BIGINT NOT NULL DEFAULT 0;"
	"UPDATE sessions SET state_since = started;"
	"CREATE TABLE session_ends (agent TEXT NOT NULL, session TEXT NOT NULL, reason TEXT NOT "
	"NULL CHECK (reason IN ('admin', 'logoff', 'idle_timeout')), queued BIGINT NOT NULL, "
	"PRIMARY KEY (agent, session));",
	/* 3: why a desktop is offline, as its agent said (see store_sqlite.c) */
	"ALTER TABLE desktops ADD COLUMN offline_reason TEXT NOT NULL DEFAULT '';",
};

struct store_pg {
	struct store base; /* first */
	PGconn *c;
};

static struct store_pg *P(struct store *s)
{
	return (struct store_pg *)s;
}

static int name_ok(const char *n)
{
	return n && n[0] && strlen(n) <= STORE_NAME_MAX;
}

/* Runs sql with text parameters; *out gets the result (the caller PQclear's it). */
static int run(struct store_pg *s, const char *sql, int n, const char *const *params,
	       PGresult **out, const char *what)
{
	PGresult *r = PQexecParams(s->c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	int rc = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (state && strcmp(state, "23505") == 0) {
			rc = -EEXIST;
		} else if (state && strcmp(state, "23514") == 0) {
			rc = -EINVAL;
		} else {
			log_error("store: %s: %s", what, PQerrorMessage(s->c));
			rc = -EIO;
		}
		PQclear(r);
		r = NULL;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return rc;
}

static int exec0(struct store_pg *s, const char *sql)
{
	return run(s, sql, 0, NULL, NULL, sql);
}

/* Several statements (a migration): the simple protocol, which allows them. */
static int exec_script(struct store_pg *s, const char *sql, const char *what)
{
	PGresult *r = PQexec(s->c, sql);
	int rc = 0;
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_error("store: %s: %s", what, PQerrorMessage(s->c));
		rc = -EIO;
	}
	PQclear(r);
	return rc;
}

/* Commits when rc is 0, rolls back otherwise. */
static int tx_end(struct store_pg *s, int rc)
{
	if (rc == 0) {
		rc = exec0(s, "COMMIT");
		if (rc == 0)
			return 0;
	}
	exec0(s, "ROLLBACK");
	return rc;
}

/* Runs a change; the number of rows it touched in *rows (may be NULL). */
static int change(struct store_pg *s, const char *sql, int n, const char *const *params, long *rows,
		  const char *what)
{
	PGresult *r;
	int rc = run(s, sql, n, params, &r, what);
	if (rc == 0 && rows)
		*rows = strtol(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return rc;
}

/* One change in its own transaction; -ENOENT when it touched no row and must_touch. */
static int change_tx(struct store_pg *s, const char *sql, int n, const char *const *params,
		     int must_touch, const char *what)
{
	long rows = 0;
	int rc = exec0(s, "BEGIN");
	if (rc < 0)
		return rc;
	rc = change(s, sql, n, params, &rows, what);
	if (rc == 0 && must_touch && rows == 0)
		rc = -ENOENT;
	return tx_end(s, rc);
}

/* The first column of the first row as text into out; -ENOENT when no row. */
static int one(struct store_pg *s, const char *sql, int n, const char *const *params, char *out,
	       size_t cap, const char *what)
{
	PGresult *r;
	int rc = run(s, sql, n, params, &r, what);
	if (rc < 0)
		return rc;
	if (PQntuples(r) == 0)
		rc = -ENOENT;
	else if (out)
		snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

static void hex(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

static int migrate(struct store_pg *s)
{
	char have_s[32], lock[64], v[16];
	long have;
	int rc;

	snprintf(lock, sizeof(lock), "SELECT pg_advisory_lock(%lld)", MIGRATION_LOCK);
	if ((rc = exec0(s, lock)) < 0)
		return rc;
	rc = exec0(s, "CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, "
		      "applied BIGINT NOT NULL)");
	if (rc == 0)
		rc = one(s, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL,
			 have_s, sizeof(have_s), "migrations");
	have = rc == 0 ? strtol(have_s, NULL, 10) : 0;
	if (rc == 0 && have > (long)(sizeof(migrations) / sizeof(migrations[0]))) {
		log_error("store: the database has schema version %ld, newer than this broker "
			  "knows",
			  have);
		rc = -EINVAL;
	}
	for (size_t i = (size_t)have; rc == 0 && i < sizeof(migrations) / sizeof(migrations[0]);
	     i++) {
		const char *p[1] = {v};
		snprintf(v, sizeof(v), "%zu", i + 1);
		rc = exec0(s, "BEGIN");
		if (rc == 0)
			rc = exec_script(s, migrations[i], "schema migration");
		if (rc == 0)
			rc = change(s,
				    "INSERT INTO schema_migrations VALUES ($1, "
				    "extract(epoch from now())::bigint)",
				    1, p, NULL, "record migration");
		rc = tx_end(s, rc);
		if (rc == 0)
			log_info("store: applied schema migration %zu", i + 1);
	}
	snprintf(lock, sizeof(lock), "SELECT pg_advisory_unlock(%lld)", MIGRATION_LOCK);
	exec0(s, lock);
	return rc;
}

static void pg_close(struct store *base)
{
	struct store_pg *s = P(base);
	if (!s)
		return;
	PQfinish(s->c);
	free(s);
}

static struct store *pg_open(const char *uri)
{
	struct store_pg *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->base.impl = &store_pg_impl;
	s->c = PQconnectdb(uri);
	if (!s->c || PQstatus(s->c) != CONNECTION_OK) {
		/* the message names the host and why; the URI may hold a password: not logged */
		log_error("store: cannot connect to PostgreSQL: %s",
			  s->c ? PQerrorMessage(s->c) : "out of memory");
		goto fail;
	}
	if (exec0(s, "SET client_min_messages = warning") < 0 || migrate(s) < 0)
		goto fail;
	return &s->base;
fail:
	pg_close(&s->base);
	return NULL;
}

static int pg_user_add(struct store *base, const char *name, const char *hash)
{
	const char *p[2] = {name, hash};
	if (!name_ok(name) || !hash || strlen(hash) > STORE_HASH_MAX)
		return -EINVAL;
	return change_tx(P(base), "INSERT INTO users (name, password_hash) VALUES ($1, $2)", 2, p,
			 0, "add user");
}

static int pg_user_set_password(struct store *base, const char *name, const char *hash)
{
	const char *p[2] = {hash, name};
	if (!name_ok(name) || !hash || strlen(hash) > STORE_HASH_MAX)
		return -EINVAL;
	return change_tx(P(base), "UPDATE users SET password_hash = $1 WHERE name = $2", 2, p, 1,
			 "set password");
}

static int pg_user_delete(struct store *base, const char *name)
{
	struct store_pg *s = P(base);
	const char *p[1] = {name};
	long rows = 0;
	int rc;
	if (!name_ok(name))
		return -EINVAL;
	if ((rc = exec0(s, "BEGIN")) < 0)
		return rc;
	/* what the user held becomes available: the cascade only drops rows */
	rc = change(
		s,
		"UPDATE desktops SET state = 0 WHERE state IN (1, 2) AND id IN (SELECT "
		"desktop_id FROM assignments WHERE user_id = (SELECT id FROM users WHERE name = "
		"$1))",
		1, p, NULL, "free desktops");
	if (rc == 0)
		rc = change(s, "DELETE FROM users WHERE name = $1", 1, p, &rows, "delete user");
	if (rc == 0 && rows == 0)
		rc = -ENOENT;
	return tx_end(s, rc);
}

static int pg_user_password_hash(struct store *base, const char *name, char *out, size_t cap)
{
	const char *p[1] = {name};
	if (!name_ok(name))
		return -ENOENT;
	return one(P(base), "SELECT password_hash FROM users WHERE name = $1", 1, p, out, cap,
		   "read user");
}

static int pg_group_add(struct store *base, const char *name)
{
	const char *p[1] = {name};
	if (!name_ok(name))
		return -EINVAL;
	return change_tx(P(base), "INSERT INTO groups (name) VALUES ($1)", 1, p, 0, "add group");
}

static int pg_group_member_add(struct store *base, const char *group, const char *user)
{
	const char *p[2] = {group, user};
	if (!name_ok(group) || !name_ok(user))
		return -EINVAL;
	/* no row when the group or the user is missing: -ENOENT */
	return change_tx(P(base),
			 "INSERT INTO group_members (group_id, user_id) SELECT g.id, u.id FROM "
			 "groups g, users u WHERE g.name = $1 AND u.name = $2",
			 2, p, 1, "add member");
}

static int pg_pool_add(struct store *base, const struct store_pool *pool)
{
	char kind[8], idle[24], logoff[8], max[24];
	const char *p[5] = {pool->name, kind, idle, logoff, max};
	if (!name_ok(pool->name) || pool->kind > STORE_POOL_DEDICATED ||
	    pool->logoff > STORE_LOGOFF_AFTER_IDLE || pool->idle_timeout_s < 0 ||
	    pool->max_sessions < 0)
		return -EINVAL;
	snprintf(kind, sizeof(kind), "%d", (int)pool->kind);
	snprintf(idle, sizeof(idle), "%" PRId64, pool->idle_timeout_s);
	snprintf(logoff, sizeof(logoff), "%d", (int)pool->logoff);
	snprintf(max, sizeof(max), "%" PRId64, pool->max_sessions ? pool->max_sessions : 1);
	return change_tx(P(base),
			 "INSERT INTO pools (name, kind, idle_timeout, logoff, max_sessions) "
			 "VALUES ($1, $2, $3, $4, $5)",
			 5, p, 0, "add pool");
}

static int pg_pool_delete(struct store *base, const char *name)
{
	const char *p[1] = {name};
	if (!name_ok(name))
		return -EINVAL;
	return change_tx(P(base), "DELETE FROM pools WHERE name = $1", 1, p, 1, "delete pool");
}

static int pg_pools_for_user(struct store *base, const char *user, struct store_pool **out,
			     size_t *count)
{
	struct store_pg *s = P(base);
	const char *p[1] = {user};
	PGresult *r;
	int rc, n;

	*out = NULL;
	*count = 0;
	if (!name_ok(user))
		return -ENOENT;
	rc = one(s, "SELECT id FROM users WHERE name = $1", 1, p, NULL, 0, "read user");
	if (rc < 0)
		return rc;
	rc = run(s,
		 "SELECT p.name, p.kind, p.idle_timeout, p.logoff, p.max_sessions FROM pools p "
		 "WHERE EXISTS (SELECT 1 FROM entitlements e JOIN users u ON u.name = $1 WHERE "
		 "e.pool_id = p.id AND (e.user_id = u.id OR e.group_id IN (SELECT group_id FROM "
		 "group_members WHERE user_id = u.id))) ORDER BY p.name",
		 1, p, &r, "list pools");
	if (rc < 0)
		return rc;
	n = PQntuples(r);
	*out = calloc(n ? (size_t)n : 1, sizeof(**out));
	if (!*out) {
		PQclear(r);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct store_pool *v = &(*out)[i];
		snprintf(v->name, sizeof(v->name), "%s", PQgetvalue(r, i, 0));
		v->kind = (enum store_pool_kind)atoi(PQgetvalue(r, i, 1));
		v->idle_timeout_s = strtoll(PQgetvalue(r, i, 2), NULL, 10);
		v->logoff = (enum store_logoff)atoi(PQgetvalue(r, i, 3));
		v->max_sessions = strtoll(PQgetvalue(r, i, 4), NULL, 10);
	}
	*count = (size_t)n;
	PQclear(r);
	return 0;
}

static int pg_group_delete(struct store *base, const char *name)
{
	const char *p[1] = {name};
	if (!name_ok(name))
		return -EINVAL;
	return change_tx(P(base), "DELETE FROM groups WHERE name = $1", 1, p, 1, "delete group");
}

static int pg_group_member_remove(struct store *base, const char *group, const char *user)
{
	const char *p[2] = {group, user};
	if (!name_ok(group) || !name_ok(user))
		return -EINVAL;
	return change_tx(P(base),
			 "DELETE FROM group_members WHERE group_id = (SELECT id FROM groups WHERE "
			 "name = $1) AND user_id = (SELECT id FROM users WHERE name = $2)",
			 2, p, 1, "remove member");
}

static int pg_unentitle(struct store *base, const char *pool, const char *user, const char *group)
{
	const char *p[2] = {pool, user ? user : group};
	if (!name_ok(pool) || (user == NULL) == (group == NULL) || !name_ok(p[1]))
		return -EINVAL;
	return change_tx(P(base),
			 user ? "DELETE FROM entitlements WHERE pool_id = (SELECT id FROM pools "
				"WHERE name = $1) AND user_id = (SELECT id FROM users WHERE name = "
				"$2)"
			      : "DELETE FROM entitlements WHERE pool_id = (SELECT id FROM pools "
				"WHERE name = $1) AND group_id = (SELECT id FROM groups WHERE name "
				"= $2)",
			 2, p, 1, "unentitle");
}

static int pg_pool_set(struct store *base, const char *name, const struct store_pool_change *c)
{
	struct store_pg *s = P(base);
	char kind[16], logoff[16], idle[24], max[24];
	const char *p[5] = {name, c->kind >= 0 ? kind : NULL, c->logoff >= 0 ? logoff : NULL,
			    c->idle_timeout_s >= 0 ? idle : NULL,
			    c->max_sessions >= 0 ? max : NULL};
	PGresult *r;
	int rc;
	if (!name_ok(name) || c->kind > STORE_POOL_DEDICATED || c->logoff > STORE_LOGOFF_AFTER_IDLE)
		return -EINVAL;
	snprintf(kind, sizeof(kind), "%d", c->kind);
	snprintf(logoff, sizeof(logoff), "%d", c->logoff);
	snprintf(idle, sizeof(idle), "%" PRId64, c->idle_timeout_s);
	snprintf(max, sizeof(max), "%" PRId64, c->max_sessions ? c->max_sessions : 1);
	if ((rc = exec0(s, "BEGIN")) < 0)
		return rc;
	rc = run(s,
		 "SELECT kind, (SELECT count(*) FROM desktops d WHERE d.pool_id = p.id) FROM pools "
		 "p WHERE name = $1 FOR UPDATE",
		 1, p, &r, "read pool");
	if (rc < 0)
		return tx_end(s, rc);
	if (PQntuples(r) == 0)
		rc = -ENOENT;
	else if (c->kind >= 0 && c->kind != atoi(PQgetvalue(r, 0, 0)) &&
		 strtoll(PQgetvalue(r, 0, 1), NULL, 10) > 0)
		rc = -EBUSY; /* held floating desktops would become someone's for good */
	PQclear(r);
	if (rc == 0)
		rc = change(s,
			    "UPDATE pools SET kind = coalesce($2::int, kind), logoff = "
			    "coalesce($3::int, logoff), idle_timeout = coalesce($4::bigint, "
			    "idle_timeout), max_sessions = coalesce($5::bigint, max_sessions) "
			    "WHERE name = $1",
			    5, p, NULL, "set pool");
	return tx_end(s, rc);
}

static int pg_desktop_add(struct store *base, const char *pool, const char *agent, const char *name,
			  const char *uri)
{
	const char *p[4] = {agent, name, uri ? uri : "", pool};
	if (!name_ok(pool) || !name_ok(agent) || !name_ok(name) ||
	    (uri && strlen(uri) > STORE_URI_MAX))
		return -EINVAL;
	return change_tx(P(base),
			 "INSERT INTO desktops (pool_id, agent, name, console_uri, state) "
			 "SELECT id, $1, $2, $3, 3 FROM pools WHERE name = $4",
			 4, p, 1, "add desktop");
}

static int pg_desktop_set_maintenance(struct store *base, const char *agent, const char *name,
				      bool on)
{
	struct store_pg *s = P(base);
	const char *p[2] = {agent, name};
	int rc;
	if (!name_ok(agent) || !name_ok(name))
		return -EINVAL;
	if ((rc = exec0(s, "BEGIN")) < 0)
		return rc;
	rc = one(s, "SELECT 1 FROM desktops WHERE agent = $1 AND name = $2 FOR UPDATE", 2, p, NULL,
		 0, "find desktop");
	if (rc == 0)
		rc = change(s,
			    on ? "UPDATE desktops SET state = 4 WHERE agent = $1 AND name = $2"
			       : "UPDATE desktops SET state = 3 WHERE agent = $1 AND name = $2 AND "
				 "state = 4",
			    2, p, NULL, "maintenance");
	return tx_end(s, rc);
}

static int pg_desktop_get(struct store *base, const char *agent, const char *name,
			  struct store_desktop_info *out)
{
	const char *p[2] = {agent, name};
	PGresult *r;
	int rc;
	if (!name_ok(agent) || !name_ok(name))
		return -ENOENT;
	rc = run(P(base),
		 "SELECT d.name, d.agent, p.name, d.state, CASE WHEN d.state = 3 THEN "
		 "d.offline_reason ELSE '' END FROM desktops d JOIN pools p ON p.id = d.pool_id "
		 "WHERE d.agent = $1 AND d.name = $2",
		 2, p, &r, "read desktop");
	if (rc < 0)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return -ENOENT;
	}
	snprintf(out->name, sizeof(out->name), "%s", PQgetvalue(r, 0, 0));
	snprintf(out->agent, sizeof(out->agent), "%s", PQgetvalue(r, 0, 1));
	snprintf(out->pool, sizeof(out->pool), "%s", PQgetvalue(r, 0, 2));
	out->state = (enum store_desktop_state)atoi(PQgetvalue(r, 0, 3));
	snprintf(out->offline_reason, sizeof(out->offline_reason), "%s", PQgetvalue(r, 0, 4));
	PQclear(r);
	return 0;
}

static int pg_entitle(struct store *base, const char *pool, const char *user, const char *group)
{
	const char *p[2] = {pool, user ? user : group};
	if (!name_ok(pool) || (user == NULL) == (group == NULL))
		return -EINVAL;
	return change_tx(P(base),
			 user ? "INSERT INTO entitlements (pool_id, user_id) SELECT p.id, u.id "
				"FROM pools p, users u WHERE p.name = $1 AND u.name = $2"
			      : "INSERT INTO entitlements (pool_id, group_id) SELECT p.id, g.id "
				"FROM pools p, groups g WHERE p.name = $1 AND g.name = $2",
			 2, p, 1, "entitle");
}

static int pg_assign(struct store *base, const char *user, const char *agent, const char *desktop)
{
	struct store_pg *s = P(base);
	const char *p[3] = {user, agent, desktop};
	long rows = 0;
	int rc;
	if (!name_ok(user) || !name_ok(agent) || !name_ok(desktop))
		return -EINVAL;
	if ((rc = exec0(s, "BEGIN")) < 0)
		return rc;
	rc = change(s,
		    "INSERT INTO assignments (desktop_id, user_id, dedicated, since) SELECT d.id, "
		    "u.id, 1, 0 FROM desktops d, users u WHERE u.name = $1 AND d.agent = $2 AND "
		    "d.name = $3",
		    3, p, &rows, "assign");
	if (rc == 0 && rows == 0)
		rc = -ENOENT;
	if (rc == 0)
		rc = change(
			s,
			"UPDATE desktops SET state = 1 WHERE agent = $1 AND name = $2 AND state "
			"= 0",
			2, p + 1, NULL, "mark assigned");
	return tx_end(s, rc);
}

static int pg_unassign(struct store *base, const char *agent, const char *desktop)
{
	struct store_pg *s = P(base);
	const char *p[2] = {agent, desktop};
	long rows = 0;
	int rc;
	if (!name_ok(agent) || !name_ok(desktop))
		return -EINVAL;
	if ((rc = exec0(s, "BEGIN")) < 0)
		return rc;
	rc = change(s,
		    "DELETE FROM assignments WHERE desktop_id = (SELECT id FROM desktops WHERE "
		    "agent = $1 AND name = $2)",
		    2, p, &rows, "unassign");
	if (rc == 0 && rows == 0)
		rc = -ENOENT;
	if (rc == 0) /* a client may be on its session: its agent drops it */
		rc = change(s,
			    "INSERT INTO session_ends (agent, session, reason, queued) SELECT "
			    "d.agent, x.id, 'logoff', extract(epoch from now())::bigint FROM "
			    "sessions x JOIN desktops d ON d.id = x.desktop_id WHERE d.agent = $1 "
			    "AND d.name = $2 AND x.state IN ('pending', 'connected') ON CONFLICT "
			    "(agent, session) DO UPDATE SET reason = excluded.reason",
			    2, p, NULL, "queue end");
	if (rc == 0)
		rc = change(s,
			    "UPDATE sessions SET state = 'ended' WHERE state <> 'ended' AND "
			    "desktop_id = (SELECT id FROM desktops WHERE agent = $1 AND name = $2)",
			    2, p, NULL, "end sessions");
	if (rc == 0)
		rc = change(
			s,
			"UPDATE desktops SET state = 0 WHERE agent = $1 AND name = $2 AND state "
			"IN (1, 2)",
			2, p, NULL, "free desktop");
	return tx_end(s, rc);
}

static int pg_desktop_delete(struct store *base, const char *agent, const char *desktop)
{
	const char *p[2] = {agent, desktop};
	if (!name_ok(agent) || !name_ok(desktop))
		return -EINVAL;
	return change_tx(P(base), "DELETE FROM desktops WHERE agent = $1 AND name = $2", 2, p, 1,
			 "remove desktop");
}

/*
 * Desktop (agent, name) comes online (up) or goes offline for reason;
 * *changed: it crossed between offline and online, or has a new reason.
 * -ENOENT when unknown. One statement: the CTE reads (and locks) the row as
 * it was, so RETURNING can compare.
 */
static int desktop_up(struct store_pg *s, const char *agent, const char *name, bool up,
		      const char *reason, bool *changed)
{
	const char *d[3] = {agent, name, reason};
	PGresult *r;
	int rc;

	*changed = false;
	if (!name_ok(name))
		return -ENOENT;
	rc = run(s,
		 up ? "WITH o AS (SELECT id, state FROM desktops WHERE agent = $1 AND name = $2 "
		      "FOR UPDATE) UPDATE desktops d SET state = CASE WHEN o.state <> 3 THEN "
		      "o.state WHEN EXISTS (SELECT 1 FROM assignments s WHERE s.desktop_id = d.id) "
		      "THEN 1 ELSE 0 END, offline_reason = CASE WHEN o.state = 3 THEN '' ELSE "
		      "d.offline_reason END FROM o WHERE d.id = o.id RETURNING o.state = 3"
		    : "WITH o AS (SELECT id, state, offline_reason FROM desktops WHERE agent = $1 "
		      "AND name = $2 FOR UPDATE) UPDATE desktops d SET state = CASE WHEN o.state "
		      "IN (0, 1, 2) THEN 3 ELSE o.state END, offline_reason = CASE WHEN o.state "
		      "IN (0, 1, 2, 3) THEN $3 ELSE d.offline_reason END FROM o WHERE d.id = o.id "
		      "RETURNING o.state IN (0, 1, 2) OR (o.state = 3 AND o.offline_reason <> $3)",
		 up ? 2 : 3, d, &r, up ? "desktop online" : "desktop offline");
	if (rc < 0)
		return rc;
	if (PQntuples(r) == 0)
		rc = -ENOENT;
	else
		*changed = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return rc;
}

/* Each desktop's report, in the caller's transaction; unknown desktops count in *miss. */
static int desktops_report(struct store_pg *s, const char *agent, const char *const *desktops,
			   const bool *up, const char *const *reasons, size_t count, bool *changed,
			   size_t *miss)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < count; i++) {
		bool ch = false;
		rc = desktop_up(s, agent, desktops[i], !up || up[i],
				reasons && reasons[i] ? reasons[i] : "", &ch);
		if (rc == -ENOENT) {
			(*miss)++;
			rc = 0;
		}
		if (changed)
			changed[i] = ch;
	}
	return rc;
}

/* reasons as the store takes them: each at most STORE_REASON_MAX bytes. */
static bool reasons_ok(const char *const *reasons, size_t count)
{
	for (size_t i = 0; reasons && i < count; i++)
		if (reasons[i] && strlen(reasons[i]) > STORE_REASON_MAX)
			return false;
	return true;
}

static int pg_agent_register(struct store *base, const char *name, const char *address, int port,
			     int64_t now, const char *const *desktops, const bool *up,
			     const char *const *reasons, size_t count, bool *changed,
			     size_t *unknown)
{
	struct store_pg *s = P(base);
	char port_s[8], now_s[24];
	const char *p[4] = {name, address, port_s, now_s};
	size_t miss = 0;
	int rc;

	if (!name_ok(name) || !address || !address[0] || strlen(address) > STORE_ADDR_MAX ||
	    port < 1 || port > 65535 || !reasons_ok(reasons, count))
		return -EINVAL;
	snprintf(port_s, sizeof(port_s), "%d", port);
	snprintf(now_s, sizeof(now_s), "%" PRId64, now);
	if ((rc = exec0(s, "BEGIN")) < 0)
		return rc;
	rc = change(s,
		    "INSERT INTO agents (name, address, port, last_heartbeat) VALUES ($1, $2, $3, "
		    "$4) ON CONFLICT (name) DO UPDATE SET address = $2, port = $3, "
		    "last_heartbeat = $4",
		    4, p, NULL, "register agent");
	if (rc == 0)
		rc = desktops_report(s, name, desktops, up, reasons, count, changed, &miss);
	if (unknown)
		*unknown = miss;
	return tx_end(s, rc);
}

static enum store_end_reason reason_of(const char *r)
{
	return strcmp(r, "admin") == 0		? STORE_END_ADMIN
	       : strcmp(r, "idle_timeout") == 0 ? STORE_END_IDLE_TIMEOUT
						: STORE_END_LOGOFF;
}

/* Takes (deletes) the agent's end list: DELETE ... RETURNING hands each entry out once. */
static int ends_take(struct store_pg *s, const char *agent, struct store_end **ends, size_t *nends)
{
	const char *p[1] = {agent};
	PGresult *r;
	int rc = run(s, "DELETE FROM session_ends WHERE agent = $1 RETURNING session, reason", 1, p,
		     &r, "take end list");
	int n;
	if (rc < 0)
		return rc;
	n = PQntuples(r);
	*ends = calloc(n ? (size_t)n : 1, sizeof(**ends));
	if (!*ends) {
		PQclear(r);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		snprintf((*ends)[i].session, sizeof((*ends)[i].session), "%s", PQgetvalue(r, i, 0));
		(*ends)[i].reason = reason_of(PQgetvalue(r, i, 1));
	}
	*nends = (size_t)n;
	PQclear(r);
	return 0;
}

static int pg_agent_heartbeat(struct store *base, const char *name, int64_t now,
			      const char *const *desktops, const bool *up,
			      const char *const *reasons, size_t count, bool *changed,
			      struct store_end **ends, size_t *nends)
{
	struct store_pg *s = P(base);
	char now_s[24];
	const char *p[2] = {now_s, name};
	size_t miss = 0;
	long rows = 0;
	int rc;
	if (ends) {
		*ends = NULL;
		*nends = 0;
	}
	if (!name_ok(name))
		return -ENOENT;
	if (!reasons_ok(reasons, count))
		return -EINVAL;
	snprintf(now_s, sizeof(now_s), "%" PRId64, now);
	if ((rc = exec0(s, "BEGIN")) < 0)
		return rc;
	rc = change(s, "UPDATE agents SET last_heartbeat = $1 WHERE name = $2", 2, p, &rows,
		    "heartbeat");
	if (rc == 0 && rows == 0)
		rc = -ENOENT; /* never registered: it must register first */
	if (rc == 0)	      /* a desktop the broker does not know: nothing to change */
		rc = desktops_report(s, name, desktops, up, reasons, count, changed, &miss);
	if (rc == 0 && ends)
		rc = ends_take(s, name, ends, nends);
	rc = tx_end(s, rc);
	if (rc < 0 && ends) {
		free(*ends);
		*ends = NULL;
		*nends = 0;
	}
	return rc;
}

static int end_queue(struct store_pg *s, const char *agent, const char *session,
		     enum store_end_reason why)
{
	const char *p[3] = {agent, session, store_end_reason_name(why)};
	return change(s,
		      "INSERT INTO session_ends (agent, session, reason, queued) VALUES ($1, $2, "
		      "$3, extract(epoch from now())::bigint) ON CONFLICT (agent, session) DO "
		      "UPDATE SET reason = excluded.reason",
		      3, p, NULL, "queue end");
}

/* A live session, locked for this transaction. */
struct live {
	char did[24];
	char state[16];
	char agent[STORE_NAME_MAX + 1];
	char desktop[STORE_NAME_MAX + 1];
	int logoff;
};

static int session_find(struct store_pg *s, const char *session, struct live *out)
{
	const char *p[1] = {session};
	PGresult *r;
	int rc = run(s,
		     "SELECT x.desktop_id, x.state, d.agent, d.name, p.logoff FROM sessions x JOIN "
		     "desktops d ON d.id = x.desktop_id JOIN pools p ON p.id = d.pool_id WHERE "
		     "x.id = $1 AND x.state <> 'ended' FOR UPDATE OF x",
		     1, p, &r, "read session");
	if (rc < 0)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return -ENOENT;
	}
	snprintf(out->did, sizeof(out->did), "%s", PQgetvalue(r, 0, 0));
	snprintf(out->state, sizeof(out->state), "%s", PQgetvalue(r, 0, 1));
	snprintf(out->agent, sizeof(out->agent), "%s", PQgetvalue(r, 0, 2));
	snprintf(out->desktop, sizeof(out->desktop), "%s", PQgetvalue(r, 0, 3));
	out->logoff = atoi(PQgetvalue(r, 0, 4));
	PQclear(r);
	return 0;
}

/* Ends session (on desktop did) inside the caller's transaction. */
static int end_locked(struct store_pg *s, const char *session, const char *did)
{
	const char *p[1] = {session}, *d[1] = {did};
	int rc = change(s, "UPDATE sessions SET state = 'ended' WHERE id = $1", 1, p, NULL,
			"end session");
	if (rc == 0)
		rc = change(s, "DELETE FROM assignments WHERE desktop_id = $1 AND dedicated = 0", 1,
			    d, NULL, "return desktop");
	if (rc == 0)
		rc = change(s,
			    "UPDATE desktops SET state = CASE WHEN EXISTS (SELECT 1 FROM "
			    "assignments s WHERE s.desktop_id = desktops.id) THEN 1 ELSE 0 END "
			    "WHERE id = $1 AND state IN (1, 2)",
			    1, d, NULL, "return desktop");
	return rc;
}

static int session_event(struct store_pg *s, const char *agent, const char *now,
			 const struct store_event *e, bool *known)
{
	/* designated: each is one statement, its pieces joined on purpose */
	static const char *const sql[] = {
		[STORE_EVENT_CONNECTED] =
			"UPDATE sessions SET state_since = CASE WHEN state = 'connected' THEN "
			"state_since ELSE $1 END, state = 'connected', last_seen = $1, idle_since "
			"= "
			"0, client_address = coalesce($2, client_address) WHERE id = $3",
		[STORE_EVENT_DISCONNECTED] =
			"UPDATE sessions SET state_since = CASE WHEN state = 'disconnected' THEN "
			"state_since ELSE $1 END, state = 'disconnected', last_seen = $1, "
			"idle_since = 0 WHERE id = $2",
		[STORE_EVENT_IDLE] =
			"UPDATE sessions SET idle_since = CASE WHEN idle_since = 0 THEN "
			"$1 ELSE idle_since END, last_seen = $1 WHERE id = $2",
		[STORE_EVENT_ACTIVE] =
			"UPDATE sessions SET idle_since = 0, last_seen = $1 WHERE id "
			"= $2",
	};
	struct live l;
	int rc;

	*known = false;
	if (!e->session || strlen(e->session) != 32 || !e->desktop ||
	    (unsigned)e->event >= sizeof(sql) / sizeof(sql[0]))
		return 0;
	rc = session_find(s, e->session, &l);
	if (rc == -ENOENT ||
	    (rc == 0 && (strcmp(l.agent, agent) != 0 || strcmp(l.desktop, e->desktop) != 0)))
		return end_queue(s, agent, e->session, STORE_END_LOGOFF);
	if (rc < 0)
		return rc;
	*known = true;
	if (e->event == STORE_EVENT_CONNECTED) {
		const char *p[3] = {now, e->client, e->session};
		rc = change(s, sql[e->event], 3, p, NULL, "session event");
	} else {
		const char *p[2] = {now, e->session};
		rc = change(s, sql[e->event], 2, p, NULL, "session event");
	}
	if (rc < 0)
		return rc;
	{
		const char *d[1] = {l.did};
		if (e->event == STORE_EVENT_CONNECTED)
			return change(s,
				      "UPDATE desktops SET state = 2 WHERE id = $1 AND state IN "
				      "(0, 1)",
				      1, d, NULL, "desktop in use");
		if (e->event != STORE_EVENT_DISCONNECTED)
			return 0;
		if (l.logoff == STORE_LOGOFF_IMMEDIATE)
			return end_locked(s, e->session, l.did); /* disconnect = logoff */
		return change(s, "UPDATE desktops SET state = 1 WHERE id = $1 AND state = 2", 1, d,
			      NULL, "desktop not in use");
	}
}

static int pg_session_events(struct store *base, const char *agent, int64_t now,
			     const struct store_event *ev, size_t count, size_t *accepted,
			     size_t *unknown)
{
	struct store_pg *s = P(base);
	size_t ok = 0, miss = 0;
	char now_s[24];
	int rc;
	if (!name_ok(agent))
		return -EINVAL;
	snprintf(now_s, sizeof(now_s), "%" PRId64, now);
	if ((rc = exec0(s, "BEGIN")) < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < count; i++) {
		bool known;
		rc = session_event(s, agent, now_s, &ev[i], &known);
		if (known)
			ok++;
		else
			miss++;
	}
	rc = tx_end(s, rc);
	if (accepted)
		*accepted = rc == 0 ? ok : 0;
	if (unknown)
		*unknown = rc == 0 ? miss : 0;
	return rc;
}

static int pg_sessions_expire(struct store *base, int64_t now, int64_t pending_timeout, int *ended)
{
	struct store_pg *s = P(base);
	char now_s[24], pend[24];
	const char *p[1] = {pend}, *n[1] = {now_s};
	PGresult *r = NULL;
	int rc, rows = 0;

	if (ended)
		*ended = 0;
	snprintf(now_s, sizeof(now_s), "%" PRId64, now);
	snprintf(pend, sizeof(pend), "%" PRId64, now - pending_timeout);
	if ((rc = exec0(s, "BEGIN")) < 0)
		return rc;
	rc = change(s,
		    "UPDATE sessions SET state = 'disconnected', state_since = started WHERE state "
		    "= 'pending' AND started < $1",
		    1, p, NULL, "expire pending sessions");
	if (rc == 0)
		rc = exec0(s, "DELETE FROM session_ends WHERE queued < extract(epoch from "
			      "now())::bigint - 86400");
	/* rows locked: with several brokers sweeping, each session ends once */
	if (rc == 0)
		rc = run(s,
			 "SELECT x.id, x.desktop_id, x.state, d.agent FROM sessions x JOIN "
			 "desktops d ON d.id = x.desktop_id JOIN pools p ON p.id = d.pool_id WHERE "
			 "(p.logoff = 1 AND x.state = 'disconnected') OR (p.logoff = 2 AND "
			 "p.idle_timeout > 0 AND ((x.state = 'disconnected' AND x.state_since < $1 "
			 "- p.idle_timeout) OR (x.state = 'connected' AND x.idle_since > 0 AND "
			 "x.idle_since < $1 - p.idle_timeout))) FOR UPDATE OF x",
			 1, n, &r, "due sessions");
	if (rc == 0)
		rows = PQntuples(r);
	for (int i = 0; rc == 0 && i < rows; i++) {
		rc = end_locked(s, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
		if (rc == 0 && strcmp(PQgetvalue(r, i, 2), "connected") == 0)
			rc = end_queue(s, PQgetvalue(r, i, 3), PQgetvalue(r, i, 0),
				       STORE_END_IDLE_TIMEOUT);
	}
	PQclear(r);
	rc = tx_end(s, rc);
	if (rc == 0 && ended)
		*ended = rows;
	return rc;
}

static int pg_session_disconnect(struct store *base, const char *session)
{
	struct store_pg *s = P(base);
	struct live l;
	int rc;
	if (!session || strlen(session) > 64)
		return -ENOENT;
	if ((rc = exec0(s, "BEGIN")) < 0)
		return rc;
	rc = session_find(s, session, &l);
	if (rc == 0)
		rc = end_queue(s, l.agent, session, STORE_END_ADMIN);
	return tx_end(s, rc);
}

static int pg_agents_expire(struct store *base, int64_t now, int64_t window, int *offlined)
{
	struct store_pg *s = P(base);
	char t[24];
	const char *p[1] = {t};
	long rows = 0;
	int rc;
	snprintf(t, sizeof(t), "%" PRId64, now - window);
	if ((rc = exec0(s, "BEGIN")) < 0)
		return rc;
	rc = change(s,
		    "UPDATE desktops SET state = 3 WHERE state IN (0, 1, 2) AND agent IN (SELECT "
		    "name FROM agents WHERE last_heartbeat < $1)",
		    1, p, &rows, "expire agents");
	if (offlined)
		*offlined = rc == 0 ? (int)rows : 0;
	return tx_end(s, rc);
}

static void fill(PGresult *r, int first, struct store_connect_res *res)
{
	snprintf(res->desktop, sizeof(res->desktop), "%s", PQgetvalue(r, 0, first));
	snprintf(res->agent, sizeof(res->agent), "%s", PQgetvalue(r, 0, first + 1));
	snprintf(res->address, sizeof(res->address), "%s", PQgetvalue(r, 0, first + 2));
	res->port = atoi(PQgetvalue(r, 0, first + 3));
}

static int connect_locked(struct store_pg *s, const struct store_connect_req *req,
			  struct store_connect_res *res)
{
	char uid[24], pid[24], since[24], now[24], did[24] = "", kind[8], max[24], live[24];
	const char *up[2] = {req->user, req->pool};
	char lock[96];
	PGresult *r;
	int rc;

	snprintf(since, sizeof(since), "%" PRId64, req->now - req->heartbeat_window);
	snprintf(now, sizeof(now), "%" PRId64, req->now);
	rc = run(s, "SELECT id FROM users WHERE name = $1", 1, up, &r, "read user");
	if (rc < 0)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return -ENOENT;
	}
	snprintf(uid, sizeof(uid), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	rc = run(s, "SELECT id, kind, max_sessions FROM pools WHERE name = $1", 1, up + 1, &r,
		 "read pool");
	if (rc < 0)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return -ENOENT;
	}
	snprintf(pid, sizeof(pid), "%s", PQgetvalue(r, 0, 0));
	snprintf(kind, sizeof(kind), "%s", PQgetvalue(r, 0, 1));
	snprintf(max, sizeof(max), "%s", PQgetvalue(r, 0, 2));
	PQclear(r);
	/* one decision per pool at a time, across every broker */
	snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%d, %s::int)", POOL_LOCK_NS,
		 pid);
	if ((rc = exec0(s, lock)) < 0)
		return rc;
	{
		const char *p[2] = {pid, uid};
		rc = one(s,
			 "SELECT 1 FROM entitlements e WHERE e.pool_id = $1 AND (e.user_id = $2 OR "
			 "e.group_id IN (SELECT group_id FROM group_members WHERE user_id = $2))",
			 2, p, NULL, 0, "entitlement");
		if (rc == -ENOENT)
			return -EACCES;
		if (rc < 0)
			return rc;
	}
	{ /* 1. the user's dedicated desktop */
		const char *p[2] = {uid, pid};
		rc = run(s,
			 "SELECT d.id, d.name, d.agent, coalesce(a.address, ''), coalesce(a.port, "
			 "0), d.state, coalesce(a.last_heartbeat, 0) FROM desktops d JOIN "
			 "assignments s ON s.desktop_id = d.id LEFT JOIN agents a ON a.name = "
			 "d.agent WHERE s.user_id = $1 AND s.dedicated = 1 AND d.pool_id = $2",
			 2, p, &r, "dedicated desktop");
		if (rc < 0)
			return rc;
		if (PQntuples(r) > 0) {
			int st = atoi(PQgetvalue(r, 0, 5));
			int64_t hb = strtoll(PQgetvalue(r, 0, 6), NULL, 10);
			snprintf(did, sizeof(did), "%s", PQgetvalue(r, 0, 0));
			fill(r, 1, res);
			PQclear(r);
			if (st == STORE_DESKTOP_OFFLINE || st == STORE_DESKTOP_MAINTENANCE ||
			    hb < req->now - req->heartbeat_window)
				return -EHOSTDOWN;
		} else {
			PQclear(r);
		}
	}
	{ /* 2. the user's live session in this pool */
		const char *p[3] = {uid, pid, since};
		rc = run(
			s,
			"SELECT x.id, d.name, d.agent, a.address, a.port, (d.state IN (0, 1, 2) "
			"AND a.last_heartbeat >= $3)::int AS up FROM sessions x JOIN desktops d ON "
			"d.id = x.desktop_id JOIN agents a ON a.name = d.agent WHERE x.user_id = "
			"$1 "
			"AND d.pool_id = $2 AND x.state <> 'ended' ORDER BY up DESC, x.started "
			"LIMIT 1",
			3, p, &r, "live session");
		if (rc < 0)
			return rc;
		if (PQntuples(r) > 0) {
			const char *t[3] = {now, req->client_address, NULL};
			int alive = atoi(PQgetvalue(r, 0, 5));
			snprintf(res->session, sizeof(res->session), "%s", PQgetvalue(r, 0, 0));
			fill(r, 1, res);
			PQclear(r);
			if (!alive)
				return -EHOSTDOWN;
			res->reused = true;
			t[2] = res->session;
			return change(s,
				      "UPDATE sessions SET last_seen = $1, client_address = "
				      "coalesce($2, client_address) WHERE id = $3",
				      3, t, NULL, "touch session");
		}
		PQclear(r);
	}
	if (did[0]) {
		res->reused = true;
		goto session;
	}
	{
		const char *p[2] = {uid, pid};
		rc = one(s,
			 "SELECT count(*) FROM sessions x JOIN desktops d ON d.id = x.desktop_id "
			 "WHERE x.user_id = $1 AND d.pool_id = $2 AND x.state <> 'ended'",
			 2, p, live, sizeof(live), "count sessions");
		if (rc < 0)
			return rc;
		if (strtoll(live, NULL, 10) >=
		    (strtoll(max, NULL, 10) > 0 ? strtoll(max, NULL, 10) : 1))
			return -EDQUOT;
	}
	{ /* 3. an available desktop, held for this user */
		const char *p[2] = {pid, since};
		const char *a[4] = {NULL, uid, strcmp(kind, "1") == 0 ? "1" : "0", now};
		rc = run(s,
			 "SELECT d.id, d.name, d.agent, a.address, a.port FROM desktops d JOIN "
			 "agents a ON a.name = d.agent WHERE d.pool_id = $1 AND d.state = 0 AND "
			 "a.last_heartbeat >= $2 AND NOT EXISTS (SELECT 1 FROM assignments s WHERE "
			 "s.desktop_id = d.id) ORDER BY d.id LIMIT 1",
			 2, p, &r, "pick desktop");
		if (rc < 0)
			return rc;
		if (PQntuples(r) == 0) {
			PQclear(r);
			return -ENOSPC;
		}
		snprintf(did, sizeof(did), "%s", PQgetvalue(r, 0, 0));
		fill(r, 1, res);
		PQclear(r);
		a[0] = did;
		rc = change(
			s,
			"INSERT INTO assignments (desktop_id, user_id, dedicated, since) VALUES "
			"($1, $2, $3, $4)",
			4, a, NULL, "assign desktop");
		if (rc < 0)
			return rc;
		rc = change(s, "UPDATE desktops SET state = 1 WHERE id = $1 AND state = 0", 1, a,
			    NULL, "mark assigned");
		if (rc < 0)
			return rc;
	}
session : {
	const char *p[4] = {uid, did, req->client_address, now};
	return one(s,
		   "INSERT INTO sessions (id, user_id, desktop_id, client_address, started, "
		   "last_seen, state, state_since) VALUES (md5(random()::text || "
		   "clock_timestamp()::text), $1, $2, $3, $4, $4, 'pending', $4) RETURNING id",
		   4, p, res->session, sizeof(res->session), "add session");
}
}

static int pg_connect(struct store *base, const struct store_connect_req *req,
		      struct store_connect_res *res)
{
	struct store_pg *s = P(base);
	int rc;
	memset(res, 0, sizeof(*res));
	if (!name_ok(req->user) || !name_ok(req->pool))
		return -ENOENT;
	if ((rc = exec0(s, "BEGIN")) < 0)
		return rc;
	return tx_end(s, connect_locked(s, req, res));
}

static int pg_session_end(struct store *base, const char *session)
{
	struct store_pg *s = P(base);
	struct live l;
	int rc;
	if (!session || strlen(session) > 64)
		return -ENOENT;
	if ((rc = exec0(s, "BEGIN")) < 0)
		return rc;
	rc = session_find(s, session, &l);
	if (rc == 0)
		rc = end_locked(s, session, l.did);
	/* a client may be on it: its agent drops it */
	if (rc == 0 && strcmp(l.state, "disconnected") != 0)
		rc = end_queue(s, l.agent, session, STORE_END_LOGOFF);
	return tx_end(s, rc);
}

static int pg_token_add(struct store *base, const uint8_t hash[STORE_TOKEN_HASH_LEN],
			const char *user, int64_t expires)
{
	struct store_pg *s = P(base);
	char h[2 * STORE_TOKEN_HASH_LEN + 1], e[24], old[24];
	const char *p[3] = {h, e, user}, *o[1] = {old};
	long rows = 0;
	int rc;
	if (!name_ok(user))
		return -ENOENT;
	hex(hash, STORE_TOKEN_HASH_LEN, h);
	snprintf(e, sizeof(e), "%" PRId64, expires);
	snprintf(old, sizeof(old), "%" PRId64, expires - 86400 * 366);
	if ((rc = exec0(s, "BEGIN")) < 0)
		return rc;
	rc = change(s, "DELETE FROM tokens WHERE expires <= $1", 1, o, NULL, "purge tokens");
	if (rc == 0)
		rc = change(s,
			    "INSERT INTO tokens (hash, user_id, expires) SELECT decode($1, 'hex'), "
			    "id, $2 FROM users WHERE name = $3",
			    3, p, &rows, "add token");
	if (rc == 0 && rows == 0)
		rc = -ENOENT;
	return tx_end(s, rc);
}

static int pg_token_user(struct store *base, const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t now,
			 char *user, size_t cap)
{
	char h[2 * STORE_TOKEN_HASH_LEN + 1], n[24];
	const char *p[2] = {h, n};
	hex(hash, STORE_TOKEN_HASH_LEN, h);
	snprintf(n, sizeof(n), "%" PRId64, now);
	return one(P(base),
		   "SELECT u.name FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = "
		   "decode($1, 'hex') AND t.expires > $2",
		   2, p, user, cap, "read token");
}

static int pg_token_delete(struct store *base, const uint8_t hash[STORE_TOKEN_HASH_LEN])
{
	char h[2 * STORE_TOKEN_HASH_LEN + 1];
	const char *p[1] = {h};
	hex(hash, STORE_TOKEN_HASH_LEN, h);
	return change_tx(P(base), "DELETE FROM tokens WHERE hash = decode($1, 'hex')", 1, p, 1,
			 "delete token");
}

#define STATE_NAME(col)                                                                     \
	"CASE " col " WHEN 0 THEN 'available' WHEN 1 THEN 'assigned' WHEN 2 THEN 'in_use' " \
	"WHEN 3 THEN 'offline' ELSE 'maintenance' END"

static const char *const list_sql[STORE_LIST_COUNT_] = {
	[STORE_LIST_USERS] = "SELECT u.name AS name, coalesce((SELECT string_agg(g.name, ',' ORDER "
			     "BY g.name) FROM group_members m JOIN groups g ON g.id = m.group_id "
			     "WHERE m.user_id = u.id), '') AS groups FROM users u ORDER BY u.name",
	[STORE_LIST_GROUPS] = "SELECT g.name AS name, coalesce((SELECT string_agg(u.name, ',' "
			      "ORDER BY u.name) FROM group_members m JOIN users u ON u.id = "
			      "m.user_id WHERE m.group_id = g.id), '') AS members FROM groups g "
			      "ORDER BY g.name",
	[STORE_LIST_POOLS] =
		"SELECT p.name AS name, CASE p.kind WHEN 1 THEN 'dedicated' ELSE 'floating' END "
		"AS kind, CASE p.logoff WHEN 1 THEN 'immediate' WHEN 2 THEN 'after_idle' ELSE "
		"'never' END AS logoff, p.idle_timeout AS idle_timeout_s, p.max_sessions AS "
		"max_sessions, (SELECT count(*) FROM desktops d WHERE d.pool_id = p.id) AS "
		"desktops, (SELECT count(*) FROM desktops d WHERE d.pool_id = p.id AND d.state = "
		"0) AS available, (SELECT count(*) FROM sessions x JOIN desktops d ON d.id = "
		"x.desktop_id WHERE d.pool_id = p.id AND x.state <> 'ended') AS sessions FROM "
		"pools p ORDER BY p.name",
	[STORE_LIST_DESKTOPS] =
		"SELECT d.agent AS agent, d.name AS name, p.name AS pool, " STATE_NAME(
			"d.state") " AS state, coalesce(u.name, '') AS user, d.console_uri AS "
				   "console_uri, CASE WHEN d.state = 3 THEN d.offline_reason ELSE "
				   "'' END AS offline_reason FROM desktops d JOIN pools p ON p.id "
				   "= "
				   "d.pool_id "
				   "LEFT JOIN assignments s ON s.desktop_id = d.id LEFT JOIN users "
				   "u "
				   "ON u.id = s.user_id ORDER BY d.agent, d.name",
	[STORE_LIST_AGENTS] = "SELECT name, address, port, last_heartbeat FROM agents ORDER BY "
			      "name",
	[STORE_LIST_SESSIONS] =
		"SELECT x.id AS id, u.name AS user, p.name AS pool, d.agent AS agent, d.name AS "
		"desktop, coalesce(x.client_address, '') AS client, x.started AS started, "
		"x.last_seen AS last_seen, x.state AS state FROM sessions x JOIN users u ON u.id = "
		"x.user_id JOIN desktops d ON d.id = x.desktop_id JOIN pools p ON p.id = d.pool_id "
		"WHERE x.state <> 'ended' ORDER BY u.name, x.started",
};

static int pg_list(struct store *base, enum store_list what, struct store_table *out)
{
	PGresult *r;
	int rc;
	memset(out, 0, sizeof(*out));
	if ((unsigned)what >= STORE_LIST_COUNT_)
		return -EINVAL;
	rc = run(P(base), list_sql[what], 0, NULL, &r, "list");
	if (rc < 0)
		return rc;
	out->ncols = (size_t)PQnfields(r);
	out->nrows = (size_t)PQntuples(r);
	out->cols = calloc(out->ncols ? out->ncols : 1, sizeof(char *));
	out->cells = calloc(out->ncols * out->nrows + 1, sizeof(char *));
	if (!out->cols || !out->cells)
		goto nomem;
	for (size_t c = 0; c < out->ncols; c++)
		if (!(out->cols[c] = strdup(PQfname(r, (int)c))))
			goto nomem;
	for (size_t row = 0; row < out->nrows; row++)
		for (size_t c = 0; c < out->ncols; c++)
			if (!(out->cells[row * out->ncols + c] = strdup(
				      PQgetvalue(r, (int)row, (int)c))))
				goto nomem;
	PQclear(r);
	return 0;
nomem:
	PQclear(r);
	store_table_free(out);
	return -ENOMEM;
}

const struct store_impl store_pg_impl = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.user_add = pg_user_add,
	.user_set_password = pg_user_set_password,
	.user_delete = pg_user_delete,
	.user_password_hash = pg_user_password_hash,
	.group_add = pg_group_add,
	.group_member_add = pg_group_member_add,
	.group_delete = pg_group_delete,
	.group_member_remove = pg_group_member_remove,
	.pool_add = pg_pool_add,
	.pool_delete = pg_pool_delete,
	.pool_set = pg_pool_set,
	.pools_for_user = pg_pools_for_user,
	.desktop_add = pg_desktop_add,
	.desktop_set_maintenance = pg_desktop_set_maintenance,
	.desktop_get = pg_desktop_get,
	.entitle = pg_entitle,
	.unentitle = pg_unentitle,
	.assign = pg_assign,
	.unassign = pg_unassign,
	.desktop_delete = pg_desktop_delete,
	.agent_register = pg_agent_register,
	.agent_heartbeat = pg_agent_heartbeat,
	.agents_expire = pg_agents_expire,
	.session_events = pg_session_events,
	.sessions_expire = pg_sessions_expire,
	.connect = pg_connect,
	.session_end = pg_session_end,
	.session_disconnect = pg_session_disconnect,
	.token_add = pg_token_add,
	.token_user = pg_token_user,
	.token_delete = pg_token_delete,
	.list = pg_list,
};
