/* decide.c: see decide.h. */
#include "decide.h"
#include "digest.h"
#include "util.h"

#include <ctype.h>
#include <string.h>

void sg_ship_policy_default(sg_ship_policy *p)
{
	p->allow_violations = false;
	p->require_seccomp = true;
	p->require_namespaces = true;
	p->require_no_new_privs = true;
	p->require_no_caps = true;
	p->require_memory_limit = true;
	p->require_pids_limit = true;
}

static const char *const category_names[] = {
	[SG_DIAG_NONE] = "none",
	[SG_DIAG_BUILD_FAILED] = "build_failed",
	[SG_DIAG_TESTS_FAILED] = "tests_failed",
	[SG_DIAG_NO_TESTS] = "no_tests",
	[SG_DIAG_TIMEOUT] = "timeout",
	[SG_DIAG_OOM] = "oom",
	[SG_DIAG_CRASHED] = "crashed",
	[SG_DIAG_VIOLATION] = "violation",
	[SG_DIAG_NOT_READY] = "not_ready",
	[SG_DIAG_PROBE_FAILED] = "probe_failed",
	[SG_DIAG_INFRASTRUCTURE] = "infrastructure",
};

const char *sg_diag_category_name(sg_diag_category c)
{
	return (unsigned)c < SG_ARRAY_LEN(category_names) ? category_names[c] : "infrastructure";
}

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static bool jtrue(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void set(char **dst, char *value)
{
	free(*dst);
	*dst = value;
}

static void diagnose(sg_decision *d, sg_diag_category c, const cJSON *step, char *summary, const char *next)
{
	d->kind = SG_DIAGNOSE;
	d->category = c;
	set(&d->summary, summary);
	set(&d->next_step, sg_xstrdup(next));
	if (step) {
		const char *name = jstr(step, "name"), *run = jstr(step, "run");
		set(&d->step, name ? sg_xstrdup(name) : NULL);
		set(&d->command, run ? sg_xstrdup(run) : NULL);
	}
}

/* The last non-empty line of a tail that looks like an error, else the last line. */
static char *first_error_line(const char *tail)
{
	if (!tail || !*tail)
		return NULL;
	static const char *const markers[] = {"error", "Error", "ERROR", "FAIL", "fatal", "Traceback",
					      "undefined reference", "panic", "Assertion", "not ok"};
	const char *best = NULL, *last = NULL;
	size_t best_len = 0, last_len = 0;
	for (const char *p = tail; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		bool blank = true;
		for (size_t i = 0; i < len && blank; i++)
			blank = isspace((unsigned char)p[i]);
		if (!blank) {
			last = p;
			last_len = len;
			for (size_t m = 0; m < SG_ARRAY_LEN(markers) && !best; m++)
				if (memmem(p, len, markers[m], strlen(markers[m]))) {
					best = p;
					best_len = len;
				}
		}
		p = nl ? nl + 1 : p + len;
	}
	const char *line = best ? best : last;
	size_t len = best ? best_len : last_len;
	return line ? sg_xstrndup(line, len > 300 ? 300 : len) : NULL;
}

char *sg_normalise_error_line(const char *line)
{
	sg_buf b = {0};
	for (const char *p = line; *p;) {
		if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && isxdigit((unsigned char)p[2])) {
			sg_buf_puts(&b, "<addr>");
			p += 2;
			while (isxdigit((unsigned char)*p))
				p++;
		} else if (isdigit((unsigned char)*p)) {
			sg_buf_puts(&b, "<n>");
			while (isdigit((unsigned char)*p))
				p++;
		} else if (!strncmp(p, "/tmp/", 5) || !strncmp(p, "/var/tmp/", 9)) {
			sg_buf_puts(&b, "<tmp>");
			while (*p && !isspace((unsigned char)*p) && *p != ':' && *p != '\'' && *p != '"')
				p++;
		} else if (isspace((unsigned char)*p)) {
			if (b.len && b.data[b.len - 1] != ' ')
				sg_buf_append(&b, " ", 1);
			p++;
		} else {
			sg_buf_append(&b, p, 1);
			p++;
		}
	}
	if (!b.data)
		sg_buf_append(&b, "", 0);
	while (b.len && b.data[b.len - 1] == ' ')
		b.data[--b.len] = '\0';
	return b.data;
}

