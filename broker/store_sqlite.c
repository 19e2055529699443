/* SPDX-License-Identifier: MIT */
/*
 * The SQLite driver of the store (store_db.h): one file, WAL journal
 * (readers never wait for the writer), foreign keys on, a busy timeout so
 * concurrent writers queue instead of failing, every statement prepared
 * once per connection (on first use).
 *
 * Transactions start with BEGIN IMMEDIATE: the write lock is taken before
 * the first read, so two connects can never both read "available" for the
 * same desktop (a deferred transaction would read, then fail to upgrade).
 * That is why the store needs no row or pool locks here.
 */
#include "log.h"
#include "store_db.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>

#define BUSY_TIMEOUT_MS 10000

struct db_rows {
	struct db *db;
	sqlite3_stmt *q;
	const char *what;
};

struct db {
	sqlite3 *db;
	size_t nstmt;
	sqlite3_stmt **st;
	struct db_rows rows; /* the one query being read */
	sqlite3_stmt *begin, *commit, *rollback;
};

static int db_err(struct db *d, const char *what)
{
	log_error("store: %s: %s", what, sqlite3_errmsg(d->db));
	return -EIO;
}

/* A step's failure as the store's error: a constraint is -EEXIST. */
static int step_err(struct db *d, int rc, const char *what)
{
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return -EEXIST;
	return db_err(d, what);
}

static void sq_close(struct db *d)
{
	if (!d)
		return;
	for (size_t i = 0; d->st && i < d->nstmt; i++)
		sqlite3_finalize(d->st[i]);
	sqlite3_finalize(d->begin);
	sqlite3_finalize(d->commit);
	sqlite3_finalize(d->rollback);
	sqlite3_close(d->db);
	free(d->st);
	free(d);
}

static int prepare(struct db *d, const char *sql, sqlite3_stmt **q, const char *what)
{
	if (sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT, q, NULL) == SQLITE_OK)
		return 0;
	log_error("store: cannot prepare %s: %s", what, sqlite3_errmsg(d->db));
	return -EIO;
}

static struct db *sq_open(const char *path, size_t nstmt)
{
	struct db *d = calloc(1, sizeof(*d));
	char *msg = NULL;

