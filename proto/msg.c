/* SPDX-License-Identifier: MIT */
#include "msg.h"

#include "bytes.h"
#include "error.h"

#include <errno.h>
#include <string.h>

int msg_frame_peek(const uint8_t *buf, size_t len, size_t *frame_len)
{
	uint32_t n;

	if (len < 4)
		return -EAGAIN;
	n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
	if (n == 0)
		return HR_EPROTO_EMPTY;
	if (n > MSG_FRAME_MAX)
		return HR_EPROTO_TOO_LONG;
	/* n <= 16 MiB, so 4 + n cannot wrap a size_t */
	if (len - 4 < n)
		return -EAGAIN;
	*frame_len = 4 + (size_t)n;
	return 0;
}

/*
 * HELLO and WELCOME start with magic and version. A later version may lay out
 * the rest differently, so a peer speaking one must get HR_EPROTO_VERSION (and
 * a BYE VERSION) whatever follows, not a truncation or range error from
 * reading its fields as ours. Returns 1 to go on reading.
 */
static int check_magic_version(struct reader *r, uint32_t magic, uint16_t version)
{
	check(r, magic == MSG_MAGIC);
	if (!r->err && version != MSG_PROTOCOL_VERSION)
		r->err = HR_EPROTO_VERSION;
	return !r->err;
}

