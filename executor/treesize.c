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

#define PINNED_DEFAULT 8
#define WINDOW_DEFAULT 24
#define DIRBUF 4096

struct level {
	dev_t dev;
	ino_t ino;
	off_t resume; /* getdents cookie just past the child being walked */
	int slot;     /* the slot holding it, -1 when closed (found again through "..") */
};

struct slot {
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

enum walk_end { WALK_DONE, WALK_STOPPED };

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
	unsigned pinned, window;
	struct level *levels; /* [depth]: the directory at that depth on the current path */
	size_t cap;
	struct slot *slots;   /* pinned + window */
} walker;

/* Levels below the pinned ones share the window's slots round the ring: a level going
 * down takes the slot of the level `window` above it, which is closed. */
static int slot_of(const walker *w, unsigned depth)
{
	return depth < w->pinned ? (int)depth : (int)(w->pinned + (depth - w->pinned) % w->window);
}

/* One walk; *moved when a level could not be found again (its subtree skipped). */
static enum walk_end walk_once(walker *w, int root_fd, sg_tree_usage *u, bool *moved)
{
	const sg_tree_usage_opts *o = w->o;
	/* its own open file: a dup would share the offset the last walk left at the end */
	int fd = open_dir_at(root_fd, ".");
	if (fd < 0)
		return WALK_STOPPED;
	u->bytes = (uint64_t)w->root_st->st_blocks * 512u;
	u->entries = 1;
	*moved = false;
	unsigned depth = 0;
	w->levels[0] = (struct level){w->root_st->st_dev, w->root_st->st_ino, 0, 0};
	w->slots[0] = (struct slot){.fd = fd};
	enum walk_end end = WALK_DONE;
	bool fresh = true; /* a directory just entered: tell the test hook */
	for (;;) {
		struct level *l = &w->levels[depth];
		struct slot *h = &w->slots[l->slot];
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
			struct level *p = &w->levels[depth - 1];
			int up = p->slot >= 0 ? -1 : open_dir_at(h->fd, "..");
			close(h->fd);
			h->fd = -1;
			l->slot = -1;
			depth--;
			if (p->slot >= 0)
				continue; /* held: its descriptor and buffer are as they were */
			struct stat st;
			if (up >= 0 && fstat(up, &st) == 0 && st.st_dev == p->dev && st.st_ino == p->ino &&
			    lseek(up, p->resume, SEEK_SET) >= 0) {
				p->slot = slot_of(w, depth);
				w->slots[p->slot] = (struct slot){.fd = up};
				u->reopened++;
				continue;
			}
			/* moved under the walk: what is left of this subtree is not found again;
			 * go on from the deepest level still held (a pinned one at least) */
			if (up >= 0)
				close(up);
			*moved = true;
			while (w->levels[depth].slot < 0)
				depth--;
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
		l = &w->levels[depth]; /* (the array may have moved) */
		l->resume = (off_t)d->d_off;
		int cs = slot_of(w, depth + 1);
		if (depth + 1 >= w->pinned + w->window) {
			/* the level a window above gives up its slot: closed, found again later */
			struct level *evicted = &w->levels[depth + 1 - w->window];
			if (evicted->slot == cs) {
				close(w->slots[cs].fd);
				evicted->slot = -1;
			}
		}
		depth++;
		w->levels[depth] = (struct level){cst.st_dev, cst.st_ino, 0, cs};
		w->slots[cs] = (struct slot){.fd = child};
		fresh = true;
	}
	/* close what is still held on the path */
	for (unsigned i = 0; i <= depth; i++)
		if (w->levels[i].slot >= 0)
			close(w->slots[w->levels[i].slot].fd);
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
		    .pinned = o->pinned_levels ? o->pinned_levels : PINNED_DEFAULT,
		    .window = o->window_levels ? o->window_levels : WINDOW_DEFAULT};
	w.levels = malloc(w.cap * sizeof(*w.levels));
	w.slots = calloc(w.pinned + w.window, sizeof(*w.slots));
	if (!w.levels || !w.slots) {
		free(w.levels);
		free(w.slots);
		close(root_fd);
		errno = ENOMEM;
		return -1;
	}
	uint64_t best = 0;
	for (unsigned i = 0; i < attempts; i++) {
		sg_tree_usage one = {0};
		bool moved = false;
		enum walk_end end = walk_once(&w, root_fd, &one, &moved);
		if (one.bytes > best)
			best = one.bytes;
		*u = one;
		u->bytes = best;
		u->complete = end == WALK_DONE && !moved;
		u->moved = moved;
		if (!moved || end != WALK_DONE)
			break;
	}
	free(w.slots);
	free(w.levels);
	close(root_fd);
	return 0;
}
