/* ledger.c: see ledger.h. */
#include "ledger.h"
#include "digest.h"
#include "util.h"

#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#define SG_LEDGER_MAX (256u << 20)
static const char zero_hash[] = "0000000000000000000000000000000000000000000000000000000000000000";

/* The last line of data (without its newline), or NULL. */
static const char *last_line(const char *data, size_t len, size_t *line_len)
{
	while (len && data[len - 1] == '\n')
		len--;
	if (!len)
		return NULL;
	size_t start = len;
	while (start && data[start - 1] != '\n')
		start--;
	*line_len = len - start;
	return data + start;
}

int sg_ledger_append(const char *path, const char *type, cJSON *fields, sg_error *err)
{
	sg_autofree char *dir_copy = sg_xstrdup(path);
	const char *dir = dirname(dir_copy);
	if (sg_mkdir_p(dir, 0755, err) < 0) {
		cJSON_Delete(fields);
		return sg_error_prefix(err, "ledger");
	}
	/* .shipgate/ lies in the job directory, which the candidate's author writes: a
	 * symlink planted there would have us append wherever it points */
	struct stat dst;
	errno = 0;
	if (lstat(dir, &dst) < 0 || !S_ISDIR(dst.st_mode)) {
		cJSON_Delete(fields);
		return sg_error_set(err, SG_ERR_INTERNAL, errno ? errno : ELOOP,
				    "ledger: %s is not a directory (a symlink?): refused", dir);
	}
	sg_autoclose int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		cJSON_Delete(fields);
		return sg_error_set(err, SG_ERR_INTERNAL, errno, "ledger %s", path);
	}
	if (SG_RETRY(flock(fd, LOCK_EX)) < 0) {
		cJSON_Delete(fields);
		return sg_error_set(err, SG_ERR_INTERNAL, errno, "lock %s", path);
	}
	sg_autofree char *data = NULL;
	size_t len = 0;
	struct stat st;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > SG_LEDGER_MAX) {
		cJSON_Delete(fields);
		return sg_error_set(err, SG_ERR_INTERNAL, EFBIG, "ledger %s", path);
	}
	data = sg_xmalloc((size_t)st.st_size + 1);
	ssize_t got = pread(fd, data, (size_t)st.st_size, 0);
	len = got > 0 ? (size_t)got : 0;
	data[len] = '\0';

	size_t ll = 0;
	const char *last = last_line(data, len, &ll);
	char prev[SG_SHA256_HEX_LEN];
	double seq = 1;
	if (last) {
		sg_sha256_hex(last, ll, prev);
		sg_autofree char *copy = sg_xstrndup(last, ll);
		cJSON *o = cJSON_Parse(copy);
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "seq");
		seq = cJSON_IsNumber(s) ? s->valuedouble + 1 : 1;
		cJSON_Delete(o);
	} else {
		memcpy(prev, zero_hash, sizeof(zero_hash));
	}
	cJSON *entry = cJSON_CreateObject();
	cJSON_AddNumberToObject(entry, "seq", seq);
	cJSON_AddStringToObject(entry, "prev", prev);
	char now[40];
	sg_rfc3339_now(now, sizeof(now));
	cJSON_AddStringToObject(entry, "time", now);
	cJSON_AddStringToObject(entry, "type", type);
	cJSON *f = fields ? fields->child : NULL;
	while (f) {
		cJSON *next = f->next;
		cJSON_AddItemToObject(entry, f->string, cJSON_DetachItemViaPointer(fields, f));
		f = next;
	}
	cJSON_Delete(fields);
	char *line = cJSON_PrintUnformatted(entry);
	cJSON_Delete(entry);
	sg_buf b = {0};
	if (len > 0 && data[len - 1] != '\n')
		sg_buf_append(&b, "\n", 1); /* a torn last line stays one line (verify reports it) */
	sg_buf_puts(&b, line);
	sg_buf_append(&b, "\n", 1);
	cJSON_free(line);
	int rc = 0;
	if (sg_write_all(fd, b.data, b.len) < 0 || fsync(fd) < 0)
		rc = sg_error_set(err, SG_ERR_INTERNAL, errno, "write %s", path);
	sg_buf_free(&b);
	flock(fd, LOCK_UN);
	return rc;
}

static int read_ledger(const char *path, char **data, size_t *len, sg_error *err)
{
	*data = NULL;
	*len = 0;
	if (access(path, F_OK) != 0)
		return 0;
	return sg_read_file(path, SG_LEDGER_MAX, data, len, err);
}

int sg_ledger_verify(const char *path, size_t *entries, sg_error *err)
{
	*entries = 0;
	sg_autofree char *data = NULL;
	size_t len;
	if (read_ledger(path, &data, &len, err) < 0)
		return -1;
	if (!data)
		return 0;
	char prev[SG_SHA256_HEX_LEN];
	memcpy(prev, zero_hash, sizeof(zero_hash));
	size_t lineno = 0;
	for (char *p = data; p < data + len;) {
		char *nl = memchr(p, '\n', (size_t)(data + len - p));
		if (!nl)
			return sg_error_set(err, SG_ERR_VERIFY, 0, "%s: line %zu: not terminated (a torn write?)", path,
					    lineno + 1);
		lineno++;
		*nl = '\0';
		size_t ll = (size_t)(nl - p);
		cJSON *o = cJSON_Parse(p);
		const cJSON *seq = cJSON_GetObjectItemCaseSensitive(o, "seq");
		const cJSON *pv = cJSON_GetObjectItemCaseSensitive(o, "prev");
		int rc = 0;
		if (!cJSON_IsObject(o))
			rc = sg_error_set(err, SG_ERR_VERIFY, 0, "%s: line %zu: not a JSON object", path, lineno);
		else if (!cJSON_IsNumber(seq) || seq->valuedouble != (double)lineno)
			rc = sg_error_set(err, SG_ERR_VERIFY, 0, "%s: line %zu: seq is not %zu (a line was deleted or moved)",
					  path, lineno, lineno);
		else if (!cJSON_IsString(pv) || strcmp(pv->valuestring, prev) != 0)
			rc = sg_error_set(err, SG_ERR_VERIFY, 0,
					  "%s: line %zu: prev does not match the sha256 of line %zu (a line was edited)",
					  path, lineno, lineno - 1);
		cJSON_Delete(o);
		if (rc < 0)
			return rc;
		sg_sha256_hex(p, ll, prev);
		p = nl + 1;
	}
	*entries = lineno;
	return 0;
}

