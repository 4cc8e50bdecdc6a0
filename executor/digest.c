/* digest.c: SHA-256 of byte streams and of directory trees (see digest.h).
 *
 * The tree digest is SHA-256 over a stream of length-prefixed records, one per entry,
 * in depth-first order with each directory's children sorted by the bytes of their
 * names. docs/digest.md is the specification; tests/tools/tree_digest.py is a second
 * implementation of it and the unit tests check that both agree.
 *
 * The walk is single-threaded: our SHA-256 (sha256.c: SHA-NI where the CPU has it) with
 * one reused 256 KiB buffer and two reused contexts already runs at 0.4x the time of
 * `find | xargs cat | sha256sum` (scripts/bench-digest), so threads would add complexity,
 * and a nondeterministic choice of which error is reported first, for no needed gain.
 */
#include "digest.h"

#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include "sha256.h"
#include <string.h>
#include <sys/stat.h>

/* One read buffer per walk, reused for every file and for symlink targets. */
#define SG_DIGEST_BUF_LEN (256 * 1024)

#define SG_DIR_NAMES_BUDGET (2u << 20) /* see sg_dir_read_batch */
#define SG_DIR_NAME_COST(len) ((len) + 1 + 16) /* a name and its allocation */

static const char sg_tree_domain[] = "shipgate-tree-v1"; /* hashed with its NUL */
static const char *const sg_tree_always_excluded[] = { ".git", ".shipgate" };

enum sg_tree_record {
	SG_REC_FILE = 'f',
	SG_REC_EXEC = 'x',
	SG_REC_SYMLINK = 'l',
	SG_REC_DIR = 'd',
	SG_REC_SPECIAL = 's',
};

/* ---- streaming SHA-256 --------------------------------------------------------------- */

struct sg_sha256 {
	sg_sha256_ctx ctx;
};

sg_sha256 *sg_sha256_new(void)
{
	sg_sha256 *h = sg_xmalloc(sizeof(*h));
	sg_sha256_init(&h->ctx);
	return h;
}

void sg_sha256_update(sg_sha256 *h, const void *data, size_t len)
{
	sg_sha256_add(&h->ctx, data, len);
}

void sg_sha256_ctx_hex(sg_sha256_ctx *c, char out[SG_SHA256_HEX_LEN])
{
	uint8_t md[SG_SHA256_LEN];
	sg_sha256_end(c, md);
	sg_hex(md, sizeof(md), out);
}

void sg_sha256_final_hex(sg_sha256 *h, char out[SG_SHA256_HEX_LEN])
{
	sg_sha256_ctx_hex(&h->ctx, out);
	free(h);
}

void sg_sha256_hex(const void *data, size_t len, char out[SG_SHA256_HEX_LEN])
{
	uint8_t md[SG_SHA256_LEN];
	sg_sha256_bytes(data, len, md);
	sg_hex(md, sizeof(md), out);
}

/* Hash fd from its offset to EOF into ctx with buf; the byte count goes to *total. A
 * non-zero *interrupted (NULL: never) stops it between reads: -1 with errno EINTR. */
static int sg_md_fd(sg_sha256_ctx *ctx, int fd, unsigned char *buf, size_t buf_len,
		    uint64_t *total, volatile int *interrupted)
{
	*total = 0;
	for (;;) {
		if (interrupted && *interrupted) {
			errno = EINTR;
			return -1;
		}
		ssize_t n = SG_RETRY(read(fd, buf, buf_len));
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		sg_sha256_add(ctx, buf, (size_t)n);
		*total += (uint64_t)n;
	}
}

int sg_sha256_fd(int fd, char out[SG_SHA256_HEX_LEN], sg_error *err)
{
	sg_autofree unsigned char *buf = sg_xmalloc(SG_DIGEST_BUF_LEN);
	sg_sha256_ctx ctx;
	sg_sha256_init(&ctx);
	uint64_t total;

	if (sg_md_fd(&ctx, fd, buf, SG_DIGEST_BUF_LEN, &total, NULL) < 0)
		return sg_error_set(err, SG_ERR_INPUT, errno, "read");
	sg_sha256_ctx_hex(&ctx, out);
	return 0;
}

int sg_sha256_file(const char *path, char out[SG_SHA256_HEX_LEN], sg_error *err)
{
	sg_autoclose int fd = SG_RETRY(open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY));
	if (fd < 0)
		return sg_error_set(err, SG_ERR_INPUT, errno, "open %s", path);
	if (sg_sha256_fd(fd, out, err) < 0)
		return sg_error_prefix(err, "%s", path);
	return 0;
}

