/* SPDX-License-Identifier: MIT */
/*
 * proto/conn over a real socketpair: messages arrive intact, unknown types
 * are skipped, malformed and oversized frames end the connection with a BYE
 * that says why, and every ending reports once through on_close.
 */
#include "check.h"

#include "conn.h"
#include "error.h"
#include "log.h"
#include "msg.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct side {
	struct conn *conn;
	int closes;
	int close_err;
	char reason[300];
	int msgs;
	struct msg last;
	uint8_t last_bytes[1 << 21]; /* the last message re-encoded, to compare */
	size_t last_len;
	int close_in_callback; /* call conn_close from on_msg */
};

static struct event_base *base;

static void on_msg(struct conn *c, const struct msg *m, void *ud)
{
	struct side *s = ud;
	s->msgs++;
	s->last = *m;
	if (msg_encode(m, s->last_bytes, sizeof(s->last_bytes), &s->last_len) < 0)
		s->last_len = 0;
	if (s->close_in_callback)
		conn_close(c, MSG_BYE_NORMAL, "done from a callback");
}

static void on_close(struct conn *c, int err, const char *reason, void *ud)
{
	struct side *s = ud;
	(void)c;
	s->closes++;
	s->close_err = err;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	s->conn = NULL;
}

static const struct conn_cbs cbs = {.on_msg = on_msg, .on_close = on_close};

/* Runs the loop until cond holds or 5 s pass. */
#define RUN_UNTIL(cond)                                       \
	do {                                                  \
		for (int i_ = 0; i_ < 500 && !(cond); i_++) { \
			struct timeval tv_ = {0, 10000};      \
			event_base_loopexit(base, &tv_);      \
			event_base_dispatch(base);            \
		}                                             \
	} while (0)

