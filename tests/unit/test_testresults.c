/* test_testresults.c: the JUnit and TAP parsers (executor/testresults*.c) against
 * docs/test-results.md, on the fixtures in tests/data/results/:
 *   junit-pytest-*.xml, junit-ctest.xml and tap-node.tap are real output of pytest 7.2,
 *   ctest 3.25 (--output-junit) and node 20 (--test --test-reporter=tap);
 *   junit-go-junit-report.xml, junit-jest-junit.xml and junit-ant.xml are written by hand
 *   in the shape those tools document; the rest are hostile or broken on purpose.
 * Small cases that need no file are written inline.
 */
#include "evidence.h"
#include "tap.h"
#include "testresults.h"
#include "util.h"

#include <dirent.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static char *load(const char *name, size_t *len)
{
	const char *dir = getenv("SHIPGATE_TEST_DATA");
	sg_autofree char *path = sg_xasprintf("%s/results/%s", dir ? dir : "tests/data", name);
	char *data = NULL;
	sg_error err = {0};
	if (sg_read_file(path, SG_TEST_REPORT_MAX_BYTES, &data, len, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(99);
	}
	return data;
}

static int junit_file(const char *name, sg_test_report *r, sg_error *err)
{
	size_t len;
	sg_autofree char *data = load(name, &len);
	return sg_junit_parse(data, len, r, err);
}

static int tap_file(const char *name, sg_test_report *r)
{
	size_t len;
	sg_autofree char *data = load(name, &len);
	sg_error err = {0};
	return sg_tap_parse(data, len, r, &err);
}

static int tap_text(const char *text, sg_test_report *r)
{
	sg_error err = {0};
	return sg_tap_parse(text, strlen(text), r, &err);
}

static int junit_text(const char *text, sg_test_report *r, sg_error *err)
{
	return sg_junit_parse(text, strlen(text), r, err);
}

static void counts(const char *what, const sg_test_report *r, uint64_t total, uint64_t passed,
		   uint64_t failed, uint64_t skipped, uint64_t errors)
{
	char name[160];
	bool same = r->total == total && r->passed == passed && r->failed == failed &&
		    r->skipped == skipped && r->errors == errors;
	snprintf(name, sizeof(name), "%s: total/passed/failed/skipped/errors", what);
	tap_ok(same, "%s", name);
	if (!same)
		printf("#   got:  %llu/%llu/%llu/%llu/%llu\n#   want: %llu/%llu/%llu/%llu/%llu\n",
		       (unsigned long long)r->total, (unsigned long long)r->passed,
		       (unsigned long long)r->failed, (unsigned long long)r->skipped,
		       (unsigned long long)r->errors, (unsigned long long)total,
		       (unsigned long long)passed, (unsigned long long)failed,
		       (unsigned long long)skipped, (unsigned long long)errors);
}

static void no_problem(const char *what, const sg_test_report *r)
{
	char name[160];
	snprintf(name, sizeof(name), "%s: no problem", what);
	tap_is_str(r->problem, NULL, name);
}

static bool starts_with(const char *s, const char *prefix)
{
	return s && !strncmp(s, prefix, strlen(prefix));
}

static bool valid_utf8(const char *s)
{
	sg_autofree char *clean = sg_utf8_sanitize(s, strlen(s));
	return !strcmp(clean, s);
}

/* ---- JUnit: real and documented reports --------------------------------------------- */

static void test_junit_pytest(void)
{
	sg_test_report r;
	sg_error err = {0};

	tap_is_int(junit_file("junit-pytest-pass.xml", &r, &err), 0, "pytest pass: parses");
	counts("pytest pass", &r, 3, 3, 0, 0, 0);
	no_problem("pytest pass", &r);
	tap_is_int((long long)r.n_failures, 0, "pytest pass: no failures listed");
	sg_test_report_free(&r);

	junit_file("junit-pytest-fail.xml", &r, &err);
	counts("pytest fail", &r, 2, 1, 1, 0, 0);
	no_problem("pytest fail", &r);
	tap_is_int((long long)r.n_failures, 1, "pytest fail: one failure listed");
	tap_is_str(r.failures[0].name, "test_one_fail.test_bad", "pytest fail: classname.name");
	tap_is_str(r.failures[0].classname, "test_one_fail", "pytest fail: classname kept");
	tap_is_str(r.failures[0].kind, "failure", "pytest fail: kind");
	TAP_OK(starts_with(r.failures[0].message, "assert (1 + 1) == 3\ndef test_bad():"));
	sg_test_report_free(&r);

	tap_is_int(junit_file("junit-pytest-empty.xml", &r, &err), 0, "pytest empty: parses");
	counts("pytest empty", &r, 0, 0, 0, 0, 0);
	no_problem("pytest empty", &r);
	sg_test_report_free(&r);

	junit_file("junit-pytest-skip.xml", &r, &err);
	counts("pytest skip", &r, 2, 1, 0, 1, 0);
	no_problem("pytest skip", &r);
	sg_test_report_free(&r);

	junit_file("junit-pytest-mixed.xml", &r, &err);
	counts("pytest mixed (failure, error, skip)", &r, 4, 1, 2, 1, 1);
	no_problem("pytest mixed", &r);
	tap_is_int((long long)r.n_failures, 2, "pytest mixed: two failures listed");
	tap_is_str(r.failures[1].kind, "error", "pytest mixed: <error> is kind error");
	tap_is_str(r.failures[1].name, "test_mixed.test_uses_broken", "pytest mixed: error name");
	TAP_OK(starts_with(r.failures[1].message,
			   "failed on setup with \"RuntimeError: fixture exploded\""));
	sg_test_report_free(&r);

	/* Teardown errors are reported as a second <testcase> of the same test, and pytest's
	 * own tests="6" counts them: no false problem. xfail is <skipped>, strict xpass a
	 * <failure>. */
	junit_file("junit-pytest-teardown.xml", &r, &err);
	counts("pytest teardown/xfail", &r, 6, 1, 4, 1, 2);
	no_problem("pytest teardown/xfail", &r);
	sg_test_report_free(&r);
}

static void test_junit_ctest(void)
{
	sg_test_report r;
	sg_error err = {0};
	/* ctest 3.25: status="run|fail|notrun|disabled"; a disabled test has no <skipped>
	 * child, and a missing executable is "notrun" with <skipped>; the output of a
	 * failed test is in <system-out>, its <failure message=""/> empty. */
	tap_is_int(junit_file("junit-ctest.xml", &r, &err), 0, "ctest: parses (lone <testsuite>)");
	counts("ctest", &r, 5, 1, 1, 3, 0);
	no_problem("ctest", &r);
	tap_is_str(r.failures[0].name, "fails", "ctest: classname equal to name is not repeated");
	tap_is_str(r.failures[0].message, "expected 4, got 5",
		   "ctest: empty <failure> takes the testcase's <system-out>");
	sg_test_report_free(&r);
}

static void test_junit_other_tools(void)
{
	sg_test_report r;
	sg_error err = {0};

	junit_file("junit-go-junit-report.xml", &r, &err);
	counts("go-junit-report", &r, 5, 3, 1, 1, 0);
	no_problem("go-junit-report", &r);
	tap_is_str(r.failures[0].name, "example.com/calc.TestDivide", "go-junit-report: name");
	tap_is_str(r.failures[0].message,
		   "Failed\ncalc_test.go:21: Divide(1, 0): expected an error, got 0",
		   "go-junit-report: message attribute and CDATA text");
	sg_test_report_free(&r);

	/* jest-junit leaves the <error> testcase of a file that failed to load out of
	 * `tests` (and counts it in `errors`): not a lie. */
	junit_file("junit-jest-junit.xml", &r, &err);
	counts("jest-junit", &r, 5, 2, 2, 1, 1);
	no_problem("jest-junit", &r);
	tap_is_str(r.failures[0].name, "calculator divides by zero", "jest-junit: name");
	TAP_OK(starts_with(r.failures[0].message, "Error: expect(received).toThrow()"));
	tap_is_str(r.failures[1].kind, "error", "jest-junit: suite that failed to run is an error");
	tap_is_str(r.failures[1].name, "Test suite failed to run.__tests__/broken.test.js",
		   "jest-junit: its name");
	sg_test_report_free(&r);

	junit_file("junit-ant.xml", &r, &err);
	counts("Ant/Surefire (flakyFailure is a pass)", &r, 4, 2, 2, 0, 1);
	no_problem("Ant/Surefire", &r);
	TAP_OK(starts_with(r.failures[0].message,
			   "expected:<2> but was:<3>\njunit.framework.AssertionFailedError"));
	sg_test_report_free(&r);

	junit_file("junit-nested.xml", &r, &err);
	counts("nested testsuites", &r, 5, 3, 1, 1, 0);
	no_problem("nested testsuites", &r);
	tap_is_str(r.failures[0].name, "unit.math.divides", "nested: failure name");
	sg_test_report_free(&r);
}

static void test_junit_lies(void)
{
	sg_test_report r;
	sg_error err = {0};
	tap_is_int(junit_file("junit-lying-suite.xml", &r, &err), 0,
		   "lying suite: still parses (counts come from the testcases)");
	counts("lying suite", &r, 3, 3, 0, 0, 0);
	tap_is_str(r.problem,
		   "testsuite \"forged\" says 5 tests but 3 testcases are listed; "
		   "testsuite \"forged\" says 1 failed but 0 failing testcases are listed; "
		   "testsuites says 5 tests but 3 testcases are listed",
		   "lying suite: each disagreement is a problem");
	sg_test_report_free(&r);

	/* Status without a child still counts (fail closed); a disabled ctest test is
	 * skipped, not passed. */
	junit_text("<testsuite><testcase name='a' status='fail'/>"
		   "<testcase name='b' status='disabled'/><testcase name='c' status='run'/>"
		   "</testsuite>", &r, &err);
	counts("status attribute", &r, 3, 1, 1, 1, 0);
	sg_test_report_free(&r);
}

/* ---- JUnit: hostile and broken ------------------------------------------------------ */

static void test_junit_malformed(void)
{
	sg_test_report r;
	sg_error err = {0};
	tap_is_int(junit_file("junit-truncated.xml", &r, &err), -1, "truncated: refused");
	tap_is_str(err.msg, "malformed XML at line 7, column 54: unclosed token",
		   "truncated: where and expat's reason");
	tap_is_int(err.kind, SG_ERR_INPUT, "truncated: input error");
	tap_is_str(r.problem, err.msg, "truncated: problem says the same");
	counts("truncated: nothing counted", &r, 0, 0, 0, 0, 0);
	sg_test_report_free(&r);

	tap_is_int(junit_text("<html><body/></html>", &r, &err), -1, "not JUnit: refused");
	tap_is_str(err.msg,
		   "not a JUnit report: the root element is <html>, expected <testsuites> or "
		   "<testsuite> (line 1)",
		   "not JUnit: says which root it found");
	sg_test_report_free(&r);

	tap_is_int(junit_text("", &r, &err), -1, "empty file: refused");
	sg_test_report_free(&r);

	tap_is_int(junit_text("<testsuite><testcase name='\xff'/></testsuite>", &r, &err), -1,
		   "invalid UTF-8 in a UTF-8 document: refused by expat");
	sg_test_report_free(&r);

	junit_text("<?xml version='1.0' encoding='ISO-8859-1'?><testsuite>"
		   "<testcase name='caf\xe9'><failure/></testcase></testsuite>", &r, &err);
	tap_is_str(r.n_failures ? r.failures[0].name : NULL, "caf\xc3\xa9",
		   "ISO-8859-1 document: names come out as UTF-8");
	sg_test_report_free(&r);
}

static void test_junit_entities(void)
{
	sg_test_report r;
	sg_error err = {0};
	const char *no_dtd = "DOCTYPE/entities are not allowed in a test report";

	uint64_t t0 = sg_monotonic_ms();
	tap_is_int(junit_file("junit-billion-laughs.xml", &r, &err), -1, "billion laughs: refused");
	uint64_t took_ms = sg_monotonic_ms() - t0;
	tap_is_str(err.msg, "DOCTYPE/entities are not allowed in a test report (line 2)",
		   "billion laughs: the DOCTYPE message, with its line");
	tap_ok(took_ms < 1000, "billion laughs: refused in %llu ms, nothing expanded",
	       (unsigned long long)took_ms);
	sg_test_report_free(&r);

	tap_is_int(junit_file("junit-external-entity.xml", &r, &err), -1,
		   "external entity: refused");
	TAP_OK(starts_with(err.msg, no_dtd));
	tap_ok(!strstr(err.msg, "root:") && r.n_failures == 0 && r.total == 0,
	       "external entity: nothing of /etc/passwd in the result");
	sg_test_report_free(&r);

	tap_is_int(junit_text("<!DOCTYPE testsuites SYSTEM 'file:///etc/passwd'><testsuites/>",
			      &r, &err), -1, "external DTD subset: refused");
	TAP_OK(starts_with(err.msg, no_dtd));
	sg_test_report_free(&r);

	tap_is_int(junit_text("<!DOCTYPE t [<!ENTITY % p SYSTEM 'file:///etc/passwd'> %p;]>"
			      "<testsuites/>", &r, &err), -1, "parameter entity: refused");
	TAP_OK(starts_with(err.msg, no_dtd));
	sg_test_report_free(&r);

	tap_is_int(junit_text("<!DOCTYPE testsuites><testsuites/>", &r, &err), -1,
		   "even a bare DOCTYPE: refused");
	sg_test_report_free(&r);

	tap_is_int(junit_text("<testsuites><testsuite><testcase name='x'>"
			      "<failure message='&undefined;'/></testcase></testsuite>"
			      "</testsuites>", &r, &err), -1,
		   "an undeclared entity reference: refused");
	TAP_OK(strstr(err.msg, "undefined entity") != NULL);
	sg_test_report_free(&r);
}

static char *nested_suites(unsigned levels)
{
	sg_buf b = {0};
	for (unsigned i = 0; i < levels; i++)
		sg_buf_puts(&b, "<testsuite>");
	for (unsigned i = 0; i < levels; i++)
		sg_buf_puts(&b, "</testsuite>");
	return b.data;
}

static void test_junit_limits(void)
{
	sg_test_report r;
	sg_error err = {0};

	sg_autofree char *deep = nested_suites(SG_JUNIT_MAX_DEPTH);
	tap_is_int(junit_text(deep, &r, &err), 0, "64 levels of elements: accepted");
	sg_test_report_free(&r);
	sg_autofree char *deeper = nested_suites(SG_JUNIT_MAX_DEPTH + 1);
	tap_is_int(junit_text(deeper, &r, &err), -1, "65 levels of elements: refused");
	tap_is_str(err.msg, "elements are nested deeper than 64 levels (line 1)",
		   "65 levels: message");
	sg_test_report_free(&r);

	/* The size check comes before anything is read: the bytes need not exist. */
	sg_autofree char *big = sg_xmalloc(SG_TEST_REPORT_MAX_BYTES + 1u);
	tap_is_int(sg_junit_parse(big, SG_TEST_REPORT_MAX_BYTES + 1u, &r, &err), -1,
		   "more than 64 MiB: refused");
	tap_is_str(err.msg, "the report is 67108865 bytes, more than the 64 MiB limit",
		   "more than 64 MiB: message");
	sg_test_report_free(&r);
	tap_is_int(sg_tap_parse(big, SG_TEST_REPORT_MAX_BYTES + 1u, &r, &err), -1,
		   "TAP more than 64 MiB: refused");
	sg_test_report_free(&r);
}

static void test_junit_bounds(void)
{
	sg_test_report r;
	sg_error err = {0};
	sg_buf x = {0};
	sg_buf_puts(&x, "<testsuite><testcase classname='");
	for (int i = 0; i < 300; i++)
		sg_buf_puts(&x, "\xc3\xa9"); /* é: a cut could split it */
	sg_buf_puts(&x, "' name='n'><failure message='");
	for (int i = 0; i < 2000; i++)
		sg_buf_puts(&x, "\xe2\x82\xac"); /* €, 3 bytes */
	sg_buf_puts(&x, "'/></testcase>");
	for (int i = 0; i < 59; i++)
		sg_buf_printf(&x, "<testcase name='t%d'><error/></testcase>", i);
	sg_buf_puts(&x, "</testsuite>");
	junit_text(x.data, &r, &err);
	sg_buf_free(&x);

	counts("60 failing", &r, 60, 0, 60, 0, 59);
	tap_is_int((long long)r.n_failures, SG_TEST_FAILURES_MAX, "60 failing: 50 kept");
	TAP_OK(r.failures_truncated);
	const sg_test_failure *f = &r.failures[0];
	tap_ok(strlen(f->name) <= SG_TEST_NAME_MAX && valid_utf8(f->name), "long name: cut to %zu "
	       "bytes of valid UTF-8", strlen(f->name));
	TAP_OK(strlen(f->name) > SG_TEST_NAME_MAX - 8);
	TAP_OK(strlen(f->name) >= 3 && !strcmp(f->name + strlen(f->name) - 3, "\xe2\x80\xa6"));
	tap_ok(strlen(f->message) <= SG_TEST_MESSAGE_MAX && valid_utf8(f->message),
	       "long message: cut to %zu bytes of valid UTF-8", strlen(f->message));
	TAP_OK(strlen(f->message) > SG_TEST_MESSAGE_MAX - 8);

	cJSON *j = sg_test_report_json(&r);
	TAP_OK(cJSON_IsTrue(cJSON_GetObjectItem(j, "failures_truncated")));
	tap_is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "failures")), 50,
		   "JSON: 50 failures");
	cJSON_Delete(j);
	sg_test_report_free(&r);
}

