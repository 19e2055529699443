/* SPDX-License-Identifier: MIT */
#include "encoder.h"

#include "avlog.h"
#include "clock.h"
#include "error.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/dict.h>
#include <libavutil/frame.h>
#include <libavutil/rational.h>
#include <libavutil/error.h>
#include <libavutil/hwcontext.h>
#include <libavutil/opt.h>
#include <libyuv/convert_from.h>

#define DEFAULT_CODEC	     "libx264"
#define DEFAULT_BITRATE_KBPS 10000
#define DEFAULT_FPS	     30
/*
 * ultrafast with CABAC (x264_configure), measured with bench/agent at 1080p on 2 cores
 * (issue 14): against superfast, encode 8.5 vs 13.7 ms p50 on the animation and 34 vs
 * 51 % of a core, for 5 % more bytes while scrolling and 6 % fewer in the animation;
 * without CABAC scrolling cost 21 % more bytes.
 */
#define DEFAULT_PRESET	   "ultrafast"
#define DEFAULT_CRF	   20
#define DEFAULT_REFINE_CRF 8
#define DEFAULT_REFINE_MS  300
#define DEFAULT_VBV_MS	   1000
#define MAX_SIZE	   16384
#define MAX_VBV_MS	   10000
#define KEYINT_INFINITE	   (1 << 30) /* x264's X264_KEYINT_MAX_INFINITE */
#define META_RING	   64	     /* frames the codec may hold before output */
#define HELD_MAX	   8	     /* packets drained while the caller had not received */
#define HW_POOL_SIZE	   8
/*
 * 4:4:4 (encoder_allow_chroma444). A still picture goes 4:4:4 when 4:2:0
 * would cost it the 45 dB the client should see (RGB PSNR): BT.601 turns a
 * chroma error into about 2.5 times its square in R, G and B on average
 * (1.596^2 for R from Cr, 2.017^2 for B from Cb, 0.815 for G), so a mean
 * squared chroma error (chroma_loss) of 0.5 is already an RGB MSE of 1.24,
 * 47 dB, before the encoder's own loss. A frame whose damage covers a
 * quarter of the screen, or after a 4:4:4 frame that took longer than a
 * frame interval to encode, goes back to 4:2:0: motion is cheaper there. (Not
 * less: a nearly empty 1080p frame costs libx264 ~5 ms whatever its chroma,
 * and leaving costs two key frames, there and back.)
 */
#define CHROMA444_LOSS_MSE 0.5
#define LEAVE444_AREA_DIV  4

/* How frames reach the codec. */
enum frame_path {
	PATH_I420, /* the picture itself (libx264, nvenc) */
	PATH_NV12, /* converted to NV12 in system memory (qsv) */
	PATH_HW,   /* NV12 uploaded to a hardware frame (vaapi) */
};

struct encoder;

/*
 * What differs between libavcodec's H.264 encoders. The constructor looks the
 * name up here; names not listed get generic_impl. Fallback: libx264.
 */
struct codec_impl {
	const char *name;
	/* Low-delay options; the dictionary is handed to avcodec_open2. */
	void (*configure)(const struct encoder *enc, AVCodecContext *ctx, AVDictionary **opts);
	/* Rate fields for a ceiling of kbps; called before open and between frames. */
	void (*set_rate)(const struct encoder *enc, AVCodecContext *ctx, int kbps);
	/* Per-frame quality (refinement); NULL when the codec cannot. */
	int (*set_quality)(AVCodecContext *ctx, int crf);
	bool runtime_bitrate; /* reads the rate fields again between frames */
	bool roi_refine;      /* refines the changed region only (AVRegionOfInterest) */
};

/* Per frame in the codec; no B-frames, so packets come out in the order frames went in. */
struct frame_meta {
	int64_t pts; /* == frame number */
	uint64_t capture_us;
	uint32_t convert_us, encode_us; /* encoder_packet's */
	bool refinement, chroma444;
};

struct encoder {
	/* settings, fixed at encoder_new */
	const AVCodec *codec;
	const struct codec_impl *impl;
	int fps, keyint, crf, refine_crf, vbv_ms, threads;
	int64_t refine_after_us; /* < 0: only encoder_refine */
	enum convert_format format;
	char preset[32];
	char *device;

	/* the picture and the codec: replaced by encoder_resize */
	int width, height;	       /* desktop */
	int coded_width, coded_height; /* rounded up to even */
	struct convert *conv;
	AVFrame *picture; /* persistent I420 at the coded size */
	AVFrame *staging; /* NV12, for PATH_NV12 and PATH_HW */
	AVCodecContext *ctx;
	/* 4:4:4, libx264 only: the picture at full chroma and its codec, made when first needed */
	struct convert *conv444;
	AVFrame *pic444;
	AVCodecContext *ctx444;
	struct rect stale444; /* bounds of damage pic444 has not taken yet */
	bool in444;	      /* the stream is 4:4:4 now: frames go to ctx444 */
	int64_t area;	      /* pixels damaged since the last frame (sum over rectangles) */
	int64_t last444_us;   /* encode time of the last 4:4:4 frame */
	enum frame_path path;
	AVPacket *pkt;
	int broken; /* the error of a failed resize; 0 when usable */

	/* requests from any thread */
	atomic_bool keyframe_wanted;
	atomic_int bitrate_kbps;
	atomic_bool allow444;
	int applied_kbps;
	int quality; /* the CRF the codec last got, for set_quality */

	/* stream state */
	int64_t next_frame;
	bool have_picture;   /* the picture holds a whole screen */
	bool dirty;	     /* converted damage that no frame has carried yet */
	int64_t convert_us;  /* converting that damage, for the frame that carries it */
	bool refined;	     /* nothing changed since the last refinement */
	bool no444;	     /* 4:4:4 failed to open: never again */
	struct rect changed; /* bounds of what changed since the last refinement */
	uint64_t last_change_us;
	struct frame_meta meta[META_RING];
	size_t meta_start, meta_count;
	AVPacket *held[HELD_MAX];
	size_t held_start, held_count;
};

/* FFmpeg errors outside errno's range become -EIO (hr_strerror knows errno). */
static int av_to_err(int averr)
{
	if (averr < 0 && averr > -4096)
		return averr;
	return -EIO;
}

static const char *av_errstr(int averr, char *buf, size_t size)
{
	if (av_strerror(averr, buf, size) < 0)
		snprintf(buf, size, "error %d", averr);
	return buf;
}

