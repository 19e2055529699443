/* SPDX-License-Identifier: MIT */
/*
 * client/: the session against an in-test fake agent on loopback (TLS 1.3
 * with certificates from certs/highrise-certs, framing by proto/conn, H.264
 * from the real encoder): HELLO carries the ticket, WELCOME starts the
 * stream, a stream that starts without a key frame gets KEYFRAME_REQUEST,
 * decoded pictures match the source (PSNR), ACKs carry the right frame
 * numbers, input arrives as the right messages, PING gets PONG, cursor and
 * clipboard reach the callbacks, RESIZE crops (also when the SPS disagrees),
 * BYE reasons reach the state callback as sentences, and hostile input
 * (VIDEO before WELCOME, RESIZE 0x0, a 4 GB length, garbage H.264) ends the
 * session or is survived. Then the decoder, keymap, stats and png modules
 * alone, and highrise-probe itself: JSON, PNG, scripted input, exit codes.
 */
#include "check.h"

#include "decoder.h"
#include "encoder.h"
#include "error.h"
#include "keymap.h"
#include "log.h"
#include "msg.h"
#include "png.h"
#include "session.h"
#include "stats.h"
#include "conn.h"
#include "ticket.h"
#include "tls.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/input-event-codes.h>
#include <math.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpng16/png.h>

static struct event_base *base;
static char tmp[512];
static const char *src_dir, *bin_dir;

static const char *path_in(const char *name)
{
	static char bufs[8][600];
	static int next;
	char *b = bufs[next++ % 8];
	snprintf(b, sizeof(bufs[0]), "%s/%s", tmp, name);
	return b;
}

/* ---- the loop ------------------------------------------------------------ */

static void run_once(void)
{
	struct timeval tv = {0, 5000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Runs the loop until cond holds or 10 s pass. */
#define RUN_UNTIL(cond)                                                                        \
	do {                                                                                   \
		struct timespec t0_, t_;                                                       \
		clock_gettime(CLOCK_MONOTONIC, &t0_);                                          \
		for (;;) {                                                                     \
			if (cond)                                                              \
				break;                                                         \
			clock_gettime(CLOCK_MONOTONIC, &t_);                                   \
			if (t_.tv_sec - t0_.tv_sec > 10) {                                     \
				fprintf(stderr, "%s:%d: timed out waiting for %s\n", __FILE__, \
					__LINE__, #cond);                                      \
				break;                                                         \
			}                                                                      \
			run_once();                                                            \
		}                                                                              \
	} while (0)

/* ---- synthetic desktops and their H.264 --------------------------------- */

struct scene {
	int w, h;
	uint8_t *bgra; /* w * h * 4 */
	uint8_t *y;    /* BT.601 limited-range luma, w * h */
};

struct packet {
	uint8_t *data;
	size_t size;
	bool key;
	const struct scene *scene;
};

#define SCENES 8
static struct scene scenes_a[SCENES], scenes_b[3];
static struct packet stream_a[SCENES], stream_b[3];

/* Smooth gradients, flat rectangles and a square that moves with n: a desktop-ish picture. */
static void draw(struct scene *sc, int w, int h, int n)
{
	sc->w = w;
	sc->h = h;
	sc->bgra = malloc((size_t)w * h * 4);
	sc->y = malloc((size_t)w * h);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint8_t *p = sc->bgra + ((size_t)y * w + x) * 4;
			int r = x * 255 / w, g = y * 255 / h, b = 128;

			if (x >= w / 2 && x < w / 2 + w / 5 && y >= h / 6 && y < h / 3) {
				r = 30;
				g = 90;
				b = 200; /* a window title bar */
			}
			if (x >= 20 + n * 24 && x < 60 + n * 24 && y >= h / 2 && y < h / 2 + 40)
				r = g = b = 250; /* the moving square */
			p[0] = (uint8_t)b;
			p[1] = (uint8_t)g;
			p[2] = (uint8_t)r;
			p[3] = 255;
			sc->y[(size_t)y * w + x] =
				(uint8_t)(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16);
		}
}

/* Encodes scenes[0..n) with libx264: key frames where asked. */
static void encode_stream(struct scene *sc, struct packet *out, int n, int w, int h,
			  const bool *key)
{
	struct encoder_cfg cfg = {.width = w, .height = h, .refine_after_ms = -1};
	struct encoder *enc = encoder_new(&cfg);
	struct rect full = {0, 0, w, h};

	CHECK(enc != NULL);
	if (!enc)
		return;
	for (int i = 0; i < n; i++) {
		struct encoder_packet pkt;

		draw(&sc[i], w, h, i);
		if (key[i] && i > 0)
			encoder_request_keyframe(enc);
		CHECK_INT_EQ(encoder_submit(enc, sc[i].bgra, w * 4, &full, 1, (uint64_t)i),
			     ENCODER_OK);
		CHECK_INT_EQ(encoder_receive(enc, &pkt), ENCODER_OK);
		out[i].data = pkt.data; /* ours now */
		out[i].size = pkt.size;
		out[i].key = pkt.keyframe;
		out[i].scene = &sc[i];
		CHECK_INT_EQ(pkt.keyframe, key[i]);
	}
	encoder_free(enc);
}

static void free_scenes(void)
{
	for (int i = 0; i < SCENES; i++) {
		free(scenes_a[i].bgra);
		free(scenes_a[i].y);
		free(stream_a[i].data);
	}
	for (int i = 0; i < 3; i++) {
		free(scenes_b[i].bgra);
		free(scenes_b[i].y);
		free(stream_b[i].data);
	}
}

static double psnr_y(const struct decoder_frame *f, const struct scene *sc)
{
	double sse = 0;

	for (int y = 0; y < f->height; y++)
		for (int x = 0; x < f->width; x++) {
			int d = f->plane[0][(size_t)y * f->stride[0] + x] -
				sc->y[(size_t)y * sc->w + x];
			sse += d * d;
		}
	return sse == 0 ? 99.0 : 10 * log10(255.0 * 255.0 * f->width * f->height / sse);
}

/* PSNR of RGB24 pixels against the scene's BGRA, over w x h. */
static double psnr_rgb(const uint8_t *rgb, int stride, const struct scene *sc, int w, int h)
{
	double sse = 0;

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < 3; c++) {
				int d = rgb[(size_t)y * stride + x * 3 + c] -
					sc->bgra[((size_t)y * sc->w + x) * 4 + (2 - c)];
				sse += d * d;
			}
	return sse == 0 ? 99.0 : 10 * log10(255.0 * 255.0 * 3 * w * h / sse);
}

/* ---- the fake agent ------------------------------------------------------ */

enum scenario {
	SC_STREAM,	   /* WELCOME, a P frame first; the stream after KEYFRAME_REQUEST */
	SC_BYE_EXPIRED,	   /* BYE TICKET_EXPIRED in answer to HELLO */
	SC_VIDEO_FIRST,	   /* VIDEO before WELCOME */
	SC_RESIZE_ZERO,	   /* WELCOME, then the raw bytes of a RESIZE to 0x0 */
	SC_HUGE_CLIPBOARD, /* WELCOME, then a CLIPBOARD header claiming 4 GB */
	SC_VIEW_ONLY,	   /* WELCOME without control, then a key frame */
	SC_SILENT,	   /* TLS, then nothing */
	SC_PACED,	   /* WELCOME, then stream A every 20 ms (for highrise-probe) */
	SC_AUDIO_FIRST,	   /* AUDIO before WELCOME */
	SC_AUDIO,	   /* WELCOME with AUDIO (and MIC when asked), then 3 AUDIO packets */
};

#define DESK_W 637 /* odd: the encoder pads to 638x360 and the client crops */
#define DESK_H 359

struct agent {
	struct evconnlistener *listener;
	struct tls_ctx *tls, *tls_mtls;
	bool require_client_cert;
	struct conn *conn;
	uint16_t port;
	enum scenario sc;
	struct event *pacer;
	int paced;

	int accepted, hellos;
	uint8_t ticket[MSG_TICKET_MAX];
	size_t ticket_len;
	char client_name[MSG_NAME_MAX + 1];
	uint32_t caps;
	uint16_t max_w, max_h;
	int keyframe_requests;
	uint32_t acks[256];
	int nacks;
	uint64_t last_ack_display_us;
	struct msg_key keys[256];
	int nkeys;
	struct msg_pointer pointers[64];
	int npointers;
	struct msg_scroll scroll;
	int nscrolls;
	char clipboard[64];
	size_t clipboard_len;
	int nclipboards;
	struct msg_touch touch;
	int ntouches;
	struct msg_pen pen;
	int npens;
	uint64_t pong_id;
	int npongs;
	int byes;
	uint16_t bye_reason;
	int closes;
	char close_reason[512];
	int mics;
	uint64_t mic_capture_us;
	int reports;
	struct msg_audio_report report;

	uint32_t next_frame;
	const struct packet *sent[256]; /* by wire frame number */
	bool streamed;
};

static struct agent agent;

static void agent_send(const struct msg *m)
{
	if (agent.conn)
		CHECK_INT_EQ(conn_send(agent.conn, m), 0);
}

static void agent_send_raw(const void *bytes, size_t n)
{
	if (agent.conn)
		bufferevent_write(conn_bufferevent(agent.conn), bytes, n);
}

static uint64_t now_us(void)
{
	return session_realtime_us();
}

static void agent_video(const struct packet *p)
{
	struct msg m = {.type = MSG_VIDEO};

	m.u.video.frame = agent.next_frame;
	m.u.video.capture_us = now_us();
	m.u.video.flags = p->key ? MSG_VIDEO_KEYFRAME : 0;
	m.u.video.data.data = p->data;
	m.u.video.data.len = p->size;
	if (agent.next_frame < 256)
		agent.sent[agent.next_frame] = p;
	agent.next_frame++;
	agent_send(&m);
}

static void agent_video_bytes(const uint8_t *data, size_t len)
{
	struct msg m = {.type = MSG_VIDEO};
	m.u.video.frame = agent.next_frame++;
	m.u.video.capture_us = now_us();
	m.u.video.data.data = data;
	m.u.video.data.len = len;
	agent_send(&m);
}

static void agent_welcome(bool control, int w, int h)
{
	struct msg m = {.type = MSG_WELCOME};

	m.u.welcome.version = MSG_PROTOCOL_VERSION;
	m.u.welcome.flags = (control ? MSG_WELCOME_CONTROL : 0) | MSG_WELCOME_CLIPBOARD;
	m.u.welcome.width = (uint16_t)w;
	m.u.welcome.height = (uint16_t)h;
	m.u.welcome.codec = MSG_CODEC_H264;
	m.u.welcome.session.data = (const uint8_t *)"s-42";
	m.u.welcome.session.len = 4;
	agent_send(&m);
}

static void agent_audio(uint64_t capture_us)
{
	static const uint8_t pkt[] = {0xfc, 0xff, 0xfe}; /* CELT 20 ms stereo silence */
	struct msg m = {.type = MSG_AUDIO};
	m.u.audio.capture_us = capture_us;
	m.u.audio.data.data = pkt;
	m.u.audio.data.len = sizeof(pkt);
	agent_send(&m);
}

static void pacer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = {0, 20000};
	(void)fd;
	(void)what;
	(void)arg;
	if (!agent.conn || agent.paced >= SCENES - 1)
		return; /* stream_a[7] is a second key frame: not needed here */
	agent_video(&stream_a[agent.paced++]);
	evtimer_add(agent.pacer, &tv);
}

