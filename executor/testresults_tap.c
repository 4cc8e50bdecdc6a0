/* testresults_tap.c: TAP versions 12 to 14 on a step's stdout (see testresults.h,
 * docs/test-results.md).
 *
 * One pass over the lines. Only lines that start in column 0 count: a test point
 * ("ok" / "not ok", with an optional number, description and # SKIP / # TODO
 * directive), the plan ("1..N", at the start or the end), "Bail out!". Indented lines
 * belong to a subtest or to a YAML diagnostics block and never count at the top level;
 * a YAML block ("---" indented, right after a top-level test point, up to "..." at the
 * same indentation) is read only for its message, and anything in it, however it is
 * indented, is YAML. Everything else (comments, "TAP version", "# Subtest:", a program's
 * own chatter) is passed over.
 *
 * Because the candidate's code shares the test runner's stdout, a line can always be
 * injected; the plan and the test numbers are what make injection visible. A stream
 * without a plan, with more or fewer tests than planned, with a number out of order or
 * seen twice, or with a second plan is counted all the same but gets a problem.
 */
#include "testresults.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

/* Text kept of a YAML message before it is trimmed and cut. */
#define TAP_TEXT_KEEP (4 * SG_TEST_MESSAGE_MAX)
/* Test numbers remembered to tell a duplicate from a number out of order. */
#define TAP_SEEN_MAX (1u << 24)
#define TAP_NO_FAILURE SIZE_MAX

typedef enum tap_directive { TAP_DIR_NONE = 0, TAP_DIR_SKIP, TAP_DIR_TODO } tap_directive;

/* One test point, pointing into the line. */
typedef struct tap_point {
	bool ok;
	bool has_num;
	uint64_t num;
	const char *desc; /* still escaped (\# and \\) */
	size_t desc_len;
	tap_directive dir;
} tap_point;

typedef enum tap_yaml_key { TAP_KEY_NONE = 0, TAP_KEY_MESSAGE, TAP_KEY_ERROR } tap_yaml_key;

/* The YAML block being read. node writes the message as `error:`, TAP 13 as `message:`. */
typedef struct tap_yaml {
	bool open;
	size_t indent;      /* of its "---" line */
	size_t start_line;
	tap_yaml_key block; /* the key whose block scalar (| or >) is being read */
	bool folded;        /* the block is '>': lines join with spaces */
	size_t block_indent;/* indentation of the block's first line; 0 until seen */
	sg_buf message;
	sg_buf error;
} tap_yaml;

typedef struct tap_ctx {
	sg_test_report *r;
	size_t lineno;
	bool have_plan;
	uint64_t planned;
	size_t plan_line;
	bool plan_after_tests; /* the plan came at the end */
	bool said_late_test;   /* "test after the plan at the end" was said */
	uint64_t ran;          /* top-level test points */
	bool said_numbering;   /* the first numbering problem was said; later ones follow */
	uint8_t *seen;         /* bitmap of test numbers seen, TAP_SEEN_MAX at most */
	size_t seen_bytes;
	bool yaml_allowed;     /* the previous line was a top-level test point */
	size_t yaml_failure;   /* index in r->failures that its YAML explains */
	tap_yaml yaml;
	bool bailed;
} tap_ctx;

/* ---- lines ------------------------------------------------------------------------- */

static bool tap_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

static size_t tap_indent(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && tap_space(s[i]))
		i++;
	return i;
}

static size_t tap_rtrim(const char *s, size_t n)
{
	while (n > 0 && (tap_space(s[n - 1]) || s[n - 1] == '\r'))
		n--;
	return n;
}

static bool tap_starts(const char *s, size_t n, const char *prefix)
{
	size_t plen = strlen(prefix);
	return n >= plen && !memcmp(s, prefix, plen);
}

static bool tap_is(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && !memcmp(s, word, n);
}

/* A case-insensitive word at s, not followed by a letter, digit or '_'. */
static bool tap_word(const char *s, size_t n, const char *word)
{
	size_t wlen = strlen(word);
	if (n < wlen || strncasecmp(s, word, wlen))
		return false;
	if (n == wlen)
		return true;
	char next = s[wlen];
	return !(next == '_' || (next >= '0' && next <= '9') || (next >= 'a' && next <= 'z') ||
		 (next >= 'A' && next <= 'Z'));
}

