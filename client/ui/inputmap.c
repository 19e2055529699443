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