/* The rate buffer in bits: kbit/s x ms, which fits an int for the bounds enforced. */
static int vbv_bits(const struct encoder *enc, int kbps)
{
	int64_t bits = (int64_t)kbps * enc->vbv_ms;

	return bits > INT_MAX ? INT_MAX : (int)bits;
}

/* ---- codec table ---- */

static void x264_configure(const struct encoder *enc, AVCodecContext *ctx, AVDictionary **opts)
{
	av_dict_set(opts, "preset", enc->preset, 0);
	/* zerolatency: no lookahead, no frame threads (slice threads instead), no B-frames. */
	av_dict_set(opts, "tune", "zerolatency", 0);
	av_dict_set_int(opts, "crf", enc->crf, 0);
	/* A requested key frame must be an IDR, or a fresh decoder cannot start there. */
	av_dict_set(opts, "forced-idr", "1", 0);
	/*
	 * SPS/PPS before every IDR; no scene-cut I frames (the client asks when it
	 * needs one). Screen content, measured on text (tests/unit/test_encoder.c): adaptive
	 * quantisation and psy-rd move bits from sharp glyph edges to flat areas and
	 * cost 2 dB; the deblocking filter smears glyphs, and because the blurred
	 * reference then differs from the unchanged screen, x264 re-codes blocks
	 * far from the damage (3.5x the bytes for a keystroke-sized change).
	 * aq-mode 1 at strength 0 is no adaptive quantisation at all, but lets
	 * libavcodec pass regions of interest (refinement) down as quant offsets.
	 * CABAC even at ultrafast (which turns it off): 11-16 % fewer bytes on text
	 * for no encode time measurable at our rates (DEFAULT_PRESET). A text scroll
	 * moves lines 15-35 px a frame, past ultrafast's diamond search: the uneven
	 * multi-hexagon over 32 px finds it, measured with bench/agent at 1080p (two
	 * runs each): scrolling 1835-1850 instead of 2342-2358 kbit/s (-22 %), for
	 * 11.5-12.0 instead of 9.9-10.0 ms per animated frame (+1.5 ms capture->decoded
	 * there); 64 px saved 3 % more and cost 27 %; esa over 32 px saved nothing.
	 */
	av_dict_set(opts, "x264-params",
		    "repeat-headers=1:scenecut=0:aq-mode=1:aq-strength=0.01:psy=0:no-deblock=1:"
		    "cabac=1:me=umh:merange=32",
		    0);
	ctx->thread_type = FF_THREAD_SLICE;
}

/* Capped CRF: constant quality, the ceiling only bounds bursts (VBV). */
static void x264_set_rate(const struct encoder *enc, AVCodecContext *ctx, int kbps)
{
	ctx->bit_rate = 0;
	ctx->rc_max_rate = (int64_t)kbps * 1000;
	ctx->rc_buffer_size = vbv_bits(enc, kbps);
}

/* libx264 compares its "crf" option with the running value before every frame. */
static int x264_set_quality(AVCodecContext *ctx, int crf)
{
	return av_opt_set_double(ctx->priv_data, "crf", crf, 0);
}

static void nvenc_configure(const struct encoder *enc, AVCodecContext *ctx, AVDictionary **opts)
{
	(void)enc;
	(void)ctx;
	av_dict_set(opts, "preset", "p1", 0);
	av_dict_set(opts, "tune", "ull", 0);
	av_dict_set(opts, "zerolatency", "1", 0);
	av_dict_set(opts, "delay", "0", 0);
	av_dict_set(opts, "rc", "vbr", 0);
	av_dict_set(opts, "forced-idr", "1", 0);
}

static void qsv_configure(const struct encoder *enc, AVCodecContext *ctx, AVDictionary **opts)
{
	(void)enc;
	(void)ctx;
	av_dict_set(opts, "preset", "veryfast", 0);
	av_dict_set(opts, "async_depth", "1", 0);
	av_dict_set(opts, "forced_idr", "1", 0);
}

static void vaapi_configure(const struct encoder *enc, AVCodecContext *ctx, AVDictionary **opts)
{
	(void)enc;
	(void)ctx;
	av_dict_set(opts, "rc_mode", "VBR", 0);
	av_dict_set(opts, "async_depth", "1", 0);
}

static void generic_configure(const struct encoder *enc, AVCodecContext *ctx, AVDictionary **opts)
{
	(void)enc;
	(void)ctx;
	(void)opts;
}

static void generic_set_rate(const struct encoder *enc, AVCodecContext *ctx, int kbps)
{
	ctx->bit_rate = (int64_t)kbps * 1000;
	ctx->rc_max_rate = (int64_t)kbps * 1000;
	ctx->rc_buffer_size = vbv_bits(enc, kbps);
}

static const struct codec_impl impls[] = {
	{"libx264", x264_configure, x264_set_rate, x264_set_quality, true, true},
	{"h264_nvenc", nvenc_configure, generic_set_rate, NULL, true, false},
	{"h264_qsv", qsv_configure, generic_set_rate, NULL, false, false},
	{"h264_vaapi", vaapi_configure, generic_set_rate, NULL, false, false},
};
static const struct codec_impl generic_impl = {
	NULL, generic_configure, generic_set_rate, NULL, false, false};

static const struct codec_impl *find_impl(const char *name)
{
	for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++)
		if (strcmp(impls[i].name, name) == 0)
			return &impls[i];
	return &generic_impl;
}

/* ---- opening and closing ---- */

static bool has_pix_fmt(const AVCodec *codec, enum AVPixelFormat fmt)
{
	const enum AVPixelFormat *fmts;

#if LIBAVCODEC_VERSION_INT >= AV_VERSION_INT(61, 13, 100)
	/* AVCodec.pix_fmts is deprecated from FFmpeg 7.1 on */
	if (avcodec_get_supported_config(NULL, codec, AV_CODEC_CONFIG_PIX_FORMAT, 0,
					 (const void **)&fmts, NULL) < 0)
		fmts = NULL;
#else
	fmts = codec->pix_fmts;
#endif
	if (!fmts)
		return fmt == AV_PIX_FMT_YUV420P; /* not declared: assume the common case */
	for (const enum AVPixelFormat *p = fmts; *p != AV_PIX_FMT_NONE; p++)
		if (*p == fmt)
			return true;
	return false;
}

