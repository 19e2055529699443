/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for proto/msg: the input is what a peer sent, a stream of
 * frames. It is walked with msg_frame_peek as the event loop does, and every
 * frame is decoded from an exactly sized copy (so ASan sees any read past
 * its end). Beyond "no crash":
 *
 *  - every error is one of the documented codes;
 *  - a decoded message's byte strings lie inside the frame;
 *  - a decoded message re-encodes (the encoder accepts whatever the decoder
 *    does), to exactly msg_encoded_size bytes, refusing a buffer one byte
 *    short with -ENOSPC, and decode(encode(m)) == m field by field;
 *    msg_encode_head plus the bulk payload gives the same bytes;
 *  - the same payload is decoded under every known type byte as well (for
 *    the first few frames of an input, to keep it fast), so the fuzzer
 *    reaches all decoders from any frame it has found;
 *  - a partial frame at the end is also decoded as if its length said so.
 */
#include "error.h"
#include "msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Frames per input that are also decoded under every other type. */
#define RETYPED_FRAMES 4

/* The types this library decodes, from msg_type_name, so a new type is covered at once. */
static uint8_t known_types[256];
static size_t nknown;

static void find_known_types(void)
{
	if (nknown)
		return;
	for (unsigned t = 0; t < 256; t++)
		if (strcmp(msg_type_name((uint8_t)t), "UNKNOWN") != 0)
			known_types[nknown++] = (uint8_t)t;
	if (nknown == 0)
		abort();
}

static void die(const char *why, const struct msg *m)
{
	fprintf(stderr, "fuzz_proto: %s (type %u %s)\n", why, m ? m->raw_type : 0,
		m ? msg_type_name(m->raw_type) : "");
	abort();
}

static int is_decode_error(int rc)
{
	return rc == HR_EPROTO_TRUNCATED || rc == HR_EPROTO_TOO_LONG || rc == HR_EPROTO_EMPTY ||
	       rc == HR_EPROTO_VERSION || rc == HR_EPROTO_INVALID;
}

