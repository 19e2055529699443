/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_STATS_H
#define HIGHRISE_CLIENT_STATS_H

/*
 * A series of samples (latencies, decode times) and its percentiles, for
 * highrise-probe's report and the client's statistics overlay.
 *
 * Memory is bounded: the first STATS_SAMPLES_MAX samples are all kept; after
 * that each new sample replaces a random kept one with the right probability
 * (reservoir sampling, Vitter's algorithm R), so the kept set stays a uniform
 * sample of everything added and percentiles stay unbiased on runs of hours.
 * Count, minimum, maximum and mean are exact.
 *
 * A series belongs to one thread at a time.
 *
 * stats_stages keeps one series per stage of a frame's way to the screen
 * (VIDEO's stage times, then the client's own), for the breakdown that
 * highrise-probe, the benchmarks and the overlay print.
 *
 * stats_overlay_format() writes the text of the GTK client's statistics
 * overlay from plain numbers (pure, so it is tested without a display).
 */

#include "msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_SAMPLES_MAX (1u << 20)

struct stats_series {
	double *v;
	size_t n, cap; /* kept samples, allocated slots */
	uint64_t count;
	double sum, min, max;
	uint64_t rng;
	int sorted;
};

void stats_series_init(struct stats_series *s);
void stats_series_deinit(struct stats_series *s);

/* Adds a sample. 0, or -ENOMEM (the sample still counts in count/min/max/mean). */
int stats_series_add(struct stats_series *s, double value);

/*
 * The p-th percentile (0 < p <= 100) by nearest rank: the smallest kept
 * sample with at least p% of the kept samples at or below it. NAN when empty.
 * Sorts the kept samples (adding more afterwards is fine).
 */
double stats_series_percentile(struct stats_series *s, double p);

/* NAN when empty. */
double stats_series_mean(const struct stats_series *s);

/* Forgets the samples (keeps the allocation): a new measuring period. */
void stats_series_reset(struct stats_series *s);

/*
 * A frame's way from the console to the screen, stage by stage, in order:
 * the agent's (enum msg_video_stage, docs/protocol.md §5.5), then the
 * client's.
 */
enum stats_stage {
	STATS_STAGE_NETWORK = MSG_STAGE_COUNT, /* the agent's write -> the whole frame read */
	STATS_STAGE_DECODE,		       /* the H.264 decoder */
	/* the GTK client's, after the decoder (highrise-probe shows what it decodes) */
	STATS_STAGE_HANDOFF, /* decoded -> the UI thread has it (copy, BGRA for cairo) */
	STATS_STAGE_RENDER,  /* the UI thread has it -> drawn (texture upload, scaling) */
	STATS_STAGE_PRESENT, /* drawn -> the frame clock's paint is over: on screen */
	STATS_STAGE_COUNT,
};

/*
 * "capture", "wait", "convert", "encode", "link", "queue", "network",
 * "decode", "handoff", "render", "present"; NULL past them.
 */
const char *stats_stage_name(int stage);

struct stats_stages {
	struct stats_series s[STATS_STAGE_COUNT]; /* milliseconds */
	uint64_t frames;			  /* frames with the agent's times */
};

void stats_stages_init(struct stats_stages *st);
void stats_stages_deinit(struct stats_stages *st);
void stats_stages_reset(struct stats_stages *st);

/*
 * A timed frame's stages in ms, up to decode: VIDEO's stage times, then its
 * network and decode times (µs, session_frame's); the GTK client's own stages
 * after decode are NAN for the caller to fill.
 */
void stats_stages_of_frame(double ms[STATS_STAGE_COUNT], const uint32_t stage_us[MSG_STAGE_COUNT],
			   uint32_t network_us, uint32_t decode_us);

/* One frame's stages 0 .. end-1 (ms, as stats_stages_of_frame gives them). */
void stats_stages_add(struct stats_stages *st, const double ms[STATS_STAGE_COUNT], int end);

/*
 * The pct-th percentile of stages first .. end-1 on one line, in order,
 * stages with no sample left out: "capture 0.4  wait 3.1  convert 0.9
 * encode 14.2 ... decode 2.1 ms". "" when there is none. Returns
 * snprintf's length.
 */
int stats_stages_format(struct stats_stages *st, double pct, int first, int end, char *buf,
			size_t len);

/* What the statistics overlay shows; NAN (or NULL, 0) for "not known yet". */
struct stats_overlay {
	double fps;	   /* pictures shown per second */
	double kbps;	   /* kbit/s received (every message, above TLS) */
	double latency_ms; /* capture -> display, median over the period */
	bool same_clock;   /* the agent's capture clock is ours (same host) */
	double decode_ms;  /* median time in the decoder */
	double rtt_ms;	   /* last PING round trip */
	/* stats_stages_format lines, median: the agent's stages, then ours; NULL or "": none */
	const char *stages_agent, *stages_client;
	const char *decoder;  /* decoder_describe() */
	const char *fallback; /* why not VAAPI; NULL or "" when not asked or in use */
	const char *renderer; /* "OpenGL" / "cairo" */
	int desk_w, desk_h;
	const char *scale; /* "fit", "1:1" */
	double zoom;	   /* shown pixels per desktop pixel (device pixels) */
	int off_x, off_y;  /* 1:1: the desktop pixel at the top-left corner */
	int scale_factor;  /* the monitor's (HiDPI) */
	/* sound (shown when audio is set) */
	bool audio;
	double audio_kbps;		    /* Opus payload over the last second */
	double jitter_ms, jitter_target_ms; /* the jitter buffer's depth and target */
	uint64_t concealed;		    /* frames made up (PLC and FEC) */
	uint64_t audio_dropped;		    /* packets never played: late, catch-up */
	double lipsync_ms;		    /* audio latency - video latency; NaN: unknown */
	int volume;
	bool muted;
	const char *mic; /* "live", "off", "not taken" */
};

/*
 * The overlay's text, several lines, e.g.
 *   "59.9 fps   4210 kbit/s\n
 *    capture→display 11.8 ms (same host)\n
 *    decode 3.2 ms   RTT 0.4 ms\n
 *    agent  capture 0.1  wait 0.0  ...  queue 0.0 ms\n      (with stage times)
 *    client network 0.2  decode 1.2  ...  present 8.0 ms\n
 *    decoder software (libavcodec h264, 2 threads)\n
 *      no VAAPI: <fallback>\n          (only when there is a fallback reason)
 *    renderer OpenGL (llvmpipe ...)\n
 *    desktop 1920x1080   1:1 at +960+480   HiDPI ×1\n
 *    audio 96 kbit/s   jitter 20/20 ms   concealed 3   dropped 0\n  (with audio)
 *    lip sync +4.0 ms   volume 100 %   mic off"
 * Returns the length (snprintf's: may be >= len when cut).
 */
int stats_overlay_format(const struct stats_overlay *o, char *buf, size_t len);

#endif
