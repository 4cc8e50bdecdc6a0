/* init.c: the sandbox's pid 1 (see init.h and the theory of operation in sandbox.c).
 *
 * Init is non-dumpable and holds no capability once the command runs, so the command,
 * although it runs as the same uid, can neither read init's memory nor its fds (the
 * control socket among them), and, being pid 1 of the namespace, init ignores every
 * signal the command could send it. Requests are served one at a time; while a probe
 * runs, init keeps reaping and notes the command's exit, which it reports afterwards.
 */
#include "init.h"
#include "caps.h"
#include "cgroup.h"
#include "landlock.h"
#include "control.h"
#include "net.h"
#include "seccomp_load.h"
#include "util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <linux/seccomp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

extern char **environ;

/* fork(2) without glibc's fork(): init is a raw clone of one thread of a process that
 * may have others (libshipgate in a threaded program), and glibc's fork() first takes
 * every malloc arena's lock, one of which another thread may have held at the moment
 * of that clone: init would wait for it forever. The child execs at once. */
static pid_t init_fork(void)
{
	return (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
}

/* Start the command the way posix_spawn does: the child borrows init's memory (no copy
 * of its page tables, no copy-on-write faults afterwards) and init sleeps until the child
 * has exec'd or died. What the child changes before its exec is per task (fds are not
 * shared, signal actions are copied, credentials, Landlock and seccomp are its own);
 * it allocates nothing and writes no global (init sets `environ` to the command's
 * environment beforehand): its errno is init's, which is asleep. Its stack is sized
 * for what glibc's execvp needs on it (see init_spawn), with a guard page.
 * Not when the command is traced (see below). */
struct spawn_args {
	const struct sg_init_ctx *ctx;
	char *const *argv;
	int in_fd, out_fd, err_fd, exec_w, landlock_fd;
};

/* these two run on init_spawn's stack, which AddressSanitizer does not know: left
 * uninstrumented, they do not have it report a "stack switch" on the command's stderr */
#define SPAWN_STACK_FN __attribute__((no_sanitize_address))
SPAWN_STACK_FN __attribute__((noreturn)) static void exec_in_sandbox(const struct sg_init_ctx *ctx,
								     char *const *argv, int in_fd, int out_fd,
								     int err_fd, int exec_w, bool traced,
								     int landlock_fd);

SPAWN_STACK_FN __attribute__((noreturn)) static int spawn_child(void *arg)
{
	const struct spawn_args *a = arg;
	exec_in_sandbox(a->ctx, a->argv, a->in_fd, a->out_fd, a->err_fd, a->exec_w, true, a->landlock_fd);
}

static pid_t init_spawn(const struct spawn_args *a)
{
	/* The child's stack, below it a guard page. Room for the filters' loading and the
	 * sanitizers' frames, and for what glibc's execvp puts on the stack: the PATH
	 * lookup's buffer (PATH plus the name) and, for a file without "#!" (ENOEXEC), a
	 * copy of argv's pointers to run it with /bin/sh (65,000 arguments are 512 KiB). */
	size_t argc = 0, strings = 0;
	while (a->argv[argc])
		strings += strlen(a->argv[argc++]);
	const char *path = getenv("PATH");
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t need = 512 * 1024 + (argc + 2) * sizeof(char *) + (path ? strlen(path) : 0) + strings + 2 * PATH_MAX;
	size_t size = (need + page - 1) / page * page + page;
	char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return -1;
	/* an overflow faults here instead of writing into init's memory */
	if (mprotect(stack, page, PROT_NONE) < 0) {
		int e = errno;
		munmap(stack, size);
		errno = e;
		return -1;
	}
	pid_t pid = clone(spawn_child, stack + size, CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)a);
	int e = errno;
	munmap(stack, size);
	errno = e;
	return pid;
}