/* ---- TAP ---------------------------------------------------------------------------- */

static void test_tap_basic(void)
{
	sg_test_report r;

	tap_is_int(tap_file("tap-pass.tap", &r), 0, "tap pass: parses");
	counts("tap pass", &r, 3, 3, 0, 0, 0);
	no_problem("tap pass", &r);
	sg_test_report_free(&r);

	tap_file("tap-one-fail.tap", &r);
	counts("tap one fail", &r, 3, 2, 1, 0, 0);
	no_problem("tap one fail", &r);
	tap_is_str(r.failures[0].name, "subtracts", "tap one fail: description is the name");
	tap_is_str(r.failures[0].kind, "not ok", "tap one fail: kind");
	tap_is_str(r.failures[0].message, "", "tap one fail: no message without YAML");
	TAP_OK(r.failures[0].classname == NULL);
	sg_test_report_free(&r);

	tap_file("tap-zero-skip.tap", &r);
	counts("tap 1..0 # SKIP", &r, 0, 0, 0, 0, 0);
	no_problem("tap 1..0 # SKIP", &r);
	sg_test_report_free(&r);

	tap_file("tap-skip-todo.tap", &r);
	counts("tap skip/todo", &r, 5, 2, 0, 3, 0);
	no_problem("tap skip/todo", &r);
	sg_test_report_free(&r);

	tap_file("tap-plan-at-end.tap", &r);
	counts("tap plan at end", &r, 3, 3, 0, 0, 0);
	no_problem("tap plan at end", &r);
	sg_test_report_free(&r);

	tap_text("1..1\r\nok 1 - windows line ends\r\n", &r);
	counts("tap CRLF", &r, 1, 1, 0, 0, 0);
	no_problem("tap CRLF", &r);
	sg_test_report_free(&r);

	tap_text("1..2\nnot ok 1 - skipped but not ok # SKIP\nok 2 - a # comment, not a "
		 "directive\n", &r);
	counts("tap not ok # SKIP fails", &r, 2, 1, 1, 0, 0);
	sg_test_report_free(&r);
}

