/* trace_args.c: see trace_args.h. */
#include "trace_args.h"
#include "util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <seccomp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#define SG_ARG_SHOW 256 /* bytes of one string argument shown */

/* ---- reading the stopped process ------------------------------------------------------ */

static size_t page_size(void)
{
	static size_t ps;
	if (!ps) {
		long v = sysconf(_SC_PAGESIZE);
		ps = v > 0 ? (size_t)v : 4096;
	}
	return ps;
}

/* One page at a time: process_vm_readv stops at the first page it cannot read, and a
 * read that starts there fails with EFAULT, which is what tells "unmapped" apart. */
ssize_t sg_proc_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		uint64_t at = addr + done;
		size_t chunk = page_size() - (size_t)(at % page_size());
		if (chunk > len - done)
			chunk = len - done;
		struct iovec local = {(char *)buf + done, chunk};
		struct iovec remote = {(void *)(uintptr_t)at, chunk};
		ssize_t n = SG_RETRY(process_vm_readv(pid, &local, 1, &remote, 1, 0));
		if (n < 0) {
			if (errno == EFAULT)
				break;
			return done ? (ssize_t)done : -1;
		}
		done += (size_t)n;
		if ((size_t)n < chunk)
			break;
	}
	return (ssize_t)done;
}

sg_str_status sg_proc_read_string(pid_t pid, uint64_t addr, size_t max, char **out)
{
	*out = NULL;
	if (!addr)
		return SG_STR_FAULT;
	sg_autofree char *buf = sg_xmalloc(max + 1);
	size_t have = 0;
	while (have < max) {
		uint64_t at = addr + have;
		size_t chunk = page_size() - (size_t)(at % page_size());
		if (chunk > max - have)
			chunk = max - have;
		ssize_t n = sg_proc_read(pid, at, buf + have, chunk);
		if (n < 0)
			return SG_STR_UNKNOWN;
		char *nul = memchr(buf + have, '\0', (size_t)n);
		if (nul) {
			*out = sg_xstrdup(buf);
			return SG_STR_OK;
		}
		have += (size_t)n;
		if ((size_t)n < chunk)
			return SG_STR_FAULT;
	}
	buf[max] = '\0';
	*out = sg_steal_ptr(&buf);
	return SG_STR_LONG;
}

#define SG_STRINGS_BATCH 64 /* strings per process_vm_readv (IOV_MAX is 1024) */

size_t sg_proc_read_strings(pid_t pid, const uint64_t *addrs, size_t n, size_t max, char **out, sg_str_status *st)
{
	for (size_t i = 0; i < n; i++) {
		out[i] = NULL;
		st[i] = SG_STR_UNKNOWN;
	}
	for (size_t base = 0; base < n; base += SG_STRINGS_BATCH) {
		size_t k = n - base < SG_STRINGS_BATCH ? n - base : SG_STRINGS_BATCH;
		/* each string's first page, max bytes at most; the local buffers match the
		 * remote pieces one for one, so a short transfer ends at a piece's edge */
		struct iovec local[SG_STRINGS_BATCH], remote[SG_STRINGS_BATCH];
		sg_autofree char *buf = sg_xmalloc(k * max);
		size_t pieces = 0;
		for (size_t i = 0; i < k; i++) {
			uint64_t a = addrs[base + i];
			size_t len = page_size() - (size_t)(a % page_size());
			if (len > max)
				len = max;
			if (!a)
				len = 0; /* NULL: never read */
			local[i] = (struct iovec){buf + i * max, len};
			remote[i] = (struct iovec){(void *)(uintptr_t)a, len};
			pieces += len > 0;
		}
		ssize_t got = pieces ? SG_RETRY(process_vm_readv(pid, local, k, remote, k, 0)) : 0;
		size_t done = got > 0 ? (size_t)got : 0, at = 0;
		for (size_t i = 0; i < k; i++) {
			size_t j = base + i, len = local[i].iov_len;
			bool whole = addrs[j] && at + len <= done;
			at += len;
			char *piece = local[i].iov_base;
			char *nul = whole ? memchr(piece, '\0', len) : NULL;
			if (nul) {
				out[j] = sg_xstrdup(piece);
				st[j] = SG_STR_OK;
			} else if (whole && len == max) {
				out[j] = sg_xmalloc(max + 1);
				memcpy(out[j], piece, max);
				out[j][max] = '\0';
				st[j] = SG_STR_LONG;
			} else {
				/* past its page, NULL, unmapped, or beyond where the batch stopped */
				st[j] = sg_proc_read_string(pid, addrs[j], max, &out[j]);
			}
			if (st[j] != SG_STR_OK && st[j] != SG_STR_LONG)
				return j + 1;
		}
	}
	return n;
}

