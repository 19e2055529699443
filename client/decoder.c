/* SPDX-License-Identifier: MIT */
#include "decoder.h"

#include "avlog.h"
#include "log.h"

#include <errno.h>
#include <libyuv/convert_argb.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/hwcontext.h>
#include <libavutil/pixdesc.h>
#include <libavutil/pixfmt.h>
#include <libswscale/swscale.h>

#define DEFAULT_MAX_WIDTH  7680
#define DEFAULT_MAX_HEIGHT 4320
#define DIMENSION_MAX	   16384 /* MSG_DIMENSION_MAX: no desktop is larger */

struct decoder {
	AVCodecContext *ctx;
	AVPacket *pkt;
	AVFrame *next; /* what avcodec_receive_frame fills */
	AVFrame *last; /* the last good picture; decoder_frame points into it */
	struct SwsContext *sws;
	uint8_t *buf; /* the access unit plus AV_INPUT_BUFFER_PADDING_SIZE zeros */
	size_t buf_cap;
	int max_width, max_height;
	int desk_width, desk_height; /* 0: unknown */
	AVBufferRef *hw_device; /* VAAPI device when hardware decode was asked for and opened */
	char device[128];	/* its path */
	bool hw_active;
	char description[160];
	char fallback[320]; /* why auto decodes in software */
	bool need_key;
	/* the last size disagreement warned about, so it is said once */
	int warned_cw, warned_ch, warned_dw, warned_dh;
};

bool decoder_au_is_keyframe(const uint8_t *data, size_t len)
{
	/* ITU-T H.264 Annex B: NAL units follow 00 00 01; nal_unit_type is the low 5 bits */
	for (size_t i = 0; data && i + 3 < len; i++) {
		if (data[i] != 0 || data[i + 1] != 0 || data[i + 2] != 1)
			continue;
		if ((data[i + 3] & 0x1f) == 5) /* coded slice of an IDR picture */
			return true;
		i += 2;
	}
	return false;
}

int decoder_hw_parse(const char *name, enum decoder_hw *out)
{
	if (!name)
		return -EINVAL;
	if (!strcmp(name, "auto"))
		*out = DECODER_HW_AUTO;
	else if (!strcmp(name, "software"))
		*out = DECODER_HW_SOFTWARE;
	else if (!strcmp(name, "vaapi"))
		*out = DECODER_HW_VAAPI;
	else
		return -EINVAL;
	return 0;
}

#define VAAPI_HINT "no GPU here, or no permission: add the user to the render group"

static bool has_vaapi_hwaccel(const AVCodec *codec)
{
	for (int i = 0;; i++) {
		const AVCodecHWConfig *c = avcodec_get_hw_config(codec, i);
		if (!c)
			return false;
		if ((c->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX) &&
		    c->device_type == AV_HWDEVICE_TYPE_VAAPI)
			return true;
	}
}

/* Opens the VAAPI device for codec. 0, or a negative errno and a sentence in why. */
static int open_vaapi(const AVCodec *codec, const char *device, AVBufferRef **out, char *why,
		      size_t len)
{
	char err[AV_ERROR_MAX_STRING_SIZE];
	int rc;

	if (!has_vaapi_hwaccel(codec)) {
		snprintf(why, len,
			 "this libavcodec's %s decoder has no VAAPI hwaccel (FFmpeg was built "
			 "without VAAPI)",
			 codec->name);
		return -ENOTSUP;
	}
	/* say plainly when there is no GPU node at all; libva's own message is vaguer */
	if (access(device, R_OK | W_OK) < 0) {
		rc = -errno;
		snprintf(why, len, "cannot open the VAAPI device %s: %s", device, strerror(errno));
		return rc;
	}
	rc = av_hwdevice_ctx_create(out, AV_HWDEVICE_TYPE_VAAPI, device, NULL, 0);
	if (rc < 0) {
		av_strerror(rc, err, sizeof(err));
		snprintf(why, len,
			 "VAAPI does not start on %s: %s (check the GPU driver with vainfo)",
			 device, err);
		return -EIO;
	}
	return 0;
}

int decoder_probe(enum decoder_hw hw, const char *device, char *why, size_t len)
{
	const AVCodec *codec;
	AVBufferRef *dev = NULL;
	int rc;

	if (len)
		why[0] = '\0';
	if (hw != DECODER_HW_VAAPI)
		return 0;
	avlog_install();
	codec = avcodec_find_decoder(AV_CODEC_ID_H264);
	if (!codec) {
		snprintf(why, len, "this libavcodec has no H.264 decoder");
		return -ENOTSUP;
	}
	rc = open_vaapi(codec, device ? device : DECODER_VAAPI_DEVICE, &dev, why, len);
	av_buffer_unref(&dev);
	if (rc == -ENOENT || rc == -EACCES || rc == -EPERM) {
		size_t n = strlen(why);
		snprintf(why + n, len - n, " (%s)", VAAPI_HINT);
	}
	return rc;
}

