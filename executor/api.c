/* api.c: libshipgate's public C API (include/shipgate/shipgate.h) over the internals.
 *
 * This file is the firewall between the stable surface and the code behind it: every
 * public handle wraps an internal object, every public call checks its arguments and
 * copies what it returns into the handle, and nothing internal leaks through a public
 * type. The run path is the one `shipgate run` takes (run.c, then publish.c), with the
 * events of events.c handed to the caller's callback.
 */
#include <shipgate/shipgate.h>

#include "decide.h"
#include "events.h"
#include "job.h"
#include "publish.h"
#include "run.h"
#include "sign.h"
#include "util.h"
#include "verify.h"

#include <limits.h>
#include <string.h>

struct sg_api_job {
	sg_job *job;
};

struct sg_api_key {
	sg_key *key;
	char *path; /* where a private key was read from, to keep it out of the sandbox */
};

struct sg_api_result {
	sg_outcome outcome;
	bool interrupted;
	char *reason;
	char *out_dir;
	sg_published pub;
};

struct sg_api_verified {
	sg_verdict v;
	char *statement; /* the signed payload, byte for byte (NUL-terminated) */
	size_t statement_len;
};

struct sg_api_decision {
	sg_decision d;
	char *json;
	char *markdown;
};

static int null_arg(sg_error *err, const char *fn, const char *what)
{
	return sg_error_set(err, SG_ERR_USAGE, 0, "%s: %s is NULL", fn, what);
}

SG_API int sg_api_version(void)
{
	return SHIPGATE_API_VERSION;
}

SG_API const char *sg_version(void)
{
	return SHIPGATE_VERSION;
}

/* ---- jobs ------------------------------------------------------------------------ */

static sg_job_t *wrap_job(sg_job *job)
{
	if (!job)
		return NULL;
	sg_job_t *j = sg_xcalloc(1, sizeof(*j));
	j->job = job;
	return j;
}

SG_API sg_job_t *sg_job_open(const char *path, sg_error *err)
{
	if (!path) {
		null_arg(err, "sg_job_open", "path");
		return NULL;
	}
	return wrap_job(sg_job_load(path, err));
}

SG_API sg_job_t *sg_job_from_json(const char *json, size_t len, const char *base_dir, sg_error *err)
{
	if (!json || !base_dir) {
		null_arg(err, "sg_job_from_json", json ? "base_dir" : "json");
		return NULL;
	}
	if (len > SG_JOB_MAX_BYTES) {
		sg_error_set(err, SG_ERR_USAGE, 0, "inline job: %zu bytes, expected at most %u (1 MiB)", len,
			     SG_JOB_MAX_BYTES);
		return NULL;
	}
	sg_autofree char *path = sg_xasprintf("%s/<inline job>", base_dir);
	return wrap_job(sg_job_parse(path, json, len, err));
}

SG_API void sg_job_close(sg_job_t *job)
{
	if (!job)
		return;
	sg_job_free(job->job);
	free(job);
}

SG_API const char *sg_job_get_name(const sg_job_t *job)
{
	return job ? job->job->name : NULL;
}

SG_API const char *sg_job_get_path(const sg_job_t *job)
{
	return job ? job->job->path : NULL;
}

SG_API const char *sg_job_get_workspace(const sg_job_t *job)
{
	return job ? job->job->workspace : NULL;
}

SG_API const char *sg_job_get_sha256(const sg_job_t *job)
{
	return job ? job->job->sha256 : NULL;
}

SG_API size_t sg_job_get_step_count(const sg_job_t *job)
{
	return job ? job->job->n_steps : 0;
}

SG_API const char *sg_job_get_step_name(const sg_job_t *job, size_t index)
{
	return job && index < job->job->n_steps ? job->job->steps[index].name : NULL;
}

/* ---- keys ------------------------------------------------------------------------ */

static sg_key_t *wrap_key(sg_key *key, const char *path)
{
	if (!key)
		return NULL;
	sg_key_t *k = sg_xcalloc(1, sizeof(*k));
	k->key = key;
	k->path = path ? sg_xstrdup(path) : NULL;
	return k;
}

