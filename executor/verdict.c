/* verdict.c: the in-toto Statement v1 of a run (CONTRACT.md, "Verdict"). Pure: it reads
 * the run context and builds JSON, nothing else. Every string that came from the
 * candidate (output tails) is made valid UTF-8 first. */
#include "run.h"
#include "trace.h"
#include "util.h"

#include <errno.h>
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

/* ---- writing the statement ------------------------------------------------------------
 *
 * The statement is written as cJSON_Print would print its tree, but never whole: the
 * frame (the top object, the predicate, the steps' and changed files' arrays) is written
 * here, and each member's value is built as a small tree, printed, indented to its depth
 * and freed. A run of a thousand steps or changed files costs the memory of one of them,
 * not of a tree of all of them plus its text.
 *
 * cJSON's format: an object is "{\n", its members one per line ("\t" x depth, "key",
 * ":\t", the value, "," but after the last), then "\t" x (depth - 1) and "}"; an array is
 * "[", its elements joined by ", ", then "]", one level deeper for what it holds. A value
 * printed alone has depth 0, and its strings never hold a raw newline (they are escaped),
 * so the value at depth d is its print with d tabs after each newline. */

typedef struct jw {
	sg_statement_sink sink;
	void *ctx;
	char *buf;
	size_t n, cap;
	uint64_t total;
	int rc;
} jw;

static void jw_flush(jw *w)
{
	if (w->n && w->rc == 0)
		w->rc = w->sink(w->ctx, w->buf, w->n);
	w->n = 0;
}

static void jw_put(jw *w, const char *data, size_t len)
{
	w->total += len;
	if (len > w->cap - w->n)
		jw_flush(w);
	if (len >= w->cap) {
		if (w->rc == 0)
			w->rc = w->sink(w->ctx, data, len);
		return;
	}
	memcpy(w->buf + w->n, data, len);
	w->n += len;
}

static void jw_puts(jw *w, const char *s)
{
	jw_put(w, s, strlen(s));
}

static void jw_tabs(jw *w, unsigned depth)
{
	static const char tabs[] = "\t\t\t\t\t\t\t\t";
	for (; depth > 8; depth -= 8)
		jw_put(w, tabs, 8);
	jw_put(w, tabs, depth);
}

/* v (consumed) as printed at depth. */
static void jw_value(jw *w, cJSON *v, unsigned depth)
{
	char *text = v ? cJSON_Print(v) : NULL;
	cJSON_Delete(v);
	if (!text) {
		if (w->rc == 0)
			w->rc = -ENOMEM;
		return;
	}
	for (const char *p = text;;) {
		const char *nl = strchr(p, '\n');
		if (!nl) {
			jw_puts(w, p);
			break;
		}
		jw_put(w, p, (size_t)(nl - p) + 1);
		jw_tabs(w, depth);
		p = nl + 1;
	}
	cJSON_free(text);
}

/* The start of a member of an object whose members are at depth (a constant key). */
static void jw_key(jw *w, unsigned depth, bool *first, const char *key)
{
	if (!*first)
		jw_puts(w, ",\n");
	*first = false;
	jw_tabs(w, depth);
	jw_puts(w, "\"");
	jw_puts(w, key);
	jw_puts(w, "\":\t");
}

static void jw_member(jw *w, unsigned depth, bool *first, const char *key, cJSON *value)
{
	jw_key(w, depth, first, key);
	jw_value(w, value, depth);
}

static cJSON *statement_subject(const sg_run *run)
{
	cJSON *subjects = cJSON_CreateArray();
	cJSON *subject = cJSON_CreateObject();
	cJSON_AddStringToObject(subject, "name", "workspace");
	cJSON *digest = cJSON_AddObjectToObject(subject, "digest");
	cJSON_AddStringToObject(digest, "sha256", run->subject_sha256);
	cJSON_AddItemToArray(subjects, subject);
	return subjects;
}

static cJSON *statement_policy(const sg_run *run)
{
	cJSON *pol = cJSON_CreateObject();
	cJSON_AddStringToObject(pol, "name", run->policy ? sg_policy_name(run->policy) : "none");
	cJSON_AddStringToObject(pol, "sha256", run->policy ? sg_policy_sha256(run->policy) : "");
	return pol;
}

