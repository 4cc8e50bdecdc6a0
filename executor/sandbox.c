/* sandbox.c: one sandboxed process tree, from clone to reaped.
 *
 * Theory of operation
 * -------------------
 * Three processes take part:
 *
 *   supervisor  shipgate itself, on the host. It prepares everything that needs the
 *               host's privileges or paths (O_PATH fds of the directories to show,
 *               idmapped mounts, the compiled seccomp program, and on cgroup v2 the
 *               step's cgroup), then clone3()s the init with its namespaces at once (v2:
 *               into that cgroup, CLONE_INTO_CGROUP), writes its uid/gid maps and sends
 *               GO. On cgroup v1, which has no CLONE_INTO_CGROUP, it then makes the
 *               step's cgroup while init builds the root. Either way it then sends
 *               CGROUP_JOIN, on v1 with the open `tasks` files init joins through.
 *   init        pid 1 of the new pid namespace, our own code, never the candidate's. On
 *               GO it builds the new root and pivot_roots into it and brings lo up; on
 *               CGROUP_JOIN it joins, unshares its cgroup namespace (rooted at the step's
 *               cgroup), drops every capability, sets no_new_privs and makes itself
 *               non-dumpable, and starts:
 *   candidate   the command, cloned with CLONE_VM|CLONE_VFORK (a plain fork when traced,
 *               see init.c). It applies Landlock and loads the seccomp filters, resets
 *               signals, starts a new session and execs. Its exec-status pipe is
 *               close-on-exec: EOF tells the supervisor the exec happened, an errno on
 *               it says why it did not. Nothing of the candidate's runs outside the
 *               step's cgroup (when there is one), its cgroup namespace or its filters.
 *
 * Init reaps every orphan, and when the candidate exits it counts the processes left in
 * the namespace, reports the candidate's wait status to the supervisor on a pipe the
 * candidate never holds, and exits. The kernel then kills everything else in the pid
 * namespace; nothing can leave a pid namespace, so a daemon that double-forks and
 * setsids dies with it. On timeout or interrupt the supervisor asks init for the count,
 * then SIGKILLs init through its pidfd with the same effect, and kills the cgroup too.
 *
 * Evidence comes from the kernel only: the wait status init got from wait4, the
 * supervisor's own timer and clock, rusage, and the cgroup's counters.
 */
#include "sandbox.h"
#include "control.h"
#include "init.h"
#include "supervisor.h"
#include "trace.h"
#include "util.h"

#include <seccomp.h>

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

extern char **environ;

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* ---- supervisor side -------------------------------------------------------------- */

static const char *const pinned_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/tmp",
	"LANG=C.UTF-8",
	"TZ=UTC",
	"SOURCE_DATE_EPOCH=315532800",
	"PYTHONHASHSEED=0",
	"USER=root",
	"LOGNAME=root",
	"SHIPGATE_SANDBOX=1",
};

/* The pinned environment, overridden by the caller's "K=V" entries. */
static char **build_env(char *const *extra)
{
	size_t n_extra = 0;
	while (extra && extra[n_extra])
		n_extra++;
	char **env = sg_xcalloc(SG_ARRAY_LEN(pinned_env) + n_extra + 1, sizeof(char *));
	size_t n = 0;
	for (size_t i = 0; i < SG_ARRAY_LEN(pinned_env); i++) {
		size_t kl = strcspn(pinned_env[i], "=");
		bool overridden = false;
		for (size_t j = 0; j < n_extra && !overridden; j++)
			overridden = !strncmp(extra[j], pinned_env[i], kl + 1);
		if (!overridden)
			env[n++] = (char *)pinned_env[i];
	}
	for (size_t j = 0; j < n_extra; j++)
		env[n++] = extra[j];
	env[n] = NULL;
	return env;
}

static int make_pipe(int fds[2], sg_error *err)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "pipe");
	return 0;
}

