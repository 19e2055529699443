/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_STORE_H
#define HIGHRISE_STORE_H

/*
 * The broker's store: users, groups, pools, desktops, entitlements,
 * assignments, sessions, agents and login tokens (issue #5).
 *
 * The operations sit in a const struct store_impl table (STYLE.md), written
 * once (store.c) over a thin SQL driver (store_db.h) that store_open picks
 * from the URI: "sqlite:PATH", or a bare path, is SQLite (store_sqlite.c);
 * "postgresql://..." or "postgres://...", a libpq connection URI, is
 * PostgreSQL (store_pg.c) when the broker was built with libpq. All SQL
 * lives in one table (store_sql.c); every change is one transaction.
 *
 * The enums' values are stored in the database: a new value goes at the
 * end of its enum, and a renumbering needs a migration.
 *
 * Names (users, groups, pools, agents, desktops) are 1..STORE_NAME_MAX bytes.
 * Passwords never reach the store: it keeps the encoded hash that
 * broker/password.h makes. Tokens are kept as their SHA-256 only.
 *
 * Errors: 0 or a negative errno:
 *   -ENOENT  no such user / group / pool / desktop / agent / session / token
 *   -EEXIST  the name (or pair) is already there
 *   -EACCES  the user is not entitled to the pool
 *   -ENOSPC  no desktop is available in the pool
 *   -EHOSTDOWN the user's dedicated desktop is offline or in maintenance
 *   -EDQUOT  the user has the pool's maximum number of sessions
 *   -EINVAL  an argument out of range (a name too long, a bad state)
 *   -EBUSY   the change conflicts with what exists (a pool's kind once it has desktops)
 *   -EIO     the database failed (logged)
 * store_strerror gives a sentence for each.
 *
 * Threading: one struct store is one database connection, used by one
 * thread at a time. Several stores (threads, processes, brokers) may open
 * the same database: the connect decision is atomic across all of them.
 */

#include "name.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_NAME_MAX	     HR_NAME_MAX
#define STORE_ADDR_MAX	     255
#define STORE_URI_MAX	     1024
#define STORE_HASH_MAX	     256 /* an encoded password hash */
#define STORE_TOKEN_HASH_LEN 32
#define STORE_REASON_MAX     200 /* why a desktop is offline, as its agent said (UTF-8) */

enum store_pool_kind {
	STORE_POOL_FLOATING = 0, /* a desktop is held for the session, returned at logoff */
	STORE_POOL_DEDICATED,	 /* a sticky user <-> desktop pair, made on first connect */
};

enum store_logoff {
	STORE_LOGOFF_NEVER = 0,	 /* a disconnected session waits for its user */
	STORE_LOGOFF_IMMEDIATE,	 /* disconnect = logoff: a floating desktop is returned */
	STORE_LOGOFF_AFTER_IDLE, /* logoff once idle_timeout passes disconnected */
};

enum store_desktop_state {
	STORE_DESKTOP_AVAILABLE = 0,
	STORE_DESKTOP_ASSIGNED,
	STORE_DESKTOP_IN_USE,
	STORE_DESKTOP_OFFLINE,
	STORE_DESKTOP_MAINTENANCE,
};

/* What a session's agent reports about it (POST /api/v1/agent/sessions). */
enum store_session_event {
	STORE_EVENT_CONNECTED = 0, /* a client is on it: state connected, desktop in_use */
	STORE_EVENT_DISCONNECTED,  /* its client left: state disconnected, desktop assigned */
	STORE_EVENT_IDLE,	   /* no input for a while: idle since now */
	STORE_EVENT_ACTIVE,	   /* input again: not idle */
};

/* Why an agent must drop a session's client (the heartbeat's "end" list). */
enum store_end_reason {
	STORE_END_ADMIN = 0,	/* an admin disconnected it; the session stays */
	STORE_END_LOGOFF,	/* the session ended (or the broker does not know it) */
	STORE_END_IDLE_TIMEOUT, /* the pool's after_idle policy ended it */
};

struct store_event {
	const char *session; /* 32 hex digits */
	const char *desktop;
	enum store_session_event event;
	const char *client; /* the client's address; NULL: unchanged */
};

/* One entry of an agent's end list. */
struct store_end {
	char session[33];
	enum store_end_reason reason;
};

/* A change to a pool's settings: negative fields stay as they are. */
struct store_pool_change {
	int kind;   /* enum store_pool_kind; -EBUSY once the pool has desktops */
	int logoff; /* enum store_logoff */
	int64_t idle_timeout_s;
	int64_t max_sessions; /* 0 means 1 */
};

