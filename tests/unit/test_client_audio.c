/* SPDX-License-Identifier: MIT */
/*
 * client/audio: AUDIO playback and the microphone, against a real private
 * PulseAudio server (tests/fixtures/pulse/pulse.sh; missing is a failure).
 * Packets are fed in real time, 10 ms apart, as an agent would send them.
 *
 *  1. a 440 Hz tone through the virtual clock into a WAV file: 440 ± 5 Hz,
 *     level within 6 dB of what was encoded; the WAV's start time is known
 *  2. the same through a real sink (a null sink, recorded from its monitor
 *     with parec)
 *  3. 10 % of the packets dropped: playback goes on, concealment counted,
 *     the AUDIO_REPORT says about 10 % loss; silence (DTX) is no loss
 *  4. hostile packets (empty, garbage, 40 and 120 ms, mono, random bytes)
 *     refused with counters, never a crash; 2.5 ms packets are legal
 *  5. volume 0 and mute: silence; volume 50: quieter
 *  6. lip sync: with the picture 150 ms behind, audio is held back until
 *     within ±45 ms; with the picture ahead, audio is advanced
 *  7. the microphone: a 1 kHz tone into a null sink; client_mic on its
 *     monitor (pulse-source:) sends Opus packets that decode to 1 kHz;
 *     off, nothing is sent
 */
#include "audio.h"
#include "check.h"
#include "clock.h"
#include "log.h"
#include "opus_codec.h"
#include "pulsetest.h"
#include "tone.h"

#include <event2/event.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RATE 48000

static char dir[] = "/tmp/hr-client-audio.XXXXXX";
static char server[4200];
static char fixture[4096];

static void sleep_until(int64_t us)
{
	struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) != 0)
		;
}

static void sleep_ms(int ms)
{
	sleep_until(clock_real_us() + ms * 1000);
}

/* The loud part: from the first to the last 10 ms above -40 dB, less 50 ms at each edge. */
static void analyse(const int16_t *pcm, size_t frames, double *hz, double *db, double *seconds)
{
	size_t first = frames, last = 0;
	for (size_t i = 0; i + 480 <= frames; i += 480) {
		if (tone_level_db(pcm + 2 * i, 480) > -40) {
			if (first == frames)
				first = i;
			last = i + 480;
		}
	}
	*hz = 0;
	*db = -200;
	*seconds = 0;
	if (first >= last)
		return;
	first += 2400;
	last = last > first + 2400 ? last - 2400 : first;
	*seconds = (double)(last - first) / RATE;
	if (last <= first + 4800)
		return;
	*hz = tone_dominant_hz(pcm + 2 * first, last - first);
	*db = tone_level_db(pcm + 2 * first, last - first);
}

/* A whole 48 kHz stereo s16 WAV; frames in *n. NULL when it is not one. */
static int16_t *read_wav(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t h[44];
	int16_t *pcm = NULL;

	*n = 0;
	if (!f)
		return NULL;
	if (fread(h, 1, 44, f) == 44 && memcmp(h, "RIFF", 4) == 0 &&
	    memcmp(h + 8, "WAVEfmt ", 8) == 0 && memcmp(h + 36, "data", 4) == 0) {
		uint32_t bytes = h[40] | h[41] << 8 | h[42] << 16 | (uint32_t)h[43] << 24;
		uint32_t rate = h[24] | h[25] << 8 | h[26] << 16 | (uint32_t)h[27] << 24;
		CHECK_INT_EQ(rate, RATE);
		CHECK_INT_EQ(h[22], 2);
		pcm = malloc(bytes + 4);
		if (pcm)
			*n = fread(pcm, 4, bytes / 4, f);
		CHECK_INT_EQ(*n, bytes / 4); /* the header says what the file holds */
	}
	fclose(f);
	return pcm;
}

struct feed {
	double hz;
	double seconds;
	int drop_every; /* drop every Nth packet (0: none) */
	int frame_us;
	bool video;	      /* say a picture was shown every 30 ms */
	int64_t video_lag_us; /* its capture-to-display latency */
	int pushed, dropped;
	int64_t t0; /* the first capture time; 0: now. Left at the next one, to go on from */
};

