/* SPDX-License-Identifier: MIT */
/*
 * bench-encoder: the raw encoder as the ceiling of the agent's pipeline.
 *
 * Phase 1 records what the agent's pipeline would encode: the X11 capture
 * backend (server/capture, the very code the agent runs) is polled the
 * pipeline's way (10 ms waits, damage collected, at most --fps snapshots a
 * second, each stamped with the time its first damage was seen), and the
 * damaged pixels of each snapshot are copied into memory (bounded by
 * --max-mb; the recording stops early when that is reached and says so).
 *
 * Phase 2 replays the recording through hr_encoder with the agent's
 * settings (encoder_cfg zeroed but for size and fps: libx264 ultrafast + CABAC,
 * zerolatency, CRF 20, 10 Mbit/s ceiling, refinement 300 ms after the last
 * change) with nothing else running, and times each encoder_submit() plus
 * its encoder_receive() calls: convert + encode, which is the part of the
 * pipeline no transport, decoder or flow control can make faster.
 *
 * Every frame is then decoded (libavcodec's h264, outside the timing) and
 * compared with the I420 picture of the very pixels the encoder was given:
 * the picture's quality mid-motion, which a faster preset must not buy its
 * speed with.
 *
 * Output: one JSON object on stdout with a row per encoded frame, in the
 * shape bench/agent/run.sh reads for every side: "frame_ms" (capture time,
 * ms after the recording started), "frame_bytes", "frame_refine",
 * "encode_ms" (wall), "cpu_ms" (process CPU, all encoder threads),
 * "frame_psnr" (dB, Y, U and V weighted 6:1:1 as FFmpeg's "average"; 99
 * for identical pictures, -1 when nothing decoded).
 */
#include "capture.h"
#include "clock.h"
#include "convert.h"
#include "encoder.h"
#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>

#include <libavcodec/avcodec.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG		"bench-encoder"
#define CAPTURE_WAIT_MS 10 /* as server/desktop.c */
#define REFINE_AFTER_US 300000

struct snap {
	uint64_t t_us; /* first damage of this snapshot, after the recording started */
	size_t nrect;
	struct rect *rects;
	uint8_t *pixels; /* the rectangles' pixels, one after the other, 4 bytes each */
};

struct recording {
	int width, height;
	uint64_t seconds_us; /* how long it ran */
	struct snap *snaps;
	size_t n, cap;
	size_t bytes;
	bool truncated;
};

struct row {
	double t_ms, encode_ms, cpu_ms, psnr;
	size_t bytes;
	bool refine;
};

/* The decoder and the reference picture that frame_psnr compares. */
struct judge {
	AVCodecContext *ctx;
	AVPacket *pkt;
	AVFrame *frame;
	struct convert *conv;
	uint8_t *ref; /* I420 of the screen given to the encoder */
	int w, h;     /* even */
	uint8_t *au;  /* this submit's packets, one after the other */
	size_t au_len, au_cap;
};

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The pipeline's damage list (capture.h's, as the worker keeps it). */
static void add_damage(struct rect *list, size_t *n, const struct rect *r, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		capture_damage_add(list, n, r[i]);
}

