/* test_decide.c: the ship policy, the diagnosis categories, failure signatures and the
 * ledger's hash chain, on crafted statements (no sandbox, no root). */
#include "decide.h"
#include "ledger.h"
#include "tap.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static const char *const passing =
	"{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicateType\":\"https://shipgate.dev/verdict/v1\","
	"\"subject\":[{\"name\":\"workspace\",\"digest\":{\"sha256\":\"ab\"}}],"
	"\"predicate\":{\"result\":\"PASSED\",\"reason\":\"all 2 steps passed\","
	"\"enforced\":{\"namespaces\":{\"user\":true,\"pid\":true,\"mount\":true,\"net\":true,\"ipc\":true,"
	"\"uts\":true,\"cgroup\":true},\"seccomp\":{\"enabled\":true,\"syscalls_allowed\":291,\"default_deny\":true},"
	"\"no_new_privs\":true,\"capabilities_left\":0,\"cgroup\":{\"mode\":\"v1\",\"memory_kb\":524288,"
	"\"pids\":128,\"cpus\":false},\"network\":\"none\"},"
	"\"steps\":[{\"name\":\"build\",\"run\":\"make\",\"status\":\"passed\",\"exit_code\":0,"
	"\"stdout\":{\"tail\":\"\"},\"stderr\":{\"tail\":\"\"},\"limits_hit\":[],\"violations\":[]},"
	"{\"name\":\"test\",\"run\":\"make test\",\"status\":\"passed\",\"exit_code\":0,"
	"\"tests\":{\"format\":\"tap\",\"total\":3,\"passed\":3,\"failed\":0,\"skipped\":0,\"errors\":0,\"min\":1,\"failures\":[]},"
	"\"stdout\":{\"tail\":\"ok\"},\"stderr\":{\"tail\":\"\"},\"limits_hit\":[],\"violations\":[]}]}}";

static cJSON *statement(void)
{
	return cJSON_Parse(passing);
}

static cJSON *step(cJSON *st, int i)
{
	return cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "predicate"), "steps"), i);
}

static void set_str(cJSON *o, const char *k, const char *v)
{
	cJSON_ReplaceItemInObject(o, k, cJSON_CreateString(v));
}

static void fail_result(cJSON *st, const char *result)
{
	set_str(cJSON_GetObjectItem(st, "predicate"), "result", result);
}

static sg_decision decide(cJSON *st)
{
	sg_decision d;
	sg_decide(st, NULL, &d);
	return d;
}

static void expect(cJSON *st, sg_decision_kind kind, sg_diag_category cat, const char *name)
{
	sg_decision d = decide(st);
	tap_ok(d.kind == kind && d.category == cat, "%s: %s %s", name, kind == SG_SHIP ? "SHIP" : "DIAGNOSE",
	       sg_diag_category_name(cat));
	if (d.kind != kind || d.category != cat)
		printf("#   got %s %s: %s\n", d.kind == SG_SHIP ? "SHIP" : "DIAGNOSE", sg_diag_category_name(d.category),
		       d.summary);
	sg_decision_free(&d);
	cJSON_Delete(st);
}

static cJSON *with_step_status(const char *status, int i)
{
	cJSON *st = statement();
	fail_result(st, "FAILED");
	set_str(step(st, i), "status", status);
	return st;
}

static void test_unusable_report_and_limits(void)
{	cJSON *st = with_step_status("failed", 1);
	cJSON *t = cJSON_GetObjectItem(step(st, 1), "tests");
	cJSON_ReplaceItemInObject(t, "total", cJSON_CreateNumber(0));
	cJSON_ReplaceItemInObject(t, "passed", cJSON_CreateNumber(0));
	cJSON_AddStringToObject(t, "unusable", "the report junit.xml is missing: the step did not write it");
	expect(st, SG_DIAGNOSE, SG_DIAG_NO_TESTS, "a missing report after exit 0 is no_tests, not build_failed");
	st = with_step_status("failed", 1);
	t = cJSON_GetObjectItem(step(st, 1), "tests");
	cJSON_AddStringToObject(t, "unusable", "the report junit.xml is missing");
	cJSON_ReplaceItemInObject(step(st, 1), "exit_code", cJSON_CreateNumber(2));
	expect(st, SG_DIAGNOSE, SG_DIAG_BUILD_FAILED, "a missing report after a non-zero exit is the command failing");

	/* a limit hit: what was measured next to what was allowed */
	st = with_step_status("oom", 1);
	cJSON *s1 = step(st, 1);
	cJSON_ReplaceItemInObject(s1, "limits_hit", cJSON_Parse("[\"memory\"]"));
	cJSON_AddNumberToObject(s1, "peak_memory_kb", 524288);
	cJSON_AddItemToObject(s1, "enforced", cJSON_Parse("{\"cgroup\":{\"memory_kb\":524288,\"pids\":128}}"));
	sg_decision d = decide(st);
	const cJSON *m = cJSON_GetObjectItem(d.evidence, "measured");
	tap_ok(d.category == SG_DIAG_OOM && cJSON_GetNumberValue(cJSON_GetObjectItem(m, "peak_memory_kb")) == 524288 &&
		       cJSON_GetNumberValue(cJSON_GetObjectItem(m, "memory_limit_kb")) == 524288 &&
		       cJSON_GetNumberValue(cJSON_GetObjectItem(m, "pids_limit")) == 128,
	       "oom: the evidence has the peak and the limit side by side");
	sg_decision_free(&d);
	cJSON_Delete(st);
}

