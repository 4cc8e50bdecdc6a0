/* job.c: the job file parser (see job.h; the format is documented in docs/job-file.md).
 *
 * A job file decides what gets checked, so a typo must never silently weaken a check.
 * The parser therefore refuses anything it does not understand, in three passes over
 * one buffer:
 *   1. the bytes: at most 1 MiB, no NUL byte, valid UTF-8;
 *   2. cJSON's parse (syntax errors reported by line and column), followed by a scan of
 *      the text for what cJSON accepts but should not: a "\u0000" escape (cJSON silently
 *      cuts the string there) and raw control characters inside strings;
 *   3. a walk of the tree in which every object is checked against a fixed table of
 *      keys (unknown and duplicate keys are errors; cJSON keeps duplicates side by side)
 *      and every value against its type and range, filling an sg_job as it goes.
 * Everything allocated hangs off the sg_job at once, so an error anywhere only has to
 * return -1 and let sg_job_free() clean up. The JSON path of the value being checked is
 * kept in the context so that every message can name it.
 */
#include "job.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include "digest.h"
#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#define SG_JOB_MAX_NAME_CHARS 128
#define SG_JOB_MAX_STEP_NAME 64
#define SG_JOB_MAX_POLICY_NAME 64
#define SG_JOB_MAX_STEPS 1000
#define SG_JOB_MAX_MOUNTS 256
#define SG_JOB_MAX_PROBES 100
#define SG_JOB_MAX_TIMEOUT_S (86400u * 7u)
#define SG_JOB_MAX_MB (1024u * 1024u)       /* 1 TiB of memory or of /tmp */
#define SG_JOB_MAX_OUTPUT_KB (1024u * 1024u) /* 1 GiB kept per stream */
#define SG_JOB_MAX_PIDS 4194304u             /* the kernel's PID_MAX_LIMIT */
#define SG_JOB_MAX_CPUS 1024.0
#define SG_JOB_MAX_REPEAT 100u
#define SG_JOB_MAX_TESTS_MIN 1000000u
#define SG_JOB_MAX_STOP_GRACE_S 600u
#define SG_JOB_DEFAULT_WAIT_S 10u
#define SG_JOB_DEFAULT_STOP_GRACE_S 5u

/* What the parser carries while it walks the tree. */
typedef struct job_ctx {
	const char *origin; /* the job path as given, first word of every message */
	const char *dir;    /* canonical directory of the job file */
	sg_buf path;        /* JSON path of the value being checked, e.g. "steps[2].run" */
	sg_error *err;
} job_ctx;

/* ---- messages ---------------------------------------------------------------------- */

/* Copy s for a message: control characters become '?', long strings are cut. */
static void job_quote(const char *s, char *out, size_t out_len)
{
	size_t o = 0;
	const size_t keep = out_len > 8 ? out_len - 8 : 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && o < out_len - 1; p++) {
		if (o >= keep && (*p & 0xc0) != 0x80) {
			snprintf(out + o, out_len - o, "...");
			return;
		}
		out[o++] = (*p < 0x20 || *p == 0x7f) ? '?' : (char)*p;
	}
	out[o] = '\0';
}

/* A short description of a JSON value, for "got ..." in messages. */
static void job_describe(const cJSON *item, char *out, size_t out_len)
{
	char q[64];
	if (cJSON_IsNumber(item)) {
		snprintf(out, out_len, "%.15g", item->valuedouble);
	} else if (cJSON_IsString(item)) {
		job_quote(item->valuestring, q, sizeof(q));
		snprintf(out, out_len, "\"%s\"", q);
	} else if (cJSON_IsBool(item)) {
		snprintf(out, out_len, "%s", cJSON_IsTrue(item) ? "true" : "false");
	} else if (cJSON_IsNull(item)) {
		snprintf(out, out_len, "null");
	} else if (cJSON_IsArray(item)) {
		snprintf(out, out_len, "%s", item->child ? "an array" : "an empty array");
	} else if (cJSON_IsObject(item)) {
		snprintf(out, out_len, "%s", item->child ? "an object" : "an empty object");
	} else {
		snprintf(out, out_len, "an invalid value");
	}
}

