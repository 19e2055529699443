/* SPDX-License-Identifier: MIT */
/*
 * audio/opus_codec: a tone survives the round trip at every frame size,
 * silence costs almost nothing with DTX, 2.5 ms and 120 ms packets decode,
 * hostile packets are refused with a counter and a code (never a crash),
 * and PLC/FEC make up exactly the frames asked for.
 */
#include "check.h"
#include "opus_codec.h"
#include "tone.h"

#include <errno.h>
#include <math.h>
#include <time.h>

#define SECOND 48000

static int16_t out[OPUS_CODEC_MAX_SAMPLES * 2];

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Encodes and decodes 1 s of a 440 Hz sine; checks frequency and level. */
static void round_trip(const struct opus_enc_cfg *cfg, const char *what)
{
	static int16_t in[SECOND * 2], dec_pcm[SECOND * 2];
	uint8_t pkt[OPUS_CODEC_MAX_PACKET];
	struct opus_enc *enc = opus_enc_new(cfg);
	struct opus_dec *dec = opus_dec_new();
	size_t got = 0, bytes = 0;
	double t_enc = 0, t_dec = 0;
	int frames = 0;

	CHECK(enc != NULL);
	CHECK(dec != NULL);
	if (!enc || !dec)
		goto out;
	int fs = opus_enc_frame_samples(enc);
	tone_sine(in, SECOND, 440, 0.5, 0);
	for (int off = 0; off + fs <= SECOND; off += fs) {
		double t0 = cpu_now();
		int n = opus_enc_encode(enc, in + 2 * off, pkt, sizeof(pkt));
		double t1 = cpu_now();
		CHECK(n > 0);
		if (n <= 0)
			continue;
		bytes += (size_t)n;
		int m = opus_dec_decode(dec, pkt, (size_t)n, out, OPUS_CODEC_MAX_SAMPLES);
		t_dec += cpu_now() - t1;
		t_enc += t1 - t0;
		frames++;
		CHECK_INT_EQ(m, fs);
		if (m > 0 && got + (size_t)m <= SECOND) {
			memcpy(dec_pcm + 2 * got, out, (size_t)m * 4);
			got += (size_t)m;
		}
	}
	/* skip the first 20 ms: the codec's look-ahead and start-up */
	double hz = tone_dominant_hz(dec_pcm + 2 * 960, got - 960);
	double db_in = tone_level_db(in, SECOND),
	       db_out = tone_level_db(dec_pcm + 2 * 960, got - 960);
	printf("%s: frame %d samples: %.2f Hz, level %.1f dB (in %.1f), %.0f kbit/s, "
	       "encode %.1f us/frame, decode %.1f us/frame\n",
	       what, fs, hz, db_out, db_in, bytes * 8.0 / 1000.0, t_enc / frames * 1e6,
	       t_dec / frames * 1e6);
	CHECK(fabs(hz - 440) <= 2);
	CHECK(fabs(db_out - db_in) <= 6);
out:
	opus_enc_free(enc);
	opus_dec_free(dec);
}

static void test_round_trips(void)
{
	round_trip(NULL, "default (lowdelay 10 ms 96k)");
	round_trip(&(struct opus_enc_cfg){.frame_us = 2500}, "lowdelay 2.5 ms");
	round_trip(&(struct opus_enc_cfg){.frame_us = 5000}, "lowdelay 5 ms");
	round_trip(&(struct opus_enc_cfg){.frame_us = 20000}, "lowdelay 20 ms");
	round_trip(&(struct opus_enc_cfg){.app = OPUS_CODEC_APP_AUDIO}, "audio 10 ms");
	round_trip(&(struct opus_enc_cfg){.app = OPUS_CODEC_APP_VOIP,
					  .bitrate = 32000,
					  .loss_pct = 10},
		   "voip 10 ms 32k");
}

