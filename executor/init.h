/* init.h: the sandbox's pid 1, our own code (see the theory of operation in sandbox.c).
 *
 * It builds the sandbox from inside (root filesystem, network, privileges), forks the
 * command, reaps every orphan, and answers the supervisor's requests on the control
 * socket: how many processes are left, whether a port accepts, an HTTP GET, running a
 * probe command exactly as the command was run, stopping everything. It never execs. */
#ifndef SHIPGATE_INIT_H
#define SHIPGATE_INIT_H

#include "mounts.h"
#include "sandbox.h"

#include <linux/filter.h>
#include <stdbool.h>

struct sg_init_ctx {
	const sg_sandbox_config *cfg;
	const sg_mount_plan *plan;
	const struct sock_fprog *bpf; /* loaded by the command (and probes) just before exec */
	const struct sock_fprog *bpf_traced; /* the command's instead, with a listener, or NULL */
	char **envp;
	int ctl;        /* the init's end of the control socket */
	int exec_w;     /* the command's exec status: EOF on exec, an errno if it failed */
	int out_w, err_w;
	bool root_mode; /* mapped range: drop supplementary groups too */
	/* set by init from SG_CTL_CGROUP_JOIN, not by the supervisor before the clone: */
	uint64_t rlimit_as; /* when no memory cgroup holds the limit: RLIMIT_AS instead (0: none) */
	uint64_t rlimit_nproc; /* when no pids cgroup holds the limit: RLIMIT_NPROC (0: none) */
};

__attribute__((noreturn)) void sg_init_main(const struct sg_init_ctx *ctx);

#endif
