/* cgroup_v2.c: the step's cgroup on the unified (v2) hierarchy.
 *
 * Layout: <our cgroup>/shipgate/sg-<pid>-<seq>. v2's no-internal-processes rule means a
 * cgroup with processes cannot hand controllers to its children. If our own cgroup holds
 * only shipgate itself, we move shipgate (and nothing else) into a leaf beside our parent,
 * as nsjail does; if it holds other processes we do not touch them and report that the
 * controllers cannot be delegated. The child enters its cgroup at clone time through
 * clone3(CLONE_INTO_CGROUP), so it never runs a single instruction outside it. */
#include "cgroup.h"
#include "util.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

static const sg_cgroup_ctrl v2_limit_ctrls[] = {SG_CG_MEMORY, SG_CG_PIDS, SG_CG_CPU};

static bool v2_wanted(const sg_cgroup_host *host, sg_cgroup_ctrl c)
{
	return host->use[c] == SG_CGV_2 && host->writable[c] && host->v2_controllers[c];
}

static bool has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = list; (p = strstr(p, word)) != NULL; p += wl)
		if ((p == list || p[-1] == ' ') && (p[wl] == ' ' || p[wl] == '\n' || p[wl] == '\0'))
			return true;
	return false;
}

/* Enable the wanted controllers in dir's cgroup.subtree_control. */
static int v2_enable(const char *dir, const sg_cgroup_host *host, sg_error *err)
{
	sg_autofree char *path = sg_xasprintf("%s/cgroup.subtree_control", dir);
	sg_autofree char *current = NULL;
	if (sg_read_file(path, 4096, &current, NULL, err) < 0)
		return -1;
	char want[128] = "";
	for (size_t i = 0; i < SG_ARRAY_LEN(v2_limit_ctrls); i++) {
		sg_cgroup_ctrl c = v2_limit_ctrls[i];
		if (v2_wanted(host, c) && !has_word(current, sg_cgroup_ctrl_name(c))) {
			strcat(want, want[0] ? " +" : "+");
			strcat(want, sg_cgroup_ctrl_name(c));
		}
	}
	if (!want[0])
		return 0;
	return sg_write_file(path, want, err);
}

/* Move shipgate's own process into a leaf so that its cgroup may delegate controllers.
 * Only done when our cgroup contains shipgate alone. */
static int v2_move_self_to_leaf(const char *own, sg_error *err)
{
	sg_autofree char *procs_path = sg_xasprintf("%s/cgroup.procs", own);
	sg_autofree char *procs = NULL;
	if (sg_read_file(procs_path, 1 << 20, &procs, NULL, err) < 0)
		return -1;
	char self[32];
	snprintf(self, sizeof(self), "%d", (int)getpid());
	char *save = NULL;
	for (char *p = strtok_r(procs, "\n", &save); p; p = strtok_r(NULL, "\n", &save))
		if (strcmp(p, self) != 0)
			return sg_error_set(err, SG_ERR_SANDBOX, 0,
					    "%s holds other processes (e.g. pid %s), so its controllers "
					    "cannot be delegated without moving processes that are not ours; "
					    "run shipgate in a cgroup of its own (e.g. systemd-run --user "
					    "--scope -p Delegate=yes)",
					    own, p);
	sg_cgroup_remove_stale(own); /* leaves of supervisors that are gone */
	sg_autofree char *leaf = sg_xasprintf("%s/shipgate-supervisor-%d", own, (int)getpid());
	if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "mkdir %s", leaf);
	sg_autofree char *leaf_procs = sg_xasprintf("%s/cgroup.procs", leaf);
	return sg_write_file(leaf_procs, "0", err);
}

static int v2_write(const char *dir, const char *file, const char *value, sg_error *err)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return sg_write_file(path, value, err);
}

