/* serve_cgroup.c: the daemon's hold on a cgroup it delegated to a client (serve.h).
 *
 * Below the delegated directory the client makes what it likes while its job runs: a
 * tree nested deeper than PATH_MAX, say. So nothing here uses a path below the top:
 * each walk holds a descriptor per level and goes down with openat, and removes with
 * unlinkat(AT_REMOVEDIR). A walk is bounded in depth and in the directories it visits:
 * the daemon's loop must never be held by what a client built; what a walk could not
 * finish is reported, and the caller tries again later.
 */
#include "serve.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum cg_walk_op { CG_REVOKE, CG_KILL, CG_REMOVE } cg_walk_op;

typedef struct cg_walk {
	cg_walk_op op;
	unsigned visited;  /* directories seen, against SG_SERVE_CG_VISIT_MAX */
	bool incomplete;   /* something could not be done: try again */
} cg_walk;

/* SIGKILL every process listed in the cgroup.procs below dfd. */
static void kill_procs(int dfd, cg_walk *w)
{
	int fd = openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	char buf[8192];
	size_t have = 0;
	for (;;) {
		ssize_t n = SG_RETRY(read(fd, buf + have, sizeof(buf) - 1 - have));
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			uint64_t pid;
			if (sg_parse_u64(line, &pid) && pid > 1 && pid <= INT32_MAX && kill((pid_t)pid, SIGKILL) == 0)
				w->incomplete = true; /* it was there: the cgroup is not empty yet */
			line = nl + 1;
		}
		have = strlen(line);
		memmove(buf, line, have);
	}
	close(fd);
}

/* One level: do the op on what dfd holds, deepest first for removal. */
static void walk_level(int dfd, unsigned depth, cg_walk *w)
{
	if (w->op == CG_KILL)
		kill_procs(dfd, w);
	if (w->op == CG_REVOKE && fchown(dfd, geteuid(), getegid()) < 0 && errno != ENOENT)
		w->incomplete = true;
	int lfd = dup(dfd);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (!d) {
		if (lfd >= 0)
			close(lfd);
		w->incomplete = true;
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type != DT_DIR) {
			if (w->op == CG_REVOKE && fchownat(dfd, de->d_name, geteuid(), getegid(), AT_SYMLINK_NOFOLLOW) < 0 &&
			    errno != ENOENT)
				w->incomplete = true;
			continue;
		}
		if (depth + 1 > SG_SERVE_CG_DEPTH_MAX || ++w->visited > SG_SERVE_CG_VISIT_MAX) {
			w->incomplete = true;
			break;
		}
		int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			if (errno != ENOENT)
				w->incomplete = true;
			continue;
		}
		walk_level(sub, depth + 1, w);
		close(sub);
		if (w->op == CG_REMOVE && unlinkat(dfd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			w->incomplete = true;
	}
	closedir(d);
}

static int walk(const char *dir, cg_walk_op op)
{
	cg_walk w = {.op = op};
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	walk_level(fd, 0, &w);
	close(fd);
	if (op == CG_REMOVE && rmdir(dir) < 0 && errno != ENOENT)
		w.incomplete = true;
	return w.incomplete ? -1 : 0;
}

int sg_serve_cgroup_revoke(const char *dir)
{
	/* twice: what the client made during the first pass is in the second */
	return walk(dir, CG_REVOKE) == 0 && walk(dir, CG_REVOKE) == 0 ? 0 : -1;
}

int sg_serve_cgroup_kill(const char *dir)
{
	return walk(dir, CG_KILL);
}

/* Whether the cgroup file at path names a cgroup with `name` as a component. */
static bool cgroup_file_has(const char *path, const char *name, size_t nlen)
{
	sg_autofree char *text = NULL;
	if (sg_read_file(path, 1 << 20, &text, NULL, NULL) < 0)
		return false;
	for (const char *p = strstr(text, name); p; p = strstr(p + 1, name))
		if (p > text && p[-1] == '/' && (p[nlen] == '/' || p[nlen] == '\n' || p[nlen] == '\0'))
			return true;
	return false;
}

/* Whether a thread of the process but its leader is in such a cgroup: on v1 a thread
 * can be written into a cgroup's `tasks` alone, and /proc/PID/cgroup is the leader's. */
static bool thread_in(const char *pid, const char *name, size_t nlen)
{
	sg_autofree char *dir = sg_xasprintf("/proc/%s/task", pid);
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool found = false;
	struct dirent *de;
	while (!found && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, pid))
			continue;
		sg_autofree char *path = sg_xasprintf("%s/%s/cgroup", dir, de->d_name);
		found = cgroup_file_has(path, name, nlen);
	}
	closedir(d);
	return found;
}

/* Past the walks' depth a process could hide: find every process whose cgroup path
 * (any hierarchy, /proc/PID/cgroup, or a thread's, /proc/PID/task/TID/cgroup) has
 * `name` as a component, at any depth, and kill it. The name is the daemon's own for
 * one job (shipgate-serve-DPID-JOBID). */
int sg_serve_cgroup_kill_by_name(const char *name)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	size_t nlen = strlen(name);
	int killed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		uint64_t pid;
		if (!sg_parse_u64(de->d_name, &pid) || pid <= 1 || pid > INT32_MAX || (pid_t)pid == getpid())
			continue;
		sg_autofree char *path = sg_xasprintf("/proc/%s/cgroup", de->d_name);
		if ((cgroup_file_has(path, name, nlen) || thread_in(de->d_name, name, nlen)) &&
		    kill((pid_t)pid, SIGKILL) == 0)
			killed++;
	}
	closedir(d);
	return killed;
}

int sg_serve_cgroup_remove(const char *dir)
{
	return walk(dir, CG_REMOVE);
}
