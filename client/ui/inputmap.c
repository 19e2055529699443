/* SPDX-License-Identifier: MIT */
#include "inputmap.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct fit fit_compute(double area_w, double area_h, int desk_w, int desk_h)
{
	struct fit f = {0};
	double sx, sy;

	if (!(area_w > 0) || !(area_h > 0) || desk_w <= 0 || desk_h <= 0)
		return f;
	sx = area_w / desk_w;
	sy = area_h / desk_h;
	f.scale = sx < sy ? sx : sy;
	f.w = desk_w * f.scale;
	f.h = desk_h * f.scale;
	f.x = (area_w - f.w) / 2;
	f.y = (area_h - f.h) / 2;
	return f;
}

static uint16_t clamp_px(double v, int max)
{
	if (!(v >= 0))
		return 0;
	if (v > max - 1)
		return (uint16_t)(max - 1);
	return (uint16_t)v;
}

bool fit_to_desktop(const struct fit *f, int desk_w, int desk_h, double ax, double ay, uint16_t *dx,
		    uint16_t *dy)
{
	double x, y;

	*dx = *dy = 0;
	if (!(f->scale > 0) || desk_w <= 0 || desk_h <= 0 || desk_w > 65535 || desk_h > 65535)
		return false;
	x = floor((ax - f->x) / f->scale + 1e-9);
	y = floor((ay - f->y) / f->scale + 1e-9);
	*dx = clamp_px(x, desk_w);
	*dy = clamp_px(y, desk_h);
	return x >= 0 && y >= 0 && x < desk_w && y < desk_h;
}

uint8_t inputmap_button_bit(unsigned b)
{
	switch (b) {
	case 1:
	case 2:
	case 3:
		return (uint8_t)(1u << (b - 1));
	case 8:
	case 9:
		return (uint8_t)(1u << (b - 5)); /* protocol buttons 4, 5 */
	case 10:
	case 11:
	case 12:
		return (uint8_t)(1u << (b - 5)); /* protocol buttons 6-8 */
	default:
		return 0;
	}
}

static int16_t take(double *acc)
{
	double whole = trunc(*acc);

	if (whole > 32767)
		whole = 32767;
	if (whole < -32768)
		whole = -32768;
	*acc -= whole;
	return (int16_t)whole;
}

void scroll_accum_add(struct scroll_accum *a, double dx, double dy, int16_t *out_dx,
		      int16_t *out_dy)
{
	if (isfinite(dx))
		a->x += dx * 120.0;
	if (isfinite(dy))
		a->y += dy * 120.0;
	/* a huge burst must not grow without bound: what cannot be sent is dropped */
	if (fabs(a->x) > 32767)
		a->x = copysign(32767, a->x);
	if (fabs(a->y) > 32767)
		a->y = copysign(32767, a->y);
	*out_dx = take(&a->x);
	*out_dy = take(&a->y);
}

uint16_t inputmap_evdev_from_x11(unsigned hw)
{
	return hw >= 8 && hw < 8 + 65536 ? (uint16_t)(hw - 8) : 0;
}

