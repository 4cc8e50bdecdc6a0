/* test_policy.c: policy files (executor/policy.c).
 *
 * Parsing: the shipped default policy, a bare Docker-style OCI profile, and one bad file
 * per kind of mistake, each with its own message naming the file and the JSON path.
 * Behaviour: a forked child installs the compiled default policy with prctl (no root
 * needed under no_new_privs) and reports what each probe observed; the same for the
 * traced variant, whose notifications fail with ENOSYS once its listener is closed, which
 * shows which calls it hands to the supervisor. */
#include "policy.h"
#include "seccomp_builtin.h"
#include "tap.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static const char *data_dir(void)
{
	const char *d = getenv("SHIPGATE_TEST_DATA");
	return d && *d ? d : SHIPGATE_SOURCE_DIR "/tests/data";
}

static char *default_path(void)
{
	return sg_xasprintf("%s/policies/default.json", SHIPGATE_SOURCE_DIR);
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- parsing ----------------------------------------------------------------------- */

static void test_default_policy(void)
{
	sg_error err = {0};
	sg_autofree char *path = default_path();
	sg_policy *p = sg_policy_load(path, &err);
	tap_ok(p != NULL, "default.json parses (%s)", p ? "ok" : err.msg);
	if (!p)
		return;
	tap_is_str(sg_policy_name(p), "default", "default.json: name");
	tap_is_str(sg_policy_path(p), path, "default.json: path");
	tap_ok(sg_policy_allowed_count(p) > 250, "default.json allows %u syscalls",
	       sg_policy_allowed_count(p));
	const struct sock_fprog *prog = sg_policy_bpf(p, &err);
	tap_ok(prog != NULL && prog->len > 0 && prog->len <= BPF_MAXINSNS,
	       "default.json compiles (%u instructions)", prog ? prog->len : 0);
	tap_ok(prog && sg_policy_bpf(p, &err) == prog, "the compiled program is cached");
	sg_policy_free(p);

	/* By name, through SHIPGATE_POLICY_DIR (set by ctest) or the source tree. */
	p = sg_policy_load("default", &err);
	tap_ok(p != NULL, "policy \"default\" loads by name (%s)", p ? "ok" : err.msg);
	sg_policy_free(p);
}

static void test_docker_style(void)
{
	sg_error err = {0};
	sg_autofree char *path = sg_xasprintf("%s/policy/docker_style.json", data_dir());
	sg_policy *p = sg_policy_load(path, &err);
	tap_ok(p != NULL, "a bare OCI (Docker-style) profile is accepted (%s)",
	       p ? "ok" : err.msg);
	if (!p)
		return;
	tap_is_str(sg_policy_name(p), "docker_style", "bare profile: name from the file name");
	/* 27 names of which _llseek, fstat64, mmap2, socketcall, ugetrlimit, waitpid exist
	 * only on other ABIs, plus personality and clone. */
	tap_is_int(sg_policy_allowed_count(p), 21 + 2, "bare profile: allowed count");
	tap_ok(sg_policy_bpf(p, &err) != NULL, "bare profile compiles (%s)",
	       err.kind ? err.msg : "ok");
	sg_policy_free(p);
}

/* Each bad file gives an SG_ERR_INPUT error starting "FILE: JSONPATH: what". */
static void expect_file_error(const char *file, const char *want)
{
	sg_error err = {0};
	sg_autofree char *path = sg_xasprintf("%s/policy/%s", data_dir(), file);
	sg_autofree char *prefix = sg_xasprintf("%s: %s", path, want);
	sg_policy *p = sg_policy_load(path, &err);
	tap_ok(!p && err.kind == SG_ERR_INPUT && starts_with(err.msg, prefix), "%s: error", file);
	if (p || !starts_with(err.msg, prefix))
		printf("#   got:  %s\n#   want: %s...\n", p ? "(no error)" : err.msg, prefix);
	sg_policy_free(p);
}

static void test_bad_files(void)
{
	expect_file_error("unknown_key.json",
			  "seccomp.syscalls[0].arg: unknown key (expected one of: names, action, "
			  "errnoRet, args, comment)");
	expect_file_error("unknown_action.json",
			  "seccomp.syscalls[1].action: unknown action \"SCMP_ACT_PERMIT\"");
	expect_file_error("unknown_syscall.json",
			  "seccomp.syscalls[3].names[1]: unknown syscall \"fooo\"");
	expect_file_error("bad_op.json",
			  "seccomp.syscalls[1].args[0].op: unknown operator \"SCMP_CMP_EQUAL\"");
	expect_file_error("arg_index6.json",
			  "seccomp.syscalls[1].args[0].index: 6 is out of range (at most 5)");
	expect_file_error("wrong_type.json",
			  "seccomp.syscalls[1].errnoRet: expected a non-negative integer, got a "
			  "string");
	expect_file_error("blocks_execve.json",
			  "seccomp.defaultAction: this policy blocks execve (SCMP_ACT_ERRNO)");
	expect_file_error("invalid_json.json", "invalid JSON at line 6, column 29");
	expect_file_error("blocks_exit.json",
			  "seccomp.defaultAction: this policy blocks exit_group (SCMP_ACT_ERRNO), so no "
			  "command could ever end");
	expect_file_error("kills_execve.json",
			  "seccomp.syscalls[1].names[1]: this policy blocks execve "
			  "(SCMP_ACT_KILL_PROCESS), so no command could ever start");
	expect_file_error("network_host.json",
			  "network: \"host\" cannot be a policy's default");
	expect_file_error("network_typo.json",
			  "network: expected \"none\" or \"loopback\", got \"loopbak\"");
	expect_file_error("override.json",
			  "seccomp.syscalls[2].names[0]: \"ioctl\" has a rule without args "
			  "(SCMP_ACT_ALLOW) and a SCMP_ACT_ERRNO rule at seccomp.syscalls[1].names[0]");
}

/* Inline cases: origin "x.json", so messages start "x.json: ". */
static void expect_parse_error(const char *json, const char *want, const char *name)
{
	sg_error err = {0};
	sg_policy *p = sg_policy_parse("x.json", json, strlen(json), &err);
	sg_autofree char *prefix = sg_xasprintf("x.json: %s", want);
	tap_ok(!p && err.kind == SG_ERR_INPUT && starts_with(err.msg, prefix), "%s", name);
	if (p || !starts_with(err.msg, prefix))
		printf("#   got:  %s\n#   want: %s...\n", p ? "(no error)" : err.msg, prefix);
	sg_policy_free(p);
}

#define ALLOW_EXECVE "{\"names\":[\"execve\"],\"action\":\"SCMP_ACT_ALLOW\"}"

static void test_inline_errors(void)
{
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"defaultAction\":\"SCMP_ACT_LOG\"}",
			   "defaultAction: duplicate key", "duplicate key");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\"} x", "invalid JSON at line 1",
			   "trailing garbage");
	expect_parse_error("[1]", "expected a JSON object, got an array", "not an object");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscall\":[]}",
			   "syscall: unknown key", "bare profile: unknown top-level key");
	expect_parse_error("{\"version\":2,\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\"}}",
			   "version: unsupported version 2", "wrapper: version 2");
	expect_parse_error("{\"version\":1}", "seccomp: missing", "wrapper: no seccomp");
	expect_parse_error("{\"version\":1,\"name\":\"Bad Name\",\"seccomp\":{}}",
			   "name: \"Bad Name\" is not a policy name", "wrapper: bad name");
	expect_parse_error("{}", "defaultAction: missing", "no defaultAction");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"defaultErrnoRet\":1}",
			   "defaultErrnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE",
			   "defaultErrnoRet with ALLOW");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":4096}",
			   "defaultErrnoRet: 4096 is out of range (at most 4094)", "errno too big");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}",
			   "defaultAction: SCMP_ACT_NOTIFY cannot be the default action",
			   "NOTIFY as default");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/x\"}",
			   "listenerPath: not supported", "listenerPath");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_Z80\"]}",
			   "architectures[0]: unknown architecture \"SCMP_ARCH_Z80\"",
			   "unknown architecture");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_X\"]}",
			   "flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_X\"", "unknown flag");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[" ALLOW_EXECVE
			   ",{\"names\":[],\"action\":\"SCMP_ACT_ALLOW\"}]}",
			   "syscalls[1].names: expected a non-empty array of syscall names",
			   "empty names");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[" ALLOW_EXECVE
			   ",{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\",\"errnoRet\":1}]}",
			   "syscalls[1].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE",
			   "errnoRet with ALLOW");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[" ALLOW_EXECVE
			   ",{\"names\":[\"ioctl\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":1,"
			   "\"value\":21522,\"valueTwo\":4294967295,\"op\":\"SCMP_CMP_MASKED_EQ\"}]}]}",
			   "syscalls[1].args[0].valueTwo: has bits outside the mask",
			   "MASKED_EQ with mask and datum swapped");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[" ALLOW_EXECVE
			   ",{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,"
			   "\"value\":1e20,\"op\":\"SCMP_CMP_EQ\"}]}]}",
			   "syscalls[1].args[0].value: 1e+20 is too large", "value beyond 2^53");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[" ALLOW_EXECVE
			   ",{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,"
			   "\"value\":-1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
			   "syscalls[1].args[0].value: expected a non-negative integer, got -1",
			   "negative value");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[" ALLOW_EXECVE
			   ",{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,"
			   "\"value\":1,\"valueTwo\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
			   "syscalls[1].args[0].valueTwo: only used with SCMP_CMP_MASKED_EQ",
			   "valueTwo with EQ");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\","
			   "7],\"action\":\"SCMP_ACT_ALLOW\"}]}",
			   "syscalls[0].names[1]: expected a string, got a number", "name not a string");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":"
			   "[\"execve\"],\"action\":\"SCMP_ACT_KILL_PROCESS\"}]}",
			   "syscalls[0].names[0]: this policy blocks execve (SCMP_ACT_KILL_PROCESS)",
			   "execve killed under a default ALLOW");
	expect_parse_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
			   "\"action\":\"SCMP_ACT_ERRNO\"},{\"names\":[\"read\"],\"action\":"
			   "\"SCMP_ACT_KILL\"}]}",
			   "syscalls[1].names[0]: \"read\" is already given SCMP_ACT_ERRNO",
			   "two unconditional rules with different actions");
	const char nul[] = "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}\0junk";
	sg_error err = {0};
	sg_policy *p = sg_policy_parse("x.json", nul, sizeof(nul) - 1, &err);
	tap_ok(!p && starts_with(err.msg, "x.json: invalid JSON: contains a NUL byte"),
	       "NUL byte in the file");
	sg_policy_free(p);
}

