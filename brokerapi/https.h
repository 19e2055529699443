/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_HTTPS_H
#define HIGHRISE_HTTPS_H

/*
 * A small blocking HTTPS/1.1 client for the broker's JSON API
 * (docs/broker-api.md): highrisectl, the agent's broker link and the
 * client's login all speak through it.
 *
 * One request per call on a fresh TLS 1.3 connection ("Connection: close"):
 * the callers ask a few times a minute, so simplicity beats keep-alive.
 * The peer is always verified (its CA file or the system store, and its
 * host name or IP address from the URL); a client certificate is sent when
 * given (mutual TLS for agents and admins). Every step (resolve, connect,
 * handshake, each read and write) is bounded by timeout_ms.
 *
 * Threading: no shared state; call from any thread, several at once. It
 * blocks: never call it on an event loop's thread.
 */

#include "error.h"

#include <stddef.h>

#define HTTPS_RESPONSE_MAX (16 * 1024 * 1024) /* a longer answer is an error */

struct https_target {
	const char *url;	/* "https://HOST[:PORT]" (default port 8443); a path is ignored */
	const char *ca_file;	/* PEM CA(s) to verify the server; NULL: the system's store */
	const char *cert_file;	/* client certificate chain (PEM), or NULL */
	const char *key_file;	/* its key; NULL: in cert_file */
	const char *pin_sha256; /* hex SHA-256 of the server's SPKI (colons allowed), or NULL;
				 * with ca_file it must match as well, without it it alone decides */
	int timeout_ms;		/* per step; 0: 10000 */
};

struct https_response {
	int status;	   /* the HTTP status */
	char *body;	   /* NUL-terminated, malloc'd; "" when empty */
	size_t len;	   /* bytes in body */
	int retry_after_s; /* the Retry-After header, or -1 */
};

/*
 * Returned negated (-HTTPS_EURL...). They are common/error.h's
 * HR_EHTTPS_* codes, far below any errno, so a caller can never take one
 * for -EPERM..-EIO (as the old values 1..5 could be), and hr_strerror
 * names them.
 */
enum https_error {
	HTTPS_EURL = -HR_EHTTPS_URL,   /* the URL is not https://HOST[:PORT] */
	HTTPS_EFILE = -HR_EHTTPS_FILE, /* the CA, certificate or key file cannot be loaded */
	HTTPS_EUNREACHABLE =
		-HR_EHTTPS_UNREACHABLE,		 /* resolution, connect or I/O failed, timed out */
	HTTPS_EUNTRUSTED = -HR_EHTTPS_UNTRUSTED, /* the server's certificate did not verify */
	HTTPS_EPROTOCOL = -HR_EHTTPS_PROTOCOL,	 /* not HTTP, or longer than HTTPS_RESPONSE_MAX */
};

/*
 * METHOD path (e.g. "/api/v1/login") with an optional JSON body and an
 * optional bearer token. 0 with *res filled (any status: 4xx/5xx are
 * answers, not failures), or -HTTPS_E* with a sentence for people in err,
 * e.g. "cannot reach the broker at 10.0.0.1:8443: Connection refused" or
 * "the certificate of 10.0.0.1:8443 is not trusted (self-signed
 * certificate); its SHA-256 fingerprint is AB:CD:...". who names the server
 * in those sentences ("the broker"); NULL says "the server".
 */
int https_request(const struct https_target *t, const char *who, const char *method,
		  const char *path, const char *bearer, const char *json_body,
		  struct https_response *res, char *err, size_t errlen);

/*
 * The answer's head and body, as https_request reads them (exposed for
 * tests/fuzz/fuzz_brokerapi.c): raw holds n bytes and a NUL at raw[n]. 0
 * with res->status, retry_after_s, len and body (moved to raw's start: body
 * == raw, the caller's), or -1 when it is not an HTTP/1.x answer, chunked,
 * or shorter than its Content-Length.
 */
int https_parse_response(char *raw, size_t n, struct https_response *res);

/* Frees res->body; res may be reused. */
void https_response_deinit(struct https_response *res);

/*
 * Splits "https://HOST[:PORT][/...]" (IPv6 in brackets) into host and port.
 * 0, or -HTTPS_EURL.
 */
int https_parse_url(const char *url, char *host, size_t hostcap, char *port, size_t portcap);

#endif
