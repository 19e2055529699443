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
 * stats_overlay_format() writes the text of the GTK client's statistics
 * overlay from plain numbers (pure, so it is tested without a display).
 */

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

/* What the statistics overlay shows; NAN (or NULL, 0) for "not known yet". */
struct stats_overlay {
	double fps;	      /* pictures shown per second */
	double kbps;	      /* kbit/s received (every message, above TLS) */
	double latency_ms;    /* capture -> display, median over the period */
	bool same_clock;      /* the agent's capture clock is ours (same host) */
	double decode_ms;     /* median time in the decoder */
	double rtt_ms;	      /* last PING round trip */
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