static void test_tap_problems(void)
{
	sg_test_report r;

	tap_file("tap-bail-out.tap", &r);
	counts("tap bail out", &r, 2, 1, 1, 0, 0);
	tap_is_str(r.problem, "Bail out! the database went away", "tap bail out: problem");
	tap_is_str(r.failures[0].kind, "bail out", "tap bail out: failure kind");
	tap_is_str(r.failures[0].message, "the database went away", "tap bail out: reason");
	sg_test_report_free(&r);

	tap_text("1..2\nok 1\n    Bail out! \x1b[31mred\n", &r);
	tap_is_str(r.problem, "Bail out!  [31mred", "tap: a subtest's bail out ends the run, "
		   "control characters never reach the problem");
	sg_test_report_free(&r);

	tap_file("tap-missing-plan.tap", &r);
	counts("tap missing plan", &r, 2, 2, 0, 0, 0);
	tap_is_str(r.problem, "missing plan", "tap missing plan: problem");
	sg_test_report_free(&r);

	tap_text("", &r);
	tap_is_str(r.problem, "missing plan", "tap empty output: missing plan");
	sg_test_report_free(&r);

	tap_file("tap-fewer.tap", &r);
	counts("tap fewer than planned", &r, 3, 2, 1, 0, 0);
	tap_is_str(r.problem, "planned 5 tests but 3 ran", "tap fewer: problem");
	sg_test_report_free(&r);

	tap_text("1..1\nok 1\nok 2\n", &r);
	tap_is_str(r.problem, "planned 1 test but 2 ran", "tap more than planned: problem");
	sg_test_report_free(&r);

	tap_file("tap-numbering.tap", &r);
	counts("tap numbering", &r, 4, 4, 0, 0, 0);
	tap_is_str(r.problem, "test 3 is out of order, expected 2 (line 3)",
		   "tap out of order: the first break is said");
	sg_test_report_free(&r);

	tap_text("1..3\nok 1\nok 1\nok 3\n", &r);
	tap_is_str(r.problem, "test 1 appears twice (line 3)", "tap duplicate number: problem");
	sg_test_report_free(&r);

	tap_text("1..1\nok 1\n1..1\n", &r);
	tap_is_str(r.problem, "more than one plan (lines 1 and 3)", "tap two plans: problem");
	sg_test_report_free(&r);

	tap_text("ok 1\n1..1\nok 2\n", &r);
	tap_is_str(r.problem, "test at line 3 comes after the plan at line 2; planned 1 test but "
		   "2 ran", "tap test after the closing plan: problem");
	sg_test_report_free(&r);

	tap_text("1..x\nok 1\n", &r);
	tap_is_str(r.problem, "malformed plan at line 1; missing plan", "tap malformed plan");
	sg_test_report_free(&r);

	tap_text("1..2\nnot ok 1 - a\n  ---\n  message: x\nok 2\n", &r);
	tap_is_str(r.problem, "YAML block from line 3 is not closed before line 5",
		   "tap unclosed YAML: ends at a line left of its ---, and says so");
	counts("tap unclosed YAML", &r, 2, 1, 1, 0, 0);
	sg_test_report_free(&r);

	/* output without a newline glues the runner's "not ok" onto a forged "ok" */
	static const char *const glued[] = {"1..2\nok 1 - a\nok 2 - not ok 2 - b\n",
					    "1..2\nok 1 - a\nok 2 - b\rnot ok 2 - b\n",
					    "1..2\nok 1 - a\nok 2 - x # TODO not ok 2 - b\n"};
	for (size_t i = 0; i < sizeof(glued) / sizeof(glued[0]); i++) {
		tap_text(glued[i], &r);
		tap_ok(r.problem && strstr(r.problem, "line 3 holds a second test point"),
		       "tap glued \"not ok\" (%zu): a problem, the report is not trusted", i);
		sg_test_report_free(&r);
	}
	tap_text("1..1\nok 1 - prints \"not ok\" but no number\n", &r);
	no_problem("tap \"not ok\" without a number in a description", &r);
	sg_test_report_free(&r);

	/* output of the code under test opens a block to swallow the runner's failure */
	tap_text("1..3\nok 1 - one\nok 2 - two\n  ---\nnot ok 2 - two\n  ---\n  message: 'expected 4 got 5'\n"
		 "  ...\nok 3 - three\n", &r);
	tap_ok(r.problem && strstr(r.problem, "YAML block from line 4 is not closed before line 5"),
	       "tap forged YAML opener: a problem, the report is not trusted");
	tap_ok(r.failed == 1, "tap forged YAML opener: the real failure is still counted");
	sg_test_report_free(&r);
}

