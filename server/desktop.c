/* SPDX-License-Identifier: MIT */
#include "desktop.h"

#include "capture.h"
#include "encoder.h"
#include "error.h"
#include "input.h"
#include "log.h"
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CMD_QUEUE_LEN	1024 /* input events waiting for the pipeline */
#define OUT_QUEUE_LEN	8    /* encoded frames and news waiting for the loop */
#define CAPTURE_WAIT_MS 4    /* longest the pipeline sleeps in the console: input waits this */
#define LAG_HARD_FACTOR 4    /* skip a client at max_inflight * this */
#define LAG_BYTES	(8u << 20) /* or when this much is queued to it */
#define WELCOME_WAIT_MS 15000	   /* a console that does not come up by then: BYE */
#define BITRATE_FLOOR	500
#define RETRY_MAX_MS	5000
#define SENT_RING	64
#define RESIZE_QUIET_MS 250  /* apply the newest RESIZE_REQUEST after this much quiet */
#define RESIZE_WAIT_MS	1000 /* but never hold one back longer than this */

enum cmd_kind {
	CMD_INPUT,
	CMD_CLIPBOARD,
	CMD_KEYFRAME,
	CMD_RESIZE,
	CMD_STOP,
};

struct cmd {
	enum cmd_kind kind;
	/* CMD_INPUT: KEY, POINTER, SCROLL, TOUCH or PEN; CMD_RESIZE: RESIZE_REQUEST (no pointers
	 * inside) */
	struct msg input;
	char *text; /* CMD_CLIPBOARD: owned, NUL-terminated */
	size_t len;
};

static void cmd_free(void *p)
{
	struct cmd *c = p;
	if (c)
		free(c->text);
	free(c);
}

enum news_kind {
	NEWS_VIDEO,
	NEWS_RESIZE,
	NEWS_CURSOR,
	NEWS_CONSOLE_LOST,
	NEWS_CONSOLE_BACK,
	NEWS_CLIPBOARD,
	NEWS_RESIZE_REFUSED,
	NEWS_STOPPED,
};

struct news {
	enum news_kind kind;
	struct encoder_packet pkt; /* NEWS_VIDEO */
	uint16_t width, height;	   /* NEWS_RESIZE, NEWS_CURSOR */
	bool resizable;		   /* NEWS_RESIZE: the console takes RESIZE_REQUEST */
	uint16_t hot_x, hot_y;	   /* NEWS_CURSOR */
	uint8_t *pixels;	   /* NEWS_CURSOR, owned */
	char text[256];		   /* NEWS_CONSOLE_LOST, NEWS_RESIZE_REFUSED */
	char *clip;		   /* NEWS_CLIPBOARD, owned */
	size_t clip_len;
};

struct session {
	struct desktop *d;
	struct conn *conn;
	struct session *next;
	char user[130];
	bool welcomed;
	bool control;
	bool clipboard;	    /* shares the clipboard (announced it, and it is on) */
	bool want_keyframe; /* skipped frames: resume at the next key frame */
	uint32_t next_frame;
	uint32_t acked; /* highest frame acknowledged + 1 (0: none yet) */
	uint64_t sent_us[SENT_RING];
	double rtt_ms; /* smoothed */
	uint16_t max_w, max_h;
	struct input_state held;
	uint64_t joined_us;
	uint64_t refused_us; /* the last STATUS RESIZE_REFUSED we answered a request with */
};

enum pipe_state {
	PIPE_IDLE,
	PIPE_RUNNING,
	PIPE_STOPPING, /* CMD_STOP sent, waiting for NEWS_STOPPED */
};

struct desktop {
	struct event_base *base;
	char *id, *uri, *password, *codec;
	const struct capture_impl *impl;
	int fps, max_inflight, bitrate_max;
	bool clipboard;
	size_t clipboard_max;
	void (*on_welcome)(struct conn *c, void *ud);
	void *ud;

	/* loop thread */
	struct session *sessions;
	struct event *news_ev;
	struct event *tick_ev; /* 250 ms: welcome timeouts, bitrate, key frame retries */
	enum pipe_state state;
	uint16_t width, height; /* 0 until the console reported its size */
	bool console_up;
	bool console_known;  /* the running pipeline reported LOST or BACK */
	struct news *cursor; /* the last shape, for clients that join later */
	uint64_t last_keyframe_req_us, last_lag_us, last_raise_us;
	bool resizable;		     /* the console takes RESIZE_REQUEST (the pipeline said) */
	struct event *resize_ev;     /* RESIZE_QUIET_MS after the last RESIZE_REQUEST */
	bool resize_pending;	     /* a request waits for quiet */
	uint16_t resize_w, resize_h; /* the newest request */
	uint64_t resize_first_us;    /* when the oldest request still waiting came */

