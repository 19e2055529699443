/* SPDX-License-Identifier: MIT */
/*
 * The SQLite store: one file, WAL journal (readers never wait for the
 * writer), foreign keys on, a busy timeout so concurrent writers queue
 * instead of failing, numbered migrations recorded in schema_migrations,
 * every statement prepared once per connection, every change one
 * transaction. All of the broker's SQL for SQLite is in this file.
 *
 * Changes start with BEGIN IMMEDIATE: the write lock is taken before the
 * first read, so two connects can never both read "available" for the same
 * desktop (a deferred transaction would read, then fail to upgrade).
 */
#include "log.h"
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUSY_TIMEOUT_MS 10000

/* Numbered migrations: index + 1 is the version. Append only, never edit. */
static const char *const migrations[] = {
	/* 1: the model of issue #5 */
	"CREATE TABLE users ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  password_hash TEXT NOT NULL);"
	"CREATE TABLE groups ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE group_members ("
	"  group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  PRIMARY KEY (group_id, user_id));"
	"CREATE TABLE pools ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  kind INTEGER NOT NULL CHECK (kind IN (0, 1)),"
	"  idle_timeout INTEGER NOT NULL DEFAULT 0,"
	"  logoff INTEGER NOT NULL DEFAULT 0 CHECK (logoff IN (0, 1, 2)),"
	"  max_sessions INTEGER NOT NULL DEFAULT 1);"
	"CREATE TABLE agents ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  address TEXT NOT NULL,"
	"  port INTEGER NOT NULL,"
	"  last_heartbeat INTEGER NOT NULL DEFAULT 0);"
	/* desktops name their agent by name: an admin may add them before it registers */
	"CREATE TABLE desktops ("
	"  id INTEGER PRIMARY KEY,"
	"  pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,"
	"  agent TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  console_uri TEXT NOT NULL DEFAULT '',"
	"  state INTEGER NOT NULL DEFAULT 3 CHECK (state BETWEEN 0 AND 4),"
	"  UNIQUE (agent, name));"
	"CREATE TABLE entitlements ("
	"  id INTEGER PRIMARY KEY,"
	"  pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,"
	"  user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,"
	"  group_id INTEGER REFERENCES groups(id) ON DELETE CASCADE,"
	"  CHECK ((user_id IS NULL) <> (group_id IS NULL)));"
	/* UNIQUE over a NULL column never fires: one partial index per kind */
	"CREATE UNIQUE INDEX entitlements_user ON entitlements(pool_id, user_id) "
	"WHERE user_id IS NOT NULL;"
	"CREATE UNIQUE INDEX entitlements_group ON entitlements(pool_id, group_id) "
	"WHERE group_id IS NOT NULL;"
	/* desktop_id is the key: a desktop is held by at most one user */
	"CREATE TABLE assignments ("
	"  desktop_id INTEGER PRIMARY KEY REFERENCES desktops(id) ON DELETE CASCADE,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  dedicated INTEGER NOT NULL,"
	"  since INTEGER NOT NULL);"
	"CREATE TABLE sessions ("
	"  id TEXT PRIMARY KEY,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  desktop_id INTEGER NOT NULL REFERENCES desktops(id) ON DELETE CASCADE,"
	"  client_address TEXT,"
	"  started INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('pending', 'connected', 'disconnected', "
	"'ended')));"
	"CREATE UNIQUE INDEX sessions_live_desktop ON sessions(desktop_id) WHERE state <> 'ended';"
	"CREATE INDEX sessions_user ON sessions(user_id, state);"
	"CREATE TABLE tokens ("
	"  hash BLOB PRIMARY KEY,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  expires INTEGER NOT NULL);",
	/*
	 * 2: agents report sessions; the logoff policies. state_since: when the
	 * session entered its state (disconnected since...); idle_since: 0 or
	 * when its user stopped typing. session_ends: the clients each agent
	 * must drop, handed out once by its heartbeat.
	 */
	"ALTER TABLE sessions ADD COLUMN state_since INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN idle_since INTEGER NOT NULL DEFAULT 0;"
	"UPDATE sessions SET state_since = started;"
	"CREATE TABLE session_ends ("
	"  agent TEXT NOT NULL,"
	"  session TEXT NOT NULL,"
	"  reason TEXT NOT NULL CHECK (reason IN ('admin', 'logoff', 'idle_timeout')),"
	"  queued INTEGER NOT NULL,"
	"  PRIMARY KEY (agent, session));",
	/*
	 * 3: why a desktop is offline, as its agent said (issue #9: a console
	 * that refuses the agent's password); '' when it did not say.
	 */
	"ALTER TABLE desktops ADD COLUMN offline_reason TEXT NOT NULL DEFAULT '';",
};

enum stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_USER_ADD,
	ST_USER_SET_PASSWORD,
	ST_USER_DELETE,
	ST_USER_HASH,
	ST_USER_ID,
	ST_GROUP_ADD,
	ST_GROUP_ID,
	ST_MEMBER_ADD,
	ST_POOL_ADD,
	ST_POOL_DELETE,
	ST_POOL_GET,
	ST_POOLS_FOR_USER,
	ST_DESKTOP_ADD,
	ST_DESKTOP_MAINT,
	ST_DESKTOP_UNMAINT,
	ST_DESKTOP_GET,
	ST_ENTITLE,
	ST_ENTITLED,
	ST_ASSIGN,
	ST_DESKTOP_SET_ASSIGNED,
	ST_AGENT_UPSERT,
	ST_AGENT_HEARTBEAT,
	ST_AGENT_DESKTOP_ONLINE,
	ST_AGENT_DESKTOP_KNOWN,
	ST_AGENTS_EXPIRE,
	ST_DEDICATED_DESKTOP,
	ST_LIVE_SESSION,
	ST_SESSION_COUNT,
	ST_PICK_DESKTOP,
	ST_ASSIGNMENT_ADD,
	ST_SESSION_ADD,
	ST_SESSION_TOUCH,
	ST_SESSION_END,
	ST_ASSIGNMENT_FLOATING_DROP,
	ST_DESKTOP_RETURN,
	ST_TOKEN_ADD,
	ST_TOKEN_USER,
	ST_TOKEN_DELETE,
	ST_TOKEN_PURGE,
	ST_UNASSIGN,
	ST_USER_FREE_DESKTOPS,
	ST_SESSIONS_END_DESKTOP,
	ST_DESKTOP_FREE,
	ST_DESKTOP_DELETE,
	ST_DESKTOP_OFFLINE,
	ST_ENDS_TAKE,
	ST_END_QUEUE,
	ST_ENDS_PURGE,
	ST_SESSION_FIND,
	ST_SESSION_CONNECTED,
	ST_SESSION_DISCONNECTED,
	ST_SESSION_IDLE,
	ST_SESSION_ACTIVE,
	ST_DESKTOP_IN_USE,
	ST_DESKTOP_NOT_IN_USE,
	ST_PENDING_EXPIRE,
	ST_SESSIONS_DUE,
	ST_QUEUE_DESKTOP_LOGOFF,
	ST_POOL_KIND,
	ST_POOL_SET,
	ST_UNENTITLE_USER,
	ST_UNENTITLE_GROUP,
	ST_GROUP_DELETE,
	ST_MEMBER_REMOVE,
	ST_COUNT_,
};

#define DESKTOP_TARGET                                                                            \
	"SELECT d.id, d.name, d.agent, a.address, a.port, d.state FROM desktops d JOIN agents a " \
	"ON a.name = d.agent "