static void test_tap_yaml_and_subtests(void)
{
	sg_test_report r;

	tap_file("tap-yaml.tap", &r);
	counts("tap YAML", &r, 3, 1, 2, 0, 0);
	no_problem("tap YAML", &r);
	tap_is_str(r.failures[0].message,
		   "Failed with error 'hostname peebles.example.com not found'",
		   "tap YAML: double-quoted message");
	tap_is_str(r.failures[1].message, "line one\nline two", "tap YAML: block message");
	sg_test_report_free(&r);

	tap_file("tap-forged-yaml.tap", &r);
	/* the indented forgery stays inside the block; the one at column 0 cannot be YAML:
	 * it ends the block as a problem, so the report is not trusted either way */
	tap_ok(r.failed == 1 && r.problem && strstr(r.problem, "YAML block from line 5 is not closed before line 10"),
	       "tap forged ok inside YAML: the failure stays, the column-0 forgery is a problem");
	tap_is_str(r.failures[0].message, "expected ok", "tap forged YAML: single-quoted message");
	sg_test_report_free(&r);

	tap_file("tap-forged-subtest.tap", &r);
	counts("tap forged ok inside a subtest", &r, 2, 1, 1, 0, 0);
	no_problem("tap forged ok inside a subtest", &r);
	tap_is_str(r.failures[0].name, "outer", "tap subtest: only the top-level point counts");
	sg_test_report_free(&r);

	/* node 20: "# Subtest:" comments, YAML after every point, the error under `error:`
	 * as a block scalar, a describe() whose tests are an indented subtest. */
	tap_is_int(tap_file("tap-node.tap", &r), 0, "node --test-reporter=tap: parses");
	counts("node --test-reporter=tap", &r, 5, 2, 1, 2, 0);
	no_problem("node", &r);
	tap_is_str(r.failures[0].name, "adds wrongly", "node: failure name");
	tap_is_str(r.failures[0].message, "2 + 2 should be 5\n\n4 !== 5",
		   "node: the error: block is the message");
	sg_test_report_free(&r);
}

