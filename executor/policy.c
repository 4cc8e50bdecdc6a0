/* policy.c: policy files and their seccomp filter (see policy.h).
 *
 * Theory of operation. A policy is read once, in the supervisor, in three passes:
 *   1. parse: the JSON is walked strictly (every key, type and name checked) into a flat
 *      list of rules, one per (syscall, condition set), resolved to native syscall
 *      numbers. Names that libseccomp knows only for other architectures (socketcall,
 *      _llseek...) are skipped: the filter is compiled for the native ABI alone and
 *      every other ABI (i386 int 0x80, x32 on x86_64) is killed by the bad-arch action.
 *   2. check: rules are grouped by syscall to catch what libseccomp would otherwise do
 *      silently (an unconditional rule wipes out the conditional rules of the same
 *      syscall) and to refuse a policy under which execve can never succeed.
 *   3. compile (lazily, in sg_policy_bpf): libseccomp builds the filter and exports it
 *      into a memfd, which we read back into memory. The sandbox child then only calls
 *      seccomp(2)/prctl(2) on that program.
 *
 * One wrinkle of libseccomp: it refuses a rule whose action equals the filter's default
 * action (EACCES), although such a rule is meaningful when it carves an exception out of
 * a broader conditional rule (ioctl TIOCSTI -> EPERM under a default of EPERM). So the
 * filter is built with a sentinel default action that no rule uses (an errno value picked
 * for the purpose), and the sentinel is rewritten to the real default in the exported
 * program's return instructions.
 */
#include "policy.h"
#include "seccomp_builtin.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include "digest.h"
#include <seccomp.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define SG_POLICY_MAX_BYTES (1u << 20)
#define SG_POLICY_NAME_MAX 64
#define SG_ERRNO_MAX 4094u       /* libseccomp refuses SCMP_ACT_ERRNO(MAX_ERRNO) and above */
#define SG_RET_DATA_MAX 0xffffu  /* SECCOMP_RET_DATA */
#define SG_JSON_INT_MAX (1ull << 53) /* larger integers are not exact in a JSON double */
#define SG_ARGS_MAX 6
#define SG_CONDS_MAX 64         /* conditions of one entry (repeated indices are ORed) */
#define SG_ACTION_MASK 0xffff0000u

struct sg_rule {
	int nr;                 /* native syscall number */
	uint32_t action;        /* SCMP_ACT_* with its data */
	unsigned nargs;
	struct scmp_arg_cmp args[SG_ARGS_MAX];
	unsigned entry;         /* index in syscalls[] */
	unsigned name_index;    /* index in syscalls[entry].names[] */
	unsigned seq;           /* order of appearance, to keep sorting stable */
	bool skip;              /* same action as the default and nothing to carve from */
};

/* Filled lazily by the const accessors: a cache, not a change of the policy. */
struct sg_policy_lazy {
	bool have_sha256;
	char sha256[65];
};

struct sg_policy {
	char *path;
	char *name;
	char *description;
	char *network;          /* the wrapper's default network: "none", "loopback" or NULL */
	char *bytes;            /* the file's exact bytes, for the digest */
	size_t len;
	const char *prefix;     /* JSON path of the seccomp object: "seccomp." or "" */
	uint32_t default_action;
	struct sg_rule *rules;
	size_t nrules;
	size_t rules_cap;
	unsigned allowed;
	struct sg_policy_lazy *lazy;
	/* the programs by enum sg_bpf_variant: the plain filter, the traced variant (trace.c)
	 * without and with connect observed; each made on first use */
	struct sock_filter *filters[SG_BPF_VARIANTS];
	struct sock_fprog progs[SG_BPF_VARIANTS];
	bool built_in[SG_BPF_VARIANTS]; /* taken from seccomp_builtin.c, not compiled here */
	/* "violations": which denied calls fail a step, which are not even recorded */
	bool viol_fail_all;
	int *viol_fail;
	size_t n_viol_fail;
	int *viol_ignore;
	size_t n_viol_ignore;
};

/* Where we are while parsing, for error messages: "FILE: PREFIX+PATH: message". */
typedef struct sg_pctx {
	const char *origin;
	const char *prefix;
	sg_error *err;
} sg_pctx;

/* ---- const tables ------------------------------------------------------------------ */

typedef struct sg_action_def {
	const char *name;
	uint32_t base;
	bool takes_data;        /* errnoRet applies (ERRNO, TRACE) */
} sg_action_def;

