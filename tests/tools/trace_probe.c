/* trace_probe.c: the trace tests' probe (tests/integration/test_trace.sh): each named
 * action is one thing a runtime trace must record exactly as it happened, done in a
 * forked child so that one action cannot change the next.
 *
 *     trace_probe ACTION[=ARG]...
 *
 * prints one line per action: "ACTION OK" when its call succeeded, "ACTION ENAME" (the
 * errno's name) when it failed, "ACTION setup:ENAME" when it could not even prepare.
 *
 *   sendto_dns        UDP sendto 1.1.1.1:53 of a DNS query (musl's resolver does this)
 *   sendmsg_name      UDP sendmsg with msg_name 1.1.1.1:443
 *   sendto_fastopen   TCP sendto(MSG_FASTOPEN) to 1.1.1.1:443
 *   sendmmsg_name     UDP sendmmsg of two messages, to 9.9.9.9:123 and 1.1.1.1:123
 *   send_connected=N  a UDP socket connected to 127.0.0.1:9, N sends without an address
 *                     by each of sendto, sendmsg and send (none of them is an attempt
 *                     to reach anything new), then a sendto with 127.0.0.1:9 spelled out
 *   connect_badlen    connect to 1.1.1.1:443 with addrlen 1000 (EINVAL)
 *   connect_fault     connect to an address in unmapped memory (EFAULT)
 *   execve_fault      execve of "/bin/tr" written without its NUL at a page's end, the
 *                     next page unmapped (EFAULT)
 *   execve_badargv    execve of "/bin/true" (a readable path) with argv in unmapped memory (EFAULT)
 *   execveat_empty    execveat(open("/bin/echo"), "", AT_EMPTY_PATH)
 *   fexecve_memfd     fexecve of a memfd named "innocent" holding /bin/echo
 *   execveat_dirfd    execveat(open("/usr/bin"), "echo", 0)
 *   execve=PATH       execve(PATH) (a file the kernel refuses to run: ENOEXEC)
 *   chown, mknodat, setxattr   on /tmp/trace-probe-file (the launch policy denies them)
 *   socket=FAMILY     socket(FAMILY, SOCK_DGRAM or SOCK_RAW, 0), FAMILY a number
 *   flood=N           N denied unshare(CLONE_NEWUTS) calls
 *   spawn=WORD        fork and exec /bin/echo WORD
 *   thread_exec=WORD  a second thread execs /bin/echo WORD (the kernel gives it the
 *                     process's pid; its own thread id is gone after the exec)
 *   thread_exit=N     exec this probe again, whose second thread calls exit_group(N)
 *                     (as Go does, or Rust's process::exit from a thread)
 *   forge_failed      exec this probe again, which maps the page where the image before
 *                     had its AT_RANDOM bytes and writes those bytes there, to pass for
 *                     a failed exec; it prints "forged" and exits 7
 *
 * Statically linked, so that it runs in any root filesystem. Exit status: 0 when every
 * action was known, 2 otherwise. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <unistd.h>

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

extern char **environ;

#define PROBE_FILE "/tmp/trace-probe-file"

static int result_of(long rc)
{
	return rc < 0 ? errno : 0;
}

static struct sockaddr_in inet_addr_of(const char *ip, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, ip, &sa.sin_addr);
	return sa;
}

static int p_sendto_dns(const char *arg)
{
	(void)arg;
	static const char query[] = "\x12\x34\1\0\0\1\0\0\0\0\0\0\7example\3com\0\0\1\0\1";
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0)
		return -errno;
	struct sockaddr_in sa = inet_addr_of("1.1.1.1", 53);
	return result_of(sendto(s, query, sizeof(query) - 1, 0, (struct sockaddr *)&sa, sizeof(sa)));
}

static int p_sendmsg_name(const char *arg)
{
	(void)arg;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0)
		return -errno;
	struct sockaddr_in sa = inet_addr_of("1.1.1.1", 443);
	struct iovec iov = {(void *)"x", 1};
	struct msghdr mh = {.msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1};
	return result_of(sendmsg(s, &mh, 0));
}

static int p_sendto_fastopen(const char *arg)
{
	(void)arg;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return -errno;
	struct sockaddr_in sa = inet_addr_of("1.1.1.1", 443);
	return result_of(sendto(s, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&sa, sizeof(sa)));
}

static int p_sendmmsg_name(const char *arg)
{
	(void)arg;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0)
		return -errno;
	struct sockaddr_in a = inet_addr_of("9.9.9.9", 123), b = inet_addr_of("1.1.1.1", 123);
	struct iovec iov = {(void *)"x", 1};
	struct mmsghdr v[2];
	memset(v, 0, sizeof(v));
	v[0].msg_hdr = (struct msghdr){.msg_name = &a, .msg_namelen = sizeof(a), .msg_iov = &iov, .msg_iovlen = 1};
	v[1].msg_hdr = (struct msghdr){.msg_name = &b, .msg_namelen = sizeof(b), .msg_iov = &iov, .msg_iovlen = 1};
	return result_of(sendmmsg(s, v, 2, 0));
}

static int p_send_connected(const char *arg)
{
	long n = arg ? atol(arg) : 1;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0)
		return -errno;
	struct sockaddr_in lo = inet_addr_of("127.0.0.1", 9);
	if (connect(s, (struct sockaddr *)&lo, sizeof(lo)) < 0)
		return -errno;
	struct iovec iov = {(void *)"x", 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	for (long i = 0; i < n; i++) {
		/* port 9 of lo has no listener: a send may fail with ECONNREFUSED (the ICMP of
		 * the previous one), which is no business of the trace's */
		if (sendto(s, "x", 1, 0, NULL, 0) < 0 && errno != ECONNREFUSED)
			return errno;
		if (sendmsg(s, &mh, 0) < 0 && errno != ECONNREFUSED)
			return errno;
		if (send(s, "x", 1, 0) < 0 && errno != ECONNREFUSED)
			return errno;
	}
	if (sendto(s, "x", 1, 0, (struct sockaddr *)&lo, sizeof(lo)) < 0 && errno != ECONNREFUSED)
		return errno;
	return 0;
}

