/* SPDX-License-Identifier: MIT */
/* Pointer, scroll, touch and pen from the picture's event box (window_priv.h). */
#include "window_priv.h"

#include "clock.h"
#include "log.h"

#include <math.h>

static bool is_pen(const GdkEvent *e);
static void pen_event(struct client_window *w, GdkEvent *e, double x, double y, bool in_range);

/* ---- pointer ------------------------------------------------------------------------ */

void pointer_init(struct client_window *w)
{
	w->ptr.test_pressure = w->ptr.test_tilt_x = w->ptr.test_tilt_y = NAN;
}

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
	if (w->ptr.have_pos && dx == w->ptr.last_x && dy == w->ptr.last_y)
		return false;
	w->ptr.last_x = dx;
	w->ptr.last_y = dy;
	w->ptr.have_pos = true;
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
		net_send_pointer(w->net, w->ptr.last_x, w->ptr.last_y, w->ptr.buttons);
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
		keys_grab(w);
	if (gdk_event_get_pointer_emulated((GdkEvent *)e))
		return TRUE;
	if (is_pen((GdkEvent *)e)) {
		/* tip = 1, barrel buttons = 2, 3 (as xf86-input-wacom reports them) */
		bool down = e->type == GDK_BUTTON_PRESS;
		if (e->button == 1)
			w->ptr.pen_contact = down;
		else if (e->button == 2)
			w->ptr.pen_b1 = down;
		else if (e->button == 3)
			w->ptr.pen_b2 = down;
		pen_event(w, (GdkEvent *)e, e->x, e->y, true);
		return TRUE;
	}
	if (w->state != SESSION_CONNECTED || !bit)
		return TRUE;
	map_pointer(w, e->x, e->y);
	if (e->type == GDK_BUTTON_PRESS)
		w->ptr.buttons |= bit;
	else
		w->ptr.buttons &= (uint8_t)~bit;
	net_send_pointer(w->net, w->ptr.last_x, w->ptr.last_y, w->ptr.buttons);
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
		net_send_pointer(w->net, w->ptr.last_x, w->ptr.last_y, w->ptr.buttons);
	scroll_accum_add(&w->ptr.scroll, dx, dy, &sx, &sy);
	if (sx || sy)
		net_send_scroll(w->net, sx, sy);
	return TRUE;
}

/* ---- touch ---------------------------------------------------------------------- */

static void pointer_to(struct client_window *w, double x, double y, bool force)
{
	if ((map_pointer(w, x, y) || force) && w->ptr.have_pos)
		net_send_pointer(w->net, w->ptr.last_x, w->ptr.last_y, w->ptr.buttons);
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
	w->ptr.gesture.zoomed = s != VIEW_SCALE_FIT;
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
				w->ptr.buttons |= bit;
			else
				w->ptr.buttons &= (uint8_t)~bit;
			if (w->ptr.have_pos)
				net_send_pointer(w->net, w->ptr.last_x, w->ptr.last_y,
						 w->ptr.buttons);
			break;
		case GESTURE_SCROLL:
			pointer_to(w, o->x, o->y, false);
			scroll_accum_add(&w->ptr.scroll, o->dx, o->dy, &sx, &sy);
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

	w->ptr.gesture_timer = 0;
	if (w->state == SESSION_CONNECTED)
		run_actions(w, a, gesture_tick(&w->ptr.gesture, (uint64_t)clock_mono_ms(), a));
	return G_SOURCE_REMOVE;
}

static void arm_gesture_timer(struct client_window *w)
{
	uint64_t due = gesture_deadline(&w->ptr.gesture), now = (uint64_t)clock_mono_ms();

	if (w->ptr.gesture_timer) {
		g_source_remove(w->ptr.gesture_timer);
		w->ptr.gesture_timer = 0;
	}
	if (due)
		w->ptr.gesture_timer = g_timeout_add(due > now ? (guint)(due - now) : 0,
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
		if (w->ptr.raw[i].seq == e->sequence)
			r = &w->ptr.raw[i];
		else if (!w->ptr.raw[i].seq && !free_slot)
			free_slot = &w->ptr.raw[i];
	}
	if (e->type == GDK_TOUCH_BEGIN) {
		if (r || !free_slot)
			return; /* a repeated begin, or more fingers than we track */
		r = free_slot;
		r->seq = e->sequence;
		r->id = w->ptr.raw_next++;
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
		    gesture_feed(&w->ptr.gesture, (uint64_t)clock_mono_ms(),
				 (uint32_t)GPOINTER_TO_UINT(e->sequence), phase, e->x, e->y, a));
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

/* A pen (or eraser) motion, press, release or proximity event: one PEN message. */
static void pen_event(struct client_window *w, GdkEvent *e, double x, double y, bool in_range)
{
	GdkDevice *d = gdk_event_get_source_device(e);
	struct pen_sample s = {
		.x = x,
		.y = y,
		.pressure = axis(e, GDK_AXIS_PRESSURE, w->ptr.test_pressure),
		.tilt_x = axis(e, GDK_AXIS_XTILT, w->ptr.test_tilt_x),
		.tilt_y = axis(e, GDK_AXIS_YTILT, w->ptr.test_tilt_y),
		.in_range = in_range,
		.contact = w->ptr.pen_contact && in_range,
		.eraser = d && gdk_device_get_source(d) == GDK_SOURCE_ERASER,
		.button1 = w->ptr.pen_b1 && in_range,
		.button2 = w->ptr.pen_b2 && in_range,
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
		w->ptr.pen_contact = w->ptr.pen_b1 = w->ptr.pen_b2 = false;
		if (w->ptr.have_pos)
			pen_event(w, (GdkEvent *)e, 0, 0, false);
	}
	return TRUE;
}

void pointer_connect(struct client_window *w)
{
	gtk_widget_add_events(w->events, GDK_POINTER_MOTION_MASK | GDK_BUTTON_PRESS_MASK |
						 GDK_BUTTON_RELEASE_MASK | GDK_SCROLL_MASK |
						 GDK_SMOOTH_SCROLL_MASK | GDK_TOUCH_MASK |
						 GDK_PROXIMITY_IN_MASK | GDK_PROXIMITY_OUT_MASK);
	g_signal_connect(w->events, "motion-notify-event", G_CALLBACK(motion_cb), w);
	g_signal_connect(w->events, "button-press-event", G_CALLBACK(button_cb), w);
	g_signal_connect(w->events, "button-release-event", G_CALLBACK(button_cb), w);
	g_signal_connect(w->events, "scroll-event", G_CALLBACK(scroll_cb), w);
	g_signal_connect(w->events, "touch-event", G_CALLBACK(touch_cb), w);
	g_signal_connect(w->events, "proximity-in-event", G_CALLBACK(proximity_cb), w);
	g_signal_connect(w->events, "proximity-out-event", G_CALLBACK(proximity_cb), w);
}

void pointer_release_buttons(struct client_window *w)
{
	if (w->ptr.buttons && w->ptr.have_pos) {
		w->ptr.buttons = 0;
		net_send_pointer(w->net, w->ptr.last_x, w->ptr.last_y, 0);
	}
}

void pointer_deinit(struct client_window *w)
{
	if (w->ptr.gesture_timer)
		g_source_remove(w->ptr.gesture_timer);
}
