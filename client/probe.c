/* SPDX-License-Identifier: MIT */
/*
 * highrise-probe: a headless client for tests, benchmarks and health checks.
 * Connects with a ticket, receives and decodes for a while, may type and
 * click, and reports what it saw (see usage() below). The work is done by
 * the client core (session.h); this file parses options and wires it up.
 */
#include "audio.h"
#include "broker_login.h"
#include "decoder.h"
#include "error.h"
#include "hostport.h"
#include "keymap.h"
#include "log.h"
#include "netwatch.h"
#include "options.h"
#include "png.h"
#include "pulse.h"
#include "session.h"
#include "stats.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG		      "highrise-probe"
#define DEFAULT_SECONDS	      5.0
#define DEFAULT_FRAME_SECONDS 30.0 /* the time limit when only --frames is given */
#define DEFAULT_KEY_DELAY_MS  10
#define SCRIPT_START_MS	      2000 /* input starts at the first picture, or this after WELCOME */

enum exit_code {
	EXIT_OK = 0,
	EXIT_CONNECT = 1, /* could not connect or authenticate, or the session broke */
	EXIT_USAGE = 2,
	EXIT_SHORT = 3, /* connected, but fewer frames than asked, or no PNG */
};

enum action_kind {
	ACTION_KEY,
	ACTION_POINTER,
	ACTION_SLEEP,
	ACTION_RESIZE, /* RESIZE_REQUEST pointer.x by pointer.y */
};

struct action {
	enum action_kind kind;
	struct msg_key key;
	struct msg_pointer pointer;
	int ms;
};

struct opts {
	struct client_common c; /* first: options.h's shared rows write it */
	const char *cert, *key, *png;
	double seconds, timeout;
	bool have_seconds;
	int frames;
	int key_delay_ms;
	bool json, quiet;
	bool no_ack;	/* never acknowledge frames: a stalled client, for flow-control tests */
	bool no_timing; /* HELLO without CAP_TIMING, like a client that cannot read them */
	bool no_444;	/* HELLO without CAP_H264_444: the agent keeps the stream 4:2:0 */
	bool reconnect; /* come back after a lost connection: resume, else the broker */
	const char *audio_out, *av_trace;
	struct action *actions;
	size_t nactions, cap;
};

#define FRAME_TIMES_MAX	 4096
#define PROBE_STAGES	 (STATS_STAGE_DECODE + 1) /* the probe decodes; it draws nothing */
#define STATUS_MAX	 16
#define INPUTS_PENDING	 64 /* key presses waiting for the frame that shows them */
#define RECONNECTS_MAX	 64
#define RECONNECT_MAX_MS 4000 /* retries after 1, 2, 4 s, then every 4 s */

struct reconnect {
	double after_ms; /* from noticing the loss to the new WELCOME */
	bool broker;	 /* through the broker (the resume grant was gone) */
	double at;	 /* Unix time of the new WELCOME */
	char desktop[MSG_NAME_MAX + 1];
};

struct probe {
	struct opts *o;
	struct event_base *base;
	struct session *session;
	struct msg_cursor_pos cursor_pos; /* the last CURSOR_POS */
	uint64_t cursor_moves;		  /* how many came */
	uint64_t cursor_shapes;		  /* CURSOR messages */
	/* --reconnect */
	struct session_cfg cfg; /* what the current session was made with */
	struct session_cbs cbs;
	struct broker_login *bl; /* --broker */
	struct session_resume resume;
	struct event *reconnect_timer;
	struct netwatch *netwatch; /* --reconnect: the computer's addresses */
	bool reconnecting, via_broker;
	int attempt;
	uint64_t lost_us;
	uint64_t frames_before; /* decoded by sessions that ended */
	struct reconnect reconnects[RECONNECTS_MAX];
	size_t nreconnects;
	struct event *stop_timer, *start_timer, *script_timer, *sig_int, *sig_term;
	struct stats_series latency_ms, decode_ms, input_ms;
	struct stats_stages stages; /* frames that came with the agent's stage times */
	size_t next_action;
	bool script_started, script_done;
	bool finishing, interrupted;
	uint64_t welcome_us, end_us;
	/* ms after WELCOME at which each frame was decoded: tests check idle periods */
	double frame_ms[FRAME_TIMES_MAX];
	double frame_latency_ms[FRAME_TIMES_MAX];
	uint32_t frame_bytes[FRAME_TIMES_MAX];
	uint64_t frame_bytes_total[FRAME_TIMES_MAX];
	bool frame_refine[FRAME_TIMES_MAX];
	float frame_stages_ms[FRAME_TIMES_MAX][PROBE_STAGES]; /* NAN: not timed */
	size_t nframe_ms;
	/* when each key press still waiting for its frame was sent (oldest first) */
	uint64_t input_sent_us[INPUTS_PENDING];
	size_t ninputs;
	/* STATUS messages from the agent, in order ("console lost", "back") */
	char status[STATUS_MAX][MSG_REASON_MAX + 1];
	size_t nstatus;
	/* sound */
	struct client_audio *audio; /* once WELCOME said AUDIO */
	struct client_mic *mic;	    /* with --mic, once WELCOME said MIC */
	struct client_audio_stats audio_st;
	bool have_audio_st;
	FILE *trace; /* --av-trace; written by the loop and the playback thread */
	pthread_mutex_t trace_lock;
	bool trace_wav_start;
};

/* ---- options ------------------------------------------------------------ */

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see " PROG " --help)\n", stderr);
	return -EINVAL;
}

static int add_action(struct opts *o, const struct action *a)
{
	if (o->nactions == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 64;
		struct action *na = realloc(o->actions, cap * sizeof(*na));
		if (!na)
			return -ENOMEM;
		o->actions = na;
		o->cap = cap;
	}
	o->actions[o->nactions++] = *a;
	return 0;
}

