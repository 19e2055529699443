/* SPDX-License-Identifier: MIT */
#include "timeline.h"

#include <string.h>

#define TIME_LIMIT ((int64_t)1 << 60) /* measurements are clamped to ±2^60 µs */

static int64_t duration_us(int64_t samples, int rate)
{
	return samples * 1000000 / rate;
}

void audio_timeline_init(struct audio_timeline *t, int64_t gap_us)
{
	memset(t, 0, sizeof(*t));
	t->gap_us = gap_us > 0 && gap_us < AUDIO_TIMELINE_STEP_US ? gap_us : AUDIO_TIMELINE_STEP_US;
}

void audio_timeline_reset(struct audio_timeline *t)
{
	t->anchored = false;
}

int64_t audio_timeline_stamp(struct audio_timeline *t, int64_t measured_us, int samples, int rate,
			     bool *gap)
{
	bool jumped = false;

	if (samples < 0)
		samples = 0;
	if (rate <= 0)
		rate = 48000;
	if (measured_us < -TIME_LIMIT)
		measured_us = -TIME_LIMIT;
	if (measured_us > TIME_LIMIT)
		measured_us = TIME_LIMIT;

	if (t->anchored) {
		int64_t d = measured_us - (t->anchor_us + duration_us(t->samples, rate));
		if (d > t->gap_us || d < -AUDIO_TIMELINE_STEP_US) {
			t->anchored = false;
		} else if (d < 0) {
			/* the timeline is later than a time that is never early: it was late */
			t->anchor_us += d;
			t->win_samples = 0;
			if (d < -1000)
				t->catchups++;
		} else {
			/* later: a delay, unless a whole window of sound is later */
			if (t->win_samples == 0 || d < t->win_min_us)
				t->win_min_us = d;
			t->win_samples += samples;
			if (duration_us(t->win_samples, rate) >= AUDIO_TIMELINE_WINDOW_US) {
				t->anchor_us += t->win_min_us;
				if (t->win_min_us > AUDIO_TIMELINE_JUMP_US) {
					jumped = true;
					t->jumps++;
				}
				t->win_samples = 0;
			}
		}
	}
	if (!t->anchored) {
		int64_t start = measured_us;
		if (t->stamped && start < t->last_end_us)
			start = t->last_end_us;
		jumped = t->stamped;
		t->anchored = true;
		t->anchor_us = start;
		t->samples = 0;
		t->win_samples = 0;
	}
	int64_t stamp = t->anchor_us + duration_us(t->samples, rate);
	int64_t dur = duration_us(samples, rate);
	if (t->stamped && stamp < t->next_min_us)
		stamp = t->next_min_us;
	t->next_min_us = stamp + dur - dur / 8;
	t->last_end_us = stamp + dur;
	t->samples += samples;
	t->stamped = true;
	if (gap)
		*gap = jumped;
	return stamp;
}
