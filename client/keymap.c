/* SPDX-License-Identifier: MIT */
#include "keymap.h"

#include <errno.h>
#include <linux/input-event-codes.h>
#include <string.h>
#include <strings.h>

/* X11 keysyms (X11/keysymdef.h) of the keys that are not characters */
#define XK_BACKSPACE	    0xff08
#define XK_TAB		    0xff09
#define XK_RETURN	    0xff0d
#define XK_PAUSE	    0xff13
#define XK_ESCAPE	    0xff1b
#define XK_HOME		    0xff50
#define XK_LEFT		    0xff51
#define XK_UP		    0xff52
#define XK_RIGHT	    0xff53
#define XK_DOWN		    0xff54
#define XK_PRIOR	    0xff55
#define XK_NEXT		    0xff56
#define XK_END		    0xff57
#define XK_PRINT	    0xff61
#define XK_INSERT	    0xff63
#define XK_MENU		    0xff67
#define XK_F1		    0xffbe
#define XK_SHIFT_L	    0xffe1
#define XK_CONTROL_L	    0xffe3
#define XK_CAPS_LOCK	    0xffe5
#define XK_ALT_L	    0xffe9
#define XK_SUPER_L	    0xffeb
#define XK_ISO_LEVEL3_SHIFT 0xfe03
#define XK_DELETE	    0xffff
#define XK_UNICODE_OFFSET   0x01000000 /* keysym of a code point above Latin-1 */
#define KEYMAP_UNICODE_MAX  0x10ffff

/* Printable ASCII 0x20..0x7e on a US layout: evdev code and Shift. */
static const struct {
	uint16_t code;
	bool shift;
} ascii[95] = {
	[' ' - 32] = {KEY_SPACE, false},      ['!' - 32] = {KEY_1, true},
	['"' - 32] = {KEY_APOSTROPHE, true},  ['#' - 32] = {KEY_3, true},
	['$' - 32] = {KEY_4, true},	      ['%' - 32] = {KEY_5, true},
	['&' - 32] = {KEY_7, true},	      ['\'' - 32] = {KEY_APOSTROPHE, false},
	['(' - 32] = {KEY_9, true},	      [')' - 32] = {KEY_0, true},
	['*' - 32] = {KEY_8, true},	      ['+' - 32] = {KEY_EQUAL, true},
	[',' - 32] = {KEY_COMMA, false},      ['-' - 32] = {KEY_MINUS, false},
	['.' - 32] = {KEY_DOT, false},	      ['/' - 32] = {KEY_SLASH, false},
	['0' - 32] = {KEY_0, false},	      ['1' - 32] = {KEY_1, false},
	['2' - 32] = {KEY_2, false},	      ['3' - 32] = {KEY_3, false},
	['4' - 32] = {KEY_4, false},	      ['5' - 32] = {KEY_5, false},
	['6' - 32] = {KEY_6, false},	      ['7' - 32] = {KEY_7, false},
	['8' - 32] = {KEY_8, false},	      ['9' - 32] = {KEY_9, false},
	[':' - 32] = {KEY_SEMICOLON, true},   [';' - 32] = {KEY_SEMICOLON, false},
	['<' - 32] = {KEY_COMMA, true},	      ['=' - 32] = {KEY_EQUAL, false},
	['>' - 32] = {KEY_DOT, true},	      ['?' - 32] = {KEY_SLASH, true},
	['@' - 32] = {KEY_2, true},	      ['[' - 32] = {KEY_LEFTBRACE, false},
	['\\' - 32] = {KEY_BACKSLASH, false}, [']' - 32] = {KEY_RIGHTBRACE, false},
	['^' - 32] = {KEY_6, true},	      ['_' - 32] = {KEY_MINUS, true},
	['`' - 32] = {KEY_GRAVE, false},      ['{' - 32] = {KEY_LEFTBRACE, true},
	['|' - 32] = {KEY_BACKSLASH, true},   ['}' - 32] = {KEY_RIGHTBRACE, true},
	['~' - 32] = {KEY_GRAVE, true},
};

/* Letters a..z in order. */
static const uint16_t letters[26] = {
	KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M,
	KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z,
};

