/* SPDX-License-Identifier: MIT */
#include "desktop.h"

#include "capture.h"
#include "clock.h"
#include "config.h"
#include "error.h"
#include "flow.h"
#include "input.h"
#include "log.h"
#include "wlink.h"
#include "worker.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SENT_RING	64
#define RESIZE_QUIET_MS 250	   /* apply the newest RESIZE_REQUEST after this much quiet */
#define RESIZE_WAIT_MS	1000	   /* but never hold one back longer than this */
#define LINK_OUT_MAX	(4u << 20) /* input for a worker that does not read is dropped */
#define PING_EVERY_US	1000000
#define STOP_WAIT_MS	2000	 /* a worker told to stop that is still there then: SIGKILL */
#define FREE_WAIT_MS	1000	 /* at desktop_free, the same */
#define CALM_US		30000000 /* a worker that ran this long resets the backoff */

/* How long until the next worker, by why the last one ended (ms: first, most). */
static const struct backoff {
	int first_ms, max_ms;
} backoff_of[] = {
	[WLINK_CONSOLE_UP] = {500, 5000}, /* crashed, hung, over a limit: restart */
	[WLINK_CONSOLE_LOST] = {500, 5000},	 [WLINK_CONSOLE_UNREACHABLE] = {500, 5000},
	[WLINK_CONSOLE_AUTH] = {30000, 600000}, /* a password is wrong: do not hammer */
	[WLINK_CONSOLE_REFUSED] = {5000, 60000}, [WLINK_CONSOLE_SANDBOX] = {30000, 600000},
};

struct session {
	struct desktop *d;
	struct conn *conn;
	struct session *next;
	char user[130];
	bool welcomed;
	bool early_logged; /* it sent something before WELCOME (said once) */
	bool control;
	bool clipboard;	    /* shares the clipboard (announced it, and it is on) */
	bool want_keyframe; /* skipped frames: resume at the next key frame */
	bool audio;	    /* gets AUDIO (announced CAP_OPUS, the desktop has sound) */
	bool mic;	    /* its MIC is played (announced CAP_MIC, the desktop has a mic) */
	bool cursor;	    /* draws the cursor itself (CAP_CURSOR): gets CURSOR */
	bool timing;	    /* gets VIDEO's stage times (CAP_TIMING) */
	bool h444;	    /* decodes H.264 4:4:4 (CAP_H264_444) */
	uint16_t loss;	    /* its last AUDIO_REPORT loss, per mille */
	uint64_t audio_sent, audio_skipped, mic_in, mic_dropped;
	uint32_t next_frame;
	uint32_t acked; /* highest frame acknowledged + 1 (0: none yet) */
	uint64_t sent_us[SENT_RING];
	double rtt_ms; /* smoothed */
	uint16_t max_w, max_h;
	struct input_state held;
	uint64_t joined_us;
	uint64_t refused_us; /* the last STATUS RESIZE_REFUSED we answered a request with */
	uint8_t resume[MSG_RESUME_GRANT_LEN]; /* WELCOME's grant (docs/protocol.md §6.4) */
	bool has_resume;
	uint16_t resume_window_s;
};

enum pipe_state {
	PIPE_IDLE,     /* no worker: nobody watches */
	PIPE_RUNNING,  /* a worker runs */
	PIPE_STOPPING, /* BYE sent to the worker (nobody watches), waiting for it to go */
	PIPE_WAITING,  /* the worker ended; the next one starts when restart_ev fires */
};

struct cursor_shape {
	uint16_t width, height, hot_x, hot_y;
	uint8_t *pixels; /* width * height * 4 */
};

struct desktop {
	struct event_base *base;
	char *id, *uri, *password, *password_file, *codec, *preset;
	int fps;
	bool allow444;	/* the configuration lets still colour go 4:4:4 */
	bool chroma444; /* ... and every client decodes it: what the worker was told */
	bool clipboard;
	size_t clipboard_max;
	struct desktop_worker_cfg wcfg;
	char *chroot_dir;
	struct sound *sound; /* NULL: a silent desktop without a microphone */
	bool has_audio;	     /* sound has a source: AUDIO for CAP_OPUS clients */
	void (*on_welcome)(struct conn *c, void *ud);
	void *ud;

	struct session *sessions;
	struct event *tick_ev;	/* 250 ms: welcome timeouts, bitrate, watchdogs */
	uint16_t width, height; /* 0 until the console reported its size */
	bool console_up;
	bool console_known;		  /* the running worker said UP or why not */
	struct cursor_shape cursor;	  /* the last shape, for clients that join later */
	bool have_cursor;		  /* cursor holds one (0x0: hidden) */
	struct msg_cursor_pos cursor_pos; /* the pointer, as the console last said */
	bool have_cursor_pos;
	uint64_t last_keyframe_req_us;
	bool resizable;		     /* the console takes RESIZE_REQUEST (the worker said) */
	struct event *resize_ev;     /* RESIZE_QUIET_MS after the last RESIZE_REQUEST */
	bool resize_pending;	     /* a request waits for quiet */
	uint16_t resize_w, resize_h; /* the newest request */
	uint64_t resize_first_us;    /* when the oldest request still waiting came */
	struct flow flow;	     /* who lags, throttle, the bitrate ceiling */

	/* the worker */
	enum pipe_state state;
	pid_t pid;
	struct bufferevent *link;
	struct event *restart_ev; /* PIPE_WAITING -> a new worker; PIPE_STOPPING -> SIGKILL */
	uint64_t started_us, last_pong_us, last_ping_us;
	uint64_t cpu_at_us, cpu_ticks; /* the start of the CPU window */
	int8_t said;		       /* the worker's last WLINK_CONSOLE state, -1: none */
	char said_text[MSG_REASON_MAX + 1];
	char kill_reason[160]; /* why we killed it, "" when we did not */
	bool told_down;	       /* the clients heard the desktop is down/restarting */
	unsigned restart_wait_s;
	uint64_t closed_us; /* when an up console closed (the VM stopped), 0: it did not */
	bool told_stuck;    /* ... and the clients heard it is not coming back soon */
	int backoff_ms;
	int8_t backoff_kind; /* the wlink state the backoff is for */
	unsigned restarts;
	/* the console refused our credentials: offline until the password file changes */
	bool auth_failed;
	struct timespec pw_mtime;
	off_t pw_size;
};

