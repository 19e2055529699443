/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_RECT_H
#define HIGHRISE_RECT_H

/*
 * A rectangle of screen pixels: the unit of damage that capture backends
 * report and the encoder converts. Coordinates are in pixels from the top
 * left corner; a rectangle with width or height <= 0 is empty.
 */

#include <stdint.h>

struct rect {
	int32_t x, y;
	int32_t width, height;
};

#endif
