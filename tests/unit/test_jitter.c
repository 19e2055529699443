/* SPDX-License-Identifier: MIT */
/*
 * audio/jitter: a simulated network and sound card drive the buffer. Packets
 * of 10 ms are captured on the sender's clock, arrive with a delay the test
 * chooses, and a frame is popped every 10 ms of receiver time.
 */
#include "check.h"
#include "jitter.h"

#include <errno.h>
#include <stdbool.h>

#define FRAME 10000
#define MS    1000
/* Clocks that do not agree: the sender's and the receiver's epochs differ. */
#define SENDER_T0  ((int64_t)1700000000 * 1000000)
#define CLOCK_SKEW ((int64_t)-4321 * MS)

struct pkt {
	int64_t capture, arrival;
	uint8_t data[4];
	bool lost;
};

struct run {
	int played, missing, idle;
	int64_t last_capture; /* of the last packet played: order check */
	bool in_order;
	int64_t delay_sum, delay_n, delay_max; /* play time - (capture + skew): mouth-to-ear */
	int missing_at[64];
	int nmissing_at;
	bool fec_seen_for_last_missing;
	int64_t delay[4000]; /* per packet index: mouth-to-ear, or 0 when never played */
};

/* Receiver time never goes back between runs on the same buffer. */
static int64_t sim_clock = INT64_MIN;

/* A new buffer for a new stream: the simulated receiver clock starts over. */
static struct jitter *fresh(void)
{
	sim_clock = INT64_MIN;
	return jitter_new(NULL);
}

static void mark(struct pkt *p, int i)
{
	p->data[0] = (uint8_t)i;
	p->data[1] = (uint8_t)(i >> 8);
	p->data[2] = 0xa5;
	p->data[3] = (uint8_t)(i >> 16);
}

static int index_of(const uint8_t *d)
{
	return d[0] | d[1] << 8 | d[3] << 16;
}

/* n packets every 10 ms, delay(i) µs on the network. */
static struct pkt *make(int n, int64_t (*delay)(int i))
{
	struct pkt *p = calloc((size_t)n, sizeof(*p));
	for (int i = 0; i < n; i++) {
		p[i].capture = SENDER_T0 + (int64_t)i * FRAME;
		p[i].arrival = p[i].capture + CLOCK_SKEW + delay(i);
		mark(&p[i], i);
	}
	return p;
}

/*
 * Runs receiver time from the first capture (or where the last run ended)
 * in 1 ms steps until the last packet played (or its arrival + 200 ms),
 * pushing what has arrived and popping every pop_us (10 ms, or a drifting
 * sound card's period). stall_from..stall_to: no pops (a stalled player).
 */
static void simulate(struct jitter *jb, struct pkt *p, int n, int64_t pop_us, int64_t stall_from,
		     int64_t stall_to, struct run *r)
{
	int64_t start = p[0].capture + CLOCK_SKEW;
	if (start < sim_clock)
		start = sim_clock;
	int64_t end = start, next_pop = start;
	bool *sent = calloc((size_t)n, 1);

	memset(r, 0, sizeof(*r));
	r->in_order = true;
	r->last_capture = INT64_MIN;
	for (int i = 0; i < n; i++)
		if (p[i].arrival > end)
			end = p[i].arrival;
	end += 200 * MS;
	for (int64_t now = start; now <= end; now += MS) {
		for (int i = 0; i < n; i++) {
			if (!sent[i] && p[i].arrival <= now) {
				sent[i] = true;
				if (!p[i].lost)
					jitter_push(jb, p[i].capture, p[i].arrival, FRAME,
						    p[i].data, 4);
			}
		}
		if (now < next_pop)
			continue;
		next_pop += pop_us;
		if (now >= stall_from && now < stall_to)
			continue;
		struct jitter_out o;
		jitter_pop(jb, now, &o);
		if (o.status == JITTER_PACKET) {
			r->played++;
			if (o.capture_us <= r->last_capture)
				r->in_order = false;
			r->last_capture = o.capture_us;
			int64_t d = now - (o.capture_us + CLOCK_SKEW);
			r->delay_sum += d;
			r->delay_n++;
			if (d > r->delay_max)
				r->delay_max = d;
			r->fec_seen_for_last_missing = false;
			int idx = index_of(o.data);
			if (idx >= 0 && idx < 4000)
				r->delay[idx] = d;
			if (o.capture_us == p[n - 1].capture) {
				sim_clock = now + pop_us;
				break;
			}
		} else if (o.status == JITTER_MISSING) {
			int idx = (int)((o.capture_us - SENDER_T0) / FRAME);
			if (r->nmissing_at < 64)
				r->missing_at[r->nmissing_at++] = idx;
			r->missing++;
			r->fec_seen_for_last_missing = o.fec && o.fec_len == 4 &&
						       index_of(o.fec) == idx + 1;
		} else {
			r->idle++;
		}
		sim_clock = now + pop_us;
	}
	free(sent);
}

