/* serve_worker.c: one job of `shipgate serve`, in a process of its own (see serve.h).
 *
 * The daemon forks, and the fork at once execs this program afresh (`shipgate serve
 * --worker ID`, from an fd the daemon opened on its own executable): a fork would carry
 * the daemon's whole memory (other users' jobs and requests, their events and verdicts)
 * and its environment, and the worker is about to become the client, who may then read
 * its memory (it is dumpable, so that it can write its sandbox's uid map as the client's
 * own `shipgate run` does). The fresh image has fd 3, the write end of a pipe back to
 * the daemon, fd 4, the request (a memfd), and a minimal environment. In order:
 *   1. the request read from fd 4, and fd 4 closed; signals back to the defaults of
 *      the `shipgate` command, every other fd closed;
 *   2. the job's cgroups joined (the daemon made them for this client: delegation, so
 *      that limits hold although the job runs rootless);
 *   3. the client's identity taken for good: supplementary groups, then gid, then uid,
 *      all three of each (setresgid/setresuid), and checked; only now is the process
 *      made dumpable again, holding nothing but the client's own request; the
 *      environment set to the user's (HOME, USER, LOGNAME; TMPDIR the job's own);
 *   4. only now anything of the job is opened: the job file or the inline text with its
 *      workspace, the key, the out dir. The kernel checks each as it would for the
 *      client's own `shipgate run`: a path the client cannot read fails here.
 *   5. the job runs as `shipgate run` runs it; its events go to fd 3 as they come, then
 *      one line {"worker":"result",...} with the verdict's envelope, so the daemon never
 *      has to read the client's files.
 */
#include "cli_common.h"
#include "events.h"
#include "publish.h"
#include "serve.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#define WORKER_FD SG_SERVE_WORKER_EVENTS_FD

static void put_result(cJSON *r)
{
	cJSON_AddStringToObject(r, "worker", "result");
	char *text = cJSON_PrintUnformatted(r);
	cJSON_Delete(r);
	if (!text)
		return;
	sg_buf line = {0};
	sg_buf_puts(&line, text);
	sg_buf_append(&line, "\n", 1);
	(void)sg_write_all(WORKER_FD, line.data, line.len);
	sg_buf_free(&line);
	cJSON_free(text);
}

__attribute__((noreturn)) static void fail(sg_event_sink *sink, const sg_error *err, int code)
{
	if (sink)
		sg_event_error(sink, err);
	cJSON *r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "exit_code", code);
	cJSON_AddStringToObject(r, "error", err->msg);
	cJSON_AddStringToObject(r, "kind", sg_error_kind_name(err->kind));
	put_result(r);
	_exit(code);
}

static void reset_process(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	sg_cli_install_signals();
	/* nothing of the daemon's: not even its log (the client may ptrace its worker);
	 * what the worker has to say goes into the job's events. The daemon gave /dev/null
	 * already; this holds when the program is started otherwise. */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		close(null);
	}
	close_range(WORKER_FD + 1, ~0U, 0);
	(void)fcntl(WORKER_FD, F_SETFD, FD_CLOEXEC);
}

/* ---- the request, from the daemon to the worker ----------------------------------- */

static void put_str(cJSON *o, const char *key, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, key, v);
}

char *sg_serve_request_to_json(const sg_serve_request *req)
{
	cJSON *o = cJSON_CreateObject();
	put_str(o, "id", req->id);
	cJSON_AddNumberToObject(o, "uid", (double)req->uid);
	cJSON_AddNumberToObject(o, "gid", (double)req->gid);
	if (req->groups_known) {
		cJSON *g = cJSON_AddArrayToObject(o, "groups");
		for (size_t i = 0; i < req->n_groups; i++)
			cJSON_AddItemToArray(g, cJSON_CreateNumber((double)req->groups[i]));
	}
	put_str(o, "job_path", req->job_path);
	put_str(o, "job_json", req->job_json);
	put_str(o, "workspace", req->workspace);
	put_str(o, "out_dir", req->out_dir);
	put_str(o, "key_path", req->key_path);
	cJSON_AddBoolToObject(o, "allow_weaker", req->allow_weaker);
	cJSON_AddBoolToObject(o, "vsa", req->vsa);
	cJSON_AddBoolToObject(o, "no_trace", req->no_trace);
	put_str(o, "tmp_dir", req->tmp_dir);
	cJSON *procs = cJSON_AddArrayToObject(o, "cgroup_procs");
	for (size_t i = 0; req->cgroup_procs && req->cgroup_procs[i]; i++)
		cJSON_AddItemToArray(procs, cJSON_CreateString(req->cgroup_procs[i]));
	cJSON_AddNumberToObject(o, "daemon_pid", (double)req->daemon_pid);
	cJSON_AddNumberToObject(o, "max_job_memory_mb", (double)req->max_job_memory_mb);
	cJSON_AddNumberToObject(o, "max_job_pids", (double)req->max_job_pids);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		return NULL;
	char *copy = sg_xstrdup(text); /* the caller frees with free(), not cJSON_free() */
	cJSON_free(text);
	return copy;
}

