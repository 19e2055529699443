/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_STATS_H
#define HIGHRISE_CLIENT_STATS_H

/*
 * A series of samples (latencies, decode times) and its percentiles, for
 * highrise-probe's report and the client's statistics overlay.
 *
 * Memory is bounded: the first STATS_SAMPLES_MAX samples are all kept; after
 * that each new sample replaces a random kept one with the right probability
 * (reservoir sampling, Vitter's algorithm R), so the kept set stays a uniform
 * sample of everything added and percentiles stay unbiased on runs of hours.
 * Count, minimum, maximum and mean are exact.
 *
 * A series belongs to one thread at a time.
 */

#include <stddef.h>
#include <stdint.h>

#define STATS_SAMPLES_MAX (1u << 20)

struct stats_series {
	double *v;
	size_t n, cap; /* kept samples, allocated slots */
	uint64_t count;
	double sum, min, max;
	uint64_t rng;
	int sorted;
};

void stats_series_init(struct stats_series *s);
void stats_series_deinit(struct stats_series *s);

/* Adds a sample. 0, or -ENOMEM (the sample still counts in count/min/max/mean). */
int stats_series_add(struct stats_series *s, double value);

/*
 * The p-th percentile (0 < p <= 100) by nearest rank: the smallest kept
 * sample with at least p% of the kept samples at or below it. NAN when empty.
 * Sorts the kept samples (adding more afterwards is fine).
 */
double stats_series_percentile(struct stats_series *s, double p);

/* NAN when empty. */
double stats_series_mean(const struct stats_series *s);

#endif