static const cJSON *failing_step(const cJSON *steps)
{
	const cJSON *s;
	cJSON_ArrayForEach(s, steps)
	{
		const char *st = jstr(s, "status");
		if (!st || strcmp(st, "passed") != 0)
			return s;
	}
	return NULL;
}

static void add_tail(cJSON *ev, const cJSON *step, const char *stream)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(step, stream);
	const char *tail = o ? jstr(o, "tail") : NULL;
	if (tail && *tail)
		cJSON_AddStringToObject(ev, stream, tail);
}

/* Evidence and the error line for a failing step. */
static char *step_evidence(sg_decision *d, const cJSON *step)
{
	cJSON *ev = d->evidence;
	add_tail(ev, step, "stderr");
	add_tail(ev, step, "stdout");
	const char *sig = jstr(step, "signal");
	if (sig)
		cJSON_AddStringToObject(ev, "signal", sig);
	const cJSON *ec = cJSON_GetObjectItemCaseSensitive(step, "exit_code");
	if (cJSON_IsNumber(ec))
		cJSON_AddNumberToObject(ev, "exit_code", ec->valuedouble);
	const cJSON *lim = cJSON_GetObjectItemCaseSensitive(step, "limits_hit");
	if (cJSON_GetArraySize(lim) > 0) {
		cJSON_AddItemToObject(ev, "limits_hit", cJSON_Duplicate(lim, true));
		/* what was measured next to what was allowed: how far over, and which knob */
		cJSON *m = cJSON_AddObjectToObject(ev, "measured");
		static const char *const fields[] = {"peak_memory_kb", "pids_peak", "wall_ms", "cpu_ms"};
		for (size_t i = 0; i < SG_ARRAY_LEN(fields); i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(step, fields[i]);
			if (cJSON_IsNumber(v))
				cJSON_AddNumberToObject(m, fields[i], v->valuedouble);
		}
		const cJSON *cg = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(step, "enforced"),
								   "cgroup");
		const cJSON *mem = cJSON_GetObjectItemCaseSensitive(cg, "memory_kb");
		const cJSON *pids = cJSON_GetObjectItemCaseSensitive(cg, "pids");
		if (cJSON_IsNumber(mem))
			cJSON_AddNumberToObject(m, "memory_limit_kb", mem->valuedouble);
		if (cJSON_IsNumber(pids))
			cJSON_AddNumberToObject(m, "pids_limit", pids->valuedouble);
	}
	const char *reason = jstr(step, "reason");
	if (reason)
		cJSON_AddStringToObject(ev, "reason", reason);
	const cJSON *tests = cJSON_GetObjectItemCaseSensitive(step, "tests");
	if (tests)
		cJSON_AddItemToObject(ev, "tests", cJSON_Duplicate(tests, true));
	const cJSON *viol = cJSON_GetObjectItemCaseSensitive(step, "violations");
	if (cJSON_GetArraySize(viol) > 0)
		cJSON_AddItemToObject(ev, "violations", cJSON_Duplicate(viol, true));
	const cJSON *probes = cJSON_GetObjectItemCaseSensitive(step, "probes");
	if (cJSON_GetArraySize(probes) > 0)
		cJSON_AddItemToObject(ev, "probes", cJSON_Duplicate(probes, true));
	const cJSON *flaky = cJSON_GetObjectItemCaseSensitive(step, "flaky");
	if (cJSON_IsArray(flaky))
		cJSON_AddItemToObject(ev, "flaky", cJSON_Duplicate(flaky, true));
	const cJSON *runs = cJSON_GetObjectItemCaseSensitive(step, "runs");
	if (cJSON_IsArray(runs))
		cJSON_AddItemToObject(ev, "runs", cJSON_Duplicate(runs, true));

	/* a flaky step: the tests that changed their result are the error line */
	const char *status = jstr(step, "status");
	if (status && !strcmp(status, "flaky") && cJSON_GetArraySize(flaky) > 0) {
		sg_buf names = {0};
		const cJSON *f;
		int n = 0;
		cJSON_ArrayForEach(f, flaky)
		{
			if (cJSON_IsString(f) && n++ < 5)
				sg_buf_printf(&names, "%s%s", names.len ? ", " : "", f->valuestring);
		}
		if (names.data) {
			char *line = sg_xasprintf("flaky: %s", names.data);
			sg_buf_free(&names);
			return line;
		}
	}

	/* the error line: failing test names first, then the logs */
	const cJSON *failures = tests ? cJSON_GetObjectItemCaseSensitive(tests, "failures") : NULL;
	if (cJSON_GetArraySize(failures) > 0) {
		sg_buf names = {0};
		const cJSON *f;
		int n = 0;
		cJSON_ArrayForEach(f, failures)
		{
			const char *name = jstr(f, "name");
			if (name && n++ < 5)
				sg_buf_printf(&names, "%s%s", names.len ? ", " : "", name);
		}
		if (names.data)
			return names.data;
	}
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(step, "stderr");
	const cJSON *out = cJSON_GetObjectItemCaseSensitive(step, "stdout");
	char *line = first_error_line(err ? jstr(err, "tail") : NULL);
	if (!line)
		line = first_error_line(out ? jstr(out, "tail") : NULL);
	return line;
}

