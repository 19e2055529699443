/* SPDX-License-Identifier: MIT */
#include "sandbox.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define FILES_MAX 64 /* the link, the console, stdio, X's and libav's few */

bool sandbox_sanitized(void)
{
	return SANITIZED;
}

static int set_limit(int what, rlim_t v, const char *name)
{
	struct rlimit rl = {v, v};
	if (setrlimit(what, &rl) == 0)
		return 0;
	int err = errno;
	log_error("sandbox: setrlimit(%s): %s", name, strerror(err));
	return -err;
}

int sandbox_limits(const struct sandbox_cfg *cfg)
{
	int rc;

	/*
	 * A crash dumps nothing (it may hold another user's pixels). No
	 * RLIMIT_FSIZE: stderr, the log, may be a file the worker must write.
	 */
	if ((rc = set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE")) < 0 ||
	    (rc = set_limit(RLIMIT_NOFILE, FILES_MAX, "RLIMIT_NOFILE")) < 0)
		return rc;
	if (cfg->memory_mb && !SANITIZED &&
	    (rc = set_limit(RLIMIT_AS, (rlim_t)cfg->memory_mb << 20, "RLIMIT_AS")) < 0)
		return rc;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		rc = -errno;
		log_error("sandbox: no_new_privs: %s", strerror(-rc));
		return rc;
	}
	/* not traceable or readable through /proc by other processes of its uid */
	if (!SANITIZED && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		rc = -errno;
		log_error("sandbox: PR_SET_DUMPABLE: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

static int enter_chroot(const char *dir)
{
	if (chroot(dir) != 0 || chdir("/") != 0) {
		int err = errno;
		log_error("sandbox: chroot %s: %s", dir, strerror(err));
		return -err;
	}
	return 0;
}

static int drop_ids(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0) {
		int err = errno;
		log_error("sandbox: cannot become uid %u gid %u: %s", (unsigned)uid, (unsigned)gid,
			  strerror(err));
		return -err;
	}
	/* and there is no way back */
	if (setresuid(0, 0, 0) == 0) {
		log_error("sandbox: could become root again after dropping to uid %u",
			  (unsigned)uid);
		return -EPERM;
	}
	return 0;
}

/* Syscalls a worker never needs once it has its console: refused with EPERM. */
static const int denied_always[] = {
	/* other programs, and the network beyond the one console connection */
	SCMP_SYS(execve),
	SCMP_SYS(execveat),
	SCMP_SYS(socket),
	SCMP_SYS(socketpair),
	SCMP_SYS(connect),
	SCMP_SYS(bind),
	SCMP_SYS(listen),
	SCMP_SYS(accept),
	SCMP_SYS(accept4),
	/* processes */
	SCMP_SYS(fork),
	SCMP_SYS(vfork),
	SCMP_SYS(tkill),
	SCMP_SYS(pidfd_open),
	SCMP_SYS(pidfd_getfd),
	SCMP_SYS(pidfd_send_signal),
	SCMP_SYS(kcmp),
	SCMP_SYS(process_vm_readv),
	SCMP_SYS(process_vm_writev),
	/* the file system: nothing is created, renamed, removed or re-owned */
	SCMP_SYS(creat),
	SCMP_SYS(truncate),
	SCMP_SYS(unlink),
	SCMP_SYS(unlinkat),
	SCMP_SYS(rename),
	SCMP_SYS(renameat),
	SCMP_SYS(renameat2),
	SCMP_SYS(mkdir),
	SCMP_SYS(mkdirat),
	SCMP_SYS(rmdir),
	SCMP_SYS(link),
	SCMP_SYS(linkat),
	SCMP_SYS(symlink),
	SCMP_SYS(symlinkat),
	SCMP_SYS(chmod),
	SCMP_SYS(fchmod),
	SCMP_SYS(fchmodat),
	SCMP_SYS(chown),
	SCMP_SYS(fchown),
	SCMP_SYS(lchown),
	SCMP_SYS(fchownat),
	SCMP_SYS(mknod),
	SCMP_SYS(mknodat),
	SCMP_SYS(open_by_handle_at),
	SCMP_SYS(name_to_handle_at),
	/* the system */
	SCMP_SYS(mount),
	SCMP_SYS(umount2),
	SCMP_SYS(pivot_root),
	SCMP_SYS(chroot),
	SCMP_SYS(setns),
	SCMP_SYS(unshare),
	SCMP_SYS(swapon),
	SCMP_SYS(swapoff),
	SCMP_SYS(reboot),
	SCMP_SYS(kexec_load),
	SCMP_SYS(kexec_file_load),
	SCMP_SYS(init_module),
	SCMP_SYS(finit_module),
	SCMP_SYS(delete_module),
	SCMP_SYS(acct),
	SCMP_SYS(settimeofday),
	SCMP_SYS(clock_settime),
	SCMP_SYS(clock_adjtime),
	SCMP_SYS(adjtimex),
	SCMP_SYS(sethostname),
	SCMP_SYS(setdomainname),
	SCMP_SYS(iopl),
	SCMP_SYS(ioperm),
	SCMP_SYS(bpf),
	SCMP_SYS(perf_event_open),
	SCMP_SYS(userfaultfd),
	SCMP_SYS(keyctl),
	SCMP_SYS(add_key),
	SCMP_SYS(request_key),
	SCMP_SYS(io_uring_setup),
	SCMP_SYS(io_uring_enter),
	SCMP_SYS(io_uring_register),
	SCMP_SYS(personality),
	SCMP_SYS(quotactl),
	SCMP_SYS(lookup_dcookie),
	SCMP_SYS(fanotify_init),
	SCMP_SYS(mbind),
	SCMP_SYS(migrate_pages),
	SCMP_SYS(move_pages),
	/* identities: dropped already, never changed again */
	SCMP_SYS(setuid),
	SCMP_SYS(setgid),
	SCMP_SYS(setreuid),
	SCMP_SYS(setregid),
	SCMP_SYS(setresuid),
	SCMP_SYS(setresgid),
	SCMP_SYS(setgroups),
	SCMP_SYS(setfsuid),
	SCMP_SYS(setfsgid),
	SCMP_SYS(capset),
};

/* What LeakSanitizer needs at exit in sanitizer builds (sandbox.h). */
static const int denied_unless_sanitized[] = {
	SCMP_SYS(ptrace),
};

/*
 * One argument comparison. libseccomp's SCMP_A0..5 macros leave datum_b to
 * the compiler's zero, which -Wmissing-field-initializers refuses.
 */
static struct scmp_arg_cmp cmp(unsigned arg, enum scmp_compare op, scmp_datum_t a, scmp_datum_t b)
{
	return (struct scmp_arg_cmp){.arg = arg, .op = op, .datum_a = a, .datum_b = b};
}

static int add(scmp_filter_ctx ctx, int sys, unsigned n, const struct scmp_arg_cmp *cmps)
{
	int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), sys, n, cmps);
	/* a syscall this architecture does not have is no hole */
	return rc == -EDOM || rc == -EFAULT ? 0 : rc;
}

