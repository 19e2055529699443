/* SPDX-License-Identifier: MIT */
#include "window.h"

#include "input.h"
#include "inputmap.h"
#include "log.h"
#include "net.h"
#include "stats.h"
#include "view.h"

#include <gdk/gdkkeysyms.h>
#include <gtk/gtk.h>
#ifdef GDK_WINDOWING_X11
#include <gdk/gdkx.h>
#endif
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ADMIN_COMBO "ctrl+alt+shift+q"
#define DEFAULT_STATS_COMBO "ctrl+alt+shift+s"
#define DEFAULT_SCALE_COMBO "ctrl+alt+shift+m"
#define MUTE_COMBO	    "ctrl+alt+shift+a" /* sound on/off */
#define VOLUME_UP_COMBO	    "ctrl+alt+shift+Up"
#define VOLUME_DOWN_COMBO   "ctrl+alt+shift+Down"
#define MIC_COMBO	    "ctrl+alt+shift+v" /* voice: the microphone on/off */
#define VOLUME_STEP	    10
#define STATS_PERIOD_MS	    500	 /* the overlay's update interval */
#define RAW_TOUCH_MAX	    10	 /* touch points forwarded at once with --touch-raw */
#define NOTICE_MS	    6000 /* how long a notice stays at the bottom of the window */

struct raw_touch {
	GdkEventSequence *seq; /* NULL: free */
	uint32_t id;
};

/* Outlives the window while a clipboard request is in flight. */
struct clip_box {
	struct client_window *w; /* NULL once the window is gone */
};

struct client_window;
struct net_event;
struct test_script;
static void test_start(struct client_window *w);
static void test_free(struct test_script *t);
static bool is_pen(const GdkEvent *e);
static void pen_event(struct client_window *w, GdkEvent *e, double x, double y, bool in_range);
static void clipboard_from_desktop(struct client_window *w, const struct net_event *ev);

struct client_window {
	bool bgra_from_start; /* the view chose cairo before the net thread started */
	struct client_cfg cfg;
	char host[256];
	GtkWidget *window, *overlay, *events, *status, *title, *detail, *notice;
	struct view *view;
	struct net *net;
	gint wake_pending; /* atomic: an idle dispatch is queued */
	guint idle_id, countdown_id;

	enum session_state state;
	bool control;
	/* "resize" scaling: the user's choice, what this session's WELCOME offered, the settle
	 * logic (inputmap.h) and its timer; the fallback to fit is told once */
	bool want_resize, resizable, resize_told;
	struct resize_settle settle;
	guint settle_id, notice_id;
	int desk_w, desk_h;
	bool fullscreen;
	bool grabbed;
	bool quitting;
	bool shown;	      /* a picture of this connection is on screen */
	int shown_w, shown_h; /* its size (logged when it changes) */
	unsigned admin_mods, admin_keysym;
	unsigned stats_mods, stats_keysym, scale_mods, scale_keysym;
	unsigned mute_mods, mute_keysym, vup_mods, vup_keysym, vdown_mods, vdown_keysym;
	unsigned mic_mods, mic_keysym;

	/* sound: the controls (shown with the statistics, or a while after a change) and the
	 * microphone's indicator (shown while it is live) */
	GtkWidget *audio_bar, *mute_btn, *volume_scale, *mic_btn, *mic_label;
	int volume;
	bool muted, mic_on;	 /* the user's choices */
	bool audio, mic_allowed; /* what this session's WELCOME said */
	bool mic_live;		 /* the net thread says it is sending */
	bool syncing;		 /* setting the widgets from the state: not a user action */
	guint audio_bar_id;

	/* statistics overlay: what was shown since the last update */
	bool stats_on;
	guint stats_timer;
	FILE *trace;
	uint64_t period_frames, period_bytes0;
	gint64 period_start; /* monotonic µs */
	struct stats_series period_latency, period_decode;
	bool same_host; /* the agent runs here: its capture clock is ours */

	/* status page while retrying */
	gint64 retry_at; /* monotonic µs */
	int attempt;
	bool reconnecting, unavailable;
	char close_text[MSG_REASON_MAX + 512];

	/* input state */
	uint8_t buttons;
	uint16_t last_x, last_y;
	bool have_pos;
	struct scroll_accum scroll;
	/* touch (gestures, or raw TOUCH with --touch-raw), pen, the local pinch zoom */
	struct gesture gesture;
	guint gesture_timer;
	struct raw_touch raw[RAW_TOUCH_MAX];
	uint32_t raw_next;
	bool pen_contact, pen_b1, pen_b2;
	/* clipboard (off when clipboard_max is 0) */
	GtkClipboard *clipboard;
	struct clip_box *clip_box;
	char *clip_last; /* the text last taken from or sent to the desktop: never echoed */
	/* --test-events: a script of synthesized touch and pen events */
	struct test_script *test;
	struct input_state held; /* the keys sent down and not yet up */

	/* cursor from the agent */
	GdkCursor *cursor, *blank;
	bool cursor_visible;
};

/* ---- status page ------------------------------------------------------------ */

static void status_show(struct client_window *w, const char *title, const char *detail)
{
	gtk_label_set_text(GTK_LABEL(w->title), title);
	gtk_label_set_text(GTK_LABEL(w->detail), detail ? detail : "");
	gtk_widget_set_visible(w->detail, detail && *detail);
	gtk_widget_show(w->status);
	view_set_dim(w->view, true);
	if (log_get_level() >= LOG_LEVEL_INFO) {
		char *flat = g_strdup(detail ? detail : "");
		for (char *p = flat; *p; p++)
			if (*p == '\n')
				*p = ' ';
		log_info("status: %s%s%s", title, *flat ? " — " : "", flat);
		g_free(flat);
	}
}

static void status_hide(struct client_window *w)
{
	gtk_widget_hide(w->status);
	view_set_dim(w->view, false);
}

static int seconds_left(struct client_window *w)
{
	gint64 left = w->retry_at - g_get_monotonic_time();
	return left <= 0 ? 0 : (int)((left + 999999) / 1000000);
}

static void show_retry(struct client_window *w)
{
	char title[256], detail[2 * MSG_REASON_MAX + 1024];
	int s = seconds_left(w);

	if (w->unavailable) {
		snprintf(title, sizeof(title), "Desktop unavailable — retrying in %d s", s);
		snprintf(detail, sizeof(detail), "%s", w->close_text);
	} else if (w->reconnecting) {
		snprintf(title, sizeof(title), "Reconnecting (attempt %d)…", w->attempt);
		snprintf(detail, sizeof(detail), "%s\nNext try in %d s.", w->close_text, s);
	} else if (w->cfg.prepare) { /* the broker said why */
		snprintf(title, sizeof(title), "Cannot reach the desktop — retrying in %d s", s);
		snprintf(detail, sizeof(detail), "%s", w->close_text);
	} else {
		snprintf(title, sizeof(title), "Cannot reach the desktop — retrying in %d s", s);
		snprintf(detail, sizeof(detail),
			 "%s\nCheck that the agent at %s:%u runs and that no firewall is in the "
			 "way.",
			 w->close_text, w->host, w->cfg.port);
	}
	status_show(w, title, detail);
}

static gboolean countdown_cb(gpointer ud)
{
	struct client_window *w = ud;

	if (w->state != SESSION_CLOSED || seconds_left(w) <= 0) {
		w->countdown_id = 0;
		return G_SOURCE_REMOVE;
	}
	show_retry(w);
	return G_SOURCE_CONTINUE;
}

/* The error page: what happened and what to do about it. */
static void show_error(struct client_window *w, const struct net_event *ev)
{
	char detail[2 * MSG_REASON_MAX + 2048];
	const char *title, *todo;
	char todo_buf[512];

	if (w->cfg.prepare && ev->closed_in == SESSION_CONNECTING && ev->bye_reason < 0 &&
	    ev->end == SESSION_END_PROTOCOL && !ev->peer_pin[0]) {
		/* the broker's refusal: its words say what to do */
		title = strstr(ev->text, "not trusted") ? "The broker's certificate is not trusted"
							: "The broker cannot give you a desktop";
		todo = "";
	} else if (net_is_trust_failure(ev->text)) {
		title = "The desktop's certificate is not trusted";
		if (ev->peer_pin[0])
			snprintf(todo_buf, sizeof(todo_buf),
				 "Check --ca (the deployment's ca.pem) and --pin. The agent "
				 "presented the key with SHA-256 fingerprint\n%s\nOnly pin it if "
				 "your administrator confirms it.",
				 ev->peer_pin);
		else
			snprintf(todo_buf, sizeof(todo_buf),
				 "Check --ca (the deployment's ca.pem) and --pin.");
		todo = todo_buf;
	} else if (ev->bye_reason == MSG_BYE_TICKET_EXPIRED) {
		title = "The connect ticket has expired";
		todo = "Ask the broker for a new ticket and use it within a minute; check that "
		       "this computer's clock is right.";
	} else if (ev->bye_reason == MSG_BYE_TICKET_INVALID) {
		title = "The connect ticket was refused";
		todo = "A ticket is good for one connection to one desktop: ask the broker for "
		       "a new one.";
	} else if (ev->bye_reason == MSG_BYE_VERSION || ev->end == SESSION_END_PROTOCOL) {
		title = ev->end == SESSION_END_PROTOCOL && ev->closed_in == SESSION_CONNECTING
				? "Cannot start the connection"
				: "The desktop and this client do not understand each other";
		todo = ev->closed_in == SESSION_CONNECTING && ev->end == SESSION_END_PROTOCOL
			       ? "Check the --ticket, --ca and --pin arguments."
			       : "Use a client from the same Highrise release as the agent, and "
				 "report this with the agent's log.";
	} else if (ev->end == SESSION_END_NETWORK) {
		title = "Cannot reach the desktop";
		todo = "Check the network and that the agent runs.";
	} else {
		title = "The session has ended";
		todo = "";
	}
	snprintf(detail, sizeof(detail), "%s%s%s%s", ev->text, *todo ? "\n" : "", todo,
		 w->cfg.kiosk ? "" : "\nPress F5 to try again.");
	status_show(w, title, detail);
}

