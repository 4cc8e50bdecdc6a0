/* serve.c: the `shipgate serve` daemon (see serve.h, docs/serve.md).
 *
 * Theory of operation
 * -------------------
 * One poll loop watches: the listening socket, a signalfd (SIGCHLD, SIGTERM, SIGINT,
 * SIGHUP), every client's socket and every running worker's pipe.
 *
 *   client   a connection. Its uid, gid and groups come from the kernel when it is
 *            accepted; it never claims an identity. It sends requests, one JSON object
 *            per line (at most 1 MiB; a longer line is skipped to its end and answered
 *            with an error), and gets one reply line per request, in order, plus the
 *            event lines of the jobs it subscribed to.
 *   job      submitted by a client, owned by its uid for good: only a client of the same
 *            uid can see it, follow it, fetch its verdict or cancel it. Queued until one
 *            of the N slots is free, then run by a worker.
 *   worker   a process of its own (serve_worker.c): a fork of the daemon that at once
 *            execs this program afresh (nothing of the daemon's memory or environment
 *            may reach the client), reads its request from a memfd, takes the client's
 *            identity before it opens anything of the job and runs it as `shipgate run`
 *            would, writing events and finally the verdict's envelope to a pipe. The
 *            job ends when the worker is reaped. For a client that is
 *            not root, a root daemon first makes the job a cgroup below its own, owned
 *            by the client (delegation), so the job's limits are enforced although it
 *            runs rootless (the worker asks for the job's limits on that cgroup too,
 *            once it has read the job); and a TMPDIR of its own for the scratch
 *            layers. Both are removed when the worker is gone, whatever became of it:
 *            the job ends then, and what cannot be removed yet (a client can make a
 *            cgroup hard to remove) is a cleanup, tried again with back-off
 *            (serve_cgroup.c walks it by descriptor).
 *   caps     per uid (serve.h): connections, queued jobs and their inline bytes, ended
 *            jobs remembered and their bytes, events and verdict kept per job. A free
 *            slot goes round robin across uids. No uid can starve another or make the
 *            daemon forget another's jobs.
 *
 * Draining: SIGTERM (or SIGINT) stops new submissions, cancels what is queued, lets the
 * running jobs go on for the grace period, then SIGTERMs their workers (each kills its
 * sandbox and signs an ERROR verdict), and after ten more seconds SIGKILLs what is left;
 * the daemon exits once every worker is reaped and its cgroups and scratch are removed
 * (waiting for the cgroups ten seconds at most).
 */
#include "serve.h"
#include "cli_common.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

typedef enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED } job_state;

static const char *const state_names[] = {"queued", "running", "done", "failed", "cancelled"};

typedef struct client client;
struct serve;

typedef struct serve_job {
	char id[32];
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t n_groups;
	bool groups_known;
	/* the request */
	char *job_path, *job_json, *workspace, *out_dir, *key_path;
	size_t job_json_len;
	bool allow_weaker, vsa, no_trace;
	client *owner;           /* set while cancel_on_disconnect holds */
	/* the run */
	job_state state;
	bool cancel_requested;
	pid_t worker;            /* 0 once reaped */
	int wait_status;
	int ev_fd;               /* -1 at EOF */
	sg_buf ev_in;            /* a partial line from the worker */
	bool ev_overflow;        /* skipping an over-long worker line */
	sg_buf events;           /* every event line so far, for replay */
	bool events_truncated;
	bool limits_set;         /* the delegated cgroups have the job's limits */
	bool too_large;          /* a result (or a line) over the caps: the job is an ERROR */
	uint64_t last_seq;
	char *job_name;
	char *result, *reason, *error, *envelope, *out_dir_final, *verdict_path, *keyid;
	int exit_code;
	char submitted[40], started[40], finished[40];
	char *cg_dirs[SG_CG_NCTRL + 1];
	char *tmp_dir;
	uint64_t cleanup_deadline_ms;
	bool ended;              /* job_end sent, resources released */
	uint64_t ended_seq;      /* in which order jobs ended (forget_old_jobs) */
	struct serve_job *next;
} serve_job;

struct client {
	int fd;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t *groups;
	size_t n_groups;
	bool groups_known;
	sg_buf in;
	bool skipping;           /* inside an over-long line */
	sg_buf out;              /* replies, sent up to out_off; compacted as they go */
	size_t out_off;
	sg_buf raw;              /* requests read but not handled yet (backpressure) */
	struct serve *sv;
	bool closing;            /* close once out is flushed */
	bool dead;
	serve_job **subs;        /* jobs whose events it follows */
	size_t n_subs;
	struct client *next;
};

typedef struct serve {
	sg_serve_options o;
	int listen_fd;
	int sig_fd;
	pid_t pid;
	client *clients;
	serve_job *jobs, *jobs_tail;
	unsigned running;
	uint64_t seq;
	uint64_t ended_seq;
	bool draining;
	uint64_t drain_term_ms, drain_kill_ms;
	bool termed, killed;
	sg_cgroup_host cg;
	bool cg_known;
	char *tmp_base;
	struct serve_cleanup *cleanups; /* of ended jobs, not done yet */
	uint64_t drain_idle_ms;   /* draining, and no job running since */
	bool forget_pending;      /* jobs ended: forget the oldest of a uid over its caps */
	uid_t last_started_uid;   /* round robin across uids (schedule) */
	int exe_fd;               /* this program, opened at start: each worker execs it */
	char **worker_env;        /* the workers' whole environment (worker_environment) */
	struct rlimit nofile;     /* the fd limit the daemon was given: its workers' */
	char *socket_abs;         /* a relative --socket made absolute */
	int spare_fd;             /* kept to accept (and refuse) a client when out of fds */
	uint64_t accept_paused_until_ms; /* out of fds even so: the listener rests */
	unsigned refused;         /* connections refused since the last log line */
	char refused_why[96];     /* the last one's reason */
	uint64_t refused_logged_ms;
} serve;

/* The output all of a uid's connections hold, sent or not. */
static uint64_t output_of_uid(const serve *sv, uid_t uid)
{
	uint64_t n = 0;
	for (const client *c = sv->clients; c; c = c->next)
		if (c->uid == uid && !c->dead)
			n += c->out.len;
	return n;
}

static void logf_(const serve *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const serve *sv, const char *fmt, ...)
{
	if (sv->o.quiet)
		return;
	char now[40];
	sg_rfc3339_now(now, sizeof(now));
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s shipgate serve: ", now);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- output to clients ------------------------------------------------------------- */

/* What a client's output buffer holds that it has not read yet. */
static size_t client_pending(const client *c)
{
	return c->out.len - c->out_off;
}

/* Drop the part of the output already sent, once it is at least half of what is held:
 * a connection that always leaves a little unread still holds only about what it has
 * not read. */
static void client_compact(client *c, bool always)
{
	if (!c->out_off || (!always && c->out_off < c->out.len / 2))
		return;
	size_t left = c->out.len - c->out_off;
	memmove(c->out.data, c->out.data + c->out_off, left);
	c->out.len = left;
	c->out.data[left] = '\0';
	c->out_off = 0;
}

static uint64_t output_of_uid(const struct serve *sv, uid_t uid);

static void client_put(client *c, const char *line, size_t len)
{
	if (c->dead || c->closing)
		return;
	if (c->out.len + len > SG_SERVE_CLIENT_OUT_MAX)
		client_compact(c, true);
	/* what the connection holds, sent or not, never goes past its cap, nor what all
	 * of its uid's connections hold past the uid's: it does not read what it asked
	 * for, drop it rather than grow without end */
	if (c->out.len + len > SG_SERVE_CLIENT_OUT_MAX || output_of_uid(c->sv, c->uid) + len > c->sv->o.max_output_bytes_per_uid) {
		c->dead = true;
		return;
	}
	sg_buf_append(&c->out, line, len);
}

static void client_send(client *c, cJSON *j)
{
	/* a reply is valid JSON whatever a client or its worker wrote into its strings */
	sg_serve_json_sanitize(j);
	char *text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!text)
		return;
	client_put(c, text, strlen(text));
	client_put(c, "\n", 1);
	cJSON_free(text);
}

static cJSON *reply_ok(const char *op)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddBoolToObject(j, "ok", true);
	if (op)
		cJSON_AddStringToObject(j, "op", op);
	return j;
}

static void reply_error(client *c, const char *op, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void reply_error(client *c, const char *op, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddBoolToObject(j, "ok", false);
	if (op)
		cJSON_AddStringToObject(j, "op", op);
	cJSON_AddStringToObject(j, "code", code);
	sg_autofree char *clean = sg_utf8_sanitize(msg, strlen(msg));
	cJSON_AddStringToObject(j, "error", clean);
	client_send(c, j);
}

/* ---- jobs -------------------------------------------------------------------------- */

static serve_job *find_job(serve *sv, const client *c, const char *id)
{
	for (serve_job *j = sv->jobs; j; j = j->next)
		if (!strcmp(j->id, id) && j->uid == c->uid)
			return j;
	return NULL; /* another uid's job is as absent as one that never was */
}

static bool job_subscribed(const client *c, const serve_job *j)
{
	for (size_t i = 0; i < c->n_subs; i++)
		if (c->subs[i] == j)
			return true;
	return false;
}

static void unsubscribe(client *c, const serve_job *j)
{
	for (size_t i = 0; i < c->n_subs; i++)
		if (c->subs[i] == j) {
			c->subs[i] = c->subs[--c->n_subs];
			return;
		}
}

/* A line of events (newline included) for the job: kept, and sent to its followers.
 * The daemon's job_end is kept past the cap: a replay always ends with it. */
static void job_event_line(serve *sv, serve_job *j, const char *line, size_t len, bool keep_anyway)
{
	if (keep_anyway || j->events.len + len <= sv->o.max_events_bytes)
		sg_buf_append(&j->events, line, len);
	else
		j->events_truncated = true;
	for (client *c = sv->clients; c; c = c->next)
		if (job_subscribed(c, j))
			client_put(c, line, len);
}

/* The daemon's own event for a job: the same common fields as the worker's. */
static void job_event(serve *sv, serve_job *j, const char *kind, cJSON *fields)
{
	char now[40];
	sg_rfc3339_now(now, sizeof(now));
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "event", kind);
	cJSON_AddStringToObject(ev, "id", j->id);
	cJSON_AddNumberToObject(ev, "seq", (double)++j->last_seq);
	cJSON_AddStringToObject(ev, "time", now);
	if (j->job_name)
		cJSON_AddStringToObject(ev, "job", j->job_name);
	while (fields && fields->child) {
		cJSON *item = cJSON_DetachItemViaPointer(fields, fields->child);
		cJSON_AddItemToObject(ev, item->string, item);
	}
	cJSON_Delete(fields);
	sg_serve_json_sanitize(ev); /* its fields may come from the worker: valid JSON anyway */
	char *text = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	if (!text)
		return;
	sg_buf line = {0};
	sg_buf_puts(&line, text);
	sg_buf_append(&line, "\n", 1);
	cJSON_free(text);
	job_event_line(sv, j, line.data, line.len, !strcmp(kind, "job_end"));
	sg_buf_free(&line);
}

