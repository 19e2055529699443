/* SPDX-License-Identifier: MIT */
#include "net.h"
#include "netwatch.h"

#include "decoder.h"
#include "error.h"
#include "log.h"

#include <errno.h>
#include <glib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#define RETRY_FIRST_MS	     1000
#define RETRY_MAX_MS	     10000
#define RETRY_UNAVAILABLE_MS 5000
#define CLIPBOARD_WIRE_MAX   1048570u /* docs/protocol.md §3: the agent's client frame limit */

enum cmd_kind {
	CMD_KEY,
	CMD_POINTER,
	CMD_SCROLL,
	CMD_TOUCH,
	CMD_PEN,
	CMD_CLIPBOARD,
	CMD_ACK,
	CMD_RESIZE,
	CMD_BGRA,
	CMD_RETRY,
	CMD_VOLUME,
	CMD_MIC,
	CMD_STOP,
};

struct cmd {
	enum cmd_kind kind;
	uint16_t scancode, x, y;
	uint32_t keysym;
	bool down, on;
	uint8_t buttons;
	int16_t dx, dy;
	uint32_t frame, touch_id;
	uint8_t phase;
	struct msg_pen pen;
	char *text; /* CMD_CLIPBOARD, owned */
	size_t len;
	uint64_t display_us, capture_us;
	int volume;
};

static void cmd_free(void *p)
{
	struct cmd *c = p;
	if (c)
		free(c->text);
	free(c);
}

struct net {
	struct net_cfg cfg;
	pthread_t thread;
	bool thread_started;
	struct event_base *base;
	struct event *wake_ev;	   /* the UI posted commands */
	struct event *retry_ev;	   /* the next connection attempt */
	struct event *stats_ev;	   /* refreshes the statistics snapshot */
	struct netwatch *netwatch; /* the computer's addresses: roaming */
	struct session *session;
	GAsyncQueue *cmds;   /* struct cmd *, UI -> net */
	GAsyncQueue *events; /* struct net_event *, net -> UI */

	pthread_mutex_t lock; /* frame slot, bgra flag and statistics */
	struct ui_frame *slot;
	bool bgra;
	struct net_stats stats;

	/* net thread only */
	struct client_audio *audio; /* while a session plays sound */
	struct client_mic *mic;	    /* with session.offer_mic */
	bool mic_wanted;	    /* the user's switch */
	int volume;
	bool muted;
	int attempt;		      /* retries since the last WELCOME */
	struct session_resume resume; /* the last WELCOME's grant, while the network is down */
	struct session_cfg last_cfg;  /* the last attempt's (the broker's answer is in it) */
	bool have_last_cfg;
	bool was_connected;
	bool stopping;
};

/* ---- frames --------------------------------------------------------------- */

struct ui_frame *ui_frame_ref(struct ui_frame *f)
{
	if (f)
		g_atomic_int_inc(&f->refs);
	return f;
}

void ui_frame_unref(struct ui_frame *f)
{
	if (f && g_atomic_int_dec_and_test(&f->refs)) {
		free(f->bgra);
		free(f);
	}
}

/* One allocation for the header and the three planes, tightly packed. */
static struct ui_frame *frame_copy(const struct decoder_frame *p)
{
	size_t w = (size_t)p->width, h = (size_t)p->height;
	size_t cw = p->chroma444 ? w : (w + 1) / 2, ch = p->chroma444 ? h : (h + 1) / 2;
	struct ui_frame *f;
	uint8_t *at;

	if (p->width <= 0 || p->height <= 0 || p->width > 16384 || p->height > 16384)
		return NULL;
	f = malloc(sizeof(*f) + w * h + 2 * cw * ch);
	if (!f)
		return NULL;
	memset(f, 0, sizeof(*f));
	f->refs = 1;
	f->width = p->width;
	f->height = p->height;
	f->full_range = p->full_range;
	f->bt709 = p->bt709;
	f->chroma444 = p->chroma444;
	at = (uint8_t *)(f + 1);
	for (int i = 0; i < 3; i++) {
		size_t pw = i ? cw : w, ph = i ? ch : h;
		f->plane[i] = at;
		f->stride[i] = (int)pw;
		for (size_t y = 0; y < ph; y++)
			memcpy(at + y * pw, p->plane[i] + y * (size_t)p->stride[i], pw);
		at += pw * ph;
	}
	return f;
}