SG_API sg_key_t *sg_key_open_private(const char *path, sg_error *err)
{
	if (!path) {
		null_arg(err, "sg_key_open_private", "path");
		return NULL;
	}
	return wrap_key(sg_key_load_private(path, err), path);
}

SG_API sg_key_t *sg_key_open_public(const char *path, sg_error *err)
{
	if (!path) {
		null_arg(err, "sg_key_open_public", "path");
		return NULL;
	}
	return wrap_key(sg_key_load_public(path, err), NULL);
}

SG_API sg_key_t *sg_key_open_default(bool create, sg_error *err)
{
	sg_autofree char *dir = sg_key_default_dir(err);
	if (!dir)
		return NULL;
	sg_autofree char *path = sg_xasprintf("%s/" SG_KEY_FILE_NAME, dir);
	if (!create) {
		sg_key *key = sg_key_load_private(path, err);
		if (!key)
			sg_error_prefix(err, "default signing key");
		return wrap_key(key, path);
	}
	bool created = false;
	sg_autofree char *used = NULL;
	sg_key *key = sg_key_load_or_create(dir, &created, &used, NULL, err);
	if (!key)
		sg_error_prefix(err, "default signing key");
	return wrap_key(key, used);
}

SG_API void sg_key_close(sg_key_t *key)
{
	if (!key)
		return;
	sg_key_free(key->key);
	free(key->path);
	free(key);
}

SG_API const char *sg_key_get_id(const sg_key_t *key)
{
	return key ? sg_key_id(key->key) : NULL;
}

/* ---- running --------------------------------------------------------------------- */

/* The caller's config, field by field as far as its struct reaches: a program built
 * against an older, shorter sg_run_config gets the defaults for what it does not know. */
static void read_config(const sg_run_config *in, sg_run_config *out)
{
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	if (!in)
		return;
	size_t n = in->size < sizeof(*out) ? in->size : sizeof(*out);
	memcpy(out, in, n);
	out->size = sizeof(*out);
}

SG_API sg_result_t *sg_job_run(const sg_job_t *job, const sg_key_t *key, const sg_run_config *cfg_in,
			       sg_error *err)
{
	if (!job || !key) {
		null_arg(err, "sg_job_run", job ? "key" : "job");
		return NULL;
	}
	if (!sg_key_has_private(key->key)) {
		sg_error_set(err, SG_ERR_USAGE, 0, "sg_job_run: the key %s is a public key; signing needs the private one",
			     sg_key_id(key->key));
		return NULL;
	}
	sg_run_config cfg;
	read_config(cfg_in, &cfg);
	sg_event_sink sink;
	sg_event_sink_init(&sink);
	sink.fn = cfg.on_event;
	sink.ctx = cfg.event_ctx;
	sink.job_name = job->job->name;

	if (key->path && sg_key_check_hidden(job->job, "signing key", key->path, err) < 0) {
		sg_event_error(&sink, err);
		return NULL;
	}
	sg_run_options ro = {.out_dir = cfg.out_dir, .allow_weaker = cfg.allow_weaker, .no_trace = cfg.no_trace,
			     .interrupted = cfg.interrupted, .leave_signals = !cfg.catch_signals};
	sg_run_outcome oc;
	if (sg_run_and_publish(job->job, key->key, &ro, cfg.vsa, &sink, &oc, err) < 0) {
		sg_run_outcome_free(&oc);
		return NULL;
	}
	sg_result_t *res = sg_xcalloc(1, sizeof(*res));
	res->outcome = oc.result == SG_RESULT_PASSED ? SG_OUTCOME_PASSED
		       : oc.result == SG_RESULT_FAILED ? SG_OUTCOME_FAILED
						       : SG_OUTCOME_ERROR;
	res->interrupted = oc.interrupted;
	res->reason = sg_steal_ptr(&oc.reason);
	res->out_dir = sg_steal_ptr(&oc.out_dir);
	res->pub = oc.pub;
	memset(&oc.pub, 0, sizeof(oc.pub));
	sg_run_outcome_free(&oc);
	return res;
}

