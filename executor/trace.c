/* trace.c: see trace.h. */
#include "trace.h"
#include "digest.h"
#include "evidence.h"
#include "trace_args.h"
#include "util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define SG_ARG_MAX 256       /* bytes kept of one argument string */
#define SG_ARGV_MAX 64       /* arguments kept of one exec */
#define SG_PROC_SLOTS_MAX 4096 /* most programs remembered for their exit (open addressing) */
#define SG_PROC_SLOTS_FIRST 64 /* the table's first size: it doubles as programs live at once */
#define SG_AGG_MAX 256       /* distinct violations / connects kept */
#define SG_NET_PER_CALL 16   /* distinct destinations recorded of one sendmmsg */
#define SG_MMSG_MAX 1024     /* messages of one sendmmsg the kernel sends (UIO_MAXIOV) */
/* Of identical denials (or connects), the first SG_REPEAT_KEEP are written one by one;
 * the rest are counted, and a "repeated" line gives the count each time it doubles (32,
 * 64, 128...) and once more at the end: a flood of a million identical denials costs
 * some twenty lines, not the cap, and what follows it is still written. */
#define SG_REPEAT_KEEP 16

typedef struct viol_rec {
	int nr;
	int family; /* socket and socketpair: one violation per family; else -1 */
	char *name, *program, *args;
	int errnum;
	bool fails;
	uint64_t count;
} viol_rec;

typedef struct conn_rec {
	char *syscall, *family, *address, *program;
	int port;
	bool dns;
	int invalid_errno; /* refused by the kernel: in the file, not in the verdict */
	uint64_t count;
} conn_rec;

#define SG_IMAGE_ID 24 /* the address of a process image's AT_RANDOM bytes, and the 16 bytes */

/* A process that made an exec, by host pid. An exec is only known to have worked when a
 * later call of the same process (its exit_group, its next exec) finds a new image:
 * until then it is pending. */
typedef struct proc_slot {
	pid_t pid;
	uint64_t t_ns;   /* the current program's exec */
	char *path;      /* the current program, NULL before a first exec is confirmed */
	bool pending;    /* an exec not confirmed yet: */
	bool image_known;
	uint64_t pending_t_ns;
	char *pending_path;
	uint8_t image[SG_IMAGE_ID]; /* the image it was made from */
	long nspid;      /* its pid in the sandbox, 0 until known */
} proc_slot;

struct sg_trace {
	FILE *f;
	char *path;
	uint64_t cap, written;
	bool truncated;
	const sg_policy *policy;
	uint64_t t0_ns;
	struct seccomp_notif_sizes sizes;
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	uint64_t events, execs, execs_failed, exits, connects, violations, samples;
	viol_rec *viols;
	size_t n_viols;
	conn_rec *conns;
	size_t n_conns;
	/* events of kinds beyond the SG_AGG_MAX kept: folded together the same way */
	uint64_t viol_other, conn_other;
	char *failing;
	proc_slot *procs;
	size_t procs_cap;  /* slots (a power of two, SG_PROC_SLOTS_MAX at most) */
	size_t procs_used; /* slots not empty: live programs and tombstones */
	size_t procs_live;
	char sha256[SG_SHA256_HEX_LEN];
	bool finished;
	/* an exec's line, finished after the reply (see sg_trace_handle) */
	cJSON *exec_line;
	pid_t exec_hpid;
};

/* ---- the file ---------------------------------------------------------------------- */

/* Write one line (a "repeated" line is not an event of its own: see emit). */
static void write_line(sg_trace *t, cJSON *ev)
{
	if (t->truncated || !t->f) {
		cJSON_Delete(ev);
		return;
	}
	char *line = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	size_t len = strlen(line);
	if (t->written + len + 1 > t->cap) {
		t->truncated = true;
		fprintf(t->f, "{\"event\":\"truncated\",\"cap_bytes\":%llu}\n", (unsigned long long)t->cap);
	} else {
		fputs(line, t->f);
		fputc('\n', t->f);
		t->written += len + 1;
	}
	cJSON_free(line);
}

static void emit(sg_trace *t, cJSON *ev)
{
	t->events++;
	write_line(t, ev);
}

static cJSON *event(sg_trace *t, const char *kind, uint64_t now_ns)
{
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddNumberToObject(ev, "t_ms", (double)((now_ns - t->t0_ns) / 1000000u));
	cJSON_AddStringToObject(ev, "event", kind);
	return ev;
}

static void add_clean_string(cJSON *o, const char *key, const char *s)
{
	sg_autofree char *clean = sg_utf8_sanitize(s, strlen(s));
	cJSON_AddStringToObject(o, key, clean);
}

/* Count one more event of a kind: should it be written one by one? */
static bool repeat_count(sg_trace *t, uint64_t *count)
{
	if (++*count <= SG_REPEAT_KEEP)
		return true;
	t->events++; /* observed, folded into the "repeated" lines */
	return false;
}

/* A "repeated" line is due at each doubling past SG_REPEAT_KEEP. */
static bool repeat_due(uint64_t count)
{
	uint64_t k = count / SG_REPEAT_KEEP;
	return count > SG_REPEAT_KEEP && count % SG_REPEAT_KEEP == 0 && (k & (k - 1)) == 0;
}

/* {"event":"repeated","of":KIND, ...the kind's own fields..., "count", "written", "final"}:
 * count is every event of the kind so far, written the first of them one by one. */
static cJSON *repeated_line(sg_trace *t, const char *of, uint64_t now)
{
	cJSON *ev = event(t, "repeated", now);
	cJSON_AddStringToObject(ev, "of", of);
	return ev;
}

static void repeated_end(cJSON *ev, uint64_t count, bool final)
{
	cJSON_AddNumberToObject(ev, "count", (double)count);
	cJSON_AddNumberToObject(ev, "written", SG_REPEAT_KEEP);
	cJSON_AddBoolToObject(ev, "final", final);
}

static void viol_repeated(sg_trace *t, viol_rec *v, uint64_t now, bool final)
{
	cJSON *ev = repeated_line(t, "denied", now);
	cJSON_AddStringToObject(ev, "syscall", v->name);
	add_clean_string(ev, "program", v->program);
	if (v->family >= 0) {
		const char *fam = sg_socket_family_name(v->family);
		if (fam)
			cJSON_AddStringToObject(ev, "family", fam);
		else
			cJSON_AddNumberToObject(ev, "family", v->family);
	}
	repeated_end(ev, v->count, final);
	write_line(t, ev);
}

