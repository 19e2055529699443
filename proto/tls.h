/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_TLS_H
#define HIGHRISE_TLS_H

/*
 * TLS transport on libevent's bufferevent_openssl (DESIGN.md: TLS 1.3,
 * certificates verified, host names checked, SPKI pins for kiosks).
 *
 * A struct tls_ctx is one configured SSL_CTX for one role. It only ever
 * negotiates TLS 1.3. Verification is on by default and cannot be turned off:
 *
 *   client: the server's chain must verify against cfg->ca_file (or the
 *           system store when ca_file is NULL and no pin is set) and its
 *           certificate must name the host asked for (SSL_set1_host).
 *           With cfg->pin_sha256, the server's SubjectPublicKeyInfo must
 *           also hash to the pin; with a pin and no ca_file, the pin alone
 *           decides (a kiosk pinned to one agent or broker).
 *   server: presents cfg->cert_file; with cfg->require_client_cert, the
 *           client must present a certificate that verifies against
 *           cfg->ca_file (mutual TLS), else the handshake fails; with
 *           cfg->request_client_cert it is asked for and, when presented,
 *           must verify, but a client without one gets in (the broker:
 *           admins and agents present one, users log in with tokens).
 *
 * This is the one place an SSL_CTX is configured: the agent, the clients,
 * the broker (tls_ctx_ssl_ctx for evhttp) and proto/https.c build theirs
 * here.
 *
 * Thread safety: a tls_ctx may be shared by several threads' event bases
 * once created. A bufferevent belongs to the thread of its event base.
 */

#include <event2/bufferevent.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tls_role {
	TLS_CLIENT,
	TLS_SERVER,
};

struct tls_cfg {
	const char *ca_file;	/* PEM CA bundle that verifies the peer */
	const char *ca_pem;	/* client: the same as text (what the broker hands out), or NULL */
	const char *cert_file;	/* PEM certificate (chain) to present: servers; clients for mTLS */
	const char *key_file;	/* its PEM private key */
	const char *pin_sha256; /* client: SHA-256 of the server's SPKI, hex (colons allowed) */
	bool require_client_cert; /* server: mutual TLS */
	bool request_client_cert; /* server: ask for one, let clients without one in */
};

struct tls_ctx;

/*
 * TCP_NODELAY on a stream socket: small messages (input, ACKs, TLS records
 * of an HTTP answer) leave at once instead of waiting for the peer's delayed
 * ACK (40 ms). tls_accept and tls_connect set it; others (evhttp) call it.
 */
void tls_set_nodelay(evutil_socket_t fd);

/* NULL, with a log line that says which file or setting is wrong, on failure. */
struct tls_ctx *tls_ctx_new(enum tls_role role, const struct tls_cfg *cfg);
/* Connections made from ctx keep working after it is freed. NULL does nothing. */
void tls_ctx_free(struct tls_ctx *ctx);

/* The configured SSL_CTX, for code that makes its own SSL objects (evhttp, https.c). */
SSL_CTX *tls_ctx_ssl_ctx(struct tls_ctx *ctx);

/*
 * Server side: wraps an accepted socket (takes ownership of fd, also on
 * failure). The handshake runs inside the bufferevent: BEV_EVENT_CONNECTED
 * reports it done, BEV_EVENT_ERROR failed (tls_describe_error says why).
 * The bufferevent closes the socket and frees the SSL when freed.
 */
struct bufferevent *tls_accept(struct tls_ctx *ctx, struct event_base *base, evutil_socket_t fd);

/*
 * Client side: connects to host:port (a name or an address literal; names
 * are resolved with a blocking lookup) and verifies the server certificate
 * against verify_name (NULL: host). Returns NULL on immediate failure,
 * including a name that does not resolve (logged).
 */
struct bufferevent *tls_connect(struct tls_ctx *ctx, struct event_base *base, const char *host,
				uint16_t port, const char *verify_name);

/*
 * Why the connection on bev failed, as a sentence for logs and users. Call it
 * from the event callback that reported BEV_EVENT_ERROR (it reads errno for
 * socket errors). In order of precedence:
 *   - our verification of the peer's certificate: "...does not match the
 *     pinned SHA-256", "...is not for this host name NAME", "...is not issued
 *     by a trusted CA (...)", else "certificate verification failed: REASON"
 *     ("certificate has expired", "unsuitable certificate purpose", ...);
 *   - OpenSSL's error: "the peer does not speak TLS 1.3 (...)", "a client
 *     certificate is required (...)", an alert the peer sent ("the peer does
 *     not trust the CA of our certificate", "the peer says our certificate
 *     has expired", "the peer rejected our certificate", "the peer refused
 *     the connection"), else "TLS error: REASON";
 *   - a socket error (strerror text, e.g. "Connection refused"), an EOF in
 *     the middle of TLS, or "the connection was closed".
 * Drains the bufferevent's OpenSSL errors: a second call says less.
 */
void tls_describe_error(struct bufferevent *bev, char *buf, size_t len);

/*
 * A client SSL of ctx for a caller that drives its own socket (a relay
 * without libevent), verifying as tls_connect does: SNI for a host name,
 * the certificate must name `name` (DNS or IP SAN), the pin if one is set.
 * The caller owns it (SSL_free). NULL (logged) for a server ctx or
 * without memory.
 */
SSL *tls_client_ssl(struct tls_ctx *ctx, const char *name);

/* SHA-256 of the peer certificate's SubjectPublicKeyInfo. 0 or -ENOENT. */
int tls_peer_spki_sha256(struct bufferevent *bev, uint8_t out[32]);
/* The same for a PEM certificate file (what `highrise-certs` prints as the pin). */
int tls_cert_file_spki_sha256(const char *path, uint8_t out[32]);
/* 64 lower-case hex digits + NUL. */
void tls_hex(const uint8_t in[32], char out[65]);
/* A pin as people write it ("ab:cd:..." or "abcd...", any case) -> 32 bytes; 0 or -EINVAL. */
int tls_parse_pin(const char *s, uint8_t out[32]);
/* The SHA-256 of a certificate's SubjectPublicKeyInfo (what pins name); 0 or -EINVAL. */
int tls_cert_spki_sha256(X509 *cert, uint8_t out[32]);

/* The peer certificate's subject common name ("" when none), e.g. an agent's name under mTLS. */
int tls_peer_common_name(struct bufferevent *bev, char *buf, size_t len);

/*
 * 32 bytes of keying material unique to this TLS connection (RFC 8446
 * §7.5, SSL_export_keying_material with label "EXPORTER-highrise-binding"
 * and no context), the same on both ends: what ticket and resume proofs
 * bind to (docs/protocol.md §6.3). 0, or HR_ETLS before the handshake.
 */
#define TLS_BINDING_LEN 32
int tls_export_binding(struct bufferevent *bev, uint8_t out[TLS_BINDING_LEN]);

/* The negotiated protocol and cipher ("TLSv1.3 TLS_AES_256_GCM_SHA384"), for logs. */
void tls_describe_session(struct bufferevent *bev, char *buf, size_t len);

#endif
