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
#include "publish.h"
#include "digest.h"
#include "trace.h"
#include "util.h"

#include <fcntl.h>
#include <sys/file.h>
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

/* Load (and compile, so that a bad policy fails now) every policy the job names. */
static int load_policies(sg_run *run, sg_error *err)
{
	const sg_job *job = run->job;
	run->policy = sg_policy_load(job->policy, err);
	if (!run->policy || !sg_policy_bpf(run->policy, err))
		return sg_error_prefix(err, "%s: policy", job->path);
	/* each step's own policy is read here, once, and kept: read again by path before its
	 * step, it was whatever an earlier step had put there (through a writable mount
	 * holding the file or the policy dir), or a host file it linked there */
	run->step_policies = sg_xcalloc(job->n_steps ? job->n_steps : 1, sizeof(*run->step_policies));
	for (size_t i = 0; i < job->n_steps; i++) {
		if (!job->steps[i].policy)
			continue;
		sg_policy *p = sg_policy_load(job->steps[i].policy, err);
		if (!p || !sg_policy_bpf(p, err)) {
			sg_policy_free(p);
			return sg_error_prefix(err, "%s: steps[%zu].policy", job->path, i);
		}
		run->step_policies[i] = p;
	}
	return 0;
}

static char *default_out_dir(const sg_job *job)
{
	return sg_xasprintf("%s/shipgate-out", job->dir);
}

/* The out dir often lies in the job directory, which the candidate's author writes: a
 * symlink planted there (shipgate-out itself, or its logs/ or trace/) would have shipgate
 * write the step's output, and remove a directory, wherever it points, with shipgate's
 * privileges. So the out dir must be a real directory, and logs/ and trace/ are made
 * afresh (removing a planted link removes the link, not what it points at). */
static int prepare_out_dir(sg_run *run, sg_error *err)
{
	/* "out/" would make lstat follow a link named out */
	size_t len = strlen(run->out_dir);
	while (len > 1 && run->out_dir[len - 1] == '/')
		run->out_dir[--len] = '\0';
	/* below the job directory (shipgate-out/, loop's shipgate-out/attempt-N/), every
	 * component is checked before anything is made in it; elsewhere, the out dir itself
	 * (the user chose the way there) */
	size_t jl = strlen(run->job->dir);
	bool in_job_dir = !strncmp(run->out_dir, run->job->dir, jl) && run->out_dir[jl] == '/';
	if (!in_job_dir && sg_mkdir_p(run->out_dir, 0755, err) < 0) {
		err->kind = SG_ERR_USAGE; /* a bad --out: nothing ran */
		return sg_error_prefix(err, "out dir");
	}
	for (size_t i = in_job_dir ? jl + 1 : len; i <= len; i++) {
		if (run->out_dir[i] != '/' && run->out_dir[i] != '\0')
			continue;
		sg_autofree char *part = sg_xstrndup(run->out_dir, i);
		if (mkdir(part, 0755) < 0 && errno != EEXIST)
			return sg_error_set(err, SG_ERR_USAGE, errno, "out dir: mkdir %s", part);
		struct stat st;
		if (lstat(part, &st) < 0)
			return sg_error_set(err, SG_ERR_USAGE, errno, "out dir %s", part);
		if (!S_ISDIR(st.st_mode))
			return sg_error_set(err, SG_ERR_USAGE, 0,
					    "out dir: %s is a symlink, not a directory: refused (shipgate would "
					    "write and delete where it points); remove it, or pass --out with the "
					    "real path",
					    part);
	}
	/* one run per out dir: two would delete and overwrite each other's evidence */
	sg_autofree char *lock_path = sg_xasprintf("%s/.shipgate-run.lock", run->out_dir);
	int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (lock_fd < 0)
		return sg_error_set(err, SG_ERR_USAGE, errno, "out dir: %s", lock_path);
	if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		close(lock_fd);
		return sg_error_set(err, SG_ERR_USAGE, 0,
				    "out dir %s: another shipgate run is writing there (pass another --out)",
				    run->out_dir);
	}
	run->out_lock = lock_fd + 1;
	/* nothing of an earlier run may stay beside this one's evidence, even if this run
	 * ends before it writes its own */
	static const char *const earlier[] = {"statement.json", "verdict.dsse.json", "vsa.dsse.json",
					      "diagnosis.json", "diagnosis.md"};
	for (size_t i = 0; i < SG_ARRAY_LEN(earlier); i++) {
		sg_autofree char *p = sg_xasprintf("%s/%s", run->out_dir, earlier[i]);
		if (unlink(p) < 0 && errno != ENOENT)
			return sg_error_set(err, SG_ERR_USAGE, errno, "out dir: remove %s", p);
	}
	static const char *const fresh[] = {"logs", "trace"};
	for (size_t i = 0; i < SG_ARRAY_LEN(fresh); i++) {
		sg_autofree char *dir = sg_xasprintf("%s/%s", run->out_dir, fresh[i]);
		if (sg_rm_rf(dir, err) < 0 || mkdir(dir, 0755) < 0) {
			if (err->kind == SG_ERR_NONE)
				sg_error_set(err, SG_ERR_INTERNAL, errno, "mkdir %s", dir);
			return sg_error_prefix(err, "out dir");
		}
	}
	return 0;
}