static void close_pair(int fds[2])
{
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/* Decide whether the limits asked for can be held; fail closed unless allowed. */
static int check_limits(const sg_sandbox_config *cfg, const sg_cgroup *cg, sg_error *err)
{
	const sg_cgroup_host *host = cfg->cgroups;
	struct {
		bool asked;
		sg_cgroup_ctrl ctrl;
		const char *what;
	} need[] = {
		{cfg->limits.memory_mb > 0, SG_CG_MEMORY, "memory"},
		{cfg->limits.pids > 0, SG_CG_PIDS, "pids"},
		{cfg->limits.cpus > 0, SG_CG_CPU, "cpus"},
	};
	for (size_t i = 0; i < SG_ARRAY_LEN(need); i++) {
		if (!need[i].asked || sg_cgroup_enforces(cg, need[i].ctrl) || cfg->allow_weaker)
			continue;
		return sg_error_set(err, SG_ERR_SANDBOX, 0,
				    "the %s limit cannot be enforced: %s. Run as root, or in a "
				    "delegated cgroup v2 subtree (systemd-run --user --scope -p "
				    "Delegate=yes ...), or accept weaker isolation explicitly "
				    "(--allow-weaker / \"allow_weaker_isolation\": true)",
				    need[i].what,
				    host && host->why_not[need[i].ctrl][0] ? host->why_not[need[i].ctrl]
									  : "no usable cgroup");
	}
	return 0;
}

static void fill_enforced(const sg_sandbox_config *cfg, const sg_identity *id,
			  const sg_mount_plan *plan, const sg_cgroup *cg, sg_policy *policy,
			  sg_sandbox_result *r)
{
	sg_enforced *e = &r->enforced;
	e->ns_user = e->ns_pid = e->ns_mount = e->ns_ipc = e->ns_uts = e->ns_cgroup = true;
	e->ns_net = cfg->network != SG_NET_HOST;
	e->network = cfg->network;
	e->seccomp = policy != NULL;
	e->seccomp_allowed = policy ? sg_policy_allowed_count(policy) : 0;
	e->seccomp_default_deny = policy && sg_policy_default_denies(policy);
	e->cgroup_memory = sg_cgroup_enforces(cg, SG_CG_MEMORY) && cfg->limits.memory_mb > 0;
	e->cgroup_pids = sg_cgroup_enforces(cg, SG_CG_PIDS) && cfg->limits.pids > 0;
	e->cgroup_cpu = sg_cgroup_enforces(cg, SG_CG_CPU) && cfg->limits.cpus > 0;
	e->memory_limit_kb = e->cgroup_memory ? cfg->limits.memory_mb * 1024 : 0;
	e->pids_limit = e->cgroup_pids ? cfg->limits.pids : 0;
	e->cpu_limit = e->cgroup_cpu ? cfg->limits.cpus : 0;
	e->cgroup_mode = sg_cgroup_mode(cg);
	free(r->enforced_identity_buf);
	r->enforced_identity_buf = id->rootless
		? sg_xasprintf("rootless:%u", (unsigned)id->host_uid)
		: sg_xasprintf("mapped:%u+%u(%s)", (unsigned)id->host_uid, (unsigned)id->count, id->source);
	e->identity = r->enforced_identity_buf;
	e->workspace = plan->ws_method;
	e->rootfs = cfg->rootfs && strcmp(cfg->rootfs, "host") ? "directory" : "host-ro";
}

/* clone3 with CLONE_INTO_CGROUP when possible; *in_cgroup says whether it was used. */
static pid_t clone_init(uint64_t flags, int cgroup_fd, int *pidfd, bool *in_cgroup)
{
	*in_cgroup = cgroup_fd >= 0;
	struct clone_args args = {0};
	args.flags = flags | CLONE_PIDFD;
	args.pidfd = (uint64_t)(uintptr_t)pidfd;
	args.exit_signal = SIGCHLD;
	if (cgroup_fd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgroup_fd;
	}
	pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid >= 0 || errno != ENOSYS)
		return pid;
	/* no clone3 (an old kernel, or a seccomp filter around us): clone, then the
	 * supervisor attaches the child to its cgroup before releasing it */
	*in_cgroup = false;
	return (pid_t)syscall(SYS_clone, (unsigned long)(flags | CLONE_PIDFD | SIGCHLD), NULL, pidfd, NULL, NULL);
}

