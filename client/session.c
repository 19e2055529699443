/* SPDX-License-Identifier: MIT */
#include "session.h"

#include "clock.h"
#include "conn.h"
#include "error.h"
#include "hostport.h"
#include "log.h"
#include "opus_codec.h"
#include "resume.h"
#include "ticket.h"
#include "tls.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define DEFAULT_MAX_WIDTH   7680
#define DEFAULT_MAX_HEIGHT  4320
#define DEFAULT_TIMEOUT_MS  10000
#define WELCOME_MARGIN_MS   3000 /* past the agent's MSG_WELCOME_WAIT_MS: its BYE is heard */
#define DEFAULT_PING_MS	    2000
#define DEAD_AFTER_US	    10000000ull /* a silent agent is gone within this (§5.4) */
#define KEYFRAME_RETRY_US   1000000ull	/* ask again after a second without a key frame */
#define TICKET_FILE_MAX	    65536	/* base64 with blanks is still far below */
#define CLOSE_LINGER_MS	    1000
#define DEFAULT_CLIENT_NAME "highrise"
#define AUDIO_REPORT_MS	    1000 /* docs/protocol.md §5.21: about once a second */

struct session {
	struct event_base *base;
	struct session_cbs cbs;
	void *userdata;
	struct tls_ctx *tls;
	struct conn *conn;
	struct decoder *dec;
	struct event *deadline; /* connect + TLS + WELCOME must finish before it */
	struct event *pinger;
	struct event *failer;	/* reports a failure of session_new's connect on the loop */
	struct event *reporter; /* AUDIO_REPORT once a second while AUDIO plays */
	struct session_info info;

	char host[256];
	uint16_t port;
	char where[300]; /* "host:port", "[v6::addr]:port": for messages */
	char client_name[MSG_NAME_MAX + 1];
	uint8_t ticket[MSG_TICKET_MAX];
	size_t ticket_len;
	EVP_PKEY *client_key;		      /* signs the ticket's binding proof */
	uint8_t resume[MSG_RESUME_GRANT_LEN]; /* cfg->resume: HELLO proves it instead */
	bool resuming;
	uint16_t max_width, max_height;
	uint32_t caps;
	int timeout_ms, ping_ms;
	int welcome_wait_ms; /* after HELLO (conn_open_cb): session_cfg's, or the default */
	bool manual_ack;

	bool keyframe_wanted;
	uint64_t keyframe_asked_us; /* monotonic */
	uint64_t ping_sent_us;	    /* monotonic; also the PING id; 0: none outstanding */
	uint64_t last_rx_us;	    /* monotonic: the last frame from the agent */

	bool got_bye;
	uint16_t bye_code;
	char bye_text[MSG_REASON_MAX + 1];

	/* set when this side ends the connection: what on_close will report */
	enum session_end local_end;
	char local_reason[MSG_REASON_MAX + 128];

	int depth;	   /* application callbacks running */
	bool free_pending; /* session_free was called: no more callbacks */
	bool detached;	   /* session_free closed the conn; on_close frees */
};

/* ---- clocks ------------------------------------------------------------ */

uint64_t session_realtime_us(void)
{
	return (uint64_t)clock_real_us();
}

static uint64_t mono_us(void)
{
	return (uint64_t)clock_mono_us();
}

/* ---- lifetime ---------------------------------------------------------- */

static void destroy(struct session *s)
{
	if (s->deadline)
		event_free(s->deadline);
	if (s->pinger)
		event_free(s->pinger);
	if (s->failer)
		event_free(s->failer);
	if (s->reporter)
		event_free(s->reporter);
	decoder_free(s->dec);
	tls_ctx_free(s->tls);
	OPENSSL_cleanse(s->ticket, sizeof(s->ticket));
	OPENSSL_cleanse(s->resume, sizeof(s->resume));
	OPENSSL_cleanse(s->info.resume, sizeof(s->info.resume));
	EVP_PKEY_free(s->client_key);
	free(s);
}

/* After session_free: close what is open, or free now. Do not touch s afterwards. */
static void finalize(struct session *s)
{
	if (s->conn) {
		if (!s->detached) {
			s->detached = true;
			conn_close(s->conn, MSG_BYE_NORMAL, "the client closed the session");
		}
		return; /* on_close frees */
	}
	destroy(s);
}

/* Brackets a call into the application, which may free the session meanwhile. */
static bool enter(struct session *s)
{
	if (s->free_pending)
		return false;
	s->depth++;
	return true;
}

/* False when the session is going away: stop touching it (it may be freed already). */
static bool leave(struct session *s)
{
	if (--s->depth == 0 && s->free_pending) {
		finalize(s);
		return false;
	}
	return !s->free_pending;
}

static bool emit_state(struct session *s, const char *text)
{
	if (!s->cbs.on_state)
		return !s->free_pending;
	if (!enter(s))
		return false;
	s->cbs.on_state(s, s->info.state, text, s->userdata);
	return leave(s);
}

static void set_state(struct session *s, enum session_state st)
{
	log_debug("session %s: %s -> %s", s->where, session_state_name(s->info.state),
		  session_state_name(st));
	s->info.state = st;
}

/* ---- sending ------------------------------------------------------------ */

static int send_msg(struct session *s, const struct msg *m)
{
	if (!s->conn)
		return -ENOTCONN;
	return conn_send(s->conn, m);
}

static void want_keyframe(struct session *s, const char *why)
{
	struct msg m = {.type = MSG_KEYFRAME_REQUEST};
	uint64_t now = mono_us();

	if (s->keyframe_wanted && now - s->keyframe_asked_us < KEYFRAME_RETRY_US)
		return;
	if (send_msg(s, &m) < 0)
		return;
	log_info("session %s: asking the agent for a key frame: %s", s->where, why);
	s->keyframe_wanted = true;
	s->keyframe_asked_us = now;
	s->info.stats.keyframe_requests++;
}