/* ---- socket addresses ---------------------------------------------------------------- */

bool sg_netaddr_inspect(const void *buf, size_t got, int64_t len, sg_netaddr *out)
{
	memset(out, 0, sizeof(*out));
	sa_family_t family;
	if (got < sizeof(family))
		return false;
	memcpy(&family, buf, sizeof(family));
	if (family != AF_INET && family != AF_INET6)
		return false;
	out->family = family;
	size_t need = family == AF_INET ? sizeof(struct sockaddr_in) : 24 /* SIN6_LEN_RFC2133 */;
	/* the kernel's order: the length bounds of move_addr_to_kernel, its copy, then the
	 * protocol's own minimum */
	if (len < 0 || len > (int64_t)sizeof(struct sockaddr_storage))
		out->invalid_errno = EINVAL;
	else if (got < (size_t)len)
		out->invalid_errno = EFAULT;
	else if ((size_t)len < need)
		out->invalid_errno = EINVAL;
	if (got < need)
		return true;
	if (family == AF_INET) {
		struct sockaddr_in in;
		memcpy(&in, buf, sizeof(in));
		inet_ntop(AF_INET, &in.sin_addr, out->address, sizeof(out->address));
		out->port = ntohs(in.sin_port);
		uint32_t a = ntohl(in.sin_addr.s_addr);
		out->local = (a >> 24) == 127 || a == INADDR_ANY;
	} else {
		struct sockaddr_in6 in6;
		memset(&in6, 0, sizeof(in6));
		memcpy(&in6, buf, got < sizeof(in6) ? got : sizeof(in6));
		inet_ntop(AF_INET6, &in6.sin6_addr, out->address, sizeof(out->address));
		out->port = ntohs(in6.sin6_port);
		const struct in6_addr *a = &in6.sin6_addr;
		out->local = IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) ||
			     (IN6_IS_ADDR_V4MAPPED(a) && (a->s6_addr[12] == 127 ||
							   !memcmp(a->s6_addr + 12, "\0\0\0\0", 4)));
	}
	return true;
}

static const char *const sg_families[] = {
	[AF_UNSPEC] = "AF_UNSPEC", [1] = "AF_UNIX", [2] = "AF_INET", [3] = "AF_AX25",
	[4] = "AF_IPX", [5] = "AF_APPLETALK", [6] = "AF_NETROM", [7] = "AF_BRIDGE",
	[8] = "AF_ATMPVC", [9] = "AF_X25", [10] = "AF_INET6", [11] = "AF_ROSE",
	[12] = "AF_DECnet", [13] = "AF_NETBEUI", [14] = "AF_SECURITY", [15] = "AF_KEY",
	[16] = "AF_NETLINK", [17] = "AF_PACKET", [18] = "AF_ASH", [19] = "AF_ECONET",
	[20] = "AF_ATMSVC", [21] = "AF_RDS", [22] = "AF_SNA", [23] = "AF_IRDA",
	[24] = "AF_PPPOX", [25] = "AF_WANPIPE", [26] = "AF_LLC", [27] = "AF_IB",
	[28] = "AF_MPLS", [29] = "AF_CAN", [30] = "AF_TIPC", [31] = "AF_BLUETOOTH",
	[32] = "AF_IUCV", [33] = "AF_RXRPC", [34] = "AF_ISDN", [35] = "AF_PHONET",
	[36] = "AF_IEEE802154", [37] = "AF_CAIF", [38] = "AF_ALG", [39] = "AF_NFC",
	[40] = "AF_VSOCK", [41] = "AF_KCM", [42] = "AF_QIPCRTR", [43] = "AF_SMC",
	[44] = "AF_XDP", [45] = "AF_MCTP",
};

