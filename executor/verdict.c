/* verdict.c: the in-toto Statement v1 of a run (CONTRACT.md, "Verdict"). Pure: it reads
 * the run context and builds JSON, nothing else. Every string that came from the
 * candidate (output tails) is made valid UTF-8 first. */
#include "run.h"
#include "trace.h"
#include "util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static cJSON *statement_job(const sg_job *job)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", job->name);
	cJSON_AddStringToObject(o, "path", job->path);
	cJSON_AddStringToObject(o, "sha256", job->sha256);
	return o;
}

/* A repeated step: how many runs were asked and made, whose evidence the step shows, each
 * run's figures, and the tests whose results differed between runs. */
static void add_repeat(cJSON *o, const sg_step_record *rec)
{
	cJSON_AddNumberToObject(o, "repeat", (double)rec->step->repeat);
	cJSON_AddNumberToObject(o, "evidence_from_run", rec->run);
	cJSON *runs = cJSON_AddArrayToObject(o, "runs");
	for (unsigned k = 0; k < rec->n_runs; k++) {
		const sg_step_run_summary *r = &rec->runs[k];
		cJSON *item = cJSON_CreateObject();
		cJSON_AddNumberToObject(item, "run", k + 1);
		cJSON_AddStringToObject(item, "status", sg_step_status_name(r->status));
		if (r->ran && r->result.started && !r->result.signal)
			cJSON_AddNumberToObject(item, "exit_code", r->result.exit_code);
		else
			cJSON_AddNullToObject(item, "exit_code");
		cJSON_AddNumberToObject(item, "wall_ms", (double)r->result.wall_ms);
		if (r->has_tests) {
			cJSON *t = cJSON_AddObjectToObject(item, "tests");
			cJSON_AddNumberToObject(t, "total", (double)r->total);
			cJSON_AddNumberToObject(t, "passed", (double)r->passed);
			cJSON_AddNumberToObject(t, "failed", (double)r->failed);
			cJSON_AddNumberToObject(t, "skipped", (double)r->skipped);
		}
		cJSON_AddItemToArray(runs, item);
	}
	cJSON *flaky = cJSON_AddArrayToObject(o, "flaky");
	for (size_t i = 0; i < rec->n_flaky && i < SG_TEST_FAILURES_MAX; i++) {
		sg_autofree char *clean = sg_utf8_sanitize(rec->flaky[i], strlen(rec->flaky[i]));
		cJSON_AddItemToArray(flaky, cJSON_CreateString(clean));
	}
	if (rec->n_flaky > SG_TEST_FAILURES_MAX)
		cJSON_AddBoolToObject(o, "flaky_truncated", true);
}

/* What the steps ran on: the root filesystem (the host's, a built image with the digest
 * its manifest records, or a directory), its os-release, and the kernel. */
static cJSON *statement_environment(const sg_run *run)
{
	const sg_job *job = run->job;
	cJSON *o = cJSON_CreateObject();
	const sg_rootfs_image *img = job->rootfs_image;
	if (img) {
		cJSON_AddStringToObject(o, "rootfs", img->name);
		cJSON *d = cJSON_AddObjectToObject(o, "digest");
		cJSON_AddStringToObject(d, "sha256", img->digest);
		cJSON *m = cJSON_AddObjectToObject(o, "manifest");
		cJSON_AddStringToObject(m, "path", img->manifest_path);
		cJSON_AddStringToObject(m, "sha256", img->manifest_sha256);
		cJSON_AddNumberToObject(o, "packages", (double)img->n_packages);
		cJSON_AddStringToObject(o, "path", img->root);
	} else if (strcmp(job->rootfs, "host")) {
		cJSON_AddStringToObject(o, "rootfs", "directory");
		cJSON_AddStringToObject(o, "path", job->rootfs);
	} else {
		cJSON_AddStringToObject(o, "rootfs", "host");
	}
	if (run->os_release)
		cJSON_AddItemToObject(o, "os_release", cJSON_Duplicate(run->os_release, true));
	else
		cJSON_AddNullToObject(o, "os_release");
	cJSON_AddStringToObject(o, "kernel", run->kernel ? run->kernel : "unknown");
	return o;
}

