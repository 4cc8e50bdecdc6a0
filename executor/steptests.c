/* steptests.c: see steptests.h. */
#include "steptests.h"
#include "digest.h"
#include "util.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

static int open_beneath(int dirfd, const char *path)
{
	struct open_how how = {.flags = O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
					  RESOLVE_NO_XDEV};
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static char *report_root(const sg_step_tests *t)
{
	if (t->in_results)
		return sg_xstrdup(t->results_dir);
	sg_autofree char *upper = sg_xasprintf("%s/upper", t->layers);
	if (access(upper, F_OK) == 0)
		return sg_steal_ptr(&upper);
	return sg_xasprintf("%s/copy", t->layers);
}

/* The sha256 of root/rel (no symlinks, not leaving root), into hex; "" if none. */
static void report_digest(const char *root, const char *rel, char hex[65])
{
	hex[0] = '\0';
	sg_autoclose int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	sg_autoclose int fd = rootfd >= 0 ? open_beneath(rootfd, rel) : -1;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SG_TEST_REPORT_MAX_BYTES ||
	    sg_sha256_fd(fd, hex, NULL) < 0)
		hex[0] = '\0';
}

int sg_step_tests_prepare(sg_step_tests *t, const sg_tests_spec *spec, const char *scratch_dir,
			  const char *layers, const char *workspace, const char *step_name, sg_error *err)
{
	memset(t, 0, sizeof(*t));
	t->spec = spec;
	t->tap_fd = -1;
	t->layers = sg_xstrdup(layers);
	sg_test_report_init(&t->report, spec->format);
	if (spec->format == SG_TESTS_TAP) {
		sg_autofree char *path = sg_xasprintf("%s/tap-%s.out", scratch_dir, step_name);
		t->tap_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (t->tap_fd < 0)
			return sg_error_set(err, SG_ERR_SANDBOX, errno, "tests: create %s", path);
		unlink(path);
		return 0;
	}
	t->in_results = !strncmp(spec->path, SG_RESULTS_PREFIX, strlen(SG_RESULTS_PREFIX));
	t->rel_path = t->in_results ? spec->path + strlen(SG_RESULTS_PREFIX) : spec->path;
	sg_autofree char *dir = sg_xasprintf("%s/results", scratch_dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "tests: mkdir %s", dir);
	t->results_dir = sg_xasprintf("%s/%s", dir, step_name);
	if (sg_rm_rf(t->results_dir, err) < 0)
		return -1;
	if (mkdir(t->results_dir, 0755) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "tests: mkdir %s", t->results_dir);
	if (!t->in_results) {
		sg_autofree char *root = report_root(t);
		struct stat st;
		sg_autofree char *full = sg_xasprintf("%s/%s", root, t->rel_path);
		if (lstat(full, &st) == 0) {
			t->existed_before = true;
			t->ctime_before = st.st_ctim;
			t->ino_before = st.st_ino;
			report_digest(root, t->rel_path, t->sha256_before);
		} else {
			/* committed in the workspace: a chmod or a link copies it up unchanged */
			report_digest(workspace, t->rel_path, t->sha256_before);
		}
	}
	return 0;
}

