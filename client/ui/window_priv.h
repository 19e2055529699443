/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_UI_WINDOW_PRIV_H
#define HIGHRISE_CLIENT_UI_WINDOW_PRIV_H

/*
 * The inside of struct client_window (window.h), shared by the modules the
 * window is made of; nothing outside client/ui/ includes this:
 *
 *   window.c     the core: widgets, net events, view callbacks, resizing the
 *                desktop to the window, the cursor, full screen and kiosk,
 *                the lifecycle
 *   status.c     the status page (connecting, retry countdown, error pages)
 *                and the notices at the bottom
 *   keys.c       keyboard grab, keys, the key combinations
 *   pointer.c    pointer, scroll, touch (gestures or raw TOUCH), pen
 *   overlay.c    the statistics overlay (and --trace) and the sound controls
 *   clipboard.c  the shared clipboard
 *   testplay.c   --test-events: synthesized touch and pen input (tests only)
 *
 * Each concern keeps its state in a sub-struct of its own; the core's fields
 * (state, desktop size, the view, the net thread) are read by all of them.
 * Everything here runs on the UI thread only, and every function takes the
 * window borrowed.
 */

#include "window.h"

#include "input.h"
#include "inputmap.h"
#include "net.h"
#include "stats.h"
#include "view.h"

#include <gtk/gtk.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define RAW_TOUCH_MAX 10   /* touch points forwarded at once with --touch-raw */
#define NOTICE_MS     6000 /* how long a notice (or the sound bar) stays up */

/* status.c: the page over the picture while there is no desktop, and notices */
struct status_page {
	GtkWidget *box, *title, *detail, *notice;
	guint countdown_id, notice_id;
	/* while retrying */
	gint64 retry_at; /* monotonic µs */
	int attempt;
	bool reconnecting, unavailable;
	char close_text[MSG_REASON_MAX + 512];
};

/* keys.c: the keyboard */
struct key_state {
	bool grabbed;
	unsigned admin_mods, admin_keysym;
	unsigned stats_mods, stats_keysym, scale_mods, scale_keysym;
	unsigned mute_mods, mute_keysym, vup_mods, vup_keysym, vdown_mods, vdown_keysym;
	unsigned mic_mods, mic_keysym;
	struct input_state held; /* the keys sent down and not yet up */
};

struct raw_touch {
	GdkEventSequence *seq; /* NULL: free */
	uint32_t id;
};

/* pointer.c: pointer, touch (gestures, or raw TOUCH with --touch-raw), pen, the local zoom */
struct pointer_state {
	uint8_t buttons;
	uint16_t last_x, last_y;
	bool have_pos;
	struct scroll_accum scroll;
	struct gesture gesture;
	guint gesture_timer;
	struct raw_touch raw[RAW_TOUCH_MAX];
	uint32_t raw_next;
	bool pen_contact, pen_b1, pen_b2;
	/* stand-ins for the axes a synthesized event cannot carry (testplay.c); NaN: none */
	double test_pressure, test_tilt_x, test_tilt_y;
};

/* overlay.c: the statistics overlay, what was shown since its last update */
struct overlay {
	bool on;
	guint timer;
	FILE *trace; /* --trace; NULL: none */
	uint64_t period_frames, period_bytes0;
	gint64 period_start; /* monotonic µs */
	struct stats_series period_latency, period_decode;
	struct stats_stages period_stages; /* frames with the agent's stage times */
	bool same_host;			   /* the agent runs here: its capture clock is ours */
};

/* overlay.c: the sound controls (shown with the statistics, or a while after a change) and
 * the microphone's indicator (shown while it is live) */
struct sound_bar {
	GtkWidget *bar, *mute_btn, *volume_scale, *mic_btn, *mic_label;
	int volume;
	bool muted, mic_on;	 /* the user's choices */
	bool audio, mic_allowed; /* what this session's WELCOME said */
	bool mic_live;		 /* the net thread says it is sending */
	bool syncing;		 /* setting the widgets from the state: not a user action */
	guint bar_id;
};

/* clipboard.c (off when clipboard_max is 0) */
struct clip_box;
struct clip {
	GtkClipboard *board;
	struct clip_box *box; /* outlives the window while a request is in flight */
	char *last;	      /* the text last taken from or sent to the desktop: never echoed */
};

struct test_script;

struct client_window {
	bool bgra_from_start; /* the view chose cairo before the net thread started */
	struct client_cfg cfg;
	char host[256];
	GtkWidget *window, *overlay, *events;
	struct view *view;
	struct net *net;
	gint wake_pending; /* atomic: an idle dispatch is queued */

	enum session_state state;
	bool control;
	/* "resize" scaling: the user's choice, what this session's WELCOME offered, the settle
	 * logic (inputmap.h) and its timer; the fallback to fit is told once */
	bool want_resize, resizable, resize_told;
	struct resize_settle settle;
	guint settle_id;
	int desk_w, desk_h;
	bool fullscreen;
	bool quitting;
	bool shown;	      /* a picture of this connection is on screen */
	int shown_w, shown_h; /* its size (logged when it changes) */