static cJSON *job_status_json(const serve_job *j)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", j->id);
	cJSON_AddStringToObject(o, "state", state_names[j->state]);
	cJSON_AddNumberToObject(o, "uid", (double)j->uid);
	if (j->job_name)
		cJSON_AddStringToObject(o, "job", j->job_name);
	cJSON_AddStringToObject(o, "submitted", j->submitted);
	if (j->started[0])
		cJSON_AddStringToObject(o, "started", j->started);
	if (j->finished[0])
		cJSON_AddStringToObject(o, "finished", j->finished);
	if (j->result)
		cJSON_AddStringToObject(o, "result", j->result);
	if (j->reason)
		cJSON_AddStringToObject(o, "reason", j->reason);
	if (j->error)
		cJSON_AddStringToObject(o, "error", j->error);
	if (j->state == JOB_DONE || j->state == JOB_FAILED || (j->state == JOB_CANCELLED && j->started[0]))
		cJSON_AddNumberToObject(o, "exit_code", j->exit_code);
	if (j->out_dir_final)
		cJSON_AddStringToObject(o, "out_dir", j->out_dir_final);
	if (j->verdict_path)
		cJSON_AddStringToObject(o, "verdict_path", j->verdict_path);
	cJSON_AddBoolToObject(o, "cancel_requested", j->cancel_requested);
	return o;
}

/* What the daemon made for a job and removes when its worker is gone: the delegated
 * cgroups and the scratch. The job ends without waiting for it (a client can make a
 * cgroup hard to remove, it must not hold a slot or a drain with that): what cannot be
 * removed at once is kept here and tried again, backing off, and logged. */
typedef struct serve_cleanup {
	char id[32];
	uid_t uid;
	char *cg_dirs[SG_CG_NCTRL + 1]; /* "" once removed */
	char *tmp_dir;
	uint64_t kill_at_ms;            /* from then on, what is inside is SIGKILLed */
	uint64_t next_try_ms, retry_ms;
	unsigned tries;
	struct serve_cleanup *next;
} serve_cleanup;

static void cleanup_free(serve_cleanup *cl)
{
	for (int i = 0; cl->cg_dirs[i]; i++)
		free(cl->cg_dirs[i]);
	free(cl->tmp_dir);
	free(cl);
}

/* One attempt; true when everything is gone. */
static bool cleanup_try(serve *sv, serve_cleanup *cl, uint64_t now_ms)
{
	bool all = true, scanned = false;
	for (int i = 0; cl->cg_dirs[i]; i++) {
		if (!cl->cg_dirs[i][0])
			continue;
		if (now_ms >= cl->kill_at_ms && sg_serve_cgroup_kill(cl->cg_dirs[i]) < 0 && !scanned) {
			/* the walk did not reach everything: the processes deeper still */
			const char *name = strrchr(cl->cg_dirs[i], '/');
			(void)sg_serve_cgroup_kill_by_name(name ? name + 1 : cl->cg_dirs[i]);
			scanned = true;
		}
		if (sg_serve_cgroup_remove(cl->cg_dirs[i]) == 0) {
			cl->cg_dirs[i][0] = '\0';
			continue;
		}
		all = false;
	}
	cl->tries++;
	if (!all) {
		/* the first failures are the normal ones (processes still dying); say so
		 * once it lasts, then at each doubling of the wait */
		cl->retry_ms = cl->retry_ms ? cl->retry_ms * 2 : 200;
		if (cl->retry_ms > SG_SERVE_CG_RETRY_MAX_MS)
			cl->retry_ms = SG_SERVE_CG_RETRY_MAX_MS;
		cl->next_try_ms = now_ms + cl->retry_ms;
		if (now_ms >= cl->kill_at_ms && (cl->tries & (cl->tries - 1)) == 0)
			for (int i = 0; cl->cg_dirs[i]; i++)
				if (cl->cg_dirs[i][0])
					logf_(sv, "%s (uid %u): cannot remove its cgroup %s yet (attempt %u): trying again in %llu ms",
					      cl->id, (unsigned)cl->uid, cl->cg_dirs[i], cl->tries,
					      (unsigned long long)cl->retry_ms);
		return false;
	}
	if (cl->tmp_dir) {
		sg_error err = {0};
		if (sg_rm_rf(cl->tmp_dir, &err) < 0)
			logf_(sv, "%s: could not remove %s: %s", cl->id, cl->tmp_dir, err.msg);
	}
	return true;
}

/* Hand what the daemon made for the job to a cleanup, and try it once. */
static void job_release(serve *sv, serve_job *j, uint64_t now_ms)
{
	serve_cleanup *cl = sg_xcalloc(1, sizeof(*cl));
	memcpy(cl->id, j->id, sizeof(cl->id));
	cl->uid = j->uid;
	for (int i = 0; j->cg_dirs[i]; i++) {
		cl->cg_dirs[i] = j->cg_dirs[i];
		j->cg_dirs[i] = NULL;
	}
	cl->tmp_dir = j->tmp_dir;
	j->tmp_dir = NULL;
	cl->kill_at_ms = j->cleanup_deadline_ms;
	if (cleanup_try(sv, cl, now_ms)) {
		cleanup_free(cl);
		return;
	}
	cl->next = sv->cleanups;
	sv->cleanups = cl;
}

/* Try again what is due; the earliest next try, or 0 when nothing is pending. */
static uint64_t cleanup_step(serve *sv, uint64_t now_ms)
{
	uint64_t next = 0;
	for (serve_cleanup **pc = &sv->cleanups; *pc;) {
		serve_cleanup *cl = *pc;
		if (now_ms >= cl->next_try_ms && cleanup_try(sv, cl, now_ms)) {
			if (cl->tries > 1)
				logf_(sv, "%s (uid %u): its cgroups are removed (attempt %u)", cl->id, (unsigned)cl->uid,
				      cl->tries);
			*pc = cl->next;
			cleanup_free(cl);
			continue;
		}
		if (!next || cl->next_try_ms < next)
			next = cl->next_try_ms;
		pc = &cl->next;
	}
	return next;
}

/* The worker wrote its last line and was reaped: the job's end. */
static void job_finish(serve *sv, serve_job *j)
{
	if (j->state == JOB_RUNNING && j->too_large) {
		/* more than the daemon keeps of a job: it is not carried, and not half carried */
		free(j->envelope);
		j->envelope = NULL;
		free(j->result);
		j->result = sg_xstrdup("ERROR");
		free(j->error);
		j->error = sg_xasprintf("result too large: the worker's result was over what the daemon keeps (a verdict "
					"of at most %llu bytes, other fields of at most %u); the verdict, if any, is in "
					"the job's out dir",
					(unsigned long long)sv->o.max_envelope_bytes, SG_SERVE_RESULT_FIELD_MAX);
		j->exit_code = 3;
		j->state = JOB_FAILED;
		sv->running--;
	}
	if (j->state == JOB_RUNNING) {
		if (!j->result && !j->error) {
			/* no result line: the worker died (SIGKILL at the end of a drain, a crash) */
			j->error = WIFSIGNALED(j->wait_status)
					   ? sg_xasprintf("the worker was killed by signal %d before it wrote a verdict",
							  WTERMSIG(j->wait_status))
					   : sg_xasprintf("the worker exited with status %d without a verdict",
							  WEXITSTATUS(j->wait_status));
			j->exit_code = 3;
		}
		j->state = j->cancel_requested ? JOB_CANCELLED : j->result ? JOB_DONE : JOB_FAILED;
		sv->running--;
	}
	sg_rfc3339_now(j->finished, sizeof(j->finished));
	cJSON *f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "state", state_names[j->state]);
	if (j->result)
		cJSON_AddStringToObject(f, "result", j->result);
	if (j->error)
		cJSON_AddStringToObject(f, "error", j->error);
	if (j->started[0])
		cJSON_AddNumberToObject(f, "exit_code", j->exit_code);
	job_event(sv, j, "job_end", f);
	for (client *c = sv->clients; c; c = c->next)
		unsubscribe(c, j);
	j->ended = true;
	j->ended_seq = ++sv->ended_seq;
	logf_(sv, "%s (uid %u): %s%s%s", j->id, (unsigned)j->uid, state_names[j->state], j->result ? " " : "",
	      j->result ? j->result : "");
	/* the request's inputs are no longer needed */
	free(j->job_json);
	j->job_json = NULL;
	j->job_json_len = 0;
	sg_buf_free(&j->ev_in);
	sv->forget_pending = true;
}

/* The job's limits, as its worker read them from the job, on its delegated cgroups:
 * what the client moves into a cgroup it makes below them counts against them. Once
 * per job: the client could write this line too (its worker's pipe), but no more than
 * a job of its own could ask for. */
/* The daemon's ceilings (serve --max-job-memory-mb, --max-job-pids) with the worker's
 * margin, as limit file values; 0: no ceiling. */
static uint64_t ceiling_memory_bytes(const serve *sv)
{
	return sv->o.max_job_memory_mb ? (sv->o.max_job_memory_mb + SG_SERVE_DELEG_MEMORY_MARGIN_MB) << 20 : 0;
}