static void tap_append(sg_buf *b, const char *s, size_t len)
{
	if (b->len >= TAP_TEXT_KEEP)
		return;
	if (len > TAP_TEXT_KEEP - b->len)
		len = TAP_TEXT_KEEP - b->len;
	sg_buf_append(b, s, len);
}

/* Digits at s[*i]: true with *out set (saturating at UINT64_MAX) if there was one. */
static bool tap_number(const char *s, size_t n, size_t *i, uint64_t *out)
{
	size_t start = *i;
	uint64_t v = 0;
	for (; *i < n && s[*i] >= '0' && s[*i] <= '9'; (*i)++) {
		unsigned d = (unsigned)(s[*i] - '0');
		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	*out = v;
	return *i > start;
}

/* ---- test points ------------------------------------------------------------------- */

/* The directive after the first unescaped '#' of a test point's tail, as TAP::Parser
 * reads it: SKIP or TODO, any case, as a whole word. Sets pt->desc_len. */
static void tap_point_tail(const char *s, size_t n, tap_point *pt)
{
	size_t j = 0;
	while (j < n && s[j] != '#')
		j += (s[j] == '\\' && j + 1 < n) ? 2 : 1;
	pt->desc = s;
	pt->desc_len = tap_rtrim(s, n);
	if (j >= n)
		return;
	size_t k = j + 1 + tap_indent(s + j + 1, n - j - 1);
	if (tap_word(s + k, n - k, "skip"))
		pt->dir = TAP_DIR_SKIP;
	else if (tap_word(s + k, n - k, "todo"))
		pt->dir = TAP_DIR_TODO;
	else
		return; /* a '#' that starts no directive is part of the description */
	pt->desc_len = tap_rtrim(s, j);
}

static bool tap_parse_point(const char *s, size_t n, tap_point *pt)
{
	size_t i;
	memset(pt, 0, sizeof(*pt));
	if (tap_starts(s, n, "ok") && (n == 2 || tap_space(s[2]))) {
		pt->ok = true;
		i = 2;
	} else if (tap_starts(s, n, "not ok") && (n == 6 || tap_space(s[6]))) {
		i = 6;
	} else {
		return false;
	}
	i += tap_indent(s + i, n - i);
	pt->has_num = tap_number(s, n, &i, &pt->num);
	i += tap_indent(s + i, n - i);
	if (i < n && s[i] == '-' && (i + 1 == n || tap_space(s[i + 1])))
		i += 1 + tap_indent(s + i + 1, n - i - 1);
	tap_point_tail(s + i, n - i, pt);
	return true;
}

static bool tap_seen(tap_ctx *c, uint64_t num)
{
	return num < (uint64_t)c->seen_bytes * 8 && (c->seen[num / 8] >> (num % 8)) & 1;
}

static void tap_mark(tap_ctx *c, uint64_t num)
{
	if (num >= TAP_SEEN_MAX)
		return;
	size_t need = (size_t)num / 8 + 1;
	if (need > c->seen_bytes) {
		size_t grown = c->seen_bytes ? c->seen_bytes : 64;
		while (grown < need)
			grown *= 2;
		c->seen = sg_xrealloc(c->seen, grown);
		memset(c->seen + c->seen_bytes, 0, grown - c->seen_bytes);
		c->seen_bytes = grown;
	}
	c->seen[num / 8] |= (uint8_t)(1u << (num % 8));
}

/* Test N must be the Nth; the first break in the numbering is said, not every one after
 * it (a single missing number would otherwise make every later test a problem). */
static void tap_check_number(tap_ctx *c, uint64_t num, uint64_t expected)
{
	bool twice = tap_seen(c, num);
	tap_mark(c, num);
	if ((num == expected && !twice) || c->said_numbering)
		return;
	c->said_numbering = true;
	if (twice)
		sg_test_report_add_problem(c->r, "test %" PRIu64 " appears twice (line %zu)", num,
					   c->lineno);
	else
		sg_test_report_add_problem(c->r,
					   "test %" PRIu64 " is out of order, expected %" PRIu64
					   " (line %zu)",
					   num, expected, c->lineno);
}

/* A test point's name: its description unescaped, or "test N" when it has none.
 * identity: stop at the first unescaped '#', so that a comment after it ("ok 1 - fast
 * # 3 ms") does not make the same test look like another one in the next run. */
static void tap_name(const tap_point *pt, uint64_t number, bool identity, sg_buf *name)
{
	size_t len = pt->desc_len;
	if (identity) {
		size_t j = 0;
		while (j < len && pt->desc[j] != '#')
			j += (pt->desc[j] == '\\' && j + 1 < len) ? 2 : 1;
		len = tap_rtrim(pt->desc, j < len ? j : len);
	}
	for (size_t i = 0; i < len; i++) {
		bool escape = pt->desc[i] == '\\' && i + 1 < len &&
			      (pt->desc[i + 1] == '#' || pt->desc[i + 1] == '\\');
		if (escape)
			i++;
		sg_buf_append(name, &pt->desc[i], 1);
	}
	if (!name->len)
		sg_buf_printf(name, "test %" PRIu64, number);
}

static void tap_add_failure(tap_ctx *c, const tap_point *pt, uint64_t number)
{
	sg_buf name = {0};
	tap_name(pt, number, false, &name);
	size_t before = c->r->n_failures;
	sg_test_report_add_failure(c->r, "not ok", name.data, name.len, NULL, "", 0);
	if (c->r->n_failures > before)
		c->yaml_failure = before;
	sg_buf_free(&name);
}

/* ok -> passed; ok # SKIP -> skipped; ok # TODO -> passed (it passed); not ok # TODO ->
 * skipped (an expected failure is not a failure, nor a pass); any other not ok, # SKIP
 * included, -> failed. */
static void tap_point_seen(tap_ctx *c, const tap_point *pt)
{
	sg_test_report *r = c->r;
	if (c->have_plan && c->plan_after_tests && !c->said_late_test) {
		c->said_late_test = true;
		sg_test_report_add_problem(r, "test at line %zu comes after the plan at line %zu",
					   c->lineno, c->plan_line);
	}
	uint64_t expected = ++c->ran;
	if (pt->has_num)
		tap_check_number(c, pt->num, expected);
	else
		tap_mark(c, expected);
	r->total++;
	c->yaml_allowed = true;
	c->yaml_failure = TAP_NO_FAILURE;
	sg_test_result result;
	if (pt->ok && pt->dir == TAP_DIR_SKIP) {
		r->skipped++;
		result = SG_TEST_SKIPPED;
	} else if (pt->ok) {
		r->passed++;
		result = SG_TEST_PASSED;
	} else if (pt->dir == TAP_DIR_TODO) {
		r->skipped++;
		result = SG_TEST_SKIPPED;
	} else {
		r->failed++;
		result = SG_TEST_FAILED;
		tap_add_failure(c, pt, pt->has_num ? pt->num : expected);
	}
	sg_buf name = {0};
	tap_name(pt, pt->has_num ? pt->num : expected, true, &name);
	sg_test_report_add_outcome(r, name.data, name.len, result);
	sg_buf_free(&name);
}

/* ---- plan and bail out ------------------------------------------------------------- */

/* "1..N", then nothing or a comment ("1..0 # SKIP no database"). */
static void tap_plan_seen(tap_ctx *c, const char *s, size_t n)
{
	size_t i = 3;
	uint64_t count;
	bool has_num = tap_number(s, n, &i, &count);
	i += tap_indent(s + i, n - i);
	if (!has_num || (i < n && s[i] != '#')) {
		sg_test_report_add_problem(c->r, "malformed plan at line %zu", c->lineno);
		return;
	}
	if (c->have_plan) {
		sg_test_report_add_problem(c->r, "more than one plan (lines %zu and %zu)",
					   c->plan_line, c->lineno);
		return;
	}
	c->have_plan = true;
	c->planned = count;
	c->plan_line = c->lineno;
	c->plan_after_tests = c->ran > 0;
}

/* A bail out ends the stream. It counts as one failed test, so that no reader of the
 * counts alone can take a run that gave up for a run that passed. */
static void tap_bail(tap_ctx *c, const char *reason, size_t len)
{
	size_t skip = tap_indent(reason, len);
	reason += skip;
	len = tap_rtrim(reason, len - skip);
	c->bailed = true;
	c->r->total++;
	c->r->failed++;
	sg_test_report_add_failure(c->r, "bail out", "Bail out!", 9, NULL, reason, len);
	sg_test_report_add_outcome(c->r, "Bail out!", 9, SG_TEST_FAILED);
	sg_autofree char *shown = sg_test_text(reason, len, 200);
	sg_test_report_add_problem(c->r, "Bail out!%s%s", *shown ? " " : "", shown);
}

/* ---- YAML diagnostics -------------------------------------------------------------- */

static void tap_yaml_open(tap_ctx *c, size_t indent)
{
	tap_yaml *y = &c->yaml;
	sg_buf_free(&y->message);
	sg_buf_free(&y->error);
	memset(y, 0, sizeof(*y));
	y->open = true;
	y->indent = indent;
	y->start_line = c->lineno;
}

static void tap_yaml_close(tap_ctx *c)
{
	tap_yaml *y = &c->yaml;
	sg_buf *msg = y->message.len ? &y->message : &y->error;
	if (c->yaml_failure != TAP_NO_FAILURE && msg->len) {
		size_t len = msg->len;
		const char *s = msg->data;
		while (len > 0 && (s[len - 1] == '\n' || tap_space(s[len - 1])))
			len--;
		sg_test_failure *f = &c->r->failures[c->yaml_failure];
		free(f->message);
		f->message = sg_test_text(s, len, SG_TEST_MESSAGE_MAX);
	}
	c->yaml_failure = TAP_NO_FAILURE;
	sg_buf_free(&y->message);
	sg_buf_free(&y->error);
	memset(y, 0, sizeof(*y));
}

/* A flow scalar: 'single' ('' is a quote), "double" (\n \t \" \\), or plain. */
static void tap_yaml_scalar(sg_buf *out, const char *s, size_t n)
{
	if (n >= 2 && s[0] == '\'' && s[n - 1] == '\'') {
		for (size_t i = 1; i + 1 < n; i++) {
			tap_append(out, &s[i], 1);
			if (s[i] == '\'' && s[i + 1] == '\'')
				i++;
		}
	} else if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		for (size_t i = 1; i + 1 < n; i++) {
			char ch = s[i];
			if (ch == '\\' && i + 2 < n) {
				ch = s[++i];
				ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch;
			}
			tap_append(out, &ch, 1);
		}
	} else {
		tap_append(out, s, n);
	}
}

