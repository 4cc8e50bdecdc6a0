/* cgroup_v1.c: the step's cgroup on cgroup v1 hierarchies (one directory per mounted
 * hierarchy; co-mounted controllers such as cpu,cpuacct share one).
 *
 * Layout: <our cgroup in that hierarchy>/shipgate/sg-<pid>-<seq>. The parent "shipgate"
 * is ours; we never create at a hierarchy's root and never move processes we did not
 * create. The child joins by itself: the supervisor hands init the open `tasks` files
 * (sg_cgroup_v1_attach) and init writes "0" to each (sg_cgroup_join_self) before it
 * starts anything. */
#include "cgroup.h"
#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Index of the first controller sharing controller i's hierarchy (itself if none). */
static int v1_owner(const sg_cgroup_host *host, int i)
{
	for (int j = 0; j < i; j++)
		if (host->use[j] == SG_CGV_1 && host->writable[j] && host->v1_mount[j] &&
		    !strcmp(host->v1_mount[j], host->v1_mount[i]))
			return j;
	return i;
}

static int v1_write(const char *dir, const char *file, const char *value, sg_error *err)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return sg_write_file(path, value, err);
}

static int v1_apply_limits(sg_cgroup *cg, int i, const sg_cgroup_limits *limits, sg_error *err)
{
	const char *dir = cg->v1_dir[i];
	char value[64];
	switch ((sg_cgroup_ctrl)i) {
	case SG_CG_MEMORY:
		if (!limits->memory_bytes)
			return 0;
		snprintf(value, sizeof(value), "%llu", (unsigned long long)limits->memory_bytes);
		if (v1_write(dir, "memory.limit_in_bytes", value, err) < 0)
			return -1;
		/* memsw exists only with swap accounting; where it does, no swap either */
		char memsw[4200];
		snprintf(memsw, sizeof(memsw), "%s/memory.memsw.limit_in_bytes", dir);
		if (access(memsw, F_OK) == 0 && sg_write_file(memsw, value, err) < 0)
			return -1;
		(void)v1_write(dir, "memory.swappiness", "0", NULL);
		return 0;
	case SG_CG_PIDS:
		if (!limits->pids)
			return 0;
		snprintf(value, sizeof(value), "%llu", (unsigned long long)limits->pids);
		return v1_write(dir, "pids.max", value, err);
	case SG_CG_CPU: {
		if (limits->cpus <= 0)
			return 0;
		uint64_t period = 100000;
		uint64_t quota = (uint64_t)(limits->cpus * (double)period + 0.5);
		if (quota < 1000)
			quota = 1000;
		snprintf(value, sizeof(value), "%llu", (unsigned long long)period);
		if (v1_write(dir, "cpu.cfs_period_us", value, err) < 0)
			return -1;
		snprintf(value, sizeof(value), "%llu", (unsigned long long)quota);
		return v1_write(dir, "cpu.cfs_quota_us", value, err);
	}
	case SG_CG_CPUACCT:
	case SG_CG_FREEZER:
	case SG_CG_NCTRL:
	default:
		return 0;
	}
}