static void test_bad_cfg(void)
{
	CHECK(opus_enc_new(&(struct opus_enc_cfg){.frame_us = 7000}) == NULL);
	CHECK(opus_enc_new(&(struct opus_enc_cfg){.frame_us = 40000}) == NULL);
	CHECK(opus_enc_new(&(struct opus_enc_cfg){.bitrate = 1000}) == NULL);
	CHECK(opus_enc_new(&(struct opus_enc_cfg){.loss_pct = 101}) == NULL);
	CHECK(opus_enc_new(&(struct opus_enc_cfg){.app = (enum opus_codec_app)7}) == NULL);
	CHECK_INT_EQ(opus_codec_app_parse("lowdelay"), OPUS_CODEC_APP_LOWDELAY);
	CHECK_INT_EQ(opus_codec_app_parse("voip"), OPUS_CODEC_APP_VOIP);
	CHECK_INT_EQ(opus_codec_app_parse("audio"), OPUS_CODEC_APP_AUDIO);
	CHECK_INT_EQ(opus_codec_app_parse("loud"), -1);
	CHECK_INT_EQ(opus_codec_app_parse(NULL), -1);
	CHECK_STR_EQ(opus_codec_app_name(OPUS_CODEC_APP_VOIP), "voip");

	struct opus_enc *enc = opus_enc_new(NULL);
	CHECK(enc != NULL);
	CHECK_INT_EQ(opus_enc_set_loss(enc, 15), 0);
	CHECK_INT_EQ(opus_enc_set_loss(enc, -1), -EINVAL);
	CHECK_INT_EQ(opus_enc_set_loss(enc, 101), -EINVAL);
	CHECK_INT_EQ(opus_enc_set_bitrate(enc, 64000), 0);
	CHECK_INT_EQ(opus_enc_set_bitrate(enc, 5), -EINVAL);
	uint8_t small[2];
	CHECK_INT_EQ(opus_enc_encode(enc, out, small, sizeof(small)), -EINVAL);
	opus_enc_free(enc);
	opus_enc_free(NULL);
	opus_dec_free(NULL);
}

/*
 * 3 s of digital silence: DTX leaves almost nothing to send. libopus 1.3
 * enters DTX after 10 frames of silence, then still sends one packet in 21
 * (MAX_CONSECUTIVE_DTX): *steady counts the packets after the first 200 ms.
 */
static void silence(bool dtx, int *packets, size_t *bytes, int *steady)
{
	static int16_t zero[960 * 2];
	uint8_t pkt[OPUS_CODEC_MAX_PACKET];
	struct opus_enc *enc = opus_enc_new(&(struct opus_enc_cfg){.no_dtx = !dtx});

	*packets = 0;
	*bytes = 0;
	*steady = 0;
	CHECK(enc != NULL);
	if (!enc)
		return;
	for (int i = 0; i < 300; i++) {
		int n = opus_enc_encode(enc, zero, pkt, sizeof(pkt));
		CHECK(n >= 0);
		if (n > 0) {
			(*packets)++;
			*bytes += (size_t)n;
			*steady += i >= 20;
		}
	}
	opus_enc_free(enc);
}

static void test_dtx(void)
{
	int packets, steady;
	size_t bytes;

	silence(true, &packets, &bytes, &steady);
	printf("silence 3 s, DTX on: %d packets (%.2f/s after 200 ms), %zu bytes (%.2f kbit/s)\n",
	       packets, steady / 2.8, bytes, bytes * 8 / 3000.0);
	CHECK(steady < 5 * 2.8); /* fewer than 5 a second once in DTX */
	CHECK(bytes * 8 < 3000); /* under 1 kbit/s */
	silence(false, &packets, &bytes, &steady);
	printf("silence 3 s, DTX off: %d packets, %zu bytes\n", packets, bytes);
	CHECK_INT_EQ(packets, 300);
}

