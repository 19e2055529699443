/* SPDX-License-Identifier: MIT */
/*
 * The store's domain, written once: every operation of struct store_impl,
 * its validation, its one transaction and its rules (the connect decision,
 * the logoff policies, the end lists), over the SQL of store_sql.c and a
 * driver of store_db.h that store_open picks from the URI.
 */
#include "error.h"
#include "log.h"
#include "store.h"
#include "store_db.h"
#include "store_sql.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATION_LOCK 0x4869676872697365LL /* "Highrise": PostgreSQL's advisory lock */
#define POOL_LOCK_NS   0x48525031	    /* advisory lock space for pools */

struct sdb {
	struct store base; /* first: a struct store * is a struct sdb * */
	const struct db_driver *drv;
	struct db *db;
	struct db_stmt st[SQL_COUNT_];
	bool none[SQL_COUNT_]; /* nothing to run in this dialect */
};

static struct sdb *S(struct store *s)
{
	return (struct sdb *)s;
}

/* The arguments of one statement: a pointer and a count. */
#define ARGS(...)                             \
	(const struct db_arg[]){__VA_ARGS__}, \
		sizeof((const struct db_arg[]){__VA_ARGS__}) / sizeof(struct db_arg)
#define NOARGS NULL, 0

/* Runs statement id; *changes (may be NULL) the rows it changed. */
static int run(struct sdb *s, enum sql id, const struct db_arg *a, size_t n, int64_t *changes)
{
	if (changes)
		*changes = 0;
	if (s->none[id])
		return 0;
	return s->drv->exec(s->db, &s->st[id], a, n, changes);
}

/* Runs a change that must touch a row: -ENOENT when it touched none. */
static int touch(struct sdb *s, enum sql id, const struct db_arg *a, size_t n)
{
	int64_t changes;
	int rc = run(s, id, a, n, &changes);
	return rc == 0 && changes == 0 ? -ENOENT : rc;
}

static int query(struct sdb *s, enum sql id, const struct db_arg *a, size_t n, struct db_rows **r)
{
	return s->drv->query(s->db, &s->st[id], a, n, r);
}

/* The first row of query id in *r (the caller calls done), -ENOENT when there is none. */
static int row(struct sdb *s, enum sql id, const struct db_arg *a, size_t n, struct db_rows **r)
{
	int rc = query(s, id, a, n, r);
	if (rc < 0)
		return rc;
	rc = s->drv->next(*r);
	if (rc == 1)
		return 0;
	s->drv->done(*r);
	return rc == 0 ? -ENOENT : rc;
}

static int64_t col_i64(struct sdb *s, struct db_rows *r, size_t c)
{
	return s->drv->i64(r, c);
}

static void col_copy(struct sdb *s, struct db_rows *r, size_t c, char *out, size_t cap)
{
	snprintf(out, cap, "%s", s->drv->text(r, c));
}

/* A query's first column as a number; -ENOENT when there is no row. */
static int one_i64(struct sdb *s, enum sql id, const struct db_arg *a, size_t n, int64_t *v)
{
	struct db_rows *r;
	int rc = row(s, id, a, n, &r);
	if (rc < 0)
		return rc;
	if (v)
		*v = col_i64(s, r, 0);
	s->drv->done(r);
	return 0;
}

/* A query's first column as text into out; -ENOENT when there is no row. */
static int one_text(struct sdb *s, enum sql id, const struct db_arg *a, size_t n, char *out,
		    size_t cap)
{
	struct db_rows *r;
	int rc = row(s, id, a, n, &r);
	if (rc < 0)
		return rc;
	col_copy(s, r, 0, out, cap);
	s->drv->done(r);
	return 0;
}

/* Makes row r into item (zeroed), for rows_take. */
typedef void row_fill_fn(struct sdb *s, struct db_rows *r, void *item);

/* The rows of query id, each an item of size bytes made by fill: *out malloc'd, *n of them. */
static int rows_take(struct sdb *s, enum sql id, const struct db_arg *a, size_t na, size_t size,
		     row_fill_fn *fill, void **out, size_t *n)
{
	char *v = NULL;
	size_t cap = 0;
	struct db_rows *r;
	int rc;

	*n = 0;
	if ((rc = query(s, id, a, na, &r)) < 0)
		return rc;
	while ((rc = s->drv->next(r)) == 1) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char *nv = realloc(v, ncap * size);
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		memset(v + *n * size, 0, size);
		fill(s, r, v + *n * size);
		(*n)++;
	}
	s->drv->done(r);
	if (rc < 0) {
		free(v);
		v = NULL;
		*n = 0;
	}
	*out = v;
	return rc < 0 ? rc : 0;
}

static int tx_begin(struct sdb *s)
{
	return s->drv->begin(s->db);
}

/* Commits when rc is 0, rolls back otherwise; returns rc or the commit's failure. */
static int tx_end(struct sdb *s, int rc)
{
	if (rc == 0)
		return s->drv->commit(s->db);
	s->drv->rollback(s->db);
	return rc;
}

/* One change as its own transaction; -ENOENT when it must touch a row and touched none. */
static int change_tx(struct sdb *s, enum sql id, const struct db_arg *a, size_t n, bool must_touch)
{
	int rc = tx_begin(s);
	if (rc < 0)
		return rc;
	return tx_end(s, must_touch ? touch(s, id, a, n) : run(s, id, a, n, NULL));
}