static void test_inline_ok(void)
{
	sg_error err = {0};
	/* Default ALLOW: allowed = every native syscall but the unconditionally denied. */
	const char *deny = "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":"
			   "[\"mount\",\"umount2\",\"socketcall\"],\"action\":\"SCMP_ACT_ERRNO\"},"
			   "{\"names\":[\"ptrace\"],\"action\":\"SCMP_ACT_KILL_PROCESS\"}]}";
	sg_policy *p = sg_policy_parse("deny.json", deny, strlen(deny), &err);
	sg_policy *all = sg_policy_parse("all.json", "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}", 34,
					 &err);
	tap_ok(p && all && sg_policy_allowed_count(all) > 300 &&
		       sg_policy_allowed_count(p) == sg_policy_allowed_count(all) - 3,
	       "default ALLOW: allowed count leaves out the 3 denied syscalls (%u of %u)",
	       p ? sg_policy_allowed_count(p) : 0, all ? sg_policy_allowed_count(all) : 0);
	tap_ok(p && sg_policy_bpf(p, &err) != NULL, "default ALLOW policy compiles");
	tap_is_str(p ? sg_policy_name(p) : NULL, "deny", "name from the origin's file name");
	sg_policy_free(p);
	sg_policy_free(all);

	/* execve allowed only with a condition still counts as startable; repeated indices
	 * are ORed like runc does; a Linux 6.10 syscall unknown to libseccomp 2.5 resolves. */
	const char *cond = "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,"
			   "\"syscalls\":[{\"names\":[\"execve\"],\"action\":\"SCMP_ACT_ALLOW\","
			   "\"args\":[{\"index\":2,\"value\":0,\"op\":\"SCMP_CMP_NE\"}]},"
			   "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
			   "{\"index\":0,\"value\":0,\"op\":\"SCMP_CMP_EQ\"},"
			   "{\"index\":0,\"value\":8,\"op\":\"SCMP_CMP_EQ\"}]},"
			   "{\"names\":[\"mseal\"],\"action\":\"SCMP_ACT_LOG\"},"
			   "{\"names\":[\"exit_group\",\"exit\"],\"action\":\"SCMP_ACT_ALLOW\"},"
			   "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_TRACE\",\"errnoRet\":7}]}";
	const char *kill_some = "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":"
				"[\"execve\"],\"action\":\"SCMP_ACT_KILL\",\"args\":[{\"index\":2,"
				"\"value\":0,\"op\":\"SCMP_CMP_EQ\"}]}]}";
	p = sg_policy_parse("kill_some.json", kill_some, strlen(kill_some), &err);
	tap_ok(p != NULL, "default ALLOW with execve killed only for envp == NULL starts (%s)",
	       p ? "ok" : err.msg);
	sg_policy_free(p);
	p = sg_policy_parse("cond.json", cond, strlen(cond), &err);
	tap_ok(p != NULL, "conditional execve, ORed personality, mseal (%s)", p ? "ok" : err.msg);
	tap_ok(p && sg_policy_allowed_count(p) == 5, "conditional rules count as allowed");
	tap_ok(p && sg_policy_bpf(p, &err) != NULL, "it compiles (%s)", err.kind ? err.msg : "ok");
	sg_policy_free(p);
}

