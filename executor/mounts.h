/* mounts.h: the sandbox's filesystem view.
 *
 * Parent side (sg_mounts_prepare): check every host path the child will need, and, when
 * shipgate runs as root, make idmapped detached mounts of the writable host directories
 * so that their owner appears as the sandbox's root (detached mounts belong to no
 * namespace, so the child can attach them).
 * Child side (sg_mounts_build_root): in the child's own mount namespace, build a fresh
 * root on a tmpfs (read-only binds of the host's /usr, /bin, /lib*, a filtered /etc, or a
 * rootfs directory), /proc, a minimal /dev, a size-capped /tmp, /workspace and the extra
 * mounts, then pivot_root into it and detach the old root.
 */
#ifndef SHIPGATE_MOUNTS_H
#define SHIPGATE_MOUNTS_H

#include "job.h"
#include "userns.h"

#include <shipgate/error.h>

#include <stdbool.h>
#include <stddef.h>

typedef enum sg_workspace_mode {
	SG_WORKSPACE_NONE = 0,  /* no /workspace at all */
	SG_WORKSPACE_BIND,      /* the host directory, writable (exec's default) */
	SG_WORKSPACE_COW,       /* copy-on-write over the host directory, scratch kept */
	SG_WORKSPACE_READONLY,  /* the host directory, read-only */
} sg_workspace_mode;

/* One host directory to show inside, as prepared by the parent. */
typedef struct sg_prepared_mount {
	char *source;       /* the host directory (NULL if tree_fd is used); the child opens
			       it in its own mount namespace: open_tree cannot clone a mount
			       of another namespace */
	int tree_fd;        /* idmapped detached mount (open_tree), or -1 */
	char *target;       /* absolute path inside */
	bool readonly;
} sg_prepared_mount;

typedef struct sg_mount_plan {
	const char *rootfs;          /* NULL or "host": the host, filtered; else a directory */

	sg_workspace_mode ws_mode;
	sg_prepared_mount workspace; /* target "/workspace" */
	char *scratch;               /* COW: the directory holding upper/ and work/ */
	const char *ws_method;       /* what was used, for the verdict: "bind", "bind-idmapped",
					"overlay", "overlay-idmapped", "copy", "none" */
	sg_prepared_mount *extra;
	size_t n_extra;
	uint64_t tmp_mb;
	bool in_userns_overlay;      /* mount the overlay with userxattr */
	char *copy_dir;              /* copy fallback: the host directory holding the copy */
	char **hide;                 /* relative paths below /workspace covered by an empty,
					read-only view (NULL-terminated, may be NULL) */
} sg_mount_plan;

typedef struct sg_mount_request {
	const char *rootfs;
	const char *workspace;
	sg_workspace_mode ws_mode;
	const char *scratch_dir;     /* COW: where upper/ and work/ live (created if missing) */
	const sg_mount_spec *mounts;
	size_t n_mounts;
	uint64_t tmp_mb;
	char *const *hide;           /* see sg_mount_plan.hide */
} sg_mount_request;

int sg_mounts_prepare(const sg_mount_request *req, const sg_identity *id, sg_mount_plan *plan,
		      sg_error *err);
void sg_mounts_plan_free(sg_mount_plan *plan);

/* Host directories opened by the child in its own mount namespace (open_tree can only
 * clone mounts of the caller's namespace), before it takes its sandbox identity: until
 * then its filesystem uid is still the supervisor's, so it can traverse the same paths
 * (a 0700 home directory of root, say) without any capability over them. */
typedef struct sg_mount_sources {
	int rootfs, workspace, scratch;
	int *extra;
	size_t n_extra;
} sg_mount_sources;
int sg_mounts_sources_open(const sg_mount_plan *plan, sg_mount_sources *cs, sg_error *err);
void sg_mounts_sources_close(sg_mount_sources *cs);

/* In the child, after it has become root in its user namespace. Ends with the process's
 * root and cwd on the new root. */
int sg_mounts_build_root(const sg_mount_plan *plan, const sg_mount_sources *cs, sg_error *err);

/* Copy a tree (regular files, directories, symlinks, exec bits; no special files) into a
 * new directory dst, owned by uid:gid when those are not -1. The tree is src_dir (an
 * O_PATH descriptor will do), opened by the caller without following symlinks; src only
 * names it in messages. Below it every entry is opened relative to its parent with
 * O_NOFOLLOW. */
int sg_copy_tree(int src_dir, const char *src, const char *dst, uid_t uid, gid_t gid, sg_error *err);

#endif
