/* verify.c: opening a signed verdict (see verify.h). The order matters: nothing in the
 * payload is looked at before the signature by the trusted key has been checked. */
#include "verify.h"
#include "run.h"
#include "util.h"

#include <string.h>

/* A verdict's payload never holds more excludes than this (shipgate writes three). */
#define SG_VERDICT_MAX_EXCLUDES 64

/* Duplicate keys anywhere in the statement: another reader could pick the other value. */
static const cJSON *find_duplicate_key(const cJSON *item)
{
	for (const cJSON *c = item->child; c; c = c->next) {
		if (cJSON_IsObject(item) && c->string)
			for (const cJSON *d = c->next; d; d = d->next)
				if (d->string && !strcmp(c->string, d->string))
					return d;
		const cJSON *dup = c->child ? find_duplicate_key(c) : NULL;
		if (dup)
			return dup;
	}
	return NULL;
}

/* The string at KEY, or NULL with ERR set. */
static const cJSON *expect_string(const char *origin, const cJSON *obj, const char *key,
				  const char *path, sg_error *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!item)
		sg_error_set(err, SG_ERR_INPUT, 0, "%s: %s: missing", origin, path);
	else if (!cJSON_IsString(item))
		sg_error_set(err, SG_ERR_INPUT, 0, "%s: %s: expected a string", origin, path);
	else
		return item;
	return NULL;
}

static int expect_value(const char *origin, const cJSON *obj, const char *key,
			const char *path, const char *want, sg_error *err)
{
	const cJSON *item = expect_string(origin, obj, key, path, err);
	if (!item)
		return -1;
	if (strcmp(item->valuestring, want))
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: %s: expected \"%s\": not a shipgate verdict",
				    origin, path, want);
	return 0;
}

static bool is_sha256_hex(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 64;
}

static int parse_subject(const char *origin, const cJSON *st, sg_verdict *v, sg_error *err)
{
	const cJSON *subjects = cJSON_GetObjectItemCaseSensitive(st, "subject");
	if (!cJSON_IsArray(subjects) || cJSON_GetArraySize(subjects) != 1)
		return sg_error_set(err, SG_ERR_INPUT, 0,
				    "%s: subject: expected an array of one subject, the workspace", origin);
	const cJSON *subject = subjects->child;
	if (!cJSON_IsObject(subject))
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: subject[0]: expected an object", origin);
	if (expect_value(origin, subject, "name", "subject[0].name", "workspace", err) < 0)
		return -1;
	const cJSON *digest = cJSON_GetObjectItemCaseSensitive(subject, "digest");
	if (!cJSON_IsObject(digest))
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: subject[0].digest: expected an object",
				    origin);
	const cJSON *sha = expect_string(origin, digest, "sha256", "subject[0].digest.sha256", err);
	if (!sha)
		return -1;
	if (!is_sha256_hex(sha->valuestring))
		return sg_error_set(err, SG_ERR_INPUT, 0,
				    "%s: subject[0].digest.sha256: expected 64 lower-case hex digits", origin);
	memcpy(v->subject_sha256, sha->valuestring, SG_SHA256_HEX_LEN);
	return 0;
}

static int parse_excludes(const char *origin, const cJSON *pred, sg_verdict *v, sg_error *err)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(pred, "subject_excludes");
	if (!cJSON_IsArray(list))
		return sg_error_set(err, SG_ERR_INPUT, 0,
				    "%s: predicate.subject_excludes: expected an array of strings", origin);
	int n = cJSON_GetArraySize(list);
	if (n > SG_VERDICT_MAX_EXCLUDES)
		return sg_error_set(err, SG_ERR_INPUT, 0,
				    "%s: predicate.subject_excludes: more than %d entries", origin,
				    SG_VERDICT_MAX_EXCLUDES);
	v->excludes = sg_xcalloc((size_t)n + 1, sizeof(char *));
	size_t k = 0, i = 0;
	for (const cJSON *e = list->child; e; e = e->next, i++) {
		if (!cJSON_IsString(e) || !e->valuestring[0])
			return sg_error_set(err, SG_ERR_INPUT, 0,
					    "%s: predicate.subject_excludes[%zu]: expected a non-empty string",
					    origin, i);
		if (!strcmp(e->valuestring, ".git") || !strcmp(e->valuestring, ".shipgate"))
			continue; /* built into the tree digest */
		v->excludes[k++] = sg_xstrdup(e->valuestring);
	}
	return 0;
}

