/* SPDX-License-Identifier: MIT */
/*
 * brokerapi/https.h against a real TLS 1.3 server on loopback (a thread of this
 * test using OpenSSL directly, with certificates from certs/highrise-certs):
 * the request as sent (method, path, Host, bearer, body), answers of every
 * shape (status, Retry-After, no Content-Length, over-long, not HTTP),
 * verification (foreign CA, wrong host, pin right and wrong, pin alone),
 * mutual TLS, and the network failures (refused, silent server, bad URL).
 * Then brokerapi.h's bapi_call over it: a JSON object answer, a refusal's
 * error, hint and code, a server error, an answer that is not an object, and
 * the error codes of both in common/error.h's range.
 */
#include "brokerapi.h"
#include "check.h"
#include "https.h"
#include "routes.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char tmp[256];

static char *path_in(const char *dir, const char *name)
{
	static char bufs[16][512];
	static int next;
	char *p = bufs[next++ % 16];
	snprintf(p, sizeof(bufs[0]), "%s/%s", dir, name);
	return p;
}

/* ---- a one-connection TLS server on a thread ---- */

enum answer_kind {
	ANSWER_OK,	  /* 200 with a JSON body and Content-Length */
	ANSWER_429,	  /* 429 with Retry-After */
	ANSWER_NO_LENGTH, /* 200, body until close */
	ANSWER_DIRTY,	  /* 200, then a close without close_notify (libevent's evhttp) */
	ANSWER_TRUNCATED, /* Content-Length 100, 10 bytes, a close without close_notify */
	ANSWER_NOT_HTTP,
	ANSWER_HUGE,	   /* more than HTTPS_RESPONSE_MAX */
	ANSWER_SILENT,	   /* accepts TCP, never speaks TLS */
	ANSWER_REFUSED,	   /* 404 {"error", "hint", "code"} */
	ANSWER_FAILED,	   /* 503 {"error"} with Retry-After */
	ANSWER_NOT_OBJECT, /* 200 with a JSON array */
};

struct server {
	int lfd;
	int port;
	SSL_CTX *ctx;
	enum answer_kind kind;
	bool want_client_cert;
	pthread_t thread;
	char request[8192]; /* what arrived */
	char client_cn[128];
	int handshake_ok;
};

static void *serve(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	size_t n = 0;
	SSL *ssl;

	if (fd < 0)
		return NULL;
	if (s->kind == ANSWER_SILENT) {
		sleep(2);
		close(fd);
		return NULL;
	}
	ssl = SSL_new(s->ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1) {
		ERR_clear_error();
		goto out;
	}
	s->handshake_ok = 1;
	{
		X509 *peer = SSL_get1_peer_certificate(ssl);
		if (peer) {
			X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName,
						  s->client_cn, sizeof(s->client_cn));
			X509_free(peer);
		}
	}
	/* the head, then Content-Length bytes of body */
	for (;;) {
		char *end;
		int r = SSL_read(ssl, s->request + n, (int)(sizeof(s->request) - 1 - n));
		if (r <= 0)
			break;
		n += (size_t)r;
		s->request[n] = '\0';
		end = strstr(s->request, "\r\n\r\n");
		if (end) {
			const char *cl = strcasestr(s->request, "Content-Length:");
			size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
			if (n >= (size_t)(end + 4 - s->request) + want)
				break;
		}
	}
	switch (s->kind) {
	case ANSWER_OK: {
		const char *a = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				"Content-Length: 11\r\n\r\n{\"ok\":true}";
		SSL_write(ssl, a, (int)strlen(a));
		break;
	}
	case ANSWER_429: {
		const char *a = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n"
				"Content-Length: 2\r\n\r\n{}";
		SSL_write(ssl, a, (int)strlen(a));
		break;
	}
	case ANSWER_NO_LENGTH: {
		const char *a = "HTTP/1.0 201 Created\r\n\r\n{\"made\":1}";
		SSL_write(ssl, a, (int)strlen(a));
		break;
	}
	case ANSWER_DIRTY: {
		const char *a = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\n{}";
		SSL_write(ssl, a, (int)strlen(a));
		goto out; /* no close_notify */
	}
	case ANSWER_TRUNCATED: {
		const char *a = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\":12345}";
		SSL_write(ssl, a, (int)strlen(a));
		goto out;
	}
	case ANSWER_NOT_HTTP: {
		const char *a = "SSH-2.0-OpenSSH\r\n";
		SSL_write(ssl, a, (int)strlen(a));
		break;
	}
	case ANSWER_HUGE: {
		static char chunk[65536];
		const char *a = "HTTP/1.1 200 OK\r\n\r\n";
		memset(chunk, 'x', sizeof(chunk));
		SSL_write(ssl, a, (int)strlen(a));
		for (int i = 0; i < HTTPS_RESPONSE_MAX / (int)sizeof(chunk) + 4; i++)
			if (SSL_write(ssl, chunk, sizeof(chunk)) <= 0)
				break;
		break;
	}
	case ANSWER_SILENT:
		break;
	case ANSWER_REFUSED: {
		const char *b = "{\"error\":\"this agent is not registered\",\"hint\":\"register "
				"first\",\"code\":\"not_registered\"}";
		char a[512];
		snprintf(a, sizeof(a), "HTTP/1.1 404 Not Found\r\nContent-Length: %zu\r\n\r\n%s",
			 strlen(b), b);
		SSL_write(ssl, a, (int)strlen(a));
		break;
	}
	case ANSWER_FAILED: {
		const char *a = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\n"
				"Content-Length: 19\r\n\r\n{\"error\":\"no desk\"}";
		SSL_write(ssl, a, (int)strlen(a));
		break;
	}
	case ANSWER_NOT_OBJECT: {
		const char *a = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n[1]";
		SSL_write(ssl, a, (int)strlen(a));
		break;
	}
	}
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	close(fd);
	return NULL;
}