static int add_keys(struct opts *o, const struct msg_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct action a = {.kind = ACTION_KEY, .key = keys[i]};
		if (add_action(o, &a) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int parse_uint(const char *s, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/*
 * The probe's own COPT_CALL rows (options.h): 0, or -1 with the reason in
 * why. --type, --keys, --click and --sleep add to the input script in the
 * order given.
 */
static int opt_type(void *opts, const char *arg, char *why, size_t whylen)
{
	size_t cap = strlen(arg) + 1, n = 0;
	char *text = malloc(cap);
	struct msg_key *keys = text ? calloc(8 * cap, sizeof(*keys)) : NULL;
	int rc = -1;

	if (!keys)
		snprintf(why, whylen, "cannot be kept: out of memory");
	else if (keymap_unescape(arg, text, cap) < 0)
		snprintf(why, whylen, "has an unknown escape (use \\n \\t \\b \\e \\\\ \\xHH)");
	else if (keymap_type_text(text, keys, 8 * cap, &n) < 0)
		snprintf(why, whylen, "wants UTF-8 text without a control character no key types");
	else if (add_keys(opts, keys, n) < 0)
		snprintf(why, whylen, "cannot be kept: out of memory");
	else
		rc = 0;
	free(keys);
	free(text);
	return rc;
}

static int opt_keys(void *opts, const char *arg, char *why, size_t whylen)
{
	char *copy = strdup(arg), *save = NULL;
	size_t chords = 0;
	int rc = 0;

	if (!copy) {
		snprintf(why, whylen, "cannot be kept: out of memory");
		return -1;
	}
	for (char *chord = strtok_r(copy, " ,\t", &save); chord && rc == 0;
	     chord = strtok_r(NULL, " ,\t", &save)) {
		struct msg_key keys[32];
		const char *bad = NULL;
		size_t n = 0;

		if (keymap_chord(chord, keys, 32, &n, &bad) < 0) {
			snprintf(why, whylen, "cannot read \"%s\"", bad ? bad : chord);
			rc = -1;
		} else if (add_keys(opts, keys, n) < 0) {
			snprintf(why, whylen, "cannot be kept: out of memory");
			rc = -1;
		}
		chords++;
	}
	if (rc == 0 && chords == 0) {
		snprintf(why, whylen, "needs at least one key (e.g. \"ctrl+l Return\")");
		rc = -1;
	}
	free(copy);
	return rc;
}

static int opt_resize(void *opts, const char *arg, char *why, size_t whylen)
{
	char w[16];
	const char *x = strchr(arg, 'x');
	long wv, hv;
	struct action a = {.kind = ACTION_RESIZE};

	if (!x || (size_t)(x - arg) >= sizeof(w))
		return snprintf(why, whylen, "wants WIDTHxHEIGHT, e.g. 1024x768"), -1;
	memcpy(w, arg, (size_t)(x - arg));
	w[x - arg] = '\0';
	if (parse_uint(w, MSG_RESIZE_REQUEST_MAX, &wv) < 0 ||
	    parse_uint(x + 1, MSG_RESIZE_REQUEST_MAX, &hv) < 0 || wv < 1 || hv < 1)
		return snprintf(why, whylen, "wants WIDTHxHEIGHT of 1 to %u each, e.g. 1024x768",
				MSG_RESIZE_REQUEST_MAX),
		       -1;
	a.pointer.x = (uint16_t)wv;
	a.pointer.y = (uint16_t)hv;
	if (add_action(opts, &a) < 0)
		return snprintf(why, whylen, "cannot be kept: out of memory"), -1;
	return 0;
}

static int opt_click(void *opts, const char *arg, char *why, size_t whylen)
{
	char x[16], y[16];
	const char *comma = strchr(arg, ',');
	long xv, yv;
	struct action a = {.kind = ACTION_POINTER};

	if (!comma || (size_t)(comma - arg) >= sizeof(x) || strlen(comma + 1) >= sizeof(y))
		return snprintf(why, whylen, "wants X,Y in desktop pixels"), -1;
	memcpy(x, arg, (size_t)(comma - arg));
	x[comma - arg] = '\0';
	snprintf(y, sizeof(y), "%s", comma + 1);
	if (parse_uint(x, MSG_DIMENSION_MAX - 1, &xv) < 0 ||
	    parse_uint(y, MSG_DIMENSION_MAX - 1, &yv) < 0)
		return snprintf(why, whylen, "wants X,Y in desktop pixels"), -1;
	a.pointer.x = (uint16_t)xv;
	a.pointer.y = (uint16_t)yv;
	/* move, press, release: what a real mouse sends */
	for (int i = 0; i < 3; i++) {
		a.pointer.buttons = i == 1 ? 1 : 0;
		if (add_action(opts, &a) < 0)
			return snprintf(why, whylen, "cannot be kept: out of memory"), -1;
	}
	return 0;
}

static int opt_seconds(double *out, const char *arg, char *why, size_t whylen)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v > 0) || v > 31536000.0) {
		snprintf(why, whylen, "wants a number of seconds above 0");
		return -1;
	}
	*out = v;
	return 0;
}

static int opt_timeout(void *opts, const char *arg, char *why, size_t whylen)
{
	return opt_seconds(&((struct opts *)opts)->timeout, arg, why, whylen);
}

static int opt_run_seconds(void *opts, const char *arg, char *why, size_t whylen)
{
	((struct opts *)opts)->have_seconds = true;
	return opt_seconds(&((struct opts *)opts)->seconds, arg, why, whylen);
}

static int opt_sleep(void *opts, const char *arg, char *why, size_t whylen)
{
	struct action a = {.kind = ACTION_SLEEP};
	long v;

	if (parse_uint(arg, 3600000, &v) < 0) {
		snprintf(why, whylen, "wants milliseconds");
		return -1;
	}
	a.ms = (int)v;
	if (add_action(opts, &a) < 0)
		return snprintf(why, whylen, "cannot be kept: out of memory"), -1;
	return 0;
}

#define O_(f) offsetof(struct opts, f)

/* Every option of highrise-probe: the shared rows (options.h) and its own. */
static const struct copt probe_opts[] = {
	COPT_SECTION_ROW("Through the broker (as highrise-client logs in)"),
	CLIENT_OPTS_BROKER,
	COPT_SECTION_ROW("Direct to an agent"),
	CLIENT_OPTS_DIRECT,
	{.name = "cert",
	 .kind = COPT_STRING,
	 .offset = O_(cert),
	 .value = "FILE",
	 .help = "a client certificate (with --key), for agents that\n"
		 "require one"},
	{.name = "key",
	 .kind = COPT_STRING,
	 .offset = O_(key),
	 .value = "FILE",
	 .help = "the key of --cert"},
	{.name = "timeout",
	 .kind = COPT_CALL,
	 .value = "SECONDS",
	 .help = "give up when the connection takes longer [10]; the\n"
		 "agent's answer to the ticket is awaited at least 18 s\n"
		 "(it answers within 15, with the reason when it refuses)",
	 .call = opt_timeout},
	COPT_SECTION_ROW("How long"),
	{.name = "seconds",
	 .kind = COPT_CALL,
	 .value = "N",
	 .help = "receive for N seconds after the agent accepts\n"
		 "(decimals allowed) [5, or 30 with --frames]",
	 .call = opt_run_seconds},
	{.name = "frames",
	 .kind = COPT_INT,
	 .offset = O_(frames),
	 .value = "N",
	 .min = 1,
	 .max = 1000000000,
	 .help = "stop once N frames were decoded (and the input script\n"
		 "ran); --seconds stays the upper bound"},
	COPT_SECTION_ROW("Input script (needs a session with control; run in the order given, "
			 "once the\nfirst picture arrived)"),
	{.name = "type",
	 .kind = COPT_CALL,
	 .value = "TEXT",
	 .help = "type TEXT on a US keyboard layout: key down and up with\n"
		 "the evdev scancode and X11 keysym of each character,\n"
		 "Shift for capitals and symbols; escapes \\n (Enter), \\t,\n"
		 "\\b (BackSpace), \\e (Escape), \\\\ and \\xHH",
	 .call = opt_type},
	{.name = "keys",
	 .kind = COPT_CALL,
	 .value = "CHORDS",
	 .help = "press chords, separated by blanks or commas:\n"
		 "\"ctrl+alt+Delete\", \"ctrl+l Return\", \"super\". Names: ctrl,\n"
		 "shift, alt, altgr, super; Return, Escape, Tab, BackSpace,\n"
		 "Delete, Insert, Home, End, PageUp, PageDown, Up, Down,\n"
		 "Left, Right, F1..F12, Menu, Print, Pause, CapsLock,\n"
		 "space, comma, plus, minus, or one character",
	 .call = opt_keys},
	{.name = "click",
	 .kind = COPT_CALL,
	 .value = "X,Y",
	 .help = "move the pointer to desktop pixel X,Y and click the\n"
		 "left button",
	 .call = opt_click},
	{.name = "resize",
	 .kind = COPT_CALL,
	 .value = "WxH",
	 .help = "ask the agent to resize the desktop to WxH (RESIZE_REQUEST);\n"
		 "a RESIZE answers when the console can, a STATUS when not",
	 .call = opt_resize},
	{.name = "sleep",
	 .kind = COPT_CALL,
	 .value = "MS",
	 .help = "wait MS milliseconds before the next step",
	 .call = opt_sleep},
	{.name = "key-delay",
	 .kind = COPT_INT,
	 .offset = O_(key_delay_ms),
	 .value = "MS",
	 .min = 0,
	 .max = 10000,
	 .help = "pause between input events [10]"},
	COPT_SECTION_ROW("Output"),
	{.name = "png",
	 .kind = COPT_STRING,
	 .offset = O_(png),
	 .value = "FILE",
	 .help = "write the last decoded picture to FILE as PNG (mode 0600)"},
	{.name = "json",
	 .kind = COPT_FLAG,
	 .offset = O_(json),
	 .help = "print the statistics as one JSON object on standard\n"
		 "output"},
	{.name = "reconnect",
	 .kind = COPT_FLAG,
	 .offset = O_(reconnect),
	 .help = "come back after a lost connection, as highrise-client does:\n"
		 "retry after 1, 2, 4 s, then every 4 s, with the resume\n"
		 "secret of the last WELCOME while its window lasts (no\n"
		 "broker, no login), then with --broker through the broker"},
	{.name = "no-ack",
	 .kind = COPT_FLAG,
	 .offset = O_(no_ack),
	 .help = "never acknowledge frames, like a client that stalled: the\n"
		 "agent must stop sending to it rather than queue (tests)"},
	{.name = "no-timing",
	 .kind = COPT_FLAG,
	 .offset = O_(no_timing),
	 .help = "do not ask for VIDEO's stage times (CAP_TIMING), like a\n"
		 "client that cannot read them: \"stages_ms\" stays empty"},
	{.name = "no-444",
	 .kind = COPT_FLAG,
	 .offset = O_(no_444),
	 .help = "do not offer to decode H.264 4:4:4 (CAP_H264_444), like a\n"
		 "client whose decoder cannot: still colour stays 4:2:0"},
	CLIENT_OPT_DECODER,
	COPT_SECTION_ROW("Sound (the desktop's AUDIO is played unless --no-audio; without "
			 "--audio-sink it\ngoes to no sound card at all: a clock plays it in "
			 "real time, on the schedule a\nsound card would keep, so the statistics "
			 "and files are the same)"),
	CLIENT_OPTS_SOUND,
	{.name = "audio-out",
	 .kind = COPT_STRING,
	 .offset = O_(audio_out),
	 .value = "FILE",
	 .help = "write what was played to FILE as WAV (48 kHz, 16-bit\n"
		 "stereo), complete when the probe ends"},
	{.name = "av-trace",
	 .kind = COPT_STRING,
	 .offset = O_(av_trace),
	 .value = "FILE",
	 .help = "for lip-sync tests, write one line per event to FILE:\n"
		 "\"video FRAME CAPTURE_US DISPLAY_US MEAN_LUMA\" per decoded\n"
		 "picture (the mean of its Y plane, 0..255), \"audio PLAY_US\n"
		 "CAPTURE_US PEAK\" per played 10 ms (PEAK: the largest\n"
		 "|sample|, CAPTURE_US -1 for silence), and \"wav_start\n"
		 "PLAY_US\" once, when the first sample (of --audio-out)\n"
		 "played; times in CLOCK_REALTIME microseconds, the\n"
		 "agent's for CAPTURE_US"},
	COPT_SECTION_ROW("Messages"),
	{.name = "quiet",
	 .letter = 'q',
	 .kind = COPT_FLAG,
	 .offset = O_(quiet),
	 .help = "print nothing but errors (and the JSON when asked)"},
	CLIENT_OPTS_TAIL,
	COPT_END,
};

