/* SPDX-License-Identifier: MIT */
#include "view.h"

#include "log.h"

#include <epoxy/gl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIM_FACTOR 0.35f

struct view {
	struct view_cbs cbs;
	GtkWidget *top; /* the overlay: picture, scrollbars, statistics; we keep a reference */
	GtkWidget *events, *stack; /* the event box over the stack of GL area and drawing area */
	GtkWidget *gl, *da;
	GtkWidget *hbar, *vbar, *stats;
	GtkAdjustment *hadj, *vadj;
	bool use_gl, gl_ok;
	struct ui_frame *frame;
	bool frame_new;		  /* not uploaded / shown yet */
	struct ui_frame *painted; /* drawn in this paint: "shown" at after-paint */
	GdkFrameClock *clock;	  /* connected to after-paint while realized */
	bool dim;
	int desk_w, desk_h;
	enum view_scale scale;
	double off_x, off_y; /* 1:1 scroll offset, logical pixels */
	bool updating;	     /* setting the adjustments ourselves */
	int area_w, area_h;  /* the area's device pixels last told to cbs.area */
	guint scroll_idle;
	char gl_name[160];

	/* GL state (valid while the GL area is realized and gl_ok) */
	GLuint prog, vao, tex[3];
	GLint u_tex[3], u_matrix, u_offset, u_dim;
	int tex_w, tex_h; /* allocated texture size of plane 0 */
	bool tex_444;	  /* and whether planes 1 and 2 are as large */
};

/* ---- colour -------------------------------------------------------------- */

/*
 * rgb = M * (yuv - offset). BT.601 / BT.709 matrices (ITU-R BT.601-7 §2.5.1,
 * BT.709-6 §3); limited range scales Y by 255/219 and chroma by 255/224.
 * Column-major for glUniformMatrix3fv.
 */
static void colour_matrix(bool bt709, bool full, float m[9], float off[3])
{
	double kr = bt709 ? 0.2126 : 0.299, kb = bt709 ? 0.0722 : 0.114, kg = 1 - kr - kb;
	double ys = full ? 1.0 : 255.0 / 219.0, cs = full ? 1.0 : 255.0 / 224.0;
	double rv = 2 * (1 - kr), bu = 2 * (1 - kb);
	double gu = -bu * kb / kg, gv = -rv * kr / kg;

	/* columns: Y, U, V */
	m[0] = (float)ys, m[1] = (float)ys, m[2] = (float)ys;
	m[3] = 0.0f, m[4] = (float)(gu * cs), m[5] = (float)(bu * cs);
	m[6] = (float)(rv * cs), m[7] = (float)(gv * cs), m[8] = 0.0f;
	off[0] = full ? 0.0f : 16.0f / 255.0f;
	off[1] = off[2] = 128.0f / 255.0f;
}

/* ---- fit ------------------------------------------------------------------ */

static void picture_size(const struct view *v, int *w, int *h)
{
	if (v->frame) {
		*w = v->frame->width;
		*h = v->frame->height;
	} else {
		*w = v->desk_w;
		*h = v->desk_h;
	}
}

/* The picture in an area of aw x ah logical pixels: fit or 1:1 with the scroll offsets. */
static struct fit layout(struct view *v, double aw, double ah)
{
	int pw, ph, sf = gtk_widget_get_scale_factor(v->events);

	picture_size(v, &pw, &ph);
	if (v->scale == VIEW_SCALE_ONE)
		return fit_one_to_one(aw, ah, pw, ph, sf, &v->off_x, &v->off_y);
	return fit_compute(aw, ah, pw, ph);
}

struct fit view_fit(struct view *v)
{
	return layout(v, gtk_widget_get_allocated_width(v->events),
		      gtk_widget_get_allocated_height(v->events));
}

/* ---- 1:1 scrolling --------------------------------------------------------------- */

