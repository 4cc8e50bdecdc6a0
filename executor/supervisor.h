/* supervisor.h: watching a running sandbox from the host: its output, its timer, its
 * init's reports, and the signals sent to shipgate itself. One poll loop, no threads, no
 * sleeps; every figure comes from the kernel or from our own clock. */
#ifndef SHIPGATE_SUPERVISOR_H
#define SHIPGATE_SUPERVISOR_H

#include "sandbox.h"

typedef struct sg_supervise_io {
	int pidfd;      /* the sandbox's init */
	int ctl_w;      /* to init: 'C' asks for a count of the processes left */
	int report_r;   /* from init: struct sg_init_msg */
	int exec_r;     /* EOF: the command was exec'd; an int: why not */
	int out_r, err_r; /* captured output, -1 when not capturing */
	uint64_t timeout_ms;
	uint64_t t0_ns; /* when the sandbox was cloned */
	sg_output_sink out_sink, err_sink;
	uint64_t output_cap; /* bytes kept in each log */
	sg_cgroup *cgroup;
	volatile int *interrupted;
} sg_supervise_io;

typedef struct sg_supervise_outcome {
	bool setup_failed;
	int setup_errno;
	char setup_error[400];
	int exec_errno;     /* >0: exec failed with it; <0: the sandbox failed before exec */
	bool ready;
	unsigned caps_left;
	bool no_new_privs;
} sg_supervise_outcome;

/* Run the loop until the init has exited and the output is drained. Fills the result's
 * exit, signal, timing, output and leftover fields. */
void sg_supervise(const sg_supervise_io *io, sg_sandbox_result *r, sg_supervise_outcome *oc);

/* The message init sends; shared with sandbox.c. */
struct sg_init_msg {
	int type;
	int errnum;
	int wait_status;
	int candidate_pid;
	int64_t count;
	unsigned caps_left;
	int no_new_privs;
	char text[400];
};
enum { SG_MSG_SETUP_ERROR = 1, SG_MSG_READY, SG_MSG_EXITED, SG_MSG_COUNT };

#endif
