/* verify.h: opening a signed verdict. The envelope must be signed by the trusted key;
 * only then is its payload read, and it must be an in-toto Statement v1 of shipgate's
 * verdict type about one subject, the workspace. The subject can then be compared with a
 * directory as it is now. `verify` and `decide` both start here.
 */
#ifndef SHIPGATE_VERIFY_H
#define SHIPGATE_VERIFY_H

#include "digest.h"
#include "sign.h"

#include <cjson/cJSON.h>

typedef struct sg_verdict {
	cJSON *statement;          /* the signed payload, parsed */
	char keyid[SG_KEYID_MAX];  /* the key that signed it (the trusted one) */
	const char *result;        /* predicate.result: PASSED, FAILED or ERROR */
	char subject_sha256[SG_SHA256_HEX_LEN];
	/* predicate.subject_excludes without ".git" and ".shipgate", which the tree digest
	 * always leaves out; NULL-terminated */
	char **excludes;
} sg_verdict;

/* Read the envelope at path, check its signature against trusted, then the statement.
 * SG_ERR_VERIFY when the envelope is not validly signed by the trusted key (or has
 * another payloadType); SG_ERR_INPUT when a file is unreadable or malformed. */
int sg_verdict_open(const char *path, const sg_key *trusted, sg_verdict *v, sg_error *err);

/* Check the shape of a statement (pure): _type, predicateType, one subject named
 * "workspace" with a sha256 digest, predicate.result, predicate.subject_excludes.
 * SG_ERR_INPUT naming origin and the JSON path at fault. v->keyid is left alone. */
int sg_verdict_parse_statement(const char *origin, const char *payload, size_t len,
			       sg_verdict *v, sg_error *err);

/* Digest dir as the verdict's subject was digested (same excludes) into now, and
 * compare. SG_ERR_VERIFY when they differ, SG_ERR_INPUT when dir cannot be digested. */
int sg_verdict_check_workspace(const sg_verdict *v, const char *dir,
			       char now[SG_SHA256_HEX_LEN], sg_error *err);

void sg_verdict_free(sg_verdict *v);

#endif
