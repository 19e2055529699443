/* SPDX-License-Identifier: MIT */
/*
 * encoder/: colour conversion of damaged rectangles (libyuv and the
 * libswscale fallback, odd sizes), then H.264 through libx264, decoded
 * again with libavcodec's h264 decoder: quality (PSNR of Y) of normal and
 * refinement frames, no damage -> no frame, key frames on request that a
 * fresh decoder starts from, damage that changes only its rectangle,
 * automatic refinement, bitrate changes, resize (odd sizes too), packets
 * held when the caller is late, the fallback to libx264 with its log line,
 * and still colour refined in 4:4:4 (and back to 4:2:0 for motion).
 */
#include "check.h"

#include "avlog.h"
#include "convert.h"
#include "encoder.h"
#include "log.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>

#define W 1280
#define H 720

/* ---- synthetic desktop ---- */

static uint32_t rng_state;

static uint32_t rng(void)
{
	/* xorshift32: deterministic screens without libc's rand state */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void put(uint8_t *px, int stride, int x, int y, uint8_t r, uint8_t g, uint8_t b)
{
	uint8_t *p = px + (size_t)y * (size_t)stride + (size_t)x * 4;

	p[0] = b;
	p[1] = g;
	p[2] = r;
	p[3] = 255;
}

/*
 * A desktop-like BGRA screen: a colour gradient bar at the top, then lines of
 * "text": 1-pixel black strokes in 8x14 cells on white, made of random
 * segments of a 3x5 grid, with spaces between words.
 */
static void draw_screen(uint8_t *px, int w, int h, int stride, uint32_t seed)
{
	int bar = h / 8;

	rng_state = seed * 2654435761u + 1;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			if (y < bar)
				put(px, stride, x, y, (uint8_t)(x * 255 / w),
				    (uint8_t)(y * 255 / bar), (uint8_t)(255 - x * 255 / w));
			else
				put(px, stride, x, y, 255, 255, 255);
		}
	for (int ly = bar + 6; ly + 14 <= h; ly += 18) {
		for (int cx = 4; cx + 8 <= w; cx += 8) {
			uint32_t segs = rng();

			if ((segs & 7) == 0)
				continue; /* a space */
			/* 3 columns x 5 rows of nodes 2 px apart; draw a few edges between them */
			for (int s = 0; s < 6; s++) {
				uint32_t r = rng();
				int x0 = cx + 1 + (int)(r % 3) * 2,
				    y0 = ly + 2 + (int)((r >> 2) % 5) * 2;
				int horiz = (r >> 5) & 1, len = 2 + (int)((r >> 6) % 3) * 2;

				for (int i = 0; i <= len; i++) {
					int x = horiz ? x0 + i : x0, y = horiz ? y0 : y0 + i;

					if (x < cx + 7 && y < ly + 13)
						put(px, stride, x, y, 0, 0, 0);
				}
			}
		}
	}
}

/* BT.601 limited range, as convert.h promises. */
static void reference_y(const uint8_t *px, int w, int h, int stride, uint8_t *y_out)
{
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			const uint8_t *p = px + (size_t)y * (size_t)stride + (size_t)x * 4;

			y_out[(size_t)y * (size_t)w + (size_t)x] =
				(uint8_t)(((66 * p[2] + 129 * p[1] + 25 * p[0] + 128) >> 8) + 16);
		}
}

/* PSNR of a w x h window at (x0, y0); identical planes give 99 dB. */
static double psnr_region(const uint8_t *a, int astride, const uint8_t *b, int bstride, int x0,
			  int y0, int w, int h)
{
	double sse = 0;

	for (int y = y0; y < y0 + h; y++)
		for (int x = x0; x < x0 + w; x++) {
			int d = a[(size_t)y * (size_t)astride + (size_t)x] -
				b[(size_t)y * (size_t)bstride + (size_t)x];
			sse += d * d;
		}
	if (sse == 0)
		return 99.0;
	return 10.0 * log10(255.0 * 255.0 * w * h / sse);
}

/* ---- decoder ---- */

struct dec {
	AVCodecContext *ctx;
	AVPacket *pkt;
	AVFrame *frame;
};

static int dec_open(struct dec *d)
{
	const AVCodec *c = avcodec_find_decoder(AV_CODEC_ID_H264);

	memset(d, 0, sizeof(*d));
	if (!c)
		return -1;
	d->ctx = avcodec_alloc_context3(c);
	d->pkt = av_packet_alloc();
	d->frame = av_frame_alloc();
	if (!d->ctx || !d->pkt || !d->frame)
		return -1;
	d->ctx->thread_count = 1;
	d->ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
	return avcodec_open2(d->ctx, c, NULL);
}

static void dec_close(struct dec *d)
{
	avcodec_free_context(&d->ctx);
	av_packet_free(&d->pkt);
	av_frame_free(&d->frame);
}

/* Decodes one access unit; 0 when a picture came out into d->frame. */
static int dec_decode(struct dec *d, const struct encoder_packet *p)
{
	int ret;

	av_frame_unref(d->frame);
	d->pkt->data = p->data;
	d->pkt->size = (int)p->size;
	ret = avcodec_send_packet(d->ctx, d->pkt);
	if (ret < 0)
		return ret;
	return avcodec_receive_frame(d->ctx, d->frame);
}

/* ---- helpers around the encoder ---- */

static uint64_t last_frame_no;
static bool first_packet = true;

/* Receives exactly one packet and checks the frame numbering. */
static int take_one(struct encoder *enc, struct encoder_packet *p)
{
	struct encoder_packet extra;
	int ret = encoder_receive(enc, p);

	CHECK_INT_EQ(ret, ENCODER_OK);
	if (ret != ENCODER_OK)
		return -1;
	CHECK(p->size > 4);
	if (!first_packet)
		CHECK_INT_EQ(p->frame, last_frame_no + 1);
	first_packet = false;
	last_frame_no = p->frame;
	CHECK_INT_EQ(encoder_receive(enc, &extra), ENCODER_AGAIN);
	CHECK(extra.data == NULL);
	return 0;
}