static bool want_bgra(struct net *n)
{
	bool on;
	pthread_mutex_lock(&n->lock);
	on = n->bgra;
	pthread_mutex_unlock(&n->lock);
	return on;
}

/*
 * The picture p to the UI thread, with sf's numbers (the frame it came
 * in), or none: the last picture again (resend_bgra), frame UINT32_MAX.
 */
static void post_frame(struct net *n, const struct decoder_frame *p, const struct session_frame *sf)
{
	struct ui_frame *f = frame_copy(p), *old;

	if (!f) {
		log_warn("no memory for a %dx%d picture: dropped", p->width, p->height);
		return;
	}
	if (sf) {
		f->number = sf->number;
		f->capture_us = sf->capture_us;
		f->decoded_us = sf->decoded_us;
		f->decode_us = sf->decode_us;
		f->timed = sf->timed;
		memcpy(f->stage_us, sf->stage_us, sizeof(f->stage_us));
		f->network_us = sf->network_us;
	} else {
		f->number = UINT32_MAX;
		f->decoded_us = session_realtime_us();
	}
	if (want_bgra(n) && n->session) {
		f->bgra = malloc((size_t)f->width * (size_t)f->height * 4);
		if (!f->bgra || decoder_to_rgb(session_decoder(n->session), p, DECODER_BGRA,
					       f->bgra, f->width * 4) < 0) {
			log_warn("cannot convert a %dx%d picture to BGRA: dropped", f->width,
				 f->height);
			ui_frame_unref(f);
			return;
		}
	}
	pthread_mutex_lock(&n->lock);
	old = n->slot;
	n->slot = f;
	pthread_mutex_unlock(&n->lock);
	ui_frame_unref(old); /* the UI did not take it in time: only the newest matters */
	n->cfg.wake(n->cfg.userdata);
}

struct ui_frame *net_take_frame(struct net *n)
{
	struct ui_frame *f;
	pthread_mutex_lock(&n->lock);
	f = n->slot;
	n->slot = NULL;
	pthread_mutex_unlock(&n->lock);
	return f;
}

/* ---- events --------------------------------------------------------------- */

void net_event_free(struct net_event *ev)
{
	if (!ev)
		return;
	free(ev->pixels);
	free(ev->clip);
	free(ev);
}

struct net_event *net_pop_event(struct net *n)
{
	return g_async_queue_try_pop(n->events);
}

static struct net_event *event_new_kind(enum net_event_kind kind)
{
	struct net_event *ev = calloc(1, sizeof(*ev));
	if (ev) {
		ev->kind = kind;
		ev->bye_reason = -1;
		ev->retry_ms = -1;
	}
	return ev;
}

static void post_event(struct net *n, struct net_event *ev)
{
	if (!ev)
		return;
	g_async_queue_push(n->events, ev);
	n->cfg.wake(n->cfg.userdata);
}

/* ---- retry policy --------------------------------------------------------- */

bool net_is_trust_failure(const char *reason)
{
	return reason && (strstr(reason, "certificate") || strstr(reason, "pinned") ||
			  strstr(reason, "TLS 1.3"));
}

int net_retry_delay_ms(enum session_end end, int bye_reason, bool trust_failure, int attempt,
		       bool retry_always)
{
	int delay = RETRY_FIRST_MS;
	bool retry;

	if (attempt < 1)
		attempt = 1;
	switch (end) {
	case SESSION_END_NONE:
	case SESSION_END_LOCAL:
		return -1; /* someone asked for it */
	case SESSION_END_NETWORK:
		retry = !trust_failure;
		break;
	case SESSION_END_REFUSED:
	case SESSION_END_BYE:
		if (bye_reason == MSG_BYE_DESKTOP_UNAVAILABLE)
			return RETRY_UNAVAILABLE_MS;
		retry = bye_reason == MSG_BYE_SHUTDOWN;
		break;
	case SESSION_END_PROTOCOL:
	default:
		retry = false;
		break;
	}
	if (!retry && !retry_always)
		return -1;
	for (int i = 1; i < attempt && delay < RETRY_MAX_MS; i++)
		delay *= 2;
	return delay > RETRY_MAX_MS ? RETRY_MAX_MS : delay;
}