static bool get_id(const cJSON *o, const char *key, uint64_t max, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (double)max ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble)
		return false;
	*out = (uint64_t)v->valuedouble;
	return true;
}

static const char *get_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int sg_serve_request_from_json(const char *text, size_t len, sg_serve_request *req, struct cJSON **tree,
			       sg_error *err)
{
	*req = (sg_serve_request){0};
	cJSON *o = cJSON_ParseWithLength(text, len);
	*tree = o;
	uint64_t uid, gid, pid;
	if (!cJSON_IsObject(o) || !get_str(o, "id") || !get_id(o, "uid", UINT32_MAX - 1, &uid) ||
	    !get_id(o, "gid", UINT32_MAX - 1, &gid) || !get_id(o, "daemon_pid", INT32_MAX, &pid))
		return sg_error_set(err, SG_ERR_SANDBOX, 0, "the daemon's request: not what a worker expects");
	if (!get_str(o, "job_path") == !get_str(o, "job_json") || (get_str(o, "job_json") && !get_str(o, "workspace")))
		return sg_error_set(err, SG_ERR_SANDBOX, 0, "the daemon's request: no job");
	req->id = get_str(o, "id");
	req->uid = (uid_t)uid;
	req->gid = (gid_t)gid;
	req->daemon_pid = (pid_t)pid;
	const cJSON *groups = cJSON_GetObjectItemCaseSensitive(o, "groups");
	if (cJSON_IsArray(groups)) {
		size_t n = (size_t)cJSON_GetArraySize(groups);
		gid_t *g = sg_xcalloc(n + 1, sizeof(gid_t));
		size_t i = 0;
		for (const cJSON *m = groups->child; m; m = m->next) {
			if (!cJSON_IsNumber(m) || m->valuedouble < 0 || m->valuedouble > (double)(UINT32_MAX - 1)) {
				free(g);
				return sg_error_set(err, SG_ERR_SANDBOX, 0, "the daemon's request: a bad group");
			}
			g[i++] = (gid_t)m->valuedouble;
		}
		req->groups = g;
		req->n_groups = i;
		req->groups_known = true;
	}
	req->job_path = get_str(o, "job_path");
	req->job_json = get_str(o, "job_json");
	req->job_json_len = req->job_json ? strlen(req->job_json) : 0;
	req->workspace = get_str(o, "workspace");
	req->out_dir = get_str(o, "out_dir");
	req->key_path = get_str(o, "key_path");
	req->allow_weaker = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "allow_weaker"));
	req->vsa = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "vsa"));
	req->no_trace = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "no_trace"));
	req->tmp_dir = get_str(o, "tmp_dir");
	const cJSON *procs = cJSON_GetObjectItemCaseSensitive(o, "cgroup_procs");
	size_t np = cJSON_IsArray(procs) ? (size_t)cJSON_GetArraySize(procs) : 0;
	char **p = sg_xcalloc(np + 1, sizeof(char *));
	size_t k = 0;
	for (const cJSON *m = np ? procs->child : NULL; m; m = m->next)
		if (cJSON_IsString(m))
			p[k++] = m->valuestring;
	req->cgroup_procs = p;
	const cJSON *mm = cJSON_GetObjectItemCaseSensitive(o, "max_job_memory_mb");
	const cJSON *mp = cJSON_GetObjectItemCaseSensitive(o, "max_job_pids");
	req->max_job_memory_mb = cJSON_IsNumber(mm) && mm->valuedouble > 0 && mm->valuedouble < 0x1p40
					 ? (uint64_t)mm->valuedouble : 0;
	req->max_job_pids = cJSON_IsNumber(mp) && mp->valuedouble > 0 && mp->valuedouble < 0x1p40
				    ? (uint64_t)mp->valuedouble : 0;
	return 0;
}