static uint64_t mono_us(void)
{
	return (uint64_t)clock_mono_us();
}

static int send_status(struct session *s, uint16_t code, const char *text);
static void cursor_msg(const struct desktop *d, struct msg *m);
static void send_welcome(struct session *s, bool keyframe);
static void update_throttle(struct desktop *d);
static void fan_out_video(struct desktop *d, const struct msg_video *v);
static void fan_out_cursor(struct desktop *d);
static void fan_out_clipboard(struct desktop *d, const struct msg_clipboard *cb);
static void on_resize(struct desktop *d, uint16_t w, uint16_t h, bool resizable);
static void start_worker(struct desktop *d);
static void update_sound(struct desktop *d);

/* ---- the worker: talking to it ---------------------------------------- */

static void link_send_wlink(struct desktop *d, const struct wlink_msg *m)
{
	uint8_t small[1024], *buf = small;
	size_t len, n;

	if (d->state != PIPE_RUNNING || !d->link)
		return;
	if (evbuffer_get_length(bufferevent_get_output(d->link)) > LINK_OUT_MAX) {
		log_warn("desktop %s: the worker reads nothing: %s dropped", d->id,
			 wlink_type_name(m->type));
		return;
	}
	len = wlink_encoded_size(m);
	if (!len)
		return;
	if (len > sizeof(small) && !(buf = malloc(len)))
		return;
	if (wlink_encode(m, buf, len, &n) == 0)
		bufferevent_write(d->link, buf, n);
	if (buf != small)
		free(buf);
}

static void link_send(struct desktop *d, const struct msg *m)
{
	struct wlink_msg wm = {.type = (uint8_t)m->type};
	wm.u.msg = *m;
	link_send_wlink(d, &wm);
}

static void link_send_type(struct desktop *d, enum msg_type type)
{
	struct msg m = {.type = type};
	link_send(d, &m);
}

static void send_control(struct desktop *d)
{
	struct wlink_msg m = {.type = WLINK_CONTROL};
	m.u.control.bitrate_kbps = (uint32_t)d->flow.bitrate;
	m.u.control.throttle = d->flow.throttle;
	m.u.control.chroma444 = d->chroma444;
	link_send_wlink(d, &m);
}

/* 4:4:4 only while every client (watching or joining) can decode it. */
static void update_chroma(struct desktop *d)
{
	bool all = d->allow444 && d->sessions;

	for (struct session *s = d->sessions; s; s = s->next)
		all = all && s->h444;
	if (all == d->chroma444)
		return;
	d->chroma444 = all;
	if (d->link)
		send_control(d);
}

static void request_keyframe(struct desktop *d)
{
	link_send_type(d, MSG_KEYFRAME_REQUEST);
	d->last_keyframe_req_us = mono_us();
}

/* ---- the worker: its life --------------------------------------------- */

static void status_all(struct desktop *d, uint16_t code, const char *text)
{
	for (struct session *s = d->sessions; s; s = s->next)
		if (s->welcomed)
			send_status(s, code, text);
}

/* Everyone watching this desktop is told it cannot be had now, and why. */
static void bye_all(struct desktop *d, const char *text)
{
	for (struct session *s = d->sessions; s; s = s->next)
		conn_close(s->conn, MSG_BYE_DESKTOP_UNAVAILABLE, text);
}

static bool password_file_changed(struct desktop *d)
{
	struct stat st;
	if (!d->password_file || stat(d->password_file, &st) != 0)
		return false;
	return st.st_mtim.tv_sec != d->pw_mtime.tv_sec ||
	       st.st_mtim.tv_nsec != d->pw_mtime.tv_nsec || st.st_size != d->pw_size;
}

static void remember_password_file(struct desktop *d)
{
	struct stat st;
	if (d->password_file && stat(d->password_file, &st) == 0) {
		d->pw_mtime = st.st_mtim;
		d->pw_size = st.st_size;
	}
}

/* The password file changed since the console refused it: read it again. */
static void reload_password(struct desktop *d)
{
	char *pw = config_read_secret(d->password_file);
	if (!pw)
		return;
	if (d->password) {
		memset(d->password, 0, strlen(d->password));
		free(d->password);
	}
	d->password = pw;
	remember_password_file(d);
	d->auth_failed = false;
	d->backoff_ms = 0;
	log_info("desktop %s: the password file %s changed: trying the console again", d->id,
		 d->password_file);
}