/* ---- the session ------------------------------------------------------------ */

static void connect_session(struct net *n);

/* The microphone is live when the user wants it and the desktop takes it. */
static void mic_update(struct net *n)
{
	bool allowed = n->session && session_info(n->session)->state == SESSION_CONNECTED &&
		       session_info(n->session)->mic;
	if (!n->mic || client_mic_is_on(n->mic) == (n->mic_wanted && allowed))
		return;
	if (client_mic_set_on(n->mic, n->mic_wanted && allowed) < 0)
		log_warn("microphone: cannot record %s (see above)",
			 n->cfg.mic_source ? n->cfg.mic_source : "the default source");
}

static void sound_start(struct net *n, const struct session_info *in)
{
	if (in->audio && !n->audio) {
		n->audio = client_audio_new(&(struct client_audio_cfg){
			.sink = n->cfg.audio_sink,
			.volume = n->volume > 0 ? n->volume : 1,
		});
		if (n->audio) {
			client_audio_set_volume(n->audio, n->volume);
			client_audio_set_mute(n->audio, n->muted);
		} else {
			log_warn("sound: cannot play the desktop's sound (see above)");
		}
	}
	mic_update(n);
}

static void sound_stop(struct net *n)
{
	client_audio_free(n->audio);
	n->audio = NULL;
	mic_update(n);
}

static void on_audio(struct session *s, const struct msg_audio *a, uint64_t arrival_us, void *ud)
{
	struct net *n = ud;
	(void)s;
	if (n->audio)
		client_audio_push(n->audio, (int64_t)a->capture_us, (int64_t)arrival_us,
				  a->data.data, a->data.len);
}

static bool on_audio_report(struct session *s, struct msg_audio_report *r, void *ud)
{
	struct net *n = ud;
	(void)s;
	return n->audio && client_audio_report(n->audio, r);
}

static int on_mic_packet(int64_t capture_us, const uint8_t *data, size_t len, void *ud)
{
	struct net *n = ud;
	if (!n->session)
		return -ENOTCONN;
	return session_send_mic(n->session, (uint64_t)capture_us, data, len);
}

static void on_state(struct session *s, enum session_state state, const char *text, void *ud)
{
	struct net *n = ud;
	const struct session_info *in = session_info(s);
	struct net_event *ev;

	if (state != SESSION_CLOSED) {
		ev = event_new_kind(NET_EV_STATE);
		if (!ev)
			return;
		ev->state = state;
		ev->control = in->control;
		ev->resizable = in->resizable;
		ev->audio = in->audio;
		ev->mic = in->mic;
		ev->width = in->width;
		ev->height = in->height;
		snprintf(ev->text, sizeof(ev->text), "%s", text);
		if (state == SESSION_CONNECTED) {
			n->attempt = 0;
			n->was_connected = true;
			sound_start(n, in);
		}
		post_event(n, ev);
		return;
	}
	ev = event_new_kind(NET_EV_CLOSED);
	if (!ev)
		return;
	ev->state = state;
	ev->closed_in = in->closed_in;
	ev->end = in->end;
	ev->bye_reason = in->bye_reason;
	ev->was_connected = n->was_connected;
	snprintf(ev->peer_pin, sizeof(ev->peer_pin), "%s", in->peer_pin);
	snprintf(ev->text, sizeof(ev->text), "%s", text);
	session_resume_note(&n->resume, in);
	if (!n->stopping) {
		n->attempt++;
		ev->attempt = n->attempt;
		ev->retry_ms = net_retry_delay_ms(in->end, in->bye_reason,
						  net_is_trust_failure(in->reason), n->attempt,
						  n->cfg.retry_always);
		/* a used or expired resume grant: straight back through the broker */
		if (in->bye_reason == MSG_BYE_RESUME_REFUSED && n->cfg.prepare)
			ev->retry_ms = 0;
		/* while the agent keeps the session: short tries, often (session.h) */
		if (ev->retry_ms > 0 && n->resume.valid)
			ev->retry_ms = SESSION_RESUME_RETRY_MS;
	}
	session_free(n->session); /* allowed inside its own callback */
	n->session = NULL;
	sound_stop(n);
	if (ev->retry_ms >= 0) {
		struct timeval tv = {ev->retry_ms / 1000, (ev->retry_ms % 1000) * 1000};
		evtimer_add(n->retry_ev, &tv);
	}
	post_event(n, ev);
}