/* ---- tree walk ----------------------------------------------------------------------- */

typedef struct sg_tree_walk {
	sg_sha256_ctx tree; /* the record stream */
	sg_sha256_ctx file; /* one regular file's contents at a time */
	unsigned char *buf; /* SG_DIGEST_BUF_LEN bytes */
	sg_buf path;        /* relative path of the entry being visited, no leading "./" */
	char **exclude;     /* normalized relative paths, the always-excluded ones first */
	size_t *exclude_len;
	size_t n_exclude;
	sg_tree_digest_stats stats;
	sg_buf printable; /* scratch for error messages */
	volatile int *interrupted;
	size_t names_budget; /* bytes of names held per directory being walked */
} sg_tree_walk;

static void sg_tree_walk_free(sg_tree_walk *w)
{
	free(w->buf);
	sg_buf_free(&w->path);
	for (size_t i = 0; i < w->n_exclude; i++)
		free(w->exclude[i]);
	free(w->exclude);
	free(w->exclude_len);
	sg_buf_free(&w->printable);
}

/* The current path for a message: control, non-ASCII bytes and backslash as \xNN, so a
 * name with a newline or invalid UTF-8 cannot forge or garble a log line. */
static const char *sg_walk_printable(sg_tree_walk *w)
{
	w->printable.len = 0;
	sg_buf_append(&w->printable, "", 0);
	for (size_t i = 0; i < w->path.len; i++) {
		unsigned char c = (unsigned char)w->path.data[i];
		if (c < 0x20 || c >= 0x7f || c == '\\')
			sg_buf_printf(&w->printable, "\\x%02x", c);
		else
			sg_buf_append(&w->printable, &c, 1);
	}
	return w->path.len ? w->printable.data : ".";
}

/* "./x/", "x//y", "x/." -> "x", "x/y", "x"; absolute paths, ".." and the root itself are
 * refused: an exclusion must name something strictly inside the tree. */
static int sg_exclude_normalize(const char *in, char **out, sg_error *err)
{
	sg_buf b = {0};
	const char *p = in;

	if (*in == '/')
		return sg_error_set(err, SG_ERR_USAGE, 0, "exclude '%s': must be relative", in);
	while (*p) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			sg_buf_free(&b);
			return sg_error_set(err, SG_ERR_USAGE, 0,
					    "exclude '%s': '..' is not allowed", in);
		}
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (b.len)
				sg_buf_append(&b, "/", 1);
			sg_buf_append(&b, p, n);
		}
		p += n;
		p += strspn(p, "/");
	}
	if (!b.len)
		return sg_error_set(err, SG_ERR_USAGE, 0,
				    "exclude '%s': names the root of the tree", in);
	*out = b.data;
	return 0;
}

static void sg_walk_add_exclude(sg_tree_walk *w, char *path)
{
	w->exclude = sg_xrealloc(w->exclude, (w->n_exclude + 1) * sizeof(*w->exclude));
	w->exclude_len = sg_xrealloc(w->exclude_len, (w->n_exclude + 1) * sizeof(size_t));
	w->exclude[w->n_exclude] = path;
	w->exclude_len[w->n_exclude] = strlen(path);
	w->n_exclude++;
}

static int sg_tree_walk_init(sg_tree_walk *w, const sg_tree_digest_opts *opts, sg_error *err)
{
	memset(w, 0, sizeof(*w));
	sg_sha256_init(&w->tree);
	sg_sha256_init(&w->file);
	w->buf = sg_xmalloc(SG_DIGEST_BUF_LEN);
	w->interrupted = opts ? opts->interrupted : NULL;
	w->names_budget = opts && opts->names_budget ? opts->names_budget : SG_DIR_NAMES_BUDGET;
	sg_buf_append(&w->path, "", 0);
	for (size_t i = 0; i < SG_ARRAY_LEN(sg_tree_always_excluded); i++)
		sg_walk_add_exclude(w, sg_xstrdup(sg_tree_always_excluded[i]));
	for (size_t i = 0; opts && opts->exclude && opts->exclude[i]; i++) {
		char *norm = NULL;
		if (sg_exclude_normalize(opts->exclude[i], &norm, err) < 0)
			return -1;
		sg_walk_add_exclude(w, norm);
	}
	return 0;
}