static const sg_action_def sg_actions[] = {
	{"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, false}, /* OCI and runc: KILL is KILL_THREAD */
	{"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false},
	{"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false},
	{"SCMP_ACT_TRAP", SCMP_ACT_TRAP, false},
	{"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true},
	{"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true},
	{"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false},
	{"SCMP_ACT_LOG", SCMP_ACT_LOG, false},
	{"SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY, false},
};

typedef struct sg_op_def {
	const char *name;
	enum scmp_compare op;
} sg_op_def;

static const sg_op_def sg_ops[] = {
	{"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT},
	{"SCMP_CMP_LE", SCMP_CMP_LE}, {"SCMP_CMP_EQ", SCMP_CMP_EQ},
	{"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
	{"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

/* Architecture names of the OCI runtime spec: validated, but only the native ABI is
 * compiled (as runc does, whether or not it is listed). */
static const char *const sg_arch_names[] = {
	"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
	"SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
	"SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
	"SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
	"SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
	"SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
};

/* Filter flags of the OCI runtime spec. The child installs the program with
 * prctl(PR_SET_SECCOMP), which takes no flags: TSYNC is moot (the child is single
 * threaded), LOG and SPEC_ALLOW are not applied, WAIT_KILLABLE_RECV needs a notify
 * listener that shipgate does not have. They are validated and otherwise ignored. */
static const char *const sg_filter_flags[] = {
	"SECCOMP_FILTER_FLAG_TSYNC",
	"SECCOMP_FILTER_FLAG_LOG",
	"SECCOMP_FILTER_FLAG_SPEC_ALLOW",
	"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
};

/* Syscalls newer than this libseccomp (2.5.4 stops at futex_requeue, 456). Since Linux
 * 5.1 new syscalls have one number on every architecture but alpha, ia64 and mips, so on
 * the architectures below a name the library does not know can still be compiled. */
typedef struct sg_new_syscall {
	const char *name;
	int nr;
} sg_new_syscall;

static const sg_new_syscall sg_new_syscalls[] = {
	{"statmount", 457}, {"listmount", 458}, {"lsm_get_self_attr", 459},
	{"lsm_set_self_attr", 460}, {"lsm_list_modules", 461}, {"mseal", 462},
	{"setxattrat", 463}, {"getxattrat", 464}, {"listxattrat", 465},
	{"removexattrat", 466}, {"open_tree_attr", 467}, {"file_getattr", 468},
	{"file_setattr", 469}, {"listns", 470},
};

static const char *const sg_wrapper_keys[] = {"version", "name", "description", "network",
					      "seccomp", "violations"};
static const char *const sg_violation_keys[] = {"fail", "ignore"};
static const char *const sg_oci_keys[] = {"defaultAction", "defaultErrnoRet", "architectures",
					  "flags", "listenerPath", "listenerMetadata",
					  "syscalls"};
/* "comment" is not OCI but Docker's and podman's profiles carry it; it is ignored. */
static const char *const sg_syscall_keys[] = {"names", "action", "errnoRet", "args", "comment"};
static const char *const sg_arg_keys[] = {"index", "value", "valueTwo", "op"};

/* ---- errors and JSON helpers -------------------------------------------------------- */

static int sg_pfail(const sg_pctx *c, const char *jpath, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int sg_pfail(const sg_pctx *c, const char *jpath, const char *fmt, ...)
{
	char msg[SG_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!jpath || !*jpath)
		return sg_error_set(c->err, SG_ERR_INPUT, 0, "%s: %s", c->origin, msg);
	return sg_error_set(c->err, SG_ERR_INPUT, 0, "%s: %s%s: %s", c->origin, c->prefix, jpath,
			    msg);
}

static const char *sg_json_type(const cJSON *v)
{
	if (cJSON_IsObject(v))
		return "an object";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	return "an invalid value";
}

static void sg_join_keys(char *buf, size_t len, const char *const *keys, size_t nkeys)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < nkeys && off < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", keys[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* Refuse keys outside `keys` and keys given twice (cJSON keeps both, and a reader of the
 * file could not tell which one counts). */
static int sg_check_keys(const sg_pctx *c, const cJSON *obj, const char *jpath,
			 const char *const *keys, size_t nkeys)
{
	unsigned seen = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, obj) {
		size_t k = 0;
		while (k < nkeys && strcmp(it->string, keys[k]) != 0)
			k++;
		if (k < nkeys && !(seen & (1u << k))) {
			seen |= 1u << k;
			continue;
		}
		char path[256];
		snprintf(path, sizeof(path), "%s%s%s", jpath, *jpath ? "." : "", it->string);
		if (k == nkeys) {
			char expected[256];
			sg_join_keys(expected, sizeof(expected), keys, nkeys);
			return sg_pfail(c, path, "unknown key (expected one of: %s)", expected);
		}
		return sg_pfail(c, path, "duplicate key");
	}
	return 0;
}

static int sg_want_string(const sg_pctx *c, const cJSON *v, const char *jpath)
{
	if (!cJSON_IsString(v) || !v->valuestring)
		return sg_pfail(c, jpath, "expected a string, got %s", sg_json_type(v));
	return 0;
}

/* A non-negative integer given as a JSON number, exact (at most 2^53) and <= max. */
static int sg_want_uint(const sg_pctx *c, const cJSON *v, const char *jpath, uint64_t max,
			uint64_t *out)
{
	if (!cJSON_IsNumber(v))
		return sg_pfail(c, jpath, "expected a non-negative integer, got %s",
				sg_json_type(v));
	double d = v->valuedouble;
	if (!isfinite(d) || d < 0 || floor(d) != d)
		return sg_pfail(c, jpath, "expected a non-negative integer, got %g", d);
	if (d > (double)SG_JSON_INT_MAX)
		return sg_pfail(c, jpath, "%g is too large to be exact in JSON (at most 2^53)", d);
	uint64_t u = (uint64_t)d;
	if (u > max)
		return sg_pfail(c, jpath, "%llu is out of range (at most %llu)",
				(unsigned long long)u, (unsigned long long)max);
	*out = u;
	return 0;
}

static bool sg_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > SG_POLICY_NAME_MAX)
		return false;
	for (const char *s = name; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '-'))
			return false;
	return true;
}

/* ---- actions, arches, syscalls ----------------------------------------------------- */

static const sg_action_def *sg_action_lookup(const char *name)
{
	for (size_t i = 0; i < SG_ARRAY_LEN(sg_actions); i++)
		if (!strcmp(sg_actions[i].name, name))
			return &sg_actions[i];
	return NULL;
}

static const char *sg_action_name(uint32_t action)
{
	uint32_t base = action & SG_ACTION_MASK;
	for (size_t i = 1; i < SG_ARRAY_LEN(sg_actions); i++)
		if (sg_actions[i].base == base)
			return sg_actions[i].name;
	return "SCMP_ACT_?";
}

/* Does the action let the syscall run? */
static bool sg_action_allows(uint32_t action)
{
	return action == SCMP_ACT_ALLOW || action == SCMP_ACT_LOG;
}

/* Native number of a syscall name; __NR_SCMP_ERROR if unknown, another negative value
 * (a libseccomp pseudo number) if the syscall exists only on other architectures. */
static int sg_syscall_resolve(const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr != __NR_SCMP_ERROR)
		return nr;
	uint32_t native = seccomp_arch_native();
	if (native != SCMP_ARCH_X86_64 && native != SCMP_ARCH_AARCH64 &&
	    native != SCMP_ARCH_RISCV64)
		return __NR_SCMP_ERROR;
	for (size_t i = 0; i < SG_ARRAY_LEN(sg_new_syscalls); i++)
		if (!strcmp(sg_new_syscalls[i].name, name))
			return sg_new_syscalls[i].nr;
	return __NR_SCMP_ERROR;
}

/* ---- parsing ------------------------------------------------------------------------ */

/* action + errnoRet of a syscall entry or of the default. */
static int sg_parse_action(const sg_pctx *c, const cJSON *act, const cJSON *ret,
			   const char *act_path, const char *ret_path, uint32_t *out)
{
	if (!act)
		return sg_pfail(c, act_path, "missing (expected an SCMP_ACT_* name)");
	if (sg_want_string(c, act, act_path) < 0)
		return -1;
	const sg_action_def *def = sg_action_lookup(act->valuestring);
	if (!def)
		return sg_pfail(c, act_path,
				"unknown action \"%s\" (expected SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, "
				"SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, "
				"SCMP_ACT_TRAP, SCMP_ACT_TRACE, SCMP_ACT_LOG or SCMP_ACT_NOTIFY)",
				act->valuestring);
	if (!def->takes_data) {
		if (ret)
			return sg_pfail(c, ret_path,
					"only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not %s",
					def->name);
		*out = def->base;
		return 0;
	}
	uint64_t data = 1; /* EPERM, as the runtime spec says */
	bool is_errno = def->base == SCMP_ACT_ERRNO(0);
	if (ret && sg_want_uint(c, ret, ret_path, is_errno ? SG_ERRNO_MAX : SG_RET_DATA_MAX,
				&data) < 0)
		return -1;
	*out = def->base | (uint32_t)data;
	return 0;
}

/* An array of names from a table: "architectures" and "flags". */
static int sg_parse_names_in(const sg_pctx *c, const cJSON *arr, const char *key,
			     const char *const *table, size_t n, const char *what)
{
	if (!cJSON_IsArray(arr))
		return sg_pfail(c, key, "expected an array of %s names, got %s", what,
				sg_json_type(arr));
	const cJSON *it;
	size_t i = 0;
	cJSON_ArrayForEach(it, arr) {
		char path[64];
		snprintf(path, sizeof(path), "%s[%zu]", key, i++);
		if (sg_want_string(c, it, path) < 0)
			return -1;
		size_t k = 0;
		while (k < n && strcmp(table[k], it->valuestring) != 0)
			k++;
		if (k == n)
			return sg_pfail(c, path, "unknown %s \"%s\"", what, it->valuestring);
	}
	return 0;
}

static int sg_parse_arg(const sg_pctx *c, const cJSON *obj, const char *jpath,
			struct scmp_arg_cmp *out)
{
	if (!cJSON_IsObject(obj))
		return sg_pfail(c, jpath, "expected an object, got %s", sg_json_type(obj));
	if (sg_check_keys(c, obj, jpath, sg_arg_keys, SG_ARRAY_LEN(sg_arg_keys)) < 0)
		return -1;
	char path[128];
	const cJSON *index = cJSON_GetObjectItemCaseSensitive(obj, "index");
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(obj, "value");
	const cJSON *two = cJSON_GetObjectItemCaseSensitive(obj, "valueTwo");
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(obj, "op");
	uint64_t idx = 0, v1 = 0, v2 = 0;

	snprintf(path, sizeof(path), "%s.index", jpath);
	if (!index)
		return sg_pfail(c, path, "missing (expected 0..5)");
	if (sg_want_uint(c, index, path, SG_ARGS_MAX - 1, &idx) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s.value", jpath);
	if (!value)
		return sg_pfail(c, path, "missing");
	if (sg_want_uint(c, value, path, UINT64_MAX, &v1) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s.valueTwo", jpath);
	if (two && sg_want_uint(c, two, path, UINT64_MAX, &v2) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s.op", jpath);
	if (!op)
		return sg_pfail(c, path, "missing (expected an SCMP_CMP_* name)");
	if (sg_want_string(c, op, path) < 0)
		return -1;
	size_t k = 0;
	while (k < SG_ARRAY_LEN(sg_ops) && strcmp(sg_ops[k].name, op->valuestring))
		k++;
	if (k == SG_ARRAY_LEN(sg_ops))
		return sg_pfail(c, path,
				"unknown operator \"%s\" (expected SCMP_CMP_NE, SCMP_CMP_LT, "
				"SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT or "
				"SCMP_CMP_MASKED_EQ)",
				op->valuestring);
	enum scmp_compare cmp = sg_ops[k].op;
	snprintf(path, sizeof(path), "%s.valueTwo", jpath);
	if (cmp != SCMP_CMP_MASKED_EQ && v2 != 0)
		return sg_pfail(c, path, "only used with SCMP_CMP_MASKED_EQ");
	/* MASKED_EQ: value is the mask, valueTwo the datum (runtime spec and runc). */
	if (cmp == SCMP_CMP_MASKED_EQ && (v2 & ~v1) != 0)
		return sg_pfail(c, path,
				"has bits outside the mask \"value\", so the condition can never "
				"match (value is the mask, valueTwo the expected bits)");
	*out = (struct scmp_arg_cmp){.arg = (unsigned)idx, .op = cmp, .datum_a = v1,
				     .datum_b = cmp == SCMP_CMP_MASKED_EQ ? v2 : 0};
	return 0;
}

static void sg_rules_push(sg_policy *p, const struct sg_rule *r)
{
	if (p->nrules == p->rules_cap) {
		p->rules_cap = p->rules_cap ? 2 * p->rules_cap : 256;
		p->rules = sg_xrealloc(p->rules, p->rules_cap * sizeof(*p->rules));
	}
	p->rules[p->nrules] = *r;
	p->rules[p->nrules].seq = (unsigned)p->nrules;
	p->nrules++;
}

/* Conditions on different arguments are ANDed in one rule. When an argument index occurs
 * more than once, each condition becomes its own rule (ORed), as runc does: it is how
 * Docker-style profiles spell "personality is one of these values". */
static void sg_rules_add(sg_policy *p, const struct sg_rule *tmpl, const struct scmp_arg_cmp *args,
			 unsigned nargs)
{
	unsigned counts[SG_ARGS_MAX] = {0};
	bool repeated = false;
	for (unsigned i = 0; i < nargs; i++)
		if (++counts[args[i].arg] > 1)
			repeated = true;
	struct sg_rule r = *tmpl;
	if (!repeated) {
		r.nargs = nargs;
		memcpy(r.args, args, nargs * sizeof(*args));
		sg_rules_push(p, &r);
		return;
	}
	r.nargs = 1;
	for (unsigned i = 0; i < nargs; i++) {
		r.args[0] = args[i];
		sg_rules_push(p, &r);
	}
}

static int sg_parse_names(const sg_pctx *c, sg_policy *p, const cJSON *names, const char *jpath,
			  struct sg_rule *tmpl, const struct scmp_arg_cmp *args, unsigned nargs)
{
	char path[128];
	snprintf(path, sizeof(path), "%s.names", jpath);
	if (!names)
		return sg_pfail(c, path, "missing (expected an array of syscall names)");
	if (!cJSON_IsArray(names) || cJSON_GetArraySize(names) == 0)
		return sg_pfail(c, path, "expected a non-empty array of syscall names, got %s",
				cJSON_IsArray(names) ? "an empty array" : sg_json_type(names));
	const cJSON *it;
	unsigned j = 0;
	/* The path is formatted only for an error: done for every name, it was a third of
	 * the parsing time. */
	cJSON_ArrayForEach(it, names) {
		int nr = __NR_SCMP_ERROR;
		if (cJSON_IsString(it) && it->valuestring)
			nr = sg_syscall_resolve(it->valuestring);
		if (nr == __NR_SCMP_ERROR) {
			snprintf(path, sizeof(path), "%s.names[%u]", jpath, j);
			if (sg_want_string(c, it, path) < 0)
				return -1;
			return sg_pfail(c, path, "unknown syscall \"%s\"", it->valuestring);
		}
		tmpl->name_index = j++;
		if (nr < 0)
			continue; /* exists on other architectures only */
		tmpl->nr = nr;
		sg_rules_add(p, tmpl, args, nargs);
	}
	return 0;
}

static int sg_parse_syscall(const sg_pctx *c, sg_policy *p, const cJSON *obj, unsigned i)
{
	char jpath[64], path[96], path2[96];
	snprintf(jpath, sizeof(jpath), "syscalls[%u]", i);
	if (!cJSON_IsObject(obj))
		return sg_pfail(c, jpath, "expected an object, got %s", sg_json_type(obj));
	if (sg_check_keys(c, obj, jpath, sg_syscall_keys, SG_ARRAY_LEN(sg_syscall_keys)) < 0)
		return -1;
	const cJSON *comment = cJSON_GetObjectItemCaseSensitive(obj, "comment");
	snprintf(path, sizeof(path), "%s.comment", jpath);
	if (comment && sg_want_string(c, comment, path) < 0)
		return -1;

	struct sg_rule tmpl = {.entry = i};
	snprintf(path, sizeof(path), "%s.action", jpath);
	snprintf(path2, sizeof(path2), "%s.errnoRet", jpath);
	if (sg_parse_action(c, cJSON_GetObjectItemCaseSensitive(obj, "action"),
			    cJSON_GetObjectItemCaseSensitive(obj, "errnoRet"), path, path2,
			    &tmpl.action) < 0)
		return -1;

	struct scmp_arg_cmp args[SG_CONDS_MAX];
	unsigned nargs = 0;
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, "args");
	snprintf(path, sizeof(path), "%s.args", jpath);
	if (arr && !cJSON_IsArray(arr) && !cJSON_IsNull(arr))
		return sg_pfail(c, path, "expected an array, got %s", sg_json_type(arr));
	if (arr && cJSON_GetArraySize(arr) > SG_CONDS_MAX)
		return sg_pfail(c, path, "at most %d conditions", SG_CONDS_MAX);
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) {
		snprintf(path, sizeof(path), "%s.args[%u]", jpath, nargs);
		if (sg_parse_arg(c, it, path, &args[nargs]) < 0)
			return -1;
		nargs++;
	}
	return sg_parse_names(c, p, cJSON_GetObjectItemCaseSensitive(obj, "names"), jpath, &tmpl,
			      args, nargs);
}

static int sg_parse_seccomp(const sg_pctx *c, sg_policy *p, const cJSON *sc)
{
	if (sg_check_keys(c, sc, "", sg_oci_keys, SG_ARRAY_LEN(sg_oci_keys)) < 0)
		return -1;
	if (cJSON_GetObjectItemCaseSensitive(sc, "listenerPath") ||
	    cJSON_GetObjectItemCaseSensitive(sc, "listenerMetadata"))
		return sg_pfail(c, cJSON_GetObjectItemCaseSensitive(sc, "listenerPath")
					   ? "listenerPath" : "listenerMetadata",
				"not supported: shipgate has no seccomp notify agent");
	if (sg_parse_action(c, cJSON_GetObjectItemCaseSensitive(sc, "defaultAction"),
			    cJSON_GetObjectItemCaseSensitive(sc, "defaultErrnoRet"), "defaultAction",
			    "defaultErrnoRet", &p->default_action) < 0)
		return -1;
	if (p->default_action == SCMP_ACT_NOTIFY)
		return sg_pfail(c, "defaultAction",
				"SCMP_ACT_NOTIFY cannot be the default action");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(sc, "architectures");
	if (v && !cJSON_IsNull(v) &&
	    sg_parse_names_in(c, v, "architectures", sg_arch_names, SG_ARRAY_LEN(sg_arch_names),
			      "architecture") < 0)
		return -1;
	v = cJSON_GetObjectItemCaseSensitive(sc, "flags");
	if (v && !cJSON_IsNull(v) &&
	    sg_parse_names_in(c, v, "flags", sg_filter_flags, SG_ARRAY_LEN(sg_filter_flags),
			      "flag") < 0)
		return -1;
	v = cJSON_GetObjectItemCaseSensitive(sc, "syscalls");
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v))
		return sg_pfail(c, "syscalls", "expected an array, got %s", sg_json_type(v));
	const cJSON *it;
	unsigned i = 0;
	cJSON_ArrayForEach(it, v)
		if (sg_parse_syscall(c, p, it, i++) < 0)
			return -1;
	return 0;
}

/* A list of syscall names under "violations" into native numbers. */
static int sg_parse_nr_list(const sg_pctx *c, const cJSON *arr, const char *key, int **out, size_t *n)
{
	char jpath[64];
	snprintf(jpath, sizeof(jpath), "violations.%s", key);
	if (!cJSON_IsArray(arr))
		return sg_pfail(c, jpath, "expected an array of syscall names%s, got %s",
				!strcmp(key, "fail") ? " or \"all\"" : "", sg_json_type(arr));
	*out = sg_xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(int));
	const cJSON *it;
	unsigned i = 0;
	cJSON_ArrayForEach(it, arr)
	{
		char ipath[96];
		snprintf(ipath, sizeof(ipath), "%s[%u]", jpath, i++);
		if (sg_want_string(c, it, ipath) < 0)
			return -1;
		int nr = sg_syscall_resolve(it->valuestring);
		if (nr == __NR_SCMP_ERROR)
			return sg_pfail(c, ipath, "unknown syscall \"%s\"", it->valuestring);
		(*out)[(*n)++] = nr;
	}
	return 0;
}

/* "violations": {"fail": [names] | "all", "ignore": [names]}: a denied call is recorded
 * in the step's evidence unless ignored, and fails the step if it is in `fail`. */
static int sg_parse_violations(const sg_pctx *c, sg_policy *p, const cJSON *v)
{
	if (!cJSON_IsObject(v))
		return sg_pfail(c, "violations", "expected an object, got %s", sg_json_type(v));
	if (sg_check_keys(c, v, "violations.", sg_violation_keys, SG_ARRAY_LEN(sg_violation_keys)) < 0)
		return -1;
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, "fail");
	if (cJSON_IsString(f)) {
		if (strcmp(f->valuestring, "all") != 0)
			return sg_pfail(c, "violations.fail", "expected \"all\" or an array of syscall names, got \"%s\"",
					f->valuestring);
		p->viol_fail_all = true;
	} else if (f && sg_parse_nr_list(c, f, "fail", &p->viol_fail, &p->n_viol_fail) < 0) {
		return -1;
	}
	const cJSON *ig = cJSON_GetObjectItemCaseSensitive(v, "ignore");
	if (ig && sg_parse_nr_list(c, ig, "ignore", &p->viol_ignore, &p->n_viol_ignore) < 0)
		return -1;
	return 0;
}

/* The shipgate wrapper: {"version": 1, "name", "description", "seccomp": {OCI}}. */
static int sg_parse_wrapper(const sg_pctx *c, sg_policy *p, const cJSON *root,
			    const cJSON **seccomp)
{
	if (sg_check_keys(c, root, "", sg_wrapper_keys, SG_ARRAY_LEN(sg_wrapper_keys)) < 0)
		return -1;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
	uint64_t version = 0;
	if (!v)
		return sg_pfail(c, "version", "missing (expected 1)");
	if (sg_want_uint(c, v, "version", UINT32_MAX, &version) < 0)
		return -1;
	if (version != 1)
		return sg_pfail(c, "version", "unsupported version %llu (expected 1)",
				(unsigned long long)version);
	v = cJSON_GetObjectItemCaseSensitive(root, "name");
	if (v) {
		if (sg_want_string(c, v, "name") < 0)
			return -1;
		if (!sg_name_valid(v->valuestring))
			return sg_pfail(c, "name", "\"%s\" is not a policy name (expected [a-z0-9_-]+)",
					v->valuestring);
		p->name = sg_xstrdup(v->valuestring);
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "description");
	if (v) {
		if (sg_want_string(c, v, "description") < 0)
			return -1;
		p->description = sg_xstrdup(v->valuestring);
	}
	/* The network a step under this policy gets unless the job says otherwise. Never the
	 * host's: that must be asked for by the job itself, where a reader sees it. */
	v = cJSON_GetObjectItemCaseSensitive(root, "network");
	if (v) {
		if (sg_want_string(c, v, "network") < 0)
			return -1;
		if (!strcmp(v->valuestring, "host"))
			return sg_pfail(c, "network", "\"host\" cannot be a policy's default (a job "
					"must ask for the host's network itself), expected \"none\" or "
					"\"loopback\"");
		if (strcmp(v->valuestring, "none") && strcmp(v->valuestring, "loopback"))
			return sg_pfail(c, "network", "expected \"none\" or \"loopback\", got \"%s\"",
					v->valuestring);
		p->network = sg_xstrdup(v->valuestring);
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "violations");
	if (v && sg_parse_violations(c, p, v) < 0)
		return -1;
	v = cJSON_GetObjectItemCaseSensitive(root, "seccomp");
	if (!v)
		return sg_pfail(c, "seccomp", "missing (expected an OCI linux.seccomp object)");
	if (!cJSON_IsObject(v))
		return sg_pfail(c, "seccomp", "expected an object, got %s", sg_json_type(v));
	*seccomp = v;
	return 0;
}

/* ---- checks over the whole rule set ------------------------------------------------ */

static int sg_rule_cmp(const void *a, const void *b)
{
	const struct sg_rule *x = a, *y = b;
	if (x->nr != y->nr)
		return x->nr < y->nr ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static void sg_rule_path(const struct sg_rule *r, char *buf, size_t len)
{
	snprintf(buf, len, "syscalls[%u].names[%u]", r->entry, r->name_index);
}

/* libseccomp keeps a syscall's unconditional rule and silently drops every conditional
 * rule of that syscall, whatever their actions: refuse such a policy rather than
 * compile something other than what it says. */
static int sg_check_group(const sg_pctx *c, const struct sg_rule *g, size_t n)
{
	const struct sg_rule *uncond = NULL;
	for (size_t i = 0; i < n && !uncond; i++)
		if (g[i].nargs == 0)
			uncond = &g[i];
	if (!uncond)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (g[i].action == uncond->action)
			continue;
		char here[96], there[96];
		sg_rule_path(uncond, here, sizeof(here));
		sg_rule_path(&g[i], there, sizeof(there));
		sg_autofree char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, g[i].nr);
		if (g[i].nargs == 0)
			return sg_pfail(c, there, "\"%s\" is already given %s at %s%s", name ? name : "?",
					sg_action_name(uncond->action), c->prefix, here);
		return sg_pfail(c, here,
				"\"%s\" has a rule without args (%s) and a %s rule at %s%s: "
				"libseccomp would keep only the rule without args; give it an "
				"always-true condition such as {\"index\": 0, \"op\": "
				"\"SCMP_CMP_GE\", \"value\": 0}",
				name ? name : "?", sg_action_name(uncond->action),
				sg_action_name(g[i].action), c->prefix, there);
	}
	return 0;
}

/* Number of syscalls of the native ABI (for policies that allow by default). */
static unsigned sg_native_syscall_count(void)
{
	unsigned n = 0;
	for (int nr = 0; nr < 1024; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		if (name)
			n++;
		free(name);
	}
	return n;
}

/* Syscalls without which no command could run: execve starts it; exit_group and exit
 * end it (glibc's _exit calls exit_group and, should that fail, spins until killed). */
static const struct {
	const char *name;
	const char *why;
} sg_essential[] = {
	{"execve", "no command could ever start"},
	{"exit_group", "no command could ever end (it would spin until the timeout)"},
	{"exit", "no thread could ever end (it would spin until the timeout)"},
};

/* Can the syscall of the group g[0..n) (or of no group) succeed for some arguments? */
static bool sg_group_can_allow(const sg_policy *p, const struct sg_rule *g, size_t n)
{
	bool allows = false, uncond = false;
	for (size_t i = 0; i < n; i++) {
		allows |= sg_action_allows(g[i].action);
		uncond |= g[i].nargs == 0;
	}
	/* without an unconditional rule, calls no condition matches get the default action */
	return allows || (!uncond && sg_action_allows(p->default_action));
}

static int sg_check_rules(const sg_pctx *c, sg_policy *p)
{
	unsigned allowed = 0, denied_uncond = 0;

	if (p->nrules)
		qsort(p->rules, p->nrules, sizeof(*p->rules), sg_rule_cmp);
	for (size_t a = 0, b; a < p->nrules; a = b) {
		bool allows = false, all_default = true, uncond = false;
		for (b = a; b < p->nrules && p->rules[b].nr == p->rules[a].nr; b++) {
			allows |= sg_action_allows(p->rules[b].action);
			all_default &= p->rules[b].action == p->default_action;
			uncond |= p->rules[b].nargs == 0;
		}
		if (sg_check_group(c, &p->rules[a], b - a) < 0)
			return -1;
		for (size_t i = a; i < b; i++)
			p->rules[i].skip = all_default;
		allowed += allows;
		if (!allows && uncond)
			denied_uncond++;
	}
	for (size_t e = 0; e < SG_ARRAY_LEN(sg_essential); e++) {
		int nr = seccomp_syscall_resolve_name(sg_essential[e].name);
		size_t a = 0, b;
		while (a < p->nrules && p->rules[a].nr != nr)
			a++;
		for (b = a; b < p->nrules && p->rules[b].nr == nr; b++)
			;
		if (sg_group_can_allow(p, &p->rules[a], b - a))
			continue;
		char path[96] = "defaultAction";
		const struct sg_rule *rule = a < b ? &p->rules[a] : NULL;
		if (rule)
			sg_rule_path(rule, path, sizeof(path));
		return sg_pfail(c, path, "this policy blocks %s (%s), so %s", sg_essential[e].name,
				sg_action_name(rule ? rule->action : p->default_action),
				sg_essential[e].why);
	}
	if (sg_action_allows(p->default_action)) {
		unsigned total = sg_native_syscall_count();
		allowed = total > denied_uncond ? total - denied_uncond : 0;
	}
	p->allowed = allowed;
	return 0;
}

/* ---- public: parse, load, accessors ----------------------------------------------- */

static void sg_json_position(const char *data, size_t len, const char *at, unsigned *line,
			     unsigned *col)
{
	*line = 1;
	*col = 1;
	if (!at || at < data || at > data + len)
		return;
	for (const char *s = data; s < at; s++) {
		if (*s == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static char *sg_stem(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(base);
	if (n > 5 && !strcmp(base + n - 5, ".json"))
		n -= 5;
	return sg_xstrndup(base, n);
}

static void sg_cjson_deletep(cJSON **j)
{
	cJSON_Delete(*j);
}

static void sg_policy_freep(sg_policy **p)
{
	sg_policy_free(*p);
}

sg_policy *sg_policy_parse(const char *origin, const char *data, size_t len, sg_error *err)
{
	__attribute__((cleanup(sg_policy_freep))) sg_policy *p = sg_xcalloc(1, sizeof(*p));
	sg_pctx c = {.origin = origin, .prefix = "", .err = err};
	p->path = sg_xstrdup(origin);
	p->bytes = sg_xmalloc(len + 1);
	memcpy(p->bytes, data, len);
	p->bytes[len] = '\0';
	p->len = len;
	p->lazy = sg_xcalloc(1, sizeof(*p->lazy));
	p->prefix = "";

	if (memchr(data, '\0', len)) {
		sg_pfail(&c, NULL, "invalid JSON: contains a NUL byte");
		return NULL;
	}
	/* cJSON wants the terminating NUL inside the length to reject trailing garbage. */
	const char *end = NULL;
	__attribute__((cleanup(sg_cjson_deletep))) cJSON *root =
		cJSON_ParseWithLengthOpts(p->bytes, len + 1, &end, 1);
	if (!root) {
		unsigned line, col;
		sg_json_position(p->bytes, len, end, &line, &col);
		sg_pfail(&c, NULL, "invalid JSON at line %u, column %u", line, col);
		return NULL;
	}
	if (!cJSON_IsObject(root)) {
		sg_pfail(&c, NULL, "expected a JSON object, got %s", sg_json_type(root));
		return NULL;
	}
	const cJSON *sc = root;
	if (cJSON_GetObjectItemCaseSensitive(root, "seccomp") ||
	    cJSON_GetObjectItemCaseSensitive(root, "version")) {
		if (sg_parse_wrapper(&c, p, root, &sc) < 0)
			return NULL;
		c.prefix = p->prefix = "seccomp.";
	}
	if (sg_parse_seccomp(&c, p, sc) < 0 || sg_check_rules(&c, p) < 0)
		return NULL;
	if (!p->name)
		p->name = sg_stem(origin);
	return sg_steal_ptr(&p);
}

/* Installed as a shared library (<prefix>/lib[/<multiarch>]/libshipgate.so), the
 * policies are in <prefix>/share/shipgate/policies whatever program loaded us. */
static bool sg_policy_dir_beside_library(char *buf, size_t len)
{
	Dl_info info;
	if (!dladdr((void *)sg_policy_dir_beside_library, &info) || !info.dli_fname ||
	    info.dli_fname[0] != '/' || !strstr(info.dli_fname, "/libshipgate.so"))
		return false;
	char lib[PATH_MAX];
	snprintf(lib, sizeof(lib), "%s", info.dli_fname);
	for (int up = 0; up < 3; up++) {
		char *slash = strrchr(lib, '/');
		if (!slash || slash == lib)
			return false;
		*slash = '\0';
		struct stat st;
		int w = snprintf(buf, len, "%s/share/shipgate/policies", lib);
		if (up > 0 && w > 0 && (size_t)w < len && stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
			return true;
	}
	return false;
}

static void sg_policy_dir_into(char *buf, size_t len)
{
	const char *env = getenv("SHIPGATE_POLICY_DIR");
	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return;
	}
	if (sg_policy_dir_beside_library(buf, len))
		return;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		/* <prefix>/bin/shipgate -> <prefix>/share/shipgate/policies */
		for (int up = 0; up < 2; up++) {
			char *slash = strrchr(exe, '/');
			if (slash)
				*slash = '\0';
		}
		struct stat st;
		int w = snprintf(buf, len, "%s/share/shipgate/policies", exe);
		if (w > 0 && (size_t)w < len && stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
			return;
	}
	snprintf(buf, len, "%s/policies", SHIPGATE_SOURCE_DIR);
}

const char *sg_policy_dir(void)
{
	/* The one mutable static of this file, imposed by the signature: the string lives
	 * until the calling thread's next call. */
	static _Thread_local char dir[PATH_MAX];
	sg_policy_dir_into(dir, sizeof(dir));
	return dir;
}

static int sg_str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "a, b, c": the names of the policies in dir, for a "not found" message. */
static char *sg_policy_list(const char *dir)
{
	sg_buf out = {0};
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		char *stem = sg_xstrndup(de->d_name, len - 5);
		if (!sg_name_valid(stem)) {
			free(stem);
			continue;
		}
		names = sg_xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = stem;
	}
	if (d)
		closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), sg_str_cmp);
	for (size_t i = 0; i < n; i++) {
		sg_buf_printf(&out, "%s%s", i ? ", " : "", names[i]);
		free(names[i]);
	}
	free(names);
	if (!out.data)
		sg_buf_puts(&out, "none");
	return out.data;
}

static sg_policy *sg_policy_load_file(const char *path, sg_error *err)
{
	sg_autofree char *data = NULL;
	size_t len = 0;
	if (sg_read_file(path, SG_POLICY_MAX_BYTES, &data, &len, err) < 0)
		return NULL;
	return sg_policy_parse(path, data, len, err);
}

sg_policy *sg_policy_load(const char *name_or_path, sg_error *err)
{
	size_t n = strlen(name_or_path);
	if (strchr(name_or_path, '/') || (n > 5 && !strcmp(name_or_path + n - 5, ".json")))
		return sg_policy_load_file(name_or_path, err);
	if (!sg_name_valid(name_or_path)) {
		sg_error_set(err, SG_ERR_INPUT, 0,
			     "policy \"%s\": expected a name ([a-z0-9_-]+) or a path to a .json file",
			     name_or_path);
		return NULL;
	}
	char dir[PATH_MAX];
	sg_policy_dir_into(dir, sizeof(dir));
	sg_autofree char *path = sg_xasprintf("%s/%s.json", dir, name_or_path);
	if (access(path, F_OK) < 0 && errno == ENOENT) {
		sg_autofree char *list = sg_policy_list(dir);
		sg_error_set(err, SG_ERR_INPUT, 0, "policy \"%s\" not found in %s (available: %s)",
			     name_or_path, dir, list);
		return NULL;
	}
	sg_policy *p = sg_policy_load_file(path, err);
	if (p && strcmp(p->name, name_or_path) != 0) {
		sg_error_set(err, SG_ERR_INPUT, 0, "%s: name: \"%s\" differs from the file name",
			     path, p->name);
		sg_policy_free(p);
		return NULL;
	}
	return p;
}

void sg_policy_free(sg_policy *p)
{
	if (!p)
		return;
	free(p->path);
	free(p->name);
	free(p->description);
	free(p->network);
	free(p->bytes);
	free(p->rules);
	free(p->lazy);
	for (unsigned v = 0; v < SG_BPF_VARIANTS; v++)
		free(p->filters[v]);
	free(p->viol_fail);
	free(p->viol_ignore);
	free(p);
}

const char *sg_policy_name(const sg_policy *p)
{
	return p->name;
}

const char *sg_policy_path(const sg_policy *p)
{
	return p->path;
}

const char *sg_policy_description(const sg_policy *p)
{
	return p->description;
}

const char *sg_policy_network(const sg_policy *p)
{
	return p->network;
}

const char *sg_policy_bytes(const sg_policy *p, size_t *len)
{
	*len = p->len;
	return p->bytes;
}

/* Computed on first use: the first SHA-256 of a process pays for OpenSSL's provider
 * set-up (most of a millisecond), which a sandbox start that never asks should not. */
const char *sg_policy_sha256(const sg_policy *p)
{
	struct sg_policy_lazy *lz = p->lazy;
	if (!lz->have_sha256) {
		sg_sha256_hex(p->bytes, p->len, lz->sha256);
		lz->have_sha256 = true;
	}
	return lz->sha256;
}

bool sg_policy_default_denies(const sg_policy *p)
{
	return !sg_action_allows(p->default_action);
}

unsigned sg_policy_allowed_count(const sg_policy *p)
{
	return p->allowed;
}

/* ---- compile ------------------------------------------------------------------------ */

static void sg_seccomp_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

static int sg_policy_add_rules(sg_policy *p, scmp_filter_ctx ctx, sg_error *err)
{
	sg_pctx c = {.origin = p->path, .prefix = p->prefix, .err = err};
	/* Rules are sorted by syscall number; adding them from the highest number down lets
	 * libseccomp insert each syscall at the head of its sorted list (a quarter of the
	 * compile time for the default policy). */
	for (size_t i = p->nrules; i-- > 0;) {
		const struct sg_rule *r = &p->rules[i];
		if (r->skip)
			continue;
		int rc = seccomp_rule_add_array(ctx, r->action, r->nr, r->nargs, r->args);
		if (rc < 0) {
			char path[96];
			sg_rule_path(r, path, sizeof(path));
			sg_pfail(&c, path, "libseccomp refused the rule: %s", strerror(-rc));
			return -1;
		}
	}
	return 0;
}

/* libseccomp 2.5 can only export to a file descriptor: use a memfd and read it back. */
static int sg_export_bpf(scmp_filter_ctx ctx, struct sock_filter **out, size_t *count,
			 sg_error *err)
{
	sg_autoclose int fd = memfd_create("shipgate-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return sg_error_set(err, SG_ERR_INTERNAL, errno, "seccomp: memfd_create");
	int rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
		return sg_error_set(err, SG_ERR_INTERNAL, -rc, "seccomp: export the filter");
	struct stat st;
	if (fstat(fd, &st) < 0)
		return sg_error_set(err, SG_ERR_INTERNAL, errno, "seccomp: stat the exported filter");
	size_t size = (size_t)st.st_size;
	if (size == 0 || size % sizeof(struct sock_filter) != 0)
		return sg_error_set(err, SG_ERR_INTERNAL, 0,
				    "seccomp: exported filter has a bad size (%zu bytes)", size);
	if (size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return sg_error_set(err, SG_ERR_INPUT, 0,
				    "seccomp: the filter has %zu instructions, more than the "
				    "kernel's limit of %d",
				    size / sizeof(struct sock_filter), BPF_MAXINSNS);
	sg_autofree struct sock_filter *prog = sg_xmalloc(size);
	if (lseek(fd, 0, SEEK_SET) < 0 || sg_read_all(fd, prog, size) != (ssize_t)size)
		return sg_error_set(err, SG_ERR_INTERNAL, errno, "seccomp: read the exported filter");
	*out = sg_steal_ptr(&prog);
	*count = size / sizeof(struct sock_filter);
	return 0;
}

static bool sg_action_used(const sg_policy *p, uint32_t action)
{
	if (action == p->default_action)
		return true;
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].action == action)
			return true;
	return false;
}

/* The default action libseccomp sees: an errno that neither the default nor any rule
 * uses, so that every return of it in the program means "the default". */
static uint32_t sg_sentinel_action(const sg_policy *p)
{
	uint32_t e = SG_ERRNO_MAX;
	while (e > 0 && sg_action_used(p, SCMP_ACT_ERRNO(e)))
		e--;
	return SCMP_ACT_ERRNO(e);
}

/* Give the real default action to the return instructions that carry the sentinel. */
static void sg_patch_default(struct sock_filter *prog, size_t count, uint32_t sentinel,
			     uint32_t action)
{
	for (size_t i = 0; i < count; i++)
		if (prog[i].code == (BPF_RET | BPF_K) && prog[i].k == sentinel)
			prog[i].k = action;
}

/* A program is kept with the policy for as long as the policy lives: a daemon or a
 * program on the library makes it once. The shipped policies' programs are compiled at
 * build time (seccomp_builtin.h); any other policy is compiled when first asked. A
 * program is never read back from a file: a cache file the user can write is a file a
 * sandbox can write too (exec hands its workspace to the command, and the user's cache
 * may lie in it), and a program read from it would be whatever was put there, while the
 * evidence still named the policy's allowlist. */

/* Only the native ABI is compiled: anything else (i386 via int 0x80, x32) dies. The
 * program is laid out as a binary tree over the syscall numbers: it is compiled once per
 * policy, while the kernel runs it at every syscall that is not in its per-syscall cache
 * and emulates it for every syscall number each time a sandbox loads it
 * (seccomp_cache_prepare): a linear list of 300 numbers costs both of them the most. */
static int sg_filter_attrs(scmp_filter_ctx ctx, sg_error *err)
{
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (rc < 0)
		return sg_error_set(err, SG_ERR_INTERNAL, -rc, "seccomp: set filter attributes");
	return 0;
}

/* The plain filter, compiled now. */
static int sg_compile_plain(sg_policy *p, struct sock_filter **out, size_t *count, sg_error *err)
{
	uint32_t sentinel = sg_sentinel_action(p);
	__attribute__((cleanup(sg_seccomp_releasep))) scmp_filter_ctx ctx = seccomp_init(sentinel);
	if (!ctx)
		return sg_error_set(err, SG_ERR_INTERNAL, 0, "seccomp: libseccomp could not start a filter");
	if (sg_filter_attrs(ctx, err) < 0 || sg_policy_add_rules(p, ctx, err) < 0 ||
	    sg_export_bpf(ctx, out, count, err) < 0)
		return -1;
	sg_patch_default(*out, *count, sentinel, p->default_action);
	return 0;
}

/* ---- the traced variant --------------------------------------------------------------- */

static bool sg_nr_in(const int *list, size_t n, int nr)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == nr)
			return true;
	return false;
}