static int64_t fixed_5ms(int i)
{
	(void)i;
	return 5 * MS;
}

static void test_steady(void)
{
	struct jitter *jb = fresh();
	struct pkt *p = make(1000, fixed_5ms);
	struct jitter_stats st;
	struct run r;

	simulate(jb, p, 1000, FRAME, 0, 0, &r);
	jitter_stats(jb, &st);
	printf("steady: played %d missing %d idle %d, mean delay %.1f ms (max %.1f), target %lld\n",
	       r.played, r.missing, r.idle, r.delay_sum / (double)r.delay_n / 1000,
	       r.delay_max / 1000.0, (long long)st.target_us);
	CHECK_INT_EQ(r.played, 1000);
	CHECK_INT_EQ(st.concealed, 0);
	CHECK_INT_EQ(st.dropped, 0);
	CHECK_INT_EQ(st.late, 0);
	CHECK_INT_EQ(st.restarts, 1);
	CHECK_INT_EQ(st.target_us, 20000);
	CHECK(r.in_order);
	/* network 5 ms + target 20 ms, within a frame */
	CHECK(r.delay_max <= 5 * MS + 20 * MS + FRAME);
	jitter_free(jb);
	free(p);
}

/* Deterministic pseudo-random jitter: uniform 0..30 ms for 5 s, then 5 ms flat (calm). */
static uint32_t lcg = 12345;
static int64_t jittery_then_calm(int i)
{
	lcg = lcg * 1103515245 + 12345;
	if (i < 500)
		return (int64_t)((lcg >> 8) % 30000);
	return 5 * MS;
}

static void test_jitter_grows_and_shrinks(void)
{
	struct jitter *jb = fresh();
	struct pkt *p = make(2000, jittery_then_calm);
	struct jitter_stats st;
	struct run r;

	/* 5 s of jitter */
	simulate(jb, p, 500, FRAME, 0, 0, &r);
	jitter_stats(jb, &st);
	int64_t worst = 0;
	for (int i = 400; i < 500; i++)
		worst = r.delay[i] > worst ? r.delay[i] : worst;
	printf("jitter 0..30 ms for 5 s: target %lld us, peak %lld us, concealed %llu, late %llu, "
	       "mean mouth-to-ear %.1f ms\n",
	       (long long)st.target_us, (long long)st.jitter_us, (unsigned long long)st.concealed,
	       (unsigned long long)st.late, r.delay_sum / (double)r.delay_n / 1000);
	CHECK(st.target_us >= 45000);
	CHECK(st.target_us <= 60000);
	CHECK(st.concealed < 25); /* the first jumps only, then it holds: < 5 % */
	CHECK(r.in_order);
	int64_t grown = st.target_us;

	/* then 15 s of a calm network */
	struct jitter_stats before = st;
	simulate(jb, p + 500, 1500, FRAME, 0, 0, &r);
	jitter_stats(jb, &st);
	int64_t calm = 0;
	for (int i = 1900; i < 2000; i++)
		calm = r.delay[i] > calm ? r.delay[i] : calm;
	printf("then 15 s calm: target %lld us (was %lld), dropped %llu; mouth-to-ear at the end "
	       "%.1f ms (at the end of the jitter %.1f ms)\n",
	       (long long)st.target_us, (long long)grown,
	       (unsigned long long)(st.dropped - before.dropped), calm / 1000.0, worst / 1000.0);
	CHECK_INT_EQ(st.target_us, 20000);
	CHECK_INT_EQ(st.concealed, before.concealed);
	CHECK(st.dropped > before.dropped); /* shrinking the delay drops a few frames */
	CHECK(r.in_order);
	/* latency followed the target down: 5 ms network + 20 ms + the pop grid */
	CHECK(calm <= 5 * MS + 20 * MS + FRAME);
	CHECK(calm < worst);
	jitter_free(jb);
	free(p);
}