_Static_assert(offsetof(struct opts, c) == 0, "options.h's rows write struct client_common");

/* 0, 1 for --help, or -EINVAL (already said why). */
static int parse_args(int argc, char **argv, struct opts *o)
{
	int rc;

	o->timeout = 10;
	o->key_delay_ms = DEFAULT_KEY_DELAY_MS;
	o->c.client_name = PROG;
	rc = opts_parse(probe_opts, o, argc, argv, PROG);
	if (rc != 0)
		return rc;
	rc = client_opts_mode(&o->c, PROG);
	if (rc < 0)
		return rc;
	if (rc == CLIENT_MODE_BROKER) {
		if (!o->c.broker)
			return usage_error("--agent HOST:PORT (or --broker URL) is required");
		if (!o->c.user || !o->c.password_file)
			return usage_error("--broker needs --user NAME and --password-file FILE");
	}
	if (!o->cert != !o->key)
		return usage_error("--cert and --key go together");
	if (!o->have_seconds)
		o->seconds = o->frames ? DEFAULT_FRAME_SECONDS : DEFAULT_SECONDS;
	if (o->c.no_audio && (o->audio_out || o->c.audio_sink))
		return usage_error("--no-audio leaves nothing for --audio-out or --audio-sink");
	if (o->c.mic_source && !o->c.mic)
		return usage_error("--mic-source goes with --mic");
	return 0;
}

static void usage(FILE *out)
{
	fputs("Usage: " PROG " --agent HOST[:PORT] --ticket FILE [--ca FILE] [OPTIONS]\n"
	      "       " PROG " --broker URL --user NAME --password-file FILE [--pool NAME]\n"
	      "                      [--ca FILE] [OPTIONS]\n"
	      "\n"
	      "A headless Highrise client for tests, benchmarks and health checks. It connects\n"
	      "to an agent over TLS 1.3, presents a connect ticket, receives and decodes the\n"
	      "desktop's H.264 stream for a while, can type and click into the desktop, and\n"
	      "prints what it saw: frames, bytes, key frames, latency from capture to decoded\n"
	      "picture, and decode time. It acknowledges every decoded frame like the real\n"
	      "client.\n",
	      out);
	opts_help(probe_opts, out);
	fputs("\n"
	      "The JSON object:\n"
	      "  {\"frames\": decoded frames, \"bytes\": H.264 bytes received, \"keyframes\": key\n"
	      "   frames received, \"frames_444\": decoded frames in 4:4:4 (still colour),\n"
	      "   \"width\", \"height\": the desktop size, \"latency_ms\": "
	      "{\"p50\",\n"
	      "   \"p99\"}: the probe's clock when a frame was decoded minus the agent's capture "
	      "time\n"
	      "   (both CLOCK_REALTIME: meaningful on one host or with synchronised clocks),\n"
	      "   \"decode_ms\": {\"p50\", \"p99\"}, \"control\": whether input is applied, "
	      "\"bye\":\n"
	      "   the agent's reason for ending the session, or null, \"ok\": the exit status was "
	      "0,\n"
	      "   \"error\": what went wrong, or null; plus \"seconds\", \"fps\", \"kbps\",\n"
	      "   \"frames_received\", \"frames_skipped\", \"decode_errors\", "
	      "\"keyframe_requests\",\n"
	      "   \"bytes_total\", \"rtt_ms\", \"session\", \"tls\", \"status\": the agent's "
	      "STATUS\n"
	      "   texts in order, and \"frame_ms\": when each of the first 4096 frames was\n"
	      "   decoded, in ms after the agent accepted, with \"frame_bytes\" (its access\n"
	      "   unit), \"frame_bytes_total\" (bytes_total when it was decoded),\n"
	      "   \"frame_latency_ms\" (capture to decoded) and \"frame_refine\" (a\n"
	      "   refinement of a still screen) for the same frames; \"input_to_frame_ms\":\n"
	      "   {\"p50\", \"p99\"} from sending a key press (not a modifier) to decoding the\n"
	      "   first frame the agent captured after it, refinements aside, over\n"
	      "   \"inputs_timed\" presses: the key-to-screen latency a user feels;\n"
	      "   \"stages_ms\": {\"capture\", \"wait\", \"convert\", \"encode\", \"link\",\n"
	      "   \"queue\", \"network\", \"decode\"}, each {\"p50\", \"p99\"}: where the time "
	      "went,\n"
	      "   stage by stage (docs/protocol.md 5.5), over \"timed_frames\" frames, and\n"
	      "   \"frame_stages_ms\": each of the first 4096 frames' stages in that order (null\n"
	      "   when it came without them);\n"
	      "   \"audio\": null without sound, else {\"packets\", \"bytes\", \"kbps\", "
	      "\"packet_ms\",\n"
	      "   \"refused\" (not Opus, mono, not 2.5..20 ms), \"concealed\", \"recovered\"\n"
	      "   (by FEC), \"dropped\", \"late\", \"underruns\", \"depth_ms\", \"target_ms\"\n"
	      "   (the jitter buffer), \"lipsync_ms\" (audio latency minus video latency,\n"
	      "   null until both are known), \"mic_packets\" (MIC sent)}; \"reconnects\": with\n"
	      "   --reconnect, each return after a lost connection: {\"after_ms\" from noticing\n"
	      "   the loss to the new WELCOME, \"how\": \"resume\" or \"broker\", \"desktop\", "
	      "\"at\":\n"
	      "   its Unix time}, and \"frames_after_reconnect\" (\"frames\" counts them all);\n"
	      "   \"cursor_pos\": the desktop's pointer from the last CURSOR_POS, {\"x\", \"y\",\n"
	      "   \"moves\": how many came}, or null; \"cursor_shapes\": CURSOR messages}\n"
	      "  Percentiles are null when no frame was decoded (or no key pressed).\n"
	      "\n"
	      "Exit status:\n"
	      "  0  the session ran as asked\n"
	      "  1  connecting or authenticating failed, or the session broke: standard error\n"
	      "     says why and what to check\n"
	      "  2  the command line is wrong\n"
	      "  3  the session ran, but fewer frames than --frames arrived in time, or --png\n"
	      "     had no picture to write\n"
	      "\n"
	      "Examples:\n"
	      "  " PROG " --agent host17.example.com --ticket t.pem --ca /etc/highrise/pki/ca.pem\n"
	      "  " PROG
	      " --agent 10.0.0.17:7443 --name host17.example.com --ticket - --ca ca.pem \\\n"
	      "      --frames 1 --png shot.png --json\n"
	      "  " PROG
	      " --agent 127.0.0.1:7443 --ticket t --ca ca.pem --type 'echo hi > /dev/ttyS0\\n' \\\n"
	      "      --click 100,200 --keys ctrl+l --seconds 3\n",
	      out);
}