/* The request from fd 4 (a memfd the daemon wrote: its offset is at the end). */
static int read_request(sg_serve_request *req, cJSON **tree, sg_error *err)
{
	int fd = SG_SERVE_WORKER_REQUEST_FD;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > (off_t)SG_SERVE_REQUEST_MAX ||
	    lseek(fd, 0, SEEK_SET) < 0) {
		int e = errno;
		close(fd);
		return sg_error_set(err, SG_ERR_SANDBOX, e, "the daemon's request (fd %d)", fd);
	}
	sg_autofree char *text = sg_xcalloc(1, (size_t)st.st_size + 1);
	ssize_t n = sg_read_all(fd, text, (size_t)st.st_size);
	int e = errno;
	close(fd);
	if (n != (ssize_t)st.st_size)
		return sg_error_set(err, SG_ERR_SANDBOX, n < 0 ? e : 0, "read the daemon's request");
	return sg_serve_request_from_json(text, (size_t)n, req, tree, err);
}

static int join_cgroups(char *const *procs, sg_error *err)
{
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	for (size_t i = 0; procs && procs[i]; i++)
		if (sg_write_file(procs[i], pid, err) < 0)
			return sg_error_prefix(err, "join the job's cgroup");
	return 0;
}

/* Become the client: its groups, gid and uid, all of them, for good. */
static int become_client(const sg_serve_request *req, struct passwd *pw, sg_error *err)
{
	uid_t euid = geteuid();
	if (euid != 0) {
		if (req->uid != euid)
			return sg_error_set(err, SG_ERR_USAGE, 0,
					    "the daemon runs as uid %u and can run jobs only for that uid",
					    (unsigned)euid);
		return 0;
	}
	if (req->uid == 0)
		return 0; /* a root client runs as root, as its own `shipgate run` would */
	gid_t *groups = NULL;
	int n = 0;
	if (req->groups_known) {
		groups = sg_xcalloc(req->n_groups + 1, sizeof(gid_t));
		memcpy(groups, req->groups, req->n_groups * sizeof(gid_t));
		n = (int)req->n_groups;
	} else if (pw) {
		n = 64;
		groups = sg_xcalloc((size_t)n, sizeof(gid_t));
		if (getgrouplist(pw->pw_name, req->gid, groups, &n) < 0) {
			groups = sg_xrealloc(groups, (size_t)n * sizeof(gid_t));
			if (getgrouplist(pw->pw_name, req->gid, groups, &n) < 0)
				n = 0;
		}
	}
	int rc = setgroups((size_t)n, groups);
	free(groups);
	if (rc < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "setgroups");
	if (setresgid(req->gid, req->gid, req->gid) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "setresgid %u", (unsigned)req->gid);
	if (setresuid(req->uid, req->uid, req->uid) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "setresuid %u", (unsigned)req->uid);
	uid_t r, e, s;
	gid_t rg, eg, sgid;
	if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sgid) < 0 || r != req->uid || e != req->uid ||
	    s != req->uid || rg != req->gid || eg != req->gid || sgid != req->gid || setuid(0) == 0)
		return sg_error_set(err, SG_ERR_SANDBOX, 0, "could not take uid %u for good", (unsigned)req->uid);
	return 0;
}

static void user_environment(const sg_serve_request *req, const struct passwd *pw)
{
	/* the daemon's environment says nothing about the client: rebuild what `run` reads */
	unsetenv("XDG_STATE_HOME");
	unsetenv("XDG_CACHE_HOME");
	unsetenv("XDG_RUNTIME_DIR");
	setenv("HOME", pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : "/nonexistent", 1);
	if (pw && pw->pw_name) {
		setenv("USER", pw->pw_name, 1);
		setenv("LOGNAME", pw->pw_name, 1);
	}
	if (req->tmp_dir)
		setenv("TMPDIR", req->tmp_dir, 1);
	else
		unsetenv("TMPDIR");
}

/* Whether the limit file `name` of dir holds want (a file that is not there: true). */
static bool limit_in_place(const char *dir, const char *name, uint64_t want)
{
	sg_autofree char *path = sg_xasprintf("%s/%s", dir, name);
	sg_autofree char *text = NULL;
	if (sg_read_file(path, 64, &text, NULL, NULL) < 0)
		return errno == ENOENT;
	uint64_t v;
	text[strcspn(text, "\n")] = '\0';
	return sg_parse_u64(text, &v) && v == want;
}

