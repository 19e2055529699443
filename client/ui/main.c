/* SPDX-License-Identifier: MIT */
/*
 * highrise-client: the GTK 3 thin client. This file reads the command line
 * and wires the window (window.h) to GTK's main loop; the session runs on
 * the network thread (net.h), the picture in view.h.
 */
#include "decoder.h"
#include "log.h"
#include "login.h"
#include "options.h"
#include "view.h"
#include "window.h"

#include <errno.h>
#include <glib-unix.h>
#include <gtk/gtk.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "highrise-client"

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

/* What highrise-client's command line sets (client_opts); copied into the window's and
 * the login's configurations. */
struct ui_opts {
	struct client_common c; /* first: options.h's shared rows write it */
	bool fullscreen, kiosk, stats, no_clipboard, touch_raw, no_mic;
	const char *admin_keys, *scale_keys, *stats_keys, *trace, *test_events;
	bool use_gl, gl_software;
	enum view_scale scale;
	int clipboard_max, volume;
};

static int opt_renderer(void *opts, const char *arg, char *why, size_t whylen)
{
	struct ui_opts *o = opts;

	if (!strcmp(arg, "gl"))
		o->use_gl = o->gl_software = true;
	else if (!strcmp(arg, "cairo"))
		o->use_gl = false;
	else if (!strcmp(arg, "auto"))
		o->use_gl = true, o->gl_software = false;
	else
		return snprintf(why, whylen, "is auto, gl or cairo"), -1;
	return 0;
}

static int opt_scale(void *opts, const char *arg, char *why, size_t whylen)
{
	if (view_scale_parse(arg, &((struct ui_opts *)opts)->scale) < 0)
		return snprintf(why, whylen, "is fit, 1:1 or resize"), -1;
	return 0;
}

#define O_(f) offsetof(struct ui_opts, f)

/* Every option of highrise-client: the shared rows (options.h) and its own. */
static const struct copt client_opts[] = {
	COPT_SECTION_ROW("Broker (the usual way; without --broker the login screen offers the "
			 "one\nremembered last time)"),
	CLIENT_OPTS_BROKER,
	COPT_SECTION_ROW("Direct to an agent (tests, scripts)"),
	CLIENT_OPTS_DIRECT,
	COPT_SECTION_ROW("Display"),
	{.name = "fullscreen",
	 .kind = COPT_FLAG,
	 .offset = O_(fullscreen),
	 .help = "start full screen (F11 toggles)"},
	{.name = "kiosk",
	 .kind = COPT_FLAG,
	 .offset = O_(kiosk),
	 .help = "full screen, undecorated, cannot be closed; retries every\n"
		 "failure; only the admin key combination quits"},
	{.name = "admin-keys",
	 .kind = COPT_STRING,
	 .offset = O_(admin_keys),
	 .value = "COMBO",
	 .help = "the kiosk's exit combination [ctrl+alt+shift+q]"},
	{.name = "renderer",
	 .kind = COPT_CALL,
	 .value = "auto|gl|cairo",
	 .help = "auto (default): OpenGL on a GPU, cairo when GL is\n"
		 "unavailable or only a software rasterizer (llvmpipe);\n"
		 "gl: OpenGL whatever it runs on; cairo: cairo",
	 .call = opt_renderer},
	{.name = "scale",
	 .kind = COPT_CALL,
	 .value = "fit|1:1|resize",
	 .help = "fit: the whole desktop, letterboxed (default); 1:1: one\n"
		 "desktop pixel per screen pixel, scrollbars when larger;\n"
		 "resize: the desktop takes the window's size where its\n"
		 "console can (X11 desktops with RandR, e.g. Xvnc), shown\n"
		 "fitted meanwhile; fit where it cannot, said once",
	 .call = opt_scale},
	{.name = "scale-keys",
	 .kind = COPT_STRING,
	 .offset = O_(scale_keys),
	 .value = "COMBO",
	 .help = "cycles the scaling [ctrl+alt+shift+m]"},
	CLIENT_OPT_DECODER,
	{.name = "stats",
	 .kind = COPT_FLAG,
	 .offset = O_(stats),
	 .help = "start with the statistics overlay shown"},
	{.name = "stats-keys",
	 .kind = COPT_STRING,
	 .offset = O_(stats_keys),
	 .value = "COMBO",
	 .help = "toggles the statistics overlay (fps, kbit/s, capture to\n"
		 "display latency, RTT, each stage's time, decoder, renderer)\n"
		 "[ctrl+alt+shift+s]"},
	{.name = "trace",
	 .kind = COPT_STRING,
	 .offset = O_(trace),
	 .value = "FILE",
	 .help = "write a line per shown frame (frame, capture, decoded,\n"
		 "decode time, shown; µs), its stage times (ms) and each\n"
		 "overlay update to FILE"},
	COPT_SECTION_ROW("Sound"),
	CLIENT_OPTS_SOUND,
	{.name = "volume",
	 .kind = COPT_INT,
	 .offset = O_(volume),
	 .value = "PERCENT",
	 .min = 1,
	 .max = 100,
	 .help = "the volume at start, 1..100 [100]"},
	{.name = "no-mic",
	 .kind = COPT_FLAG,
	 .offset = O_(no_mic),
	 .help = "no microphone at all: the switch is gone and the agent\n"
		 "is told this client has none"},
	COPT_SECTION_ROW("Input and clipboard"),
	{.name = "no-clipboard",
	 .kind = COPT_FLAG,
	 .offset = O_(no_clipboard),
	 .help = "do not share the clipboard with the desktop"},
	{.name = "clipboard-max",
	 .kind = COPT_INT,
	 .offset = O_(clipboard_max),
	 .value = "BYTES",
	 .min = 1,
	 .max = MSG_CLIPBOARD_MAX,
	 .help = "share clipboard text up to this size; longer text is\n"
		 "not sent (nor taken) at all [1048576]"},
	{.name = "touch-raw",
	 .kind = COPT_FLAG,
	 .offset = O_(touch_raw),
	 .help = "send touches as raw TOUCH points for desktops that take\n"
		 "multi-touch, instead of tap/long-press/scroll gestures"},
	{.name = "test-events",
	 .kind = COPT_STRING,
	 .offset = O_(test_events),
	 .value = "FILE",
	 .help = "tests only: play synthesized touch and pen events"},
	CLIENT_OPTS_TAIL,
	COPT_END,
};