static bool sg_traced_denial(uint32_t action)
{
	/* ENOSYS answers are probes a program falls back from (clone3, io_uring), not
	 * violations; every other errno denial is observed */
	return (action & SG_ACTION_MASK) == SCMP_ACT_ERRNO(0) && (action & 0xffffu) != ENOSYS;
}

static bool sg_traced_allow(int nr, bool with_connect)
{
	return nr == SCMP_SYS(execve) || nr == SCMP_SYS(execveat) || nr == SCMP_SYS(exit_group) ||
	       (with_connect && (nr == SCMP_SYS(connect) || nr == SCMP_SYS(sendmmsg)));
}

static bool sg_rule_has_arg(const struct sg_rule *r, unsigned arg)
{
	for (unsigned i = 0; i < r->nargs; i++)
		if (r->args[i].arg == arg)
			return true;
	return false;
}

/* An allowing rule of sendto or sendmsg, observed only where it can name a destination,
 * so that the sends of a connected socket, by far the most common, cost nothing: sendto
 * when dest_addr (argument 4) is not NULL; sendmsg (whose msg_name the filter cannot
 * read) except the listener's own handover, recognised by its flags (see policy.h).
 * Split into the rule's own conditions plus "is observed" -> NOTIFY and plus "is not" ->
 * the rule's action. Returns 0 when the rule is not one of those (or already looks at
 * that argument, and is left as it is), 1 when added, <0 as seccomp_rule_add_array. */
