/* SPDX-License-Identifier: MIT */
#include "hostport.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ':' passes: the split leaves one in HOST only in an IPv6 address. */
static bool host_char_ok(unsigned char ch)
{
	return ch > 0x20 && ch < 0x7f && !strchr("/?#@[]", ch);
}

int hostport_parse(const char *s, size_t len, char *host, size_t cap, int *port, int default_port,
		   unsigned flags)
{
	if (!s || !host || !port || cap == 0)
		return -EINVAL;
	const char *end = s + len, *hs = s, *he, *rest;
	if (len > 0 && *s == '[') {
		hs = s + 1;
		he = memchr(hs, ']', (size_t)(end - hs));
		if (!he || he == hs)
			return -EINVAL;
		rest = he + 1;
	} else {
		const char *first = memchr(s, ':', len), *second = NULL;
		if (first)
			second = memchr(first + 1, ':', (size_t)(end - first - 1));
		if (second && (flags & HOSTPORT_BARE_V6))
			first = NULL; /* "fe80::1": an address, not HOST:PORT */
		he = first ? first : end;
		rest = he;
	}
	size_t hlen = (size_t)(he - hs);
	if ((hlen == 0 && !(flags & HOSTPORT_ANY_HOST)) || hlen >= cap)
		return -EINVAL;
	for (const char *q = hs; q < he; q++)
		if (!host_char_ok((unsigned char)*q))
			return -EINVAL;

	long v;
	if (rest == end) {
		if (default_port < 0)
			return -ERANGE;
		v = default_port;
	} else {
		if (*rest != ':')
			return -EINVAL;
		if (end - rest < 2 || end - rest > 6)
			return -ERANGE;
		v = 0;
		for (const char *q = rest + 1; q < end; q++) {
			if (*q < '0' || *q > '9')
				return -ERANGE;
			v = v * 10 + (*q - '0');
		}
		if (v > 65535 || (v == 0 && !(flags & HOSTPORT_ANY_PORT)))
			return -ERANGE;
	}
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	*port = (int)v;
	return 0;
}

int hostport_format(char *buf, size_t cap, const char *host, int port)
{
	return snprintf(buf, cap, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}