static uint64_t ceiling_pids(const serve *sv)
{
	uint64_t p = sv->o.max_job_pids ? sv->o.max_job_pids + SG_SERVE_DELEG_PIDS_MARGIN : 0;
	return p > SG_SERVE_PID_MAX_LIMIT ? SG_SERVE_PID_MAX_LIMIT : p;
}

/* Write the limit files of dir that exist: memory (bytes) and pids; 0 leaves one alone. */
static void write_limits(const serve *sv, const serve_job *j, const char *dir, uint64_t mem, uint64_t pids)
{
	char mem_text[32], pids_text[32];
	snprintf(mem_text, sizeof(mem_text), "%llu", (unsigned long long)mem);
	snprintf(pids_text, sizeof(pids_text), "%llu", (unsigned long long)pids);
	static const char *const files[] = {"memory.limit_in_bytes", "memory.max", "pids.max"};
	for (size_t k = 0; k < SG_ARRAY_LEN(files); k++) {
		const char *value = k < 2 ? mem_text : pids_text;
		if (!strcmp(value, "0"))
			continue; /* no such limit */
		sg_autofree char *path = sg_xasprintf("%s/%s", dir, files[k]);
		sg_error err = {0};
		if (access(path, F_OK) == 0 && sg_write_file(path, value, &err) < 0)
			logf_(sv, "%s: delegation: %s", j->id, err.msg); /* the worker then refuses to run */
	}
}

static void job_limit_delegated(serve *sv, serve_job *j, const cJSON *o)
{
	if (j->limits_set)
		return;
	j->limits_set = true;
	const cJSON *mem = cJSON_GetObjectItemCaseSensitive(o, "memory_bytes");
	const cJSON *pids = cJSON_GetObjectItemCaseSensitive(o, "pids");
	if (!cJSON_IsNumber(mem) || !cJSON_IsNumber(pids) || mem->valuedouble < 0 || mem->valuedouble > 0x1p53 ||
	    pids->valuedouble < 0 || pids->valuedouble > 0x1p31) {
		logf_(sv, "%s: its worker asked for limits that are not numbers: none set", j->id);
		return;
	}
	uint64_t mem_n = (uint64_t)mem->valuedouble;
	uint64_t pids_n = (uint64_t)pids->valuedouble;
	if (pids_n > SG_SERVE_PID_MAX_LIMIT)
		pids_n = SG_SERVE_PID_MAX_LIMIT;
	/* never above the daemon's ceilings, whatever this line (the client can write it) says */
	uint64_t cm = ceiling_memory_bytes(sv), cp = ceiling_pids(sv);
	if (cm && (!mem_n || mem_n > cm))
		mem_n = cm;
	if (cp && (!pids_n || pids_n > cp))
		pids_n = cp;
	for (int i = 0; j->cg_dirs[i]; i++)
		write_limits(sv, j, j->cg_dirs[i], mem_n, pids_n);
}

/* A line from the worker: an event (kept and forwarded) or its result. The client can
 * write into this pipe too (its worker is its own: pidfd_getfd), so a line counts only
 * for this job: an event must carry its id, and its followers are of its uid anyway. */
static void worker_line(serve *sv, serve_job *j, const char *line, size_t len)
{
	cJSON *o = cJSON_ParseWithLength(line, len);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return;
	}
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "worker");
	if (cJSON_IsString(w) && !strcmp(w->valuestring, "limits")) {
		job_limit_delegated(sv, j, o);
		cJSON_Delete(o);
		return;
	}
	if (cJSON_IsString(w) && !strcmp(w->valuestring, "result")) {
		/* what is kept of a job is bounded: a field over its cap is not taken, an
		 * envelope over its cap makes the job an ERROR (job_finish) */
#define TAKE(field, key)                                                                          \
	do {                                                                                      \
		const cJSON *v_ = cJSON_GetObjectItemCaseSensitive(o, key);                       \
		if (cJSON_IsString(v_)) {                                                         \
			size_t n_ = strlen(v_->valuestring);                                      \
			if (n_ > (!strcmp(key, "envelope") ? sv->o.max_envelope_bytes              \
							   : SG_SERVE_RESULT_FIELD_MAX)) {         \
				j->too_large = true;                                              \
			} else {                                                                  \
				free(j->field);                                                   \
				j->field = sg_xstrdup(v_->valuestring);                           \
			}                                                                         \
		}                                                                                 \
	} while (0)
		TAKE(result, "result");
		TAKE(reason, "reason");
		TAKE(error, "error");
		TAKE(envelope, "envelope");
		TAKE(out_dir_final, "out_dir");
		TAKE(verdict_path, "verdict_path");
		TAKE(keyid, "keyid");
#undef TAKE
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "exit_code");
		if (cJSON_IsNumber(code))
			j->exit_code = code->valueint;
		cJSON_Delete(o);
		return;
	}
	const cJSON *event = cJSON_GetObjectItemCaseSensitive(o, "event");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	if (!cJSON_IsString(event) || !cJSON_IsString(id) || strcmp(id->valuestring, j->id) != 0) {
		cJSON_Delete(o);
		return;
	}
	const cJSON *seq = cJSON_GetObjectItemCaseSensitive(o, "seq");
	if (cJSON_IsNumber(seq) && seq->valuedouble > (double)j->last_seq)
		j->last_seq = (uint64_t)seq->valuedouble;
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "job");
	if (!j->job_name && cJSON_IsString(name) && strlen(name->valuestring) <= 256)
		j->job_name = sg_xstrdup(name->valuestring);
	sg_buf copy = {0};
	if (sg_serve_utf8_valid(line, len, NULL) && !memchr(line, '\0', len)) {
		sg_buf_append(&copy, line, len);
	} else {
		/* its followers get valid JSON: the line as cJSON read it, made valid */
		sg_serve_json_sanitize(o);
		char *text = cJSON_PrintUnformatted(o);
		if (text)
			sg_buf_puts(&copy, text);
		cJSON_free(text);
	}
	cJSON_Delete(o);
	if (!copy.len) {
		sg_buf_free(&copy);
		return;
	}
	sg_buf_append(&copy, "\n", 1);
	job_event_line(sv, j, copy.data, copy.len, false);
	sg_buf_free(&copy);
}

/* A line from the worker: its result carries the envelope, escaped (at most twice as
 * long: the envelope is JSON text, its only control characters \n and \t). */
static size_t worker_line_max(const serve *sv)
{
	return (size_t)sv->o.max_envelope_bytes * 2 + SG_SERVE_RESULT_FIELD_MAX * 8;
}

/* Read what the pipe holds: > 0 bytes were read, 0 at EOF (the pipe is then closed),
 * < 0 nothing there now. */
static ssize_t worker_read(serve *sv, serve_job *j)
{
	char buf[65536];
	ssize_t n = SG_RETRY(read(j->ev_fd, buf, sizeof(buf)));
	if (n < 0 && errno == EAGAIN)
		return -1;
	if (n <= 0) {
		close(j->ev_fd);
		j->ev_fd = -1;
		return 0;
	}
	size_t start = 0;
	for (size_t i = 0; i < (size_t)n; i++) {
		if (buf[i] != '\n')
			continue;
		if (!j->ev_overflow) {
			sg_buf_append(&j->ev_in, buf + start, i - start);
			worker_line(sv, j, j->ev_in.data ? j->ev_in.data : "", j->ev_in.len);
		}
		j->ev_overflow = false;
		sg_buf_free(&j->ev_in);
		start = i + 1;
	}
	if (start < (size_t)n && !j->ev_overflow) {
		sg_buf_append(&j->ev_in, buf + start, (size_t)n - start);
		/* the result line carries the envelope: allow it room, but not without end */
		if (j->ev_in.len > worker_line_max(sv)) {
			j->ev_overflow = true;
			j->too_large = true; /* whatever it was, it was not what a worker writes */
			sg_buf_free(&j->ev_in);
		}
	}
	return n;
}

/* The worker is reaped: everything it wrote is in the pipe by now. Read that, then close
 * the pipe, whatever else holds its write end: the client may keep a copy (taken from
 * its worker) open, and write into it, for as long as it likes; that must not keep its
 * job running, nor the daemon from draining. A bound in time, since what the holder
 * writes meanwhile would be read too. */
static void worker_pipe_close(serve *sv, serve_job *j)
{
	uint64_t until = sg_monotonic_ms() + SG_SERVE_PIPE_LINGER_MS;
	while (j->ev_fd >= 0 && worker_read(sv, j) > 0 && sg_monotonic_ms() < until)
		;
	if (j->ev_fd >= 0) {
		close(j->ev_fd);
		j->ev_fd = -1;
	}
	sg_buf_free(&j->ev_in); /* a last line without its newline is no line */
	j->ev_overflow = false;
}

/* ---- starting a job ---------------------------------------------------------------- */

/* A root daemon makes a non-root client's job a cgroup of its own below the daemon's,
 * owned by the client, in each hierarchy that holds a limit: the worker moves into it
 * before it drops root, and its steps' cgroups are then created below it, by the
 * client, with the job's limits. Without this a rootless job could not enforce them. */