static void on_hello(const struct msg_hello *h)
{
	static const uint8_t resize_zero[] = {0, 0, 0, 5, MSG_RESIZE, 0, 0, 0, 0};
	static const uint8_t huge_clipboard[] = {0xff, 0xff, 0xff, 0xff, MSG_CLIPBOARD, 1};
	struct timeval tv = {0, 1000};

	agent.hellos++;
	memcpy(agent.ticket, h->ticket.data, h->ticket.len);
	agent.ticket_len = h->ticket.len;
	memcpy(agent.client_name, h->client_name.data, h->client_name.len);
	agent.client_name[h->client_name.len] = '\0';
	agent.caps = h->caps;
	agent.max_w = h->max_width;
	agent.max_h = h->max_height;
	switch (agent.sc) {
	case SC_STREAM:
		agent_welcome(true, DESK_W, DESK_H);
		agent_video(&stream_a[1]); /* a P frame: the client cannot start here */
		break;
	case SC_BYE_EXPIRED:
		conn_close(agent.conn, MSG_BYE_TICKET_EXPIRED, "connect ticket expired");
		break;
	case SC_VIDEO_FIRST:
		agent_video(&stream_a[0]);
		break;
	case SC_RESIZE_ZERO:
		agent_welcome(true, DESK_W, DESK_H);
		agent_send_raw(resize_zero, sizeof(resize_zero));
		break;
	case SC_HUGE_CLIPBOARD:
		agent_welcome(true, DESK_W, DESK_H);
		agent_send_raw(huge_clipboard, sizeof(huge_clipboard));
		break;
	case SC_VIEW_ONLY:
		agent_welcome(false, DESK_W, DESK_H);
		agent_video(&stream_a[0]);
		break;
	case SC_SILENT:
		break;
	case SC_AUDIO_FIRST:
		agent_audio(now_us());
		break;
	case SC_AUDIO: {
		struct msg w = {.type = MSG_WELCOME};
		w.u.welcome.version = MSG_PROTOCOL_VERSION;
		w.u.welcome.flags = MSG_WELCOME_CONTROL |
				    (h->caps & MSG_CAP_OPUS ? MSG_WELCOME_AUDIO : 0) |
				    (h->caps & MSG_CAP_MIC ? MSG_WELCOME_MIC : 0);
		w.u.welcome.width = DESK_W;
		w.u.welcome.height = DESK_H;
		w.u.welcome.codec = MSG_CODEC_H264;
		w.u.welcome.audio_rate = h->caps & MSG_CAP_OPUS ? 48000 : 0;
		w.u.welcome.audio_channels = h->caps & MSG_CAP_OPUS ? 2 : 0;
		agent_send(&w);
		for (int i = 0; i < 3; i++)
			agent_audio(now_us() + (uint64_t)i * 20000);
		break;
	}
	case SC_PACED:
		agent_welcome(true, DESK_W, DESK_H);
		agent.paced = 0;
		evtimer_add(agent.pacer, &tv);
		break;
	}
}

static void agent_msg(struct conn *c, const struct msg *m, void *ud)
{
	struct msg pong = {.type = MSG_PONG};
	(void)c;
	(void)ud;

	switch (m->type) {
	case MSG_HELLO:
		on_hello(&m->u.hello);
		break;
	case MSG_KEYFRAME_REQUEST:
		agent.keyframe_requests++;
		if (agent.sc == SC_STREAM && !agent.streamed) {
			agent.streamed = true;
			for (int i = 0; i < 5; i++)
				agent_video(&stream_a[i]);
		}
		break;
	case MSG_ACK:
		if (agent.nacks < 256)
			agent.acks[agent.nacks++] = m->u.ack.frame;
		agent.last_ack_display_us = m->u.ack.display_us;
		break;
	case MSG_KEY:
		if (agent.nkeys < 256)
			agent.keys[agent.nkeys++] = m->u.key;
		break;
	case MSG_POINTER:
		if (agent.npointers < 64)
			agent.pointers[agent.npointers++] = m->u.pointer;
		break;
	case MSG_SCROLL:
		agent.scroll = m->u.scroll;
		agent.nscrolls++;
		break;
	case MSG_CLIPBOARD:
		agent.clipboard_len = m->u.clipboard.data.len < sizeof(agent.clipboard)
					      ? m->u.clipboard.data.len
					      : sizeof(agent.clipboard);
		memcpy(agent.clipboard, m->u.clipboard.data.data, agent.clipboard_len);
		agent.nclipboards++;
		break;
	case MSG_TOUCH:
		agent.touch = m->u.touch;
		agent.ntouches++;
		break;
	case MSG_PEN:
		agent.pen = m->u.pen;
		agent.npens++;
		break;
	case MSG_PING:
		pong.u.ping.id = m->u.ping.id;
		agent_send(&pong);
		break;
	case MSG_PONG:
		agent.pong_id = m->u.ping.id;
		agent.npongs++;
		break;
	case MSG_MIC:
		agent.mics++;
		agent.mic_capture_us = m->u.audio.capture_us;
		break;
	case MSG_AUDIO_REPORT:
		agent.reports++;
		agent.report = m->u.audio_report;
		break;
	case MSG_BYE:
		agent.byes++;
		agent.bye_reason = m->u.bye.reason;
		break;
	default:
		break;
	}
}

static void agent_close(struct conn *c, int err, const char *reason, void *ud)
{
	(void)c;
	(void)err;
	(void)ud;
	agent.closes++;
	snprintf(agent.close_reason, sizeof(agent.close_reason), "%s", reason);
	agent.conn = NULL;
	if (agent.pacer)
		evtimer_del(agent.pacer);
}

static const struct conn_cbs agent_cbs = {.on_msg = agent_msg, .on_close = agent_close};

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *ud)
{
	struct conn_cfg cfg = {.name = "fake agent's client", .linger_ms = 500};
	struct bufferevent *bev;
	(void)l;
	(void)sa;
	(void)salen;
	(void)ud;

	agent.accepted++;
	if (agent.conn) { /* one client at a time */
		evutil_closesocket(fd);
		return;
	}
	bev = tls_accept(agent.require_client_cert ? agent.tls_mtls : agent.tls, base, fd);
	CHECK(bev != NULL);
	if (bev)
		agent.conn = conn_new(bev, &agent_cbs, NULL, &cfg);
}

/* Resets what the agent recorded and sets its scenario (the listener stays). */
static void agent_reset(enum scenario sc)
{
	struct evconnlistener *l = agent.listener;
	struct tls_ctx *t = agent.tls, *tm = agent.tls_mtls;
	struct event *pacer = agent.pacer;
	uint16_t port = agent.port;

	CHECK(agent.conn == NULL);
	memset(&agent, 0, sizeof(agent));
	agent.listener = l;
	agent.tls = t;
	agent.tls_mtls = tm;
	agent.pacer = pacer;
	agent.port = port;
	agent.sc = sc;
}

static void agent_start(void)
{
	struct tls_cfg cfg = {.cert_file = path_in("agent-agent.test.pem"),
			      .key_file = path_in("agent-agent.test.key")};
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);

	agent.tls = tls_ctx_new(TLS_SERVER, &cfg);
	cfg.ca_file = path_in("ca.pem");
	cfg.require_client_cert = true;
	agent.tls_mtls = tls_ctx_new(TLS_SERVER, &cfg);
	CHECK(agent.tls != NULL && agent.tls_mtls != NULL);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	agent.listener = evconnlistener_new_bind(base, on_accept, NULL,
						 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
						 (struct sockaddr *)&sin, sizeof(sin));
	CHECK(agent.listener != NULL);
	getsockname(evconnlistener_get_fd(agent.listener), (struct sockaddr *)&sin, &slen);
	agent.port = ntohs(sin.sin_port);
	agent.pacer = evtimer_new(base, pacer_cb, NULL);
}

static void agent_stop(void)
{
	if (agent.conn)
		conn_close(agent.conn, MSG_BYE_SHUTDOWN, NULL);
	RUN_UNTIL(agent.conn == NULL);
	run_once();
	evconnlistener_free(agent.listener);
	event_free(agent.pacer);
	tls_ctx_free(agent.tls);
	tls_ctx_free(agent.tls_mtls);
}

/* ---- the client under test ------------------------------------------------ */

struct client {
	struct session *s;
	int nstates;
	enum session_state states[8];
	char text[8][MSG_REASON_MAX + 300];
	bool closed;
	bool free_when_connected, free_when_closed;

	int frames;
	uint32_t last_number;
	struct decoder_frame last;
	double min_psnr;
	int keyframes_seen;
	bool first_was_key;
	int resizes, rw, rh;
	int cursors;
	struct msg_cursor cursor;
	uint8_t cursor_pixels[16];
	int cursor_positions;
	struct msg_cursor_pos pos;
	char clip[64];
	size_t clip_len;
	int clips;
	int audio;
	size_t audio_len;
	uint64_t audio_capture_us, audio_arrival_us;
};

static void cl_state(struct session *s, enum session_state st, const char *text, void *ud)
{
	struct client *c = ud;

	if (c->nstates < 8) {
		c->states[c->nstates] = st;
		snprintf(c->text[c->nstates], sizeof(c->text[0]), "%s", text);
		c->nstates++;
	}
	if (st == SESSION_CLOSED) {
		c->closed = true;
		if (c->free_when_closed) {
			session_free(s); /* inside the session's own callback */
			c->s = NULL;
		}
	}
	if (st == SESSION_CONNECTED && c->free_when_connected) {
		session_free(s); /* inside the session's own callback */
		c->s = NULL;
		c->closed = true;
	}
}

