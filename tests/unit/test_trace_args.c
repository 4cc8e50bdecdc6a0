/* test_trace_args.c: what a traced call's arguments say (executor/trace_args.c).
 *
 * Socket addresses are judged as the kernel judges them (a trace must not record as a
 * network attempt what the kernel refuses), and reading a process's memory tells a
 * string cut by an unmapped page from one that is only long; a denied call's arguments
 * read as a human would write them. The memory read here is this process's own:
 * process_vm_readv on ourselves needs no privilege. */
#include "tap.h"
#include "trace_args.h"
#include "util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

static void inet(struct sockaddr_storage *ss, const char *ip, int port)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &in->sin_addr);
}

static void inet6(struct sockaddr_storage *ss, const char *ip, int port)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)port);
	inet_pton(AF_INET6, ip, &in6->sin6_addr);
}

/* "address:port local errno" (":0" when the address is not whole), or "-" when it is no
 * internet address */
static char *judge(const struct sockaddr_storage *ss, size_t got, int64_t len)
{
	sg_netaddr na;
	if (!sg_netaddr_inspect(ss, got, len, &na))
		return sg_xstrdup("-");
	return sg_xasprintf("%s:%d%s%s%s", na.address, na.port, na.local ? " local" : "",
			    na.invalid_errno ? " " : "", na.invalid_errno ? strerrorname_np(na.invalid_errno) : "");
}

static void check(const struct sockaddr_storage *ss, size_t got, int64_t len, const char *want, const char *name)
{
	sg_autofree char *s = judge(ss, got, len);
	tap_is_str(s, want, name);
}

static void test_netaddr(void)
{
	struct sockaddr_storage ss;
	inet(&ss, "1.1.1.1", 443);
	check(&ss, 16, 16, "1.1.1.1:443", "inet: a plain address");
	check(&ss, 128, 1000, "1.1.1.1:443 EINVAL", "inet: addrlen 1000 is EINVAL (above sockaddr_storage)");
	check(&ss, 128, -1, "1.1.1.1:443 EINVAL", "inet: a negative addrlen is EINVAL");
	check(&ss, 128, 128, "1.1.1.1:443", "inet: addrlen = sizeof(sockaddr_storage) is fine");
	check(&ss, 8, 8, ":0 EINVAL", "inet: addrlen 8 is below sockaddr_in: EINVAL, no address");
	check(&ss, 12, 16, ":0 EFAULT", "inet: 16 bytes claimed, 12 readable: EFAULT");
	check(&ss, 1, 16, "-", "inet: not even the family readable: not judged");
	inet(&ss, "127.0.0.53", 53);
	check(&ss, 16, 16, "127.0.0.53:53 local", "inet: 127/8 is local");
	inet(&ss, "0.0.0.0", 80);
	check(&ss, 16, 16, "0.0.0.0:80 local", "inet: 0.0.0.0 (this host) is local");

	inet6(&ss, "2606:4700:4700::1111", 80);
	check(&ss, 28, 28, "2606:4700:4700::1111:80", "inet6: a plain address");
	check(&ss, 24, 24, "2606:4700:4700::1111:80", "inet6: 24 bytes (RFC 2133, no scope id) are enough");
	check(&ss, 20, 20, ":0 EINVAL", "inet6: 20 bytes are not (nothing is parsed of them)");
	inet6(&ss, "::1", 80);
	check(&ss, 28, 28, "::1:80 local", "inet6: ::1 is local");
	inet6(&ss, "::ffff:127.0.0.1", 80);
	check(&ss, 28, 28, "::ffff:127.0.0.1:80 local", "inet6: a v4-mapped loopback is local");
	inet6(&ss, "::ffff:1.1.1.1", 80);
	check(&ss, 28, 28, "::ffff:1.1.1.1:80", "inet6: a v4-mapped outside address is not");

	memset(&ss, 0, sizeof(ss));
	struct sockaddr_un *un = (struct sockaddr_un *)&ss;
	un->sun_family = AF_UNIX;
	strcpy(un->sun_path, "/run/x.sock");
	check(&ss, sizeof(*un), sizeof(*un), "-", "unix: no internet address");
}

/* pages readable pages, then one that is not mapped; NULL (and a failed check) if mmap fails */
static char *map_pages(long pg, int pages)
{
	char *m = mmap(NULL, (size_t)((pages + 1) * pg), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		tap_ok(false, "mmap");
		return NULL;
	}
	munmap(m + pages * pg, (size_t)pg);
	return m;
}

