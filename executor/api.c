/* api.c: libshipgate's public C API (include/shipgate/shipgate.h) over the internals.
 *
 * This file is the firewall between the stable surface and the code behind it: every
 * public handle wraps an internal object, every public call checks its arguments and
 * copies what it returns into the handle, and nothing internal leaks through a public
 * type. Jobs, keys, verifying and deciding run here, in the caller's thread. Running a
 * job does not: sg_job_run starts `shipgate run -` with posix_spawn, hands it the job
 * handle's bytes on stdin and the key's PEM on a pipe (what runs is what the handles
 * hold, not what their files say by then), and reads its events and verdict, because a
 * threaded program cannot clone sandboxes safely (docs/api.md, "Threads, and where a
 * job runs").
 */
#include <shipgate/shipgate.h>

#include "decide.h"
#include "events.h"
#include "job.h"
#include "publish.h"
#include "run.h"
#include "sign.h"
#include "util.h"
#include "verify.h"
/* last: its macros rename OpenSSL's functions (crypto.h) */
#include "crypto.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

struct sg_api_job {
	sg_job *job;
	/* the exact bytes it was parsed from: what sg_job_run hands `shipgate run -`, so
	 * that what runs is this handle, whatever became of the file since */
	char *bytes;
	size_t len;
};

struct sg_api_key {
	sg_key *key;
	/* where a private key was read from, resolved when it was (absolute, canonical), to
	 * check that it lies out of the sandbox's sight */
	char *path;
};

struct sg_api_result {
	sg_outcome outcome;
	bool interrupted;
	char *reason;
	char *out_dir;
	sg_published pub;
};

struct sg_api_verified {
	sg_verdict v;
	char *statement; /* the signed payload, byte for byte (NUL-terminated) */
	size_t statement_len;
};

struct sg_api_decision {
	sg_decision d;
	char *json;
	char *markdown;
};

static int null_arg(sg_error *err, const char *fn, const char *what)
{
	return sg_error_set(err, SG_ERR_USAGE, 0, "%s: %s is NULL", fn, what);
}

/* Checked by every call that digests or signs before it does: where libcrypto cannot be
 * loaded the command line exits, but a library must not end its caller's process. */
static int need_crypto(sg_error *err, const char *fn)
{
	if (sg_crypto_available(err) == 0)
		return 0;
	return sg_error_prefix(err, "%s", fn);
}

SG_API int sg_api_version(void)
{
	return SHIPGATE_API_VERSION;
}

SG_API const char *sg_version(void)
{
	return SHIPGATE_VERSION;
}

/* ---- jobs ------------------------------------------------------------------------ */

/* Parse the bytes (taken over) as if from path. */
static sg_job_t *make_job(const char *path, char *bytes, size_t len, sg_error *err)
{
	sg_job *job = sg_job_parse(path, bytes, len, err);
	if (!job) {
		free(bytes);
		return NULL;
	}
	sg_job_t *j = sg_xcalloc(1, sizeof(*j));
	j->job = job;
	j->bytes = bytes;
	j->len = len;
	return j;
}

SG_API sg_job_t *sg_job_open(const char *path, sg_error *err)
{
	if (!path) {
		null_arg(err, "sg_job_open", "path");
		return NULL;
	}
	char *bytes = NULL;
	size_t len = 0;
	if (sg_job_read(path, &bytes, &len, err) < 0)
		return NULL;
	/* sg_job_read's buffer is as large as a job may be */
	char *fit = realloc(bytes, len ? len : 1);
	return make_job(path, fit ? fit : bytes, len, err);
}

SG_API sg_job_t *sg_job_from_json(const char *json, size_t len, const char *base_dir, sg_error *err)
{
	if (!json || !base_dir) {
		null_arg(err, "sg_job_from_json", json ? "base_dir" : "json");
		return NULL;
	}
	if (len > SG_JOB_MAX_BYTES) {
		sg_error_set(err, SG_ERR_USAGE, 0, "inline job: %zu bytes, expected at most %u (1 MiB)", len,
			     SG_JOB_MAX_BYTES);
		return NULL;
	}
	sg_autofree char *path = sg_xasprintf("%s/<inline job>", base_dir);
	char *bytes = sg_xmalloc(len ? len : 1);
	memcpy(bytes, json, len);
	return make_job(path, bytes, len, err);
}