static const char *const sql[ST_COUNT_] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_USER_ADD] = "INSERT INTO users (name, password_hash) VALUES (?, ?)",
	[ST_USER_SET_PASSWORD] = "UPDATE users SET password_hash = ? WHERE name = ?",
	[ST_USER_DELETE] = "DELETE FROM users WHERE name = ?",
	[ST_USER_HASH] = "SELECT password_hash FROM users WHERE name = ?",
	[ST_USER_ID] = "SELECT id FROM users WHERE name = ?",
	[ST_GROUP_ADD] = "INSERT INTO groups (name) VALUES (?)",
	[ST_GROUP_ID] = "SELECT id FROM groups WHERE name = ?",
	[ST_MEMBER_ADD] = "INSERT INTO group_members (group_id, user_id) VALUES (?, ?)",
	[ST_POOL_ADD] = "INSERT INTO pools (name, kind, idle_timeout, logoff, max_sessions) "
			"VALUES (?, ?, ?, ?, ?)",
	[ST_POOL_DELETE] = "DELETE FROM pools WHERE name = ?",
	[ST_POOL_GET] = "SELECT id, kind, max_sessions FROM pools WHERE name = ?",
	[ST_POOLS_FOR_USER] =
		"SELECT p.name, p.kind, p.idle_timeout, p.logoff, p.max_sessions FROM pools p "
		"WHERE EXISTS (SELECT 1 FROM entitlements e WHERE e.pool_id = p.id AND "
		"(e.user_id = ?1 OR e.group_id IN "
		"(SELECT group_id FROM group_members WHERE user_id = ?1))) ORDER BY p.name",
	[ST_DESKTOP_ADD] = "INSERT INTO desktops (pool_id, agent, name, console_uri, state) "
			   "SELECT id, ?, ?, ?, 3 FROM pools WHERE name = ?",
	[ST_DESKTOP_MAINT] = "UPDATE desktops SET state = 4 WHERE agent = ? AND name = ?",
	/* out of maintenance: offline until its agent next speaks */
	[ST_DESKTOP_UNMAINT] =
		"UPDATE desktops SET state = 3 WHERE agent = ? AND name = ? AND state = 4",
	[ST_DESKTOP_GET] = "SELECT d.name, d.agent, p.name, d.state, CASE WHEN d.state = 3 THEN "
			   "d.offline_reason ELSE '' END FROM desktops d JOIN pools p "
			   "ON p.id = d.pool_id WHERE d.agent = ? AND d.name = ?",
	[ST_ENTITLE] = "INSERT INTO entitlements (pool_id, user_id, group_id) VALUES (?, ?, ?)",
	[ST_ENTITLED] = "SELECT 1 FROM entitlements e WHERE e.pool_id = ?1 AND (e.user_id = ?2 OR "
			"e.group_id IN (SELECT group_id FROM group_members WHERE user_id = ?2))",
	[ST_ASSIGN] = "INSERT INTO assignments (desktop_id, user_id, dedicated, since) "
		      "SELECT id, ?, 1, ? FROM desktops WHERE agent = ? AND name = ?",
	[ST_DESKTOP_SET_ASSIGNED] = "UPDATE desktops SET state = 1 WHERE id = ? AND state = 0",
	[ST_AGENT_UPSERT] =
		"INSERT INTO agents (name, address, port, last_heartbeat) VALUES (?1, ?2, ?3, ?4) "
		"ON CONFLICT (name) DO UPDATE SET address = ?2, port = ?3, last_heartbeat = ?4",
	[ST_AGENT_HEARTBEAT] = "UPDATE agents SET last_heartbeat = ? WHERE name = ?",
	/* offline -> assigned when someone holds it, else available; maintenance stays */
	[ST_AGENT_DESKTOP_ONLINE] =
		"UPDATE desktops SET state = CASE WHEN EXISTS (SELECT 1 FROM assignments s "
		"WHERE s.desktop_id = desktops.id) THEN 1 ELSE 0 END, offline_reason = '' "
		"WHERE agent = ? AND name = ? AND state = 3",
	[ST_AGENT_DESKTOP_KNOWN] =
		"SELECT state, offline_reason FROM desktops WHERE agent = ? AND name = ?",
	[ST_AGENTS_EXPIRE] = "UPDATE desktops SET state = 3 WHERE state IN (0, 1, 2) AND agent IN "
			     "(SELECT name FROM agents WHERE last_heartbeat < ?)",
	/* LEFT JOIN: a dedicated desktop whose agent never registered is down, not absent */
	[ST_DEDICATED_DESKTOP] =
		"SELECT d.id, d.name, d.agent, coalesce(a.address, ''), coalesce(a.port, 0), "
		"d.state, coalesce(a.last_heartbeat, 0) FROM desktops d JOIN assignments s ON "
		"s.desktop_id = d.id LEFT JOIN agents a ON a.name = d.agent "
		"WHERE s.user_id = ? AND s.dedicated = 1 AND d.pool_id = ?",
	/* usable ones first; a session whose desktop is down still belongs to its user */
	[ST_LIVE_SESSION] =
		"SELECT x.id, d.id, d.name, d.agent, a.address, a.port, "
		"d.state IN (0, 1, 2) AND a.last_heartbeat >= ?3 AS up FROM sessions x "
		"JOIN desktops d ON d.id = x.desktop_id JOIN agents a ON a.name = d.agent "
		"WHERE x.user_id = ?1 AND d.pool_id = ?2 AND x.state <> 'ended' "
		"ORDER BY up DESC, x.started LIMIT 1",
	[ST_SESSION_COUNT] =
		"SELECT count(*) FROM sessions x JOIN desktops d ON d.id = x.desktop_id "
		"WHERE x.user_id = ? AND d.pool_id = ? AND x.state <> 'ended'",
	[ST_PICK_DESKTOP] = DESKTOP_TARGET
	"WHERE d.pool_id = ? AND d.state = 0 AND a.last_heartbeat >= ? "
	"AND NOT EXISTS (SELECT 1 FROM assignments s WHERE s.desktop_id = "
	"d.id) ORDER BY d.id LIMIT 1",
	[ST_ASSIGNMENT_ADD] = "INSERT INTO assignments (desktop_id, user_id, dedicated, since) "
			      "VALUES (?, ?, ?, ?)",
	[ST_SESSION_ADD] = "INSERT INTO sessions (id, user_id, desktop_id, client_address, "
			   "started, last_seen, state, state_since) VALUES "
			   "(lower(hex(randomblob(16))), ?1, ?2, ?3, ?4, ?5, 'pending', ?4) "
			   "RETURNING id",
	[ST_SESSION_TOUCH] = "UPDATE sessions SET last_seen = ?, client_address = "
			     "coalesce(?, client_address) WHERE id = ?",
	[ST_SESSION_END] = "UPDATE sessions SET state = 'ended' WHERE id = ?",
	[ST_ASSIGNMENT_FLOATING_DROP] =
		"DELETE FROM assignments WHERE desktop_id = ? AND dedicated = 0",
	[ST_DESKTOP_RETURN] =
		"UPDATE desktops SET state = CASE WHEN EXISTS (SELECT 1 FROM assignments s "
		"WHERE s.desktop_id = desktops.id) THEN 1 ELSE 0 END "
		"WHERE id = ? AND state IN (1, 2)",
	[ST_TOKEN_ADD] = "INSERT INTO tokens (hash, user_id, expires) "
			 "SELECT ?, id, ? FROM users WHERE name = ?",
	[ST_TOKEN_USER] = "SELECT u.name FROM tokens t JOIN users u ON u.id = t.user_id "
			  "WHERE t.hash = ? AND t.expires > ?",
	[ST_TOKEN_DELETE] = "DELETE FROM tokens WHERE hash = ?",
	[ST_TOKEN_PURGE] = "DELETE FROM tokens WHERE expires <= ?",
	/* before a user goes: what they held becomes available (the cascade only drops rows) */
	[ST_USER_FREE_DESKTOPS] = "UPDATE desktops SET state = 0 WHERE state IN (1, 2) AND id IN "
				  "(SELECT desktop_id FROM assignments WHERE user_id = (SELECT id "
				  "FROM users WHERE name = ?))",
	[ST_UNASSIGN] = "DELETE FROM assignments WHERE desktop_id = (SELECT id FROM desktops WHERE "
			"agent = ?1 AND name = ?2)",
	[ST_SESSIONS_END_DESKTOP] =
		"UPDATE sessions SET state = 'ended' WHERE state <> 'ended' AND "
		"desktop_id = (SELECT id FROM desktops WHERE agent = ?1 AND "
		"name = ?2)",
	[ST_DESKTOP_FREE] =
		"UPDATE desktops SET state = 0 WHERE agent = ?1 AND name = ?2 AND state "
		"IN (1, 2)",
	[ST_DESKTOP_DELETE] = "DELETE FROM desktops WHERE agent = ?1 AND name = ?2",
	/* its console is down: never handed out until the agent says it is up */
	[ST_DESKTOP_OFFLINE] = "UPDATE desktops SET state = 3, offline_reason = ?3 WHERE agent = "
			       "?1 AND name = ?2 AND state IN (0, 1, 2, 3)",
	[ST_ENDS_TAKE] = "DELETE FROM session_ends WHERE agent = ? RETURNING session, reason",
	/* one entry per session: the latest reason wins */
	[ST_END_QUEUE] =
		"INSERT INTO session_ends (agent, session, reason, queued) VALUES (?1, ?2, "
		"?3, CAST(strftime('%s', 'now') AS INTEGER)) ON CONFLICT (agent, "
		"session) DO UPDATE SET reason = excluded.reason",
	/* an agent that never comes back must not keep its list for ever */
	[ST_ENDS_PURGE] = "DELETE FROM session_ends WHERE queued < CAST(strftime('%s', 'now') AS "
			  "INTEGER) - 86400",
	[ST_SESSION_FIND] =
		"SELECT x.desktop_id, x.state, d.agent, d.name, p.logoff FROM sessions x JOIN "
		"desktops d ON d.id = x.desktop_id JOIN pools p ON p.id = d.pool_id WHERE x.id = ? "
		"AND x.state <> 'ended'",
	[ST_SESSION_CONNECTED] =
		"UPDATE sessions SET state_since = CASE WHEN state = 'connected' THEN state_since "
		"ELSE ?1 END, state = 'connected', last_seen = ?1, idle_since = 0, client_address "
		"= coalesce(?2, client_address) WHERE id = ?3",
	[ST_SESSION_DISCONNECTED] =
		"UPDATE sessions SET state_since = CASE WHEN state = 'disconnected' THEN "
		"state_since ELSE ?1 END, state = 'disconnected', last_seen = ?1, idle_since = 0 "
		"WHERE id = ?2",
	[ST_SESSION_IDLE] = "UPDATE sessions SET idle_since = CASE WHEN idle_since = 0 THEN ?1 "
			    "ELSE idle_since END, last_seen = ?1 WHERE id = ?2",
	[ST_SESSION_ACTIVE] = "UPDATE sessions SET idle_since = 0, last_seen = ?1 WHERE id = ?2",
	[ST_DESKTOP_IN_USE] = "UPDATE desktops SET state = 2 WHERE id = ? AND state IN (0, 1)",
	[ST_DESKTOP_NOT_IN_USE] = "UPDATE desktops SET state = 1 WHERE id = ? AND state = 2",
	/* a ticket handed out and never used: disconnected since its start */
	[ST_PENDING_EXPIRE] = "UPDATE sessions SET state = 'disconnected', state_since = started "
			      "WHERE state = 'pending' AND started < ?",
	[ST_SESSIONS_DUE] =
		"SELECT x.id, x.desktop_id, x.state, d.agent FROM sessions x JOIN desktops d ON "
		"d.id = x.desktop_id JOIN pools p ON p.id = d.pool_id WHERE (p.logoff = 1 AND "
		"x.state = 'disconnected') OR (p.logoff = 2 AND p.idle_timeout > 0 AND "
		"((x.state = 'disconnected' AND x.state_since < ?1 - p.idle_timeout) OR (x.state "
		"= 'connected' AND x.idle_since > 0 AND x.idle_since < ?1 - p.idle_timeout)))",
	[ST_QUEUE_DESKTOP_LOGOFF] =
		"INSERT INTO session_ends (agent, session, reason, queued) SELECT d.agent, x.id, "
		"'logoff', CAST(strftime('%s', 'now') AS INTEGER) FROM sessions x JOIN desktops d "
		"ON d.id = x.desktop_id WHERE d.agent = ?1 AND d.name = ?2 AND x.state IN "
		"('pending', 'connected') ON CONFLICT (agent, session) DO UPDATE SET reason = "
		"excluded.reason",
	[ST_POOL_KIND] = "SELECT kind, (SELECT count(*) FROM desktops d WHERE d.pool_id = p.id) "
			 "FROM pools p WHERE name = ?",
	/* NULL (unbound): unchanged */
	[ST_POOL_SET] = "UPDATE pools SET kind = coalesce(?2, kind), logoff = coalesce(?3, "
			"logoff), idle_timeout = coalesce(?4, idle_timeout), max_sessions = "
			"coalesce(?5, max_sessions) WHERE name = ?1",
	[ST_UNENTITLE_USER] = "DELETE FROM entitlements WHERE pool_id = (SELECT id FROM pools "
			      "WHERE name = ?1) AND user_id = (SELECT id FROM users WHERE name = "
			      "?2)",
	[ST_UNENTITLE_GROUP] = "DELETE FROM entitlements WHERE pool_id = (SELECT id FROM pools "
			       "WHERE name = ?1) AND group_id = (SELECT id FROM groups WHERE name "
			       "= ?2)",
	[ST_GROUP_DELETE] = "DELETE FROM groups WHERE name = ?",
	[ST_MEMBER_REMOVE] = "DELETE FROM group_members WHERE group_id = (SELECT id FROM groups "
			     "WHERE name = ?1) AND user_id = (SELECT id FROM users WHERE name = "
			     "?2)",
};