	struct status_page st;
	struct key_state keys;
	struct pointer_state ptr;
	struct overlay ov;
	struct sound_bar snd;
	struct clip clip;
	struct test_script *test; /* --test-events: NULL until the first picture */

	/* cursor from the agent */
	GdkCursor *cursor, *blank;
	bool cursor_visible;
};

/* ---- window.c ---- */

/* Leaves the GTK main loop, once. */
void window_quit(struct client_window *w);
void window_toggle_fullscreen(struct client_window *w);
/* fit -> 1:1 -> resize (when this session offers it) -> fit */
void window_scale_cycle(struct client_window *w);
/* Puts child over the picture, styled by css_class (window.c's CSS) and aligned; with
 * pass_through, clicks go through it to the desktop. w->overlay keeps the reference. */
void window_add_overlay(struct client_window *w, GtkWidget *child, const char *css_class,
			GtkAlign halign, GtkAlign valign, bool pass_through);

/* ---- status.c ---- */

/* Adds the status page and the notice line over the picture (w->overlay). */
void status_build(struct client_window *w);
/* The page with a title and an optional detail (NULL or ""); dims the picture; logged. */
void status_show(struct client_window *w, const char *title, const char *detail);
void status_hide(struct client_window *w);
/* The session reached the desktop: no retry pending, the page hidden. */
void status_connected(struct client_window *w);
/* The session closed: the retry countdown when ev->retry_ms >= 0, else the error page that
 * says what to do. */
void status_closed(struct client_window *w, const struct net_event *ev);
/* A line at the bottom for NOTICE_MS (not a state: the desktop goes on); logged. */
void status_notice(struct client_window *w, const char *text);
/* Removes the page's timers (before the window goes). */
void status_deinit(struct client_window *w);

/* ---- keys.c ---- */

/* Reads the key combinations from cfg; -1 (logged) when one does not parse. */
int keys_init(struct client_window *w, const struct client_cfg *cfg);
/* Connects the key and focus handlers to w->window. */
void keys_connect(struct client_window *w);
/* Grabs the keyboard while the window is active (so Alt+Tab reaches the desktop). */
void keys_grab(struct client_window *w);
/* Releases everything still held (keys and buttons), so nothing sticks on the desktop. */
void keys_release_all(struct client_window *w);

/* ---- pointer.c ---- */

/* Sets the pen's test axes to NaN (none). */
void pointer_init(struct client_window *w);
/* Asks w->events for pointer, touch and proximity events and connects the handlers. */
void pointer_connect(struct client_window *w);
/* A button release for whatever is held, at the last position. */
void pointer_release_buttons(struct client_window *w);
/* Removes the gesture timer (before the window goes). */
void pointer_deinit(struct client_window *w);

/* ---- overlay.c ---- */

/* Volume, microphone and --trace from cfg; -1 (logged) when the trace cannot be written. */
int overlay_init(struct client_window *w, const struct client_cfg *cfg);
/* Adds the sound controls and the microphone indicator over the picture (w->overlay). */
void overlay_build(struct client_window *w);
/* The sound controls say the state; shown for NOTICE_MS when changed. */
void overlay_bar_update(struct client_window *w, bool changed);
/* Starts the overlay's updates (once the net thread runs); shown when cfg.stats. */
void overlay_start(struct client_window *w);
/* A frame is on screen (view_cbs.shown): counted for the overlay, a line in the trace. */
void overlay_frame_shown(struct client_window *w, const struct ui_frame *f, uint64_t shown_us);
void overlay_toggle(struct client_window *w, bool on);
/* The overlay's text again now, when shown (after a scaling change). */
void overlay_refresh(struct client_window *w);
/* Volume 0..100 (clamped) and mute, to the net thread and the controls. */
void overlay_set_sound(struct client_window *w, int volume, bool muted);
/* The microphone on or off (nothing with --no-mic); a notice when the desktop refuses it. */
void overlay_set_mic(struct client_window *w, bool on);
/* Removes the sound bar's timer (before the window's sources are swept). */
void overlay_stop(struct client_window *w);
/* Closes the trace and frees the series: last, once the view is gone. */
void overlay_deinit(struct client_window *w);

/* ---- clipboard.c ---- */

/* Shares the CLIPBOARD selection when cfg.clipboard_max is not 0. */
void clipboard_init(struct client_window *w);
/* CLIPBOARD from the desktop becomes the local clipboard (and is not sent back). */
void clipboard_from_desktop(struct client_window *w, const struct net_event *ev);
/* Disconnects; requests still in flight find no window. */
void clipboard_deinit(struct client_window *w);

/* ---- testplay.c ---- */

/* Plays cfg.test_events (once; nothing without it) into w->events. */
void testplay_start(struct client_window *w);
/* Stops and frees a script; NULL does nothing. */
void testplay_free(struct test_script *t);

#endif
