/* SPDX-License-Identifier: MIT */
/* --test-events: synthesized touch and pen input for the tests (window_priv.h). */
#include "window_priv.h"

#include "clock.h"
#include "log.h"

#ifdef GDK_WINDOWING_X11
#include <gdk/gdkx.h>
#endif
#include <stdio.h>
#include <string.h>

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

void testplay_free(struct test_script *t)
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
	struct fit f = view_fit(w->view);

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
	e->touch.time = (guint32)clock_mono_ms();
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
	w->ptr.test_pressure = pressure;
	w->ptr.test_tilt_x = tx;
	w->ptr.test_tilt_y = ty;
	if (out) {
		e = gdk_event_new(GDK_PROXIMITY_OUT);
		deliver(w, e, dev);
		return;
	}
	/* a button change first (tip down or up, barrel buttons), then the motion */
	for (unsigned b = 1; b <= 3; b++) {
		bool now = b == 1 ? contact : b == 2 ? b1 : b2;
		bool was = b == 1 ? w->ptr.pen_contact : b == 2 ? w->ptr.pen_b1 : w->ptr.pen_b2;
		if (now == was)
			continue;
		e = gdk_event_new(now ? GDK_BUTTON_PRESS : GDK_BUTTON_RELEASE);
		e->button.x = ax;
		e->button.y = ay;
		e->button.button = b;
		e->button.time = (guint32)clock_mono_ms();
		deliver(w, e, dev);
	}
	e = gdk_event_new(GDK_MOTION_NOTIFY);
	e->motion.x = ax;
	e->motion.y = ay;
	e->motion.state = state;
	e->motion.time = (guint32)clock_mono_ms();
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

void testplay_start(struct client_window *w)
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
