/* serve.h: `shipgate serve`, a local daemon that runs jobs for the users who ask it
 * (docs/serve.md).
 *
 * One process, one poll loop, no threads: it accepts clients on a unix socket, learns
 * who each one is from the kernel (SO_PEERCRED, SO_PEERGROUPS), reads requests as JSON
 * lines, and runs each job in a worker process of its own that has taken the client's
 * uid, gid and groups before it opens anything of the job. The daemon never opens a
 * path a client names; it only carries the worker's events and result back.
 */
#ifndef SHIPGATE_SERVE_H
#define SHIPGATE_SERVE_H

#include "cgroup.h"

#include <shipgate/error.h>

struct cJSON;

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SG_SERVE_LINE_MAX (1u << 20)        /* a request line, newline excluded */
#define SG_SERVE_CLIENT_OUT_MAX (32u << 20) /* output a connection holds before it is dropped */
#define SG_SERVE_CLIENT_OUT_LOW (1u << 20)  /* unread output over this: its requests wait */
#define SG_SERVE_RESULT_FIELD_MAX (64u << 10) /* a result's field but the envelope */
#define SG_SERVE_PIPE_LINGER_MS 200       /* a reaped worker's pipe: read for at most */
#define SG_SERVE_REQUEST_MAX (8u << 20)     /* a request as the worker reads it: the
					     * inline job, escaped, and the paths */

/* What one uid may take of the daemon (options, docs/serve.md): no uid can starve
 * another nor grow the daemon without bound. */
#define SG_SERVE_DEFAULT_CONNS_PER_UID 64
#define SG_SERVE_DEFAULT_QUEUED_PER_UID 64          /* jobs waiting for a slot */
#define SG_SERVE_DEFAULT_QUEUED_BYTES_PER_UID (16u << 20) /* inline jobs' text, queued */
#define SG_SERVE_DEFAULT_ENDED_PER_UID 1000         /* ended jobs remembered */
#define SG_SERVE_DEFAULT_KEPT_BYTES_PER_UID (64u << 20) /* events and envelopes of them */
#define SG_SERVE_DEFAULT_EVENTS_BYTES (1u << 20)    /* events kept per job for replay */
#define SG_SERVE_DEFAULT_ENVELOPE_BYTES (8u << 20)  /* a verdict carried; larger: ERROR */
#define SG_SERVE_DEFAULT_OUTPUT_BYTES_PER_UID (64u << 20) /* replies held for its connections */

/* A delegated cgroup, once its worker is gone (serve_cgroup.c): the client may have
 * built anything below it. Walks go down by descriptor, never by path, at most this
 * deep and through at most this many directories; what they cannot finish is tried
 * again later, a drain waits for it at most SG_SERVE_DRAIN_CLEANUP_MS. */
#define SG_SERVE_CG_DEPTH_MAX 200
#define SG_SERVE_CG_VISIT_MAX 20000
#define SG_SERVE_CG_KILL_AFTER_MS 5000   /* after the worker is reaped */
#define SG_SERVE_CG_RETRY_MAX_MS 60000   /* retries back off up to this */
#define SG_SERVE_DRAIN_CLEANUP_MS 10000  /* after the drain's SIGKILL */

/* The delegated cgroup of a job carries the job's own memory and pids limits (plus a
 * margin for the worker itself): a process the client moves into a cgroup it makes
 * below counts against them. The worker, once it has read the job, asks the daemon
 * for them ({"worker":"limits",...}) and runs nothing until it sees them in place. */
#define SG_SERVE_DELEG_MEMORY_MARGIN_MB 64
#define SG_SERVE_DELEG_PIDS_MARGIN 16
/* pids.max takes at most the kernel's PID_MAX_LIMIT (no more processes can exist): the
 * job's pids and the margin are clamped to it, a larger value is EINVAL */
#define SG_SERVE_PID_MAX_LIMIT 4194304u
#define SG_SERVE_DELEG_LIMITS_WAIT_MS 5000

/* Give the tree back to the daemon (owner root again); kill every process listed in
 * any of its cgroup.procs; remove it, deepest first. 0 when done, -1 when something is
 * left (a busy cgroup, a tree past the bounds). */
