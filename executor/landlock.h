/* landlock.h: Landlock as a second wall behind the mounts. Where the kernel has it, the
 * command may write only below /workspace, /tmp, /dev/shm, its writable mounts and the
 * device nodes, whatever a mistake in the mount table would otherwise allow. Reads are
 * left to the mounts (the root is ours and read-only). */
#ifndef SHIPGATE_LANDLOCK_H
#define SHIPGATE_LANDLOCK_H

#include <shipgate/error.h>

#include <stdbool.h>
#include <stddef.h>

/* The kernel's Landlock ABI version, 0 if it has none. */
int sg_landlock_abi(void);

/* Build a ruleset that allows writing only beneath the given paths (inside the sandbox,
 * after pivot_root) and to the files the given descriptors name (the command's inherited
 * stdio). With scope_abstract_unix (ABI 6, Linux 6.12), the command also cannot connect
 * to abstract unix sockets made outside its own Landlock domain: with the host's network
 * those are the host's (containerd-shim's among them: CVE-2020-15257). Returns the
 * ruleset fd (close-on-exec), or -1 with err set; *abi is the ABI used (0 and no fd when
 * the kernel has no Landlock: not an error). */
int sg_landlock_prepare(const char *const *writable, size_t n, const int *fds, size_t nfds,
			bool scope_abstract_unix, int *abi, sg_error *err);

/* Restrict the calling process (no_new_privs must be set). */
int sg_landlock_apply(int ruleset_fd, sg_error *err);

#endif
