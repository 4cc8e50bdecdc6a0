/* publish.h: what a finished run leaves in its out dir, written the same way by every
 * face of shipgate (`run`, `loop`, `serve`, the C API): statement.json, then
 * verdict.dsse.json, a DSSE envelope signed over statement.json's exact bytes, and on
 * request vsa.dsse.json. Also the check that the signing key lies where no step of the
 * job can read it. docs/verdict.md describes the files.
 */
#ifndef SHIPGATE_PUBLISH_H
#define SHIPGATE_PUBLISH_H

#include "job.h"
#include "run.h"
#include "sign.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

typedef struct sg_published {
	char *statement;       /* the exact bytes of statement.json (NUL-terminated) */
	size_t statement_len;
	char *envelope;        /* the exact bytes of verdict.dsse.json (NUL-terminated) */
	size_t envelope_len;
	char *statement_path;
	char *verdict_path;
	char *vsa_path;        /* NULL unless a VSA was asked for */
} sg_published;

/* Write statement.json, verdict.dsse.json and (vsa) vsa.dsse.json into run->out_dir,
 * removing any verdict of an earlier run first, so that an old verdict never sits beside
 * this run's statement. out may be NULL; otherwise it receives the bytes and paths (free
 * with sg_published_free, also after a failure). */
int sg_publish_verdict(const sg_run *run, const cJSON *statement, const sg_key *key, bool vsa,
		       sg_published *out, sg_error *err);
void sg_published_free(sg_published *p);

/* Refuse a private key that the job's steps could read: in the workspace, a mount of the
 * job, its rootfs, or the host directories the default root shows. `what` names the key
 * in the message ("--key", "default signing key"). SG_ERR_USAGE. */
int sg_key_check_hidden(const sg_job *job, const char *what, const char *key_path, sg_error *err);

#endif