	/* shared with the pipeline */
	struct queue *cmds;
	struct queue *news;
	pthread_t thread;
	atomic_int throttle; /* 1: every client lags, collect damage only */
	atomic_int bitrate;  /* kbit/s the pipeline should use */
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void news_free(void *p)
{
	struct news *n = p;
	if (!n)
		return;
	encoder_packet_free(&n->pkt);
	free(n->pixels);
	free(n->clip);
	free(n);
}

static struct news *news_new(enum news_kind kind)
{
	struct news *n = calloc(1, sizeof(*n));
	if (n)
		n->kind = kind;
	return n;
}

/* ---- the pipeline thread ------------------------------------------------ */

struct pipeline {
	struct desktop *d;
	struct capture *cap;
	struct encoder *enc;
	struct capture_frame frame; /* scratch for capture next() */
	const uint8_t *pixels;	    /* the console's persistent framebuffer (capture.h) */
	int width, height, stride;
	struct rect damage[CAPTURE_DAMAGE_MAX];
	size_t ndamage;
	uint64_t damage_since_us; /* capture time of the oldest pending damage */
	int bitrate;
	bool have_frame;
	bool resizable; /* the open console can be resized (capture.h can_resize) */
	bool stop;
};

/* Posts news to the loop; waits for room rather than drop a frame the decoder needs. */
static void post(struct pipeline *p, struct news *n)
{
	if (!n)
		return;
	while (queue_push_wait(p->d->news, n, 100) == -ETIMEDOUT) {
		if (p->stop)
			break;
	}
}

static void add_damage(struct pipeline *p, const struct rect *r, size_t n, uint64_t t)
{
	if (n && p->ndamage == 0)
		p->damage_since_us = t;
	for (size_t i = 0; i < n; i++) {
		if (p->ndamage < CAPTURE_DAMAGE_MAX) {
			p->damage[p->ndamage++] = r[i];
			continue;
		}
		/* too many: merge everything into one bounding box */
		struct rect *b = &p->damage[0];
		for (size_t k = 1; k < p->ndamage; k++) {
			int32_t x1 = b->x + b->width, y1 = b->y + b->height;
			const struct rect *o = &p->damage[k];
			b->x = b->x < o->x ? b->x : o->x;
			b->y = b->y < o->y ? b->y : o->y;
			x1 = x1 > o->x + o->width ? x1 : o->x + o->width;
			y1 = y1 > o->y + o->height ? y1 : o->y + o->height;
			b->width = x1 - b->x;
			b->height = y1 - b->y;
		}
		p->ndamage = 1;
		i--; /* retry this rect against the merged list */
	}
}

/* A RESIZE_REQUEST the loop let through: ask the console; its REINIT does the rest. */
static void resize_console(struct pipeline *p, uint16_t w, uint16_t h)
{
	char why[200] = "";
	int rc;

	if (!p->cap) {
		rc = -EIO;
		snprintf(why, sizeof(why), "the desktop's console is not connected");
	} else if (!p->resizable || !p->d->impl->resize) {
		rc = -ENOTSUP;
		snprintf(why, sizeof(why), "this desktop's console cannot be resized");
	} else {
		rc = p->d->impl->resize(p->cap, w, h, why, sizeof(why));
	}
	if (rc == 0)
		return;
	log_warn("desktop %s: cannot resize the console to %ux%u: %s", p->d->id, w, h, why);
	struct news *n = news_new(NEWS_RESIZE_REFUSED);
	if (n)
		snprintf(n->text, sizeof(n->text),
			 "the desktop stays at its size (%.150s); the picture is fitted to the "
			 "window",
			 why);
	post(p, n);
}

static void handle_cmd(struct pipeline *p, struct cmd *c)
{
	switch (c->kind) {
	case CMD_RESIZE:
		resize_console(p, c->input.u.resize_request.width,
			       c->input.u.resize_request.height);
		break;
	case CMD_STOP:
		p->stop = true;
		break;
	case CMD_KEYFRAME:
		if (p->enc)
			encoder_request_keyframe(p->enc);
		break;
	case CMD_INPUT:
		if (p->cap) {
			int rc = p->d->impl->inject(p->cap, &c->input);
			if (rc < 0 && rc != -ENOTSUP)
				log_debug("desktop %s: input not injected: %s", p->d->id,
					  hr_strerror(rc));
		}
		break;
	case CMD_CLIPBOARD:
		if (p->cap && p->d->impl->clipboard_set) {
			int rc = p->d->impl->clipboard_set(p->cap, c->text, c->len);
			if (rc < 0)
				log_warn("desktop %s: clipboard not set: %s", p->d->id,
					 hr_strerror(rc));
			else
				log_info("desktop %s: clipboard set from the client (%zu bytes)",
					 p->d->id, c->len);
		}
		break;
	}
	cmd_free(c);
}

static void drain_cmds(struct pipeline *p)
{
	struct cmd *c;
	while (!p->stop && (c = queue_try_pop(p->d->cmds)))
		handle_cmd(p, c);
}

/* Sleeps up to ms, waking early for a command. */
static void wait_cmds(struct pipeline *p, int ms)
{
	struct cmd *c = queue_pop_wait(p->d->cmds, ms);
	if (c)
		handle_cmd(p, c);
	drain_cmds(p);
}

static bool open_console(struct pipeline *p)
{
	struct capture_cfg cfg = {.password = p->d->password, .connect_timeout_ms = 3000};
	int backoff = 500;
	bool told = false;

	while (!p->stop) {
		p->cap = p->d->impl->open(p->d->uri, &cfg);
		if (p->cap)
			return true;
		if (!told) {
			struct news *n = news_new(NEWS_CONSOLE_LOST);
			if (n)
				snprintf(n->text, sizeof(n->text),
					 "the desktop's console is not reachable; retrying");
			post(p, n);
			told = true;
		}
		log_info("desktop %s: console %s unreachable, retrying in %d ms", p->d->id,
			 p->d->uri, backoff);
		wait_cmds(p, backoff);
		backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
	}
	return false;
}

static bool reinit_encoder(struct pipeline *p)
{
	const struct capture_frame *f = &p->frame;

	p->pixels = f->pixels;
	p->width = f->width;
	p->height = f->height;
	p->stride = f->stride;
	if (p->enc) {
		int rc = encoder_resize(p->enc, f->width, f->height);
		if (rc == 0)
			return true;
		log_error("desktop %s: cannot resize the encoder to %dx%d: %s", p->d->id, f->width,
			  f->height, hr_strerror(rc));
		encoder_free(p->enc);
		p->enc = NULL;
	}
	struct encoder_cfg cfg = {
		.width = f->width,
		.height = f->height,
		.codec = p->d->codec,
		.bitrate_kbps = p->bitrate,
		.fps = p->d->fps,
	};
	p->enc = encoder_new(&cfg);
	return p->enc != NULL;
}

/*
 * Encodes what is pending (damage, a key frame request, a due refinement).
 * Returns true when a frame went out, so the frame pacing counts only real
 * frames: damage after a quiet spell is encoded at once.
 */
static bool encode(struct pipeline *p)
{
	struct encoder_packet pkt;
	int target = atomic_load(&p->d->bitrate);
	int rc;

	if (!p->enc || !p->have_frame)
		return false;
	if (target != p->bitrate) {
		encoder_set_bitrate(p->enc, target);
		p->bitrate = target;
	}
	rc = encoder_submit(p->enc, p->pixels, p->stride, p->damage, p->ndamage,
			    p->ndamage ? p->damage_since_us : now_us());
	if (rc < 0) {
		log_warn("desktop %s: encoding failed: %s", p->d->id, hr_strerror(rc));
		return false;
	}
	p->ndamage = 0;
	if (rc == ENCODER_AGAIN)
		return false;
	while (encoder_receive(p->enc, &pkt) == ENCODER_OK) {
		struct news *n = news_new(NEWS_VIDEO);
		if (!n) {
			encoder_packet_free(&pkt);
			encoder_request_keyframe(p->enc); /* the stream just lost a frame */
			continue;
		}
		n->pkt = pkt;
		post(p, n);
	}
	return true;
}

static void post_cursor(struct pipeline *p)
{
	struct capture_cursor cur;
	struct news *n;
	size_t size;

	if (!p->d->impl->cursor || p->d->impl->cursor(p->cap, &cur) != 1)
		return;
	if (cur.width > MSG_CURSOR_MAX || cur.height > MSG_CURSOR_MAX)
		return;
	n = news_new(NEWS_CURSOR);
	if (!n)
		return;
	size = (size_t)cur.width * cur.height * 4;
	n->width = cur.width;
	n->height = cur.height;
	n->hot_x = cur.hot_x < cur.width ? cur.hot_x : 0;
	n->hot_y = cur.hot_y < cur.height ? cur.hot_y : 0;
	if (size) {
		n->pixels = malloc(size);
		if (!n->pixels) {
			free(n);
			return;
		}
		memcpy(n->pixels, cur.pixels, size);
	}
	post(p, n);
}

/* The console's clipboard changed: news for the clients that share it. */
static void poll_clipboard(struct pipeline *p)
{
	struct news *n;
	char *text;
	size_t len;

	if (!p->d->clipboard || !p->d->impl->clipboard_get ||
	    p->d->impl->clipboard_get(p->cap, p->d->clipboard_max, &text, &len) != 1)
		return;
	n = news_new(NEWS_CLIPBOARD);
	if (!n) {
		free(text);
		return;
	}
	n->clip = text;
	n->clip_len = len;
	post(p, n);
}

static void *pipeline_main(void *arg)
{
	struct pipeline p = {.d = arg};
	int64_t frame_gap_us;
	uint64_t last_encode = 0;

	pthread_setname_np(pthread_self(), "hr-pipeline");
	p.bitrate = atomic_load(&p.d->bitrate);
	frame_gap_us = 1000000 / (p.d->fps > 0 ? p.d->fps : 30);

	while (!p.stop) {
		if (!p.cap) {
			if (!open_console(&p))
				break;
			post(&p, news_new(NEWS_CONSOLE_BACK));
			p.have_frame = false;
			p.resizable = p.d->impl->can_resize && p.d->impl->resize &&
				      p.d->impl->can_resize(p.cap);
		}
		drain_cmds(&p);
		if (p.stop)
			break;

		enum capture_status st = p.d->impl->next(p.cap, CAPTURE_WAIT_MS, &p.frame);
		uint64_t t = now_us();
		switch (st) {
		case CAPTURE_REINIT: {
			struct news *n = news_new(NEWS_RESIZE);
			p.have_frame = reinit_encoder(&p);
			if (!p.have_frame) {
				log_error("desktop %s: no encoder for %dx%d", p.d->id,
					  p.frame.width, p.frame.height);
				wait_cmds(&p, 1000);
				continue;
			}
			if (n) {
				n->width = (uint16_t)p.frame.width;
				n->height = (uint16_t)p.frame.height;
				n->resizable = p.resizable;
			}
			post(&p, n);
			p.ndamage = 0;
			struct rect all = {0, 0, p.width, p.height};
			add_damage(&p, &all, 1, t);
			break;
		}
		case CAPTURE_OK:
			add_damage(&p, p.frame.damage, p.frame.ndamage, t);
			break;
		case CAPTURE_AGAIN:
			break;
		case CAPTURE_ERROR: {
			struct news *n = news_new(NEWS_CONSOLE_LOST);
			if (n)
				snprintf(n->text, sizeof(n->text),
					 "the desktop's console was lost; reconnecting");
			log_warn("desktop %s: console %s lost; reconnecting", p.d->id, p.d->uri);
			post(&p, n);
			p.d->impl->close(p.cap);
			p.cap = NULL;
			p.have_frame = false;
			p.ndamage = 0;
			wait_cmds(&p, 500);
			continue;
		}
		}
		post_cursor(&p);
		poll_clipboard(&p);

		/*
		 * Encode at most fps times a second, and not while every client
		 * lags: the damage keeps collecting, so the next frame shows the
		 * newest screen instead of a queue of old ones.
		 */
		uint64_t m = mono_us();
		if (atomic_load(&p.d->throttle) || (int64_t)(m - last_encode) < frame_gap_us)
			continue;
		if (queue_len(p.d->news) >= OUT_QUEUE_LEN - 2)
			continue;
		if (encode(&p))
			last_encode = m;
	}

	if (p.cap)
		p.d->impl->close(p.cap);
	encoder_free(p.enc);
	/* the loop joins the thread when this arrives; push_wait: it must not be lost */
	struct news *n = news_new(NEWS_STOPPED);
	while (n && queue_push_wait(p.d->news, n, 1000) == -ETIMEDOUT)
		;
	return NULL;
}

/* ---- the loop thread ------------------------------------------------- */

static void push_cmd(struct desktop *d, enum cmd_kind kind, const struct msg *input)
{
	struct cmd *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->kind = kind;
	if (input)
		c->input = *input;
	if (queue_push(d->cmds, c) < 0) {
		log_warn("desktop %s: pipeline busy, input dropped", d->id);
		free(c);
	}
}

static void start_pipeline(struct desktop *d)
{
	struct cmd *c;

	if (d->state != PIPE_IDLE)
		return;
	while ((c = queue_try_pop(d->cmds))) /* stale input from an earlier run */
		cmd_free(c);
	atomic_store(&d->throttle, 0);
	if (pthread_create(&d->thread, NULL, pipeline_main, d) != 0) {
		log_error("desktop %s: cannot start the pipeline thread: %m", d->id);
		return;
	}
	d->state = PIPE_RUNNING;
	log_info("desktop %s: pipeline started for %s", d->id, d->uri);
}

static void stop_pipeline(struct desktop *d)
{
	if (d->state != PIPE_RUNNING)
		return;
	struct cmd *c = calloc(1, sizeof(*c));
	if (c) {
		c->kind = CMD_STOP;
		while (queue_push(d->cmds, c) == -EAGAIN) /* make room: input is moot now */
			cmd_free(queue_try_pop(d->cmds));
	}
	d->state = PIPE_STOPPING;
}

static int send_status(struct session *s, uint16_t code, const char *text)
{
	struct msg m = {.type = MSG_STATUS};
	m.u.status.code = code;
	m.u.status.text.data = (const uint8_t *)text;
	m.u.status.text.len = msg_text_fit(text, MSG_REASON_MAX);
	return conn_send(s->conn, &m);
}

/* keyframe: ask the pipeline for one (it runs already); a fresh pipeline starts with one */
static void send_welcome(struct session *s, bool keyframe)
{
	struct desktop *d = s->d;
	char session_id[64];
	struct msg m = {.type = MSG_WELCOME};

	snprintf(session_id, sizeof(session_id), "%s", d->id);
	m.u.welcome.version = MSG_PROTOCOL_VERSION;
	m.u.welcome.flags = (s->control ? MSG_WELCOME_CONTROL : 0) |
			    (s->clipboard ? MSG_WELCOME_CLIPBOARD : 0) |
			    (s->control && d->resizable ? MSG_WELCOME_RESIZE : 0);
	m.u.welcome.width = d->width;
	m.u.welcome.height = d->height;
	m.u.welcome.codec = MSG_CODEC_H264;
	m.u.welcome.session.data = (const uint8_t *)session_id;
	m.u.welcome.session.len = strlen(session_id);
	if (conn_send(s->conn, &m) < 0)
		return;
	s->welcomed = true;
	s->want_keyframe = true;
	log_info("desktop %s: %s joined (%s%s)", d->id, s->user,
		 s->control ? "control" : "view only",
		 s->control && d->resizable ? ", may resize the desktop" : "");
	if (d->on_welcome)
		d->on_welcome(s->conn, d->ud);
	if (d->cursor) {
		struct msg c = {.type = MSG_CURSOR};
		c.u.cursor.width = d->cursor->width;
		c.u.cursor.height = d->cursor->height;
		c.u.cursor.hot_x = d->cursor->hot_x;
		c.u.cursor.hot_y = d->cursor->hot_y;
		c.u.cursor.pixels.data = d->cursor->pixels;
		c.u.cursor.pixels.len = (size_t)d->cursor->width * d->cursor->height * 4;
		conn_send(s->conn, &c);
	}
	if (keyframe) {
		push_cmd(d, CMD_KEYFRAME, NULL);
		d->last_keyframe_req_us = mono_us();
	}
}

static uint32_t inflight(const struct session *s)
{
	return s->next_frame - s->acked;
}

static bool lagging(const struct desktop *d, const struct session *s)
{
	return inflight(s) >= (uint32_t)d->max_inflight;
}

static bool far_behind(const struct desktop *d, const struct session *s)
{
	return inflight(s) >= (uint32_t)(d->max_inflight * LAG_HARD_FACTOR) ||
	       conn_pending(s->conn) > LAG_BYTES;
}

/* Throttle the pipeline only when nobody can take a frame. */
static void update_throttle(struct desktop *d)
{
	bool any = false, all_lag = true;

	for (struct session *s = d->sessions; s; s = s->next) {
		if (!s->welcomed)
			continue;
		any = true;
		if (!lagging(d, s))
			all_lag = false;
	}
	int t = any && all_lag;
	if (t && !atomic_load(&d->throttle))
		d->last_lag_us = mono_us();
	atomic_store(&d->throttle, t);
}

static void fan_out_video(struct desktop *d, const struct encoder_packet *pkt)
{
	bool want_keyframe = false;

	for (struct session *s = d->sessions; s; s = s->next) {
		struct msg m = {.type = MSG_VIDEO};

		if (!s->welcomed)
			continue;
		if (s->want_keyframe && !pkt->keyframe) {
			want_keyframe = true;
			continue;
		}
		if (far_behind(d, s)) {
			/* dropping a P frame breaks its successors: resume at a key frame */
			s->want_keyframe = true;
			continue;
		}
		m.u.video.frame = s->next_frame;
		m.u.video.capture_us = pkt->capture_us;
		m.u.video.flags = (pkt->keyframe ? MSG_VIDEO_KEYFRAME : 0) |
				  (pkt->refinement ? MSG_VIDEO_REFINE : 0);
		m.u.video.data.data = pkt->data;
		m.u.video.data.len = pkt->size;
		if (conn_send(s->conn, &m) < 0)
			continue;
		s->sent_us[s->next_frame % SENT_RING] = mono_us();
		s->next_frame++;
		s->want_keyframe = false;
	}
	/* someone waits for a key frame: ask, but not more than 4 times a second */
	uint64_t m = mono_us();
	if (want_keyframe && m - d->last_keyframe_req_us > 250000) {
		push_cmd(d, CMD_KEYFRAME, NULL);
		d->last_keyframe_req_us = m;
	}
	update_throttle(d);
}

static void fan_out_cursor(struct desktop *d, struct news *n)
{
	struct msg m = {.type = MSG_CURSOR};

	m.u.cursor.width = n->width;
	m.u.cursor.height = n->height;
	m.u.cursor.hot_x = n->hot_x;
	m.u.cursor.hot_y = n->hot_y;
	m.u.cursor.pixels.data = n->pixels;
	m.u.cursor.pixels.len = (size_t)n->width * n->height * 4;
	for (struct session *s = d->sessions; s; s = s->next)
		if (s->welcomed)
			conn_send(s->conn, &m);
}

static void fan_out_clipboard(struct desktop *d, const struct news *n)
{
	struct msg m = {.type = MSG_CLIPBOARD};
	int sent = 0;

	m.u.clipboard.format = MSG_CLIPBOARD_TEXT;
	m.u.clipboard.data.data = (const uint8_t *)n->clip;
	m.u.clipboard.data.len = n->clip_len;
	for (struct session *s = d->sessions; s; s = s->next)
		if (s->welcomed && s->clipboard && conn_send(s->conn, &m) == 0)
			sent++;
	log_info("desktop %s: clipboard changed on the desktop (%zu bytes): sent to %d "
		 "client(s)",
		 d->id, n->clip_len, sent);
}

static void on_resize(struct desktop *d, uint16_t w, uint16_t h, bool resizable)
{
	bool changed = d->width && (d->width != w || d->height != h);

	d->resizable = resizable;
	d->width = w;
	d->height = h;
	for (struct session *s = d->sessions; s; s = s->next) {
		if (!s->welcomed) {
			send_welcome(s, false); /* the frame after a REINIT is a key frame */
			continue;
		}
		if (changed) {
			struct msg m = {.type = MSG_RESIZE};
			m.u.resize.width = w;
			m.u.resize.height = h;
			conn_send(s->conn, &m);
			s->want_keyframe = true;
		}
	}
	if (changed)
		log_info("desktop %s: console resized to %ux%u", d->id, w, h);
}

static void news_cb(evutil_socket_t fd, short what, void *arg)
{
	struct desktop *d = arg;
	struct news *n;
	(void)fd;
	(void)what;

	while ((n = queue_try_pop(d->news))) {
		switch (n->kind) {
		case NEWS_VIDEO:
			fan_out_video(d, &n->pkt);
			break;
		case NEWS_RESIZE:
			on_resize(d, n->width, n->height, n->resizable);
			break;
		case NEWS_CURSOR:
			fan_out_cursor(d, n);
			news_free(d->cursor);
			d->cursor = n;
			n = NULL;
			break;
		case NEWS_CONSOLE_LOST:
			d->console_up = false;
			d->console_known = true;
			for (struct session *s = d->sessions; s; s = s->next)
				if (s->welcomed)
					send_status(s, MSG_STATUS_CONSOLE_LOST, n->text);
			break;
		case NEWS_CONSOLE_BACK:
			if (!d->console_up)
				for (struct session *s = d->sessions; s; s = s->next)
					if (s->welcomed)
						send_status(s, MSG_STATUS_OK,
							    "the desktop is back");
			d->console_up = true;
			d->console_known = true;
			break;
		case NEWS_CLIPBOARD:
			fan_out_clipboard(d, n);
			break;
		case NEWS_RESIZE_REFUSED:
			for (struct session *s = d->sessions; s; s = s->next)
				if (s->welcomed && s->control)
					send_status(s, MSG_STATUS_RESIZE_REFUSED, n->text);
			break;
		case NEWS_STOPPED:
			pthread_join(d->thread, NULL);
			d->state = PIPE_IDLE;
			d->console_known = false;
			log_info("desktop %s: pipeline stopped", d->id);
			if (d->sessions)
				start_pipeline(d); /* someone joined while it stopped */
			break;
		}
		news_free(n);
	}
}

/* Twice a second: consoles that never came up, and the bitrate. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct desktop *d = arg;
	uint64_t m = mono_us();
	int rate = atomic_load(&d->bitrate);
	(void)fd;
	(void)what;

	for (struct session *s = d->sessions; s; s = s->next) {
		if (!s->welcomed && m - s->joined_us > WELCOME_WAIT_MS * 1000ull)
			conn_close(s->conn, MSG_BYE_DESKTOP_UNAVAILABLE,
				   "the desktop's console is not reachable; try again later");
	}
	/* multiplicative decrease while clients lag, gentle increase while they keep up */
	if (m - d->last_lag_us < 500000) {
		int lower = rate * 85 / 100;
		rate = lower < BITRATE_FLOOR ? BITRATE_FLOOR : lower;
	} else if (m - d->last_lag_us > 2000000 && m - d->last_raise_us > 1000000) {
		int higher = rate + rate / 10 + 1;
		rate = higher > d->bitrate_max ? d->bitrate_max : higher;
		d->last_raise_us = m;
	}
	atomic_store(&d->bitrate, rate);
}

