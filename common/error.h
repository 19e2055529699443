/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_ERROR_H
#define HIGHRISE_ERROR_H

/*
 * Error codes (STYLE.md "Errors"): functions that can fail return 0 or a
 * negative value, either a negated errno (-ENOMEM, -EAGAIN, ...) or one of the
 * project codes below, which sit far below any errno value. hr_strerror()
 * turns either kind into a sentence for logs and for people.
 */

enum hr_error {
	HR_OK = 0,
	HR_ERR_BASE = -10000,

	/* wire protocol (proto/msg.h) */
	HR_EPROTO_TRUNCATED = HR_ERR_BASE - 1, /* the frame ends before its fields do */
	HR_EPROTO_TOO_LONG = HR_ERR_BASE - 2,  /* a length above the hard maximum */
	HR_EPROTO_EMPTY = HR_ERR_BASE - 3,     /* a frame length of 0 (no type byte) */
	HR_EPROTO_VERSION = HR_ERR_BASE - 4,   /* a protocol version we do not speak */
	HR_EPROTO_INVALID = HR_ERR_BASE - 5,   /* a field out of its documented range */

	/* connect tickets (proto/ticket.h) */
	HR_ETICKET_MALFORMED = HR_ERR_BASE - 20,
	HR_ETICKET_SIGNATURE = HR_ERR_BASE - 21,
	HR_ETICKET_EXPIRED = HR_ERR_BASE - 22,
	HR_ETICKET_NOT_YET_VALID = HR_ERR_BASE - 23,
	HR_ETICKET_REPLAYED = HR_ERR_BASE - 24,
	HR_ETICKET_WRONG_AGENT = HR_ERR_BASE - 25,
	HR_ETICKET_WRONG_DESKTOP = HR_ERR_BASE - 26,
	HR_ETICKET_CACHE_FULL = HR_ERR_BASE - 27,
	HR_ETICKET_UNBOUND = HR_ERR_BASE - 28, /* no or a wrong proof of the TLS connection */

	/* resume secrets (proto/resume.h) */
	HR_ERESUME_UNKNOWN = HR_ERR_BASE - 30, /* no such resume id: used, revoked or expired */
	HR_ERESUME_PROOF = HR_ERR_BASE - 31,   /* the proof does not match this connection */

	/* configuration (common/config.h) */
	HR_ECONFIG = HR_ERR_BASE - 40,

	/* TLS (proto/tls.h) */
	HR_ETLS = HR_ERR_BASE - 60,

	/* HTTPS calls to the broker's API (brokerapi/https.h's HTTPS_E*, negated) */
	HR_EHTTPS_URL = HR_ERR_BASE - 80,
	HR_EHTTPS_FILE = HR_ERR_BASE - 81,
	HR_EHTTPS_UNREACHABLE = HR_ERR_BASE - 82,
	HR_EHTTPS_UNTRUSTED = HR_ERR_BASE - 83,
	HR_EHTTPS_PROTOCOL = HR_ERR_BASE - 84,

	/* the broker's answers (brokerapi/brokerapi.h) */
	HR_EBROKER_REFUSED = HR_ERR_BASE - 90, /* a 4xx */
	HR_EBROKER_FAILED = HR_ERR_BASE - 91,  /* a 5xx */
	HR_EBROKER_ANSWER = HR_ERR_BASE - 92,  /* a 2xx that is not a JSON object */

	HR_ERR_LAST = HR_ERR_BASE - 99,
};

/* A static, human-readable description of a 0/negative return value. Never NULL. */
const char *hr_strerror(int err);

#include <stddef.h>

/*
 * A sentence for people into the caller's buffer (the "char *err, size_t
 * errlen" of calls that explain their failures): nothing when err is NULL
 * or errlen 0; one cut short ends in "..." (its start says what happened).
 */
void hr_errorf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
