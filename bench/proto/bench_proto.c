/* SPDX-License-Identifier: MIT */
/*
 * bench-proto: how fast proto/ turns messages into bytes and back, and how
 * fast its TLS transport moves them, next to what OpenSSL itself does on
 * this machine (`openssl speed`, `openssl s_time`).
 *
 * Every case runs RUNS times after one warm-up run; the tables show the
 * median run and the 99th-percentile (nearest rank, i.e. the slowest of 21)
 * run, each as a rate. MB is 10^6 bytes, as `openssl speed` counts.
 *
 * The TLS cases need the certificates `certs/highrise-certs` makes: the
 * script is found through $HIGHRISE_SOURCE_DIR, the source directory this
 * binary was built from, or relative to the binary. Everything it writes
 * goes into a temporary directory that is removed at the end, and every
 * child process (openssl) is waited for or killed.
 */
#include "clock.h"
#include "log.h"
#include "msg.h"
#include "tls.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNS 21

/* ---- timing and statistics ---------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Run times in seconds: the median and the nearest-rank 99th percentile (slow end). */
struct summary {
	double median, p99;
};

static struct summary summarize(const double *times, int n)
{
	double sorted[RUNS];
	struct summary s;
	int rank = (99 * n + 99) / 100; /* ceil(0.99 n) */

	memcpy(sorted, times, (size_t)n * sizeof(double));
	qsort(sorted, (size_t)n, sizeof(double), cmp_double);
	s.median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
	s.p99 = sorted[rank - 1];
	return s;
}

/* ---- wire messages -------------------------------------------------------- */

enum msg_mode {
	MODE_ENCODE, /* msg_encode (copies the payload) + msg_frame_peek + msg_decode */
	MODE_HEAD,   /* msg_encode_head (payload sent by reference) + peek + decode */
};

struct msg_case {
	const char *name;
	enum msg_type type;
	enum msg_mode mode;
	long per_run;
};

#define VIDEO_PAYLOAD (100u * 1024u)

static volatile uint64_t sink; /* keeps the decoded values alive */

static void fill_msg(struct msg *m, enum msg_type type, long i, const uint8_t *payload)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	switch (type) {
	case MSG_VIDEO:
		m->u.video.frame = (uint32_t)i;
		m->u.video.capture_us = 1700000000000000ull + (uint64_t)i;
		m->u.video.flags = i % 60 == 0 ? MSG_VIDEO_KEYFRAME : 0;
		m->u.video.data.data = payload;
		m->u.video.data.len = VIDEO_PAYLOAD;
		break;
	case MSG_KEY:
		m->u.key.scancode = (uint16_t)(i & 0xff);
		m->u.key.keysym = 0x61 + (uint32_t)(i & 15);
		m->u.key.flags = i & 1 ? MSG_KEY_DOWN : 0;
		break;
	case MSG_POINTER:
		m->u.pointer.x = (uint16_t)(i % 1920);
		m->u.pointer.y = (uint16_t)(i % 1080);
		m->u.pointer.buttons = (uint8_t)(i & 7);
		break;
	default:
		break;
	}
}

static uint64_t digest(const struct msg *m)
{
	switch (m->type) {
	case MSG_VIDEO:
		return m->u.video.frame + m->u.video.data.len + m->u.video.data.data[4096];
	case MSG_KEY:
		return m->u.key.scancode + m->u.key.keysym;
	case MSG_POINTER:
		return (uint64_t)m->u.pointer.x + m->u.pointer.y + m->u.pointer.buttons;
	default:
		return 0;
	}
}

/* One run of c: seconds, or a negative value when a call failed. */
static double msg_run(const struct msg_case *c, uint8_t *buf, size_t cap, const uint8_t *payload,
		      const uint8_t *frame, size_t frame_len)
{
	struct msg m, out;
	uint64_t acc = 0;
	double t0 = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e9);

	for (long i = 0; i < c->per_run; i++) {
		size_t len, flen;
		const uint8_t *wire = buf;

		fill_msg(&m, c->type, i, payload);
		if (c->mode == MODE_ENCODE) {
			if (msg_encode(&m, buf, cap, &len) != 0)
				return -1;
		} else {
			/* the sender's head; the receiver sees the whole frame */
			if (msg_encode_head(&m, buf, cap, &len) != 0)
				return -1;
			wire = frame;
			len = frame_len;
		}
		if (msg_frame_peek(wire, len, &flen) != 0 || flen != len ||
		    msg_decode(wire, flen, &out) != 0 || out.type != c->type)
			return -1;
		acc += digest(&out);
	}
	sink += acc;
	return ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e9) - t0;
}