static void cl_frame(struct session *s, const struct session_frame *f, void *ud)
{
	struct client *c = ud;
	const struct packet *p = f->number < 256 ? agent.sent[f->number] : NULL;
	(void)s;

	if (c->frames == 0)
		c->first_was_key = f->picture->keyframe;
	c->frames++;
	c->keyframes_seen += f->picture->keyframe;
	c->last_number = f->number;
	c->last = *f->picture;
	CHECK(f->decoded_us >= f->capture_us);
	CHECK(f->bytes > 0);
	if (p) {
		double psnr = psnr_y(f->picture, p->scene);
		if (c->min_psnr == 0 || psnr < c->min_psnr)
			c->min_psnr = psnr;
	}
}

static void cl_resize(struct session *s, int w, int h, void *ud)
{
	struct client *c = ud;
	(void)s;
	c->resizes++;
	c->rw = w;
	c->rh = h;
}

static void cl_cursor(struct session *s, const struct msg_cursor *cur, void *ud)
{
	struct client *c = ud;
	(void)s;
	c->cursors++;
	c->cursor = *cur;
	if (cur->pixels.len <= sizeof(c->cursor_pixels))
		memcpy(c->cursor_pixels, cur->pixels.data, cur->pixels.len);
}

static void cl_cursor_pos(struct session *s, const struct msg_cursor_pos *p, void *ud)
{
	struct client *c = ud;
	(void)s;
	c->cursor_positions++;
	c->pos = *p;
}

static void cl_clipboard(struct session *s, const char *text, size_t len, void *ud)
{
	struct client *c = ud;
	(void)s;
	c->clips++;
	c->clip_len = len < sizeof(c->clip) ? len : sizeof(c->clip);
	memcpy(c->clip, text, c->clip_len);
}

static void cl_audio(struct session *s, const struct msg_audio *a, uint64_t arrival_us, void *ud)
{
	struct client *c = ud;
	(void)s;
	c->audio++;
	c->audio_len = a->data.len;
	c->audio_capture_us = a->capture_us;
	c->audio_arrival_us = arrival_us;
}

static bool cl_audio_report(struct session *s, struct msg_audio_report *r, void *ud)
{
	(void)s;
	(void)ud;
	r->loss = 25;
	r->target_ms = 40;
	r->depth_ms = 30;
	return true;
}

static const struct session_cbs client_cbs = {
	.on_state = cl_state,
	.on_frame = cl_frame,
	.on_resize = cl_resize,
	.on_cursor = cl_cursor,
	.on_cursor_pos = cl_cursor_pos,
	.on_clipboard = cl_clipboard,
};

static uint8_t ticket[TICKET_WIRE_MAX];
static size_t ticket_len;
static EVP_PKEY *client_key; /* the ticket's client key: signs the HELLO proof */

static struct session_cfg base_cfg(void)
{
	struct session_cfg cfg = {0};
	cfg.host = "127.0.0.1";
	cfg.port = agent.port;
	cfg.ca_file = path_in("ca.pem");
	cfg.verify_name = "agent.test";
	cfg.ticket = ticket;
	cfg.ticket_len = ticket_len;
	cfg.client_key = client_key;
	cfg.client_name = "test-client";
	return cfg;
}

static void start(struct client *c, const struct session_cfg *cfg)
{
	memset(c, 0, sizeof(*c));
	c->s = session_new(base, cfg, &client_cbs, c);
	CHECK(c->s != NULL);
}

/* Ends a test: closes the session if open, frees it, lets both sides finish. */
static void finish(struct client *c)
{
	if (c->s && session_info(c->s)->state != SESSION_CLOSED) {
		session_close(c->s, "test over");
		RUN_UNTIL(c->closed);
	}
	session_free(c->s);
	c->s = NULL;
	RUN_UNTIL(agent.conn == NULL);
	run_once();
}

static bool last_state_is(const struct client *c, enum session_state st)
{
	return c->nstates > 0 && c->states[c->nstates - 1] == st;
}

/* ---- session tests -------------------------------------------------------- */

static void test_stream(void)
{
	struct session_cfg cfg = base_cfg();
	const struct session_info *in;
	struct client c;
	struct msg m;
	static const uint8_t cursor_px[16] = {1, 2,  3,	 4,  5,	 6,  7,	 8,
					      9, 10, 11, 12, 13, 14, 15, 16};
	struct msg_pen pen = {.flags = MSG_PEN_CONTACT,
			      .x = 7,
			      .y = 8,
			      .pressure = 4000,
			      .tilt_x = -10,
			      .tilt_y = 20};

	printf("case: stream, input, cursor, clipboard, resize, garbage, BYE\n");
	agent_reset(SC_STREAM);
	start(&c, &cfg);
	CHECK_INT_EQ(session_info(c.s)->state, SESSION_CONNECTING);
	RUN_UNTIL(c.frames >= 5 && agent.nacks >= 5);
	in = session_info(c.s);

	/* HELLO carried what the configuration said */
	CHECK_INT_EQ(agent.hellos, 1);
	CHECK_INT_EQ(agent.ticket_len, ticket_len);
	CHECK_MEM_EQ(agent.ticket, ticket, ticket_len);
	CHECK_STR_EQ(agent.client_name, "test-client");
	CHECK(agent.caps & MSG_CAP_H264);
	CHECK_INT_EQ(agent.max_w, 7680);
	CHECK_INT_EQ(agent.max_h, 4320);

	/* states, in order, with sentences */
	CHECK_INT_EQ(c.nstates, 2);
	CHECK_INT_EQ(c.states[0], SESSION_AUTHENTICATING);
	CHECK_INT_EQ(c.states[1], SESSION_CONNECTED);
	CHECK(strstr(c.text[0], "TLSv1.3") != NULL);
	CHECK_STR_EQ(c.text[1], "connected to session s-42: 637x359 desktop, keyboard and mouse "
				"enabled");
	CHECK_INT_EQ(in->width, DESK_W);
	CHECK_INT_EQ(in->height, DESK_H);
	CHECK(in->control);
	CHECK(in->clipboard);
	CHECK_STR_EQ(in->session_id, "s-42");

	/* the P frame first was dropped and a key frame asked for; then 5 frames decoded */
	CHECK(agent.keyframe_requests >= 1);
	CHECK_INT_EQ(c.frames, 5);
	CHECK(c.first_was_key);
	CHECK_INT_EQ(in->stats.frames_received, 6);
	CHECK_INT_EQ(in->stats.frames_skipped, 1);
	CHECK_INT_EQ(in->stats.frames_decoded, 5);
	CHECK_INT_EQ(in->stats.keyframes, 1);
	CHECK_INT_EQ(in->stats.decode_errors, 0);
	CHECK(in->stats.video_bytes > 0);
	/* ACKs: frame numbers 1..5 (0 was the P frame that could not be shown) */
	CHECK_INT_EQ(agent.nacks, 5);
	for (int i = 0; i < agent.nacks && i < 5; i++)
		CHECK_INT_EQ(agent.acks[i], i + 1);
	CHECK(agent.last_ack_display_us > now_us() - 10000000ull);
	/* the picture: cropped to the odd desktop, and close to the source */
	CHECK_INT_EQ(c.last.width, DESK_W);
	CHECK_INT_EQ(c.last.height, DESK_H);
	CHECK_INT_EQ(c.last.coded_width, DESK_W + 1);
	CHECK_INT_EQ(c.last.coded_height, DESK_H + 1);
	CHECK(c.min_psnr >= 35.0);
	printf("  luma PSNR of decoded frames: >= %.1f dB\n", c.min_psnr);

	/* RGB from the decoder's last picture, and a PNG of it read back by libpng */
	{
		struct decoder *dec = session_decoder(c.s);
		struct decoder_frame f;
		size_t n = (size_t)DESK_W * DESK_H * 3;
		uint8_t *rgb = malloc(n), *back = malloc(n);
		png_image img;
		double psnr;

		CHECK_INT_EQ(decoder_last_frame(dec, &f), 0);
		CHECK_INT_EQ(f.width, DESK_W);
		CHECK_INT_EQ(decoder_to_rgb(dec, &f, DECODER_RGB24, rgb, DESK_W * 3), 0);
		psnr = psnr_rgb(rgb, DESK_W * 3, agent.sent[c.last_number]->scene, DESK_W, DESK_H);
		printf("  RGB PSNR of the last frame: %.1f dB\n", psnr);
		CHECK(psnr >= 30.0);
		CHECK_INT_EQ(png_write_file(path_in("last.png"), rgb, DESK_W, DESK_H, DESK_W * 3),
			     0);
		memset(&img, 0, sizeof(img));
		img.version = PNG_IMAGE_VERSION;
		CHECK(png_image_begin_read_from_file(&img, path_in("last.png")) != 0);
		CHECK_INT_EQ(img.width, DESK_W);
		CHECK_INT_EQ(img.height, DESK_H);
		img.format = PNG_FORMAT_RGB;
		CHECK(png_image_finish_read(&img, NULL, back, DESK_W * 3, NULL) != 0);
		CHECK_MEM_EQ(back, rgb, n);
		free(rgb);
		free(back);
	}

	/* input arrives as the right messages */
	CHECK_INT_EQ(session_send_key(c.s, KEY_A, 'a', true), 0);
	CHECK_INT_EQ(session_send_key(c.s, KEY_A, 'a', false), 0);
	CHECK_INT_EQ(session_send_pointer(c.s, 10, 20, 1), 0);
	CHECK_INT_EQ(session_send_scroll(c.s, 0, -120), 0);
	CHECK_INT_EQ(session_send_clipboard(c.s, "h\xc3\xa9llo", 6), 0);
	CHECK_INT_EQ(session_send_touch(c.s, 9, MSG_TOUCH_BEGIN, 30, 40), 0);
	CHECK_INT_EQ(session_send_pen(c.s, &pen), 0);
	CHECK_INT_EQ(session_send_clipboard(c.s, "nul\0inside", 10), HR_EPROTO_INVALID);
	RUN_UNTIL(agent.npens == 1);
	CHECK_INT_EQ(agent.nkeys, 2);
	CHECK_INT_EQ(agent.keys[0].scancode, KEY_A);
	CHECK_INT_EQ(agent.keys[0].keysym, 'a');
	CHECK_INT_EQ(agent.keys[0].flags, MSG_KEY_DOWN);
	CHECK_INT_EQ(agent.keys[1].flags, 0);
	CHECK_INT_EQ(agent.npointers, 1);
	CHECK_INT_EQ(agent.pointers[0].x, 10);
	CHECK_INT_EQ(agent.pointers[0].y, 20);
	CHECK_INT_EQ(agent.pointers[0].buttons, 1);
	CHECK_INT_EQ(agent.nscrolls, 1);
	CHECK_INT_EQ(agent.scroll.dy, -120);
	CHECK_INT_EQ(agent.nclipboards, 1);
	CHECK_INT_EQ(agent.clipboard_len, 6);
	CHECK_MEM_EQ(agent.clipboard, "h\xc3\xa9llo", 6);
	CHECK_INT_EQ(agent.ntouches, 1);
	CHECK_INT_EQ(agent.touch.id, 9);
	CHECK_INT_EQ(agent.touch.x, 30);
	CHECK_INT_EQ(agent.npens, 1);
	CHECK_INT_EQ(agent.pen.pressure, 4000);
	CHECK_INT_EQ(agent.pen.tilt_y, 20);

	/* PING -> PONG with the same id; cursor, cursor position, clipboard from the desktop */
	memset(&m, 0, sizeof(m));
	m.type = MSG_PING;
	m.u.ping.id = 0xabcdef0123ull;
	agent_send(&m);
	memset(&m, 0, sizeof(m));
	m.type = MSG_CURSOR;
	m.u.cursor.width = 2;
	m.u.cursor.height = 2;
	m.u.cursor.hot_x = 1;
	m.u.cursor.pixels.data = cursor_px;
	m.u.cursor.pixels.len = sizeof(cursor_px);
	agent_send(&m);
	memset(&m, 0, sizeof(m));
	m.type = MSG_CURSOR_POS;
	m.u.cursor_pos.x = 33;
	m.u.cursor_pos.y = 44;
	m.u.cursor_pos.visible = true;
	agent_send(&m);
	memset(&m, 0, sizeof(m));
	m.type = MSG_CLIPBOARD;
	m.u.clipboard.format = MSG_CLIPBOARD_TEXT;
	m.u.clipboard.data.data = (const uint8_t *)"from the desktop";
	m.u.clipboard.data.len = 16;
	agent_send(&m);
	RUN_UNTIL(agent.npongs >= 1 && c.clips == 1);
	CHECK_INT_EQ(agent.pong_id, 0xabcdef0123ull);
	CHECK_INT_EQ(c.cursors, 1);
	CHECK_INT_EQ(c.cursor.width, 2);
	CHECK_INT_EQ(c.cursor.hot_x, 1);
	CHECK_MEM_EQ(c.cursor_pixels, cursor_px, sizeof(cursor_px));
	CHECK_INT_EQ(c.cursor_positions, 1);
	CHECK_INT_EQ(c.pos.x, 33);
	CHECK(c.pos.visible);
	CHECK_INT_EQ(c.clip_len, 16);
	CHECK_MEM_EQ(c.clip, "from the desktop", 16);

	/* RESIZE that the stream disagrees with: the 638x360 key frame is cropped to 320x200 */
	memset(&m, 0, sizeof(m));
	m.type = MSG_RESIZE;
	m.u.resize.width = 320;
	m.u.resize.height = 200;
	agent_send(&m);
	agent_video(&stream_a[7]);
	RUN_UNTIL(c.frames == 6);
	CHECK_INT_EQ(c.resizes, 1);
	CHECK_INT_EQ(c.rw, 320);
	CHECK_INT_EQ(c.rh, 200);
	CHECK_INT_EQ(session_info(c.s)->width, 320);
	CHECK_INT_EQ(c.last.width, 320);
	CHECK_INT_EQ(c.last.height, 200);
	CHECK_INT_EQ(c.last.coded_width, 638);

	/* a real resize: new SPS at 400x300, then a RESIZE larger than the stream */
	m.u.resize.width = 400;
	m.u.resize.height = 300;
	agent_send(&m);
	agent_video(&stream_b[0]);
	RUN_UNTIL(c.frames == 7);
	CHECK_INT_EQ(c.last.width, 400);
	CHECK_INT_EQ(c.last.height, 300);
	CHECK_INT_EQ(c.last.coded_width, 400);
	m.u.resize.width = 800;
	m.u.resize.height = 600;
	agent_send(&m);
	agent_video(&stream_b[1]);
	RUN_UNTIL(c.frames == 8);
	CHECK_INT_EQ(c.last.width, 400); /* never more than the stream has */
	CHECK_INT_EQ(c.last.height, 300);
	CHECK(c.min_psnr >= 35.0);

	/* garbage H.264: survived, a key frame asked for, and the next key frame shows */
	{
		uint8_t junk[3000];
		int kf_before = agent.keyframe_requests;
		uint32_t r = 12345;

		for (size_t i = 0; i < sizeof(junk); i++) {
			r = r * 1103515245u + 12345u;
			junk[i] = (uint8_t)(r >> 16);
		}
		agent_video_bytes(junk, sizeof(junk)); /* no start code at all */
		junk[0] = 0;
		junk[1] = 0;
		junk[2] = 1;
		junk[3] = 0x65; /* looks like an IDR slice */
		agent_video_bytes(junk, sizeof(junk));
		junk[3] = 0x67; /* an SPS of noise */
		junk[100] = 0;
		junk[101] = 0;
		junk[102] = 1;
		junk[103] = 0x65;
		agent_video_bytes(junk, sizeof(junk));
		agent_video(&stream_b[1]); /* a P frame while the decoder waits: skipped */
		RUN_UNTIL(session_info(c.s)->stats.frames_received == 13);
		in = session_info(c.s);
		CHECK_INT_EQ(in->state, SESSION_CONNECTED);
		CHECK(in->stats.decode_errors + in->stats.frames_skipped >= 2);
		CHECK(agent.keyframe_requests > kf_before);
		printf("  garbage: %llu decode errors, %llu skipped, %d key frame requests\n",
		       (unsigned long long)in->stats.decode_errors,
		       (unsigned long long)in->stats.frames_skipped, agent.keyframe_requests);
		agent_video(&stream_b[2]); /* a key frame */
		RUN_UNTIL(c.frames == 9);
		CHECK_INT_EQ(c.frames, 9);
		CHECK(c.last.keyframe);
		CHECK(c.min_psnr >= 35.0);
	}

	/* the agent ends the session: the reason reaches the state callback */
	conn_close(agent.conn, MSG_BYE_SHUTDOWN, "maintenance at 02:00");
	RUN_UNTIL(c.closed);
	in = session_info(c.s);
	CHECK(last_state_is(&c, SESSION_CLOSED));
	CHECK_STR_EQ(c.text[c.nstates - 1], "the agent is shutting down: maintenance at 02:00");
	CHECK_INT_EQ(in->end, SESSION_END_BYE);
	CHECK_INT_EQ(in->bye_reason, MSG_BYE_SHUTDOWN);
	CHECK_INT_EQ(in->closed_in, SESSION_CONNECTED);
	CHECK_INT_EQ(session_send_key(c.s, KEY_A, 'a', true), -ENOTCONN);
	finish(&c);
}

