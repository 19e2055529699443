/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_WORKER_H
#define HIGHRISE_WORKER_H

/*
 * A desktop's worker process: everything that touches the console's bytes
 * (the capture backend, colour conversion, the encoder) runs here, one
 * process per watched desktop, confined by sandbox.h. The agent's main
 * process (desktop.h) starts it, speaks to it over a unix socket with the
 * messages of wlink.h, and kills and restarts it when it dies, stops
 * answering or grows too big. docs/architecture.md "The worker and its
 * sandbox" has the picture.
 *
 * The agent runs itself again as `highrise-agent --worker ID` with the
 * socket as descriptor 3 (worker_spawn). The worker then:
 *   1. reads WLINK_CONFIG (within 5 s), sets its limits (sandbox_limits);
 *   2. opens the console; between connecting and parsing the console's
 *      first byte it confines itself (sandbox_enter);
 *   3. sends WLINK_CONSOLE UP, then runs the pipeline: capture -> convert
 *      -> encode on damage, at most fps frames a second, VIDEO/SIZE/CURSOR/
 *      CLIPBOARD/STATUS to the agent; input, key frame and resize requests,
 *      CONTROL and PING from it. Every PING is answered by the pipeline
 *      loop itself, so a pong proves the pipeline is turning;
 *   4. when the console fails (or never came up) it sends WLINK_CONSOLE
 *      with the reason and exits: the agent decides when to try again.
 *      BYE or the socket's end from the agent: it stops at once.
 * It dies with the agent (PR_SET_PDEATHSIG).
 */

#include <stdint.h>
#include <sys/types.h>

#define WORKER_FD 3 /* where the child finds its end of the link */

/*
 * worker_main is the whole worker process: argv is the agent's
 * ("highrise-agent", "--worker", ID). Returns the exit status.
 */
int worker_main(int argc, char **argv);

/*
 * In the agent: starts a worker for desktop id. Returns its pid and the
 * agent's end of the link (non-blocking, close-on-exec) in *fd, or a
 * negative errno.
 */
pid_t worker_spawn(const char *id, int *fd);

#endif