const char *sg_socket_family_name(int family)
{
	if (family < 0 || (size_t)family >= SG_ARRAY_LEN(sg_families))
		return NULL;
	return sg_families[family];
}

void sg_socket_type_name(int type, char *buf, size_t len)
{
	static const char *const kinds[] = {
		[SOCK_STREAM] = "SOCK_STREAM", [SOCK_DGRAM] = "SOCK_DGRAM", [SOCK_RAW] = "SOCK_RAW",
		[SOCK_RDM] = "SOCK_RDM", [SOCK_SEQPACKET] = "SOCK_SEQPACKET", [SOCK_DCCP] = "SOCK_DCCP",
		[SOCK_PACKET] = "SOCK_PACKET",
	};
	int kind = type & 0xf;
	int rest = type & ~(0xf | SOCK_NONBLOCK | SOCK_CLOEXEC);
	const char *name = (size_t)kind < SG_ARRAY_LEN(kinds) ? kinds[kind] : NULL;
	int n = name ? snprintf(buf, len, "%s", name) : snprintf(buf, len, "%d", kind);
	if (n < 0 || (size_t)n >= len)
		return;
	if (type & SOCK_NONBLOCK)
		n += snprintf(buf + n, len - (size_t)n, "|SOCK_NONBLOCK");
	if ((size_t)n < len && (type & SOCK_CLOEXEC))
		n += snprintf(buf + n, len - (size_t)n, "|SOCK_CLOEXEC");
	if ((size_t)n < len && rest)
		snprintf(buf + n, len - (size_t)n, "|0x%x", (unsigned)rest);
}

/* ---- denied calls --------------------------------------------------------------------- */

/* How each denied call's arguments read, one conversion per argument in order:
 *   %P a path, %S another string (both read from the process), %D a directory fd
 *   (AT_FDCWD by name), %i an int, %l a long, %u an unsigned long, %o a mode (octal),
 *   %x a value in hex, %w its low 32 bits in hex, %F a socket family, %T a socket type,
 *   %A a socket address (this argument) and its length (the next), %_ an argument not
 *   shown. Calls that another architecture lacks have negative SCMP_SYS numbers, which
 *   no notification carries. */
