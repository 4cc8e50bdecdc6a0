/* run.c: running a job (see run.h).
 *
 * Everything that can be checked is checked before the first step starts (the job was
 * parsed strictly; every policy it names is loaded and compiled; the out dir and the
 * scratch layer are created), so bad input never leaves a job half-run. Steps then run in
 * order, each in a fresh sandbox; the first step that does not pass ends the job and the
 * rest are `skipped`. The scratch layer lives outside the workspace (an overlay's upper
 * layer may not sit inside its lower one) and is removed with the run.
 */
#include "run.h"
#include "digest.h"
#include "trace.h"
#include "util.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

const char *sg_run_result_name(sg_run_result r)
{
	switch (r) {
	case SG_RESULT_PASSED: return "PASSED";
	case SG_RESULT_FAILED: return "FAILED";
	case SG_RESULT_ERROR: return "ERROR";
	default: return "ERROR";
	}
}

/* Features of the job file that this build does not implement yet. They must never be
 * silently ignored: a step that asks for test evidence and gets none must not pass. */
static int check_supported(const sg_job *job, sg_error *err)
{
	for (size_t i = 0; i < job->n_steps; i++) {
		const sg_step *s = &job->steps[i];
		if (s->repeat > 1)
			return sg_error_set(err, SG_ERR_USAGE, 0,
					    "%s: steps[%zu].repeat: repeated steps are not implemented in "
					    "this build of shipgate yet",
					    job->path, i);
	}
	return 0;
}

/* Load (and compile, so that a bad policy fails now) every policy the job names. */
static int load_policies(sg_run *run, sg_error *err)
{
	const sg_job *job = run->job;
	run->policy = sg_policy_load(job->policy, err);
	if (!run->policy || !sg_policy_bpf(run->policy, err))
		return sg_error_prefix(err, "%s: policy", job->path);
	for (size_t i = 0; i < job->n_steps; i++) {
		if (!job->steps[i].policy)
			continue;
		sg_policy *p = sg_policy_load(job->steps[i].policy, err);
		if (!p || !sg_policy_bpf(p, err)) {
			sg_policy_free(p);
			return sg_error_prefix(err, "%s: steps[%zu].policy", job->path, i);
		}
		sg_policy_free(p);
	}
	return 0;
}

static char *default_out_dir(const sg_job *job)
{
	return sg_xasprintf("%s/shipgate-out", job->dir);
}

static int prepare_out_dir(sg_run *run, sg_error *err)
{
	if (sg_mkdir_p(run->out_dir, 0755, err) < 0)
		return sg_error_prefix(err, "out dir");
	sg_autofree char *logs = sg_xasprintf("%s/logs", run->out_dir);
	if (sg_rm_rf(logs, err) < 0 || sg_mkdir_p(logs, 0755, err) < 0)
		return sg_error_prefix(err, "out dir");
	return 0;
}

static int prepare_scratch(sg_run *run, sg_error *err)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = access("/var/tmp", W_OK) == 0 ? "/var/tmp" : "/tmp";
	char *dir = sg_xasprintf("%s/shipgate-scratch-XXXXXX", base);
	if (!mkdtemp(dir)) {
		int e = errno;
		free(dir);
		return sg_error_set(err, SG_ERR_SANDBOX, e, "scratch: mkdtemp in %s", base);
	}
	/* the sandbox's root (an unprivileged host uid) must be able to reach its layers */
	if (geteuid() == 0 && chmod(dir, 0711) < 0) {
		int e = errno;
		rmdir(dir);
		free(dir);
		return sg_error_set(err, SG_ERR_SANDBOX, e, "scratch: chmod");
	}
	run->scratch_dir = dir;
	return 0;
}

static int open_log(const sg_run *run, const char *step, const char *stream, sg_error *err)
{
	sg_autofree char *path = sg_xasprintf("%s/logs/%s.%s", run->out_dir, step, stream);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		sg_error_set(err, SG_ERR_SANDBOX, errno, "open %s", path);
	return fd;
}

