/* SPDX-License-Identifier: MIT */
/*
 * audio/timeline: pieces of sound whose true capture times the test knows,
 * measured with the delays a busy machine adds (never early), stamped; the
 * stamps must stay on the true times, never go back, and find real gaps.
 */
#include "check.h"
#include "timeline.h"

#include <stdbool.h>
#include <stdint.h>

#define RATE  48000
#define PIECE 480 /* 10 ms */
#define MS    1000
#define T0    ((int64_t)1796000000 * 1000000)

static uint32_t lcg = 1;
static int64_t noise_us(int64_t max)
{
	lcg = lcg * 1103515245 + 12345;
	return (int64_t)((lcg >> 8) % (uint32_t)(max + 1));
}

struct run {
	int64_t worst_after; /* largest |stamp - truth| once settled */
	int64_t min_step;    /* smallest step between stamps */
	bool monotonic;
	int gaps;
};

/*
 * n pieces from true time `truth`; delay(i) is added to each measurement;
 * settled_from: the piece from which the stamps must be on time.
 */
static int64_t run_pieces(struct audio_timeline *t, int64_t truth, int n, int64_t (*delay)(int i),
			  int settled_from, struct run *r, int64_t *last_stamp)
{
	for (int i = 0; i < n; i++) {
		bool gap = false;
		int64_t s = audio_timeline_stamp(t, truth + delay(i), PIECE, RATE, &gap);
		if (*last_stamp != INT64_MIN) {
			if (s <= *last_stamp)
				r->monotonic = false;
			if (s - *last_stamp < r->min_step)
				r->min_step = s - *last_stamp;
		}
		*last_stamp = s;
		r->gaps += gap;
		int64_t err = s > truth ? s - truth : truth - s;
		if (i >= settled_from && err > r->worst_after)
			r->worst_after = err;
		truth += (int64_t)PIECE * 1000000 / RATE;
	}
	return truth;
}

static void run_init(struct run *r)
{
	*r = (struct run){.min_step = INT64_MAX, .monotonic = true};
}

static int64_t busy(int i)
{
	/* 0..15 ms of scheduling delay, a prompt read now and then */
	(void)i;
	return noise_us(15 * MS) * (noise_us(4) != 0);
}

static void test_busy_machine(void)
{
	struct audio_timeline t;
	struct run r;
	int64_t last = INT64_MIN;

	audio_timeline_init(&t, 0);
	run_init(&r);
	run_pieces(&t, T0, 1000, busy, 50, &r, &last);
	printf("busy: worst error after 0.5 s %.2f ms, smallest step %.2f ms, gaps %d\n",
	       r.worst_after / 1000.0, r.min_step / 1000.0, r.gaps);
	CHECK(r.monotonic);
	CHECK(r.worst_after <= 1 * MS);
	CHECK(r.min_step >= 10 * MS - 10 * MS / 8);
	CHECK_INT_EQ(r.gaps, 0);
}

/* The first read of the stream came 47 ms late (seen on a loaded CI machine). */
static int64_t late_start(int i)
{
	return i == 0 ? 47 * MS : noise_us(3 * MS);
}

static void test_late_anchor(void)
{
	struct audio_timeline t;
	struct run r;
	int64_t last = INT64_MIN;

	audio_timeline_init(&t, 0);
	run_init(&r);
	run_pieces(&t, T0, 300, late_start, 60, &r, &last);
	printf("late first read: worst error after 0.6 s %.2f ms, smallest step %.2f ms\n",
	       r.worst_after / 1000.0, r.min_step / 1000.0);
	CHECK(r.monotonic);
	CHECK(r.worst_after <= 3 * MS);
	CHECK(r.min_step >= 10 * MS - 10 * MS / 8);
	CHECK(t.catchups >= 1);
}

/* One read 50 ms late in the middle (a burst): no jump, the stamps stay on time. */
static int64_t one_stall(int i)
{
	return i >= 100 && i < 105 ? (105 - i) * 10 * MS : 0;
}

