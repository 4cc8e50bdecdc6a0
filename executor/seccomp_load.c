/* seccomp_load.c: see seccomp_load.h. */
#include "seccomp_load.h"
#include "util.h"

#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

int sg_seccomp_load(const struct sock_fprog *prog, sg_error *err)
{
	/* no_new_privs is already set by sg_caps_drop_all() */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "load the seccomp filter");
	return 0;
}
