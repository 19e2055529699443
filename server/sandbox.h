/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_SANDBOX_H
#define HIGHRISE_SANDBOX_H

/*
 * Confining a desktop's worker process (worker.h), in two steps around the
 * console connection (docs/architecture.md "The worker and its sandbox"):
 *
 *  sandbox_limits   at start: resource limits (address space, no core
 *                   dumps, few descriptors),
 *                   no_new_privs, not dumpable (not traceable).
 *  sandbox_enter    once the console's connection exists and before any of
 *                   its bytes are parsed (capture.h cfg->connected): chroot
 *                   into an empty directory, drop to the worker's own uid
 *                   and gid (root only), then a seccomp filter that refuses
 *                   new sockets, connections, files opened for writing,
 *                   programs, other processes (ptrace, signals, new
 *                   processes), mounts, namespaces, modules, keys and BPF.
 *
 * Builds with AddressSanitizer keep the file system (LeakSanitizer reads
 * /proc at exit) and allow ptrace and process clones (its StopTheWorld
 * attaches to the threads): sandbox_describe says so. RLIMIT_AS is not
 * used there either (ASan reserves terabytes); the agent's RSS watchdog
 * bounds memory in every build.
 *
 * Both return 0 or a negative errno and log what failed; the worker then
 * refuses to run (CAPTURE_FAIL_SANDBOX), it never runs unconfined.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sandbox_cfg {
	bool seccomp;
	bool chroot;		/* root only */
	const char *chroot_dir; /* an empty directory nobody can write */
	bool setuid;		/* root only */
	uid_t uid;
	gid_t gid;
	uint32_t memory_mb; /* RLIMIT_AS; 0: none */
};

int sandbox_limits(const struct sandbox_cfg *cfg);
int sandbox_enter(const struct sandbox_cfg *cfg);

/* One line for the log: what sandbox_enter applied ("seccomp filter; chroot ...; uid 62001"). */
void sandbox_describe(const struct sandbox_cfg *cfg, char *buf, size_t cap);

/* Whether this is a sanitizer build (the exceptions above apply). */
bool sandbox_sanitized(void);

#endif
