/* SPDX-License-Identifier: MIT */
#include "ws.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 §1.3 */

int ws_request_end(const uint8_t *buf, size_t len)
{
	size_t n = len < WS_REQUEST_MAX ? len : WS_REQUEST_MAX;

	for (size_t i = 3; i < n; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' &&
		    buf[i - 3] == '\r')
			return (int)(i + 1);
	return len >= WS_REQUEST_MAX ? -E2BIG : 0;
}

/* The next CRLF in [p, end), or NULL: the request is not NUL-terminated. */
static const char *find_crlf(const char *p, const char *end)
{
	for (; p + 1 < end; p++)
		if (p[0] == '\r' && p[1] == '\n')
			return p;
	return NULL;
}

static int refuse(int code, int *status, char *why, size_t whylen, const char *sentence)
{
	*status = code;
	snprintf(why, whylen, "%s", sentence);
	return -EINVAL;
}

/* RFC 9110 §5.6.2 token characters. */
static bool tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Whether the comma-separated list [v, v + n) holds token (case-insensitive). */
static bool list_has(const char *v, size_t n, const char *token)
{
	size_t tl = strlen(token), i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
			return true;
	}
	return false;
}

/* Copies [v, v + n) into out (cap bytes with the NUL); false when it does not fit. */
static bool copy_field(char *out, size_t cap, const char *v, size_t n)
{
	if (n >= cap)
		return false;
	memcpy(out, v, n);
	out[n] = '\0';
	return true;
}

/* A Sec-WebSocket-Key: base64 of exactly 16 bytes (§4.1 item 7). */
static bool key_ok(const char *v, size_t n)
{
	unsigned char raw[24];

	if (n != WS_KEY_LEN || v[22] != '=' || v[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		      (v[i] >= '0' && v[i] <= '9') || v[i] == '+' || v[i] == '/'))
			return false;
	/* 24 characters decode to 18 bytes, the last two of them padding */
	return EVP_DecodeBlock(raw, (const unsigned char *)v, WS_KEY_LEN) == 18;
}