static void test_sha256(void)
{
	sg_error err = {0};
	/* printf '%s' '{"defaultAction":"SCMP_ACT_ALLOW"}' | sha256sum */
	const char *json = "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}";
	sg_policy *p = sg_policy_parse("sha.json", json, strlen(json), &err);
	tap_is_str(p ? sg_policy_sha256(p) : NULL,
		   "1e91071efd3cec07b4e3e6cb9e0405055162ec9674f62869fe7f1564d5dce24f",
		   "sha256 of a fixed byte string");
	sg_policy_free(p);

	/* The default policy's digest against sha256sum(1), when it is installed. */
	sg_autofree char *path = default_path();
	sg_autofree char *cmd = sg_xasprintf("sha256sum '%s' 2>/dev/null", path);
	FILE *f = popen(cmd, "r");
	char want[65] = "";
	if (f) {
		if (fscanf(f, "%64s", want) != 1)
			want[0] = '\0';
		pclose(f);
	}
	p = sg_policy_load(path, &err);
	if (strlen(want) == 64)
		tap_is_str(p ? sg_policy_sha256(p) : NULL, want, "default.json sha256 = sha256sum");
	else
		tap_ok(true, "# SKIP sha256sum not available");
	sg_policy_free(p);
}

static void test_policy_dir(void)
{
	sg_error err = {0};
	sg_autofree char *saved = getenv("SHIPGATE_POLICY_DIR")
					  ? sg_xstrdup(getenv("SHIPGATE_POLICY_DIR")) : NULL;
	sg_autofree char *dir = sg_xasprintf("%s/policy", data_dir());
	setenv("SHIPGATE_POLICY_DIR", dir, 1);
	tap_is_str(sg_policy_dir(), dir, "sg_policy_dir: $SHIPGATE_POLICY_DIR first");

	sg_policy *p = sg_policy_load("docker_style", &err);
	tap_ok(p != NULL, "named policy from $SHIPGATE_POLICY_DIR (%s)", p ? "ok" : err.msg);
	sg_policy_free(p);
	p = sg_policy_load("nosuch", &err);
	sg_autofree char *want = sg_xasprintf("policy \"nosuch\" not found in %s (available: ", dir);
	tap_ok(!p && starts_with(err.msg, want) && strstr(err.msg, "docker_style, invalid_json"),
	       "unknown name lists the available policies: %s", err.msg);
	sg_policy_free(p);
	p = sg_policy_load("Bad Name", &err);
	tap_ok(!p && starts_with(err.msg, "policy \"Bad Name\": expected a name"),
	       "invalid policy name: %s", err.msg);
	sg_policy_free(p);
	/* A wrapper whose "name" is not the file's is refused when loaded by name. */
	p = sg_policy_load("renamed", &err);
	sg_autofree char *renamed = sg_xasprintf("%s/renamed.json: name: \"other\" differs", dir);
	tap_ok(!p && starts_with(err.msg, renamed), "name differing from the file name: %s",
	       err.msg);
	sg_policy_free(p);

	unsetenv("SHIPGATE_POLICY_DIR");
	tap_is_str(sg_policy_dir(), SHIPGATE_SOURCE_DIR "/policies",
		   "sg_policy_dir: source tree when not installed");
	if (saved)
		setenv("SHIPGATE_POLICY_DIR", saved, 1);
}

