/* treesize.c: see treesize.h. */
#include "treesize.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The first held_levels levels (HELD_MAX unless a test says fewer) keep their descriptor and what getdents returned across a walk
 * below them (re-reading a directory is costly: ext4 hashes it again); deeper levels are
 * closed on the way down and found again through "..". */
#define HELD_MAX 24
#define DIRBUF 4096

struct level {
	dev_t dev;
	ino_t ino;
	off_t resume; /* unheld: getdents cookie just past the child being walked */
};

struct held {
	int fd;
	long n, off; /* what buf holds, and how far it has been read */
	_Alignas(8) char buf[DIRBUF];
};

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

enum walk_end { WALK_DONE, WALK_MOVED, WALK_STOPPED };

static int open_dir_at(int at, const char *name)
{
	int fd;
	do
		fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	while (fd < 0 && errno == EINTR);
	return fd;
}

static long read_dir(int fd, char *buf, size_t cap)
{
	long n;
	do
		n = syscall(SYS_getdents64, fd, buf, cap);
	while (n < 0 && errno == EINTR);
	return n;
}

typedef struct {
	const sg_tree_usage_opts *o;
	const struct stat *root_st;
	uint32_t max_depth;
	unsigned held_levels;
	struct level *levels; /* [depth]: the directory at that depth */
	size_t cap;
	struct held *held;    /* [depth] for depth < held_levels */
	struct held deep;     /* the one directory deeper being read */
} walker;

static enum walk_end walk_once(walker *w, int root_fd, sg_tree_usage *u)
{
	const sg_tree_usage_opts *o = w->o;
	/* its own open file: a dup would share the offset the last walk left at the end */
	int fd = open_dir_at(root_fd, ".");
	if (fd < 0)
		return WALK_STOPPED;
	u->bytes = (uint64_t)w->root_st->st_blocks * 512u;
	u->entries = 1;
	unsigned depth = 0;
	w->levels[0] = (struct level){w->root_st->st_dev, w->root_st->st_ino, 0};
	w->held[0] = (struct held){.fd = fd};
	enum walk_end end = WALK_DONE;
	bool fresh = true; /* a directory just entered: tell the test hook */
	for (;;) {
		struct held *h = depth < w->held_levels ? &w->held[depth] : &w->deep;
		if (fresh && o->on_dir)
			o->on_dir(o->arg, h->fd, depth);
		fresh = false;
		if (h->off >= h->n) {
			h->n = read_dir(h->fd, h->buf, sizeof(h->buf));
			h->off = 0;
		}
		if (h->n <= 0) {
			/* this directory is done (or unreadable): back to the parent */
			if (depth == 0)
				break;
			if (depth - 1 < w->held_levels) {
				/* the parent's descriptor and buffer were kept */
				close(h->fd);
				h->fd = -1;
				depth--;
				continue;
			}
			int up = open_dir_at(h->fd, "..");
			close(h->fd);
			depth--;
			*h = (struct held){.fd = up};
			struct stat st;
			if (up < 0 || fstat(up, &st) < 0 || st.st_dev != w->levels[depth].dev ||
			    st.st_ino != w->levels[depth].ino || lseek(up, w->levels[depth].resume, SEEK_SET) < 0) {
				end = WALK_MOVED;
				break;
			}
			continue;
		}
		struct linux_dirent64 *d = (struct linux_dirent64 *)(h->buf + h->off);
		h->off += d->d_reclen;
		const char *name = d->d_name;
		if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
			continue;
		struct stat st;
		if (fstatat(h->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != w->root_st->st_dev)
			continue;
		u->bytes += (uint64_t)st.st_blocks * 512u;
		if (++u->entries > o->max_entries && o->max_entries) {
			end = WALK_STOPPED;
			break;
		}
		if (!S_ISDIR(st.st_mode))
			continue;
		if (depth + 1 > w->max_depth) {
			u->too_deep = true;
			end = WALK_STOPPED;
			break;
		}
		int child = open_dir_at(h->fd, name);
		struct stat cst;
		if (child < 0)
			continue; /* gone, or no longer a directory: nothing of it is followed */
		if (fstat(child, &cst) < 0 || cst.st_dev != st.st_dev || cst.st_ino != st.st_ino) {
			close(child); /* swapped between the two looks: not ours to walk */
			continue;
		}
		if (depth + 2 > w->cap) {
			size_t ncap = w->cap * 2;
			struct level *nl = realloc(w->levels, ncap * sizeof(*nl));
			if (!nl) {
				close(child);
				end = WALK_STOPPED;
				break;
			}
			w->levels = nl;
			w->cap = ncap;
		}
		if (depth >= w->held_levels) {
			/* not kept: found again through the child's ".." and this cookie */
			w->levels[depth].resume = (off_t)d->d_off;
			close(h->fd);
			h->fd = -1;
		}
		depth++;
		w->levels[depth] = (struct level){cst.st_dev, cst.st_ino, 0};
		struct held *c = depth < w->held_levels ? &w->held[depth] : &w->deep;
		*c = (struct held){.fd = child};
		fresh = true;
	}
	/* close whatever is still open, held levels and the deep one */
	for (unsigned i = 0; i <= depth && i < w->held_levels; i++)
		if (w->held[i].fd >= 0)
			close(w->held[i].fd);
	if (depth >= w->held_levels && w->deep.fd >= 0)
		close(w->deep.fd);
	return end;
}

int sg_tree_usage_walk(const char *root, const sg_tree_usage_opts *opts, sg_tree_usage *u)
{
	static const sg_tree_usage_opts none;
	const sg_tree_usage_opts *o = opts ? opts : &none;
	uint32_t max_depth = o->max_depth ? o->max_depth : 65536;
	unsigned attempts = o->attempts ? o->attempts : 3;
	memset(u, 0, sizeof(*u));
	int root_fd = open_dir_at(AT_FDCWD, root);
	struct stat root_st;
	if (root_fd < 0)
		return -1;
	if (fstat(root_fd, &root_st) < 0) {
		int e = errno;
		close(root_fd);
		errno = e;
		return -1;
	}
	walker w = {.o = o, .root_st = &root_st, .max_depth = max_depth, .cap = 64,
		    .held_levels = o->held_levels && o->held_levels < HELD_MAX ? o->held_levels : HELD_MAX};
	w.levels = malloc(w.cap * sizeof(*w.levels));
	w.held = calloc(w.held_levels, sizeof(*w.held));
	if (!w.levels || !w.held) {
		free(w.levels);
		free(w.held);
		close(root_fd);
		errno = ENOMEM;
		return -1;
	}
	uint64_t best = 0;
	for (unsigned i = 0; i < attempts; i++) {
		sg_tree_usage one = {0};
		enum walk_end end = walk_once(&w, root_fd, &one);
		if (one.bytes > best)
			best = one.bytes;
		*u = one;
		u->bytes = best;
		u->complete = end == WALK_DONE;
		u->moved = end == WALK_MOVED;
		if (end != WALK_MOVED)
			break;
	}
	free(w.held);
	free(w.levels);
	close(root_fd);
	return 0;
}