static void describe_software(struct decoder *d)
{
	snprintf(d->description, sizeof(d->description), "software (libavcodec %s, %d thread%s)",
		 d->ctx->codec ? d->ctx->codec->name : "h264", d->ctx->thread_count,
		 d->ctx->thread_count == 1 ? "" : "s");
}

static void describe_vaapi(struct decoder *d)
{
	snprintf(d->description, sizeof(d->description), "VAAPI (libavcodec %s on %s)",
		 d->ctx->codec ? d->ctx->codec->name : "h264", d->device);
}

static bool is_yuv(int fmt)
{
	return fmt == AV_PIX_FMT_YUV420P || fmt == AV_PIX_FMT_YUVJ420P ||
	       fmt == AV_PIX_FMT_YUV444P || fmt == AV_PIX_FMT_YUVJ444P;
}

/*
 * libavcodec offers the formats it can decode this stream to, again at
 * every change of SPS; with a VAAPI device the hwaccel's surface format is
 * among them unless the hardware cannot take the stream (profile, size).
 * VAAPI has no H.264 4:4:4 profile: the agent's 4:4:4 still pictures decode
 * in software, and when the stream goes back to 4:2:0 (a new SPS, a key
 * frame) the hardware takes it again.
 */
static enum AVPixelFormat get_format(AVCodecContext *ctx, const enum AVPixelFormat *fmts)
{
	struct decoder *d = ctx->opaque;

	for (const enum AVPixelFormat *p = fmts; *p != AV_PIX_FMT_NONE; p++)
		if (*p == AV_PIX_FMT_VAAPI && d->hw_device) {
			if (!d->hw_active)
				log_info("decoder: VAAPI decodes this stream again (%dx%d, profile "
					 "%d)",
					 ctx->width, ctx->height, ctx->profile);
			d->hw_active = true;
			d->fallback[0] = '\0';
			describe_vaapi(d);
			return *p;
		}
	if (d->hw_active) {
		log_info("decoder: VAAPI cannot decode this stream (%dx%d, profile %d); decoding "
			 "in software while it lasts",
			 ctx->width, ctx->height, ctx->profile);
		snprintf(d->fallback, sizeof(d->fallback), "VAAPI cannot decode this stream");
		d->hw_active = false;
		describe_software(d);
	}
	for (const enum AVPixelFormat *p = fmts; *p != AV_PIX_FMT_NONE; p++)
		if (is_yuv(*p))
			return *p;
	return avcodec_default_get_format(ctx, fmts);
}

struct decoder *decoder_new(const struct decoder_cfg *cfg)
{
	enum decoder_hw hw = cfg ? cfg->hw : DECODER_HW_AUTO;
	const char *device = cfg && cfg->device ? cfg->device : DECODER_VAAPI_DEVICE;
	const AVCodec *codec;
	struct decoder *d;

	avlog_install();
	d = calloc(1, sizeof(*d));
	if (!d) {
		log_error("decoder: out of memory");
		return NULL;
	}
	d->max_width = cfg && cfg->max_width > 0 ? cfg->max_width : DEFAULT_MAX_WIDTH;
	d->max_height = cfg && cfg->max_height > 0 ? cfg->max_height : DEFAULT_MAX_HEIGHT;
	if (d->max_width > DIMENSION_MAX)
		d->max_width = DIMENSION_MAX;
	if (d->max_height > DIMENSION_MAX)
		d->max_height = DIMENSION_MAX;
	d->need_key = true;