static void conn_repeated(sg_trace *t, conn_rec *c, uint64_t now, bool final)
{
	cJSON *ev = repeated_line(t, "connect", now);
	cJSON_AddStringToObject(ev, "syscall", c->syscall);
	cJSON_AddStringToObject(ev, "family", c->family);
	if (c->address[0]) {
		cJSON_AddStringToObject(ev, "address", c->address);
		cJSON_AddNumberToObject(ev, "port", c->port);
	}
	if (c->invalid_errno)
		cJSON_AddTrueToObject(ev, "invalid");
	add_clean_string(ev, "program", c->program);
	repeated_end(ev, c->count, final);
	write_line(t, ev);
}

/* Kinds beyond the SG_AGG_MAX kept: "other": true, no fields of their own. */
static void other_repeated(sg_trace *t, const char *of, uint64_t count, uint64_t now, bool final)
{
	cJSON *ev = repeated_line(t, of, now);
	cJSON_AddTrueToObject(ev, "other");
	repeated_end(ev, count, final);
	write_line(t, ev);
}

sg_trace *sg_trace_open(const char *path, uint64_t cap, const sg_policy *policy, uint64_t t0_ns, sg_error *err)
{
	sg_trace *t = sg_xcalloc(1, sizeof(*t));
	t->path = sg_xstrdup(path);
	t->cap = cap ? cap : SG_TRACE_CAP_DEFAULT;
	t->policy = policy;
	t->t0_ns = t0_ns;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || !(t->f = fdopen(fd, "w"))) {
		sg_error_set(err, SG_ERR_SANDBOX, errno, "trace: create %s", path);
		if (fd >= 0)
			close(fd);
		sg_trace_free(t);
		return NULL;
	}
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &t->sizes) < 0) {
		sg_error_set(err, SG_ERR_SANDBOX, errno, "trace: seccomp notification sizes");
		sg_trace_free(t);
		return NULL;
	}
	t->req = sg_xcalloc(1, t->sizes.seccomp_notif > sizeof(*t->req) ? t->sizes.seccomp_notif : sizeof(*t->req));
	t->resp = sg_xcalloc(1, t->sizes.seccomp_notif_resp > sizeof(*t->resp) ? t->sizes.seccomp_notif_resp
										   : sizeof(*t->resp));
	return t; /* the table of programs comes with the first one (proc_insert) */
}

/* ---- reading the stopped process -------------------------------------------------- */

/* /proc/PID/NAME into buf (NUL-terminated) with a single read: a /proc file renders
 * whole at the first read, and these are read at every exec and exit, so no fstat and no
 * second read to see the end. The length read, or -1. */
