/* doctor.c: what this host can enforce, probed for real (a namespace is created, a
 * filter is loaded in a throwaway child, a sandbox runs /bin/true), and what it cannot,
 * with the reason. `shipgate doctor` prints it; --json gives the same object. */
#include "doctor.h"
#include "cgroup.h"
#include "policy.h"
#include "rootfs.h"
#include "sandbox.h"
#include "userns.h"
#include "util.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>

static void add_check(cJSON *checks, const char *name, bool ok, const char *detail)
{
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "name", name);
	cJSON_AddBoolToObject(c, "ok", ok);
	cJSON_AddStringToObject(c, "detail", detail ? detail : "");
	cJSON_AddItemToArray(checks, c);
}

/* Can this process create a user namespace? Tried for real in a throwaway child. */
static bool probe_userns(char *why, size_t len)
{
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		int e = errno;
		snprintf(why, len, "clone(CLONE_NEWUSER): %s", strerror(e));
		sg_autofree char *max = NULL;
		if (sg_read_file("/proc/sys/user/max_user_namespaces", 64, &max, NULL, NULL) == 0 &&
		    atoi(max) == 0)
			snprintf(why, len, "user namespaces are disabled (user.max_user_namespaces = 0)");
		sg_autofree char *aa = NULL;
		if (sg_read_file("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", 64, &aa, NULL, NULL) == 0 &&
		    atoi(aa) == 1 && geteuid() != 0)
			snprintf(why, len, "AppArmor restricts unprivileged user namespaces "
					   "(kernel.apparmor_restrict_unprivileged_userns = 1)");
		return false;
	}
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	snprintf(why, len, "clone(CLONE_NEWUSER) works");
	return true;
}

static int probe_landlock(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return abi > 0 ? (int)abi : 0;
}

static bool fs_has(const char *name)
{
	sg_autofree char *fs = NULL;
	if (sg_read_file("/proc/filesystems", 1 << 16, &fs, NULL, NULL) < 0)
		return false;
	sg_autofree char *needle = sg_xasprintf("\t%s\n", name);
	return strstr(fs, needle) != NULL;
}

/* Can the directory be idmapped (root mode needs it for the workspace)? */
static bool probe_idmap(const char *dir, char *why, size_t len)
{
	if (geteuid() != 0) {
		snprintf(why, len, "not needed rootless: the sandbox's root is the directory's owner");
		return true;
	}
	sg_identity id;
	sg_error err = {0};
	sg_identity_resolve(&id, &err);
	int userns = sg_userns_idmap_fd(0, 0, id.host_uid, id.host_gid, id.count, &err);
	if (userns < 0) {
		snprintf(why, len, "%s", err.msg);
		return false;
	}
	int tree = open_tree(AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	bool ok = false;
	if (tree < 0) {
		snprintf(why, len, "open_tree %s: %s", dir, strerror(errno));
	} else {
		struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns};
		ok = mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) == 0;
		snprintf(why, len,
			 ok ? "%s can be idmapped"
			    : "%s cannot be idmapped: %s (run copies the workspace; exec needs --cow there)",
			 dir, strerror(errno));
		close(tree);
	}
	close(userns);
	return ok;
}

static cJSON *cgroup_report(const sg_cgroup_host *h)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "layout", h->layout);
	if (h->v2_mount)
		cJSON_AddStringToObject(o, "unified_mount", h->v2_mount);
	cJSON *ctrls = cJSON_AddObjectToObject(o, "controllers");
	for (int i = 0; i < SG_CG_NCTRL; i++) {
		cJSON *c = cJSON_AddObjectToObject(ctrls, sg_cgroup_ctrl_name(i));
		bool builtin = h->use[i] == SG_CGV_2 && (i == SG_CG_CPUACCT || i == SG_CG_FREEZER);
		const char *ver = h->use[i] == SG_CGV_1 ? "v1" : builtin ? "v2 (core: cpu.stat, cgroup.freeze)"
						    : h->use[i] == SG_CGV_2 ? "v2" : "none";
		cJSON_AddStringToObject(c, "hierarchy", ver);
		const char *own = h->use[i] == SG_CGV_1 ? h->v1_own[i] : h->use[i] == SG_CGV_2 ? h->v2_own : NULL;
		if (own)
			cJSON_AddStringToObject(c, "our_cgroup", own);
		/* the freezer is joined by watched steps only (the scratch walk holds them still) */
		cJSON_AddBoolToObject(c, "usable", h->writable[i]);
		if (i == SG_CG_FREEZER && h->writable[i])
			cJSON_AddStringToObject(c, "use", "holds a copy-on-write step still while its scratch layer is summed");
		if (!h->writable[i])
			cJSON_AddStringToObject(c, "why_not", h->why_not[i]);
	}
	return o;
}

