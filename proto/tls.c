/* SPDX-License-Identifier: MIT */
#include "tls.h"

#include "error.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	enum tls_role role;
};

/* The pin lives on the SSL_CTX (freed with it), so connections outlive tls_ctx_free. */
struct tls_pin {
	uint8_t sha256[32];
	bool pin_only; /* no CA configured: the pin alone authenticates the server */
};

static int pin_index = -1;
static pthread_once_t pin_once = PTHREAD_ONCE_INIT;

static void pin_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void pin_index_init(void)
{
	pin_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, pin_free);
}

static void log_ssl_errors(const char *what)
{
	unsigned long e;
	char buf[256];
	int any = 0;

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_error("tls: %s: %s", what, buf);
		any = 1;
	}
	if (!any)
		log_error("tls: %s", what);
}

int tls_cert_spki_sha256(X509 *cert, uint8_t out[32])
{
	unsigned char *der = NULL;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	unsigned int mdlen = 0;
	int ok;

	if (len <= 0)
		return -EINVAL;
	ok = EVP_Digest(der, (size_t)len, out, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32;
	OPENSSL_free(der);
	return ok ? 0 : -EINVAL;
}

void tls_hex(const uint8_t in[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[64] = '\0';
}

/* "ab:cd:..." or "abcd..." (any case) -> 32 bytes. */
int tls_parse_pin(const char *s, uint8_t out[32])
{
	size_t n = 0;
	int nibble = -1;

	for (; *s; s++) {
		int v;
		if (*s == ':' || *s == ' ')
			continue;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
		else
			return -EINVAL;
		if (nibble < 0) {
			nibble = v;
		} else {
			if (n == 32)
				return -EINVAL;
			out[n++] = (uint8_t)(nibble << 4 | v);
			nibble = -1;
		}
	}
	return n == 32 && nibble < 0 ? 0 : -EINVAL;
}

/*
 * Runs for every certificate of the peer's chain, leaf last (depth 0).
 * Without a pin, OpenSSL's verdict stands. With one, the leaf's SPKI must
 * match; in pin-only mode chain and name errors are forgiven because the
 * pin is the trust anchor.
 */
static int verify_cb(int preverify_ok, X509_STORE_CTX *sctx)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_pin *pin = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), pin_index) : NULL;
	uint8_t got[32];

	if (!pin)
		return preverify_ok;
	if (!preverify_ok && !pin->pin_only)
		return 0;
	if (X509_STORE_CTX_get_error_depth(sctx) > 0) {
		if (!preverify_ok)
			X509_STORE_CTX_set_error(sctx, X509_V_OK);
		return 1;
	}
	if (tls_cert_spki_sha256(X509_STORE_CTX_get_current_cert(sctx), got) < 0 ||
	    CRYPTO_memcmp(got, pin->sha256, 32) != 0) {
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	if (!preverify_ok)
		X509_STORE_CTX_set_error(sctx, X509_V_OK);
	return 1;
}

static int load_identity(SSL_CTX *c, const struct tls_cfg *cfg)
{
	if (SSL_CTX_use_certificate_chain_file(c, cfg->cert_file) != 1) {
		log_ssl_errors(cfg->cert_file);
		log_error("tls: cannot load certificate %s (a PEM file made by highrise-certs?)",
			  cfg->cert_file);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(c, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
		log_ssl_errors(cfg->key_file);
		log_error("tls: cannot load private key %s", cfg->key_file);
		return -1;
	}
	if (SSL_CTX_check_private_key(c) != 1) {
		log_error("tls: private key %s does not belong to certificate %s", cfg->key_file,
			  cfg->cert_file);
		return -1;
	}
	return 0;
}

/* Every certificate of a PEM text into the context's trust store; 0, or -1 (logged). */
static int load_ca_pem(SSL_CTX *c, const char *pem)
{
	X509_STORE *store = SSL_CTX_get_cert_store(c);
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x;
	int n = 0;

	if (!bio)
		return -1;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (X509_STORE_add_cert(store, x) == 1)
			n++;
		X509_free(x);
	}
	ERR_clear_error(); /* the end of the text reads as an error */
	BIO_free(bio);
	if (n == 0) {
		log_error("tls: the CA text holds no certificate");
		return -1;
	}
	return 0;
}