/* Init's own state while it supervises from inside. */
typedef struct init_state {
	const struct sg_init_ctx *ctx;
	char **argv;          /* the command's argv and the environment, copied before the */
	char **envp;          /* command line they may point into is blanked (hide_cmdline) */
	int landlock_fd;      /* the ruleset every process we start is restricted by, or -1 */
	pid_t candidate;
	bool candidate_done;
	int candidate_status;
	int sigfd;
} init_state;

static void init_send(const struct sg_init_ctx *ctx, const struct sg_ctl_msg *m, const void *payload,
		      size_t len)
{
	(void)sg_ctl_send(ctx->ctl, m, payload, len);
}

__attribute__((noreturn)) static void init_fail(const struct sg_init_ctx *ctx, const sg_error *e)
{
	struct sg_ctl_msg m = {.type = SG_CTL_SETUP_ERROR, .errnum = e->errnum};
	size_t len = strnlen(e->msg, sizeof(m.text) - 1);
	memcpy(m.text, e->msg, len);
	m.text[len] = '\0';
	init_send(ctx, &m, NULL, 0);
	_exit(125);
}

/* Processes alive in our pid namespace, other than init itself and zombies. */
static int64_t count_processes(void)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	int64_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 1)
			continue;
		char path[64], buf[256];
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		char *paren = strrchr(buf, ')');
		if (paren && paren[1] == ' ' && paren[2] == 'Z')
			continue;
		n++;
	}
	closedir(d);
	return n;
}

/* In a freshly forked child: become the command (or a probe) and exec. Never returns.
 * exec_w gets the errno of a failed exec (negative: the sandbox failed, not the exec). */
/* Load the traced filter and hand its listener to the supervisor: from here on every
 * exec, exit and denial of this process and its descendants waits for the supervisor.
 * Only sendmsg (which the traced policy must allow) runs between the load and the exec;
 * the listener is close-on-exec. */
static int load_traced(const struct sg_init_ctx *ctx)
{
	/* the supervisor reads our argv from /proc/PID/mem at the exec: let it, as our
	 * owner could (init is non-dumpable; this fork need not be) */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	int lfd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
			       ctx->bpf_traced);
	if (lfd < 0)
		return -errno;
	struct sg_ctl_msg m = {.type = SG_CTL_LISTENER};
	if (sg_ctl_send_fd(ctx->ctl, &m, lfd) < 0)
		return -(errno ? errno : EIO);
	return 0;
}

SPAWN_STACK_FN __attribute__((noreturn)) static void exec_in_sandbox(const struct sg_init_ctx *ctx,
								     char *const *argv, int in_fd, int out_fd,
								     int err_fd, int exec_w, bool traced,
								     int landlock_fd)
{
	sigset_t none;
	sigemptyset(&none);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();

	int in = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (in >= 0 && in != 0)
		dup2(in, 0);
	if (out_fd >= 0 && out_fd != 1)
		dup2(out_fd, 1);
	if (err_fd >= 0 && err_fd != 2)
		dup2(err_fd, 2);
	/* nothing but 0, 1 and 2 survives the exec */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (ctx->rlimit_as) {
		/* the weaker fallback of a memory limit no cgroup can hold: address space */
		struct rlimit as = {ctx->rlimit_as, ctx->rlimit_as};
		setrlimit(RLIMIT_AS, &as);
	}
	if (ctx->rlimit_nproc) {
		/* and of a pids limit: processes of our uid, which the kernel counts per user
		 * namespace, so in practice the sandbox's own */
		struct rlimit np = {ctx->rlimit_nproc, ctx->rlimit_nproc};
		setrlimit(RLIMIT_NPROC, &np);
	}

	int e = 0;
	sg_timing_mark("command: forked");
	if (landlock_fd >= 0) {
		sg_error lerr = {0};
		if (sg_landlock_apply(landlock_fd, &lerr) < 0)
			e = -(lerr.errnum ? lerr.errnum : EPERM);
	}
	if (e == 0) {
		/* our own filter first: no set-user-ID file, whatever the policy allows */
		sg_error serr = {0};
		if (sg_seccomp_load(sg_seccomp_no_setid(), &serr) < 0)
			e = -(serr.errnum ? serr.errnum : EPERM);
	}
	if (e) {
		/* reported below as the sandbox's failure */
	} else if (traced && ctx->bpf_traced) {
		e = load_traced(ctx);
	} else if (ctx->bpf) {
		sg_error err = {0};
		if (sg_seccomp_load(ctx->bpf, &err) < 0)
			e = -(err.errnum ? err.errnum : EPERM);
	}
	sg_timing_mark("command: filters loaded");
	if (e == 0) {
		/* with the environment init put in `environ` before it started us */
		execvp(argv[0], argv);
		e = errno;
	}
	if (exec_w >= 0)
		(void)!write(exec_w, &e, sizeof(e));
	_exit(127);
}

