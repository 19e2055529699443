/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_HOSTPORT_H
#define HIGHRISE_HOSTPORT_H

/*
 * HOST:PORT, the one parser and printer of it: the agent's and broker's
 * listen addresses, console URIs (vnc://, spice://), the broker's https://
 * URL and the clients' --agent.
 *
 *   HOST:PORT   HOST alone    [V6ADDR]:PORT   [V6ADDR] alone
 *
 * HOST is 1..cap-1 bytes of printable ASCII without spaces, '/', '?', '#',
 * '@', '[' or ']' (a name or an address; resolving it is the caller's
 * business). PORT is decimal, 1..65535. Without a port the port is
 * default_port; default_port < 0 makes it required.
 */

#include <stddef.h>

#define HOSTPORT_ANY_HOST 1u /* an empty HOST (":PORT") is allowed: all addresses */
#define HOSTPORT_ANY_PORT 2u /* port 0 is allowed: any free port */
#define HOSTPORT_BARE_V6  4u /* an unbracketed HOST with two colons or more is an IPv6 address */

/*
 * Splits s[0..len) into host (NUL-terminated, cap bytes) and *port.
 * 0; -EINVAL for a bad HOST or brackets; -ERANGE for a bad or missing PORT.
 * Nothing is written on failure.
 */
int hostport_parse(const char *s, size_t len, char *host, size_t cap, int *port, int default_port,
		   unsigned flags);

/* "HOST:PORT", or "[HOST]:PORT" when HOST holds a ':' (IPv6); snprintf's result. */
int hostport_format(char *buf, size_t cap, const char *host, int port);

#endif