struct store_sqlite {
	struct store base; /* first: a struct store * is a struct store_sqlite * */
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT_];
};

static struct store_sqlite *S(struct store *s)
{
	return (struct store_sqlite *)s;
}

static int db_err(struct store_sqlite *s, const char *what)
{
	log_error("store: %s: %s", what, sqlite3_errmsg(s->db));
	return -EIO;
}

/* The statement, reset and unbound, ready for binding. */
static sqlite3_stmt *stmt(struct store_sqlite *s, enum stmt i)
{
	sqlite3_reset(s->st[i]);
	sqlite3_clear_bindings(s->st[i]);
	return s->st[i];
}

static int bind_text(sqlite3_stmt *q, int i, const char *v)
{
	return sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC);
}

/* Steps a statement that returns no rows (or ignores them). SQLITE_CONSTRAINT -> -EEXIST. */
static int exec_stmt(struct store_sqlite *s, sqlite3_stmt *q, const char *what)
{
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return -EEXIST;
	return db_err(s, what);
}

/*
 * Writers of this process take turns on a mutex before BEGIN IMMEDIATE:
 * SQLite's busy handler would otherwise make the losers sleep (1, 2, 5, 10 ...
 * ms) while the lock is free again within a millisecond, which is most of
 * the broker's p99 at 64 clients (bench/broker). Other processes on the same
 * file still queue through the busy timeout.
 */
static pthread_mutex_t write_turn = PTHREAD_MUTEX_INITIALIZER;

static int tx_begin(struct store_sqlite *s)
{
	int rc;

	pthread_mutex_lock(&write_turn);
	rc = sqlite3_step(stmt(s, ST_BEGIN));
	sqlite3_reset(s->st[ST_BEGIN]);
	if (rc == SQLITE_DONE)
		return 0;
	pthread_mutex_unlock(&write_turn);
	return db_err(s, "begin");
}

/* Commits when rc is 0, rolls back otherwise; returns rc or the commit's failure. */
static int tx_end(struct store_sqlite *s, int rc)
{
	int r;
	if (rc == 0) {
		r = sqlite3_step(stmt(s, ST_COMMIT));
		sqlite3_reset(s->st[ST_COMMIT]);
		if (r == SQLITE_DONE) {
			pthread_mutex_unlock(&write_turn);
			return 0;
		}
		rc = db_err(s, "commit");
	}
	if (sqlite3_get_autocommit(s->db) == 0) {
		sqlite3_step(stmt(s, ST_ROLLBACK));
		sqlite3_reset(s->st[ST_ROLLBACK]);
	}
	pthread_mutex_unlock(&write_turn);
	return rc;
}

static int name_ok(const char *n)
{
	return n && n[0] && strlen(n) <= STORE_NAME_MAX;
}

/* id of a row by name (ST_USER_ID, ST_GROUP_ID), or -ENOENT. */
static int64_t lookup_id(struct store_sqlite *s, enum stmt i, const char *name)
{
	sqlite3_stmt *q = stmt(s, i);
	int64_t id;
	int rc;
	bind_text(q, 1, name);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		id = sqlite3_column_int64(q, 0);
		sqlite3_reset(q);
		return id;
	}
	sqlite3_reset(q);
	return rc == SQLITE_DONE ? -ENOENT : db_err(s, "lookup");
}