SG_API void sg_job_close(sg_job_t *job)
{
	if (!job)
		return;
	sg_job_free(job->job);
	free(job->bytes);
	free(job);
}

SG_API const char *sg_job_get_name(const sg_job_t *job)
{
	return job ? job->job->name : NULL;
}

SG_API const char *sg_job_get_path(const sg_job_t *job)
{
	return job ? job->job->path : NULL;
}

SG_API const char *sg_job_get_workspace(const sg_job_t *job)
{
	return job ? job->job->workspace : NULL;
}

SG_API const char *sg_job_get_sha256(const sg_job_t *job)
{
	return job ? job->job->sha256 : NULL;
}

SG_API size_t sg_job_get_step_count(const sg_job_t *job)
{
	return job ? job->job->n_steps : 0;
}

SG_API const char *sg_job_get_step_name(const sg_job_t *job, size_t index)
{
	return job && index < job->job->n_steps ? job->job->steps[index].name : NULL;
}

/* ---- keys ------------------------------------------------------------------------ */

static sg_key_t *wrap_key(sg_key *key, char *path)
{
	if (!key) {
		free(path);
		return NULL;
	}
	sg_key_t *k = sg_xcalloc(1, sizeof(*k));
	k->key = key;
	k->path = path;
	return k;
}

/* A private key file, resolved before it is read: the handle knows the file it holds
 * whatever the working directory or the path's symlinks become. */
static sg_key_t *open_private(const char *path, sg_error *err)
{
	char *real = realpath(path, NULL);
	if (!real) {
		sg_error_set(err, SG_ERR_USAGE, errno, "%s", path);
		return NULL;
	}
	return wrap_key(sg_key_load_private(real, err), real);
}

SG_API sg_key_t *sg_key_open_private(const char *path, sg_error *err)
{
	if (!path) {
		null_arg(err, "sg_key_open_private", "path");
		return NULL;
	}
	if (need_crypto(err, "sg_key_open_private") < 0)
		return NULL;
	return open_private(path, err);
}

SG_API sg_key_t *sg_key_open_public(const char *path, sg_error *err)
{
	if (!path) {
		null_arg(err, "sg_key_open_public", "path");
		return NULL;
	}
	if (need_crypto(err, "sg_key_open_public") < 0)
		return NULL;
	return wrap_key(sg_key_load_public(path, err), NULL);
}

SG_API sg_key_t *sg_key_open_default(bool create, sg_error *err)
{
	if (need_crypto(err, "sg_key_open_default") < 0)
		return NULL;
	sg_autofree char *dir = sg_key_default_dir(err);
	if (!dir)
		return NULL;
	sg_autofree char *path = sg_xasprintf("%s/" SG_KEY_FILE_NAME, dir);
	if (create) {
		bool created = false;
		sg_autofree char *used = NULL;
		sg_key *made = sg_key_load_or_create(dir, &created, &used, NULL, err);
		if (!made) {
			sg_error_prefix(err, "default signing key");
			return NULL;
		}
		sg_key_free(made); /* read again below, as a key the caller names is */
	}
	sg_key_t *key = open_private(path, err);
	if (!key)
		sg_error_prefix(err, "default signing key");
	return key;
}

SG_API void sg_key_close(sg_key_t *key)
{
	if (!key)
		return;
	sg_key_free(key->key);
	free(key->path);
	free(key);
}

SG_API const char *sg_key_get_id(const sg_key_t *key)
{
	return key ? sg_key_id(key->key) : NULL;
}

/* ---- running --------------------------------------------------------------------- */

/* The caller's config, field by field as far as its struct reaches: a program built
 * against an older, shorter sg_run_config gets the defaults for what it does not know.
 * A size below the first version's is a config whose size was never set (a struct
 * cleared with memset, then filled in): refused, since reading none of its fields would
 * run with another out dir, no events and no interrupt, and say nothing. */
static int read_config(const sg_run_config *in, sg_run_config *out, sg_error *err)
{
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	if (!in)
		return 0;
	if (in->size < SG_RUN_CONFIG_SIZE_V1)
		return sg_error_set(err, SG_ERR_USAGE, 0,
				    "sg_job_run: cfg->size is %zu, less than any sg_run_config (%zu): set the "
				    "size field to sizeof(sg_run_config), or start from SG_RUN_CONFIG_INIT",
				    in->size, (size_t)SG_RUN_CONFIG_SIZE_V1);
	size_t n = in->size < sizeof(*out) ? in->size : sizeof(*out);
	memcpy(out, in, n);
	out->size = sizeof(*out);
	return 0;
}

