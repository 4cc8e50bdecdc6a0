/* copytree.c: copy a workspace into scratch when an idmapped overlay is not possible.
 * Regular files, directories and symlinks are copied (contents, the executable bit,
 * symlink targets); special files are skipped; nothing is followed. */
#include "mounts.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

static int copy_file(int sfd_dir, int dfd_dir, const char *name, const struct stat *seen, uid_t uid,
		     gid_t gid, sg_error *err)
{
	mode_t mode = seen->st_mode;
	/* Opened as a path first, and read only if it is still the regular file the
	 * directory pass saw: a FIFO swapped in since would hold the sandbox's setup
	 * forever, a device node would be opened, with whatever opening it does
	 * (helpers 44, 45). The reopening goes through the descriptor, not the name. */
	sg_autoclose int path = openat(sfd_dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (path < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: open %s", name);
	struct stat st;
	if (fstat(path, &st) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: stat %s", name);
	if (!S_ISREG(st.st_mode) || st.st_dev != seen->st_dev || st.st_ino != seen->st_ino)
		return sg_error_set(err, SG_ERR_SANDBOX, 0, "copy: %s is no longer the regular file it was (the "
							    "workspace changed while it was copied)", name);
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", path);
	sg_autoclose int in = open(self, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (in < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: open %s", name);
	sg_autoclose int out = openat(dfd_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				      mode & 0755);
	if (out < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: create %s", name);
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
				return sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: %s", name);
			char buf[65536];
			ssize_t r;
			while ((r = SG_RETRY(read(in, buf, sizeof(buf)))) > 0)
				if (sg_write_all(out, buf, (size_t)r) < 0)
					return sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: write %s", name);
			if (r < 0)
				return sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: read %s", name);
			break;
		}
	}
	if (uid != (uid_t)-1 && fchown(out, uid, gid) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: chown %s", name);
	return 0;
}

static int copy_dir(int sfd, int dfd, uid_t uid, gid_t gid, sg_error *err)
{
	int lfd = openat(sfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lfd < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: opendir");
	DIR *d = fdopendir(lfd);
	if (!d) {
		close(lfd);
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: opendir");
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		struct stat st;
		if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: stat %s", name);
		} else if (S_ISREG(st.st_mode)) {
			rc = copy_file(sfd, dfd, name, &st, uid, gid, err);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlinkat(sfd, name, target, sizeof(target) - 1);
			if (n < 0)
				rc = sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: readlink %s", name);
			else {
				target[n] = '\0';
				if (symlinkat(target, dfd, name) < 0 ||
				    (uid != (uid_t)-1 && fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0))
					rc = sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: symlink %s", name);
			}
		} else if (S_ISDIR(st.st_mode)) {
			if (mkdirat(dfd, name, (st.st_mode & 0755) | 0700) < 0)
				rc = sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: mkdir %s", name);
			else if (uid != (uid_t)-1 && fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
				rc = sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: chown %s", name);
			else {
				sg_autoclose int s2 = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				sg_autoclose int d2 = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (s2 < 0 || d2 < 0)
					rc = sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: open %s", name);
				else if (copy_dir(s2, d2, uid, gid, err) < 0)
					rc = sg_error_prefix(err, "%s", name);
			}
		}
		/* fifos, sockets and devices are not copied */
	}
	closedir(d);
	return rc;
}

int sg_copy_tree(int src_dir, const char *src, const char *dst, uid_t uid, gid_t gid, sg_error *err)
{
	if (mkdir(dst, 0755) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: mkdir %s", dst);
	if (uid != (uid_t)-1 && chown(dst, uid, gid) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "copy: chown %s", dst);
	/* the directory the caller opened (without following a symlink), not src again */
	sg_autoclose int sfd = openat(src_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sg_autoclose int dfd = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0 || dfd < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "copy %s to %s", src, dst);
	return copy_dir(sfd, dfd, uid, gid, err);
}