/* The newest RESIZE_REQUEST, once the requests stopped (or waited long enough). */
static void apply_resize(struct desktop *d)
{
	struct msg m = {.type = MSG_RESIZE_REQUEST};

	evtimer_del(d->resize_ev);
	if (!d->resize_pending)
		return;
	d->resize_pending = false;
	if (d->resize_w == d->width && d->resize_h == d->height) {
		log_debug("desktop %s: the console is %ux%u already", d->id, d->width, d->height);
		return;
	}
	log_info("desktop %s: resizing the console from %ux%u to %ux%u (the client's window)",
		 d->id, d->width, d->height, d->resize_w, d->resize_h);
	m.u.resize_request.width = d->resize_w;
	m.u.resize_request.height = d->resize_h;
	push_cmd(d, CMD_RESIZE, &m);
}

static void resize_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	apply_resize(arg);
}

/* At most one refusal a second per client, however fast it asks. */
static void refuse_resize(struct session *s, const char *text)
{
	uint64_t now = mono_us();

	if (s->refused_us && now - s->refused_us < 1000000)
		return;
	s->refused_us = now;
	send_status(s, MSG_STATUS_RESIZE_REFUSED, text);
}

/*
 * docs/protocol.md §5.19: only the controlling client's request, only when
 * the console can; the newest one after RESIZE_QUIET_MS of quiet (a window
 * drag sends many), or after RESIZE_WAIT_MS at the latest.
 */