/* Device and frame pool for encoders that only take hardware frames (vaapi). */
static int setup_hw(struct encoder *enc, AVCodecContext *ctx)
{
	const AVCodecHWConfig *hc = NULL;
	AVBufferRef *device = NULL, *frames = NULL;
	AVHWFramesContext *fc;
	char err[128];
	int ret;

	for (int i = 0; (hc = avcodec_get_hw_config(enc->codec, i)); i++)
		if (hc->methods & AV_CODEC_HW_CONFIG_METHOD_HW_FRAMES_CTX)
			break;
	if (!hc) {
		log_warn("encoder: %s takes neither I420, NV12 nor hardware frames",
			 enc->codec->name);
		return -ENOTSUP;
	}
	ret = av_hwdevice_ctx_create(&device, hc->device_type, enc->device, NULL, 0);
	if (ret < 0) {
		log_warn("encoder: no %s device for %s: %s",
			 av_hwdevice_get_type_name(hc->device_type), enc->codec->name,
			 av_errstr(ret, err, sizeof(err)));
		return av_to_err(ret);
	}
	frames = av_hwframe_ctx_alloc(device);
	if (!frames) {
		ret = -ENOMEM;
		goto out;
	}
	fc = (AVHWFramesContext *)frames->data;
	fc->format = hc->pix_fmt;
	fc->sw_format = AV_PIX_FMT_NV12;
	fc->width = enc->coded_width;
	fc->height = enc->coded_height;
	fc->initial_pool_size = HW_POOL_SIZE;
	ret = av_hwframe_ctx_init(frames);
	if (ret < 0) {
		log_warn("encoder: %s frame pool: %s", enc->codec->name,
			 av_errstr(ret, err, sizeof(err)));
		ret = av_to_err(ret);
		goto out;
	}
	ctx->pix_fmt = hc->pix_fmt;
	ctx->hw_frames_ctx = frames;
	frames = NULL;
	ret = 0;
out:
	av_buffer_unref(&frames);
	av_buffer_unref(&device); /* the frame pool keeps its own reference */
	return ret;
}

static void close_codec(struct encoder *enc)
{
	avcodec_free_context(&enc->ctx);
	avcodec_free_context(&enc->ctx444);
	av_frame_free(&enc->staging);
	enc->in444 = false;
}

/* The context frames go to now. */
static AVCodecContext *cur_ctx(const struct encoder *enc)
{
	return enc->in444 ? enc->ctx444 : enc->ctx;
}

/* Forgets frames in flight and packets not received (resize, free). */
static void drop_pending(struct encoder *enc)
{
	while (enc->held_count > 0) {
		av_packet_free(&enc->held[enc->held_start]);
		enc->held_start = (enc->held_start + 1) % HELD_MAX;
		enc->held_count--;
	}
	enc->held_start = 0;
	enc->meta_start = 0;
	enc->meta_count = 0;
}

/* A context for enc->codec at the current size, before its pixel format and options. */
static AVCodecContext *new_ctx(const struct encoder *enc)
{
	AVCodecContext *ctx = avcodec_alloc_context3(enc->codec);

	if (!ctx)
		return NULL;
	ctx->width = enc->coded_width;
	ctx->height = enc->coded_height;
	ctx->time_base = (AVRational){1, enc->fps}; /* pts = frame number, constant rate */
	ctx->framerate = (AVRational){enc->fps, 1};
	ctx->gop_size = enc->keyint > 0 ? enc->keyint : KEYINT_INFINITE;
	ctx->max_b_frames = 0;
	ctx->thread_count = enc->threads;
	ctx->flags &= ~AV_CODEC_FLAG_GLOBAL_HEADER; /* in band: SPS/PPS in the stream */
	/* What libyuv's ARGBToI420 produces (convert.h). */
	ctx->color_range = AVCOL_RANGE_MPEG;
	ctx->colorspace = AVCOL_SPC_SMPTE170M;
	ctx->color_primaries = AVCOL_PRI_BT709;
	ctx->color_trc = AVCOL_TRC_IEC61966_2_1;
	ctx->sample_aspect_ratio = (AVRational){1, 1};
	return ctx;
}

/* Opens ctx (pixel format set) with the codec's options at enc->applied_kbps. */
static int open_ctx(struct encoder *enc, AVCodecContext *ctx)
{
	AVDictionary *opts = NULL;
	const AVDictionaryEntry *e = NULL;
	char err[128];
	int ret;

	enc->impl->configure(enc, ctx, &opts);
	enc->impl->set_rate(enc, ctx, enc->applied_kbps);
	ret = avcodec_open2(ctx, enc->codec, &opts);
	if (ret < 0) {
		log_warn("encoder: %s does not open at %dx%d%s: %s", enc->codec->name,
			 enc->coded_width, enc->coded_height,
			 ctx->pix_fmt == AV_PIX_FMT_YUV444P ? " in 4:4:4" : "",
			 av_errstr(ret, err, sizeof(err)));
		av_dict_free(&opts);
		return av_to_err(ret);
	}
	while ((e = av_dict_get(opts, "", e, AV_DICT_IGNORE_SUFFIX)))
		log_debug("encoder: %s has no option %s=%s", enc->codec->name, e->key, e->value);
	av_dict_free(&opts);
	return 0;
}

/* Opens enc->codec at the current size and bitrate. The picture is not touched. */
static int open_codec(struct encoder *enc)
{
	AVCodecContext *ctx;
	int ret;

	ctx = new_ctx(enc);
	if (!ctx)
		return -ENOMEM;
	if (has_pix_fmt(enc->codec, AV_PIX_FMT_YUV420P)) {
		enc->path = PATH_I420;
		ctx->pix_fmt = AV_PIX_FMT_YUV420P;
	} else if (has_pix_fmt(enc->codec, AV_PIX_FMT_NV12)) {
		enc->path = PATH_NV12;
		ctx->pix_fmt = AV_PIX_FMT_NV12;
	} else {
		enc->path = PATH_HW;
		ret = setup_hw(enc, ctx);
		if (ret < 0)
			goto fail;
	}

	enc->applied_kbps = atomic_load(&enc->bitrate_kbps);
	enc->quality = enc->crf;
	ret = open_ctx(enc, ctx);
	if (ret < 0)
		goto fail;

	if (enc->path != PATH_I420) {
		enc->staging = av_frame_alloc();
		if (!enc->staging) {
			ret = -ENOMEM;
			goto fail_open;
		}
		enc->staging->format = AV_PIX_FMT_NV12;
		enc->staging->width = enc->coded_width;
		enc->staging->height = enc->coded_height;
		ret = av_frame_get_buffer(enc->staging, 0);
		if (ret < 0) {
			ret = av_to_err(ret);
			goto fail_open;
		}
	}
	enc->ctx = ctx;
	return 0;

fail_open:
	av_frame_free(&enc->staging);
fail:
	avcodec_free_context(&ctx);
	return ret;
}