/* One of the daemon's ceilings (0: none) on a limit the job asks for (0: no limit). */
static int over_ceiling(const char *field, uint64_t asked, const char *asked_unit, uint64_t ceiling,
			const char *ceiling_unit, const char *option, sg_error *err)
{
	if (!ceiling || (asked && asked <= ceiling))
		return 0;
	return sg_error_set(err, SG_ERR_USAGE, 0,
			    "limits.%s: the job asks for %llu%s (its own, or the default when it sets none); "
			    "this daemon runs jobs of at most %llu %s (serve %s)",
			    field, (unsigned long long)asked, asked ? asked_unit : " (no limit)",
			    (unsigned long long)ceiling, ceiling_unit, option);
}

/* The daemon's ceilings on the job's limits (serve --max-job-memory-mb, --max-job-pids):
 * a job that asks for more, or for no limit at all, does not run. */
static int job_within_ceilings(const sg_serve_request *req, const sg_job *job, sg_error *err)
{
	if (over_ceiling("memory_mb", job->limits.memory_mb, " MB", req->max_job_memory_mb, "MB",
			 "--max-job-memory-mb", err) < 0)
		return -1;
	return over_ceiling("pids", job->limits.pids, "", req->max_job_pids, "processes", "--max-job-pids", err);
}

/* The job's memory and pids limits on its delegated cgroups (see serve.h): asked of the
 * daemon, then waited for; without them, no step runs (fail closed). */
static int delegated_limits(const sg_serve_request *req, const sg_job *job, sg_error *err)
{
	if (!req->cgroup_procs || !req->cgroup_procs[0])
		return 0;
	/* a limit past what the kernel takes is no limit: capped at 2^50 bytes, 2^30 pids */
	uint64_t mem_mb = job->limits.memory_mb < (1ull << 30) ? job->limits.memory_mb : 1ull << 30;
	uint64_t pids = job->limits.pids < (1ull << 30) ? job->limits.pids : 1ull << 30;
	uint64_t mem = mem_mb ? (mem_mb + SG_SERVE_DELEG_MEMORY_MARGIN_MB) << 20 : 0;
	pids = pids ? pids + SG_SERVE_DELEG_PIDS_MARGIN : 0;
	if (pids > SG_SERVE_PID_MAX_LIMIT)
		pids = SG_SERVE_PID_MAX_LIMIT; /* the daemon clamps the same: see serve.h */
	char line[160];
	int n = snprintf(line, sizeof(line), "{\"worker\":\"limits\",\"memory_bytes\":%llu,\"pids\":%llu}\n",
			 (unsigned long long)mem, (unsigned long long)pids);
	if (sg_write_all(WORKER_FD, line, (size_t)n) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "ask the daemon for the job's limits");
	uint64_t until = sg_monotonic_ms() + SG_SERVE_DELEG_LIMITS_WAIT_MS;
	for (;;) {
		const char *missing = NULL;
		for (size_t i = 0; req->cgroup_procs[i] && !missing; i++) {
			sg_autofree char *dir = sg_xstrdup(req->cgroup_procs[i]);
			char *slash = strrchr(dir, '/');
			if (slash)
				*slash = '\0';
			if (mem && (!limit_in_place(dir, "memory.limit_in_bytes", mem) ||
				    !limit_in_place(dir, "memory.max", mem)))
				missing = "memory";
			if (!missing && pids && !limit_in_place(dir, "pids.max", pids))
				missing = "pids";
			if (missing && sg_monotonic_ms() > until)
				return sg_error_set(err, SG_ERR_SANDBOX, 0,
						    "the job's %s limit is not on its delegated cgroup %s after %u ms: "
						    "refusing to run without it",
						    missing, dir, SG_SERVE_DELEG_LIMITS_WAIT_MS);
		}
		if (!missing)
			return 0;
		usleep(10000);
	}
}