static ssize_t proc_read(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	sg_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? SG_RETRY(read(fd, buf, size - 1)) : -1;
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* A process's pid as its own pid namespace sees it (the last NSpid), and its parent's
 * host pid (PPid): one read of /proc/PID/status (a second, whole, only when its first
 * 4 KiB end before NSpid's line does: a long Groups line comes before it, as a rootless
 * run keeps the user's groups). -1 when unknown. */
static long nspid_of(pid_t pid, long *ppid)
{
	if (ppid)
		*ppid = -1;
	char first[4096];
	ssize_t n = proc_read(pid, "status", first, sizeof(first));
	if (n < 0)
		return -1;
	char *st = first;
	sg_autofree char *whole = NULL;
	char *l = strstr(st, "\nNSpid:");
	if ((!l || !strchr(l + 1, '\n')) && (size_t)n == sizeof(first) - 1) {
		/* the read ended before NSpid's line did */
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
		if (sg_read_file(path, 1 << 20, &whole, NULL, NULL) < 0)
			return -1;
		st = whole;
	}
	l = strstr(st, "\nPPid:");
	if (l && ppid)
		*ppid = strtol(l + 6, NULL, 10);
	l = strstr(st, "\nNSpid:");
	if (!l)
		return -1;
	char *end = strchr(l + 1, '\n');
	if (end)
		*end = '\0';
	char *last = strrchr(l, '\t');
	return strtol(last ? last + 1 : l + 7, NULL, 10);
}

/* The process a thread belongs to (Tgid), -1 when unknown. */
static long tgid_of(pid_t tid)
{
	char st[4096];
	if (proc_read(tid, "status", st, sizeof(st)) < 0)
		return -1;
	const char *l = strstr(st, "\nTgid:");
	return l ? strtol(l + 6, NULL, 10) : -1;
}

/* The process a notifying task belongs to: itself when it is the main thread (one
 * signal-0 check: tgkill(pid, pid) finds it), else its Tgid (a status read, rare). Slots
 * are the processes'. */
static pid_t process_of(pid_t tid)
{
	if (syscall(SYS_tgkill, tid, tid, 0) == 0)
		return tid;
	long tgid = tgid_of(tid);
	return tgid > 0 ? (pid_t)tgid : tid;
}

static char *program_of(pid_t pid)
{
	char p[64], target[512];
	snprintf(p, sizeof(p), "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(p, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		return sg_xstrdup(target);
	}
	snprintf(p, sizeof(p), "/proc/%d/comm", (int)pid);
	sg_autofree char *comm = NULL;
	if (sg_read_file(p, 64, &comm, NULL, NULL) == 0) {
		comm[strcspn(comm, "\n")] = '\0';
		return sg_xstrdup(comm);
	}
	return sg_xstrdup("?");
}

/* Would this exec start a program: does the absolute path name an executable regular
 * file in the process's own root? (execvp tries every PATH entry: the misses are not
 * programs.) */
static bool exec_target_exists(pid_t pid, const char *path)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/root", (int)pid);
	sg_autoclose int dir = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return true; /* cannot tell: count it */
	struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
	sg_autoclose int fd = (int)syscall(SYS_openat2, dir, path + strspn(path, "/"), &how, sizeof(how));
	if (fd < 0)
		/* a magic link on the way (/proc/N/fd/M, /proc/N/exe) cannot be followed in a
		 * scoped lookup (EXDEV, ELOOP), and /proc/self names the supervisor, which has
		 * no pid in the sandbox's procfs (ENOENT): cannot tell, so count it; a refused
		 * exec is reported as exec_failed later. Only a plain miss (an execvp PATH
		 * entry) is not a program. */
		return errno == EXDEV || errno == ELOOP || !strncmp(path, "/proc/", 6);
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

/* The host's name for a path by which a process names its own executable or one of its
 * descriptors: /proc/self/exe, /proc/self/fd/N (or thread-self, or its own pid),
 * /dev/fd/N, /dev/stdin|stdout|stderr. NULL for any other path. */
static char *self_alias(pid_t hpid, const char *path)
{
	const char *rest = NULL;
	char fdbuf[32];
	if (!strncmp(path, "/proc/self/", 11))
		rest = path + 11;
	else if (!strncmp(path, "/proc/thread-self/", 18))
		rest = path + 18;
	else if (!strncmp(path, "/dev/fd/", 8)) {
		snprintf(fdbuf, sizeof(fdbuf), "fd/%s", path + 8);
		rest = fdbuf;
	} else if (!strcmp(path, "/dev/stdin") || !strcmp(path, "/dev/stdout") || !strcmp(path, "/dev/stderr")) {
		snprintf(fdbuf, sizeof(fdbuf), "fd/%d", path[8] == 'i' ? 0 : path[8] == 'o' ? 1 : 2);
		rest = fdbuf;
	} else if (!strncmp(path, "/proc/", 6)) {
		long nspid = nspid_of(hpid, NULL);
		char own[32];
		int n = snprintf(own, sizeof(own), "/proc/%ld/", nspid);
		if (nspid > 0 && n > 0 && !strncmp(path, own, (size_t)n))
			rest = path + n;
	}
	/* only the magic links themselves: exe and fd/N name the process's own files. Below
	 * root/ or cwd/ (or after fd/N/) a path would go on from the magic link, and an
	 * absolute symlink met there resolve from the supervisor's root: the host's files */
	if (!rest)
		return NULL;
	bool fd_n = !strncmp(rest, "fd/", 3) && rest[3] && strspn(rest + 3, "0123456789") == strlen(rest + 3);
	if (strcmp(rest, "exe") != 0 && !fd_n)
		return NULL;
	return sg_xasprintf("/proc/%d/%s", (int)hpid, rest);
}

/* The file a descriptor of pid refers to, as pid's file system names it ("/usr/bin/echo",
 * "/memfd:x (deleted)"), or NULL when it has none. */
static char *fd_target(pid_t pid, int fd, struct stat *st)
{
	char p[64], target[PATH_MAX];
	snprintf(p, sizeof(p), "/proc/%d/fd/%d", (int)pid, fd);
	ssize_t n = readlink(p, target, sizeof(target) - 1);
	if (n <= 0 || (st && stat(p, st) < 0))
		return NULL;
	target[n] = '\0';
	return sg_xstrdup(target);
}

/* What an exec would run. */
typedef struct exec_target {
	char *path;    /* as recorded: the path given, or what it resolves against, or the fd's file */
	int fd;        /* the descriptor executed (execveat with AT_EMPTY_PATH, fexecve), or -1 */
	bool fileless; /* a file without a name (memfd, deleted, O_TMPFILE) */
} exec_target;

/* execve runs the path it is given (relative to the cwd); execveat resolves a relative
 * path against its directory fd, or with AT_EMPTY_PATH and "" runs the fd itself (what
 * fexecve does): then the fd's file is what ran, by name, or by no name (a memfd). false
 * when it would not start a program (no such file, not executable). */
static bool exec_target_resolve(pid_t pid, const struct seccomp_notif *n, const char *path, exec_target *x)
{
	bool at = n->data.nr == SCMP_SYS(execveat);
	int dirfd = at ? (int)n->data.args[0] : AT_FDCWD;
	int flags = at ? (int)n->data.args[4] : 0;
	*x = (exec_target){.fd = -1};
	if (!path[0]) {
		struct stat st;
		if (!(flags & AT_EMPTY_PATH) || !(x->path = fd_target(pid, dirfd, &st)))
			return false;
		if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
			free(sg_steal_ptr(&x->path));
			return false;
		}
		x->fd = dirfd;
		x->fileless = st.st_nlink == 0;
		return true;
	}
	if (path[0] == '/') {
		/* the process naming itself or its descriptors (an exec of /proc/self/fd/N is
		 * fexecve's other spelling): what the host's procfs says it is */
		sg_autofree char *alias = self_alias(pid, path);
		struct stat st;
		if (alias && stat(alias, &st) == 0) {
			if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
				return false;
			char target[PATH_MAX];
			ssize_t tl = readlink(alias, target, sizeof(target) - 1);
			if (tl > 0) {
				target[tl] = '\0';
				x->path = sg_xstrdup(target);
			} else {
				x->path = sg_xstrdup(path);
			}
			x->fileless = st.st_nlink == 0;
			return true;
		}
		if (!exec_target_exists(pid, path))
			return false;
		x->path = sg_xstrdup(path);
		return true;
	}
	/* relative: to the cwd (recorded as given) or to the directory fd (recorded whole) */
	char p[64], dir[PATH_MAX];
	if (dirfd == AT_FDCWD)
		snprintf(p, sizeof(p), "/proc/%d/cwd", (int)pid);
	else
		snprintf(p, sizeof(p), "/proc/%d/fd/%d", (int)pid, dirfd);
	ssize_t len = readlink(p, dir, sizeof(dir) - 1);
	if (len <= 0 && dirfd == AT_FDCWD) {
		x->path = sg_xstrdup(path); /* cannot tell: count it */
		return true;
	}
	if (len <= 0 || dir[0] != '/')
		return false;
	dir[len] = '\0';
	sg_autofree char *full = sg_xasprintf("%s%s%s", dir, len > 1 ? "/" : "", path);
	if (!exec_target_exists(pid, full))
		return false;
	x->path = dirfd == AT_FDCWD ? sg_xstrdup(path) : sg_steal_ptr(&full);
	return true;
}

static bool still_valid(int listener, uint64_t id)
{
	return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

/* Open addressing keyed by host pid; an exited program leaves a tombstone (-1) that a
 * later insert reuses, so a program that execs 100,000 times does not fill the table.
 * The table starts small and doubles while more programs live at once (up to
 * SG_PROC_SLOTS_MAX), so that a long build's thousands of short programs, a few at a
 * time, touch a few pages rather than all of a table sized for the worst case. */
static size_t proc_hash(pid_t pid, size_t cap)
{
	return ((size_t)pid * 2654435761u) & (cap - 1);
}

static proc_slot *proc_find(sg_trace *t, pid_t pid)
{
	if (!t->procs)
		return NULL;
	size_t h = proc_hash(pid, t->procs_cap);
	for (size_t i = 0; i < t->procs_cap; i++) {
		proc_slot *s = &t->procs[(h + i) & (t->procs_cap - 1)];
		if (s->pid == pid)
			return s;
		if (s->pid == 0)
			return NULL;
	}
	return NULL;
}

/* The live programs into a table of cap slots; the tombstones go. */
static void procs_rehash(sg_trace *t, size_t cap)
{
	proc_slot *old = t->procs;
	size_t old_cap = t->procs_cap;
	t->procs = sg_xcalloc(cap, sizeof(*t->procs));
	t->procs_cap = cap;
	t->procs_used = t->procs_live = 0;
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i].pid <= 0)
			continue;
		size_t h = proc_hash(old[i].pid, cap);
		while (t->procs[h].pid)
			h = (h + 1) & (cap - 1);
		t->procs[h] = old[i];
		t->procs_used++;
		t->procs_live++;
	}
	free(old);
}