static void server_start(struct server *s, const char *cert, const char *key, const char *ca,
			 enum answer_kind kind)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_set_min_proto_version(s->ctx, TLS1_3_VERSION);
	CHECK(SSL_CTX_use_certificate_chain_file(s->ctx, cert) == 1);
	CHECK(SSL_CTX_use_PrivateKey_file(s->ctx, key, SSL_FILETYPE_PEM) == 1);
	if (ca) {
		SSL_CTX_load_verify_locations(s->ctx, ca, NULL);
		SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(listen(s->lfd, 4) == 0);
	getsockname(s->lfd, (struct sockaddr *)&a, &len);
	s->port = ntohs(a.sin_port);
	pthread_create(&s->thread, NULL, serve, s);
}

static void server_stop(struct server *s)
{
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
}

static char *url_of(const char *host, int port)
{
	static char u[128];
	snprintf(u, sizeof(u), "https://%s:%d", host, port);
	return u;
}

static int certs(const char *dir, const char *args)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "bash %s/certs/highrise-certs --dir %s %s >/dev/null 2>&1",
		 getenv("HIGHRISE_SOURCE_DIR"), dir, args);
	return system(cmd);
}

/* The error codes sit in common/error.h's range, never on an errno. */
static void test_error_codes(void)
{
	const int codes[] = {HTTPS_EURL,	 HTTPS_EFILE,	    HTTPS_EUNREACHABLE,
			     HTTPS_EUNTRUSTED,	 HTTPS_EPROTOCOL,   -HR_EBROKER_REFUSED,
			     -HR_EBROKER_FAILED, -HR_EBROKER_ANSWER};
	printf("case: error codes\n");
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		CHECK(-codes[i] < HR_ERR_BASE && -codes[i] > HR_ERR_LAST);
		CHECK(strcmp(hr_strerror(-codes[i]), "unknown error") != 0);
		CHECK(strcmp(hr_strerror(-codes[i]), strerror(codes[i])) != 0);
	}
}

