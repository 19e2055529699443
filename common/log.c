/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

enum log_level log_level_current = LOG_LEVEL_INFO;

static const char *log_ident = "highrise";
static enum log_target log_target_current = LOG_TARGET_STDERR;
static log_sink_fn log_sink;
static void *log_sink_userdata;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static const int level_priorities[] = {
	[LOG_LEVEL_ERROR] = LOG_ERR,
	[LOG_LEVEL_WARN] = LOG_WARNING,
	[LOG_LEVEL_INFO] = LOG_INFO,
	[LOG_LEVEL_DEBUG] = LOG_DEBUG,
};

/*
 * systemd sets JOURNAL_STREAM to "dev:inode" of the stream it connected to
 * stderr; logging natively then keeps levels and code locations as fields.
 */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long long dev, ino;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/*
 * sd_journal_send() reports success and drops the line when journald's
 * socket does not exist (it "fails silently if the journal is not
 * available"), so the fallback in log_vwrite cannot catch that case: check
 * once here instead.
 */
static int journal_available(void)
{
	return access("/run/systemd/journal/socket", W_OK) == 0;
}

void log_open(const char *ident, enum log_level level, enum log_target target)
{
	if (ident)
		log_ident = ident;
	log_set_level(level);
	if (target == LOG_TARGET_AUTO)
		target = stderr_is_journal() ? LOG_TARGET_JOURNALD : LOG_TARGET_STDERR;
	if (target == LOG_TARGET_JOURNALD && !journal_available())
		target = LOG_TARGET_STDERR;
	log_target_current = target;
}

void log_set_level(enum log_level level)
{
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	log_level_current = level;
}

enum log_level log_get_level(void)
{
	return log_level_current;
}

enum log_target log_get_target(void)
{
	return log_target_current;
}

const char *log_level_name(enum log_level level)
{
	if ((unsigned)level > LOG_LEVEL_DEBUG)
		return "unknown";
	return level_names[level];
}

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (name && strcmp(name, level_names[i]) == 0)
			return (int)i;
	if (name && strcmp(name, "warning") == 0)
		return LOG_LEVEL_WARN;
	return -1;
}

void log_set_sink(log_sink_fn fn, void *userdata)
{
	pthread_mutex_lock(&log_lock);
	log_sink = fn;
	log_sink_userdata = userdata;
	pthread_mutex_unlock(&log_lock);
}

static void write_stderr(enum log_level level, const char *file, int line, const char *msg)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf per line: stdio locks the stream, so lines never interleave. */
	fprintf(stderr, "%s.%03ldZ %s[%ld] %s %s:%d: %s\n", stamp, ts.tv_nsec / 1000000, log_ident,
		(long)getpid(), level_names[level], file, line, msg);
}

void log_vwrite(enum log_level level, const char *file, int line, const char *fmt, va_list ap)
{
	char buf[2048];
	int n;

	if (level > log_level_current)
		return;
	if ((unsigned)level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		snprintf(buf, sizeof(buf), "(unformattable log message: %s)", fmt);
	else if ((size_t)n >= sizeof(buf))
		memcpy(buf + sizeof(buf) - 4, "...", 4); /* truncated, and says so */

	pthread_mutex_lock(&log_lock);
	log_sink_fn sink = log_sink;
	void *ud = log_sink_userdata;
	pthread_mutex_unlock(&log_lock);
	if (sink) {
		sink(level, file, line, buf, ud);
		return;
	}
	if (log_target_current == LOG_TARGET_JOURNALD) {
		char code_line[32];
		snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
		if (sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%d", level_priorities[level],
				    "CODE_FILE=%s", file, "%s", code_line, "SYSLOG_IDENTIFIER=%s",
				    log_ident, NULL) >= 0)
			return;
		/* journald went away: fall through to stderr rather than lose the line */
	}
	write_stderr(level, file, line, buf);
}

void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(level, file, line, fmt, ap);
	va_end(ap);
}