static void test_categories(void)
{
	expect(statement(), SG_SHIP, SG_DIAG_NONE, "a passing verdict");
	expect(with_step_status("failed", 0), SG_DIAGNOSE, SG_DIAG_BUILD_FAILED, "build step failed");
	expect(with_step_status("timeout", 1), SG_DIAGNOSE, SG_DIAG_TIMEOUT, "timeout");
	expect(with_step_status("oom", 1), SG_DIAGNOSE, SG_DIAG_OOM, "oom");
	expect(with_step_status("signaled", 1), SG_DIAGNOSE, SG_DIAG_CRASHED, "crash");
	expect(with_step_status("violation", 1), SG_DIAGNOSE, SG_DIAG_VIOLATION, "violation");
	expect(with_step_status("no_tests", 1), SG_DIAGNOSE, SG_DIAG_NO_TESTS, "no tests status");

	expect(with_step_status("not_ready", 1), SG_DIAGNOSE, SG_DIAG_NOT_READY, "not ready");
	expect(with_step_status("probe_failed", 1), SG_DIAGNOSE, SG_DIAG_PROBE_FAILED, "probe failed");
	expect(with_step_status("flaky", 1), SG_DIAGNOSE, SG_DIAG_TESTS_FAILED, "flaky: tests_failed");
	{
		/* a flaky step: the summary says so, the error line names the tests */
		cJSON *fl = with_step_status("flaky", 1);
		cJSON *names = cJSON_CreateArray();
		cJSON_AddItemToArray(names, cJSON_CreateString("coin"));
		cJSON_AddItemToObject(step(fl, 1), "flaky", names);
		sg_decision d = decide(fl);
		tap_ok(d.summary && strstr(d.summary, "flaky") != NULL, "flaky: the summary says flaky (%s)",
		       d.summary ? d.summary : "(null)");
		const cJSON *line = cJSON_GetObjectItem(d.evidence, "error_line");
		tap_is_str(cJSON_IsString(line) ? line->valuestring : NULL, "flaky: coin",
			   "flaky: the error line names the tests that changed");
		tap_ok(cJSON_GetArraySize(cJSON_GetObjectItem(d.evidence, "flaky")) == 1, "flaky: the evidence lists them");
		sg_decision_free(&d);
		cJSON_Delete(fl);
	}
	cJSON *st = with_step_status("error", 0);
	fail_result(st, "ERROR");
	expect(st, SG_DIAGNOSE, SG_DIAG_INFRASTRUCTURE, "an infrastructure error is never the candidate's");

	st = with_step_status("failed", 1);
	cJSON *tests = cJSON_GetObjectItem(step(st, 1), "tests");
	cJSON_ReplaceItemInObject(tests, "failed", cJSON_CreateNumber(1));
	expect(st, SG_DIAGNOSE, SG_DIAG_TESTS_FAILED, "a failing test");

	/* all steps passed but no test ran: never SHIP */
	st = statement();
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(step(st, 1), "tests"), "total", cJSON_CreateNumber(0));
	expect(st, SG_DIAGNOSE, SG_DIAG_NO_TESTS, "tests.total == 0 with every step passed");
	st = statement();
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(step(st, 1), "tests"), "min", cJSON_CreateNumber(5));
	expect(st, SG_DIAGNOSE, SG_DIAG_NO_TESTS, "fewer tests than min");

	/* a PASSED result with a step that is not passed is still not shipped */
	st = statement();
	set_str(step(st, 1), "status", "skipped");
	expect(st, SG_DIAGNOSE, SG_DIAG_INFRASTRUCTURE, "a skipped step never ships");

	st = statement();
	cJSON *probes = cJSON_AddArrayToObject(step(st, 1), "probes");
	cJSON *pr = cJSON_CreateObject();
	cJSON_AddStringToObject(pr, "name", "health");
	cJSON_AddBoolToObject(pr, "passed", false);
	cJSON_AddItemToArray(probes, pr);
	expect(st, SG_DIAGNOSE, SG_DIAG_PROBE_FAILED, "a failed probe on a passed step");

	st = statement();
	cJSON_AddFalseToObject(step(st, 1), "ready");
	expect(st, SG_DIAGNOSE, SG_DIAG_NOT_READY, "a service that was not ready");

	st = statement();
	cJSON *v = cJSON_GetObjectItem(step(st, 0), "violations");
	cJSON *vi = cJSON_CreateObject();
	cJSON_AddStringToObject(vi, "syscall", "ptrace");
	cJSON_AddItemToArray(v, vi);
	expect(st, SG_DIAGNOSE, SG_DIAG_VIOLATION, "recorded violations");
	st = statement();
	v = cJSON_GetObjectItem(step(st, 0), "violations");
	cJSON_AddItemToArray(v, cJSON_CreateObject());
	sg_ship_policy lax;
	sg_ship_policy_default(&lax);
	lax.allow_violations = true;
	sg_decision d;
	sg_decide(st, &lax, &d);
	tap_ok(d.kind == SG_SHIP, "violations allowed by the policy ship");
	sg_decision_free(&d);
	cJSON_Delete(st);
}

