/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_QUEUE_H
#define HIGHRISE_QUEUE_H

/*
 * A bounded, thread-safe FIFO of pointers: how pipeline threads hand work to
 * the event loop and back (STYLE.md "Loops and threads").
 *
 * The queue never grows past its capacity. A producer picks what happens when
 * it is full: queue_push refuses (-EAGAIN), queue_push_wait blocks, and
 * queue_push_replace drops the oldest item and hands it back, which is how a
 * video pipeline skips to the newest screen instead of queueing.
 *
 * queue_fd() is an eventfd that is readable while the queue holds items, so
 * a libevent loop can watch it and drain the whole queue on each wake-up.
 *
 * Items are opaque pointers; the queue never frees them. queue_free(q, fn)
 * passes the items still queued to fn. Any thread may call any function
 * except queue_free, which must run when no other thread uses the queue.
 */

#include <stddef.h>

struct queue;

typedef void (*queue_item_free_fn)(void *item);

/* capacity >= 1. Returns NULL (and logs) on allocation failure. */
struct queue *queue_new(size_t capacity);
void queue_free(struct queue *q, queue_item_free_fn item_free);

/* 0, -EAGAIN when full, -EPIPE after queue_close. item must not be NULL. */
int queue_push(struct queue *q, void *item);
/* Waits for room up to timeout_ms (-1: forever). 0, -ETIMEDOUT or -EPIPE. */
int queue_push_wait(struct queue *q, void *item, int timeout_ms);
/*
 * Always enqueues (unless closed: -EPIPE). When the queue was full, the
 * oldest item is removed and stored in *dropped for the caller to free;
 * otherwise *dropped is NULL.
 */
int queue_push_replace(struct queue *q, void *item, void **dropped);

/* The oldest item, or NULL when empty (queue_try_pop) / on timeout or close (queue_pop_wait). */
void *queue_try_pop(struct queue *q);
void *queue_pop_wait(struct queue *q, int timeout_ms);

/* Wakes every waiter; later pushes fail with -EPIPE, pops drain what is left. */
void queue_close(struct queue *q);

size_t queue_len(struct queue *q);
size_t queue_capacity(const struct queue *q);
/* Readable while non-empty, and for good once closed. Owned by the queue. */
int queue_fd(const struct queue *q);

#endif