/* Reap whatever has exited; note the command's status. */
static void reap(init_state *st)
{
	struct signalfd_siginfo si;
	while (read(st->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == st->candidate) {
			st->candidate_done = true;
			st->candidate_status = status;
		}
	}
}

__attribute__((noreturn)) static void report_exit(init_state *st)
{
	struct sg_ctl_msg m = {.type = SG_CTL_EXITED, .status = st->candidate_status, .pid = st->candidate};
	m.count = count_processes();
	init_send(st->ctx, &m, NULL, 0);
	_exit(0);
}

static int connect_loopback(uint32_t port, uint32_t timeout_ms, int *errnum)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*errnum = errno;
		return -1;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		*errnum = errno;
		close(fd);
		return -1;
	}
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int r = poll(&p, 1, (int)timeout_ms);
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (r <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
		*errnum = r == 0 ? ETIMEDOUT : soerr ? soerr : errno;
		close(fd);
		return -1;
	}
	return fd;
}

/* Send a reply to a readiness check or a probe, saying whether the command has ended by
 * now (SG_CTL_COMMAND_GONE). */
static void send_reply(init_state *st, struct sg_ctl_msg *m, const void *payload, size_t len)
{
	reap(st);
	if (st->candidate_done)
		m->flags |= SG_CTL_COMMAND_GONE;
	init_send(st->ctx, m, payload, len);
}

static void serve_tcp_check(init_state *st, const struct sg_ctl_msg *req)
{
	struct sg_ctl_msg m = {.type = SG_CTL_TCP_RESULT};
	int fd = connect_loopback(req->port, req->timeout_ms ? req->timeout_ms : 500, &m.errnum);
	if (fd >= 0) {
		m.status = 1;
		close(fd);
	}
	send_reply(st, &m, NULL, 0);
}

/* A minimal HTTP/1.0 GET on 127.0.0.1: status code and the start of the body. */
static void serve_http_get(init_state *st, const struct sg_ctl_msg *req, const char *path)
{
	struct sg_ctl_msg m = {.type = SG_CTL_HTTP_RESULT};
	uint64_t t0 = sg_monotonic_ms();
	uint32_t budget = req->timeout_ms ? req->timeout_ms : 5000;
	int fd = connect_loopback(req->port, budget, &m.errnum);
	static char resp[SG_CTL_PAYLOAD_MAX];
	size_t got = 0;
	if (fd >= 0) {
		char head[1200];
		int hl = snprintf(head, sizeof(head),
				  "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%u\r\nUser-Agent: shipgate\r\n"
				  "Connection: close\r\n\r\n",
				  path, (unsigned)req->port);
		if (hl > 0 && (size_t)hl < sizeof(head) && sg_write_all(fd, head, (size_t)hl) == 0) {
			for (;;) {
				uint64_t spent = sg_monotonic_ms() - t0;
				if (spent >= budget) {
					m.flags |= SG_CTL_TIMED_OUT;
					break;
				}
				struct pollfd p = {.fd = fd, .events = POLLIN};
				if (poll(&p, 1, (int)(budget - spent)) <= 0)
					continue;
				ssize_t n = read(fd, resp + got, sizeof(resp) - got);
				if (n <= 0)
					break;
				got += (size_t)n;
				if (got == sizeof(resp)) {
					m.flags |= SG_CTL_TRUNCATED;
					break;
				}
			}
		} else {
			m.errnum = errno;
		}
		close(fd);
	}
	size_t body_off = 0;
	int code = 0;
	if (got > 12 && sscanf(resp, "HTTP/%*d.%*d %d", &code) == 1) {
		m.status = code;
		for (size_t i = 0; i + 3 < got; i++)
			if (!memcmp(resp + i, "\r\n\r\n", 4)) {
				body_off = i + 4;
				break;
			}
	} else if (fd >= 0 && !m.errnum) {
		m.errnum = EPROTO;
	}
	m.elapsed_ms = sg_monotonic_ms() - t0;
	size_t body_len = body_off && body_off <= got ? got - body_off : 0;
	send_reply(st, &m, resp + body_off, body_len);
}

