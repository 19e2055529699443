/* SPDX-License-Identifier: MIT */
/*
 * All of the broker's SQL, for SQLite and PostgreSQL: one text per
 * statement, a .pg text beside it only where the dialects really differ.
 * {NAME} is a C enum's value (or a list of them) or a dialect's word,
 * expanded by store_sql_text from the tables below, so reordering an enum
 * cannot leave the SQL behind. The values are stored in databases, though:
 * a new enum value goes at the end, and a renumbering needs a migration.
 */
#include "store_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct text {
	const char *sql; /* NULL: nothing to run (unless .pg has it, on PostgreSQL) */
	const char *pg;	 /* PostgreSQL's own text, where it differs */
};

/*
 * Numbered migrations: index + 1 is the version. Append only; an old one
 * may be reworded, never changed in what it makes (a database made by any
 * version must match).
 */
static const struct text migrations[] = {
	/* 1: the model of issue #5 */
	{.sql = "CREATE TABLE users (id {ID}, name TEXT NOT NULL UNIQUE, password_hash TEXT NOT "
		"NULL);"
		"CREATE TABLE groups (id {ID}, name TEXT NOT NULL UNIQUE);"
		"CREATE TABLE group_members ("
		"  group_id {I64} NOT NULL REFERENCES groups(id) ON DELETE CASCADE,"
		"  user_id {I64} NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
		"  PRIMARY KEY (group_id, user_id));"
		"CREATE TABLE pools ("
		"  id {ID},"
		"  name TEXT NOT NULL UNIQUE,"
		"  kind {I32} NOT NULL CHECK (kind IN ({KINDS})),"
		"  idle_timeout {I64} NOT NULL DEFAULT 0,"
		"  logoff {I32} NOT NULL DEFAULT {NEVER} CHECK (logoff IN ({LOGOFFS})),"
		"  max_sessions {I64} NOT NULL DEFAULT 1);"
		"CREATE TABLE agents ("
		"  id {ID},"
		"  name TEXT NOT NULL UNIQUE,"
		"  address TEXT NOT NULL,"
		"  port {I32} NOT NULL,"
		"  last_heartbeat {I64} NOT NULL DEFAULT 0);"
		/* desktops name their agent by name: an admin may add them before it registers */
		"CREATE TABLE desktops ("
		"  id {ID},"
		"  pool_id {I64} NOT NULL REFERENCES pools(id) ON DELETE CASCADE,"
		"  agent TEXT NOT NULL,"
		"  name TEXT NOT NULL,"
		"  console_uri TEXT NOT NULL DEFAULT '',"
		/* the first and last of enum store_desktop_state */
		"  state {I32} NOT NULL DEFAULT {OFFLINE} CHECK (state BETWEEN {AVAILABLE} AND "
		"{MAINTENANCE}),"
		"  UNIQUE (agent, name));"
		"CREATE TABLE entitlements ("
		"  id {ID},"
		"  pool_id {I64} NOT NULL REFERENCES pools(id) ON DELETE CASCADE,"
		"  user_id {I64} REFERENCES users(id) ON DELETE CASCADE,"
		"  group_id {I64} REFERENCES groups(id) ON DELETE CASCADE,"
		"  CHECK ((user_id IS NULL) <> (group_id IS NULL)));"
		/* UNIQUE over a NULL column never fires: one partial index per kind */
		"CREATE UNIQUE INDEX entitlements_user ON entitlements(pool_id, user_id) "
		"WHERE user_id IS NOT NULL;"
		"CREATE UNIQUE INDEX entitlements_group ON entitlements(pool_id, group_id) "
		"WHERE group_id IS NOT NULL;"
		/* desktop_id is the key: a desktop is held by at most one user */
		"CREATE TABLE assignments ("
		"  desktop_id {I64} PRIMARY KEY REFERENCES desktops(id) ON DELETE CASCADE,"
		"  user_id {I64} NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
		"  dedicated {I32} NOT NULL,"
		"  since {I64} NOT NULL);"
		"CREATE TABLE sessions ("
		"  id TEXT PRIMARY KEY,"
		"  user_id {I64} NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
		"  desktop_id {I64} NOT NULL REFERENCES desktops(id) ON DELETE CASCADE,"
		"  client_address TEXT,"
		"  started {I64} NOT NULL,"
		"  last_seen {I64} NOT NULL,"
		"  state TEXT NOT NULL CHECK (state IN ('pending', 'connected', 'disconnected', "
		"'ended')));"
		"CREATE UNIQUE INDEX sessions_live_desktop ON sessions(desktop_id) WHERE state <> "
		"'ended';"
		"CREATE INDEX sessions_user ON sessions(user_id, state);"
		"CREATE TABLE tokens ("
		"  hash {BLOB} PRIMARY KEY,"
		"  user_id {I64} NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
		"  expires {I64} NOT NULL);"},
	/*
	 * 2: agents report sessions; the logoff policies. state_since: when the
	 * session entered its state (disconnected since...); idle_since: 0 or
	 * when its user stopped typing. session_ends: the clients each agent
	 * must drop, handed out once by its heartbeat.
	 */
	{.sql = "ALTER TABLE sessions ADD COLUMN state_since {I64} NOT NULL DEFAULT 0;"
		"ALTER TABLE sessions ADD COLUMN idle_since {I64} NOT NULL DEFAULT 0;"
		"UPDATE sessions SET state_since = started;"
		"CREATE TABLE session_ends ("
		"  agent TEXT NOT NULL,"
		"  session TEXT NOT NULL,"
		"  reason TEXT NOT NULL CHECK (reason IN ({END_REASONS})),"
		"  queued {I64} NOT NULL,"
		"  PRIMARY KEY (agent, session));"},
	/*
	 * 3: why a desktop is offline, as its agent said (issue #9: a console
	 * that refuses the agent's password); '' when it did not say.
	 */
	{.sql = "ALTER TABLE desktops ADD COLUMN offline_reason TEXT NOT NULL DEFAULT '';"},
};

