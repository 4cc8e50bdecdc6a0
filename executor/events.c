/* events.c: the job's progress events (see events.h, docs/events.md). */
#include "events.h"
#include "evidence.h"
#include "trace.h"
#include "util.h"

#include <string.h>

static const char *const kind_names[] = {
	[SG_EVENT_JOB_STARTED] = "job_started",
	[SG_EVENT_STEP_STARTED] = "step_started",
	[SG_EVENT_STEP_FINISHED] = "step_finished",
	[SG_EVENT_TESTS] = "tests",
	[SG_EVENT_SERVICE_READY] = "service_ready",
	[SG_EVENT_VIOLATION] = "violation",
	[SG_EVENT_VERDICT_WRITTEN] = "verdict_written",
	[SG_EVENT_ERROR] = "error",
};

const char *sg_event_kind_name(sg_event_kind kind)
{
	if ((size_t)kind < SG_ARRAY_LEN(kind_names) && kind_names[kind])
		return kind_names[kind];
	return "unknown";
}

void sg_event_sink_init(sg_event_sink *s)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

void sg_event_emit(sg_event_sink *s, sg_event_kind kind, cJSON *fields)
{
	if (s->fd < 0 && !s->fn) {
		cJSON_Delete(fields);
		return;
	}
	char now[40];
	sg_rfc3339_now(now, sizeof(now));
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "event", sg_event_kind_name(kind));
	if (s->id)
		cJSON_AddStringToObject(ev, "id", s->id);
	cJSON_AddNumberToObject(ev, "seq", (double)++s->seq);
	cJSON_AddStringToObject(ev, "time", now);
	if (s->job_name)
		cJSON_AddStringToObject(ev, "job", s->job_name);
	while (fields && fields->child) {
		cJSON *item = cJSON_DetachItemViaPointer(fields, fields->child);
		cJSON_AddItemToObject(ev, item->string, item);
	}
	cJSON_Delete(fields);
	char *text = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	if (!text)
		return;
	size_t len = strlen(text);
	if (s->fn)
		s->fn(s->ctx, kind, text, len);
	if (s->fd >= 0 && !s->fd_failed) {
		/* one write per line where the pipe allows: a reader never sees half an event
		 * interleaved with another writer's */
		sg_buf line = {0};
		sg_buf_append(&line, text, len);
		sg_buf_append(&line, "\n", 1);
		if (sg_write_all(s->fd, line.data, line.len) < 0)
			s->fd_failed = true;
		sg_buf_free(&line);
	}
	cJSON_free(text);
}

static cJSON *step_fields(size_t index, const char *name)
{
	cJSON *f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "index", (double)index);
	cJSON_AddStringToObject(f, "step", name);
	return f;
}

static void add_clean_string(cJSON *o, const char *key, const char *s)
{
	if (!s) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	sg_autofree char *clean = sg_utf8_sanitize(s, strlen(s));
	cJSON_AddStringToObject(o, key, clean);
}

static void on_job_started(void *ctx, const struct sg_run *run)
{
	sg_event_sink *s = ctx;
	if (s->chain && s->chain->job_started)
		s->chain->job_started(s->chain->ctx, run);
	const sg_job *job = run->job;
	s->job_name = job->name;
	s->job = job;
	cJSON *f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "path", job->path);
	cJSON_AddStringToObject(f, "sha256", job->sha256);
	cJSON_AddStringToObject(f, "workspace", job->workspace);
	cJSON_AddStringToObject(f, "out_dir", run->out_dir);
	cJSON_AddStringToObject(f, "mode", run->rootless ? "rootless" : "root");
	cJSON_AddStringToObject(f, "cgroup_layout", run->cgroup_layout ? run->cgroup_layout : "none");
	cJSON *steps = cJSON_AddArrayToObject(f, "steps");
	for (size_t i = 0; i < job->n_steps; i++)
		cJSON_AddItemToArray(steps, cJSON_CreateString(job->steps[i].name));
	cJSON_AddStringToObject(f, "started", run->started);
	sg_event_emit(s, SG_EVENT_JOB_STARTED, f);
}

static void on_step_started(void *ctx, size_t index, const sg_step *step)
{
	sg_event_sink *s = ctx;
	if (s->chain && s->chain->step_started)
		s->chain->step_started(s->chain->ctx, index, step);
	sg_rfc3339_now(s->step_started, sizeof(s->step_started));
	cJSON *f = step_fields(index, step->name);
	add_clean_string(f, "run", step->run_display);
	if (s->job)
		cJSON_AddNumberToObject(f, "timeout_s", (double)sg_step_timeout_s(s->job, step));
	sg_event_emit(s, SG_EVENT_STEP_STARTED, f);
}

static void emit_tests(sg_event_sink *s, size_t index, const sg_step_record *rec)
{
	const sg_step_tests *t = rec->tests;
	cJSON *f = step_fields(index, rec->step->name);
	cJSON_AddStringToObject(f, "format", t->spec->format == SG_TESTS_TAP ? "tap" : "junit");
	cJSON_AddNumberToObject(f, "total", (double)t->report.total);
	cJSON_AddNumberToObject(f, "passed", (double)t->report.passed);
	cJSON_AddNumberToObject(f, "failed", (double)t->report.failed);
	cJSON_AddNumberToObject(f, "skipped", (double)t->report.skipped);
	cJSON_AddNumberToObject(f, "min", (double)t->spec->min);
	cJSON_AddBoolToObject(f, "usable", t->have_report && !t->unusable);
	if (t->unusable)
		add_clean_string(f, "unusable", t->unusable);
	sg_event_emit(s, SG_EVENT_TESTS, f);
}

