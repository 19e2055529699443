/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_FLOW_H
#define HIGHRISE_FLOW_H

/*
 * Flow control of one desktop's video (docs/architecture.md, "The agent",
 * says why; test_flow checks each rule on a clock of its own). A client with max_inflight frames sent
 * and not yet acknowledged lags. While every client lags the worker is told
 * to throttle: it stops encoding but keeps collecting damage, so the next
 * frame is the newest screen (skip to the newest, never queue). A client
 * FLOW_SKIP_FACTOR times max_inflight behind, or with FLOW_SKIP_BYTES queued
 * to it, is skipped while the others go on, and resumes at a key frame.
 *
 * The bitrate ceiling, judged every FLOW_TICK_US by flow_tick:
 * - a lag (every client lagging) that began less than FLOW_DROP_US ago
 *   drops it 15 % at each tick, never below FLOW_FLOOR_KBPS;
 * - while the lag lasts, it holds (a stalled link is no reason to climb);
 * - once FLOW_CALM_US passed since the last lag ended, it climbs 10 % (and
 *   1 kbit/s) once a second, up to the configured ceiling.
 *
 * Time is passed in (microseconds, monotonic) so tests need no sleeping. Not
 * thread-safe: the agent's loop thread owns it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLOW_SKIP_FACTOR 4	    /* skip a client at max_inflight * this */
#define FLOW_SKIP_BYTES	 (8u << 20) /* or when this much is queued to it */
#define FLOW_FLOOR_KBPS	 500
#define FLOW_TICK_US	 250000 /* how often flow_tick is called */
#define FLOW_DROP_US	 500000
#define FLOW_CALM_US	 2000000
#define FLOW_RAISE_US	 1000000

struct flow {
	int max_inflight;	/* frames; >= 1 */
	int bitrate_max;	/* kbit/s, the configured ceiling */
	int bitrate;		/* kbit/s the worker should use now */
	bool throttle;		/* every client lags: the worker collects damage only */
	uint64_t lag_start_us;	/* when the current or last lag began; 0: never */
	uint64_t lag_end_us;	/* when the last lag ended; 0: never, or it goes on */
	uint64_t last_raise_us; /* the last climb */
};

/* max_inflight <= 0: 4; bitrate_max <= 0: 10000. The ceiling starts at the top. */
void flow_init(struct flow *f, int max_inflight, int bitrate_max);

/* A client with this many frames unacknowledged lags. */
bool flow_lagging(const struct flow *f, uint32_t inflight);

/* ... and is skipped (it comes back at a key frame). */
bool flow_far_behind(const struct flow *f, uint32_t inflight, size_t queued_bytes);

/*
 * The clients' state changed: whether anyone watches, and whether every one
 * of them lags. Returns true when f->throttle changed (tell the worker).
 */
bool flow_update(struct flow *f, bool any, bool all_lag, uint64_t now_us);

/* Every FLOW_TICK_US: returns true when f->bitrate changed (tell the worker). */
bool flow_tick(struct flow *f, uint64_t now_us);

#endif