static void describe_exit(int st, char *buf, size_t cap)
{
	if (WIFEXITED(st))
		snprintf(buf, cap, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, cap, "was killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(buf, cap, "ended (status 0x%x)", (unsigned)st);
}

/* Reaps the worker; SIGKILL first when it is still there after waiting ms. */
static int reap(pid_t pid, int ms)
{
	int st = 0;
	for (int waited = 0;; waited += 10) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return r == pid ? st : 0;
		if (waited >= ms)
			break;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

static void schedule_restart(struct desktop *d, int kind)
{
	const struct backoff *b = &backoff_of[kind];
	uint64_t ran = mono_us() - d->started_us;

	/* a console that comes up and fails at once is not retried every 0.5 s for ever */
	if (d->backoff_kind != kind || ran > CALM_US)
		d->backoff_ms = 0;
	d->backoff_kind = (int8_t)kind;
	d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : b->first_ms;
	if (d->backoff_ms > b->max_ms)
		d->backoff_ms = b->max_ms;
	struct timeval tv = {d->backoff_ms / 1000, (d->backoff_ms % 1000) * 1000};
	d->state = PIPE_WAITING;
	evtimer_add(d->restart_ev, &tv);
}

/* The worker's socket ended: it exited, crashed, or we killed it. */
static void worker_ended(struct desktop *d)
{
	char how[120];
	int st;

	if (d->link) {
		bufferevent_free(d->link);
		d->link = NULL;
	}
	evtimer_del(d->restart_ev);
	st = reap(d->pid, 500);
	describe_exit(st, how, sizeof(how));
	enum pipe_state was = d->state;
	int said = d->said;
	pid_t pid = d->pid;
	d->pid = 0;
	d->state = PIPE_IDLE;
	d->console_known = false;

	if (was == PIPE_STOPPING || !d->sessions) {
		/* a restart nobody watches is nobody's news: the next client starts afresh */
		d->closed_us = 0;
		d->told_stuck = false;
	}
	if (was == PIPE_STOPPING) {
		log_info("desktop %s: worker %d stopped (nobody watches)", d->id, (int)pid);
		if (d->sessions)
			start_worker(d); /* someone joined while it stopped */
		return;
	}
	if (said > WLINK_CONSOLE_UP && !d->kill_reason[0]) {
		/* the worker told us why and left: the console's own trouble */
		log_debug("desktop %s: worker %d %s after console %s", d->id, (int)pid, how,
			  wlink_console_state_name((uint8_t)said));
	} else {
		d->restarts++;
		if (d->kill_reason[0])
			log_warn("desktop %s: worker %d %s: restarting the desktop (restart %u)",
				 d->id, (int)pid, d->kill_reason, d->restarts);
		else
			log_warn("desktop %s: worker %d %s unexpectedly: restarting the desktop "
				 "(restart %u)",
				 d->id, (int)pid, how, d->restarts);
		status_all(d, MSG_STATUS_RESTARTING, "the desktop is restarting");
		d->told_down = true;
		said = WLINK_CONSOLE_UP; /* backoff for crashes */
		/* every client resumes at the new worker's first key frame */
		for (struct session *s = d->sessions; s; s = s->next)
			s->want_keyframe = true;
	}
	d->kill_reason[0] = '\0';
	if (!d->sessions)
		return; /* nobody watches: the next client starts a worker */
	if (said == WLINK_CONSOLE_AUTH && d->password_file && password_file_changed(d))
		reload_password(d);
	schedule_restart(d, said < 0 ? WLINK_CONSOLE_UP : said);
}

/* Kills the worker now; worker_ended follows with reason in the log. */
static void kill_worker(struct desktop *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void kill_worker(struct desktop *d, const char *fmt, ...)
{
	va_list ap;

	if (!d->pid)
		return;
	va_start(ap, fmt);
	vsnprintf(d->kill_reason, sizeof(d->kill_reason), fmt, ap);
	va_end(ap);
	kill(d->pid, SIGKILL);
	worker_ended(d);
}

/* What the worker says about its console. */
static void on_console(struct desktop *d, const struct wlink_console *c)
{
	char text[MSG_REASON_MAX + 1];

	snprintf(text, sizeof(text), "%.*s", (int)c->text.len, (const char *)c->text.data);
	d->said = (int8_t)c->state;
	snprintf(d->said_text, sizeof(d->said_text), "%s", text);
	d->console_known = true;
	switch ((enum wlink_console_state)c->state) {
	case WLINK_CONSOLE_UP:
		d->console_up = true;
		d->auth_failed = false;
		if (d->told_down)
			status_all(d, MSG_STATUS_OK, "the desktop is back");
		if (d->closed_us)
			log_info("desktop %s: the console %s is back after %.1f s", d->id, d->uri,
				 (double)(mono_us() - d->closed_us) / 1e6);
		d->told_down = false;
		d->closed_us = 0;
		d->told_stuck = false;
		return;
	case WLINK_CONSOLE_LOST:
		/*
		 * A console that was up and closed: the VM stopped, as it does when
		 * it is restarted (virt-viewer says "waiting for guest domain to
		 * restart"). Its clients hear it is restarting; only when it stays
		 * away past console.restart_wait_s do they hear it is not responding.
		 */
		d->console_up = false;
		d->closed_us = mono_us();
		d->told_stuck = false;
		status_all(d, MSG_STATUS_RESTARTING,
			   "the desktop is restarting: its console closed; waiting for it to "
			   "come back");
		d->told_down = true;
		return;
	case WLINK_CONSOLE_UNREACHABLE:
		d->console_up = false;
		if (d->closed_us) {
			/* still restarting, or gone for longer than a restart takes */
			uint64_t away = mono_us() - d->closed_us;
			if (!d->told_stuck && away >= (uint64_t)d->restart_wait_s * 1000000u) {
				char why[MSG_REASON_MAX + 1];
				snprintf(why, sizeof(why),
					 "the desktop's console has been unreachable for %u s; "
					 "still retrying",
					 (unsigned)(away / 1000000u));
				log_warn("desktop %s: %s", d->id, why);
				status_all(d, MSG_STATUS_CONSOLE_LOST, why);
				d->told_stuck = true;
			}
		} else if (!d->told_down) {
			status_all(d, MSG_STATUS_CONSOLE_LOST,
				   "the desktop's console is not reachable; retrying");
		}
		d->told_down = true;
		return;
	case WLINK_CONSOLE_AUTH:
		d->console_up = false;
		if (!d->auth_failed)
			log_error(
				"desktop %s: the console %s refused the agent's credentials (%s): "
				"the desktop is offline until its password file%s%s changes",
				d->id, d->uri, text, d->password_file ? " " : "",
				d->password_file ? d->password_file : "");
		d->auth_failed = true;
		bye_all(d, "the desktop's console refused the agent's credentials; an "
			   "administrator must fix the desktop's password");
		return;
	case WLINK_CONSOLE_REFUSED:
	case WLINK_CONSOLE_SANDBOX:
		d->console_up = false;
		log_error("desktop %s: %s", d->id, text);
		bye_all(d,
			c->state == WLINK_CONSOLE_SANDBOX
				? "the desktop's worker could not be confined; see the agent's log"
				: text);
		return;
	}
}

static void on_worker_msg(struct desktop *d, const struct wlink_msg *m)
{
	switch (m->type) {
	case MSG_VIDEO:
		fan_out_video(d, &m->u.msg.u.video);
		break;
	case WLINK_SIZE:
		on_resize(d, m->u.size.width, m->u.size.height, m->u.size.resizable);
		break;
	case MSG_CURSOR: {
		const struct msg_cursor *c = &m->u.msg.u.cursor;
		uint8_t *px = NULL;
		if (c->pixels.len && !(px = malloc(c->pixels.len)))
			break;
		if (px)
			memcpy(px, c->pixels.data, c->pixels.len);
		free(d->cursor.pixels);
		d->cursor = (struct cursor_shape){c->width, c->height, c->hot_x, c->hot_y, px};
		d->have_cursor = true;
		fan_out_cursor(d);
		break;
	}
	case MSG_CURSOR_POS:
		d->cursor_pos = m->u.msg.u.cursor_pos;
		d->have_cursor_pos = true;
		for (struct session *s = d->sessions; s; s = s->next)
			if (s->welcomed && s->cursor)
				conn_send(s->conn, &m->u.msg);
		break;
	case MSG_CLIPBOARD:
		if (m->u.msg.u.clipboard.data.len <= d->clipboard_max)
			fan_out_clipboard(d, &m->u.msg.u.clipboard);
		break;
	case MSG_STATUS: /* RESIZE_REFUSED only (wlink_decode) */
		for (struct session *s = d->sessions; s; s = s->next)
			if (s->welcomed && s->control) {
				char text[MSG_REASON_MAX + 1];
				snprintf(text, sizeof(text), "%.*s",
					 (int)m->u.msg.u.status.text.len,
					 (const char *)m->u.msg.u.status.text.data);
				send_status(s, MSG_STATUS_RESIZE_REFUSED, text);
			}
		break;
	case WLINK_CONSOLE:
		on_console(d, &m->u.console);
		break;
	case MSG_PONG:
		d->last_pong_us = mono_us();
		break;
	case WLINK_PCM: /* the console's own sound (only asked for when it is the source) */
		if (d->sound)
			sound_feed(d->sound, (int64_t)m->u.pcm.capture_us, m->u.pcm.data.data,
				   m->u.pcm.samples);
		break;
	}
}

static void link_read_cb(struct bufferevent *bev, void *arg)
{
	struct desktop *d = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		uint8_t len[4];
		struct wlink_msg m;

		if (evbuffer_copyout(in, len, sizeof(len)) < (ev_ssize_t)sizeof(len))
			return;
		uint32_t n = (uint32_t)len[0] << 24 | (uint32_t)len[1] << 16 |
			     (uint32_t)len[2] << 8 | len[3];
		if (n == 0 || n > WLINK_FRAME_MAX) {
			kill_worker(d, "sent a frame of %u bytes (the link takes 1..%u)", n,
				    WLINK_FRAME_MAX);
			return;
		}
		size_t flen = (size_t)n + 4;
		if (evbuffer_get_length(in) < flen)
			return;
		const uint8_t *frame = evbuffer_pullup(in, (ev_ssize_t)flen);
		if (!frame) {
			kill_worker(d, "sent more than the agent could hold");
			return;
		}
		int rc = wlink_decode(frame, flen, WLINK_TO_AGENT, &m);
		if (rc < 0) {
			kill_worker(d, "sent a malformed %s message (%s)",
				    wlink_type_name(frame[4]), hr_strerror(rc));
			return;
		}
		on_worker_msg(d, &m);
		if (d->link != bev)
			return; /* the message ended this worker */
		evbuffer_drain(in, flen);
	}
}

static void link_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct desktop *d = arg;
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		worker_ended(d);
}

static void send_config(struct desktop *d)
{
	struct wlink_msg m = {.type = WLINK_CONFIG};
	struct wlink_config *c = &m.u.config;
	const struct desktop_worker_cfg *w = &d->wcfg;
	bool root = geteuid() == 0;

	c->flags = (d->clipboard ? WLINK_CONFIG_CLIPBOARD : 0) |
		   (d->sound && sound_from_console(d->sound) ? WLINK_CONFIG_SOUND : 0) |
		   (w->sandbox ? WLINK_CONFIG_SECCOMP : 0) |
		   (w->sandbox && root && d->chroot_dir ? WLINK_CONFIG_CHROOT : 0) |
		   (w->sandbox && root ? WLINK_CONFIG_SETUID : 0);
	c->fps = (uint16_t)d->fps;
	c->bitrate_kbps = (uint32_t)d->flow.bitrate;
	c->clipboard_max = (uint32_t)d->clipboard_max;
	c->memory_mb = w->memory_mb;
	c->uid = w->uid;
	c->gid = w->uid;
	c->log_level = (uint8_t)log_get_level();
	c->id = (struct msg_bytes){(const uint8_t *)d->id, strlen(d->id)};
	c->uri = (struct msg_bytes){(const uint8_t *)d->uri, strlen(d->uri)};
	if (d->password)
		c->password = (struct msg_bytes){(const uint8_t *)d->password, strlen(d->password)};
	if (d->codec)
		c->codec = (struct msg_bytes){(const uint8_t *)d->codec, strlen(d->codec)};
	if (d->preset)
		c->preset = (struct msg_bytes){(const uint8_t *)d->preset, strlen(d->preset)};
	if (c->flags & WLINK_CONFIG_CHROOT)
		c->chroot = (struct msg_bytes){(const uint8_t *)d->chroot_dir,
					       strlen(d->chroot_dir)};
	link_send_wlink(d, &m);
}

static void start_worker(struct desktop *d)
{
	int fd;
	pid_t pid;

	if (d->state == PIPE_RUNNING || d->state == PIPE_STOPPING)
		return;
	evtimer_del(d->restart_ev);
	pid = worker_spawn(d->id, &fd);
	if (pid < 0) {
		log_error("desktop %s: cannot start a worker: %s", d->id, hr_strerror(pid));
		schedule_restart(d, WLINK_CONSOLE_UP);
		return;
	}
	d->link = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!d->link) {
		close(fd);
		kill(pid, SIGKILL);
		reap(pid, 0);
		schedule_restart(d, WLINK_CONSOLE_UP);
		return;
	}
	bufferevent_setcb(d->link, link_read_cb, NULL, link_event_cb, d);
	bufferevent_enable(d->link, EV_READ | EV_WRITE);
	d->pid = pid;
	d->state = PIPE_RUNNING;
	d->said = -1;
	d->kill_reason[0] = '\0';
	d->started_us = d->last_pong_us = d->last_ping_us = mono_us();
	d->cpu_at_us = 0;
	flow_update(&d->flow, false, false, mono_us()); /* it encodes until told otherwise */
	send_config(d);
	send_control(d);
	log_info("desktop %s: worker %d started for %s", d->id, (int)pid, d->uri);
}