static int parse_predicate(const char *origin, const cJSON *st, sg_verdict *v, sg_error *err)
{
	const cJSON *pred = cJSON_GetObjectItemCaseSensitive(st, "predicate");
	if (!cJSON_IsObject(pred))
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: predicate: expected an object", origin);
	const cJSON *result = expect_string(origin, pred, "result", "predicate.result", err);
	if (!result)
		return -1;
	const char *r = result->valuestring;
	if (strcmp(r, "PASSED") && strcmp(r, "FAILED") && strcmp(r, "ERROR"))
		return sg_error_set(err, SG_ERR_INPUT, 0,
				    "%s: predicate.result: expected PASSED, FAILED or ERROR", origin);
	v->result = r;
	return parse_excludes(origin, pred, v, err);
}

static int check_statement(const char *origin, sg_verdict *v, sg_error *err)
{
	const cJSON *st = v->statement;
	if (!cJSON_IsObject(st))
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: expected a JSON object (an in-toto Statement)",
				    origin);
	if (find_duplicate_key(st))
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: duplicate key \"%s\"", origin,
				    find_duplicate_key(st)->string);
	if (expect_value(origin, st, "_type", "_type", SG_STATEMENT_TYPE, err) < 0 ||
	    expect_value(origin, st, "predicateType", "predicateType", SG_PREDICATE_TYPE, err) < 0 ||
	    parse_subject(origin, st, v, err) < 0)
		return -1;
	return parse_predicate(origin, st, v, err);
}

int sg_verdict_parse_statement(const char *origin, const char *payload, size_t len,
			       sg_verdict *v, sg_error *err)
{
	v->statement = sg_json_parse_exact(origin, payload, len, err);
	if (!v->statement || check_statement(origin, v, err) < 0) {
		sg_verdict_free(v);
		return -1;
	}
	return 0;
}

int sg_verdict_open(const char *path, const sg_key *trusted, sg_verdict *v, sg_error *err)
{
	memset(v, 0, sizeof(*v));
	sg_autofree char *text = NULL;
	size_t len = 0;
	if (sg_read_file(path, SG_ENVELOPE_MAX, &text, &len, err) < 0)
		return -1;
	size_t payload_len = 0;
	sg_autofree unsigned char *payload = sg_dsse_verify(trusted, SG_DSSE_INTOTO_TYPE, path, text,
							    len, &payload_len, err);
	if (!payload)
		return -1;
	sg_autofree char *origin = sg_xasprintf("%s: payload", path);
	if (sg_verdict_parse_statement(origin, (const char *)payload, payload_len, v, err) < 0)
		return -1;
	snprintf(v->keyid, sizeof(v->keyid), "%s", sg_key_id(trusted));
	return 0;
}

int sg_verdict_check_workspace(const sg_verdict *v, const char *dir,
			       char now[SG_SHA256_HEX_LEN], sg_error *err)
{
	sg_tree_digest_opts opts = {.exclude = (const char *const *)v->excludes};
	if (sg_tree_digest(dir, &opts, now, NULL, err) < 0) {
		if (err->kind != SG_ERR_USAGE)
			err->kind = SG_ERR_INPUT;
		return sg_error_prefix(err, "workspace %s", dir);
	}
	if (strcmp(now, v->subject_sha256))
		return sg_error_set(err, SG_ERR_VERIFY, 0,
				    "subject mismatch: workspace %s is sha256:%s now, the verdict is about "
				    "sha256:%s (a file was changed, added, removed, or changed type or "
				    "mode since the verdict was signed)",
				    dir, now, v->subject_sha256);
	return 0;
}

void sg_verdict_free(sg_verdict *v)
{
	cJSON_Delete(v->statement);
	if (v->excludes)
		for (size_t i = 0; v->excludes[i]; i++)
			free(v->excludes[i]);
	free(v->excludes);
	memset(v, 0, sizeof(*v));
}
