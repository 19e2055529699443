/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_WS_H
#define HIGHRISE_WS_H

/*
 * RFC 6455 WebSocket, the server's side, as pure functions: the opening
 * handshake's request read and answered (§4.2), frames cut and built (§5).
 * This is how browsers will reach the agent (issue 15: the same frames of
 * docs/protocol.md, one per binary message); nothing here does I/O.
 *
 * Strict where the RFC says MUST: a request that is not a GET over
 * HTTP/1.1 with Upgrade: websocket, Connection: upgrade, a
 * Sec-WebSocket-Key of 16 base64 bytes and Sec-WebSocket-Version 13 is
 * refused with the status to answer (400, or 426 for another version) and
 * a sentence; frames from a client must be masked, reserved bits and
 * opcodes are errors, control frames are short and unfragmented, lengths
 * use the fewest bytes. Headers this module does not need are skipped.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_REQUEST_MAX	   8192 /* longest opening handshake read, bytes */
#define WS_KEY_LEN	   24	/* base64 of the 16-byte key */
#define WS_ACCEPT_LEN	   28	/* base64 of a SHA-1 */
#define WS_HEADER_MAX	   14	/* largest frame header: 2 + 8 length + 4 mask */
#define WS_CONTROL_MAX	   125	/* payload of a close, ping or pong */
#define WS_FIELD_MAX	   255	/* path, host, origin kept up to this many bytes */
#define WS_STATUS_NORMAL   1000 /* close codes (§7.4.1) */
#define WS_STATUS_PROTOCOL 1002
#define WS_STATUS_TOO_BIG  1009

enum ws_opcode {
	WS_CONTINUATION = 0x0,
	WS_TEXT = 0x1,
	WS_BINARY = 0x2,
	WS_CLOSE = 0x8,
	WS_PING = 0x9,
	WS_PONG = 0xa,
};

/* What the opening handshake asked for. */
struct ws_request {
	char path[WS_FIELD_MAX + 1];   /* the request target, e.g. "/desktop" */
	char host[WS_FIELD_MAX + 1];   /* Host */
	char origin[WS_FIELD_MAX + 1]; /* Origin; "" when absent (not a browser) */
	char key[WS_KEY_LEN + 1];      /* Sec-WebSocket-Key */
};

/*
 * The size of the request at buf, up to and including its blank line: > 0
 * once it has arrived, 0 while it has not, -E2BIG when WS_REQUEST_MAX bytes
 * came without one.
 */
int ws_request_end(const uint8_t *buf, size_t len);

/*
 * Parses a whole request (ws_request_end's bytes). Returns 0, or -EINVAL
 * with *status the HTTP status to answer (400, 405 for another method, 426
 * for another WebSocket version) and a sentence in why.
 */
int ws_parse_request(const uint8_t *req, size_t len, struct ws_request *out, int *status, char *why,
		     size_t whylen);

/* Sec-WebSocket-Accept for key (§4.2.2: base64 of SHA-1 of key + the GUID). */
void ws_accept_value(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* The 101 answer for key into buf (NUL-terminated); its length, or 0 when cap is short. */
size_t ws_response_accept(char *buf, size_t cap, const char *key);

/*
 * An HTTP error answer (status 400, 403, 405 or 426, the last with
 * Sec-WebSocket-Version: 13) whose body is the sentence; its length, or 0.
 */
size_t ws_response_error(char *buf, size_t cap, int status, const char *sentence);

/* A frame's header (§5.2). */
struct ws_frame {
	bool fin;
	uint8_t opcode; /* enum ws_opcode */
	bool masked;
	uint8_t mask[4];
	uint64_t len;  /* payload bytes */
	size_t header; /* header bytes before the payload */
};

/*
 * Reads the header at buf: 1 with *out filled, 0 when more bytes are needed,
 * -EPROTO with *why (a static sentence) for a header the RFC forbids.
 * from_client: frames must be masked (a server's frames must not be).
 */
int ws_frame_parse(const uint8_t *buf, size_t len, bool from_client, struct ws_frame *out,
		   const char **why);

/* A server's (unmasked) header for a payload of len bytes; its size (2, 4 or 10). */
size_t ws_frame_header(uint8_t out[WS_HEADER_MAX], enum ws_opcode opcode, bool fin, uint64_t len);

/* Unmasks (or masks) len bytes of payload that start offset bytes into it. */
void ws_unmask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset);

#endif