static int v2_apply_limits(sg_cgroup *cg, const sg_cgroup_limits *limits, sg_error *err)
{
	const sg_cgroup_host *host = cg->host;
	char value[64];
	if (v2_wanted(host, SG_CG_MEMORY)) {
		if (limits->memory_bytes) {
			snprintf(value, sizeof(value), "%llu", (unsigned long long)limits->memory_bytes);
			if (v2_write(cg->v2_dir, "memory.max", value, err) < 0)
				return -1;
			char swap[4200];
			snprintf(swap, sizeof(swap), "%s/memory.swap.max", cg->v2_dir);
			if (access(swap, F_OK) == 0 && sg_write_file(swap, "0", err) < 0)
				return -1;
		}
		/* the whole step dies together when the OOM killer strikes, init included: the
		 * supervisor then reports the command as killed by SIGKILL, and the cgroup's
		 * oom_kill count makes that `oom` */
		(void)v2_write(cg->v2_dir, "memory.oom.group", "1", NULL);
		cg->enforced[SG_CG_MEMORY] = true;
	}
	if (v2_wanted(host, SG_CG_PIDS)) {
		if (limits->pids) {
			snprintf(value, sizeof(value), "%llu", (unsigned long long)limits->pids);
			if (v2_write(cg->v2_dir, "pids.max", value, err) < 0)
				return -1;
		}
		cg->enforced[SG_CG_PIDS] = true;
	}
	if (v2_wanted(host, SG_CG_CPU)) {
		if (limits->cpus > 0) {
			uint64_t period = 100000;
			uint64_t quota = (uint64_t)(limits->cpus * (double)period + 0.5);
			if (quota < 1000)
				quota = 1000;
			snprintf(value, sizeof(value), "%llu %llu", (unsigned long long)quota,
				 (unsigned long long)period);
			if (v2_write(cg->v2_dir, "cpu.max", value, err) < 0)
				return -1;
		}
		cg->enforced[SG_CG_CPU] = true;
	}
	/* usage figures come from cpu.stat, freezing from cgroup.freeze: no controller */
	if (host->use[SG_CG_CPUACCT] == SG_CGV_2)
		cg->enforced[SG_CG_CPUACCT] = true;
	return 0;
}

/* Our parent below our own cgroup: own/shipgate, with the controllers delegated. */
static int v2_parent_below_own(const sg_cgroup_host *host, char **parent_out, sg_error *err)
{
	/* once this process moved itself into its leaf, its own cgroup (as detected now)
	 * is that leaf: the parent of ours is one level up */
	char leaf[64];
	snprintf(leaf, sizeof(leaf), "/shipgate-supervisor-%d", (int)getpid());
	size_t ol = strlen(host->v2_own), ll = strlen(leaf);
	sg_autofree char *up = ol > ll && !strcmp(host->v2_own + ol - ll, leaf) ? sg_xstrndup(host->v2_own, ol - ll)
										  : NULL;
	const char *own = up ? up : host->v2_own;
	sg_autofree char *parent = sg_xasprintf("%s/shipgate", own);
	struct stat st;
	if (stat(parent, &st) < 0) {
		if (v2_enable(own, host, err) < 0) {
			if (err && err->errnum != EBUSY)
				return -1;
			if (v2_move_self_to_leaf(own, err) < 0 || v2_enable(own, host, err) < 0)
				return -1;
		}
		if (mkdir(parent, 0755) < 0 && errno != EEXIST)
			return sg_error_set(err, SG_ERR_SANDBOX, errno, "mkdir %s", parent);
	}
	if (v2_enable(parent, host, err) < 0)
		return -1;
	*parent_out = sg_steal_ptr(&parent);
	return 0;
}

/* Root whose own cgroup cannot delegate (a login session's scope, shared with the shell):
 * a parent of our own at the top of the hierarchy, "shipgate" beside system.slice and
 * user.slice, never the root cgroup itself and without moving anyone. The root cgroup
 * may hand controllers down whatever processes it holds. */
static int v2_parent_at_top(const sg_cgroup_host *host, char **parent_out, sg_error *err)
{
	if (!host->v2_mount || geteuid() != 0)
		return -1;
	if (v2_enable(host->v2_mount, host, err) < 0)
		return -1;
	sg_autofree char *parent = sg_xasprintf("%s/shipgate", host->v2_mount);
	if (mkdir(parent, 0755) < 0 && errno != EEXIST)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "mkdir %s", parent);
	if (v2_enable(parent, host, err) < 0)
		return -1;
	*parent_out = sg_steal_ptr(&parent);
	return 0;
}