/* Keys by name, for chords. */
static const struct {
	const char *name;
	uint16_t code;
	uint32_t keysym;
} names[] = {
	{"ctrl", KEY_LEFTCTRL, XK_CONTROL_L},
	{"control", KEY_LEFTCTRL, XK_CONTROL_L},
	{"shift", KEY_LEFTSHIFT, XK_SHIFT_L},
	{"alt", KEY_LEFTALT, XK_ALT_L},
	{"altgr", KEY_RIGHTALT, XK_ISO_LEVEL3_SHIFT},
	{"super", KEY_LEFTMETA, XK_SUPER_L},
	{"win", KEY_LEFTMETA, XK_SUPER_L},
	{"meta", KEY_LEFTMETA, XK_SUPER_L},
	{"return", KEY_ENTER, XK_RETURN},
	{"enter", KEY_ENTER, XK_RETURN},
	{"escape", KEY_ESC, XK_ESCAPE},
	{"esc", KEY_ESC, XK_ESCAPE},
	{"tab", KEY_TAB, XK_TAB},
	{"backspace", KEY_BACKSPACE, XK_BACKSPACE},
	{"delete", KEY_DELETE, XK_DELETE},
	{"del", KEY_DELETE, XK_DELETE},
	{"insert", KEY_INSERT, XK_INSERT},
	{"home", KEY_HOME, XK_HOME},
	{"end", KEY_END, XK_END},
	{"pageup", KEY_PAGEUP, XK_PRIOR},
	{"prior", KEY_PAGEUP, XK_PRIOR},
	{"pagedown", KEY_PAGEDOWN, XK_NEXT},
	{"next", KEY_PAGEDOWN, XK_NEXT},
	{"up", KEY_UP, XK_UP},
	{"down", KEY_DOWN, XK_DOWN},
	{"left", KEY_LEFT, XK_LEFT},
	{"right", KEY_RIGHT, XK_RIGHT},
	{"menu", KEY_COMPOSE, XK_MENU},
	{"print", KEY_SYSRQ, XK_PRINT},
	{"pause", KEY_PAUSE, XK_PAUSE},
	{"capslock", KEY_CAPSLOCK, XK_CAPS_LOCK},
	{"space", KEY_SPACE, ' '},
	{"comma", KEY_COMMA, ','},
	{"plus", KEY_EQUAL, '+'}, /* Shift is added below, as for the character */
	{"minus", KEY_MINUS, '-'},
};

static const uint16_t fkeys[12] = {
	KEY_F1, KEY_F2, KEY_F3, KEY_F4,	 KEY_F5,  KEY_F6,
	KEY_F7, KEY_F8, KEY_F9, KEY_F10, KEY_F11, KEY_F12,
};

int keymap_from_char(uint32_t cp, struct keymap_key *out)
{
	memset(out, 0, sizeof(*out));
	switch (cp) {
	case '\n':
	case '\r':
		out->scancode = KEY_ENTER;
		out->keysym = XK_RETURN;
		return 0;
	case '\t':
		out->scancode = KEY_TAB;
		out->keysym = XK_TAB;
		return 0;
	case '\b':
		out->scancode = KEY_BACKSPACE;
		out->keysym = XK_BACKSPACE;
		return 0;
	case 0x1b:
		out->scancode = KEY_ESC;
		out->keysym = XK_ESCAPE;
		return 0;
	case 0x7f:
		out->scancode = KEY_DELETE;
		out->keysym = XK_DELETE;
		return 0;
	default:
		break;
	}
	if (cp >= 'a' && cp <= 'z') {
		out->scancode = letters[cp - 'a'];
		out->keysym = cp;
		return 0;
	}
	if (cp >= 'A' && cp <= 'Z') {
		out->scancode = letters[cp - 'A'];
		out->keysym = cp;
		out->shift = true;
		return 0;
	}
	if (cp >= 0x20 && cp < 0x7f) {
		out->scancode = ascii[cp - 32].code;
		out->shift = ascii[cp - 32].shift;
		out->keysym = cp;
		return 0;
	}
	if (cp < 0xa0 || cp > KEYMAP_UNICODE_MAX || (cp >= 0xd800 && cp <= 0xdfff))
		return -EINVAL; /* C0/C1 controls and what is not a character */
	/* X11: Latin-1 keysyms are the code points; others are 0x01000000 + code point */
	out->keysym = cp < 0x100 ? cp : XK_UNICODE_OFFSET + cp;
	return 1;
}

int keymap_unescape(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	if (cap == 0)
		return -ENOSPC;
	for (; *in; in++) {
		char c = *in;

		if (c == '\\') {
			in++;
			switch (*in) {
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'b':
				c = '\b';
				break;
			case 'e':
				c = 0x1b;
				break;
			case '\\':
				c = '\\';
				break;
			case 'x': {
				int v = 0, digits = 0;
				while (digits < 2) {
					char h = in[1];
					int d = h >= '0' && h <= '9'   ? h - '0'
						: h >= 'a' && h <= 'f' ? h - 'a' + 10
						: h >= 'A' && h <= 'F' ? h - 'A' + 10
								       : -1;
					if (d < 0)
						break;
					v = v * 16 + d;
					digits++;
					in++;
				}
				if (digits == 0 || v == 0)
					return -EINVAL;
				c = (char)v;
				break;
			}
			default:
				return -EINVAL; /* includes a lone trailing backslash */
			}
		}
		if (n + 1 >= cap)
			return -ENOSPC;
		out[n++] = c;
	}
	out[n] = '\0';
	return (int)n;
}