/* Encodes a tone and pushes it in real time, as the session thread would. */
static void feed(struct client_audio *ca, struct feed *fd)
{
	int frame_us = fd->frame_us ? fd->frame_us : 10000;
	struct opus_enc *enc = opus_enc_new(&(struct opus_enc_cfg){.frame_us = frame_us});
	int samples = frame_us * 48 / 1000;
	int16_t pcm[960 * 2];
	uint8_t pkt[OPUS_CODEC_MAX_PACKET];
	int64_t t0 = fd->t0 ? fd->t0 : clock_real_us(), last_video = 0;
	int count = (int)(fd->seconds * 1000000 / frame_us);

	CHECK(enc != NULL);
	if (!enc)
		return;
	for (int i = 0; i < count; i++) {
		int64_t cap = t0 + (int64_t)i * frame_us;
		tone_sine(pcm, (size_t)samples, fd->hz, 0.5, (size_t)i * (size_t)samples);
		int n = opus_enc_encode(enc, pcm, pkt, sizeof(pkt));
		sleep_until(cap + 5000); /* a 5 ms network */
		int64_t now = clock_real_us();
		if (n > 0 && fd->drop_every && i % fd->drop_every == fd->drop_every - 1) {
			fd->dropped++;
		} else if (n > 0) {
			int rc = client_audio_push(ca, cap, now, pkt, (size_t)n);
			CHECK(rc >= 0);
			fd->pushed++;
		}
		if (fd->video && now - last_video >= 30000) {
			client_audio_video_shown(ca, now - fd->video_lag_us, now);
			last_video = now;
		}
	}
	fd->t0 = t0 + (int64_t)count * frame_us;
	opus_enc_free(enc);
}

static void print_stats(const char *what, struct client_audio *ca)
{
	struct client_audio_stats st;
	client_audio_stats(ca, &st);
	printf("%s: %llu packets, %llu bytes, %.1f kbit/s, %llu refused, %llu concealed, %llu "
	       "recovered, %llu dropped, %llu late, %llu underruns, depth %lld us, target %lld "
	       "us, lip sync %s%.1f ms (shift %.1f ms, %llu held, %llu advanced)\n",
	       what, (unsigned long long)st.packets, (unsigned long long)st.bytes, st.kbps,
	       (unsigned long long)st.refused, (unsigned long long)st.concealed,
	       (unsigned long long)st.recovered, (unsigned long long)st.dropped,
	       (unsigned long long)st.late, (unsigned long long)st.underruns,
	       (long long)st.depth_us, (long long)st.target_us, st.lipsync_valid ? "" : "(none) ",
	       st.lipsync_ms, st.shift_ms, (unsigned long long)st.sync_held,
	       (unsigned long long)st.sync_dropped);
}

static double in_db;

/* 1. the virtual clock into a WAV file */
static void test_wav(void)
{
	char wav[4300];
	snprintf(wav, sizeof(wav), "%s/out.wav", dir);
	int64_t before = clock_real_us();
	struct client_audio *ca = client_audio_new(
		&(struct client_audio_cfg){.sink = CLIENT_AUDIO_SINK_NONE, .wav_path = wav});
	CHECK(ca != NULL);
	if (!ca)
		return;
	feed(ca, &(struct feed){.hz = 440, .seconds = 1.5});
	sleep_ms(150); /* the jitter buffer's delay plays out */
	struct client_audio_stats st;
	client_audio_stats(ca, &st);
	print_stats("wav", ca);
	CHECK(st.packets >= 140);
	CHECK_INT_EQ(st.refused, 0);
	CHECK(st.wav_start_us >= before && st.wav_start_us <= clock_real_us());
	CHECK(st.kbps > 10);
	CHECK(access(wav, F_OK) != 0); /* written to a temporary name until complete */
	client_audio_free(ca);

	size_t n;
	int16_t *pcm = read_wav(wav, &n);
	CHECK(pcm != NULL);
	if (!pcm)
		return;
	double hz, db, secs;
	analyse(pcm, n, &hz, &db, &secs);
	printf("wav: %.2f s, tone for %.2f s at %.2f Hz, %.1f dB (in %.1f)\n", (double)n / RATE,
	       secs, hz, db, in_db);
	CHECK(secs > 1.0);
	CHECK(fabs(hz - 440) <= 5);
	CHECK(fabs(db - in_db) <= 6);
	free(pcm);
}

