/* util.c: helpers shared by every module (see util.h). */
#include "util.h"

#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

void sg_cleanup_freep(void *p)
{
	free(*(void **)p);
}

void sg_cleanup_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

void sg_cleanup_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static void sg_oom(void)
{
	static const char msg[] = "shipgate: out of memory\n";
	(void)!write(2, msg, sizeof(msg) - 1);
	abort();
}

void *sg_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		sg_oom();
	return p;
}

void *sg_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		sg_oom();
	return p;
}

void *sg_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		sg_oom();
	return q;
}

char *sg_xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p)
		sg_oom();
	return p;
}

char *sg_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		sg_oom();
	return p;
}

char *sg_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *out = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&out, fmt, ap);
	va_end(ap);
	if (n < 0)
		sg_oom();
	return out;
}

static void sg_buf_reserve(sg_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	b->data = sg_xrealloc(b->data, cap);
	b->cap = cap;
}

void sg_buf_append(sg_buf *b, const void *data, size_t len)
{
	sg_buf_reserve(b, len);
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void sg_buf_puts(sg_buf *b, const char *s)
{
	sg_buf_append(b, s, strlen(s));
}

void sg_buf_printf(sg_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sg_buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sg_buf_free(sg_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

ssize_t sg_read_all(int fd, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int sg_write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

int sg_read_file_at(int dirfd, const char *path, size_t max_bytes, char **out, size_t *out_len,
		    sg_error *err)
{
	/* O_NONBLOCK: a FIFO named as an input must not hang us at open */
	sg_autoclose int fd = SG_RETRY(openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
	if (fd < 0)
		return sg_error_set(err, SG_ERR_INPUT, errno, "open %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return sg_error_set(err, SG_ERR_INPUT, errno, "stat %s", path);
	if (S_ISDIR(st.st_mode))
		return sg_error_set(err, SG_ERR_INPUT, EISDIR, "read %s", path);
	if (!S_ISREG(st.st_mode))
		return sg_error_set(err, SG_ERR_INPUT, 0, "%s: not a regular file", path);
	sg_buf b = {0};
	char chunk[65536];
	for (;;) {
		ssize_t n = SG_RETRY(read(fd, chunk, sizeof(chunk)));
		if (n < 0) {
			sg_buf_free(&b);
			return sg_error_set(err, SG_ERR_INPUT, errno, "read %s", path);
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > max_bytes) {
			sg_buf_free(&b);
			return sg_error_set(err, SG_ERR_INPUT, 0, "%s: larger than %zu bytes", path,
					    max_bytes);
		}
		sg_buf_append(&b, chunk, (size_t)n);
	}
	if (!b.data)
		sg_buf_append(&b, "", 0);
	*out = b.data;
	if (out_len)
		*out_len = b.len;
	return 0;
}

int sg_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len, sg_error *err)
{
	return sg_read_file_at(AT_FDCWD, path, max_bytes, out, out_len, err);
}

int sg_write_file_at(int dirfd, const char *path, const char *data, sg_error *err)
{
	sg_autoclose int fd = SG_RETRY(openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_NOCTTY));
	if (fd < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "open %s", path);
	size_t len = strlen(data);
	ssize_t n = SG_RETRY(write(fd, data, len));
	if (n < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "write %s", path);
	if ((size_t)n != len)
		return sg_error_set(err, SG_ERR_SANDBOX, EIO, "write %s: short write", path);
	return 0;
}

int sg_write_file(const char *path, const char *data, sg_error *err)
{
	return sg_write_file_at(AT_FDCWD, path, data, err);
}

int sg_atomic_file_open(sg_atomic_file *f, const char *path, mode_t mode, sg_error *err)
{
	/* the thread too: two threads of one process may write the same file at once */
	*f = (sg_atomic_file){.fd = -1};
	f->tmp = sg_xasprintf("%s.tmp.%d.%d", path, (int)getpid(), (int)gettid());
	f->fd = SG_RETRY(open(f->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
	if (f->fd < 0) {
		sg_error_set(err, SG_ERR_INTERNAL, errno, "create %s", f->tmp);
		free(sg_steal_ptr(&f->tmp));
		return -1;
	}
	f->path = sg_xstrdup(path);
	return 0;
}

int sg_atomic_file_write(sg_atomic_file *f, const void *data, size_t len, sg_error *err)
{
	if (sg_write_all(f->fd, data, len) < 0)
		return sg_error_set(err, SG_ERR_INTERNAL, errno, "write %s", f->tmp);
	return 0;
}

void sg_atomic_file_abort(sg_atomic_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->tmp)
		unlink(f->tmp);
	free(f->tmp);
	free(f->path);
	*f = (sg_atomic_file){.fd = -1};
}

int sg_atomic_file_commit(sg_atomic_file *f, sg_error *err)
{
	int rc = 0;
	if (fsync(f->fd) < 0)
		rc = sg_error_set(err, SG_ERR_INTERNAL, errno, "write %s", f->tmp);
	else if (rename(f->tmp, f->path) < 0)
		rc = sg_error_set(err, SG_ERR_INTERNAL, errno, "rename %s", f->path);
	else
		free(sg_steal_ptr(&f->tmp)); /* renamed: nothing to remove */
	sg_atomic_file_abort(f);
	return rc;
}

int sg_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			 sg_error *err)
{
	sg_atomic_file f;
	if (sg_atomic_file_open(&f, path, mode, err) < 0)
		return -1;
	if (sg_atomic_file_write(&f, data, len, err) < 0) {
		sg_atomic_file_abort(&f);
		return -1;
	}
	return sg_atomic_file_commit(&f, err);
}

bool sg_path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (n == 1 && dir[0] == '/')
		return true;
	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

/* "/a/./b//c/../d" as "/a/b/d": the remainder of a path that does not exist yet, as
 * mkdir -p would make it. */
static char *sg_path_normalize(const char *path)
{
	sg_autofree char *copy = sg_xstrdup(path);
	sg_buf out = {0};
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			char *slash = out.len ? memrchr(out.data, '/', out.len) : NULL;
			out.len = slash ? (size_t)(slash - out.data) : 0;
			continue;
		}
		sg_buf_printf(&out, "/%s", c);
	}
	if (!out.len)
		sg_buf_puts(&out, "/");
	sg_buf_append(&out, "", 0);
	out.data[out.len] = '\0';
	return out.data;
}

char *sg_realpath_partial(const char *path)
{
	if (!path || path[0] != '/')
		return NULL;
	sg_autofree char *cur = sg_path_normalize(path);
	char real[PATH_MAX];
	for (int hops = 0; hops < 40; hops++) {
		if (realpath(cur, real))
			return sg_xstrdup(real);
		/* the deepest prefix (the whole path first) that is there: resolved, then the
		 * rest joined and normalised and the whole resolved again (a ".." may have led
		 * back onto a symlink); or a symlink to what is not there yet, followed */
		sg_autofree char *copy = sg_xstrdup(cur);
		char *next = NULL;
		for (;;) {
			struct stat st;
			if (lstat(copy, &st) == 0) {
				const char *rest = cur + strlen(copy);
				if (realpath(copy, real)) {
					sg_autofree char *joined = sg_xasprintf("%s%s", strcmp(real, "/") ? real : "", rest);
					next = sg_path_normalize(joined);
				} else if (S_ISLNK(st.st_mode)) {
					char target[PATH_MAX];
					ssize_t n = readlink(copy, target, sizeof(target) - 1);
					if (n < 0)
						return sg_path_normalize(path);
					target[n] = '\0';
					char *slash = strrchr(copy, '/');
					*slash = '\0';
					sg_autofree char *joined = target[0] == '/'
									   ? sg_xasprintf("%s%s", target, rest)
									   : sg_xasprintf("%s/%s%s", copy, target, rest);
					next = sg_path_normalize(joined);
				} else {
					return sg_path_normalize(path); /* there, not resolvable (permissions) */
				}
				break;
			}
			char *cut = strrchr(copy, '/');
			if (!cut || cut == copy)
				return sg_xstrdup(cur); /* nothing below / is there: as normalised */
			*cut = '\0';
		}
		if (!strcmp(next, cur)) {
			free(next);
			return sg_xstrdup(cur); /* no further to go (a dangling last component) */
		}
		free(cur);
		cur = next;
	}
	return sg_path_normalize(path); /* a loop of links: the path as written */
}

int sg_mkdir_p(const char *path, mode_t mode, sg_error *err)
{
	sg_autofree char *copy = sg_xstrdup(path);
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return sg_error_set(err, SG_ERR_INTERNAL, errno, "mkdir %s", copy);
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return sg_error_set(err, SG_ERR_INTERNAL, errno, "mkdir %s", copy);
	return 0;
}

/* sg_rm_rf removes trees a candidate shaped (the scratch layer), so it neither recurses
 * nor keeps a descriptor per level: a directory nested a hundred thousand deep must not
 * take the supervisor's stack or descriptors, nor leave the scratch behind. It holds one
 * directory open, goes down into the first subdirectory it finds, and when a directory
 * is empty goes back up through ".." (checked to be the directory it came from) and
 * removes it. Nothing else writes the tree meanwhile: the sandbox that wrote it is gone. */

/* Open the directory `name` below dfd without following a link; overlayfs leaves its
 * work/work directory mode 000 (and a rootless candidate may do the same). */
static int rm_open_dir(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == EACCES && fchmodat(dfd, name, 0700, 0) == 0)
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd;
}

/* Remove every non-directory in dfd; *sub gets the name of a subdirectory (to go down
 * into) or NULL when none is left. */
static int rm_entries(int dfd, dev_t dev, char **sub, sg_error *err)
{
	*sub = NULL;
	int lfd = dup(dfd);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (!d) {
		if (lfd >= 0)
			close(lfd);
		return sg_error_set(err, SG_ERR_INTERNAL, errno, "opendir");
	}
	rewinddir(d);
	int rc = 0;
	bool made_writable = false;
	struct dirent *de;
	while (rc == 0 && !*sub && (de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		struct stat st;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				rc = sg_error_set(err, SG_ERR_INTERNAL, errno, "stat %s", name);
		} else if (S_ISDIR(st.st_mode)) {
			if (st.st_dev != dev)
				rc = sg_error_set(err, SG_ERR_INTERNAL, EXDEV, "refusing to remove %s", name);
			else
				*sub = sg_xstrdup(name);
		} else if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
			/* a directory without write permission (a rootless candidate's doing) */
			if (errno == EACCES && !made_writable && fchmod(dfd, 0700) == 0) {
				made_writable = true;
				if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
					continue;
			}
			rc = sg_error_set(err, SG_ERR_INTERNAL, errno, "unlink %s", name);
		}
	}
	closedir(d);
	return rc;
}