/* ---- the run ------------------------------------------------------------- */

static void say(const struct probe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const struct probe *p, const char *fmt, ...)
{
	va_list ap;
	if (p->o->quiet)
		return;
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void finish(struct probe *p)
{
	if (p->finishing)
		return;
	p->finishing = true;
	p->end_us = session_realtime_us();
	event_del(p->stop_timer);
	event_del(p->start_timer);
	event_del(p->script_timer);
	if (p->reconnect_timer)
		event_del(p->reconnect_timer);
	if (session_info(p->session)->state == SESSION_CLOSED)
		event_base_loopexit(p->base, NULL); /* between two connections */
	else
		session_close(p->session, "probe finished");
}

static void check_done(struct probe *p)
{
	const struct session_info *in = session_info(p->session);

	if (p->finishing || in->state != SESSION_CONNECTED)
		return;
	if (p->o->frames && (long)in->stats.frames_decoded >= p->o->frames &&
	    (p->script_done || p->o->nactions == 0))
		finish(p);
}

static void arm(struct event *ev, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(ev, &tv);
}

/* Shift, Control, Alt, Super (X11 keysyms 0xffe1-0xffee), AltGr: they draw nothing themselves. */
static bool is_modifier(uint32_t keysym)
{
	return (keysym >= 0xffe1 && keysym <= 0xffee) || keysym == 0xfe03;
}

/* A key press went out: the next frame captured after now shows it. */
static void input_sent(struct probe *p)
{
	if (p->ninputs == INPUTS_PENDING) { /* nothing answered 64 presses: drop the oldest */
		memmove(p->input_sent_us, p->input_sent_us + 1,
			(INPUTS_PENDING - 1) * sizeof(p->input_sent_us[0]));
		p->ninputs--;
	}
	p->input_sent_us[p->ninputs++] = session_realtime_us();
}

/* Key presses sent before f was captured are answered by it (refinements show nothing new). */
static void input_answered(struct probe *p, const struct session_frame *f)
{
	size_t n = 0;

	if (f->refinement)
		return;
	while (n < p->ninputs && p->input_sent_us[n] <= f->capture_us) {
		stats_series_add(&p->input_ms,
				 ((double)f->decoded_us - (double)p->input_sent_us[n]) / 1000.0);
		n++;
	}
	memmove(p->input_sent_us, p->input_sent_us + n,
		(p->ninputs - n) * sizeof(p->input_sent_us[0]));
	p->ninputs -= n;
}

static void script_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	(void)fd;
	(void)what;

	while (p->next_action < p->o->nactions) {
		const struct action *a = &p->o->actions[p->next_action++];
		int rc = 0;

		if (a->kind == ACTION_SLEEP) {
			arm(p->script_timer, a->ms);
			return;
		}
		if (a->kind == ACTION_KEY) {
			rc = session_send_key(p->session, a->key.scancode, a->key.keysym,
					      a->key.flags & MSG_KEY_DOWN);
			if (rc == 0 && (a->key.flags & MSG_KEY_DOWN) && !is_modifier(a->key.keysym))
				input_sent(p);
		} else if (a->kind == ACTION_RESIZE) {
			rc = session_send_resize_request(p->session, a->pointer.x, a->pointer.y);
			if (rc == 0)
				say(p, "asked the agent for a %ux%u desktop", a->pointer.x,
				    a->pointer.y);
		} else {
			rc = session_send_pointer(p->session, a->pointer.x, a->pointer.y,
						  a->pointer.buttons);
		}
		if (rc == -EPERM) {
			say(p, "the session is view only: the agent ignores input, so the input "
			       "script is skipped");
			p->next_action = p->o->nactions;
			break;
		}
		if (rc < 0) {
			say(p, "cannot send input: %s", hr_strerror(rc));
			p->next_action = p->o->nactions;
			break;
		}
		if (p->o->key_delay_ms > 0 && p->next_action < p->o->nactions) {
			arm(p->script_timer, p->o->key_delay_ms);
			return;
		}
	}
	p->script_done = true;
	check_done(p);
}

static void start_script(struct probe *p)
{
	if (p->script_started)
		return;
	p->script_started = true;
	if (p->o->nactions == 0) {
		p->script_done = true;
		return;
	}
	event_del(p->script_timer);
	event_active(p->script_timer, EV_TIMEOUT, 0);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	(void)fd;
	(void)what;

	if (!p->script_done && p->o->nactions)
		say(p, "the time limit cut the input script short (%zu of %zu events sent)",
		    p->next_action, p->o->nactions);
	finish(p);
}

static void start_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start_script(arg); /* SCRIPT_START_MS passed without a picture: go anyway */
}

static void signal_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	(void)what;

	say(p, "interrupted (signal %d): closing", (int)fd);
	p->interrupted = true;
	if (session_info(p->session)->state == SESSION_CLOSED)
		event_base_loopexit(p->base, NULL);
	else
		finish(p); /* on_state(SESSION_CLOSED) ends the loop */
}

/* ---- sound ---------------------------------------------------------------- */