/* The `shipgate` program that runs jobs for the library: $SHIPGATE_BIN, else the one
 * installed beside it (<prefix>/bin beside <prefix>/lib[/<multiarch>]), else the one in
 * the same directory (a build tree). */
static char *find_runner(sg_error *err)
{
	const char *env = getenv("SHIPGATE_BIN");
	if (env && *env) {
		if (access(env, X_OK) == 0)
			return sg_xstrdup(env);
		sg_error_set(err, SG_ERR_SANDBOX, errno, "SHIPGATE_BIN=%s", env);
		return NULL;
	}
	Dl_info info;
	if (dladdr((void *)find_runner, &info) && info.dli_fname && info.dli_fname[0] == '/') {
		sg_autofree char *dir = sg_xstrdup(info.dli_fname);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		static const char *const rel[] = {"../bin/shipgate", "../../bin/shipgate", "shipgate"};
		for (size_t i = 0; i < SG_ARRAY_LEN(rel); i++) {
			char *cand = sg_xasprintf("%s/%s", dir, rel[i]);
			char real[PATH_MAX];
			if (realpath(cand, real) && access(real, X_OK) == 0) {
				free(cand);
				return sg_xstrdup(real);
			}
			free(cand);
		}
	}
	sg_error_set(err, SG_ERR_SANDBOX, 0,
		     "cannot find the shipgate program beside libshipgate (install both, or set SHIPGATE_BIN)");
	return NULL;
}

static const struct {
	const char *name;
	sg_event_kind kind;
} event_kinds[] = {
	{"job_started", SG_EVENT_JOB_STARTED},     {"step_started", SG_EVENT_STEP_STARTED},
	{"step_finished", SG_EVENT_STEP_FINISHED}, {"tests", SG_EVENT_TESTS},
	{"service_ready", SG_EVENT_SERVICE_READY}, {"violation", SG_EVENT_VIOLATION},
	{"verdict_written", SG_EVENT_VERDICT_WRITTEN}, {"error", SG_EVENT_ERROR},
};

static sg_error_kind error_kind_of(const char *name)
{
	for (int k = SG_ERR_USAGE; k <= SG_ERR_VERIFY; k++)
		if (!strcmp(sg_error_kind_name((sg_error_kind)k), name))
			return (sg_error_kind)k;
	return SG_ERR_INTERNAL;
}

/* What the events of one run said. */
typedef struct run_watch {
	const sg_run_config *cfg;
	cJSON *verdict;   /* the verdict_written event */
	cJSON *error;     /* the error event */
	sg_buf partial;
} run_watch;

static void watch_line(run_watch *w, const char *line, size_t len)
{
	cJSON *ev = cJSON_ParseWithLength(line, len);
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(ev, "event");
	if (!cJSON_IsString(name)) {
		cJSON_Delete(ev);
		return;
	}
	sg_event_kind kind = 0;
	for (size_t i = 0; i < SG_ARRAY_LEN(event_kinds); i++)
		if (!strcmp(event_kinds[i].name, name->valuestring))
			kind = event_kinds[i].kind;
	if (kind && w->cfg->on_event)
		w->cfg->on_event(w->cfg->event_ctx, kind, line, len);
	if (kind == SG_EVENT_VERDICT_WRITTEN && !w->verdict)
		w->verdict = sg_steal_ptr(&ev);
	else if (kind == SG_EVENT_ERROR && !w->error)
		w->error = sg_steal_ptr(&ev);
	cJSON_Delete(ev);
}