/* Shows the scrollbars where the picture is larger than the area, and sets their range. */
static void update_scroll(struct view *v)
{
	int aw = gtk_widget_get_allocated_width(v->events);
	int ah = gtk_widget_get_allocated_height(v->events);
	int sf = gtk_widget_get_scale_factor(v->events);
	bool one = v->scale == VIEW_SCALE_ONE;
	double lw, lh;
	int pw, ph;

	picture_size(v, &pw, &ph);
	lw = (double)pw / sf;
	lh = (double)ph / sf;
	layout(v, aw, ah); /* clamps the offsets to the new sizes */
	v->updating = true;
	if (one && lw > aw)
		gtk_adjustment_configure(v->hadj, v->off_x, 0, lw, 16, aw * 0.9, aw);
	if (one && lh > ah)
		gtk_adjustment_configure(v->vadj, v->off_y, 0, lh, 16, ah * 0.9, ah);
	v->updating = false;
	gtk_widget_set_visible(v->hbar, one && lw > aw);
	gtk_widget_set_visible(v->vbar, one && lh > ah);
}

static gboolean scroll_idle_cb(gpointer ud)
{
	struct view *v = ud;
	v->scroll_idle = 0;
	update_scroll(v);
	return G_SOURCE_REMOVE;
}

/* Not from inside size-allocate: showing a scrollbar there would ask for another one. */
static void queue_update_scroll(struct view *v)
{
	if (!v->scroll_idle)
		v->scroll_idle = g_idle_add(scroll_idle_cb, v);
}

static void redraw(struct view *v);

static void adj_changed(GtkAdjustment *adj, gpointer ud)
{
	struct view *v = ud;
	int sf = gtk_widget_get_scale_factor(v->events);
	/* whole device pixels, so the picture stays pixel-exact on HiDPI too */
	double val = round(gtk_adjustment_get_value(adj) * sf) / sf;

	if (v->updating)
		return;
	if (adj == v->hadj)
		v->off_x = val;
	else
		v->off_y = val;
	log_debug("view: 1:1, scrolled to +%.0f+%.0f", v->off_x * sf, v->off_y * sf);
	redraw(v);
}

void view_area_size(struct view *v, int *width, int *height)
{
	int sf = gtk_widget_get_scale_factor(v->events);

	*width = gtk_widget_get_allocated_width(v->events) * sf;
	*height = gtk_widget_get_allocated_height(v->events) * sf;
}

static void tell_area(struct view *v)
{
	int w, h;

	view_area_size(v, &w, &h);
	if (v->cbs.area && w > 0 && h > 0 && (w != v->area_w || h != v->area_h))
		v->cbs.area(v, w, h, v->cbs.userdata);
	v->area_w = w;
	v->area_h = h;
}

static void events_allocate(GtkWidget *w, GdkRectangle *r, gpointer ud)
{
	(void)w;
	(void)r;
	queue_update_scroll(ud);
	tell_area(ud);
}

static void events_scale_factor(GObject *o, GParamSpec *ps, gpointer ud)
{
	(void)o;
	(void)ps;
	tell_area(ud);
}

/* ---- GL ------------------------------------------------------------------- */

static const char *vertex_src =
	"out vec2 tc;\n"
	"void main() {\n"
	"  vec2 p = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));\n"
	"  tc = vec2(p.x, 1.0 - p.y);\n"
	"  gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);\n"
	"}\n";

static const char *fragment_src =
	"in vec2 tc;\n"
	"out vec4 color;\n"
	"uniform sampler2D tex_y, tex_u, tex_v;\n"
	"uniform mat3 matrix;\n"
	"uniform vec3 offset;\n"
	"uniform float dim;\n"
	"void main() {\n"
	"  vec3 yuv = vec3(texture(tex_y, tc).r, texture(tex_u, tc).r, texture(tex_v, tc).r);\n"
	"  vec3 rgb = clamp(matrix * (yuv - offset), 0.0, 1.0);\n"
	"  color = vec4(rgb * dim, 1.0);\n"
	"}\n";

static GLuint compile(GLenum type, const char *header, const char *src, char *err, size_t len)
{
	GLuint sh = glCreateShader(type);
	const char *parts[2] = {header, src};
	GLint ok = 0;

	glShaderSource(sh, 2, parts, NULL);
	glCompileShader(sh);
	glGetShaderiv(sh, GL_COMPILE_STATUS, &ok);
	if (!ok) {
		glGetShaderInfoLog(sh, (GLsizei)len, NULL, err);
		glDeleteShader(sh);
		return 0;
	}
	return sh;
}