struct tls_ctx *tls_ctx_new(enum tls_role role, const struct tls_cfg *cfg)
{
	struct tls_ctx *ctx;
	SSL_CTX *c;

	pthread_once(&pin_once, pin_index_init);
	c = SSL_CTX_new(role == TLS_SERVER ? TLS_server_method() : TLS_client_method());
	if (!c) {
		log_ssl_errors("cannot create an SSL context");
		return NULL;
	}
	/* TLS 1.3 only (DESIGN.md); older peers fail the handshake with protocol_version */
	if (SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1) {
		log_ssl_errors("cannot restrict the context to TLS 1.3");
		goto fail;
	}
	SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);

	if (role == TLS_SERVER) {
		if (!cfg->cert_file || !cfg->key_file) {
			log_error("tls: a server needs a certificate and a key (cert_file, "
				  "key_file)");
			goto fail;
		}
		if (load_identity(c, cfg) < 0)
			goto fail;
		SSL_CTX_set_num_tickets(c, 0); /* no resumption: saves a message per handshake */
		if (cfg->require_client_cert || cfg->request_client_cert) {
			STACK_OF(X509_NAME) * names;
			if (!cfg->ca_file) {
				log_error("tls: mutual TLS needs ca_file to verify clients");
				goto fail;
			}
			if (SSL_CTX_load_verify_locations(c, cfg->ca_file, NULL) != 1) {
				log_ssl_errors(cfg->ca_file);
				log_error("tls: cannot load CA file %s", cfg->ca_file);
				goto fail;
			}
			names = SSL_load_client_CA_file(cfg->ca_file);
			if (names)
				SSL_CTX_set_client_CA_list(c, names);
			SSL_CTX_set_verify(c,
					   SSL_VERIFY_PEER |
						   (cfg->require_client_cert
							    ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
							    : 0),
					   NULL);
		} else {
			SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
		}
	} else {
		struct tls_pin *pin = NULL;

		if (cfg->pin_sha256) {
			pin = calloc(1, sizeof(*pin));
			if (!pin)
				goto fail;
			if (tls_parse_pin(cfg->pin_sha256, pin->sha256) < 0) {
				log_error("tls: pin '%s' is not a SHA-256 in hex (64 digits)",
					  cfg->pin_sha256);
				free(pin);
				goto fail;
			}
			pin->pin_only = cfg->ca_file == NULL && cfg->ca_pem == NULL;
			SSL_CTX_set_ex_data(c, pin_index, pin); /* freed with the SSL_CTX */
		}
		if (cfg->ca_pem) {
			if (load_ca_pem(c, cfg->ca_pem) < 0)
				goto fail;
		} else if (cfg->ca_file) {
			if (SSL_CTX_load_verify_locations(c, cfg->ca_file, NULL) != 1) {
				log_ssl_errors(cfg->ca_file);
				log_error("tls: cannot load CA file %s", cfg->ca_file);
				goto fail;
			}
		} else if (!pin && SSL_CTX_set_default_verify_paths(c) != 1) {
			log_ssl_errors("cannot load the system's CA store");
			goto fail;
		}
		if (cfg->cert_file && load_identity(c, cfg) < 0)
			goto fail;
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER, verify_cb);
	}

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		goto fail;
	ctx->ssl_ctx = c;
	ctx->role = role;
	return ctx;
fail:
	SSL_CTX_free(c);
	return NULL;
}

SSL_CTX *tls_ctx_ssl_ctx(struct tls_ctx *ctx)
{
	return ctx ? ctx->ssl_ctx : NULL;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl_ctx); /* live SSL objects hold their own references */
	free(ctx);
}

void tls_set_nodelay(evutil_socket_t fd)
{
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

struct bufferevent *tls_accept(struct tls_ctx *ctx, struct event_base *base, evutil_socket_t fd)
{
	struct bufferevent *bev;
	SSL *ssl;

	if (ctx->role != TLS_SERVER) {
		evutil_closesocket(fd);
		return NULL;
	}
	ssl = SSL_new(ctx->ssl_ctx);
	if (!ssl) {
		log_ssl_errors("cannot create a TLS session");
		evutil_closesocket(fd);
		return NULL;
	}
	evutil_make_socket_nonblocking(fd);
	evutil_make_socket_closeonexec(fd);
	tls_set_nodelay(fd);
	bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!bev) {
		/* libevent frees neither on failure */
		SSL_free(ssl);
		evutil_closesocket(fd);
		log_error("tls: cannot create a TLS bufferevent");
	}
	return bev;
}