static void resize_request(struct session *s, const struct msg_resize_request *q)
{
	struct desktop *d = s->d;
	uint64_t now = mono_us();
	struct timeval quiet = {0, RESIZE_QUIET_MS * 1000};

	if (!s->welcomed)
		return;
	if (!s->control) {
		log_debug("desktop %s: %s asked for %ux%u but is view only: ignored", d->id,
			  s->user, q->width, q->height);
		refuse_resize(s, "only the client in control can resize the desktop; the "
				 "picture is fitted to the window");
		return;
	}
	if (!d->resizable) {
		log_info("desktop %s: %s asked for %ux%u, but this console cannot be resized",
			 d->id, s->user, q->width, q->height);
		refuse_resize(s, "this desktop's console cannot be resized; the picture is fitted "
				 "to the window");
		return;
	}
	if (!d->resize_pending)
		d->resize_first_us = now;
	d->resize_pending = true;
	d->resize_w = q->width;
	d->resize_h = q->height;
	log_debug("desktop %s: %s asks for %ux%u", d->id, s->user, q->width, q->height);
	if (now - d->resize_first_us >= RESIZE_WAIT_MS * 1000ull)
		apply_resize(d);
	else
		evtimer_add(d->resize_ev, &quiet);
}

struct desktop *desktop_new(struct event_base *base, const struct desktop_cfg *cfg)
{
	struct desktop *d;
	const struct capture_impl *impl = capture_find(cfg->uri);
	struct timeval tick = {0, 250000};