/* ---- behaviour under the compiled default policy ---------------------------------- */

static void report(int fd, const char *name, bool ok)
{
	if (ok)
		dprintf(fd, "1 %s\n", name);
	else
		dprintf(fd, "0 %s (errno %d)\n", name, errno);
}

static bool fails_with(long rc, int want)
{
	return rc == -1 && errno == want;
}

static void *thread_main(void *arg)
{
	return arg;
}

static bool fork_works(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(7);
	int status = 0;
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 7;
}

/* If the filter let it through, clone(2) without a stack acts like fork: the copy must
 * not go on probing. */
static bool clone_newuser_denied(void)
{
	long rc = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (rc == 0)
		_exit(0);
	if (rc > 0)
		waitpid((pid_t)rc, NULL, 0);
	return fails_with(rc, EPERM);
}

static bool install(const struct sock_fprog *prog)
{
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	       prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog) == 0;
}

#define CHILD_CHECKS 19

static void child_probes(int fd)
{
	uint64_t clone3_args[11] = {0};
	int pfd[2] = {-1, -1}, n = 0;
	pthread_t th;

	report(fd, "getpid works", getpid() == (pid_t)syscall(SYS_getpid) && getpid() > 0);
	errno = 0;
	report(fd, "mount is EPERM", fails_with(mount("none", "/", "tmpfs", 0, NULL), EPERM));
	report(fd, "unshare(CLONE_NEWUSER) is EPERM", fails_with(unshare(CLONE_NEWUSER), EPERM));
	report(fd, "clone(CLONE_NEWUSER) is EPERM", clone_newuser_denied());
	report(fd, "clone3 is ENOSYS",
	       fails_with(syscall(SYS_clone3, clone3_args, sizeof(clone3_args)), ENOSYS));
	report(fd, "ioctl(TIOCSTI) is EPERM", fails_with(ioctl(0, TIOCSTI, "x"), EPERM));
	report(fd, "ioctl((1<<32)|TIOCSTI) is EPERM",
	       fails_with(syscall(SYS_ioctl, 0, (1UL << 32) | TIOCSTI, "x"), EPERM));
	report(fd, "ioctl(TIOCLINUX) is EPERM", fails_with(ioctl(0, TIOCLINUX, "x"), EPERM));
	report(fd, "ioctl(FIONREAD) on a pipe works",
	       pipe(pfd) == 0 && ioctl(pfd[0], FIONREAD, &n) == 0 && n == 0);
	report(fd, "ptrace(TRACEME) is EPERM",
	       fails_with(ptrace(PTRACE_TRACEME, 0, NULL, NULL), EPERM));
	report(fd, "keyctl is EPERM", fails_with(syscall(SYS_keyctl, 0, -3, 0, 0, 0), EPERM));
	report(fd, "bpf is EPERM", fails_with(syscall(SYS_bpf, 0, NULL, 0), EPERM));
	report(fd, "socket(AF_PACKET) is EPERM", fails_with(socket(17, SOCK_RAW, 0), EPERM));
	report(fd, "socket(AF_VSOCK) is EPERM", fails_with(socket(AF_VSOCK, SOCK_STREAM, 0), EPERM));
	int s = socket(AF_INET, SOCK_STREAM, 0);
	report(fd, "socket(AF_INET) works", s >= 0);
	report(fd, "personality query works", personality(0xffffffff) != -1);
	report(fd, "personality(ADDR_NO_RANDOMIZE) is EPERM",
	       fails_with(personality(ADDR_NO_RANDOMIZE), EPERM));
	report(fd, "fork works", fork_works());
	report(fd, "pthread_create works (clone3 falls back to clone)",
	       pthread_create(&th, NULL, thread_main, NULL) == 0 && pthread_join(th, NULL) == 0);
}

