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
	char *statement;       /* the exact bytes of statement.json (NUL-terminated); NULL
				* after sg_publish_verdict, which writes it in pieces */
	size_t statement_len;  /* set once statement.json is whole (never empty) */
	char *envelope;        /* the exact bytes of verdict.dsse.json (NUL-terminated); NULL
				* after sg_publish_verdict, which writes it in pieces */
	size_t envelope_len;
	char *statement_path;
	char *verdict_path;
	char *vsa_path;        /* NULL unless a VSA was asked for */
} sg_published;

/* Write statement.json (as sg_verdict_statement_write makes it), verdict.dsse.json and
 * (vsa) vsa.dsse.json into run->out_dir, removing any verdict of an earlier run first,
 * so that an old verdict never sits beside this run's statement; neither file is ever
 * whole in memory. out may be NULL; otherwise it receives the paths and the statement's
 * length (free with sg_published_free, also after a failure). */
int sg_publish_verdict(const sg_run *run, const sg_key *key, bool vsa, sg_published *out, sg_error *err);
void sg_published_free(sg_published *p);

/* What a run came to, for the faces that do not print the run itself (the API, the
 * daemon's workers). */
typedef struct sg_run_outcome {
	sg_run_result result;
	bool interrupted;
	char *reason;
	char *out_dir;
	sg_published pub;
} sg_run_outcome;

struct sg_event_sink;

/* Run the job, write its verdict (sg_publish_verdict) and tell the sink (NULL: none)
 * every event, including `error` when there is no verdict. ro->events is replaced by
 * the sink's hooks. Returns 0 with out filled (out->pub.envelope: verdict.dsse.json's
 * bytes, read back; out->pub.statement stays NULL); -1 with err set when nothing could
 * run or the verdict could not be written. Free out with sg_run_outcome_free either way. */
int sg_run_and_publish(const sg_job *job, const sg_key *key, const sg_run_options *ro, bool vsa,
		       struct sg_event_sink *sink, sg_run_outcome *out, sg_error *err);
void sg_run_outcome_free(sg_run_outcome *o);

/* shipgate's own state on this host, which no sandbox may write or read: the default
 * signing key's directory (a command that writes there plants the key `run` and `loop`
 * sign with; one that reads it can forge verdicts) and shipgate's cache dir, whose root
 * filesystem images a verdict names by digest. Both resolved as far as they
 * exist (sg_realpath_partial), NULL where the environment names none. Free both. */
typedef struct sg_own_state {
	char *key_dir;
	char *image_dir;
} sg_own_state;
void sg_own_state_find(sg_own_state *s);
void sg_own_state_free(sg_own_state *s);
/* Refuse to give a sandbox the host directory dir (the job's "what"): writable, when it
 * holds either or lies in either; read-only, when it holds the key's directory or lies in
 * it. SG_ERR_USAGE naming what and the path. */
int sg_own_state_check(const sg_own_state *s, const char *what, const char *dir, bool writable, sg_error *err);
/* The same for a workspace: one the command writes on the host (exec without --cow) as a
 * writable mount; a copy-on-write one may hold shipgate's state (it is hidden, see
 * sg_own_state_hidden) but not lie in the key's directory. */
int sg_own_state_check_workspace(const sg_own_state *s, const char *what, const char *ws, bool writes_host,
				 sg_error *err);
/* What of shipgate's state exists below the canonical directory ws: its paths relative to
 * ws, NULL-terminated in hide[3] (free each). */
void sg_own_state_hidden(const sg_own_state *s, const char *ws, char *hide[3]);

/* Refuse a private key that the job's steps could read: in the workspace, a mount of the
 * job, its rootfs, or the host directories the default root shows. `what` names the key
 * in the message ("--key", "default signing key"). SG_ERR_USAGE. */
int sg_key_check_hidden(const sg_job *job, const char *what, const char *key_path, sg_error *err);
/* The same for a key read from a descriptor (`run --key-fd`): a pipe, a socket or a file
 * with no name left passes; anything with a path (a regular file, a named FIFO, a device)
 * is checked at the file it refers to (/proc/self/fd), which must still be found by that
 * name (same st_dev/st_ino) and have a single hard link. SG_ERR_USAGE. */
int sg_key_check_hidden_fd(const sg_job *job, const char *what, int fd, sg_error *err);

#endif
