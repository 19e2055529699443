/* SPDX-License-Identifier: MIT */
/*
 * bench-broker-load: the load generator of bench/broker. N client threads,
 * each with one persistent HTTP/1.1 keep-alive connection over TLS 1.3 to
 * highrise-broker, send one request at a time and time every one of them on
 * the monotonic clock. One operation per run:
 *
 *   tokens          log every user of --users ("NAME PASSWORD" lines) in
 *                   once and write "NAME TOKEN" lines to --out (set-up)
 *   login           POST /api/v1/login for --seconds, users round robin
 *   connect-resume  POST /api/v1/pools/POOL/connect for --seconds with the
 *                   tokens of --users ("NAME TOKEN"); one unmeasured round
 *                   first, so every measured answer resumes a live session
 *                   ("resumed": true)
 *   connect-new     rounds: every thread connects each of its users once
 *                   (measured; every answer must be a new assignment,
 *                   "resumed": false), then ends those sessions through the
 *                   admin API (logoff, with --cert/--key, not measured), until
 *                   the measured time reaches --seconds
 *
 * Thread i owns users i, i+N, i+2N... so no two threads act for one user.
 * The answer is one JSON line on stdout: requests, measured seconds, rate,
 * nearest-rank p50/p99 latency, errors, reconnects. Any answer other than
 * the expected 200 (and the expected "resumed") is an error: the first few
 * are printed on stderr and the exit status is 1. A connection the broker
 * closes is opened again (counted in "reconnects"); a request that found its
 * kept-alive connection closed before any answer byte is sent again once.
 */
#include "clock.h"
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CLIENTS_MAX  256
#define RESP_MAX     (256 * 1024)
#define SECRET_MAX   1100
#define ERRORS_SHOWN 5

enum op {
	OP_TOKENS,
	OP_LOGIN,
	OP_CONNECT_RESUME,
	OP_CONNECT_NEW,
};

static const char *const op_names[] = {"tokens", "login", "connect-resume", "connect-new"};

struct user {
	char name[129];
	char secret[SECRET_MAX]; /* password (tokens, login) or token (connect-*) */
	char token[64];		 /* tokens: what the login answered */
	char session[65];	 /* connect-new: the session to log off */
};

struct opts {
	enum op op;
	const char *host, *ca, *cert, *key, *users_file, *out, *pool;
	int port;
	int clients;
	double seconds;
};

/* One keep-alive HTTPS connection and what it has read but not used yet. */
struct conn {
	SSL_CTX *ctx; /* borrowed */
	SSL *ssl;
	int fd;
	bool used; /* has carried a request: the broker may have closed it since */
	char *buf;
	size_t have;
};

struct client {
	int index;
	pthread_t thread;
	struct conn user, admin;
	double *lat_ms;
	size_t nlat, caplat;
	long errors, reconnects;
	double t_first, t_last; /* connect-resume: this thread's measured span */
	bool failed;		/* could not even connect: the run is void */
};

static struct opts o;
static struct user *users;
static size_t nusers;
static SSL_CTX *user_ctx, *admin_ctx;
static pthread_barrier_t barrier;
static pthread_mutex_t round_lock = PTHREAD_MUTEX_INITIALIZER;
static double round_start, round_end, measured;
static atomic_bool stop_rounds;
static atomic_int errors_shown;

static void report_error(const struct client *c, const char *what, int status, const char *body)
{
	if (atomic_fetch_add(&errors_shown, 1) >= ERRORS_SHOWN)
		return;
	fprintf(stderr, "bench-broker-load: client %d: %s: status %d %.300s\n", c->index, what,
		status, body ? body : "");
}

/* ---- one connection ----------------------------------------------------- */

static void conn_close(struct conn *k)
{
	if (k->ssl) {
		SSL_shutdown(k->ssl);
		SSL_free(k->ssl);
		k->ssl = NULL;
	}
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	k->have = 0;
	if (k->buf)
		k->buf[0] = '\0';
	k->used = false;
}

/* Opens a TCP connection and does the TLS 1.3 handshake, checking the
 * broker's certificate against --ca and its address. 0, or -1 (printed). */