static void test_gap(void)
{
	struct jitter *jb = fresh();
	struct pkt *p = make(300, fixed_5ms);
	struct jitter_stats st;
	struct run r;

	p[100].lost = p[101].lost = p[102].lost = true;
	simulate(jb, p, 300, FRAME, 0, 0, &r);
	jitter_stats(jb, &st);
	CHECK_INT_EQ(r.played, 297);
	CHECK_INT_EQ(r.missing, 3);
	CHECK_INT_EQ(st.concealed, 3);
	CHECK_INT_EQ(r.nmissing_at, 3);
	CHECK_INT_EQ(r.missing_at[0], 100);
	CHECK_INT_EQ(r.missing_at[1], 101);
	CHECK_INT_EQ(r.missing_at[2], 102);
	CHECK(r.in_order);
	jitter_free(jb);

	/* One lost packet: the MISSING carries the next packet for FEC. */
	jb = fresh();
	for (int i = 0; i < 300; i++)
		p[i].lost = i == 150;
	simulate(jb, p, 300, FRAME, 0, 0, &r);
	CHECK_INT_EQ(r.missing, 1);
	CHECK_INT_EQ(r.missing_at[0], 150);
	CHECK(r.fec_seen_for_last_missing || r.played == 299);
	jitter_free(jb);

	/* Check the FEC pointer directly: pop at the lost frame's time. */
	jb = fresh();
	uint8_t a[4] = {1, 0, 0xa5, 0}, c[4] = {3, 0, 0xa5, 0};
	struct jitter_out o;
	jitter_push(jb, 0, 1000, FRAME, a, 4);
	jitter_push(jb, 2 * FRAME, 2 * FRAME + 1000, FRAME, c, 4);
	jitter_pop(jb, 1000 + 20000, &o);
	CHECK_INT_EQ(o.status, JITTER_PACKET);
	CHECK_INT_EQ(o.data[0], 1);
	jitter_pop(jb, 1000 + 30000, &o);
	CHECK_INT_EQ(o.status, JITTER_MISSING);
	CHECK_INT_EQ(o.capture_us, FRAME);
	CHECK_INT_EQ(o.duration_us, FRAME);
	CHECK(o.fec != NULL && o.fec[0] == 3);
	jitter_pop(jb, 1000 + 40000, &o);
	CHECK_INT_EQ(o.status, JITTER_PACKET);
	CHECK_INT_EQ(o.data[0], 3);
	jitter_free(jb);
	free(p);
}

/* The player stalls for 300 ms while packets keep coming: it catches up, latency does not stay. */
static void test_burst_catch_up(void)
{
	struct jitter *jb = fresh();
	struct pkt *p = make(600, fixed_5ms);
	struct jitter_stats st;
	struct run r;
	int64_t t = SENDER_T0 + CLOCK_SKEW;

	simulate(jb, p, 600, FRAME, t + 2000 * MS, t + 2300 * MS, &r);
	jitter_stats(jb, &st);
	printf("player stalled 300 ms: dropped %llu, played %d, concealed %llu, max delay %.1f "
	       "ms\n",
	       (unsigned long long)st.dropped, r.played, (unsigned long long)st.concealed,
	       r.delay_max / 1000.0);
	CHECK(st.dropped >= 25 && st.dropped <= 32);
	CHECK(r.played >= 600 - 32);
	CHECK(r.in_order);
	/* nothing played more than a frame late after catching up (the stall itself aside) */
	CHECK(r.delay_max <= 5 * MS + 20 * MS + 2 * FRAME);
	jitter_free(jb);
	free(p);
}

/* The network stalls 200 ms, then delivers the backlog at once. */
static int64_t net_stall(int i)
{
	if (i >= 200 && i < 220)
		return (int64_t)(220 - i) * FRAME + 5 * MS;
	return 5 * MS;
}

static void test_network_burst(void)
{
	struct jitter *jb = fresh();
	struct pkt *p = make(1000, net_stall);
	struct jitter_stats st;
	struct run r;

	simulate(jb, p, 1000, FRAME, 0, 0, &r);
	jitter_stats(jb, &st);
	printf("network stalled 200 ms: late %llu, concealed %llu, played %d, target %lld\n",
	       (unsigned long long)st.late, (unsigned long long)st.concealed, r.played,
	       (long long)st.target_us);
	CHECK(st.late >= 10);
	CHECK(r.in_order);
	CHECK(r.played + (int)st.late + (int)st.dropped >= 1000);
	jitter_free(jb);
	free(p);
}

