/* SPDX-License-Identifier: MIT */
/*
 * server/sandbox.c's seccomp filter, seen from inside: a child process
 * confines itself as a desktop worker does (seccomp on; no chroot or uid
 * change, so the test runs as any user) and then tries what a hijacked
 * worker would. Each refusal must be EPERM (or ENOSYS where documented);
 * what a pipeline needs (threads, reads, memory, its own signals) must
 * still work. The child reports one byte per check through a pipe.
 */
#include "check.h"
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum probe {
	P_SOCKET,
	P_SOCKETPAIR,
	P_OPEN_WRITE,
	P_OPEN_CREATE,
	P_EXEC,
	P_FORK,
	P_KILL_PARENT,
	P_SETUID,
	P_READ_OPEN,
	P_THREAD,
	P_MMAP,
	P_SIGNAL_SELF,
	P_OLD_THREAD,
	P_COUNT,
};

static const char *const names[P_COUNT] = {
	"socket() refused",
	"socketpair() refused",
	"open for writing refused",
	"open with O_CREAT refused",
	"execve() refused",
	"fork() refused",
	"kill() of the parent refused",
	"setuid() refused",
	"a read-only open still works",
	"threads still start",
	"mmap still works",
	"signals to itself still work",
	"a thread started before the filter is filtered too",
};

static bool refused(int rc)
{
	return rc < 0 && (errno == EPERM || errno == ENOSYS);
}

static void *thread_fn(void *arg)
{
	return arg;
}

/* A thread that exists before sandbox_enter: it tries socket() when told to. */
static int old_go[2], old_done[2];

static void *old_thread_fn(void *arg)
{
	char c;
	(void)arg;
	if (read(old_go[0], &c, 1) != 1)
		return NULL;
	c = refused(socket(AF_INET, SOCK_STREAM, 0)) ? 1 : 0;
	if (write(old_done[1], &c, 1) != 1)
		return NULL;
	return NULL;
}

static volatile sig_atomic_t got_signal;

static void on_usr1(int sig)
{
	(void)sig;
	got_signal = 1;
}

/* In the confined child: 1 per check that held, 0 per check that did not. */
static void probe_all(int out)
{
	uint8_t ok[P_COUNT] = {0};
	int fd;

	ok[P_SOCKET] = refused(socket(AF_INET, SOCK_STREAM, 0));
	int sv[2];
	ok[P_SOCKETPAIR] = refused(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ok[P_OPEN_WRITE] = refused(open("/dev/null", O_WRONLY));
	ok[P_OPEN_CREATE] = refused(open("/tmp/highrise-sandbox-test", O_RDONLY | O_CREAT, 0600));
	char *argv[] = {"/bin/true", NULL};
	ok[P_EXEC] = refused(execve("/bin/true", argv, argv + 1));
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	ok[P_FORK] = sandbox_sanitized() ? 1 : refused(p); /* LeakSanitizer needs clones */
	if (p > 0)
		waitpid(p, NULL, 0);
	ok[P_KILL_PARENT] = refused(kill(getppid(), 0));
	ok[P_SETUID] = refused(setuid(getuid()));
	fd = open("/dev/null", O_RDONLY);
	ok[P_READ_OPEN] = fd >= 0;
	if (fd >= 0)
		close(fd);
	pthread_t t;
	ok[P_THREAD] = pthread_create(&t, NULL, thread_fn, NULL) == 0 && pthread_join(t, NULL) == 0;
	void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ok[P_MMAP] = m != MAP_FAILED;
	if (m != MAP_FAILED)
		munmap(m, 1 << 20);
	signal(SIGUSR1, on_usr1);
	ok[P_SIGNAL_SELF] = raise(SIGUSR1) == 0 && got_signal;
	char c = 0;
	ok[P_OLD_THREAD] = write(old_go[1], "x", 1) == 1 && read(old_done[0], &c, 1) == 1 && c == 1;
	if (write(out, ok, sizeof(ok)) != (ssize_t)sizeof(ok))
		_exit(3);
}

int main(void)
{
	struct sandbox_cfg cfg = {.seccomp = true};
	uint8_t ok[P_COUNT];
	int pfd[2];
	int st = 0;

	CHECK(pipe(pfd) == 0);
	pid_t child = fork();
	if (child == 0) {
		close(pfd[0]);
		pthread_t old;
		if (pipe(old_go) != 0 || pipe(old_done) != 0 ||
		    pthread_create(&old, NULL, old_thread_fn, NULL) != 0)
			_exit(4);
		if (sandbox_enter(&cfg) != 0)
			_exit(2);
		probe_all(pfd[1]);
		_exit(0); /* no exit handlers: the filter is the process's for good */
	}
	close(pfd[1]);
	ssize_t n = read(pfd[0], ok, sizeof(ok));
	close(pfd[0]);
	waitpid(child, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_INT_EQ(n, (ssize_t)sizeof(ok));
	for (int i = 0; n == (ssize_t)sizeof(ok) && i < P_COUNT; i++) {
		if (!ok[i])
			fprintf(stderr, "sandbox: %s: no\n", names[i]);
		CHECK(ok[i]);
	}
	char what[256];
	sandbox_describe(&cfg, what, sizeof(what));
	CHECK(strstr(what, "no_new_privs") != NULL);
	return check_done("test_sandbox");
}