static int conn_open(struct conn *k)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.port)};
	int one = 1;

	conn_close(k);
	if (inet_pton(AF_INET, o.host, &sa.sin_addr) != 1) {
		fprintf(stderr, "bench-broker-load: --host must be an IPv4 address\n");
		return -1;
	}
	k->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (k->fd < 0 || connect(k->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "bench-broker-load: cannot connect to %s:%d: %s\n", o.host, o.port,
			strerror(errno));
		goto fail;
	}
	setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	k->ssl = SSL_new(k->ctx);
	if (!k->ssl || SSL_set_fd(k->ssl, k->fd) != 1)
		goto tls_fail;
	X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(k->ssl), o.host);
	if (SSL_connect(k->ssl) != 1)
		goto tls_fail;
	return 0;
tls_fail:
	fprintf(stderr, "bench-broker-load: TLS with %s:%d failed: %s\n", o.host, o.port,
		ERR_reason_error_string(ERR_get_error()) ?: "(no reason)");
fail:
	conn_close(k);
	return -1;
}

static int conn_init(struct conn *k, SSL_CTX *ctx)
{
	memset(k, 0, sizeof(*k));
	k->fd = -1;
	k->ctx = ctx;
	k->buf = malloc(RESP_MAX + 1);
	return k->buf ? 0 : -ENOMEM;
}

static void conn_deinit(struct conn *k)
{
	conn_close(k);
	free(k->buf);
	k->buf = NULL;
}

/* Reads more bytes into k->buf; >0 read, 0 closed, -1 error. */
static int conn_fill(struct conn *k)
{
	int r;
	if (k->have >= RESP_MAX)
		return -1;
	r = SSL_read(k->ssl, k->buf + k->have, (int)(RESP_MAX - k->have));
	if (r <= 0)
		return SSL_get_error(k->ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
	k->have += (size_t)r;
	k->buf[k->have] = '\0';
	return r;
}

/* Finds header NAME in the head [buf, head_end); its value or NULL. */
static const char *header(const char *buf, const char *head_end, const char *name)
{
	size_t n = strlen(name);
	for (const char *l = strstr(buf, "\r\n"); l && l < head_end; l = strstr(l + 2, "\r\n")) {
		if (strncasecmp(l + 2, name, n) == 0 && l[2 + n] == ':') {
			const char *v = l + 3 + n;
			while (*v == ' ')
				v++;
			return v;
		}
	}
	return NULL;
}

/*
 * Sends one request and reads its answer into *body (NUL-terminated, valid
 * until the next request on k). Returns the HTTP status, or -1 when the
 * connection broke; -2 when a kept-alive connection was found closed before
 * any answer byte (the caller may send again on a new one).
 */
static int conn_request(struct conn *k, const char *method, const char *path, const char *auth,
			const char *body, const char **out)
{
	char req[4096], *head_end, *end_of_body;
	const char *cl, *cn;
	size_t blen = body ? strlen(body) : 0, need;
	int len, status, r;
	bool reused = k->used;

	len = snprintf(req, sizeof(req),
		       "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
		       "Content-Length: %zu\r\n%s%s%s\r\n%s",
		       method, path, o.host, o.port, blen, auth ? "Authorization: Bearer " : "",
		       auth ? auth : "", auth ? "\r\n" : "", body ? body : "");
	if (len < 0 || (size_t)len >= sizeof(req))
		return -1;
	k->used = true;
	k->have = 0;
	k->buf[0] = '\0';
	if (SSL_write(k->ssl, req, len) != len)
		return reused ? -2 : -1;
	while (!(head_end = strstr(k->buf, "\r\n\r\n")) || k->have == 0) {
		r = conn_fill(k);
		if (r <= 0)
			return reused && k->have == 0 ? -2 : -1;
	}
	if (sscanf(k->buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	cl = header(k->buf, head_end, "Content-Length");
	if (!cl)
		return -1; /* evhttp always sends one for these answers */
	need = (size_t)(head_end + 4 - k->buf) + strtoul(cl, NULL, 10);
	while (k->have < need)
		if (conn_fill(k) <= 0)
			return -1;
	end_of_body = k->buf + need;
	*end_of_body = '\0';
	*out = head_end + 4;
	cn = header(k->buf, head_end, "Connection");
	if (cn && strncasecmp(cn, "close", 5) == 0) {
		/* the answer is read: keep it past the close for the caller */
		SSL_free(k->ssl);
		k->ssl = NULL;
		close(k->fd);
		k->fd = -1;
		k->used = false;
	}
	return status;
}

/*
 * One request with reconnects: opens the connection when it is closed and
 * sends again once when a kept-alive one turned out closed. The latency
 * (ms, including any reconnect) goes to *ms. Status or -1.
 */
static int call(struct client *c, struct conn *k, const char *method, const char *path,
		const char *auth, const char *body, const char **out, double *ms)
{
	double t0 = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e6);
	int status = -1;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!k->ssl) {
			if (conn_open(k) < 0) {
				/* the broker is gone: this client stops, and so do the rounds */
				c->failed = true;
				atomic_store(&stop_rounds, true);
				break;
			}
			c->reconnects++;
		}
		status = conn_request(k, method, path, auth, body, out);
		if (status >= 0)
			break;
		conn_close(k);
		if (status == -1)
			break;
	}
	*ms = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e6) - t0;
	return status;
}

