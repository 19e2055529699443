/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the client's sound path: AUDIO payloads from a
 * hostile agent go through audio/jitter (with hostile capture times and
 * arrival times) and audio/opus_codec (decode, PLC, FEC), the way the
 * client's playback callback drives them.
 *
 * Input: records, each an op byte then its fields (little-endian):
 *   op & 3 == 0  push:  i64 capture_us, i32 arrival step µs, u16 len, len bytes of packet;
 *                       op & 4: capture_us is a step from the last one instead of absolute;
 *                       op & 8: the duration is the packet's own (opus_dec_check), else an
 *                       i32 read from the input (hostile)
 *   op & 3 == 1  pop:   i32 now step µs; then the frame is decoded or concealed
 *   op & 3 == 2  decode: u16 len, len bytes straight into opus_dec_decode with a short
 *                       (u16) output capacity
 *   op & 3 == 3  stats: both sets of counters are checked for sanity
 *   op & 0x80    instead, the client's own path (client/audio.h), into one
 *                client_audio playing on its virtual clock for the whole run:
 *                op & 0x40: client_audio_video_shown(i64 capture, i64 display);
 *                else client_audio_push(i64 capture, i64 arrival, u16 len, bytes)
 * Every decode writes into a buffer of exactly the capacity it claims, so an
 * overflow shows up under ASan.
 */
#include "audio.h"
#include "jitter.h"
#include "log.h"
#include "opus_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_open("fuzz_client_opus", LOG_LEVEL_ERROR, LOG_TARGET_STDERR);
	return 0;
}

/* Made once: its playback thread pops what the inputs push, concurrently, as in the client. */
static struct client_audio *client_audio(void)
{
	static struct client_audio *ca;
	if (!ca)
		ca = client_audio_new(&(struct client_audio_cfg){.sink = CLIENT_AUDIO_SINK_NONE});
	if (!ca)
		abort();
	return ca;
}

struct in {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct in *in, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n && in->left; i++, in->left--)
		v |= (uint64_t)*in->p++ << (8 * i);
	return v;
}

static void decode_into_exact(struct opus_dec *dec, const uint8_t *pkt, size_t len, int cap)
{
	/* malloc exactly cap frames so ASan sees one sample too many */
	int16_t *out = malloc((size_t)(cap > 0 ? cap : 1) * 2 * sizeof(int16_t));
	if (!out)
		return;
	int n = opus_dec_decode(dec, pkt, len, out, cap);
	if (n > cap)
		abort();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int16_t pcm[OPUS_CODEC_MAX_SAMPLES * 2];
	struct in in = {data, size};
	struct jitter *jb = jitter_new(NULL);
	struct opus_dec *dec = opus_dec_new();
	int64_t capture = 0, arrival = 0, now = 0;

	if (!jb || !dec)
		abort();
	while (in.left) {
		uint8_t op = (uint8_t)take(&in, 1);
		if (op & 0x80) {
			int64_t a = (int64_t)take(&in, 8), b = (int64_t)take(&in, 8);
			if (op & 0x40) {
				client_audio_video_shown(client_audio(), a, b);
				continue;
			}
			size_t len = (size_t)take(&in, 2);
			if (len > in.left)
				len = in.left;
			int rc = client_audio_push(client_audio(), a, b, in.p, len);
			if (rc > 1)
				abort();
			in.p += len;
			in.left -= len;
			struct client_audio_stats st;
			client_audio_stats(client_audio(), &st);
			if (st.depth_us < 0 || st.volume != 100)
				abort();
			continue;
		}
		switch (op & 3) {
		case 0: {
			int64_t c = (int64_t)take(&in, 8);
			int32_t step = (int32_t)take(&in, 4);
			size_t len = (size_t)take(&in, 2);
			if (len > in.left)
				len = in.left;
			const uint8_t *pkt = in.p;
			in.p += len;
			in.left -= len;
			capture = (op & 4) ? (int64_t)((uint64_t)capture + (uint64_t)(int32_t)c)
					   : c;
			arrival = (int64_t)((uint64_t)arrival + (uint64_t)(int64_t)step);
			int64_t dur;
			if (op & 8) {
				int n = opus_dec_check(pkt, len);
				dur = n > 0 ? (int64_t)n * 1000 / 48 : 10000;
			} else {
				dur = (int32_t)take(&in, 4);
			}
			jitter_push(jb, capture, arrival, dur, pkt, len);
			break;
		}
		case 1: {
			struct jitter_out o;
			now = (int64_t)((uint64_t)now + (uint64_t)(int64_t)(int32_t)take(&in, 4));
			jitter_pop(jb, now, &o);
			if (o.status == JITTER_PACKET) {
				if (!o.data || o.len == 0 || o.len > JITTER_PACKET_MAX)
					abort();
				int n = opus_dec_decode(dec, o.data, o.len, pcm,
							OPUS_CODEC_MAX_SAMPLES);
				if (n > OPUS_CODEC_MAX_SAMPLES)
					abort();
			} else if (o.status == JITTER_MISSING) {
				int64_t samples = o.duration_us * 48 / 1000;
				if (samples > 0 && samples <= OPUS_CODEC_MAX_SAMPLES) {
					int n = opus_dec_conceal(dec, o.fec, o.fec_len,
								 (int)samples, pcm,
								 OPUS_CODEC_MAX_SAMPLES);
					if (n > (int)samples)
						abort();
				}
			}
			break;
		}
		case 2: {
			size_t len = (size_t)take(&in, 2);
			int cap = (int)take(&in, 2) % (OPUS_CODEC_MAX_SAMPLES + 1);
			if (len > in.left)
				len = in.left;
			decode_into_exact(dec, in.p, len, cap);
			in.p += len;
			in.left -= len;
			break;
		}
		case 3: {
			struct jitter_stats js;
			struct opus_dec_stats ds;
			jitter_stats(jb, &js);
			opus_dec_stats(dec, &ds);
			if (js.queued > JITTER_SLOTS || js.depth_us < 0)
				abort();
			if (js.target_us < 20000 || js.target_us > 60000)
				abort();
			if (ds.refused != ds.malformed + ds.channels + ds.too_long)
				abort();
			break;
		}
		}
	}
	jitter_free(jb);
	opus_dec_free(dec);
	return 0;
}
