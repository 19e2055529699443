/* SPDX-License-Identifier: MIT */
/*
 * The desktop worker process (worker.h): the pipeline that used to be a
 * thread of the agent, now behind a process boundary and a sandbox.
 *
 * Threads: the main thread runs the pipeline and is the only writer on the
 * link; "hr-wlink" reads the link and turns what the agent says into
 * commands on a bounded queue (input, clipboard, key frame, resize, ping,
 * stop) or into the two atomics CONTROL sets.
 */
#include "worker.h"

#include "capture.h"
#include "clock.h"
#include "encoder.h"
#include "error.h"
#include "log.h"
#include "queue.h"
#include "sandbox.h"
#include "wlink.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CMD_QUEUE_LEN	1024 /* input events waiting for the pipeline */
#define CAPTURE_WAIT_MS 4    /* longest the pipeline sleeps in the console (input wakes it) */
#define CONFIG_WAIT_MS	5000
#define LINK_BUF_MAX	(WLINK_FRAME_MAX + MSG_HEADER_SIZE)
#define LINK_SNDBUF	(4 << 20) /* a key frame of a big screen fits without a stall */

enum cmd_kind {
	CMD_INPUT,
	CMD_CLIPBOARD,
	CMD_KEYFRAME,
	CMD_RESIZE,
	CMD_PING,
	CMD_MIC,
	CMD_STOP,
};

struct cmd {
	enum cmd_kind kind;
	struct msg input; /* CMD_INPUT, CMD_RESIZE (no pointers inside); CMD_PING's id */
	char *text;	  /* CMD_CLIPBOARD: owned, NUL-terminated; CMD_MIC: the PCM */
	size_t len;	  /* bytes; CMD_MIC: samples per channel */
};

static void cmd_free(void *p)
{
	struct cmd *c = p;
	if (c)
		free(c->text);
	free(c);
}

/* Bytes read from the link and not yet consumed (grows to LINK_BUF_MAX). */
struct link_reader {
	uint8_t *buf;
	size_t len, cap;
};

struct worker {
	int fd;
	struct link_reader early; /* what came behind CONFIG: the reader thread's first bytes */
	char id[MSG_NAME_MAX + 1];
	char *uri, *password, *codec, *preset;
	int fps;
	bool clipboard;
	bool sound; /* forward the console's own sound (capture.h audio) */
	size_t clipboard_max;
	struct sandbox_cfg sandbox;
	char *chroot_dir;
	const struct capture_impl *impl;

	struct queue *cmds;
	pthread_t reader;
	atomic_int throttle;
	atomic_int bitrate;
	atomic_bool chroma444; /* every client decodes 4:4:4 (WLINK_CONTROL) */
	atomic_bool link_down; /* the agent is gone: stop */

	/* the pipeline (main thread) */
	struct capture *cap;
	struct encoder *enc;
	struct capture_frame frame; /* scratch for capture next() */
	const uint8_t *pixels;	    /* the console's persistent framebuffer (capture.h) */
	int width, height, stride;
	struct rect damage[CAPTURE_DAMAGE_MAX];
	size_t ndamage;
	uint64_t damage_since_us; /* capture time of the oldest pending damage */
	int64_t damage_copy_us;	  /* copying the pending damage from the console */
	int cur_bitrate;
	bool have_frame;
	bool resizable;
	bool stop;
	bool link_broken; /* a write failed: nobody listens any more */
};

static uint64_t now_us(void)
{
	return (uint64_t)clock_real_us();
}

static uint64_t mono_us(void)
{
	return (uint64_t)clock_mono_us();
}

/* ---- the link, writing (main thread only) ---- */

static bool write_all(struct worker *w, struct iovec *iov, int n)
{
	while (n > 0 && !w->link_broken) {
		ssize_t k = writev(w->fd, iov, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = {.fd = w->fd, .events = POLLOUT};
				poll(&p, 1, 100);
				continue;
			}
			w->link_broken = true; /* the agent is gone: PDEATHSIG follows */
			w->stop = true;
			return false;
		}
		while (n > 0 && (size_t)k >= iov->iov_len) {
			k -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + k;
			iov->iov_len -= (size_t)k;
		}
	}
	return !w->link_broken;
}