static void record(struct client *c, double ms)
{
	if (c->nlat == c->caplat) {
		size_t cap = c->caplat ? 2 * c->caplat : 4096;
		double *p = realloc(c->lat_ms, cap * sizeof(*p));
		if (!p) {
			c->errors++;
			return;
		}
		c->lat_ms = p, c->caplat = cap;
	}
	c->lat_ms[c->nlat++] = ms;
}

/* ---- the operations ------------------------------------------------------- */

static bool do_login(struct client *c, struct user *u, bool keep)
{
	char body[1400];
	const char *out = NULL;
	double ms;
	cJSON *j, *t;
	int st;
	/* names and passwords of the users file are plain: no JSON escaping needed */
	snprintf(body, sizeof(body), "{\"user\":\"%s\",\"password\":\"%s\"}", u->name, u->secret);
	st = call(c, &c->user, "POST", "/api/v1/login", NULL, body, &out, &ms);
	if (st != 200) {
		c->errors++;
		report_error(c, "login", st, out);
		return false;
	}
	record(c, ms);
	if (!keep)
		return true;
	j = cJSON_Parse(out);
	t = cJSON_GetObjectItemCaseSensitive(j, "token");
	if (cJSON_IsString(t) && strlen(t->valuestring) < sizeof(u->token))
		snprintf(u->token, sizeof(u->token), "%s", t->valuestring);
	else
		c->errors++, report_error(c, "login answer without a token", st, out);
	cJSON_Delete(j);
	return true;
}

/* One connect for U; checks "resumed" against WANT_RESUMED; keeps the session. */
static bool do_connect(struct client *c, struct user *u, bool want_resumed, bool measure)
{
	char path[300];
	const char *out = NULL;
	double ms;
	cJSON *j, *r, *s;
	bool ok;
	int st;

	/* any well-formed Ed25519 public key: the broker signs it into the ticket, unchecked
	 * (docs/broker-api.md); nobody here uses the ticket */
	static const char body[] =
		"{\"client_key\": \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"}";

	snprintf(path, sizeof(path), "/api/v1/pools/%s/connect", o.pool);
	st = call(c, &c->user, "POST", path, u->secret, body, &out, &ms);
	if (st != 200) {
		c->errors++;
		report_error(c, "connect", st, out);
		return false;
	}
	if (measure)
		record(c, ms);
	j = cJSON_Parse(out);
	r = cJSON_GetObjectItemCaseSensitive(j, "resumed");
	s = cJSON_GetObjectItemCaseSensitive(j, "session");
	ok = cJSON_IsBool(r) && cJSON_IsString(s) && strlen(s->valuestring) < sizeof(u->session);
	if (ok)
		snprintf(u->session, sizeof(u->session), "%s", s->valuestring);
	if (!ok || (measure && cJSON_IsTrue(r) != want_resumed)) {
		c->errors++;
		report_error(c,
			     want_resumed ? "connect: expected a resumed session"
					  : "connect: expected a new assignment",
			     st, out);
		ok = false;
	}
	cJSON_Delete(j);
	return ok;
}

