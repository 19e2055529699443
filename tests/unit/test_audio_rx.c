/* SPDX-License-Identifier: MIT */
/*
 * audio/receiver: Opus packets of a known tone through check, jitter
 * buffer, decode and concealment, filled in frames of another length than
 * the packets', on a simulated clock: the tone comes out whole, losses are
 * concealed, and hostile packets (garbage, mono, longer than 120 ms, absurd
 * times) are refused and counted, never played.
 */
#include "check.h"
#include "opus_codec.h"
#include "receiver.h"
#include "tone.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define T0 ((int64_t)1700000000 * 1000000)

/*
 * Sends `seconds` of a 440 Hz tone as packets of frame_us, losing every
 * lose_every-th (0: none), 5 ms of network delay, filling fill_samples at a
 * time; returns the output's dominant frequency over its last second.
 */
static double run(int frame_us, int fill_samples, int lose_every, double seconds,
		  struct audio_rx_stats *st)
{
	struct opus_enc *enc = opus_enc_new(&(struct opus_enc_cfg){.frame_us = frame_us});
	struct audio_rx *rx = audio_rx_new(NULL);
	int fs = opus_enc_frame_samples(enc);
	size_t total = (size_t)(seconds * 48000);
	int16_t *in = malloc(sizeof(int16_t) * 2 * (total + 960));
	int16_t *out = calloc(total + 5760, sizeof(int16_t) * 2);
	uint8_t pkt[OPUS_CODEC_MAX_PACKET];
	size_t sent = 0, played = 0;
	int64_t now = T0 + 5000;
	int k = 0;

	tone_sine(in, total + 960, 440, 0.3, 0);
	/* the receiver's clock: sender time + 5 ms; a fill each fill_samples of it */
	while (played + (size_t)fill_samples <= total) {
		int64_t play_at = T0 + (int64_t)played * 1000000 / 48000 + 5000;
		while (sent < total && T0 + (int64_t)sent * 1000000 / 48000 + 5000 <= play_at) {
			int n = opus_enc_encode(enc, in + 2 * sent, pkt, sizeof(pkt));
			CHECK(n >= 0);
			if (n > 0 && !(lose_every && ++k % lose_every == 0))
				audio_rx_push(rx, T0 + (int64_t)sent * 1000000 / 48000, now, pkt,
					      (size_t)n);
			sent += (size_t)fs;
			now = T0 + (int64_t)sent * 1000000 / 48000 + 5000;
		}
		audio_rx_fill(rx, out + 2 * played, fill_samples, play_at);
		played += (size_t)fill_samples;
	}
	audio_rx_stats(rx, st);
	double hz = tone_dominant_hz(out + 2 * (played - 48000), 48000);
	double db = tone_level_db(out + 2 * (played - 48000), 48000);
	CHECK(db > tone_level_db(in, 48000) - 6);
	opus_enc_free(enc);
	audio_rx_free(rx);
	free(in);
	free(out);
	return hz;
}

static void test_tone_through(void)
{
	struct audio_rx_stats st;

	/* 10 ms packets, 10 ms fills */
	double hz = run(10000, 480, 0, 3, &st);
	CHECK(hz > 435 && hz < 445);
	CHECK(st.packets >= 290);
	CHECK_INT_EQ(st.refused, 0);
	CHECK(st.decoded >= 280);
	/* 20 ms packets filled 10 ms at a time: half of each is kept for the next fill */
	hz = run(20000, 480, 0, 3, &st);
	CHECK(hz > 435 && hz < 445);
	CHECK(st.decoded >= 140);
	/* 2.5 ms packets, 10 ms fills: four pops per fill */
	hz = run(2500, 480, 0, 3, &st);
	CHECK(hz > 435 && hz < 445);
	CHECK(st.decoded >= 1150);
	/* 10 % lost: concealed, and the tone goes on */
	hz = run(10000, 480, 10, 3, &st);
	CHECK(hz > 435 && hz < 445);
	CHECK(st.concealed + st.recovered >= 25);
}

static void test_hostile(void)
{
	struct audio_rx *rx = audio_rx_new(NULL);
	struct audio_rx_stats st;
	uint8_t garbage[64], pkt[1024];
	int16_t out[5760 * 2];

	memset(garbage, 0xff, sizeof(garbage)); /* code 3, 63 frames of 20 ms: far over 120 ms */
	CHECK(audio_rx_push(rx, T0, T0, garbage, sizeof(garbage)) < 0);
	CHECK(audio_rx_push(rx, T0, T0, garbage, 0) < 0);
	/* a mono CELT packet (TOC 0xf8: config 31, mono, one frame) */
	uint8_t mono[8] = {0xf8, 1, 2, 3, 4, 5, 6, 7};
	CHECK_INT_EQ(audio_rx_push(rx, T0, T0, mono, sizeof(mono)), OPUS_CODEC_ECHANNELS);
	/* 120 ms, the longest packet Opus allows (six 20 ms stereo CELT frames, code 3, CBR):
	 * longer than the protocol's frames, refused */
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0xff;
	pkt[1] = 6;
	CHECK_INT_EQ(audio_rx_push(rx, T0, T0, pkt, 2 + 6 * 10), OPUS_CODEC_ETOOLONG);
	/* seven of them, 140 ms: not even Opus */
	pkt[1] = 7;
	CHECK(audio_rx_push(rx, T0 + 200000, T0 + 200000, pkt, 2 + 7 * 10) < 0);
	/* one 20 ms frame is fine */
	pkt[1] = 1;
	CHECK_INT_EQ(audio_rx_push(rx, T0, T0, pkt, 2 + 10), 960);
	/* absurd capture time */
	CHECK(audio_rx_push(rx, INT64_MAX, T0, pkt, 12) < 0);
	audio_rx_stats(rx, &st);
	CHECK_INT_EQ(st.packets, 1);
	CHECK_INT_EQ(st.refused, 6);
	/* fills of any size never write past what was asked, idle or not */
	for (int n = 1; n <= 5760; n = n * 3 + 1)
		CHECK(audio_rx_fill(rx, out, n, T0 + 100000) <= n);
	audio_rx_free(rx);
}

int main(void)
{
	test_tone_through();
	test_hostile();
	return check_done("test_audio_rx");
}