/* A picture at the coded size in fmt, tagged with what libyuv's conversion produces. */
static int new_picture(const struct encoder *enc, enum AVPixelFormat fmt, AVFrame **out)
{
	AVFrame *pic = av_frame_alloc();
	int ret;

	if (!pic)
		return -ENOMEM;
	pic->format = fmt;
	pic->width = enc->coded_width;
	pic->height = enc->coded_height;
	pic->color_range = AVCOL_RANGE_MPEG;
	pic->colorspace = AVCOL_SPC_SMPTE170M;
	pic->color_primaries = AVCOL_PRI_BT709;
	pic->color_trc = AVCOL_TRC_IEC61966_2_1;
	ret = av_frame_get_buffer(pic, 0);
	if (ret < 0) {
		av_frame_free(&pic);
		return av_to_err(ret);
	}
	*out = pic;
	return 0;
}

/* The persistent picture and its converter at the current size. */
static int alloc_picture(struct encoder *enc)
{
	struct convert_cfg ccfg = {
		.width = enc->width,
		.height = enc->height,
		.format = enc->format,
	};
	AVFrame *pic;
	int ret;

	enc->conv = convert_new(&ccfg);
	if (!enc->conv)
		return -ENOMEM;
	ret = new_picture(enc, AV_PIX_FMT_YUV420P, &pic);
	if (ret < 0)
		return ret;
	/* Black until the first submit converts the whole screen. */
	for (int y = 0; y < pic->height; y++)
		memset(pic->data[0] + (size_t)y * (size_t)pic->linesize[0], 16, (size_t)pic->width);
	for (int p = 1; p < 3; p++)
		for (int y = 0; y < pic->height / 2; y++)
			memset(pic->data[p] + (size_t)y * (size_t)pic->linesize[p], 128,
			       (size_t)pic->width / 2);
	enc->picture = pic;
	return 0;
}

static void free_picture(struct encoder *enc)
{
	av_frame_free(&enc->picture);
	convert_free(enc->conv);
	enc->conv = NULL;
	av_frame_free(&enc->pic444);
	convert_free(enc->conv444);
	enc->conv444 = NULL;
}

static void set_size(struct encoder *enc, int width, int height)
{
	enc->width = width;
	enc->height = height;
	enc->coded_width = (width + 1) & ~1;
	enc->coded_height = (height + 1) & ~1;
}

static int clamp_kbps(int kbps)
{
	if (kbps < (int)ENCODER_BITRATE_MIN)
		return (int)ENCODER_BITRATE_MIN;
	if (kbps > (int)ENCODER_BITRATE_MAX)
		return (int)ENCODER_BITRATE_MAX;
	return kbps;
}

struct encoder *encoder_new(const struct encoder_cfg *cfg)
{
	const char *want;
	struct encoder *enc;
	bool is_x264;
	int ret;

	if (!cfg || cfg->width < 1 || cfg->height < 1 || cfg->width > MAX_SIZE ||
	    cfg->height > MAX_SIZE ||
	    (uint64_t)cfg->width * (uint64_t)cfg->height > ENCODER_AREA_MAX) {
		log_error("encoder: invalid size %dx%d", cfg ? cfg->width : 0,
			  cfg ? cfg->height : 0);
		return NULL;
	}
	if (cfg->fps < 0 || cfg->fps > 240 || cfg->crf < 0 || cfg->crf > 51 ||
	    cfg->refine_crf < 0 || cfg->refine_crf > 51 || cfg->keyint < 0 || cfg->vbv_ms < 0 ||
	    cfg->vbv_ms > MAX_VBV_MS || cfg->threads < 0 || cfg->bitrate_kbps < 0 ||
	    convert_format_bpp(cfg->format) == 0) {
		log_error(
			"encoder: invalid configuration (fps %d, crf %d/%d, keyint %d, vbv %d ms, "
			"format %d)",
			cfg->fps, cfg->crf, cfg->refine_crf, cfg->keyint, cfg->vbv_ms,
			(int)cfg->format);
		return NULL;
	}
	avlog_install();

	enc = calloc(1, sizeof(*enc));
	if (!enc) {
		log_error("encoder: out of memory");
		return NULL;
	}
	enc->fps = cfg->fps ? cfg->fps : DEFAULT_FPS;
	enc->keyint = cfg->keyint;
	enc->crf = cfg->crf ? cfg->crf : DEFAULT_CRF;
	enc->refine_crf = cfg->refine_crf ? cfg->refine_crf : DEFAULT_REFINE_CRF;
	if (cfg->refine_after_ms < 0)
		enc->refine_after_us = -1;
	else if (cfg->refine_after_ms == 0)
		enc->refine_after_us = (int64_t)DEFAULT_REFINE_MS * 1000;
	else
		enc->refine_after_us = (int64_t)cfg->refine_after_ms * 1000;
	enc->vbv_ms = cfg->vbv_ms ? cfg->vbv_ms : DEFAULT_VBV_MS;
	enc->threads = cfg->threads;
	enc->format = cfg->format;
	snprintf(enc->preset, sizeof(enc->preset), "%s",
		 cfg->preset ? cfg->preset : DEFAULT_PRESET);
	if (cfg->device) {
		enc->device = strdup(cfg->device);
		if (!enc->device) {
			log_error("encoder: out of memory");
			goto fail;
		}
	}
	atomic_init(&enc->keyframe_wanted, false);
	atomic_init(&enc->allow444, false);
	atomic_init(&enc->bitrate_kbps,
		    clamp_kbps(cfg->bitrate_kbps ? cfg->bitrate_kbps : DEFAULT_BITRATE_KBPS));
	set_size(enc, cfg->width, cfg->height);

