/* SPDX-License-Identifier: MIT */
/*
 * highrise-client: the GTK 3 thin client. This file reads the command line
 * and wires the window (window.h) to GTK's main loop; the session runs on
 * the network thread (net.h), the picture in view.h.
 */
#include "decoder.h"
#include "hostport.h"
#include "log.h"
#include "login.h"
#include "pulse.h"
#include "view.h"
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
	fputs("Usage: " PROG " [--broker URL] [--ca FILE] [OPTIONS]\n"
	      "       " PROG " --agent HOST[:PORT] --ticket FILE [--ca FILE] [OPTIONS]\n"
	      "\n"
	      "Shows a Highrise desktop in a window (or full screen) and sends it your keyboard\n"
	      "and mouse. Logs in to the broker, which picks your desktop, then connects to\n"
	      "its agent over TLS 1.3, and reconnects by itself (with a fresh ticket from the\n"
	      "broker) when the network or the desktop goes away.\n"
	      "\n"
	      "Broker (the usual way):\n"
	      "  --broker URL         https://HOST[:PORT] of the broker (port 8443); without it\n"
	      "                       the login screen offers the one remembered last time\n"
	      "  --user NAME          the user name (prefilled on the login screen)\n"
	      "  --password-file FILE log in without a screen: the password is the file's first\n"
	      "                       line, read again for every login (kiosks; keep it 0600)\n"
	      "  --pool NAME          the desktop pool; without it: the only one, or a picker\n"
	      "  --ca FILE            the deployment's CA certificate (ca.pem): verifies the\n"
	      "                       broker (and agents, unless the broker names their CA)\n"
	      "\n"
	      "Direct to an agent (tests, scripts):\n"
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
	      "  --renderer auto|gl|cairo\n"
	      "                       auto (default): OpenGL on a GPU, cairo when GL is\n"
	      "                       unavailable or only a software rasterizer (llvmpipe);\n"
	      "                       gl: OpenGL whatever it runs on; cairo: cairo\n"
	      "  --scale fit|1:1|resize\n"
	      "                       fit: the whole desktop, letterboxed (default); 1:1: one\n"
	      "                       desktop pixel per screen pixel, scrollbars when larger;\n"
	      "                       resize: the desktop takes the window's size where its\n"
	      "                       console can (X11 desktops with RandR, e.g. Xvnc), shown\n"
	      "                       fitted meanwhile; fit where it cannot, said once\n"
	      "  --scale-keys COMBO   cycles the scaling [ctrl+alt+shift+m]\n"
	      "  --decoder auto|software|vaapi\n"
	      "                       H.264 decoding: auto tries VAAPI (/dev/dri/renderD128) and\n"
	      "                       falls back to software, saying why in the log [auto]\n"
	      "  --stats              start with the statistics overlay shown\n"
	      "  --stats-keys COMBO   toggles the statistics overlay (fps, kbit/s, capture to\n"
	      "                       display latency, RTT, decoder, renderer) [ctrl+alt+shift+s]\n"
	      "  --trace FILE         write a line per shown frame (frame, capture, decoded,\n"
	      "                       decode time, shown; µs) and per overlay update to FILE\n"
	      "\n"
	      "Sound:\n"
	      "  --no-audio           do not ask for the desktop's sound\n"
	      "  --audio-sink NAME    play it to PulseAudio sink NAME [the default sink;\n"
	      "                       PULSE_SERVER says which server]\n"
	      "  --volume PERCENT     the volume at start, 1..100 [100]\n"
	      "  --mic                turn the microphone on from the start (kiosks); it is\n"
	      "                       sent only while on and while the desktop takes it\n"
	      "  --mic-source NAME    the PulseAudio source to send [the default source]\n"
	      "  --no-mic             no microphone at all: the switch is gone and the agent\n"
	      "                       is told this client has none\n"
	      "\n"
	      "Input and clipboard:\n"
	      "  --no-clipboard       do not share the clipboard with the desktop\n"
	      "  --clipboard-max BYTES  share clipboard text up to this size; longer text is\n"
	      "                       not sent (nor taken) at all [1048576]\n"
	      "  --touch-raw          send touches as raw TOUCH points for desktops that take\n"
	      "                       multi-touch, instead of tap/long-press/scroll gestures\n"
	      "  --test-events FILE   tests only: play synthesized touch and pen events\n"
	      "  -v, --verbose        log progress (twice: debug)\n"
	      "  -h, --help           this text\n"
	      "\n"
	      "Keys: the keyboard is grabbed while the window has focus (Alt+Tab and Super go to\n"
	      "the desktop); Ctrl+Alt releases it, a click grabs it again. F11: full screen.\n"
	      "F5 on an error page: try again. Ctrl+Alt+Shift+S: statistics overlay.\n"
	      "Ctrl+Alt+Shift+M: fit / 1:1 / resize (when the desktop can).\n"
	      "Ctrl+Alt+Shift+A: sound on/off; Ctrl+Alt+Shift+Up/Down: volume ±10 %;\n"
	      "Ctrl+Alt+Shift+V: microphone on/off (a red \"● mic\" shows while it is sent).\n"
	      "The sound controls show with the statistics overlay and after each change.\n",
	      out);
}