static bool gl_setup(struct view *v, char *err, size_t len)
{
	GdkGLContext *ctx = gtk_gl_area_get_context(GTK_GL_AREA(v->gl));
	bool es = ctx && gdk_gl_context_get_use_es(ctx);
	const char *vh = es ? "#version 300 es\n" : "#version 150\n";
	const char *fh = es ? "#version 300 es\nprecision mediump float;\n" : "#version 150\n";
	GLuint vs, fs;
	GLint ok = 0;

	vs = compile(GL_VERTEX_SHADER, vh, vertex_src, err, len);
	if (!vs)
		return false;
	fs = compile(GL_FRAGMENT_SHADER, fh, fragment_src, err, len);
	if (!fs) {
		glDeleteShader(vs);
		return false;
	}
	v->prog = glCreateProgram();
	glAttachShader(v->prog, vs);
	glAttachShader(v->prog, fs);
	glLinkProgram(v->prog);
	glDeleteShader(vs);
	glDeleteShader(fs);
	glGetProgramiv(v->prog, GL_LINK_STATUS, &ok);
	if (!ok) {
		glGetProgramInfoLog(v->prog, (GLsizei)len, NULL, err);
		glDeleteProgram(v->prog);
		v->prog = 0;
		return false;
	}
	v->u_tex[0] = glGetUniformLocation(v->prog, "tex_y");
	v->u_tex[1] = glGetUniformLocation(v->prog, "tex_u");
	v->u_tex[2] = glGetUniformLocation(v->prog, "tex_v");
	v->u_matrix = glGetUniformLocation(v->prog, "matrix");
	v->u_offset = glGetUniformLocation(v->prog, "offset");
	v->u_dim = glGetUniformLocation(v->prog, "dim");
	glGenVertexArrays(1, &v->vao);
	glGenTextures(3, v->tex);
	for (int i = 0; i < 3; i++) {
		glBindTexture(GL_TEXTURE_2D, v->tex[i]);
		glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
		glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
	}
	v->tex_w = v->tex_h = 0;
	return glGetError() == GL_NO_ERROR;
}

static void use_cairo(struct view *v, const char *why)
{
	if (!v->use_gl && !v->gl_ok && gtk_stack_get_visible_child(GTK_STACK(v->stack)) == v->da)
		return;
	log_warn("drawing with cairo: %s", why);
	v->gl_ok = false;
	v->use_gl = false;
	gtk_widget_show(v->da);
	gtk_stack_set_visible_child(GTK_STACK(v->stack), v->da);
	/* the frame we hold has no BGRA: the net thread sends it again converted */
	if (v->cbs.fallback)
		v->cbs.fallback(v, why, v->cbs.userdata);
}

static void gl_realize(GtkGLArea *area, gpointer ud)
{
	struct view *v = ud;
	char err[1024] = "";
	GError *e;

	gtk_gl_area_make_current(area);
	e = gtk_gl_area_get_error(area);
	if (e) {
		snprintf(err, sizeof(err), "no OpenGL context: %s", e->message);
		use_cairo(v, err);
		return;
	}
	if (!gl_setup(v, err, sizeof(err))) {
		char why[1100];
		snprintf(why, sizeof(why), "the YUV shader does not build: %s", err);
		use_cairo(v, why);
		return;
	}
	v->gl_ok = true;
	snprintf(v->gl_name, sizeof(v->gl_name), "OpenGL (%s)",
		 (const char *)glGetString(GL_RENDERER));
	log_info("drawing with OpenGL: %s", (const char *)glGetString(GL_RENDERER));
}

static void gl_unrealize(GtkGLArea *area, gpointer ud)
{
	struct view *v = ud;

	gtk_gl_area_make_current(area);
	if (gtk_gl_area_get_error(area) || !v->prog)
		return;
	glDeleteTextures(3, v->tex);
	glDeleteVertexArrays(1, &v->vao);
	glDeleteProgram(v->prog);
	v->prog = 0;
	v->tex_w = v->tex_h = 0;
}