static int is_ip_literal(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

SSL *tls_client_ssl(struct tls_ctx *ctx, const char *name)
{
	SSL *ssl;

	if (ctx->role != TLS_CLIENT)
		return NULL;
	ssl = SSL_new(ctx->ssl_ctx);
	if (!ssl) {
		log_ssl_errors("cannot create a TLS session");
		return NULL;
	}
	/* RFC 6066 §3: SNI carries host names only, never address literals */
	if (!is_ip_literal(name))
		SSL_set_tlsext_host_name(ssl, name);
	/* OpenSSL 3 matches an address literal against IP SANs, a name against DNS SANs */
	if (SSL_set1_host(ssl, name) != 1) {
		log_ssl_errors("cannot set the host name to verify");
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

struct bufferevent *tls_connect(struct tls_ctx *ctx, struct event_base *base, const char *host,
				uint16_t port, const char *verify_name)
{
	struct bufferevent *bev;
	SSL *ssl;
	const char *name = verify_name ? verify_name : host;

	ssl = tls_client_ssl(ctx, name);
	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
					     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!bev) {
		SSL_free(ssl);
		log_error("tls: cannot create a TLS bufferevent");
		return NULL;
	}
	/*
	 * Resolve here rather than with bufferevent_socket_connect_hostname: its
	 * blocking lookup reports failure through callbacks the caller has not
	 * set yet, so an unknown name would hang until a timeout.
	 */
	struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
					.ai_socktype = SOCK_STREAM,
					.ai_protocol = IPPROTO_TCP,
					.ai_flags = EVUTIL_AI_ADDRCONFIG};
	struct evutil_addrinfo *ai = NULL;
	char service[8];
	int gai;

	snprintf(service, sizeof(service), "%u", port);
	gai = evutil_getaddrinfo(host, service, &hints, &ai);
	if (gai != 0 || !ai) {
		log_error("tls: cannot resolve %s: %s", host, evutil_gai_strerror(gai));
		bufferevent_free(bev);
		return NULL;
	}
	if (bufferevent_socket_connect(bev, ai->ai_addr, (int)ai->ai_addrlen) < 0) {
		log_error("tls: cannot connect to %s:%u", host, port);
		evutil_freeaddrinfo(ai);
		bufferevent_free(bev);
		return NULL;
	}
	evutil_freeaddrinfo(ai);
	tls_set_nodelay(bufferevent_getfd(bev));
	return bev;
}

/*
 * libevent's bufferevent_openssl queues SSL_get_error() results
 * (SSL_ERROR_SSL, SSL_ERROR_SYSCALL, ...) in the same list as ERR_get_error()
 * codes. Those small numbers name no library; they are not errors to print.
 */
static int is_ssl_get_error_code(unsigned long e)
{
	return !ERR_SYSTEM_ERROR(e) && ERR_GET_LIB(e) == 0;
}

/* The name the client asked to verify: a DNS name or an address literal. */
static void describe_host_mismatch(SSL *ssl, char *buf, size_t len)
{
	X509_VERIFY_PARAM *param = ssl ? SSL_get0_param(ssl) : NULL;
	const char *host = param ? X509_VERIFY_PARAM_get0_host(param, 0) : NULL;
	char *ip = !host && param ? X509_VERIFY_PARAM_get1_ip_asc(param) : NULL;
	const char *name = host ? host : ip;

	snprintf(buf, len, "the peer's certificate is not for this host name%s%s", name ? " " : "",
		 name ? name : "");
	OPENSSL_free(ip);
}

/* An alert the peer sent (RFC 8446 §6.2), in words for whoever reads our log. */
static void describe_alert(int reason, const char *text, char *buf, size_t len)
{
	switch (reason) {
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		snprintf(buf, len, "the peer does not trust the CA of our certificate (%s)", text);
		break;
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
		snprintf(buf, len, "the peer says our certificate has expired (%s)", text);
		break;
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
		snprintf(buf, len, "the peer rejected our certificate (%s)", text);
		break;
	default:
		snprintf(buf, len, "the peer refused the connection (%s)", text);
		break;
	}
}

void tls_describe_error(struct bufferevent *bev, char *buf, size_t len)
{
	int sock_err = EVUTIL_SOCKET_ERROR(); /* before anything can overwrite it */
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	unsigned long e, cause = 0;
	int syscall = 0;

	/* libevent hands them out newest first; OpenSSL queues the root cause first */
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		if (is_ssl_get_error_code(e))
			syscall |= e == SSL_ERROR_SYSCALL;
		else
			cause = e;
	}

	switch (vr) {
	case X509_V_OK:
		break;
	case X509_V_ERR_APPLICATION_VERIFICATION:
		snprintf(buf, len, "the peer's public key does not match the pinned SHA-256");
		return;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		describe_host_mismatch(ssl, buf, len);
		return;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		snprintf(buf, len, "the peer's certificate is not issued by a trusted CA (%s)",
			 X509_verify_cert_error_string(vr));
		return;
	default:
		snprintf(buf, len, "certificate verification failed: %s",
			 X509_verify_cert_error_string(vr));
		return;
	}

	if (cause) {
		char err[256];
		int reason = ERR_GET_REASON(cause);
		const char *text = ERR_reason_error_string(cause);

		ERR_error_string_n(cause, err, sizeof(err));
		if (!text)
			text = err;
		if (ERR_SYSTEM_ERROR(cause))
			snprintf(buf, len, "%s", strerror(reason));
		else if (reason == SSL_R_UNSUPPORTED_PROTOCOL ||
			 reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ||
			 reason == SSL_R_NO_PROTOCOLS_AVAILABLE)
			snprintf(buf, len, "the peer does not speak TLS 1.3 (%s)", text);
		else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ||
			 reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED)
			snprintf(buf, len, "a client certificate is required (%s)", text);
		else if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			snprintf(buf, len,
				 "the peer closed the connection in the middle of TLS (%s)", text);
		else if (reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256)
			describe_alert(reason, text, buf, len);
		else
			snprintf(buf, len, "TLS error: %s", text);
	} else if (syscall && sock_err && sock_err != EAGAIN && sock_err != EWOULDBLOCK &&
		   sock_err != EINPROGRESS && sock_err != EINTR) {
		/* SSL_ERROR_SYSCALL: the socket failed, errno says how */
		snprintf(buf, len, "%s", evutil_socket_error_to_string(sock_err));
	} else if (syscall) {
		snprintf(buf, len, "the peer closed the connection in the middle of TLS");
	} else {
		snprintf(buf, len, "the connection was closed");
	}
}