static bool send_wlink(struct worker *w, const struct wlink_msg *m)
{
	uint8_t small[2048];
	size_t len = wlink_encoded_size(m), n;
	uint8_t *buf = len <= sizeof(small) ? small : malloc(len);
	bool ok = false;

	if (!len || !buf) {
		log_error("desktop %s: cannot encode %s for the agent", w->id,
			  wlink_type_name(m->type));
		goto out;
	}
	if (wlink_encode(m, buf, len, &n) == 0) {
		struct iovec iov = {buf, n};
		ok = write_all(w, &iov, 1);
	}
out:
	if (buf != small)
		free(buf);
	return ok;
}

static bool send_msg(struct worker *w, const struct msg *m)
{
	struct wlink_msg wm = {.type = (uint8_t)m->type};
	wm.u.msg = *m;
	return send_wlink(w, &wm);
}

/*
 * VIDEO without copying the access unit: the header, then the payload. It
 * carries the worker's stage times (docs/protocol.md §5.5); the agent adds
 * LINK and QUEUE, and strips them for clients that did not ask.
 */
static bool send_video(struct worker *w, const struct encoder_packet *pkt, uint32_t capture_us,
		       uint32_t wait_us)
{
	struct msg m = {.type = MSG_VIDEO};
	uint8_t head[64];
	size_t hlen;

	m.u.video.capture_us = pkt->capture_us;
	m.u.video.flags = (pkt->keyframe ? MSG_VIDEO_KEYFRAME : 0) |
			  (pkt->refinement ? MSG_VIDEO_REFINE : 0) | MSG_VIDEO_TIMING;
	m.u.video.stage_us[MSG_STAGE_CAPTURE] = capture_us;
	m.u.video.stage_us[MSG_STAGE_WAIT] = wait_us;
	m.u.video.stage_us[MSG_STAGE_CONVERT] = pkt->convert_us;
	m.u.video.stage_us[MSG_STAGE_ENCODE] = pkt->encode_us;
	m.u.video.data.data = pkt->data;
	m.u.video.data.len = pkt->size;
	if (msg_encode_head(&m, head, sizeof(head), &hlen) < 0) {
		log_error("desktop %s: an encoded frame of %zu bytes is too long for the link",
			  w->id, pkt->size);
		return false;
	}
	struct iovec iov[2] = {{head, hlen}, {(void *)pkt->data, pkt->size}};
	return write_all(w, iov, 2);
}

static void send_console(struct worker *w, enum wlink_console_state state, const char *text)
{
	struct wlink_msg m = {.type = WLINK_CONSOLE};
	m.u.console.state = (uint8_t)state;
	m.u.console.text.data = (const uint8_t *)text;
	m.u.console.text.len = msg_text_fit(text, WLINK_TEXT_MAX);
	send_wlink(w, &m);
}

/* ---- the link, reading (thread hr-wlink) ---- */

static void push(struct worker *w, struct cmd *c)
{
	if (queue_push(w->cmds, c) < 0) {
		log_warn("desktop %s: pipeline busy, %s dropped", w->id,
			 c->kind == CMD_CLIPBOARD ? "clipboard" : "input");
		cmd_free(c);
	}
}

static void push_stop(struct worker *w)
{
	struct cmd *c = calloc(1, sizeof(*c));
	atomic_store(&w->link_down, true);
	if (!c)
		return;
	c->kind = CMD_STOP;
	while (queue_push(w->cmds, c) == -EAGAIN) /* make room: input is moot now */
		cmd_free(queue_try_pop(w->cmds));
}

