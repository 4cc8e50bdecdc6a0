/* changes.c: see changes.h. */
#include "changes.h"
#include "digest.h"
#include "evidence.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

/* What the candidate controls here is the shape of the tree, so the scan bounds its own
 * work. Deeper than SG_CHANGES_MAX_DEPTH, what the steps wrote is counted as one
 * truncated change (too_deep): a candidate that nests thousands of directories must not
 * exhaust our stack or our descriptors. Files are hashed within a budget of
 * SG_CHANGES_HASH_BUDGET bytes (a sparse file of a terabyte costs the step nothing and
 * would cost us hours): a file that does not fit what is left is listed with its size
 * but without a digest. The watched globs are matched against every change, stored or
 * not, so that neither max nor the order of the listing can hide one. */
typedef struct scan_ctx {
	sg_changes *out;
	size_t max;
	size_t cap;        /* out->items' room: it grows with what is found, up to max */
	size_t path_bytes; /* of the paths listed so far, up to SG_CHANGES_PATH_BUDGET */
	bool paths_full;   /* a path did not fit in it: nothing after it is listed */
	bool hash;
	char *const *watch;
	uint64_t hash_left;
	sg_error *err;
	unsigned depth;
	const sg_protect_dirs *dirs;
} scan_ctx;

static void fill_change(sg_change *c, const char *path, sg_change_kind kind, const struct stat *st,
			const char *sha)
{
	c->path = sg_xstrdup(path);
	c->kind = kind;
	c->size = (uint64_t)st->st_size;
	c->mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec;
	snprintf(c->sha256, sizeof(c->sha256), "%s", sha ? sha : "");
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_change(scan_ctx *sc, const char *path, sg_change_kind kind, const struct stat *st,
		       const char *sha)
{
	if (sc->watch && !sc->out->watched.path)
		for (size_t g = 0; sc->watch[g]; g++)
			if (sg_glob_match(sc->watch[g], path)) {
				fill_change(&sc->out->watched, path, kind, st, sha);
				break;
			}
	/* every change kind here replaces what was at path (a new directory is reported
	 * only when opaque): if protected paths were below it, they are gone */
	if (sc->dirs && sc->dirs->n && !sc->out->watched.path &&
	    bsearch(&path, sc->dirs->dirs, sc->dirs->n, sizeof(char *), str_cmp))
		fill_change(&sc->out->watched, path, kind, st, sha);
	if (kind == SG_CHANGE_FILE && sha && sha[0] == '\0')
		sc->out->unhashed++;
	sc->out->total++;
	size_t plen = strlen(path) + 1;
	if (sc->out->n >= sc->max || sc->paths_full || sc->path_bytes + plen > SG_CHANGES_PATH_BUDGET) {
		/* from the first that does not fit, the rest are counted, none listed: no gaps */
		sc->paths_full = sc->out->n < sc->max;
		sc->out->truncated = true;
		return;
	}
	sc->path_bytes += plen;
	if (sc->out->n == sc->cap) {
		sc->cap = sc->cap * 2 < sc->max ? sc->cap * 2 : sc->max;
		sc->out->items = sg_xrealloc(sc->out->items, sc->cap * sizeof(*sc->out->items));
	}
	fill_change(&sc->out->items[sc->out->n++], path, kind, st, sha);
}

/* Out of scan_dir, so that its buffer is not on the stack of every level of the walk. */
__attribute__((noinline)) static void add_symlink(scan_ctx *sc, int dfd, const char *name, const char *path,
						  const struct stat *st)
{
	char target[4096];
	ssize_t n = readlinkat(dfd, name, target, sizeof(target));
	char sha[SG_SHA256_HEX_LEN];
	sg_sha256_hex(target, n > 0 ? (size_t)n : 0, sha);
	add_change(sc, path, SG_CHANGE_SYMLINK, st, sha);
}

static int scan_dir(scan_ctx *sc, int dfd, const char *prefix)
{
	int lfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lfd < 0)
		return sg_error_set(sc->err, SG_ERR_INTERNAL, errno, "changes: open %s", prefix[0] ? prefix : ".");
	DIR *d = fdopendir(lfd);
	if (!d) {
		close(lfd);
		return sg_error_set(sc->err, SG_ERR_INTERNAL, errno, "changes: opendir");
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		sg_autofree char *path = prefix[0] ? sg_xasprintf("%s/%s", prefix, name) : sg_xstrdup(name);
		struct stat st;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			char sha[SG_SHA256_HEX_LEN] = "";
			if (sc->hash && (uint64_t)st.st_size <= sc->hash_left) {
				sc->hash_left -= (uint64_t)st.st_size;
				sg_autoclose int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
				if (fd >= 0 && sg_sha256_fd(fd, sha, NULL) < 0)
					sha[0] = '\0';
			}
			add_change(sc, path, SG_CHANGE_FILE, &st, sc->hash ? sha : NULL);
		} else if (S_ISLNK(st.st_mode)) {
			add_symlink(sc, dfd, name, path, &st);
		} else if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
			add_change(sc, path, SG_CHANGE_DELETED, &st, NULL);
		} else if (S_ISDIR(st.st_mode)) {
			sg_autoclose int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				continue;
			/* a directory of the upper layer is a change only if it is new: an
			 * empty directory that exists only here, or one marked opaque */
			char opaque[4];
			bool is_opaque = fgetxattr(sub, "user.overlay.opaque", opaque, sizeof(opaque)) > 0 ||
					 fgetxattr(sub, "trusted.overlay.opaque", opaque, sizeof(opaque)) > 0;
			if (is_opaque)
				add_change(sc, path, SG_CHANGE_DIR, &st, NULL);
			if (sc->depth >= SG_CHANGES_MAX_DEPTH) {
				sc->out->truncated = true;
				sc->out->too_deep = true;
				sc->out->total++;
				continue;
			}
			sc->depth++;
			rc = scan_dir(sc, sub, path);
			sc->depth--;
		}
	}
	closedir(d);
	return rc;
}