static void watch_bytes(run_watch *w, const char *buf, size_t n)
{
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n')
			continue;
		sg_buf_append(&w->partial, buf + start, i - start);
		watch_line(w, w->partial.data ? w->partial.data : "", w->partial.len);
		sg_buf_free(&w->partial);
		start = i + 1;
	}
	if (start < n)
		sg_buf_append(&w->partial, buf + start, n - start);
}

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* fd, moved to a number of at least min (the child's dup2s onto 0..4 must not overwrite
 * one another's sources); -1 on failure (err set, unless fd was already -1). */
static int fd_at_least(int fd, int min, sg_error *err)
{
	if (fd < 0 || fd >= min)
		return fd;
	int moved = fcntl(fd, F_DUPFD_CLOEXEC, min);
	if (moved < 0)
		sg_error_set(err, SG_ERR_SANDBOX, errno, "sg_job_run: fcntl F_DUPFD_CLOEXEC");
	close(fd);
	return moved;
}

/* The job's bytes in a memfd, at offset 0: the runner's stdin. Nothing is written while
 * the runner runs, so no size of job can block either side. */
static int job_bytes_fd(const sg_job_t *job, sg_error *err)
{
	sg_autoclose int fd = memfd_create("shipgate-job", MFD_CLOEXEC);
	if (fd < 0 || sg_write_all(fd, job->bytes, job->len) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "sg_job_run: the job's bytes for the runner");
	return sg_steal_fd(&fd);
}

/* A pipe's read end holding the key's PEM text, then EOF: the runner's --key-fd. Written
 * whole before the runner starts (the text is a few hundred bytes, far less than a pipe
 * holds; non-blocking, so that it could never hang here), and read once by the runner:
 * the key is in no file the runner opens. */
static int key_pem_fd(const sg_key_t *key, sg_error *err)
{
	size_t len = 0;
	char *pem = sg_key_private_pem(key->key, &len, err);
	if (!pem)
		return -1;
	int p[2];
	int rc = pipe2(p, O_CLOEXEC);
	if (rc == 0) {
		rc = fcntl(p[1], F_SETFL, O_NONBLOCK) < 0 || sg_write_all(p[1], pem, len) < 0 ? -1 : 0;
		int e = errno;
		close(p[1]);
		if (rc < 0)
			close(p[0]);
		errno = e;
	}
	sg_key_pem_free(pem, len);
	if (rc < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "sg_job_run: the key for the runner");
	return p[0];
}

/* posix_spawn: the child execs at once, so nothing of this process's threads, locks or
 * heap is used in it. It gets the job's bytes on stdin, /dev/null as stdout and stderr,
 * the events pipe as fd 3 and the key as fd 4, nothing else of ours, and signals as a
 * fresh process has them. Returns 0 or an errno. */
static int spawn_runner(const char *runner, const char *const *argv, int job_fd, int events_fd, int key_fd,
			pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, job_fd, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, events_fd, 3);
	posix_spawn_file_actions_adddup2(&fa, key_fd, 4);
	posix_spawn_file_actions_addclosefrom_np(&fa, 5);
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t none, defaults;
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGINT);
	sigaddset(&defaults, SIGTERM);
	sigaddset(&defaults, SIGHUP);
	sigaddset(&defaults, SIGPIPE);
	sigaddset(&defaults, SIGCHLD);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &defaults);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	extern char **environ;
	int rc = posix_spawn(pid, runner, &fa, &at, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return rc;
}