static void test_bye_refused(void)
{
	struct session_cfg cfg = base_cfg();
	struct client c;
	char b64[TICKET_WIRE_MAX * 2];
	FILE *f;

	printf("case: the agent refuses the ticket (ticket from a bundle file)\n");
	agent_reset(SC_BYE_EXPIRED);
	/* what highrise-ticket writes: the ticket and its client key, PEM (ticket.h) */
	char *bundle = ticket_bundle_encode(ticket, ticket_len, client_key);
	CHECK(bundle != NULL);
	f = fopen(path_in("ticket.b64"), "w");
	fputs(bundle ? bundle : "", f);
	fclose(f);
	free(bundle);
	(void)b64;
	cfg.ticket = NULL;
	cfg.ticket_len = 0;
	cfg.ticket_file = path_in("ticket.b64");
	start(&c, &cfg);
	RUN_UNTIL(c.closed);
	CHECK_INT_EQ(agent.ticket_len, ticket_len);
	CHECK_MEM_EQ(agent.ticket, ticket, ticket_len);
	CHECK(last_state_is(&c, SESSION_CLOSED));
	CHECK_STR_EQ(c.text[c.nstates - 1], "the agent refused the ticket: connect ticket expired");
	CHECK_INT_EQ(session_info(c.s)->end, SESSION_END_REFUSED);
	CHECK_INT_EQ(session_info(c.s)->bye_reason, MSG_BYE_TICKET_EXPIRED);
	CHECK_INT_EQ(session_info(c.s)->closed_in, SESSION_AUTHENTICATING);
	finish(&c);
}

/* A hostile agent: the session must end with a protocol error, and say so. */
static void hostile(enum scenario sc, const char *name, const char *want)
{
	struct session_cfg cfg = base_cfg();
	struct client c;
	FILE *f;

	printf("case: hostile agent: %s\n", name);
	agent_reset(sc);
	/* a bundle with text around it, as a mail or a chat would carry it */
	char *bundle = ticket_bundle_encode(ticket, ticket_len, client_key);
	CHECK(bundle != NULL);
	f = fopen(path_in("ticket.bin"), "wb");
	fprintf(f, "your ticket:\n%s\nbye\n", bundle ? bundle : "");
	fclose(f);
	free(bundle);
	cfg.ticket = NULL;
	cfg.ticket_file = path_in("ticket.bin");
	start(&c, &cfg);
	RUN_UNTIL(c.closed);
	CHECK_INT_EQ(agent.ticket_len, ticket_len);
	CHECK(last_state_is(&c, SESSION_CLOSED));
	CHECK_INT_EQ(session_info(c.s)->end, SESSION_END_PROTOCOL);
	CHECK(strstr(c.text[c.nstates - 1], want) != NULL);
	if (!strstr(c.text[c.nstates - 1], want))
		fprintf(stderr, "  got: %s\n", c.text[c.nstates - 1]);
	CHECK_INT_EQ(session_info(c.s)->stats.frames_decoded, 0);
	RUN_UNTIL(agent.closes == 1);
	/* the agent heard why */
	CHECK_INT_EQ(agent.byes, 1);
	CHECK_INT_EQ(agent.bye_reason, MSG_BYE_PROTOCOL_ERROR);
	finish(&c);
}

