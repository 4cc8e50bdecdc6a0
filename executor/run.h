/* run.h: running a job: its steps in order, each in a fresh sandbox over one shared
 * copy-on-write scratch layer, then the evidence that becomes the verdict.
 *
 * The run context (sg_run) holds everything one job run produces; the statement builder
 * (verdict.c) turns it into the in-toto statement without touching the system. */
#ifndef SHIPGATE_RUN_H
#define SHIPGATE_RUN_H

#include "changes.h"
#include "evidence.h"
#include "job.h"
#include "policy.h"
#include "sandbox.h"
#include "service.h"
#include "steptests.h"

#include <cjson/cJSON.h>

/* One run of a repeated step, summed up (the figures of its sandbox result only: no
 * tails, no trace). */
typedef struct sg_step_run_summary {
	sg_step_status status;
	bool ran;
	sg_sandbox_result result;
	bool has_tests;
	uint64_t total, passed, failed, skipped;
} sg_step_run_summary;

typedef struct sg_step_record {
	const sg_step *step;
	sg_step_status status;
	char *reason;            /* one line, for humans and the diagnosis */
	bool ran;                /* a sandbox was started for it */
	sg_sandbox_result result;
	char *policy_name;       /* the policy the step ran under */
	char *policy_sha256;
	sg_service_run *service; /* service steps: readiness and probes */
	sg_step_tests *tests;     /* steps with `tests` */
	unsigned run;             /* which run the evidence above is from (1-based) */
	/* steps with repeat > 1: */
	sg_step_run_summary *runs; /* every run, in order */
	unsigned n_runs;
	char **flaky;             /* the tests whose results differed between runs, sorted */
	size_t n_flaky;
} sg_step_record;

typedef enum sg_run_result { SG_RESULT_PASSED = 0, SG_RESULT_FAILED, SG_RESULT_ERROR } sg_run_result;
const char *sg_run_result_name(sg_run_result r);

struct sg_run;

/* Progress callbacks, all optional. */
typedef struct sg_run_events {
	void (*step_started)(void *ctx, size_t index, const sg_step *step);
	void (*step_finished)(void *ctx, size_t index, const sg_step_record *rec);
	void *ctx;
	/* everything is checked and prepared, the first step is about to start */
	void (*job_started)(void *ctx, const struct sg_run *run);
	/* a service step's readiness check passed (called from the supervision loop) */
	void (*service_ready)(void *ctx, size_t index, const sg_step_record *rec);
} sg_run_events;

typedef struct sg_run_options {
	const char *out_dir;       /* NULL: shipgate-out/ beside the job file */
	bool allow_weaker;         /* also accepted from the job's allow_weaker_isolation */
	bool no_trace;             /* do not write the runtime trace (it is on by default) */
	const sg_run_events *events;
	volatile int *interrupted; /* checked between steps and, while a step runs, by the
				    * supervisor (every 250 ms at most) */
	bool leave_signals;        /* do not catch SIGINT/SIGTERM/SIGHUP while a step runs
				    * (the library's callers keep their signals) */
} sg_run_options;

typedef struct sg_run {
	const sg_job *job;
	char *out_dir;
	char *scratch_dir;         /* removed when the run is freed */
	int out_lock;              /* the out dir's lock, as fd + 1 (0: none) */
	int tails;                 /* the steps' output tails (tail_spill), as fd + 1 (0: none) */
	uint64_t tails_len;
	sg_policy *policy;         /* the job's policy */
	sg_policy **step_policies; /* [n_steps]: a step's own policy, or NULL (loaded once) */
	sg_step_record *steps;
	size_t n_steps;
	sg_run_result result;
	char *reason;
	char started[40], finished[40];
	char subject_sha256[65];
	char *subject_excludes[4]; /* relative paths left out of the digest, NULL-terminated */
	char *hide[8];             /* what the steps do not see below /workspace (borrowed) */
	char *hide_own[3];         /* shipgate's own state in the workspace (owned; in hide) */
	sg_enforced enforced;      /* of the first step that ran */
	bool enforced_known;
	char *enforced_identity;
	char *kernel;
	char *cgroup_layout;
	cJSON *os_release;         /* ID, VERSION_ID, PRETTY_NAME of the root the steps saw */
	bool rootless;
	bool interrupted;
	sg_changes changes;        /* what the steps wrote into /workspace */
	sg_protect_dirs protect_dirs; /* the directories above protected paths, before the job */
	bool changes_known;
	char **mount_digests;      /* per job mount, before the job */
	bool mounts_intact;
	char *mount_changed;       /* the target of the first mount that changed */
	const sg_run_events *events; /* the caller's hooks (opts->events), or NULL */
	bool leave_signals;        /* opts->leave_signals */
} sg_run;

/* Run the job. Returns 0 when a verdict could be formed (PASSED, FAILED or ERROR, see
 * run->result), -1 with err set when nothing could be run (bad policy, out dir). */
int sg_run_job(const sg_job *job, const sg_run_options *opts, sg_run *run, sg_error *err);
void sg_run_free(sg_run *run);

/* The in-toto Statement v1 of a finished run, as the bytes of statement.json (cJSON's
 * printed format, with a final newline), written through sink in pieces of up to 64 KiB:
 * never whole in memory, nor as one tree (pure but for the sink). Returns 0, or the
 * sink's first negative return (ENOMEM as -ENOMEM); *len (may be NULL) gets the length. */
typedef int (*sg_statement_sink)(void *ctx, const void *data, size_t len);
int sg_verdict_statement_write(const sg_run *run, sg_statement_sink sink, void *ctx, uint64_t *len);
/* A sink that writes to the file descriptor *(int *)fd. */
int sg_statement_sink_fd(void *fd, const void *data, size_t len);

#define SG_PREDICATE_TYPE "https://shipgate.dev/verdict/v1"
#define SG_STATEMENT_TYPE "https://in-toto.io/Statement/v1"

#endif
