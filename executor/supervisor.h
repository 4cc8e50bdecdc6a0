/* supervisor.h: watching a running sandbox from the host: its output, its timer, its
 * init's reports, and the signals sent to shipgate itself. One poll loop, no threads, no
 * sleeps; every figure comes from the kernel or from our own clock. */
#ifndef SHIPGATE_SUPERVISOR_H
#define SHIPGATE_SUPERVISOR_H

#include "sandbox.h"

typedef struct sg_supervise_io {
	int pidfd;      /* the sandbox's init */
	int ctl;        /* the control socket to init (see control.h) */
	int exec_r;     /* EOF: the command was exec'd; an int: why not */
	int out_r, err_r; /* captured output, -1 when not capturing */
	uint64_t timeout_ms;
	uint64_t t0_ns; /* when the sandbox was cloned */
	sg_output_sink out_sink, err_sink;
	uint64_t output_cap; /* bytes kept in each log */
	sg_cgroup *cgroup;
	volatile int *interrupted; /* polled: non-zero kills the sandbox (an interrupt) */
	const sg_service_driver *service;
	bool leave_signals; /* no signalfd: SIGINT/SIGTERM/SIGHUP stay the caller's */
	struct sg_trace *trace;   /* serve the command's seccomp listener into it, or NULL */
	const char *scratch_dir;  /* the copy-on-write layer to watch, or NULL */
	uint64_t scratch_limit;   /* bytes it may hold */
} sg_supervise_io;

typedef struct sg_supervise_outcome {
	bool setup_failed;
	int setup_errno;
	char setup_error[400];
	int exec_errno;     /* >0: exec failed with it; <0: the sandbox failed before exec */
	bool ready;
	unsigned caps_left;
	bool no_new_privs;
	int landlock_abi;
	/* read when init reported the command's exit with nothing else left alive: from
	 * then on only init runs in the cgroup, our code taking the namespaces down, so the
	 * figures are the candidate's final ones (init's own teardown CPU is left out), and
	 * they are read while init does that instead of after */
	bool stats_taken;
	sg_cgroup_stats stats;
} sg_supervise_outcome;

/* Run the loop until the init has exited and the output is drained. Fills the result's
 * exit, signal, timing, output and leftover fields. Closes out_r and err_r. */
void sg_supervise(const sg_supervise_io *io, sg_sandbox_result *r, sg_supervise_outcome *oc);

#endif
