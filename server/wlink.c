/* SPDX-License-Identifier: MIT */
#include "wlink.h"

#include "bytes.h"
#include "encoder.h"
#include "error.h"

#include <errno.h>
#include <string.h>

/* Which client-protocol messages travel in which direction on the link. */
static bool shared_allowed(uint8_t type, enum wlink_dir dir)
{
	switch (type) {
	case MSG_KEY:
	case MSG_POINTER:
	case MSG_SCROLL:
	case MSG_TOUCH:
	case MSG_PEN:
	case MSG_KEYFRAME_REQUEST:
	case MSG_RESIZE_REQUEST:
	case MSG_PING:
	case MSG_BYE:
		return dir == WLINK_TO_WORKER;
	case MSG_VIDEO:
	case MSG_CURSOR:
	case MSG_CURSOR_POS:
	case MSG_STATUS:
	case MSG_PONG:
		return dir == WLINK_TO_AGENT;
	case MSG_CLIPBOARD:
		return true;
	default:
		return false;
	}
}

static bool own_allowed(uint8_t type, enum wlink_dir dir)
{
	switch (type) {
	case WLINK_CONFIG:
	case WLINK_CONTROL:
		return dir == WLINK_TO_WORKER;
	case WLINK_CONSOLE:
	case WLINK_SIZE:
		return dir == WLINK_TO_AGENT;
	case WLINK_PCM:
		return true;
	default:
		return false;
	}
}

static struct msg_bytes get_str(struct reader *r, size_t max)
{
	uint16_t n = get_u16(r);
	return get_bytes(r, n, max);
}

static bool size_ok(uint32_t w, uint32_t h)
{
	return w >= 1 && h >= 1 && w <= MSG_DIMENSION_MAX && h <= MSG_DIMENSION_MAX &&
	       (uint64_t)w * h <= ENCODER_AREA_MAX;
}

/* Strings that become C strings in the worker; an empty one has no data pointer. */
static bool has_nul(struct msg_bytes b)
{
	return b.len && memchr(b.data, 0, b.len);
}

static void decode_config(struct reader *r, struct wlink_config *c)
{
	c->flags = get_u32(r);
	c->fps = get_u16(r);
	c->bitrate_kbps = get_u32(r);
	c->clipboard_max = get_u32(r);
	c->memory_mb = get_u32(r);
	c->uid = get_u32(r);
	c->gid = get_u32(r);
	c->log_level = get_u8(r);
	c->id = get_str(r, MSG_NAME_MAX);
	c->uri = get_str(r, WLINK_URI_MAX);
	c->password = get_str(r, WLINK_PASSWORD_MAX);
	c->codec = get_str(r, WLINK_CODEC_MAX);
	c->preset = get_str(r, WLINK_CODEC_MAX);
	c->chroot = get_str(r, WLINK_CHROOT_MAX);
	check(r, c->fps >= 1 && c->fps <= 240);
	check(r, c->clipboard_max <= MSG_CLIPBOARD_MAX);
	check(r, c->log_level <= 3);
	check(r, c->id.len > 0 && c->uri.len > 0);
	check(r, !has_nul(c->uri) && !has_nul(c->id) && !has_nul(c->codec) && !has_nul(c->preset) &&
			 !has_nul(c->chroot));
	check(r, !(c->flags & WLINK_CONFIG_CHROOT) || c->chroot.len > 0);
}

int wlink_decode(const uint8_t *frame, size_t len, enum wlink_dir dir, struct wlink_msg *out)
{
	struct reader r;
	uint8_t type, flags;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len < MSG_HEADER_SIZE)
		return HR_EPROTO_TRUNCATED;
	type = frame[4];
	out->type = type;
	if (shared_allowed(type, dir)) {
		rc = msg_decode(frame, len, &out->u.msg);
		if (rc == 0 && type == MSG_STATUS &&
		    out->u.msg.u.status.code != MSG_STATUS_RESIZE_REFUSED)
			rc = HR_EPROTO_INVALID; /* the agent says everything else itself */
		return rc;
	}
	if (!own_allowed(type, dir))
		return HR_EPROTO_INVALID;

	r = (struct reader){.p = frame + MSG_HEADER_SIZE, .left = len - MSG_HEADER_SIZE};
	switch (type) {
	case WLINK_CONFIG:
		decode_config(&r, &out->u.config);
		break;
	case WLINK_CONTROL:
		out->u.control.bitrate_kbps = get_u32(&r);
		flags = get_u8(&r);
		out->u.control.throttle = flags & 1;
		out->u.control.chroma444 = flags & 2;
		break;
	case WLINK_CONSOLE:
		out->u.console.state = get_u8(&r);
		out->u.console.text = get_str(&r, WLINK_TEXT_MAX);
		check(&r, out->u.console.state <= WLINK_CONSOLE_STATE_MAX);
		check_text(&r, out->u.console.text);
		break;
	case WLINK_SIZE: {
		struct wlink_size *s = &out->u.size;
		s->width = get_u16(&r);
		s->height = get_u16(&r);
		s->resizable = get_u8(&r) != 0;
		check(&r, size_ok(s->width, s->height));
		break;
	}
	case WLINK_PCM: {
		struct wlink_pcm *p = &out->u.pcm;
		p->capture_us = get_u64(&r);
		p->samples = get_u16(&r);
		check(&r, p->samples >= 1 && p->samples <= WLINK_PCM_SAMPLES_MAX);
		p->data = get_bytes(&r, (size_t)p->samples * 4, (size_t)WLINK_PCM_SAMPLES_MAX * 4);
		break;
	}
	}
	/* the link's own messages have no room to grow: trailing bytes are an error */
	check(&r, r.left == 0);
	return r.err;
}

