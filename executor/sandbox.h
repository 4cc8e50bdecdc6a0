/* sandbox.h: one sandboxed process tree, from clone to reaped, with its evidence.
 *
 * The caller fills an sg_sandbox_config (what to run and how to isolate it) and calls
 * sg_sandbox_run(), which builds the sandbox, runs the command under supervision and
 * fills an sg_sandbox_result with what the kernel reported. Who does what, and in which
 * order, is explained at the top of sandbox.c.
 */
#ifndef SHIPGATE_SANDBOX_H
#define SHIPGATE_SANDBOX_H

#include "cgroup.h"
#include "control.h"
#include "job.h"
#include "mounts.h"
#include "policy.h"
#include "userns.h"

#include <shipgate/error.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>


/* Where the output of the sandboxed command goes. */
typedef struct sg_output_sink {
	int passthrough_fd; /* also copy everything here (-1: no) */
	int log_fd;         /* keep the first cap bytes here (-1: no) */
	int full_fd;        /* keep up to full_cap bytes here, whatever the cap (TAP) */
	uint64_t full_cap;  /* 0: full_fd is not used */
} sg_output_sink;

/* Drives a service step from the supervisor's loop once the command has started: asked
 * for the next request to send to init whenever none is outstanding, fed every reply.
 * The logic of readiness and probes lives in service.c; the loop only carries messages. */
typedef struct sg_service_driver {
	void *ctx;
	/* Return 1 with req (and payload, *len bytes) filled to send it; 0 to be asked again
	 * at *wake_ms (monotonic ms); -1 when done: the supervisor then stops the sandbox
	 * (SIGTERM, stop_grace_ms, SIGKILL). */
	int (*next)(void *ctx, uint64_t now_ms, struct sg_ctl_msg *req, char *payload, size_t *len,
		    uint64_t *wake_ms);
	void (*reply)(void *ctx, uint64_t now_ms, const struct sg_ctl_msg *m, const char *payload,
		      size_t len);
	/* the service's own process exited (before it was stopped) */
	void (*exited)(void *ctx, uint64_t now_ms);
	uint32_t stop_grace_ms;
} sg_service_driver;

typedef struct sg_sandbox_config {
	char *const *argv;        /* the command; argv[0] searched in the sandbox's PATH */
	char *const *extra_env;   /* "K=V" added after the pinned environment, may be NULL */
	const char *rootfs;       /* "host" (NULL too) or a host directory */
	const char *workspace;    /* host directory shown at /workspace */
	sg_workspace_mode workspace_mode;
	const char *scratch_dir;  /* COW: holds upper/ and work/, kept between steps */
	const char *scratch_watch; /* measured against limits.scratch_mb: default the COW layer;
				   * a caller with more step-writable host dirs names their parent */
	const char *cwd;          /* working directory inside, default /workspace or / */
	const sg_mount_spec *mounts;
	size_t n_mounts;
	sg_net_mode network;
	sg_policy *policy;        /* seccomp: NULL means none (recorded as such) */
	sg_limits limits;
	uint64_t timeout_ms;      /* 0: no timeout */
	bool capture;             /* capture stdout/stderr through pipes (else inherit 0,1,2) */
	sg_output_sink out_sink, err_sink;
	int stdin_fd;             /* -1: /dev/null */
	bool allow_weaker;        /* run even when a requested limit cannot be enforced */
	bool limits_best_effort;  /* the limits are defaults nobody asked for: where they cannot
				     be held, run without them and say so (weaker_note) */
	const sg_cgroup_host *cgroups; /* NULL: detect */
	volatile int *interrupted;/* set by a signal handler of the caller; may be NULL */
	const sg_service_driver *service; /* NULL: run the command to its end */
	bool leave_signals;       /* do not catch SIGINT/SIGTERM/SIGHUP while supervising */
	char *const *hide;        /* relative paths below /workspace hidden from the steps */
	const char *trace_path;   /* write the runtime trace here (trace.h); NULL: no trace */
	uint64_t trace_cap;       /* bytes of trace kept (0: the default) */
} sg_sandbox_config;

