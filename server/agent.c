/* SPDX-License-Identifier: MIT */
#include "agent.h"

#include "broker_link.h"
#include "capture.h"
#include "clock.h"
#include "conn.h"
#include "desktop.h"
#include "hostport.h"
#include "pulse.h"
#include "resume.h"
#include "error.h"
#include "log.h"
#include "name.h"
#include "msg.h"
#include "ticket.h"
#include "tls.h"
#include "ws.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <event2/buffer.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DESKTOPS_MAX 256
/* Clients send input, ACKs and clipboard text: nothing near MSG_FRAME_MAX. */
#define CLIENT_FRAME_MAX (1u << 20)

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
/* libx264's presets, fastest first (x264 --fullhelp) */
static const char *const x264_presets[] = {"ultrafast", "superfast", "veryfast", "faster",
					   "fast",	"medium",    "slow",	 "slower",
					   "veryslow",	"placebo",   NULL};
static const char *const audio_frames[] = {"2.5", "5", "10", "20", NULL};
static const int audio_frame_us[] = {2500, 5000, 10000, 20000};
static const char *const audio_apps[] = {"lowdelay", "audio", "voip", NULL}; /* opus_codec.h */

const struct config_key agent_config_table[] = {
	{"listen", CONFIG_STRING, "0.0.0.0:7443", 0, 300, offsetof(struct agent_cfg, listen), NULL,
	 "address and TCP port to accept clients on"},
	{"name", CONFIG_STRING, NULL, 0, TICKET_NAME_MAX, offsetof(struct agent_cfg, name), NULL,
	 "this agent's name: tickets must be issued for it"},
	{"desktop", CONFIG_LIST, NULL, 0, DESKTOPS_MAX, offsetof(struct agent_cfg, desktops), NULL,
	 "a desktop: 'ID URI [password-file=PATH] [audio=pulse:SINK|console|off] "
	 "[mic=pulse:SINK|console|off]', URI vnc://HOST:PORT, spice://HOST:PORT, "
	 "spice+unix:///PATH or x11::DISPLAY; audio= is the sink whose sound is streamed "
	 "(pulse: alone: the default sink; console: SPICE's playback channel, the default for "
	 "spice), mic= the null sink the client's microphone plays into (console: SPICE's "
	 "record channel, the default for spice)"},
	{"tls.cert_file", CONFIG_STRING, NULL, 0, 4096, offsetof(struct agent_cfg, cert_file), NULL,
	 "the agent's TLS certificate (highrise-certs issue agent NAME)"},
	{"tls.key_file", CONFIG_STRING, NULL, 0, 4096, offsetof(struct agent_cfg, key_file), NULL,
	 "its private key"},
	{"ticket.public_key", CONFIG_STRING, NULL, 0, 4096, offsetof(struct agent_cfg, ticket_key),
	 NULL, "the broker's ticket public key (highrise-certs ticket-key: ticket.pub)"},
	{"video.codec", CONFIG_STRING, NULL, 0, 64, offsetof(struct agent_cfg, codec), NULL,
	 "H.264 encoder: libx264, h264_vaapi, h264_nvenc, h264_qsv (falls back to libx264)"},
	{"video.preset", CONFIG_ENUM, "ultrafast", 0, 0, offsetof(struct agent_cfg, preset),
	 x264_presets,
	 "libx264's speed/size trade-off (CABAC stays on whatever the preset): ultrafast keeps a "
	 "1080p frame in one 60 Hz frame on two cores (docs/operations.md); slower ones cost "
	 "encode time for a few % fewer bytes"},
	{"video.chroma444", CONFIG_BOOL, "on", 0, 0, offsetof(struct agent_cfg, chroma444), NULL,
	 "send a still colour picture in H.264 4:4:4 (High 4:4:4) when 4:2:0 would blur its "
	 "colour, to clients that all say they decode it; motion stays 4:2:0 (libx264 only)"},
	{"video.bitrate_kbps", CONFIG_INT, "10000", 500, 1000000,
	 offsetof(struct agent_cfg, bitrate_kbps), NULL, "highest video bitrate per desktop"},
	{"video.fps", CONFIG_INT, "60", 1, 240, offsetof(struct agent_cfg, fps), NULL,
	 "most video frames per second: a frame waits for its slot (1/fps after the last) "
	 "while the screen keeps changing"},
	{"video.max_inflight", CONFIG_INT, "4", 1, 64, offsetof(struct agent_cfg, max_inflight),
	 NULL,
	 "frames a client may leave unacknowledged: past it, the stream waits when every client "
	 "lags, and beside clients that keep up a client 4 times past it is skipped (it comes back "
	 "at a key frame, asked for once it acknowledges again)"},
	{"hello_timeout_ms", CONFIG_INT, "10000", 100, 600000,
	 offsetof(struct agent_cfg, hello_timeout_ms), NULL,
	 "how long a new connection has to send HELLO"},
	{"max_clients", CONFIG_INT, "64", 1, 100000, offsetof(struct agent_cfg, max_clients), NULL,
	 "connections served at once; more are refused"},
	{"max_pending", CONFIG_INT, "32", 1, 100000, offsetof(struct agent_cfg, max_pending), NULL,
	 "connections that have not sent HELLO yet, from everywhere; past it the oldest of them "
	 "is dropped, so slow connections cannot lock clients out"},
	{"max_pending_per_source", CONFIG_INT, "16", 1, 100000,
	 offsetof(struct agent_cfg, max_pending_per_source), NULL,
	 "connections from one address that have not sent HELLO yet; past it a new one from "
	 "there is refused"},
	{"input.max_per_s", CONFIG_INT, "2000", 10, 1000000,
	 offsetof(struct agent_cfg, input_max_per_s), NULL,
	 "input events (keys, pointer, scroll, touch, pen) one client may send per second, in "
	 "bursts of a quarter of that; more are dropped, except releases (no key or button "
	 "stays stuck), and counted in the log. A 1000 Hz mouse sends 1000"},
	{"clipboard", CONFIG_BOOL, "on", 0, 0, offsetof(struct agent_cfg, clipboard), NULL,
	 "share clipboard text between the desktops and clients that ask for it"},
	{"clipboard.max_bytes", CONFIG_INT, "1048576", 1, MSG_CLIPBOARD_MAX,
	 offsetof(struct agent_cfg, clipboard_max_bytes), NULL,
	 "longest clipboard text shared, bytes (clients send at most 1048570)"},
	{"log.level", CONFIG_ENUM, "info", 0, 0, offsetof(struct agent_cfg, log_level), log_levels,
	 "log verbosity"},
	{"broker.url", CONFIG_STRING, NULL, 0, 1024, offsetof(struct agent_cfg, broker_url), NULL,
	 "the broker to join, https://HOST:PORT (empty: standalone, tickets signed by hand)"},
	{"broker.ca_file", CONFIG_STRING, NULL, 0, 4096, offsetof(struct agent_cfg, broker_ca_file),
	 NULL, "the CA that signed the broker's certificate (required with broker.url)"},
	{"broker.advertise_address", CONFIG_STRING, NULL, 0, 253,
	 offsetof(struct agent_cfg, broker_advertise), NULL,
	 "the host name or address clients should connect to (empty: the broker uses the "
	 "address the agent's requests come from)"},
	{"web.origin", CONFIG_STRING, NULL, 0, WS_FIELD_MAX, offsetof(struct agent_cfg, web_origin),
	 NULL,
	 "browsers may open the stream over WebSocket on the listen port only from pages of this "
	 "origin, https://HOST[:PORT], where the broker serves the web client (empty: the "
	 "origin of broker.url; none: no browsers)"},
	{"session.resume_window_s", CONFIG_INT, "180", 0, 86400,
	 offsetof(struct agent_cfg, resume_window_s), NULL,
	 "how long a client whose connection dropped may come back into its session with the "
	 "resume secret of its WELCOME, without the broker (0: never; Citrix's session "
	 "reliability also keeps 180 s)"},
	{"session.dead_after_ms", CONFIG_INT, "10000", 2000, 600000,
	 offsetof(struct agent_cfg, dead_after_ms), NULL,
	 "a client the agent hears nothing from for this long is gone (it PINGs quiet clients "
	 "after a third of it); its session waits session.resume_window_s for it"},
	{"console.restart_wait_s", CONFIG_INT, "120", 1, 86400,
	 offsetof(struct agent_cfg, restart_wait_s), NULL,
	 "a desktop whose console closed (its VM stopped or restarts) is \"restarting\" to its "
	 "clients while the agent reconnects; still away after this many seconds, they hear it is "
	 "not responding (the agent keeps retrying)"},
	{"session.idle_after_s", CONFIG_INT, "300", 1, 86400,
	 offsetof(struct agent_cfg, idle_after_s), NULL,
	 "seconds without input after which a session is reported idle to the broker"},
	{"worker.sandbox", CONFIG_BOOL, "on", 0, 0, offsetof(struct agent_cfg, worker_sandbox),
	 NULL,
	 "confine each desktop's worker process: seccomp filter, and as root an empty chroot and "
	 "its own uid (off only to debug a console)"},
	{"worker.uid_base", CONFIG_INT, "1879048192", 1000, 4000000000,
	 offsetof(struct agent_cfg, worker_uid_base), NULL,
	 "as root, the first desktop's worker runs as this uid and gid, the next as uid + 1, ...: "
	 "keep the range free of real users"},
	{"worker.memory_mb", CONFIG_INT, "1024", 64, 1048576,
	 offsetof(struct agent_cfg, worker_memory_mb), NULL,
	 "a desktop worker's memory limit, MiB (address space and resident size): over it, the "
	 "worker is restarted"},
	{"worker.hang_timeout_ms", CONFIG_INT, "5000", 500, 600000,
	 offsetof(struct agent_cfg, worker_hang_ms), NULL,
	 "a desktop worker that does not answer the agent's heartbeat this long is restarted"},
	{"worker.cpu_percent", CONFIG_INT, "0", 0, 100000,
	 offsetof(struct agent_cfg, worker_cpu_percent), NULL,
	 "a desktop worker using more CPU than this (100 = one core) over worker.cpu_window_s is "
	 "restarted, so one console cannot starve the others; 0: 90 per core of this host"},
	{"worker.cpu_window_s", CONFIG_INT, "30", 1, 3600,
	 offsetof(struct agent_cfg, worker_cpu_window_s), NULL,
	 "the time over which a worker's CPU use is judged, seconds"},
	{"audio.server", CONFIG_STRING, NULL, 0, 4096, offsetof(struct agent_cfg, audio_server),
	 NULL,
	 "the PulseAudio (or PipeWire) server of the desktops' sound, e.g. "
	 "unix:/run/user/1000/pulse/native (empty: libpulse's default)"},
	{"audio.frame_ms", CONFIG_ENUM, "10", 0, 0, offsetof(struct agent_cfg, audio_frame),
	 audio_frames, "Opus frame length, ms: shorter is less delay, more packets"},
	{"audio.application", CONFIG_ENUM, "lowdelay", 0, 0,
	 offsetof(struct agent_cfg, audio_application), audio_apps,
	 "Opus mode: lowdelay (CELT, least delay), audio (music, FEC at low bitrates), voip "
	 "(speech)"},
	{"audio.bitrate_kbps", CONFIG_INT, "96", 6, 510,
	 offsetof(struct agent_cfg, audio_bitrate_kbps), NULL, "Opus bitrate per desktop, stereo"},
	{"audio.mic", CONFIG_BOOL, "on", 0, 0, offsetof(struct agent_cfg, audio_mic), NULL,
	 "play the controlling client's microphone into desktops that name a mic= sink (off: no "
	 "desktop takes a microphone)"},
	{"test.audio_drop_percent", CONFIG_INT, "0", 0, 100,
	 offsetof(struct agent_cfg, test_audio_drop), NULL,
	 "for tests only: drop this share of AUDIO packets on purpose (loss concealment)"},
	{NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

#define LIVE_TICK_MS 250 /* a silent client is declared gone within dead_after_ms */

struct peer {
	struct agent *a;
	struct conn *conn;
	struct peer *next, **prev;
	struct event *hello_timer;
	struct session *session;   /* after a good HELLO */
	struct bufferevent *front; /* until conn: what the client sends first is being read */
	bool websocket;		   /* a browser's: the binding value is the challenge */
	uint8_t challenge[MSG_CHALLENGE_LEN];
	char addr[64];
	char host[INET6_ADDRSTRLEN];	      /* addr without the port: what the broker is told */
	char session_id[TICKET_NAME_MAX + 1]; /* the ticket's session ("": none) */
	char desktop[TICKET_NAME_MAX + 1];
	bool pending;  /* no HELLO yet (counted in agent.npending) */
	bool reported; /* "connected" went to the broker */
	bool idle;
	uint64_t last_input_ms;
	uint64_t last_rx_ms, last_ping_ms; /* liveness: anything heard; our last PING */
	bool welcomed;			   /* WELCOME went out: the client holds a resume grant */
	bool lost;     /* closed because it went silent: its session waits to be resumed */
	bool replaced; /* closed because it resumed on another connection */
	bool resumed;  /* this connection came back with a resume proof */
	/* the input cap: a token bucket, refilled at input_max_per_s */
	double input_tokens;
	uint64_t input_refill_ms, input_dropped, input_dropped_logged_ms;
	uint8_t buttons; /* the last POINTER buttons passed on */
};

struct agent {
	struct event_base *base;
	struct evconnlistener *listener;
	struct tls_ctx *tls;
	struct ticket_verifier *verifier;
	struct desktop *desktops[DESKTOPS_MAX];
	size_t ndesktops;
	struct peer *peers;
	int npeers;
	int max_clients;
	int npending, max_pending, max_pending_per_source;
	double input_rate; /* events per second per client */
	int hello_timeout_ms;
	uint16_t port;
	char name[TICKET_NAME_MAX + 1];
	struct broker_link *link; /* NULL: standalone */
	struct event *link_tick;  /* idle sessions and console states, once a second */
	struct event *live_tick;  /* liveness and resume windows, every LIVE_TICK_MS */
	struct resume_table *resume;
	int64_t resume_window_ms, dead_after_ms;
	int64_t idle_after_ms;
	char *empty_dir; /* the workers' chroot, made and removed by us; NULL: none */
	char web_origin[WS_FIELD_MAX + 1]; /* "": no browsers */
};

static uint64_t mono_ms(void)
{
	return (uint64_t)clock_mono_ms();
}

/* The connection sent its HELLO, or is being closed: it no longer counts as pending. */
static void pending_done(struct peer *p)
{
	if (p->pending) {
		p->pending = false;
		p->a->npending--;
	}
}

static void peer_unlink(struct peer *p)
{
	pending_done(p);
	*p->prev = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->a->npeers--;
}

static void on_close(struct conn *c, int err, const char *reason, void *ud)
{
	struct peer *p = ud;
	(void)c;

	if (err < 0)
		log_info("client %s: disconnected: %s", p->addr, reason);
	else
		log_debug("client %s: closed: %s", p->addr, reason);
	if (p->session)
		desktop_detach(p->session);
	if (p->input_dropped)
		log_info("client %s: %llu input event(s) over input.max_per_s were dropped",
			 p->addr, (unsigned long long)p->input_dropped);
	if (p->replaced) {
		/* its session went on, resumed on another connection: nothing to report */
	} else if (p->welcomed && (err < 0 || p->lost) && p->a->resume_window_ms > 0) {
		/* a dropped network, not a goodbye: the session waits for the client */
		resume_park(p->a->resume, p, (int64_t)mono_ms() + p->a->resume_window_ms);
		log_info("client %s: session of desktop %s kept %lld s for the client to resume",
			 p->addr, p->desktop, (long long)(p->a->resume_window_ms / 1000));
	} else {
		resume_drop(p->a->resume, p);
		if (p->reported)
			broker_link_event(p->a->link, p->session_id, p->desktop,
					  BROKER_SESSION_DISCONNECTED, NULL);
	}
	if (p->hello_timer)
		event_free(p->hello_timer);
	peer_unlink(p);
	free(p); /* the conn frees itself after this callback */
}

static struct desktop *find_desktop(struct agent *a, const char *id)
{
	for (size_t i = 0; i < a->ndesktops; i++)
		if (strcmp(desktop_id(a->desktops[i]), id) == 0)
			return a->desktops[i];
	return NULL;
}

static void refuse(struct peer *p, uint16_t reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void refuse(struct peer *p, uint16_t reason, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_warn("client %s: refused: %s", p->addr, text);
	pending_done(p);
	conn_close(p->conn, reason, text);
}

/* The session a resume proof leads back to; 0, or refused (the connection is closing). */
static int claim_resume(struct peer *p, const struct msg_hello *h, const uint8_t *exporter,
			struct resume_who *who)
{
	void *old = NULL;
	int rc = resume_claim(p->a->resume, h->proof.data, h->proof.len, exporter,
			      (int64_t)mono_ms(), who, &old);
	char id[9] = "";

	if (h->proof.len >= 4) /* the id is no secret, but a prefix is all a log needs */
		snprintf(id, sizeof(id), "%02x%02x%02x%02x", h->proof.data[0], h->proof.data[1],
			 h->proof.data[2], h->proof.data[3]);
	if (rc < 0) {
		refuse(p, MSG_BYE_RESUME_REFUSED,
		       "resume refused: %s (resume id %s…); ask the broker for a new ticket",
		       hr_strerror(rc), id);
		return rc;
	}
	if (old) {
		/* the newest attach wins at once: the old connection is half dead or elsewhere */
		struct peer *o = old;
		o->replaced = true;
		/* off the desktop now, not after its BYE lingers: control passes to the new one */
		if (o->session)
			desktop_detach_replaced(o->session);
		o->session = NULL;
		log_info("client %s: resumed the session held by %s, which is closed", p->addr,
			 o->addr);
		conn_close(o->conn, MSG_BYE_REPLACED,
			   "this session was resumed on another connection");
	}
	log_info("client %s: resumed %s's session of desktop %s (resume id %s…)", p->addr,
		 who->user, who->desktop, id);
	p->resumed = true;
	return 0;
}

static void on_hello(struct peer *p, const struct msg_hello *h)
{
	uint8_t exporter[TLS_BINDING_LEN], grant[RESUME_GRANT_LEN];
	struct resume_who who;
	struct desktop *d;
	int rc;

	memset(&who, 0, sizeof(who));
	event_del(p->hello_timer);
	pending_done(p);
	if (!(h->caps & MSG_CAP_H264)) {
		refuse(p, MSG_BYE_PROTOCOL_ERROR, "the client cannot decode H.264");
		return;
	}
	if (p->websocket) /* a browser cannot read the exporter: it signs our challenge (§6.5) */
		memcpy(exporter, p->challenge, sizeof(exporter));
	else if (tls_export_binding(conn_bufferevent(p->conn), exporter) < 0) {
		refuse(p, MSG_BYE_PROTOCOL_ERROR, "the TLS connection has no keying material");
		return;
	}
	if (h->ticket.len) {
		struct ticket_bind bind = {exporter, h->proof.data, h->proof.len};
		struct ticket t;
		char id[17];

		rc = ticket_verify(p->a->verifier, h->ticket.data, h->ticket.len, NULL, time(NULL),
				   &bind, &t);
		if (rc < 0) {
			refuse(p,
			       rc == HR_ETICKET_EXPIRED ? MSG_BYE_TICKET_EXPIRED
							: MSG_BYE_TICKET_INVALID,
			       "connect ticket refused: %s", hr_strerror(rc));
			return;
		}
		ticket_id_short(&t, id);
		d = find_desktop(p->a, t.desktop);
		if (!d) {
			refuse(p, MSG_BYE_DESKTOP_UNAVAILABLE,
			       "this agent has no desktop named in the ticket (ticket %s)", id);
			return;
		}
		log_info("client %s: ticket %s accepted for desktop %s", p->addr, id,
			 desktop_id(d));
		snprintf(who.user, sizeof(who.user), "%s", t.user);
		snprintf(who.desktop, sizeof(who.desktop), "%s", t.desktop);
		snprintf(who.session, sizeof(who.session), "%s", t.session);
	} else if (h->proof.len == RESUME_PROOF_LEN) {
		if (claim_resume(p, h, exporter, &who) < 0)
			return;
		d = find_desktop(p->a, who.desktop);
		if (!d) { /* cannot happen while the configuration stays; said all the same */
			refuse(p, MSG_BYE_DESKTOP_UNAVAILABLE, "the desktop %s is gone",
			       who.desktop);
			return;
		}
	} else {
		refuse(p, MSG_BYE_TICKET_INVALID,
		       "HELLO carries neither a connect ticket nor a resume proof");
		return;
	}
	/* before attach: WELCOME (and on_welcome) may go out at once */
	snprintf(p->session_id, sizeof(p->session_id), "%s", who.session);
	snprintf(p->desktop, sizeof(p->desktop), "%s", desktop_id(d));
	struct desktop_join j = {.user = who.user, .hello = h};
	if (p->a->resume_window_ms > 0 && resume_grant(p->a->resume, &who, p, grant) == 0) {
		j.resume = grant;
		j.resume_window_s = (uint16_t)(p->a->resume_window_ms / 1000);
	}
	p->session = desktop_attach(d, p->conn, &j);
	OPENSSL_cleanse(grant, sizeof(grant));
	if (!p->session) {
		resume_drop(p->a->resume, p);
		refuse(p, MSG_BYE_SHUTDOWN, "the agent is out of memory");
	}
}

static bool is_input(const struct msg *m)
{
	return m->type == MSG_KEY || m->type == MSG_POINTER || m->type == MSG_SCROLL ||
	       m->type == MSG_TOUCH || m->type == MSG_PEN;
}

/*
 * The per-client input cap (input.max_per_s). A release — a key up, a
 * button let go, a touch that ends, a pen that lifts — always passes, so
 * dropping never leaves anything held on the desktop; everything else past
 * the bucket is dropped and counted, with one log line per 10 s at most.
 */
static bool input_allowed(struct peer *p, const struct msg *m)
{
	uint64_t now = mono_ms();
	double burst = p->a->input_rate / 4 > 10 ? p->a->input_rate / 4 : 10;
	bool release = false;

	if (p->input_refill_ms == 0)
		p->input_tokens = burst;
	else
		p->input_tokens += (double)(now - p->input_refill_ms) * p->a->input_rate / 1000.0;
	if (p->input_tokens > burst)
		p->input_tokens = burst;
	p->input_refill_ms = now;
	switch (m->type) {
	case MSG_KEY:
		release = !(m->u.key.flags & MSG_KEY_DOWN);
		break;
	case MSG_POINTER:
		release = (p->buttons & ~m->u.pointer.buttons) != 0;
		break;
	case MSG_TOUCH:
		release = m->u.touch.phase == MSG_TOUCH_END || m->u.touch.phase == MSG_TOUCH_CANCEL;
		break;
	case MSG_PEN:
		release = !(m->u.pen.flags & MSG_PEN_CONTACT);
		break;
	default:
		break;
	}
	if (p->input_tokens >= 1 || release) {
		p->input_tokens = p->input_tokens >= 1 ? p->input_tokens - 1 : 0;
		if (m->type == MSG_POINTER)
			p->buttons = m->u.pointer.buttons;
		return true;
	}
	p->input_dropped++;
	if (now - p->input_dropped_logged_ms >= 10000) {
		p->input_dropped_logged_ms = now;
		log_warn("client %s: sends input faster than input.max_per_s (%.0f/s): %llu "
			 "event(s) dropped so far",
			 p->addr, p->a->input_rate, (unsigned long long)p->input_dropped);
	}
	return false;
}

static void on_msg(struct conn *c, const struct msg *m, void *ud)
{
	struct peer *p = ud;

	p->last_rx_ms = mono_ms();
	if (m->type == MSG_PING) {
		struct msg pong = {.type = MSG_PONG};
		pong.u.ping.id = m->u.ping.id;
		conn_send(c, &pong);
		return;
	}
	if (m->type == MSG_BYE || m->type == MSG_PONG)
		return;
	if (p->reported && (m->type == MSG_KEY || m->type == MSG_POINTER || m->type == MSG_SCROLL ||
			    m->type == MSG_TOUCH || m->type == MSG_PEN)) {
		p->last_input_ms = mono_ms();
		if (p->idle) {
			p->idle = false;
			broker_link_event(p->a->link, p->session_id, p->desktop,
					  BROKER_SESSION_ACTIVE, NULL);
		}
	}
	/* docs/protocol.md §2: before HELLO only HELLO (and PING, above), of any type known or not */
	if (!p->session) {
		if (m->type == MSG_HELLO)
			on_hello(p, &m->u.hello);
		else
			refuse(p, MSG_BYE_PROTOCOL_ERROR, "expected HELLO, got %s (type %u)",
			       msg_type_name(m->raw_type), m->raw_type);
		return;
	}
	if (m->type == MSG_UNKNOWN)
		return; /* §3: skipped by its length once the session is open */
	if (is_input(m) && !input_allowed(p, m))
		return;
	desktop_session_msg(p->session, m);
}

/* ---- the front door: a native stream, or a browser's WebSocket ----------- */

/* A connection that never became a conn (refused, silent or the agent stopping) goes. */
static void front_free(struct peer *p)
{
	if (p->hello_timer)
		event_free(p->hello_timer);
	bufferevent_free(p->front);
	peer_unlink(p);
	free(p);
}

static void front_flushed_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	front_free(arg);
}

static void front_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct peer *p = arg;
	char why[256];
	(void)bev;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if (what & BEV_EVENT_ERROR) {
		tls_describe_error(p->front, why, sizeof(why));
		log_info("client %s: disconnected before its first message: %s", p->addr, why);
	} else {
		log_debug("client %s: closed before its first message", p->addr);
	}
	front_free(p);
}

/* Answers an opening handshake that cannot go on with an HTTP error, then closes. */
static void front_refuse(struct peer *p, int status, const char *sentence)
{
	char buf[1024];
	size_t n = ws_response_error(buf, sizeof(buf), status, sentence);

	log_warn("client %s: WebSocket refused (%d): %s", p->addr, status, sentence);
	pending_done(p);
	bufferevent_disable(p->front, EV_READ);
	bufferevent_setcb(p->front, NULL, front_flushed_cb, front_event_cb, p);
	if (n == 0 || bufferevent_write(p->front, buf, n) < 0)
		front_free(p);
}

/* The first bytes decided what this is: from here on a conn reads it. */
static void start_conn(struct peer *p, bool websocket)
{
	static const struct conn_cbs cbs = {.on_msg = on_msg, .on_close = on_close};
	/* unknown types too: before HELLO they are an error, after it they are skipped (on_msg) */
	struct conn_cfg ccfg = {.max_frame = CLIENT_FRAME_MAX,
				.name = p->addr,
				.deliver_unknown = true,
				.websocket = websocket};
	struct bufferevent *bev = p->front;

	p->front = NULL;
	p->websocket = websocket;
	p->conn = conn_new(bev, &cbs, p, &ccfg); /* frees bev on failure */
	if (!p->conn) {
		if (p->hello_timer)
			event_free(p->hello_timer);
		peer_unlink(p);
		free(p);
		return;
	}
	if (websocket) {
		struct msg m = {.type = MSG_CHALLENGE};
		RAND_bytes(p->challenge, sizeof(p->challenge));
		m.u.challenge.value.data = p->challenge;
		m.u.challenge.value.len = sizeof(p->challenge);
		conn_send(p->conn, &m);
	}
}

/*
 * What a client sends first tells the two transports apart (docs/protocol.md
 * §1.1): a native HELLO starts with its length, never "GET " (that would be
 * a frame of 1.2 GB); a browser starts with its opening handshake.
 */
static void front_read_cb(struct bufferevent *bev, void *arg)
{
	struct peer *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t avail = evbuffer_get_length(in), n;
	struct ws_request req;
	char why[256], answer[256];
	int end, status = 400;
	const uint8_t *buf;

	if (avail < 4)
		return;
	buf = evbuffer_pullup(in, 4);
	if (memcmp(buf, "GET ", 4) != 0) {
		start_conn(p, false);
		return;
	}
	n = avail < WS_REQUEST_MAX ? avail : WS_REQUEST_MAX;
	buf = evbuffer_pullup(in, (ev_ssize_t)n);
	end = ws_request_end(buf, n);
	if (end == 0)
		return;
	if (end < 0) {
		front_refuse(p, 400, "the request's headers are too long");
		return;
	}
	if (ws_parse_request(buf, (size_t)end, &req, &status, why, sizeof(why)) < 0) {
		front_refuse(p, status, why);
		return;
	}
	if (!p->a->web_origin[0]) {
		front_refuse(p, 403,
			     "this agent takes no browser connections (set web.origin, or "
			     "broker.url, to the broker's address)");
		return;
	}
	if (strcasecmp(req.origin, p->a->web_origin) != 0) {
		snprintf(why, sizeof(why),
			 "Origin '%.60s' is not this deployment's web client (%.60s)",
			 req.origin[0] ? req.origin : "(none)", p->a->web_origin);
		front_refuse(p, 403, why);
		return;
	}
	n = ws_response_accept(answer, sizeof(answer), req.key);
	evbuffer_drain(in, (size_t)end);
	if (n == 0 || bufferevent_write(bev, answer, n) < 0) {
		front_free(p);
		return;
	}
	log_debug("client %s: WebSocket from %s", p->addr, req.origin);
	start_conn(p, true);
}

/*
 * Ends a connection that has not said what it is yet: with the reason, as a
 * BYE for a native client, or as an HTTP answer for a browser mid-handshake.
 */
static void front_drop(struct peer *p, uint16_t reason, const char *text)
{
	struct evbuffer *in = bufferevent_get_input(p->front);
	uint8_t frame[512];
	size_t n = 0;
	struct msg bye = {.type = MSG_BYE};

	if (evbuffer_get_length(in) >= 4 && memcmp(evbuffer_pullup(in, 4), "GET ", 4) == 0) {
		front_refuse(p, 503, text);
		return;
	}
	log_warn("client %s: refused: %s", p->addr, text);
	pending_done(p);
	bye.u.bye.reason = reason;
	bye.u.bye.text.data = (const uint8_t *)text;
	bye.u.bye.text.len = msg_text_fit(text, MSG_REASON_MAX);
	bufferevent_disable(p->front, EV_READ);
	bufferevent_setcb(p->front, NULL, front_flushed_cb, front_event_cb, p);
	if (msg_encode(&bye, frame, sizeof(frame), &n) < 0 ||
	    bufferevent_write(p->front, frame, n) < 0)
		front_free(p);
}

static void hello_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	char text[96];
	(void)fd;
	(void)what;
	snprintf(text, sizeof(text), "no HELLO within %d ms", p->a->hello_timeout_ms);
	if (p->front)
		front_drop(p, MSG_BYE_PROTOCOL_ERROR, text);
	else
		refuse(p, MSG_BYE_PROTOCOL_ERROR, "%s", text);
}