static bool sg_walk_is_excluded(const sg_tree_walk *w)
{
	for (size_t i = 0; i < w->n_exclude; i++)
		if (w->exclude_len[i] == w->path.len &&
		    memcmp(w->exclude[i], w->path.data, w->path.len) == 0)
			return true;
	return false;
}

static void sg_md_u32(sg_sha256_ctx *ctx, uint32_t v)
{
	unsigned char be[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
				(unsigned char)(v >> 8), (unsigned char)v };
	sg_sha256_add(ctx, be, sizeof(be));
}

/* type byte, u32 big-endian path length, path bytes: the start of every record. */
static int sg_walk_record(sg_tree_walk *w, enum sg_tree_record type, sg_error *err)
{
	unsigned char t = (unsigned char)type;
	if (w->path.len > UINT32_MAX)
		return sg_error_set(err, SG_ERR_INPUT, ENAMETOOLONG, "%s", sg_walk_printable(w));
	sg_sha256_add(&w->tree, &t, 1);
	sg_md_u32(&w->tree, (uint32_t)w->path.len);
	sg_sha256_add(&w->tree, w->path.data, w->path.len);
	return 0;
}

static int sg_walk_changed(sg_tree_walk *w, const char *how, sg_error *err)
{
	return sg_error_set(err, SG_ERR_INPUT, 0, "%s: %s while the tree was being digested",
			    sg_walk_printable(w), how);
}

static bool sg_same_inode(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* A regular file: opened without following a symlink and without blocking (in case it
 * was swapped for a fifo since the fstatat), then re-checked on the descriptor itself. */
static int sg_walk_file(sg_tree_walk *w, int dfd, const char *name, const struct stat *seen,
			sg_error *err)
{
	sg_autoclose int fd = SG_RETRY(openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
							 O_NOCTTY | O_CLOEXEC));
	if (fd < 0) {
		if (errno == ELOOP || errno == ENOENT)
			return sg_walk_changed(w, "replaced or removed", err);
		return sg_error_set(err, SG_ERR_INPUT, errno, "open %s", sg_walk_printable(w));
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return sg_error_set(err, SG_ERR_INPUT, errno, "stat %s", sg_walk_printable(w));
	if (!S_ISREG(st.st_mode) || !sg_same_inode(&st, seen))
		return sg_walk_changed(w, "replaced", err);

	unsigned char md[SG_SHA256_LEN];
	uint64_t total;
	sg_sha256_init(&w->file);
	if (sg_md_fd(&w->file, fd, w->buf, SG_DIGEST_BUF_LEN, &total, w->interrupted) < 0) {
		if (errno == EINTR)
			return sg_error_set(err, SG_ERR_INPUT, 0, "interrupted by a signal");
		return sg_error_set(err, SG_ERR_INPUT, errno, "read %s", sg_walk_printable(w));
	}
	sg_sha256_end(&w->file, md);
	if (total != (uint64_t)st.st_size)
		return sg_walk_changed(w, total < (uint64_t)st.st_size ? "shrank" : "grew", err);

	bool exec = (st.st_mode & S_IXUSR) != 0;
	if (sg_walk_record(w, exec ? SG_REC_EXEC : SG_REC_FILE, err) < 0)
		return -1;
	sg_sha256_add(&w->tree, md, sizeof(md));
	w->stats.files++;
	w->stats.bytes += total;
	return 0;
}

static int sg_walk_symlink(sg_tree_walk *w, int dfd, const char *name, sg_error *err)
{
	ssize_t n = readlinkat(dfd, name, (char *)w->buf, SG_DIGEST_BUF_LEN);
	if (n < 0) {
		if (errno == EINVAL || errno == ENOENT)
			return sg_walk_changed(w, "replaced or removed", err);
		return sg_error_set(err, SG_ERR_INPUT, errno, "readlink %s", sg_walk_printable(w));
	}
	if ((size_t)n >= SG_DIGEST_BUF_LEN)
		return sg_error_set(err, SG_ERR_INPUT, ENAMETOOLONG, "readlink %s",
				    sg_walk_printable(w));
	if (sg_walk_record(w, SG_REC_SYMLINK, err) < 0)
		return -1;
	sg_md_u32(&w->tree, (uint32_t)n);
	sg_sha256_add(&w->tree, w->buf, (size_t)n);
	w->stats.symlinks++;
	return 0;
}

static int sg_walk_dir(sg_tree_walk *w, int dfd, sg_error *err);

static int sg_walk_subdir(sg_tree_walk *w, int dfd, const char *name, const struct stat *seen,
			  sg_error *err)
{
	sg_autoclose int fd = SG_RETRY(openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
							 O_NOCTTY | O_CLOEXEC));
	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR || errno == ENOENT)
			return sg_walk_changed(w, "replaced or removed", err);
		if (errno == EMFILE)
			return sg_error_set(err, SG_ERR_INPUT, errno,
					    "open %s: tree nested too deep",
					    sg_walk_printable(w));
		return sg_error_set(err, SG_ERR_INPUT, errno, "open %s", sg_walk_printable(w));
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return sg_error_set(err, SG_ERR_INPUT, errno, "stat %s", sg_walk_printable(w));
	if (!sg_same_inode(&st, seen))
		return sg_walk_changed(w, "replaced", err);
	if (sg_walk_record(w, SG_REC_DIR, err) < 0)
		return -1;
	w->stats.dirs++;
	return sg_walk_dir(w, fd, err);
}