/* Six 20 ms packets glued into one 120 ms packet (RFC 6716 §3.2.5 code 3). */
static void test_long_and_short(void)
{
	static int16_t in[5760 * 2];
	uint8_t pkts[6][OPUS_CODEC_MAX_PACKET], glued[6 * OPUS_CODEC_MAX_PACKET];
	int lens[6];
	struct opus_enc *enc = opus_enc_new(&(struct opus_enc_cfg){.frame_us = 20000});
	struct opus_dec *dec = opus_dec_new();
	struct opus_dec_stats st;

	tone_sine(in, 5760, 440, 0.5, 0);
	/* Glue by hand: code 3, VBR, 6 frames, each length as one or two bytes (§3.2.1). */
	size_t pos = 0;
	for (int i = 0; i < 6; i++) {
		lens[i] = opus_enc_encode(enc, in + 2 * 960 * i, pkts[i], sizeof(pkts[i]));
		CHECK(lens[i] > 1 && lens[i] <= 1275);
		CHECK_INT_EQ(pkts[i][0], pkts[0][0]);
	}
	glued[pos++] = (uint8_t)((pkts[0][0] & 0xfc) | 3);
	glued[pos++] = 0x80 | 6; /* v=1, p=0, M=6 */
	for (int i = 0; i < 5; i++) {
		int len = lens[i] - 1; /* without its TOC byte */
		if (len < 252) {
			glued[pos++] = (uint8_t)len;
		} else {
			int first = 252 + ((len - 252) & 3);
			glued[pos++] = (uint8_t)first;
			glued[pos++] = (uint8_t)((len - first) / 4);
		}
	}
	for (int i = 0; i < 6; i++) {
		memcpy(glued + pos, pkts[i] + 1, (size_t)lens[i] - 1);
		pos += (size_t)lens[i] - 1;
	}
	CHECK_INT_EQ(opus_dec_check(glued, pos), 5760);
	CHECK_INT_EQ(opus_dec_decode(dec, glued, pos, out, OPUS_CODEC_MAX_SAMPLES), 5760);
	double hz = tone_dominant_hz(out + 2 * 960, 5760 - 960);
	printf("120 ms packet: %zu bytes, %.2f Hz\n", pos, hz);
	CHECK(fabs(hz - 440) <= 5);
	/* An output buffer shorter than the packet: refused, not overflowed. */
	CHECK_INT_EQ(opus_dec_decode(dec, glued, pos, out, 960), OPUS_CODEC_ETOOLONG);
	/* 7 frames of 20 ms: 140 ms, more than Opus allows. */
	glued[1] = 0x80 | 7;
	CHECK_INT_EQ(opus_dec_check(glued, pos), OPUS_CODEC_ETOOLONG);
	CHECK_INT_EQ(opus_dec_decode(dec, glued, pos, out, OPUS_CODEC_MAX_SAMPLES),
		     OPUS_CODEC_ETOOLONG);
	opus_enc_free(enc);

	/* 2.5 ms */
	enc = opus_enc_new(&(struct opus_enc_cfg){.frame_us = 2500});
	CHECK_INT_EQ(opus_enc_frame_samples(enc), 120);
	int n = opus_enc_encode(enc, in, pkts[0], sizeof(pkts[0]));
	CHECK(n > 0);
	CHECK_INT_EQ(opus_dec_check(pkts[0], (size_t)n), 120);
	CHECK_INT_EQ(opus_dec_decode(dec, pkts[0], (size_t)n, out, OPUS_CODEC_MAX_SAMPLES), 120);
	opus_dec_stats(dec, &st);
	CHECK_INT_EQ(st.packets, 2);
	CHECK_INT_EQ(st.too_long, 2);
	CHECK_INT_EQ(st.refused, 2);
	opus_enc_free(enc);
	opus_dec_free(dec);
}

