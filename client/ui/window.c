/* SPDX-License-Identifier: MIT */
/*
 * The window's core: the widgets, the net thread's events, the view's
 * callbacks, resizing the desktop to the window, the agent's cursor, full
 * screen and kiosk, the lifecycle. The other concerns live beside it
 * (window_priv.h names them).
 */
#include "window_priv.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
			status_notice(w, w->control
						 ? "This desktop cannot be resized to the window: "
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
			status_show(w, "Connecting…",
				    strstr(ev->text, "resume proof")
					    ? "resuming your session"
					    : "presenting the connect ticket");
		} else if (ev->state == SESSION_CONNECTED) {
			w->control = ev->control;
			w->resizable = ev->resizable;
			w->snd.audio = ev->audio;
			w->snd.mic_allowed = ev->mic;
			if (w->snd.mic_on && !ev->mic && !w->cfg.no_mic)
				status_notice(w,
					      "The desktop does not take this client's microphone");
			w->desk_w = ev->width;
			w->desk_h = ev->height;
			view_set_desktop_size(w->view, ev->width, ev->height);
			w->shown = false;
			status_connected(w);
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
		keys_release_all(w);
		apply_cursor(w);
		log_warn("session closed: %s", ev->text);
		status_closed(w, ev);
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
			status_notice(w, ev->text); /* a notice: the desktop streams on, fitted */
		else if (ev->code == MSG_STATUS_OK)
			status_hide(w);
		else if (ev->code == MSG_STATUS_RESTARTING)
			status_show(w, "The desktop is restarting", ev->text);
		else if (ev->code == MSG_STATUS_CONSOLE_LOST)
			status_show(w, "The desktop is not responding", ev->text);
		else if (ev->code == MSG_STATUS_RESIZE_ON || ev->code == MSG_STATUS_RESIZE_OFF) {
			/* a SPICE guest's agent came or went: follow the window, or stop */
			w->resizable = w->control && ev->code == MSG_STATUS_RESIZE_ON;
			w->resize_told = false;
			log_info("the desktop %s", ev->text);
			if (w->want_resize)
				resize_start(w);
		} else if (ev->code == MSG_STATUS_CONTROL_ON ||
			   ev->code == MSG_STATUS_CONTROL_OFF) {
			w->control = ev->code == MSG_STATUS_CONTROL_ON;
			if (!w->control)
				w->resizable = false;
			status_notice(w, ev->text);
		} else {
			status_notice(w,
				      ev->text); /* §5.11: unknown codes are shown by their text */
		}
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
	if (f) {
		f->taken_us = session_realtime_us();
		view_set_frame(w->view, f);
	}
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
	if (f->number != UINT32_MAX && f->capture_us)
		overlay_frame_shown(w, f, shown_us);
	if (!w->shown || f->width != w->shown_w || f->height != w->shown_h) {
		log_info("showing the desktop: %dx%d pictures, drawn with %s", f->width, f->height,
			 view_renderer(w->view));
		w->shown_w = f->width;
		w->shown_h = f->height;
	}
	if (!w->shown) {
		w->shown = true;
		testplay_start(w);
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

/* ---- scaling ----------------------------------------------------------------------- */

void window_scale_cycle(struct client_window *w)
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
	overlay_refresh(w);
}

/* ---- the window, full screen and kiosk -------------------------------------------- */

void window_quit(struct client_window *w)
{
	if (w->quitting)
		return;
	w->quitting = true;
	gtk_main_quit();
}

void window_toggle_fullscreen(struct client_window *w)
{
	if (w->fullscreen)
		gtk_window_unfullscreen(GTK_WINDOW(w->window));
	else
		gtk_window_fullscreen(GTK_WINDOW(w->window));
}

static gboolean delete_cb(GtkWidget *widget, GdkEvent *e, gpointer ud)
{
	struct client_window *w = ud;
	(void)widget;
	(void)e;

	if (w->cfg.kiosk) {
		log_info("close request ignored (kiosk mode: use the admin key combination)");
		return TRUE;
	}
	window_quit(w);
	return TRUE;
}

static void destroy_cb(GtkWidget *widget, gpointer ud)
{
	struct client_window *w = ud;
	(void)widget;
	w->window = NULL;
	window_quit(w);
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

void window_add_overlay(struct client_window *w, GtkWidget *child, const char *css_class,
			GtkAlign halign, GtkAlign valign, bool pass_through)
{
	gtk_style_context_add_class(gtk_widget_get_style_context(child), css_class);
	gtk_widget_set_halign(child, halign);
	gtk_widget_set_valign(child, valign);
	gtk_overlay_add_overlay(GTK_OVERLAY(w->overlay), child);
	if (pass_through)
		gtk_overlay_set_overlay_pass_through(GTK_OVERLAY(w->overlay), child, TRUE);
}

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

	w->overlay = gtk_overlay_new();
	gtk_container_add(GTK_CONTAINER(w->overlay), view_widget(w->view));

	status_build(w);
	overlay_build(w);
	gtk_container_add(GTK_CONTAINER(w->window), w->overlay);

	keys_connect(w);
	g_signal_connect(w->window, "delete-event", G_CALLBACK(delete_cb), w);
	g_signal_connect(w->window, "destroy", G_CALLBACK(destroy_cb), w);
	g_signal_connect(w->window, "window-state-event", G_CALLBACK(state_cb), w);
	g_signal_connect(w->events, "realize", G_CALLBACK(realize_cb), w);
	pointer_connect(w);
	clipboard_init(w);

	if (w->cfg.kiosk) {
		gtk_window_set_decorated(GTK_WINDOW(w->window), FALSE);
		gtk_window_set_deletable(GTK_WINDOW(w->window), FALSE);
		gtk_window_set_default_size(GTK_WINDOW(w->window), geo.width, geo.height);
		gtk_window_move(GTK_WINDOW(w->window), geo.x, geo.y);
	}
	if (w->cfg.kiosk || w->cfg.fullscreen)
		gtk_window_fullscreen(GTK_WINDOW(w->window));
	gtk_widget_show_all(w->window);
	gtk_widget_hide(w->st.detail);
}

struct client_window *client_window_new(const struct client_cfg *cfg)
{
	struct client_window *w = calloc(1, sizeof(*w));
	struct net_cfg ncfg = {0};

	if (!w)
		return NULL;
	w->cfg = *cfg;
	snprintf(w->host, sizeof(w->host), "%s", cfg->host);
	w->state = SESSION_CONNECTING;
	pointer_init(w);
	if (keys_init(w, cfg) < 0 || overlay_init(w, cfg) < 0) {
		free(w);
		return NULL;
	}
	build(w);
	overlay_bar_update(w, false);
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
	/* 4:4:4, touch, pen and stage times (the statistics overlay) always; the clipboard
	 * unless --no-clipboard */
	ncfg.session.caps = MSG_CAP_H264 | MSG_CAP_H264_444 | MSG_CAP_CURSOR | MSG_CAP_TOUCH |
			    MSG_CAP_PEN | MSG_CAP_TIMING |
			    (cfg->clipboard_max ? MSG_CAP_CLIPBOARD : 0);
	ncfg.clipboard_max = cfg->clipboard_max;
	ncfg.prepare = cfg->prepare;
	ncfg.prepare_ud = cfg->prepare_ud;
	ncfg.session.no_audio = cfg->no_audio;
	ncfg.session.offer_mic = !cfg->no_mic;
	ncfg.audio_sink = cfg->audio_sink;
	ncfg.volume = w->snd.volume;
	ncfg.mic_source = cfg->mic_source;
	ncfg.mic_on = w->snd.mic_on;
	w->net = net_new(&ncfg);
	if (!w->net) {
		client_window_free(w);
		return NULL;
	}
	overlay_start(w);
	return w;
}

void client_window_free(struct client_window *w)
{
	if (!w)
		return;
	w->quitting = true;
	net_free(w->net); /* joins the thread: no wake() after this */
	w->net = NULL;
	status_deinit(w);
	pointer_deinit(w);
	if (w->settle_id)
		g_source_remove(w->settle_id);
	overlay_stop(w);
	testplay_free(w->test);
	clipboard_deinit(w);
	/* a dispatch that was queued must not run on freed memory */
	while (g_source_remove_by_user_data(w))
		;
	/* the view first: it disconnects from its widgets while they are alive */
	view_free(w->view);
	if (w->window) {
		g_signal_handlers_disconnect_by_data(w->snd.mute_btn, w);
		g_signal_handlers_disconnect_by_data(w->snd.volume_scale, w);
		g_signal_handlers_disconnect_by_data(w->snd.mic_btn, w);
		g_signal_handlers_disconnect_by_data(w->window, w);
		gtk_widget_destroy(w->window);
	}
	g_clear_object(&w->cursor);
	g_clear_object(&w->blank);
	overlay_deinit(w);
	free(w);
}
