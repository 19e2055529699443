/* SPDX-License-Identifier: MIT */
/*
 * The worker link (server/wlink.c) on hostile bytes, both directions: the
 * first byte picks the direction (odd: worker -> agent, what a compromised
 * worker sends the agent; even: agent -> worker), the rest is a stream of
 * frames cut with msg_frame_peek as both ends cut them. Every frame that
 * decodes must encode again to the same size and decode to the same type
 * (the encoder never writes what the decoder refuses), and nothing may read
 * outside the buffer (ASan) or overflow (UBSan).
 */
#include "msg.h"
#include "wlink.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum wlink_dir dir;
	size_t pos = 1;

	if (size < 1)
		return 0;
	dir = (data[0] & 1) ? WLINK_TO_AGENT : WLINK_TO_WORKER;
	while (pos < size) {
		size_t flen = 0;
		struct wlink_msg m;

		if (msg_frame_peek(data + pos, size - pos, &flen) != 0)
			break;
		/* a copy of exactly the frame: a read past it is a bug ASan sees */
		uint8_t *frame = malloc(flen);
		if (!frame)
			return 0;
		memcpy(frame, data + pos, flen);
		if (wlink_decode(frame, flen, dir, &m) == 0) {
			size_t need = wlink_encoded_size(&m), n = 0;
			uint8_t *out = need ? malloc(need) : NULL;
			if (!out || wlink_encode(&m, out, need, &n) != 0 || n != need)
				abort(); /* decoded, so it must encode */
			struct wlink_msg again;
			if (wlink_decode(out, n, dir, &again) != 0 || again.type != m.type)
				abort();
			free(out);
		}
		free(frame);
		pos += flen;
	}
	return 0;
}