static void decode_payload(struct reader *r, struct msg *m)
{
	switch (m->type) {
	case MSG_HELLO: {
		struct msg_hello *h = &m->u.hello;
		uint32_t magic = get_u32(r);
		h->version = get_u16(r);
		/* the version decides the layout of the rest: refuse it before reading on */
		if (!check_magic_version(r, magic, h->version))
			break;
		h->caps = get_u32(r);
		h->max_width = get_u16(r);
		h->max_height = get_u16(r);
		h->ticket = get_bytes(r, get_u16(r), MSG_TICKET_MAX);
		h->client_name = get_bytes(r, get_u8(r), MSG_NAME_MAX);
		check_text(r, h->client_name);
		h->proof = get_bytes(r, get_u8(r), MSG_PROOF_TICKET_LEN);
		check(r, h->proof.len == 0 || h->proof.len == MSG_PROOF_TICKET_LEN ||
				 h->proof.len == MSG_PROOF_RESUME_LEN);
		break;
	}
	case MSG_WELCOME: {
		struct msg_welcome *w = &m->u.welcome;
		uint32_t magic = get_u32(r);
		w->version = get_u16(r);
		if (!check_magic_version(r, magic, w->version))
			break;
		w->flags = get_u32(r);
		w->width = get_u16(r);
		w->height = get_u16(r);
		w->codec = get_u8(r);
		w->audio_rate = get_u32(r);
		w->audio_channels = get_u8(r);
		w->session = get_bytes(r, get_u8(r), MSG_NAME_MAX);
		check(r, w->width >= 1 && w->width <= MSG_DIMENSION_MAX);
		check(r, w->height >= 1 && w->height <= MSG_DIMENSION_MAX);
		check(r, w->codec == MSG_CODEC_H264);
		check(r, w->audio_channels <= 8 && w->audio_rate <= 384000);
		check_text(r, w->session);
		w->resume = get_bytes(r, get_u8(r), MSG_RESUME_GRANT_LEN);
		w->resume_window_s = get_u16(r);
		check(r, w->resume.len == 0 || w->resume.len == MSG_RESUME_GRANT_LEN);
		break;
	}
	case MSG_BYE:
		m->u.bye.reason = get_u16(r);
		m->u.bye.text = get_bytes(r, get_u16(r), MSG_REASON_MAX);
		check_text(r, m->u.bye.text);
		break;
	case MSG_PING:
	case MSG_PONG:
		m->u.ping.id = get_u64(r);
		break;
	case MSG_CHALLENGE:
		m->u.challenge.value = get_bytes(r, MSG_CHALLENGE_LEN, MSG_CHALLENGE_LEN);
		break;
	case MSG_VIDEO:
		m->u.video.frame = get_u32(r);
		m->u.video.capture_us = get_u64(r);
		m->u.video.flags = get_u8(r);
		if (m->u.video.flags & MSG_VIDEO_TIMING) {
			/* a count, then that many u32: the ones this build knows are kept */
			uint8_t n = get_u8(r);
			check(r, n >= 1 && n <= MSG_VIDEO_STAGES_MAX);
			for (uint8_t i = 0; i < n && !r->err; i++) {
				uint32_t us = get_u32(r);
				if (i < MSG_STAGE_COUNT)
					m->u.video.stage_us[i] = us;
			}
		}
		m->u.video.data = get_rest(r);
		check(r, m->u.video.data.len > 0);
		break;
	case MSG_AUDIO:
	case MSG_MIC:
		m->u.audio.capture_us = get_u64(r);
		m->u.audio.data = get_rest(r);
		check(r, m->u.audio.data.len > 0);
		break;
	case MSG_CURSOR: {
		struct msg_cursor *c = &m->u.cursor;
		c->width = get_u16(r);
		c->height = get_u16(r);
		c->hot_x = get_u16(r);
		c->hot_y = get_u16(r);
		check(r, c->width <= MSG_CURSOR_MAX && c->height <= MSG_CURSOR_MAX);
		check(r, (c->width == 0) == (c->height == 0));
		check(r, c->width == 0 || (c->hot_x < c->width && c->hot_y < c->height));
		/* both factors are <= 512 (checked above), so this cannot overflow */
		size_t need = r->err ? 0 : (size_t)c->width * c->height * 4;
		c->pixels = get_bytes(r, need, need);
		break;
	}
	case MSG_CURSOR_POS:
		m->u.cursor_pos.x = get_u16(r);
		m->u.cursor_pos.y = get_u16(r);
		m->u.cursor_pos.visible = get_u8(r) & 1;
		break;
	case MSG_RESIZE:
		m->u.resize.width = get_u16(r);
		m->u.resize.height = get_u16(r);
		check(r, m->u.resize.width >= 1 && m->u.resize.width <= MSG_DIMENSION_MAX);
		check(r, m->u.resize.height >= 1 && m->u.resize.height <= MSG_DIMENSION_MAX);
		break;
	case MSG_CLIPBOARD:
		m->u.clipboard.format = get_u8(r);
		m->u.clipboard.data = get_rest(r);
		if (m->u.clipboard.format == MSG_CLIPBOARD_TEXT)
			check_text(r, m->u.clipboard.data);
		break;
	case MSG_STATUS:
		m->u.status.code = get_u16(r);
		m->u.status.text = get_bytes(r, get_u16(r), MSG_REASON_MAX);
		check_text(r, m->u.status.text);
		break;
	case MSG_KEY:
		m->u.key.scancode = get_u16(r);
		m->u.key.keysym = get_u32(r);
		m->u.key.flags = get_u8(r);
		check(r, m->u.key.scancode != 0 || m->u.key.keysym != 0);
		break;
	case MSG_POINTER:
		m->u.pointer.x = get_u16(r);
		m->u.pointer.y = get_u16(r);
		m->u.pointer.buttons = get_u8(r);
		break;
	case MSG_SCROLL:
		m->u.scroll.dx = (int16_t)get_u16(r);
		m->u.scroll.dy = (int16_t)get_u16(r);
		break;
	case MSG_TOUCH:
		m->u.touch.id = get_u32(r);
		m->u.touch.phase = get_u8(r);
		m->u.touch.x = get_u16(r);
		m->u.touch.y = get_u16(r);
		check(r, m->u.touch.phase <= MSG_TOUCH_CANCEL);
		break;
	case MSG_PEN:
		m->u.pen.flags = get_u8(r);
		m->u.pen.x = get_u16(r);
		m->u.pen.y = get_u16(r);
		m->u.pen.pressure = get_u16(r);
		m->u.pen.tilt_x = (int8_t)get_u8(r);
		m->u.pen.tilt_y = (int8_t)get_u8(r);
		check(r, m->u.pen.tilt_x >= -90 && m->u.pen.tilt_x <= 90);
		check(r, m->u.pen.tilt_y >= -90 && m->u.pen.tilt_y <= 90);
		break;
	case MSG_KEYFRAME_REQUEST:
		break;
	case MSG_ACK:
		m->u.ack.frame = get_u32(r);
		m->u.ack.display_us = get_u64(r);
		break;
	case MSG_RESIZE_REQUEST: {
		struct msg_resize_request *q = &m->u.resize_request;
		q->width = get_u16(r);
		q->height = get_u16(r);
		check(r, q->width >= 1 && q->width <= MSG_RESIZE_REQUEST_MAX);
		check(r, q->height >= 1 && q->height <= MSG_RESIZE_REQUEST_MAX);
		break;
	}
	case MSG_AUDIO_REPORT:
		m->u.audio_report.loss = get_u16(r);
		m->u.audio_report.target_ms = get_u16(r);
		m->u.audio_report.depth_ms = get_u16(r);
		check(r, m->u.audio_report.loss <= MSG_LOSS_MAX);
		break;
	case MSG_UNKNOWN:
		break;
	}
}

