/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_BYTES_H
#define HIGHRISE_BYTES_H

/*
 * The bounds-checked reader and writer behind every codec of ours (msg.c for
 * the wire, server/wlink.c for the agent's worker link): big-endian fields,
 * the first error sticks, no path touches a byte outside the buffer.
 * Header-only so each codec inlines what it uses. Pure and thread-safe.
 */
#include "error.h"
#include "msg.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * A bounds-checked reader. Every get_* checks the remaining length before it
 * touches a byte; once anything fails, r->err sticks and later reads return
 * zeros, so decoders can read all fields and check once at the end.
 */
struct reader {
	const uint8_t *p;
	size_t left;
	int err;
};

static inline const uint8_t *take(struct reader *r, size_t n)
{
	const uint8_t *p;

	if (r->err)
		return NULL;
	if (n > r->left) {
		r->err = HR_EPROTO_TRUNCATED;
		return NULL;
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

static inline uint8_t get_u8(struct reader *r)
{
	const uint8_t *p = take(r, 1);
	return p ? p[0] : 0;
}

static inline uint16_t get_u16(struct reader *r)
{
	const uint8_t *p = take(r, 2);
	return p ? (uint16_t)((uint16_t)p[0] << 8 | p[1]) : 0;
}

static inline uint32_t get_u32(struct reader *r)
{
	const uint8_t *p = take(r, 4);
	return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

static inline uint64_t get_u64(struct reader *r)
{
	uint64_t hi = get_u32(r);
	return hi << 32 | get_u32(r);
}

/* A string or blob of n bytes that must not exceed max. */
static inline struct msg_bytes get_bytes(struct reader *r, size_t n, size_t max)
{
	struct msg_bytes b = {NULL, 0};

	if (!r->err && n > max)
		r->err = HR_EPROTO_INVALID;
	b.data = take(r, n);
	if (b.data)
		b.len = n;
	return b;
}

static inline struct msg_bytes get_rest(struct reader *r)
{
	return get_bytes(r, r->left, r->left);
}

static inline void check(struct reader *r, int ok)
{
	if (!r->err && !ok)
		r->err = HR_EPROTO_INVALID;
}

/* RFC 3629 §4: well-formed UTF-8, also refusing NUL (strings are not NUL-terminated). */
static inline int valid_utf8(struct msg_bytes b)
{
	const uint8_t *s = b.data;
	size_t i = 0, n = b.len;

	while (i < n) {
		uint8_t c = s[i];
		size_t need;
		uint32_t cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (need > n - i - 1)
			return 0;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

static inline void check_text(struct reader *r, struct msg_bytes b)
{
	check(r, b.len == 0 || valid_utf8(b));
}

/*
 * A writer that either counts (p == NULL) or writes within cap. Like the
 * reader, the first failure sticks.
 */
struct writer {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static inline void put(struct writer *w, const void *src, size_t n)
{
	if (w->err)
		return;
	if (n > SIZE_MAX - w->len) {
		w->err = HR_EPROTO_INVALID;
		return;
	}
	if (w->p) {
		if (n > w->cap - w->len) {
			w->err = -ENOSPC;
			return;
		}
		if (n)
			memcpy(w->p + w->len, src, n);
	}
	w->len += n;
}

static inline void put_u8(struct writer *w, uint8_t v)
{
	put(w, &v, 1);
}

static inline void put_u16(struct writer *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(w, b, 2);
}

static inline void put_u32(struct writer *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	put(w, b, 4);
}

static inline void put_u64(struct writer *w, uint64_t v)
{
	put_u32(w, (uint32_t)(v >> 32));
	put_u32(w, (uint32_t)v);
}

static inline void wcheck(struct writer *w, int ok)
{
	if (!w->err && !ok)
		w->err = HR_EPROTO_INVALID;
}

static inline int bytes_ok(struct msg_bytes b, size_t max)
{
	return b.len <= max && (b.len == 0 || b.data != NULL);
}

static inline int text_ok(struct msg_bytes b, size_t max)
{
	return bytes_ok(b, max) && (b.len == 0 || valid_utf8(b));
}

#endif
