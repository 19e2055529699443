/* SPDX-License-Identifier: MIT */
/*
 * proto/tls: real TLS 1.3 over loopback with real certificates made by
 * certs/highrise-certs, the real openssl CLI as a TLS 1.2-only peer, and an
 * expired certificate made here with the OpenSSL API. Every case runs its own
 * event base with a timeout, so a hang fails the test instead of blocking it.
 */
#include "check.h"
#include "tls.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <ftw.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define TIMEOUT_SECONDS 10
#define REQUEST_BYTES	(1024 * 1024)
#define REPLY_BYTES	(300 * 1000 + 7)

static char tmp[256];	/* the test CA and its certificates */
static char other[300]; /* a second, unrelated CA */
static const char *certs_tool;

static char *path_in(const char *dir, const char *name)
{
	static char bufs[16][512];
	static int next;
	char *p = bufs[next++ % 16];
	snprintf(p, sizeof(bufs[0]), "%s/%s", dir, name);
	return p;
}

/* ---- child processes --------------------------------------------------- */

/*
 * Starts argv with stdin from in_fd (or /dev/null), stdout to out_fd (or
 * /dev/null) and stderr to err_path (or /dev/null). openssl s_server and
 * s_client end the connection when stdin reaches EOF, so they get a pipe
 * that stays open until they are stopped.
 */
static pid_t spawn(const char *const argv[], int in_fd, int out_fd, const char *err_path)
{
	posix_spawn_file_actions_t fa;
	pid_t pid = -1;
	int rc;

	posix_spawn_file_actions_init(&fa);
	if (in_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, err_path ? err_path : "/dev/null",
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "cannot start %s: %s\n", argv[0], strerror(rc));
		return -1;
	}
	return pid;
}

/* Waits up to seconds for pid, then kills it; returns the exit code, or -1 (killed/signal). */
static int reap(pid_t pid, int seconds)
{
	int status = 0;

	if (pid <= 0)
		return -1;
	for (int i = 0; i < seconds * 20; i++) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (w < 0)
			return -1;
		usleep(50 * 1000);
	}
	fprintf(stderr, "child %d did not exit in %d s: killing it\n", (int)pid, seconds);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static void stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	reap(pid, 5);
}

/* Runs highrise-certs --dir dir ARGS... and returns its exit code. */
static int certs(const char *dir, const char *a1, const char *a2, const char *a3, const char *a4,
		 const char *a5)
{
	const char *argv[] = {certs_tool, "--dir", dir, a1, a2, a3, a4, a5, NULL};
	return reap(spawn(argv, -1, -1, NULL), 30);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* ---- an expired certificate, made with the OpenSSL API ----------------- */

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return 0;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* notBefore = now - 10 days, notAfter = now - 1 day, SAN DNS:server.test, signed by ca.key. */
static int make_expired_cert(const char *crt_path, const char *key_path)
{
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca = NULL, *cert = NULL;
	FILE *f;
	int ok = 0;

	if ((f = fopen(path_in(tmp, "ca.key"), "r"))) {
		ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if ((f = fopen(path_in(tmp, "ca.pem"), "r"))) {
		ca = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	cert = X509_new();
	if (!ca_key || !ca || !key || !cert)
		goto out;
	if (X509_set_version(cert, X509_VERSION_3) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(cert), 0x5eed) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), -10L * 86400) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), -1L * 86400) ||
	    X509_set_pubkey(cert, key) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
				       (const unsigned char *)"server.test", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(cert, X509_get_subject_name(ca)) != 1 ||
	    !add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(cert, ca, NID_ext_key_usage, "serverAuth") ||
	    !add_ext(cert, ca, NID_subject_alt_name, "DNS:server.test") ||
	    !add_ext(cert, ca, NID_authority_key_identifier, "keyid") ||
	    X509_sign(cert, ca_key, EVP_sha256()) <= 0)
		goto out;
	if (!(f = fopen(crt_path, "w")))
		goto out;
	ok = PEM_write_X509(f, cert) == 1;
	fclose(f);
	if (!(f = fopen(key_path, "w"))) {
		ok = 0;
		goto out;
	}
	ok = ok && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
	fclose(f);
out:
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return ok;
}

/* ---- one connection on loopback, run to its end ------------------------ */

