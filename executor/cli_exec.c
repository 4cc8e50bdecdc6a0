/* cli_exec.c: `shipgate exec`, the bare sandbox: one command, its exit status passed
 * through (128+N for signal N; 125 sandbox setup error, 126 not executable, 127 not
 * found), optional evidence JSON. */
#include "cli.h"
#include "cli_common.h"
#include "evidence.h"
#include "publish.h"
#include "rootfs.h"
#include "sandbox.h"
#include "trace.h"
#include "util.h"

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

static void exec_usage(FILE *out)
{
	fprintf(out,
		"usage: shipgate exec [OPTIONS] -- CMD [ARG...]\n"
		"\n"
		"exit status: the command's own; 128+N for signal N; 125 when shipgate itself\n"
		"failed (a bad option, or the sandbox could not be set up); 126 not executable;\n"
		"127 not found\n"
		"\n"
		"Run one command in the sandbox: new user, mount, pid, net, ipc, uts and cgroup\n"
		"namespaces, a read-only host root with a fresh /proc, /dev and /tmp, no\n"
		"capabilities, no_new_privs, the default seccomp allowlist and a cgroup with\n"
		"memory and pids limits. The current directory is /workspace, writable.\n"
		"\n"
		"options:\n"
		"  --policy P          seccomp policy name or file (default: default; 'none' turns\n"
		"                      seccomp off and says so in the evidence)\n"
		"  --net MODE          none | loopback (default, or the policy's own) | host\n"
		"  --memory MB         memory limit (default 2048; 0: none)\n"
		"  --pids N            process limit (default 1024; 0: none)\n"
		"  --cpus X            CPU limit in cores, e.g. 0.5 (default: none)\n"
		"  --timeout S         wall-clock timeout in seconds (default: none)\n"
		"  --tmp MB            size of /tmp (default 512)\n"
		"  --workspace DIR     the directory shown at /workspace (default: .); writable, it may\n"
		"                      not hold shipgate's signing key or cache (your home: use --cow)\n"
		"  --cow               make /workspace copy-on-write: the host directory is not written\n"
		"  --bind SRC[:DST]    also show SRC at DST (default: the same path), writable\n"
		"  --ro-bind SRC[:DST] also show SRC at DST, read-only\n"
		"  --rootfs DIR|NAME   use DIR, or the image NAME built by scripts/rootfs, as the\n"
		"                      root instead of the host's, read-only\n"
		"  --setenv K=V        add K=V to the (otherwise pinned) environment\n"
		"  --evidence FILE     write the command's evidence as JSON to FILE\n"
		"  --trace FILE        write the runtime trace (programs run, denied calls, network\n"
		"                      attempts, resource samples) as JSON lines to FILE\n"
		"  --trace-cap KB      keep at most KB of trace (default 16384)\n"
		"  --allow-weaker      run even if an explicitly requested limit cannot be enforced\n"
		"  -q, --quiet         no warnings on stderr\n"
		"  -h, --help          this help\n");
}

enum {
	OPT_POLICY = 1000, OPT_NET, OPT_MEMORY, OPT_PIDS, OPT_CPUS, OPT_TIMEOUT, OPT_TMP,
	OPT_WORKSPACE, OPT_COW, OPT_BIND, OPT_RO_BIND, OPT_ROOTFS, OPT_SETENV, OPT_EVIDENCE,
	OPT_ALLOW_WEAKER, OPT_TRACE, OPT_TRACE_CAP,
};

static const struct option exec_options[] = {
	{"policy", required_argument, NULL, OPT_POLICY},
	{"net", required_argument, NULL, OPT_NET},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"pids", required_argument, NULL, OPT_PIDS},
	{"cpus", required_argument, NULL, OPT_CPUS},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"tmp", required_argument, NULL, OPT_TMP},
	{"workspace", required_argument, NULL, OPT_WORKSPACE},
	{"cow", no_argument, NULL, OPT_COW},
	{"bind", required_argument, NULL, OPT_BIND},
	{"ro-bind", required_argument, NULL, OPT_RO_BIND},
	{"rootfs", required_argument, NULL, OPT_ROOTFS},
	{"setenv", required_argument, NULL, OPT_SETENV},
	{"evidence", required_argument, NULL, OPT_EVIDENCE},
	{"trace", required_argument, NULL, OPT_TRACE},
	{"trace-cap", required_argument, NULL, OPT_TRACE_CAP},
	{"allow-weaker", no_argument, NULL, OPT_ALLOW_WEAKER},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

