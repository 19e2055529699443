/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_UI_INPUTMAP_H
#define HIGHRISE_CLIENT_UI_INPUTMAP_H

/*
 * The arithmetic between GTK's events and the wire, kept free of widgets so
 * that it can be tested alone: the fit transform (the desktop letterboxed in
 * the window), pointer buttons, scroll steps, keycodes and the kiosk's admin
 * key combination. Pure functions and plain structs, any thread.
 */

#include <stdbool.h>
#include <stdint.h>

/* Where the desktop picture sits in an area, in the area's units (logical or device pixels). */
struct fit {
	double x, y, w, h; /* the picture's rectangle */
	double scale;	   /* area units per desktop pixel */
};

/*
 * The largest rectangle with the desktop's aspect ratio that fits the area,
 * centred (letterboxed or pillarboxed). A zero-sized area or desktop gives
 * an empty rectangle with scale 0.
 */
struct fit fit_compute(double area_w, double area_h, int desk_w, int desk_h);

/*
 * The desktop pixel under area point (ax, ay), clamped to the desktop.
 * Returns false when the point is outside the picture (the value is still
 * the nearest desktop pixel) or the fit is empty.
 */
bool fit_to_desktop(const struct fit *f, int desk_w, int desk_h, double ax, double ay, uint16_t *dx,
		    uint16_t *dy);

/*
 * The POINTER button bit for a GDK button number: 1, 2, 3 are left, middle,
 * right (bits 0-2); 8 and 9 (X11 back, forward) are protocol buttons 4 and 5
 * (bits 3, 4); 10-12 are buttons 6-8. 0 for the wheel buttons 4-7 (those are
 * SCROLL) and anything else.
 */
uint8_t inputmap_button_bit(unsigned gdk_button);

/*
 * Scroll steps in 1/120 of a wheel click (docs/protocol.md §5.14). Smooth
 * deltas (GDK_SCROLL_SMOOTH: 1.0 = one click) accumulate their fractions so
 * slow touchpad motion is not lost; each call returns what to send now.
 */
struct scroll_accum {
	double x, y; /* units of 1/120 not sent yet */
};
void scroll_accum_add(struct scroll_accum *a, double dx, double dy, int16_t *out_dx,
		      int16_t *out_dy);

/* Linux evdev code of an X11 hardware keycode (evdev keycodes are X11's minus 8); 0 unknown. */
uint16_t inputmap_evdev_from_x11(unsigned hardware_keycode);

/* Modifier bits of a key combination (independent of GDK's mask values). */
enum combo_mod {
	COMBO_CTRL = 1u << 0,
	COMBO_ALT = 1u << 1,
	COMBO_SHIFT = 1u << 2,
	COMBO_SUPER = 1u << 3,
};

/*
 * A combination as written in configuration: "ctrl+alt+shift+q",
 * "Ctrl+Alt+End". Modifier names: ctrl (control), alt, shift, super (win,
 * meta); the last part is a key named as an X11 keysym ("q", "End", "F12"),
 * looked up with name_to_keysym (returns 0 for unknown). 0, or -EINVAL.
 * The keysym is lower-cased by the caller's rule before matching.
 */
int combo_parse(const char *text, unsigned (*name_to_keysym)(const char *name), unsigned *mods,
		unsigned *keysym);

#endif