static void copy_col(sqlite3_stmt *q, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(q, col);
	snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static int migrate(struct store_sqlite *s)
{
	sqlite3_stmt *q = NULL;
	int64_t have = 0;
	char *msg = NULL;
	int rc;

	if (sqlite3_exec(s->db,
			 "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY "
			 "KEY, applied INTEGER NOT NULL)",
			 NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(version), 0) FROM schema_migrations", -1,
			       &q, NULL) != SQLITE_OK)
		goto fail_tx;
	if (sqlite3_step(q) == SQLITE_ROW)
		have = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	q = NULL;
	if (have > (int64_t)(sizeof(migrations) / sizeof(migrations[0]))) {
		log_error("store: the database has schema version %lld, newer than this broker "
			  "knows (%zu)",
			  (long long)have, sizeof(migrations) / sizeof(migrations[0]));
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -EINVAL;
	}
	for (size_t v = (size_t)have; v < sizeof(migrations) / sizeof(migrations[0]); v++) {
		char rec[128];
		if (sqlite3_exec(s->db, migrations[v], NULL, NULL, &msg) != SQLITE_OK)
			goto fail_tx;
		snprintf(rec, sizeof(rec),
			 "INSERT INTO schema_migrations VALUES (%zu, strftime('%%s', 'now'))",
			 v + 1);
		if (sqlite3_exec(s->db, rec, NULL, NULL, &msg) != SQLITE_OK)
			goto fail_tx;
		log_info("store: applied schema migration %zu", v + 1);
	}
	rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto fail_tx;
	return 0;
fail_tx:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
fail:
	log_error("store: migration failed: %s", msg ? msg : sqlite3_errmsg(s->db));
	sqlite3_free(msg);
	return -EIO;
}

static void sqlite_close(struct store *base)
{
	struct store_sqlite *s = S(base);
	if (!s)
		return;
	for (int i = 0; i < ST_COUNT_; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s);
}

static struct store *sqlite_open(const char *path)
{
	struct store_sqlite *s = calloc(1, sizeof(*s));
	char *msg = NULL;

	if (!s)
		return NULL;
	s->base.impl = &store_sqlite_impl;
	if (sqlite3_open_v2(path, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		log_error("store: cannot open %s: %s", path,
			  s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	if (sqlite3_exec(s->db,
			 "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; "
			 "PRAGMA synchronous = NORMAL;",
			 NULL, NULL, &msg) != SQLITE_OK) {
		log_error("store: %s: %s", path, msg);
		sqlite3_free(msg);
		goto fail;
	}
	if (migrate(s) < 0)
		goto fail;
	for (int i = 0; i < ST_COUNT_; i++) {
		if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
				       NULL) != SQLITE_OK) {
			log_error("store: cannot prepare statement %d: %s", i,
				  sqlite3_errmsg(s->db));
			goto fail;
		}
	}
	return &s->base;
fail:
	sqlite_close(&s->base);
	return NULL;
}

static int sqlite_user_add(struct store *base, const char *name, const char *hash)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int rc;
	if (!name_ok(name) || !hash || strlen(hash) > STORE_HASH_MAX)
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	q = stmt(s, ST_USER_ADD);
	bind_text(q, 1, name);
	bind_text(q, 2, hash);
	return tx_end(s, exec_stmt(s, q, "add user"));
}

static int sqlite_user_set_password(struct store *base, const char *name, const char *hash)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int rc;
	if (!name_ok(name) || !hash || strlen(hash) > STORE_HASH_MAX)
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	q = stmt(s, ST_USER_SET_PASSWORD);
	bind_text(q, 1, hash);
	bind_text(q, 2, name);
	rc = exec_stmt(s, q, "set password");
	if (rc == 0 && sqlite3_changes(s->db) == 0)
		rc = -ENOENT;
	return tx_end(s, rc);
}

static int sqlite_delete_by_name(struct store *base, enum stmt i, const char *name)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int rc;
	if (!name_ok(name))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	q = stmt(s, i);
	bind_text(q, 1, name);
	rc = exec_stmt(s, q, "delete");
	if (rc == 0 && sqlite3_changes(s->db) == 0)
		rc = -ENOENT;
	return tx_end(s, rc);
}

static int sqlite_user_delete(struct store *base, const char *name)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int rc;
	if (!name_ok(name))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	q = stmt(s, ST_USER_FREE_DESKTOPS);
	bind_text(q, 1, name);
	rc = exec_stmt(s, q, "free desktops");
	if (rc == 0) {
		q = stmt(s, ST_USER_DELETE);
		bind_text(q, 1, name);
		rc = exec_stmt(s, q, "delete user");
		if (rc == 0 && sqlite3_changes(s->db) == 0)
			rc = -ENOENT;
	}
	return tx_end(s, rc);
}

static int sqlite_user_password_hash(struct store *base, const char *name, char *out, size_t cap)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int rc;
	if (!name_ok(name))
		return -ENOENT; /* a name that cannot exist is simply unknown */
	q = stmt(s, ST_USER_HASH);
	bind_text(q, 1, name);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		copy_col(q, 0, out, cap);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : db_err(s, "read user");
	}
	sqlite3_reset(q);
	return rc;
}

static int sqlite_group_add(struct store *base, const char *name)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int rc;
	if (!name_ok(name))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	q = stmt(s, ST_GROUP_ADD);
	bind_text(q, 1, name);
	return tx_end(s, exec_stmt(s, q, "add group"));
}

static int sqlite_group_member_add(struct store *base, const char *group, const char *user)
{
	struct store_sqlite *s = S(base);
	int64_t gid, uid;
	sqlite3_stmt *q;
	int rc;
	if (!name_ok(group) || !name_ok(user))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	gid = lookup_id(s, ST_GROUP_ID, group);
	uid = gid < 0 ? gid : lookup_id(s, ST_USER_ID, user);
	if (uid < 0)
		return tx_end(s, (int)uid);
	q = stmt(s, ST_MEMBER_ADD);
	sqlite3_bind_int64(q, 1, gid);
	sqlite3_bind_int64(q, 2, uid);
	return tx_end(s, exec_stmt(s, q, "add member"));
}

static int sqlite_pool_add(struct store *base, const struct store_pool *p)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int rc;
	if (!name_ok(p->name) || p->kind > STORE_POOL_DEDICATED ||
	    p->logoff > STORE_LOGOFF_AFTER_IDLE || p->idle_timeout_s < 0 || p->max_sessions < 0)
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	q = stmt(s, ST_POOL_ADD);
	bind_text(q, 1, p->name);
	sqlite3_bind_int(q, 2, (int)p->kind);
	sqlite3_bind_int64(q, 3, p->idle_timeout_s);
	sqlite3_bind_int(q, 4, (int)p->logoff);
	sqlite3_bind_int64(q, 5, p->max_sessions ? p->max_sessions : 1);
	return tx_end(s, exec_stmt(s, q, "add pool"));
}

static int sqlite_pool_delete(struct store *base, const char *name)
{
	return sqlite_delete_by_name(base, ST_POOL_DELETE, name);
}

static int sqlite_pools_for_user(struct store *base, const char *user, struct store_pool **out,
				 size_t *count)
{
	struct store_sqlite *s = S(base);
	struct store_pool *v = NULL;
	size_t n = 0, cap = 0;
	int64_t uid;
	sqlite3_stmt *q;
	int rc;

	*out = NULL;
	*count = 0;
	if (!name_ok(user))
		return -ENOENT;
	uid = lookup_id(s, ST_USER_ID, user);
	if (uid < 0)
		return (int)uid;
	q = stmt(s, ST_POOLS_FOR_USER);
	sqlite3_bind_int64(q, 1, uid);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct store_pool *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				sqlite3_reset(q);
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		memset(&v[n], 0, sizeof(v[n]));
		copy_col(q, 0, v[n].name, sizeof(v[n].name));
		v[n].kind = (enum store_pool_kind)sqlite3_column_int(q, 1);
		v[n].idle_timeout_s = sqlite3_column_int64(q, 2);
		v[n].logoff = (enum store_logoff)sqlite3_column_int(q, 3);
		v[n].max_sessions = sqlite3_column_int64(q, 4);
		n++;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		free(v);
		return db_err(s, "list pools");
	}
	*out = v;
	*count = n;
	return 0;
}

