/* SPDX-License-Identifier: MIT */
/*
 * A desktop's flow control (server/flow.h), on a clock the test moves: who
 * lags and who is skipped, throttle only when every client lags, the ceiling
 * dropping 15 % a tick in a lag's first half second, holding while the lag
 * lasts (the old code climbed 10 % a second through a stall longer than 2 s),
 * and climbing 10 % a second only 2 s after the lag ended.
 */
#include "check.h"
#include "flow.h"

#define S  1000000ull /* a second in µs */
#define T0 (100 * S)  /* some time after boot */

/* ticks every FLOW_TICK_US from *now until `until`; returns how many changed the rate */
static int ticks(struct flow *f, uint64_t *now, uint64_t until)
{
	int changed = 0;

	while (*now + FLOW_TICK_US <= until) {
		*now += FLOW_TICK_US;
		changed += flow_tick(f, *now);
	}
	return changed;
}

static void test_lagging(void)
{
	struct flow f;

	flow_init(&f, 0, 0);
	CHECK_INT_EQ(f.max_inflight, 4);
	CHECK_INT_EQ(f.bitrate_max, 10000);
	CHECK_INT_EQ(f.bitrate, 10000);
	CHECK(!f.throttle);
	CHECK(!flow_lagging(&f, 3));
	CHECK(flow_lagging(&f, 4));
	/* skipped at 4 x max_inflight frames, or with more than 8 MiB queued */
	CHECK(!flow_far_behind(&f, 15, FLOW_SKIP_BYTES));
	CHECK(flow_far_behind(&f, 16, 0));
	CHECK(flow_far_behind(&f, 0, FLOW_SKIP_BYTES + 1));
	flow_init(&f, 1, 3000);
	CHECK(flow_lagging(&f, 1));
	CHECK(flow_far_behind(&f, 4, 0));
	CHECK_INT_EQ(f.bitrate, 3000);
}

static void test_throttle(void)
{
	struct flow f;
	uint64_t now = T0;

	flow_init(&f, 4, 10000);
	/* nobody watching, or one client keeping up: no throttle, nothing to say */
	CHECK(!flow_update(&f, false, true, now));
	CHECK(!flow_update(&f, true, false, now));
	CHECK(!f.throttle);
	/* every client lags: throttle, once */
	CHECK(flow_update(&f, true, true, now));
	CHECK(f.throttle);
	CHECK(!flow_update(&f, true, true, now + 1000));
	/* one acknowledges: go on */
	CHECK(flow_update(&f, true, false, now + 2000));
	CHECK(!f.throttle);
	/* the worker restarted (the agent says "not throttled" to it) */
	CHECK(flow_update(&f, true, true, now + 3000));
	CHECK(flow_update(&f, false, false, now + 4000));
	CHECK(!f.throttle);
}

static void test_ceiling(void)
{
	struct flow f;
	uint64_t now = T0;

	flow_init(&f, 4, 10000);
	/* nobody lagged: the ceiling stays where it is */
	CHECK_INT_EQ(ticks(&f, &now, now + 10 * S), 0);
	CHECK_INT_EQ(f.bitrate, 10000);

	/* a lag begins: -15 % at each tick of its first half second (two ticks) */
	flow_update(&f, true, true, now);
	CHECK(flow_tick(&f, now += FLOW_TICK_US));
	CHECK_INT_EQ(f.bitrate, 8500);
	CHECK(flow_tick(&f, now += FLOW_TICK_US - 1));
	CHECK_INT_EQ(f.bitrate, 7225);
	now += 1;

	/* the stall goes on for 10 s: the ceiling holds (no climb while everyone lags) */
	CHECK_INT_EQ(ticks(&f, &now, now + 10 * S), 0);
	CHECK_INT_EQ(f.bitrate, 7225);

	/* the clients keep up again: 2 s of calm, then +10 % (+1) once a second */
	flow_update(&f, true, false, now);
	uint64_t ended = now;
	CHECK_INT_EQ(ticks(&f, &now, ended + 2 * S - 1), 0);
	CHECK_INT_EQ(f.bitrate, 7225);
	CHECK_INT_EQ(ticks(&f, &now, ended + 2 * S), 1);
	CHECK_INT_EQ(f.bitrate, 7948);
	CHECK_INT_EQ(ticks(&f, &now, ended + 3 * S - 1), 0);
	CHECK_INT_EQ(ticks(&f, &now, ended + 3 * S), 1);
	CHECK_INT_EQ(f.bitrate, 8743);
	/* up to the configured ceiling, not past it */
	ticks(&f, &now, now + 30 * S);
	CHECK_INT_EQ(f.bitrate, 10000);

	/* a short lag within the calm restarts the 2 s */
	flow_update(&f, true, true, now);
	flow_tick(&f, now += FLOW_TICK_US);
	flow_update(&f, true, false, now);
	CHECK_INT_EQ(f.bitrate, 8500);
	ended = now;
	CHECK_INT_EQ(ticks(&f, &now, ended + 2 * S - 1), 0);
	CHECK_INT_EQ(ticks(&f, &now, ended + 2 * S), 1);
	CHECK_INT_EQ(f.bitrate, 9351);
}

static void test_floor(void)
{
	struct flow f;
	uint64_t now = T0;

	/* lag after lag drops it to the floor, never below */
	flow_init(&f, 4, 600);
	for (int i = 0; i < 5; i++) {
		flow_update(&f, true, true, now);
		flow_tick(&f, now += FLOW_TICK_US);
		flow_update(&f, true, false, now);
		now += FLOW_TICK_US;
	}
	CHECK_INT_EQ(f.bitrate, FLOW_FLOOR_KBPS);
	CHECK(!flow_tick(&f, now += FLOW_TICK_US));
}

int main(void)
{
	test_lagging();
	test_throttle();
	test_ceiling();
	test_floor();
	return check_done("test_flow");
}
