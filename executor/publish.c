/* publish.c: the out dir's verdict files and the signing key's hiding place (see
 * publish.h). Moved here from cli_run.c so that the CLI, the daemon and the C API write
 * byte-for-byte the same files. */
#include "publish.h"
#include "digest.h"
#include "events.h"
#include "rootfs.h"
#include "sign.h"
#include "util.h"
#include "vsa.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the signing key ----------------------------------------------------------------- */

/* What of the host the default "host" root shows the steps (mounts.c: host_dirs and
 * /etc, less its hidden entries, of which only ssl/private is a place for keys). */
static const char *const host_visible[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32",
					   "/lib64", "/libx32", "/etc"};

static bool host_root_shows(const char *real)
{
	if (sg_path_within(real, "/etc/ssl/private"))
		return false;
	for (size_t i = 0; i < SG_ARRAY_LEN(host_visible); i++) {
		char dir[PATH_MAX];
		if (sg_path_within(real, host_visible[i]) ||
		    (realpath(host_visible[i], dir) && sg_path_within(real, dir)))
			return true;
	}
	return false;
}

void sg_own_state_find(sg_own_state *s)
{
	sg_error ignored = {0};
	sg_autofree char *key = sg_key_default_dir(&ignored);
	sg_autofree char *images = sg_rootfs_cache_dir();
	/* all of shipgate's cache dir, not only its images: whatever is kept there later */
	char *slash = images ? strrchr(images, '/') : NULL;
	if (slash && !strcmp(slash, "/rootfs"))
		*slash = '\0';
	s->key_dir = sg_realpath_partial(key);
	s->image_dir = sg_realpath_partial(images);
}

void sg_own_state_free(sg_own_state *s)
{
	free(s->key_dir);
	free(s->image_dir);
	s->key_dir = s->image_dir = NULL;
}

int sg_own_state_check(const sg_own_state *s, const char *what, const char *dir, bool writable, sg_error *err)
{
	sg_autofree char *real = sg_realpath_partial(dir);
	if (!real)
		return 0;
	const char *paths[2] = {s->key_dir, writable ? s->image_dir : NULL};
	static const char *const names[2] = {"the signing key's directory",
					     "shipgate's cache (the root filesystem images)"};
	static const char *const why[2] = {"a command there could read the key verdicts are signed with, "
					   "or plant its own",
					   "a command there could change an image that later verdicts name by "
					   "its recorded digest"};
	for (size_t i = 0; i < 2; i++) {
		if (!paths[i])
			continue;
		bool holds = sg_path_within(paths[i], real), inside = sg_path_within(real, paths[i]);
		if (holds || inside)
			return sg_error_set(err, SG_ERR_USAGE, 0, "%s %s %s %s (%s): %s", what, dir,
					    holds ? "holds" : "lies in", names[i], paths[i], why[i]);
	}
	return 0;
}

int sg_own_state_check_workspace(const sg_own_state *s, const char *what, const char *ws, bool writes_host,
				 sg_error *err)
{
	if (writes_host || (s->key_dir && sg_path_within(ws, s->key_dir)))
		return sg_own_state_check(s, what, ws, writes_host, err);
	return 0;
}

void sg_own_state_hidden(const sg_own_state *s, const char *ws, char *hide[3])
{
	const char *dirs[2] = {s->key_dir, s->image_dir};
	size_t n = 0;
	for (size_t i = 0; i < 2; i++) {
		/* resolved already where they exist (sg_realpath_partial) */
		struct stat st;
		if (dirs[i] && strcmp(dirs[i], ws) && sg_path_within(dirs[i], ws) && lstat(dirs[i], &st) == 0)
			hide[n++] = sg_xstrdup(dirs[i] + strlen(ws) + (strcmp(ws, "/") ? 1 : 0));
	}
	hide[n] = NULL;
}