/* A line at the bottom of the window for a few seconds (not a state: the desktop goes on). */
static gboolean notice_hide_cb(gpointer ud)
{
	struct client_window *w = ud;

	w->notice_id = 0;
	gtk_widget_hide(w->notice);
	return G_SOURCE_REMOVE;
}

static void notice_show(struct client_window *w, const char *text)
{
	gtk_label_set_text(GTK_LABEL(w->notice), text);
	gtk_widget_show(w->notice);
	if (w->notice_id)
		g_source_remove(w->notice_id);
	w->notice_id = g_timeout_add(NOTICE_MS, notice_hide_cb, w);
	log_info("notice: %s", text);
}

/* ---- resizing the desktop to the window ------------------------------------------ */

static gboolean settle_cb(gpointer ud);

static void settle_arm(struct client_window *w, int ms)
{
	if (w->settle_id)
		g_source_remove(w->settle_id);
	w->settle_id = g_timeout_add((guint)(ms > 0 ? ms : 1), settle_cb, w);
}

/* The window has kept its size for a moment: ask the desktop to take it (once per size). */
static gboolean settle_cb(gpointer ud)
{
	struct client_window *w = ud;
	int rw, rh, wait;

	w->settle_id = 0;
	if (w->state != SESSION_CONNECTED || !w->resizable ||
	    view_get_scale(w->view) != VIEW_SCALE_RESIZE)
		return G_SOURCE_REMOVE;
	if (resize_settle_due(&w->settle, (int64_t)(g_get_monotonic_time() / 1000), w->desk_w,
			      w->desk_h, &rw, &rh, &wait)) {
		log_info("asking the desktop to take the window's size: %dx%d (now %dx%d)", rw, rh,
			 w->desk_w, w->desk_h);
		net_send_resize_request(w->net, rw, rh);
	} else if (wait >= 0) {
		settle_arm(w, wait);
	}
	return G_SOURCE_REMOVE;
}

/* The picture area changed size (device pixels). */
static void view_area(struct view *v, int width, int height, void *ud)
{
	struct client_window *w = ud;
	(void)v;

	resize_settle_area(&w->settle, width, height, (int64_t)(g_get_monotonic_time() / 1000));
	if (view_get_scale(w->view) == VIEW_SCALE_RESIZE && w->resizable &&
	    w->state == SESSION_CONNECTED)
		settle_arm(w, RESIZE_SETTLE_MS);
}

/*
 * Enters "resize" scaling when this session's WELCOME offered it, else shows
 * the desktop fitted and says so, once. Then asks for the window's size.
 */
static void resize_start(struct client_window *w)
{
	int aw, ah;

	if (!w->resizable) {
		if (view_get_scale(w->view) == VIEW_SCALE_RESIZE)
			view_set_scale(w->view, VIEW_SCALE_FIT);
		if (!w->resize_told) {
			w->resize_told = true;
			notice_show(w, w->control ? "This desktop cannot be resized to the window: "
						    "showing it fitted instead."
						  : "View only: the desktop cannot be resized to "
						    "the window; showing it fitted instead.");
		}
		return;
	}
	view_set_scale(w->view, VIEW_SCALE_RESIZE);
	resize_settle_reset(&w->settle);
	view_area_size(w->view, &aw, &ah);
	if (aw > 0 && ah > 0)
		resize_settle_area(&w->settle, aw, ah, (int64_t)(g_get_monotonic_time() / 1000));
	settle_arm(w, RESIZE_SETTLE_MS);
}

/* ---- cursor ------------------------------------------------------------------ */

static void apply_cursor(struct client_window *w)
{
	GdkWindow *gw = gtk_widget_get_window(w->events);

	if (!gw)
		return;
	if (w->state != SESSION_CONNECTED)
		gdk_window_set_cursor(gw, NULL);
	else if (!w->cursor_visible || !w->cursor)
		gdk_window_set_cursor(gw, w->blank);
	else
		gdk_window_set_cursor(gw, w->cursor);
}

static void set_cursor(struct client_window *w, const struct net_event *ev)
{
	GdkDisplay *d = gtk_widget_get_display(w->window);
	cairo_surface_t *s;

	g_clear_object(&w->cursor);
	if (ev->width > 0 && ev->height > 0 && ev->pixels) {
		/* BGRA premultiplied = cairo ARGB32 on little-endian hosts */
		s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, ev->width, ev->height);
		if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
			uint8_t *dst = cairo_image_surface_get_data(s);
			int stride = cairo_image_surface_get_stride(s);

			cairo_surface_flush(s);
			for (int y = 0; y < ev->height; y++) {
				const uint8_t *src = ev->pixels + (size_t)y * ev->width * 4;
				uint32_t *row = (uint32_t *)(dst + (size_t)y * stride);
				for (int x = 0; x < ev->width; x++)
					row[x] = (uint32_t)src[4 * x + 3] << 24 |
						 (uint32_t)src[4 * x + 2] << 16 |
						 (uint32_t)src[4 * x + 1] << 8 | src[4 * x];
			}
			cairo_surface_mark_dirty(s);
			w->cursor = gdk_cursor_new_from_surface(d, s, ev->hot_x, ev->hot_y);
		}
		cairo_surface_destroy(s);
	}
	w->cursor_visible = w->cursor != NULL;
	apply_cursor(w);
}

/* ---- keyboard grab -------------------------------------------------------------- */

static void grab(struct client_window *w)
{
	GdkWindow *gw = gtk_widget_get_window(w->window);
	GdkSeat *seat = gdk_display_get_default_seat(gtk_widget_get_display(w->window));

	if (w->grabbed || !gw || !gtk_window_is_active(GTK_WINDOW(w->window)))
		return;
	if (gdk_seat_grab(seat, gw, GDK_SEAT_CAPABILITY_KEYBOARD, FALSE, NULL, NULL, NULL, NULL) ==
	    GDK_GRAB_SUCCESS) {
		w->grabbed = true;
		log_debug("keyboard grabbed (Ctrl+Alt releases it)");
	}
}

static void ungrab(struct client_window *w)
{
	if (!w->grabbed)
		return;
	gdk_seat_ungrab(gdk_display_get_default_seat(gtk_widget_get_display(w->window)));
	w->grabbed = false;
	log_debug("keyboard released");
}

/* Key releases for everything still held, so nothing sticks on the desktop. */
static void release_keys(struct client_window *w)
{
	static struct msg rel[INPUT_RELEASE_MAX]; /* the UI thread's only */
	int n = input_state_release_all(&w->held, rel, INPUT_RELEASE_MAX);

	for (int i = 0; i < n; i++)
		if (rel[i].type == MSG_KEY)
			net_send_key(w->net, rel[i].u.key.scancode, rel[i].u.key.keysym, false);
	if (w->buttons && w->have_pos) {
		w->buttons = 0;
		net_send_pointer(w->net, w->last_x, w->last_y, 0);
	}
}

/* ---- net events ---------------------------------------------------------------- */

