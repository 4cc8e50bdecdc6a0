/* seccomp_load.c: see seccomp_load.h. */
#include "seccomp_load.h"
#include "util.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

int sg_seccomp_load(const struct sock_fprog *prog, sg_error *err)
{
	/* no_new_privs is already set by sg_caps_drop_all() */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
		return sg_error_set(err, SG_ERR_SANDBOX, errno, "load a seccomp filter");
	return 0;
}

#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif

#define ARG_LO(n) (offsetof(struct seccomp_data, args) + (n) * sizeof(__u64))
#define SETID (S_ISUID | S_ISGID)

/* The program, laid out by hand (jump offsets count from the next instruction):
 *  0-2  other architectures: allowed here, the policy's filter kills them already
 *  3-5  openat2: ENOSYS
 *  6-14 dispatch to the check of the argument that holds the mode
 *  16   mode in argument 1: chmod, fchmod, creat, mknod
 *  18   mode in argument 2: fchmodat, fchmodat2, open, mknodat
 *  20   mode in argument 3: openat
 *  22   any SETID bit in the low 32 bits of the mode: EPERM */
static const struct sock_filter no_setid_insns[] = {
	/* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	/* 2 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	/* 3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	/* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat2, 0, 1),
	/* 5 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
	/* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_chmod, 9, 0),
	/* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fchmod, 8, 0),
	/* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_creat, 7, 0),
	/* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mknod, 6, 0),
	/* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fchmodat, 7, 0),
	/* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fchmodat2, 6, 0),
	/* 12 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_open, 5, 0),
	/* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mknodat, 4, 0),
	/* 14 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 5, 0),
	/* 15 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	/* 16 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1)),
	/* 17 */ BPF_JUMP(BPF_JMP | BPF_JA, 4, 0, 0),
	/* 18 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
	/* 19 */ BPF_JUMP(BPF_JMP | BPF_JA, 2, 0, 0),
	/* 20 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(3)),
	/* 21 */ BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0),
	/* 22 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SETID, 0, 1),
	/* 23 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	/* 24 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

const struct sock_fprog *sg_seccomp_no_setid(void)
{
	static const struct sock_fprog prog = {
		.len = (unsigned short)(sizeof(no_setid_insns) / sizeof(no_setid_insns[0])),
		.filter = (struct sock_filter *)no_setid_insns,
	};
	return &prog;
}