static void test_tap_bytes(void)
{
	sg_test_report r;
	tap_file("tap-non-utf8.tap", &r);
	counts("tap non-UTF-8", &r, 2, 1, 1, 0, 0);
	tap_is_str(r.failures[0].name,
		   "broken \xef\xbf\xbd( sequence \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd surrogate",
		   "tap non-UTF-8: invalid bytes become U+FFFD");
	cJSON *j = sg_test_report_json(&r);
	sg_autofree char *text = cJSON_PrintUnformatted(j);
	TAP_OK(text && valid_utf8(text));
	cJSON_Delete(j);
	sg_test_report_free(&r);

	sg_buf x = {0};
	sg_buf_puts(&x, "1..60\n");
	for (int i = 1; i <= 60; i++)
		sg_buf_printf(&x, "not ok %d - t\\#%d\n", i, i);
	tap_text(x.data, &r);
	sg_buf_free(&x);
	counts("tap 60 failing", &r, 60, 0, 60, 0, 0);
	tap_is_int((long long)r.n_failures, 50, "tap 60 failing: 50 kept");
	TAP_OK(r.failures_truncated);
	tap_is_str(r.failures[0].name, "t#1", "tap: \\# in a description is a #");
	sg_test_report_free(&r);
}

/* ---- shared pieces ------------------------------------------------------------------ */