SG_API void sg_result_close(sg_result_t *res)
{
	if (!res)
		return;
	sg_published_free(&res->pub);
	free(res->reason);
	free(res->out_dir);
	free(res);
}

SG_API sg_outcome sg_result_get_outcome(const sg_result_t *res)
{
	return res ? res->outcome : SG_OUTCOME_ERROR;
}

SG_API const char *sg_result_get_reason(const sg_result_t *res)
{
	return res ? res->reason : NULL;
}

SG_API bool sg_result_get_interrupted(const sg_result_t *res)
{
	return res && res->interrupted;
}

SG_API const char *sg_result_get_statement(const sg_result_t *res, size_t *len)
{
	if (len)
		*len = res ? res->pub.statement_len : 0;
	return res ? res->pub.statement : NULL;
}

SG_API const char *sg_result_get_envelope(const sg_result_t *res, size_t *len)
{
	if (len)
		*len = res ? res->pub.envelope_len : 0;
	return res ? res->pub.envelope : NULL;
}

SG_API const char *sg_result_get_out_dir(const sg_result_t *res)
{
	return res ? res->out_dir : NULL;
}

SG_API const char *sg_result_get_verdict_path(const sg_result_t *res)
{
	return res ? res->pub.verdict_path : NULL;
}

SG_API int sg_result_get_exit_code(const sg_result_t *res)
{
	if (!res)
		return 3;
	switch (res->outcome) {
	case SG_OUTCOME_PASSED: return 0;
	case SG_OUTCOME_FAILED: return 1;
	case SG_OUTCOME_ERROR:
	default: return 3;
	}
}

/* ---- verifying ------------------------------------------------------------------- */

/* Verify envelope bytes (origin names them in messages) and keep the signed payload's
 * exact bytes: what a caller reads is what was signed, not a re-serialisation. */
static sg_verified_t *verify_bytes(const char *origin, const char *envelope, size_t len, const sg_key_t *trusted,
				   sg_error *err)
{
	if (len > SG_ENVELOPE_MAX) {
		sg_error_set(err, SG_ERR_INPUT, 0, "%s: %zu bytes, expected at most %u", origin, len, SG_ENVELOPE_MAX);
		return NULL;
	}
	size_t payload_len = 0;
	unsigned char *payload =
		sg_dsse_verify(trusted->key, SG_DSSE_INTOTO_TYPE, origin, envelope, len, &payload_len, err);
	if (!payload)
		return NULL;
	sg_verdict v;
	memset(&v, 0, sizeof(v));
	sg_autofree char *porigin = sg_xasprintf("%s: payload", origin);
	if (sg_verdict_parse_statement(porigin, (const char *)payload, payload_len, &v, err) < 0) {
		free(payload);
		return NULL;
	}
	snprintf(v.keyid, sizeof(v.keyid), "%s", sg_key_id(trusted->key));
	sg_verified_t *out = sg_xcalloc(1, sizeof(*out));
	out->v = v;
	out->statement = (char *)payload; /* NUL-terminated by sg_dsse_verify */
	out->statement_len = payload_len;
	return out;
}

SG_API sg_verified_t *sg_verify_envelope(const void *envelope, size_t len, const sg_key_t *trusted,
					 sg_error *err)
{
	if (!envelope || !trusted) {
		null_arg(err, "sg_verify_envelope", envelope ? "trusted" : "envelope");
		return NULL;
	}
	return verify_bytes("envelope", envelope, len, trusted, err);
}

SG_API sg_verified_t *sg_verify_file(const char *path, const sg_key_t *trusted, sg_error *err)
{
	if (!path || !trusted) {
		null_arg(err, "sg_verify_file", path ? "trusted" : "path");
		return NULL;
	}
	sg_autofree char *text = NULL;
	size_t len = 0;
	if (sg_read_file(path, SG_ENVELOPE_MAX, &text, &len, err) < 0)
		return NULL;
	return verify_bytes(path, text, len, trusted, err);
}