static int migrate(struct sdb *s)
{
	size_t known = store_sql_migrations();
	int64_t have = 0;
	int rc = tx_begin(s);

	if (rc < 0)
		return rc;
	rc = run(s, SQL_MIGRATIONS_LOCK, ARGS(ARG_I(MIGRATION_LOCK)), NULL);
	if (rc == 0)
		rc = run(s, SQL_MIGRATIONS_TABLE, NOARGS, NULL);
	if (rc == 0)
		rc = one_i64(s, SQL_MIGRATIONS_HAVE, NOARGS, &have);
	if (rc == 0 && have > (int64_t)known) {
		log_error("store: the database has schema version %lld, newer than this broker "
			  "knows (%zu)",
			  (long long)have, known);
		rc = -EINVAL;
	}
	for (size_t v = (size_t)have; rc == 0 && v < known; v++) {
		bool none;
		char *text = store_sql_text(s->drv->dialect, true, v, &none);
		rc = text ? s->drv->script(s->db, text, "schema migration") : -ENOMEM;
		free(text);
		if (rc == 0)
			rc = run(s, SQL_MIGRATION_RECORD, ARGS(ARG_I((int64_t)v + 1)), NULL);
		if (rc == 0)
			log_info("store: applied schema migration %zu", v + 1);
	}
	return tx_end(s, rc);
}

static void sdb_close(struct store *base)
{
	struct sdb *s = S(base);
	if (!s)
		return;
	s->drv->close(s->db);
	for (size_t i = 0; i < SQL_COUNT_; i++)
		free((char *)s->st[i].sql);
	free(s);
}

static const struct store_impl store_domain_impl;

static struct store *sdb_open(const struct db_driver *drv, const char *uri)
{
	struct sdb *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->base.impl = &store_domain_impl;
	s->drv = drv;
	for (size_t i = 0; i < SQL_COUNT_; i++) {
		s->st[i].id = i;
		s->st[i].what = store_sql_what((enum sql)i);
		s->st[i].sql = store_sql_text(drv->dialect, false, i, &s->none[i]);
		if (!s->st[i].sql && !s->none[i]) {
			log_error("store: cannot build statement %s", s->st[i].what);
			goto fail;
		}
	}
	s->db = drv->open(uri, SQL_COUNT_);
	if (!s->db || migrate(s) < 0)
		goto fail;
	return &s->base;
fail:
	sdb_close(&s->base);
	return NULL;
}

static bool hash_ok(const char *h)
{
	return h && strlen(h) <= STORE_HASH_MAX;
}

static int sdb_user_add(struct store *base, const char *name, const char *hash)
{
	if (!hr_name_ok(name) || !hash_ok(hash))
		return -EINVAL;
	return change_tx(S(base), SQL_USER_ADD, ARGS(ARG_T(name), ARG_T(hash)), false);
}

static int sdb_user_set_password(struct store *base, const char *name, const char *hash)
{
	if (!hr_name_ok(name) || !hash_ok(hash))
		return -EINVAL;
	return change_tx(S(base), SQL_USER_SET_PASSWORD, ARGS(ARG_T(hash), ARG_T(name)), true);
}

static int sdb_user_delete(struct store *base, const char *name)
{
	struct sdb *s = S(base);
	int rc;
	if (!hr_name_ok(name))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	rc = run(s, SQL_USER_FREE_DESKTOPS, ARGS(ARG_T(name)), NULL);
	if (rc == 0)
		rc = touch(s, SQL_USER_DELETE, ARGS(ARG_T(name)));
	return tx_end(s, rc);
}

static int sdb_user_password_hash(struct store *base, const char *name, char *out, size_t cap)
{
	if (!hr_name_ok(name))
		return -ENOENT; /* a name that cannot exist is simply unknown */
	return one_text(S(base), SQL_USER_HASH, ARGS(ARG_T(name)), out, cap);
}

static int sdb_group_add(struct store *base, const char *name)
{
	if (!hr_name_ok(name))
		return -EINVAL;
	return change_tx(S(base), SQL_GROUP_ADD, ARGS(ARG_T(name)), false);
}

/* Two-name change id as one transaction; -ENOENT when it touched nothing. */
static int pair_change(struct store *base, enum sql id, const char *a, const char *b)
{
	if (!hr_name_ok(a) || !hr_name_ok(b))
		return -EINVAL;
	return change_tx(S(base), id, ARGS(ARG_T(a), ARG_T(b)), true);
}

static int sdb_group_member_add(struct store *base, const char *group, const char *user)
{
	return pair_change(base, SQL_MEMBER_ADD, group, user); /* -ENOENT: no such group or user */
}

static int sdb_group_member_remove(struct store *base, const char *group, const char *user)
{
	return pair_change(base, SQL_MEMBER_REMOVE, group, user);
}

static int delete_by_name(struct store *base, enum sql id, const char *name)
{
	if (!hr_name_ok(name))
		return -EINVAL;
	return change_tx(S(base), id, ARGS(ARG_T(name)), true);
}