cJSON *sg_doctor_probe(const char *workspace)
{
	cJSON *o = cJSON_CreateObject();
	struct utsname un;
	uname(&un);
	cJSON_AddStringToObject(o, "shipgate", SHIPGATE_VERSION);
	cJSON_AddStringToObject(o, "kernel", un.release);
	cJSON_AddStringToObject(o, "mode", geteuid() == 0 ? "root" : "rootless");
	sg_identity id;
	sg_error err = {0};
	sg_identity_resolve(&id, &err);
	sg_autofree char *ident = id.rootless ? sg_xasprintf("sandbox root = uid %u (rootless)", (unsigned)id.host_uid)
					      : sg_xasprintf("sandbox root = host uid %u, %u ids mapped (%s)",
							     (unsigned)id.host_uid, (unsigned)id.count, id.source);
	cJSON_AddStringToObject(o, "identity", ident);

	cJSON *checks = cJSON_AddArrayToObject(o, "checks");
	char why[1200];
	bool userns = probe_userns(why, sizeof(why));
	add_check(checks, "user namespaces", userns, why);

	sg_cgroup_host h;
	if (sg_cgroup_detect(&h, &err) == 0) {
		cJSON_AddItemToObject(o, "cgroups", cgroup_report(&h));
		/* tried for real: a directory that looks writable may still refuse (a v2 cgroup
		 * shared with other processes cannot delegate its controllers) */
		sg_cgroup_limits lim = {.memory_bytes = 64u << 20, .pids = 64, .cpus = 1};
		sg_error cerr = {0};
		sg_cgroup *cg = sg_cgroup_create(&h, &lim, &cerr);
		bool mem = sg_cgroup_enforces(cg, SG_CG_MEMORY), pids = sg_cgroup_enforces(cg, SG_CG_PIDS),
		     cpu = sg_cgroup_enforces(cg, SG_CG_CPU);
		if (cg)
			snprintf(why, sizeof(why), "layout %s, a test cgroup (%s) holds: memory %s, pids %s, cpu %s",
				 h.layout, sg_cgroup_mode(cg), mem ? "yes" : "no", pids ? "yes" : "no", cpu ? "yes" : "no");
		else
			snprintf(why, sizeof(why), "layout %s; creating a test cgroup failed: %s", h.layout, cerr.msg);
		sg_cgroup_destroy(cg);
		add_check(checks, "cgroup limits", mem && pids, why);
		sg_cgroup_host_free(&h);
	} else {
		add_check(checks, "cgroup limits", false, err.msg);
	}

	sg_autofree char *actions = NULL;
	bool seccomp = sg_read_file("/proc/sys/kernel/seccomp/actions_avail", 4096, &actions, NULL, NULL) == 0;
	if (actions)
		actions[strcspn(actions, "\n")] = '\0';
	add_check(checks, "seccomp filters", seccomp, seccomp ? actions : "no /proc/sys/kernel/seccomp");
	add_check(checks, "seccomp user notification", seccomp && strstr(actions, "user_notif"),
		  seccomp && strstr(actions, "user_notif") ? "available" : "not available");
	int ll = probe_landlock();
	snprintf(why, sizeof(why), ll ? "ABI %d" : "not available", ll);
	add_check(checks, "landlock", ll > 0, why);
	cJSON_AddNumberToObject(o, "landlock_abi", ll);
	bool ovl = fs_has("overlay");
	add_check(checks, "overlayfs", ovl, ovl ? "available" : "not in /proc/filesystems");
	bool idm = probe_idmap(workspace, why, sizeof(why));
	add_check(checks, "idmapped mounts", idm, why);

	sg_policy *policy = sg_policy_load("default", &err);
	if (!policy || !sg_policy_bpf(policy, &err)) {
		add_check(checks, "default policy", false, err.msg);
	} else {
		snprintf(why, sizeof(why), "%s (%u syscalls allowed)", sg_policy_path(policy),
			 sg_policy_allowed_count(policy));
		add_check(checks, "default policy", true, why);
	}

	/* the proof: a whole sandbox, with everything, running /bin/true */
	if (userns && policy) {
		sg_sandbox_config cfg = {0};
		static char arg0[] = "true";
		char *const argv[] = {arg0, NULL};
		cfg.argv = argv;
		cfg.workspace_mode = SG_WORKSPACE_NONE;
		cfg.network = SG_NET_LOOPBACK;
		cfg.policy = policy;
		sg_limits_default(&cfg.limits);
		cfg.allow_weaker = true;
		cfg.stdin_fd = -1;
		cfg.out_sink.passthrough_fd = cfg.err_sink.passthrough_fd = -1;
		cfg.out_sink.log_fd = cfg.err_sink.log_fd = -1;
		cfg.capture = true;
		cfg.timeout_ms = 10000;
		sg_sandbox_result r;
		uint64_t t0 = sg_monotonic_ns();
		int rc = sg_sandbox_run(&cfg, &r, &err);
		uint64_t ms = (sg_monotonic_ns() - t0) / 1000000u;
		if (rc == 0 && r.exit_code == 0)
			snprintf(why, sizeof(why), "/bin/true ran in a full sandbox in %llu ms (cgroup %s)",
				 (unsigned long long)ms, r.enforced.cgroup_mode);
		else
			snprintf(why, sizeof(why), "%s", rc < 0 ? err.msg : "/bin/true did not exit 0");
		add_check(checks, "sandbox", rc == 0 && r.exit_code == 0, why);
		sg_sandbox_result_free(&r);
	}
	sg_policy_free(policy);

	/* the root filesystems built by scripts/rootfs, which jobs can name */
	sg_autofree char *cache = sg_rootfs_cache_dir();
	cJSON *images = cJSON_AddObjectToObject(o, "rootfs_images");
	cJSON_AddStringToObject(images, "cache", cache ? cache : "");
	cJSON_AddItemToObject(images, "images", sg_rootfs_list());
	return o;
}
