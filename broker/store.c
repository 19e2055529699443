/* SPDX-License-Identifier: MIT */
/* store_open picks the backend from the URI; the names of the model's enums. */
#include "error.h"
#include "log.h"
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct store *store_open(const char *uri)
{
	if (!uri || !uri[0]) {
		log_error("store: no store configured (store = sqlite:PATH)");
		return NULL;
	}
	if (strncmp(uri, "sqlite:", 7) == 0)
		return store_sqlite_impl.open(uri + 7);
	if (strncmp(uri, "postgresql:", 11) == 0 || strncmp(uri, "postgres:", 9) == 0) {
#ifdef HIGHRISE_HAVE_LIBPQ
		return store_pg_impl.open(uri);
#else
		log_error("store: this broker was built without libpq; use sqlite:PATH");
		return NULL;
#endif
	}
	if (strstr(uri, "://")) {
		log_error("store: unknown store '%.*s' (sqlite:PATH)", (int)strcspn(uri, ":"), uri);
		return NULL;
	}
	return store_sqlite_impl.open(uri); /* a bare path is an SQLite file */
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