	if (!impl)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->base = base;
	d->impl = impl;
	d->id = strdup(cfg->id);
	d->uri = strdup(cfg->uri);
	d->password = cfg->password ? strdup(cfg->password) : NULL;
	d->codec = cfg->codec ? strdup(cfg->codec) : NULL;
	d->fps = cfg->fps > 0 ? cfg->fps : 30;
	d->max_inflight = cfg->max_inflight > 0 ? cfg->max_inflight : 4;
	d->bitrate_max = cfg->bitrate_kbps > 0 ? cfg->bitrate_kbps : 10000;
	d->clipboard = cfg->clipboard;
	d->clipboard_max = cfg->clipboard_max ? cfg->clipboard_max : (1u << 20);
	d->on_welcome = cfg->on_welcome;
	d->ud = cfg->ud;
	atomic_init(&d->bitrate, d->bitrate_max);
	atomic_init(&d->throttle, 0);
	d->cmds = queue_new(CMD_QUEUE_LEN);
	d->news = queue_new(OUT_QUEUE_LEN);
	if (!d->id || !d->uri || (cfg->password && !d->password) || (cfg->codec && !d->codec) ||
	    !d->cmds || !d->news)
		goto fail;
	d->news_ev = event_new(base, queue_fd(d->news), EV_READ | EV_PERSIST, news_cb, d);
	d->tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, d);
	d->resize_ev = evtimer_new(base, resize_cb, d);
	if (!d->news_ev || !d->tick_ev || !d->resize_ev)
		goto fail;
	event_add(d->news_ev, NULL);
	event_add(d->tick_ev, &tick);
	return d;
