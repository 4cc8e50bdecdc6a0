/* test_treesize.c: the scratch layer's size walk (executor/treesize.c).
 *
 * It must count what a plain walk counts on a tree that holds still, at any depth (a
 * walk that kept a descriptor per level stopped at 400 levels, and a tree deeper than
 * that escaped limits.scratch_mb), never follow a symbolic link, and, when a directory
 * it is in is moved, neither count the wrong place nor give up for good. */
#include "tap.h"
#include "treesize.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[] = "/tmp/sg-treesize.XXXXXX";

static void write_file(const char *path, size_t bytes)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	char block[4096];
	memset(block, 'x', sizeof(block));
	for (size_t done = 0; fd >= 0 && done < bytes; done += sizeof(block))
		if (write(fd, block, bytes - done < sizeof(block) ? bytes - done : sizeof(block)) < 0)
			break;
	if (fd >= 0)
		close(fd);
}

static uint64_t ref_bytes;
static int ref_visit(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)p, (void)flag, (void)f;
	ref_bytes += (uint64_t)st->st_blocks * 512u;
	return 0;
}
static uint64_t reference(const char *root)
{
	ref_bytes = 0;
	nftw(root, ref_visit, 16, FTW_PHYS | FTW_MOUNT);
	return ref_bytes;
}

static void rm_rf(const char *path)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", path);
}

static void test_still_tree(void)
{
	char root[256], p[512];
	snprintf(root, sizeof(root), "%s/still", base);
	mkdir(root, 0755);
	for (int i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "%s/d%d", root, i);
		mkdir(p, 0755);
		for (int j = 0; j < 40; j++) {
			snprintf(p, sizeof(p), "%s/d%d/f%d", root, i, j);
			write_file(p, (size_t)(j * 1000 + 1));
		}
		snprintf(p, sizeof(p), "%s/d%d/sub", root, i);
		mkdir(p, 0755);
		snprintf(p, sizeof(p), "%s/d%d/sub/big", root, i);
		write_file(p, 100000);
	}
	/* a link to a large directory elsewhere: not followed */
	snprintf(p, sizeof(p), "%s/usr", root);
	if (symlink("/usr", p) < 0)
		tap_ok(false, "symlink: %s", strerror(errno));
	sg_tree_usage u;
	int rc = sg_tree_usage_walk(root, NULL, &u);
	uint64_t want = reference(root);
	tap_ok(rc == 0 && u.complete && !u.moved && !u.too_deep, "a tree that holds still is walked whole");
	tap_ok(u.bytes == want, "its size is what nftw -P counts: %llu (nftw %llu)", (unsigned long long)u.bytes,
	       (unsigned long long)want);
	tap_ok(u.entries == 1 + 5 * (1 + 40 + 1 + 1) + 1, "every entry is counted once, the link too (%llu)",
	       (unsigned long long)u.entries);
	tap_ok(u.bytes < (20u << 20), "the link to /usr was not followed (%llu bytes)", (unsigned long long)u.bytes);

	sg_tree_usage_opts few = {.max_entries = 50};
	rc = sg_tree_usage_walk(root, &few, &u);
	tap_ok(rc == 0 && !u.complete && u.entries == 51, "max_entries stops the walk, incomplete (%llu)",
	       (unsigned long long)u.entries);

	snprintf(p, sizeof(p), "%s/usr", root);
	rc = sg_tree_usage_walk(p, NULL, &u);
	int e = errno;
	tap_ok(rc < 0 && (e == ELOOP || e == ENOTDIR), "a root that is a symbolic link is not opened (%s)",
	       strerror(e));
	rm_rf(root);
}

/* levels directories named `name`, each in the one before, below root: the bottom one
 * open (by descriptor: the path would be too long for a path), or -1 */
static int make_chain(const char *root, const char *name, int levels)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < levels && fd >= 0; i++) {
		mkdirat(fd, name, 0755);
		int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		fd = next;
	}
	return fd;
}

