/* seccomp_builtin.h: the seccomp programs of the shipped policies, compiled at build time.
 *
 * The build runs executor/gen/seccomp_builtin_gen.c, which parses and compiles each
 * policies/NAME.json with this very code and libseccomp, and writes the programs with each
 * policy's exact bytes into seccomp_builtin.c (in the build directory). A policy whose
 * bytes, variant, libseccomp version, native architecture and parsed rules all match an
 * entry takes its program from here (policy.c: sg_policy_bpf): a sandbox start then pays no libseccomp
 * compile, and nothing is read from a place a sandbox could write. Any other policy (a
 * user's file, an edited copy) is compiled as it is loaded.
 */
#ifndef SHIPGATE_SECCOMP_BUILTIN_H
#define SHIPGATE_SECCOMP_BUILTIN_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

struct sg_bpf_builtin {
	const char *policy;           /* the policy file's exact bytes */
	size_t policy_len;
	unsigned variant;             /* enum sg_bpf_variant (policy.h) */
	uint64_t rules_fingerprint;   /* sg_policy_rules_fingerprint() of the parsed policy */
	const struct sock_filter *prog;
	unsigned short len;           /* instructions */
};

extern const struct sg_bpf_builtin sg_bpf_builtins[];
extern const size_t sg_bpf_builtins_count;
/* what compiled them: libseccomp's major, minor, micro, and seccomp_arch_native() */
extern const unsigned sg_bpf_builtins_libseccomp[3];
extern const uint32_t sg_bpf_builtins_arch;

#endif