static int job_vfail(job_ctx *c, const cJSON *got, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static int job_vfail(job_ctx *c, const cJSON *got, const char *fmt, va_list ap)
{
	char what[SG_ERROR_MSG_MAX];
	char desc[96] = "";
	vsnprintf(what, sizeof(what), fmt, ap);
	if (got)
		job_describe(got, desc, sizeof(desc));
	const char *path = c->path.len ? c->path.data : "";
	return sg_error_set(c->err, SG_ERR_USAGE, 0, "%s: %s%s%s%s%s", c->origin, path,
			    *path ? ": " : "", what, got ? ", got " : "", desc);
}

/* "<file>: <json path>: <message>" */
static int job_fail(job_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int job_fail(job_ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	job_vfail(c, NULL, fmt, ap);
	va_end(ap);
	return -1;
}

/* "<file>: <json path>: <message>, got <value>" */
static int job_fail_got(job_ctx *c, const cJSON *got, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int job_fail_got(job_ctx *c, const cJSON *got, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	job_vfail(c, got, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- the JSON path ----------------------------------------------------------------- */

static size_t job_path_key(job_ctx *c, const char *key)
{
	size_t mark = c->path.len;
	if (mark)
		sg_buf_puts(&c->path, ".");
	if (!*key)
		sg_buf_puts(&c->path, "\"\"");
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			sg_buf_printf(&c->path, "\\x%02x", *p);
		else
			sg_buf_append(&c->path, p, 1);
	}
	return mark;
}

static size_t job_path_index(job_ctx *c, size_t i)
{
	size_t mark = c->path.len;
	sg_buf_printf(&c->path, "[%zu]", i);
	return mark;
}

static void job_path_pop(job_ctx *c, size_t mark)
{
	c->path.len = mark;
	if (c->path.data)
		c->path.data[mark] = '\0';
}

/* ---- pass 1 and 2: the text -------------------------------------------------------- */

static void job_position(const char *data, size_t off, size_t *line, size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (data[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)data[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

static int job_fail_at(job_ctx *c, const char *data, size_t off, const char *what)
{
	size_t line, col;
	job_position(data, off, &line, &col);
	return sg_error_set(c->err, SG_ERR_USAGE, 0, "%s: line %zu, column %zu (byte %zu): %s",
			    c->origin, line, col, off, what);
}

static bool job_utf8_cont(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return false;
	return true;
}

/* Length of the UTF-8 sequence at p (at most avail bytes), 0 if it is not valid UTF-8
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t job_utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char b = p[0];
	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf)
		return avail >= 2 && job_utf8_cont(p + 1, 1) ? 2 : 0;
	if (b >= 0xe0 && b <= 0xef) {
		if (avail < 3 || !job_utf8_cont(p + 1, 2))
			return 0;
		if ((b == 0xe0 && p[1] < 0xa0) || (b == 0xed && p[1] > 0x9f))
			return 0;
		return 3;
	}
	if (b >= 0xf0 && b <= 0xf4) {
		if (avail < 4 || !job_utf8_cont(p + 1, 3))
			return 0;
		if ((b == 0xf0 && p[1] < 0x90) || (b == 0xf4 && p[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

static int job_check_bytes(job_ctx *c, const char *data, size_t len)
{
	for (size_t i = 0; i < len;) {
		if (data[i] == '\0')
			return job_fail_at(c, data, i, "NUL byte, expected UTF-8 JSON text");
		size_t n = job_utf8_len((const unsigned char *)data + i, len - i);
		if (!n)
			return job_fail_at(c, data, i, "invalid UTF-8, expected UTF-8 JSON text");
		i += n;
	}
	return 0;
}

/* After cJSON accepted the text: refuse what it lets through but JSON or we do not. */
static int job_check_strings(job_ctx *c, const char *data, size_t len)
{
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char b = (unsigned char)data[i];
		if (!in_string) {
			in_string = b == '"';
			continue;
		}
		if (b == '"') {
			in_string = false;
		} else if (b < 0x20) {
			return job_fail_at(c, data, i,
					   "control character in a string, expected it escaped");
		} else if (b == '\\') {
			if (i + 5 < len && data[i + 1] == 'u' && !memcmp(data + i + 2, "0000", 4))
				return job_fail_at(c, data, i,
						   "\\u0000 in a string, expected text without NUL");
			i++;
		}
	}
	return 0;
}

static cJSON *job_parse_json(job_ctx *c, const char *data, size_t len)
{
	if (job_check_bytes(c, data, len) < 0)
		return NULL;
	/* cJSON wants the terminating NUL inside the length to refuse trailing garbage. */
	sg_autofree char *text = sg_xstrndup(data, len);
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len + 1, &end, true);
	if (!root) {
		size_t off = end && end >= text ? (size_t)(end - text) : 0;
		if (off > len)
			off = len;
		job_fail_at(c, text, off, "invalid JSON");
		return NULL;
	}
	if (job_check_strings(c, text, len) < 0) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/* ---- pass 3: objects against tables of keys ---------------------------------------- */

typedef struct job_field job_field;
/* Parse one present value into the struct obj points to. */
typedef int (*job_field_fn)(job_ctx *c, const cJSON *item, void *obj, const job_field *f);

struct job_field {
	const char *key;
	job_field_fn parse;
	bool required;
	const char *what;  /* what is expected, for the message when it is missing */
	size_t offset;     /* where the generic parsers store the value in obj */
	uint64_t min, max; /* range for the generic integer parsers */
};

static int job_unknown_key(job_ctx *c, const job_field *fields, size_t n)
{
	sg_buf keys = {0};
	for (size_t i = 0; i < n; i++)
		sg_buf_printf(&keys, "%s%s", i ? ", " : "", fields[i].key);
	job_fail(c, "unknown key (expected one of: %s)", keys.data);
	sg_buf_free(&keys);
	return -1;
}

/* Check that item is an object whose keys are all in fields (at most 64), each once. */
static int job_check_keys(job_ctx *c, const cJSON *item, const job_field *fields, size_t n)
{
	uint64_t seen = 0;
	if (!cJSON_IsObject(item))
		return job_fail_got(c, item, "expected an object");
	for (const cJSON *m = item->child; m; m = m->next) {
		size_t i = 0;
		while (i < n && strcmp(fields[i].key, m->string))
			i++;
		if (i == n || (seen & (1ull << i))) {
			job_path_key(c, m->string);
			if (i == n)
				return job_unknown_key(c, fields, n);
			return job_fail(c, "duplicate key");
		}
		seen |= 1ull << i;
	}
	return 0;
}

/* Check item's keys, then parse each present field into obj in table order. */
static int job_object(job_ctx *c, const cJSON *item, const job_field *fields, size_t n,
		      void *obj)
{
	if (job_check_keys(c, item, fields, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, fields[i].key);
		size_t mark = job_path_key(c, fields[i].key);
		if (!v && fields[i].required)
			return job_fail(c, "missing, expected %s", fields[i].what);
		if (v && fields[i].parse(c, v, obj, &fields[i]) < 0)
			return -1;
		job_path_pop(c, mark);
	}
	return 0;
}

/* ---- values ------------------------------------------------------------------------ */

static bool job_is_integral(double v)
{
	/* every double of magnitude 2^53 or more is an integer */
	return isfinite(v) && (v >= 9007199254740992.0 || v <= -9007199254740992.0 ||
			       v == (double)(long long)v);
}

static int job_u64(job_ctx *c, const cJSON *item, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *kind = min ? "a positive integer" : "a non-negative integer";
	if (!cJSON_IsNumber(item) || !job_is_integral(item->valuedouble) ||
	    item->valuedouble < 0 || (min == 1 && item->valuedouble < 1))
		return job_fail_got(c, item, "must be %s", kind);
	double v = item->valuedouble;
	if (v < (double)min || v > (double)max)
		return job_fail_got(c, item, "must be an integer from %llu to %llu",
				    (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)v;
	return 0;
}

static int job_string(job_ctx *c, const cJSON *item, const char *what, const char **out)
{
	*out = "";
	if (!cJSON_IsString(item) || !item->valuestring[0])
		return job_fail_got(c, item, "expected %s", what);
	*out = item->valuestring;
	return 0;
}

static void job_set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = sg_xstrdup(s);
}

static bool job_is_blank(const char *s)
{
	return s[strspn(s, " \t\n\r\f\v")] == '\0';
}

/* [A-Za-z0-9._-]{1,max} */
static bool job_is_name(const char *s, size_t max)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
	/* names become file names (logs, trace, results): "." and ".." are not names */
	return n > 0 && n <= max && s[n] == '\0' && strcmp(s, ".") && strcmp(s, "..");
}

/* [A-Za-z_][A-Za-z0-9_]* */
static bool job_is_env_key(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	return s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")] == '\0';
}

static bool job_has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

static size_t job_utf8_chars(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += (*p & 0xc0) != 0x80;
	return n;
}

/* Whether a relative path climbs above its starting directory with "..". */
static bool job_rel_escapes(const char *rel)
{
	long depth = 0;
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && !strncmp(p, "..", 2))
			depth--;
		else if (n && !(n == 1 && *p == '.'))
			depth++;
		if (depth < 0)
			return true;
		p += n;
		p += strspn(p, "/");
	}
	return false;
}

/* Join the components of path, dropping empty ones and ".". Refuses "..". The result
 * starts with '/' when path does. NULL if a component is "..". */
static char *job_normalize(const char *path)
{
	sg_buf b = {0};
	if (*path == '/')
		sg_buf_puts(&b, "/");
	for (const char *p = path; *p;) {
		p += strspn(p, "/");
		size_t n = strcspn(p, "/");
		if (n == 2 && !strncmp(p, "..", 2)) {
			sg_buf_free(&b);
			return NULL;
		}
		if (n && !(n == 1 && *p == '.')) {
			if (b.len && b.data[b.len - 1] != '/')
				sg_buf_puts(&b, "/");
			sg_buf_append(&b, p, n);
		}
		p += n;
	}
	if (!b.data)
		sg_buf_append(&b, "", 0);
	return b.data;
}

static bool job_path_is_under(const char *path, const char *root)
{
	size_t n = strlen(root);
	if (n == 1 && root[0] == '/')
		return path[0] == '/';
	return !strncmp(path, root, n) && (path[n] == '\0' || path[n] == '/');
}

/* Resolve a path given relative to the job directory (or absolute) to a canonical path
 * that exists, and stat it. */
static int job_resolve(job_ctx *c, const char *value, char **out, struct stat *st)
{
	char q[128];
	job_quote(value, q, sizeof(q));
	sg_autofree char *joined =
		value[0] == '/' ? sg_xstrdup(value) : sg_xasprintf("%s/%s", c->dir, value);
	char *real = realpath(joined, NULL);
	if (!real)
		return job_fail(c, "cannot resolve %s: %s", q, strerror(errno));
	if (stat(real, st) < 0) {
		int e = errno;
		free(real);
		return job_fail(c, "cannot stat %s: %s", q, strerror(e));
	}
	*out = real;
	return 0;
}

static int job_resolve_dir(job_ctx *c, const char *value, char **out)
{
	struct stat st;
	char *real = NULL;
	if (job_resolve(c, value, &real, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		char q[128];
		job_quote(value, q, sizeof(q));
		free(real);
		return job_fail(c, "%s is not a directory", q);
	}
	free(*out);
	*out = real;
	return 0;
}

static const char run_what[] = "a non-empty string or an array of non-empty strings";

/* A `run` value: a string for /bin/sh -c, or an argv array. display may be NULL. */
static int job_run(job_ctx *c, const cJSON *item, char ***argv, char **display, bool *is_shell)
{
	if (cJSON_IsString(item)) {
		if (job_is_blank(item->valuestring))
			return job_fail_got(c, item, "expected %s", run_what);
		*argv = sg_xcalloc(4, sizeof(char *));
		(*argv)[0] = sg_xstrdup("/bin/sh");
		(*argv)[1] = sg_xstrdup("-c");
		(*argv)[2] = sg_xstrdup(item->valuestring);
		if (display)
			*display = sg_xstrdup(item->valuestring);
		if (is_shell)
			*is_shell = true;
		return 0;
	}
	if (!cJSON_IsArray(item) || !item->child)
		return job_fail_got(c, item, "expected %s", run_what);
	size_t n = 0;
	for (const cJSON *a = item->child; a; a = a->next, n++) {
		if (cJSON_IsString(a) && a->valuestring[0])
			continue;
		job_path_index(c, n);
		return job_fail_got(c, a, "expected a non-empty string");
	}
	sg_buf shown = {0};
	*argv = sg_xcalloc(n + 1, sizeof(char *));
	n = 0;
	for (const cJSON *a = item->child; a; a = a->next, n++) {
		(*argv)[n] = sg_xstrdup(a->valuestring);
		sg_buf_printf(&shown, "%s%s", n ? " " : "", a->valuestring);
	}
	if (display)
		*display = sg_steal_ptr(&shown.data);
	sg_buf_free(&shown);
	if (is_shell)
		*is_shell = false;
	return 0;
}

/* "http://127.0.0.1:PORT[/PATH]" or "http://localhost:PORT[/PATH]" */
static bool job_is_local_url(const char *url)
{
	static const char *const prefixes[] = {"http://127.0.0.1:", "http://localhost:"};
	const char *p = NULL;
	for (size_t i = 0; i < SG_ARRAY_LEN(prefixes) && !p; i++)
		if (!strncmp(url, prefixes[i], strlen(prefixes[i])))
			p = url + strlen(prefixes[i]);
	if (!p)
		return false;
	size_t digits = strspn(p, "0123456789");
	if (!digits || digits > 5)
		return false;
	unsigned long port = strtoul(p, NULL, 10);
	if (port < 1 || port > 65535)
		return false;
	p += digits;
	if (*p && *p != '/')
		return false;
	for (; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

static const char url_what[] = "a URL http://127.0.0.1:PORT/PATH or http://localhost:PORT/PATH";

static int job_url(job_ctx *c, const cJSON *item, char **out)
{
	if (!cJSON_IsString(item) || !job_is_local_url(item->valuestring))
		return job_fail_got(c, item, "expected %s", url_what);
	job_set_str(out, item->valuestring);
	return 0;
}

/* ---- generic field parsers (using job_field.offset, .min, .max) --------------------- */

static void *job_at(void *obj, const job_field *f)
{
	return (char *)obj + f->offset;
}

static int job_field_u64(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	uint64_t *dst = job_at(obj, f);
	return job_u64(c, item, f->min, f->max, dst);
}

static int job_field_int(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	int *dst = job_at(obj, f);
	uint64_t v = 0;
	if (job_u64(c, item, f->min, f->max, &v) < 0)
		return -1;
	*dst = (int)v;
	return 0;
}

static int job_field_bool(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	bool *dst = job_at(obj, f);
	if (!cJSON_IsBool(item))
		return job_fail_got(c, item, "expected true or false");
	*dst = cJSON_IsTrue(item);
	return 0;
}

static int job_field_nonempty_str(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	char **dst = job_at(obj, f);
	const char *s;
	if (job_string(c, item, "a non-empty string", &s) < 0)
		return -1;
	job_set_str(dst, s);
	return 0;
}

static int job_field_url(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	return job_url(c, item, job_at(obj, f));
}

static int job_field_argv(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	return job_run(c, item, job_at(obj, f), NULL, NULL);
}

static int job_field_name(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	char **dst = job_at(obj, f);
	if (!cJSON_IsString(item) || !job_is_name(item->valuestring, SG_JOB_MAX_STEP_NAME))
		return job_fail_got(c, item, "expected %s", f->what);
	job_set_str(dst, item->valuestring);
	return 0;
}

/* A policy name ([a-z0-9_-]{1,64}) or a path to an existing .json file. */
static int job_field_policy(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	char **dst = job_at(obj, f);
	const char *s;
	if (job_string(c, item, f->what, &s) < 0)
		return -1;
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-");
	if (s[n] == '\0' && n <= SG_JOB_MAX_POLICY_NAME) {
		job_set_str(dst, s);
		return 0;
	}
	size_t len = strlen(s);
	if (len < 5 || strcmp(s + len - 5, ".json"))
		return job_fail_got(c, item, "expected %s", f->what);
	struct stat st;
	char *real = NULL;
	if (job_resolve(c, s, &real, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		free(real);
		return job_fail_got(c, item, "not a regular file, expected a policy file");
	}
	free(*dst);
	*dst = real;
	return 0;
}

#define SG_POLICY_WHAT "a policy name ([a-z0-9_-], at most 64 characters) or a path to a .json file"

/* ---- top level --------------------------------------------------------------------- */

static int job_top_version(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	(void)obj;
	(void)f;
	if (!cJSON_IsNumber(item) || item->valuedouble != 1.0)
		return job_fail_got(c, item, "unsupported version, expected 1");
	return 0;
}

static int job_top_name(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_job *job = obj;
	const char *s;
	if (job_string(c, item, f->what, &s) < 0)
		return -1;
	if (job_utf8_chars(s) > SG_JOB_MAX_NAME_CHARS || job_has_control(s) || job_is_blank(s))
		return job_fail_got(c, item, "expected %s", f->what);
	job_set_str(&job->name, s);
	return 0;
}

static int job_top_workspace(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_job *job = obj;
	const char *s;
	char q[128];
	if (job_string(c, item, f->what, &s) < 0)
		return -1;
	job_quote(s, q, sizeof(q));
	if (s[0] == '/')
		return job_fail(c, "%s is absolute, expected %s", q, f->what);
	if (job_rel_escapes(s))
		return job_fail(c, "%s escapes the job directory", q);
	if (job_resolve_dir(c, s, &job->workspace) < 0)
		return -1;
	if (!job_path_is_under(job->workspace, c->dir))
		return job_fail(c, "%s escapes the job directory (through a symlink)", q);
	return 0;
}

static int job_top_rootfs(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_job *job = obj;
	const char *s;
	if (job_string(c, item, f->what, &s) < 0)
		return -1;
	if (!strcmp(s, "host")) {
		job_set_str(&job->rootfs, s);
		return 0;
	}
	if (strchr(s, '/'))
		return job_resolve_dir(c, s, &job->rootfs);
	/* no '/': the name of an image built by scripts/rootfs */
	if (!sg_rootfs_is_name(s))
		return job_fail_got(c, item, "expected %s", f->what);
	sg_rootfs_image *img = sg_xcalloc(1, sizeof(*img));
	sg_error ierr = {0};
	if (sg_rootfs_image_open(s, img, &ierr) < 0) {
		free(img);
		struct stat st;
		sg_autofree char *here = sg_xasprintf("%s/%s", c->dir, s);
		bool dir_here = stat(here, &st) == 0 && S_ISDIR(st.st_mode);
		return job_fail(c, "%s%s%s%s", ierr.msg,
				dir_here ? " (for the directory beside the job file, write \"./" : "",
				dir_here ? s : "", dir_here ? "\")" : "");
	}
	job->rootfs_image = img;
	job_set_str(&job->rootfs, img->root);
	return 0;
}

static int job_top_network(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_job *job = obj;
	(void)f;
	if (!cJSON_IsString(item) || sg_net_mode_parse(item->valuestring, &job->network) < 0)
		return job_fail_got(c, item, "expected \"none\", \"loopback\" or \"host\"");
	job->network_set = true;
	return 0;
}

static int job_env_compare(const void *a, const void *b)
{
	const cJSON *const *x = a;
	const cJSON *const *y = b;
	return strcmp((*x)->string, (*y)->string);
}

/* The first key that appears twice in obj (found by sorting: env may be large). */
static const cJSON *job_find_duplicate_key(const cJSON *obj, size_t n)
{
	sg_autofree const cJSON **members = sg_xcalloc(n, sizeof(*members));
	size_t i = 0;
	for (const cJSON *m = obj->child; m; m = m->next)
		members[i++] = m;
	qsort(members, n, sizeof(*members), job_env_compare);
	for (i = 1; i < n; i++)
		if (!strcmp(members[i - 1]->string, members[i]->string))
			return members[i];
	return NULL;
}

static int job_top_env(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_job *job = obj;
	(void)f;
	if (!cJSON_IsObject(item))
		return job_fail_got(c, item, "expected an object of string values");
	size_t n = (size_t)cJSON_GetArraySize(item);
	const cJSON *dup = n > 1 ? job_find_duplicate_key(item, n) : NULL;
	if (dup) {
		job_path_key(c, dup->string);
		return job_fail(c, "duplicate key");
	}
	for (const cJSON *m = item->child; m; m = m->next) {
		size_t mark = job_path_key(c, m->string);
		if (!job_is_env_key(m->string))
			return job_fail(c, "invalid variable name, expected [A-Za-z_][A-Za-z0-9_]*");
		if (!cJSON_IsString(m))
			return job_fail_got(c, m, "expected a string");
		job_path_pop(c, mark);
	}
	job->env = sg_xcalloc(n + 1, sizeof(char *));
	for (const cJSON *m = item->child; m; m = m->next)
		job->env[job->n_env++] = sg_xasprintf("%s=%s", m->string, m->valuestring);
	return 0;
}

static int job_limits_cpus(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_limits *l = obj;
	(void)f;
	if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) || item->valuedouble <= 0 ||
	    item->valuedouble > SG_JOB_MAX_CPUS)
		return job_fail_got(c, item, "must be a number greater than 0 and at most %g",
				    SG_JOB_MAX_CPUS);
	l->cpus = item->valuedouble;
	return 0;
}

static const job_field limits_fields[] = {
	{ .key = "memory_mb", .parse = job_field_u64, .offset = offsetof(sg_limits, memory_mb),
	  .max = SG_JOB_MAX_MB },
	{ .key = "pids", .parse = job_field_u64, .offset = offsetof(sg_limits, pids),
	  .max = SG_JOB_MAX_PIDS },
	{ .key = "cpus", .parse = job_limits_cpus },
	{ .key = "timeout_s", .parse = job_field_u64, .offset = offsetof(sg_limits, timeout_s),
	  .min = 1, .max = SG_JOB_MAX_TIMEOUT_S },
	{ .key = "output_kb", .parse = job_field_u64, .offset = offsetof(sg_limits, output_kb),
	  .max = SG_JOB_MAX_OUTPUT_KB },
	{ .key = "tmp_mb", .parse = job_field_u64, .offset = offsetof(sg_limits, tmp_mb),
	  .min = 1, .max = SG_JOB_MAX_MB },
	{ .key = "scratch_mb", .parse = job_field_u64, .offset = offsetof(sg_limits, scratch_mb),
	  .min = 1, .max = SG_JOB_MAX_MB },
};

static int job_top_limits(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_job *job = obj;
	(void)f;
	return job_object(c, item, limits_fields, SG_ARRAY_LEN(limits_fields), &job->limits);
}

/* ---- mounts ------------------------------------------------------------------------ */

static int job_mount_source(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_mount_spec *m = obj;
	const char *s;
	if (job_string(c, item, f->what, &s) < 0)
		return -1;
	return job_resolve_dir(c, s, &m->source);
}

static int job_mount_target(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	static const char *const reserved[] = {"/proc", "/dev", "/sys", "/tmp", "/workspace"};
	sg_mount_spec *m = obj;
	const char *s;
	if (job_string(c, item, f->what, &s) < 0)
		return -1;
	if (s[0] != '/')
		return job_fail_got(c, item, "expected an absolute path");
	sg_autofree char *norm = job_normalize(s);
	if (!norm)
		return job_fail_got(c, item, "\"..\" is not allowed in a mount target");
	if (!strcmp(norm, "/"))
		return job_fail(c, "cannot mount over /, expected a directory below it");
	for (size_t i = 0; i < SG_ARRAY_LEN(reserved); i++)
		if (job_path_is_under(norm, reserved[i]))
			return job_fail_got(c, item, "%s is set up by the sandbox, expected a target "
					    "outside /proc, /dev, /sys, /tmp and /workspace",
					    reserved[i]);
	free(m->target);
	m->target = sg_steal_ptr(&norm);
	return 0;
}

static const job_field mount_fields[] = {
	{ .key = "source", .parse = job_mount_source, .required = true,
	  .what = "an existing directory (relative to the job directory, or absolute)" },
	{ .key = "target", .parse = job_mount_target, .required = true,
	  .what = "an absolute path in the sandbox, outside /proc, /dev, /sys, /tmp and /workspace" },
	{ .key = "readonly", .parse = job_field_bool, .offset = offsetof(sg_mount_spec, readonly) },
};

static int job_top_mounts(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_job *job = obj;
	(void)f;
	if (!cJSON_IsArray(item))
		return job_fail_got(c, item, "expected an array of mounts");
	size_t n = (size_t)cJSON_GetArraySize(item);
	if (n > SG_JOB_MAX_MOUNTS)
		return job_fail(c, "%zu mounts, expected at most %d", n, SG_JOB_MAX_MOUNTS);
	job->mounts = sg_xcalloc(n, sizeof(*job->mounts));
	job->n_mounts = n;
	size_t i = 0;
	for (const cJSON *m = item->child; m; m = m->next, i++) {
		size_t mark = job_path_index(c, i);
		job->mounts[i].readonly = true;
		if (job_object(c, m, mount_fields, SG_ARRAY_LEN(mount_fields), &job->mounts[i]) < 0)
			return -1;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(job->mounts[j].target, job->mounts[i].target))
				continue;
			job_path_key(c, "target");
			return job_fail(c, "%s is already the target of mounts[%zu]",
					job->mounts[i].target, j);
		}
		job_path_pop(c, mark);
	}
	return 0;
}

/* ---- steps: tests ------------------------------------------------------------------ */

static int job_tests_format(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_tests_spec *t = obj;
	(void)f;
	if (cJSON_IsString(item) && !strcmp(item->valuestring, "junit"))
		t->format = SG_TESTS_JUNIT;
	else if (cJSON_IsString(item) && !strcmp(item->valuestring, "tap"))
		t->format = SG_TESTS_TAP;
	else
		return job_fail_got(c, item, "expected \"junit\" or \"tap\"");
	return 0;
}

static int job_tests_path(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_tests_spec *t = obj;
	const char *s;
	if (job_string(c, item, f->what, &s) < 0)
		return -1;
	if (s[0] == '/')
		return job_fail_got(c, item, "is absolute, expected %s", f->what);
	sg_autofree char *norm = job_normalize(s);
	if (!norm)
		return job_fail_got(c, item, "\"..\" is not allowed, expected %s", f->what);
	if (!*norm)
		return job_fail_got(c, item, "names no file, expected %s", f->what);
	free(t->path);
	t->path = sg_steal_ptr(&norm);
	return 0;
}

static const job_field tests_fields[] = {
	{ .key = "format", .parse = job_tests_format, .required = true,
	  .what = "\"junit\" or \"tap\"" },
	{ .key = "path", .parse = job_tests_path,
	  .what = "a file path relative to /workspace" },
	{ .key = "min", .parse = job_field_u64, .offset = offsetof(sg_tests_spec, min),
	  .max = SG_JOB_MAX_TESTS_MIN },
};

static int job_step_tests(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_step *step = obj;
	(void)f;
	step->has_tests = true;
	step->tests.min = 1;
	if (job_object(c, item, tests_fields, SG_ARRAY_LEN(tests_fields), &step->tests) < 0)
		return -1;
	if (step->tests.format == SG_TESTS_JUNIT && !step->tests.path) {
		job_path_key(c, "path");
		return job_fail(c, "missing, expected %s for junit", tests_fields[1].what);
	}
	if (step->tests.format == SG_TESTS_TAP && step->tests.path) {
		job_path_key(c, "path");
		return job_fail(c, "not allowed for tap (the results are the step's stdout)");
	}
	return 0;
}

/* ---- steps: service ---------------------------------------------------------------- */

static const job_field ready_fields[] = {
	{ .key = "tcp", .parse = job_field_int, .offset = offsetof(sg_ready_spec, tcp_port),
	  .min = 1, .max = 65535 },
	{ .key = "http", .parse = job_field_url, .offset = offsetof(sg_ready_spec, http_get) },
	{ .key = "run", .parse = job_field_argv, .offset = offsetof(sg_ready_spec, argv) },
	{ .key = "timeout_s", .parse = job_field_u64, .offset = offsetof(sg_ready_spec, timeout_s),
	  .min = 1, .max = SG_JOB_MAX_TIMEOUT_S },
};

static int job_service_ready(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_ready_spec *r = &((sg_service_spec *)obj)->ready;
	(void)f;
	if (job_object(c, item, ready_fields, SG_ARRAY_LEN(ready_fields), r) < 0)
		return -1;
	int given = (r->tcp_port != 0) + (r->http_get != NULL) + (r->argv != NULL);
	if (given != 1)
		return job_fail(c, "%s, expected exactly one of tcp, http, run",
				given ? "more than one check" : "no check");
	return 0;
}

static int job_expect_exit(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_probe_expect *e = obj;
	uint64_t v = 0;
	if (job_u64(c, item, f->min, f->max, &v) < 0)
		return -1;
	e->has_exit = true;
	e->exit_code = (int)v;
	return 0;
}

static int job_expect_matches(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_probe_expect *e = obj;
	const char *s;
	regex_t re;
	if (job_string(c, item, f->what, &s) < 0)
		return -1;
	int rc = regcomp(&re, s, REG_EXTENDED | REG_NOSUB);
	if (rc) {
		char why[256];
		regerror(rc, &re, why, sizeof(why));
		return job_fail_got(c, item, "invalid regular expression (%s), expected %s", why,
				    f->what);
	}
	regfree(&re);
	job_set_str(&e->stdout_matches, s);
	return 0;
}

static const job_field expect_fields[] = {
	{ .key = "exit", .parse = job_expect_exit, .max = 255 },
	{ .key = "stdout_contains", .parse = job_field_nonempty_str,
	  .offset = offsetof(sg_probe_expect, stdout_contains) },
	{ .key = "stdout_matches", .parse = job_expect_matches,
	  .what = "a non-empty POSIX extended regular expression" },
	{ .key = "http_status", .parse = job_field_int,
	  .offset = offsetof(sg_probe_expect, http_status), .min = 100, .max = 599 },
};

/* Parsed after run and http (table order), so it knows which kind of probe it is. */
static int job_probe_expect(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_probe_spec *p = obj;
	(void)f;
	if (job_object(c, item, expect_fields, SG_ARRAY_LEN(expect_fields), &p->expect) < 0)
		return -1;
	if (p->http_get && p->expect.has_exit) {
		job_path_key(c, "exit");
		return job_fail(c, "not allowed for an http probe, expected http_status");
	}
	if (p->argv && p->expect.http_status) {
		job_path_key(c, "http_status");
		return job_fail(c, "not allowed for a run probe, expected exit");
	}
	return 0;
}

static const job_field probe_fields[] = {
	{ .key = "name", .parse = job_field_name, .required = true,
	  .offset = offsetof(sg_probe_spec, name),
	  .what = "a name of 1 to 64 characters from [A-Za-z0-9._-]" },
	{ .key = "run", .parse = job_field_argv, .offset = offsetof(sg_probe_spec, argv) },
	{ .key = "http", .parse = job_field_url, .offset = offsetof(sg_probe_spec, http_get) },
	{ .key = "expect", .parse = job_probe_expect },
	{ .key = "timeout_s", .parse = job_field_u64, .offset = offsetof(sg_probe_spec, timeout_s),
	  .min = 1, .max = SG_JOB_MAX_TIMEOUT_S },
};

static int job_probe(job_ctx *c, const cJSON *item, sg_probe_spec *p)
{
	p->timeout_s = SG_JOB_DEFAULT_WAIT_S;
	if (job_object(c, item, probe_fields, SG_ARRAY_LEN(probe_fields), p) < 0)
		return -1;
	if (!p->argv == !p->http_get)
		return job_fail(c, "%s, expected exactly one of run, http",
				p->argv ? "both run and http" : "neither run nor http");
	if (p->argv && !p->expect.has_exit) {
		p->expect.has_exit = true;
		p->expect.exit_code = 0;
	}
	return 0;
}

static int job_service_probes(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_service_spec *s = obj;
	(void)f;
	if (!cJSON_IsArray(item))
		return job_fail_got(c, item, "expected an array of probes");
	size_t n = (size_t)cJSON_GetArraySize(item);
	if (n > SG_JOB_MAX_PROBES)
		return job_fail(c, "%zu probes, expected at most %d", n, SG_JOB_MAX_PROBES);
	s->probes = sg_xcalloc(n, sizeof(*s->probes));
	s->n_probes = n;
	size_t i = 0;
	for (const cJSON *p = item->child; p; p = p->next, i++) {
		size_t mark = job_path_index(c, i);
		if (job_probe(c, p, &s->probes[i]) < 0)
			return -1;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(s->probes[j].name, s->probes[i].name))
				continue;
			job_path_key(c, "name");
			return job_fail(c, "duplicate probe name \"%s\" (also probes[%zu])",
					s->probes[i].name, j);
		}
		job_path_pop(c, mark);
	}
	return 0;
}

static const job_field service_fields[] = {
	{ .key = "ready", .parse = job_service_ready, .required = true,
	  .what = "an object with one of tcp, http, run" },
	{ .key = "probes", .parse = job_service_probes },
	{ .key = "stop_grace_s", .parse = job_field_u64,
	  .offset = offsetof(sg_service_spec, stop_grace_s), .max = SG_JOB_MAX_STOP_GRACE_S },
};

static int job_step_service(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_step *step = obj;
	(void)f;
	step->service = sg_xcalloc(1, sizeof(*step->service));
	step->service->ready.timeout_s = SG_JOB_DEFAULT_WAIT_S;
	step->service->stop_grace_s = SG_JOB_DEFAULT_STOP_GRACE_S;
	return job_object(c, item, service_fields, SG_ARRAY_LEN(service_fields), step->service);
}

/* ---- steps ------------------------------------------------------------------------- */

static int job_step_run(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_step *step = obj;
	(void)f;
	return job_run(c, item, &step->argv, &step->run_display, &step->run_is_shell);
}

static const job_field step_fields[] = {
	{ .key = "name", .parse = job_field_name, .required = true,
	  .offset = offsetof(sg_step, name),
	  .what = "a name of 1 to 64 characters from [A-Za-z0-9._-]" },
	{ .key = "run", .parse = job_step_run, .required = true, .what = run_what },
	{ .key = "timeout_s", .parse = job_field_u64, .offset = offsetof(sg_step, timeout_s),
	  .min = 1, .max = SG_JOB_MAX_TIMEOUT_S },
	{ .key = "policy", .parse = job_field_policy, .offset = offsetof(sg_step, policy),
	  .what = SG_POLICY_WHAT },
	{ .key = "tests", .parse = job_step_tests },
	{ .key = "service", .parse = job_step_service },
	{ .key = "repeat", .parse = job_field_u64, .offset = offsetof(sg_step, repeat),
	  .min = 1, .max = SG_JOB_MAX_REPEAT },
};

static int job_step(job_ctx *c, const cJSON *item, sg_step *step)
{
	step->repeat = 1;
	if (job_object(c, item, step_fields, SG_ARRAY_LEN(step_fields), step) < 0)
		return -1;
	if (step->has_tests && step->service) {
		job_path_key(c, "tests");
		return job_fail(c, "not allowed together with service, expected one of them");
	}
	return 0;
}

static int job_top_steps(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_job *job = obj;
	if (!cJSON_IsArray(item) || !item->child)
		return job_fail_got(c, item, "expected %s", f->what);
	size_t n = (size_t)cJSON_GetArraySize(item);
	if (n > SG_JOB_MAX_STEPS)
		return job_fail(c, "%zu steps, expected at most %d", n, SG_JOB_MAX_STEPS);
	job->steps = sg_xcalloc(n, sizeof(*job->steps));
	job->n_steps = n;
	size_t i = 0;
	for (const cJSON *s = item->child; s; s = s->next, i++) {
		size_t mark = job_path_index(c, i);
		if (job_step(c, s, &job->steps[i]) < 0)
			return -1;
		/* "NAME.run-K" names the files (logs, trace) of run K of a repeated step NAME */
		const char *run_k = strstr(job->steps[i].name, ".run-");
		if (run_k && run_k[5] && strspn(run_k + 5, "0123456789") == strlen(run_k + 5)) {
			job_path_key(c, "name");
			return job_fail(c, "\"%s\": a name ending in .run-N is reserved for the files of a "
					"repeated step's runs", job->steps[i].name);
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(job->steps[j].name, job->steps[i].name))
				continue;
			job_path_key(c, "name");
			return job_fail(c, "duplicate step name \"%s\" (also steps[%zu])",
					job->steps[i].name, j);
		}
		job_path_pop(c, mark);
	}
	return 0;
}

