/* mounts.c: the sandbox's filesystem view (see mounts.h).
 *
 * Every mount the child makes lands on a target opened with openat2(RESOLVE_IN_ROOT)
 * below the new root, so a symlink planted in a rootfs or a workspace can never send a
 * mount to a host path. Sources are fds opened by the parent before the child shadows
 * anything, and binds use open_tree + mount_setattr + move_mount so that a read-only bind
 * is read-only (with nosuid and nodev) from the moment it appears.
 */
#include "mounts.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#define SG_NEWROOT "/tmp"
#define SG_STAGING ".sg-staging"

/* Top-level entries of the host shown in the default "host" root. */
static const char *const host_dirs[] = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"};

/* Paths below /etc that the sandbox never sees, even read-only. */
static const char *const etc_hidden[] = {
	"shadow", "shadow-", "gshadow", "gshadow-", "sudoers", "sudoers.d", "subuid", "subgid",
	"subuid-", "subgid-", "ssl/private", "krb5.keytab", "security/opasswd", ".pwd.lock",
	"NetworkManager/system-connections", "wpa_supplicant", "machine-id",
};

/* Device nodes bound from the host into the minimal /dev. */
static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

static int sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
	struct open_how how = {.flags = flags, .mode = 0, .resolve = resolve};
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static char *fd_path(int fd)
{
	return sg_xasprintf("/proc/self/fd/%d", fd);
}

/* ---- parent side ---------------------------------------------------------------- */

static int check_dir(const char *path, sg_error *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "%s", path);
	if (!S_ISDIR(st.st_mode))
		return sg_error_set(err, SG_ERR_SANDBOX, ENOTDIR, "%s", path);
	return 0;
}

/* A directory the caller gave as a canonical path (the workspace, a mount's source:
 * resolved when the job was read or exec's options parsed), opened without following any
 * symlink: one there now was put there since, by a sandbox that can write a directory on
 * the way (an earlier step through a writable mount, or another sandbox), to point the
 * mount at the host's / or the user's home. */
static int open_canonical_dir(const char *path, sg_error *err)
{
	int fd = sys_openat2(AT_FDCWD, path, O_PATH | O_DIRECTORY | O_CLOEXEC,
			     RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (fd < 0 && errno == ELOOP)
		return sg_error_set(err, SG_ERR_SANDBOX, 0,
				    "%s: a symbolic link is in the path now, which was resolved when the "
				    "job was read: refusing to mount whatever it points to",
				    path);
	if (fd < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "open %s", path);
	return fd;
}

static int open_dir_path(const char *path, sg_error *err)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "open %s", path);
	return fd;
}

/* An idmapped detached copy of `path` in which its owner is the sandbox's root. */
static int idmapped_tree(const char *path, const sg_identity *id, sg_error *err)
{
	sg_autoclose int dir = open_canonical_dir(path, err);
	if (dir < 0)
		return -1;
	struct stat st;
	if (fstat(dir, &st) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "stat %s", path);
	sg_autoclose int userns = sg_userns_idmap_fd(st.st_uid, st.st_gid, id->host_uid,
						      id->host_gid, id->count, err);
	if (userns < 0)
		return -1;
	sg_autoclose int tree = open_tree(dir, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (tree < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "open_tree %s", path);
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns};
	if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "idmapped mount of %s", path);
	return sg_steal_fd(&tree);
}

static int chown_dir(const char *path, const sg_identity *id, sg_error *err)
{
	if (id->rootless)
		return 0;
	if (chown(path, id->host_uid, id->host_gid) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "chown %s", path);
	return 0;
}

static int prepare_scratch(const sg_mount_request *req, const sg_identity *id,
			   sg_mount_plan *plan, sg_error *err)
{
	if (sg_mkdir_p(req->scratch_dir, 0700, err) < 0)
		return sg_error_prefix(err, "scratch");
	sg_autofree char *upper = sg_xasprintf("%s/upper", req->scratch_dir);
	sg_autofree char *work = sg_xasprintf("%s/work", req->scratch_dir);
	if ((mkdir(upper, 0755) < 0 && errno != EEXIST) || (mkdir(work, 0700) < 0 && errno != EEXIST))
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "scratch: mkdir in %s",
				    req->scratch_dir);
	/* The layers directory (and upper/, work/ in it) belongs to the sandbox's root, mode
	 * 0700: the overlay's paths are resolved below it by the sandbox, and no other local
	 * user may reach what the candidate wrote. Its parent is shipgate's, also 0700. */
	if (chown_dir(req->scratch_dir, id, err) < 0 || chown_dir(upper, id, err) < 0 ||
	    chown_dir(work, id, err) < 0)
		return -1;
	plan->scratch = sg_xstrdup(req->scratch_dir);
	return 0;
}

