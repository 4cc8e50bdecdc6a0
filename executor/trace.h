/* trace.h: what the candidate did in motion, observed from outside through seccomp user
 * notification (the traced variant of the policy, see policy.h). The file's lines are
 * specified in the README ("Runtime traces").
 *
 * The supervisor holds the notification listener of the command's filter. Every call it
 * is handed is recorded at its entry, before the kernel has done anything: what the
 * supervisor reads is what the caller had in memory then. It reads, then re-validates
 * the notification id (SECCOMP_IOCTL_NOTIF_ID_VALID), then answers; an allowed call
 * always continues (the allow decision stays with the filter), a denied one gets the
 * policy's errno.
 *
 * execve, execveat: the path and argv (trace_args.c reads memory page by page, so what
 * runs into unmapped memory is unreadable, not cut). A relative path is resolved against
 * execveat's directory fd (or the cwd) to tell a program from a miss of execvp; an exec
 * of a descriptor (execveat with AT_EMPTY_PATH, fexecve) is recorded as the file the
 * descriptor refers to, "fileless" when that file has no name left (a memfd, a deleted
 * file). An exec whose path or argv the kernel cannot read either is "invalid" (EFAULT,
 * ENAMETOOLONG) and not counted. Whether an exec worked is known only at the next call
 * of the same process (its next exec, its exit_group): a new image then (the 16 random
 * bytes the kernel puts on every new stack, AT_RANDOM, have changed) confirms it, the
 * old one means the kernel refused it after we saw it (ENOEXEC, EACCES, E2BIG...): an
 * "exec_failed" line, and it is not counted. exit_group gives each program's exit status
 * and duration.
 *
 * Denied calls (every errno denial of the policy but ENOSYS probes): the name (resolved
 * by libseccomp), the program and the arguments as a human reads them (paths and names
 * read from the process, a socket's family and type by name: trace_args.c); the
 * verdict's violations are one per call, program and, for socket calls, family.
 *
 * Network attempts outside this host, under network none/loopback (the namespace has no
 * route, so the kernel refuses them; DNS when the port is 53): connect, sendto with a
 * destination (the filter passes over those without one, a connected socket's sends,
 * in BPF), sendmsg with msg_name (every sendmsg is handed to us, we read its msghdr) and
 * each destination of a sendmmsg. An address the kernel will refuse (a length out of its
 * bounds, memory it cannot read) is written as invalid, not counted as a connect. A
 * connect event says the call was made, not that a connection was made.
 *
 * The cgroup's memory and CPU are sampled into the same file. A flood cannot push the
 * rest out of the file (its cap): of identical denials (call, program, socket family)
 * or connects (call, destination, program), the first 16 are written one by one, the
 * rest only counted, with a "repeated" line at each doubling of the count and a final
 * one; the verdict's counts are exact whatever was written.
 *
 * What a trace cannot prove: the arguments are read while the caller is stopped, but
 * another thread of it may change that memory between our read and the kernel's own
 * (the re-validation only proves the same task is still waiting in the same call), so a
 * racing program can make an exec's recorded argv, or a connect's recorded address,
 * differ from what the kernel used; a sendmsg with exactly the flags of the listener's
 * handover (SG_TRACE_HANDOVER_SEND_FLAGS) is not observed; an exec whose process is
 * killed before its next call is neither confirmed nor refuted; a program that is never
 * exec'd (code loaded by other means) is not an exec; a program killed by a signal has
 * no exit_group and no exit status in the trace. */
#ifndef SHIPGATE_TRACE_H
#define SHIPGATE_TRACE_H

#include "policy.h"

#include <shipgate/error.h>

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SG_TRACE_CAP_DEFAULT (16u << 20) /* bytes of trace file per step */

typedef struct sg_trace sg_trace;

/* Open the trace file (truncated) for a step. cap: bytes of events kept. */
sg_trace *sg_trace_open(const char *path, uint64_t cap, const sg_policy *policy, uint64_t t0_ns,
			sg_error *err);
/* Serve one pending notification from the listener fd. Returns -1 when the listener is
 * gone (every filtered process has exited). */
int sg_trace_handle(sg_trace *t, int listener);
/* A resource sample (from the cgroup). */
void sg_trace_sample(sg_trace *t, uint64_t now_ns, uint64_t memory_kb, uint64_t cpu_ms);
/* Close the file and compute its digest. */
void sg_trace_finish(sg_trace *t);

/* Counts for the verdict. */
uint64_t sg_trace_execs(const sg_trace *t);
uint64_t sg_trace_violation_count(const sg_trace *t);
/* A violation the policy says fails the step: its one-line description, else NULL. */
const char *sg_trace_failing_violation(const sg_trace *t);
/* step.trace: {file, sha256, events, execs, execs_failed, exits, violations, connects,
 * samples, truncated, cap_bytes} */
cJSON *sg_trace_summary_json(const sg_trace *t, const char *relpath);
/* step.violations: [{syscall, family (socket calls), program, count, errno, fails, first_args}],
 * one per (syscall, program, family) */
cJSON *sg_trace_violations_json(const sg_trace *t);
/* step.connects: [{family, address, port, program, dns, count}] */
cJSON *sg_trace_connects_json(const sg_trace *t);
void sg_trace_free(sg_trace *t);

#endif
