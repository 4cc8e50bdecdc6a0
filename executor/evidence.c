/* evidence.c: see evidence.h. */
#include "evidence.h"
#include "util.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static const char *const status_names[] = {
	[SG_STEP_PASSED] = "passed",        [SG_STEP_FAILED] = "failed",
	[SG_STEP_TIMEOUT] = "timeout",      [SG_STEP_OOM] = "oom",
	[SG_STEP_SIGNALED] = "signaled",    [SG_STEP_VIOLATION] = "violation",
	[SG_STEP_NO_TESTS] = "no_tests",    [SG_STEP_NOT_READY] = "not_ready",
	[SG_STEP_PROBE_FAILED] = "probe_failed", [SG_STEP_SKIPPED] = "skipped",
	[SG_STEP_ERROR] = "error",          [SG_STEP_FLAKY] = "flaky",
};

const char *sg_step_status_name(sg_step_status s)
{
	return (unsigned)s < SG_ARRAY_LEN(status_names) ? status_names[s] : "error";
}

sg_step_status sg_classify_exit(const sg_sandbox_result *r)
{
	if (r->timed_out)
		return SG_STEP_TIMEOUT;
	if (r->oom_kills > 0 && (r->signal == SIGKILL || r->exit_code != 0))
		return SG_STEP_OOM;
	if (r->limits_hit & SG_LIMIT_SCRATCH)
		return SG_STEP_FAILED; /* killed by us for what it wrote: not a crash */
	if (r->signal)
		return SG_STEP_SIGNALED;
	if (r->exit_code != 0)
		return SG_STEP_FAILED;
	return SG_STEP_PASSED;
}

size_t sg_utf8_seq_len(const unsigned char *s, size_t left)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t n;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

char *sg_utf8_sanitize(const char *s, size_t len)
{
	sg_buf b = {0};
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		size_t n = p[i] ? sg_utf8_seq_len(p + i, len - i) : 0;
		if (n == 0) {
			sg_buf_append(&b, "\xef\xbf\xbd", 3);
			i++;
		} else {
			sg_buf_append(&b, p + i, n);
			i += n;
		}
	}
	if (!b.data)
		sg_buf_append(&b, "", 0);
	return b.data;
}

char *sg_text_one_line(const char *s)
{
	sg_autofree char *valid = sg_utf8_sanitize(s, strlen(s));
	sg_buf b = {0};
	for (const unsigned char *p = (const unsigned char *)valid; *p; p++) {
		if (*p == '\n') {
			sg_buf_puts(&b, "\\n");
		} else if (*p == '\t') {
			sg_buf_puts(&b, "\\t");
		} else if (*p < 0x20 || *p == 0x7f) {
			sg_buf_printf(&b, "\\x%02x", *p);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			sg_buf_printf(&b, "\\u%04x", p[1]); /* U+0080..U+009F: C1 controls, CSI among them */
			p++;
		} else {
			sg_buf_append(&b, p, 1);
		}
	}
	if (!b.data)
		sg_buf_append(&b, "", 0);
	return b.data;
}

/* A tail its run moved to a file (run.c: tail_spill); "" if it cannot be read back. */
static void tail_read_back(const sg_stream_evidence *ev, char buf[SG_TAIL_BYTES + 1])
{
	size_t len = ev->tail_len <= SG_TAIL_BYTES ? ev->tail_len : SG_TAIL_BYTES;
	if (SG_RETRY(pread(ev->tail_fd, buf, len, (off_t)ev->tail_off)) != (ssize_t)len)
		len = 0;
	buf[len] = '\0';
}

cJSON *sg_evidence_stream(const sg_stream_evidence *ev)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "bytes", (double)ev->bytes);
	cJSON_AddStringToObject(o, "sha256", ev->sha256);
	cJSON_AddBoolToObject(o, "truncated", ev->truncated);
	char spilled[SG_TAIL_BYTES + 1];
	if (!ev->tail && ev->tail_spilled)
		tail_read_back(ev, spilled);
	const char *tail = ev->tail ? ev->tail : ev->tail_spilled ? spilled : "";
	sg_autofree char *clean = sg_utf8_sanitize(tail, strlen(tail));
	cJSON_AddStringToObject(o, "tail", clean);
	return o;
}