/* SIGINT, SIGTERM: leave the main loop, so the session says BYE and the thread is joined. */
static gboolean signal_cb(gpointer ud)
{
	(void)ud;
	gtk_main_quit();
	return G_SOURCE_CONTINUE;
}

struct start {
	struct client_cfg *cfg;
	struct client_window **w;
};

/* The user logged in and chose a pool: the desktop's window takes over. */
static void logged_in(struct login *l, void *ud)
{
	struct start *st = ud;
	(void)l;
	*st->w = client_window_new(st->cfg);
	if (!*st->w)
		gtk_main_quit();
}

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, PROG ": %s%s%s (see " PROG " --help)\n", msg, arg ? ": " : "",
		arg ? arg : "");
	return -EINVAL;
}

static int parse_agent(const char *arg, char *host, size_t hcap, uint16_t *port)
{
	int p;
	int rc = hostport_parse(arg, strlen(arg), host, hcap, &p, DEFAULT_PORT, HOSTPORT_BARE_V6);

	if (rc == -ERANGE)
		return usage_error("--agent: not a port number (1..65535)", arg);
	if (rc < 0)
		return usage_error("--agent needs a host name or address ([ADDRESS]:PORT for IPv6)",
				   arg);
	*port = (uint16_t)p;
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		OPT_AGENT = 256,
		OPT_BROKER,
		OPT_USER,
		OPT_PASSWORD_FILE,
		OPT_POOL,
		OPT_TICKET,
		OPT_CA,
		OPT_PIN,
		OPT_NAME,
		OPT_CLIENT_NAME,
		OPT_FULLSCREEN,
		OPT_KIOSK,
		OPT_ADMIN_KEYS,
		OPT_RENDERER,
		OPT_SCALE,
		OPT_SCALE_KEYS,
		OPT_DECODER,
		OPT_STATS,
		OPT_STATS_KEYS,
		OPT_TRACE,
		OPT_NO_CLIPBOARD,
		OPT_CLIPBOARD_MAX,
		OPT_TOUCH_RAW,
		OPT_TEST_EVENTS,
		OPT_NO_AUDIO,
		OPT_AUDIO_SINK,
		OPT_VOLUME,
		OPT_MIC,
		OPT_MIC_SOURCE,
		OPT_NO_MIC,
	};
	static const struct option longopts[] = {
		{"agent", required_argument, NULL, OPT_AGENT},
		{"broker", required_argument, NULL, OPT_BROKER},
		{"user", required_argument, NULL, OPT_USER},
		{"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
		{"pool", required_argument, NULL, OPT_POOL},
		{"ticket", required_argument, NULL, OPT_TICKET},
		{"ca", required_argument, NULL, OPT_CA},
		{"pin", required_argument, NULL, OPT_PIN},
		{"name", required_argument, NULL, OPT_NAME},
		{"client-name", required_argument, NULL, OPT_CLIENT_NAME},
		{"fullscreen", no_argument, NULL, OPT_FULLSCREEN},
		{"kiosk", no_argument, NULL, OPT_KIOSK},
		{"admin-keys", required_argument, NULL, OPT_ADMIN_KEYS},
		{"renderer", required_argument, NULL, OPT_RENDERER},
		{"scale", required_argument, NULL, OPT_SCALE},
		{"scale-keys", required_argument, NULL, OPT_SCALE_KEYS},
		{"decoder", required_argument, NULL, OPT_DECODER},
		{"stats", no_argument, NULL, OPT_STATS},
		{"stats-keys", required_argument, NULL, OPT_STATS_KEYS},
		{"trace", required_argument, NULL, OPT_TRACE},
		{"no-clipboard", no_argument, NULL, OPT_NO_CLIPBOARD},
		{"clipboard-max", required_argument, NULL, OPT_CLIPBOARD_MAX},
		{"touch-raw", no_argument, NULL, OPT_TOUCH_RAW},
		{"test-events", required_argument, NULL, OPT_TEST_EVENTS},
		{"no-audio", no_argument, NULL, OPT_NO_AUDIO},
		{"audio-sink", required_argument, NULL, OPT_AUDIO_SINK},
		{"volume", required_argument, NULL, OPT_VOLUME},
		{"mic", no_argument, NULL, OPT_MIC},
		{"mic-source", required_argument, NULL, OPT_MIC_SOURCE},
		{"no-mic", no_argument, NULL, OPT_NO_MIC},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct client_cfg cfg = {.use_gl = true, .clipboard_max = CLIPBOARD_DEFAULT_MAX};
	bool no_clipboard = false;
	struct login_cfg lcfg = {0};
	struct client_window *w = NULL;
	struct login *login = NULL;
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
				cfg.use_gl = cfg.gl_software = true;
			else if (!strcmp(optarg, "cairo"))
				cfg.use_gl = false;
			else if (!strcmp(optarg, "auto"))
				cfg.use_gl = true, cfg.gl_software = false;
			else
				return usage_error("--renderer is auto, gl or cairo", optarg), 2;
			break;
		case OPT_SCALE:
			if (view_scale_parse(optarg, &cfg.scale) < 0)
				return usage_error("--scale is fit, 1:1 or resize", optarg), 2;
			break;
		case OPT_SCALE_KEYS:
			cfg.scale_combo = optarg;
			break;
		case OPT_DECODER:
			if (decoder_hw_parse(optarg, &cfg.decoder) < 0)
				return usage_error("--decoder is auto, software or vaapi", optarg),
				       2;
			break;
		case OPT_STATS:
			cfg.stats = true;
			break;
		case OPT_STATS_KEYS:
			cfg.stats_combo = optarg;
			break;
		case OPT_TRACE:
			cfg.trace_file = optarg;
			break;
		case OPT_NO_CLIPBOARD:
			no_clipboard = true;
			break;
		case OPT_CLIPBOARD_MAX: {
			char *end;
			unsigned long long v;
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 || v > MSG_CLIPBOARD_MAX ||
			    optarg[0] == '-')
				return usage_error("--clipboard-max is a number of bytes, 1 to "
						   "16777214",
						   optarg),
				       2;
			cfg.clipboard_max = (size_t)v;
			break;
		}
		case OPT_TOUCH_RAW:
			cfg.touch_raw = true;
			break;
		case OPT_NO_AUDIO:
			cfg.no_audio = true;
			break;
		case OPT_AUDIO_SINK:
			if (!audio_pulse_name_ok(optarg))
				return usage_error("--audio-sink wants a PulseAudio sink name "
						   "(letters, digits, '.', '_', '-')",
						   optarg),
				       2;
			cfg.audio_sink = optarg;
			break;
		case OPT_VOLUME: {
			char *end;
			long v;
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 || v > 100)
				return usage_error("--volume is a percentage, 1 to 100", optarg), 2;
			cfg.volume = (int)v;
			break;
		}
		case OPT_MIC:
			cfg.mic = true;
			break;
		case OPT_MIC_SOURCE:
			if (!audio_pulse_name_ok(optarg))
				return usage_error("--mic-source wants a PulseAudio source name "
						   "(letters, digits, '.', '_', '-')",
						   optarg),
				       2;
			cfg.mic_source = optarg;
			break;
		case OPT_NO_MIC:
			cfg.no_mic = true;
			break;
		case OPT_TEST_EVENTS:
			cfg.test_events = optarg;
			break;
		case OPT_BROKER:
			lcfg.broker_url = optarg;
			break;
		case OPT_USER:
			lcfg.user = optarg;
			break;
		case OPT_PASSWORD_FILE:
			lcfg.password_file = optarg;
			break;
		case OPT_POOL:
			lcfg.pool = optarg;
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
	if (no_clipboard)
		cfg.clipboard_max = 0;
	if (cfg.no_audio && cfg.audio_sink)
		return usage_error("--no-audio leaves nothing for --audio-sink", NULL), 2;
	if (cfg.no_mic && (cfg.mic || cfg.mic_source))
		return usage_error("--no-mic and --mic/--mic-source contradict each other", NULL),
		       2;
	if (host[0] || cfg.ticket_file) { /* direct mode */
		if (lcfg.broker_url || lcfg.user || lcfg.password_file || lcfg.pool)
			return usage_error("--agent/--ticket (direct) and --broker/--user/--pool "
					   "(broker) do not mix",
					   NULL),
			       2;
		if (!host[0])
			return usage_error("--agent HOST[:PORT] is required with --ticket", NULL),
			       2;
		if (!cfg.ticket_file)
			return usage_error("--ticket FILE is required with --agent (or log in with "
					   "--broker URL)",
					   NULL),
			       2;
		cfg.host = host;
	} else {
		if (lcfg.password_file && (!lcfg.user || !lcfg.broker_url))
			return usage_error("--password-file needs --broker and --user", NULL), 2;
		if (cfg.kiosk && !lcfg.password_file)
			return usage_error("--kiosk logs in by itself: give --broker, --user and "
					   "--password-file (or --agent and --ticket)",
					   NULL),
			       2;
		lcfg.ca_file = cfg.ca_file;
		lcfg.pin = cfg.pin;
		lcfg.kiosk = cfg.kiosk;
		cfg.host = "";
		cfg.prepare = login_prepare;
	}

	signal(SIGPIPE, SIG_IGN);
	log_open(PROG,
		 verbose >= 2 ? LOG_LEVEL_DEBUG
		 : verbose    ? LOG_LEVEL_INFO
			      : LOG_LEVEL_WARN,
		 LOG_TARGET_STDERR);
	if (cfg.decoder == DECODER_HW_VAAPI) {
		char why[512];

		/* say it now, not as a failed connection later */
		if (decoder_probe(DECODER_HW_VAAPI, NULL, why, sizeof(why)) < 0) {
			fprintf(stderr,
				PROG ": --decoder vaapi: %s. Use --decoder auto (VAAPI when it "
				     "works, software otherwise) or --decoder software.\n",
				why);
			return 1;
		}
	}
	if (!gtk_init_check(&argc, &argv)) {
		fprintf(stderr, PROG ": cannot open the display (is DISPLAY or WAYLAND_DISPLAY "
				     "set?)\n");
		return 1;
	}
	g_unix_signal_add(SIGINT, signal_cb, NULL);
	g_unix_signal_add(SIGTERM, signal_cb, NULL);
	if (cfg.prepare) {
		struct start st = {.cfg = &cfg, .w = &w};
		login = login_new(&lcfg);
		if (!login)
			return 1;
		cfg.prepare_ud = login;
		login_run(login, logged_in, &st);
		gtk_main();
	} else {
		w = client_window_new(&cfg);
		if (!w)
			return 1;
		gtk_main();
	}
	client_window_free(w); /* joins the net thread: the login is ours again */
	login_logout(login);
	login_free(login);
	return 0;
}
