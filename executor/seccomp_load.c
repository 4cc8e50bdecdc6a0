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
#define X32_SYSCALL_BIT 0x40000000u

/* The same calls in the i386 ABI (int 0x80), which an x86_64 process can always use:
 * without a policy to kill it, that ABI would be a way around the x86_64 checks. */
#define I386_open 5
#define I386_creat 8
#define I386_mknod 14
#define I386_chmod 15
#define I386_fchmod 94
#define I386_openat 295
#define I386_mknodat 297
#define I386_fchmodat 306
#define I386_io_uring_setup 425
#define I386_openat2 437
#define I386_fchmodat2 452

/* The program, laid out by hand (jump offsets count from the next instruction; the
 * layout was generated from labels, checked by tests/hostile/test_privilege.sh):
 *  0-3   x86_64 and i386 are checked; other architectures are left to the policy
 *  4-17  x86_64: x32 numbers, openat2 (its mode is in memory) and io_uring_setup (its
 *        operations are not system calls: no filter sees an IORING_OP_OPENAT) answer
 *        ENOSYS; the calls that take a mode go to the check of that argument
 *  18-30 i386: the same
 *  31-35 load the mode from argument 1, 2 or 3
 *  36-38 any set-ID bit in the low 32 bits of the mode: EPERM
 *  39    ENOSYS */
static const struct sock_filter no_setid_insns[] = {
	/*  0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	/*  1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 2, 0),
	/*  2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 15, 0),
	/*  3 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	/*  4 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	/*  5 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, X32_SYSCALL_BIT, 33, 0),
	/*  6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat2, 32, 0),
	/*  7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 31, 0),
	/*  8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_chmod, 22, 0),
	/*  9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fchmod, 21, 0),
	/* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_creat, 20, 0),
	/* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mknod, 19, 0),
	/* 12 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fchmodat, 20, 0),
	/* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fchmodat2, 19, 0),
	/* 14 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_open, 18, 0),
	/* 15 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mknodat, 17, 0),
	/* 16 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 18, 0),
	/* 17 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	/* 18 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	/* 19 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, I386_openat2, 19, 0),
	/* 20 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, I386_io_uring_setup, 18, 0),
	/* 21 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, I386_chmod, 9, 0),
	/* 22 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, I386_fchmod, 8, 0),
	/* 23 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, I386_creat, 7, 0),
	/* 24 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, I386_mknod, 6, 0),
	/* 25 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, I386_fchmodat, 7, 0),
	/* 26 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, I386_fchmodat2, 6, 0),
	/* 27 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, I386_open, 5, 0),
	/* 28 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, I386_mknodat, 4, 0),
	/* 29 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, I386_openat, 5, 0),
	/* 30 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	/* 31 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1)),
	/* 32 */ BPF_JUMP(BPF_JMP | BPF_JA, 3, 0, 0),
	/* 33 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
	/* 34 */ BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
	/* 35 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(3)),
	/* 36 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SETID, 1, 0),
	/* 37 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	/* 38 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	/* 39 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
};

const struct sock_fprog *sg_seccomp_no_setid(void)
{
	static const struct sock_fprog prog = {
		.len = (unsigned short)(sizeof(no_setid_insns) / sizeof(no_setid_insns[0])),
		.filter = (struct sock_filter *)no_setid_insns,
	};
	return &prog;
}