/* A clean slot for pid, which has none. */
static proc_slot *proc_insert(sg_trace *t, pid_t pid)
{
	if (!t->procs)
		procs_rehash(t, SG_PROC_SLOTS_FIRST);
	if ((t->procs_used + 1) * 4 > t->procs_cap * 3) {
		size_t cap = t->procs_cap;
		while (cap < SG_PROC_SLOTS_MAX && (t->procs_live + 1) * 2 > cap)
			cap *= 2;
		if (cap != t->procs_cap || t->procs_live < t->procs_used)
			procs_rehash(t, cap);
	}
	size_t h = proc_hash(pid, t->procs_cap);
	proc_slot *s = NULL;
	for (size_t i = 0; i < t->procs_cap && !s; i++) {
		proc_slot *c = &t->procs[(h + i) & (t->procs_cap - 1)];
		if (c->pid <= 0)
			s = c;
	}
	if (!s) {
		s = &t->procs[h]; /* full of live programs: forget one */
		t->procs_live--;
	} else if (s->pid == 0) {
		t->procs_used++;
	}
	free(s->path);
	free(s->pending_path);
	*s = (proc_slot){.pid = pid};
	t->procs_live++;
	return s;
}

/* Forget every program: the table goes (the next program makes a new one). */
static void procs_clear(sg_trace *t)
{
	for (size_t i = 0; i < t->procs_cap; i++) {
		free(t->procs[i].path);
		free(t->procs[i].pending_path);
	}
	free(t->procs);
	t->procs = NULL;
	t->procs_cap = t->procs_used = t->procs_live = 0;
}

/* The program in s ended: its slot becomes a tombstone, so that probing goes on past it. */
static void proc_release(sg_trace *t, proc_slot *s)
{
	free(s->path);
	free(s->pending_path);
	*s = (proc_slot){.pid = -1};
	t->procs_live--;
}

/* What identifies a process image: the kernel writes 16 random bytes (AT_RANDOM) on the
 * new stack at every exec, so the address and the bytes differ once an exec has replaced
 * the image, and stay the same when it failed (a vfork child shares its parent's until
 * then: the same). false when it cannot be read. */
static bool image_id(pid_t pid, uint8_t id[SG_IMAGE_ID])
{
	uint64_t auxv[2 * 64];
	ssize_t n = proc_read(pid, "auxv", (char *)auxv, sizeof(auxv));
	for (size_t i = 0; n > 0 && i + 1 < (size_t)n / sizeof(auxv[0]); i += 2) {
		if (auxv[i] != AT_RANDOM)
			continue;
		memcpy(id, &auxv[i + 1], sizeof(auxv[i + 1]));
		return sg_proc_read(pid, auxv[i + 1], id + sizeof(auxv[i + 1]), 16) == 16;
	}
	return false;
}

/* Is the image id still there: the same 16 bytes at the same address? An exec that
 * worked put a new stack (fresh AT_RANDOM bytes, at a new address unless ASLR is off) in
 * a new address space: the old address is unmapped or holds other bytes, and that one
 * memory read settles it (no /proc/PID/auxv at every exit). Bytes that match could be
 * forged by the new program (it maps the old address and writes the old bytes, to pass
 * for a failed exec): then the kernel's own copy of the auxiliary vector must name the
 * same address too, as before. */
static bool image_unchanged(pid_t pid, const uint8_t id[SG_IMAGE_ID])
{
	uint64_t addr;
	uint8_t now[16];
	memcpy(&addr, id, sizeof(addr));
	if (sg_proc_read(pid, addr, now, sizeof(now)) != (ssize_t)sizeof(now) ||
	    memcmp(now, id + sizeof(addr), sizeof(now)))
		return false;
	uint8_t full[SG_IMAGE_ID];
	return image_id(pid, full) && !memcmp(full, id, sizeof(full));
}

/* A later call of a process with a pending exec: did that exec replace the image? If so
 * its program is now the current one; if not, it failed (the kernel refused it after we
 * saw it: ENOEXEC, EACCES, E2BIG...): an "exec_failed" line, and it is not counted. When
 * the image cannot be read, the exec is taken to have worked. */
static void exec_settle(sg_trace *t, proc_slot *s, pid_t hpid, uint64_t now)
{
	if (!s->pending)
		return;
	s->pending = false;
	if (s->image_known && image_unchanged(hpid, s->image)) {
		t->execs--;
		t->execs_failed++;
		long pid = s->nspid > 0 ? s->nspid : nspid_of(hpid, NULL);
		cJSON *ev = event(t, "exec_failed", now);
		cJSON_AddNumberToObject(ev, "pid", (double)pid);
		add_clean_string(ev, "path", s->pending_path);
		emit(t, ev);
		free(sg_steal_ptr(&s->pending_path));
		return;
	}
	free(s->path);
	s->path = sg_steal_ptr(&s->pending_path);
	s->t_ns = s->pending_t_ns;
}

/* ---- the notifications --------------------------------------------------------------- */

