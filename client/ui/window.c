/* SPDX-License-Identifier: MIT */
#include "window.h"

#include "inputmap.h"
#include "log.h"
#include "net.h"
#include "view.h"

#include <gdk/gdkkeysyms.h>
#include <gtk/gtk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ADMIN_COMBO "ctrl+alt+shift+q"
#define KEYS_MAX	    768 /* evdev codes tracked as held (KEY_MAX is 0x2ff) */

struct client_window {
	struct client_cfg cfg;
	char host[256];
	GtkWidget *window, *overlay, *events, *status, *title, *detail;
	struct view *view;
	struct net *net;
	gint wake_pending; /* atomic: an idle dispatch is queued */
	guint idle_id, countdown_id;

	enum session_state state;
	bool control;
	int desk_w, desk_h;
	bool fullscreen;
	bool grabbed;
	bool quitting;
	bool shown; /* a picture of this connection is on screen */
	unsigned admin_mods, admin_keysym;

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
	uint8_t held[KEYS_MAX / 8];
	uint32_t held_sym[KEYS_MAX];

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

	if (net_is_trust_failure(ev->text)) {
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
	for (unsigned k = 0; k < KEYS_MAX; k++) {
		if (w->held[k / 8] & (1u << (k % 8))) {
			w->held[k / 8] &= (uint8_t) ~(1u << (k % 8));
			net_send_key(w->net, (uint16_t)k, w->held_sym[k], false);
		}
	}
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
			status_show(w, "Connecting…", d);
		} else if (ev->state == SESSION_AUTHENTICATING) {
			status_show(w, "Connecting…", "presenting the connect ticket");
		} else if (ev->state == SESSION_CONNECTED) {
			w->control = ev->control;
			w->desk_w = ev->width;
			w->desk_h = ev->height;
			view_set_desktop_size(w->view, ev->width, ev->height);
			w->reconnecting = w->unavailable = false;
			w->attempt = 0;
			w->shown = false;
			status_hide(w);
			log_info("connected: desktop %dx%d, %s", ev->width, ev->height,
				 ev->control ? "keyboard and mouse enabled" : "view only");
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
	case NET_EV_STATUS:
		if (ev->code == MSG_STATUS_OK)
			status_hide(w);
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

static void view_shown(struct view *v, const struct ui_frame *f, void *ud)
{
	struct client_window *w = ud;
	(void)v;
	if (!w->shown) {
		w->shown = true;
		log_info("showing the desktop: %dx%d pictures, drawn with %s", f->width, f->height,
			 view_renderer(w->view));
	}
	if (f->number != UINT32_MAX)
		net_ack(w->net, f->number, session_realtime_us());
}

static void view_fallback(struct view *v, const char *why, void *ud)
{
	struct client_window *w = ud;
	(void)v;
	(void)why;
	net_set_bgra(w->net, true);
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
	if (code < KEYS_MAX) {
		bool was = w->held[code / 8] & (1u << (code % 8));
		if (!down && !was)
			return TRUE; /* pressed before we had focus: not ours to release */
		if (down) {
			w->held[code / 8] |= (uint8_t)(1u << (code % 8));
			w->held_sym[code] = e->keyval;
		} else {
			w->held[code / 8] &= (uint8_t) ~(1u << (code % 8));
		}
	}
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

static bool map_pointer(struct client_window *w, double x, double y)
{
	struct fit f;
	uint16_t dx, dy;
	int dw = w->desk_w, dh = w->desk_h;

	if (dw <= 0 || dh <= 0)
		return false;
	f = fit_compute(gtk_widget_get_allocated_width(w->events),
			gtk_widget_get_allocated_height(w->events), dw, dh);
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

static const char *css = ".hr-status { background-color: rgba(20, 20, 20, 0.82); color: #f0f0f0;"
			 " border-radius: 10px; padding: 24px 32px; }"
			 ".hr-status-title { font-size: 20pt; font-weight: bold; }"
			 ".hr-status-detail { font-size: 11pt; }";

static void build(struct client_window *w)
{
	struct view_cbs vcbs = {.shown = view_shown, .fallback = view_fallback, .userdata = w};
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

	w->view = view_new(w->cfg.use_gl, &vcbs);
	w->events = gtk_event_box_new();
	gtk_event_box_set_visible_window(GTK_EVENT_BOX(w->events), FALSE);
	gtk_event_box_set_above_child(GTK_EVENT_BOX(w->events), TRUE);
	gtk_widget_add_events(w->events, GDK_POINTER_MOTION_MASK | GDK_BUTTON_PRESS_MASK |
						 GDK_BUTTON_RELEASE_MASK | GDK_SCROLL_MASK |
						 GDK_SMOOTH_SCROLL_MASK);
	gtk_container_add(GTK_CONTAINER(w->events), view_widget(w->view));

	w->overlay = gtk_overlay_new();
	gtk_container_add(GTK_CONTAINER(w->overlay), w->events);

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
	build(w);
	status_show(w, "Connecting…", NULL);

	ncfg.session.host = w->host;
	ncfg.session.port = cfg->port;
	ncfg.session.ca_file = cfg->ca_file;
	ncfg.session.pin_sha256 = cfg->pin;
	ncfg.session.verify_name = cfg->verify_name;
	ncfg.session.ticket_file = cfg->ticket_file;
	ncfg.session.client_name = cfg->client_name ? cfg->client_name : "highrise-client";
	ncfg.retry_always = cfg->kiosk;
	ncfg.want_bgra = !cfg->use_gl;
	ncfg.wake = wake;
	ncfg.userdata = w;
	w->net = net_new(&ncfg);
	if (!w->net) {
		client_window_free(w);
		return NULL;
	}
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
	/* a dispatch that was queued must not run on freed memory */
	while (g_source_remove_by_user_data(w))
		;
	/* the view first: it disconnects from its widgets while they are alive */
	view_free(w->view);
	if (w->window) {
		g_signal_handlers_disconnect_by_data(w->window, w);
		gtk_widget_destroy(w->window);
	}
	g_clear_object(&w->cursor);
	g_clear_object(&w->blank);
	free(w);
}
