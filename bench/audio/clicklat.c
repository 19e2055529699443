/* SPDX-License-Identifier: MIT */
/*
 * clicklat: mouth-to-ear latency of a click train between two PulseAudio
 * sinks, measured where both are recorded the same way (audio/pulse's
 * capture, CLOCK_REALTIME stamps), so the recorders' own delay cancels.
 *
 *   clicklat --mouth SERVER,SINK --ear SERVER,SINK --seconds N [--loop]
 *
 * Records MOUTH.monitor and EAR.monitor for N seconds, finds each click's
 * onset (a sample over -12 dBFS after 100 ms of quiet) on both, pairs every
 * mouth click with the first ear click 0..250 ms after it (the click train
 * must be slower than that: 500 ms apart), and prints one line
 * "click T_US LATENCY_US" per pair and a last line
 *   "clicks=N p50_ms=.. p99_ms=.. first_ms=.. last_ms=.."
 * (first/last: the median of the first and the last ten, for drift).
 *
 * --loop also runs the floor: MOUTH.monitor captured and played straight into
 * EAR with the same buffer settings as the agent's capture and the client's
 * playback (one frame of fragsize, tlength of two frames), through a small
 * ring, with no codec and no network.
 */
#include "log.h"
#include "pulse.h"
#include "source.h"

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CLICKS 8192
#define THRESH	   8000 /* -12 dBFS */
#define QUIET_US   100000

struct side {
	const char *name;
	pthread_mutex_t lock;
	int64_t clicks[MAX_CLICKS];
	int n;
	int64_t last_loud_us;
};

static void on_frame(const struct audio_frame *f, void *ud)
{
	struct side *s = ud;

	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < f->samples; i++) {
		if (abs(f->pcm[2 * i]) < THRESH)
			continue;
		int64_t t = f->capture_us + (int64_t)i * 1000000 / AUDIO_RATE;
		if (t - s->last_loud_us > QUIET_US && s->n < MAX_CLICKS)
			s->clicks[s->n++] = t;
		s->last_loud_us = t;
	}
	pthread_mutex_unlock(&s->lock);
}

/* the floor's ring: capture thread in, playback thread out */
#define RING (48000 * 2)
static struct {
	pthread_mutex_t lock;
	int16_t pcm[RING * 2];
	size_t head, len;
} ring = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void loop_in(const struct audio_frame *f, void *ud)
{
	(void)ud;
	pthread_mutex_lock(&ring.lock);
	for (int i = 0; i < f->samples; i++) {
		if (ring.len == RING) { /* full: drop the oldest */
			ring.head = (ring.head + 1) % RING;
			ring.len--;
		}
		size_t at = (ring.head + ring.len) % RING;
		ring.pcm[2 * at] = f->pcm[2 * i];
		ring.pcm[2 * at + 1] = f->pcm[2 * i + 1];
		ring.len++;
	}
	/* keep at most two frames queued, as a jitter buffer at its floor would */
	while (ring.len > (size_t)f->samples * 2) {
		ring.head = (ring.head + 1) % RING;
		ring.len--;
	}
	pthread_mutex_unlock(&ring.lock);
}

static int loop_out(int16_t *pcm, int samples, int64_t play_us, int64_t need_us, void *ud)
{
	(void)need_us;
	int n = 0;

	(void)play_us;
	(void)ud;
	pthread_mutex_lock(&ring.lock);
	for (; n < samples && ring.len; n++) {
		pcm[2 * n] = ring.pcm[2 * ring.head];
		pcm[2 * n + 1] = ring.pcm[2 * ring.head + 1];
		ring.head = (ring.head + 1) % RING;
		ring.len--;
	}
	pthread_mutex_unlock(&ring.lock);
	return n;
}