	codec = avcodec_find_decoder(AV_CODEC_ID_H264);
	if (!codec) {
		log_error("decoder: this libavcodec has no H.264 decoder (install FFmpeg's "
			  "libavcodec with h264 enabled)");
		goto fail;
	}
	d->ctx = avcodec_alloc_context3(codec);
	d->pkt = av_packet_alloc();
	d->next = av_frame_alloc();
	d->last = av_frame_alloc();
	if (!d->ctx || !d->pkt || !d->next || !d->last) {
		log_error("decoder: out of memory");
		goto fail;
	}
	/* show each picture as soon as it is decoded: no reordering delay, no frame threads */
	d->ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
	d->ctx->flags2 |= AV_CODEC_FLAG2_FAST;
	d->ctx->thread_type = FF_THREAD_SLICE;
	d->ctx->thread_count = cfg && cfg->threads > 0 ? cfg->threads : 0;
	/* refuse a hostile SPS before its buffers are allocated (slack: macroblock alignment) */
	d->ctx->max_pixels = (int64_t)(d->max_width + 64) * (d->max_height + 16);
	if (hw != DECODER_HW_SOFTWARE) {
		char why[sizeof(d->fallback)];

		if (open_vaapi(codec, device, &d->hw_device, why, sizeof(why)) == 0) {
			d->ctx->hw_device_ctx = av_buffer_ref(d->hw_device);
			if (!d->ctx->hw_device_ctx) {
				log_error("decoder: out of memory");
				goto fail;
			}
			snprintf(d->device, sizeof(d->device), "%s", device);
			d->ctx->opaque = d;
			d->ctx->get_format = get_format;
			d->hw_active = true;
		} else if (hw == DECODER_HW_VAAPI) {
			log_error("decoder: %s; use --decoder auto to fall back to software", why);
			goto fail;
		} else {
			log_info("decoder: no hardware decode: %s; decoding in software", why);
			snprintf(d->fallback, sizeof(d->fallback), "%s", why);
		}
	}
	if (avcodec_open2(d->ctx, codec, NULL) < 0) {
		log_error("decoder: cannot open libavcodec's H.264 decoder");
		goto fail;
	}
	if (d->hw_active)
		describe_vaapi(d);
	else
		describe_software(d);
	log_debug("decoder: %s", d->description);
	return d;

fail:
	decoder_free(d);
	return NULL;
}

void decoder_free(struct decoder *d)
{
	if (!d)
		return;
	sws_freeContext(d->sws);
	av_frame_free(&d->last);
	av_frame_free(&d->next);
	av_packet_free(&d->pkt);
	avcodec_free_context(&d->ctx);
	av_buffer_unref(&d->hw_device);
	free(d->buf);
	free(d);
}

void decoder_set_size(struct decoder *d, int width, int height)
{
	if (width < 0 || height < 0 || width > DIMENSION_MAX || height > DIMENSION_MAX)
		width = height = 0;
	d->desk_width = width;
	d->desk_height = height;
}

bool decoder_needs_keyframe(const struct decoder *d)
{
	return d->need_key;
}

/* The decoder's picture as a decoder_frame, cropped to the desktop. */
static void fill(struct decoder *d, const AVFrame *f, struct decoder_frame *out)
{
	int cw = f->width, ch = f->height;
	int w = cw, h = ch;

	if (d->desk_width > 0 && d->desk_height > 0) {
		/* the padding of an odd size is one column or row; more is a disagreement */
		bool agree = cw >= d->desk_width && cw <= d->desk_width + 1 &&
			     ch >= d->desk_height && ch <= d->desk_height + 1;

		w = cw < d->desk_width ? cw : d->desk_width;
		h = ch < d->desk_height ? ch : d->desk_height;
		if (!agree && (d->warned_cw != cw || d->warned_ch != ch ||
			       d->warned_dw != d->desk_width || d->warned_dh != d->desk_height)) {
			log_warn("decoder: the stream's pictures are %dx%d but the desktop is "
				 "%dx%d; showing %dx%d until they agree",
				 cw, ch, d->desk_width, d->desk_height, w, h);
			d->warned_cw = cw;
			d->warned_ch = ch;
			d->warned_dw = d->desk_width;
			d->warned_dh = d->desk_height;
		}
	}
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < 3; i++) {
		out->plane[i] = f->data[i];
		out->stride[i] = f->linesize[i];
	}
	out->width = w;
	out->height = h;
	out->coded_width = cw;
	out->coded_height = ch;
	out->full_range = f->color_range == AVCOL_RANGE_JPEG || f->format == AV_PIX_FMT_YUVJ420P ||
			  f->format == AV_PIX_FMT_YUVJ444P;
	out->chroma444 = f->format == AV_PIX_FMT_YUV444P || f->format == AV_PIX_FMT_YUVJ444P;
	out->bt709 = f->colorspace == AVCOL_SPC_BT709;
	out->keyframe = f->key_frame != 0;
}

const char *decoder_describe(const struct decoder *d)
{
	return d->description;
}

bool decoder_is_hardware(const struct decoder *d)
{
	return d->hw_active;
}

const char *decoder_fallback_reason(const struct decoder *d)
{
	return d->fallback;
}

/*
 * A VAAPI surface copied to memory (NV12 as the drivers give it) and split
 * into the three planes of YUV 4:2:0 that the rest of the client takes:
 * d->next is replaced by the result. 0, -ENOMEM or -EIO.
 */