static int job_top_protect(job_ctx *c, const cJSON *item, void *obj, const job_field *f)
{
	sg_job *job = obj;
	(void)f;
	if (!cJSON_IsArray(item))
		return job_fail_got(c, item, "expected an array of glob patterns");
	size_t n = (size_t)cJSON_GetArraySize(item);
	size_t i = 0;
	for (const cJSON *g = item->child; g; g = g->next, i++) {
		size_t mark = job_path_index(c, i);
		const char *s;
		if (job_string(c, g, "a non-empty glob pattern", &s) < 0)
			return -1;
		/* a pattern that can never match a workspace path would protect nothing */
		sg_autofree char *norm = job_normalize(s);
		if (s[0] == '/' || !norm)
			return job_fail_got(c, g, "expected a glob relative to the workspace, "
						  "without a leading / or \"..\"");
		job_path_pop(c, mark);
	}
	job->protect = sg_xcalloc(n + 1, sizeof(char *));
	for (const cJSON *g = item->child; g; g = g->next)
		job->protect[job->n_protect++] = sg_xstrdup(g->valuestring);
	return 0;
}

static const job_field top_fields[] = {
	{ .key = "version", .parse = job_top_version, .required = true, .what = "1" },
	{ .key = "name", .parse = job_top_name, .required = true,
	  .what = "a non-empty string of at most 128 characters, without control characters" },
	{ .key = "workspace", .parse = job_top_workspace,
	  .what = "a directory relative to the job directory" },
	{ .key = "rootfs", .parse = job_top_rootfs,
	  .what = "\"host\", the name of a built image ([a-z0-9][a-z0-9._-]*, see scripts/rootfs) "
		  "or a directory (a path with a '/', relative to the job directory, or absolute)" },
	{ .key = "policy", .parse = job_field_policy, .offset = offsetof(sg_job, policy),
	  .what = SG_POLICY_WHAT },
	{ .key = "network", .parse = job_top_network },
	{ .key = "env", .parse = job_top_env },
	{ .key = "limits", .parse = job_top_limits },
	{ .key = "mounts", .parse = job_top_mounts },
	{ .key = "steps", .parse = job_top_steps, .required = true,
	  .what = "a non-empty array of steps" },
	{ .key = "protect", .parse = job_top_protect },
	{ .key = "allow_weaker_isolation", .parse = job_field_bool,
	  .offset = offsetof(sg_job, allow_weaker_isolation) },
};