/* Copies the damaged pixels of f into a new snapshot. -ENOSPC past max_bytes. */
static int snapshot(struct recording *rec, const struct capture_frame *f, const struct rect *dmg,
		    size_t n, uint64_t t_us, size_t max_bytes)
{
	size_t px = 0, off = 0;
	struct snap *s;

	for (size_t i = 0; i < n; i++)
		px += (size_t)dmg[i].width * (size_t)dmg[i].height;
	if (rec->bytes + px * 4 > max_bytes)
		return -ENOSPC;
	if (rec->n == rec->cap) {
		size_t cap = rec->cap ? rec->cap * 2 : 256;
		struct snap *ns = realloc(rec->snaps, cap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		rec->snaps = ns;
		rec->cap = cap;
	}
	s = &rec->snaps[rec->n];
	s->t_us = t_us;
	s->nrect = n;
	s->rects = malloc(n * sizeof(*s->rects));
	s->pixels = malloc(px ? px * 4 : 1);
	if (!s->rects || !s->pixels) {
		free(s->rects);
		free(s->pixels);
		return -ENOMEM;
	}
	memcpy(s->rects, dmg, n * sizeof(*dmg));
	for (size_t i = 0; i < n; i++) {
		const struct rect *r = &dmg[i];
		for (int32_t y = 0; y < r->height; y++) {
			memcpy(s->pixels + off,
			       f->pixels + (size_t)(r->y + y) * (size_t)f->stride +
				       (size_t)r->x * 4,
			       (size_t)r->width * 4);
			off += (size_t)r->width * 4;
		}
	}
	rec->bytes += px * 4;
	rec->n++;
	return 0;
}

/* Records the display for seconds, the way server/desktop.c's pipeline loop captures. */
static int record(const char *uri, double seconds, int fps, size_t max_bytes, struct recording *rec)
{
	struct capture_cfg ccfg = {0};
	struct capture *cap = capture_x11.open(uri, &ccfg);
	struct capture_frame frame;
	struct rect damage[CAPTURE_DAMAGE_MAX];
	size_t ndamage = 0;
	uint64_t start, since = 0, last_snap = 0, gap = 1000000u / (unsigned)fps;
	int rc = 0;

	if (!cap) {
		fprintf(stderr, PROG ": cannot open %s\n", uri);
		return -EIO;
	}
	start = (uint64_t)clock_mono_us();
	while ((uint64_t)clock_mono_us() - start < (uint64_t)(seconds * 1e6)) {
		enum capture_status st = capture_x11.next(cap, CAPTURE_WAIT_MS, &frame);
		uint64_t t = (uint64_t)clock_mono_us() - start;

		if (st == CAPTURE_ERROR) {
			fprintf(stderr, PROG ": the X display went away\n");
			rc = -EIO;
			break;
		}
		if (st == CAPTURE_REINIT) {
			struct rect all = {0, 0, frame.width, frame.height};
			if (rec->n) {
				fprintf(stderr, PROG ": the screen changed size while recording\n");
				rc = -EIO;
				break;
			}
			rec->width = frame.width;
			rec->height = frame.height;
			ndamage = 0;
			add_damage(damage, &ndamage, &all, 1);
			since = t;
		} else if (st == CAPTURE_OK && frame.ndamage) {
			if (ndamage == 0)
				since = t;
			add_damage(damage, &ndamage, frame.damage, frame.ndamage);
		}
		if (ndamage == 0 || (rec->n && t - last_snap < gap))
			continue;
		rc = snapshot(rec, &frame, damage, ndamage, since, max_bytes);
		if (rc == -ENOSPC) {
			rec->truncated = true;
			rc = 0;
			break;
		}
		if (rc < 0)
			break;
		ndamage = 0;
		last_snap = t;
	}
	rec->seconds_us = (uint64_t)clock_mono_us() - start;
	capture_x11.close(cap);
	return rc;
}

static int judge_open(struct judge *j, int width, int height)
{
	const AVCodec *c = avcodec_find_decoder(AV_CODEC_ID_H264);
	struct convert_cfg ccfg = {.width = width, .height = height};

	memset(j, 0, sizeof(*j));
	j->w = (width + 1) & ~1;
	j->h = (height + 1) & ~1;
	j->ctx = c ? avcodec_alloc_context3(c) : NULL;
	j->pkt = av_packet_alloc();
	j->frame = av_frame_alloc();
	j->conv = convert_new(&ccfg);
	j->ref = malloc((size_t)j->w * (size_t)j->h * 3 / 2);
	if (!j->ctx || !j->pkt || !j->frame || !j->conv || !j->ref)
		return -ENOMEM;
	j->ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
	j->ctx->thread_count = 1;
	return avcodec_open2(j->ctx, c, NULL) < 0 ? -EIO : 0;
}

static void judge_close(struct judge *j)
{
	avcodec_free_context(&j->ctx);
	av_packet_free(&j->pkt);
	av_frame_free(&j->frame);
	convert_free(j->conv);
	free(j->ref);
	free(j->au);
}

static double plane_sse(const uint8_t *a, int as, const uint8_t *b, int bs, int w, int h)
{
	double sse = 0;

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			int d = a[(size_t)y * (size_t)as + (size_t)x] -
				b[(size_t)y * (size_t)bs + (size_t)x];
			sse += d * d;
		}
	return sse;
}

/* Decodes this submit's access unit; its PSNR against screen, or -1. */
static double judge_frame(struct judge *j, const uint8_t *screen, int stride)
{
	int cw = j->w / 2, ch = j->h / 2;
	uint8_t *u = j->ref + (size_t)j->w * (size_t)j->h, *v = u + (size_t)cw * (size_t)ch;
	struct convert_picture ref = {{j->ref, u, v}, {j->w, cw, cw}};
	const AVFrame *f = j->frame;
	double mse[3];

	av_frame_unref(j->frame);
	j->pkt->data = j->au;
	j->pkt->size = (int)j->au_len;
	j->au_len = 0;
	if (avcodec_send_packet(j->ctx, j->pkt) < 0 || avcodec_receive_frame(j->ctx, j->frame) < 0)
		return -1;
	if (f->format != AV_PIX_FMT_YUV420P || f->width != j->w || f->height != j->h ||
	    convert_full(j->conv, screen, stride, &ref) < 0)
		return -1;
	mse[0] = plane_sse(f->data[0], f->linesize[0], j->ref, j->w, j->w, j->h) / (j->w * j->h);
	mse[1] = plane_sse(f->data[1], f->linesize[1], u, cw, cw, ch) / (cw * ch);
	mse[2] = plane_sse(f->data[2], f->linesize[2], v, cw, cw, ch) / (cw * ch);
	double m = (6 * mse[0] + mse[1] + mse[2]) / 8;
	return m == 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 / m);
}