	ret = alloc_picture(enc);
	if (ret < 0) {
		log_error("encoder: picture %dx%d: %s", enc->coded_width, enc->coded_height,
			  hr_strerror(ret));
		goto fail;
	}
	enc->pkt = av_packet_alloc();
	if (!enc->pkt) {
		log_error("encoder: out of memory");
		goto fail;
	}

	want = cfg->codec ? cfg->codec : DEFAULT_CODEC;
	enc->codec = avcodec_find_encoder_by_name(want);
	if (enc->codec && enc->codec->id != AV_CODEC_ID_H264) {
		log_warn("encoder: %s is not an H.264 encoder; falling back to %s", want,
			 DEFAULT_CODEC);
		enc->codec = NULL;
	} else if (!enc->codec) {
		log_warn("encoder: this libavcodec has no encoder named %s; falling back to %s",
			 want, DEFAULT_CODEC);
	}
	if (enc->codec) {
		enc->impl = find_impl(enc->codec->name);
		ret = open_codec(enc);
		if (ret < 0) {
			if (strcmp(enc->codec->name, DEFAULT_CODEC) == 0)
				goto fail_open;
			log_warn("encoder: %s failed (%s); falling back to %s", want,
				 hr_strerror(ret), DEFAULT_CODEC);
			enc->codec = NULL;
		}
	}
	if (!enc->codec) {
		enc->codec = avcodec_find_encoder_by_name(DEFAULT_CODEC);
		if (!enc->codec) {
			log_error("encoder: this libavcodec has no %s either", DEFAULT_CODEC);
			goto fail;
		}
		enc->impl = find_impl(DEFAULT_CODEC);
		ret = open_codec(enc);
		if (ret < 0)
			goto fail_open;
	}
	is_x264 = strcmp(enc->codec->name, DEFAULT_CODEC) == 0;
	log_info("encoder: running %s at %dx%d (coded %dx%d), %d kbit/s ceiling, %d fps%s%s",
		 enc->codec->name, enc->width, enc->height, enc->coded_width, enc->coded_height,
		 enc->applied_kbps, enc->fps, is_x264 ? ", preset " : "",
		 is_x264 ? enc->preset : "");
	return enc;

fail_open:
	log_error("encoder: cannot open %s at %dx%d", enc->codec->name, enc->width, enc->height);
fail:
	encoder_free(enc);
	return NULL;
}

void encoder_free(struct encoder *enc)
{
	if (!enc)
		return;
	close_codec(enc);
	drop_pending(enc);
	free_picture(enc);
	av_packet_free(&enc->pkt);
	free(enc->device);
	free(enc);
}

const char *encoder_codec_name(const struct encoder *enc)
{
	return enc->codec ? enc->codec->name : "none";
}

/* ---- encoding ---- */

/* Moves packets the caller has not taken yet out of the codec, so it takes the next frame. */
static int hold_packets(struct encoder *enc)
{
	AVPacket *p;
	char err[128];
	int ret;

	for (;;) {
		if (enc->held_count == HELD_MAX) {
			log_warn("encoder: %d packets not received; call encoder_receive",
				 HELD_MAX);
			return -EAGAIN;
		}
		ret = avcodec_receive_packet(cur_ctx(enc), enc->pkt);
		if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
			return 0;
		if (ret < 0) {
			log_error("encoder: %s: %s", enc->codec->name,
				  av_errstr(ret, err, sizeof(err)));
			return av_to_err(ret);
		}
		p = av_packet_alloc();
		if (!p) {
			av_packet_unref(enc->pkt);
			return -ENOMEM;
		}
		av_packet_move_ref(p, enc->pkt);
		enc->held[(enc->held_start + enc->held_count) % HELD_MAX] = p;
		enc->held_count++;
	}
}

/* A bitrate set from another thread, applied between frames. */
static int apply_bitrate(struct encoder *enc, bool key)
{
	int kbps = atomic_load(&enc->bitrate_kbps);
	int ret;

	if (kbps == enc->applied_kbps)
		return 0;
	if (enc->impl->runtime_bitrate) {
		/* libx264 reconfigures itself when it sees the fields change (x264_encoder_reconfig). */
		enc->impl->set_rate(enc, enc->ctx, kbps);
		if (enc->ctx444)
			enc->impl->set_rate(enc, enc->ctx444, kbps);
		enc->applied_kbps = kbps;
		log_debug("encoder: ceiling now %d kbit/s", kbps);
		return 0;
	}
	if (!key)
		return 0; /* this codec keeps its rate: reopen at the next key frame, which costs nothing */
	ret = hold_packets(enc);
	if (ret < 0)
		return ret;
	close_codec(enc);
	ret = open_codec(enc);
	if (ret < 0) {
		enc->broken = ret;
		log_error("encoder: %s does not reopen at %d kbit/s", enc->codec->name, kbps);
		return ret;
	}
	log_debug("encoder: %s reopened at %d kbit/s", enc->codec->name, kbps);
	return 0;
}

static void set_key_flag(AVFrame *frame, bool key)
{
	frame->pict_type = key ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
#ifdef AV_FRAME_FLAG_KEY
	if (key)
		frame->flags |= AV_FRAME_FLAG_KEY;
	else
		frame->flags &= ~AV_FRAME_FLAG_KEY;
#else
	frame->key_frame = key;
#endif
}

/* The frame the codec gets: the picture itself, or an NV12 (hardware) copy of it. */
static int codec_frame(struct encoder *enc, AVFrame **out, AVFrame **hw)
{
	AVFrame *pic = enc->picture, *st = enc->staging;
	char err[128];
	int ret;

	*hw = NULL;
	if (enc->path == PATH_I420) {
		*out = pic;
		return 0;
	}
	ret = av_frame_make_writable(st);
	if (ret < 0)
		return av_to_err(ret);
	I420ToNV12(pic->data[0], pic->linesize[0], pic->data[1], pic->linesize[1], pic->data[2],
		   pic->linesize[2], st->data[0], st->linesize[0], st->data[1], st->linesize[1],
		   enc->coded_width, enc->coded_height);
	*out = st;
	if (enc->path != PATH_HW)
		return 0;
	*hw = av_frame_alloc();
	if (!*hw)
		return -ENOMEM;
	ret = av_hwframe_get_buffer(enc->ctx->hw_frames_ctx, *hw, 0);
	if (ret >= 0)
		ret = av_hwframe_transfer_data(*hw, st, 0);
	if (ret < 0) {
		log_error("encoder: upload to %s: %s", enc->codec->name,
			  av_errstr(ret, err, sizeof(err)));
		av_frame_free(hw);
		return av_to_err(ret);
	}
	*out = *hw;
	return 0;
}

