/* SPDX-License-Identifier: MIT */
/*
 * highrise-broker: parses options, loads the configuration, wires the
 * broker to an event loop and runs it until SIGINT or SIGTERM.
 */
#include "broker.h"
#include "config.h"
#include "daemon.h"
#include "log.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	daemon_usage(out, "highrise-broker",
		     "Signs users in, hands them desktops from pools with a one-use connect\n"
		     "ticket, keeps track of agents and sessions. An HTTPS JSON API (TLS 1.3),\n"
		     "documented in docs/broker-api.md.",
		     broker_config_table);
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

int main(int argc, char **argv)
{
	struct broker_cfg cfg;
	struct daemon_loop d;
	struct broker *b;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	rc = config_cmdline_finish(
		config_load_cmdline(broker_config_table, &cfg, argc, argv, "highrise-broker"),
		broker_config_table, &cfg, "highrise-broker", HIGHRISE_VERSION, usage);
	if (rc >= 0)
		return rc;
	if (daemon_loop_open(&d, "highrise-broker", cfg.log_level) < 0) {
		config_free(broker_config_table, &cfg);
		return 1;
	}
	b = broker_new(d.base, &cfg);
	config_free(broker_config_table, &cfg);
	rc = b ? 0 : 1;
	if (b) {
		event_base_dispatch(d.base); /* until SIGINT or SIGTERM */
		broker_free(b);
		log_info("stopped");
	}
	daemon_loop_close(&d);
	return rc;
}
