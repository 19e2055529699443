/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_KEYMAP_H
#define HIGHRISE_CLIENT_KEYMAP_H

/*
 * Scripted typing for the headless client (highrise-probe --type, --keys):
 * text and key names to KEY events, each with the Linux evdev code of the
 * key on a US (QWERTY, ANSI) layout and the X11 keysym it produces, the way
 * a real keyboard would send them. A GUI client does not need this: it
 * takes both values from the keyboard itself.
 *
 * Characters a US layout cannot type (é, €, ...) are sent with their
 * Unicode keysym and scancode 0, which an agent can only inject through a
 * keysym-based backend (VNC without the QEMU extended key event).
 *
 * Pure functions, any thread.
 */

#include "msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One key of the layout. */
struct keymap_key {
	uint16_t scancode; /* evdev code (linux/input-event-codes.h); 0: none on this layout */
	uint32_t keysym;   /* X11 keysym */
	bool shift;	   /* Shift must be held to type the character */
};

/*
 * The key that types Unicode code point cp on a US layout: 0 when the
 * layout has it, 1 when only the keysym is known (scancode 0), -EINVAL for
 * a control character no key types (\n, \r, \t, \b and ESC do have keys).
 */
int keymap_from_char(uint32_t cp, struct keymap_key *out);

/*
 * Turns C-like escapes into characters: \n (Enter), \r, \t, \b (BackSpace),
 * \e (Escape), \\ and \xHH. Returns the length written to out (NUL-terminated,
 * cap >= 1), -EINVAL for an unknown escape, -ENOSPC when out is too small.
 */
int keymap_unescape(const char *in, char *out, size_t cap);

/*
 * KEY events that type UTF-8 text: for each character key down and up,
 * wrapped in Shift down/up where the layout needs it. Writes at most max
 * events to out and the count to *n. Returns 0, -EINVAL for invalid UTF-8 or
 * a character no key types, or -ENOSPC (8 events per character are always
 * enough).
 */
int keymap_type_text(const char *utf8, struct msg_key *out, size_t max, size_t *n);

/*
 * KEY events for one chord such as "ctrl+alt+Delete", "ctrl+c", "Return" or
 * "super": every key pressed in order, then released in reverse. Names are
 * case-insensitive: modifiers ctrl (control), shift, alt, altgr, super (win,
 * meta); keys Return (enter), Escape (esc), Tab, BackSpace, Delete (del),
 * Insert, Home, End, PageUp (prior), PageDown (next), Up, Down, Left, Right,
 * F1..F12, Menu, Print, Pause, CapsLock, space, comma, plus, minus; or any
 * single character a US layout types (with Shift added when needed).
 * Returns 0, -EINVAL for an unknown name (in *bad when not NULL: a pointer
 * into chord), or -ENOSPC.
 */
int keymap_chord(const char *chord, struct msg_key *out, size_t max, size_t *n, const char **bad);

#endif