fail:
	log_error("desktop %s: out of memory", cfg->id);
	desktop_free(d);
	return NULL;
}

void desktop_free(struct desktop *d)
{
	if (!d)
		return;
	/* the agent closes connections first; any session left is orphaned, freed at detach */
	for (struct session *s = d->sessions; s; s = s->next)
		s->d = NULL;
	if (d->state != PIPE_IDLE) {
		stop_pipeline(d);
		pthread_join(d->thread, NULL);
	}
	if (d->news_ev)
		event_free(d->news_ev);
	if (d->tick_ev)
		event_free(d->tick_ev);
	if (d->resize_ev)
		event_free(d->resize_ev);
	queue_free(d->news, news_free);
	queue_free(d->cmds, cmd_free);
	news_free(d->cursor);
	free(d->id);
	free(d->uri);
	if (d->password)
		memset(d->password, 0, strlen(d->password));
	free(d->password);
	free(d->codec);
	free(d);
}

const char *desktop_id(const struct desktop *d)
{
	return d->id;
}

enum desktop_console desktop_console(const struct desktop *d)
{
	if (d->state != PIPE_RUNNING || !d->console_known)
		return DESKTOP_CONSOLE_UNKNOWN;
	return d->console_up ? DESKTOP_CONSOLE_UP : DESKTOP_CONSOLE_LOST;
}