static void restart_cb(evutil_socket_t fd, short what, void *arg)
{
	struct desktop *d = arg;
	(void)fd;
	(void)what;

	if (d->state == PIPE_STOPPING) {
		kill_worker(d, "did not stop within %d ms", STOP_WAIT_MS);
		return;
	}
	if (d->state != PIPE_WAITING)
		return;
	d->state = PIPE_IDLE;
	if (d->sessions)
		start_worker(d);
}

static void start_pipeline(struct desktop *d)
{
	if (d->state == PIPE_IDLE)
		start_worker(d);
	/* PIPE_WAITING: restart_ev starts it; an auth failure waits for the file */
}

static void stop_pipeline(struct desktop *d)
{
	struct timeval tv = {STOP_WAIT_MS / 1000, (STOP_WAIT_MS % 1000) * 1000};

	if (d->state == PIPE_WAITING) {
		evtimer_del(d->restart_ev);
		d->state = PIPE_IDLE;
		return;
	}
	if (d->state != PIPE_RUNNING)
		return;
	link_send_type(d, MSG_BYE);
	d->state = PIPE_STOPPING;
	evtimer_add(d->restart_ev, &tv);
}

/* /proc/PID/statm's resident pages and /proc/PID/stat's utime + stime. */
static int proc_usage(pid_t pid, uint64_t *rss_kib, uint64_t *cpu_ticks)
{
	char path[64], buf[1024];
	unsigned long long size = 0, rss = 0, ut = 0, stt = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if (!(f = fopen(path, "r")))
		return -errno;
	int n = fscanf(f, "%llu %llu", &size, &rss);
	fclose(f);
	if (n != 2)
		return -EIO;
	*rss_kib = rss * (uint64_t)(sysconf(_SC_PAGESIZE) / 1024);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return -errno;
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	/* the name may hold spaces and parentheses: fields count from the last ')' */
	char *p = strrchr(buf, ')');
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt) != 2)
		return -EIO;
	*cpu_ticks = ut + stt;
	return 0;
}

