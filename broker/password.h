/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_PASSWORD_H
#define HIGHRISE_PASSWORD_H

/*
 * Password hashing with argon2id (libargon2, RFC 9106), in the PHC string
 * form ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash") that keeps the
 * parameters with the hash, so they can be raised later without breaking
 * old hashes.
 *
 * Both calls are slow on purpose (tens of milliseconds, 19 MiB): call them
 * off any event loop that must stay responsive. Thread-safe.
 */

#include <stddef.h>
#include <stdint.h>

#define PASSWORD_HASH_MAX 160
#define PASSWORD_MAX	  1024 /* bytes; longer passwords are refused before hashing */

struct password_cost {
	uint32_t t_cost;   /* iterations; 0: 2 */
	uint32_t m_cost;   /* KiB; 0: 19456 (OWASP's argon2id minimum) */
	uint32_t parallel; /* lanes; 0: 1 */
};

/* Hashes password with a fresh 16-byte salt into out. 0, -EINVAL or -EIO. */
int password_hash(const char *password, const struct password_cost *cost, char *out, size_t cap);

/* 0 when password matches encoded, -EACCES when not, -EINVAL for a bad hash. */
int password_verify(const char *password, const char *encoded);

/*
 * Spends the same time as a verification against a real hash: for unknown
 * users, so that their answer takes as long as a wrong password's.
 */
void password_dummy_verify(const char *password);

#endif