static void do_logoff(struct client *c, struct user *u)
{
	char path[200];
	const char *out = NULL;
	double ms;
	int st;
	if (!u->session[0])
		return;
	snprintf(path, sizeof(path), "/api/v1/admin/sessions/%s/logoff", u->session);
	st = call(c, &c->admin, "POST", path, NULL, NULL, &out, &ms);
	if (st != 200) {
		c->errors++;
		report_error(c, "logoff", st, out);
	}
	u->session[0] = '\0';
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	size_t i;
	double deadline;

	pthread_setname_np(pthread_self(), "bench-client");
	/* connections are made before the clock starts: handshakes are not measured */
	c->failed = conn_open(&c->user) < 0 || (o.op == OP_CONNECT_NEW && conn_open(&c->admin) < 0);
	if (c->failed)
		atomic_store(&stop_rounds, true);    /* the rounds end after the first */
	if (o.op == OP_CONNECT_RESUME && !c->failed) /* every user has a live session */
		for (i = (size_t)c->index; i < nusers; i += (size_t)o.clients)
			do_connect(c, &users[i], true, false);
	pthread_barrier_wait(&barrier);

	switch (o.op) {
	case OP_TOKENS:
		for (i = (size_t)c->index; i < nusers && !c->failed; i += (size_t)o.clients)
			do_login(c, &users[i], true);
		break;
	case OP_LOGIN:
	case OP_CONNECT_RESUME:
		c->t_first = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e6);
		deadline = c->t_first + o.seconds * 1e3;
		i = (size_t)c->index;
		while (!c->failed && i < nusers &&
		       ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e6) < deadline) {
			if (o.op == OP_LOGIN)
				do_login(c, &users[i], false);
			else
				do_connect(c, &users[i], true, true);
			i += (size_t)o.clients;
			if (i >= nusers)
				i = (size_t)c->index;
		}
		c->t_last = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e6);
		break;
	case OP_CONNECT_NEW:
		for (;;) {
			double t0, t1;
			pthread_barrier_wait(&barrier);
			t0 = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e6);
			for (i = (size_t)c->index; i < nusers && !c->failed; i += (size_t)o.clients)
				do_connect(c, &users[i], false, true);
			t1 = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e6);
			pthread_mutex_lock(&round_lock);
			if (round_start == 0 || t0 < round_start)
				round_start = t0;
			if (t1 > round_end)
				round_end = t1;
			pthread_mutex_unlock(&round_lock);
			if (pthread_barrier_wait(&barrier) == PTHREAD_BARRIER_SERIAL_THREAD) {
				measured += round_end - round_start;
				round_start = round_end = 0;
				if (measured >= o.seconds * 1e3)
					atomic_store(&stop_rounds, true);
			}
			pthread_barrier_wait(&barrier);
			/* the desktops go back to the pool: the next round assigns anew */
			for (i = (size_t)c->index; i < nusers; i += (size_t)o.clients)
				do_logoff(c, &users[i]);
			if (atomic_load(&stop_rounds))
				break;
		}
		break;
	}
	return NULL;
}

/* ---- set-up and the answer ------------------------------------------------- */