/* Takes every packet out of the encoder into j->au; their bytes, or a negative error. */
static long drain(struct encoder *enc, struct judge *j)
{
	struct encoder_packet pkt;
	long bytes = 0;
	int rc;

	while ((rc = encoder_receive(enc, &pkt)) == ENCODER_OK) {
		bytes += (long)pkt.size;
		if (j->au_len + pkt.size + AV_INPUT_BUFFER_PADDING_SIZE > j->au_cap) {
			size_t cap = (j->au_len + pkt.size + AV_INPUT_BUFFER_PADDING_SIZE) * 2;
			uint8_t *nb = realloc(j->au, cap);
			if (!nb) {
				encoder_packet_free(&pkt);
				return -ENOMEM;
			}
			j->au = nb;
			j->au_cap = cap;
		}
		memcpy(j->au + j->au_len, pkt.data, pkt.size);
		j->au_len += pkt.size;
		memset(j->au + j->au_len, 0, AV_INPUT_BUFFER_PADDING_SIZE);
		encoder_packet_free(&pkt);
	}
	return rc < 0 ? rc : bytes;
}

/* One timed encoder_submit (pixels NULL: a refinement if one is due). 0, 1 nothing, < 0. */
static int timed_submit(struct encoder *enc, struct judge *j, const uint8_t *screen,
			const uint8_t *pixels, int stride, const struct rect *dmg, size_t n,
			uint64_t t_us, bool refine, struct row *out)
{
	uint64_t w0 = (uint64_t)clock_mono_us();
	double c0 = cpu_ms();
	int rc = encoder_submit(enc, pixels, stride, dmg, n, t_us);
	long bytes;

	if (rc < 0 || rc == ENCODER_AGAIN)
		return rc < 0 ? rc : 1;
	bytes = drain(enc, j);
	if (bytes < 0)
		return (int)bytes;
	out->encode_ms = (double)((uint64_t)clock_mono_us() - w0) / 1000.0;
	out->cpu_ms = cpu_ms() - c0;
	out->psnr = judge_frame(j, screen, stride);
	out->t_ms = (double)t_us / 1000.0;
	out->bytes = (size_t)bytes;
	out->refine = refine;
	return 0;
}

/* Replays rec through a fresh encoder; rows[] gets one entry per encoded frame. */
static int replay(const struct recording *rec, int fps, struct row *rows, size_t *nrows,
		  const char **codec)
{
	struct encoder_cfg cfg = {.width = rec->width, .height = rec->height, .fps = fps};
	struct encoder *enc = encoder_new(&cfg);
	int stride = rec->width * 4;
	uint8_t *screen = calloc((size_t)rec->height, (size_t)stride);
	struct judge j;
	int rc = judge_open(&j, rec->width, rec->height);

	*nrows = 0;
	if (rc < 0) {
		fprintf(stderr, PROG ": cannot open libavcodec's h264 decoder\n");
		goto out;
	}
	if (!enc || !screen) {
		fprintf(stderr, PROG ": cannot open the encoder\n");
		rc = -ENOMEM;
		goto out;
	}
	*codec = encoder_codec_name(enc);
	for (size_t i = 0; i <= rec->n; i++) {
		/* a still screen gets its refinement, as the pipeline's idle loop does */
		uint64_t next = i < rec->n ? rec->snaps[i].t_us : rec->seconds_us;
		if (i > 0 && next > rec->snaps[i - 1].t_us + REFINE_AFTER_US) {
			uint64_t t = rec->snaps[i - 1].t_us + REFINE_AFTER_US;
			rc = timed_submit(enc, &j, screen, NULL, stride, NULL, 0, t, true,
					  &rows[*nrows]);
			if (rc < 0)
				goto out;
			if (rc == 0)
				(*nrows)++;
		}
		if (i == rec->n)
			break;
		const struct snap *s = &rec->snaps[i];
		size_t off = 0;
		for (size_t k = 0; k < s->nrect; k++) {
			const struct rect *r = &s->rects[k];
			for (int32_t y = 0; y < r->height; y++) {
				memcpy(screen + (size_t)(r->y + y) * (size_t)stride +
					       (size_t)r->x * 4,
				       s->pixels + off, (size_t)r->width * 4);
				off += (size_t)r->width * 4;
			}
		}
		rc = timed_submit(enc, &j, screen, screen, stride, s->rects, s->nrect, s->t_us,
				  false, &rows[*nrows]);
		if (rc < 0)
			goto out;
		if (rc == 0)
			(*nrows)++;
	}
	rc = 0;
out:
	judge_close(&j);
	free(screen);
	encoder_free(enc);
	return rc;
}

