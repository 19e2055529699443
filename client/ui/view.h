/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_UI_VIEW_H
#define HIGHRISE_CLIENT_UI_VIEW_H

/*
 * The desktop picture: a GtkGLArea that uploads the Y, U and V planes as
 * three GL_R8 textures (glTexSubImage2D) and converts to RGB in a fragment
 * shader (BT.601 or BT.709, limited or full range, as the stream says), or,
 * when no GL context can be made (or --renderer cairo), a GtkDrawingArea
 * painting BGRA pictures with cairo (converted on the net thread with
 * libswscale, decoder_to_rgb). Dimmed while the session is not connected.
 *
 * Scaling (view_set_scale): fit (letterboxed, the default), 1:1 (one
 * desktop pixel per device pixel, centred when smaller than the window,
 * with overlay scrollbars when larger), or resize: drawn as fit, while the
 * window asks the desktop to take the picture area's size (cbs->area), so
 * that once it has, fit is exactly 1:1. HiDPI: all work in device pixels;
 * the GL viewport and the cairo scale follow the scale factor.
 *
 * Widgets: view_widget() is a GtkOverlay holding the picture, the
 * scrollbars and the statistics label (view_set_stats); view_input_widget()
 * is the GtkEventBox over the picture alone, where the window takes
 * pointer events, so event coordinates are in view_fit()'s space and the
 * scrollbars keep their own clicks.
 *
 * "Shown" is reported from the frame clock's after-paint, i.e. after the
 * GL swap (or the cairo paint) that put the frame on screen.
 *
 * UI thread only. The view holds one reference to the frame it shows.
 */

#include "inputmap.h"
#include "net.h"

#include <gtk/gtk.h>
#include <stdbool.h>

struct view;

enum view_scale {
	VIEW_SCALE_FIT = 0, /* letterboxed into the window */
	VIEW_SCALE_ONE,	    /* 1:1 with scrolling */
	VIEW_SCALE_RESIZE,  /* fitted, and the desktop is resized to the window (RESIZE_REQUEST) */
	VIEW_SCALE_COUNT,
};

/* "fit", "1:1", "resize". */
const char *view_scale_name(enum view_scale s);
/* "fit", "1:1" (or "1"), "resize" -> *out; 0 or -EINVAL. */
int view_scale_parse(const char *name, enum view_scale *out);

struct view_cbs {
	/* the frame is on screen: painted and swapped at shown_us (CLOCK_REALTIME µs) */
	void (*shown)(struct view *v, const struct ui_frame *f, uint64_t shown_us, void *userdata);
	/* GL is unavailable: from now on the view wants BGRA frames */
	void (*fallback)(struct view *v, const char *why, void *userdata);
	/* the picture area changed size (or scale factor): now width x height device pixels */
	void (*area)(struct view *v, int width, int height, void *userdata);
	void *userdata;
};

struct view *view_new(bool use_gl, const struct view_cbs *cbs);
/*
 * Whether this display's OpenGL is a software rasterizer (Mesa llvmpipe,
 * softpipe, swrast), with its renderer name; false also when there is no GL.
 * On a CPU, libyuv's BGRA plus one cairo copy costs a fraction of llvmpipe's
 * full-screen shader passes (bench/client), so --renderer auto then draws
 * with cairo. UI thread, after gtk_init.
 */
bool view_gl_is_software(char *name, size_t cap);
/* What the overlay says after "renderer" when cairo was chosen, e.g. "cairo (OpenGL would be ...)". */
void view_set_renderer_note(struct view *v, const char *note);
/* Drops the widget reference; the widget dies with its parent. NULL does nothing. */
void view_free(struct view *v);
GtkWidget *view_widget(struct view *v);
/* The event box over the picture (borrowed; lives as long as the view's widget). */
GtkWidget *view_input_widget(struct view *v);

/* Takes ownership of the reference. */
void view_set_frame(struct view *v, struct ui_frame *f);
void view_set_dim(struct view *v, bool dim);
void view_set_desktop_size(struct view *v, int width, int height);

void view_set_scale(struct view *v, enum view_scale s);
enum view_scale view_get_scale(struct view *v);
/* 1:1: the scroll offset in desktop pixels (0, 0 in fit mode). */
void view_get_offset(struct view *v, int *x, int *y);
/* The picture area in device pixels (allocation x scale factor); 0x0 before allocation. */
void view_area_size(struct view *v, int *width, int *height);

/* The statistics overlay's text; NULL hides it. */
void view_set_stats(struct view *v, const char *text);
bool view_stats_visible(struct view *v);

/*
 * Where the picture is, in view_input_widget()'s logical pixels (for
 * pointer mapping): the fit rectangle, or the 1:1 placement with the
 * scroll offsets applied.
 */
struct fit view_fit(struct view *v);
bool view_has_frame(struct view *v);
/* "gl" or "cairo" (after realize), for logs and the status line. */
const char *view_renderer(struct view *v);
/* "OpenGL (llvmpipe (LLVM 15.0.6, 256 bits))" or "cairo", for the overlay. */
const char *view_renderer_detail(struct view *v);

#endif