/* Decodes one UTF-8 sequence (RFC 3629: no overlongs, no surrogates). Bytes used, or 0. */
static int utf8_next(const unsigned char *s, uint32_t *cp)
{
	int len, i;
	uint32_t v;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		v = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		v = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		v = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if ((len == 2 && v < 0x80) || (len == 3 && v < 0x800) || (len == 4 && v < 0x10000) ||
	    v > KEYMAP_UNICODE_MAX || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

static int put(struct msg_key *out, size_t max, size_t *n, uint16_t code, uint32_t keysym,
	       bool down)
{
	if (*n >= max)
		return -ENOSPC;
	out[*n].scancode = code;
	out[*n].keysym = keysym;
	out[*n].flags = down ? MSG_KEY_DOWN : 0;
	(*n)++;
	return 0;
}

/* Down and up of one key, with Shift around it when asked. */
static int tap(struct msg_key *out, size_t max, size_t *n, const struct keymap_key *k)
{
	int rc = 0;

	if (k->shift)
		rc = put(out, max, n, KEY_LEFTSHIFT, XK_SHIFT_L, true);
	if (!rc)
		rc = put(out, max, n, k->scancode, k->keysym, true);
	if (!rc)
		rc = put(out, max, n, k->scancode, k->keysym, false);
	if (!rc && k->shift)
		rc = put(out, max, n, KEY_LEFTSHIFT, XK_SHIFT_L, false);
	return rc;
}

int keymap_type_text(const char *utf8, struct msg_key *out, size_t max, size_t *n)
{
	const unsigned char *p = (const unsigned char *)utf8;

	*n = 0;
	while (*p) {
		struct keymap_key k;
		uint32_t cp;
		int len = utf8_next(p, &cp), rc;

		if (len == 0)
			return -EINVAL;
		if (keymap_from_char(cp, &k) < 0)
			return -EINVAL;
		rc = tap(out, max, n, &k);
		if (rc < 0)
			return rc;
		p += len;
	}
	return 0;
}

/* One name of a chord (len bytes at s) -> key. 0 or -EINVAL. */
static int lookup(const char *s, size_t len, struct keymap_key *k)
{
	memset(k, 0, sizeof(*k));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == len && strncasecmp(names[i].name, s, len) == 0) {
			k->scancode = names[i].code;
			k->keysym = names[i].keysym;
			k->shift = k->keysym == '+';
			return 0;
		}
	}
	if ((s[0] == 'f' || s[0] == 'F') && len >= 2 && len <= 3) {
		int num = 0;
		for (size_t i = 1; i < len; i++) {
			if (s[i] < '0' || s[i] > '9')
				return -EINVAL;
			num = num * 10 + (s[i] - '0');
		}
		if (num < 1 || num > 12)
			return -EINVAL;
		k->scancode = fkeys[num - 1];
		k->keysym = XK_F1 + (uint32_t)(num - 1);
		return 0;
	}
	if (len == 1 && keymap_from_char((unsigned char)s[0], k) == 0 && k->scancode)
		return 0;
	return -EINVAL;
}

#define CHORD_MAX 8

int keymap_chord(const char *chord, struct msg_key *out, size_t max, size_t *n, const char **bad)
{
	struct keymap_key keys[CHORD_MAX];
	size_t nkeys = 0;
	const char *p = chord;
	bool shift_added = false, explicit_shift;
	int rc = 0;

	*n = 0;
	if (bad)
		*bad = chord;
	while (*p) {
		/* "+" alone, or a trailing "+" after "ctrl+", names the plus key */
		size_t len = p[0] == '+' ? 1 : strcspn(p, "+");

		if (len == 0 || nkeys == CHORD_MAX || lookup(p, len, &keys[nkeys]) < 0) {
			if (bad)
				*bad = p;
			return -EINVAL;
		}
		nkeys++;
		p += len;
		if (*p == '+') {
			p++;
			if (!*p) {
				if (bad)
					*bad = p - 1;
				return -EINVAL; /* "ctrl+" names nothing */
			}
		}
	}
	if (nkeys == 0)
		return -EINVAL;
	for (size_t i = 0; i < nkeys; i++)
		shift_added |= keys[i].scancode == KEY_LEFTSHIFT; /* held already: none extra */
	explicit_shift = shift_added;
	for (size_t i = 0; i < nkeys; i++) {
		/* a character that needs Shift ("ctrl+?") gets it, once, before the key */
		if (keys[i].shift && !shift_added) {
			rc = put(out, max, n, KEY_LEFTSHIFT, XK_SHIFT_L, true);
			if (rc < 0)
				return rc;
			shift_added = true;
		}
		rc = put(out, max, n, keys[i].scancode, keys[i].keysym, true);
		if (rc < 0)
			return rc;
	}
	for (size_t i = nkeys; i-- > 0;) {
		rc = put(out, max, n, keys[i].scancode, keys[i].keysym, false);
		if (rc < 0)
			return rc;
	}
	if (shift_added && !explicit_shift)
		rc = put(out, max, n, KEY_LEFTSHIFT, XK_SHIFT_L, false);
	if (bad && rc == 0)
		*bad = NULL;
	return rc;
}
