/* SPDX-License-Identifier: MIT */
/* A desktop's flow control: who lags, throttle, the bitrate ceiling (flow.h). */
#include "flow.h"

void flow_init(struct flow *f, int max_inflight, int bitrate_max)
{
	*f = (struct flow){
		.max_inflight = max_inflight > 0 ? max_inflight : 4,
		.bitrate_max = bitrate_max > 0 ? bitrate_max : 10000,
	};
	f->bitrate = f->bitrate_max;
}

bool flow_lagging(const struct flow *f, uint32_t inflight)
{
	return inflight >= (uint32_t)f->max_inflight;
}

bool flow_far_behind(const struct flow *f, uint32_t inflight, size_t queued_bytes)
{
	return inflight >= (uint32_t)f->max_inflight * FLOW_SKIP_FACTOR ||
	       queued_bytes > FLOW_SKIP_BYTES;
}

bool flow_update(struct flow *f, bool any, bool all_lag, uint64_t now_us)
{
	bool t = any && all_lag;

	if (t == f->throttle)
		return false;
	if (t)
		f->lag_start_us = now_us;
	else
		f->lag_end_us = now_us;
	f->throttle = t;
	return true;
}

bool flow_tick(struct flow *f, uint64_t now_us)
{
	int rate = f->bitrate;

	if (f->lag_start_us && now_us - f->lag_start_us < FLOW_DROP_US) {
		/* multiplicative decrease in the first half second of a lag */
		int lower = rate * 85 / 100;
		rate = lower < FLOW_FLOOR_KBPS ? FLOW_FLOOR_KBPS : lower;
	} else if (!f->throttle && (!f->lag_end_us || now_us - f->lag_end_us >= FLOW_CALM_US) &&
		   now_us - f->last_raise_us >= FLOW_RAISE_US) {
		/* gentle increase once the clients kept up for a while */
		int higher = rate + rate / 10 + 1;
		rate = higher > f->bitrate_max ? f->bitrate_max : higher;
		if (rate != f->bitrate)
			f->last_raise_us = now_us;
	}
	if (rate == f->bitrate)
		return false;
	f->bitrate = rate;
	return true;
}
