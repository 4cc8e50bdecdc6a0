/* shipgate/shipgate.h: libshipgate, the C API that orchestrators call.
 *
 *     sg_job_t *job = sg_job_open("job.json", &err);
 *     sg_key_t *key = sg_key_open_private("shipgate.key", &err);
 *     sg_run_config cfg = SG_RUN_CONFIG_INIT;
 *     cfg.on_event = print_event;                 // one JSON object per event
 *     sg_result_t *res = sg_job_run(job, key, &cfg, &err);
 *     size_t len;
 *     const char *envelope = sg_result_get_envelope(res, &len);   // verdict.dsse.json
 *     sg_verified_t *v = sg_verify_envelope(envelope, len, trusted, &err);
 *     sg_decision_t *d = sg_verified_decide(v, 0);                // SHIP or DIAGNOSE
 *
 * Everything here is stable within one SHIPGATE_API_VERSION (docs/api.md says exactly
 * what that promises); everything else in the library is internal and hidden.
 *
 * Handles are opaque. Each is created by one call and released by its _close call;
 * strings and bytes a getter returns belong to the handle and live as long as it.
 * A call that can fail takes `sg_error *err` last (shipgate/error.h), returns NULL or
 * a negative value on failure and fills err with a kind and a sentence.
 *
 * No global state: the library keeps nothing between calls, installs no signal
 * handlers and reads no configuration but the environment documented in docs/api.md.
 * Calls on different handles may run in different threads at once; one handle is used
 * by one thread at a time, except that a job handle may be run by several threads at
 * once if each run has its own out dir.
 */
#ifndef SHIPGATE_SHIPGATE_H
#define SHIPGATE_SHIPGATE_H

