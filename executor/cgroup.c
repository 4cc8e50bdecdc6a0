/* cgroup.c: detection of the host's cgroup layout and the version-independent face of a
 * step's cgroup. The per-version work is in cgroup_v1.c and cgroup_v2.c. */
#include "cgroup.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *const ctrl_names[SG_CG_NCTRL] = {"memory", "pids", "cpu", "cpuacct",
						     "freezer"};

const char *sg_cgroup_ctrl_name(sg_cgroup_ctrl c)
{
	return (unsigned)c < SG_CG_NCTRL ? ctrl_names[c] : "?";
}

static int ctrl_index(const char *name, size_t len)
{
	for (int i = 0; i < SG_CG_NCTRL; i++)
		if (strlen(ctrl_names[i]) == len && !strncmp(ctrl_names[i], name, len))
			return i;
	return -1;
}

/* Does the comma-separated option list contain `word`? */
static bool opts_have(const char *opts, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = opts; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == wl && !strncmp(p, word, wl))
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* Our cgroup path per v1 controller and on v2, from /proc/self/cgroup. */
static int read_own_paths(char *v1_path[SG_CG_NCTRL], char **v2_path, sg_error *err)
{
	sg_autofree char *data = NULL;
	if (sg_read_file("/proc/self/cgroup", 1 << 20, &data, NULL, err) < 0)
		return -1;
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrls = c1 + 1;
		const char *path = c2 + 1;
		if (*ctrls == '\0') {
			free(*v2_path);
			*v2_path = sg_xstrdup(path);
			continue;
		}
		for (const char *p = ctrls; *p;) {
			const char *comma = strchr(p, ',');
			size_t len = comma ? (size_t)(comma - p) : strlen(p);
			int i = ctrl_index(p, len);
			if (i >= 0) {
				free(v1_path[i]);
				v1_path[i] = sg_xstrdup(path);
			}
			p = comma ? comma + 1 : p + len;
		}
	}
	return 0;
}

/* Join a mount point, the mount's root and our path into our cgroup directory. */
static char *own_dir(const char *mount_point, const char *mount_root, const char *path)
{
	if (!path)
		return NULL;
	size_t rl = strlen(mount_root);
	if (strcmp(mount_root, "/") != 0) {
		if (strncmp(path, mount_root, rl) != 0 || (path[rl] != '/' && path[rl] != '\0'))
			return NULL; /* our cgroup is outside what this mount shows */
		path += rl;
	}
	while (*path == '/')
		path++;
	return *path ? sg_xasprintf("%s/%s", mount_point, path) : sg_xstrdup(mount_point);
}

