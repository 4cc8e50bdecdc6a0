/* policy.h: policy files (policies/NAME.json) and their seccomp filter.
 *
 * A policy file is either a bare OCI runtime-spec `linux.seccomp` object (so a Docker or
 * podman profile can be reused as is) or a shipgate wrapper:
 *   { "version": 1, "name": "default", "description": "...",
 *     "seccomp": { ...OCI linux.seccomp... } }
 * Parsing is pure and strict (unknown keys, unknown syscall names, unknown actions are
 * errors naming the file and JSON path). Compiling uses libseccomp once, in the
 * supervisor (or at build time for the shipped policies), and keeps the BPF program in
 * memory, so the sandbox child only has to call seccomp(2): no libseccomp work on the
 * child's path.
 */
#ifndef SHIPGATE_POLICY_H
#define SHIPGATE_POLICY_H

#include <shipgate/error.h>

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sg_policy sg_policy;

/* Find a policy by name ("default") in the policy directory, or load a file path
 * (anything containing a '/' or ending in ".json"). */
sg_policy *sg_policy_load(const char *name_or_path, sg_error *err);
sg_policy *sg_policy_parse(const char *origin, const char *data, size_t len, sg_error *err);
void sg_policy_free(sg_policy *p);

/* The directory searched for named policies: $SHIPGATE_POLICY_DIR, else the installed
 * share dir next to the binary, else the source tree's policies/. The string belongs to
 * the calling thread and is valid until its next call. */
const char *sg_policy_dir(void);

const char *sg_policy_name(const sg_policy *p);
const char *sg_policy_path(const sg_policy *p);
const char *sg_policy_description(const sg_policy *p); /* NULL if none */
/* The wrapper's "network": "none" or "loopback", the network of a step under this policy
 * when the job does not set `network` itself; NULL when the policy does not say. */
const char *sg_policy_network(const sg_policy *p);
/* The file's exact bytes (NUL-terminated; len excludes the NUL). */
const char *sg_policy_bytes(const sg_policy *p, size_t *len);
/* Hex SHA-256 of the file's exact bytes, computed on first use (OpenSSL's set-up costs
 * most of a millisecond, which a sandbox start that never asks should not pay). */
const char *sg_policy_sha256(const sg_policy *p);

/* Number of syscalls the policy allows unconditionally or with argument conditions. */
unsigned sg_policy_allowed_count(const sg_policy *p);
/* Is the default action a denial (an allowlist), rather than ALLOW or LOG (a denylist)? */
bool sg_policy_default_denies(const sg_policy *p);

/* The programs a policy makes: the plain filter, and the traced variant without and
 * with connect observed. */
enum sg_bpf_variant { SG_BPF_PLAIN = 0, SG_BPF_TRACED = 1, SG_BPF_TRACED_CONNECT = 2 };
#define SG_BPF_VARIANTS 3

/* The classic BPF program for the native architecture, made on first use and then kept
 * (a second call returns the same program, owned by the policy). A shipped policy's
 * exact bytes take the program the build compiled (seccomp_builtin.h); anything else is
 * compiled with libseccomp now. Other ABIs (i386 int 0x80, x32) kill the process.
 * Install it with PR_SET_NO_NEW_PRIVS then prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER,
 * prog): it needs nothing else. */
const struct sock_fprog *sg_policy_bpf(sg_policy *p, sg_error *err);

/* The traced variant (see trace.c): the same decisions, but execve, execveat and
 * exit_group (and, with_connect, connect, sendmmsg, sendto with a dest_addr and sendmsg)
 * are answered by the supervisor's seccomp user notification listener, which lets them
 * continue, and every denial except ENOSYS probes goes to the listener too, which
 * records it and answers with the policy's errno (sg_policy_deny_errno). Load it with
 * SECCOMP_FILTER_FLAG_NEW_LISTENER. */
const struct sock_fprog *sg_policy_bpf_traced(sg_policy *p, bool with_connect, sg_error *err);

/* Compile a variant with libseccomp now, whatever the build compiled: a new program of
 * *count instructions that the caller frees (the generator of seccomp_builtin.c, tests). */
int sg_policy_compile(sg_policy *p, enum sg_bpf_variant v, struct sock_filter **prog, size_t *count,
		      sg_error *err);
/* A fingerprint (FNV-1a) of the rules as parsed here: syscall numbers, actions, argument
 * conditions, the default. The build records it with each program it compiles. */
uint64_t sg_policy_rules_fingerprint(const sg_policy *p);
/* Did the variant's program, once made, come from the build rather than libseccomp? */
bool sg_policy_bpf_built_in(const sg_policy *p, enum sg_bpf_variant v);

/* The flags of the one sendmsg the traced filter lets through unobserved: the command's
 * handover of the listener itself (control.c), which could not wait for an answer from a
 * supervisor that does not hold the listener yet. MSG_CMSG_CLOEXEC means nothing to a
 * send: no ordinary program sends with exactly these flags (a program that knows them can
 * hide a sendmsg from the trace, as it can race it; see trace.h). */
#define SG_TRACE_HANDOVER_SEND_FLAGS (0x4000 /* MSG_NOSIGNAL */ | 0x40000000 /* MSG_CMSG_CLOEXEC */)
int sg_policy_deny_errno(const sg_policy *p, int nr);
/* Does the policy allow this syscall whatever its arguments? (The traced command must
 * be able to call sendmsg to hand its listener over before it execs.) */
bool sg_policy_allows_always(const sg_policy *p, int nr);

typedef enum sg_violation_class {
	SG_VIOLATION_RECORD = 0, /* recorded in the evidence, the step goes on */
	SG_VIOLATION_FAIL,       /* recorded, and the step fails as `violation` */
	SG_VIOLATION_IGNORE,     /* neither */
} sg_violation_class;
sg_violation_class sg_policy_violation_class(const sg_policy *p, int nr);

#endif