static void test_burst(void)
{
	struct audio_timeline t;
	struct run r;
	int64_t last = INT64_MIN;

	audio_timeline_init(&t, 0);
	run_init(&r);
	run_pieces(&t, T0, 300, one_stall, 0, &r, &last);
	printf("a 50 ms stall: worst error %.2f ms, gaps %d\n", r.worst_after / 1000.0, r.gaps);
	CHECK(r.worst_after == 0);
	CHECK_INT_EQ(r.gaps, 0);
}

static int64_t prompt(int i)
{
	(void)i;
	return 0;
}

/* The sound really pauses for 300 ms (it is captured later): a gap, then on time again. */
static void test_real_gap(void)
{
	struct audio_timeline t;
	struct run r;
	int64_t last = INT64_MIN;

	audio_timeline_init(&t, 0);
	run_init(&r);
	int64_t truth = run_pieces(&t, T0, 100, prompt, 0, &r, &last);
	run_pieces(&t, truth + 300 * MS, 100, prompt, 50, &r, &last);
	printf("a 300 ms pause: gaps %d, worst error after 500 ms %.2f ms\n", r.gaps,
	       r.worst_after / 1000.0);
	CHECK(r.monotonic);
	CHECK_INT_EQ(r.gaps, 1);
	CHECK(r.worst_after == 0);

	/* a console that pauses: gap_us 60 ms finds it at once */
	audio_timeline_init(&t, 60 * MS);
	run_init(&r);
	last = INT64_MIN;
	truth = run_pieces(&t, T0, 100, prompt, 0, &r, &last);
	run_pieces(&t, truth + 300 * MS, 100, prompt, 0, &r, &last);
	CHECK_INT_EQ(r.gaps, 1);
	CHECK(r.worst_after == 0);
}

/* The source's clock is 0.1 % fast, then 0.1 % slow (ten times a sound card's drift): the stamps follow within a few ms. */
static void test_drift(void)
{
	for (int dir = -1; dir <= 1; dir += 2) {
		struct audio_timeline t;
		int64_t truth = T0, last = INT64_MIN, worst = 0;
		bool monotonic = true;

		audio_timeline_init(&t, 0);
		for (int i = 0; i < 3000; i++) {
			int64_t s = audio_timeline_stamp(&t, truth + noise_us(2 * MS), PIECE, RATE,
							 NULL);
			int64_t err = s > truth ? s - truth : truth - s;
			if (i > 100 && err > worst)
				worst = err;
			if (last != INT64_MIN && s <= last)
				monotonic = false;
			last = s;
			truth += 10 * MS + dir * 10; /* 10 ms of samples take 9.99 or 10.01 ms */
		}
		printf("clock %s by 0.1 %%: worst error %.2f ms\n", dir < 0 ? "fast" : "slow",
		       worst / 1000.0);
		CHECK(monotonic);
		CHECK(worst <= 3 * MS);
	}
}

/* reset (a new stream) and clock steps: anchored again, never back, no overflow. */
static void test_reset_and_steps(void)
{
	struct audio_timeline t;
	bool gap;

	audio_timeline_init(&t, 0);
	int64_t a = audio_timeline_stamp(&t, T0, PIECE, RATE, &gap);
	CHECK(a == T0 && !gap);
	audio_timeline_reset(&t);
	/* a new stream that claims to start 44 ms back: held at the end of the last piece */
	int64_t b = audio_timeline_stamp(&t, T0 - 44 * MS, PIECE, RATE, &gap);
	CHECK(b == T0 + 10 * MS && gap);
	/* the clock steps 5 s forward: anchored there at once */
	int64_t c = audio_timeline_stamp(&t, T0 + 5000 * MS, PIECE, RATE, &gap);
	CHECK(c == T0 + 5000 * MS && gap);
	/* hostile values: clamped, no overflow, still forward */
	int64_t d = audio_timeline_stamp(&t, INT64_MAX, PIECE, RATE, &gap);
	CHECK(d > c);
	int64_t e = audio_timeline_stamp(&t, INT64_MIN, PIECE, RATE, &gap);
	CHECK(e > d);
	int64_t f = audio_timeline_stamp(&t, 0, -5, 0, &gap);
	CHECK(f >= e);
}

int main(void)
{
	test_busy_machine();
	test_late_anchor();
	test_burst();
	test_real_gap();
	test_drift();
	test_reset_and_steps();
	return check_done("test_audio_timeline");
}
