/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_DAEMON_H
#define HIGHRISE_DAEMON_H

/*
 * What every daemon (highrise-broker, highrise-agent) does around its own
 * work, once: the usage text's common part, the log, SIGPIPE ignored (a
 * client that vanished is an EPIPE, not a death), libevent's threads, the
 * event loop, and SIGINT or SIGTERM ending that loop with a log line.
 *
 *   struct daemon_loop d;
 *   if (daemon_loop_open(&d, "highrise-broker", cfg.log_level) < 0) ...
 *   thing = thing_new(d.base, &cfg);
 *   event_base_dispatch(d.base);        // until SIGINT or SIGTERM
 *   thing_free(thing);
 *   daemon_loop_close(&d);
 *
 * The signals stay caught until daemon_loop_close: a second one during a
 * shutdown grace loop ends that loop too.
 */

#include <stdio.h>

struct config_key;
struct event_base;
struct event;

struct daemon_loop {
	struct event_base *base;
	struct event *sigint, *sigterm;
};

/*
 * "Usage: PROG --config FILE [--KEY VALUE ...]", about (one paragraph, its
 * own line breaks), the options config_load_cmdline takes and every key of
 * table; the program's examples follow.
 */
void daemon_usage(FILE *out, const char *prog, const char *about, const struct config_key *table);

/* Opens the log (log.h's level), then the rest above. 0, or -1 (logged). */
int daemon_loop_open(struct daemon_loop *d, const char *prog, int log_level);

/* Frees the signals and the loop; libevent's globals too. */
void daemon_loop_close(struct daemon_loop *d);

#endif