/* A line of the block scalar being read; false when the block has ended. */
static bool tap_yaml_block_line(tap_yaml *y, size_t ind, const char *s, size_t n)
{
	sg_buf *out = y->block == TAP_KEY_MESSAGE ? &y->message : &y->error;
	size_t body = tap_rtrim(s + ind, n - ind);
	if (body == 0) {
		if (out->len)
			tap_append(out, "\n", 1);
		return true;
	}
	if (ind <= y->indent)
		return false;
	if (!y->block_indent)
		y->block_indent = ind;
	size_t from = ind < y->block_indent ? ind : y->block_indent;
	/* literal (|): lines keep their breaks; folded (>): lines join with a space, and a
	 * blank line is the break */
	if (out->len && !y->folded)
		tap_append(out, "\n", 1);
	else if (out->len && out->data[out->len - 1] != '\n')
		tap_append(out, " ", 1);
	tap_append(out, s + from, ind - from + body);
	return true;
}

static void tap_yaml_line(tap_ctx *c, const char *s, size_t n)
{
	tap_yaml *y = &c->yaml;
	size_t ind = tap_indent(s, n);
	size_t len = tap_rtrim(s + ind, n - ind);
	const char *body = s + ind;
	if (ind == y->indent && tap_is(body, len, "...")) {
		tap_yaml_close(c);
		return;
	}
	if (y->block && tap_yaml_block_line(y, ind, s, n))
		return;
	y->block = TAP_KEY_NONE;
	if (ind != y->indent)
		return;
	tap_yaml_key key = TAP_KEY_NONE;
	size_t klen = 0;
	if (tap_starts(body, len, "message:")) {
		key = TAP_KEY_MESSAGE;
		klen = 8;
	} else if (tap_starts(body, len, "error:")) {
		key = TAP_KEY_ERROR;
		klen = 6;
	}
	if (key == TAP_KEY_NONE)
		return;
	sg_buf *out = key == TAP_KEY_MESSAGE ? &y->message : &y->error;
	sg_buf_free(out);
	const char *v = body + klen;
	size_t vlen = len - klen;
	size_t lead = tap_indent(v, vlen);
	v += lead;
	vlen -= lead;
	if (vlen > 0 && (v[0] == '|' || v[0] == '>')) {
		y->block = key;
		y->folded = v[0] == '>';
		y->block_indent = 0;
		return;
	}
	tap_yaml_scalar(out, v, vlen);
}

