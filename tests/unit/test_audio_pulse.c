/* SPDX-License-Identifier: MIT */
/*
 * audio/pulse against a real PulseAudio server that this test starts itself
 * (tests/fixtures/pulse/pulse.sh: a private socket, so parallel tests never
 * share one). A missing pulseaudio is a failure, never a skip.
 *
 *  1. paplay plays a 440 Hz WAV into sink hrtest_x (which our source created);
 *     our source captures hrtest_x.monitor: 440 ± 5 Hz, level within 6 dB,
 *     capture times 10 ms apart on CLOCK_REALTIME.
 *  2. our playback plays a 440 Hz tone into sink hrtest_y; parec records
 *     hrtest_y.monitor: 440 ± 5 Hz, level within 6 dB.
 *  4. a source recorded as it is (pulse-source:hrtest_m.monitor, a
 *     microphone's URI): the same tone arrives, and nothing is created.
 *  3. the server is killed mid-capture and started again: the source logs
 *     why once, reconnects with backoff, says it is back, recreates its sink,
 *     and captures the tone again; a playback stream comes back too.
 */
#include "check.h"
#include "clock.h"
#include "log.h"
#include "pulse.h"
#include "pulsetest.h"
#include "tone.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CAP_SECONDS 8

static char dir[] = "/tmp/hr-pulse-test.XXXXXX";
static char server[4200];
static char fixture[4096];

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int16_t cap[CAP_SECONDS * AUDIO_RATE * 2];
static size_t cap_frames; /* samples per channel collected */
static bool collecting;
static int64_t last_capture, first_capture, max_step_err, max_age;
static bool monotonic;
static int nframes;
static int warns, backs;

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static void on_frame(const struct audio_frame *f, void *ud)
{
	(void)ud;
	pthread_mutex_lock(&lock);
	int64_t age = clock_real_us() - f->capture_us;
	if (collecting) {
		if (nframes > 0) {
			int64_t err = llabs(f->capture_us - last_capture - 10000);
			if (err > max_step_err)
				max_step_err = err;
			if (f->capture_us <= last_capture)
				monotonic = false;
		} else {
			first_capture = f->capture_us;
		}
		if (llabs(age) > max_age)
			max_age = llabs(age);
		nframes++;
		if (cap_frames + (size_t)f->samples <= CAP_SECONDS * AUDIO_RATE) {
			memcpy(cap + cap_frames * 2, f->pcm, (size_t)f->samples * 4);
			cap_frames += (size_t)f->samples;
		}
	}
	last_capture = f->capture_us;
	pthread_mutex_unlock(&lock);
}

static void start_collecting(void)
{
	pthread_mutex_lock(&lock);
	cap_frames = 0;
	nframes = 0;
	max_step_err = max_age = 0;
	monotonic = true;
	collecting = true;
	pthread_mutex_unlock(&lock);
}

static void stop_collecting(void)
{
	pthread_mutex_lock(&lock);
	collecting = false;
	pthread_mutex_unlock(&lock);
}

static void log_to_test(enum log_level level, const char *file, int line, const char *msg, void *ud)
{
	(void)ud;
	fprintf(stderr, "[%.3f %s %s:%d] %s\n", (clock_real_us() % 100000000) / 1e6,
		log_level_name(level), file, line, msg);
	pthread_mutex_lock(&lock);
	if (level == LOG_LEVEL_WARN && strstr(msg, "capture of hrtest_x.monitor is off"))
		warns++;
	if (level == LOG_LEVEL_INFO && strstr(msg, "capture of hrtest_x.monitor is back"))
		backs++;
	pthread_mutex_unlock(&lock);
}

static bool wait_for(bool (*cond)(void *), void *ud, int ms)
{
	for (int t = 0; t < ms; t += 20) {
		if (cond(ud))
			return true;
		sleep_ms(20);
	}
	return cond(ud);
}

static bool source_connected(void *ud)
{
	struct audio_source_stats st;
	audio_source_pulse.stats(ud, &st);
	return st.connected;
}

static bool playback_connected(void *ud)
{
	struct audio_playback_stats st;
	audio_playback_stats(ud, &st);
	return st.connected && st.frames > 10;
}

