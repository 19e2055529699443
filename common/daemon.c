/* SPDX-License-Identifier: MIT */
/*
 * The daemons' shared start and stop (daemon.h).
 */
#include "daemon.h"
#include "config.h"
#include "log.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <string.h>

void daemon_usage(FILE *out, const char *prog, const char *about, const struct config_key *table)
{
	fprintf(out,
		"Usage: %s --config FILE [--KEY VALUE ...]\n"
		"\n"
		"%s\n"
		"\n"
		"Options:\n"
		"  --config FILE                  read settings from FILE (key = value lines)\n"
		"  --print-config                 print the effective settings and exit\n"
		"  --help                         this text\n"
		"  --version                      the version\n"
		"\n"
		"Settings (in the file as 'key = value', or as --key VALUE, which wins):\n",
		prog, about);
	config_print_help(table, out);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	log_info("%s: shutting down", strsignal((int)sig));
	event_base_loopbreak(arg);
}

int daemon_loop_open(struct daemon_loop *d, const char *prog, int log_level)
{
	memset(d, 0, sizeof(*d));
	log_open(prog, (enum log_level)log_level, LOG_TARGET_AUTO);
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	d->base = event_base_new();
	if (d->base) {
		d->sigint = evsignal_new(d->base, SIGINT, on_signal, d->base);
		d->sigterm = evsignal_new(d->base, SIGTERM, on_signal, d->base);
	}
	if (!d->sigint || !d->sigterm || event_add(d->sigint, NULL) < 0 ||
	    event_add(d->sigterm, NULL) < 0) {
		log_error("cannot create the event loop");
		daemon_loop_close(d);
		return -1;
	}
	return 0;
}

void daemon_loop_close(struct daemon_loop *d)
{
	if (d->sigint)
		event_free(d->sigint);
	if (d->sigterm)
		event_free(d->sigterm);
	if (d->base)
		event_base_free(d->base);
	libevent_global_shutdown();
	memset(d, 0, sizeof(*d));
}
