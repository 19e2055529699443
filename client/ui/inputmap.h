/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_UI_INPUTMAP_H
#define HIGHRISE_CLIENT_UI_INPUTMAP_H

/*
 * The arithmetic between GTK's events and the wire, kept free of widgets so
 * that it can be tested alone: the fit transform (the desktop letterboxed in
 * the window), pointer buttons, scroll
 * steps, keycodes, the kiosk's admin key combination, the touch gesture
 * recognizer and the pen mapping. Pure functions and plain structs, any
 * thread.
 */

#include "msg.h"

#include <stdbool.h>
#include <stddef.h>
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

/* ---- touch gestures ---------------------------------------------------------------- */

#define GESTURE_SLOP	      12.0 /* area px a finger may wander and still tap / long-press */
#define GESTURE_LONG_PRESS_MS 500  /* held this long without moving: right click */
#define GESTURE_DOUBLE_TAP_MS 300  /* a second tap this soon after the first (zoomed: reset) */
#define GESTURE_SCROLL_PX     40.0 /* two-finger travel per wheel click */
#define GESTURE_PINCH_RATIO   0.15 /* finger distance change that makes two fingers a pinch */

enum gesture_phase {
	GESTURE_BEGIN,
	GESTURE_UPDATE,
	GESTURE_END,
	GESTURE_CANCEL,
};

/*
 * What the recognizer asks for, in area coordinates:
 *   MOVE x y           the pointer moves there (buttons unchanged)
 *   PRESS/RELEASE x y  button goes down / up there (1 left, 3 right)
 *   SCROLL dx dy       smooth scroll in wheel clicks (1.0 = one click), down/right positive
 *   PINCH              scale (distance / distance at start), centroid at start cx0,cy0 and now
 *                      cx,cy: the local zoom, never sent (the window picks the view's scale)
 *   ZOOM_RESET         back to the plain fit (a double tap while zoomed)
 */
enum gesture_kind {
	GESTURE_MOVE,
	GESTURE_PRESS,
	GESTURE_RELEASE,
	GESTURE_SCROLL,
	GESTURE_PINCH,
	GESTURE_ZOOM_RESET,
};

struct gesture_action {
	enum gesture_kind kind;
	double x, y;
	unsigned button;
	double dx, dy;
	double scale, cx0, cy0, cx, cy;
};

#define GESTURE_ACTIONS_MAX 4 /* the most one call produces */

enum gesture_mode {
	GESTURE_IDLE,	   /* no finger down */
	GESTURE_PENDING,   /* one finger, not moved: a tap or a long press */
	GESTURE_DRAG,	   /* one finger moved: button 1 held, the pointer follows */
	GESTURE_TWO,	   /* two fingers, undecided */
	GESTURE_SCROLLING, /* two fingers moving together */
	GESTURE_PINCHING,  /* two fingers apart / together */
	GESTURE_FINISHED,  /* done (long press sent, a cancel, a third finger): wait for all up */
};

struct gesture_point {
	bool down;
	uint32_t id;
	double x0, y0, x, y;
};

/*
 * The recognizer. One finger: tap (down and up within GESTURE_LONG_PRESS_MS,
 * moved at most GESTURE_SLOP) = button 1 click at the touch-down point;
 * held GESTURE_LONG_PRESS_MS without moving = button 3 click (fired by
 * gesture_tick, the finger's lift does nothing more); moved beyond the slop
 * first = button 1 drag (press at the start, the pointer follows, release
 * at the lift). Two fingers: moving together = smooth SCROLL (content
 * follows the fingers, like a touch screen: fingers up = scroll down),
 * spreading or pinching by GESTURE_PINCH_RATIO = PINCH (local zoom). A
 * third finger or a CANCEL ends the gesture (a held button is released).
 * Zero-initialised = idle. Times are any monotonic milliseconds.
 */
struct gesture {
	enum gesture_mode mode;
	struct gesture_point pt[2];
	uint64_t down_ms;
	double cx0, cy0, d0; /* two fingers at the start */
	double lcx, lcy;     /* two-finger centroid last time */
	bool zoomed;	     /* set by the caller: double tap resets instead of clicking */
	uint64_t last_tap_ms;
	double last_tap_x, last_tap_y;
	bool have_tap;
};

/* Feeds one touch event; fills out[] (GESTURE_ACTIONS_MAX) and returns how many actions. */
int gesture_feed(struct gesture *g, uint64_t t_ms, uint32_t id, enum gesture_phase phase, double x,
		 double y, struct gesture_action *out);