struct store_pool {
	char name[STORE_NAME_MAX + 1];
	enum store_pool_kind kind;
	int64_t idle_timeout_s; /* 0: none */
	enum store_logoff logoff;
	int64_t max_sessions; /* per user in this pool; 0 means 1 */
};

struct store_connect_req {
	const char *user;
	const char *pool;
	const char *client_address; /* for the session record; may be NULL */
	int64_t now;		    /* Unix seconds */
	int64_t heartbeat_window;   /* seconds; desktops of agents silent longer are skipped */
};

struct store_connect_res {
	char desktop[STORE_NAME_MAX + 1];
	char agent[STORE_NAME_MAX + 1];
	char address[STORE_ADDR_MAX + 1]; /* the agent's host for clients */
	int port;			  /* the agent's stream port */
	char session[33];		  /* 32 hex digits */
	bool reused;			  /* an existing session (or dedicated desktop) */
};

struct store_desktop_info {
	char name[STORE_NAME_MAX + 1];
	char agent[STORE_NAME_MAX + 1];
	char pool[STORE_NAME_MAX + 1];
	enum store_desktop_state state;
	char offline_reason[STORE_REASON_MAX + 1]; /* "" unless offline with a reason */
};

enum store_list {
	STORE_LIST_USERS,  /* name, groups */
	STORE_LIST_GROUPS, /* name, members */
	STORE_LIST_POOLS, /* name, kind, logoff, idle_timeout_s, max_sessions, desktops, available */
	STORE_LIST_DESKTOPS, /* agent, name, pool, state, user, console_uri, offline_reason */
	STORE_LIST_AGENTS,   /* name, address, port, last_heartbeat */
	STORE_LIST_SESSIONS, /* id, user, pool, agent, desktop, client, started, last_seen, state */
	STORE_LIST_COUNT_,
};

/* A listing for admins: column names and rows of text cells, all malloc'd. */
struct store_table {
	size_t ncols, nrows;
	char **cols;  /* ncols names */
	char **cells; /* nrows * ncols, row-major; never NULL ("" for SQL NULL) */
};
void store_table_free(struct store_table *t);

struct store;

struct store_impl {
	const char *name;
	void (*close)(struct store *s);

	int (*user_add)(struct store *s, const char *name, const char *password_hash);
	int (*user_set_password)(struct store *s, const char *name, const char *password_hash);
	int (*user_delete)(struct store *s, const char *name);
	int (*user_password_hash)(struct store *s, const char *name, char *out, size_t cap);

	int (*group_add)(struct store *s, const char *name);
	int (*group_member_add)(struct store *s, const char *group, const char *user);
	/* Deletes a group with its memberships and entitlements; users stay. */
	int (*group_delete)(struct store *s, const char *name);
	/* -ENOENT when the group, the user or the membership is missing. */
	int (*group_member_remove)(struct store *s, const char *group, const char *user);

	int (*pool_add)(struct store *s, const struct store_pool *p);
	int (*pool_delete)(struct store *s, const char *name);
	/* New settings for an existing pool; live sessions keep running under them. */
	int (*pool_set)(struct store *s, const char *name, const struct store_pool_change *c);
	/* The pools user may use, directly or through a group: *out is malloc'd. */
	int (*pools_for_user)(struct store *s, const char *user, struct store_pool **out,
			      size_t *count);

	int (*desktop_add)(struct store *s, const char *pool, const char *agent, const char *name,
			   const char *console_uri);
	int (*desktop_set_maintenance)(struct store *s, const char *agent, const char *name,
				       bool on);
	int (*desktop_get)(struct store *s, const char *agent, const char *name,
			   struct store_desktop_info *out);

	/* Exactly one of user and group is non-NULL. */
	int (*entitle)(struct store *s, const char *pool, const char *user, const char *group);
	/* Drops that entitlement (-ENOENT when there is none); live sessions stay. */
	int (*unentitle)(struct store *s, const char *pool, const char *user, const char *group);
	/* A dedicated assignment made by an admin. */
	int (*assign)(struct store *s, const char *user, const char *agent, const char *desktop);
	/* Drops a desktop's assignment (dedicated or floating); its live session ends too. */
	int (*unassign)(struct store *s, const char *agent, const char *desktop);
	/* Removes a desktop with its assignment and sessions. */
	int (*desktop_delete)(struct store *s, const char *agent, const char *desktop);