/* Ends the connection from this side; on_close reports end and the sentence. */
static void close_with(struct session *s, enum session_end end, uint16_t bye, const char *bye_text,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void close_with(struct session *s, enum session_end end, uint16_t bye, const char *bye_text,
		       const char *fmt, ...)
{
	va_list ap;

	if (!s->conn || s->local_end != SESSION_END_NONE)
		return;
	s->local_end = end;
	va_start(ap, fmt);
	vsnprintf(s->local_reason, sizeof(s->local_reason), fmt, ap);
	va_end(ap);
	conn_close(s->conn, bye, bye_text);
}

static void protocol_violation(struct session *s, const char *what)
{
	log_warn("session %s: %s; closing", s->where, what);
	close_with(s, SESSION_END_PROTOCOL, MSG_BYE_PROTOCOL_ERROR, what,
		   "the agent broke the protocol: %s", what);
}

/* ---- timers ------------------------------------------------------------- */

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	(void)fd;
	(void)what;
	bool connecting = s->info.state == SESSION_CONNECTING;
	int ms = connecting ? s->timeout_ms : s->welcome_wait_ms;
	char doing[160];
	if (connecting)
		snprintf(doing, sizeof(doing), "connecting");
	else
		snprintf(doing, sizeof(doing),
			 "waiting for it to accept the ticket; an agent answers within %d s, so "
			 "it is stuck or gone",
			 MSG_WELCOME_WAIT_MS / 1000);
	log_warn("session %s: no WELCOME within %d ms", s->where, ms);
	close_with(s, SESSION_END_NETWORK, MSG_BYE_NORMAL, "timed out",
		   "no answer from the agent at %s within %d s (%s)", s->where, (ms + 999) / 1000,
		   doing);
}

/*
 * Every ping_ms: a PING (one outstanding at a time), and liveness. The agent
 * is gone when nothing at all came from it for DEAD_AFTER_US minus one tick,
 * so that with the 2 s tick a silent agent is noticed within 10 s of its
 * last frame (docs/protocol.md §5.4), however the silence and the tick line up.
 */
static void pinger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct msg m = {.type = MSG_PING};
	uint64_t now = mono_us(), tick = (uint64_t)s->ping_ms * 1000u;
	uint64_t limit = tick < DEAD_AFTER_US / 2 ? DEAD_AFTER_US - tick : DEAD_AFTER_US / 2;
	(void)fd;
	(void)what;

	if (s->info.state != SESSION_CONNECTED || !s->conn || s->local_end != SESSION_END_NONE)
		return;
	if (now - s->last_rx_us >= limit) {
		/* no BYE: the agent must read this as a lost network and keep the session */
		s->local_end = SESSION_END_NETWORK;
		snprintf(s->local_reason, sizeof(s->local_reason),
			 "the agent at %s stopped answering (nothing heard for %.1f s)", s->where,
			 (double)(now - s->last_rx_us) / 1e6);
		log_warn("session %s: %s", s->where, s->local_reason);
		conn_abort(s->conn, -ETIMEDOUT, "no answer to PING");
		return;
	}
	if (s->ping_sent_us)
		return; /* one outstanding at a time: the RTT stays honest */
	m.u.ping.id = now;
	if (send_msg(s, &m) == 0)
		s->ping_sent_us = now;
}

static void reporter_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct msg_audio_report r = {0};
	bool send;
	(void)fd;
	(void)what;

	if (s->info.state != SESSION_CONNECTED || !s->cbs.on_audio_report || !enter(s))
		return;
	send = s->cbs.on_audio_report(s, &r, s->userdata);
	if (!leave(s))
		return;
	if (send)
		session_send_audio_report(s, &r);
}

static void failer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	(void)fd;
	(void)what;
	if (s->deadline)
		evtimer_del(s->deadline);
	s->info.closed_in = s->info.state;
	s->info.end = SESSION_END_NETWORK;
	set_state(s, SESSION_CLOSED);
	log_warn("session %s: %s", s->where, s->info.reason);
	emit_state(s, s->info.reason);
}

/* ---- receiving ---------------------------------------------------------- */

static void copy_text(char *dst, size_t cap, struct msg_bytes b)
{
	size_t n = b.len < cap - 1 ? b.len : cap - 1;
	if (n)
		memcpy(dst, b.data, n);
	dst[n] = '\0';
}

static void on_welcome(struct session *s, const struct msg_welcome *w)
{
	char text[512];

	if (s->info.state != SESSION_AUTHENTICATING) {
		protocol_violation(s, "a second WELCOME");
		return;
	}
	s->info.width = w->width;
	s->info.height = w->height;
	s->info.control = w->flags & MSG_WELCOME_CONTROL;
	s->info.clipboard = w->flags & MSG_WELCOME_CLIPBOARD;
	s->info.audio = w->flags & MSG_WELCOME_AUDIO;
	s->info.resizable = w->flags & MSG_WELCOME_RESIZE;
	s->info.mic = w->flags & MSG_WELCOME_MIC;
	if (s->info.mic && !(s->caps & MSG_CAP_MIC)) {
		log_info("session %s: the agent offers MIC unasked; not sending any", s->where);
		s->info.mic = false;
	}
	copy_text(s->info.session_id, sizeof(s->info.session_id), w->session);
	s->info.has_resume = w->resume.len == MSG_RESUME_GRANT_LEN;
	if (s->info.has_resume) {
		memcpy(s->info.resume, w->resume.data, MSG_RESUME_GRANT_LEN);
		s->info.resume_window_s = w->resume_window_s;
	}
	decoder_set_size(s->dec, w->width, w->height);
	evtimer_del(s->deadline);
	s->last_rx_us = mono_us();
	set_state(s, SESSION_CONNECTED);
	if (s->ping_ms > 0) {
		struct timeval tv = {s->ping_ms / 1000, (s->ping_ms % 1000) * 1000};
		event_add(s->pinger, &tv);
		pinger_cb(-1, 0, s); /* a first round trip at once, for short sessions */
	}
	if (s->info.audio && s->cbs.on_audio_report) {
		struct timeval tv = {AUDIO_REPORT_MS / 1000, (AUDIO_REPORT_MS % 1000) * 1000};
		event_add(s->reporter, &tv);
	}
	if (s->info.audio)
		log_info("session %s: sound follows (Opus %u Hz, %u channels)%s", s->where,
			 w->audio_rate, w->audio_channels,
			 s->info.mic ? "; the desktop takes this client's microphone" : "");
	if (s->info.session_id[0])
		snprintf(text, sizeof(text), "connected to session %s: %dx%d desktop, %s",
			 s->info.session_id, w->width, w->height,
			 s->info.control ? "keyboard and mouse enabled" : "view only");
	else
		snprintf(text, sizeof(text), "connected to %s: %dx%d desktop, %s", s->where,
			 w->width, w->height,
			 s->info.control ? "keyboard and mouse enabled" : "view only");
	log_info("session %s: %s", s->where, text);
	emit_state(s, text);
}