static void upload(struct view *v)
{
	const struct ui_frame *f = v->frame;
	int cw = f->chroma444 ? f->width : (f->width + 1) / 2;
	int ch = f->chroma444 ? f->height : (f->height + 1) / 2;

	/* the shader samples by texture coordinates: the chroma textures may be either size */
	glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
	if (f->width != v->tex_w || f->height != v->tex_h || f->chroma444 != v->tex_444) {
		for (int i = 0; i < 3; i++) {
			glBindTexture(GL_TEXTURE_2D, v->tex[i]);
			glTexImage2D(GL_TEXTURE_2D, 0, GL_R8, i ? cw : f->width, i ? ch : f->height,
				     0, GL_RED, GL_UNSIGNED_BYTE, NULL);
		}
		v->tex_w = f->width;
		v->tex_h = f->height;
		v->tex_444 = f->chroma444;
	}
	for (int i = 0; i < 3; i++) {
		glBindTexture(GL_TEXTURE_2D, v->tex[i]);
		glPixelStorei(GL_UNPACK_ROW_LENGTH, f->stride[i]);
		glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, i ? cw : f->width, i ? ch : f->height,
				GL_RED, GL_UNSIGNED_BYTE, f->plane[i]);
	}
	glPixelStorei(GL_UNPACK_ROW_LENGTH, 0);
}

/* The frame was drawn in this paint: "shown" once the frame clock's paint is over. */
static void painted(struct view *v)
{
	if (!v->frame_new)
		return;
	v->frame_new = false;
	v->frame->painted_us = session_realtime_us();
	ui_frame_unref(v->painted);
	v->painted = ui_frame_ref(v->frame);
}

static void after_paint(GdkFrameClock *clock, gpointer ud)
{
	struct view *v = ud;
	struct ui_frame *f = v->painted;
	(void)clock;

	if (!f)
		return;
	v->painted = NULL;
	if (v->cbs.shown)
		v->cbs.shown(v, f, session_realtime_us(), v->cbs.userdata);
	ui_frame_unref(f);
}

static void top_realize(GtkWidget *w, gpointer ud)
{
	struct view *v = ud;

	v->clock = gtk_widget_get_frame_clock(w);
	if (v->clock)
		g_signal_connect(v->clock, "after-paint", G_CALLBACK(after_paint), v);
}

static void top_unrealize(GtkWidget *w, gpointer ud)
{
	struct view *v = ud;
	(void)w;

	if (v->clock)
		g_signal_handlers_disconnect_by_data(v->clock, v);
	v->clock = NULL;
}

static gboolean gl_render(GtkGLArea *area, GdkGLContext *ctx, gpointer ud)
{
	struct view *v = ud;
	int sf = gtk_widget_get_scale_factor(GTK_WIDGET(area));
	int lw = gtk_widget_get_allocated_width(GTK_WIDGET(area));
	int lh = gtk_widget_get_allocated_height(GTK_WIDGET(area));
	int ah = lh * sf;
	struct fit f;
	float m[9], off[3];
	GLint filter;
	(void)ctx;

	glViewport(0, 0, lw * sf, ah);
	glClearColor(0, 0, 0, 1);
	glClear(GL_COLOR_BUFFER_BIT);
	if (!v->gl_ok || !v->frame)
		return TRUE;
	if (v->frame_new)
		upload(v);
	f = layout(v, lw, lh);
	f.x *= sf, f.y *= sf, f.w *= sf, f.h *= sf;
	/* whole device pixels, so an unscaled picture maps 1:1 and stays sharp; in 1:1 mode
	 * the viewport reaches past the window by the scroll offset */
	glViewport((GLint)floor(f.x + 0.5), (GLint)floor(ah - (f.y + f.h) + 0.5),
		   (GLsizei)(f.w + 0.5), (GLsizei)(f.h + 0.5));
	filter = (int)(f.w + 0.5) == v->frame->width ? GL_NEAREST : GL_LINEAR;
	glUseProgram(v->prog);
	for (int i = 0; i < 3; i++) {
		glActiveTexture(GL_TEXTURE0 + (GLenum)i);
		glBindTexture(GL_TEXTURE_2D, v->tex[i]);
		glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, filter);
		glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, filter);
		glUniform1i(v->u_tex[i], i);
	}
	colour_matrix(v->frame->bt709, v->frame->full_range, m, off);
	glUniformMatrix3fv(v->u_matrix, 1, GL_FALSE, m);
	glUniform3fv(v->u_offset, 1, off);
	glUniform1f(v->u_dim, v->dim ? DIM_FACTOR : 1.0f);
	glBindVertexArray(v->vao);
	glDrawArrays(GL_TRIANGLE_STRIP, 0, 4);
	glBindVertexArray(0);
	glActiveTexture(GL_TEXTURE0);
	painted(v);
	return TRUE;
}