static int prepare_workspace(const sg_mount_request *req, const sg_identity *id,
			     sg_mount_plan *plan, sg_error *err)
{
	sg_prepared_mount *ws = &plan->workspace;
	ws->target = sg_xstrdup("/workspace");
	ws->readonly = req->ws_mode == SG_WORKSPACE_READONLY;
	bool writable = req->ws_mode == SG_WORKSPACE_BIND;
	bool cow = req->ws_mode == SG_WORKSPACE_COW;

	/* refused outright when a symlink appeared in its path (no copy of whatever it names) */
	sg_autoclose int probe = open_canonical_dir(req->workspace, err);
	if (probe < 0)
		return sg_error_prefix(err, "workspace");
	if (cow && prepare_scratch(req, id, plan, err) < 0)
		return -1;
	if (id->rootless || ws->readonly) {
		/* rootless: the sandbox's root is the workspace's owner already */
		ws->source = sg_xstrdup(req->workspace);
		plan->ws_method = cow ? "overlay" : ws->readonly ? "bind-ro" : "bind";
		plan->in_userns_overlay = true;
		return check_dir(ws->source, err);
	}
	sg_error idmap_err = {0};
	ws->tree_fd = idmapped_tree(req->workspace, id, &idmap_err);
	if (ws->tree_fd >= 0) {
		plan->ws_method = cow ? "overlay-idmapped" : "bind-idmapped";
		plan->in_userns_overlay = true;
		return 0;
	}
	if (writable)
		return sg_error_set(err, SG_ERR_SANDBOX, idmap_err.errnum,
				    "workspace %s: the filesystem does not support idmapped mounts, "
				    "so the sandbox's root cannot write it; use --cow (a copy) or run "
				    "shipgate as the directory's owner (%s)",
				    req->workspace, idmap_err.msg);
	/* copy-on-write without idmapping: a private copy owned by the sandbox's root */
	plan->copy_dir = sg_xasprintf("%s/copy", req->scratch_dir);
	struct stat st;
	if (lstat(plan->copy_dir, &st) < 0 &&
	    sg_copy_tree(probe, req->workspace, plan->copy_dir, id->host_uid, id->host_gid, err) < 0)
		return sg_error_prefix(err, "workspace copy");
	ws->source = sg_xstrdup(plan->copy_dir);
	plan->ws_method = "copy";
	plan->ws_mode = SG_WORKSPACE_BIND;
	return 0;
}