static int read_users(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[2048];
	size_t cap = 0;
	if (!f) {
		fprintf(stderr, "bench-broker-load: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		struct user u = {0};
		if (sscanf(line, "%128s %1099s", u.name, u.secret) != 2)
			continue;
		if (nusers == cap) {
			struct user *p = realloc(users, (cap = cap ? 2 * cap : 256) * sizeof(*p));
			if (!p) {
				fclose(f);
				return -1;
			}
			users = p;
		}
		users[nusers++] = u;
	}
	fclose(f);
	if (nusers == 0) {
		fprintf(stderr, "bench-broker-load: %s has no \"NAME SECRET\" lines\n", path);
		return -1;
	}
	return 0;
}

static SSL_CTX *make_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, o.ca, NULL) != 1) {
		fprintf(stderr, "bench-broker-load: cannot load the CA file %s\n", o.ca);
		goto fail;
	}
	if (cert && (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
		     SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)) {
		fprintf(stderr, "bench-broker-load: cannot load the certificate %s or its key\n",
			cert);
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest rank, like bench/agent/report.py: the smallest value with p% at or below it. */
static double pct(const double *v, size_t n, size_t p)
{
	size_t k = (p * n + 99) / 100;
	if (n == 0)
		return 0;
	return v[(k ? k : 1) - 1];
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench-broker-load --op tokens|login|connect-resume|connect-new\n"
		   "         --host IP --port PORT --ca ca.pem --users FILE [--clients N]\n"
		   "         [--seconds S] [--pool NAME] [--cert admin.pem --key admin.key]\n"
		   "         [--out FILE]\n"
		   "Drives highrise-broker with N concurrent keep-alive HTTPS clients and prints\n"
		   "one JSON line: requests, seconds, rps, p50_ms, p99_ms, errors. See\n"
		   "bench/broker/README.md.\n");
}

static int parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{"op", 1, NULL, 'o'},	   {"host", 1, NULL, 'h'},  {"port", 1, NULL, 'p'},
		{"ca", 1, NULL, 'a'},	   {"users", 1, NULL, 'u'}, {"clients", 1, NULL, 'c'},
		{"seconds", 1, NULL, 's'}, {"pool", 1, NULL, 'P'},  {"cert", 1, NULL, 'C'},
		{"key", 1, NULL, 'K'},	   {"out", 1, NULL, 'O'},   {"help", 0, NULL, 'H'},
		{NULL, 0, NULL, 0},
	};
	int ch, op = -1;
	o.host = "127.0.0.1";
	o.clients = 1;
	o.seconds = 3;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'o':
			for (int i = 0; i < 4; i++)
				if (strcmp(optarg, op_names[i]) == 0)
					op = i;
			break;
		case 'h':
			o.host = optarg;
			break;
		case 'p':
			o.port = atoi(optarg);
			break;
		case 'a':
			o.ca = optarg;
			break;
		case 'u':
			o.users_file = optarg;
			break;
		case 'c':
			o.clients = atoi(optarg);
			break;
		case 's':
			o.seconds = atof(optarg);
			break;
		case 'P':
			o.pool = optarg;
			break;
		case 'C':
			o.cert = optarg;
			break;
		case 'K':
			o.key = optarg;
			break;
		case 'O':
			o.out = optarg;
			break;
		case 'H':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (op < 0 || o.port <= 0 || o.port > 65535 || !o.ca || !o.users_file || o.clients < 1 ||
	    o.clients > CLIENTS_MAX || o.seconds <= 0 ||
	    ((op == OP_CONNECT_NEW || op == OP_CONNECT_RESUME) && !o.pool) ||
	    (op == OP_CONNECT_NEW && (!o.cert || !o.key)) || (op == OP_TOKENS && !o.out)) {
		fprintf(stderr,
			"bench-broker-load: missing or invalid options (--op, --port, --ca,"
			" --users; --pool for connect-*, --cert/--key for connect-new,"
			" --out for tokens; 1..%d clients)\n",
			CLIENTS_MAX);
		usage(stderr);
		return -1;
	}
	o.op = (enum op)op;
	return 0;
}