static void test_read(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *m = map_pages(pg, 1);
	if (!m)
		return;
	pid_t self = getpid();
	char *end = m + pg;
	char *s = NULL;

	memcpy(end - 8, "/bin/tr", 8);
	tap_is_int(sg_proc_read_string(self, (uint64_t)(uintptr_t)(end - 8), 4096, &s), SG_STR_OK,
		   "a string whose NUL is the page's last byte is read");
	tap_is_str(s, "/bin/tr", "... whole");
	free(s);
	memcpy(end - 7, "/bin/tr", 7);
	tap_is_int(sg_proc_read_string(self, (uint64_t)(uintptr_t)(end - 7), 4096, &s), SG_STR_FAULT,
		   "a string that runs into an unmapped page is unreadable (the kernel's EFAULT), not cut");
	tap_ok(s == NULL, "... and nothing of it is returned");
	memset(m, 'a', (size_t)pg);
	tap_is_int(sg_proc_read_string(self, (uint64_t)(uintptr_t)m, 100, &s), SG_STR_LONG,
		   "a string longer than the limit is long");
	tap_is_int((long long)strlen(s), 100, "... and its first 100 bytes are returned");
	free(s);
	tap_is_int(sg_proc_read_string(self, 0, 100, &s), SG_STR_FAULT, "NULL is unreadable");

	char buf[32];
	tap_is_int(sg_proc_read(self, (uint64_t)(uintptr_t)(end - 12), buf, sizeof(buf)), 12,
		   "a read across into an unmapped page returns what comes before it");
	tap_is_int(sg_proc_read(self, (uint64_t)(uintptr_t)end, buf, sizeof(buf)), 0,
		   "a read of an unmapped page returns 0 bytes");
	munmap(m, (size_t)pg);
}

static uint64_t addr_of(const char *s)
{
	return (uint64_t)(uintptr_t)s;
}

/* sg_proc_read_strings: what sg_proc_read_string says of each, from one batch */
static void test_read_strings(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *m = map_pages(pg, 3); /* pages 0 to 2 mapped, 3 not */
	if (!m)
		return;
	pid_t self = getpid();
	char *at_end = m + pg - 8, *straddle = m + 2 * pg - 4, *cut = m + 3 * pg - 3;
	memcpy(at_end, "/bin/tr", 8);        /* its NUL is page 0's last byte */
	memcpy(straddle, "across pages", 13); /* goes on into page 2 */
	memcpy(cut, "abc", 3);               /* runs into page 3: unmapped */
	char *longer = m + 100;
	memset(longer, 'x', 600);
	longer[600] = '\0';
	const char *heap = "argv zero";
	uint64_t a[5] = {addr_of(heap), addr_of(straddle), addr_of(longer), addr_of(at_end), addr_of(heap)};
	char *out[5];
	sg_str_status st[5];
	tap_is_int((long long)sg_proc_read_strings(self, a, 5, 256, out, st), 5, "strings: all five are read");
	tap_ok(st[0] == SG_STR_OK && !strcmp(out[0], "argv zero"), "strings: a plain one");
	tap_ok(st[1] == SG_STR_OK && !strcmp(out[1], "across pages"), "strings: one that goes on past its page");
	tap_ok(st[2] == SG_STR_LONG && strlen(out[2]) == 256 && out[2][255] == 'x', "strings: one past the limit is long, cut");
	tap_ok(st[3] == SG_STR_OK && !strcmp(out[3], "/bin/tr"), "strings: one whose NUL is its page's last byte");
	tap_ok(st[4] == SG_STR_OK && !strcmp(out[4], "argv zero"), "strings: the same address twice");
	for (int i = 0; i < 5; i++)
		free(out[i]);

	uint64_t b[4] = {addr_of(heap), addr_of(cut), addr_of(heap), 0};
	tap_is_int((long long)sg_proc_read_strings(self, b, 4, 256, out, st), 2,
		   "strings: the read stops after one that runs into an unmapped page");
	tap_ok(st[0] == SG_STR_OK && st[1] == SG_STR_FAULT && !out[1], "... which is a fault, with nothing of it");
	tap_ok(st[2] == SG_STR_UNKNOWN && !out[2] && st[3] == SG_STR_UNKNOWN && !out[3], "... and the rest are left unread");
	free(out[0]);

	uint64_t c[2] = {addr_of(heap), 0};
	tap_is_int((long long)sg_proc_read_strings(self, c, 2, 256, out, st), 2, "strings: NULL ends the read");
	tap_ok(st[1] == SG_STR_FAULT && !out[1], "... as a fault");
	free(out[0]);

	/* more than one batch: every string where it belongs */
	enum { N = 150 };
	char words[N][8];
	uint64_t many[N];
	char *mout[N];
	sg_str_status mst[N];
	for (int i = 0; i < N; i++) {
		snprintf(words[i], sizeof(words[i]), "w%d", i);
		many[i] = addr_of(words[i]);
	}
	tap_is_int((long long)sg_proc_read_strings(self, many, N, 256, mout, mst), N, "strings: 150 in three batches");
	bool all = true;
	for (int i = 0; i < N; i++) {
		all = all && mst[i] == SG_STR_OK && !strcmp(mout[i], words[i]);
		free(mout[i]);
	}
	tap_ok(all, "... each one its own");
	tap_is_int((long long)sg_proc_read_strings(-1, many, 3, 256, mout, mst), 1, "strings: no such process");
	tap_ok(mst[0] == SG_STR_UNKNOWN && !mout[0], "... unknown");
	munmap(m, (size_t)(3 * pg));
}

