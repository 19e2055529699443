/* SPDX-License-Identifier: MIT */
/*
 * The agent's microphone path on hostile bytes: MIC frames as a client
 * would send them, cut and decoded (proto/msg), then through
 * audio/receiver (opus_dec_check, the jitter buffer, decode, concealment,
 * leftovers of long packets) exactly as server/sound.c does, with hostile
 * capture times and arrival and play times taken from the input.
 *
 * Input: records, each an op byte then its fields (little-endian):
 *   op & 1 == 0  a frame: i32 arrival step µs, then one protocol frame
 *                (header and payload); a MIC is pushed, anything else is
 *                ignored as desktop.c ignores it
 *   op & 1 == 1  a fill: u16 samples (taken 1..5760), i32 play step µs;
 *                the output buffer is exactly that size, so an overflow
 *                shows up under ASan
 * Invariants: a fill writes sound for at most the samples asked; counters
 * stay consistent (no more queued or refused than MIC frames came, no more
 * decoded than queued).
 */
#include "log.h"
#include "msg.h"
#include "receiver.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_open("fuzz_agent_mic", LOG_LEVEL_ERROR, LOG_TARGET_STDERR);
	return 0;
}

static uint64_t take(const uint8_t **p, size_t *left, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n && *left; i++, (*left)--)
		v |= (uint64_t) * (*p)++ << (8 * i);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audio_rx *rx = audio_rx_new(NULL);
	int64_t now = (int64_t)1700000000 * 1000000;
	uint64_t frames = 0;

	if (!rx)
		abort();
	while (size) {
		uint8_t op = (uint8_t)take(&data, &size, 1);
		if (!(op & 1)) {
			now += (int32_t)take(&data, &size, 4);
			size_t flen = 0;
			struct msg m;
			if (msg_frame_peek(data, size, &flen) != 0)
				break;
			if (msg_decode(data, flen, &m) == 0 && m.type == MSG_MIC) {
				frames++;
				(void)audio_rx_push(rx, (int64_t)m.u.audio.capture_us, now,
						    m.u.audio.data.data, m.u.audio.data.len);
			}
			data += flen;
			size -= flen;
		} else {
			int samples = 1 + (int)(take(&data, &size, 2) % 5760);
			now += (int32_t)take(&data, &size, 4);
			int16_t *pcm = malloc(sizeof(int16_t) * 2 * (size_t)samples);
			if (!pcm)
				abort();
			int got = audio_rx_fill(rx, pcm, samples, now);
			if (got < 0 || got > samples)
				abort();
			free(pcm);
		}
	}
	struct audio_rx_stats st;
	audio_rx_stats(rx, &st);
	/* refusals: at the push (never queued) or at decode (queued, then refused by libopus) */
	if (st.packets > frames || st.refused > frames || st.decoded > st.packets)
		abort();
	audio_rx_free(rx);
	return 0;
}