static void test_behaviour(void)
{
	sg_error err = {0};
	sg_autofree char *path = default_path();
	sg_policy *p = sg_policy_load(path, &err);
	const struct sock_fprog *prog = p ? sg_policy_bpf(p, &err) : NULL;
	tap_ok(prog != NULL, "default policy compiled for the behaviour test");
	if (!prog) {
		sg_policy_free(p);
		return;
	}
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		tap_ok(false, "pipe2");
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		if (!install(prog)) {
			dprintf(fds[1], "0 install the filter (errno %d)\n", errno);
			_exit(99);
		}
		child_probes(fds[1]);
		char arg0[] = "true";
		char *argv[] = {arg0, NULL};
		execv("/bin/true", argv); /* the write end closes on exec */
		dprintf(fds[1], "0 execve /bin/true (errno %d)\n", errno);
		_exit(98);
	}
	close(fds[1]);
	sg_buf out = {0};
	char chunk[4096];
	ssize_t n;
	while ((n = SG_RETRY(read(fds[0], chunk, sizeof(chunk)))) > 0)
		sg_buf_append(&out, chunk, (size_t)n);
	close(fds[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	int lines = 0;
	for (char *line = out.data, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		tap_ok(line[0] == '1', "under the default policy: %s", line + 2);
		lines++;
	}
	tap_is_int(lines, CHILD_CHECKS, "every probe reported");
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "execve(/bin/true) works under the default policy (status %#x)", status);
	sg_buf_free(&out);

	/* Another ABI: an x32 syscall number from a 64-bit process kills it. */
	pid = fork();
	if (pid == 0) {
		if (!install(prog))
			_exit(99);
		syscall(0x40000000L | SYS_getpid);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	tap_ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
	       "an x32 syscall is killed with SIGSYS (status %#x)", status);
	sg_policy_free(p);
}

/* ---- the traced variant: which sends reach the listener ------------------------------ */

/* With its listener closed, a call the traced filter would hand to the supervisor fails
 * with ENOSYS at once: so a child can tell which calls are observed without a listener. */
static bool observed(long rc)
{
	return rc == -1 && errno == ENOSYS;
}

static void traced_send_probes(int fd, bool with_connect)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	/* whether each call would succeed does not matter: only whether it reached the filter's
	 * (closed) listener */
	struct iovec iov = {(void *)"x", 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct mmsghdr mm = {.msg_hdr = mh};
	int sp[2];
	bool pair = socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) == 0;
	if (with_connect) {
		report(fd, "connect is observed", observed(connect(s, (struct sockaddr *)&lo, sizeof(lo))));
		report(fd, "sendto with an address is observed",
		       observed(sendto(s, "x", 1, 0, (struct sockaddr *)&lo, sizeof(lo))));
		report(fd, "sendmsg is observed", observed(sendmsg(s, &mh, 0)));
		report(fd, "sendmmsg is observed", observed(sendmmsg(s, &mm, 1, 0)));
	} else {
		report(fd, "sendto with an address is not observed without connects",
		       !observed(sendto(s, "x", 1, 0, (struct sockaddr *)&lo, sizeof(lo))));
		report(fd, "sendmsg is not observed without connects", !observed(sendmsg(s, &mh, 0)));
		report(fd, "sendmmsg is not observed without connects", !observed(sendmmsg(s, &mm, 1, 0)));
	}
	report(fd, "sendto without an address (a connected socket) is not observed", !observed(sendto(s, "x", 1, 0, NULL, 0)));
	report(fd, "send is not observed", !observed(send(s, "x", 1, 0)));
	report(fd, "the listener's handover (sendmsg with its flags) is not observed",
	       pair && sendmsg(sp[0], &mh, SG_TRACE_HANDOVER_SEND_FLAGS) == 1);
}

