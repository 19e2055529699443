/* SPDX-License-Identifier: MIT */
/*
 * common/queue: FIFO order, the three ways to push into a full queue,
 * timeouts, close, the eventfd and a many-thread stress where every item
 * arrives exactly once.
 */
#include "check.h"

#include "clock.h"
#include "log.h"
#include "queue.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Items are small integers dressed as pointers; 0 would be NULL, so start at 1. */
#define ITEM(n) ((void *)(uintptr_t)(n))
#define NUM(p)	((long long)(uintptr_t)(p))

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* 1 when queue_fd polls readable right now. */
static int fd_readable(struct queue *q)
{
	struct pollfd p = {.fd = queue_fd(q), .events = POLLIN};
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) ? 1 : 0;
}

static int errors_logged;

static void count_errors(enum log_level level, const char *file, int line, const char *msg,
			 void *userdata)
{
	(void)file;
	(void)line;
	(void)msg;
	(void)userdata;
	errors_logged += level == LOG_LEVEL_ERROR;
}

static void test_new(void)
{
	struct queue *q;

	log_set_sink(count_errors, NULL);
	errors_logged = 0;
	CHECK(queue_new(0) == NULL);
	CHECK_INT_EQ(errors_logged, 1);
	CHECK(queue_new(SIZE_MAX) == NULL);
	CHECK_INT_EQ(errors_logged, 2);
	log_set_sink(NULL, NULL);

	q = queue_new(3);
	CHECK(q != NULL);
	if (!q)
		return;
	CHECK_INT_EQ(queue_capacity(q), 3);
	CHECK_INT_EQ(queue_len(q), 0);
	CHECK(queue_fd(q) >= 0);
	CHECK(queue_try_pop(q) == NULL);
	queue_free(q, NULL);
	queue_free(NULL, NULL); /* does nothing */
}

static void test_fifo(void)
{
	struct queue *q = queue_new(4);

	/* Wrap around the ring several times. */
	for (int round = 0; round < 5; round++) {
		for (int i = 1; i <= 4; i++)
			CHECK_INT_EQ(queue_push(q, ITEM(round * 10 + i)), 0);
		CHECK_INT_EQ(queue_len(q), 4);
		CHECK_INT_EQ(queue_push(q, ITEM(99)), -EAGAIN);
		CHECK_INT_EQ(queue_len(q), 4);
		for (int i = 1; i <= 2; i++)
			CHECK_INT_EQ(NUM(queue_try_pop(q)), round * 10 + i);
		CHECK_INT_EQ(queue_push(q, ITEM(round * 10 + 5)), 0);
		for (int i = 3; i <= 5; i++)
			CHECK_INT_EQ(NUM(queue_pop_wait(q, 0)), round * 10 + i);
		CHECK(queue_try_pop(q) == NULL);
		CHECK_INT_EQ(queue_len(q), 0);
	}
	queue_free(q, NULL);
}

static void test_capacity_one(void)
{
	struct queue *q = queue_new(1);
	void *dropped = ITEM(123);

	CHECK_INT_EQ(queue_push(q, ITEM(1)), 0);
	CHECK_INT_EQ(queue_push(q, ITEM(2)), -EAGAIN);
	CHECK_INT_EQ(queue_push_wait(q, ITEM(2), 0), -ETIMEDOUT);
	CHECK_INT_EQ(queue_push_replace(q, ITEM(2), &dropped), 0);
	CHECK_INT_EQ(NUM(dropped), 1);
	CHECK_INT_EQ(queue_len(q), 1);
	CHECK_INT_EQ(fd_readable(q), 1);
	CHECK_INT_EQ(queue_push_replace(q, ITEM(3), &dropped), 0);
	CHECK_INT_EQ(NUM(dropped), 2);
	CHECK_INT_EQ(NUM(queue_try_pop(q)), 3);
	CHECK_INT_EQ(fd_readable(q), 0);
	CHECK_INT_EQ(queue_push_replace(q, ITEM(4), &dropped), 0);
	CHECK(dropped == NULL);
	CHECK_INT_EQ(NUM(queue_try_pop(q)), 4);
	CHECK(queue_try_pop(q) == NULL);
	queue_free(q, NULL);
}

