/* try_syscall.c: a probe for the integration tests, after bubblewrap's try-syscall.
 *
 *     try_syscall NAME...
 *
 * attempts each named system call and prints one line per name: "NAME OK" when the call
 * succeeded, "NAME EPERM" (the errno's name) when it failed, "NAME SIGSYS" when the
 * attempt was killed by that signal (a seccomp kill action), "NAME setup:ENOENT" when the
 * probe could not even prepare its attempt (no /dev/ptmx, say). Each attempt runs in a
 * forked child, so that one probe cannot change the next (unshare_user would otherwise
 * give the following probes a fresh user namespace full of capabilities).
 *
 * Every attempt is harmless even where the call is allowed: its arguments are chosen so
 * that the call fails after the permission checks (a mount of a source that does not
 * exist, setns on fd -1, clone3 with a zero-sized argument), or succeeds without any
 * effect outside the child (ptrace(PTRACE_TRACEME), TIOCSTI on a pseudo-terminal of its
 * own). So "EPERM" or "ENOSYS" means a policy or a missing capability stopped the call,
 * and anything else means it reached the kernel's own argument checks.
 *
 * Statically linked, so that it runs in any root filesystem. Exit status: 0 when every
 * name was known, 2 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/kexec.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef KEYCTL_GET_KEYRING_ID
#define KEYCTL_GET_KEYRING_ID 0
#endif
#ifndef KEY_SPEC_SESSION_KEYRING
#define KEY_SPEC_SESSION_KEYRING (-3)
#endif

/* Each probe returns 0 when the call succeeded, else the errno it failed with. A probe
 * that could not even set itself up returns the errno negated. */
typedef int (*probe_fn)(void);

static int result_of(long rc)
{
	return rc < 0 ? errno : 0;
}

static int probe_getpid(void)
{
	return result_of(syscall(SYS_getpid));
}

static int probe_fork(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0)
		_exit(0);
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

static int probe_execve(void)
{
	/* ourselves again, told to exit 0 at once */
	static char arg0[] = "try_syscall", arg1[] = "--exit0";
	char *argv[] = {arg0, arg1, NULL};
	char *envp[] = {NULL};
	execve("/proc/self/exe", argv, envp);
	return errno;
}

static int probe_mount(void)
{
	/* a bind of a source that does not exist: ENOENT past the permission check */
	return result_of(mount("/nonexistent-try-syscall-source", "/", NULL, MS_BIND, NULL));
}

static int probe_unshare_user(void)
{
	return result_of(unshare(CLONE_NEWUSER));
}

static int probe_ptrace(void)
{
	return result_of(ptrace(PTRACE_TRACEME, 0, NULL, NULL));
}

static int probe_bpf(void)
{
	/* information about fd -1: EBADF where bpf(2) is reachable at all */
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.info.bpf_fd = (__u32)-1;
	return result_of(syscall(SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, &attr, sizeof(attr)));
}