static void job_delegate(serve *sv, serve_job *j, char ***procs_out)
{
	char **procs = sg_xcalloc(SG_CG_NCTRL + 2, sizeof(char *));
	*procs_out = procs;
	if (!sv->cg_known || geteuid() != 0 || j->uid == 0)
		return;
	size_t n = 0, np = 0;
	static const sg_cgroup_ctrl wanted[] = {SG_CG_MEMORY, SG_CG_PIDS, SG_CG_CPU, SG_CG_CPUACCT};
	for (size_t k = 0; k < SG_ARRAY_LEN(wanted); k++) {
		sg_cgroup_ctrl c = wanted[k];
		const char *own = NULL;
		bool v2 = false;
		if (sv->cg.use[c] == SG_CGV_1 && sv->cg.writable[c])
			own = sv->cg.v1_own[c];
		else if (sv->cg.use[c] == SG_CGV_2 && sv->cg.writable[c])
			own = sv->cg.v2_own, v2 = true;
		if (!own)
			continue;
		sg_autofree char *dir = sg_xasprintf("%s/shipgate-serve-%d-%s", own, (int)sv->pid, j->id);
		bool dup = false;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(j->cg_dirs[i], dir))
				dup = true;
		if (dup)
			continue;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			logf_(sv, "%s: delegation: mkdir %s: %s", j->id, dir, strerror(errno));
			continue;
		}
		/* the daemon's ceilings hold from the start, before the worker says anything */
		write_limits(sv, j, dir, ceiling_memory_bytes(sv), ceiling_pids(sv));
		/* v1: the directory only. The worker joins it as root, and its steps' cgroups,
		 * made below it by the client, are the client's; a cgroup.procs of the client's
		 * here would let it move any process of its own in (docs/serve.md). v2 moves
		 * need the common ancestor's cgroup.procs: the worker's move into a leaf. */
		static const char *const v1_files[] = {NULL};
		static const char *const v2_files[] = {"cgroup.procs", "cgroup.threads", "cgroup.subtree_control", NULL};
		bool ok = chown(dir, j->uid, j->gid) == 0;
		for (const char *const *f = v2 ? v2_files : v1_files; ok && *f; f++) {
			sg_autofree char *path = sg_xasprintf("%s/%s", dir, *f);
			if (chown(path, j->uid, j->gid) < 0 && errno != ENOENT)
				ok = false;
		}
		j->cg_dirs[n++] = sg_xstrdup(dir);
		if (!ok) {
			logf_(sv, "%s: delegation: chown %s: %s", j->id, dir, strerror(errno));
			continue;
		}
		procs[np++] = sg_xasprintf("%s/cgroup.procs", dir);
	}
}

/* In the fork, before anything else: exec the worker afresh, so that nothing of the
 * daemon's memory or environment reaches the process the client will own. fds: 3 the
 * events pipe, 4 the request, 0-2 /dev/null; nothing else. Still the daemon's identity
 * here (root's, for other users' jobs): the client cannot look into this process. */
__attribute__((noreturn)) static void worker_exec(const serve *sv, const char *id, int ev_fd, int req_fd)
{
	int hi_ev = fcntl(ev_fd, F_DUPFD, 16), hi_req = fcntl(req_fd, F_DUPFD, 16);
	int hi_exe = fcntl(sv->exe_fd, F_DUPFD_CLOEXEC, 16);
	int null = open("/dev/null", O_RDWR);
	if (hi_ev < 0 || hi_req < 0 || hi_exe < 0 || null < 0 || dup2(hi_ev, SG_SERVE_WORKER_EVENTS_FD) < 0 ||
	    dup2(hi_req, SG_SERVE_WORKER_REQUEST_FD) < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		_exit(3);
	int exe = SG_SERVE_WORKER_REQUEST_FD + 1;
	if (dup2(hi_exe, exe) < 0 || fcntl(exe, F_SETFD, FD_CLOEXEC) < 0)
		_exit(3);
	close_range((unsigned)exe + 1, ~0U, 0);
	/* what exec keeps of this process: the signal mask and ignored signals (the
	 * daemon's signalfd and SIGPIPE), the raised fd limit; give the defaults back */
	if (sv->nofile.rlim_cur)
		(void)setrlimit(RLIMIT_NOFILE, &sv->nofile);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	if (getppid() != sv->pid)
		_exit(3);
	char *const argv[] = {(char *)"shipgate", (char *)"serve", (char *)"--worker", (char *)id, NULL};
	fexecve(exe, argv, sv->worker_env);
	/* tell the daemon why, as the worker would have */
	char line[512];
	int len = snprintf(line, sizeof(line),
			   "{\"worker\":\"result\",\"exit_code\":3,\"error\":\"exec the worker: %s\"}\n", strerror(errno));
	if (len > 0 && (size_t)len < sizeof(line))
		(void)sg_write_all(SG_SERVE_WORKER_EVENTS_FD, line, (size_t)len);
	_exit(3);
}

/* The request, in a memfd the worker reads: the daemon never blocks on it. */
static int request_fd(const sg_serve_request *req, sg_error *err)
{
	sg_autofree char *text = sg_serve_request_to_json(req);
	if (!text)
		return sg_error_set(err, SG_ERR_SANDBOX, ENOMEM, "the worker's request");
	int fd = memfd_create("shipgate-serve-request", MFD_CLOEXEC);
	if (fd < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "memfd_create");
	if (sg_write_all(fd, text, strlen(text)) < 0) {
		int e = errno;
		close(fd);
		return sg_error_set(err, SG_ERR_SANDBOX, e, "write the worker's request");
	}
	return fd;
}

static void job_start_failed(serve *sv, serve_job *j, char *error)
{
	j->state = JOB_FAILED;
	j->error = error;
	j->exit_code = 3;
	job_release(sv, j, 0);
	job_finish(sv, j);
}

static void job_start(serve *sv, serve_job *j)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		job_start_failed(sv, j, sg_xasprintf("pipe: %s", strerror(errno)));
		return;
	}
	char **procs = NULL;
	job_delegate(sv, j, &procs);
	if (sv->tmp_base) {
		j->tmp_dir = sg_xasprintf("%s/%s", sv->tmp_base, j->id);
		if (mkdir(j->tmp_dir, 0700) < 0 || chown(j->tmp_dir, j->uid, j->gid) < 0) {
			logf_(sv, "%s: %s: %s", j->id, j->tmp_dir, strerror(errno));
			rmdir(j->tmp_dir);
			free(j->tmp_dir);
			j->tmp_dir = NULL;
		}
	}
	sg_serve_request req = {
		.id = j->id, .uid = j->uid, .gid = j->gid, .groups = j->groups, .n_groups = j->n_groups,
		.groups_known = j->groups_known, .job_path = j->job_path, .job_json = j->job_json,
		.job_json_len = j->job_json_len, .workspace = j->workspace, .out_dir = j->out_dir,
		.key_path = j->key_path, .allow_weaker = j->allow_weaker, .vsa = j->vsa,
		.no_trace = j->no_trace, .tmp_dir = j->tmp_dir, .cgroup_procs = procs, .daemon_pid = sv->pid,
		.max_job_memory_mb = sv->o.max_job_memory_mb, .max_job_pids = sv->o.max_job_pids,
	};
	sg_error err = {0};
	int req_fd = request_fd(&req, &err);
	for (size_t i = 0; procs[i]; i++)
		free(procs[i]);
	free(procs);
	pid_t pid = req_fd < 0 ? -1 : fork();
	if (pid == 0)
		worker_exec(sv, j->id, p[1], req_fd);
	int fork_errno = errno;
	close(p[1]);
	if (req_fd >= 0)
		close(req_fd);
	if (pid < 0) {
		close(p[0]);
		job_start_failed(sv, j, req_fd < 0 ? sg_xstrdup(err.msg) : sg_xasprintf("fork: %s", strerror(fork_errno)));
		return;
	}
	/* the worker has the request now: the daemon keeps no copy of the inline job */
	free(j->job_json);
	j->job_json = NULL;
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	j->ev_fd = p[0];
	j->worker = pid;
	j->state = JOB_RUNNING;
	sg_rfc3339_now(j->started, sizeof(j->started));
	sv->running++;
	logf_(sv, "%s (uid %u): started, worker %d", j->id, (unsigned)j->uid, (int)pid);
}

/* The queued job to start next, round robin across uids: the oldest of the first uid
 * after `after` (in uid order, wrapping) that has one; `skip` holds jobs taken already
 * (queued_ahead's simulation), or NULL. One uid's long queue cannot starve another's. */
static unsigned running_of(const serve *sv, uid_t uid)
{
	unsigned n = 0;
	for (const serve_job *j = sv->jobs; j; j = j->next)
		n += j->state == JOB_RUNNING && j->uid == uid;
	return n;
}

static serve_job *next_queued(const serve *sv, uid_t after, serve_job *const *skip, size_t n_skip, bool capped)
{
	serve_job *best = NULL, *first = NULL; /* best: uid > after; first: lowest uid */
	for (serve_job *j = sv->jobs; j; j = j->next) {
		if (j->state != JOB_QUEUED)
			continue;
		/* a uid with --max-running-per-uid jobs running waits for one of them to end */
		if (capped && running_of(sv, j->uid) >= sv->o.max_running_per_uid)
			continue;
		bool skipped = false;
		for (size_t i = 0; i < n_skip && !skipped; i++)
			skipped = skip[i] == j;
		if (skipped)
			continue;
		if (j->uid > after && (!best || j->uid < best->uid))
			best = j;
		if (!first || j->uid < first->uid)
			first = j;
	}
	return best ? best : first;
}

static void schedule(serve *sv)
{
	while (!sv->draining && sv->running < sv->o.max_jobs) {
		serve_job *j = next_queued(sv, sv->last_started_uid, NULL, 0, true);
		if (!j)
			return;
		sv->last_started_uid = j->uid;
		job_start(sv, j);
	}
}

/* How many queued jobs start before j, as schedule would pick them (not counting
 * --max-running-per-uid: who is at it changes as jobs end). */
static unsigned queued_ahead(const serve *sv, const serve_job *j)
{
	size_t cap = 0, n = 0;
	serve_job **taken = NULL;
	uid_t after = sv->last_started_uid;
	for (;;) {
		serve_job *q = next_queued(sv, after, taken, n, false);
		if (!q || q == j)
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			taken = sg_xrealloc(taken, cap * sizeof(*taken));
		}
		taken[n++] = q;
		after = q->uid;
	}
	free(taken);
	return (unsigned)n;
}

/* ---- requests ---------------------------------------------------------------------- */