/* The columns of a desktop a connect hands out, from d.id on. */
#define DESKTOP_TARGET "d.id, d.name, d.agent, a.address, a.port"

static const struct text sql[SQL_COUNT_] = {
	[SQL_MIGRATIONS_TABLE] =
		{.sql = "CREATE TABLE IF NOT EXISTS schema_migrations (version {I32} "
			"PRIMARY KEY, applied {I64} NOT NULL)"},
	/* brokers starting together apply them once; SQLite's BEGIN IMMEDIATE is enough */
	[SQL_MIGRATIONS_LOCK] = {.sql = NULL, "SELECT pg_advisory_xact_lock(?1)"},
	[SQL_MIGRATIONS_HAVE] = {.sql = "SELECT coalesce(max(version), 0) FROM schema_migrations"},
	[SQL_MIGRATION_RECORD] = {.sql = "INSERT INTO schema_migrations VALUES (?1, {NOW})"},
	[SQL_USER_ADD] = {.sql = "INSERT INTO users (name, password_hash) VALUES (?1, ?2)"},
	[SQL_USER_SET_PASSWORD] = {.sql = "UPDATE users SET password_hash = ?1 WHERE name = ?2"},
	/* before a user goes: what they held becomes available (the cascade only drops rows) */
	[SQL_USER_FREE_DESKTOPS] =
		{.sql = "UPDATE desktops SET state = {AVAILABLE} WHERE state IN "
			"({HELD}) AND id IN (SELECT desktop_id FROM assignments WHERE "
			"user_id = (SELECT id FROM users WHERE name = ?1))"},
	[SQL_USER_DELETE] = {.sql = "DELETE FROM users WHERE name = ?1"},
	[SQL_USER_HASH] = {.sql = "SELECT password_hash FROM users WHERE name = ?1"},
	[SQL_USER_ID] = {.sql = "SELECT id FROM users WHERE name = ?1"},
	[SQL_GROUP_ADD] = {.sql = "INSERT INTO groups (name) VALUES (?1)"},
	[SQL_GROUP_DELETE] = {.sql = "DELETE FROM groups WHERE name = ?1"},
	/* no row when the group or the user is missing */
	[SQL_MEMBER_ADD] =
		{.sql = "INSERT INTO group_members (group_id, user_id) SELECT g.id, u.id FROM "
			"groups g, users u WHERE g.name = ?1 AND u.name = ?2"},
	[SQL_MEMBER_REMOVE] =
		{.sql = "DELETE FROM group_members WHERE group_id = (SELECT id FROM groups "
			"WHERE name = ?1) AND user_id = (SELECT id FROM users WHERE name = "
			"?2)"},
	[SQL_POOL_ADD] =
		{.sql = "INSERT INTO pools (name, kind, idle_timeout, logoff, max_sessions) "
			"VALUES (?1, ?2, ?3, ?4, ?5)"},
	[SQL_POOL_DELETE] = {.sql = "DELETE FROM pools WHERE name = ?1"},
	[SQL_POOL_GET] = {.sql = "SELECT id, kind, max_sessions FROM pools WHERE name = ?1"},
	[SQL_POOL_KIND] =
		{.sql = "SELECT kind, (SELECT count(*) FROM desktops d WHERE d.pool_id = p.id) "
			"FROM pools p WHERE name = ?1{FOR_UPDATE}"},
	/* NULL: unchanged */
	[SQL_POOL_SET] =
		{.sql = "UPDATE pools SET kind = coalesce(?2, kind), logoff = coalesce(?3, "
			"logoff), idle_timeout = coalesce(?4, idle_timeout), max_sessions = "
			"coalesce(?5, max_sessions) WHERE name = ?1"},
	/* one connect decision per pool at a time, across every broker */
	[SQL_POOL_LOCK] = {.sql = NULL, "SELECT pg_advisory_xact_lock(?1, ?2)"},
	[SQL_POOLS_FOR_USER] =
		{.sql = "SELECT p.name, p.kind, p.idle_timeout, p.logoff, p.max_sessions "
			"FROM pools p WHERE EXISTS (SELECT 1 FROM entitlements e JOIN "
			"users u ON u.name = ?1 WHERE e.pool_id = p.id AND (e.user_id = "
			"u.id OR e.group_id IN (SELECT group_id FROM group_members WHERE "
			"user_id = u.id))) ORDER BY p.name"},
	[SQL_DESKTOP_ADD] =
		{.sql = "INSERT INTO desktops (pool_id, agent, name, console_uri, state) "
			"SELECT id, ?1, ?2, ?3, {OFFLINE} FROM pools WHERE name = ?4"},
	[SQL_DESKTOP_FIND] =
		{.sql = "SELECT state, offline_reason FROM desktops WHERE agent = ?1 AND "
			"name = ?2{FOR_UPDATE}"},
	[SQL_DESKTOP_MAINT] =
		{.sql = "UPDATE desktops SET state = {MAINTENANCE} WHERE agent = ?1 AND "
			"name = ?2"},
	/* out of maintenance: offline until its agent next speaks */
	[SQL_DESKTOP_UNMAINT] =
		{.sql = "UPDATE desktops SET state = {OFFLINE} WHERE agent = ?1 AND name "
			"= ?2 AND state = {MAINTENANCE}"},
	[SQL_DESKTOP_GET] =
		{.sql = "SELECT d.name, d.agent, p.name, d.state, CASE WHEN d.state = "
			"{OFFLINE} THEN d.offline_reason ELSE '' END FROM desktops d JOIN "
			"pools p ON p.id = d.pool_id WHERE d.agent = ?1 AND d.name = ?2"},
	/* offline -> assigned when someone holds it, else available; maintenance stays */
	[SQL_DESKTOP_ONLINE] =
		{.sql = "UPDATE desktops SET state = CASE WHEN EXISTS (SELECT 1 FROM "
			"assignments s WHERE s.desktop_id = desktops.id) THEN {ASSIGNED} "
			"ELSE {AVAILABLE} END, offline_reason = '' WHERE agent = ?1 AND "
			"name = ?2 AND state = {OFFLINE}"},
	/* its console is down: never handed out until the agent says it is up */
	[SQL_DESKTOP_OFFLINE] =
		{.sql = "UPDATE desktops SET state = {OFFLINE}, offline_reason = ?3 "
			"WHERE agent = ?1 AND name = ?2 AND state IN ({UP}, {OFFLINE})"},
	[SQL_DESKTOP_DELETE] = {.sql = "DELETE FROM desktops WHERE agent = ?1 AND name = ?2"},
	[SQL_ENTITLE_USER] =
		{.sql = "INSERT INTO entitlements (pool_id, user_id) SELECT p.id, u.id FROM "
			"pools p, users u WHERE p.name = ?1 AND u.name = ?2"},
	[SQL_ENTITLE_GROUP] =
		{.sql = "INSERT INTO entitlements (pool_id, group_id) SELECT p.id, g.id "
			"FROM pools p, groups g WHERE p.name = ?1 AND g.name = ?2"},
	[SQL_UNENTITLE_USER] =
		{.sql = "DELETE FROM entitlements WHERE pool_id = (SELECT id FROM pools "
			"WHERE name = ?1) AND user_id = (SELECT id FROM users WHERE name = "
			"?2)"},
	[SQL_UNENTITLE_GROUP] =
		{.sql = "DELETE FROM entitlements WHERE pool_id = (SELECT id FROM pools "
			"WHERE name = ?1) AND group_id = (SELECT id FROM groups WHERE "
			"name = ?2)"},
	[SQL_ENTITLED] =
		{.sql = "SELECT 1 FROM entitlements e WHERE e.pool_id = ?1 AND (e.user_id = ?2 "
			"OR e.group_id IN (SELECT group_id FROM group_members WHERE user_id = "
			"?2))"},
	[SQL_ASSIGN] =
		{.sql = "INSERT INTO assignments (desktop_id, user_id, dedicated, since) SELECT "
			"d.id, u.id, 1, 0 FROM desktops d, users u WHERE u.name = ?1 AND d.agent = "
			"?2 AND d.name = ?3"},
	[SQL_ASSIGNED_BY_NAME] =
		{.sql = "UPDATE desktops SET state = {ASSIGNED} WHERE agent = ?1 AND "
			"name = ?2 AND state = {AVAILABLE}"},
	[SQL_UNASSIGN] =
		{.sql = "DELETE FROM assignments WHERE desktop_id = (SELECT id FROM desktops "
			"WHERE agent = ?1 AND name = ?2)"},
	/* a client may be on its session: its agent drops it */
	[SQL_QUEUE_DESKTOP_LOGOFF] =
		{.sql = "INSERT INTO session_ends (agent, session, reason, queued) "
			"SELECT d.agent, x.id, ?3, {NOW} FROM sessions x JOIN "
			"desktops d ON d.id = x.desktop_id WHERE d.agent = ?1 AND "
			"d.name = ?2 AND x.state IN ('pending', 'connected') ON "
			"CONFLICT (agent, session) DO UPDATE SET reason = "
			"excluded.reason"},
	[SQL_SESSIONS_END_DESKTOP] =
		{.sql = "UPDATE sessions SET state = 'ended' WHERE state <> 'ended' "
			"AND desktop_id = (SELECT id FROM desktops WHERE agent = ?1 "
			"AND name = ?2)"},
	[SQL_DESKTOP_FREE] =
		{.sql = "UPDATE desktops SET state = {AVAILABLE} WHERE agent = ?1 AND name "
			"= ?2 AND state IN ({HELD})"},
	[SQL_AGENT_UPSERT] =
		{.sql = "INSERT INTO agents (name, address, port, last_heartbeat) VALUES "
			"(?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET address = ?2, "
			"port = ?3, last_heartbeat = ?4"},
	[SQL_AGENT_HEARTBEAT] = {.sql = "UPDATE agents SET last_heartbeat = ?1 WHERE name = ?2"},
	[SQL_AGENTS_EXPIRE] =
		{.sql = "UPDATE desktops SET state = {OFFLINE} WHERE state IN ({UP}) AND "
			"agent IN (SELECT name FROM agents WHERE last_heartbeat < ?1)"},
	/* LEFT JOIN: a dedicated desktop whose agent never registered is down, not absent */
	[SQL_DEDICATED_DESKTOP] =
		{.sql = "SELECT d.id, d.name, d.agent, coalesce(a.address, ''), "
			"coalesce(a.port, 0), d.state, coalesce(a.last_heartbeat, 0) "
			"FROM desktops d JOIN assignments s ON s.desktop_id = d.id LEFT "
			"JOIN agents a ON a.name = d.agent WHERE s.user_id = ?1 AND "
			"s.dedicated = 1 AND d.pool_id = ?2"},
	/* usable ones first; a session whose desktop is down still belongs to its user */
	[SQL_LIVE_SESSION] =
		{.sql = "SELECT x.id, " DESKTOP_TARGET ", CASE WHEN d.state IN ({UP}) AND "
			"a.last_heartbeat >= ?3 THEN 1 ELSE 0 END AS up FROM sessions x "
			"JOIN desktops d ON d.id = x.desktop_id JOIN agents a ON a.name = "
			"d.agent WHERE x.user_id = ?1 AND d.pool_id = ?2 AND x.state <> "
			"'ended' ORDER BY up DESC, x.started LIMIT 1"},
	[SQL_SESSION_COUNT] =
		{.sql = "SELECT count(*) FROM sessions x JOIN desktops d ON d.id = "
			"x.desktop_id WHERE x.user_id = ?1 AND d.pool_id = ?2 AND x.state "
			"<> 'ended'"},
	[SQL_PICK_DESKTOP] =
		{.sql = "SELECT " DESKTOP_TARGET " FROM desktops d JOIN agents a ON a.name "
			"= d.agent WHERE d.pool_id = ?1 AND d.state = {AVAILABLE} AND "
			"a.last_heartbeat >= ?2 AND NOT EXISTS (SELECT 1 FROM assignments s "
			"WHERE s.desktop_id = d.id) ORDER BY d.id LIMIT 1"},
	[SQL_ASSIGNMENT_ADD] =
		{.sql = "INSERT INTO assignments (desktop_id, user_id, dedicated, since) "
			"VALUES (?1, ?2, ?3, ?4)"},
	[SQL_ASSIGNED] = {.sql = "UPDATE desktops SET state = {ASSIGNED} WHERE id = ?1 AND state = "
				 "{AVAILABLE}"},
	[SQL_SESSION_ADD] =
		{.sql = "INSERT INTO sessions (id, user_id, desktop_id, client_address, "
			"started, last_seen, state, state_since) VALUES ({NEW_ID}, ?1, ?2, "
			"?3, ?4, ?4, 'pending', ?4) RETURNING id"},
	[SQL_SESSION_TOUCH] = {.sql = "UPDATE sessions SET last_seen = ?1, client_address = "
				      "coalesce(?2, client_address) WHERE id = ?3"},
	/* a live session, locked (PostgreSQL) for the transaction */
	[SQL_SESSION_FIND] =
		{.sql = "SELECT x.desktop_id, x.state, d.agent, d.name, p.logoff FROM "
			"sessions x JOIN desktops d ON d.id = x.desktop_id JOIN pools p ON "
			"p.id = d.pool_id WHERE x.id = ?1 AND x.state <> "
			"'ended'{FOR_UPDATE_OF_X}"},
	[SQL_SESSION_END] = {.sql = "UPDATE sessions SET state = 'ended' WHERE id = ?1"},
	[SQL_ASSIGNMENT_FLOATING_DROP] =
		{.sql = "DELETE FROM assignments WHERE desktop_id = ?1 AND "
			"dedicated = 0"},
	[SQL_DESKTOP_RETURN] =
		{.sql = "UPDATE desktops SET state = CASE WHEN EXISTS (SELECT 1 FROM "
			"assignments s WHERE s.desktop_id = desktops.id) THEN {ASSIGNED} "
			"ELSE {AVAILABLE} END WHERE id = ?1 AND state IN ({HELD})"},
	[SQL_SESSION_CONNECTED] =
		{.sql = "UPDATE sessions SET state_since = CASE WHEN state = "
			"'connected' THEN state_since ELSE ?1 END, state = "
			"'connected', last_seen = ?1, idle_since = 0, client_address = "
			"coalesce(?2, client_address) WHERE id = ?3"},
	[SQL_SESSION_DISCONNECTED] =
		{.sql = "UPDATE sessions SET state_since = CASE WHEN state = "
			"'disconnected' THEN state_since ELSE ?1 END, state = "
			"'disconnected', last_seen = ?1, idle_since = 0 WHERE id = "
			"?2"},
	[SQL_SESSION_IDLE] =
		{.sql = "UPDATE sessions SET idle_since = CASE WHEN idle_since = 0 THEN ?1 "
			"ELSE idle_since END, last_seen = ?1 WHERE id = ?2"},
	[SQL_SESSION_ACTIVE] =
		{.sql = "UPDATE sessions SET idle_since = 0, last_seen = ?1 WHERE id = "
			"?2"},
	[SQL_DESKTOP_IN_USE] =
		{.sql = "UPDATE desktops SET state = {IN_USE} WHERE id = ?1 AND state IN "
			"({AVAILABLE}, {ASSIGNED})"},
	[SQL_DESKTOP_NOT_IN_USE] =
		{.sql = "UPDATE desktops SET state = {ASSIGNED} WHERE id = ?1 AND "
			"state = {IN_USE}"},
	/* a ticket handed out and never used: disconnected since its start */
	[SQL_PENDING_EXPIRE] = {.sql = "UPDATE sessions SET state = 'disconnected', state_since = "
				       "started WHERE state = 'pending' AND started < ?1"},
	/* rows locked (PostgreSQL): with several brokers sweeping, each session ends once */
	[SQL_SESSIONS_DUE] =
		{.sql = "SELECT x.id, x.desktop_id, x.state, d.agent FROM sessions x JOIN "
			"desktops d ON d.id = x.desktop_id JOIN pools p ON p.id = d.pool_id "
			"WHERE (p.logoff = {IMMEDIATE} AND x.state = 'disconnected') OR "
			"(p.logoff = {AFTER_IDLE} AND p.idle_timeout > 0 AND ((x.state = "
			"'disconnected' AND x.state_since < ?1 - p.idle_timeout) OR "
			"(x.state = 'connected' AND x.idle_since > 0 AND x.idle_since < ?1 "
			"- p.idle_timeout))){FOR_UPDATE_OF_X}"},
	[SQL_ENDS_TAKE] =
		{.sql = "DELETE FROM session_ends WHERE agent = ?1 RETURNING session, reason"},
	/* one entry per session: the latest reason wins */
	[SQL_END_QUEUE] =
		{.sql = "INSERT INTO session_ends (agent, session, reason, queued) VALUES (?1, "
			"?2, ?3, {NOW}) ON CONFLICT (agent, session) DO UPDATE SET reason = "
			"excluded.reason"},
	/* an agent that never comes back must not keep its list for ever */
	[SQL_ENDS_PURGE] = {.sql = "DELETE FROM session_ends WHERE queued < {NOW} - 86400"},
	[SQL_TOKEN_PURGE] = {.sql = "DELETE FROM tokens WHERE expires <= ?1"},
	[SQL_TOKEN_ADD] =
		{.sql = "INSERT INTO tokens (hash, user_id, expires) SELECT ?1, id, ?2 FROM "
			"users WHERE name = ?3"},
	[SQL_TOKEN_USER] =
		{.sql = "SELECT u.name FROM tokens t JOIN users u ON u.id = t.user_id WHERE "
			"t.hash = ?1 AND t.expires > ?2"},
	[SQL_TOKEN_DELETE] = {.sql = "DELETE FROM tokens WHERE hash = ?1"},
	/* the listings; kind, logoff and a desktop's state are named in C (store.c) */
	[SQL_LIST_ + STORE_LIST_USERS] =
		{.sql = "SELECT u.name AS name, coalesce((SELECT group_concat(g.name, ',') FROM "
			"group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = "
			"u.id), '') "
			"AS groups FROM users u ORDER BY u.name",
		 "SELECT u.name AS name, coalesce((SELECT string_agg(g.name, ',' ORDER BY g.name) "
		 "FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = u.id), "
		 "'') AS groups FROM users u ORDER BY u.name"},
	[SQL_LIST_ + STORE_LIST_GROUPS] =
		{.sql = "SELECT g.name AS name, coalesce((SELECT group_concat(u.name, ',') FROM "
			"group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = "
			"g.id), '') "
			"AS members FROM groups g ORDER BY g.name",
		 "SELECT g.name AS name, coalesce((SELECT string_agg(u.name, ',' ORDER BY u.name) "
		 "FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = g.id), "
		 "'') AS members FROM groups g ORDER BY g.name"},
	[SQL_LIST_ + STORE_LIST_POOLS] =
		{.sql = "SELECT p.name AS name, p.kind AS kind, p.logoff AS logoff, p.idle_timeout "
			"AS "
			"idle_timeout_s, p.max_sessions AS max_sessions, (SELECT count(*) FROM "
			"desktops d "
			"WHERE d.pool_id = p.id) AS desktops, (SELECT count(*) FROM desktops d "
			"WHERE "
			"d.pool_id = p.id AND d.state = {AVAILABLE}) AS available, (SELECT "
			"count(*) FROM "
			"sessions x JOIN desktops d ON d.id = x.desktop_id WHERE d.pool_id = p.id "
			"AND "
			"x.state <> 'ended') AS sessions FROM pools p ORDER BY p.name"},
	[SQL_LIST_ + STORE_LIST_DESKTOPS] =
		{.sql = "SELECT d.agent AS agent, d.name AS name, p.name AS pool, d.state AS "
			"state, "
			"coalesce(u.name, '') AS user, d.console_uri AS console_uri, CASE WHEN "
			"d.state = "
			"{OFFLINE} THEN d.offline_reason ELSE '' END AS offline_reason FROM "
			"desktops d "
			"JOIN pools p ON p.id = d.pool_id LEFT JOIN assignments s ON s.desktop_id "
			"= d.id "
			"LEFT JOIN users u ON u.id = s.user_id ORDER BY d.agent, d.name"},
	[SQL_LIST_ + STORE_LIST_AGENTS] = {.sql = "SELECT name, address, port, last_heartbeat FROM "
						  "agents ORDER BY name"},
	[SQL_LIST_ + STORE_LIST_SESSIONS] =
		{.sql = "SELECT x.id AS id, u.name AS user, p.name AS pool, d.agent AS agent, "
			"d.name AS "
			"desktop, coalesce(x.client_address, '') AS client, x.started AS started, "
			"x.last_seen AS last_seen, x.state AS state FROM sessions x JOIN users u "
			"ON u.id "
			"= x.user_id JOIN desktops d ON d.id = x.desktop_id JOIN pools p ON p.id = "
			"d.pool_id WHERE x.state <> 'ended' ORDER BY u.name, x.started"},
};