/* The watchdogs: a heartbeat, memory and CPU. */
static void watch_worker(struct desktop *d)
{
	uint64_t m = mono_us(), rss, ticks;

	if (d->state != PIPE_RUNNING)
		return;
	if (m - d->last_pong_us > (uint64_t)d->wcfg.hang_ms * 1000) {
		kill_worker(d, "stopped answering for %.1f s (hung)",
			    (double)(m - d->last_pong_us) / 1e6);
		return;
	}
	if (m - d->last_ping_us >= PING_EVERY_US) {
		struct msg p = {.type = MSG_PING};
		p.u.ping.id = m;
		link_send(d, &p);
		d->last_ping_us = m;
	}
	if (proc_usage(d->pid, &rss, &ticks) < 0)
		return;
	if (d->wcfg.memory_mb && rss > (uint64_t)d->wcfg.memory_mb * 1024) {
		kill_worker(d, "used %llu MiB, over its limit of %u MiB (worker.memory_mb)",
			    (unsigned long long)(rss / 1024), d->wcfg.memory_mb);
		return;
	}
	if (!d->cpu_at_us) {
		d->cpu_at_us = m;
		d->cpu_ticks = ticks;
	} else if (m - d->cpu_at_us >= (uint64_t)d->wcfg.cpu_window_s * 1000000) {
		double secs = (double)(m - d->cpu_at_us) / 1e6;
		double pct = (double)(ticks - d->cpu_ticks) / (double)sysconf(_SC_CLK_TCK) / secs *
			     100.0;
		if (d->wcfg.cpu_percent && pct > d->wcfg.cpu_percent) {
			kill_worker(d,
				    "used %.0f%% CPU over %.0f s, over its limit of %u%% "
				    "(worker.cpu_percent)",
				    pct, secs, d->wcfg.cpu_percent);
			return;
		}
		d->cpu_at_us = m;
		d->cpu_ticks = ticks;
	}
}

/* The last cursor shape as a CURSOR message (borrowing d's pixels). */
static void cursor_msg(const struct desktop *d, struct msg *m)
{
	*m = (struct msg){.type = MSG_CURSOR};
	m->u.cursor.width = d->cursor.width;
	m->u.cursor.height = d->cursor.height;
	m->u.cursor.hot_x = d->cursor.hot_x;
	m->u.cursor.hot_y = d->cursor.hot_y;
	m->u.cursor.pixels.data = d->cursor.pixels;
	m->u.cursor.pixels.len = (size_t)d->cursor.width * d->cursor.height * 4;
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
			    (s->control && d->resizable ? MSG_WELCOME_RESIZE : 0) |
			    (s->audio ? MSG_WELCOME_AUDIO : 0) | (s->mic ? MSG_WELCOME_MIC : 0);
	if (s->audio) {
		m.u.welcome.audio_rate = OPUS_CODEC_RATE;
		m.u.welcome.audio_channels = OPUS_CODEC_CHANNELS;
	}
	m.u.welcome.width = d->width;
	m.u.welcome.height = d->height;
	m.u.welcome.codec = MSG_CODEC_H264;
	m.u.welcome.session.data = (const uint8_t *)session_id;
	m.u.welcome.session.len = strlen(session_id);
	if (s->has_resume) {
		m.u.welcome.resume.data = s->resume;
		m.u.welcome.resume.len = sizeof(s->resume);
		m.u.welcome.resume_window_s = s->resume_window_s;
	}
	if (conn_send(s->conn, &m) < 0)
		return;
	/* the grant is the client's now; no copy stays here */
	OPENSSL_cleanse(s->resume, sizeof(s->resume));
	s->welcomed = true;
	s->want_keyframe = true;
	log_info("desktop %s: %s joined (%s%s%s%s)", d->id, s->user,
		 s->control ? "control" : "view only",
		 s->control && d->resizable ? ", may resize the desktop" : "",
		 s->audio ? ", sound" : "", s->mic ? ", microphone" : "");
	update_sound(d);
	if (d->on_welcome)
		d->on_welcome(s->conn, d->ud);
	if (d->have_cursor && s->cursor) {
		struct msg c;
		cursor_msg(d, &c);
		conn_send(s->conn, &c);
	}
	if (!s->control) {
		for (struct session *o = d->sessions; o; o = o->next)
			if (o->control && o->welcomed) {
				char text[200];
				snprintf(text, sizeof(text), "%s has control of the desktop",
					 o->user);
				send_status(s, MSG_STATUS_CONTROL_OFF, text);
				break;
			}
	}
	if (d->have_cursor_pos && s->cursor) {
		struct msg c = {.type = MSG_CURSOR_POS, .u.cursor_pos = d->cursor_pos};
		conn_send(s->conn, &c);
	}
	if (keyframe)
		request_keyframe(d);
}

