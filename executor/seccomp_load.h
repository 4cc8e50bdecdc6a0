/* seccomp_load.h: loading a compiled policy (policy.c compiles it in the supervisor) into the
 * calling process. Nothing here calls libseccomp: the child only makes one syscall. */
#ifndef SHIPGATE_SECCOMP_H
#define SHIPGATE_SECCOMP_H

#include <shipgate/error.h>

#include <linux/filter.h>

int sg_seccomp_load(const struct sock_fprog *prog, sg_error *err);

#endif
