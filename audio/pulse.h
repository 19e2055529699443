/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_AUDIO_PULSE_H
#define HIGHRISE_AUDIO_PULSE_H

/*
 * PulseAudio (and PipeWire's pipewire-pulse, which speaks the same
 * protocol) through libpulse's asynchronous API on a pa_threaded_mainloop:
 * one named thread per stream, which owns the connection, reconnects, and
 * runs the callbacks.
 *
 * Capture is `audio_source_pulse` (source.h): the monitor of a sink,
 * recorded with fragsize of one frame so a frame is handed on as soon as
 * it exists.
 *
 * Playback pulls: the stream's thread asks cfg->fill for one frame each
 * time the server wants more, with tlength of two frames, so what plays is
 * at most ~two frames behind what fill returned. fill runs on the playback
 * thread and must not block (a jitter buffer pop and an Opus decode are
 * the intended work). A server that is absent, dies or restarts is logged
 * once and reconnected with backoff, as for capture.
 *
 * Sink names are PulseAudio names ([A-Za-z0-9._-], at most 127 bytes);
 * anything else is refused at open, since it ends up in module arguments.
 */

#include "source.h"

#include <stdbool.h>
#include <stdint.h>

/*
 * Fills pcm with up to samples per channel (interleaved stereo s16) that
 * will be heard at CLOCK_REALTIME play_us, and returns how many it wrote
 * (0..samples); the rest of the frame is silence. On the playback thread.
 *
 * need_us is when the frame is handed over: now for the first frame the
 * server asks for, a frame later for each next one in the same request
 * (play_us minus the server's latency). A jitter buffer schedules against
 * need_us — a packet must be there by then, and asking it for play_us
 * instead would make it think packets late by the sound server's own
 * latency — while lip sync and timing use play_us.
 */
typedef int (*audio_fill_fn)(int16_t *pcm, int samples, int64_t play_us, int64_t need_us,
			     void *userdata);

/* Zero means the default. */
struct audio_playback_cfg {
	int frame_us;	    /* 2500, 5000, 10000 (default) or 20000 */
	const char *server; /* NULL: libpulse's default */
	const char *sink;   /* NULL: the default sink */
	bool create_sink;   /* create a null sink named `sink` when missing (a VM's microphone) */
	const char *client_name; /* NULL: "highrise" */
	audio_fill_fn fill;	 /* required */
	/* How much sound the server holds ahead of what plays (tlength), in
	 * whole frames: 0 means two frames, the least delay. More rides out a
	 * busy machine without underruns, at that much more delay (a test
	 * signal that must be heard at a known instant). At most 1 s. */
	int64_t buffer_us;
	void *userdata;
};

struct audio_playback_stats {
	uint64_t frames;      /* frames written (fill's and silence) */
	uint64_t underruns;   /* the server ran dry (PA_STREAM underflow) */
	uint64_t short_fills; /* fill returned less than a frame */
	uint64_t reconnects;
	int64_t latency_us; /* the server's last reported playback latency */
	bool connected;
};

struct audio_playback;

/* Starts the playback thread and returns at once. NULL (logged) for a bad cfg. */
struct audio_playback *audio_playback_new(const struct audio_playback_cfg *cfg);
/* Not from fill. NULL does nothing. */
void audio_playback_free(struct audio_playback *p);
/* Any thread. */
void audio_playback_stats(struct audio_playback *p, struct audio_playback_stats *out);

/* Is name a sink name we pass to PulseAudio? */
bool audio_pulse_name_ok(const char *name);

#endif