static int p_connect_badlen(const char *arg)
{
	(void)arg;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return -errno;
	struct sockaddr_storage ss[8];
	memset(ss, 0, sizeof(ss));
	struct sockaddr_in sa = inet_addr_of("1.1.1.1", 443);
	memcpy(ss, &sa, sizeof(sa));
	return result_of(connect(s, (struct sockaddr *)ss, 1000));
}

/* Two pages, the second unmapped: returns the address of the first page's end. */
static char *page_end(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, (size_t)(2 * pg), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	munmap(m + pg, (size_t)pg);
	return m + pg;
}

static int p_connect_fault(const char *arg)
{
	(void)arg;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	char *end = page_end();
	if (s < 0 || !end)
		return -errno;
	return result_of(connect(s, (struct sockaddr *)end, sizeof(struct sockaddr_in)));
}

static int p_execve_fault(const char *arg)
{
	(void)arg;
	char *end = page_end();
	if (!end)
		return -errno;
	memcpy(end - 7, "/bin/tr", 7); /* no NUL: it would be on the unmapped page */
	char *argv[] = {(char *)"tr", NULL};
	return result_of(syscall(SYS_execve, end - 7, argv, environ));
}

static int p_execve_badargv(const char *arg)
{
	(void)arg;
	char *end = page_end();
	if (!end)
		return -errno;
	/* the argv array lies on the unmapped page after END */
	return result_of(syscall(SYS_execve, "/bin/true", (char **)(void *)end, environ));
}

static int p_execveat_empty(const char *arg)
{
	(void)arg;
	int fd = open("/bin/echo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char *argv[] = {(char *)"echo", (char *)"via-execveat-empty-path", NULL};
	return result_of(syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH));
}