/* Call at the deadline (and any time): fires a due long press. Returns how many actions. */
int gesture_tick(struct gesture *g, uint64_t t_ms, struct gesture_action *out);
/* When gesture_tick has something to do, in t_ms units; 0 when nothing is pending. */
uint64_t gesture_deadline(const struct gesture *g);

/* ---- pen ------------------------------------------------------------------------------ */

/* A pen (or eraser) sample as GDK gives it, area coordinates. */
struct pen_sample {
	double x, y;
	double pressure;       /* 0..1 (GDK_AXIS_PRESSURE); NaN when the device has none */
	double tilt_x, tilt_y; /* -1..1 (GDK_AXIS_XTILT/YTILT, normalised by GDK); NaN: none */
	bool in_range;	       /* over the tablet (false: proximity out) */
	bool contact;	       /* the tip (or eraser) touches (button 1 held) */
	bool eraser;	       /* the device is the eraser end (GDK_SOURCE_ERASER) */
	bool button1, button2; /* barrel buttons (GDK buttons 2 and 3) */
};

/*
 * The PEN message for a sample: position through the fit (clamped to the
 * desktop), pressure scaled to 0..65535 (contact without a pressure axis
 * is full pressure), tilt ±1 as ±90 degrees (clamped), flags. Returns
 * false when the fit is empty (nothing to send).
 */
bool pen_map(const struct fit *f, int desk_w, int desk_h, const struct pen_sample *s,
	     struct msg_pen *out);

/* ---- clipboard ---------------------------------------------------------------------- */

#define CLIPBOARD_DEFAULT_MAX (1u << 20) /* 1 MiB; the agent takes at most 1 048 570 */
#define CLIPBOARD_CLIENT_MAX  1048570u	 /* docs/protocol.md §3: the client frame limit */

/*
 * Whether clipboard text may be sent: at most max bytes (longer is not
 * sent at all, never cut: half a clipboard is worse than none) and free of
 * NUL bytes (the wire's text). 0 yes, -EMSGSIZE too long, -EINVAL NUL inside.
 */
int clipboard_check(const char *text, size_t len, size_t max);

/* ---- 1:1 with scrolling ------------------------------------------------------------- */

/*
 * The desktop at one desktop pixel per device pixel (scale 1/scale_factor
 * area units, HiDPI aware) in an area of area_w x area_h logical pixels.
 * Along an axis where the picture is smaller than the area it is centred
 * (*off = 0); where it is larger it starts at -*off, with *off (the scroll
 * offset in area units, in and out) clamped to 0..picture - area. The
 * result goes through fit_to_desktop like the fit transform's.
 */
struct fit fit_one_to_one(double area_w, double area_h, int desk_w, int desk_h, int scale_factor,
			  double *off_x, double *off_y);

/* ---- resize the desktop to the window ------------------------------------------------ */

#define RESIZE_SETTLE_MS 200 /* the window keeps its size this long before the client asks */

/*
 * When to send RESIZE_REQUEST in "resize" scaling (docs/protocol.md §5.19):
 * the newest size of the picture area, once it has kept that size for
 * RESIZE_SETTLE_MS (a window drag asks once, at the end), and once per
 * size (a console that rounds or refuses is not asked again and again).
 * Pure: the caller keeps the clock and a timer.
 */
struct resize_settle {
	int want_w, want_h;   /* the area now, device pixels; 0: unknown */
	int64_t changed_ms;   /* when it took that size */
	int asked_w, asked_h; /* the last size asked for; 0: none */
};

/* A new session (or the mode was just chosen): nothing asked yet, the area kept. */
void resize_settle_reset(struct resize_settle *r);
/* The area is w x h device pixels at now_ms (the same size again changes nothing). */
void resize_settle_area(struct resize_settle *r, int w, int h, int64_t now_ms);
/*
 * At now_ms, with the desktop at desk_w x desk_h: true with the size to ask
 * for in *w, *h (clamped to 1..MSG_RESIZE_REQUEST_MAX), which then counts as
 * asked, when the area has kept its size for RESIZE_SETTLE_MS and neither
 * the desktop has it nor was it asked for already. Otherwise false, and
 * *wait_ms is how long until it may be due (-1: nothing to ask).
 */
bool resize_settle_due(struct resize_settle *r, int64_t now_ms, int desk_w, int desk_h, int *w,
		       int *h, int *wait_ms);
#endif