	if (!d)
		return NULL;
	d->nstmt = nstmt;
	d->st = calloc(nstmt, sizeof(*d->st));
	if (!d->st)
		goto fail;
	if (sqlite3_open_v2(path, &d->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		log_error("store: cannot open %s: %s", path,
			  d->db ? sqlite3_errmsg(d->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(d->db, BUSY_TIMEOUT_MS);
	if (sqlite3_exec(d->db,
			 "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; "
			 "PRAGMA synchronous = NORMAL;",
			 NULL, NULL, &msg) != SQLITE_OK) {
		log_error("store: %s: %s", path, msg);
		sqlite3_free(msg);
		goto fail;
	}
	if (prepare(d, "BEGIN IMMEDIATE", &d->begin, "begin") < 0 ||
	    prepare(d, "COMMIT", &d->commit, "commit") < 0 ||
	    prepare(d, "ROLLBACK", &d->rollback, "rollback") < 0)
		goto fail;
	return d;
fail:
	sq_close(d);
	return NULL;
}

/* Runs one of the transaction statements. */
static int step_once(sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	return rc;
}

/*
 * Writers of this process take turns on a mutex before BEGIN IMMEDIATE:
 * SQLite's busy handler would otherwise make the losers sleep (1, 2, 5, 10 ...
 * ms) while the lock is free again within a millisecond, which is most of
 * the broker's p99 at 64 clients (bench/broker). Other processes on the same
 * file still queue through the busy timeout.
 */
static pthread_mutex_t write_turn = PTHREAD_MUTEX_INITIALIZER;

static int sq_begin(struct db *d)
{
	pthread_mutex_lock(&write_turn);
	if (step_once(d->begin) == SQLITE_DONE)
		return 0;
	pthread_mutex_unlock(&write_turn);
	return db_err(d, "begin");
}

static void sq_rollback(struct db *d)
{
	if (sqlite3_get_autocommit(d->db) == 0)
		step_once(d->rollback);
	pthread_mutex_unlock(&write_turn);
}

static int sq_commit(struct db *d)
{
	int rc;
	if (step_once(d->commit) == SQLITE_DONE) {
		pthread_mutex_unlock(&write_turn);
		return 0;
	}
	rc = db_err(d, "commit");
	sq_rollback(d);
	return rc;
}

static int sq_script(struct db *d, const char *sql, const char *what)
{
	char *msg = NULL;
	if (sqlite3_exec(d->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	log_error("store: %s: %s", what, msg ? msg : sqlite3_errmsg(d->db));
	sqlite3_free(msg);
	return -EIO;
}

/* Statement st, prepared once, reset and bound to a. NULL on failure (logged). */
static sqlite3_stmt *bind(struct db *d, const struct db_stmt *st, const struct db_arg *a, size_t n)
{
	sqlite3_stmt *q;

	if (st->id >= d->nstmt)
		return NULL;
	if (!d->st[st->id] && prepare(d, st->sql, &d->st[st->id], st->what) < 0)
		return NULL;
	q = d->st[st->id];
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	for (size_t i = 0; i < n; i++) {
		int k = (int)i + 1, rc = SQLITE_OK;
		switch (a[i].type) {
		case DB_NULL:
			break;
		case DB_INT:
			rc = sqlite3_bind_int64(q, k, a[i].i);
			break;
		case DB_TEXT:
			if (a[i].p)
				rc = sqlite3_bind_text(q, k, a[i].p, -1, SQLITE_STATIC);
			break;
		case DB_BLOB:
			rc = sqlite3_bind_blob(q, k, a[i].p, (int)a[i].n, SQLITE_STATIC);
			break;
		}
		if (rc != SQLITE_OK) {
			db_err(d, st->what);
			return NULL;
		}
	}
	return q;
}

static int sq_exec(struct db *d, const struct db_stmt *st, const struct db_arg *a, size_t n,
		   int64_t *changes)
{
	sqlite3_stmt *q = bind(d, st, a, n);
	int rc;
	if (!q)
		return -EIO;
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return step_err(d, rc, st->what);
	if (changes)
		*changes = sqlite3_changes64(d->db);
	return 0;
}

static int sq_query(struct db *d, const struct db_stmt *st, const struct db_arg *a, size_t n,
		    struct db_rows **rows)
{
	sqlite3_stmt *q = bind(d, st, a, n);
	if (!q)
		return -EIO;
	d->rows = (struct db_rows){d, q, st->what};
	*rows = &d->rows;
	return 0;
}

static int sq_next(struct db_rows *r)
{
	int rc = sqlite3_step(r->q);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return step_err(r->db, rc, r->what);
}

static size_t sq_ncols(struct db_rows *r)
{
	return (size_t)sqlite3_column_count(r->q);
}

static const char *sq_col_name(struct db_rows *r, size_t col)
{
	return sqlite3_column_name(r->q, (int)col);
}

static const char *sq_text(struct db_rows *r, size_t col)
{
	const unsigned char *t = sqlite3_column_text(r->q, (int)col);
	return t ? (const char *)t : "";
}

static int64_t sq_i64(struct db_rows *r, size_t col)
{
	return sqlite3_column_int64(r->q, (int)col);
}

static void sq_done(struct db_rows *r)
{
	sqlite3_reset(r->q);
}

const struct db_driver store_sqlite_driver = {
	.name = "sqlite",
	.dialect = DB_SQLITE,
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.script = sq_script,
	.exec = sq_exec,
	.query = sq_query,
	.next = sq_next,
	.ncols = sq_ncols,
	.col_name = sq_col_name,
	.text = sq_text,
	.i64 = sq_i64,
	.done = sq_done,
};