static int sdb_group_delete(struct store *base, const char *name)
{
	return delete_by_name(base, SQL_GROUP_DELETE, name);
}

static int sdb_pool_add(struct store *base, const struct store_pool *p)
{
	if (!hr_name_ok(p->name) || p->kind > STORE_POOL_DEDICATED ||
	    p->logoff > STORE_LOGOFF_AFTER_IDLE || p->idle_timeout_s < 0 || p->max_sessions < 0)
		return -EINVAL;
	return change_tx(S(base), SQL_POOL_ADD,
			 ARGS(ARG_T(p->name), ARG_I(p->kind), ARG_I(p->idle_timeout_s),
			      ARG_I(p->logoff), ARG_I(p->max_sessions ? p->max_sessions : 1)),
			 false);
}

static int sdb_pool_delete(struct store *base, const char *name)
{
	return delete_by_name(base, SQL_POOL_DELETE, name);
}

/* v, or SQL NULL (unchanged) when v is negative. */
static struct db_arg or_null(int64_t v)
{
	return v < 0 ? (struct db_arg){.type = DB_NULL} : (struct db_arg){.type = DB_INT, .i = v};
}

static int sdb_pool_set(struct store *base, const char *name, const struct store_pool_change *c)
{
	struct sdb *s = S(base);
	struct db_rows *r;
	int rc;
	if (!hr_name_ok(name) || c->kind > STORE_POOL_DEDICATED ||
	    c->logoff > STORE_LOGOFF_AFTER_IDLE)
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	rc = row(s, SQL_POOL_KIND, ARGS(ARG_T(name)), &r);
	if (rc < 0)
		return tx_end(s, rc);
	/* a floating desktop held for a session would become someone's for good, or back */
	if (c->kind >= 0 && c->kind != col_i64(s, r, 0) && col_i64(s, r, 1) > 0)
		rc = -EBUSY;
	s->drv->done(r);
	if (rc == 0) {
		struct db_arg a[] = {ARG_T(name), or_null(c->kind), or_null(c->logoff),
				     or_null(c->idle_timeout_s),
				     or_null(c->max_sessions ? c->max_sessions : 1)};
		rc = run(s, SQL_POOL_SET, a, 5, NULL);
	}
	return tx_end(s, rc);
}

static void pool_fill(struct sdb *s, struct db_rows *r, void *item)
{
	struct store_pool *p = item;
	col_copy(s, r, 0, p->name, sizeof(p->name));
	p->kind = (enum store_pool_kind)col_i64(s, r, 1);
	p->idle_timeout_s = col_i64(s, r, 2);
	p->logoff = (enum store_logoff)col_i64(s, r, 3);
	p->max_sessions = col_i64(s, r, 4);
}

static int sdb_pools_for_user(struct store *base, const char *user, struct store_pool **out,
			      size_t *count)
{
	struct sdb *s = S(base);
	void *v = NULL;
	int rc;

	*out = NULL;
	*count = 0;
	if (!hr_name_ok(user))
		return -ENOENT;
	if ((rc = one_i64(s, SQL_USER_ID, ARGS(ARG_T(user)), NULL)) < 0)
		return rc;
	rc = rows_take(s, SQL_POOLS_FOR_USER, ARGS(ARG_T(user)), sizeof(**out), pool_fill, &v,
		       count);
	*out = v;
	return rc;
}

static int sdb_desktop_add(struct store *base, const char *pool, const char *agent,
			   const char *name, const char *uri)
{
	if (!hr_name_ok(pool) || !hr_name_ok(agent) || !hr_name_ok(name) ||
	    (uri && strlen(uri) > STORE_URI_MAX))
		return -EINVAL;
	/* -ENOENT: no such pool */
	return change_tx(S(base), SQL_DESKTOP_ADD,
			 ARGS(ARG_T(agent), ARG_T(name), ARG_T(uri ? uri : ""), ARG_T(pool)), true);
}

static int sdb_desktop_set_maintenance(struct store *base, const char *agent, const char *name,
				       bool on)
{
	struct sdb *s = S(base);
	int rc;
	if (!hr_name_ok(agent) || !hr_name_ok(name))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	rc = one_i64(s, SQL_DESKTOP_FIND, ARGS(ARG_T(agent), ARG_T(name)), NULL);
	if (rc == 0)
		rc = run(s, on ? SQL_DESKTOP_MAINT : SQL_DESKTOP_UNMAINT,
			 ARGS(ARG_T(agent), ARG_T(name)), NULL);
	return tx_end(s, rc);
}

static int sdb_desktop_get(struct store *base, const char *agent, const char *name,
			   struct store_desktop_info *out)
{
	struct sdb *s = S(base);
	struct db_rows *r;
	int rc;
	if (!hr_name_ok(agent) || !hr_name_ok(name))
		return -ENOENT;
	if ((rc = row(s, SQL_DESKTOP_GET, ARGS(ARG_T(agent), ARG_T(name)), &r)) < 0)
		return rc;
	col_copy(s, r, 0, out->name, sizeof(out->name));
	col_copy(s, r, 1, out->agent, sizeof(out->agent));
	col_copy(s, r, 2, out->pool, sizeof(out->pool));
	out->state = (enum store_desktop_state)col_i64(s, r, 3);
	col_copy(s, r, 4, out->offline_reason, sizeof(out->offline_reason));
	s->drv->done(r);
	return 0;
}

