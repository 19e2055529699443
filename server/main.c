/* SPDX-License-Identifier: MIT */
/*
 * highrise-agent: parses options, loads the configuration, wires the agent
 * to an event loop and runs it until SIGINT or SIGTERM.
 */
#include "agent.h"
#include "avlog.h"
#include "config.h"
#include "log.h"
#include "worker.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHUTDOWN_GRACE_MS 3000

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: highrise-agent --config FILE [--KEY VALUE ...]\n"
		"\n"
		"Streams this host's desktops (VM consoles over VNC, X sessions) to\n"
		"Highrise clients as H.264 over TLS 1.3, and injects their input.\n"
		"Clients present a connect ticket signed by the broker.\n"
		"\n"
		"Options:\n"
		"  --config FILE                  read settings from FILE (key = value lines)\n"
		"  --print-config                 print the effective settings and exit\n"
		"  --help                         this text\n"
		"  --version                      the version\n"
		"\n"
		"Settings (in the file as 'key = value', or as --key VALUE, which wins):\n");
	config_print_help(agent_config_table, out);
	fprintf(out, "\n"
		     "Example:\n"
		     "  highrise-agent --config /etc/highrise/agent.conf\n"
		     "  highrise-agent --name host17 --tls.cert_file agent.pem --tls.key_file "
		     "agent.key \\\n"
		     "      --ticket.public_key ticket.pub --desktop 'vm1 vnc://127.0.0.1:5901'\n"
		     "  # joining a broker: it then hands out the desktops and signs the tickets\n"
		     "  highrise-agent --config agent.conf --broker.url https://broker:8443 \\\n"
		     "      --broker.ca_file ca.pem\n"
		     "\n"
		     "See docs/operations.md for the configuration file and certificates.\n");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	log_info("%s: shutting down", strsignal((int)sig));
	event_base_loopbreak(arg);
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = ((void **)arg)[0];
	struct event_base *base = ((void **)arg)[1];
	(void)fd;
	(void)what;
	if (agent_busy(a) == 0)
		event_base_loopbreak(base);
}

int main(int argc, char **argv)
{
	struct agent_cfg cfg;
	struct event_base *base;
	struct event *sigint, *sigterm, *grace;
	struct agent *a;
	int rc;

	/* a desktop's worker process (worker.h): the agent started itself again */
	if (argc >= 2 && strcmp(argv[1], "--worker") == 0)
		return worker_main(argc, argv);

	memset(&cfg, 0, sizeof(cfg));
	rc = config_cmdline_finish(
		config_load_cmdline(agent_config_table, &cfg, argc, argv, "highrise-agent"),
		agent_config_table, &cfg, "highrise-agent", HIGHRISE_VERSION, usage);
	if (rc >= 0)
		return rc;
	log_open("highrise-agent", (enum log_level)cfg.log_level, LOG_TARGET_AUTO);
	avlog_install();
	signal(SIGPIPE, SIG_IGN); /* a client that vanished is an EPIPE, not a death */
	evthread_use_pthreads();

	base = event_base_new();
	if (!base) {
		log_error("cannot create the event loop");
		config_free(agent_config_table, &cfg);
		return 1;
	}
	a = agent_new(base, &cfg);
	config_free(agent_config_table, &cfg);
	if (!a) {
		event_base_free(base);
		return 1;
	}
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	event_base_dispatch(base);

	/* say goodbye to every client, give them a moment to read it, then stop */
	if (agent_shutdown(a) > 0) {
		void *args[2] = {a, base};
		struct timeval poll = {0, 50000}, deadline = {SHUTDOWN_GRACE_MS / 1000, 0};
		grace = event_new(base, -1, EV_PERSIST, grace_cb, args);
		event_add(grace, &poll);
		event_base_loopexit(base, &deadline);
		event_base_dispatch(base);
		event_free(grace);
	}
	agent_free(a);
	event_free(sigint);
	event_free(sigterm);
	event_base_free(base);
	libevent_global_shutdown();
	return 0;
}
