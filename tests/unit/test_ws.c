/* SPDX-License-Identifier: MIT */
/*
 * proto/ws.h against RFC 6455: the handshake example of §1.3 / §4.2.2, the
 * frame examples of §5.7 (masked and unmasked "Hello", 256 bytes and 64 KiB
 * lengths), and each MUST a server enforces: GET over HTTP/1.1, Upgrade and
 * Connection, a 16-byte key, version 13 (426 otherwise), masked client
 * frames, no reserved bits or opcodes, short unfragmented control frames,
 * shortest length forms.
 */
#include "check.h"
#include "ws.h"

#include <errno.h>
#include <string.h>

#define REQ(extra)                                                                           \
	"GET /desktop HTTP/1.1\r\nHost: agent.example:7444\r\nUpgrade: websocket\r\n"        \
	"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
	"Origin: https://broker.example\r\nSec-WebSocket-Version: 13\r\n" extra "\r\n"

static int parse(const char *req, struct ws_request *r, int *status, char *why)
{
	return ws_parse_request((const uint8_t *)req, strlen(req), r, status, why, 256);
}

static void test_handshake(void)
{
	struct ws_request r;
	char why[256], buf[512], accept[WS_ACCEPT_LEN + 1];
	int status;
	const char *ok = REQ("User-Agent: test\r\n");

	/* §4.2.2's example */
	ws_accept_value("dGhlIHNhbXBsZSBub25jZQ==", accept);
	CHECK_STR_EQ(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

	CHECK_INT_EQ(ws_request_end((const uint8_t *)ok, strlen(ok)), (int)strlen(ok));
	CHECK_INT_EQ(ws_request_end((const uint8_t *)ok, strlen(ok) - 1), 0);
	CHECK_INT_EQ(parse(ok, &r, &status, why), 0);
	CHECK_INT_EQ(status, 101);
	CHECK_STR_EQ(r.path, "/desktop");
	CHECK_STR_EQ(r.host, "agent.example:7444");
	CHECK_STR_EQ(r.origin, "https://broker.example");
	CHECK_STR_EQ(r.key, "dGhlIHNhbXBsZSBub25jZQ==");
	CHECK(ws_response_accept(buf, sizeof(buf), r.key) > 0);
	CHECK(strstr(buf, "HTTP/1.1 101 Switching Protocols\r\n") == buf);
	CHECK(strstr(buf, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
	CHECK_INT_EQ(ws_response_accept(buf, 20, r.key), 0);

	/* header names are case-insensitive; Origin may be missing (not a browser) */
	CHECK_INT_EQ(
		parse("GET / HTTP/1.1\r\nhost: h\r\nUPGRADE: WebSocket\r\nconnection: upgrade\r\n"
		      "sec-websocket-key: AQIDBAUGBwgJCgsMDQ4PEA==\r\nSEC-WEBSOCKET-VERSION: "
		      "13\r\n\r\n",
		      &r, &status, why),
		0);
	CHECK_STR_EQ(r.origin, "");

	/* refusals, each with its status */
	static const struct {
		const char *req;
		int status;
	} bad[] = {
		{"POST /desktop HTTP/1.1\r\nHost: h\r\n\r\n", 405},
		{"GET /desktop HTTP/1.0\r\nHost: h\r\n\r\n", 400},
		{"GET desktop HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"GARBAGE\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		 400}, /* no Host */
		{"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		 400}, /* no Upgrade */
		{"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		 400}, /* Connection without upgrade */
		{"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
		 426},
		{"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
		 426}, /* no version */
		{"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
		 400}, /* a key of 5 bytes */
		{"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Version: 13\r\n\r\n",
		 400}, /* no key */
		{"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHo st: h\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n", 400},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		status = 0;
		CHECK_INT_EQ(parse(bad[i].req, &r, &status, why), -EINVAL);
		CHECK_INT_EQ(status, bad[i].status);
		CHECK(why[0] != '\0');
	}
	/* a NUL inside, and no blank line at the end */
	CHECK_INT_EQ(ws_parse_request((const uint8_t *)"GET / HTTP/1.1\r\nHost: \0\r\n\r\n", 26, &r,
				      &status, why, sizeof(why)),
		     -EINVAL);
	CHECK_INT_EQ(ws_parse_request((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &r, &status, why,
				      sizeof(why)),
		     -EINVAL);
	/* WS_REQUEST_MAX bytes without a blank line */
	{
		static uint8_t big[WS_REQUEST_MAX + 10];
		memset(big, 'a', sizeof(big));
		CHECK_INT_EQ(ws_request_end(big, sizeof(big)), -E2BIG);
		CHECK_INT_EQ(ws_request_end(big, 100), 0);
	}
	CHECK(ws_response_error(buf, sizeof(buf), 426, "only version 13") > 0);
	CHECK(strstr(buf, "HTTP/1.1 426 Upgrade Required\r\n") == buf);
	CHECK(strstr(buf, "Sec-WebSocket-Version: 13\r\n"));
	CHECK(strstr(buf, "\r\n\r\nonly version 13\n"));
	CHECK(ws_response_error(buf, sizeof(buf), 403, "wrong origin") > 0);
	CHECK(strstr(buf, "HTTP/1.1 403 Forbidden\r\n") == buf);
}

static void test_frames(void)
{
	/* §5.7 */
	static const uint8_t hello_plain[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	static const uint8_t hello_masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
					       0x7f, 0x9f, 0x4d, 0x51, 0x58};
	static const uint8_t len256[] = {0x82, 0x7e, 0x01, 0x00};
	static const uint8_t len64k[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00};
	struct ws_frame f;
	const char *why = NULL;
	uint8_t hdr[WS_HEADER_MAX], payload[5];

	CHECK_INT_EQ(ws_frame_parse(hello_masked, sizeof(hello_masked), true, &f, &why), 1);
	CHECK(f.fin && f.masked);
	CHECK_INT_EQ(f.opcode, WS_TEXT);
	CHECK_INT_EQ(f.len, 5);
	CHECK_INT_EQ(f.header, 6);
	memcpy(payload, hello_masked + 6, 5);
	ws_unmask(payload, 2, f.mask, 0); /* in two pieces, as bytes arrive */
	ws_unmask(payload + 2, 3, f.mask, 2);
	CHECK(memcmp(payload, "Hello", 5) == 0);
	/* a server takes only masked frames; the unmasked one is a server's */
	CHECK_INT_EQ(ws_frame_parse(hello_plain, sizeof(hello_plain), true, &f, &why), -EPROTO);
	CHECK_INT_EQ(ws_frame_parse(hello_plain, sizeof(hello_plain), false, &f, &why), 1);
	/* lengths, and what we write for them */
	CHECK_INT_EQ(ws_frame_parse(len256, sizeof(len256), false, &f, &why), 1);
	CHECK_INT_EQ(f.len, 256);
	CHECK_INT_EQ(ws_frame_header(hdr, WS_BINARY, true, 256), 4);
	CHECK(memcmp(hdr, len256, 4) == 0);
	CHECK_INT_EQ(ws_frame_parse(len64k, sizeof(len64k), false, &f, &why), 1);
	CHECK_INT_EQ(f.len, 65536);
	CHECK_INT_EQ(ws_frame_header(hdr, WS_BINARY, true, 65536), 10);
	CHECK(memcmp(hdr, len64k, 10) == 0);
	CHECK_INT_EQ(ws_frame_header(hdr, WS_BINARY, true, 5), 2);
	CHECK(hdr[0] == 0x82 && hdr[1] == 5);
	CHECK_INT_EQ(ws_frame_header(hdr, WS_CONTINUATION, false, 125), 2);
	CHECK(hdr[0] == 0x00 && hdr[1] == 125);
	/* more bytes needed, at every cut */
	for (size_t n = 0; n < 6; n++)
		CHECK_INT_EQ(ws_frame_parse(hello_masked, n, true, &f, &why), 0);
	CHECK_INT_EQ(ws_frame_parse(len64k, 9, false, &f, &why), 0);

	/* what a server must refuse */
	static const struct {
		uint8_t b[14];
		size_t n;
	} bad[] = {
		{{0xc2, 0x80, 1, 2, 3, 4}, 6},		   /* RSV1 */
		{{0x83, 0x80, 1, 2, 3, 4}, 6},		   /* opcode 3 */
		{{0x8b, 0x80, 1, 2, 3, 4}, 6},		   /* opcode 11 */
		{{0x09, 0x80, 1, 2, 3, 4}, 6},		   /* a fragmented ping */
		{{0x89, 0xfe, 0x00, 0x7e, 1, 2, 3, 4}, 8}, /* a 126-byte ping */
		{{0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4}, 8}, /* 5 in 16 bits */
		{{0x82, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4}, 14}, /* 65535 in 64 */
		{{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, 14},    /* top bit */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		CHECK_INT_EQ(ws_frame_parse(bad[i].b, bad[i].n, true, &f, &why), -EPROTO);
		CHECK(why != NULL);
	}
	/* a close with a status, in the largest control frame */
	{
		uint8_t close[2 + 4 + 125] = {0x88, 0x80 | 125, 0, 0, 0, 0};
		CHECK_INT_EQ(ws_frame_parse(close, sizeof(close), true, &f, &why), 1);
		CHECK_INT_EQ(f.opcode, WS_CLOSE);
		CHECK_INT_EQ(f.len, 125);
	}
}

int main(void)
{
	test_handshake();
	test_frames();
	return check_done("test_ws");
}