static int prepare_scratch(sg_run *run, sg_error *err)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = access("/var/tmp", W_OK) == 0 ? "/var/tmp" : "/tmp";
	sg_scratch_remove_stale(base, "shipgate-scratch-");
	char *dir = sg_xasprintf("%s/shipgate-scratch-%d-XXXXXX", base, (int)getpid());
	if (!mkdtemp(dir)) {
		int e = errno;
		free(dir);
		return sg_error_set(err, SG_ERR_SANDBOX, e, "scratch: mkdtemp in %s", base);
	}
	/* mkdtemp made it 0700: other local users cannot reach what the steps write */
	run->scratch_dir = dir;
	return 0;
}

/* The name of a step's files (logs, trace): the step's name, and for the runs after the
 * first of a repeated step "NAME.run-K". */
static char *run_file_stem(const char *step, unsigned k)
{
	return k > 1 ? sg_xasprintf("%s.run-%u", step, k) : sg_xstrdup(step);
}

static int open_log(const sg_run *run, const char *stem, const char *stream, sg_error *err)
{
	sg_autofree char *path = sg_xasprintf("%s/logs/%s.%s", run->out_dir, stem, stream);
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
		if (r->limits_hit & SG_LIMIT_SCRATCH)
			set_reason(rec, "wrote more than %llu MB into the workspace's copy-on-write layer "
					"(limits.scratch_mb), or the disk holding it was nearly full: killed, or failed when it ended",
				   (unsigned long long)limits->scratch_mb);
		else
			set_reason(rec, "exit code %d", r->exit_code);
		break;
	case SG_STEP_TIMEOUT:
		/* the limit counts from the sandbox's start, wall_ms from the command's exec */
		set_reason(rec, "timed out after %.1f s (limit %llu s); the whole process tree was killed",
			   (double)r->wall_ms / 1000.0, (unsigned long long)timeout_s);
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

/* A step's output tails move to one file of the run's own, unlinked in its scratch dir,
 * which no step can reach (the steps' logs can be replaced from a writable mount, or
 * share a name): the statement reads them back (sg_evidence_stream). Each step held
 * 4 KiB of tails to the end of the job: 200 steps with output, 0.6 MB of the
 * supervisor's peak. A tail that cannot be written stays in memory. */
static void tail_spill(sg_run *run, sg_stream_evidence *ev)
{
	if (!ev->tail || !run->scratch_dir)
		return;
	if (!run->tails) {
		int fd = open(run->scratch_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0) {
			sg_autofree char *tmpl = sg_xasprintf("%s/tails-XXXXXX", run->scratch_dir);
			fd = mkostemp(tmpl, O_CLOEXEC);
			if (fd >= 0)
				unlink(tmpl);
		}
		if (fd < 0)
			return;
		run->tails = fd + 1;
	}
	size_t len = strlen(ev->tail);
	if (SG_RETRY(pwrite(run->tails - 1, ev->tail, len, (off_t)run->tails_len)) != (ssize_t)len)
		return;
	ev->tail_spilled = true;
	ev->tail_fd = run->tails - 1;
	ev->tail_off = run->tails_len;
	ev->tail_len = (uint32_t)len;
	run->tails_len += len;
	free(ev->tail);
	ev->tail = NULL;
}

/* One run of step i (k: which run of a repeated step, 1 for the first) into rec. */
static void run_one_step(sg_run *run, size_t i, unsigned k, sg_step_record *rec, const sg_cgroup_host *cgroups,
			 bool allow_weaker, bool trace, volatile int *interrupted)
{
	const sg_job *job = run->job;
	const sg_step *step = &job->steps[i];
	sg_autofree char *stem = run_file_stem(step->name, k);
	rec->run = k;
	sg_error err = {0};
	sg_policy *policy = step->policy ? run->step_policies[i] : run->policy;
	if (!policy) {
		rec->status = SG_STEP_ERROR;
		set_reason(rec, "policy: not loaded");
		return;
	}
	rec->policy_name = sg_xstrdup(sg_policy_name(policy));
	rec->policy_sha256 = sg_xstrdup(sg_policy_sha256(policy));

	int out_fd = open_log(run, stem, "stdout", &err);
	int err_fd = out_fd >= 0 ? open_log(run, stem, "stderr", &err) : -1;
	if (out_fd < 0 || err_fd < 0) {
		rec->status = SG_STEP_ERROR;
		set_reason(rec, "%s", err.msg);
		if (out_fd >= 0)
			close(out_fd);
		return;
	}
	uint64_t timeout_s = sg_step_timeout_s(job, step);
	sg_autofree char *layers = sg_xasprintf("%s/layers", run->scratch_dir);
	sg_autofree char *trace_dir = sg_xasprintf("%s/trace", run->out_dir);
	sg_autofree char *trace_path = sg_xasprintf("%s/%s.jsonl", trace_dir, stem);
	if (mkdir(trace_dir, 0755) < 0 && errno != EEXIST) {
		rec->status = SG_STEP_ERROR;
		set_reason(rec, "trace: mkdir %s: %s", trace_dir, strerror(errno));
		close(out_fd);
		close(err_fd);
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
		if (sg_step_tests_prepare(rec->tests, &step->tests, run->scratch_dir, layers, job->workspace, step->name,
					  &err) < 0) {
			rec->status = SG_STEP_ERROR;
			set_reason(rec, "%s", err.msg);
			close(out_fd);
			close(err_fd);
				return;
		}
		rec->tests->keep_outcomes = step->repeat > 1;
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
		/* the layers, the results channels and the TAP captures: all of it is on the
		 * host's disk because of what the steps write */
		.scratch_watch = run->scratch_dir,
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
		.leave_signals = run->leave_signals,
		.trace_path = trace ? trace_path : NULL,
		.hide = run->hide,
	};
	sg_service_driver driver;
	ready_watch watch;
	if (step->service) {
		rec->service = sg_xcalloc(1, sizeof(*rec->service));
		sg_service_run_init(rec->service, step->service);
		driver = sg_service_run_driver(rec->service);
		cfg.service = &driver;
		const sg_run_events *ev = run->events;
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
	tail_spill(run, &rec->result.out);
	tail_spill(run, &rec->result.err);
	if (rec->result.interrupted) {
		run->interrupted = true;
		rec->status = SG_STEP_ERROR;
		set_reason(rec, "interrupted: shipgate received a signal and killed the sandbox");
		return;
	}
	if (rec->result.enforced_valid) {
		/* the job's `enforced` is what held for every step: the weakest of them */
		if (!run->enforced_known) {
			run->enforced = rec->result.enforced;
			run->enforced_identity = sg_xstrdup(rec->result.enforced.identity);
			run->enforced.identity = run->enforced_identity;
			run->enforced_known = true;
		} else {
			sg_enforced_weakest(&run->enforced, &rec->result.enforced);
		}
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
			rec->reason = rec->status == SG_STEP_FAILED && (st == SG_STEP_FAILED || st == SG_STEP_NO_TESTS) && old
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

/* A reason can carry what the candidate chose (a path, a denied call's arguments, a test
 * name) and is printed on the terminal as it is: make it one harmless line. */
static void one_line_reason(char **reason)
{
	if (!*reason)
		return;
	char *clean = sg_text_one_line(*reason);
	free(*reason);
	*reason = clean;
}

static void step_record_free(sg_step_record *rec)
{
	free(rec->reason);
	free(rec->policy_name);
	free(rec->policy_sha256);
	sg_sandbox_result_free(&rec->result);
	if (rec->service) {
		sg_service_run_free(rec->service);
		free(rec->service);
	}
	if (rec->tests) {
		sg_step_tests_free(rec->tests);
		free(rec->tests);
	}
	for (size_t i = 0; i < rec->n_flaky; i++)
		free(rec->flaky[i]);
	free(rec->flaky);
	free(rec->runs);
	memset(rec, 0, sizeof(*rec));
}

/* A status that says what the tests or the service did, as opposed to how the sandbox
 * ended it (timeout, oom, a signal, a violation, an error): only these are compared
 * across the runs of a repeated step. */
static bool is_outcome_status(sg_step_status s)
{
	return s == SG_STEP_PASSED || s == SG_STEP_FAILED || s == SG_STEP_NO_TESTS || s == SG_STEP_NOT_READY ||
	       s == SG_STEP_PROBE_FAILED;
}

static const sg_test_report *usable_report(const sg_step_record *rec)
{
	return rec->tests && rec->tests->have_report && !rec->tests->unusable ? &rec->tests->report : NULL;
}

static bool same_counts(const sg_test_report *a, const sg_test_report *b)
{
	return a->total == b->total && a->passed == b->passed && a->failed == b->failed && a->skipped == b->skipped;
}

/* The runs' statuses, "passed, failed, passed", for a reason. */
static char *status_list(const sg_step_record *recs, unsigned n)
{
	sg_buf b = {0};
	for (unsigned k = 0; k < n; k++)
		sg_buf_printf(&b, "%s%s", k ? ", " : "", sg_step_status_name(recs[k].status));
	return b.data;
}

/* A step with `repeat: N`: N runs, each in a fresh sandbox over the same scratch layer
 * (what one run writes, the next sees). A run that ends by timeout, oom, a signal, a
 * violation or an error stops the repetition and is the step's result. Otherwise the
 * runs are compared: the same status and, for a test step, the same tests with the same
 * results (by name). If they agree, the step's result and evidence are the first run's.
 * If not, the step is `flaky`; `flaky` names the tests whose results differed and the
 * evidence is that of the first run that did not pass. Every run is summed up in `runs`. */
static void run_repeated_step(sg_run *run, size_t i, const sg_cgroup_host *cgroups, bool allow_weaker, bool trace,
			      volatile int *interrupted)
{
	const sg_step *step = &run->job->steps[i];
	unsigned n = (unsigned)step->repeat;
	sg_step_record *recs = sg_xcalloc(n, sizeof(*recs));
	unsigned done = 0;
	/* each run is compared with the first as soon as it ends, then its tests' names are
	 * forgotten: N runs of 20,000 tests hold two lists of names, not N */
	bool differ = false;
	char **flaky = NULL;
	size_t n_flaky = 0;
	for (unsigned k = 1; k <= n; k++) {
		sg_step_record *r = &recs[k - 1];
		r->step = step;
		r->status = SG_STEP_SKIPPED;
		r->result.exit_code = -1;
		r->result.leftover_processes = -1;
		run_one_step(run, i, k, r, cgroups, allow_weaker, trace, interrupted);
		done = k;
		if (k > 1 && is_outcome_status(r->status)) {
			const sg_test_report *first = usable_report(&recs[0]);
			const sg_test_report *other = usable_report(r);
			if (r->status != recs[0].status)
				differ = true;
			if (first && other) {
				if (sg_test_outcomes_diff(first, other, &flaky, &n_flaky) || !same_counts(first, other))
					differ = true;
			} else if (!first != !other) {
				differ = true; /* one run has a usable report, the other none */
			}
		}
		if (k > 1 && r->tests)
			sg_test_report_drop_outcomes(&r->tests->report);
		if (run->interrupted || !is_outcome_status(r->status) || (interrupted && *interrupted))
			break;
	}
	if (recs[0].tests)
		sg_test_report_drop_outcomes(&recs[0].tests->report);
	unsigned keep = 0;
	sg_step_status status;
	char *reason = NULL;
	const sg_step_record *last = &recs[done - 1];
	if (!is_outcome_status(last->status)) {
		/* the repetition stopped: what the runs before it had in common says nothing */
		for (size_t f = 0; f < n_flaky; f++)
			free(flaky[f]);
		free(sg_steal_ptr(&flaky));
		n_flaky = 0;
		keep = done - 1;
		status = last->status;
		if (done > 1 || n > 1) {
			sg_autofree char *list = status_list(recs, done);
			reason = sg_xasprintf("run %u of %u: %s (runs so far: %s)", done, n,
					      last->reason ? last->reason : sg_step_status_name(last->status), list);
		}
	} else {
		sg_names_sort_unique(flaky, &n_flaky);
		sg_autofree char *list = status_list(recs, done);
		if (!differ) {
			status = recs[0].status;
			reason = sg_xasprintf("%s (the same in all %u runs)", recs[0].reason ? recs[0].reason : "",
					      done);
		} else {
			status = SG_STEP_FLAKY;
			while (keep < done && recs[keep].status == SG_STEP_PASSED)
				keep++;
			if (keep == done)
				keep = 0;
			if (n_flaky) {
				sg_buf names = {0};
				for (size_t f = 0; f < n_flaky && f < 5; f++)
					sg_buf_printf(&names, "%s%s", f ? ", " : "", flaky[f]);
				reason = sg_xasprintf("%zu test%s gave different results across %u runs (%s%s); runs: %s",
						      n_flaky, n_flaky == 1 ? "" : "s", done, names.data,
						      n_flaky > 5 ? ", ..." : "", list);
				sg_buf_free(&names);
			} else {
				reason = sg_xasprintf("the %u runs gave different results (%s); run %u: %s", done, list,
						      keep + 1, recs[keep].reason ? recs[keep].reason : "");
			}
		}
	}
	sg_step_run_summary *runs = sg_xcalloc(done, sizeof(*runs));
	for (unsigned k = 0; k < done; k++) {
		const sg_step_record *r = &recs[k];
		runs[k] = (sg_step_run_summary){.status = r->status, .ran = r->ran, .result = r->result};
		runs[k].result.trace = NULL; /* only the figures are kept */
		runs[k].result.out.tail = runs[k].result.err.tail = NULL;
		runs[k].result.out.tail_spilled = runs[k].result.err.tail_spilled = false;
		runs[k].result.trace_unavailable = NULL;
		runs[k].result.enforced_identity_buf = NULL;
		runs[k].result.enforced.identity = NULL;
		const sg_test_report *rep = r->tests && r->tests->have_report ? &r->tests->report : NULL;
		if (rep) {
			runs[k].has_tests = true;
			runs[k].total = rep->total;
			runs[k].passed = rep->passed;
			runs[k].failed = rep->failed;
			runs[k].skipped = rep->skipped;
		}
	}
	for (unsigned k = 0; k < done; k++)
		if (k != keep)
			step_record_free(&recs[k]);
	sg_step_record *rec = &run->steps[i];
	*rec = recs[keep];
	free(recs);
	rec->status = status;
	if (reason) {
		free(rec->reason);
		rec->reason = reason;
	}
	rec->runs = runs;
	rec->n_runs = done;
	rec->flaky = flaky;
	rec->n_flaky = n_flaky;
}

static void run_step(sg_run *run, size_t i, const sg_cgroup_host *cgroups, bool allow_weaker, bool trace,
		     volatile int *interrupted)
{
	if (run->job->steps[i].repeat > 1)
		run_repeated_step(run, i, cgroups, allow_weaker, trace, interrupted);
	else
		run_one_step(run, i, 1, &run->steps[i], cgroups, allow_weaker, trace, interrupted);
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
	/* every change is matched, not only the first stored ones: a step cannot hide a
	 * protected path behind a hundred thousand others */
	if (sg_changes_scan_watch(upper, 1, false, job->protect, &run->protect_dirs, &c, &err) < 0) {
		sg_changes_free(&c);
		if (access(upper, F_OK) != 0)
			return; /* nothing written at all (or the copy fallback: see changed_files) */
		rec->status = SG_STEP_ERROR;
		set_reason(rec, "protect: %s", err.msg);
		return;
	}
	const sg_change *hit = c.watched.path ? &c.watched : NULL;
	if (hit) {
		sg_autofree char *clean = sg_utf8_sanitize(hit->path, strlen(hit->path));
		rec->status = SG_STEP_VIOLATION;
		bool above = !sg_changes_match_one(job->protect, hit->path);
		set_reason(rec, "modified the protected path%s %s (%s)", above ? "s below" : "", clean,
			   hit->kind == SG_CHANGE_DELETED ? "deleted"
			   : above			   ? "replaced"
							   : "written");
	} else if (c.too_deep) {
		/* what lies deeper was not looked at: fail closed, as the step's doing */
		rec->status = SG_STEP_VIOLATION;
		set_reason(rec, "protect: what the step wrote cannot be checked: it nests directories "
				"deeper than %u levels", (unsigned)SG_CHANGES_MAX_DEPTH);
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

/* A writable mount i a step could use to move what a later step, or shipgate as root,
 * opens again by its path: the workspace, another mount's source or target (below its
 * own target), the scratch dir (its layers are made and chowned by path), the out dir
 * (the logs), a rootfs directory. own[] holds the last three, resolved. */
static int mount_swappable(const sg_run *run, size_t i, const char *const own[3], sg_error *err)
{
	static const char *const own_what[3] = {"the run's scratch dir ($TMPDIR)", "the out dir", "the rootfs"};
	const sg_job *job = run->job;
	const char *m = job->mounts[i].source;
	if (strcmp(job->workspace, m) && sg_path_within(job->workspace, m))
		return sg_error_set(err, SG_ERR_USAGE, 0,
				    "%s: mounts[%zu].source %s is writable and holds the workspace (%s): a "
				    "step could swap the workspace for a link to anywhere on the host",
				    job->path, i, m, job->workspace);
	for (size_t j = 0; j < job->n_mounts; j++) {
		if (j == i)
			continue;
		if (strcmp(job->mounts[j].source, m) && sg_path_within(job->mounts[j].source, m))
			return sg_error_set(err, SG_ERR_USAGE, 0,
					    "%s: mounts[%zu].source %s is writable and holds mounts[%zu].source "
					    "(%s): a step could swap it for a link to anywhere on the host",
					    job->path, i, m, j, job->mounts[j].source);
		if (sg_path_within(job->mounts[j].target, job->mounts[i].target))
			return sg_error_set(err, SG_ERR_USAGE, 0,
					    "%s: mounts[%zu].target %s lies below mounts[%zu].target %s, which "
					    "is writable: a step could move it elsewhere for the next step",
					    job->path, j, job->mounts[j].target, i, job->mounts[i].target);
	}
	for (size_t k = 0; k < 3; k++)
		if (own[k] && (sg_path_within(own[k], m) || sg_path_within(m, own[k])))
			return sg_error_set(err, SG_ERR_USAGE, 0,
					    "%s: mounts[%zu].source %s is writable and %s %s (%s): a step could "
					    "swap what shipgate writes there, as root, for a link to anywhere "
					    "on the host",
					    job->path, i, m, sg_path_within(own[k], m) ? "holds" : "lies in",
					    own_what[k], own[k]);
	return 0;
}

/* What no step may be given: shipgate's own state on this host (publish.h: a mount
 * holding it or lying in it, a rootfs holding the key's directory; what of it the
 * workspace holds is hidden from the steps, which write only their copy, and stays in
 * the subject's digest), nor a writable mount it could use to move what is opened
 * again later (mount_swappable). */
static int guard_host_paths(sg_run *run, sg_error *err)
{
	const sg_job *job = run->job;
	sg_own_state st;
	sg_own_state_find(&st);
	int rc = sg_own_state_check_workspace(&st, "workspace", job->workspace, false, err);
	for (size_t i = 0; rc == 0 && i < job->n_mounts; i++) {
		sg_autofree char *what = sg_xasprintf("%s: mounts[%zu].source", job->path, i);
		rc = sg_own_state_check(&st, what, job->mounts[i].source, !job->mounts[i].readonly, err);
	}
	if (rc == 0 && strcmp(job->rootfs, "host")) {
		sg_autofree char *what = sg_xasprintf("%s: rootfs", job->path);
		rc = sg_own_state_check(&st, what, job->rootfs, false, err);
	}
	char scratch[PATH_MAX], out[PATH_MAX];
	const char *own[3] = {run->scratch_dir && realpath(run->scratch_dir, scratch) ? scratch : NULL,
			      realpath(run->out_dir, out) ? out : NULL, strcmp(job->rootfs, "host") ? job->rootfs : NULL};
	for (size_t i = 0; rc == 0 && i < job->n_mounts; i++)
		if (!job->mounts[i].readonly)
			rc = mount_swappable(run, i, own, err);
	if (rc == 0)
		sg_own_state_hidden(&st, job->workspace, run->hide_own);
	sg_own_state_free(&st);
	return rc;
}

/* What the subject leaves out: .git and .shipgate always (the digest's own rule) and the
 * out dir when it lies inside the workspace. The steps do not see these either (hide),
 * so nothing they read escapes the digest. */
static void compute_excludes(sg_run *run)
{
	const char *ws = run->job->workspace;
	size_t wl = strlen(ws);
	size_t n = 0;
	char real_out[PATH_MAX];
	if (realpath(run->out_dir, real_out) && !strncmp(real_out, ws, wl) && real_out[wl] == '/')
		run->subject_excludes[n++] = sg_xstrdup(real_out + wl + 1);
	run->subject_excludes[n] = NULL;
	size_t h = 0;
	run->hide[h++] = (char *)".git";
	run->hide[h++] = (char *)".shipgate";
	for (size_t i = 0; run->subject_excludes[i]; i++)
		run->hide[h++] = run->subject_excludes[i];
	for (size_t i = 0; run->hide_own[i]; i++)
		run->hide[h++] = run->hide_own[i];
	run->hide[h] = NULL;
}

static int digest_workspace(const sg_run *run, char out[SG_SHA256_HEX_LEN], volatile int *interrupted,
			    sg_error *err)
{
	sg_tree_digest_opts opts = {.exclude = (const char *const *)run->subject_excludes,
				    .interrupted = interrupted};
	return sg_tree_digest(run->job->workspace, &opts, out, NULL, err);
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

	sg_timing_mark("run: start");
	if (load_policies(run, err) < 0)
		return -1;
	sg_cgroup_host cgroups;
	sg_timing_mark("run: policies loaded");
	if (sg_cgroup_detect(&cgroups, err) < 0)
		return -1;
	run->cgroup_layout = sg_xstrdup(cgroups.layout);
	sg_timing_mark("run: cgroups detected");
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
	/* the subject is the workspace as the job found it, digested before the first step
	 * and again after the last: a tree changed on the host meanwhile is no verdict */
	if (guard_host_paths(run, err) < 0) {
		sg_cgroup_host_free(&cgroups);
		return -1;
	}
	compute_excludes(run);
	sg_timing_mark("run: out dir, scratch, mounts digested");
	/* a signal stops the digest of a large tree at once, not when it is done */
	if (digest_workspace(run, run->subject_sha256, interrupted, err) < 0) {
		/* an unreadable tree is the job's to fix; a signal is nobody's mistake: no
		 * step ran, there is no subject to sign for, and the caller says how it ended
		 * (run: 128 + the signal; the daemon: cancelled, no verdict) */
		err->kind = interrupted && *interrupted ? SG_ERR_SANDBOX : SG_ERR_USAGE;
		sg_error_prefix(err, "workspace digest (nothing ran)");
		sg_cgroup_host_free(&cgroups);
		return -1;
	}
	sg_timing_mark("run: workspace digested");
	if (sg_protect_dirs_scan(job->workspace, job->protect, &run->protect_dirs, err) < 0) {
		err->kind = SG_ERR_USAGE;
		sg_error_prefix(err, "nothing ran");
		sg_cgroup_host_free(&cgroups);
		return -1;
	}
	run->events = ev;
	run->leave_signals = opts && opts->leave_signals;
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
		run_step(run, i, &cgroups, allow_weaker, !(opts && opts->no_trace), interrupted);
		check_protect(run, &run->steps[i]);
		one_line_reason(&run->steps[i].reason);
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

	sg_timing_mark("run: steps done");
	if (interrupted && *interrupted)
		run->interrupted = true;
	/* interrupted, the result is ERROR whatever the trees hold: no second digest to wait for */
	if (!run->interrupted)
		check_mounts(run);
	else
		run->mounts_intact = true;
	sg_autofree char *upper = upper_dir(run);
	sg_error cerr = {0};
	if (access(upper, F_OK) == 0) {
		run->changes_known = sg_changes_scan(upper, 1000, true, NULL, &run->changes, &cerr) == 0;
	} else if (run->enforced_known && strcmp(run->enforced.workspace, "copy") != 0) {
		run->changes_known = true; /* no upper layer: nothing was written */
		run->changes.items = sg_xcalloc(1, sizeof(sg_change));
	}
	sg_error derr = {0};
	char after[SG_SHA256_HEX_LEN] = "";
	bool digest_ok = run->interrupted || digest_workspace(run, after, interrupted, &derr) == 0;
	if (!digest_ok && interrupted && *interrupted)
		run->interrupted = true;
	sg_timing_mark("run: workspace digested again");
	sg_rfc3339_now(run->finished, sizeof(run->finished));

	if (run->interrupted) {
		run->result = SG_RESULT_ERROR;
		run->reason = sg_xstrdup("interrupted: shipgate received a signal and killed the sandbox");
	} else if (!digest_ok) {
		run->result = SG_RESULT_ERROR;
		run->reason = sg_xasprintf("workspace digest after the steps: %s", derr.msg);
	} else if (strcmp(after, run->subject_sha256) != 0) {
		run->result = SG_RESULT_FAILED;
		run->reason = sg_xasprintf("the workspace changed on the host while the job ran (sha256 %.12s... before "
					   "the steps, %.12s... after): the steps judged neither tree",
					   run->subject_sha256, after);
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
	one_line_reason(&run->reason);
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
	for (size_t i = 0; i < run->n_steps; i++)
		step_record_free(&run->steps[i]);
	free(run->steps);
	for (size_t i = 0; i < SG_ARRAY_LEN(run->subject_excludes); i++)
		free(run->subject_excludes[i]);
	for (size_t i = 0; run->hide_own[i]; i++)
		free(run->hide_own[i]);
	sg_policy_free(run->policy);
	for (size_t i = 0; run->step_policies && i < run->n_steps; i++)
		sg_policy_free(run->step_policies[i]);
	free(run->step_policies);
	if (run->out_lock > 0)
		close(run->out_lock - 1);
	if (run->tails > 0)
		close(run->tails - 1);
	free(run->out_dir);
	free(run->reason);
	free(run->enforced_identity);
	free(run->kernel);
	free(run->cgroup_layout);
	cJSON_Delete(run->os_release);
	sg_changes_free(&run->changes);
	sg_protect_dirs_free(&run->protect_dirs);
	for (size_t i = 0; run->mount_digests && i < run->job->n_mounts; i++)
		free(run->mount_digests[i]);
	free(run->mount_digests);
	free(run->mount_changed);
	memset(run, 0, sizeof(*run));
}