/* argv as the kernel copies it: the pointer array up to its NULL, each string up to its
 * NUL, into argv (SG_ARGV_MAX arguments of SG_ARG_MAX bytes; *cut when there is more).
 * Returns 0, EFAULT when the array or a string runs into unmapped memory (the kernel
 * will refuse the exec), -1 when the memory could not be read at all. */
static int read_argv(pid_t pid, uint64_t addr, cJSON *argv, bool *cut)
{
	*cut = false;
	if (!addr)
		return 0; /* the kernel runs it with an empty argv */
	uint64_t ptrs[SG_ARGV_MAX + 1];
	ssize_t got = sg_proc_read(pid, addr, ptrs, sizeof(ptrs));
	if (got < 0)
		return -1;
	size_t readable = (size_t)got / sizeof(ptrs[0]);
	/* the strings before the array's end (its NULL, its unreadable part, or the
	 * arguments kept), read together */
	size_t nstr = 0;
	while (nstr < readable && nstr < SG_ARGV_MAX && ptrs[nstr])
		nstr++;
	char *strs[SG_ARGV_MAX];
	sg_str_status st[SG_ARGV_MAX];
	size_t nread = sg_proc_read_strings(pid, ptrs, nstr, SG_ARG_MAX, strs, st);
	int ret = 0;
	for (size_t i = 0;; i++) {
		if (i == readable) {
			ret = EFAULT;
			break;
		}
		if (!ptrs[i])
			break;
		if (i == SG_ARGV_MAX) {
			*cut = true;
			break;
		}
		if (st[i] == SG_STR_FAULT || st[i] == SG_STR_UNKNOWN) {
			ret = st[i] == SG_STR_FAULT ? EFAULT : -1;
			break;
		}
		*cut = *cut || st[i] == SG_STR_LONG;
		sg_autofree char *clean = sg_utf8_sanitize(strs[i], strlen(strs[i]));
		cJSON_AddItemToArray(argv, cJSON_CreateString(clean));
	}
	for (size_t i = 0; i < nread; i++)
		free(strs[i]);
	return ret;
}

/* The exec's line waits for the reply: who the process and its parent are in the
 * sandbox (NSpid, PPid) does not change with the exec, and reading that while the
 * process waited made every exec slower. What must be read before the reply (the path,
 * the argv, the image the exec replaces) is. The pid is noted in the program's slot for
 * its exit's line; the parent's is read afresh: its slot may be another's, a program
 * killed by a signal (no exit_group) whose host pid was used again (pid_max is 32768
 * on many hosts). */
static void exec_line_defer(sg_trace *t, cJSON *ev, pid_t hpid)
{
	cJSON_Delete(t->exec_line); /* (never one left: sg_trace_handle finishes each) */
	t->exec_line = ev;
	t->exec_hpid = hpid;
}

static void exec_line_finish(sg_trace *t)
{
	cJSON *ev = t->exec_line;
	t->exec_line = NULL;
	long host_ppid = -1;
	long pid = nspid_of(t->exec_hpid, &host_ppid);
	long ppid = host_ppid > 0 ? nspid_of((pid_t)host_ppid, NULL) : -1;
	proc_slot *s = proc_find(t, t->exec_hpid);
	if (s && pid > 0)
		s->nspid = pid;
	cJSON_ReplaceItemInObjectCaseSensitive(ev, "pid", cJSON_CreateNumber((double)pid));
	cJSON_ReplaceItemInObjectCaseSensitive(ev, "ppid", cJSON_CreateNumber((double)ppid));
	emit(t, ev);
}

/* An exec is recorded when it is made (the kernel has not run it yet): as a program
 * when its path and argv are readable and name an executable file; as "invalid" with the
 * errno the kernel will answer when they are not (a path or argv in unmapped memory:
 * EFAULT; a path without its NUL within PATH_MAX: ENAMETOOLONG), and then not counted;
 * an execvp miss (no such file) not at all. */
static void on_exec(sg_trace *t, int listener, const struct seccomp_notif *n, uint64_t now)
{
	pid_t hpid = (pid_t)n->pid;
	bool at = n->data.nr == SCMP_SYS(execveat);
	uint64_t path_addr = at ? n->data.args[1] : n->data.args[0];
	uint64_t argv_addr = at ? n->data.args[2] : n->data.args[1];
	sg_autofree char *path = NULL;
	sg_str_status path_st = sg_proc_read_string(hpid, path_addr, PATH_MAX, &path);
	/* a readable path that names no program (an execvp miss: gcc's "as" tries three PATH
	 * entries first) is dropped before its argv is read: it starts nothing, whatever its
	 * argv holds */
	exec_target x = {.fd = -1};
	if (path_st == SG_STR_OK && !exec_target_resolve(hpid, n, path, &x))
		return;
	cJSON *argv = cJSON_CreateArray();
	bool argv_cut = false;
	int argv_err = path_st != SG_STR_UNKNOWN ? read_argv(hpid, argv_addr, argv, &argv_cut) : -1;
	int invalid = path_st == SG_STR_FAULT ? EFAULT : path_st == SG_STR_LONG ? ENAMETOOLONG
						: argv_err > 0 ? argv_err : 0;
	bool unreadable = path_st == SG_STR_UNKNOWN || argv_err < 0;
	if (invalid || unreadable) {
		/* the kernel refuses it (or we cannot tell): recorded as the path given */
		free(x.path);
		x = (exec_target){.fd = -1};
	}
	/* only now, after reading: is it still the same task waiting in the same call? */
	if (!still_valid(listener, n->id)) {
		free(x.path);
		cJSON_Delete(argv);
		return;
	}
	/* The process is who execs: a thread other than the main one that execs takes the
	 * process's pid and its own id is gone after the exec (its status read after the
	 * reply would fail, or name a thread). One signal-0 check tells the main thread
	 * (tgkill(pid, pid) finds it); the rare other one costs a status read here. */
	pid_t proc = process_of(hpid);
	/* a later call of this process: did its previous exec work? (before this one's line) */
	proc_slot *s = proc_find(t, proc);
	if (s)
		exec_settle(t, s, proc, now);
	cJSON *ev = event(t, "exec", now);
	cJSON_AddNullToObject(ev, "pid"); /* filled in after the reply: exec_line_finish */
	cJSON_AddNullToObject(ev, "ppid");
	if (x.path)
		add_clean_string(ev, "path", x.path);
	else if (path && invalid == ENAMETOOLONG) {
		path[SG_ARG_MAX] = '\0'; /* its start tells what it was */
		add_clean_string(ev, "path", path);
	} else if (path && path_st == SG_STR_OK)
		add_clean_string(ev, "path", path); /* as given: its argv was the fault */
	else
		cJSON_AddNullToObject(ev, "path");
	if (x.fd >= 0)
		cJSON_AddNumberToObject(ev, "fd", x.fd);
	if (x.fileless)
		cJSON_AddTrueToObject(ev, "fileless");
	cJSON_AddItemToObject(ev, "argv", argv);
	if (argv_cut || invalid == ENAMETOOLONG)
		cJSON_AddTrueToObject(ev, "truncated");
	if (invalid) {
		cJSON_AddTrueToObject(ev, "invalid");
		cJSON_AddStringToObject(ev, "errno", strerrorname_np(invalid));
		exec_line_defer(t, ev, proc);
		return;
	}
	if (unreadable)
		cJSON_AddTrueToObject(ev, "unreadable");
	exec_line_defer(t, ev, proc);
	t->execs++;
	if (!s)
		s = proc_insert(t, proc);
	s->pending = true;
	s->pending_t_ns = now;
	s->pending_path = x.path ? x.path : sg_xstrdup("?");
	s->image_known = image_id(hpid, s->image);
}