/* A connection without its HELLO yet, made to go (the agent is full or stopping). */
static void drop_pending(struct peer *p, uint16_t reason, const char *text)
{
	if (p->front)
		front_drop(p, reason, text);
	else
		refuse(p, reason, "%s", text);
}

/*
 * The origin a browser names in its Origin header for pages of url
 * (RFC 6454): scheme://host[:port], the default port left out. 0, or
 * -EINVAL for what is not an http(s) URL.
 */
static int url_origin(const char *url, char *out, size_t cap)
{
	const char *rest, *end;
	bool https = strncasecmp(url, "https://", 8) == 0;

	if (!https && strncasecmp(url, "http://", 7) != 0)
		return -EINVAL;
	rest = url + (https ? 8 : 7);
	end = rest + strcspn(rest, "/?#");
	if (end == rest || (size_t)(end - url) >= cap)
		return -EINVAL;
	size_t n = (size_t)(end - url);
	const char *dflt = https ? ":443" : ":80";
	if (n > strlen(dflt) && strncmp(end - strlen(dflt), dflt, strlen(dflt)) == 0)
		n -= strlen(dflt);
	memcpy(out, url, n);
	out[n] = '\0';
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	return 0;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct agent *a = arg;
	struct peer *p;
	struct timeval tv = {a->hello_timeout_ms / 1000, (a->hello_timeout_ms % 1000) * 1000};
	char host[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;
	(void)l;
	(void)salen;

	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	if (a->npeers >= a->max_clients) {
		log_warn("client %s:%u: refused: already serving %d connections (max_clients)",
			 host, port, a->npeers);
		evutil_closesocket(fd);
		return;
	}
	/* connections before their HELLO: a cap per address, and the oldest go first overall */
	int from_here = 0;
	struct peer *oldest = NULL;
	for (struct peer *q = a->peers; q; q = q->next)
		if (q->pending) {
			from_here += strcmp(q->host, host) == 0;
			oldest = q; /* the list is newest first */
		}
	if (from_here >= a->max_pending_per_source) {
		log_warn("client %s:%u: refused: %d connections from this address have not sent "
			 "HELLO yet (max_pending_per_source)",
			 host, port, from_here);
		evutil_closesocket(fd);
		return;
	}
	if (a->npending >= a->max_pending && oldest) {
		char text[128];
		snprintf(
			text, sizeof(text),
			"%d connections are waiting for their HELLO (max_pending): the oldest goes",
			a->npending);
		drop_pending(oldest, MSG_BYE_PROTOCOL_ERROR, text);
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		evutil_closesocket(fd);
		return;
	}
	p->a = a;
	snprintf(p->addr, sizeof(p->addr), "%s:%u", host, port);
	snprintf(p->host, sizeof(p->host), "%s", host);
	p->front = tls_accept(a->tls, a->base, fd);
	if (!p->front) {
		free(p);
		return;
	}
	p->hello_timer = evtimer_new(a->base, hello_timeout_cb, p);
	if (p->hello_timer)
		evtimer_add(p->hello_timer, &tv);
	p->next = a->peers;
	p->prev = &a->peers;
	if (a->peers)
		a->peers->prev = &p->next;
	a->peers = p;
	a->npeers++;
	p->pending = true;
	a->npending++;
	/* the opening handshake, or a native HELLO: at most a request's worth is read first */
	bufferevent_setwatermark(p->front, EV_READ, 4, WS_REQUEST_MAX);
	bufferevent_setcb(p->front, front_read_cb, NULL, front_event_cb, p);
	bufferevent_enable(p->front, EV_READ | EV_WRITE);
	log_debug("client %s: connected", p->addr);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	(void)l;
	(void)arg;
	/* EMFILE and friends: keep listening, the next accept may succeed */
	log_warn("accept failed: %s", evutil_socket_error_to_string(err));
}

/* "HOST:PORT", "[v6]:PORT" or ":PORT" (all addresses) into a socket address; port 0 = any. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, int *len)
{
	struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
					.ai_socktype = SOCK_STREAM,
					.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV};
	struct evutil_addrinfo *ai = NULL;
	char host[256], port[8];
	int p;

	if (hostport_parse(s, strlen(s), host, sizeof(host), &p, -1,
			   HOSTPORT_ANY_HOST | HOSTPORT_ANY_PORT) < 0)
		return -EINVAL;
	snprintf(port, sizeof(port), "%d", p);
	if (evutil_getaddrinfo(host[0] ? host : NULL, port, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = (int)ai->ai_addrlen;
	evutil_freeaddrinfo(ai);
	return 0;
}

/* ---- the broker link ---------------------------------------------------- */

/* WELCOME went out: the session is connected (sessions without an id are not the broker's). */
static void on_welcome(struct conn *c, void *ud)
{
	struct agent *a = ud;

	for (struct peer *p = a->peers; p; p = p->next) {
		if (p->conn == c && !p->welcomed) {
			p->welcomed = true;
			p->last_rx_ms = mono_ms(); /* liveness counts from here */
		}
		if (p->conn != c || p->reported || !p->session_id[0] || !a->link)
			continue;
		p->reported = true;
		p->idle = false;
		p->last_input_ms = mono_ms();
		broker_link_event(a->link, p->session_id, p->desktop, BROKER_SESSION_CONNECTED,
				  p->host);
	}
}

/* The broker ended a session: every client of it gets BYE with the reason. */
static void on_end(const char *session, enum broker_end_reason reason, void *ud)
{
	struct agent *a = ud;
	uint16_t code = reason == BROKER_END_IDLE_TIMEOUT ? MSG_BYE_IDLE_TIMEOUT : MSG_BYE_ADMIN;
	const char *text;

	/* clients print the code's own sentence first: the text says what follows */
	if (reason == BROKER_END_IDLE_TIMEOUT)
		text = "no input for longer than the pool's idle timeout; the session was logged "
		       "off";
	else if (reason == BROKER_END_LOGOFF)
		text = "the session was logged off";
	else
		text = "an administrator disconnected it; connect again to resume the session";
	int n = 0;

	for (struct peer *p = a->peers, *next; p; p = next) {
		next = p->next; /* conn_close may end p at once */
		if (!p->session || strcmp(p->session_id, session) != 0)
			continue;
		conn_close(p->conn, code, text);
		n++;
	}
	/* and nobody comes back into it with a resume secret (the heartbeat's end list) */
	size_t revoked = resume_sweep(a->resume, (int64_t)mono_ms(), session, NULL, NULL);
	log_info("session %s: the broker ended it (%s): %d client(s) told, %zu resume grant(s) "
		 "revoked",
		 session, text, n, revoked);
}

/* Once a second: sessions gone idle, and what the pipelines know of their consoles. */
static void link_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	uint64_t now = mono_ms();
	(void)fd;
	(void)what;

	for (struct peer *p = a->peers; p; p = p->next) {
		if (!p->reported || p->idle || now - p->last_input_ms < (uint64_t)a->idle_after_ms)
			continue;
		p->idle = true;
		broker_link_event(a->link, p->session_id, p->desktop, BROKER_SESSION_IDLE, NULL);
	}
	for (size_t i = 0; i < a->ndesktops; i++) {
		static const enum broker_console map[] = {
			[DESKTOP_CONSOLE_UNKNOWN] = BROKER_CONSOLE_UNKNOWN,
			[DESKTOP_CONSOLE_UP] = BROKER_CONSOLE_UP,
			[DESKTOP_CONSOLE_LOST] = BROKER_CONSOLE_DOWN,
			[DESKTOP_CONSOLE_REFUSED] = BROKER_CONSOLE_DOWN,
		};
		broker_link_console(a->link, i, map[desktop_console(a->desktops[i])],
				    desktop_console_reason(a->desktops[i]));
	}
}