static int sg_traced_add_send(scmp_filter_ctx ctx, const struct sg_rule *r, uint32_t action, bool with_connect)
{
	unsigned arg;
	scmp_datum_t quiet;
	if (!with_connect || !sg_action_allows(action))
		return 0;
	if (r->nr == SCMP_SYS(sendto)) {
		arg = 4;
		quiet = 0;
	} else if (r->nr == SCMP_SYS(sendmsg)) {
		arg = 2;
		quiet = SG_TRACE_HANDOVER_SEND_FLAGS;
	} else {
		return 0;
	}
	if (r->nargs >= SG_ARGS_MAX || sg_rule_has_arg(r, arg))
		return 0;
	struct scmp_arg_cmp args[SG_ARGS_MAX];
	memcpy(args, r->args, r->nargs * sizeof(args[0]));
	args[r->nargs] = (struct scmp_arg_cmp){.arg = arg, .op = SCMP_CMP_EQ, .datum_a = quiet};
	int rc = seccomp_rule_add_array(ctx, action, r->nr, r->nargs + 1, args);
	if (rc < 0)
		return rc;
	args[r->nargs].op = SCMP_CMP_NE;
	rc = seccomp_rule_add_array(ctx, SCMP_ACT_NOTIFY, r->nr, r->nargs + 1, args);
	return rc < 0 ? rc : 1;
}