static void on_frame(struct session *s, const struct session_frame *f, void *ud)
{
	(void)s;
	post_frame(ud, f->picture, f);
}

static void on_resize(struct session *s, int width, int height, void *ud)
{
	struct net_event *ev = event_new_kind(NET_EV_RESIZE);
	(void)s;
	if (!ev)
		return;
	ev->width = width;
	ev->height = height;
	post_event(ud, ev);
}

static void on_cursor(struct session *s, const struct msg_cursor *c, void *ud)
{
	struct net_event *ev = event_new_kind(NET_EV_CURSOR);
	size_t len = (size_t)c->width * c->height * 4;
	(void)s;

	if (!ev)
		return;
	/* msg_decode bounded the size (512 x 512) and checked the byte count */
	if (len != c->pixels.len || c->width > MSG_CURSOR_MAX || c->height > MSG_CURSOR_MAX) {
		net_event_free(ev);
		return;
	}
	if (len) {
		ev->pixels = malloc(len);
		if (!ev->pixels) {
			net_event_free(ev);
			return;
		}
		memcpy(ev->pixels, c->pixels.data, len);
	}
	ev->width = c->width;
	ev->height = c->height;
	ev->hot_x = c->hot_x;
	ev->hot_y = c->hot_y;
	post_event(ud, ev);
}

static void on_cursor_pos(struct session *s, const struct msg_cursor_pos *p, void *ud)
{
	struct net_event *ev = event_new_kind(NET_EV_CURSOR_POS);
	(void)s;
	if (!ev)
		return;
	ev->x = p->x;
	ev->y = p->y;
	ev->visible = p->visible & 1;
	post_event(ud, ev);
}

static void on_status(struct session *s, uint16_t code, const char *text, void *ud)
{
	struct net_event *ev = event_new_kind(NET_EV_STATUS);
	(void)s;
	if (!ev)
		return;
	ev->code = code;
	snprintf(ev->text, sizeof(ev->text), "%s", text);
	post_event(ud, ev);
}

static void on_clipboard(struct session *s, const char *text, size_t len, void *ud)
{
	struct net *n = ud;
	struct net_event *ev;
	(void)s;

	if (!n->cfg.clipboard_max)
		return;
	if (len > n->cfg.clipboard_max) {
		log_info("clipboard: %zu bytes from the desktop are over the limit of %zu "
			 "(--clipboard-max): not copied",
			 len, n->cfg.clipboard_max);
		return;
	}
	ev = event_new_kind(NET_EV_CLIPBOARD);
	if (!ev)
		return;
	ev->clip = malloc(len + 1);
	if (!ev->clip) {
		net_event_free(ev);
		return;
	}
	memcpy(ev->clip, text, len); /* session.h: checked text, no NUL inside */
	ev->clip[len] = '\0';
	ev->clip_len = len;
	post_event(n, ev);
}

static const struct session_cbs session_callbacks = {
	.on_state = on_state,
	.on_frame = on_frame,
	.on_resize = on_resize,
	.on_cursor = on_cursor,
	.on_cursor_pos = on_cursor_pos,
	.on_status = on_status,
	.on_clipboard = on_clipboard,
	.on_audio = on_audio,
	.on_audio_report = on_audio_report,
};

/*
 * Broker mode: a fresh ticket for this attempt. True when it failed (the
 * event is posted and the retry scheduled here).
 */