static void on_step_finished(void *ctx, size_t index, const sg_step_record *rec)
{
	sg_event_sink *s = ctx;
	if (s->chain && s->chain->step_finished)
		s->chain->step_finished(s->chain->ctx, index, rec);
	if (rec->tests && rec->ran)
		emit_tests(s, index, rec);
	const sg_trace *trace = rec->ran ? rec->result.trace : NULL;
	if (rec->status == SG_STEP_VIOLATION || (trace && sg_trace_violation_count(trace) > 0)) {
		/* what the trace recorded (denied calls), as in the statement; a violation of
		 * the job's own rules (a protected path written) has only the reason */
		cJSON *f = step_fields(index, rec->step->name);
		add_clean_string(f, "reason", rec->reason);
		cJSON_AddBoolToObject(f, "fails", rec->status == SG_STEP_VIOLATION);
		cJSON_AddItemToObject(f, "violations", trace ? sg_trace_violations_json(trace) : cJSON_CreateArray());
		sg_event_emit(s, SG_EVENT_VIOLATION, f);
	}
	cJSON *f = step_fields(index, rec->step->name);
	cJSON_AddStringToObject(f, "status", sg_step_status_name(rec->status));
	add_clean_string(f, "reason", rec->reason);
	if (rec->ran) {
		const sg_sandbox_result *r = &rec->result;
		if (s->step_started[0])
			cJSON_AddStringToObject(f, "started", s->step_started);
		char now[40];
		sg_rfc3339_now(now, sizeof(now));
		cJSON_AddStringToObject(f, "finished", now);
		if (r->started && r->exit_code >= 0)
			cJSON_AddNumberToObject(f, "exit_code", r->exit_code);
		else
			cJSON_AddNullToObject(f, "exit_code");
		if (r->signal)
			cJSON_AddNumberToObject(f, "signal", r->signal);
		else
			cJSON_AddNullToObject(f, "signal");
		cJSON_AddNumberToObject(f, "wall_ms", (double)r->wall_ms);
		cJSON_AddNumberToObject(f, "cpu_ms", (double)r->cpu_ms);
		cJSON_AddNumberToObject(f, "peak_memory_kb", (double)r->peak_memory_kb);
		cJSON_AddNumberToObject(f, "pids_peak", (double)r->pids_peak);
		cJSON_AddItemToObject(f, "limits_hit", sg_evidence_limits_hit(r->limits_hit));
		if (trace)
			cJSON_AddNumberToObject(f, "execs", (double)sg_trace_execs(trace));
	} else {
		cJSON_AddItemToObject(f, "limits_hit", cJSON_CreateArray());
	}
	s->step_started[0] = '\0';
	sg_event_emit(s, SG_EVENT_STEP_FINISHED, f);
}

static void on_service_ready(void *ctx, size_t index, const sg_step_record *rec)
{
	sg_event_sink *s = ctx;
	if (s->chain && s->chain->service_ready)
		s->chain->service_ready(s->chain->ctx, index, rec);
	cJSON *f = step_fields(index, rec->step->name);
	cJSON_AddNumberToObject(f, "ready_ms", rec->service ? (double)rec->service->ready_ms : 0);
	sg_event_emit(s, SG_EVENT_SERVICE_READY, f);
}

sg_run_events sg_event_sink_hooks(sg_event_sink *s)
{
	return (sg_run_events){
		.step_started = on_step_started,
		.step_finished = on_step_finished,
		.ctx = s,
		.job_started = on_job_started,
		.service_ready = on_service_ready,
	};
}

void sg_event_verdict_written(sg_event_sink *s, const sg_run *run, const sg_published *pub,
			      const char *keyid)
{
	if (!s->job_name)
		s->job_name = run->job->name;
	cJSON *f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "result", sg_run_result_name(run->result));
	add_clean_string(f, "reason", run->reason);
	cJSON *steps = cJSON_AddArrayToObject(f, "steps");
	for (size_t i = 0; i < run->n_steps; i++) {
		cJSON *st = cJSON_CreateObject();
		cJSON_AddStringToObject(st, "name", run->steps[i].step->name);
		cJSON_AddStringToObject(st, "status", sg_step_status_name(run->steps[i].status));
		cJSON_AddItemToArray(steps, st);
	}
	cJSON_AddStringToObject(f, "subject_sha256", run->subject_sha256);
	cJSON_AddStringToObject(f, "out_dir", run->out_dir);
	cJSON_AddStringToObject(f, "statement", pub->statement_path);
	cJSON_AddStringToObject(f, "verdict", pub->verdict_path);
	if (pub->vsa_path)
		cJSON_AddStringToObject(f, "vsa", pub->vsa_path);
	cJSON_AddStringToObject(f, "keyid", keyid);
	cJSON_AddBoolToObject(f, "interrupted", run->interrupted);
	sg_event_emit(s, SG_EVENT_VERDICT_WRITTEN, f);
}

void sg_event_error(sg_event_sink *s, const sg_error *err)
{
	cJSON *f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "kind", sg_error_kind_name(err->kind));
	add_clean_string(f, "message", err->msg);
	sg_event_emit(s, SG_EVENT_ERROR, f);
}
