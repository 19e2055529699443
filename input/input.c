/* SPDX-License-Identifier: MIT */
#include "input.h"

#include <string.h>

/*
 * Evdev codes 1..88 were chosen to equal the XT set 1 scancodes, so those
 * map to themselves. The rest are listed; extended keys carry the 0xe0
 * prefix. Source: the USB HID / PC AT tables as used by Linux's atkbd
 * driver (drivers/input/keyboard/atkbd.c) and QEMU's keycodemapdb.
 */
static const struct {
	uint16_t evdev, xt;
} xt_extra[] = {
	{85, 0x76},    /* KEY_ZENKAKUHANKAKU */
	{89, 0x73},    /* KEY_RO */
	{90, 0x78},    /* KEY_KATAKANA */
	{91, 0x77},    /* KEY_HIRAGANA */
	{92, 0x79},    /* KEY_HENKAN */
	{93, 0x70},    /* KEY_KATAKANAHIRAGANA */
	{94, 0x7b},    /* KEY_MUHENKAN */
	{95, 0x5c},    /* KEY_KPJPCOMMA */
	{96, 0xe01c},  /* KEY_KPENTER */
	{97, 0xe01d},  /* KEY_RIGHTCTRL */
	{98, 0xe035},  /* KEY_KPSLASH */
	{99, 0x54},    /* KEY_SYSRQ */
	{100, 0xe038}, /* KEY_RIGHTALT */
	{102, 0xe047}, /* KEY_HOME */
	{103, 0xe048}, /* KEY_UP */
	{104, 0xe049}, /* KEY_PAGEUP */
	{105, 0xe04b}, /* KEY_LEFT */
	{106, 0xe04d}, /* KEY_RIGHT */
	{107, 0xe04f}, /* KEY_END */
	{108, 0xe050}, /* KEY_DOWN */
	{109, 0xe051}, /* KEY_PAGEDOWN */
	{110, 0xe052}, /* KEY_INSERT */
	{111, 0xe053}, /* KEY_DELETE */
	{113, 0xe020}, /* KEY_MUTE */
	{114, 0xe02e}, /* KEY_VOLUMEDOWN */
	{115, 0xe030}, /* KEY_VOLUMEUP */
	{116, 0xe05e}, /* KEY_POWER */
	{117, 0x59},   /* KEY_KPEQUAL */
	{119, 0xe046}, /* KEY_PAUSE (the make code without its Ctrl+NumLock dance) */
	{121, 0x7e},   /* KEY_KPCOMMA */
	{124, 0x7d},   /* KEY_YEN */
	{125, 0xe05b}, /* KEY_LEFTMETA */
	{126, 0xe05c}, /* KEY_RIGHTMETA */
	{127, 0xe05d}, /* KEY_COMPOSE */
	{142, 0xe05f}, /* KEY_SLEEP */
	{143, 0xe063}, /* KEY_WAKEUP */
	{163, 0xe019}, /* KEY_NEXTSONG */
	{164, 0xe022}, /* KEY_PLAYPAUSE */
	{165, 0xe010}, /* KEY_PREVIOUSSONG */
	{166, 0xe024}, /* KEY_STOPCD */
	{183, 0x5d},   /* KEY_F13 */
	{184, 0x5e},   /* KEY_F14 */
	{185, 0x5f},   /* KEY_F15 */
};

uint16_t input_xt_from_evdev(uint16_t evdev)
{
	if (evdev >= 1 && evdev <= 83)
		return evdev;
	if (evdev >= 86 && evdev <= 88)
		return evdev; /* KEY_102ND, KEY_F11, KEY_F12 */
	for (size_t i = 0; i < sizeof(xt_extra) / sizeof(xt_extra[0]); i++)
		if (xt_extra[i].evdev == evdev)
			return xt_extra[i].xt;
	return 0;
}

uint32_t input_qnum_from_evdev(uint16_t evdev)
{
	uint16_t xt = input_xt_from_evdev(evdev);

	if ((xt & 0xff00) == 0xe000)
		return 0x80u | (xt & 0x7f);
	return xt;
}

static uint16_t clamp_coord(uint16_t v, uint16_t size)
{
	return size == 0 ? 0 : (v >= size ? (uint16_t)(size - 1) : v);
}

static int16_t clamp_scroll(int16_t v)
{
	if (v > INPUT_SCROLL_MAX)
		return INPUT_SCROLL_MAX;
	if (v < -INPUT_SCROLL_MAX)
		return -INPUT_SCROLL_MAX;
	return v;
}