/* One short loop turn: lets deferred frees and pending I/O run. */
static void run_once(void)
{
	struct timeval tv = {0, 10000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void pair(struct side *a, struct side *b, const struct conn_cfg *cfg_b)
{
	int sv[2];
	CHECK_INT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	evutil_make_socket_nonblocking(sv[0]);
	evutil_make_socket_nonblocking(sv[1]);
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->conn = conn_new(bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE), &cbs, a,
			   NULL);
	b->conn = conn_new(bufferevent_socket_new(base, sv[1], BEV_OPT_CLOSE_ON_FREE), &cbs, b,
			   cfg_b);
	CHECK(a->conn && b->conn);
}

/* One side raw (a socket we write bytes into), the other a conn. */
static int raw_pair(struct side *b, const struct conn_cfg *cfg_b)
{
	int sv[2];
	CHECK_INT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	evutil_make_socket_nonblocking(sv[1]);
	memset(b, 0, sizeof(*b));
	b->conn = conn_new(bufferevent_socket_new(base, sv[1], BEV_OPT_CLOSE_ON_FREE), &cbs, b,
			   cfg_b);
	return sv[0];
}

static void end_pair(struct side *a, struct side *b)
{
	if (a->conn)
		conn_close(a->conn, MSG_BYE_NORMAL, "test over");
	if (b->conn)
		conn_close(b->conn, MSG_BYE_NORMAL, "test over");
	RUN_UNTIL(a->closes && b->closes);
	run_once(); /* one more turn so the reapers run */
}

static void test_every_type_arrives(void)
{
	static uint8_t video[1 << 20], pixels[32 * 32 * 4];
	static const char ticket[] = "opaque-ticket-bytes";
	struct side a, b;
	struct msg msgs[18];
	int n = 0;

	for (size_t i = 0; i < sizeof(video); i++)
		video[i] = (uint8_t)(i * 7 + (i >> 9));
	memset(pixels, 0x80, sizeof(pixels));
	memset(msgs, 0, sizeof(msgs));
	msgs[n].type = MSG_HELLO;
	msgs[n].u.hello.version = MSG_PROTOCOL_VERSION;
	msgs[n].u.hello.caps = MSG_CAP_H264 | MSG_CAP_OPUS;
	msgs[n].u.hello.ticket.data = (const uint8_t *)ticket;
	msgs[n++].u.hello.ticket.len = sizeof(ticket) - 1;
	msgs[n].type = MSG_WELCOME;
	msgs[n].u.welcome.version = MSG_PROTOCOL_VERSION;
	msgs[n].u.welcome.width = 1920;
	msgs[n].u.welcome.height = 1080;
	msgs[n++].u.welcome.codec = MSG_CODEC_H264;
	msgs[n].type = MSG_PING;
	msgs[n++].u.ping.id = 0x0102030405060708ull;
	msgs[n].type = MSG_PONG;
	msgs[n++].u.ping.id = 42;
	msgs[n].type = MSG_VIDEO;
	msgs[n].u.video.frame = 7;
	msgs[n].u.video.flags = MSG_VIDEO_KEYFRAME;
	msgs[n].u.video.data.data = video;
	msgs[n++].u.video.data.len = sizeof(video);
	msgs[n].type = MSG_AUDIO;
	msgs[n].u.audio.data.data = video;
	msgs[n++].u.audio.data.len = 160;
	msgs[n].type = MSG_CURSOR;
	msgs[n].u.cursor.width = 32;
	msgs[n].u.cursor.height = 32;
	msgs[n].u.cursor.hot_x = 3;
	msgs[n].u.cursor.pixels.data = pixels;
	msgs[n++].u.cursor.pixels.len = sizeof(pixels);
	msgs[n].type = MSG_CURSOR_POS;
	msgs[n].u.cursor_pos.x = 100;
	msgs[n++].u.cursor_pos.visible = true;
	msgs[n].type = MSG_RESIZE;
	msgs[n].u.resize.width = 1280;
	msgs[n++].u.resize.height = 720;
	msgs[n].type = MSG_CLIPBOARD;
	msgs[n].u.clipboard.format = MSG_CLIPBOARD_TEXT;
	msgs[n].u.clipboard.data.data = (const uint8_t *)"héllo";
	msgs[n++].u.clipboard.data.len = strlen("héllo");
	msgs[n].type = MSG_KEY;
	msgs[n].u.key.scancode = 30;
	msgs[n].u.key.keysym = 'a';
	msgs[n++].u.key.flags = MSG_KEY_DOWN;
	msgs[n].type = MSG_POINTER;
	msgs[n].u.pointer.x = 5;
	msgs[n++].u.pointer.buttons = 1;
	msgs[n].type = MSG_SCROLL;
	msgs[n++].u.scroll.dy = -120;
	msgs[n].type = MSG_TOUCH;
	msgs[n++].u.touch.phase = MSG_TOUCH_BEGIN;
	msgs[n].type = MSG_PEN;
	msgs[n].u.pen.pressure = 65535;
	msgs[n++].u.pen.tilt_x = -90;
	msgs[n++].type = MSG_KEYFRAME_REQUEST;
	msgs[n].type = MSG_ACK;
	msgs[n++].u.ack.frame = 7;

	pair(&a, &b, NULL);
	for (int i = 0; i < n; i++) {
		static uint8_t want[(1 << 20) + 64];
		size_t want_len = 0;

		CHECK_INT_EQ(conn_send(a.conn, &msgs[i]), 0);
		RUN_UNTIL(b.msgs == i + 1);
		CHECK_INT_EQ(b.msgs, i + 1);
		CHECK_INT_EQ(b.last.type, msgs[i].type);
		CHECK_INT_EQ(msg_encode(&msgs[i], want, sizeof(want), &want_len), 0);
		CHECK_INT_EQ(b.last_len, want_len);
		CHECK_MEM_EQ(b.last_bytes, want, want_len);
	}
	CHECK_INT_EQ(conn_pending(a.conn), 0);
	end_pair(&a, &b);
	CHECK_INT_EQ(a.closes, 1);
	CHECK_INT_EQ(b.closes, 1);
}

static void test_close_sends_bye(void)
{
	struct side a, b;

	pair(&a, &b, NULL);
	conn_close(a.conn, MSG_BYE_SHUTDOWN, "agent is shutting down");
	RUN_UNTIL(a.closes && b.closes);
	CHECK_INT_EQ(a.closes, 1);
	CHECK_INT_EQ(a.close_err, 0);
	CHECK_INT_EQ(b.closes, 1);
	CHECK_INT_EQ(b.close_err, 0);
	CHECK_STR_EQ(b.reason, "agent is shutting down");
	CHECK_INT_EQ(b.last.type, MSG_BYE);
	CHECK_INT_EQ(b.last.u.bye.reason, MSG_BYE_SHUTDOWN);
	run_once();
}

static void test_close_inside_callback(void)
{
	struct side a, b;
	struct msg ping = {.type = MSG_PING};

	pair(&a, &b, NULL);
	b.close_in_callback = 1;
	CHECK_INT_EQ(conn_send(a.conn, &ping), 0);
	CHECK_INT_EQ(conn_send(a.conn, &ping), 0); /* must not be delivered after the close */
	RUN_UNTIL(a.closes && b.closes);
	CHECK_INT_EQ(b.msgs, 1);
	CHECK_INT_EQ(b.closes, 1);
	CHECK_STR_EQ(a.reason, "done from a callback");
	run_once();
}

/* Reads everything the conn wrote to the raw socket until EOF (bounded). */
static size_t drain_raw(int fd, uint8_t *buf, size_t cap)
{
	size_t len = 0;
	for (int i = 0; i < 500 && len < cap; i++) {
		ssize_t n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		run_once();
	}
	return len;
}

static void bad_bytes_case(const char *label, const uint8_t *bytes, size_t len, size_t max_frame,
			   const char *want_in_reason)
{
	struct conn_cfg cfg = {.max_frame = max_frame, .name = label};
	struct side b;
	uint8_t got[4096];
	size_t got_len, flen = 0;
	struct msg bye;
	int fd = raw_pair(&b, &cfg);

	CHECK_INT_EQ(write(fd, bytes, len), (ssize_t)len);
	RUN_UNTIL(b.closes);
	CHECK_INT_EQ(b.closes, 1);
	CHECK(b.close_err < 0);
	if (!strstr(b.reason, want_in_reason)) {
		fprintf(stderr, "%s: reason '%s' lacks '%s'\n", label, b.reason, want_in_reason);
		CHECK(0);
	}
	/* the peer was told why, in a BYE */
	got_len = drain_raw(fd, got, sizeof(got));
	CHECK_INT_EQ(msg_frame_peek(got, got_len, &flen), 0);
	CHECK_INT_EQ(msg_decode(got, flen, &bye), 0);
	CHECK_INT_EQ(bye.type, MSG_BYE);
	CHECK_INT_EQ(bye.u.bye.reason, MSG_BYE_PROTOCOL_ERROR);
	CHECK(bye.u.bye.text.len > 0);
	printf("%s: closed with \"%s\"\n", label, b.reason);
	close(fd);
	run_once();
}

static void test_bad_input(void)
{
	static const uint8_t resize_zero[] = {0, 0, 0, 5, MSG_RESIZE, 0, 0, 0, 0};
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, MSG_VIDEO};
	static const uint8_t empty[] = {0, 0, 0, 0, 0};
	static const uint8_t truncated_key[] = {0, 0, 0, 3, MSG_KEY, 0, 30};
	uint8_t clip[2005] = {0, 0, 0x07, 0xd1, MSG_CLIPBOARD, MSG_CLIPBOARD_TEXT};

	memset(clip + 6, 'x', sizeof(clip) - 6);
	bad_bytes_case("resize 0x0", resize_zero, sizeof(resize_zero), 0, "RESIZE");
	bad_bytes_case("length 0xffffffff", huge, sizeof(huge), 0, "length");
	bad_bytes_case("length 0", empty, sizeof(empty), 0, "empty");
	bad_bytes_case("truncated KEY", truncated_key, sizeof(truncated_key), 0, "truncated");
	bad_bytes_case("over max_frame", clip, sizeof(clip), 1024, "limit of 1024");
}