static void traced_send_probes_with(int fd)
{
	traced_send_probes(fd, true);
}

static void traced_send_probes_without(int fd)
{
	traced_send_probes(fd, false);
}

#define TRACED_SEND_CHECKS_WITH 7
#define TRACED_SEND_CHECKS_WITHOUT 6

static void run_traced(bool with_connect)
{
	const char *what = with_connect ? "traced with connects" : "traced without connects";
	sg_error err = {0};
	sg_autofree char *path = default_path();
	sg_policy *p = sg_policy_load(path, &err);
	const struct sock_fprog *prog = p ? sg_policy_bpf_traced(p, with_connect, &err) : NULL;
	int fds[2];
	if (!prog || pipe2(fds, O_CLOEXEC) < 0) {
		tap_ok(false, "%s: compiled (%s)", what, err.msg);
		sg_policy_free(p);
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		int lfd = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
				  ? (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, prog)
				  : -1;
		if (lfd < 0) {
			dprintf(fds[1], "0 install the traced filter (errno %d)\n", errno);
			syscall(SYS_exit, 99);
		}
		close(lfd);
		(with_connect ? traced_send_probes_with : traced_send_probes_without)(fds[1]);
		syscall(SYS_exit, 0); /* exit_group would be observed: ENOSYS */
	}
	close(fds[1]);
	sg_buf out = {0};
	char chunk[4096];
	ssize_t n;
	while ((n = SG_RETRY(read(fds[0], chunk, sizeof(chunk)))) > 0)
		sg_buf_append(&out, chunk, (size_t)n);
	close(fds[0]);
	int status = 0, lines = 0;
	waitpid(pid, &status, 0);
	for (char *line = out.data, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		tap_ok(line[0] == '1', "%s: %s", what, line + 2);
		lines++;
	}
	int want = with_connect ? TRACED_SEND_CHECKS_WITH : TRACED_SEND_CHECKS_WITHOUT;
	tap_ok(lines == want, "%s: every probe reported (%d of %d)", what, lines, want);
	sg_buf_free(&out);
	sg_policy_free(p);
}

static void test_traced_sends(void)
{
	run_traced(true);
	run_traced(false);
}

/* ---- the shipped policies for kinds of steps --------------------------------------- */

typedef void (*probe_fn)(int fd);

/* Run probe(fd) in a child under the policy; one tap line per reported probe, and the
 * child must still be able to execve /bin/true afterwards. */
static void run_probes(const char *name, probe_fn probe, int want_lines)
{
	sg_error err = {0};
	sg_policy *p = sg_policy_load(name, &err);
	const struct sock_fprog *prog = p ? sg_policy_bpf(p, &err) : NULL;
	int fds[2];
	if (!prog || pipe2(fds, O_CLOEXEC) < 0) {
		tap_ok(false, "%s: compiled for the behaviour test (%s)", name, err.msg);
		sg_policy_free(p);
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		if (!install(prog)) {
			dprintf(fds[1], "0 install the filter (errno %d)\n", errno);
			_exit(99);
		}
		probe(fds[1]);
		char arg0[] = "true";
		char *argv[] = {arg0, NULL};
		execv("/bin/true", argv);
		dprintf(fds[1], "0 execve /bin/true (errno %d)\n", errno);
		_exit(98);
	}
	close(fds[1]);
	sg_buf out = {0};
	char chunk[4096];
	ssize_t n;
	while ((n = SG_RETRY(read(fds[0], chunk, sizeof(chunk)))) > 0)
		sg_buf_append(&out, chunk, (size_t)n);
	close(fds[0]);
	int status = 0, lines = 0;
	waitpid(pid, &status, 0);
	for (char *line = out.data, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		tap_ok(line[0] == '1', "under %s: %s", name, line + 2);
		lines++;
	}
	tap_ok(lines == want_lines, "%s: every probe reported (%d of %d)", name, lines, want_lines);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "%s: execve(/bin/true) still works (status %#x)", name, status);
	sg_buf_free(&out);
	sg_policy_free(p);
}

static void probes_build(int fd)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	report(fd, "socket(AF_INET) works (getaddrinfo, client tools)", s >= 0);
	report(fd, "listen is EPERM (a build serves nothing)", fails_with(listen(s, 1), EPERM));
	report(fd, "accept4 is EPERM", fails_with(accept4(s, NULL, NULL, 0), EPERM));
	report(fd, "io_setup (Linux AIO) is EPERM",
	       fails_with(syscall(SYS_io_setup, 1, &(unsigned long){0}), EPERM));
	report(fd, "fork works (make, compiler drivers)", fork_works());
}