/* 3,000 levels, a 1 MB file at the bottom: counted, with no descriptor per level */
static void test_deep_tree(void)
{
	char root[256];
	snprintf(root, sizeof(root), "%s/deep", base);
	mkdir(root, 0755);
	int fd = make_chain(root, "level", 3000);
	int file = fd >= 0 ? openat(fd, "bottom", O_WRONLY | O_CREAT | O_CLOEXEC, 0644) : -1;
	char block[4096];
	memset(block, 'y', sizeof(block));
	for (int i = 0; file >= 0 && i < 256; i++)
		if (write(file, block, sizeof(block)) < 0)
			break;
	if (file >= 0)
		close(file);
	if (fd >= 0)
		close(fd);
	sg_tree_usage u;
	int rc = sg_tree_usage_walk(root, NULL, &u);
	tap_ok(rc == 0 && u.complete && !u.too_deep && u.entries == 3002,
	       "a 3,000-level tree is walked to the bottom (%llu entries)", (unsigned long long)u.entries);
	tap_ok(u.bytes >= (1u << 20), "and the megabyte at its bottom counts (%llu bytes)", (unsigned long long)u.bytes);
	sg_tree_usage_opts shallow = {.max_depth = 100};
	rc = sg_tree_usage_walk(root, &shallow, &u);
	tap_ok(rc == 0 && u.too_deep && !u.complete, "deeper than max_depth is too_deep, not silently skipped");
	/* rm -rf manages 3,000 levels */
	rm_rf(root);
}

/* While the walk is in moving/a/b, the step moves b to the top and puts a symbolic link
 * to a large host directory where a was: the way back up through ".." is no longer a,
 * the walk starts again, and the host directory is never counted. */
static char moving_root[256];
static int hook_calls;
static void move_under_walk(void *arg, int dirfd, unsigned depth)
{
	(void)arg, (void)dirfd;
	if (depth != 2 || hook_calls++)
		return;
	char from[512], to[512];
	snprintf(from, sizeof(from), "%s/a/b", moving_root);
	snprintf(to, sizeof(to), "%s/b-moved", moving_root);
	if (rename(from, to) < 0)
		fprintf(stderr, "# rename: %s\n", strerror(errno));
	snprintf(from, sizeof(from), "%s/a", moving_root);
	snprintf(to, sizeof(to), "%s/a-moved", moving_root);
	if (rename(from, to) < 0 || symlink("/usr", from) < 0)
		fprintf(stderr, "# swap: %s\n", strerror(errno));
}

static void moved_case(unsigned window)
{
	char p[600];
	hook_calls = 0;
	snprintf(moving_root, sizeof(moving_root), "%s/moving", base);
	mkdir(moving_root, 0755);
	snprintf(p, sizeof(p), "%s/a", moving_root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/a/b", moving_root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/a/b/data", moving_root);
	write_file(p, 300000);
	snprintf(p, sizeof(p), "%s/a/other", moving_root);
	write_file(p, 50000);
	/* window 1, one pinned level: a is closed while the walk is in b, found again
	 * through b's "..", which is the top now */
	sg_tree_usage_opts o = {.on_dir = move_under_walk, .pinned_levels = 1, .window_levels = window};
	sg_tree_usage u;
	int rc = sg_tree_usage_walk(moving_root, &o, &u);
	uint64_t want = reference(moving_root);
	tap_ok(hook_calls == 1, "window %u: the tree was moved during the walk", window);
	if (window == 1) {
		tap_ok(rc == 0 && u.complete && !u.moved, "window 1: the walk noticed and walked the moved tree again");
		tap_ok(u.bytes == want && u.entries == 6,
		       "window 1: counting what is there (%llu bytes, %llu entries; nftw now %llu), never /usr",
		       (unsigned long long)u.bytes, (unsigned long long)u.entries, (unsigned long long)want);
	} else {
		/* a's descriptor was kept: the walk goes on in a (now a-moved) */
		tap_ok(rc == 0 && u.complete, "window %u: the walk ends", window);
		tap_ok(u.bytes >= 300000 && u.bytes <= want && u.bytes < (20u << 20),
		       "window %u: what it counts lies in the tree (%llu bytes; nftw now %llu), never /usr", window,
		       (unsigned long long)u.bytes, (unsigned long long)want);
	}
	rm_rf(moving_root);
}

static void test_moved_under_walk(void)
{
	moved_case(1);
	moved_case(24);
}

/* A step that moves a directory under every walk (renaming it back and forth, as fast as
 * it can) must not make the watcher give up counting: the walk goes on from the deepest
 * level it holds, so a large file elsewhere is counted, and it says the tree moved at
 * every attempt (the watcher then counts the layer as over its limit). */