/* The step's cgroup with its limits, or none where that is allowed: fails closed when a
 * limit that was asked for cannot be held. Best effort (the defaults of a job that did
 * not ask): what cannot be held is said in r->weaker_note, a pids limit falls back to
 * RLIMIT_NPROC (*nproc), and the limits not held are cleared from cfg. */
static int make_cgroup(sg_sandbox_config *cfg, sg_cgroup **cgp, uint64_t *nproc, sg_sandbox_result *r,
		       sg_error *err)
{
	/* a step whose writes are watched (limits.scratch_mb) is held still while the
	 * watcher sums them: on v1 that takes the freezer hierarchy */
	bool watched = cfg->limits.scratch_mb &&
		       (cfg->scratch_watch || cfg->workspace_mode == SG_WORKSPACE_COW);
	sg_cgroup_limits cl = {.memory_bytes = cfg->limits.memory_mb * 1024 * 1024,
			       .pids = cfg->limits.pids, .cpus = cfg->limits.cpus, .freezer = watched};
	sg_error cg_err = {0};
	sg_cgroup *cg = *cgp = sg_cgroup_create(cfg->cgroups, &cl, &cg_err);
	*nproc = 0;
	if (!cg && !cfg->allow_weaker && !cfg->limits_best_effort) {
		sg_error_set(err, SG_ERR_SANDBOX, 0, "%s", cg_err.msg);
		err->errnum = cg_err.errnum;
		return -1;
	}
	if (!cfg->limits_best_effort)
		return check_limits(cfg, cg, err);
	sg_error lim_err = {0};
	if (cg && check_limits(cfg, cg, &lim_err) == 0)
		return 0;
	r->weaker_note = sg_xasprintf("running without the default memory/pids cgroup limits "
				      "(processes bounded by RLIMIT_NPROC instead): %s",
				      cg ? lim_err.msg : cg_err.msg);
	/* a default pids limit still holds through RLIMIT_NPROC; a default memory limit is
	 * not turned into RLIMIT_AS (it would break runtimes that reserve address space, and
	 * nobody asked for it) */
	if (!sg_cgroup_enforces(cg, SG_CG_PIDS))
		*nproc = cfg->limits.pids;
	if (!sg_cgroup_enforces(cg, SG_CG_MEMORY))
		cfg->limits.memory_mb = 0;
	if (!sg_cgroup_enforces(cg, SG_CG_PIDS))
		cfg->limits.pids = 0;
	return 0;
}

/* Whether the step's cgroup takes a controller from cgroup v2: then it is made before
 * init and init is cloned into it (CLONE_INTO_CGROUP). With v1 controllers only, init
 * has to join after the clone whatever the order, so the cgroup is made while init
 * builds the root, on the other CPU. */
static bool cgroup_before_clone(const sg_cgroup_host *host)
{
	for (int i = 0; i < SG_CG_NCTRL; i++)
		if (host->use[i] == SG_CGV_2)
			return true;
	return false;
}

