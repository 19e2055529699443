/* SPDX-License-Identifier: MIT */
#include "convert.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/pixfmt.h>
#include <libswscale/swscale.h>
#include <libyuv/convert.h>
#include <libyuv/convert_from_argb.h>

/* Above this many rectangles one bounding box is cheaper than the calls. */
#define CONVERT_MAX_RECTS 64
#define CONVERT_MAX_SIZE  16384

typedef int (*yuv_fn)(const uint8_t *src, int src_stride, uint8_t *y, int y_stride, uint8_t *u,
		      int u_stride, uint8_t *v, int v_stride, int width, int height);

static const struct format_info {
	const char *name;
	int bpp;
	yuv_fn libyuv;	  /* to I420; NULL: libswscale only */
	yuv_fn libyuv444; /* to I444; NULL: libswscale only */
	enum AVPixelFormat av;
} formats[CONVERT_FORMAT_COUNT] = {
	/* libyuv names formats by a little-endian 32-bit word: its "ARGB" is B,G,R,A in memory. */
	[CONVERT_BGRA] = {"BGRA", 4, ARGBToI420, ARGBToI444, AV_PIX_FMT_BGR0},
	[CONVERT_RGBA] = {"RGBA", 4, ABGRToI420, NULL, AV_PIX_FMT_RGB0},
	[CONVERT_BGR24] = {"BGR24", 3, NULL, NULL, AV_PIX_FMT_BGR24},
	[CONVERT_RGB24] = {"RGB24", 3, NULL, NULL, AV_PIX_FMT_RGB24},
	[CONVERT_RGB565] = {"RGB565", 2, NULL, NULL, AV_PIX_FMT_RGB565LE},
};

struct convert {
	int width, height;	   /* source */
	int pic_width, pic_height; /* picture: rounded up to even */
	const struct format_info *info;
	yuv_fn libyuv; /* info's, for the output chosen; NULL: libswscale */
	int shift;     /* chroma subsampling: 1 for I420, 0 for I444 */
	bool use_swscale;
	struct SwsContext *sws; /* cached for the last rectangle size */
	bool accurate;		/* cfg->accurate */
	/* accurate: the context and size whose colourspace was set (a new context may reuse
	 * the address of the one sws_getCachedContext freed) */
	struct SwsContext *detailed;
	int detailed_w, detailed_h;
};

int convert_format_bpp(enum convert_format format)
{
	if ((unsigned)format >= CONVERT_FORMAT_COUNT)
		return 0;
	return formats[format].bpp;
}

const char *convert_format_name(enum convert_format format)
{
	if ((unsigned)format >= CONVERT_FORMAT_COUNT)
		return "invalid";
	return formats[format].name;
}

struct convert *convert_new(const struct convert_cfg *cfg)
{
	struct convert *conv;

	if (!cfg || cfg->width < 1 || cfg->height < 1 || cfg->width > CONVERT_MAX_SIZE ||
	    cfg->height > CONVERT_MAX_SIZE) {
		log_error("convert: invalid size %dx%d", cfg ? cfg->width : 0,
			  cfg ? cfg->height : 0);
		return NULL;
	}
	if ((unsigned)cfg->format >= CONVERT_FORMAT_COUNT) {
		log_error("convert: invalid source format %d", (int)cfg->format);
		return NULL;
	}
	conv = calloc(1, sizeof(*conv));
	if (!conv) {
		log_error("convert: out of memory");
		return NULL;
	}
	conv->width = cfg->width;
	conv->height = cfg->height;
	conv->pic_width = (cfg->width + 1) & ~1;
	conv->pic_height = (cfg->height + 1) & ~1;
	conv->info = &formats[cfg->format];
	conv->libyuv = cfg->chroma444 ? conv->info->libyuv444 : conv->info->libyuv;
	conv->shift = cfg->chroma444 ? 0 : 1;
	conv->accurate = cfg->accurate;
	conv->use_swscale = cfg->force_swscale || cfg->accurate || !conv->libyuv;
	log_debug("convert: %dx%d %s -> %s with %s", cfg->width, cfg->height, conv->info->name,
		  cfg->chroma444 ? "I444" : "I420", conv->use_swscale ? "libswscale" : "libyuv");
	return conv;
}