static void test_hostile(void)
{
	static int16_t in[480 * 2];
	uint8_t pkt[OPUS_CODEC_MAX_PACKET];
	struct opus_enc *enc = opus_enc_new(NULL);
	struct opus_dec *dec = opus_dec_new();
	struct opus_dec_stats st;
	uint64_t refused = 0;

	tone_sine(in, 480, 440, 0.5, 0);
	int n = opus_enc_encode(enc, in, pkt, sizeof(pkt));
	CHECK(n > 2);

	/* mono: the stereo bit of the TOC cleared (§3.1) */
	uint8_t mono[OPUS_CODEC_MAX_PACKET];
	memcpy(mono, pkt, (size_t)n);
	mono[0] &= (uint8_t)~0x04;
	CHECK_INT_EQ(opus_dec_check(mono, (size_t)n), OPUS_CODEC_ECHANNELS);
	CHECK_INT_EQ(opus_dec_decode(dec, mono, (size_t)n, out, OPUS_CODEC_MAX_SAMPLES),
		     OPUS_CODEC_ECHANNELS);
	/* empty, NULL, code 3 with zero frames, code 2 with a length past the end */
	CHECK_INT_EQ(opus_dec_decode(dec, pkt, 0, out, OPUS_CODEC_MAX_SAMPLES),
		     OPUS_CODEC_EMALFORMED);
	CHECK_INT_EQ(opus_dec_decode(dec, NULL, 10, out, OPUS_CODEC_MAX_SAMPLES),
		     OPUS_CODEC_EMALFORMED);
	uint8_t zero_frames[] = {(uint8_t)((pkt[0] & 0xfc) | 3), 0x00, 1, 2, 3};
	CHECK_INT_EQ(
		opus_dec_decode(dec, zero_frames, sizeof(zero_frames), out, OPUS_CODEC_MAX_SAMPLES),
		OPUS_CODEC_EMALFORMED);
	uint8_t bad_len[] = {(uint8_t)((pkt[0] & 0xfc) | 2), 250, 1, 2, 3};
	CHECK(opus_dec_decode(dec, bad_len, sizeof(bad_len), out, OPUS_CODEC_MAX_SAMPLES) < 0);
	CHECK_INT_EQ(opus_dec_decode(dec, pkt, (size_t)n, NULL, 480), -EINVAL);
	opus_dec_stats(dec, &st);
	CHECK_INT_EQ(st.channels, 1);
	CHECK_INT_EQ(st.refused, 5);
	CHECK_INT_EQ(st.malformed, 4);
	refused = st.refused;

	/* random garbage: every refusal counted, every success within the buffer */
	srand(10);
	int failures = 0;
	for (int i = 0; i < 20000; i++) {
		uint8_t junk[400];
		size_t len = 1 + (size_t)rand() % sizeof(junk);
		for (size_t k = 0; k < len; k++)
			junk[k] = (uint8_t)rand();
		int m = opus_dec_decode(dec, junk, len, out, OPUS_CODEC_MAX_SAMPLES);
		if (m < 0)
			failures++;
		else
			CHECK(m <= OPUS_CODEC_MAX_SAMPLES);
	}
	opus_dec_stats(dec, &st);
	printf("garbage: %d of 20000 refused (%llu malformed, %llu mono, %llu too long)\n",
	       failures, (unsigned long long)st.malformed, (unsigned long long)st.channels,
	       (unsigned long long)st.too_long);
	CHECK_INT_EQ(st.refused - refused, failures);
	CHECK(failures > 5000);
	/* and the decoder still works */
	CHECK_INT_EQ(opus_dec_decode(dec, pkt, (size_t)n, out, OPUS_CODEC_MAX_SAMPLES), 480);

	CHECK(strcmp(opus_codec_strerror(OPUS_CODEC_ECHANNELS),
		     opus_codec_strerror(OPUS_CODEC_EMALFORMED)) != 0);
	CHECK(opus_codec_strerror(-ENOMEM) != NULL);
	opus_enc_free(enc);
	opus_dec_free(dec);
}