/* What a captured stream amounted to. */
typedef struct sg_stream_evidence {
	uint64_t bytes;
	char sha256[65];
	bool truncated;       /* more than the cap was written; the rest was only counted */
	char *tail;           /* the last bytes (at most SG_TAIL_BYTES), NUL-terminated; NULL
			       * once the caller moved it to a file of its own (spilled) */
	bool tail_spilled;    /* the tail is tail_len bytes at tail_off of tail_fd (not owned) */
	int tail_fd;
	uint32_t tail_len;
	uint64_t tail_off;
} sg_stream_evidence;
#define SG_TAIL_BYTES 2048

/* What isolation was really in force. Never claims what was not applied. */
typedef struct sg_enforced {
	bool ns_user, ns_pid, ns_mount, ns_net, ns_ipc, ns_uts, ns_cgroup;
	bool seccomp;
	unsigned seccomp_allowed;
	bool seccomp_default_deny; /* the policy is an allowlist (default action denies) */
	bool violations_traced;    /* denied calls were watched (the trace): violations are known */
	bool no_new_privs;
	unsigned capabilities_left;
	int landlock_abi;          /* 0: not used */
	bool cgroup_memory, cgroup_pids, cgroup_cpu;
	uint64_t memory_limit_kb, pids_limit;
	double cpu_limit;
	bool rlimit_fallback;      /* limits held by rlimits instead of cgroups */
	uint64_t rlimit_as_kb;     /* the RLIMIT_AS that stands in for the memory limit */
	uint64_t rlimit_nproc;     /* the RLIMIT_NPROC that stands in for the pids limit */
	sg_net_mode network;
	bool loopback_up;
	const char *identity;      /* "mapped:1000000000+65536", "rootless:1000" */
	const char *workspace;     /* "bind-idmapped", "overlay-idmapped", "overlay", "copy", ... */
	const char *rootfs;        /* "host-ro" or the directory */
	const char *cgroup_mode;   /* "v1", "v2", "none" */
} sg_enforced;

#define SG_LIMIT_TIMEOUT 0x1u
#define SG_LIMIT_MEMORY 0x2u
#define SG_LIMIT_PIDS 0x4u
#define SG_LIMIT_OUTPUT 0x8u
#define SG_LIMIT_SCRATCH 0x10u

typedef struct sg_sandbox_result {
	bool started;          /* the command was exec'd */
	int setup_errno;       /* why the sandbox or the exec failed, if it did */
	char setup_error[512];
	int exit_code;         /* -1 if killed by a signal or never started */
	int signal;            /* 0 if it exited */
	bool core_dumped;
	bool timed_out;
	bool interrupted;
	unsigned limits_hit;   /* SG_LIMIT_* */
	uint64_t wall_ms, cpu_ms, peak_memory_kb, pids_peak, oom_kills;
	int64_t leftover_processes; /* -1: unknown */
	sg_stream_evidence out, err;
	sg_enforced enforced;
	bool enforced_valid;   /* the sandbox was fully set up, so `enforced` is what held */
	char *enforced_identity_buf; /* storage behind enforced.identity */
	struct sg_trace *trace;  /* when traced: the trace (owned; freed with the result) */
	char *weaker_note;       /* what could not be enforced and was let go (best effort) */
	char *trace_unavailable; /* why a trace that was asked for was not taken */
} sg_sandbox_result;

/* Build the sandbox, run the command, supervise it, fill result.
 * Returns 0 when the sandbox ran (whatever the command did), -1 with err set when the
 * sandbox could not be set up as asked (SG_ERR_SANDBOX: nothing of the candidate ran)
 * or the command could not be started (SG_ERR_NOT_FOUND / SG_ERR_NOT_EXEC). */
int sg_sandbox_run(const sg_sandbox_config *cfg, sg_sandbox_result *result, sg_error *err);
void sg_sandbox_result_free(sg_sandbox_result *result);

#endif
