/* userns.c: identity mapping of the sandbox (see userns.h). */
#include "userns.h"
#include "util.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* Find "name:start:count" in an /etc/sub[ug]id file. */
static bool subid_lookup(const char *file, const char *name, uint32_t *start, uint32_t *count)
{
	sg_autofree char *data = NULL;
	if (sg_read_file(file, 1 << 20, &data, NULL, NULL) < 0)
		return false;
	size_t nl = strlen(name);
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, name, nl) != 0 || line[nl] != ':')
			continue;
		char *colon = strchr(line + nl + 1, ':');
		if (!colon)
			continue;
		*colon = '\0';
		uint64_t s, c;
		if (!sg_parse_u64(line + nl + 1, &s) || !sg_parse_u64(colon + 1, &c))
			continue;
		if (s == 0 || s > UINT32_MAX || c == 0 || s + c > UINT32_MAX)
			continue;
		*start = (uint32_t)s;
		*count = (uint32_t)c;
		return true;
	}
	return false;
}

/* Root of the initial user namespace (who may map any id range), or root of a nested
 * one (who may only map itself, like any ordinary user)? */
static bool in_initial_userns(void)
{
	sg_autofree char *map = NULL;
	if (sg_read_file("/proc/self/uid_map", 4096, &map, NULL, NULL) < 0)
		return false;
	unsigned long inside, outside, count;
	return sscanf(map, "%lu %lu %lu", &inside, &outside, &count) == 3 && inside == 0 &&
	       outside == 0 && count == 4294967295ul;
}

int sg_identity_resolve(sg_identity *id, sg_error *err)
{
	(void)err;
	memset(id, 0, sizeof(*id));
	if (geteuid() != 0 || !in_initial_userns()) {
		id->rootless = true;
		id->host_uid = geteuid();
		id->host_gid = getegid();
		id->count = 1;
		snprintf(id->source, sizeof(id->source), "rootless");
		return 0;
	}
	uint32_t us, uc, gs, gc;
	if (subid_lookup("/etc/subuid", "shipgate", &us, &uc) &&
	    subid_lookup("/etc/subgid", "shipgate", &gs, &gc)) {
		id->host_uid = us;
		id->host_gid = gs;
		id->count = uc < gc ? uc : gc;
		if (id->count > SG_FIXED_UID_COUNT)
			id->count = SG_FIXED_UID_COUNT;
		snprintf(id->source, sizeof(id->source), "subuid:shipgate");
		return 0;
	}
	id->host_uid = SG_FIXED_UID_BASE;
	id->host_gid = SG_FIXED_UID_BASE;
	id->count = SG_FIXED_UID_COUNT;
	snprintf(id->source, sizeof(id->source), "fixed");
	return 0;
}

static int write_proc(pid_t pid, const char *file, const char *data, sg_error *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	if (sg_write_file(path, data, err) < 0)
		return sg_error_prefix(err, "user namespace");
	return 0;
}

int sg_userns_write_maps(pid_t pid, const sg_identity *id, sg_error *err)
{
	char map[64];
	if (id->rootless && write_proc(pid, "setgroups", "deny", err) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u %u\n", (unsigned)id->host_uid, (unsigned)id->count);
	if (write_proc(pid, "uid_map", map, err) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u %u\n", (unsigned)id->host_gid, (unsigned)id->count);
	return write_proc(pid, "gid_map", map, err);
}

/* The map of an idmapped workspace: the owner of the workspace becomes the sandbox's
 * root (host base), on-disk root becomes what the owner's id would have been, and every
 * other id below count keeps its place in the range. So files of other users stay
 * mapped (copy-up, unlink and chmod of them work) instead of showing as the overflow id. */
static void idmap_lines(char *buf, size_t len, uint32_t owner, uint32_t base, uint32_t count)
{
	if (owner == 0 || owner >= count) {
		if (owner == 0)
			snprintf(buf, len, "0 %u %u\n", base, count);
		else /* an owner beyond the range: only it, as root */
			snprintf(buf, len, "%u %u 1\n", owner, base);
		return;
	}
	int n = snprintf(buf, len, "%u %u 1\n0 %u 1\n", owner, base, base + owner);
	if (owner > 1)
		n += snprintf(buf + n, len - (size_t)n, "1 %u %u\n", base + 1, owner - 1);
	if (owner + 1 < count)
		snprintf(buf + n, len - (size_t)n, "%u %u %u\n", owner + 1, base + owner + 1, count - owner - 1);
}

/* The holder's whole life: drop its copy of the pipe's write end, wait for EOF (our
 * end closing), exit. */
__attribute__((no_sanitize_address)) static int idmap_holder(void *arg)
{
	const int *hold = arg;
	char c;
	syscall(SYS_close, hold[1]);
	syscall(SYS_read, hold[0], &c, 1);
	syscall(SYS_exit, 0);
	return 0;
}

int sg_userns_idmap_fd(uid_t disk_uid, gid_t disk_gid, uid_t host_uid, gid_t host_gid,
		       uint32_t count, sg_error *err)
{
	int hold[2];
	sg_spawn_lock(); /* see util.h: no other thread's child may hold hold[1] */
	if (pipe2(hold, O_CLOEXEC) < 0) {
		sg_spawn_unlock();
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "idmap: pipe");
	}
	/* A throwaway process in a fresh user namespace; it only waits to be told to go. It
	 * borrows our memory (CLONE_VM: no copy of the supervisor's page tables) and runs
	 * nothing but raw system calls on a stack of its own. */
	enum { STACK = 64 * 1024 };
	void *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	pid_t pid = stack == MAP_FAILED ? -1
		  : clone(idmap_holder, (char *)stack + STACK, CLONE_NEWUSER | CLONE_VM | SIGCHLD,
			  hold);
	if (pid < 0) {
		int e = errno;
		if (stack != MAP_FAILED)
			munmap(stack, STACK);
		close(hold[0]);
		close(hold[1]);
		sg_spawn_unlock();
		return sg_error_set(err, SG_ERR_SANDBOX, e, "idmap: clone(CLONE_NEWUSER)");
	}
	close(hold[0]);
	int fd = -1;
	char map[256];
	idmap_lines(map, sizeof(map), (uint32_t)disk_uid, (uint32_t)host_uid, count ? count : 1);
	if (write_proc(pid, "uid_map", map, err) < 0)
		goto out;
	idmap_lines(map, sizeof(map), (uint32_t)disk_gid, (uint32_t)host_gid, count ? count : 1);
	if (write_proc(pid, "gid_map", map, err) < 0)
		goto out;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		sg_error_set(err, SG_ERR_SANDBOX, errno, "idmap: open %s", path);
out:
	close(hold[1]);
	sg_spawn_unlock();
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	munmap(stack, STACK); /* only once the child is gone: it ran on it */
	return fd;
}