/* ---- the stream -------------------------------------------------------------------- */

/* An indented line outside YAML: the start of a YAML block, a subtest's bail out (which
 * ends the whole run, TAP 14), or a subtest line that does not count. */
static bool tap_indented_line(tap_ctx *c, const char *s, size_t n, bool yaml_allowed)
{
	size_t ind = tap_indent(s, n);
	const char *body = s + ind;
	size_t len = tap_rtrim(body, n - ind);
	if (yaml_allowed && tap_is(body, len, "---")) {
		tap_yaml_open(c, ind);
		return true;
	}
	if (tap_starts(body, len, "Bail out!")) {
		tap_bail(c, body + 9, len - 9);
		return false;
	}
	return true;
}

/* Does s hold "not ok" followed by a test number (after a space) anywhere? */
static bool tap_holds_not_ok(const char *s, size_t n)
{
	for (size_t i = 0; i + 8 <= n; i++) {
		if (memcmp(s + i, "not ok ", 7) != 0)
			continue;
		size_t j = i + 7;
		while (j < n && s[j] == ' ')
			j++;
		if (j < n && s[j] >= '0' && s[j] <= '9')
			return true;
	}
	return false;
}

/* One line; false once the stream has ended (a bail out). */
static bool tap_line(tap_ctx *c, const char *s, size_t n)
{
	if (c->yaml.open) {
		size_t ind = tap_indent(s, n);
		if (ind >= c->yaml.indent || tap_rtrim(s + ind, n - ind) == 0) {
			tap_yaml_line(c, s, n);
			return true;
		}
		/* a line left of the block's "---" cannot be YAML: the block was never closed
		 * (output printed into the stream can open one to swallow the real test
		 * points), so it ends here, as a problem, and the line is read as TAP */
		sg_test_report_add_problem(c->r, "YAML block from line %zu is not closed before line %zu",
					   c->yaml.start_line, c->lineno);
		tap_yaml_close(c);
	}
	bool yaml_allowed = c->yaml_allowed;
	c->yaml_allowed = false;
	if (n > 0 && tap_space(s[0]))
		return tap_indented_line(c, s, n, yaml_allowed);
	c->yaml_failure = TAP_NO_FAILURE;
	n = tap_rtrim(s, n);
	tap_point pt;
	if (tap_parse_point(s, n, &pt)) {
		/* "ok 2 - " printed without a newline by the code under test, then the
		 * runner's "not ok 2 - b" on the same line: one line, a pass. A passing point
		 * whose line holds another "not ok N" cannot be told apart from that */
		if (pt.ok && tap_holds_not_ok(s + 2, n - 2))
			sg_test_report_add_problem(c->r, "line %zu holds a second test point (\"not ok\" after "
							 "output without a newline?)", c->lineno);
		tap_point_seen(c, &pt);
	} else if (tap_starts(s, n, "1..")) {
		tap_plan_seen(c, s, n);
	} else if (tap_starts(s, n, "Bail out!")) {
		tap_bail(c, s + 9, n - 9);
		return false;
	}
	/* Anything else, comments and "TAP version" included, does not count. */
	return true;
}