static int p_fexecve_memfd(const char *arg)
{
	(void)arg;
	int src = open("/bin/echo", O_RDONLY | O_CLOEXEC);
	int m = memfd_create("innocent", MFD_CLOEXEC);
	if (src < 0 || m < 0)
		return -errno;
	char buf[65536];
	ssize_t n;
	while ((n = read(src, buf, sizeof(buf))) > 0)
		if (write(m, buf, (size_t)n) != n)
			return -EIO;
	char *argv[] = {(char *)"echo", (char *)"from-memfd", NULL};
	fexecve(m, argv, environ);
	return errno;
}

/* execve of a memfd by a path to it: arg "self" /proc/self/fd/N, "devfd" /dev/fd/N,
 * "pid" /proc/<own pid>/fd/N (fexecve's other spellings) */
static int p_execve_procfd(const char *arg)
{
	int src = open("/bin/echo", O_RDONLY | O_CLOEXEC);
	int m = memfd_create("viaproc", 0);
	if (src < 0 || m < 0)
		return -errno;
	char buf[65536];
	ssize_t n;
	while ((n = read(src, buf, sizeof(buf))) > 0)
		if (write(m, buf, (size_t)n) != n)
			return -EIO;
	char path[64];
	if (arg && !strcmp(arg, "devfd"))
		snprintf(path, sizeof(path), "/dev/fd/%d", m);
	else if (arg && !strcmp(arg, "pid"))
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getpid(), m);
	else
		snprintf(path, sizeof(path), "/proc/self/fd/%d", m);
	char *argv[] = {(char *)"echo", (char *)"via-procfd", NULL};
	execve(path, argv, environ);
	return errno;
}

static int p_execveat_dirfd(const char *arg)
{
	(void)arg;
	int dir = open("/usr/bin", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	char *argv[] = {(char *)"echo", (char *)"via-dirfd", NULL};
	return result_of(syscall(SYS_execveat, dir, "echo", argv, environ, 0));
}

static int p_execve(const char *arg)
{
	char *argv[] = {(char *)arg, NULL};
	return result_of(execve(arg ? arg : "/nonexistent", argv, environ));
}

static int probe_file(void)
{
	int fd = open(PROBE_FILE, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int p_chown(const char *arg)
{
	(void)arg;
	int e = probe_file();
	return e ? e : result_of(chown(PROBE_FILE, 5, 5));
}

static int p_mknodat(const char *arg)
{
	(void)arg;
	return result_of(mknodat(AT_FDCWD, "/tmp/trace-probe-node", S_IFIFO | 0600, 0));
}

static int p_setxattr(const char *arg)
{
	(void)arg;
	int e = probe_file();
	return e ? e : result_of(setxattr(PROBE_FILE, "user.probe", "1", 1, 0));
}

static int p_socket(const char *arg)
{
	int family = arg ? atoi(arg) : AF_INET;
	return result_of(socket(family, family == AF_NETLINK ? SOCK_RAW : SOCK_DGRAM, 0));
}

static int p_flood(const char *arg)
{
	long n = arg ? atol(arg) : 1;
	int e = 0;
	for (long i = 0; i < n; i++)
		e = result_of(syscall(SYS_unshare, CLONE_NEWUTS));
	return e;
}

static void *thread_execs(void *arg)
{
	char *argv[] = {(char *)"/bin/echo", (char *)arg, NULL};
	execve("/bin/echo", argv, environ);
	return (void *)(intptr_t)errno;
}

static int p_thread_exec(const char *arg)
{
	pthread_t th;
	if (pthread_create(&th, NULL, thread_execs, (void *)(arg ? arg : "from-a-thread")) != 0)
		return -EAGAIN;
	void *ret = NULL;
	pthread_join(th, &ret); /* only when the exec failed */
	return (int)(intptr_t)ret;
}

static void *thread_exits(void *arg)
{
	syscall(SYS_exit_group, (int)(intptr_t)arg);
	return NULL;
}

static int p_thread_exit(const char *arg)
{
	char *argv[] = {(char *)"trace_probe", (char *)"--exit-from-thread", (char *)(arg ? arg : "5"), NULL};
	execve("/proc/self/exe", argv, environ);
	return errno;
}

static int p_forge_failed(const char *arg)
{
	(void)arg;
	unsigned long at = getauxval(AT_RANDOM);
	char addr[32], hex[40];
	snprintf(addr, sizeof(addr), "%lx", at);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)at)[i]);
	char *argv[] = {(char *)"trace_probe", (char *)"--forge", addr, hex, NULL};
	execve("/proc/self/exe", argv, environ);
	return errno;
}

