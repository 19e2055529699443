/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_LOG_H
#define HIGHRISE_LOG_H

/*
 * One logging module for every program (STYLE.md "Logging").
 *
 * log_error/warn/info/debug take a printf format, checked by the compiler,
 * and record the file and line. The level is tested before anything is
 * formatted, so a disabled log_debug costs one comparison.
 *
 * Messages go to stderr ("2026-11-27T09:15:32.123Z agent[1234] warn proto/tls.c:88: ...")
 * or to journald (with PRIORITY, CODE_FILE and CODE_LINE fields). Never pass
 * secrets (passwords, tokens, private keys, tickets) to these functions.
 *
 * Thread safety: log_* may be called from any thread at any time. log_open,
 * log_set_level and log_set_target are meant for start-up, before threads.
 */

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

enum log_target {
	LOG_TARGET_AUTO = 0, /* journald when stderr is connected to the journal, else stderr */
	LOG_TARGET_STDERR,
	LOG_TARGET_JOURNALD, /* stderr instead when journald's socket is missing */
};

/* The program name that prefixes every line ("highrise-agent"). Borrowed: keep it alive. */
void log_open(const char *ident, enum log_level level, enum log_target target);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
enum log_target log_get_target(void);

/* "error", "warn", "info", "debug" <-> enum; log_level_parse returns -1 for an unknown name. */
const char *log_level_name(enum log_level level);
int log_level_parse(const char *name);

/*
 * A sink replaces stderr/journald, for tests that assert what was logged.
 * The message has no trailing newline. NULL restores the normal target.
 */
typedef void (*log_sink_fn)(enum log_level level, const char *file, int line, const char *msg,
			    void *userdata);
void log_set_sink(log_sink_fn fn, void *userdata);

extern enum log_level log_level_current;

void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void log_vwrite(enum log_level level, const char *file, int line, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

#define LOG_AT(lvl, ...)                                                   \
	do {                                                               \
		if ((lvl) <= log_level_current)                            \
			log_write((lvl), __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

#define log_error(...) LOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  LOG_AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