int main(int argc, char **argv)
{
	struct client *cl = NULL;
	double t0 = 0, t1, span, *all = NULL;
	size_t n = 0;
	long errors = 0, reconnects = 0;
	bool failed = false;
	int rc = 1, started = 0;

	if (parse_args(argc, argv) < 0 || read_users(o.users_file) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN); /* a closed connection is an error return, not a signal */
	user_ctx = make_ctx(NULL, NULL);
	admin_ctx = o.op == OP_CONNECT_NEW ? make_ctx(o.cert, o.key) : NULL;
	cl = calloc((size_t)o.clients, sizeof(*cl));
	if (!user_ctx || (o.op == OP_CONNECT_NEW && !admin_ctx) || !cl)
		goto out;
	pthread_barrier_init(&barrier, NULL, (unsigned)o.clients + 1);
	for (int i = 0; i < o.clients; i++) {
		cl[i].index = i;
		if (conn_init(&cl[i].user, user_ctx) < 0 || conn_init(&cl[i].admin, admin_ctx) < 0)
			goto join;
	}
	for (; started < o.clients; started++)
		if (pthread_create(&cl[started].thread, NULL, client_main, &cl[started]) != 0)
			break;
	if (started < o.clients) {
		fprintf(stderr, "bench-broker-load: cannot start %d threads\n", o.clients);
		abort(); /* the others wait at the barrier for ever */
	}
	/* the main thread takes part in the barriers: the start, and each round's three */
	pthread_barrier_wait(&barrier);
	t0 = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e6);
	if (o.op == OP_CONNECT_NEW) {
		for (;;) {
			pthread_barrier_wait(&barrier);
			if (pthread_barrier_wait(&barrier) == PTHREAD_BARRIER_SERIAL_THREAD) {
				measured += round_end - round_start;
				round_start = round_end = 0;
				if (measured >= o.seconds * 1e3)
					atomic_store(&stop_rounds, true);
			}
			pthread_barrier_wait(&barrier);
			if (atomic_load(&stop_rounds))
				break;
		}
	}
join:
	for (int i = 0; i < started; i++)
		pthread_join(cl[i].thread, NULL);
	t1 = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e6);
	if (started < o.clients)
		goto out;

	span = t1 - t0;
	if (o.op == OP_CONNECT_RESUME || o.op == OP_LOGIN) {
		double first = cl[0].t_first, last = cl[0].t_last;
		for (int i = 1; i < o.clients; i++) {
			first = cl[i].t_first < first ? cl[i].t_first : first;
			last = cl[i].t_last > last ? cl[i].t_last : last;
		}
		span = last - first;
	} else if (o.op == OP_CONNECT_NEW) {
		span = measured;
	}
	for (int i = 0; i < o.clients; i++)
		n += cl[i].nlat;
	all = malloc((n ? n : 1) * sizeof(*all));
	if (!all)
		goto out;
	n = 0;
	for (int i = 0; i < o.clients; i++) {
		if (cl[i].nlat)
			memcpy(all + n, cl[i].lat_ms, cl[i].nlat * sizeof(*all));
		n += cl[i].nlat;
		errors += cl[i].errors;
		reconnects += cl[i].reconnects;
		failed |= cl[i].failed;
	}
	qsort(all, n, sizeof(*all), cmp_double);
	printf("{\"op\": \"%s\", \"clients\": %d, \"requests\": %zu, \"seconds\": %.3f, "
	       "\"rps\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, "
	       "\"errors\": %ld, \"reconnects\": %ld, \"users\": %zu}\n",
	       op_names[o.op], o.clients, n, span / 1e3, span > 0 ? (double)n / span * 1e3 : 0,
	       pct(all, n, 50), pct(all, n, 99), n ? all[n - 1] : 0, errors, reconnects, nusers);
	fflush(stdout);
	if (o.op == OP_TOKENS) {
		FILE *f = fopen(o.out, "w");
		if (!f) {
			fprintf(stderr, "bench-broker-load: cannot write %s\n", o.out);
			goto out;
		}
		for (size_t i = 0; i < nusers; i++)
			if (users[i].token[0])
				fprintf(f, "%s %s\n", users[i].name, users[i].token);
		if (fclose(f) != 0)
			goto out;
	}
	if (failed)
		fprintf(stderr, "bench-broker-load: a client could not connect to the broker\n");
	rc = errors || failed || n == 0 ? 1 : 0;
out:
	for (int i = 0; cl && i < o.clients; i++) {
		conn_deinit(&cl[i].user);
		conn_deinit(&cl[i].admin);
		free(cl[i].lat_ms);
	}
	free(cl);
	free(all);
	free(users);
	SSL_CTX_free(user_ctx);
	SSL_CTX_free(admin_ctx);
	return rc;
}
