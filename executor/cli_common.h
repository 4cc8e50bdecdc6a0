/* cli_common.h: what the command-line faces share: signal handling, JSON output, temp
 * directories, the mapping of sandbox outcomes to exit codes. */
#ifndef SHIPGATE_CLI_COMMON_H
#define SHIPGATE_CLI_COMMON_H

#include "decide.h"
#include "job.h"
#include "run.h"
#include "sandbox.h"
#include "sign.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

/* Set when SIGINT, SIGTERM or SIGHUP reached shipgate. */
extern volatile int sg_cli_interrupted;
/* Catch SIGINT/SIGTERM/SIGHUP (so that the sandbox is torn down, not abandoned) and
 * ignore SIGPIPE. */
void sg_cli_install_signals(void);

/* Write JSON (pretty, trailing newline) to path, or to stdout if path is "-". */
int sg_cli_write_json(const char *path, const cJSON *json);

/* A fresh private directory under $TMPDIR (or /tmp), "shipgate-PREFIX-XXXXXX". */
char *sg_cli_make_temp_dir(const char *prefix, sg_error *err);

/* exec's exit code: the command's own, 128+N for signal N, 125 setup error, 126 not
 * executable, 127 not found; 130/143 when shipgate itself was interrupted. Prints the
 * error, if any, on stderr. */
int sg_cli_exec_status(int rc, const sg_sandbox_result *r, const sg_error *err, bool quiet);

bool sg_cli_stderr_is_tty(void);

/* Shared by `run` and `loop` (cli_run.c). */
typedef struct sg_cli_run_opts {
	const char *out_dir;   /* NULL: JOBDIR/shipgate-out */
	const char *label;     /* prefix of the progress lines, NULL: "shipgate run" */
	bool json, quiet, allow_weaker, vsa, no_trace;
	int events_fd;         /* > 0: stream the events there (docs/events.md); 0: none */
	const char *events_id; /* added to every event as "id" (serve), or NULL */
} sg_cli_run_opts;
/* Run the job, write statement.json and the signed verdict.dsse.json, print progress.
 * Returns run's exit code (0 PASSED, 1 FAILED, 2 usage, 3 infrastructure) and, when it
 * got that far, the result. */
int sg_cli_run_job(const sg_job *job, const sg_cli_run_opts *o, const sg_key *key, sg_run_result *result);
/* --key PATH, or the user's default key (created on first use, said on stderr). */
sg_key *sg_cli_load_signing_key(const sg_job *job, const char *path, char **used, sg_error *err);
/* The trusted public key: --pub PATH or the default key's .pub. */
sg_key *sg_cli_load_trusted_key(const char *pub_path, sg_error *err);
/* .shipgate/ledger.jsonl beside the job file. */
char *sg_cli_ledger_path_for_job(const char *job_path);

/* Shared by `decide` and `loop` (cli_decide.c). */
typedef struct sg_cli_decide_opts {
	const char *verdict;       /* verdict.dsse.json */
	const sg_key *trusted;
	const char *workspace;     /* require the subject to be this directory now, or NULL */
	const char *out_dir;       /* where diagnosis.{json,md} go; NULL: beside the verdict */
	const char *ledger;        /* NULL: beside the job file the statement names */
	bool no_ledger;
	const char *loop_id;
	unsigned attempt;
	const sg_ship_policy *policy;
} sg_cli_decide_opts;
typedef struct sg_cli_decision {
	sg_decision d;
	char *reject;              /* why the verdict was not trusted (or unreadable) */
	char *seen_note;           /* what the ledger knew of this failure */
	char *ledger_warning;      /* why the ledger was not read or not written, NULL if it was */
	char *diagnosis_md;
	char workspace_sha256[65];
} sg_cli_decision;
/* 0 SHIP, 1 DIAGNOSE, 2 unreadable input, 3 REJECTED (reject says why). */
int sg_cli_decide_verdict(const sg_cli_decide_opts *o, sg_cli_decision *out);
void sg_cli_decision_free(sg_cli_decision *d);


#endif
