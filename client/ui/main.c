/* SPDX-License-Identifier: MIT */
/*
 * highrise-client: the GTK 3 thin client. This file reads the command line
 * and wires the window (window.h) to GTK's main loop; the session runs on
 * the network thread (net.h), the picture in view.h.
 */
#include "log.h"
#include "window.h"

#include <errno.h>
#include <getopt.h>
#include <glib-unix.h>
#include <gtk/gtk.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG	     "highrise-client"
#define DEFAULT_PORT 7443

static void usage(FILE *out)
{
	fputs("Usage: " PROG " --agent HOST[:PORT] --ticket FILE [--ca FILE] [OPTIONS]\n"
	      "\n"
	      "Shows a Highrise desktop in a window (or full screen) and sends it your keyboard\n"
	      "and mouse. Connects to the agent over TLS 1.3 with a connect ticket from the\n"
	      "broker, and reconnects by itself when the network or the desktop goes away.\n"
	      "\n"
	      "Connection:\n"
	      "  --agent HOST[:PORT]  the agent; PORT defaults to 7443; IPv6 as [ADDR]:PORT\n"
	      "  --ticket FILE        the connect ticket (its bytes or base64); read again for\n"
	      "                       every reconnection, so a broker helper can refresh it\n"
	      "  --ca FILE            the deployment's CA certificate (ca.pem); without --ca and\n"
	      "                       --pin the system's CA store is used\n"
	      "  --pin SHA256         the SHA-256 of the agent's public key (highrise-certs pin);\n"
	      "                       without --ca the pin alone decides (kiosks)\n"
	      "  --name SERVERNAME    the name the agent's certificate must carry, if not HOST\n"
	      "  --client-name NAME   how the agent's log names this client [highrise-client]\n"
	      "\n"
	      "Display:\n"
	      "  --fullscreen         start full screen (F11 toggles)\n"
	      "  --kiosk              full screen, undecorated, cannot be closed; retries every\n"
	      "                       failure; only the admin key combination quits\n"
	      "  --admin-keys COMBO   the kiosk's exit combination [ctrl+alt+shift+q]\n"
	      "  --renderer gl|cairo  draw with OpenGL (default; cairo when GL is unavailable)\n"
	      "                       or with cairo\n"
	      "  -v, --verbose        log progress (twice: debug)\n"
	      "  -h, --help           this text\n"
	      "\n"
	      "Keys: the keyboard is grabbed while the window has focus (Alt+Tab and Super go to\n"
	      "the desktop); Ctrl+Alt releases it, a click grabs it again. F11: full screen.\n"
	      "F5 on an error page: try again.\n",
	      out);
}

/* SIGINT, SIGTERM: leave the main loop, so the session says BYE and the thread is joined. */
static gboolean signal_cb(gpointer ud)
{
	(void)ud;
	gtk_main_quit();
	return G_SOURCE_CONTINUE;
}

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, PROG ": %s%s%s (see " PROG " --help)\n", msg, arg ? ": " : "",
		arg ? arg : "");
	return -EINVAL;
}

static int parse_agent(const char *arg, char *host, size_t hcap, uint16_t *port)
{
	const char *h = arg, *p = NULL;
	size_t hlen;
	char *end;
	long v = DEFAULT_PORT;

	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');
		if (!close || (close[1] && close[1] != ':'))
			return usage_error("write an IPv6 address as [ADDRESS]:PORT", arg);
		h = arg + 1;
		hlen = (size_t)(close - h);
		p = close[1] ? close + 2 : NULL;
	} else {
		const char *colon = strrchr(arg, ':');
		if (colon && strchr(arg, ':') == colon) {
			hlen = (size_t)(colon - arg);
			p = colon + 1;
		} else {
			hlen = strlen(arg);
		}
	}
	if (hlen == 0 || hlen >= hcap)
		return usage_error("--agent needs a host name or address", arg);
	if (p) {
		errno = 0;
		v = strtol(p, &end, 10);
		if (errno || end == p || *end || v < 1 || v > 65535)
			return usage_error("--agent: not a port number (1..65535)", p);
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		OPT_AGENT = 256,
		OPT_TICKET,
		OPT_CA,
		OPT_PIN,
		OPT_NAME,
		OPT_CLIENT_NAME,
		OPT_FULLSCREEN,
		OPT_KIOSK,
		OPT_ADMIN_KEYS,
		OPT_RENDERER,
	};
	static const struct option longopts[] = {
		{"agent", required_argument, NULL, OPT_AGENT},
		{"ticket", required_argument, NULL, OPT_TICKET},
		{"ca", required_argument, NULL, OPT_CA},
		{"pin", required_argument, NULL, OPT_PIN},
		{"name", required_argument, NULL, OPT_NAME},
		{"client-name", required_argument, NULL, OPT_CLIENT_NAME},
		{"fullscreen", no_argument, NULL, OPT_FULLSCREEN},
		{"kiosk", no_argument, NULL, OPT_KIOSK},
		{"admin-keys", required_argument, NULL, OPT_ADMIN_KEYS},
		{"renderer", required_argument, NULL, OPT_RENDERER},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct client_cfg cfg = {.use_gl = true};
	struct client_window *w;
	char host[256] = "";
	int verbose = 0, c;

	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_AGENT:
			if (parse_agent(optarg, host, sizeof(host), &cfg.port) < 0)
				return 2;
			break;
		case OPT_TICKET:
			cfg.ticket_file = optarg;
			break;
		case OPT_CA:
			cfg.ca_file = optarg;
			break;
		case OPT_PIN:
			cfg.pin = optarg;
			break;
		case OPT_NAME:
			cfg.verify_name = optarg;
			break;
		case OPT_CLIENT_NAME:
			cfg.client_name = optarg;
			break;
		case OPT_FULLSCREEN:
			cfg.fullscreen = true;
			break;
		case OPT_KIOSK:
			cfg.kiosk = true;
			break;
		case OPT_ADMIN_KEYS:
			cfg.admin_combo = optarg;
			break;
		case OPT_RENDERER:
			if (!strcmp(optarg, "gl"))
				cfg.use_gl = true;
			else if (!strcmp(optarg, "cairo"))
				cfg.use_gl = false;
			else
				return usage_error("--renderer is gl or cairo", optarg), 2;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return usage_error("unknown option", NULL), 2;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument", argv[optind]), 2;
	if (!host[0])
		return usage_error("--agent HOST[:PORT] is required", NULL), 2;
	if (!cfg.ticket_file)
		return usage_error("--ticket FILE is required (the broker's connect ticket)", NULL),
		       2;
	cfg.host = host;

	signal(SIGPIPE, SIG_IGN);
	log_open(PROG,
		 verbose >= 2 ? LOG_LEVEL_DEBUG
		 : verbose    ? LOG_LEVEL_INFO
			      : LOG_LEVEL_WARN,
		 LOG_TARGET_STDERR);
	if (!gtk_init_check(&argc, &argv)) {
		fprintf(stderr, PROG ": cannot open the display (is DISPLAY or WAYLAND_DISPLAY "
				     "set?)\n");
		return 1;
	}
	w = client_window_new(&cfg);
	if (!w)
		return 1;
	g_unix_signal_add(SIGINT, signal_cb, NULL);
	g_unix_signal_add(SIGTERM, signal_cb, NULL);
	gtk_main();
	client_window_free(w);
	return 0;
}