void sg_serve_worker_main(void)
{
	sg_error err = {0};
	sg_serve_request request;
	const sg_serve_request *req = &request;
	cJSON *tree = NULL;
	int rc = read_request(&request, &tree, &err);
	if (rc < 0) /* started by hand? (the daemon gives /dev/null as stderr) */
		fprintf(stderr, "shipgate serve --worker: the daemon's own worker: %s\n", err.msg);
	reset_process();
	if (rc < 0)
		fail(NULL, &err, 3);
	if (join_cgroups(req->cgroup_procs, &err) < 0)
		fail(NULL, &err, 3);
	/* the cwd we were given is the daemon's: once dumpable, the client would reach it
	 * through /proc/PID/cwd, past any directory closed to it. Every path of the request
	 * is absolute. */
	if (chdir("/") < 0) {
		sg_error_set(&err, SG_ERR_SANDBOX, errno, "chdir /");
		fail(NULL, &err, 3);
	}
	struct passwd pwbuf, *pw = NULL;
	char pwtext[16384];
	if (getpwuid_r(req->uid, &pwbuf, pwtext, sizeof(pwtext), &pw) != 0)
		pw = NULL;
	if (become_client(req, pw, &err) < 0)
		fail(NULL, &err, err.kind == SG_ERR_USAGE ? 2 : 3);
	/* credentials changed, and with them two process attributes: the kernel made us
	 * non-dumpable (our /proc files root's: we could not write our sandbox's uid map as
	 * the client's own `shipgate run` does), and reset the parent-death signal. Being
	 * dumpable gives the client our memory: it holds only this fresh image and the
	 * client's own request. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	if (getppid() != req->daemon_pid)
		_exit(3);
	user_environment(req, pw);

	sg_event_sink sink;
	sg_event_sink_init(&sink);
	sink.fd = WORKER_FD;
	sink.id = req->id;

	sg_job *job = NULL;
	if (req->job_path) {
		job = sg_job_load(req->job_path, &err);
	} else {
		sg_autofree char *origin = sg_xasprintf("%s/<inline job>", req->workspace);
		job = sg_job_parse(origin, req->job_json, req->job_json_len, &err);
	}
	if (!job)
		fail(&sink, &err, 2);
	sink.job_name = job->name;
	if (job_within_ceilings(req, job, &err) < 0)
		fail(&sink, &err, 2);
	if (delegated_limits(req, job, &err) < 0)
		fail(&sink, &err, 3);
	/* the worker supervises the job: lean as `run`, its key held by a signer process */
	sg_key_crypto_in_child(true);
	sg_autofree char *key_path = NULL;
	sg_key *key = NULL;
	if (req->key_path) {
		key = sg_key_load_private(req->key_path, &err);
		if (key)
			key_path = sg_xstrdup(req->key_path);
		else
			sg_error_prefix(&err, "key");
	} else {
		key = sg_cli_load_signing_key(job, NULL, &key_path, &err);
	}
	if (!key || sg_key_check_hidden(job, req->key_path ? "key" : "default signing key", key_path, &err) < 0)
		fail(&sink, &err, 2);

	sg_run_options ro = {.out_dir = req->out_dir, .allow_weaker = req->allow_weaker, .no_trace = req->no_trace,
			     .interrupted = &sg_cli_interrupted};
	sg_run_outcome oc;
	if (sg_run_and_publish(job, key, &ro, req->vsa, &sink, &oc, &err) < 0) {
		sg_run_outcome_free(&oc);
		/* cancelled before the first step (while the workspace was digested): as run */
		fail(NULL, &err, sg_cli_interrupted ? 128 + sg_cli_interrupted
				 : err.kind == SG_ERR_USAGE || err.kind == SG_ERR_INPUT ? 2 : 3);
	}
	int code = oc.result == SG_RESULT_PASSED ? 0 : oc.result == SG_RESULT_FAILED ? 1 : 3;
	cJSON *r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "exit_code", code);
	cJSON_AddStringToObject(r, "result", sg_run_result_name(oc.result));
	cJSON_AddStringToObject(r, "reason", oc.reason);
	cJSON_AddBoolToObject(r, "interrupted", oc.interrupted);
	cJSON_AddStringToObject(r, "out_dir", oc.out_dir);
	cJSON_AddStringToObject(r, "verdict_path", oc.pub.verdict_path);
	cJSON_AddStringToObject(r, "keyid", sg_key_id(key));
	cJSON_AddStringToObject(r, "envelope", oc.pub.envelope);
	put_result(r);
	sg_run_outcome_free(&oc);
	sg_key_free(key);
	sg_job_free(job);
	_exit(code);
}
