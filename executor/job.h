/* job.h: the job file (CONTRACT.md, "Job file"), parsed strictly into memory.
 *
 * Pure code: reads one file, validates every key and type, resolves paths against the
 * job file's directory and refuses any that escape it. Unknown keys, wrong types,
 * missing fields, empty `run`, negative limits, a workspace or mount source that does
 * not exist or escapes via `..` or a symlink: each is an SG_ERR_USAGE error whose
 * message starts with the file name and the JSON path at fault, e.g.
 *   "job.json: steps[2].run: expected a non-empty string or array of strings".
 */
#ifndef SHIPGATE_JOB_H
#define SHIPGATE_JOB_H

#include "rootfs.h"

#include <shipgate/error.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A job file larger than this is refused before it is parsed. */
#define SG_JOB_MAX_BYTES (1024u * 1024u)

typedef enum sg_net_mode { SG_NET_NONE = 0, SG_NET_LOOPBACK, SG_NET_HOST } sg_net_mode;
const char *sg_net_mode_name(sg_net_mode mode);
int sg_net_mode_parse(const char *s, sg_net_mode *out);

/* Limits applied to each step. 0 means "no limit" only where said. */
typedef struct sg_limits {
	uint64_t memory_mb;  /* default 2048; 0 = no memory limit */
	uint64_t pids;       /* default 1024; 0 = no pids limit */
	double cpus;         /* default 0 = no cpu limit; else > 0, e.g. 0.5 */
	uint64_t timeout_s;  /* default 600; must be > 0 */
	uint64_t output_kb;  /* default 1024: kept of stdout and of stderr, each */
	uint64_t tmp_mb;     /* default 512: size of the sandbox's /tmp */
	uint64_t scratch_mb; /* default 8192: what the steps may write into the workspace's
				copy-on-write layer (checked every second; the step is killed) */
} sg_limits;
void sg_limits_default(sg_limits *l);

typedef struct sg_mount_spec {
	char *source;  /* absolute, canonical host path */
	char *target;  /* absolute path inside the sandbox, normalised, not "/" */
	bool readonly; /* default true */
} sg_mount_spec;

typedef enum sg_tests_format { SG_TESTS_NONE = 0, SG_TESTS_JUNIT, SG_TESTS_TAP } sg_tests_format;

typedef struct sg_tests_spec {
	sg_tests_format format;
	char *path;   /* junit: relative to /workspace, normalised, no "..", NULL for tap */
	uint64_t min; /* default 1 */
} sg_tests_spec;

typedef struct sg_probe_expect {
	bool has_exit;         /* always true for a run probe, false for an http probe */
	int exit_code;         /* 0..255; default 0 for a run probe */
	char *stdout_contains; /* NULL if absent */
	char *stdout_matches;  /* POSIX extended regex, validated with regcomp; NULL if absent */
	int http_status;       /* 100..599 (http probes only); 0 if absent: any 2xx passes */
} sg_probe_expect;
/* For an http probe, stdout_contains and stdout_matches apply to the response body. */

typedef struct sg_probe_spec {
	char *name;
	char **argv; /* NULL-terminated; a string `run` becomes {"/bin/sh","-c",s,NULL} */
	char *http_get; /* alternative to argv: "http://127.0.0.1:PORT/path"; NULL if absent */
	sg_probe_expect expect;
	uint64_t timeout_s; /* default 10 */
} sg_probe_spec;

typedef struct sg_ready_spec {
	int tcp_port;     /* 0 if absent */
	char *http_get;   /* URL on 127.0.0.1 / localhost, NULL if absent; ready on a 2xx */
	char **argv;      /* command that must exit 0, NULL if absent */
	uint64_t timeout_s; /* default 10 */
} sg_ready_spec;

typedef struct sg_service_spec {
	sg_ready_spec ready;
	sg_probe_spec *probes;
	size_t n_probes;
	uint64_t stop_grace_s; /* default 5 */
} sg_service_spec;

typedef struct sg_step {
	char *name;       /* unique within the job, [A-Za-z0-9._-]{1,64} */
	char **argv;      /* NULL-terminated, at least one element */
	char *run_display;/* the `run` as written, for humans: the string or argv joined */
	bool run_is_shell;/* `run` was a string */
	uint64_t timeout_s; /* 0 = the job's limits.timeout_s */
	char *policy;     /* NULL = the job's policy */
	bool has_tests;
	sg_tests_spec tests;
	sg_service_spec *service; /* NULL if not a service step (never with has_tests) */
	uint64_t repeat;  /* default 1 */
} sg_step;

typedef struct sg_job {
	char *path;       /* absolute path of the job file (its directory canonical; a
			   * symlinked job file is not followed) */
	char *dir;        /* canonical directory of the job file */
	char *name;
	char *workspace;  /* absolute, canonical host directory (default: the job dir) */
	char *rootfs;     /* "host" or an absolute, canonical directory (for an image: its
			   * root/ in the cache) */
	sg_rootfs_image *rootfs_image; /* the built image `rootfs` named; NULL for "host" or a
					* directory */
	char *policy;     /* "default", another shipped name, or an absolute file path
			   * (a name is not looked up here: sg_policy_load does that) */
	sg_net_mode network;   /* default loopback */
	bool network_set;      /* `network` was given: it wins over a policy's own network */
	char **env;       /* NULL-terminated "KEY=VALUE" strings from `env`, file order */
	size_t n_env;
	sg_limits limits;
	sg_mount_spec *mounts;
	size_t n_mounts;
	sg_step *steps;
	size_t n_steps;
	char **protect;   /* NULL-terminated globs relative to the workspace, may be empty */
	size_t n_protect;
	bool allow_weaker_isolation; /* default false: fail closed */
	char sha256[65];  /* hex sha256 of the exact bytes of the file */
} sg_job;

/* Parse a job file (at most SG_JOB_MAX_BYTES). On error returns NULL and sets err
 * (kind SG_ERR_USAGE). Relative paths in the file are resolved against the directory of
 * `path`, which must exist; the files they name are checked now (existence, type). */
sg_job *sg_job_load(const char *path, sg_error *err);
/* Read a job file's bytes: a regular file of at most SG_JOB_MAX_BYTES (one byte more
 * when it grew while read: sg_job_parse refuses that). *data is malloc'd. */
int sg_job_read(const char *path, char **data, size_t *len, sg_error *err);
/* Parse job bytes as if they came from `path` (used by tests and the API). */
sg_job *sg_job_parse(const char *path, const char *data, size_t len, sg_error *err);
void sg_job_free(sg_job *job);

/* Effective timeout of a step in seconds: its own timeout_s, else limits.timeout_s. */
uint64_t sg_step_timeout_s(const sg_job *job, const sg_step *step);

#endif