static void on_event(struct client_window *w, struct net_event *ev)
{
	switch (ev->kind) {
	case NET_EV_STATE:
		w->state = ev->state;
		if (ev->state == SESSION_CONNECTING) {
			char d[300];
			snprintf(d, sizeof(d), "to %s:%u", w->host, w->cfg.port);
			status_show(w, "Connecting…", w->cfg.prepare ? ev->text : d);
		} else if (ev->state == SESSION_AUTHENTICATING) {
			status_show(w, "Connecting…", "presenting the connect ticket");
		} else if (ev->state == SESSION_CONNECTED) {
			w->control = ev->control;
			w->resizable = ev->resizable;
			w->audio = ev->audio;
			w->mic_allowed = ev->mic;
			if (w->mic_on && !ev->mic && !w->cfg.no_mic)
				notice_show(w,
					    "The desktop does not take this client's microphone");
			w->desk_w = ev->width;
			w->desk_h = ev->height;
			view_set_desktop_size(w->view, ev->width, ev->height);
			w->reconnecting = w->unavailable = false;
			w->attempt = 0;
			w->shown = false;
			status_hide(w);
			log_info("connected: desktop %dx%d, %s, %s", ev->width, ev->height,
				 ev->control ? "keyboard and mouse enabled" : "view only",
				 ev->resizable ? "resizable to the window"
					       : "not resizable to the window");
			if (w->want_resize)
				resize_start(w);
		}
		apply_cursor(w);
		break;
	case NET_EV_CLOSED:
		w->state = SESSION_CLOSED;
		snprintf(w->close_text, sizeof(w->close_text), "%s", ev->text);
		release_keys(w);
		apply_cursor(w);
		log_warn("session closed: %s", ev->text);
		if (ev->retry_ms >= 0) {
			w->attempt = ev->attempt;
			w->unavailable = ev->bye_reason == MSG_BYE_DESKTOP_UNAVAILABLE;
			w->reconnecting = ev->was_connected && !w->unavailable;
			w->retry_at = g_get_monotonic_time() + (gint64)ev->retry_ms * 1000;
			show_retry(w);
			if (!w->countdown_id)
				w->countdown_id = g_timeout_add(250, countdown_cb, w);
		} else {
			show_error(w, ev);
		}
		break;
	case NET_EV_RESIZE:
		w->desk_w = ev->width;
		w->desk_h = ev->height;
		view_set_desktop_size(w->view, ev->width, ev->height);
		log_info("the desktop is now %dx%d", ev->width, ev->height);
		break;
	case NET_EV_CURSOR:
		set_cursor(w, ev);
		break;
	case NET_EV_CURSOR_POS:
		if (w->cursor && w->cursor_visible != ev->visible) {
			w->cursor_visible = ev->visible;
			apply_cursor(w);
		}
		break;
	case NET_EV_CLIPBOARD:
		clipboard_from_desktop(w, ev);
		break;
	case NET_EV_STATUS:
		if (ev->code == MSG_STATUS_RESIZE_REFUSED)
			notice_show(w, ev->text); /* a notice: the desktop streams on, fitted */
		else if (ev->code == MSG_STATUS_OK)
			status_hide(w);
		else if (ev->code == MSG_STATUS_RESTARTING)
			status_show(w, "The desktop is restarting", ev->text);
		else
			status_show(w, "The desktop is not responding", ev->text);
		break;
	}
}

/* Runs on the UI thread: everything the net thread posted since the last time. */
static gboolean dispatch_cb(gpointer ud)
{
	struct client_window *w = ud;
	struct net_event *ev;
	struct ui_frame *f;

	g_atomic_int_set(&w->wake_pending, 0);
	while ((ev = net_pop_event(w->net))) {
		on_event(w, ev);
		net_event_free(ev);
	}
	f = net_take_frame(w->net);
	if (f)
		view_set_frame(w->view, f);
	return G_SOURCE_REMOVE;
}

/* The net thread's wake-up: one idle callback at a time. */
static void wake(void *ud)
{
	struct client_window *w = ud;

	if (!g_atomic_int_compare_and_exchange(&w->wake_pending, 0, 1))
		return;
	g_idle_add_full(G_PRIORITY_HIGH_IDLE, dispatch_cb, w, NULL);
}

static void view_shown(struct view *v, const struct ui_frame *f, uint64_t shown_us, void *ud)
{
	struct client_window *w = ud;
	(void)v;
	if (f->number != UINT32_MAX && f->capture_us) {
		w->period_frames++;
		stats_series_add(&w->period_latency,
				 ((double)shown_us - (double)f->capture_us) / 1e3);
		stats_series_add(&w->period_decode, f->decode_us / 1e3);
		if (w->trace)
			fprintf(w->trace, "F %u %" PRIu64 " %" PRIu64 " %u %" PRIu64 "\n",
				f->number, f->capture_us, f->decoded_us, f->decode_us, shown_us);
	}
	if (!w->shown || f->width != w->shown_w || f->height != w->shown_h) {
		log_info("showing the desktop: %dx%d pictures, drawn with %s", f->width, f->height,
			 view_renderer(w->view));
		w->shown_w = f->width;
		w->shown_h = f->height;
	}
	if (!w->shown) {
		w->shown = true;
		test_start(w);
	}
	if (f->number != UINT32_MAX)
		net_ack(w->net, f->number, f->capture_us, shown_us);
}

static void view_fallback(struct view *v, const char *why, void *ud)
{
	struct client_window *w = ud;
	(void)v;
	(void)why;
	if (w->net)
		net_set_bgra(w->net, true);
	else
		w->bgra_from_start = true; /* decided while the window was built */
}

/* ---- sound ----------------------------------------------------------------------- */

static void mic_indicator(struct client_window *w, bool live)
{
	if (live != w->mic_live)
		log_info("microphone %s", live ? "live: the desktop hears it" : "not sent");
	w->mic_live = live;
	gtk_widget_set_visible(w->mic_label, live);
}

static gboolean audio_bar_hide_cb(gpointer ud)
{
	struct client_window *w = ud;
	w->audio_bar_id = 0;
	if (!w->stats_on)
		gtk_widget_hide(w->audio_bar);
	return G_SOURCE_REMOVE;
}

/* The controls say the state; shown with the statistics, or for a while after a change. */
static void audio_bar_update(struct client_window *w, bool changed)
{
	char vol[32];

	w->syncing = true;
	gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(w->mute_btn), w->muted);
	gtk_button_set_label(GTK_BUTTON(w->mute_btn), w->muted ? "Sound off" : "Sound on");
	gtk_range_set_value(GTK_RANGE(w->volume_scale), w->volume);
	gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(w->mic_btn), w->mic_on);
	gtk_widget_set_sensitive(w->mic_btn, !w->cfg.no_mic);
	gtk_button_set_label(GTK_BUTTON(w->mic_btn), w->mic_on ? "Mic on" : "Mic off");
	w->syncing = false;
	snprintf(vol, sizeof(vol), "volume %d %%", w->volume);
	gtk_widget_set_tooltip_text(w->volume_scale, vol);
	if (w->stats_on || changed)
		gtk_widget_show(w->audio_bar);
	else if (!w->audio_bar_id)
		gtk_widget_hide(w->audio_bar);
	if (changed) {
		if (w->audio_bar_id)
			g_source_remove(w->audio_bar_id);
		w->audio_bar_id = g_timeout_add(NOTICE_MS, audio_bar_hide_cb, w);
	}
}

static void sound_set(struct client_window *w, int volume, bool muted)
{
	w->volume = volume < 0 ? 0 : volume > 100 ? 100 : volume;
	w->muted = muted;
	net_set_volume(w->net, w->volume, w->muted);
	audio_bar_update(w, true);
}

static void mic_set(struct client_window *w, bool on)
{
	if (w->cfg.no_mic)
		return;
	w->mic_on = on;
	net_set_mic(w->net, on);
	if (on && w->state == SESSION_CONNECTED && !w->mic_allowed)
		notice_show(w, "The desktop does not take this client's microphone");
	audio_bar_update(w, true);
}

static void mute_toggled_cb(GtkToggleButton *b, gpointer ud)
{
	struct client_window *w = ud;
	if (!w->syncing)
		sound_set(w, w->volume, gtk_toggle_button_get_active(b));
}

static void volume_changed_cb(GtkRange *r, gpointer ud)
{
	struct client_window *w = ud;
	if (!w->syncing)
		sound_set(w, (int)lround(gtk_range_get_value(r)), w->muted);
}

static void mic_toggled_cb(GtkToggleButton *b, gpointer ud)
{
	struct client_window *w = ud;
	if (!w->syncing)
		mic_set(w, gtk_toggle_button_get_active(b));
}

/* ---- statistics overlay ------------------------------------------------------------ */

static void stats_period_start(struct client_window *w, const struct net_stats *ns)
{
	w->period_start = g_get_monotonic_time();
	w->period_frames = 0;
	w->period_bytes0 = ns->bytes_received;
	stats_series_reset(&w->period_latency);
	stats_series_reset(&w->period_decode);
}

/* Twice a second: the numbers of the last period into the overlay (and the trace). */
static gboolean stats_tick(gpointer ud)
{
	struct client_window *w = ud;
	struct stats_overlay o = {0};
	struct net_stats ns;
	struct fit f;
	char text[1024];
	double secs;
	int sf;

	net_get_stats(w->net, &ns);
	secs = (double)(g_get_monotonic_time() - w->period_start) / 1e6;
	if (secs <= 0)
		return G_SOURCE_CONTINUE;
	if (ns.bytes_received < w->period_bytes0) /* a new session */
		w->period_bytes0 = 0;
	o.fps = w->period_frames / secs;
	o.kbps = ns.connected ? (double)(ns.bytes_received - w->period_bytes0) * 8 / 1000 / secs
			      : NAN;
	o.latency_ms = stats_series_percentile(&w->period_latency, 50);
	o.same_clock = w->same_host;
	o.decode_ms = stats_series_percentile(&w->period_decode, 50);
	o.rtt_ms = ns.rtt_us >= 0 ? ns.rtt_us / 1e3 : NAN;
	o.decoder = ns.decoder[0] ? ns.decoder : NULL;
	o.fallback = ns.decoder_fallback;
	o.renderer = view_renderer_detail(w->view);
	o.desk_w = w->desk_w;
	o.desk_h = w->desk_h;
	o.scale = view_scale_name(view_get_scale(w->view));
	sf = gtk_widget_get_scale_factor(w->events);
	o.scale_factor = sf;
	f = view_fit(w->view);
	o.zoom = f.scale * sf;
	view_get_offset(w->view, &o.off_x, &o.off_y);
	if (ns.audio) {
		o.audio = true;
		o.audio_kbps = ns.audio_st.kbps;
		o.jitter_ms = ns.audio_st.depth_us / 1e3;
		o.jitter_target_ms = ns.audio_st.target_us / 1e3;
		o.concealed = ns.audio_st.concealed + ns.audio_st.recovered;
		o.audio_dropped = ns.audio_st.dropped + ns.audio_st.late;
		o.lipsync_ms = ns.audio_st.lipsync_valid ? ns.audio_st.lipsync_ms : NAN;
		o.volume = ns.audio_st.volume;
		o.muted = ns.audio_st.muted;
		o.mic = ns.mic_live ? "live" : ns.mic_allowed ? "off" : "not taken";
	}
	mic_indicator(w, ns.mic_live);
	stats_overlay_format(&o, text, sizeof(text));
	stats_period_start(w, &ns);
	if (!w->stats_on)
		return G_SOURCE_CONTINUE;
	view_set_stats(w->view, text);
	if (w->trace) {
		/* what the overlay says, on one line: the tests read it */
		for (char *p = text; *p; p++)
			if (*p == '\n')
				*p = '|';
		fprintf(w->trace, "O %s\n", text);
	}
	return G_SOURCE_CONTINUE;
}