_Static_assert(offsetof(struct ui_opts, c) == 0, "options.h's rows write struct client_common");

static void usage(FILE *out)
{
	fputs("Usage: " PROG " [--broker URL] [--ca FILE] [OPTIONS]\n"
	      "       " PROG " --agent HOST[:PORT] --ticket FILE [--ca FILE] [OPTIONS]\n"
	      "\n"
	      "Shows a Highrise desktop in a window (or full screen) and sends it your keyboard\n"
	      "and mouse. Logs in to the broker, which picks your desktop, then connects to\n"
	      "its agent over TLS 1.3, and reconnects by itself (with a fresh ticket from the\n"
	      "broker) when the network or the desktop goes away.\n",
	      out);
	opts_help(client_opts, out);
	fputs("\n"
	      "Keys: the keyboard is grabbed while the window has focus (Alt+Tab and Super go\n"
	      "to the desktop); Ctrl+Alt releases it, a click grabs it again. F11: full screen.\n"
	      "F5 on an error page: try again. Ctrl+Alt+Shift+S: statistics overlay.\n"
	      "Ctrl+Alt+Shift+M: fit / 1:1 / resize (when the desktop can).\n"
	      "Ctrl+Alt+Shift+A: sound on/off; Ctrl+Alt+Shift+Up/Down: volume ±10 %;\n"
	      "Ctrl+Alt+Shift+V: microphone on/off (a red \"● mic\" shows while it is sent).\n"
	      "The sound controls show with the statistics overlay and after each change.\n",
	      out);
}

static int usage_error(const char *msg)
{
	fprintf(stderr, PROG ": %s (see " PROG " --help)\n", msg);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct ui_opts o = {.use_gl = true, .clipboard_max = CLIPBOARD_DEFAULT_MAX};
	struct client_cfg cfg;
	struct broker_login_cfg lcfg = {0};
	struct client_window *w = NULL;
	struct login *login = NULL;
	int mode;

	o.c.client_name = PROG;
	mode = opts_parse(client_opts, &o, argc, argv, PROG);
	if (mode == 1) {
		usage(stdout);
		return 0;
	}
	if (mode < 0)
		return 2;
	if (o.c.no_audio && o.c.audio_sink)
		return usage_error("--no-audio leaves nothing for --audio-sink"), 2;
	if (o.no_mic && (o.c.mic || o.c.mic_source))
		return usage_error("--no-mic and --mic/--mic-source contradict each other"), 2;
	mode = client_opts_mode(&o.c, PROG);
	if (mode < 0)
		return 2;
	if (mode == CLIENT_MODE_BROKER && o.kiosk && !o.c.password_file)
		return usage_error("--kiosk logs in by itself: give --broker, --user and "
				   "--password-file (or --agent and --ticket)"),
		       2;
	cfg = (struct client_cfg){
		.host = mode == CLIENT_MODE_DIRECT ? o.c.host : "",
		.port = o.c.port,
		.ticket_file = o.c.ticket,
		.ca_file = o.c.ca,
		.pin = o.c.pin,
		.verify_name = o.c.name,
		.client_name = o.c.client_name,
		.fullscreen = o.fullscreen,
		.kiosk = o.kiosk,
		.admin_combo = o.admin_keys,
		.use_gl = o.use_gl,
		.gl_software = o.gl_software,
		.clipboard_max = o.no_clipboard ? 0 : (size_t)o.clipboard_max,
		.touch_raw = o.touch_raw,
		.test_events = o.test_events,
		.scale = o.scale,
		.decoder = o.c.decoder,
		.stats = o.stats,
		.stats_combo = o.stats_keys,
		.scale_combo = o.scale_keys,
		.trace_file = o.trace,
		.no_audio = o.c.no_audio,
		.audio_sink = o.c.audio_sink,
		.volume = o.volume,
		.no_mic = o.no_mic,
		.mic = o.c.mic,
		.mic_source = o.c.mic_source,
	};
	if (mode == CLIENT_MODE_BROKER) {
		lcfg = client_opts_login(&o.c, PROG);
		cfg.prepare = broker_login_prepare;
	}

	signal(SIGPIPE, SIG_IGN);
	log_open(PROG,
		 o.c.verbose >= 2 ? LOG_LEVEL_DEBUG
		 : o.c.verbose	  ? LOG_LEVEL_INFO
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
		cfg.prepare_ud = login_broker(login);
		login_run(login, logged_in, &st);
		gtk_main();
	} else {
		w = client_window_new(&cfg);
		if (!w)
			return 1;
		gtk_main();
	}
	client_window_free(w); /* joins the net thread: the login is ours again */
	if (login)
		broker_login_logout(login_broker(login));
	login_free(login);
	return 0;
}
