/* rootfs.h: root filesystem images built by `scripts/rootfs build NAME` (recipes in
 * rootfs/, format and cache layout in docs/rootfs.md), found by name in the user's cache:
 *
 *     ${XDG_CACHE_HOME:-$HOME/.cache}/shipgate/rootfs/NAME/root/           the tree
 *     ${XDG_CACHE_HOME:-$HOME/.cache}/shipgate/rootfs/NAME/manifest.json   what is in it
 *
 * Reads files, never writes them. The tree's digest is taken from the manifest, not
 * recomputed: digesting a few hundred MB at every run would cost seconds, and the tree
 * is mounted read-only in every sandbox, so only its owner on the host can change it
 * (`scripts/rootfs verify NAME` re-digests it on demand). The verdict records the
 * manifest's digest and the SHA-256 of the manifest file itself.
 */
#ifndef SHIPGATE_ROOTFS_H
#define SHIPGATE_ROOTFS_H

#include <shipgate/error.h>

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define SG_ROOTFS_NAME_MAX 64

typedef struct sg_rootfs_image {
	char *name;
	char *dir;                 /* CACHE/NAME */
	char *root;                /* canonical CACHE/NAME/root */
	char *manifest_path;       /* CACHE/NAME/manifest.json */
	char manifest_sha256[65];  /* of the manifest file's exact bytes */
	char digest[65];           /* shipgate-tree-v1 digest of root/, from the manifest */
	size_t n_packages;
	char *kind;                /* the recipe's builder: "busybox", "debootstrap" */
} sg_rootfs_image;

/* An image name: [a-z0-9][a-z0-9._-]*, at most SG_ROOTFS_NAME_MAX characters, so never a
 * path (no '/', never "." or ".."). */
bool sg_rootfs_is_name(const char *s);

/* ${XDG_CACHE_HOME:-$HOME/.cache}/shipgate/rootfs (an XDG_CACHE_HOME that is not absolute
 * is ignored, as the XDG spec says). NULL when neither gives an absolute path. */
char *sg_rootfs_cache_dir(void);

/* Find a built image by name and read its manifest. Errors (SG_ERR_USAGE) say what is
 * missing and end with the command that builds it. */
int sg_rootfs_image_open(const char *name, sg_rootfs_image *img, sg_error *err);
void sg_rootfs_image_free(sg_rootfs_image *img);

/* Every image in the cache, sorted by name: [{name, path, digest, packages}] or, for an
 * unreadable one, [{name, error}]. An empty array when there is no cache. */
cJSON *sg_rootfs_list(void);

/* ID, VERSION_ID and PRETTY_NAME of the os-release file of the tree at root ("/" for the
 * host): root/etc/os-release, else root/usr/lib/os-release, resolved inside root. NULL when
 * there is none. */
cJSON *sg_os_release(const char *root);

#endif