int ws_parse_request(const uint8_t *req, size_t len, struct ws_request *out, int *status, char *why,
		     size_t whylen)
{
	const char *p = (const char *)req, *end = p + len;
	bool upgrade = false, connection = false, version = false, host = false, key = false;
	const char *eol;

	memset(out, 0, sizeof(*out));
	*status = 400;
	if (len < 4 || memcmp(end - 4, "\r\n\r\n", 4) != 0 || memchr(req, '\0', len))
		return refuse(400, status, why, whylen, "the request does not end in a blank line");

	/* request line: GET SP target SP HTTP/1.1 */
	eol = find_crlf(p, end);
	{
		const char *sp1 = memchr(p, ' ', (size_t)(eol - p)), *sp2;

		if (!sp1)
			return refuse(400, status, why, whylen, "not an HTTP request line");
		sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
		if (!sp2 || (size_t)(eol - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.1", 8) != 0)
			return refuse(400, status, why, whylen,
				      "not an HTTP/1.1 request line (\"GET /path HTTP/1.1\")");
		if (sp1 - p != 3 || memcmp(p, "GET", 3) != 0)
			return refuse(405, status, why, whylen,
				      "only GET opens a WebSocket (RFC 6455 §4.1)");
		if (sp2 == sp1 + 1 || sp1[1] != '/' ||
		    !copy_field(out->path, sizeof(out->path), sp1 + 1, (size_t)(sp2 - sp1 - 1)))
			return refuse(400, status, why, whylen,
				      "the request target is not a path of at most 255 bytes");
	}

	/* header fields, up to the blank line */
	for (p = eol + 2; p < end - 2; p = eol + 2) {
		const char *colon, *v, *ve;
		size_t nl;

		eol = find_crlf(p, end);
		if (!eol || eol == p)
			break;
		if (*p == ' ' || *p == '\t')
			return refuse(400, status, why, whylen,
				      "folded header lines are not allowed");
		colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p)
			return refuse(400, status, why, whylen, "a header line without a name");
		for (const char *c = p; c < colon; c++)
			if (!tchar(*c))
				return refuse(400, status, why, whylen,
					      "a header name with characters HTTP does not allow");
		nl = (size_t)(colon - p);
		v = colon + 1;
		ve = eol;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
#define IS(name) (nl == sizeof(name) - 1 && strncasecmp(p, name, nl) == 0)
		if (IS("Host")) {
			if (host || !copy_field(out->host, sizeof(out->host), v, (size_t)(ve - v)))
				return refuse(400, status, why, whylen,
					      "Host is repeated or longer than 255 bytes");
			host = true;
		} else if (IS("Origin")) {
			if (out->origin[0] ||
			    !copy_field(out->origin, sizeof(out->origin), v, (size_t)(ve - v)))
				return refuse(400, status, why, whylen,
					      "Origin is repeated or longer than 255 bytes");
		} else if (IS("Upgrade")) {
			upgrade = upgrade || list_has(v, (size_t)(ve - v), "websocket");
		} else if (IS("Connection")) {
			connection = connection || list_has(v, (size_t)(ve - v), "upgrade");
		} else if (IS("Sec-WebSocket-Key")) {
			if (key || !key_ok(v, (size_t)(ve - v)))
				return refuse(400, status, why, whylen,
					      "Sec-WebSocket-Key is repeated or not base64 of 16 "
					      "bytes");
			memcpy(out->key, v, WS_KEY_LEN);
			key = true;
		} else if (IS("Sec-WebSocket-Version")) {
			if (version || ve - v != 2 || memcmp(v, "13", 2) != 0)
				return refuse(
					426, status, why, whylen,
					"only WebSocket version 13 (RFC 6455) is spoken here");
			version = true;
		}
#undef IS
	}
	if (!host)
		return refuse(400, status, why, whylen, "the request has no Host");
	if (!upgrade || !connection)
		return refuse(400, status, why, whylen,
			      "not a WebSocket request: it needs Upgrade: websocket and "
			      "Connection: Upgrade");
	if (!version)
		return refuse(
			426, status, why, whylen,
			"no Sec-WebSocket-Version: only version 13 (RFC 6455) is spoken here");
	if (!key)
		return refuse(400, status, why, whylen, "the request has no Sec-WebSocket-Key");
	*status = 101;
	why[0] = '\0';
	return 0;
}

void ws_accept_value(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	unsigned char in[WS_KEY_LEN + sizeof(WS_GUID)], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t kl = strnlen(key, WS_KEY_LEN);

	memcpy(in, key, kl);
	memcpy(in + kl, WS_GUID, sizeof(WS_GUID) - 1);
	if (EVP_Digest(in, kl + sizeof(WS_GUID) - 1, md, &mdlen, EVP_sha1(), NULL) != 1 ||
	    mdlen != 20) {
		out[0] = '\0';
		return;
	}
	EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 characters and a NUL */
}

size_t ws_response_accept(char *buf, size_t cap, const char *key)
{
	char accept[WS_ACCEPT_LEN + 1];
	int n;

	ws_accept_value(key, accept);
	n = snprintf(buf, cap,
		     "HTTP/1.1 101 Switching Protocols\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Accept: %s\r\n\r\n",
		     accept);
	return n > 0 && (size_t)n < cap && accept[0] ? (size_t)n : 0;
}

size_t ws_response_error(char *buf, size_t cap, int status, const char *sentence)
{
	const char *reason = status == 403   ? "Forbidden"
			     : status == 405 ? "Method Not Allowed"
			     : status == 426 ? "Upgrade Required"
					     : "Bad Request";
	int n = snprintf(buf, cap,
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: text/plain; charset=utf-8\r\n"
			 "%s"
			 "Content-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s\n",
			 status == 403 || status == 405 || status == 426 ? status : 400, reason,
			 status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "", strlen(sentence) + 1,
			 sentence);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int ws_frame_parse(const uint8_t *buf, size_t len, bool from_client, struct ws_frame *out,
		   const char **why)
{
	size_t need = 2;
	uint64_t n;

	memset(out, 0, sizeof(*out));
	if (len < 2)
		return 0;
	out->fin = buf[0] & 0x80;
	out->opcode = buf[0] & 0x0f;
	out->masked = buf[1] & 0x80;
	n = buf[1] & 0x7f;
	if (buf[0] & 0x70) {
		*why = "reserved bits set without an extension";
		return -EPROTO;
	}
	if (out->opcode > WS_BINARY && out->opcode != WS_CLOSE && out->opcode != WS_PING &&
	    out->opcode != WS_PONG) {
		*why = "a reserved opcode";
		return -EPROTO;
	}
	if (out->masked != from_client) {
		*why = from_client ? "a client's frame is not masked"
				   : "a server's frame is masked";
		return -EPROTO;
	}
	if (n == 126)
		need += 2;
	else if (n == 127)
		need += 8;
	if (out->masked)
		need += 4;
	if (len < need)
		return 0;
	if (n == 126) {
		n = (uint64_t)buf[2] << 8 | buf[3];
		if (n < 126) {
			*why = "a length not in its shortest form";
			return -EPROTO;
		}
	} else if (n == 127) {
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | buf[2 + i];
		if (n >> 63) {
			*why = "a length with its top bit set";
			return -EPROTO;
		}
		if (n <= 0xffff) {
			*why = "a length not in its shortest form";
			return -EPROTO;
		}
	}
	if (out->opcode >= WS_CLOSE && (n > WS_CONTROL_MAX || !out->fin)) {
		*why = "a control frame longer than 125 bytes or fragmented";
		return -EPROTO;
	}
	if (out->masked)
		memcpy(out->mask, buf + need - 4, 4);
	out->len = n;
	out->header = need;
	return 1;
}

size_t ws_frame_header(uint8_t out[WS_HEADER_MAX], enum ws_opcode opcode, bool fin, uint64_t len)
{
	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	return 10;
}

void ws_unmask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset)
{
	for (size_t i = 0; i < len; i++)
		data[i] ^= mask[(offset + i) & 3];
}
