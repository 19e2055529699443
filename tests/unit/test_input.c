/* SPDX-License-Identifier: MIT */
#include "check.h"

#include "input.h"

#include <linux/input-event-codes.h>

static void test_keymaps(void)
{
	/* the identity range and its ends */
	CHECK_INT_EQ(input_xt_from_evdev(KEY_ESC), 0x01);
	CHECK_INT_EQ(input_xt_from_evdev(KEY_A), 0x1e);
	CHECK_INT_EQ(input_xt_from_evdev(KEY_ENTER), 0x1c);
	CHECK_INT_EQ(input_xt_from_evdev(KEY_LEFTSHIFT), 0x2a);
	CHECK_INT_EQ(input_xt_from_evdev(KEY_KPDOT), 0x53);
	CHECK_INT_EQ(input_xt_from_evdev(KEY_102ND), 0x56);
	CHECK_INT_EQ(input_xt_from_evdev(KEY_F12), 0x58);
	/* extended keys */
	CHECK_INT_EQ(input_xt_from_evdev(KEY_RIGHTCTRL), 0xe01d);
	CHECK_INT_EQ(input_xt_from_evdev(KEY_UP), 0xe048);
	CHECK_INT_EQ(input_xt_from_evdev(KEY_DELETE), 0xe053);
	CHECK_INT_EQ(input_xt_from_evdev(KEY_LEFTMETA), 0xe05b);
	CHECK_INT_EQ(input_qnum_from_evdev(KEY_UP), 0xc8);
	CHECK_INT_EQ(input_qnum_from_evdev(KEY_KPENTER), 0x9c);
	CHECK_INT_EQ(input_qnum_from_evdev(KEY_A), 0x1e);
	/* no code */
	CHECK_INT_EQ(input_xt_from_evdev(0), 0);
	CHECK_INT_EQ(input_xt_from_evdev(84), 0);
	CHECK_INT_EQ(input_xt_from_evdev(0xffff), 0);
	CHECK_INT_EQ(input_x11_keycode_from_evdev(KEY_A), 38); /* 'a' under evdev xkb */
	CHECK_INT_EQ(input_x11_keycode_from_evdev(0), 0);
	CHECK_INT_EQ(input_x11_keycode_from_evdev(300), 0);
}

static void test_sanitize(void)
{
	struct msg m = {.type = MSG_POINTER};

	m.u.pointer.x = 5000;
	m.u.pointer.y = 65535;
	CHECK_INT_EQ(input_sanitize(&m, 1280, 720), INPUT_ACCEPT);
	CHECK_INT_EQ(m.u.pointer.x, 1279);
	CHECK_INT_EQ(m.u.pointer.y, 719);

	m.type = MSG_SCROLL;
	m.u.scroll.dx = 32767;
	m.u.scroll.dy = -32768;
	CHECK_INT_EQ(input_sanitize(&m, 1280, 720), INPUT_ACCEPT);
	CHECK_INT_EQ(m.u.scroll.dx, INPUT_SCROLL_MAX);
	CHECK_INT_EQ(m.u.scroll.dy, -INPUT_SCROLL_MAX);
	m.u.scroll.dx = m.u.scroll.dy = 0;
	CHECK_INT_EQ(input_sanitize(&m, 1280, 720), INPUT_DROP);

	memset(&m, 0, sizeof(m));
	m.type = MSG_KEY;
	CHECK_INT_EQ(input_sanitize(&m, 1280, 720), INPUT_DROP);
	m.u.key.scancode = 9999;
	m.u.key.keysym = 'x';
	m.u.key.flags = 0xff;
	CHECK_INT_EQ(input_sanitize(&m, 1280, 720), INPUT_ACCEPT);
	CHECK_INT_EQ(m.u.key.scancode, 0);
	CHECK_INT_EQ(m.u.key.flags, MSG_KEY_DOWN);

	m.type = MSG_PEN;
	m.u.pen.x = 2000;
	m.u.pen.flags = 0xff;
	CHECK_INT_EQ(input_sanitize(&m, 1280, 720), INPUT_ACCEPT);
	CHECK_INT_EQ(m.u.pen.x, 1279);
	CHECK_INT_EQ(m.u.pen.flags, 0x1f);

	m.type = MSG_TOUCH;
	m.u.touch.y = 800;
	CHECK_INT_EQ(input_sanitize(&m, 1280, 720), INPUT_ACCEPT);
	CHECK_INT_EQ(m.u.touch.y, 719);

	m.type = MSG_VIDEO;
	CHECK_INT_EQ(input_sanitize(&m, 1280, 720), INPUT_DROP);
}

static void test_release_all(void)
{
	struct input_state s;
	struct msg out[INPUT_RELEASE_MAX];
	struct msg m;
	int n;

	input_state_init(&s);
	memset(&m, 0, sizeof(m));
	m.type = MSG_KEY;
	m.u.key.flags = MSG_KEY_DOWN;
	m.u.key.scancode = KEY_LEFTCTRL;
	m.u.key.keysym = 0xffe3; /* Control_L: its release goes with it */
	input_state_track(&s, &m);
	CHECK(input_state_key_held(&s, KEY_LEFTCTRL));
	m.u.key.scancode = 0x2f0; /* above 511: still an evdev code (KEY_MAX is 0x2ff) */
	m.u.key.keysym = 0;
	input_state_track(&s, &m);
	m.u.key.scancode = KEY_C;
	input_state_track(&s, &m);
	m.u.key.flags = 0; /* C released again */
	input_state_track(&s, &m);
	m.u.key.flags = MSG_KEY_DOWN;
	m.u.key.scancode = 0;
	m.u.key.keysym = 0x20ac; /* a keysym-only key (EuroSign) */
	input_state_track(&s, &m);
	memset(&m, 0, sizeof(m));
	m.type = MSG_POINTER;
	m.u.pointer.x = 10;
	m.u.pointer.y = 20;
	m.u.pointer.buttons = 4;
	input_state_track(&s, &m);

	CHECK(!input_state_key_held(&s, KEY_C));
	n = input_state_release_all(&s, out, INPUT_RELEASE_MAX);
	CHECK_INT_EQ(n, 4);
	CHECK_INT_EQ(out[0].type, MSG_KEY);
	CHECK_INT_EQ(out[0].u.key.scancode, KEY_LEFTCTRL);
	CHECK_INT_EQ(out[0].u.key.keysym, 0xffe3);
	CHECK_INT_EQ(out[0].u.key.flags, 0);
	CHECK_INT_EQ(out[1].u.key.scancode, 0x2f0);
	CHECK_INT_EQ(out[2].u.key.keysym, 0x20ac);
	CHECK_INT_EQ(out[2].u.key.flags, 0);
	CHECK_INT_EQ(out[3].type, MSG_POINTER);
	CHECK_INT_EQ(out[3].u.pointer.buttons, 0);
	CHECK_INT_EQ(out[3].u.pointer.x, 10);
	CHECK_INT_EQ(out[3].u.pointer.y, 20);
	CHECK(!input_state_key_held(&s, KEY_LEFTCTRL));
	CHECK(!input_state_key_held(&s, 9999));
	/* and then nothing is held */
	CHECK_INT_EQ(input_state_release_all(&s, out, INPUT_RELEASE_MAX), 0);
}

int main(void)
{
	test_keymaps();
	test_sanitize();
	test_release_all();
	return check_done("test_input");
}