static const char *jstring(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Keys a request may carry; anything else is an error (a typo must not be ignored). */
static bool keys_allowed(client *c, const char *op, const cJSON *req, const char *const *allowed)
{
	for (const cJSON *k = req->child; k; k = k->next) {
		bool ok = !strcmp(k->string, "op");
		for (const char *const *a = allowed; !ok && *a; a++)
			ok = !strcmp(k->string, *a);
		if (!ok) {
			reply_error(c, op, "bad_request", "%s: unknown key \"%s\"", op, k->string);
			return false;
		}
	}
	return true;
}

static bool want_bool(client *c, const char *op, const cJSON *req, const char *key, bool *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
	if (!v)
		return true;
	if (!cJSON_IsBool(v)) {
		reply_error(c, op, "bad_request", "%s: %s: expected true or false", op, key);
		return false;
	}
	*out = cJSON_IsTrue(v);
	return true;
}

static bool want_abs_path(client *c, const char *op, const cJSON *req, const char *key, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
	if (!v)
		return true;
	if (!cJSON_IsString(v) || v->valuestring[0] != '/' || strlen(v->valuestring) >= 4096) {
		reply_error(c, op, "bad_request", "%s: %s: expected an absolute path", op, key);
		return false;
	}
	*out = v->valuestring;
	return true;
}

static void op_submit(serve *sv, client *c, const cJSON *req)
{
	static const char *const allowed[] = {"job", "job_json", "workspace", "out", "key", "allow_weaker", "vsa",
					      "no_trace", "cancel_on_disconnect", NULL};
	if (!keys_allowed(c, "submit", req, allowed))
		return;
	if (sv->draining) {
		reply_error(c, "submit", "draining", "the daemon is shutting down and takes no new jobs");
		return;
	}
	if (geteuid() != 0 && c->uid != geteuid()) {
		reply_error(c, "submit", "forbidden",
			    "submit: the daemon runs as uid %u and can run jobs only for that uid, not %u",
			    (unsigned)geteuid(), (unsigned)c->uid);
		return;
	}
	const char *job = NULL, *ws = NULL, *out = NULL, *key = NULL;
	bool weaker = false, vsa = false, no_trace = false, cod = false;
	if (!want_abs_path(c, "submit", req, "job", &job) || !want_abs_path(c, "submit", req, "workspace", &ws) ||
	    !want_abs_path(c, "submit", req, "out", &out) || !want_abs_path(c, "submit", req, "key", &key) ||
	    !want_bool(c, "submit", req, "allow_weaker", &weaker) || !want_bool(c, "submit", req, "vsa", &vsa) ||
	    !want_bool(c, "submit", req, "no_trace", &no_trace) ||
	    !want_bool(c, "submit", req, "cancel_on_disconnect", &cod))
		return;
	const cJSON *inline_job = cJSON_GetObjectItemCaseSensitive(req, "job_json");
	if (!!job == !!inline_job) {
		reply_error(c, "submit", "bad_request", "submit: give either job (a path) or job_json (the job itself)");
		return;
	}
	if (inline_job && !ws) {
		reply_error(c, "submit", "bad_request", "submit: job_json needs workspace, the directory its paths are relative to");
		return;
	}
	if (job && ws) {
		reply_error(c, "submit", "bad_request", "submit: workspace goes with job_json; a job file names its own");
		return;
	}
	/* one uid's queue is bounded, in jobs and in the inline jobs' bytes it holds */
	unsigned queued = 0;
	uint64_t queued_bytes = 0;
	for (const serve_job *q = sv->jobs; q; q = q->next)
		if (q->state == JOB_QUEUED && q->uid == c->uid) {
			queued++;
			queued_bytes += q->job_json_len;
		}
	if (queued >= sv->o.max_queued_per_uid) {
		reply_error(c, "submit", "too_many_jobs",
			    "submit: uid %u has %u jobs waiting for a slot, the most this daemon queues for one uid",
			    (unsigned)c->uid, queued);
		return;
	}
	char *json_text = NULL;
	if (inline_job) {
		/* the job as an object, or its text as a string: the worker parses it strictly */
		json_text = cJSON_IsString(inline_job) ? sg_xstrdup(inline_job->valuestring)
			    : cJSON_IsObject(inline_job)  ? cJSON_PrintUnformatted(inline_job)
							  : NULL;
		if (!json_text) {
			reply_error(c, "submit", "bad_request", "submit: job_json: expected an object or a string");
			return;
		}
		size_t len = strlen(json_text);
		if (queued_bytes + len > sv->o.max_queued_bytes_per_uid) {
			reply_error(c, "submit", "too_many_jobs",
				    "submit: uid %u would have %llu bytes of inline jobs waiting for a slot, more than "
				    "the %llu this daemon queues for one uid",
				    (unsigned)c->uid, (unsigned long long)(queued_bytes + len),
				    (unsigned long long)sv->o.max_queued_bytes_per_uid);
			if (cJSON_IsObject(inline_job))
				cJSON_free(json_text);
			else
				free(json_text);
			return;
		}
	}
	serve_job *j = sg_xcalloc(1, sizeof(*j));
	snprintf(j->id, sizeof(j->id), "job-%llu", (unsigned long long)++sv->seq);
	j->uid = c->uid;
	j->gid = c->gid;
	if (c->groups_known) {
		j->groups = sg_xcalloc(c->n_groups + 1, sizeof(gid_t));
		memcpy(j->groups, c->groups, c->n_groups * sizeof(gid_t));
		j->n_groups = c->n_groups;
		j->groups_known = true;
	}
	j->job_path = job ? sg_xstrdup(job) : NULL;
	if (json_text) {
		j->job_json = sg_xstrdup(json_text);
		j->job_json_len = strlen(json_text);
		if (cJSON_IsObject(inline_job))
			cJSON_free(json_text);
		else
			free(json_text);
	}
	j->workspace = ws ? sg_xstrdup(ws) : NULL;
	j->out_dir = out ? sg_xstrdup(out) : NULL;
	j->key_path = key ? sg_xstrdup(key) : NULL;
	j->allow_weaker = weaker;
	j->vsa = vsa;
	j->no_trace = no_trace;
	j->owner = cod ? c : NULL;
	j->ev_fd = -1;
	j->state = JOB_QUEUED;
	sg_rfc3339_now(j->submitted, sizeof(j->submitted));
	if (sv->jobs_tail)
		sv->jobs_tail->next = j;
	else
		sv->jobs = j;
	sv->jobs_tail = j;
	logf_(sv, "%s (uid %u, pid %d): submitted", j->id, (unsigned)c->uid, (int)c->pid);
	schedule(sv);
	cJSON *r = reply_ok("submit");
	cJSON_AddStringToObject(r, "id", j->id);
	cJSON_AddStringToObject(r, "state", state_names[j->state]);
	if (j->state == JOB_QUEUED)
		cJSON_AddNumberToObject(r, "queued_ahead", queued_ahead(sv, j));
	client_send(c, r);
}

static serve_job *job_of_request(serve *sv, client *c, const char *op, const cJSON *req)
{
	const char *id = jstring(req, "id");
	if (!id) {
		reply_error(c, op, "bad_request", "%s: id: expected a job id (a string)", op);
		return NULL;
	}
	serve_job *j = find_job(sv, c, id);
	if (!j)
		reply_error(c, op, "no_such_job", "%s: no job %s for uid %u", op, id, (unsigned)c->uid);
	return j;
}

static void op_status(serve *sv, client *c, const cJSON *req)
{
	static const char *const allowed[] = {"id", NULL};
	if (!keys_allowed(c, "status", req, allowed))
		return;
	if (!cJSON_GetObjectItemCaseSensitive(req, "id")) {
		cJSON *r = reply_ok("status");
		cJSON *list = cJSON_AddArrayToObject(r, "jobs");
		for (serve_job *j = sv->jobs; j; j = j->next)
			if (j->uid == c->uid)
				cJSON_AddItemToArray(list, job_status_json(j));
		cJSON_AddNumberToObject(r, "running", sv->running);
		cJSON_AddNumberToObject(r, "max_jobs", sv->o.max_jobs);
		client_send(c, r);
		return;
	}
	serve_job *j = job_of_request(sv, c, "status", req);
	if (!j)
		return;
	cJSON *r = reply_ok("status");
	cJSON_AddItemToObject(r, "job", job_status_json(j));
	client_send(c, r);
}

static void op_events(serve *sv, client *c, const cJSON *req)
{
	static const char *const allowed[] = {"id", "follow", NULL};
	if (!keys_allowed(c, "events", req, allowed))
		return;
	bool follow = true;
	if (!want_bool(c, "events", req, "follow", &follow))
		return;
	serve_job *j = job_of_request(sv, c, "events", req);
	if (!j)
		return;
	cJSON *r = reply_ok("events");
	cJSON_AddStringToObject(r, "id", j->id);
	cJSON_AddStringToObject(r, "state", state_names[j->state]);
	cJSON_AddBoolToObject(r, "truncated", j->events_truncated);
	client_send(c, r);
	if (j->events.len)
		client_put(c, j->events.data, j->events.len);
	if (follow && !j->ended && !job_subscribed(c, j)) {
		c->subs = sg_xrealloc(c->subs, (c->n_subs + 1) * sizeof(*c->subs));
		c->subs[c->n_subs++] = j;
	}
}

static void op_verdict(serve *sv, client *c, const cJSON *req)
{
	static const char *const allowed[] = {"id", NULL};
	if (!keys_allowed(c, "verdict", req, allowed))
		return;
	serve_job *j = job_of_request(sv, c, "verdict", req);
	if (!j)
		return;
	if (!j->envelope) {
		reply_error(c, "verdict", j->ended ? "no_verdict" : "not_finished", "verdict: job %s %s", j->id,
			    j->ended ? "ended without a verdict" : "has not finished");
		return;
	}
	cJSON *r = reply_ok("verdict");
	cJSON_AddStringToObject(r, "id", j->id);
	cJSON_AddStringToObject(r, "result", j->result ? j->result : "ERROR");
	cJSON_AddNumberToObject(r, "exit_code", j->exit_code);
	if (j->verdict_path)
		cJSON_AddStringToObject(r, "verdict_path", j->verdict_path);
	if (j->keyid)
		cJSON_AddStringToObject(r, "keyid", j->keyid);
	cJSON_AddStringToObject(r, "envelope", j->envelope);
	client_send(c, r);
}

static void job_cancel(serve *sv, serve_job *j)
{
	j->cancel_requested = true;
	if (j->state == JOB_QUEUED) {
		j->state = JOB_CANCELLED;
		job_finish(sv, j);
	} else if (j->state == JOB_RUNNING && j->worker > 0) {
		/* the worker kills its sandbox and signs an ERROR (interrupted) verdict */
		kill(j->worker, SIGTERM);
	}
}

static void op_cancel(serve *sv, client *c, const cJSON *req)
{
	static const char *const allowed[] = {"id", NULL};
	if (!keys_allowed(c, "cancel", req, allowed))
		return;
	serve_job *j = job_of_request(sv, c, "cancel", req);
	if (!j)
		return;
	if (!j->ended)
		job_cancel(sv, j);
	cJSON *r = reply_ok("cancel");
	cJSON_AddStringToObject(r, "id", j->id);
	cJSON_AddStringToObject(r, "state", state_names[j->state]);
	client_send(c, r);
}

static void op_ping(serve *sv, client *c, const cJSON *req)
{
	static const char *const allowed[] = {NULL};
	if (!keys_allowed(c, "ping", req, allowed))
		return;
	cJSON *r = reply_ok("ping");
	cJSON_AddStringToObject(r, "version", SHIPGATE_VERSION);
	cJSON_AddNumberToObject(r, "uid", (double)c->uid);
	cJSON_AddNumberToObject(r, "max_jobs", sv->o.max_jobs);
	cJSON_AddNumberToObject(r, "running", sv->running);
	cJSON_AddBoolToObject(r, "draining", sv->draining);
	client_send(c, r);
}

static int key_compare(const void *a, const void *b)
{
	return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* The first key that an object of the request (at any depth) has twice, or NULL. cJSON
 * keeps both and finds the first: a request must not say two things at once. Sorting
 * keeps a large object from costing n^2. */
static const char *duplicate_key(const cJSON *item)
{
	size_t n = 0;
	for (const cJSON *m = item->child; m; m = m->next) {
		const char *dup = cJSON_IsArray(m) || cJSON_IsObject(m) ? duplicate_key(m) : NULL;
		if (dup)
			return dup;
		n++;
	}
	if (!cJSON_IsObject(item) || n < 2)
		return NULL;
	sg_autofree const cJSON **keys = sg_xcalloc(n, sizeof(*keys));
	n = 0;
	for (const cJSON *m = item->child; m; m = m->next)
		keys[n++] = m;
	qsort(keys, n, sizeof(*keys), key_compare);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(keys[i - 1]->string, keys[i]->string))
			return keys[i]->string;
	return NULL;
}

/* A request is exactly one JSON object on its line: nothing after it but blanks, no
 * NUL (cJSON would stop there and ignore the rest), no key twice. */
static cJSON *parse_request(client *c, const char *line, size_t len)
{
	sg_error err = {0};
	if (sg_serve_request_line_check(line, len, &err) < 0) {
		reply_error(c, NULL, "bad_json", "%s", err.msg);
		return NULL;
	}
	const char *end = NULL;
	cJSON *req = cJSON_ParseWithLengthOpts(line, len, &end, false);
	if (!req) {
		reply_error(c, NULL, "bad_json", "not a JSON object: a request is one JSON object on one line");
		return NULL;
	}
	while (end && end < line + len && (*end == ' ' || *end == '\t' || *end == '\r'))
		end++;
	if (!end || end != line + len) {
		cJSON_Delete(req);
		reply_error(c, NULL, "bad_json", "bytes after the JSON object: one request per line");
		return NULL;
	}
	const char *dup = duplicate_key(req);
	if (dup) {
		sg_autofree char *clean = sg_utf8_sanitize(dup, strnlen(dup, 64));
		reply_error(c, NULL, "bad_json", "the key \"%s\" appears twice in one object", clean);
		cJSON_Delete(req);
		return NULL;
	}
	return req;
}

static void handle_request(serve *sv, client *c, const char *line, size_t len)
{
	if (len == 0)
		return; /* an empty line is nothing, not an error */
	cJSON *req = parse_request(c, line, len);
	if (!req)
		return;
	const char *op = cJSON_IsObject(req) ? jstring(req, "op") : NULL;
	if (!op) {
		reply_error(c, NULL, "bad_request", "a request is a JSON object with \"op\" a string");
	} else if (!strcmp(op, "submit")) {
		op_submit(sv, c, req);
	} else if (!strcmp(op, "status")) {
		op_status(sv, c, req);
	} else if (!strcmp(op, "events")) {
		op_events(sv, c, req);
	} else if (!strcmp(op, "verdict")) {
		op_verdict(sv, c, req);
	} else if (!strcmp(op, "cancel")) {
		op_cancel(sv, c, req);
	} else if (!strcmp(op, "ping")) {
		op_ping(sv, c, req);
	} else {
		sg_autofree char *clean = sg_utf8_sanitize(op, strnlen(op, 64));
		reply_error(c, NULL, "unknown_op", "unknown op \"%s\" (submit, status, events, verdict, cancel, ping)",
			    clean);
	}
	cJSON_Delete(req);
}

/* Split what came into lines; a line over the cap is answered once and skipped. While
 * the client's unread replies are over SG_SERVE_CLIENT_OUT_LOW, the rest waits in raw
 * (and nothing more is read from it): it is handled once the client has read them. */
static void client_process(serve *sv, client *c)
{
	const char *buf = c->raw.data;
	size_t n = c->raw.len, start = 0;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n')
			continue;
		if (c->dead || client_pending(c) >= SG_SERVE_CLIENT_OUT_LOW)
			break;
		if (c->skipping) {
			c->skipping = false;
		} else if (c->in.len + (i - start) > SG_SERVE_LINE_MAX) {
			/* the cap is exact: the line's bytes before its newline */
			reply_error(c, NULL, "too_long", "request longer than %u bytes: skipped", SG_SERVE_LINE_MAX);
		} else {
			sg_buf_append(&c->in, buf + start, i - start);
			handle_request(sv, c, c->in.data ? c->in.data : "", c->in.len);
		}
		sg_buf_free(&c->in);
		start = i + 1;
	}
	if (memchr(buf + start, '\n', n - start)) {
		/* a complete line is left: it waits for the replies to be read */
		memmove(c->raw.data, buf + start, n - start);
		c->raw.len = n - start;
		c->raw.data[c->raw.len] = '\0';
		return;
	}
	if (start < n && !c->skipping) {
		sg_buf_append(&c->in, buf + start, n - start);
		if (c->in.len > SG_SERVE_LINE_MAX) {
			reply_error(c, NULL, "too_long", "request longer than %u bytes: skipped to its end",
				    SG_SERVE_LINE_MAX);
			sg_buf_free(&c->in);
			c->skipping = true;
		}
	}
	sg_buf_free(&c->raw);
}

