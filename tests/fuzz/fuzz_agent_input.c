/* SPDX-License-Identifier: MIT */
/*
 * The agent's input path on hostile bytes: frames as a client would send
 * them, cut and decoded (proto/msg), then checked against a desktop of a
 * size taken from the input (input_sanitize), tracked and released
 * (input_state) exactly as desktop.c does before anything reaches a
 * console. Invariants: nothing injected lies outside the screen, scroll
 * stays bounded, and releasing a client leaves nothing held.
 */
#include "input.h"
#include "msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct msg rel[INPUT_RELEASE_MAX];
	struct input_state held;
	uint16_t w, h;
	size_t pos = 4;

	if (size < 4)
		return 0;
	/* the desktop size, as the console reported it: 1..16384 */
	w = (uint16_t)(1 + ((data[0] << 8 | data[1]) % MSG_DIMENSION_MAX));
	h = (uint16_t)(1 + ((data[2] << 8 | data[3]) % MSG_DIMENSION_MAX));
	input_state_init(&held);

	while (pos < size) {
		size_t flen = 0;
		struct msg m;

		if (msg_frame_peek(data + pos, size - pos, &flen) != 0)
			break;
		if (msg_decode(data + pos, flen, &m) == 0 &&
		    input_sanitize(&m, w, h) == INPUT_ACCEPT) {
			switch (m.type) {
			case MSG_POINTER:
				if (m.u.pointer.x >= w || m.u.pointer.y >= h)
					abort();
				break;
			case MSG_TOUCH:
				if (m.u.touch.x >= w || m.u.touch.y >= h)
					abort();
				break;
			case MSG_PEN:
				if (m.u.pen.x >= w || m.u.pen.y >= h)
					abort();
				break;
			case MSG_SCROLL:
				if (abs(m.u.scroll.dx) > INPUT_SCROLL_MAX ||
				    abs(m.u.scroll.dy) > INPUT_SCROLL_MAX)
					abort();
				break;
			case MSG_KEY:
				if (m.u.key.scancode == 0 && m.u.key.keysym == 0)
					abort();
				(void)input_xt_from_evdev(m.u.key.scancode);
				(void)input_x11_keycode_from_evdev(m.u.key.scancode);
				break;
			default:
				abort(); /* only input is ever accepted */
			}
			input_state_track(&held, &m);
		}
		pos += flen;
	}
	int n = input_state_release_all(&held, rel, INPUT_RELEASE_MAX);
	for (int i = 0; i < n; i++) {
		if (rel[i].type == MSG_KEY && (rel[i].u.key.flags & MSG_KEY_DOWN))
			abort(); /* a release must be a key up */
		if (rel[i].type == MSG_POINTER && rel[i].u.pointer.buttons)
			abort();
	}
	if (input_state_release_all(&held, rel, INPUT_RELEASE_MAX) != 0)
		abort(); /* nothing may stay held */
	return 0;
}
