/* SPDX-License-Identifier: MIT */
/* The shared clipboard, text only, both ways, never echoed (window_priv.h). */
#include "window_priv.h"

#include "log.h"

#include <string.h>

/* Outlives the window while a clipboard request is in flight. */
struct clip_box {
	struct client_window *w; /* NULL once the window is gone */
};

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
	if (w->clip.last && strcmp(w->clip.last, text) == 0)
		return; /* what the desktop gave us, or what we sent already */
	max = w->cfg.clipboard_max < CLIPBOARD_CLIENT_MAX ? w->cfg.clipboard_max
							  : CLIPBOARD_CLIENT_MAX;
	if (clipboard_check(text, len, max) < 0) {
		log_info("clipboard: %zu bytes copied here are over the limit of %zu bytes "
			 "(--clipboard-max): not sent to the desktop",
			 len, max);
		return;
	}
	g_free(w->clip.last);
	w->clip.last = g_strdup(text);
	net_send_clipboard(w->net, text, len);
}

static void owner_change_cb(GtkClipboard *cb, GdkEvent *e, gpointer ud)
{
	struct client_window *w = ud;
	(void)e;

	if (w->state != SESSION_CONNECTED)
		return;
	/* text only: other formats give NULL and are not shared */
	gtk_clipboard_request_text(cb, clip_text_cb, g_rc_box_acquire(w->clip.box));
}

void clipboard_from_desktop(struct client_window *w, const struct net_event *ev)
{
	if (!w->clip.board)
		return;
	g_free(w->clip.last);
	w->clip.last = g_strdup(ev->clip);
	gtk_clipboard_set_text(w->clip.board, ev->clip, (gint)ev->clip_len);
	log_info("clipboard: %zu bytes from the desktop", ev->clip_len);
}

void clipboard_init(struct client_window *w)
{
	if (!w->cfg.clipboard_max)
		return;
	w->clip.box = g_rc_box_new0(struct clip_box);
	w->clip.box->w = w;
	w->clip.board = gtk_widget_get_clipboard(w->window, GDK_SELECTION_CLIPBOARD);
	g_signal_connect(w->clip.board, "owner-change", G_CALLBACK(owner_change_cb), w);
}

void clipboard_deinit(struct client_window *w)
{
	if (w->clip.board)
		g_signal_handlers_disconnect_by_data(w->clip.board, w);
	if (w->clip.box) {
		w->clip.box->w = NULL; /* requests still in flight find nobody */
		g_rc_box_release(w->clip.box);
	}
	g_free(w->clip.last);
}