static uint32_t inflight(const struct session *s)
{
	return s->next_frame - s->acked;
}

static bool lagging(const struct desktop *d, const struct session *s)
{
	return flow_lagging(&d->flow, inflight(s));
}

static bool far_behind(const struct desktop *d, const struct session *s)
{
	return flow_far_behind(&d->flow, inflight(s), conn_pending(s->conn));
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
	if (flow_update(&d->flow, any, all_lag, mono_us()))
		send_control(d);
}

/*
 * The worker's stage times arrive with the frame; the agent adds LINK (the
 * rest of the way here: what the worker did after the encoder, and the
 * socket) and, per client, QUEUE (docs/protocol.md §5.5).
 */
static uint32_t link_us(const struct msg_video *v, int64_t got_us)
{
	if (!(v->flags & MSG_VIDEO_TIMING))
		return 0;
	return clock_us32(got_us - msg_video_stage_start(v, MSG_STAGE_LINK));
}

static void fan_out_video(struct desktop *d, const struct msg_video *v)
{
	int64_t got = clock_real_us();
	uint32_t link = link_us(v, got);
	bool want_keyframe = false;

	for (struct session *s = d->sessions; s; s = s->next) {
		struct msg m = {.type = MSG_VIDEO};

		if (!s->welcomed)
			continue;
		if (s->want_keyframe && !(v->flags & MSG_VIDEO_KEYFRAME)) {
			/*
			 * Only a client that can take frames now asks for its key frame:
			 * the encoder is shared, so a viewer that stalled (never reads,
			 * never acknowledges) must not turn every frame of everyone into
			 * a key frame (issue 13). It asks once it acknowledges again.
			 */
			if (!lagging(d, s))
				want_keyframe = true;
			continue;
		}
		if (far_behind(d, s)) {
			/* dropping a P frame breaks its successors: resume at a key frame */
			s->want_keyframe = true;
			continue;
		}
		m.u.video = *v;
		m.u.video.frame = s->next_frame;
		if (s->timing) {
			m.u.video.flags |= MSG_VIDEO_TIMING;
			m.u.video.stage_us[MSG_STAGE_LINK] = link;
			m.u.video.stage_us[MSG_STAGE_QUEUE] = clock_us32(clock_real_us() - got);
		} else {
			m.u.video.flags &= (uint8_t)~MSG_VIDEO_TIMING;
		}
		if (conn_send(s->conn, &m) < 0)
			continue;
		s->sent_us[s->next_frame % SENT_RING] = mono_us();
		s->next_frame++;
		s->want_keyframe = false;
	}
	/* someone waits for a key frame: ask, but not more than 4 times a second */
	uint64_t m = mono_us();
	if (want_keyframe && m - d->last_keyframe_req_us > 250000)
		request_keyframe(d);
	update_throttle(d);
}

/* Sound goes out while a listener is attached; the encoder plans FEC for the worst loss. */
static void update_sound(struct desktop *d)
{
	bool listen = false;
	unsigned loss = 0;

	if (!d->sound)
		return;
	for (struct session *s = d->sessions; s; s = s->next)
		if (s->welcomed && s->audio) {
			listen = true;
			if (s->loss > loss)
				loss = s->loss;
		}
	sound_listen(d->sound, listen);
	sound_set_loss(d->sound, loss);
}

/* sound.h on_mic: the controlling client's microphone, for the console's record channel */
static void mic_to_console(const int16_t *pcm, int samples, int64_t capture_us, void *ud)
{
	struct desktop *d = ud;
	struct wlink_msg m = {.type = WLINK_PCM};

	if (!d->link || !d->console_up)
		return;
	m.u.pcm = (struct wlink_pcm){
		.capture_us = capture_us > 0 ? (uint64_t)capture_us : 0,
		.samples = (uint16_t)samples,
		.data = {(const uint8_t *)pcm, (size_t)samples * 4},
	};
	link_send_wlink(d, &m);
}

static void fan_out_audio(const struct msg_audio *a, void *ud)
{
	struct desktop *d = ud;
	struct msg m = {.type = MSG_AUDIO};

	m.u.audio = *a;
	for (struct session *s = d->sessions; s; s = s->next) {
		if (!s->welcomed || !s->audio)
			continue;
		/* sound is small, but not for a connection that takes nothing at all */
		if (conn_pending(s->conn) > FLOW_SKIP_BYTES) {
			s->audio_skipped++;
			continue;
		}
		if (conn_send(s->conn, &m) == 0)
			s->audio_sent++;
	}
}

static void fan_out_cursor(struct desktop *d)
{
	struct msg m;

	cursor_msg(d, &m);
	for (struct session *s = d->sessions; s; s = s->next)
		if (s->welcomed && s->cursor) /* §9.1: CURSOR only to who draws it */
			conn_send(s->conn, &m);
}

static void fan_out_clipboard(struct desktop *d, const struct msg_clipboard *cb)
{
	struct msg m = {.type = MSG_CLIPBOARD};
	int sent = 0;

	m.u.clipboard = *cb;
	for (struct session *s = d->sessions; s; s = s->next)
		if (s->welcomed && s->clipboard && conn_send(s->conn, &m) == 0)
			sent++;
	log_info("desktop %s: clipboard changed on the desktop (%zu bytes): sent to %d "
		 "client(s)",
		 d->id, cb->data.len, sent);
}

