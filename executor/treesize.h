/* treesize.h: how much disk a directory tree a sandbox is writing takes, walked without
 * ever following a path it could change.
 *
 * The scratch layer's watcher (supervisor.c) sums the tree every second while the step
 * writes it. A walk by path (nftw) can be steered: a directory swapped for a symbolic
 * link between its lstat and its opendir is followed, into the host's files (CPU spent
 * as root, and the host's sizes leak through whether the limit is hit). This walk never
 * resolves a path below the root: a child is opened relative to its parent's
 * descriptor with O_NOFOLLOW and must be the inode lstat saw.
 *
 * Depth costs no descriptor: the walk keeps open the top levels (pinned) and the deepest
 * levels of the path it is on (a window that slides down with it), each with what
 * getdents gave; a level between them is closed on the way down and found again on the
 * way up through its child's "..", which must be its inode, reading on from its getdents
 * cookie. A wide directory is so read once however deep it lies (re-reading one per
 * child made ext4 hash it again each time: 8-10 x nftw), and a tree of any depth is
 * walked (one that kept a descriptor per level stopped at 400 levels, and what lay
 * deeper escaped the limit).
 *
 * A directory moved under the walk (the ".." is not the inode left) ends only its
 * subtree: the walk goes on from the deepest level it still holds, and says `moved`.
 * The caller walks again; a tree that moves under every walk is the step's doing, and
 * the watcher counts it as over its limit (a step renaming directories in a loop once
 * kept 600 MB under a 100 MB limit that way). */
#ifndef SHIPGATE_TREESIZE_H
#define SHIPGATE_TREESIZE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
	uint64_t max_entries;   /* stop (incomplete) after this many; 0: no bound */
	uint32_t max_depth;     /* levels below the root; deeper is too_deep; 0: 65,536 */
	unsigned attempts;      /* walks tried while the tree moves under them; 0: 3 */
	unsigned pinned_levels; /* top levels always held; 0: 8 (tests: 1) */
	unsigned window_levels; /* deepest levels of the path held; 0: 24 (tests: 1, 2) */
	/* tests: called with each directory's descriptor before it is read */
	void (*on_dir)(void *arg, int dirfd, unsigned depth);
	void *arg;
} sg_tree_usage_opts;

typedef struct {
	uint64_t bytes;   /* st_blocks * 512 of every entry on the root's filesystem */
	uint64_t entries;
	bool complete;    /* every entry seen, nothing moved */
	bool too_deep;    /* a directory below max_depth was met (not counted) */
	bool moved;       /* every walk tried met a directory moved under it */
	uint64_t reopened; /* levels found again through ".." (the last walk) */
} sg_tree_usage;

/* Walk root (opened with O_NOFOLLOW); -1 with errno only when root cannot be opened.
 * When the tree moves under a walk it is walked again, up to opts->attempts times; the
 * largest sum seen is kept. */
int sg_tree_usage_walk(const char *root, const sg_tree_usage_opts *opts, sg_tree_usage *u);

#endif