/* Sound: CAP_OPUS only with on_audio, CAP_MIC only when offered; MIC only after WELCOME MIC. */
static void test_audio(void)
{
	struct session_cfg cfg = base_cfg();
	struct session_cbs cbs = client_cbs;
	const struct session_info *in;
	static const uint8_t pkt[] = {0xfc, 0xff, 0xfe};
	struct client c;

	printf("case: audio, no on_audio: no CAP_OPUS, AUDIO dropped\n");
	agent_reset(SC_AUDIO);
	cfg.offer_mic = false;
	start(&c, &cfg);
	RUN_UNTIL(last_state_is(&c, SESSION_CONNECTED));
	in = session_info(c.s);
	CHECK(!(agent.caps & MSG_CAP_OPUS));
	CHECK(!(agent.caps & MSG_CAP_MIC));
	CHECK(!in->audio);
	CHECK(!in->mic);
	CHECK_INT_EQ(session_send_mic(c.s, 1, pkt, sizeof(pkt)), -ENOTSUP);
	struct msg_audio_report r = {.loss = 1};
	CHECK_INT_EQ(session_send_audio_report(c.s, &r), -ENOTSUP);
	finish(&c);

	printf("case: audio and microphone\n");
	agent_reset(SC_AUDIO);
	cbs.on_audio = cl_audio;
	cbs.on_audio_report = cl_audio_report;
	cfg.offer_mic = true;
	memset(&c, 0, sizeof(c));
	c.s = session_new(base, &cfg, &cbs, &c);
	CHECK(c.s != NULL);
	CHECK_INT_EQ(session_send_mic(c.s, 1, pkt, sizeof(pkt)), -ENOTCONN); /* not yet */
	RUN_UNTIL(c.audio == 3);
	in = session_info(c.s);
	CHECK(agent.caps & MSG_CAP_OPUS);
	CHECK(agent.caps & MSG_CAP_MIC);
	CHECK(in->audio);
	CHECK(in->mic);
	CHECK_INT_EQ(c.audio_len, 3);
	CHECK(c.audio_arrival_us >= c.audio_capture_us - 100000);
	CHECK_INT_EQ(in->stats.audio_packets, 3);
	CHECK_INT_EQ(in->stats.audio_bytes, 9);
	CHECK_INT_EQ(session_send_mic(c.s, 1234, pkt, 0), HR_EPROTO_INVALID);
	static uint8_t big[5000];
	CHECK_INT_EQ(session_send_mic(c.s, 1234, big, sizeof(big)), HR_EPROTO_INVALID);
	CHECK_INT_EQ(session_send_mic(c.s, 1234, pkt, sizeof(pkt)), 0);
	r = (struct msg_audio_report){.loss = 1001};
	CHECK_INT_EQ(session_send_audio_report(c.s, &r), HR_EPROTO_INVALID);
	RUN_UNTIL(agent.mics == 1);
	CHECK_INT_EQ(agent.mic_capture_us, 1234);
	CHECK_INT_EQ(in->stats.mic_packets, 1);
	/* the session's own once-a-second report, from on_audio_report */
	RUN_UNTIL(agent.reports >= 1);
	CHECK_INT_EQ(agent.report.loss, 25);
	CHECK_INT_EQ(agent.report.target_ms, 40);
	CHECK_INT_EQ(agent.report.depth_ms, 30);
	finish(&c);

	printf("case: audio disabled: no CAP_OPUS even with on_audio\n");
	agent_reset(SC_AUDIO);
	cfg.no_audio = true;
	cfg.offer_mic = false;
	memset(&c, 0, sizeof(c));
	c.s = session_new(base, &cfg, &cbs, &c);
	RUN_UNTIL(last_state_is(&c, SESSION_CONNECTED));
	run_once();
	CHECK(!(agent.caps & MSG_CAP_OPUS));
	CHECK_INT_EQ(c.audio, 0); /* the agent's AUDIO without WELCOME AUDIO: dropped */
	CHECK_INT_EQ(session_send_mic(c.s, 1, pkt, sizeof(pkt)), -ENOTSUP);
	finish(&c);
}

static void test_view_only(void)
{
	struct session_cfg cfg = base_cfg();
	struct client c;

	printf("case: view only\n");
	agent_reset(SC_VIEW_ONLY);
	cfg.manual_ack = true;
	start(&c, &cfg);
	RUN_UNTIL(c.frames == 1);
	CHECK(!session_info(c.s)->control);
	CHECK(strstr(c.text[1], "view only") != NULL);
	CHECK_INT_EQ(session_send_key(c.s, KEY_A, 'a', true), -EPERM);
	CHECK_INT_EQ(session_send_pointer(c.s, 1, 1, 0), -EPERM);
	/* manual ACK: nothing until the application says it showed the frame */
	run_once();
	CHECK_INT_EQ(agent.nacks, 0);
	CHECK_INT_EQ(session_ack(c.s, c.last_number, 1234567), 0);
	CHECK_INT_EQ(session_request_keyframe(c.s), 0);
	RUN_UNTIL(agent.nacks == 1 && agent.keyframe_requests == 1);
	CHECK_INT_EQ(agent.acks[0], 0);
	CHECK_INT_EQ(agent.last_ack_display_us, 1234567);
	CHECK_INT_EQ(agent.nkeys, 0);
	finish(&c);
}

static void test_tls_failures(void)
{
	struct session_cfg cfg = base_cfg();
	struct client c;
	const char *text;

	printf("case: wrong pin\n");
	agent_reset(SC_STREAM);
	cfg.pin_sha256 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	start(&c, &cfg);
	RUN_UNTIL(c.closed);
	text = c.text[c.nstates - 1];
	CHECK_INT_EQ(session_info(c.s)->end, SESSION_END_NETWORK);
	CHECK_INT_EQ(session_info(c.s)->closed_in, SESSION_CONNECTING);
	CHECK(strstr(text, "cannot connect to 127.0.0.1:") == text);
	CHECK(strstr(text, "pinned") != NULL);
	printf("  %s\n", text);
	finish(&c);

	printf("case: wrong certificate name\n");
	agent_reset(SC_STREAM);
	cfg = base_cfg();
	cfg.verify_name = "other.test";
	start(&c, &cfg);
	RUN_UNTIL(c.closed);
	CHECK(strstr(c.text[c.nstates - 1], "other.test") != NULL);
	printf("  %s\n", c.text[c.nstates - 1]);
	finish(&c);

	printf("case: the agent requires a client certificate\n");
	agent_reset(SC_STREAM);
	agent.require_client_cert = true;
	cfg = base_cfg();
	start(&c, &cfg);
	RUN_UNTIL(c.closed);
	CHECK_INT_EQ(session_info(c.s)->end, SESSION_END_NETWORK);
	CHECK_INT_EQ(c.frames, 0);
	printf("  %s\n", c.text[c.nstates - 1]);
	finish(&c);
	agent_reset(SC_STREAM);
	agent.require_client_cert = true;
	cfg.cert_file = path_in("client-probe.pem");
	cfg.key_file = path_in("client-probe.key");
	start(&c, &cfg);
	RUN_UNTIL(c.frames >= 5);
	CHECK_INT_EQ(c.frames, 5);
	finish(&c);

	printf("case: nothing listens\n");
	{
		struct sockaddr_in sin = {.sin_family = AF_INET};
		socklen_t slen = sizeof(sin);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		char want[64];

		/* a port that was free a moment ago */
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		bind(fd, (struct sockaddr *)&sin, sizeof(sin));
		getsockname(fd, (struct sockaddr *)&sin, &slen);
		close(fd);
		cfg = base_cfg();
		cfg.port = ntohs(sin.sin_port);
		start(&c, &cfg);
		c.free_when_closed = true;
		RUN_UNTIL(c.closed);
		snprintf(want, sizeof(want), "cannot connect to 127.0.0.1:%u: Connection refused",
			 cfg.port);
		CHECK_STR_EQ(c.text[c.nstates - 1], want);
		CHECK_INT_EQ(c.nstates, 1);
		CHECK(c.s == NULL);
		run_once();
	}

	printf("case: the name does not resolve\n");
	cfg = base_cfg();
	cfg.host = "no-such-host.invalid";
	start(&c, &cfg);
	RUN_UNTIL(c.closed);
	CHECK(strstr(c.text[c.nstates - 1], "cannot resolve the name no-such-host.invalid") ==
	      c.text[c.nstates - 1]);
	printf("  %s\n", c.text[c.nstates - 1]);
	session_free(c.s);
	run_once();
}

static void test_timeout_and_free(void)
{
	struct session_cfg cfg = base_cfg();
	struct client c;

	printf("case: the agent never answers HELLO\n");
	agent_reset(SC_SILENT);
	cfg.timeout_ms = 300;
	cfg.welcome_wait_ms = 300; /* the default outwaits the agent's own 15 s */
	start(&c, &cfg);
	RUN_UNTIL(c.closed);
	CHECK_INT_EQ(session_info(c.s)->end, SESSION_END_NETWORK);
	CHECK(strstr(c.text[c.nstates - 1], "no answer from the agent at 127.0.0.1:") ==
	      c.text[c.nstates - 1]);
	CHECK(strstr(c.text[c.nstates - 1], "waiting for it to accept the ticket") != NULL);
	finish(&c);

	printf("case: freed inside its own callback, and freed while open\n");
	agent_reset(SC_STREAM);
	cfg = base_cfg();
	start(&c, &cfg);
	c.free_when_connected = true;
	RUN_UNTIL(c.closed);
	CHECK(c.s == NULL);
	RUN_UNTIL(agent.conn == NULL);
	CHECK_INT_EQ(agent.byes, 1); /* the BYE went out before the memory did */
	run_once();

	agent_reset(SC_STREAM);
	start(&c, &cfg);
	RUN_UNTIL(c.frames >= 1);
	session_free(c.s); /* open: closes, then frees once the BYE is out */
	c.s = NULL;
	RUN_UNTIL(agent.conn == NULL);
	CHECK_INT_EQ(agent.byes, 1);
	run_once();

	printf("case: bad configurations\n");
	cfg = base_cfg();
	cfg.ticket = NULL;
	CHECK(session_new(base, &cfg, &client_cbs, &c) == NULL);
	cfg.ticket_file = path_in("no-such-ticket");
	CHECK(session_new(base, &cfg, &client_cbs, &c) == NULL);
	cfg = base_cfg();
	cfg.ca_file = path_in("no-such-ca.pem");
	CHECK(session_new(base, &cfg, &client_cbs, &c) == NULL);
	cfg = base_cfg();
	cfg.cert_file = path_in("client-probe.pem"); /* without its key */
	CHECK(session_new(base, &cfg, &client_cbs, &c) == NULL);
	cfg = base_cfg();
	cfg.port = 0;
	CHECK(session_new(base, &cfg, &client_cbs, &c) == NULL);
}

/* ---- modules alone -------------------------------------------------------- */