struct session *desktop_attach(struct desktop *d, struct conn *c, const char *user,
			       const struct msg_hello *hello)
{
	struct session *s = calloc(1, sizeof(*s)), **tail;

	if (!s)
		return NULL;
	s->d = d;
	s->conn = c;
	snprintf(s->user, sizeof(s->user), "%s", user);
	s->max_w = hello->max_width;
	s->max_h = hello->max_height;
	s->clipboard = d->clipboard && (hello->caps & MSG_CAP_CLIPBOARD);
	s->joined_us = mono_us();
	input_state_init(&s->held);
	/* the first one in holds control; anyone attached already means view only */
	s->control = true;
	for (struct session *o = d->sessions; o; o = o->next)
		if (o->control)
			s->control = false;
	for (tail = &d->sessions; *tail; tail = &(*tail)->next)
		;
	*tail = s;

	if (d->state == PIPE_RUNNING && d->width)
		send_welcome(s, true);
	else
		start_pipeline(d);
	return s;
}

static void inject(struct session *s, const struct msg *m)
{
	struct desktop *d = s->d;
	struct msg in = *m;

	if (!s->control || !d->width)
		return; /* view only: input is ignored, silently as with VNC's view-only */
	if (input_sanitize(&in, d->width, d->height) != INPUT_ACCEPT)
		return;
	if (in.type == MSG_PEN)
		log_debug("desktop %s: PEN %u,%u pressure %u tilt %d,%d flags 0x%x", d->id,
			  in.u.pen.x, in.u.pen.y, in.u.pen.pressure, in.u.pen.tilt_x,
			  in.u.pen.tilt_y, in.u.pen.flags);
	else if (in.type == MSG_TOUCH)
		log_debug("desktop %s: TOUCH %u phase %u at %u,%u", d->id, in.u.touch.id,
			  in.u.touch.phase, in.u.touch.x, in.u.touch.y);
	input_state_track(&s->held, &in);
	push_cmd(d, CMD_INPUT, &in);
}