/* The traced variant, compiled now. */
static int sg_compile_traced(sg_policy *p, bool with_connect, struct sock_filter **out, size_t *count,
			     sg_error *err)
{
	uint32_t sentinel = sg_sentinel_action(p);
	__attribute__((cleanup(sg_seccomp_releasep))) scmp_filter_ctx ctx = seccomp_init(sentinel);
	if (!ctx)
		return sg_error_set(err, SG_ERR_INTERNAL, 0, "seccomp: libseccomp could not start a filter");
	if (sg_filter_attrs(ctx, err) < 0)
		return -1;
	bool default_traced = sg_traced_denial(p->default_action);
	for (size_t i = p->nrules; i-- > 0;) {
		const struct sg_rule *r = &p->rules[i];
		uint32_t action = r->action;
		if (sg_traced_denial(action))
			action = SCMP_ACT_NOTIFY;
		else if (sg_action_allows(action) && sg_traced_allow(r->nr, with_connect))
			action = SCMP_ACT_NOTIFY;
		/* a rule equal to the default is skipped: the default gives the same answer */
		if (r->skip)
			continue;
		int rc = sg_traced_add_send(ctx, r, action, with_connect);
		if (rc == 0)
			rc = seccomp_rule_add_array(ctx, action, r->nr, r->nargs, r->args);
		if (rc < 0) {
			char path[96];
			sg_rule_path(r, path, sizeof(path));
			sg_pctx c = {.origin = p->path, .prefix = p->prefix, .err = err};
			return sg_pfail(&c, path, "libseccomp refused the traced rule: %s", strerror(-rc));
		}
	}
	if (sg_export_bpf(ctx, out, count, err) < 0)
		return -1;
	sg_patch_default(*out, *count, sentinel, default_traced ? SECCOMP_RET_USER_NOTIF : p->default_action);
	return 0;
}