static int sqlite_group_delete(struct store *base, const char *name)
{
	return sqlite_delete_by_name(base, ST_GROUP_DELETE, name);
}

/* Runs two-name statement i as one change; -ENOENT when it touched nothing. */
static int pair_change(struct store *base, enum stmt i, const char *a, const char *b,
		       const char *what)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int rc;
	if (!name_ok(a) || !name_ok(b))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	q = stmt(s, i);
	bind_text(q, 1, a);
	bind_text(q, 2, b);
	rc = exec_stmt(s, q, what);
	if (rc == 0 && sqlite3_changes(s->db) == 0)
		rc = -ENOENT;
	return tx_end(s, rc);
}

static int sqlite_group_member_remove(struct store *base, const char *group, const char *user)
{
	return pair_change(base, ST_MEMBER_REMOVE, group, user, "remove member");
}

static int sqlite_unentitle(struct store *base, const char *pool, const char *user,
			    const char *group)
{
	if ((user == NULL) == (group == NULL))
		return -EINVAL;
	return pair_change(base, user ? ST_UNENTITLE_USER : ST_UNENTITLE_GROUP, pool,
			   user ? user : group, "unentitle");
}

static int sqlite_pool_set(struct store *base, const char *name, const struct store_pool_change *c)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int rc;
	if (!name_ok(name) || c->kind > STORE_POOL_DEDICATED || c->logoff > STORE_LOGOFF_AFTER_IDLE)
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	q = stmt(s, ST_POOL_KIND);
	bind_text(q, 1, name);
	rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(q);
		return tx_end(s, rc == SQLITE_DONE ? -ENOENT : db_err(s, "read pool"));
	}
	/* a floating desktop held for a session would become someone's for good, or back */
	rc = c->kind >= 0 && c->kind != sqlite3_column_int(q, 0) && sqlite3_column_int64(q, 1) > 0
		     ? -EBUSY
		     : 0;
	sqlite3_reset(q);
	if (rc < 0)
		return tx_end(s, rc);
	q = stmt(s, ST_POOL_SET);
	bind_text(q, 1, name);
	if (c->kind >= 0)
		sqlite3_bind_int(q, 2, c->kind);
	if (c->logoff >= 0)
		sqlite3_bind_int(q, 3, c->logoff);
	if (c->idle_timeout_s >= 0)
		sqlite3_bind_int64(q, 4, c->idle_timeout_s);
	if (c->max_sessions >= 0)
		sqlite3_bind_int64(q, 5, c->max_sessions ? c->max_sessions : 1);
	return tx_end(s, exec_stmt(s, q, "set pool"));
}

static int sqlite_desktop_add(struct store *base, const char *pool, const char *agent,
			      const char *name, const char *uri)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int rc;
	if (!name_ok(pool) || !name_ok(agent) || !name_ok(name) ||
	    (uri && strlen(uri) > STORE_URI_MAX))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	q = stmt(s, ST_DESKTOP_ADD);
	bind_text(q, 1, agent);
	bind_text(q, 2, name);
	bind_text(q, 3, uri ? uri : "");
	bind_text(q, 4, pool);
	rc = exec_stmt(s, q, "add desktop");
	if (rc == 0 && sqlite3_changes(s->db) == 0)
		rc = -ENOENT; /* no such pool */
	return tx_end(s, rc);
}

static int sqlite_desktop_set_maintenance(struct store *base, const char *agent, const char *name,
					  bool on)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int rc;
	if (!name_ok(agent) || !name_ok(name))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	q = stmt(s, ST_AGENT_DESKTOP_KNOWN);
	bind_text(q, 1, agent);
	bind_text(q, 2, name);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_ROW)
		return tx_end(s, rc == SQLITE_DONE ? -ENOENT : db_err(s, "find desktop"));
	q = stmt(s, on ? ST_DESKTOP_MAINT : ST_DESKTOP_UNMAINT);
	bind_text(q, 1, agent);
	bind_text(q, 2, name);
	return tx_end(s, exec_stmt(s, q, "maintenance"));
}

static int sqlite_desktop_get(struct store *base, const char *agent, const char *name,
			      struct store_desktop_info *out)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int rc;
	if (!name_ok(agent) || !name_ok(name))
		return -ENOENT;
	q = stmt(s, ST_DESKTOP_GET);
	bind_text(q, 1, agent);
	bind_text(q, 2, name);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		copy_col(q, 0, out->name, sizeof(out->name));
		copy_col(q, 1, out->agent, sizeof(out->agent));
		copy_col(q, 2, out->pool, sizeof(out->pool));
		out->state = (enum store_desktop_state)sqlite3_column_int(q, 3);
		copy_col(q, 4, out->offline_reason, sizeof(out->offline_reason));
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : db_err(s, "read desktop");
	}
	sqlite3_reset(q);
	return rc;
}

/* pool id, kind and max_sessions by name, or -ENOENT. */
static int pool_get(struct store_sqlite *s, const char *name, int64_t *id, int *kind,
		    int64_t *max_sessions)
{
	sqlite3_stmt *q = stmt(s, ST_POOL_GET);
	int rc;
	bind_text(q, 1, name);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(q, 0);
		if (kind)
			*kind = sqlite3_column_int(q, 1);
		if (max_sessions)
			*max_sessions = sqlite3_column_int64(q, 2);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : db_err(s, "read pool");
	}
	sqlite3_reset(q);
	return rc;
}

static int sqlite_entitle(struct store *base, const char *pool, const char *user, const char *group)
{
	struct store_sqlite *s = S(base);
	int64_t pid, id;
	sqlite3_stmt *q;
	int rc;
	if (!name_ok(pool) || (user == NULL) == (group == NULL))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	rc = pool_get(s, pool, &pid, NULL, NULL);
	if (rc < 0)
		return tx_end(s, rc);
	id = user ? lookup_id(s, ST_USER_ID, user) : lookup_id(s, ST_GROUP_ID, group);
	if (id < 0)
		return tx_end(s, (int)id);
	q = stmt(s, ST_ENTITLE);
	sqlite3_bind_int64(q, 1, pid);
	if (user)
		sqlite3_bind_int64(q, 2, id);
	else
		sqlite3_bind_int64(q, 3, id);
	return tx_end(s, exec_stmt(s, q, "entitle"));
}

static int sqlite_assign(struct store *base, const char *user, const char *agent,
			 const char *desktop)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int64_t uid;
	int rc;
	if (!name_ok(user) || !name_ok(agent) || !name_ok(desktop))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	uid = lookup_id(s, ST_USER_ID, user);
	if (uid < 0)
		return tx_end(s, (int)uid);
	q = stmt(s, ST_ASSIGN);
	sqlite3_bind_int64(q, 1, uid);
	sqlite3_bind_int64(q, 2, 0);
	bind_text(q, 3, agent);
	bind_text(q, 4, desktop);
	rc = exec_stmt(s, q, "assign");
	if (rc == 0 && sqlite3_changes(s->db) == 0)
		rc = -ENOENT;
	if (rc == 0) {
		q = stmt(s, ST_DESKTOP_SET_ASSIGNED);
		sqlite3_bind_int64(q, 1, sqlite3_last_insert_rowid(s->db));
		rc = exec_stmt(s, q, "mark assigned");
	}
	return tx_end(s, rc);
}

/* Runs statement i with (agent, name) as one change; -ENOENT when i touched nothing. */
static int agent_name_change(struct store_sqlite *s, enum stmt i, const char *agent,
			     const char *name, const char *what)
{
	sqlite3_stmt *q = stmt(s, i);
	int rc;
	bind_text(q, 1, agent);
	bind_text(q, 2, name);
	rc = exec_stmt(s, q, what);
	if (rc == 0 && sqlite3_changes(s->db) == 0)
		rc = -ENOENT;
	return rc;
}

