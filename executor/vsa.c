/* vsa.c: the SLSA VSA of a run (see vsa.h). */
#include "vsa.h"
#include "util.h"

#include <string.h>

/* "file://" and the path, percent-encoding all but RFC 3986 unreserved bytes and '/'. */
static char *file_uri(const char *path)
{
	sg_buf b = {0};
	sg_buf_puts(&b, "file://");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~/", *p))
			sg_buf_append(&b, p, 1);
		else
			sg_buf_printf(&b, "%%%02X", *p);
	}
	return b.data;
}

static cJSON *digest_object(const char *sha256)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "sha256", sha256);
	return d;
}

static cJSON *vsa_predicate(const sg_run *run, const char *verdict_uri, const char *verdict_sha256)
{
	cJSON *p = cJSON_CreateObject();
	cJSON *verifier = cJSON_AddObjectToObject(p, "verifier");
	cJSON_AddStringToObject(verifier, "id", SG_VSA_VERIFIER_ID);
	cJSON *version = cJSON_AddObjectToObject(verifier, "version");
	cJSON_AddStringToObject(version, "shipgate", SHIPGATE_VERSION);
	cJSON_AddStringToObject(p, "timeVerified", run->finished);
	sg_autofree char *resource = file_uri(run->job->workspace);
	cJSON_AddStringToObject(p, "resourceUri", resource);
	/* the policy that decided is the job file: its steps are what had to pass */
	cJSON *policy = cJSON_AddObjectToObject(p, "policy");
	sg_autofree char *job_uri = file_uri(run->job->path);
	cJSON_AddStringToObject(policy, "uri", job_uri);
	cJSON_AddItemToObject(policy, "digest", digest_object(run->job->sha256));
	cJSON *inputs = cJSON_AddArrayToObject(p, "inputAttestations");
	cJSON *input = cJSON_CreateObject();
	cJSON_AddStringToObject(input, "uri", verdict_uri);
	cJSON_AddItemToObject(input, "digest", digest_object(verdict_sha256));
	cJSON_AddItemToArray(inputs, input);
	cJSON_AddStringToObject(p, "verificationResult",
				run->result == SG_RESULT_PASSED ? "PASSED" : "FAILED");
	/* shipgate checks behaviour, not a SLSA build track level: it claims none */
	cJSON_AddArrayToObject(p, "verifiedLevels");
	return p;
}

cJSON *sg_vsa_statement(const sg_run *run, const char *verdict_uri, const char *verdict_sha256)
{
	cJSON *st = cJSON_CreateObject();
	cJSON_AddStringToObject(st, "_type", SG_STATEMENT_TYPE);
	cJSON *subjects = cJSON_AddArrayToObject(st, "subject");
	cJSON *subject = cJSON_CreateObject();
	cJSON_AddStringToObject(subject, "name", "workspace");
	cJSON_AddItemToObject(subject, "digest", digest_object(run->subject_sha256));
	cJSON_AddItemToArray(subjects, subject);
	cJSON_AddStringToObject(st, "predicateType", SG_VSA_PREDICATE_TYPE);
	cJSON_AddItemToObject(st, "predicate", vsa_predicate(run, verdict_uri, verdict_sha256));
	return st;
}
