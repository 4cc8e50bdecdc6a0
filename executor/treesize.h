/* treesize.h: how much disk a directory tree a sandbox is writing takes, walked without
 * ever following a path it could change.
 *
 * The scratch layer's watcher (supervisor.c) sums the tree every second while the step
 * writes it. A walk by path (nftw) can be steered: a directory swapped for a symbolic
 * link between its lstat and its opendir is followed, into the host's files (CPU spent
 * as root, and the host's sizes leak through whether the limit is hit). This walk holds
 * one directory descriptor at a time: a child is opened relative to its parent with
 * O_NOFOLLOW and must be the inode lstat saw; the way back up is the child's "..",
 * which must be the parent's inode, and reading resumes at the parent's getdents
 * cookie. No path below the root is ever resolved, depth costs 24 bytes a level and no
 * descriptor, and a tree moved under the walk ends it (partial, never wrong-footed). */
#ifndef SHIPGATE_TREESIZE_H
#define SHIPGATE_TREESIZE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
	uint64_t max_entries; /* stop (incomplete) after this many; 0: no bound */
	uint32_t max_depth;   /* levels below the root; deeper is too_deep; 0: 65,536 */
	unsigned attempts;    /* walks tried while the tree moves under them; 0: 3 */
	unsigned held_levels; /* levels whose descriptor is kept while below them; 0: 24
			       * (deeper ones are found again through ".."; tests: 1) */
	/* tests: called with each directory's descriptor before it is read */
	void (*on_dir)(void *arg, int dirfd, unsigned depth);
	void *arg;
} sg_tree_usage_opts;

typedef struct {
	uint64_t bytes;   /* st_blocks * 512 of every entry on the root's filesystem */
	uint64_t entries;
	bool complete;    /* every entry seen */
	bool too_deep;    /* a directory below max_depth was met (not counted) */
	bool moved;       /* the last walk ended where a directory had been moved */
} sg_tree_usage;

/* Walk root (opened with O_NOFOLLOW); -1 with errno only when root cannot be opened.
 * When the tree moves under a walk it is walked again, up to opts->attempts times; the
 * largest sum seen is kept. */
int sg_tree_usage_walk(const char *root, const sg_tree_usage_opts *opts, sg_tree_usage *u);

#endif