/* True when the access unit has an SPS (NAL type 7) before its first slice. */
static bool has_sps(const struct encoder_packet *p)
{
	for (size_t i = 0; i + 3 < p->size; i++) {
		if (p->data[i] == 0 && p->data[i + 1] == 0 && p->data[i + 2] == 1) {
			int type = p->data[i + 3] & 0x1f;

			if (type == 7)
				return true;
			if (type == 1 || type == 5)
				return false;
		}
	}
	return false;
}

/* ---- convert ---- */

static void test_convert(void)
{
	enum {
		CW = 66,
		CH = 38
	};
	uint8_t *a = malloc((size_t)CW * CH * 4), *b = malloc((size_t)CW * CH * 4);
	uint8_t *rgb24 = malloc((size_t)CW * CH * 3);
	uint8_t *ya = malloc((size_t)CW * CH), *yb = malloc((size_t)CW * CH);
	uint8_t *planes = calloc(1, (size_t)CW * CH * 2), *planes2 = calloc(1, (size_t)CW * CH * 2);
	struct convert_cfg cfg = {.width = CW, .height = CH};
	struct convert_picture pic = {{planes, planes + CW * CH, planes + CW * CH * 5 / 4},
				      {CW, CW / 2, CW / 2}};
	struct convert *conv;
	int maxd = 0, pw, ph, bad;

	for (size_t i = 0; i < (size_t)CW * CH * 4; i++) {
		a[i] = (uint8_t)rng();
		b[i] = (uint8_t)rng();
	}
	reference_y(a, CW, CH, CW * 4, ya);
	reference_y(b, CW, CH, CW * 4, yb);

	CHECK(convert_new(NULL) == NULL);
	cfg.width = 0;
	CHECK(convert_new(&cfg) == NULL);
	cfg.width = CW;
	cfg.format = CONVERT_FORMAT_COUNT;
	CHECK(convert_new(&cfg) == NULL);
	cfg.format = CONVERT_BGRA;
	convert_free(NULL);

	/* libyuv: the whole picture, against the BT.601 formula */
	conv = convert_new(&cfg);
	CHECK(conv != NULL);
	if (!conv)
		goto out;
	convert_picture_size(conv, &pw, &ph);
	CHECK_INT_EQ(pw, CW);
	CHECK_INT_EQ(ph, CH);
	CHECK_INT_EQ(convert_full(conv, a, CW * 4, &pic), 1);
	for (int i = 0; i < CW * CH; i++) {
		int d = abs(planes[i] - ya[i]);
		maxd = d > maxd ? d : maxd;
	}
	CHECK(maxd <= 1);

	/* Only the damaged rectangle changes, widened to even coordinates. */
	{
		struct rect r[3] = {{5, 7, 10, 9}, {-20, -20, 5, 5}, {10, 10, 0, 4}};
		int in = 0, out_ok = 1;

		CHECK_INT_EQ(convert_rects(conv, b, CW * 4, r, 3, &pic), 1);
		for (int y = 0; y < CH; y++)
			for (int x = 0; x < CW; x++) {
				bool inside = x >= 4 && x < 16 && y >= 6 && y < 16;
				int want = inside ? yb[y * CW + x] : ya[y * CW + x];

				if (abs(planes[y * CW + x] - want) > 1)
					out_ok = 0;
				in += inside;
			}
		CHECK(out_ok);
		CHECK_INT_EQ(in, 120);
		CHECK_INT_EQ(convert_rects(conv, b, CW * 4, r + 1, 2, &pic), 0);
		CHECK_INT_EQ(convert_rects(conv, NULL, CW * 4, r, 1, &pic), -EINVAL);
		CHECK_INT_EQ(convert_rects(conv, b, CW * 4 - 1, r, 1, &pic), -EINVAL);
		CHECK_INT_EQ(convert_rects(conv, NULL, 0, NULL, 0, &pic), 0);
	}
	convert_free(conv);

	/* libswscale: RGB24 (no libyuv path) and BGRA forced, against the same formula */
	for (int i = 0; i < CW * CH; i++) {
		rgb24[i * 3 + 0] = a[i * 4 + 2];
		rgb24[i * 3 + 1] = a[i * 4 + 1];
		rgb24[i * 3 + 2] = a[i * 4 + 0];
	}
	for (int pass = 0; pass < 2; pass++) {
		struct convert_cfg scfg = {.width = CW, .height = CH};
		struct convert_picture pic2 = {
			{planes2, planes2 + CW * CH, planes2 + CW * CH * 5 / 4},
			{CW, CW / 2, CW / 2}};

		if (pass == 0)
			scfg.format = CONVERT_RGB24;
		else
			scfg.force_swscale = true;
		conv = convert_new(&scfg);
		CHECK(conv != NULL);
		if (!conv)
			continue;
		CHECK_INT_EQ(convert_full(conv, pass == 0 ? rgb24 : a, pass == 0 ? CW * 3 : CW * 4,
					  &pic2),
			     1);
		maxd = 0;
		for (int i = 0; i < CW * CH; i++) {
			int d = abs(planes2[i] - ya[i]);
			maxd = d > maxd ? d : maxd;
		}
		CHECK(maxd <= 2);
		/* chroma close to libyuv's (same matrix, a different 2x2 filter) */
		bad = 0;
		for (int i = CW * CH; i < CW * CH * 3 / 2; i++)
			bad += abs(planes2[i] - planes[i]) > 40;
		CHECK(bad < CW * CH / 20);
		/* a rectangle through the cached context, twice (same size: context reused) */
		{
			struct rect r = {20, 10, 14, 12};

			CHECK_INT_EQ(convert_rects(conv, pass == 0 ? rgb24 : a,
						   pass == 0 ? CW * 3 : CW * 4, &r, 1, &pic2),
				     1);
			CHECK_INT_EQ(convert_rects(conv, pass == 0 ? rgb24 : a,
						   pass == 0 ? CW * 3 : CW * 4, &r, 1, &pic2),
				     1);
		}
		convert_free(conv);
	}

	/* Odd size: the picture is rounded up and the last column/row repeated. */
	{
		struct convert_cfg ocfg = {.width = CW - 1, .height = CH - 1};
		struct rect corner = {CW - 4, CH - 4, 10, 10};

		memset(planes, 0, (size_t)CW * CH * 3 / 2);
		conv = convert_new(&ocfg);
		CHECK(conv != NULL);
		if (conv) {
			convert_picture_size(conv, &pw, &ph);
			CHECK_INT_EQ(pw, CW);
			CHECK_INT_EQ(ph, CH);
			CHECK_INT_EQ(convert_full(conv, a, CW * 4, &pic), 1);
			bad = 0;
			for (int y = 0; y < CH; y++)
				bad += planes[y * CW + CW - 1] != planes[y * CW + CW - 2];
			for (int x = 0; x < CW; x++)
				bad += planes[(CH - 1) * CW + x] != planes[(CH - 2) * CW + x];
			CHECK_INT_EQ(bad, 0);
			/* a damaged corner refreshes the padding too */
			CHECK_INT_EQ(convert_rects(conv, b, CW * 4, &corner, 1, &pic), 1);
			CHECK_INT_EQ(planes[(CH - 1) * CW + CW - 1],
				     planes[(CH - 2) * CW + CW - 2]);
			CHECK(abs(planes[(CH - 2) * CW + CW - 2] - yb[(CH - 2) * CW + CW - 2]) <=
			      1);
			convert_free(conv);
		}
	}

	/* RGB565 goes through libswscale */
	{
		struct convert_cfg rcfg = {.width = 16, .height = 16, .format = CONVERT_RGB565};
		uint16_t px[16 * 16];

		for (int i = 0; i < 256; i++)
			px[i] = 0xffff; /* white */
		conv = convert_new(&rcfg);
		CHECK(conv != NULL);
		if (conv) {
			CHECK_INT_EQ(convert_full(conv, (const uint8_t *)px, 32, &pic), 1);
			/* libswscale widens 5 bits by shifting (31 -> 248), so white is 231, not 235 */
			CHECK(planes[0] >= 229 && planes[0] <= 236);
			CHECK(abs(planes[CW * CH] - 128) <= 2);
			convert_free(conv);
		}
	}
	/* I444, libyuv and accurate (libswscale): chroma per pixel, against BT.601 in floating point */
	for (int pass = 0; pass < 2; pass++) {
		struct convert_cfg qcfg = {
			.width = CW, .height = CH, .chroma444 = true, .accurate = pass == 1};
		uint8_t *q = calloc(1, (size_t)CW * CH * 3);
		struct convert_picture qp = {{q, q + CW * CH, q + 2 * CW * CH}, {CW, CW, CW}};
		int worst = 0;

		conv = convert_new(&qcfg);
		CHECK(conv != NULL);
		if (conv && q) {
			CHECK_INT_EQ(convert_full(conv, a, CW * 4, &qp), 1);
			for (int i = 0; i < CW * CH; i++) {
				double r = a[i * 4 + 2], g = a[i * 4 + 1], bl = a[i * 4];
				double cb = 128 +
					    224.0 / 255 * (-0.168736 * r - 0.331264 * g + 0.5 * bl);
				double cr = 128 +
					    224.0 / 255 * (0.5 * r - 0.418688 * g - 0.081312 * bl);
				int d1 = abs(q[CW * CH + i] - (int)lround(cb));
				int d2 = abs(q[2 * CW * CH + i] - (int)lround(cr));
				worst = d1 > worst ? d1 : worst;
				worst = d2 > worst ? d2 : worst;
				if (abs(q[i] - ya[i]) > 1)
					worst = 99;
			}
			printf("test_encoder: I444 %s: chroma off by at most %d\n",
			       pass ? "accurate" : "libyuv", worst);
			CHECK(worst <= (pass ? 1 : 3));
		}
		convert_free(conv);
		free(q);
	}
	CHECK_INT_EQ(convert_format_bpp(CONVERT_RGB565), 2);
	CHECK_STR_EQ(convert_format_name(CONVERT_BGRA), "BGRA");
out:
	free(a);
	free(b);
	free(rgb24);
	free(ya);
	free(yb);
	free(planes);
	free(planes2);
}