static int download(struct decoder *d)
{
	AVFrame *sw = av_frame_alloc(), *yuv = av_frame_alloc();
	char why[AV_ERROR_MAX_STRING_SIZE];
	int rc;

	if (!sw || !yuv) {
		rc = -ENOMEM;
		goto out;
	}
	rc = av_hwframe_transfer_data(sw, d->next, 0);
	if (rc < 0) {
		av_strerror(rc, why, sizeof(why));
		log_warn("decoder: cannot copy a VAAPI picture to memory: %s", why);
		rc = -EIO;
		goto out;
	}
	if (sw->format == AV_PIX_FMT_NV12) {
		int cw = (sw->width + 1) / 2, ch = (sw->height + 1) / 2;

		yuv->format = AV_PIX_FMT_YUV420P;
		yuv->width = sw->width;
		yuv->height = sw->height;
		if (av_frame_get_buffer(yuv, 0) < 0) {
			rc = -ENOMEM;
			goto out;
		}
		for (int y = 0; y < sw->height; y++)
			memcpy(yuv->data[0] + (size_t)y * yuv->linesize[0],
			       sw->data[0] + (size_t)y * sw->linesize[0], (size_t)sw->width);
		for (int y = 0; y < ch; y++) {
			const uint8_t *uv = sw->data[1] + (size_t)y * sw->linesize[1];
			uint8_t *u = yuv->data[1] + (size_t)y * yuv->linesize[1];
			uint8_t *v = yuv->data[2] + (size_t)y * yuv->linesize[2];

			for (int x = 0; x < cw; x++) {
				u[x] = uv[2 * x];
				v[x] = uv[2 * x + 1];
			}
		}
	} else {
		av_frame_move_ref(yuv, sw); /* check_picture says whether we can show it */
	}
	av_frame_copy_props(yuv, d->next);
	av_frame_unref(d->next);
	av_frame_move_ref(d->next, yuv);
	rc = 0;
out:
	av_frame_free(&sw);
	av_frame_free(&yuv);
	return rc;
}

/* After an error: forget the references and wait for the next IDR picture. */
static int broken(struct decoder *d)
{
	avcodec_flush_buffers(d->ctx);
	d->need_key = true;
	return -EBADMSG;
}

/* Checks a picture that came out of libavcodec. 0, or why it cannot be shown. */
static int check_picture(struct decoder *d, const AVFrame *f)
{
	if (f->decode_error_flags || (f->flags & AV_FRAME_FLAG_CORRUPT)) {
		log_warn("decoder: a picture came out damaged (errors concealed: 0x%x); waiting "
			 "for a key frame",
			 (unsigned)f->decode_error_flags);
		return -EBADMSG;
	}
	if (!is_yuv(f->format)) {
		const char *name = av_get_pix_fmt_name((enum AVPixelFormat)f->format);
		log_warn("decoder: pictures in %s are not supported (only 8-bit 4:2:0 and 4:4:4)",
			 name ? name : "an unknown format");
		return -ENOTSUP;
	}
	if (f->width < 1 || f->height < 1 || f->width > d->max_width || f->height > d->max_height ||
	    !f->data[0] || !f->data[1] || !f->data[2]) {
		log_warn("decoder: a %dx%d picture is outside 1x1..%dx%d", f->width, f->height,
			 d->max_width, d->max_height);
		return -E2BIG;
	}
	return 0;
}

