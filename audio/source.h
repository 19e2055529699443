/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_AUDIO_SOURCE_H
#define HIGHRISE_AUDIO_SOURCE_H

/*
 * Sound backends: where a desktop's sound comes from. One `const struct
 * audio_source_impl` table per kind of source, picked by URI
 * (audio_source_find), like server/capture/capture.h for pixels:
 *
 *   pulse:SINK   the monitor of PulseAudio sink SINK (a null sink named
 *                SINK is created when missing: QEMU's -audiodev pa,
 *                out.name=SINK plays into it); pulse: alone is the default
 *                sink's monitor (an X session's own sound)
 *   pulse-source:SOURCE
 *                PulseAudio source SOURCE as it is (a microphone, or a
 *                monitor such as "vm1.monitor"); pulse-source: alone is the
 *                default source. Nothing is created: a missing source is an
 *                outage like a missing server (logged once, retried)
 *
 * (SPICE's playback channel is the next table.)
 *
 * Frames are 48 kHz stereo interleaved s16, cfg->frame_us long (10 ms by
 * default: one Opus frame), stamped with the CLOCK_REALTIME µs at which
 * their first sample was captured — the clock VIDEO's capture time uses.
 *
 * A source runs on its own named thread and never blocks its caller: it
 * hands frames to cfg->on_frame on that thread, or, without a callback,
 * to a bounded queue that next() pops (full: the oldest frame is dropped
 * and counted). A sound server that is absent, dies or restarts is not an
 * error for the caller: the source logs once why sound is off, reconnects
 * with backoff, logs when it is back, and frames simply resume.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIO_RATE	48000
#define AUDIO_CHANNELS	2
#define AUDIO_FRAME_MAX 960 /* samples per channel in the longest frame (20 ms) */

struct audio_frame {
	int64_t capture_us; /* CLOCK_REALTIME µs of the first sample */
	int samples;	    /* per channel */
	int16_t pcm[AUDIO_FRAME_MAX * AUDIO_CHANNELS];
};

/* Called on the source's thread; frame is borrowed for the call. Must not close the source. */
typedef void (*audio_frame_fn)(const struct audio_frame *frame, void *userdata);

/* Zero means the default. */
struct audio_source_cfg {
	int frame_us; /* 2500, 5000, 10000 (default) or 20000 */
	const char
		*server; /* "unix:/path/native"; NULL: libpulse's default (PULSE_SERVER, session) */
	const char *client_name; /* as pactl shows it; NULL: "highrise" */
	bool no_create;		 /* do not create a missing null sink (pulse-source: never does) */
	audio_frame_fn on_frame; /* NULL: frames go to the queue for next() */
	void *userdata;
	size_t queue_frames; /* queue capacity: 0 means 16 */
};

enum audio_status {
	AUDIO_OK,    /* a frame */
	AUDIO_AGAIN, /* none before the timeout */
	AUDIO_ERROR, /* the source cannot work (on_frame mode has no queue) */
};

struct audio_source_stats {
	uint64_t frames;     /* delivered */
	uint64_t dropped;    /* the queue was full */
	uint64_t overflows;  /* the sound server dropped data we did not read in time */
	uint64_t holes;	     /* gaps the server reported in the recording */
	uint64_t reconnects; /* connection attempts after the first */
	bool connected;	     /* capturing right now */
};

struct audio_source;

struct audio_source_impl {
	const char *name; /* "pulse" */

	/* Does this backend handle uri? (a prefix check) */
	bool (*handles)(const char *uri);

	/*
	 * Starts the source's thread and returns at once; connecting, and
	 * reconnecting, happen on that thread. NULL (logged) only for a bad
	 * URI or cfg, or without memory/threads.
	 */
	struct audio_source *(*open)(const char *uri, const struct audio_source_cfg *cfg);

	/* Queue mode: the oldest frame, waiting up to timeout_ms (-1: forever). Any one thread. */
	enum audio_status (*next)(struct audio_source *s, int timeout_ms, struct audio_frame *out);

	/* Queue mode: an fd readable while frames wait (for an event loop), or -1. */
	int (*fd)(struct audio_source *s);

	/* Any thread, including on_frame's. */
	void (*stats)(struct audio_source *s, struct audio_source_stats *out);

	/* Stops the thread and frees. Not from on_frame. close(NULL) does nothing. */
	void (*close)(struct audio_source *s);
};

extern const struct audio_source_impl audio_source_pulse;

/* The backend for uri, or NULL (and a log line listing the known schemes). */
const struct audio_source_impl *audio_source_find(const char *uri);

#endif