static uint8_t pattern(size_t i, unsigned seed)
{
	uint32_t x = (uint32_t)i * 2654435761u + seed * 40503u;
	return (uint8_t)(x >> 13 ^ x >> 24);
}

struct run;

struct peer {
	struct run *run;
	const char *role;
	struct bufferevent *bev;
	bool connected, error, eof;
	char why[512];
	char session[128];
	char cn[160];
	uint8_t spki[32];
	bool have_spki;
	uint8_t *rx;	     /* what arrived */
	size_t rx_len, want; /* want: bytes expected (the buffer's size) */
	bool overflow;
	uint8_t *tx; /* client: sent once connected; server: sent once want bytes arrived */
	size_t tx_len;
	bool sent;
};

struct run {
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *timer;
	struct tls_ctx *server_ctx;
	struct peer srv, cli;
	bool own_server, own_client, expect_ok, timed_out;
	bool hang_up; /* the server closes every connection at once, before TLS */
	int accepted;
	uint16_t port;
};

static bool peer_done(const struct peer *p)
{
	return p->error || p->eof;
}

static void maybe_finish(struct run *r)
{
	bool stop_now;

	if (r->expect_ok) {
		stop_now = (r->cli.connected && r->cli.rx_len >= r->cli.want && r->srv.connected &&
			    r->srv.rx_len >= r->srv.want) ||
			   peer_done(&r->srv) || peer_done(&r->cli);
	} else {
		stop_now = ((!r->own_server || peer_done(&r->srv)) &&
			    (!r->own_client || peer_done(&r->cli))) ||
			   /* an unexpected success: no reason to wait for the timeout */
			   (r->own_server && r->srv.connected) ||
			   (!r->own_server && r->cli.connected);
	}
	if (stop_now)
		event_base_loopbreak(r->base);
}

static void send_tx(struct peer *p)
{
	if (p->tx_len && !p->sent) {
		p->sent = true;
		bufferevent_write(p->bev, p->tx, p->tx_len);
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct peer *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);

	if (n > p->want - p->rx_len) {
		p->overflow = true;
		n = p->want - p->rx_len;
	}
	if (n)
		evbuffer_remove(in, p->rx + p->rx_len, n);
	evbuffer_drain(in, evbuffer_get_length(in));
	p->rx_len += n;
	if (p == &p->run->srv && p->rx_len == p->want)
		send_tx(p);
	maybe_finish(p->run);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct peer *p = arg;

	if (what & BEV_EVENT_CONNECTED) {
		p->connected = true;
		tls_describe_session(bev, p->session, sizeof(p->session));
		tls_peer_common_name(bev, p->cn, sizeof(p->cn));
		p->have_spki = tls_peer_spki_sha256(bev, p->spki) == 0;
		if (p == &p->run->cli)
			send_tx(p);
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		if (what & BEV_EVENT_ERROR)
			p->error = true;
		else
			p->eof = true;
		tls_describe_error(bev, p->why, sizeof(p->why));
		bufferevent_disable(bev, EV_READ | EV_WRITE);
	}
	maybe_finish(p->run);
}

static void peer_setup(struct peer *p, struct bufferevent *bev)
{
	p->bev = bev;
	bufferevent_setcb(bev, on_read, NULL, on_event, p);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct run *r = arg;
	struct bufferevent *bev;

	(void)l;
	(void)sa;
	(void)salen;
	r->accepted++;
	if (r->srv.bev || r->hang_up) { /* one connection per run */
		evutil_closesocket(fd);
		return;
	}
	bev = tls_accept(r->server_ctx, r->base, fd);
	CHECK(bev != NULL);
	if (bev)
		peer_setup(&r->srv, bev);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;

	(void)fd;
	(void)what;
	r->timed_out = true;
	event_base_loopbreak(r->base);
}

static void peer_init(struct peer *p, struct run *r, const char *role, size_t want)
{
	p->run = r;
	p->role = role;
	p->want = want;
	p->rx = want ? malloc(want) : NULL;
}

static void run_init(struct run *r, bool expect_ok, size_t request, size_t reply)
{
	memset(r, 0, sizeof(*r));
	r->expect_ok = expect_ok;
	r->base = event_base_new();
	r->timer = evtimer_new(r->base, on_timeout, r);
	peer_init(&r->srv, r, "server", request);
	peer_init(&r->cli, r, "client", reply);
	if (request) {
		r->cli.tx = malloc(request);
		r->cli.tx_len = request;
		for (size_t i = 0; i < request; i++)
			r->cli.tx[i] = pattern(i, 1);
	}
	if (reply) {
		r->srv.tx = malloc(reply);
		r->srv.tx_len = reply;
		for (size_t i = 0; i < reply; i++)
			r->srv.tx[i] = pattern(i, 2);
	}
}

