/* digest.h: SHA-256 of byte streams and of directory trees.
 *
 * The tree digest is the workspace's identity in a verdict: the same whatever the mtimes,
 * owners and the order in which directories list; it covers relative paths, file types,
 * the executable bit, symlink targets and contents. The exact algorithm is documented in
 * docs/digest.md so that another implementation can recompute it.
 */
#ifndef SHIPGATE_DIGEST_H
#define SHIPGATE_DIGEST_H

#include <shipgate/error.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SG_SHA256_HEX_LEN 65

/* Streaming SHA-256 (OpenSSL EVP underneath). */
typedef struct sg_sha256 sg_sha256;
sg_sha256 *sg_sha256_new(void);
void sg_sha256_update(sg_sha256 *h, const void *data, size_t len);
void sg_sha256_final_hex(sg_sha256 *h, char out[SG_SHA256_HEX_LEN]); /* also frees h */
void sg_sha256_hex(const void *data, size_t len, char out[SG_SHA256_HEX_LEN]);
int sg_sha256_file(const char *path, char out[SG_SHA256_HEX_LEN], sg_error *err);

typedef struct sg_tree_digest_opts {
	/* Relative paths (from the tree's root, no leading "./") of entries to leave out,
	 * with everything below them; NULL-terminated, may be NULL. ".git" and ".shipgate"
	 * at the root are always left out. */
	const char *const *exclude;
} sg_tree_digest_opts;

typedef struct sg_tree_digest_stats {
	uint64_t files, dirs, symlinks, bytes;
	uint64_t special; /* fifos, sockets, devices: recorded by type only, never opened */
} sg_tree_digest_stats;

/* Digest the tree at root (never following symlinks, never leaving the tree).
 * stats may be NULL. */
int sg_tree_digest(const char *root, const sg_tree_digest_opts *opts,
		   char out[SG_SHA256_HEX_LEN], sg_tree_digest_stats *stats, sg_error *err);

#endif