typedef struct exec_args {
	const char *policy;
	sg_net_mode net;
	bool net_explicit;
	sg_limits limits;
	bool memory_explicit, pids_explicit;
	uint64_t timeout_s;
	const char *workspace;
	bool cow;
	sg_mount_spec *mounts;
	size_t n_mounts;
	const char *rootfs;
	char **env;
	size_t n_env;
	const char *evidence;
	const char *trace;
	uint64_t trace_cap_kb;
	bool allow_weaker, quiet;
} exec_args;

static int parse_u64_opt(const char *opt, const char *val, uint64_t max, uint64_t *out)
{
	if (!sg_parse_u64(val, out) || *out > max) {
		fprintf(stderr, "shipgate exec: %s: expected a whole number from 0 to %llu, got '%s'\n",
			opt, (unsigned long long)max, val);
		return -1;
	}
	return 0;
}

/* The root and the host's system directories: never a writable workspace. */
static bool system_dir(const char *real)
{
	static const char *const dirs[] = {"/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
					   "/libx32", "/boot", "/proc", "/sys", "/dev", "/var/lib", "/run"};
	if (!strcmp(real, "/"))
		return true;
	for (size_t i = 0; i < SG_ARRAY_LEN(dirs); i++) {
		size_t l = strlen(dirs[i]);
		if (!strncmp(real, dirs[i], l) && (real[l] == '\0' || real[l] == '/'))
			return true;
	}
	return false;
}

static int add_bind(exec_args *a, const char *spec, bool readonly)
{
	const char *opt = readonly ? "--ro-bind" : "--bind";
	sg_autofree char *src = sg_xstrdup(spec);
	char *colon = strchr(src, ':');
	const char *dst = colon ? colon + 1 : NULL;
	if (colon)
		*colon = '\0';
	char real[PATH_MAX];
	if (!realpath(src, real)) {
		fprintf(stderr, "shipgate exec: %s %s: %s\n", opt, src, strerror(errno));
		return -1;
	}
	struct stat st;
	if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "shipgate exec: %s %s: not a directory\n", opt, src);
		return -1;
	}
	if (!dst)
		dst = real;
	if (dst[0] != '/' || !strcmp(dst, "/") || strstr(dst, "/..") || !strncmp(dst, "/proc", 5) ||
	    !strncmp(dst, "/dev", 4) || !strncmp(dst, "/workspace", 10) || !strncmp(dst, "/tmp", 4)) {
		fprintf(stderr, "shipgate exec: %s %s: the target must be an absolute path outside /, "
				"/proc, /dev, /tmp and /workspace, without '..'\n", opt, spec);
		return -1;
	}
	if (!readonly && system_dir(real)) {
		fprintf(stderr, "shipgate exec: %s %s: refusing to make a system directory writable from "
				"inside the sandbox\n", opt, spec);
		return -1;
	}
	a->mounts = sg_xrealloc(a->mounts, (a->n_mounts + 1) * sizeof(*a->mounts));
	a->mounts[a->n_mounts++] = (sg_mount_spec){sg_xstrdup(real), sg_xstrdup(dst), readonly};
	return 0;
}

