/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the client's whole receive path: a real session
 * (client/session.h) connects over TLS 1.3 on loopback to an in-process
 * "agent" that answers HELLO with the fuzzer's bytes and hangs up. Framing
 * (proto/conn), decoding (proto/msg), the session's state machine (WELCOME,
 * RESIZE, CURSOR, CLIPBOARD, STATUS, PING, BYE, out-of-order messages) and
 * H.264 decoding all see them, exactly as from a hostile agent. Whatever
 * arrives, the session must end with one on_state(SESSION_CLOSED) and free
 * cleanly.
 *
 * The agent's certificate is made once at start-up with the openssl command
 * (a self-signed P-256 certificate for 127.0.0.1) and the client pins it.
 */
#include "log.h"
#include "session.h"
#include "ticket.h"
#include "tls.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base *base;
static struct tls_ctx *server_tls;
static struct evconnlistener *listener;
static uint16_t port;
static char pin[65];
static char dir[64], cert[256], key[256];
/* a well-formed signed ticket and its client key, so the session gets as far
 * as sending HELLO; this agent checks neither the ticket nor the proof */
static EVP_PKEY *client_key;
static uint8_t ticket[TICKET_WIRE_MAX];
static size_t ticket_len;

/* one run */
static const uint8_t *input;
static size_t input_len;
static struct bufferevent *agent;
static bool sent, closed;
static int closed_calls;

static void die(const char *why)
{
	fprintf(stderr, "fuzz_client_stream: %s\n", why);
	abort();
}

static void agent_event(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		bufferevent_free(bev);
		agent = NULL;
	}
}

static void agent_written(struct bufferevent *bev, void *arg)
{
	(void)arg;
	if (sent) { /* everything is out: hang up, so the client reads to the end */
		bufferevent_free(bev);
		agent = NULL;
	}
}

static void agent_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	(void)arg;

	evbuffer_drain(in, evbuffer_get_length(in)); /* HELLO, ACKs: not checked here */
	if (sent)
		return;
	sent = true;
	if (input_len)
		bufferevent_write(bev, input, input_len);
	else
		agent_written(bev, NULL);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
		      void *arg)
{
	(void)l;
	(void)sa;
	(void)len;
	int one = 1;
	(void)arg;
	/* no delayed-ACK stalls between the small writes of both sides */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	agent = tls_accept(server_tls, base, fd);
	if (!agent)
		return;
	bufferevent_setcb(agent, agent_read, agent_written, agent_event, NULL);
	bufferevent_enable(agent, EV_READ | EV_WRITE);
}

static void on_state(struct session *s, enum session_state state, const char *text, void *ud)
{
	(void)s;
	(void)text;
	(void)ud;
	if (state == SESSION_CLOSED) {
		closed = true;
		closed_calls++;
	}
}

static void remove_files(void)
{
	unlink(cert);
	unlink(key);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char cmd[1024];
	struct tls_cfg cfg = {0};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t slen = sizeof(sin);
	uint8_t spki[32];
	(void)argc;
	(void)argv;

	/* as in highrise-client and highrise-probe: a client write to an agent
	 * that already hung up (this one does, after its bytes) is an EPIPE the
	 * session handles, not a death */
	signal(SIGPIPE, SIG_IGN);
	log_open("fuzz_client_stream", LOG_LEVEL_ERROR, LOG_TARGET_STDERR);
	snprintf(dir, sizeof(dir), "/tmp/fuzz_client_stream.XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp");
	atexit(remove_files);
	snprintf(cert, sizeof(cert), "%s/agent.pem", dir);
	snprintf(key, sizeof(key), "%s/agent.key", dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
		 "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s "
		 ">/dev/null 2>&1",
		 key, cert);
	if (system(cmd) != 0)
		die("cannot make a certificate with the openssl command");
	if (tls_cert_file_spki_sha256(cert, spki) < 0)
		die("cannot read the certificate");
	tls_hex(spki, pin);
	cfg.cert_file = cert;
	cfg.key_file = key;
	server_tls = tls_ctx_new(TLS_SERVER, &cfg);
	base = event_base_new();
	if (!server_tls || !base)
		die("cannot set up TLS or the loop");
	{
		uint8_t pub[TICKET_CLIENT_KEY_LEN];
		EVP_PKEY *signer = ticket_client_key_new(pub);
		struct ticket t;

		client_key = ticket_client_key_new(pub);
		if (!signer || !client_key ||
		    ticket_init(&t, "alice", "desk", "agent.test", "s-1", pub, time(NULL), 60) <
			    0 ||
		    ticket_sign(&t, signer, ticket, sizeof(ticket), &ticket_len) < 0)
			die("cannot make a connect ticket");
		EVP_PKEY_free(signer);
	}
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listener = evconnlistener_new_bind(base, accept_cb, NULL,
					   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
					   (struct sockaddr *)&sin, sizeof(sin));
	if (!listener ||
	    getsockname(evconnlistener_get_fd(listener), (struct sockaddr *)&sin, &slen) < 0)
		die("cannot listen on loopback");
	port = ntohs(sin.sin_port);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session_cfg cfg = {0};
	struct session_cbs cbs = {.on_state = on_state};
	struct session *s;

	input = data;
	input_len = size;
	sent = closed = false;
	closed_calls = 0;
	cfg.host = "127.0.0.1";
	cfg.port = port;
	cfg.pin_sha256 = pin;
	cfg.ticket = ticket;
	cfg.ticket_len = ticket_len;
	cfg.client_key = client_key;
	cfg.timeout_ms = 5000;
	cfg.ping_interval_ms = -1;
	cfg.max_width = 1024;
	cfg.max_height = 1024;
	cfg.decoder_threads = 1;
	s = session_new(base, &cfg, &cbs, NULL);
	if (!s)
		die("session_new");
	while (!closed)
		event_base_loop(base, EVLOOP_ONCE);
	if (closed_calls != 1)
		die("SESSION_CLOSED reported more than once");
	session_free(s);
	if (agent) {
		bufferevent_free(agent);
		agent = NULL;
	}
	/* let a freed session finish on the loop */
	for (int i = 0; i < 4; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	return 0;
}