static void test_names(void)
{
	tap_is_str(sg_socket_family_name(AF_PACKET), "AF_PACKET", "family 17 is AF_PACKET");
	tap_is_str(sg_socket_family_name(40), "AF_VSOCK", "family 40 is AF_VSOCK");
	tap_ok(sg_socket_family_name(99) == NULL && sg_socket_family_name(-1) == NULL, "unknown families have no name");
	char type[96];
	sg_socket_type_name(SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, type, sizeof(type));
	tap_is_str(type, "SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC", "socket types with their flags");
	sg_socket_type_name(0x4f, type, sizeof(type));
	tap_is_str(type, "15|0x40", "an unknown type and flag as numbers");
}

static char *describe(int nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	uint64_t a[6] = {a0, a1, a2, a3, 0, 0};
	return sg_denied_args_describe(0, nr, a);
}

static void test_describe(void)
{
	/* pid 0: no memory is read, pointers are shown in hex */
	sg_autofree char *sock = describe(SCMP_SYS(socket), AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0, 0);
	tap_is_str(sock, "family=AF_INET6 type=SOCK_DGRAM|SOCK_CLOEXEC", "socket: family and type by name");
	sg_autofree char *mknodat = describe(SCMP_SYS(mknodat), (uint64_t)(int64_t)AT_FDCWD, 0x1000, 020644, 0x103);
	tap_is_str(mknodat, "dirfd=AT_FDCWD path=0x1000 mode=020644 dev=0x103", "mknodat: dirfd, mode in octal, dev");
	sg_autofree char *chown = describe(SCMP_SYS(chown), 0, 5, (uint64_t)-1, 0);
	tap_is_str(chown, "path=NULL uid=5 gid=-1", "chown: a NULL path, owners as ints");
	sg_autofree char *other = describe(SCMP_SYS(getpid), 1, 2, 3, 4);
	tap_is_str(other, "0x1, 0x2, 0x3", "a call without a description: its first arguments in hex");
	tap_is_int(sg_denied_socket_family(SCMP_SYS(socketpair), (uint64_t[6]){AF_UNIX, 1, 0, 0, 0, 0}), AF_UNIX,
		   "socketpair: the family is part of the violation");
	tap_is_int(sg_denied_socket_family(SCMP_SYS(chown), (uint64_t[6]){AF_UNIX, 1, 0, 0, 0, 0}), -1,
		   "chown: no family");

	/* our own memory: the path is read, and one that runs into an unmapped page is
	 * shown as unreadable */
	long pg = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, (size_t)(2 * pg), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		tap_ok(false, "mmap");
		return;
	}
	munmap(m + pg, (size_t)pg);
	strcpy(m, "/tmp/f");
	strcpy(m + 16, "user.a");
	memcpy(m + pg - 4, "/etc", 4);
	uint64_t a[6] = {(uint64_t)(uintptr_t)m, (uint64_t)(uintptr_t)(m + 16), 0, 1, 0, 0};
	sg_autofree char *setx = sg_denied_args_describe(getpid(), SCMP_SYS(setxattr), a);
	tap_is_str(setx, "path=/tmp/f name=user.a size=1 flags=0x0", "setxattr: path and name read, the value skipped");
	a[0] = (uint64_t)(uintptr_t)(m + pg - 4);
	a[1] = 020;
	sg_autofree char *cut = sg_denied_args_describe(getpid(), SCMP_SYS(chmod), a);
	tap_is_str(cut, "path=(unreadable) mode=020", "chmod: a path without its NUL before unmapped memory is unreadable");
	munmap(m, (size_t)pg);
}

int main(void)
{
	test_netaddr();
	test_names();
	test_describe();
	test_read();
	test_read_strings();
	return tap_done();
}