static int change_cmp(const void *a, const void *b)
{
	return strcmp(((const sg_change *)a)->path, ((const sg_change *)b)->path);
}

int sg_changes_scan(const char *upper, size_t max, bool hash, char *const *watch, sg_changes *out,
		    sg_error *err)
{
	return sg_changes_scan_watch(upper, max, hash, watch, NULL, out, err);
}

int sg_changes_scan_watch(const char *upper, size_t max, bool hash, char *const *watch,
			  const sg_protect_dirs *dirs, sg_changes *out, sg_error *err)
{
	memset(out, 0, sizeof(*out));
	size_t cap = max < 16 ? (max ? max : 1) : 16;
	out->items = sg_xcalloc(cap, sizeof(*out->items));
	sg_autoclose int fd = open(upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return sg_error_set(err, SG_ERR_INTERNAL, errno, "changes: open %s", upper);
	scan_ctx sc = {.out = out, .max = max, .cap = cap, .hash = hash, .watch = watch, .hash_left = SG_CHANGES_HASH_BUDGET,
		       .err = err, .dirs = dirs};
	if (scan_dir(&sc, fd, "") < 0)
		return -1;
	qsort(out->items, out->n, sizeof(*out->items), change_cmp);
	return 0;
}

/* The walk of sg_protect_dirs_scan: every entry's path is matched; a match adds its
 * ancestors. */
static bool protect_dirs_is_last(const sg_protect_dirs *p, const char *path, size_t len)
{
	return p->n && strlen(p->dirs[p->n - 1]) == len && !memcmp(p->dirs[p->n - 1], path, len);
}

static void protect_dirs_add(sg_protect_dirs *p, const char *path, size_t len)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->dirs = sg_xrealloc(p->dirs, p->cap * sizeof(*p->dirs));
	}
	p->dirs[p->n++] = sg_xstrndup(path, len);
}

static int protect_walk(int dfd, const char *prefix, unsigned depth, char *const *globs, sg_protect_dirs *p,
			uint64_t *entries, sg_error *err)
{
	if (depth > SG_CHANGES_MAX_DEPTH)
		return sg_error_set(err, SG_ERR_USAGE, 0, "protect: %s nests deeper than %u levels", prefix,
				    (unsigned)SG_CHANGES_MAX_DEPTH);
	int lfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (!d) {
		if (lfd >= 0)
			close(lfd);
		return sg_error_set(err, SG_ERR_USAGE, errno, "protect: open %s", prefix[0] ? prefix : ".");
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (++*entries > SG_PROTECT_MAX_ENTRIES) {
			rc = sg_error_set(err, SG_ERR_USAGE, 0, "protect: the workspace has more than %u entries",
					  (unsigned)SG_PROTECT_MAX_ENTRIES);
			break;
		}
		sg_autofree char *path = prefix[0] ? sg_xasprintf("%s/%s", prefix, name) : sg_xstrdup(name);
		for (size_t g = 0; globs[g]; g++)
			if (sg_glob_match(globs[g], path)) {
				const char *last_slash = strrchr(path, '/');
				if (!last_slash || protect_dirs_is_last(p, path, (size_t)(last_slash - path)))
					break; /* no ancestors, or the ones of the last match */
				for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/'))
					protect_dirs_add(p, path, (size_t)(s - path));
				break;
			}
		bool is_dir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;
			is_dir = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
		}
		if (!is_dir)
			continue;
		sg_autoclose int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		rc = protect_walk(sub, path, depth + 1, globs, p, entries, err);
	}
	closedir(d);
	return rc;
}