/* PLC and FEC make up exactly the frame that was lost. */
static void test_conceal(void)
{
	static int16_t in[48000 * 2];
	uint8_t pkt[50][OPUS_CODEC_MAX_PACKET];
	int lens[50];
	struct opus_enc *enc = opus_enc_new(&(struct opus_enc_cfg){
		.app = OPUS_CODEC_APP_VOIP, .frame_us = 20000, .bitrate = 24000, .loss_pct = 20});
	struct opus_dec *dec = opus_dec_new();
	struct opus_dec_stats st;

	tone_sine(in, 48000, 440, 0.3, 0);
	for (int i = 0; i < 50; i++) {
		lens[i] = opus_enc_encode(enc, in + 2 * 960 * i, pkt[i], sizeof(pkt[i]));
		CHECK(lens[i] > 0);
	}
	printf("voip 24k 20 ms: TOC config %d (SILK < 12, hybrid < 16, CELT >= 16)\n",
	       pkt[30][0] >> 3);
	for (int i = 0; i < 30; i++)
		opus_dec_decode(dec, pkt[i], (size_t)lens[i], out, OPUS_CODEC_MAX_SAMPLES);
	/* packet 30 lost: FEC from 31 */
	CHECK_INT_EQ(
		opus_dec_conceal(dec, pkt[31], (size_t)lens[31], 960, out, OPUS_CODEC_MAX_SAMPLES),
		960);
	double db_fec = tone_level_db(out, 960);
	CHECK_INT_EQ(opus_dec_decode(dec, pkt[31], (size_t)lens[31], out, OPUS_CODEC_MAX_SAMPLES),
		     960);
	/* packets 32, 33 lost, nothing after: PLC */
	CHECK_INT_EQ(opus_dec_conceal(dec, NULL, 0, 960, out, OPUS_CODEC_MAX_SAMPLES), 960);
	double db_plc = tone_level_db(out, 960);
	CHECK_INT_EQ(opus_dec_conceal(dec, NULL, 0, 480, out, OPUS_CODEC_MAX_SAMPLES), 480);
	/* a garbage "next" packet falls back to PLC */
	uint8_t junk[] = {0xff, 0xff, 0xff};
	CHECK_INT_EQ(opus_dec_conceal(dec, junk, sizeof(junk), 120, out, OPUS_CODEC_MAX_SAMPLES),
		     120);
	/* sizes that are not whole 2.5 ms steps, or beyond 120 ms or the buffer */
	CHECK_INT_EQ(opus_dec_conceal(dec, NULL, 0, 100, out, OPUS_CODEC_MAX_SAMPLES), -EINVAL);
	CHECK_INT_EQ(opus_dec_conceal(dec, NULL, 0, 5880, out, 5880), -EINVAL);
	CHECK_INT_EQ(opus_dec_conceal(dec, NULL, 0, 960, out, 480), -EINVAL);
	opus_dec_stats(dec, &st);
	printf("concealment: FEC frame %.1f dB, PLC frame %.1f dB; recovered %llu, concealed "
	       "%llu\n",
	       db_fec, db_plc, (unsigned long long)st.recovered, (unsigned long long)st.concealed);
	CHECK_INT_EQ(st.recovered, 1);
	CHECK_INT_EQ(st.concealed, 3);
	CHECK(db_fec > -30); /* the tone, not silence */

	/* CELT (lowdelay) has no FEC: concealment from a next packet is PLC */
	struct opus_enc *celt = opus_enc_new(NULL);
	int n = opus_enc_encode(celt, in, pkt[0], sizeof(pkt[0]));
	CHECK(n > 0);
	CHECK_INT_EQ(opus_dec_conceal(dec, pkt[0], (size_t)n, 480, out, OPUS_CODEC_MAX_SAMPLES),
		     480);
	opus_dec_stats(dec, &st);
	CHECK_INT_EQ(st.concealed, 4);
	opus_enc_free(celt);
	opus_enc_free(enc);
	opus_dec_free(dec);
}

int main(void)
{
	test_round_trips();
	test_bad_cfg();
	test_dtx();
	test_long_and_short();
	test_hostile();
	test_conceal();
	return check_done("test_opus_codec");
}
