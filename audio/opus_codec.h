/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_OPUS_CODEC_H
#define HIGHRISE_OPUS_CODEC_H

/*
 * Opus for Highrise's sound: 48 kHz, stereo, interleaved signed 16-bit PCM
 * both ways (RFC 6716; RTP payload conventions from RFC 7587).
 *
 * The encoder (agent: the desktop's sound; client: the microphone) makes one
 * packet per frame of 2.5, 5, 10 or 20 ms (10 by default), application
 * "restricted low delay" by default (CELT only: 5 ms less algorithmic delay
 * than "audio", but also no SILK, so no in-band FEC: see opus_enc_cfg), DTX
 * on, in-band FEC on.
 *
 * The decoder (client: AUDIO; agent: MIC) takes packets from the network,
 * which may come from a hostile peer: every packet is checked with libopus's
 * own parser before it is decoded, and the output buffer is always sized
 * for the longest packet Opus allows (120 ms, OPUS_CODEC_MAX_SAMPLES per
 * channel), whatever the packet or the sender announced. A refused packet
 * is counted (opus_dec_stats) and returns an OPUS_CODEC_E* code; nothing a
 * packet says can make the decoder write past out_cap.
 *
 * Threads: an encoder or decoder belongs to one thread at a time (libopus
 * state is not shared); different objects may be used on different threads.
 * Errors: functions return >= 0 or a negative OPUS_CODEC_E* / -errno value;
 * opus_codec_strerror() gives the sentence. Constructors return NULL and log.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OPUS_CODEC_RATE	       48000
#define OPUS_CODEC_CHANNELS    2
#define OPUS_CODEC_MAX_SAMPLES 5760 /* per channel: 120 ms at 48 kHz, RFC 6716 §3.2.5 */
/* libopus's recommended ceiling for one encoded packet (opus_encode docs). */
#define OPUS_CODEC_MAX_PACKET 4000
/* Encoded packets of this size or less carry no audio (DTX): need not be sent (RFC 7587 §3.1.3). */
#define OPUS_CODEC_DTX_BYTES 2

enum opus_codec_error {
	OPUS_CODEC_EBASE = -10200,		      /* below common/error.h's project codes */
	OPUS_CODEC_EMALFORMED = OPUS_CODEC_EBASE - 1, /* libopus cannot parse the packet */
	OPUS_CODEC_ECHANNELS = OPUS_CODEC_EBASE - 2,  /* a mono packet where we expect stereo */
	OPUS_CODEC_ETOOLONG = OPUS_CODEC_EBASE - 3,   /* more than 120 ms, or more than out_cap */
	OPUS_CODEC_EDECODE = OPUS_CODEC_EBASE - 4,    /* libopus refused it while decoding */
	OPUS_CODEC_EENCODE = OPUS_CODEC_EBASE - 5,    /* libopus failed to encode */
};

/* A sentence for an OPUS_CODEC_E* code; other values go to hr_strerror. Never NULL. */
const char *opus_codec_strerror(int err);

enum opus_codec_app {
	OPUS_CODEC_APP_LOWDELAY = 0, /* OPUS_APPLICATION_RESTRICTED_LOWDELAY (default) */
	OPUS_CODEC_APP_AUDIO,	     /* OPUS_APPLICATION_AUDIO: music, FEC-capable at low rates */
	OPUS_CODEC_APP_VOIP,	     /* OPUS_APPLICATION_VOIP: speech (the microphone) */
};

/* "lowdelay", "audio", "voip" -> enum; -1 for anything else. */
int opus_codec_app_parse(const char *name);
const char *opus_codec_app_name(enum opus_codec_app app);

