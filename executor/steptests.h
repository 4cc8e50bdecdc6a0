/* steptests.h: the test evidence of a step (`tests` in the job file).
 *
 * Where the report comes from, and why it can be trusted to be this step's:
 * - `tap`: the step's whole stdout (kept apart from the capped log, up to the report
 *   size limit), parsed after the step;
 * - `junit` with a path starting "$SHIPGATE_RESULTS/": the results channel, a directory
 *   created empty for this step by the supervisor and shown at /shipgate/results, so no
 *   earlier run can have left a report there;
 * - `junit` with a workspace path: read from the copy-on-write scratch layer, and only if
 *   this step wrote it: the file's ctime (which no process can set) must have changed
 *   during the step. A report only in the original workspace, or left by an earlier
 *   step, is stale.
 * Reports are opened without following symlinks, never as FIFOs, and size-capped. */
#ifndef SHIPGATE_STEPTESTS_H
#define SHIPGATE_STEPTESTS_H

#include "evidence.h"
#include "job.h"
#include "testresults.h"

#include <cjson/cJSON.h>
#include <sys/stat.h>

#define SG_RESULTS_DIR_INSIDE "/shipgate/results"
#define SG_RESULTS_PREFIX "$SHIPGATE_RESULTS/"

typedef struct sg_step_tests {
	const sg_tests_spec *spec;
	char *results_dir;     /* host side of the results channel */
	char *layers;          /* the scratch layers directory (upper/ or copy/ inside) */
	bool in_results;       /* the path names the results channel */
	const char *rel_path;  /* the report's path below its root */
	bool existed_before;
	struct timespec ctime_before;
	ino_t ino_before;
	char sha256_before[65]; /* contents before the step (upper layer, else the workspace); "" none */
	int tap_fd;            /* the step's whole stdout, for TAP (-1 otherwise) */
	bool keep_outcomes;    /* each test's outcome by name: a repeated step compares them */
	sg_test_report report;
	bool have_report;      /* parsed (possibly with a problem) */
	char *unusable;        /* why there is no usable report: missing, stale, malformed */
} sg_step_tests;

/* Before the step: create the results channel and the TAP capture under scratch_dir,
 * note the state of a workspace report. */
int sg_step_tests_prepare(sg_step_tests *t, const sg_tests_spec *spec, const char *scratch_dir,
			  const char *layers, const char *workspace, const char *step_name, sg_error *err);
/* After the step: find, check and parse the report. stdout_truncated: the step wrote
 * more than the TAP capture kept. */
void sg_step_tests_collect(sg_step_tests *t, bool stdout_truncated);
/* The step's status given how its command ended (`exit_status`, from sg_classify_exit):
 * a report that is missing, stale, malformed or inconsistent fails; failures fail; a
 * non-zero exit fails whatever the report says, except that a consistent report without
 * failures that lists fewer than `min` tests is no_tests (pytest exits 5 when it collected
 * nothing); with exit 0, fewer than `min` tests is no_tests.
 * *reason is malloc'd (or NULL when it passed). */
sg_step_status sg_step_tests_judge(const sg_step_tests *t, sg_step_status exit_status, char **reason);
cJSON *sg_step_tests_json(const sg_step_tests *t);

/* The tests whose results differ between two reports of the same tests (repeated runs):
 * a name with another result (passed, failed, skipped), or present in only one of them.
 * A name that occurs k times is compared occurrence by occurrence. The names (copies) are
 * appended to *names (*n of them, the array grown as needed); duplicates are possible
 * across calls: see sg_names_sort_unique. Returns how many were appended. */
size_t sg_test_outcomes_diff(const sg_test_report *a, const sg_test_report *b, char ***names, size_t *n);
/* Sort names and drop (and free) duplicates. */
void sg_names_sort_unique(char **names, size_t *n);
void sg_step_tests_free(sg_step_tests *t);

#endif