static int send_ack(struct session *s, uint32_t frame, uint64_t display_us)
{
	struct msg m = {.type = MSG_ACK};
	m.u.ack.frame = frame;
	m.u.ack.display_us = display_us;
	return send_msg(s, &m);
}

static void on_video(struct session *s, const struct msg_video *v)
{
	struct decoder_frame pic;
	struct session_frame f;
	uint64_t t0, t1;
	char why[64];
	int rc;

	s->info.stats.frames_received++;
	s->info.stats.video_bytes += v->data.len;
	if (decoder_au_is_keyframe(v->data.data, v->data.len))
		s->info.stats.keyframes++;
	/* the network stage ends where decoding begins: nothing between them is unaccounted */
	uint64_t arrival = session_realtime_us();
	t0 = mono_us();
	rc = decoder_decode(s->dec, v->data.data, v->data.len, &pic);
	t1 = mono_us();
	switch (rc) {
	case DECODER_OK:
		break;
	case DECODER_AGAIN:
		return;
	case DECODER_SKIPPED:
		s->info.stats.frames_skipped++;
		want_keyframe(s, s->info.stats.frames_decoded
					 ? "a frame failed to decode earlier"
					 : "the stream did not start with a key frame");
		return;
	default:
		s->info.stats.decode_errors++;
		snprintf(why, sizeof(why), "frame %u could not be decoded", v->frame);
		want_keyframe(s, why);
		return;
	}
	s->info.stats.frames_decoded++;
	if (pic.chroma444)
		s->info.stats.frames_444++;
	if (pic.keyframe)
		s->keyframe_wanted = false;
	memset(&f, 0, sizeof(f));
	f.picture = &pic;
	f.number = v->frame;
	f.capture_us = v->capture_us;
	f.decoded_us = session_realtime_us();
	f.decode_us = (uint32_t)(t1 - t0 > UINT32_MAX ? UINT32_MAX : t1 - t0);
	f.bytes = v->data.len;
	f.refinement = v->flags & MSG_VIDEO_REFINE;
	if (v->flags & MSG_VIDEO_TIMING) {
		f.timed = true;
		memcpy(f.stage_us, v->stage_us, sizeof(f.stage_us));
		f.network_us = clock_us32((int64_t)arrival -
					  msg_video_stage_start(v, MSG_STAGE_COUNT));
	}
	/* decoded is displayed here; ACK first, so a callback that closes still acknowledges */
	if (!s->manual_ack)
		send_ack(s, v->frame, f.decoded_us);
	if (s->cbs.on_frame && enter(s)) {
		s->cbs.on_frame(s, &f, s->userdata);
		leave(s);
	}
}

static void on_resize(struct session *s, const struct msg_resize *r)
{
	log_info("session %s: the desktop is now %ux%u", s->where, r->width, r->height);
	s->info.width = r->width;
	s->info.height = r->height;
	decoder_set_size(s->dec, r->width, r->height);
	if (s->cbs.on_resize && enter(s)) {
		s->cbs.on_resize(s, r->width, r->height, s->userdata);
		leave(s);
	}
}

/* Whether a desktop message may come now; ends the session when not. */
static bool after_welcome(struct session *s, const struct msg *m)
{
	char what[96];

	if (s->info.state == SESSION_CONNECTED)
		return true;
	snprintf(what, sizeof(what), "%s before WELCOME", msg_type_name(m->raw_type));
	protocol_violation(s, what);
	return false;
}