static void test_decoder(void)
{
	struct decoder *d = decoder_new(NULL);
	struct decoder_frame f;
	uint8_t junk[512];
	uint32_t r = 7;

	printf("case: decoder alone\n");
	CHECK(d != NULL);
	if (!d)
		return;
	CHECK(decoder_needs_keyframe(d));
	CHECK_INT_EQ(decoder_last_frame(d, &f), -ENOENT);
	CHECK_INT_EQ(decoder_decode(d, junk, 0, &f), -EINVAL);
	CHECK_INT_EQ(decoder_decode(d, stream_a[1].data, stream_a[1].size, &f), DECODER_SKIPPED);
	CHECK(decoder_au_is_keyframe(stream_a[0].data, stream_a[0].size));
	CHECK(!decoder_au_is_keyframe(stream_a[1].data, stream_a[1].size));
	CHECK(!decoder_au_is_keyframe((const uint8_t *)"\0\0\1", 3));
	/* without a desktop size the whole coded picture shows */
	CHECK_INT_EQ(decoder_decode(d, stream_a[0].data, stream_a[0].size, &f), DECODER_OK);
	CHECK_INT_EQ(f.width, 638);
	CHECK(!decoder_needs_keyframe(d));
	decoder_set_size(d, DESK_W, DESK_H);
	CHECK_INT_EQ(decoder_decode(d, stream_a[1].data, stream_a[1].size, &f), DECODER_OK);
	CHECK_INT_EQ(f.width, DESK_W);
	CHECK(!f.keyframe);
	CHECK(!f.full_range);
	CHECK(!f.bt709);
	CHECK(psnr_y(&f, &scenes_a[1]) >= 35.0);
	CHECK_INT_EQ(decoder_to_rgb(d, &f, DECODER_RGB24, junk, 10), -EINVAL); /* stride */
	/* noise of every length up to 512 bytes, with and without start codes */
	for (size_t len = 1; len <= sizeof(junk); len += 37) {
		for (size_t i = 0; i < len; i++) {
			r = r * 1664525u + 1013904223u;
			junk[i] = (uint8_t)(r >> 24);
		}
		if (len > 8 && (len & 1)) {
			memcpy(junk, "\0\0\0\1\x67", 5);
			junk[len / 2] = 0;
			junk[len / 2 + 1] = 0;
			junk[len / 2 + 2] = 1;
			junk[len / 2 + 3] = 0x65;
		}
		(void)decoder_decode(d, junk, len, &f); /* any result but a crash */
	}
	/* the last good picture survives, and a key frame recovers */
	CHECK_INT_EQ(decoder_last_frame(d, &f), 0);
	CHECK_INT_EQ(decoder_decode(d, stream_a[7].data, stream_a[7].size, &f), DECODER_OK);
	CHECK(psnr_y(&f, &scenes_a[7]) >= 35.0);
	/* a picture above the configured maximum is refused */
	decoder_free(d);
	{
		struct decoder_cfg cfg = {.max_width = 320, .max_height = 240};
		d = decoder_new(&cfg);
		CHECK(decoder_decode(d, stream_a[0].data, stream_a[0].size, &f) < 0);
		CHECK(decoder_decode(d, stream_b[0].data, stream_b[0].size, &f) < 0);
		decoder_free(d);
	}
	decoder_free(NULL);
}

static void test_keymap(void)
{
	struct msg_key k[64];
	struct keymap_key key;
	const char *bad;
	char buf[64];
	size_t n;

	printf("case: keymap\n");
	CHECK_INT_EQ(keymap_from_char('a', &key), 0);
	CHECK_INT_EQ(key.scancode, KEY_A);
	CHECK(!key.shift);
	CHECK_INT_EQ(keymap_from_char('Z', &key), 0);
	CHECK_INT_EQ(key.scancode, KEY_Z);
	CHECK_INT_EQ(key.keysym, 'Z');
	CHECK(key.shift);
	CHECK_INT_EQ(keymap_from_char('~', &key), 0);
	CHECK_INT_EQ(key.scancode, KEY_GRAVE);
	CHECK(key.shift);
	CHECK_INT_EQ(keymap_from_char('\n', &key), 0);
	CHECK_INT_EQ(key.scancode, KEY_ENTER);
	CHECK_INT_EQ(key.keysym, 0xff0d);
	CHECK_INT_EQ(keymap_from_char(0xe9, &key), 1); /* é: keysym only */
	CHECK_INT_EQ(key.scancode, 0);
	CHECK_INT_EQ(key.keysym, 0xe9);
	CHECK_INT_EQ(keymap_from_char(0x20ac, &key), 1); /* € */
	CHECK_INT_EQ(key.keysym, 0x010020ac);
	CHECK_INT_EQ(keymap_from_char(0x01, &key), -EINVAL);
	/* every printable ASCII character has a key */
	for (uint32_t ch = 0x20; ch < 0x7f; ch++) {
		CHECK_INT_EQ(keymap_from_char(ch, &key), 0);
		CHECK(key.scancode != 0);
	}

	CHECK_INT_EQ(keymap_unescape("echo hi\\n\\t\\\\\\x41\\e", buf, sizeof(buf)), 12);
	CHECK_STR_EQ(buf, "echo hi\n\t\\A\x1b");
	CHECK_INT_EQ(keymap_unescape("bad \\q", buf, sizeof(buf)), -EINVAL);
	CHECK_INT_EQ(keymap_unescape("trailing \\", buf, sizeof(buf)), -EINVAL);
	CHECK_INT_EQ(keymap_unescape("\\x00", buf, sizeof(buf)), -EINVAL);
	CHECK_INT_EQ(keymap_unescape("toolong", buf, 4), -ENOSPC);

	CHECK_INT_EQ(keymap_type_text("Hi!\n", k, 64, &n), 0);
	CHECK_INT_EQ(n, 12);
	CHECK_INT_EQ(k[0].scancode, KEY_LEFTSHIFT);
	CHECK_INT_EQ(k[0].flags, MSG_KEY_DOWN);
	CHECK_INT_EQ(k[1].scancode, KEY_H);
	CHECK_INT_EQ(k[1].keysym, 'H');
	CHECK_INT_EQ(k[2].scancode, KEY_H);
	CHECK_INT_EQ(k[2].flags, 0);
	CHECK_INT_EQ(k[3].scancode, KEY_LEFTSHIFT);
	CHECK_INT_EQ(k[3].flags, 0);
	CHECK_INT_EQ(k[4].scancode, KEY_I);
	CHECK_INT_EQ(k[7].scancode, KEY_1); /* '!' = Shift+1 */
	CHECK_INT_EQ(k[7].keysym, '!');
	CHECK_INT_EQ(k[10].scancode, KEY_ENTER);
	CHECK_INT_EQ(keymap_type_text("\xc3\xa9", k, 64, &n), 0);
	CHECK_INT_EQ(n, 2);
	CHECK_INT_EQ(k[0].scancode, 0);
	CHECK_INT_EQ(keymap_type_text("\xc3", k, 64, &n), -EINVAL);	/* cut UTF-8 */
	CHECK_INT_EQ(keymap_type_text("\xc0\xaf", k, 64, &n), -EINVAL); /* overlong */
	CHECK_INT_EQ(keymap_type_text("abc", k, 5, &n), -ENOSPC);

	CHECK_INT_EQ(keymap_chord("ctrl+alt+Delete", k, 64, &n, &bad), 0);
	CHECK_INT_EQ(n, 6);
	CHECK_INT_EQ(k[0].scancode, KEY_LEFTCTRL);
	CHECK_INT_EQ(k[1].scancode, KEY_LEFTALT);
	CHECK_INT_EQ(k[2].scancode, KEY_DELETE);
	CHECK_INT_EQ(k[2].keysym, 0xffff);
	CHECK_INT_EQ(k[3].scancode, KEY_DELETE);
	CHECK_INT_EQ(k[3].flags, 0);
	CHECK_INT_EQ(k[5].scancode, KEY_LEFTCTRL);
	CHECK_INT_EQ(keymap_chord("F12", k, 64, &n, &bad), 0);
	CHECK_INT_EQ(k[0].scancode, KEY_F12);
	CHECK_INT_EQ(k[0].keysym, 0xffc9);
	CHECK_INT_EQ(keymap_chord("ctrl+?", k, 64, &n, &bad), 0); /* Shift added */
	CHECK_INT_EQ(n, 6);
	CHECK_INT_EQ(k[1].scancode, KEY_LEFTSHIFT);
	CHECK_INT_EQ(keymap_chord("shift+A", k, 64, &n, &bad), 0); /* no second Shift */
	CHECK_INT_EQ(n, 4);
	CHECK_INT_EQ(keymap_chord("ctrl++", k, 64, &n, &bad), 0);
	CHECK_INT_EQ(keymap_chord("ctrl+nosuchkey", k, 64, &n, &bad), -EINVAL);
	CHECK_STR_EQ(bad, "nosuchkey");
	CHECK_INT_EQ(keymap_chord("ctrl+", k, 64, &n, &bad), -EINVAL);
	CHECK_INT_EQ(keymap_chord("", k, 64, &n, &bad), -EINVAL);
	CHECK_INT_EQ(keymap_chord("F13", k, 64, &n, &bad), -EINVAL);
}

static void test_stats(void)
{
	struct stats_series s;

	printf("case: stats\n");
	stats_series_init(&s);
	CHECK(isnan(stats_series_percentile(&s, 50)));
	CHECK(isnan(stats_series_mean(&s)));
	for (int i = 100; i >= 1; i--)
		stats_series_add(&s, i);
	CHECK(stats_series_percentile(&s, 50) == 50);
	CHECK(stats_series_percentile(&s, 99) == 99);
	CHECK(stats_series_percentile(&s, 100) == 100);
	CHECK(stats_series_mean(&s) == 50.5);
	CHECK(isnan(stats_series_percentile(&s, 0)));
	stats_series_add(&s, 0.5); /* adding after a percentile is fine */
	CHECK(stats_series_percentile(&s, 1) == 1);
	stats_series_deinit(&s);
	/* past the reservoir: memory bounded, percentiles still about right */
	stats_series_init(&s);
	for (uint32_t i = 0; i < STATS_SAMPLES_MAX + STATS_SAMPLES_MAX / 2; i++)
		stats_series_add(&s, (double)(i % 1000));
	CHECK_INT_EQ(s.n, STATS_SAMPLES_MAX);
	CHECK(fabs(stats_series_percentile(&s, 50) - 500) < 10);
	CHECK(s.max == 999);
	stats_series_deinit(&s);

	/* the stage breakdown: one series per stage, printed in their order */
	struct stats_stages st;
	char line[256];
	stats_stages_init(&st);
	CHECK_INT_EQ(stats_stages_format(&st, 50, 0, STATS_STAGE_COUNT, line, sizeof(line)), 0);
	CHECK_STR_EQ(line, "");
	for (uint32_t i = 1; i <= 3; i++) {
		uint32_t us[MSG_STAGE_COUNT] = {400 * i, 3100, 900, 14200 * i, 120, 15};
		double ms[STATS_STAGE_COUNT];
		stats_stages_of_frame(ms, us, 250, 2250);
		CHECK(fabs(ms[MSG_STAGE_ENCODE] - 14.2 * i) < 1e-9 &&
		      ms[STATS_STAGE_NETWORK] == 0.25);
		CHECK(ms[STATS_STAGE_DECODE] == 2.25 && isnan(ms[STATS_STAGE_HANDOFF]));
		stats_stages_add(&st, ms, STATS_STAGE_DECODE); /* the agent's and the network */
	}
	CHECK_INT_EQ(st.frames, 3);
	CHECK(stats_series_percentile(&st.s[MSG_STAGE_ENCODE], 50) == 28.4);
	CHECK(stats_series_percentile(&st.s[MSG_STAGE_CAPTURE], 99) == 1.2);
	CHECK(isnan(stats_series_percentile(&st.s[STATS_STAGE_DECODE], 50)));
	stats_stages_format(&st, 50, 0, STATS_STAGE_COUNT, line, sizeof(line));
	CHECK_STR_EQ(line, "capture 0.8  wait 3.1  convert 0.9  encode 28.4  link 0.1  queue 0.0  "
			   "network 0.2 ms");
	stats_series_add(&st.s[STATS_STAGE_DECODE], 2.25);
	stats_stages_format(&st, 99, 0, STATS_STAGE_COUNT, line, sizeof(line));
	CHECK_STR_EQ(line, "capture 1.2  wait 3.1  convert 0.9  encode 42.6  link 0.1  queue 0.0  "
			   "network 0.2  decode 2.2 ms");
	/* cut short, it still ends in a NUL and says how long it wanted to be */
	int full = (int)strlen(line);
	CHECK_INT_EQ(stats_stages_format(&st, 99, 0, STATS_STAGE_COUNT, line, 10), full);
	CHECK_STR_EQ(line, "capture 1");
	/* a range: the client's stages only */
	stats_stages_format(&st, 50, STATS_STAGE_NETWORK, STATS_STAGE_COUNT, line, sizeof(line));
	CHECK_STR_EQ(line, "network 0.2  decode 2.2 ms");
	CHECK_STR_EQ(stats_stage_name(STATS_STAGE_NETWORK), "network");
	CHECK(stats_stage_name(STATS_STAGE_COUNT) == NULL);
	stats_stages_reset(&st);
	CHECK_INT_EQ(st.frames, 0);
	CHECK(isnan(stats_series_percentile(&st.s[MSG_STAGE_WAIT], 50)));
	stats_stages_deinit(&st);
}