static int64_t reordered(int i)
{
	/* every pair swapped: odd packets arrive 2 ms before their predecessor */
	return i % 2 ? 3 * MS : 15 * MS;
}

static void test_reorder(void)
{
	struct jitter *jb = fresh();
	struct pkt *p = make(400, reordered);
	struct jitter_stats st;
	struct run r;

	simulate(jb, p, 400, FRAME, 0, 0, &r);
	jitter_stats(jb, &st);
	CHECK(r.in_order);
	CHECK(r.played >= 398);
	CHECK(st.concealed <= 2);
	CHECK_INT_EQ(st.late, 0);
	jitter_free(jb);
	free(p);
}

/* The sound card runs 0.5 % slow (or fast) against the sender: latency stays put. */
static void test_drift(void)
{
	for (int dir = -1; dir <= 1; dir += 2) {
		struct jitter *jb = fresh();
		struct pkt *p = make(3000, fixed_5ms);
		struct jitter_stats st;
		struct run r;

		simulate(jb, p, 3000, FRAME + dir * 50, 0, 0, &r);
		jitter_stats(jb, &st);
		printf("card %s by 0.5 %% for 30 s: dropped %llu, stretched %llu, max delay %.1f "
		       "ms\n",
		       dir > 0 ? "slow" : "fast", (unsigned long long)st.dropped,
		       (unsigned long long)st.stretched, r.delay_max / 1000.0);
		CHECK(r.in_order);
		CHECK(r.delay_max <= 5 * MS + 20 * MS + 3 * FRAME);
		if (dir > 0)
			CHECK(st.dropped >= 10); /* 150 ms worth over 30 s */
		else
			CHECK(st.stretched >= 10);
		jitter_free(jb);
		free(p);
	}
}

/* DTX: the sender goes quiet for 2 s; a few frames concealed, then idle, then it plays again. */
static void test_dtx_silence(void)
{
	struct jitter *jb = fresh();
	struct pkt *p = make(500, fixed_5ms);
	struct jitter_stats st;
	struct run r;

	for (int i = 100; i < 300; i++)
		p[i].lost = true;
	simulate(jb, p, 500, FRAME, 0, 0, &r);
	jitter_stats(jb, &st);
	printf("2 s of DTX: concealed %llu, idle %d, played %d\n", (unsigned long long)st.concealed,
	       r.idle, r.played);
	CHECK_INT_EQ(r.played, 300);
	CHECK(st.concealed <= 8);
	CHECK(r.idle >= 190);
	jitter_free(jb);
	free(p);
}

/*
 * A talkspurt after DTX whose first packets come late, in one burst (the
 * sender's sound server handed its capture over in one fragment): nothing
 * was concealed for them, the buffer only kept time in silence, so they
 * start the talkspurt instead of being dropped as late.
 */
static int64_t burst_after_silence(int i)
{
	return i >= 300 && i < 304 ? (int64_t)(304 - i) * FRAME + 5 * MS : 5 * MS;
}

static void test_talkspurt_after_silence(void)
{
	struct jitter *jb = fresh();
	struct pkt *p = make(400, burst_after_silence);
	struct jitter_stats st;
	struct run r;

	for (int i = 100; i < 300; i++)
		p[i].lost = true;
	simulate(jb, p, 400, FRAME, 0, 0, &r);
	jitter_stats(jb, &st);
	printf("a late talkspurt after 2 s of DTX: played %d, late %llu, first delays %.1f %.1f "
	       "ms\n",
	       r.played, (unsigned long long)st.late, r.delay[300] / 1000.0, r.delay[301] / 1000.0);
	CHECK_INT_EQ(r.played, 200);
	CHECK_INT_EQ(st.late, 0);
	CHECK(r.in_order);
	for (int i = 300; i < 304; i++)
		CHECK(r.delay[i] > 0 && r.delay[i] <= 45 * MS + 60 * MS);
	jitter_free(jb);
	free(p);
}