static void conn_msg_cb(struct conn *c, const struct msg *m, void *arg)
{
	struct session *s = arg;
	struct msg reply;
	(void)c;

	if (s->detached || s->local_end != SESSION_END_NONE)
		return; /* closing: nothing more to act on */
	s->info.stats.messages_received++;
	s->last_rx_us = mono_us();
	s->info.stats.bytes_received += msg_encoded_size(m);
	switch (m->type) {
	case MSG_WELCOME:
		on_welcome(s, &m->u.welcome);
		break;
	case MSG_BYE:
		s->got_bye = true;
		s->bye_code = m->u.bye.reason;
		copy_text(s->bye_text, sizeof(s->bye_text), m->u.bye.text);
		break;
	case MSG_PING:
		memset(&reply, 0, sizeof(reply));
		reply.type = MSG_PONG;
		reply.u.ping.id = m->u.ping.id;
		send_msg(s, &reply);
		break;
	case MSG_PONG:
		if (s->ping_sent_us && m->u.ping.id == s->ping_sent_us) {
			s->info.stats.rtt_us = (int64_t)(mono_us() - s->ping_sent_us);
			s->ping_sent_us = 0;
		}
		break;
	case MSG_VIDEO:
		if (after_welcome(s, m))
			on_video(s, &m->u.video);
		break;
	case MSG_RESIZE:
		if (after_welcome(s, m))
			on_resize(s, &m->u.resize);
		break;
	case MSG_CURSOR:
		if (after_welcome(s, m) && s->cbs.on_cursor && enter(s)) {
			s->cbs.on_cursor(s, &m->u.cursor, s->userdata);
			leave(s);
		}
		break;
	case MSG_CURSOR_POS:
		if (after_welcome(s, m) && s->cbs.on_cursor_pos && enter(s)) {
			s->cbs.on_cursor_pos(s, &m->u.cursor_pos, s->userdata);
			leave(s);
		}
		break;
	case MSG_CLIPBOARD:
		if (!after_welcome(s, m))
			break;
		if (m->u.clipboard.format != MSG_CLIPBOARD_TEXT) {
			log_debug("session: ignored clipboard data in format %u",
				  m->u.clipboard.format);
			break;
		}
		if (s->cbs.on_clipboard && enter(s)) {
			s->cbs.on_clipboard(s, (const char *)m->u.clipboard.data.data,
					    m->u.clipboard.data.len, s->userdata);
			leave(s);
		}
		break;
	case MSG_AUDIO:
		if (!after_welcome(s, m))
			break;
		if (!s->info.audio || !s->cbs.on_audio) {
			log_debug("session %s: AUDIO without WELCOME AUDIO: dropped", s->where);
			break;
		}
		s->info.stats.audio_packets++;
		s->info.stats.audio_bytes += m->u.audio.data.len;
		if (enter(s)) {
			s->cbs.on_audio(s, &m->u.audio, session_realtime_us(), s->userdata);
			leave(s);
		}
		break;
	case MSG_STATUS:
		/* §5.11: RESIZE_ON/OFF update what WELCOME's flag RESIZE said */
		if (after_welcome(s, m) && s->info.control &&
		    (m->u.status.code == MSG_STATUS_RESIZE_ON ||
		     m->u.status.code == MSG_STATUS_RESIZE_OFF))
			s->info.resizable = m->u.status.code == MSG_STATUS_RESIZE_ON;
		/* §5.11: control passed (the controller left), or who holds it */
		if (after_welcome(s, m) && m->u.status.code == MSG_STATUS_CONTROL_ON)
			s->info.control = true;
		if (after_welcome(s, m) && m->u.status.code == MSG_STATUS_CONTROL_OFF) {
			s->info.control = false;
			s->info.resizable = false;
		}
		if (after_welcome(s, m) && s->cbs.on_status && enter(s)) {
			char text[MSG_REASON_MAX + 1];
			copy_text(text, sizeof(text), m->u.status.text);
			log_info("session %s: the agent says: %s", s->where, text);
			s->cbs.on_status(s, m->u.status.code, text, s->userdata);
			leave(s);
		}
		break;
	default:
		/* HELLO, KEY, ACK, ...: what a client sends. A confused agent; not fatal. */
		log_debug("session %s: ignored %s from the agent", s->where,
			  msg_type_name(m->raw_type));
		break;
	}
}

static void conn_open_cb(struct conn *c, void *arg)
{
	struct session *s = arg;
	struct msg m = {.type = MSG_HELLO};
	uint8_t exporter[TLS_BINDING_LEN], proof[MSG_PROOF_TICKET_LEN];
	struct ticket t;
	char text[512];
	int rc;

	tls_describe_session(conn_bufferevent(c), s->info.tls, sizeof(s->info.tls));
	/* docs/protocol.md §6.3, §6.4: what we hold, proven on this connection only */
	rc = tls_export_binding(conn_bufferevent(c), exporter);
	if (rc == 0 && s->resuming) {
		rc = resume_proof(s->resume, exporter, proof);
		m.u.hello.proof.len = MSG_PROOF_RESUME_LEN;
	} else if (rc == 0) {
		rc = ticket_parse(s->ticket, s->ticket_len, &t);
		if (rc == 0)
			rc = ticket_bind_sign(s->client_key, t.id, exporter, proof);
		m.u.hello.ticket.data = s->ticket;
		m.u.hello.ticket.len = s->ticket_len;
		m.u.hello.proof.len = MSG_PROOF_TICKET_LEN;
	}
	m.u.hello.proof.data = proof;
	if (rc < 0) {
		close_with(s, SESSION_END_LOCAL, MSG_BYE_NORMAL, "cannot prove the ticket",
			   "cannot prove the %s on this connection: %s",
			   s->resuming ? "resume secret" : "connect ticket", hr_strerror(rc));
		return;
	}
	m.u.hello.version = MSG_PROTOCOL_VERSION;
	m.u.hello.caps = s->caps;
	m.u.hello.max_width = s->max_width;
	m.u.hello.max_height = s->max_height;
	m.u.hello.client_name.data = (const uint8_t *)s->client_name;
	m.u.hello.client_name.len = strlen(s->client_name);
	rc = conn_send(c, &m);
	OPENSSL_cleanse(proof, sizeof(proof));
	if (rc < 0) {
		close_with(s, SESSION_END_LOCAL, MSG_BYE_NORMAL, "cannot send HELLO",
			   "cannot send HELLO to the agent: %s", hr_strerror(rc));
		return;
	}
	set_state(s, SESSION_AUTHENTICATING);
	/*
	 * The agent answers within MSG_WELCOME_WAIT_MS, also when the desktop's
	 * console is slow or gone (then BYE with the reason): wait for that answer
	 * rather than guess, however short the connect timeout.
	 */
	int wait_ms = s->welcome_wait_ms;
	struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
	evtimer_add(s->deadline, &tv);
	snprintf(text, sizeof(text), "secure connection to %s established (%s); presenting the %s",
		 s->where, s->info.tls, s->resuming ? "resume proof" : "connect ticket");
	log_info("session: %s", text);
	emit_state(s, text);
}

