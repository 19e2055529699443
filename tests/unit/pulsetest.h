/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_TEST_PULSETEST_H
#define HIGHRISE_TEST_PULSETEST_H

/*
 * For unit tests that need a real PulseAudio server (tests/fixtures/pulse/pulse.sh)
 * and its command-line tools (pactl, paplay, parec).
 */

#include <stddef.h>

/* Runs a shell command made like printf; its exit status, or -1 when it did not exit. */
int run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * `FIXTURE start DIR`: a private server in DIR; its server string ("unix:DIR/native")
 * in server. 0, or -1 when it did not come up.
 */
int pulsetest_start(const char *fixture, const char *dir, char *server, size_t cap);

#endif