int sg_key_check_hidden(const sg_job *job, const char *what, const char *key_path, sg_error *err)
{
	/* not made yet (the default key's directory): where it will be made */
	sg_autofree char *abs = key_path[0] == '/' ? sg_xstrdup(key_path) : NULL;
	if (!abs) {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return sg_error_set(err, SG_ERR_USAGE, errno, "%s %s", what, key_path);
		abs = sg_xasprintf("%s/%s", cwd, key_path);
	}
	sg_autofree char *resolved = sg_realpath_partial(abs);
	if (!resolved || strlen(resolved) >= PATH_MAX)
		return sg_error_set(err, SG_ERR_USAGE, ENAMETOOLONG, "%s %s", what, key_path);
	char real[PATH_MAX];
	memcpy(real, resolved, strlen(resolved) + 1);
	/* a hard link elsewhere (in the workspace) is the same key under a name no path
	 * check sees: a key file must have exactly one */
	struct stat kst;
	if (lstat(real, &kst) == 0 && S_ISREG(kst.st_mode) && kst.st_nlink > 1)
		return sg_error_set(err, SG_ERR_USAGE, 0,
				    "%s %s: the private key file has %ju hard links; one of them could lie where "
				    "the job's steps can read it: keep a single link",
				    what, key_path, (uintmax_t)kst.st_nlink);
	const char *where = NULL, *dir = NULL;
	if (sg_path_within(real, job->workspace)) {
		where = "the workspace";
		dir = job->workspace;
	}
	for (size_t i = 0; !where && i < job->n_mounts; i++)
		if (sg_path_within(real, job->mounts[i].source)) {
			where = "a mount of the job";
			dir = job->mounts[i].source;
		}
	if (!where && strcmp(job->rootfs, "host") && sg_path_within(real, job->rootfs)) {
		where = "the job's rootfs";
		dir = job->rootfs;
	}
	if (!where && !strcmp(job->rootfs, "host") && host_root_shows(real)) {
		where = "the host directories the sandbox shows";
		dir = "/";
	}
	if (!where)
		return 0;
	return sg_error_set(err, SG_ERR_USAGE, 0,
			    "%s %s: the private key lies in %s (%s), where the job's steps could "
			    "read it; keep it outside",
			    what, key_path, where, dir);
}

int sg_key_check_hidden_fd(const sg_job *job, const char *what, int fd, sg_error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return sg_error_set(err, SG_ERR_USAGE, errno, "%s", what);
	char proc[64], target[PATH_MAX];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, target, sizeof(target) - 1);
	if (n < 0 || (size_t)n >= sizeof(target) - 1) {
		/* no /proc: only what has no name anywhere (a pipe, a socket) is safe to take */
		if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
			return 0;
		return sg_error_set(err, SG_ERR_USAGE, n < 0 ? errno : ENAMETOOLONG,
				    "%s: cannot tell which file the descriptor is (%s), so not where it lies; "
				    "send the key through a pipe",
				    what, proc);
	}
	target[n] = '\0';
	/* "pipe:[N]", "socket:[N]", "anon_inode:...": no path a step could open */
	if (target[0] != '/')
		return 0;
	/* an unlinked file (or a memfd) has no name left for a step to open it by */
	if (st.st_nlink == 0)
		return 0;
	if (S_ISREG(st.st_mode) && st.st_nlink > 1)
		return sg_error_set(err, SG_ERR_USAGE, 0,
				    "%s (%s): the private key file has %ju hard links; one of them could lie "
				    "where the job's steps can read it: keep a single link",
				    what, target, (uintmax_t)st.st_nlink);
	/* the name must still lead to this very file: the descriptor could come from another
	 * mount namespace, or the file be renamed over since; a name that is not the key's
	 * says nothing about where the key is */
	struct stat named;
	if (stat(target, &named) < 0 || named.st_dev != st.st_dev || named.st_ino != st.st_ino)
		return sg_error_set(err, SG_ERR_USAGE, 0,
				    "%s: the file it is open on (%s) is not found by that name, so where it "
				    "lies cannot be checked; send the key through a pipe",
				    what, target);
	sg_autofree char *named_what = sg_xasprintf("%s, the file", what);
	return sg_key_check_hidden(job, named_what, target, err);
}

/* ---- the out dir ---------------------------------------------------------------------- */

/* vsa.dsse.json: the VSA that points at the verdict envelope by its digest. */
static int write_vsa(const sg_run *run, const sg_key *key, const char *verdict_sha, const char *path,
		     sg_error *err)
{
	cJSON *st = sg_vsa_statement(run, "verdict.dsse.json", verdict_sha);
	char *text = cJSON_Print(st);
	cJSON_Delete(st);
	if (!text)
		return sg_error_set(err, SG_ERR_INTERNAL, ENOMEM, "%s", path);
	size_t env_len = 0;
	sg_autofree char *env = sg_dsse_sign(key, SG_DSSE_INTOTO_TYPE, text, strlen(text), &env_len, err);
	cJSON_free(text);
	if (!env || sg_write_file_atomic(path, env, env_len, 0644, err) < 0)
		return -1;
	return 0;
}