static int parse_exec_args(int argc, char **argv, exec_args *a, int *first_cmd)
{
	memset(a, 0, sizeof(*a));
	a->policy = "default";
	a->net = SG_NET_LOOPBACK;
	sg_limits_default(&a->limits);
	a->workspace = ".";
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+qh", exec_options, NULL)) != -1) {
		switch (c) {
		case OPT_POLICY: a->policy = optarg; break;
		case OPT_NET:
			if (sg_net_mode_parse(optarg, &a->net) < 0) {
				fprintf(stderr, "shipgate exec: --net: expected none, loopback or host, got '%s'\n", optarg);
				return 125;
			}
			a->net_explicit = true;
			break;
		case OPT_MEMORY:
			if (parse_u64_opt("--memory", optarg, 1u << 20, &a->limits.memory_mb) < 0)
				return 125;
			a->memory_explicit = true;
			break;
		case OPT_PIDS:
			if (parse_u64_opt("--pids", optarg, 1u << 22, &a->limits.pids) < 0)
				return 125;
			a->pids_explicit = true;
			break;
		case OPT_CPUS: {
			char *end = NULL;
			double v = strtod(optarg, &end);
			if (!end || *end || !(v > 0) || v > 1024) {
				fprintf(stderr, "shipgate exec: --cpus: expected a number of cores above 0, got '%s'\n", optarg);
				return 125;
			}
			a->limits.cpus = v;
			break;
		}
		case OPT_TIMEOUT:
			if (parse_u64_opt("--timeout", optarg, 7u * 86400u, &a->timeout_s) < 0)
				return 125;
			break;
		case OPT_TMP:
			if (parse_u64_opt("--tmp", optarg, 1u << 20, &a->limits.tmp_mb) < 0)
				return 125;
			break;
		case OPT_WORKSPACE: a->workspace = optarg; break;
		case OPT_COW: a->cow = true; break;
		case OPT_BIND:
		case OPT_RO_BIND:
			if (add_bind(a, optarg, c == OPT_RO_BIND) < 0)
				return 125;
			break;
		case OPT_ROOTFS: a->rootfs = optarg; break;
		case OPT_SETENV:
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				fprintf(stderr, "shipgate exec: --setenv: expected KEY=VALUE, got '%s'\n", optarg);
				return 125;
			}
			a->env = sg_xrealloc(a->env, (a->n_env + 2) * sizeof(char *));
			a->env[a->n_env++] = optarg;
			a->env[a->n_env] = NULL;
			break;
		case OPT_EVIDENCE: a->evidence = optarg; break;
		case OPT_TRACE: a->trace = optarg; break;
		case OPT_TRACE_CAP:
			if (parse_u64_opt("--trace-cap", optarg, 1u << 22, &a->trace_cap_kb) < 0)
				return 125;
			break;
		case OPT_ALLOW_WEAKER: a->allow_weaker = true; break;
		case 'q': a->quiet = true; break;
		case 'h': exec_usage(stdout); return 0;
		default:
			fprintf(stderr, "shipgate exec: %s '%s' (see shipgate exec --help)\n",
				optopt ? "an option that needs a value" : "unknown option", argv[optind - 1]);
			return 125;
		}
	}
	for (size_t i = 0; i < 2; i++) {
		const char *out = i == 0 ? a->evidence : a->trace;
		if (!out)
			continue;
		/* checked before anything runs: a command must not run for evidence we cannot keep */
		sg_autofree char *copy = sg_xstrdup(out);
		char *slash = strrchr(copy, '/');
		const char *dir = slash ? (slash == copy ? "/" : (*slash = '\0', copy)) : ".";
		if (access(dir, W_OK) != 0) {
			fprintf(stderr, "shipgate exec: %s %s: cannot write in %s: %s\n", i == 0 ? "--evidence" : "--trace",
				out, dir, strerror(errno));
			return 125;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "shipgate exec: no command given (usage: shipgate exec [OPTIONS] -- CMD [ARG...])\n");
		return 125;
	}
	*first_cmd = optind;
	return -1;
}

static void free_exec_args(exec_args *a)
{
	for (size_t i = 0; i < a->n_mounts; i++) {
		free(a->mounts[i].source);
		free(a->mounts[i].target);
	}
	free(a->mounts);
	free(a->env);
}

static int write_evidence(const char *path, char **cmd, const sg_sandbox_result *r,
			  const char *status, const char *error)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *argv = cJSON_AddArrayToObject(o, "command");
	for (char **p = cmd; *p; p++) {
		sg_autofree char *clean = sg_utf8_sanitize(*p, strlen(*p));
		cJSON_AddItemToArray(argv, cJSON_CreateString(clean));
	}
	cJSON_AddStringToObject(o, "status", status);
	if (error)
		cJSON_AddStringToObject(o, "error", error);
	sg_evidence_add_run_fields(o, r);
	if (r->trace) {
		cJSON_AddNumberToObject(o, "execs", (double)sg_trace_execs(r->trace));
		cJSON_AddItemToObject(o, "violations", sg_trace_violations_json(r->trace));
		cJSON_AddItemToObject(o, "connects", sg_trace_connects_json(r->trace));
	} else if (r->trace_unavailable) {
		cJSON_AddStringToObject(o, "trace_unavailable", r->trace_unavailable);
	}
	cJSON_AddItemToObject(o, "enforced", sg_evidence_enforced(&r->enforced));
	int rc = sg_cli_write_json(path, o);
	cJSON_Delete(o);
	return rc;
}

