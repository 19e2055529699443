/* SPDX-License-Identifier: MIT */
#include "conn.h"

#include "error.h"
#include "log.h"
#include "tls.h"

#include <errno.h>
#include <stdarg.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum conn_state {
	CONN_OPEN,
	CONN_CLOSING, /* BYE queued, waiting for the output to drain */
	CONN_DEAD,    /* on_close called; freed on the next loop turn */
};

struct conn {
	struct bufferevent *bev;
	struct conn_cbs cbs;
	void *userdata;
	size_t max_frame;
	bool deliver_unknown; /* conn_cfg's */
	int linger_ms;
	char name[96];
	enum conn_state state;
	struct event *reaper; /* frees the conn outside of any of its callbacks */
	struct event *linger; /* bounds how long CLOSING waits for a slow peer */
	int close_err;	      /* what on_close reports once the BYE is flushed */
	char close_reason[256];
};

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	if (c->linger)
		event_free(c->linger);
	event_free(c->reaper);
	bufferevent_free(c->bev);
	free(c);
}

/* Ends the connection once: report, stop I/O, free on the next loop turn. */
static void finish(struct conn *c, int err, const char *reason)
{
	if (c->state == CONN_DEAD)
		return;
	c->state = CONN_DEAD;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	if (c->linger)
		event_del(c->linger);
	event_active(c->reaper, EV_TIMEOUT, 0);
	if (c->cbs.on_close)
		c->cbs.on_close(c, err, reason, c->userdata);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	(void)bev;
	if (c->state == CONN_CLOSING)
		finish(c, c->close_err, c->close_reason);
}

static void linger_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	finish(c, c->close_err ? c->close_err : -ETIMEDOUT, c->close_reason);
}

static void start_close(struct conn *c, uint16_t reason, const char *text, int err)
{
	struct msg bye = {.type = MSG_BYE};
	struct timeval tv = {c->linger_ms / 1000, (c->linger_ms % 1000) * 1000};

	if (c->state != CONN_OPEN)
		return;
	bye.u.bye.reason = reason;
	bye.u.bye.text.data = (const uint8_t *)text;
	bye.u.bye.text.len = text ? msg_text_fit(text, MSG_REASON_MAX) : 0;
	if (conn_send(c, &bye) < 0) {
		bye.u.bye.text.len = 0; /* text not UTF-8: send the code alone */
		conn_send(c, &bye);
	}
	c->state = CONN_CLOSING;
	c->close_err = err;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", text ? text : "closed");
	bufferevent_disable(c->bev, EV_READ);
	evtimer_add(c->linger, &tv);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		finish(c, c->close_err, c->close_reason);
}