static void on_link_msg(struct worker *w, const struct wlink_msg *m)
{
	struct cmd *c;

	if (m->type == WLINK_CONTROL) {
		atomic_store(&w->bitrate, (int)m->u.control.bitrate_kbps);
		atomic_store(&w->throttle, m->u.control.throttle);
		atomic_store(&w->chroma444, m->u.control.chroma444);
		return;
	}
	if (m->type == MSG_BYE) {
		push_stop(w);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	switch (m->type) {
	case MSG_CLIPBOARD:
		if (m->u.msg.u.clipboard.data.len > w->clipboard_max ||
		    !(c->text = malloc(m->u.msg.u.clipboard.data.len + 1))) {
			free(c);
			return;
		}
		c->kind = CMD_CLIPBOARD;
		c->len = m->u.msg.u.clipboard.data.len;
		memcpy(c->text, m->u.msg.u.clipboard.data.data, c->len);
		c->text[c->len] = '\0';
		break;
	case MSG_KEYFRAME_REQUEST:
		c->kind = CMD_KEYFRAME;
		break;
	case WLINK_PCM: /* the client's microphone, for the console's record channel */
		if (!(c->text = malloc(m->u.pcm.data.len))) {
			free(c);
			return;
		}
		c->kind = CMD_MIC;
		c->len = m->u.pcm.samples;
		memcpy(c->text, m->u.pcm.data.data, m->u.pcm.data.len);
		break;
	case MSG_RESIZE_REQUEST:
		c->kind = CMD_RESIZE;
		c->input = m->u.msg;
		break;
	case MSG_PING:
		c->kind = CMD_PING;
		c->input = m->u.msg;
		break;
	case WLINK_CONFIG:
		log_warn("desktop %s: a second CONFIG from the agent: ignored", w->id);
		free(c);
		return;
	default: /* KEY, POINTER, SCROLL, TOUCH, PEN: sanitized by the agent */
		c->kind = CMD_INPUT;
		c->input = m->u.msg;
		break;
	}
	push(w, c);
}

/*
 * Decodes the next whole frame in r, reading more as needed (within
 * timeout_ms when >= 0). 0 with *used = the frame's size (consume it after
 * use: out borrows r->buf), -EPIPE at EOF, -ETIMEDOUT, or HR_EPROTO_*.
 */
static int read_frame(int fd, struct link_reader *r, enum wlink_dir dir, struct wlink_msg *out,
		      size_t *used, int timeout_ms)
{
	for (;;) {
		size_t flen;
		int rc = msg_frame_peek(r->buf, r->len, &flen);
		if (rc == 0) {
			if (flen > LINK_BUF_MAX)
				return HR_EPROTO_TOO_LONG;
			*used = flen;
			return wlink_decode(r->buf, flen, dir, out);
		}
		if (rc != -EAGAIN)
			return rc;
		if (r->len == r->cap) {
			size_t ncap = r->cap ? r->cap * 2 : 65536;
			if (ncap > LINK_BUF_MAX)
				ncap = LINK_BUF_MAX;
			if (ncap == r->cap)
				return HR_EPROTO_TOO_LONG;
			uint8_t *nb = realloc(r->buf, ncap);
			if (!nb)
				return -ENOMEM;
			r->buf = nb;
			r->cap = ncap;
		}
		if (timeout_ms >= 0) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			int n = poll(&p, 1, timeout_ms);
			if (n == 0)
				return -ETIMEDOUT;
		}
		ssize_t k = read(fd, r->buf + r->len, r->cap - r->len);
		if (k == 0)
			return -EPIPE;
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		r->len += (size_t)k;
	}
}

static void consume(struct link_reader *r, size_t used)
{
	memmove(r->buf, r->buf + used, r->len - used);
	r->len -= used;
}

struct reader_arg {
	struct worker *w;
	struct link_reader r;
};

