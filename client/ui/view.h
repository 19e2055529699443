/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_UI_VIEW_H
#define HIGHRISE_CLIENT_UI_VIEW_H

/*
 * The desktop picture: a GtkGLArea that uploads the Y, U and V planes as
 * three GL_R8 textures (glTexSubImage2D) and converts to RGB in a fragment
 * shader (BT.601 or BT.709, limited or full range, as the stream says), or,
 * when no GL context can be made (or --renderer cairo), a GtkDrawingArea
 * painting BGRA pictures with cairo (converted on the net thread with
 * libswscale, decoder_to_rgb). Scaled to fit, letterboxed, in device pixels
 * (HiDPI: the GL viewport and the cairo scale follow the scale factor).
 * Dimmed while the session is not connected.
 *
 * UI thread only. The view holds one reference to the frame it shows.
 */

#include "inputmap.h"
#include "net.h"

#include <gtk/gtk.h>
#include <stdbool.h>

struct view;

struct view_cbs {
	/* the frame is on screen (after the GL render / cairo draw that showed it) */
	void (*shown)(struct view *v, const struct ui_frame *f, void *userdata);
	/* GL is unavailable: from now on the view wants BGRA frames */
	void (*fallback)(struct view *v, const char *why, void *userdata);
	void *userdata;
};

struct view *view_new(bool use_gl, const struct view_cbs *cbs);
/* Drops the widget reference; the widget dies with its parent. NULL does nothing. */
void view_free(struct view *v);
GtkWidget *view_widget(struct view *v);

/* Takes ownership of the reference. */
void view_set_frame(struct view *v, struct ui_frame *f);
void view_set_dim(struct view *v, bool dim);
void view_set_desktop_size(struct view *v, int width, int height);

/* Where the picture is, in the widget's logical pixels (for pointer mapping). */
struct fit view_fit(struct view *v);
bool view_has_frame(struct view *v);
/* "gl" or "cairo" (after realize), for logs and the status line. */
const char *view_renderer(struct view *v);

#endif