/* shipgate's own state (publish.h: sg_own_state), which a command given the user's home
 * (or an ancestor of it) as its workspace would otherwise read and rewrite: the default
 * signing key's directory and the root filesystem images. A writable workspace or --bind
 * that holds either, or lies in either, is refused, whether they exist yet or not (a
 * command could move them aside, or make them, and plant its own); a --ro-bind, when it
 * holds the key's directory or lies in it. With --cow the command writes only its copy:
 * what of them the workspace holds is hidden (an empty read-only tmpfs over each), and
 * hide gets those workspace-relative paths (at most two). -1 with the message printed. */
static int guard_own_state(const char *ws_real, const exec_args *a, char *hide[3])
{
	sg_own_state st;
	sg_own_state_find(&st);
	sg_error err = {0};
	int rc = sg_own_state_check_workspace(&st, "--workspace", ws_real, !a->cow, &err);
	const char *hint = rc < 0 && !a->cow ? "; add --cow (the command then writes a copy) or run in a "
					       "directory that does not hold it"
					     : "";
	/* a root filesystem directory is the command's to read: as a --ro-bind */
	if (rc == 0 && a->rootfs && strcmp(a->rootfs, "host") && strchr(a->rootfs, '/'))
		rc = sg_own_state_check(&st, "--rootfs", a->rootfs, false, &err);
	for (size_t m = 0; rc == 0 && m < a->n_mounts; m++)
		rc = sg_own_state_check(&st, a->mounts[m].readonly ? "--ro-bind" : "--bind", a->mounts[m].source,
					!a->mounts[m].readonly, &err);
	hide[0] = NULL;
	if (rc < 0)
		fprintf(stderr, "shipgate exec: %s%s\n", err.msg, hint);
	else
		sg_own_state_hidden(&st, ws_real, hide);
	sg_own_state_free(&st);
	return rc;
}

