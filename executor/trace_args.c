/* trace_args.c: see trace_args.h. */
#include "trace_args.h"
#include "util.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

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
