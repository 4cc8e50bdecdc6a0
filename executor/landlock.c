/* landlock.c: see landlock.h. */
#include "landlock.h"
#include "util.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* Newer rights than the headers of Debian 12 (6.1) know; the kernel says which it has. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

/* The ruleset attribute as ABI 6 knows it: the headers of Debian 12 stop at the first
 * field. A larger struct with zeros past what an older kernel knows is accepted. */
struct sg_landlock_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};
#define SG_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)

int sg_landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return abi > 0 ? (int)abi : 0;
}

/* The write-side rights this ABI knows; read and execute stay unhandled (allowed). */
static uint64_t write_rights(int abi)
{
	uint64_t r = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
		     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
		     LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
		     LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
		     LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	return r;
}

/* Allow writing to what an inherited descriptor names (a terminal, a log file), so that
 * the command can reopen its own stdout as /dev/stdout. Pipes and sockets are not in any
 * filesystem Landlock governs: the kernel refuses the rule, which is fine. */
static void allow_fd(int rs, int fd, int abi)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode))
		return;
	struct landlock_path_beneath_attr pb = {.allowed_access = LANDLOCK_ACCESS_FS_WRITE_FILE, .parent_fd = fd};
	if (abi >= 3)
		pb.allowed_access |= LANDLOCK_ACCESS_FS_TRUNCATE;
	(void)syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
}

int sg_landlock_prepare(const char *const *writable, size_t n, const int *fds, size_t nfds,
			bool scope_abstract_unix, int *abi, sg_error *err)
{
	*abi = sg_landlock_abi();
	if (*abi <= 0) {
		*abi = 0;
		return -1;
	}
	uint64_t rights = write_rights(*abi);
	struct sg_landlock_ruleset_attr attr = {.handled_access_fs = rights};
	if (scope_abstract_unix && *abi >= 6)
		attr.scoped = SG_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET;
	int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (rs < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "landlock: create the ruleset");
	for (size_t i = 0; i < n; i++) {
		int fd = open(writable[i], O_PATH | O_CLOEXEC);
		if (fd < 0)
			continue; /* not in this sandbox (e.g. no /workspace) */
		struct landlock_path_beneath_attr pb = {.allowed_access = rights, .parent_fd = fd};
		/* a file (a device node) takes only the rights that apply to files */
		struct stat st;
		if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
			pb.allowed_access &= LANDLOCK_ACCESS_FS_WRITE_FILE | (*abi >= 3 ? LANDLOCK_ACCESS_FS_TRUNCATE : 0);
		long rc = syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
		int e = errno;
		close(fd);
		if (rc < 0) {
			close(rs);
			return sg_error_set(err, SG_ERR_SANDBOX, e, "landlock: allow writes below %s", writable[i]);
		}
	}
	for (size_t i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			allow_fd(rs, fds[i], *abi);
	return rs;
}

int sg_landlock_apply(int ruleset_fd, sg_error *err)
{
	if (syscall(SYS_landlock_restrict_self, ruleset_fd, 0) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "landlock: restrict");
	return 0;
}
