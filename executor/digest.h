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
/* sha256 of no bytes: a constant, so an empty stream needs no libcrypto (exec never loads it) */
#define SG_SHA256_EMPTY_HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Streaming SHA-256 (sha256.c underneath). */
typedef struct sg_sha256 sg_sha256;
sg_sha256 *sg_sha256_new(void);
void sg_sha256_update(sg_sha256 *h, const void *data, size_t len);
void sg_sha256_final_hex(sg_sha256 *h, char out[SG_SHA256_HEX_LEN]); /* also frees h */
void sg_sha256_hex(const void *data, size_t len, char out[SG_SHA256_HEX_LEN]);
/* The digest of what c was given, in hex (c is left initialised again: sg_sha256_end). */
struct sg_sha256_ctx;
void sg_sha256_ctx_hex(struct sg_sha256_ctx *c, char out[SG_SHA256_HEX_LEN]);
int sg_sha256_file(const char *path, char out[SG_SHA256_HEX_LEN], sg_error *err);
/* SHA-256 of what fd yields from its current offset to EOF (the fd is left open). */
int sg_sha256_fd(int fd, char out[SG_SHA256_HEX_LEN], sg_error *err);

typedef struct sg_tree_digest_opts {
	/* Relative paths (from the tree's root) of entries to leave out, with everything
	 * below them; NULL-terminated, may be NULL. "./", "." components, repeated and
	 * trailing slashes are ignored ("./out/" is "out"). ".git" and ".shipgate" at the
	 * root are always left out. Excluded paths leave no trace in the digest, so whoever
	 * recomputes it must pass the same list. */
	const char *const *exclude;
	/* When it becomes non-zero (a signal handler's flag) the walk stops at the next entry
	 * and fails with errno EINTR ("interrupted"). May be NULL. */
	volatile int *interrupted;
	/* Bytes of names held at once per directory being walked (a larger directory is read
	 * in more passes, the same digest); 0: 2 MiB. Tests set it small. */
	size_t names_budget;
} sg_tree_digest_opts;

/* What the digest covered; excluded entries and the root itself are not counted. */
typedef struct sg_tree_digest_stats {
	uint64_t files, dirs, symlinks, bytes; /* bytes: sum of the regular files' sizes */
	uint64_t special; /* fifos, sockets, devices: recorded by type only, never opened */
	uint64_t dir_passes; /* passes over a directory beyond its first (names_budget) */
} sg_tree_digest_stats;

/* Digest the tree at root (never following symlinks, never leaving the tree).
 * root itself must be a directory, not a symlink to one. stats may be NULL.
 * Fails with SG_ERR_INPUT when the tree cannot be read or changes during the walk,
 * SG_ERR_USAGE when an exclude path is absolute, contains ".." or names the root. */
int sg_tree_digest(const char *root, const sg_tree_digest_opts *opts,
		   char out[SG_SHA256_HEX_LEN], sg_tree_digest_stats *stats, sg_error *err);

#endif