/* Zero means the default for every field. */
struct opus_enc_cfg {
	int frame_us;		 /* 2500, 5000, 10000 (default) or 20000 */
	enum opus_codec_app app; /* default OPUS_CODEC_APP_LOWDELAY */
	int bitrate;		 /* bit/s, 6000..510000; default 96000 */
	bool no_dtx;		 /* DTX is on unless set */
	bool no_fec;		 /* in-band FEC is on unless set (SILK/hybrid modes only) */
	int loss_pct;		 /* expected packet loss 0..100 that FEC plans for; default 0 */
};

struct opus_enc;

/* NULL (logged) for an out-of-range cfg value or when libopus fails. */
struct opus_enc *opus_enc_new(const struct opus_enc_cfg *cfg);
void opus_enc_free(struct opus_enc *enc);

/* Samples per channel in one frame (120 for 2.5 ms ... 960 for 20 ms). */
int opus_enc_frame_samples(const struct opus_enc *enc);

/*
 * Encodes one frame: pcm holds opus_enc_frame_samples() * 2 interleaved
 * samples. Returns the packet's length in out (at most cap bytes; cap >= 3),
 * 0 when DTX says there is nothing worth sending (the packet was
 * OPUS_CODEC_DTX_BYTES or less), or OPUS_CODEC_EENCODE / -EINVAL.
 */
int opus_enc_encode(struct opus_enc *enc, const int16_t *pcm, uint8_t *out, size_t cap);

/* Run-time changes (from the client's loss reports, config reload). 0 or -EINVAL. */
int opus_enc_set_loss(struct opus_enc *enc, int loss_pct);
int opus_enc_set_bitrate(struct opus_enc *enc, int bitrate);

struct opus_dec;

struct opus_dec_stats {
	uint64_t packets;   /* decoded */
	uint64_t refused;   /* malformed + wrong channels + too long + decode errors */
	uint64_t malformed; /* OPUS_CODEC_EMALFORMED */
	uint64_t channels;  /* OPUS_CODEC_ECHANNELS */
	uint64_t too_long;  /* OPUS_CODEC_ETOOLONG */
	uint64_t concealed; /* frames made up by PLC (opus_dec_conceal without FEC) */
	uint64_t recovered; /* frames rebuilt from the next packet's FEC data */
};

/* 48 kHz stereo. NULL (logged) when libopus fails. */
struct opus_dec *opus_dec_new(void);
void opus_dec_free(struct opus_dec *dec);

/*
 * Checks one untrusted packet without decoding it: returns its samples per
 * channel (>0), or OPUS_CODEC_EMALFORMED / _ECHANNELS / _ETOOLONG. Counts
 * nothing (a stateless helper for whoever wants to look before queueing).
 */
int opus_dec_check(const uint8_t *packet, size_t len);

/*
 * Decodes one untrusted packet into out, which must hold out_cap samples
 * per channel (interleaved: out_cap * 2 int16_t); pass out_cap >=
 * OPUS_CODEC_MAX_SAMPLES and no legal packet can be refused for size.
 * Returns samples per channel, or a refused packet's OPUS_CODEC_E* code
 * (counted). A packet must be stereo: our peers always send stereo, and a
 * mono one means a confused or hostile sender.
 */
int opus_dec_decode(struct opus_dec *dec, const uint8_t *packet, size_t len, int16_t *out,
		    int out_cap);

/*
 * Makes up `samples` per channel of a lost frame (a multiple of 120, i.e.
 * 2.5 ms, at most OPUS_CODEC_MAX_SAMPLES and out_cap). With next (the
 * packet after the lost one) and its in-band FEC data, the frame is rebuilt
 * from it (counted as recovered); otherwise, or when next has no FEC data,
 * libopus's packet-loss concealment extrapolates (counted as concealed).
 * next is untrusted and checked like opus_dec_decode's packet; a bad one
 * falls back to PLC. Returns samples per channel or a negative code.
 */
int opus_dec_conceal(struct opus_dec *dec, const uint8_t *next, size_t next_len, int samples,
		     int16_t *out, int out_cap);

void opus_dec_stats(const struct opus_dec *dec, struct opus_dec_stats *out);

#endif