/* ---- encoder ---- */

struct log_capture {
	int fallback_lines; /* warnings that name the bad encoder and libx264 */
	int running_lines;  /* the info line naming libx264 */
	const char *bad;
};

static void capture_sink(enum log_level level, const char *file, int line, const char *msg,
			 void *userdata)
{
	struct log_capture *c = userdata;

	(void)file;
	(void)line;
	if (level == LOG_LEVEL_WARN && strstr(msg, c->bad) &&
	    strstr(msg, "falling back to libx264"))
		c->fallback_lines++;
	if (level == LOG_LEVEL_INFO && strstr(msg, "running libx264"))
		c->running_lines++;
}

static void test_fallback(void)
{
	const char *names[] = {"h264_nosuchthing", "mjpeg"};
	struct encoder_cfg cfg = {.width = 320, .height = 240};
	struct encoder *enc;

	for (size_t i = 0; i < 2; i++) {
		struct log_capture cap = {.bad = names[i]};

		cfg.codec = names[i];
		log_set_sink(capture_sink, &cap);
		enc = encoder_new(&cfg);
		log_set_sink(NULL, NULL);
		CHECK(enc != NULL);
		if (!enc)
			continue;
		CHECK_STR_EQ(encoder_codec_name(enc), "libx264");
		CHECK_INT_EQ(cap.fallback_lines, 1);
		CHECK_INT_EQ(cap.running_lines, 1);
		encoder_free(enc);
	}

	/* A hardware encoder without its hardware falls back too (or runs, where present). */
	cfg.codec = "h264_vaapi";
	enc = encoder_new(&cfg);
	CHECK(enc != NULL);
	if (enc) {
		printf("test_encoder: h264_vaapi requested, %s runs\n", encoder_codec_name(enc));
		encoder_free(enc);
	}

	cfg.codec = NULL;
	cfg.width = 0;
	CHECK(encoder_new(&cfg) == NULL);
	cfg.width = 320;
	cfg.crf = 60;
	CHECK(encoder_new(&cfg) == NULL);
	CHECK(encoder_new(NULL) == NULL);
	encoder_free(NULL);
	encoder_packet_free(NULL);
}