/* 2. a real sink */
static void test_sink(void)
{
	char raw[4300];
	CHECK_INT_EQ(
		run_cmd("PULSE_SERVER=%s pactl load-module module-null-sink sink_name=hrtest_cl "
			">/dev/null",
			server),
		0);
	struct client_audio *ca = client_audio_new(
		&(struct client_audio_cfg){.server = server, .sink = "hrtest_cl"});
	CHECK(ca != NULL);
	if (!ca)
		return;
	/* a new null sink moves data only after a while (audio/README.md, Limits): wait for it */
	struct client_audio_stats st;
	for (int i = 0; i < 100; i++) {
		client_audio_stats(ca, &st);
		if (st.playing && st.frames >= 50)
			break;
		sleep_ms(50);
	}
	CHECK(st.frames >= 50);
	snprintf(raw, sizeof(raw), "%s/sink.raw", dir);
	CHECK_INT_EQ(run_cmd("PULSE_SERVER=%s timeout 2.5 parec --device=hrtest_cl.monitor --raw "
			     "--format=s16le --rate=48000 --channels=2 > %s & ",
			     server, raw),
		     0);
	sleep_ms(300);
	feed(ca, &(struct feed){.hz = 440, .seconds = 1.5});
	sleep_ms(900); /* parec ends */
	print_stats("sink", ca);
	client_audio_free(ca);

	FILE *f = fopen(raw, "rb");
	CHECK(f != NULL);
	if (!f)
		return;
	static int16_t rec[3 * RATE * 2];
	size_t n = fread(rec, 4, 3 * RATE, f);
	fclose(f);
	double hz, db, secs;
	analyse(rec, n, &hz, &db, &secs);
	printf("sink: parec got %.2f s, tone for %.2f s at %.2f Hz, %.1f dB (in %.1f)\n",
	       (double)n / RATE, secs, hz, db, in_db);
	CHECK(secs > 1.0);
	CHECK(fabs(hz - 440) <= 5);
	CHECK(fabs(db - in_db) <= 6);
}

/* 3. 10 % loss */
static void test_loss(void)
{
	struct client_audio *ca = client_audio_new(
		&(struct client_audio_cfg){.sink = CLIENT_AUDIO_SINK_NONE});
	struct msg_audio_report r;
	CHECK(ca != NULL);
	if (!ca)
		return;
	struct feed fd = {.hz = 440, .seconds = 1.5, .drop_every = 10};
	feed(ca, &fd);
	sleep_ms(100);
	struct client_audio_stats st;
	client_audio_stats(ca, &st);
	print_stats("10 % loss", ca);
	CHECK(client_audio_report(ca, &r));
	printf("10 %% loss: %d dropped on purpose; report: loss %u per mille, target %u ms, "
	       "depth %u ms\n",
	       fd.dropped, r.loss, r.target_ms, r.depth_ms);
	CHECK(fd.dropped >= 14);
	CHECK(st.concealed + st.recovered >= (uint64_t)fd.dropped / 2);
	CHECK(r.loss >= 50 && r.loss <= 250);
	CHECK(r.target_ms >= 20 && r.target_ms <= 60);
	client_audio_free(ca);

	/* silence: DTX sends a packet now and then; the gaps are not loss */
	ca = client_audio_new(&(struct client_audio_cfg){.sink = CLIENT_AUDIO_SINK_NONE});
	CHECK(ca != NULL);
	if (!ca)
		return;
	struct feed quiet = {.hz = 0, .seconds = 1.5};
	feed(ca, &quiet);
	CHECK(client_audio_report(ca, &r));
	printf("silence: %d packets sent; report: loss %u per mille\n", quiet.pushed, r.loss);
	CHECK(quiet.pushed < 40);
	CHECK_INT_EQ(r.loss, 0);
	client_audio_free(ca);
}