static void tap_finish(tap_ctx *c)
{
	sg_test_report *r = c->r;
	if (c->yaml.open)
		sg_test_report_add_problem(r, "YAML block from line %zu is not closed",
					   c->yaml.start_line);
	if (c->bailed)
		return; /* the plan could not be kept; the bail out says why */
	if (!c->have_plan)
		sg_test_report_add_problem(r, "missing plan");
	else if (c->ran != c->planned)
		sg_test_report_add_problem(r, "planned %" PRIu64 " test%s but %" PRIu64 " ran",
					   c->planned, c->planned == 1 ? "" : "s", c->ran);
}

static int tap_begin(tap_ctx *c, uint64_t len, bool keep_outcomes, sg_test_report *out, sg_error *err)
{
	sg_test_report_init(out, SG_TESTS_TAP);
	out->outcomes_off = !keep_outcomes;
	*c = (tap_ctx){.r = out, .yaml_failure = TAP_NO_FAILURE};
	if (len > SG_TEST_REPORT_MAX_BYTES) {
		sg_test_report_add_problem(out, "the output is %" PRIu64 " bytes, more than the %u MiB limit",
					   len, SG_TEST_REPORT_MAX_BYTES >> 20);
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s", out->problem);
	}
	return 0;
}

static void tap_end(tap_ctx *c)
{
	tap_finish(c);
	sg_buf_free(&c->yaml.message);
	sg_buf_free(&c->yaml.error);
	free(c->seen);
}

