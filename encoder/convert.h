/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CONVERT_H
#define HIGHRISE_CONVERT_H

/*
 * Colour conversion of damaged rectangles, RGB -> I420 (YUV 4:2:0, 8 bit,
 * BT.601 matrix, limited "studio" range: Y 16..235, U/V 16..240), or I444
 * (the same at full chroma resolution, cfg->chroma444), into a picture that
 * the caller keeps between frames. Only the rectangles are
 * written; the rest of the picture keeps what earlier calls put there.
 *
 * The 32-bit formats go through libyuv (ARGBToI420 and friends, about 1 ms
 * per 1080p frame; BGRA also to I444); the others, or every format when
 * cfg->force_swscale is set, through libswscale with the same matrix and
 * range.
 *
 * The picture is the source size rounded up to even numbers (4:2:0 has one
 * chroma sample per 2x2 pixels and H.264 cannot crop a single line). An odd
 * last column or row is repeated into the padding, so it costs nothing to
 * encode. Rectangles are clipped to the source and widened to even
 * coordinates, so every chroma sample is computed from all of its pixels.
 *
 * Threading: a struct convert is used by one thread at a time. Different
 * objects are independent.
 */

#include "rect.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Source pixel formats, named by their bytes in memory, first to last. */
enum convert_format {
	CONVERT_BGRA = 0, /* B,G,R,A (or X): X11, VNC and SPICE 32-bit, DRM XRGB8888 */
	CONVERT_RGBA,	  /* R,G,B,A (or X) */
	CONVERT_BGR24,	  /* B,G,R: 24-bit VNC */
	CONVERT_RGB24,	  /* R,G,B */
	CONVERT_RGB565,	  /* 16-bit little-endian, red in the high bits: 16-bit VNC */
	CONVERT_FORMAT_COUNT,
};

struct convert_cfg {
	int width, height;	    /* source size in pixels, 1..16384; required */
	enum convert_format format; /* of the source; 0 = CONVERT_BGRA */
	bool force_swscale;	    /* libswscale even where libyuv could do it (tests, benches) */
	bool chroma444;		    /* I444: chroma planes as large as the luma plane */
	/*
	 * libswscale with accurate rounding for every format: libyuv's 8-bit
	 * coefficients cost a round trip to RGB 46 dB on a colour picture
	 * where this gives 52 dB, for 4.5 instead of 0.7 ms per 1080p I444
	 * frame. For still pictures (the encoder's 4:4:4 path).
	 */
	bool accurate;
};

/*
 * The picture the caller owns; planes cover convert_picture_size() (I420:
 * the chroma planes half of it each way).
 */
struct convert_picture {
	uint8_t *plane[3]; /* Y, U (Cb), V (Cr) */
	int stride[3];
};

/* Returns NULL (and logs why) on invalid cfg or out of memory. */
struct convert *convert_new(const struct convert_cfg *cfg);
void convert_free(struct convert *conv);

/* The picture size: the source size rounded up to even numbers. */
void convert_picture_size(const struct convert *conv, int *width, int *height);

/* Bytes per source pixel of a format (2, 3 or 4); 0 for an invalid format. */
int convert_format_bpp(enum convert_format format);
const char *convert_format_name(enum convert_format format);

/*
 * Converts the damaged rectangles of src (the whole source: width x height
 * pixels, stride bytes per row, borrowed for the call) into dst. Rectangles
 * may overlap and may reach outside the source (they are clipped); empty ones
 * are skipped. rects == NULL with nrects == 0 converts nothing.
 *
 * Returns how many rectangles were converted (0 when all were empty or off
 * the source; many rectangles may be merged into their bounding box, which
 * counts as 1), or -EINVAL for a NULL src with rectangles, a stride shorter
 * than a row, or a dst without planes, or -EIO when libswscale fails.
 */
int convert_rects(struct convert *conv, const uint8_t *src, int stride, const struct rect *rects,
		  size_t nrects, const struct convert_picture *dst);

/* The whole source: convert_rects with one rectangle covering it. */
int convert_full(struct convert *conv, const uint8_t *src, int stride,
		 const struct convert_picture *dst);

#endif