/* A parked session's window ended without its client: now the broker hears it is gone. */
static void resume_expired(const struct resume_who *who, void *ud)
{
	struct agent *a = ud;

	log_info("desktop %s: %s did not come back within %lld s; the session is disconnected",
		 who->desktop, who->user, (long long)(a->resume_window_ms / 1000));
	if (who->session[0])
		broker_link_event(a->link, who->session, who->desktop, BROKER_SESSION_DISCONNECTED,
				  NULL);
}

/*
 * Every LIVE_TICK_MS: a client silent for a third of dead_after_ms gets a PING
 * (clients that PING themselves never need one), and one silent for
 * dead_after_ms is gone; resume windows that ended are closed.
 */
static void live_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	uint64_t now = mono_ms(), quiet = (uint64_t)a->dead_after_ms / 3;
	/* one tick early, so the limit holds however the silence and the tick line up */
	uint64_t dead = (uint64_t)a->dead_after_ms - LIVE_TICK_MS;
	(void)fd;
	(void)what;

	for (struct peer *p = a->peers, *next; p; p = next) {
		next = p->next; /* conn_close may end p at once */
		/* before WELCOME the console may take MSG_WELCOME_WAIT_MS: that has its own limit */
		if (!p->session || !p->welcomed || p->lost || p->replaced)
			continue;
		if (now - p->last_rx_ms >= dead) {
			p->lost = true;
			log_info("client %s: nothing heard for %lld ms: the connection is lost",
				 p->addr, (long long)(now - p->last_rx_ms));
			conn_abort(p->conn, -ETIMEDOUT, "nothing heard from the client");
		} else if (now - p->last_rx_ms >= quiet && now - p->last_ping_ms >= quiet) {
			struct msg ping = {.type = MSG_PING};
			ping.u.ping.id = now;
			p->last_ping_ms = now;
			conn_send(p->conn, &ping);
		}
	}
	resume_sweep(a->resume, (int64_t)now, NULL, resume_expired, a);
}