int sg_cgroup_v2_create(sg_cgroup *cg, const sg_cgroup_limits *limits, sg_error *err)
{
	const sg_cgroup_host *host = cg->host;
	bool any = false;
	for (size_t i = 0; i < SG_ARRAY_LEN(v2_limit_ctrls); i++)
		any = any || v2_wanted(host, v2_limit_ctrls[i]);
	if (!any || !host->v2_own)
		return 0;
	sg_autofree char *parent = NULL;
	sg_error below_err = {0};
	if (v2_parent_below_own(host, &parent, &below_err) < 0) {
		sg_error top_err = {0};
		if (v2_parent_at_top(host, &parent, &top_err) < 0) {
			if (err) {
				*err = below_err;
				sg_error_prefix(err, "cgroup v2");
			}
			return -1;
		}
	}
	sg_cgroup_remove_stale(parent);
	cg->v2_dir = sg_xasprintf("%s/%s", parent, cg->name);
	if (mkdir(cg->v2_dir, 0755) < 0) {
		int e = errno;
		free(cg->v2_dir);
		cg->v2_dir = NULL;
		return sg_error_set(err, SG_ERR_SANDBOX, e, "cgroup v2: mkdir %s/%s", parent, cg->name);
	}
	cg->v2_fd = open(cg->v2_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cg->v2_fd < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "cgroup v2: open %s", cg->v2_dir);
	if (v2_apply_limits(cg, limits, err) < 0)
		return sg_error_prefix(err, "cgroup v2 %s", cg->v2_dir);
	return 0;
}

void sg_cgroup_v2_read_stats(const sg_cgroup *cg, sg_cgroup_stats *stats)
{
	if (!cg->v2_dir)
		return;
	uint64_t v;
	if (sg_cgroup_read_u64(cg->v2_dir, "memory.peak", &v) == 0)
		stats->peak_memory_kb = v / 1024;
	if (sg_cgroup_read_keyed(cg->v2_dir, "memory.events", "oom_kill", &v) == 0)
		stats->oom_kills = v;
	if (sg_cgroup_read_keyed(cg->v2_dir, "memory.events", "max", &v) == 0)
		stats->memory_max_events = v;
	if (sg_cgroup_read_keyed(cg->v2_dir, "pids.events", "max", &v) == 0)
		stats->pids_max_events = v;
	if (sg_cgroup_read_u64(cg->v2_dir, "pids.peak", &v) == 0)
		stats->pids_peak = v;
	if (sg_cgroup_read_u64(cg->v2_dir, "pids.current", &v) == 0)
		stats->procs = v;
	if (sg_cgroup_read_keyed(cg->v2_dir, "cpu.stat", "usage_usec", &v) == 0) {
		stats->cpu_ms = v / 1000u;
		stats->cpu_known = true;
	}
}

void sg_cgroup_v2_kill(sg_cgroup *cg)
{
	if (cg->v2_dir)
		(void)v2_write(cg->v2_dir, "cgroup.kill", "1", NULL);
}

int sg_cgroup_v2_freeze(sg_cgroup *cg, bool frozen, unsigned timeout_ms)
{
	if (!cg->v2_dir)
		return 0;
	if (v2_write(cg->v2_dir, "cgroup.freeze", frozen ? "1" : "0", NULL) < 0)
		return -1;
	return sg_cgroup_wait_value(cg->v2_dir, "cgroup.events", frozen ? "frozen 1" : "frozen 0", timeout_ms) == 0
		       ? 1
		       : -1;
}

void sg_cgroup_v2_destroy(sg_cgroup *cg)
{
	if (cg->v2_fd >= 0)
		close(cg->v2_fd);
	cg->v2_fd = -1;
	if (cg->v2_dir && sg_cgroup_rmdir(cg->v2_dir) < 0) {
		sg_cgroup_v2_kill(cg);
		(void)sg_cgroup_rmdir(cg->v2_dir);
	}
	free(cg->v2_dir);
	cg->v2_dir = NULL;
}