/* Listens on 127.0.0.1, port 0, with server_ctx (borrowed: the caller frees it). */
static void run_listen(struct run *r, struct tls_ctx *server_ctx)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t slen = sizeof(sin);

	r->own_server = true;
	r->server_ctx = server_ctx;
	r->listener = evconnlistener_new_bind(r->base, on_accept, r,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
						      LEV_OPT_REUSEABLE,
					      -1, (struct sockaddr *)&sin, sizeof(sin));
	CHECK(r->listener != NULL);
	if (!r->listener)
		return;
	getsockname(evconnlistener_get_fd(r->listener), (struct sockaddr *)&sin, &slen);
	r->port = ntohs(sin.sin_port);
}

static void run_connect(struct run *r, struct tls_ctx *client_ctx, const char *host, uint16_t port,
			const char *verify_name)
{
	struct bufferevent *bev = tls_connect(client_ctx, r->base, host, port, verify_name);

	r->own_client = true;
	CHECK(bev != NULL);
	if (bev)
		peer_setup(&r->cli, bev);
}

static void run_loop(struct run *r)
{
	struct timeval tv = {TIMEOUT_SECONDS, 0};

	evtimer_add(r->timer, &tv);
	event_base_dispatch(r->base);
	evtimer_del(r->timer);
}

static void peer_deinit(struct peer *p)
{
	if (p->bev)
		bufferevent_free(p->bev);
	free(p->rx);
	free(p->tx);
}

static void run_free(struct run *r)
{
	peer_deinit(&r->srv);
	peer_deinit(&r->cli);
	if (r->listener)
		evconnlistener_free(r->listener);
	event_free(r->timer);
	/* a last turn lets libevent finish deferred callbacks of freed bufferevents */
	event_base_loop(r->base, EVLOOP_NONBLOCK);
	event_base_free(r->base);
}

/* ---- contexts ---------------------------------------------------------- */

static struct tls_ctx *server_ctx(const char *dir, const char *name, bool mtls)
{
	char crt[512], key[512];
	struct tls_cfg cfg = {.require_client_cert = mtls};

	snprintf(crt, sizeof(crt), "%s/%s.pem", dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	cfg.cert_file = crt;
	cfg.key_file = key;
	cfg.ca_file = mtls ? path_in(tmp, "ca.pem") : NULL;
	return tls_ctx_new(TLS_SERVER, &cfg);
}

static struct tls_ctx *client_ctx(const char *ca_dir, const char *identity, const char *pin)
{
	char crt[512], key[512];
	struct tls_cfg cfg = {.pin_sha256 = pin};