static void test_unknown_type_skipped(void)
{
	static const uint8_t bytes[] = {
		0, 0, 0, 4, 200,	1,    2,    3,		/* unknown type 200 with 3 bytes */
		0, 0, 0, 5, MSG_RESIZE, 0x05, 0x00, 0x02, 0xd0, /* RESIZE 1280x720 */
	};
	struct side b;
	int fd = raw_pair(&b, NULL);

	CHECK_INT_EQ(write(fd, bytes, sizeof(bytes)), (ssize_t)sizeof(bytes));
	RUN_UNTIL(b.msgs == 1);
	CHECK_INT_EQ(b.msgs, 1);
	CHECK_INT_EQ(b.last.type, MSG_RESIZE);
	CHECK_INT_EQ(b.last.u.resize.width, 1280);
	CHECK_INT_EQ(b.last.u.resize.height, 720);
	CHECK_INT_EQ(b.closes, 0);
	/* the peer vanishing is reported as such */
	close(fd);
	RUN_UNTIL(b.closes);
	CHECK_INT_EQ(b.closes, 1);
	CHECK_INT_EQ(b.close_err, -EPIPE);
	CHECK(strstr(b.reason, "closed") != NULL);
	run_once();
}

static void test_send_after_close(void)
{
	struct side a, b;
	struct msg ping = {.type = MSG_PING};
	struct msg bad = {.type = MSG_RESIZE}; /* 0x0: refused by the encoder */

	pair(&a, &b, NULL);
	CHECK_INT_EQ(conn_send(a.conn, &bad), HR_EPROTO_INVALID);
	struct conn *keep = a.conn;
	conn_close(a.conn, MSG_BYE_NORMAL, "bye");
	if (a.closes == 0) /* still flushing: sends are refused */
		CHECK_INT_EQ(conn_send(keep, &ping), -EPIPE);
	RUN_UNTIL(a.closes && b.closes);
	CHECK_INT_EQ(a.closes, 1);
	run_once();
}

static void test_text_fit(void)
{
	char s[MSG_REASON_MAX + 8];

	CHECK_INT_EQ(msg_text_fit("short", MSG_REASON_MAX), 5);
	memset(s, 'a', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	CHECK_INT_EQ(msg_text_fit(s, MSG_REASON_MAX), MSG_REASON_MAX);
	/* "é" (c3 a9) straddling the limit is left out whole */
	s[MSG_REASON_MAX - 1] = (char)0xc3;
	s[MSG_REASON_MAX] = (char)0xa9;
	CHECK_INT_EQ(msg_text_fit(s, MSG_REASON_MAX), MSG_REASON_MAX - 1);
}

int main(void)
{
	test_text_fit();
	log_open("test_conn", LOG_LEVEL_WARN, LOG_TARGET_STDERR);
	base = event_base_new();
	test_every_type_arrives();
	test_close_sends_bye();
	test_close_inside_callback();
	test_bad_input();
	test_unknown_type_skipped();
	test_send_after_close();
	event_base_free(base);
	libevent_global_shutdown();
	return check_done("test_conn");
}