static bool check_enforced(const cJSON *pred, const sg_ship_policy *p, sg_decision *d)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(pred, "enforced");
	if (!cJSON_IsObject(e)) {
		diagnose(d, SG_DIAG_INFRASTRUCTURE, NULL, sg_xstrdup("the verdict does not say what isolation was enforced"),
			 "re-run the job with a shipgate that records `enforced`");
		return false;
	}
	const char *why = NULL;
	const cJSON *ns = cJSON_GetObjectItemCaseSensitive(e, "namespaces");
	const cJSON *sc = cJSON_GetObjectItemCaseSensitive(e, "seccomp");
	const cJSON *cg = cJSON_GetObjectItemCaseSensitive(e, "cgroup");
	const char *net = jstr(e, "network");
	if (p->require_namespaces) {
		static const char *const names[] = {"user", "pid", "mount", "ipc", "uts", "cgroup"};
		for (size_t i = 0; i < SG_ARRAY_LEN(names) && !why; i++)
			if (!jtrue(ns, names[i]))
				why = "a namespace was not in force";
		if (!why && (!net || strcmp(net, "host") != 0) && !jtrue(ns, "net"))
			why = "the network namespace was not in force";
	}
	if (!why && p->require_seccomp && !jtrue(sc, "enabled"))
		why = "seccomp was not enabled";
	if (!why && p->require_seccomp && !jtrue(sc, "default_deny"))
		why = "the seccomp policy was not an allowlist (its default action allows)";
	if (!why && p->require_namespaces && net && strcmp(net, "host") == 0)
		why = "the candidate had the host network";
	if (!why && p->require_no_new_privs && !jtrue(e, "no_new_privs"))
		why = "no_new_privs was not set";
	if (!why && p->require_no_caps && jnum(e, "capabilities_left", 1) != 0)
		why = "capabilities were left to the candidate";
	if (!why && p->require_memory_limit && !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(cg, "memory_kb")))
		why = "no memory limit was enforced";
	if (!why && p->require_pids_limit && !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(cg, "pids")))
		why = "no pids limit was enforced";
	if (!why)
		return true;
	diagnose(d, SG_DIAG_INFRASTRUCTURE, NULL,
		 sg_xasprintf("the verdict does not meet the minimum isolation: %s", why),
		 "run the job where shipgate can enforce it (see `shipgate doctor`), or relax the ship policy "
		 "explicitly");
	cJSON_AddItemToObject(d->evidence, "enforced", cJSON_Duplicate(e, true));
	return false;
}