static const struct {
	int nr;
	const char *format;
} sg_arg_formats[] = {
	/* mounts, roots, namespaces */
	{SCMP_SYS(mount), "source=%S target=%P fstype=%S flags=%x"},
	{SCMP_SYS(umount2), "path=%P flags=%x"},
	{SCMP_SYS(pivot_root), "new_root=%P put_old=%P"},
	{SCMP_SYS(chroot), "path=%P"},
	{SCMP_SYS(open_tree), "dirfd=%D path=%P flags=%x"},
	{SCMP_SYS(move_mount), "from_dirfd=%D from=%P to_dirfd=%D to=%P flags=%x"},
	{SCMP_SYS(fsopen), "fsname=%S flags=%x"},
	{SCMP_SYS(fspick), "dirfd=%D path=%P flags=%x"},
	{SCMP_SYS(mount_setattr), "dirfd=%D path=%P flags=%x"},
	{SCMP_SYS(clone), "flags=%x"},
	{SCMP_SYS(unshare), "flags=%x"},
	{SCMP_SYS(setns), "fd=%i nstype=%x"},
	/* the kernel and other processes */
	{SCMP_SYS(swapon), "path=%P flags=%x"},
	{SCMP_SYS(swapoff), "path=%P"},
	{SCMP_SYS(acct), "path=%P"},
	{SCMP_SYS(quotactl), "cmd=%x special=%P id=%i"},
	{SCMP_SYS(init_module), "%_len=%u params=%S"},
	{SCMP_SYS(finit_module), "fd=%i params=%S flags=%x"},
	{SCMP_SYS(delete_module), "name=%S flags=%x"},
	{SCMP_SYS(kexec_file_load), "kernel_fd=%i initrd_fd=%i"},
	{SCMP_SYS(reboot), "magic=%x magic2=%x cmd=%x"},
	{SCMP_SYS(syslog), "type=%i"},
	{SCMP_SYS(bpf), "cmd=%i"},
	{SCMP_SYS(keyctl), "operation=%i"},
	{SCMP_SYS(add_key), "type=%S description=%S"},
	{SCMP_SYS(request_key), "type=%S description=%S"},
	{SCMP_SYS(ptrace), "request=%l pid=%l"},
	{SCMP_SYS(process_vm_readv), "pid=%i"},
	{SCMP_SYS(process_vm_writev), "pid=%i"},
	{SCMP_SYS(pidfd_getfd), "pidfd=%i fd=%i"},
	{SCMP_SYS(kcmp), "pid1=%i pid2=%i type=%i"},
	{SCMP_SYS(perf_event_open), "%_pid=%i cpu=%i"},
	{SCMP_SYS(userfaultfd), "flags=%x"},
	{SCMP_SYS(personality), "persona=%x"},
	{SCMP_SYS(ioctl), "fd=%i request=%w"},
	{SCMP_SYS(sethostname), "%_len=%u"},
	{SCMP_SYS(setdomainname), "%_len=%u"},
	{SCMP_SYS(memfd_create), "name=%S flags=%x"},
	/* handles */
	{SCMP_SYS(open_by_handle_at), "mount_fd=%i%_ flags=%x"},
	{SCMP_SYS(name_to_handle_at), "dirfd=%D path=%P%_%_ flags=%x"},
	/* sockets */
	{SCMP_SYS(socket), "family=%F type=%T"},
	{SCMP_SYS(socketpair), "family=%F type=%T"},
	{SCMP_SYS(connect), "fd=%i address=%A"},
	{SCMP_SYS(bind), "fd=%i address=%A"},
	{SCMP_SYS(sendto), "fd=%i%_ len=%u flags=%x address=%A"},
	/* ownership, modes, nodes, attributes */
	{SCMP_SYS(chown), "path=%P uid=%i gid=%i"},
	{SCMP_SYS(lchown), "path=%P uid=%i gid=%i"},
	{SCMP_SYS(fchown), "fd=%i uid=%i gid=%i"},
	{SCMP_SYS(fchownat), "dirfd=%D path=%P uid=%i gid=%i flags=%x"},
	{SCMP_SYS(chmod), "path=%P mode=%o"},
	{SCMP_SYS(fchmod), "fd=%i mode=%o"},
	{SCMP_SYS(fchmodat), "dirfd=%D path=%P mode=%o"},
	{SCMP_SYS(mknod), "path=%P mode=%o dev=%x"},
	{SCMP_SYS(mknodat), "dirfd=%D path=%P mode=%o dev=%x"},
	{SCMP_SYS(setxattr), "path=%P name=%S%_ size=%u flags=%x"},
	{SCMP_SYS(lsetxattr), "path=%P name=%S%_ size=%u flags=%x"},
	{SCMP_SYS(fsetxattr), "fd=%i name=%S%_ size=%u flags=%x"},
	{SCMP_SYS(getxattr), "path=%P name=%S"},
	{SCMP_SYS(lgetxattr), "path=%P name=%S"},
	{SCMP_SYS(fgetxattr), "fd=%i name=%S"},
	{SCMP_SYS(listxattr), "path=%P"},
	{SCMP_SYS(llistxattr), "path=%P"},
	{SCMP_SYS(removexattr), "path=%P name=%S"},
	{SCMP_SYS(lremovexattr), "path=%P name=%S"},
	{SCMP_SYS(fremovexattr), "fd=%i name=%S"},
	/* files by name */
	{SCMP_SYS(open), "path=%P flags=%x mode=%o"},
	{SCMP_SYS(creat), "path=%P mode=%o"},
	{SCMP_SYS(openat), "dirfd=%D path=%P flags=%x mode=%o"},
	{SCMP_SYS(openat2), "dirfd=%D path=%P"},
	{SCMP_SYS(mkdir), "path=%P mode=%o"},
	{SCMP_SYS(mkdirat), "dirfd=%D path=%P mode=%o"},
	{SCMP_SYS(rmdir), "path=%P"},
	{SCMP_SYS(unlink), "path=%P"},
	{SCMP_SYS(unlinkat), "dirfd=%D path=%P flags=%x"},
	{SCMP_SYS(rename), "from=%P to=%P"},
	{SCMP_SYS(renameat), "from_dirfd=%D from=%P to_dirfd=%D to=%P"},
	{SCMP_SYS(renameat2), "from_dirfd=%D from=%P to_dirfd=%D to=%P flags=%x"},
	{SCMP_SYS(link), "from=%P to=%P"},
	{SCMP_SYS(linkat), "from_dirfd=%D from=%P to_dirfd=%D to=%P flags=%x"},
	{SCMP_SYS(symlink), "target=%S path=%P"},
	{SCMP_SYS(symlinkat), "target=%S dirfd=%D path=%P"},
	{SCMP_SYS(truncate), "path=%P length=%l"},
	{SCMP_SYS(utime), "path=%P"},
	{SCMP_SYS(utimes), "path=%P"},
	{SCMP_SYS(futimesat), "dirfd=%D path=%P"},
	{SCMP_SYS(utimensat), "dirfd=%D path=%P%_ flags=%x"},
	{SCMP_SYS(access), "path=%P mode=%o"},
	{SCMP_SYS(faccessat), "dirfd=%D path=%P mode=%o"},
	{SCMP_SYS(faccessat2), "dirfd=%D path=%P mode=%o flags=%x"},
	{SCMP_SYS(stat), "path=%P"},
	{SCMP_SYS(lstat), "path=%P"},
	{SCMP_SYS(newfstatat), "dirfd=%D path=%P%_ flags=%x"},
	{SCMP_SYS(statx), "dirfd=%D path=%P flags=%x mask=%x"},
	{SCMP_SYS(statfs), "path=%P"},
	{SCMP_SYS(readlink), "path=%P"},
	{SCMP_SYS(readlinkat), "dirfd=%D path=%P"},
	{SCMP_SYS(chdir), "path=%P"},
	{SCMP_SYS(uselib), "path=%P"},
	{SCMP_SYS(inotify_add_watch), "fd=%i path=%P mask=%x"},
	{SCMP_SYS(fanotify_mark), "fd=%i flags=%x mask=%x dirfd=%D path=%P"},
};