static int start_link(struct agent *a, const struct agent_cfg *cfg)
{
	struct broker_link_desktop *desks = calloc(a->ndesktops, sizeof(*desks));
	char(*uris)[1024] = calloc(a->ndesktops, sizeof(*uris));
	struct timeval second = {1, 0};
	int rc = -ENOMEM;

	if (!desks || !uris)
		goto out;
	for (size_t i = 0; i < a->ndesktops; i++) {
		/* the same line add_desktop read: its second word is the console URI */
		if (sscanf(cfg->desktops.items[i], "%*128s %1023s", uris[i]) != 1)
			uris[i][0] = '\0';
		desks[i].name = desktop_id(a->desktops[i]);
		desks[i].uri = uris[i];
	}
	struct broker_link_cfg lcfg = {
		.url = cfg->broker_url,
		.ca_file = cfg->broker_ca_file,
		.cert_file = cfg->cert_file,
		.key_file = cfg->key_file,
		.advertise_address = cfg->broker_advertise,
		.port = a->port,
		.desktops = desks,
		.ndesktops = a->ndesktops,
	};
	a->link_tick = event_new(a->base, -1, EV_PERSIST, link_tick_cb, a);
	if (!a->link_tick || event_add(a->link_tick, &second) < 0)
		goto out;
	a->link = broker_link_new(a->base, &lcfg, on_end, a); /* copies lcfg */
	rc = a->link ? 0 : -EINVAL;
out:
	free(desks);
	free(uris);
	return rc;
}