static void probes_launch(int fd)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	report(fd, "bind + listen on an ephemeral port work (a service)",
	       s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(s, 4) == 0);
	report(fd, "chown is EPERM (a service does not rearrange its files)",
	       fails_with(chown("/", 0, 0), EPERM));
	report(fd, "mknod is EPERM", fails_with(mknod("/nonexistent-fifo", S_IFIFO | 0600, 0), EPERM));
	report(fd, "sync is EPERM (no host-wide flush)", fails_with(syscall(SYS_sync), EPERM));
	report(fd, "fork works (worker processes)", fork_works());
}

static void probes_strict(int fd)
{
	pthread_t th;
	int sv[2];
	report(fd, "socket(AF_UNIX) is EPERM (no sockets at all)",
	       fails_with(socket(AF_UNIX, SOCK_STREAM, 0), EPERM));
	report(fd, "socket(AF_INET) is EPERM", fails_with(socket(AF_INET, SOCK_STREAM, 0), EPERM));
	report(fd, "socketpair is EPERM", fails_with(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), EPERM));
	report(fd, "fork is EPERM (no second process)", fails_with(fork(), EPERM));
	report(fd, "vfork-style clone is EPERM",
	       fails_with(syscall(SYS_clone, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0), EPERM));
	report(fd, "pthread_create works (threads are fine)",
	       pthread_create(&th, NULL, thread_main, NULL) == 0 && pthread_join(th, NULL) == 0);
	report(fd, "shmget is EPERM (no IPC)", fails_with(syscall(SYS_shmget, 0, 4096, 0600), EPERM));
	report(fd, "getpid works", getpid() > 0);
}

static void test_shipped(void)
{
	static const struct {
		const char *name, *network;
	} shipped[] = {{"build", "none"}, {"test", "loopback"}, {"launch", "loopback"},
		       {"strict", "none"}};
	unsigned allowed[SG_ARRAY_LEN(shipped)] = {0};
	for (size_t i = 0; i < SG_ARRAY_LEN(shipped); i++) {
		sg_error err = {0};
		sg_policy *p = sg_policy_load(shipped[i].name, &err);
		tap_ok(p && sg_policy_bpf(p, &err), "shipped policy %s loads and compiles (%s)",
		       shipped[i].name, p ? "ok" : err.msg);
		const char *net = p ? sg_policy_network(p) : NULL;
		tap_ok(net && !strcmp(net, shipped[i].network), "%s: network %s", shipped[i].name,
		       net ? net : "(none)");
		allowed[i] = p ? sg_policy_allowed_count(p) : 0;
		sg_policy_free(p);
	}
	sg_error err = {0};
	sg_policy *def = sg_policy_load("default", &err);
	tap_ok(def && sg_policy_network(def) == NULL, "default: no network of its own (loopback)");
	unsigned def_allowed = def ? sg_policy_allowed_count(def) : 0;
	sg_policy_free(def);
	tap_ok(allowed[3] < allowed[0] && allowed[0] < allowed[2] && allowed[2] < allowed[1] &&
		       allowed[1] == def_allowed,
	       "strict (%u) < build (%u) < launch (%u) < test (%u) = default (%u)", allowed[3],
	       allowed[0], allowed[2], allowed[1], def_allowed);
	run_probes("build", probes_build, 5);
	run_probes("launch", probes_launch, 5);
	run_probes("strict", probes_strict, 8);
}

/* ---- programs compiled at build time ------------------------------------------------ */

static const struct sock_fprog *program_of(sg_policy *p, enum sg_bpf_variant v, sg_error *err)
{
	return v == SG_BPF_PLAIN ? sg_policy_bpf(p, err) : sg_policy_bpf_traced(p, v == SG_BPF_TRACED_CONNECT, err);
}

static bool same_program(const struct sock_fprog *a, const struct sock_filter *b, size_t n)
{
	return a && a->len == n && !memcmp(a->filter, b, n * sizeof(*b));
}

/* Every variant of p: built in (or not, as want_built_in says) and equal to what
 * libseccomp compiles for it now. */
static void check_variants(sg_policy *p, const char *what, bool want_built_in)
{
	static const char *const names[SG_BPF_VARIANTS] = {"plain", "traced", "traced with connect"};
	for (unsigned v = 0; v < SG_BPF_VARIANTS; v++) {
		sg_error err = {0};
		const struct sock_fprog *prog = program_of(p, (enum sg_bpf_variant)v, &err);
		tap_ok(prog && sg_policy_bpf_built_in(p, (enum sg_bpf_variant)v) == want_built_in,
		       "%s, %s: %s", what, names[v], want_built_in ? "built in" : "compiled when loaded");
		struct sock_filter *fresh = NULL;
		size_t n = 0;
		int rc = sg_policy_compile(p, (enum sg_bpf_variant)v, &fresh, &n, &err);
		tap_ok(rc == 0 && same_program(prog, fresh, n),
		       "%s, %s: the program is what libseccomp compiles now (%zu instructions)", what, names[v], n);
		free(fresh);
	}
}