static void client_read(serve *sv, client *c)
{
	char buf[65536];
	ssize_t n = SG_RETRY(read(c->fd, buf, sizeof(buf)));
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		c->dead = true;
		return;
	}
	sg_buf_append(&c->raw, buf, (size_t)n);
	client_process(sv, c);
}

/* Whether the daemon reads more from the client: not while its replies pile up. */
static bool client_wants_input(const client *c)
{
	return !c->raw.len && client_pending(c) < SG_SERVE_CLIENT_OUT_LOW;
}

static void client_write(client *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				c->dead = true;
			return;
		}
		c->out_off += (size_t)n;
		client_compact(c, false);
	}
	sg_buf_free(&c->out);
	c->out_off = 0;
}

/* Refuse a connection: one error line, sent if the socket takes it at once, and close. */
static void refuse(int fd, const char *code, const char *msg)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "{\"ok\":false,\"code\":\"%s\",\"error\":\"%s\"}\n", code, msg);
	if (n > 0 && (size_t)n < sizeof(line))
		(void)send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

/* Refusals are logged at most every ten seconds: a client must not flood the log. */
static void log_refusals(serve *sv, bool now_anyway)
{
	uint64_t now = sg_monotonic_ms();
	if (!sv->refused || (!now_anyway && sv->refused_logged_ms && now - sv->refused_logged_ms < 10000))
		return;
	logf_(sv, "refused %u connection%s (the last: %s)", sv->refused, sv->refused == 1 ? "" : "s",
	      sv->refused_why);
	sv->refused = 0;
	sv->refused_logged_ms = now;
}

static void note_refusal(serve *sv, uid_t uid, const char *why)
{
	sv->refused++;
	if (uid == (uid_t)-1)
		snprintf(sv->refused_why, sizeof(sv->refused_why), "%s", why);
	else
		snprintf(sv->refused_why, sizeof(sv->refused_why), "uid %u, %s", (unsigned)uid, why);
	log_refusals(sv, false);
}

/* No descriptor left to accept with. The pending connection would keep the listener
 * readable, and poll would wake the loop at once, for ever: give up the spare fd kept
 * for this, accept with it, refuse, and take a spare again. If even that fails, the
 * listener rests a moment. The connections the daemon has are served on. */
static void accept_without_fds(serve *sv)
{
	if (sv->spare_fd >= 0) {
		close(sv->spare_fd);
		sv->spare_fd = -1;
	}
	int fd = accept4(sv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd >= 0)
		refuse(fd, "busy", "the daemon has no file descriptor left for a new connection: try again later");
	sv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || sv->spare_fd < 0)
		sv->accept_paused_until_ms = sg_monotonic_ms() + 100;
	note_refusal(sv, (uid_t)-1, "no file descriptor left");
}

static unsigned connections_of(const serve *sv, uid_t uid)
{
	unsigned n = 0;
	for (const client *c = sv->clients; c; c = c->next)
		n += c->uid == uid && !c->dead;
	return n;
}

static void client_accept(serve *sv)
{
	/* a few at a time: the others are served between bursts */
	for (int burst = 0; burst < 32 && !sv->accept_paused_until_ms; burst++) {
		int fd = accept4(sv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				accept_without_fds(sv);
			else if (errno != EINTR && errno != ECONNABORTED)
				return; /* EAGAIN: no one else waiting */
			continue;
		}
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			close(fd);
			continue;
		}
		/* one uid cannot take every descriptor the daemon has (its other users') */
		if (connections_of(sv, cred.uid) >= sv->o.max_conns_per_uid) {
			char msg[160];
			snprintf(msg, sizeof(msg), "uid %u has %u connections open, the most this daemon allows",
				 (unsigned)cred.uid, sv->o.max_conns_per_uid);
			refuse(fd, "too_many_connections", msg);
			note_refusal(sv, cred.uid, "too many connections");
			continue;
		}
		client *c = sg_xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->sv = sv;
		c->uid = cred.uid;
		c->gid = cred.gid;
		c->pid = cred.pid;
		/* the client's supplementary groups as the kernel has them (Linux 4.13) */
		gid_t groups[256];
		socklen_t glen = sizeof(groups);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0) {
			c->n_groups = glen / sizeof(gid_t);
			c->groups = sg_xcalloc(c->n_groups + 1, sizeof(gid_t));
			memcpy(c->groups, groups, c->n_groups * sizeof(gid_t));
			c->groups_known = true;
		}
		c->next = sv->clients;
		sv->clients = c;
	}
}