/* The version first: a newer file's new keys should read "unsupported version", not
 * "unknown key". */
static int job_top(job_ctx *c, const cJSON *root, sg_job *job)
{
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (version) {
		size_t mark = job_path_key(c, "version");
		if (job_top_version(c, version, job, &top_fields[0]) < 0)
			return -1;
		job_path_pop(c, mark);
	}
	return job_object(c, root, top_fields, SG_ARRAY_LEN(top_fields), job);
}

/* ---- entry points ------------------------------------------------------------------ */

/* Canonical directory and absolute path of the job file. The file itself is not
 * resolved: a symlinked job file has its paths relative to where the link is. */
static int job_locate(job_ctx *c, sg_job *job, const char *path)
{
	const char *slash = strrchr(path, '/');
	sg_autofree char *dir = slash ? sg_xstrndup(path, (size_t)(slash - path)) : sg_xstrdup(".");
	const char *base = slash ? slash + 1 : path;
	job->dir = realpath(*dir ? dir : "/", NULL);
	if (!job->dir)
		return sg_error_set(c->err, SG_ERR_USAGE, errno,
				    "%s: cannot resolve the job directory", c->origin);
	c->dir = job->dir;
	bool root = !strcmp(job->dir, "/");
	job->path = sg_xasprintf("%s/%s", root ? "" : job->dir, base);
	return 0;
}