SG_API int sg_verified_check_workspace(const sg_verified_t *v, const char *dir, sg_error *err)
{
	if (!v || !dir)
		return null_arg(err, "sg_verified_check_workspace", v ? "dir" : "v");
	char real[PATH_MAX];
	if (!realpath(dir, real))
		return sg_error_set(err, SG_ERR_INPUT, errno, "workspace %s", dir);
	char now[SG_SHA256_HEX_LEN];
	return sg_verdict_check_workspace(&v->v, real, now, err);
}

SG_API void sg_verified_close(sg_verified_t *v)
{
	if (!v)
		return;
	sg_verdict_free(&v->v);
	free(v->statement);
	free(v);
}

SG_API const char *sg_verified_get_statement(const sg_verified_t *v, size_t *len)
{
	if (len)
		*len = v ? v->statement_len : 0;
	return v ? v->statement : NULL;
}

SG_API const char *sg_verified_get_result(const sg_verified_t *v)
{
	return v ? v->v.result : NULL;
}

SG_API const char *sg_verified_get_subject(const sg_verified_t *v)
{
	return v ? v->v.subject_sha256 : NULL;
}

SG_API const char *sg_verified_get_keyid(const sg_verified_t *v)
{
	return v ? v->v.keyid : NULL;
}

/* ---- deciding -------------------------------------------------------------------- */

SG_API sg_decision_t *sg_verified_decide(const sg_verified_t *v, unsigned flags)
{
	if (!v)
		return NULL;
	sg_ship_policy p;
	sg_ship_policy_default(&p);
	p.allow_violations = flags & SG_SHIP_ALLOW_VIOLATIONS;
	p.require_seccomp = !(flags & SG_SHIP_ALLOW_NO_SECCOMP);
	p.require_namespaces = !(flags & SG_SHIP_ALLOW_NO_NAMESPACES);
	p.require_no_new_privs = !(flags & SG_SHIP_ALLOW_NEW_PRIVS);
	p.require_no_caps = !(flags & SG_SHIP_ALLOW_CAPS);
	p.require_memory_limit = !(flags & SG_SHIP_ALLOW_NO_MEMORY_LIMIT);
	p.require_pids_limit = !(flags & SG_SHIP_ALLOW_NO_PIDS_LIMIT);
	sg_decision_t *d = sg_xcalloc(1, sizeof(*d));
	sg_decide(v->v.statement, &p, &d->d);
	cJSON *j = sg_decision_json(&d->d);
	char *text = cJSON_Print(j);
	cJSON_Delete(j);
	d->json = text ? sg_xstrdup(text) : sg_xstrdup("{}");
	cJSON_free(text);
	d->markdown = sg_decision_markdown(&d->d, NULL);
	return d;
}

SG_API void sg_decision_close(sg_decision_t *d)
{
	if (!d)
		return;
	sg_decision_free(&d->d);
	free(d->json);
	free(d->markdown);
	free(d);
}

SG_API sg_decision_kind_t sg_decision_get_kind(const sg_decision_t *d)
{
	return d && d->d.kind == SG_SHIP ? SG_DECIDE_SHIP : SG_DECIDE_DIAGNOSE;
}

SG_API const char *sg_decision_get_category(const sg_decision_t *d)
{
	return d ? sg_diag_category_name(d->d.category) : NULL;
}

SG_API const char *sg_decision_get_summary(const sg_decision_t *d)
{
	return d ? d->d.summary : NULL;
}

SG_API const char *sg_decision_get_step(const sg_decision_t *d)
{
	return d ? d->d.step : NULL;
}

SG_API const char *sg_decision_get_next_step(const sg_decision_t *d)
{
	return d ? d->d.next_step : NULL;
}

SG_API const char *sg_decision_get_signature(const sg_decision_t *d)
{
	return d ? d->d.signature : NULL;
}

SG_API const char *sg_decision_get_json(const sg_decision_t *d)
{
	return d ? d->json : NULL;
}

SG_API const char *sg_decision_get_markdown(const sg_decision_t *d)
{
	return d ? d->markdown : NULL;
}
