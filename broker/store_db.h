/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_STORE_DB_H
#define HIGHRISE_STORE_DB_H

/*
 * The SQL drivers under the broker's store. The store's domain (store.c:
 * the operations, the connect decision, the policies, validation) is
 * written once over this interface; its SQL is one table (store_sql.c). A
 * driver knows nothing of users, pools or desktops: it runs the text it is
 * given with the values it is given, on one connection.
 *
 * Statements come as a struct db_stmt: id (< the nstmt given to open; the
 * same id always comes with the same text, so a driver may keep it
 * prepared), the text with numbered placeholders spelt for the driver's
 * dialect (?1 or $1: store_sql.c writes them so), and what it does, for
 * log lines.
 *
 * Errors: 0 or a negative errno: -EEXIST a constraint the change broke
 * (SQLite: any constraint; PostgreSQL: a unique one), -EINVAL a check
 * constraint (PostgreSQL), -ENOMEM, -EIO anything else (logged with what).
 *
 * Threading: a struct db is used by one thread at a time. Arguments are
 * borrowed for the call; row values until the next next() or done().
 */

#include <stddef.h>
#include <stdint.h>

enum db_dialect {
	DB_SQLITE = 0,
	DB_POSTGRESQL,
	DB_DIALECT_COUNT_,
};

enum db_type {
	DB_NULL = 0,
	DB_INT,
	DB_TEXT, /* a NULL p is SQL NULL */
	DB_BLOB,
};

struct db_arg {
	enum db_type type;
	int64_t i;
	const void *p; /* text (NUL-terminated) or blob */
	size_t n;      /* blob bytes */
};

#define ARG_NULL                \
	{                       \
		.type = DB_NULL \
	}
#define ARG_I(v)                         \
	{                                \
		.type = DB_INT, .i = (v) \
	}
#define ARG_T(v)                          \
	{                                 \
		.type = DB_TEXT, .p = (v) \
	}
#define ARG_B(v, nb)                                 \
	{                                            \
		.type = DB_BLOB, .p = (v), .n = (nb) \
	}

struct db_stmt {
	size_t id;
	const char *sql;
	const char *what;
};

struct db;	/* one connection */
struct db_rows; /* the rows of one query */

struct db_driver {
	const char *name;
	enum db_dialect dialect;
	/* uri as the store was given it, without "sqlite:". NULL and a log line on failure. */
	struct db *(*open)(const char *uri, size_t nstmt);
	void (*close)(struct db *db); /* NULL: nothing */

	/*
	 * One transaction at a time. begin excludes what must be excluded for
	 * the store's rules: SQLite takes the write lock at once (BEGIN
	 * IMMEDIATE), so no two transactions ever interleave; PostgreSQL runs
	 * READ COMMITTED and the store locks rows (FOR UPDATE) and pools
	 * (advisory locks) itself. commit fails only with the transaction over
	 * (rolled back); rollback ends one that begin began, after a failure.
	 */
	int (*begin)(struct db *db);
	int (*commit)(struct db *db);
	void (*rollback)(struct db *db);

	/* Several statements, no arguments, nothing kept (a migration). */
	int (*script)(struct db *db, const char *sql, const char *what);
	/* One statement, its rows (if any) ignored; *changes (may be NULL): rows it changed. */
	int (*exec)(struct db *db, const struct db_stmt *st, const struct db_arg *a, size_t n,
		    int64_t *changes);
	/*
	 * One statement whose rows are read with next (1: a row, 0: no more,
	 * or an error) and the accessors, then done (always, once query
	 * returned 0). One query is read at a time: done comes before the next
	 * query (exec may run in between).
	 */
	int (*query)(struct db *db, const struct db_stmt *st, const struct db_arg *a, size_t n,
		     struct db_rows **rows);
	int (*next)(struct db_rows *r);
	size_t (*ncols)(struct db_rows *r);
	const char *(*col_name)(struct db_rows *r, size_t col);
	const char *(*text)(struct db_rows *r, size_t col); /* "" for SQL NULL */
	int64_t (*i64)(struct db_rows *r, size_t col);	    /* 0 for SQL NULL */
	void (*done)(struct db_rows *r);
};

extern const struct db_driver store_sqlite_driver;
#ifdef HIGHRISE_HAVE_LIBPQ
extern const struct db_driver store_pg_driver;
#endif

#endif