static void read_v2_controllers(sg_cgroup_host *host, const char *dir)
{
	sg_autofree char *ctrls = NULL;
	sg_autofree char *path = sg_xasprintf("%s/cgroup.controllers", dir);
	if (sg_read_file(path, 4096, &ctrls, NULL, NULL) < 0)
		return;
	char *save = NULL;
	for (char *w = strtok_r(ctrls, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
		int i = ctrl_index(w, strlen(w));
		if (i >= 0)
			host->v2_controllers[i] = true;
	}
}

int sg_cgroup_detect(sg_cgroup_host *host, sg_error *err)
{
	memset(host, 0, sizeof(*host));
	char *own_v1[SG_CG_NCTRL] = {0};
	sg_autofree char *own_v2 = NULL;
	if (read_own_paths(own_v1, &own_v2, err) < 0)
		return sg_error_prefix(err, "cgroup detection");

	sg_autofclose FILE *mi = fopen("/proc/self/mountinfo", "re");
	if (!mi) {
		for (int i = 0; i < SG_CG_NCTRL; i++)
			free(own_v1[i]);
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "open /proc/self/mountinfo");
	}
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, mi) > 0) {
		/* id parent major:minor root mount-point options [optional...] - type source super */
		char root[4096], mnt[4096];
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2)
			continue;
		char *dash = strstr(line, " - ");
		if (!dash)
			continue;
		char fstype[64], source[256], super[1024];
		if (sscanf(dash + 3, "%63s %255s %1023s", fstype, source, super) != 3)
			continue;
		/* The first mount of a hierarchy wins, except that a later one at the same
		 * mount point is mounted over it and is what that path shows (a bind mount of
		 * a subtree over the hierarchy: containers, or Slurm's slurmd in
		 * scripts/slurm/local-cluster). */
		if (!strcmp(fstype, "cgroup2") && (!host->v2_mount || !strcmp(host->v2_mount, mnt))) {
			free(host->v2_mount);
			free(host->v2_own);
			host->v2_mount = sg_xstrdup(mnt);
			host->v2_own = own_dir(mnt, root, own_v2);
		} else if (!strcmp(fstype, "cgroup")) {
			for (int i = 0; i < SG_CG_NCTRL; i++) {
				if (!opts_have(super, ctrl_names[i]) || (host->v1_mount[i] && strcmp(host->v1_mount[i], mnt)))
					continue;
				free(host->v1_mount[i]);
				free(host->v1_own[i]);
				host->v1_mount[i] = sg_xstrdup(mnt);
				host->v1_own[i] = own_dir(mnt, root, own_v1[i]);
			}
		}
	}
	free(line);
	for (int i = 0; i < SG_CG_NCTRL; i++)
		free(own_v1[i]);

	if (host->v2_own)
		read_v2_controllers(host, host->v2_own);
	/* root may take a parent at the top of the hierarchy (see cgroup_v2.c): what the
	 * root cgroup offers is available to it whatever its own cgroup was given */
	if (host->v2_mount && geteuid() == 0)
		read_v2_controllers(host, host->v2_mount);

	bool any_v1 = false;
	for (int i = 0; i < SG_CG_NCTRL; i++) {
		const char *dir = NULL;
		if (host->v1_mount[i]) {
			host->use[i] = SG_CGV_1;
			dir = host->v1_own[i];
			any_v1 = true;
		} else if (host->v2_own && host->v2_controllers[i]) {
			host->use[i] = SG_CGV_2;
			dir = host->v2_own;
		} else if (host->v2_own && (i == SG_CG_CPUACCT || i == SG_CG_FREEZER)) {
			/* v2 has cpu usage in cpu.stat and freezing in cgroup.freeze: no controller */
			host->use[i] = SG_CGV_2;
			dir = host->v2_own;
		} else {
			snprintf(host->why_not[i], sizeof(host->why_not[i]),
				 "no hierarchy offers the %s controller", ctrl_names[i]);
			continue;
		}
		if (!dir) {
			host->use[i] = SG_CGV_NONE;
			snprintf(host->why_not[i], sizeof(host->why_not[i]),
				 "our cgroup is not visible in the %s hierarchy", ctrl_names[i]);
		} else if (access(dir, W_OK) != 0) {
			snprintf(host->why_not[i], sizeof(host->why_not[i]),
				 "%s is not writable (no delegation)", dir);
		} else {
			host->writable[i] = true;
		}
	}
	if (any_v1 && host->v2_mount)
		host->layout = "hybrid";
	else if (any_v1)
		host->layout = "v1";
	else if (host->v2_mount)
		host->layout = "v2";
	else
		host->layout = "none";
	return 0;
}

void sg_cgroup_host_free(sg_cgroup_host *host)
{
	free(host->v2_mount);
	free(host->v2_own);
	for (int i = 0; i < SG_CG_NCTRL; i++) {
		free(host->v1_mount[i]);
		free(host->v1_own[i]);
	}
	memset(host, 0, sizeof(*host));
}

int sg_cgroup_read_u64(const char *dir, const char *file, uint64_t *out)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	char buf[64];
	sg_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = SG_RETRY(read(fd, buf, sizeof(buf) - 1));
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (!strcmp(buf, "max")) {
		*out = UINT64_MAX;
		return 0;
	}
	return sg_parse_u64(buf, out) ? 0 : -1;
}