static void stats_toggle(struct client_window *w, bool on)
{
	w->stats_on = on;
	audio_bar_update(w, false);
	if (!on)
		view_set_stats(w->view, NULL);
	else
		stats_tick(w);
	log_info("statistics overlay %s", on ? "shown" : "hidden");
}

/* fit -> 1:1 -> resize (when this session offers it) -> fit */
static void scale_cycle(struct client_window *w)
{
	enum view_scale s = view_get_scale(w->view);

	if (s == VIEW_SCALE_FIT)
		s = VIEW_SCALE_ONE;
	else if (s == VIEW_SCALE_ONE && w->resizable && w->state == SESSION_CONNECTED)
		s = VIEW_SCALE_RESIZE;
	else
		s = VIEW_SCALE_FIT;
	w->want_resize = s == VIEW_SCALE_RESIZE;
	if (w->want_resize)
		resize_start(w);
	else
		view_set_scale(w->view, s);
	if (w->stats_on)
		stats_tick(w);
}

/* Whether the agent's address is this host (loopback): then its clock is ours. */
static bool host_is_local(const char *host)
{
	return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1");
}

/* ---- keyboard -------------------------------------------------------------------- */

static unsigned combo_mods_of(GdkModifierType state)
{
	unsigned m = 0;
	if (state & GDK_CONTROL_MASK)
		m |= COMBO_CTRL;
	if (state & GDK_MOD1_MASK)
		m |= COMBO_ALT;
	if (state & GDK_SHIFT_MASK)
		m |= COMBO_SHIFT;
	if (state & (GDK_SUPER_MASK | GDK_MOD4_MASK))
		m |= COMBO_SUPER;
	return m;
}

static bool is_ctrl(guint k)
{
	return k == GDK_KEY_Control_L || k == GDK_KEY_Control_R;
}

static bool is_alt(guint k)
{
	return k == GDK_KEY_Alt_L || k == GDK_KEY_Alt_R || k == GDK_KEY_Meta_L ||
	       k == GDK_KEY_Meta_R;
}

static void quit(struct client_window *w)
{
	if (w->quitting)
		return;
	w->quitting = true;
	gtk_main_quit();
}

static void toggle_fullscreen(struct client_window *w)
{
	if (w->fullscreen)
		gtk_window_unfullscreen(GTK_WINDOW(w->window));
	else
		gtk_window_fullscreen(GTK_WINDOW(w->window));
}

static gboolean key_cb(GtkWidget *widget, GdkEventKey *e, gpointer ud)
{
	struct client_window *w = ud;
	bool down = e->type == GDK_KEY_PRESS;
	uint16_t code = inputmap_evdev_from_x11(e->hardware_keycode);
	unsigned mods = combo_mods_of(e->state);
	(void)widget;

	if (down && w->cfg.kiosk && mods == w->admin_mods &&
	    gdk_keyval_to_lower(e->keyval) == w->admin_keysym) {
		log_info("admin key combination: quitting");
		release_keys(w);
		quit(w);
		return TRUE;
	}
	if (down && mods == w->stats_mods && gdk_keyval_to_lower(e->keyval) == w->stats_keysym) {
		stats_toggle(w, !w->stats_on);
		return TRUE;
	}
	if (down && mods == w->scale_mods && gdk_keyval_to_lower(e->keyval) == w->scale_keysym) {
		scale_cycle(w);
		return TRUE;
	}
	if (down && mods == w->mute_mods && gdk_keyval_to_lower(e->keyval) == w->mute_keysym) {
		sound_set(w, w->volume, !w->muted);
		return TRUE;
	}
	if (down && mods == w->vup_mods && gdk_keyval_to_lower(e->keyval) == w->vup_keysym) {
		sound_set(w, w->volume + VOLUME_STEP, false);
		return TRUE;
	}
	if (down && mods == w->vdown_mods && gdk_keyval_to_lower(e->keyval) == w->vdown_keysym) {
		sound_set(w, w->volume - VOLUME_STEP, w->muted);
		return TRUE;
	}
	if (down && mods == w->mic_mods && gdk_keyval_to_lower(e->keyval) == w->mic_keysym) {
		mic_set(w, !w->mic_on);
		return TRUE;
	}
	if (down && !w->cfg.kiosk && e->keyval == GDK_KEY_F11 && !(mods & ~COMBO_SHIFT)) {
		toggle_fullscreen(w);
		return TRUE;
	}
	if (down && w->state == SESSION_CLOSED && !w->cfg.kiosk && e->keyval == GDK_KEY_F5) {
		net_retry_now(w->net);
		return TRUE;
	}
	/* Ctrl+Alt releases the keyboard (the keys still go to the desktop) */
	if (down && w->grabbed &&
	    ((is_ctrl(e->keyval) && (mods & COMBO_ALT)) ||
	     (is_alt(e->keyval) && (mods & COMBO_CTRL))))
		ungrab(w);
	if (code == 0 && e->keyval == 0)
		return TRUE;
	if (code && code < INPUT_KEYS && !down && !input_state_key_held(&w->held, code))
		return TRUE; /* pressed before we had focus: not ours to release */
	struct msg km = {.type = MSG_KEY};
	km.u.key.scancode = code;
	km.u.key.keysym = e->keyval;
	km.u.key.flags = down ? MSG_KEY_DOWN : 0;
	input_state_track(&w->held, &km);
	if (w->state == SESSION_CONNECTED)
		net_send_key(w->net, code, e->keyval, down);
	return TRUE;
}

static gboolean focus_cb(GtkWidget *widget, GdkEventFocus *e, gpointer ud)
{
	struct client_window *w = ud;
	(void)widget;

	if (e->in) {
		grab(w);
	} else {
		release_keys(w);
		ungrab(w);
	}
	return FALSE;
}

/* ---- pointer -------------------------------------------------------------------- */

/* Where the picture is in the input widget (fit or 1:1, with the scroll offsets). */
static struct fit area_fit(struct client_window *w)
{
	return view_fit(w->view);
}

static bool map_pointer(struct client_window *w, double x, double y)
{
	struct fit f;
	uint16_t dx, dy;
	int dw = w->desk_w, dh = w->desk_h;

	if (dw <= 0 || dh <= 0)
		return false;
	f = view_fit(w->view); /* fit or 1:1 with its scroll offsets, in w->events' pixels */
	fit_to_desktop(&f, dw, dh, x, y, &dx, &dy);
	if (w->have_pos && dx == w->last_x && dy == w->last_y)
		return false;
	w->last_x = dx;
	w->last_y = dy;
	w->have_pos = true;
	return true;
}

static gboolean motion_cb(GtkWidget *widget, GdkEventMotion *e, gpointer ud)
{
	struct client_window *w = ud;
	(void)widget;

	if (gdk_event_get_pointer_emulated((GdkEvent *)e))
		return TRUE; /* a touch GDK turned into a pointer: the touch handler has it */
	if (is_pen((GdkEvent *)e)) {
		pen_event(w, (GdkEvent *)e, e->x, e->y, true);
		return TRUE;
	}
	if (w->state == SESSION_CONNECTED && map_pointer(w, e->x, e->y))
		net_send_pointer(w->net, w->last_x, w->last_y, w->buttons);
	return TRUE;
}

static gboolean button_cb(GtkWidget *widget, GdkEventButton *e, gpointer ud)
{
	struct client_window *w = ud;
	uint8_t bit = inputmap_button_bit(e->button);
	(void)widget;

	if (e->type != GDK_BUTTON_PRESS && e->type != GDK_BUTTON_RELEASE)
		return TRUE; /* double/triple clicks: the single presses were sent already */
	if (e->type == GDK_BUTTON_PRESS)
		grab(w);
	if (gdk_event_get_pointer_emulated((GdkEvent *)e))
		return TRUE;
	if (is_pen((GdkEvent *)e)) {
		/* tip = 1, barrel buttons = 2, 3 (as xf86-input-wacom reports them) */
		bool down = e->type == GDK_BUTTON_PRESS;
		if (e->button == 1)
			w->pen_contact = down;
		else if (e->button == 2)
			w->pen_b1 = down;
		else if (e->button == 3)
			w->pen_b2 = down;
		pen_event(w, (GdkEvent *)e, e->x, e->y, true);
		return TRUE;
	}
	if (w->state != SESSION_CONNECTED || !bit)
		return TRUE;
	map_pointer(w, e->x, e->y);
	if (e->type == GDK_BUTTON_PRESS)
		w->buttons |= bit;
	else
		w->buttons &= (uint8_t)~bit;
	net_send_pointer(w->net, w->last_x, w->last_y, w->buttons);
	return TRUE;
}