/* One entry of a directory: w->path already names it. */
static int sg_walk_entry(sg_tree_walk *w, int dfd, const char *name, sg_error *err)
{
	struct stat st;
	if (sg_walk_is_excluded(w))
		return 0;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return sg_walk_changed(w, "removed", err);
		return sg_error_set(err, SG_ERR_INPUT, errno, "stat %s", sg_walk_printable(w));
	}
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		return sg_walk_file(w, dfd, name, &st, err);
	case S_IFLNK:
		return sg_walk_symlink(w, dfd, name, err);
	case S_IFDIR:
		return sg_walk_subdir(w, dfd, name, &st, err);
	default:
		/* fifo, socket, character or block device: never opened */
		w->stats.special++;
		return sg_walk_record(w, SG_REC_SPECIAL, err);
	}
}

/* The names of a directory come in batches, in order: the smallest names after the
 * last one of the batch before, at most names_budget bytes of them (each name counted
 * with its allocation), found in one more pass over the directory. A directory of
 * 100,000 files held all its names at once, 8 MB at the peak of a run; a directory
 * whose names fit the budget is still read once. */

typedef struct sg_dir_batch {
	char **name; /* a max-heap while reading, sorted after */
	size_t n, cap;
	size_t bytes;
} sg_dir_batch;

static void sg_dir_batch_free(sg_dir_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->name[i]);
	free(b->name);
	*b = (sg_dir_batch){0};
}

static int sg_name_cmp(const void *a, const void *b)
{
	/* strcmp compares as unsigned char: memcmp order, a prefix before its extensions */
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sg_heap_push(sg_dir_batch *b, char *name)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 4;
		b->name = sg_xrealloc(b->name, b->cap * sizeof(*b->name));
	}
	size_t i = b->n++;
	while (i > 0 && strcmp(b->name[(i - 1) / 2], name) < 0) {
		b->name[i] = b->name[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	b->name[i] = name;
	b->bytes += SG_DIR_NAME_COST(strlen(name));
}

static char *sg_heap_pop(sg_dir_batch *b)
{
	char *top = b->name[0];
	char *last = b->name[--b->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= b->n)
			break;
		if (c + 1 < b->n && strcmp(b->name[c + 1], b->name[c]) > 0)
			c++;
		if (strcmp(b->name[c], last) <= 0)
			break;
		b->name[i] = b->name[c];
		i = c;
	}
	if (b->n)
		b->name[i] = last;
	b->bytes -= SG_DIR_NAME_COST(strlen(top));
	return top;
}

static void sg_dir_closep(DIR **d)
{
	if (*d)
		closedir(*d);
}

/* One pass over the directory dfd: into b, sorted, the smallest names after `after`
 * (all when NULL) that fit the budget; *more says whether names past them are left for
 * another pass, *total what all the names after `after` cost. limit: the smallest name
 * left out so far; every name below it is kept, so the next pass, after the largest
 * kept, misses none. The directory stream is closed before the caller walks the names:
 * a level of the walk holds its names and its descriptor, nothing more (a DIR per level
 * made a tree 600 levels deep run out of descriptors). */