/* The agent's BYE as a sentence: "the agent refused the ticket: connect ticket expired". */
static void bye_sentence(uint16_t code, const char *text, char *out, size_t len)
{
	const char *prefix;
	bool detail = false; /* say the reason's name when the agent gave no text */

	switch (code) {
	case MSG_BYE_TICKET_INVALID:
	case MSG_BYE_TICKET_EXPIRED:
		prefix = "the agent refused the ticket";
		detail = true;
		break;
	case MSG_BYE_VERSION:
		prefix = "the agent does not speak this client's protocol version";
		break;
	case MSG_BYE_DESKTOP_UNAVAILABLE:
		prefix = "the desktop is not available";
		break;
	case MSG_BYE_PROTOCOL_ERROR:
		prefix = "the agent reported a protocol error";
		break;
	case MSG_BYE_SHUTDOWN:
		prefix = "the agent is shutting down";
		break;
	case MSG_BYE_REPLACED:
		prefix = "the session was opened elsewhere by the same user";
		break;
	case MSG_BYE_IDLE_TIMEOUT:
		prefix = "the session ended after being idle too long";
		break;
	case MSG_BYE_ADMIN:
		prefix = "an administrator ended the session";
		break;
	case MSG_BYE_RESUME_REFUSED:
		prefix = "the agent did not take the session back";
		detail = true;
		break;
	case MSG_BYE_NORMAL:
		prefix = "the agent ended the session";
		break;
	default:
		prefix = "the agent ended the session for a reason this client does not know";
		break;
	}
	if (text[0])
		snprintf(out, len, "%s: %s", prefix, text);
	else if (detail)
		snprintf(out, len, "%s: %s", prefix, msg_bye_reason_name(code));
	else
		snprintf(out, len, "%s", prefix);
}

static bool is_protocol_error(int err)
{
	return err <= HR_EPROTO_TRUNCATED && err >= HR_EPROTO_INVALID;
}

/*
 * The SHA-256 of the agent's public key (what --pin takes), also when the
 * handshake failed verification: OpenSSL then keeps the chain the agent sent
 * but no verified peer, so the leaf is read from the chain. 0 or -ENOENT.
 */
static int peer_pin(struct bufferevent *bev, char out[65])
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	STACK_OF(X509) *chain = ssl ? SSL_get_peer_cert_chain(ssl) : NULL;
	X509 *leaf = chain && sk_X509_num(chain) > 0 ? sk_X509_value(chain, 0) : NULL;
	unsigned char *der = NULL;
	uint8_t md[32];
	int len;

	if (!leaf) {
		if (tls_peer_spki_sha256(bev, md) < 0)
			return -ENOENT;
		tls_hex(md, out);
		return 0;
	}
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &der);
	if (len <= 0)
		return -ENOENT;
	if (!EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL)) {
		OPENSSL_free(der);
		return -ENOENT;
	}
	OPENSSL_free(der);
	tls_hex(md, out);
	return 0;
}

static void conn_close_cb(struct conn *c, int err, const char *reason, void *arg)
{
	struct session *s = arg;
	struct session_info *in = &s->info;
	int dns = bufferevent_socket_get_dns_error(conn_bufferevent(c));

	/* the certificate may have been refused: its fingerprint lets a person decide */
	if (!in->peer_pin[0])
		peer_pin(conn_bufferevent(c), in->peer_pin);

	s->conn = NULL;
	evtimer_del(s->deadline);
	event_del(s->pinger);
	event_del(s->reporter);
	in->closed_in = in->state;
	in->bye_reason = s->got_bye ? s->bye_code : -1;
	if (s->free_pending) {
		/* session_free ran: nobody listens any more; free now or when leave() runs */
		if (s->depth == 0)
			destroy(s);
		return;
	}
	if (s->local_end != SESSION_END_NONE) {
		in->end = s->local_end;
		snprintf(in->reason, sizeof(in->reason), "%s", s->local_reason);
	} else if (s->got_bye) {
		in->end = in->state == SESSION_CONNECTED ? SESSION_END_BYE : SESSION_END_REFUSED;
		bye_sentence(s->bye_code, s->bye_text, in->reason, sizeof(in->reason));
	} else if (is_protocol_error(err)) {
		in->end = SESSION_END_PROTOCOL;
		snprintf(in->reason, sizeof(in->reason),
			 "the agent sent a message this client cannot accept: %s", reason);
	} else {
		in->end = SESSION_END_NETWORK;
		if (in->state == SESSION_CONNECTING && dns)
			snprintf(in->reason, sizeof(in->reason), "cannot resolve the name %s: %s",
				 s->host, evutil_gai_strerror(dns));
		else if (in->state == SESSION_CONNECTING)
			snprintf(in->reason, sizeof(in->reason), "cannot connect to %s: %s",
				 s->where, reason);
		else if (in->state == SESSION_AUTHENTICATING)
			snprintf(in->reason, sizeof(in->reason),
				 "the agent at %s closed the connection before accepting the "
				 "ticket: %s",
				 s->where, reason);
		else
			snprintf(in->reason, sizeof(in->reason),
				 "the connection to %s was lost: %s", s->where, reason);
	}
	set_state(s, SESSION_CLOSED);
	if (in->end == SESSION_END_LOCAL)
		log_info("session %s: %s", s->where, in->reason);
	else
		log_warn("session %s: %s", s->where, in->reason);
	emit_state(s, in->reason);
}

static const struct conn_cbs conn_callbacks = {
	.on_open = conn_open_cb,
	.on_msg = conn_msg_cb,
	.on_close = conn_close_cb,
};

/* ---- roaming ----------------------------------------------------------------- */

static bool same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
			      &((const struct sockaddr_in *)b)->sin_addr,
			      sizeof(struct in_addr)) == 0;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr,
			      sizeof(struct in6_addr)) == 0;
	return false;
}