/* Collect one stream of a probe: keep the first cap bytes, count them all. */
typedef struct probe_stream {
	int fd;
	char *buf;
	size_t kept, cap;
	uint64_t total;
} probe_stream;

static bool probe_stream_read(probe_stream *s)
{
	char chunk[8192];
	ssize_t n = read(s->fd, chunk, sizeof(chunk));
	if (n <= 0)
		return false;
	size_t room = s->cap - s->kept;
	size_t keep = (size_t)n < room ? (size_t)n : room;
	memcpy(s->buf + s->kept, chunk, keep);
	s->kept += keep;
	s->total += (uint64_t)n;
	return true;
}

/* Run a probe command exactly as the command was run (same root, cwd, environment,
 * seccomp filter, no capabilities), with a timeout; reply with its status and output. */
static void serve_run(init_state *st, const struct sg_ctl_msg *req, char *payload, size_t len)
{
	struct sg_ctl_msg m = {.type = SG_CTL_RUN_RESULT};
	char *argv[65];
	size_t argc = 0;
	for (size_t off = 0; off < len && argc < SG_ARRAY_LEN(argv) - 1;) {
		argv[argc++] = payload + off;
		off += strnlen(payload + off, len - off) + 1;
	}
	argv[argc] = NULL;
	int outp[2], errp[2], execp[2];
	if (argc == 0 || pipe2(outp, O_CLOEXEC) < 0) {
		m.flags = SG_CTL_NOT_STARTED;
		m.errnum = argc ? errno : EINVAL;
		init_send(st->ctx, &m, NULL, 0);
		return;
	}
	if (pipe2(errp, O_CLOEXEC) < 0 || pipe2(execp, O_CLOEXEC) < 0) {
		m.flags = SG_CTL_NOT_STARTED;
		m.errnum = errno;
		close(outp[0]);
		close(outp[1]);
		init_send(st->ctx, &m, NULL, 0);
		return;
	}
	uint64_t t0 = sg_monotonic_ms();
	pid_t pid = init_fork();
	if (pid == 0)
		exec_in_sandbox(st->ctx, argv, -1, outp[1], errp[1], execp[1], false, st->landlock_fd);
	close(outp[1]);
	close(errp[1]);
	close(execp[1]);
	if (pid < 0) {
		m.flags = SG_CTL_NOT_STARTED;
		m.errnum = errno;
		close(outp[0]);
		close(errp[0]);
		close(execp[0]);
		init_send(st->ctx, &m, NULL, 0);
		return;
	}
	static char out_buf[SG_CTL_PAYLOAD_MAX / 2], err_buf[SG_CTL_PAYLOAD_MAX / 2];
	probe_stream out = {outp[0], out_buf, 0, sizeof(out_buf), 0};
	probe_stream errs = {errp[0], err_buf, 0, sizeof(err_buf), 0};
	uint32_t budget = req->timeout_ms ? req->timeout_ms : 10000;
	bool done = false, out_open = true, err_open = true, killed = false;
	int status = 0;
	uint64_t done_at = 0;
	while (!done || out_open || err_open) {
		uint64_t spent = sg_monotonic_ms() - t0;
		/* what the probe left running may hold its pipes open: once it has exited, read
		 * what is already there for a moment, then stop (its session is killed below) */
		if (done && sg_monotonic_ms() - done_at >= 100)
			break;
		if (!done && !killed && spent >= budget) {
			kill(-pid, SIGKILL); /* the probe's whole session */
			kill(pid, SIGKILL);
			killed = true;
			m.flags |= SG_CTL_TIMED_OUT;
		}
		struct pollfd p[3] = {{.fd = st->sigfd, .events = POLLIN},
				      {.fd = out_open ? out.fd : -1, .events = POLLIN},
				      {.fd = err_open ? errs.fd : -1, .events = POLLIN}};
		int wait_ms = killed || done ? 100 : (int)(budget - spent) + 1;
		if (poll(p, 3, wait_ms) < 0 && errno != EINTR)
			break;
		if (p[1].revents && !probe_stream_read(&out))
			out_open = false;
		if (p[2].revents && !probe_stream_read(&errs))
			err_open = false;
		if (p[0].revents) {
			struct signalfd_siginfo si;
			while (read(st->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
			int s;
			pid_t r;
			while ((r = waitpid(-1, &s, WNOHANG)) > 0) {
				if (r == pid) {
					done = true;
					done_at = sg_monotonic_ms();
					status = s;
				} else if (r == st->candidate) {
					st->candidate_done = true;
					st->candidate_status = s;
				}
			}
		}
		if (done && killed)
			break;
	}
	int e = 0;
	if (read(execp[0], &e, sizeof(e)) == (ssize_t)sizeof(e)) {
		m.flags |= SG_CTL_NOT_STARTED;
		m.errnum = e < 0 ? -e : e;
	}
	close(execp[0]);
	close(out.fd);
	close(errs.fd);
	kill(-pid, SIGKILL);
	m.status = status;
	m.out_len = (uint32_t)out.kept;
	m.out_total = out.total;
	m.err_total = errs.total;
	m.elapsed_ms = sg_monotonic_ms() - t0;
	static char both[SG_CTL_PAYLOAD_MAX];
	memcpy(both, out.buf, out.kept);
	memcpy(both + out.kept, errs.buf, errs.kept);
	send_reply(st, &m, both, out.kept + errs.kept);
}

/* SIGTERM to every process of the sandbox, a grace period, then SIGKILL. */
__attribute__((noreturn)) static void serve_stop(init_state *st, const struct sg_ctl_msg *req)
{
	kill(-1, SIGTERM);
	uint64_t t0 = sg_monotonic_ms();
	uint32_t grace = req->timeout_ms;
	while (!st->candidate_done) {
		uint64_t spent = sg_monotonic_ms() - t0;
		if (spent >= grace)
			break;
		struct pollfd p = {.fd = st->sigfd, .events = POLLIN};
		if (poll(&p, 1, (int)(grace - spent)) > 0)
			reap(st);
	}
	if (!st->candidate_done) {
		kill(-1, SIGKILL);
		while (!st->candidate_done) {
			int s;
			pid_t r = waitpid(-1, &s, 0);
			if (r < 0)
				break;
			if (r == st->candidate) {
				st->candidate_done = true;
				st->candidate_status = s;
			}
		}
	}
	report_exit(st);
}

/* The init's loop: reap, answer the supervisor, report the command's end. */
__attribute__((noreturn)) static void init_supervise(init_state *st)
{
	static char payload[SG_CTL_PAYLOAD_MAX + 1];
	for (;;) {
		if (st->candidate_done)
			report_exit(st);
		struct pollfd pfd[2] = {{.fd = st->sigfd, .events = POLLIN},
					{.fd = st->ctx->ctl, .events = POLLIN}};
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(125);
		}
		if (pfd[0].revents & POLLIN)
			reap(st);
		if (st->candidate_done)
			report_exit(st);
		if (!(pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		struct sg_ctl_msg req;
		ssize_t n = sg_ctl_recv(st->ctx->ctl, &req, payload, SG_CTL_PAYLOAD_MAX);
		if (n < 0)
			_exit(0); /* the supervisor is gone: take everything down */
		payload[n] = '\0';
		switch (req.type) {
		case SG_CTL_COUNT: {
			struct sg_ctl_msg m = {.type = SG_CTL_COUNTED};
			m.count = count_processes();
			/* the command still running is not a leftover */
			if (m.count > 0 && !st->candidate_done && kill(st->candidate, 0) == 0)
				m.count--;
			init_send(st->ctx, &m, NULL, 0);
			break;
		}
		case SG_CTL_TCP_CHECK:
			serve_tcp_check(st, &req);
			break;
		case SG_CTL_HTTP_GET:
			serve_http_get(st, &req, payload);
			break;
		case SG_CTL_RUN:
			serve_run(st, &req, payload, (size_t)n);
			break;
		case SG_CTL_STOP:
			serve_stop(st, &req);
		default:
			break;
		}
	}
}

static void init_step(const struct sg_init_ctx *ctx, int rc, sg_error *err)
{
	if (rc < 0)
		init_fail(ctx, err);
}

static int init_errno(sg_error *err, const char *what)
{
	return sg_error_set(err, SG_ERR_SANDBOX, errno, "%s", what);
}

static int fd_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Init is a fork of the supervisor and starts with every descriptor it had: its caller's
 * (a shell's, a CI runner's), the step's log files, the trace file, directories of the
 * host. None is meant for the sandbox, and although the command cannot reach init's
 * descriptors (init is not dumpable and ptrace is denied), a host descriptor inside is
 * how runc's CVE-2024-21626 escaped: keep only what init itself uses. */
static void close_unneeded_fds(const struct sg_init_ctx *ctx)
{
	const sg_mount_plan *plan = ctx->plan;
	int fixed[] = {0, 1, 2, ctx->ctl, ctx->exec_w, ctx->out_w, ctx->err_w, ctx->cfg->stdin_fd,
		       plan->workspace.tree_fd};
	size_t n = 0;
	sg_autofree int *keep = sg_xcalloc(SG_ARRAY_LEN(fixed) + plan->n_extra, sizeof(int));
	for (size_t i = 0; i < SG_ARRAY_LEN(fixed); i++)
		if (fixed[i] >= 0)
			keep[n++] = fixed[i];
	for (size_t i = 0; i < plan->n_extra; i++)
		if (plan->extra[i].tree_fd >= 0)
			keep[n++] = plan->extra[i].tree_fd;
	qsort(keep, n, sizeof(int), fd_cmp);
	unsigned from = 0;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned)keep[i] > from)
			close_range(from, (unsigned)keep[i] - 1, 0);
		from = (unsigned)keep[i] + 1;
	}
	close_range(from, ~0U, 0);
}

