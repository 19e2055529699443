/* SPDX-License-Identifier: MIT */
/*
 * proto/ws.c on hostile bytes, as the agent will meet them from a browser's
 * side: the input is an opening handshake, cut where ws_request_end says,
 * parsed with ws_parse_request (and answered, when it passes), then the rest
 * as client frames: each header parsed, its payload unmasked in place, until
 * the bytes run out or a header is refused. Nothing may read outside the
 * buffer (ASan) or overflow (UBSan); a parsed request's fields must be
 * NUL-terminated within their arrays; a frame's header and length must lie
 * within what was given before its payload is touched.
 */
#include "ws.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_request r;
	char why[256], answer[512];
	int status, end = ws_request_end(data, size);
	size_t pos = 0;

	if (end > 0) {
		/* a copy of exactly the request: a read past it is a bug ASan sees */
		uint8_t *req = malloc((size_t)end);
		if (!req)
			return 0;
		memcpy(req, data, (size_t)end);
		if (ws_parse_request(req, (size_t)end, &r, &status, why, sizeof(why)) == 0) {
			if (strlen(r.path) > WS_FIELD_MAX || strlen(r.host) > WS_FIELD_MAX ||
			    strlen(r.origin) > WS_FIELD_MAX || strlen(r.key) != WS_KEY_LEN ||
			    ws_response_accept(answer, sizeof(answer), r.key) == 0)
				abort();
		} else if (status < 400 || status > 426 || !why[0] ||
			   ws_response_error(answer, sizeof(answer), status, why) == 0) {
			abort();
		}
		free(req);
		pos = (size_t)end;
	}
	while (pos < size) {
		struct ws_frame f;
		const char *reason = NULL;
		int rc = ws_frame_parse(data + pos, size - pos, true, &f, &reason);

		if (rc < 0 && !reason)
			abort();
		if (rc <= 0)
			break;
		if (f.header > WS_HEADER_MAX || f.header > size - pos)
			abort();
		pos += f.header;
		size_t n = f.len < size - pos ? (size_t)f.len : size - pos;
		uint8_t *payload = malloc(n ? n : 1);
		if (!payload)
			return 0;
		memcpy(payload, data + pos, n);
		ws_unmask(payload, n, f.mask, 0);
		free(payload);
		pos += n;
	}
	return 0;
}