/* docs/protocol.md §2: only with WELCOME CLIPBOARD; only the controlling client's. */
static void clipboard_from_client(struct session *s, const struct msg_clipboard *cb)
{
	struct desktop *d = s->d;
	struct cmd *c;

	if (!s->clipboard || !s->control || cb->format != MSG_CLIPBOARD_TEXT)
		return;
	if (cb->data.len > d->clipboard_max) {
		log_info("desktop %s: clipboard text of %zu bytes from %s is over "
			 "clipboard.max_bytes (%zu): not copied",
			 d->id, cb->data.len, s->user, d->clipboard_max);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->text = malloc(cb->data.len + 1))) {
		free(c);
		return;
	}
	c->kind = CMD_CLIPBOARD;
	memcpy(c->text, cb->data.data, cb->data.len); /* msg_decode checked: text, no NUL */
	c->text[cb->data.len] = '\0';
	c->len = cb->data.len;
	if (queue_push(d->cmds, c) < 0) {
		log_warn("desktop %s: pipeline busy, clipboard dropped", d->id);
		cmd_free(c);
	}
}

void desktop_session_msg(struct session *s, const struct msg *m)
{
	struct desktop *d = s->d;

	if (!d)
		return;
	switch (m->type) {
	case MSG_KEY:
	case MSG_POINTER:
	case MSG_SCROLL:
	case MSG_TOUCH:
	case MSG_PEN:
		inject(s, m);
		break;
	case MSG_CLIPBOARD:
		clipboard_from_client(s, &m->u.clipboard);
		break;
	case MSG_RESIZE_REQUEST:
		resize_request(s, &m->u.resize_request);
		break;
	case MSG_KEYFRAME_REQUEST: {
		uint64_t now = mono_us();
		if (now - d->last_keyframe_req_us > 250000) {
			push_cmd(d, CMD_KEYFRAME, NULL);
			d->last_keyframe_req_us = now;
		}
		break;
	}
	case MSG_ACK: {
		uint32_t f = m->u.ack.frame;
		/* only frames actually sent count; a lying client cannot unblock itself */
		if (f >= s->next_frame || f + 1 <= s->acked)
			break;
		s->acked = f + 1;
		double rtt = (double)(mono_us() - s->sent_us[f % SENT_RING]) / 1000.0;
		s->rtt_ms = s->rtt_ms ? s->rtt_ms * 0.875 + rtt * 0.125 : rtt;
		update_throttle(d);
		break;
	}
	default:
		break;
	}
}

void desktop_detach(struct session *s)
{
	struct desktop *d = s->d;
	struct session **pp;

	if (!d) {
		free(s);
		return;
	}
	if (s->control && d->resize_pending) {
		d->resize_pending = false; /* its owner left: nobody wants that size now */
		evtimer_del(d->resize_ev);
	}
	if (s->control) {
		struct msg rel[INPUT_RELEASE_MAX];
		int n = input_state_release_all(&s->held, rel, INPUT_RELEASE_MAX);
		for (int i = 0; i < n; i++)
			push_cmd(d, CMD_INPUT, &rel[i]);
	}
	for (pp = &d->sessions; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = s->next;
	if (s->welcomed)
		log_info("desktop %s: %s left", d->id, s->user);
	free(s);
	update_throttle(d);
	if (!d->sessions)
		stop_pipeline(d); /* nobody watching: stop capturing */
}
