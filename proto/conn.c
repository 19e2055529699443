/* SPDX-License-Identifier: MIT */
#include "conn.h"

#include "error.h"
#include "log.h"
#include "tls.h"
#include "ws.h"

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
	/* conn_cfg.websocket: frames unwrapped from their messages, and a message in pieces */
	bool ws;
	struct evbuffer *ws_in, *ws_msg;
};

/* A whole unmasked WebSocket frame (a server's), for control frames. */
static void ws_send(struct conn *c, enum ws_opcode op, const uint8_t *payload, size_t len)
{
	uint8_t hdr[WS_HEADER_MAX];
	size_t hlen = ws_frame_header(hdr, op, true, len);
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add(out, hdr, hlen);
	if (len)
		evbuffer_add(out, payload, len);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	if (c->linger)
		event_free(c->linger);
	event_free(c->reaper);
	if (c->ws_in)
		evbuffer_free(c->ws_in);
	if (c->ws_msg)
		evbuffer_free(c->ws_msg);
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
	if (c->ws)
		ws_send(c, WS_CLOSE,
			(const uint8_t[]){WS_STATUS_NORMAL >> 8, WS_STATUS_NORMAL & 0xff}, 2);
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

/*
 * Moves the complete messages of a WebSocket's input into c->ws_in, each one
 * checked to be exactly one frame, and answers its control frames. 0, or < 0
 * once the connection is ending (protocol_error or finish was called).
 */
static int ws_unwrap(struct conn *c, struct evbuffer *in)
{
	while (c->state == CONN_OPEN) {
		size_t avail = evbuffer_get_length(in), have = evbuffer_get_length(c->ws_msg);
		size_t n = avail < WS_HEADER_MAX ? avail : WS_HEADER_MAX;
		struct ws_frame f;
		const char *why = NULL;
		uint8_t *p;
		int rc;

		if (n == 0)
			return 0;
		rc = ws_frame_parse(evbuffer_pullup(in, (ev_ssize_t)n), n, true, &f, &why);
		if (rc == 0)
			return 0;
		if (rc < 0) {
			protocol_error(c, HR_EPROTO_INVALID, "WebSocket: %s", why);
			return -1;
		}
		bool data = f.opcode == WS_BINARY || f.opcode == WS_CONTINUATION;
		if (f.opcode == WS_TEXT) {
			protocol_error(c, HR_EPROTO_INVALID,
				       "WebSocket: a text message (the protocol's frames travel in "
				       "binary messages)");
			return -1;
		}
		if (data && (f.opcode == WS_CONTINUATION) != (have > 0)) {
			protocol_error(c, HR_EPROTO_INVALID, "WebSocket: %s",
				       have ? "a new message began before the last one ended"
					    : "a continuation without a message to continue");
			return -1;
		}
		if (data && f.len > c->max_frame - have) {
			protocol_error(
				c, HR_EPROTO_TOO_LONG,
				"WebSocket: a message larger than this connection's limit of "
				"%zu bytes",
				c->max_frame);
			return -1;
		}
		if (avail < f.header + f.len)
			return 0;
		p = evbuffer_pullup(in, (ev_ssize_t)(f.header + f.len));
		if (!p) {
			protocol_error(c, -ENOMEM, "out of memory for a WebSocket frame");
			return -1;
		}
		ws_unmask(p + f.header, (size_t)f.len, f.mask, 0);
		if (data)
			evbuffer_add(c->ws_msg, p + f.header, (size_t)f.len);
		else if (f.opcode == WS_PING)
			ws_send(c, WS_PONG, p + f.header, (size_t)f.len);
		else if (f.opcode == WS_CLOSE) {
			unsigned code = f.len >= 2 ? (unsigned)p[f.header] << 8 | p[f.header + 1]
						   : 0;
			char why_closed[96];

			evbuffer_drain(in, f.header + f.len);
			ws_send(c, WS_CLOSE, (const uint8_t[]){code >> 8, code & 0xff},
				code ? 2 : 0);
			snprintf(why_closed, sizeof(why_closed),
				 "the browser closed the WebSocket (code %u) without a BYE", code);
			finish(c, -EPIPE, why_closed);
			return -1;
		}
		evbuffer_drain(in, f.header + f.len);
		if (!data || !f.fin)
			continue;
		/* a whole message: exactly one frame of docs/protocol.md §3, or nothing goes on */
		size_t len = evbuffer_get_length(c->ws_msg), frame_len = 0;
		uint8_t *m = evbuffer_pullup(c->ws_msg, len < 5 ? (ev_ssize_t)len : 5);
		rc = len < 5 ? -EAGAIN : msg_frame_peek(m, 5, &frame_len);
		if (rc < 0 && rc != -EAGAIN) {
			protocol_error(c, rc, "bad frame length: %s", hr_strerror(rc));
			return -1;
		}
		if (len < 5 || (size_t)4 + ((size_t)m[0] << 24 | (size_t)m[1] << 16 |
					    (size_t)m[2] << 8 | m[3]) !=
				       len) {
			protocol_error(c, HR_EPROTO_INVALID,
				       "WebSocket: a message of %zu bytes that is not exactly one "
				       "frame",
				       len);
			return -1;
		}
		evbuffer_add_buffer(c->ws_in, c->ws_msg);
	}
	return -1;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (c->ws) {
		if (ws_unwrap(c, in) < 0)
			return;
		in = c->ws_in;
	}
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
	c->ws = cfg && cfg->websocket;
	if (c->ws && (!(c->ws_in = evbuffer_new()) || !(c->ws_msg = evbuffer_new())))
		goto fail_events;
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
	/* bytes that came with what the caller read first (the agent's sniffing) go on now */
	if (evbuffer_get_length(bufferevent_get_input(bev)))
		bufferevent_trigger(bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
	return c;

fail_events:
	if (c->ws_in)
		evbuffer_free(c->ws_in);
	if (c->ws_msg)
		evbuffer_free(c->ws_msg);
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
	uint8_t hdr[WS_HEADER_MAX];
	size_t hlen = c->ws ? ws_frame_header(hdr, WS_BINARY, true, size) : 0;
	/* encode straight into the output buffer: one copy of the payload, not two */
	if (evbuffer_reserve_space(out, (ev_ssize_t)(hlen + size), &iov, 1) < 1 ||
	    iov.iov_len < hlen + size)
		return -ENOMEM;
	rc = msg_encode(m, (uint8_t *)iov.iov_base + hlen, iov.iov_len - hlen, &len);
	if (rc < 0)
		return rc;
	if (c->ws && len != size) /* the message header announced size bytes */
		return HR_EPROTO_INVALID;
	memcpy(iov.iov_base, hdr, hlen);
	iov.iov_len = hlen + len;
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