static void on_resize(struct desktop *d, uint16_t w, uint16_t h, bool resizable)
{
	bool changed = d->width && (d->width != w || d->height != h);
	bool toggled = d->width && d->resizable != resizable;

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
		/* docs/protocol.md §5.11: the controlling client's WELCOME flag RESIZE, updated */
		if (toggled && s->control)
			send_status(s, resizable ? MSG_STATUS_RESIZE_ON : MSG_STATUS_RESIZE_OFF,
				    resizable ? "the desktop can be resized to the window now"
					      : "the desktop can no longer be resized; it is shown "
						"fitted");
	}
	if (changed)
		log_info("desktop %s: console resized to %ux%u", d->id, w, h);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct desktop *d = arg;
	uint64_t m = mono_us();
	(void)fd;
	(void)what;

	for (struct session *s = d->sessions; s; s = s->next) {
		/* a console that does not come up within MSG_WELCOME_WAIT_MS: BYE, with why */
		if (!s->welcomed && m - s->joined_us > MSG_WELCOME_WAIT_MS * 1000ull)
			conn_close(s->conn, MSG_BYE_DESKTOP_UNAVAILABLE,
				   "the desktop's console is not reachable; try again later");
	}
	if (flow_tick(&d->flow, m))
		send_control(d);
	watch_worker(d);
	if (d->auth_failed && d->state == PIPE_WAITING && password_file_changed(d)) {
		reload_password(d);
		d->state = PIPE_IDLE;
		evtimer_del(d->restart_ev);
		start_worker(d);
	}
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
	link_send(d, &m);
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
	struct timeval tick = {0, FLOW_TICK_US};

	if (!capture_find(cfg->uri))
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->base = base;
	d->id = strdup(cfg->id);
	d->uri = strdup(cfg->uri);
	d->password = cfg->password ? strdup(cfg->password) : NULL;
	d->password_file = cfg->password_file ? strdup(cfg->password_file) : NULL;
	d->codec = cfg->codec ? strdup(cfg->codec) : NULL;
	d->preset = cfg->preset ? strdup(cfg->preset) : NULL;
	d->allow444 = cfg->chroma444;
	d->chroot_dir = cfg->worker.chroot_dir ? strdup(cfg->worker.chroot_dir) : NULL;
	d->fps = cfg->fps > 0 ? cfg->fps : 60;
	flow_init(&d->flow, cfg->max_inflight, cfg->bitrate_kbps);
	d->restart_wait_s = cfg->restart_wait_s ? cfg->restart_wait_s : 120;
	d->clipboard = cfg->clipboard;
	d->clipboard_max = cfg->clipboard_max ? cfg->clipboard_max : (1u << 20);
	d->wcfg = cfg->worker;
	d->wcfg.chroot_dir = NULL; /* d->chroot_dir owns the copy */
	if (!d->wcfg.hang_ms)
		d->wcfg.hang_ms = 5000;
	if (!d->wcfg.cpu_window_s)
		d->wcfg.cpu_window_s = 30;
	d->on_welcome = cfg->on_welcome;
	d->ud = cfg->ud;
	d->said = -1;
	d->backoff_kind = -1;
	if (!d->id || !d->uri || (cfg->password && !d->password) ||
	    (cfg->password_file && !d->password_file) || (cfg->codec && !d->codec) ||
	    (cfg->preset && !d->preset) || (cfg->worker.chroot_dir && !d->chroot_dir))
		goto fail;
	remember_password_file(d);
	if (cfg->sound.source_uri || cfg->sound.mic_sink) {
		struct sound_cfg scfg = cfg->sound;
		scfg.desktop = d->id;
		scfg.on_packet = fan_out_audio;
		scfg.on_mic = mic_to_console;
		scfg.ud = d;
		d->has_audio = cfg->sound.source_uri != NULL;
		d->sound = sound_new(base, &scfg);
		if (!d->sound) {
			desktop_free(d);
			return NULL;
		}
	}
	d->tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, d);
	d->resize_ev = evtimer_new(base, resize_cb, d);
	d->restart_ev = evtimer_new(base, restart_cb, d);
	if (!d->tick_ev || !d->resize_ev || !d->restart_ev)
		goto fail;
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
	if (d->pid) {
		/* the end of the link is the worker's BYE: the loop no longer runs to flush one */
		if (d->link)
			shutdown(bufferevent_getfd(d->link), SHUT_WR);
		int st = reap(d->pid, FREE_WAIT_MS);
		char how[120];
		describe_exit(st, how, sizeof(how));
		log_info("desktop %s: worker %d %s", d->id, (int)d->pid, how);
	}
	if (d->link)
		bufferevent_free(d->link);
	sound_free(d->sound);
	if (d->tick_ev)
		event_free(d->tick_ev);
	if (d->resize_ev)
		event_free(d->resize_ev);
	if (d->restart_ev)
		event_free(d->restart_ev);
	free(d->cursor.pixels);
	free(d->id);
	free(d->uri);
	if (d->password)
		memset(d->password, 0, strlen(d->password));
	free(d->password);
	free(d->password_file);
	free(d->codec);
	free(d->preset);
	free(d->chroot_dir);
	free(d);
}

const char *desktop_id(const struct desktop *d)
{
	return d->id;
}

enum desktop_console desktop_console(const struct desktop *d)
{
	/* a refused password holds whether or not anyone watches */
	if (d->auth_failed)
		return DESKTOP_CONSOLE_REFUSED;
	if (d->state != PIPE_RUNNING || !d->console_known)
		return DESKTOP_CONSOLE_UNKNOWN;
	return d->console_up ? DESKTOP_CONSOLE_UP : DESKTOP_CONSOLE_LOST;
}

const char *desktop_console_reason(const struct desktop *d)
{
	if (d->auth_failed)
		return "the console refused the agent's credentials; fix the desktop's password "
		       "file";
	if (desktop_console(d) == DESKTOP_CONSOLE_LOST && d->said > WLINK_CONSOLE_UP)
		return d->said_text;
	return "";
}

unsigned desktop_restarts(const struct desktop *d)
{
	return d->restarts;
}

struct session *desktop_attach(struct desktop *d, struct conn *c, const struct desktop_join *j)
{
	struct session *s = calloc(1, sizeof(*s)), **tail;
	const struct msg_hello *hello = j->hello;