static void test_json(void)
{
	sg_test_report r;
	sg_error err = {0};
	junit_file("junit-pytest-mixed.xml", &r, &err);
	cJSON *j = sg_test_report_json(&r);
	tap_is_str(cJSON_GetStringValue(cJSON_GetObjectItem(j, "format")), "junit", "JSON: format");
	tap_is_int((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "total")), 4,
		   "JSON: total");
	tap_is_int((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "failed")), 2,
		   "JSON: failed");
	tap_is_int((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "errors")), 1,
		   "JSON: errors");
	tap_is_int((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "skipped")), 1,
		   "JSON: skipped");
	cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "failures"), 0);
	tap_is_str(cJSON_GetStringValue(cJSON_GetObjectItem(first, "name")),
		   "test_mixed.test_add_wrong", "JSON: failure name");
	TAP_OK(cJSON_GetObjectItem(first, "message") != NULL);
	TAP_OK(!cJSON_HasObjectItem(j, "problem") && !cJSON_HasObjectItem(j, "failures_truncated"));
	cJSON_Delete(j);
	sg_test_report_free(&r);

	tap_file("tap-fewer.tap", &r);
	j = sg_test_report_json(&r);
	tap_is_str(cJSON_GetStringValue(cJSON_GetObjectItem(j, "format")), "tap", "JSON: tap");
	tap_is_str(cJSON_GetStringValue(cJSON_GetObjectItem(j, "problem")),
		   "planned 5 tests but 3 ran", "JSON: problem when set");
	cJSON_Delete(j);
	sg_test_report_free(&r);
}