static void test_builtin(void)
{
	/* ctest says whether this build compiled the shipped policies (the default; not in a
	 * cross build or with -DSHIPGATE_BUILTIN_SECCOMP=OFF); run by hand, the table says */
	const char *mode = getenv("SHIPGATE_BUILTIN_SECCOMP");
	bool built = mode && *mode ? strcmp(mode, "0") != 0 : sg_bpf_builtins_count > 0;
	tap_ok(built == (sg_bpf_builtins_count > 0), "the build %s the shipped policies (%zu programs)",
	       built ? "compiled" : "did not compile", sg_bpf_builtins_count);
	sg_autofree char *dir = sg_xasprintf("%s/policies", SHIPGATE_SOURCE_DIR);
	DIR *d = opendir(dir);
	tap_ok(d != NULL, "open %s", dir);
	size_t files = 0;
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		size_t nlen = strlen(de->d_name);
		if (nlen <= 5 || strcmp(de->d_name + nlen - 5, ".json"))
			continue;
		files++;
		sg_error err = {0};
		sg_autofree char *path = sg_xasprintf("%s/%s", dir, de->d_name);
		sg_autofree char *data = NULL;
		size_t len = 0;
		sg_policy *p = sg_read_file(path, 1 << 20, &data, &len, &err) == 0
				       ? sg_policy_parse(path, data, len, &err)
				       : NULL;
		tap_ok(p != NULL, "%s parses (%s)", de->d_name, p ? "ok" : err.msg);
		if (!p)
			continue;
		check_variants(p, de->d_name, built);
		sg_policy_free(p);

		/* the same bytes under another name are the same policy; one byte of
		 * whitespace changed (same length, same rules) is not built in: the key is
		 * the exact bytes, compared whole */
		p = sg_policy_parse("/elsewhere/copy.json", data, len, &err);
		tap_ok(p && sg_policy_bpf(p, &err) && sg_policy_bpf_built_in(p, SG_BPF_PLAIN) == built,
		       "%s: its bytes under another path: %s", de->d_name, built ? "built in" : "compiled");
		sg_policy_free(p);
		char *space = strstr(data, "  ");
		tap_ok(space != NULL, "%s: has two spaces to change one of", de->d_name);
		if (!space)
			continue;
		*space = '\t';
		p = sg_policy_parse(path, data, len, &err);
		tap_ok(p != NULL, "%s with a tab for a space parses (%s)", de->d_name, p ? "ok" : err.msg);
		if (p) {
			sg_autofree char *what = sg_xasprintf("%s with a tab for a space", de->d_name);
			check_variants(p, what, false);
		}
		sg_policy_free(p);
	}
	if (d)
		closedir(d);
	tap_ok(files >= 5 && sg_bpf_builtins_count == (built ? files * SG_BPF_VARIANTS : 0),
	       "the table holds every shipped policy in every variant, or nothing (%zu entries for %zu files)",
	       sg_bpf_builtins_count, files);
}

/* ---- speed ----------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Parse and make the program, twice: the shipped bytes (the program built in) and the
 * same with a tab for a space (compiled by libseccomp). Printed, not judged. */
static void time_parse(const char *path, const char *data, size_t len, const char *what)
{
	sg_error err = {0};
	uint64_t ns[20];
	bool ok = true;
	for (size_t i = 0; ok && i < SG_ARRAY_LEN(ns); i++) {
		uint64_t t0 = sg_monotonic_ns();
		sg_policy *p = sg_policy_parse(path, data, len, &err);
		ok = p && sg_policy_bpf(p, &err);
		ns[i] = sg_monotonic_ns() - t0;
		sg_policy_free(p);
	}
	tap_ok(ok, "%s parsed and its program made 20 times", what);
	if (!ok)
		return;
	qsort(ns, SG_ARRAY_LEN(ns), sizeof(ns[0]), cmp_u64);
	printf("# %s: parse + program: median %.0f us, min %.0f us (20 runs)\n", what,
	       (double)(ns[9] + ns[10]) / 2000.0, (double)ns[0] / 1000.0);
}

static void test_speed(void)
{
	sg_error err = {0};
	sg_autofree char *path = default_path();
	sg_autofree char *data = NULL;
	size_t len = 0;
	tap_ok(sg_read_file(path, 1 << 20, &data, &len, &err) == 0, "read default.json");
	if (!data)
		return;
	time_parse(path, data, len, "default.json (built in)");
	char *space = strstr(data, "  ");
	if (space)
		*space = '\t';
	time_parse(path, data, len, "default.json, a space changed (compiled)");
}

int main(void)
{
	test_default_policy();
	test_docker_style();
	test_bad_files();
	test_inline_errors();
	test_inline_ok();
	test_sha256();
	test_policy_dir();
	test_behaviour();
	test_traced_sends();
	test_shipped();
	test_builtin();
	test_speed();
	return tap_done();
}