	if (!s)
		return NULL;
	s->d = d;
	s->conn = c;
	snprintf(s->user, sizeof(s->user), "%s", j->user);
	if (j->resume) {
		memcpy(s->resume, j->resume, sizeof(s->resume));
		s->has_resume = true;
		s->resume_window_s = j->resume_window_s;
	}
	s->max_w = hello->max_width;
	s->max_h = hello->max_height;
	s->clipboard = d->clipboard && (hello->caps & MSG_CAP_CLIPBOARD);
	s->audio = d->sound && d->has_audio && (hello->caps & MSG_CAP_OPUS);
	s->cursor = hello->caps & MSG_CAP_CURSOR;
	s->timing = hello->caps & MSG_CAP_TIMING;
	s->h444 = hello->caps & MSG_CAP_H264_444;
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
	update_chroma(d);
	/* only the controlling client's microphone, as only its keyboard */
	s->mic = s->control && d->sound && sound_has_mic(d->sound) && (hello->caps & MSG_CAP_MIC);

	if (d->auth_failed && password_file_changed(d)) {
		reload_password(d);
		if (d->state == PIPE_WAITING) {
			evtimer_del(d->restart_ev);
			d->state = PIPE_IDLE;
		}
	}
	if (d->auth_failed) {
		log_info("desktop %s: %s refused: the console refused the agent's credentials",
			 d->id, s->user);
		conn_close(
			c, MSG_BYE_DESKTOP_UNAVAILABLE,
			"the desktop's console refused the agent's credentials; an administrator "
			"must fix the desktop's password");
		return s;
	}
	if (d->state == PIPE_RUNNING && d->width && d->console_up)
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
	link_send(d, &in);
}

/* docs/protocol.md §2: only with WELCOME CLIPBOARD; only the controlling client's. */
static void clipboard_from_client(struct session *s, const struct msg_clipboard *cb)
{
	struct desktop *d = s->d;
	struct msg m = {.type = MSG_CLIPBOARD};

	if (!s->clipboard || !s->control || cb->format != MSG_CLIPBOARD_TEXT)
		return;
	if (cb->data.len > d->clipboard_max) {
		log_info("desktop %s: clipboard text of %zu bytes from %s is over "
			 "clipboard.max_bytes (%zu): not copied",
			 d->id, cb->data.len, s->user, d->clipboard_max);
		return;
	}
	m.u.clipboard = *cb; /* msg_decode checked: text, no NUL */
	link_send(d, &m);
}

void desktop_session_msg(struct session *s, const struct msg *m)
{
	struct desktop *d = s->d;

	if (!d)
		return;
	if (!s->welcomed) {
		/* docs/protocol.md §2.1: until WELCOME a client sends only PING and BYE */
		if (!s->early_logged)
			log_info("desktop %s: %s sent %s before WELCOME: dropped (and what follows "
				 "until then)",
				 d->id, s->user, msg_type_name(m->type));
		s->early_logged = true;
		return;
	}
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
	case MSG_MIC:
		/* docs/protocol.md §5.20: dropped unless WELCOME offered MIC */
		if (s->mic && sound_mic(d->sound, &m->u.audio) == 0)
			s->mic_in++;
		else
			s->mic_dropped++;
		break;
	case MSG_AUDIO_REPORT:
		if (s->audio) {
			s->loss = m->u.audio_report.loss;
			update_sound(d);
		}
		break;
	case MSG_KEYFRAME_REQUEST: {
		uint64_t now = mono_us();
		if (now - d->last_keyframe_req_us > 250000)
			request_keyframe(d);
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

/*
 * The controller left: control passes to the client that has watched
 * longest (sessions are kept in join order), and every client hears who
 * has it (docs/protocol.md §5.11). Its microphone is not handed over: that
 * needs a WELCOME with flag MIC.
 */
static void pass_control(struct desktop *d, const char *left)
{
	struct session *next = NULL;
	char text[300];

	next = d->sessions; /* the longest watching; one still waiting for WELCOME gets it there */
	if (!next)
		return; /* the next to join takes it */
	next->control = true;
	log_info("desktop %s: %s left; %s has control now", d->id, left, next->user);
	for (struct session *o = d->sessions; o; o = o->next) {
		if (!o->welcomed)
			continue;
		if (o == next) {
			snprintf(text, sizeof(text),
				 "you have control of the desktop now (%s left)", left);
			send_status(o, MSG_STATUS_CONTROL_ON, text);
			if (d->resizable)
				send_status(o, MSG_STATUS_RESIZE_ON,
					    "the desktop can be resized to the window now");
		} else {
			snprintf(text, sizeof(text), "%s has control of the desktop", next->user);
			send_status(o, MSG_STATUS_CONTROL_OFF, text);
		}
	}
}

static void detach(struct session *s, bool hand_over);

void desktop_detach(struct session *s)
{
	detach(s, true);
}

void desktop_detach_replaced(struct session *s)
{
	detach(s, false);
}

static void detach(struct session *s, bool hand_over)
{
	struct desktop *d = s->d;
	struct session **pp;
	bool had_control = s->control;
	char user[sizeof(s->user)];

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
			link_send(d, &rel[i]);
	}
	for (pp = &d->sessions; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = s->next;
	update_chroma(d);
	if (s->welcomed && (s->audio || s->mic || s->mic_dropped))
		log_info("desktop %s: %s left (sound: %llu packets sent, %llu skipped; "
			 "microphone: %llu packets played, %llu dropped)",
			 d->id, s->user, (unsigned long long)s->audio_sent,
			 (unsigned long long)s->audio_skipped, (unsigned long long)s->mic_in,
			 (unsigned long long)s->mic_dropped);
	else if (s->welcomed)
		log_info("desktop %s: %s left", d->id, s->user);
	snprintf(user, sizeof(user), "%s", s->user);
	OPENSSL_cleanse(s->resume, sizeof(s->resume));
	free(s);
	if (had_control && hand_over)
		pass_control(d, user);
	update_throttle(d);
	update_sound(d);
	if (!d->sessions)
		stop_pipeline(d); /* nobody watching: stop capturing */
}