static bool prepare_failed(struct net *n, struct session_cfg *cfg)
{
	struct net_event *ev = event_new_kind(NET_EV_STATE);
	int retry_ms = -1, bye = -1, rc;
	char text[sizeof(ev->text)] = "";

	if (ev) {
		ev->state = SESSION_CONNECTING;
		snprintf(ev->text, sizeof(ev->text), "asking the broker for your desktop");
		post_event(n, ev);
	}
	rc = n->cfg.prepare(n->cfg.prepare_ud, cfg, text, sizeof(text), &retry_ms, &bye);
	if (rc == 0)
		return false;
	ev = event_new_kind(NET_EV_CLOSED);
	if (!ev)
		return true;
	ev->state = SESSION_CLOSED;
	ev->closed_in = SESSION_CONNECTING;
	ev->end = retry_ms < 0 ? SESSION_END_PROTOCOL : SESSION_END_NETWORK;
	ev->bye_reason = bye;
	ev->was_connected = n->was_connected;
	snprintf(ev->text, sizeof(ev->text), "%s", text);
	n->attempt++;
	ev->attempt = n->attempt;
	if (retry_ms < 0 && n->cfg.retry_always)
		retry_ms = net_retry_delay_ms(SESSION_END_NETWORK, -1, false, n->attempt, true);
	ev->retry_ms = retry_ms;
	if (retry_ms >= 0) {
		struct timeval tv = {retry_ms / 1000, (retry_ms % 1000) * 1000};
		evtimer_add(n->retry_ev, &tv);
	}
	post_event(n, ev);
	return true;
}

static void connect_session(struct net *n)
{
	struct session_cfg cfg = n->cfg.session;
	struct net_event *ev;

	evtimer_del(n->retry_ev);
	if (n->session || n->stopping)
		return;
	cfg.manual_ack = true;
	/* back into the same session without the broker while the grant lasts (§6.4) */
	const uint8_t *grant = session_resume_use(&n->resume);
	if (grant && n->have_last_cfg) {
		cfg = n->last_cfg; /* the same agent the broker sent us to */
	} else if (!grant && n->cfg.prepare && prepare_failed(n, &cfg)) {
		return;
	}
	cfg.resume = grant;
	if (grant && (!cfg.timeout_ms || cfg.timeout_ms > SESSION_RESUME_TIMEOUT_MS))
		cfg.timeout_ms = SESSION_RESUME_TIMEOUT_MS;
	n->last_cfg = cfg;
	n->have_last_cfg = true;
	n->session = session_new(n->base, &cfg, &session_callbacks, n);
	if (n->session) {
		ev = event_new_kind(NET_EV_STATE);
		if (ev) {
			ev->state = SESSION_CONNECTING;
			snprintf(ev->text, sizeof(ev->text), "%s %s:%u",
				 cfg.resume ? "resuming the session at" : "connecting to", cfg.host,
				 cfg.port);
			post_event(n, ev);
		}
		return;
	}
	/* a bad configuration: the ticket, CA or certificate file (logged) */
	ev = event_new_kind(NET_EV_CLOSED);
	if (!ev)
		return;
	ev->state = SESSION_CLOSED;
	ev->closed_in = SESSION_CONNECTING;
	ev->end = SESSION_END_PROTOCOL;
	snprintf(ev->text, sizeof(ev->text),
		 "cannot start a connection: the ticket file, the CA file or the pin is missing "
		 "or unreadable (see the log)");
	n->attempt++;
	ev->attempt = n->attempt;
	if (n->cfg.retry_always) {
		struct timeval tv;
		ev->retry_ms = net_retry_delay_ms(SESSION_END_NETWORK, -1, false, n->attempt, true);
		tv.tv_sec = ev->retry_ms / 1000;
		tv.tv_usec = (ev->retry_ms % 1000) * 1000;
		evtimer_add(n->retry_ev, &tv);
	}
	post_event(n, ev);
}