static void *reader_main(void *arg)
{
	struct reader_arg *ra = arg;
	struct worker *w = ra->w;
	struct wlink_msg m;
	size_t used;
	int rc;

	pthread_setname_np(pthread_self(), "hr-wlink");
	while ((rc = read_frame(w->fd, &ra->r, WLINK_TO_WORKER, &m, &used, -1)) == 0) {
		on_link_msg(w, &m);
		consume(&ra->r, used);
	}
	if (rc != -EPIPE)
		log_warn("desktop %s: the link to the agent broke: %s", w->id, hr_strerror(rc));
	push_stop(w);
	free(ra->r.buf);
	free(ra);
	return NULL;
}

/* ---- the pipeline (main thread) ---- */

static void add_damage(struct worker *p, const struct rect *r, size_t n, uint64_t t,
		       uint32_t copy_us)
{
	if (n && p->ndamage == 0) {
		p->damage_since_us = t;
		p->damage_copy_us = 0;
	}
	p->damage_copy_us += copy_us;
	for (size_t i = 0; i < n; i++)
		capture_damage_add(p->damage, &p->ndamage, r[i]);
}

/* A RESIZE_REQUEST the agent let through: ask the console; its REINIT does the rest. */
static void resize_console(struct worker *p, uint16_t w, uint16_t h)
{
	char why[200] = "", text[MSG_REASON_MAX];
	int rc;

	if (!p->cap) {
		rc = -EIO;
		snprintf(why, sizeof(why), "the desktop's console is not connected");
	} else if (!p->resizable || !p->impl->resize) {
		rc = -ENOTSUP;
		snprintf(why, sizeof(why), "this desktop's console cannot be resized");
	} else {
		rc = p->impl->resize(p->cap, w, h, why, sizeof(why));
	}
	if (rc == 0)
		return;
	log_warn("desktop %s: cannot resize the console to %ux%u: %s", p->id, w, h, why);
	snprintf(text, sizeof(text),
		 "the desktop stays at its size (%.150s); the picture is fitted to the window",
		 why);
	struct msg m = {.type = MSG_STATUS};
	m.u.status.code = MSG_STATUS_RESIZE_REFUSED;
	m.u.status.text.data = (const uint8_t *)text;
	m.u.status.text.len = msg_text_fit(text, MSG_REASON_MAX);
	send_msg(p, &m);
}

static void handle_cmd(struct worker *p, struct cmd *c)
{
	switch (c->kind) {
	case CMD_RESIZE:
		resize_console(p, c->input.u.resize_request.width,
			       c->input.u.resize_request.height);
		break;
	case CMD_STOP:
		p->stop = true;
		break;
	case CMD_PING: {
		/* answered here, between two turns of the pipeline: proof that it turns */
		struct msg m = {.type = MSG_PONG};
		m.u.ping.id = c->input.u.ping.id;
		send_msg(p, &m);
		break;
	}
	case CMD_KEYFRAME:
		if (p->enc)
			encoder_request_keyframe(p->enc);
		break;
	case CMD_INPUT:
		if (p->cap) {
			int rc = p->impl->inject(p->cap, &c->input);
			if (rc < 0 && rc != -ENOTSUP)
				log_debug("desktop %s: input not injected: %s", p->id,
					  hr_strerror(rc));
		}
		break;
	case CMD_MIC:
		if (p->cap && p->impl->mic) {
			int rc = p->impl->mic(p->cap, (const int16_t *)(void *)c->text,
					      (int)c->len);
			if (rc < 0)
				log_debug("desktop %s: microphone not played: %s", p->id,
					  hr_strerror(rc));
		}
		break;
	case CMD_CLIPBOARD:
		if (p->cap && p->impl->clipboard_set) {
			int rc = p->impl->clipboard_set(p->cap, c->text, c->len);
			if (rc < 0)
				log_warn("desktop %s: clipboard not set: %s", p->id,
					 hr_strerror(rc));
			else
				log_info("desktop %s: clipboard set from the client (%zu bytes)",
					 p->id, c->len);
		}
		break;
	}
	cmd_free(c);
}

static void drain_cmds(struct worker *p)
{
	struct cmd *c;
	while (!p->stop && (c = queue_try_pop(p->cmds)))
		handle_cmd(p, c);
}