	cfg.ca_file = ca_dir ? path_in(ca_dir, "ca.pem") : NULL;
	if (identity) {
		snprintf(crt, sizeof(crt), "%s.pem", identity);
		snprintf(key, sizeof(key), "%s.key", identity);
		cfg.cert_file = crt;
		cfg.key_file = key;
	}
	return tls_ctx_new(TLS_CLIENT, &cfg);
}

static bool contains(const char *s, const char *needle)
{
	return s && needle && strstr(s, needle) != NULL;
}

#define CHECK_CONTAINS(s, needle)                                                          \
	do {                                                                               \
		if (contains((s), (needle))) {                                             \
			check_passed++;                                                    \
		} else {                                                                   \
			check_failed++;                                                    \
			fprintf(stderr, "%s:%d: FAILED: \"%s\" does not contain \"%s\"\n", \
				__FILE__, __LINE__, (s), (needle));                        \
		}                                                                          \
	} while (0)

/* ---- cases ------------------------------------------------------------- */

/* A full exchange: REQUEST_BYTES up, REPLY_BYTES down, both checked byte for byte. */
static void exchange(const char *what, struct tls_ctx *sctx, struct tls_ctx *cctx, const char *host,
		     const char *verify_name, const char *expect_cn, bool free_client_ctx_early)
{
	struct run r;
	uint8_t want_spki[32];
	uint8_t *expect;

	printf("case: %s\n", what);
	run_init(&r, true, REQUEST_BYTES, REPLY_BYTES);
	run_listen(&r, sctx);
	run_connect(&r, cctx, host, r.port, verify_name);
	if (free_client_ctx_early)
		tls_ctx_free(cctx); /* tls.h: connections outlive their context */
	run_loop(&r);

	CHECK(!r.timed_out);
	CHECK(r.cli.connected);
	CHECK(r.srv.connected);
	CHECK(!r.cli.error && !r.cli.eof);
	CHECK(!r.srv.error && !r.srv.eof);
	if (r.cli.error || r.srv.error)
		printf("  unexpected failure: client \"%s\", server \"%s\"\n", r.cli.why,
		       r.srv.why);
	CHECK_INT_EQ(r.accepted, 1);
	CHECK_INT_EQ(r.srv.rx_len, REQUEST_BYTES);
	CHECK_INT_EQ(r.cli.rx_len, REPLY_BYTES);
	CHECK(!r.srv.overflow && !r.cli.overflow);
	expect = malloc(REQUEST_BYTES);
	for (size_t i = 0; i < REQUEST_BYTES; i++)
		expect[i] = pattern(i, 1);
	if (r.srv.rx_len == REQUEST_BYTES)
		CHECK_MEM_EQ(r.srv.rx, expect, REQUEST_BYTES);
	for (size_t i = 0; i < REPLY_BYTES; i++)
		expect[i] = pattern(i, 2);
	if (r.cli.rx_len == REPLY_BYTES)
		CHECK_MEM_EQ(r.cli.rx, expect, REPLY_BYTES);
	free(expect);

	printf("  client session: %s; server session: %s\n", r.cli.session, r.srv.session);
	CHECK(strncmp(r.cli.session, "TLSv1.3 ", 8) == 0);
	CHECK(strncmp(r.srv.session, "TLSv1.3 ", 8) == 0);
	/* the client saw the server's certificate */
	CHECK_STR_EQ(r.cli.cn, "server.test");
	CHECK(r.cli.have_spki);
	CHECK_INT_EQ(tls_cert_file_spki_sha256(path_in(tmp, "agent-server.test.pem"), want_spki),
		     0);
	CHECK_MEM_EQ(r.cli.spki, want_spki, 32);
	/* and the server the client's, under mutual TLS only */
	if (expect_cn) {
		CHECK_STR_EQ(r.srv.cn, expect_cn);
		CHECK(r.srv.have_spki);
	} else {
		CHECK_STR_EQ(r.srv.cn, "");
		CHECK(!r.srv.have_spki);
	}
	run_free(&r);
}

/*
 * A handshake that must fail. client_says/server_says: what tls_describe_error
 * must mention on each side. client_connects: under mutual TLS a TLS 1.3 client
 * finishes its half of the handshake before the server refuses its certificate.
 */
static void refused(const char *what, struct tls_ctx *sctx, struct tls_ctx *cctx, const char *host,
		    const char *verify_name, const char *client_says, const char *server_says,
		    bool client_connects)
{
	struct run r;

	printf("case: %s\n", what);
	run_init(&r, false, 0, 0);
	run_listen(&r, sctx);
	run_connect(&r, cctx, host, r.port, verify_name);
	run_loop(&r);

	printf("  client: %s\n  server: %s\n", r.cli.why, r.srv.why);
	CHECK(!r.timed_out);
	CHECK_INT_EQ(r.accepted, 1);
	CHECK(r.cli.error);
	CHECK(r.srv.error);
	CHECK(!r.srv.connected);
	CHECK(r.cli.connected == client_connects);
	CHECK_CONTAINS(r.cli.why, client_says);
	CHECK_CONTAINS(r.srv.why, server_says);
	run_free(&r);
}

static char *read_all(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* Reads fd until a line "ACCEPT host:PORT" (what s_server prints once it listens). */
static unsigned wait_for_accept_line(int fd)
{
	char buf[4096];
	size_t n = 0;

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t got;
		char *a, *eol;

		if (poll(&pfd, 1, TIMEOUT_SECONDS * 1000) != 1)
			return 0; /* nothing in time */
		got = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (got <= 0)
			return 0; /* s_server exited */
		n += (size_t)got;
		buf[n] = '\0';
		a = strstr(buf, "ACCEPT ");
		eol = a ? strchr(a, '\n') : NULL;
		if (eol) {
			*eol = '\0';
			return (unsigned)strtoul(strrchr(a, ':') ? strrchr(a, ':') + 1 : "0", NULL,
						 10);
		}
		if (n == sizeof(buf) - 1)
			return 0;
	}
}

/* Our client against `openssl s_server -tls1_2`: refused with a message about TLS 1.3. */
static void client_vs_tls12_server(struct tls_ctx *cctx)
{
	char *crt = path_in(tmp, "agent-server.test.pem");
	char *key = path_in(tmp, "agent-server.test.key");
	char *err = path_in(tmp, "s_server.err");
	const char *argv[] = {"openssl", "s_server", "-tls1_2",	    "-cert",	crt, "-key",
			      key,	 "-accept",  "127.0.0.1:0", "-naccept", "1", NULL};
	int in[2], out[2];
	unsigned port = 0;
	pid_t pid = -1;
	struct run r;

	printf("case: our client against openssl s_server -tls1_2\n");
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
		CHECK(0);
		return;
	}
	pid = spawn(argv, in[0], out[1], err);
	close(in[0]);
	close(out[1]);
	CHECK(pid > 0);
	/* -accept port 0: the kernel picks a free port and s_server prints it */
	if (pid > 0)
		port = wait_for_accept_line(out[0]);
	CHECK(port > 0 && port < 65536);
	if (port > 0 && port < 65536) {
		run_init(&r, false, 0, 0);
		run_connect(&r, cctx, "127.0.0.1", (uint16_t)port, "server.test");
		run_loop(&r);
		printf("  client: %s\n", r.cli.why);
		CHECK(!r.timed_out);
		CHECK(!r.cli.connected);
		CHECK(r.cli.error);
		CHECK_CONTAINS(r.cli.why, "does not speak TLS 1.3");
		run_free(&r);
	}
	/* -naccept 1: s_server exits by itself after our connection, its error written */
	if (port > 0 && port < 65536)
		CHECK(reap(pid, TIMEOUT_SECONDS) >= 0);
	else
		stop(pid);
	close(in[1]);
	close(out[0]);
	printf("  s_server: %s", read_all(err));
	/* s_server saw our TLS 1.3-only hello and refused it */
	CHECK_CONTAINS(read_all(err), "unsupported protocol");
}