/* ---- cairo ---------------------------------------------------------------- */

static gboolean da_draw(GtkWidget *w, cairo_t *cr, gpointer ud)
{
	struct view *v = ud;
	const struct ui_frame *fr = v->frame;
	int sf = gtk_widget_get_scale_factor(w);
	cairo_surface_t *s;
	struct fit f;

	cairo_set_source_rgb(cr, 0, 0, 0);
	if (!fr || !fr->bgra) {
		cairo_paint(cr);
		return TRUE;
	}
	f = layout(v, gtk_widget_get_allocated_width(w), gtk_widget_get_allocated_height(w));
	if (v->dim) {
		cairo_paint(cr);
	} else {
		/* black only around the picture: every pixel is written once per frame */
		cairo_save(cr);
		cairo_set_fill_rule(cr, CAIRO_FILL_RULE_EVEN_ODD);
		cairo_rectangle(cr, 0, 0, gtk_widget_get_allocated_width(w),
				gtk_widget_get_allocated_height(w));
		cairo_rectangle(cr, f.x, f.y, f.w, f.h);
		cairo_fill(cr);
		cairo_restore(cr);
	}
	s = cairo_image_surface_create_for_data(fr->bgra, CAIRO_FORMAT_RGB24, fr->width, fr->height,
						fr->width * 4);
	cairo_save(cr);
	cairo_translate(cr, f.x, f.y);
	cairo_scale(cr, f.scale, f.scale);
	cairo_set_source_surface(cr, s, 0, 0);
	cairo_pattern_set_filter(cairo_get_source(cr), fabs(f.w * sf - fr->width) < 0.5
							       ? CAIRO_FILTER_NEAREST
							       : CAIRO_FILTER_GOOD);
	cairo_rectangle(cr, 0, 0, fr->width, fr->height);
	cairo_clip(cr);
	if (v->dim) {
		cairo_paint_with_alpha(cr, DIM_FACTOR);
	} else {
		cairo_set_operator(cr, CAIRO_OPERATOR_SOURCE); /* opaque: a copy, no blending */
		cairo_paint(cr);
	}
	cairo_restore(cr);
	cairo_surface_destroy(s);
	painted(v);
	return TRUE;
}

/* ---- public --------------------------------------------------------------- */

struct view *view_new(bool use_gl, const struct view_cbs *cbs)
{
	struct view *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	if (cbs)
		v->cbs = *cbs;
	v->use_gl = use_gl;
	v->top = g_object_ref_sink(gtk_overlay_new());
	v->stack = gtk_stack_new();
	v->da = gtk_drawing_area_new();
	g_signal_connect(v->da, "draw", G_CALLBACK(da_draw), v);
	gtk_stack_add_named(GTK_STACK(v->stack), v->da, "cairo");
	if (use_gl) {
		v->gl = gtk_gl_area_new();
		gtk_gl_area_set_auto_render(GTK_GL_AREA(v->gl), FALSE);
		gtk_gl_area_set_has_alpha(GTK_GL_AREA(v->gl), FALSE);
		gtk_gl_area_set_required_version(GTK_GL_AREA(v->gl), 3, 2);
		g_signal_connect(v->gl, "realize", G_CALLBACK(gl_realize), v);
		g_signal_connect(v->gl, "unrealize", G_CALLBACK(gl_unrealize), v);
		g_signal_connect(v->gl, "render", G_CALLBACK(gl_render), v);
		gtk_stack_add_named(GTK_STACK(v->stack), v->gl, "gl");
		gtk_widget_show(v->gl);
		gtk_stack_set_visible_child(GTK_STACK(v->stack), v->gl);
	} else {
		gtk_widget_show(v->da);
		gtk_stack_set_visible_child(GTK_STACK(v->stack), v->da);
	}
	gtk_widget_set_hexpand(v->stack, TRUE);
	gtk_widget_set_vexpand(v->stack, TRUE);
	gtk_widget_show(v->stack);