/* 4. hostile packets */
static void test_hostile(void)
{
	struct client_audio *ca = client_audio_new(
		&(struct client_audio_cfg){.sink = CLIENT_AUDIO_SINK_NONE});
	uint8_t pkt[1000];
	int64_t t = clock_real_us();
	CHECK(ca != NULL);
	if (!ca)
		return;

	CHECK(client_audio_push(ca, t, t, pkt, 0) < 0); /* empty */
	/* code 3, CELT 20 ms stereo: 6 frames = 120 ms, 2 frames = 40 ms */
	memset(pkt, 0x55, sizeof(pkt));
	pkt[0] = 0xff;
	pkt[1] = 6;
	CHECK_INT_EQ(client_audio_push(ca, t, t, pkt, 1 + 1 + 6 * 20), OPUS_CODEC_ETOOLONG);
	pkt[1] = 2;
	CHECK_INT_EQ(client_audio_push(ca, t, t, pkt, 1 + 1 + 2 * 20), OPUS_CODEC_ETOOLONG);
	pkt[1] = 0; /* no frames at all */
	CHECK(client_audio_push(ca, t, t, pkt, 2) < 0);
	pkt[0] = 0xf8; /* CELT 20 ms, mono */
	CHECK_INT_EQ(client_audio_push(ca, t, t, pkt, 40), OPUS_CODEC_ECHANNELS);
	struct client_audio_stats st;
	client_audio_stats(ca, &st);
	CHECK_INT_EQ(st.refused, 5);
	CHECK_INT_EQ(st.packets, 0);

	/* 2.5 ms frames are legal (the agent may send 2.5..20 ms) */
	struct opus_enc *enc = opus_enc_new(&(struct opus_enc_cfg){.frame_us = 2500});
	int16_t pcm[120 * 2];
	tone_sine(pcm, 120, 440, 0.5, 0);
	int n = opus_enc_encode(enc, pcm, pkt, sizeof(pkt));
	CHECK(n > 0);
	CHECK_INT_EQ(client_audio_push(ca, t, t, pkt, (size_t)n), 0);
	opus_enc_free(enc);

	/* random bytes with random timestamps, while the playback thread pops */
	srand(7);
	uint64_t results = 0;
	for (int i = 0; i < 3000; i++) {
		size_t len = (size_t)(rand() % 200);
		for (size_t j = 0; j < len; j++)
			pkt[j] = (uint8_t)rand();
		if (i % 3 == 0 && len)
			pkt[0] = (uint8_t)(0x04 | (rand() & 0xf8)); /* stereo TOC, code 0 */
		int64_t cap = t + (int64_t)(rand() % 2000000) - 1000000;
		if (i % 100 == 0)
			cap = (int64_t)((uint64_t)rand() << 40); /* absurd */
		(void)client_audio_push(ca, cap, clock_real_us(), pkt, len);
		results++;
	}
	sleep_ms(200);
	client_audio_stats(ca, &st);
	print_stats("hostile", ca);
	CHECK(st.refused > 100);
	CHECK(st.frames > 0); /* the playback thread kept going */
	client_audio_free(ca);
}

static atomic_int max_peak;
static void on_played_peak(int64_t play_us, int64_t capture_us, int peak, const int16_t *pcm,
			   int samples, void *ud)
{
	(void)play_us;
	(void)pcm;
	(void)samples;
	(void)ud;
	if (capture_us >= 0 && peak > atomic_load(&max_peak))
		atomic_store(&max_peak, peak);
}