static bool sink_exists(const char *name)
{
	return run_cmd("PULSE_SERVER=%s pactl list short sinks | cut -f2 | grep -qx %s", server,
		       name) == 0;
}

/* The loud part of what was captured: from the first to the last frame above -40 dB. */
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
	/* leave out 50 ms at each edge: the start and end of playback */
	first += 2400;
	last = last > first + 2400 ? last - 2400 : first;
	*seconds = (double)(last - first) / AUDIO_RATE;
	if (last <= first + 4800)
		return;
	*hz = tone_dominant_hz(pcm + 2 * first, last - first);
	*db = tone_level_db(pcm + 2 * first, last - first);
}

static void capture_tone(const char *sink, const char *wav, double in_db, const char *what)
{
	double hz, db, secs;

	start_collecting();
	int rc = run_cmd("PULSE_SERVER=%s paplay --device=%s %s", server, sink, wav);
	CHECK_INT_EQ(rc, 0);
	sleep_ms(200);
	stop_collecting();
	pthread_mutex_lock(&lock);
	analyse(cap, cap_frames, &hz, &db, &secs);
	printf("%s: %d frames, tone for %.2f s at %.2f Hz, %.1f dB (in %.1f); capture-time step "
	       "error max %lld us, age max %lld us\n",
	       what, nframes, secs, hz, db, in_db, (long long)max_step_err, (long long)max_age);
	CHECK(secs > 0.8);
	CHECK(fabs(hz - 440) <= 5);
	CHECK(fabs(db - in_db) <= 6);
	/* stamped on the sample clock: always forward, also after a re-anchor (seen in CI:
	 * 44 ms back after a server restart, before stamp() held stamps forward), 10 ms a
	 * frame on average (the largest single step error is printed above; it depends on the
	 * machine's load, not checked) */
	CHECK(monotonic);
	CHECK(nframes > 10 && llabs((last_capture - first_capture) / (nframes - 1) - 10000) < 1000);
	CHECK(max_age < 1000000); /* stamped when captured, not a second later */
	pthread_mutex_unlock(&lock);
}

static double phase;
static int fill_tone(int16_t *pcm, int samples, int64_t play_us, int64_t need_us, void *ud)
{
	(void)need_us;
	(void)play_us;
	(void)ud;
	for (int i = 0; i < samples; i++) {
		int16_t v = (int16_t)lrint(0.5 * 32767 * sin(phase));
		pcm[2 * i] = pcm[2 * i + 1] = v;
		phase += 2 * M_PI * 440 / AUDIO_RATE;
		if (phase > 2 * M_PI)
			phase -= 2 * M_PI;
	}
	return samples;
}

static void test_playback(double in_db)
{
	char raw[4200];
	double hz, db, secs;
	struct audio_playback *p = audio_playback_new(&(struct audio_playback_cfg){
		.server = server, .sink = "hrtest_y", .create_sink = true, .fill = fill_tone});

	CHECK(p != NULL);
	if (!p)
		return;
	CHECK(wait_for(playback_connected, p, 5000));
	CHECK(sink_exists("hrtest_y"));
	snprintf(raw, sizeof(raw), "%s/rec.raw", dir);
	run_cmd("PULSE_SERVER=%s timeout 2 parec --device=hrtest_y.monitor --raw --format=s16le "
		"--rate=48000 --channels=2 > %s",
		server, raw);
	struct audio_playback_stats st;
	audio_playback_stats(p, &st);
	audio_playback_free(p);

	FILE *f = fopen(raw, "rb");
	CHECK(f != NULL);
	if (!f)
		return;
	static int16_t rec[3 * AUDIO_RATE * 2];
	size_t n = fread(rec, 4, 3 * AUDIO_RATE, f);
	fclose(f);
	analyse(rec, n, &hz, &db, &secs);
	printf("playback: parec got %.2f s, tone for %.2f s at %.2f Hz, %.1f dB (in %.1f); "
	       "%llu frames written, %llu underruns, latency %lld us\n",
	       (double)n / AUDIO_RATE, secs, hz, db, in_db, (unsigned long long)st.frames,
	       (unsigned long long)st.underruns, (long long)st.latency_us);
	CHECK(secs > 1.0);
	CHECK(fabs(hz - 440) <= 5);
	CHECK(fabs(db - in_db) <= 6);
	CHECK(st.latency_us < 100000);
}

