/* test_trace_args.c: what a traced call's arguments say (executor/trace_args.c).
 *
 * Socket addresses are judged as the kernel judges them (a trace must not record as a
 * network attempt what the kernel refuses), and reading a process's memory tells a
 * string cut by an unmapped page from one that is only long. The memory read here is
 * this process's own: process_vm_readv on ourselves needs no privilege. */
#include "tap.h"
#include "trace_args.h"
#include "util.h"

#include <arpa/inet.h>
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

static void test_read(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, (size_t)(2 * pg), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		tap_ok(false, "mmap");
		return;
	}
	munmap(m + pg, (size_t)pg);
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

int main(void)
{
	test_netaddr();
	test_read();
	return tap_done();
}