int sg_publish_verdict(const sg_run *run, const sg_key *key, bool vsa, sg_published *out, sg_error *err)
{
	sg_published local = {0};
	sg_published *p = out ? out : &local;
	memset(p, 0, sizeof(*p));
	p->statement_path = sg_xasprintf("%s/statement.json", run->out_dir);
	p->verdict_path = sg_xasprintf("%s/verdict.dsse.json", run->out_dir);
	sg_autofree char *vsa_path = sg_xasprintf("%s/vsa.dsse.json", run->out_dir);
	sg_autoclose int statement_fd = -1;
	int rc = -1;
	/* a verdict of an earlier run must never sit beside this run's statement */
	if ((unlink(p->verdict_path) < 0 && errno != ENOENT) || (unlink(vsa_path) < 0 && errno != ENOENT)) {
		sg_error_set(err, SG_ERR_INTERNAL, errno, "remove the previous verdict in %s", run->out_dir);
		goto done;
	}
	/* statement.json written in pieces as it is made, then signed from the same open file
	 * (read back in pieces): a large run's statement is never whole in this process */
	sg_atomic_file f;
	if (sg_atomic_file_open(&f, p->statement_path, 0644, err) < 0)
		goto done;
	uint64_t len = 0;
	int wrc = sg_verdict_statement_write(run, sg_statement_sink_fd, &f.fd, &len);
	if (wrc < 0) {
		sg_error_set(err, SG_ERR_INTERNAL, -wrc, "write %s", f.tmp);
		sg_atomic_file_abort(&f);
		goto done;
	}
	statement_fd = fcntl(f.fd, F_DUPFD_CLOEXEC, 3);
	if (statement_fd < 0) {
		sg_error_set(err, SG_ERR_INTERNAL, errno, "%s", f.tmp);
		sg_atomic_file_abort(&f);
		goto done;
	}
	if (sg_atomic_file_commit(&f, err) < 0)
		goto done;
	p->statement_len = (size_t)len;
	char verdict_sha[SG_SHA256_HEX_LEN];
	if (sg_dsse_sign_fd_to_file(key, SG_DSSE_INTOTO_TYPE, statement_fd, p->statement_len, p->verdict_path,
				    verdict_sha, err) < 0)
		goto done;
	if (vsa) {
		if (write_vsa(run, key, verdict_sha, vsa_path, err) < 0)
			goto done;
		p->vsa_path = sg_steal_ptr(&vsa_path);
	}
	rc = 0;
done:
	if (!out)
		sg_published_free(&local);
	return rc;
}

void sg_published_free(sg_published *p)
{
	free(p->statement);
	free(p->envelope);
	free(p->statement_path);
	free(p->verdict_path);
	free(p->vsa_path);
	memset(p, 0, sizeof(*p));
}

/* ---- run, publish, tell --------------------------------------------------------------- */

int sg_run_and_publish(const sg_job *job, const sg_key *key, const sg_run_options *ro_in, bool vsa,
		       struct sg_event_sink *sink_in, sg_run_outcome *out, sg_error *err)
{
	memset(out, 0, sizeof(*out));
	sg_event_sink none;
	sg_event_sink_init(&none);
	sg_event_sink *sink = sink_in ? sink_in : &none;
	if (!sink->job_name)
		sink->job_name = job->name;
	sg_run_events hooks = sg_event_sink_hooks(sink);
	sg_run_options ro = ro_in ? *ro_in : (sg_run_options){0};
	ro.events = &hooks;
	sg_run run;
	if (sg_run_job(job, &ro, &run, err) < 0) {
		sg_event_error(sink, err);
		sg_run_free(&run);
		return -1;
	}
	int rc = sg_publish_verdict(&run, key, vsa, &out->pub, err);
	if (rc < 0) {
		sg_error_prefix(err, "writing the verdict");
		sg_event_error(sink, err);
		sg_run_free(&run);
		return -1;
	}
	/* the envelope, for the daemon's reply, from the file it was written to (the out dir
	 * is still locked: no other run writes there) */
	if (sg_read_file(out->pub.verdict_path, SG_ENVELOPE_MAX, &out->pub.envelope, &out->pub.envelope_len, err) <
	    0) {
		sg_error_prefix(err, "reading back the verdict");
		sg_event_error(sink, err);
		sg_run_free(&run);
		return -1;
	}
	sg_event_verdict_written(sink, &run, &out->pub, sg_key_id(key));
	out->result = run.result;
	out->interrupted = run.interrupted;
	out->reason = sg_xstrdup(run.reason ? run.reason : "");
	out->out_dir = sg_xstrdup(run.out_dir);
	sg_run_free(&run);
	return 0;
}

void sg_run_outcome_free(sg_run_outcome *o)
{
	sg_published_free(&o->pub);
	free(o->reason);
	free(o->out_dir);
	memset(o, 0, sizeof(*o));
}
