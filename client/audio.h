/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_AUDIO_H
#define HIGHRISE_CLIENT_AUDIO_H

/*
 * The client's sound, both ways, without any GUI (issue 10).
 *
 * client_audio plays the desktop's AUDIO:
 *
 *   session thread: client_audio_push ─ frame length check ─ audio_rx_push
 *   (audio/receiver.h: opus_dec_check, the jitter buffer)
 *   playback thread: fill ─ audio_rx_fill(play time, shifted for lip sync:
 *   jitter_pop, opus_dec_decode / opus_dec_conceal with FEC) ─ volume,
 *   mute ─ the sink (audio_playback), a WAV file, on_played
 *
 * The playback thread is audio_playback's (audio/pulse.h) or, with sink
 * "none" (the probe, tests: no sound card), a "virtual clock" thread that
 * asks for one frame every frame_us of CLOCK_REALTIME (absolute sleeps), so
 * the schedule is the one a sound card would keep.
 *
 * Packets are untrusted: anything libopus cannot parse, mono, or longer
 * than 20 ms (the protocol's frames are 2.5..20 ms) is refused and counted,
 * and the decoder always writes into a buffer of OPUS_CODEC_MAX_SAMPLES
 * (120 ms) per channel whatever the packet says.
 *
 * Lip sync (never by delaying video): the application says when it showed
 * a picture (client_audio_video_shown: the picture's capture time and the
 * time it was shown). Both latencies, video (shown - captured) and audio
 * (played - captured, on the same agent clock), are smoothed; when audio
 * runs more than LIPSYNC_START_MS ahead of the picture it is held back, and
 * when it runs that much behind it is brought forward (the jitter buffer
 * drops to catch up), a frame at a time, until within LIPSYNC_STOP_MS — at
 * most 20 ms ahead of the jitter buffer's own schedule (its minimum target),
 * since sooner than packets arrive only makes them late. Without a picture
 * for 2 s the shift stays where it is.
 *
 * Threads: push, video_shown, set_volume/set_mute, stats and report may be
 * called from any thread (one lock). new and free from one owner thread;
 * free never from on_played.
 */

#include "msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLIENT_AUDIO_SINK_NONE "none" /* no sound card: the virtual clock */
/* correct once audio and picture are this far apart: well inside the ±45 ms allowed, since
 * single events scatter ±10 ms around the smoothed figures */
#define LIPSYNC_START_MS 25
#define LIPSYNC_STOP_MS	 10 /* ... until they are this close */

/*
 * One frame was played (handed to the sink, or due by the virtual clock) at
 * CLOCK_REALTIME play_us; capture_us is the agent time of its first sample
 * (-1: silence nothing was captured for); peak is max |sample| after
 * volume. pcm is borrowed. On the playback thread: do not block.
 */
typedef void (*client_audio_played_fn)(int64_t play_us, int64_t capture_us, int peak,
				       const int16_t *pcm, int samples, void *userdata);

/* Zero means the default. */
struct client_audio_cfg {
	const char *server;   /* PulseAudio server; NULL: libpulse's default (PULSE_SERVER) */
	const char *sink;     /* NULL: the default sink; CLIENT_AUDIO_SINK_NONE: no sound card */
	const char *wav_path; /* write what was played (48 kHz s16 stereo) to this file */
	int frame_us;	      /* playback frame: 2500, 5000, 10000 (default) or 20000 */
	int64_t target_min_us, target_max_us; /* the jitter buffer's (jitter.h defaults) */
	bool no_lipsync;		      /* ignore client_audio_video_shown */
	int volume;			      /* percent at start, 1..100; 0: 100 */
	client_audio_played_fn on_played;
	void *userdata;
};

