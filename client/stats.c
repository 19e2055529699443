/* SPDX-License-Identifier: MIT */
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void stats_series_init(struct stats_series *s)
{
	memset(s, 0, sizeof(*s));
	s->rng = 0x9e3779b97f4a7c15ull;
}

void stats_series_deinit(struct stats_series *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static uint64_t next_random(struct stats_series *s)
{
	/* xorshift64: enough to pick reservoir slots */
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

int stats_series_add(struct stats_series *s, double value)
{
	if (s->count == 0 || value < s->min)
		s->min = value;
	if (s->count == 0 || value > s->max)
		s->max = value;
	s->count++;
	s->sum += value;
	if (s->n < STATS_SAMPLES_MAX) {
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 256;
			double *nv = realloc(s->v, cap * sizeof(*nv));
			if (!nv)
				return -ENOMEM;
			s->v = nv;
			s->cap = cap;
		}
		s->v[s->n++] = value;
	} else {
		/* algorithm R: keep the new sample with probability n / count */
		uint64_t j = next_random(s) % s->count;
		if (j < s->n)
			s->v[j] = value;
	}
	s->sorted = 0;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double stats_series_percentile(struct stats_series *s, double p)
{
	size_t rank;

	if (s->n == 0 || !(p > 0) || p > 100)
		return NAN;
	if (!s->sorted) {
		qsort(s->v, s->n, sizeof(*s->v), cmp_double);
		s->sorted = 1;
	}
	rank = (size_t)ceil(p / 100.0 * (double)s->n);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->v[rank - 1];
}

double stats_series_mean(const struct stats_series *s)
{
	return s->count ? s->sum / (double)s->count : NAN;
}

void stats_series_reset(struct stats_series *s)
{
	s->n = 0;
	s->count = 0;
	s->sum = s->min = s->max = 0;
	s->sorted = 0;
}

static const char *const stage_names[STATS_STAGE_COUNT] = {
	[MSG_STAGE_CAPTURE] = "capture",   [MSG_STAGE_WAIT] = "wait",
	[MSG_STAGE_CONVERT] = "convert",   [MSG_STAGE_ENCODE] = "encode",
	[MSG_STAGE_LINK] = "link",	   [MSG_STAGE_QUEUE] = "queue",
	[STATS_STAGE_NETWORK] = "network", [STATS_STAGE_DECODE] = "decode",
	[STATS_STAGE_HANDOFF] = "handoff", [STATS_STAGE_RENDER] = "render",
	[STATS_STAGE_PRESENT] = "present",
};

const char *stats_stage_name(int stage)
{
	return stage >= 0 && stage < STATS_STAGE_COUNT ? stage_names[stage] : NULL;
}

void stats_stages_init(struct stats_stages *st)
{
	for (int i = 0; i < STATS_STAGE_COUNT; i++)
		stats_series_init(&st->s[i]);
	st->frames = 0;
}

void stats_stages_deinit(struct stats_stages *st)
{
	for (int i = 0; i < STATS_STAGE_COUNT; i++)
		stats_series_deinit(&st->s[i]);
	st->frames = 0;
}

void stats_stages_reset(struct stats_stages *st)
{
	for (int i = 0; i < STATS_STAGE_COUNT; i++)
		stats_series_reset(&st->s[i]);
	st->frames = 0;
}

void stats_stages_of_frame(double ms[STATS_STAGE_COUNT], const uint32_t stage_us[MSG_STAGE_COUNT],
			   uint32_t network_us, uint32_t decode_us)
{
	for (int i = 0; i < MSG_STAGE_COUNT; i++)
		ms[i] = stage_us[i] / 1000.0;
	ms[STATS_STAGE_NETWORK] = network_us / 1000.0;
	ms[STATS_STAGE_DECODE] = decode_us / 1000.0;
	for (int i = STATS_STAGE_DECODE + 1; i < STATS_STAGE_COUNT; i++)
		ms[i] = NAN;
}

void stats_stages_add(struct stats_stages *st, const double ms[STATS_STAGE_COUNT], int end)
{
	for (int i = 0; i < end && i < STATS_STAGE_COUNT; i++)
		stats_series_add(&st->s[i], ms[i]);
	st->frames++;
}

int stats_stages_format(struct stats_stages *st, double pct, int first, int end, char *buf,
			size_t len)
{
	size_t n = 0;
	int m;

	if (len)
		buf[0] = '\0';
	for (int i = first < 0 ? 0 : first; i < end && i < STATS_STAGE_COUNT; i++) {
		double v = stats_series_percentile(&st->s[i], pct);
		if (isnan(v))
			continue;
		m = snprintf(buf + (n < len ? n : len), n < len ? len - n : 0, "%s%s %.1f",
			     n ? "  " : "", stage_names[i], v);
		if (m < 0)
			return m;
		n += (size_t)m;
	}
	if (n) {
		m = snprintf(buf + (n < len ? n : len), n < len ? len - n : 0, " ms");
		if (m < 0)
			return m;
		n += (size_t)m;
	}
	return (int)n;
}

/* A number with one decimal, or "–" when unknown. */
static const char *num1(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "–");
	else
		snprintf(buf, len, "%.1f", v);
	return buf;
}

int stats_overlay_format(const struct stats_overlay *o, char *buf, size_t len)
{
	char fps[32], lat[32], dec[32], rtt[32], kbps[32], place[96];
	const char *fb = o->fallback && *o->fallback ? o->fallback : NULL;

	if (isnan(o->kbps))
		snprintf(kbps, sizeof(kbps), "–");
	else
		snprintf(kbps, sizeof(kbps), "%.0f", o->kbps);
	if (o->scale && !strcmp(o->scale, "1:1"))
		snprintf(place, sizeof(place), "1:1 at +%d+%d", o->off_x, o->off_y);
	else
		snprintf(place, sizeof(place), "%s %.2f", o->scale ? o->scale : "fit", o->zoom);
	bool sa = o->stages_agent && *o->stages_agent, sc = o->stages_client && *o->stages_client;
	/* the capture time is the agent's clock: across hosts only synchronised clocks agree */
	int n = snprintf(
		buf, len,
		"%s fps   %s kbit/s\n"
		"capture→display %s ms (%s)\n"
		"decode %s ms   RTT %s ms\n"
		"%s%s%s%s%s%s"
		"decoder %s%s%s\n"
		"renderer %s\n"
		"desktop %dx%d   %s   HiDPI ×%d",
		num1(fps, sizeof(fps), o->fps), kbps, num1(lat, sizeof(lat), o->latency_ms),
		o->same_clock ? "same host" : "agent clock: valid if clocks are in sync",
		num1(dec, sizeof(dec), o->decode_ms), num1(rtt, sizeof(rtt), o->rtt_ms),
		sa ? "agent  " : "", sa ? o->stages_agent : "", sa ? "\n" : "", sc ? "client " : "",
		sc ? o->stages_client : "", sc ? "\n" : "", o->decoder ? o->decoder : "–",
		fb ? "\n  no VAAPI: " : "", fb ? fb : "", o->renderer ? o->renderer : "–",
		o->desk_w, o->desk_h, place, o->scale_factor > 0 ? o->scale_factor : 1);
	if (!o->audio || n < 0 || (size_t)n >= len)
		return n;
	char lip[32];
	if (isnan(o->lipsync_ms))
		snprintf(lip, sizeof(lip), "–");
	else
		snprintf(lip, sizeof(lip), "%+.1f", o->lipsync_ms);
	int m = snprintf(
		buf + n, len - (size_t)n,
		"\naudio %.0f kbit/s   jitter %.0f/%.0f ms   concealed %llu   dropped %llu\n"
		"lip sync %s ms   volume %d %%%s   mic %s",
		o->audio_kbps, o->jitter_ms, o->jitter_target_ms, (unsigned long long)o->concealed,
		(unsigned long long)o->audio_dropped, lip, o->volume, o->muted ? " (muted)" : "",
		o->mic ? o->mic : "–");
	return m < 0 ? m : n + m;
}
