/* SPDX-License-Identifier: MIT */
#include "capture.h"

#include "log.h"

#include <stdint.h>
#include <stdlib.h>

static const struct capture_impl *const backends[] = {
	&capture_vnc,
	&capture_x11,
};

const struct capture_impl *capture_find(const char *uri)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (uri && backends[i]->handles(uri))
			return backends[i];
	log_error("no console backend for '%s': use vnc://HOST:PORT or x11::DISPLAY",
		  uri ? uri : "(none)");
	return NULL;
}

char *capture_utf8_to_latin1(const char *text, size_t len, size_t *out_len)
{
	const unsigned char *s = (const unsigned char *)text;
	char *out = malloc(len + 1);
	size_t n = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		unsigned char b = s[i];
		size_t more = 0;
		uint32_t cp;

		if ((b & 0xe0) == 0xc0)
			more = 1;
		else if ((b & 0xf0) == 0xe0)
			more = 2;
		else if ((b & 0xf8) == 0xf0)
			more = 3;
		cp = more ? b & (0x3fu >> more) : b;
		if (b >= 0x80 && more == 0) {
			i++; /* a stray continuation or invalid lead byte */
			continue;
		}
		if (more && i + more >= len)
			break; /* cut short */
		for (size_t k = 1; k <= more; k++)
			cp = cp << 6 | (s[i + k] & 0x3f);
		i += more + 1;
		if (cp == 0)
			continue;
		out[n++] = cp <= 0xff ? (char)cp : '?';
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

char *capture_latin1_to_utf8(const char *text, size_t len, size_t *out_len)
{
	const unsigned char *s = (const unsigned char *)text;
	char *out = malloc(2 * len + 1);
	size_t n = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == 0)
			continue;
		if (s[i] < 0x80) {
			out[n++] = (char)s[i];
		} else {
			out[n++] = (char)(0xc0 | s[i] >> 6);
			out[n++] = (char)(0x80 | (s[i] & 0x3f));
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}