static void on_exit_group(sg_trace *t, const struct seccomp_notif *n, uint64_t now)
{
	/* exit_group from a thread other than the main one ends the process too (Go, Rust's
	 * process::exit from a thread): its program is found under the process's pid */
	pid_t proc = process_of((pid_t)n->pid);
	proc_slot *s = proc_find(t, proc);
	if (!s)
		return; /* not a program we saw start (init's probes' helpers) */
	exec_settle(t, s, proc, now);
	if (!s->path) {
		/* its only exec failed: the program that exits is a fork we never saw start */
		proc_release(t, s);
		return;
	}
	t->exits++;
	long pid = s->nspid > 0 ? s->nspid : nspid_of(proc, NULL);
	cJSON *ev = event(t, "exit", now);
	cJSON_AddNumberToObject(ev, "pid", (double)pid);
	cJSON_AddNumberToObject(ev, "code", (double)(int)(n->data.args[0] & 0xff));
	cJSON_AddNumberToObject(ev, "duration_ms", (double)((now - s->t_ns) / 1000000u));
	add_clean_string(ev, "path", s->path ? s->path : "?");
	emit(t, ev);
	proc_release(t, s);
}

static conn_rec *conn_find(sg_trace *t, const char *syscall, const sg_netaddr *na, const char *prog)
{
	for (size_t i = 0; i < t->n_conns; i++) {
		conn_rec *c = &t->conns[i];
		if (c->port == na->port && c->invalid_errno == na->invalid_errno && !strcmp(c->syscall, syscall) &&
		    !strcmp(c->address, na->address) && !strcmp(c->program, prog))
			return c;
	}
	if (t->n_conns == SG_AGG_MAX)
		return NULL;
	t->conns = sg_xrealloc(t->conns, (t->n_conns + 1) * sizeof(*t->conns));
	conn_rec *c = &t->conns[t->n_conns++];
	*c = (conn_rec){.syscall = sg_xstrdup(syscall), .family = sg_xstrdup(na->family == AF_INET ? "inet" : "inet6"),
			.address = sg_xstrdup(na->address), .program = sg_xstrdup(prog), .port = na->port,
			.dns = na->address[0] && na->port == 53, .invalid_errno = na->invalid_errno};
	return c;
}

/* One destination of a connect or a send: record it (a network attempt outside this
 * host) unless it is local; a destination the kernel refuses (invalid_errno) is written
 * to the file as such, but is neither counted nor listed as a connect. */
static void record_net(sg_trace *t, const char *syscall, const sg_netaddr *na, bool fastopen, pid_t hpid,
		       uint64_t now)
{
	if (na->local)
		return;
	bool valid = na->invalid_errno == 0;
	if (valid)
		t->connects++;
	sg_autofree char *prog = program_of(hpid);
	conn_rec *c = conn_find(t, syscall, na, prog);
	uint64_t *count = c ? &c->count : &t->conn_other;
	if (!repeat_count(t, count)) {
		if (!repeat_due(*count))
			return;
		if (c)
			conn_repeated(t, c, now, false);
		else
			other_repeated(t, "connect", *count, now, false);
		return;
	}
	long pid = nspid_of(hpid, NULL);
	cJSON *ev = event(t, "connect", now);
	cJSON_AddStringToObject(ev, "syscall", syscall);
	cJSON_AddNumberToObject(ev, "pid", (double)pid);
	cJSON_AddStringToObject(ev, "family", na->family == AF_INET ? "inet" : "inet6");
	if (na->address[0]) {
		cJSON_AddStringToObject(ev, "address", na->address);
		cJSON_AddNumberToObject(ev, "port", na->port);
	} else {
		cJSON_AddNullToObject(ev, "address");
		cJSON_AddNullToObject(ev, "port");
	}
	if (na->address[0] && na->port == 53)
		cJSON_AddTrueToObject(ev, "dns");
	if (fastopen)
		cJSON_AddTrueToObject(ev, "fastopen");
	if (!valid) {
		cJSON_AddTrueToObject(ev, "invalid");
		cJSON_AddStringToObject(ev, "errno", strerrorname_np(na->invalid_errno));
	}
	add_clean_string(ev, "program", prog);
	emit(t, ev);
}

/* The socket address at addr of the length the caller gave: an internet address? (The
 * length is an int to the kernel; sendmsg's has already been clamped as it clamps it.) */
static bool read_netaddr(pid_t hpid, uint64_t addr, int64_t len, sg_netaddr *na)
{
	struct sockaddr_storage ss;
	size_t want = len < 0 || len > (int64_t)sizeof(ss) ? sizeof(ss) : (size_t)len;
	ssize_t got = addr ? sg_proc_read(hpid, addr, &ss, want) : -1;
	return got >= 0 && sg_netaddr_inspect(&ss, (size_t)got, len, na);
}

/* msg_name of a msghdr, with the kernel's treatment of msg_namelen (an int: negative is
 * EINVAL, more than a sockaddr_storage is cut to one). */
