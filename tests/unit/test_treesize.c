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

/* 3,000 levels, a 1 MB file at the bottom: counted, with no descriptor per level */
static void test_deep_tree(void)
{
	char root[256];
	snprintf(root, sizeof(root), "%s/deep", base);
	mkdir(root, 0755);
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < 3000 && fd >= 0; i++) {
		mkdirat(fd, "level", 0755);
		int next = openat(fd, "level", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		fd = next;
	}
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

static void moved_case(unsigned held)
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
	sg_tree_usage_opts o = {.on_dir = move_under_walk, .held_levels = held};
	sg_tree_usage u;
	int rc = sg_tree_usage_walk(moving_root, &o, &u);
	uint64_t want = reference(moving_root);
	tap_ok(hook_calls == 1, "held %u: the tree was moved during the walk", held);
	if (held == 1) {
		/* b is found again through "..", which is the top now, not a: walked again */
		tap_ok(rc == 0 && u.complete && !u.moved, "held 1: the walk noticed and walked the moved tree again");
		tap_ok(u.bytes == want && u.entries == 6,
		       "held 1: counting what is there (%llu bytes, %llu entries; nftw now %llu), never /usr",
		       (unsigned long long)u.bytes, (unsigned long long)u.entries, (unsigned long long)want);
	} else {
		/* a's descriptor was kept: the walk goes on in a (now a-moved) */
		tap_ok(rc == 0 && u.complete, "held %u: the walk ends", held);
		tap_ok(u.bytes >= 300000 && u.bytes <= want && u.bytes < (20u << 20),
		       "held %u: what it counts lies in the tree (%llu bytes; nftw now %llu), never /usr", held,
		       (unsigned long long)u.bytes, (unsigned long long)want);
	}
	rm_rf(moving_root);
}

static void test_moved_under_walk(void)
{
	moved_case(1);
	moved_case(24);
}

/* held levels and found-again levels give the same figures */
static void test_held_or_not(void)
{
	sg_tree_usage a, b;
	sg_tree_usage_opts one = {.held_levels = 1};
	int ra = sg_tree_usage_walk("/usr/include", NULL, &a);
	int rb = sg_tree_usage_walk("/usr/include", &one, &b);
	uint64_t want = reference("/usr/include");
	tap_ok(ra == 0 && rb == 0 && a.complete && b.complete && a.bytes == want && b.bytes == want &&
		       a.entries == b.entries,
	       "/usr/include: %llu bytes kept, %llu found again through \"..\", nftw %llu (%llu/%llu entries)",
	       (unsigned long long)a.bytes, (unsigned long long)b.bytes, (unsigned long long)want,
	       (unsigned long long)a.entries, (unsigned long long)b.entries);
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
	test_held_or_not();
	rm_rf(base);
	return tap_done();
}