int sg_sandbox_run(const sg_sandbox_config *cfg_in, sg_sandbox_result *r, sg_error *err)
{
	sg_sandbox_config cfg = *cfg_in;
	memset(r, 0, sizeof(*r));
	r->exit_code = -1;
	r->leftover_processes = -1;

	sg_identity id;
	if (sg_identity_resolve(&id, err) < 0)
		return -1;

	sg_cgroup_host detected;
	bool own_host = false;
	if (!cfg.cgroups) {
	sg_timing_mark("sandbox: start");
		if (sg_cgroup_detect(&detected, err) < 0)
			return -1;
		cfg.cgroups = &detected;
		own_host = true;
	}

	int rc = -1;
	sg_autofree char *scratch_watch = NULL;
	sg_cgroup *cg = NULL;
	sg_mount_plan plan;
	bool plan_ready = false;
	char **envp = NULL;
	const struct sock_fprog *bpf = NULL;
	int ctl[2] = {-1, -1}, execp[2] = {-1, -1};
	int outp[2] = {-1, -1}, errp[2] = {-1, -1};
	int pidfd = -1;
	pid_t init_pid = -1;
	bool clone_locked = false;
	sg_cgroup_stats early_stats;
	bool have_early_stats = false;

	sg_timing_mark("cgroups detected");
	uint64_t best_effort_nproc = 0;
	bool cgroup_first = cgroup_before_clone(cfg.cgroups);
	if (cgroup_first && make_cgroup(&cfg, &cg, &best_effort_nproc, r, err) < 0)
		goto out;

	sg_mount_request req = {.rootfs = cfg.rootfs, .workspace = cfg.workspace,
				.ws_mode = cfg.workspace_mode, .scratch_dir = cfg.scratch_dir,
				.mounts = cfg.mounts, .n_mounts = cfg.n_mounts,
				.tmp_mb = cfg.limits.tmp_mb, .hide = cfg.hide};
	sg_timing_mark(cgroup_first ? "cgroup created" : "cgroup left for after the clone");
	if (sg_mounts_prepare(&req, &id, &plan, err) < 0) {
		plan_ready = true;
		goto out;
	}
	plan_ready = true;
	sg_timing_mark("mounts prepared");
	if (cfg.policy && !(bpf = sg_policy_bpf(cfg.policy, err)))
		goto out;
	const struct sock_fprog *bpf_traced = NULL;
	if (cfg.trace_path && cfg.policy) {
		if (!sg_policy_allows_always(cfg.policy, SCMP_SYS(sendmsg))) {
			r->trace_unavailable = sg_xstrdup("the policy does not allow sendmsg, which hands the "
							  "trace listener over before the exec");
		} else if (!(bpf_traced = sg_policy_bpf_traced(cfg.policy, cfg.network != SG_NET_HOST, err))) {
			goto out;
		} else if (!(r->trace = sg_trace_open(cfg.trace_path, cfg.trace_cap, cfg.policy, sg_monotonic_ns(),
						      err))) {
			goto out;
		}
		r->enforced.violations_traced = r->trace != NULL;
	} else if (cfg.trace_path) {
		r->trace_unavailable = sg_xstrdup("no seccomp policy: nothing to trace with");
	}
	envp = build_env(cfg.extra_env);

	/* From the child's ends of the pipes to their closing after the clone, no other
	 * thread of this process may clone a sandbox: its init would inherit our write
	 * ends and hold our pipes open (see docs/api.md, "Threads"). */
	sg_spawn_lock();
	clone_locked = true;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
		sg_error_set(err, SG_ERR_SANDBOX, errno, "control socket");
		goto out;
	}
	if (make_pipe(execp, err) < 0)
		goto out;
	if (cfg.capture && (make_pipe(outp, err) < 0 || make_pipe(errp, err) < 0))
		goto out;
	/* the command may reopen its output as /dev/stdout or /dev/stderr: a pipe made by
	 * root is root's (mode 0600), so give ours to the sandbox's root */
	if (cfg.capture && !id.rootless) {
		if (fchown(outp[1], id.host_uid, id.host_gid) < 0 || fchown(errp[1], id.host_uid, id.host_gid) < 0) {
			sg_error_set(err, SG_ERR_SANDBOX, errno, "chown the output pipes");
			goto out;
		}
	}

	struct sg_init_ctx ictx = {
		.cfg = &cfg, .plan = &plan, .bpf = bpf, .bpf_traced = bpf_traced, .envp = envp,
		.ctl = ctl[0], .exec_w = execp[1],
		.out_w = outp[1], .err_w = errp[1], .root_mode = !id.rootless,
	};
	uint64_t flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
	if (cfg.network != SG_NET_HOST)
		flags |= CLONE_NEWNET;
	uint64_t t0 = sg_monotonic_ns();
	bool in_cgroup = false;
	sg_timing_mark("policy compiled, pipes made");
	init_pid = clone_init(flags, cgroup_first ? sg_cgroup_clone_fd(cg) : -1, &pidfd, &in_cgroup);
	if (init_pid < 0) {
		int e = errno;
		if (e == EPERM || e == ENOSPC || e == EINVAL || e == EUSERS)
			sg_error_set(err, SG_ERR_SANDBOX, 0,
				     "user namespaces are not available here (creating the sandbox's "
				     "namespaces failed: %s); `shipgate doctor` says why",
				     strerror(e));
		else
			sg_error_set(err, SG_ERR_SANDBOX, 0, "creating the sandbox's namespaces failed: %s", strerror(e));
		err->errnum = e;
		goto out;
	}
	if (init_pid == 0) {
		close(ctl[1]);
		sg_init_main(&ictx);
	}

	/* parent: close the child's ends, map ids, attach, release */
	close(ctl[0]);
	ctl[0] = -1;
	close(execp[1]);
	execp[1] = -1;
	if (outp[1] >= 0) {
		close(outp[1]);
		outp[1] = -1;
		close(errp[1]);
		errp[1] = -1;
	}
	sg_spawn_unlock();
	clone_locked = false;
	sg_timing_mark("cloned");
	/* init joins the v1 hierarchies itself, through these (see cgroup_v1.c) */
	_Static_assert(SG_CG_NCTRL <= SG_CTL_MAX_FDS, "one message carries every tasks file");
	int join_fds[SG_CG_NCTRL];
	size_t n_join = 0;
	if (sg_userns_write_maps(init_pid, &id, err) < 0 || (sg_timing_mark("maps written"), 0) ||
	    (cgroup_first && sg_cgroup_attach(cg, init_pid, !in_cgroup, join_fds, &n_join, err) < 0) ||
	    sg_ctl_send(ctl[1], &(struct sg_ctl_msg){.type = SG_CTL_GO}, NULL, 0) < 0 ||
	    (sg_timing_mark("released"), 0) ||
	    (!cgroup_first && (make_cgroup(&cfg, &cg, &best_effort_nproc, r, err) < 0 ||
			       sg_cgroup_attach(cg, init_pid, true, join_fds, &n_join, err) < 0))) {
		if (err->kind == SG_ERR_NONE)
			sg_error_set(err, SG_ERR_SANDBOX, errno, "release the sandbox");
		for (size_t i = 0; i < n_join; i++)
			close(join_fds[i]);
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		goto reap;
	}
	/* init starts the command once it has this and is in the cgroup; what no cgroup
	 * can hold, when that is allowed, the nearest rlimits do (recorded as such) */
	struct sg_ctl_msg join = {.type = SG_CTL_CGROUP_JOIN, .count = (int64_t)n_join};
	if (cfg.limits.memory_mb && !sg_cgroup_enforces(cg, SG_CG_MEMORY))
		join.rlimit_as = cfg.limits.memory_mb << 20;
	if (cfg.limits.pids && !sg_cgroup_enforces(cg, SG_CG_PIDS))
		join.rlimit_nproc = cfg.limits.pids;
	else if (best_effort_nproc)
		join.rlimit_nproc = best_effort_nproc;
	int sent = sg_ctl_send_fds(ctl[1], &join, join_fds, n_join);
	int send_errno = errno;
	for (size_t i = 0; i < n_join; i++)
		close(join_fds[i]);
	if (sent < 0 && send_errno != EPIPE && send_errno != ECONNRESET) {
		sg_error_set(err, SG_ERR_SANDBOX, send_errno, "release the sandbox");
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		goto reap;
	}
	sg_timing_mark("cgroup made, join sent");
	/* (init gone already: it failed while building the root, and its report waits
	 * for sg_supervise below) */

	fill_enforced(&cfg, &id, &plan, cg, cfg.policy, r);
	/* what the steps write into the copy-on-write layer lands on the host's disk */
	scratch_watch = cfg.scratch_watch ? sg_xstrdup(cfg.scratch_watch)
		      : plan.scratch ? sg_xasprintf("%s/upper", plan.scratch)
		      : plan.copy_dir ? sg_xstrdup(plan.copy_dir) : NULL;
	if (join.rlimit_as || join.rlimit_nproc) {
		r->enforced.rlimit_fallback = true;
		r->enforced.rlimit_as_kb = join.rlimit_as >> 10;
		r->enforced.rlimit_nproc = join.rlimit_nproc;
	}
	sg_supervise_io io = {
		.pidfd = pidfd, .ctl = ctl[1], .exec_r = execp[0], .service = cfg.service,
		.out_r = outp[0], .err_r = errp[0], .timeout_ms = cfg.timeout_ms, .t0_ns = t0,
		.out_sink = cfg.out_sink, .err_sink = cfg.err_sink,
		.output_cap = cfg.limits.output_kb * 1024, .cgroup = cg,
		.interrupted = cfg.interrupted, .trace = r->trace, .leave_signals = cfg.leave_signals,
		.scratch_dir = scratch_watch, .scratch_limit = cfg.limits.scratch_mb << 20,
	};
	sg_supervise_outcome oc;
	sg_supervise(&io, r, &oc);
	if (oc.stats_taken) {
		early_stats = oc.stats;
		early_stats.procs = 0; /* init alone, reaped below */
		have_early_stats = true;
	}
	/* it closed the read ends of the output pipes: closing them again could close
	 * another thread's fd that took the same number */
	outp[0] = errp[0] = -1;
	if (oc.ready) {
		/* what init reported it put in force, exec or no exec */
		r->enforced.capabilities_left = oc.caps_left;
		r->enforced.no_new_privs = oc.no_new_privs;
		r->enforced.landlock_abi = oc.landlock_abi;
		r->enforced.loopback_up = cfg.network == SG_NET_LOOPBACK;
		r->enforced_valid = true;
	}
	if (oc.setup_failed) {
		/* init's text already ends with the errno's text */
		sg_error_set(err, SG_ERR_SANDBOX, 0, "%s", oc.setup_error);
		err->errnum = oc.setup_errno;
		goto reap;
	}
	if (oc.exec_errno > 0) {
		sg_error_set(err, oc.exec_errno == ENOENT ? SG_ERR_NOT_FOUND : SG_ERR_NOT_EXEC,
			     oc.exec_errno, "%s", cfg.argv[0]);
		goto reap;
	}
	if (oc.exec_errno < 0) {
		sg_error_set(err, SG_ERR_SANDBOX, -oc.exec_errno, "restricting the command (Landlock or seccomp)");
		goto reap;
	}
	rc = 0;