static void test_text_bounds(void)
{
	sg_buf x = {0};
	for (int i = 0; i < 600; i++)
		sg_buf_puts(&x, "\xc3\xa9");
	sg_autofree char *cut = sg_test_text(x.data, x.len, 1024);
	sg_buf_free(&x);
	tap_is_int((long long)strlen(cut), 1023, "text: cut on a character boundary, with …");
	TAP_OK(valid_utf8(cut));
	sg_autofree char *nul = sg_test_text("a\0b", 3, 16);
	tap_is_str(nul, "a\xef\xbf\xbd" "b", "text: a NUL byte becomes U+FFFD");

	sg_test_report r;
	sg_test_report_init(&r, SG_TESTS_TAP);
	for (int i = 0; i < 100; i++)
		sg_test_report_add_problem(&r, "problem number %d with some words", i);
	tap_ok(strlen(r.problem) <= SG_TEST_PROBLEM_MAX && valid_utf8(r.problem),
	       "problems: joined and cut at %d bytes (%zu)", SG_TEST_PROBLEM_MAX,
	       strlen(r.problem));
	TAP_OK(starts_with(r.problem, "problem number 0 with some words; problem number 1 "));
	sg_test_report_free(&r);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every fixture whose name starts with prefix (at least `least` of them), parsed from a
 * file and from memory: same() says whether both agree. */
static void each_fixture_same(const char *prefix, size_t least, const char *what, bool (*same)(const char *, size_t))
{
	const char *dir = getenv("SHIPGATE_TEST_DATA");
	sg_autofree char *path = sg_xasprintf("%s/results", dir ? dir : "tests/data");
	DIR *d = opendir(path);
	char **names = NULL;
	size_t n = 0;
	for (struct dirent *de; d && (de = readdir(d));) {
		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		names = sg_xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = sg_xstrdup(de->d_name);
	}
	if (d)
		closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	tap_ok(n >= least, "%s from a file: the fixtures are there (%zu)", what, n);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		sg_autofree char *data = load(names[i], &len);
		tap_ok(same(data, len), "%s from a file: %s as from memory", what, names[i]);
		free(names[i]);
	}
	free(names);
}

/* Two parses of the same input agree (return codes, the report as JSON, the outcomes by
 * name); differ: a difference found elsewhere, "" for none. Both reports are freed. */
static bool reports_same(int ra, sg_test_report *a, int rb, sg_test_report *b, const char *differ)
{
	cJSON *ja = sg_test_report_json(a), *jb = sg_test_report_json(b);
	char *ta = cJSON_PrintUnformatted(ja), *tb = cJSON_PrintUnformatted(jb);
	bool same = ra == rb && !differ[0] && ta && tb && !strcmp(ta, tb) && a->n_outcomes == b->n_outcomes;
	for (size_t i = 0; same && i < a->n_outcomes; i++)
		same = !strcmp(a->outcomes[i].name, b->outcomes[i].name) && a->outcomes[i].result == b->outcomes[i].result;
	if (!same)
		fprintf(stderr, "# first:  %d %s\n# second: %d %s %s\n", ra, ta ? ta : "?", rb, tb ? tb : "?", differ);
	cJSON_free(ta);
	cJSON_free(tb);
	cJSON_Delete(ja);
	cJSON_Delete(jb);
	sg_test_report_free(a);
	sg_test_report_free(b);
	return same;
}

/* sg_tap_parse_fd reads the stream in pieces of 64 KiB: the same report as sg_tap_parse
 * on the whole text, for every fixture and for lines that straddle a piece's end. */
