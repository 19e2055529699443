/* SPDX-License-Identifier: MIT */
/*
 * highrise-agent: parses options, loads the configuration, wires the agent
 * to an event loop and runs it until SIGINT or SIGTERM.
 */
#include "agent.h"
#include "avlog.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "worker.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHUTDOWN_GRACE_MS 3000

static void usage(FILE *out)
{
	daemon_usage(out, "highrise-agent",
		     "Streams this host's desktops (VM consoles over VNC, X sessions) to\n"
		     "Highrise clients as H.264 over TLS 1.3, and injects their input.\n"
		     "Clients present a connect ticket signed by the broker.",
		     agent_config_table);
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
	struct daemon_loop d;
	struct event *grace;
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
	if (daemon_loop_open(&d, "highrise-agent", cfg.log_level) < 0) {
		config_free(agent_config_table, &cfg);
		return 1;
	}
	avlog_install();
	a = agent_new(d.base, &cfg);
	config_free(agent_config_table, &cfg);
	if (!a) {
		daemon_loop_close(&d);
		return 1;
	}
	event_base_dispatch(d.base); /* until SIGINT or SIGTERM */

	/* say goodbye to every client, give them a moment to read it, then stop */
	if (agent_shutdown(a) > 0) {
		void *args[2] = {a, d.base};
		struct timeval poll = {0, 50000}, deadline = {SHUTDOWN_GRACE_MS / 1000, 0};
		grace = event_new(d.base, -1, EV_PERSIST, grace_cb, args);
		event_add(grace, &poll);
		event_base_loopexit(d.base, &deadline);
		event_base_dispatch(d.base);
		event_free(grace);
	}
	agent_free(a);
	daemon_loop_close(&d);
	return 0;
}
