/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_INPUT_H
#define HIGHRISE_INPUT_H

/*
 * One input event model for client and agent. The events are the wire
 * messages of proto/msg.h (KEY, POINTER, SCROLL, TOUCH, PEN); this module
 * adds what both ends need around them:
 *
 *  - key code translation: Linux evdev codes (what KEY carries) to the XT
 *    scancodes QEMU's VNC extended key event and SPICE expect, and to X11
 *    keycodes for XTest;
 *  - validation against the desktop: coordinates clamped to the screen,
 *    buttons limited to 1-8, scroll deltas bounded, nothing trusted;
 *  - a record of what is held down, so that when a client disconnects or
 *    loses control every key and button it pressed is released (no stuck
 *    Ctrl on the next user's screen).
 *
 * Pure functions; struct input_state belongs to one thread.
 */

#include "msg.h"

#include <stdbool.h>
#include <stdint.h>

/*
 * XT (PC AT set 1) scancode for an evdev key code: 0x01..0x7f for plain
 * keys, 0xe0XX for extended ones, 0 when the key has none.
 */
uint16_t input_xt_from_evdev(uint16_t evdev);

/* QEMU's "qnum" form of the same code: extended keys as 0x80 | XX. 0 when none. */
uint32_t input_qnum_from_evdev(uint16_t evdev);

/* X11 keycode of an evdev key code under the evdev/xkb keymap (evdev + 8). */
static inline uint8_t input_x11_keycode_from_evdev(uint16_t evdev)
{
	return evdev > 0 && evdev <= 247 ? (uint8_t)(evdev + 8) : 0;
}

enum input_verdict {
	INPUT_ACCEPT = 0, /* the (possibly clamped) event may be injected */
	INPUT_DROP,	  /* nothing to inject (e.g. a key with no code at all) */
};

/*
 * Checks one input message against a desktop of width x height and clamps
 * it in place: coordinates into the screen, scroll to ±INPUT_SCROLL_MAX.
 * Returns INPUT_DROP for messages that are not input or carry nothing.
 */
#define INPUT_SCROLL_MAX (120 * 50)
enum input_verdict input_sanitize(struct msg *m, uint16_t width, uint16_t height);

/*
 * What one client holds down: kept by the agent for each controlling
 * client, and by the GTK client for what it sent. Zero-initialise (or
 * input_state_init).
 */
#define INPUT_KEYS 768 /* evdev codes 0..767 tracked (KEY_MAX is 0x2ff) */
struct input_state {
	uint8_t keys[INPUT_KEYS / 8];  /* bitmap of evdev codes held */
	uint32_t key_syms[INPUT_KEYS]; /* the keysym each held code was pressed with */
	uint32_t keysyms[16];	       /* keysyms of held keys that had no evdev code */
	uint8_t nkeysyms;
	uint8_t buttons; /* pointer button mask held */
	uint16_t x, y;	 /* last pointer position */
};

void input_state_init(struct input_state *s);

/* Records a KEY or POINTER message (injected, or sent). */
void input_state_track(struct input_state *s, const struct msg *m);

/* Is the evdev code held (pressed and not released since)? */
bool input_state_key_held(const struct input_state *s, uint16_t code);

/*
 * The messages that release everything s holds (key ups, each with the
 * keysym it was pressed with, then one POINTER with no buttons), written
 * to out, which must hold max messages;
 * INPUT_RELEASE_MAX is always enough. Returns how many; s is then empty.
 * Call when a client disconnects or hands over control.
 */
#define INPUT_RELEASE_MAX (INPUT_KEYS + 16 + 1)
int input_state_release_all(struct input_state *s, struct msg *out, int max);

#endif