/* An address came or went (roaming): a session whose own address went ends and resumes. */
static void net_changed(void *ud)
{
	struct net *n = ud;

	if (session_network_changed(n->session))
		return;
	/* between tries: a new address may be the way back, so try it now */
	if (!n->session && n->resume.valid && evtimer_pending(n->retry_ev, NULL))
		event_active(n->retry_ev, EV_TIMEOUT, 0);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	connect_session(arg);
}

static void resend_bgra(struct net *n)
{
	struct decoder_frame p;
	if (n->session && decoder_last_frame(session_decoder(n->session), &p) == 0)
		post_frame(n, &p, NULL);
}

static void run_cmd(struct net *n, const struct cmd *c)
{
	struct session *s = n->session;
	bool open = s && session_info(s)->state == SESSION_CONNECTED;

	switch (c->kind) {
	case CMD_KEY:
		if (open)
			session_send_key(s, c->scancode, c->keysym, c->down);
		break;
	case CMD_POINTER:
		if (open)
			session_send_pointer(s, c->x, c->y, c->buttons);
		break;
	case CMD_SCROLL:
		if (open)
			session_send_scroll(s, c->dx, c->dy);
		break;
	case CMD_TOUCH:
		if (open)
			session_send_touch(s, c->touch_id, (enum msg_touch_phase)c->phase, c->x,
					   c->y);
		break;
	case CMD_PEN:
		if (open)
			session_send_pen(s, &c->pen);
		break;
	case CMD_CLIPBOARD:
		if (open && session_info(s)->clipboard) {
			int rc = session_send_clipboard(s, c->text, c->len);
			if (rc < 0)
				log_warn("clipboard: %zu bytes not sent: %s", c->len,
					 hr_strerror(rc));
			else
				log_info("clipboard: sent %zu bytes to the desktop", c->len);
		} else if (open) {
			log_debug("clipboard: the agent did not turn the clipboard on: not sent");
		}
		break;
	case CMD_ACK:
		if (open && c->frame != UINT32_MAX)
			session_ack(s, c->frame, c->display_us);
		if (n->audio && c->capture_us)
			client_audio_video_shown(n->audio, (int64_t)c->capture_us,
						 (int64_t)c->display_us);
		break;
	case CMD_VOLUME:
		n->volume = c->volume;
		n->muted = c->on;
		if (n->audio) {
			client_audio_set_volume(n->audio, n->volume);
			client_audio_set_mute(n->audio, n->muted);
		}
		log_info("sound: volume %d %%%s", n->volume, n->muted ? ", muted" : "");
		break;
	case CMD_MIC:
		n->mic_wanted = c->on;
		mic_update(n);
		break;
	case CMD_RESIZE:
		if (open) {
			int rc = session_send_resize_request(s, c->x, c->y);
			if (rc < 0)
				log_info("resize request %ux%u not sent: %s", c->x, c->y,
					 hr_strerror(rc));
		}
		break;
	case CMD_BGRA:
		pthread_mutex_lock(&n->lock);
		n->bgra = c->on;
		pthread_mutex_unlock(&n->lock);
		if (c->on)
			resend_bgra(n);
		break;
	case CMD_RETRY:
		n->attempt = 0;
		if (!n->session)
			connect_session(n);
		break;
	case CMD_STOP:
		n->stopping = true;
		evtimer_del(n->retry_ev);
		event_del(n->stats_ev); /* or the final dispatch would never run out of events */
		if (n->session) {
			session_free(n->session); /* says BYE; flushed while the loop runs */
			n->session = NULL;
		}
		sound_stop(n);
		/* its socket is a persistent event: the final dispatch would never run out */
		netwatch_free(n->netwatch);
		n->netwatch = NULL;
		client_mic_free(n->mic); /* on this loop's thread, as it must be */
		n->mic = NULL;
		/* thread_main lets the BYE flush (session.h: at most a second) */
		event_base_loopbreak(n->base);
		break;
	}
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net *n = arg;
	struct cmd *c;
	(void)fd;
	(void)what;

	while ((c = g_async_queue_try_pop(n->cmds))) {
		if (!n->stopping || c->kind == CMD_STOP)
			run_cmd(n, c);
		cmd_free(c);
	}
}