static int probe_keyctl(void)
{
	return result_of(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
}

static int probe_perf_event_open(void)
{
	/* a user-space-only software counter on ourselves: allowed at any paranoid level */
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_TASK_CLOCK;
	attr.disabled = 1;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
	if (fd >= 0)
		close((int)fd);
	return result_of(fd);
}

static int probe_open_by_handle_at(void)
{
	struct {
		unsigned int handle_bytes;
		int handle_type;
		unsigned char f_handle[8];
	} handle = {8, 1, {0}};
	long fd = syscall(SYS_open_by_handle_at, AT_FDCWD, &handle, O_RDONLY);
	if (fd >= 0)
		close((int)fd);
	return result_of(fd);
}

static int probe_userfaultfd(void)
{
	/* user-mode-only faults need no privilege (vm.unprivileged_userfaultfd aside) */
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (fd >= 0)
		close((int)fd);
	return result_of(fd);
}

static int probe_kexec_load(void)
{
	return result_of(syscall(SYS_kexec_load, 0UL, 0UL, NULL, (unsigned long)KEXEC_ARCH_DEFAULT));
}

static int probe_init_module(void)
{
	return result_of(syscall(SYS_init_module, NULL, 0UL, ""));
}

static int probe_setns(void)
{
	return result_of(setns(-1, 0));
}

static int probe_clone3(void)
{
	/* a zero-sized argument: EINVAL where clone3 is reachable, nothing is created */
	return result_of(syscall(SYS_clone3, NULL, 0));
}

static int probe_io_uring_setup(void)
{
	/* zero entries: EINVAL where io_uring is reachable */
	char params[120];
	memset(params, 0, sizeof(params));
	return result_of(syscall(SYS_io_uring_setup, 0, params));
}

static int probe_ioctl_tiocsti(void)
{
	/* a pseudo-terminal of our own as our controlling terminal, so the kernel itself
	 * allows the injection: only a policy can refuse it. The byte lands in our own
	 * terminal's input and goes away with it. */
	if (setsid() < 0)
		return -errno;
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return -errno;
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		return -errno;
	int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return -errno;
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		return -errno;
	char c = 'x';
	return result_of(ioctl(slave, TIOCSTI, &c));
}

static const struct {
	const char *name;
	probe_fn fn;
} probes[] = {
	{"getpid", probe_getpid},
	{"fork", probe_fork},
	{"execve", probe_execve},
	{"mount", probe_mount},
	{"unshare_user", probe_unshare_user},
	{"ptrace", probe_ptrace},
	{"bpf", probe_bpf},
	{"keyctl", probe_keyctl},
	{"perf_event_open", probe_perf_event_open},
	{"open_by_handle_at", probe_open_by_handle_at},
	{"userfaultfd", probe_userfaultfd},
	{"kexec_load", probe_kexec_load},
	{"init_module", probe_init_module},
	{"setns", probe_setns},
	{"clone3", probe_clone3},
	{"io_uring_setup", probe_io_uring_setup},
	{"ioctl_tiocsti", probe_ioctl_tiocsti},
};

static const char *errno_name(int e)
{
	const char *name = strerrorname_np(e);
	return name ? name : "E?";
}

/* Run one probe in a child, which reports its outcome on a close-on-exec pipe (the
 * execve probe reports by exiting 0 from the program it ran instead). */
static void run_probe(const char *name, probe_fn fn)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		printf("%s pipe:%s\n", name, errno_name(errno));
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		printf("%s fork:%s\n", name, errno_name(errno));
		close(pfd[0]);
		close(pfd[1]);
		return;
	}
	if (pid == 0) {
		close(pfd[0]);
		int e = fn();
		(void)!write(pfd[1], &e, sizeof(e));
		_exit(0);
	}
	close(pfd[1]);
	int e = 0;
	ssize_t got;
	do
		got = read(pfd[0], &e, sizeof(e));
	while (got < 0 && errno == EINTR);
	close(pfd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			printf("%s wait:%s\n", name, errno_name(errno));
			return;
		}
	}
	if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));
		printf("%s SIG%s\n", name, abbrev ? abbrev : "?");
	} else if (got != (ssize_t)sizeof(e)) {
		/* nothing reported: only a successful execve gets here */
		if (WEXITSTATUS(status) == 0)
			printf("%s OK\n", name);
		else
			printf("%s exit:%d\n", name, WEXITSTATUS(status));
	} else if (e == 0) {
		printf("%s OK\n", name);
	} else if (e > 0) {
		printf("%s %s\n", name, errno_name(e));
	} else {
		printf("%s setup:%s\n", name, errno_name(-e));
	}
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--exit0"))
		return 0;
	if (argc < 2 || !strcmp(argv[1], "--help")) {
		fprintf(stderr, "usage: try_syscall NAME...\nnames:");
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
			fprintf(stderr, " %s", probes[i].name);
		fprintf(stderr, "\n");
		return 2;
	}
	int rc = 0;
	for (int a = 1; a < argc; a++) {
		size_t i = 0;
		while (i < sizeof(probes) / sizeof(probes[0]) && strcmp(probes[i].name, argv[a]) != 0)
			i++;
		if (i == sizeof(probes) / sizeof(probes[0])) {
			printf("%s unknown\n", argv[a]);
			rc = 2;
			continue;
		}
		run_probe(argv[a], probes[i].fn);
	}
	fflush(stdout);
	return rc;
}
