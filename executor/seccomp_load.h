/* seccomp_load.h: loading filters into the calling process. The policy's program is
 * compiled by policy.c in the supervisor; nothing here calls libseccomp.
 *
 * Beside the policy, every command and probe also gets shipgate's own small filter,
 * whatever the policy says: no file may be given the set-user-ID or set-group-ID bit
 * (chmod family, and the mode of open/creat/mknod with O_CREAT, in the x86_64 and the
 * i386 ABI), and openat2, whose mode a filter cannot see, and io_uring, whose operations
 * no filter sees, answer ENOSYS (programs fall back to openat and to plain system calls);
 * so do x32 system calls. Files the
 * candidate writes through an idmapped mount belong on the host to the directory's
 * owner, root included: a set-user-ID file there would be a way out for any local user.
 */
#ifndef SHIPGATE_SECCOMP_LOAD_H
#define SHIPGATE_SECCOMP_LOAD_H

#include <shipgate/error.h>

#include <linux/filter.h>

int sg_seccomp_load(const struct sock_fprog *prog, sg_error *err);

/* shipgate's own filter (see above), a constant program. */
const struct sock_fprog *sg_seccomp_no_setid(void);

#endif