int sg_serve_cgroup_revoke(const char *dir);
int sg_serve_cgroup_kill(const char *dir);
int sg_serve_cgroup_remove(const char *dir);
/* Kill every process in a cgroup (any hierarchy, any depth) with `name` in its path;
 * how many were killed, -1 if /proc cannot be read. */
int sg_serve_cgroup_kill_by_name(const char *name);

typedef struct sg_serve_options {
	const char *socket_path;
	unsigned max_jobs;     /* jobs running at once */
	unsigned max_running_per_uid; /* of them, one uid's (default: max_jobs) */
	unsigned grace_s;      /* after SIGTERM: how long running jobs may go on */
	unsigned max_conns_per_uid; /* connections open at once, per uid */
	unsigned max_queued_per_uid;
	uint64_t max_queued_bytes_per_uid;
	unsigned max_ended_per_uid;
	uint64_t max_kept_bytes_per_uid;
	uint64_t max_events_bytes;  /* per job */
	uint64_t max_envelope_bytes;
	uint64_t max_output_bytes_per_uid; /* output held for all of a uid's connections */
	uint64_t max_job_memory_mb; /* ceiling on a job's limits.memory_mb (0: none) */
	uint64_t max_job_pids;      /* ceiling on a job's limits.pids (0: none) */
	bool quiet;
} sg_serve_options;

/* A request line (newline excluded) before it is parsed (serve_line.c; pure): valid
 * UTF-8, no NUL byte, no escaped NUL (\u0000) in a string. -1 with err saying why. */
int sg_serve_request_line_check(const char *line, size_t len, sg_error *err);
/* Whether s is valid UTF-8; if not, *bad_at (if given) is the offset of the first bad byte. */
bool sg_serve_utf8_valid(const char *s, size_t len, size_t *bad_at);
/* Every string value in the tree made valid UTF-8 (U+FFFD for what is not). */
void sg_serve_json_sanitize(struct cJSON *item);

/* Run the daemon until SIGTERM/SIGINT has drained it. Returns the exit code. */
int sg_serve_main(const sg_serve_options *opts);

/* ---- the worker (serve_worker.c) ---------------------------------------------------- */

/* The worker is a fresh image of this program (`shipgate serve --worker ID`), exec'd by
 * a fork of the daemon before it is anything of the client's: it starts with these fds
 * and nothing else of the daemon's (no memory, no environment but a minimal one). */
#define SG_SERVE_WORKER_EVENTS_FD 3  /* write end of the pipe back to the daemon */
#define SG_SERVE_WORKER_REQUEST_FD 4 /* the request (a memfd), read then closed */

/* What a worker needs: the request as the client gave it, and who the client is. */
typedef struct sg_serve_request {
	const char *id;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;   /* the client's supplementary groups (SO_PEERGROUPS) */
	size_t n_groups;
	bool groups_known;     /* else looked up with getgrouplist() */
	const char *job_path;  /* a job file, or */
	const char *job_json;  /* inline job text, with */
	size_t job_json_len;
	const char *workspace; /* the directory its paths are relative to */
	const char *out_dir;   /* NULL: the default */
	const char *key_path;  /* NULL: the user's default key */
	bool allow_weaker, vsa, no_trace;
	const char *tmp_dir;   /* TMPDIR for the job (made by the daemon, owned by uid) */
	char *const *cgroup_procs; /* cgroup.procs files to join before dropping, NULL-ended */
	uint64_t max_job_memory_mb; /* the daemon's ceilings on the job's limits (0: none) */
	uint64_t max_job_pids;
	pid_t daemon_pid;      /* the worker's parent: if it is gone, so is the job */
} sg_serve_request;

/* The request as the daemon hands it to the worker (one JSON object; pure). */
char *sg_serve_request_to_json(const sg_serve_request *req);
/* Read it back; the strings point into *tree, which the caller keeps. */
int sg_serve_request_from_json(const char *text, size_t len, sg_serve_request *req, struct cJSON **tree,
			       sg_error *err);

/* `shipgate serve --worker ID`: read the request from fd 4, join the cgroups, become the
 * client, run the job, write events then one result line to fd 3. Never returns. */
__attribute__((noreturn)) void sg_serve_worker_main(void);

#endif
