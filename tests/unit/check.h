/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_TEST_CHECK_H
#define HIGHRISE_TEST_CHECK_H

/*
 * Minimal assertions for the unit tests: each failure prints the file, line,
 * the expression and both values, counts, and the test goes on; check_done()
 * prints the "N passed, N failed" line and gives main's exit code.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (cond) {                                                                \
			check_passed++;                                                    \
		} else {                                                                   \
			check_failed++;                                                    \
			fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                          \
	} while (0)

#define CHECK_INT_EQ(a, b)                                                                    \
	do {                                                                                  \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);               \
		if (check_a_ == check_b_) {                                                   \
			check_passed++;                                                       \
		} else {                                                                      \
			check_failed++;                                                       \
			fprintf(stderr, "%s:%d: FAILED: %s == %s (%lld != %lld)\n", __FILE__, \
				__LINE__, #a, #b, check_a_, check_b_);                        \
		}                                                                             \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                                        \
	do {                                                                                      \
		const char *check_a_ = (a), *check_b_ = (b);                                      \
		if (check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0) {                    \
			check_passed++;                                                           \
		} else {                                                                          \
			check_failed++;                                                           \
			fprintf(stderr, "%s:%d: FAILED: %s == %s (\"%s\" != \"%s\")\n", __FILE__, \
				__LINE__, #a, #b, check_a_ ? check_a_ : "(null)",                 \
				check_b_ ? check_b_ : "(null)");                                  \
		}                                                                                 \
	} while (0)

#define CHECK_MEM_EQ(a, b, n)                                                             \
	do {                                                                              \
		if (memcmp((a), (b), (n)) == 0) {                                         \
			check_passed++;                                                   \
		} else {                                                                  \
			check_failed++;                                                   \
			fprintf(stderr, "%s:%d: FAILED: %s and %s differ in %zu bytes\n", \
				__FILE__, __LINE__, #a, #b, (size_t)(n));                 \
		}                                                                         \
	} while (0)

/* Call at the end of main: prints the summary and returns the exit code. */
static inline int check_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
	if (check_passed == 0 && check_failed == 0) {
		fprintf(stderr, "%s: no checks ran\n", name);
		return 1;
	}
	return check_failed ? 1 : 0;
}

#endif