static int bytes_eq(struct msg_bytes a, struct msg_bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

static int bytes_within(struct msg_bytes b, const uint8_t *frame, size_t len)
{
	if (b.len == 0)
		return 1;
	return b.data >= frame && b.data <= frame + len && b.len <= (size_t)(frame + len - b.data);
}

/* Every field equal; byte strings by content. */
static int msg_same(const struct msg *a, const struct msg *b)
{
	if (a->type != b->type || a->raw_type != b->raw_type)
		return 0;
	switch (a->type) {
	case MSG_HELLO: {
		const struct msg_hello *x = &a->u.hello, *y = &b->u.hello;
		return x->version == y->version && x->caps == y->caps &&
		       x->max_width == y->max_width && x->max_height == y->max_height &&
		       bytes_eq(x->ticket, y->ticket) && bytes_eq(x->client_name, y->client_name);
	}
	case MSG_WELCOME: {
		const struct msg_welcome *x = &a->u.welcome, *y = &b->u.welcome;
		return x->version == y->version && x->flags == y->flags && x->width == y->width &&
		       x->height == y->height && x->codec == y->codec &&
		       x->audio_rate == y->audio_rate && x->audio_channels == y->audio_channels &&
		       bytes_eq(x->session, y->session);
	}
	case MSG_BYE:
		return a->u.bye.reason == b->u.bye.reason && bytes_eq(a->u.bye.text, b->u.bye.text);
	case MSG_PING:
	case MSG_PONG:
		return a->u.ping.id == b->u.ping.id;
	case MSG_CHALLENGE:
		return bytes_eq(a->u.challenge.value, b->u.challenge.value);
	case MSG_VIDEO:
		return a->u.video.frame == b->u.video.frame &&
		       a->u.video.capture_us == b->u.video.capture_us &&
		       a->u.video.flags == b->u.video.flags &&
		       !memcmp(a->u.video.stage_us, b->u.video.stage_us,
			       sizeof(a->u.video.stage_us)) &&
		       bytes_eq(a->u.video.data, b->u.video.data);
	case MSG_AUDIO:
	case MSG_MIC:
		return a->u.audio.capture_us == b->u.audio.capture_us &&
		       bytes_eq(a->u.audio.data, b->u.audio.data);
	case MSG_AUDIO_REPORT:
		return a->u.audio_report.loss == b->u.audio_report.loss &&
		       a->u.audio_report.target_ms == b->u.audio_report.target_ms &&
		       a->u.audio_report.depth_ms == b->u.audio_report.depth_ms;
	case MSG_CURSOR: {
		const struct msg_cursor *x = &a->u.cursor, *y = &b->u.cursor;
		return x->width == y->width && x->height == y->height && x->hot_x == y->hot_x &&
		       x->hot_y == y->hot_y && bytes_eq(x->pixels, y->pixels);
	}
	case MSG_CURSOR_POS:
		return a->u.cursor_pos.x == b->u.cursor_pos.x &&
		       a->u.cursor_pos.y == b->u.cursor_pos.y &&
		       a->u.cursor_pos.visible == b->u.cursor_pos.visible;
	case MSG_RESIZE:
		return a->u.resize.width == b->u.resize.width &&
		       a->u.resize.height == b->u.resize.height;
	case MSG_CLIPBOARD:
		return a->u.clipboard.format == b->u.clipboard.format &&
		       bytes_eq(a->u.clipboard.data, b->u.clipboard.data);
	case MSG_STATUS:
		return a->u.status.code == b->u.status.code &&
		       bytes_eq(a->u.status.text, b->u.status.text);
	case MSG_KEY:
		return a->u.key.scancode == b->u.key.scancode &&
		       a->u.key.keysym == b->u.key.keysym && a->u.key.flags == b->u.key.flags;
	case MSG_POINTER:
		return a->u.pointer.x == b->u.pointer.x && a->u.pointer.y == b->u.pointer.y &&
		       a->u.pointer.buttons == b->u.pointer.buttons;
	case MSG_SCROLL:
		return a->u.scroll.dx == b->u.scroll.dx && a->u.scroll.dy == b->u.scroll.dy;
	case MSG_TOUCH:
		return a->u.touch.id == b->u.touch.id && a->u.touch.phase == b->u.touch.phase &&
		       a->u.touch.x == b->u.touch.x && a->u.touch.y == b->u.touch.y;
	case MSG_PEN:
		return a->u.pen.flags == b->u.pen.flags && a->u.pen.x == b->u.pen.x &&
		       a->u.pen.y == b->u.pen.y && a->u.pen.pressure == b->u.pen.pressure &&
		       a->u.pen.tilt_x == b->u.pen.tilt_x && a->u.pen.tilt_y == b->u.pen.tilt_y;
	case MSG_ACK:
		return a->u.ack.frame == b->u.ack.frame &&
		       a->u.ack.display_us == b->u.ack.display_us;
	case MSG_RESIZE_REQUEST:
		return a->u.resize_request.width == b->u.resize_request.width &&
		       a->u.resize_request.height == b->u.resize_request.height;
	case MSG_KEYFRAME_REQUEST:
	case MSG_UNKNOWN:
		return 1;
	}
	return 0;
}

/* The byte strings of m, for the bounds check; returns how many. */
static size_t strings_of(const struct msg *m, struct msg_bytes out[2])
{
	switch (m->type) {
	case MSG_HELLO:
		out[0] = m->u.hello.ticket;
		out[1] = m->u.hello.client_name;
		return 2;
	case MSG_WELCOME:
		out[0] = m->u.welcome.session;
		return 1;
	case MSG_BYE:
		out[0] = m->u.bye.text;
		return 1;
	case MSG_VIDEO:
		out[0] = m->u.video.data;
		return 1;
	case MSG_AUDIO:
	case MSG_MIC:
		out[0] = m->u.audio.data;
		return 1;
	case MSG_CURSOR:
		out[0] = m->u.cursor.pixels;
		return 1;
	case MSG_CLIPBOARD:
		out[0] = m->u.clipboard.data;
		return 1;
	case MSG_STATUS:
		out[0] = m->u.status.text;
		return 1;
	default:
		return 0;
	}
}

static int bulk_of(const struct msg *m, struct msg_bytes *bulk)
{
	switch (m->type) {
	case MSG_VIDEO:
		*bulk = m->u.video.data;
		return 1;
	case MSG_AUDIO:
	case MSG_MIC:
		*bulk = m->u.audio.data;
		return 1;
	case MSG_CLIPBOARD:
		*bulk = m->u.clipboard.data;
		return 1;
	default:
		return 0;
	}
}

/* decode(encode(m)) == m, at exactly the promised size. */
static void check_reencode(const struct msg *m)
{
	size_t need = msg_encoded_size(m), out = 0, head = 0;
	struct msg_bytes bulk;
	struct msg again;
	uint8_t *buf, *hbuf;

	if (need < MSG_HEADER_SIZE || need > MSG_FRAME_MAX + 4)
		die("the encoder refuses a message the decoder accepted", m);
	buf = malloc(need);
	hbuf = malloc(need);
	if (!buf || !hbuf)
		abort();
	if (msg_encode(m, buf, need - 1, &out) != -ENOSPC)
		die("encode into a buffer one byte short did not give -ENOSPC", m);
	if (msg_encode(m, buf, need, &out) != 0 || out != need)
		die("encode did not give msg_encoded_size bytes", m);
	if (msg_decode(buf, need, &again) != 0)
		die("decode(encode(m)) failed", m);
	if (!msg_same(m, &again))
		die("decode(encode(m)) != m", m);

	if (msg_encode_head(m, hbuf, need, &head) != 0 || head > need ||
	    memcmp(hbuf, buf, head) != 0)
		die("msg_encode_head differs from msg_encode", m);
	if (bulk_of(m, &bulk)) {
		if (head + bulk.len != need ||
		    (bulk.len && memcmp(buf + head, bulk.data, bulk.len) != 0))
			die("head + bulk payload differs from msg_encode", m);
	} else if (head != need) {
		die("msg_encode_head of a message without bulk is not the whole frame", m);
	}
	free(hbuf);
	free(buf);
}

/* frame is an exactly sized copy; its length field may disagree with len. */
static void check_frame(const uint8_t *frame, size_t len)
{
	struct msg m, again;
	struct msg_bytes s[2];
	size_t n;
	int rc = msg_decode(frame, len, &m);

	if (rc != 0) {
		if (!is_decode_error(rc))
			die("an undocumented error code", NULL);
		return;
	}
	if (len < MSG_HEADER_SIZE || m.raw_type != frame[4])
		die("raw_type is not the type byte", &m);
	if (m.type == MSG_UNKNOWN) {
		if (memchr(known_types, frame[4], nknown))
			die("a known type decoded as MSG_UNKNOWN", &m);
		if (msg_encoded_size(&m) != 0)
			die("the encoder would send MSG_UNKNOWN", &m);
		return;
	}
	if ((uint8_t)m.type != frame[4])
		die("type is not the type byte", &m);
	n = strings_of(&m, s);
	for (size_t i = 0; i < n; i++)
		if (!bytes_within(s[i], frame, len))
			die("a decoded byte string points outside the frame", &m);
	/* decoding is deterministic */
	if (msg_decode(frame, len, &again) != 0 || !msg_same(&m, &again))
		die("a second decode differs", &m);
	check_reencode(&m);
}

static uint8_t *copy_of(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	if (!c)
		abort();
	memcpy(c, p, n);
	return c;
}

static void check_all_types(uint8_t *frame, size_t len)
{
	uint8_t orig = frame[4];

	check_frame(frame, len);
	for (size_t i = 0; i < nknown; i++) {
		if (known_types[i] == orig)
			continue;
		frame[4] = known_types[i];
		check_frame(frame, len);
	}
	frame[4] = orig;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, frames = 0;

	find_known_types();

	while (off < size) {
		size_t left = size - off, flen = 0;
		uint8_t *f;
		int rc = msg_frame_peek(data + off, left, &flen);

		if (rc == -EAGAIN) {
			/* a partial frame at the end: decode it as if its length said so */
			if (left >= MSG_HEADER_SIZE && left - 4 <= MSG_FRAME_MAX) {
				f = copy_of(data + off, left);
				f[0] = (uint8_t)((left - 4) >> 24);
				f[1] = (uint8_t)((left - 4) >> 16);
				f[2] = (uint8_t)((left - 4) >> 8);
				f[3] = (uint8_t)(left - 4);
				if (msg_frame_peek(f, left, &flen) != 0 || flen != left)
					die("peek of a rewritten partial frame", NULL);
				check_all_types(f, left);
				free(f);
			}
			break;
		}
		if (rc != 0) {
			if (rc != HR_EPROTO_EMPTY && rc != HR_EPROTO_TOO_LONG)
				die("msg_frame_peek gave an undocumented error", NULL);
			break; /* the connection would be closed here */
		}
		if (flen < MSG_HEADER_SIZE || flen > left || flen > MSG_FRAME_MAX + 4)
			die("msg_frame_peek gave a length outside the buffer", NULL);
		f = copy_of(data + off, flen);
		if (frames++ < RETYPED_FRAMES)
			check_all_types(f, flen);
		else
			check_frame(f, flen);
		/* the frame with the rest of the input behind it is not one frame */
		if (flen < left) {
			struct msg m;
			if (msg_decode(data + off, left, &m) != HR_EPROTO_INVALID)
				die("a buffer longer than its frame decoded", NULL);
		}
		free(f);
		off += flen;
	}
	return 0;
}