/* The sink of "pulse:SINK" (NULL for "pulse:" or anything else); a name PulseAudio takes. */
static const char *pulse_sink(const char *uri)
{
	return strncmp(uri, "pulse:", 6) == 0 && uri[6] ? uri + 6 : NULL;
}

/* One "ID URI [password-file=PATH] [audio=SRC] [mic=SINK]" line into a desktop. */
static struct desktop *add_desktop(struct agent *a, const struct agent_cfg *cfg, const char *line)
{
	char id[TICKET_NAME_MAX + 1], uri[1024], opts[3][1100];
	const char *pwfile = NULL, *audio = NULL, *mic = NULL;
	char *password = NULL;
	struct desktop *d;
	int n = sscanf(line, "%128s %1023s %1099s %1099s %1099s", id, uri, opts[0], opts[1],
		       opts[2]);

	if (n < 2) {
		log_error("desktop '%s': write 'ID URI [password-file=PATH] [audio=pulse:SINK] "
			  "[mic=pulse:SINK]'",
			  line);
		return NULL;
	}
	if (!hr_name_ok(id)) {
		log_error("desktop '%s': its name must be 1..%d of A-Z a-z 0-9 . _ @ - (as the "
			  "broker names desktops)",
			  id, HR_NAME_MAX);
		return NULL;
	}
	if (find_desktop(a, id)) {
		log_error("desktop '%s' is listed twice", id);
		return NULL;
	}
	for (int i = 0; i + 2 < n; i++) {
		const char *o = opts[i];
		if (strncmp(o, "password-file=", 14) == 0 && !pwfile) {
			pwfile = o + 14;
		} else if (strncmp(o, "audio=", 6) == 0 && !audio) {
			audio = o + 6;
		} else if (strncmp(o, "mic=", 4) == 0 && !mic) {
			mic = o + 4;
		} else {
			log_error(
				"desktop %s: unknown or repeated option '%s' (password-file=PATH, "
				"audio=pulse:SINK, mic=pulse:SINK)",
				id, o);
			return NULL;
		}
	}
	/* a console with its own sound channel (SPICE) brings sound and microphone itself */
	const struct capture_impl *console = capture_find(uri);
	if (!console)
		return NULL; /* capture_find said which schemes there are */
	bool own_sound = console->audio != NULL;
	if (!audio && own_sound)
		audio = "console";
	if (!mic && own_sound && console->mic)
		mic = "console";
	if (audio && strcmp(audio, "off") == 0)
		audio = NULL;
	if (mic && strcmp(mic, "off") == 0)
		mic = NULL;
	if (audio && strcmp(audio, "console") == 0 && !own_sound) {
		log_error("desktop %s: audio=console: this console has no sound channel of its own "
			  "(SPICE has); write audio=pulse:SINK",
			  id);
		return NULL;
	}
	if (mic && strcmp(mic, "console") == 0 && !(own_sound && console->mic)) {
		log_error("desktop %s: mic=console: this console has no record channel (SPICE "
			  "has); write mic=pulse:SINK",
			  id);
		return NULL;
	}
	if (audio && strcmp(audio, "console") != 0 && !audio_source_find(audio)) {
		log_error("desktop %s: audio=%s: write audio=pulse:SINK, audio=pulse: (the "
			  "default sink) or, for SPICE, audio=console",
			  id, audio);
		return NULL;
	}
	if (audio && pulse_sink(audio) && !audio_pulse_name_ok(pulse_sink(audio))) {
		log_error("desktop %s: audio=%s: a sink name is letters, digits, '.', '_' and '-'",
			  id, audio);
		return NULL;
	}
	if (mic && strcmp(mic, "console") != 0 &&
	    (!pulse_sink(mic) || !audio_pulse_name_ok(pulse_sink(mic)))) {
		log_error(
			"desktop %s: mic=%s: write mic=pulse:SINK, the null sink whose monitor is "
			"the desktop's microphone (or, for SPICE, mic=console)",
			id, mic);
		return NULL;
	}
	if (mic && !cfg->audio_mic) {
		log_info("desktop %s: audio.mic is off: the microphone (%s) is not offered", id,
			 mic);
		mic = NULL;
	}
	if (pwfile) {
		password = config_read_secret(pwfile);
		if (!password)
			return NULL;
	}
	struct desktop_cfg dcfg = {
		.id = id,
		.uri = uri,
		.password = password,
		.password_file = password ? pwfile : NULL,
		.codec = cfg->codec,
		.preset = x264_presets[cfg->preset],
		.chroma444 = cfg->chroma444,
		.bitrate_kbps = (int)cfg->bitrate_kbps,
		.fps = (int)cfg->fps,
		.max_inflight = (int)cfg->max_inflight,
		.restart_wait_s = (unsigned)cfg->restart_wait_s,
		.clipboard = cfg->clipboard,
		.clipboard_max = (size_t)cfg->clipboard_max_bytes,
		.sound =
			{
				.server = cfg->audio_server,
				.source_uri = audio,
				.mic_sink = mic ? pulse_sink(mic) : NULL,
				.mic_console = mic && strcmp(mic, "console") == 0,
				.frame_us = audio_frame_us[cfg->audio_frame],
				.app = (enum opus_codec_app)cfg->audio_application,
				.bitrate = (int)cfg->audio_bitrate_kbps * 1000,
				.drop_percent = (int)cfg->test_audio_drop,
			},
		.on_welcome = on_welcome,
		.ud = a,
		.worker =
			{
				.sandbox = cfg->worker_sandbox,
				.uid = (uint32_t)(cfg->worker_uid_base + (int64_t)a->ndesktops),
				.chroot_dir = a->empty_dir,
				.memory_mb = (uint32_t)cfg->worker_memory_mb,
				.hang_ms = (uint32_t)cfg->worker_hang_ms,
				.cpu_percent =
					(uint32_t)(cfg->worker_cpu_percent
							   ? cfg->worker_cpu_percent
							   : 90 * sysconf(_SC_NPROCESSORS_ONLN)),
				.cpu_window_s = (uint32_t)cfg->worker_cpu_window_s,
			},
	};
	d = desktop_new(a->base, &dcfg);
	if (password) {
		memset(password, 0, strlen(password));
		free(password);
	}
	return d;
}