static bool reinit_encoder(struct worker *p)
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
		log_error("desktop %s: cannot resize the encoder to %dx%d: %s", p->id, f->width,
			  f->height, hr_strerror(rc));
		encoder_free(p->enc);
		p->enc = NULL;
	}
	struct encoder_cfg cfg = {
		.width = f->width,
		.height = f->height,
		.codec = p->codec,
		.preset = p->preset,
		.bitrate_kbps = p->cur_bitrate,
		.fps = p->fps,
	};
	p->enc = encoder_new(&cfg);
	return p->enc != NULL;
}

/*
 * Encodes what is pending (damage, a key frame request, a due refinement).
 * Returns true when a frame went out, so the frame pacing counts only real
 * frames: damage after a quiet spell is encoded at once.
 */
static bool encode(struct worker *p)
{
	struct encoder_packet pkt;
	int target = atomic_load(&p->bitrate);
	int rc;

	if (!p->enc || !p->have_frame)
		return false;
	if (target != p->cur_bitrate) {
		encoder_set_bitrate(p->enc, target);
		p->cur_bitrate = target;
	}
	encoder_allow_chroma444(p->enc, atomic_load(&p->chroma444));
	uint64_t start = now_us(), capture = p->ndamage ? p->damage_since_us : start;
	uint32_t copy_us = p->ndamage ? clock_us32(p->damage_copy_us) : 0;
	rc = encoder_submit(p->enc, p->pixels, p->stride, p->damage, p->ndamage, capture);
	if (rc < 0) {
		log_warn("desktop %s: encoding failed: %s", p->id, hr_strerror(rc));
		return false;
	}
	p->ndamage = 0;
	if (rc == ENCODER_AGAIN)
		return false;
	while (encoder_receive(p->enc, &pkt) == ENCODER_OK) {
		send_video(p, &pkt, copy_us, clock_us32((int64_t)(start - capture)));
		encoder_packet_free(&pkt);
	}
	return true;
}

static void send_cursor(struct worker *p)
{
	struct capture_cursor cur;
	struct msg m = {.type = MSG_CURSOR};

	if (!p->impl->cursor || p->impl->cursor(p->cap, &cur) != 1)
		return;
	if (cur.width > MSG_CURSOR_MAX || cur.height > MSG_CURSOR_MAX) {
		log_info("desktop %s: a %ux%u cursor is larger than %u: not shown", p->id,
			 cur.width, cur.height, MSG_CURSOR_MAX);
		return;
	}
	m.u.cursor.width = cur.width;
	m.u.cursor.height = cur.height;
	m.u.cursor.hot_x = cur.hot_x < cur.width ? cur.hot_x : 0;
	m.u.cursor.hot_y = cur.hot_y < cur.height ? cur.hot_y : 0;
	m.u.cursor.pixels.data = cur.pixels;
	m.u.cursor.pixels.len = (size_t)cur.width * cur.height * 4;
	send_msg(p, &m);
}

/* The pointer moved on the console (docs/protocol.md §5.8): the agent tells who draws it. */
static void send_cursor_pos(struct worker *p)
{
	struct msg m = {.type = MSG_CURSOR_POS};

	if (!p->impl->cursor_pos ||
	    p->impl->cursor_pos(p->cap, &m.u.cursor_pos.x, &m.u.cursor_pos.y) != 1)
		return;
	m.u.cursor_pos.visible = 1;
	send_msg(p, &m);
}

/* The console's clipboard changed: the agent hands it to the clients that share it. */
static void poll_clipboard(struct worker *p)
{
	struct msg m = {.type = MSG_CLIPBOARD};
	char *text;
	size_t len;

	if (!p->clipboard || !p->impl->clipboard_get ||
	    p->impl->clipboard_get(p->cap, p->clipboard_max, &text, &len) != 1)
		return;
	m.u.clipboard.format = MSG_CLIPBOARD_TEXT;
	m.u.clipboard.data.data = (const uint8_t *)text;
	m.u.clipboard.data.len = len;
	if (!send_msg(p, &m))
		log_warn("desktop %s: clipboard text of %zu bytes not passed on", p->id, len);
	free(text);
}