static void protocol_error(struct conn *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void protocol_error(struct conn *c, int err, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_warn("%s: %s; closing", c->name, text);
	start_close(c, err == HR_EPROTO_VERSION ? MSG_BYE_VERSION : MSG_BYE_PROTOCOL_ERROR, text,
		    err);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (c->state == CONN_OPEN) {
		size_t avail = evbuffer_get_length(in), frame_len = 0;
		const uint8_t *p;
		struct msg m;
		int rc;

		if (avail < 4)
			return;
		p = evbuffer_pullup(in, 4);
		rc = msg_frame_peek(p, 4, &frame_len);
		if (rc != -EAGAIN && rc < 0) {
			protocol_error(c, rc, "bad frame length: %s", hr_strerror(rc));
			return;
		}
		/* the length field alone tells the size: peek it before pulling up */
		frame_len = 4 +
			    ((size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]);
		if (frame_len > c->max_frame) {
			protocol_error(c, HR_EPROTO_TOO_LONG,
				       "frame of %zu bytes is larger than this connection's limit "
				       "of %zu",
				       frame_len, c->max_frame);
			return;
		}
		if (avail < frame_len)
			return;
		p = evbuffer_pullup(in, (ev_ssize_t)frame_len);
		if (!p) {
			protocol_error(c, -ENOMEM, "out of memory for a %zu-byte frame", frame_len);
			return;
		}
		rc = msg_decode(p, frame_len, &m);
		if (rc < 0) {
			protocol_error(c, rc, "malformed %s frame (type %u, %zu bytes): %s",
				       msg_type_name(p[4]), p[4], frame_len, hr_strerror(rc));
			return;
		}
		if (m.type == MSG_BYE) {
			char text[MSG_REASON_MAX + 1];
			memcpy(text, m.u.bye.text.data ? (const char *)m.u.bye.text.data : "",
			       m.u.bye.text.len);
			text[m.u.bye.text.len] = '\0';
			if (!text[0])
				snprintf(text, sizeof(text), "%s",
					 msg_bye_reason_name(m.u.bye.reason));
			if (c->cbs.on_msg)
				c->cbs.on_msg(c, &m, c->userdata);
			finish(c, 0, text);
			return;
		}
		if ((m.type != MSG_UNKNOWN || c->deliver_unknown) && c->cbs.on_msg)
			c->cbs.on_msg(c, &m, c->userdata);
		else if (m.type == MSG_UNKNOWN)
			log_debug("%s: skipped a frame of unknown type %u (%zu bytes)", c->name,
				  m.raw_type, frame_len);
		evbuffer_drain(in, frame_len);
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	char why[256];

	if (what & BEV_EVENT_CONNECTED) {
		if (c->cbs.on_open && c->state == CONN_OPEN)
			c->cbs.on_open(c, c->userdata);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (c->state == CONN_CLOSING) {
			finish(c, c->close_err, c->close_reason);
			return;
		}
		if (what & BEV_EVENT_ERROR)
			tls_describe_error(bev, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "the peer closed the connection");
		finish(c, (what & BEV_EVENT_ERROR) ? -ECONNRESET : -EPIPE, why);
	}
}

struct conn *conn_new(struct bufferevent *bev, const struct conn_cbs *cbs, void *userdata,
		      const struct conn_cfg *cfg)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		goto fail;
	c->bev = bev;
	c->cbs = *cbs;
	c->userdata = userdata;
	c->max_frame = cfg && cfg->max_frame ? cfg->max_frame : MSG_FRAME_MAX + 4;
	c->deliver_unknown = cfg && cfg->deliver_unknown;
	if (c->max_frame > MSG_FRAME_MAX + 4)
		c->max_frame = MSG_FRAME_MAX + 4;
	c->linger_ms = cfg && cfg->linger_ms > 0 ? cfg->linger_ms : 2000;
	snprintf(c->name, sizeof(c->name), "%s", cfg && cfg->name ? cfg->name : "connection");
	c->reaper = event_new(bufferevent_get_base(bev), -1, 0, reap_cb, c);
	c->linger = evtimer_new(bufferevent_get_base(bev), linger_cb, c);
	if (!c->reaper || !c->linger)
		goto fail_events;
	/* read at most one frame plus a little ahead: memory per connection stays bounded */
	bufferevent_setwatermark(bev, EV_READ, 0, c->max_frame + 65536);
	bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return c;

fail_events:
	if (c->reaper)
		event_free(c->reaper);
	if (c->linger)
		event_free(c->linger);
	free(c);
fail:
	log_error("conn: out of memory");
	bufferevent_free(bev);
	return NULL;
}

int conn_send(struct conn *c, const struct msg *m)
{
	struct evbuffer *out;
	struct evbuffer_iovec iov;
	size_t size, len = 0;
	int rc;

	if (c->state != CONN_OPEN)
		return -EPIPE;
	size = msg_encoded_size(m);
	if (size == 0)
		return HR_EPROTO_INVALID;
	out = bufferevent_get_output(c->bev);
	/* encode straight into the output buffer: one copy of the payload, not two */
	if (evbuffer_reserve_space(out, (ev_ssize_t)size, &iov, 1) < 1 || iov.iov_len < size)
		return -ENOMEM;
	rc = msg_encode(m, iov.iov_base, iov.iov_len, &len);
	if (rc < 0)
		return rc;
	iov.iov_len = len;
	if (evbuffer_commit_space(out, &iov, 1) < 0)
		return -ENOMEM;
	return 0;
}

size_t conn_pending(const struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

void conn_close(struct conn *c, uint16_t reason, const char *text)
{
	start_close(c, reason, text, 0);
}

void conn_abort(struct conn *c, int err, const char *reason)
{
	finish(c, err < 0 ? err : -ETIMEDOUT, reason ? reason : "aborted");
}

struct bufferevent *conn_bufferevent(struct conn *c)
{
	return c->bev;
}

const char *conn_name(const struct conn *c)
{
	return c->name;
}