void convert_free(struct convert *conv)
{
	if (!conv)
		return;
	sws_freeContext(conv->sws);
	free(conv);
}

void convert_picture_size(const struct convert *conv, int *width, int *height)
{
	*width = conv->pic_width;
	*height = conv->pic_height;
}

/*
 * Clips r to the source and widens it to even coordinates; an odd source
 * size lets the far edge stay odd (the padding is filled by repetition).
 * Returns 0 for an empty result.
 */
static int normalise(const struct convert *conv, const struct rect *r, int *x0, int *y0, int *x1,
		     int *y1)
{
	int64_t l = r->x, t = r->y;
	int64_t rr = l + r->width, b = t + r->height;

	if (r->width <= 0 || r->height <= 0)
		return 0;
	if (l < 0)
		l = 0;
	if (t < 0)
		t = 0;
	if (rr > conv->width)
		rr = conv->width;
	if (b > conv->height)
		b = conv->height;
	if (l >= rr || t >= b)
		return 0;
	*x0 = (int)l & ~1;
	*y0 = (int)t & ~1;
	*x1 = (int)rr + ((int)rr & 1);
	*y1 = (int)b + ((int)b & 1);
	if (*x1 > conv->width)
		*x1 = conv->width;
	if (*y1 > conv->height)
		*y1 = conv->height;
	return 1;
}

static int convert_swscale(struct convert *conv, const uint8_t *src, int stride, int w, int h,
			   uint8_t *const dst[3], const int dst_stride[3])
{
	const uint8_t *src_planes[4] = {src, NULL, NULL, NULL};
	int src_strides[4] = {stride, 0, 0, 0};
	struct SwsContext *sws;

	/*
	 * Same size in and out: the flag only picks the chroma filter. SWS_AREA
	 * averages like libyuv's 2x2 box and takes ~6.5 ms per 1080p frame here
	 * where SWS_BILINEAR takes ~10.5 ms; a context for a new size costs ~0.07
	 * ms. The defaults (no sws_setColorspaceDetails, which costs 60% more time)
	 * give what libyuv gives: BT.601, limited range.
	 */
	int flags = conv->accurate ? SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_AREA : SWS_AREA;

	sws = sws_getCachedContext(conv->sws, w, h, conv->info->av, w, h,
				   conv->shift ? AV_PIX_FMT_YUV420P : AV_PIX_FMT_YUV444P, flags,
				   NULL, NULL, NULL);
	if (!sws) {
		conv->sws = NULL; /* sws_getCachedContext freed the old one */
		log_error("convert: libswscale cannot convert %s %dx%d", conv->info->name, w, h);
		return -EINVAL;
	}
	conv->sws = sws; /* libswscale's defaults for RGB -> YUV are BT.601, limited range */
	if (conv->accurate &&
	    (conv->detailed != sws || conv->detailed_w != w || conv->detailed_h != h)) {
		/* the same, said explicitly: it makes the accurate path exact (convert.h) */
		const int *k = sws_getCoefficients(SWS_CS_ITU601);
		sws_setColorspaceDetails(sws, k, 1, k, 0, 0, 1 << 16, 1 << 16);
		conv->detailed = sws;
		conv->detailed_w = w;
		conv->detailed_h = h;
	}
	if (sws_scale(sws, src_planes, src_strides, 0, h, dst, dst_stride) != h) {
		log_error("convert: libswscale failed on %dx%d", w, h);
		return -EIO;
	}
	return 0;
}