static void test_parse_url(void)
{
	char h[64], p[8];
	printf("case: URLs\n");
	CHECK_INT_EQ(https_parse_url("https://broker.example.com", h, sizeof(h), p, sizeof(p)), 0);
	CHECK_STR_EQ(h, "broker.example.com");
	CHECK_STR_EQ(p, "8443");
	CHECK_INT_EQ(https_parse_url("https://10.0.0.1:443/api/v1", h, sizeof(h), p, sizeof(p)), 0);
	CHECK_STR_EQ(h, "10.0.0.1");
	CHECK_STR_EQ(p, "443");
	CHECK_INT_EQ(https_parse_url("HTTPS://[::1]:9000/", h, sizeof(h), p, sizeof(p)), 0);
	CHECK_STR_EQ(h, "::1");
	CHECK_STR_EQ(p, "9000");
	CHECK_INT_EQ(https_parse_url("https://[::1]", h, sizeof(h), p, sizeof(p)), 0);
	CHECK_STR_EQ(p, "8443");
	const char *bad[] = {
		NULL,
		"http://a:1",
		"https://",
		"https://:80",
		"https://a:",
		"https://a:0",
		"https://a:70000",
		"https://a:8x",
		"https://[::1",
		"https://[::1]x:1",
		"ftp://a",
		"https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT_EQ(https_parse_url(bad[i], h, sizeof(h), p, sizeof(p)), -HTTPS_EURL);
}

/* bapi_call: what each kind of answer becomes */
static void test_bapi(const char *crt, const char *key, const char *ca)
{
	struct server s;
	struct bapi_answer a;
	char err[512];
	cJSON *body = cJSON_CreateObject();

	cJSON_AddStringToObject(body, "password", "pw 1");
	printf("case: bapi_call, a JSON object\n");
	server_start(&s, crt, key, NULL, ANSWER_OK);
	{
		struct https_target t = {.url = url_of("127.0.0.1", s.port), .ca_file = ca};
		CHECK_INT_EQ(
			bapi_call(&t, "POST", "/api/v1/login", "tok", body, &a, err, sizeof(err)),
			0);
		CHECK_INT_EQ(a.status, 200);
		CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a.json, "ok")));
		CHECK_STR_EQ(a.body, "{\"ok\":true}");
		CHECK_STR_EQ(a.code, "");
		bapi_answer_deinit(&a);
	}
	server_stop(&s);
	CHECK(strstr(s.request, "\r\n\r\n{\"password\":\"pw 1\"}") != NULL);
	CHECK(strstr(s.request, "\r\nAuthorization: Bearer tok\r\n") != NULL);

	printf("case: bapi_call, a refusal with error, hint and code\n");
	server_start(&s, crt, key, NULL, ANSWER_REFUSED);
	{
		struct https_target t = {.url = url_of("127.0.0.1", s.port), .ca_file = ca};
		CHECK_INT_EQ(bapi_call(&t, "POST", "/api/v1/agent/heartbeat", NULL, NULL, &a, err,
				       sizeof(err)),
			     -HR_EBROKER_REFUSED);
		CHECK_INT_EQ(a.status, 404);
		CHECK_STR_EQ(a.code, API_CODE_NOT_REGISTERED);
		CHECK_STR_EQ(err, "this agent is not registered; register first");
		CHECK(a.json != NULL);
		bapi_answer_deinit(&a);
	}
	server_stop(&s);

	printf("case: bapi_call, a server error\n");
	server_start(&s, crt, key, NULL, ANSWER_FAILED);
	{
		struct https_target t = {.url = url_of("127.0.0.1", s.port), .ca_file = ca};
		CHECK_INT_EQ(
			bapi_call(&t, "GET", "/api/v1/pools", NULL, NULL, &a, err, sizeof(err)),
			-HR_EBROKER_FAILED);
		CHECK_INT_EQ(a.status, 503);
		CHECK_INT_EQ(a.retry_after_s, 3);
		CHECK_STR_EQ(err, "no desk");
		CHECK_STR_EQ(a.code, "");
		bapi_answer_deinit(&a);
	}
	server_stop(&s);

	printf("case: bapi_call, a 2xx that is not a JSON object\n");
	server_start(&s, crt, key, NULL, ANSWER_NOT_OBJECT);
	{
		struct https_target t = {.url = url_of("127.0.0.1", s.port), .ca_file = ca};
		CHECK_INT_EQ(
			bapi_call(&t, "GET", "/api/v1/pools", NULL, NULL, &a, err, sizeof(err)),
			-HR_EBROKER_ANSWER);
		CHECK_INT_EQ(a.status, 200);
		CHECK_STR_EQ(a.body, "[1]");
		CHECK(strstr(err, "not a JSON object") != NULL);
		bapi_answer_deinit(&a);
	}
	server_stop(&s);

	printf("case: bapi_call, no broker there\n");
	{
		struct https_target t = {.url = url_of("127.0.0.1", 1), .ca_file = ca};
		CHECK_INT_EQ(bapi_call(&t, "GET", "/", NULL, NULL, &a, err, sizeof(err)),
			     -HTTPS_EUNREACHABLE);
		CHECK_INT_EQ(a.status, 0);
		CHECK(a.body == NULL && a.json == NULL);
		CHECK(strstr(err, "cannot reach the broker") != NULL);
		bapi_answer_deinit(&a);
	}
	cJSON_Delete(body);
}