cJSON *sg_evidence_limits_hit(unsigned hit)
{
	cJSON *a = cJSON_CreateArray();
	if (hit & SG_LIMIT_TIMEOUT)
		cJSON_AddItemToArray(a, cJSON_CreateString("timeout"));
	if (hit & SG_LIMIT_MEMORY)
		cJSON_AddItemToArray(a, cJSON_CreateString("memory"));
	if (hit & SG_LIMIT_PIDS)
		cJSON_AddItemToArray(a, cJSON_CreateString("pids"));
	if (hit & SG_LIMIT_OUTPUT)
		cJSON_AddItemToArray(a, cJSON_CreateString("output"));
	if (hit & SG_LIMIT_SCRATCH)
		cJSON_AddItemToArray(a, cJSON_CreateString("scratch"));
	return a;
}

cJSON *sg_evidence_enforced(const sg_enforced *e)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *ns = cJSON_AddObjectToObject(o, "namespaces");
	cJSON_AddBoolToObject(ns, "user", e->ns_user);
	cJSON_AddBoolToObject(ns, "pid", e->ns_pid);
	cJSON_AddBoolToObject(ns, "mount", e->ns_mount);
	cJSON_AddBoolToObject(ns, "net", e->ns_net);
	cJSON_AddBoolToObject(ns, "ipc", e->ns_ipc);
	cJSON_AddBoolToObject(ns, "uts", e->ns_uts);
	cJSON_AddBoolToObject(ns, "cgroup", e->ns_cgroup);
	cJSON *sc = cJSON_AddObjectToObject(o, "seccomp");
	cJSON_AddBoolToObject(sc, "enabled", e->seccomp);
	cJSON_AddNumberToObject(sc, "syscalls_allowed", e->seccomp_allowed);
	cJSON_AddBoolToObject(sc, "default_deny", e->seccomp && e->seccomp_default_deny);
	cJSON_AddBoolToObject(sc, "violations_traced", e->seccomp && e->violations_traced);
	cJSON_AddBoolToObject(o, "no_new_privs", e->no_new_privs);
	cJSON_AddNumberToObject(o, "capabilities_left", e->capabilities_left);
	if (e->landlock_abi > 0)
		cJSON_AddNumberToObject(o, "landlock_abi", e->landlock_abi);
	else
		cJSON_AddBoolToObject(o, "landlock_abi", false);
	cJSON *cg = cJSON_AddObjectToObject(o, "cgroup");
	cJSON_AddStringToObject(cg, "mode", e->cgroup_mode ? e->cgroup_mode : "none");
	if (e->cgroup_memory)
		cJSON_AddNumberToObject(cg, "memory_kb", (double)e->memory_limit_kb);
	else
		cJSON_AddBoolToObject(cg, "memory_kb", false);
	if (e->cgroup_pids)
		cJSON_AddNumberToObject(cg, "pids", (double)e->pids_limit);
	else
		cJSON_AddBoolToObject(cg, "pids", false);
	if (e->cgroup_cpu)
		cJSON_AddNumberToObject(cg, "cpus", e->cpu_limit);
	else
		cJSON_AddBoolToObject(cg, "cpus", false);
	if (e->rlimit_fallback) {
		/* not the same thing as a memory limit: address space, said as such */
		cJSON *rl = cJSON_AddObjectToObject(o, "rlimit_fallback");
		if (e->rlimit_as_kb)
			cJSON_AddNumberToObject(rl, "address_space_kb", (double)e->rlimit_as_kb);
		if (e->rlimit_nproc)
			cJSON_AddNumberToObject(rl, "processes", (double)e->rlimit_nproc);
	}
	cJSON_AddStringToObject(o, "network", sg_net_mode_name(e->network));
	cJSON_AddBoolToObject(o, "loopback_up", e->loopback_up);
	cJSON_AddStringToObject(o, "identity", e->identity ? e->identity : "unknown");
	cJSON_AddStringToObject(o, "workspace", e->workspace ? e->workspace : "none");
	cJSON_AddStringToObject(o, "rootfs", e->rootfs ? e->rootfs : "host-ro");
	return o;
}