static bool msghdr_netaddr(pid_t hpid, const struct msghdr *mh, sg_netaddr *na)
{
	if (!mh->msg_name)
		return false;
	int64_t len = (int)mh->msg_namelen;
	if (len > (int64_t)sizeof(struct sockaddr_storage))
		len = sizeof(struct sockaddr_storage);
	return read_netaddr(hpid, (uint64_t)(uintptr_t)mh->msg_name, len, na);
}

/* connect, and the sends that carry a destination: sendto with dest_addr (the filter
 * notifies only those), sendmsg with msg_name, each message of sendmmsg. The call always
 * continues: what the supervisor read is what the caller had in memory then; the kernel
 * reads it again (see trace.h). */
static void on_net(sg_trace *t, int listener, const struct seccomp_notif *n, uint64_t now)
{
	pid_t hpid = (pid_t)n->pid;
	int nr = n->data.nr;
	const __u64 *a = n->data.args;
	sg_netaddr found[SG_NET_PER_CALL];
	size_t nfound = 0;
	const char *syscall = "connect";
	bool fastopen = false;
	if (nr == SCMP_SYS(connect)) {
		nfound = read_netaddr(hpid, a[1], (int)a[2], &found[0]) ? 1 : 0;
	} else if (nr == SCMP_SYS(sendto)) {
		syscall = "sendto";
		fastopen = (a[3] & MSG_FASTOPEN) != 0;
		nfound = read_netaddr(hpid, a[4], (int)a[5], &found[0]) ? 1 : 0;
	} else if (nr == SCMP_SYS(sendmsg)) {
		syscall = "sendmsg";
		struct msghdr mh;
		fastopen = (a[2] & MSG_FASTOPEN) != 0;
		if (sg_proc_read(hpid, a[1], &mh, sizeof(mh)) == (ssize_t)sizeof(mh))
			nfound = msghdr_netaddr(hpid, &mh, &found[0]) ? 1 : 0;
	} else if (nr == SCMP_SYS(sendmmsg)) {
		syscall = "sendmmsg";
		fastopen = (a[3] & MSG_FASTOPEN) != 0;
		size_t vlen = a[2] < SG_MMSG_MAX ? (size_t)a[2] : SG_MMSG_MAX;
		sg_autofree struct mmsghdr *v = sg_xcalloc(vlen ? vlen : 1, sizeof(*v));
		ssize_t got = sg_proc_read(hpid, a[1], v, vlen * sizeof(*v));
		size_t readable = got > 0 ? (size_t)got / sizeof(*v) : 0;
		for (size_t i = 0; i < readable && nfound < SG_NET_PER_CALL; i++) {
			sg_netaddr na;
			if (!msghdr_netaddr(hpid, &v[i].msg_hdr, &na))
				continue;
			bool seen = false;
			for (size_t k = 0; k < nfound && !seen; k++)
				seen = found[k].port == na.port && found[k].invalid_errno == na.invalid_errno &&
				       !strcmp(found[k].address, na.address);
			if (!seen)
				found[nfound++] = na;
		}
	}
	if (nfound == 0 || !still_valid(listener, n->id))
		return;
	for (size_t i = 0; i < nfound; i++)
		record_net(t, syscall, &found[i], fastopen, hpid, now);
}

static void notif_args(const struct seccomp_notif *n, uint64_t a[6])
{
	for (int i = 0; i < 6; i++)
		a[i] = n->data.args[i];
}

static char *syscall_name(int nr)
{
	char *raw = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	char *name = raw ? sg_xstrdup(raw) : sg_xasprintf("syscall_%d", nr);
	free(raw);
	return name;
}

static viol_rec *viol_find(sg_trace *t, int nr, int family, const char *prog)
{
	for (size_t i = 0; i < t->n_viols; i++) {
		viol_rec *v = &t->viols[i];
		if (v->nr == nr && v->family == family && !strcmp(v->program, prog))
			return v;
	}
	return NULL;
}

static int on_denied(sg_trace *t, int listener, const struct seccomp_notif *n, uint64_t now)
{
	int nr = n->data.nr;
	int errnum = sg_policy_deny_errno(t->policy, nr);
	sg_violation_class cls = sg_policy_violation_class(t->policy, nr);
	if (cls == SG_VIOLATION_IGNORE)
		return errnum;
	pid_t hpid = (pid_t)n->pid;
	bool fails = cls == SG_VIOLATION_FAIL;
	uint64_t a[6];
	notif_args(n, a);
	int family = sg_denied_socket_family(nr, a);
	sg_autofree char *prog = program_of(hpid);
	viol_rec *v = viol_find(t, nr, family, prog);
	const uint64_t *seen = v ? &v->count : t->n_viols == SG_AGG_MAX ? &t->viol_other : NULL;
	/* the arguments of a denial that will only be counted are not read (a flood stays
	 * cheap); the others' paths and names are read, then the notification re-validated */
	bool quiet = seen && *seen >= SG_REPEAT_KEEP && (!fails || t->failing);
	sg_autofree char *args = quiet ? NULL : sg_denied_args_describe(hpid, nr, a);
	if (!still_valid(listener, n->id))
		return errnum;
	t->violations++;
	if (!v && t->n_viols < SG_AGG_MAX) {
		t->viols = sg_xrealloc(t->viols, (t->n_viols + 1) * sizeof(*t->viols));
		v = &t->viols[t->n_viols++];
		*v = (viol_rec){.nr = nr, .family = family, .name = syscall_name(nr), .program = sg_xstrdup(prog),
				.args = sg_xstrdup(args), .errnum = errnum, .fails = fails};
	}
	sg_autofree char *name = v ? sg_xstrdup(v->name) : syscall_name(nr);
	if (fails && !t->failing)
		t->failing = sg_xasprintf("denied %s (%s) by %s", name, args, prog);
	uint64_t *count = v ? &v->count : &t->viol_other;
	if (!repeat_count(t, count)) {
		if (repeat_due(*count)) {
			if (v)
				viol_repeated(t, v, now, false);
			else
				other_repeated(t, "denied", *count, now, false);
		}
		return errnum;
	}
	long pid = nspid_of(hpid, NULL);
	cJSON *ev = event(t, "denied", now);
	cJSON_AddStringToObject(ev, "syscall", name);
	cJSON_AddNumberToObject(ev, "pid", (double)pid);
	add_clean_string(ev, "program", prog);
	add_clean_string(ev, "args", args);
	cJSON_AddStringToObject(ev, "errno", strerrorname_np(errnum) ? strerrorname_np(errnum) : "?");
	cJSON_AddBoolToObject(ev, "fails", fails);
	emit(t, ev);
	return errnum;
}