static int forge(const char *addr_s, const char *hex)
{
	unsigned long at = strtoul(addr_s, NULL, 16);
	long page = sysconf(_SC_PAGESIZE);
	void *base = (void *)(at & ~(unsigned long)(page - 1));
	void *m = mmap(base, (size_t)page * 2, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (m != base)
		return 5; /* the address is taken in this image: nothing forged */
	for (int i = 0; i < 16; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		((unsigned char *)at)[i] = (unsigned char)v;
	}
	puts("forged");
	fflush(stdout);
	return 7;
}

static int p_spawn(const char *arg)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char *argv[] = {(char *)"/bin/echo", (char *)(arg ? arg : "spawned"), NULL};
		execve("/bin/echo", argv, environ);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : ECHILD;
}

static const struct {
	const char *name;
	int (*fn)(const char *arg);
} actions[] = {
	{"sendto_dns", p_sendto_dns},         {"sendmsg_name", p_sendmsg_name},
	{"sendto_fastopen", p_sendto_fastopen}, {"sendmmsg_name", p_sendmmsg_name},
	{"send_connected", p_send_connected}, {"connect_badlen", p_connect_badlen},
	{"connect_fault", p_connect_fault},   {"execve_fault", p_execve_fault},
	{"execve_badargv", p_execve_badargv},
	{"execveat_empty", p_execveat_empty}, {"fexecve_memfd", p_fexecve_memfd},
	{"execveat_dirfd", p_execveat_dirfd}, {"execve", p_execve},
	{"execve_procfd", p_execve_procfd},
	{"chown", p_chown},
	{"mknodat", p_mknodat},               {"setxattr", p_setxattr},
	{"socket", p_socket},                 {"flood", p_flood},
	{"spawn", p_spawn},                   {"thread_exec", p_thread_exec},
	{"thread_exit", p_thread_exit},       {"forge_failed", p_forge_failed},
};

static void print_result(const char *name, int e)
{
	if (e == 0)
		printf("%s OK\n", name);
	else
		printf("%s %s%s\n", name, e < 0 ? "setup:" : "", strerrorname_np(e < 0 ? -e : e) ?: "?");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--forge"))
		return forge(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "--exit-from-thread")) {
		pthread_t th;
		if (pthread_create(&th, NULL, thread_exits, (void *)(intptr_t)atoi(argv[2])) != 0)
			return 3;
		pause(); /* the thread ends the process */
		return 4;
	}
	int status = 0;
	for (int i = 1; i < argc; i++) {
		char name[64];
		snprintf(name, sizeof(name), "%s", argv[i]);
		char *eq = strchr(name, '=');
		const char *arg = eq ? argv[i] + (eq - name) + 1 : NULL;
		if (eq)
			*eq = '\0';
		int (*fn)(const char *) = NULL;
		for (size_t k = 0; k < sizeof(actions) / sizeof(actions[0]); k++)
			if (!strcmp(actions[k].name, name))
				fn = actions[k].fn;
		if (!fn) {
			printf("%s unknown\n", name);
			status = 2;
			continue;
		}
		fflush(stdout);
		int fds[2];
		if (pipe2(fds, O_CLOEXEC) < 0)
			return 3;
		pid_t pid = fork();
		if (pid == 0) {
			close(fds[0]);
			int e = fn(arg);
			/* an exec that worked does not come back: its program wrote its own output */
			if (write(fds[1], &e, sizeof(e)) != (ssize_t)sizeof(e))
				_exit(3);
			_exit(0);
		}
		close(fds[1]);
		int e = 0;
		ssize_t got = read(fds[0], &e, sizeof(e));
		close(fds[0]);
		int st;
		waitpid(pid, &st, 0);
		if (got == (ssize_t)sizeof(e))
			print_result(name, e);
		else
			printf("%s exec'd (status %d)\n", name, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		fflush(stdout);
	}
	return status;
}
