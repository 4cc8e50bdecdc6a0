/* testresults.c: what both test-result parsers share (see testresults.h): bounded,
 * valid UTF-8 text, the failure list, the problem line, and the report as JSON. The
 * parsers themselves are testresults_junit.c and testresults_tap.c. */
#include "testresults.h"
#include "evidence.h"
#include "util.h"

#include <stdarg.h>
#include <string.h>

#define SG_ELLIPSIS "\xe2\x80\xa6" /* U+2026, 3 bytes */
#define SG_ELLIPSIS_LEN 3

const char *sg_tests_format_name(sg_tests_format format)
{
	switch (format) {
	case SG_TESTS_JUNIT: return "junit";
	case SG_TESTS_TAP: return "tap";
	case SG_TESTS_NONE:
	default: return "none";
	}
}

void sg_test_report_init(sg_test_report *r, sg_tests_format format)
{
	memset(r, 0, sizeof(*r));
	r->format = format;
}

/* Bytes of s (valid UTF-8) that fit in max bytes without splitting a character. */
static size_t utf8_fit(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	size_t n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

char *sg_test_text(const char *s, size_t len, size_t max_bytes)
{
	sg_autofree char *clean = sg_utf8_sanitize(s ? s : "", s ? len : 0);
	size_t clean_len = strlen(clean);
	if (clean_len <= max_bytes)
		return sg_xstrdup(clean); /* its own size: a report keeps thousands of these */
	size_t keep = utf8_fit(clean, clean_len, max_bytes - SG_ELLIPSIS_LEN);
	char *out = sg_xmalloc(keep + SG_ELLIPSIS_LEN + 1);
	memcpy(out, clean, keep);
	memcpy(out + keep, SG_ELLIPSIS, SG_ELLIPSIS_LEN + 1); /* with its NUL */
	return out;
}

void sg_test_report_add_failure(sg_test_report *r, const char *kind, const char *name,
				size_t name_len, const char *classname, const char *message,
				size_t message_len)
{
	if (r->n_failures >= SG_TEST_FAILURES_MAX) {
		r->failures_truncated = true;
		return;
	}
	if (!r->failures)
		r->failures = sg_xcalloc(SG_TEST_FAILURES_MAX, sizeof(*r->failures));
	sg_test_failure *f = &r->failures[r->n_failures++];
	f->kind = sg_xstrdup(kind);
	f->name = sg_test_text(name, name_len, SG_TEST_NAME_MAX);
	f->classname = classname ? sg_test_text(classname, strlen(classname), SG_TEST_NAME_MAX)
				 : NULL;
	f->message = sg_test_text(message, message_len, SG_TEST_MESSAGE_MAX);
}

void sg_test_report_add_outcome(sg_test_report *r, const char *name, size_t name_len,
				sg_test_result result)
{
	if (r->outcomes_off)
		return;
	if (r->n_outcomes >= SG_TEST_OUTCOMES_MAX) {
		r->outcomes_truncated = true;
		return;
	}
	if (r->n_outcomes == r->cap_outcomes) {
		r->cap_outcomes = r->cap_outcomes ? r->cap_outcomes * 2 : 16;
		r->outcomes = sg_xrealloc(r->outcomes, r->cap_outcomes * sizeof(*r->outcomes));
	}
	sg_test_outcome *o = &r->outcomes[r->n_outcomes++];
	o->name = sg_test_text(name, name_len, SG_TEST_NAME_MAX);
	o->result = result;
}

/* A problem is one line: no control characters, so it cannot forge log lines. */
static void one_line(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

void sg_test_report_add_problem(sg_test_report *r, const char *fmt, ...)
{
	size_t old_len = r->problem ? strlen(r->problem) : 0;
	/* Once the line is full, later problems add nothing a reader could see. */
	if (old_len + 2 + SG_ELLIPSIS_LEN >= SG_TEST_PROBLEM_MAX)
		return;
	va_list ap;
	va_start(ap, fmt);
	sg_autofree char *msg = NULL;
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort(); /* out of memory, as sg_xasprintf */
	sg_buf joined = {0};
	if (r->problem) {
		sg_buf_puts(&joined, r->problem);
		sg_buf_puts(&joined, "; ");
	}
	sg_buf_puts(&joined, msg);
	free(r->problem);
	r->problem = sg_test_text(joined.data, joined.len, SG_TEST_PROBLEM_MAX);
	sg_buf_free(&joined);
	one_line(r->problem);
}

static void failure_free(sg_test_failure *f)
{
	free(f->name);
	free(f->classname);
	free(f->message);
	free(f->kind);
}

void sg_test_report_drop_outcomes(sg_test_report *r)
{
	for (size_t i = 0; i < r->n_outcomes; i++)
		free(r->outcomes[i].name);
	free(r->outcomes);
	r->outcomes = NULL;
	r->n_outcomes = r->cap_outcomes = 0;
}

void sg_test_report_free(sg_test_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_failures; i++)
		failure_free(&r->failures[i]);
	free(r->failures);
	free(r->problem);
	for (size_t i = 0; i < r->n_outcomes; i++)
		free(r->outcomes[i].name);
	free(r->outcomes);
	sg_test_report_init(r, r->format);
}

cJSON *sg_test_report_json(const sg_test_report *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "format", sg_tests_format_name(r->format));
	cJSON_AddNumberToObject(o, "total", (double)r->total);
	cJSON_AddNumberToObject(o, "passed", (double)r->passed);
	cJSON_AddNumberToObject(o, "failed", (double)r->failed);
	cJSON_AddNumberToObject(o, "skipped", (double)r->skipped);
	cJSON_AddNumberToObject(o, "errors", (double)r->errors);
	cJSON *list = cJSON_AddArrayToObject(o, "failures");
	for (size_t i = 0; i < r->n_failures; i++) {
		const sg_test_failure *f = &r->failures[i];
		cJSON *item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "name", f->name);
		cJSON_AddStringToObject(item, "message", f->message ? f->message : "");
		cJSON_AddStringToObject(item, "kind", f->kind);
		cJSON_AddItemToArray(list, item);
	}
	if (r->failures_truncated)
		cJSON_AddBoolToObject(o, "failures_truncated", true);
	if (r->problem)
		cJSON_AddStringToObject(o, "problem", r->problem);
	return o;
}