static void test_hostile_input(void)
{
	struct jitter *jb = fresh();
	struct jitter_stats st;
	struct jitter_out o;
	uint8_t d[JITTER_PACKET_MAX + 1] = {7};

	CHECK(jitter_new(&(struct jitter_cfg){.target_min_us = 50000, .target_max_us = 10000}) ==
	      NULL);
	CHECK(jitter_new(&(struct jitter_cfg){.frame_us = 1000}) == NULL);
	CHECK(jitter_new(&(struct jitter_cfg){.target_max_us = 10000000}) == NULL);
	jitter_free(NULL);

	jitter_pop(jb, 0, &o);
	CHECK_INT_EQ(o.status, JITTER_IDLE);
	CHECK_INT_EQ(jitter_push(jb, 0, 0, FRAME, d, 0), -EINVAL);
	CHECK_INT_EQ(jitter_push(jb, 0, 0, FRAME, NULL, 4), -EINVAL);
	CHECK_INT_EQ(jitter_push(jb, 0, 0, FRAME, d, JITTER_PACKET_MAX + 1), -EINVAL);
	CHECK_INT_EQ(jitter_push(jb, 0, 0, -FRAME, d, 4), -EINVAL);
	CHECK_INT_EQ(jitter_push(jb, 0, 0, 0, d, 4), -EINVAL);
	CHECK_INT_EQ(jitter_push(jb, 0, 0, 130000, d, 4), -EINVAL);
	CHECK_INT_EQ(jitter_push(jb, INT64_MAX, 0, FRAME, d, 4), -EINVAL);
	CHECK_INT_EQ(jitter_push(jb, INT64_MIN, 0, FRAME, d, 4), -EINVAL);
	CHECK_INT_EQ(jitter_push(jb, 0, INT64_MIN, FRAME, d, 4), -EINVAL);
	jitter_stats(jb, &st);
	CHECK_INT_EQ(st.refused, 9);
	CHECK_INT_EQ(st.pushed, 0);
	jitter_pop(jb, INT64_MAX, &o);
	CHECK_INT_EQ(o.status, JITTER_IDLE);

	/* negative capture times far from zero are just times */
	int64_t neg = -((int64_t)1 << 59);
	for (int i = 0; i < 10; i++)
		CHECK_INT_EQ(jitter_push(jb, neg + i * FRAME, 5000 + i * FRAME, FRAME, d, 4), 0);
	CHECK_INT_EQ(jitter_push(jb, neg + 3 * FRAME, 5000 + 10 * FRAME, FRAME, d, 4), 1); /* dup */
	int played = 0;
	for (int i = 0; i < 20; i++) {
		jitter_pop(jb, 5000 + 20000 + i * FRAME, &o);
		played += o.status == JITTER_PACKET;
	}
	CHECK_INT_EQ(played, 10);

	/* the sender's clock jumps an hour ahead: a restart, and the new stream plays */
	jitter_stats(jb, &st);
	uint64_t restarts = st.restarts;
	int64_t hour = (int64_t)3600 * 1000000, now = 5000 + 30 * FRAME;
	for (int i = 0; i < 10; i++)
		jitter_push(jb, neg + hour + i * FRAME, now + i * FRAME, FRAME, d, 4);
	played = 0;
	for (int i = 0; i < 30; i++) {
		jitter_pop(jb, now + 20000 + i * FRAME, &o);
		played += o.status == JITTER_PACKET;
	}
	jitter_stats(jb, &st);
	CHECK_INT_EQ(st.restarts, restarts + 1);
	CHECK_INT_EQ(played, 10);
	/* and back an hour: another restart, no hour of silence */
	now += 40 * FRAME;
	for (int i = 0; i < 5; i++)
		jitter_push(jb, neg + i * FRAME, now + i * FRAME, FRAME, d, 4);
	played = 0;
	for (int i = 0; i < 20; i++) {
		jitter_pop(jb, now + 20000 + i * FRAME, &o);
		played += o.status == JITTER_PACKET;
	}
	jitter_stats(jb, &st);
	CHECK_INT_EQ(st.restarts, restarts + 2);
	CHECK_INT_EQ(played, 5);

	/* a flood without pops: bounded, newest kept */
	now += 30 * FRAME;
	for (int i = 0; i < 300; i++)
		jitter_push(jb, neg + (int64_t)(100 + i) * FRAME, now, FRAME, d, 4);
	jitter_stats(jb, &st);
	CHECK_INT_EQ(st.queued, JITTER_SLOTS);
	CHECK(st.dropped >= 300 - JITTER_SLOTS);
	jitter_free(jb);
}

int main(void)
{
	test_steady();
	test_jitter_grows_and_shrinks();
	test_gap();
	test_burst_catch_up();
	test_network_burst();
	test_reorder();
	test_drift();
	test_dtx_silence();
	test_talkspurt_after_silence();
	test_hostile_input();
	return check_done("test_jitter");
}