#include <shipgate/error.h>
#include <shipgate/export.h>

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this API. A program built against version N runs with a library of
 * the same N (the library's SONAME carries it: libshipgate.so.N); additions that keep
 * every existing call, struct layout and meaning do not change it. */
#define SHIPGATE_API_VERSION 1

/* The API version of the library actually loaded; compare with SHIPGATE_API_VERSION. */
SG_API int sg_api_version(void);
/* shipgate's release, "MAJOR.MINOR.PATCH" (the executor version in every verdict). */
SG_API const char *sg_version(void);

typedef struct sg_api_job sg_job_t;
typedef struct sg_api_key sg_key_t;
typedef struct sg_api_result sg_result_t;
typedef struct sg_api_verified sg_verified_t;
typedef struct sg_api_decision sg_decision_t;

/* ---- jobs ------------------------------------------------------------------------ */

/* A job file (docs/job-file.md), parsed and checked strictly: on a bad file NULL with
 * SG_ERR_USAGE and a message naming the file and the JSON path at fault. The handle
 * keeps the bytes read here: they are what sg_job_run runs, whatever becomes of the
 * file; its directory is resolved here too. */
SG_API sg_job_t *sg_job_open(const char *path, sg_error *err);
/* The same from JSON text: len bytes (no NUL needed), paths in it relative to base_dir,
 * which must exist. The job's path (in the statement and in messages) is
 * BASE_DIR/<inline job>. */
SG_API sg_job_t *sg_job_from_json(const char *json, size_t len, const char *base_dir, sg_error *err);
SG_API void sg_job_close(sg_job_t *job);

SG_API const char *sg_job_get_name(const sg_job_t *job);
SG_API const char *sg_job_get_path(const sg_job_t *job);      /* absolute */
SG_API const char *sg_job_get_workspace(const sg_job_t *job); /* absolute, canonical */
SG_API const char *sg_job_get_sha256(const sg_job_t *job);    /* of the exact bytes */
SG_API size_t sg_job_get_step_count(const sg_job_t *job);
SG_API const char *sg_job_get_step_name(const sg_job_t *job, size_t index); /* NULL past the end */

/* ---- keys (Ed25519, PEM; docs/verdict.md) ------------------------------------------ */

/* A private key (PKCS#8 PEM) that signs verdicts. path is resolved here (absolute,
 * canonical): that file is the one sg_job_run checks no step can read. */
SG_API sg_key_t *sg_key_open_private(const char *path, sg_error *err);
/* A public key (SPKI PEM) that verdicts are checked against. */
SG_API sg_key_t *sg_key_open_public(const char *path, sg_error *err);
/* The private key the user's `shipgate run` signs with ($XDG_STATE_HOME/shipgate, else
 * ~/.local/state/shipgate), created there first if create and there is none. */
SG_API sg_key_t *sg_key_open_default(bool create, sg_error *err);
SG_API void sg_key_close(sg_key_t *key);
/* "SHA256:..." as `ssh-keygen -lf` prints it. */
SG_API const char *sg_key_get_id(const sg_key_t *key);

/* ---- running a job ----------------------------------------------------------------- */

/* Progress events: kind, and the event as one JSON object (no newline), the same text
 * `shipgate run --events` writes; docs/events.md is the schema. Called in the thread
 * that runs the job, between steps or from the step's supervision loop: return quickly,
 * and do not call back into the same run. */
typedef enum sg_event_kind {
	SG_EVENT_JOB_STARTED = 1,
	SG_EVENT_STEP_STARTED,
	SG_EVENT_STEP_FINISHED,
	SG_EVENT_TESTS,
	SG_EVENT_SERVICE_READY,
	SG_EVENT_VIOLATION,
	SG_EVENT_VERDICT_WRITTEN,
	SG_EVENT_ERROR,
} sg_event_kind;
typedef void (*sg_event_fn)(void *ctx, sg_event_kind kind, const char *json, size_t len);

/* size must be set (SG_RUN_CONFIG_INIT does): sizeof(sg_run_config) as the caller was
 * built with, at least SG_RUN_CONFIG_SIZE_V1. sg_job_run refuses a config whose size is 0
 * or less (SG_ERR_USAGE) rather than guess: a struct cleared with memset and filled in
 * field by field would otherwise run with none of its fields. */
typedef struct sg_run_config {
	size_t size;               /* sizeof(sg_run_config) as the caller knows it */
	const char *out_dir;       /* NULL: shipgate-out/ beside the job file */
	bool allow_weaker;         /* run even if a limit cannot be enforced (recorded) */
	bool vsa;                  /* also write vsa.dsse.json */
	/* Set *interrupted non-zero (from any thread or a signal handler) to stop: the
	 * running step's sandbox is killed within a quarter of a second, the rest is not
	 * run, and the verdict says ERROR (interrupted). NULL: cannot be interrupted. */
	volatile int *interrupted;
	sg_event_fn on_event;      /* NULL: no events */
	void *event_ctx;
	bool no_trace;             /* do not write the runtime trace (`run --no-trace`) */
	/* new fields are added here, at the end, and default to zero */
} sg_run_config;
#define SG_RUN_CONFIG_INIT { .size = sizeof(sg_run_config) }
/* The size of the first sg_run_config of API version 1 (through event_ctx): the smallest
 * size sg_job_run accepts. */
#define SG_RUN_CONFIG_SIZE_V1 (offsetof(sg_run_config, event_ctx) + sizeof(void *))

typedef enum sg_outcome {
	SG_OUTCOME_PASSED = 0,  /* every step passed */
	SG_OUTCOME_FAILED = 1,  /* the candidate failed */
	SG_OUTCOME_ERROR = 2,   /* infrastructure: the sandbox could not run it as asked */
} sg_outcome;

/* Run the job's steps, each in a fresh sandbox, and write the out dir: statement.json,
 * verdict.dsse.json signed with key (a private key, which must lie where no step can
 * read it), logs/. Blocks until the job is done. cfg may be NULL for the defaults.
 * The job runs in a `shipgate run` process of its own, started with posix_spawn from
 * the `shipgate` installed beside the library (docs/api.md, "Threads": a threaded
 * program cannot clone sandboxes itself safely); events come back over a pipe.
 * A cfg whose size is below SG_RUN_CONFIG_SIZE_V1 (0: never set) is refused with
 * SG_ERR_USAGE before anything runs.
 * Returns the result whatever the candidate did (PASSED, FAILED or ERROR); NULL when
 * nothing could be run or the verdict could not be written, with err's kind saying
 * whose fault it was: SG_ERR_USAGE or SG_ERR_INPUT (the job, the key: `shipgate run`
 * exits 2), anything else (infrastructure: exit 3). */
SG_API sg_result_t *sg_job_run(const sg_job_t *job, const sg_key_t *key, const sg_run_config *cfg,
			       sg_error *err);
SG_API void sg_result_close(sg_result_t *res);

SG_API sg_outcome sg_result_get_outcome(const sg_result_t *res);
SG_API const char *sg_result_get_reason(const sg_result_t *res);  /* one line */
SG_API bool sg_result_get_interrupted(const sg_result_t *res);
/* The in-toto statement, byte for byte statement.json (and the envelope's payload). */
SG_API const char *sg_result_get_statement(const sg_result_t *res, size_t *len);
/* The signed verdict, byte for byte verdict.dsse.json. */
SG_API const char *sg_result_get_envelope(const sg_result_t *res, size_t *len);
SG_API const char *sg_result_get_out_dir(const sg_result_t *res);
SG_API const char *sg_result_get_verdict_path(const sg_result_t *res);
/* The exit code `shipgate run` would have: 0 PASSED, 1 FAILED, 3 ERROR. */
SG_API int sg_result_get_exit_code(const sg_result_t *res);

/* ---- verifying a verdict ------------------------------------------------------------ */

/* Check an envelope (the bytes of verdict.dsse.json) against the trusted public key,
 * then that its payload is a shipgate verdict. Nothing in the payload is read before
 * the signature checks out. SG_ERR_VERIFY: not validly signed by the trusted key;
 * SG_ERR_INPUT: malformed. */
SG_API sg_verified_t *sg_verify_envelope(const void *envelope, size_t len, const sg_key_t *trusted,
					 sg_error *err);
SG_API sg_verified_t *sg_verify_file(const char *path, const sg_key_t *trusted, sg_error *err);
/* Is dir, as it is now, the tree the verdict is about? 0 if so; SG_ERR_VERIFY with both
 * digests when not; SG_ERR_INPUT when dir cannot be read. */
SG_API int sg_verified_check_workspace(const sg_verified_t *v, const char *dir, sg_error *err);
SG_API void sg_verified_close(sg_verified_t *v);

/* The signed statement (the envelope's payload, byte for byte: for a verdict of
 * `shipgate run`, statement.json), "PASSED"/"FAILED"/"ERROR", the subject's hex sha256,
 * and the id of the key that signed it. */
SG_API const char *sg_verified_get_statement(const sg_verified_t *v, size_t *len);
SG_API const char *sg_verified_get_result(const sg_verified_t *v);
SG_API const char *sg_verified_get_subject(const sg_verified_t *v);
SG_API const char *sg_verified_get_keyid(const sg_verified_t *v);

/* ---- deciding ---------------------------------------------------------------------- */

/* The ship policy is strict by default; each flag relaxes one requirement. */
#define SG_SHIP_ALLOW_VIOLATIONS 0x01u       /* ship with recorded violations */
#define SG_SHIP_ALLOW_NO_SECCOMP 0x02u
#define SG_SHIP_ALLOW_NO_NAMESPACES 0x04u
#define SG_SHIP_ALLOW_NEW_PRIVS 0x08u
#define SG_SHIP_ALLOW_CAPS 0x10u
#define SG_SHIP_ALLOW_NO_MEMORY_LIMIT 0x20u
#define SG_SHIP_ALLOW_NO_PIDS_LIMIT 0x40u

typedef enum sg_decision_kind_t { SG_DECIDE_SHIP = 0, SG_DECIDE_DIAGNOSE = 1 } sg_decision_kind_t;

/* `shipgate decide` on a verified verdict: SHIP, or DIAGNOSE with the diagnosis. Pure:
 * it writes no file and appends to no ledger. Never fails (NULL only if v is NULL). */
SG_API sg_decision_t *sg_verified_decide(const sg_verified_t *v, unsigned ship_flags);
SG_API void sg_decision_close(sg_decision_t *d);

SG_API sg_decision_kind_t sg_decision_get_kind(const sg_decision_t *d);
/* "none" for SHIP, else build_failed, tests_failed, no_tests, timeout, oom, crashed,
 * violation, not_ready, probe_failed or infrastructure. */
SG_API const char *sg_decision_get_category(const sg_decision_t *d);
SG_API const char *sg_decision_get_summary(const sg_decision_t *d);
SG_API const char *sg_decision_get_step(const sg_decision_t *d);      /* NULL if none */
SG_API const char *sg_decision_get_next_step(const sg_decision_t *d); /* NULL for SHIP */
SG_API const char *sg_decision_get_signature(const sg_decision_t *d); /* stable across runs */
/* What `decide` writes as diagnosis.json and diagnosis.md. */
SG_API const char *sg_decision_get_json(const sg_decision_t *d);
SG_API const char *sg_decision_get_markdown(const sg_decision_t *d);

#ifdef __cplusplus
}
#endif
#endif