static void rect_union(struct rect *acc, const struct rect *r)
{
	int32_t x1, y1;

	if (r->width <= 0 || r->height <= 0)
		return;
	if (acc->width <= 0 || acc->height <= 0) {
		*acc = *r;
		return;
	}
	x1 = acc->x + acc->width > r->x + r->width ? acc->x + acc->width : r->x + r->width;
	y1 = acc->y + acc->height > r->y + r->height ? acc->y + acc->height : r->y + r->height;
	acc->x = acc->x < r->x ? acc->x : r->x;
	acc->y = acc->y < r->y ? acc->y : r->y;
	acc->width = x1 - acc->x;
	acc->height = y1 - acc->y;
}

/*
 * A refinement raises the quality only where the screen changed since the
 * last one: the region of interest gets the refinement CRF as a quant offset
 * from the normal CRF, the rest stays at the normal CRF and, unchanged, is
 * skipped. Re-coding the whole screen at the refinement CRF would cost
 * ~100 KB at 1080p for a keystroke.
 */
static int attach_refine_roi(struct encoder *enc, AVFrame *frame)
{
	AVFrameSideData *sd;
	AVRegionOfInterest *roi;
	const struct rect *r = &enc->changed;

	sd = av_frame_new_side_data(frame, AV_FRAME_DATA_REGIONS_OF_INTEREST, sizeof(*roi));
	if (!sd)
		return -ENOMEM;
	roi = (AVRegionOfInterest *)sd->data;
	roi->self_size = sizeof(*roi);
	roi->left = r->x;
	roi->top = r->y;
	roi->right = r->x + r->width;
	roi->bottom = r->y + r->height;
	/* libx264 scales qoffset by its QP range (51 at 8 bits) */
	roi->qoffset = av_make_q(enc->refine_crf - enc->crf, 51);
	return 0;
}

/* ---- 4:4:4 ---- */

static struct convert_picture picture_planes(AVFrame *f)
{
	struct convert_picture p;

	for (int i = 0; i < 3; i++) {
		p.plane[i] = f->data[i];
		p.stride[i] = f->linesize[i];
	}
	return p;
}

/*
 * The 4:4:4 picture, its converter and its libx264 context, made the first
 * time a still picture wants them. 0 or a negative error (logged).
 */
static int setup444(struct encoder *enc)
{
	struct convert_cfg ccfg = {
		.width = enc->width,
		.height = enc->height,
		.format = enc->format,
		.chroma444 = true,
		.accurate = true,
	};
	AVCodecContext *ctx;
	int ret;

	if (enc->ctx444)
		return 0;
	if (!enc->pic444) {
		if (!enc->conv444)
			enc->conv444 = convert_new(&ccfg);
		if (!enc->conv444)
			return -ENOMEM;
		ret = new_picture(enc, AV_PIX_FMT_YUV444P, &enc->pic444);
		if (ret < 0)
			return ret;
		enc->stale444 = (struct rect){0, 0, enc->width, enc->height};
	}
	ctx = new_ctx(enc);
	if (!ctx)
		return -ENOMEM;
	ctx->pix_fmt = AV_PIX_FMT_YUV444P;
	ret = open_ctx(enc, ctx);
	if (ret < 0) {
		avcodec_free_context(&ctx);
		return ret;
	}
	enc->ctx444 = ctx;
	log_info("encoder: %s opened at %dx%d in 4:4:4 (High 4:4:4) for still colour",
		 enc->codec->name, enc->coded_width, enc->coded_height);
	return 0;
}

/*
 * How much colour 4:2:0 would lose in r: the mean squared difference of
 * every U and V sample of pic444 from the mean of its 2x2 block (the one
 * sample 4:2:0 keeps for them).
 */
static double chroma_loss(const struct encoder *enc, const struct rect *r)
{
	const AVFrame *p = enc->pic444;
	int x0 = r->x & ~1, y0 = r->y & ~1;
	int x1 = r->x + r->width, y1 = r->y + r->height;
	uint64_t sse4 = 0, n = 0;

	x1 = x1 > enc->coded_width ? enc->coded_width : (x1 + 1) & ~1;
	y1 = y1 > enc->coded_height ? enc->coded_height : (y1 + 1) & ~1;
	for (int i = 1; i < 3; i++)
		for (int y = y0; y < y1; y += 2) {
			const uint8_t *a = p->data[i] + (size_t)y * (size_t)p->linesize[i];
			const uint8_t *b = a + p->linesize[i];

			for (int x = x0; x < x1; x += 2) {
				int s = a[x] + a[x + 1] + b[x] + b[x + 1];
				int q = a[x] * a[x] + a[x + 1] * a[x + 1] + b[x] * b[x] +
					b[x + 1] * b[x + 1];

				sse4 += (uint64_t)(4 * q -
						   s * s); /* 4 x the block's squared error */
				n += 4;
			}
		}
	return n ? (double)sse4 / 4.0 / (double)n : 0.0;
}

/*
 * Whether the still picture should be refined in 4:4:4: allowed, possible,
 * and 4:2:0 loses too much of the colour of what changed. Brings pic444 up
 * to date from pixels (the whole screen) first.
 */
static bool want444(struct encoder *enc, const uint8_t *pixels, int stride)
{
	struct convert_picture dst;
	double loss;
	int ret;

	if (!atomic_load(&enc->allow444) || !pixels || enc->no444 || !enc->impl->roi_refine)
		return false;
	ret = setup444(enc);
	if (ret < 0) {
		log_warn("encoder: no 4:4:4 (%s); still colour stays 4:2:0", hr_strerror(ret));
		enc->no444 = true;
		return false;
	}
	ret = av_frame_make_writable(enc->pic444);
	dst = picture_planes(enc->pic444);
	if (ret >= 0)
		ret = convert_rects(enc->conv444, pixels, stride, &enc->stale444, 1, &dst);
	if (ret < 0)
		return false;
	enc->stale444 = (struct rect){0, 0, 0, 0};
	loss = chroma_loss(enc, &enc->changed);
	log_debug("encoder: 4:2:0 would lose chroma MSE %.2f over %dx%d", loss,
		  (int)enc->changed.width, (int)enc->changed.height);
	return loss > CHROMA444_LOSS_MSE;
}