static int install_seccomp(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	pid_t self = getpid();
	int rc = 0;

	if (!ctx)
		return -ENOMEM;
	/*
	 * Every thread, not only the caller: the worker's link reader exists
	 * already, and code running in one thread can take over another.
	 */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (size_t i = 0; rc == 0 && i < sizeof(denied_always) / sizeof(denied_always[0]); i++)
		rc = add(ctx, denied_always[i], 0, NULL);
	if (!SANITIZED)
		for (size_t i = 0; rc == 0 && i < sizeof(denied_unless_sanitized) / sizeof(int);
		     i++)
			rc = add(ctx, denied_unless_sanitized[i], 0, NULL);

	/* signals only to itself (abort, pthread_kill); kill(0 or -pgrp) is someone else too */
	if (rc == 0) {
		struct scmp_arg_cmp other = cmp(0, SCMP_CMP_NE, (scmp_datum_t)self, 0);
		rc = add(ctx, SCMP_SYS(kill), 1, &other);
		if (rc == 0)
			rc = add(ctx, SCMP_SYS(tgkill), 1, &other);
	}
	/* files: read-only opens only */
	if (rc == 0) {
		struct scmp_arg_cmp wr1 = cmp(1, SCMP_CMP_MASKED_EQ, O_WRONLY, O_WRONLY);
		struct scmp_arg_cmp rw1 = cmp(1, SCMP_CMP_MASKED_EQ, O_RDWR, O_RDWR);
		struct scmp_arg_cmp cr1 = cmp(1, SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT);
		struct scmp_arg_cmp wr2 = cmp(2, SCMP_CMP_MASKED_EQ, O_WRONLY, O_WRONLY);
		struct scmp_arg_cmp rw2 = cmp(2, SCMP_CMP_MASKED_EQ, O_RDWR, O_RDWR);
		struct scmp_arg_cmp cr2 = cmp(2, SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT);
		if ((rc = add(ctx, SCMP_SYS(open), 1, &wr1)) == 0 &&
		    (rc = add(ctx, SCMP_SYS(open), 1, &rw1)) == 0 &&
		    (rc = add(ctx, SCMP_SYS(open), 1, &cr1)) == 0 &&
		    (rc = add(ctx, SCMP_SYS(openat), 1, &wr2)) == 0 &&
		    (rc = add(ctx, SCMP_SYS(openat), 1, &rw2)) == 0)
			rc = add(ctx, SCMP_SYS(openat), 1, &cr2);
		/* openat2 hides its flags in a struct: refuse it, glibc falls back to openat */
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0);
	}
	/*
	 * New threads only (pthread_create: CLONE_THREAD), no new processes.
	 * clone3 passes its flags in memory a filter cannot read: ENOSYS makes
	 * glibc fall back to clone. LeakSanitizer clones a tracer process.
	 */
	if (rc == 0) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
		if (rc == 0 && !SANITIZED) {
			struct scmp_arg_cmp nothread = cmp(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0);
			rc = add(ctx, SCMP_SYS(clone), 1, &nothread);
		}
	}
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		log_error("sandbox: cannot install the seccomp filter: %s", strerror(-rc));
	return rc;
}