/* Net thread: the session's counters copied where the UI can read them. */
static void stats_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net *n = arg;
	struct net_stats st = {.rtt_us = -1};
	(void)fd;
	(void)what;

	if (n->session) {
		const struct session_info *in = session_info(n->session);
		const struct decoder *d = session_decoder(n->session);

		st.connected = in->state == SESSION_CONNECTED;
		st.bytes_received = in->stats.bytes_received;
		st.frames_decoded = in->stats.frames_decoded;
		st.rtt_us = in->stats.rtt_us;
		snprintf(st.decoder, sizeof(st.decoder), "%s", decoder_describe(d));
		snprintf(st.decoder_fallback, sizeof(st.decoder_fallback), "%s",
			 decoder_fallback_reason(d));
		st.mic_allowed = in->mic;
		st.mic_packets = in->stats.mic_packets;
	}
	if (n->audio) {
		st.audio = true;
		client_audio_stats(n->audio, &st.audio_st);
	}
	st.mic_live = client_mic_is_on(n->mic);
	pthread_mutex_lock(&n->lock);
	n->stats = st;
	pthread_mutex_unlock(&n->lock);
}

void net_get_stats(struct net *n, struct net_stats *out)
{
	pthread_mutex_lock(&n->lock);
	*out = n->stats;
	pthread_mutex_unlock(&n->lock);
}

static void *thread_main(void *arg)
{
	struct net *n = arg;

	pthread_setname_np(pthread_self(), "hr-net");
	if (n->cfg.session.offer_mic) {
		n->mic = client_mic_new(n->base, &(struct client_mic_cfg){
							 .source = n->cfg.mic_source,
							 .on_packet = on_mic_packet,
							 .userdata = n,
						 });
		if (!n->mic)
			log_warn("microphone: off (see above)");
	}
	connect_session(n);
	/* the wake-up event is never added: keep running between sessions */
	event_base_loop(n->base, EVLOOP_NO_EXIT_ON_EMPTY);
	/* stopped: a freed session still flushes its BYE; the loop ends when it is done */
	event_base_dispatch(n->base);
	return NULL;
}

static void push_cmd(struct net *n, const struct cmd *c)
{
	struct cmd *copy = malloc(sizeof(*copy));
	if (!copy) {
		free(c->text); /* ownership came with the command */
		return;
	}
	*copy = *c;
	g_async_queue_push(n->cmds, copy);
	event_active(n->wake_ev, EV_READ, 0); /* thread-safe: evthread_use_pthreads */
}

/* ---- public ----------------------------------------------------------------- */

struct net *net_new(const struct net_cfg *cfg)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct net *n;

	if (!cfg || !cfg->wake) {
		log_error("net_new: no wake-up function");
		return NULL;
	}
	pthread_once(&once, (void (*)(void))evthread_use_pthreads);
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->cfg = *cfg;
	n->bgra = cfg->want_bgra;
	n->volume = cfg->volume > 0 && cfg->volume <= 100 ? cfg->volume : 100;
	n->mic_wanted = cfg->mic_on;
	pthread_mutex_init(&n->lock, NULL);
	n->cmds = g_async_queue_new_full(cmd_free);
	n->events = g_async_queue_new_full((GDestroyNotify)net_event_free);
	n->base = event_base_new();
	if (!n->base) {
		log_error("cannot create the network event loop");
		goto fail;
	}
	n->wake_ev = event_new(n->base, -1, EV_PERSIST, wake_cb, n);
	n->retry_ev = evtimer_new(n->base, retry_cb, n);
	n->stats_ev = event_new(n->base, -1, EV_PERSIST, stats_cb, n);
	n->stats.rtt_us = -1;
	if (!n->wake_ev || !n->retry_ev || !n->stats_ev)
		goto fail;
	n->netwatch = netwatch_new(n->base, net_changed, n); /* NULL: liveness notices, later */
	{
		struct timeval half = {0, 500000};
		event_add(n->stats_ev, &half);
	}
	if (pthread_create(&n->thread, NULL, thread_main, n) != 0) {
		log_error("cannot start the network thread");
		goto fail;
	}
	n->thread_started = true;
	return n;
