/* testresults.h: reading the machine-readable results a test step leaves behind (a JUnit
 * XML file or TAP on stdout) into the counts and failures of the contract's step "tests"
 * object (CONTRACT.md, "Verdict"; docs/test-results.md says how each format is counted).
 *
 * Pure code: the parsers take bytes and never touch the file system or the network. The
 * bytes are the candidate's, so they are treated as hostile: every string that comes out
 * is valid UTF-8 and bounded, the number of failures kept is bounded, and a report that
 * lies about itself (counts that disagree, a plan that was not kept, a bail out) parses
 * but carries a one-line `problem`.
 *
 * Counting, the same for both formats: every test is in exactly one of passed, failed or
 * skipped, so total = passed + failed + skipped. `errors` is the part of `failed` that
 * the report calls an error rather than a failed assertion (JUnit <error>); it is a
 * subset, never added on top, so a reader that looks only at `failed` misses nothing.
 */
#ifndef SHIPGATE_TESTRESULTS_H
#define SHIPGATE_TESTRESULTS_H

#include "job.h"

#include <shipgate/error.h>

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A report larger than this is refused unread (callers should cap their read here). */
#define SG_TEST_REPORT_MAX_BYTES (64u * 1024u * 1024u)
/* Bounds on what is kept, in bytes of UTF-8 including a closing "…" when cut. */
#define SG_TEST_NAME_MAX 256
#define SG_TEST_MESSAGE_MAX 1024
#define SG_TEST_PROBLEM_MAX 1024
/* Failures kept in a report; more set failures_truncated. */
#define SG_TEST_FAILURES_MAX 50
/* JUnit elements nested deeper than this make the report unusable. */
#define SG_JUNIT_MAX_DEPTH 64

typedef struct sg_test_failure {
	char *name;      /* JUnit: "classname.name" (or name); TAP: the description */
	char *classname; /* JUnit classname as written, NULL if absent (always NULL for TAP) */
	char *message;   /* never NULL, may be "" */
	char *kind;      /* "failure" | "error" | "not ok" | "bail out" */
} sg_test_failure;

/* Tests kept by name with their result (for comparing repeated runs of a step); past
 * this, outcomes_truncated is set and only the counts tell. */
#define SG_TEST_OUTCOMES_MAX 20000

typedef enum sg_test_result { SG_TEST_PASSED = 'p', SG_TEST_FAILED = 'f', SG_TEST_SKIPPED = 's' } sg_test_result;

typedef struct sg_test_outcome {
	char *name;            /* as in failures: "classname.name", the TAP description */
	sg_test_result result;
} sg_test_outcome;

typedef struct sg_test_report {
	sg_tests_format format;
	uint64_t total, passed, failed, skipped, errors; /* errors is a subset of failed */
	sg_test_failure *failures;
	size_t n_failures;
	bool failures_truncated; /* more than SG_TEST_FAILURES_MAX tests failed */
	/* NULL when the report is well-formed; else one line (several problems joined by
	 * "; "), e.g. "missing plan", "planned 5 tests but 3 ran", "Bail out! no db",
	 * "testsuite \"x\" says 5 tests but 3 testcases are listed". */
	char *problem;
	/* every test in report order, with its result; not part of the JSON (the verdict has
	 * the counts and failures), used to tell which tests differ between runs */
	sg_test_outcome *outcomes;
	size_t n_outcomes, cap_outcomes;
	bool outcomes_truncated;
	bool outcomes_off;        /* none are kept: nothing compares them (a step run once) */
} sg_test_report;

/* Parse a JUnit XML report. Returns 0 with *out filled in (check out->problem), or -1
 * when the report cannot be used at all: malformed XML, a DOCTYPE or entity
 * declaration, nesting deeper than SG_JUNIT_MAX_DEPTH, a root element that is not
 * <testsuites> or <testsuite>, more than SG_TEST_REPORT_MAX_BYTES. Then err (kind
 * SG_ERR_INPUT) says what and where, and *out is still a valid report with zero counts
 * and problem set to the same sentence, so it can be shown and must be freed. */
int sg_junit_parse(const char *data, size_t len, sg_test_report *out, sg_error *err);
/* The same for the len bytes of fd from its current offset, read in pieces of 64 KiB (a
 * report of thousands of tests is never whole in memory). A read error is an
 * SG_ERR_INTERNAL error (errnum set), and a problem. */
int sg_junit_parse_fd(int fd, uint64_t len, bool keep_outcomes, sg_test_report *out, sg_error *err);

/* Parse TAP (versions 12 to 14) as written on a step's stdout. Returns -1 only for input
 * larger than SG_TEST_REPORT_MAX_BYTES (same contract for *out as above); everything
 * else a TAP stream can get wrong becomes out->problem. */
int sg_tap_parse(const char *data, size_t len, sg_test_report *out, sg_error *err);
/* The same for len bytes of the file fd (read with pread, in pieces: a step's stdout of
 * thousands of tests is never whole in memory). keep_outcomes false: no test's name is
 * kept (only a repeated step compares them), nor, for the fd variants of both parsers,
 * any memory for them. */
int sg_tap_parse_fd(int fd, uint64_t len, bool keep_outcomes, sg_test_report *out, sg_error *err);

/* The contract's step "tests" object: format, total, passed, failed, skipped, errors,
 * failures [{name, message, kind}], plus failures_truncated (only when true) and
 * problem (only when set). */
cJSON *sg_test_report_json(const sg_test_report *r);

void sg_test_report_free(sg_test_report *r);
/* Forget the outcomes by name (compared, or never to be): the counts and failures stay. */
void sg_test_report_drop_outcomes(sg_test_report *r);

/* ---- building a report (used by the parsers, and by callers that find more wrong) ---- */

const char *sg_tests_format_name(sg_tests_format format); /* "junit", "tap", "none" */

void sg_test_report_init(sg_test_report *r, sg_tests_format format);

/* Record a failing test's details (the counts are the caller's). Strings are bytes as
 * found: they are made valid UTF-8 and cut to the bounds above. classname may be NULL.
 * Past SG_TEST_FAILURES_MAX only failures_truncated is set. */
void sg_test_report_add_failure(sg_test_report *r, const char *kind, const char *name,
				size_t name_len, const char *classname, const char *message,
				size_t message_len);

/* Record one test's result by name (the counts are the caller's). The name is made valid
 * UTF-8 and cut as a failure's; past SG_TEST_OUTCOMES_MAX only outcomes_truncated is set. */
void sg_test_report_add_outcome(sg_test_report *r, const char *name, size_t name_len,
				sg_test_result result);

/* Add a problem: made valid UTF-8, control characters become spaces, joined to earlier
 * problems with "; ", the whole cut at SG_TEST_PROBLEM_MAX bytes. */
void sg_test_report_add_problem(sg_test_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A copy of len bytes at s that is valid UTF-8 and at most max_bytes long; when cut, the
 * cut falls on a character boundary and "…" ends the result. max_bytes >= 4. */
char *sg_test_text(const char *s, size_t len, size_t max_bytes);

#endif