static void test_png(void)
{
	uint8_t px[2 * 3 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	uint8_t back[sizeof(px)];
	png_image img;
	struct stat st;

	printf("case: png\n");
	CHECK_INT_EQ(png_write_file(path_in("tiny.png"), px, 3, 2, 9), 0);
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	CHECK(png_image_begin_read_from_file(&img, path_in("tiny.png")) != 0);
	img.format = PNG_FORMAT_RGB;
	CHECK(png_image_finish_read(&img, NULL, back, 9, NULL) != 0);
	CHECK_MEM_EQ(back, px, sizeof(px));
	CHECK_INT_EQ(stat(path_in("tiny.png"), &st), 0);
	CHECK_INT_EQ(st.st_mode & 0777, 0600);
	CHECK_INT_EQ(png_write_file(path_in("tiny.png"), px, 3, 2, 8), -EINVAL);
	CHECK_INT_EQ(png_write_file(path_in("tiny.png"), px, 0, 2, 9), -EINVAL);
	CHECK_INT_EQ(png_write_file("/nonexistent-dir/x.png", px, 3, 2, 9), -ENOENT);
}

/* ---- highrise-probe ------------------------------------------------------- */

/* Runs highrise-probe with args while the fake agent serves; stdout into out. */
static int run_probe(const char *const *args, char *out, size_t cap)
{
	char probe[600];
	const char *argv[40];
	int pipefd[2], status = 0, n = 0;
	size_t len = 0;
	pid_t pid;

	snprintf(probe, sizeof(probe), "%s/client/highrise-probe", bin_dir);
	argv[n++] = probe;
	for (int i = 0; args[i] && n < 39; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe(pipefd) < 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		execv(probe, (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", probe, strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	out[0] = '\0';
	for (int i = 0; i < 3000; i++) {
		ssize_t r = read(pipefd[0], out + len, cap - 1 - len);
		if (r > 0)
			len += (size_t)r;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			while ((r = read(pipefd[0], out + len, cap - 1 - len)) > 0)
				len += (size_t)r;
			out[len] = '\0';
			close(pipefd[0]);
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		}
		run_once(); /* the fake agent lives on this loop */
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(pipefd[0]);
	fprintf(stderr, "highrise-probe did not finish\n");
	return -1;
}

static void test_probe(void)
{
	char port[64], out[16384];
	cJSON *j, *lat;
	int rc;

	if (!bin_dir) {
		printf("case: highrise-probe: skipped (HIGHRISE_BINARY_DIR is not set)\n");
		return;
	}
	printf("case: highrise-probe streams, types, clicks, writes PNG and JSON\n");
	agent_reset(SC_PACED);
	snprintf(port, sizeof(port), "127.0.0.1:%u", agent.port);
	{
		const char *args[] = {"--agent",     port,
				      "--ticket",    path_in("ticket.b64"),
				      "--ca",	     path_in("ca.pem"),
				      "--name",	     "agent.test",
				      "--frames",    "3",
				      "--seconds",   "10",
				      "--png",	     path_in("probe.png"),
				      "--type",	     "Hi!\\n",
				      "--click",     "5,6",
				      "--keys",	     "ctrl+c",
				      "--key-delay", "1",
				      "--json",	     "--quiet",
				      NULL};
		rc = run_probe(args, out, sizeof(out));
	}
	CHECK_INT_EQ(rc, 0);
	j = cJSON_Parse(out);
	CHECK(j != NULL);
	if (!j)
		fprintf(stderr, "  not JSON: %s\n", out);
	if (j) {
		CHECK(cJSON_GetObjectItem(j, "frames")->valuedouble >= 3);
		CHECK(cJSON_GetObjectItem(j, "bytes")->valuedouble > 1000);
		CHECK(cJSON_GetObjectItem(j, "keyframes")->valuedouble == 1);
		CHECK(cJSON_GetObjectItem(j, "width")->valuedouble == DESK_W);
		CHECK(cJSON_GetObjectItem(j, "height")->valuedouble == DESK_H);
		lat = cJSON_GetObjectItem(j, "latency_ms");
		CHECK(lat && cJSON_IsNumber(cJSON_GetObjectItem(lat, "p50")));
		CHECK(lat && cJSON_GetObjectItem(lat, "p99")->valuedouble >= 0);
		CHECK(lat && cJSON_GetObjectItem(lat, "p99")->valuedouble < 5000);
		CHECK(cJSON_IsNumber(
			cJSON_GetObjectItem(cJSON_GetObjectItem(j, "decode_ms"), "p50")));
		CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "control")));
		CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "bye")));
		CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")));
		printf("  %s", out);
		cJSON_Delete(j);
	}
	/* scripted input, in order: H i ! Enter, then the click, then ctrl+c */
	CHECK_INT_EQ(agent.nkeys, 12 + 4);
	CHECK_INT_EQ(agent.keys[0].scancode, KEY_LEFTSHIFT);
	CHECK_INT_EQ(agent.keys[1].scancode, KEY_H);
	CHECK_INT_EQ(agent.keys[1].keysym, 'H');
	CHECK_INT_EQ(agent.keys[10].scancode, KEY_ENTER);
	CHECK_INT_EQ(agent.keys[10].flags, MSG_KEY_DOWN);
	CHECK_INT_EQ(agent.keys[12].scancode, KEY_LEFTCTRL);
	CHECK_INT_EQ(agent.keys[13].scancode, KEY_C);
	CHECK_INT_EQ(agent.npointers, 3);
	CHECK_INT_EQ(agent.pointers[0].x, 5);
	CHECK_INT_EQ(agent.pointers[0].y, 6);
	CHECK_INT_EQ(agent.pointers[0].buttons, 0);
	CHECK_INT_EQ(agent.pointers[1].buttons, 1);
	CHECK_INT_EQ(agent.pointers[2].buttons, 0);
	CHECK_INT_EQ(agent.byes, 1);
	/* the PNG is the last frame the probe decoded (and acknowledged) */
	CHECK(agent.nacks >= 3);
	{
		png_image img;
		size_t n = (size_t)DESK_W * DESK_H * 3;
		uint8_t *rgb = malloc(n);
		const struct packet *p = agent.sent[agent.acks[agent.nacks - 1]];

		memset(&img, 0, sizeof(img));
		img.version = PNG_IMAGE_VERSION;
		CHECK(png_image_begin_read_from_file(&img, path_in("probe.png")) != 0);
		CHECK_INT_EQ(img.width, DESK_W);
		CHECK_INT_EQ(img.height, DESK_H);
		img.format = PNG_FORMAT_RGB;
		if (img.width == DESK_W && img.height == DESK_H &&
		    png_image_finish_read(&img, NULL, rgb, DESK_W * 3, NULL) && p) {
			double psnr = psnr_rgb(rgb, DESK_W * 3, p->scene, DESK_W, DESK_H);
			printf("  PNG: RGB PSNR %.1f dB against frame %u\n", psnr,
			       agent.acks[agent.nacks - 1]);
			CHECK(psnr >= 30.0);
		} else {
			CHECK(!"the PNG reads back");
			png_image_free(&img);
		}
		free(rgb);
	}
	RUN_UNTIL(agent.conn == NULL);

	printf("case: highrise-probe prints a summary for people\n");
	agent_reset(SC_PACED);
	{
		const char *args[] = {"--agent",  port,
				      "--ticket", path_in("ticket.bin"),
				      "--ca",	  path_in("ca.pem"),
				      "--name",	  "agent.test",
				      "--frames", "2",
				      "--quiet",  NULL};
		const char *by_address[] = {"--agent",	port,
					    "--ticket", path_in("ticket.bin"),
					    "--ca",	path_in("ca.pem"),
					    "--frames", "2",
					    "--quiet",	NULL};
		rc = run_probe(args, out, sizeof(out));
		CHECK_INT_EQ(rc, 0);
		CHECK_STR_EQ(out, ""); /* --quiet: nothing on stdout without --json */
		RUN_UNTIL(agent.conn == NULL);
		agent_reset(SC_PACED);
		rc = run_probe(by_address, out, sizeof(out)); /* verified against the IP SAN */
		CHECK_INT_EQ(rc, 0);
		RUN_UNTIL(agent.conn == NULL);
		agent_reset(SC_PACED);
		args[10] = "--verbose";
		rc = run_probe(args, out, sizeof(out));
		CHECK_INT_EQ(rc, 0);
		CHECK(strstr(out, "frames      ") != NULL);
		CHECK(strstr(out, "latency     p50 ") != NULL);
		printf("%s", out);
	}
	RUN_UNTIL(agent.conn == NULL);

	printf("case: highrise-probe gets fewer frames than asked: exit 3\n");
	agent_reset(SC_PACED);
	{
		const char *args[] = {
			"--agent",	   port,       "--ticket", path_in("ticket.bin"), "--ca",
			path_in("ca.pem"), "--frames", "50",	   "--seconds",		  "0.5",
			"--json",	   "--quiet",  NULL};
		rc = run_probe(args, out, sizeof(out));
	}
	CHECK_INT_EQ(rc, 3);
	j = cJSON_Parse(out);
	CHECK(j != NULL);
	if (j) {
		CHECK(cJSON_GetObjectItem(j, "frames")->valuedouble == SCENES - 1);
		CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(j, "error")),
			     "7 of 50 frames arrived in 0.5 s");
		CHECK(cJSON_IsNumber(cJSON_GetObjectItem(j, "rtt_ms")));
		cJSON_Delete(j);
	}
	RUN_UNTIL(agent.conn == NULL);

	printf("case: highrise-probe plays AUDIO into a WAV file, with an A/V trace\n");
	agent_reset(SC_AUDIO);
	{
		const char *args[] = {"--agent",     port,
				      "--ticket",    path_in("ticket.bin"),
				      "--ca",	     path_in("ca.pem"),
				      "--name",	     "agent.test",
				      "--seconds",   "0.6",
				      "--audio-out", path_in("probe.wav"),
				      "--av-trace",  path_in("probe.trace"),
				      "--json",	     "--quiet",
				      NULL};
		rc = run_probe(args, out, sizeof(out));
	}
	CHECK_INT_EQ(rc, 0);
	CHECK(agent.caps & MSG_CAP_OPUS);
	CHECK(!(agent.caps & MSG_CAP_MIC));
	j = cJSON_Parse(out);
	CHECK(j != NULL);
	if (j) {
		cJSON *au = cJSON_GetObjectItem(j, "audio");
		CHECK(cJSON_IsObject(au));
		CHECK(cJSON_GetObjectItem(au, "packets")->valuedouble == 3);
		CHECK(cJSON_GetObjectItem(au, "refused")->valuedouble == 0);
		CHECK(cJSON_GetObjectItem(au, "mic_packets")->valuedouble == 0);
		CHECK(cJSON_IsNumber(cJSON_GetObjectItem(au, "target_ms")));
		CHECK(cJSON_IsNull(cJSON_GetObjectItem(au, "lipsync_ms"))); /* no picture */
		cJSON_Delete(j);
	}
	{
		struct stat wst;
		uint8_t h[44];
		FILE *wf = fopen(path_in("probe.wav"), "rb");
		CHECK(wf != NULL);
		CHECK(stat(path_in("probe.wav"), &wst) == 0);
		if (wf) {
			CHECK_INT_EQ(fread(h, 1, 44, wf), 44);
			CHECK(memcmp(h, "RIFF", 4) == 0 && memcmp(h + 36, "data", 4) == 0);
			uint32_t data = h[40] | h[41] << 8 | h[42] << 16 | (uint32_t)h[43] << 24;
			CHECK_INT_EQ((uint64_t)wst.st_size, 44u + data);
			CHECK(data >= 48000 * 4 / 4); /* a quarter of a second at least */
			fclose(wf);
		}
		char line[200];
		int wav_starts = 0, audio_lines = 0;
		FILE *tf = fopen(path_in("probe.trace"), "r");
		CHECK(tf != NULL);
		while (tf && fgets(line, sizeof(line), tf)) {
			long long a, b;
			int peak;
			if (sscanf(line, "wav_start %lld", &a) == 1)
				wav_starts++;
			if (sscanf(line, "audio %lld %lld %d", &a, &b, &peak) == 3)
				audio_lines++;
		}
		if (tf)
			fclose(tf);
		CHECK_INT_EQ(wav_starts, 1);
		CHECK(audio_lines >= 25);
	}
	RUN_UNTIL(agent.conn == NULL);

	printf("case: highrise-probe --no-audio: no CAP_OPUS, \"audio\": null\n");
	agent_reset(SC_AUDIO);
	{
		const char *args[] = {"--agent",    port,
				      "--ticket",   path_in("ticket.bin"),
				      "--ca",	    path_in("ca.pem"),
				      "--name",	    "agent.test",
				      "--seconds",  "0.3",
				      "--no-audio", "--json",
				      "--quiet",    NULL};
		rc = run_probe(args, out, sizeof(out));
	}
	CHECK_INT_EQ(rc, 0);
	CHECK(!(agent.caps & MSG_CAP_OPUS));
	j = cJSON_Parse(out);
	CHECK(j != NULL);
	if (j) {
		CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "audio")));
		cJSON_Delete(j);
	}
	RUN_UNTIL(agent.conn == NULL);
	{
		const char *args[] = {"--agent",    port,	   "--ticket", "t",
				      "--no-audio", "--audio-out", "x.wav",    NULL};
		CHECK_INT_EQ(run_probe(args, out, sizeof(out)), 2);
	}

	printf("case: highrise-probe refused: exit 1, the reason in JSON\n");
	agent_reset(SC_BYE_EXPIRED);
	{
		const char *args[] = {"--agent",  port,
				      "--ticket", path_in("ticket.bin"),
				      "--ca",	  path_in("ca.pem"),
				      "--name",	  "agent.test",
				      "--json",	  NULL};
		rc = run_probe(args, out, sizeof(out));
	}
	CHECK_INT_EQ(rc, 1);
	j = cJSON_Parse(out);
	CHECK(j != NULL);
	if (j) {
		CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(j, "bye")),
			     "the agent refused the ticket: connect ticket expired");
		CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "ok")));
		CHECK(cJSON_GetObjectItem(j, "frames")->valuedouble == 0);
		CHECK(cJSON_IsNull(
			cJSON_GetObjectItem(cJSON_GetObjectItem(j, "latency_ms"), "p50")));
		cJSON_Delete(j);
	}
	RUN_UNTIL(agent.conn == NULL);

	printf("case: highrise-probe usage errors: exit 2\n");
	{
		const char *none[] = {NULL};
		const char *bad_frames[] = {"--agent",	port, "--ticket", "t",
					    "--frames", "x",  NULL};
		const char *bad_agent[] = {"--agent", "host:99999", "--ticket", "t", NULL};
		const char *bad_type[] = {"--agent", port, "--ticket", "t", "--type", "\\q", NULL};
		const char *bad_keys[] = {"--agent", port,	  "--ticket", "t",
					  "--keys",  "ctrl+nope", NULL};
		const char *help[] = {"--help", NULL};

		CHECK_INT_EQ(run_probe(none, out, sizeof(out)), 2);
		CHECK_INT_EQ(run_probe(bad_frames, out, sizeof(out)), 2);
		CHECK_INT_EQ(run_probe(bad_agent, out, sizeof(out)), 2);
		CHECK_INT_EQ(run_probe(bad_type, out, sizeof(out)), 2);
		CHECK_INT_EQ(run_probe(bad_keys, out, sizeof(out)), 2);
		CHECK_INT_EQ(run_probe(help, out, sizeof(out)), 0);
		CHECK(strstr(out, "Exit status:") != NULL);
	}
}

