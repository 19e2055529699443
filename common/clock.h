/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLOCK_H
#define HIGHRISE_CLOCK_H

/*
 * The project's two clocks, read one way everywhere:
 *   CLOCK_MONOTONIC for timeouts, intervals and backoff (never jumps);
 *   CLOCK_REALTIME for capture and display times that cross processes and
 *   hosts (VIDEO, AUDIO and ACK carry it: docs/protocol.md).
 * Any thread.
 */

#include <stdint.h>
#include <time.h>

static inline int64_t clock_ns_of(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t clock_mono_ms(void)
{
	return clock_ns_of(CLOCK_MONOTONIC) / 1000000;
}

static inline int64_t clock_mono_us(void)
{
	return clock_ns_of(CLOCK_MONOTONIC) / 1000;
}

static inline int64_t clock_real_us(void)
{
	return clock_ns_of(CLOCK_REALTIME) / 1000;
}

/*
 * A duration in microseconds as a stage time (VIDEO's, docs/protocol.md
 * §5.5): a negative one (clocks of two processes) is 0, a longer one than
 * a u32 holds is UINT32_MAX.
 */
static inline uint32_t clock_us32(int64_t us)
{
	return us <= 0 ? 0 : us >= (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

#endif