static void unusable(sg_step_tests *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void unusable(sg_step_tests *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(t->unusable);
	if (vasprintf(&t->unusable, fmt, ap) < 0)
		t->unusable = NULL;
	va_end(ap);
}

static void collect_junit(sg_step_tests *t)
{
	sg_autofree char *root = report_root(t);
	sg_autoclose int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	sg_autoclose int fd = rootfd >= 0 ? open_beneath(rootfd, t->rel_path) : -1;
	if (fd < 0) {
		if (errno == ENOENT && !t->in_results) {
			unusable(t, "the report %s was not written by this step (it is missing from what the step wrote)",
				 t->spec->path);
		} else if (errno == ENOENT) {
			unusable(t, "the report %s is missing: the step did not write it", t->spec->path);
		} else if (errno == ELOOP || errno == EXDEV) {
			unusable(t, "the report %s is a symlink or leaves the workspace: refused", t->spec->path);
		} else {
			unusable(t, "the report %s cannot be opened: %s", t->spec->path, strerror(errno));
		}
		return;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		unusable(t, "the report %s is not a regular file", t->spec->path);
		return;
	}
	if (!t->in_results && t->existed_before && st.st_ino == t->ino_before &&
	    st.st_ctim.tv_sec == t->ctime_before.tv_sec && st.st_ctim.tv_nsec == t->ctime_before.tv_nsec) {
		unusable(t, "the report %s is stale: an earlier step wrote it and this step did not", t->spec->path);
		return;
	}
	if ((uint64_t)st.st_size > SG_TEST_REPORT_MAX_BYTES) {
		unusable(t, "the report %s is larger than %u MiB", t->spec->path, (unsigned)(SG_TEST_REPORT_MAX_BYTES >> 20));
		return;
	}
	/* a report with the same contents as before the step is stale, whether or not it
	 * parses; then it is parsed in pieces (a report of thousands of tests is never whole
	 * in memory) */
	if (t->sha256_before[0]) {
		char now[SG_SHA256_HEX_LEN];
		if (sg_sha256_fd(fd, now, NULL) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
			unusable(t, "the report %s cannot be read: %s", t->spec->path, strerror(errno));
			return;
		}
		if (!strcmp(now, t->sha256_before)) {
			unusable(t, "the report %s is stale: it has the same contents as before this step (write "
				    "reports to $SHIPGATE_RESULTS/ to avoid this)", t->spec->path);
			return;
		}
	}
	sg_test_report_free(&t->report);
	sg_error perr = {0};
	int rc = sg_junit_parse_fd(fd, (uint64_t)st.st_size, t->keep_outcomes, &t->report, &perr);
	if (rc < 0 && perr.kind == SG_ERR_INTERNAL) {
		unusable(t, "the report %s cannot be read: %s", t->spec->path, strerror(perr.errnum));
		return;
	}
	if (rc < 0) {
		t->have_report = true;
		unusable(t, "the report %s is malformed: %s", t->spec->path, perr.msg);
		return;
	}
	t->have_report = true;
}

static void collect_tap(sg_step_tests *t, bool truncated)
{
	off_t size = lseek(t->tap_fd, 0, SEEK_END);
	if (size < 0) {
		unusable(t, "the step's output cannot be read back");
		return;
	}
	sg_test_report_free(&t->report);
	sg_error perr = {0};
	if (sg_tap_parse_fd(t->tap_fd, (uint64_t)size, t->keep_outcomes, &t->report, &perr) < 0) {
		t->have_report = true;
		unusable(t, "the TAP output is malformed: %s", perr.msg);
		return;
	}
	t->have_report = true;
	if (truncated)
		sg_test_report_add_problem(&t->report, "stdout was longer than %u MiB: the TAP stream was cut",
					   (unsigned)(SG_TEST_REPORT_MAX_BYTES >> 20));
}

void sg_step_tests_collect(sg_step_tests *t, bool stdout_truncated)
{
	if (t->spec->format == SG_TESTS_TAP)
		collect_tap(t, stdout_truncated);
	else
		collect_junit(t);
}

sg_step_status sg_step_tests_judge(const sg_step_tests *t, sg_step_status exit_status, char **reason)
{
	*reason = NULL;
	const sg_test_report *r = &t->report;
	if (exit_status != SG_STEP_PASSED && exit_status != SG_STEP_FAILED)
		return exit_status; /* timeout, oom, crash: that is what happened */
	if (t->unusable) {
		*reason = sg_xstrdup(t->unusable);
		return SG_STEP_FAILED;
	}
	uint64_t ran = r->passed + r->failed;
	if (exit_status == SG_STEP_FAILED && !r->failed && !r->problem && ran < t->spec->min) {
		/* the runner's own way of saying it found no tests (pytest exits 5): no_tests
		 * says more than failed, and it still does not pass */
		*reason = sg_xasprintf("the test command exited non-zero and its report lists %llu test%s that ran "
				       "(%llu skipped), at least %llu required",
				       (unsigned long long)ran, ran == 1 ? "" : "s", (unsigned long long)r->skipped,
				       (unsigned long long)t->spec->min);
		return SG_STEP_NO_TESTS;
	}
	if (exit_status == SG_STEP_FAILED) {
		*reason = r->failed ? sg_xasprintf("the test command failed; %llu of %llu tests failed",
						   (unsigned long long)r->failed, (unsigned long long)r->total)
				    : sg_xstrdup("the test command exited non-zero (whatever its report says)");
		return SG_STEP_FAILED;
	}
	if (r->failed) {
		sg_buf names = {0};
		for (size_t i = 0; i < r->n_failures && i < 3; i++)
			sg_buf_printf(&names, "%s%s", i ? ", " : "", r->failures[i].name ? r->failures[i].name : "?");
		*reason = sg_xasprintf("%llu of %llu tests failed (%s%s) although the command exited 0",
				       (unsigned long long)r->failed, (unsigned long long)r->total,
				       names.data ? names.data : "", r->n_failures > 3 ? ", ..." : "");
		sg_buf_free(&names);
		return SG_STEP_FAILED;
	}
	if (r->problem) {
		*reason = sg_xasprintf("the test report is not consistent: %s", r->problem);
		return SG_STEP_FAILED;
	}
	if (ran < t->spec->min) {
		*reason = sg_xasprintf("%llu test%s ran (%llu skipped), at least %llu required", (unsigned long long)ran,
				       ran == 1 ? "" : "s", (unsigned long long)r->skipped,
				       (unsigned long long)t->spec->min);
		return SG_STEP_NO_TESTS;
	}
	return SG_STEP_PASSED;
}

cJSON *sg_step_tests_json(const sg_step_tests *t)
{
	cJSON *o = sg_test_report_json(&t->report);
	cJSON_AddNumberToObject(o, "min", (double)t->spec->min);
	cJSON_AddStringToObject(o, "source", t->spec->format == SG_TESTS_TAP ? "stdout"
					      : t->in_results ? "results channel"
							      : "workspace (written by this step)");
	if (t->unusable) {
		sg_autofree char *clean = sg_utf8_sanitize(t->unusable, strlen(t->unusable));
		cJSON_AddStringToObject(o, "unusable", clean);
	}
	return o;
}

/* ---- comparing the tests of repeated runs ---------------------------------------- */

typedef struct keyed_outcome {
	const char *name;
	size_t occ;       /* before renumbering: the index in the report */
	sg_test_result result;
} keyed_outcome;

static int keyed_cmp(const void *x, const void *y)
{
	const keyed_outcome *a = x, *b = y;
	int c = strcmp(a->name, b->name);
	if (c)
		return c;
	return a->occ < b->occ ? -1 : a->occ > b->occ;
}

/* The report's outcomes sorted by (name, occurrence of that name). */
static keyed_outcome *keyed_sorted(const sg_test_report *r)
{
	keyed_outcome *k = sg_xcalloc(r->n_outcomes ? r->n_outcomes : 1, sizeof(*k));
	for (size_t i = 0; i < r->n_outcomes; i++)
		k[i] = (keyed_outcome){r->outcomes[i].name, i, r->outcomes[i].result};
	qsort(k, r->n_outcomes, sizeof(*k), keyed_cmp);
	for (size_t i = 0; i < r->n_outcomes; i++)
		k[i].occ = i > 0 && !strcmp(k[i].name, k[i - 1].name) ? k[i - 1].occ + 1 : 0;
	return k;
}

static void push_name(char ***names, size_t *n, const char *name)
{
	*names = sg_xrealloc(*names, (*n + 1) * sizeof(**names));
	(*names)[(*n)++] = sg_xstrdup(name);
}

size_t sg_test_outcomes_diff(const sg_test_report *a, const sg_test_report *b, char ***names, size_t *n)
{
	sg_autofree keyed_outcome *ka = keyed_sorted(a);
	sg_autofree keyed_outcome *kb = keyed_sorted(b);
	size_t i = 0, j = 0, before = *n;
	while (i < a->n_outcomes || j < b->n_outcomes) {
		int c = i == a->n_outcomes ? 1 : j == b->n_outcomes ? -1 : keyed_cmp(&ka[i], &kb[j]);
		if (c == 0) {
			if (ka[i].result != kb[j].result)
				push_name(names, n, ka[i].name);
			i++;
			j++;
		} else if (c < 0) {
			push_name(names, n, ka[i++].name);
		} else {
			push_name(names, n, kb[j++].name);
		}
	}
	return *n - before;
}

static int str_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

void sg_names_sort_unique(char **names, size_t *n)
{
	if (!*n)
		return;
	qsort(names, *n, sizeof(*names), str_cmp);
	size_t w = 1;
	for (size_t r = 1; r < *n; r++) {
		if (!strcmp(names[r], names[w - 1]))
			free(names[r]);
		else
			names[w++] = names[r];
	}
	*n = w;
}

void sg_step_tests_free(sg_step_tests *t)
{
	if (t->tap_fd >= 0)
		close(t->tap_fd);
	if (t->results_dir) {
		sg_error err = {0};
		(void)sg_rm_rf(t->results_dir, &err);
	}
	free(t->results_dir);
	free(t->layers);
	free(t->unusable);
	sg_test_report_free(&t->report);
	memset(t, 0, sizeof(*t));
	t->tap_fd = -1;
}