static void test_isolation_signatures(void)
{
	/* two different isolation failures are two different failures for the ledger */
	cJSON *a = statement(), *b = statement();
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "predicate"), "enforced"),
						      "seccomp"),
				  "default_deny", cJSON_CreateFalse());
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "predicate"), "enforced"), "network",
				  cJSON_CreateString("host"));
	sg_decision da = decide(a), db = decide(b);
	tap_ok(da.category == SG_DIAG_INFRASTRUCTURE && db.category == SG_DIAG_INFRASTRUCTURE &&
		       strcmp(da.signature, db.signature) != 0,
	       "isolation failures of different kinds have different signatures (%s, %s)", da.signature, db.signature);
	sg_decision_free(&da);
	sg_decision_free(&db);
	cJSON_Delete(a);
	cJSON_Delete(b);
}

static void test_isolation_minimum(void)
{
	cJSON *st = statement();
	cJSON *e = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "predicate"), "enforced");
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(e, "seccomp"), "enabled", cJSON_CreateFalse());
	expect(st, SG_DIAGNOSE, SG_DIAG_INFRASTRUCTURE, "no seccomp: does not ship silently");
	st = statement();
	e = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "predicate"), "enforced");
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(e, "seccomp"), "default_deny", cJSON_CreateFalse());
	expect(st, SG_DIAGNOSE, SG_DIAG_INFRASTRUCTURE, "a denylist seccomp policy (default allow): does not ship");
	st = statement();
	e = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "predicate"), "enforced");
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(e, "seccomp"), "default_deny");
	expect(st, SG_DIAGNOSE, SG_DIAG_INFRASTRUCTURE, "seccomp without default_deny recorded: does not ship");
	st = statement();
	cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "predicate"), "steps"), 0);
	cJSON_ReplaceItemInObject(s0, "violations", cJSON_CreateNull());
	expect(st, SG_DIAGNOSE, SG_DIAG_INFRASTRUCTURE, "violations unknown (no trace): does not ship");
	st = statement();
	e = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "predicate"), "enforced");
	cJSON_ReplaceItemInObject(e, "network", cJSON_CreateString("host"));
	expect(st, SG_DIAGNOSE, SG_DIAG_INFRASTRUCTURE, "the host network: does not ship");
	st = statement();
	e = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "predicate"), "enforced");
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(e, "cgroup"), "memory_kb", cJSON_CreateFalse());
	expect(st, SG_DIAGNOSE, SG_DIAG_INFRASTRUCTURE, "no memory limit: does not ship");
	st = statement();
	e = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "predicate"), "enforced");
	cJSON_ReplaceItemInObject(e, "capabilities_left", cJSON_CreateNumber(3));
	expect(st, SG_DIAGNOSE, SG_DIAG_INFRASTRUCTURE, "capabilities left: does not ship");
	st = statement();
	e = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "predicate"), "enforced");
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(e, "namespaces"), "user", cJSON_CreateFalse());
	expect(st, SG_DIAGNOSE, SG_DIAG_INFRASTRUCTURE, "no user namespace: does not ship");
	st = statement();
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(st, "predicate"), "enforced");
	expect(st, SG_DIAGNOSE, SG_DIAG_INFRASTRUCTURE, "no enforced block: does not ship");
	st = cJSON_Parse("{\"predicate\":{}}");
	expect(st, SG_DIAGNOSE, SG_DIAG_INFRASTRUCTURE, "an empty predicate");
}