int sg_mounts_prepare(const sg_mount_request *req, const sg_identity *id, sg_mount_plan *plan,
		      sg_error *err)
{
	memset(plan, 0, sizeof(*plan));
	plan->workspace.tree_fd = -1;
	plan->ws_mode = req->ws_mode;
	plan->tmp_mb = req->tmp_mb;
	size_t n_hide = 0;
	while (req->hide && req->hide[n_hide])
		n_hide++;
	if (n_hide) {
		plan->hide = sg_xcalloc(n_hide + 1, sizeof(char *));
		for (size_t i = 0; i < n_hide; i++)
			plan->hide[i] = sg_xstrdup(req->hide[i]);
	}
	plan->ws_method = "none";
	if (req->rootfs && strcmp(req->rootfs, "host") != 0) {
		plan->rootfs = req->rootfs;
		if (check_dir(req->rootfs, err) < 0)
			return sg_error_prefix(err, "rootfs");
	}
	if (req->ws_mode != SG_WORKSPACE_NONE && prepare_workspace(req, id, plan, err) < 0)
		return -1;
	plan->extra = sg_xcalloc(req->n_mounts ? req->n_mounts : 1, sizeof(*plan->extra));
	for (size_t i = 0; i < req->n_mounts; i++) {
		const sg_mount_spec *m = &req->mounts[i];
		sg_prepared_mount *pm = &plan->extra[plan->n_extra++];
		pm->tree_fd = -1;
		pm->target = sg_xstrdup(m->target);
		pm->readonly = m->readonly;
		if (!m->readonly && !id->rootless) {
			pm->tree_fd = idmapped_tree(m->source, id, err);
			if (pm->tree_fd < 0)
				return sg_error_prefix(err, "mount %s", m->target);
		} else {
			pm->source = sg_xstrdup(m->source);
			if (check_dir(pm->source, err) < 0)
				return sg_error_prefix(err, "mount %s", m->target);
		}
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void sg_mounts_plan_free(sg_mount_plan *plan)
{
	free(plan->scratch);
	close_fd(&plan->workspace.tree_fd);
	free(plan->workspace.source);
	free(plan->workspace.target);
	for (size_t i = 0; i < plan->n_extra; i++) {
		close_fd(&plan->extra[i].tree_fd);
		free(plan->extra[i].source);
		free(plan->extra[i].target);
	}
	free(plan->extra);
	free(plan->copy_dir);
	for (size_t i = 0; plan->hide && plan->hide[i]; i++)
		free(plan->hide[i]);
	free(plan->hide);
	memset(plan, 0, sizeof(*plan));
}

/* ---- child side ------------------------------------------------------------------ */

/* Open (creating directories as needed) `path` below the root fd, resolving every
 * component inside that root. Returns an O_PATH fd. For a file target (dir == false) the
 * last component is created as an empty file. */
static int target_open(int rootfd, const char *path, bool dir, sg_error *err)
{
	sg_autofree char *rel = sg_xstrdup(path);
	char *p = rel;
	while (*p == '/')
		p++;
	if (*p == '\0')
		return sg_error_set(err, SG_ERR_SANDBOX, EINVAL, "mount target %s", path);
	for (char *slash = p;; slash++) {
		bool last = (*slash == '\0');
		if (!last && *slash != '/')
			continue;
		char saved = *slash;
		*slash = '\0';
		int fd = sys_openat2(rootfd, p, O_PATH | O_CLOEXEC | ((last && !dir) ? 0 : O_DIRECTORY),
				     RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
		if (fd < 0 && errno == ENOENT) {
			char *base = strrchr(p, '/');
			int parent = rootfd;
			sg_autoclose int parent_fd = -1;
			if (base) {
				*base = '\0';
				parent_fd = sys_openat2(rootfd, p, O_PATH | O_DIRECTORY | O_CLOEXEC,
							RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
				*base = '/';
				if (parent_fd < 0)
					return sg_error_set(err, SG_ERR_SANDBOX, errno, "mount target %s", path);
				parent = parent_fd;
			}
			const char *name = base ? base + 1 : p;
			int rc;
			if (last && !dir) {
				rc = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
				if (rc >= 0)
					close(rc);
			} else {
				rc = mkdirat(parent, name, 0755);
			}
			if (rc < 0 && errno != EEXIST)
				return sg_error_set(err, SG_ERR_SANDBOX, errno, "create mount target %s", path);
			fd = sys_openat2(rootfd, p, O_PATH | O_CLOEXEC | ((last && !dir) ? 0 : O_DIRECTORY),
					 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
		}
		if (fd < 0)
			return sg_error_set(err, SG_ERR_SANDBOX, errno, "mount target %s", path);
		*slash = saved;
		if (last)
			return fd;
		close(fd);
	}
}

/* Clone the tree at (dirfd, path) and attach it at target with the given attributes. */
static int bind_tree(int src_dirfd, const char *src_path, int target_fd, bool recursive,
		     uint64_t attr_set, const char *what, sg_error *err)
{
	unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
	if (!src_path || !*src_path)
		flags |= AT_EMPTY_PATH;
	sg_autoclose int tree = open_tree(src_dirfd, src_path ? src_path : "", flags);
	if (tree < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "bind %s: open_tree", what);
	if (attr_set) {
		struct mount_attr attr = {.attr_set = attr_set};
		if (mount_setattr(tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr,
				  sizeof(attr)) < 0)
			return sg_error_set(err, SG_ERR_SANDBOX, errno, "bind %s: mount_setattr", what);
	}
	if (move_mount(tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "bind %s: move_mount", what);
	return 0;
}

static int attach_tree(int tree, int target_fd, uint64_t attr_set, const char *what, sg_error *err)
{
	if (attr_set) {
		struct mount_attr attr = {.attr_set = attr_set};
		if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
			return sg_error_set(err, SG_ERR_SANDBOX, errno, "%s: mount_setattr", what);
	}
	if (move_mount(tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "%s: move_mount", what);
	return 0;
}

static int mount_fs_at(int rootfd, const char *target, const char *fstype, unsigned long flags,
		       const char *data, sg_error *err)
{
	sg_autoclose int fd = target_open(rootfd, target, true, err);
	if (fd < 0)
		return -1;
	sg_autofree char *path = fd_path(fd);
	if (mount(fstype, path, fstype, flags, data) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "mount %s on %s", fstype, target);
	return 0;
}

#define RO_ATTRS (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)

/* The host's /etc, read-only, without the entries of etc_hidden: an overlay whose upper
 * lower layer holds a whiteout for each. There is no weaker fallback: without overlayfs
 * the sandbox is not set up (fail closed). */
static int mount_host_etc(int rootfd, sg_error *err)
{
	sg_autoclose int stage = target_open(rootfd, SG_STAGING "/etcmask", true, err);
	if (stage < 0)
		return -1;
	for (size_t i = 0; i < SG_ARRAY_LEN(etc_hidden); i++) {
		char host[256];
		snprintf(host, sizeof(host), "/etc/%s", etc_hidden[i]);
		struct stat st;
		if (lstat(host, &st) < 0)
			continue;
		const char *slash = strrchr(etc_hidden[i], '/');
		if (slash) {
			sg_autofree char *dir = sg_xasprintf(SG_STAGING "/etcmask/%.*s",
							     (int)(slash - etc_hidden[i]), etc_hidden[i]);
			int dfd = target_open(rootfd, dir, true, err);
			if (dfd < 0)
				return -1;
			close(dfd);
		}
		if (mknodat(stage, etc_hidden[i], S_IFCHR | 0000, makedev(0, 0)) < 0)
			return sg_error_set(err, SG_ERR_SANDBOX, errno, "whiteout /etc/%s", etc_hidden[i]);
	}
	/* private host keys, whatever their names */
	DIR *d = opendir("/etc/ssh");
	if (d) {
		struct dirent *de;
		bool made = false;
		while ((de = readdir(d)) != NULL) {
			size_t n = strlen(de->d_name);
			if (strncmp(de->d_name, "ssh_host_", 9) != 0 || (n > 4 && !strcmp(de->d_name + n - 4, ".pub")))
				continue;
			if (!made) {
				int dfd = target_open(rootfd, SG_STAGING "/etcmask/ssh", true, err);
				if (dfd < 0) {
					closedir(d);
					return -1;
				}
				close(dfd);
				made = true;
			}
			char rel[512];
			snprintf(rel, sizeof(rel), "ssh/%s", de->d_name);
			(void)mknodat(stage, rel, S_IFCHR | 0000, makedev(0, 0));
		}
		closedir(d);
	}
	sg_autoclose int target = target_open(rootfd, "etc", true, err);
	if (target < 0)
		return -1;
	sg_autofree char *tpath = fd_path(target);
	sg_autofree char *spath = fd_path(stage);
	sg_autofree char *opts = sg_xasprintf("lowerdir=%s:/etc", spath);
	if (mount("overlay", tpath, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, opts) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "mount filtered /etc (overlay)");
	return 0;
}

/* The default root: read-only binds of the host's system directories (symlinks kept as
 * symlinks, as on merged-/usr systems) and a filtered /etc. */
static int build_host_root(int rootfd, sg_error *err)
{
	for (size_t i = 0; i < SG_ARRAY_LEN(host_dirs); i++) {
		char host[64];
		snprintf(host, sizeof(host), "/%s", host_dirs[i]);
		struct stat st;
		if (lstat(host, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			char target[256];
			ssize_t n = readlink(host, target, sizeof(target) - 1);
			if (n < 0)
				return sg_error_set(err, SG_ERR_SANDBOX, errno, "readlink %s", host);
			target[n] = '\0';
			if (symlinkat(target, rootfd, host_dirs[i]) < 0)
				return sg_error_set(err, SG_ERR_SANDBOX, errno, "symlink /%s", host_dirs[i]);
			continue;
		}
		if (!S_ISDIR(st.st_mode))
			continue;
		sg_autoclose int t = target_open(rootfd, host_dirs[i], true, err);
		if (t < 0 || bind_tree(AT_FDCWD, host, t, true, RO_ATTRS, host, err) < 0)
			return -1;
	}
	return mount_host_etc(rootfd, err);
}

/* A rootfs directory: every top-level entry but the ones the sandbox provides itself. */
static int build_dir_root(int rootfd, int srcfd, const char *src, sg_error *err)
{
	static const char *const skip[] = {"proc", "dev", "sys", "tmp", "workspace", "run",
					   SG_STAGING};
	int dfd = openat(srcfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "rootfs %s", src);
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "rootfs %s", src);
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		bool skipped = !strcmp(name, ".") || !strcmp(name, "..");
		for (size_t i = 0; i < SG_ARRAY_LEN(skip) && !skipped; i++)
			skipped = !strcmp(name, skip[i]);
		if (skipped)
			continue;
		struct stat st;
		if (fstatat(srcfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlinkat(srcfd, name, target, sizeof(target) - 1);
			if (n < 0)
				continue;
			target[n] = '\0';
			if (symlinkat(target, rootfd, name) < 0)
				rc = sg_error_set(err, SG_ERR_SANDBOX, errno, "rootfs: symlink /%s", name);
		} else if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
			sg_autoclose int t = target_open(rootfd, name, S_ISDIR(st.st_mode), err);
			if (t < 0)
				rc = -1;
			else
				rc = bind_tree(srcfd, name, t, true, RO_ATTRS, name, err);
		}
	}
	closedir(d);
	return rc;
}

static int build_dev(int rootfd, sg_error *err)
{
	if (mount_fs_at(rootfd, "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k,nr_inodes=64",
			err) < 0)
		return -1;
	for (size_t i = 0; i < SG_ARRAY_LEN(dev_nodes); i++) {
		char host[32], inside[32];
		snprintf(host, sizeof(host), "/dev/%s", dev_nodes[i]);
		snprintf(inside, sizeof(inside), "dev/%s", dev_nodes[i]);
		sg_autoclose int t = target_open(rootfd, inside, false, err);
		if (t < 0 || bind_tree(AT_FDCWD, host, t, false, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, host, err) < 0)
			return -1;
	}
	if (mount_fs_at(rootfd, "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
			"newinstance,ptmxmode=0666,mode=0620", err) < 0)
		return -1;
	if (mount_fs_at(rootfd, "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m", err) < 0)
		return -1;
	static const char *const links[][2] = {
		{"pts/ptmx", "dev/ptmx"}, {"/proc/self/fd", "dev/fd"}, {"/proc/self/fd/0", "dev/stdin"},
		{"/proc/self/fd/1", "dev/stdout"}, {"/proc/self/fd/2", "dev/stderr"},
	};
	for (size_t i = 0; i < SG_ARRAY_LEN(links); i++)
		if (symlinkat(links[i][0], rootfd, links[i][1]) < 0)
			return sg_error_set(err, SG_ERR_SANDBOX, errno, "symlink /%s", links[i][1]);
	return 0;
}

static int build_proc(int rootfd, sg_error *err)
{
	if (mount_fs_at(rootfd, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err) < 0)
		return -1;
	/* defence in depth: the candidate has no capability to write there anyway */
	sg_autoclose int sys = target_open(rootfd, "proc/sys", true, err);
	if (sys < 0)
		return -1;
	return bind_tree(sys, "", sys, true, RO_ATTRS | MOUNT_ATTR_NOEXEC, "/proc/sys", err);
}

void sg_mounts_sources_close(sg_mount_sources *cs)
{
	close_fd(&cs->rootfs);
	close_fd(&cs->workspace);
	close_fd(&cs->scratch);
	for (size_t i = 0; i < cs->n_extra; i++)
		close_fd(&cs->extra[i]);
	free(cs->extra);
}

int sg_mounts_sources_open(const sg_mount_plan *plan, sg_mount_sources *cs, sg_error *err)
{
	cs->rootfs = cs->workspace = cs->scratch = -1;
	cs->n_extra = plan->n_extra;
	cs->extra = sg_xcalloc(plan->n_extra ? plan->n_extra : 1, sizeof(int));
	for (size_t i = 0; i < plan->n_extra; i++)
		cs->extra[i] = -1;
	if (plan->rootfs) {
		/* canonical (exec resolves it; a job's is resolved when read): no symlink */
		sg_autoclose int path_fd = open_canonical_dir(plan->rootfs, err);
		if (path_fd < 0)
			return sg_error_prefix(err, "rootfs");
		cs->rootfs = openat(path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cs->rootfs < 0)
			return sg_error_set(err, SG_ERR_SANDBOX, errno, "rootfs %s", plan->rootfs);
	}
	/* the workspace and the mounts' sources are canonical paths; a copy of the workspace
	 * lies in the scratch dir, whose base ($TMPDIR) may be reached through a symlink */
	if (plan->workspace.source &&
	    (cs->workspace = plan->copy_dir ? open_dir_path(plan->workspace.source, err)
					    : open_canonical_dir(plan->workspace.source, err)) < 0)
		return sg_error_prefix(err, "workspace");
	if (plan->scratch && (cs->scratch = open_dir_path(plan->scratch, err)) < 0)
		return sg_error_prefix(err, "scratch");
	for (size_t i = 0; i < plan->n_extra; i++)
		if (plan->extra[i].source && (cs->extra[i] = open_canonical_dir(plan->extra[i].source, err)) < 0)
			return sg_error_prefix(err, "mount %s", plan->extra[i].target);
	return 0;
}

static int mount_workspace(int rootfd, const sg_mount_plan *plan, const sg_mount_sources *cs,
			   sg_error *err)
{
	const sg_prepared_mount *ws = &plan->workspace;
	sg_autoclose int target = target_open(rootfd, "workspace", true, err);
	if (target < 0)
		return -1;
	uint64_t attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (ws->readonly ? MOUNT_ATTR_RDONLY : 0);
	if (plan->ws_mode != SG_WORKSPACE_COW) {
		if (ws->tree_fd >= 0)
			return attach_tree(ws->tree_fd, target, attrs, "workspace", err);
		return bind_tree(cs->workspace, "", target, false, attrs, "workspace", err);
	}
	/* copy-on-write: the lower layer and the scratch layers are staged out of sight */
	sg_autoclose int lower = target_open(rootfd, SG_STAGING "/lower", true, err);
	sg_autoclose int scratch = target_open(rootfd, SG_STAGING "/scratch", true, err);
	if (lower < 0 || scratch < 0)
		return -1;
	/* read-only: the lower layer is the host's workspace, and nothing in the new root may
	 * write it (a mount target reached through a step's symlink once made directories in
	 * it) */
	int rc = ws->tree_fd >= 0 ? attach_tree(ws->tree_fd, lower, MOUNT_ATTR_RDONLY, "workspace lower", err)
				  : bind_tree(cs->workspace, "", lower, false, MOUNT_ATTR_RDONLY, "workspace lower", err);
	if (rc < 0 || bind_tree(cs->scratch, "", scratch, false, 0, "scratch", err) < 0)
		return -1;
	/* reopen so that the paths name the mounts, not the directories below them */
	sg_autoclose int lower_m = target_open(rootfd, SG_STAGING "/lower", true, err);
	sg_autoclose int scratch_m = target_open(rootfd, SG_STAGING "/scratch", true, err);
	if (lower_m < 0 || scratch_m < 0)
		return -1;
	sg_autofree char *lp = fd_path(lower_m);
	sg_autofree char *sp = fd_path(scratch_m);
	sg_autofree char *tp = fd_path(target);
	sg_autofree char *opts = sg_xasprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work%s", lp, sp,
					      sp, plan->in_userns_overlay ? ",userxattr" : "");
	if (mount("overlay", tp, "overlay", MS_NOSUID | MS_NODEV, opts) < 0) {
		int e = errno;
		if (plan->in_userns_overlay) {
			/* kernels before 5.11 have no userxattr */
			sg_autofree char *opts2 = sg_xasprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work",
							       lp, sp, sp);
			if (mount("overlay", tp, "overlay", MS_NOSUID | MS_NODEV, opts2) == 0)
				return 0;
		}
		return sg_error_set(err, SG_ERR_SANDBOX, e, "workspace overlay");
	}
	return 0;
}

/* Cover what the verdict's subject leaves out (.git, .shipgate, an out dir inside the
 * workspace): the steps must not read what the digest does not vouch for. A directory
 * becomes an empty read-only tmpfs, a file an empty read-only one (/dev/null). */
static int hide_in_workspace(int rootfd, const sg_mount_plan *plan, sg_error *err)
{
	for (size_t i = 0; plan->hide && plan->hide[i]; i++) {
		sg_autofree char *rel = sg_xasprintf("workspace/%s", plan->hide[i]);
		sg_autoclose int fd = sys_openat2(rootfd, rel, O_PATH | O_CLOEXEC | O_NOFOLLOW,
						  RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
		if (fd < 0)
			continue; /* not there (or a symlink: the digest records it as one) */
		struct stat st;
		if (fstat(fd, &st) < 0)
			continue;
		sg_autofree char *path = fd_path(fd);
		if (S_ISDIR(st.st_mode)) {
			if (mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
				  "mode=0555,size=4k,nr_inodes=1") < 0)
				return sg_error_set(err, SG_ERR_SANDBOX, errno, "hide /workspace/%s", plan->hide[i]);
		} else if (S_ISREG(st.st_mode)) {
			if (bind_tree(AT_FDCWD, "/dev/null", fd, false, RO_ATTRS | MOUNT_ATTR_NOEXEC, "hidden file", err) < 0)
				return sg_error_prefix(err, "hide /workspace/%s", plan->hide[i]);
		}
	}
	return 0;
}

static int mount_extra(int rootfd, const sg_prepared_mount *m, int source_fd, sg_error *err)
{
	sg_autoclose int target = target_open(rootfd, m->target, true, err);
	if (target < 0)
		return -1;
	uint64_t attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (m->readonly ? MOUNT_ATTR_RDONLY : 0);
	if (m->tree_fd >= 0)
		return attach_tree(m->tree_fd, target, attrs, m->target, err);
	return bind_tree(source_fd, "", target, true, attrs, m->target, err);
}

static int sys_pivot_root(const char *new_root, const char *put_old)
{
	return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int sg_mounts_build_root(const sg_mount_plan *plan, const sg_mount_sources *cs, sg_error *err)
{
	/* nothing we do here may propagate back to the host */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "make / private");
	if (mount("tmpfs", SG_NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "mount the new root (tmpfs on %s)",
				    SG_NEWROOT);
	sg_autoclose int rootfd = open(SG_NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "open the new root");
	if (mount_fs_at(rootfd, SG_STAGING, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			"mode=0700,size=64k", err) < 0)
		return -1;

	int rc = cs->rootfs >= 0 ? build_dir_root(rootfd, cs->rootfs, plan->rootfs, err)
				 : build_host_root(rootfd, err);
	if (rc < 0)
		return sg_error_prefix(err, "root filesystem");
	if (build_proc(rootfd, err) < 0 || build_dev(rootfd, err) < 0)
		return -1;
	sg_autofree char *tmp_opts = sg_xasprintf("mode=1777,size=%llum",
						  (unsigned long long)(plan->tmp_mb ? plan->tmp_mb : 512));
	if (mount_fs_at(rootfd, "tmp", "tmpfs", MS_NOSUID | MS_NODEV, tmp_opts, err) < 0)
		return -1;
	if (plan->ws_mode != SG_WORKSPACE_NONE && mount_workspace(rootfd, plan, cs, err) < 0)
		return -1;
	if (plan->ws_mode != SG_WORKSPACE_NONE && hide_in_workspace(rootfd, plan, err) < 0)
		return -1;
	for (size_t i = 0; i < plan->n_extra; i++)
		if (mount_extra(rootfd, &plan->extra[i], cs->extra[i], err) < 0)
			return -1;
	/* /var/tmp for the tools that insist on it */
	if (cs->rootfs < 0) {
		(void)mkdirat(rootfd, "var", 0755);
		if (symlinkat("/tmp", rootfd, "var/tmp") < 0 && errno != EEXIST)
			return sg_error_set(err, SG_ERR_SANDBOX, errno, "symlink /var/tmp");
	}

	if (fchdir(rootfd) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "chdir to the new root");
	if (sys_pivot_root(".", ".") < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "detach the old root");
	if (chdir("/") < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "chdir /");
	if (umount2("/" SG_STAGING, MNT_DETACH) < 0 || rmdir("/" SG_STAGING) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "remove the staging area");
	/* the root itself: read-only from now on */
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "remount / read-only");
	return 0;
}