/* What sandbox_enter did, for sandbox_describe (one sandbox per process). */
static struct {
	bool root; /* the process was root when it entered */
	bool chroot, setuid, seccomp;
} applied;

int sandbox_enter(const struct sandbox_cfg *cfg)
{
	int rc;

	applied.root = geteuid() == 0;
	if (cfg->chroot && applied.root && !SANITIZED) {
		if ((rc = enter_chroot(cfg->chroot_dir)) < 0)
			return rc;
		applied.chroot = true;
	}
	if (cfg->setuid && applied.root) {
		if ((rc = drop_ids(cfg->uid, cfg->gid)) < 0)
			return rc;
		applied.setuid = true;
	}
	if (cfg->seccomp) {
		if ((rc = install_seccomp()) < 0)
			return rc;
		applied.seccomp = true;
	}
	return 0;
}

void sandbox_describe(const struct sandbox_cfg *cfg, char *buf, size_t cap)
{
	const char *fs = applied.chroot	 ? "chroot into an empty directory"
			 : !cfg->chroot	 ? "no chroot"
			 : !applied.root ? "no chroot (not root)"
					 : "no chroot (sanitizer build)";
	char ids[48];

	if (applied.setuid)
		snprintf(ids, sizeof(ids), "uid %u gid %u", (unsigned)cfg->uid, (unsigned)cfg->gid);
	else
		snprintf(ids, sizeof(ids), "uid %u (the agent's)", (unsigned)geteuid());
	snprintf(buf, cap, "%s; %s; %s; no_new_privs; memory limit %s%u MiB%s",
		 applied.seccomp ? "seccomp filter" : "NO seccomp filter", fs, ids,
		 SANITIZED ? "(watchdog) " : "(RLIMIT_AS, watchdog) ", cfg->memory_mb,
		 SANITIZED ? "; ptrace allowed for the leak checker" : "");
}