static int sqlite_unassign(struct store *base, const char *agent, const char *desktop)
{
	struct store_sqlite *s = S(base);
	int rc;
	if (!name_ok(agent) || !name_ok(desktop))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	rc = agent_name_change(s, ST_UNASSIGN, agent, desktop, "unassign");
	if (rc == 0) {
		sqlite3_stmt *q = stmt(s, ST_QUEUE_DESKTOP_LOGOFF);
		bind_text(q, 1, agent);
		bind_text(q, 2, desktop);
		rc = exec_stmt(s, q, "queue end");
	}
	if (rc == 0) {
		rc = agent_name_change(s, ST_SESSIONS_END_DESKTOP, agent, desktop, "end sessions");
		if (rc == -ENOENT)
			rc = 0;
	}
	if (rc == 0) {
		rc = agent_name_change(s, ST_DESKTOP_FREE, agent, desktop, "free desktop");
		if (rc == -ENOENT)
			rc = 0; /* offline or in maintenance: it stays so */
	}
	return tx_end(s, rc);
}

static int sqlite_desktop_delete(struct store *base, const char *agent, const char *desktop)
{
	struct store_sqlite *s = S(base);
	int rc;
	if (!name_ok(agent) || !name_ok(desktop))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	return tx_end(s, agent_name_change(s, ST_DESKTOP_DELETE, agent, desktop, "remove desktop"));
}

/*
 * Desktop (agent, name) comes online (up) or goes offline for reason;
 * *changed: it crossed between offline and online, or has a new reason.
 * -ENOENT when unknown.
 */
static int desktop_up(struct store_sqlite *s, const char *agent, const char *name, bool up,
		      const char *reason, bool *changed)
{
	char was_reason[STORE_REASON_MAX + 1];
	sqlite3_stmt *q;
	int was;

	*changed = false;
	if (!name_ok(name))
		return -ENOENT;
	q = stmt(s, ST_AGENT_DESKTOP_KNOWN);
	bind_text(q, 1, agent);
	bind_text(q, 2, name);
	if (sqlite3_step(q) != SQLITE_ROW) {
		sqlite3_reset(q);
		return -ENOENT;
	}
	was = sqlite3_column_int(q, 0);
	copy_col(q, 1, was_reason, sizeof(was_reason));
	sqlite3_reset(q);
	if (up)
		*changed = was == STORE_DESKTOP_OFFLINE;
	else
		*changed = was < STORE_DESKTOP_OFFLINE ||
			   (was == STORE_DESKTOP_OFFLINE && strcmp(was_reason, reason) != 0);
	q = stmt(s, up ? ST_AGENT_DESKTOP_ONLINE : ST_DESKTOP_OFFLINE);
	bind_text(q, 1, agent);
	bind_text(q, 2, name);
	if (!up)
		bind_text(q, 3, reason);
	return exec_stmt(s, q, up ? "desktop online" : "desktop offline");
}

/* Each desktop's report, in the caller's transaction; unknown desktops count in *miss. */
static int desktops_report(struct store_sqlite *s, const char *agent, const char *const *desktops,
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

static int sqlite_agent_register(struct store *base, const char *name, const char *address,
				 int port, int64_t now, const char *const *desktops, const bool *up,
				 const char *const *reasons, size_t count, bool *changed,
				 size_t *unknown)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	size_t miss = 0;
	int rc;

	if (!name_ok(name) || !address || !address[0] || strlen(address) > STORE_ADDR_MAX ||
	    port < 1 || port > 65535 || !reasons_ok(reasons, count))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	q = stmt(s, ST_AGENT_UPSERT);
	bind_text(q, 1, name);
	bind_text(q, 2, address);
	sqlite3_bind_int(q, 3, port);
	sqlite3_bind_int64(q, 4, now);
	rc = exec_stmt(s, q, "register agent");
	if (rc == 0)
		rc = desktops_report(s, name, desktops, up, reasons, count, changed, &miss);
	if (unknown)
		*unknown = miss;
	return tx_end(s, rc);
}

/* Takes (deletes) the agent's end list into *ends. */
static int ends_take(struct store_sqlite *s, const char *agent, struct store_end **ends,
		     size_t *nends)
{
	sqlite3_stmt *q = stmt(s, ST_ENDS_TAKE);
	struct store_end *v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	bind_text(q, 1, agent);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const unsigned char *r = sqlite3_column_text(q, 1);
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct store_end *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				sqlite3_reset(q);
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		copy_col(q, 0, v[n].session, sizeof(v[n].session));
		v[n].reason = !r				      ? STORE_END_LOGOFF
			      : strcmp((const char *)r, "admin") == 0 ? STORE_END_ADMIN
			      : strcmp((const char *)r, "idle_timeout") == 0
				      ? STORE_END_IDLE_TIMEOUT
				      : STORE_END_LOGOFF;
		n++;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		free(v);
		return db_err(s, "take end list");
	}
	*ends = v;
	*nends = n;
	return 0;
}

static int sqlite_agent_heartbeat(struct store *base, const char *name, int64_t now,
				  const char *const *desktops, const bool *up,
				  const char *const *reasons, size_t count, bool *changed,
				  struct store_end **ends, size_t *nends)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	size_t miss = 0;
	int rc;
	if (ends) {
		*ends = NULL;
		*nends = 0;
	}
	if (!name_ok(name))
		return -ENOENT;
	if (!reasons_ok(reasons, count))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	q = stmt(s, ST_AGENT_HEARTBEAT);
	sqlite3_bind_int64(q, 1, now);
	bind_text(q, 2, name);
	rc = exec_stmt(s, q, "heartbeat");
	if (rc == 0 && sqlite3_changes(s->db) == 0)
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

static int end_queue(struct store_sqlite *s, const char *agent, const char *session,
		     enum store_end_reason why)
{
	sqlite3_stmt *q = stmt(s, ST_END_QUEUE);
	bind_text(q, 1, agent);
	bind_text(q, 2, session);
	bind_text(q, 3, store_end_reason_name(why));
	return exec_stmt(s, q, "queue end");
}

/* A live session: its desktop id, state, agent, desktop name and pool's logoff policy. */
struct live {
	int64_t did;
	char state[16];
	char agent[STORE_NAME_MAX + 1];
	char desktop[STORE_NAME_MAX + 1];
	int logoff;
};

static int session_find(struct store_sqlite *s, const char *session, struct live *out)
{
	sqlite3_stmt *q = stmt(s, ST_SESSION_FIND);
	int rc;
	bind_text(q, 1, session);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		out->did = sqlite3_column_int64(q, 0);
		copy_col(q, 1, out->state, sizeof(out->state));
		copy_col(q, 2, out->agent, sizeof(out->agent));
		copy_col(q, 3, out->desktop, sizeof(out->desktop));
		out->logoff = sqlite3_column_int(q, 4);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : db_err(s, "read session");
	}
	sqlite3_reset(q);
	return rc;
}

/* Ends session (on desktop did) inside the caller's transaction. */
static int end_locked(struct store_sqlite *s, const char *session, int64_t did)
{
	sqlite3_stmt *q = stmt(s, ST_SESSION_END);
	int rc;
	bind_text(q, 1, session);
	rc = exec_stmt(s, q, "end session");
	if (rc == 0) {
		q = stmt(s, ST_ASSIGNMENT_FLOATING_DROP);
		sqlite3_bind_int64(q, 1, did);
		rc = exec_stmt(s, q, "return desktop");
	}
	if (rc == 0) {
		q = stmt(s, ST_DESKTOP_RETURN);
		sqlite3_bind_int64(q, 1, did);
		rc = exec_stmt(s, q, "return desktop");
	}
	return rc;
}