static const char *end_reason(int v)
{
	return store_end_reason_name((enum store_end_reason)v);
}

/* {NAME}: enum values (n of them, comma-separated; their quoted names with quoted), or a word. */
#define VALUES(nm, ...)                                                                           \
	{                                                                                         \
		.name = nm, .n = sizeof((int[]){__VA_ARGS__}) / sizeof(int), .v = { __VA_ARGS__ } \
	}
#define WORDS(nm, sqlite, pg)                      \
	{                                          \
		.name = nm, .word = { sqlite, pg } \
	}
static const struct token {
	const char *name;
	int n;
	int v[5];
	const char *(*quoted)(int v);
	const char *word[DB_DIALECT_COUNT_];
} tokens[] = {
	VALUES("AVAILABLE", STORE_DESKTOP_AVAILABLE),
	VALUES("ASSIGNED", STORE_DESKTOP_ASSIGNED),
	VALUES("IN_USE", STORE_DESKTOP_IN_USE),
	VALUES("OFFLINE", STORE_DESKTOP_OFFLINE),
	VALUES("MAINTENANCE", STORE_DESKTOP_MAINTENANCE),
	/* someone holds it */
	VALUES("HELD", STORE_DESKTOP_ASSIGNED, STORE_DESKTOP_IN_USE),
	/* online and not in maintenance */
	VALUES("UP", STORE_DESKTOP_AVAILABLE, STORE_DESKTOP_ASSIGNED, STORE_DESKTOP_IN_USE),
	VALUES("KINDS", STORE_POOL_FLOATING, STORE_POOL_DEDICATED),
	VALUES("NEVER", STORE_LOGOFF_NEVER),
	VALUES("IMMEDIATE", STORE_LOGOFF_IMMEDIATE),
	VALUES("AFTER_IDLE", STORE_LOGOFF_AFTER_IDLE),
	VALUES("LOGOFFS", STORE_LOGOFF_NEVER, STORE_LOGOFF_IMMEDIATE, STORE_LOGOFF_AFTER_IDLE),
	{.name = "END_REASONS",
	 .n = 3,
	 .v = {STORE_END_ADMIN, STORE_END_LOGOFF, STORE_END_IDLE_TIMEOUT},
	 .quoted = end_reason},
	WORDS("ID", "INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY"),
	WORDS("I64", "INTEGER", "BIGINT"),
	WORDS("I32", "INTEGER", "INT"),
	WORDS("BLOB", "BLOB", "BYTEA"),
	WORDS("NOW", "CAST(strftime('%s', 'now') AS INTEGER)", "extract(epoch from now())::bigint"),
	WORDS("NEW_ID", "lower(hex(randomblob(16)))",
	      "md5(random()::text || clock_timestamp()::text)"),
	/* SQLite has no row locks: its transactions take the whole database */
	WORDS("FOR_UPDATE", "", " FOR UPDATE"),
	WORDS("FOR_UPDATE_OF_X", "", " FOR UPDATE OF x"),
};