static char **copy_strv(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	char **c = sg_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		c[i] = sg_xstrdup(v[i]);
	return c;
}

/* Init is a fork of shipgate: its command line (what /proc/1/cmdline shows the command)
 * would be shipgate's, with the host path of the binary and every argument. Blank it,
 * once nothing of the sandbox's configuration is read any more: the caller's strings
 * (exec's options) may point into it. */
static int hide_cmdline(sg_error *err)
{
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "blank init's command line: /proc/self/stat");
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	char *p = n > 0 ? (buf[n] = '\0', strrchr(buf, ')')) : NULL;
	if (!p)
		return sg_error_set(err, SG_ERR_SANDBOX, n < 0 ? errno : 0,
				    "blank init's command line: /proc/self/stat unreadable");
	/* after the command name, fields 3 onwards; arg_start and arg_end are 48 and 49 */
	unsigned long start = 0, end = 0;
	int field = 2;
	for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
		field++;
		if (field == 48)
			start = strtoul(tok, NULL, 10);
		if (field == 49) {
			end = strtoul(tok, NULL, 10);
			break;
		}
	}
	if (!start || end <= start)
		return sg_error_set(err, SG_ERR_SANDBOX, 0,
				    "blank init's command line: no arg_start/arg_end in /proc/self/stat");
	char *args = (char *)(uintptr_t)start;
	size_t len = end - start;
	memset(args, 0, len);
	snprintf(args, len, "shipgate-init");
	return 0;
}