/* 5. volume and mute */
static void test_volume(void)
{
	struct client_audio *ca = client_audio_new(&(struct client_audio_cfg){
		.sink = CLIENT_AUDIO_SINK_NONE, .on_played = on_played_peak});
	CHECK(ca != NULL);
	if (!ca)
		return;
	client_audio_set_volume(ca, 0);
	atomic_store(&max_peak, 0);
	feed(ca, &(struct feed){.hz = 440, .seconds = 0.5});
	sleep_ms(100);
	int at0 = atomic_load(&max_peak);

	client_audio_set_volume(ca, 100);
	client_audio_set_mute(ca, true);
	feed(ca, &(struct feed){.hz = 440, .seconds = 0.5});
	sleep_ms(100);
	int muted = atomic_load(&max_peak);

	client_audio_set_mute(ca, false);
	client_audio_set_volume(ca, 50);
	feed(ca, &(struct feed){.hz = 440, .seconds = 0.5});
	sleep_ms(100);
	int at50 = atomic_load(&max_peak);
	atomic_store(&max_peak, 0);
	client_audio_set_volume(ca, 100);
	feed(ca, &(struct feed){.hz = 440, .seconds = 0.5});
	sleep_ms(100);
	int at100 = atomic_load(&max_peak);
	struct client_audio_stats st;
	client_audio_stats(ca, &st);
	printf("volume: peak %d at 0 %%, %d muted, %d at 50 %%, %d at 100 %%\n", at0, muted, at50,
	       at100);
	CHECK_INT_EQ(at0, 0);
	CHECK_INT_EQ(muted, 0);
	CHECK(at50 > 0 && at50 < at100 / 2);
	CHECK(at100 > 8000);
	CHECK_INT_EQ(st.volume, 100);
	CHECK(!st.muted);
	client_audio_free(ca);
}

/* 6. lip sync */
static void test_lipsync(void)
{
	struct client_audio *ca = client_audio_new(
		&(struct client_audio_cfg){.sink = CLIENT_AUDIO_SINK_NONE});
	CHECK(ca != NULL);
	if (!ca)
		return;
	struct client_audio_stats st;
	/* pictures are shown 150 ms after capture; audio would play after ~30 ms */
	feed(ca, &(struct feed){.hz = 440, .seconds = 2.5, .video = true, .video_lag_us = 150000});
	client_audio_stats(ca, &st);
	print_stats("lip sync, video late", ca);
	CHECK(st.lipsync_valid);
	CHECK(st.sync_held >= 5);
	CHECK(st.shift_ms > 50);
	CHECK(fabs(st.lipsync_ms) <= 45);
	CHECK(st.packets >= 240);

	/* now the picture is fast (5 ms): audio comes forward again */
	feed(ca, &(struct feed){.hz = 440, .seconds = 2.0, .video = true, .video_lag_us = 5000});
	client_audio_stats(ca, &st);
	print_stats("lip sync, video fast", ca);
	CHECK(st.sync_dropped >= 5);
	CHECK(st.shift_ms < 50);
	client_audio_free(ca);
}

/* 7. the microphone */
static int16_t mic_pcm[4 * RATE * 2];
static size_t mic_n;
static struct opus_dec *mic_dec;
static int mic_refused;

static int on_mic(int64_t capture_us, const uint8_t *data, size_t len, void *ud)
{
	int16_t out[OPUS_CODEC_MAX_SAMPLES * 2];
	(void)ud;
	CHECK(capture_us > 0);
	int n = opus_dec_decode(mic_dec, data, len, out, OPUS_CODEC_MAX_SAMPLES);
	if (n < 0) {
		mic_refused++;
		return 0;
	}
	if (mic_n + (size_t)n <= sizeof(mic_pcm) / 4) {
		memcpy(mic_pcm + mic_n * 2, out, (size_t)n * 4);
		mic_n += (size_t)n;
	}
	return 0;
}