/* The console's own sound, as it came: the agent cuts frames and encodes. */
static void send_sound(struct worker *p)
{
	struct audio_frame f;

	if (!p->sound || !p->impl->audio)
		return;
	for (int i = 0; i < 32 && p->impl->audio(p->cap, &f) == 1; i++) {
		struct wlink_msg m = {.type = WLINK_PCM};
		if (f.samples < 1 || f.samples > WLINK_PCM_SAMPLES_MAX)
			continue;
		m.u.pcm = (struct wlink_pcm){
			.capture_us = (uint64_t)f.capture_us,
			.samples = (uint16_t)f.samples,
			.data = {(const uint8_t *)f.pcm, (size_t)f.samples * AUDIO_CHANNELS * 2},
		};
		send_wlink(p, &m);
	}
}

static bool console_resizable(const struct worker *p)
{
	return p->impl->can_resize && p->impl->resize && p->impl->can_resize(p->cap);
}

static void send_size(struct worker *p)
{
	struct wlink_msg m = {.type = WLINK_SIZE};
	m.u.size.width = (uint16_t)p->frame.width;
	m.u.size.height = (uint16_t)p->frame.height;
	m.u.size.resizable = p->resizable;
	send_wlink(p, &m);
}

/* Runs until the console fails or the agent says stop; returns the exit status. */
static int run_pipeline(struct worker *p)
{
	int64_t frame_gap_us = 1000000 / p->fps;
	uint64_t last_encode = 0;

	while (!p->stop) {
		drain_cmds(p);
		if (p->stop)
			break;

		enum capture_status st = p->impl->next(p->cap, CAPTURE_WAIT_MS, &p->frame);
		uint64_t t = now_us();
		switch (st) {
		case CAPTURE_REINIT: {
			p->have_frame = reinit_encoder(p);
			if (!p->have_frame) {
				char why[200];
				snprintf(why, sizeof(why),
					 "the desktop's console is %dx%d: the encoder cannot be "
					 "opened for it (see the agent's log)",
					 p->frame.width, p->frame.height);
				log_error("desktop %s: %s", p->id, why);
				send_console(p, WLINK_CONSOLE_REFUSED, why);
				return 0;
			}
			send_size(p);
			p->ndamage = 0;
			struct rect all = {0, 0, p->width, p->height};
			add_damage(p, &all, 1, t, p->frame.copy_us);
			break;
		}
		case CAPTURE_OK:
			add_damage(p, p->frame.damage, p->frame.ndamage, t, p->frame.copy_us);
			break;
		case CAPTURE_AGAIN:
			break;
		case CAPTURE_ERROR:
			log_warn("desktop %s: console %s lost", p->id, p->uri);
			send_console(p, WLINK_CONSOLE_LOST,
				     "the desktop's console was lost; reconnecting");
			return 0;
		}
		send_cursor(p);
		send_cursor_pos(p);
		send_sound(p);
		poll_clipboard(p);
		/*
		 * Whether the console can be resized may change while it runs (a SPICE
		 * guest's spice-vdagent starts or stops): the agent hears it with SIZE.
		 */
		if (p->have_frame && console_resizable(p) != p->resizable) {
			p->resizable = !p->resizable;
			log_info("desktop %s: the console %s", p->id,
				 p->resizable ? "can be resized now" : "can no longer be resized");
			send_size(p);
		}

		/*
		 * Encode at most fps times a second, and not while every client
		 * lags: the damage keeps collecting, so the next frame shows the
		 * newest screen instead of a queue of old ones.
		 */
		uint64_t m = mono_us();
		if (atomic_load(&p->throttle) || (int64_t)(m - last_encode) < frame_gap_us)
			continue;
		if (encode(p))
			last_encode = m;
	}
	return 0;
}