/* `openssl s_client -tls1_2` against our server: both sides fail, s_client exits non-zero. */
static void tls12_client_vs_server(struct tls_ctx *sctx)
{
	char addr[64];
	char *err = path_in(tmp, "s_client.err");
	const char *argv[] = {"openssl", "s_client", "-tls1_2", "-connect", addr, NULL};
	struct run r;
	pid_t pid;
	int in[2], rc;

	printf("case: openssl s_client -tls1_2 against our server\n");
	if (pipe2(in, O_CLOEXEC) != 0) {
		CHECK(0);
		return;
	}
	run_init(&r, false, 0, 0);
	run_listen(&r, sctx);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", r.port);
	pid = spawn(argv, in[0], -1, err);
	close(in[0]);
	CHECK(pid > 0);
	run_loop(&r);
	rc = reap(pid, TIMEOUT_SECONDS);
	close(in[1]);
	printf("  server: %s\n  s_client exit code %d: %s", r.srv.why, rc, read_all(err));
	CHECK(!r.timed_out);
	CHECK_INT_EQ(r.accepted, 1);
	CHECK(!r.srv.connected);
	CHECK(r.srv.error);
	CHECK_CONTAINS(r.srv.why, "does not speak TLS 1.3");
	CHECK_INT_EQ(rc, 1);
	CHECK_CONTAINS(read_all(err), "alert protocol version");
	run_free(&r);
}

/* Nothing listens: the client reports the socket error, not a TLS one. */
static void connection_refused(struct tls_ctx *cctx)
{
	struct run r;
	uint16_t port;

	printf("case: nothing listening\n");
	run_init(&r, false, 0, 0);
	run_listen(&r, NULL); /* take a free port, then close it */
	port = r.port;
	evconnlistener_free(r.listener);
	r.listener = NULL;
	r.own_server = false;
	run_connect(&r, cctx, "127.0.0.1", port, "server.test");
	run_loop(&r);
	printf("  client: %s\n", r.cli.why);
	CHECK(!r.timed_out);
	CHECK(r.cli.error);
	CHECK(!r.cli.connected);
	CHECK_CONTAINS(r.cli.why, "refused");
	run_free(&r);
}