/*
 * As root with worker.sandbox on, the workers chroot into an empty
 * directory nobody else may write: made here (under /run when it is
 * writable), removed by agent_free.
 */
static int make_empty_dir(struct agent *a, const struct agent_cfg *cfg)
{
	char tmpl[64];

	if (!cfg->worker_sandbox) {
		log_warn("worker.sandbox is off: desktop workers run unconfined");
		return 0;
	}
	if (geteuid() != 0) {
		log_info("not root: desktop workers keep this user and the file system "
			 "(seccomp, no_new_privs and limits still apply)");
		return 0;
	}
	snprintf(tmpl, sizeof(tmpl), "%s/highrise-empty.XXXXXX",
		 access("/run", W_OK) == 0 ? "/run" : "/tmp");
	if (!mkdtemp(tmpl) || chmod(tmpl, 0555) != 0) {
		log_error("cannot make an empty directory for the workers' chroot (%s): %m", tmpl);
		return -1;
	}
	a->empty_dir = strdup(tmpl);
	if (!a->empty_dir) {
		rmdir(tmpl);
		return -1;
	}
	return 0;
}

struct agent *agent_new(struct event_base *base, const struct agent_cfg *cfg)
{
	struct agent *a;
	struct sockaddr_storage ss;
	EVP_PKEY *pub = NULL;
	int sslen;