/* A passed step can still fall short of the ship policy (tests below min, probes). */
static bool check_step_rules(const cJSON *step, const sg_ship_policy *p, sg_decision *d)
{
	const char *name = jstr(step, "name");
	const cJSON *tests = cJSON_GetObjectItemCaseSensitive(step, "tests");
	if (tests) {
		double total = jnum(tests, "total", 0), min = jnum(tests, "min", 1);
		double failed = jnum(tests, "failed", 0) + jnum(tests, "errors", 0);
		if (total < min || total == 0) {
			diagnose(d, SG_DIAG_NO_TESTS, step,
				 sg_xasprintf("step '%s' ran %.0f test%s, at least %.0f required", name ? name : "?",
					      total, total == 1 ? "" : "s", min > 0 ? min : 1),
				 "no tests ran: the test command exited 0 but the report lists too few test "
				 "cases; make sure the tests are collected and the report is written where the "
				 "job says");
			return false;
		}
		if (failed > 0) {
			diagnose(d, SG_DIAG_TESTS_FAILED, step,
				 sg_xasprintf("step '%s': %.0f test%s failed", name ? name : "?", failed,
					      failed == 1 ? "" : "s"),
				 "fix the failing tests listed in the evidence, then run them locally");
			return false;
		}
	}
	const cJSON *ready = cJSON_GetObjectItemCaseSensitive(step, "ready");
	if (ready && !cJSON_IsTrue(ready)) {
		diagnose(d, SG_DIAG_NOT_READY, step, sg_xasprintf("service '%s' never became ready", name ? name : "?"),
			 "make the service listen where the job's `ready` check looks, within its timeout");
		return false;
	}
	const cJSON *pr;
	cJSON_ArrayForEach(pr, cJSON_GetObjectItemCaseSensitive(step, "probes"))
	{
		if (!jtrue(pr, "passed")) {
			diagnose(d, SG_DIAG_PROBE_FAILED, step,
				 sg_xasprintf("probe '%s' of '%s' failed", jstr(pr, "name") ? jstr(pr, "name") : "?",
					      name ? name : "?"),
				 "make the behaviour the probe checks work: compare its expectation with the output in "
				 "the evidence");
			return false;
		}
	}
	const cJSON *viol = cJSON_GetObjectItemCaseSensitive(step, "violations");
	if (!p->allow_violations && !cJSON_IsArray(viol)) {
		const char *why = jstr(step, "trace_unavailable");
		diagnose(d, SG_DIAG_INFRASTRUCTURE, step,
			 sg_xasprintf("step '%s' ran without the trace, so its denied calls are unknown%s%s%s",
				      name ? name : "?", why ? " (" : "", why ? why : "", why ? ")" : ""),
			 "run the job with the trace (without --no-trace, under a policy that allows sendmsg)");
		return false;
	}
	if (!p->allow_violations && cJSON_GetArraySize(viol) > 0) {
		diagnose(d, SG_DIAG_VIOLATION, step, sg_xasprintf("step '%s' made denied system calls", name ? name : "?"),
			 "remove the denied operation (see the violations), or run under a policy that allows it");
		return false;
	}
	return true;
}