SG_API sg_result_t *sg_job_run(const sg_job_t *job, const sg_key_t *key, const sg_run_config *cfg_in,
			       sg_error *err)
{
	if (!job || !key) {
		null_arg(err, "sg_job_run", job ? "key" : "job");
		return NULL;
	}
	if (!sg_key_has_private(key->key) || !key->path) {
		sg_error_set(err, SG_ERR_USAGE, 0, "sg_job_run: the key %s is a public key; signing needs the private one",
			     sg_key_id(key->key));
		return NULL;
	}
	sg_run_config cfg;
	if (read_config(cfg_in, &cfg, err) < 0)
		return NULL;
	/* the file the key was read from, as it was resolved then; the runner gets the key
	 * itself and has no file to check */
	if (sg_key_check_hidden(job->job, "signing key", key->path, err) < 0)
		return NULL;
	sg_autofree char *runner = find_runner(err);
	if (!runner)
		return NULL;

	/* shipgate run - --job-path PATH --events=3 --key-fd=4 --quiet --die-with-parent=PID
	 * [--out DIR] ...: the
	 * handle's job bytes on stdin, as if they were the file it was opened from */
	const char *argv[20];
	size_t n = 0;
	argv[n++] = runner;
	argv[n++] = "run";
	argv[n++] = "-";
	argv[n++] = "--job-path";
	argv[n++] = job->job->path;
	argv[n++] = "--events=3";
	argv[n++] = "--key-fd=4";
	argv[n++] = "--quiet";
	/* the caller killed (even with SIGKILL) takes its job with it: posix_spawn cannot
	 * set PR_SET_PDEATHSIG, the runner does it first thing (docs/api.md) */
	char parent[32];
	snprintf(parent, sizeof(parent), "--die-with-parent=%d", (int)getpid());
	argv[n++] = parent;
	if (cfg.out_dir) {
		argv[n++] = "--out";
		argv[n++] = cfg.out_dir;
	}
	if (cfg.allow_weaker)
		argv[n++] = "--allow-weaker";
	if (cfg.vsa)
		argv[n++] = "--vsa";
	if (cfg.no_trace)
		argv[n++] = "--no-trace";
	argv[n] = NULL;

	int evp[2] = {-1, -1};
	if (pipe2(evp, O_CLOEXEC) < 0) {
		sg_error_set(err, SG_ERR_SANDBOX, errno, "sg_job_run: pipe");
		return NULL;
	}
	evp[1] = fd_at_least(evp[1], 5, err);
	int job_fd = evp[1] >= 0 ? fd_at_least(job_bytes_fd(job, err), 5, err) : -1;
	int key_fd = job_fd >= 0 ? fd_at_least(key_pem_fd(key, err), 5, err) : -1;
	pid_t pid = -1;
	int rc = -1;
	if (key_fd >= 0) {
		rc = spawn_runner(runner, argv, job_fd, evp[1], key_fd, &pid);
		if (rc != 0)
			sg_error_set(err, SG_ERR_SANDBOX, rc, "sg_job_run: start %s", runner);
	}
	/* the runner has its copies (or there is no runner) */
	if (job_fd >= 0)
		close(job_fd);
	if (key_fd >= 0)
		close(key_fd);
	if (evp[1] >= 0)
		close(evp[1]);
	if (rc != 0) {
		close(evp[0]);
		return NULL;
	}

	run_watch w = {.cfg = &cfg};
	bool signalled = false;
	for (;;) {
		if (cfg.interrupted && *cfg.interrupted && !signalled) {
			/* as ^C to `shipgate run`: it kills the sandbox and signs an ERROR verdict */
			kill(pid, SIGTERM);
			signalled = true;
		}
		struct pollfd pfd = {.fd = evp[0], .events = POLLIN};
		int ready = poll(&pfd, 1, cfg.interrupted ? 100 : -1);
		if (ready < 0 && errno != EINTR)
			break;
		if (ready <= 0)
			continue;
		char buf[65536];
		ssize_t got = SG_RETRY(read(evp[0], buf, sizeof(buf)));
		if (got <= 0)
			break;
		watch_bytes(&w, buf, (size_t)got);
	}
	close(evp[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	sg_buf_free(&w.partial);

	sg_result_t *res = NULL;
	if (w.verdict) {
		res = sg_xcalloc(1, sizeof(*res));
		const char *result = jstr(w.verdict, "result");
		res->outcome = result && !strcmp(result, "PASSED")   ? SG_OUTCOME_PASSED
			       : result && !strcmp(result, "FAILED") ? SG_OUTCOME_FAILED
								     : SG_OUTCOME_ERROR;
		res->interrupted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w.verdict, "interrupted"));
		res->reason = sg_xstrdup(jstr(w.verdict, "reason") ? jstr(w.verdict, "reason") : "");
		res->out_dir = sg_xstrdup(jstr(w.verdict, "out_dir") ? jstr(w.verdict, "out_dir") : "");
		const char *st = jstr(w.verdict, "statement"), *vd = jstr(w.verdict, "verdict");
		res->pub.statement_path = sg_xstrdup(st ? st : "");
		res->pub.verdict_path = sg_xstrdup(vd ? vd : "");
		if (jstr(w.verdict, "vsa"))
			res->pub.vsa_path = sg_xstrdup(jstr(w.verdict, "vsa"));
		if (sg_read_file(res->pub.statement_path, SG_ENVELOPE_MAX, &res->pub.statement, &res->pub.statement_len,
				 err) < 0 ||
		    sg_read_file(res->pub.verdict_path, SG_ENVELOPE_MAX, &res->pub.envelope, &res->pub.envelope_len, err) <
			    0) {
			sg_error_prefix(err, "reading the verdict the runner wrote");
			sg_result_close(res);
			res = NULL;
		}
	} else if (w.error) {
		const char *kind = jstr(w.error, "kind"), *msg = jstr(w.error, "message");
		sg_error_set(err, error_kind_of(kind ? kind : "internal"), 0, "%s", msg ? msg : "shipgate run failed");
	} else {
		sg_error_set(err, SG_ERR_INTERNAL, 0, "%s run %s without a verdict", runner,
			     WIFSIGNALED(status) ? "was killed" : "exited");
	}
	cJSON_Delete(w.verdict);
	cJSON_Delete(w.error);
	return res;
}