static void loop_for(struct event_base *base, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void test_mic(void)
{
	static int16_t tone[RATE * 2 * 2];
	char wav[4300];
	struct event_base *base = event_base_new();
	struct client_mic_stats ms;

	CHECK(client_mic_new(base, &(struct client_mic_cfg){.source = "bad name",
							    .on_packet = on_mic}) == NULL);
	mic_dec = opus_dec_new();
	tone_sine(tone, RATE * 3 / 2, 1000, 0.5, 0);
	double mic_in_db = tone_level_db(tone, RATE * 3 / 2);
	snprintf(wav, sizeof(wav), "%s/mic.wav", dir);
	CHECK_INT_EQ(tone_write_wav(wav, tone, RATE * 3 / 2), 0);
	CHECK_INT_EQ(
		run_cmd("PULSE_SERVER=%s pactl load-module module-null-sink sink_name=hrtest_mic "
			">/dev/null",
			server),
		0);
	struct client_mic *m = client_mic_new(
		base, &(struct client_mic_cfg){.server = server,
					       .source = "hrtest_mic.monitor",
					       .on_packet = on_mic});
	CHECK(m != NULL);
	if (!m)
		goto out;
	CHECK(!client_mic_is_on(m));
	/* off: a tone plays, nothing is sent */
	run_cmd("PULSE_SERVER=%s paplay --device=hrtest_mic %s >/dev/null 2>&1 &", server, wav);
	loop_for(base, 500);
	client_mic_stats(m, &ms);
	CHECK_INT_EQ(ms.packets, 0);
	CHECK_INT_EQ(ms.frames, 0);
	sleep_ms(1200); /* that paplay ends */

	CHECK_INT_EQ(client_mic_set_on(m, true), 0);
	CHECK(client_mic_is_on(m));
	loop_for(base, 500); /* connected */
	run_cmd("PULSE_SERVER=%s paplay --device=hrtest_mic %s >/dev/null 2>&1 &", server, wav);
	loop_for(base, 2000);
	client_mic_stats(m, &ms);
	printf("mic: %llu frames, %llu packets (%llu bytes), %llu silent, %llu dropped\n",
	       (unsigned long long)ms.frames, (unsigned long long)ms.packets,
	       (unsigned long long)ms.bytes, (unsigned long long)ms.silent,
	       (unsigned long long)ms.dropped);
	CHECK(ms.packets >= 100);
	CHECK_INT_EQ(mic_refused, 0);
	double hz, db, secs;
	analyse(mic_pcm, mic_n, &hz, &db, &secs);
	printf("mic: decoded %.2f s, tone for %.2f s at %.2f Hz, %.1f dB (in %.1f)\n",
	       (double)mic_n / RATE, secs, hz, db, mic_in_db);
	CHECK(secs > 1.0);
	CHECK(fabs(hz - 1000) <= 5);
	CHECK(fabs(db - mic_in_db) <= 6);

	/* off again: nothing more */
	CHECK_INT_EQ(client_mic_set_on(m, false), 0);
	uint64_t sent = ms.packets;
	run_cmd("PULSE_SERVER=%s paplay --device=hrtest_mic %s >/dev/null 2>&1 &", server, wav);
	loop_for(base, 500);
	client_mic_stats(m, &ms);
	CHECK_INT_EQ(ms.packets, sent);
	CHECK(!ms.on);
	client_mic_free(m);
	client_mic_free(NULL);
out:
	opus_dec_free(mic_dec);
	event_base_free(base);
}

int main(void)
{
	static int16_t tone[RATE * 2];
	const char *src_dir = getenv("HIGHRISE_SOURCE_DIR");

	snprintf(fixture, sizeof(fixture), "%s/tests/fixtures/pulse/pulse.sh",
		 src_dir ? src_dir : HR_SOURCE_DIR);
	if (getenv("HR_TEST_DEBUG"))
		log_set_level(LOG_LEVEL_DEBUG);
	CHECK(mkdtemp(dir) != NULL);
	int up = pulsetest_start(fixture, dir, server, sizeof(server));
	CHECK_INT_EQ(up, 0);
	if (up != 0) {
		fprintf(stderr, "test_client_audio: no PulseAudio server (is pulseaudio "
				"installed?)\n");
		return check_done("test_client_audio");
	}
	printf("PulseAudio at %s\n", server);
	tone_sine(tone, RATE, 440, 0.5, 0);
	in_db = tone_level_db(tone, RATE);

	CHECK(client_audio_new(&(struct client_audio_cfg){.sink = "bad name"}) == NULL);
	CHECK(client_audio_new(&(struct client_audio_cfg){.frame_us = 3000}) == NULL);
	client_audio_free(NULL);

	test_wav();
	test_sink();
	test_loss();
	test_hostile();
	test_volume();
	test_lipsync();
	test_mic();

	run_cmd("%s stop %s", fixture, dir);
	run_cmd("rm -rf %s", dir);
	return check_done("test_client_audio");
}