static void trace_line(struct probe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void trace_line(struct probe *p, const char *fmt, ...)
{
	va_list ap;
	if (!p->trace)
		return;
	pthread_mutex_lock(&p->trace_lock);
	va_start(ap, fmt);
	vfprintf(p->trace, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&p->trace_lock);
}

/* On the playback thread. */
static void on_played(int64_t play_us, int64_t capture_us, int peak, const int16_t *pcm,
		      int samples, void *ud)
{
	struct probe *p = ud;
	(void)pcm;
	(void)samples;
	if (!p->trace_wav_start) {
		p->trace_wav_start = true; /* only this thread reads or writes it */
		trace_line(p, "wav_start %lld\n", (long long)play_us);
	}
	trace_line(p, "audio %lld %lld %d\n", (long long)play_us, (long long)capture_us, peak);
}

static void on_audio(struct session *s, const struct msg_audio *a, uint64_t arrival_us, void *ud)
{
	struct probe *p = ud;
	(void)s;
	if (p->audio)
		client_audio_push(p->audio, (int64_t)a->capture_us, (int64_t)arrival_us,
				  a->data.data, a->data.len);
}

static bool on_audio_report(struct session *s, struct msg_audio_report *r, void *ud)
{
	struct probe *p = ud;
	(void)s;
	return p->audio && client_audio_report(p->audio, r);
}

static int on_mic_packet(int64_t capture_us, const uint8_t *data, size_t len, void *ud)
{
	struct probe *p = ud;
	return session_send_mic(p->session, (uint64_t)capture_us, data, len);
}

/* WELCOME arrived: start playing if it said AUDIO, the microphone if it said MIC. */
static void start_sound(struct probe *p, const struct session_info *in)
{
	const struct opts *o = p->o;

	if (in->audio && !p->audio) {
		const char *sink = !o->c.audio_sink ? CLIENT_AUDIO_SINK_NONE
				   : strcmp(o->c.audio_sink, "default") == 0 ? NULL
									     : o->c.audio_sink;
		p->audio = client_audio_new(&(struct client_audio_cfg){
			.sink = sink,
			.wav_path = o->audio_out,
			.on_played = p->trace ? on_played : NULL,
			.userdata = p,
		});
		if (!p->audio)
			fprintf(stderr, PROG ": cannot play the desktop's sound (see above); "
					     "going on without it\n");
	} else if (!in->audio && !o->c.no_audio && (o->audio_out || o->c.audio_sink)) {
		fprintf(stderr, PROG ": the agent sends no sound for this desktop (no audio= in "
				     "its configuration, or it cannot capture it)\n");
	}
	if (o->c.mic && !in->mic) {
		fprintf(stderr, PROG ": --mic: the agent does not take this client's microphone "
				     "(the desktop forbids it, or it has no mic=)\n");
	} else if (o->c.mic && !p->mic) {
		p->mic = client_mic_new(p->base, &(struct client_mic_cfg){
							 .source = o->c.mic_source,
							 .on_packet = on_mic_packet,
							 .userdata = p,
						 });
		if (!p->mic || client_mic_set_on(p->mic, true) < 0)
			fprintf(stderr, PROG ": --mic: cannot record %s (see above)\n",
				o->c.mic_source ? o->c.mic_source : "the default source");
		else
			say(p, "microphone on: sending %s",
			    o->c.mic_source ? o->c.mic_source : "the default source");
	}
}

/* Mean of the Y plane, 0..255: what a flash does to a picture. */
static double mean_luma(const struct decoder_frame *f)
{
	uint64_t sum = 0;
	for (int y = 0; y < f->height; y++) {
		const uint8_t *row = f->plane[0] + (size_t)y * (size_t)f->stride[0];
		for (int x = 0; x < f->width; x++)
			sum += row[x];
	}
	return f->width > 0 && f->height > 0 ? (double)sum / ((double)f->width * f->height) : 0;
}

/* ---- --reconnect ------------------------------------------------------------ */

/*
 * The session closed: true when --reconnect takes over (a lost network,
 * or a refused resume with a broker to ask), with the next try scheduled.
 */
static bool lost(struct probe *p, const struct session_info *in, const char *text)
{
	bool refused_resume = in->end == SESSION_END_REFUSED &&
			      in->bye_reason == MSG_BYE_RESUME_REFUSED && p->bl;
	int ms;

	if (!p->o->reconnect || p->finishing || p->interrupted ||
	    (in->end != SESSION_END_NETWORK && !refused_resume))
		return false;
	session_resume_note(&p->resume, in);
	if (!p->reconnecting) {
		p->reconnecting = true;
		p->lost_us = session_realtime_us();
		p->attempt = 0;
		say(p, "connection lost: %s", text);
	} else {
		say(p, "reconnect attempt %d failed: %s", p->attempt, text);
	}
	p->attempt++;
	ms = 1000 << (p->attempt < 3 ? p->attempt - 1 : 2);
	if (p->resume.valid)
		ms = SESSION_RESUME_RETRY_MS; /* short tries, often: session.h */
	arm(p->reconnect_timer, refused_resume ? 0 : ms > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : ms);
	return true;
}

/* A reconnect reached WELCOME. */
static void back(struct probe *p, const struct session_info *in)
{
	struct reconnect *r = &p->reconnects[p->nreconnects < RECONNECTS_MAX ? p->nreconnects
									     : RECONNECTS_MAX - 1];
	uint64_t now = session_realtime_us();

	r->after_ms = (double)(now - p->lost_us) / 1000.0;
	r->broker = p->via_broker;
	r->at = (double)now / 1e6;
	snprintf(r->desktop, sizeof(r->desktop), "%s", in->session_id);
	if (p->nreconnects < RECONNECTS_MAX)
		p->nreconnects++;
	p->reconnecting = false;
	if (p->via_broker)
		say(p, "back in through the broker after %.0f ms", r->after_ms);
	else
		say(p, "resumed the session after %.0f ms (no broker)", r->after_ms);
	start_sound(p, in);
}

/* An address came or went: a session whose own address went ends now, and lost() resumes. */
static void net_changed(void *ud)
{
	struct probe *p = ud;

	if (session_network_changed(p->session))
		return;
	/* between tries: a new address may be the way back, so try it now */
	if (p->reconnecting && session_info(p->session)->state == SESSION_CLOSED &&
	    evtimer_pending(p->reconnect_timer, NULL))
		arm(p->reconnect_timer, 0);
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	const uint8_t *grant = session_resume_use(&p->resume);
	struct session_cfg cfg = p->cfg;
	char where[300];
	(void)fd;
	(void)what;

	if (grant) {
		cfg.resume = grant;
		if (!cfg.timeout_ms || cfg.timeout_ms > SESSION_RESUME_TIMEOUT_MS)
			cfg.timeout_ms = SESSION_RESUME_TIMEOUT_MS;
		p->via_broker = false;
	} else if (p->bl) {
		char text[1200];
		int retry_ms, bye;
		if (broker_login_prepare(p->bl, &cfg, text, sizeof(text), &retry_ms, &bye) < 0) {
			say(p, "the broker: %s", text);
			arm(p->reconnect_timer, RECONNECT_MAX_MS);
			return;
		}
		cfg.resume = NULL;
		p->cfg = cfg; /* valid until the next prepare */
		p->via_broker = true;
	} else {
		/* on_state reported the last failure; nothing left to try */
		fprintf(stderr, PROG ": cannot resume: the session's resume window has passed "
				     "and there is no --broker to ask\n");
		event_base_loopexit(p->base, NULL);
		return;
	}
	p->frames_before += session_info(p->session)->stats.frames_decoded;
	session_free(p->session);
	hostport_format(where, sizeof(where), cfg.host, cfg.port);
	say(p, "%s %s", grant ? "resuming the session at" : "connecting to", where);
	p->session = session_new(p->base, &cfg, &p->cbs, p);
	if (!p->session) {
		fprintf(stderr, PROG ": cannot start a new connection (see above)\n");
		event_base_loopexit(p->base, NULL);
	}
}

static void on_state(struct session *s, enum session_state state, const char *text, void *ud)
{
	struct probe *p = ud;
	(void)s;

	if (state == SESSION_CLOSED) {
		if (lost(p, session_info(s), text))
			return; /* a reconnect_cb is on its way */
		if (session_info(s)->end != SESSION_END_LOCAL)
			fprintf(stderr, PROG ": %s\n", text);
		if (!p->end_us)
			p->end_us = session_realtime_us();
		event_del(p->stop_timer);
		event_del(p->start_timer);
		event_del(p->script_timer);
		event_base_loopexit(p->base, NULL);
		return;
	}
	say(p, "%s", text);
	if (state == SESSION_CONNECTED && p->reconnecting) {
		back(p, session_info(s));
		return;
	}
	if (state == SESSION_CONNECTED) {
		double ms = p->o->seconds * 1000.0;
		p->welcome_us = session_realtime_us();
		arm(p->stop_timer, ms > 2147483647.0 ? 2147483647 : (int)ms);
		/* the script waits for a picture, at most SCRIPT_START_MS */
		arm(p->start_timer, SCRIPT_START_MS);
		start_sound(p, session_info(s));
	}
}

static void on_frame(struct session *s, const struct session_frame *f, void *ud)
{
	struct probe *p = ud;
	double lat = ((double)f->decoded_us - (double)f->capture_us) / 1000.0;

	stats_series_add(&p->latency_ms, lat);
	stats_series_add(&p->decode_ms, f->decode_us / 1000.0);
	double ms[STATS_STAGE_COUNT];
	if (f->timed) {
		stats_stages_of_frame(ms, f->stage_us, f->network_us, f->decode_us);
		stats_stages_add(&p->stages, ms, PROBE_STAGES);
	}
	/* the probe shows a picture when it is decoded: lip sync follows that */
	if (p->audio)
		client_audio_video_shown(p->audio, (int64_t)f->capture_us, (int64_t)f->decoded_us);
	if (p->trace)
		trace_line(p, "video %u %llu %llu %.2f\n", f->number,
			   (unsigned long long)f->capture_us, (unsigned long long)f->decoded_us,
			   mean_luma(f->picture));
	input_answered(p, f);
	if (p->nframe_ms < FRAME_TIMES_MAX) {
		p->frame_latency_ms[p->nframe_ms] = lat;
		p->frame_bytes[p->nframe_ms] = (uint32_t)f->bytes;
		p->frame_bytes_total[p->nframe_ms] = session_info(s)->stats.bytes_received;
		p->frame_refine[p->nframe_ms] = f->refinement;
		for (int i = 0; i < PROBE_STAGES; i++)
			p->frame_stages_ms[p->nframe_ms][i] = f->timed ? (float)ms[i] : NAN;
		p->frame_ms[p->nframe_ms++] = ((double)f->decoded_us - (double)p->welcome_us) /
					      1000.0;
	}
	if (!p->script_started) {
		event_del(p->start_timer);
		start_script(p);
	}
	check_done(p);
}

static void on_status(struct session *s, uint16_t code, const char *text, void *ud)
{
	struct probe *p = ud;
	(void)s;
	(void)code;
	say(p, "the agent says: %s", text);
	if (p->nstatus < STATUS_MAX)
		snprintf(p->status[p->nstatus++], sizeof(p->status[0]), "%s", text);
}

static void on_cursor(struct session *s, const struct msg_cursor *c, void *ud)
{
	struct probe *p = ud;
	(void)s;
	(void)c;
	p->cursor_shapes++;
}

static void on_cursor_pos(struct session *s, const struct msg_cursor_pos *c, void *ud)
{
	struct probe *p = ud;
	(void)s;
	p->cursor_pos = *c;
	p->cursor_moves++;
}

static void on_resize(struct session *s, int width, int height, void *ud)
{
	(void)s;
	say(ud, "the desktop is now %dx%d", width, height);
}

/* ---- the report ---------------------------------------------------------- */

/* What to check next, for the failure in *in. */
static const char *hint(const struct session_info *in)
{
	switch (in->end) {
	case SESSION_END_REFUSED:
		switch (in->bye_reason) {
		case MSG_BYE_TICKET_EXPIRED:
			return "ask the broker for a fresh ticket and use it within its lifetime "
			       "(60 s "
			       "at most); check that this machine's clock is right";
		case MSG_BYE_TICKET_INVALID:
			return "the ticket may be for another agent or desktop, already used, or "
			       "signed by another broker: ask the broker for a new one";
		case MSG_BYE_VERSION:
			return "use a " PROG " from the same Highrise release as the agent";
		case MSG_BYE_DESKTOP_UNAVAILABLE:
			return "the desktop may be stopped or broken: check it with highrisectl "
			       "and the "
			       "agent's log";
		default:
			return "see the agent's log for why it refused";
		}
	case SESSION_END_NETWORK:
		if (strncmp(in->reason, "cannot resolve", 14) == 0)
			return "check the host name given to --agent";
		if (in->closed_in == SESSION_CONNECTING) {
			if (strstr(in->reason, "certificate") || strstr(in->reason, "pinned") ||
			    strstr(in->reason, "TLS"))
				return "check --ca (the deployment's ca.pem), --pin, and --name (a "
				       "name "
				       "in the agent's certificate)";
			return "check that the agent runs and listens at that address and port, "
			       "and "
			       "that no firewall is in the way";
		}
		if (in->closed_in == SESSION_AUTHENTICATING)
			return "if the agent requires client certificates pass --cert and --key; "
			       "otherwise see the agent's log";
		return "check the network and the agent's log";
	case SESSION_END_PROTOCOL:
		return "the agent and this probe disagree on the protocol: check that both come "
		       "from "
		       "the same release, and report it with the agent's log";
	case SESSION_END_BYE:
		return "the agent ended the session before the probe was done";
	default:
		return NULL;
	}
}

static void json_ms(cJSON *obj, const char *name, struct stats_series *s)
{
	cJSON *o = cJSON_AddObjectToObject(obj, name);
	double p50 = stats_series_percentile(s, 50), p99 = stats_series_percentile(s, 99);

	if (isnan(p50)) {
		cJSON_AddNullToObject(o, "p50");
		cJSON_AddNullToObject(o, "p99");
		return;
	}
	cJSON_AddNumberToObject(o, "p50", round(p50 * 1000) / 1000);
	cJSON_AddNumberToObject(o, "p99", round(p99 * 1000) / 1000);
}

static void print_json(struct probe *p, const struct session_info *in, int code, const char *err)
{
	const struct session_stats *st = &in->stats;
	double secs = p->welcome_us && p->end_us > p->welcome_us
			      ? (double)(p->end_us - p->welcome_us) / 1e6
			      : 0;
	cJSON *o = cJSON_CreateObject();
	char *text;

	cJSON_AddNumberToObject(o, "frames", (double)(p->frames_before + st->frames_decoded));
	cJSON_AddNumberToObject(o, "frames_after_reconnect", (double)st->frames_decoded);
	cJSON *recs = cJSON_AddArrayToObject(o, "reconnects");
	for (size_t i = 0; recs && i < p->nreconnects; i++) {
		cJSON *r = cJSON_CreateObject();
		if (!r)
			break;
		cJSON_AddNumberToObject(r, "after_ms", round(p->reconnects[i].after_ms));
		cJSON_AddStringToObject(r, "how", p->reconnects[i].broker ? "broker" : "resume");
		cJSON_AddStringToObject(r, "desktop", p->reconnects[i].desktop);
		cJSON_AddNumberToObject(r, "at", round(p->reconnects[i].at * 1000) / 1000);
		cJSON_AddItemToArray(recs, r);
	}
	cJSON_AddNumberToObject(o, "bytes", (double)st->video_bytes);
	cJSON_AddNumberToObject(o, "keyframes", (double)st->keyframes);
	cJSON_AddNumberToObject(o, "frames_444", (double)st->frames_444);
	cJSON_AddNumberToObject(o, "width", in->width);
	cJSON_AddNumberToObject(o, "height", in->height);
	json_ms(o, "latency_ms", &p->latency_ms);
	json_ms(o, "decode_ms", &p->decode_ms);
	json_ms(o, "input_to_frame_ms", &p->input_ms);
	cJSON *stages = cJSON_AddObjectToObject(o, "stages_ms");
	for (int i = 0; stages && i < PROBE_STAGES; i++)
		json_ms(stages, stats_stage_name(i), &p->stages.s[i]);
	cJSON_AddNumberToObject(o, "timed_frames", (double)p->stages.frames);
	cJSON_AddNumberToObject(o, "inputs_timed", (double)p->input_ms.count);
	cJSON_AddBoolToObject(o, "control", in->control);
	if (in->end == SESSION_END_REFUSED || in->end == SESSION_END_BYE)
		cJSON_AddStringToObject(o, "bye", in->reason);
	else
		cJSON_AddNullToObject(o, "bye");
	cJSON_AddBoolToObject(o, "ok", code == EXIT_OK);
	if (err)
		cJSON_AddStringToObject(o, "error", err);
	else
		cJSON_AddNullToObject(o, "error");
	cJSON_AddNumberToObject(o, "seconds", round(secs * 1000) / 1000);
	cJSON_AddNumberToObject(o, "fps",
				secs > 0 ? round(st->frames_decoded / secs * 100) / 100 : 0);
	cJSON_AddNumberToObject(o, "kbps",
				secs > 0 ? round(st->video_bytes * 8 / secs / 1000 * 10) / 10 : 0);
	cJSON_AddNumberToObject(o, "frames_received", (double)st->frames_received);
	cJSON_AddNumberToObject(o, "frames_skipped", (double)st->frames_skipped);
	cJSON_AddNumberToObject(o, "decode_errors", (double)st->decode_errors);
	cJSON_AddNumberToObject(o, "keyframe_requests", (double)st->keyframe_requests);
	cJSON_AddNumberToObject(o, "bytes_total", (double)st->bytes_received);
	if (st->rtt_us >= 0)
		cJSON_AddNumberToObject(o, "rtt_ms", round(st->rtt_us / 10.0) / 100);
	else
		cJSON_AddNullToObject(o, "rtt_ms");
	cJSON_AddStringToObject(o, "session", in->session_id);
	cJSON_AddStringToObject(o, "tls", in->tls);
	if (p->session) {
		const struct decoder *dec = session_decoder(p->session);
		const char *fb = decoder_fallback_reason(dec);

		cJSON_AddStringToObject(o, "decoder", decoder_describe(dec));
		cJSON_AddBoolToObject(o, "decoder_hardware", decoder_is_hardware(dec));
		if (*fb)
			cJSON_AddStringToObject(o, "decoder_fallback", fb);
		else
			cJSON_AddNullToObject(o, "decoder_fallback");
	}
	if (p->have_audio_st) {
		const struct client_audio_stats *a = &p->audio_st;
		cJSON *au = cJSON_AddObjectToObject(o, "audio");
		cJSON_AddNumberToObject(au, "packets", (double)a->packets);
		cJSON_AddNumberToObject(au, "bytes", (double)a->bytes);
		cJSON_AddNumberToObject(au, "kbps", round(a->kbps * 10) / 10);
		cJSON_AddNumberToObject(au, "packet_ms", a->packet_ms);
		cJSON_AddNumberToObject(au, "refused", (double)a->refused);
		cJSON_AddNumberToObject(au, "concealed", (double)a->concealed);
		cJSON_AddNumberToObject(au, "recovered", (double)a->recovered);
		cJSON_AddNumberToObject(au, "dropped", (double)a->dropped);
		cJSON_AddNumberToObject(au, "late", (double)a->late);
		cJSON_AddNumberToObject(au, "underruns", (double)a->underruns);
		cJSON_AddNumberToObject(au, "depth_ms", round(a->depth_us / 100.0) / 10);
		cJSON_AddNumberToObject(au, "target_ms", round(a->target_us / 100.0) / 10);
		if (a->lipsync_valid)
			cJSON_AddNumberToObject(au, "lipsync_ms", round(a->lipsync_ms * 10) / 10);
		else
			cJSON_AddNullToObject(au, "lipsync_ms");
		cJSON_AddNumberToObject(au, "mic_packets", (double)st->mic_packets);
	} else {
		cJSON_AddNullToObject(o, "audio");
	}
	cJSON_AddNumberToObject(o, "cursor_shapes", (double)p->cursor_shapes);
	if (p->cursor_moves) {
		cJSON *cp = cJSON_AddObjectToObject(o, "cursor_pos");
		cJSON_AddNumberToObject(cp, "x", p->cursor_pos.x);
		cJSON_AddNumberToObject(cp, "y", p->cursor_pos.y);
		cJSON_AddNumberToObject(cp, "moves", (double)p->cursor_moves);
	} else {
		cJSON_AddNullToObject(o, "cursor_pos");
	}
	cJSON *status = cJSON_AddArrayToObject(o, "status");
	for (size_t i = 0; status && i < p->nstatus; i++)
		cJSON_AddItemToArray(status, cJSON_CreateString(p->status[i]));
	cJSON *times = cJSON_AddArrayToObject(o, "frame_ms");
	cJSON *fbytes = cJSON_AddArrayToObject(o, "frame_bytes");
	cJSON *ftotal = cJSON_AddArrayToObject(o, "frame_bytes_total");
	cJSON *flat = cJSON_AddArrayToObject(o, "frame_latency_ms");
	cJSON *frefine = cJSON_AddArrayToObject(o, "frame_refine");
	cJSON *fstages = cJSON_AddArrayToObject(o, "frame_stages_ms");
	for (size_t i = 0; times && i < p->nframe_ms; i++)
		cJSON_AddItemToArray(times, cJSON_CreateNumber(round(p->frame_ms[i] * 10) / 10));
	for (size_t i = 0; fbytes && ftotal && flat && frefine && i < p->nframe_ms; i++) {
		cJSON_AddItemToArray(fbytes, cJSON_CreateNumber(p->frame_bytes[i]));
		cJSON_AddItemToArray(ftotal, cJSON_CreateNumber((double)p->frame_bytes_total[i]));
		cJSON_AddItemToArray(flat,
				     cJSON_CreateNumber(round(p->frame_latency_ms[i] * 100) / 100));
		cJSON_AddItemToArray(frefine, cJSON_CreateBool(p->frame_refine[i]));
		cJSON *row = isnan(p->frame_stages_ms[i][0]) ? cJSON_CreateNull()
							     : cJSON_CreateArray();
		for (int k = 0; row && cJSON_IsArray(row) && k < PROBE_STAGES; k++)
			cJSON_AddItemToArray(
				row,
				cJSON_CreateNumber(round(p->frame_stages_ms[i][k] * 1000) / 1000));
		if (fstages && row)
			cJSON_AddItemToArray(fstages, row);
	}
	text = cJSON_PrintUnformatted(o);
	if (text)
		printf("%s\n", text);
	cJSON_free(text);
	cJSON_Delete(o);
}

static void print_summary(struct probe *p, const struct session_info *in)
{
	const struct session_stats *st = &in->stats;
	double secs = p->welcome_us && p->end_us > p->welcome_us
			      ? (double)(p->end_us - p->welcome_us) / 1e6
			      : 0;

	printf("desktop     %dx%d, %s\n", in->width, in->height,
	       in->control ? "keyboard and mouse enabled" : "view only");
	printf("frames      %llu decoded in %.1f s (%.1f fps); %llu key frames, %llu skipped, "
	       "%llu decode errors\n",
	       (unsigned long long)st->frames_decoded, secs,
	       secs > 0 ? st->frames_decoded / secs : 0.0, (unsigned long long)st->keyframes,
	       (unsigned long long)st->frames_skipped, (unsigned long long)st->decode_errors);
	printf("bytes       %llu of H.264 (%.0f kbit/s), %llu in all\n",
	       (unsigned long long)st->video_bytes,
	       secs > 0 ? st->video_bytes * 8 / secs / 1000 : 0,
	       (unsigned long long)st->bytes_received);
	if (p->latency_ms.n) {
		printf("latency     p50 %.1f ms, p99 %.1f ms (capture to decoded)\n",
		       stats_series_percentile(&p->latency_ms, 50),
		       stats_series_percentile(&p->latency_ms, 99));
		printf("decode      p50 %.2f ms, p99 %.2f ms\n",
		       stats_series_percentile(&p->decode_ms, 50),
		       stats_series_percentile(&p->decode_ms, 99));
	}
	if (p->stages.frames) {
		char line[256];
		stats_stages_format(&p->stages, 50, 0, PROBE_STAGES, line, sizeof(line));
		printf("stages p50  %s\n", line);
		stats_stages_format(&p->stages, 99, 0, PROBE_STAGES, line, sizeof(line));
		printf("stages p99  %s\n", line);
	}
	if (p->input_ms.n)
		printf("key->frame  p50 %.1f ms, p99 %.1f ms (%llu key presses)\n",
		       stats_series_percentile(&p->input_ms, 50),
		       stats_series_percentile(&p->input_ms, 99),
		       (unsigned long long)p->input_ms.count);
	if (st->rtt_us >= 0)
		printf("round trip  %.2f ms\n", st->rtt_us / 1000.0);
	if (p->have_audio_st) {
		const struct client_audio_stats *a = &p->audio_st;
		printf("audio       %llu packets (%.0f kbit/s), %llu concealed, %llu recovered, "
		       "%llu dropped, %llu late, %llu refused, %llu underruns\n",
		       (unsigned long long)a->packets, secs > 0 ? a->bytes * 8 / secs / 1000 : 0,
		       (unsigned long long)a->concealed, (unsigned long long)a->recovered,
		       (unsigned long long)a->dropped, (unsigned long long)a->late,
		       (unsigned long long)a->refused, (unsigned long long)a->underruns);
		printf("jitter      %.0f ms buffered, %.0f ms target", a->depth_us / 1000.0,
		       a->target_us / 1000.0);
		if (a->lipsync_valid)
			printf("; lip sync %+.1f ms (audio %s the picture)", a->lipsync_ms,
			       a->lipsync_ms >= 0 ? "after" : "before");
		printf("\n");
	}
	if (st->mic_packets)
		printf("microphone  %llu packets sent\n", (unsigned long long)st->mic_packets);
}

static int write_png(struct probe *p, const char *path)
{
	struct decoder *dec = session_decoder(p->session);
	struct decoder_frame f;
	uint8_t *rgb;
	int rc;

	if (decoder_last_frame(dec, &f) < 0) {
		fprintf(stderr,
			PROG ": no picture was decoded, so there is nothing to write to %s\n",
			path);
		return -ENOENT;
	}
	rgb = malloc((size_t)f.width * (size_t)f.height * 3);
	if (!rgb)
		return -ENOMEM;
	rc = decoder_to_rgb(dec, &f, DECODER_RGB24, rgb, f.width * 3);
	if (rc == 0)
		rc = png_write_file(path, rgb, f.width, f.height, f.width * 3);
	free(rgb);
	if (rc < 0)
		fprintf(stderr, PROG ": cannot write %s: %s\n", path, hr_strerror(rc));
	else
		say(p, "wrote the last picture (%dx%d) to %s", f.width, f.height, path);
	return rc;
}

static int run(struct opts *o)
{
	struct probe p = {.o = o};
	struct broker_login *bl = NULL; /* --broker */
	struct session_cfg cfg = {0};
	struct session_cbs cbs = {0};
	const struct session_info *in;
	char errbuf[MSG_REASON_MAX + 512];
	const char *err = NULL;
	int code = EXIT_OK;

	stats_series_init(&p.latency_ms);
	stats_series_init(&p.decode_ms);
	stats_series_init(&p.input_ms);
	stats_stages_init(&p.stages);
	pthread_mutex_init(&p.trace_lock, NULL);
	p.base = event_base_new();
	if (!p.base) {
		fprintf(stderr, PROG ": cannot create an event loop\n");
		return EXIT_CONNECT;
	}
	p.stop_timer = evtimer_new(p.base, stop_cb, &p);
	p.start_timer = evtimer_new(p.base, start_cb, &p);
	p.script_timer = evtimer_new(p.base, script_cb, &p);
	p.sig_int = evsignal_new(p.base, SIGINT, signal_cb, &p);
	p.sig_term = evsignal_new(p.base, SIGTERM, signal_cb, &p);
	p.reconnect_timer = evtimer_new(p.base, reconnect_cb, &p);
	if (!p.stop_timer || !p.start_timer || !p.script_timer || !p.sig_int || !p.sig_term ||
	    !p.reconnect_timer) {
		code = EXIT_CONNECT;
		goto out;
	}
	event_add(p.sig_int, NULL);
	event_add(p.sig_term, NULL);

	cfg.host = o->c.host;
	cfg.port = o->c.port;
	cfg.ca_file = o->c.ca;
	cfg.pin_sha256 = o->c.pin;
	cfg.verify_name = o->c.name;
	cfg.cert_file = o->cert;
	cfg.key_file = o->key;
	cfg.ticket_file = o->c.ticket;
	cfg.client_name = o->c.client_name;
	cfg.manual_ack = o->no_ack; /* and session_ack is never called */
	cfg.caps = SESSION_CAPS_DEFAULT;
	if (o->no_timing)
		cfg.caps &= ~(uint32_t)MSG_CAP_TIMING;
	if (o->no_444)
		cfg.caps &= ~(uint32_t)MSG_CAP_H264_444;
	cfg.decoder_hw = o->c.decoder;
	if (o->c.decoder == DECODER_HW_VAAPI &&
	    decoder_probe(DECODER_HW_VAAPI, NULL, errbuf, sizeof(errbuf)) < 0) {
		fprintf(stderr, PROG ": --decoder vaapi: %s. Use --decoder auto or software.\n",
			errbuf);
		code = EXIT_CONNECT;
		goto out;
	}
	cfg.timeout_ms = (int)(o->timeout * 1000 > 2147483647.0 ? 2147483647 : o->timeout * 1000);
	cbs.on_state = on_state;
	cbs.on_frame = on_frame;
	cbs.on_status = on_status;
	cbs.on_resize = on_resize;
	cbs.on_cursor_pos = on_cursor_pos;
	cbs.on_cursor = on_cursor;
	cbs.on_audio = on_audio;
	cbs.on_audio_report = on_audio_report;
	cfg.no_audio = o->c.no_audio;
	cfg.offer_mic = o->c.mic;
	if (o->av_trace) {
		p.trace = fopen(o->av_trace, "w");
		if (!p.trace) {
			fprintf(stderr, PROG ": --av-trace: cannot write %s: %s\n", o->av_trace,
				strerror(errno));
			code = EXIT_USAGE;
			goto out;
		}
	}
	if (o->c.broker) {
		char text[1200];
		int retry_ms, bye;
		struct broker_login_cfg lcfg = client_opts_login(&o->c, PROG);

		bl = broker_login_new(&lcfg);
		if (!bl ||
		    broker_login_prepare(bl, &cfg, text, sizeof(text), &retry_ms, &bye) < 0) {
			fprintf(stderr, PROG ": %s\n",
				bl ? text : "--broker must be https://HOST[:PORT]");
			code = EXIT_CONNECT;
			goto out;
		}
		say(&p, "the broker gave a desktop on %s", cfg.host);
	}
	char where[300];
	hostport_format(where, sizeof(where), cfg.host, cfg.port);
	say(&p, "connecting to %s", where);
	p.cfg = cfg;
	p.cbs = cbs;
	p.bl = bl;
	if (o->reconnect)
		p.netwatch = netwatch_new(p.base, net_changed, &p);
	p.session = session_new(p.base, &cfg, &cbs, &p);
	if (!p.session) {
		fprintf(stderr, PROG ": cannot start: the message above says which file or setting "
				     "is wrong\n");
		code = EXIT_CONNECT;
		goto out;
	}
	event_base_dispatch(p.base);

	/* sound stops with the session: its figures, then the WAV completes */
	client_mic_free(p.mic);
	p.mic = NULL;
	if (p.audio) {
		client_audio_stats(p.audio, &p.audio_st);
		p.have_audio_st = true;
		client_audio_free(p.audio);
		p.audio = NULL;
	}
	in = session_info(p.session);
	if (p.interrupted && !p.welcome_us) {
		code = EXIT_CONNECT;
		err = "interrupted before the session started";
	} else if (in->end != SESSION_END_LOCAL) {
		const char *h = hint(in);
		code = EXIT_CONNECT;
		err = in->reason;
		if (h)
			fprintf(stderr, PROG ": %s\n", h);
	} else if (o->frames && (long)in->stats.frames_decoded < o->frames) {
		code = EXIT_SHORT;
		snprintf(errbuf, sizeof(errbuf), "%llu of %d frames arrived in %g s",
			 (unsigned long long)in->stats.frames_decoded, o->frames, o->seconds);
		err = errbuf;
		fprintf(stderr, PROG ": %s (an idle desktop sends no frames: is it changing?)\n",
			err);
	}
	/* even a session that broke may have a last picture worth keeping */
	if (o->png && (code == EXIT_OK || in->stats.frames_decoded) && write_png(&p, o->png) < 0 &&
	    code == EXIT_OK) {
		code = EXIT_SHORT;
		err = in->stats.frames_decoded ? "cannot write the PNG file"
					       : "no picture was decoded";
	}
	if (o->json)
		print_json(&p, in, code, err);
	else if (!o->quiet && in->state == SESSION_CLOSED && p.welcome_us)
		print_summary(&p, in);

out:
	client_mic_free(p.mic);
	client_audio_free(p.audio);
	if (p.trace && fclose(p.trace) != 0)
		fprintf(stderr, PROG ": --av-trace: cannot complete %s\n", o->av_trace);
	pthread_mutex_destroy(&p.trace_lock);
	session_free(p.session);
	if (p.sig_int)
		event_free(p.sig_int);
	if (p.sig_term)
		event_free(p.sig_term);
	if (p.stop_timer)
		event_free(p.stop_timer);
	if (p.start_timer)
		event_free(p.start_timer);
	if (p.script_timer)
		event_free(p.script_timer);
	if (p.reconnect_timer)
		event_free(p.reconnect_timer);
	netwatch_free(p.netwatch);
	session_resume_clear(&p.resume);
	/* a session freed while open flushes its BYE on the loop: let it */
	event_base_loop(p.base, EVLOOP_NONBLOCK);
	event_base_free(p.base);
	broker_login_logout(bl);
	broker_login_free(bl);
	stats_series_deinit(&p.latency_ms);
	stats_series_deinit(&p.decode_ms);
	stats_series_deinit(&p.input_ms);
	stats_stages_deinit(&p.stages);
	return code;
}

int main(int argc, char **argv)
{
	struct opts o;
	int rc, code;

	memset(&o, 0, sizeof(o));
	rc = parse_args(argc, argv, &o);
	if (rc == 1) {
		usage(stdout);
		free(o.actions);
		return EXIT_OK;
	}
	if (rc < 0) {
		free(o.actions);
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	log_open(PROG,
		 /* the probe says what happened itself: the library's warnings with -v */
		 o.c.verbose >= 2 ? LOG_LEVEL_DEBUG
		 : o.c.verbose	  ? LOG_LEVEL_INFO
				  : LOG_LEVEL_ERROR,
		 LOG_TARGET_STDERR);
	code = run(&o);
	free(o.actions);
	return code;
}