static void test_encode(void)
{
	struct encoder_cfg cfg = {.width = W, .height = H, .fps = 30, .threads = 2};
	int stride = W * 4;
	uint8_t *a = malloc((size_t)stride * H), *b = malloc((size_t)stride * H);
	uint8_t *ref = malloc((size_t)W * H), *refb = malloc((size_t)W * H);
	uint8_t *prev = malloc((size_t)W * H);
	struct encoder_packet p = {0};
	struct encoder *enc;
	struct dec d, fresh;
	double psnr_normal = 0, psnr_refined = 0;
	uint64_t t = 1000000; /* capture clock, microseconds */

	CHECK_INT_EQ(dec_open(&d), 0);
	draw_screen(a, W, H, stride, 1);
	draw_screen(b, W, H, stride, 2);
	reference_y(a, W, H, stride, ref);
	reference_y(b, W, H, stride, refb);

	enc = encoder_new(&cfg);
	CHECK(enc != NULL);
	if (!enc)
		goto out;
	CHECK_STR_EQ(encoder_codec_name(enc), "libx264");

	/* Nothing submitted yet: nothing to refine, nothing to receive. */
	CHECK_INT_EQ(encoder_refine(enc, t), ENCODER_AGAIN);
	CHECK_INT_EQ(encoder_submit(enc, NULL, 0, NULL, 0, t), ENCODER_AGAIN);
	CHECK_INT_EQ(encoder_receive(enc, &p), ENCODER_AGAIN);

	/* First frame: the whole screen whatever the damage, a key frame with SPS/PPS. */
	{
		struct rect tiny = {0, 0, 2, 2};

		CHECK_INT_EQ(encoder_submit(enc, a, stride, &tiny, 1, t), ENCODER_OK);
	}
	if (take_one(enc, &p) == 0) {
		CHECK(p.keyframe);
		CHECK(!p.refinement);
		CHECK(has_sps(&p));
		CHECK_INT_EQ(p.frame, 0);
		CHECK_INT_EQ(p.capture_us, t);
		CHECK_INT_EQ(p.width, W);
		CHECK_INT_EQ(p.height, H);
		/* VIDEO's stage times: a whole screen converted, a key frame encoded */
		printf("test_encoder: key frame: convert %u us, encode %u us\n", p.convert_us,
		       p.encode_us);
		CHECK(p.convert_us > 0);
		CHECK(p.encode_us > 0);
		CHECK_INT_EQ(dec_decode(&d, &p), 0);
		CHECK_INT_EQ(d.frame->width, W);
		psnr_normal = psnr_region(d.frame->data[0], d.frame->linesize[0], ref, W, 0, 0, W,
					  H);
		printf("test_encoder: key frame %zu bytes, Y PSNR %.2f dB\n", p.size, psnr_normal);
		CHECK(psnr_normal >= 35.0);
		for (int y = 0; y < H; y++)
			memcpy(prev + (size_t)y * W,
			       d.frame->data[0] + (size_t)y * (size_t)d.frame->linesize[0], W);
	}
	encoder_packet_free(&p);
	CHECK(p.data == NULL);

	/* No damage, no frame (too soon for a refinement). */
	t += 33000;
	CHECK_INT_EQ(encoder_submit(enc, a, stride, NULL, 0, t), ENCODER_AGAIN);
	CHECK_INT_EQ(encoder_receive(enc, &p), ENCODER_AGAIN);
	{
		struct rect off = {W + 10, 0, 20, 20};

		CHECK_INT_EQ(encoder_submit(enc, a, stride, &off, 1, t), ENCODER_AGAIN);
		CHECK_INT_EQ(encoder_submit(enc, a, stride, NULL, 1, t), -EINVAL);
	}

	/*
	 * Damage on a small rectangle while the whole source changed: only the
	 * rectangle may change in the decoded picture.
	 */
	{
		struct rect r = {400, 300, 96, 40};
		int changed_outside = 0, outside = 0;
		double sse_a = 0, sse_b = 0;

		t += 33000;
		CHECK_INT_EQ(encoder_submit(enc, b, stride, &r, 1, t), ENCODER_OK);
		if (take_one(enc, &p) == 0) {
			CHECK(!p.keyframe);
			CHECK(!p.refinement);
			CHECK_INT_EQ(dec_decode(&d, &p), 0);
			for (int y = 0; y < H; y++)
				for (int x = 0; x < W; x++) {
					bool near = x >= r.x - 16 && x < r.x + r.width + 16 &&
						    y >= r.y - 16 && y < r.y + r.height + 16;
					uint8_t v =
						d.frame->data[0][(size_t)y * (size_t)d.frame
										     ->linesize[0] +
								 (size_t)x];

					if (near)
						continue;
					outside++;
					changed_outside += v != prev[(size_t)y * W + (size_t)x];
					sse_a += (v - ref[(size_t)y * W + (size_t)x]) *
						 (v - ref[(size_t)y * W + (size_t)x]);
					sse_b += (v - refb[(size_t)y * W + (size_t)x]) *
						 (v - refb[(size_t)y * W + (size_t)x]);
				}
			/*
			 * Outside the rectangle the picture still shows the old screen (the
			 * codec may polish a few blocks there, but not paint the new one).
			 */
			printf("test_encoder: %d pixels changed outside the damage; PSNR there "
			       "%.2f dB against the old screen, %.2f against the new\n",
			       changed_outside, 10 * log10(65025.0 * outside / (sse_a + 1)),
			       10 * log10(65025.0 * outside / (sse_b + 1)));
			CHECK(changed_outside < outside / 100);
			CHECK(10 * log10(65025.0 * outside / (sse_a + 1)) >= 35.0);
			CHECK(10 * log10(65025.0 * outside / (sse_b + 1)) < 20.0);
			/* inside: the new screen */
			double in = psnr_region(d.frame->data[0], d.frame->linesize[0], refb, W,
						r.x, r.y, r.width, r.height);
			printf("test_encoder: damage %dx%d: %zu bytes, Y PSNR inside %.2f dB\n",
			       r.width, r.height, p.size, in);
			CHECK(in >= 35.0);
		}
		encoder_packet_free(&p);
		/* the reference is now screen a with that rectangle of b */
		for (int y = r.y; y < r.y + r.height; y++)
			memcpy(ref + (size_t)y * W + r.x, refb + (size_t)y * W + r.x,
			       (size_t)r.width);
	}

	/* Refinement: the same picture again, much closer to the source. */
	t += 33000;
	CHECK_INT_EQ(encoder_refine(enc, t), ENCODER_OK);
	if (take_one(enc, &p) == 0) {
		CHECK(p.refinement);
		CHECK(!p.keyframe);
		CHECK_INT_EQ(p.capture_us, t);
		CHECK_INT_EQ(p.convert_us, 0); /* nothing new to convert */
		CHECK(p.encode_us > 0);
		CHECK_INT_EQ(dec_decode(&d, &p), 0);
		psnr_refined = psnr_region(d.frame->data[0], d.frame->linesize[0], ref, W, 0, 0, W,
					   H);
		printf("test_encoder: refinement %zu bytes, Y PSNR %.2f dB (normal %.2f dB)\n",
		       p.size, psnr_refined, psnr_normal);
		CHECK(psnr_refined >= 45.0);
		CHECK(psnr_refined > psnr_normal);
	}
	encoder_packet_free(&p);
	CHECK_INT_EQ(encoder_refine(enc, t), ENCODER_AGAIN); /* nothing changed since */
	t += 1000000;
	CHECK_INT_EQ(encoder_submit(enc, NULL, 0, NULL, 0, t), ENCODER_AGAIN);

	/* Automatic refinement once the screen has been still for refine_after_ms (300). */
	{
		struct rect r = {800, 500, 40, 20};

		t += 33000;
		CHECK_INT_EQ(encoder_submit(enc, b, stride, &r, 1, t), ENCODER_OK);
		if (take_one(enc, &p) == 0) {
			CHECK(!p.refinement);
			CHECK_INT_EQ(dec_decode(&d, &p), 0);
		}
		encoder_packet_free(&p);
		for (int y = r.y; y < r.y + r.height; y++)
			memcpy(ref + (size_t)y * W + r.x, refb + (size_t)y * W + r.x,
			       (size_t)r.width);
		double before = d.frame->data[0]
					? psnr_region(d.frame->data[0], d.frame->linesize[0], ref,
						      W, r.x, r.y, r.width, r.height)
					: 0;
		t += 200000;
		CHECK_INT_EQ(encoder_submit(enc, b, stride, NULL, 0, t), ENCODER_AGAIN);
		t += 200000;
		CHECK_INT_EQ(encoder_submit(enc, b, stride, NULL, 0, t), ENCODER_OK);
		if (take_one(enc, &p) == 0) {
			CHECK(p.refinement);
			CHECK_INT_EQ(dec_decode(&d, &p), 0);
			/*
			 * Only what changed since the last refinement is refined: a small
			 * frame (the whole screen's was ~96 KB) that makes that area sharp.
			 */
			double after = psnr_region(d.frame->data[0], d.frame->linesize[0], ref, W,
						   r.x, r.y, r.width, r.height);
			printf("test_encoder: refinement of a 40x20 change: %zu bytes, Y PSNR "
			       "there %.2f -> %.2f dB\n",
			       p.size, before, after);
			CHECK(p.size < 20000);
			CHECK(after >= 45.0);
			CHECK(after > before);
		}
		encoder_packet_free(&p);
		t += 400000;
		CHECK_INT_EQ(encoder_submit(enc, b, stride, NULL, 0, t), ENCODER_AGAIN);
	}

	/* A key frame on request, without damage; a fresh decoder starts there. */
	encoder_request_keyframe(enc);
	t += 33000;
	CHECK_INT_EQ(encoder_submit(enc, NULL, 0, NULL, 0, t), ENCODER_OK);
	if (take_one(enc, &p) == 0) {
		CHECK(p.keyframe);
		CHECK(has_sps(&p));
		CHECK_INT_EQ(dec_open(&fresh), 0);
		CHECK_INT_EQ(dec_decode(&fresh, &p), 0);
		if (fresh.frame->data[0]) {
			double ps = psnr_region(fresh.frame->data[0], fresh.frame->linesize[0], ref,
						W, 0, 0, W, H);
			printf("test_encoder: requested key frame %zu bytes, Y PSNR %.2f dB\n",
			       p.size, ps);
			CHECK(ps >= 35.0);
		}
		dec_close(&fresh);
		CHECK_INT_EQ(dec_decode(&d, &p), 0);
	}
	encoder_packet_free(&p);
	/* and the key frame is refined all over, not only where the screen last changed */
	t += 400000;
	CHECK_INT_EQ(encoder_submit(enc, NULL, 0, NULL, 0, t), ENCODER_OK);
	if (take_one(enc, &p) == 0) {
		CHECK(p.refinement);
		CHECK_INT_EQ(dec_decode(&d, &p), 0);
		double ps = d.frame->data[0] ? psnr_region(d.frame->data[0], d.frame->linesize[0],
							   ref, W, 0, 0, W, H)
					     : 0;
		printf("test_encoder: refinement after the key frame: %zu bytes, Y PSNR %.2f dB\n",
		       p.size, ps);
		CHECK(ps >= 45.0);
	}
	encoder_packet_free(&p);

	/* Late receiver: two frames in, then both packets come out in order. */
	{
		struct rect r1 = {0, 200, 64, 64}, r2 = {64, 200, 64, 64};
		struct encoder_packet p1, p2;

		t += 33000;
		CHECK_INT_EQ(encoder_submit(enc, a, stride, &r1, 1, t), ENCODER_OK);
		t += 33000;
		CHECK_INT_EQ(encoder_submit(enc, a, stride, &r2, 1, t), ENCODER_OK);
		CHECK_INT_EQ(encoder_receive(enc, &p1), ENCODER_OK);
		CHECK_INT_EQ(encoder_receive(enc, &p2), ENCODER_OK);
		CHECK_INT_EQ(p2.frame, p1.frame + 1);
		CHECK_INT_EQ(p1.frame, last_frame_no + 1);
		CHECK_INT_EQ(p2.capture_us, t);
		last_frame_no = p2.frame;
		CHECK_INT_EQ(dec_decode(&d, &p1), 0);
		CHECK_INT_EQ(dec_decode(&d, &p2), 0);
		encoder_packet_free(&p1);
		encoder_packet_free(&p2);
		CHECK_INT_EQ(encoder_receive(enc, &p), ENCODER_AGAIN);
	}

	/*
	 * A receiver that stops taking packets: the encoder holds a few, then says
	 * -EAGAIN; the damage of that call is not lost but goes out with the next
	 * call once the packets are taken, even without new damage.
	 */
	{
		int ok = 0, again = 0, got = 0, decoded = 0;

		for (int i = 0; i < 12; i++) {
			struct rect r = {32 * i, 600, 32, 32};
			int ret;

			t += 33000;
			ret = encoder_submit(enc, b, stride, &r, 1, t);
			ok += ret == ENCODER_OK;
			again += ret == -EAGAIN;
			CHECK(ret == ENCODER_OK || ret == -EAGAIN);
		}
		CHECK(ok >= 8);
		CHECK(again >= 1);
		while (encoder_receive(enc, &p) == ENCODER_OK) {
			CHECK_INT_EQ(p.frame, last_frame_no + 1);
			last_frame_no = p.frame;
			decoded += dec_decode(&d, &p) == 0;
			got++;
			encoder_packet_free(&p);
		}
		CHECK_INT_EQ(got, ok);
		CHECK_INT_EQ(decoded, ok);
		t += 33000;
		CHECK_INT_EQ(encoder_submit(enc, NULL, 0, NULL, 0, t), ENCODER_OK);
		if (take_one(enc, &p) == 0) {
			CHECK(!p.refinement);
			CHECK_INT_EQ(dec_decode(&d, &p), 0);
			/* the last rectangle (x 352..384, y 600..632) now shows screen b */
			CHECK(psnr_region(d.frame->data[0], d.frame->linesize[0], refb, W, 352, 600,
					  32, 32) >= 35.0);
		}
		encoder_packet_free(&p);
		for (int y = 600; y < 632; y++)
			memcpy(ref + (size_t)y * W, refb + (size_t)y * W, 384);
	}

	/* Bitrate: down to the floor and back up, whole-screen changes, every frame decodes. */
	{
		size_t low = 0, high = 0;
		int decoded = 0;

		CHECK_INT_EQ(encoder_set_bitrate(enc, 0), -EINVAL);
		CHECK_INT_EQ(encoder_set_bitrate(enc, 50), 0);
		CHECK_INT_EQ(encoder_get_bitrate(enc), (int)ENCODER_BITRATE_MIN);
		CHECK_INT_EQ(encoder_set_bitrate(enc, 300), 0);
		CHECK_INT_EQ(encoder_get_bitrate(enc), 300);
		for (int i = 0; i < 12; i++) {
			struct rect all = {0, 0, W, H};

			if (i == 6)
				encoder_set_bitrate(enc, 20000);
			draw_screen(a, W, H, stride, 100 + (uint32_t)i);
			t += 33000;
			CHECK_INT_EQ(encoder_submit(enc, a, stride, &all, 1, t), ENCODER_OK);
			if (take_one(enc, &p) == 0) {
				if (i >= 2 && i < 6)
					low += p.size;
				if (i >= 8)
					high += p.size;
				decoded += dec_decode(&d, &p) == 0;
			}
			encoder_packet_free(&p);
		}
		printf("test_encoder: 4 changed frames at 300 kbit/s: %zu bytes, at 20000 kbit/s: "
		       "%zu "
		       "bytes\n",
		       low, high);
		CHECK_INT_EQ(decoded, 12);
		CHECK(low * 4 < high);
		/* 300 kbit/s at 30 fps is 1250 bytes a frame; allow the buffer's slack */
		CHECK(low < 4 * 10000);
	}

	/* Resize to an odd size and back: the codec is re-created, a key frame comes first. */
	{
		int sizes[2][2] = {{641, 361}, {W, H}};

		for (int s = 0; s < 2; s++) {
			int sw = sizes[s][0], sh = sizes[s][1], cw = (sw + 1) & ~1,
			    ch = (sh + 1) & ~1;
			uint8_t *px = malloc((size_t)sw * 4 * (size_t)sh);
			uint8_t *ry = malloc((size_t)sw * (size_t)sh);

			CHECK_INT_EQ(encoder_resize(enc, sw, sh), 0);
			draw_screen(px, sw, sh, sw * 4, 7);
			reference_y(px, sw, sh, sw * 4, ry);
			t += 33000;
			CHECK_INT_EQ(encoder_submit(enc, px, sw * 4, NULL, 0, t), ENCODER_OK);
			if (take_one(enc, &p) == 0) {
				CHECK(p.keyframe);
				CHECK_INT_EQ(p.width, cw);
				CHECK_INT_EQ(p.height, ch);
				CHECK_INT_EQ(dec_open(&fresh), 0);
				CHECK_INT_EQ(dec_decode(&fresh, &p), 0);
				if (fresh.frame->data[0]) {
					double ps;

					CHECK_INT_EQ(fresh.frame->width, cw);
					CHECK_INT_EQ(fresh.frame->height, ch);
					ps = psnr_region(fresh.frame->data[0],
							 fresh.frame->linesize[0], ry, sw, 0, 0, sw,
							 sh);
					printf("test_encoder: resized to %dx%d: Y PSNR %.2f dB\n",
					       sw, sh, ps);
					CHECK(ps >= 35.0);
				}
				dec_close(&fresh);
			}
			encoder_packet_free(&p);
			free(px);
			free(ry);
		}
		CHECK_INT_EQ(encoder_resize(enc, 0, 10), -EINVAL);
	}

	encoder_free(enc);
out:
	dec_close(&d);
	free(a);
	free(b);
	free(ref);
	free(refb);
	free(prev);
}