static void client_free(serve *sv, client *c)
{
	for (serve_job *j = sv->jobs; j; j = j->next)
		if (j->owner == c) {
			j->owner = NULL;
			if (!j->ended) {
				logf_(sv, "%s: its client went away and asked to cancel then", j->id);
				job_cancel(sv, j);
			}
		}
	close(c->fd);
	sg_buf_free(&c->in);
	sg_buf_free(&c->raw);
	sg_buf_free(&c->out);
	free(c->subs);
	free(c->groups);
	free(c);
}

/* ---- the loop ---------------------------------------------------------------------- */

static void reap(serve *sv)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		for (serve_job *j = sv->jobs; j; j = j->next)
			if (j->worker == pid) {
				j->worker = 0;
				j->wait_status = status;
				j->cleanup_deadline_ms = sg_monotonic_ms() + SG_SERVE_CG_KILL_AFTER_MS;
				/* the client could otherwise keep moving processes of its own
				 * into them, and make cgroups below them for ever */
				for (int i = 0; j->cg_dirs[i]; i++)
					if (sg_serve_cgroup_revoke(j->cg_dirs[i]) < 0)
						logf_(sv, "%s: could not take back all of %s from uid %u", j->id,
						      j->cg_dirs[i], (unsigned)j->uid);
				worker_pipe_close(sv, j);
			}
	}
}

static void start_drain(serve *sv)
{
	if (sv->draining)
		return;
	sv->draining = true;
	uint64_t now = sg_monotonic_ms();
	sv->drain_term_ms = now + (uint64_t)sv->o.grace_s * 1000;
	sv->drain_kill_ms = sv->drain_term_ms + 10000;
	logf_(sv, "draining: %u running, no new jobs; grace %u s", sv->running, sv->o.grace_s);
	for (serve_job *j = sv->jobs; j; j = j->next)
		if (j->state == JOB_QUEUED)
			job_cancel(sv, j);
	if (sv->listen_fd >= 0) {
		close(sv->listen_fd);
		sv->listen_fd = -1;
		unlink(sv->o.socket_path);
	}
}

static void drain_step(serve *sv, uint64_t now)
{
	if (!sv->draining)
		return;
	if (!sv->termed && now >= sv->drain_term_ms) {
		sv->termed = true;
		for (serve_job *j = sv->jobs; j; j = j->next)
			if (j->state == JOB_RUNNING && j->worker > 0) {
				logf_(sv, "%s: grace period over: stopping it", j->id);
				j->cancel_requested = true;
				kill(j->worker, SIGTERM);
			}
	}
	if (!sv->killed && now >= sv->drain_kill_ms) {
		sv->killed = true;
		for (serve_job *j = sv->jobs; j; j = j->next)
			if (j->state == JOB_RUNNING && j->worker > 0) {
				logf_(sv, "%s: its worker did not stop: SIGKILL", j->id);
				kill(j->worker, SIGKILL);
			}
	}
}

static int make_listener(serve *sv, sg_error *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(sv->o.socket_path) >= sizeof(addr.sun_path))
		return sg_error_set(err, SG_ERR_USAGE, 0, "--socket %s: longer than %zu bytes", sv->o.socket_path,
				    sizeof(addr.sun_path) - 1);
	memcpy(addr.sun_path, sv->o.socket_path, strlen(sv->o.socket_path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "socket");
	struct stat st;
	if (lstat(sv->o.socket_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			return sg_error_set(err, SG_ERR_USAGE, 0, "--socket %s: exists and is not a socket",
					    sv->o.socket_path);
		}
		/* a socket nobody answers on is a leftover of a daemon that died: replace it */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool alive = probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof(addr)) == 0;
		if (probe >= 0)
			close(probe);
		if (alive) {
			close(fd);
			return sg_error_set(err, SG_ERR_USAGE, 0, "--socket %s: another daemon is serving there",
					    sv->o.socket_path);
		}
		unlink(sv->o.socket_path);
	}
	/* anyone may connect: who they are comes from SO_PEERCRED, not from the file mode */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (rc == 0)
		rc = chmod(sv->o.socket_path, 0666);
	if (rc < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		return sg_error_set(err, SG_ERR_USAGE, e, "--socket %s", sv->o.socket_path);
	}
	sv->listen_fd = fd;
	return 0;
}

static void job_free(serve_job *j)
{
	if (j->ev_fd >= 0)
		close(j->ev_fd);
	free(j->groups);
	free(j->job_path);
	free(j->job_json);
	free(j->workspace);
	free(j->out_dir);
	free(j->key_path);
	free(j->job_name);
	free(j->result);
	free(j->reason);
	free(j->error);
	free(j->envelope);
	free(j->out_dir_final);
	free(j->verdict_path);
	free(j->keyid);
	for (int i = 0; j->cg_dirs[i]; i++)
		free(j->cg_dirs[i]);
	free(j->tmp_dir);
	sg_buf_free(&j->events);
	sg_buf_free(&j->ev_in);
	free(j);
}

/* What the daemon keeps of an ended job, in bytes (about). */
static size_t job_kept_bytes(const serve_job *j)
{
	size_t n = sizeof(*j) + j->events.cap;
	const char *const fields[] = {j->job_name, j->result, j->reason, j->error, j->envelope,
				      j->out_dir_final, j->verdict_path, j->keyid, j->job_path, j->workspace,
				      j->out_dir, j->key_path};
	for (size_t i = 0; i < SG_ARRAY_LEN(fields); i++)
		n += fields[i] ? strlen(fields[i]) : 0;
	return n;
}

/* A long-lived daemon remembers, per uid, its last max_ended_per_uid ended jobs and no
 * more than max_kept_bytes_per_uid of them: what goes is the oldest of the SAME uid, so
 * that no uid can make the daemon forget another's jobs. */
static void forget_old_jobs(serve *sv, uid_t uid)
{
	size_t ended = 0, bytes = 0;
	const serve_job *newest = NULL;
	for (serve_job *j = sv->jobs; j; j = j->next)
		if (j->ended && j->uid == uid) {
			ended++;
			bytes += job_kept_bytes(j);
			if (!newest || j->ended_seq > newest->ended_seq)
				newest = j;
		}
	/* the job that ended last stays, whatever it holds, until the uid's next job ends:
	 * its client can still ask for its verdict right after its job_end */
	serve_job **pj = &sv->jobs, *prev = NULL;
	while (*pj && (ended > sv->o.max_ended_per_uid || bytes > sv->o.max_kept_bytes_per_uid)) {
		serve_job *j = *pj;
		if (!j->ended || j->uid != uid || j == newest) {
			prev = j;
			pj = &j->next;
			continue;
		}
		*pj = j->next;
		if (sv->jobs_tail == j)
			sv->jobs_tail = prev;
		for (client *c = sv->clients; c; c = c->next)
			unsubscribe(c, j);
		bytes -= job_kept_bytes(j);
		job_free(j);
		ended--;
	}
}

/* After jobs ended: each uid that has ended jobs, within its caps. */
static void forget_old_jobs_all(serve *sv)
{
	uid_t *uids = NULL;
	size_t n = 0;
	for (serve_job *j = sv->jobs; j; j = j->next) {
		if (!j->ended)
			continue;
		bool seen = false;
		for (size_t i = 0; i < n && !seen; i++)
			seen = uids[i] == j->uid;
		if (!seen) {
			uids = sg_xrealloc(uids, (n + 1) * sizeof(*uids));
			uids[n++] = j->uid;
		}
	}
	for (size_t i = 0; i < n; i++)
		forget_old_jobs(sv, uids[i]);
	free(uids);
}

static void serve_free(serve *sv)
{
	while (sv->clients) {
		client *c = sv->clients;
		sv->clients = c->next;
		client_free(sv, c);
	}
	while (sv->jobs) {
		serve_job *j = sv->jobs;
		sv->jobs = j->next;
		job_free(j);
	}
	while (sv->cleanups) {
		serve_cleanup *cl = sv->cleanups;
		sv->cleanups = cl->next;
		cleanup_free(cl);
	}
	if (sv->cg_known)
		sg_cgroup_host_free(&sv->cg);
	if (sv->tmp_base) {
		rmdir(sv->tmp_base);
		free(sv->tmp_base);
	}
	for (size_t i = 0; sv->worker_env && sv->worker_env[i]; i++)
		free(sv->worker_env[i]);
	free(sv->worker_env);
	if (sv->exe_fd >= 0)
		close(sv->exe_fd);
	if (sv->spare_fd >= 0)
		close(sv->spare_fd);
	free(sv->socket_abs);
}

/* The workers' environment, whole: nothing of the daemon's own (it may hold anything:
 * credentials of the service manager, of the operator) but shipgate's settings. The
 * worker adds the user's HOME, USER, LOGNAME and the job's TMPDIR. */
static char **worker_environment(void)
{
	static const char *const passed[] = {
		"SHIPGATE_POLICY_DIR", /* the operator's policies are the workers' too */
#if defined(__SANITIZE_ADDRESS__)
		"ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS", /* a sanitizer build, tested */
#endif
	};
	char **env = sg_xcalloc(SG_ARRAY_LEN(passed) + 2, sizeof(char *));
	size_t n = 0;
	env[n++] = sg_xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	for (size_t i = 0; i < SG_ARRAY_LEN(passed); i++) {
		const char *v = getenv(passed[i]);
		if (!v)
			continue;
		/* a relative policy directory was the daemon's cwd's: the workers start in / */
		sg_autofree char *abs = !strcmp(passed[i], "SHIPGATE_POLICY_DIR") && v[0] != '/' ? realpath(v, NULL) : NULL;
		env[n++] = sg_xasprintf("%s=%s", passed[i], abs ? abs : v);
	}
	return env;
}