static sg_diag_category category_of(const cJSON *step)
{
	const char *st = jstr(step, "status");
	if (!st)
		return SG_DIAG_INFRASTRUCTURE;
	if (!strcmp(st, "timeout"))
		return SG_DIAG_TIMEOUT;
	if (!strcmp(st, "oom"))
		return SG_DIAG_OOM;
	if (!strcmp(st, "signaled"))
		return SG_DIAG_CRASHED;
	if (!strcmp(st, "violation"))
		return SG_DIAG_VIOLATION;
	if (!strcmp(st, "no_tests"))
		return SG_DIAG_NO_TESTS;
	if (!strcmp(st, "not_ready"))
		return SG_DIAG_NOT_READY;
	if (!strcmp(st, "probe_failed"))
		return SG_DIAG_PROBE_FAILED;
	if (!strcmp(st, "error"))
		return SG_DIAG_INFRASTRUCTURE;
	if (!strcmp(st, "flaky"))
		return SG_DIAG_TESTS_FAILED; /* the summary says flaky */
	if (!strcmp(st, "failed")) {
		const cJSON *tests = cJSON_GetObjectItemCaseSensitive(step, "tests");
		if (tests && jnum(tests, "failed", 0) + jnum(tests, "errors", 0) > 0)
			return SG_DIAG_TESTS_FAILED;
		/* no report to trust (missing, stale, malformed, inconsistent) and the command
		 * itself exited 0: the tests are what is missing, not the build */
		const cJSON *ec = cJSON_GetObjectItemCaseSensitive(step, "exit_code");
		if (tests && (jstr(tests, "unusable") || jstr(tests, "problem")) && cJSON_IsNumber(ec) &&
		    ec->valuedouble == 0)
			return SG_DIAG_NO_TESTS;
		return SG_DIAG_BUILD_FAILED;
	}
	return SG_DIAG_INFRASTRUCTURE;
}

static const char *next_step_for(sg_diag_category c)
{
	switch (c) {
	case SG_DIAG_BUILD_FAILED:
		return "the command exited non-zero: read the error in the log tail, fix it, and run the same "
		       "command locally before retrying";
	case SG_DIAG_TESTS_FAILED:
		return "fix the failing tests listed in the evidence; do not change the tests themselves unless "
		       "they are wrong";
	case SG_DIAG_NO_TESTS:
		return "no tests ran: make sure the test command collects and runs tests and writes its report "
		       "where the job says";
	case SG_DIAG_TIMEOUT:
		return "the step ran past its time limit and was killed: look for an infinite loop, a wait on "
		       "input or on the network (there is none), or a deadlock";
	case SG_DIAG_OOM:
		return "the step used more memory than its limit and the kernel's OOM killer ended it: reduce "
		       "memory use (or the parallelism of the build)";
	case SG_DIAG_CRASHED:
		return "the program was killed by a signal: a crash (look at the signal and the log tail; run it "
		       "under a debugger or a sanitizer locally)";
	case SG_DIAG_VIOLATION:
		return "the step did something the sandbox forbids (see the violation): remove it";
	case SG_DIAG_NOT_READY:
		return "the service never became ready: check that it starts, listens on the port the job "
		       "checks, and does not exit early (see its log tail)";
	case SG_DIAG_PROBE_FAILED:
		return "the service started but a probe failed: make the checked behaviour work";
	case SG_DIAG_INFRASTRUCTURE:
		return "the sandbox could not run the job as asked: this is not the candidate's fault; fix the "
		       "host (see `shipgate doctor`) and run again";
	case SG_DIAG_NONE:
	default:
		return "";
	}
}