static int session_event(struct store_sqlite *s, const char *agent, int64_t now,
			 const struct store_event *e, bool *known)
{
	static const enum stmt st[] = {ST_SESSION_CONNECTED, ST_SESSION_DISCONNECTED,
				       ST_SESSION_IDLE, ST_SESSION_ACTIVE};
	struct live l;
	sqlite3_stmt *q;
	int rc;

	*known = false;
	if (!e->session || strlen(e->session) != 32 || !e->desktop ||
	    (unsigned)e->event >= sizeof(st) / sizeof(st[0]))
		return 0;
	rc = session_find(s, e->session, &l);
	if (rc == -ENOENT ||
	    (rc == 0 && (strcmp(l.agent, agent) != 0 || strcmp(l.desktop, e->desktop) != 0)))
		return end_queue(s, agent, e->session, STORE_END_LOGOFF);
	if (rc < 0)
		return rc;
	*known = true;
	q = stmt(s, st[e->event]);
	sqlite3_bind_int64(q, 1, now);
	if (e->event == STORE_EVENT_CONNECTED) {
		if (e->client)
			bind_text(q, 2, e->client);
		bind_text(q, 3, e->session);
	} else {
		bind_text(q, 2, e->session);
	}
	if ((rc = exec_stmt(s, q, "session event")) < 0)
		return rc;
	if (e->event == STORE_EVENT_CONNECTED) {
		q = stmt(s, ST_DESKTOP_IN_USE);
		sqlite3_bind_int64(q, 1, l.did);
		return exec_stmt(s, q, "desktop in use");
	}
	if (e->event != STORE_EVENT_DISCONNECTED)
		return 0;
	if (l.logoff == STORE_LOGOFF_IMMEDIATE)
		return end_locked(s, e->session, l.did); /* disconnect = logoff */
	q = stmt(s, ST_DESKTOP_NOT_IN_USE);
	sqlite3_bind_int64(q, 1, l.did);
	return exec_stmt(s, q, "desktop not in use");
}

static int sqlite_session_events(struct store *base, const char *agent, int64_t now,
				 const struct store_event *ev, size_t count, size_t *accepted,
				 size_t *unknown)
{
	struct store_sqlite *s = S(base);
	size_t ok = 0, miss = 0;
	int rc;
	if (!name_ok(agent))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < count; i++) {
		bool known;
		rc = session_event(s, agent, now, &ev[i], &known);
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

struct due {
	char id[33];
	int64_t did;
	bool connected;
	char agent[STORE_NAME_MAX + 1];
};

static int sqlite_sessions_expire(struct store *base, int64_t now, int64_t pending_timeout,
				  int *ended)
{
	struct store_sqlite *s = S(base);
	struct due *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *q;
	int rc;

	if (ended)
		*ended = 0;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	q = stmt(s, ST_PENDING_EXPIRE);
	sqlite3_bind_int64(q, 1, now - pending_timeout);
	rc = exec_stmt(s, q, "expire pending sessions");
	if (rc == 0)
		rc = exec_stmt(s, stmt(s, ST_ENDS_PURGE), "purge end lists");
	if (rc < 0)
		return tx_end(s, rc);
	/* collect first: the ends below change the rows the query walks */
	q = stmt(s, ST_SESSIONS_DUE);
	sqlite3_bind_int64(q, 1, now);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const unsigned char *st = sqlite3_column_text(q, 2);
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct due *nv = realloc(v, ncap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
			cap = ncap;
		}
		copy_col(q, 0, v[n].id, sizeof(v[n].id));
		v[n].did = sqlite3_column_int64(q, 1);
		v[n].connected = st && strcmp((const char *)st, "connected") == 0;
		copy_col(q, 3, v[n].agent, sizeof(v[n].agent));
		n++;
	}
	sqlite3_reset(q);
	rc = rc == SQLITE_DONE ? 0 : rc == SQLITE_ROW ? -ENOMEM : db_err(s, "due sessions");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = end_locked(s, v[i].id, v[i].did);
		if (rc == 0 && v[i].connected)
			rc = end_queue(s, v[i].agent, v[i].id, STORE_END_IDLE_TIMEOUT);
	}
	free(v);
	rc = tx_end(s, rc);
	if (rc == 0 && ended)
		*ended = (int)n;
	return rc;
}

static int sqlite_session_disconnect(struct store *base, const char *session)
{
	struct store_sqlite *s = S(base);
	struct live l;
	int rc;
	if (!session || strlen(session) > 64)
		return -ENOENT;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	rc = session_find(s, session, &l);
	if (rc == 0)
		rc = end_queue(s, l.agent, session, STORE_END_ADMIN);
	return tx_end(s, rc);
}

static int sqlite_agents_expire(struct store *base, int64_t now, int64_t window, int *offlined)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int rc;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	q = stmt(s, ST_AGENTS_EXPIRE);
	sqlite3_bind_int64(q, 1, now - window);
	rc = exec_stmt(s, q, "expire agents");
	if (offlined)
		*offlined = rc == 0 ? sqlite3_changes(s->db) : 0;
	return tx_end(s, rc);
}

static void fill_target(sqlite3_stmt *q, int first, struct store_connect_res *res)
{
	copy_col(q, first, res->desktop, sizeof(res->desktop));
	copy_col(q, first + 1, res->agent, sizeof(res->agent));
	copy_col(q, first + 2, res->address, sizeof(res->address));
	res->port = sqlite3_column_int(q, first + 3);
}

/* A new pending session for uid on desktop did; its id into res->session. */
static int session_add(struct store_sqlite *s, int64_t uid, int64_t did,
		       const struct store_connect_req *req, struct store_connect_res *res)
{
	sqlite3_stmt *q = stmt(s, ST_SESSION_ADD);
	int rc;
	sqlite3_bind_int64(q, 1, uid);
	sqlite3_bind_int64(q, 2, did);
	if (req->client_address)
		bind_text(q, 3, req->client_address);
	sqlite3_bind_int64(q, 4, req->now);
	sqlite3_bind_int64(q, 5, req->now);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		copy_col(q, 0, res->session, sizeof(res->session));
		rc = 0;
	} else {
		rc = (rc & 0xff) == SQLITE_CONSTRAINT ? -EEXIST : db_err(s, "add session");
	}
	sqlite3_reset(q);
	return rc;
}

static int connect_locked(struct store_sqlite *s, const struct store_connect_req *req,
			  struct store_connect_res *res)
{
	int64_t uid, pid, did, max_sessions, live = 0, dedicated = 0;
	int64_t alive_since = req->now - req->heartbeat_window;
	sqlite3_stmt *q;
	int kind, rc;

	uid = lookup_id(s, ST_USER_ID, req->user);
	if (uid < 0)
		return (int)uid;
	rc = pool_get(s, req->pool, &pid, &kind, &max_sessions);
	if (rc < 0)
		return rc;
	q = stmt(s, ST_ENTITLED);
	sqlite3_bind_int64(q, 1, pid);
	sqlite3_bind_int64(q, 2, uid);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc == SQLITE_DONE)
		return -EACCES;
	if (rc != SQLITE_ROW)
		return db_err(s, "entitlement");

	/* 1. the user's dedicated desktop in this pool */
	q = stmt(s, ST_DEDICATED_DESKTOP);
	sqlite3_bind_int64(q, 1, uid);
	sqlite3_bind_int64(q, 2, pid);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		int st = sqlite3_column_int(q, 5);
		int64_t hb = sqlite3_column_int64(q, 6);
		dedicated = sqlite3_column_int64(q, 0);
		fill_target(q, 1, res);
		sqlite3_reset(q);
		if (st == STORE_DESKTOP_OFFLINE || st == STORE_DESKTOP_MAINTENANCE ||
		    hb < alive_since)
			return -EHOSTDOWN;
		/* its live session, if any (2.), else a new one on it */
	} else {
		sqlite3_reset(q);
		if (rc != SQLITE_DONE)
			return db_err(s, "dedicated desktop");
	}

	/* 2. the user's live session in this pool */
	q = stmt(s, ST_LIVE_SESSION);
	sqlite3_bind_int64(q, 1, uid);
	sqlite3_bind_int64(q, 2, pid);
	sqlite3_bind_int64(q, 3, alive_since);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		int up = sqlite3_column_int(q, 6);
		copy_col(q, 0, res->session, sizeof(res->session));
		fill_target(q, 2, res);
		sqlite3_reset(q);
		if (!up)
			return -EHOSTDOWN; /* its desktop is offline, in maintenance or silent */
		res->reused = true;
		q = stmt(s, ST_SESSION_TOUCH);
		sqlite3_bind_int64(q, 1, req->now);
		if (req->client_address)
			bind_text(q, 2, req->client_address);
		bind_text(q, 3, res->session);
		return exec_stmt(s, q, "touch session");
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return db_err(s, "live session");
	if (dedicated) {
		did = dedicated;
		res->reused = true; /* the same desktop as ever */
		goto session;
	}

	q = stmt(s, ST_SESSION_COUNT);
	sqlite3_bind_int64(q, 1, uid);
	sqlite3_bind_int64(q, 2, pid);
	if (sqlite3_step(q) == SQLITE_ROW)
		live = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	if (live >= (max_sessions > 0 ? max_sessions : 1))
		return -EDQUOT;

	/* 3. an available desktop, held for this user */
	q = stmt(s, ST_PICK_DESKTOP);
	sqlite3_bind_int64(q, 1, pid);
	sqlite3_bind_int64(q, 2, alive_since);
	rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(q);
		return rc == SQLITE_DONE ? -ENOSPC : db_err(s, "pick desktop");
	}
	did = sqlite3_column_int64(q, 0);
	fill_target(q, 1, res);
	sqlite3_reset(q);
	q = stmt(s, ST_ASSIGNMENT_ADD);
	sqlite3_bind_int64(q, 1, did);
	sqlite3_bind_int64(q, 2, uid);
	sqlite3_bind_int(q, 3, kind == STORE_POOL_DEDICATED);
	sqlite3_bind_int64(q, 4, req->now);
	if ((rc = exec_stmt(s, q, "assign desktop")) < 0)
		return rc;
	q = stmt(s, ST_DESKTOP_SET_ASSIGNED);
	sqlite3_bind_int64(q, 1, did);
	if ((rc = exec_stmt(s, q, "mark assigned")) < 0)
		return rc;
	if (sqlite3_changes(s->db) != 1)
		return db_err(s, "desktop changed under the write lock");