bool session_network_changed(struct session *s)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	struct ifaddrs *ifs = NULL;
	bool present = false;
	char where[INET6_ADDRSTRLEN] = "?";
	evutil_socket_t fd;

	if (!s || !s->conn || s->local_end != SESSION_END_NONE || s->info.state == SESSION_CLOSED)
		return false;
	fd = bufferevent_getfd(conn_bufferevent(s->conn));
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&local, &len) < 0)
		return false;
	/* a try still connecting from an address that went: it would hang until its timeout */
	if (!(local.ss_family == AF_INET &&
	      ((struct sockaddr_in *)&local)->sin_addr.s_addr != htonl(INADDR_ANY)) &&
	    !(local.ss_family == AF_INET6 &&
	      !IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&local)->sin6_addr)))
		return false;
	if (getifaddrs(&ifs) < 0)
		return false;
	for (struct ifaddrs *i = ifs; i && !present; i = i->ifa_next)
		present = i->ifa_addr && same_addr(i->ifa_addr, &local);
	freeifaddrs(ifs);
	if (present)
		return false;
	inet_ntop(local.ss_family,
		  local.ss_family == AF_INET ? (void *)&((struct sockaddr_in *)&local)->sin_addr
					     : (void *)&((struct sockaddr_in6 *)&local)->sin6_addr,
		  where, sizeof(where));
	s->local_end = SESSION_END_NETWORK;
	snprintf(s->local_reason, sizeof(s->local_reason),
		 "this computer's address %s is gone (a new network?); reconnecting from the new "
		 "one",
		 where);
	log_info("session %s: %s", s->where, s->local_reason);
	conn_abort(s->conn, -ENETDOWN, s->local_reason);
	return true;
}

/* ---- resume bookkeeping -------------------------------------------------- */

void session_resume_clear(struct session_resume *r)
{
	OPENSSL_cleanse(r, sizeof(*r));
}

void session_resume_note(struct session_resume *r, const struct session_info *in)
{
	if (in->end != SESSION_END_NETWORK) {
		/* a goodbye, a refusal (a used or expired grant too) or our own close */
		session_resume_clear(r);
		return;
	}
	if (in->closed_in == SESSION_CONNECTED && in->has_resume) {
		/* the window counts from the drop; a failed attempt later does not extend it */
		memcpy(r->grant, in->resume, sizeof(r->grant));
		r->until_us = mono_us() + (uint64_t)in->resume_window_s * 1000000u;
		r->valid = in->resume_window_s > 0;
	}
}

const uint8_t *session_resume_use(struct session_resume *r)
{
	if (r->valid && mono_us() < r->until_us)
		return r->grant;
	session_resume_clear(r);
	return NULL;
}

/* ---- set-up ------------------------------------------------------------- */

int session_ticket_decode(const uint8_t *text, size_t len, uint8_t *out, size_t cap)
{
	unsigned char *b64;
	size_t n = 0;
	int got = -EINVAL;

	if (len == 0 || len > TICKET_FILE_MAX)
		return -EINVAL;
	if (text[0] == TICKET_VERSION) { /* the bytes themselves */
		if (len > cap)
			return -EINVAL;
		memcpy(out, text, len);
		return (int)len;
	}
	b64 = malloc(len + 4);
	if (!b64)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = text[i];
		if (isspace(ch))
			continue;
		if (ch == '-')
			ch = '+';
		else if (ch == '_')
			ch = '/';
		else if (!isalnum(ch) && ch != '+' && ch != '/' && ch != '=')
			goto out;
		b64[n++] = ch;
	}
	while (n % 4)
		b64[n++] = '='; /* URL-safe base64 often drops the padding */
	if (n > 0) {
		unsigned char *raw = malloc(n / 4 * 3);
		if (!raw) {
			got = -ENOMEM;
			goto out;
		}
		got = EVP_DecodeBlock(raw, b64, (int)n);
		/* EVP_DecodeBlock counts the padding as zero bytes: take them off */
		for (size_t i = n; got >= 0 && i > 0 && b64[i - 1] == '='; i--)
			got--;
		if (got <= 0 || (size_t)got > cap)
			got = -EINVAL;
		else
			memcpy(out, raw, (size_t)got);
		OPENSSL_cleanse(raw, n / 4 * 3);
		free(raw);
	}
out:
	OPENSSL_cleanse(b64, len + 4);
	free(b64);
	return got;
}

/* A ticket file: what session_ticket_decode takes; "-" is stdin. */
static int read_ticket_file(struct session *s, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	unsigned char *raw;
	size_t len;
	int rc = -EINVAL;

	if (!f) {
		rc = -errno;
		log_error("session: cannot read the ticket file %s: %s", path, strerror(errno));
		return rc;
	}
	raw = malloc(TICKET_FILE_MAX + 1);
	if (!raw) {
		rc = -ENOMEM;
		goto out;
	}
	len = fread(raw, 1, TICKET_FILE_MAX + 1, f);
	if (ferror(f) || len > TICKET_FILE_MAX || len == 0) {
		log_error("session: the ticket file %s is %s", path,
			  ferror(f) ? "unreadable"
			  : len	    ? "too large"
				    : "empty");
		goto out;
	}
	rc = ticket_bundle_decode((const char *)raw, len, s->ticket, sizeof(s->ticket),
				  &s->ticket_len, &s->client_key);
	if (rc < 0) {
		log_error("session: %s is not a ticket file made by highrise-ticket (a connect "
			  "ticket with its client key)",
			  path);
		goto out;
	}
out:
	if (raw)
		OPENSSL_cleanse(raw, TICKET_FILE_MAX + 1);
	free(raw);
	if (f != stdin)
		fclose(f);
	return rc;
}