static char trap_root[256];
static unsigned trap_moves;
static void move_every_time(void *arg, int dirfd, unsigned depth)
{
	(void)arg, (void)dirfd;
	if (depth != 3)
		return;
	char from[600], to[600];
	/* trap/x/y is walked now (depth 3); x is closed (window 1): move it away and back
	 * under another name, so that y's ".." is no longer the x the walk left */
	snprintf(from, sizeof(from), "%s/trap/x", trap_root);
	snprintf(to, sizeof(to), "%s/trap-moved-%u", trap_root, trap_moves++);
	char again[640];
	snprintf(again, sizeof(again), "%s/y", from);
	if (rename(from, to) < 0 || mkdir(from, 0755) < 0 || mkdir(again, 0755) < 0)
		fprintf(stderr, "# move: %s\n", strerror(errno));
}

static void test_moved_every_time(void)
{
	char p[600];
	snprintf(trap_root, sizeof(trap_root), "%s/trap-tree", base);
	mkdir(trap_root, 0755);
	snprintf(p, sizeof(p), "%s/trap", trap_root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/trap/x", trap_root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/trap/x/y", trap_root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/big", trap_root);
	write_file(p, 4u << 20);
	sg_tree_usage_opts o = {.on_dir = move_every_time, .pinned_levels = 1, .window_levels = 1};
	sg_tree_usage u;
	int rc = sg_tree_usage_walk(trap_root, &o, &u);
	tap_ok(rc == 0 && trap_moves == 3, "a directory moved under each of the 3 walks (%u moves)", trap_moves);
	tap_ok(u.moved && !u.complete, "the walk says so: moved, incomplete");
	tap_ok(u.bytes >= (4u << 20), "and the 4 MB file beside the trap is counted all the same (%llu bytes)",
	       (unsigned long long)u.bytes);
	rm_rf(trap_root);
}

/* A wide directory deep down is read once, not once per child: 2,000 subdirectories at
 * depth 40 (below the pinned levels and the window) */
static void test_wide_deep_directory(void)
{
	char root[256];
	snprintf(root, sizeof(root), "%s/wide", base);
	mkdir(root, 0755);
	int fd = make_chain(root, "l", 40);
	for (int i = 0; fd >= 0 && i < 2000; i++) {
		char name[32];
		snprintf(name, sizeof(name), "sub%d", i);
		mkdirat(fd, name, 0755);
	}
	if (fd >= 0)
		close(fd);
	sg_tree_usage u;
	int rc = sg_tree_usage_walk(root, NULL, &u);
	uint64_t want = reference(root);
	tap_ok(rc == 0 && u.complete && u.bytes == want && u.entries == 1 + 40 + 2000,
	       "a wide directory 40 levels down: walked whole (%llu entries, %llu bytes, nftw %llu)",
	       (unsigned long long)u.entries, (unsigned long long)u.bytes, (unsigned long long)want);
	tap_ok(u.reopened <= 40, "its levels found again through \"..\" %llu times (not once per subdirectory)",
	       (unsigned long long)u.reopened);
	rm_rf(root);
}

/* held and found-again levels give the same figures */
static void test_held_or_not(void)
{
	sg_tree_usage a, b, c;
	sg_tree_usage_opts one = {.pinned_levels = 1, .window_levels = 1};
	sg_tree_usage_opts two = {.pinned_levels = 1, .window_levels = 2};
	int ra = sg_tree_usage_walk("/usr/include", NULL, &a);
	int rb = sg_tree_usage_walk("/usr/include", &one, &b);
	int rc = sg_tree_usage_walk("/usr/include", &two, &c);
	uint64_t want = reference("/usr/include");
	tap_ok(ra == 0 && rb == 0 && rc == 0 && a.complete && b.complete && c.complete && a.bytes == want &&
		       b.bytes == want && c.bytes == want && a.entries == b.entries && a.entries == c.entries,
	       "/usr/include: %llu bytes held, %llu and %llu with windows of 1 and 2 (%llu reopened), nftw %llu",
	       (unsigned long long)a.bytes, (unsigned long long)b.bytes, (unsigned long long)c.bytes,
	       (unsigned long long)b.reopened, (unsigned long long)want);
}

int main(void)
{
	if (!mkdtemp(base)) {
		tap_ok(false, "mkdtemp: %s", strerror(errno));
		return tap_done();
	}
	test_still_tree();
	test_deep_tree();
	test_moved_under_walk();
	test_moved_every_time();
	test_wide_deep_directory();
	test_held_or_not();
	rm_rf(base);
	return tap_done();
}