static int known_type(uint8_t t)
{
	return (t >= MSG_HELLO && t <= MSG_CHALLENGE) || (t >= MSG_VIDEO && t <= MSG_STATUS) ||
	       (t >= MSG_KEY && t <= MSG_AUDIO_REPORT);
}

int msg_decode(const uint8_t *frame, size_t len, struct msg *out)
{
	size_t flen;
	int rc;
	struct reader r;

	memset(out, 0, sizeof(*out));
	rc = msg_frame_peek(frame, len, &flen);
	if (rc == -EAGAIN)
		return HR_EPROTO_TRUNCATED;
	if (rc < 0)
		return rc;
	if (flen != len)
		return HR_EPROTO_INVALID; /* the length field disagrees with the frame */
	out->raw_type = frame[4];
	out->type = known_type(frame[4]) ? (enum msg_type)frame[4] : MSG_UNKNOWN;
	r.p = frame + MSG_HEADER_SIZE;
	r.left = len - MSG_HEADER_SIZE;
	r.err = 0;
	decode_payload(&r, out);
	if (r.err) {
		enum msg_type t = out->type;
		memset(out, 0, sizeof(*out));
		out->type = t;
		out->raw_type = frame[4];
	}
	return r.err;
}

/* Fixed fields, and the bulk payload when with_bulk is set. */
static void encode_fields(struct writer *w, const struct msg *m, int with_bulk)
{
	switch (m->type) {
	case MSG_HELLO: {
		const struct msg_hello *h = &m->u.hello;
		wcheck(w, h->version == MSG_PROTOCOL_VERSION);
		wcheck(w, bytes_ok(h->ticket, MSG_TICKET_MAX));
		wcheck(w, text_ok(h->client_name, MSG_NAME_MAX));
		put_u32(w, MSG_MAGIC);
		put_u16(w, h->version);
		put_u32(w, h->caps);
		put_u16(w, h->max_width);
		put_u16(w, h->max_height);
		put_u16(w, (uint16_t)h->ticket.len);
		put(w, h->ticket.data, h->ticket.len);
		put_u8(w, (uint8_t)h->client_name.len);
		put(w, h->client_name.data, h->client_name.len);
		wcheck(w, h->proof.len == 0 || h->proof.len == MSG_PROOF_TICKET_LEN ||
				  h->proof.len == MSG_PROOF_RESUME_LEN);
		put_u8(w, (uint8_t)h->proof.len);
		put(w, h->proof.data, h->proof.len);
		break;
	}
	case MSG_WELCOME: {
		const struct msg_welcome *we = &m->u.welcome;
		wcheck(w, we->version == MSG_PROTOCOL_VERSION);
		wcheck(w, we->width >= 1 && we->width <= MSG_DIMENSION_MAX);
		wcheck(w, we->height >= 1 && we->height <= MSG_DIMENSION_MAX);
		wcheck(w, we->codec == MSG_CODEC_H264);
		wcheck(w, we->audio_channels <= 8 && we->audio_rate <= 384000);
		wcheck(w, text_ok(we->session, MSG_NAME_MAX));
		put_u32(w, MSG_MAGIC);
		put_u16(w, we->version);
		put_u32(w, we->flags);
		put_u16(w, we->width);
		put_u16(w, we->height);
		put_u8(w, we->codec);
		put_u32(w, we->audio_rate);
		put_u8(w, we->audio_channels);
		put_u8(w, (uint8_t)we->session.len);
		put(w, we->session.data, we->session.len);
		wcheck(w, we->resume.len == 0 || we->resume.len == MSG_RESUME_GRANT_LEN);
		put_u8(w, (uint8_t)we->resume.len);
		put(w, we->resume.data, we->resume.len);
		put_u16(w, we->resume_window_s);
		break;
	}
	case MSG_BYE:
		wcheck(w, text_ok(m->u.bye.text, MSG_REASON_MAX));
		put_u16(w, m->u.bye.reason);
		put_u16(w, (uint16_t)m->u.bye.text.len);
		put(w, m->u.bye.text.data, m->u.bye.text.len);
		break;
	case MSG_PING:
	case MSG_PONG:
		put_u64(w, m->u.ping.id);
		break;
	case MSG_CHALLENGE:
		wcheck(w, m->u.challenge.value.len == MSG_CHALLENGE_LEN);
		put(w, m->u.challenge.value.data, m->u.challenge.value.len);
		break;
	case MSG_VIDEO:
		wcheck(w, m->u.video.data.len > 0 &&
				  bytes_ok(m->u.video.data,
					   MSG_FRAME_MAX - 1 - 13 -
						   (m->u.video.flags & MSG_VIDEO_TIMING
							    ? 1 + 4 * MSG_STAGE_COUNT
							    : 0)));
		put_u32(w, m->u.video.frame);
		put_u64(w, m->u.video.capture_us);
		put_u8(w, m->u.video.flags);
		if (m->u.video.flags & MSG_VIDEO_TIMING) {
			put_u8(w, MSG_STAGE_COUNT);
			for (unsigned i = 0; i < MSG_STAGE_COUNT; i++)
				put_u32(w, m->u.video.stage_us[i]);
		}
		if (with_bulk)
			put(w, m->u.video.data.data, m->u.video.data.len);
		break;
	case MSG_AUDIO:
	case MSG_MIC:
		wcheck(w,
		       m->u.audio.data.len > 0 && bytes_ok(m->u.audio.data, MSG_FRAME_MAX - 1 - 8));
		put_u64(w, m->u.audio.capture_us);
		if (with_bulk)
			put(w, m->u.audio.data.data, m->u.audio.data.len);
		break;
	case MSG_CURSOR: {
		const struct msg_cursor *c = &m->u.cursor;
		wcheck(w, c->width <= MSG_CURSOR_MAX && c->height <= MSG_CURSOR_MAX);
		wcheck(w, (c->width == 0) == (c->height == 0));
		wcheck(w, c->width == 0 || (c->hot_x < c->width && c->hot_y < c->height));
		wcheck(w, bytes_ok(c->pixels, (size_t)c->width * c->height * 4) &&
				  c->pixels.len == (size_t)c->width * c->height * 4);
		put_u16(w, c->width);
		put_u16(w, c->height);
		put_u16(w, c->hot_x);
		put_u16(w, c->hot_y);
		put(w, c->pixels.data, c->pixels.len);
		break;
	}
	case MSG_CURSOR_POS:
		put_u16(w, m->u.cursor_pos.x);
		put_u16(w, m->u.cursor_pos.y);
		put_u8(w, m->u.cursor_pos.visible ? 1 : 0);
		break;
	case MSG_RESIZE:
		wcheck(w, m->u.resize.width >= 1 && m->u.resize.width <= MSG_DIMENSION_MAX);
		wcheck(w, m->u.resize.height >= 1 && m->u.resize.height <= MSG_DIMENSION_MAX);
		put_u16(w, m->u.resize.width);
		put_u16(w, m->u.resize.height);
		break;
	case MSG_CLIPBOARD:
		wcheck(w, bytes_ok(m->u.clipboard.data, MSG_CLIPBOARD_MAX));
		wcheck(w, m->u.clipboard.format != MSG_CLIPBOARD_TEXT ||
				  text_ok(m->u.clipboard.data, MSG_CLIPBOARD_MAX));
		put_u8(w, m->u.clipboard.format);
		if (with_bulk)
			put(w, m->u.clipboard.data.data, m->u.clipboard.data.len);
		break;
	case MSG_STATUS:
		wcheck(w, text_ok(m->u.status.text, MSG_REASON_MAX));
		put_u16(w, m->u.status.code);
		put_u16(w, (uint16_t)m->u.status.text.len);
		put(w, m->u.status.text.data, m->u.status.text.len);
		break;
	case MSG_KEY:
		wcheck(w, m->u.key.scancode != 0 || m->u.key.keysym != 0);
		put_u16(w, m->u.key.scancode);
		put_u32(w, m->u.key.keysym);
		put_u8(w, m->u.key.flags);
		break;
	case MSG_POINTER:
		put_u16(w, m->u.pointer.x);
		put_u16(w, m->u.pointer.y);
		put_u8(w, m->u.pointer.buttons);
		break;
	case MSG_SCROLL:
		put_u16(w, (uint16_t)m->u.scroll.dx);
		put_u16(w, (uint16_t)m->u.scroll.dy);
		break;
	case MSG_TOUCH:
		wcheck(w, m->u.touch.phase <= MSG_TOUCH_CANCEL);
		put_u32(w, m->u.touch.id);
		put_u8(w, m->u.touch.phase);
		put_u16(w, m->u.touch.x);
		put_u16(w, m->u.touch.y);
		break;
	case MSG_PEN:
		wcheck(w, m->u.pen.tilt_x >= -90 && m->u.pen.tilt_x <= 90);
		wcheck(w, m->u.pen.tilt_y >= -90 && m->u.pen.tilt_y <= 90);
		put_u8(w, m->u.pen.flags);
		put_u16(w, m->u.pen.x);
		put_u16(w, m->u.pen.y);
		put_u16(w, m->u.pen.pressure);
		put_u8(w, (uint8_t)m->u.pen.tilt_x);
		put_u8(w, (uint8_t)m->u.pen.tilt_y);
		break;
	case MSG_KEYFRAME_REQUEST:
		break;
	case MSG_ACK:
		put_u32(w, m->u.ack.frame);
		put_u64(w, m->u.ack.display_us);
		break;
	case MSG_RESIZE_REQUEST: {
		const struct msg_resize_request *q = &m->u.resize_request;
		wcheck(w, q->width >= 1 && q->width <= MSG_RESIZE_REQUEST_MAX);
		wcheck(w, q->height >= 1 && q->height <= MSG_RESIZE_REQUEST_MAX);
		put_u16(w, q->width);
		put_u16(w, q->height);
		break;
	}
	case MSG_AUDIO_REPORT:
		wcheck(w, m->u.audio_report.loss <= MSG_LOSS_MAX);
		put_u16(w, m->u.audio_report.loss);
		put_u16(w, m->u.audio_report.target_ms);
		put_u16(w, m->u.audio_report.depth_ms);
		break;
	case MSG_UNKNOWN:
	default:
		w->err = HR_EPROTO_INVALID; /* we only send what we define */
		break;
	}
}