static int bench_msg(void)
{
	static const struct msg_case cases[] = {
		{"VIDEO 100 KiB, msg_encode (copy)", MSG_VIDEO, MODE_ENCODE, 2000},
		{"VIDEO 100 KiB, msg_encode_head", MSG_VIDEO, MODE_HEAD, 20000},
		{"KEY", MSG_KEY, MODE_ENCODE, 400000},
		{"POINTER", MSG_POINTER, MODE_ENCODE, 400000},
	};
	size_t cap = VIDEO_PAYLOAD + 256;
	uint8_t *buf = malloc(cap), *payload = malloc(VIDEO_PAYLOAD), *frame = malloc(cap);
	int rc = 0;

	if (!buf || !payload || !frame) {
		fprintf(stderr, "bench-proto: out of memory\n");
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < VIDEO_PAYLOAD; i++)
		payload[i] = (uint8_t)(i * 2654435761u >> 24);

	printf("Wire messages: encode + msg_frame_peek + msg_decode (proto/msg.h), one thread\n\n");
	printf("%-34s %8s %13s %13s %10s %10s %9s\n", "message", "frame B", "msgs/s med",
	       "msgs/s p99", "MB/s med", "MB/s p99", "ns/msg");
	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		const struct msg_case *c = &cases[ci];
		double times[RUNS];
		struct msg m;
		size_t frame_len = 0;
		bool ok = true;

		fill_msg(&m, c->type, 0, payload);
		if (msg_encode(&m, frame, cap, &frame_len) != 0) {
			printf("%-34s  cannot encode\n", c->name);
			rc = -1;
			continue;
		}
		for (int r = -1; r < RUNS && ok; r++) { /* run -1 warms up */
			double t = msg_run(c, buf, cap, payload, frame, frame_len);
			if (t < 0)
				ok = false;
			else if (r >= 0)
				times[r] = t;
		}
		if (!ok) {
			printf("%-34s  encode/decode failed\n", c->name);
			rc = -1;
			continue;
		}
		struct summary s = summarize(times, RUNS);
		double n = (double)c->per_run;
		printf("%-34s %8zu %13.0f %13.0f ", c->name, frame_len, n / s.median, n / s.p99);
		if (c->mode == MODE_HEAD)
			printf("%10s %10s", "(by ref)", "(by ref)");
		else
			printf("%10.1f %10.1f", n * (double)frame_len / s.median / 1e6,
			       n * (double)frame_len / s.p99 / 1e6);
		printf(" %9.1f\n", s.median / n * 1e9);
	}
	printf("(by ref: msg_encode_head writes the 18-byte head; the payload is sent by "
	       "reference,\n"
	       " e.g. evbuffer_add_reference, so no payload bytes are copied)\n\n");
out:
	free(buf);
	free(payload);
	free(frame);
	return rc;
}

/* ---- child processes and files ------------------------------------------- */

/*
 * Starts argv[0] (searched in PATH) with stdin and stderr on /dev/null and
 * stdout on out_fd (-1: /dev/null). The child dies with us (PDEATHSIG).
 */
static pid_t spawn(char *const argv[], int out_fd)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(out_fd >= 0 ? out_fd : null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
	}
	execvp(argv[0], argv);
	_exit(127);
}

/* Runs argv to completion; its stdout (up to cap - 1 bytes) into out. Exit status or -1. */
static int run_capture(char *const argv[], char *out, size_t cap, double *seconds)
{
	int fds[2], status;
	size_t len = 0;
	double t0 = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e9);
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid = spawn(argv, fds[1]);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -1;
	}
	for (;;) {
		char tmp[4096];
		ssize_t n = read(fds[0], tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out && len + 1 < cap) {
			size_t take = (size_t)n < cap - 1 - len ? (size_t)n : cap - 1 - len;
			memcpy(out + len, tmp, take);
			len += take;
		}
	}
	close(fds[0]);
	if (out && cap)
		out[len] = '\0';
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (seconds)
		*seconds = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e9) - t0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* dir/name into out; false when it does not fit. */