/* ---- which program ------------------------------------------------------------------ */

int sg_policy_compile(sg_policy *p, enum sg_bpf_variant v, struct sock_filter **prog, size_t *count,
		      sg_error *err)
{
	*prog = NULL;
	*count = 0;
	if (v == SG_BPF_PLAIN)
		return sg_compile_plain(p, prog, count, err);
	return sg_compile_traced(p, v == SG_BPF_TRACED_CONNECT, prog, count, err);
}

static uint64_t sg_fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *b = data;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

uint64_t sg_policy_rules_fingerprint(const sg_policy *p)
{
	uint64_t h = sg_fnv1a(1469598103934665603ull, &p->default_action, sizeof(p->default_action));
	for (size_t i = 0; i < p->nrules; i++) {
		const struct sg_rule *r = &p->rules[i];
		uint32_t head[4] = {(uint32_t)r->nr, r->action, r->nargs, r->skip};
		h = sg_fnv1a(h, head, sizeof(head));
		for (unsigned a = 0; a < r->nargs; a++) {
			uint64_t arg[4] = {r->args[a].arg, r->args[a].op, r->args[a].datum_a, r->args[a].datum_b};
			h = sg_fnv1a(h, arg, sizeof(arg));
		}
	}
	return h;
}

/* The program the build compiled for these exact policy bytes, this variant, this
 * libseccomp and this architecture (seccomp_builtin.h), or NULL. The rules as this
 * process resolved them must also be the build's (a libseccomp whose syscall tables
 * changed without a new version number would number them otherwise). */