fail:
	net_free(n);
	return NULL;
}

void net_free(struct net *n)
{
	if (!n)
		return;
	if (n->thread_started) {
		struct cmd c = {.kind = CMD_STOP};
		push_cmd(n, &c);
		pthread_join(n->thread, NULL);
	}
	if (n->wake_ev)
		event_free(n->wake_ev);
	if (n->retry_ev)
		event_free(n->retry_ev);
	if (n->stats_ev)
		event_free(n->stats_ev);
	netwatch_free(n->netwatch);
	if (n->base)
		event_base_free(n->base);
	ui_frame_unref(n->slot);
	g_async_queue_unref(n->cmds);
	g_async_queue_unref(n->events);
	pthread_mutex_destroy(&n->lock);
	session_resume_clear(&n->resume);
	free(n);
}

void net_send_key(struct net *n, uint16_t scancode, uint32_t keysym, bool down)
{
	struct cmd c = {.kind = CMD_KEY, .scancode = scancode, .keysym = keysym, .down = down};
	push_cmd(n, &c);
}

void net_send_pointer(struct net *n, uint16_t x, uint16_t y, uint8_t buttons)
{
	struct cmd c = {.kind = CMD_POINTER, .x = x, .y = y, .buttons = buttons};
	push_cmd(n, &c);
}

void net_send_scroll(struct net *n, int16_t dx, int16_t dy)
{
	struct cmd c = {.kind = CMD_SCROLL, .dx = dx, .dy = dy};
	push_cmd(n, &c);
}

void net_send_touch(struct net *n, uint32_t id, enum msg_touch_phase phase, uint16_t x, uint16_t y)
{
	struct cmd c = {.kind = CMD_TOUCH, .touch_id = id, .phase = (uint8_t)phase, .x = x, .y = y};
	push_cmd(n, &c);
}

void net_send_pen(struct net *n, const struct msg_pen *pen)
{
	struct cmd c = {.kind = CMD_PEN, .pen = *pen};
	push_cmd(n, &c);
}

void net_send_clipboard(struct net *n, const char *text, size_t len)
{
	struct cmd c = {.kind = CMD_CLIPBOARD, .len = len};

	if (len > CLIPBOARD_WIRE_MAX || memchr(text, '\0', len)) {
		log_warn("clipboard: %zu bytes the protocol cannot carry (at most %u bytes of text "
			 "without NUL): not sent",
			 len, CLIPBOARD_WIRE_MAX);
		return;
	}
	c.text = malloc(len ? len : 1);
	if (!c.text)
		return;
	memcpy(c.text, text, len);
	push_cmd(n, &c);
}

void net_ack(struct net *n, uint32_t frame, uint64_t capture_us, uint64_t display_us)
{
	struct cmd c = {.kind = CMD_ACK,
			.frame = frame,
			.capture_us = capture_us,
			.display_us = display_us};
	push_cmd(n, &c);
}

void net_send_resize_request(struct net *n, int width, int height)
{
	struct cmd c = {.kind = CMD_RESIZE};

	if (width < 1 || height < 1 || width > (int)MSG_RESIZE_REQUEST_MAX ||
	    height > (int)MSG_RESIZE_REQUEST_MAX)
		return;
	c.x = (uint16_t)width;
	c.y = (uint16_t)height;
	push_cmd(n, &c);
}

void net_set_bgra(struct net *n, bool on)
{
	struct cmd c = {.kind = CMD_BGRA, .on = on};
	push_cmd(n, &c);
}

void net_retry_now(struct net *n)
{
	struct cmd c = {.kind = CMD_RETRY};
	push_cmd(n, &c);
}

void net_set_volume(struct net *n, int percent, bool muted)
{
	struct cmd c = {.kind = CMD_VOLUME,
			.volume = percent < 0	  ? 0
				  : percent > 100 ? 100
						  : percent,
			.on = muted};
	push_cmd(n, &c);
}

void net_set_mic(struct net *n, bool on)
{
	struct cmd c = {.kind = CMD_MIC, .on = on};
	push_cmd(n, &c);
}