/* Size of the payload after the 5-byte header, or a negative error. */
static int payload_size(const struct msg *m, int with_bulk, size_t *out)
{
	struct writer w = {NULL, 0, 0, 0};

	encode_fields(&w, m, with_bulk);
	if (w.err)
		return w.err;
	*out = w.len;
	return 0;
}

static int encode(const struct msg *m, uint8_t *buf, size_t cap, size_t *out_len, int with_bulk)
{
	size_t body = 0, full = 0;
	int rc;

	rc = payload_size(m, 1, &full);
	if (rc < 0)
		return rc;
	if (full > MSG_FRAME_MAX - 1)
		return HR_EPROTO_TOO_LONG;
	body = full;
	if (!with_bulk && (rc = payload_size(m, 0, &body)) < 0)
		return rc;

	struct writer w = {buf, 0, cap, 0};
	put_u32(&w, (uint32_t)(full + 1));
	put_u8(&w, (uint8_t)m->type);
	encode_fields(&w, m, with_bulk);
	if (w.err)
		return w.err;
	*out_len = w.len;
	return 0;
}

size_t msg_encoded_size(const struct msg *m)
{
	size_t n = 0;

	if (payload_size(m, 1, &n) < 0 || n > MSG_FRAME_MAX - 1)
		return 0;
	return MSG_HEADER_SIZE + n;
}

