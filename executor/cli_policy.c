/* cli_policy.c: `shipgate policy list|show|check`: the shipped policies, the effective
 * policy after defaults are filled in, and the validation of a user's policy file.
 *
 *   list           the policies in the policy directory, with network and syscall count
 *   show NAME|FILE the effective policy as JSON: every default the file leaves out made
 *                  explicit (name, network, defaultErrnoRet, errnoRet, valueTwo), plus
 *                  what the file's bytes hash to, how many syscalls it allows here and
 *                  its program (instructions; built at build time or compiled now)
 *   check FILE...  exit 0 when every file is a valid policy (it is parsed and compiled
 *                  exactly as `run` would), 2 with the error otherwise
 */
#include "cli.h"
#include "cli_common.h"
#include "policy.h"
#include "util.h"

#include <dirent.h>
#include <seccomp.h>
#include <string.h>

static int policy_usage(FILE *out)
{
	fprintf(out, "usage: shipgate policy list\n"
		     "       shipgate policy show NAME|FILE\n"
		     "       shipgate policy check FILE|NAME...\n\n"
		     "list   the shipped policies (%s)\n"
		     "show   the effective policy, defaults filled in, as JSON\n"
		     "check  validate policy files: exit 0 valid, 2 invalid (the error says where)\n",
		 sg_policy_dir());
	return out == stdout ? 0 : 2;
}

/* Load and compile: what `run` does before the first step, so check agrees with run. */
static sg_policy *policy_load_compiled(const char *what, sg_error *err)
{
	sg_policy *p = sg_policy_load(what, err);
	if (p && !sg_policy_bpf(p, err)) {
		sg_policy_free(p);
		return NULL;
	}
	return p;
}

static const char *native_arch_name(void)
{
	switch (seccomp_arch_native()) {
	case SCMP_ARCH_X86_64: return "SCMP_ARCH_X86_64";
	case SCMP_ARCH_AARCH64: return "SCMP_ARCH_AARCH64";
	case SCMP_ARCH_RISCV64: return "SCMP_ARCH_RISCV64";
	case SCMP_ARCH_X86: return "SCMP_ARCH_X86";
	case SCMP_ARCH_ARM: return "SCMP_ARCH_ARM";
	default: return "other";
	}
}

/* errnoRet made explicit: 1 (EPERM) for SCMP_ACT_ERRNO, 0 for SCMP_ACT_TRACE. */
static void add_errno_default(cJSON *obj, const char *action_key, const char *ret_key)
{
	const cJSON *act = cJSON_GetObjectItemCaseSensitive(obj, action_key);
	if (!cJSON_IsString(act) || cJSON_GetObjectItemCaseSensitive(obj, ret_key))
		return;
	if (!strcmp(act->valuestring, "SCMP_ACT_ERRNO"))
		cJSON_AddNumberToObject(obj, ret_key, 1);
	else if (!strcmp(act->valuestring, "SCMP_ACT_TRACE"))
		cJSON_AddNumberToObject(obj, ret_key, 0);
}

/* The rules with their defaults explicit; names that exist only on other architectures
 * (they compile to nothing here) are listed apart in each rule. */
static void effective_rules(cJSON *rules)
{
	cJSON *rule;
	cJSON_ArrayForEach(rule, rules) {
		add_errno_default(rule, "action", "errnoRet");
		cJSON *args = cJSON_GetObjectItemCaseSensitive(rule, "args");
		if (cJSON_IsNull(args))
			cJSON_DeleteItemFromObjectCaseSensitive(rule, "args");
		for (cJSON *arg = cJSON_IsArray(args) ? args->child : NULL; arg; arg = arg->next)
			if (!cJSON_GetObjectItemCaseSensitive(arg, "valueTwo"))
				cJSON_AddNumberToObject(arg, "valueTwo", 0);
		cJSON *names = cJSON_GetObjectItemCaseSensitive(rule, "names");
		cJSON *elsewhere = NULL;
		const cJSON *n;
		cJSON_ArrayForEach(n, names) {
			int nr = seccomp_syscall_resolve_name(n->valuestring);
			/* __NR_SCMP_ERROR: a syscall newer than libseccomp that shipgate numbers
			 * itself (the file was validated), so native */
			if (nr >= 0 || nr == __NR_SCMP_ERROR)
				continue;
			if (!elsewhere)
				elsewhere = cJSON_CreateArray();
			cJSON_AddItemToArray(elsewhere, cJSON_CreateString(n->valuestring));
		}
		if (elsewhere)
			cJSON_AddItemToObject(rule, "names_not_on_this_architecture", elsewhere);
	}
}

