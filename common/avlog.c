/* SPDX-License-Identifier: MIT */
#include "avlog.h"

#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include <libavutil/log.h>

#define AVLOG_LINE_MAX 1024

/* A line FFmpeg prints in pieces ("...", then "...\n") is joined here first. */
static _Thread_local char line_buf[AVLOG_LINE_MAX];
static _Thread_local size_t line_len;
static _Thread_local int print_prefix = 1;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

/* Returns the log.h level for an av_log level, or -1 to drop the message. */
static int map_level(int level)
{
	if (level <= AV_LOG_ERROR)
		return LOG_LEVEL_ERROR;
	if (level <= AV_LOG_WARNING)
		return LOG_LEVEL_WARN;
	if (level <= AV_LOG_VERBOSE)
		return LOG_LEVEL_DEBUG;
	return -1;
}

static void avlog_callback(void *avcl, int level, const char *fmt, va_list vl)
{
	int lvl = map_level(level);
	char piece[AVLOG_LINE_MAX];
	size_t n;

	if (lvl < 0 || lvl > (int)log_level_current)
		return;
	av_log_format_line2(avcl, level, fmt, vl, piece, sizeof(piece), &print_prefix);
	n = strlen(piece);
	if (n > sizeof(line_buf) - 1 - line_len)
		n = sizeof(line_buf) - 1 - line_len; /* an overlong line is cut, not split */
	memcpy(line_buf + line_len, piece, n);
	line_len += n;
	line_buf[line_len] = '\0';
	if (!print_prefix) /* av_log_format_line2 sets it once the piece ends the line */
		return;
	while (line_len > 0 && (line_buf[line_len - 1] == '\n' || line_buf[line_len - 1] == '\r'))
		line_buf[--line_len] = '\0';
	if (line_len > 0)
		log_write((enum log_level)lvl, "ffmpeg", 0, "%s", line_buf);
	line_len = 0;
}

static void install(void)
{
	av_log_set_callback(avlog_callback);
}

void avlog_install(void)
{
	pthread_once(&install_once, install);
}