static cJSON *statement_step(const sg_step_record *rec)
{
	const sg_step *s = rec->step;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", s->name);
	sg_autofree char *run_clean = sg_utf8_sanitize(s->run_display, strlen(s->run_display));
	cJSON_AddStringToObject(o, "run", run_clean);
	cJSON_AddStringToObject(o, "status", sg_step_status_name(rec->status));
	sg_autofree char *reason = rec->reason ? sg_utf8_sanitize(rec->reason, strlen(rec->reason)) : NULL;
	if (reason)
		cJSON_AddStringToObject(o, "reason", reason);
	else
		cJSON_AddNullToObject(o, "reason");
	if (!rec->ran) {
		cJSON_AddNullToObject(o, "exit_code");
		cJSON_AddNullToObject(o, "signal");
		return o;
	}
	if (rec->policy_name) {
		cJSON *p = cJSON_AddObjectToObject(o, "policy");
		cJSON_AddStringToObject(p, "name", rec->policy_name);
		cJSON_AddStringToObject(p, "sha256", rec->policy_sha256);
	}
	/* steps under different policies may have different networks (docs/policies.md) */
	if (rec->result.enforced.cgroup_mode) /* filled in once the sandbox was prepared */
		cJSON_AddStringToObject(o, "network", sg_net_mode_name(rec->result.enforced.network));
	sg_evidence_add_run_fields(o, &rec->result);
	if (rec->result.enforced_valid)
		cJSON_AddItemToObject(o, "enforced", sg_evidence_enforced(&rec->result.enforced));
	if (rec->result.trace) {
		sg_autofree char *rel = rec->run > 1 ? sg_xasprintf("trace/%s.run-%u.jsonl", s->name, rec->run)
						     : sg_xasprintf("trace/%s.jsonl", s->name);
		cJSON_AddNumberToObject(o, "execs", (double)sg_trace_execs(rec->result.trace));
		cJSON_AddItemToObject(o, "violations", sg_trace_violations_json(rec->result.trace));
		cJSON_AddItemToObject(o, "connects", sg_trace_connects_json(rec->result.trace));
		cJSON_AddItemToObject(o, "trace", sg_trace_summary_json(rec->result.trace, rel));
	} else {
		/* without the trace, denied calls were denied but not seen: unknown, not none */
		cJSON_AddNullToObject(o, "execs");
		cJSON_AddNullToObject(o, "violations");
		cJSON_AddStringToObject(o, "trace_unavailable",
					rec->result.trace_unavailable ? rec->result.trace_unavailable
								      : "the trace was off (--no-trace)");
	}
	if (rec->service)
		sg_service_run_add_json(rec->service, o);
	if (rec->tests)
		cJSON_AddItemToObject(o, "tests", sg_step_tests_json(rec->tests));
	if (s->repeat > 1)
		add_repeat(o, rec);
	/* a command that could not be found is reported with the shell's exit code */
	if (!rec->result.started && rec->result.exit_code >= 0) {
		cJSON_ReplaceItemInObject(o, "exit_code", cJSON_CreateNumber(rec->result.exit_code));
	}
	return o;
}