	/* pointer events over the picture only: the scrollbars above keep theirs */
	v->events = gtk_event_box_new();
	gtk_event_box_set_visible_window(GTK_EVENT_BOX(v->events), FALSE);
	gtk_event_box_set_above_child(GTK_EVENT_BOX(v->events), TRUE);
	gtk_container_add(GTK_CONTAINER(v->events), v->stack);
	g_signal_connect(v->events, "size-allocate", G_CALLBACK(events_allocate), v);
	g_signal_connect(v->events, "notify::scale-factor", G_CALLBACK(events_scale_factor), v);
	gtk_widget_show(v->events);
	gtk_container_add(GTK_CONTAINER(v->top), v->events);

	v->hadj = gtk_adjustment_new(0, 0, 1, 16, 100, 1);
	v->vadj = gtk_adjustment_new(0, 0, 1, 16, 100, 1);
	g_signal_connect(v->hadj, "value-changed", G_CALLBACK(adj_changed), v);
	g_signal_connect(v->vadj, "value-changed", G_CALLBACK(adj_changed), v);
	v->hbar = gtk_scrollbar_new(GTK_ORIENTATION_HORIZONTAL, v->hadj);
	v->vbar = gtk_scrollbar_new(GTK_ORIENTATION_VERTICAL, v->vadj);
	gtk_widget_set_valign(v->hbar, GTK_ALIGN_END);
	gtk_widget_set_halign(v->vbar, GTK_ALIGN_END);
	gtk_widget_set_no_show_all(v->hbar, TRUE);
	gtk_widget_set_no_show_all(v->vbar, TRUE);
	gtk_overlay_add_overlay(GTK_OVERLAY(v->top), v->hbar);
	gtk_overlay_add_overlay(GTK_OVERLAY(v->top), v->vbar);

	v->stats = gtk_label_new("");
	gtk_style_context_add_class(gtk_widget_get_style_context(v->stats), "hr-stats");
	gtk_widget_set_halign(v->stats, GTK_ALIGN_START);
	gtk_widget_set_valign(v->stats, GTK_ALIGN_START);
	gtk_label_set_xalign(GTK_LABEL(v->stats), 0);
	gtk_widget_set_no_show_all(v->stats, TRUE);
	gtk_overlay_add_overlay(GTK_OVERLAY(v->top), v->stats);
	gtk_overlay_set_overlay_pass_through(GTK_OVERLAY(v->top), v->stats, TRUE);

	g_signal_connect(v->top, "realize", G_CALLBACK(top_realize), v);
	g_signal_connect(v->top, "unrealize", G_CALLBACK(top_unrealize), v);
	gtk_widget_show(v->top);
	return v;
}

bool view_gl_is_software(char *name, size_t cap)
{
	GdkWindow *root = gdk_screen_get_root_window(gdk_screen_get_default());
	GdkGLContext *ctx = root ? gdk_window_create_gl_context(root, NULL) : NULL;
	const char *r;
	bool soft = false;

	if (cap)
		name[0] = '\0';
	if (!ctx || !gdk_gl_context_realize(ctx, NULL)) {
		g_clear_object(&ctx);
		return false; /* no GL at all: the GL area finds out and falls back itself */
	}
	gdk_gl_context_make_current(ctx);
	r = (const char *)glGetString(GL_RENDERER);
	if (r) {
		soft = strstr(r, "llvmpipe") || strstr(r, "softpipe") || strstr(r, "swrast");
		snprintf(name, cap, "%s", r);
	}
	gdk_gl_context_clear_current();
	g_object_unref(ctx);
	return soft;
}