static void put_string(sg_buf *b, pid_t pid, uint64_t addr)
{
	if (!addr) {
		sg_buf_puts(b, "NULL");
		return;
	}
	sg_autofree char *s = NULL;
	sg_str_status st = pid > 0 ? sg_proc_read_string(pid, addr, SG_ARG_SHOW, &s) : SG_STR_UNKNOWN;
	if (st == SG_STR_OK || st == SG_STR_LONG)
		sg_buf_printf(b, "%s%s", s, st == SG_STR_LONG ? "..." : "");
	else if (st == SG_STR_FAULT)
		sg_buf_puts(b, "(unreadable)");
	else
		sg_buf_printf(b, "0x%llx", (unsigned long long)addr);
}

static void put_sockaddr(sg_buf *b, pid_t pid, uint64_t addr, uint64_t len_arg)
{
	int len = (int)len_arg;
	if (!addr) {
		sg_buf_puts(b, "NULL");
		return;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	size_t want = len < 0 || (size_t)len > sizeof(ss) ? sizeof(ss) : (size_t)len;
	ssize_t got = pid > 0 ? sg_proc_read(pid, addr, &ss, want) : -1;
	sg_netaddr na;
	if (got < 0) {
		sg_buf_printf(b, "0x%llx", (unsigned long long)addr);
	} else if (sg_netaddr_inspect(&ss, (size_t)got, len, &na)) {
		if (na.address[0])
			sg_buf_printf(b, na.family == AF_INET6 ? "[%s]:%d" : "%s:%d", na.address, na.port);
		else
			sg_buf_puts(b, "(unreadable)");
		if (na.invalid_errno)
			sg_buf_printf(b, "(invalid:%s)", strerrorname_np(na.invalid_errno));
	} else if ((size_t)got < sizeof(sa_family_t)) {
		sg_buf_puts(b, "(unreadable)");
	} else if (ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
		size_t plen = (size_t)got - offsetof(struct sockaddr_un, sun_path);
		if (plen > sizeof(un->sun_path))
			plen = sizeof(un->sun_path);
		if (plen > 0 && un->sun_path[0] == '\0')
			sg_buf_printf(b, "unix:@%.*s", (int)strnlen(un->sun_path + 1, plen - 1), un->sun_path + 1);
		else
			sg_buf_printf(b, "unix:%.*s", (int)strnlen(un->sun_path, plen), un->sun_path);
	} else {
		const char *fam = sg_socket_family_name(ss.ss_family);
		if (fam)
			sg_buf_puts(b, fam);
		else
			sg_buf_printf(b, "family %d", ss.ss_family);
	}
}

char *sg_denied_args_describe(pid_t pid, int nr, const uint64_t args[6])
{
	const char *format = NULL;
	for (size_t i = 0; i < SG_ARRAY_LEN(sg_arg_formats) && !format; i++)
		if (sg_arg_formats[i].nr == nr)
			format = sg_arg_formats[i].format;
	if (!format)
		return sg_xasprintf("0x%llx, 0x%llx, 0x%llx", (unsigned long long)args[0],
				    (unsigned long long)args[1], (unsigned long long)args[2]);
	sg_buf b = {0};
	sg_buf_puts(&b, "");
	unsigned ai = 0;
	for (const char *f = format; *f; f++) {
		if (*f != '%' || !f[1]) {
			sg_buf_append(&b, f, 1);
			continue;
		}
		char conv = *++f;
		uint64_t a = ai < 6 ? args[ai] : 0;
		ai++;
		char type[96];
		const char *fam;
		switch (conv) {
		case 'P':
		case 'S':
			put_string(&b, pid, a);
			break;
		case 'D':
			if ((int)a == AT_FDCWD)
				sg_buf_puts(&b, "AT_FDCWD");
			else
				sg_buf_printf(&b, "%d", (int)a);
			break;
		case 'i':
			sg_buf_printf(&b, "%d", (int)a);
			break;
		case 'l':
			sg_buf_printf(&b, "%lld", (long long)a);
			break;
		case 'u':
			sg_buf_printf(&b, "%llu", (unsigned long long)a);
			break;
		case 'o':
			sg_buf_printf(&b, "%#o", (unsigned)a);
			break;
		case 'x':
			sg_buf_printf(&b, "0x%llx", (unsigned long long)a);
			break;
		case 'w':
			sg_buf_printf(&b, "0x%x", (unsigned)(a & 0xffffffffu));
			break;
		case 'F':
			fam = sg_socket_family_name((int)a);
			if (fam)
				sg_buf_puts(&b, fam);
			else
				sg_buf_printf(&b, "%d", (int)a);
			break;
		case 'T':
			sg_socket_type_name((int)a, type, sizeof(type));
			sg_buf_puts(&b, type);
			break;
		case 'A':
			put_sockaddr(&b, pid, a, ai < 6 ? args[ai] : 0);
			ai++;
			break;
		case '_':
			break;
		default:
			sg_buf_append(&b, f - 1, 2);
			break;
		}
	}
	return b.data;
}

int sg_denied_socket_family(int nr, const uint64_t args[6])
{
	if (nr == SCMP_SYS(socket) || nr == SCMP_SYS(socketpair))
		return (int)(args[0] & 0xffff);
	return -1;
}