session:
	return session_add(s, uid, did, req, res);
}

static int sqlite_connect(struct store *base, const struct store_connect_req *req,
			  struct store_connect_res *res)
{
	struct store_sqlite *s = S(base);
	int rc;
	memset(res, 0, sizeof(*res));
	if (!name_ok(req->user) || !name_ok(req->pool))
		return -ENOENT;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	return tx_end(s, connect_locked(s, req, res));
}

static int sqlite_session_end(struct store *base, const char *session)
{
	struct store_sqlite *s = S(base);
	struct live l;
	int rc;
	if (!session || strlen(session) > 64)
		return -ENOENT;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	rc = session_find(s, session, &l);
	if (rc == 0)
		rc = end_locked(s, session, l.did);
	/* a client may be on it: its agent drops it */
	if (rc == 0 && strcmp(l.state, "disconnected") != 0)
		rc = end_queue(s, l.agent, session, STORE_END_LOGOFF);
	return tx_end(s, rc);
}

static int sqlite_token_add(struct store *base, const uint8_t hash[STORE_TOKEN_HASH_LEN],
			    const char *user, int64_t expires)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int rc;
	if (!name_ok(user))
		return -ENOENT;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	/* expired tokens go as new ones come: the table stays the size of live logins */
	q = stmt(s, ST_TOKEN_PURGE);
	sqlite3_bind_int64(q, 1, expires - 86400 * 366);
	rc = exec_stmt(s, q, "purge tokens");
	if (rc == 0) {
		q = stmt(s, ST_TOKEN_ADD);
		sqlite3_bind_blob(q, 1, hash, STORE_TOKEN_HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, expires);
		bind_text(q, 3, user);
		rc = exec_stmt(s, q, "add token");
		if (rc == 0 && sqlite3_changes(s->db) == 0)
			rc = -ENOENT;
	}
	return tx_end(s, rc);
}

static int sqlite_token_user(struct store *base, const uint8_t hash[STORE_TOKEN_HASH_LEN],
			     int64_t now, char *user, size_t cap)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q = stmt(s, ST_TOKEN_USER);
	int rc;
	sqlite3_bind_blob(q, 1, hash, STORE_TOKEN_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		copy_col(q, 0, user, cap);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : db_err(s, "read token");
	}
	sqlite3_reset(q);
	return rc;
}

#define STATE_NAME(col)                                                                     \
	"CASE " col " WHEN 0 THEN 'available' WHEN 1 THEN 'assigned' WHEN 2 THEN 'in_use' " \
	"WHEN 3 THEN 'offline' ELSE 'maintenance' END"

static const char *const list_sql[STORE_LIST_COUNT_] = {
	[STORE_LIST_USERS] = "SELECT u.name AS name, coalesce((SELECT group_concat(g.name, ',') "
			     "FROM group_members m JOIN groups g ON g.id = m.group_id WHERE "
			     "m.user_id = u.id), '') AS groups FROM users u ORDER BY u.name",
	[STORE_LIST_GROUPS] = "SELECT g.name AS name, coalesce((SELECT group_concat(u.name, ',') "
			      "FROM group_members m JOIN users u ON u.id = m.user_id WHERE "
			      "m.group_id = g.id), '') AS members FROM groups g ORDER BY g.name",
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

static int sqlite_list(struct store *base, enum store_list what, struct store_table *out)
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q = NULL;
	size_t cap = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((unsigned)what >= STORE_LIST_COUNT_)
		return -EINVAL;
	/* admin listings are rare: prepared per call, not kept */
	if (sqlite3_prepare_v2(s->db, list_sql[what], -1, &q, NULL) != SQLITE_OK)
		return db_err(s, "list");
	out->ncols = (size_t)sqlite3_column_count(q);
	out->cols = calloc(out->ncols, sizeof(char *));
	if (!out->cols)
		goto nomem;
	for (size_t c = 0; c < out->ncols; c++)
		if (!(out->cols[c] = strdup(sqlite3_column_name(q, (int)c))))
			goto nomem;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (out->nrows == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **n = realloc(out->cells, ncap * out->ncols * sizeof(char *));
			if (!n)
				goto nomem;
			out->cells = n;
			cap = ncap;
		}
		for (size_t c = 0; c < out->ncols; c++)
			out->cells[out->nrows * out->ncols + c] = NULL; /* freeable if we stop */
		out->nrows++;
		for (size_t c = 0; c < out->ncols; c++) {
			const unsigned char *t = sqlite3_column_text(q, (int)c);
			char *v = strdup(t ? (const char *)t : "");
			if (!v)
				goto nomem;
			out->cells[(out->nrows - 1) * out->ncols + c] = v;
		}
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		store_table_free(out);
		return -EIO;
	}
	return 0;
nomem:
	sqlite3_finalize(q);
	store_table_free(out);
	return -ENOMEM;
}

static int sqlite_token_delete(struct store *base, const uint8_t hash[STORE_TOKEN_HASH_LEN])
{
	struct store_sqlite *s = S(base);
	sqlite3_stmt *q;
	int rc;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	q = stmt(s, ST_TOKEN_DELETE);
	sqlite3_bind_blob(q, 1, hash, STORE_TOKEN_HASH_LEN, SQLITE_STATIC);
	rc = exec_stmt(s, q, "delete token");
	if (rc == 0 && sqlite3_changes(s->db) == 0)
		rc = -ENOENT;
	return tx_end(s, rc);
}

const struct store_impl store_sqlite_impl = {
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.user_add = sqlite_user_add,
	.user_set_password = sqlite_user_set_password,
	.user_delete = sqlite_user_delete,
	.user_password_hash = sqlite_user_password_hash,
	.group_add = sqlite_group_add,
	.group_member_add = sqlite_group_member_add,
	.group_delete = sqlite_group_delete,
	.group_member_remove = sqlite_group_member_remove,
	.pool_add = sqlite_pool_add,
	.pool_delete = sqlite_pool_delete,
	.pool_set = sqlite_pool_set,
	.pools_for_user = sqlite_pools_for_user,
	.desktop_add = sqlite_desktop_add,
	.desktop_set_maintenance = sqlite_desktop_set_maintenance,
	.desktop_get = sqlite_desktop_get,
	.entitle = sqlite_entitle,
	.unentitle = sqlite_unentitle,
	.assign = sqlite_assign,
	.unassign = sqlite_unassign,
	.desktop_delete = sqlite_desktop_delete,
	.agent_register = sqlite_agent_register,
	.agent_heartbeat = sqlite_agent_heartbeat,
	.agents_expire = sqlite_agents_expire,
	.session_events = sqlite_session_events,
	.sessions_expire = sqlite_sessions_expire,
	.connect = sqlite_connect,
	.session_end = sqlite_session_end,
	.session_disconnect = sqlite_session_disconnect,
	.token_add = sqlite_token_add,
	.token_user = sqlite_token_user,
	.token_delete = sqlite_token_delete,
	.list = sqlite_list,
};