SG_API void sg_result_close(sg_result_t *res)
{
	if (!res)
		return;
	sg_published_free(&res->pub);
	free(res->reason);
	free(res->out_dir);
	free(res);
}

SG_API sg_outcome sg_result_get_outcome(const sg_result_t *res)
{
	return res ? res->outcome : SG_OUTCOME_ERROR;
}

SG_API const char *sg_result_get_reason(const sg_result_t *res)
{
	return res ? res->reason : NULL;
}

SG_API bool sg_result_get_interrupted(const sg_result_t *res)
{
	return res && res->interrupted;
}

SG_API const char *sg_result_get_statement(const sg_result_t *res, size_t *len)
{
	if (len)
		*len = res ? res->pub.statement_len : 0;
	return res ? res->pub.statement : NULL;
}

SG_API const char *sg_result_get_envelope(const sg_result_t *res, size_t *len)
{
	if (len)
		*len = res ? res->pub.envelope_len : 0;
	return res ? res->pub.envelope : NULL;
}

SG_API const char *sg_result_get_out_dir(const sg_result_t *res)
{
	return res ? res->out_dir : NULL;
}

SG_API const char *sg_result_get_verdict_path(const sg_result_t *res)
{
	return res ? res->pub.verdict_path : NULL;
}

SG_API int sg_result_get_exit_code(const sg_result_t *res)
{
	if (!res)
		return 3;
	switch (res->outcome) {
	case SG_OUTCOME_PASSED: return 0;
	case SG_OUTCOME_FAILED: return 1;
	case SG_OUTCOME_ERROR:
	default: return 3;
	}
}

/* ---- verifying ------------------------------------------------------------------- */

/* Verify envelope bytes (origin names them in messages) and keep the signed payload's
 * exact bytes: what a caller reads is what was signed, not a re-serialisation. */
static sg_verified_t *verify_bytes(const char *origin, const char *envelope, size_t len, const sg_key_t *trusted,
				   sg_error *err)
{
	if (len > SG_ENVELOPE_MAX) {
		sg_error_set(err, SG_ERR_INPUT, 0, "%s: %zu bytes, expected at most %u", origin, len, SG_ENVELOPE_MAX);
		return NULL;
	}
	size_t payload_len = 0;
	unsigned char *payload =
		sg_dsse_verify(trusted->key, SG_DSSE_INTOTO_TYPE, origin, envelope, len, &payload_len, err);
	if (!payload)
		return NULL;
	sg_verdict v;
	memset(&v, 0, sizeof(v));
	sg_autofree char *porigin = sg_xasprintf("%s: payload", origin);
	if (sg_verdict_parse_statement(porigin, (const char *)payload, payload_len, &v, err) < 0) {
		free(payload);
		return NULL;
	}
	snprintf(v.keyid, sizeof(v.keyid), "%s", sg_key_id(trusted->key));
	sg_verified_t *out = sg_xcalloc(1, sizeof(*out));
	out->v = v;
	out->statement = (char *)payload; /* NUL-terminated by sg_dsse_verify */
	out->statement_len = payload_len;
	return out;
}

SG_API sg_verified_t *sg_verify_envelope(const void *envelope, size_t len, const sg_key_t *trusted,
					 sg_error *err)
{
	if (!envelope || !trusted) {
		null_arg(err, "sg_verify_envelope", envelope ? "trusted" : "envelope");
		return NULL;
	}
	if (need_crypto(err, "sg_verify_envelope") < 0)
		return NULL;
	return verify_bytes("envelope", envelope, len, trusted, err);
}

SG_API sg_verified_t *sg_verify_file(const char *path, const sg_key_t *trusted, sg_error *err)
{
	if (!path || !trusted) {
		null_arg(err, "sg_verify_file", path ? "trusted" : "path");
		return NULL;
	}
	if (need_crypto(err, "sg_verify_file") < 0)
		return NULL;
	sg_autofree char *text = NULL;
	size_t len = 0;
	if (sg_read_file(path, SG_ENVELOPE_MAX, &text, &len, err) < 0)
		return NULL;
	return verify_bytes(path, text, len, trusted, err);
}

