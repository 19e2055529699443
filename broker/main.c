/* SPDX-License-Identifier: MIT */
/*
 * highrise-broker: parses options, loads the configuration, wires the
 * broker to an event loop and runs it until SIGINT or SIGTERM.
 */
#include "broker.h"
#include "config.h"
#include "log.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: highrise-broker --config FILE [--KEY VALUE ...]\n"
		"\n"
		"Signs users in, hands them desktops from pools with a one-use connect\n"
		"ticket, keeps track of agents and sessions. An HTTPS JSON API (TLS 1.3),\n"
		"documented in docs/broker-api.md.\n"
		"\n"
		"Options:\n"
		"  --config FILE                  read settings from FILE (key = value lines)\n"
		"  --print-config                 print the effective settings and exit\n"
		"  --help                         this text\n"
		"  --version                      the version\n"
		"\n"
		"Settings (in the file as 'key = value', or as --key VALUE, which wins):\n");
	config_print_help(broker_config_table, out);
	fprintf(out,
		"\n"
		"Example:\n"
		"  highrise-broker --config /etc/highrise/broker.conf\n"
		"  highrise-broker --store sqlite:/var/lib/highrise/broker.db \\\n"
		"      --tls.cert_file broker.pem --tls.key_file broker.key --tls.ca_file ca.pem "
		"\\\n"
		"      --ticket.key_file ticket.key\n"
		"\n"
		"See docs/operations.md for the configuration file and certificates.\n");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	log_info("%s: shutting down", strsignal((int)sig));
	event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
	struct broker_cfg cfg;
	struct event_base *base;
	struct event *sigint, *sigterm;
	struct broker *b;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	rc = config_cmdline_finish(
		config_load_cmdline(broker_config_table, &cfg, argc, argv, "highrise-broker"),
		broker_config_table, &cfg, "highrise-broker", HIGHRISE_VERSION, usage);
	if (rc >= 0)
		return rc;
	log_open("highrise-broker", (enum log_level)cfg.log_level, LOG_TARGET_AUTO);
	signal(SIGPIPE, SIG_IGN); /* a client that vanished is an EPIPE, not a death */
	evthread_use_pthreads();

	base = event_base_new();
	if (!base) {
		log_error("cannot create the event loop");
		config_free(broker_config_table, &cfg);
		return 1;
	}
	b = broker_new(base, &cfg);
	config_free(broker_config_table, &cfg);
	if (!b) {
		event_base_free(base);
		libevent_global_shutdown();
		return 1;
	}
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	event_base_dispatch(base);

	broker_free(b);
	event_free(sigint);
	event_free(sigterm);
	event_base_free(base);
	libevent_global_shutdown();
	log_info("stopped");
	return 0;
}