static bool join_path(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	return n > 0 && (size_t)n < cap;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_tree(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Finds certs/highrise-certs; returns 0 with its path in out. */
static int find_certs_script(char *out, size_t cap)
{
	static const char *const rel[] = {"../../../certs", "../../../../certs", "../../certs"};
	const char *env = getenv("HIGHRISE_SOURCE_DIR");
	char exe[PATH_MAX], dir[PATH_MAX];
	ssize_t n;

	if (env && *env && join_path(out, cap, env, "certs/highrise-certs") &&
	    access(out, X_OK) == 0)
		return 0;
#ifdef HIGHRISE_SOURCE_DIR
	if (join_path(out, cap, HIGHRISE_SOURCE_DIR, "certs/highrise-certs") &&
	    access(out, X_OK) == 0)
		return 0;
#endif
	/* BUILD/bench/proto/bench-proto, with BUILD inside or beside the source tree */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -ENOENT;
	exe[n] = '\0';
	const char *bindir = dirname(exe); /* may write into exe: once only */
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if (join_path(dir, sizeof(dir), bindir, rel[i]) &&
		    join_path(out, cap, dir, "highrise-certs") && access(out, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* ---- TLS server: its own thread and event base --------------------------- */

struct srv_conn {
	struct tls_server *srv;
	struct bufferevent *bev;
	uint64_t received;
	struct srv_conn *next, **prev;
};

struct tls_server {
	struct event_base *base;
	struct tls_ctx *ctx;
	struct evconnlistener *listener;
	struct event *stop_ev;
	int stop_pipe[2];
	uint16_t port;
	uint64_t run_bytes; /* one byte back each time this many arrived */
	struct srv_conn *conns;
	pthread_t thread;
};

static void conn_close(struct srv_conn *c)
{
	*c->prev = c->next;
	if (c->next)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	free(c);
}

static void srv_read(struct bufferevent *bev, void *arg)
{
	struct srv_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);
	uint64_t before = c->received;

	evbuffer_drain(in, n);
	c->received += n;
	for (uint64_t k = c->received / c->srv->run_bytes - before / c->srv->run_bytes; k; k--)
		bufferevent_write(bev, "A", 1);
}

static void srv_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_close(arg);
}

static void srv_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		       void *arg)
{
	struct tls_server *s = arg;
	struct srv_conn *c = calloc(1, sizeof(*c));

	(void)l;
	(void)sa;
	(void)salen;
	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	c->srv = s;
	c->bev = tls_accept(s->ctx, s->base, fd);
	if (!c->bev) {
		free(c);
		return;
	}
	c->next = s->conns;
	if (c->next)
		c->next->prev = &c->next;
	c->prev = &s->conns;
	s->conns = c;
	bufferevent_setcb(c->bev, srv_read, NULL, srv_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void srv_stop(evutil_socket_t fd, short what, void *arg)
{
	struct tls_server *s = arg;
	(void)fd;
	(void)what;
	event_base_loopbreak(s->base);
}

static void *srv_main(void *arg)
{
	struct tls_server *s = arg;

	pthread_setname_np(pthread_self(), "bench-tls-srv");
	event_base_dispatch(s->base);
	while (s->conns)
		conn_close(s->conns);
	return NULL;
}

static void server_free(struct tls_server *s)
{
	if (s->stop_ev)
		event_free(s->stop_ev);
	if (s->listener)
		evconnlistener_free(s->listener);
	if (s->stop_pipe[0] >= 0) {
		close(s->stop_pipe[0]);
		close(s->stop_pipe[1]);
	}
	tls_ctx_free(s->ctx);
	if (s->base)
		event_base_free(s->base);
}

static int server_start(struct tls_server *s, const char *dir, uint64_t run_bytes)
{
	char cert[PATH_MAX], key[PATH_MAX];
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t slen = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	s->run_bytes = run_bytes;
	if (!join_path(cert, sizeof(cert), dir, "agent-bench.pem") ||
	    !join_path(key, sizeof(key), dir, "agent-bench.key"))
		return -1;
	s->ctx = tls_ctx_new(TLS_SERVER, &(struct tls_cfg){.cert_file = cert, .key_file = key});
	s->base = event_base_new();
	if (!s->ctx || !s->base || pipe2(s->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		goto fail;
	s->listener = evconnlistener_new_bind(s->base, srv_accept, s,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
						      LEV_OPT_CLOSE_ON_EXEC,
					      128, (struct sockaddr *)&sin, sizeof(sin));
	s->stop_ev = event_new(s->base, s->stop_pipe[0], EV_READ, srv_stop, s);
	if (!s->listener || !s->stop_ev || event_add(s->stop_ev, NULL) < 0 ||
	    getsockname(evconnlistener_get_fd(s->listener), (struct sockaddr *)&sin, &slen) < 0)
		goto fail;
	s->port = ntohs(sin.sin_port);
	if (pthread_create(&s->thread, NULL, srv_main, s) != 0)
		goto fail;
	return 0;
fail:
	server_free(s);
	return -1;
}

static void server_stop(struct tls_server *s)
{
	ssize_t n = write(s->stop_pipe[1], "x", 1);
	(void)n;
	pthread_join(s->thread, NULL);
	server_free(s);
}

/* ---- TLS client: bulk throughput ----------------------------------------- */

#define CHUNK	       (64u * 1024u)
#define OUT_HIGH       (1024u * 1024u) /* keep up to this much queued in the bufferevent */
#define OUT_LOW	       (256u * 1024u)
#define TLS_RUN_BYTES  (24ull << 20)
#define HANDSHAKES_RUN 40

struct tls_client {
	struct event_base *base;
	struct bufferevent *bev;
	uint8_t chunk[CHUNK];
	bool by_ref;   /* evbuffer_add_reference instead of bufferevent_write */
	uint64_t sent; /* in this run */
	int run;       /* -1: warm-up */
	double t0;
	double times[RUNS];
	bool done, failed;
	char why[256];
	char session[128];
};

static void cli_fill(struct tls_client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	while (c->sent < TLS_RUN_BYTES && evbuffer_get_length(out) < OUT_HIGH) {
		if (c->by_ref)
			evbuffer_add_reference(out, c->chunk, CHUNK, NULL, NULL);
		else
			bufferevent_write(c->bev, c->chunk, CHUNK);
		c->sent += CHUNK;
	}
}

static void cli_start_run(struct tls_client *c)
{
	c->sent = 0;
	c->t0 = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e9);
	cli_fill(c);
}

static void cli_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	cli_fill(arg);
}

static void cli_read(struct bufferevent *bev, void *arg)
{
	struct tls_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t acks = evbuffer_get_length(in);

	evbuffer_drain(in, acks);
	for (; acks && !c->done; acks--) {
		if (c->run >= 0)
			c->times[c->run] = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e9) - c->t0;
		if (++c->run == RUNS) {
			c->done = true;
			event_base_loopbreak(c->base);
		} else {
			cli_start_run(c);
		}
	}
}

static void cli_event(struct bufferevent *bev, short what, void *arg)
{
	struct tls_client *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		tls_describe_session(bev, c->session, sizeof(c->session));
		cli_start_run(c);
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		tls_describe_error(bev, c->why, sizeof(c->why));
		c->failed = true;
		event_base_loopbreak(c->base);
	}
}

static void watchdog(evutil_socket_t fd, short what, void *arg)
{
	bool *expired = arg;
	(void)fd;
	(void)what;
	*expired = true;
}

/* Runs base until a callback breaks the loop or timeout_s passes. false on timeout. */
static bool run_loop(struct event_base *base, int timeout_s)
{
	bool expired = false;
	struct timeval tv = {timeout_s, 0};
	struct event *ev = evtimer_new(base, watchdog, &expired);

	if (!ev)
		return false;
	evtimer_add(ev, &tv);
	while (!expired && event_base_loop(base, EVLOOP_ONCE) == 0 && !event_base_got_break(base))
		;
	event_free(ev);
	return !expired;
}

static struct tls_ctx *client_ctx(const char *dir)
{
	char ca[PATH_MAX];
	if (!join_path(ca, sizeof(ca), dir, "ca.pem"))
		return NULL;
	return tls_ctx_new(TLS_CLIENT, &(struct tls_cfg){.ca_file = ca});
}

/* 0 and times[] filled, or -1 with a reason printed. */
static int tls_throughput(const char *dir, bool by_ref, double times[RUNS], char *session,
			  size_t session_len)
{
	struct tls_server srv;
	struct tls_ctx *ctx = NULL;
	struct tls_client *c = calloc(1, sizeof(*c));
	int rc = -1;

	if (!c)
		return -1;
	if (server_start(&srv, dir, TLS_RUN_BYTES) < 0) {
		printf("  cannot start the TLS server\n");
		free(c);
		return -1;
	}
	for (size_t i = 0; i < CHUNK; i++)
		c->chunk[i] = (uint8_t)(i * 2654435761u >> 24);
	c->run = -1;
	c->by_ref = by_ref;
	c->base = event_base_new();
	ctx = client_ctx(dir);
	if (!c->base || !ctx)
		goto out;
	c->bev = tls_connect(ctx, c->base, "127.0.0.1", srv.port, NULL);
	if (!c->bev)
		goto out;
	bufferevent_setcb(c->bev, cli_read, cli_write, cli_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, OUT_LOW, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (!run_loop(c->base, 60)) {
		printf("  TLS throughput run timed out\n");
		goto out;
	}
	if (c->failed || !c->done) {
		printf("  TLS connection failed: %s\n", c->why);
		goto out;
	}
	memcpy(times, c->times, sizeof(c->times));
	snprintf(session, session_len, "%s", c->session);
	rc = 0;
out:
	if (c->bev)
		bufferevent_free(c->bev);
	tls_ctx_free(ctx);
	server_stop(&srv);
	if (c->base)
		event_base_free(c->base);
	free(c);
	return rc;
}

/* ---- TLS client: full handshakes ----------------------------------------- */

struct hs_client {
	struct event_base *base;
	struct tls_ctx *ctx;
	struct bufferevent *bev;
	uint16_t port;
	int left;
	bool failed;
	char why[256];
};

static void hs_event(struct bufferevent *bev, short what, void *arg);

static void hs_next(struct hs_client *h)
{
	h->bev = tls_connect(h->ctx, h->base, "127.0.0.1", h->port, NULL);
	if (!h->bev) {
		h->failed = true;
		snprintf(h->why, sizeof(h->why), "tls_connect failed");
		event_base_loopbreak(h->base);
		return;
	}
	bufferevent_setcb(h->bev, NULL, NULL, hs_event, h);
	bufferevent_enable(h->bev, EV_READ);
}

static void hs_event(struct bufferevent *bev, short what, void *arg)
{
	struct hs_client *h = arg;

	if (what & BEV_EVENT_CONNECTED) {
		bufferevent_free(bev);
		h->bev = NULL;
		if (--h->left == 0)
			event_base_loopbreak(h->base);
		else
			hs_next(h);
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		tls_describe_error(bev, h->why, sizeof(h->why));
		bufferevent_free(bev);
		h->bev = NULL;
		h->failed = true;
		event_base_loopbreak(h->base);
	}
}

static int tls_handshakes(const char *dir, double times[RUNS])
{
	struct tls_server srv;
	struct hs_client h = {0};
	int rc = -1;

	if (server_start(&srv, dir, 1) < 0) {
		printf("  cannot start the TLS server\n");
		return -1;
	}
	h.base = event_base_new();
	h.ctx = client_ctx(dir);
	h.port = srv.port;
	if (!h.base || !h.ctx)
		goto out;
	for (int r = -1; r < RUNS; r++) {
		double t0 = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e9);
		h.left = HANDSHAKES_RUN;
		hs_next(&h);
		if (!run_loop(h.base, 30) || h.failed) {
			printf("  TLS handshake failed: %s\n", h.failed ? h.why : "timed out");
			goto out;
		}
		if (r >= 0)
			times[r] = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e9) - t0;
	}
	rc = 0;
out:
	if (h.bev)
		bufferevent_free(h.bev);
	tls_ctx_free(h.ctx);
	server_stop(&srv);
	if (h.base)
		event_base_free(h.base);
	return rc;
}

/* ---- OpenSSL's own numbers ------------------------------------------------ */

/* TLS 1.3 suite -> the `openssl speed -evp` name of its AEAD, or NULL. */
static const char *speed_cipher(const char *session)
{
	if (strstr(session, "AES_256_GCM"))
		return "aes-256-gcm";
	if (strstr(session, "AES_128_GCM"))
		return "aes-128-gcm";
	if (strstr(session, "CHACHA20"))
		return "chacha20-poly1305";
	return NULL;
}

/* `openssl speed -evp CIPHER -bytes 16384 -seconds 2`, in bytes/s; < 0 when unavailable. */
static double openssl_speed(const char *cipher)
{
	char out[8192], *line;
	char *argv[] = {"openssl", "speed", "-mr",	"-evp", (char *)cipher,
			"-bytes",  "16384", "-seconds", "2",	NULL};

	if (run_capture(argv, out, sizeof(out), NULL) != 0)
		return -1;
	/* machine-readable result: "+F:<n>:<NAME>:<bytes per second>" */
	for (line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "+F:", 3) == 0) {
			char *last = strrchr(line, ':');
			return last ? strtod(last + 1, NULL) : -1;
		}
	}
	return -1;
}