static void test_push_replace(void)
{
	struct queue *q = queue_new(3);
	void *dropped = ITEM(123);

	/* Not full: nothing dropped. */
	for (int i = 1; i <= 3; i++) {
		CHECK_INT_EQ(queue_push_replace(q, ITEM(i), &dropped), 0);
		CHECK(dropped == NULL);
	}
	/* Full: the OLDEST goes, the newest is kept at the tail. */
	CHECK_INT_EQ(queue_push_replace(q, ITEM(4), &dropped), 0);
	CHECK_INT_EQ(NUM(dropped), 1);
	CHECK_INT_EQ(queue_push_replace(q, ITEM(5), &dropped), 0);
	CHECK_INT_EQ(NUM(dropped), 2);
	CHECK_INT_EQ(queue_len(q), 3);
	for (int i = 3; i <= 5; i++)
		CHECK_INT_EQ(NUM(queue_try_pop(q)), i);
	queue_free(q, NULL);
}

struct delayed {
	struct queue *q;
	int delay_ms;
	void *popped;
	int rc;
	void *item;
};

static void *pop_after_delay(void *arg)
{
	struct delayed *d = arg;
	sleep_ms(d->delay_ms);
	d->popped = queue_try_pop(d->q);
	return NULL;
}

static void *push_after_delay(void *arg)
{
	struct delayed *d = arg;
	sleep_ms(d->delay_ms);
	d->rc = queue_push(d->q, d->item);
	return NULL;
}

static void test_push_wait(void)
{
	struct queue *q = queue_new(2);
	struct delayed d = {.q = q, .delay_ms = 100};
	pthread_t t;
	int64_t t0, elapsed;

	CHECK_INT_EQ(queue_push_wait(q, ITEM(1), 50), 0); /* room: no wait */
	CHECK_INT_EQ(queue_push_wait(q, ITEM(2), -1), 0);

	/* Full and nobody pops: times out after about the timeout. */
	t0 = clock_mono_ms();
	CHECK_INT_EQ(queue_push_wait(q, ITEM(3), 80), -ETIMEDOUT);
	elapsed = clock_mono_ms() - t0;
	CHECK(elapsed >= 79);
	CHECK(elapsed < 2000);
	CHECK_INT_EQ(queue_len(q), 2);

	/* A consumer makes room while we wait. */
	pthread_create(&t, NULL, pop_after_delay, &d);
	t0 = clock_mono_ms();
	CHECK_INT_EQ(queue_push_wait(q, ITEM(3), 5000), 0);
	elapsed = clock_mono_ms() - t0;
	pthread_join(t, NULL);
	CHECK_INT_EQ(NUM(d.popped), 1);
	CHECK(elapsed >= 50);
	CHECK(elapsed < 4000);

	/* Same with no timeout at all. */
	pthread_create(&t, NULL, pop_after_delay, &d);
	CHECK_INT_EQ(queue_push_wait(q, ITEM(4), -1), 0);
	pthread_join(t, NULL);
	CHECK_INT_EQ(NUM(d.popped), 2);

	for (int i = 3; i <= 4; i++)
		CHECK_INT_EQ(NUM(queue_try_pop(q)), i);
	queue_free(q, NULL);
}

static void test_pop_wait(void)
{
	struct queue *q = queue_new(2);
	struct delayed d = {.q = q, .delay_ms = 100, .item = ITEM(7)};
	pthread_t t;
	int64_t t0, elapsed;

	t0 = clock_mono_ms();
	CHECK(queue_pop_wait(q, 80) == NULL);
	elapsed = clock_mono_ms() - t0;
	CHECK(elapsed >= 79);
	CHECK(elapsed < 2000);
	CHECK(queue_pop_wait(q, 0) == NULL);

	pthread_create(&t, NULL, push_after_delay, &d);
	CHECK_INT_EQ(NUM(queue_pop_wait(q, 5000)), 7);
	pthread_join(t, NULL);
	CHECK_INT_EQ(d.rc, 0);

	pthread_create(&t, NULL, push_after_delay, &d);
	CHECK_INT_EQ(NUM(queue_pop_wait(q, -1)), 7);
	pthread_join(t, NULL);
	queue_free(q, NULL);
}

struct waiter {
	struct queue *q;
	int rc;
	void *item;
	atomic_int started;
};

static void *wait_push(void *arg)
{
	struct waiter *w = arg;
	atomic_store(&w->started, 1);
	w->rc = queue_push_wait(w->q, ITEM(100), -1);
	return NULL;
}

static void *wait_pop(void *arg)
{
	struct waiter *w = arg;
	atomic_store(&w->started, 1);
	w->item = queue_pop_wait(w->q, -1);
	return NULL;
}