static cJSON *statement_executor(const sg_run *run)
{
	cJSON *ex = cJSON_CreateObject();
	cJSON_AddStringToObject(ex, "name", "shipgate");
	cJSON_AddStringToObject(ex, "version", SHIPGATE_VERSION);
	cJSON_AddStringToObject(ex, "kernel", run->kernel ? run->kernel : "unknown");
	cJSON_AddStringToObject(ex, "cgroup_layout", run->cgroup_layout ? run->cgroup_layout : "none");
	cJSON_AddStringToObject(ex, "mode", run->rootless ? "rootless" : "root");
	return ex;
}

static cJSON *statement_mounts(const sg_run *run)
{
	/* what the acceptance inputs were: a reader can check them as it checks the subject */
	cJSON *mounts = cJSON_CreateArray();
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
	return mounts;
}

static cJSON *statement_excludes(const sg_run *run)
{
	cJSON *ex_list = cJSON_CreateArray();
	cJSON_AddItemToArray(ex_list, cJSON_CreateString(".git"));
	cJSON_AddItemToArray(ex_list, cJSON_CreateString(".shipgate"));
	for (size_t i = 0; run->subject_excludes[i]; i++)
		cJSON_AddItemToArray(ex_list, cJSON_CreateString(run->subject_excludes[i]));
	return ex_list;
}

int sg_verdict_statement_write(const sg_run *run, sg_statement_sink sink, void *ctx, uint64_t *len)
{
	jw w = {.sink = sink, .ctx = ctx, .cap = 64 * 1024};
	w.buf = sg_xmalloc(w.cap);
	bool first = true;
	jw_puts(&w, "{\n");
	jw_member(&w, 1, &first, "_type", cJSON_CreateString(SG_STATEMENT_TYPE));
	jw_member(&w, 1, &first, "subject", statement_subject(run));
	jw_member(&w, 1, &first, "predicateType", cJSON_CreateString(SG_PREDICATE_TYPE));
	jw_key(&w, 1, &first, "predicate");

	bool pf = true;
	jw_puts(&w, "{\n");
	jw_member(&w, 2, &pf, "result", cJSON_CreateString(sg_run_result_name(run->result)));
	const char *why = run->reason ? run->reason : "";
	sg_autofree char *reason = sg_utf8_sanitize(why, strlen(why));
	jw_member(&w, 2, &pf, "reason", cJSON_CreateString(reason));
	jw_member(&w, 2, &pf, "job", statement_job(run->job));
	jw_member(&w, 2, &pf, "policy", statement_policy(run));
	jw_member(&w, 2, &pf, "environment", statement_environment(run));
	jw_member(&w, 2, &pf, "executor", statement_executor(run));
	jw_member(&w, 2, &pf, "enforced",
		  run->enforced_known ? sg_evidence_enforced(&run->enforced) : cJSON_CreateNull());
	jw_member(&w, 2, &pf, "started", cJSON_CreateString(run->started));
	jw_member(&w, 2, &pf, "finished", cJSON_CreateString(run->finished));
	jw_key(&w, 2, &pf, "steps");
	jw_puts(&w, "[");
	for (size_t i = 0; i < run->n_steps; i++) {
		if (i)
			jw_puts(&w, ", ");
		jw_value(&w, statement_step(&run->steps[i]), 3);
	}
	jw_puts(&w, "]");
	if (run->changes_known) {
		jw_key(&w, 2, &pf, "changed_files");
		jw_puts(&w, "[");
		for (size_t i = 0; i < run->changes.n; i++) {
			if (i)
				jw_puts(&w, ", ");
			jw_value(&w, sg_change_json(&run->changes.items[i]), 3);
		}
		jw_puts(&w, "]");
		if (run->changes.truncated)
			jw_member(&w, 2, &pf, "changed_files_total", cJSON_CreateNumber((double)run->changes.total));
	} else {
		jw_member(&w, 2, &pf, "changed_files", cJSON_CreateNull());
	}
	jw_member(&w, 2, &pf, "mounts_intact",
		  run->job->n_mounts ? cJSON_CreateBool(run->mounts_intact) : cJSON_CreateNull());
	jw_member(&w, 2, &pf, "mounts", statement_mounts(run));
	jw_member(&w, 2, &pf, "subject_excludes", statement_excludes(run));
	jw_puts(&w, "\n\t}"); /* the predicate */
	jw_puts(&w, "\n}\n");  /* the statement, and statement.json's final newline */
	jw_flush(&w);
	free(w.buf);
	if (len)
		*len = w.total;
	return w.rc;
}

int sg_statement_sink_fd(void *fd, const void *data, size_t len)
{
	return sg_write_all(*(int *)fd, data, len) < 0 ? -errno : 0;
}