static int configure(struct session *s, const struct session_cfg *cfg)
{
	const char *name = cfg->client_name ? cfg->client_name : DEFAULT_CLIENT_NAME;

	if (!cfg->host || !cfg->host[0] || strlen(cfg->host) >= sizeof(s->host) || cfg->port == 0) {
		log_error("session: the agent's address is missing (host and port)");
		return -EINVAL;
	}
	snprintf(s->host, sizeof(s->host), "%s", cfg->host);
	s->port = cfg->port;
	hostport_format(s->where, sizeof(s->where), s->host, s->port);
	if (strlen(name) > MSG_NAME_MAX) {
		log_error("session: the client name is longer than %u bytes", MSG_NAME_MAX);
		return -EINVAL;
	}
	snprintf(s->client_name, sizeof(s->client_name), "%s", name);
	if (cfg->resume) {
		memcpy(s->resume, cfg->resume, sizeof(s->resume));
		s->resuming = true;
	} else if (cfg->ticket) {
		if (cfg->ticket_len == 0 || cfg->ticket_len > MSG_TICKET_MAX) {
			log_error("session: a ticket must be 1..%u bytes", MSG_TICKET_MAX);
			return -EINVAL;
		}
		memcpy(s->ticket, cfg->ticket, cfg->ticket_len);
		s->ticket_len = cfg->ticket_len;
	} else if (cfg->ticket_file) {
		int rc = read_ticket_file(s, cfg->ticket_file);
		if (rc < 0)
			return rc;
	} else {
		log_error("session: no connect ticket (ask the broker for one)");
		return -EINVAL;
	}
	if (!s->resuming && !s->client_key) {
		if (!cfg->client_key) {
			log_error(
				"session: a connect ticket needs the client key it was issued for");
			return -EINVAL;
		}
		EVP_PKEY_up_ref(cfg->client_key);
		s->client_key = cfg->client_key;
	}
	s->max_width = cfg->max_width ? cfg->max_width : DEFAULT_MAX_WIDTH;
	s->max_height = cfg->max_height ? cfg->max_height : DEFAULT_MAX_HEIGHT;
	if (s->max_width > MSG_DIMENSION_MAX)
		s->max_width = MSG_DIMENSION_MAX;
	if (s->max_height > MSG_DIMENSION_MAX)
		s->max_height = MSG_DIMENSION_MAX;
	s->caps = cfg->caps ? cfg->caps : SESSION_CAPS_DEFAULT;
	/* sound only with somewhere to play it; the microphone only when the user can turn it on */
	if (s->cbs.on_audio && !cfg->no_audio)
		s->caps |= MSG_CAP_OPUS;
	else
		s->caps &= ~(uint32_t)MSG_CAP_OPUS;
	if (cfg->offer_mic)
		s->caps |= MSG_CAP_MIC;
	else
		s->caps &= ~(uint32_t)MSG_CAP_MIC;
	s->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	s->welcome_wait_ms = cfg->welcome_wait_ms > 0 ? cfg->welcome_wait_ms
			     : s->timeout_ms > MSG_WELCOME_WAIT_MS + WELCOME_MARGIN_MS
				     ? s->timeout_ms
				     : MSG_WELCOME_WAIT_MS + WELCOME_MARGIN_MS;
	s->ping_ms = cfg->ping_interval_ms == 0 ? DEFAULT_PING_MS : cfg->ping_interval_ms;
	s->manual_ack = cfg->manual_ack;
	return 0;
}

struct session *session_new(struct event_base *base, const struct session_cfg *cfg,
			    const struct session_cbs *cbs, void *userdata)
{
	struct tls_cfg tcfg = {0};
	struct decoder_cfg dcfg = {0};
	struct conn_cfg ccfg = {0};
	struct bufferevent *bev;
	struct session *s;
	struct timeval tv;
	char conn_name[320];

	if (!base || !cfg)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		log_error("session: out of memory");
		return NULL;
	}
	s->base = base;
	if (cbs)
		s->cbs = *cbs;
	s->userdata = userdata;
	s->info.state = SESSION_CONNECTING;
	s->info.bye_reason = -1;
	s->info.stats.rtt_us = -1;
	if (configure(s, cfg) < 0)
		goto fail;

	tcfg.ca_file = cfg->ca_file;
	tcfg.ca_pem = cfg->ca_pem;
	tcfg.pin_sha256 = cfg->pin_sha256;
	tcfg.cert_file = cfg->cert_file;
	tcfg.key_file = cfg->key_file;
	if (!!cfg->cert_file != !!cfg->key_file) {
		log_error("session: a client certificate needs its key, and a key its certificate");
		goto fail;
	}
	s->tls = tls_ctx_new(TLS_CLIENT, &tcfg);
	if (!s->tls)
		goto fail; /* tls.c said which file or setting is wrong */
	dcfg.threads = cfg->decoder_threads;
	dcfg.hw = cfg->decoder_hw;
	dcfg.max_width = s->max_width;
	dcfg.max_height = s->max_height;
	s->dec = decoder_new(&dcfg);
	s->deadline = evtimer_new(base, deadline_cb, s);
	s->pinger = event_new(base, -1, EV_PERSIST, pinger_cb, s);
	s->failer = event_new(base, -1, 0, failer_cb, s);
	s->reporter = event_new(base, -1, EV_PERSIST, reporter_cb, s);
	if (!s->dec || !s->deadline || !s->pinger || !s->failer || !s->reporter) {
		log_error("session: out of memory");
		goto fail;
	}

	log_info("session: connecting to %s", s->where);
	bev = tls_connect(s->tls, base, s->host, s->port, cfg->verify_name);
	if (!bev) {
		/* tls_connect fails at once for a name that does not resolve: say so */
		struct evutil_addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
		int gai = evutil_getaddrinfo(s->host, NULL, &hints, &ai);
		if (ai)
			evutil_freeaddrinfo(ai);
		if (gai != 0) {
			snprintf(s->info.reason, sizeof(s->info.reason),
				 "cannot resolve the name %s: %s", s->host,
				 evutil_gai_strerror(gai));
			event_active(s->failer, EV_TIMEOUT, 0);
			return s;
		}
	}
	if (bev) {
		snprintf(conn_name, sizeof(conn_name), "agent %s", s->where);
		ccfg.name = conn_name;
		ccfg.linger_ms = CLOSE_LINGER_MS;
		s->conn = conn_new(bev, &conn_callbacks, s, &ccfg);
	}
	if (!s->conn) {
		/* reported like every other failure: through on_state, from the loop */
		snprintf(s->info.reason, sizeof(s->info.reason), "cannot connect to %s%s", s->where,
			 bev ? ": out of memory" : " (the name does not resolve, or see the log)");
		event_active(s->failer, EV_TIMEOUT, 0);
		return s;
	}
	tv.tv_sec = s->timeout_ms / 1000;
	tv.tv_usec = (s->timeout_ms % 1000) * 1000;
	evtimer_add(s->deadline, &tv);
	return s;

fail:
	destroy(s);
	return NULL;
}

void session_free(struct session *s)
{
	if (!s)
		return;
	s->free_pending = true;
	if (s->depth > 0)
		return; /* leave() finishes once the callback returns */
	finalize(s);
}