static gboolean scroll_cb(GtkWidget *widget, GdkEventScroll *e, gpointer ud)
{
	struct client_window *w = ud;
	double dx = 0, dy = 0;
	int16_t sx, sy;
	(void)widget;

	if (w->state != SESSION_CONNECTED)
		return TRUE;
	switch (e->direction) {
	case GDK_SCROLL_UP:
		dy = -1;
		break;
	case GDK_SCROLL_DOWN:
		dy = 1;
		break;
	case GDK_SCROLL_LEFT:
		dx = -1;
		break;
	case GDK_SCROLL_RIGHT:
		dx = 1;
		break;
	case GDK_SCROLL_SMOOTH:
		gdk_event_get_scroll_deltas((GdkEvent *)e, &dx, &dy);
		break;
	}
	if (map_pointer(w, e->x, e->y))
		net_send_pointer(w->net, w->last_x, w->last_y, w->buttons);
	scroll_accum_add(&w->scroll, dx, dy, &sx, &sy);
	if (sx || sy)
		net_send_scroll(w->net, sx, sy);
	return TRUE;
}

/* ---- touch ---------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
	return (uint64_t)(g_get_monotonic_time() / 1000);
}

static void pointer_to(struct client_window *w, double x, double y, bool force)
{
	if ((map_pointer(w, x, y) || force) && w->have_pos)
		net_send_pointer(w->net, w->last_x, w->last_y, w->buttons);
}

/*
 * The local zoom is the view's scale: spreading two fingers shows the
 * desktop 1:1 (scrollbars pan it), pinching them shows it fitted again; a
 * double tap while 1:1 fits it too. Never sent to the desktop.
 */
static void set_scale(struct client_window *w, enum view_scale s)
{
	if (view_get_scale(w->view) != s) {
		view_set_scale(w->view, s);
		log_info("touch: view %s", view_scale_name(s));
	}
	w->gesture.zoomed = s != VIEW_SCALE_FIT;
}

static void run_actions(struct client_window *w, const struct gesture_action *a, int n)
{
	for (int i = 0; i < n; i++) {
		const struct gesture_action *o = &a[i];
		uint8_t bit = inputmap_button_bit(o->button);
		int16_t sx, sy;

		switch (o->kind) {
		case GESTURE_MOVE:
			pointer_to(w, o->x, o->y, false);
			break;
		case GESTURE_PRESS:
		case GESTURE_RELEASE:
			map_pointer(w, o->x, o->y);
			if (o->kind == GESTURE_PRESS)
				w->buttons |= bit;
			else
				w->buttons &= (uint8_t)~bit;
			if (w->have_pos)
				net_send_pointer(w->net, w->last_x, w->last_y, w->buttons);
			break;
		case GESTURE_SCROLL:
			pointer_to(w, o->x, o->y, false);
			scroll_accum_add(&w->scroll, o->dx, o->dy, &sx, &sy);
			if (sx || sy)
				net_send_scroll(w->net, sx, sy);
			break;
		case GESTURE_PINCH:
			if (o->scale >= 1.0 + 2 * GESTURE_PINCH_RATIO)
				set_scale(w, VIEW_SCALE_ONE);
			else if (o->scale <= 1.0 - 2 * GESTURE_PINCH_RATIO)
				set_scale(w, VIEW_SCALE_FIT);
			break;
		case GESTURE_ZOOM_RESET:
			set_scale(w, VIEW_SCALE_FIT);
			break;
		}
	}
}

static gboolean gesture_timer_cb(gpointer ud)
{
	struct client_window *w = ud;
	struct gesture_action a[GESTURE_ACTIONS_MAX];

	w->gesture_timer = 0;
	if (w->state == SESSION_CONNECTED)
		run_actions(w, a, gesture_tick(&w->gesture, now_ms(), a));
	return G_SOURCE_REMOVE;
}

static void arm_gesture_timer(struct client_window *w)
{
	uint64_t due = gesture_deadline(&w->gesture), now = now_ms();

	if (w->gesture_timer) {
		g_source_remove(w->gesture_timer);
		w->gesture_timer = 0;
	}
	if (due)
		w->gesture_timer = g_timeout_add(due > now ? (guint)(due - now) : 0,
						 gesture_timer_cb, w);
}

/* --touch-raw: every contact as TOUCH with a small id of its own. */
static void raw_touch(struct client_window *w, const GdkEventTouch *e)
{
	struct raw_touch *r = NULL, *free_slot = NULL;
	enum msg_touch_phase phase;
	uint16_t x, y;
	struct fit f;

	for (int i = 0; i < RAW_TOUCH_MAX; i++) {
		if (w->raw[i].seq == e->sequence)
			r = &w->raw[i];
		else if (!w->raw[i].seq && !free_slot)
			free_slot = &w->raw[i];
	}
	if (e->type == GDK_TOUCH_BEGIN) {
		if (r || !free_slot)
			return; /* a repeated begin, or more fingers than we track */
		r = free_slot;
		r->seq = e->sequence;
		r->id = w->raw_next++;
	}
	if (!r)
		return;
	switch (e->type) {
	case GDK_TOUCH_BEGIN:
		phase = MSG_TOUCH_BEGIN;
		break;
	case GDK_TOUCH_UPDATE:
		phase = MSG_TOUCH_UPDATE;
		break;
	case GDK_TOUCH_END:
		phase = MSG_TOUCH_END;
		break;
	default:
		phase = MSG_TOUCH_CANCEL;
		break;
	}
	f = area_fit(w);
	fit_to_desktop(&f, w->desk_w, w->desk_h, e->x, e->y, &x, &y);
	net_send_touch(w->net, r->id, phase, x, y);
	if (phase == MSG_TOUCH_END || phase == MSG_TOUCH_CANCEL)
		r->seq = NULL;
}

static gboolean touch_cb(GtkWidget *widget, GdkEventTouch *e, gpointer ud)
{
	struct client_window *w = ud;
	struct gesture_action a[GESTURE_ACTIONS_MAX];
	enum gesture_phase phase;
	(void)widget;

	if (w->state != SESSION_CONNECTED || w->desk_w <= 0)
		return TRUE;
	if (w->cfg.touch_raw) {
		raw_touch(w, e);
		return TRUE;
	}
	switch (e->type) {
	case GDK_TOUCH_BEGIN:
		phase = GESTURE_BEGIN;
		break;
	case GDK_TOUCH_UPDATE:
		phase = GESTURE_UPDATE;
		break;
	case GDK_TOUCH_END:
		phase = GESTURE_END;
		break;
	case GDK_TOUCH_CANCEL:
		phase = GESTURE_CANCEL;
		break;
	default:
		return TRUE;
	}
	/* the sequence pointer is only an identity: GDK numbers touches itself */
	run_actions(w, a,
		    gesture_feed(&w->gesture, now_ms(), (uint32_t)GPOINTER_TO_UINT(e->sequence),
				 phase, e->x, e->y, a));
	arm_gesture_timer(w);
	return TRUE;
}

/* ---- pen ---------------------------------------------------------------------------- */

static bool is_pen(const GdkEvent *e)
{
	GdkDevice *d = gdk_event_get_source_device(e);
	GdkInputSource src = d ? gdk_device_get_source(d) : GDK_SOURCE_MOUSE;

	return src == GDK_SOURCE_PEN || src == GDK_SOURCE_ERASER;
}

static double axis(GdkEvent *e, GdkAxisUse use, double test_value)
{
	double v;

	if (gdk_event_get_axis(e, use, &v))
		return v;
	return test_value; /* NaN unless a --test-events script stands in for the tablet */
}

/* Test-only stand-ins for the axes a synthesized event cannot carry (see test_pen). */
static double test_pressure = NAN, test_tilt_x = NAN, test_tilt_y = NAN;

/* A pen (or eraser) motion, press, release or proximity event: one PEN message. */
static void pen_event(struct client_window *w, GdkEvent *e, double x, double y, bool in_range)
{
	GdkDevice *d = gdk_event_get_source_device(e);
	struct pen_sample s = {
		.x = x,
		.y = y,
		.pressure = axis(e, GDK_AXIS_PRESSURE, test_pressure),
		.tilt_x = axis(e, GDK_AXIS_XTILT, test_tilt_x),
		.tilt_y = axis(e, GDK_AXIS_YTILT, test_tilt_y),
		.in_range = in_range,
		.contact = w->pen_contact && in_range,
		.eraser = d && gdk_device_get_source(d) == GDK_SOURCE_ERASER,
		.button1 = w->pen_b1 && in_range,
		.button2 = w->pen_b2 && in_range,
	};
	struct msg_pen p;
	struct fit f = area_fit(w);

	if (w->state != SESSION_CONNECTED || !pen_map(&f, w->desk_w, w->desk_h, &s, &p))
		return;
	net_send_pen(w->net, &p);
}