/* The server hangs up before the handshake: the client says so. */
static void hang_up(struct tls_ctx *cctx)
{
	struct run r;

	printf("case: the server hangs up at once\n");
	run_init(&r, false, 0, 0);
	run_listen(&r, NULL);
	r.own_server = false;
	r.hang_up = true;
	run_connect(&r, cctx, "127.0.0.1", r.port, "server.test");
	run_loop(&r);
	printf("  client: %s\n", r.cli.why);
	CHECK(!r.timed_out);
	CHECK_INT_EQ(r.accepted, 1);
	CHECK(r.cli.error);
	CHECK(!r.cli.connected);
	CHECK_CONTAINS(r.cli.why, "the peer closed the connection");
	run_free(&r);
}

static bool localhost_is_ipv4_first(void)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
	struct addrinfo *res = NULL;
	bool v4;

	if (getaddrinfo("localhost", NULL, &hints, &res) != 0)
		return false;
	v4 = res && res->ai_family == AF_INET;
	freeaddrinfo(res);
	return v4;
}

static void bad_configs(void)
{
	struct tls_cfg cfg;
	char crt[512], key[512];

	printf("case: contexts that must not be made\n");
	snprintf(crt, sizeof(crt), "%s", path_in(tmp, "agent-server.test.pem"));
	snprintf(key, sizeof(key), "%s", path_in(tmp, "client-alice.key"));

	cfg = (struct tls_cfg){0};
	CHECK(tls_ctx_new(TLS_SERVER, &cfg) == NULL); /* no certificate */
	cfg = (struct tls_cfg){.cert_file = crt, .key_file = key};
	CHECK(tls_ctx_new(TLS_SERVER, &cfg) == NULL); /* key of another certificate */
	cfg = (struct tls_cfg){.cert_file = crt,
			       .key_file = path_in(tmp, "agent-server.test.key"),
			       .require_client_cert = true};
	CHECK(tls_ctx_new(TLS_SERVER, &cfg) == NULL); /* mTLS without a CA */
	cfg = (struct tls_cfg){.ca_file = path_in(tmp, "missing.pem")};
	CHECK(tls_ctx_new(TLS_CLIENT, &cfg) == NULL);
	cfg = (struct tls_cfg){.pin_sha256 = "abcd"};
	CHECK(tls_ctx_new(TLS_CLIENT, &cfg) == NULL);
	cfg = (struct tls_cfg){.pin_sha256 = "zz0123456789abcdef0123456789abcdef0123456789abcdef0"
					     "123456789abcd"};
	CHECK(tls_ctx_new(TLS_CLIENT, &cfg) == NULL);
}

static void helpers(void)
{
	uint8_t in[32], a[32], b[32];
	char hex[65];

	for (int i = 0; i < 32; i++)
		in[i] = (uint8_t)(i * 8 + 1);
	tls_hex(in, hex);
	CHECK_STR_EQ(hex, "0109111921293139414951596169717981899199a1a9b1b9c1c9d1d9e1e9f1f9");
	CHECK_INT_EQ(tls_cert_file_spki_sha256(path_in(tmp, "missing.pem"), a), -ENOENT);
	CHECK_INT_EQ(tls_cert_file_spki_sha256(path_in(tmp, "ca.key"), a), -EINVAL);
	CHECK_INT_EQ(tls_cert_file_spki_sha256(path_in(tmp, "agent-server.test.pem"), a), 0);
	CHECK_INT_EQ(tls_cert_file_spki_sha256(path_in(other, "agent-server.test.pem"), b), 0);
	CHECK(memcmp(a, b, 32) != 0);
}

/* The pin as highrise-certs prints it must be what tls.c computes. */
static void pin_matches_tool(const char *pin_hex)
{
	char *out = path_in(tmp, "pin.out");
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	const char *argv[] = {certs_tool, "pin", path_in(tmp, "agent-server.test.pem"), NULL};
	char got[128] = "";
	FILE *f;

	CHECK(fd >= 0);
	CHECK_INT_EQ(reap(spawn(argv, -1, fd, NULL), 30), 0);
	close(fd);
	f = fopen(out, "r");
	if (f) {
		if (fgets(got, sizeof(got), f))
			got[strcspn(got, "\n")] = '\0';
		fclose(f);
	}
	CHECK_STR_EQ(got, pin_hex);
}