/* Lines of a piece of the stream to tap_line; a line that runs past the piece's end waits
 * in line for the next piece (or tap_feed_end). false once tap_line says stop. */
static bool tap_feed(tap_ctx *c, sg_buf *line, const char *p, const char *end)
{
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			sg_buf_append(line, p, (size_t)(end - p));
			return true;
		}
		c->lineno++;
		bool more;
		if (line->len) {
			sg_buf_append(line, p, (size_t)(nl - p));
			more = tap_line(c, line->data, line->len);
			line->len = 0;
		} else {
			more = tap_line(c, p, (size_t)(nl - p));
		}
		if (!more)
			return false;
		p = nl + 1;
	}
	return true;
}

/* The last line, without a newline; then the end. */
static void tap_feed_end(tap_ctx *c, sg_buf *line, bool more)
{
	if (more && line->len) {
		c->lineno++;
		tap_line(c, line->data, line->len);
	}
	sg_buf_free(line);
	tap_end(c);
}

/* A UTF-8 byte order mark at the stream's start is skipped. */
static const char *tap_skip_bom(const char *p, size_t n)
{
	return n >= 3 && !memcmp(p, "\xef\xbb\xbf", 3) ? p + 3 : p;
}

int sg_tap_parse(const char *data, size_t len, sg_test_report *out, sg_error *err)
{
	tap_ctx c;
	if (tap_begin(&c, len, true, out, err) < 0)
		return -1;
	if (!data)
		data = "";
	sg_buf line = {0};
	bool more = tap_feed(&c, &line, tap_skip_bom(data, len), data + len);
	tap_feed_end(&c, &line, more);
	return 0;
}

int sg_tap_parse_fd(int fd, uint64_t len, bool keep_outcomes, sg_test_report *out, sg_error *err)
{
	tap_ctx c;
	if (tap_begin(&c, len, keep_outcomes, out, err) < 0)
		return -1;
	enum { PIECE = 64 * 1024 };
	sg_autofree char *piece = sg_xmalloc(PIECE);
	sg_buf line = {0}; /* a line that runs past a piece's end */
	bool more = true;
	for (uint64_t off = 0; more && off < len;) {
		size_t want = len - off < PIECE ? (size_t)(len - off) : PIECE;
		ssize_t got = pread(fd, piece, want, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break; /* what was read is what there is */
		const char *p = off == 0 ? tap_skip_bom(piece, (size_t)got) : piece;
		off += (uint64_t)got;
		more = tap_feed(&c, &line, p, piece + got);
	}
	tap_feed_end(&c, &line, more);
	return 0;
}