static char *signature_for(const char *stderr_tail)
{
	cJSON *st = with_step_status("failed", 0);
	set_str(cJSON_GetObjectItem(step(st, 0), "stderr"), "tail", stderr_tail);
	sg_decision d = decide(st);
	char *sig = sg_xstrdup(d.signature);
	char *md = sg_decision_markdown(&d, "seen twice before");
	tap_ok(strstr(md, "# DIAGNOSE: build_failed") && strstr(md, "seen twice before") && strstr(md, "step `build`"),
	       "the markdown names the category, the step and the ledger note");
	free(md);
	sg_decision_free(&d);
	cJSON_Delete(st);
	return sig;
}

static void test_signatures(void)
{
	char *a = signature_for("cc -c main.c\nmain.c:12:5: error: 'x' undeclared (first use in this function)\nmake: *** [all] Error 1\n");
	char *b = signature_for("cc -c main.c\nmain.c:40:9: error: 'x' undeclared (first use in this function)\nmake: *** [all] Error 1\n");
	char *c = signature_for("cc -c main.c\nmain.c:12:5: error: 'y' undeclared (first use in this function)\n");
	tap_is_str(a, b, "the same error on another line has the same signature");
	tap_ok(strcmp(a, c) != 0, "a different error has a different signature");
	tap_ok(!strncmp(a, "build_failed:build:", 19), "signature starts with category and step");
	free(a);
	free(b);
	free(c);
	char *n = sg_normalise_error_line("at 0x7ffd1234 in /tmp/build-abc/x.c:17   failed");
	tap_is_str(n, "at <addr> in <tmp>:<n> failed", "addresses, temp paths and numbers are normalised");
	free(n);
}

static void test_ledger(void)
{
	char tmpl[] = "/tmp/sg-test-ledger-XXXXXX";
	char *dir = mkdtemp(tmpl);
	sg_autofree char *path = sg_xasprintf("%s/.shipgate/ledger.jsonl", dir);
	sg_error err = {0};
	size_t n = 99;
	tap_is_int(sg_ledger_verify(path, &n, &err), 0, "a missing ledger is empty and valid");
	tap_is_int((long long)n, 0, "with no entries");
	for (int i = 1; i <= 4; i++) {
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "loop", i <= 2 ? "L1" : "L2");
		cJSON_AddNumberToObject(f, "attempt", i <= 2 ? i : i - 2);
		cJSON_AddStringToObject(f, "decision", i == 2 ? "SHIP" : "DIAGNOSE");
		if (i != 2)
			cJSON_AddStringToObject(f, "signature", "tests_failed:test:abc");
		cJSON_AddStringToObject(f, "workspace_sha256", i == 2 ? "fixed-digest" : "other");
		tap_is_int(sg_ledger_append(path, "decision", f, &err), 0, "append");
	}
	tap_is_int(sg_ledger_verify(path, &n, &err), 0, "the chain verifies");
	tap_is_int((long long)n, 4, "four entries");
	cJSON *entries = sg_ledger_load(path, &err);
	sg_ledger_seen seen;
	sg_ledger_seen_of(entries, "tests_failed:test:abc", &seen);
	tap_is_int((long long)seen.count, 3, "the signature was seen three times");
	tap_is_str(seen.where, "loop L1 attempt 1; loop L2 attempt 1; loop L2 attempt 2", "where it was seen");
	TAP_OK(seen.fixed_digest == NULL); /* the last sighting (L2) was not fixed yet */
	sg_ledger_seen_free(&seen);
	cJSON_Delete(entries);

	/* tampering: edit one byte of line 2 */
	sg_autofree char *data = NULL;
	size_t len;
	sg_read_file(path, 1 << 20, &data, &len, &err);
	char *line2 = strchr(data, '\n') + 1;
	char *pos = strstr(line2, "SHIP");
	pos[0] = 'Z';
	sg_write_file_atomic(path, data, len, 0644, &err);
	sg_error verr = {0};
	tap_is_int(sg_ledger_verify(path, &n, &verr), -1, "an edited line is detected");
	TAP_OK(strstr(verr.msg, "line 3") != NULL);
	pos[0] = 'S';
	/* delete line 2 */
	char *line3 = strchr(line2, '\n') + 1;
	memmove(line2, line3, strlen(line3) + 1);
	sg_write_file_atomic(path, data, strlen(data), 0644, &err);
	sg_error derr = {0};
	tap_is_int(sg_ledger_verify(path, &n, &derr), -1, "a deleted line is detected");
	TAP_OK(strstr(derr.msg, "line 2") != NULL);
	sg_rm_rf(dir, &err);
}

int main(void)
{
	test_categories();
	test_unusable_report_and_limits();
	test_isolation_signatures();
	test_isolation_minimum();
	test_signatures();
	test_ledger();
	return tap_done();
}
