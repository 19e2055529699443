/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_AVLOG_H
#define HIGHRISE_AVLOG_H

/*
 * Routes FFmpeg's av_log (libavcodec, libswscale, libavutil and, through
 * them, x264) into log.h, with "ffmpeg" as the file name:
 *
 *   AV_LOG_PANIC..AV_LOG_ERROR -> log_error
 *   AV_LOG_WARNING             -> log_warn
 *   AV_LOG_INFO, AV_LOG_VERBOSE -> log_debug (x264's banner and statistics)
 *   AV_LOG_DEBUG, AV_LOG_TRACE  -> dropped
 *
 * Lines that FFmpeg prints in pieces are joined (per thread) first.
 *
 * avlog_install() replaces the process-wide av_log callback; it is
 * idempotent and may be called from any thread (encoder_new calls it).
 */

void avlog_install(void);

#endif