reap:;
	struct rusage ru;
	int status;
	sg_timing_mark("supervised");
	if (SG_RETRY(wait4(init_pid, &status, 0, &ru)) == init_pid) {
		uint64_t cpu = (uint64_t)ru.ru_utime.tv_sec * 1000 + (uint64_t)ru.ru_utime.tv_usec / 1000 +
			       (uint64_t)ru.ru_stime.tv_sec * 1000 + (uint64_t)ru.ru_stime.tv_usec / 1000;
		if (!r->cpu_ms)
			r->cpu_ms = cpu;
		if (!r->peak_memory_kb)
			r->peak_memory_kb = (uint64_t)ru.ru_maxrss;
	}
	if (cg) {
		sg_cgroup_stats st;
		if (have_early_stats)
			st = early_stats;
		else
			sg_cgroup_read_stats(cg, &st);
		/* init's end took the pid namespace down: only a straggler needs killing (and
		 * destroy kills whatever keeps the cgroup busy anyway) */
		if (st.procs > 0)
			sg_cgroup_kill(cg);
		if (st.cpu_known)
			r->cpu_ms = st.cpu_ms;
		if (st.peak_memory_kb)
			r->peak_memory_kb = st.peak_memory_kb;
		r->pids_peak = st.pids_peak;
		r->oom_kills = st.oom_kills;
		if (st.oom_kills)
			r->limits_hit |= SG_LIMIT_MEMORY;
		if (st.pids_max_events)
			r->limits_hit |= SG_LIMIT_PIDS;
	}
out:
	if (clone_locked)
		sg_spawn_unlock();
	close_pair(ctl);
	close_pair(execp);
	close_pair(outp);
	close_pair(errp);
	if (pidfd >= 0)
		close(pidfd);
	sg_timing_mark("cgroup stats read");
	sg_cgroup_destroy(cg);
	if (plan_ready)
		sg_mounts_plan_free(&plan);
	free(envp);
	if (own_host)
		sg_cgroup_host_free(&detected);
	sg_timing_mark("sandbox: done");
	return rc;
}

void sg_sandbox_result_free(sg_sandbox_result *r)
{
	sg_trace_free(r->trace);
	free(r->trace_unavailable);
	free(r->weaker_note);
	free(r->out.tail);
	free(r->err.tail);
	free(r->enforced_identity_buf);
	memset(r, 0, sizeof(*r));
}