/* ---- 4:4:4 for still colour ---- */

/* draw_screen's text in colours on a dark background: what 4:2:0 smears. */
static void draw_colour_screen(uint8_t *px, int w, int h, int stride, uint32_t seed)
{
	static const uint8_t ink[5][3] = {
		{255, 60, 60}, {80, 220, 80}, {90, 140, 255}, {250, 220, 60}, {230, 80, 230}};

	draw_screen(px, w, h, stride, seed);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint8_t *p = px + (size_t)y * (size_t)stride + (size_t)x * 4;
			const uint8_t *c = ink[(x / 8 + y / 18) % 5];

			if (p[0] == 255 && p[1] == 255 && p[2] == 255)
				put(px, stride, x, y, 30, 30, 40);
			else if (p[0] == 0 && p[1] == 0 && p[2] == 0)
				put(px, stride, x, y, c[0], c[1], c[2]);
		}
}

/*
 * PSNR of the decoded picture's chroma against the I444 truth (4:2:0
 * pictures upsampled by repetition, as the worst renderer would).
 */
static double chroma_psnr(const AVFrame *f, const uint8_t *truth, int w, int h)
{
	int sh = f->format == AV_PIX_FMT_YUV444P ? 0 : 1;
	double sse = 0;

	for (int i = 1; i < 3; i++)
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++) {
				int dd = f->data[i][(size_t)(y >> sh) * (size_t)f->linesize[i] +
						    (size_t)(x >> sh)] -
					 truth[(size_t)i * w * h + (size_t)y * w + (size_t)x];
				sse += dd * dd;
			}
	return sse == 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 * 2.0 * w * h / sse);
}