static int sdb_entitle(struct store *base, const char *pool, const char *user, const char *group)
{
	if (!hr_name_ok(pool) || (user == NULL) == (group == NULL))
		return -EINVAL;
	/* -ENOENT: no such pool, user or group */
	return change_tx(S(base), user ? SQL_ENTITLE_USER : SQL_ENTITLE_GROUP,
			 ARGS(ARG_T(pool), ARG_T(user ? user : group)), true);
}

static int sdb_unentitle(struct store *base, const char *pool, const char *user, const char *group)
{
	if ((user == NULL) == (group == NULL))
		return -EINVAL;
	return pair_change(base, user ? SQL_UNENTITLE_USER : SQL_UNENTITLE_GROUP, pool,
			   user ? user : group);
}

static int sdb_assign(struct store *base, const char *user, const char *agent, const char *desktop)
{
	struct sdb *s = S(base);
	int rc;
	if (!hr_name_ok(user) || !hr_name_ok(agent) || !hr_name_ok(desktop))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	rc = touch(s, SQL_ASSIGN, ARGS(ARG_T(user), ARG_T(agent), ARG_T(desktop)));
	if (rc == 0)
		rc = run(s, SQL_ASSIGNED_BY_NAME, ARGS(ARG_T(agent), ARG_T(desktop)), NULL);
	return tx_end(s, rc);
}

static int sdb_unassign(struct store *base, const char *agent, const char *desktop)
{
	struct sdb *s = S(base);
	int rc;
	if (!hr_name_ok(agent) || !hr_name_ok(desktop))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	rc = touch(s, SQL_UNASSIGN, ARGS(ARG_T(agent), ARG_T(desktop)));
	if (rc == 0) /* a client may be on its session: its agent drops it */
		rc = run(s, SQL_QUEUE_DESKTOP_LOGOFF,
			 ARGS(ARG_T(agent), ARG_T(desktop),
			      ARG_T(store_end_reason_name(STORE_END_LOGOFF))),
			 NULL);
	if (rc == 0)
		rc = run(s, SQL_SESSIONS_END_DESKTOP, ARGS(ARG_T(agent), ARG_T(desktop)), NULL);
	if (rc == 0) /* offline or in maintenance: it stays so */
		rc = run(s, SQL_DESKTOP_FREE, ARGS(ARG_T(agent), ARG_T(desktop)), NULL);
	return tx_end(s, rc);
}

static int sdb_desktop_delete(struct store *base, const char *agent, const char *desktop)
{
	return pair_change(base, SQL_DESKTOP_DELETE, agent, desktop);
}

/*
 * Whether a desktop's report is worth a log line: it crossed between
 * offline and online, or is offline for a new reason. A desktop in
 * maintenance changes with neither.
 */
static bool report_changes(enum store_desktop_state was, const char *was_reason, bool up,
			   const char *reason)
{
	if (up)
		return was == STORE_DESKTOP_OFFLINE;
	return (was != STORE_DESKTOP_OFFLINE && was != STORE_DESKTOP_MAINTENANCE) ||
	       (was == STORE_DESKTOP_OFFLINE && strcmp(was_reason, reason) != 0);
}

/*
 * Desktop (agent, name) comes online (up) or goes offline for reason;
 * *changed as report_changes says. -ENOENT when unknown.
 */
static int desktop_up(struct sdb *s, const char *agent, const char *name, bool up,
		      const char *reason, bool *changed)
{
	char was_reason[STORE_REASON_MAX + 1];
	enum store_desktop_state was;
	struct db_rows *r;
	int rc;

	*changed = false;
	if (!hr_name_ok(name))
		return -ENOENT;
	if ((rc = row(s, SQL_DESKTOP_FIND, ARGS(ARG_T(agent), ARG_T(name)), &r)) < 0)
		return rc;
	was = (enum store_desktop_state)col_i64(s, r, 0);
	col_copy(s, r, 1, was_reason, sizeof(was_reason));
	s->drv->done(r);
	*changed = report_changes(was, was_reason, up, reason);
	if (up)
		return run(s, SQL_DESKTOP_ONLINE, ARGS(ARG_T(agent), ARG_T(name)), NULL);
	return run(s, SQL_DESKTOP_OFFLINE, ARGS(ARG_T(agent), ARG_T(name), ARG_T(reason)), NULL);
}