void sg_decide(const cJSON *statement, const sg_ship_policy *policy, sg_decision *d)
{
	memset(d, 0, sizeof(*d));
	d->evidence = cJSON_CreateObject();
	sg_ship_policy dflt;
	if (!policy) {
		sg_ship_policy_default(&dflt);
		policy = &dflt;
	}
	const cJSON *pred = cJSON_GetObjectItemCaseSensitive(statement, "predicate");
	const char *result = jstr(pred, "result");
	const cJSON *steps = cJSON_GetObjectItemCaseSensitive(pred, "steps");
	if (!result || !cJSON_IsArray(steps) || cJSON_GetArraySize(steps) == 0) {
		diagnose(d, SG_DIAG_INFRASTRUCTURE, NULL, sg_xstrdup("the statement has no result or no steps"),
			 next_step_for(SG_DIAG_INFRASTRUCTURE));
		goto signature;
	}
	const cJSON *bad = failing_step(steps);
	if (bad || strcmp(result, "PASSED") != 0) {
		sg_diag_category c = bad ? category_of(bad) : SG_DIAG_INFRASTRUCTURE;
		if (!strcmp(result, "ERROR"))
			c = SG_DIAG_INFRASTRUCTURE;
		const char *reason = jstr(pred, "reason");
		const char *st = bad ? jstr(bad, "status") : NULL;
		if (c == SG_DIAG_TESTS_FAILED && st && !strcmp(st, "flaky")) {
			const char *name = jstr(bad, "name"), *why = jstr(bad, "reason");
			diagnose(d, c, bad,
				 sg_xasprintf("flaky: step '%s' gave different results when repeated%s%s", name ? name : "?",
					      why ? ": " : "", why ? why : ""),
				 "the tests listed as flaky pass in some runs and fail in others: find what they depend "
				 "on besides the code (order, time, randomness, state left in the workspace or /tmp, "
				 "the network) and make them deterministic");
		} else {
			diagnose(d, c, bad, sg_xstrdup(reason ? reason : "the verdict is not PASSED"), next_step_for(c));
		}
		if (bad && c != SG_DIAG_INFRASTRUCTURE) {
			char *line = step_evidence(d, bad);
			if (line)
				cJSON_AddStringToObject(d->evidence, "error_line", line);
			free(line);
		} else if (bad) {
			free(step_evidence(d, bad));
		}
		goto signature;
	}
	const cJSON *s;
	cJSON_ArrayForEach(s, steps)
	{
		if (!check_step_rules(s, policy, d)) {
			char *line = step_evidence(d, s);
			if (line)
				cJSON_AddStringToObject(d->evidence, "error_line", line);
			free(line);
			goto signature;
		}
	}
	if (!check_enforced(pred, policy, d))
		goto signature;
	d->kind = SG_SHIP;
	d->category = SG_DIAG_NONE;
	d->summary = sg_xasprintf("all %d steps passed under the required isolation", cJSON_GetArraySize(steps));
	return;

signature:;
	/* category + step + the normalised first error line (or failing test names) */
	const char *line = jstr(d->evidence, "error_line");
	/* no error line (a verdict-level failure: isolation below the minimum, a malformed
	 * statement): the summary tells one such failure from another */
	if (!line || !*line)
		line = d->summary;
	sg_autofree char *norm = sg_normalise_error_line(line ? line : "");
	sg_autofree char *basis = sg_xasprintf("%s\n%s\n%s", sg_diag_category_name(d->category),
					       d->step ? d->step : "", norm);
	char hex[SG_SHA256_HEX_LEN];
	sg_sha256_hex(basis, strlen(basis), hex);
	d->signature = sg_xasprintf("%s:%s:%.12s", sg_diag_category_name(d->category), d->step ? d->step : "-", hex);
}

void sg_decision_free(sg_decision *d)
{
	free(d->summary);
	free(d->step);
	free(d->command);
	free(d->next_step);
	free(d->signature);
	cJSON_Delete(d->evidence);
	memset(d, 0, sizeof(*d));
}

cJSON *sg_decision_json(const sg_decision *d)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "decision", d->kind == SG_SHIP ? "SHIP" : "DIAGNOSE");
	if (d->kind == SG_DIAGNOSE) {
		cJSON_AddStringToObject(o, "category", sg_diag_category_name(d->category));
		if (d->step)
			cJSON_AddStringToObject(o, "step", d->step);
		else
			cJSON_AddNullToObject(o, "step");
		if (d->command)
			cJSON_AddStringToObject(o, "command", d->command);
		cJSON_AddStringToObject(o, "signature", d->signature ? d->signature : "");
	}
	cJSON_AddStringToObject(o, "summary", d->summary ? d->summary : "");
	if (d->kind == SG_DIAGNOSE) {
		cJSON_AddStringToObject(o, "next_step", d->next_step ? d->next_step : "");
		cJSON_AddItemToObject(o, "evidence", cJSON_Duplicate(d->evidence, true));
	}
	return o;
}