int sg_cgroup_read_keyed(const char *dir, const char *file, const char *key, uint64_t *out)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	sg_autofree char *data = NULL;
	if (sg_read_file(path, 1 << 16, &data, NULL, NULL) < 0)
		return -1;
	size_t kl = strlen(key);
	for (char *line = data; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (!strncmp(line, key, kl) && line[kl] == ' ')
			return sg_parse_u64(line + kl + 1, out) ? 0 : -1;
		line = nl ? nl + 1 : NULL;
	}
	return -1;
}

/* rmdir a cgroup; right after its last process died the kernel may still hold it busy
 * for a moment, so retry briefly. */
int sg_cgroup_rmdir(const char *dir)
{
	for (int i = 0; i < 200; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -1;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* Remove cgroups of ours ("sg-<pid>-<seq>") whose supervisor is gone: a crashed earlier
 * run. A live pid is left alone; an unrelated directory never matches the pattern. */
void sg_cgroup_remove_stale(const char *parent)
{
	DIR *d = opendir(parent);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR)
			continue;
		/* a step's cgroup "sg-PID-N", or the leaf a v2 supervisor moved itself into,
		 * "shipgate-supervisor-PID" (beside the parent: see cgroup_v2.c) */
		const char *num = !strncmp(de->d_name, "sg-", 3) ? de->d_name + 3
				  : !strncmp(de->d_name, "shipgate-supervisor-", 20) ? de->d_name + 20
										      : NULL;
		if (!num)
			continue;
		char *end = NULL;
		long pid = strtol(num, &end, 10);
		if (pid <= 0 || !end || (*end != '-' && *end != '\0'))
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", parent, de->d_name);
		/* a leftover process would keep it busy: kill what is there first */
		sg_autofree char *procs = NULL;
		char procs_path[4200];
		snprintf(procs_path, sizeof(procs_path), "%s/cgroup.procs", path);
		if (sg_read_file(procs_path, 1 << 20, &procs, NULL, NULL) == 0) {
			char *save = NULL;
			for (char *p = strtok_r(procs, "\n", &save); p; p = strtok_r(NULL, "\n", &save))
				kill((pid_t)atol(p), SIGKILL);
		}
		/* a supervisor killed while its step was frozen for a scratch walk left it
		 * frozen: v1's frozen tasks die only once thawed (init's parent-death signal
		 * could not act either) */
		char state[4200];
		snprintf(state, sizeof(state), "%s/freezer.state", path);
		if (access(state, F_OK) == 0) {
			(void)sg_write_file(state, "THAWED", NULL);
			(void)sg_cgroup_wait_value(path, "freezer.state", "THAWED", 100);
		}
		(void)sg_cgroup_rmdir(path);
	}
	closedir(d);
}

static unsigned cgroup_seq;

sg_cgroup *sg_cgroup_create(const sg_cgroup_host *host, const sg_cgroup_limits *limits,
			    sg_error *err)
{
	sg_cgroup *cg = sg_xcalloc(1, sizeof(*cg));
	cg->host = host;
	cg->v2_fd = -1;
	cg->name = sg_xasprintf("sg-%d-%u", (int)getpid(),
				__atomic_add_fetch(&cgroup_seq, 1, __ATOMIC_RELAXED));
	if (sg_cgroup_v1_create(cg, limits, err) < 0 || sg_cgroup_v2_create(cg, limits, err) < 0) {
		sg_cgroup_destroy(cg);
		return NULL;
	}
	return cg;
}

int sg_cgroup_clone_fd(const sg_cgroup *cg)
{
	return cg ? cg->v2_fd : -1;
}

int sg_cgroup_attach(sg_cgroup *cg, pid_t pid, bool include_v2, int join_fds[SG_CG_NCTRL], size_t *n_join,
		     sg_error *err)
{
	if (n_join)
		*n_join = 0;
	if (!cg)
		return 0;
	if (include_v2 && cg->v2_dir) {
		char path[4096], value[32];
		snprintf(path, sizeof(path), "%s/cgroup.procs", cg->v2_dir);
		snprintf(value, sizeof(value), "%d", (int)pid);
		if (sg_write_file(path, value, err) < 0)
			return sg_error_prefix(err, "cgroup v2: attach");
	}
	return sg_cgroup_v1_attach(cg, pid, n_join ? join_fds : NULL, n_join, err);
}