/* rmdir `name` below dfd; a parent without write permission (mode 0500, a rootless
 * candidate's doing) is made writable first */
static int rm_subdir(int dfd, const char *name)
{
	if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	if (errno != EACCES || fchmod(dfd, 0700) < 0)
		return -1;
	if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	return -1;
}

typedef struct rm_level {
	char *name;  /* the directory we went down into */
	ino_t parent_ino;
} rm_level;

int sg_rm_rf(const char *path, sg_error *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : sg_error_set(err, SG_ERR_INTERNAL, errno, "stat %s", path);
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0 && errno != ENOENT)
			return sg_error_set(err, SG_ERR_INTERNAL, errno, "unlink %s", path);
		return 0;
	}
	int fd = rm_open_dir(AT_FDCWD, path);
	if (fd < 0)
		return sg_error_set(err, SG_ERR_INTERNAL, errno, "open %s", path);
	rm_level *stack = NULL;
	size_t depth = 0, cap = 0;
	int rc = 0;
	for (;;) {
		char *sub = NULL;
		if ((rc = rm_entries(fd, st.st_dev, &sub, err)) < 0)
			break;
		struct stat here;
		if (fstat(fd, &here) < 0) {
			free(sub);
			rc = sg_error_set(err, SG_ERR_INTERNAL, errno, "stat");
			break;
		}
		if (sub) {
			int down = rm_open_dir(fd, sub);
			if (down < 0) {
				rc = sg_error_set(err, SG_ERR_INTERNAL, errno, "open %s", sub);
				free(sub);
				break;
			}
			if (depth == cap) {
				cap = cap ? cap * 2 : 64;
				stack = sg_xrealloc(stack, cap * sizeof(*stack));
			}
			stack[depth++] = (rm_level){sub, here.st_ino};
			close(fd);
			fd = down;
			continue;
		}
		if (depth == 0)
			break; /* the top is empty */
		rm_level up = stack[--depth];
		int parent = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct stat pst;
		if (parent < 0 || fstat(parent, &pst) < 0 || pst.st_ino != up.parent_ino || pst.st_dev != st.st_dev) {
			rc = sg_error_set(err, SG_ERR_INTERNAL, parent < 0 ? errno : ESTALE,
					  "remove %s: the tree moved while it was removed", path);
			if (parent >= 0)
				close(parent);
			free(up.name);
			break;
		}
		close(fd);
		fd = parent;
		if (rm_subdir(fd, up.name) < 0) {
			rc = sg_error_set(err, SG_ERR_INTERNAL, errno, "rmdir %s", up.name);
			free(up.name);
			break;
		}
		free(up.name);
	}
	close(fd);
	for (size_t i = 0; i < depth; i++)
		free(stack[i].name);
	free(stack);
	if (rc < 0)
		return sg_error_prefix(err, "remove %s", path);
	if (rmdir(path) < 0 && errno != ENOENT)
		return sg_error_set(err, SG_ERR_INTERNAL, errno, "rmdir %s", path);
	return 0;
}