static bool tap_same_fd(const char *data, size_t len)
{
	int fd = memfd_create("tap", MFD_CLOEXEC);
	if (fd < 0 || sg_write_all(fd, data, len) < 0)
		return false;
	sg_test_report a, b;
	sg_error err = {0};
	int ra = sg_tap_parse(data, len, &a, &err);
	int rb = sg_tap_parse_fd(fd, len, true, &b, &err);
	close(fd);
	return reports_same(ra, &a, rb, &b, "");
}

static void test_tap_fd(void)
{
	each_fixture_same("tap-", 14, "TAP", tap_same_fd);
	/* 5,000 tests, one failing with YAML, a BOM, and no newline at the end */
	sg_buf b = {0};
	sg_buf_puts(&b, "\xef\xbb\xbfTAP version 13\n1..5000\n");
	for (int i = 1; i <= 5000; i++) {
		if (i == 2500)
			sg_buf_printf(&b, "not ok %d - tests/unit/test_feature.py::test_%d\n  ---\n  message: boom\n  ...\n", i, i);
		else
			sg_buf_printf(&b, "ok %d - tests/unit/module_x/test_feature.py::TestSomething::test_%d\n", i, i);
	}
	b.len--; /* the last newline */
	tap_ok(tap_same_fd(b.data, b.len), "TAP from a file: 5,000 tests across pieces, a BOM, no final newline");
	sg_buf_free(&b);
	/* a line that straddles the first piece's end, and a newline just before and at it */
	for (size_t cut = 65534; cut <= 65537; cut++) {
		sg_buf_puts(&b, "1..3\nok 1 - short\nnot ok 2 - ");
		while (b.len < cut - 1)
			sg_buf_append(&b, "x", 1);
		sg_buf_puts(&b, "\nok 3 - after\n");
		tap_ok(tap_same_fd(b.data, b.len), "TAP from a file: a newline at byte %zu", cut - 1);
		b.len = 0;
	}
	sg_buf_puts(&b, "1..2\nok 1 - ");
	for (int i = 0; i < 200000; i++)
		sg_buf_append(&b, "y", 1);
	sg_buf_puts(&b, "\nok 2\n");
	tap_ok(tap_same_fd(b.data, b.len), "TAP from a file: a 200,000-byte line over four pieces");
	sg_buf_free(&b);
}

/* sg_junit_parse_fd feeds expat 64 KiB at a time: the same report (and the same error)
 * as sg_junit_parse on the whole text. */
static bool junit_same_fd(const char *data, size_t len)
{
	int fd = memfd_create("junit", MFD_CLOEXEC);
	if (fd < 0 || sg_write_all(fd, data, len) < 0 || lseek(fd, 0, SEEK_SET) != 0)
		return false;
	sg_test_report a, b;
	sg_error ea = {0}, eb = {0};
	int ra = sg_junit_parse(data, len, &a, &ea);
	int rb = sg_junit_parse_fd(fd, len, true, &b, &eb);
	close(fd);
	return reports_same(ra, &a, rb, &b, strcmp(ea.msg, eb.msg) ? eb.msg : "");
}

static void test_junit_fd(void)
{
	each_fixture_same("junit-", 15, "JUnit", junit_same_fd);
	/* 2,000 test cases with output, some failing: some 1.5 MB over many pieces, then the
	 * same cut in the middle of an element */
	sg_buf b = {0};
	sg_buf_puts(&b, "<?xml version=\"1.0\"?>\n<testsuites><testsuite name=\"big\" tests=\"2000\">\n");
	for (int i = 0; i < 2000; i++) {
		sg_buf_printf(&b, "<testcase classname=\"tests.module_%d\" name=\"test_case_%d\">", i % 17, i);
		if (i % 97 == 0)
			sg_buf_printf(&b, "<failure message=\"assert %d\">trace</failure>", i);
		sg_buf_puts(&b, "<system-out>");
		for (int k = 0; k < 10; k++)
			sg_buf_printf(&b, "line %d of the output of test %d, long enough to take room\n", k, i);
		sg_buf_puts(&b, "</system-out></testcase>\n");
	}
	sg_buf_puts(&b, "</testsuite></testsuites>\n");
	tap_ok(junit_same_fd(b.data, b.len), "JUnit from a file: 2,000 test cases over %zu pieces", b.len / 65536 + 1);
	tap_ok(junit_same_fd(b.data, b.len / 2 + 7), "JUnit from a file: the same cut in the middle: the same error");
	sg_buf_free(&b);
}

int main(void)
{
	test_junit_pytest();
	test_junit_ctest();
	test_junit_other_tools();
	test_junit_lies();
	test_junit_malformed();
	test_junit_entities();
	test_junit_limits();
	test_junit_bounds();
	test_tap_basic();
	test_tap_problems();
	test_tap_yaml_and_subtests();
	test_tap_bytes();
	test_tap_fd();
	test_junit_fd();
	test_json();
	test_text_bounds();
	return tap_done();
}