int combo_parse(const char *text, unsigned (*name_to_keysym)(const char *name), unsigned *mods,
		unsigned *keysym)
{
	char buf[128], *save = NULL, *part, *last = NULL;
	unsigned m = 0;

	*mods = *keysym = 0;
	if (!text || !*text || strlen(text) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", text);
	for (part = strtok_r(buf, "+", &save); part; part = strtok_r(NULL, "+", &save)) {
		if (last) {
			/* everything before the last part is a modifier */
			if (!strcasecmp(last, "ctrl") || !strcasecmp(last, "control"))
				m |= COMBO_CTRL;
			else if (!strcasecmp(last, "alt"))
				m |= COMBO_ALT;
			else if (!strcasecmp(last, "shift"))
				m |= COMBO_SHIFT;
			else if (!strcasecmp(last, "super") || !strcasecmp(last, "win") ||
				 !strcasecmp(last, "meta"))
				m |= COMBO_SUPER;
			else
				return -EINVAL;
		}
		last = part;
	}
	if (!last)
		return -EINVAL;
	*keysym = name_to_keysym(last);
	if (!*keysym)
		return -EINVAL;
	*mods = m;
	return 0;
}

/* ---- gestures ---------------------------------------------------------------------------- */

static struct gesture_action *act(struct gesture_action *out, int *n, enum gesture_kind kind,
				  double x, double y)
{
	struct gesture_action *a = &out[(*n)++];

	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->x = x;
	a->y = y;
	return a;
}

static int find_point(const struct gesture *g, uint32_t id)
{
	for (int i = 0; i < 2; i++)
		if (g->pt[i].down && g->pt[i].id == id)
			return i;
	return -1;
}

static int fingers(const struct gesture *g)
{
	return g->pt[0].down + g->pt[1].down;
}

static double dist(double ax, double ay, double bx, double by)
{
	return hypot(ax - bx, ay - by);
}

/* Ends whatever is going on; a held button is released where the finger was. */
static void finish(struct gesture *g, struct gesture_action *out, int *n)
{
	if (g->mode == GESTURE_DRAG) {
		const struct gesture_point *p = g->pt[0].down ? &g->pt[0] : &g->pt[1];
		act(out, n, GESTURE_RELEASE, p->x, p->y)->button = 1;
	}
	g->mode = fingers(g) ? GESTURE_FINISHED : GESTURE_IDLE;
}

static void tap(struct gesture *g, uint64_t t, double x, double y, struct gesture_action *out,
		int *n)
{
	bool second = g->have_tap && t - g->last_tap_ms <= GESTURE_DOUBLE_TAP_MS &&
		      dist(x, y, g->last_tap_x, g->last_tap_y) <= 2 * GESTURE_SLOP;

	if (second && g->zoomed) {
		act(out, n, GESTURE_ZOOM_RESET, x, y);
		g->have_tap = false;
		return;
	}
	act(out, n, GESTURE_MOVE, x, y);
	act(out, n, GESTURE_PRESS, x, y)->button = 1;
	act(out, n, GESTURE_RELEASE, x, y)->button = 1;
	g->have_tap = !second;
	g->last_tap_ms = t;
	g->last_tap_x = x;
	g->last_tap_y = y;
}

static void two_update(struct gesture *g, struct gesture_action *out, int *n)
{
	const struct gesture_point *a = &g->pt[0], *b = &g->pt[1];
	double cx = (a->x + b->x) / 2, cy = (a->y + b->y) / 2;
	double d = dist(a->x, a->y, b->x, b->y);
	double ratio = g->d0 > 0 ? d / g->d0 : 1;
	struct gesture_action *o;

	if (g->mode == GESTURE_TWO) {
		if (fabs(ratio - 1) >= GESTURE_PINCH_RATIO)
			g->mode = GESTURE_PINCHING;
		else if (dist(cx, cy, g->cx0, g->cy0) > GESTURE_SLOP)
			g->mode = GESTURE_SCROLLING;
		else
			return;
		if (g->mode == GESTURE_SCROLLING) {
			/* the slop was travel too: scroll from the start */
			g->lcx = g->cx0;
			g->lcy = g->cy0;
		}
	}
	if (g->mode == GESTURE_SCROLLING) {
		o = act(out, n, GESTURE_SCROLL, cx, cy);
		/* the content follows the fingers: fingers up (dy < 0) scrolls down */
		o->dx = -(cx - g->lcx) / GESTURE_SCROLL_PX;
		o->dy = -(cy - g->lcy) / GESTURE_SCROLL_PX;
		g->lcx = cx;
		g->lcy = cy;
		if (o->dx == 0 && o->dy == 0)
			(*n)--;
	} else if (g->mode == GESTURE_PINCHING) {
		o = act(out, n, GESTURE_PINCH, cx, cy);
		o->scale = ratio;
		o->cx0 = g->cx0;
		o->cy0 = g->cy0;
		o->cx = cx;
		o->cy = cy;
	}
}

int gesture_feed(struct gesture *g, uint64_t t, uint32_t id, enum gesture_phase phase, double x,
		 double y, struct gesture_action *out)
{
	int n = 0, i = find_point(g, id);
	struct gesture_point *p;

	if (!isfinite(x) || !isfinite(y))
		return 0;
	n = gesture_tick(g, t, out); /* a long press that came due first */

	switch (phase) {
	case GESTURE_BEGIN:
		if (i >= 0)
			return n; /* a repeated BEGIN: ignore */
		i = !g->pt[0].down ? 0 : !g->pt[1].down ? 1 : -1;
		if (i < 0) {
			finish(g, out, &n); /* a third finger: nothing we know */
			return n;
		}
		p = &g->pt[i];
		*p = (struct gesture_point){true, id, x, y, x, y};
		if (g->mode == GESTURE_IDLE) {
			g->mode = GESTURE_PENDING;
			g->down_ms = t;
		} else if (g->mode == GESTURE_PENDING && fingers(g) == 2) {
			const struct gesture_point *a = &g->pt[0], *b = &g->pt[1];
			g->mode = GESTURE_TWO;
			g->cx0 = g->lcx = (a->x + b->x) / 2;
			g->cy0 = g->lcy = (a->y + b->y) / 2;
			g->d0 = dist(a->x, a->y, b->x, b->y);
		} else if (g->mode != GESTURE_FINISHED) {
			finish(g, out, &n); /* a second finger during a drag: the drag ends */
		}
		return n;

	case GESTURE_UPDATE:
		if (i < 0)
			return n;
		p = &g->pt[i];
		p->x = x;
		p->y = y;
		switch (g->mode) {
		case GESTURE_PENDING:
			if (dist(x, y, p->x0, p->y0) <= GESTURE_SLOP)
				break;
			g->mode = GESTURE_DRAG;
			act(&out[0], &n, GESTURE_MOVE, p->x0, p->y0);
			act(out, &n, GESTURE_PRESS, p->x0, p->y0)->button = 1;
			act(out, &n, GESTURE_MOVE, x, y);
			break;
		case GESTURE_DRAG:
			act(out, &n, GESTURE_MOVE, x, y);
			break;
		case GESTURE_TWO:
		case GESTURE_SCROLLING:
		case GESTURE_PINCHING:
			two_update(g, out, &n);
			break;
		default:
			break;
		}
		return n;

	case GESTURE_END:
	case GESTURE_CANCEL:
		if (i < 0)
			return n;
		p = &g->pt[i];
		if (phase == GESTURE_END) {
			p->x = x;
			p->y = y;
		}
		if (g->mode == GESTURE_PENDING && phase == GESTURE_END)
			tap(g, t, p->x0, p->y0, out, &n);
		else if (g->mode == GESTURE_DRAG && phase == GESTURE_END)
			act(out, &n, GESTURE_MOVE, x, y);
		if (g->mode == GESTURE_PENDING)
			g->mode = GESTURE_FINISHED;
		else if (g->mode != GESTURE_FINISHED)
			finish(g, out, &n); /* lifting one of two fingers ends the gesture too */
		p->down = false;
		if (!fingers(g))
			g->mode = GESTURE_IDLE;
		return n;
	}
	return n;
}

uint64_t gesture_deadline(const struct gesture *g)
{
	return g->mode == GESTURE_PENDING ? g->down_ms + GESTURE_LONG_PRESS_MS : 0;
}

int gesture_tick(struct gesture *g, uint64_t t, struct gesture_action *out)
{
	const struct gesture_point *p;
	int n = 0;

	if (g->mode != GESTURE_PENDING || t < g->down_ms + GESTURE_LONG_PRESS_MS)
		return 0;
	p = g->pt[0].down ? &g->pt[0] : &g->pt[1];
	act(out, &n, GESTURE_MOVE, p->x0, p->y0);
	act(out, &n, GESTURE_PRESS, p->x0, p->y0)->button = 3;
	act(out, &n, GESTURE_RELEASE, p->x0, p->y0)->button = 3;
	g->mode = GESTURE_FINISHED;
	g->have_tap = false;
	return n;
}

/* ---- pen -------------------------------------------------------------------------------- */

static int8_t tilt_deg(double v)
{
	if (!isfinite(v))
		return 0;
	v *= 90.0;
	if (v > 90)
		v = 90;
	if (v < -90)
		v = -90;
	return (int8_t)lround(v);
}

bool pen_map(const struct fit *f, int desk_w, int desk_h, const struct pen_sample *s,
	     struct msg_pen *out)
{
	double p = s->pressure;

	memset(out, 0, sizeof(*out));
	if (!(f->scale > 0))
		return false;
	fit_to_desktop(f, desk_w, desk_h, s->x, s->y, &out->x, &out->y);
	if (!isfinite(p))
		p = s->contact ? 1.0 : 0.0;
	if (p < 0)
		p = 0;
	if (p > 1)
		p = 1;
	out->pressure = (uint16_t)lround(p * 65535.0);
	out->tilt_x = tilt_deg(s->tilt_x);
	out->tilt_y = tilt_deg(s->tilt_y);
	if (s->in_range || s->contact)
		out->flags |= MSG_PEN_IN_RANGE;
	if (s->contact)
		out->flags |= MSG_PEN_CONTACT;
	if (s->eraser)
		out->flags |= MSG_PEN_ERASER;
	if (s->button1)
		out->flags |= MSG_PEN_BUTTON1;
	if (s->button2)
		out->flags |= MSG_PEN_BUTTON2;
	return true;
}

/* ---- clipboard ---------------------------------------------------------------------------- */

int clipboard_check(const char *text, size_t len, size_t max)
{
	if (len > max)
		return -EMSGSIZE;
	if (len && memchr(text, '\0', len))
		return -EINVAL;
	return 0;
}

static double place_axis(double area, double pic, double *off)
{
	if (pic <= area) {
		*off = 0;
		return (area - pic) / 2;
	}
	if (!(*off >= 0)) /* NaN too */
		*off = 0;
	if (*off > pic - area)
		*off = pic - area;
	return -*off;
}

struct fit fit_one_to_one(double area_w, double area_h, int desk_w, int desk_h, int scale_factor,
			  double *off_x, double *off_y)
{
	struct fit f = {0};
	double s = 1.0 / (scale_factor > 0 ? scale_factor : 1);

	if (area_w <= 0 || area_h <= 0 || desk_w <= 0 || desk_h <= 0) {
		*off_x = *off_y = 0;
		return f;
	}
	f.scale = s;
	f.w = desk_w * s;
	f.h = desk_h * s;
	f.x = place_axis(area_w, f.w, off_x);
	f.y = place_axis(area_h, f.h, off_y);
	return f;
}

void resize_settle_reset(struct resize_settle *r)
{
	r->asked_w = r->asked_h = 0;
}

void resize_settle_area(struct resize_settle *r, int w, int h, int64_t now_ms)
{
	if (w == r->want_w && h == r->want_h)
		return;
	r->want_w = w;
	r->want_h = h;
	r->changed_ms = now_ms;
}

static int clamp_size(int v)
{
	return v < 1 ? 1 : v > (int)MSG_RESIZE_REQUEST_MAX ? (int)MSG_RESIZE_REQUEST_MAX : v;
}

bool resize_settle_due(struct resize_settle *r, int64_t now_ms, int desk_w, int desk_h, int *w,
		       int *h, int *wait_ms)
{
	int cw, ch;
	int64_t quiet;

	*wait_ms = -1;
	if (r->want_w <= 0 || r->want_h <= 0)
		return false;
	cw = clamp_size(r->want_w);
	ch = clamp_size(r->want_h);
	if ((cw == desk_w && ch == desk_h) || (cw == r->asked_w && ch == r->asked_h))
		return false;
	quiet = now_ms - r->changed_ms;
	if (quiet < RESIZE_SETTLE_MS) {
		*wait_ms = (int)(RESIZE_SETTLE_MS - quiet);
		return false;
	}
	r->asked_w = *w = cw;
	r->asked_h = *h = ch;
	return true;
}
