/* changes.h: what the steps wrote into /workspace, read from the overlay's upper layer
 * after they ran (never from what the candidate says), and the `protect` globs that
 * nothing may touch.
 *
 * An entry of the upper layer is a change: a regular file (created or modified; sha256
 * of its contents), a symlink (its target), a directory that was created or made opaque,
 * or a whiteout (a char device 0:0: the path was deleted). Nothing is followed and
 * nothing outside the layer is read. */
#ifndef SHIPGATE_CHANGES_H
#define SHIPGATE_CHANGES_H

#include <shipgate/error.h>

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sg_change_kind { SG_CHANGE_FILE, SG_CHANGE_SYMLINK, SG_CHANGE_DELETED, SG_CHANGE_DIR } sg_change_kind;

typedef struct sg_change {
	char *path;        /* relative to /workspace, '/'-separated */
	sg_change_kind kind;
	char sha256[65];   /* files: contents; symlinks: the target string */
	uint64_t size;
	uint64_t mtime_ns;
} sg_change;

typedef struct sg_changes {
	sg_change *items;
	size_t n;
	bool truncated;    /* more than max entries or SG_CHANGES_PATH_BUDGET of paths, or too
			    * deep: the rest were counted only */
	bool too_deep;     /* a directory below SG_CHANGES_MAX_DEPTH levels was not looked into */
	uint64_t total;
	uint64_t unhashed; /* files listed without a digest (sha256 ""): over the budget */
	sg_change watched; /* the first change matching a watched glob (path NULL: none) */
} sg_changes;

/* The scan's own limits: the candidate shapes the tree it walks. */
#define SG_CHANGES_MAX_DEPTH 128u                   /* directory levels looked into */
/* bytes of paths listed (with their NULs): past it, changes are counted only. A thousand
 * paths of 256 bytes fit; a thousand of 4 KiB would hold 4 MB in the supervisor. */
#define SG_CHANGES_PATH_BUDGET (256u << 10)
#define SG_CHANGES_HASH_BUDGET (1024ull << 20)      /* bytes of file contents hashed per scan */
#define SG_PROTECT_MAX_ENTRIES 4000000u             /* workspace entries looked at for protect */

/* Scan the upper layer (a directory) into changes, sorted by path; at most max items.
 * hash: compute the sha256 of files and symlink targets (else only paths and kinds);
 * files are hashed while the budget lasts, the others keep an empty sha256. watch (NULL
 * or globs, NULL-terminated): the first change matching one is kept in out->watched,
 * whether or not it is among the max stored. */
int sg_changes_scan(const char *upper, size_t max, bool hash, char *const *watch, sg_changes *out,
		    sg_error *err);
void sg_changes_free(sg_changes *c);
/* A change as the statement lists it. */
cJSON *sg_change_json(const sg_change *ch);

/* Glob match of a '/'-separated relative path: '*' and '?' stay within one component,
 * '**' as a whole component matches any number of components (zero included), [...]
 * is a character class. A pattern without '/' matches that name anywhere. */
bool sg_glob_match(const char *pattern, const char *path);

/* The directories holding paths that match the globs in the tree at root, before the job
 * (sorted, unique, relative): deleting or replacing one of them (a whiteout, a symlink,
 * a file or an opaque directory in its place) changes what is protected below it, which
 * no glob matches by itself. -1 with err set if the tree cannot be walked whole. */
typedef struct sg_protect_dirs {
	char **dirs;
	size_t n, cap;
} sg_protect_dirs;
int sg_protect_dirs_scan(const char *root, char *const *globs, sg_protect_dirs *out, sg_error *err);
void sg_protect_dirs_free(sg_protect_dirs *p);
/* As sg_changes_scan, and the deletion or replacement of one of dirs is watched too. */
int sg_changes_scan_watch(const char *upper, size_t max, bool hash, char *const *watch,
			  const sg_protect_dirs *dirs, sg_changes *out, sg_error *err);

/* Does path match one of the globs (NULL-terminated)? */
bool sg_changes_match_one(char *const *globs, const char *path);

/* The first change (path) matching one of the globs, or NULL. */
const sg_change *sg_changes_match(const sg_changes *c, char *const *globs);

#endif