int sg_protect_dirs_scan(const char *root, char *const *globs, sg_protect_dirs *out, sg_error *err)
{
	memset(out, 0, sizeof(*out));
	if (!globs || !globs[0])
		return 0;
	sg_autoclose int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return sg_error_set(err, SG_ERR_USAGE, errno, "protect: open %s", root);
	uint64_t entries = 0;
	if (protect_walk(fd, "", 0, globs, out, &entries, err) < 0) {
		sg_protect_dirs_free(out);
		return -1;
	}
	if (out->n) /* no list at all when nothing matched: qsort(NULL, 0) is undefined */
		qsort(out->dirs, out->n, sizeof(*out->dirs), str_cmp);
	size_t w = 0;
	for (size_t i = 0; i < out->n; i++) {
		if (w && !strcmp(out->dirs[w - 1], out->dirs[i]))
			free(out->dirs[i]);
		else
			out->dirs[w++] = out->dirs[i];
	}
	out->n = w;
	return 0;
}

void sg_protect_dirs_free(sg_protect_dirs *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->dirs[i]);
	free(p->dirs);
	memset(p, 0, sizeof(*p));
}

void sg_changes_free(sg_changes *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->items[i].path);
	free(c->items);
	free(c->watched.path);
	memset(c, 0, sizeof(*c));
}

static const char *kind_name(sg_change_kind k)
{
	switch (k) {
	case SG_CHANGE_FILE: return "file";
	case SG_CHANGE_SYMLINK: return "symlink";
	case SG_CHANGE_DELETED: return "deleted";
	case SG_CHANGE_DIR: return "directory";
	default: return "file";
	}
}

cJSON *sg_change_json(const sg_change *ch)
{
	cJSON *o = cJSON_CreateObject();
	sg_autofree char *clean = sg_utf8_sanitize(ch->path, strlen(ch->path));
	cJSON_AddStringToObject(o, "path", clean);
	cJSON_AddStringToObject(o, "kind", kind_name(ch->kind));
	if (ch->kind == SG_CHANGE_FILE && !ch->sha256[0])
		cJSON_AddNullToObject(o, "sha256"); /* past the hashing budget, or unreadable */
	else if (ch->kind == SG_CHANGE_FILE || ch->kind == SG_CHANGE_SYMLINK)
		cJSON_AddStringToObject(o, "sha256", ch->sha256);
	if (ch->kind == SG_CHANGE_FILE)
		cJSON_AddNumberToObject(o, "size", (double)ch->size);
	return o;
}

/* Match one component pattern against one component (no '/'). */
static bool match_component(const char *pat, size_t pl, const char *s, size_t sl)
{
	char p[1024], t[1024];
	if (pl >= sizeof(p) || sl >= sizeof(t))
		return false;
	memcpy(p, pat, pl);
	p[pl] = '\0';
	memcpy(t, s, sl);
	t[sl] = '\0';
	return fnmatch(p, t, FNM_PERIOD) == 0;
}

static bool glob_rec(const char *pat, const char *path)
{
	if (*pat == '\0')
		return *path == '\0';
	const char *pend = strchr(pat, '/');
	size_t pl = pend ? (size_t)(pend - pat) : strlen(pat);
	const char *pnext = pend ? pend + 1 : pat + pl;
	if (pl == 2 && pat[0] == '*' && pat[1] == '*') {
		/* zero components, or one more and stay on '**' */
		if (glob_rec(pnext, path))
			return true;
		if (*pnext == '\0' && *path)
			return true; /* trailing '**' matches everything below */
		const char *send = strchr(path, '/');
		if (!*path)
			return false;
		return glob_rec(pat, send ? send + 1 : path + strlen(path));
	}
	if (*path == '\0')
		return false;
	const char *send = strchr(path, '/');
	size_t sl = send ? (size_t)(send - path) : strlen(path);
	if (!match_component(pat, pl, path, sl))
		return false;
	const char *snext = send ? send + 1 : path + sl;
	if (!pend)
		return send == NULL;
	return glob_rec(pnext, snext);
}

bool sg_glob_match(const char *pattern, const char *path)
{
	while (pattern[0] == '.' && pattern[1] == '/')
		pattern += 2;
	if (!strchr(pattern, '/')) {
		/* a bare name matches that name in any directory, and what is below it */
		for (const char *p = path;;) {
			const char *slash = strchr(p, '/');
			size_t l = slash ? (size_t)(slash - p) : strlen(p);
			if (match_component(pattern, strlen(pattern), p, l))
				return true;
			if (!slash)
				return false;
			p = slash + 1;
		}
	}
	if (glob_rec(pattern, path))
		return true;
	/* a pattern naming a directory also covers what is inside it */
	for (const char *slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
		sg_autofree char *ancestor = sg_xstrndup(path, (size_t)(slash - path));
		if (glob_rec(pattern, ancestor))
			return true;
	}
	return false;
}

bool sg_changes_match_one(char *const *globs, const char *path)
{
	for (size_t g = 0; globs && globs[g]; g++)
		if (sg_glob_match(globs[g], path))
			return true;
	return false;
}

const sg_change *sg_changes_match(const sg_changes *c, char *const *globs)
{
	for (size_t i = 0; i < c->n; i++)
		for (size_t g = 0; globs && globs[g]; g++)
			if (sg_glob_match(globs[g], c->items[i].path))
				return &c->items[i];
	return NULL;
}