static int sg_dir_read_batch(sg_tree_walk *w, int dfd, const char *after, size_t budget, sg_dir_batch *b,
			     bool *more, size_t *total, sg_error *err)
{
	/* the DIR works on its own open file: dfd stays ours, its offset untouched */
	int own = SG_RETRY(openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_NOCTTY | O_CLOEXEC));
	if (own < 0)
		return sg_error_set(err, SG_ERR_INPUT, errno, "open %s", sg_walk_printable(w));
	__attribute__((cleanup(sg_dir_closep))) DIR *dir = fdopendir(own);
	if (!dir) {
		int e = errno;
		close(own);
		return sg_error_set(err, SG_ERR_INPUT, e, "opendir %s", sg_walk_printable(w));
	}
	sg_autofree char *limit = NULL;
	*total = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(dir);
		if (!de) {
			if (errno)
				return sg_error_set(err, SG_ERR_INPUT, errno, "readdir %s", sg_walk_printable(w));
			break;
		}
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (after && strcmp(name, after) <= 0)
			continue;
		size_t cost = SG_DIR_NAME_COST(strlen(name));
		*total += cost;
		if (limit && strcmp(name, limit) >= 0)
			continue;
		if (b->n && b->bytes + cost > budget) {
			if (strcmp(name, b->name[0]) > 0) {
				free(limit); /* the name is below the old limit: checked above */
				limit = sg_xstrdup(name);
				continue;
			}
			/* the largest kept make room (the name goes in even when one is not enough:
			 * the budget bounds what is held within a name's length) */
			while (b->n && b->bytes + cost > budget && strcmp(b->name[0], name) > 0) {
				free(limit);
				limit = sg_heap_pop(b);
			}
		}
		sg_heap_push(b, sg_xstrdup(name));
	}
	if (b->n)
		qsort(b->name, b->n, sizeof(*b->name), sg_name_cmp);
	*more = limit != NULL;
	return 0;
}

static int sg_walk_dir(sg_tree_walk *w, int dfd, sg_error *err)
{
	size_t parent_len = w->path.len;
	sg_autofree char *after = NULL;
	size_t budget = w->names_budget;
	for (bool more = true; more;) {
		__attribute__((cleanup(sg_dir_batch_free))) sg_dir_batch b = {0};
		size_t total = 0;
		if (sg_dir_read_batch(w, dfd, after, budget, &b, &more, &total, err) < 0)
			return -1;
		/* a huge directory is read in at most about nine passes: past the first, each
		 * holds an eighth of what its names cost, if that is more than the budget (a
		 * fixed budget made the passes grow with the square of the directory) */
		if (!after && total / 8 > budget)
			budget = total / 8;
		for (size_t i = 0; i < b.n; i++) {
			if (w->interrupted && *w->interrupted)
				return sg_error_set(err, SG_ERR_INPUT, 0, "interrupted by a signal");
			if (parent_len)
				sg_buf_append(&w->path, "/", 1);
			sg_buf_puts(&w->path, b.name[i]);
			int rc = sg_walk_entry(w, dfd, b.name[i], err);
			w->path.len = parent_len;
			w->path.data[parent_len] = '\0';
			if (rc < 0)
				return -1;
		}
		if (!more || !b.n)
			break; /* (a pass that kept nothing left nothing out either) */
		free(after);
		after = b.name[b.n - 1];
		b.name[--b.n] = NULL; /* ours now */
		w->stats.dir_passes++;
	}
	return 0;
}

static int sg_tree_open_root(const char *root, sg_error *err)
{
	int fd = SG_RETRY(open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC));
	if (fd >= 0)
		return fd;
	int e = errno;
	struct stat st;
	/* O_NOFOLLOW | O_DIRECTORY on a symlink fails with ENOTDIR or ELOOP: say which */
	if ((e == ENOTDIR || e == ELOOP) && lstat(root, &st) == 0 && S_ISLNK(st.st_mode))
		return sg_error_set(err, SG_ERR_INPUT, 0,
				    "%s is a symbolic link; give the directory it points to",
				    root);
	return sg_error_set(err, SG_ERR_INPUT, e, "open %s", root);
}

int sg_tree_digest(const char *root, const sg_tree_digest_opts *opts,
		   char out[SG_SHA256_HEX_LEN], sg_tree_digest_stats *stats, sg_error *err)
{
	__attribute__((cleanup(sg_tree_walk_free))) sg_tree_walk w;

	if (sg_tree_walk_init(&w, opts, err) < 0)
		return sg_error_prefix(err, "tree digest of %s", root);
	sg_autoclose int fd = sg_tree_open_root(root, err);
	if (fd < 0)
		return sg_error_prefix(err, "tree digest");
	sg_sha256_add(&w.tree, sg_tree_domain, sizeof(sg_tree_domain));
	if (sg_walk_dir(&w, fd, err) < 0)
		return sg_error_prefix(err, "tree digest of %s", root);
	sg_sha256_ctx_hex(&w.tree, out);
	if (stats)
		*stats = w.stats;
	return 0;
}