int main(void)
{
	const char *src = getenv("HIGHRISE_SOURCE_DIR"), *tmpdir = getenv("TMPDIR");
	char other[300], err[512], pin[65], pin_other[65];
	uint8_t raw[32];
	struct https_response res;
	struct server s;
	int rc;

	if (!src || !*src) {
		fprintf(stderr, "test_https: HIGHRISE_SOURCE_DIR is not set (run it with ctest)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmp, sizeof(tmp), "%s/highrise-test-https-XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (!mkdtemp(tmp))
		return 2;
	snprintf(other, sizeof(other), "%s/other", tmp);
	CHECK_INT_EQ(certs(tmp, "init"), 0);
	CHECK_INT_EQ(certs(tmp, "issue broker 127.0.0.1"), 0);
	CHECK_INT_EQ(certs(tmp, "issue broker broker.test --san DNS:broker.test"), 0);
	CHECK_INT_EQ(certs(tmp, "issue agent host17 --san IP:127.0.0.1"), 0);
	CHECK_INT_EQ(certs(other, "init --name Other"), 0);
	CHECK_INT_EQ(certs(other, "issue broker 127.0.0.1"), 0);
	if (check_failed)
		return check_done("test_https");
	const char *ca = path_in(tmp, "ca.pem"), *crt = path_in(tmp, "broker-127.0.0.1.pem"),
		   *key = path_in(tmp, "broker-127.0.0.1.key");
	CHECK_INT_EQ(tls_cert_file_spki_sha256(crt, raw), 0);
	tls_hex(raw, pin);
	CHECK_INT_EQ(tls_cert_file_spki_sha256(path_in(other, "broker-127.0.0.1.pem"), raw), 0);
	tls_hex(raw, pin_other);

	test_error_codes();
	test_parse_url();
	test_bapi(crt, key, ca);

	printf("case: a JSON request with a bearer token\n");
	server_start(&s, crt, key, NULL, ANSWER_OK);
	{
		struct https_target t = {.url = url_of("127.0.0.1", s.port), .ca_file = ca};
		rc = https_request(&t, "the broker", "POST", "/api/v1/pools/x/connect", "tok123",
				   "{\"a\":1}", &res, err, sizeof(err));
		CHECK_INT_EQ(rc, 0);
		CHECK_INT_EQ(res.status, 200);
		CHECK_STR_EQ(res.body, "{\"ok\":true}");
		CHECK_INT_EQ(res.len, 11);
		CHECK_INT_EQ(res.retry_after_s, -1);
		https_response_deinit(&res);
	}
	server_stop(&s);
	CHECK(strncmp(s.request, "POST /api/v1/pools/x/connect HTTP/1.1\r\n", 39) == 0);
	CHECK(strstr(s.request, "\r\nAuthorization: Bearer tok123\r\n") != NULL);
	CHECK(strstr(s.request, "\r\nContent-Type: application/json\r\n") != NULL);
	CHECK(strstr(s.request, "\r\nContent-Length: 7\r\n") != NULL);
	CHECK(strstr(s.request, "\r\n\r\n{\"a\":1}") != NULL);
	{
		char host[64];
		snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", s.port);
		CHECK(strstr(s.request, host) != NULL);
	}

	printf("case: no token, no body\n");
	server_start(&s, crt, key, NULL, ANSWER_429);
	{
		struct https_target t = {.url = url_of("127.0.0.1", s.port), .ca_file = ca};
		CHECK_INT_EQ(https_request(&t, NULL, "GET", "/api/v1/pools", NULL, NULL, &res, err,
					   sizeof(err)),
			     0);
		CHECK_INT_EQ(res.status, 429);
		CHECK_INT_EQ(res.retry_after_s, 7);
		CHECK_STR_EQ(res.body, "{}");
		https_response_deinit(&res);
	}
	server_stop(&s);
	CHECK(strstr(s.request, "Authorization") == NULL);
	CHECK(strstr(s.request, "\r\nContent-Length: 0\r\n") != NULL);

	printf("case: an answer without Content-Length, read to the close\n");
	server_start(&s, crt, key, NULL, ANSWER_NO_LENGTH);
	{
		struct https_target t = {.url = url_of("127.0.0.1", s.port), .ca_file = ca};
		CHECK_INT_EQ(
			https_request(&t, NULL, "GET", "/", NULL, NULL, &res, err, sizeof(err)), 0);
		CHECK_INT_EQ(res.status, 201);
		CHECK_STR_EQ(res.body, "{\"made\":1}");
		https_response_deinit(&res);
	}
	server_stop(&s);

	printf("case: a close without close_notify, after the whole answer\n");
	server_start(&s, crt, key, NULL, ANSWER_DIRTY);
	{
		struct https_target t = {.url = url_of("127.0.0.1", s.port), .ca_file = ca};
		CHECK_INT_EQ(
			https_request(&t, NULL, "GET", "/", NULL, NULL, &res, err, sizeof(err)), 0);
		CHECK_INT_EQ(res.status, 401);
		CHECK_STR_EQ(res.body, "{}");
		https_response_deinit(&res);
	}
	server_stop(&s);

	printf("case: an answer cut short of its Content-Length\n");
	server_start(&s, crt, key, NULL, ANSWER_TRUNCATED);
	{
		struct https_target t = {.url = url_of("127.0.0.1", s.port), .ca_file = ca};
		CHECK_INT_EQ(
			https_request(&t, NULL, "GET", "/", NULL, NULL, &res, err, sizeof(err)),
			-HTTPS_EPROTOCOL);
		printf("  %s\n", err);
	}
	server_stop(&s);

	printf("case: not HTTP\n");
	server_start(&s, crt, key, NULL, ANSWER_NOT_HTTP);
	{
		struct https_target t = {.url = url_of("127.0.0.1", s.port), .ca_file = ca};
		CHECK_INT_EQ(https_request(&t, "the broker", "GET", "/", NULL, NULL, &res, err,
					   sizeof(err)),
			     -HTTPS_EPROTOCOL);
		printf("  %s\n", err);
		CHECK(strstr(err, "not HTTP") != NULL);
		CHECK(res.body == NULL);
	}
	server_stop(&s);

	printf("case: an answer over the limit\n");
	server_start(&s, crt, key, NULL, ANSWER_HUGE);
	{
		struct https_target t = {.url = url_of("127.0.0.1", s.port), .ca_file = ca};
		CHECK_INT_EQ(
			https_request(&t, NULL, "GET", "/", NULL, NULL, &res, err, sizeof(err)),
			-HTTPS_EPROTOCOL);
		printf("  %s\n", err);
		CHECK(strstr(err, "longer than") != NULL);
	}
	server_stop(&s);

	printf("case: a server of another CA: untrusted, with its fingerprint\n");
	server_start(&s, path_in(other, "broker-127.0.0.1.pem"),
		     path_in(other, "broker-127.0.0.1.key"), NULL, ANSWER_OK);
	{
		struct https_target t = {.url = url_of("127.0.0.1", s.port), .ca_file = ca};
		CHECK_INT_EQ(https_request(&t, "the broker", "GET", "/", NULL, NULL, &res, err,
					   sizeof(err)),
			     -HTTPS_EUNTRUSTED);
		printf("  %s\n", err);
		CHECK(strstr(err, "is not trusted") != NULL);
		CHECK(strstr(err, pin_other) != NULL);
	}
	server_stop(&s);

	printf("case: a certificate for another host name\n");
	server_start(&s, path_in(tmp, "broker-broker.test.pem"),
		     path_in(tmp, "broker-broker.test.key"), NULL, ANSWER_OK);
	{
		struct https_target t = {.url = url_of("127.0.0.1", s.port), .ca_file = ca};
		CHECK_INT_EQ(
			https_request(&t, NULL, "GET", "/", NULL, NULL, &res, err, sizeof(err)),
			-HTTPS_EUNTRUSTED);
		printf("  %s\n", err);
		CHECK(strstr(err, "mismatch") != NULL || strstr(err, "not trusted") != NULL);
	}
	server_stop(&s);

	printf("case: pins\n");
	for (int i = 0; i < 4; i++) {
		/* 0: pin alone, right; 1: pin alone, wrong; 2: CA + right pin; 3: CA + wrong */
		const char *p = i % 2 == 0 ? pin : pin_other;
		server_start(&s, crt, key, NULL, ANSWER_OK);
		struct https_target t = {.url = url_of("127.0.0.1", s.port),
					 .ca_file = i >= 2 ? ca : NULL,
					 .pin_sha256 = p};
		rc = https_request(&t, NULL, "GET", "/", NULL, NULL, &res, err, sizeof(err));
		CHECK_INT_EQ(rc, i % 2 == 0 ? 0 : -HTTPS_EUNTRUSTED);
		if (rc == 0)
			CHECK_INT_EQ(res.status, 200);
		else
			CHECK(strstr(err, "does not match the pinned") != NULL);
		https_response_deinit(&res);
		server_stop(&s);
	}
	{
		struct https_target t = {.url = "https://127.0.0.1:1", .pin_sha256 = "abc"};
		CHECK_INT_EQ(
			https_request(&t, NULL, "GET", "/", NULL, NULL, &res, err, sizeof(err)),
			-HTTPS_EURL);
	}

	printf("case: mutual TLS\n");
	server_start(&s, crt, key, ca, ANSWER_OK);
	{
		struct https_target t = {.url = url_of("127.0.0.1", s.port),
					 .ca_file = ca,
					 .cert_file = path_in(tmp, "agent-host17.pem"),
					 .key_file = path_in(tmp, "agent-host17.key")};
		CHECK_INT_EQ(https_request(&t, NULL, "POST", "/api/v1/agent/heartbeat", NULL, NULL,
					   &res, err, sizeof(err)),
			     0);
		CHECK_INT_EQ(res.status, 200);
		https_response_deinit(&res);
	}
	server_stop(&s);
	CHECK_STR_EQ(s.client_cn, "host17");
	server_start(&s, crt, key, ca, ANSWER_OK);
	{
		struct https_target t = {.url = url_of("127.0.0.1", s.port), .ca_file = ca};
		CHECK(https_request(&t, NULL, "GET", "/", NULL, NULL, &res, err, sizeof(err)) < 0);
		printf("  without a certificate: %s\n", err);
		https_response_deinit(&res);
	}
	server_stop(&s);
	CHECK_INT_EQ(s.handshake_ok, 0);
	{
		struct https_target t = {.url = "https://127.0.0.1:1",
					 .ca_file = ca,
					 .cert_file = path_in(tmp, "nope.pem")};
		CHECK_INT_EQ(
			https_request(&t, NULL, "GET", "/", NULL, NULL, &res, err, sizeof(err)),
			-HTTPS_EFILE);
		printf("  %s\n", err);
		CHECK(strstr(err, "nope.pem") != NULL);
		t = (struct https_target){.url = "https://127.0.0.1:1",
					  .ca_file = path_in(tmp, "missing-ca.pem")};
		CHECK_INT_EQ(
			https_request(&t, NULL, "GET", "/", NULL, NULL, &res, err, sizeof(err)),
			-HTTPS_EFILE);
	}

	printf("case: nobody listening, a silent server, an unknown host\n");
	{
		struct https_target t = {.url = "https://127.0.0.1:1", .ca_file = ca};
		CHECK_INT_EQ(https_request(&t, "the broker", "GET", "/", NULL, NULL, &res, err,
					   sizeof(err)),
			     -HTTPS_EUNREACHABLE);
		printf("  %s\n", err);
		CHECK(strstr(err, "cannot reach the broker at 127.0.0.1:1: Connection refused") !=
		      NULL);
	}
	server_start(&s, crt, key, NULL, ANSWER_SILENT);
	{
		struct https_target t = {
			.url = url_of("127.0.0.1", s.port), .ca_file = ca, .timeout_ms = 300};
		CHECK_INT_EQ(
			https_request(&t, NULL, "GET", "/", NULL, NULL, &res, err, sizeof(err)),
			-HTTPS_EUNREACHABLE);
		printf("  %s\n", err);
		CHECK(strstr(err, "timed out") != NULL);
	}
	server_stop(&s);
	{
		struct https_target t = {.url = "https://no-such-host.invalid:8443", .ca_file = ca};
		CHECK_INT_EQ(
			https_request(&t, NULL, "GET", "/", NULL, NULL, &res, err, sizeof(err)),
			-HTTPS_EUNREACHABLE);
		printf("  %s\n", err);
		CHECK(strstr(err, "no-such-host.invalid") != NULL);
	}

	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmp);
	}
	return check_done("test_https");
}