/* What encode_picture sends. */
enum frame_kind {
	FRAME_NORMAL, /* the damage */
	FRAME_REFINE, /* the same picture again, sharper where it changed */
	FRAME_TO444,  /* the same picture as a 4:4:4 key frame; FRAME_REFINE follows */
};

/* Whether a normal frame should leave 4:4:4: big damage, or 4:4:4 became slow. */
static bool leave444(const struct encoder *enc)
{
	int64_t screen = (int64_t)enc->coded_width * enc->coded_height;

	return enc->area * LEAVE444_AREA_DIV >= screen || enc->last444_us * enc->fps > 1000000;
}

/* Sends the picture to the codec as frame number enc->next_frame. */
static int encode_picture(struct encoder *enc, enum frame_kind kind, uint64_t capture_us)
{
	AVFrame *frame, *hw = NULL;
	AVCodecContext *ctx;
	struct frame_meta *m;
	bool refine = kind != FRAME_NORMAL, key, leave;
	char err[128];
	int ret, q;

	if (enc->meta_count == META_RING) {
		log_warn("encoder: %d frames in the codec; call encoder_receive", META_RING);
		return -EAGAIN;
	}
	ret = hold_packets(enc);
	if (ret < 0)
		return ret;
	key = atomic_exchange(&enc->keyframe_wanted, false) || enc->next_frame == 0;
	leave = enc->in444 &&
		(!atomic_load(&enc->allow444) || (kind == FRAME_NORMAL && leave444(enc)));
	if (kind == FRAME_TO444 || leave) {
		/* another context: its references are not the decoder's, so a key frame */
		enc->in444 = kind == FRAME_TO444;
		enc->last444_us = 0;
		key = true;
		log_debug("encoder: frame %lld goes %s", (long long)enc->next_frame,
			  enc->in444 ? "4:4:4 (still colour)" : "back to 4:2:0");
	}
	ret = apply_bitrate(enc, key);
	if (ret < 0)
		goto fail;
	ctx = cur_ctx(enc); /* after apply_bitrate, which may reopen it */
	if (enc->impl->set_quality && !enc->in444) {
		/* libx264 refines by region of interest (attach_refine_roi) at the normal CRF */
		q = refine && !enc->impl->roi_refine ? enc->refine_crf : enc->crf;
		if (q != enc->quality) {
			ret = enc->impl->set_quality(enc->ctx, q);
			if (ret < 0) {
				log_error("encoder: quality %d: %s", q,
					  av_errstr(ret, err, sizeof(err)));
				ret = av_to_err(ret);
				goto fail;
			}
			enc->quality = q;
		}
	}
	if (enc->in444)
		frame = enc->pic444; /* libx264 copies it in */
	else if ((ret = codec_frame(enc, &frame, &hw)) < 0)
		goto fail;
	frame->pts = enc->next_frame;
	set_key_flag(frame, key);
	if (refine && enc->impl->roi_refine && !key) {
		ret = attach_refine_roi(enc, frame);
		if (ret < 0) {
			av_frame_free(&hw);
			goto fail;
		}
	}
	int64_t t0 = clock_mono_us();
	ret = avcodec_send_frame(ctx, frame);
	int64_t took = clock_mono_us() - t0;
	/* the picture is reused for every frame: the region was for this one only */
	av_frame_remove_side_data(frame, AV_FRAME_DATA_REGIONS_OF_INTEREST);
	av_frame_free(&hw);
	if (ret < 0) {
		log_error("encoder: %s refused frame %lld: %s", enc->codec->name,
			  (long long)enc->next_frame, av_errstr(ret, err, sizeof(err)));
		ret = av_to_err(ret);
		goto fail;
	}

	m = &enc->meta[(enc->meta_start + enc->meta_count) % META_RING];
	m->pts = enc->next_frame;
	m->capture_us = capture_us;
	m->refinement = refine;
	m->chroma444 = enc->in444;
	m->convert_us = refine ? 0 : clock_us32(enc->convert_us);
	m->encode_us = clock_us32(took);
	if (!refine)
		enc->convert_us = 0;
	if (enc->in444 && kind == FRAME_NORMAL && !key)
		enc->last444_us = took;
	enc->meta_count++;
	enc->next_frame++;
	enc->dirty = false;
	enc->area = 0;
	/* a refinement that had to leave 4:4:4 is a plain key frame: refine again */
	enc->refined = kind == FRAME_REFINE && !leave;
	if (!refine)
		enc->last_change_us = capture_us;
	else if (enc->refined)
		enc->changed = (struct rect){0, 0, 0, 0};
	/*
	 * A key frame codes the whole screen at the normal quality again (a client
	 * that joins a still desktop, a switch of chroma format): all of it is to
	 * be refined, not only what changed since the last refinement.
	 */
	if (key)
		enc->changed = (struct rect){0, 0, enc->width, enc->height};
	return ENCODER_OK;

fail:
	if (key)
		atomic_store(&enc->keyframe_wanted, true); /* still owed */
	return ret;
}