static uint16_t free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint16_t port = 0;

	if (fd < 0)
		return 0;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static bool port_open(uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(0x7f000001),
				  .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

/* `openssl s_time -new` against `openssl s_server`: full handshakes per second, or < 0. */
static double openssl_s_time(const char *dir)
{
	char cert[PATH_MAX], key[PATH_MAX], accept[32], connect[32], out[65536];
	uint16_t port = free_port();
	double rate = -1, seconds = 0;
	pid_t server;
	long count;

	if (!port)
		return -1;
	if (!join_path(cert, sizeof(cert), dir, "agent-bench.pem") ||
	    !join_path(key, sizeof(key), dir, "agent-bench.key"))
		return -1;
	snprintf(accept, sizeof(accept), "127.0.0.1:%u", port);
	snprintf(connect, sizeof(connect), "127.0.0.1:%u", port);
	char *srv_argv[] = {"openssl", "s_server", "-accept", accept,	"-cert", cert,
			    "-key",    key,	   "-tls1_3", "-quiet", NULL};
	char *cli_argv[] = {"openssl", "s_time", "-connect", connect, "-new", "-time", "3", NULL};

	server = spawn(srv_argv, -1);
	if (server < 0)
		return -1;
	for (int i = 0; i < 250 && !port_open(port); i++) {
		if (waitpid(server, NULL, WNOHANG) == server) {
			server = -1; /* it exited: no openssl, or the port was taken */
			break;
		}
		usleep(20000);
	}
	if (server > 0 && run_capture(cli_argv, out, sizeof(out), &seconds) == 0) {
		/* "750 connections in 0.71s; 1056.34 connections/user sec, bytes read 0" */
		for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
			char *p = strstr(line, " connections in ");
			if (p && strstr(p, "s;") && sscanf(line, "%ld", &count) == 1 &&
			    seconds > 0) {
				rate = (double)count / seconds; /* s_time rounds its real time */
				break;
			}
		}
	}
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
	}
	return rate;
}