static void print_json(const struct recording *rec, const struct row *rows, size_t n,
		       const char *codec)
{
	static const char *const names[] = {"frame_ms",	 "frame_bytes", "frame_refine",
					    "encode_ms", "cpu_ms",	"frame_psnr"};

	printf("{\"codec\":\"%s\",\"width\":%d,\"height\":%d,\"seconds\":%.3f,"
	       "\"recorded\":%zu,\"recorded_mb\":%.1f,\"truncated\":%s,\"frames\":%zu",
	       codec, rec->width, rec->height, (double)rec->seconds_us / 1e6, rec->n,
	       (double)rec->bytes / 1e6, rec->truncated ? "true" : "false", n);
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		printf(",\"%s\":[", names[k]);
		for (size_t i = 0; i < n; i++) {
			const char *sep = i ? "," : "";
			switch (k) {
			case 0:
				printf("%s%.1f", sep, rows[i].t_ms);
				break;
			case 1:
				printf("%s%zu", sep, rows[i].bytes);
				break;
			case 2:
				printf("%s%s", sep, rows[i].refine ? "true" : "false");
				break;
			case 3:
				printf("%s%.3f", sep, rows[i].encode_ms);
				break;
			case 4:
				printf("%s%.3f", sep, rows[i].cpu_ms);
				break;
			default:
				printf("%s%.2f", sep, rows[i].psnr);
				break;
			}
		}
		printf("]");
	}
	printf("}\n");
}

static void usage(FILE *out)
{
	fputs("Usage: " PROG " --display N --seconds S [--fps 30] [--max-mb 1536]\n"
	      "\n"
	      "Records X display :N for S seconds through the agent's X11 capture backend\n"
	      "(damage, at most FPS snapshots a second), then replays the recording through\n"
	      "the agent's encoder settings and prints, as JSON, each frame's capture time,\n"
	      "size and encode time: the ceiling the agent's pipeline works under.\n"
	      "At most MAX-MB of damaged pixels are kept; the recording stops there.\n",
	      out);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"display", required_argument, NULL, 'd'},
		{"seconds", required_argument, NULL, 's'},
		{"fps", required_argument, NULL, 'f'},
		{"max-mb", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *display = NULL;
	double seconds = 0;
	int fps = 30, c, rc;
	long max_mb = 1536;
	struct recording rec = {0};
	struct row *rows = NULL;
	size_t nrows = 0;
	const char *codec = "?";
	char uri[64];

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			display = optarg[0] == ':' ? optarg + 1 : optarg;
			break;
		case 's':
			seconds = strtod(optarg, NULL);
			break;
		case 'f':
			fps = atoi(optarg);
			break;
		case 'm':
			max_mb = atol(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!display || !(seconds > 0 && seconds <= 600) || fps < 1 || fps > 240 || max_mb < 16) {
		usage(stderr);
		return 2;
	}
	log_open(PROG, LOG_LEVEL_WARN, LOG_TARGET_STDERR);
	snprintf(uri, sizeof(uri), "x11::%s", display);
	rc = record(uri, seconds, fps, (size_t)max_mb << 20, &rec);
	if (rc == 0 && rec.n == 0) {
		fprintf(stderr, PROG ": nothing was captured\n");
		rc = -EIO;
	}
	if (rc == 0) {
		/* each snapshot may be preceded by one refinement, and one may follow the last */
		rows = calloc(2 * rec.n + 1, sizeof(*rows));
		rc = rows ? replay(&rec, fps, rows, &nrows, &codec) : -ENOMEM;
	}
	if (rc == 0)
		print_json(&rec, rows, nrows, codec);
	for (size_t i = 0; i < rec.n; i++) {
		free(rec.snaps[i].rects);
		free(rec.snaps[i].pixels);
	}
	free(rec.snaps);
	free(rows);
	return rc == 0 ? 0 : 1;
}