/* capture.h cfg->connected: the console's connection exists, nothing of it parsed yet. */
static int confine(void *ud)
{
	struct worker *w = ud;
	char what[256];

	if (sandbox_enter(&w->sandbox) < 0)
		return -1;
	sandbox_describe(&w->sandbox, what, sizeof(what));
	log_info("desktop %s: worker %d confined: %s", w->id, (int)getpid(), what);
	return 0;
}

static char *dup_bytes(struct msg_bytes b)
{
	char *s = malloc(b.len + 1);
	if (s) {
		memcpy(s, b.data, b.len);
		s[b.len] = '\0';
	}
	return s;
}

static int read_config(struct worker *w)
{
	struct link_reader r = {0};
	struct wlink_msg m;
	size_t used = 0;
	int rc = read_frame(w->fd, &r, WLINK_TO_WORKER, &m, &used, CONFIG_WAIT_MS);

	if (rc == 0 && m.type != WLINK_CONFIG)
		rc = HR_EPROTO_INVALID;
	if (rc < 0) {
		log_error("worker %d: no configuration from the agent: %s", (int)getpid(),
			  hr_strerror(rc));
		free(r.buf);
		return rc;
	}
	const struct wlink_config *c = &m.u.config;
	snprintf(w->id, sizeof(w->id), "%.*s", (int)c->id.len, (const char *)c->id.data);
	w->uri = dup_bytes(c->uri);
	w->password = c->password.len ? dup_bytes(c->password) : NULL;
	w->codec = c->codec.len ? dup_bytes(c->codec) : NULL;
	w->preset = c->preset.len ? dup_bytes(c->preset) : NULL;
	w->chroot_dir = c->chroot.len ? dup_bytes(c->chroot) : NULL;
	w->fps = c->fps;
	w->clipboard = c->flags & WLINK_CONFIG_CLIPBOARD;
	w->sound = c->flags & WLINK_CONFIG_SOUND;
	w->clipboard_max = c->clipboard_max;
	atomic_init(&w->bitrate, (int)c->bitrate_kbps);
	w->cur_bitrate = (int)c->bitrate_kbps;
	w->sandbox = (struct sandbox_cfg){
		.seccomp = c->flags & WLINK_CONFIG_SECCOMP,
		.chroot = c->flags & WLINK_CONFIG_CHROOT,
		.chroot_dir = w->chroot_dir,
		.setuid = c->flags & WLINK_CONFIG_SETUID,
		.uid = c->uid,
		.gid = c->gid,
		.memory_mb = c->memory_mb,
	};
	log_set_level((enum log_level)c->log_level);
	/* the password in the receive buffer: gone before anything else runs */
	memset(r.buf, 0, used);
	/* the agent sends CONTROL (and maybe more) right behind CONFIG: keep it for the reader */
	consume(&r, used);
	memset(r.buf + r.len, 0, r.cap - r.len);
	w->early = r;
	if (!w->uri || (c->password.len && !w->password))
		return -ENOMEM;
	return 0;
}

static enum wlink_console_state state_of(enum capture_failure f)
{
	switch (f) {
	case CAPTURE_FAIL_AUTH:
		return WLINK_CONSOLE_AUTH;
	case CAPTURE_FAIL_REFUSED:
		return WLINK_CONSOLE_REFUSED;
	case CAPTURE_FAIL_SANDBOX:
		return WLINK_CONSOLE_SANDBOX;
	case CAPTURE_FAIL_UNREACHABLE:
	default:
		return WLINK_CONSOLE_UNREACHABLE;
	}
}