void sg_enforced_weakest(sg_enforced *acc, const sg_enforced *e)
{
	acc->ns_user &= e->ns_user;
	acc->ns_pid &= e->ns_pid;
	acc->ns_mount &= e->ns_mount;
	acc->ns_net &= e->ns_net;
	acc->ns_ipc &= e->ns_ipc;
	acc->ns_uts &= e->ns_uts;
	acc->ns_cgroup &= e->ns_cgroup;
	if (!e->seccomp || (acc->seccomp && e->seccomp_allowed > acc->seccomp_allowed))
		acc->seccomp_allowed = e->seccomp_allowed;
	acc->seccomp &= e->seccomp;
	acc->seccomp_default_deny &= e->seccomp_default_deny;
	acc->violations_traced &= e->violations_traced;
	acc->no_new_privs &= e->no_new_privs;
	if (e->capabilities_left > acc->capabilities_left)
		acc->capabilities_left = e->capabilities_left;
	if (e->landlock_abi < acc->landlock_abi)
		acc->landlock_abi = e->landlock_abi;
	acc->cgroup_memory &= e->cgroup_memory;
	acc->cgroup_pids &= e->cgroup_pids;
	acc->cgroup_cpu &= e->cgroup_cpu;
	if (e->memory_limit_kb > acc->memory_limit_kb)
		acc->memory_limit_kb = e->memory_limit_kb;
	if (e->pids_limit > acc->pids_limit)
		acc->pids_limit = e->pids_limit;
	if (e->cpu_limit > acc->cpu_limit)
		acc->cpu_limit = e->cpu_limit;
	acc->rlimit_fallback |= e->rlimit_fallback;
	if (e->rlimit_as_kb > acc->rlimit_as_kb)
		acc->rlimit_as_kb = e->rlimit_as_kb;
	if (e->rlimit_nproc > acc->rlimit_nproc)
		acc->rlimit_nproc = e->rlimit_nproc;
	if (e->network == SG_NET_HOST)
		acc->network = SG_NET_HOST;
	acc->loopback_up |= e->loopback_up;
}

void sg_evidence_add_run_fields(cJSON *obj, const sg_sandbox_result *r)
{
	if (r->started && !r->signal)
		cJSON_AddNumberToObject(obj, "exit_code", r->exit_code);
	else
		cJSON_AddNullToObject(obj, "exit_code");
	if (r->signal) {
		const char *abbrev = sigabbrev_np(r->signal);
		sg_autofree char *name = sg_xasprintf("SIG%s", abbrev ? abbrev : "?");
		cJSON_AddStringToObject(obj, "signal", name);
	} else {
		cJSON_AddNullToObject(obj, "signal");
	}
	cJSON_AddNumberToObject(obj, "wall_ms", (double)r->wall_ms);
	cJSON_AddNumberToObject(obj, "cpu_ms", (double)r->cpu_ms);
	cJSON_AddNumberToObject(obj, "peak_memory_kb", (double)r->peak_memory_kb);
	if (r->pids_peak)
		cJSON_AddNumberToObject(obj, "pids_peak", (double)r->pids_peak);
	else
		cJSON_AddNullToObject(obj, "pids_peak");
	cJSON_AddNumberToObject(obj, "oom_kills", (double)r->oom_kills);
	cJSON_AddItemToObject(obj, "limits_hit", sg_evidence_limits_hit(r->limits_hit));
	cJSON_AddItemToObject(obj, "stdout", sg_evidence_stream(&r->out));
	cJSON_AddItemToObject(obj, "stderr", sg_evidence_stream(&r->err));
	if (r->leftover_processes >= 0)
		cJSON_AddNumberToObject(obj, "leftover_processes", (double)r->leftover_processes);
	else
		cJSON_AddNullToObject(obj, "leftover_processes");
}
