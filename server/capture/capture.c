/* SPDX-License-Identifier: MIT */
#include "capture.h"

#include "clock.h"
#include "hostport.h"
#include "log.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const struct capture_impl *const backends[] = {
	&capture_vnc,
	&capture_spice,
	&capture_x11,
};

const struct capture_impl *capture_find(const char *uri)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (uri && backends[i]->handles(uri))
			return backends[i];
	log_error("no console backend for '%s': use vnc://HOST:PORT, spice://HOST:PORT, "
		  "spice+unix:///PATH or x11::DISPLAY",
		  uri ? uri : "(none)");
	return NULL;
}

void capture_report(const struct capture_cfg *cfg, enum capture_failure kind, const char *why)
{
	if (!cfg || !cfg->error)
		return;
	cfg->error->kind = kind;
	snprintf(cfg->error->why, sizeof(cfg->error->why), "%s", why);
}

int capture_parse_hostport(const char *p, size_t len, char *host, size_t cap, int *port,
			   int default_port)
{
	if (len > 0 && p[len - 1] == '/')
		len--;
	return hostport_parse(p, len, host, cap, port, default_port, 0) < 0 ? -EINVAL : 0;
}

int capture_cursor_from_rgba(struct capture_cursor *out, int width, int height, int hot_x,
			     int hot_y, const uint8_t *rgba)
{
	if (!rgba || width < 1 || height < 1 || width > (int)MSG_CURSOR_MAX ||
	    height > (int)MSG_CURSOR_MAX)
		return -EINVAL;
	size_t n = (size_t)width * (size_t)height;
	uint8_t *px = malloc(n * 4);
	if (!px)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *s = rgba + i * 4;
		unsigned a = s[3];
		px[i * 4 + 0] = (uint8_t)((s[2] * a + 127) / 255);
		px[i * 4 + 1] = (uint8_t)((s[1] * a + 127) / 255);
		px[i * 4 + 2] = (uint8_t)((s[0] * a + 127) / 255);
		px[i * 4 + 3] = (uint8_t)a;
	}
	*out = (struct capture_cursor){
		.width = (uint16_t)width,
		.height = (uint16_t)height,
		.hot_x = (uint16_t)(hot_x < 0	    ? 0
				    : hot_x < width ? hot_x
						    : width - 1),
		.hot_y = (uint16_t)(hot_y < 0	     ? 0
				    : hot_y < height ? hot_y
						     : height - 1),
		.pixels = px,
	};
	return 0;
}

void capture_damage_add(struct rect damage[CAPTURE_DAMAGE_MAX], size_t *n, struct rect r)
{
	if (*n < CAPTURE_DAMAGE_MAX) {
		damage[(*n)++] = r;
		return;
	}
	int32_t x0 = r.x, y0 = r.y, x1 = r.x + r.width, y1 = r.y + r.height;
	for (size_t i = 0; i < *n; i++) {
		const struct rect *d = &damage[i];
		if (d->x < x0)
			x0 = d->x;
		if (d->y < y0)
			y0 = d->y;
		if (d->x + d->width > x1)
			x1 = d->x + d->width;
		if (d->y + d->height > y1)
			y1 = d->y + d->height;
	}
	damage[0] = (struct rect){x0, y0, x1 - x0, y1 - y0};
	*n = 1;
}

int capture_wait(int fd, int wake_fd, int timeout_ms)
{
	struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = wake_fd, .events = POLLIN}};

	for (;;) {
		int n = poll(p, wake_fd > 0 ? 2 : 1, timeout_ms < 0 ? 0 : timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n;
		return p[0].revents ? 1 : 2;
	}
}

bool capture_reachable(const char *uri, int timeout_ms)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (uri && backends[i]->handles(uri))
			return !backends[i]->reachable || backends[i]->reachable(uri, timeout_ms);
	return true;
}

int capture_tcp_connect(const char *host, int port, int timeout_ms, char *why, size_t whylen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int64_t deadline = clock_mono_ms() + timeout_ms;
	char service[8];
	int fd = -1, err = ETIMEDOUT;

	snprintf(service, sizeof(service), "%d", port);
	int rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0) {
		snprintf(why, whylen, "cannot be resolved: %s",
			 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		int s = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			       ai->ai_protocol);
		if (s < 0) {
			err = errno;
			continue;
		}
		if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0) {
			fd = s;
			break;
		}
		err = errno;
		if (err == EINPROGRESS) {
			struct pollfd pfd = {.fd = s, .events = POLLOUT};
			int64_t left;
			int n;
			do {
				left = deadline - clock_mono_ms();
				n = poll(&pfd, 1, left > 0 ? (int)left : 0);
			} while (n < 0 && errno == EINTR);
			if (n > 0) {
				socklen_t len = sizeof(err);
				if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
					err = errno;
				if (err == 0) {
					fd = s;
					break;
				}
			} else {
				err = n == 0 ? ETIMEDOUT : errno;
			}
		}
		close(s);
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (err == ETIMEDOUT)
			snprintf(why, whylen, "no answer within %d ms", timeout_ms);
		else
			snprintf(why, whylen, "%s", strerror(err));
	}
	return fd;
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