int worker_main(int argc, char **argv)
{
	struct worker w = {.fd = WORKER_FD};
	pid_t parent = getppid();
	int status = 1;

	/* the agent's death is ours; checked once more in case it died before prctl */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent || parent == 1)
		return 1;
	log_open("highrise-worker", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	if (argc < 3 || fcntl(WORKER_FD, F_GETFD) < 0) {
		fprintf(stderr,
			"highrise-agent --worker %s: only the agent starts workers, with "
			"their link on descriptor 3\n",
			argc >= 3 ? argv[2] : "ID");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	fcntl(WORKER_FD, F_SETFD, FD_CLOEXEC);
	/*
	 * glibc reserves 64 MiB of address space per thread's arena; with
	 * libx264's threads that alone would eat RLIMIT_AS. Two arenas serve a
	 * pipeline as well.
	 */
	mallopt(M_ARENA_MAX, 2);
	int sndbuf = LINK_SNDBUF;
	setsockopt(WORKER_FD, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

	atomic_init(&w.throttle, 0);
	atomic_init(&w.chroma444, false);
	atomic_init(&w.link_down, false);
	if (read_config(&w) < 0)
		goto out;
	w.impl = capture_find(w.uri);
	w.cmds = queue_new(CMD_QUEUE_LEN);
	if (!w.impl || !w.cmds) {
		send_console(&w, WLINK_CONSOLE_REFUSED,
			     "the desktop's console URI is not supported");
		goto out;
	}
	if (sandbox_limits(&w.sandbox) < 0) {
		send_console(&w, WLINK_CONSOLE_SANDBOX,
			     "the desktop's worker could not be confined");
		goto out;
	}

	struct reader_arg *ra = calloc(1, sizeof(*ra));
	if (ra) {
		ra->w = &w;
		ra->r = w.early;
		w.early = (struct link_reader){0};
	}
	if (!ra || pthread_create(&w.reader, NULL, reader_main, ra) != 0) {
		if (ra)
			free(ra->r.buf);
		free(ra);
		goto out;
	}

	struct capture_error err = {.kind = CAPTURE_FAIL_UNREACHABLE};
	struct capture_cfg ccfg = {
		.password = w.password,
		.connect_timeout_ms = 3000,
		.connected = confine,
		.connected_ud = &w,
		.error = &err,
		.wake_fd = queue_fd(w.cmds), /* input reaches the console at once */
	};
	w.cap = w.impl->open(w.uri, &ccfg);
	if (w.password) {
		memset(w.password, 0, strlen(w.password));
		free(w.password);
		w.password = NULL;
	}
	if (!w.cap) {
		if (!err.why[0])
			snprintf(err.why, sizeof(err.why),
				 "the desktop's console is not reachable");
		log_info("desktop %s: console %s: %s", w.id, w.uri, err.why);
		send_console(&w, state_of(err.kind), err.why);
		status = 0;
		goto stop_reader;
	}
	w.resizable = console_resizable(&w);
	send_console(&w, WLINK_CONSOLE_UP, "the desktop is up");
	status = run_pipeline(&w);
	w.impl->close(w.cap);
	encoder_free(w.enc);

stop_reader:
	/* the reader is blocked in read(): ending our half of the link wakes it */
	shutdown(w.fd, SHUT_RDWR);
	pthread_join(w.reader, NULL);
out:
	queue_free(w.cmds, cmd_free);
	free(w.early.buf);
	free(w.uri);
	free(w.codec);
	free(w.preset);
	free(w.chroot_dir);
	close(w.fd);
	return status;
}

/* ---- in the agent ---- */

pid_t worker_spawn(const char *id, int *fd)
{
	int sv[2];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	pid_t pid;
	int rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	int sndbuf = LINK_SNDBUF;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof(sndbuf));

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGCHLD);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	/* the child gets its end as descriptor 3, stdio, and nothing else of ours */
	posix_spawn_file_actions_adddup2(&fa, sv[1], WORKER_FD);
	posix_spawn_file_actions_addclosefrom_np(&fa, WORKER_FD + 1);
	char *argv[] = {"highrise-agent", "--worker", (char *)id, NULL};
	extern char **environ;
	rc = posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(sv[1]);
	if (rc != 0) {
		close(sv[0]);
		return -rc;
	}
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	*fd = sv[0];
	return pid;
}