static void job_defaults(sg_job *job)
{
	job->workspace = sg_xstrdup(job->dir);
	job->rootfs = sg_xstrdup("host");
	job->policy = sg_xstrdup("default");
	job->network = SG_NET_LOOPBACK;
	sg_limits_default(&job->limits);
}

static int job_parse_into(job_ctx *c, sg_job *job, const char *data, size_t len)
{
	if (len > SG_JOB_MAX_BYTES)
		return sg_error_set(c->err, SG_ERR_USAGE, 0,
				    "%s: %zu bytes, expected at most %u (1 MiB)", c->origin, len,
				    SG_JOB_MAX_BYTES);
	if (job_locate(c, job, c->origin) < 0)
		return -1;
	sg_sha256_hex(data, len, job->sha256);
	job_defaults(job);
	cJSON *root = job_parse_json(c, data, len);
	if (!root)
		return -1;
	int rc = 0;
	if (!cJSON_IsObject(root))
		rc = job_fail_got(c, root, "expected a JSON object at the top level");
	else
		rc = job_top(c, root, job);
	cJSON_Delete(root);
	if (rc < 0)
		return -1;
	if (!job->env)
		job->env = sg_xcalloc(1, sizeof(char *));
	if (!job->protect)
		job->protect = sg_xcalloc(1, sizeof(char *));
	return 0;
}