static gboolean proximity_cb(GtkWidget *widget, GdkEventProximity *e, gpointer ud)
{
	struct client_window *w = ud;
	(void)widget;

	if (e->type == GDK_PROXIMITY_OUT) {
		w->pen_contact = w->pen_b1 = w->pen_b2 = false;
		if (w->have_pos)
			pen_event(w, (GdkEvent *)e, 0, 0, false);
	}
	return TRUE;
}

/* ---- clipboard ------------------------------------------------------------------------ */

static void clip_text_cb(GtkClipboard *cb, const gchar *text, gpointer ud)
{
	struct clip_box *box = ud;
	struct client_window *w = box->w;
	size_t len, max;
	(void)cb;

	g_rc_box_release(box);
	if (!w || !text || w->state != SESSION_CONNECTED)
		return;
	len = strlen(text);
	if (w->clip_last && strcmp(w->clip_last, text) == 0)
		return; /* what the desktop gave us, or what we sent already */
	max = w->cfg.clipboard_max < CLIPBOARD_CLIENT_MAX ? w->cfg.clipboard_max
							  : CLIPBOARD_CLIENT_MAX;
	if (clipboard_check(text, len, max) < 0) {
		log_info("clipboard: %zu bytes copied here are over the limit of %zu bytes "
			 "(--clipboard-max): not sent to the desktop",
			 len, max);
		return;
	}
	g_free(w->clip_last);
	w->clip_last = g_strdup(text);
	net_send_clipboard(w->net, text, len);
}

static void owner_change_cb(GtkClipboard *cb, GdkEvent *e, gpointer ud)
{
	struct client_window *w = ud;
	(void)e;

	if (w->state != SESSION_CONNECTED)
		return;
	/* text only: other formats give NULL and are not shared */
	gtk_clipboard_request_text(cb, clip_text_cb, g_rc_box_acquire(w->clip_box));
}

static void clipboard_from_desktop(struct client_window *w, const struct net_event *ev)
{
	if (!w->clipboard)
		return;
	g_free(w->clip_last);
	w->clip_last = g_strdup(ev->clip);
	gtk_clipboard_set_text(w->clipboard, ev->clip, (gint)ev->clip_len);
	log_info("clipboard: %zu bytes from the desktop", ev->clip_len);
}

/* ---- --test-events ---------------------------------------------------------------------- */

/*
 * A script of synthesized input delivered to the real widget with
 * gtk_widget_event once the first picture is on screen, so the tests drive
 * the same handlers a touch screen or a tablet would. One command a line,
 * coordinates in desktop pixels (mapped through view_fit):
 *
 *   touch begin|update|end|cancel ID X Y
 *   pen X Y PRESSURE TILT_X TILT_Y FLAGS   FLAGS: "-" or a comma list of
 *                                          contact, eraser, b1, b2, out
 *   wait MS
 *
 * Pen events come from a device the script makes (source PEN or ERASER). A
 * synthesized event cannot carry axis values, so the script's pressure and
 * tilt stand in for GDK_AXIS_PRESSURE/XTILT/YTILT. Logs "test: done".
 */
struct test_script {
	char **lines;
	size_t next;
	guint timer;
	GdkDevice *pen, *eraser;
};

static void test_free(struct test_script *t)
{
	if (!t)
		return;
	if (t->timer)
		g_source_remove(t->timer);
	g_strfreev(t->lines);
	g_clear_object(&t->pen);
	g_clear_object(&t->eraser);
	g_free(t);
}

static GdkDevice *test_device(struct client_window *w, GdkInputSource src)
{
#ifdef GDK_WINDOWING_X11
	GdkDisplay *d = gtk_widget_get_display(w->window);
	if (GDK_IS_X11_DISPLAY(d))
		return g_object_new(GDK_TYPE_X11_DEVICE_XI2, "name",
				    src == GDK_SOURCE_PEN ? "highrise test pen"
							  : "highrise test eraser",
				    "type", GDK_DEVICE_TYPE_FLOATING, "input-source", src,
				    "input-mode", GDK_MODE_SCREEN, "has-cursor", FALSE, "display",
				    d, "device-id", src == GDK_SOURCE_PEN ? 900 : 901, NULL);
#endif
	(void)w;
	(void)src;
	return NULL;
}

static void desk_to_area(struct client_window *w, double dx, double dy, double *ax, double *ay)
{
	struct fit f = area_fit(w);

	*ax = f.x + (dx + 0.5) * f.scale;
	*ay = f.y + (dy + 0.5) * f.scale;
}

static void deliver(struct client_window *w, GdkEvent *e, GdkDevice *source)
{
	GdkSeat *seat = gdk_display_get_default_seat(gtk_widget_get_display(w->window));

	e->any.window = g_object_ref(gtk_widget_get_window(w->events));
	e->any.send_event = TRUE;
	gdk_event_set_device(e, gdk_seat_get_pointer(seat));
	gdk_event_set_source_device(e, source ? source : gdk_seat_get_pointer(seat));
	gtk_widget_event(w->events, e);
	gdk_event_free(e);
}

static void test_touch(struct client_window *w, const char *phase, unsigned id, double x, double y)
{
	GdkEventType type = !strcmp(phase, "begin")    ? GDK_TOUCH_BEGIN
			    : !strcmp(phase, "update") ? GDK_TOUCH_UPDATE
			    : !strcmp(phase, "end")    ? GDK_TOUCH_END
						       : GDK_TOUCH_CANCEL;
	GdkEvent *e = gdk_event_new(type);

	desk_to_area(w, x, y, &e->touch.x, &e->touch.y);
	e->touch.sequence = GUINT_TO_POINTER(id + 1);
	e->touch.time = (guint32)now_ms();
	e->touch.emulating_pointer = FALSE;
	deliver(w, e, NULL);
}

static void test_pen(struct client_window *w, double x, double y, double pressure, double tx,
		     double ty, const char *flags)
{
	bool contact = strstr(flags, "contact"), eraser = strstr(flags, "eraser");
	bool b1 = strstr(flags, "b1"), b2 = strstr(flags, "b2"), out = strstr(flags, "out");
	GdkDevice *dev = eraser ? w->test->eraser : w->test->pen;
	GdkModifierType state = (contact ? GDK_BUTTON1_MASK : 0) | (b1 ? GDK_BUTTON2_MASK : 0) |
				(b2 ? GDK_BUTTON3_MASK : 0);
	GdkEvent *e;
	double ax, ay;

	if (!dev) {
		log_warn("test: no pen device on this display");
		return;
	}
	desk_to_area(w, x, y, &ax, &ay);
	test_pressure = pressure;
	test_tilt_x = tx;
	test_tilt_y = ty;
	if (out) {
		e = gdk_event_new(GDK_PROXIMITY_OUT);
		deliver(w, e, dev);
		return;
	}
	/* a button change first (tip down or up, barrel buttons), then the motion */
	for (unsigned b = 1; b <= 3; b++) {
		bool now = b == 1 ? contact : b == 2 ? b1 : b2;
		bool was = b == 1 ? w->pen_contact : b == 2 ? w->pen_b1 : w->pen_b2;
		if (now == was)
			continue;
		e = gdk_event_new(now ? GDK_BUTTON_PRESS : GDK_BUTTON_RELEASE);
		e->button.x = ax;
		e->button.y = ay;
		e->button.button = b;
		e->button.time = (guint32)now_ms();
		deliver(w, e, dev);
	}
	e = gdk_event_new(GDK_MOTION_NOTIFY);
	e->motion.x = ax;
	e->motion.y = ay;
	e->motion.state = state;
	e->motion.time = (guint32)now_ms();
	deliver(w, e, dev);
}

static gboolean test_step(gpointer ud)
{
	struct client_window *w = ud;
	struct test_script *t = w->test;

	t->timer = 0;
	while (t->lines[t->next]) {
		const char *line = t->lines[t->next++];
		char word[16], flags[64];
		unsigned id, ms;
		double x, y, p, tx, ty;

		if (sscanf(line, "wait %u", &ms) == 1) {
			t->timer = g_timeout_add(ms, test_step, w);
			return G_SOURCE_REMOVE;
		} else if (sscanf(line, "touch %15s %u %lf %lf", word, &id, &x, &y) == 4) {
			test_touch(w, word, id, x, y);
		} else if (sscanf(line, "pen %lf %lf %lf %lf %lf %63s", &x, &y, &p, &tx, &ty,
				  flags) == 6) {
			test_pen(w, x, y, p, tx, ty, flags);
		} else if (*line && *line != '#') {
			log_warn("test: cannot read '%s'", line);
		}
	}
	log_info("test: done");
	return G_SOURCE_REMOVE;
}

static void test_start(struct client_window *w)
{
	struct test_script *t;
	char *text = NULL;
	GError *err = NULL;

	if (!w->cfg.test_events || w->test)
		return;
	if (!g_file_get_contents(w->cfg.test_events, &text, NULL, &err)) {
		log_error("test: %s", err->message);
		g_error_free(err);
		return;
	}
	t = g_new0(struct test_script, 1);
	t->lines = g_strsplit(text, "\n", -1);
	g_free(text);
	t->pen = test_device(w, GDK_SOURCE_PEN);
	t->eraser = test_device(w, GDK_SOURCE_ERASER);
	w->test = t;
	log_info("test: playing %s", w->cfg.test_events);
	t->timer = g_timeout_add(200, test_step, w);
}

