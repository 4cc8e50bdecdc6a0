/* testresults_junit.c: JUnit XML reports (see testresults.h, docs/test-results.md).
 *
 * Why expat and not libxml2: the report is written by the candidate, so the parser is
 * attack surface. Expat is small, streams (no tree of a 64 MiB document in memory),
 * contains no network, XInclude, XSLT or catalog code, never opens a file itself (an
 * external entity is only ever loaded by a handler we install, and ours refuses), and
 * lets us switch entity handling off at the source: a DOCTYPE stops the parse before its
 * internal subset is read, so neither a billion-laughs expansion nor an external entity
 * (file:///etc/passwd) can happen. libxml2 would need the same switches set right on a
 * much larger body of code.
 *
 * One pass over the elements, with a stack of what each open element is:
 *   <testsuites> or <testsuite> as the root; <testsuite> nested in either (any depth);
 *   <testcase> in either; <failure>, <error>, <skipped>, <system-out> in a <testcase>.
 * Everything else (properties, system-err, rerunFailure, ...) is passed over. Counts come
 * from the <testcase> elements only; the suites' own tests/failures/errors attributes are
 * what a forger would edit, so they are only compared with what is listed, and a
 * disagreement becomes the report's problem.
 */
#include "testresults.h"
#include "util.h"

#include <errno.h>
#include <expat.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

/* Text kept from a report while it is parsed: enough for a message of
 * SG_TEST_MESSAGE_MAX bytes after the surrounding white space is trimmed. */
#define JUNIT_TEXT_KEEP (4 * SG_TEST_MESSAGE_MAX)
/* Bytes kept of a name or classname before they are joined and cut. */
#define JUNIT_NAME_KEEP (2 * SG_TEST_NAME_MAX)

typedef enum junit_elem {
	JE_OTHER = 0,
	JE_TESTSUITES,
	JE_TESTSUITE,
	JE_TESTCASE,
	JE_FAILURE,
	JE_ERROR,
	JE_SKIPPED,
	JE_SYSTEM_OUT,
} junit_elem;

/* What a <testsuites>/<testsuite> says about itself, and what it really lists. */
typedef struct junit_suite {
	char *name;        /* as written (cut), NULL if absent */
	bool has_tests;
	uint64_t tests;    /* its tests attribute */
	bool has_failing;
	uint64_t claimed_failing; /* its failures + errors attributes */
	uint64_t errors;   /* its errors attribute (0 if absent) */
	uint64_t listed;   /* testcases in it, nested suites included */
	uint64_t direct;   /* testcases directly in it */
	uint64_t failing;  /* listed testcases that failed */
} junit_suite;

/* The <testcase> being read. */
typedef struct junit_case {
	char *name;
	char *classname;
	const char *kind;   /* "failure" or "error": its first such child; NULL if none */
	bool skipped;       /* a <skipped> child */
	bool status_failed; /* status="fail" etc. without a child saying so */
	bool status_skipped;/* ctest: status="notrun" or "disabled" */
	bool capturing;     /* inside the first <failure>/<error>: its text is the message */
	sg_buf message;     /* that element's message attribute */
	sg_buf text;        /* that element's text */
	sg_buf out;         /* the testcase's <system-out>: ctest keeps the output there */
} junit_case;

typedef struct junit_ctx {
	XML_Parser parser;
	sg_test_report *report;
	unsigned depth; /* open elements; the innermost is stack[depth - 1] */
	junit_elem stack[SG_JUNIT_MAX_DEPTH];
	junit_suite suites[SG_JUNIT_MAX_DEPTH]; /* used where stack[] is a suite */
	junit_case tc;
	char *stop_reason; /* why we stopped the parser ourselves */
} junit_ctx;

/* ---- small helpers ----------------------------------------------------------------- */