bool sg_cgroup_enforces(const sg_cgroup *cg, sg_cgroup_ctrl c)
{
	return cg && (unsigned)c < SG_CG_NCTRL && cg->enforced[c];
}

const char *sg_cgroup_mode(const sg_cgroup *cg)
{
	if (!cg)
		return "none";
	bool v1 = false;
	for (int i = 0; i < SG_CG_NCTRL; i++)
		v1 = v1 || cg->v1_dir[i];
	if (v1 && cg->v2_dir)
		return "v1+v2";
	return v1 ? "v1" : cg->v2_dir ? "v2" : "none";
}

void sg_cgroup_read_stats(const sg_cgroup *cg, sg_cgroup_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	if (!cg)
		return;
	sg_cgroup_v1_read_stats(cg, stats);
	sg_cgroup_v2_read_stats(cg, stats);
}

void sg_cgroup_read_usage(const sg_cgroup *cg, uint64_t *memory_kb, uint64_t *cpu_ms)
{
	uint64_t v;
	*memory_kb = *cpu_ms = 0;
	if (!cg)
		return;
	if (cg->v2_dir) {
		if (sg_cgroup_read_u64(cg->v2_dir, "memory.current", &v) == 0)
			*memory_kb = v / 1024;
		if (sg_cgroup_read_keyed(cg->v2_dir, "cpu.stat", "usage_usec", &v) == 0)
			*cpu_ms = v / 1000;
	}
	if (cg->v1_dir[SG_CG_MEMORY] && sg_cgroup_read_u64(cg->v1_dir[SG_CG_MEMORY], "memory.usage_in_bytes", &v) == 0)
		*memory_kb = v / 1024;
	if (cg->v1_dir[SG_CG_CPUACCT] && sg_cgroup_read_u64(cg->v1_dir[SG_CG_CPUACCT], "cpuacct.usage", &v) == 0)
		*cpu_ms = v / 1000000;
}

int sg_cgroup_freeze(sg_cgroup *cg, bool frozen, unsigned timeout_ms)
{
	if (!cg)
		return 0;
	if (cg->v2_dir)
		return sg_cgroup_v2_freeze(cg, frozen, timeout_ms);
	return sg_cgroup_v1_freeze(cg, frozen, timeout_ms);
}

int sg_cgroup_wait_value(const char *dir, const char *file, const char *want, unsigned timeout_ms)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	uint64_t deadline = sg_monotonic_ns() + (uint64_t)timeout_ms * 1000000u;
	size_t want_len = strlen(want);
	for (unsigned delay_us = 20;; delay_us = delay_us < 1000 ? delay_us * 2 : 1000) {
		char buf[512];
		sg_autoclose int fd = SG_RETRY(open(path, O_RDONLY | O_CLOEXEC));
		ssize_t n = fd >= 0 ? SG_RETRY(read(fd, buf, sizeof(buf) - 1)) : -1;
		if (n < 0)
			return -1;
		buf[n] = '\0';
		/* a whole value ("FROZEN\n"), or a line of a keyed file ("frozen 1") */
		for (const char *l = buf; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
			if (!strncmp(l, want, want_len) && (l[want_len] == '\n' || !l[want_len]))
				return 0;
		if (sg_monotonic_ns() >= deadline)
			return -1;
		struct timespec ts = {0, (long)delay_us * 1000};
		nanosleep(&ts, NULL);
	}
}

void sg_cgroup_kill(sg_cgroup *cg)
{
	if (!cg)
		return;
	sg_cgroup_v2_kill(cg);
	sg_cgroup_v1_kill(cg);
}

void sg_cgroup_destroy(sg_cgroup *cg)
{
	if (!cg)
		return;
	sg_cgroup_v2_destroy(cg);
	sg_cgroup_v1_destroy(cg);
	free(cg->name);
	free(cg);
}