static void set_reason(sg_step_record *rec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_reason(sg_step_record *rec, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(rec->reason);
	if (vasprintf(&rec->reason, fmt, ap) < 0)
		rec->reason = NULL;
	va_end(ap);
}

static void explain_status(sg_step_record *rec, const sg_limits *limits, uint64_t timeout_s)
{
	const sg_sandbox_result *r = &rec->result;
	switch (rec->status) {
	case SG_STEP_PASSED:
		set_reason(rec, "exit code 0");
		break;
	case SG_STEP_FAILED:
		set_reason(rec, "exit code %d", r->exit_code);
		break;
	case SG_STEP_TIMEOUT:
		set_reason(rec, "timed out after %llu s (limit %llu s); the whole process tree was killed",
			   (unsigned long long)(r->wall_ms / 1000), (unsigned long long)timeout_s);
		break;
	case SG_STEP_OOM:
		set_reason(rec, "killed by the kernel's OOM killer at the %llu MB memory limit (peak %llu MB, %llu OOM kills)",
			   (unsigned long long)limits->memory_mb, (unsigned long long)(r->peak_memory_kb / 1024),
			   (unsigned long long)r->oom_kills);
		break;
	case SG_STEP_SIGNALED: {
		const char *abbrev = sigabbrev_np(r->signal);
		set_reason(rec, "killed by signal SIG%s (%d)%s", abbrev ? abbrev : "?", r->signal,
			   r->core_dumped ? ", core dumped" : "");
		break;
	}
	case SG_STEP_VIOLATION:
	case SG_STEP_NO_TESTS:
	case SG_STEP_NOT_READY:
	case SG_STEP_PROBE_FAILED:
	case SG_STEP_SKIPPED:
	case SG_STEP_ERROR:
	default:
		break;
	}
	if (rec->status != SG_STEP_PASSED && rec->status != SG_STEP_TIMEOUT && (r->limits_hit & SG_LIMIT_PIDS)) {
		sg_autofree char *old = rec->reason;
		rec->reason = sg_xasprintf("%s; the pids limit (%llu) was hit", old ? old : "failed",
					   (unsigned long long)limits->pids);
	}
}

/* A service driver that tells the run's hooks the moment the service became ready: it
 * passes everything to service.c's driver and looks at the readiness after each reply. */
typedef struct ready_watch {
	sg_service_driver inner;
	const sg_run_events *ev;
	size_t index;
	const sg_step_record *rec;
	bool told;
} ready_watch;

static int watch_next(void *ctx, uint64_t now_ms, struct sg_ctl_msg *req, char *payload, size_t *len,
		      uint64_t *wake_ms)
{
	ready_watch *w = ctx;
	return w->inner.next(w->inner.ctx, now_ms, req, payload, len, wake_ms);
}

static void watch_reply(void *ctx, uint64_t now_ms, const struct sg_ctl_msg *m, const char *payload,
			size_t len)
{
	ready_watch *w = ctx;
	w->inner.reply(w->inner.ctx, now_ms, m, payload, len);
	if (!w->told && w->rec->service->ready) {
		w->told = true;
		w->ev->service_ready(w->ev->ctx, w->index, w->rec);
	}
}

static void watch_exited(void *ctx, uint64_t now_ms)
{
	ready_watch *w = ctx;
	if (w->inner.exited)
		w->inner.exited(w->inner.ctx, now_ms);
}

/* The step's network: the job's `network` when it gives one, else the policy's own
 * default (build and strict say "none"), else loopback (docs/policies.md). */
static sg_net_mode step_network(const sg_job *job, const sg_policy *policy)
{
	sg_net_mode mode = job->network;
	if (!job->network_set && policy && sg_policy_network(policy))
		(void)sg_net_mode_parse(sg_policy_network(policy), &mode);
	return mode;
}

static void run_one_step(sg_run *run, size_t i, const sg_cgroup_host *cgroups, bool allow_weaker,
			 bool trace, volatile int *interrupted, const sg_run_events *ev, bool leave_signals)
{
	const sg_job *job = run->job;
	const sg_step *step = &job->steps[i];
	sg_step_record *rec = &run->steps[i];
	sg_error err = {0};
	sg_policy *step_policy = NULL;
	sg_policy *policy = run->policy;
	if (step->policy) {
		step_policy = sg_policy_load(step->policy, &err);
		policy = step_policy;
	}
	if (!policy) {
		rec->status = SG_STEP_ERROR;
		set_reason(rec, "policy: %s", err.msg);
		return;
	}
	rec->policy_name = sg_xstrdup(sg_policy_name(policy));
	rec->policy_sha256 = sg_xstrdup(sg_policy_sha256(policy));

	int out_fd = open_log(run, step->name, "stdout", &err);
	int err_fd = out_fd >= 0 ? open_log(run, step->name, "stderr", &err) : -1;
	if (out_fd < 0 || err_fd < 0) {
		rec->status = SG_STEP_ERROR;
		set_reason(rec, "%s", err.msg);
		if (out_fd >= 0)
			close(out_fd);
		sg_policy_free(step_policy);
		return;
	}
	uint64_t timeout_s = sg_step_timeout_s(job, step);
	sg_autofree char *layers = sg_xasprintf("%s/layers", run->scratch_dir);
	sg_autofree char *trace_dir = sg_xasprintf("%s/trace", run->out_dir);
	sg_autofree char *trace_path = sg_xasprintf("%s/%s.jsonl", trace_dir, step->name);
	if (mkdir(trace_dir, 0755) < 0 && errno != EEXIST) {
		rec->status = SG_STEP_ERROR;
		set_reason(rec, "trace: mkdir %s: %s", trace_dir, strerror(errno));
		close(out_fd);
		close(err_fd);
		sg_policy_free(step_policy);
		return;
	}
	/* a test step gets the results channel: a fresh directory and $SHIPGATE_RESULTS */
	sg_autofree sg_mount_spec *mounts = sg_xcalloc(job->n_mounts + 1, sizeof(*mounts));
	if (job->n_mounts)
		memcpy(mounts, job->mounts, job->n_mounts * sizeof(*mounts));
	size_t n_mounts = job->n_mounts;
	sg_autofree char **env = sg_xcalloc(job->n_env + 2, sizeof(char *));
	if (job->n_env)
		memcpy(env, job->env, job->n_env * sizeof(char *));
	static char results_env[] = "SHIPGATE_RESULTS=" SG_RESULTS_DIR_INSIDE;
	if (step->has_tests) {
		rec->tests = sg_xcalloc(1, sizeof(*rec->tests));
		if (sg_step_tests_prepare(rec->tests, &step->tests, run->scratch_dir, layers, step->name, &err) < 0) {
			rec->status = SG_STEP_ERROR;
			set_reason(rec, "%s", err.msg);
			close(out_fd);
			close(err_fd);
			sg_policy_free(step_policy);
			return;
		}
		if (rec->tests->results_dir) {
			mounts[n_mounts++] = (sg_mount_spec){rec->tests->results_dir, (char *)SG_RESULTS_DIR_INSIDE, false};
			env[job->n_env] = results_env;
		}
	}
	sg_sandbox_config cfg = {
		.argv = step->argv,
		.extra_env = env,
		.rootfs = job->rootfs,
		.workspace = job->workspace,
		.workspace_mode = SG_WORKSPACE_COW,
		.scratch_dir = layers,
		.mounts = mounts,
		.n_mounts = n_mounts,
		.network = step_network(job, policy),
		.policy = policy,
		.limits = job->limits,
		.timeout_ms = timeout_s * 1000,
		.capture = true,
		.out_sink = {.passthrough_fd = -1, .log_fd = out_fd,
			     .full_fd = rec->tests ? rec->tests->tap_fd : -1,
			     .full_cap = rec->tests && rec->tests->tap_fd >= 0 ? SG_TEST_REPORT_MAX_BYTES : 0},
		.err_sink = {.passthrough_fd = -1, .log_fd = err_fd},
		.stdin_fd = -1,
		.allow_weaker = allow_weaker,
		.cgroups = cgroups,
		.interrupted = interrupted,
		.leave_signals = leave_signals,
		.trace_path = trace ? trace_path : NULL,
	};
	sg_service_driver driver;
	ready_watch watch;
	if (step->service) {
		rec->service = sg_xcalloc(1, sizeof(*rec->service));
		sg_service_run_init(rec->service, step->service);
		driver = sg_service_run_driver(rec->service);
		cfg.service = &driver;
		if (ev && ev->service_ready) {
			watch = (ready_watch){.inner = driver, .ev = ev, .index = i, .rec = rec};
			driver = (sg_service_driver){.ctx = &watch, .next = watch_next, .reply = watch_reply,
						     .exited = watch_exited, .stop_grace_ms = watch.inner.stop_grace_ms};
		}
	}
	rec->ran = true;
	int rc = sg_sandbox_run(&cfg, &rec->result, &err);
	close(out_fd);
	close(err_fd);
	sg_policy_free(step_policy);
	if (rec->result.interrupted) {
		run->interrupted = true;
		rec->status = SG_STEP_ERROR;
		set_reason(rec, "interrupted: shipgate received a signal and killed the sandbox");
		return;
	}
	if (rc < 0) {
		if (err.kind == SG_ERR_NOT_FOUND || err.kind == SG_ERR_NOT_EXEC) {
			/* the candidate's command: a candidate failure, exit codes as a shell has them */
			rec->status = SG_STEP_FAILED;
			rec->result.exit_code = err.kind == SG_ERR_NOT_FOUND ? 127 : 126;
			set_reason(rec, "%s: %s", err.kind == SG_ERR_NOT_FOUND ? "command not found" : "cannot execute",
				   err.msg);
		} else {
			rec->status = SG_STEP_ERROR;
			set_reason(rec, "sandbox: %s", err.msg);
		}
		return;
	}
	if (!run->enforced_known) {
		run->enforced = rec->result.enforced;
		run->enforced_identity = sg_xstrdup(rec->result.enforced.identity);
		run->enforced.identity = run->enforced_identity;
		run->enforced_known = true;
	}
	rec->status = sg_classify_exit(&rec->result);
	explain_status(rec, &job->limits, timeout_s);
	const char *violation = rec->result.trace ? sg_trace_failing_violation(rec->result.trace) : NULL;
	if (violation && rec->status != SG_STEP_TIMEOUT && rec->status != SG_STEP_OOM) {
		/* the policy says this denied call fails the step, whatever came after it */
		rec->status = SG_STEP_VIOLATION;
		set_reason(rec, "%s", violation);
		return;
	}
	if (rec->tests) {
		sg_step_tests_collect(rec->tests, rec->result.out.bytes > SG_TEST_REPORT_MAX_BYTES);
		char *why = NULL;
		sg_step_status st = sg_step_tests_judge(rec->tests, rec->status, &why);
		if (why) {
			sg_autofree char *old = rec->reason;
			rec->reason = rec->status == SG_STEP_FAILED && st == SG_STEP_FAILED && old
					      ? sg_xasprintf("%s: %s", old, why)
					      : sg_steal_ptr(&why);
		}
		free(why);
		rec->status = st;
		if (st == SG_STEP_PASSED) {
			free(rec->reason);
			rec->reason = sg_xasprintf("exit code 0; %llu tests passed, %llu skipped",
						   (unsigned long long)rec->tests->report.passed,
						   (unsigned long long)rec->tests->report.skipped);
		}
	}
	if (rec->service && rec->status != SG_STEP_TIMEOUT && rec->status != SG_STEP_OOM) {
		/* a service is judged by its readiness and probes; its own end is stopped by us */
		char *why = NULL;
		rec->status = sg_service_run_status(rec->service, &why);
		free(rec->reason);
		if (why && rec->service->exited_early) {
			const sg_sandbox_result *r = &rec->result;
			const char *abbrev = r->signal ? sigabbrev_np(r->signal) : NULL;
			char *longer = r->signal ? sg_xasprintf("%s (killed by SIG%s)", why, abbrev ? abbrev : "?")
						 : sg_xasprintf("%s (exit code %d)", why, r->exit_code);
			free(why);
			why = longer;
		}
		rec->reason = why ? why : sg_xasprintf("ready in %llu ms, %zu probe%s passed",
						       (unsigned long long)rec->service->ready_ms,
						       rec->service->n_probes, rec->service->n_probes == 1 ? "" : "s");
	}
}

static char *upper_dir(const sg_run *run)
{
	return sg_xasprintf("%s/layers/upper", run->scratch_dir);
}

/* After a step: did it leave a protected path modified? Then the step is a violation. */
static void check_protect(sg_run *run, sg_step_record *rec)
{
	const sg_job *job = run->job;
	if (!job->n_protect || rec->status == SG_STEP_ERROR)
		return;
	sg_autofree char *upper = upper_dir(run);
	sg_changes c;
	sg_error err = {0};
	if (sg_changes_scan(upper, 100000, false, &c, &err) < 0) {
		sg_changes_free(&c);
		if (access(upper, F_OK) != 0)
			return; /* nothing written at all (or the copy fallback: see changed_files) */
		rec->status = SG_STEP_ERROR;
		set_reason(rec, "protect: %s", err.msg);
		return;
	}
	const sg_change *hit = sg_changes_match(&c, job->protect);
	if (hit) {
		sg_autofree char *clean = sg_utf8_sanitize(hit->path, strlen(hit->path));
		rec->status = SG_STEP_VIOLATION;
		set_reason(rec, "modified the protected path %s (%s)", clean,
			   hit->kind == SG_CHANGE_DELETED ? "deleted" : "written");
	}
	sg_changes_free(&c);
}

/* The digests of the job's read-only mounts, to tell afterwards whether they were left
 * intact (a writable mount is there to be written). */
static int digest_mounts(const sg_run *run, char **out, sg_error *err)
{
	for (size_t i = 0; i < run->job->n_mounts; i++) {
		if (!run->job->mounts[i].readonly)
			continue;
		char hex[65];
		if (sg_tree_digest(run->job->mounts[i].source, NULL, hex, NULL, err) < 0)
			return sg_error_prefix(err, "mount %s", run->job->mounts[i].target);
		out[i] = sg_xstrdup(hex);
	}
	return 0;
}

static void check_mounts(sg_run *run)
{
	run->mounts_intact = true;
	for (size_t i = 0; i < run->job->n_mounts; i++) {
		if (!run->job->mounts[i].readonly)
			continue;
		char hex[65];
		sg_error err = {0};
		if (sg_tree_digest(run->job->mounts[i].source, NULL, hex, NULL, &err) < 0 ||
		    strcmp(hex, run->mount_digests[i]) != 0) {
			run->mounts_intact = false;
			run->mount_changed = sg_xstrdup(run->job->mounts[i].target);
			return;
		}
	}
}

static int digest_workspace(sg_run *run, sg_error *err)
{
	const char *ws = run->job->workspace;
	size_t wl = strlen(ws);
	size_t n = 0;
	char real_out[PATH_MAX];
	if (realpath(run->out_dir, real_out) && !strncmp(real_out, ws, wl) && real_out[wl] == '/')
		run->subject_excludes[n++] = sg_xstrdup(real_out + wl + 1);
	run->subject_excludes[n] = NULL;
	sg_tree_digest_opts opts = {.exclude = (const char *const *)run->subject_excludes};
	return sg_tree_digest(ws, &opts, run->subject_sha256, NULL, err);
}

int sg_run_job(const sg_job *job, const sg_run_options *opts, sg_run *run, sg_error *err)
{
	memset(run, 0, sizeof(*run));
	run->job = job;
	run->n_steps = job->n_steps;
	run->steps = sg_xcalloc(job->n_steps ? job->n_steps : 1, sizeof(*run->steps));
	for (size_t i = 0; i < job->n_steps; i++) {
		run->steps[i].step = &job->steps[i];
		run->steps[i].status = SG_STEP_SKIPPED;
		run->steps[i].result.exit_code = -1;
		run->steps[i].result.leftover_processes = -1;
	}
	struct utsname un;
	run->kernel = sg_xstrdup(uname(&un) == 0 ? un.release : "unknown");
	run->rootless = geteuid() != 0;
	run->os_release = sg_os_release(strcmp(job->rootfs, "host") ? job->rootfs : "/");
	run->out_dir = opts && opts->out_dir ? sg_xstrdup(opts->out_dir) : default_out_dir(job);

	if (check_supported(job, err) < 0 || load_policies(run, err) < 0)
		return -1;
	sg_cgroup_host cgroups;
	if (sg_cgroup_detect(&cgroups, err) < 0)
		return -1;
	run->cgroup_layout = sg_xstrdup(cgroups.layout);
	if (prepare_out_dir(run, err) < 0 || prepare_scratch(run, err) < 0) {
		sg_cgroup_host_free(&cgroups);
		return -1;
	}
	bool allow_weaker = job->allow_weaker_isolation || (opts && opts->allow_weaker);
	const sg_run_events *ev = opts ? opts->events : NULL;
	volatile int *interrupted = opts ? opts->interrupted : NULL;

	run->mount_digests = sg_xcalloc(job->n_mounts + 1, sizeof(char *));
	if (digest_mounts(run, run->mount_digests, err) < 0) {
		sg_cgroup_host_free(&cgroups);
		return -1;
	}
	sg_rfc3339_now(run->started, sizeof(run->started));
	if (ev && ev->job_started)
		ev->job_started(ev->ctx, run);
	size_t failed_at = job->n_steps;
	for (size_t i = 0; i < job->n_steps; i++) {
		if (interrupted && *interrupted) {
			run->interrupted = true;
			failed_at = i;
			break;
		}
		if (ev && ev->step_started)
			ev->step_started(ev->ctx, i, &job->steps[i]);
		run_one_step(run, i, &cgroups, allow_weaker, !(opts && opts->no_trace), interrupted, ev,
			     opts && opts->leave_signals);
		check_protect(run, &run->steps[i]);
		if (ev && ev->step_finished)
			ev->step_finished(ev->ctx, i, &run->steps[i]);
		if (run->steps[i].status != SG_STEP_PASSED) {
			failed_at = i;
			break;
		}
	}
	for (size_t i = failed_at + 1; i < job->n_steps; i++)
		run->steps[i].reason = sg_xstrdup("an earlier step did not pass");
	sg_cgroup_host_free(&cgroups);

	check_mounts(run);
	sg_autofree char *upper = upper_dir(run);
	sg_error cerr = {0};
	if (access(upper, F_OK) == 0) {
		run->changes_known = sg_changes_scan(upper, 1000, true, &run->changes, &cerr) == 0;
	} else if (run->enforced_known && strcmp(run->enforced.workspace, "copy") != 0) {
		run->changes_known = true; /* no upper layer: nothing was written */
		run->changes.items = sg_xcalloc(1, sizeof(sg_change));
	}
	sg_error derr = {0};
	bool digest_ok = digest_workspace(run, &derr) == 0;
	sg_rfc3339_now(run->finished, sizeof(run->finished));

	if (run->interrupted) {
		run->result = SG_RESULT_ERROR;
		run->reason = sg_xstrdup("interrupted: shipgate received a signal and killed the sandbox");
	} else if (!digest_ok) {
		run->result = SG_RESULT_ERROR;
		run->reason = sg_xasprintf("workspace digest: %s", derr.msg);
	} else if (!run->mounts_intact) {
		run->result = SG_RESULT_FAILED;
		run->reason = sg_xasprintf("the read-only mount %s changed during the job", run->mount_changed);
	} else if (failed_at == job->n_steps) {
		run->result = SG_RESULT_PASSED;
		run->reason = sg_xasprintf("all %zu steps passed", job->n_steps);
	} else {
		const sg_step_record *rec = &run->steps[failed_at];
		run->result = rec->status == SG_STEP_ERROR ? SG_RESULT_ERROR : SG_RESULT_FAILED;
		run->reason = sg_xasprintf("step '%s' %s: %s", rec->step->name,
					   rec->status == SG_STEP_ERROR ? "could not run" : sg_step_status_name(rec->status),
					   rec->reason ? rec->reason : "");
	}
	return 0;
}

void sg_run_free(sg_run *run)
{
	if (run->scratch_dir) {
		sg_error err = {0};
		if (sg_rm_rf(run->scratch_dir, &err) < 0)
			fprintf(stderr, "shipgate: warning: could not remove %s: %s\n", run->scratch_dir, err.msg);
		free(run->scratch_dir);
	}
	for (size_t i = 0; i < run->n_steps; i++) {
		free(run->steps[i].reason);
		free(run->steps[i].policy_name);
		free(run->steps[i].policy_sha256);
		sg_sandbox_result_free(&run->steps[i].result);
		if (run->steps[i].service) {
			sg_service_run_free(run->steps[i].service);
			free(run->steps[i].service);
		}
		if (run->steps[i].tests) {
			sg_step_tests_free(run->steps[i].tests);
			free(run->steps[i].tests);
		}
	}
	free(run->steps);
	for (size_t i = 0; i < SG_ARRAY_LEN(run->subject_excludes); i++)
		free(run->subject_excludes[i]);
	sg_policy_free(run->policy);
	free(run->out_dir);
	free(run->reason);
	free(run->enforced_identity);
	free(run->kernel);
	free(run->cgroup_layout);
	cJSON_Delete(run->os_release);
	sg_changes_free(&run->changes);
	for (size_t i = 0; run->mount_digests && i < run->job->n_mounts; i++)
		free(run->mount_digests[i]);
	free(run->mount_digests);
	free(run->mount_changed);
	memset(run, 0, sizeof(*run));
}
