/* trace_args.h: what a traced call's arguments say, for trace.c.
 *
 * Two halves. Reading a process stopped in a seccomp notification: its memory through
 * process_vm_readv, page by page, so that a string or a socket address that runs into an
 * unmapped page is known to be unreadable (the kernel will answer EFAULT) rather than
 * cut. And pure helpers, unit-tested: a socket address checked as the kernel checks it
 * (length bounds, family), socket families and types by name, and a denied call's
 * arguments described for a human (paths and names read from the process, flags in hex).
 *
 * Nothing here answers a notification or proves that the caller is still waiting in the
 * same call: the caller re-validates the notification id after reading. */
#ifndef SHIPGATE_TRACE_ARGS_H
#define SHIPGATE_TRACE_ARGS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bytes of pid's memory at addr copied to buf, up to len: fewer when an unmapped page
 * comes first (0 when addr itself is unmapped); -1 when the memory cannot be read at all
 * (the process is gone, or we may not read it). */
ssize_t sg_proc_read(pid_t pid, uint64_t addr, void *buf, size_t len);

typedef enum sg_str_status {
	SG_STR_OK = 0,  /* NUL-terminated within the limit */
	SG_STR_LONG,    /* readable, but no NUL within the limit: *out holds the first max bytes */
	SG_STR_FAULT,   /* runs into unmapped memory (or addr is NULL) before its NUL: EFAULT */
	SG_STR_UNKNOWN, /* the memory could not be read at all */
} sg_str_status;

/* The NUL-terminated string at addr, at most max bytes of it, into *out (NULL unless
 * OK or LONG). */
sg_str_status sg_proc_read_string(pid_t pid, uint64_t addr, size_t max, char **out);

/* The strings at addrs[0..n), as sg_proc_read_string reads each (out[i], st[i]), with
 * one process_vm_readv for the first page of all of them: only a string that goes on
 * past its page, or that the batch did not reach, is read on its own. Stops after the
 * first string that is neither OK nor LONG (an argv read stops there too): returns how
 * many were read; the rest are left NULL and UNKNOWN. */
size_t sg_proc_read_strings(pid_t pid, const uint64_t *addrs, size_t n, size_t max, char **out, sg_str_status *st);

/* A socket address as the caller gave it: the bytes read (got of them) at its address,
 * and the length it claimed (for sendmsg, after the kernel's own clamp to
 * sizeof(struct sockaddr_storage)). */
typedef struct sg_netaddr {
	int family;                      /* AF_INET or AF_INET6 */
	char address[INET6_ADDRSTRLEN];  /* "" when not readable */
	int port;
	bool local;                      /* loopback, or the unspecified address (this host) */
	int invalid_errno;               /* the kernel refuses it: EINVAL, EFAULT; else 0 */
} sg_netaddr;

/* Is this an internet address (AF_INET, AF_INET6)? false for everything else (unix,
 * netlink...) and when not even the family could be read. *out says what it is, and
 * whether the kernel will refuse it as it does: a length above sizeof(struct
 * sockaddr_storage) or below the family's own (EINVAL), bytes within the length that
 * cannot be read (EFAULT). */
bool sg_netaddr_inspect(const void *buf, size_t got, int64_t len, sg_netaddr *out);

/* "AF_INET", "AF_PACKET"...; NULL for a number Linux does not know. */
const char *sg_socket_family_name(int family);
/* "SOCK_STREAM", "SOCK_DGRAM|SOCK_CLOEXEC"... into buf. */
void sg_socket_type_name(int type, char *buf, size_t len);

/* A denied call's arguments for a human: "path=/etc/x uid=0 gid=0". Strings and paths
 * are read from pid's memory (nothing is read when pid is 0: the unit tests); other
 * arguments are shown as numbers; a call without a description shows its first three
 * arguments in hex. Returns a malloc'd string. */
char *sg_denied_args_describe(pid_t pid, int nr, const uint64_t args[6]);
/* The socket family of a denied socket() or socketpair(), else -1: violations of the
 * same call by the same program in different families are different violations. */
int sg_denied_socket_family(int nr, const uint64_t args[6]);

#endif
