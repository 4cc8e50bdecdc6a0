/* userns.h: who the sandbox's processes are on the host.
 *
 * Run as root, the sandbox's root is an unprivileged host uid/gid range: the `shipgate`
 * entry of /etc/subuid and /etc/subgid when present, else the fixed range
 * SG_FIXED_UID_BASE..+65535. No code of the candidate ever runs as host uid 0.
 * Run as an ordinary user (rootless), the sandbox's root is that user, the only id an
 * unprivileged process may map. */
#ifndef SHIPGATE_USERNS_H
#define SHIPGATE_USERNS_H

#include <shipgate/error.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SG_FIXED_UID_BASE 1000000000u
#define SG_FIXED_UID_COUNT 65536u

typedef struct sg_identity {
	bool rootless;   /* shipgate runs as an ordinary user: sandbox root = that user */
	uid_t host_uid;  /* host uid of sandbox uid 0 */
	gid_t host_gid;  /* host gid of sandbox gid 0 */
	uint32_t count;  /* size of the mapped range (1 when rootless) */
	char source[64]; /* "subuid:shipgate", "fixed", "rootless" */
} sg_identity;

int sg_identity_resolve(sg_identity *id, sg_error *err);

/* Write /proc/PID/{setgroups,uid_map,gid_map} for the sandbox's user namespace. */
int sg_userns_write_maps(pid_t pid, const sg_identity *id, sg_error *err);

/* A user namespace (as an fd) for mount_setattr(MOUNT_ATTR_IDMAP) whose maps send
 * on-disk uid `disk_uid` to host uid `host_uid` (the sandbox's root) and the other ids
 * below `count` into the rest of the sandbox's range (see idmap_lines); gids alike. */
int sg_userns_idmap_fd(uid_t disk_uid, gid_t disk_gid, uid_t host_uid, gid_t host_gid,
		       uint32_t count, sg_error *err);

#endif