/* Each desktop's report, in the caller's transaction; unknown desktops count in *miss. */
static int desktops_report(struct sdb *s, const char *agent, const char *const *desktops,
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

static int sdb_agent_register(struct store *base, const char *name, const char *address, int port,
			      int64_t now, const char *const *desktops, const bool *up,
			      const char *const *reasons, size_t count, bool *changed,
			      size_t *unknown)
{
	struct sdb *s = S(base);
	size_t miss = 0;
	int rc;

	if (!hr_name_ok(name) || !address || !address[0] || strlen(address) > STORE_ADDR_MAX ||
	    port < 1 || port > 65535 || !reasons_ok(reasons, count))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	rc = run(s, SQL_AGENT_UPSERT, ARGS(ARG_T(name), ARG_T(address), ARG_I(port), ARG_I(now)),
		 NULL);
	if (rc == 0)
		rc = desktops_report(s, name, desktops, up, reasons, count, changed, &miss);
	if (unknown)
		*unknown = miss;
	return tx_end(s, rc);
}

static enum store_end_reason end_reason_of(const char *name)
{
	for (int r = STORE_END_ADMIN; r <= STORE_END_IDLE_TIMEOUT; r++)
		if (strcmp(name, store_end_reason_name((enum store_end_reason)r)) == 0)
			return (enum store_end_reason)r;
	return STORE_END_LOGOFF;
}

static void end_fill(struct sdb *s, struct db_rows *r, void *item)
{
	struct store_end *e = item;
	col_copy(s, r, 0, e->session, sizeof(e->session));
	e->reason = end_reason_of(s->drv->text(r, 1));
}

static int sdb_agent_heartbeat(struct store *base, const char *name, int64_t now,
			       const char *const *desktops, const bool *up,
			       const char *const *reasons, size_t count, bool *changed,
			       struct store_end **ends, size_t *nends)
{
	struct sdb *s = S(base);
	size_t miss = 0;
	int rc;
	if (ends) {
		*ends = NULL;
		*nends = 0;
	}
	if (!hr_name_ok(name))
		return -ENOENT;
	if (!reasons_ok(reasons, count))
		return -EINVAL;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	/* -ENOENT: never registered, it must register first */
	rc = touch(s, SQL_AGENT_HEARTBEAT, ARGS(ARG_I(now), ARG_T(name)));
	if (rc == 0) /* a desktop the broker does not know: nothing to change */
		rc = desktops_report(s, name, desktops, up, reasons, count, changed, &miss);
	if (rc == 0 && ends) { /* DELETE ... RETURNING: each entry is handed out once */
		void *v = NULL;
		rc = rows_take(s, SQL_ENDS_TAKE, ARGS(ARG_T(name)), sizeof(**ends), end_fill, &v,
			       nends);
		*ends = v;
	}
	rc = tx_end(s, rc);
	if (rc < 0 && ends) {
		free(*ends);
		*ends = NULL;
		*nends = 0;
	}
	return rc;
}

static int end_queue(struct sdb *s, const char *agent, const char *session,
		     enum store_end_reason why)
{
	return run(s, SQL_END_QUEUE,
		   ARGS(ARG_T(agent), ARG_T(session), ARG_T(store_end_reason_name(why))), NULL);
}

/* A live session: its desktop id, state, agent, desktop name and pool's logoff policy. */
struct live {
	int64_t did;
	char state[16];
	char agent[STORE_NAME_MAX + 1];
	char desktop[STORE_NAME_MAX + 1];
	enum store_logoff logoff;
};

static int session_find(struct sdb *s, const char *session, struct live *out)
{
	struct db_rows *r;
	int rc = row(s, SQL_SESSION_FIND, ARGS(ARG_T(session)), &r);
	if (rc < 0)
		return rc;
	out->did = col_i64(s, r, 0);
	col_copy(s, r, 1, out->state, sizeof(out->state));
	col_copy(s, r, 2, out->agent, sizeof(out->agent));
	col_copy(s, r, 3, out->desktop, sizeof(out->desktop));
	out->logoff = (enum store_logoff)col_i64(s, r, 4);
	s->drv->done(r);
	return 0;
}

/* Ends session (on desktop did) inside the caller's transaction; a floating desktop returns. */
static int end_locked(struct sdb *s, const char *session, int64_t did)
{
	int rc = run(s, SQL_SESSION_END, ARGS(ARG_T(session)), NULL);
	if (rc == 0)
		rc = run(s, SQL_ASSIGNMENT_FLOATING_DROP, ARGS(ARG_I(did)), NULL);
	if (rc == 0)
		rc = run(s, SQL_DESKTOP_RETURN, ARGS(ARG_I(did)), NULL);
	return rc;
}

static int session_event(struct sdb *s, const char *agent, int64_t now, const struct store_event *e,
			 bool *known)
{
	static const enum sql st[] = {
		[STORE_EVENT_CONNECTED] = SQL_SESSION_CONNECTED,
		[STORE_EVENT_DISCONNECTED] = SQL_SESSION_DISCONNECTED,
		[STORE_EVENT_IDLE] = SQL_SESSION_IDLE,
		[STORE_EVENT_ACTIVE] = SQL_SESSION_ACTIVE,
	};
	struct live l;
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
	if (e->event == STORE_EVENT_CONNECTED)
		rc = run(s, st[e->event], ARGS(ARG_I(now), ARG_T(e->client), ARG_T(e->session)),
			 NULL);
	else
		rc = run(s, st[e->event], ARGS(ARG_I(now), ARG_T(e->session)), NULL);
	if (rc < 0)
		return rc;
	if (e->event == STORE_EVENT_CONNECTED)
		return run(s, SQL_DESKTOP_IN_USE, ARGS(ARG_I(l.did)), NULL);
	if (e->event != STORE_EVENT_DISCONNECTED)
		return 0;
	if (l.logoff == STORE_LOGOFF_IMMEDIATE)
		return end_locked(s, e->session, l.did); /* disconnect = logoff */
	return run(s, SQL_DESKTOP_NOT_IN_USE, ARGS(ARG_I(l.did)), NULL);
}

static int sdb_session_events(struct store *base, const char *agent, int64_t now,
			      const struct store_event *ev, size_t count, size_t *accepted,
			      size_t *unknown)
{
	struct sdb *s = S(base);
	size_t ok = 0, miss = 0;
	int rc;
	if (!hr_name_ok(agent))
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

static void due_fill(struct sdb *s, struct db_rows *r, void *item)
{
	struct due *d = item;
	col_copy(s, r, 0, d->id, sizeof(d->id));
	d->did = col_i64(s, r, 1);
	d->connected = strcmp(s->drv->text(r, 2), "connected") == 0;
	col_copy(s, r, 3, d->agent, sizeof(d->agent));
}

static int sdb_sessions_expire(struct store *base, int64_t now, int64_t pending_timeout, int *ended)
{
	struct sdb *s = S(base);
	struct due *v = NULL;
	void *rows = NULL;
	size_t n = 0;
	int rc;

	if (ended)
		*ended = 0;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	rc = run(s, SQL_PENDING_EXPIRE, ARGS(ARG_I(now - pending_timeout)), NULL);
	if (rc == 0)
		rc = run(s, SQL_ENDS_PURGE, NOARGS, NULL);
	/* collect first: the ends below change the rows the query walks */
	if (rc == 0)
		rc = rows_take(s, SQL_SESSIONS_DUE, ARGS(ARG_I(now)), sizeof(*v), due_fill, &rows,
			       &n);
	v = rows;
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

/*
 * A logoff (end: the session ends; a client on it is dropped) or an admin's
 * disconnect (the session stays; its agent drops the client).
 */
static int session_stop(struct store *base, const char *session, bool end)
{
	struct sdb *s = S(base);
	struct live l;
	int rc;
	if (!session || strlen(session) > 64)
		return -ENOENT;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	rc = session_find(s, session, &l);
	if (rc == 0 && end)
		rc = end_locked(s, session, l.did);
	if (rc == 0 && (!end || strcmp(l.state, "disconnected") != 0))
		rc = end_queue(s, l.agent, session, end ? STORE_END_LOGOFF : STORE_END_ADMIN);
	return tx_end(s, rc);
}

static int sdb_session_end(struct store *base, const char *session)
{
	return session_stop(base, session, true);
}

static int sdb_session_disconnect(struct store *base, const char *session)
{
	return session_stop(base, session, false);
}

static int sdb_agents_expire(struct store *base, int64_t now, int64_t window, int *offlined)
{
	struct sdb *s = S(base);
	int64_t changes = 0;
	int rc;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	rc = run(s, SQL_AGENTS_EXPIRE, ARGS(ARG_I(now - window)), &changes);
	if (offlined)
		*offlined = rc == 0 ? (int)changes : 0;
	return tx_end(s, rc);
}

/* The desktop a connect hands out, from column first on (DESKTOP_TARGET after d.id). */
static void fill_target(struct sdb *s, struct db_rows *r, size_t first,
			struct store_connect_res *res)
{
	col_copy(s, r, first, res->desktop, sizeof(res->desktop));
	col_copy(s, r, first + 1, res->agent, sizeof(res->agent));
	col_copy(s, r, first + 2, res->address, sizeof(res->address));
	res->port = (int)col_i64(s, r, first + 3);
}

static int connect_locked(struct sdb *s, const struct store_connect_req *req,
			  struct store_connect_res *res)
{
	int64_t uid, pid, did, kind, max_sessions, live = 0, dedicated = 0;
	int64_t alive_since = req->now - req->heartbeat_window;
	struct db_rows *r;
	int rc;

	if ((rc = one_i64(s, SQL_USER_ID, ARGS(ARG_T(req->user)), &uid)) < 0)
		return rc;
	if ((rc = row(s, SQL_POOL_GET, ARGS(ARG_T(req->pool)), &r)) < 0)
		return rc;
	pid = col_i64(s, r, 0);
	kind = col_i64(s, r, 1);
	max_sessions = col_i64(s, r, 2);
	s->drv->done(r);
	/* one decision per pool at a time, across every broker */
	if ((rc = run(s, SQL_POOL_LOCK, ARGS(ARG_I(POOL_LOCK_NS), ARG_I(pid)), NULL)) < 0)
		return rc;
	rc = one_i64(s, SQL_ENTITLED, ARGS(ARG_I(pid), ARG_I(uid)), NULL);
	if (rc < 0)
		return rc == -ENOENT ? -EACCES : rc;

	/* 1. the user's dedicated desktop in this pool */
	rc = row(s, SQL_DEDICATED_DESKTOP, ARGS(ARG_I(uid), ARG_I(pid)), &r);
	if (rc == 0) {
		enum store_desktop_state st = (enum store_desktop_state)col_i64(s, r, 5);
		int64_t hb = col_i64(s, r, 6);
		dedicated = col_i64(s, r, 0);
		fill_target(s, r, 1, res);
		s->drv->done(r);
		if (st == STORE_DESKTOP_OFFLINE || st == STORE_DESKTOP_MAINTENANCE ||
		    hb < alive_since)
			return -EHOSTDOWN;
		/* its live session, if any (2.), else a new one on it */
	} else if (rc != -ENOENT) {
		return rc;
	}

	/* 2. the user's live session in this pool */
	rc = row(s, SQL_LIVE_SESSION, ARGS(ARG_I(uid), ARG_I(pid), ARG_I(alive_since)), &r);
	if (rc == 0) {
		bool up = col_i64(s, r, 6) != 0;
		col_copy(s, r, 0, res->session, sizeof(res->session));
		fill_target(s, r, 2, res);
		s->drv->done(r);
		if (!up)
			return -EHOSTDOWN; /* its desktop is offline, in maintenance or silent */
		res->reused = true;
		return run(s, SQL_SESSION_TOUCH,
			   ARGS(ARG_I(req->now), ARG_T(req->client_address), ARG_T(res->session)),
			   NULL);
	}
	if (rc != -ENOENT)
		return rc;
	if (dedicated) {
		did = dedicated;
		res->reused = true; /* the same desktop as ever */
		goto session;
	}

	if ((rc = one_i64(s, SQL_SESSION_COUNT, ARGS(ARG_I(uid), ARG_I(pid)), &live)) < 0)
		return rc;
	if (live >= (max_sessions > 0 ? max_sessions : 1))
		return -EDQUOT;

	/* 3. an available desktop, held for this user */
	rc = row(s, SQL_PICK_DESKTOP, ARGS(ARG_I(pid), ARG_I(alive_since)), &r);
	if (rc < 0)
		return rc == -ENOENT ? -ENOSPC : rc;
	did = col_i64(s, r, 0);
	fill_target(s, r, 1, res);
	s->drv->done(r);
	rc = run(s, SQL_ASSIGNMENT_ADD,
		 ARGS(ARG_I(did), ARG_I(uid), ARG_I(kind == STORE_POOL_DEDICATED), ARG_I(req->now)),
		 NULL);
	if (rc == 0)
		rc = run(s, SQL_ASSIGNED, ARGS(ARG_I(did)), NULL);
	if (rc < 0)
		return rc;
session:
	return one_text(s, SQL_SESSION_ADD,
			ARGS(ARG_I(uid), ARG_I(did), ARG_T(req->client_address), ARG_I(req->now)),
			res->session, sizeof(res->session));
}

static int sdb_connect(struct store *base, const struct store_connect_req *req,
		       struct store_connect_res *res)
{
	struct sdb *s = S(base);
	int rc;
	memset(res, 0, sizeof(*res));
	if (!hr_name_ok(req->user) || !hr_name_ok(req->pool))
		return -ENOENT;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	return tx_end(s, connect_locked(s, req, res));
}

static int sdb_token_add(struct store *base, const uint8_t hash[STORE_TOKEN_HASH_LEN],
			 const char *user, int64_t expires)
{
	struct sdb *s = S(base);
	int rc;
	if (!hr_name_ok(user))
		return -ENOENT;
	if ((rc = tx_begin(s)) < 0)
		return rc;
	/* expired tokens go as new ones come: the table stays the size of live logins */
	rc = run(s, SQL_TOKEN_PURGE, ARGS(ARG_I(expires - 86400 * 366)), NULL);
	if (rc == 0)
		rc = touch(s, SQL_TOKEN_ADD,
			   ARGS(ARG_B(hash, STORE_TOKEN_HASH_LEN), ARG_I(expires), ARG_T(user)));
	return tx_end(s, rc);
}

static int sdb_token_user(struct store *base, const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t now,
			  char *user, size_t cap)
{
	return one_text(S(base), SQL_TOKEN_USER,
			ARGS(ARG_B(hash, STORE_TOKEN_HASH_LEN), ARG_I(now)), user, cap);
}

static int sdb_token_delete(struct store *base, const uint8_t hash[STORE_TOKEN_HASH_LEN])
{
	return change_tx(S(base), SQL_TOKEN_DELETE, ARGS(ARG_B(hash, STORE_TOKEN_HASH_LEN)), true);
}

/* Cell c of a listing's row: a C enum's name where the column holds one, else the text. */
static const char *list_cell(struct sdb *s, struct db_rows *r, enum store_list what,
			     const char *col, size_t c)
{
	if (what == STORE_LIST_DESKTOPS && strcmp(col, "state") == 0)
		return store_desktop_state_name((enum store_desktop_state)col_i64(s, r, c));
	if (what == STORE_LIST_POOLS && strcmp(col, "kind") == 0)
		return store_pool_kind_name((enum store_pool_kind)col_i64(s, r, c));
	if (what == STORE_LIST_POOLS && strcmp(col, "logoff") == 0)
		return store_logoff_name((enum store_logoff)col_i64(s, r, c));
	return s->drv->text(r, c);
}

static int sdb_list(struct store *base, enum store_list what, struct store_table *out)
{
	struct sdb *s = S(base);
	struct db_rows *r;
	size_t cap = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((unsigned)what >= STORE_LIST_COUNT_)
		return -EINVAL;
	if ((rc = query(s, SQL_LIST_ + what, NOARGS, &r)) < 0)
		return rc;
	out->ncols = s->drv->ncols(r);
	out->cols = calloc(out->ncols ? out->ncols : 1, sizeof(char *));
	if (!out->cols)
		goto nomem;
	for (size_t c = 0; c < out->ncols; c++)
		if (!(out->cols[c] = strdup(s->drv->col_name(r, c))))
			goto nomem;
	while ((rc = s->drv->next(r)) == 1) {
		char **cells;
		if (out->nrows == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **n = realloc(out->cells, ncap * out->ncols * sizeof(char *));
			if (!n)
				goto nomem;
			out->cells = n;
			cap = ncap;
		}
		cells = out->cells + out->nrows * out->ncols;
		for (size_t c = 0; c < out->ncols; c++)
			cells[c] = NULL; /* freeable if we stop */
		out->nrows++;
		for (size_t c = 0; c < out->ncols; c++)
			if (!(cells[c] = strdup(list_cell(s, r, what, out->cols[c], c))))
				goto nomem;
	}
	s->drv->done(r);
	if (rc < 0)
		store_table_free(out);
	return rc;
nomem:
	s->drv->done(r);
	store_table_free(out);
	return -ENOMEM;
}

static const struct store_impl store_domain_impl = {
	.name = "store",
	.close = sdb_close,
	.user_add = sdb_user_add,
	.user_set_password = sdb_user_set_password,
	.user_delete = sdb_user_delete,
	.user_password_hash = sdb_user_password_hash,
	.group_add = sdb_group_add,
	.group_member_add = sdb_group_member_add,
	.group_delete = sdb_group_delete,
	.group_member_remove = sdb_group_member_remove,
	.pool_add = sdb_pool_add,
	.pool_delete = sdb_pool_delete,
	.pool_set = sdb_pool_set,
	.pools_for_user = sdb_pools_for_user,
	.desktop_add = sdb_desktop_add,
	.desktop_set_maintenance = sdb_desktop_set_maintenance,
	.desktop_get = sdb_desktop_get,
	.entitle = sdb_entitle,
	.unentitle = sdb_unentitle,
	.assign = sdb_assign,
	.unassign = sdb_unassign,
	.desktop_delete = sdb_desktop_delete,
	.agent_register = sdb_agent_register,
	.agent_heartbeat = sdb_agent_heartbeat,
	.agents_expire = sdb_agents_expire,
	.session_events = sdb_session_events,
	.sessions_expire = sdb_sessions_expire,
	.connect = sdb_connect,
	.session_end = sdb_session_end,
	.session_disconnect = sdb_session_disconnect,
	.token_add = sdb_token_add,
	.token_user = sdb_token_user,
	.token_delete = sdb_token_delete,
	.list = sdb_list,
};

struct store *store_open(const char *uri)
{
	if (!uri || !uri[0]) {
		log_error("store: no store configured (store = sqlite:PATH)");
		return NULL;
	}
	if (strncmp(uri, "sqlite:", 7) == 0)
		return sdb_open(&store_sqlite_driver, uri + 7);
	if (strncmp(uri, "postgresql:", 11) == 0 || strncmp(uri, "postgres:", 9) == 0) {
#ifdef HIGHRISE_HAVE_LIBPQ
		return sdb_open(&store_pg_driver, uri);
#else
		log_error("store: this broker was built without libpq; use sqlite:PATH");
		return NULL;
#endif
	}
	if (strstr(uri, "://")) {
		log_error("store: unknown store '%.*s' (sqlite:PATH)", (int)strcspn(uri, ":"), uri);
		return NULL;
	}
	return sdb_open(&store_sqlite_driver, uri); /* a bare path is an SQLite file */
}

void store_close(struct store *s)
{
	if (s)
		s->impl->close(s);
}

const char *store_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -ENOENT:
		return "not found";
	case -EEXIST:
		return "already exists";
	case -EACCES:
		return "not entitled to this pool";
	case -ENOSPC:
		return "no desktop available";
	case -EHOSTDOWN:
		return "the desktop is offline or in maintenance";
	case -EDQUOT:
		return "too many sessions in this pool";
	case -EINVAL:
		return "invalid argument";
	case -EIO:
		return "database error";
	case -EBUSY:
		return "the pool has desktops: its kind cannot change";
	default:
		return hr_strerror(err);
	}
}

const char *store_desktop_state_name(enum store_desktop_state st)
{
	static const char *const names[] = {"available", "assigned", "in_use", "offline",
					    "maintenance"};
	return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "unknown";
}

const char *store_pool_kind_name(enum store_pool_kind k)
{
	return k == STORE_POOL_DEDICATED ? "dedicated" : "floating";
}

const char *store_logoff_name(enum store_logoff l)
{
	static const char *const names[] = {"never", "immediate", "after_idle"};
	return (unsigned)l < sizeof(names) / sizeof(names[0]) ? names[l] : "unknown";
}

const char *store_end_reason_name(enum store_end_reason r)
{
	static const char *const names[] = {"admin", "logoff", "idle_timeout"};
	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "logoff";
}

void store_table_free(struct store_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->cols && i < t->ncols; i++)
		free(t->cols[i]);
	for (size_t i = 0; t->cells && i < t->ncols * t->nrows; i++)
		free(t->cells[i]);
	free(t->cols);
	free(t->cells);
	t->cols = t->cells = NULL;
	t->ncols = t->nrows = 0;
}