/* ---- TLS tables ----------------------------------------------------------- */

static void print_ratio(double ours, double ceiling)
{
	if (ceiling > 0)
		printf(" %12.1f %13.2f\n", ceiling, ours / ceiling);
	else
		printf(" %12s %13s\n", "n/a", "n/a");
}

static int bench_tls(void)
{
	char script[PATH_MAX], dir[PATH_MAX], session[128] = "";
	const char *tmp = getenv("TMPDIR");
	double times[RUNS], times_ref[RUNS], hs[RUNS];
	int rc = 0;

	if (find_certs_script(script, sizeof(script)) < 0) {
		printf("TLS: skipped, certs/highrise-certs not found (set HIGHRISE_SOURCE_DIR)\n");
		return -1;
	}
	if (!join_path(dir, sizeof(dir), tmp && *tmp ? tmp : "/tmp", "highrise-bench.XXXXXX") ||
	    !mkdtemp(dir)) {
		printf("TLS: skipped, cannot make a temporary directory: %s\n", strerror(errno));
		return -1;
	}
	char *init_argv[] = {script, "--dir", dir, "init", NULL};
	char *issue_argv[] = {script,  "--dir", dir,	 "issue",
			      "agent", "bench", "--san", "IP:127.0.0.1,DNS:localhost",
			      NULL};
	if (run_capture(init_argv, NULL, 0, NULL) != 0 ||
	    run_capture(issue_argv, NULL, 0, NULL) != 0) {
		printf("TLS: skipped, %s could not make certificates\n", script);
		rc = -1;
		goto out;
	}

	printf("TLS 1.3 over loopback (proto/tls.h on libevent bufferevents): server and client\n"
	       "threads with an event_base each, %u KiB writes, %llu MiB per run, %d runs\n\n",
	       CHUNK / 1024, TLS_RUN_BYTES >> 20, RUNS);
	if (tls_throughput(dir, false, times, session, sizeof(session)) < 0) {
		rc = -1;
		goto out;
	}
	if (tls_throughput(dir, true, times_ref, session, sizeof(session)) < 0) {
		rc = -1;
		goto out;
	}
	if (tls_handshakes(dir, hs) < 0) {
		rc = -1;
		goto out;
	}

	const char *cipher = speed_cipher(session);
	double speed = cipher ? openssl_speed(cipher) : -1;
	double s_time = openssl_s_time(dir);
	struct summary st = summarize(times, RUNS), su = summarize(times_ref, RUNS),
		       sh = summarize(hs, RUNS);
	double mb = (double)TLS_RUN_BYTES / 1e6;

	printf("negotiated: %s\n", session);
	printf("ceiling:    openssl speed -evp %s -bytes 16384 -seconds 2 (one core, encrypt "
	       "only): ",
	       cipher ? cipher : "?");
	if (speed > 0)
		printf("%.1f MB/s\n", speed / 1e6);
	else
		printf("n/a (%s)\n", cipher ? "openssl speed failed" : "suite has no mapping");
	printf("reference:  openssl s_time -new against openssl s_server, same certificate: ");
	if (s_time > 0)
		printf("%.0f handshakes/s\n\n", s_time);
	else
		printf("n/a\n\n");
	printf("%-44s %10s %10s %12s %13s\n", "case", "median", "p99", "ceiling/ref",
	       "ours/ceiling");
	printf("%-44s %10.1f %10.1f", "bulk MB/s, bufferevent_write (copy)", mb / st.median,
	       mb / st.p99);
	print_ratio(mb / st.median, speed > 0 ? speed / 1e6 : -1);
	printf("%-44s %10.1f %10.1f", "bulk MB/s, evbuffer_add_reference", mb / su.median,
	       mb / su.p99);
	print_ratio(mb / su.median, speed > 0 ? speed / 1e6 : -1);
	printf("%-44s %10.0f %10.0f", "full handshakes/s (verify chain + IP)",
	       HANDSHAKES_RUN / sh.median, HANDSHAKES_RUN / sh.p99);
	print_ratio(HANDSHAKES_RUN / sh.median, s_time);
	printf("(bulk: client encrypts and server decrypts on two threads, so one core's AEAD\n"
	       " speed is the ceiling; handshakes: our client also verifies chain and IP SAN,\n"
	       " s_time verifies nothing)\n\n");
out:
	remove_tree(dir);
	return rc;
}

int main(int argc, char **argv)
{
	bool msg = argc < 2, tls = argc < 2;
	int rc = 0;
	double t0 = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e9);

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "msg") == 0) {
			msg = true;
		} else if (strcmp(argv[i], "tls") == 0) {
			tls = true;
		} else {
			fprintf(stderr, "usage: %s [msg] [tls]   (default: both)\n", argv[0]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	log_open("bench-proto", LOG_LEVEL_WARN, LOG_TARGET_STDERR);
	printf("bench-proto: %ld CPUs, %s, libevent %s; %d runs per case, median and p99 run\n",
	       sysconf(_SC_NPROCESSORS_ONLN), OpenSSL_version(OPENSSL_VERSION), event_get_version(),
	       RUNS);
#ifndef __OPTIMIZE__
	printf("warning: built without optimization; use a Release or RelWithDebInfo build\n");
#endif
	printf("\n");
	if (msg && bench_msg() < 0)
		rc = 1;
	if (tls && bench_tls() < 0)
		rc = 1;
	printf("total %.1f s\n", ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e9) - t0);
	return rc;
}