void sg_init_main(const struct sg_init_ctx *ctx_in)
{
	/* ours to complete: the rlimits come with CGROUP_JOIN */
	struct sg_init_ctx own_ctx = *ctx_in;
	const struct sg_init_ctx *ctx = &own_ctx;
	const sg_sandbox_config *cfg = ctx->cfg;
	sg_error err = {0};
	close_unneeded_fds(ctx);
	struct sg_ctl_msg go;
	if (sg_ctl_recv(ctx->ctl, &go, NULL, 0) < 0 || go.type != SG_CTL_GO)
		_exit(125); /* the supervisor gave up before releasing us */
	sg_timing_mark("init: go");
	prctl(PR_SET_NAME, "shipgate-init", 0, 0, 0);
	init_state st = {.ctx = ctx, .landlock_fd = -1};
	st.argv = copy_strv(cfg->argv);
	st.envp = copy_strv(ctx->envp);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		init_step(ctx, init_errno(&err, "set the parent-death signal"), &err);
	/* before taking the sandbox identity: see sg_mount_sources */
	sg_mount_sources sources;
	init_step(ctx, sg_mounts_sources_open(ctx->plan, &sources, &err), &err);
	/* raw syscalls: glibc's set*id() would try to change the ids of every thread it
	 * believes this process has (see init_fork) and wait for them forever */
	if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0)
		init_step(ctx, init_errno(&err, "become root in the user namespace"), &err);
	if (ctx->root_mode && syscall(SYS_setgroups, 0, NULL) < 0)
		init_step(ctx, init_errno(&err, "drop supplementary groups"), &err);
	if (sethostname("shipgate", 8) < 0)
		init_step(ctx, init_errno(&err, "sethostname"), &err);
	sg_timing_mark("init: ids, hostname");
	init_step(ctx, sg_mounts_build_root(ctx->plan, &sources, &err), &err);
	sg_mounts_sources_close(&sources);
	sg_timing_mark("init: root built");
	if (cfg->network == SG_NET_LOOPBACK)
		init_step(ctx, sg_net_loopback_up(&err), &err);
	const char *cwd = cfg->cwd ? cfg->cwd : cfg->workspace_mode != SG_WORKSPACE_NONE ? "/workspace" : "/";
	if (chdir(cwd) < 0) {
		sg_error_set(&err, SG_ERR_SANDBOX, errno, "chdir %s", cwd);
		init_fail(ctx, &err);
	}
	sg_timing_mark("init: network");
	/* the step's cgroup is ready (on cgroup v1 made while we built the root): we are
	 * in it (v2), or join it now through the `tasks` files that came with the message
	 * (v1); only then is it the root of our cgroup namespace */
	struct sg_ctl_msg join;
	int join_fds[SG_CTL_MAX_FDS];
	size_t n_join = 0;
	if (sg_ctl_recv_fds(ctx->ctl, &join, NULL, 0, join_fds, SG_CTL_MAX_FDS, &n_join) < 0 ||
	    join.type != SG_CTL_CGROUP_JOIN) {
		for (size_t i = 0; i < n_join; i++)
			close(join_fds[i]);
		_exit(125); /* the supervisor gave up */
	}
	if ((int64_t)n_join != join.count) {
		for (size_t i = 0; i < n_join; i++)
			close(join_fds[i]);
		sg_error_set(&err, SG_ERR_SANDBOX, EPROTO, "join the step's cgroup: %zu of %lld cgroup v1 files came",
			     n_join, (long long)join.count);
		init_fail(ctx, &err);
	}
	init_step(ctx, sg_cgroup_join_self(join_fds, n_join, &err), &err);
	own_ctx.rlimit_as = join.rlimit_as;
	own_ctx.rlimit_nproc = join.rlimit_nproc;
	if (unshare(CLONE_NEWCGROUP) < 0)
		init_step(ctx, init_errno(&err, "cgroup namespace"), &err);
	sg_timing_mark("init: cgroup joined, cgroup namespace");
	/* the second wall: writes only where the mounts say they may go */
	int landlock_abi = 0;
	{
		const char *writable[64];
		size_t n = 0;
		static const char *const always[] = {"/tmp", "/dev/shm", "/dev/pts", "/dev/null", "/dev/zero",
						     "/dev/full", "/dev/tty", "/dev/random", "/dev/urandom", "/proc"};
		for (size_t i = 0; i < SG_ARRAY_LEN(always); i++)
			writable[n++] = always[i];
		if (cfg->workspace_mode != SG_WORKSPACE_NONE && cfg->workspace_mode != SG_WORKSPACE_READONLY)
			writable[n++] = "/workspace";
		for (size_t i = 0; i < ctx->plan->n_extra && n < SG_ARRAY_LEN(writable); i++)
			if (!ctx->plan->extra[i].readonly)
				writable[n++] = ctx->plan->extra[i].target;
		int stdio[] = {cfg->stdin_fd >= 0 ? cfg->stdin_fd : -1, ctx->out_w >= 0 ? ctx->out_w : 1,
			       ctx->err_w >= 0 ? ctx->err_w : 2};
		/* with the host's network, its abstract unix sockets would be in reach */
		st.landlock_fd = sg_landlock_prepare(writable, n, stdio, SG_ARRAY_LEN(stdio),
						     cfg->network == SG_NET_HOST, &landlock_abi, &err);
		if (st.landlock_fd < 0 && landlock_abi > 0)
			init_fail(ctx, &err);
	}
	sg_timing_mark("init: landlock ruleset");
	/* no core dumps onto the host's disks; the command cannot raise it again */
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core);
	init_step(ctx, sg_caps_drop_all(&err), &err);
	/* the command runs as the same uid: keep it out of our memory and fds */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	sg_timing_mark("init: privileges dropped");
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	st.sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (st.sigfd < 0)
		init_step(ctx, init_errno(&err, "signalfd"), &err);
	/* last, just before the command can look at /proc/1/cmdline: the configuration's
	 * strings may lie in the command line it blanks (exec's --rootfs DIR did, and the
	 * root was then built from "") */
	init_step(ctx, hide_cmdline(&err), &err);
	struct sg_ctl_msg ready = {.type = SG_CTL_READY, .caps_left = sg_caps_count_left(),
				   .no_new_privs = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
				   .landlock_abi = st.landlock_fd >= 0 ? landlock_abi : 0};
	init_send(ctx, &ready, NULL, 0);

	sg_timing_mark("init: ready sent");
	/* the command's environment, and the PATH its name is looked up in */
	environ = st.envp;
	struct spawn_args spawn = {.ctx = ctx, .argv = st.argv, .in_fd = cfg->stdin_fd,
				   .out_fd = ctx->out_w, .err_fd = ctx->err_w, .exec_w = ctx->exec_w,
				   .landlock_fd = st.landlock_fd};
	/* traced, the child makes itself dumpable for the supervisor to read its argv: a
	 * flag of the memory, which init's must never carry, so that child gets its own */
	st.candidate = ctx->bpf_traced ? init_fork() : init_spawn(&spawn);
	if (st.candidate < 0)
		init_step(ctx, init_errno(&err, "start the command"), &err);
	if (st.candidate == 0)
		spawn_child(&spawn);
	close(ctx->exec_w);
	if (ctx->out_w >= 0)
		close(ctx->out_w);
	if (ctx->err_w >= 0)
		close(ctx->err_w);
	init_supervise(&st);
}