static int convert_one(struct convert *conv, const uint8_t *src, int stride, int x0, int y0, int x1,
		       int y1, const struct convert_picture *dst)
{
	const uint8_t *s = src + (size_t)y0 * (size_t)stride + (size_t)x0 * conv->info->bpp;
	int sh = conv->shift;
	uint8_t *d[3] = {
		dst->plane[0] + (size_t)y0 * (size_t)dst->stride[0] + (size_t)x0,
		dst->plane[1] + (size_t)(y0 >> sh) * (size_t)dst->stride[1] + (size_t)(x0 >> sh),
		dst->plane[2] + (size_t)(y0 >> sh) * (size_t)dst->stride[2] + (size_t)(x0 >> sh),
	};
	int w = x1 - x0, h = y1 - y0, ret, planes = sh ? 1 : 3;

	if (conv->use_swscale) {
		ret = convert_swscale(conv, s, stride, w, h, d, dst->stride);
		if (ret < 0)
			return ret;
	} else if (conv->libyuv(s, stride, d[0], dst->stride[0], d[1], dst->stride[1], d[2],
				dst->stride[2], w, h) != 0) {
		log_error("convert: libyuv refused %s %dx%d", conv->info->name, w, h);
		return -EINVAL;
	}

	/* Odd source size: repeat the last column and row into the padding (I444: every plane). */
	for (int p = 0; p < planes; p++) {
		if (x1 == conv->width && conv->width != conv->pic_width) {
			for (int y = y0; y < y1; y++) {
				uint8_t *row = dst->plane[p] + (size_t)y * (size_t)dst->stride[p];
				row[conv->width] = row[conv->width - 1];
			}
		}
		if (y1 == conv->height && conv->height != conv->pic_height) {
			int end = x1 == conv->width ? conv->pic_width : x1;
			uint8_t *last = dst->plane[p] +
					(size_t)(conv->height - 1) * (size_t)dst->stride[p];

			memcpy(last + dst->stride[p] + x0, last + x0, (size_t)(end - x0));
		}
	}
	return 0;
}

int convert_rects(struct convert *conv, const uint8_t *src, int stride, const struct rect *rects,
		  size_t nrects, const struct convert_picture *dst)
{
	int x0, y0, x1, y1, ret, count = 0;

	if (nrects == 0)
		return 0;
	if (!src || !rects || !dst || !dst->plane[0] || !dst->plane[1] || !dst->plane[2])
		return -EINVAL;
	if (stride < conv->width * conv->info->bpp || dst->stride[0] < conv->pic_width ||
	    dst->stride[1] < conv->pic_width >> conv->shift ||
	    dst->stride[2] < conv->pic_width >> conv->shift)
		return -EINVAL;

	if (nrects > CONVERT_MAX_RECTS) {
		int bx0 = conv->width, by0 = conv->height, bx1 = 0, by1 = 0;

		for (size_t i = 0; i < nrects; i++) {
			if (!normalise(conv, &rects[i], &x0, &y0, &x1, &y1))
				continue;
			bx0 = x0 < bx0 ? x0 : bx0;
			by0 = y0 < by0 ? y0 : by0;
			bx1 = x1 > bx1 ? x1 : bx1;
			by1 = y1 > by1 ? y1 : by1;
		}
		if (bx0 >= bx1 || by0 >= by1)
			return 0;
		ret = convert_one(conv, src, stride, bx0, by0, bx1, by1, dst);
		return ret < 0 ? ret : 1;
	}

	for (size_t i = 0; i < nrects; i++) {
		if (!normalise(conv, &rects[i], &x0, &y0, &x1, &y1))
			continue;
		ret = convert_one(conv, src, stride, x0, y0, x1, y1, dst);
		if (ret < 0)
			return ret;
		count++;
	}
	return count;
}

int convert_full(struct convert *conv, const uint8_t *src, int stride,
		 const struct convert_picture *dst)
{
	struct rect all = {0, 0, conv->width, conv->height};

	return convert_rects(conv, src, stride, &all, 1, dst);
}