int tls_peer_spki_sha256(struct bufferevent *bev, uint8_t out[32])
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	X509 *cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
	int rc;

	if (!cert)
		return -ENOENT;
	rc = tls_cert_spki_sha256(cert, out);
	X509_free(cert);
	return rc;
}

int tls_cert_file_spki_sha256(const char *path, uint8_t out[32])
{
	FILE *f = fopen(path, "r");
	X509 *cert;
	int rc;

	if (!f)
		return -errno;
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!cert)
		return -EINVAL;
	rc = tls_cert_spki_sha256(cert, out);
	X509_free(cert);
	return rc;
}

int tls_peer_common_name(struct bufferevent *bev, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	X509 *cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
	int n;

	if (len)
		buf[0] = '\0';
	if (!cert)
		return -ENOENT;
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, (int)len);
	X509_free(cert);
	return n < 0 ? -ENOENT : 0;
}

int tls_export_binding(struct bufferevent *bev, uint8_t out[TLS_BINDING_LEN])
{
	static const char label[] = "EXPORTER-highrise-binding";
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (!ssl || !SSL_is_init_finished(ssl) ||
	    SSL_export_keying_material(ssl, out, TLS_BINDING_LEN, label, sizeof(label) - 1, NULL, 0,
				       0) != 1) {
		ERR_clear_error();
		return HR_ETLS;
	}
	return 0;
}

void tls_describe_session(struct bufferevent *bev, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	if (!ssl) {
		snprintf(buf, len, "no TLS session");
		return;
	}
	snprintf(buf, len, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}