int main(void)
{
	const char *src = getenv("HIGHRISE_SOURCE_DIR");
	const char *tmpdir = getenv("TMPDIR");
	static char tool[512];
	struct tls_ctx *srv = NULL, *srv_mtls = NULL, *srv_other = NULL, *srv_expired = NULL;
	struct tls_ctx *srv_client_cert = NULL, *srv_b = NULL, *cli;
	uint8_t pin[32], other_pin[32];
	char pin_hex[65], other_pin_hex[65], colon_pin[100];

	if (!src || !*src) {
		fprintf(stderr, "test_tls: HIGHRISE_SOURCE_DIR is not set (run it with ctest, or "
				"set it to the source tree)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN); /* a peer that hangs up must be an error, not a signal */
	snprintf(tool, sizeof(tool), "%s/certs/highrise-certs", src);
	certs_tool = tool;
	snprintf(tmp, sizeof(tmp), "%s/highrise-test-tls-XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (!mkdtemp(tmp)) {
		fprintf(stderr, "test_tls: mkdtemp %s: %s\n", tmp, strerror(errno));
		return 2;
	}
	snprintf(other, sizeof(other), "%s/other", tmp);

	/* the real tool makes the test PKI */
	CHECK_INT_EQ(certs(tmp, "init", NULL, NULL, NULL, NULL), 0);
	CHECK_INT_EQ(certs(tmp, "issue", "agent", "server.test", "--san",
			   "DNS:server.test,IP:127.0.0.1"),
		     0);
	CHECK_INT_EQ(certs(tmp, "issue", "client", "alice", NULL, NULL), 0);
	CHECK_INT_EQ(certs(tmp, "issue", "broker", "broker.test", NULL, NULL), 0);
	CHECK_INT_EQ(certs(tmp, "issue", "agent", "server-b", "--san", "DNS:server.test"), 0);
	CHECK_INT_EQ(certs(other, "init", "--name", "Some Other CA", NULL, NULL), 0);
	CHECK_INT_EQ(certs(other, "issue", "agent", "server.test", "--san",
			   "DNS:server.test,IP:127.0.0.1"),
		     0);
	CHECK_INT_EQ(certs(other, "issue", "client", "alice", NULL, NULL), 0);
	CHECK(make_expired_cert(path_in(tmp, "expired.pem"), path_in(tmp, "expired.key")));
	if (check_failed) {
		fprintf(stderr, "test_tls: cannot make the test certificates with %s\n", tool);
		goto out;
	}

	CHECK_INT_EQ(tls_cert_file_spki_sha256(path_in(tmp, "agent-server.test.pem"), pin), 0);
	CHECK_INT_EQ(tls_cert_file_spki_sha256(path_in(other, "agent-server.test.pem"), other_pin),
		     0);
	tls_hex(pin, pin_hex);
	tls_hex(other_pin, other_pin_hex);
	/* "AB:CD:..." upper case with colons, as other tools print pins */
	for (int i = 0, n = 0; i < 32; i++)
		n += snprintf(colon_pin + n, sizeof(colon_pin) - (size_t)n, "%s%02X", i ? ":" : "",
			      pin[i]);
	pin_matches_tool(pin_hex);
	helpers();
	bad_configs();

	srv = server_ctx(tmp, "agent-server.test", false);
	srv_mtls = server_ctx(tmp, "agent-server.test", true);
	srv_other = server_ctx(other, "agent-server.test", false);
	srv_expired = server_ctx(tmp, "expired", false);
	srv_client_cert = server_ctx(tmp, "client-alice", false);
	srv_b = server_ctx(tmp, "agent-server-b", false);
	CHECK(srv && srv_mtls && srv_other && srv_expired && srv_client_cert && srv_b);
	if (!srv || !srv_mtls || !srv_other || !srv_expired || !srv_client_cert || !srv_b)
		goto free_servers;

	/* accepted */
	cli = client_ctx(tmp, NULL, NULL);
	exchange("by name, CA verified", srv, cli, "127.0.0.1", "server.test", NULL, false);
	exchange("by IP literal against the IP SAN", srv, cli, "127.0.0.1", NULL, NULL, false);
	/* tls_connect tries the first address only: run this where it is 127.0.0.1 */
	if (localhost_is_ipv4_first())
		exchange("by the name localhost resolved, verified as server.test", srv, cli,
			 "localhost", "server.test", NULL, false);
	else
		printf("case: localhost by name: skipped (it resolves to ::1 first here)\n");
	tls_ctx_free(cli);

	cli = client_ctx(tmp, path_in(tmp, "client-alice"), NULL);
	exchange("mutual TLS with alice's certificate", srv_mtls, cli, "127.0.0.1", "server.test",
		 "alice", false);
	tls_ctx_free(cli);

	cli = client_ctx(tmp, NULL, pin_hex);
	exchange("CA and the right pin", srv, cli, "127.0.0.1", "server.test", NULL, false);
	tls_ctx_free(cli);
	cli = client_ctx(NULL, NULL, pin_hex);
	exchange("pin only (no CA), context freed while connecting", srv, cli, "127.0.0.1",
		 "server.test", NULL, true);
	cli = client_ctx(NULL, NULL, colon_pin);
	exchange("pin only, upper case with colons", srv, cli, "127.0.0.1", "server.test", NULL,
		 false);
	tls_ctx_free(cli);

	/* refused by the client */
	cli = client_ctx(tmp, NULL, NULL);
	refused("server certificate from another CA", srv_other, cli, "127.0.0.1", "server.test",
		"not issued by a trusted CA", "does not trust the CA of our certificate", false);
	refused("wrong host name", srv, cli, "127.0.0.1", "other.test", "host name other.test",
		"rejected our certificate", false);
	refused("wrong IP address", srv, cli, "127.0.0.1", "127.0.0.2", "host name 127.0.0.2",
		"rejected our certificate", false);
	refused("expired server certificate", srv_expired, cli, "127.0.0.1", "server.test",
		"certificate has expired", "our certificate has expired", false);
	refused("server presenting a client certificate (no serverAuth)", srv_client_cert, cli,
		"127.0.0.1", "alice", "unsuitable certificate purpose", "rejected our certificate",
		false);
	client_vs_tls12_server(cli);
	connection_refused(cli);
	hang_up(cli);

	/* refused by the server: mutual TLS */
	refused("mutual TLS, client without a certificate", srv_mtls, cli, "127.0.0.1",
		"server.test", "a client certificate is required",
		"a client certificate is required", true);
	tls_ctx_free(cli);
	cli = client_ctx(tmp, path_in(other, "client-alice"), NULL);
	refused("mutual TLS, client certificate from another CA", srv_mtls, cli, "127.0.0.1",
		"server.test", "does not trust the CA of our certificate",
		"not issued by a trusted CA", true);
	tls_ctx_free(cli);
	cli = client_ctx(tmp, path_in(tmp, "broker-broker.test"), NULL);
	refused("mutual TLS, a broker's certificate (no clientAuth)", srv_mtls, cli, "127.0.0.1",
		"server.test", "rejected our certificate", "unsuitable certificate purpose", true);
	tls_ctx_free(cli);

	/* pins */
	cli = client_ctx(tmp, NULL, other_pin_hex);
	refused("CA and a wrong pin", srv, cli, "127.0.0.1", "server.test",
		"does not match the pinned SHA-256", "refused the connection", false);
	tls_ctx_free(cli);
	cli = client_ctx(NULL, NULL, other_pin_hex);
	refused("pin only, wrong pin", srv, cli, "127.0.0.1", "server.test",
		"does not match the pinned SHA-256", "refused the connection", false);
	tls_ctx_free(cli);
	cli = client_ctx(tmp, NULL, pin_hex);
	/* the pin holds even where the CA accepts the certificate */
	refused("CA and pin, another server of the same CA", srv_b, cli, "127.0.0.1", "server.test",
		"does not match the pinned SHA-256", "refused the connection", false);
	tls_ctx_free(cli);
	cli = client_ctx(NULL, NULL, pin_hex);
	refused("pin only, the other CA's server", srv_other, cli, "127.0.0.1", "server.test",
		"does not match the pinned SHA-256", "refused the connection", false);
	tls_ctx_free(cli);

	/* refused by our server */
	tls12_client_vs_server(srv);

free_servers:
	tls_ctx_free(srv);
	tls_ctx_free(srv_mtls);
	tls_ctx_free(srv_other);
	tls_ctx_free(srv_expired);
	tls_ctx_free(srv_client_cert);
	tls_ctx_free(srv_b);
out:
	nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	libevent_global_shutdown();
	return check_done("test_tls");
}