/* Connected again after an outage, and writing. */
static bool playback_back(void *ud)
{
	struct audio_playback_stats st;
	audio_playback_stats(ud, &st);
	static uint64_t frames_at_reconnect = UINT64_MAX;
	if (!st.connected || st.reconnects == 0)
		return false;
	if (frames_at_reconnect == UINT64_MAX)
		frames_at_reconnect = st.frames;
	return st.frames >= frames_at_reconnect + 10;
}

struct flow {
	struct audio_source *src;
	uint64_t base;
};

/* At least 10 frames (100 ms) more than when the wait began. */
static bool frames_flowing(void *ud)
{
	struct flow *fl = ud;
	struct audio_source_stats st;
	audio_source_pulse.stats(fl->src, &st);
	if (fl->base == UINT64_MAX)
		fl->base = st.frames;
	return st.connected && st.frames >= fl->base + 10;
}

/* 4. pulse-source:NAME records a source as it is; it never creates one. */
static void test_source_uri(const char *wav, double in_db)
{
	CHECK(audio_source_find("pulse-source:x.monitor") == &audio_source_pulse);
	CHECK(audio_source_find("pulse-source:") == &audio_source_pulse);
	CHECK(audio_source_pulse.open("pulse-source:bad name", NULL) == NULL);
	CHECK(audio_source_pulse.open("pulse-source:$(id)", NULL) == NULL);

	/* the default source: opens (whatever the server's default is), closes cleanly */
	struct audio_source *def = audio_source_pulse.open(
		"pulse-source:", &(struct audio_source_cfg){.server = server});
	CHECK(def != NULL);
	audio_source_pulse.close(def);

	/* a missing source is an outage, not a creation */
	struct audio_source *none = audio_source_pulse.open(
		"pulse-source:hrtest_nothing", &(struct audio_source_cfg){.server = server});
	CHECK(none != NULL);
	sleep_ms(300);
	CHECK(!sink_exists("hrtest_nothing"));
	audio_source_pulse.close(none);

	CHECK_INT_EQ(
		run_cmd("PULSE_SERVER=%s pactl load-module module-null-sink sink_name=hrtest_m "
			">/dev/null",
			server),
		0);
	struct audio_source *mic = audio_source_pulse.open(
		"pulse-source:hrtest_m.monitor",
		&(struct audio_source_cfg){.server = server, .on_frame = on_frame});
	CHECK(mic != NULL);
	if (!mic)
		return;
	CHECK(wait_for(source_connected, mic, 5000));
	capture_tone("hrtest_m", wav, in_db, "pulse-source capture");
	audio_source_pulse.close(mic);
}

