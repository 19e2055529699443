/* SPDX-License-Identifier: MIT */
#include "limiter.h"

#include <stdlib.h>
#include <string.h>

#define KEY_MAX 160

struct entry {
	char key[KEY_MAX + 1];
	int attempts;
	int64_t last_ms; /* the last counted attempt */
	int used;
};

struct limiter {
	struct limiter_cfg cfg;
	struct entry *v;
	size_t n; /* entries in use are v[0..n) */
};

struct limiter *limiter_new(const struct limiter_cfg *cfg)
{
	struct limiter *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	if (cfg)
		l->cfg = *cfg;
	if (l->cfg.free_attempts <= 0)
		l->cfg.free_attempts = 3;
	if (l->cfg.base_ms <= 0)
		l->cfg.base_ms = 1000;
	if (l->cfg.max_ms <= 0)
		l->cfg.max_ms = 300000;
	if (l->cfg.forget_ms <= 0)
		l->cfg.forget_ms = 3600000;
	if (l->cfg.capacity == 0)
		l->cfg.capacity = 65536;
	l->v = calloc(l->cfg.capacity, sizeof(*l->v));
	if (!l->v) {
		free(l);
		return NULL;
	}
	return l;
}

void limiter_free(struct limiter *l)
{
	if (!l)
		return;
	free(l->v);
	free(l);
}

static struct entry *find(struct limiter *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strncmp(l->v[i].key, key, KEY_MAX) == 0)
			return &l->v[i];
	return NULL;
}

static int64_t delay_for(const struct limiter *l, int attempts)
{
	int over = attempts - l->cfg.free_attempts; /* attempts already made past the free ones */
	int64_t d = l->cfg.base_ms;
	if (over < 0)
		return 0;
	for (int i = 0; i < over && d < l->cfg.max_ms; i++)
		d *= 2;
	return d < l->cfg.max_ms ? d : l->cfg.max_ms;
}

int64_t limiter_attempt(struct limiter *l, const char *key, int64_t now_ms)
{
	struct entry *e = find(l, key);
	int64_t wait;

	if (e && now_ms - e->last_ms >= l->cfg.forget_ms)
		e->attempts = 0;
	if (!e) {
		if (l->n == l->cfg.capacity) {
			size_t oldest = 0;
			for (size_t i = 1; i < l->n; i++)
				if (l->v[i].last_ms < l->v[oldest].last_ms)
					oldest = i;
			e = &l->v[oldest];
		} else {
			e = &l->v[l->n++];
		}
		memset(e, 0, sizeof(*e));
		strncpy(e->key, key, KEY_MAX);
	}
	if (e->attempts >= l->cfg.free_attempts) {
		wait = e->last_ms + delay_for(l, e->attempts) - now_ms;
		if (wait > 0)
			return wait;
	}
	e->attempts++;
	e->last_ms = now_ms;
	return 0;
}

void limiter_success(struct limiter *l, const char *key)
{
	struct entry *e = find(l, key);
	if (e) {
		*e = l->v[--l->n]; /* order does not matter */
		memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
	}
}