/* ---- set-up --------------------------------------------------------------- */

static int certs(const char *a1, const char *a2, const char *a3, const char *a4, const char *a5)
{
	char tool[600];
	const char *argv[] = {tool, "--dir", tmp, a1, a2, a3, a4, a5, NULL};
	int status = 0;
	pid_t pid;

	snprintf(tool, sizeof(tool), "%s/certs/highrise-certs", src_dir);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 1);
		execv(tool, (char *const *)argv);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void make_ticket(void)
{
	EVP_PKEY *key = ticket_key_load_private(path_in("ticket.key"));
	uint8_t pub[TICKET_CLIENT_KEY_LEN];
	struct ticket t;

	/* as broker_client_connect does: a fresh key pair whose public half the ticket names */
	client_key = ticket_client_key_new(pub);
	CHECK(key != NULL && client_key != NULL);
	CHECK_INT_EQ(ticket_init(&t, "alice", "desk-1", "agent.test", "s-42", pub, time(NULL), 60),
		     0);
	CHECK_INT_EQ(ticket_sign(&t, key, ticket, sizeof(ticket), &ticket_len), 0);
	EVP_PKEY_free(key);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	const char *tmpdir = getenv("TMPDIR");
	bool key_a[SCENES] = {true, false, false, false, false, false, false, true};
	bool key_b[3] = {true, false, true};

	src_dir = getenv("HIGHRISE_SOURCE_DIR");
	bin_dir = getenv("HIGHRISE_BINARY_DIR");
	if (!src_dir || !*src_dir) {
		fprintf(stderr, "test_client: HIGHRISE_SOURCE_DIR is not set (run it with ctest, "
				"or set it to the source tree)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	log_open("test_client", LOG_LEVEL_WARN, LOG_TARGET_STDERR);
	snprintf(tmp, sizeof(tmp), "%s/highrise-test-client-XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (!mkdtemp(tmp)) {
		fprintf(stderr, "test_client: mkdtemp %s: %s\n", tmp, strerror(errno));
		return 2;
	}
	CHECK_INT_EQ(certs("init", NULL, NULL, NULL, NULL), 0);
	CHECK_INT_EQ(certs("issue", "agent", "agent.test", "--san", "DNS:agent.test,IP:127.0.0.1"),
		     0);
	CHECK_INT_EQ(certs("issue", "client", "probe", NULL, NULL), 0);
	CHECK_INT_EQ(certs("ticket-key", NULL, NULL, NULL, NULL), 0);
	if (check_failed) {
		fprintf(stderr, "test_client: cannot make the test certificates\n");
		goto out;
	}
	make_ticket();
	encode_stream(scenes_a, stream_a, SCENES, DESK_W, DESK_H, key_a);
	encode_stream(scenes_b, stream_b, 3, 400, 300, key_b);
	if (check_failed)
		goto out_scenes;

	base = event_base_new();
	agent_start();
	test_decoder();
	test_keymap();
	test_stats();
	test_png();
	test_stream();
	test_bye_refused();
	hostile(SC_VIDEO_FIRST, "VIDEO before WELCOME", "VIDEO before WELCOME");
	hostile(SC_RESIZE_ZERO, "RESIZE 0x0", "malformed RESIZE");
	hostile(SC_HUGE_CLIPBOARD, "a 4 GB CLIPBOARD", "bad frame length");
	hostile(SC_AUDIO_FIRST, "AUDIO before WELCOME", "AUDIO before WELCOME");
	test_audio();
	test_view_only();
	test_tls_failures();
	test_timeout_and_free();
	test_probe();
	agent_stop();
	event_base_free(base);
out_scenes:
	free_scenes();
out:
	EVP_PKEY_free(client_key);
	nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return check_done("test_client");
}