int decoder_decode(struct decoder *d, const uint8_t *data, size_t len, struct decoder_frame *out)
{
	bool key, got = false;
	int rc, err = 0;

	if (!d || !data || !out || len == 0 || len > INT_MAX - AV_INPUT_BUFFER_PADDING_SIZE)
		return -EINVAL;
	key = decoder_au_is_keyframe(data, len);
	if (d->need_key && !key)
		return DECODER_SKIPPED;

	/* libavcodec may read AV_INPUT_BUFFER_PADDING_SIZE bytes past the end: copy with zeros */
	if (d->buf_cap < len + AV_INPUT_BUFFER_PADDING_SIZE) {
		size_t cap = len + AV_INPUT_BUFFER_PADDING_SIZE;
		uint8_t *nb = realloc(d->buf, cap);
		if (!nb)
			return -ENOMEM;
		d->buf = nb;
		d->buf_cap = cap;
	}
	memcpy(d->buf, data, len);
	memset(d->buf + len, 0, AV_INPUT_BUFFER_PADDING_SIZE);
	d->pkt->data = d->buf;
	d->pkt->size = (int)len;
	d->pkt->flags = key ? AV_PKT_FLAG_KEY : 0;
	rc = avcodec_send_packet(d->ctx, d->pkt);
	d->pkt->data = NULL;
	d->pkt->size = 0;
	if (rc < 0 && rc != AVERROR(EAGAIN)) {
		char why[AV_ERROR_MAX_STRING_SIZE];
		av_strerror(rc, why, sizeof(why));
		log_warn("decoder: libavcodec refused an access unit of %zu bytes: %s", len, why);
		return broken(d);
	}
	for (;;) {
		rc = avcodec_receive_frame(d->ctx, d->next);
		if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
			break;
		if (rc < 0) {
			char why[AV_ERROR_MAX_STRING_SIZE];
			av_strerror(rc, why, sizeof(why));
			log_warn("decoder: decoding failed: %s", why);
			return broken(d);
		}
		rc = d->next->format == AV_PIX_FMT_VAAPI ? download(d) : 0;
		if (rc == 0)
			rc = check_picture(d, d->next);
		if (rc < 0) {
			av_frame_unref(d->next);
			err = rc;
			continue;
		}
		av_frame_unref(d->last);
		av_frame_move_ref(d->last, d->next);
		got = true;
	}
	if (err == -EBADMSG)
		return broken(d);
	if (!got)
		return err < 0 ? err : DECODER_AGAIN;
	if (key)
		d->need_key = false;
	fill(d, d->last, out);
	return DECODER_OK;
}

int decoder_last_frame(const struct decoder *d, struct decoder_frame *out)
{
	if (!d->last->data[0])
		return -ENOENT;
	fill((struct decoder *)d, d->last, out);
	return 0;
}

int decoder_to_rgb(struct decoder *d, const struct decoder_frame *f, enum decoder_rgb_format fmt,
		   uint8_t *dst, int stride)
{
	enum AVPixelFormat dst_fmt = fmt == DECODER_BGRA ? AV_PIX_FMT_BGRA : AV_PIX_FMT_RGB24;
	int bpp = fmt == DECODER_BGRA ? 4 : 3;
	uint8_t *dst_planes[4] = {dst, NULL, NULL, NULL};
	int dst_strides[4] = {stride, 0, 0, 0};
	const int *coefs;

	if (!d || !f || !dst || f->width < 1 || f->height < 1 || !f->plane[0] ||
	    (fmt != DECODER_RGB24 && fmt != DECODER_BGRA) || stride / bpp < f->width)
		return -EINVAL;
	if (fmt == DECODER_BGRA) {
		/*
		 * libyuv: SIMD, about 5x libswscale's accurate path at 1080p, and
		 * this runs for every frame of the cairo renderer. Its "ARGB" is
		 * B, G, R, A in memory on little-endian machines: our BGRA.
		 */
		const struct YuvConstants *k =
			f->bt709 ? (f->full_range ? &kYuvF709Constants : &kYuvH709Constants)
				 : (f->full_range ? &kYuvJPEGConstants : &kYuvI601Constants);
		if ((f->chroma444 ? I444ToARGBMatrix : I420ToARGBMatrix)(
			    f->plane[0], f->stride[0], f->plane[1], f->stride[1], f->plane[2],
			    f->stride[2], dst, stride, k, f->width, f->height) != 0) {
			log_error("decoder: libyuv failed to convert a %dx%d picture", f->width,
				  f->height);
			return -EIO;
		}
		return 0;
	}
	/* full range is set below, not by the deprecated J formats */
	d->sws = sws_getCachedContext(
		d->sws, f->width, f->height, f->chroma444 ? AV_PIX_FMT_YUV444P : AV_PIX_FMT_YUV420P,
		f->width, f->height, dst_fmt, SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
		NULL, NULL, NULL);
	if (!d->sws) {
		log_error("decoder: libswscale cannot convert %dx%d YUV %s to %s", f->width,
			  f->height, f->chroma444 ? "4:4:4" : "4:2:0",
			  fmt == DECODER_BGRA ? "BGRA" : "RGB24");
		return -ENOMEM;
	}
	coefs = sws_getCoefficients(f->bt709 ? SWS_CS_ITU709 : SWS_CS_ITU601);
	sws_setColorspaceDetails(d->sws, coefs, f->full_range, coefs, 1, 0, 1 << 16, 1 << 16);
	if (sws_scale(d->sws, (const uint8_t *const *)f->plane, f->stride, 0, f->height, dst_planes,
		      dst_strides) != f->height) {
		log_error("decoder: libswscale failed to convert a %dx%d picture", f->width,
			  f->height);
		return -EIO;
	}
	return 0;
}