void view_set_renderer_note(struct view *v, const char *note)
{
	if (v)
		snprintf(v->gl_name, sizeof(v->gl_name), "%s", note);
}

void view_free(struct view *v)
{
	if (!v)
		return;
	if (v->gl)
		g_signal_handlers_disconnect_by_data(v->gl, v);
	g_signal_handlers_disconnect_by_data(v->da, v);
	g_signal_handlers_disconnect_by_data(v->events, v);
	g_signal_handlers_disconnect_by_data(v->hadj, v);
	g_signal_handlers_disconnect_by_data(v->vadj, v);
	g_signal_handlers_disconnect_by_data(v->top, v);
	if (v->clock)
		g_signal_handlers_disconnect_by_data(v->clock, v);
	if (v->scroll_idle)
		g_source_remove(v->scroll_idle);
	g_clear_object(&v->top);
	ui_frame_unref(v->frame);
	ui_frame_unref(v->painted);
	free(v);
}

GtkWidget *view_widget(struct view *v)
{
	return v->top;
}

GtkWidget *view_input_widget(struct view *v)
{
	return v->events;
}

static void redraw(struct view *v)
{
	if (v->gl_ok)
		gtk_gl_area_queue_render(GTK_GL_AREA(v->gl));
	else
		gtk_widget_queue_draw(v->da);
}

void view_set_frame(struct view *v, struct ui_frame *f)
{
	bool resized = !v->frame || !f || v->frame->width != f->width ||
		       v->frame->height != f->height;

	ui_frame_unref(v->frame);
	v->frame = f;
	v->frame_new = true;
	if (resized)
		queue_update_scroll(v);
	redraw(v);
}

void view_set_dim(struct view *v, bool dim)
{
	if (v->dim == dim)
		return;
	v->dim = dim;
	redraw(v);
}

void view_set_desktop_size(struct view *v, int width, int height)
{
	v->desk_w = width;
	v->desk_h = height;
}

bool view_has_frame(struct view *v)
{
	return v->frame != NULL;
}

const char *view_renderer(struct view *v)
{
	return v->gl_ok ? "gl" : "cairo";
}

const char *view_renderer_detail(struct view *v)
{
	return v->gl_ok || v->gl_name[0] ? v->gl_name : "cairo";
}

const char *view_scale_name(enum view_scale s)
{
	return s == VIEW_SCALE_ONE ? "1:1" : s == VIEW_SCALE_RESIZE ? "resize" : "fit";
}

int view_scale_parse(const char *name, enum view_scale *out)
{
	if (!name)
		return -EINVAL;
	if (!strcmp(name, "fit"))
		*out = VIEW_SCALE_FIT;
	else if (!strcmp(name, "1:1") || !strcmp(name, "1"))
		*out = VIEW_SCALE_ONE;
	else if (!strcmp(name, "resize"))
		*out = VIEW_SCALE_RESIZE;
	else
		return -EINVAL;
	return 0;
}

void view_set_scale(struct view *v, enum view_scale s)
{
	if (s >= VIEW_SCALE_COUNT || v->scale == s)
		return;
	v->scale = s;
	v->off_x = v->off_y = 0;
	log_info("view: scaling %s", view_scale_name(s));
	update_scroll(v);
	redraw(v);
}

enum view_scale view_get_scale(struct view *v)
{
	return v->scale;
}

void view_get_offset(struct view *v, int *x, int *y)
{
	int sf = gtk_widget_get_scale_factor(v->events);

	view_fit(v); /* clamped to the current sizes */
	*x = (int)lround(v->off_x * sf);
	*y = (int)lround(v->off_y * sf);
}

void view_set_stats(struct view *v, const char *text)
{
	if (text)
		gtk_label_set_text(GTK_LABEL(v->stats), text);
	gtk_widget_set_visible(v->stats, text != NULL);
}

bool view_stats_visible(struct view *v)
{
	return gtk_widget_get_mapped(v->stats);
}
