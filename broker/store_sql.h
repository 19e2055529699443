/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_STORE_SQL_H
#define HIGHRISE_STORE_SQL_H

/*
 * All of the broker's SQL (store_sql.c): the numbered migrations and one
 * statement per enum sql, written once, with a per-dialect text only where
 * SQLite and PostgreSQL really differ. The texts name the C enums' values
 * as {OFFLINE}, {DEDICATED}, ... and the dialect's words as {NOW},
 * {FOR_UPDATE}, ...; store_sql_text expands them, and writes the ?N
 * placeholders as the dialect spells them. Private to store.c.
 */

#include "store.h"
#include "store_db.h"

#include <stdbool.h>
#include <stddef.h>

/* Every statement, by name: enum sql (SQL_USER_ADD, ...) and the names in log lines. */
/* clang-format off */
#define STORE_SQL(X) \
	X(MIGRATIONS_TABLE) X(MIGRATIONS_LOCK) X(MIGRATIONS_HAVE) X(MIGRATION_RECORD) X(USER_ADD) \
	X(USER_SET_PASSWORD) X(USER_FREE_DESKTOPS) X(USER_DELETE) X(USER_HASH) X(USER_ID) \
	X(GROUP_ADD) X(GROUP_DELETE) X(MEMBER_ADD) X(MEMBER_REMOVE) X(POOL_ADD) X(POOL_DELETE) \
	X(POOL_GET) X(POOL_KIND) X(POOL_SET) X(POOL_LOCK) X(POOLS_FOR_USER) X(DESKTOP_ADD) \
	X(DESKTOP_FIND) X(DESKTOP_MAINT) X(DESKTOP_UNMAINT) X(DESKTOP_GET) X(DESKTOP_ONLINE) \
	X(DESKTOP_OFFLINE) X(DESKTOP_DELETE) X(ENTITLE_USER) X(ENTITLE_GROUP) X(UNENTITLE_USER) \
	X(UNENTITLE_GROUP) X(ENTITLED) X(ASSIGN) X(ASSIGNED_BY_NAME) X(UNASSIGN) \
	X(QUEUE_DESKTOP_LOGOFF) X(SESSIONS_END_DESKTOP) X(DESKTOP_FREE) X(AGENT_UPSERT) \
	X(AGENT_HEARTBEAT) X(AGENTS_EXPIRE) X(DEDICATED_DESKTOP) X(LIVE_SESSION) X(SESSION_COUNT) \
	X(PICK_DESKTOP) X(ASSIGNMENT_ADD) X(ASSIGNED) X(SESSION_ADD) X(SESSION_TOUCH) \
	X(SESSION_FIND) X(SESSION_END) X(ASSIGNMENT_FLOATING_DROP) X(DESKTOP_RETURN) \
	X(SESSION_CONNECTED) X(SESSION_DISCONNECTED) X(SESSION_IDLE) X(SESSION_ACTIVE) \
	X(DESKTOP_IN_USE) X(DESKTOP_NOT_IN_USE) X(PENDING_EXPIRE) X(SESSIONS_DUE) X(ENDS_TAKE) \
	X(END_QUEUE) X(ENDS_PURGE) X(TOKEN_PURGE) X(TOKEN_ADD) X(TOKEN_USER) X(TOKEN_DELETE)
/* clang-format on */

enum sql {
#define SQL_ENUM(n) SQL_##n,
	STORE_SQL(SQL_ENUM)
#undef SQL_ENUM
	SQL_LIST_, /* + enum store_list: the admin listings */
	SQL_COUNT_ = SQL_LIST_ + STORE_LIST_COUNT_,
};

/* How many migrations there are; index + 1 is the schema version. */
size_t store_sql_migrations(void);

/*
 * Statement id (enum sql), or migration i with migration true, for dialect
 * d: malloc'd (the caller frees it), or NULL when that dialect has nothing
 * to run there (*none true) or out of memory (*none false).
 */
char *store_sql_text(enum db_dialect d, bool migration, size_t id, bool *none);

/* The statement's name for log lines ("USER_ADD", "LIST_"). */
const char *store_sql_what(enum sql id);

#endif
