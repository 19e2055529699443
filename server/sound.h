/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_SOUND_H
#define HIGHRISE_SOUND_H

/*
 * One desktop's sound, both ways, in the agent's main process (not the
 * sandboxed worker: PulseAudio is the host's own trusted server, and the
 * worker may open no sockets). docs/architecture.md "Sound".
 *
 * Out (AUDIO): the desktop's sink monitor is captured on its own thread
 * (audio/source.h, hr-audio-cap) for as long as the desktop exists — a
 * monitor nobody plays into delivers nothing, so an idle desktop costs
 * nothing — and handed to the loop through the source's queue. While
 * someone listens (sound_listen), each frame is Opus-encoded on the loop
 * thread (~60 µs per 10 ms frame) and given to on_packet with its capture
 * time (CLOCK_REALTIME, the clock of VIDEO). Silence: DTX sends nothing;
 * of libopus's 3-byte keep-alive packets during a long silence one goes
 * out every 400 ms.
 *
 * In (MIC): a controlling client's microphone packets go through
 * audio/receiver.h (checked, jitter buffer, decode or conceal) and are
 * played (audio/pulse.h, hr-audio-play) into the desktop's microphone sink,
 * a null sink created when missing, whose monitor is the desktop's
 * microphone (QEMU: -audiodev pa,in.name=SINK.monitor). Without MIC the
 * sink plays silence.
 *
 * Consoles with their own sound channel (SPICE) bring the sound in the
 * console's connection instead: source_uri "console" takes PCM from
 * sound_feed (the worker's WLINK_PCM), cut into frames here; mic_console
 * decodes MIC on the loop, one frame every frame_us while it streams, and
 * hands the PCM to on_mic (the worker plays it into the console's record
 * channel).
 *
 * A sound server that is absent, dies or restarts is logged once by
 * audio/pulse.c and reconnected with backoff; video never waits for it.
 *
 * Threading: everything here on the agent's loop thread.
 */

#include "msg.h"
#include "opus_codec.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

/* Zero means the default. */
struct sound_cfg {
	const char *desktop;	/* its id, for logs */
	const char *server;	/* PulseAudio server ("unix:/path/native"); NULL: libpulse's */
	const char *source_uri; /* "pulse:SINK" or "pulse:" (audio/source.h), or "console"
				   (sound_feed); NULL: no sound out */
	const char *mic_sink;	/* the microphone's null sink; NULL: no microphone there */
	bool mic_console;	/* the microphone goes to on_mic (the console's record channel) */
	int frame_us;		/* 2500, 5000, 10000 (default), 20000 */
	enum opus_codec_app app;
	int bitrate; /* bit/s; 0: 96000 */
	/* a test hook (test.audio_drop_percent): drop this share of AUDIO packets on purpose */
	int drop_percent;
	/* an encoded packet for the listeners (loop thread); a is borrowed for the call */
	void (*on_packet)(const struct msg_audio *a, void *ud);
	/* mic_console: decoded microphone sound, 48 kHz stereo s16, borrowed for the call */
	void (*on_mic)(const int16_t *pcm, int samples, int64_t capture_us, void *ud);
	void *ud;
};

struct sound_stats {
	uint64_t frames;      /* captured */
	uint64_t packets;     /* encoded and handed to on_packet */
	uint64_t bytes;	      /* of those */
	uint64_t silent;      /* frames DTX (or the keep-alive rule) sent nothing for */
	uint64_t test_drops;  /* dropped by drop_percent */
	uint64_t mic_packets; /* MIC accepted into the jitter buffer */
	uint64_t mic_refused; /* MIC packets that were not Opus, mono, too long or absurd */
	bool capturing;	      /* the capture stream is up */
};

struct sound;

/* NULL (logged) for a bad cfg or without memory; a missing sound server is not an error. */
struct sound *sound_new(struct event_base *base, const struct sound_cfg *cfg);
void sound_free(struct sound *s);

/* Someone listens (encode and hand on) or nobody does (captured frames are discarded). */
void sound_listen(struct sound *s, bool on);
/* The listeners' highest reported loss, per mille: the encoder's FEC plans for it. */
void sound_set_loss(struct sound *s, unsigned loss_per_mille);
/*
 * source_uri "console": samples (per channel, 48 kHz stereo s16; pcm need
 * not be aligned) the
 * console played, the first captured at capture_us (CLOCK_REALTIME).
 * Gathered into frames of frame_us; a gap or a jump in time starts a new
 * frame. Loop thread.
 */
void sound_feed(struct sound *s, int64_t capture_us, const void *pcm, int samples);
/* Is this desktop's sound fed by its console (sound_feed)? */
bool sound_from_console(const struct sound *s);
/* Does this desktop take a microphone? */
bool sound_has_mic(const struct sound *s);
/* A MIC payload from the controlling client. 0 when queued, else a negative code (counted). */
int sound_mic(struct sound *s, const struct msg_audio *m);
void sound_stats(struct sound *s, struct sound_stats *out);

#endif
