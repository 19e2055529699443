/* SPDX-License-Identifier: MIT */
/* common/hostport: the forms every caller writes, and the ones each refuses. */
#include "check.h"
#include "hostport.h"

#include <errno.h>

static int parse(const char *s, int def, unsigned flags, char *host, int *port)
{
	return hostport_parse(s, strlen(s), host, 64, port, def, flags);
}

int main(void)
{
	char h[64], buf[80];
	int p;

	CHECK_INT_EQ(parse("desk.example.com:5901", 5900, 0, h, &p), 0);
	CHECK_STR_EQ(h, "desk.example.com");
	CHECK_INT_EQ(p, 5901);
	CHECK_INT_EQ(parse("10.0.0.7", 5900, 0, h, &p), 0);
	CHECK_STR_EQ(h, "10.0.0.7");
	CHECK_INT_EQ(p, 5900);
	CHECK_INT_EQ(parse("[::1]:7443", -1, 0, h, &p), 0);
	CHECK_STR_EQ(h, "::1");
	CHECK_INT_EQ(p, 7443);
	CHECK_INT_EQ(parse("[fe80::1]", 7443, 0, h, &p), 0);
	CHECK_STR_EQ(h, "fe80::1");
	CHECK_INT_EQ(p, 7443);
	/* a bare IPv6 address, where the caller allows it (a client's --agent) */
	CHECK_INT_EQ(parse("fe80::1", 7443, HOSTPORT_BARE_V6, h, &p), 0);
	CHECK_STR_EQ(h, "fe80::1");
	CHECK_INT_EQ(p, 7443);
	CHECK_INT_EQ(parse("fe80::1", 7443, 0, h, &p), -ERANGE); /* "fe80" port ":1" */
	/* listen addresses: all addresses, any port */
	CHECK_INT_EQ(parse(":0", -1, HOSTPORT_ANY_HOST | HOSTPORT_ANY_PORT, h, &p), 0);
	CHECK_STR_EQ(h, "");
	CHECK_INT_EQ(p, 0);
	CHECK_INT_EQ(parse(":0", -1, 0, h, &p), -EINVAL);
	CHECK_INT_EQ(parse("a:0", -1, 0, h, &p), -ERANGE);
	CHECK_INT_EQ(parse("127.0.0.1:0", -1, HOSTPORT_ANY_PORT, h, &p), 0);
	/* a length, not a NUL: the rest of a URI is not read */
	CHECK_INT_EQ(hostport_parse("host:5902/path", 9, h, sizeof(h), &p, -1, 0), 0);
	CHECK_STR_EQ(h, "host");
	CHECK_INT_EQ(p, 5902);

	static const char *const bad_host[] = {"",	  "[::1",  "[]:1",   "[::1]x", "a b:1",
					       "us@er:1", "a/b:1", "[a]]:1", "x?:1"};
	for (size_t i = 0; i < sizeof(bad_host) / sizeof(bad_host[0]); i++)
		CHECK_INT_EQ(parse(bad_host[i], 1, 0, h, &p), -EINVAL);
	static const char *const bad_port[] = {"a:",   "a:70000",   "a:8x",
					       "a:-1", "a:1234567", "[::1]:"};
	for (size_t i = 0; i < sizeof(bad_port) / sizeof(bad_port[0]); i++)
		CHECK_INT_EQ(parse(bad_port[i], 1, 0, h, &p), -ERANGE);
	CHECK_INT_EQ(parse("a", -1, 0, h, &p), -ERANGE); /* the port is required */
	/* too long for the buffer */
	CHECK_INT_EQ(hostport_parse("abcdef:1", 8, h, 4, &p, -1, 0), -EINVAL);
	/* nothing written on failure */
	strcpy(h, "kept");
	p = 42;
	CHECK(parse("a:99999", -1, 0, h, &p) < 0 && strcmp(h, "kept") == 0 && p == 42);

	CHECK_INT_EQ(hostport_format(buf, sizeof(buf), "::1", 7443), 10);
	CHECK_STR_EQ(buf, "[::1]:7443");
	hostport_format(buf, sizeof(buf), "desk", 5900);
	CHECK_STR_EQ(buf, "desk:5900");
	return check_done("test_hostport");
}
