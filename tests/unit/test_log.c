/* SPDX-License-Identifier: MIT */
/*
 * common/log: level filtering before formatting, file and line, truncation,
 * level names, the stderr line format, target selection and whole lines
 * under concurrency.
 */
#include "check.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What the capturing sink saw last, and how often it was called. */
struct capture {
	pthread_mutex_t lock;
	int calls;
	enum log_level level;
	char file[256];
	int line;
	char msg[4096];
};

static void capture_sink(enum log_level level, const char *file, int line, const char *msg,
			 void *userdata)
{
	struct capture *c = userdata;

	pthread_mutex_lock(&c->lock);
	c->calls++;
	c->level = level;
	snprintf(c->file, sizeof(c->file), "%s", file);
	c->line = line;
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
	pthread_mutex_unlock(&c->lock);
}

static void capture_reset(struct capture *c)
{
	c->calls = 0;
	c->level = (enum log_level) - 1;
	c->file[0] = '\0';
	c->line = 0;
	c->msg[0] = '\0';
}

static int evaluated;

static int side_effect(void)
{
	evaluated++;
	return 42;
}

static void test_level_filter(void)
{
	struct capture c = {.lock = PTHREAD_MUTEX_INITIALIZER};

	capture_reset(&c);
	log_open("test", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	log_set_sink(capture_sink, &c);
	CHECK_INT_EQ(log_get_level(), LOG_LEVEL_INFO);

	/* Below the level: not delivered, and the arguments are never evaluated. */
	evaluated = 0;
	log_debug("debug %d", side_effect());
	CHECK_INT_EQ(c.calls, 0);
	CHECK_INT_EQ(evaluated, 0);

	/* log_write itself filters too (callers that bypass the macros). */
	log_write(LOG_LEVEL_DEBUG, __FILE__, __LINE__, "direct debug");
	CHECK_INT_EQ(c.calls, 0);

	log_info("info %d", side_effect());
	CHECK_INT_EQ(c.calls, 1);
	CHECK_INT_EQ(evaluated, 1);
	CHECK_INT_EQ(c.level, LOG_LEVEL_INFO);
	CHECK_STR_EQ(c.msg, "info 42");

	log_warn("warn");
	CHECK_INT_EQ(c.calls, 2);
	CHECK_INT_EQ(c.level, LOG_LEVEL_WARN);
	log_error("error %s", "x");
	CHECK_INT_EQ(c.calls, 3);
	CHECK_INT_EQ(c.level, LOG_LEVEL_ERROR);
	CHECK_STR_EQ(c.msg, "error x");

	/* At error only warn and info are dropped as well. */
	log_set_level(LOG_LEVEL_ERROR);
	capture_reset(&c);
	log_warn("w");
	log_info("i");
	log_debug("d");
	CHECK_INT_EQ(c.calls, 0);
	log_error("e");
	CHECK_INT_EQ(c.calls, 1);

	/* At debug everything passes and the argument is evaluated once. */
	log_set_level(LOG_LEVEL_DEBUG);
	capture_reset(&c);
	evaluated = 0;
	log_debug("debug %d", side_effect());
	CHECK_INT_EQ(c.calls, 1);
	CHECK_INT_EQ(evaluated, 1);
	CHECK_INT_EQ(c.level, LOG_LEVEL_DEBUG);
	CHECK_STR_EQ(c.msg, "debug 42");

	/* Levels past debug clamp to debug. */
	log_set_level((enum log_level)17);
	CHECK_INT_EQ(log_get_level(), LOG_LEVEL_DEBUG);

	log_set_sink(NULL, NULL);
}

static void test_file_and_line(void)
{
	struct capture c = {.lock = PTHREAD_MUTEX_INITIALIZER};
	int line;

	capture_reset(&c);
	log_open("test", LOG_LEVEL_DEBUG, LOG_TARGET_STDERR);
	log_set_sink(capture_sink, &c);
	line = __LINE__ + 1;
	log_warn("where am I");
	CHECK_INT_EQ(c.calls, 1);
	CHECK_STR_EQ(c.file, __FILE__);
	CHECK_INT_EQ(c.line, line);
	CHECK(strstr(c.file, "test_log.c") != NULL);
	log_set_sink(NULL, NULL);
}

static void test_truncation(void)
{
	struct capture c = {.lock = PTHREAD_MUTEX_INITIALIZER};
	char big[3001];
	size_t n;

	capture_reset(&c);
	log_open("test", LOG_LEVEL_DEBUG, LOG_TARGET_STDERR);
	log_set_sink(capture_sink, &c);

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("%s", big);
	n = strlen(c.msg);
	CHECK_INT_EQ(n, 2047);
	CHECK(n >= 3 && strcmp(c.msg + n - 3, "...") == 0);
	CHECK(strspn(c.msg, "x") == n - 3);

	/* 2047 bytes fit exactly: no marker. */
	big[2047] = '\0';
	log_info("%s", big);
	CHECK_INT_EQ(strlen(c.msg), 2047);
	CHECK(strspn(c.msg, "x") == 2047);

	/* 2048 bytes are one too many. */
	big[2047] = 'x';
	big[2048] = '\0';
	log_info("%s", big);
	n = strlen(c.msg);
	CHECK_INT_EQ(n, 2047);
	CHECK(n >= 3 && strcmp(c.msg + n - 3, "...") == 0);
	log_set_sink(NULL, NULL);
}

static void test_level_names(void)
{
	for (int l = LOG_LEVEL_ERROR; l <= LOG_LEVEL_DEBUG; l++)
		CHECK_INT_EQ(log_level_parse(log_level_name((enum log_level)l)), l);
	CHECK_STR_EQ(log_level_name(LOG_LEVEL_ERROR), "error");
	CHECK_STR_EQ(log_level_name(LOG_LEVEL_WARN), "warn");
	CHECK_STR_EQ(log_level_name(LOG_LEVEL_INFO), "info");
	CHECK_STR_EQ(log_level_name(LOG_LEVEL_DEBUG), "debug");
	CHECK_STR_EQ(log_level_name((enum log_level)9), "unknown");
	CHECK_STR_EQ(log_level_name((enum log_level) - 1), "unknown");
	CHECK_INT_EQ(log_level_parse("warning"), LOG_LEVEL_WARN);
	CHECK_INT_EQ(log_level_parse("verbose"), -1);
	CHECK_INT_EQ(log_level_parse(""), -1);
	CHECK_INT_EQ(log_level_parse("INFO"), -1); /* names are lower case, as printed */
	CHECK_INT_EQ(log_level_parse(NULL), -1);
}

/* Redirects stderr into a temp file; stderr_end puts it back and returns what was written. */
struct redirect {
	char path[64];
	int fd, saved;
};

static int stderr_begin(struct redirect *r)
{
	snprintf(r->path, sizeof(r->path), "/tmp/test_log.XXXXXX");
	r->fd = mkstemp(r->path);
	if (r->fd < 0)
		return -errno;
	fflush(stderr);
	r->saved = dup(STDERR_FILENO);
	if (r->saved < 0 || dup2(r->fd, STDERR_FILENO) < 0) {
		close(r->fd);
		unlink(r->path);
		return -errno;
	}
	return 0;
}

/* Returns a malloc'ed copy of the file (NUL-terminated); *len its size. */
static char *stderr_end(struct redirect *r, size_t *len)
{
	char *buf = NULL;
	off_t size;

	fflush(stderr);
	dup2(r->saved, STDERR_FILENO);
	close(r->saved);
	size = lseek(r->fd, 0, SEEK_END);
	if (size >= 0) {
		buf = malloc((size_t)size + 1);
		if (buf && pread(r->fd, buf, (size_t)size, 0) == (ssize_t)size) {
			buf[size] = '\0';
			*len = (size_t)size;
		} else {
			free(buf);
			buf = NULL;
		}
	}
	close(r->fd);
	unlink(r->path);
	return buf;
}

/* "2026-11-27T09:15:32.123Z" */
static bool is_timestamp(const char *s)
{
	static const char pattern[] = "dddd-dd-ddTdd:dd:dd.dddZ";

	for (size_t i = 0; i < sizeof(pattern) - 1; i++) {
		if (pattern[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pattern[i])
			return false;
	}
	return true;
}

static void test_stderr_format(void)
{
	struct redirect r;
	char want[512], *out;
	size_t len = 0;
	int line;

	log_open("test", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	CHECK_INT_EQ(log_get_target(), LOG_TARGET_STDERR);
	if (stderr_begin(&r) < 0) {
		CHECK(!"cannot redirect stderr");
		return;
	}
	line = __LINE__ + 1;
	log_warn("message %d", 7);
	log_debug("not shown");
	out = stderr_end(&r, &len);
	CHECK(out != NULL);
	if (!out)
		return;

	/* exactly one line: "<timestamp> test[PID] warn FILE:LINE: message 7\n" */
	snprintf(want, sizeof(want), " test[%ld] warn %s:%d: message 7\n", (long)getpid(), __FILE__,
		 line);
	CHECK(len > 24);
	CHECK(is_timestamp(out));
	if (len > 24)
		CHECK_STR_EQ(out + 24, want);
	/* The file as the build names it; its repository-relative tail is always there. */
	snprintf(want, sizeof(want), "tests/unit/test_log.c:%d: message 7\n", line);
	CHECK(len >= strlen(want) && strcmp(out + len - strlen(want), want) == 0);
	free(out);
}

static void test_target_auto(void)
{
	struct redirect r;
	struct stat st;
	char js[64], *out;
	size_t len = 0;

	unsetenv("JOURNAL_STREAM");
	log_open("test", LOG_LEVEL_INFO, LOG_TARGET_AUTO);
	CHECK_INT_EQ(log_get_target(), LOG_TARGET_STDERR);

	setenv("JOURNAL_STREAM", "not-a-pair", 1);
	log_open("test", LOG_LEVEL_INFO, LOG_TARGET_AUTO);
	CHECK_INT_EQ(log_get_target(), LOG_TARGET_STDERR);

	if (stderr_begin(&r) < 0) {
		CHECK(!"cannot redirect stderr");
		return;
	}
	CHECK_INT_EQ(fstat(STDERR_FILENO, &st), 0);

	/* Same device, another inode: stderr is not the journal's stream. */
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", js, 1);
	log_open("test", LOG_LEVEL_INFO, LOG_TARGET_AUTO);
	CHECK_INT_EQ(log_get_target(), LOG_TARGET_STDERR);

	/*
	 * Matching dev:inode, as systemd sets it: the journal, if journald is
	 * there to take the lines. sd_journal_send() drops them silently when
	 * its socket is missing, so then log_open must stay on stderr.
	 */
	bool have_journal = access("/run/systemd/journal/socket", W_OK) == 0;
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_open("test", LOG_LEVEL_INFO, LOG_TARGET_AUTO);
	CHECK_INT_EQ(log_get_target(), have_journal ? LOG_TARGET_JOURNALD : LOG_TARGET_STDERR);
	log_open("test", LOG_LEVEL_INFO, LOG_TARGET_JOURNALD);
	CHECK_INT_EQ(log_get_target(), have_journal ? LOG_TARGET_JOURNALD : LOG_TARGET_STDERR);

	/* Either way the line is not lost: here it must have reached stderr. */
	log_warn("journal fallback");
	out = stderr_end(&r, &len);
	CHECK(out != NULL);
	if (out && !have_journal)
		CHECK(strstr(out, " warn ") && strstr(out, ": journal fallback\n"));
	free(out);

	/* An explicit target wins over the environment. */
	log_open("test", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	CHECK_INT_EQ(log_get_target(), LOG_TARGET_STDERR);
	unsetenv("JOURNAL_STREAM");
}

#define THREADS		 4
#define LINES_PER_THREAD 2000
#define PAYLOAD		 900

struct worker {
	pthread_t thread;
	int id;
};

static void *log_worker(void *arg)
{
	struct worker *w = arg;
	char payload[PAYLOAD + 1];

	memset(payload, 'a' + w->id, PAYLOAD);
	payload[PAYLOAD] = '\0';
	for (int i = 0; i < LINES_PER_THREAD; i++)
		log_info("T%d L%d %s", w->id, i, payload);
	return NULL;
}

static void run_workers(void)
{
	struct worker w[THREADS];

	for (int t = 0; t < THREADS; t++) {
		w[t].id = t;
		pthread_create(&w[t].thread, NULL, log_worker, &w[t]);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(w[t].thread, NULL);
}

/* Each "T<t> L<i> <payload>" must appear whole, once. */
static void test_concurrent_stderr(void)
{
	static unsigned char seen[THREADS][LINES_PER_THREAD];
	struct redirect r;
	char *out, *p, *nl;
	size_t len = 0;
	int lines = 0, bad = 0, dup = 0, missing = 0;

	memset(seen, 0, sizeof(seen));
	log_open("test", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	if (stderr_begin(&r) < 0) {
		CHECK(!"cannot redirect stderr");
		return;
	}
	run_workers();
	out = stderr_end(&r, &len);
	CHECK(out != NULL);
	if (!out)
		return;
	/* memchr, not strchr: ASan's strict_string_checks would scan all 7 MB per line */
	for (p = out; (nl = memchr(p, '\n', len - (size_t)(p - out))) != NULL; p = nl + 1) {
		const char *m;
		int t, i, off = 0;

		*nl = '\0';
		lines++;
		m = strstr(p, ": T");
		if (!is_timestamp(p) || !m || sscanf(m, ": T%d L%d %n", &t, &i, &off) != 2 ||
		    t < 0 || t >= THREADS || i < 0 || i >= LINES_PER_THREAD ||
		    strlen(m + off) != PAYLOAD ||
		    strspn(m + off, (char[]){'a' + t, 0}) != PAYLOAD) {
			bad++;
			continue;
		}
		if (seen[t][i]++)
			dup++;
	}
	CHECK_INT_EQ(*p, '\0'); /* nothing after the last newline */
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < LINES_PER_THREAD; i++)
			missing += !seen[t][i];
	CHECK_INT_EQ(lines, THREADS * LINES_PER_THREAD);
	CHECK_INT_EQ(bad, 0);
	CHECK_INT_EQ(dup, 0);
	CHECK_INT_EQ(missing, 0);
	free(out);
}

/* Sinks are called from the logging threads; every message arrives whole. */
struct count_sink {
	pthread_mutex_t lock;
	int calls, intact;
};

static void counting_sink(enum log_level level, const char *file, int line, const char *msg,
			  void *userdata)
{
	struct count_sink *s = userdata;
	int t, i, off = 0;
	bool ok = level == LOG_LEVEL_INFO && file && line > 0 &&
		  sscanf(msg, "T%d L%d %n", &t, &i, &off) == 2 && t >= 0 && t < THREADS &&
		  strlen(msg + off) == PAYLOAD;

	pthread_mutex_lock(&s->lock);
	s->calls++;
	s->intact += ok;
	pthread_mutex_unlock(&s->lock);
}

static void test_concurrent_sink(void)
{
	struct count_sink s = {.lock = PTHREAD_MUTEX_INITIALIZER};

	log_open("test", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	log_set_sink(counting_sink, &s);
	run_workers();
	log_set_sink(NULL, NULL);
	CHECK_INT_EQ(s.calls, THREADS * LINES_PER_THREAD);
	CHECK_INT_EQ(s.intact, THREADS * LINES_PER_THREAD);
}

int main(void)
{
	test_level_filter();
	test_file_and_line();
	test_truncation();
	test_level_names();
	test_stderr_format();
	test_target_auto();
	test_concurrent_stderr();
	test_concurrent_sink();
	return check_done("test_log");
}
