/* SPDX-License-Identifier: MIT */
#include "queue.h"

#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct queue {
	pthread_mutex_t lock;
	pthread_cond_t not_empty;
	pthread_cond_t not_full;
	size_t capacity, head, len;
	bool closed;
	int efd;
	void **items;
};

struct queue *queue_new(size_t capacity)
{
	struct queue *q;

	if (capacity == 0 || capacity > SIZE_MAX / sizeof(void *)) {
		log_error("queue: invalid capacity %zu", capacity);
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		goto fail;
	q->items = calloc(capacity, sizeof(void *));
	if (!q->items)
		goto fail_items;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0)
		goto fail_efd;
	q->capacity = capacity;
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->not_empty, &ca);
	pthread_cond_init(&q->not_full, &ca);
	pthread_condattr_destroy(&ca);
	return q;

fail_efd:
	free(q->items);
fail_items:
	free(q);
fail:
	log_error("queue: cannot allocate a queue of %zu items: %m", capacity);
	return NULL;
}

void queue_free(struct queue *q, queue_item_free_fn item_free)
{
	if (!q)
		return;
	while (q->len) {
		void *item = q->items[q->head];
		q->head = (q->head + 1) % q->capacity;
		q->len--;
		if (item_free)
			item_free(item);
	}
	close(q->efd);
	pthread_cond_destroy(&q->not_full);
	pthread_cond_destroy(&q->not_empty);
	pthread_mutex_destroy(&q->lock);
	free(q->items);
	free(q);
}

/* Called with the lock held: keep the eventfd readable exactly while len > 0. */
static void signal_fd(struct queue *q, bool was_empty)
{
	if (was_empty && q->len > 0) {
		uint64_t one = 1;
		ssize_t n = write(q->efd, &one, sizeof(one));
		(void)n; /* only fails when the counter would overflow: already readable */
	} else if (q->len == 0 && !q->closed) {
		uint64_t v;
		ssize_t n = read(q->efd, &v, sizeof(v));
		(void)n; /* EAGAIN: nothing to clear */
	}
}

static void push_locked(struct queue *q, void *item)
{
	bool was_empty = q->len == 0;
	q->items[(q->head + q->len) % q->capacity] = item;
	q->len++;
	signal_fd(q, was_empty);
	pthread_cond_signal(&q->not_empty);
}

static void *pop_locked(struct queue *q)
{
	void *item = q->items[q->head];
	q->items[q->head] = NULL;
	q->head = (q->head + 1) % q->capacity;
	q->len--;
	signal_fd(q, false);
	pthread_cond_signal(&q->not_full);
	return item;
}

static void deadline_after(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int queue_push(struct queue *q, void *item)
{
	int rc = 0;

	pthread_mutex_lock(&q->lock);
	if (q->closed)
		rc = -EPIPE;
	else if (q->len == q->capacity)
		rc = -EAGAIN;
	else
		push_locked(q, item);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int queue_push_wait(struct queue *q, void *item, int timeout_ms)
{
	struct timespec deadline;
	int rc = 0;

	if (timeout_ms >= 0)
		deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&q->lock);
	while (!q->closed && q->len == q->capacity && rc == 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&q->not_full, &q->lock);
		else if (pthread_cond_timedwait(&q->not_full, &q->lock, &deadline) == ETIMEDOUT)
			rc = -ETIMEDOUT;
	}
	if (q->closed)
		rc = -EPIPE;
	else if (rc == 0 || q->len < q->capacity) {
		rc = 0;
		push_locked(q, item);
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int queue_push_replace(struct queue *q, void *item, void **dropped)
{
	int rc = 0;

	*dropped = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->closed) {
		rc = -EPIPE;
	} else {
		if (q->len == q->capacity)
			*dropped = pop_locked(q);
		push_locked(q, item);
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void *queue_try_pop(struct queue *q)
{
	void *item = NULL;

	pthread_mutex_lock(&q->lock);
	if (q->len)
		item = pop_locked(q);
	pthread_mutex_unlock(&q->lock);
	return item;
}

void *queue_pop_wait(struct queue *q, int timeout_ms)
{
	struct timespec deadline;
	void *item = NULL;

	if (timeout_ms >= 0)
		deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&q->lock);
	while (q->len == 0 && !q->closed) {
		if (timeout_ms < 0)
			pthread_cond_wait(&q->not_empty, &q->lock);
		else if (pthread_cond_timedwait(&q->not_empty, &q->lock, &deadline) == ETIMEDOUT)
			break;
	}
	if (q->len)
		item = pop_locked(q);
	pthread_mutex_unlock(&q->lock);
	return item;
}

void queue_close(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	/* wake an event loop watching queue_fd too: it sees the close on its next pop */
	uint64_t one = 1;
	ssize_t n = write(q->efd, &one, sizeof(one));
	(void)n;
	pthread_cond_broadcast(&q->not_empty);
	pthread_cond_broadcast(&q->not_full);
	pthread_mutex_unlock(&q->lock);
}

size_t queue_len(struct queue *q)
{
	size_t n;
	pthread_mutex_lock(&q->lock);
	n = q->len;
	pthread_mutex_unlock(&q->lock);
	return n;
}

size_t queue_capacity(const struct queue *q)
{
	return q->capacity;
}

int queue_fd(const struct queue *q)
{
	return q->efd;
}