enum input_verdict input_sanitize(struct msg *m, uint16_t width, uint16_t height)
{
	switch (m->type) {
	case MSG_KEY:
		if (m->u.key.scancode == 0 && m->u.key.keysym == 0)
			return INPUT_DROP;
		if (m->u.key.scancode > 511)
			m->u.key.scancode = 0; /* beyond KEY_MAX: use the keysym alone */
		m->u.key.flags &= MSG_KEY_DOWN;
		return m->u.key.scancode || m->u.key.keysym ? INPUT_ACCEPT : INPUT_DROP;
	case MSG_POINTER:
		m->u.pointer.x = clamp_coord(m->u.pointer.x, width);
		m->u.pointer.y = clamp_coord(m->u.pointer.y, height);
		return INPUT_ACCEPT;
	case MSG_SCROLL:
		m->u.scroll.dx = clamp_scroll(m->u.scroll.dx);
		m->u.scroll.dy = clamp_scroll(m->u.scroll.dy);
		return m->u.scroll.dx || m->u.scroll.dy ? INPUT_ACCEPT : INPUT_DROP;
	case MSG_TOUCH:
		m->u.touch.x = clamp_coord(m->u.touch.x, width);
		m->u.touch.y = clamp_coord(m->u.touch.y, height);
		return INPUT_ACCEPT;
	case MSG_PEN:
		m->u.pen.x = clamp_coord(m->u.pen.x, width);
		m->u.pen.y = clamp_coord(m->u.pen.y, height);
		m->u.pen.flags &= MSG_PEN_IN_RANGE | MSG_PEN_CONTACT | MSG_PEN_ERASER |
				  MSG_PEN_BUTTON1 | MSG_PEN_BUTTON2;
		return INPUT_ACCEPT;
	default:
		return INPUT_DROP;
	}
}

void input_state_init(struct input_state *s)
{
	memset(s, 0, sizeof(*s));
}

void input_state_track(struct input_state *s, const struct msg *m)
{
	if (m->type == MSG_POINTER) {
		s->buttons = m->u.pointer.buttons;
		s->x = m->u.pointer.x;
		s->y = m->u.pointer.y;
		return;
	}
	if (m->type != MSG_KEY)
		return;
	bool down = m->u.key.flags & MSG_KEY_DOWN;
	uint16_t code = m->u.key.scancode;
	if (code && code < INPUT_KEYS) {
		if (down) {
			s->keys[code / 8] |= (uint8_t)(1u << (code % 8));
			s->key_syms[code] = m->u.key.keysym;
		} else {
			s->keys[code / 8] &= (uint8_t) ~(1u << (code % 8));
		}
		return;
	}
	/* keysym-only keys: a short list is enough for the few a client holds at once */
	for (int i = 0; i < s->nkeysyms; i++) {
		if (s->keysyms[i] == m->u.key.keysym) {
			if (!down)
				s->keysyms[i] = s->keysyms[--s->nkeysyms];
			return;
		}
	}
	if (down && s->nkeysyms < sizeof(s->keysyms) / sizeof(s->keysyms[0]))
		s->keysyms[s->nkeysyms++] = m->u.key.keysym;
}

bool input_state_key_held(const struct input_state *s, uint16_t code)
{
	return code < INPUT_KEYS && (s->keys[code / 8] & (1u << (code % 8)));
}

int input_state_release_all(struct input_state *s, struct msg *out, int max)
{
	int n = 0;

	for (int code = 1; code < INPUT_KEYS && n < max; code++) {
		if (!input_state_key_held(s, (uint16_t)code))
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		out[n].type = MSG_KEY;
		out[n].u.key.scancode = (uint16_t)code;
		out[n].u.key.keysym = s->key_syms[code];
		n++;
	}
	for (int i = 0; i < s->nkeysyms && n < max; i++) {
		memset(&out[n], 0, sizeof(out[n]));
		out[n].type = MSG_KEY;
		out[n].u.key.keysym = s->keysyms[i];
		n++;
	}
	if (s->buttons && n < max) {
		memset(&out[n], 0, sizeof(out[n]));
		out[n].type = MSG_POINTER;
		out[n].u.pointer.x = s->x;
		out[n].u.pointer.y = s->y;
		n++;
	}
	uint16_t x = s->x, y = s->y;
	input_state_init(s);
	s->x = x;
	s->y = y;
	return n;
}