static void test_close(void)
{
	struct queue *full = queue_new(1), *empty = queue_new(1);
	struct waiter wp = {.q = full, .rc = 1}, wq = {.q = empty, .item = ITEM(5)};
	pthread_t tp, tq;
	void *dropped = ITEM(1);

	CHECK_INT_EQ(queue_push(full, ITEM(1)), 0);
	pthread_create(&tp, NULL, wait_push, &wp);
	pthread_create(&tq, NULL, wait_pop, &wq);
	while (!atomic_load(&wp.started) || !atomic_load(&wq.started))
		sleep_ms(1);
	sleep_ms(50); /* let both block in their waits */

	/* Close wakes the blocked pusher (-EPIPE) and the blocked popper (NULL). */
	queue_close(full);
	queue_close(empty);
	pthread_join(tp, NULL);
	pthread_join(tq, NULL);
	CHECK_INT_EQ(wp.rc, -EPIPE);
	CHECK(wq.item == NULL);

	/* Pushes fail, whichever kind; pops drain what is left. */
	CHECK_INT_EQ(queue_push(full, ITEM(2)), -EPIPE);
	CHECK_INT_EQ(queue_push_wait(full, ITEM(2), 10), -EPIPE);
	CHECK_INT_EQ(queue_push_replace(full, ITEM(2), &dropped), -EPIPE);
	CHECK(dropped == NULL);
	CHECK_INT_EQ(queue_len(full), 1);
	CHECK_INT_EQ(fd_readable(full), 1);
	CHECK_INT_EQ(NUM(queue_pop_wait(full, -1)), 1); /* does not block after close */
	CHECK(queue_pop_wait(full, -1) == NULL);
	CHECK(queue_try_pop(full) == NULL);
	/* drained but closed: the fd stays readable so a loop notices the close */
	CHECK_INT_EQ(fd_readable(full), 1);
	queue_close(full); /* twice is harmless */
	queue_free(full, NULL);
	queue_free(empty, NULL);

	/* A closed queue that still holds items drains them in order. */
	struct queue *q = queue_new(4);
	for (int i = 1; i <= 3; i++)
		queue_push(q, ITEM(i));
	queue_close(q);
	for (int i = 1; i <= 3; i++)
		CHECK_INT_EQ(NUM(queue_pop_wait(q, 1000)), i);
	CHECK(queue_pop_wait(q, 1000) == NULL);
	queue_free(q, NULL);
}

static void test_fd(void)
{
	struct queue *q = queue_new(3);
	void *dropped;

	CHECK_INT_EQ(fd_readable(q), 0);
	queue_push(q, ITEM(1));
	CHECK_INT_EQ(fd_readable(q), 1);
	queue_push(q, ITEM(2));
	CHECK_INT_EQ(fd_readable(q), 1);
	queue_try_pop(q);
	CHECK_INT_EQ(fd_readable(q), 1); /* one left */
	queue_try_pop(q);
	CHECK_INT_EQ(fd_readable(q), 0);
	CHECK(queue_try_pop(q) == NULL);
	CHECK_INT_EQ(fd_readable(q), 0);

	/* Through fill, replace and drain, readable exactly while non-empty. */
	for (int i = 1; i <= 5; i++) {
		queue_push_replace(q, ITEM(i), &dropped);
		CHECK_INT_EQ(fd_readable(q), 1);
	}
	while (queue_len(q)) {
		CHECK_INT_EQ(fd_readable(q), 1);
		queue_pop_wait(q, 0);
	}
	CHECK_INT_EQ(fd_readable(q), 0);
	CHECK_INT_EQ(queue_push_wait(q, ITEM(9), 0), 0);
	CHECK_INT_EQ(fd_readable(q), 1);
	CHECK_INT_EQ(NUM(queue_pop_wait(q, 0)), 9);
	CHECK_INT_EQ(fd_readable(q), 0);

	/* A poll with a timeout wakes when another thread pushes. */
	struct delayed d = {.q = q, .delay_ms = 50, .item = ITEM(8)};
	pthread_t t;
	struct pollfd p = {.fd = queue_fd(q), .events = POLLIN};
	pthread_create(&t, NULL, push_after_delay, &d);
	CHECK_INT_EQ(poll(&p, 1, 5000), 1);
	pthread_join(t, NULL);
	CHECK_INT_EQ(NUM(queue_try_pop(q)), 8);
	queue_free(q, NULL);
}

static int items_freed;

static void free_item(void *item)
{
	items_freed++;
	free(item);
}

static void test_free_items(void)
{
	struct queue *q = queue_new(4);
	void *dropped;

	/* Head in the middle of the ring, so the loop in queue_free wraps. */
	for (int i = 0; i < 3; i++)
		queue_push(q, malloc(16));
	free(queue_try_pop(q));
	free(queue_try_pop(q));
	for (int i = 0; i < 4; i++) {
		queue_push_replace(q, malloc(16), &dropped);
		free(dropped);
	}
	CHECK_INT_EQ(queue_len(q), 4);
	items_freed = 0;
	queue_free(q, free_item); /* ASan reports a leak if any item is not handed over */
	CHECK_INT_EQ(items_freed, 4);
}