static void junit_stop(junit_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void junit_stop(junit_ctx *c, const char *fmt, ...)
{
	if (c->stop_reason)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->stop_reason = sg_xasprintf("%s (line %lu)", msg,
				      (unsigned long)XML_GetCurrentLineNumber(c->parser));
	XML_StopParser(c->parser, XML_FALSE);
}

static const char *junit_attr(const XML_Char **atts, const char *name)
{
	for (size_t i = 0; atts[i]; i += 2)
		if (!strcmp(atts[i], name))
			return atts[i + 1];
	return NULL;
}

/* A count attribute: true with *out set when present and a plain decimal number. */
static bool junit_attr_u64(const XML_Char **atts, const char *name, uint64_t *out)
{
	const char *v = junit_attr(atts, name);
	return v && sg_parse_u64(v, out);
}

static char *junit_keep(const char *s, size_t max)
{
	return s ? sg_xstrndup(s, max) : NULL;
}

static void junit_append(sg_buf *b, const char *s, size_t len)
{
	if (b->len >= JUNIT_TEXT_KEEP)
		return;
	if (len > JUNIT_TEXT_KEEP - b->len)
		len = JUNIT_TEXT_KEEP - b->len;
	sg_buf_append(b, s, len);
}

/* s without leading and trailing white space, as a pointer into s and a length. */
static const char *junit_trim(const char *s, size_t *len)
{
	if (!s) {
		*len = 0;
		return "";
	}
	size_t n = strlen(s);
	while (n > 0 && strchr(" \t\r\n", *s)) {
		s++;
		n--;
	}
	while (n > 0 && strchr(" \t\r\n", s[n - 1]))
		n--;
	*len = n;
	return s;
}

static bool junit_is(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (!strcmp(s, *words))
			return true;
	return false;
}

/* ---- testcases --------------------------------------------------------------------- */

static void case_reset(junit_case *tc)
{
	free(tc->name);
	free(tc->classname);
	sg_buf_free(&tc->message);
	sg_buf_free(&tc->text);
	sg_buf_free(&tc->out);
	memset(tc, 0, sizeof(*tc));
}

static void case_open(junit_ctx *c, const XML_Char **atts)
{
	static const char *const failed[] = { "fail", "failed", "failure", "error", NULL };
	static const char *const skipped[] = { "notrun", "disabled", "skipped", "skip", NULL };
	junit_case *tc = &c->tc;
	case_reset(tc);
	tc->name = junit_keep(junit_attr(atts, "name"), JUNIT_NAME_KEEP);
	tc->classname = junit_keep(junit_attr(atts, "classname"), JUNIT_NAME_KEEP);
	const char *status = junit_attr(atts, "status");
	tc->status_failed = status && junit_is(status, failed);
	tc->status_skipped = status && junit_is(status, skipped);
}

static void case_child_open(junit_ctx *c, junit_elem kind, const XML_Char **atts)
{
	junit_case *tc = &c->tc;
	if (kind == JE_SKIPPED) {
		tc->skipped = true;
		return;
	}
	if (tc->kind)
		return; /* only the first failure or error gives the message */
	tc->kind = kind == JE_FAILURE ? "failure" : "error";
	tc->capturing = true;
	const char *msg = junit_attr(atts, "message");
	if (msg)
		junit_append(&tc->message, msg, strlen(msg));
}

/* "classname.name", or the name alone when the classname adds nothing (ctest and
 * jest-junit write the same string in both). */
static void case_name(const junit_case *tc, sg_buf *out)
{
	const char *name = tc->name && *tc->name ? tc->name : "(unnamed)";
	const char *cls = tc->classname;
	if (cls && *cls && strncmp(name, cls, strlen(cls)) != 0)
		sg_buf_printf(out, "%s.%s", cls, name);
	else
		sg_buf_puts(out, name);
}

/* The message attribute and the element's text, or failing both the testcase's output. */
static void case_message(const junit_case *tc, sg_buf *out)
{
	size_t attr_len, text_len, out_len;
	const char *attr = junit_trim(tc->message.data, &attr_len);
	const char *text = junit_trim(tc->text.data, &text_len);
	const char *output = junit_trim(tc->out.data, &out_len);
	sg_buf_append(out, attr, attr_len);
	if (attr_len && text_len)
		sg_buf_puts(out, "\n");
	sg_buf_append(out, text, text_len);
	if (!attr_len && !text_len)
		sg_buf_append(out, output, out_len);
	if (!out->data)
		sg_buf_puts(out, "");
}

static void case_close(junit_ctx *c)
{
	junit_case *tc = &c->tc;
	sg_test_report *r = c->report;
	junit_suite *suite = &c->suites[c->depth - 2];
	r->total++;
	suite->listed++;
	suite->direct++;
	const char *kind = tc->kind ? tc->kind : tc->status_failed ? "failure" : NULL;
	sg_buf name = {0};
	case_name(tc, &name);
	if (kind) {
		r->failed++;
		suite->failing++;
		if (!strcmp(kind, "error"))
			r->errors++;
		sg_buf msg = {0};
		case_message(tc, &msg);
		sg_test_report_add_failure(r, kind, name.data, name.len, tc->classname, msg.data,
					   msg.len);
		sg_buf_free(&msg);
		sg_test_report_add_outcome(r, name.data, name.len, SG_TEST_FAILED);
	} else if (tc->skipped || tc->status_skipped) {
		r->skipped++;
		sg_test_report_add_outcome(r, name.data, name.len, SG_TEST_SKIPPED);
	} else {
		r->passed++;
		sg_test_report_add_outcome(r, name.data, name.len, SG_TEST_PASSED);
	}
	sg_buf_free(&name);
	case_reset(tc);
}

/* ---- suites ------------------------------------------------------------------------ */

static void suite_open(junit_suite *s, const XML_Char **atts)
{
	uint64_t failures = 0, errors = 0;
	memset(s, 0, sizeof(*s));
	s->name = junit_keep(junit_attr(atts, "name"), SG_TEST_NAME_MAX);
	s->has_tests = junit_attr_u64(atts, "tests", &s->tests);
	bool has_failures = junit_attr_u64(atts, "failures", &failures);
	bool has_errors = junit_attr_u64(atts, "errors", &errors);
	s->has_failing = (has_failures || has_errors) && failures <= UINT64_MAX - errors;
	s->claimed_failing = s->has_failing ? failures + errors : 0;
	s->errors = has_errors ? errors : 0;
}

/* Compare what the suite says with what it lists. Its `tests` may count all the
 * testcases inside it or only its direct ones; jest-junit leaves out of `tests` the
 * <error> testcase it adds for a file that failed to load (and counts it in `errors`).
 * Saying more failed than is listed is the edit that would hide a failure. */
static void suite_check(junit_ctx *c, const char *elem, const junit_suite *s)
{
	sg_autofree char *who = s->name ? sg_xasprintf("%s \"%s\"", elem, s->name)
					: sg_xstrdup(elem);
	bool tests_ok = s->tests == s->listed || s->tests == s->direct ||
			(s->errors <= s->listed && s->tests == s->listed - s->errors);
	if (s->has_tests && !tests_ok)
		sg_test_report_add_problem(c->report,
					   "%s says %" PRIu64 " tests but %" PRIu64
					   " testcases are listed",
					   who, s->tests, s->listed);
	if (s->has_failing && s->claimed_failing > s->failing)
		sg_test_report_add_problem(c->report,
					   "%s says %" PRIu64 " failed but %" PRIu64
					   " failing testcases are listed",
					   who, s->claimed_failing, s->failing);
}

static void suite_close(junit_ctx *c)
{
	junit_suite *s = &c->suites[c->depth - 1];
	junit_elem kind = c->stack[c->depth - 1];
	suite_check(c, kind == JE_TESTSUITES ? "testsuites" : "testsuite", s);
	if (c->depth >= 2) {
		junit_suite *parent = &c->suites[c->depth - 2];
		parent->listed += s->listed;
		parent->failing += s->failing;
	}
	free(s->name);
	s->name = NULL;
}

/* ---- expat handlers ---------------------------------------------------------------- */

static junit_elem junit_classify(const char *name, junit_elem parent, bool root)
{
	bool in_suite = parent == JE_TESTSUITES || parent == JE_TESTSUITE;
	if (root && !strcmp(name, "testsuites"))
		return JE_TESTSUITES;
	if ((root || in_suite) && !strcmp(name, "testsuite"))
		return JE_TESTSUITE;
	if (in_suite && !strcmp(name, "testcase"))
		return JE_TESTCASE;
	if (parent != JE_TESTCASE)
		return JE_OTHER;
	if (!strcmp(name, "failure"))
		return JE_FAILURE;
	if (!strcmp(name, "error"))
		return JE_ERROR;
	if (!strcmp(name, "skipped"))
		return JE_SKIPPED;
	if (!strcmp(name, "system-out"))
		return JE_SYSTEM_OUT;
	return JE_OTHER;
}

static void XMLCALL junit_start(void *data, const XML_Char *name, const XML_Char **atts)
{
	junit_ctx *c = data;
	if (c->stop_reason)
		return;
	if (c->depth >= SG_JUNIT_MAX_DEPTH) {
		junit_stop(c, "elements are nested deeper than %d levels", SG_JUNIT_MAX_DEPTH);
		return;
	}
	bool root = c->depth == 0;
	junit_elem parent = root ? JE_OTHER : c->stack[c->depth - 1];
	junit_elem kind = junit_classify(name, parent, root);
	if (root && kind == JE_OTHER) {
		sg_autofree char *shown = sg_test_text(name, strlen(name), 64);
		junit_stop(c, "not a JUnit report: the root element is <%s>, expected "
			      "<testsuites> or <testsuite>", shown);
		return;
	}
	c->stack[c->depth++] = kind;
	switch (kind) {
	case JE_TESTSUITES:
	case JE_TESTSUITE: suite_open(&c->suites[c->depth - 1], atts); break;
	case JE_TESTCASE: case_open(c, atts); break;
	case JE_FAILURE:
	case JE_ERROR:
	case JE_SKIPPED: case_child_open(c, kind, atts); break;
	case JE_SYSTEM_OUT:
	case JE_OTHER:
	default: break;
	}
}

static void XMLCALL junit_end(void *data, const XML_Char *name)
{
	junit_ctx *c = data;
	(void)name;
	if (c->stop_reason || c->depth == 0)
		return;
	switch (c->stack[c->depth - 1]) {
	case JE_TESTSUITES:
	case JE_TESTSUITE: suite_close(c); break;
	case JE_TESTCASE: case_close(c); break;
	case JE_FAILURE:
	case JE_ERROR: c->tc.capturing = false; break;
	case JE_SKIPPED:
	case JE_SYSTEM_OUT:
	case JE_OTHER:
	default: break;
	}
	c->depth--;
}

static void XMLCALL junit_text(void *data, const XML_Char *s, int len)
{
	junit_ctx *c = data;
	if (c->stop_reason || c->depth == 0 || len <= 0)
		return;
	switch (c->stack[c->depth - 1]) {
	case JE_FAILURE:
	case JE_ERROR:
		if (c->tc.capturing)
			junit_append(&c->tc.text, s, (size_t)len);
		break;
	case JE_SYSTEM_OUT: junit_append(&c->tc.out, s, (size_t)len); break;
	case JE_TESTSUITES:
	case JE_TESTSUITE:
	case JE_TESTCASE:
	case JE_SKIPPED:
	case JE_OTHER:
	default: break;
	}
}

#define JUNIT_NO_DTD "DOCTYPE/entities are not allowed in a test report"

static void XMLCALL junit_doctype(void *data, const XML_Char *name, const XML_Char *sysid,
				  const XML_Char *pubid, int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	junit_stop(data, JUNIT_NO_DTD);
}

static void XMLCALL junit_entity_decl(void *data, const XML_Char *name, int is_param,
				      const XML_Char *value, int value_len, const XML_Char *base,
				      const XML_Char *sysid, const XML_Char *pubid,
				      const XML_Char *notation)
{
	(void)name;
	(void)is_param;
	(void)value;
	(void)value_len;
	(void)base;
	(void)sysid;
	(void)pubid;
	(void)notation;
	junit_stop(data, JUNIT_NO_DTD);
}

/* Never reached while DOCTYPEs are refused; refuses all the same. */
static int XMLCALL junit_external_entity(XML_Parser parser, const XML_Char *context,
					 const XML_Char *base, const XML_Char *sysid,
					 const XML_Char *pubid)
{
	(void)context;
	(void)base;
	(void)sysid;
	(void)pubid;
	junit_stop(XML_GetUserData(parser), JUNIT_NO_DTD);
	return XML_STATUS_ERROR;
}

/* ---- the parse --------------------------------------------------------------------- */

static int junit_unusable(sg_test_report *out, sg_error *err, const char *why)
{
	sg_test_report_free(out);
	sg_test_report_init(out, SG_TESTS_JUNIT);
	sg_test_report_add_problem(out, "%s", why);
	return sg_error_set(err, SG_ERR_INPUT, 0, "%s", out->problem);
}

static void junit_setup(junit_ctx *c)
{
	XML_Parser p = c->parser;
	XML_SetUserData(p, c);
	XML_SetElementHandler(p, junit_start, junit_end);
	XML_SetCharacterDataHandler(p, junit_text);
	XML_SetStartDoctypeDeclHandler(p, junit_doctype);
	XML_SetEntityDeclHandler(p, junit_entity_decl);
	XML_SetExternalEntityRefHandler(p, junit_external_entity);
	XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
}

static void junit_ctx_free(junit_ctx *c)
{
	for (unsigned i = 0; i < c->depth; i++)
		if (c->stack[i] == JE_TESTSUITES || c->stack[i] == JE_TESTSUITE)
			free(c->suites[i].name);
	case_reset(&c->tc);
	free(c->stop_reason);
	if (c->parser)
		XML_ParserFree(c->parser);
}

/* The report's bytes come from feed, called until it returns 0 (the end) or -1 (errno:
 * a read error). */
typedef ssize_t (*junit_feed)(void *ctx, const char **piece);

static int junit_parse_fed(uint64_t len, junit_feed feed, void *ctx, bool keep_outcomes, sg_test_report *out,
			   sg_error *err)
{
	sg_test_report_init(out, SG_TESTS_JUNIT);
	out->outcomes_off = !keep_outcomes;
	if (len > SG_TEST_REPORT_MAX_BYTES) {
		char why[128];
		snprintf(why, sizeof(why), "the report is %" PRIu64 " bytes, more than the %u MiB limit",
			 len, SG_TEST_REPORT_MAX_BYTES >> 20);
		return junit_unusable(out, err, why);
	}
	junit_ctx c = { .report = out };
	/* NULL: the encoding is the document's own (UTF-8, UTF-16, ISO-8859-1, US-ASCII);
	 * no namespace processing, so element names are matched as written. */
	c.parser = XML_ParserCreate(NULL);
	if (!c.parser)
		return sg_error_set(err, SG_ERR_INTERNAL, ENOMEM, "junit: XML_ParserCreate");
	junit_setup(&c);
	int rc = 0;
	enum XML_Status st = XML_STATUS_OK;
	for (;;) {
		const char *piece = NULL;
		ssize_t n = feed(ctx, &piece);
		if (n < 0) {
			int e = errno;
			junit_ctx_free(&c);
			sg_test_report_add_problem(out, "the report cannot be read: %s", strerror(e));
			return sg_error_set(err, SG_ERR_INTERNAL, e, "the report cannot be read");
		}
		st = XML_Parse(c.parser, n ? piece : "", (int)n, n == 0 ? XML_TRUE : XML_FALSE);
		if (st != XML_STATUS_OK || n == 0)
			break;
	}
	if (st != XML_STATUS_OK) {
		sg_autofree char *why = NULL;
		if (c.stop_reason)
			why = sg_xstrdup(c.stop_reason);
		else
			why = sg_xasprintf("malformed XML at line %lu, column %lu: %s",
					   (unsigned long)XML_GetCurrentLineNumber(c.parser),
					   (unsigned long)XML_GetCurrentColumnNumber(c.parser) + 1,
					   XML_ErrorString(XML_GetErrorCode(c.parser)));
		rc = junit_unusable(out, err, why);
	}
	junit_ctx_free(&c);
	return rc;
}

typedef struct mem_feed {
	const char *data;
	size_t len;
	bool done;
} mem_feed;

static ssize_t feed_mem(void *ctx, const char **piece)
{
	mem_feed *m = ctx;
	if (m->done)
		return 0;
	m->done = true;
	*piece = m->data;
	return (ssize_t)m->len; /* all at once; then the end (0 at once for an empty text) */
}

int sg_junit_parse(const char *data, size_t len, sg_test_report *out, sg_error *err)
{
	mem_feed m = {.data = data ? data : "", .len = len};
	return junit_parse_fed(len, feed_mem, &m, true, out, err);
}

typedef struct fd_feed {
	int fd;
	uint64_t left;
	char *buf;
} fd_feed;

static ssize_t feed_fd(void *ctx, const char **piece)
{
	fd_feed *f = ctx;
	if (!f->left)
		return 0;
	size_t want = f->left < 65536 ? (size_t)f->left : 65536;
	ssize_t n = sg_read_all(f->fd, f->buf, want);
	if (n <= 0)
		return n; /* the file ends early: what was read is what there is */
	f->left -= (uint64_t)n;
	*piece = f->buf;
	return n;
}

int sg_junit_parse_fd(int fd, uint64_t len, bool keep_outcomes, sg_test_report *out, sg_error *err)
{
	fd_feed f = {.fd = fd, .left = len};
	if (len <= SG_TEST_REPORT_MAX_BYTES)
		f.buf = sg_xmalloc(65536);
	int rc = junit_parse_fed(len, feed_fd, &f, keep_outcomes, out, err);
	free(f.buf);
	return rc;
}