struct client_audio_stats {
	uint64_t packets, bytes;     /* accepted into the jitter buffer */
	double kbps;		     /* over the last full second (0 after 2 s without packets) */
	double packet_ms;	     /* duration of the latest packet (the sender's frame size) */
	uint64_t refused;	     /* not Opus, mono, too long, or bad timing */
	uint64_t concealed;	     /* frames made up by PLC */
	uint64_t recovered;	     /* frames rebuilt from FEC */
	uint64_t dropped;	     /* never played: catch-up, duplicates, buffer full */
	uint64_t late;		     /* arrived after their frame was played */
	uint64_t underruns;	     /* the sink ran dry (virtual clock: woke a frame late) */
	uint64_t frames;	     /* playback frames (sound and silence) */
	int64_t depth_us, target_us; /* jitter buffer now */
	bool lipsync_valid;	     /* both latencies are known */
	double lipsync_ms;	     /* audio latency - video latency (positive: audio late) */
	double shift_ms;	     /* what lip sync added to the audio delay now */
	uint64_t sync_held, sync_dropped; /* frame steps of holding back / advancing audio */
	int volume;			  /* percent */
	bool muted;
	bool playing;	      /* the sink is connected (always with the virtual clock) */
	int64_t wav_start_us; /* CLOCK_REALTIME at which the WAV's first sample played; -1 */
};

struct client_audio;

/* Starts the playback thread. NULL (logged) for a bad cfg or without memory. */
struct client_audio *client_audio_new(const struct client_audio_cfg *cfg);
/* Stops playback, completes the WAV file. NULL does nothing. */
void client_audio_free(struct client_audio *ca);

/*
 * One AUDIO packet (borrowed) that arrived at CLOCK_REALTIME arrival_us.
 * 0 when queued, 1 when dropped as late or duplicate, or a negative
 * OPUS_CODEC_E* code / -EINVAL when refused (counted). Never crashes.
 */
int client_audio_push(struct client_audio *ca, int64_t capture_us, int64_t arrival_us,
		      const uint8_t *data, size_t len);

/* A picture captured at agent time capture_us was shown at display_us (CLOCK_REALTIME). */
void client_audio_video_shown(struct client_audio *ca, int64_t capture_us, int64_t display_us);

/* 0..100 percent (clamped); mute keeps the volume. */
void client_audio_set_volume(struct client_audio *ca, int percent);
void client_audio_set_mute(struct client_audio *ca, bool mute);

void client_audio_stats(struct client_audio *ca, struct client_audio_stats *out);

/*
 * The AUDIO_REPORT since the previous call: loss = packets missing from the
 * run of capture times (a gap after a DTX packet is silence, not loss) or
 * arriving too late to play, per mille of the packets due; the jitter
 * buffer's target and depth now. False when no packet was due.
 */
bool client_audio_report(struct client_audio *ca, struct msg_audio_report *out);

/* ---- the microphone ---------------------------------------------------- */

struct event_base;

/*
 * One Opus packet from the microphone, on the event base's thread (send it
 * as MIC). Return 0 when sent (counted).
 */
typedef int (*client_mic_packet_fn)(int64_t capture_us, const uint8_t *data, size_t len,
				    void *userdata);

struct client_mic_cfg {
	const char *server;		/* NULL: libpulse's default */
	const char *source;		/* a PulseAudio source name; NULL: the default source */
	int bitrate;			/* bit/s; 0: 32000 */
	client_mic_packet_fn on_packet; /* required */
	void *userdata;
};

struct client_mic_stats {
	uint64_t frames;  /* captured while on */
	uint64_t packets; /* handed to on_packet and sent */
	uint64_t bytes;
	uint64_t silent;  /* DTX: nothing worth sending */
	uint64_t dropped; /* the hand-over queue was full */
	bool on, capturing;
};

struct client_mic;

/*
 * Off at first. Captures with audio_source_pulse ("pulse-source:SOURCE"),
 * encodes on the capture thread (voip, 10 ms, DTX: empty packets are not
 * sent) and hands packets to on_packet on base's thread through a bounded
 * queue and an event. All client_mic_* on base's thread. NULL (logged) for
 * a bad cfg (a source name PulseAudio would not take).
 */
struct client_mic *client_mic_new(struct event_base *base, const struct client_mic_cfg *cfg);
void client_mic_free(struct client_mic *m);
/* On: capture opens (0, or -EIO when it cannot); off: capture closed, nothing sent. */
int client_mic_set_on(struct client_mic *m, bool on);
bool client_mic_is_on(const struct client_mic *m);
void client_mic_stats(struct client_mic *m, struct client_mic_stats *out);

#endif
