/* util.h: small helpers shared by every module: scope-bound cleanup, EINTR-safe I/O,
 * a growable string buffer, whole-file reads, monotonic and wall clocks.
 * Nothing here knows about sandboxes. */
#ifndef SHIPGATE_UTIL_H
#define SHIPGATE_UTIL_H

#include <shipgate/error.h>

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#define SG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define SG_RETRY(expr)                                                                   \
	({                                                                               \
		__typeof__(expr) sg_retry_rc_;                                           \
		do                                                                       \
			sg_retry_rc_ = (expr);                                           \
		while (sg_retry_rc_ == -1 && errno == EINTR);                            \
		sg_retry_rc_;                                                            \
	})

/* Scope-bound cleanup, as bubblewrap does it. */
void sg_cleanup_freep(void *p);
void sg_cleanup_closep(int *fd);
void sg_cleanup_fclosep(FILE **f);
#define sg_autofree __attribute__((cleanup(sg_cleanup_freep)))
#define sg_autoclose __attribute__((cleanup(sg_cleanup_closep)))
#define sg_autofclose __attribute__((cleanup(sg_cleanup_fclosep)))

static inline void *sg_steal_ptr(void *pp)
{
	void **p = (void **)pp;
	void *v = *p;
	*p = NULL;
	return v;
}
static inline int sg_steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

/* Allocation that aborts on exhaustion: shipgate cannot do anything useful without memory. */
void *sg_xmalloc(size_t n);
void *sg_xcalloc(size_t n, size_t size);
void *sg_xrealloc(void *p, size_t n);
char *sg_xstrdup(const char *s);
char *sg_xstrndup(const char *s, size_t n);
char *sg_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer, always NUL-terminated. */
typedef struct sg_buf {
	char *data;
	size_t len;
	size_t cap;
} sg_buf;
void sg_buf_append(sg_buf *b, const void *data, size_t len);
void sg_buf_puts(sg_buf *b, const char *s);
void sg_buf_printf(sg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sg_buf_free(sg_buf *b);

/* Full reads and writes, retrying on EINTR and short counts. */
ssize_t sg_read_all(int fd, void *buf, size_t len);
int sg_write_all(int fd, const void *buf, size_t len);

/* Read a whole file (at most max_bytes) into a NUL-terminated buffer. */
int sg_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len, sg_error *err);
int sg_read_file_at(int dirfd, const char *path, size_t max_bytes, char **out, size_t *out_len,
		    sg_error *err);
/* Write a whole small file (e.g. a cgroup or /proc knob) with one write(2). */
int sg_write_file(const char *path, const char *data, sg_error *err);
int sg_write_file_at(int dirfd, const char *path, const char *data, sg_error *err);

/* Write a file atomically: temp file in the same directory, fsync, rename. */
int sg_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			 sg_error *err);
/* The same in pieces: open, write as often as needed, then commit (fsync, rename) or
 * abort (the temp file goes). After a failed write, abort. */
typedef struct sg_atomic_file {
	int fd;
	char *tmp;
	char *path;
} sg_atomic_file;
int sg_atomic_file_open(sg_atomic_file *f, const char *path, mode_t mode, sg_error *err);
int sg_atomic_file_write(sg_atomic_file *f, const void *data, size_t len, sg_error *err);
int sg_atomic_file_commit(sg_atomic_file *f, sg_error *err);
void sg_atomic_file_abort(sg_atomic_file *f);

int sg_mkdir_p(const char *path, mode_t mode, sg_error *err);
/* Is path dir itself or below it? Both absolute and resolved (no "..", no symlinks). */
bool sg_path_within(const char *path, const char *dir);
/* An absolute path resolved as far as it exists: realpath() of its nearest existing
 * ancestor, a symlink to what is not there yet followed, then the rest with "." and ".."
 * applied as mkdir -p would (what the path will be when it is made). Where it cannot be
 * resolved (a loop of links, no permission) the path as written, normalized. NULL for a
 * relative path. */
char *sg_realpath_partial(const char *path);
/* Remove scratch directories "PREFIX<pid>-XXXXXX" in base whose shipgate process is gone
 * (a run killed by SIGKILL cannot clean up after itself); ours only: owned by us. */
void sg_scratch_remove_stale(const char *base, const char *prefix);
/* Remove a directory tree without following symlinks or crossing mount points. */
int sg_rm_rf(const char *path, sg_error *err);

uint64_t sg_monotonic_ns(void);
static inline uint64_t sg_monotonic_ms(void) { return sg_monotonic_ns() / 1000000u; }
/* RFC 3339 UTC with millisecond precision into buf (at least 32 bytes). */
void sg_rfc3339_now(char *buf, size_t len);

/* SHIPGATE_TIMING=1 in the environment: print "+MS label" on stderr at each mark, the
 * milliseconds since the first mark of the process (or of its parent, in a child that
 * inherits the origin). For finding where a sandbox start spends its time. */
void sg_timing_mark(const char *label);

/* Parse a non-negative decimal integer; false on garbage or overflow. */
bool sg_parse_u64(const char *s, uint64_t *out);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void sg_hex(const unsigned char *bytes, size_t n, char *out);

/* The process-wide lock around every window in which a thread holds fds meant for a
 * child it is about to clone (pipes, a socket pair), up to the clone and the closing of
 * the child's ends. A child cloned by another thread meanwhile would inherit them and
 * hold them open: an EOF that never comes. All our fds are close-on-exec, so only our
 * own raw clones (the sandbox's init, the idmap helper) need it. */
void sg_spawn_lock(void);
void sg_spawn_unlock(void);

#endif