static cJSON *policy_effective(const sg_policy *p, unsigned instructions)
{
	size_t len = 0;
	const char *bytes = sg_policy_bytes(p, &len);
	cJSON *file = cJSON_ParseWithLength(bytes, len); /* valid: sg_policy_load said so */
	if (!file)
		return NULL;
	cJSON *sc = cJSON_GetObjectItemCaseSensitive(file, "seccomp");
	bool wrapper = sc || cJSON_GetObjectItemCaseSensitive(file, "version");
	sc = wrapper ? cJSON_DetachItemFromObjectCaseSensitive(file, "seccomp") : file;

	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "version", 1);
	cJSON_AddStringToObject(o, "name", sg_policy_name(p));
	cJSON_AddStringToObject(o, "description", sg_policy_description(p) ? sg_policy_description(p) : "");
	cJSON_AddStringToObject(o, "path", sg_policy_path(p));
	cJSON_AddStringToObject(o, "sha256", sg_policy_sha256(p));
	cJSON_AddStringToObject(o, "format", wrapper ? "shipgate wrapper" : "bare OCI linux.seccomp");
	cJSON *net = cJSON_AddObjectToObject(o, "network");
	cJSON_AddStringToObject(net, "default", sg_policy_network(p) ? sg_policy_network(p) : "loopback");
	cJSON_AddStringToObject(net, "from", sg_policy_network(p) ? "policy" : "shipgate's default");
	cJSON_AddStringToObject(net, "rule", "a job's own \"network\" (or exec --net) wins over this");
	cJSON_AddNumberToObject(o, "syscalls_allowed", sg_policy_allowed_count(p));
	cJSON_AddStringToObject(o, "compiled_for", native_arch_name());
	cJSON *prog = cJSON_AddObjectToObject(o, "program");
	cJSON_AddNumberToObject(prog, "instructions", instructions);
	cJSON_AddStringToObject(prog, "made", sg_policy_bpf_built_in(p, SG_BPF_PLAIN)
						       ? "at build time: a shipped policy's exact bytes"
						       : "by libseccomp when loaded");

	add_errno_default(sc, "defaultAction", "defaultErrnoRet");
	if (!cJSON_GetObjectItemCaseSensitive(sc, "architectures"))
		cJSON_AddItemToObject(sc, "architectures", cJSON_CreateArray());
	if (!cJSON_GetObjectItemCaseSensitive(sc, "flags"))
		cJSON_AddItemToObject(sc, "flags", cJSON_CreateArray());
	cJSON *rules = cJSON_GetObjectItemCaseSensitive(sc, "syscalls");
	if (!rules || cJSON_IsNull(rules)) {
		cJSON_DeleteItemFromObjectCaseSensitive(sc, "syscalls");
		rules = cJSON_AddArrayToObject(sc, "syscalls");
	}
	effective_rules(rules);
	cJSON_AddItemToObject(o, "seccomp", sc);
	if (wrapper)
		cJSON_Delete(file);
	return o;
}

static int policy_show(int argc, char **argv)
{
	if (argc != 2)
		return policy_usage(stderr);
	sg_error err = {0};
	sg_policy *p = policy_load_compiled(argv[1], &err);
	if (!p) {
		fprintf(stderr, "shipgate policy show: %s\n", err.msg);
		return 2;
	}
	sg_error ignored = {0};
	cJSON *o = policy_effective(p, sg_policy_bpf(p, &ignored)->len); /* compiled when loaded */
	int rc = o && sg_cli_write_json("-", o) == 0 ? 0 : 3;
	cJSON_Delete(o);
	sg_policy_free(p);
	return rc;
}

static int policy_check(int argc, char **argv)
{
	if (argc < 2)
		return policy_usage(stderr);
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		sg_error err = {0};
		sg_policy *p = policy_load_compiled(argv[i], &err);
		if (!p) {
			fprintf(stderr, "%s\n", err.msg);
			rc = 2;
			continue;
		}
		printf("%s: valid: policy \"%s\", %u syscalls allowed, network %s%s\n", sg_policy_path(p),
		       sg_policy_name(p), sg_policy_allowed_count(p),
		       sg_policy_network(p) ? sg_policy_network(p) : "loopback",
		       sg_policy_network(p) ? " (the job's network wins)" : " (shipgate's default)");
		sg_policy_free(p);
	}
	return rc;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int policy_list(void)
{
	const char *dir_s = sg_policy_dir();
	sg_autofree char *dir = sg_xstrdup(dir_s);
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "shipgate policy list: %s: %s\n", dir, strerror(errno));
		return 3;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (len <= 5 || de->d_name[0] == '.' || strcmp(de->d_name + len - 5, ".json"))
			continue;
		names = sg_xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = sg_xstrndup(de->d_name, len - 5);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), str_cmp);
	printf("policies in %s:\n", dir);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		sg_error err = {0};
		sg_policy *p = sg_policy_load(names[i], &err);
		if (!p) {
			printf("  %-10s INVALID: %s\n", names[i], err.msg);
			rc = 2;
		} else {
			printf("  %-10s network %-8s %3u syscalls allowed\n", names[i],
			       sg_policy_network(p) ? sg_policy_network(p) : "loopback",
			       sg_policy_allowed_count(p));
		}
		sg_policy_free(p);
		free(names[i]);
	}
	free(names);
	return rc;
}

int sg_cli_policy(int argc, char **argv)
{
	if (argc < 2)
		return policy_usage(stderr);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return policy_usage(stdout);
	if (!strcmp(argv[1], "list") && argc == 2)
		return policy_list();
	if (!strcmp(argv[1], "show"))
		return policy_show(argc - 1, argv + 1);
	if (!strcmp(argv[1], "check"))
		return policy_check(argc - 1, argv + 1);
	fprintf(stderr, "shipgate policy: unknown subcommand '%s'\n", argv[1]);
	return policy_usage(stderr);
}