int main(void)
{
	static int16_t tone[AUDIO_RATE * 2 * 2];
	char wav[4200];

	const char *src_dir = getenv("HIGHRISE_SOURCE_DIR");
	snprintf(fixture, sizeof(fixture), "%s/tests/fixtures/pulse/pulse.sh",
		 src_dir ? src_dir : HR_SOURCE_DIR);
	log_set_sink(log_to_test, NULL);
	if (getenv("HR_TEST_DEBUG"))
		log_set_level(LOG_LEVEL_DEBUG);
	CHECK(mkdtemp(dir) != NULL);
	int up = pulsetest_start(fixture, dir, server, sizeof(server));
	CHECK_INT_EQ(up, 0);
	if (up != 0) {
		fprintf(stderr,
			"test_audio_pulse: no PulseAudio server (is pulseaudio installed?)\n");
		return check_done("test_audio_pulse");
	}
	printf("PulseAudio at %s\n", server);

	tone_sine(tone, AUDIO_RATE * 3 / 2, 440, 0.5, 0);
	double in_db = tone_level_db(tone, AUDIO_RATE * 3 / 2);
	snprintf(wav, sizeof(wav), "%s/tone.wav", dir);
	CHECK_INT_EQ(tone_write_wav(wav, tone, AUDIO_RATE * 3 / 2), 0);

	CHECK(audio_source_find("pulse:hrtest_x") == &audio_source_pulse);
	CHECK(audio_source_find("spice:x") == NULL);
	CHECK(audio_source_pulse.open("pulse:bad name", NULL) == NULL);
	CHECK(audio_source_pulse.open("pulse:x", &(struct audio_source_cfg){.frame_us = 3000}) ==
	      NULL);
	CHECK(!audio_pulse_name_ok("a b"));
	CHECK(!audio_pulse_name_ok(""));
	CHECK(audio_pulse_name_ok("vm1.mic_in-2"));

	struct audio_source *src = audio_source_pulse.open(
		"pulse:hrtest_x",
		&(struct audio_source_cfg){.server = server, .on_frame = on_frame});
	CHECK(src != NULL);
	if (!src)
		goto out;
	CHECK(wait_for(source_connected, src, 5000));
	CHECK(sink_exists("hrtest_x"));

	/* 1. paplay -> hrtest_x -> our capture */
	capture_tone("hrtest_x", wav, in_db, "capture");

	/* 2. our playback -> hrtest_y -> parec */
	test_playback(in_db);

	/* 3. the server dies mid-capture and comes back */
	/* a playback stream lives through the outage too */
	struct audio_playback *play = audio_playback_new(&(struct audio_playback_cfg){
		.server = server, .sink = "hrtest_y", .create_sink = true, .fill = fill_tone});
	CHECK(play != NULL);
	CHECK(wait_for(playback_connected, play, 5000));

	/* kill it while paplay plays into the sink we capture */
	run_cmd("PULSE_SERVER=%s paplay --device=hrtest_x %s >/dev/null 2>&1 &", server, wav);
	CHECK(wait_for(frames_flowing, &(struct flow){src, UINT64_MAX}, 2000));
	int killed = run_cmd("%s kill %s", fixture, dir);
	CHECK_INT_EQ(killed, 0);
	sleep_ms(2000); /* 100 + 200 + 400 + 800 ms of retries */
	struct audio_source_stats st;
	audio_source_pulse.stats(src, &st);
	pthread_mutex_lock(&lock);
	int warns_down = warns;
	pthread_mutex_unlock(&lock);
	printf("server killed: connected %d, %llu reconnect attempts in 2 s, %d warnings\n",
	       st.connected, (unsigned long long)st.reconnects, warns_down);
	CHECK(!st.connected);
	CHECK(st.reconnects >= 3);
	CHECK_INT_EQ(warns_down, 1); /* said once, not once per attempt */
	up = pulsetest_start(fixture, dir, server, sizeof(server));
	CHECK_INT_EQ(up, 0);
	int64_t t0 = clock_real_us();
	CHECK(wait_for(source_connected, src, 8000));
	printf("server restarted: capture back after %.2f s\n", (clock_real_us() - t0) / 1e6);
	struct audio_playback_stats ps;
	CHECK(wait_for(playback_back, play, 8000));
	audio_playback_stats(play, &ps);
	printf("playback: back after %.2f s, %llu reconnects, %llu frames, %llu underruns, latency "
	       "%lld us\n",
	       (clock_real_us() - t0) / 1e6, (unsigned long long)ps.reconnects,
	       (unsigned long long)ps.frames, (unsigned long long)ps.underruns,
	       (long long)ps.latency_us);
	CHECK(ps.reconnects >= 1);
	audio_playback_free(play);
	CHECK(sink_exists("hrtest_x")); /* a new server: the sink was created again */
	pthread_mutex_lock(&lock);
	CHECK_INT_EQ(backs, 1);
	CHECK_INT_EQ(warns, 1);
	pthread_mutex_unlock(&lock);
	capture_tone("hrtest_x", wav, in_db, "capture after restart");

	audio_source_pulse.stats(src, &st);
	printf("source: %llu frames, %llu overflows, %llu holes, %llu reconnects\n",
	       (unsigned long long)st.frames, (unsigned long long)st.overflows,
	       (unsigned long long)st.holes, (unsigned long long)st.reconnects);
	audio_source_pulse.close(src);
	audio_source_pulse.close(NULL);

	/* 4. with the sink's capture closed, so that only this one collects */
	test_source_uri(wav, in_db);
	audio_playback_free(NULL);
out:
	run_cmd("%s stop %s", fixture, dir);
	run_cmd("rm -rf %s", dir);
	log_set_sink(NULL, NULL);
	return check_done("test_audio_pulse");
}