/* ---- window ---------------------------------------------------------------------- */

static gboolean delete_cb(GtkWidget *widget, GdkEvent *e, gpointer ud)
{
	struct client_window *w = ud;
	(void)widget;
	(void)e;

	if (w->cfg.kiosk) {
		log_info("close request ignored (kiosk mode: use the admin key combination)");
		return TRUE;
	}
	quit(w);
	return TRUE;
}

static void destroy_cb(GtkWidget *widget, gpointer ud)
{
	struct client_window *w = ud;
	(void)widget;
	w->window = NULL;
	quit(w);
}

static gboolean state_cb(GtkWidget *widget, GdkEventWindowState *e, gpointer ud)
{
	struct client_window *w = ud;
	(void)widget;

	w->fullscreen = e->new_window_state & GDK_WINDOW_STATE_FULLSCREEN;
	if (w->cfg.kiosk && !w->fullscreen && !w->quitting)
		gtk_window_fullscreen(GTK_WINDOW(w->window)); /* a kiosk stays full screen */
	return FALSE;
}

static void realize_cb(GtkWidget *widget, gpointer ud)
{
	struct client_window *w = ud;
	(void)widget;
	apply_cursor(w);
}

static const char *css =
	".hr-status { background-color: rgba(20, 20, 20, 0.82); color: #f0f0f0;"
	" border-radius: 10px; padding: 24px 32px; }"
	".hr-status-title { font-size: 20pt; font-weight: bold; }"
	".hr-status-detail { font-size: 11pt; }"
	".hr-stats { background-color: rgba(0, 0, 0, 0.7); color: #e8ffe8;"
	" font-family: monospace; font-size: 10pt; padding: 6px 10px;"
	" margin: 8px; border-radius: 6px; }"
	".hr-notice { background-color: rgba(20, 20, 20, 0.82); color: #f0f0f0;"
	" font-size: 11pt; padding: 8px 16px; margin: 16px; border-radius: 8px; }"
	".hr-audio { background-color: rgba(20, 20, 20, 0.82); color: #f0f0f0;"
	" padding: 4px 8px; margin: 8px; border-radius: 6px; }"
	".hr-mic { background-color: rgba(20, 20, 20, 0.82); color: #ff3030;"
	" font-weight: bold; padding: 4px 10px; margin: 8px; border-radius: 6px; }";

