/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL driver of the store (store_db.h, libpq), for several
 * brokers sharing one database. Transactions are READ COMMITTED: the
 * store's SQL locks what it reads for a change (FOR UPDATE), takes a
 * transaction-scoped advisory lock on a pool before its connect decision
 * (so connects to one pool are serialized across every broker, and the
 * reads after the lock see every earlier decision) and one on the
 * migrations (so brokers starting together apply them once).
 *
 * Values go as text, but for blobs (binary bytea); the server infers the
 * types from the statement, as in psql.
 */
#include "log.h"
#include "store_db.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS  8
#define BYTEA_OID 17

struct db_rows {
	PGresult *r;
	int row, rows;
};

struct db {
	PGconn *c;
	struct db_rows rows;
};

/* Runs sql with n arguments; *out gets the result (the caller PQclear's it). */
static int run(struct db *d, const char *sql, const struct db_arg *a, size_t n, PGresult **out,
	       const char *what)
{
	char num[MAX_ARGS][24];
	const char *vals[MAX_ARGS];
	int lens[MAX_ARGS], fmts[MAX_ARGS];
	Oid types[MAX_ARGS];
	PGresult *r;
	ExecStatusType st;
	int rc = 0;

	if (n > MAX_ARGS) {
		log_error("store: %s: %zu arguments, at most %d", what, n, MAX_ARGS);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		types[i] = 0;
		lens[i] = 0;
		fmts[i] = 0;
		vals[i] = a[i].type == DB_NULL ? NULL : a[i].p;
		if (a[i].type == DB_INT) {
			snprintf(num[i], sizeof(num[i]), "%" PRId64, a[i].i);
			vals[i] = num[i];
		} else if (a[i].type == DB_BLOB) {
			types[i] = BYTEA_OID;
			lens[i] = (int)a[i].n;
			fmts[i] = 1;
		}
	}
	r = PQexecParams(d->c, sql, (int)n, types, vals, lens, fmts, 0);
	st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (state && strcmp(state, "23505") == 0) {
			rc = -EEXIST;
		} else if (state && strcmp(state, "23514") == 0) {
			rc = -EINVAL;
		} else {
			log_error("store: %s: %s", what, PQerrorMessage(d->c));
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

static int exec0(struct db *d, const char *sql)
{
	return run(d, sql, NULL, 0, NULL, sql);
}

static void pg_close(struct db *d)
{
	if (!d)
		return;
	PQfinish(d->c);
	free(d);
}

static struct db *pg_open(const char *uri, size_t nstmt)
{
	struct db *d = calloc(1, sizeof(*d));
	(void)nstmt; /* nothing is kept prepared: PQexecParams plans each call */
	if (!d)
		return NULL;
	d->c = PQconnectdb(uri);
	if (!d->c || PQstatus(d->c) != CONNECTION_OK) {
		/* the message names the host and why; the URI may hold a password: not logged */
		log_error("store: cannot connect to PostgreSQL: %s",
			  d->c ? PQerrorMessage(d->c) : "out of memory");
		goto fail;
	}
	if (exec0(d, "SET client_min_messages = warning") < 0)
		goto fail;
	return d;
fail:
	pg_close(d);
	return NULL;
}

static int pg_begin(struct db *d)
{
	return exec0(d, "BEGIN");
}

static void pg_rollback(struct db *d)
{
	exec0(d, "ROLLBACK");
}

static int pg_commit(struct db *d)
{
	int rc = exec0(d, "COMMIT");
	if (rc < 0)
		pg_rollback(d);
	return rc;
}

/* Several statements (a migration): the simple protocol, which allows them. */
static int pg_script(struct db *d, const char *sql, const char *what)
{
	PGresult *r = PQexec(d->c, sql);
	int rc = 0;
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_error("store: %s: %s", what, PQerrorMessage(d->c));
		rc = -EIO;
	}
	PQclear(r);
	return rc;
}

static int pg_exec(struct db *d, const struct db_stmt *st, const struct db_arg *a, size_t n,
		   int64_t *changes)
{
	PGresult *r;
	int rc = run(d, st->sql, a, n, &r, st->what);
	if (rc == 0 && changes)
		*changes = strtoll(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return rc;
}

/* The rows are all in the result: one struct db_rows is enough, as one query is read at a time. */
static int pg_query(struct db *d, const struct db_stmt *st, const struct db_arg *a, size_t n,
		    struct db_rows **rows)
{
	PGresult *r;
	int rc = run(d, st->sql, a, n, &r, st->what);
	if (rc < 0)
		return rc;
	d->rows = (struct db_rows){r, -1, PQntuples(r)};
	*rows = &d->rows;
	return 0;
}

static int pg_next(struct db_rows *r)
{
	if (r->row + 1 >= r->rows)
		return 0;
	r->row++;
	return 1;
}

static size_t pg_ncols(struct db_rows *r)
{
	return (size_t)PQnfields(r->r);
}

static const char *pg_col_name(struct db_rows *r, size_t col)
{
	return PQfname(r->r, (int)col);
}

static const char *pg_text(struct db_rows *r, size_t col)
{
	return PQgetvalue(r->r, r->row, (int)col); /* "" for NULL */
}

static int64_t pg_i64(struct db_rows *r, size_t col)
{
	return strtoll(PQgetvalue(r->r, r->row, (int)col), NULL, 10);
}

static void pg_done(struct db_rows *r)
{
	PQclear(r->r);
	r->r = NULL;
}

const struct db_driver store_pg_driver = {
	.name = "postgresql",
	.dialect = DB_POSTGRESQL,
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.script = pg_script,
	.exec = pg_exec,
	.query = pg_query,
	.next = pg_next,
	.ncols = pg_ncols,
	.col_name = pg_col_name,
	.text = pg_text,
	.i64 = pg_i64,
	.done = pg_done,
};
