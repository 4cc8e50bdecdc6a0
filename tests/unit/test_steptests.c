/* test_steptests.c: how a test step is judged from its report and exit status, and how
 * the tests of repeated runs are compared (the pure parts of steptests.c). */
#include "steptests.h"
#include "tap.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static sg_step_tests parsed_tap(const char *tap, uint64_t min)
{
	static sg_tests_spec spec;
	spec = (sg_tests_spec){0};
	spec.format = SG_TESTS_TAP;
	spec.min = min;
	sg_step_tests t = {0};
	t.spec = &spec;
	t.tap_fd = -1;
	sg_error err = {0};
	sg_tap_parse(tap, strlen(tap), &t.report, &err);
	t.have_report = true;
	return t;
}

static void judge(const char *tap, uint64_t min, sg_step_status exit_status, sg_step_status want,
		  const char *reason_part, const char *name)
{
	sg_step_tests t = parsed_tap(tap, min);
	char *why = NULL;
	sg_step_status got = sg_step_tests_judge(&t, exit_status, &why);
	tap_ok(got == want, "%s: %s (got %s)", name, sg_step_status_name(want), sg_step_status_name(got));
	if (reason_part)
		tap_ok(why && strstr(why, reason_part), "%s: the reason says \"%s\" (%s)", name, reason_part,
		       why ? why : "(null)");
	free(why);
	sg_test_report_free(&t.report);
}

static void test_judge(void)
{
	judge("1..2\nok 1 - a\nok 2 - b\n", 1, SG_STEP_PASSED, SG_STEP_PASSED, NULL, "all passed");
	judge("1..2\nok 1 - a\nnot ok 2 - b\n", 1, SG_STEP_PASSED, SG_STEP_FAILED, "although the command exited 0",
	      "a failure with exit 0");
	judge("1..2\nok 1 - a\nok 2 - b\n", 1, SG_STEP_FAILED, SG_STEP_FAILED, "exited non-zero",
	      "exit 1 whatever the report says");
	judge("1..0\n", 1, SG_STEP_PASSED, SG_STEP_NO_TESTS, "0 tests ran", "zero tests, exit 0");
	/* pytest exits 5 when it collected nothing: that is no_tests, not a plain failure */
	judge("1..0\n", 1, SG_STEP_FAILED, SG_STEP_NO_TESTS, "exited non-zero", "zero tests, exit non-zero");
	judge("1..1\nok 1 - a # SKIP\n", 1, SG_STEP_FAILED, SG_STEP_NO_TESTS, "1 skipped", "only skipped, exit non-zero");
	/* ... but not when the report itself is wrong, or when a test failed */
	judge("1..3\n", 1, SG_STEP_FAILED, SG_STEP_FAILED, NULL, "zero tests of a plan of 3, exit non-zero");
	judge("1..1\nnot ok 1 - a\n", 2, SG_STEP_FAILED, SG_STEP_FAILED, "1 of 1 tests failed",
	      "a failure and too few tests");
	judge("1..1\nok 1 - a\n", 1, SG_STEP_TIMEOUT, SG_STEP_TIMEOUT, NULL, "a timeout stays a timeout");
}

static sg_test_report tap_report(const char *tap)
{
	sg_test_report r;
	sg_test_report_init(&r, SG_TESTS_TAP);
	sg_error err = {0};
	sg_tap_parse(tap, strlen(tap), &r, &err);
	return r;
}

static char *joined(char **names, size_t n)
{
	sg_buf b = {0};
	for (size_t i = 0; i < n; i++)
		sg_buf_printf(&b, "%s%s", i ? "," : "", names[i]);
	if (!b.data)
		sg_buf_puts(&b, "");
	return b.data;
}

static void diff(const char *a, const char *b, const char *want, const char *name)
{
	sg_test_report ra = tap_report(a), rb = tap_report(b);
	char **names = NULL;
	size_t n = 0;
	sg_test_outcomes_diff(&ra, &rb, &names, &n);
	sg_names_sort_unique(names, &n);
	char *got = joined(names, n);
	tap_is_str(got, want, name);
	free(got);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	sg_test_report_free(&ra);
	sg_test_report_free(&rb);
}

static void test_diff(void)
{
	diff("1..2\nok 1 - a\nok 2 - b\n", "1..2\nok 1 - a\nok 2 - b\n", "", "the same results: no difference");
	diff("1..2\nok 1 - a\nok 2 - b\n", "1..2\nok 1 - b\nok 2 - a\n", "", "the order does not matter");
	diff("1..2\nok 1 - a\nok 2 - b\n", "1..2\nok 1 - a\nnot ok 2 - b\n", "b", "a test that failed once");
	diff("1..2\nok 1 - a\nok 2 - b\n", "1..2\nok 1 - a\nok 2 - b # SKIP\n", "b", "a test that skipped once");
	diff("1..2\nok 1 - a\nok 2 - b\n", "1..3\nok 1 - a\nok 2 - b\nok 3 - c\n", "c", "a test in one run only");
	diff("1..2\nok 1 - a\nnot ok 2 - a\n", "1..2\nok 1 - a\nok 2 - a\n", "a",
	     "the same name twice: compared occurrence by occurrence");
	diff("1..2\nok 1 - a # 3 ms\nok 2 - b\n", "1..2\nok 1 - a # 4 ms\nok 2 - b\n", "",
	     "a comment after '#' is not part of the test's identity");
	diff("1..2\nnot ok 1 - z\nnot ok 2 - y\n", "1..2\nok 1 - z\nok 2 - y\n", "y,z", "names sorted");

	sg_test_report r;
	sg_test_report_init(&r, SG_TESTS_JUNIT);
	const char *xml = "<testsuite><testcase classname=\"c\" name=\"t1\"/><testcase classname=\"c\" name=\"t2\">"
			  "<failure message=\"x\"/></testcase><testcase name=\"t3\"><skipped/></testcase></testsuite>";
	sg_error err = {0};
	sg_junit_parse(xml, strlen(xml), &r, &err);
	tap_ok(r.n_outcomes == 3 && !strcmp(r.outcomes[0].name, "c.t1") && r.outcomes[0].result == SG_TEST_PASSED &&
		       r.outcomes[1].result == SG_TEST_FAILED && !strcmp(r.outcomes[2].name, "t3") &&
		       r.outcomes[2].result == SG_TEST_SKIPPED,
	       "junit: every testcase is kept by name with its result");
	sg_test_report_free(&r);
}

int main(void)
{
	test_judge();
	test_diff();
	return tap_done();
}