int msg_encode(const struct msg *m, uint8_t *buf, size_t cap, size_t *out_len)
{
	return encode(m, buf, cap, out_len, 1);
}

int msg_encode_head(const struct msg *m, uint8_t *buf, size_t cap, size_t *head_len)
{
	return encode(m, buf, cap, head_len, 0);
}

int64_t msg_video_stage_start(const struct msg_video *v, enum msg_video_stage end)
{
	int64_t t = (int64_t)v->capture_us;
	for (int i = MSG_STAGE_WAIT; i < (int)end && i < MSG_STAGE_COUNT; i++)
		t += v->stage_us[i];
	return t;
}

size_t msg_text_fit(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n <= max)
		return n;
	n = max;
	/* back up over continuation bytes (10xxxxxx) to a character boundary */
	while (n > 0 && ((uint8_t)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

const char *msg_type_name(uint8_t type)
{
	switch (type) {
	case MSG_HELLO:
		return "HELLO";
	case MSG_WELCOME:
		return "WELCOME";
	case MSG_BYE:
		return "BYE";
	case MSG_PING:
		return "PING";
	case MSG_PONG:
		return "PONG";
	case MSG_CHALLENGE:
		return "CHALLENGE";
	case MSG_VIDEO:
		return "VIDEO";
	case MSG_AUDIO:
		return "AUDIO";
	case MSG_CURSOR:
		return "CURSOR";
	case MSG_CURSOR_POS:
		return "CURSOR_POS";
	case MSG_RESIZE:
		return "RESIZE";
	case MSG_CLIPBOARD:
		return "CLIPBOARD";
	case MSG_STATUS:
		return "STATUS";
	case MSG_KEY:
		return "KEY";
	case MSG_POINTER:
		return "POINTER";
	case MSG_SCROLL:
		return "SCROLL";
	case MSG_TOUCH:
		return "TOUCH";
	case MSG_PEN:
		return "PEN";
	case MSG_KEYFRAME_REQUEST:
		return "KEYFRAME_REQUEST";
	case MSG_ACK:
		return "ACK";
	case MSG_RESIZE_REQUEST:
		return "RESIZE_REQUEST";
	case MSG_MIC:
		return "MIC";
	case MSG_AUDIO_REPORT:
		return "AUDIO_REPORT";
	default:
		return "UNKNOWN";
	}
}

const char *msg_bye_reason_name(uint16_t reason)
{
	switch (reason) {
	case MSG_BYE_NORMAL:
		return "normal";
	case MSG_BYE_PROTOCOL_ERROR:
		return "protocol error";
	case MSG_BYE_VERSION:
		return "unsupported protocol version";
	case MSG_BYE_TICKET_INVALID:
		return "connect ticket invalid";
	case MSG_BYE_TICKET_EXPIRED:
		return "connect ticket expired";
	case MSG_BYE_DESKTOP_UNAVAILABLE:
		return "desktop unavailable";
	case MSG_BYE_SHUTDOWN:
		return "agent shutting down";
	case MSG_BYE_REPLACED:
		return "session opened elsewhere";
	case MSG_BYE_IDLE_TIMEOUT:
		return "idle timeout";
	case MSG_BYE_ADMIN:
		return "disconnected by an administrator";
	case MSG_BYE_RESUME_REFUSED:
		return "resume refused";
	default:
		return "unknown reason";
	}
}