cJSON *sg_ledger_load(const char *path, sg_error *err)
{
	sg_autofree char *data = NULL;
	size_t len;
	if (read_ledger(path, &data, &len, err) < 0)
		return NULL;
	cJSON *arr = cJSON_CreateArray();
	for (char *p = data; p && p < data + len;) {
		char *nl = memchr(p, '\n', (size_t)(data + len - p));
		if (nl)
			*nl = '\0';
		cJSON *o = cJSON_Parse(p);
		if (o)
			cJSON_AddItemToArray(arr, o);
		if (!nl)
			break;
		p = nl + 1;
	}
	return arr;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

void sg_ledger_seen_of(const cJSON *entries, const char *signature, sg_ledger_seen *out)
{
	memset(out, 0, sizeof(*out));
	sg_buf where = {0};
	const cJSON *e;
	size_t n = (size_t)cJSON_GetArraySize(entries), i = 0;
	const cJSON **matches = sg_xcalloc(n ? n : 1, sizeof(*matches));
	cJSON_ArrayForEach(e, entries)
	{
		const char *type = jstr(e, "type"), *sig = jstr(e, "signature");
		if (type && !strcmp(type, "decision") && sig && !strcmp(sig, signature))
			matches[i++] = e;
	}
	out->count = i;
	for (size_t k = i > 10 ? i - 10 : 0; k < i; k++)
		sg_buf_printf(&where, "%sloop %s attempt %.0f", where.len ? "; " : "",
			      jstr(matches[k], "loop") ? jstr(matches[k], "loop") : "?", jnum(matches[k], "attempt"));
	out->where = where.data;
	/* the next decision after the last sighting that got past it: in the same loop, a
	 * later attempt whose signature differs (or that shipped) */
	if (i) {
		const cJSON *m = matches[i - 1];
		const char *loop = jstr(m, "loop");
		double seq = jnum(m, "seq");
		cJSON_ArrayForEach(e, entries)
		{
			const char *type = jstr(e, "type"), *sig = jstr(e, "signature"), *l = jstr(e, "loop");
			if (jnum(e, "seq") <= seq || !type || strcmp(type, "decision") || !l || !loop || strcmp(l, loop))
				continue;
			if (sig && !strcmp(sig, signature))
				continue;
			const char *digest = jstr(e, "workspace_sha256");
			out->fixed_digest = digest ? sg_xstrdup(digest) : NULL;
			out->fixed_where = sg_xasprintf("loop %s attempt %.0f", l, jnum(e, "attempt"));
			break;
		}
	}
	free(matches);
}

void sg_ledger_seen_free(sg_ledger_seen *s)
{
	free(s->where);
	free(s->fixed_digest);
	free(s->fixed_where);
	memset(s, 0, sizeof(*s));
}

char *sg_ledger_seen_note(const sg_ledger_seen *s)
{
	if (!s->count)
		return NULL;
	if (s->fixed_where)
		return sg_xasprintf("this failure was seen %zu time%s before (%s); it was fixed in %s, workspace "
				    "sha256:%s: look at what changed there before re-opening it",
				    s->count, s->count == 1 ? "" : "s", s->where, s->fixed_where,
				    s->fixed_digest ? s->fixed_digest : "unknown");
	return sg_xasprintf("this failure was seen %zu time%s before (%s) and has not been fixed yet", s->count,
			    s->count == 1 ? "" : "s", s->where);
}

char *sg_ledger_show(const cJSON *entries)
{
	sg_buf b = {0};
	const cJSON *e;
	cJSON_ArrayForEach(e, entries)
	{
		const char *type = jstr(e, "type");
		sg_buf_printf(&b, "%4.0f  %s  %-9s loop %s attempt %.0f", jnum(e, "seq"), jstr(e, "time") ? jstr(e, "time") : "?",
			      type ? type : "?", jstr(e, "loop") ? jstr(e, "loop") : "-", jnum(e, "attempt"));
		const char *decision = jstr(e, "decision"), *sig = jstr(e, "signature"), *result = jstr(e, "result");
		if (result)
			sg_buf_printf(&b, "  %s", result);
		if (decision)
			sg_buf_printf(&b, "  %s", decision);
		if (sig)
			sg_buf_printf(&b, "  %s", sig);
		const char *summary = jstr(e, "summary");
		if (summary)
			sg_buf_printf(&b, "  (%s)", summary);
		sg_buf_append(&b, "\n", 1);
	}
	if (!b.data)
		sg_buf_puts(&b, "(the ledger is empty)\n");
	return b.data;
}