int sg_serve_main(const sg_serve_options *opts)
{
	serve sv = {.o = *opts, .listen_fd = -1, .sig_fd = -1, .pid = getpid(), .exe_fd = -1, .spare_fd = -1};
	sg_error err = {0};
	if (sv.o.socket_path[0] != '/') {
		char cwd[4096];
		if (!getcwd(cwd, sizeof(cwd))) {
			fprintf(stderr, "shipgate serve: --socket %s is relative and the current directory is unknown: %s\n",
				sv.o.socket_path, strerror(errno));
			return 3;
		}
		sv.socket_abs = sg_xasprintf("%s/%s", cwd, sv.o.socket_path);
		sv.o.socket_path = sv.socket_abs;
	}
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sv.sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sv.sig_fd < 0)
		sg_error_set(&err, SG_ERR_SANDBOX, errno, "signalfd");
	/* the program as it is now: an upgrade that replaces the file does not change
	 * what the workers of this daemon run */
	else if ((sv.exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) < 0)
		sg_error_set(&err, SG_ERR_SANDBOX, errno, "open /proc/self/exe");
	if (sv.sig_fd < 0 || sv.exe_fd < 0 || make_listener(&sv, &err) < 0) {
		fprintf(stderr, "shipgate serve: %s\n", err.msg);
		if (sv.exe_fd >= 0)
			close(sv.exe_fd);
		if (sv.sig_fd >= 0)
			close(sv.sig_fd);
		free(sv.socket_abs);
		return err.kind == SG_ERR_USAGE ? 2 : 3;
	}
	sv.worker_env = worker_environment();
	/* the daemon's cwd is no one's business, and its workers (dumpable once they are
	 * the client) would show it in /proc/PID/cwd: every path is absolute by now */
	if (chdir("/") < 0) {
		fprintf(stderr, "shipgate serve: chdir /: %s\n", strerror(errno));
		close(sv.listen_fd);
		unlink(sv.o.socket_path);
		serve_free(&sv);
		close(sv.sig_fd);
		return 3;
	}
	/* each client is a descriptor: take all the kernel allows (the workers get back the
	 * limit the daemon was given), and keep one spare for when they run out anyway */
	if (getrlimit(RLIMIT_NOFILE, &sv.nofile) == 0 && sv.nofile.rlim_cur < sv.nofile.rlim_max) {
		struct rlimit raised = {.rlim_cur = sv.nofile.rlim_max, .rlim_max = sv.nofile.rlim_max};
		(void)setrlimit(RLIMIT_NOFILE, &raised);
	}
	sv.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	sg_error cerr = {0};
	sv.cg_known = sg_cgroup_detect(&sv.cg, &cerr) == 0;
	/* each job's scratch under a directory of the daemon's own, removed with the job */
	const char *base = access("/var/tmp", W_OK) == 0 ? "/var/tmp" : "/tmp";
	sv.tmp_base = sg_xasprintf("%s/shipgate-serve-%d", base, (int)sv.pid);
	if (mkdir(sv.tmp_base, geteuid() == 0 ? 0711 : 0700) < 0) {
		free(sv.tmp_base);
		sv.tmp_base = NULL;
	}
	logf_(&sv, "listening on %s (uid %u), %u job%s at once", sv.o.socket_path, (unsigned)geteuid(), sv.o.max_jobs,
	      sv.o.max_jobs == 1 ? "" : "s");

	size_t cap = 0;
	struct pollfd *pfd = NULL;
	void **who = NULL;
	int *kind = NULL;
	for (;;) {
		uint64_t now = sg_monotonic_ms();
		drain_step(&sv, now);
		log_refusals(&sv, false);
		/* jobs whose worker is reaped (its pipe is closed then) are over, whether or
		 * not what was made for them can be removed yet */
		for (serve_job *j = sv.jobs; j; j = j->next) {
			if (j->state == JOB_RUNNING && j->worker == 0 && j->ev_fd < 0) {
				job_release(&sv, j, now);
				job_finish(&sv, j);
			}
		}
		if (sv.draining && sv.running == 0 && !sv.drain_idle_ms) {
			/* nothing runs any more: what is left in a cgroup is killed now */
			sv.drain_idle_ms = now;
			for (serve_cleanup *cl = sv.cleanups; cl; cl = cl->next)
				cl->kill_at_ms = cl->next_try_ms = now;
		}
		uint64_t next_cleanup = cleanup_step(&sv, now);
		schedule(&sv);
		if (sv.forget_pending) {
			sv.forget_pending = false;
			forget_old_jobs_all(&sv);
		}
		/* clients that are gone or done */
		for (client **pc = &sv.clients; *pc;) {
			client *c = *pc;
			if (c->dead || (c->closing && c->out.len == c->out_off)) {
				*pc = c->next;
				client_free(&sv, c);
				continue;
			}
			pc = &c->next;
		}
		/* a cgroup the client made impossible to remove holds the drain a bounded time */
		if (sv.draining && sv.running == 0 && (!sv.cleanups || now >= sv.drain_idle_ms + SG_SERVE_DRAIN_CLEANUP_MS))
			break;

		size_t need = 2;
		for (client *c = sv.clients; c; c = c->next)
			need++;
		for (serve_job *j = sv.jobs; j; j = j->next)
			need += j->ev_fd >= 0;
		if (need > cap) {
			cap = need * 2;
			pfd = sg_xrealloc(pfd, cap * sizeof(*pfd));
			who = sg_xrealloc(who, cap * sizeof(*who));
			kind = sg_xrealloc(kind, cap * sizeof(*kind));
		}
		size_t n = 0;
		pfd[n] = (struct pollfd){.fd = sv.sig_fd, .events = POLLIN};
		kind[n++] = 0;
		if (sv.accept_paused_until_ms && now >= sv.accept_paused_until_ms)
			sv.accept_paused_until_ms = 0;
		if (sv.listen_fd >= 0 && !sv.accept_paused_until_ms) {
			pfd[n] = (struct pollfd){.fd = sv.listen_fd, .events = POLLIN};
			kind[n++] = 1;
		}
		for (client *c = sv.clients; c; c = c->next) {
			/* POLLHUP and POLLERR come even without POLLIN */
			pfd[n] = (struct pollfd){.fd = c->fd,
						 .events = (short)((client_wants_input(c) ? POLLIN : 0) |
								   (c->out.len > c->out_off ? POLLOUT : 0))};
			who[n] = c;
			kind[n++] = 2;
		}
		for (serve_job *j = sv.jobs; j; j = j->next)
			if (j->ev_fd >= 0) {
				pfd[n] = (struct pollfd){.fd = j->ev_fd, .events = POLLIN};
				who[n] = j;
				kind[n++] = 3;
			}
		int timeout = sv.draining ? 200 : -1;
		if (next_cleanup && (timeout < 0 || next_cleanup - now < (uint64_t)timeout))
			timeout = next_cleanup > now ? (int)(next_cleanup - now) + 1 : 1;
		if (sv.accept_paused_until_ms && sv.listen_fd >= 0)
			timeout = (int)(sv.accept_paused_until_ms - now) + 1;
		int ready = poll(pfd, (nfds_t)n, timeout);
		if (ready < 0 && errno != EINTR)
			break;
		for (size_t i = 0; ready > 0 && i < n; i++) {
			if (!pfd[i].revents)
				continue;
			switch (kind[i]) {
			case 0: {
				struct signalfd_siginfo si;
				while (read(sv.sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					if (si.ssi_signo == SIGCHLD)
						reap(&sv);
					else
						start_drain(&sv);
				}
				reap(&sv);
				break;
			}
			case 1:
				client_accept(&sv);
				break;
			case 2: {
				client *c = who[i];
				if ((pfd[i].revents & POLLIN) || ((pfd[i].revents & (POLLHUP | POLLERR)) && client_wants_input(c)))
					client_read(&sv, c);
				else if (pfd[i].revents & POLLERR)
					c->dead = true;
				if (!c->dead && c->out.len > c->out_off)
					client_write(c);
				break;
			}
			case 3: {
				serve_job *j = who[i];
				if (j->ev_fd >= 0) /* not closed by a reap a moment ago */
					(void)worker_read(&sv, j);
				break;
			}
			default:
				break;
			}
		}
		/* replies made while handling others' input go out without waiting for POLLOUT;
		 * requests held back while a client's replies piled up are handled once it has
		 * read them */
		for (client *c = sv.clients; c; c = c->next) {
			if (!c->dead && c->out.len > c->out_off)
				client_write(c);
			/* until what is left waits for replies not sent yet: if all were sent at
			 * once, nothing would wake the daemon for the rest (no POLLIN, no POLLOUT) */
			while (!c->dead && c->raw.len && client_pending(c) < SG_SERVE_CLIENT_OUT_LOW) {
				client_process(&sv, c);
				if (!c->dead && c->out.len > c->out_off)
					client_write(c);
			}
		}
	}
	/* flush what the clients are owed (job_end lines), briefly */
	uint64_t until = sg_monotonic_ms() + 1000;
	for (bool pending = true; pending && sg_monotonic_ms() < until;) {
		pending = false;
		for (client *c = sv.clients; c; c = c->next)
			if (!c->dead && c->out.len > c->out_off) {
				client_write(c);
				pending = pending || (!c->dead && c->out.len > c->out_off);
			}
		if (pending)
			usleep(10000);
	}
	log_refusals(&sv, true);
	for (serve_cleanup *cl = sv.cleanups; cl; cl = cl->next) {
		for (int i = 0; cl->cg_dirs[i]; i++)
			if (cl->cg_dirs[i][0])
				logf_(&sv, "%s (uid %u): left behind: %s (could not be removed)", cl->id, (unsigned)cl->uid,
				      cl->cg_dirs[i]);
		/* what is left in those cgroups was killed: the scratch goes anyway */
		sg_error rm_err = {0};
		if (cl->tmp_dir && sg_rm_rf(cl->tmp_dir, &rm_err) < 0)
			logf_(&sv, "%s: could not remove %s: %s", cl->id, cl->tmp_dir, rm_err.msg);
	}
	logf_(&sv, "drained: exiting");
	if (sv.listen_fd >= 0) {
		close(sv.listen_fd);
		unlink(sv.o.socket_path);
	}
	free(pfd);
	free(who);
	free(kind);
	serve_free(&sv);
	close(sv.sig_fd);
	return 0;
}