sg_job *sg_job_parse(const char *path, const char *data, size_t len, sg_error *err)
{
	job_ctx c = { .origin = path, .err = err };
	sg_job *job = sg_xcalloc(1, sizeof(*job));
	sg_buf_append(&c.path, "", 0);
	int rc = job_parse_into(&c, job, data, len);
	sg_buf_free(&c.path);
	if (rc < 0) {
		sg_job_free(job);
		return NULL;
	}
	return job;
}

int sg_job_read(const char *path, char **data, size_t *len, sg_error *err)
{
	sg_autoclose int fd = SG_RETRY(open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return sg_error_set(err, SG_ERR_USAGE, errno, "%s: cannot read", path);
	if (S_ISDIR(st.st_mode))
		return sg_error_set(err, SG_ERR_USAGE, EISDIR, "%s: cannot read", path);
	if (!S_ISREG(st.st_mode))
		return sg_error_set(err, SG_ERR_USAGE, 0, "%s: cannot read: not a regular file",
				    path);
	if (st.st_size > SG_JOB_MAX_BYTES)
		return sg_error_set(err, SG_ERR_USAGE, 0, "%s: %lld bytes, expected at most %u (1 MiB)",
				    path, (long long)st.st_size, SG_JOB_MAX_BYTES);
	/* its size as fstat saw it, then more if it grew since (up to one byte more than
	 * allowed: parse refuses that). Not SG_JOB_MAX_BYTES at once: a 1 MiB block freed
	 * makes glibc serve every later block below 1 MiB from the heap, which then holds the
	 * supervisor's peak for the rest of the run. */
	size_t cap = (size_t)st.st_size + 1, n = 0;
	*data = sg_xmalloc(cap);
	for (;;) {
		ssize_t got = sg_read_all(fd, *data + n, cap - n);
		if (got < 0) {
			int e = errno;
			free(*data);
			*data = NULL;
			return sg_error_set(err, SG_ERR_USAGE, e, "%s: cannot read", path);
		}
		n += (size_t)got;
		if (n < cap || cap == SG_JOB_MAX_BYTES + 1)
			break;
		cap = cap * 2 < SG_JOB_MAX_BYTES + 1 ? cap * 2 : SG_JOB_MAX_BYTES + 1;
		*data = sg_xrealloc(*data, cap);
	}
	*len = n;
	return 0;
}

sg_job *sg_job_load(const char *path, sg_error *err)
{
	sg_autofree char *data = NULL;
	size_t len = 0;
	if (sg_job_read(path, &data, &len, err) < 0)
		return NULL;
	return sg_job_parse(path, data, len, err);
}

static void sg_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

static void sg_service_free(sg_service_spec *s)
{
	if (!s)
		return;
	free(s->ready.http_get);
	sg_argv_free(s->ready.argv);
	for (size_t i = 0; i < s->n_probes; i++) {
		sg_probe_spec *p = &s->probes[i];
		free(p->name);
		sg_argv_free(p->argv);
		free(p->http_get);
		free(p->expect.stdout_contains);
		free(p->expect.stdout_matches);
	}
	free(s->probes);
	free(s);
}

static void sg_step_free(sg_step *step)
{
	free(step->name);
	sg_argv_free(step->argv);
	free(step->run_display);
	free(step->policy);
	free(step->tests.path);
	sg_service_free(step->service);
}

void sg_job_free(sg_job *job)
{
	if (!job)
		return;
	free(job->path);
	free(job->dir);
	free(job->name);
	free(job->workspace);
	free(job->rootfs);
	if (job->rootfs_image)
		sg_rootfs_image_free(job->rootfs_image);
	free(job->rootfs_image);
	free(job->policy);
	sg_argv_free(job->env);
	for (size_t i = 0; i < job->n_mounts; i++) {
		free(job->mounts[i].source);
		free(job->mounts[i].target);
	}
	free(job->mounts);
	for (size_t i = 0; i < job->n_steps; i++)
		sg_step_free(&job->steps[i]);
	free(job->steps);
	sg_argv_free(job->protect);
	free(job);
}

const char *sg_net_mode_name(sg_net_mode mode)
{
	switch (mode) {
	case SG_NET_NONE: return "none";
	case SG_NET_LOOPBACK: return "loopback";
	case SG_NET_HOST: return "host";
	default: return "unknown";
	}
}

int sg_net_mode_parse(const char *s, sg_net_mode *out)
{
	static const sg_net_mode modes[] = {SG_NET_NONE, SG_NET_LOOPBACK, SG_NET_HOST};
	for (size_t i = 0; i < SG_ARRAY_LEN(modes); i++) {
		if (s && !strcmp(s, sg_net_mode_name(modes[i]))) {
			*out = modes[i];
			return 0;
		}
	}
	return -1;
}

void sg_limits_default(sg_limits *l)
{
	l->memory_mb = 2048;
	l->pids = 1024;
	l->cpus = 0;
	l->timeout_s = 600;
	l->output_kb = 1024;
	l->tmp_mb = 512;
	l->scratch_mb = 8192;
}

uint64_t sg_step_timeout_s(const sg_job *job, const sg_step *step)
{
	return step->timeout_s ? step->timeout_s : job->limits.timeout_s;
}