static int split(char *arg, const char **server, const char **sink)
{
	char *comma = strrchr(arg, ',');
	if (!comma)
		return -1;
	*comma = '\0';
	*server = arg;
	*sink = comma + 1;
	return 0;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(int64_t *v, int n, double p)
{
	if (n == 0)
		return 0;
	int64_t *c = malloc(sizeof(*c) * (size_t)n);
	memcpy(c, v, sizeof(*c) * (size_t)n);
	qsort(c, (size_t)n, sizeof(*c), cmp64);
	int i = (int)(p * (n - 1) + 0.5);
	double r = (double)c[i] / 1000.0;
	free(c);
	return r;
}

int main(int argc, char **argv)
{
	char *mouth = NULL, *ear = NULL;
	double seconds = 10;
	int loop = 0;
	static const struct option opts[] = {
		{"mouth", required_argument, NULL, 'm'},
		{"ear", required_argument, NULL, 'e'},
		{"seconds", required_argument, NULL, 's'},
		{"loop", no_argument, NULL, 'l'},
		{NULL, 0, NULL, 0},
	};
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		if (c == 'm')
			mouth = optarg;
		else if (c == 'e')
			ear = optarg;
		else if (c == 's')
			seconds = atof(optarg);
		else if (c == 'l')
			loop = 1;
		else
			return 2;
	}
	const char *ms, *mk, *es, *ek;
	if (!mouth || !ear || split(mouth, &ms, &mk) < 0 || split(ear, &es, &ek) < 0) {
		fprintf(stderr, "usage: clicklat --mouth SERVER,SINK --ear SERVER,SINK --seconds N "
				"[--loop]\n");
		return 2;
	}
	log_open("clicklat", LOG_LEVEL_WARN, LOG_TARGET_STDERR);
	static struct side a = {.name = "mouth", .lock = PTHREAD_MUTEX_INITIALIZER},
			   b = {.name = "ear", .lock = PTHREAD_MUTEX_INITIALIZER};
	char ua[300], ub[300];
	snprintf(ua, sizeof(ua), "pulse:%s", mk);
	snprintf(ub, sizeof(ub), "pulse:%s", ek);
	struct audio_source *sa = audio_source_pulse.open(
		ua, &(struct audio_source_cfg){.server = ms, .on_frame = on_frame, .userdata = &a});
	struct audio_source *sb = audio_source_pulse.open(
		ub, &(struct audio_source_cfg){.server = es, .on_frame = on_frame, .userdata = &b});
	struct audio_source *lin = NULL;
	struct audio_playback *lout = NULL;
	if (loop) {
		lin = audio_source_pulse.open(
			ua, &(struct audio_source_cfg){.server = ms, .on_frame = loop_in});
		lout = audio_playback_new(&(struct audio_playback_cfg){
			.server = es, .sink = ek, .create_sink = true, .fill = loop_out});
	}
	if (!sa || !sb || (loop && (!lin || !lout)))
		return 1;
	struct timespec ts = {.tv_sec = (time_t)seconds,
			      .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
	nanosleep(&ts, NULL);
	audio_source_pulse.close(lin);
	audio_playback_free(lout);
	audio_source_pulse.close(sa);
	audio_source_pulse.close(sb);

	static int64_t lat[MAX_CLICKS];
	int n = 0, j = 0;
	for (int i = 0; i < a.n; i++) {
		while (j < b.n && b.clicks[j] < a.clicks[i])
			j++;
		if (j < b.n && b.clicks[j] - a.clicks[i] < 250000) {
			lat[n] = b.clicks[j] - a.clicks[i];
			printf("click %lld %lld\n", (long long)a.clicks[i], (long long)lat[n]);
			n++;
		} else {
			printf("missed %lld\n", (long long)a.clicks[i]);
		}
	}
	int k = n < 10 ? n : 10;
	printf("clicks=%d mouth=%d ear=%d missed=%d p50_ms=%.1f p99_ms=%.1f first_ms=%.1f "
	       "last_ms=%.1f\n",
	       n, a.n, b.n, a.n - n, pct(lat, n, 0.5), pct(lat, n, 0.99), pct(lat, k, 0.5),
	       pct(lat + n - k, k, 0.5));
	return n > 0 ? 0 : 1;
}