static void build(struct client_window *w)
{
	struct view_cbs vcbs = {
		.shown = view_shown, .fallback = view_fallback, .area = view_area, .userdata = w};
	GtkCssProvider *prov = gtk_css_provider_new();
	GdkDisplay *display;
	GdkRectangle geo = {0, 0, 1280, 720};
	GdkMonitor *mon;

	gtk_css_provider_load_from_data(prov, css, -1, NULL);
	gtk_style_context_add_provider_for_screen(gdk_screen_get_default(),
						  GTK_STYLE_PROVIDER(prov),
						  GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
	g_object_unref(prov);

	w->window = gtk_window_new(GTK_WINDOW_TOPLEVEL);
	gtk_window_set_title(GTK_WINDOW(w->window), "Highrise");
	display = gtk_widget_get_display(w->window);
	mon = gdk_display_get_primary_monitor(display);
	if (!mon)
		mon = gdk_display_get_monitor(display, 0);
	if (mon)
		gdk_monitor_get_workarea(mon, &geo);
	gtk_window_set_default_size(GTK_WINDOW(w->window), geo.width * 3 / 4, geo.height * 3 / 4);
	w->blank = gdk_cursor_new_from_name(display, "none");

	{
		char gl[200], note[300] = "";
		if (w->cfg.use_gl && !w->cfg.gl_software && view_gl_is_software(gl, sizeof(gl))) {
			log_info("drawing with cairo: OpenGL is a software rasterizer here (%s), "
				 "and cairo is faster on a CPU (--renderer gl to insist)",
				 gl);
			w->cfg.use_gl = false;
			snprintf(note, sizeof(note), "cairo (OpenGL would be %s)", gl);
		}
		w->view = view_new(w->cfg.use_gl, &vcbs);
		if (note[0])
			view_set_renderer_note(w->view, note);
	}
	/* resize: fitted until the session says whether the desktop can follow the window */
	w->want_resize = w->cfg.scale == VIEW_SCALE_RESIZE;
	view_set_scale(w->view, w->want_resize ? VIEW_SCALE_FIT : w->cfg.scale);
	w->events = view_input_widget(w->view); /* over the picture, under the scrollbars */
	gtk_widget_add_events(w->events, GDK_POINTER_MOTION_MASK | GDK_BUTTON_PRESS_MASK |
						 GDK_BUTTON_RELEASE_MASK | GDK_SCROLL_MASK |
						 GDK_SMOOTH_SCROLL_MASK | GDK_TOUCH_MASK |
						 GDK_PROXIMITY_IN_MASK | GDK_PROXIMITY_OUT_MASK);

	w->overlay = gtk_overlay_new();
	gtk_container_add(GTK_CONTAINER(w->overlay), view_widget(w->view));

	w->status = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
	gtk_style_context_add_class(gtk_widget_get_style_context(w->status), "hr-status");
	gtk_widget_set_halign(w->status, GTK_ALIGN_CENTER);
	gtk_widget_set_valign(w->status, GTK_ALIGN_CENTER);
	w->title = gtk_label_new("Connecting…");
	gtk_style_context_add_class(gtk_widget_get_style_context(w->title), "hr-status-title");
	w->detail = gtk_label_new("");
	gtk_style_context_add_class(gtk_widget_get_style_context(w->detail), "hr-status-detail");
	gtk_label_set_line_wrap(GTK_LABEL(w->detail), TRUE);
	gtk_label_set_max_width_chars(GTK_LABEL(w->detail), 80);
	gtk_label_set_justify(GTK_LABEL(w->detail), GTK_JUSTIFY_CENTER);
	gtk_label_set_selectable(GTK_LABEL(w->detail), FALSE);
	gtk_box_pack_start(GTK_BOX(w->status), w->title, FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(w->status), w->detail, FALSE, FALSE, 0);
	gtk_overlay_add_overlay(GTK_OVERLAY(w->overlay), w->status);
	gtk_overlay_set_overlay_pass_through(GTK_OVERLAY(w->overlay), w->status, TRUE);
	w->notice = gtk_label_new("");
	gtk_style_context_add_class(gtk_widget_get_style_context(w->notice), "hr-notice");
	gtk_widget_set_halign(w->notice, GTK_ALIGN_CENTER);
	gtk_widget_set_valign(w->notice, GTK_ALIGN_END);
	gtk_label_set_line_wrap(GTK_LABEL(w->notice), TRUE);
	gtk_widget_set_no_show_all(w->notice, TRUE);
	gtk_overlay_add_overlay(GTK_OVERLAY(w->overlay), w->notice);
	gtk_overlay_set_overlay_pass_through(GTK_OVERLAY(w->overlay), w->notice, TRUE);

	/* sound controls, top right; they never take the keyboard from the desktop */
	w->audio_bar = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
	gtk_style_context_add_class(gtk_widget_get_style_context(w->audio_bar), "hr-audio");
	gtk_widget_set_halign(w->audio_bar, GTK_ALIGN_END);
	gtk_widget_set_valign(w->audio_bar, GTK_ALIGN_START);
	w->mute_btn = gtk_toggle_button_new_with_label("Sound on");
	w->volume_scale = gtk_scale_new_with_range(GTK_ORIENTATION_HORIZONTAL, 0, 100, 1);
	gtk_scale_set_draw_value(GTK_SCALE(w->volume_scale), TRUE);
	gtk_scale_set_digits(GTK_SCALE(w->volume_scale), 0);
	gtk_widget_set_size_request(w->volume_scale, 140, -1);
	w->mic_btn = gtk_toggle_button_new_with_label("Mic off");
	gtk_widget_set_can_focus(w->mute_btn, FALSE);
	gtk_widget_set_can_focus(w->volume_scale, FALSE);
	gtk_widget_set_can_focus(w->mic_btn, FALSE);
	gtk_box_pack_start(GTK_BOX(w->audio_bar), w->mute_btn, FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(w->audio_bar), w->volume_scale, FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(w->audio_bar), w->mic_btn, FALSE, FALSE, 0);
	gtk_widget_set_no_show_all(w->audio_bar, TRUE);
	gtk_widget_show(w->mute_btn);
	gtk_widget_show(w->volume_scale);
	gtk_widget_show(w->mic_btn);
	g_signal_connect(w->mute_btn, "toggled", G_CALLBACK(mute_toggled_cb), w);
	g_signal_connect(w->volume_scale, "value-changed", G_CALLBACK(volume_changed_cb), w);
	g_signal_connect(w->mic_btn, "toggled", G_CALLBACK(mic_toggled_cb), w);
	gtk_overlay_add_overlay(GTK_OVERLAY(w->overlay), w->audio_bar);
	/* while the microphone is live, always: the user must see that the desktop hears them */
	w->mic_label = gtk_label_new("● mic");
	gtk_style_context_add_class(gtk_widget_get_style_context(w->mic_label), "hr-mic");
	gtk_widget_set_halign(w->mic_label, GTK_ALIGN_START);
	gtk_widget_set_valign(w->mic_label, GTK_ALIGN_START);
	gtk_widget_set_no_show_all(w->mic_label, TRUE);
	gtk_overlay_add_overlay(GTK_OVERLAY(w->overlay), w->mic_label);
	gtk_overlay_set_overlay_pass_through(GTK_OVERLAY(w->overlay), w->mic_label, TRUE);
	gtk_container_add(GTK_CONTAINER(w->window), w->overlay);

	g_signal_connect(w->window, "key-press-event", G_CALLBACK(key_cb), w);
	g_signal_connect(w->window, "key-release-event", G_CALLBACK(key_cb), w);
	g_signal_connect(w->window, "focus-in-event", G_CALLBACK(focus_cb), w);
	g_signal_connect(w->window, "focus-out-event", G_CALLBACK(focus_cb), w);
	g_signal_connect(w->window, "delete-event", G_CALLBACK(delete_cb), w);
	g_signal_connect(w->window, "destroy", G_CALLBACK(destroy_cb), w);
	g_signal_connect(w->window, "window-state-event", G_CALLBACK(state_cb), w);
	g_signal_connect(w->events, "realize", G_CALLBACK(realize_cb), w);
	g_signal_connect(w->events, "motion-notify-event", G_CALLBACK(motion_cb), w);
	g_signal_connect(w->events, "button-press-event", G_CALLBACK(button_cb), w);
	g_signal_connect(w->events, "button-release-event", G_CALLBACK(button_cb), w);
	g_signal_connect(w->events, "scroll-event", G_CALLBACK(scroll_cb), w);
	g_signal_connect(w->events, "touch-event", G_CALLBACK(touch_cb), w);
	g_signal_connect(w->events, "proximity-in-event", G_CALLBACK(proximity_cb), w);
	g_signal_connect(w->events, "proximity-out-event", G_CALLBACK(proximity_cb), w);
	if (w->cfg.clipboard_max) {
		w->clip_box = g_rc_box_new0(struct clip_box);
		w->clip_box->w = w;
		w->clipboard = gtk_widget_get_clipboard(w->window, GDK_SELECTION_CLIPBOARD);
		g_signal_connect(w->clipboard, "owner-change", G_CALLBACK(owner_change_cb), w);
	}

	if (w->cfg.kiosk) {
		gtk_window_set_decorated(GTK_WINDOW(w->window), FALSE);
		gtk_window_set_deletable(GTK_WINDOW(w->window), FALSE);
		gtk_window_set_default_size(GTK_WINDOW(w->window), geo.width, geo.height);
		gtk_window_move(GTK_WINDOW(w->window), geo.x, geo.y);
	}
	if (w->cfg.kiosk || w->cfg.fullscreen)
		gtk_window_fullscreen(GTK_WINDOW(w->window));
	gtk_widget_show_all(w->window);
	gtk_widget_hide(w->detail);
}

static unsigned keysym_from_name(const char *name)
{
	guint k = gdk_keyval_from_name(name);
	return k == GDK_KEY_VoidSymbol ? 0 : gdk_keyval_to_lower(k);
}

struct client_window *client_window_new(const struct client_cfg *cfg)
{
	struct client_window *w = calloc(1, sizeof(*w));
	struct net_cfg ncfg = {0};
	const char *combo;

	if (!w)
		return NULL;
	w->cfg = *cfg;
	snprintf(w->host, sizeof(w->host), "%s", cfg->host);
	w->state = SESSION_CONNECTING;
	combo = cfg->admin_combo ? cfg->admin_combo : DEFAULT_ADMIN_COMBO;
	if (combo_parse(combo, keysym_from_name, &w->admin_mods, &w->admin_keysym) < 0) {
		log_error("cannot read the admin key combination \"%s\" (write e.g. "
			  "ctrl+alt+shift+q)",
			  combo);
		free(w);
		return NULL;
	}
	if (combo_parse(cfg->stats_combo ? cfg->stats_combo : DEFAULT_STATS_COMBO, keysym_from_name,
			&w->stats_mods, &w->stats_keysym) < 0 ||
	    combo_parse(cfg->scale_combo ? cfg->scale_combo : DEFAULT_SCALE_COMBO, keysym_from_name,
			&w->scale_mods, &w->scale_keysym) < 0) {
		log_error("cannot read the --stats-keys or --scale-keys combination (write e.g. "
			  "ctrl+alt+shift+s)");
		free(w);
		return NULL;
	}
	/* fixed: they cannot fail to parse */
	combo_parse(MUTE_COMBO, keysym_from_name, &w->mute_mods, &w->mute_keysym);
	combo_parse(VOLUME_UP_COMBO, keysym_from_name, &w->vup_mods, &w->vup_keysym);
	combo_parse(VOLUME_DOWN_COMBO, keysym_from_name, &w->vdown_mods, &w->vdown_keysym);
	combo_parse(MIC_COMBO, keysym_from_name, &w->mic_mods, &w->mic_keysym);
	w->volume = cfg->volume > 0 && cfg->volume <= 100 ? cfg->volume : 100;
	w->mic_on = cfg->mic && !cfg->no_mic;
	if (cfg->trace_file) {
		w->trace = fopen(cfg->trace_file, "w");
		if (!w->trace) {
			log_error("cannot write the trace file %s: %s (check the directory)",
				  cfg->trace_file, strerror(errno));
			free(w);
			return NULL;
		}
		setvbuf(w->trace, NULL, _IOLBF, 0); /* whole lines, readable while we run */
		fprintf(w->trace, "# F frame capture_us decoded_us decode_us shown_us "
				  "(CLOCK_REALTIME; capture is the agent's clock)\n"
				  "# O overlay text, lines joined by |\n");
	}
	stats_series_init(&w->period_latency);
	stats_series_init(&w->period_decode);
	w->same_host = host_is_local(cfg->host);
	build(w);
	audio_bar_update(w, false);
	status_show(w, "Connecting…", NULL);

	ncfg.session.host = w->host;
	ncfg.session.port = cfg->port;
	ncfg.session.ca_file = cfg->ca_file;
	ncfg.session.pin_sha256 = cfg->pin;
	ncfg.session.verify_name = cfg->verify_name;
	ncfg.session.ticket_file = cfg->ticket_file;
	ncfg.session.client_name = cfg->client_name ? cfg->client_name : "highrise-client";
	ncfg.session.decoder_hw = cfg->decoder;
	ncfg.retry_always = cfg->kiosk;
	ncfg.want_bgra = !w->cfg.use_gl || w->bgra_from_start;
	ncfg.wake = wake;
	ncfg.userdata = w;
	/* touch and pen always; the clipboard unless --no-clipboard */
	ncfg.session.caps = MSG_CAP_H264 | MSG_CAP_CURSOR | MSG_CAP_TOUCH | MSG_CAP_PEN |
			    (cfg->clipboard_max ? MSG_CAP_CLIPBOARD : 0);
	ncfg.clipboard_max = cfg->clipboard_max;
	ncfg.prepare = cfg->prepare;
	ncfg.prepare_ud = cfg->prepare_ud;
	ncfg.session.no_audio = cfg->no_audio;
	ncfg.session.offer_mic = !cfg->no_mic;
	ncfg.audio_sink = cfg->audio_sink;
	ncfg.volume = w->volume;
	ncfg.mic_source = cfg->mic_source;
	ncfg.mic_on = w->mic_on;
	w->net = net_new(&ncfg);
	if (!w->net) {
		client_window_free(w);
		return NULL;
	}
	w->period_start = g_get_monotonic_time();
	w->stats_timer = g_timeout_add(STATS_PERIOD_MS, stats_tick, w);
	if (cfg->stats)
		stats_toggle(w, true);
	return w;
}

void client_window_free(struct client_window *w)
{
	if (!w)
		return;
	w->quitting = true;
	net_free(w->net); /* joins the thread: no wake() after this */
	w->net = NULL;
	if (w->countdown_id)
		g_source_remove(w->countdown_id);
	if (w->gesture_timer)
		g_source_remove(w->gesture_timer);
	if (w->settle_id)
		g_source_remove(w->settle_id);
	if (w->notice_id)
		g_source_remove(w->notice_id);
	if (w->audio_bar_id)
		g_source_remove(w->audio_bar_id);
	test_free(w->test);
	if (w->clipboard)
		g_signal_handlers_disconnect_by_data(w->clipboard, w);
	if (w->clip_box) {
		w->clip_box->w = NULL; /* requests still in flight find nobody */
		g_rc_box_release(w->clip_box);
	}
	g_free(w->clip_last);
	/* a dispatch that was queued must not run on freed memory */
	while (g_source_remove_by_user_data(w))
		;
	/* the view first: it disconnects from its widgets while they are alive */
	view_free(w->view);
	if (w->window) {
		g_signal_handlers_disconnect_by_data(w->mute_btn, w);
		g_signal_handlers_disconnect_by_data(w->volume_scale, w);
		g_signal_handlers_disconnect_by_data(w->mic_btn, w);
		g_signal_handlers_disconnect_by_data(w->window, w);
		gtk_widget_destroy(w->window);
	}
	g_clear_object(&w->cursor);
	g_clear_object(&w->blank);
	if (w->trace)
		fclose(w->trace);
	stats_series_deinit(&w->period_latency);
	stats_series_deinit(&w->period_decode);
	free(w);
}