int sg_trace_handle(sg_trace *t, int listener)
{
	memset(t->req, 0, t->sizes.seccomp_notif);
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, t->req) < 0)
		return errno == EINTR || errno == ENOENT ? 0 : -1;
	const struct seccomp_notif *n = t->req;
	uint64_t now = sg_monotonic_ns();
	memset(t->resp, 0, t->sizes.seccomp_notif_resp);
	t->resp->id = n->id;
	int nr = n->data.nr;
	if (nr == SCMP_SYS(execve) || nr == SCMP_SYS(execveat)) {
		on_exec(t, listener, n, now);
		t->resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	} else if (nr == SCMP_SYS(exit_group)) {
		on_exit_group(t, n, now);
		t->resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	} else if (nr == SCMP_SYS(connect) || nr == SCMP_SYS(sendto) || nr == SCMP_SYS(sendmsg) ||
		   nr == SCMP_SYS(sendmmsg)) {
		on_net(t, listener, n, now);
		t->resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	} else {
		t->resp->error = -on_denied(t, listener, n, now);
	}
	int rc = ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, t->resp) < 0 && errno != ENOENT ? -1 : 0;
	if (t->exec_line)
		exec_line_finish(t);
	return rc;
}

void sg_trace_sample(sg_trace *t, uint64_t now_ns, uint64_t memory_kb, uint64_t cpu_ms)
{
	t->samples++;
	cJSON *ev = event(t, "sample", now_ns);
	cJSON_AddNumberToObject(ev, "memory_kb", (double)memory_kb);
	cJSON_AddNumberToObject(ev, "cpu_ms", (double)cpu_ms);
	emit(t, ev);
}

void sg_trace_finish(sg_trace *t)
{
	if (t->finished)
		return;
	t->finished = true;
	uint64_t now = sg_monotonic_ns();
	for (size_t i = 0; i < t->n_viols; i++)
		if (t->viols[i].count > SG_REPEAT_KEEP)
			viol_repeated(t, &t->viols[i], now, true);
	for (size_t i = 0; i < t->n_conns; i++)
		if (t->conns[i].count > SG_REPEAT_KEEP)
			conn_repeated(t, &t->conns[i], now, true);
	if (t->viol_other > SG_REPEAT_KEEP)
		other_repeated(t, "denied", t->viol_other, now, true);
	if (t->conn_other > SG_REPEAT_KEEP)
		other_repeated(t, "connect", t->conn_other, now, true);
	if (t->f) {
		fclose(t->f);
		t->f = NULL;
	}
	/* the programs still in the table will not be seen again: a step that had thousands
	 * alive at once does not keep their table through the rest of the run */
	procs_clear(t);
	if (sg_sha256_file(t->path, t->sha256, NULL) < 0)
		t->sha256[0] = '\0';
}

uint64_t sg_trace_execs(const sg_trace *t)
{
	return t->execs;
}

uint64_t sg_trace_violation_count(const sg_trace *t)
{
	return t->violations;
}

const char *sg_trace_failing_violation(const sg_trace *t)
{
	return t->failing;
}

cJSON *sg_trace_summary_json(const sg_trace *t, const char *relpath)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "file", relpath);
	cJSON_AddStringToObject(o, "sha256", t->sha256);
	cJSON_AddNumberToObject(o, "events", (double)t->events);
	cJSON_AddNumberToObject(o, "execs", (double)t->execs);
	cJSON_AddNumberToObject(o, "execs_failed", (double)t->execs_failed);
	cJSON_AddNumberToObject(o, "exits", (double)t->exits);
	cJSON_AddNumberToObject(o, "violations", (double)t->violations);
	cJSON_AddNumberToObject(o, "connects", (double)t->connects);
	cJSON_AddNumberToObject(o, "samples", (double)t->samples);
	cJSON_AddBoolToObject(o, "truncated", t->truncated);
	cJSON_AddNumberToObject(o, "cap_bytes", (double)t->cap);
	return o;
}

cJSON *sg_trace_violations_json(const sg_trace *t)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < t->n_viols; i++) {
		const viol_rec *v = &t->viols[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "syscall", v->name);
		if (v->family >= 0) {
			const char *fam = sg_socket_family_name(v->family);
			if (fam)
				cJSON_AddStringToObject(o, "family", fam);
			else
				cJSON_AddNumberToObject(o, "family", v->family);
		}
		add_clean_string(o, "program", v->program);
		cJSON_AddNumberToObject(o, "count", (double)v->count);
		cJSON_AddStringToObject(o, "errno", strerrorname_np(v->errnum) ? strerrorname_np(v->errnum) : "?");
		cJSON_AddBoolToObject(o, "fails", v->fails);
		add_clean_string(o, "first_args", v->args);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

cJSON *sg_trace_connects_json(const sg_trace *t)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < t->n_conns; i++) {
		const conn_rec *c = &t->conns[i];
		if (c->invalid_errno)
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "syscall", c->syscall);
		cJSON_AddStringToObject(o, "family", c->family);
		cJSON_AddStringToObject(o, "address", c->address);
		cJSON_AddNumberToObject(o, "port", c->port);
		cJSON_AddBoolToObject(o, "dns", c->dns);
		add_clean_string(o, "program", c->program);
		cJSON_AddNumberToObject(o, "count", (double)c->count);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

void sg_trace_free(sg_trace *t)
{
	if (!t)
		return;
	if (t->f)
		fclose(t->f);
	cJSON_Delete(t->exec_line);
	for (size_t i = 0; i < t->n_viols; i++) {
		free(t->viols[i].name);
		free(t->viols[i].program);
		free(t->viols[i].args);
	}
	free(t->viols);
	for (size_t i = 0; i < t->n_conns; i++) {
		free(t->conns[i].syscall);
		free(t->conns[i].family);
		free(t->conns[i].address);
		free(t->conns[i].program);
	}
	free(t->conns);
	procs_clear(t);
	free(t->req);
	free(t->resp);
	free(t->failing);
	free(t->path);
	free(t);
}