/* 4 producers, 2 consumers, 200k items through a small queue. */
#define PRODUCERS	   4
#define CONSUMERS	   2
#define ITEMS_PER_PRODUCER 50000

struct producer {
	pthread_t thread;
	struct queue *q;
	int id;
	int failures;
};

struct consumer {
	pthread_t thread;
	struct queue *q;
	unsigned char *seen; /* shared; counts per item, atomically */
	long received;
	int order_errors; /* an item from a producer older than one seen before */
};

static void *produce(void *arg)
{
	struct producer *p = arg;

	for (int i = 0; i < ITEMS_PER_PRODUCER; i++) {
		uintptr_t n = (uintptr_t)p->id * ITEMS_PER_PRODUCER + (uintptr_t)i + 1;
		int rc;

		/* Mix the blocking styles: spin on queue_push, or wait. */
		if (i % 3 == 0) {
			while ((rc = queue_push(p->q, ITEM(n))) == -EAGAIN)
				sched_yield();
		} else if (i % 3 == 1) {
			while ((rc = queue_push_wait(p->q, ITEM(n), 1)) == -ETIMEDOUT)
				;
		} else {
			rc = queue_push_wait(p->q, ITEM(n), -1);
		}
		if (rc != 0)
			p->failures++;
	}
	return NULL;
}

static void *consume(void *arg)
{
	struct consumer *c = arg;
	long last[PRODUCERS];
	void *item;

	for (int i = 0; i < PRODUCERS; i++)
		last[i] = -1;
	while ((item = queue_pop_wait(c->q, -1)) != NULL) {
		long n = (long)(uintptr_t)item - 1;
		int from = (int)(n / ITEMS_PER_PRODUCER);

		if (n < 0 || from >= PRODUCERS) {
			c->order_errors++;
			continue;
		}
		__atomic_fetch_add(&c->seen[n], 1, __ATOMIC_RELAXED);
		/* FIFO: one consumer sees each producer's items in increasing order. */
		if (n <= last[from])
			c->order_errors++;
		last[from] = n;
		c->received++;
	}
	return NULL;
}

static void test_stress(void)
{
	const long total = (long)PRODUCERS * ITEMS_PER_PRODUCER;
	struct queue *q = queue_new(64);
	unsigned char *seen = calloc((size_t)total, 1);
	struct producer prod[PRODUCERS];
	struct consumer cons[CONSUMERS];
	long received = 0, missing = 0, twice = 0;
	int failures = 0, order_errors = 0;
	int64_t t0 = clock_mono_ms();

	for (int i = 0; i < CONSUMERS; i++) {
		cons[i] = (struct consumer){.q = q, .seen = seen};
		pthread_create(&cons[i].thread, NULL, consume, &cons[i]);
	}
	for (int i = 0; i < PRODUCERS; i++) {
		prod[i] = (struct producer){.q = q, .id = i};
		pthread_create(&prod[i].thread, NULL, produce, &prod[i]);
	}
	for (int i = 0; i < PRODUCERS; i++) {
		pthread_join(prod[i].thread, NULL);
		failures += prod[i].failures;
	}
	queue_close(q); /* consumers drain the rest, then see NULL */
	for (int i = 0; i < CONSUMERS; i++) {
		pthread_join(cons[i].thread, NULL);
		received += cons[i].received;
		order_errors += cons[i].order_errors;
	}
	for (long n = 0; n < total; n++) {
		missing += seen[n] == 0;
		twice += seen[n] > 1;
	}
	CHECK_INT_EQ(failures, 0);
	CHECK_INT_EQ(received, total);
	CHECK_INT_EQ(missing, 0);
	CHECK_INT_EQ(twice, 0);
	CHECK_INT_EQ(order_errors, 0);
	CHECK_INT_EQ(queue_len(q), 0);
	CHECK_INT_EQ(fd_readable(q), 1); /* closed */
	printf("stress: %ld items, %d producers, %d consumers, %lld ms\n", total, PRODUCERS,
	       CONSUMERS, (long long)(clock_mono_ms() - t0));
	queue_free(q, NULL);
	free(seen);
}

int main(void)
{
	test_new();
	test_fifo();
	test_capacity_one();
	test_push_replace();
	test_push_wait();
	test_pop_wait();
	test_close();
	test_fd();
	test_free_items();
	test_stress();
	return check_done("test_queue");
}