int sg_cgroup_v1_create(sg_cgroup *cg, const sg_cgroup_limits *limits, sg_error *err)
{
	const sg_cgroup_host *host = cg->host;
	for (int i = 0; i < SG_CG_NCTRL; i++) {
		if (host->use[i] != SG_CGV_1 || !host->writable[i])
			continue;
		/* every hierarchy joined costs a mkdir, an attach (a cgroup migration) and an
		 * rmdir at each start: join only those that hold a limit or a figure. The
		 * freezer only when asked (the scratch watcher holds the step still while it
		 * sums the layer; the pid namespace takes the whole tree down anyway), cpu
		 * only when there is a cpu limit (cpuacct has the usage) */
		if ((i == SG_CG_FREEZER && !limits->freezer) ||
		    (i == SG_CG_CPU && limits->cpus <= 0 && v1_owner(host, SG_CG_CPUACCT) != v1_owner(host, SG_CG_CPU)))
			continue;
		int owner = v1_owner(host, i);
		if (owner != i) {
			cg->v1_dir[i] = sg_xstrdup(cg->v1_dir[owner]);
		} else {
			sg_autofree char *parent = sg_xasprintf("%s/shipgate", host->v1_own[i]);
			char *dir = sg_xasprintf("%s/%s", parent, cg->name);
			int e = 0;
			if (mkdir(parent, 0755) < 0 && errno != EEXIST)
				e = errno;
			if (!e)
				sg_cgroup_remove_stale(parent);
			if (!e && mkdir(dir, 0755) < 0)
				e = errno;
			if (e) {
				free(dir);
				/* the freezer only holds the step still for the scratch walk, which
				 * then runs beside it: never worth the limits of the others */
				if (i == SG_CG_FREEZER)
					continue;
				return sg_error_set(err, SG_ERR_SANDBOX, e, "cgroup v1: mkdir %s/%s", parent, cg->name);
			}
			cg->v1_dir[i] = dir;
		}
		if (v1_apply_limits(cg, i, limits, err) < 0)
			return sg_error_prefix(err, "cgroup v1 %s", sg_cgroup_ctrl_name(i));
		cg->enforced[i] = true;
	}
	return 0;
}

static void join_fds_drop(int *join_fds, size_t *n_join)
{
	for (size_t k = 0; join_fds && k < *n_join; k++)
		close(join_fds[k]);
	if (n_join)
		*n_join = 0;
}

int sg_cgroup_v1_attach(sg_cgroup *cg, pid_t pid, int join_fds[SG_CG_NCTRL], size_t *n_join, sg_error *err)
{
	char value[32];
	snprintf(value, sizeof(value), "%d", (int)pid);
	for (int i = 0; i < SG_CG_NCTRL; i++) {
		if (!cg->v1_dir[i] || v1_owner(cg->host, i) != i)
			continue;
		/* Writing a pid to cgroup.procs write-locks the kernel's global threadgroup
		 * lock, which waits for an RCU grace period: 2 ms on average here, up to 15
		 * under load. A single thread writing "0" (itself) to `tasks` takes no such
		 * lock (Linux >= 5.13); the kernel checks the permission of whoever opened the
		 * file, so init can use ours. Where `tasks` cannot be opened (a delegation
		 * that gave only cgroup.procs), the pid is written instead. */
		if (join_fds) {
			char path[4200];
			snprintf(path, sizeof(path), "%s/tasks", cg->v1_dir[i]);
			int fd = SG_RETRY(open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY));
			if (fd >= 0) {
				join_fds[(*n_join)++] = fd;
				continue;
			}
			if (errno != EACCES && errno != EPERM) {
				int e = errno;
				join_fds_drop(join_fds, n_join);
				return sg_error_set(err, SG_ERR_SANDBOX, e, "cgroup v1 %s: open %s",
						    sg_cgroup_ctrl_name(i), path);
			}
		}
		if (v1_write(cg->v1_dir[i], "cgroup.procs", value, err) < 0) {
			if (i == SG_CG_FREEZER) {
				/* optional (see sg_cgroup_v1_create): not frozen, then */
				(void)sg_cgroup_rmdir(cg->v1_dir[i]);
				free(cg->v1_dir[i]);
				cg->v1_dir[i] = NULL;
				cg->enforced[i] = false;
				if (err)
					*err = (sg_error){0};
				continue;
			}
			join_fds_drop(join_fds, n_join);
			return sg_error_prefix(err, "cgroup v1 %s: attach", sg_cgroup_ctrl_name(i));
		}
	}
	return 0;
}

int sg_cgroup_join_self(int *fds, size_t n, sg_error *err)
{
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && SG_RETRY(write(fds[i], "0", 1)) != 1)
			rc = sg_error_set(err, SG_ERR_SANDBOX, errno, "join the step's cgroup (cgroup v1 hierarchy %zu of %zu)",
					  i + 1, n);
		close(fds[i]);
		fds[i] = -1;
	}
	return rc;
}