	if (!cfg->name || !cfg->cert_file || !cfg->key_file || !cfg->ticket_key) {
		log_error("the agent needs name, tls.cert_file, tls.key_file and "
			  "ticket.public_key (see --help)");
		return NULL;
	}
	if (cfg->desktops.count == 0) {
		log_error("no desktops configured: add 'desktop = ID URI' lines");
		return NULL;
	}
	if (parse_listen(cfg->listen, &ss, &sslen) < 0) {
		log_error("listen = '%s': write HOST:PORT, e.g. 0.0.0.0:7443", cfg->listen);
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->base = base;
	a->max_clients = (int)cfg->max_clients;
	a->max_pending = (int)cfg->max_pending;
	a->max_pending_per_source = (int)cfg->max_pending_per_source;
	a->input_rate = cfg->input_max_per_s > 0 ? (double)cfg->input_max_per_s : 2000;
	a->idle_after_ms = cfg->idle_after_s * 1000;
	a->hello_timeout_ms = (int)cfg->hello_timeout_ms;
	a->resume_window_ms = cfg->resume_window_s * 1000;
	a->dead_after_ms = cfg->dead_after_ms > 0 ? cfg->dead_after_ms : 10000;
	a->resume = resume_table_new(0);
	a->live_tick = event_new(base, -1, EV_PERSIST, live_tick_cb, a);
	if (!a->resume || !a->live_tick) {
		log_error("the agent is out of memory");
		goto fail;
	}
	{
		struct timeval tick = {0, LIVE_TICK_MS * 1000};
		event_add(a->live_tick, &tick);
	}
	const char *origin = cfg->web_origin && cfg->web_origin[0] ? cfg->web_origin : NULL;
	if (origin && strcmp(origin, "none") == 0) {
		a->web_origin[0] = '\0';
	} else if (origin ? url_origin(origin, a->web_origin, sizeof(a->web_origin)) < 0
			  : cfg->broker_url && url_origin(cfg->broker_url, a->web_origin,
							  sizeof(a->web_origin)) < 0) {
		log_error("web.origin = '%s': write https://HOST[:PORT], the address browsers load "
			  "the web client from",
			  origin ? origin : cfg->broker_url);
		goto fail;
	}
	snprintf(a->name, sizeof(a->name), "%s", cfg->name);
	if (!hr_name_ok(cfg->name)) {
		log_error("name = '%s': an agent's name must be 1..%d of A-Z a-z 0-9 . _ @ - (the "
			  "broker and the tickets use it; set --name)",
			  cfg->name ? cfg->name : "", HR_NAME_MAX);
		goto fail;
	}

	struct tls_cfg tcfg = {.cert_file = cfg->cert_file, .key_file = cfg->key_file};
	a->tls = tls_ctx_new(TLS_SERVER, &tcfg);
	if (!a->tls)
		goto fail;
	pub = ticket_key_load_public(cfg->ticket_key);
	if (!pub)
		goto fail;
	a->verifier = ticket_verifier_new(pub, cfg->name, 0);
	EVP_PKEY_free(pub);
	if (!a->verifier)
		goto fail;
	if (make_empty_dir(a, cfg) < 0)
		goto fail;
	for (size_t i = 0; i < cfg->desktops.count; i++) {
		struct desktop *d = add_desktop(a, cfg, cfg->desktops.items[i]);
		if (!d)
			goto fail;
		a->desktops[a->ndesktops++] = d;
	}
	a->listener = evconnlistener_new_bind(base, accept_cb, a,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
						      LEV_OPT_CLOSE_ON_EXEC,
					      128, (struct sockaddr *)&ss, sslen);
	if (!a->listener) {
		log_error("cannot listen on %s: %s", cfg->listen,
			  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		goto fail;
	}
	evconnlistener_set_error_cb(a->listener, accept_error_cb);
	{
		struct sockaddr_storage bound;
		socklen_t blen = sizeof(bound);
		getsockname(evconnlistener_get_fd(a->listener), (struct sockaddr *)&bound, &blen);
		a->port = ntohs(bound.ss_family == AF_INET6
					? ((struct sockaddr_in6 *)&bound)->sin6_port
					: ((struct sockaddr_in *)&bound)->sin_port);
	}
	log_info("agent %s listening on %s (port %u) with %zu desktop(s); browsers: %s", a->name,
		 cfg->listen, a->port, a->ndesktops,
		 a->web_origin[0] ? a->web_origin : "none (web.origin)");
	if (cfg->broker_url && start_link(a, cfg) < 0)
		goto fail;
	return a;
fail:
	agent_free(a);
	return NULL;
}

int agent_shutdown(struct agent *a)
{
	if (a->listener) {
		evconnlistener_free(a->listener);
		a->listener = NULL;
	}
	for (struct peer *p = a->peers, *next; p; p = next) {
		next = p->next; /* conn_close may end p at once */
		if (p->front)
			front_drop(p, MSG_BYE_SHUTDOWN, "the agent is shutting down");
		else
			conn_close(p->conn, MSG_BYE_SHUTDOWN, "the agent is shutting down");
	}
	return a->npeers;
}

int agent_busy(const struct agent *a)
{
	return a->npeers;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	if (a->listener)
		evconnlistener_free(a->listener);
	/* clients that outlived the grace period: the broker hears they are gone */
	for (struct peer *p = a->peers; p; p = p->next)
		if (p->reported)
			broker_link_event(a->link, p->session_id, p->desktop,
					  BROKER_SESSION_DISCONNECTED, NULL);
	/* and sessions that were waiting for their clients to resume */
	if (a->resume)
		resume_sweep(a->resume, INT64_MAX, NULL, resume_expired, a);
	broker_link_free(a->link); /* sends those last events, then no more on_end */
	if (a->link_tick)
		event_free(a->link_tick);
	if (a->live_tick)
		event_free(a->live_tick);
	/* connections still open are orphaned from their desktops first */
	for (struct peer *p = a->peers; p; p = p->next) {
		if (p->session)
			desktop_detach(p->session);
		p->session = NULL;
	}
	for (size_t i = 0; i < a->ndesktops; i++)
		desktop_free(a->desktops[i]);
	if (a->empty_dir) {
		rmdir(a->empty_dir);
		free(a->empty_dir);
	}
	ticket_verifier_free(a->verifier);
	resume_table_free(a->resume);
	tls_ctx_free(a->tls);
	free(a);
}

uint16_t agent_port(const struct agent *a)
{
	return a->port;
}