int sg_cli_exec(int argc, char **argv)
{
	exec_args a;
	int first = 0;
	int prc = parse_exec_args(argc, argv, &a, &first);
	if (prc >= 0) {
		free_exec_args(&a);
		return prc;
	}
	char **cmd = argv + first;
	int exit_code = 125;
	sg_error err = {0};
	sg_policy *policy = NULL;
	sg_rootfs_image image = {0};
	const char *rootfs = a.rootfs;
	char ws_real[PATH_MAX], rootfs_real[PATH_MAX];
	char *hide[3] = {NULL};
	char *scratch = NULL;
	sg_autofree char *layers = NULL; /* declared before the first goto: it has a cleanup */

	if (!realpath(a.workspace, ws_real)) {
		fprintf(stderr, "shipgate exec: --workspace %s: %s\n", a.workspace, strerror(errno));
		exit_code = 125;
		goto out;
	}
	struct stat st;
	if (stat(ws_real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "shipgate exec: --workspace %s: not a directory\n", a.workspace);
		exit_code = 125;
		goto out;
	}
	if (!a.cow && system_dir(ws_real)) {
		fprintf(stderr, "shipgate exec: --workspace %s: refusing to make a system directory "
				"writable from inside the sandbox; use --cow, or run in a project directory\n",
			ws_real);
		exit_code = 125;
		goto out;
	}
	if (guard_own_state(ws_real, &a, hide) < 0) {
		exit_code = 125;
		goto out;
	}
	/* --rootfs NAME (no '/'): an image built by scripts/rootfs */
	if (rootfs && strcmp(rootfs, "host") && !strchr(rootfs, '/')) {
		if (sg_rootfs_image_open(rootfs, &image, &err) < 0) {
			fprintf(stderr, "shipgate exec: --rootfs: %s\n", err.msg);
			exit_code = 125;
			goto out;
		}
		rootfs = image.root;
	} else if (rootfs && strcmp(rootfs, "host") && (stat(rootfs, &st) < 0 || !S_ISDIR(st.st_mode))) {
		fprintf(stderr, "shipgate exec: --rootfs %s: not a directory\n", a.rootfs);
		exit_code = 125;
		goto out;
	} else if (rootfs && strcmp(rootfs, "host")) {
		/* canonical: the sandbox opens it without following a symlink */
		if (!realpath(rootfs, rootfs_real)) {
			fprintf(stderr, "shipgate exec: --rootfs %s: %s\n", a.rootfs, strerror(errno));
			exit_code = 125;
			goto out;
		}
		rootfs = rootfs_real;
	}
	if (strcmp(a.policy, "none") != 0) {
		sg_timing_mark("exec: arguments parsed");
		policy = sg_policy_load(a.policy, &err);
		sg_timing_mark("exec: policy loaded");
		if (!policy) {
			fprintf(stderr, "shipgate exec: --policy: %s\n", err.msg);
			exit_code = 125;
			goto out;
		}
		/* the policy's own network unless --net says otherwise */
		if (!a.net_explicit && sg_policy_network(policy))
			(void)sg_net_mode_parse(sg_policy_network(policy), &a.net);
	} else if (!a.quiet) {
		fprintf(stderr, "shipgate exec: warning: seccomp is off (--policy none)\n");
	}
	if (a.cow) {
		scratch = sg_cli_make_temp_dir("exec-scratch", &err);
		if (!scratch) {
			fprintf(stderr, "shipgate exec: %s\n", err.msg);
			goto out;
		}
	}

	layers = scratch ? sg_xasprintf("%s/layers", scratch) : NULL;
	sg_cgroup_host cgroups;
	if (sg_cgroup_detect(&cgroups, &err) < 0) {
		fprintf(stderr, "shipgate exec: %s\n", err.msg);
		goto out;
	}
	/* limits the user did not ask for are best effort; asked-for ones fail closed */
	sg_limits limits = a.limits;
	bool best_effort = !a.memory_explicit && !a.pids_explicit && a.limits.cpus <= 0;
	sg_sandbox_config cfg = {
		.argv = cmd,
		.extra_env = a.env,
		.rootfs = rootfs,
		.workspace = ws_real,
		.workspace_mode = a.cow ? SG_WORKSPACE_COW : SG_WORKSPACE_BIND,
		.hide = hide,
		.scratch_dir = layers,
		.mounts = a.mounts,
		.n_mounts = a.n_mounts,
		.network = a.net,
		.policy = policy,
		.limits = limits,
		.timeout_ms = a.timeout_s * 1000,
		.capture = a.evidence != NULL,
		.out_sink = {.passthrough_fd = 1, .log_fd = -1},
		.err_sink = {.passthrough_fd = 2, .log_fd = -1},
		.stdin_fd = 0,
		.allow_weaker = a.allow_weaker,
		.limits_best_effort = best_effort,
		.cgroups = &cgroups,
		.interrupted = &sg_cli_interrupted,
		.trace_path = a.trace,
		.trace_cap = a.trace_cap_kb * 1024,
	};
	sg_sandbox_result r;
	int rc = sg_sandbox_run(&cfg, &r, &err);
	if (r.weaker_note && !a.quiet)
		fprintf(stderr, "shipgate exec: warning: %s\n", r.weaker_note);
	exit_code = sg_cli_exec_status(rc, &r, &err, a.quiet);
	if (a.evidence) {
		sg_step_status step_status = sg_classify_exit(&r);
		if (r.trace && sg_trace_failing_violation(r.trace) && step_status != SG_STEP_TIMEOUT && step_status != SG_STEP_OOM)
			step_status = SG_STEP_VIOLATION;
		const char *status = rc < 0 ? "error" : sg_step_status_name(step_status);
		if (write_evidence(a.evidence, cmd, &r, status, rc < 0 ? err.msg : NULL) < 0 && exit_code == 0)
			exit_code = 125;
	}
	sg_sandbox_result_free(&r);
	sg_cgroup_host_free(&cgroups);
out:
	if (scratch) {
		sg_error rm_err = {0};
		if (sg_rm_rf(scratch, &rm_err) < 0 && !a.quiet)
			fprintf(stderr, "shipgate exec: warning: %s\n", rm_err.msg);
		free(scratch);
	}
	sg_policy_free(policy);
	sg_rootfs_image_free(&image);
	for (size_t i = 0; hide[i]; i++)
		free(hide[i]);
	free_exec_args(&a);
	return exit_code;
}