int encoder_submit(struct encoder *enc, const uint8_t *pixels, int stride,
		   const struct rect *damage, size_t ndamage, uint64_t capture_us)
{
	struct convert_picture dst;
	int ret;

	if (enc->broken)
		return enc->broken;
	if (ndamage > 0 && (!damage || !pixels))
		return -EINVAL;
	if (!enc->have_picture && !pixels)
		return ENCODER_AGAIN; /* nothing to show yet; a key frame request stays pending */

	if (!enc->have_picture || ndamage > 0) {
		struct rect all = {0, 0, enc->width, enc->height};
		const struct rect *rects = enc->have_picture ? damage : &all;
		size_t nrects = enc->have_picture ? ndamage : 1;

		/* The codec may still hold the picture (hardware encoders): copy on write. */
		ret = av_frame_make_writable(enc->picture);
		if (ret < 0)
			return av_to_err(ret);
		dst = picture_planes(enc->picture);
		int64_t t0 = clock_mono_us();
		ret = convert_rects(enc->conv, pixels, stride, rects, nrects, &dst);
		for (size_t i = 0; i < nrects; i++) {
			rect_union(&enc->changed, &rects[i]);
			if (rects[i].width > 0 && rects[i].height > 0)
				enc->area += (int64_t)rects[i].width * rects[i].height;
			if (!enc->in444)
				rect_union(&enc->stale444, &rects[i]);
		}
		/* 4:4:4 frames come from pic444, which then takes every change as well */
		if (ret >= 0 && enc->in444) {
			ret = av_frame_make_writable(enc->pic444);
			dst = picture_planes(enc->pic444);
			if (ret >= 0)
				ret = convert_rects(enc->conv444, pixels, stride, rects, nrects,
						    &dst);
		}
		enc->convert_us += clock_mono_us() - t0;
		if (ret < 0)
			return ret;
		/* ret == 0: every rectangle was empty or off screen, no damage after all */
		if (ret > 0 || !enc->have_picture)
			enc->dirty = true;
		enc->have_picture = true;
	}

	/* dirty also covers damage converted by a call whose encoding failed */
	if (enc->dirty || atomic_load(&enc->keyframe_wanted) ||
	    (enc->in444 && !atomic_load(&enc->allow444)))
		return encode_picture(enc, FRAME_NORMAL, capture_us);
	if (enc->impl->set_quality && enc->refine_after_us >= 0 && !enc->refined &&
	    (int64_t)(capture_us - enc->last_change_us) >= enc->refine_after_us) {
		if (!enc->in444 && want444(enc, pixels, stride))
			return encode_picture(enc, FRAME_TO444, capture_us);
		return encode_picture(enc, FRAME_REFINE, capture_us);
	}
	return ENCODER_AGAIN;
}

int encoder_refine(struct encoder *enc, uint64_t capture_us)
{
	if (enc->broken)
		return enc->broken;
	if (!enc->impl->set_quality)
		return -ENOTSUP;
	if (!enc->have_picture || enc->refined)
		return ENCODER_AGAIN;
	return encode_picture(enc, FRAME_REFINE, capture_us);
}

int encoder_receive(struct encoder *enc, struct encoder_packet *out)
{
	int64_t recv_us = 0;
	struct frame_meta m;
	AVPacket *pkt;
	char err[128];
	int ret;

	memset(out, 0, sizeof(*out));
	if (enc->held_count > 0) {
		pkt = enc->held[enc->held_start];
		enc->held[enc->held_start] = NULL;
		enc->held_start = (enc->held_start + 1) % HELD_MAX;
		enc->held_count--;
	} else {
		if (!cur_ctx(enc))
			return ENCODER_AGAIN; /* after a failed reopen */
		int64_t t0 = clock_mono_us();
		ret = avcodec_receive_packet(cur_ctx(enc), enc->pkt);
		recv_us = clock_mono_us() - t0;
		if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
			return ENCODER_AGAIN;
		if (ret < 0) {
			log_error("encoder: %s: %s", enc->codec->name,
				  av_errstr(ret, err, sizeof(err)));
			return av_to_err(ret);
		}
		pkt = enc->pkt;
	}

	/* Pop the frame's metadata first, so an error below cannot shift the rest. */
	if (enc->meta_count > 0) {
		m = enc->meta[enc->meta_start];
		enc->meta_start = (enc->meta_start + 1) % META_RING;
		enc->meta_count--;
		if (pkt->pts != AV_NOPTS_VALUE && pkt->pts != m.pts)
			log_warn("encoder: %s returned frame %lld, expected %lld", enc->codec->name,
				 (long long)pkt->pts, (long long)m.pts);
	} else {
		log_warn("encoder: %s returned a packet for no frame", enc->codec->name);
		m = (struct frame_meta){.pts = pkt->pts};
	}

	ret = ENCODER_OK;
	if (pkt->size <= 0) {
		ret = -EIO;
		goto out;
	}
	out->data = malloc((size_t)pkt->size);
	if (!out->data) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(out->data, pkt->data, (size_t)pkt->size);
	out->size = (size_t)pkt->size;
	out->keyframe = pkt->flags & AV_PKT_FLAG_KEY;
	out->width = enc->coded_width;
	out->height = enc->coded_height;
	out->frame = (uint64_t)m.pts;
	out->capture_us = m.capture_us;
	out->refinement = m.refinement;
	out->chroma444 = m.chroma444;
	out->convert_us = m.convert_us;
	out->encode_us = clock_us32((int64_t)m.encode_us + recv_us);
out:
	if (pkt == enc->pkt)
		av_packet_unref(pkt);
	else
		av_packet_free(&pkt);
	return ret;
}

void encoder_packet_free(struct encoder_packet *pkt)
{
	if (!pkt)
		return;
	free(pkt->data);
	memset(pkt, 0, sizeof(*pkt));
}

void encoder_request_keyframe(struct encoder *enc)
{
	atomic_store(&enc->keyframe_wanted, true);
}

void encoder_allow_chroma444(struct encoder *enc, bool allow)
{
	atomic_store(&enc->allow444, allow);
}

int encoder_set_bitrate(struct encoder *enc, int kbps)
{
	if (kbps <= 0)
		return -EINVAL;
	atomic_store(&enc->bitrate_kbps, clamp_kbps(kbps));
	return 0;
}

int encoder_get_bitrate(const struct encoder *enc)
{
	return atomic_load(&enc->bitrate_kbps);
}

int encoder_resize(struct encoder *enc, int width, int height)
{
	int ret;

	if (width < 1 || height < 1 || width > MAX_SIZE || height > MAX_SIZE ||
	    (uint64_t)width * (uint64_t)height > ENCODER_AREA_MAX)
		return -EINVAL;
	close_codec(enc);
	drop_pending(enc);
	free_picture(enc);
	set_size(enc, width, height);
	enc->have_picture = false;
	enc->dirty = false;
	enc->refined = false;
	enc->changed = (struct rect){0, 0, 0, 0};
	enc->stale444 = (struct rect){0, 0, 0, 0};
	enc->area = 0;

	ret = alloc_picture(enc);
	if (ret == 0)
		ret = open_codec(enc);
	if (ret < 0) {
		log_error("encoder: %s does not reopen at %dx%d: %s", enc->codec->name, width,
			  height, hr_strerror(ret));
		close_codec(enc);
		free_picture(enc);
		enc->broken = ret;
		return ret;
	}
	enc->broken = 0;
	atomic_store(&enc->keyframe_wanted, true);
	log_info("encoder: %s now at %dx%d (coded %dx%d)", enc->codec->name, width, height,
		 enc->coded_width, enc->coded_height);
	return 0;
}