void sg_cgroup_v1_read_stats(const sg_cgroup *cg, sg_cgroup_stats *stats)
{
	const char *mem = cg->v1_dir[SG_CG_MEMORY];
	if (mem) {
		uint64_t v;
		if (sg_cgroup_read_u64(mem, "memory.max_usage_in_bytes", &v) == 0)
			stats->peak_memory_kb = v / 1024;
		if (sg_cgroup_read_keyed(mem, "memory.oom_control", "oom_kill", &v) == 0)
			stats->oom_kills = v;
		if (sg_cgroup_read_u64(mem, "memory.failcnt", &v) == 0)
			stats->memory_max_events = v;
	}
	const char *pids = cg->v1_dir[SG_CG_PIDS];
	if (pids) {
		uint64_t v;
		if (sg_cgroup_read_keyed(pids, "pids.events", "max", &v) == 0)
			stats->pids_max_events = v;
		if (sg_cgroup_read_u64(pids, "pids.peak", &v) == 0)
			stats->pids_peak = v;
		if (sg_cgroup_read_u64(pids, "pids.current", &v) == 0)
			stats->procs = v;
	}
	const char *acct = cg->v1_dir[SG_CG_CPUACCT];
	if (acct) {
		uint64_t ns;
		if (sg_cgroup_read_u64(acct, "cpuacct.usage", &ns) == 0) {
			stats->cpu_ms = ns / 1000000u;
			stats->cpu_known = true;
		}
	}
}

/* Signal every pid listed in dir/cgroup.procs; returns how many were listed. */
static int v1_kill_listed(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	sg_autofree char *procs = NULL;
	if (sg_read_file(path, 1 << 22, &procs, NULL, NULL) < 0)
		return 0;
	int n = 0;
	char *save = NULL;
	for (char *p = strtok_r(procs, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
		kill((pid_t)atol(p), SIGKILL);
		n++;
	}
	return n;
}

void sg_cgroup_v1_kill(sg_cgroup *cg)
{
	/* The pid namespace already takes the whole tree down with its init; this is the
	 * belt to its braces. Where the freezer is joined (a watched step), the tree is
	 * frozen, everything listed is sent SIGKILL once, and then thawed: a frozen task
	 * dies only once thawed (killing in a loop while frozen took 100 rounds per
	 * hierarchy, half a second, at every timeout), and frozen it cannot fork past the
	 * loop. Then, thawed, the rounds go on until each hierarchy is empty. */
	const char *freezer = cg->v1_dir[SG_CG_FREEZER];
	if (freezer && sg_cgroup_v1_freeze(cg, true, 100) != 0) {
		for (int i = 0; i < SG_CG_NCTRL; i++)
			if (cg->v1_dir[i] && v1_owner(cg->host, i) == i)
				(void)v1_kill_listed(cg->v1_dir[i]);
	}
	if (freezer)
		(void)sg_cgroup_v1_freeze(cg, false, 100);
	for (int i = 0; i < SG_CG_NCTRL; i++) {
		if (!cg->v1_dir[i] || v1_owner(cg->host, i) != i)
			continue;
		for (int round = 0; round < 100 && v1_kill_listed(cg->v1_dir[i]) > 0; round++) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
}

int sg_cgroup_v1_freeze(sg_cgroup *cg, bool frozen, unsigned timeout_ms)
{
	const char *freezer = cg->v1_dir[SG_CG_FREEZER];
	if (!freezer)
		return 0;
	const char *state = frozen ? "FROZEN" : "THAWED";
	if (v1_write(freezer, "freezer.state", state, NULL) < 0)
		return -1;
	return sg_cgroup_wait_value(freezer, "freezer.state", state, timeout_ms) == 0 ? 1 : -1;
}

void sg_cgroup_v1_destroy(sg_cgroup *cg)
{
	for (int i = 0; i < SG_CG_NCTRL; i++) {
		if (!cg->v1_dir[i])
			continue;
		if (v1_owner(cg->host, i) == i && sg_cgroup_rmdir(cg->v1_dir[i]) < 0) {
			/* something outlived the step: kill it and try once more */
			v1_kill_listed(cg->v1_dir[i]);
			(void)sg_cgroup_rmdir(cg->v1_dir[i]);
		}
		free(cg->v1_dir[i]);
		cg->v1_dir[i] = NULL;
	}
}