	/*
	 * An agent says hello: its address and stream port, and the desktops it
	 * serves. Those known to the store come online (offline -> available, or
	 * assigned when someone holds them) unless up[i] is false (their console
	 * is down): those go offline, keeping reasons[i] (why, for admins; at
	 * most STORE_REASON_MAX bytes, else -EINVAL) as their offline_reason
	 * until they come online. up NULL: all up; reasons NULL or NULL entries:
	 * none. A desktop in maintenance stays so. *unknown counts the desktops
	 * the store does not know. When changed is not NULL (count entries),
	 * changed[i] says whether desktop i went offline, came online from
	 * offline or has a new offline reason: what is worth one log line.
	 */
	int (*agent_register)(struct store *s, const char *name, const char *address, int port,
			      int64_t now, const char *const *desktops, const bool *up,
			      const char *const *reasons, size_t count, bool *changed,
			      size_t *unknown);
	/*
	 * An agent is alive. Its desktops named here go offline (up[i] false,
	 * with reasons[i]) or come online as agent_register brings them (up[i]
	 * true), and changed is filled as there; count 0 changes none. When
	 * ends is not NULL, the agent's end list is taken (consumed: handed out
	 * once) into *ends (malloc'd, *nends entries; the caller frees it), in
	 * the same transaction. -ENOENT: never registered.
	 */
	int (*agent_heartbeat)(struct store *s, const char *name, int64_t now,
			       const char *const *desktops, const bool *up,
			       const char *const *reasons, size_t count, bool *changed,
			       struct store_end **ends, size_t *nends);
	/* Desktops of agents silent since before now - window go offline. */
	int (*agents_expire)(struct store *s, int64_t now, int64_t window, int *offlined);
	/*
	 * An agent reports what happened to its sessions, in order, in one
	 * transaction. A session that is not live, or not on this agent and
	 * desktop, counts in *unknown and goes on the agent's end list
	 * (reason logoff); the others count in *accepted. A disconnect in a
	 * pool whose logoff policy is immediate ends the session.
	 */
	int (*session_events)(struct store *s, const char *agent, int64_t now,
			      const struct store_event *ev, size_t count, size_t *accepted,
			      size_t *unknown);
	/*
	 * The logoff policies, run by the sweep: a session pending since
	 * before now - pending_timeout becomes disconnected (since its start);
	 * a disconnected session in an immediate pool ends; in an after_idle
	 * pool with an idle timeout, a session disconnected, or connected but
	 * idle, for longer than it ends, and a connected one goes on its
	 * agent's end list (idle_timeout). Old end-list entries (a day) go.
	 */
	int (*sessions_expire)(struct store *s, int64_t now, int64_t pending_timeout, int *ended);

	/*
	 * The connect decision, atomic in one transaction: the user's dedicated
	 * desktop; else the user's live session in the pool; else an available
	 * desktop (floating: held for the session; dedicated pool: assigned to
	 * the user for good), never one offline, in maintenance or of a silent
	 * agent. A new session is recorded.
	 */
	int (*connect)(struct store *s, const struct store_connect_req *req,
		       struct store_connect_res *res);
	/*
	 * Ends a session; a floating desktop goes back to the pool. A session
	 * that was pending or connected goes on its agent's end list (logoff).
	 */
	int (*session_end)(struct store *s, const char *session);
	/*
	 * An admin's disconnect: the session stays (its user may come back to
	 * it); its agent finds it on its end list (admin) and drops the client.
	 */
	int (*session_disconnect)(struct store *s, const char *session);

	int (*token_add)(struct store *s, const uint8_t hash[STORE_TOKEN_HASH_LEN],
			 const char *user, int64_t expires);
	/* The token's user, or -ENOENT when unknown or expired at now. */
	int (*token_user)(struct store *s, const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t now,
			  char *user, size_t cap);
	int (*token_delete)(struct store *s, const uint8_t hash[STORE_TOKEN_HASH_LEN]);

	/* A listing (live sessions only), ordered by name. *out is the caller's: store_table_free. */
	int (*list)(struct store *s, enum store_list what, struct store_table *out);
};

/* What store_open returns: the operations are s->impl->op(s, ...). */
struct store {
	const struct store_impl *impl;
};

/* "sqlite:PATH" or a path. NULL and a log line on failure. */
struct store *store_open(const char *uri);
void store_close(struct store *s);

const char *store_strerror(int err);
const char *store_desktop_state_name(enum store_desktop_state st);
const char *store_pool_kind_name(enum store_pool_kind k);
const char *store_logoff_name(enum store_logoff l);
const char *store_end_reason_name(enum store_end_reason r);

#endif