void session_close(struct session *s, const char *text)
{
	if (!s->conn || s->detached)
		return;
	close_with(s, SESSION_END_LOCAL, MSG_BYE_NORMAL,
		   text ? text : "the client closed the session", "%s",
		   text ? text : "closed by this client");
}

const struct session_info *session_info(const struct session *s)
{
	return &s->info;
}

const char *session_state_name(enum session_state state)
{
	switch (state) {
	case SESSION_CONNECTING:
		return "connecting";
	case SESSION_AUTHENTICATING:
		return "authenticating";
	case SESSION_CONNECTED:
		return "connected";
	case SESSION_CLOSED:
		return "closed";
	}
	return "unknown";
}

struct decoder *session_decoder(struct session *s)
{
	return s->dec;
}

/* ---- input -------------------------------------------------------------- */

static int can_send(const struct session *s, bool input)
{
	if (!s->conn || s->info.state != SESSION_CONNECTED || s->local_end != SESSION_END_NONE)
		return -ENOTCONN;
	if (input && !s->info.control)
		return -EPERM;
	return 0;
}

int session_send_key(struct session *s, uint16_t scancode, uint32_t keysym, bool down)
{
	struct msg m = {.type = MSG_KEY};
	int rc = can_send(s, true);

	if (rc < 0)
		return rc;
	m.u.key.scancode = scancode;
	m.u.key.keysym = keysym;
	m.u.key.flags = down ? MSG_KEY_DOWN : 0;
	return send_msg(s, &m);
}

int session_send_pointer(struct session *s, uint16_t x, uint16_t y, uint8_t buttons)
{
	struct msg m = {.type = MSG_POINTER};
	int rc = can_send(s, true);

	if (rc < 0)
		return rc;
	m.u.pointer.x = x;
	m.u.pointer.y = y;
	m.u.pointer.buttons = buttons;
	return send_msg(s, &m);
}

int session_send_scroll(struct session *s, int16_t dx, int16_t dy)
{
	struct msg m = {.type = MSG_SCROLL};
	int rc = can_send(s, true);

	if (rc < 0)
		return rc;
	m.u.scroll.dx = dx;
	m.u.scroll.dy = dy;
	return send_msg(s, &m);
}

int session_send_touch(struct session *s, uint32_t id, enum msg_touch_phase phase, uint16_t x,
		       uint16_t y)
{
	struct msg m = {.type = MSG_TOUCH};
	int rc = can_send(s, true);

	if (rc < 0)
		return rc;
	m.u.touch.id = id;
	m.u.touch.phase = (uint8_t)phase;
	m.u.touch.x = x;
	m.u.touch.y = y;
	return send_msg(s, &m);
}

int session_send_pen(struct session *s, const struct msg_pen *pen)
{
	struct msg m = {.type = MSG_PEN};
	int rc = can_send(s, true);

	if (rc < 0)
		return rc;
	m.u.pen = *pen;
	return send_msg(s, &m);
}

int session_send_clipboard(struct session *s, const char *text, size_t len)
{
	struct msg m = {.type = MSG_CLIPBOARD};
	int rc = can_send(s, true);

	if (rc < 0)
		return rc;
	if (len > MSG_CLIPBOARD_MAX)
		return HR_EPROTO_INVALID;
	m.u.clipboard.format = MSG_CLIPBOARD_TEXT;
	m.u.clipboard.data.data = (const uint8_t *)text;
	m.u.clipboard.data.len = len;
	return send_msg(s, &m);
}

int session_send_resize_request(struct session *s, uint16_t width, uint16_t height)
{
	struct msg m = {.type = MSG_RESIZE_REQUEST};
	int rc = can_send(s, true);

	if (rc < 0)
		return rc;
	if (!s->info.resizable)
		return -ENOTSUP;
	if (width < 1 || height < 1 || width > MSG_RESIZE_REQUEST_MAX ||
	    height > MSG_RESIZE_REQUEST_MAX)
		return HR_EPROTO_INVALID;
	m.u.resize_request.width = width;
	m.u.resize_request.height = height;
	return send_msg(s, &m);
}

int session_send_mic(struct session *s, uint64_t capture_us, const uint8_t *data, size_t len)
{
	struct msg m = {.type = MSG_MIC};
	int rc = can_send(s, false);

	if (rc < 0)
		return rc;
	if (!(s->caps & MSG_CAP_MIC))
		return -ENOTSUP;
	if (!s->info.mic)
		return -EPERM;
	if (len == 0 || len > OPUS_CODEC_MAX_PACKET)
		return HR_EPROTO_INVALID;
	m.u.audio.capture_us = capture_us;
	m.u.audio.data.data = data;
	m.u.audio.data.len = len;
	rc = send_msg(s, &m);
	if (rc == 0)
		s->info.stats.mic_packets++;
	return rc;
}

int session_send_audio_report(struct session *s, const struct msg_audio_report *r)
{
	struct msg m = {.type = MSG_AUDIO_REPORT};
	int rc = can_send(s, false);

	if (rc < 0)
		return rc;
	if (!s->info.audio)
		return -ENOTSUP;
	if (r->loss > MSG_LOSS_MAX)
		return HR_EPROTO_INVALID;
	m.u.audio_report = *r;
	rc = send_msg(s, &m);
	if (rc == 0)
		s->info.stats.audio_reports++;
	return rc;
}

int session_ack(struct session *s, uint32_t frame, uint64_t display_us)
{
	int rc = can_send(s, false);

	if (rc < 0)
		return rc;
	return send_ack(s, frame, display_us);
}

int session_request_keyframe(struct session *s)
{
	struct msg m = {.type = MSG_KEYFRAME_REQUEST};
	int rc = can_send(s, false);

	if (rc < 0)
		return rc;
	rc = send_msg(s, &m);
	if (rc == 0) {
		s->keyframe_wanted = true;
		s->keyframe_asked_us = mono_us();
		s->info.stats.keyframe_requests++;
	}
	return rc;
}