uint64_t sg_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void sg_rfc3339_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char base[32];
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03ldZ", base, ts.tv_nsec / 1000000L);
}

bool sg_parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return false;
	uint64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

void sg_hex(const unsigned char *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

static pthread_mutex_t spawn_lock = PTHREAD_MUTEX_INITIALIZER;

void sg_spawn_lock(void)
{
	pthread_mutex_lock(&spawn_lock);
}

void sg_spawn_unlock(void)
{
	pthread_mutex_unlock(&spawn_lock);
}

static pthread_once_t timing_once = PTHREAD_ONCE_INIT;
static bool timing_enabled;
static uint64_t timing_origin;

static void timing_init(void)
{
	const char *v = getenv("SHIPGATE_TIMING");
	timing_enabled = v && *v && strcmp(v, "0") != 0;
	timing_origin = sg_monotonic_ns();
}

void sg_timing_mark(const char *label)
{
	/* process-wide debugging state, set once (pthread_once: threads may race here) */
	pthread_once(&timing_once, timing_init);
	if (!timing_enabled)
		return;
	/* and the peak RSS so far (VmHWM), which a poll from outside would miss at the end */
	char status[4096];
	long hwm = -1;
	sg_autoclose int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, status, sizeof(status) - 1) : -1;
	const char *at = NULL;
	if (got > 0) {
		status[got] = '\0';
		at = strstr(status, "\nVmHWM:");
	}
	if (at)
		hwm = strtol(at + 7, NULL, 10);
	char line[200];
	int n = snprintf(line, sizeof(line), "[timing %d] +%.3f ms %s (peak RSS %ld kB)\n", (int)getpid(),
			 (double)(sg_monotonic_ns() - timing_origin) / 1e6, label, hwm);
	if (n > 0)
		(void)!write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void sg_scratch_remove_stale(const char *base, const char *prefix)
{
	DIR *d = opendir(base);
	if (!d)
		return;
	size_t pl = strlen(prefix);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, pl) != 0)
			continue;
		char *end = NULL;
		long pid = strtol(de->d_name + pl, &end, 10);
		if (pid <= 0 || !end || *end != '-')
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
			continue; /* its shipgate is still running */
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
		    st.st_uid != geteuid())
			continue;
		sg_autofree char *path = sg_xasprintf("%s/%s", base, de->d_name);
		(void)sg_rm_rf(path, NULL);
	}
	closedir(d);
}
