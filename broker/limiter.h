/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_LIMITER_H
#define HIGHRISE_LIMITER_H

/*
 * Login attempt limits with exponential backoff (issue #5), kept per key:
 * the broker uses one key per user name and one per client address, so the
 * limit holds across connections and across users tried from one address.
 *
 * Every attempt counts when it starts (limiter_attempt), so attempts sent in
 * parallel are counted before any of them is answered; a success clears the
 * key (limiter_success). After `free_attempts` attempts, each further one
 * must wait base_ms * 2^(n - free_attempts - 1), at most max_ms, after the
 * previous one. A key untouched for forget_ms starts again from zero.
 *
 * The table holds at most `capacity` keys; when full, the key idle longest
 * is forgotten (an attacker with many addresses can rotate them; a per-user
 * key still slows guessing one user's password).
 *
 * Time is passed in (milliseconds, monotonic) so tests need no sleeping.
 * Not thread-safe: the broker's loop thread owns it.
 */

#include <stddef.h>
#include <stdint.h>

struct limiter_cfg {
	int free_attempts; /* 0: 3 */
	int64_t base_ms;   /* 0: 1000 */
	int64_t max_ms;	   /* 0: 300000 */
	int64_t forget_ms; /* 0: 3600000 */
	size_t capacity;   /* 0: 65536 */
};

struct limiter;

struct limiter *limiter_new(const struct limiter_cfg *cfg);
void limiter_free(struct limiter *l);

/*
 * An attempt for key at now_ms. Returns 0 when allowed (and counts it), or
 * the milliseconds to wait (> 0) when refused (not counted). key is copied
 * (at most 160 bytes are kept).
 */
int64_t limiter_attempt(struct limiter *l, const char *key, int64_t now_ms);

/* The key succeeded: its count starts again from zero. */
void limiter_success(struct limiter *l, const char *key);

#endif
