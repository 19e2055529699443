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

#endif