static int submit_take(struct encoder *enc, const uint8_t *px, const struct rect *r, size_t n,
		       uint64_t t, struct encoder_packet *p, struct dec *d)
{
	CHECK_INT_EQ(encoder_submit(enc, px, W * 4, r, n, t), ENCODER_OK);
	if (take_one(enc, p) != 0)
		return -1;
	CHECK_INT_EQ(dec_decode(d, p), 0);
	return 0;
}

static void test_chroma444(void)
{
	struct encoder_cfg cfg = {.width = W, .height = H, .fps = 30, .threads = 2};
	struct convert_cfg ccfg = {.width = W, .height = H, .chroma444 = true};
	int stride = W * 4;
	uint8_t *colour = malloc((size_t)stride * H), *grey = malloc((size_t)stride * H);
	uint8_t *truth = malloc((size_t)W * H * 3);
	struct convert_picture tp = {{truth, truth + W * H, truth + 2 * W * H}, {W, W, W}};
	struct rect all = {0, 0, W, H}, key = {600, 300, 40, 20};
	struct encoder_packet p = {0};
	struct convert *conv = convert_new(&ccfg);
	struct encoder *enc = NULL;
	struct dec d;
	double c420 = 0, c444 = 0, c444r = 0;
	uint64_t t = 1000000;

	CHECK(conv != NULL);
	CHECK_INT_EQ(dec_open(&d), 0);
	if (!conv || !colour || !grey || !truth)
		goto out;
	draw_colour_screen(colour, W, H, stride, 5);
	draw_screen(grey, W, H, stride, 6);
	CHECK_INT_EQ(convert_full(conv, colour, stride, &tp), 1);

	enc = encoder_new(&cfg);
	CHECK(enc != NULL);
	if (!enc)
		goto out;
	first_packet = true;
	encoder_allow_chroma444(enc, true);

	/* Motion is 4:2:0; colour text loses its colour there. */
	if (submit_take(enc, colour, &all, 1, t, &p, &d) == 0) {
		CHECK(p.keyframe);
		CHECK(!p.chroma444);
		CHECK_INT_EQ(d.frame->format, AV_PIX_FMT_YUV420P);
		c420 = chroma_psnr(d.frame, truth, W, H);
	}
	encoder_packet_free(&p);

	/* Still: the refinement is a 4:4:4 key frame, then a 4:4:4 refinement. */
	t += 400000;
	if (submit_take(enc, colour, NULL, 0, t, &p, &d) == 0) {
		CHECK(p.keyframe);
		CHECK(p.refinement);
		CHECK(p.chroma444);
		CHECK(has_sps(&p));
		CHECK_INT_EQ(d.frame->format, AV_PIX_FMT_YUV444P);
		c444 = chroma_psnr(d.frame, truth, W, H);
		printf("test_encoder: 4:4:4 key frame %zu bytes\n", p.size);
	}
	encoder_packet_free(&p);
	t += 33000;
	if (submit_take(enc, colour, NULL, 0, t, &p, &d) == 0) {
		CHECK(!p.keyframe);
		CHECK(p.refinement);
		CHECK(p.chroma444);
		c444r = chroma_psnr(d.frame, truth, W, H);
		printf("test_encoder: 4:4:4 refinement %zu bytes\n", p.size);
	}
	encoder_packet_free(&p);
	printf("test_encoder: colour text chroma PSNR 4:2:0 %.2f dB, 4:4:4 key %.2f dB, refined "
	       "%.2f dB\n",
	       c420, c444, c444r);
	CHECK(c420 < 40.0);
	CHECK(c444 > c420 + 3.0);
	CHECK(c444r >= 45.0);
	t += 400000;
	CHECK_INT_EQ(encoder_submit(enc, colour, stride, NULL, 0, t), ENCODER_AGAIN);

	/* Typing stays 4:4:4 without a key frame; big damage goes back to 4:2:0 with one. */
	t += 33000;
	if (submit_take(enc, grey, &key, 1, t, &p, &d) == 0) {
		CHECK(!p.keyframe);
		CHECK(p.chroma444);
	}
	encoder_packet_free(&p);
	t += 33000;
	if (submit_take(enc, grey, &all, 1, t, &p, &d) == 0) {
		CHECK(p.keyframe);
		CHECK(!p.chroma444);
		CHECK_INT_EQ(d.frame->format, AV_PIX_FMT_YUV420P);
	}
	encoder_packet_free(&p);

	/* Grey text loses nothing to 4:2:0: its refinement stays 4:2:0, no key frame. */
	t += 400000;
	if (submit_take(enc, grey, NULL, 0, t, &p, &d) == 0) {
		CHECK(p.refinement);
		CHECK(!p.keyframe);
		CHECK(!p.chroma444);
	}
	encoder_packet_free(&p);

	/* Not allowed any more while 4:4:4: a 4:2:0 key frame without damage. */
	t += 33000;
	if (submit_take(enc, colour, &all, 1, t, &p, &d) == 0)
		CHECK(!p.chroma444);
	encoder_packet_free(&p);
	t += 400000;
	if (submit_take(enc, colour, NULL, 0, t, &p, &d) == 0)
		CHECK(p.chroma444 && p.keyframe);
	encoder_packet_free(&p);
	encoder_allow_chroma444(enc, false);
	t += 33000;
	if (submit_take(enc, NULL, NULL, 0, t, &p, &d) == 0) {
		CHECK(p.keyframe);
		CHECK(!p.chroma444);
		CHECK_INT_EQ(d.frame->format, AV_PIX_FMT_YUV420P);
	}
	encoder_packet_free(&p);
	/* and still colour then refines in 4:2:0 */
	t += 400000;
	if (submit_take(enc, colour, NULL, 0, t, &p, &d) == 0) {
		CHECK(p.refinement);
		CHECK(!p.chroma444);
	}
	encoder_packet_free(&p);

	/* An odd size (padded to even in every plane) after a resize made in 4:4:4. */
	encoder_allow_chroma444(enc, true);
	t += 33000;
	if (submit_take(enc, grey, &all, 1, t, &p, &d) == 0)
		CHECK(!p.chroma444);
	encoder_packet_free(&p);
	t += 400000;
	if (submit_take(enc, colour, NULL, 0, t, &p, &d) == 0)
		CHECK(p.chroma444);
	encoder_packet_free(&p);
	CHECK_INT_EQ(encoder_resize(enc, 641, 361), 0);
	{
		struct rect odd = {0, 0, 641, 361};

		t += 33000;
		CHECK_INT_EQ(encoder_submit(enc, colour, stride, &odd, 1, t), ENCODER_OK);
		if (take_one(enc, &p) == 0) {
			CHECK(p.keyframe);
			CHECK(!p.chroma444);
		}
		encoder_packet_free(&p);
		t += 400000;
		CHECK_INT_EQ(encoder_submit(enc, colour, stride, NULL, 0, t), ENCODER_OK);
		if (take_one(enc, &p) == 0) {
			CHECK(p.keyframe && p.chroma444);
			CHECK_INT_EQ(p.width, 642);
			CHECK_INT_EQ(p.height, 362);
			CHECK_INT_EQ(dec_decode(&d, &p), 0);
			CHECK_INT_EQ(d.frame->format, AV_PIX_FMT_YUV444P);
			CHECK_INT_EQ(d.frame->width, 642);
			/* the padding column repeats the last one in the chroma planes too */
			if (d.frame->data[1])
				CHECK(abs(d.frame->data[1][641] - d.frame->data[1][640]) <= 12);
		}
		encoder_packet_free(&p);
	}
out:
	encoder_free(enc);
	convert_free(conv);
	dec_close(&d);
	free(colour);
	free(grey);
	free(truth);
}

int main(void)
{
	log_set_level(LOG_LEVEL_INFO);
	avlog_install();
	test_convert();
	test_fallback();
	test_encode();
	test_chroma444();
	return check_done("test_encoder");
}