static void put_str(struct writer *w, struct msg_bytes b, size_t max)
{
	wcheck(w, bytes_ok(b, max));
	put_u16(w, (uint16_t)b.len);
	put(w, b.data, b.len);
}

static void encode_own(struct writer *w, const struct wlink_msg *m)
{
	switch (m->type) {
	case WLINK_CONFIG: {
		const struct wlink_config *c = &m->u.config;
		wcheck(w, c->fps >= 1 && c->fps <= 240 && c->clipboard_max <= MSG_CLIPBOARD_MAX &&
				  c->log_level <= 3 && c->id.len > 0 && c->uri.len > 0);
		put_u32(w, c->flags);
		put_u16(w, c->fps);
		put_u32(w, c->bitrate_kbps);
		put_u32(w, c->clipboard_max);
		put_u32(w, c->memory_mb);
		put_u32(w, c->uid);
		put_u32(w, c->gid);
		put_u8(w, c->log_level);
		put_str(w, c->id, MSG_NAME_MAX);
		put_str(w, c->uri, WLINK_URI_MAX);
		put_str(w, c->password, WLINK_PASSWORD_MAX);
		put_str(w, c->codec, WLINK_CODEC_MAX);
		put_str(w, c->preset, WLINK_CODEC_MAX);
		put_str(w, c->chroot, WLINK_CHROOT_MAX);
		break;
	}
	case WLINK_CONTROL:
		put_u32(w, m->u.control.bitrate_kbps);
		put_u8(w, (m->u.control.throttle ? 1 : 0) | (m->u.control.chroma444 ? 2 : 0));
		break;
	case WLINK_CONSOLE:
		wcheck(w, m->u.console.state <= WLINK_CONSOLE_STATE_MAX &&
				  text_ok(m->u.console.text, WLINK_TEXT_MAX));
		put_u8(w, m->u.console.state);
		put_str(w, m->u.console.text, WLINK_TEXT_MAX);
		break;
	case WLINK_SIZE:
		wcheck(w, size_ok(m->u.size.width, m->u.size.height));
		put_u16(w, m->u.size.width);
		put_u16(w, m->u.size.height);
		put_u8(w, m->u.size.resizable ? 1 : 0);
		break;
	case WLINK_PCM:
		wcheck(w, m->u.pcm.samples >= 1 && m->u.pcm.samples <= WLINK_PCM_SAMPLES_MAX &&
				  m->u.pcm.data.len == (size_t)m->u.pcm.samples * 4);
		put_u64(w, m->u.pcm.capture_us);
		put_u16(w, m->u.pcm.samples);
		put(w, m->u.pcm.data.data, m->u.pcm.data.len);
		break;
	default:
		wcheck(w, 0);
	}
}

static int encode(const struct wlink_msg *m, uint8_t *buf, size_t cap, size_t *out_len)
{
	struct writer w = {.p = NULL};
	size_t total;

	if (m->type < WLINK_CONFIG)
		return buf ? msg_encode(&m->u.msg, buf, cap, out_len)
			   : ((*out_len = msg_encoded_size(&m->u.msg)) ? 0 : HR_EPROTO_INVALID);
	/* count first, then write the header and the payload */
	encode_own(&w, m);
	if (w.err)
		return w.err;
	total = MSG_HEADER_SIZE + w.len;
	if (total > WLINK_FRAME_MAX)
		return HR_EPROTO_INVALID;
	*out_len = total;
	if (!buf)
		return 0;
	if (cap < total)
		return -ENOSPC;
	w = (struct writer){.p = buf, .cap = cap};
	put_u32(&w, (uint32_t)(total - 4));
	put_u8(&w, m->type);
	encode_own(&w, m);
	return w.err;
}

int wlink_encode(const struct wlink_msg *m, uint8_t *buf, size_t cap, size_t *out_len)
{
	return encode(m, buf, cap, out_len);
}

size_t wlink_encoded_size(const struct wlink_msg *m)
{
	size_t n = 0;
	return encode(m, NULL, 0, &n) == 0 ? n : 0;
}

const char *wlink_type_name(uint8_t type)
{
	switch (type) {
	case WLINK_CONFIG:
		return "CONFIG";
	case WLINK_CONTROL:
		return "CONTROL";
	case WLINK_CONSOLE:
		return "CONSOLE";
	case WLINK_SIZE:
		return "SIZE";
	case WLINK_PCM:
		return "PCM";
	default:
		return msg_type_name(type);
	}
}

const char *wlink_console_state_name(uint8_t state)
{
	static const char *const names[] = {"up",   "lost",    "unreachable",
					    "auth", "refused", "sandbox"};
	return state <= WLINK_CONSOLE_STATE_MAX ? names[state] : "unknown";
}
