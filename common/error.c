/* SPDX-License-Identifier: MIT */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *hr_strerror(int err)
{
	switch (err) {
	case HR_OK:
		return "success";
	case HR_EPROTO_TRUNCATED:
		return "protocol error: message truncated";
	case HR_EPROTO_TOO_LONG:
		return "protocol error: length above the maximum";
	case HR_EPROTO_EMPTY:
		return "protocol error: empty frame";
	case HR_EPROTO_VERSION:
		return "protocol error: unsupported protocol version";
	case HR_EPROTO_INVALID:
		return "protocol error: field out of range";
	case HR_ETICKET_MALFORMED:
		return "ticket is malformed";
	case HR_ETICKET_SIGNATURE:
		return "ticket signature does not verify";
	case HR_ETICKET_EXPIRED:
		return "ticket has expired";
	case HR_ETICKET_NOT_YET_VALID:
		return "ticket is not valid yet (check the clocks)";
	case HR_ETICKET_REPLAYED:
		return "ticket was already used";
	case HR_ETICKET_WRONG_AGENT:
		return "ticket is for another agent";
	case HR_ETICKET_WRONG_DESKTOP:
		return "ticket is for another desktop";
	case HR_ETICKET_CACHE_FULL:
		return "too many live tickets; try again shortly";
	case HR_ETICKET_UNBOUND:
		return "ticket is not bound to this connection (no or a wrong proof of the client "
		       "key)";
	case HR_ERESUME_UNKNOWN:
		return "resume id is unknown (already used, revoked or expired)";
	case HR_ERESUME_PROOF:
		return "resume proof does not match this connection";
	case HR_ECONFIG:
		return "configuration error";
	case HR_ETLS:
		return "TLS error";
	case HR_EHTTPS_URL:
		return "the address is not https://HOST[:PORT]";
	case HR_EHTTPS_FILE:
		return "the CA, certificate or key file cannot be loaded";
	case HR_EHTTPS_UNREACHABLE:
		return "the server cannot be reached";
	case HR_EHTTPS_UNTRUSTED:
		return "the server's certificate is not trusted";
	case HR_EHTTPS_PROTOCOL:
		return "the server's answer is not the HTTP expected";
	case HR_EBROKER_REFUSED:
		return "the broker refused";
	case HR_EBROKER_FAILED:
		return "the broker failed to answer (a server error)";
	case HR_EBROKER_ANSWER:
		return "the broker's answer is not the JSON expected";
	default:
		break;
	}
	if (err < 0 && err > HR_ERR_BASE)
		return strerror(-err); /* glibc's strerror is thread-safe for known values */
	return "unknown error";
}

void hr_errorf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	if (vsnprintf(err, errlen, fmt, ap) >= (int)errlen && errlen > 4)
		memcpy(err + errlen - 4, "...", 4);
	va_end(ap);
}