SG_API int sg_verified_check_workspace(const sg_verified_t *v, const char *dir, sg_error *err)
{
	if (!v || !dir)
		return null_arg(err, "sg_verified_check_workspace", v ? "dir" : "v");
	char real[PATH_MAX];
	if (!realpath(dir, real))
		return sg_error_set(err, SG_ERR_INPUT, errno, "workspace %s", dir);
	char now[SG_SHA256_HEX_LEN];
	return sg_verdict_check_workspace(&v->v, real, now, err);
}

SG_API void sg_verified_close(sg_verified_t *v)
{
	if (!v)
		return;
	sg_verdict_free(&v->v);
	free(v->statement);
	free(v);
}

SG_API const char *sg_verified_get_statement(const sg_verified_t *v, size_t *len)
{
	if (len)
		*len = v ? v->statement_len : 0;
	return v ? v->statement : NULL;
}

SG_API const char *sg_verified_get_result(const sg_verified_t *v)
{
	return v ? v->v.result : NULL;
}

SG_API const char *sg_verified_get_subject(const sg_verified_t *v)
{
	return v ? v->v.subject_sha256 : NULL;
}

SG_API const char *sg_verified_get_keyid(const sg_verified_t *v)
{
	return v ? v->v.keyid : NULL;
}

/* ---- deciding -------------------------------------------------------------------- */

SG_API sg_decision_t *sg_verified_decide(const sg_verified_t *v, unsigned flags)
{
	if (!v)
		return NULL;
	sg_ship_policy p;
	sg_ship_policy_default(&p);
	p.allow_violations = flags & SG_SHIP_ALLOW_VIOLATIONS;
	p.require_seccomp = !(flags & SG_SHIP_ALLOW_NO_SECCOMP);
	p.require_namespaces = !(flags & SG_SHIP_ALLOW_NO_NAMESPACES);
	p.require_no_new_privs = !(flags & SG_SHIP_ALLOW_NEW_PRIVS);
	p.require_no_caps = !(flags & SG_SHIP_ALLOW_CAPS);
	p.require_memory_limit = !(flags & SG_SHIP_ALLOW_NO_MEMORY_LIMIT);
	p.require_pids_limit = !(flags & SG_SHIP_ALLOW_NO_PIDS_LIMIT);
	sg_decision_t *d = sg_xcalloc(1, sizeof(*d));
	sg_decide(v->v.statement, &p, &d->d);
	cJSON *j = sg_decision_json(&d->d);
	char *text = cJSON_Print(j);
	cJSON_Delete(j);
	d->json = text ? sg_xstrdup(text) : sg_xstrdup("{}");
	cJSON_free(text);
	d->markdown = sg_decision_markdown(&d->d, NULL);
	return d;
}

SG_API void sg_decision_close(sg_decision_t *d)
{
	if (!d)
		return;
	sg_decision_free(&d->d);
	free(d->json);
	free(d->markdown);
	free(d);
}

SG_API sg_decision_kind_t sg_decision_get_kind(const sg_decision_t *d)
{
	return d && d->d.kind == SG_SHIP ? SG_DECIDE_SHIP : SG_DECIDE_DIAGNOSE;
}

SG_API const char *sg_decision_get_category(const sg_decision_t *d)
{
	return d ? sg_diag_category_name(d->d.category) : NULL;
}

SG_API const char *sg_decision_get_summary(const sg_decision_t *d)
{
	return d ? d->d.summary : NULL;
}

SG_API const char *sg_decision_get_step(const sg_decision_t *d)
{
	return d ? d->d.step : NULL;
}

SG_API const char *sg_decision_get_next_step(const sg_decision_t *d)
{
	return d ? d->d.next_step : NULL;
}

SG_API const char *sg_decision_get_signature(const sg_decision_t *d)
{
	return d ? d->d.signature : NULL;
}

SG_API const char *sg_decision_get_json(const sg_decision_t *d)
{
	return d ? d->json : NULL;
}

SG_API const char *sg_decision_get_markdown(const sg_decision_t *d)
{
	return d ? d->markdown : NULL;
}