cJSON *sg_verdict_statement(const sg_run *run)
{
	cJSON *st = cJSON_CreateObject();
	cJSON_AddStringToObject(st, "_type", SG_STATEMENT_TYPE);
	cJSON *subjects = cJSON_AddArrayToObject(st, "subject");
	cJSON *subject = cJSON_CreateObject();
	cJSON_AddStringToObject(subject, "name", "workspace");
	cJSON *digest = cJSON_AddObjectToObject(subject, "digest");
	cJSON_AddStringToObject(digest, "sha256", run->subject_sha256);
	cJSON_AddItemToArray(subjects, subject);
	cJSON_AddStringToObject(st, "predicateType", SG_PREDICATE_TYPE);

	cJSON *pred = cJSON_AddObjectToObject(st, "predicate");
	cJSON_AddStringToObject(pred, "result", sg_run_result_name(run->result));
	sg_autofree char *reason = sg_utf8_sanitize(run->reason ? run->reason : "", strlen(run->reason ? run->reason : ""));
	cJSON_AddStringToObject(pred, "reason", reason);
	cJSON_AddItemToObject(pred, "job", statement_job(run->job));
	cJSON *pol = cJSON_AddObjectToObject(pred, "policy");
	cJSON_AddStringToObject(pol, "name", run->policy ? sg_policy_name(run->policy) : "none");
	cJSON_AddStringToObject(pol, "sha256", run->policy ? sg_policy_sha256(run->policy) : "");

	cJSON_AddItemToObject(pred, "environment", statement_environment(run));

	cJSON *ex = cJSON_AddObjectToObject(pred, "executor");
	cJSON_AddStringToObject(ex, "name", "shipgate");
	cJSON_AddStringToObject(ex, "version", SHIPGATE_VERSION);
	cJSON_AddStringToObject(ex, "kernel", run->kernel ? run->kernel : "unknown");
	cJSON_AddStringToObject(ex, "cgroup_layout", run->cgroup_layout ? run->cgroup_layout : "none");
	cJSON_AddStringToObject(ex, "mode", run->rootless ? "rootless" : "root");

	if (run->enforced_known)
		cJSON_AddItemToObject(pred, "enforced", sg_evidence_enforced(&run->enforced));
	else
		cJSON_AddNullToObject(pred, "enforced");
	cJSON_AddStringToObject(pred, "started", run->started);
	cJSON_AddStringToObject(pred, "finished", run->finished);

	cJSON *steps = cJSON_AddArrayToObject(pred, "steps");
	for (size_t i = 0; i < run->n_steps; i++)
		cJSON_AddItemToArray(steps, statement_step(&run->steps[i]));

	if (run->changes_known) {
		cJSON_AddItemToObject(pred, "changed_files", sg_changes_json(&run->changes));
		if (run->changes.truncated)
			cJSON_AddNumberToObject(pred, "changed_files_total", (double)run->changes.total);
	} else {
		cJSON_AddNullToObject(pred, "changed_files");
	}
	if (run->job->n_mounts)
		cJSON_AddBoolToObject(pred, "mounts_intact", run->mounts_intact);
	else
		cJSON_AddNullToObject(pred, "mounts_intact");
	/* what the acceptance inputs were: a reader can check them as it checks the subject */
	cJSON *mounts = cJSON_AddArrayToObject(pred, "mounts");
	for (size_t i = 0; i < run->job->n_mounts; i++) {
		const sg_mount_spec *m = &run->job->mounts[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "target", m->target);
		cJSON_AddBoolToObject(o, "readonly", m->readonly);
		if (m->readonly && run->mount_digests && run->mount_digests[i])
			cJSON_AddStringToObject(o, "sha256", run->mount_digests[i]);
		else
			cJSON_AddNullToObject(o, "sha256");
		cJSON_AddItemToArray(mounts, o);
	}

	cJSON *ex_list = cJSON_AddArrayToObject(pred, "subject_excludes");
	cJSON_AddItemToArray(ex_list, cJSON_CreateString(".git"));
	cJSON_AddItemToArray(ex_list, cJSON_CreateString(".shipgate"));
	for (size_t i = 0; run->subject_excludes[i]; i++)
		cJSON_AddItemToArray(ex_list, cJSON_CreateString(run->subject_excludes[i]));
	return st;
}

char *sg_verdict_statement_text(const sg_run *run, size_t *len)
{
	cJSON *st = sg_verdict_statement(run);
	/* printed into a buffer of about its size, grown by half when it is too small:
	 * cJSON_Print doubles its buffer as it goes, which for a thousand changed files
	 * costs a statement's size again at the supervisor's peak */
	size_t size = 16384;
	for (size_t i = 0; run->changes_known && i < run->changes.n; i++)
		size += strlen(run->changes.items[i].path) + 160;
	char *text = NULL;
	for (;;) {
		text = size < INT_MAX ? malloc(size) : NULL;
		if (!text || cJSON_PrintPreallocated(st, text, (int)size, true))
			break;
		free(text);
		text = NULL;
		size += size / 2;
	}
	cJSON_Delete(st);
	if (!text)
		return NULL;
	size_t n = strlen(text);
	char *fitted = realloc(text, n + 2); /* the estimate's rest goes back */
	if (!fitted) {
		free(text);
		return NULL;
	}
	text = fitted;
	text[n] = '\n';
	text[n + 1] = '\0';
	*len = n + 1;
	return text;
}