static void md_block(sg_buf *b, const char *title, const char *text)
{
	if (!text || !*text)
		return;
	sg_buf_printf(b, "\n### %s\n\n```\n%s%s```\n", title, text, text[strlen(text) - 1] == '\n' ? "" : "\n");
}

char *sg_decision_markdown(const sg_decision *d, const char *ledger_note)
{
	sg_buf b = {0};
	if (d->kind == SG_SHIP) {
		sg_buf_printf(&b, "# SHIP\n\n%s\n", d->summary);
		return b.data;
	}
	sg_buf_printf(&b, "# DIAGNOSE: %s\n\n", sg_diag_category_name(d->category));
	sg_buf_printf(&b, "**What happened:** %s\n\n", d->summary ? d->summary : "");
	if (d->step)
		sg_buf_printf(&b, "**Where:** step `%s`%s%s%s\n\n", d->step, d->command ? ", command `" : "",
			      d->command ? d->command : "", d->command ? "`" : "");
	sg_buf_printf(&b, "**Next step:** %s\n", d->next_step ? d->next_step : "");
	if (ledger_note && *ledger_note)
		sg_buf_printf(&b, "\n**Seen before:** %s\n", ledger_note);
	sg_buf_printf(&b, "\n## Evidence\n");
	const char *line = jstr(d->evidence, "error_line");
	if (line)
		sg_buf_printf(&b, "\nFirst error: `%s`\n", line);
	const char *sig = jstr(d->evidence, "signal");
	if (sig)
		sg_buf_printf(&b, "\nKilled by signal %s.\n", sig);
	const cJSON *lim = cJSON_GetObjectItemCaseSensitive(d->evidence, "limits_hit");
	if (cJSON_GetArraySize(lim) > 0) {
		char *l = cJSON_PrintUnformatted(lim);
		sg_buf_printf(&b, "\nLimits hit: %s.\n", l);
		cJSON_free(l);
	}
	const char *reason = jstr(d->evidence, "reason");
	if (reason)
		sg_buf_printf(&b, "\nStep result: %s\n", reason);
	const cJSON *tests = cJSON_GetObjectItemCaseSensitive(d->evidence, "tests");
	const cJSON *failures = tests ? cJSON_GetObjectItemCaseSensitive(tests, "failures") : NULL;
	if (cJSON_GetArraySize(failures) > 0)
		sg_buf_printf(&b, "\nFailing tests:\n\n");
	const cJSON *f;
	cJSON_ArrayForEach(f, failures)
	{
		sg_buf_printf(&b, "- `%s`: %s\n", jstr(f, "name") ? jstr(f, "name") : "?",
			      jstr(f, "message") ? jstr(f, "message") : "");
	}
	const cJSON *v;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(d->evidence, "violations"))
	{
		sg_buf_printf(&b, "- denied `%s` by `%s` (%.0f times)\n", jstr(v, "syscall") ? jstr(v, "syscall") : "?",
			      jstr(v, "program") ? jstr(v, "program") : "?", jnum(v, "count", 1));
	}
	const cJSON *pr;
	cJSON_ArrayForEach(pr, cJSON_GetObjectItemCaseSensitive(d->evidence, "probes"))
	{
		if (!jtrue(pr, "passed"))
			sg_buf_printf(&b, "- probe `%s` failed: %s\n", jstr(pr, "name") ? jstr(pr, "name") : "?",
				      jstr(pr, "reason") ? jstr(pr, "reason") : "");
	}
	md_block(&b, "stderr (tail)", jstr(d->evidence, "stderr"));
	md_block(&b, "stdout (tail)", jstr(d->evidence, "stdout"));
	sg_buf_printf(&b, "\nFailure signature: `%s`\n", d->signature ? d->signature : "");
	return b.data;
}