struct buf {
	char *p;
	size_t n, cap;
	bool fail;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->fail)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->fail = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void put_token(struct buf *b, enum db_dialect d, const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		const struct token *t = &tokens[i];
		if (strlen(t->name) != len || memcmp(t->name, name, len) != 0)
			continue;
		if (!t->n)
			put(b, t->word[d], strlen(t->word[d]));
		for (int k = 0; k < t->n; k++) {
			char v[STORE_NAME_MAX + 8];
			int m = t->quoted ? snprintf(v, sizeof(v), "%s'%s'", k ? ", " : "",
						     t->quoted(t->v[k]))
					  : snprintf(v, sizeof(v), "%s%d", k ? ", " : "", t->v[k]);
			put(b, v, (size_t)m);
		}
		return;
	}
	b->fail = true; /* a typo in the table: the statement fails to prepare, loudly */
}

size_t store_sql_migrations(void)
{
	return sizeof(migrations) / sizeof(migrations[0]);
}

const char *store_sql_what(enum sql id)
{
#define SQL_NAME(n) #n,
	static const char *const names[] = {STORE_SQL(SQL_NAME)};
#undef SQL_NAME
	return (unsigned)id < sizeof(names) / sizeof(names[0]) ? names[id] : "LIST_";
}

char *store_sql_text(enum db_dialect d, bool migration, size_t id, bool *none)
{
	const struct text *t = migration ? &migrations[id] : &sql[id];
	const char *s = d == DB_POSTGRESQL && t->pg ? t->pg : t->sql;
	struct buf b = {0};

	*none = !s;
	if (!s)
		return NULL;
	while (*s) {
		size_t run = strcspn(s, "{?");
		put(&b, s, run);
		s += run;
		if (*s == '?') { /* ?N: PostgreSQL spells it $N */
			put(&b, d == DB_POSTGRESQL ? "$" : "?", 1);
			s++;
		} else if (*s == '{') {
			size_t len = strcspn(s + 1, "}");
			put_token(&b, d, s + 1, len);
			s += len + (s[len + 1] ? 2 : 1);
		}
	}
	if (b.fail) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