static const struct sg_bpf_builtin *sg_builtin_find(const sg_policy *p, enum sg_bpf_variant v)
{
	if (sg_bpf_builtins_count == 0 || sg_bpf_builtins_arch != seccomp_arch_native())
		return NULL;
	const struct scmp_version *lib = seccomp_version();
	if (!lib || lib->major != sg_bpf_builtins_libseccomp[0] || lib->minor != sg_bpf_builtins_libseccomp[1] ||
	    lib->micro != sg_bpf_builtins_libseccomp[2])
		return NULL;
	for (size_t i = 0; i < sg_bpf_builtins_count; i++) {
		const struct sg_bpf_builtin *b = &sg_bpf_builtins[i];
		if (b->variant == (unsigned)v && b->policy_len == p->len && !memcmp(b->policy, p->bytes, p->len))
			return b->rules_fingerprint == sg_policy_rules_fingerprint(p) ? b : NULL;
	}
	return NULL;
}

static const struct sock_fprog *sg_policy_program(sg_policy *p, enum sg_bpf_variant v, sg_error *err)
{
	if (p->filters[v])
		return &p->progs[v];
	size_t count = 0;
	const struct sg_bpf_builtin *b = sg_builtin_find(p, v);
	if (b) {
		count = b->len;
		p->filters[v] = sg_xmalloc(count * sizeof(struct sock_filter));
		memcpy(p->filters[v], b->prog, count * sizeof(struct sock_filter));
		p->built_in[v] = true;
	} else if (sg_policy_compile(p, v, &p->filters[v], &count, err) < 0) {
		return NULL;
	}
	p->progs[v].len = (unsigned short)count;
	p->progs[v].filter = p->filters[v];
	return &p->progs[v];
}

