/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_AUDIO_RECEIVER_H
#define HIGHRISE_AUDIO_RECEIVER_H

/*
 * One received Opus stream, from the network to PCM: the part the client's
 * AUDIO playback and the agent's MIC playback share.
 *
 *   network thread: audio_rx_push(capture_us, arrival_us, packet)
 *       the packet is untrusted: opus_dec_check first (malformed, mono,
 *       longer than the protocol's 20 ms frames: refused and counted), then
 *       the jitter buffer
 *   player thread:  audio_rx_fill(pcm, samples, play_us)
 *       pops the jitter buffer as often as it takes to fill the frame,
 *       decodes (or conceals, with FEC from the next packet when it is
 *       there) into a buffer of OPUS_CODEC_MAX_SAMPLES per channel, keeps
 *       what a longer packet left over for the next call, and pads with
 *       silence when the stream is idle
 *
 * 48 kHz stereo s16 interleaved (opus_codec.h). The two sides may run on
 * different threads: the jitter buffer is behind a mutex, the decoder
 * belongs to the fill thread. No I/O, no clock reads: the caller gives the
 * times, so it can be fuzzed and tested without a sound server.
 */

#include "jitter.h"

#include <stddef.h>
#include <stdint.h>

/* The longest packet a peer may send, samples per channel: the protocol's 20 ms frames. */
#define AUDIO_RX_PACKET_MAX 960

struct audio_rx_stats {
	uint64_t packets;   /* pushed and accepted by the jitter buffer */
	uint64_t bytes;	    /* of those */
	uint64_t refused;   /* not Opus, not stereo, too long, bad times (never queued) */
	uint64_t late;	    /* arrived after their frame was played or concealed */
	uint64_t dropped;   /* queued but never played: catch-up, duplicates, buffer full */
	uint64_t decoded;   /* frames decoded from packets */
	uint64_t concealed; /* frames made up by PLC (losses, late packets, stretches) */
	uint64_t recovered; /* frames rebuilt from the next packet's FEC */
	uint64_t silent;    /* frames of silence while the stream was idle */
	int64_t depth_us;   /* sound buffered ahead of the player */
	int64_t target_us;  /* the jitter buffer's target delay */
};

struct audio_rx;

/* NULL (logged) for a bad jitter cfg or without memory. cfg NULL: the defaults. */
struct audio_rx *audio_rx_new(const struct jitter_cfg *cfg);
void audio_rx_free(struct audio_rx *rx);

/*
 * Adds one untrusted packet. Returns its samples per channel when queued,
 * 0 when the jitter buffer dropped it (late, duplicate: counted), or a
 * negative OPUS_CODEC_E* / -EINVAL code when refused (counted).
 */
int audio_rx_push(struct audio_rx *rx, int64_t capture_us, int64_t arrival_us,
		  const uint8_t *packet, size_t len);

/*
 * Writes `samples` per channel (1..OPUS_CODEC_MAX_SAMPLES) of sound due at
 * play_us (the receiver's clock, as arrival_us) into pcm. Returns how many
 * of them are sound from the stream (decoded or concealed); the rest are
 * silence. Never fails.
 */
int audio_rx_fill(struct audio_rx *rx, int16_t *pcm, int samples, int64_t play_us);

/*
 * The capture time (sender's clock) of the first sample the last fill
 * wrote from the stream, or INT64_MIN when it wrote none (lip sync).
 */
int64_t audio_rx_last_capture_us(const struct audio_rx *rx);

/* Any thread. */
void audio_rx_stats(struct audio_rx *rx, struct audio_rx_stats *out);

#endif
