/* trace.h: what the candidate did in motion, observed from outside through seccomp user
 * notification (the traced variant of the policy, see policy.h).
 *
 * The supervisor holds the notification listener of the command's filter. For execve
 * and execveat it reads the path and argv from the process's memory, re-validates the
 * notification id (SECCOMP_IOCTL_NOTIF_ID_VALID) after reading, and lets the call
 * continue: the allow decision stays with the filter. A relative path is resolved
 * against execveat's directory fd (or the cwd) to tell a program from a miss of
 * execvp; an exec of a descriptor (execveat with AT_EMPTY_PATH, fexecve) is recorded
 * as the file the descriptor refers to, "fileless" when that file has no name left
 * (a memfd, a deleted file). exit_group gives each program's
 * exit status and duration. A denied call (every errno denial of the policy but ENOSYS
 * probes) is recorded with its name (resolved by libseccomp), the program and its
 * arguments as a human reads them (paths and names read from the process, a socket's
 * family and type by name: trace_args.c), and answered with the policy's errno; the
 * verdict's violations are one per call, program and, for socket calls, family. Under network none/loopback, a
 * network attempt outside this host is recorded (DNS when the port is 53) and continues
 * (the namespace has no route, so the kernel refuses it): connect, sendto with a
 * destination (the filter passes over those without one, a connected socket's sends,
 * in BPF), sendmsg with msg_name (every sendmsg is handed to us, we read its msghdr) and
 * each destination of a sendmmsg. An address the kernel will refuse (a length out of its
 * bounds, memory it cannot read) is written as invalid, not counted as a connect. The
 * cgroup's memory and CPU are sampled into the same file.
 *
 * A flood cannot push the rest out of the file (its cap): of identical denials (call,
 * program, socket family) or connects (call, destination, program), the first 16 are
 * written one by one, the rest only counted, with a "repeated" line at each doubling of
 * the count and a final one; the verdict's counts are exact whatever was written.
 *
 * What a trace cannot prove: the arguments are read while the caller is stopped, but
 * another thread of it may change that memory between our read and the kernel's own
 * (the re-validation only proves the same task is still waiting in the same call), so a
 * racing program can make an exec's recorded argv, or a connect's recorded address,
 * differ from what the kernel used; a sendmsg with exactly the flags of the listener's
 * handover (SG_TRACE_HANDOVER_SEND_FLAGS) is not observed; a program that
 * is never exec'd (code loaded by other means) is not an exec; a program killed by a
 * signal has no exit_group and no exit status in the trace. */
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
/* step.trace: {file, sha256, events, execs, exits, violations, connects, truncated, cap} */
cJSON *sg_trace_summary_json(const sg_trace *t, const char *relpath);
/* step.violations: [{syscall, family (socket calls), program, count, errno, fails, first_args}],
 * one per (syscall, program, family) */
cJSON *sg_trace_violations_json(const sg_trace *t);
/* step.connects: [{family, address, port, program, dns, count}] */
cJSON *sg_trace_connects_json(const sg_trace *t);
void sg_trace_free(sg_trace *t);

#endif