const struct sock_fprog *sg_policy_bpf(sg_policy *p, sg_error *err)
{
	return sg_policy_program(p, SG_BPF_PLAIN, err);
}

const struct sock_fprog *sg_policy_bpf_traced(sg_policy *p, bool with_connect, sg_error *err)
{
	return sg_policy_program(p, with_connect ? SG_BPF_TRACED_CONNECT : SG_BPF_TRACED, err);
}

bool sg_policy_bpf_built_in(const sg_policy *p, enum sg_bpf_variant v)
{
	return p->built_in[v];
}

int sg_policy_deny_errno(const sg_policy *p, int nr)
{
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].nr == nr && sg_traced_denial(p->rules[i].action))
			return (int)(p->rules[i].action & 0xffffu);
	if (sg_traced_denial(p->default_action))
		return (int)(p->default_action & 0xffffu);
	return EPERM;
}

sg_violation_class sg_policy_violation_class(const sg_policy *p, int nr)
{
	if (sg_nr_in(p->viol_ignore, p->n_viol_ignore, nr))
		return SG_VIOLATION_IGNORE;
	if (p->viol_fail_all || sg_nr_in(p->viol_fail, p->n_viol_fail, nr))
		return SG_VIOLATION_FAIL;
	return SG_VIOLATION_RECORD;
}

bool sg_policy_allows_always(const sg_policy *p, int nr)
{
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].nr == nr)
			return p->rules[i].nargs == 0 && sg_action_allows(p->rules[i].action);
	return sg_action_allows(p->default_action);
}
